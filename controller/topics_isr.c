/* controller/topics_isr.c - ISR changes from partition leaders: ALTER_PARTITION
 * (16) and ALTER_PARTITIONS (22). See topics.h (what) and topics_int.h (the
 * shared state). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "election.h"
#include "recbuf.h"
#include "synod/client.h"
#include "topics_int.h"

/* ---- ISR changes from partition leaders ---- */

/* Rounds a request waits for the changes in flight on its partitions (a
 * read barrier each) before those partitions are answered BUSY. */
#define ALTER_WAIT_ROUNDS 8
/* alter_decide: the partition has a change in flight (in the overlay). */
#define ALTER_IN_FLIGHT (-1)
#define ALTER_BUSY_MSG                                                         \
	"a change of this partition is still being committed: retry"

/* One ISR change as ALTER_PARTITION checks it, the broker's session
 * checked already: SYNOD_OK with *tp, *cur (the committed state), *in and
 * *out filled (out equal to in when nothing is to be committed: the same
 * ISR restated, or a retry of the change that made the current state), or
 * the refusal, or ALTER_IN_FLIGHT.
 *
 * A partition with a change proposed and not yet applied is not decided
 * until it has applied (ALTER_IN_FLIGHT: the caller waits for a read
 * barrier and decides again). Deciding on the proposed state would answer
 * a retry of that very change OK at once, before it commits: if the
 * proposal is then lost (a failover), the leader acts on an ISR the
 * quorum never had, and may count acknowledgements from a follower the
 * committed ISR still lists as in sync, or none from one it lists. An
 * answer thus always reports a committed state (tp_current() drops a
 * proposed state that can no longer apply, so none is waited for). */
static int alter_decide(struct topics *t, int32_t broker,
			const ProtobufCBinaryData *topic_id, int32_t partition,
			uint32_t leader_epoch, uint32_t partition_epoch,
			const int32_t *isr, size_t n_isr,
			struct store_topic *tp, struct store_partition *cur,
			struct el_partition *in, struct el_partition *out)
{
	int in_flight;
	if (topic_id->len != 16 || topic_id->data == NULL ||
	    store_topic_get_by_id(t->store, topic_id->data, tp) != STORE_OK)
		return SYNOD_EUNKNOWN_TOPIC;
	if (tp_current(t, tp->tid, partition, cur, &in_flight) != STORE_OK)
		return SYNOD_EUNKNOWN_PARTITION;
	if (in_flight)
		return ALTER_IN_FLIGHT;
	tp_to_el(cur, in);
	return el_alter_isr(in, broker, leader_epoch, partition_epoch, isr,
			    n_isr > UINT32_MAX ? UINT32_MAX : (uint32_t)n_isr,
			    tp_alive, t, out);
}

/* The answer for a change proposed as record `rec` of a proposal that
 * ended with rc and statuses. */
static int alter_status(int rc, const int *statuses, unsigned rec)
{
	if (rc != SYNOD_OK)
		return rc;
	if (statuses && (statuses[rec] == STORE_R_STALE ||
			 statuses[rec] == STORE_R_REFUSED))
		return SYNOD_EINVALID_UPDATE_VERSION;
	if (statuses && statuses[rec] != STORE_R_OK)
		return SYNOD_EUNKNOWN_PARTITION; /* the topic went meanwhile */
	return SYNOD_OK;
}

/* A partition state for an answer: *ps points into *tp and *p. */
static void alter_wire(const struct store_topic *tp,
		       const struct store_partition *p,
		       Synod__Wire__PartitionState *ps)
{
	tp_wire_partition(ps, (char *)tp->name, (uint8_t *)tp->topic_id, p);
	ps->replicas = (int32_t *)p->replicas;
	ps->isr = (int32_t *)p->isr;
}

/* The committed state of (topic_id, partition) into *tp, *p and *ps; 0, or
 * -1 when it is gone. */
static int alter_committed(struct store *st, const uint8_t *topic_id,
			   int32_t partition, struct store_topic *tp,
			   struct store_partition *p,
			   Synod__Wire__PartitionState *ps)
{
	if (store_topic_get_by_id(st, topic_id, tp) != STORE_OK ||
	    store_partition_get(st, tp->tid, partition, p) != STORE_OK)
		return -1;
	alter_wire(tp, p, ps);
	return 0;
}

static void alter_done(struct node *n, struct waiter *w, int rc,
		       const int *statuses)
{
	struct top *o = w->data;
	struct topics *t = o->t;
	Synod__Wire__AlterPartitionRequest *req = o->p->msg;
	Synod__Wire__AlterPartitionResponse r =
	    SYNOD__WIRE__ALTER_PARTITION_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__PartitionState ps;
	struct store_topic tp;
	struct store_partition p;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	tp_failed_proposal(t, o, rc);
	rc = alter_status(rc, statuses, 0);
	if (rc == SYNOD_OK &&
	    alter_committed(n->fsm.store, req->topic_id.data, req->partition,
			    &tp, &p, &ps) == 0) {
		r.partition = &ps;
		t->stats.isr_changes++;
	}
	srv_fill_status(t->server, &st, rc, NULL, &lid, leader, sizeof leader);
	r.status = &st;
	srv_send(o->p->sc, &o->p->h, &r.base);
	srv_pending_free(o->p);
	tp_top_free(o);
}

static void alter_request(struct topics *t, struct sconn *sc,
			  const struct frame_header *h,
			  Synod__Wire__AlterPartitionRequest *req,
			  unsigned round);

/* The barrier a request waited for (alter_wait) has committed, or failed. */
static void alter_waited(struct node *n, struct waiter *w, int rc,
			 const int *statuses)
{
	struct top *o = w->data;
	struct pending *p = o->p;
	(void)n;
	(void)statuses;
	if (rc == SYNOD_OK) {
		Synod__Wire__AlterPartitionRequest *req = p->msg;
		p->msg = NULL;
		alter_request(o->t, p->sc, &p->h, req, o->first + 1);
	} else {
		srv_reply_status(p->sc, &p->h, rc, NULL);
	}
	srv_pending_free(p);
	tp_top_free(o);
}

/* Decide req again, as round `round`, once everything proposed so far has
 * applied (node_read's barrier). Answers at once on failure. */
static void alter_wait(struct topics *t, struct sconn *sc,
		       const struct frame_header *h,
		       Synod__Wire__AlterPartitionRequest *req, unsigned round)
{
	struct pending *p = srv_pending_new(sc, h, req, NULL, NULL);
	struct top *o = p ? tp_top_new(t, p, alter_waited) : NULL;
	int rv;
	if (o == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (p)
			srv_pending_free(p);
		else
			synod__wire__alter_partition_request__free_unpacked(
			    req, NULL);
		return;
	}
	o->first = round;
	t->stats.isr_waits++;
	if ((rv = node_read(t->node, &o->w)) != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(p);
		tp_top_free(o);
	}
}

void tp_handle_alter(struct topics *t, struct sconn *sc,
		     const struct frame_header *h,
		     Synod__Wire__AlterPartitionRequest *req)
{
	alter_request(t, sc, h, req, 0);
}

static void alter_request(struct topics *t, struct sconn *sc,
			  const struct frame_header *h,
			  Synod__Wire__AlterPartitionRequest *req,
			  unsigned round)
{
	struct store_topic tp;
	struct store_partition cur;
	struct el_partition in, out;
	struct recbuf rb;
	struct pending *p;
	struct top *o;
	const char *why = NULL;
	int rv = topics_check_active(t);
	if (rv == SYNOD_OK)
		rv = brokers_check(t->brokers, req->broker_id,
				   req->broker_epoch);
	if (rv == SYNOD_OK)
		rv = alter_decide(t, req->broker_id, &req->topic_id,
				  req->partition, req->leader_epoch,
				  req->partition_epoch, req->new_isr,
				  req->n_new_isr, &tp, &cur, &in, &out);
	if (rv == ALTER_IN_FLIGHT && round < ALTER_WAIT_ROUNDS) {
		alter_wait(t, sc, h, req, round);
		return;
	}
	if (rv == ALTER_IN_FLIGHT) {
		rv = SYNOD_EBUSY;
		why = ALTER_BUSY_MSG;
	}
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, why);
		synod__wire__alter_partition_request__free_unpacked(req, NULL);
		return;
	}
	if (!el_changed(&in, &out)) {
		/* The same ISR restated, or a retry of the change that made
		 * this (committed) state: nothing to commit. */
		Synod__Wire__AlterPartitionResponse r =
		    SYNOD__WIRE__ALTER_PARTITION_RESPONSE__INIT;
		Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
		Synod__Wire__PartitionState ps;
		alter_wire(&tp, &cur, &ps);
		st.code = SYNOD_OK;
		r.status = &st;
		r.partition = &ps;
		srv_send(sc, h, &r.base);
		synod__wire__alter_partition_request__free_unpacked(req, NULL);
		return;
	}
	recbuf_init(&rb);
	tp_begin_decision(t);
	tp_add_change(t, &rb, &tp, &cur, &out);
	p = srv_pending_new(sc, h, req, NULL, NULL);
	o = p ? tp_top_decided(t, p, alter_done) : NULL;
	if (o == NULL || rb.failed) {
		tp_ov_rollback(t, t->cur_owner);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (o)
			tp_top_free(o);
		if (p)
			srv_pending_free(p);
		else
			synod__wire__alter_partition_request__free_unpacked(
			    req, NULL);
		recbuf_free(&rb);
		return;
	}
	rv = node_propose(t->node, (const Synod__Rec__Record *const *)rb.recs,
			  rb.n, &o->w);
	recbuf_free(&rb);
	if (rv != SYNOD_OK)
		alter_done(t->node, &o->w, rv, NULL);
}

/* ---- ALTER_PARTITIONS: many ISR changes in one request ----
 *
 * Each item is decided as ALTER_PARTITION decides it (alter_decide), in
 * request order; the changes go into proposals of at most t->page
 * records, each its own decision (a lost one rolls back only its overlay
 * entries). The request is answered once every proposal has ended. */

struct ab_item {
	int code;
	int has_st; /* st is the answer's state (nothing was committed) */
	struct store_partition st;
};

static void ab_answer(struct alter_batch *ab)
{
	struct topics *t = ab->t;
	Synod__Wire__AlterPartitionsRequest *req = ab->p->msg;
	Synod__Wire__AlterPartitionsResponse r =
	    SYNOD__WIRE__ALTER_PARTITIONS_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__AlterPartitionResult *res = calloc(ab->n + 1, sizeof *res);
	Synod__Wire__AlterPartitionResult **rp = calloc(ab->n + 1, sizeof *rp);
	Synod__Wire__PartitionState *ps = calloc(ab->n + 1, sizeof *ps);
	struct store_topic *tps = calloc(ab->n + 1, sizeof *tps);
	struct store_partition *pts = calloc(ab->n + 1, sizeof *pts);
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	int rc = ab->rc;
	if (rc == SYNOD_OK && (res == NULL || rp == NULL || ps == NULL ||
			       tps == NULL || pts == NULL))
		rc = SYNOD_EUNKNOWN;
	for (size_t i = 0; rc == SYNOD_OK && i < ab->n; i++) {
		const Synod__Wire__AlterPartitionItem *q = req->items[i];
		struct ab_item *it = &ab->items[i];
		synod__wire__alter_partition_result__init(&res[i]);
		res[i].topic_id = q->topic_id;
		res[i].partition = q->partition;
		res[i].code = it->code;
		rp[i] = &res[i];
		if (it->code != SYNOD_OK)
			continue;
		if (it->has_st) {
			if (store_topic_get_by_id(t->store, q->topic_id.data,
						  &tps[i]) == STORE_OK) {
				pts[i] = it->st;
				alter_wire(&tps[i], &pts[i], &ps[i]);
				res[i].state = &ps[i];
			}
			continue;
		}
		t->stats.isr_changes++;
		if (alter_committed(t->store, q->topic_id.data, q->partition,
				    &tps[i], &pts[i], &ps[i]) == 0)
			res[i].state = &ps[i];
	}
	srv_fill_status(t->server, &st, rc, NULL, &lid, leader, sizeof leader);
	r.status = &st;
	r.n_results = rc == SYNOD_OK ? ab->n : 0;
	r.results = rp;
	srv_send(ab->p->sc, &ab->p->h, &r.base);
	srv_pending_free(ab->p);
	free(res);
	free(rp);
	free(ps);
	free(tps);
	free(pts);
	free(ab->items);
	free(ab->chg);
	free(ab->wait);
	free(ab->wait_spare);
	free(ab);
	if (--t->ops == 0 && t->closing == 2)
		tp_topics_free(t);
}

static void ab_release(struct alter_batch *ab)
{
	if (--ab->holds == 0)
		ab_answer(ab);
}

/* Changes first..first+n of ab ended with rc (statuses per record). */
static void ab_ended(struct alter_batch *ab, unsigned first, unsigned n, int rc,
		     const int *statuses)
{
	for (unsigned k = 0; k < n; k++)
		ab->items[ab->chg[first + k]].code =
		    alter_status(rc, statuses, k);
	if ((rc == SYNOD_ENOT_CONTROLLER || rc == SYNOD_ESHUTTING_DOWN) &&
	    ab->rc == SYNOD_OK)
		ab->rc = rc; /* the client retries on the new controller */
}

static void ab_done(struct node *n, struct waiter *w, int rc,
		    const int *statuses)
{
	struct top *o = w->data;
	struct alter_batch *ab = o->ab;
	(void)n;
	tp_failed_proposal(o->t, o, rc);
	ab_ended(ab, o->first, o->n_items, rc, statuses);
	ab_release(ab);
	tp_top_free(o);
}

/* Propose the changes from `first` on (the records in rb). */
static void ab_propose(struct topics *t, struct alter_batch *ab,
		       struct recbuf *rb, unsigned first)
{
	unsigned n = ab->n_chg - first;
	struct top *o;
	int rv;
	if (n == 0)
		return;
	o = rb->failed || rb->n != n ? NULL : tp_top_decided(t, NULL, ab_done);
	if (o == NULL) {
		tp_ov_rollback(t, t->cur_owner);
		ab_ended(ab, first, n, SYNOD_EUNKNOWN, NULL);
		return;
	}
	o->ab = ab;
	o->first = first;
	o->n_items = n;
	ab->holds++;
	rv = node_propose(t->node, (const Synod__Rec__Record *const *)rb->recs,
			  rb->n, &o->w);
	if (rv != SYNOD_OK)
		ab_done(t->node, &o->w, rv, NULL);
	else
		tp_weigh(t, o, rb->n);
}

static uint64_t ab_hash(const uint8_t *id, int32_t partition)
{
	uint64_t lo, hi;
	memcpy(&lo, id, 8);
	memcpy(&hi, id + 8, 8);
	lo ^= hi * 0x9E3779B97F4A7C15ull ^ (uint32_t)partition;
	lo ^= lo >> 30;
	lo *= 0xBF58476D1CE4E5B9ull;
	lo ^= lo >> 27;
	lo *= 0x94D049BB133111EBull;
	lo ^= lo >> 31;
	return lo;
}

/* dup[i] = 1 when item i repeats the (topic, partition) of an earlier
 * item (items without a 16-byte id are left to fail as unknown topics).
 * Linear time, one hash set. Returns 0 or -1 (out of memory). */
static int ab_duplicates(const Synod__Wire__AlterPartitionsRequest *req,
			 unsigned char *dup)
{
	size_t cap = 16, mask;
	uint32_t *slots;
	while (cap < req->n_items * 2)
		cap *= 2;
	if ((slots = calloc(cap, sizeof *slots)) == NULL)
		return -1;
	mask = cap - 1;
	for (size_t i = 0; i < req->n_items; i++) {
		const Synod__Wire__AlterPartitionItem *q = req->items[i];
		size_t j;
		if (q->topic_id.len != 16 || q->topic_id.data == NULL)
			continue;
		for (j = ab_hash(q->topic_id.data, q->partition) & mask;
		     slots[j] != 0; j = (j + 1) & mask) {
			const Synod__Wire__AlterPartitionItem *e =
			    req->items[slots[j] - 1];
			if (e->partition == q->partition &&
			    memcmp(e->topic_id.data, q->topic_id.data, 16) ==
				0) {
				dup[i] = 1;
				break;
			}
		}
		if (!dup[i])
			slots[j] = (uint32_t)i + 1;
	}
	free(slots);
	return 0;
}

static void ab_wait(struct topics *t, struct alter_batch *ab);

/* Decide items list[0..n) of ab (list NULL: every item, those dup marks
 * answered INVALID_REQUEST) in order, propose the changes in pages, and
 * wait for the partitions with a change in flight (ab_wait). */
static void ab_pass(struct topics *t, struct alter_batch *ab,
		    const unsigned *list, unsigned n, const unsigned char *dup)
{
	Synod__Wire__AlterPartitionsRequest *req = ab->p->msg;
	struct recbuf rb;
	unsigned first = ab->n_chg;
	recbuf_init(&rb);
	tp_begin_decision(t);
	for (unsigned k = 0; k < n; k++) {
		unsigned i = list ? list[k] : k;
		const Synod__Wire__AlterPartitionItem *q = req->items[i];
		struct ab_item *it = &ab->items[i];
		struct store_topic tp;
		struct store_partition cur;
		struct el_partition in, out;
		if (dup && dup[i]) {
			it->code = SYNOD_EINVALID_REQUEST;
			continue;
		}
		it->code = alter_decide(t, req->broker_id, &q->topic_id,
					q->partition, q->leader_epoch,
					q->partition_epoch, q->new_isr,
					q->n_new_isr, &tp, &cur, &in, &out);
		if (it->code == ALTER_IN_FLIGHT) {
			ab->wait[ab->n_wait++] = i;
			continue;
		}
		if (it->code != SYNOD_OK)
			continue;
		if (!el_changed(&in, &out)) {
			it->st = cur;
			it->has_st = 1;
			continue;
		}
		tp_add_change(t, &rb, &tp, &cur, &out);
		ab->chg[ab->n_chg++] = i;
		if (rb.n >= t->page) {
			ab_propose(t, ab, &rb, first);
			recbuf_free(&rb);
			recbuf_init(&rb);
			tp_begin_decision(t);
			first = ab->n_chg;
		}
	}
	ab_propose(t, ab, &rb, first);
	recbuf_free(&rb);
	if (ab->n_wait)
		ab_wait(t, ab);
}

/* The waiting items (ab->wait) all end with code. */
static void ab_wait_end(struct alter_batch *ab, int code)
{
	for (unsigned k = 0; k < ab->n_wait; k++)
		ab->items[ab->wait[k]].code = code;
	if ((code == SYNOD_ENOT_CONTROLLER || code == SYNOD_ESHUTTING_DOWN) &&
	    ab->rc == SYNOD_OK)
		ab->rc = code; /* the client retries on the new controller */
	ab->n_wait = 0;
}

/* The barrier the waiting items waited for has committed, or failed:
 * decide them again (as alter_request does a single change). */
static void ab_waited(struct node *n, struct waiter *w, int rc,
		      const int *statuses)
{
	struct top *o = w->data;
	struct alter_batch *ab = o->ab;
	struct topics *t = o->t;
	Synod__Wire__AlterPartitionsRequest *req = ab->p->msg;
	(void)n;
	(void)statuses;
	if (rc == SYNOD_OK && (rc = topics_check_active(t)) == SYNOD_OK)
		rc = brokers_check(t->brokers, req->broker_id,
				   req->broker_epoch);
	if (rc != SYNOD_OK) {
		ab_wait_end(ab, rc);
	} else {
		unsigned *list = ab->wait, nl = ab->n_wait;
		ab->wait = ab->wait_spare;
		ab->wait_spare = list;
		ab->n_wait = 0;
		ab->round++;
		ab_pass(t, ab, list, nl, NULL);
	}
	ab_release(ab);
	tp_top_free(o);
}

/* Wait for a read barrier, then decide the waiting items again; after
 * ALTER_WAIT_ROUNDS rounds they are answered BUSY. */
static void ab_wait(struct topics *t, struct alter_batch *ab)
{
	struct top *o;
	int rv;
	if (ab->round >= ALTER_WAIT_ROUNDS) {
		ab_wait_end(ab, SYNOD_EBUSY);
		return;
	}
	if ((o = tp_top_new(t, NULL, ab_waited)) == NULL) {
		ab_wait_end(ab, SYNOD_EUNKNOWN);
		return;
	}
	o->ab = ab;
	ab->holds++;
	t->stats.isr_waits += ab->n_wait;
	if ((rv = node_read(t->node, &o->w)) != SYNOD_OK)
		ab_waited(t->node, &o->w, rv, NULL);
}

void tp_handle_alter_batch(struct topics *t, struct sconn *sc,
			   const struct frame_header *h,
			   Synod__Wire__AlterPartitionsRequest *req)
{
	struct alter_batch *ab = NULL;
	struct pending *p = NULL;
	unsigned char *dup = NULL;
	uint64_t cap;
	int rv = topics_check_active(t);
	if (rv == SYNOD_OK)
		rv = brokers_check(t->brokers, req->broker_id,
				   req->broker_epoch);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		synod__wire__alter_partitions_request__free_unpacked(req, NULL);
		return;
	}
	cap = tp_cluster_default(t, "max.partitions.per.request");
	if (req->n_items > cap) {
		char msg[160];
		snprintf(msg, sizeof msg,
			 "%zu partitions in one request: at most %llu "
			 "(max.partitions.per.request)",
			 req->n_items, (unsigned long long)cap);
		srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT, msg);
		synod__wire__alter_partitions_request__free_unpacked(req, NULL);
		return;
	}
	if ((ab = calloc(1, sizeof *ab)) != NULL) {
		ab->items = calloc(req->n_items + 1, sizeof *ab->items);
		ab->chg = calloc(req->n_items + 1, sizeof *ab->chg);
		ab->wait = calloc(req->n_items + 1, sizeof *ab->wait);
		ab->wait_spare = calloc(req->n_items + 1, sizeof *ab->wait);
		dup = calloc(req->n_items + 1, 1);
	}
	if (ab == NULL || ab->items == NULL || ab->chg == NULL ||
	    ab->wait == NULL || ab->wait_spare == NULL || dup == NULL ||
	    ab_duplicates(req, dup) != 0 ||
	    (p = srv_pending_new(sc, h, req, NULL, NULL)) == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		synod__wire__alter_partitions_request__free_unpacked(req, NULL);
		if (ab) {
			free(ab->items);
			free(ab->chg);
			free(ab->wait);
			free(ab->wait_spare);
		}
		free(ab);
		free(dup);
		return;
	}
	ab->t = t;
	ab->p = p;
	ab->n = req->n_items;
	ab->holds = 1; /* released when every proposal is made */
	t->ops++;
	ab_pass(t, ab, NULL, ab->n, dup);
	free(dup);
	ab_release(ab);
}
