/* controller/topics_jobs.c - walks sliced across loop turns: departures and
 * returns of brokers, the repair sweep, elections over every partition; the
 * hooks the broker sessions call. See topics.h (what) and topics_int.h (the
 * shared state). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "election.h"
#include "log.h"
#include "recbuf.h"
#include "synod/client.h"
#include "topics_int.h"

struct walk {
	struct topics *t;
	struct recbuf *rb;
	struct job *j;
	struct elect_item *items; /* JOB_ELECT: this page's results */
	size_t n_items, cap_items;
	int failed;
	int stop; /* a row past the job's range: the walk is over */
};

static int walk_unclean(struct walk *w, const struct store_topic *topic)
{
	struct job *j = w->j;
	if (strcmp(j->unclean_topic, topic->name) != 0) {
		snprintf(j->unclean_topic, sizeof j->unclean_topic, "%s",
			 topic->name);
		j->unclean = tp_unclean_allowed(w->t, topic->name);
	}
	return j->unclean;
}

/* Decide one partition of an election walk; its result goes to items. */
int tp_elect_decide(struct topics *t, struct recbuf *rb, int unclean,
		    const struct store_topic *tp,
		    const struct store_partition *cur,
		    struct elect_item **items, size_t *n, size_t *cap,
		    int *failed)
{
	struct el_partition in, out;
	struct elect_item *it;
	tp_to_el(cur, &in);
	if (unclean)
		el_recover(&in, 1, tp_alive, t, &out);
	else
		el_preferred(&in, tp_alive, t, &out);
	*items = tp_grow(*items, cap, *n + 1, sizeof **items, failed);
	if (*failed)
		return -1;
	it = &(*items)[(*n)++];
	snprintf(it->topic, sizeof it->topic, "%s", tp->name);
	it->partition = cur->partition;
	it->rec = -1u;
	if (!el_changed(&in, &out)) {
		it->code = SYNOD_EELECTION_NOT_NEEDED;
		it->leader = cur->leader;
		return 0;
	}
	it->code = SYNOD_OK;
	it->leader = out.leader;
	it->rec = rb->n;
	return tp_add_change(t, rb, tp, cur, &out);
}

static int on_page_partition(void *arg, const struct store_topic *topic,
			     const struct store_partition *sp)
{
	struct walk *w = arg;
	struct job *j = w->j;
	struct store_partition cur;
	struct el_partition in, out;
	if (j->kind == JOB_ELECT && j->tid != 0 && topic->tid != j->tid) {
		w->stop = 1;
		return 1;
	}
	if (tp_current(w->t, topic->tid, sp->partition, &cur, NULL) != STORE_OK)
		return 0;
	tp_to_el(&cur, &in);
	switch (j->kind) {
	case JOB_DEPART:
	case JOB_ISR_SWEEP: /* as at a departure */
		el_broker_gone(&in, j->broker, walk_unclean(w, topic), tp_alive,
			       w->t, &out);
		if (j->kind == JOB_ISR_SWEEP && out.n_isr < in.n_isr)
			j->taken_out++;
		break;
	case JOB_REPAIR:
		if (cur.leader != j->broker)
			return 0; /* already moved by a decision in flight */
		el_broker_gone(&in, j->broker, walk_unclean(w, topic), tp_alive,
			       w->t, &out);
		break;
	case JOB_BACK:
	case JOB_OFFLINE:
		if (cur.leader != EL_NO_LEADER)
			return 0;
		el_recover(&in, walk_unclean(w, topic), tp_alive, w->t, &out);
		break;
	case JOB_IMBALANCE:
		if (cur.leader != EL_NO_LEADER && cur.n_replicas > 0) {
			j->total++;
			if (cur.leader != cur.replicas[0] &&
			    tp_alive(w->t, cur.replicas[0]))
				j->off_preferred++;
		}
		return 0;
	default: /* JOB_ELECT */
		return tp_elect_decide(w->t, w->rb, j->er->unclean, topic, &cur,
				       &w->items, &w->n_items, &w->cap_items,
				       &w->failed);
	}
	if (el_changed(&in, &out)) {
		if (tp_add_change(w->t, w->rb, topic, &cur, &out) != 0)
			return -1;
		if (in.leader == j->broker && out.leader != EL_NO_LEADER &&
		    out.leader != in.leader)
			j->moved++;
		if ((in.leader == EL_NO_LEADER) != (out.leader == EL_NO_LEADER))
			j->offline++;
	}
	return 0;
}

static void job_free(struct job *j)
{
	free(j);
}

/* JOB_ISR_SWEEP: what the walk over j->broker's partitions did. */
static void sweep_said(struct job *j, int rc)
{
	if (j->taken_out > 0)
		log_warn("takeover: broker %d, which may not be in an ISR, was "
			 "in %llu it shared with other members: taken out%s",
			 j->broker, (unsigned long long)j->taken_out,
			 rc == SYNOD_OK ? "" : " (walk stopped early)");
	j->taken_out = 0;
}

/* The job is over (rc SYNOD_OK: walked to its end). */
static void job_finish(struct topics *t, struct job *j, int rc)
{
	switch (j->kind) {
	case JOB_DEPART:
		log_event(LOG_INFO, "leaders_moved",
			  "broker=%d moved=%llu offline=%llu complete=%s",
			  j->broker, (unsigned long long)j->moved,
			  (unsigned long long)j->offline,
			  rc == SYNOD_OK ? "yes" : "no");
		j->done(j->done_arg, rc);
		break;
	case JOB_ELECT:
		if (rc != SYNOD_OK && j->er->rc == SYNOD_OK)
			j->er->rc = rc;
		tp_er_release(j->er);
		break;
	case JOB_IMBALANCE: {
		unsigned threshold =
		    tp_cluster_default(t, "leader.imbalance.percentage");
		if (rc != SYNOD_OK || j->total == 0 ||
		    j->off_preferred * 100 <= threshold * j->total)
			break;
		log_event(
		    LOG_INFO, "leader_imbalance",
		    "percent=%llu threshold=%u not_preferred=%llu "
		    "action=elect_preferred",
		    (unsigned long long)(j->off_preferred * 100 / j->total),
		    threshold, (unsigned long long)j->off_preferred);
		topics_elect_all(t, NULL, 0);
		break;
	}
	case JOB_OFFLINE:
		if (j->offline > 0)
			log_warn("%s: %llu offline partitions could have a "
				 "leader: elected",
				 j->why, (unsigned long long)j->offline);
		if (rc != SYNOD_OK)
			log_warn("walk of offline partitions stopped: %s",
				 synod_error_name(rc));
		break;
	case JOB_ISR_SWEEP:
		sweep_said(j, rc);
		/* fall through */
	default:
		if (rc != SYNOD_OK)
			log_warn("walk for broker %d stopped: %s", j->broker,
				 synod_error_name(rc));
		break;
	}
	job_free(j);
}

/* One page of a walk. Returns 1 when the walk is over (*rc its result). */
static int page_step(struct topics *t, struct job *j, int *rc)
{
	struct recbuf rb;
	struct walk w;
	unsigned n = 0;
	int rv, done;
	*rc = SYNOD_OK;
	recbuf_init(&rb);
	memset(&w, 0, sizeof w);
	w.t = t;
	w.rb = &rb;
	w.j = j;
	tp_begin_decision(t);
	switch (j->kind) {
	case JOB_DEPART:
	case JOB_BACK:
	case JOB_ISR_SWEEP:
		rv = store_broker_partitions_page(t->store, j->broker,
						  &j->cursor, t->page, &n,
						  on_page_partition, &w);
		break;
	case JOB_REPAIR:
	case JOB_OFFLINE: /* j->broker: EL_NO_LEADER */
		rv = store_leader_partitions_page(t->store, j->broker,
						  &j->cursor, t->page, &n,
						  on_page_partition, &w);
		break;
	default:
		rv = store_partitions_page(t->store, &j->cursor, t->page, &n,
					   on_page_partition, &w);
		break;
	}
	done = w.stop || n < t->page;
	if ((rv != 0 && !w.stop) || w.failed || rb.failed) {
		*rc = SYNOD_EUNKNOWN;
		tp_ov_rollback(t, t->cur_owner);
		done = 1;
	} else if (j->kind == JOB_ELECT) {
		if (tp_elect_page_propose(t, j->er, &rb, w.items, w.n_items) ==
		    0) {
			w.items = NULL; /* the page's proposal owns them */
		} else {
			/* Not proposed: what the overlay says never applies. */
			tp_ov_rollback(t, t->cur_owner);
			*rc = SYNOD_EUNKNOWN, done = 1;
		}
	} else if (rb.n > 0) {
		int prv = tp_propose_internal(t, &rb);
		if (prv != 0) {
			*rc = prv;
			done = 1;
		} else if (j->kind == JOB_BACK && done) {
			log_event(LOG_INFO, "partitions_recovered",
				  "broker=%d online_again=%llu", j->broker,
				  (unsigned long long)j->offline);
		}
	}
	free(w.items);
	recbuf_free(&rb);
	return done;
}

/* Replica brokers the ISR sweep may pass over (alive, or leaving with a
 * walk of their own) in one step. */
#define SWEEP_SKIP_MAX 256

/* JOB_ISR_SWEEP: one job that walks one broker after another (so a
 * departure queued meanwhile gets every other step, however many brokers
 * are swept). j->broker is the broker being walked, or with sweep_next the
 * last one walked (INT32_MIN: none yet). */
static int sweep_step(struct topics *t, struct job *j, int *rc)
{
	*rc = SYNOD_OK;
	if (!j->sweep_next && brokers_alive(t->brokers, j->broker))
		j->sweep_next = 1; /* it came back meanwhile */
	if (j->sweep_next) {
		int32_t id = j->broker;
		sweep_said(j, SYNOD_OK);
		for (unsigned k = 0;; k++) {
			int rv = store_next_replica_broker(t->store, id, &id);
			if (rv == STORE_ENOTFOUND)
				return 1;
			if (rv != STORE_OK) {
				*rc = SYNOD_EUNKNOWN;
				return 1;
			}
			if (!brokers_alive(t->brokers, id) &&
			    !brokers_departing(t->brokers, id))
				break;
			if (k + 1 == SWEEP_SKIP_MAX) {
				j->broker = id; /* go on from here next turn */
				return 0;
			}
		}
		j->broker = id;
		j->cursor.tid = 0;
		j->cursor.partition = -1;
		j->sweep_next = 0;
	}
	if (page_step(t, j, rc) == 0)
		return 0;
	if (*rc != SYNOD_OK)
		return 1;
	j->sweep_next = 1; /* this broker is done: the next one */
	return 0;
}

/* One step of a job. Returns 1 when the job is over (*rc its result). */
static int job_step(struct topics *t, struct job *j, int *rc)
{
	*rc = SYNOD_OK;
	if (j->kind == JOB_ISR_SWEEP)
		return sweep_step(t, j, rc);
	if (j->kind == JOB_REPAIR && brokers_alive(t->brokers, j->broker))
		return 1; /* it came back meanwhile */
	return page_step(t, j, rc);
}

/* Creations that waited for the apply budget, in arrival order. */
static void resume_parked(struct topics *t)
{
	while (t->park_head &&
	       (t->weight == 0 ||
		t->weight + t->park_head->weight <= APPLY_WEIGHT_MAX)) {
		struct parked *k = t->park_head;
		struct pending *p = k->p;
		void *msg = p->msg;
		t->park_head = k->next;
		if (t->park_head == NULL)
			t->park_tail = NULL;
		t->n_parked--;
		free(k);
		p->msg = NULL;
		if (p->sc->closed) {
			protobuf_c_message_free_unpacked(msg, NULL);
		} else {
			t->resuming = 1;
			tp_handle_create(t, p->sc, &p->h, msg);
			t->resuming = 0;
		}
		srv_pending_free(p);
	}
}

/* Parked creations answered with code (leadership lost, closing). */
void tp_parked_fail(struct topics *t, int code)
{
	while (t->park_head) {
		struct parked *k = t->park_head;
		t->park_head = k->next;
		srv_reply_status(k->p->sc, &k->p->h, code, NULL);
		srv_pending_free(k->p);
		free(k);
	}
	t->park_tail = NULL;
	t->n_parked = 0;
}

static void on_jobs_idle(uv_idle_t *h)
{
	struct topics *t = h->data;
	uint64_t t0 = uv_hrtime();
	resume_parked(t);
	while (t->jobs && t->weight < APPLY_WEIGHT_MAX &&
	       uv_hrtime() - t0 < JOB_BUDGET_NS) {
		struct job *j = t->jobs;
		int rc;
		t->jobs = j->next;
		if (t->jobs == NULL)
			t->jobs_tail = NULL;
		j->next = NULL;
		if (job_step(t, j, &rc)) {
			job_finish(t, j, rc);
			continue;
		}
		if (t->jobs_tail)
			t->jobs_tail->next = j;
		else
			t->jobs = j;
		t->jobs_tail = j;
	}
	/* Nothing to do, or waiting for applies: tp_top_free() kicks again. */
	if ((t->jobs == NULL || t->weight >= APPLY_WEIGHT_MAX) &&
	    t->jobs_running) {
		uv_idle_stop(&t->jobs_idle);
		t->jobs_running = 0;
	}
}

void tp_jobs_kick(struct topics *t)
{
	if ((t->jobs || t->park_head) && !t->jobs_running && t->active) {
		uv_idle_start(&t->jobs_idle, on_jobs_idle);
		t->jobs_running = 1;
	}
}

struct job *tp_job_add(struct topics *t, enum job_kind kind)
{
	struct job *j;
	if (!t->active || t->closing)
		return NULL;
	if ((j = calloc(1, sizeof *j)) == NULL)
		return NULL;
	j->kind = kind;
	j->cursor.tid = 0;
	j->cursor.partition = -1;
	if (t->jobs_tail)
		t->jobs_tail->next = j;
	else
		t->jobs = j;
	t->jobs_tail = j;
	tp_jobs_kick(t);
	return j;
}

int tp_job_exists(struct topics *t, enum job_kind kind, int32_t broker)
{
	for (struct job *j = t->jobs; j; j = j->next)
		if (j->kind == kind && j->broker == broker)
			return 1;
	return 0;
}

/* Leadership lost or closing: every job ends with rc. */
void tp_jobs_fail_all(struct topics *t, int rc)
{
	struct job *j = t->jobs;
	t->jobs = t->jobs_tail = NULL;
	if (t->jobs_running) {
		uv_idle_stop(&t->jobs_idle);
		t->jobs_running = 0;
	}
	while (j) {
		struct job *next = j->next;
		job_finish(t, j, rc);
		j = next;
	}
}

/* ---- reactions to brokers ---- */

int tp_hook_depart(void *arg, int32_t id, brokers_departed_cb done,
		   void *done_arg)
{
	struct topics *t = arg;
	struct job *j = tp_job_add(t, JOB_DEPART);
	if (j == NULL)
		return -1;
	j->broker = id;
	j->done = done;
	j->done_arg = done_arg;
	return 0;
}

void tp_hook_back(void *arg, int32_t id)
{
	struct job *j = tp_job_add(arg, JOB_BACK);
	if (j)
		j->broker = id;
}

/* The repair sweep: every broker id that leads a partition but may not
 * (fenced, shutting down, unregistered) and is not already leaving gets
 * a walk over the partitions it leads. Enumerating leaders goes through
 * the leader index: O(brokers x log partitions). */
void tp_repair_sweep(struct topics *t)
{
	int32_t l = EL_NO_LEADER;
	while (store_next_leader(t->store, l, &l) == STORE_OK) {
		struct job *j;
		if (brokers_alive(t->brokers, l) ||
		    brokers_departing(t->brokers, l) ||
		    tp_job_exists(t, JOB_REPAIR, l))
			continue;
		if ((j = tp_job_add(t, JOB_REPAIR)) == NULL)
			return;
		j->broker = l;
		log_warn("repair: broker %d leads partitions but may not "
			 "lead: electing",
			 l);
	}
}

/* The takeover's sweeps, for what the previous controller decided in
 * memory and did not get committed, or was to decide at a tick it did not
 * live to see.
 *
 * Offline partitions (SWEEP_OFFLINE): a broker's return walk (JOB_BACK)
 * runs on the controller that saw the broker unfenced, and a departure's
 * final record follows its walk; a takeover between the two leaves a
 * partition offline whose ISR member is alive and unfenced, and nothing
 * would elect it. One walk over the partitions without a leader (the
 * leader index), electing as JOB_BACK does (an unclean election where the
 * topic allows one); the same walk runs with every imbalance check
 * (leader.imbalance.check.interval.seconds, as Kafka's controller does),
 * for the cases without a takeover.
 *
 * ISRs (SWEEP_ISR): every broker id that replicates a partition but may
 * not be in an ISR (fenced, shutting down, unregistered) and is not
 * leaving with a walk of its own gets a walk over the partitions it
 * replicates, which takes it out of every ISR it shares with other
 * members (and moves a leadership it may not hold), as its departure did.
 * A departure's walk does that as it happens, and a creation that crosses
 * the walk is rechecked at the next tick (reliability.md 5.30); the
 * recheck list is the previous controller's memory. One job for all the
 * brokers, found one after another through the replicas table's key
 * (O(log n) each); each walk costs the broker's replicas, in pages. */
void tp_takeover_sweeps(struct topics *t)
{
	struct job *j;
	if (t->sweeps_due & SWEEP_OFFLINE) {
		if ((j = tp_job_add(t, JOB_OFFLINE)) == NULL)
			return;
		j->broker = EL_NO_LEADER;
		j->why = "takeover";
		t->sweeps_due &= ~SWEEP_OFFLINE;
	}
	if (t->sweeps_due & SWEEP_ISR) {
		if ((j = tp_job_add(t, JOB_ISR_SWEEP)) == NULL)
			return;
		j->broker = INT32_MIN;
		j->sweep_next = 1;
		t->sweeps_due &= ~SWEEP_ISR;
	}
}
