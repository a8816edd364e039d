/* tools/bench_groups.c - synod-bench groups: consumer groups under load.
 *
 * Members are plain structs driven by raw GROUP_HEARTBEAT requests over a
 * few shared connections (not one process or library instance each):
 * what is measured is the controller. Every member behaves like the C
 * consumer library: it heartbeats at the interval it is told, applies an
 * assignment from an answer or a push when it is newer, gives up revoked
 * partitions at once and reports what it owns in its next heartbeat,
 * which it sends at once after any change. Steady heartbeats carry only
 * group id, member id and epoch.
 *
 * Two sections (docs/benchmarks.md has the figures):
 *  1. one large group (--big-members over one topic of --big-partitions,
 *     session --big-session-ms through a group override): a member stops
 *     after a heartbeat; time from the fence entry (first push) and from
 *     its session deadline until the survivors hold every partition
 *     again, raft bytes of that rebalance;
 *  2. --group-members members in --groups groups: join time, RSS, SQLite
 *     and raft bytes per member, then a --window of steady heartbeats:
 *     heartbeats/s, the leader's CPU, answer latency, false fences.
 * Figures, never pass/fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/resource.h>

#include "bench.h"
#include "common.h"
#include "synod/broker.h"

#define WHEEL 65536 /* 1 ms slots: 65 s ahead at most */
#define JOINS_IN_FLIGHT 256
#define NO_MEMBER UINT32_MAX

enum { HB_JOIN, HB_BEAT, HB_LEAVE };

struct gm {
	char id[40];
	int32_t epoch;
	uint32_t group; /* < groups: small group; == groups: the big one */
	uint32_t conn;
	uint32_t interval_ms;
	uint32_t gen; /* schedule generation: older wheel entries are void */
	uint64_t version;
	uint8_t *owned; /* packed GroupPartitionSet, NULL: none */
	size_t owned_len;
	uint32_t n_owned;
	unsigned joined : 1, inflight : 1, again : 1, dirty : 1, dead : 1,
	    big : 1, active : 1;
};

struct slot {
	struct {
		uint32_t m, gen;
	} * e;
	uint32_t n, cap;
};

struct gb {
	uv_loop_t loop;
	struct synod_client **cl;
	unsigned n_cl;
	struct gm *m;
	uint32_t n;
	uint32_t *ht; /* member id -> index + 1 (open addressing) */
	size_t ht_cap;
	struct slot wheel[WHEEL];
	uint64_t wheel_pos; /* next 1 ms slot to run */
	uv_timer_t tick;
	unsigned groups, topics;
	/* joins: members [join_next, join_end) still to send */
	uint32_t join_next, join_end;
	unsigned join_inflight;
	uint64_t joins_ok, sent, ok, errors, fenced, pushes;
	/* answer latency of steady heartbeats while measuring */
	int measuring;
	uint64_t *lat;
	size_t n_lat, cap_lat;
	/* the big group */
	uint64_t owned_big, want_big;
	uint32_t crash; /* member to stop after its next answer */
	uint64_t t_crash_us, t_first_push_us, t_all_us;
	int watching;
	/* GROUP_LIST, polled every second while asked */
	int polling, list_inflight;
	uint64_t last_poll_ms, list_sent_ms, list_seen_ms, joins_done_ms;
	unsigned stable_small, big_stable, big_empty;
};

/* ---- names, member ids ---- */

static void group_name(const struct gb *x, uint32_t g, char *out, size_t n)
{
	if (g == x->groups)
		snprintf(out, n, "bench-big");
	else
		snprintf(out, n, "bench-g-%05u", g);
}

static void topic_name(const struct gb *x, uint32_t g, char *out, size_t n)
{
	if (g == x->groups)
		snprintf(out, n, "bench-big");
	else
		snprintf(out, n, "bench-gt-%04u", g % x->topics);
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static void ht_put(struct gb *x, uint32_t i)
{
	size_t k = hash_str(x->m[i].id) & (x->ht_cap - 1);
	while (x->ht[k] != 0 && x->ht[k] != i + 1)
		k = (k + 1) & (x->ht_cap - 1);
	x->ht[k] = i + 1;
}

static uint32_t ht_get(const struct gb *x, const char *id)
{
	size_t k = hash_str(id) & (x->ht_cap - 1);
	while (x->ht[k] != 0) {
		if (strcmp(x->m[x->ht[k] - 1].id, id) == 0)
			return x->ht[k] - 1;
		k = (k + 1) & (x->ht_cap - 1);
	}
	return NO_MEMBER;
}

/* ---- assignments ---- */

static void take(struct gb *x, struct gm *m,
		 const Synod__Wire__GroupPartitionSet *set, uint64_t version)
{
	uint32_t n = 0;
	size_t len = synod__wire__group_partition_set__get_packed_size(set);
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return;
	synod__wire__group_partition_set__pack(set, buf);
	for (size_t t = 0; t < set->n_topics; t++)
		n += (uint32_t)set->topics[t]->n_partitions;
	if (m->big && !m->dead) {
		x->owned_big += n;
		x->owned_big -= m->n_owned;
		if (x->watching && x->owned_big == x->want_big &&
		    x->t_all_us == 0)
			x->t_all_us = tool_now_us();
	}
	free(m->owned);
	m->owned = buf;
	m->owned_len = len;
	m->n_owned = n;
	m->version = version;
	m->dirty = 1;
}

/* ---- heartbeats ---- */

struct hbreq {
	struct gb *x;
	uint32_t i;
	uint8_t kind, steady, reported;
	uint64_t t0;
};

static void schedule(struct gb *x, uint32_t i, uint64_t due_ms)
{
	struct gm *m = &x->m[i];
	uint64_t s = due_ms;
	struct slot *b;
	if (s < x->wheel_pos)
		s = x->wheel_pos;
	if (s >= x->wheel_pos + WHEEL - 1)
		s = x->wheel_pos + WHEEL - 2;
	b = &x->wheel[s % WHEEL];
	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 64;
		void *e = realloc(b->e, cap * sizeof *b->e);
		if (e == NULL)
			return;
		b->e = e;
		b->cap = cap;
	}
	b->e[b->n].m = i;
	b->e[b->n].gen = ++m->gen;
	b->n++;
}

static void on_hb(void *arg, int status, const uint8_t *body, size_t len);

static void send_hb(struct gb *x, uint32_t i, int kind)
{
	struct gm *m = &x->m[i];
	Synod__Wire__GroupHeartbeatRequest r =
	    SYNOD__WIRE__GROUP_HEARTBEAT_REQUEST__INIT;
	Synod__Wire__GroupTopicNames names =
	    SYNOD__WIRE__GROUP_TOPIC_NAMES__INIT;
	Synod__Wire__GroupPartitionSet none =
	    SYNOD__WIRE__GROUP_PARTITION_SET__INIT;
	Synod__Wire__GroupPartitionSet *owned = NULL;
	char gname[32], tname[32], *np = tname;
	struct hbreq *q = calloc(1, sizeof *q);
	if (q == NULL)
		return;
	group_name(x, m->group, gname, sizeof gname);
	topic_name(x, m->group, tname, sizeof tname);
	r.group_id = gname;
	q->x = x;
	q->i = i;
	q->kind = (uint8_t)kind;
	if (kind == HB_JOIN) {
		names.n_names = 1;
		names.names = &np;
		r.subscribed_topic_names = &names;
		r.has_rebalance_timeout_ms = 1;
		r.rebalance_timeout_ms = 30000;
		r.client_id = "synod-bench";
	} else {
		r.member_id = m->id;
		r.member_epoch = kind == HB_LEAVE ? -1 : m->epoch;
		if (kind == HB_BEAT && m->dirty) {
			owned = m->owned
				    ? synod__wire__group_partition_set__unpack(
					  NULL, m->owned_len, m->owned)
				    : NULL;
			r.owned = owned ? owned : &none;
			r.has_assignment_version = 1;
			r.assignment_version = m->version;
			q->reported = 1;
		}
		q->steady = kind == HB_BEAT && !q->reported;
	}
	q->t0 = tool_now_us();
	m->gen++; /* a pending wheel entry is void: the answer reschedules */
	if (synod_client_send(x->cl[m->conn], SYNOD_API_GROUP_HEARTBEAT,
			      &r.base, 1, on_hb, q) != SYNOD_OK) {
		free(q);
		x->errors++;
		schedule(x, i, tool_now_ms() + 100);
	} else {
		m->inflight = 1;
		if (q->reported)
			m->dirty = 0;
		if (kind == HB_JOIN)
			x->join_inflight++;
		x->sent++;
	}
	if (owned)
		synod__wire__group_partition_set__free_unpacked(owned, NULL);
}

static void on_hb(void *arg, int status, const uint8_t *body, size_t len)
{
	struct hbreq *q = arg;
	struct gb *x = q->x;
	uint32_t i = q->i;
	struct gm *m = &x->m[i];
	Synod__Wire__GroupHeartbeatResponse *r = NULL;
	uint64_t now = tool_now_us();
	int code = status;
	m->inflight = 0;
	if (q->kind == HB_JOIN)
		x->join_inflight--;
	if (status == SYNOD_OK) {
		r = synod__wire__group_heartbeat_response__unpack(NULL, len,
								  body);
		code = r ? r->status->code : SYNOD_EUNKNOWN;
	}
	if (code == SYNOD_OK) {
		x->ok++;
		if (q->kind == HB_JOIN && r->member_id) {
			snprintf(m->id, sizeof m->id, "%s", r->member_id);
			ht_put(x, i);
			m->joined = 1;
			x->joins_ok++;
		}
		if (q->kind == HB_LEAVE)
			m->dead = 1;
		if (r->has_member_epoch && r->member_epoch > m->epoch)
			m->epoch = r->member_epoch;
		if (r->has_heartbeat_interval_ms)
			m->interval_ms = r->heartbeat_interval_ms;
		if (r->assignment && r->assignment_version > m->version)
			take(x, m, r->assignment, r->assignment_version);
		if (q->steady && x->measuring) {
			if (x->n_lat == x->cap_lat) {
				size_t cap =
				    x->cap_lat ? x->cap_lat * 2 : 1u << 20;
				void *l = realloc(x->lat, cap * sizeof *x->lat);
				if (l) {
					x->lat = l;
					x->cap_lat = cap;
				}
			}
			if (x->n_lat < x->cap_lat)
				x->lat[x->n_lat++] = now - q->t0;
		}
		if (i == x->crash && q->kind == HB_BEAT && !m->dead) {
			/* The victim: stops right after this answer. */
			m->dead = 1;
			x->owned_big -= m->n_owned;
			x->t_crash_us =
			    q->t0; /* its session counts from here */
			x->watching = 1;
		}
	} else {
		if (q->reported)
			m->dirty = 1;
		if (code == SYNOD_EUNKNOWN_MEMBER_ID ||
		    code == SYNOD_EFENCED_MEMBER_EPOCH) {
			/* Fenced: rejoin, as the library does. */
			x->fenced++;
			if (m->big && !m->dead)
				x->owned_big -= m->n_owned;
			m->joined = 0;
			m->epoch = 0;
			m->version = 0;
			m->n_owned = 0;
			free(m->owned);
			m->owned = NULL;
		} else {
			x->errors++;
		}
	}
	free(q);
	if (r)
		synod__wire__group_heartbeat_response__free_unpacked(r, NULL);
	if (m->dead || !m->active)
		return;
	if (code != SYNOD_OK)
		schedule(x, i, tool_now_ms() + 100);
	else if (m->again || m->dirty) {
		m->again = 0;
		send_hb(x, i, m->joined ? HB_BEAT : HB_JOIN);
	} else {
		schedule(x, i, tool_now_ms() + m->interval_ms);
	}
}

static void on_push(void *arg, uint16_t api, const uint8_t *body, size_t len)
{
	struct gb *x = arg;
	Synod__Wire__GroupAssignmentPush *p;
	uint32_t i;
	if (api != SYNOD_API_GROUP_ASSIGNMENT_PUSH)
		return;
	p = synod__wire__group_assignment_push__unpack(NULL, len, body);
	if (p == NULL)
		return;
	x->pushes++;
	i = ht_get(x, p->member_id);
	if (i != NO_MEMBER && !x->m[i].dead && p->version > x->m[i].version) {
		struct gm *m = &x->m[i];
		if (x->watching && m->big && x->t_first_push_us == 0)
			x->t_first_push_us = tool_now_us();
		take(x, m, p->assignment, p->version);
		if (p->member_epoch > m->epoch)
			m->epoch = p->member_epoch;
		if (m->inflight)
			m->again = 1;
		else if (m->active)
			send_hb(x, i, HB_BEAT);
	}
	synod__wire__group_assignment_push__free_unpacked(p, NULL);
}

/* ---- GROUP_LIST polling ---- */

static void on_list(void *arg, int status, const uint8_t *body, size_t len)
{
	struct gb *x = arg;
	Synod__Wire__GroupListResponse *r = NULL;
	x->list_inflight = 0;
	if (status == SYNOD_OK)
		r = synod__wire__group_list_response__unpack(NULL, len, body);
	if (r && r->status->code == SYNOD_OK) {
		x->list_seen_ms = x->list_sent_ms;
		x->stable_small = 0;
		x->big_stable = 0;
		for (size_t k = 0; k < r->n_groups; k++) {
			const Synod__Wire__GroupSummary *g = r->groups[k];
			int stable = strcmp(g->state, "stable") == 0;
			if (strcmp(g->group_id, "bench-big") == 0) {
				x->big_stable = stable;
				x->big_empty = g->members == 0;
			} else if (stable)
				x->stable_small++;
		}
	}
	if (r)
		synod__wire__group_list_response__free_unpacked(r, NULL);
}

static void on_tick(uv_timer_t *t)
{
	struct gb *x = t->data;
	uint64_t now = tool_now_ms();
	while (x->join_next < x->join_end &&
	       x->join_inflight < JOINS_IN_FLIGHT) {
		x->m[x->join_next].active = 1;
		send_hb(x, x->join_next++, HB_JOIN);
	}
	if (x->joins_done_ms == 0 && x->join_next == x->join_end &&
	    x->join_inflight == 0)
		x->joins_done_ms = now;
	while (x->wheel_pos <= now) {
		struct slot *b = &x->wheel[x->wheel_pos % WHEEL];
		for (uint32_t k = 0; k < b->n; k++) {
			struct gm *m = &x->m[b->e[k].m];
			if (b->e[k].gen != m->gen || m->dead || !m->active)
				continue;
			if (m->inflight)
				m->again = 1;
			else
				send_hb(x, b->e[k].m,
					m->joined ? HB_BEAT : HB_JOIN);
		}
		b->n = 0;
		x->wheel_pos++;
	}
	if (x->polling && !x->list_inflight && now - x->last_poll_ms >= 1000) {
		Synod__Wire__GroupListRequest req =
		    SYNOD__WIRE__GROUP_LIST_REQUEST__INIT;
		if (synod_client_send(x->cl[0], SYNOD_API_GROUP_LIST, &req.base,
				      1, on_list, x) == SYNOD_OK) {
			x->list_inflight = 1;
			x->list_sent_ms = now;
		}
		x->last_poll_ms = now;
	}
}

/* Runs the loop until done(x) or `secs` have passed; 1 when done. */
static int run(struct gb *x, double secs, int (*done)(struct gb *))
{
	uint64_t end = tool_now_us() + (uint64_t)(secs * 1e6);
	while (tool_now_us() < end) {
		if (done && done(x))
			return 1;
		uv_run(&x->loop, UV_RUN_ONCE);
	}
	return done ? done(x) : 1;
}

/* ---- cluster figures and setup ---- */

/* The figures of the node that leads now. */
static struct bench_figures lfig(struct cluster *c)
{
	return bench_figures(c, cluster_wait_leader(c, 10000));
}

/* "", or a note that the leader changed between two figures. */
static const char *elections(const struct bench_figures *a,
			     const struct bench_figures *b)
{
	static char out[96];
	if (a->id == b->id && a->term == b->term)
		return "";
	snprintf(out, sizeof out,
		 " [ELECTION: leader %u term %llu -> leader %u term %llu]",
		 a->id, (unsigned long long)a->term, b->id,
		 (unsigned long long)b->term);
	return out;
}

/* Resets every node's loop stall figures (NODE_STATUS reset). */
static void stalls_reset(struct cluster *c)
{
	for (unsigned id = 1; id <= c->n; id++) {
		Synod__Wire__NodeStatusResponse *s =
		    cluster_node_status_ex(c, id, 3000, 1);
		if (s)
			synod__wire__node_status_response__free_unpacked(s,
									 NULL);
	}
}

/* "X ms": the largest loop stall of any node since stalls_reset(), with
 * the slowest entry apply and the last snapshot copy (the usual causes). */
static const char *stalls_max(struct cluster *c)
{
	static char out[128];
	uint64_t worst = 0, apply = 0, snap = 0;
	for (unsigned id = 1; id <= c->n; id++) {
		struct bench_figures f = bench_figures(c, id);
		worst = f.stall_us > worst ? f.stall_us : worst;
		apply = f.apply_us > apply ? f.apply_us : apply;
		snap = f.snap_us > snap ? f.snap_us : snap;
	}
	snprintf(out, sizeof out,
		 "%.1f ms (slowest entry apply %.1f ms, last snapshot copy "
		 "%.1f ms)",
		 (double)worst / 1000.0, (double)apply / 1000.0,
		 (double)snap / 1000.0);
	return out;
}

static int create_topic(struct cluster *c, const char *name, unsigned parts)
{
	Synod__Wire__CreateTopicsRequest req =
	    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
	Synod__Wire__CreatableTopic ct = SYNOD__WIRE__CREATABLE_TOPIC__INIT;
	Synod__Wire__CreatableTopic *ctp = &ct;
	Synod__Wire__CreateTopicsResponse *r = NULL;
	struct synod_client *cl = cluster_client(c, 60000);
	int rv;
	ct.name = (char *)name;
	ct.has_partitions = ct.has_replication_factor = 1;
	ct.partitions = parts;
	ct.replication_factor = 1;
	req.n_topics = 1;
	req.topics = &ctp;
	rv = synod_client_call(cl, SYNOD_API_CREATE_TOPICS, &req.base, 1,
			       &synod__wire__create_topics_response__descriptor,
			       (ProtobufCMessage **)&r);
	if (rv == SYNOD_OK)
		rv = r->status->code != SYNOD_OK ? r->status->code
		     : r->n_results == 1	 ? r->results[0]->status->code
						 : SYNOD_EUNKNOWN;
	if (r)
		synod__wire__create_topics_response__free_unpacked(r, NULL);
	synod_client_close(cl);
	return rv;
}

static int set_group_config(struct cluster *c, const char *group,
			    const char *key, unsigned value)
{
	char v[24];
	snprintf(v, sizeof v, "%u", value);
	return bench_set_scoped(c, SYNOD_SCOPE_GROUP, group, key, v);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, size_t n, double p)
{
	return n ? (double)v[(size_t)(p * (double)(n - 1))] / 1000.0 : 0.0;
}

/* Every join answered, and a GROUP_LIST sent after that says stable. */
static int listed_after_joins(const struct gb *x)
{
	return x->joins_done_ms != 0 && x->list_seen_ms > x->joins_done_ms;
}

static int big_settled(struct gb *x)
{
	return listed_after_joins(x) && x->owned_big == x->want_big &&
	       x->big_stable;
}

static int big_gone(struct gb *x)
{
	return x->list_seen_ms > x->joins_done_ms && x->big_empty;
}

static int big_recovered(struct gb *x)
{
	return x->t_all_us != 0;
}

static int small_joined(struct gb *x)
{
	return listed_after_joins(x) && x->stable_small == x->groups;
}

/* The large group: join, settle, crash one member, time to stable.
 * 0, or -1 when it could not be done. */
static int big_group(struct cluster *c, struct gb *x,
		     const struct bench_groups_opts *o)
{
	char v[24];
	uint64_t t0;
	struct bench_figures f0, f1;
	snprintf(v, sizeof v, "%u", o->big_partitions);
	if (o->big_partitions > 5000)
		bench_set_config(c, "max.partitions.per.request", v);
	snprintf(v, sizeof v, "%u", o->big_session_ms);
	if (bench_set_config(c, "group.consumer.min.session.timeout.ms", v) !=
		SYNOD_OK ||
	    bench_set_config(c, "group.consumer.min.heartbeat.interval.ms",
			     "100") != SYNOD_OK ||
	    set_group_config(c, "bench-big", "consumer.session.timeout.ms",
			     o->big_session_ms) != SYNOD_OK ||
	    set_group_config(c, "bench-big", "consumer.heartbeat.interval.ms",
			     o->big_session_ms / 3) != SYNOD_OK ||
	    create_topic(c, "bench-big", o->big_partitions) != SYNOD_OK) {
		printf("groups big: setup failed\n");
		return -1;
	}
	x->want_big = o->big_partitions;
	x->join_next = 0;
	x->join_end = o->big_members;
	x->joins_done_ms = 0;
	x->polling = 1;
	stalls_reset(c);
	f0 = lfig(c);
	t0 = tool_now_us();
	if (!run(x, 300, big_settled)) {
		printf("groups big: %u members did not settle in 300 s "
		       "(%llu of %u partitions held)\n",
		       o->big_members, (unsigned long long)x->owned_big,
		       o->big_partitions);
		return -1;
	}
	f1 = lfig(c);
	printf("groups big: %u members over %u partitions joined and stable "
	       "in %.1f s (largest loop stall %s)%s\n",
	       o->big_members, o->big_partitions,
	       (double)(tool_now_us() - t0) / 1e6, stalls_max(c),
	       elections(&f0, &f1));
	run(x, 1.0, NULL);
	stalls_reset(c);
	f0 = lfig(c);
	/* Stop member 0 after its next answer; its session runs out. */
	x->crash = 0;
	if (!run(x, 2.0 * o->big_session_ms / 1000.0 + 30, big_recovered)) {
		printf("groups big: no recovery after the crash (%llu of %u "
		       "held)\n",
		       (unsigned long long)x->owned_big, o->big_partitions);
		return -1;
	}
	x->watching = 0;
	x->big_stable = 0;
	x->joins_done_ms = tool_now_ms();
	run(x, 10, big_settled);
	run(x, 1.0, NULL);
	f1 = lfig(c);
	printf("groups big crash: fence entry applied (first push) to every "
	       "partition held by a live member %.1f ms; session deadline "
	       "(last heartbeat sent + session) to that %.1f ms (session %u "
	       "ms, expiry checked every 100 ms)\n",
	       (double)(x->t_all_us - x->t_first_push_us) / 1000.0,
	       ((double)x->t_all_us - (double)x->t_crash_us) / 1000.0 -
		   (double)o->big_session_ms,
	       o->big_session_ms);
	printf("groups big crash: raft bytes written by the rebalance %llu "
	       "(fence, new targets, reconciliation, acks); slowest assignor "
	       "run so far %.2f ms; largest loop stall %s%s\n",
	       (unsigned long long)(f1.bytes - f0.bytes),
	       (double)f1.assign_max_us / 1000.0, stalls_max(c),
	       elections(&f0, &f1));
	/* Every member stops at once (a whole application crashes). */
	for (uint32_t i = 0; i < o->big_members; i++)
		x->m[i].dead = 1;
	f0 = lfig(c);
	stalls_reset(c);
	x->joins_done_ms = tool_now_ms();
	t0 = tool_now_us();
	if (!run(x, 3.0 * o->big_session_ms / 1000.0 + 30, big_gone)) {
		printf("groups big: members still there after the mass "
		       "crash\n");
		return -1;
	}
	f1 = lfig(c);
	printf("groups big mass crash: %u members stopped, group empty %.0f "
	       "ms later (session %u ms; polled every second), raft bytes "
	       "%llu, largest loop stall %s%s\n",
	       o->big_members - 1, (double)(tool_now_us() - t0) / 1000.0,
	       o->big_session_ms, (unsigned long long)(f1.bytes - f0.bytes),
	       stalls_max(c), elections(&f0, &f1));
	return 0;
}

int bench_groups(struct cluster *c, const struct bench_groups_opts *o)
{
	struct gb *x = calloc(1, sizeof *x);
	struct synod_broker *b[3] = {NULL, NULL, NULL};
	uint32_t base = o->big_members;
	uint64_t t0, cpu0, cpu1;
	struct bench_figures f0, f1, h0, h1;
	long hz = sysconf(_SC_CLK_TCK);
	char name[32];
	int rv = -1;
	if (x == NULL)
		return -1;
	uv_loop_init(&x->loop);
	x->groups = o->groups;
	x->topics = o->topics ? o->topics : 1;
	x->n = o->big_members + o->members;
	x->m = calloc(x->n ? x->n : 1, sizeof *x->m);
	for (x->ht_cap = 1024; x->ht_cap < 2 * (size_t)x->n; x->ht_cap *= 2)
		;
	x->ht = calloc(x->ht_cap, sizeof *x->ht);
	x->n_cl = o->conns ? o->conns : 1;
	x->cl = calloc(x->n_cl, sizeof *x->cl);
	x->crash = NO_MEMBER;
	x->wheel_pos = tool_now_ms();
	if (x->m == NULL || x->ht == NULL || x->cl == NULL)
		goto out;
	for (uint32_t i = 0; i < x->n; i++) {
		x->m[i].big = i < base;
		x->m[i].group = i < base ? o->groups : (i - base) % o->groups;
		x->m[i].conn = i % x->n_cl;
		x->m[i].interval_ms = 5000;
	}
	/* Brokers hold the topics' replicas. */
	for (int i = 0; i < 3; i++) {
		struct synod_broker_config cfg = {0};
		char rack[16];
		snprintf(rack, sizeof rack, "rack-%d", i);
		cfg.bootstrap = c->bootstrap;
		cfg.cluster_id = c->cluster_id;
		cfg.broker_id = i + 1;
		cfg.rack = rack;
		if (synod_broker_new(&x->loop, &cfg, NULL, &b[i]) != SYNOD_OK ||
		    synod_broker_start(b[i]) != SYNOD_OK) {
			printf("groups: cannot start a broker\n");
			goto out;
		}
	}
	for (t0 = tool_now_us();;) {
		int n = 0;
		uv_run(&x->loop, UV_RUN_NOWAIT);
		for (int i = 0; i < 3; i++)
			n += synod_broker_state(b[i]) == SYNOD_BROKER_ACTIVE;
		if (n == 3)
			break;
		if (tool_now_us() - t0 > 60000000ull) {
			printf("groups: brokers did not become active\n");
			goto out;
		}
		usleep(2000);
	}
	for (unsigned i = 0; i < x->n_cl; i++) {
		struct synod_client_config cc = {0};
		cc.bootstrap = c->bootstrap;
		cc.request_timeout_ms = 30000;
		if (synod_client_new(&x->loop, &cc, &x->cl[i]) != SYNOD_OK) {
			printf("groups: cannot create a client\n");
			goto out;
		}
		synod_client_on_push(x->cl[i], on_push, x);
	}
	uv_timer_init(&x->loop, &x->tick);
	x->tick.data = x;
	uv_timer_start(&x->tick, on_tick, 1, 1); /* sends spread evenly */

	if (o->big_members > 0 && big_group(c, x, o) != 0)
		goto out;

	/* Many small groups. */
	if (o->members == 0) {
		rv = 0;
		goto out;
	}
	for (unsigned t = 0; t < x->topics; t++) {
		snprintf(name, sizeof name, "bench-gt-%04u", t);
		if (create_topic(c, name, o->topic_parts) != SYNOD_OK) {
			printf("groups: cannot create topic %s\n", name);
			goto out;
		}
	}
	run(x, 0.5, NULL);
	stalls_reset(c);
	f0 = lfig(c);
	x->join_next = base;
	x->join_end = x->n;
	x->joins_done_ms = 0;
	x->polling = 1;
	x->stable_small = 0;
	t0 = tool_now_us();
	if (!run(x, 600, small_joined)) {
		printf("groups: %llu of %u members joined, %u of %u groups "
		       "stable after 600 s\n",
		       (unsigned long long)x->joins_ok - base, o->members,
		       x->stable_small, o->groups);
		goto out;
	}
	printf("groups: %u members in %u groups (%u topics x %u partitions) "
	       "joined and stable in %.1f s (largest loop stall %s)\n",
	       o->members, o->groups, x->topics, o->topic_parts,
	       (double)(tool_now_us() - t0) / 1e6, stalls_max(c));
	x->polling = 0;
	/* One interval so the heartbeats spread, then the figures. */
	run(x, 5.5, NULL);
	f1 = lfig(c);
	printf("groups memory: leader RSS +%.0f bytes per member, SQLite "
	       "image +%.0f bytes per member; raft bytes per join %.0f "
	       "(join, epoch, targets and reconciliation of its group)%s\n",
	       ((double)f1.rss - (double)f0.rss) / o->members,
	       ((double)f1.db - (double)f0.db) / o->members,
	       ((double)f1.bytes - (double)f0.bytes) / o->members,
	       elections(&f0, &f1));
	{
		uint64_t fenced0 = x->fenced, err0 = x->errors;
		struct rusage ru0, ru1;
		getrusage(RUSAGE_SELF, &ru0);
		stalls_reset(c);
		h0 = lfig(c);
		bench_cpu_ticks(c->nodes[h0.id - 1].pid, &cpu0);
		x->n_lat = 0;
		x->measuring = 1;
		t0 = tool_now_us();
		run(x, o->window, NULL);
		x->measuring = 0;
		bench_cpu_ticks(c->nodes[h0.id - 1].pid, &cpu1);
		getrusage(RUSAGE_SELF, &ru1);
		h1 = lfig(c);
		double secs = (double)(tool_now_us() - t0) / 1e6;
		double cpu_s = (double)(cpu1 - cpu0) / (double)hz;
		double hbs = (double)(h1.heartbeats - h0.heartbeats);
		qsort(x->lat, x->n_lat, sizeof *x->lat, cmp_u64);
		double self_s =
		    (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec +
			     ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		    (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec +
			     ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) /
			1e6;
		printf("groups steady: %.0f heartbeats/s, leader CPU %.1f%% of "
		       "a core (%.1f us per heartbeat), raft bytes %llu; this "
		       "process (the members) %.1f%% of a core\n",
		       hbs / secs, 100.0 * cpu_s / secs,
		       hbs > 0 ? cpu_s * 1e6 / hbs : 0.0,
		       (unsigned long long)(h1.bytes - h0.bytes),
		       100.0 * self_s / secs);
		printf("groups steady: answer p50 %.2f ms p99 %.2f ms max %.2f "
		       "ms (%zu answers); false fences %llu; errors %llu; "
		       "members the controller holds %u; largest loop stall "
		       "%s%s\n",
		       pct_ms(x->lat, x->n_lat, 0.5),
		       pct_ms(x->lat, x->n_lat, 0.99),
		       pct_ms(x->lat, x->n_lat, 1.0), x->n_lat,
		       (unsigned long long)(x->fenced - fenced0),
		       (unsigned long long)(x->errors - err0), h1.members,
		       stalls_max(c), elections(&h0, &h1));
	}
	rv = 0;
out:
	if (x->tick.data)
		uv_close((uv_handle_t *)&x->tick, NULL);
	for (unsigned i = 0; x->cl && i < x->n_cl; i++)
		if (x->cl[i])
			synod_client_close(x->cl[i]);
	for (int i = 0; i < 3; i++)
		if (b[i])
			synod_broker_close(b[i]);
	while (uv_run(&x->loop, UV_RUN_NOWAIT))
		;
	uv_loop_close(&x->loop);
	for (uint32_t i = 0; x->m && i < x->n; i++)
		free(x->m[i].owned);
	for (unsigned k = 0; k < WHEEL; k++)
		free(x->wheel[k].e);
	free(x->m);
	free(x->ht);
	free(x->cl);
	free(x->lat);
	free(x);
	fflush(stdout);
	return rv;
}
