/* controller/topics_partitions.c - partition state on the active controller:
 * the overlay of proposed, not yet applied states (with per-decision rollback),
 * conversions to the pure decision structs, rechecks of refused changes, and
 * the waiter of the controller's own proposals. See topics.h (what) and
 * topics_int.h (the shared state). */
#include <stdlib.h>
#include <string.h>

#include "election.h"
#include "log.h"
#include "recbuf.h"
#include "synod/client.h"
#include "topics_int.h"

void tp_recheck_add(struct topics *t, uint64_t key)
{
	if (t->n_recheck == t->cap_recheck) {
		size_t cap = t->cap_recheck ? t->cap_recheck * 2 : 64;
		uint64_t *r = realloc(t->recheck, cap * sizeof *r);
		if (r == NULL)
			return;
		t->recheck = r;
		t->cap_recheck = cap;
	}
	t->recheck[t->n_recheck++] = key;
}

uint64_t tp_ov_key(int64_t tid, int32_t partition)
{
	return ((uint64_t)tid << 32) | (uint32_t)partition;
}

/* splitmix64's finalizer: every bit of the key (topic number in the high
 * half, partition in the low) reaches the low bits used as the slot. The
 * multiplicative hash used before took bits 20-31 of key * C, which the
 * topic number never reaches: partition p of every topic collided, and
 * removals (backward shift over the cluster) made pushes of a 500-record
 * entry take 80 ms. */
static size_t ov_slot(const struct topics *t, uint64_t key)
{
	key ^= key >> 30;
	key *= 0xBF58476D1CE4E5B9ull;
	key ^= key >> 27;
	key *= 0x94D049BB133111EBull;
	key ^= key >> 31;
	return (size_t)key & (t->ov_cap - 1);
}

struct ov_entry *tp_ov_find(struct topics *t, uint64_t key)
{
	if (t->ov_cap == 0)
		return NULL;
	for (size_t i = ov_slot(t, key);; i = (i + 1) & (t->ov_cap - 1)) {
		if (t->ov[i].key == 0)
			return NULL;
		if (t->ov[i].key == key)
			return &t->ov[i];
	}
}

void tp_ov_clear(struct topics *t)
{
	free(t->ov);
	t->ov = NULL;
	t->ov_cap = t->ov_count = 0;
}

static int ov_insert(struct topics *t, const struct ov_entry *m)
{
	if ((t->ov_count + 1) * 2 > t->ov_cap) {
		struct ov_entry *old = t->ov;
		size_t old_cap = t->ov_cap;
		size_t cap = old_cap ? old_cap * 2 : 256;
		struct ov_entry *n = calloc(cap, sizeof *n);
		if (n == NULL)
			return -1;
		t->ov = n;
		t->ov_cap = cap;
		t->ov_count = 0;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].key)
				ov_insert(t, &old[i]);
		free(old);
	}
	size_t i = ov_slot(t, m->key);
	while (t->ov[i].key != 0)
		i = (i + 1) & (t->ov_cap - 1);
	t->ov[i] = *m;
	t->ov_count++;
	return 0;
}

/* A decision's state for key: over the state in flight it was decided on
 * (kept as prev, to come back if this one's proposal is lost), or new. */
static int ov_put(struct topics *t, uint64_t key, uint64_t owner,
		  const struct store_partition *p)
{
	struct ov_entry *e = tp_ov_find(t, key), m = {0};
	if (e) {
		if (e->owner != owner) {
			e->prev = e->p;
			e->prev_owner = e->owner;
		}
		e->p = *p;
		e->owner = owner;
		return 0;
	}
	m.key = key;
	m.owner = owner;
	m.p = *p;
	return ov_insert(t, &m);
}

void tp_ov_remove(struct topics *t, uint64_t key)
{
	struct ov_entry *e = tp_ov_find(t, key);
	size_t i, j;
	if (e == NULL)
		return;
	i = (size_t)(e - t->ov);
	t->ov[i].key = 0;
	t->ov_count--;
	for (j = (i + 1) & (t->ov_cap - 1); t->ov[j].key;
	     j = (j + 1) & (t->ov_cap - 1)) {
		struct ov_entry m = t->ov[j];
		t->ov[j].key = 0;
		t->ov_count--;
		ov_insert(t, &m);
	}
}

/* Drop the overlay entries that drop(t, e, arg) picks. Out of memory,
 * all of them go: decisions then read the store, and a change still in
 * flight that they contradict is refused at apply as stale. */
static void ov_drop_where(struct topics *t,
			  int (*drop)(struct topics *t,
				      const struct ov_entry *e,
				      const void *arg),
			  const void *arg)
{
	uint64_t *keys = NULL;
	size_t n = 0;
	if (t->ov_count == 0)
		return;
	keys = malloc(t->ov_count * sizeof *keys);
	if (keys == NULL) {
		tp_ov_clear(t);
		return;
	}
	for (size_t i = 0; i < t->ov_cap; i++)
		if (t->ov[i].key && drop(t, &t->ov[i], arg))
			keys[n++] = t->ov[i].key;
	for (size_t i = 0; i < n; i++)
		tp_ov_remove(t, keys[i]);
	free(keys);
}

static int of_owner(struct topics *t, const struct ov_entry *e, const void *arg)
{
	(void)t;
	return e->owner == *(const uint64_t *)arg;
}

/* A decision's proposal was lost: take back what it put in the overlay,
 * and only that. Where it was decided on another decision's state still
 * in flight, that state is what the overlay says again (dropping it
 * would have decisions read the store under a change that will apply).
 * A later decision chained on one of its states stays in the overlay
 * and will be refused at apply (its expected epoch never commits), but
 * no longer comes back to the lost state. Everything else in flight
 * stays as it is. */
void tp_ov_rollback(struct topics *t, uint64_t owner)
{
	if (owner == 0)
		return; /* put nothing */
	for (size_t i = 0; i < t->ov_cap; i++) {
		struct ov_entry *e = &t->ov[i];
		if (e->key == 0)
			continue;
		if (e->owner == owner && e->prev_owner != 0) {
			e->p = e->prev;
			e->owner = e->prev_owner;
			e->prev_owner = 0;
		} else if (e->prev_owner == owner) {
			e->prev_owner = 0;
		}
	}
	ov_drop_where(t, of_owner, &owner);
}

static int partition_gone(struct topics *t, const struct ov_entry *e,
			  const void *arg)
{
	struct store_partition p;
	(void)arg;
	return store_partition_get(t->store, (int64_t)(e->key >> 32),
				   (int32_t)(uint32_t)e->key,
				   &p) == STORE_ENOTFOUND;
}

/* Topics were removed: a change proposed for one of their partitions
 * before the removal applied is refused when it applies (no topic), and
 * its entry would find no topic to settle it (topic numbers are never
 * reused, so it would only hold memory until the next leadership). */
void tp_ov_drop_removed(struct topics *t)
{
	ov_drop_where(t, partition_gone, NULL);
}

/* A new decision starts: what it proposes is rolled back together. */
void tp_begin_decision(struct topics *t)
{
	t->cur_owner = ++t->owner_seq;
}

/* The partition as the controller must see it: proposed or committed. */
int tp_current(struct topics *t, int64_t tid, int32_t partition,
	       struct store_partition *out, int *in_flight)
{
	uint64_t key = tp_ov_key(tid, partition);
	struct ov_entry *e = tp_ov_find(t, key);
	int rv;
	if (in_flight)
		*in_flight = 0;
	if (e == NULL)
		return store_partition_get(t->store, tid, partition, out);
	/* A proposed state whose epoch is not above the committed one can
	 * no longer apply (a change applies only at the epoch before its
	 * own): a leftover that its entry's apply did not settle, dropped
	 * rather than decided on (or, by ISR changes, waited for). */
	rv = store_partition_get(t->store, tid, partition, out);
	if (rv == STORE_OK && e->p.partition_epoch <= out->partition_epoch) {
		tp_ov_remove(t, key);
		return rv;
	}
	*out = e->p;
	if (in_flight)
		*in_flight = 1;
	return STORE_OK;
}

/* ---- conversions ---- */

void tp_to_el(const struct store_partition *p, struct el_partition *e)
{
	memset(e, 0, sizeof *e);
	e->n_replicas = p->n_replicas;
	memcpy(e->replicas, p->replicas, p->n_replicas * sizeof(int32_t));
	e->n_isr = p->n_isr;
	memcpy(e->isr, p->isr, p->n_isr * sizeof(int32_t));
	e->leader = p->leader;
	e->leader_epoch = p->leader_epoch;
	e->partition_epoch = p->partition_epoch;
}

static void from_el(const struct el_partition *e, int32_t partition,
		    struct store_partition *p)
{
	memset(p, 0, sizeof *p);
	p->partition = partition;
	p->n_replicas = e->n_replicas;
	memcpy(p->replicas, e->replicas, e->n_replicas * sizeof(int32_t));
	p->n_isr = e->n_isr;
	memcpy(p->isr, e->isr, e->n_isr * sizeof(int32_t));
	p->leader = e->leader;
	p->leader_epoch = e->leader_epoch;
	p->partition_epoch = e->partition_epoch;
}

int tp_alive(void *arg, int32_t id)
{
	struct topics *t = arg;
	return brokers_alive(t->brokers, id);
}

int topics_check_active(struct topics *t)
{
	int rv = node_check_active(t->node);
	if (rv == SYNOD_OK && !brokers_ready(t->brokers))
		rv = SYNOD_EUNAVAILABLE;
	return rv;
}

int tp_unclean_allowed(struct topics *t, const char *topic)
{
	char *v = NULL;
	int on = 0;
	if (store_config_get(t->store, SYNOD_SCOPE_TOPIC, topic,
			     "unclean.leader.election.enable",
			     &v) == STORE_OK ||
	    store_config_get(t->store, SYNOD_SCOPE_CLUSTER, NULL,
			     "unclean.leader.election.enable", &v) == STORE_OK)
		on = strcmp(v, "true") == 0;
	free(v);
	return on;
}

Synod__Rec__PartitionRecord *tp_rec_partition(struct recbuf *rb,
					      const struct store_partition *p)
{
	Synod__Rec__PartitionRecord *r = recbuf_alloc(rb, sizeof *r);
	int32_t *rep = recbuf_alloc(rb, sizeof(int32_t) * (p->n_replicas + 1));
	int32_t *isr = recbuf_alloc(rb, sizeof(int32_t) * (p->n_isr + 1));
	if (r == NULL || rep == NULL || isr == NULL)
		return NULL;
	synod__rec__partition_record__init(r);
	r->partition = p->partition;
	memcpy(rep, p->replicas, sizeof(int32_t) * p->n_replicas);
	memcpy(isr, p->isr, sizeof(int32_t) * p->n_isr);
	r->n_replicas = p->n_replicas;
	r->replicas = rep;
	r->n_isr = p->n_isr;
	r->isr = isr;
	r->leader = p->leader;
	r->leader_epoch = p->leader_epoch;
	r->partition_epoch = p->partition_epoch;
	return r;
}

/* Append a PartitionChange from `before` to `after` and remember it in the
 * overlay. */
int tp_add_change(struct topics *t, struct recbuf *rb,
		  const struct store_topic *topic,
		  const struct store_partition *before,
		  const struct el_partition *after)
{
	Synod__Rec__Record *r = recbuf_add(rb);
	Synod__Rec__PartitionChange *c = recbuf_alloc(rb, sizeof *c);
	uint8_t *id = recbuf_alloc(rb, 16);
	struct store_partition np;
	if (r == NULL || c == NULL || id == NULL)
		return -1;
	from_el(after, before->partition, &np);
	synod__rec__partition_change__init(c);
	memcpy(id, topic->topic_id, 16);
	c->topic_id.data = id;
	c->topic_id.len = 16;
	c->expected_partition_epoch = before->partition_epoch;
	if ((c->state = tp_rec_partition(rb, &np)) == NULL)
		return -1;
	r->body_case = SYNOD__REC__RECORD__BODY_PARTITION_CHANGE;
	r->partition_change = c;
	if (after->leader != before->leader) {
		t->stats.elections++;
		tp_load_leader_moved(t, before->leader, after->leader);
	}
	return ov_put(t, tp_ov_key(topic->tid, before->partition), t->cur_owner,
		      &np);
}

struct top *tp_top_new(struct topics *t, struct pending *p, waiter_cb cb)
{
	struct top *o = calloc(1, sizeof *o);
	if (o == NULL)
		return NULL;
	o->w.done = cb;
	o->w.data = o;
	o->t = t;
	o->p = p;
	o->gen = t->gen;
	t->ops++;
	return o;
}

struct top *tp_top_decided(struct topics *t, struct pending *p, waiter_cb cb)
{
	struct top *o = tp_top_new(t, p, cb);
	if (o)
		o->owner = t->cur_owner;
	return o;
}

/* A proposal of w partition records was made for o. */
void tp_weigh(struct topics *t, struct top *o, uint64_t w)
{
	o->weight = w;
	t->weight += w;
}

void tp_top_free(struct top *o)
{
	struct topics *t = o->t;
	if (o->weight) {
		t->weight -= o->weight;
		if (t->weight < APPLY_WEIGHT_MAX && !t->closing)
			tp_jobs_kick(t); /* parked creations and paused walks */
	}
	free(o->items);
	free(o);
	if (--t->ops == 0 && t->closing == 2)
		tp_topics_free(t);
}

/* A proposal was lost: what the overlay says may never apply. */
void tp_failed_proposal(struct topics *t, struct top *o, int rc)
{
	if (rc != SYNOD_OK && o->gen == t->gen) {
		tp_ov_rollback(t, o->owner);
		tp_load_invalidate(t);
	}
}

static void internal_done(struct node *n, struct waiter *w, int rc,
			  const int *statuses)
{
	struct top *o = w->data;
	(void)n;
	(void)statuses;
	tp_failed_proposal(o->t, o, rc);
	if (rc != SYNOD_OK)
		log_warn("leader elections not committed: %s",
			 synod_error_name(rc));
	tp_top_free(o);
}

int tp_propose_internal(struct topics *t, struct recbuf *rb)
{
	struct top *o;
	int rv;
	if (rb->n == 0)
		return 0;
	if (rb->failed ||
	    (o = tp_top_decided(t, NULL, internal_done)) == NULL) {
		tp_ov_rollback(t, t->cur_owner);
		return SYNOD_EUNKNOWN;
	}
	rv = node_propose(t->node, (const Synod__Rec__Record *const *)rb->recs,
			  rb->n, &o->w);
	if (rv != SYNOD_OK) {
		tp_ov_rollback(t, t->cur_owner);
		tp_top_free(o);
		return rv;
	}
	tp_weigh(t, o, rb->n);
	return 0;
}
