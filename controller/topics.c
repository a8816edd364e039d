/* controller/topics.c - topics, partitions, elections, ISR, pushes. */
#include "topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "configdefs.h"
#include "election.h"
#include "log.h"
#include "placement.h"
#include "recbuf.h"
#include "synod/client.h"

#define MAX_PARTITIONS_PER_TOPIC 1000000u
#define REBALANCE_POLL_MS 1000
/* Repair sweep period (also run at the first tick after activation). */
#define REPAIR_INTERVAL_MS 5000
/* Loop time walks may take per loop iteration. */
#define JOB_BUDGET_NS (10u * 1000u * 1000u)
/* Partition records proposed and not yet applied, above which creations
 * wait and walks pause: a follower applies what one round trip commits in
 * one loop turn, so this bounds that turn (about 15 us a partition). */
#define APPLY_WEIGHT_MAX 2000u
/* Creations waiting for that budget, above which they are refused BUSY. */
#define MAX_PARKED 10000u
/* Results kept for an ELECT_LEADERS answer (elected partitions first). */
#define ELECT_MAX_RESULTS 10000u

/* ---- overlay of proposed, not yet applied partition states ---- */

struct ov_entry {
	uint64_t key;	/* tid << 32 | partition; 0 = empty */
	uint64_t owner; /* the decision (proposal) that put it */
	struct store_partition p;
};

struct job;

struct parked {
	struct parked *next;
	struct pending *p; /* the CreateTopics request, its connection */
	uint64_t weight;
};

/* Replicas and leaders per broker, for placement: loaded from the store
 * once (two GROUP BY scans) and then kept current by the controller's own
 * decisions, so creating topic after topic stays O(new partitions). */
struct load_entry {
	int32_t id;
	int used;
	uint32_t replicas, leaders;
};

struct topics {
	struct server *server;
	struct node *node;
	struct brokers *brokers;
	struct store *store;
	int active;
	uint64_t gen;
	struct ov_entry *ov;
	size_t ov_cap, ov_count;
	char **pending_names; /* topic creations in flight */
	size_t n_pending, cap_pending;
	uv_timer_t timer; /* automatic leader rebalance */
	uint64_t next_rebalance_ms;
	unsigned ops;
	int closing;
	struct load_entry *load;
	size_t load_cap, load_count;
	int load_valid;
	uint64_t *recheck; /* partitions whose change was refused */
	size_t n_recheck, cap_recheck;
	uint64_t owner_seq, cur_owner; /* decisions, for overlay rollback */
	struct job *jobs, *jobs_tail;  /* walks sliced across loop turns */
	uv_idle_t jobs_idle;
	int jobs_running;
	unsigned page; /* partitions per walk page (and per entry) */
	uint64_t next_repair_ms;
	int open_handles;
	uint64_t weight; /* partition records proposed, not yet applied */
	struct parked *park_head, *park_tail; /* creations waiting for it */
	unsigned n_parked;
	int resuming; /* handle_create() called for a parked request */
	uint64_t brokers_warned_ms; /* fetches left brokers out (logged) */
	struct topics_stats stats;
};

static uint32_t cluster_default(struct topics *t, const char *key);
static void topics_free(struct topics *t);

static struct load_entry *load_get(struct topics *t, int32_t id)
{
	size_t i;
	if ((t->load_count + 1) * 2 > t->load_cap) {
		struct load_entry *old = t->load;
		size_t old_cap = t->load_cap;
		size_t cap = old_cap ? old_cap * 2 : 64;
		struct load_entry *n = calloc(cap, sizeof *n);
		if (n == NULL)
			return NULL;
		t->load = n;
		t->load_cap = cap;
		t->load_count = 0;
		for (size_t k = 0; k < old_cap; k++)
			if (old[k].used) {
				struct load_entry *e = load_get(t, old[k].id);
				e->replicas = old[k].replicas;
				e->leaders = old[k].leaders;
			}
		free(old);
	}
	for (i = ((uint32_t)id * 2654435761u) & (t->load_cap - 1);
	     t->load[i].used; i = (i + 1) & (t->load_cap - 1))
		if (t->load[i].id == id)
			return &t->load[i];
	t->load[i].used = 1;
	t->load[i].id = id;
	t->load_count++;
	return &t->load[i];
}

static void recheck_add(struct topics *t, uint64_t key)
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

static void load_invalidate(struct topics *t)
{
	free(t->load);
	t->load = NULL;
	t->load_cap = t->load_count = 0;
	t->load_valid = 0;
}

static void load_leader_moved(struct topics *t, int32_t from, int32_t to)
{
	struct load_entry *e;
	if (!t->load_valid || from == to)
		return;
	if (from >= 0 && (e = load_get(t, from)) != NULL && e->leaders > 0)
		e->leaders--;
	if (to >= 0 && (e = load_get(t, to)) != NULL)
		e->leaders++;
}

static uint64_t ov_key(int64_t tid, int32_t partition)
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

static struct ov_entry *ov_find(struct topics *t, uint64_t key)
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

static void ov_clear(struct topics *t)
{
	free(t->ov);
	t->ov = NULL;
	t->ov_cap = t->ov_count = 0;
}

static int ov_put(struct topics *t, uint64_t key, uint64_t owner,
		  const struct store_partition *p)
{
	struct ov_entry *e = ov_find(t, key);
	if (e) {
		e->p = *p;
		e->owner = owner;
		return 0;
	}
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
				ov_put(t, old[i].key, old[i].owner, &old[i].p);
		free(old);
	}
	size_t i = ov_slot(t, key);
	while (t->ov[i].key != 0)
		i = (i + 1) & (t->ov_cap - 1);
	t->ov[i].key = key;
	t->ov[i].owner = owner;
	t->ov[i].p = *p;
	t->ov_count++;
	return 0;
}

static void ov_remove(struct topics *t, uint64_t key)
{
	struct ov_entry *e = ov_find(t, key);
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
		ov_put(t, m.key, m.owner, &m.p);
	}
}

/* A decision's proposal was lost: drop what it put in the overlay, and
 * only that. A later decision chained on one of its states is still in
 * the overlay and will be refused at apply (its expected epoch never
 * commits); everything else in flight stays as it is. */
static void ov_rollback(struct topics *t, uint64_t owner)
{
	uint64_t *keys = NULL;
	size_t n = 0;
	if (t->ov_count == 0)
		return;
	keys = malloc(t->ov_count * sizeof *keys);
	if (keys == NULL) {
		ov_clear(t); /* no memory: forget all, decide from the store */
		return;
	}
	for (size_t i = 0; i < t->ov_cap; i++)
		if (t->ov[i].key && t->ov[i].owner == owner)
			keys[n++] = t->ov[i].key;
	for (size_t i = 0; i < n; i++)
		ov_remove(t, keys[i]);
	free(keys);
}

/* A new decision starts: what it proposes is rolled back together. */
static void begin_decision(struct topics *t)
{
	t->cur_owner = ++t->owner_seq;
}

/* The partition as the controller must see it: proposed or committed. */
static int current(struct topics *t, int64_t tid, int32_t partition,
		   struct store_partition *out)
{
	struct ov_entry *e = ov_find(t, ov_key(tid, partition));
	if (e) {
		*out = e->p;
		return STORE_OK;
	}
	return store_partition_get(t->store, tid, partition, out);
}

/* ---- conversions ---- */

static void to_el(const struct store_partition *p, struct el_partition *e)
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

static int alive(void *arg, int32_t id)
{
	struct topics *t = arg;
	return brokers_alive(t->brokers, id);
}

static int unclean_allowed(struct topics *t, const char *topic)
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

static Synod__Rec__PartitionRecord *
rec_partition(struct recbuf *rb, const struct store_partition *p)
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
static int add_change(struct topics *t, struct recbuf *rb,
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
	if ((c->state = rec_partition(rb, &np)) == NULL)
		return -1;
	r->body_case = SYNOD__REC__RECORD__BODY_PARTITION_CHANGE;
	r->partition_change = c;
	if (after->leader != before->leader) {
		t->stats.elections++;
		load_leader_moved(t, before->leader, after->leader);
	}
	return ov_put(t, ov_key(topic->tid, before->partition), t->cur_owner,
		      &np);
}

/* ---- generic waiter for proposals made by the controller itself ---- */

struct elect_req;
struct alter_batch;

struct top {
	struct waiter w;
	struct topics *t;
	struct pending *p; /* NULL: internal */
	uint64_t gen;
	uint64_t owner; /* decision whose overlay entries it carries */
	struct elect_req *er;
	uint64_t weight; /* partition records it proposed */
	int kind;
	char *name; /* pending topic creation */
	unsigned n_items;
	void *items;		/* per-kind result data */
	struct alter_batch *ab; /* ALTER_PARTITIONS: the request */
	unsigned first;		/* ... its changes first..first+n_items */
};

static struct top *top_new(struct topics *t, struct pending *p, waiter_cb cb)
{
	struct top *o = calloc(1, sizeof *o);
	if (o == NULL)
		return NULL;
	o->w.done = cb;
	o->w.data = o;
	o->t = t;
	o->p = p;
	o->gen = t->gen;
	o->owner = t->cur_owner;
	t->ops++;
	return o;
}

static void jobs_kick(struct topics *t);

/* A proposal of w partition records was made for o. */
static void weigh(struct topics *t, struct top *o, uint64_t w)
{
	o->weight = w;
	t->weight += w;
}

static void top_free(struct top *o)
{
	struct topics *t = o->t;
	if (o->weight) {
		t->weight -= o->weight;
		if (t->weight < APPLY_WEIGHT_MAX && !t->closing)
			jobs_kick(t); /* parked creations and paused walks */
	}
	free(o->items);
	free(o);
	if (--t->ops == 0 && t->closing == 2)
		topics_free(t);
}

/* A proposal was lost: what the overlay says may never apply. */
static void failed_proposal(struct topics *t, struct top *o, int rc)
{
	if (rc != SYNOD_OK && o->gen == t->gen) {
		ov_rollback(t, o->owner);
		load_invalidate(t);
	}
}

static void internal_done(struct node *n, struct waiter *w, int rc,
			  const int *statuses)
{
	struct top *o = w->data;
	(void)n;
	(void)statuses;
	failed_proposal(o->t, o, rc);
	if (rc != SYNOD_OK)
		log_warn("leader elections not committed: %s",
			 synod_error_name(rc));
	top_free(o);
}

static int propose_internal(struct topics *t, struct recbuf *rb)
{
	struct top *o;
	int rv;
	if (rb->n == 0)
		return 0;
	if (rb->failed || (o = top_new(t, NULL, internal_done)) == NULL) {
		ov_rollback(t, t->cur_owner);
		return SYNOD_EUNKNOWN;
	}
	rv = node_propose(t->node, (const Synod__Rec__Record *const *)rb->recs,
			  rb->n, &o->w);
	if (rv != SYNOD_OK) {
		ov_rollback(t, t->cur_owner);
		top_free(o);
		return rv;
	}
	weigh(t, o, rb->n);
	return 0;
}

/* ---- walks sliced across loop turns (jobs) ----
 *
 * Anything that may touch an unbounded number of partitions is a job: a
 * keyset walk over an index (store_*_page) that takes one page at a
 * time, decides on it, and proposes that page's changes as one proposal
 * of at most t->page records. The jobs run from an idle handle, round
 * robin, for at most JOB_BUDGET_NS of loop time per iteration, so neither
 * the leader's loop nor a follower's apply of one entry stalls for long,
 * and no decision is ever too large for one raft entry. */

enum job_kind {
	JOB_DEPART,    /* broker leaving: move its leaderships and ISR away */
	JOB_BACK,      /* broker returned: recover offline partitions */
	JOB_REPAIR,    /* partitions led by a broker that may not lead */
	JOB_ELECT,     /* preferred / unclean elections (request, rebalance) */
	JOB_IMBALANCE, /* count off-preferred leaders, then maybe rebalance */
};

struct elect_item {
	char topic[256];
	int32_t partition;
	int code;
	int32_t leader;
	unsigned rec; /* record index in its proposal, -1u: none */
};

/* One ELECT_LEADERS request (or automatic rebalance) across pages. */
struct elect_req {
	struct topics *t;
	struct pending *p; /* NULL: automatic rebalance */
	int unclean;
	struct elect_item *items;
	size_t n, cap;
	unsigned elected;
	unsigned looked;
	unsigned holds; /* walks and page proposals not finished, + build */
	int rc;
	int failed;
};

struct job {
	struct job *next;
	enum job_kind kind;
	int32_t broker;
	int64_t tid; /* JOB_ELECT: this topic only; 0: all */
	struct store_pkey cursor;
	brokers_departed_cb done; /* JOB_DEPART */
	void *done_arg;
	struct elect_req *er;	       /* JOB_ELECT */
	uint64_t total, off_preferred; /* JOB_IMBALANCE */
	char unclean_topic[256];
	int unclean;
};

struct walk {
	struct topics *t;
	struct recbuf *rb;
	struct job *j;
	struct elect_item *items; /* JOB_ELECT: this page's results */
	size_t n_items, cap_items;
	int failed;
	int stop; /* a row past the job's range: the walk is over */
};

static void *grow(void *p, size_t *cap, size_t need, size_t size, int *failed);
static void er_release(struct elect_req *er);
static int elect_page_propose(struct topics *t, struct elect_req *er,
			      struct recbuf *rb, struct elect_item *items,
			      size_t n_items);

static int walk_unclean(struct walk *w, const struct store_topic *topic)
{
	struct job *j = w->j;
	if (strcmp(j->unclean_topic, topic->name) != 0) {
		snprintf(j->unclean_topic, sizeof j->unclean_topic, "%s",
			 topic->name);
		j->unclean = unclean_allowed(w->t, topic->name);
	}
	return j->unclean;
}

/* Decide one partition of an election walk; its result goes to items. */
static int elect_decide(struct topics *t, struct recbuf *rb, int unclean,
			const struct store_topic *tp,
			const struct store_partition *cur,
			struct elect_item **items, size_t *n, size_t *cap,
			int *failed)
{
	struct el_partition in, out;
	struct elect_item *it;
	to_el(cur, &in);
	if (unclean)
		el_recover(&in, 1, alive, t, &out);
	else
		el_preferred(&in, alive, t, &out);
	*items = grow(*items, cap, *n + 1, sizeof **items, failed);
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
	return add_change(t, rb, tp, cur, &out);
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
	if (current(w->t, topic->tid, sp->partition, &cur) != STORE_OK)
		return 0;
	to_el(&cur, &in);
	switch (j->kind) {
	case JOB_DEPART:
		el_broker_gone(&in, j->broker, walk_unclean(w, topic), alive,
			       w->t, &out);
		break;
	case JOB_REPAIR:
		if (cur.leader != j->broker)
			return 0; /* already moved by a decision in flight */
		el_broker_gone(&in, j->broker, walk_unclean(w, topic), alive,
			       w->t, &out);
		break;
	case JOB_BACK:
		if (cur.leader != EL_NO_LEADER)
			return 0;
		el_recover(&in, walk_unclean(w, topic), alive, w->t, &out);
		break;
	case JOB_IMBALANCE:
		if (cur.leader != EL_NO_LEADER && cur.n_replicas > 0) {
			j->total++;
			if (cur.leader != cur.replicas[0] &&
			    alive(w->t, cur.replicas[0]))
				j->off_preferred++;
		}
		return 0;
	default: /* JOB_ELECT */
		return elect_decide(w->t, w->rb, j->er->unclean, topic, &cur,
				    &w->items, &w->n_items, &w->cap_items,
				    &w->failed);
	}
	if (el_changed(&in, &out) &&
	    add_change(w->t, w->rb, topic, &cur, &out) != 0)
		return -1;
	return 0;
}

static void job_free(struct job *j)
{
	free(j);
}

/* The job is over (rc SYNOD_OK: walked to its end). */
static void job_finish(struct topics *t, struct job *j, int rc)
{
	switch (j->kind) {
	case JOB_DEPART:
		j->done(j->done_arg, rc);
		break;
	case JOB_ELECT:
		if (rc != SYNOD_OK && j->er->rc == SYNOD_OK)
			j->er->rc = rc;
		er_release(j->er);
		break;
	case JOB_IMBALANCE: {
		unsigned threshold =
		    cluster_default(t, "leader.imbalance.percentage");
		if (rc != SYNOD_OK || j->total == 0 ||
		    j->off_preferred * 100 <= threshold * j->total)
			break;
		log_info(
		    "leader imbalance %llu%% above %u%%: electing "
		    "preferred leaders",
		    (unsigned long long)(j->off_preferred * 100 / j->total),
		    threshold);
		topics_elect_all(t, NULL, 0);
		break;
	}
	default:
		if (rc != SYNOD_OK)
			log_warn("walk for broker %d stopped: %s", j->broker,
				 synod_error_name(rc));
		break;
	}
	job_free(j);
}

/* One page of a job. Returns 1 when the job is over (*rc its result). */
static int job_step(struct topics *t, struct job *j, int *rc)
{
	struct recbuf rb;
	struct walk w;
	unsigned n = 0;
	int rv, done;
	*rc = SYNOD_OK;
	if (j->kind == JOB_REPAIR && brokers_alive(t->brokers, j->broker))
		return 1; /* it came back meanwhile */
	recbuf_init(&rb);
	memset(&w, 0, sizeof w);
	w.t = t;
	w.rb = &rb;
	w.j = j;
	begin_decision(t);
	switch (j->kind) {
	case JOB_DEPART:
	case JOB_BACK:
		rv = store_broker_partitions_page(t->store, j->broker,
						  &j->cursor, t->page, &n,
						  on_page_partition, &w);
		break;
	case JOB_REPAIR:
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
		ov_rollback(t, t->cur_owner);
		done = 1;
	} else if (j->kind == JOB_ELECT) {
		if (elect_page_propose(t, j->er, &rb, w.items, w.n_items) == 0)
			w.items = NULL; /* the page's proposal owns them */
		else
			*rc = SYNOD_EUNKNOWN, done = 1;
	} else if (rb.n > 0) {
		int prv = propose_internal(t, &rb);
		if (prv != 0) {
			*rc = prv;
			done = 1;
		} else if (j->kind == JOB_BACK && done) {
			log_info("broker %d is back: offline partitions "
				 "recover",
				 j->broker);
		}
	}
	free(w.items);
	recbuf_free(&rb);
	return done;
}

static void handle_create(struct topics *t, struct sconn *sc,
			  const struct frame_header *h,
			  Synod__Wire__CreateTopicsRequest *req);

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
			handle_create(t, p->sc, &p->h, msg);
			t->resuming = 0;
		}
		srv_pending_free(p);
	}
}

/* Parked creations answered with code (leadership lost, closing). */
static void parked_fail(struct topics *t, int code)
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
	/* Nothing to do, or waiting for applies: top_free() kicks again. */
	if ((t->jobs == NULL || t->weight >= APPLY_WEIGHT_MAX) &&
	    t->jobs_running) {
		uv_idle_stop(&t->jobs_idle);
		t->jobs_running = 0;
	}
}

static void jobs_kick(struct topics *t)
{
	if ((t->jobs || t->park_head) && !t->jobs_running && t->active) {
		uv_idle_start(&t->jobs_idle, on_jobs_idle);
		t->jobs_running = 1;
	}
}

static struct job *job_add(struct topics *t, enum job_kind kind)
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
	jobs_kick(t);
	return j;
}

static int job_exists(struct topics *t, enum job_kind kind, int32_t broker)
{
	for (struct job *j = t->jobs; j; j = j->next)
		if (j->kind == kind && j->broker == broker)
			return 1;
	return 0;
}

/* Leadership lost or closing: every job ends with rc. */
static void jobs_fail_all(struct topics *t, int rc)
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

static int hook_depart(void *arg, int32_t id, brokers_departed_cb done,
		       void *done_arg)
{
	struct topics *t = arg;
	struct job *j = job_add(t, JOB_DEPART);
	if (j == NULL)
		return -1;
	j->broker = id;
	j->done = done;
	j->done_arg = done_arg;
	return 0;
}

static void hook_back(void *arg, int32_t id)
{
	struct job *j = job_add(arg, JOB_BACK);
	if (j)
		j->broker = id;
}

/* The repair sweep: every broker id that leads a partition but may not
 * (fenced, shutting down, unregistered) and is not already leaving gets
 * a walk over the partitions it leads. Enumerating leaders goes through
 * the leader index: O(brokers x log partitions). */
static void repair_sweep(struct topics *t)
{
	int32_t l = EL_NO_LEADER;
	while (store_next_leader(t->store, l, &l) == STORE_OK) {
		struct job *j;
		if (brokers_alive(t->brokers, l) ||
		    brokers_departing(t->brokers, l) ||
		    job_exists(t, JOB_REPAIR, l))
			continue;
		if ((j = job_add(t, JOB_REPAIR)) == NULL)
			return;
		j->broker = l;
		log_warn("repair: broker %d leads partitions but may not "
			 "lead: electing",
			 l);
	}
}

/* ---- pushes ---- */

struct bucket {
	int32_t broker;
	Synod__Wire__PartitionState **parts;
	size_t n, cap;
};

struct push_ctx {
	struct topics *t;
	uint64_t index;
	struct bucket *buckets;
	size_t n_buckets, cap_buckets;
	Synod__Wire__PartitionState *states;
	size_t n_states, cap_states;
	Synod__Wire__TopicState *topics;
	size_t n_topics, cap_topics;
	char **strings; /* owned copies */
	size_t n_strings, cap_strings;
	int32_t *ids; /* replicas and ISRs, owned */
	size_t n_ids, cap_ids;
	Synod__Wire__BrokerState *bstates; /* brokers (strings in strings) */
	size_t n_bstates, cap_bstates;
	size_t broker_bytes; /* their estimated packed size */
	int all_brokers;     /* bstates lists every registered broker */
	int failed;
	int nudge_only; /* topic events too large to fan out: nudge */
};

static void *grow(void *p, size_t *cap, size_t need, size_t size, int *failed)
{
	size_t c = *cap ? *cap : 16;
	void *n;
	if (need <= *cap)
		return p;
	while (c < need)
		c *= 2;
	n = realloc(p, c * size);
	if (n == NULL) {
		*failed = 1;
		return p;
	}
	*cap = c;
	return n;
}

static char *keep_str(struct push_ctx *x, const char *s)
{
	char *d;
	x->strings = grow(x->strings, &x->cap_strings, x->n_strings + 1,
			  sizeof *x->strings, &x->failed);
	if (x->failed || (d = strdup(s)) == NULL) {
		x->failed = 1;
		return NULL;
	}
	x->strings[x->n_strings++] = d;
	return d;
}

/* Zeroed memory owned by x (freed with the strings). */
static void *keep_mem(struct push_ctx *x, size_t size)
{
	void *d;
	x->strings = grow(x->strings, &x->cap_strings, x->n_strings + 1,
			  sizeof *x->strings, &x->failed);
	if (x->failed || (d = calloc(1, size ? size : 1)) == NULL) {
		x->failed = 1;
		return NULL;
	}
	x->strings[x->n_strings++] = d;
	return d;
}

/* Bytes a broker's state takes in a delta (estimated, from above). */
static size_t est_broker(const struct store_broker *sb)
{
	size_t n = 32 + (sb->has_rack ? strlen(sb->rack) + 2 : 0);
	for (unsigned i = 0; i < sb->n_endpoints; i++)
		n += 16 + strlen(sb->endpoints[i].name) +
		     strlen(sb->endpoints[i].host) +
		     strlen(sb->endpoints[i].security_protocol);
	return n;
}

/* Add broker id's state: sb, or NULL when it is not registered (then
 * `removed`). */
static int push_broker(struct push_ctx *x, int32_t id,
		       const struct store_broker *sb)
{
	Synod__Wire__BrokerState *w;
	Synod__Wire__Endpoint *eps = NULL, **epp = NULL;
	x->bstates = grow(x->bstates, &x->cap_bstates, x->n_bstates + 1,
			  sizeof *x->bstates, &x->failed);
	if (x->failed)
		return -1;
	w = &x->bstates[x->n_bstates];
	synod__wire__broker_state__init(w);
	w->id = id;
	if (sb == NULL) {
		w->fenced = 1;
		w->has_removed = 1;
		w->removed = 1;
		x->broker_bytes += 16;
		x->n_bstates++;
		return 0;
	}
	w->epoch = sb->epoch;
	w->fenced = sb->fenced;
	w->has_shutting_down = 1;
	w->shutting_down = sb->shutting_down;
	if (sb->has_rack && (w->rack = keep_str(x, sb->rack)) == NULL)
		return -1;
	if (sb->n_endpoints > 0) {
		eps = keep_mem(x, sb->n_endpoints * sizeof *eps);
		epp = eps ? keep_mem(x, sb->n_endpoints * sizeof *epp) : NULL;
		if (epp == NULL)
			return -1;
	}
	for (unsigned i = 0; i < sb->n_endpoints; i++) {
		const struct store_endpoint *se = &sb->endpoints[i];
		synod__wire__endpoint__init(&eps[i]);
		eps[i].name = keep_str(x, se->name);
		eps[i].host = keep_str(x, se->host);
		eps[i].security_protocol = keep_str(x, se->security_protocol);
		eps[i].port = se->port;
		if (x->failed)
			return -1;
		epp[i] = &eps[i];
	}
	w->n_endpoints = sb->n_endpoints;
	w->endpoints = epp;
	x->broker_bytes += est_broker(sb);
	x->n_bstates++;
	return 0;
}

static int push_registered(void *arg, const struct store_broker *sb)
{
	return push_broker(arg, sb->id, sb);
}

static struct bucket *bucket_of(struct push_ctx *x, int32_t broker)
{
	for (size_t i = 0; i < x->n_buckets; i++)
		if (x->buckets[i].broker == broker)
			return &x->buckets[i];
	x->buckets = grow(x->buckets, &x->cap_buckets, x->n_buckets + 1,
			  sizeof *x->buckets, &x->failed);
	if (x->failed)
		return NULL;
	memset(&x->buckets[x->n_buckets], 0, sizeof *x->buckets);
	x->buckets[x->n_buckets].broker = broker;
	return &x->buckets[x->n_buckets++];
}

/* Fill a wire PartitionState (ids copied into x->ids by index: pointers
 * are fixed up once all states exist, since x->ids may move). */
static void wire_partition(Synod__Wire__PartitionState *w, char *topic,
			   uint8_t *topic_id, const struct store_partition *p)
{
	synod__wire__partition_state__init(w);
	w->topic = topic;
	w->topic_id.data = topic_id;
	w->topic_id.len = 16;
	w->partition = p->partition;
	w->leader = p->leader;
	w->leader_epoch = p->leader_epoch;
	w->partition_epoch = p->partition_epoch;
	w->n_replicas = p->n_replicas;
	w->n_isr = p->n_isr;
}

static int push_add_partition(struct push_ctx *x, const struct store_topic *t,
			      const struct store_partition *p)
{
	Synod__Wire__PartitionState *w;
	char *name = keep_str(x, t->name);
	char *id = name ? keep_str(x, "0123456789abcdef") : NULL;
	size_t off;
	if (id == NULL)
		return -1;
	memcpy(id, t->topic_id, 16);
	x->states = grow(x->states, &x->cap_states, x->n_states + 1,
			 sizeof *x->states, &x->failed);
	x->ids = grow(x->ids, &x->cap_ids, x->n_ids + p->n_replicas + p->n_isr,
		      sizeof *x->ids, &x->failed);
	if (x->failed)
		return -1;
	w = &x->states[x->n_states++];
	wire_partition(w, name, (uint8_t *)id, p);
	off = x->n_ids;
	memcpy(x->ids + off, p->replicas, p->n_replicas * sizeof(int32_t));
	memcpy(x->ids + off + p->n_replicas, p->isr,
	       p->n_isr * sizeof(int32_t));
	/* Store the offset for now; fixed up before sending. */
	w->replicas = (int32_t *)(uintptr_t)off;
	x->n_ids += p->n_replicas + p->n_isr;
	return 0;
}

static int push_topic(struct push_ctx *x, const struct store_topic *t,
		      int deleted)
{
	Synod__Wire__TopicState *w;
	char *name = keep_str(x, t->name);
	char *id = name ? keep_str(x, "0123456789abcdef") : NULL;
	if (id == NULL)
		return -1;
	memcpy(id, t->topic_id, 16);
	x->topics = grow(x->topics, &x->cap_topics, x->n_topics + 1,
			 sizeof *x->topics, &x->failed);
	if (x->failed)
		return -1;
	w = &x->topics[x->n_topics++];
	synod__wire__topic_state__init(w);
	w->name = name;
	w->topic_id.data = (uint8_t *)id;
	w->topic_id.len = 16;
	w->partitions = deleted ? 0 : t->n_partitions;
	w->has_deleted = deleted;
	w->deleted = deleted;
	return 0;
}

static int push_live(void *arg, const struct store_topic *t)
{
	return push_topic(arg, t, 0);
}

static int push_deleted(void *arg, const struct store_topic *t)
{
	return push_topic(arg, t, 1);
}

struct send_all {
	struct push_ctx *x;
	Synod__Wire__PartitionState **none;
};

/* Pointers to x's broker states (NULL when none or out of memory). */
static Synod__Wire__BrokerState **broker_ptrs(struct push_ctx *x)
{
	Synod__Wire__BrokerState **bp;
	if (x->n_bstates == 0 ||
	    (bp = malloc(x->n_bstates * sizeof *bp)) == NULL)
		return NULL;
	for (size_t i = 0; i < x->n_bstates; i++)
		bp[i] = &x->bstates[i];
	return bp;
}

static void send_one(struct push_ctx *x, int32_t broker, struct bucket *bk)
{
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__TopicState **tp = NULL;
	Synod__Wire__BrokerState **bp = broker_ptrs(x);
	if (x->n_bstates > 0 && bp == NULL)
		return; /* out of memory: the next push shows a gap */
	if (x->n_topics) {
		tp = malloc(x->n_topics * sizeof *tp);
		if (tp == NULL) {
			free(bp);
			return;
		}
		for (size_t i = 0; i < x->n_topics; i++)
			tp[i] = &x->topics[i];
	}
	d.version = x->index;
	d.n_topics = x->n_topics;
	d.topics = tp;
	d.n_partitions = bk ? bk->n : 0;
	d.partitions = bk ? bk->parts : NULL;
	d.n_brokers = x->n_bstates;
	d.brokers = bp;
	brokers_push(x->t->brokers, broker, &d);
	free(tp);
	free(bp);
}

static void send_to_registered(void *arg, int32_t broker)
{
	struct push_ctx *x = arg;
	for (size_t i = 0; i < x->n_buckets; i++)
		if (x->buckets[i].broker == broker)
			return; /* sent with its partitions */
	if (x->nudge_only)
		brokers_nudge(x->t->brokers, broker, x->index);
	else
		send_one(x, broker, NULL);
}

static void count_broker(void *arg, int32_t broker)
{
	(void)broker;
	(*(size_t *)arg)++;
}

/* Would the part of this entry's pushes that goes to every broker (topic
 * events, broker states), sent to every broker, queue more than
 * BROKERS_FANOUT_MAX bytes? */
static int fanout_too_large(struct push_ctx *x)
{
	size_t bytes = x->broker_bytes, n = 0;
	for (size_t i = 0; i < x->n_topics; i++)
		bytes += 24 + strlen(x->topics[i].name);
	brokers_foreach(x->t->brokers, count_broker, &n);
	return bytes * n > BROKERS_FANOUT_MAX;
}

static void push_free(struct push_ctx *x)
{
	for (size_t i = 0; i < x->n_strings; i++)
		free(x->strings[i]);
	free(x->strings);
	for (size_t i = 0; i < x->n_buckets; i++)
		free(x->buckets[i].parts);
	free(x->buckets);
	free(x->states);
	free(x->topics);
	free(x->ids);
	free(x->bstates);
}

/* Record ids of brokers an entry's broker records name. */
static int32_t record_broker(const Synod__Rec__Record *r)
{
	switch (r->body_case) {
	case SYNOD__REC__RECORD__BODY_REGISTER_BROKER:
		return r->register_broker->broker_id;
	case SYNOD__REC__RECORD__BODY_FENCE_BROKER:
		return r->fence_broker->broker_id;
	case SYNOD__REC__RECORD__BODY_UNFENCE_BROKER:
		return r->unfence_broker->broker_id;
	case SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN:
		return r->broker_shutdown->broker_id;
	case SYNOD__REC__RECORD__BODY_UNREGISTER_BROKER:
		return r->unregister_broker->broker_id;
	default:
		return -1;
	}
}

/* The state after the entry of every broker its records name (each once:
 * a record refused at apply pushes the unchanged state, which is
 * harmless). */
static void push_entry_brokers(struct push_ctx *x,
			       const Synod__Rec__RecordBatch *b)
{
	for (size_t i = 0; i < b->n_records && !x->failed; i++) {
		int32_t id = record_broker(b->records[i]);
		struct store_broker sb;
		int seen = 0;
		if (id < 0)
			continue;
		for (size_t k = 0; k < x->n_bstates && !seen; k++)
			seen = x->bstates[k].id == id;
		if (seen)
			continue;
		if (store_broker_get(x->t->store, id, &sb) == STORE_OK)
			push_broker(x, id, &sb);
		else
			push_broker(x, id, NULL);
	}
}

static void push_entry(struct topics *t, uint64_t index,
		       const Synod__Rec__RecordBatch *b)
{
	struct push_ctx x;
	int topic_events = 0;
	memset(&x, 0, sizeof x);
	x.t = t;
	x.index = index;
	for (size_t i = 0; i < b->n_records && !x.failed; i++) {
		const Synod__Rec__Record *r = b->records[i];
		struct store_topic topic;
		const ProtobufCBinaryData *id = NULL;
		Synod__Rec__PartitionRecord **parts = NULL;
		size_t n = 0;
		switch (r->body_case) {
		case SYNOD__REC__RECORD__BODY_CREATE_TOPIC:
			id = &r->create_topic->topic_id;
			parts = r->create_topic->partitions;
			n = r->create_topic->n_partitions;
			topic_events = 1;
			break;
		case SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS:
			id = &r->create_partitions->topic_id;
			parts = r->create_partitions->partitions;
			n = r->create_partitions->n_partitions;
			topic_events = 1;
			break;
		case SYNOD__REC__RECORD__BODY_PARTITION_CHANGE:
			id = &r->partition_change->topic_id;
			parts = &r->partition_change->state;
			n = 1;
			break;
		case SYNOD__REC__RECORD__BODY_REMOVE_TOPIC:
			topic_events = 1;
			load_invalidate(t);
			continue;
		default:
			continue;
		}
		if (id->len != 16 || store_topic_get_by_id(t->store, id->data,
							   &topic) != STORE_OK)
			continue;
		for (size_t k = 0; k < n; k++) {
			struct store_partition p;
			uint64_t key = ov_key(topic.tid, parts[k]->partition);
			struct ov_entry *e = ov_find(t, key);
			int found = store_partition_get(t->store, topic.tid,
							parts[k]->partition,
							&p) == STORE_OK;
			/* This record was the last proposal for the
			 * partition, applied or refused: the store is the
			 * truth again. */
			if (e &&
			    e->p.partition_epoch == parts[k]->partition_epoch)
				ov_remove(t, key);
			/* A change refused as stale changed nothing: check
			 * the partition again on the next tick. */
			if (found && p.version != index &&
			    r->body_case ==
				SYNOD__REC__RECORD__BODY_PARTITION_CHANGE)
				recheck_add(t, key);
			/* The committed state, if this entry changed it. */
			if (!found || p.version != index)
				continue;
			if (push_add_partition(&x, &topic, &p) != 0)
				break;
		}
	}
	if (topic_events && !x.failed)
		store_topics_since(t->store, index - 1, push_live, push_deleted,
				   &x);
	if (!x.failed)
		push_entry_brokers(&x, b);
	if (x.failed) {
		log_warn("out of memory building pushes for %llu: brokers "
			 "will fetch",
			 (unsigned long long)index);
		push_free(&x);
		return;
	}
	if (x.n_states == 0 && x.n_topics == 0 && x.n_bstates == 0) {
		push_free(&x);
		return;
	}
	/* Fix up id pointers, then group states by replica. */
	for (size_t i = 0; i < x.n_states && !x.failed; i++) {
		Synod__Wire__PartitionState *w = &x.states[i];
		size_t off = (size_t)(uintptr_t)w->replicas;
		w->replicas = x.ids + off;
		w->isr = x.ids + off + w->n_replicas;
		for (size_t r = 0; r < w->n_replicas; r++) {
			struct bucket *bk = bucket_of(&x, w->replicas[r]);
			if (bk == NULL)
				break;
			bk->parts = grow(bk->parts, &bk->cap, bk->n + 1,
					 sizeof *bk->parts, &x.failed);
			if (!x.failed)
				bk->parts[bk->n++] = w;
		}
	}
	if (!x.failed) {
		for (size_t i = 0; i < x.n_buckets; i++)
			send_one(&x, x.buckets[i].broker, &x.buckets[i]);
		if (x.n_topics || x.n_bstates) {
			x.nudge_only = fanout_too_large(&x);
			brokers_foreach(t->brokers, send_to_registered, &x);
		}
		t->stats.pushes_built++;
	}
	push_free(&x);
}

void topics_applied(struct topics *t, uint64_t index,
		    const Synod__Rec__RecordBatch *b)
{
	if (!t->active)
		return;
	/* Topic, partition and broker records (bodies 5-13). */
	for (size_t i = 0; i < b->n_records; i++)
		if (b->records[i]->body_case >=
			SYNOD__REC__RECORD__BODY_REGISTER_BROKER &&
		    b->records[i]->body_case <=
			SYNOD__REC__RECORD__BODY_REMOVE_TOPIC) {
			push_entry(t, index, b);
			return;
		}
}

/* ---- METADATA_FETCH ---- */

static int fetch_partition(void *arg, const struct store_topic *t,
			   const struct store_partition *p)
{
	return push_add_partition(arg, t, p);
}

/* ---- pages (METADATA_FETCH, DESCRIBE_TOPICS) ----
 *
 * A cursor is opaque to clients: phase (1 byte), topic number (8),
 * partition (4), version of the first page (8), little endian. */
#define CURSOR_LEN 21
#define PAGE_ROWS 256 /* rows read from the store per query */

struct cursor {
	uint8_t phase;
	int64_t tid;
	int32_t partition;
	uint64_t version;
};

static void cursor_put(const struct cursor *c, uint8_t *b)
{
	uint64_t tid = (uint64_t)c->tid;
	uint32_t part = (uint32_t)c->partition;
	b[0] = c->phase;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (uint8_t)(tid >> (8 * i));
	for (int i = 0; i < 4; i++)
		b[9 + i] = (uint8_t)(part >> (8 * i));
	for (int i = 0; i < 8; i++)
		b[13 + i] = (uint8_t)(c->version >> (8 * i));
}

static int cursor_get(const ProtobufCBinaryData *d, struct cursor *c)
{
	uint64_t tid = 0, version = 0;
	uint32_t part = 0;
	if (d->len != CURSOR_LEN || d->data[0] > 1)
		return -1;
	for (int i = 7; i >= 0; i--)
		tid = (tid << 8) | d->data[1 + i];
	for (int i = 3; i >= 0; i--)
		part = (part << 8) | d->data[9 + i];
	for (int i = 7; i >= 0; i--)
		version = (version << 8) | d->data[13 + i];
	c->phase = d->data[0];
	c->tid = (int64_t)tid;
	c->partition = (int32_t)part;
	c->version = version;
	return 0;
}

/* Bytes one answer page may hold (estimated while it is built). */
static size_t page_bytes(struct topics *t)
{
	size_t b = t->node->cfg->max_frame / 2;
	return b > (1u << 20) ? (1u << 20) : b;
}

static size_t est_partition(const struct store_topic *tp,
			    const struct store_partition *p)
{
	return 48 + strlen(tp->name) + 5 * (p->n_replicas + p->n_isr);
}

struct fetch_page {
	struct push_ctx *x;
	size_t used, budget;
};

static int page_topic(void *arg, const struct store_topic *tp)
{
	struct fetch_page *fp = arg;
	if (push_topic(fp->x, tp, 0) != 0)
		return -1;
	fp->used += 40 + strlen(tp->name);
	return fp->used >= fp->budget ? 1 : 0;
}

static int page_partition(void *arg, const struct store_topic *tp,
			  const struct store_partition *p)
{
	struct fetch_page *fp = arg;
	if (push_add_partition(fp->x, tp, p) != 0)
		return -1;
	fp->used += est_partition(tp, p);
	return fp->used >= fp->budget ? 1 : 0;
}

/* Every registered broker into x (all_brokers), unless their states
 * would take more than half of max_frame_bytes: then none (a first page
 * holds them all plus up to a page of topics and partitions, which must
 * fit in one frame). Returns 0 or -1. */
static int fetch_brokers(struct topics *t, struct push_ctx *x)
{
	if (store_broker_list(t->store, push_registered, x) != STORE_OK ||
	    x->failed)
		return -1;
	if (x->broker_bytes > t->node->cfg->max_frame / 2) {
		uint64_t now = uv_now(t->node->loop);
		if (t->brokers_warned_ms == 0 ||
		    now - t->brokers_warned_ms >= 60000) {
			t->brokers_warned_ms = now;
			log_warn("%zu registered brokers take about %zu bytes, "
				 "above half of max_frame_bytes: fetch answers "
				 "leave them out",
				 x->n_bstates, x->broker_bytes);
		}
		x->n_bstates = 0;
		x->broker_bytes = 0;
		return 0;
	}
	x->all_brokers = 1;
	return 0;
}

/* One page of a fetch: what changed since `since`, from cursor c (NULL:
 * the first page, at version `version`). Fills x; *more and *next when
 * another page follows. Returns 0 or -1. The first page also carries
 * every registered broker; their bytes count against the page's budget,
 * so topics and partitions move to later pages (the first page holds at
 * least one row past them). */
static int fetch_page(struct topics *t, int32_t broker, uint64_t since,
		      const struct cursor *c, uint64_t version,
		      struct push_ctx *x, int *more, struct cursor *next)
{
	struct fetch_page fp = {x, 0, page_bytes(t)};
	struct cursor cur = {0, 0, -1, version};
	unsigned n;
	int rv;
	*more = 0;
	if (c) {
		cur = *c;
	} else {
		if (since > 0 &&
		    store_topics_since(t->store, since, NULL, push_deleted,
				       x) != STORE_OK)
			return -1; /* tombstones: all, on the first page */
		if (fetch_brokers(t, x) != 0)
			return -1;
		fp.used = x->broker_bytes;
	}
	if (cur.phase == 0) {
		do {
			rv = store_topics_since_page(t->store, since, &cur.tid,
						     PAGE_ROWS, &n, page_topic,
						     &fp);
			if (rv == 1) {
				*more = 1;
				*next = cur;
				return 0;
			}
			if (rv != 0)
				return -1;
		} while (n == PAGE_ROWS);
		cur.phase = 1;
		cur.tid = 0;
		cur.partition = -1;
	}
	do {
		struct store_pkey k = {cur.tid, cur.partition};
		rv = store_broker_partitions_since_page(t->store, broker, since,
							&k, PAGE_ROWS, &n,
							page_partition, &fp);
		cur.tid = k.tid;
		cur.partition = k.partition;
		if (rv == 1) {
			*more = 1;
			*next = cur;
			return 0;
		}
		if (rv != 0)
			return -1;
	} while (n == PAGE_ROWS);
	return 0;
}

static void handle_fetch(struct topics *t, struct sconn *sc,
			 const struct frame_header *h,
			 Synod__Wire__MetadataFetchRequest *req)
{
	Synod__Wire__MetadataFetchResponse r =
	    SYNOD__WIRE__METADATA_FETCH_RESPONSE__INIT;
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__TopicState **tp = NULL;
	Synod__Wire__PartitionState **pp = NULL;
	Synod__Wire__BrokerState **bp = NULL;
	struct push_ctx x;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0, since = req->since_version;
	uint64_t version = store_applied_index(t->store);
	int code = node_check_active(t->node);
	memset(&x, 0, sizeof x);
	x.t = t;
	if (code == SYNOD_OK)
		code = brokers_check(t->brokers, req->broker_id,
				     req->broker_epoch);
	struct cursor c, next;
	uint8_t next_buf[CURSOR_LEN];
	int more = 0, paged = req->has_pages && req->pages;
	int first = !req->has_cursor, restored = 0;
	if (code == SYNOD_OK && paged && req->has_cursor &&
	    (cursor_get(&req->cursor, &c) != 0 || c.version > version))
		code = SYNOD_EINVALID_REQUEST;
	/* Later pages answer at the version of the first. */
	if (code == SYNOD_OK && paged && !first)
		version = c.version;
	if (since > version) {
		/* From a history this controller does not hold (restored from
		 * an older backup?): start over, and say so on every page. */
		since = 0;
		restored = 1;
	}
	if (code == SYNOD_OK && paged) {
		if (fetch_page(t, req->broker_id, since, first ? NULL : &c,
			       version, &x, &more, &next) != 0 ||
		    x.failed)
			code = SYNOD_EUNKNOWN;
	} else if (code == SYNOD_OK &&
		   (store_topics_since(t->store, since, push_live, push_deleted,
				       &x) != STORE_OK ||
		    store_broker_partitions(t->store, req->broker_id, since,
					    fetch_partition, &x) != STORE_OK ||
		    fetch_brokers(t, &x) != 0 || x.failed))
		code = SYNOD_EUNKNOWN;
	if (code == SYNOD_OK) {
		tp = calloc(x.n_topics + 1, sizeof *tp);
		pp = calloc(x.n_states + 1, sizeof *pp);
		bp = calloc(x.n_bstates + 1, sizeof *bp);
		if (tp == NULL || pp == NULL || bp == NULL)
			code = SYNOD_EUNKNOWN;
	}
	if (code == SYNOD_OK) {
		for (size_t i = 0; i < x.n_bstates; i++)
			bp[i] = &x.bstates[i];
		for (size_t i = 0; i < x.n_topics; i++)
			tp[i] = &x.topics[i];
		for (size_t i = 0; i < x.n_states; i++) {
			size_t off = (size_t)(uintptr_t)x.states[i].replicas;
			x.states[i].replicas = x.ids + off;
			x.states[i].isr = x.ids + off + x.states[i].n_replicas;
			pp[i] = &x.states[i];
		}
		d.prev_version = since;
		d.version = version;
		d.has_full = 1;
		d.full = since == 0 && first;
		if (more) {
			cursor_put(&next, next_buf);
			r.has_next_cursor = 1;
			r.next_cursor.data = next_buf;
			r.next_cursor.len = CURSOR_LEN;
		}
		d.n_topics = x.n_topics;
		d.topics = tp;
		d.n_partitions = x.n_states;
		d.partitions = pp;
		d.n_brokers = x.n_bstates;
		d.brokers = bp;
		d.has_all_brokers = x.all_brokers;
		d.all_brokers = x.all_brokers;
		d.has_restored = restored;
		d.restored = restored;
		r.delta = &d;
		t->stats.fetches++;
		brokers_synced(t->brokers, req->broker_id, version, sc);
	}
	srv_fill_status(t->server, &st, code, NULL, &lid, leader,
			sizeof leader);
	r.status = &st;
	srv_send(sc, h, &r.base);
	free(tp);
	free(pp);
	free(bp);
	push_free(&x);
	synod__wire__metadata_fetch_request__free_unpacked(req, NULL);
}

/* ---- topic creation ---- */

static int load_replicas(void *arg, int32_t broker, uint64_t count)
{
	struct load_entry *e = load_get(arg, broker);
	if (e)
		e->replicas = (uint32_t)count;
	return e ? 0 : -1;
}

static int load_leaders(void *arg, int32_t broker, uint64_t count)
{
	struct load_entry *e = broker >= 0 ? load_get(arg, broker) : NULL;
	if (e)
		e->leaders = (uint32_t)count;
	return 0;
}

struct candidates {
	struct topics *t;
	struct pl_broker *b;
	char (*racks)[64];
	size_t n, cap;
	int failed;
};

static int add_candidate(void *arg, const struct store_broker *sb)
{
	struct candidates *c = arg;
	if (!brokers_alive(c->t->brokers, sb->id))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		void *b = realloc(c->b, cap * sizeof *c->b);
		void *r = b ? realloc(c->racks, cap * sizeof *c->racks) : NULL;
		if (b)
			c->b = b;
		if (r == NULL) {
			c->failed = 1;
			return -1;
		}
		c->racks = r;
		c->cap = cap;
	}
	snprintf(c->racks[c->n], 64, "%s", sb->has_rack ? sb->rack : "");
	memset(&c->b[c->n], 0, sizeof *c->b);
	c->b[c->n].id = sb->id;
	c->n++;
	return 0;
}

/* Alive brokers with their racks and current load. */
/* Alive brokers with their racks and current load. */
static int candidates_load(struct topics *t, struct candidates *c)
{
	memset(c, 0, sizeof *c);
	c->t = t;
	if (store_broker_list(t->store, add_candidate, c) != STORE_OK ||
	    c->failed)
		return -1;
	if (!t->load_valid) {
		load_invalidate(t);
		if (store_replica_counts(t->store, load_replicas, t) != 0 ||
		    store_leader_counts(t->store, load_leaders, t) != 0) {
			load_invalidate(t);
			return -1;
		}
		t->load_valid = 1;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct load_entry *e = load_get(t, c->b[i].id);
		c->b[i].rack = c->racks[i];
		if (e) {
			c->b[i].replicas = e->replicas;
			c->b[i].leaders = e->leaders;
		}
	}
	return 0;
}

/* Placement added to c's counts: keep them. */
static void candidates_keep(struct topics *t, struct candidates *c)
{
	for (size_t i = 0; t->load_valid && i < c->n; i++) {
		struct load_entry *e = load_get(t, c->b[i].id);
		if (e) {
			e->replicas = c->b[i].replicas;
			e->leaders = c->b[i].leaders;
		}
	}
}

static void candidates_free(struct candidates *c)
{
	free(c->b);
	free(c->racks);
}

static int pending_name(struct topics *t, const char *name)
{
	for (size_t i = 0; i < t->n_pending; i++)
		if (strcmp(t->pending_names[i], name) == 0)
			return 1;
	return 0;
}

static void pending_remove(struct topics *t, const char *name)
{
	for (size_t i = 0; i < t->n_pending; i++)
		if (strcmp(t->pending_names[i], name) == 0) {
			free(t->pending_names[i]);
			t->pending_names[i] = t->pending_names[--t->n_pending];
			return;
		}
}

static int pending_add(struct topics *t, const char *name)
{
	char *d;
	if (t->n_pending == t->cap_pending) {
		size_t cap = t->cap_pending ? t->cap_pending * 2 : 16;
		void *p =
		    realloc(t->pending_names, cap * sizeof *t->pending_names);
		if (p == NULL)
			return -1;
		t->pending_names = p;
		t->cap_pending = cap;
	}
	if ((d = strdup(name)) == NULL)
		return -1;
	t->pending_names[t->n_pending++] = d;
	return 0;
}

static uint32_t cluster_default(struct topics *t, const char *key)
{
	char *v = NULL;
	uint32_t x;
	if (store_config_get(t->store, SYNOD_SCOPE_CLUSTER, NULL, key, &v) !=
	    STORE_OK)
		v = strdup(configdef_find(key)->default_value);
	x = v ? (uint32_t)strtoul(v, NULL, 10) : 1;
	free(v);
	return x;
}

/* Result of one topic of a CREATE_TOPICS request. */
struct ct_item {
	int code;
	char msg[160];
	uint8_t topic_id[16];
	unsigned first_rec; /* index of its CreateTopic record, or -1u */
	char name[256];
};

static int check_assignment(struct topics *t,
			    const Synod__Wire__CreatableTopic *ct, char *msg,
			    size_t size)
{
	uint32_t rf = 0;
	for (size_t i = 0; i < ct->n_assignments; i++) {
		const Synod__Wire__ReplicaAssignment *a = ct->assignments[i];
		struct store_broker sb;
		if (a->partition != (int32_t)i) {
			snprintf(msg, size,
				 "assignments must cover partitions 0..%zu in "
				 "order",
				 ct->n_assignments - 1);
			return SYNOD_EINVALID_PARTITIONS;
		}
		if (i == 0)
			rf = (uint32_t)a->n_replicas;
		if (a->n_replicas == 0 || a->n_replicas != rf ||
		    a->n_replicas > EL_MAX_REPLICAS) {
			snprintf(msg, size,
				 "every partition needs the same number "
				 "(1-%d) of replicas",
				 EL_MAX_REPLICAS);
			return SYNOD_EINVALID_REPLICATION_FACTOR;
		}
		for (size_t k = 0; k < a->n_replicas; k++) {
			for (size_t j = 0; j < k; j++)
				if (a->replicas[j] == a->replicas[k]) {
					snprintf(msg, size,
						 "partition %zu lists broker "
						 "%d twice",
						 i, a->replicas[k]);
					return SYNOD_EINVALID_ARGUMENT;
				}
			if (store_broker_get(t->store, a->replicas[k], &sb) !=
			    STORE_OK) {
				snprintf(msg, size,
					 "broker %d is not registered",
					 a->replicas[k]);
				return SYNOD_EINVALID_ARGUMENT;
			}
		}
	}
	return SYNOD_OK;
}

/* The initial state: leader the first alive replica, ISR the replicas. */
static void initial_state(struct topics *t, const int32_t *replicas,
			  uint32_t rf, int32_t partition,
			  struct store_partition *p)
{
	memset(p, 0, sizeof *p);
	p->partition = partition;
	p->n_replicas = rf;
	memcpy(p->replicas, replicas, rf * sizeof(int32_t));
	p->leader = EL_NO_LEADER;
	for (uint32_t k = 0; k < rf; k++) {
		if (brokers_alive(t->brokers, replicas[k]) &&
		    p->leader == EL_NO_LEADER)
			p->leader = replicas[k];
		p->isr[p->n_isr++] = replicas[k];
	}
}

static Synod__Rec__PartitionRecord **
partitions_records(struct topics *t, struct recbuf *rb, const int32_t *assign,
		   uint32_t first, uint32_t n, uint32_t rf)
{
	Synod__Rec__PartitionRecord **prs =
	    recbuf_alloc(rb, sizeof *prs * (n ? n : 1));
	if (prs == NULL)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		struct store_partition p;
		initial_state(t, assign + (size_t)i * rf, rf,
			      (int32_t)(first + i), &p);
		if ((prs[i] = rec_partition(rb, &p)) == NULL)
			return NULL;
	}
	return prs;
}

static void create_done(struct node *n, struct waiter *w, int rc,
			const int *statuses)
{
	struct top *o = w->data;
	struct topics *t = o->t;
	struct ct_item *items = o->items;
	Synod__Wire__CreateTopicsResponse r =
	    SYNOD__WIRE__CREATE_TOPICS_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__TopicResult *res = calloc(o->n_items + 1, sizeof *res);
	Synod__Wire__TopicResult **rp = calloc(o->n_items + 1, sizeof *rp);
	Synod__Wire__Status *sts = calloc(o->n_items + 1, sizeof *sts);
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	for (unsigned i = 0; i < o->n_items; i++) {
		struct ct_item *it = &items[i];
		pending_remove(t, it->name);
		if (it->code == SYNOD_OK && it->first_rec != -1u) {
			if (rc != SYNOD_OK)
				it->code = rc;
			else if (statuses &&
				 statuses[it->first_rec] == STORE_R_STALE)
				it->code = SYNOD_ETOPIC_ALREADY_EXISTS;
			else if (statuses &&
				 statuses[it->first_rec] == STORE_R_REFUSED) {
				/* A chosen leader left meanwhile. */
				it->code = SYNOD_EBUSY;
				snprintf(it->msg, sizeof it->msg,
					 "a chosen leader left while the "
					 "topic was created: retry");
			} else if (statuses &&
				   statuses[it->first_rec] != STORE_R_OK)
				it->code = SYNOD_EUNKNOWN;
			else
				t->stats.topics_created++;
		}
	}
	if (res && rp && sts) {
		for (unsigned i = 0; i < o->n_items; i++) {
			synod__wire__topic_result__init(&res[i]);
			synod__wire__status__init(&sts[i]);
			sts[i].code = items[i].code;
			sts[i].message =
			    items[i].msg[0]
				? items[i].msg
				: (char *)synod_strerror(items[i].code);
			res[i].name = items[i].name;
			res[i].status = &sts[i];
			if (items[i].code == SYNOD_OK) {
				res[i].has_topic_id = 1;
				res[i].topic_id.data = items[i].topic_id;
				res[i].topic_id.len = 16;
			}
			rp[i] = &res[i];
		}
		r.n_results = o->n_items;
		r.results = rp;
	}
	/* Leadership lost with the entry in flight: say so at the top, so
	 * clients retry on the new controller (a retry may then find the
	 * topic created: TOPIC_ALREADY_EXISTS). */
	srv_fill_status(t->server, &st,
			rc == SYNOD_ENOT_CONTROLLER ||
				rc == SYNOD_ESHUTTING_DOWN ||
				!(res && rp && sts)
			    ? rc
			    : SYNOD_OK,
			NULL, &lid, leader, sizeof leader);
	r.status = &st;
	r.has_metadata_version = 1;
	r.metadata_version = store_applied_index(n->fsm.store);
	if (o->p)
		srv_send(o->p->sc, &o->p->h, &r.base);
	free(res);
	free(rp);
	free(sts);
	if (o->p)
		srv_pending_free(o->p);
	top_free(o);
}

/* Refuse, in linear time and before any placement or record is built, a
 * request that would create more than max.partitions.per.request
 * partitions: each request commits as one raft entry, which every node
 * applies in one loop turn. Returns -1 when it answered. */
static int check_create_size(struct topics *t, struct sconn *sc,
			     const struct frame_header *h,
			     Synod__Wire__CreateTopicsRequest *req)
{
	uint64_t cap = cluster_default(t, "max.partitions.per.request");
	uint64_t dflt = cluster_default(t, "num.partitions"), total = 0;
	char msg[200];
	for (size_t i = 0; i < req->n_topics; i++) {
		const Synod__Wire__CreatableTopic *ct = req->topics[i];
		total += ct->n_assignments    ? ct->n_assignments
			 : ct->has_partitions ? ct->partitions
					      : dflt;
	}
	if (total <= cap && req->n_topics <= cap)
		return 0;
	snprintf(msg, sizeof msg,
		 "the request creates %llu partitions in %zu topics: at most "
		 "%llu in one request (max.partitions.per.request)",
		 (unsigned long long)total, req->n_topics,
		 (unsigned long long)cap);
	srv_reply_status(sc, h, SYNOD_EINVALID_PARTITIONS, msg);
	synod__wire__create_topics_request__free_unpacked(req, NULL);
	return -1;
}

/* Partitions a CreateTopics request would create. */
static uint64_t create_weight(struct topics *t,
			      const Synod__Wire__CreateTopicsRequest *req)
{
	uint64_t dflt = cluster_default(t, "num.partitions"), total = 0;
	for (size_t i = 0; i < req->n_topics; i++) {
		const Synod__Wire__CreatableTopic *ct = req->topics[i];
		total += ct->n_assignments    ? ct->n_assignments
			 : ct->has_partitions ? ct->partitions
					      : dflt;
	}
	return total;
}

/* Which topics repeat an earlier name in the request (NULL: no memory). */
static unsigned char *create_duplicates(Synod__Wire__CreateTopicsRequest *req)
{
	const char **names = malloc((req->n_topics + 1) * sizeof *names);
	unsigned char *dup = calloc(req->n_topics + 1, 1);
	if (names && dup) {
		for (size_t i = 0; i < req->n_topics; i++)
			names[i] = req->topics[i]->name;
		if (names_duplicates(names, req->n_topics, dup) < 0) {
			free(dup);
			dup = NULL;
		}
	} else {
		free(dup);
		dup = NULL;
	}
	free(names);
	return dup;
}

static void handle_create(struct topics *t, struct sconn *sc,
			  const struct frame_header *h,
			  Synod__Wire__CreateTopicsRequest *req)
{
	struct recbuf rb;
	struct candidates cand;
	struct ct_item *items;
	struct pending *p;
	struct top *o;
	unsigned char *dup;
	int rv = node_check_active(t->node);
	uint32_t seed = 0;
	if (rv != SYNOD_OK || req->n_topics == 0) {
		srv_reply_status(sc, h,
				 rv != SYNOD_OK ? rv : SYNOD_EINVALID_ARGUMENT,
				 rv != SYNOD_OK ? NULL : "no topics");
		synod__wire__create_topics_request__free_unpacked(req, NULL);
		return;
	}
	if (check_create_size(t, sc, h, req) != 0)
		return;
	/* Wait for earlier proposals to apply when this one would take the
	 * partition records in flight past APPLY_WEIGHT_MAX. */
	{
		uint64_t w = create_weight(t, req);
		if (!t->resuming &&
		    (t->park_head ||
		     (t->weight > 0 && t->weight + w > APPLY_WEIGHT_MAX))) {
			struct parked *k = t->n_parked < MAX_PARKED
					       ? calloc(1, sizeof *k)
					       : NULL;
			struct pending *p2 =
			    k ? srv_pending_new(sc, h, req, NULL, NULL) : NULL;
			if (p2 == NULL) {
				free(k);
				srv_reply_status(sc, h, SYNOD_EBUSY,
						 "too many creations waiting");
				synod__wire__create_topics_request__free_unpacked(
				    req, NULL);
				return;
			}
			k->p = p2;
			k->weight = w;
			if (t->park_tail)
				t->park_tail->next = k;
			else
				t->park_head = k;
			t->park_tail = k;
			t->n_parked++;
			jobs_kick(t);
			return;
		}
	}
	items = calloc(req->n_topics, sizeof *items);
	dup = items ? create_duplicates(req) : NULL;
	if (dup == NULL || candidates_load(t, &cand) != 0) {
		free(dup);
		free(items);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		synod__wire__create_topics_request__free_unpacked(req, NULL);
		return;
	}
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = (uint32_t)uv_now(t->node->loop);
	recbuf_init(&rb);
	for (size_t i = 0; i < req->n_topics; i++) {
		const Synod__Wire__CreatableTopic *ct = req->topics[i];
		struct ct_item *it = &items[i];
		struct store_topic existing;
		uint32_t np, rf;
		int32_t *assign = NULL;
		it->first_rec = -1u;
		snprintf(it->name, sizeof it->name, "%s", ct->name);
		if (!topic_name_valid(ct->name)) {
			it->code = SYNOD_EINVALID_TOPIC;
			snprintf(it->msg, sizeof it->msg,
				 "topic names are 1-249 of [a-zA-Z0-9._-], "
				 "not '.' or '..'");
			continue;
		}
		if (store_topic_get(t->store, ct->name, &existing) ==
			STORE_OK ||
		    pending_name(t, ct->name)) {
			it->code = SYNOD_ETOPIC_ALREADY_EXISTS;
			continue;
		}
		if (dup[i])
			it->code = SYNOD_EINVALID_ARGUMENT;
		if (it->code) {
			snprintf(it->msg, sizeof it->msg,
				 "topic listed twice in the request");
			continue;
		}
		for (size_t k = 0; k < ct->n_configs; k++)
			if (configdef_validate(SYNOD_SCOPE_TOPIC,
					       ct->configs[k]->key,
					       ct->configs[k]->value, it->msg,
					       sizeof it->msg) != 0)
				it->code = SYNOD_EINVALID_CONFIG;
		if (it->code)
			continue;
		if (ct->n_assignments > 0) {
			if (ct->has_partitions || ct->has_replication_factor) {
				it->code = SYNOD_EINVALID_ARGUMENT;
				snprintf(it->msg, sizeof it->msg,
					 "give assignments or partitions and "
					 "replication factor, not both");
				continue;
			}
			it->code =
			    check_assignment(t, ct, it->msg, sizeof it->msg);
			if (it->code)
				continue;
			np = (uint32_t)ct->n_assignments;
			rf = (uint32_t)ct->assignments[0]->n_replicas;
			assign = malloc((size_t)np * rf * sizeof *assign);
			for (uint32_t k = 0; assign && k < np; k++)
				memcpy(assign + (size_t)k * rf,
				       ct->assignments[k]->replicas,
				       rf * sizeof *assign);
		} else {
			np = ct->has_partitions
				 ? ct->partitions
				 : cluster_default(t, "num.partitions");
			rf = ct->has_replication_factor
				 ? ct->replication_factor
				 : cluster_default(
				       t, "default.replication.factor");
			if (np == 0 || np > MAX_PARTITIONS_PER_TOPIC) {
				it->code = SYNOD_EINVALID_PARTITIONS;
				snprintf(it->msg, sizeof it->msg,
					 "partitions must be 1-%u",
					 MAX_PARTITIONS_PER_TOPIC);
				continue;
			}
			if (rf == 0 || rf > cand.n || rf > EL_MAX_REPLICAS) {
				it->code = SYNOD_EINVALID_REPLICATION_FACTOR;
				snprintf(it->msg, sizeof it->msg,
					 "replication factor %u with %zu "
					 "unfenced brokers",
					 rf, cand.n);
				continue;
			}
			assign = malloc((size_t)np * rf * sizeof *assign);
			if (assign &&
			    placement_assign(cand.b, cand.n, np, rf, seed + i,
					     assign) != PL_OK) {
				free(assign);
				assign = NULL;
			}
		}
		if (assign == NULL) {
			it->code = SYNOD_EUNKNOWN;
			snprintf(it->msg, sizeof it->msg, "placement failed");
			continue;
		}
		if (getrandom(it->topic_id, 16, 0) != 16) {
			for (int k = 0; k < 16; k++)
				it->topic_id[k] = (uint8_t)rand();
		}
		it->topic_id[6] = (it->topic_id[6] & 0x0f) | 0x40;
		it->topic_id[8] = (it->topic_id[8] & 0x3f) | 0x80;
		if (!req->validate_only) {
			Synod__Rec__Record *r = recbuf_add(&rb);
			Synod__Rec__CreateTopic *c =
			    recbuf_alloc(&rb, sizeof *c);
			if (r && c) {
				it->first_rec = rb.n - 1;
				synod__rec__create_topic__init(c);
				c->name = (char *)ct->name;
				c->topic_id.data = it->topic_id;
				c->topic_id.len = 16;
				c->n_partitions = np;
				c->partitions = partitions_records(
				    t, &rb, assign, 0, np, rf);
				r->body_case =
				    SYNOD__REC__RECORD__BODY_CREATE_TOPIC;
				r->create_topic = c;
				t->stats.partitions_created += np;
			}
			for (size_t k = 0; k < ct->n_configs; k++) {
				Synod__Rec__Record *cr = recbuf_add(&rb);
				Synod__Rec__SetConfig *sc2 =
				    recbuf_alloc(&rb, sizeof *sc2);
				if (cr == NULL || sc2 == NULL)
					break;
				synod__rec__set_config__init(sc2);
				sc2->scope = SYNOD_SCOPE_TOPIC;
				sc2->resource = (char *)ct->name;
				sc2->key = ct->configs[k]->key;
				sc2->value = ct->configs[k]->value;
				cr->body_case =
				    SYNOD__REC__RECORD__BODY_SET_CONFIG;
				cr->set_config = sc2;
			}
			pending_add(t, ct->name);
		}
		free(assign);
	}
	if (!req->validate_only)
		candidates_keep(t, &cand);
	candidates_free(&cand);
	free(dup);
	p = srv_pending_new(sc, h, req, NULL, NULL);
	o = p ? top_new(t, p, create_done) : NULL;
	if (o == NULL || rb.failed) {
		for (size_t i = 0; i < req->n_topics; i++)
			pending_remove(t, items[i].name);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (o)
			top_free(o);
		if (p)
			srv_pending_free(p);
		else
			synod__wire__create_topics_request__free_unpacked(req,
									  NULL);
		free(items);
		recbuf_free(&rb);
		return;
	}
	o->items = items;
	o->n_items = (unsigned)req->n_topics;
	if (rb.n == 0) {
		/* validate_only, or nothing valid: answer now. */
		create_done(t->node, &o->w, SYNOD_OK, NULL);
		recbuf_free(&rb);
		return;
	}
	rv = node_propose(t->node, (const Synod__Rec__Record *const *)rb.recs,
			  rb.n, &o->w);
	recbuf_free(&rb);
	if (rv != SYNOD_OK)
		create_done(t->node, &o->w, rv, NULL);
	else
		weigh(t, o, create_weight(t, req));
}

/* ---- deletion and growth ---- */

static void simple_done(struct node *n, struct waiter *w, int rc,
			const int *statuses)
{
	struct top *o = w->data;
	struct topics *t = o->t;
	int code = rc;
	(void)n;
	if (code == SYNOD_OK && statuses && o->n_items > 0) {
		for (unsigned i = 0; i < o->n_items; i++)
			if (statuses[i] == STORE_R_NOT_FOUND)
				code = SYNOD_EUNKNOWN_TOPIC;
			else if (statuses[i] == STORE_R_STALE)
				code = SYNOD_EINVALID_UPDATE_VERSION;
			else if (statuses[i] == STORE_R_REFUSED)
				code = SYNOD_EBUSY;
			else if (statuses[i] != STORE_R_OK)
				code = SYNOD_EUNKNOWN;
	}
	failed_proposal(t, o, rc);
	if (o->p) {
		srv_reply_status(o->p->sc, &o->p->h, code,
				 code == SYNOD_OK ? "done" : NULL);
		srv_pending_free(o->p);
	}
	top_free(o);
}

static void propose_for(struct topics *t, struct sconn *sc,
			const struct frame_header *h, void *req,
			struct recbuf *rb, uint64_t weight)
{
	struct pending *p = srv_pending_new(sc, h, req, NULL, NULL);
	struct top *o = p ? top_new(t, p, simple_done) : NULL;
	int rv;
	if (o == NULL || rb->failed) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (o)
			top_free(o);
		if (p)
			srv_pending_free(p);
		else
			protobuf_c_message_free_unpacked(req, NULL);
		return;
	}
	o->n_items = rb->n;
	rv = node_propose(t->node, (const Synod__Rec__Record *const *)rb->recs,
			  rb->n, &o->w);
	if (rv != SYNOD_OK)
		simple_done(t->node, &o->w, rv, NULL);
	else
		weigh(t, o, weight);
}

static void handle_delete(struct topics *t, struct sconn *sc,
			  const struct frame_header *h,
			  Synod__Wire__DeleteTopicsRequest *req)
{
	struct recbuf rb;
	int rv = node_check_active(t->node);
	uint64_t weight = 0, cap;
	char msg[300];
	if (rv != SYNOD_OK || req->n_names == 0) {
		srv_reply_status(sc, h, rv ? rv : SYNOD_EINVALID_ARGUMENT,
				 rv ? NULL : "no topics");
		synod__wire__delete_topics_request__free_unpacked(req, NULL);
		return;
	}
	if (req->n_names > MAX_NAMES_PER_REQUEST) {
		snprintf(msg, sizeof msg,
			 "%zu topics named: at most %u in one request",
			 req->n_names, MAX_NAMES_PER_REQUEST);
		srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT, msg);
		synod__wire__delete_topics_request__free_unpacked(req, NULL);
		return;
	}
	{
		unsigned char *dup = calloc(req->n_names, 1);
		long n_dup =
		    dup ? names_duplicates((const char *const *)req->names,
					   req->n_names, dup)
			: -1;
		for (size_t i = 0; n_dup > 0 && i < req->n_names; i++)
			if (dup[i]) {
				snprintf(msg, sizeof msg,
					 "topic %s listed twice",
					 req->names[i]);
				break;
			}
		free(dup);
		if (n_dup != 0) {
			srv_reply_status(sc, h,
					 n_dup < 0 ? SYNOD_EUNKNOWN
						   : SYNOD_EINVALID_ARGUMENT,
					 n_dup < 0 ? "out of memory" : msg);
			synod__wire__delete_topics_request__free_unpacked(req,
									  NULL);
			return;
		}
	}
	cap = cluster_default(t, "max.partitions.per.request");
	recbuf_init(&rb);
	for (size_t i = 0; i < req->n_names; i++) {
		struct store_topic tp;
		Synod__Rec__Record *r;
		Synod__Rec__RemoveTopic *rt;
		uint8_t *id;
		if (store_topic_get(t->store, req->names[i], &tp) != STORE_OK) {
			snprintf(msg, sizeof msg, "no topic %s", req->names[i]);
			srv_reply_status(sc, h, SYNOD_EUNKNOWN_TOPIC, msg);
			recbuf_free(&rb);
			synod__wire__delete_topics_request__free_unpacked(req,
									  NULL);
			return;
		}
		if (i > 0 && weight + tp.n_partitions > cap) {
			/* One entry removes them all: keep it applicable in
			 * one short loop turn (a single topic always goes). */
			snprintf(msg, sizeof msg,
				 "the topics named have more than %llu "
				 "partitions together (max.partitions.per."
				 "request): delete fewer per request",
				 (unsigned long long)cap);
			srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT, msg);
			recbuf_free(&rb);
			synod__wire__delete_topics_request__free_unpacked(req,
									  NULL);
			return;
		}
		weight += tp.n_partitions;
		r = recbuf_add(&rb);
		rt = recbuf_alloc(&rb, sizeof *rt);
		id = recbuf_alloc(&rb, 16);
		if (r == NULL || rt == NULL || id == NULL)
			break;
		synod__rec__remove_topic__init(rt);
		memcpy(id, tp.topic_id, 16);
		rt->topic_id.data = id;
		rt->topic_id.len = 16;
		r->body_case = SYNOD__REC__RECORD__BODY_REMOVE_TOPIC;
		r->remove_topic = rt;
	}
	propose_for(t, sc, h, req, &rb, weight);
	recbuf_free(&rb);
}

static void handle_grow(struct topics *t, struct sconn *sc,
			const struct frame_header *h,
			Synod__Wire__CreatePartitionsRequest *req)
{
	struct store_topic tp;
	struct store_partition p0;
	struct candidates cand;
	struct recbuf rb;
	int32_t *assign = NULL;
	uint32_t rf, add;
	char msg[200];
	int rv = node_check_active(t->node);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		goto free_req;
	}
	if (store_topic_get(t->store, req->name, &tp) != STORE_OK) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN_TOPIC, NULL);
		goto free_req;
	}
	if (req->total <= tp.n_partitions ||
	    req->total > MAX_PARTITIONS_PER_TOPIC) {
		snprintf(msg, sizeof msg,
			 "topic %s has %u partitions: the new total must be "
			 "larger (at most %u)",
			 tp.name, tp.n_partitions, MAX_PARTITIONS_PER_TOPIC);
		srv_reply_status(sc, h, SYNOD_EINVALID_PARTITIONS, msg);
		goto free_req;
	}
	if (current(t, tp.tid, 0, &p0) != STORE_OK ||
	    candidates_load(t, &cand) != 0) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, NULL);
		goto free_req;
	}
	rf = p0.n_replicas;
	add = req->total - tp.n_partitions;
	if (add > cluster_default(t, "max.partitions.per.request")) {
		snprintf(msg, sizeof msg,
			 "%u new partitions: at most %u in one request "
			 "(max.partitions.per.request); grow in steps",
			 add, cluster_default(t, "max.partitions.per.request"));
		candidates_free(&cand);
		srv_reply_status(sc, h, SYNOD_EINVALID_PARTITIONS, msg);
		goto free_req;
	}
	if (rf > cand.n) {
		snprintf(msg, sizeof msg,
			 "replication factor %u with %zu unfenced brokers", rf,
			 cand.n);
		candidates_free(&cand);
		srv_reply_status(sc, h, SYNOD_EINVALID_REPLICATION_FACTOR, msg);
		goto free_req;
	}
	assign = malloc((size_t)add * rf * sizeof *assign);
	if (assign == NULL ||
	    placement_assign(cand.b, cand.n, add, rf, (uint32_t)tp.tid,
			     assign) != PL_OK) {
		free(assign);
		candidates_free(&cand);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "placement failed");
		goto free_req;
	}
	if (!req->validate_only)
		candidates_keep(t, &cand);
	candidates_free(&cand);
	if (req->validate_only) {
		free(assign);
		srv_reply_status(sc, h, SYNOD_OK, "valid");
		goto free_req;
	}
	recbuf_init(&rb);
	{
		Synod__Rec__Record *r = recbuf_add(&rb);
		Synod__Rec__CreatePartitions *c = recbuf_alloc(&rb, sizeof *c);
		uint8_t *id = recbuf_alloc(&rb, 16);
		if (r && c && id) {
			synod__rec__create_partitions__init(c);
			memcpy(id, tp.topic_id, 16);
			c->topic_id.data = id;
			c->topic_id.len = 16;
			c->n_partitions = add;
			c->partitions = partitions_records(
			    t, &rb, assign, tp.n_partitions, add, rf);
			r->body_case =
			    SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS;
			r->create_partitions = c;
			t->stats.partitions_created += add;
		}
	}
	free(assign);
	propose_for(t, sc, h, req, &rb, add);
	recbuf_free(&rb);
	return;
free_req:
	synod__wire__create_partitions_request__free_unpacked(req, NULL);
}

/* ---- describe ---- */

struct desc_ctx {
	struct topics *t;
	Synod__Wire__DescribeTopicsRequest *req;
	Synod__Wire__TopicDescription *descs;
	size_t n, cap;
	struct push_ctx parts; /* partition states of all topics */
	size_t *first_part;    /* per topic: first index in parts.states */
	size_t *n_part;
	Synod__Wire__ConfigEntry **cfg_entries;
	size_t *n_cfg;
	int failed;
	/* pages: bytes used of budget (SIZE_MAX: no pages); where the topic
	 * being described starts (partition after which) and, when the
	 * budget ran out, the last partition included */
	size_t used, budget;
	int64_t cur_tid;
	int32_t after_part, stop_part;
};

static int desc_partition(void *arg, const struct store_topic *t,
			  const struct store_partition *p)
{
	struct desc_ctx *x = arg;
	if (t->tid != x->cur_tid)
		return 2; /* the next topic: this one is done */
	if (x->req->only_offline && p->leader != EL_NO_LEADER)
		return 0;
	if (x->req->only_under_replicated && p->n_isr >= p->n_replicas)
		return 0;
	if (push_add_partition(&x->parts, t, p) != 0)
		return -1;
	x->n_part[x->n - 1]++;
	x->used += est_partition(t, p);
	if (x->used >= x->budget) {
		x->stop_part = p->partition;
		return 1;
	}
	return 0;
}

static int desc_config(void *arg, unsigned scope, const char *resource,
		       const char *key, const char *value)
{
	struct desc_ctx *x = arg;
	size_t ti = x->n - 1;
	Synod__Wire__ConfigEntry *e;
	(void)scope;
	(void)resource;
	x->cfg_entries[ti] =
	    grow(x->cfg_entries[ti], &(size_t){x->n_cfg[ti]}, x->n_cfg[ti] + 1,
		 sizeof *x->cfg_entries[ti], &x->failed);
	if (x->failed)
		return -1;
	e = &x->cfg_entries[ti][x->n_cfg[ti]++];
	synod__wire__config_entry__init(e);
	e->scope = SYNOD_SCOPE_TOPIC;
	e->key = keep_str(&x->parts, key);
	e->value = keep_str(&x->parts, value);
	return e->key && e->value ? 0 : -1;
}

static int desc_topic(void *arg, const struct store_topic *t)
{
	struct desc_ctx *x = arg;
	Synod__Wire__TopicDescription *d;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		void *a = realloc(x->descs, cap * sizeof *x->descs);
		void *b =
		    a ? realloc(x->first_part, cap * sizeof(size_t)) : NULL;
		void *c = b ? realloc(x->n_part, cap * sizeof(size_t)) : NULL;
		void *e =
		    c ? realloc(x->cfg_entries, cap * sizeof *x->cfg_entries)
		      : NULL;
		void *f = e ? realloc(x->n_cfg, cap * sizeof(size_t)) : NULL;
		if (a)
			x->descs = a;
		if (b)
			x->first_part = b;
		if (c)
			x->n_part = c;
		if (e)
			x->cfg_entries = e;
		if (f == NULL)
			return -1;
		x->n_cfg = f;
		x->cap = cap;
	}
	d = &x->descs[x->n];
	synod__wire__topic_description__init(d);
	d->name = keep_str(&x->parts, t->name);
	d->topic_id.data = (uint8_t *)keep_str(&x->parts, "0123456789abcdef");
	if (d->name == NULL || d->topic_id.data == NULL)
		return -1;
	memcpy(d->topic_id.data, t->topic_id, 16);
	d->topic_id.len = 16;
	d->partition_count = t->n_partitions;
	x->first_part[x->n] = x->parts.n_states;
	x->n_part[x->n] = 0;
	x->cfg_entries[x->n] = NULL;
	x->n_cfg[x->n] = 0;
	x->n++;
	if (store_config_list(x->t->store, SYNOD_SCOPE_TOPIC, t->name,
			      desc_config, x) != 0)
		return -1;
	x->used += 64 + strlen(t->name);
	if (x->req->no_partitions)
		return 0;
	/* The topic's partitions after after_part, page by page; 1 when the
	 * budget ran out at stop_part. */
	x->cur_tid = t->tid;
	for (struct store_pkey k = {t->tid, x->after_part};;) {
		unsigned n;
		int rv = store_partitions_page(x->t->store, &k, PAGE_ROWS, &n,
					       desc_partition, x);
		if (rv == 1)
			return 1;
		if (rv == 2 || (rv == 0 && n < PAGE_ROWS))
			return 0;
		if (rv != 0)
			return -1;
	}
}

struct all_ctx {
	struct desc_ctx *x;
	int more, failed;
	struct cursor *next;
};

static int desc_all_topic(void *arg, const struct store_topic *tp)
{
	struct all_ctx *a = arg;
	int rv;
	if (a->x->used >= a->x->budget && a->x->n > 0) {
		a->more = 1;
		a->next->tid = tp->tid;
		a->next->partition = -1;
		return 1;
	}
	rv = desc_topic(a->x, tp);
	a->x->after_part = -1;
	if (rv == 1) {
		a->more = 1;
		a->next->tid = tp->tid;
		a->next->partition = a->x->stop_part;
		return 1;
	}
	if (rv != 0)
		a->failed = 1;
	return rv;
}

/* Every topic, in topic number order, from cursor c (NULL: the start). */
static int describe_all(struct topics *t, struct desc_ctx *x,
			const struct cursor *c, int *more, struct cursor *next)
{
	struct all_ctx a = {x, 0, 0, next};
	int64_t after = 0;
	unsigned n;
	if (c) {
		struct store_topic tp;
		/* The topic the last page stopped in (gone meanwhile: go on
		 * after it). */
		if (store_topic_get_by_tid(t->store, c->tid, &tp) == STORE_OK &&
		    desc_all_topic(&a, &tp) != 0) {
			*more = a.more;
			return a.failed ? SYNOD_EUNKNOWN : SYNOD_OK;
		}
		after = c->tid;
	}
	do {
		int rv = store_topics_since_page(t->store, 0, &after, PAGE_ROWS,
						 &n, desc_all_topic, &a);
		if (a.failed || (rv != 0 && rv != 1))
			return SYNOD_EUNKNOWN;
		if (rv == 1)
			break;
	} while (n == PAGE_ROWS);
	*more = a.more;
	return SYNOD_OK;
}

static void describe_done(struct node *n, struct waiter *w, int rc,
			  const int *statuses)
{
	struct top *o = w->data;
	struct topics *t = o->t;
	Synod__Wire__DescribeTopicsRequest *req = o->p->msg;
	Synod__Wire__DescribeTopicsResponse r =
	    SYNOD__WIRE__DESCRIBE_TOPICS_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	struct desc_ctx x;
	Synod__Wire__TopicDescription **dp = NULL;
	Synod__Wire__PartitionState **pp = NULL;
	Synod__Wire__ConfigEntry **cp = NULL;
	size_t n_cfg_total = 0;
	char leader[SYNOD_ADDR_MAX], msg[300] = "";
	uint64_t lid = 0;
	struct cursor c = {0, 0, -1, 0}, next = {0, 0, -1, 0};
	uint8_t next_buf[CURSOR_LEN];
	int more = 0;
	(void)statuses;
	memset(&x, 0, sizeof x);
	x.t = t;
	x.req = req;
	x.parts.t = t;
	x.budget = req->has_pages && req->pages ? page_bytes(t) : SIZE_MAX;
	x.after_part = -1;
	if (rc == SYNOD_OK && req->has_cursor) {
		if (cursor_get(&req->cursor, &c) != 0 ||
		    (req->n_names > 0 && (uint64_t)c.tid >= req->n_names))
			rc = SYNOD_EINVALID_REQUEST;
		else
			x.after_part = c.partition;
	}
	if (rc == SYNOD_OK) {
		if (req->n_names == 0 && x.budget == SIZE_MAX) {
			/* Unpaged (older clients): by name, all at once. */
			if (store_topic_list(n->fsm.store, desc_topic, &x) != 0)
				rc = SYNOD_EUNKNOWN;
		} else if (req->n_names == 0) {
			rc = describe_all(t, &x, req->has_cursor ? &c : NULL,
					  &more, &next);
		} else {
			size_t i = req->has_cursor ? (size_t)c.tid : 0;
			for (; i < req->n_names && rc == SYNOD_OK && !more;
			     i++) {
				struct store_topic tp;
				int drv;
				if (store_topic_get(n->fsm.store, req->names[i],
						    &tp) != STORE_OK) {
					rc = SYNOD_EUNKNOWN_TOPIC;
					snprintf(msg, sizeof msg, "no topic %s",
						 req->names[i]);
					break;
				}
				if (x.used >= x.budget && x.n > 0) {
					more = 1; /* this topic on the next */
					next.tid = (int64_t)i;
					next.partition = -1;
					break;
				}
				drv = desc_topic(&x, &tp);
				x.after_part = -1;
				if (drv == 1) {
					more = 1;
					next.tid = (int64_t)i;
					next.partition = x.stop_part;
				} else if (drv != 0) {
					rc = SYNOD_EUNKNOWN;
				}
			}
		}
	}
	if (rc == SYNOD_OK && (x.parts.failed || x.failed))
		rc = SYNOD_EUNKNOWN;
	if (rc == SYNOD_OK) {
		for (size_t i = 0; i < x.n; i++)
			n_cfg_total += x.n_cfg[i];
		dp = calloc(x.n + 1, sizeof *dp);
		pp = calloc(x.parts.n_states + 1, sizeof *pp);
		cp = calloc(n_cfg_total + 1, sizeof *cp);
		if (dp == NULL || pp == NULL || cp == NULL)
			rc = SYNOD_EUNKNOWN;
	}
	if (rc == SYNOD_OK) {
		size_t ci = 0;
		for (size_t i = 0; i < x.parts.n_states; i++) {
			Synod__Wire__PartitionState *ps = &x.parts.states[i];
			size_t off = (size_t)(uintptr_t)ps->replicas;
			ps->replicas = x.parts.ids + off;
			ps->isr = x.parts.ids + off + ps->n_replicas;
			pp[i] = ps;
		}
		for (size_t i = 0; i < x.n; i++) {
			x.descs[i].n_partitions = x.n_part[i];
			x.descs[i].partitions = pp + x.first_part[i];
			x.descs[i].n_configs = x.n_cfg[i];
			x.descs[i].configs = cp + ci;
			for (size_t k = 0; k < x.n_cfg[i]; k++)
				cp[ci++] = &x.cfg_entries[i][k];
			dp[i] = &x.descs[i];
		}
		r.n_topics = x.n;
		r.topics = dp;
		r.has_metadata_version = 1;
		r.metadata_version = store_applied_index(n->fsm.store);
		if (more) {
			next.phase = 0;
			next.version = r.metadata_version;
			cursor_put(&next, next_buf);
			r.has_next_cursor = 1;
			r.next_cursor.data = next_buf;
			r.next_cursor.len = CURSOR_LEN;
		}
	}
	srv_fill_status(t->server, &st, rc, msg[0] ? msg : NULL, &lid, leader,
			sizeof leader);
	r.status = &st;
	srv_send(o->p->sc, &o->p->h, &r.base);
	free(dp);
	free(pp);
	free(cp);
	for (size_t i = 0; i < x.n; i++)
		free(x.cfg_entries[i]);
	free(x.cfg_entries);
	free(x.n_cfg);
	free(x.descs);
	free(x.first_part);
	free(x.n_part);
	push_free(&x.parts);
	srv_pending_free(o->p);
	top_free(o);
}

static void handle_describe(struct topics *t, struct sconn *sc,
			    const struct frame_header *h,
			    Synod__Wire__DescribeTopicsRequest *req)
{
	struct pending *p;
	struct top *o;
	int rv = node_check_active(t->node);
	if (rv == SYNOD_OK && req->n_names > MAX_NAMES_PER_REQUEST)
		rv = SYNOD_EINVALID_ARGUMENT;
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv,
				 rv == SYNOD_EINVALID_ARGUMENT
				     ? "too many topics named in one request"
				     : NULL);
		synod__wire__describe_topics_request__free_unpacked(req, NULL);
		return;
	}
	p = srv_pending_new(sc, h, req, NULL, NULL);
	o = p ? top_new(t, p, describe_done) : NULL;
	if (o == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (p)
			srv_pending_free(p);
		else
			synod__wire__describe_topics_request__free_unpacked(
			    req, NULL);
		return;
	}
	rv = node_read(t->node, &o->w);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(p);
		top_free(o);
	}
}

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
		log_info("leader rebalance: %u preferred leaders elected",
			 er->elected);
	}
	free(res);
	free(rp);
	free(er->items);
	free(er);
	if (--t->ops == 0 && t->closing == 2)
		topics_free(t);
}

static void er_release(struct elect_req *er)
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
	er->items = grow(er->items, &er->cap, er->n + 1, sizeof *er->items,
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
	failed_proposal(o->t, o, rc);
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
	er_release(er);
	top_free(o);
}

/* Propose one page of elections (items: its results, taken over on
 * success). 0 when proposed or answered. */
static int elect_page_propose(struct topics *t, struct elect_req *er,
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
	if ((o = top_new(t, NULL, page_done)) == NULL)
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
		weigh(t, o, rb->n);
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
	struct job *j = job_add(t, JOB_ELECT);
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
	er_release(er);
}

static void handle_elect(struct topics *t, struct sconn *sc,
			 const struct frame_header *h,
			 Synod__Wire__ElectLeadersRequest *req)
{
	struct pending *p;
	struct elect_req *er;
	struct recbuf rb;
	struct elect_item *items = NULL;
	size_t n_items = 0, cap_items = 0, named = 0;
	int failed = 0;
	int rv = node_check_active(t->node);
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
		er_release(er);
		return;
	}
	/* Partitions named one by one: decided now, one proposal. Whole
	 * topics: walked. */
	recbuf_init(&rb);
	begin_decision(t);
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
			if (current(t, tp.tid, tps->partitions[k], &cur) !=
			    STORE_OK) {
				item_error(er, tp.name, tps->partitions[k],
					   SYNOD_EUNKNOWN_PARTITION);
				continue;
			}
			if (elect_decide(t, &rb, er->unclean, &tp, &cur, &items,
					 &n_items, &cap_items, &failed) != 0)
				failed = 1;
		}
	}
	if (failed || elect_page_propose(t, er, &rb, items, n_items) != 0) {
		ov_rollback(t, t->cur_owner);
		free(items);
		er->rc = SYNOD_EUNKNOWN;
	}
	recbuf_free(&rb);
	er_release(er);
}

/* Partitions whose change was refused as stale: bring them in line with
 * the brokers alive now (dead leader or ISR members, offline). */
static void process_rechecks(struct topics *t)
{
	struct recbuf rb;
	size_t i;
	recbuf_init(&rb);
	begin_decision(t);
	for (i = 0; i < t->n_recheck && rb.n < t->page; i++) {
		int64_t tid = (int64_t)(t->recheck[i] >> 32);
		int32_t part = (int32_t)(uint32_t)t->recheck[i];
		struct store_topic tp;
		struct store_partition cur;
		struct el_partition in, out;
		int unclean;
		if (store_topic_get_by_tid(t->store, tid, &tp) != STORE_OK ||
		    current(t, tid, part, &cur) != STORE_OK)
			continue;
		unclean = unclean_allowed(t, tp.name);
		to_el(&cur, &in);
		out = in;
		for (uint32_t k = 0; k < cur.n_replicas; k++) {
			struct el_partition next;
			if (alive(t, cur.replicas[k]))
				continue;
			el_broker_gone(&out, cur.replicas[k], unclean, alive, t,
				       &next);
			out = next;
		}
		if (out.leader == EL_NO_LEADER) {
			struct el_partition next;
			el_recover(&out, unclean, alive, t, &next);
			out = next;
		}
		if (el_changed(&in, &out))
			add_change(t, &rb, &tp, &cur, &out);
	}
	/* What did not fit in one page waits for the next tick. */
	memmove(t->recheck, t->recheck + i,
		(t->n_recheck - i) * sizeof *t->recheck);
	t->n_recheck -= i;
	if (rb.n > 0) {
		log_info("%u partitions re-checked after refused changes",
			 rb.n);
		propose_internal(t, &rb);
	}
	recbuf_free(&rb);
}

static void on_rebalance_tick(uv_timer_t *tm)
{
	struct topics *t = tm->data;
	char *v = NULL;
	uint64_t now = uv_now(t->node->loop);
	struct job *j;
	if (!t->active || node_check_active(t->node) != SYNOD_OK)
		return;
	if (t->n_recheck > 0)
		process_rechecks(t);
	if (now >= t->next_repair_ms) {
		t->next_repair_ms = now + REPAIR_INTERVAL_MS;
		repair_sweep(t);
	}
	if (now < t->next_rebalance_ms)
		return;
	t->next_rebalance_ms =
	    now + 1000ull * cluster_default(
				t, "leader.imbalance.check.interval.seconds");
	if (store_config_get(t->store, SYNOD_SCOPE_CLUSTER, NULL,
			     "auto.leader.rebalance.enable", &v) == STORE_OK &&
	    strcmp(v, "false") == 0) {
		free(v);
		return;
	}
	free(v);
	/* Counting is a walk too; it starts the elections if needed. */
	if (!job_exists(t, JOB_IMBALANCE, 0) &&
	    (j = job_add(t, JOB_IMBALANCE)) != NULL)
		j->broker = 0;
}

/* ---- ISR changes from partition leaders ---- */

/* One ISR change as ALTER_PARTITION checks it, the broker's session
 * checked already: SYNOD_OK with *tp, *cur (the current state, proposed
 * or committed), *in and *out filled (out equal to in when nothing is to
 * be committed: the same ISR restated, or a retry of the change that made
 * the current state), or the refusal. */
static int alter_decide(struct topics *t, int32_t broker,
			const ProtobufCBinaryData *topic_id, int32_t partition,
			uint32_t leader_epoch, uint32_t partition_epoch,
			const int32_t *isr, size_t n_isr,
			struct store_topic *tp, struct store_partition *cur,
			struct el_partition *in, struct el_partition *out)
{
	if (topic_id->len != 16 || topic_id->data == NULL ||
	    store_topic_get_by_id(t->store, topic_id->data, tp) != STORE_OK)
		return SYNOD_EUNKNOWN_TOPIC;
	if (current(t, tp->tid, partition, cur) != STORE_OK)
		return SYNOD_EUNKNOWN_PARTITION;
	to_el(cur, in);
	return el_alter_isr(in, broker, leader_epoch, partition_epoch, isr,
			    n_isr > UINT32_MAX ? UINT32_MAX : (uint32_t)n_isr,
			    alive, t, out);
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
	wire_partition(ps, (char *)tp->name, (uint8_t *)tp->topic_id, p);
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
	failed_proposal(t, o, rc);
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
	top_free(o);
}

static void handle_alter(struct topics *t, struct sconn *sc,
			 const struct frame_header *h,
			 Synod__Wire__AlterPartitionRequest *req)
{
	struct store_topic tp;
	struct store_partition cur;
	struct el_partition in, out;
	struct recbuf rb;
	struct pending *p;
	struct top *o;
	int rv = node_check_active(t->node);
	if (rv == SYNOD_OK)
		rv = brokers_check(t->brokers, req->broker_id,
				   req->broker_epoch);
	if (rv == SYNOD_OK)
		rv = alter_decide(t, req->broker_id, &req->topic_id,
				  req->partition, req->leader_epoch,
				  req->partition_epoch, req->new_isr,
				  req->n_new_isr, &tp, &cur, &in, &out);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		synod__wire__alter_partition_request__free_unpacked(req, NULL);
		return;
	}
	if (!el_changed(&in, &out)) {
		/* The same ISR restated, or a retry of the change that made
		 * this state: nothing to commit. */
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
	begin_decision(t);
	add_change(t, &rb, &tp, &cur, &out);
	p = srv_pending_new(sc, h, req, NULL, NULL);
	o = p ? top_new(t, p, alter_done) : NULL;
	if (o == NULL || rb.failed) {
		ov_rollback(t, t->cur_owner);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (o)
			top_free(o);
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

struct alter_batch {
	struct topics *t;
	struct pending *p; /* the request (an AlterPartitionsRequest) */
	struct ab_item *items;
	size_t n;
	unsigned *chg; /* item of each change proposed, in order */
	unsigned n_chg;
	unsigned holds; /* proposals not ended, + the build */
	int rc;		/* leadership lost with a proposal in flight */
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
	free(ab);
	if (--t->ops == 0 && t->closing == 2)
		topics_free(t);
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
	failed_proposal(o->t, o, rc);
	ab_ended(ab, o->first, o->n_items, rc, statuses);
	ab_release(ab);
	top_free(o);
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
	o = rb->failed || rb->n != n ? NULL : top_new(t, NULL, ab_done);
	if (o == NULL) {
		ov_rollback(t, t->cur_owner);
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
		weigh(t, o, rb->n);
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

static void handle_alter_batch(struct topics *t, struct sconn *sc,
			       const struct frame_header *h,
			       Synod__Wire__AlterPartitionsRequest *req)
{
	struct alter_batch *ab = NULL;
	struct pending *p = NULL;
	unsigned char *dup = NULL;
	struct recbuf rb;
	unsigned first = 0;
	uint64_t cap;
	int rv = node_check_active(t->node);
	if (rv == SYNOD_OK)
		rv = brokers_check(t->brokers, req->broker_id,
				   req->broker_epoch);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		synod__wire__alter_partitions_request__free_unpacked(req, NULL);
		return;
	}
	cap = cluster_default(t, "max.partitions.per.request");
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
		dup = calloc(req->n_items + 1, 1);
	}
	if (ab == NULL || ab->items == NULL || ab->chg == NULL || dup == NULL ||
	    ab_duplicates(req, dup) != 0 ||
	    (p = srv_pending_new(sc, h, req, NULL, NULL)) == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		synod__wire__alter_partitions_request__free_unpacked(req, NULL);
		if (ab) {
			free(ab->items);
			free(ab->chg);
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
	recbuf_init(&rb);
	begin_decision(t);
	for (size_t i = 0; i < req->n_items; i++) {
		const Synod__Wire__AlterPartitionItem *q = req->items[i];
		struct ab_item *it = &ab->items[i];
		struct store_topic tp;
		struct store_partition cur;
		struct el_partition in, out;
		if (dup[i]) {
			it->code = SYNOD_EINVALID_REQUEST;
			continue;
		}
		it->code = alter_decide(t, req->broker_id, &q->topic_id,
					q->partition, q->leader_epoch,
					q->partition_epoch, q->new_isr,
					q->n_new_isr, &tp, &cur, &in, &out);
		if (it->code != SYNOD_OK)
			continue;
		if (!el_changed(&in, &out)) {
			it->st = cur;
			it->has_st = 1;
			continue;
		}
		add_change(t, &rb, &tp, &cur, &out);
		ab->chg[ab->n_chg++] = (unsigned)i;
		if (rb.n >= t->page) {
			ab_propose(t, ab, &rb, first);
			recbuf_free(&rb);
			recbuf_init(&rb);
			begin_decision(t);
			first = ab->n_chg;
		}
	}
	ab_propose(t, ab, &rb, first);
	recbuf_free(&rb);
	free(dup);
	ab_release(ab);
}

/* ---- lifecycle ---- */

void topics_leadership(struct topics *t, int active)
{
	t->gen++;
	t->n_recheck = 0;
	/* Walks of the old term end (a departure reports NOT_CONTROLLER). */
	jobs_fail_all(t, active ? SYNOD_EUNAVAILABLE : SYNOD_ENOT_CONTROLLER);
	parked_fail(t, active ? SYNOD_EUNAVAILABLE : SYNOD_ENOT_CONTROLLER);
	ov_clear(t);
	load_invalidate(t);
	for (size_t i = 0; i < t->n_pending; i++)
		free(t->pending_names[i]);
	t->n_pending = 0;
	t->active = active;
	if (active) {
		/* The repair sweep runs at the first tick, then every
		 * REPAIR_INTERVAL_MS. */
		t->next_repair_ms = 0;
		t->next_rebalance_ms =
		    uv_now(t->node->loop) +
		    1000ull * cluster_default(
				  t, "leader.imbalance.check.interval.seconds");
		uv_timer_start(&t->timer, on_rebalance_tick, REBALANCE_POLL_MS,
			       REBALANCE_POLL_MS);
	} else {
		uv_timer_stop(&t->timer);
	}
}

int topics_new(struct server *s, struct brokers *b, struct topics **out)
{
	struct topics *t = calloc(1, sizeof *t);
	if (t == NULL)
		return -1;
	t->server = s;
	t->node = s->node;
	t->brokers = b;
	t->store = s->node->fsm.store;
	uv_timer_init(s->loop, &t->timer);
	t->timer.data = t;
	uv_idle_init(s->loop, &t->jobs_idle);
	t->jobs_idle.data = t;
	t->open_handles = 2;
	/* A page of a walk is one proposal: small enough for one entry of
	 * max_frame_bytes (a PartitionChange packs to under 256 bytes) and
	 * quick to apply on a follower. */
	t->page = 1000;
	if (t->page > s->node->cfg->max_batch_records)
		t->page = s->node->cfg->max_batch_records;
	if (t->page > s->node->cfg->max_frame / 256)
		t->page = (unsigned)(s->node->cfg->max_frame / 256);
	if (t->page < 16)
		t->page = 16;
	*out = t;
	return 0;
}

static void topics_free(struct topics *t)
{
	free(t->recheck);
	ov_clear(t);
	load_invalidate(t);
	for (size_t i = 0; i < t->n_pending; i++)
		free(t->pending_names[i]);
	free(t->pending_names);
	free(t);
}

static void handle_closed(uv_handle_t *h)
{
	struct topics *t = h->data;
	if (--t->open_handles > 0)
		return;
	t->closing = 2;
	if (t->ops == 0)
		topics_free(t);
}

void topics_close(struct topics *t)
{
	jobs_fail_all(t, SYNOD_ESHUTTING_DOWN);
	parked_fail(t, SYNOD_ESHUTTING_DOWN);
	t->closing = 1;
	t->active = 0;
	t->gen++;
	uv_close((uv_handle_t *)&t->timer, handle_closed);
	uv_close((uv_handle_t *)&t->jobs_idle, handle_closed);
}

const struct topics_stats *topics_stats(const struct topics *t)
{
	return &t->stats;
}

/* ---- the module ---- */

/* api_handle_x(): the module_handler of handle_x. */
#define WRAP(fn)                                                               \
	static void api_##fn(void *self, struct sconn *sc,                     \
			     const struct frame_header *h,                     \
			     ProtobufCMessage *msg)                            \
	{                                                                      \
		fn(self, sc, h, (void *)msg);                                  \
	}
WRAP(handle_fetch)
WRAP(handle_alter)
WRAP(handle_alter_batch)
WRAP(handle_create)
WRAP(handle_delete)
WRAP(handle_grow)
WRAP(handle_describe)
WRAP(handle_elect)

static const struct module_api topics_apis[] = {
    {SYNOD_API_METADATA_FETCH, "METADATA_FETCH", 1, 1, 1,
     &synod__wire__metadata_fetch_request__descriptor, api_handle_fetch},
    {SYNOD_API_ALTER_PARTITION, "ALTER_PARTITION", 1, 1, 1,
     &synod__wire__alter_partition_request__descriptor, api_handle_alter},
    {SYNOD_API_CREATE_TOPICS, "CREATE_TOPICS", 1, 1, 1,
     &synod__wire__create_topics_request__descriptor, api_handle_create},
    {SYNOD_API_DELETE_TOPICS, "DELETE_TOPICS", 1, 1, 1,
     &synod__wire__delete_topics_request__descriptor, api_handle_delete},
    {SYNOD_API_CREATE_PARTITIONS, "CREATE_PARTITIONS", 1, 1, 1,
     &synod__wire__create_partitions_request__descriptor, api_handle_grow},
    {SYNOD_API_DESCRIBE_TOPICS, "DESCRIBE_TOPICS", 1, 1, 1,
     &synod__wire__describe_topics_request__descriptor, api_handle_describe},
    {SYNOD_API_ELECT_LEADERS, "ELECT_LEADERS", 1, 1, 1,
     &synod__wire__elect_leaders_request__descriptor, api_handle_elect},
    {SYNOD_API_ALTER_PARTITIONS, "ALTER_PARTITIONS", 1, 1, 1,
     &synod__wire__alter_partitions_request__descriptor,
     api_handle_alter_batch},
};

static void mod_leadership(void *self, int active)
{
	topics_leadership(self, active);
}

static void mod_applied(void *self, uint64_t index,
			const Synod__Rec__RecordBatch *b)
{
	topics_applied(self, index, b);
}

static void mod_close(void *self)
{
	topics_close(self);
}

void topics_module(struct topics *t, struct module *m)
{
	memset(m, 0, sizeof *m);
	m->name = "topics";
	m->self = t;
	m->apis = topics_apis;
	m->n_apis = sizeof topics_apis / sizeof topics_apis[0];
	m->leadership = mod_leadership;
	m->applied = mod_applied;
	m->close = mod_close;
}

void topics_broker_hooks(struct topics *t, struct brokers_hooks *h)
{
	memset(h, 0, sizeof *h);
	h->arg = t;
	h->depart = hook_depart;
	h->back = hook_back;
}
