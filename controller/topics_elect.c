/* controller/topics_elect.c - leader elections on demand (ELECT_LEADERS, api
 * 21) and the automatic leader rebalance. See topics.h (what) and topics_int.h
 * (the shared state). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "election.h"
#include "log.h"
#include "recbuf.h"
#include "synod/client.h"
#include "topics_int.h"

/* ---- elections on demand and rebalance ---- */

/* At most this many partitions named one by one in ELECT_LEADERS; whole
 * topics and "all" are walked page by page instead. */
#define ELECT_MAX_NAMED 10000u

static void er_answer(struct elect_req *er)
{
	struct topics *t = er->t;
	Synod__Wire__ElectLeadersResponse r =
	    SYNOD__WIRE__ELECT_LEADERS_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__ElectionResult *res = calloc(er->n + 1, sizeof *res);
	Synod__Wire__ElectionResult **rp = calloc(er->n + 1, sizeof *rp);
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	int rc = er->rc;
	if (rc == SYNOD_OK && (er->failed || res == NULL || rp == NULL))
		rc = SYNOD_EUNKNOWN;
	if (er->p) {
		for (size_t i = 0; rc == SYNOD_OK && i < er->n; i++) {
			synod__wire__election_result__init(&res[i]);
			res[i].topic = er->items[i].topic;
			res[i].partition = er->items[i].partition;
			res[i].code = er->items[i].code;
			res[i].has_leader = 1;
			res[i].leader = er->items[i].leader;
			rp[i] = &res[i];
		}
		srv_fill_status(t->server, &st, rc, NULL, &lid, leader,
				sizeof leader);
		r.status = &st;
		r.n_results = rc == SYNOD_OK ? er->n : 0;
		r.results = rp;
		r.has_elected = 1;
		r.elected = er->elected;
		srv_send(er->p->sc, &er->p->h, &r.base);
		srv_pending_free(er->p);
	} else if (er->elected) {
		log_event(LOG_INFO, "leader_rebalance", "preferred_elected=%u",
			  er->elected);
	}
	free(res);
	free(rp);
	free(er->items);
	free(er);
	if (--t->ops == 0 && t->closing == 2)
		tp_topics_free(t);
}

void tp_er_release(struct elect_req *er)
{
	if (--er->holds == 0)
		er_answer(er);
}

/* Keep a result: elected or failed ones always (up to the cap), "not
 * needed" ones while there is room. */
static void er_keep(struct elect_req *er, const struct elect_item *it)
{
	er->looked++;
	if (er->n >= ELECT_MAX_RESULTS)
		return;
	er->items = tp_grow(er->items, &er->cap, er->n + 1, sizeof *er->items,
			    &er->failed);
	if (!er->failed)
		er->items[er->n++] = *it;
}

static struct elect_req *er_new(struct topics *t, struct pending *p,
				int unclean)
{
	struct elect_req *er = calloc(1, sizeof *er);
	if (er == NULL)
		return NULL;
	er->t = t;
	er->p = p;
	er->unclean = unclean;
	er->holds = 1; /* released when the request is built */
	t->ops++;
	return er;
}

static void page_done(struct node *n, struct waiter *w, int rc,
		      const int *statuses)
{
	struct top *o = w->data;
	struct elect_item *items = o->items;
	struct elect_req *er = o->er;
	(void)n;
	tp_failed_proposal(o->t, o, rc);
	for (unsigned i = 0; i < o->n_items; i++) {
		if (items[i].rec != -1u) {
			if (rc != SYNOD_OK)
				items[i].code = rc;
			else if (statuses &&
				 statuses[items[i].rec] != STORE_R_OK)
				items[i].code = SYNOD_EINVALID_UPDATE_VERSION;
			else
				er->elected++;
		}
		er_keep(er, &items[i]);
	}
	tp_er_release(er);
	tp_top_free(o);
}

/* Propose one page of elections (items: its results, taken over on
 * success). 0 when proposed or answered. */
int tp_elect_page_propose(struct topics *t, struct elect_req *er,
			  struct recbuf *rb, struct elect_item *items,
			  size_t n_items)
{
	struct top *o;
	int rv;
	if (rb->failed)
		return -1;
	if (rb->n == 0) {
		for (size_t i = 0; i < n_items; i++)
			er_keep(er, &items[i]);
		free(items);
		return 0;
	}
	if ((o = tp_top_decided(t, NULL, page_done)) == NULL)
		return -1;
	o->er = er;
	o->items = items;
	o->n_items = (unsigned)n_items;
	er->holds++;
	rv = node_propose(t->node, (const Synod__Rec__Record *const *)rb->recs,
			  rb->n, &o->w);
	if (rv != SYNOD_OK)
		page_done(t->node, &o->w, rv, NULL);
	else
		tp_weigh(t, o, rb->n);
	return 0;
}

static void item_error(struct elect_req *er, const char *topic,
		       int32_t partition, int code)
{
	struct elect_item it;
	memset(&it, 0, sizeof it);
	snprintf(it.topic, sizeof it.topic, "%s", topic);
	it.partition = partition;
	it.code = code;
	it.leader = EL_NO_LEADER;
	it.rec = -1u;
	er_keep(er, &it);
}

/* Walk every partition (tid 0) or one topic's, page by page. */
static int elect_walk(struct topics *t, struct elect_req *er, int64_t tid)
{
	struct job *j = tp_job_add(t, JOB_ELECT);
	if (j == NULL)
		return -1;
	j->tid = tid;
	j->er = er;
	if (tid != 0)
		j->cursor.tid = tid; /* partitions after (tid, -1) */
	er->holds++;
	return 0;
}

void topics_elect_all(struct topics *t, struct pending *p, int unclean)
{
	struct elect_req *er = er_new(t, p, unclean);
	if (er == NULL) {
		if (p) {
			srv_reply_status(p->sc, &p->h, SYNOD_EUNKNOWN,
					 "out of memory");
			srv_pending_free(p);
		}
		return;
	}
	if (elect_walk(t, er, 0) != 0)
		er->rc = SYNOD_EUNAVAILABLE;
	tp_er_release(er);
}

void tp_handle_elect(struct topics *t, struct sconn *sc,
		     const struct frame_header *h,
		     Synod__Wire__ElectLeadersRequest *req)
{
	struct pending *p;
	struct elect_req *er;
	struct recbuf rb;
	struct elect_item *items = NULL;
	size_t n_items = 0, cap_items = 0, named = 0;
	int failed = 0;
	int rv = topics_check_active(t);
	if (rv == SYNOD_OK && req->type > 1)
		rv = SYNOD_EINVALID_ARGUMENT;
	for (size_t i = 0; rv == SYNOD_OK && i < req->n_partitions; i++)
		named += req->partitions[i]->n_partitions;
	if (rv == SYNOD_OK && named > ELECT_MAX_NAMED) {
		char msg[160];
		snprintf(msg, sizeof msg,
			 "%zu partitions named: at most %u in one request "
			 "(name whole topics, or none for all)",
			 named, ELECT_MAX_NAMED);
		srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT, msg);
		synod__wire__elect_leaders_request__free_unpacked(req, NULL);
		return;
	}
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		synod__wire__elect_leaders_request__free_unpacked(req, NULL);
		return;
	}
	p = srv_pending_new(sc, h, req, NULL, NULL);
	er = p ? er_new(t, p, req->type == 1) : NULL;
	if (er == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (p)
			srv_pending_free(p);
		else
			synod__wire__elect_leaders_request__free_unpacked(req,
									  NULL);
		return;
	}
	if (req->n_partitions == 0) {
		if (elect_walk(t, er, 0) != 0)
			er->rc = SYNOD_EUNAVAILABLE;
		tp_er_release(er);
		return;
	}
	/* Partitions named one by one: decided now, one proposal. Whole
	 * topics: walked. */
	recbuf_init(&rb);
	tp_begin_decision(t);
	for (size_t i = 0; i < req->n_partitions && !failed; i++) {
		const Synod__Wire__TopicPartitions *tps = req->partitions[i];
		struct store_topic tp;
		if (store_topic_get(t->store, tps->topic, &tp) != STORE_OK) {
			item_error(er, tps->topic, -1, SYNOD_EUNKNOWN_TOPIC);
			continue;
		}
		if (tps->n_partitions == 0) {
			if (elect_walk(t, er, tp.tid) != 0)
				er->rc = SYNOD_EUNAVAILABLE;
			continue;
		}
		for (size_t k = 0; k < tps->n_partitions && !failed; k++) {
			struct store_partition cur;
			if (tp_current(t, tp.tid, tps->partitions[k], &cur,
				       NULL) != STORE_OK) {
				item_error(er, tp.name, tps->partitions[k],
					   SYNOD_EUNKNOWN_PARTITION);
				continue;
			}
			if (tp_elect_decide(t, &rb, er->unclean, &tp, &cur,
					    &items, &n_items, &cap_items,
					    &failed) != 0)
				failed = 1;
		}
	}
	if (failed || tp_elect_page_propose(t, er, &rb, items, n_items) != 0) {
		tp_ov_rollback(t, t->cur_owner);
		free(items);
		er->rc = SYNOD_EUNKNOWN;
	}
	recbuf_free(&rb);
	tp_er_release(er);
}

/* Partitions whose change was refused as stale, or created with a broker
 * in the ISR that left meanwhile: bring them in line with the brokers
 * alive now (dead leader or ISR members, offline). */
static void process_rechecks(struct topics *t)
{
	struct recbuf rb;
	size_t i;
	recbuf_init(&rb);
	tp_begin_decision(t);
	for (i = 0; i < t->n_recheck && rb.n < t->page; i++) {
		int64_t tid = (int64_t)(t->recheck[i] >> 32);
		int32_t part = (int32_t)(uint32_t)t->recheck[i];
		struct store_topic tp;
		struct store_partition cur;
		struct el_partition in, out;
		int unclean;
		if (store_topic_get_by_tid(t->store, tid, &tp) != STORE_OK ||
		    tp_current(t, tid, part, &cur, NULL) != STORE_OK)
			continue;
		unclean = tp_unclean_allowed(t, tp.name);
		tp_to_el(&cur, &in);
		/* One change: a chain of steps would bump the partition
		 * epoch once each, and apply refuses all but one bump (the
		 * refusal came back here, every tick, for ever). */
		el_reconcile(&in, unclean, tp_alive, t, &out);
		if (el_changed(&in, &out))
			tp_add_change(t, &rb, &tp, &cur, &out);
	}
	/* What did not fit in one page waits for the next tick. */
	memmove(t->recheck, t->recheck + i,
		(t->n_recheck - i) * sizeof *t->recheck);
	t->n_recheck -= i;
	if (rb.n > 0) {
		log_info("%u partitions brought in line after refused "
			 "changes or creations across a departure",
			 rb.n);
		tp_propose_internal(t, &rb);
	}
	recbuf_free(&rb);
}

void tp_on_rebalance_tick(uv_timer_t *tm)
{
	struct topics *t = tm->data;
	char *v = NULL;
	uint64_t now = uv_now(t->node->loop), interval_ms;
	struct job *j;
	/* Nothing is decided before the broker sessions are loaded: a
	 * repair sweep would take every leader for gone. */
	if (!t->active || topics_check_active(t) != SYNOD_OK)
		return;
	if (t->n_recheck > 0)
		process_rechecks(t);
	if (t->sweeps_due)
		tp_takeover_sweeps(t);
	if (now >= t->next_repair_ms) {
		t->next_repair_ms = now + REPAIR_INTERVAL_MS;
		tp_repair_sweep(t);
	}
	interval_ms =
	    1000ull *
	    tp_cluster_default(t, "leader.imbalance.check.interval.seconds");
	/* A shorter interval set since takes effect now, not after the
	 * longer one it replaces. */
	if (t->next_rebalance_ms > now + interval_ms)
		t->next_rebalance_ms = now + interval_ms;
	if (now < t->next_rebalance_ms)
		return;
	t->next_rebalance_ms = now + interval_ms;
	/* Offline partitions that can have a leader now (an unclean
	 * election enabled since, a return walk or a departure cut short),
	 * whether automatic rebalance is on or not. */
	if (!tp_job_exists(t, JOB_OFFLINE, EL_NO_LEADER) &&
	    (j = tp_job_add(t, JOB_OFFLINE)) != NULL) {
		j->broker = EL_NO_LEADER;
		j->why = "periodic check";
	}
	if (store_config_get(t->store, SYNOD_SCOPE_CLUSTER, NULL,
			     "auto.leader.rebalance.enable", &v) == STORE_OK &&
	    strcmp(v, "false") == 0) {
		free(v);
		return;
	}
	free(v);
	/* Counting is a walk too; it starts the elections if needed. */
	if (!tp_job_exists(t, JOB_IMBALANCE, 0) &&
	    (j = tp_job_add(t, JOB_IMBALANCE)) != NULL)
		j->broker = 0;
}
