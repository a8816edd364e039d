/* net/group.c - a consumer group member (see synod/group.h).
 *
 * Ownership: a struct synod_consumer owns its config copies, one
 * synod_client, three timers (the main timer: the next heartbeat or join
 * retry; the lease timer: self-fencing; the kick timer: work a call of
 * the application asked for, run from the next loop iteration) and its
 * partition sets; the caller owns the struct until synod_consumer_close().
 *
 * At most one request (join, heartbeat, leave) is in flight
 * (c->inflight). Each records the membership generation it was sent for
 * (c->mgen moves whenever a membership is given up), so an answer that
 * arrives after the consumer fenced itself is recognised and dropped.
 *
 * Partition sets are sorted arrays of struct synod_tp (the public type),
 * so the arrays handed to the callbacks are the library's own sets,
 * allocated before any callback runs: a callback never sees a set that
 * could not be built. Topic names are interned once per topic id
 * (c->names) and dropped when no set refers to them any more, only
 * between callbacks (names_gc).
 *
 * Re-entrancy: callbacks run only from loop callbacks (timers, client
 * answers, pushes); the public functions never call back (they kick).
 * Callbacks are never nested. The struct is freed only from the timers'
 * close callbacks (or, on a private loop, at the end of close/run), so a
 * callback may close the consumer: every path that calls out checks
 * c->closing afterwards. A revocation batch handed to the revoking
 * callback may be completed inside it: batches are marked done and
 * unlinked only outside callbacks (reap_batches).
 */
#include "synod/group.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "random.h"

#define DEFAULT_REQUEST_TIMEOUT_MS 5000
#define DEFAULT_SESSION_MS 45000
#define DEFAULT_REBALANCE_MS 300000
#define DEFAULT_HEARTBEAT_MS 5000 /* until the controller says */
#define MIN_REQUEST_TIMEOUT_MS 100
#define JOIN_BACKOFF_MIN_MS 100
#define JOIN_BACKOFF_MAX_MS 2000
#define GROUP_ID_MAX 255
/* The controller refuses longer member ids (RC_MEMBER_ID_MAX). */
#define MEMBER_ID_MAX 36
#define TOPIC_ID_LEN 16

enum { REQ_NONE = 0, REQ_JOIN, REQ_HEARTBEAT, REQ_LEAVE };

struct tpset {
	struct synod_tp *v; /* sorted by topic id, then partition */
	size_t n, cap;
};

/* One revoking call with a token. */
struct batch {
	struct batch *next;
	uint64_t token;
	int done; /* revoke_done was called; unlinked by reap_batches */
	struct tpset parts;
};

struct tname {
	uint8_t id[TOPIC_ID_LEN];
	char *name;
	int mark;
};

struct synod_consumer {
	uv_loop_t *loop;
	uv_loop_t own_loop;
	int owns_loop;
	int running; /* inside synod_consumer_run */
	int closing;
	int started;

	/* configuration (owned copies) */
	char *bootstrap;
	char *cluster_id;
	char *tls_ca, *tls_cert, *tls_key; /* NULL: plaintext */
	char *group_id;
	char *instance_id;
	char *rack;
	char *client_id;
	char *assignor;
	char **topics;
	size_t n_topics;
	char *regex;
	unsigned rebalance_ms;
	unsigned session_ms;
	unsigned request_timeout_ms;
	unsigned unreleased_retry_ms;
	unsigned liveness_ms;
	size_t max_frame;
	struct synod_consumer_callbacks cbs;
	uint64_t rng;

	struct synod_client *client;
	uv_timer_t timer;	/* next heartbeat, join retry */
	uv_timer_t fence_timer; /* self-fencing at the session's end */
	uv_timer_t kick_timer;	/* deferred work of the public calls */
	int open_timers;

	enum synod_consumer_state state;
	int member;	 /* member_id and epoch are the controller's */
	char *member_id; /* NULL without a membership */
	/* The id every join of this consumer carries (random, chosen at
	 * creation, or the one an older controller answered with): a rejoin
	 * after a fence, or a join retried after a lost answer, is the same
	 * member to the controller, which leaves no ghost behind holding
	 * partitions until its session ends. */
	char join_id[MEMBER_ID_MAX + 1];
	int32_t epoch;
	uint64_t mgen; /* membership generation */
	unsigned heartbeat_ms;

	int inflight; /* REQ_* */
	uint64_t inflight_mgen;
	int inflight_full;
	int inflight_has_owned;
	uint64_t inflight_owned_ver;
	uint64_t inflight_owned_from; /* applied_version it was computed at */
	uint64_t sent_ns; /* uv_hrtime() when the request in flight went */
	/* Send time of the last heartbeat the controller acknowledged; the
	 * session ends no earlier than this plus the session timeout. */
	uint64_t ack_sent_ns;
	int need_full;	     /* the next heartbeat carries every field */
	int full_now;	     /* ... and goes out at once */
	uint64_t synced_gen; /* client generation of the last answer */
	int rejoin_fast;     /* the next rejoin after a fence goes at once */
	unsigned backoff_ms; /* join retries */
	int unreleased_seen;
	uint64_t unreleased_deadline;
	int leave_wanted;

	/* owned_ver moves at every change of `owned`; acked_owned_ver is
	 * the version the controller acknowledged in a heartbeat; a
	 * heartbeat carries `owned` while they differ. revoked_ver: the
	 * version at the last completed revocation. */
	uint64_t owned_ver, acked_owned_ver, revoked_ver;
	/* The assignment version the last acknowledged `owned` report was
	 * computed at. The controller counts a report made before the
	 * member's latest assignment as stale (it may still hold what that
	 * assignment's push gave or takes back: docs/groups.md section 2),
	 * so a heartbeat after a newer assignment reports `owned` again,
	 * changed or not: otherwise a revocation judged stale would wait
	 * for the rebalance timeout. */
	uint64_t reported_version;
	struct tpset owned;  /* handed to the application, not given up */
	struct tpset target; /* the last assignment applied */
	int have_target;
	uint64_t applied_version;
	struct batch *batches; /* in token order */
	uint64_t next_token;
	struct tname *names; /* sorted by id */
	size_t n_names, cap_names;

	struct synod_consumer_stats stats;
	int err;
	char errmsg[256];
};

static const char *const state_names[] = {
    [SYNOD_CONSUMER_JOINING] = "joining",
    [SYNOD_CONSUMER_RECONCILING] = "reconciling",
    [SYNOD_CONSUMER_STABLE] = "stable",
    [SYNOD_CONSUMER_FENCED] = "fenced",
    [SYNOD_CONSUMER_LEAVING] = "leaving",
    [SYNOD_CONSUMER_LEFT] = "left",
    [SYNOD_CONSUMER_FAILED] = "failed",
};

const char *synod_consumer_state_name(enum synod_consumer_state s)
{
	if ((unsigned)s >= sizeof state_names / sizeof state_names[0] ||
	    state_names[s] == NULL)
		return "unknown";
	return state_names[s];
}

/* ---- helpers ---- */

static void seterr(struct synod_consumer *c, int code, const char *fmt, ...)
{
	va_list ap;
	c->err = code;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
}

/* The error recorded last, to the application. May close. */
static void report(struct synod_consumer *c)
{
	if (c->cbs.error && !c->closing)
		c->cbs.error(c->cbs.arg, c, c->err, c->errmsg);
}

/* xorshift64*: per-consumer jitter, no shared state. */
static uint64_t rnd(struct synod_consumer *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd_between(struct synod_consumer *c, uint64_t lo, uint64_t hi)
{
	return lo + rnd(c) % (hi - lo + 1);
}

static int seed(struct synod_consumer *c)
{
	if (net_random(&c->rng, sizeof c->rng) != 0)
		return -1;
	if (c->rng == 0)
		c->rng = 0x9E3779B97F4A7C15ull;
	return 0;
}

/* join_id: a random UUID (version 4), as the controller makes them. */
static int make_join_id(struct synod_consumer *c)
{
	uint8_t r[16];
	if (net_random(r, sizeof r) != 0)
		return -1;
	net_uuid_text(r, c->join_id);
	return 0;
}

static int terminal(const struct synod_consumer *c)
{
	return c->state == SYNOD_CONSUMER_LEFT ||
	       c->state == SYNOD_CONSUMER_FAILED;
}

static void set_state(struct synod_consumer *c, enum synod_consumer_state s)
{
	enum synod_consumer_state old = c->state;
	if (old == s)
		return;
	c->state = s;
	if (c->cbs.state_changed && !c->closing)
		c->cbs.state_changed(c->cbs.arg, c, old, s);
}

static void on_timer(uv_timer_t *t);

static void arm(struct synod_consumer *c, uint64_t delay_ms)
{
	uv_timer_start(&c->timer, on_timer, delay_ms, 0);
}

static void on_kick(uv_timer_t *t);

/* Run on_kick from the next loop iteration. */
static void kick(struct synod_consumer *c)
{
	if (!c->closing && !uv_is_active((uv_handle_t *)&c->kick_timer))
		uv_timer_start(&c->kick_timer, on_kick, 0, 0);
}

/* ---- partition sets ---- */

static int tp_cmp(const struct synod_tp *a, const struct synod_tp *b)
{
	int r = memcmp(a->topic_id, b->topic_id, TOPIC_ID_LEN);
	if (r != 0)
		return r;
	return (a->partition > b->partition) - (a->partition < b->partition);
}

static int tp_qcmp(const void *a, const void *b)
{
	return tp_cmp(a, b);
}

static void set_free(struct tpset *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int set_reserve(struct tpset *s, size_t n)
{
	struct synod_tp *v;
	size_t cap = s->cap ? s->cap : 8;
	if (n <= s->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	v = realloc(s->v, cap * sizeof *v);
	if (v == NULL)
		return -1;
	s->v = v;
	s->cap = cap;
	return 0;
}

static int set_push(struct tpset *s, const struct synod_tp *t)
{
	if (set_reserve(s, s->n + 1) != 0)
		return -1;
	s->v[s->n++] = *t;
	return 0;
}

/* Sort and drop duplicates. */
static void set_normalize(struct tpset *s)
{
	size_t w = 0;
	if (s->n < 2)
		return;
	qsort(s->v, s->n, sizeof *s->v, tp_qcmp);
	for (size_t i = 1; i < s->n; i++)
		if (tp_cmp(&s->v[w], &s->v[i]) != 0)
			s->v[++w] = s->v[i];
	s->n = w + 1;
}

/* out (empty) = a - b. */
static int set_minus(struct tpset *out, const struct tpset *a,
		     const struct tpset *b)
{
	size_t i = 0, j = 0;
	while (i < a->n) {
		int r = j < b->n ? tp_cmp(&a->v[i], &b->v[j]) : -1;
		if (r < 0) {
			if (set_push(out, &a->v[i]) != 0)
				return -1;
			i++;
		} else if (r == 0) {
			i++;
			j++;
		} else {
			j++;
		}
	}
	return 0;
}

/* a |= b, disjoint sets, without allocating: a has room for both. */
static void set_merge_reserved(struct tpset *a, const struct tpset *b)
{
	size_t i = a->n, j = b->n, k = a->n + b->n;
	while (j > 0) {
		if (i > 0 && tp_cmp(&a->v[i - 1], &b->v[j - 1]) > 0)
			a->v[--k] = a->v[--i];
		else
			a->v[--k] = b->v[--j];
	}
	a->n += b->n;
}

/* a |= b (any sets). */
static int set_union(struct tpset *a, const struct tpset *b)
{
	struct tpset extra = {0};
	if (set_minus(&extra, b, a) != 0 ||
	    set_reserve(a, a->n + extra.n) != 0) {
		set_free(&extra);
		return -1;
	}
	set_merge_reserved(a, &extra);
	set_free(&extra);
	return 0;
}

/* a -= b, in place. */
static void set_remove(struct tpset *a, const struct tpset *b)
{
	size_t i = 0, j = 0, w = 0;
	while (i < a->n) {
		int r = j < b->n ? tp_cmp(&a->v[i], &b->v[j]) : -1;
		if (r < 0) {
			a->v[w++] = a->v[i++];
		} else if (r == 0) {
			i++;
			j++;
		} else {
			j++;
		}
	}
	a->n = w;
}

/* ---- topic names ---- */

static struct tname *name_find(const struct synod_consumer *c,
			       const uint8_t *id, size_t *pos)
{
	size_t lo = 0, hi = c->n_names;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = memcmp(c->names[mid].id, id, TOPIC_ID_LEN);
		if (r == 0)
			return &c->names[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return NULL;
}

static void patch_names(struct tpset *s, const uint8_t *id, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].topic == NULL &&
		    memcmp(s->v[i].topic_id, id, TOPIC_ID_LEN) == 0)
			s->v[i].topic = name;
}

/* The interned name of topic `id`: the one known, else `name` (copied;
 * NULL or "" for none). *nomem on allocation failure. */
static const char *name_intern(struct synod_consumer *c, const uint8_t *id,
			       const char *name, int *nomem)
{
	size_t pos = 0;
	struct tname *t = name_find(c, id, &pos);
	char *copy;
	if (t)
		return t->name;
	if (name == NULL || name[0] == '\0')
		return NULL;
	if (c->n_names == c->cap_names) {
		size_t cap = c->cap_names ? c->cap_names * 2 : 8;
		struct tname *v = realloc(c->names, cap * sizeof *v);
		if (v == NULL) {
			*nomem = 1;
			return NULL;
		}
		c->names = v;
		c->cap_names = cap;
	}
	if ((copy = strdup(name)) == NULL) {
		*nomem = 1;
		return NULL;
	}
	memmove(&c->names[pos + 1], &c->names[pos],
		(c->n_names - pos) * sizeof *c->names);
	memcpy(c->names[pos].id, id, TOPIC_ID_LEN);
	c->names[pos].name = copy;
	c->names[pos].mark = 0;
	c->n_names++;
	/* Partitions learnt before the name: give it to them. */
	patch_names(&c->owned, id, copy);
	patch_names(&c->target, id, copy);
	return copy;
}

static void mark_names(struct synod_consumer *c, const struct tpset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct tname *t;
		if (i > 0 && memcmp(s->v[i].topic_id, s->v[i - 1].topic_id,
				    TOPIC_ID_LEN) == 0)
			continue;
		if ((t = name_find(c, s->v[i].topic_id, NULL)) != NULL)
			t->mark = 1;
	}
}

/* Drop names no set refers to. Only between callbacks (a callback's
 * arrays point to names). Batches are subsets of `owned`. */
static void names_gc(struct synod_consumer *c)
{
	size_t w = 0;
	if (c->closing || c->n_names == 0)
		return;
	for (size_t i = 0; i < c->n_names; i++)
		c->names[i].mark = 0;
	mark_names(c, &c->owned);
	mark_names(c, &c->target);
	for (size_t i = 0; i < c->n_names; i++) {
		if (c->names[i].mark)
			c->names[w++] = c->names[i];
		else
			free(c->names[i].name);
	}
	c->n_names = w;
}

/* ---- wire conversions ---- */

/* An assignment from the wire into out (empty): SYNOD_OK,
 * SYNOD_EINVALID_REQUEST (a topic id not 16 bytes, a negative
 * partition) or SYNOD_ENOMEM. */
static int parse_set(struct synod_consumer *c,
		     const Synod__Wire__GroupPartitionSet *w, struct tpset *out)
{
	int nomem = 0;
	for (size_t i = 0; i < w->n_topics; i++) {
		const Synod__Wire__GroupTopicPartitions *t = w->topics[i];
		struct synod_tp tp;
		if (t == NULL || t->topic_id.len != TOPIC_ID_LEN)
			return SYNOD_EINVALID_REQUEST;
		memcpy(tp.topic_id, t->topic_id.data, TOPIC_ID_LEN);
		tp.topic = name_intern(c, tp.topic_id, t->topic, &nomem);
		if (nomem)
			return SYNOD_ENOMEM;
		for (size_t k = 0; k < t->n_partitions; k++) {
			if (t->partitions[k] < 0)
				return SYNOD_EINVALID_REQUEST;
			tp.partition = t->partitions[k];
			if (set_push(out, &tp) != 0)
				return SYNOD_ENOMEM;
		}
	}
	set_normalize(out);
	return SYNOD_OK;
}

struct wire_set {
	Synod__Wire__GroupPartitionSet set;
	Synod__Wire__GroupTopicPartitions *tps;
	Synod__Wire__GroupTopicPartitions **tpp;
	int32_t *parts;
};

static void wire_set_free(struct wire_set *w)
{
	free(w->tps);
	free(w->tpp);
	free(w->parts);
}

/* s on the wire, one GroupTopicPartitions per topic (no names: requests
 * carry ids). Points into s; 0 or -1 (out of memory). */
static int wire_set(const struct tpset *s, struct wire_set *w)
{
	size_t nt = 0, k = 0;
	memset(w, 0, sizeof *w);
	synod__wire__group_partition_set__init(&w->set);
	for (size_t i = 0; i < s->n; i++)
		if (i == 0 || memcmp(s->v[i].topic_id, s->v[i - 1].topic_id,
				     TOPIC_ID_LEN) != 0)
			nt++;
	if (s->n == 0)
		return 0;
	w->tps = calloc(nt, sizeof *w->tps);
	w->tpp = calloc(nt, sizeof *w->tpp);
	w->parts = calloc(s->n, sizeof *w->parts);
	if (w->tps == NULL || w->tpp == NULL || w->parts == NULL) {
		wire_set_free(w);
		return -1;
	}
	for (size_t i = 0; i < s->n; i++) {
		Synod__Wire__GroupTopicPartitions *t;
		if (i == 0 || memcmp(s->v[i].topic_id, s->v[i - 1].topic_id,
				     TOPIC_ID_LEN) != 0) {
			t = &w->tps[k];
			synod__wire__group_topic_partitions__init(t);
			t->topic_id.data = (uint8_t *)s->v[i].topic_id;
			t->topic_id.len = TOPIC_ID_LEN;
			t->partitions = &w->parts[i];
			w->tpp[k++] = t;
		}
		w->parts[i] = s->v[i].partition;
		w->tps[k - 1].n_partitions++;
	}
	w->set.n_topics = nt;
	w->set.topics = w->tpp;
	return 0;
}

/* ---- revocation batches ---- */

static size_t outstanding(const struct synod_consumer *c)
{
	size_t n = 0;
	for (const struct batch *b = c->batches; b; b = b->next)
		n += !b->done;
	return n;
}

static void batch_free(struct batch *b)
{
	set_free(&b->parts);
	free(b);
}

/* Unlink and free completed batches (never during a callback). */
static void reap_batches(struct synod_consumer *c)
{
	struct batch **pp = &c->batches;
	while (*pp) {
		struct batch *b = *pp;
		if (b->done) {
			*pp = b->next;
			batch_free(b);
		} else {
			pp = &b->next;
		}
	}
}

static void free_batches(struct synod_consumer *c)
{
	while (c->batches) {
		struct batch *b = c->batches;
		c->batches = b->next;
		batch_free(b);
	}
}

/* The partitions of b are gone: no longer owned; tell the controller
 * (from the next loop iteration). */
static void complete_batch(struct synod_consumer *c, struct batch *b)
{
	b->done = 1;
	set_remove(&c->owned, &b->parts);
	c->owned_ver++;
	c->revoked_ver = c->owned_ver;
	kick(c);
}

/* Union of the partitions being revoked, into out (empty). */
static int busy_set(const struct synod_consumer *c, struct tpset *out)
{
	for (const struct batch *b = c->batches; b; b = b->next)
		if (!b->done && set_union(out, &b->parts) != 0)
			return -1;
	return 0;
}

static void update_state(struct synod_consumer *c);

/* Hand rev (taken over) to the application in one revoking call with a
 * fresh token. May close. */
static void start_revocation(struct synod_consumer *c, struct tpset *rev)
{
	struct batch *b = calloc(1, sizeof *b), **pp;
	if (b == NULL) {
		/* Cannot track it: complete it at once rather than keep
		 * partitions nobody will ever revoke. */
		struct batch tmp = {0};
		tmp.parts = *rev;
		seterr(c, SYNOD_ENOMEM,
		       "out of memory: revocation completed "
		       "without the application");
		complete_batch(c, &tmp);
		set_free(rev);
		report(c);
		return;
	}
	b->token = ++c->next_token;
	b->parts = *rev;
	memset(rev, 0, sizeof *rev);
	for (pp = &c->batches; *pp; pp = &(*pp)->next)
		;
	*pp = b;
	c->stats.revocations++;
	update_state(c);
	if (c->closing)
		return;
	if (c->cbs.revoking == NULL) {
		complete_batch(c, b);
		return;
	}
	/* b stays linked (done or not) until reap_batches: the callback's
	 * array is b's. */
	c->cbs.revoking(c->cbs.arg, c, b->parts.v, b->parts.n, b->token);
}

/* ---- membership ---- */

static void clear_membership(struct synod_consumer *c)
{
	free_batches(c);
	set_free(&c->target);
	c->have_target = 0;
	c->applied_version = 0;
	c->member = 0;
	c->epoch = 0;
	free(c->member_id);
	c->member_id = NULL;
	c->mgen++;
	c->owned_ver = c->acked_owned_ver = c->revoked_ver = 0;
	c->reported_version = 0;
	c->ack_sent_ns = 0;
	c->need_full = 1;
	c->full_now = 0;
	uv_timer_stop(&c->fence_timer);
}

/* The membership is gone: every owned partition is lost (one revoking
 * call with SYNOD_CONSUMER_LOST, nothing waited for). May close. */
static void lose_all(struct synod_consumer *c)
{
	struct tpset lost = c->owned;
	memset(&c->owned, 0, sizeof c->owned);
	clear_membership(c);
	if (lost.n > 0) {
		c->stats.losses++;
		if (c->cbs.revoking && !c->closing)
			c->cbs.revoking(c->cbs.arg, c, lost.v, lost.n,
					SYNOD_CONSUMER_LOST);
	}
	set_free(&lost);
}

static void stop_timers(struct synod_consumer *c)
{
	uv_timer_stop(&c->timer);
	uv_timer_stop(&c->fence_timer);
}

/* FAILED, with the error seterr() recorded last (reported first). */
static void fail(struct synod_consumer *c)
{
	stop_timers(c);
	report(c);
	if (c->closing)
		return;
	lose_all(c);
	if (c->closing)
		return;
	stop_timers(c);
	set_state(c, SYNOD_CONSUMER_FAILED);
}

static void left(struct synod_consumer *c)
{
	stop_timers(c);
	lose_all(c); /* normally nothing left: revoked before the leave */
	if (c->closing)
		return;
	stop_timers(c);
	set_state(c, SYNOD_CONSUMER_LEFT);
}

static void schedule_join(struct synod_consumer *c)
{
	unsigned d = c->backoff_ms;
	arm(c, rnd_between(c, d / 2, d));
	c->backoff_ms =
	    d * 2 > JOIN_BACKOFF_MAX_MS ? JOIN_BACKOFF_MAX_MS : d * 2;
}

/* The membership ended without a revocation: lose everything, FENCED,
 * rejoin (at once the first time since the last acknowledged heartbeat
 * of a membership, else with backoff). May close. */
static void fenced(struct synod_consumer *c)
{
	lose_all(c);
	if (c->closing)
		return;
	set_state(c, SYNOD_CONSUMER_FENCED);
	if (c->closing || c->state != SYNOD_CONSUMER_FENCED)
		return;
	if (c->inflight)
		return; /* its (ignored) answer sends the join */
	if (c->rejoin_fast) {
		c->rejoin_fast = 0;
		arm(c, 0);
	} else {
		schedule_join(c);
	}
}

/* Heartbeat retry after a failure: in the second half of the next
 * interval (members failing together spread out). */
static void schedule_retry(struct synod_consumer *c)
{
	arm(c, rnd_between(c, c->heartbeat_ms / 2, c->heartbeat_ms));
}

/* ---- self-fencing ----
 *
 * The controller ends a session when no heartbeat arrived for the
 * session timeout, counted from the heartbeat's arrival. The consumer
 * counts from the send time of the last acknowledged heartbeat, which is
 * no later: its own deadline comes first. */

static uint64_t lease_end_ns(const struct synod_consumer *c)
{
	if (!c->member || c->ack_sent_ns == 0)
		return 0;
	return c->ack_sent_ns + (uint64_t)c->session_ms * 1000000u;
}

static void self_fence(struct synod_consumer *c)
{
	c->stats.self_fences++;
	seterr(c, SYNOD_ETIMEOUT,
	       "no heartbeat acknowledged for the session timeout (%u ms): "
	       "partitions lost, rejoining",
	       c->session_ms);
	report(c);
	if (c->closing)
		return;
	if (c->state == SYNOD_CONSUMER_LEAVING) {
		left(c);
		return;
	}
	fenced(c);
}

static void on_fence_timer(uv_timer_t *t);

static void arm_lease(struct synod_consumer *c)
{
	uint64_t end = lease_end_ns(c), now = uv_hrtime();
	if (end == 0) {
		uv_timer_stop(&c->fence_timer);
		return;
	}
	if (now >= end) {
		uv_timer_stop(&c->fence_timer);
		self_fence(c);
		return;
	}
	/* Loop time may lag the clock: round up, check again when due. */
	uv_timer_start(&c->fence_timer, on_fence_timer,
		       (end - now + 999999u) / 1000000u, 0);
}

static void on_fence_timer(uv_timer_t *t)
{
	struct synod_consumer *c = t->data;
	if (c->closing || terminal(c))
		return;
	arm_lease(c);
}

/* ---- requests ---- */

static void on_answer(void *arg, int status, const uint8_t *body, size_t len);

static int send_request(struct synod_consumer *c, int kind)
{
	Synod__Wire__GroupHeartbeatRequest req =
	    SYNOD__WIRE__GROUP_HEARTBEAT_REQUEST__INIT;
	Synod__Wire__GroupTopicNames names =
	    SYNOD__WIRE__GROUP_TOPIC_NAMES__INIT;
	struct tpset empty = {0};
	struct wire_set ws;
	int full, with_owned = 0, rv;
	/* A new connection (or none: the send makes one) may follow lost
	 * pushes: resynchronise with a full request. */
	if (kind == REQ_HEARTBEAT &&
	    (synod_client_peer(c->client) == NULL ||
	     synod_client_generation(c->client) != c->synced_gen))
		c->need_full = 1;
	full = kind == REQ_JOIN || (kind == REQ_HEARTBEAT && c->need_full);
	req.group_id = c->group_id;
	if (kind == REQ_JOIN) {
		req.member_id = c->join_id;
		req.member_epoch = 0;
	} else {
		req.member_id = c->member_id;
		req.member_epoch =
		    kind == REQ_LEAVE ? (c->instance_id ? -2 : -1) : c->epoch;
	}
	if (full || kind == REQ_LEAVE)
		req.instance_id = c->instance_id;
	if (full) {
		req.rack = c->rack;
		req.client_id = c->client_id;
		req.has_rebalance_timeout_ms = 1;
		req.rebalance_timeout_ms = (int32_t)c->rebalance_ms;
		names.names = c->topics;
		names.n_names = c->n_topics;
		req.subscribed_topic_names = &names;
		req.subscribed_topic_regex = c->regex ? c->regex : "";
		req.server_assignor = c->assignor;
		with_owned = 1;
	} else if (kind == REQ_HEARTBEAT &&
		   (c->owned_ver != c->acked_owned_ver ||
		    c->applied_version > c->reported_version)) {
		with_owned = 1;
	}
	if (with_owned) {
		if (wire_set(kind == REQ_JOIN ? &empty : &c->owned, &ws) != 0) {
			seterr(c, SYNOD_ENOMEM, "heartbeat: out of memory");
			return SYNOD_ENOMEM;
		}
		req.owned = &ws.set;
		/* What `owned` was computed from: the controller counts the
		 * partitions of a newer assignment (maybe still on its way)
		 * as owned. */
		if (kind == REQ_HEARTBEAT && c->applied_version > 0) {
			req.has_assignment_version = 1;
			req.assignment_version = c->applied_version;
		}
	}
	/* Before the send, which may write at once: the session is counted
	 * from no later than the controller's receipt (the self-fencing
	 * deadline must not pass the controller's). */
	c->sent_ns = uv_hrtime();
	rv = synod_client_send(c->client, SYNOD_API_GROUP_HEARTBEAT, &req.base,
			       1, on_answer, c);
	if (with_owned)
		wire_set_free(&ws);
	if (rv != SYNOD_OK) {
		seterr(c, rv, "%s: %s", kind == REQ_JOIN ? "join" : "heartbeat",
		       synod_strerror(rv));
		return rv;
	}
	c->inflight = kind;
	c->inflight_mgen = c->mgen;
	c->inflight_full = full;
	c->inflight_has_owned = with_owned && kind == REQ_HEARTBEAT;
	c->inflight_owned_ver = c->owned_ver;
	c->inflight_owned_from = c->applied_version;
	if (full) {
		c->need_full = 0;
		c->full_now = 0;
	}
	if (kind == REQ_JOIN) {
		c->stats.joins++;
	} else {
		c->stats.heartbeats++;
		c->stats.full_heartbeats += full ? 1u : 0u;
	}
	return SYNOD_OK;
}

/* Send what comes next (nothing in flight): a join without membership,
 * the leave once nothing is being revoked, else a heartbeat. May close
 * (a leave that cannot be sent ends in LEFT). */
static void send_next(struct synod_consumer *c)
{
	int kind, rv;
	if (c->closing || terminal(c) || c->inflight)
		return;
	if (!c->member)
		kind = REQ_JOIN;
	else if (c->state == SYNOD_CONSUMER_LEAVING && outstanding(c) == 0)
		kind = REQ_LEAVE;
	else
		kind = REQ_HEARTBEAT;
	rv = send_request(c, kind);
	if (rv == SYNOD_OK)
		return;
	c->stats.failures++;
	report(c);
	if (c->closing)
		return;
	if (kind == REQ_LEAVE)
		left(c);
	else if (kind == REQ_JOIN)
		schedule_join(c);
	else
		schedule_retry(c);
}

/* Send now what should not wait for the interval: the leave, a full
 * heartbeat after a reconnect or subscription change, the report of
 * completed revocations. Once the request in flight (if any) is
 * answered, its answer calls this again. */
static void pump(struct synod_consumer *c)
{
	if (c->closing || terminal(c) || c->inflight || !c->member)
		return;
	if (c->state == SYNOD_CONSUMER_LEAVING) {
		if (outstanding(c) == 0)
			send_next(c);
		return;
	}
	if (c->full_now ||
	    (outstanding(c) == 0 && c->revoked_ver > c->acked_owned_ver))
		send_next(c);
}

static void on_timer(uv_timer_t *t)
{
	struct synod_consumer *c = t->data;
	if (c->closing || terminal(c))
		return;
	if (c->inflight) {
		c->stats.skipped++; /* its answer re-arms */
		return;
	}
	send_next(c);
}

static void update_state(struct synod_consumer *c)
{
	if (!c->member || c->closing || c->state == SYNOD_CONSUMER_LEAVING ||
	    terminal(c))
		return;
	set_state(c, outstanding(c) > 0 || c->revoked_ver > c->acked_owned_ver
			 ? SYNOD_CONSUMER_RECONCILING
			 : SYNOD_CONSUMER_STABLE);
}

/* ---- assignments ---- */

/* Move toward the target: revoke owned partitions it does not list (one
 * call), then assign the ones it lists that are not owned (one call).
 * May close. */
static void reconcile(struct synod_consumer *c)
{
	struct tpset busy = {0}, gone = {0}, rev = {0}, add = {0};
	if (!c->member || !c->have_target ||
	    c->state == SYNOD_CONSUMER_LEAVING || c->closing || terminal(c))
		return;
	if (busy_set(c, &busy) != 0 ||
	    set_minus(&gone, &c->owned, &c->target) != 0 ||
	    set_minus(&rev, &gone, &busy) != 0 ||
	    set_minus(&add, &c->target, &c->owned) != 0 ||
	    set_reserve(&c->owned, c->owned.n + add.n) != 0) {
		set_free(&busy);
		set_free(&gone);
		set_free(&rev);
		set_free(&add);
		seterr(c, SYNOD_ENOMEM, "out of memory applying an assignment");
		c->need_full = 1; /* the answer brings it again */
		report(c);
		return;
	}
	set_free(&busy);
	set_free(&gone);
	if (rev.n > 0) {
		start_revocation(c, &rev);
		if (c->closing) {
			set_free(&add);
			return;
		}
	}
	set_free(&rev);
	if (add.n > 0) {
		/* owned only shrank meanwhile (revoke_done): the room
		 * reserved above still suffices, and add is disjoint. */
		set_merge_reserved(&c->owned, &add);
		c->owned_ver++;
		if (c->cbs.assigned)
			c->cbs.assigned(c->cbs.arg, c, add.v, add.n);
	}
	set_free(&add);
	if (!c->closing)
		reap_batches(c);
}

/* Apply an assignment (answer or push). SYNOD_OK or the error (reported,
 * nothing applied; a full request will bring it again). May close. */
static int apply_assignment(struct synod_consumer *c,
			    const Synod__Wire__GroupPartitionSet *w,
			    uint64_t version)
{
	struct tpset a = {0};
	int rv = parse_set(c, w, &a);
	if (rv != SYNOD_OK) {
		set_free(&a);
		seterr(c, rv, "assignment %llu: %s",
		       (unsigned long long)version,
		       rv == SYNOD_ENOMEM ? "out of memory"
					  : "malformed partition set");
		c->need_full = 1;
		c->full_now = rv != SYNOD_ENOMEM;
		report(c);
		return rv;
	}
	set_free(&c->target);
	c->target = a;
	c->have_target = 1;
	if (version)
		c->applied_version = version;
	c->stats.assignments++;
	reconcile(c);
	return SYNOD_OK;
}

/* ---- answers ---- */

static int fatal_refusal(int code)
{
	switch (code) {
	case SYNOD_EFENCED_INSTANCE_ID:
	case SYNOD_EGROUP_MAX_SIZE_REACHED:
	case SYNOD_EUNSUPPORTED_ASSIGNOR:
	case SYNOD_EINVALID_REQUEST:
	case SYNOD_EINVALID_REGULAR_EXPRESSION:
	case SYNOD_EINVALID_ARGUMENT:
	case SYNOD_EUNSUPPORTED_VERSION:
	case SYNOD_ECLUSTER_ID_MISMATCH:
		return 1;
	default:
		return 0;
	}
}

/* Nothing changes: retry (a full request) later. */
static void failed(struct synod_consumer *c, int kind)
{
	c->stats.failures++;
	c->need_full = 1;
	report(c);
	if (c->closing || terminal(c))
		return;
	if (c->state == SYNOD_CONSUMER_LEAVING && !c->member) {
		left(c); /* the join we would leave did not happen */
		return;
	}
	if (kind == REQ_JOIN)
		schedule_join(c);
	else
		schedule_retry(c);
}

static void refused(struct synod_consumer *c, int kind, int code,
		    const char *msg)
{
	seterr(c, code, "%s refused: %s%s%s",
	       kind == REQ_JOIN ? "join" : "heartbeat", synod_error_name(code),
	       msg ? ": " : "", msg ? msg : "");
	if (fatal_refusal(code)) {
		c->stats.failures++;
		fail(c);
		return;
	}
	switch (code) {
	case SYNOD_EUNKNOWN_MEMBER_ID:
	case SYNOD_EFENCED_MEMBER_EPOCH:
		if (kind == REQ_JOIN || !c->member)
			break; /* not about a membership: retry */
		c->stats.failures++;
		c->stats.fences++;
		report(c);
		if (c->closing)
			return;
		if (c->state == SYNOD_CONSUMER_LEAVING)
			left(c); /* gone already */
		else
			fenced(c);
		return;
	case SYNOD_EUNRELEASED_INSTANCE_ID:
		if (kind != REQ_JOIN)
			break;
		if (c->unreleased_retry_ms) {
			uint64_t now = uv_now(c->loop);
			if (!c->unreleased_seen) {
				c->unreleased_seen = 1;
				c->unreleased_deadline =
				    now + c->unreleased_retry_ms;
			}
			if (now >= c->unreleased_deadline) {
				c->stats.failures++;
				fail(c);
				return;
			}
		}
		break; /* the join backoff */
	default:
		break;
	}
	failed(c, kind);
}

/* As the controller checks them (rc_validate): 1 to 36 bytes of
 * printable ASCII without spaces. */
static int valid_member_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > MEMBER_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (id[i] <= ' ' || id[i] > '~')
			return 0;
	return 1;
}

/* At most half the session (a heartbeat that gets no answer leaves time
 * for another before the session ends), at least MIN_REQUEST_TIMEOUT_MS.
 * With the client made, it takes the new value for later requests. */
static void clamp_request_timeout(struct synod_consumer *c)
{
	unsigned t = c->request_timeout_ms, half = c->session_ms / 2;
	if (t > half)
		t = half;
	if (t < MIN_REQUEST_TIMEOUT_MS)
		t = MIN_REQUEST_TIMEOUT_MS;
	if (t == c->request_timeout_ms)
		return;
	c->request_timeout_ms = t;
	if (c->client)
		synod_client_set_request_timeout(c->client, t);
}

static void answered(struct synod_consumer *c, int kind,
		     const Synod__Wire__GroupHeartbeatResponse *r)
{
	uint64_t gen = synod_client_generation(c->client);
	/* A member id the controller would refuse back (empty, above its 36
	 * bytes, or not printable ASCII without spaces: found by fuzzing)
	 * is a bad answer, not an id. */
	if (!r->has_member_epoch || r->member_epoch <= 0 ||
	    (kind == REQ_JOIN && !valid_member_id(r->member_id))) {
		seterr(c, SYNOD_EINVALID_REQUEST,
		       "%s: answer without a valid member id or epoch",
		       kind == REQ_JOIN ? "join" : "heartbeat");
		failed(c, kind);
		return;
	}
	if (kind == REQ_JOIN) {
		char *id = strdup(r->member_id);
		if (id == NULL) {
			seterr(c, SYNOD_ENOMEM, "join: out of memory");
			failed(c, kind);
			return;
		}
		free(c->member_id);
		c->member_id = id;
		/* An older controller chooses the id itself: rejoin with it. */
		snprintf(c->join_id, sizeof c->join_id, "%s", id);
		c->member = 1;
		c->applied_version = 0;
		c->reported_version = 0;
		c->backoff_ms = JOIN_BACKOFF_MIN_MS;
		c->unreleased_seen = 0;
	} else {
		/* A heartbeat of this membership was acknowledged: the next
		 * fence may rejoin at once. */
		c->rejoin_fast = 1;
	}
	c->stats.answers_ok++;
	c->epoch = r->member_epoch;
	c->ack_sent_ns = c->sent_ns;
	if (c->inflight_has_owned && c->inflight_owned_ver > c->acked_owned_ver)
		c->acked_owned_ver = c->inflight_owned_ver;
	if (c->inflight_has_owned &&
	    c->inflight_owned_from > c->reported_version)
		c->reported_version = c->inflight_owned_from;
	if (gen != c->synced_gen) {
		/* The request travelled on another connection than the last
		 * answer: pushes may have been lost on the old one. */
		if (!c->inflight_full)
			c->need_full = c->full_now = 1;
		c->synced_gen = gen;
	}
	if (r->has_heartbeat_interval_ms && r->heartbeat_interval_ms > 0)
		c->heartbeat_ms = r->heartbeat_interval_ms;
	/* The group's session timeout when it is shorter than the one
	 * configured: the member fences itself no later than the
	 * controller fences it. */
	if (r->has_session_timeout_ms && r->session_timeout_ms > 0 &&
	    r->session_timeout_ms < c->session_ms) {
		c->session_ms = r->session_timeout_ms;
		clamp_request_timeout(c);
	}
	arm(c, c->heartbeat_ms);
	/* May fence at once: the request was sent within its timeout, but
	 * a session this answer just lowered may have ended since. */
	arm_lease(c);
	if (c->closing || !c->member)
		return;
	if (c->state == SYNOD_CONSUMER_LEAVING) {
		pump(c); /* the leave, once nothing is being revoked */
		return;
	}
	update_state(c); /* a join: a member now */
	if (c->closing)
		return;
	if (r->assignment && (!r->has_assignment_version ||
			      r->assignment_version >= c->applied_version)) {
		apply_assignment(
		    c, r->assignment,
		    r->has_assignment_version ? r->assignment_version : 0);
		if (c->closing)
			return;
	}
	update_state(c);
	if (c->closing)
		return;
	pump(c);
	names_gc(c);
}

static void on_answer(void *arg, int status, const uint8_t *body, size_t len)
{
	struct synod_consumer *c = arg;
	Synod__Wire__GroupHeartbeatResponse *r = NULL;
	int kind = c->inflight;
	c->inflight = REQ_NONE;
	if (c->closing || terminal(c))
		return;
	if (c->inflight_mgen != c->mgen) {
		/* Sent for a membership given up meanwhile (self-fenced):
		 * whatever it says is about the old one. Rejoin now. */
		if (!c->member && c->state == SYNOD_CONSUMER_FENCED)
			arm(c, 0);
		return;
	}
	if (kind == REQ_LEAVE) {
		/* Answered, refused or timed out: gone either way. */
		left(c);
		return;
	}
	if (status == SYNOD_OK) {
		r = synod__wire__group_heartbeat_response__unpack(NULL, len,
								  body);
		if (r == NULL || r->status == NULL) {
			if (r)
				synod__wire__group_heartbeat_response__free_unpacked(
				    r, NULL);
			seterr(c, SYNOD_EINVALID_REQUEST,
			       "%s: undecodable answer",
			       kind == REQ_JOIN ? "join" : "heartbeat");
			failed(c, kind);
			return;
		}
	}
	if (status != SYNOD_OK) {
		seterr(c, status, "%s: %s (%s)",
		       kind == REQ_JOIN ? "join" : "heartbeat",
		       synod_strerror(status), synod_client_errmsg(c->client));
		if (status == SYNOD_ECLUSTER_ID_MISMATCH) {
			c->stats.failures++;
			fail(c);
			return;
		}
		failed(c, kind);
		return;
	}
	if (r->status->code == SYNOD_OK)
		answered(c, kind, r);
	else
		refused(c, kind, r->status->code, r->status->message);
	synod__wire__group_heartbeat_response__free_unpacked(r, NULL);
}

/* ---- pushes ---- */

static void on_push(void *arg, uint16_t api, const uint8_t *body, size_t len)
{
	struct synod_consumer *c = arg;
	Synod__Wire__GroupAssignmentPush *p;
	if (c->closing || terminal(c) || api != SYNOD_API_GROUP_ASSIGNMENT_PUSH)
		return;
	c->stats.pushes++;
	p = synod__wire__group_assignment_push__unpack(NULL, len, body);
	if (p == NULL || p->assignment == NULL) {
		if (p)
			synod__wire__group_assignment_push__free_unpacked(p,
									  NULL);
		c->stats.pushes_ignored++;
		seterr(c, SYNOD_EINVALID_REQUEST,
		       "undecodable assignment push");
		/* What it said comes with the answer to a full request. */
		c->need_full = c->full_now = 1;
		report(c);
		pump(c);
		return;
	}
	if (!c->member || c->state == SYNOD_CONSUMER_LEAVING ||
	    strcmp(p->group_id, c->group_id) != 0 ||
	    strcmp(p->member_id, c->member_id) != 0 ||
	    p->member_epoch < c->epoch || p->version <= c->applied_version) {
		c->stats.pushes_ignored++;
		synod__wire__group_assignment_push__free_unpacked(p, NULL);
		return;
	}
	c->epoch = p->member_epoch;
	if (apply_assignment(c, p->assignment, p->version) == SYNOD_OK)
		c->stats.pushes_applied++;
	else
		c->stats.pushes_ignored++;
	synod__wire__group_assignment_push__free_unpacked(p, NULL);
	if (c->closing)
		return;
	update_state(c);
	if (c->closing)
		return;
	pump(c);
	names_gc(c);
}

/* ---- work the public calls asked for ---- */

static void begin_leave(struct synod_consumer *c)
{
	struct tpset busy = {0}, rev = {0};
	if (!c->member) {
		if (c->inflight == REQ_JOIN && c->inflight_mgen == c->mgen)
			set_state(c,
				  SYNOD_CONSUMER_LEAVING); /* answer decides */
		else
			left(c);
		return;
	}
	set_state(c, SYNOD_CONSUMER_LEAVING);
	if (c->closing)
		return;
	if (busy_set(c, &busy) != 0 || set_minus(&rev, &c->owned, &busy) != 0) {
		/* Leave without the application's revocation: its
		 * partitions are lost. */
		set_free(&busy);
		set_free(&rev);
		seterr(c, SYNOD_ENOMEM, "leave: out of memory");
		report(c);
		if (!c->closing)
			left(c);
		return;
	}
	set_free(&busy);
	if (rev.n > 0)
		start_revocation(c, &rev);
	set_free(&rev);
}

static void on_kick(uv_timer_t *t)
{
	struct synod_consumer *c = t->data;
	if (c->closing || terminal(c))
		return;
	reap_batches(c);
	if (c->leave_wanted && c->state != SYNOD_CONSUMER_LEAVING) {
		begin_leave(c);
		if (c->closing || terminal(c))
			return;
		reap_batches(c);
	}
	/* Partitions listed again after their revocation completed. */
	reconcile(c);
	if (c->closing)
		return;
	update_state(c);
	if (c->closing)
		return;
	pump(c);
	names_gc(c);
}

/* ---- public API ---- */

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_consumer(struct synod_consumer *c)
{
	free(c->bootstrap);
	free(c->cluster_id);
	free(c->tls_ca);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->group_id);
	free(c->instance_id);
	free(c->rack);
	free(c->client_id);
	free(c->assignor);
	free_strv(c->topics, c->n_topics);
	free(c->regex);
	free(c->member_id);
	free_batches(c);
	set_free(&c->owned);
	set_free(&c->target);
	for (size_t i = 0; i < c->n_names; i++)
		free(c->names[i].name);
	free(c->names);
	free(c);
}

static char *dup_opt(const char *s, int *nomem)
{
	char *d;
	if (s == NULL || s[0] == '\0')
		return NULL;
	if ((d = strdup(s)) == NULL)
		*nomem = 1;
	return d;
}

static int valid_subscription(const char *const *topics, size_t n,
			      const char *regex)
{
	regex_t re;
	if (n > 0 && topics == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (topics[i] == NULL || topics[i][0] == '\0')
			return 0;
	if (regex && regex[0]) {
		if (regcomp(&re, regex, REG_EXTENDED | REG_NOSUB) != 0)
			return 0;
		regfree(&re);
	}
	return n > 0 || (regex && regex[0]);
}

/* Copies of a subscription: SYNOD_OK or SYNOD_ENOMEM (nothing kept). */
static int copy_subscription(const char *const *topics, size_t n,
			     const char *regex, char ***out_topics,
			     char **out_regex)
{
	char **v = NULL;
	int nomem = 0;
	if (n > 0) {
		v = calloc(n, sizeof *v);
		if (v == NULL)
			return SYNOD_ENOMEM;
		for (size_t i = 0; i < n; i++)
			v[i] = dup_opt(topics[i], &nomem);
	}
	*out_regex = dup_opt(regex, &nomem);
	if (nomem) {
		free_strv(v, n);
		free(*out_regex);
		*out_regex = NULL;
		return SYNOD_ENOMEM;
	}
	*out_topics = v;
	return SYNOD_OK;
}

static int make_client(struct synod_consumer *c)
{
	struct synod_client_config cfg = {0};
	int rv;
	cfg.bootstrap = c->bootstrap;
	cfg.cluster_id = c->cluster_id;
	cfg.tls_ca_file = c->tls_ca;
	cfg.tls_cert_file = c->tls_cert;
	cfg.tls_key_file = c->tls_key;
	cfg.request_timeout_ms = c->request_timeout_ms;
	cfg.max_frame = c->max_frame;
	cfg.liveness_timeout_ms = c->liveness_ms;
	if (c->request_timeout_ms < 1000)
		cfg.connect_timeout_ms = c->request_timeout_ms;
	rv = synod_client_new(c->loop, &cfg, &c->client);
	if (rv == SYNOD_OK)
		synod_client_on_push(c->client, on_push, c);
	return rv;
}

int synod_consumer_new(uv_loop_t *loop, const struct synod_consumer_config *cfg,
		       const struct synod_consumer_callbacks *cbs,
		       struct synod_consumer **out)
{
	struct synod_consumer *c;
	int nomem = 0, rv;
	if (cfg == NULL || out == NULL || cfg->bootstrap == NULL ||
	    cfg->bootstrap[0] == '\0' || cfg->cluster_id == NULL ||
	    cfg->cluster_id[0] == '\0' || cfg->group_id == NULL ||
	    cfg->group_id[0] == '\0' || strlen(cfg->group_id) > GROUP_ID_MAX ||
	    !valid_subscription(cfg->topics, cfg->n_topics, cfg->topic_regex))
		return SYNOD_EINVALID_ARGUMENT;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return SYNOD_ENOMEM;
	c->bootstrap = dup_opt(cfg->bootstrap, &nomem);
	c->cluster_id = dup_opt(cfg->cluster_id, &nomem);
	c->tls_ca = dup_opt(cfg->tls_ca_file, &nomem);
	c->tls_cert = dup_opt(cfg->tls_cert_file, &nomem);
	c->tls_key = dup_opt(cfg->tls_key_file, &nomem);
	c->group_id = dup_opt(cfg->group_id, &nomem);
	c->instance_id = dup_opt(cfg->instance_id, &nomem);
	c->rack = dup_opt(cfg->rack, &nomem);
	c->client_id = dup_opt(cfg->client_id, &nomem);
	c->assignor = dup_opt(cfg->server_assignor, &nomem);
	if (nomem ||
	    copy_subscription(cfg->topics, cfg->n_topics, cfg->topic_regex,
			      &c->topics, &c->regex) != SYNOD_OK) {
		free_consumer(c);
		return SYNOD_ENOMEM;
	}
	c->n_topics = cfg->n_topics;
	if (seed(c) != 0 || make_join_id(c) != 0) {
		free_consumer(c);
		return SYNOD_EUNKNOWN;
	}
	c->rebalance_ms = cfg->rebalance_timeout_ms ? cfg->rebalance_timeout_ms
						    : DEFAULT_REBALANCE_MS;
	if (c->rebalance_ms > INT32_MAX)
		c->rebalance_ms = INT32_MAX;
	c->session_ms = cfg->session_timeout_ms ? cfg->session_timeout_ms
						: DEFAULT_SESSION_MS;
	c->request_timeout_ms = cfg->request_timeout_ms
				    ? cfg->request_timeout_ms
				    : DEFAULT_REQUEST_TIMEOUT_MS;
	clamp_request_timeout(c);
	c->unreleased_retry_ms = cfg->unreleased_retry_ms;
	c->liveness_ms = cfg->liveness_timeout_ms;
	c->max_frame = cfg->max_frame;
	if (cbs)
		c->cbs = *cbs;
	c->state = SYNOD_CONSUMER_JOINING;
	c->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
	c->backoff_ms = JOIN_BACKOFF_MIN_MS;
	c->rejoin_fast = 1;
	if (loop == NULL) {
		if (uv_loop_init(&c->own_loop) != 0) {
			free_consumer(c);
			return SYNOD_ENOMEM;
		}
		c->loop = &c->own_loop;
		c->owns_loop = 1;
	} else {
		c->loop = loop;
	}
	rv = make_client(c);
	if (rv != SYNOD_OK) {
		if (c->owns_loop)
			uv_loop_close(&c->own_loop);
		free_consumer(c);
		return rv;
	}
	uv_timer_init(c->loop, &c->timer);
	uv_timer_init(c->loop, &c->fence_timer);
	uv_timer_init(c->loop, &c->kick_timer);
	c->timer.data = c->fence_timer.data = c->kick_timer.data = c;
	c->open_timers = 3;
	*out = c;
	return SYNOD_OK;
}

int synod_consumer_start(struct synod_consumer *c)
{
	int rv;
	if (c->started || c->closing || terminal(c) || c->leave_wanted)
		return SYNOD_EBUSY;
	rv = send_request(c, REQ_JOIN);
	if (rv != SYNOD_OK)
		return rv;
	c->started = 1;
	return SYNOD_OK;
}

int synod_consumer_revoke_done(struct synod_consumer *c, uint64_t token)
{
	if (c->closing)
		return SYNOD_ESHUTTING_DOWN;
	if (token == SYNOD_CONSUMER_LOST)
		return SYNOD_ENOT_FOUND;
	for (struct batch *b = c->batches; b; b = b->next) {
		if (b->token != token)
			continue;
		if (b->done)
			return SYNOD_ENOT_FOUND;
		complete_batch(c, b);
		return SYNOD_OK;
	}
	return SYNOD_ENOT_FOUND;
}

int synod_consumer_subscribe(struct synod_consumer *c,
			     const char *const *topics, size_t n_topics,
			     const char *topic_regex)
{
	char **v = NULL, *re = NULL;
	if (c->closing || terminal(c) || c->leave_wanted ||
	    c->state == SYNOD_CONSUMER_LEAVING)
		return SYNOD_ESHUTTING_DOWN;
	if (!valid_subscription(topics, n_topics, topic_regex))
		return SYNOD_EINVALID_ARGUMENT;
	if (copy_subscription(topics, n_topics, topic_regex, &v, &re) !=
	    SYNOD_OK)
		return SYNOD_ENOMEM;
	free_strv(c->topics, c->n_topics);
	free(c->regex);
	c->topics = v;
	c->n_topics = n_topics;
	c->regex = re;
	c->need_full = c->full_now = 1;
	kick(c);
	return SYNOD_OK;
}

int synod_consumer_leave(struct synod_consumer *c)
{
	if (c->closing || terminal(c) || c->leave_wanted)
		return SYNOD_OK;
	c->leave_wanted = 1;
	kick(c);
	return SYNOD_OK;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct synod_consumer *c = h->data;
	if (--c->open_timers == 0 && !c->owns_loop)
		free_consumer(c);
}

/* Private loop: let the client and timers finish closing, then free. */
static void finish_private(struct synod_consumer *c)
{
	uv_run(c->loop, UV_RUN_DEFAULT);
	uv_loop_close(c->loop);
	free_consumer(c);
}

void synod_consumer_close(struct synod_consumer *c)
{
	if (c == NULL || c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	uv_timer_stop(&c->fence_timer);
	uv_timer_stop(&c->kick_timer);
	/* Fails the request in flight with CANCELED; on_answer ignores it. */
	synod_client_close(c->client);
	c->client = NULL;
	uv_close((uv_handle_t *)&c->timer, on_timer_closed);
	uv_close((uv_handle_t *)&c->fence_timer, on_timer_closed);
	uv_close((uv_handle_t *)&c->kick_timer, on_timer_closed);
	if (c->owns_loop && !c->running)
		finish_private(c);
}

int synod_consumer_run(struct synod_consumer *c)
{
	int rv = SYNOD_OK;
	if (!c->owns_loop || c->running || c->closing ||
	    (!c->started && !c->leave_wanted && !terminal(c)))
		return SYNOD_EINVALID_ARGUMENT;
	c->running = 1;
	while (!c->closing && !terminal(c))
		if (uv_run(c->loop, UV_RUN_ONCE) == 0 && !c->closing &&
		    !terminal(c) && !uv_loop_alive(c->loop))
			break; /* nothing left to wait for (cannot happen) */
	c->running = 0;
	if (c->closing) {
		finish_private(c);
		return SYNOD_OK;
	}
	if (c->state == SYNOD_CONSUMER_FAILED)
		rv = c->err ? c->err : SYNOD_EUNKNOWN;
	return rv;
}

enum synod_consumer_state synod_consumer_state(const struct synod_consumer *c)
{
	return c->state;
}

const char *synod_consumer_member_id(const struct synod_consumer *c)
{
	return c->member_id ? c->member_id : "";
}

int32_t synod_consumer_member_epoch(const struct synod_consumer *c)
{
	return c->member ? c->epoch : 0;
}

unsigned synod_consumer_heartbeat_interval(const struct synod_consumer *c)
{
	return c->heartbeat_ms;
}

uint64_t synod_consumer_assignment_version(const struct synod_consumer *c)
{
	return c->applied_version;
}

size_t synod_consumer_owned(const struct synod_consumer *c,
			    const struct synod_tp **out)
{
	if (out)
		*out = c->owned.v;
	return c->owned.n;
}

size_t synod_consumer_revocations_outstanding(const struct synod_consumer *c)
{
	return outstanding(c);
}

int synod_consumer_session_expired(const struct synod_consumer *c)
{
	uint64_t end = lease_end_ns(c);
	return end != 0 && uv_hrtime() >= end;
}

int synod_consumer_error(const struct synod_consumer *c, const char **msg)
{
	if (msg)
		*msg = c->errmsg;
	return c->err;
}

void synod_consumer_stats(const struct synod_consumer *c,
			  struct synod_consumer_stats *out)
{
	*out = c->stats;
}
