/* tests/integration/test_group_lib.c - the consumer group library
 * (synod/group.h) against a scripted fake controller (fakectl.h) on the
 * test's loop. Each test names the invariant it protects:
 * - join: epoch 0, no member id, every field (owned present and empty);
 *   the answer's member id, epoch and assignment are taken, and the
 *   assignment reaches the application (assigned callback, names known);
 * - steady heartbeats carry only group, member id and epoch (plus owned
 *   once after it changed): small;
 * - a revocation is reported to the controller (owned) only after
 *   revoke_done, and then at once, not at the next interval; partitions
 *   newly assigned meanwhile are usable without waiting for it;
 * - pushes: a newer version is applied, an older or equal one, one for
 *   another member, group or an older epoch is ignored (never go back); a
 *   higher member epoch is adopted;
 * - FENCED_MEMBER_EPOCH / UNKNOWN_MEMBER_ID: every partition lost at once
 *   (token SYNOD_CONSUMER_LOST, outstanding tokens invalid), rejoin with
 *   epoch 0, no member id, the same instance id;
 * - after a reconnect the next heartbeat is full (pushes may be lost);
 *   when the connection changed under a request, a full one follows at
 *   once;
 * - without a revoking callback a revocation completes and is reported at
 *   once;
 * - a subscription change goes out at once in a full heartbeat;
 * - leave: revoke first, nothing sent until revoke_done, then epoch -2
 *   for a static member (-1 otherwise); LEFT after the answer or after
 *   the request timeout; a leave during the join leaves the membership
 *   it creates without handing out its partitions;
 * - UNRELEASED_INSTANCE_ID retried; fatal refusals end in FAILED after
 *   the partitions were reported lost;
 * - close from every callback: no callback afterwards, nothing leaks or is
 *   used after free (run under ASan too);
 * - no heartbeat acknowledged for the session timeout: the consumer drops
 *   its partitions no later than the controller could have ended the
 *   session, then rejoins.
 * Every wait is bounded; no fixed sleeps except "nothing happens" windows.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakectl.h"
#include "synod/group.h"

#define WAIT_MS 5000
#define CLUSTER "group-test-cluster"
#define GROUP "g1"
#define MAXP 64

/* Partitions are written topic * 1000 + partition: topic 1 "orders",
 * topic 2 "payments" (topic id: 16 bytes of the topic's number). */
#define P(topic, part) ((topic)*1000 + (part))

static const char *const topic_names[] = {NULL, "orders", "payments"};

static void topic_id(int topic, uint8_t out[16])
{
	memset(out, topic, 16);
}

/* ---- the fake controller ---- */

/* One GROUP_HEARTBEAT request as the fake saw it. */
struct hb {
	int32_t epoch;
	char member_id[64];
	char instance[32];
	int has_instance, has_rack, has_rebalance, has_names, has_regex,
	    has_assignor, has_client_id, has_owned;
	int32_t rebalance;
	size_t n_names;
	char regex[32];
	size_t n_owned;
	int32_t owned[MAXP];
	int has_av; /* assignment_version: what owned was computed from */
	uint64_t av;
	size_t len; /* body bytes */
	uint64_t conn;
	uint64_t at_ms;
	int answered;
};

struct fake {
	struct fakectl *ctl;
	struct hb log[1024];
	unsigned n;
	/* script */
	int32_t join_epoch; /* epoch given at the next join */
	int32_t epoch;	    /* epoch answered to heartbeats */
	char member_id[64];
	unsigned joins; /* joins granted */
	uint32_t interval;
	int32_t assign[MAXP];
	size_t n_assign;
	uint64_t version;
	int send_assignment; /* in the next heartbeat answer */
	int refuse_next;     /* code for the next heartbeat (not join) */
	int refuse_joins;    /* refuse this many joins ... */
	int join_code;	     /* ... with this code */
	int hold;	     /* do not answer heartbeats (not joins) */
	uint32_t session;    /* session_timeout_ms answered (0: none) */
	int hold_leave;	     /* do not answer leaves */
	int defer_join;	     /* keep the next join for answer_join() */
	int join_deferred;
	struct frame_header join_h;
	uint64_t join_conn;
	uint64_t conn_id; /* connection of the last request */
};

static void build_set(const int32_t *enc, size_t n,
		      Synod__Wire__GroupPartitionSet *set,
		      Synod__Wire__GroupTopicPartitions tps[2],
		      Synod__Wire__GroupTopicPartitions *tpp[2],
		      int32_t parts[2][MAXP], uint8_t ids[2][16])
{
	synod__wire__group_partition_set__init(set);
	set->topics = tpp;
	for (int t = 1; t <= 2; t++) {
		Synod__Wire__GroupTopicPartitions *g = &tps[set->n_topics];
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (enc[i] / 1000 == t)
				parts[t - 1][k++] = enc[i] % 1000;
		if (k == 0)
			continue;
		synod__wire__group_topic_partitions__init(g);
		topic_id(t, ids[t - 1]);
		g->topic_id.data = ids[t - 1];
		g->topic_id.len = 16;
		g->topic = (char *)topic_names[t];
		g->partitions = parts[t - 1];
		g->n_partitions = k;
		tpp[set->n_topics++] = g;
	}
}

static void answer(struct fake *f, struct fakectl_conn *fc,
		   const struct frame_header *h, const char *member_id,
		   int32_t epoch, int with_assignment)
{
	Synod__Wire__GroupHeartbeatResponse r =
	    SYNOD__WIRE__GROUP_HEARTBEAT_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__GroupPartitionSet set;
	Synod__Wire__GroupTopicPartitions tps[2], *tpp[2];
	int32_t parts[2][MAXP];
	uint8_t ids[2][16];
	r.status = &st;
	r.member_id = (char *)member_id;
	r.has_member_epoch = 1;
	r.member_epoch = epoch;
	r.has_heartbeat_interval_ms = 1;
	r.heartbeat_interval_ms = f->interval;
	r.has_session_timeout_ms = f->session > 0;
	r.session_timeout_ms = f->session;
	if (with_assignment) {
		build_set(f->assign, f->n_assign, &set, tps, tpp, parts, ids);
		r.assignment = &set;
		r.has_assignment_version = 1;
		r.assignment_version = f->version;
	}
	assert_int_equal(fakectl_reply(fc, h, &r.base), 0);
}

static void decode_owned(const Synod__Wire__GroupPartitionSet *o, struct hb *e)
{
	for (size_t i = 0; i < o->n_topics; i++) {
		const Synod__Wire__GroupTopicPartitions *t = o->topics[i];
		assert_int_equal(t->topic_id.len, 16);
		for (size_t k = 0; k < t->n_partitions; k++) {
			assert_true(e->n_owned < MAXP);
			e->owned[e->n_owned++] =
			    P(t->topic_id.data[0], t->partitions[k]);
		}
	}
}

static int on_request(void *arg, struct fakectl_conn *fc,
		      const struct frame_header *h, const uint8_t *body,
		      size_t len)
{
	struct fake *f = arg;
	Synod__Wire__GroupHeartbeatRequest *q;
	struct hb *e;
	int full;
	if (h->api != SYNOD_API_GROUP_HEARTBEAT)
		return FAKECTL_DEFAULT;
	q = synod__wire__group_heartbeat_request__unpack(NULL, len, body);
	assert_non_null(q);
	assert_true(f->n < sizeof f->log / sizeof f->log[0]);
	e = &f->log[f->n++];
	memset(e, 0, sizeof *e);
	assert_string_equal(q->group_id, GROUP);
	e->epoch = q->member_epoch;
	snprintf(e->member_id, sizeof e->member_id, "%s",
		 q->member_id ? q->member_id : "");
	e->has_instance = q->instance_id != NULL;
	snprintf(e->instance, sizeof e->instance, "%s",
		 q->instance_id ? q->instance_id : "");
	e->has_rack = q->rack != NULL;
	e->has_rebalance = q->has_rebalance_timeout_ms;
	e->rebalance = q->rebalance_timeout_ms;
	e->has_names = q->subscribed_topic_names != NULL;
	e->n_names =
	    q->subscribed_topic_names ? q->subscribed_topic_names->n_names : 0;
	e->has_regex = q->subscribed_topic_regex != NULL;
	snprintf(e->regex, sizeof e->regex, "%s",
		 q->subscribed_topic_regex ? q->subscribed_topic_regex : "");
	e->has_assignor = q->server_assignor != NULL;
	e->has_client_id = q->client_id != NULL;
	e->has_owned = q->owned != NULL;
	if (q->owned)
		decode_owned(q->owned, e);
	e->has_av = q->has_assignment_version;
	e->av = q->assignment_version;
	e->len = len;
	e->conn = fakectl_conn_id(fc);
	e->at_ms = fakectl_now_ms();
	f->conn_id = e->conn;
	full = e->has_owned && e->has_names && e->has_rebalance;
	if (q->member_epoch == 0) {
		if (f->defer_join) {
			f->defer_join = 0;
			f->join_deferred = 1;
			f->join_h = *h;
			f->join_conn = e->conn;
		} else if (f->refuse_joins > 0) {
			f->refuse_joins--;
			fakectl_reply_status(fc, h, f->join_code, NULL);
		} else {
			snprintf(f->member_id, sizeof f->member_id, "m-%u",
				 ++f->joins);
			f->epoch = f->join_epoch;
			answer(f, fc, h, f->member_id, f->epoch, 1);
			e->answered = 1;
		}
	} else if (q->member_epoch < 0) {
		if (!f->hold_leave) {
			answer(f, fc, h, f->member_id, q->member_epoch, 0);
			e->answered = 1;
		}
	} else if (f->hold) {
		/* never answered */
	} else if (f->refuse_next) {
		fakectl_reply_status(fc, h, f->refuse_next, NULL);
		f->refuse_next = 0;
	} else {
		answer(f, fc, h, f->member_id, f->epoch,
		       full || f->send_assignment);
		f->send_assignment = 0;
		e->answered = 1;
	}
	synod__wire__group_heartbeat_request__free_unpacked(q, NULL);
	return FAKECTL_HANDLED;
}

/* Grant the join kept by defer_join now. */
static void answer_join(struct fake *f)
{
	struct fakectl_conn *fc = fakectl_conn_find(f->ctl, f->join_conn);
	assert_true(f->join_deferred);
	assert_non_null(fc);
	f->join_deferred = 0;
	snprintf(f->member_id, sizeof f->member_id, "m-%u", ++f->joins);
	f->epoch = f->join_epoch;
	answer(f, fc, &f->join_h, f->member_id, f->epoch, 1);
}

static void set_assign(struct fake *f, uint64_t version, size_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	f->n_assign = n;
	for (size_t i = 0; i < n; i++)
		f->assign[i] = va_arg(ap, int32_t);
	va_end(ap);
	f->version = version;
}

static void push(struct fake *f, const char *group, const char *member_id,
		 int32_t epoch, uint64_t version)
{
	Synod__Wire__GroupAssignmentPush a =
	    SYNOD__WIRE__GROUP_ASSIGNMENT_PUSH__INIT;
	Synod__Wire__GroupPartitionSet set;
	Synod__Wire__GroupTopicPartitions tps[2], *tpp[2];
	int32_t parts[2][MAXP];
	uint8_t ids[2][16];
	build_set(f->assign, f->n_assign, &set, tps, tpp, parts, ids);
	a.group_id = (char *)group;
	a.member_id = (char *)member_id;
	a.member_epoch = epoch;
	a.version = version;
	a.assignment = &set;
	assert_int_equal(fakectl_push(fakectl_conn_find(f->ctl, f->conn_id),
				      SYNOD_API_GROUP_ASSIGNMENT_PUSH, &a.base),
			 0);
}

/* ---- the application ---- */

enum {
	CLOSE_NONE = 0,
	CLOSE_STATE,
	CLOSE_ASSIGNED,
	CLOSE_REVOKING,
	CLOSE_LOST,
	CLOSE_ERROR
};

struct app {
	struct t *t;
	enum synod_consumer_state states[64];
	unsigned n_states;
	unsigned assigned_calls;
	int32_t assigned[MAXP];
	size_t n_assigned; /* of the last call */
	unsigned revoking_calls;
	int32_t revoking[MAXP];
	size_t n_revoking; /* of the last call with a token */
	uint64_t token;
	unsigned lost_calls;
	int32_t lost[MAXP];
	size_t n_lost;
	uint64_t lost_at_ms;
	unsigned errors;
	int last_error;
	int names_ok;	      /* every partition came with its topic's name */
	int auto_done;	      /* revoke_done inside the revoking callback */
	int close_on;	      /* CLOSE_* */
	int closed;	      /* closed from a callback */
	unsigned after_close; /* callbacks after that: must stay 0 */
};

struct t {
	uv_loop_t loop;
	struct fake f;
	struct synod_consumer *c;
	struct app app;
	int finished;
};

#define WAIT_FOR(t, cond)                                                      \
	do {                                                                   \
		int ok_;                                                       \
		FAKECTL_WAIT_FOR((t)->f.ctl, WAIT_MS, (cond), ok_);            \
		if (!ok_)                                                      \
			fail_msg("timed out waiting for %s", #cond);           \
	} while (0)

/* Run the loop for ms (a window in which something must not happen). */
static void run_for(struct t *t, unsigned ms)
{
	uint64_t dl = fakectl_now_ms() + ms;
	while (fakectl_step(t->f.ctl, dl) == 0)
		;
}

static void check_names(struct app *a, const struct synod_tp *tps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int topic = tps[i].topic_id[0];
		if (topic < 1 || topic > 2 || tps[i].topic == NULL ||
		    strcmp(tps[i].topic, topic_names[topic]) != 0)
			a->names_ok = 0;
		if (i > 0 &&
		    (memcmp(tps[i - 1].topic_id, tps[i].topic_id, 16) > 0 ||
		     (tps[i - 1].topic_id[0] == tps[i].topic_id[0] &&
		      tps[i - 1].partition >= tps[i].partition)))
			a->names_ok = 0; /* not sorted */
	}
}

static void copy_tps(int32_t *out, size_t *n_out, const struct synod_tp *tps,
		     size_t n)
{
	assert_true(n <= MAXP);
	for (size_t i = 0; i < n; i++)
		out[i] = P(tps[i].topic_id[0], tps[i].partition);
	*n_out = n;
}

static int closed_check(struct app *a)
{
	if (a->closed) {
		a->after_close++;
		return 1;
	}
	return 0;
}

static void do_close(struct app *a, struct synod_consumer *c)
{
	synod_consumer_close(c);
	a->closed = 1;
	a->t->c = NULL;
}

static void on_state(void *arg, struct synod_consumer *c,
		     enum synod_consumer_state old_state,
		     enum synod_consumer_state new_state)
{
	struct app *a = arg;
	if (closed_check(a))
		return;
	assert_int_equal(synod_consumer_state(c), new_state);
	if (a->n_states < sizeof a->states / sizeof a->states[0])
		a->states[a->n_states++] = new_state;
	if (a->close_on == CLOSE_STATE && new_state == SYNOD_CONSUMER_STABLE)
		do_close(a, c);
}

static void on_assigned(void *arg, struct synod_consumer *c,
			const struct synod_tp *tps, size_t n)
{
	struct app *a = arg;
	if (closed_check(a))
		return;
	assert_true(n > 0);
	a->assigned_calls++;
	check_names(a, tps, n);
	copy_tps(a->assigned, &a->n_assigned, tps, n);
	if (a->close_on == CLOSE_ASSIGNED)
		do_close(a, c);
}

static void on_revoking(void *arg, struct synod_consumer *c,
			const struct synod_tp *tps, size_t n, uint64_t token)
{
	struct app *a = arg;
	if (closed_check(a))
		return;
	assert_true(n > 0);
	check_names(a, tps, n);
	if (token == SYNOD_CONSUMER_LOST) {
		a->lost_calls++;
		a->lost_at_ms = fakectl_now_ms();
		copy_tps(a->lost, &a->n_lost, tps, n);
		if (a->close_on == CLOSE_LOST)
			do_close(a, c);
		return;
	}
	a->revoking_calls++;
	a->token = token;
	copy_tps(a->revoking, &a->n_revoking, tps, n);
	if (a->auto_done) {
		assert_int_equal(synod_consumer_revoke_done(c, token),
				 SYNOD_OK);
		/* The array stays valid for the rest of the call. */
		check_names(a, tps, n);
	}
	if (a->close_on == CLOSE_REVOKING)
		do_close(a, c);
}

static void on_error(void *arg, struct synod_consumer *c, int code,
		     const char *msg)
{
	struct app *a = arg;
	int ecode;
	const char *emsg;
	if (closed_check(a))
		return;
	a->errors++;
	a->last_error = code;
	ecode = synod_consumer_error(c, &emsg);
	assert_int_equal(ecode, code);
	assert_string_equal(emsg, msg);
	if (a->close_on == CLOSE_ERROR)
		do_close(a, c);
}

static int finish(struct t *t)
{
	int rv;
	if (t->finished)
		return 0;
	t->finished = 1;
	if (t->c)
		synod_consumer_close(t->c);
	t->c = NULL;
	fakectl_free(t->f.ctl);
	t->f.ctl = NULL;
	rv = fakectl_drain(&t->loop, WAIT_MS);
	if (rv != 0)
		return rv;
	return uv_loop_close(&t->loop);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof *t);
	if (t == NULL || uv_loop_init(&t->loop) != 0)
		return -1;
	if (fakectl_start(&t->loop, CLUSTER, &t->f.ctl) != 0)
		return -1;
	fakectl_on_request(t->f.ctl, on_request, &t->f);
	t->f.interval = 50;
	t->f.join_epoch = 3;
	t->app.t = t;
	t->app.names_ok = 1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	int rv = finish(t);
	free(t);
	return rv == 0 ? 0 : -1;
}

static const char *const subscription[] = {"orders", "payments"};

static void base_config(struct t *t, struct synod_consumer_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->bootstrap = fakectl_address(t->f.ctl);
	cfg->cluster_id = CLUSTER;
	cfg->group_id = GROUP;
	cfg->topics = subscription;
	cfg->n_topics = 2;
}

static void start_with(struct t *t, const struct synod_consumer_config *cfg)
{
	struct synod_consumer_callbacks cbs = {0};
	cbs.arg = &t->app;
	cbs.state_changed = on_state;
	cbs.assigned = on_assigned;
	cbs.revoking = on_revoking;
	cbs.error = on_error;
	assert_int_equal(synod_consumer_new(&t->loop, cfg, &cbs, &t->c),
			 SYNOD_OK);
	assert_int_equal(synod_consumer_state(t->c), SYNOD_CONSUMER_JOINING);
	assert_int_equal(synod_consumer_start(t->c), SYNOD_OK);
	assert_int_equal(synod_consumer_start(t->c), SYNOD_EBUSY);
}

static void start(struct t *t)
{
	struct synod_consumer_config cfg;
	base_config(t, &cfg);
	start_with(t, &cfg);
}

static int has(const int32_t *v, size_t n, int32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

/* Heartbeats (not joins) the fake received from index `from` on. */
static unsigned heartbeats_since(const struct fake *f, unsigned from)
{
	unsigned n = 0;
	for (unsigned i = from; i < f->n; i++)
		n += f->log[i].epoch > 0;
	return n;
}

static int is_steady(const struct hb *e)
{
	return !e->has_instance && !e->has_rack && !e->has_rebalance &&
	       !e->has_names && !e->has_regex && !e->has_assignor &&
	       !e->has_client_id;
}

/* ---- 1: join, assignment, steady heartbeats ---- */

/* Invariant: a join carries every field with epoch 0 and no member id;
 * the member takes the controller's id, epoch and assignment, and steady
 * heartbeats afterwards carry nothing but what identifies the member
 * (owned once, after it changed). */
static void test_join_and_steady(void **state)
{
	struct t *t = *state;
	struct synod_consumer_config cfg;
	const struct synod_tp *owned;
	struct synod_consumer_stats st;
	struct hb *j;
	unsigned first_steady = 0;
	base_config(t, &cfg);
	cfg.rack = "rack-a";
	cfg.client_id = "client-1";
	cfg.server_assignor = "uniform";
	set_assign(&t->f, 10, 3, P(1, 0), P(1, 1), P(2, 5));
	start_with(t, &cfg);
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_STABLE &&
			t->app.assigned_calls == 1);
	/* The join. */
	j = &t->f.log[0];
	assert_int_equal(j->epoch, 0);
	/* The id the consumer chose, a version 4 UUID (docs/groups.md 2). */
	assert_int_equal(strlen(j->member_id), 36);
	assert_int_equal(j->member_id[14], '4');
	assert_false(j->has_instance);
	assert_true(j->has_rack && j->has_client_id && j->has_assignor);
	assert_true(j->has_rebalance);
	assert_int_equal(j->rebalance, 300000);
	assert_true(j->has_names);
	assert_int_equal(j->n_names, 2);
	assert_true(j->has_regex); /* "" : no regex */
	assert_string_equal(j->regex, "");
	assert_true(j->has_owned);
	assert_int_equal(j->n_owned, 0);
	assert_false(j->has_av);
	/* The answer, applied. */
	assert_string_equal(synod_consumer_member_id(t->c), "m-1");
	assert_int_equal(synod_consumer_member_epoch(t->c), 3);
	assert_int_equal(synod_consumer_heartbeat_interval(t->c), 50);
	assert_int_equal(synod_consumer_assignment_version(t->c), 10);
	assert_int_equal(t->app.n_assigned, 3);
	assert_int_equal(t->app.assigned[0], P(1, 0));
	assert_int_equal(t->app.assigned[1], P(1, 1));
	assert_int_equal(t->app.assigned[2], P(2, 5));
	assert_true(t->app.names_ok);
	assert_int_equal(synod_consumer_owned(t->c, &owned), 3);
	assert_string_equal(owned[2].topic, "payments");
	assert_int_equal(owned[2].partition, 5);
	assert_int_equal(t->app.n_states, 1);
	assert_int_equal(t->app.states[0], SYNOD_CONSUMER_STABLE);

	/* Steady heartbeats, every 50 ms. */
	WAIT_FOR(t, t->f.n >= 8);
	for (unsigned i = 1; i < t->f.n; i++) {
		struct hb *e = &t->f.log[i];
		assert_int_equal(e->epoch, 3);
		assert_string_equal(e->member_id, "m-1");
		assert_true(is_steady(e));
		if (i == 1) {
			/* owned changed since the join: reported once */
			assert_true(e->has_owned);
			assert_int_equal(e->n_owned, 3);
			assert_true(e->has_av);
			assert_int_equal(e->av, 10);
			continue;
		}
		assert_false(e->has_owned);
		/* group "g1", member "m-1", epoch: a dozen bytes */
		assert_true(e->len < 24);
		if (first_steady == 0)
			first_steady = i;
	}
	assert_int_equal(first_steady, 2);
	assert_int_equal(t->f.joins, 1);
	assert_int_equal(synod_consumer_state(t->c), SYNOD_CONSUMER_STABLE);
	synod_consumer_stats(t->c, &st);
	assert_int_equal(st.joins, 1);
	assert_int_equal(st.full_heartbeats, 0);
	assert_int_equal(st.assignments, 1);
	assert_int_equal(t->app.revoking_calls + t->app.lost_calls, 0);
	assert_int_equal(finish(t), 0);
}

/* ---- 2: revocation ---- */

/* Invariant: partitions the controller takes away are reported gone (in
 * `owned`) only after the application called revoke_done, and then at
 * once; partitions added meanwhile are usable without waiting. */
static void test_revoke_after_done(void **state)
{
	struct t *t = *state;
	unsigned mark;
	uint64_t t0;
	int found = 0;
	t->f.interval = 400; /* "at once" must be well below this */
	set_assign(&t->f, 10, 4, P(1, 0), P(1, 1), P(1, 2), P(1, 3));
	start(t);
	WAIT_FOR(t, t->app.assigned_calls == 1);
	assert_int_equal(t->app.n_assigned, 4);
	/* The next answer takes 2 and 3 away. */
	set_assign(&t->f, 11, 2, P(1, 0), P(1, 1));
	t->f.send_assignment = 1;
	WAIT_FOR(t, t->app.revoking_calls == 1);
	assert_true(t->app.token != SYNOD_CONSUMER_LOST);
	assert_int_equal(t->app.n_revoking, 2);
	assert_int_equal(t->app.revoking[0], P(1, 2));
	assert_int_equal(t->app.revoking[1], P(1, 3));
	assert_int_equal(synod_consumer_state(t->c),
			 SYNOD_CONSUMER_RECONCILING);
	assert_int_equal(synod_consumer_revocations_outstanding(t->c), 1);
	assert_int_equal(synod_consumer_owned(t->c, NULL), 4);
	/* Meanwhile a push gives partition 4: usable at once. */
	set_assign(&t->f, 12, 3, P(1, 0), P(1, 1), P(1, 4));
	push(&t->f, GROUP, "m-1", 3, 12);
	WAIT_FOR(t, t->app.assigned_calls == 2);
	assert_int_equal(t->app.n_assigned, 1);
	assert_int_equal(t->app.assigned[0], P(1, 4));
	assert_int_equal(t->app.revoking_calls, 1); /* nothing new */
	/* Heartbeats go on; none reports 2 or 3 gone. */
	mark = t->f.n;
	WAIT_FOR(t, heartbeats_since(&t->f, mark) >= 3);
	for (unsigned i = 0; i < t->f.n; i++) {
		struct hb *e = &t->f.log[i];
		if (e->has_owned && e->epoch > 0) {
			assert_true(has(e->owned, e->n_owned, P(1, 2)));
			assert_true(has(e->owned, e->n_owned, P(1, 3)));
		}
	}
	assert_int_equal(synod_consumer_state(t->c),
			 SYNOD_CONSUMER_RECONCILING);
	/* Done: reported at once. */
	mark = t->f.n;
	t0 = fakectl_now_ms();
	assert_int_equal(synod_consumer_revoke_done(t->c, t->app.token),
			 SYNOD_OK);
	assert_int_equal(synod_consumer_owned(t->c, NULL), 3);
	assert_int_equal(synod_consumer_revoke_done(t->c, t->app.token),
			 SYNOD_ENOT_FOUND);
	assert_int_equal(synod_consumer_revoke_done(t->c, SYNOD_CONSUMER_LOST),
			 SYNOD_ENOT_FOUND);
	WAIT_FOR(t, t->f.n > mark && t->f.log[t->f.n - 1].answered &&
			synod_consumer_state(t->c) == SYNOD_CONSUMER_STABLE);
	for (unsigned i = mark; i < t->f.n; i++) {
		struct hb *e = &t->f.log[i];
		if (!e->has_owned)
			continue;
		assert_int_equal(e->n_owned, 3);
		assert_false(has(e->owned, e->n_owned, P(1, 2)));
		assert_false(has(e->owned, e->n_owned, P(1, 3)));
		assert_true(has(e->owned, e->n_owned, P(1, 4)));
		assert_true(e->at_ms - t0 < 200);
		/* computed from the push of version 12 */
		assert_true(e->has_av);
		assert_int_equal(e->av, 12);
		found = 1;
		break;
	}
	assert_true(found);
	assert_int_equal(synod_consumer_revocations_outstanding(t->c), 0);
	assert_int_equal(t->app.lost_calls, 0);
	assert_true(t->app.names_ok);
	assert_int_equal(finish(t), 0);
}

/* ---- 3: pushes ---- */

static unsigned pushes_seen(struct t *t)
{
	struct synod_consumer_stats st;
	synod_consumer_stats(t->c, &st);
	return (unsigned)st.pushes;
}

/* Invariant: a push is applied only when it is newer than what was
 * applied and meant for this member; never go back. */
static void test_push_versions(void **state)
{
	struct t *t = *state;
	struct synod_consumer_stats st;
	unsigned mark;
	t->f.interval = 1000; /* pushes, not answers, carry the news */
	set_assign(&t->f, 10, 1, P(1, 0));
	start(t);
	WAIT_FOR(t, t->app.assigned_calls == 1);
	/* Newer: applied. */
	set_assign(&t->f, 12, 2, P(1, 0), P(1, 1));
	push(&t->f, GROUP, "m-1", 3, 12);
	WAIT_FOR(t, t->app.assigned_calls == 2);
	assert_int_equal(t->app.assigned[0], P(1, 1));
	assert_int_equal(synod_consumer_assignment_version(t->c), 12);
	/* Older, equal, another member, another group, an older epoch:
	 * all ignored (each would revoke partition 1). */
	set_assign(&t->f, 0, 1, P(1, 0));
	push(&t->f, GROUP, "m-1", 3, 11);
	push(&t->f, GROUP, "m-1", 3, 12);
	push(&t->f, GROUP, "m-9", 3, 13);
	push(&t->f, "other-group", "m-1", 3, 13);
	push(&t->f, GROUP, "m-1", 2, 13);
	WAIT_FOR(t, pushes_seen(t) == 6);
	run_for(t, 50);
	assert_int_equal(t->app.revoking_calls, 0);
	assert_int_equal(synod_consumer_assignment_version(t->c), 12);
	assert_int_equal(synod_consumer_owned(t->c, NULL), 2);
	synod_consumer_stats(t->c, &st);
	assert_int_equal(st.pushes_applied, 1);
	assert_int_equal(st.pushes_ignored, 5);
	/* A higher epoch is adopted with its assignment. */
	set_assign(&t->f, 14, 3, P(1, 0), P(1, 1), P(2, 0));
	push(&t->f, GROUP, "m-1", 4, 14);
	WAIT_FOR(t, t->app.assigned_calls == 3);
	assert_int_equal(t->app.assigned[0], P(2, 0));
	assert_int_equal(synod_consumer_member_epoch(t->c), 4);
	t->f.epoch = 4;
	mark = t->f.n;
	WAIT_FOR(t, heartbeats_since(&t->f, mark) >= 1);
	assert_int_equal(t->f.log[mark].epoch, 4);
	assert_true(t->app.names_ok);
	assert_int_equal(finish(t), 0);
}

/* ---- 4: fenced ---- */

/* Invariant: after FENCED_MEMBER_EPOCH or UNKNOWN_MEMBER_ID the member
 * stops using every partition at once (they are someone else's), its
 * revocation tokens are void, and it rejoins from scratch with its
 * instance id. */
static void test_fenced_rejoin(void **state)
{
	struct t *t = *state;
	struct synod_consumer_config cfg;
	const int codes[2] = {SYNOD_EFENCED_MEMBER_EPOCH,
			      SYNOD_EUNKNOWN_MEMBER_ID};
	base_config(t, &cfg);
	cfg.instance_id = "inst-1";
	set_assign(&t->f, 10, 2, P(1, 0), P(1, 1));
	start_with(t, &cfg);
	WAIT_FOR(t, t->app.assigned_calls == 1);
	/* A revocation outstanding when the fence comes. */
	set_assign(&t->f, 11, 1, P(1, 0));
	t->f.send_assignment = 1;
	WAIT_FOR(t, t->app.revoking_calls == 1);
	for (int round = 0; round < 2; round++) {
		unsigned mark = t->f.n, joins = t->f.joins, n_states;
		struct hb *j = NULL;
		t->f.join_epoch = 5 + round;
		if (round == 0)
			set_assign(&t->f, 20, 1, P(2, 7));
		t->f.refuse_next = codes[round];
		WAIT_FOR(t, t->app.lost_calls == (unsigned)round + 1);
		/* Everything owned, the partition being revoked too. */
		if (round == 0) {
			assert_int_equal(t->app.n_lost, 2);
			assert_int_equal(t->app.lost[0], P(1, 0));
			assert_int_equal(t->app.lost[1], P(1, 1));
			assert_int_equal(
			    synod_consumer_revoke_done(t->c, t->app.token),
			    SYNOD_ENOT_FOUND);
		} else {
			assert_int_equal(t->app.n_lost, 1);
			assert_int_equal(t->app.lost[0], P(2, 7));
		}
		assert_int_equal(synod_consumer_owned(t->c, NULL), 0);
		n_states = t->app.n_states;
		assert_int_equal(t->app.states[n_states - 1],
				 SYNOD_CONSUMER_FENCED);
		assert_int_equal(t->app.last_error, codes[round]);
		WAIT_FOR(t, t->f.joins == joins + 1 &&
				synod_consumer_state(t->c) ==
				    SYNOD_CONSUMER_STABLE);
		for (unsigned i = mark; i < t->f.n; i++)
			if (t->f.log[i].epoch == 0) {
				j = &t->f.log[i];
				break;
			}
		assert_non_null(j);
		/* The fake chooses ids like an older controller: the rejoin
		 * carries the one it answered last, so the controller knows
		 * the member and frees what it held (no ghost). */
		assert_string_equal(j->member_id, round == 0 ? "m-1" : "m-2");
		assert_true(j->has_instance);
		assert_string_equal(j->instance, "inst-1");
		assert_true(j->has_names && j->has_rebalance && j->has_owned);
		assert_int_equal(j->n_owned, 0);
		assert_string_equal(synod_consumer_member_id(t->c),
				    round == 0 ? "m-2" : "m-3");
		assert_int_equal(synod_consumer_member_epoch(t->c), 5 + round);
		assert_int_equal(synod_consumer_owned(t->c, NULL), 1);
	}
	/* The rejoins were answered with P(2, 7) each time. */
	assert_int_equal(t->app.assigned[0], P(2, 7));
	assert_true(t->app.names_ok);
	assert_int_equal(finish(t), 0);
}

/* ---- 5: reconnect, subscribe ---- */

static unsigned answers_ok(struct t *t)
{
	struct synod_consumer_stats st;
	synod_consumer_stats(t->c, &st);
	return (unsigned)st.answers_ok;
}

/* Invariant: after the connection changed, the next heartbeat is full
 * (every field, owned included), so the controller's answer brings the
 * assignment again whatever pushes were lost with the old connection. */
static void test_reconnect_full(void **state)
{
	struct t *t = *state;
	unsigned mark, ok;
	uint64_t old_conn;
	struct hb *e = NULL;
	t->f.interval = 200;
	set_assign(&t->f, 10, 2, P(1, 0), P(1, 1));
	start(t);
	WAIT_FOR(t, t->app.assigned_calls == 1 && t->f.n >= 3);
	/* Right after the consumer took an answer: nothing in flight for
	 * the next 200 ms. */
	ok = answers_ok(t);
	WAIT_FOR(t, answers_ok(t) > ok);
	old_conn = t->f.conn_id;
	mark = t->f.n;
	fakectl_close_conn(fakectl_conn_find(t->f.ctl, old_conn),
			   FAKECTL_CLOSE_NOW);
	/* Meanwhile the controller moved on: partition 2 (the push was
	 * lost with the connection). */
	set_assign(&t->f, 15, 3, P(1, 0), P(1, 1), P(1, 2));
	WAIT_FOR(t, t->app.assigned_calls == 2);
	assert_true(t->f.n > mark);
	e = &t->f.log[mark];
	assert_true(e->conn != old_conn);
	assert_int_equal(e->epoch, 3);
	assert_string_equal(e->member_id, "m-1");
	assert_true(e->has_names && e->has_rebalance && e->has_owned &&
		    e->has_regex);
	assert_int_equal(e->n_owned, 2);
	assert_int_equal(t->app.assigned[0], P(1, 2));
	assert_int_equal(synod_consumer_assignment_version(t->c), 15);
	/* Then steady again. */
	mark = t->f.n;
	WAIT_FOR(t, heartbeats_since(&t->f, mark) >= 2);
	assert_true(is_steady(&t->f.log[t->f.n - 1]));
	assert_int_equal(t->f.joins, 1);
	assert_int_equal(finish(t), 0);
}

/* Invariant: a subscription change reaches the controller at once, in a
 * full heartbeat (names and regex; "" clears the regex). */
static void test_subscribe(void **state)
{
	struct t *t = *state;
	const char *const one[] = {"orders"};
	unsigned mark;
	uint64_t t0;
	struct hb *e;
	t->f.interval = 1000;
	start(t);
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_STABLE);
	assert_int_equal(synod_consumer_subscribe(t->c, NULL, 0, "("),
			 SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(synod_consumer_subscribe(t->c, NULL, 0, NULL),
			 SYNOD_EINVALID_ARGUMENT);
	mark = t->f.n;
	t0 = fakectl_now_ms();
	assert_int_equal(synod_consumer_subscribe(t->c, one, 1, "^pay.*"),
			 SYNOD_OK);
	WAIT_FOR(t, t->f.n > mark && t->f.log[t->f.n - 1].has_names);
	e = &t->f.log[t->f.n - 1];
	assert_true(e->at_ms - t0 < 500);
	assert_int_equal(e->epoch, 3);
	assert_true(e->has_names && e->has_rebalance && e->has_owned);
	assert_int_equal(e->n_names, 1);
	assert_string_equal(e->regex, "^pay.*");
	mark = t->f.n;
	assert_int_equal(synod_consumer_subscribe(t->c, one, 1, NULL),
			 SYNOD_OK);
	WAIT_FOR(t, t->f.n > mark && t->f.log[t->f.n - 1].has_names);
	assert_true(t->f.log[t->f.n - 1].has_regex);
	assert_string_equal(t->f.log[t->f.n - 1].regex, "");
	assert_int_equal(finish(t), 0);
}

/* Invariant: when the connection changes during a request (the client
 * sends it again elsewhere), pushes of the old one may be lost: a full
 * heartbeat follows at once, not at the next interval. */
static void test_reconnect_during_request(void **state)
{
	struct t *t = *state;
	unsigned mark, k = 0;
	uint64_t old_conn, t0;
	t->f.interval = 1000;
	set_assign(&t->f, 10, 1, P(1, 0));
	start(t);
	WAIT_FOR(t, t->app.assigned_calls == 1 && heartbeats_since(&t->f, 0));
	/* The next heartbeat is held; the connection drops under it. */
	t->f.hold = 1;
	mark = t->f.n;
	WAIT_FOR(t, t->f.n > mark);
	old_conn = t->f.log[t->f.n - 1].conn;
	t->f.hold = 0;
	set_assign(&t->f, 16, 2, P(1, 0), P(1, 1)); /* a "lost push" */
	t0 = fakectl_now_ms();
	fakectl_close_conn(fakectl_conn_find(t->f.ctl, old_conn),
			   FAKECTL_CLOSE_NOW);
	WAIT_FOR(t, t->app.assigned_calls == 2);
	assert_true(fakectl_now_ms() - t0 < 600);
	/* The same heartbeat again on the new connection (steady), then a
	 * full one at once. */
	for (unsigned i = mark + 1; i < t->f.n; i++) {
		struct hb *e = &t->f.log[i];
		assert_true(e->conn != old_conn);
		if (k++ == 0) {
			assert_true(is_steady(e));
		} else {
			assert_true(e->has_names && e->has_owned);
			break;
		}
	}
	assert_int_equal(k, 2);
	assert_int_equal(t->app.assigned[0], P(1, 1));
	assert_int_equal(finish(t), 0);
}

/* Invariant: without a revoking callback a revocation completes at once
 * and is reported at once. */
static void test_no_revoking_callback(void **state)
{
	struct t *t = *state;
	struct synod_consumer_config cfg;
	struct synod_consumer_callbacks cbs = {0};
	unsigned mark;
	t->f.interval = 1000;
	base_config(t, &cfg);
	cbs.arg = &t->app;
	cbs.assigned = on_assigned;
	set_assign(&t->f, 10, 2, P(1, 0), P(1, 1));
	assert_int_equal(synod_consumer_new(&t->loop, &cfg, &cbs, &t->c),
			 SYNOD_OK);
	assert_int_equal(synod_consumer_start(t->c), SYNOD_OK);
	WAIT_FOR(t, t->app.assigned_calls == 1);
	set_assign(&t->f, 11, 1, P(1, 1));
	t->f.send_assignment = 1;
	WAIT_FOR(t, synod_consumer_owned(t->c, NULL) == 1);
	mark = t->f.n;
	WAIT_FOR(t, t->f.n > mark);
	assert_true(t->f.log[mark].has_owned);
	assert_int_equal(t->f.log[mark].n_owned, 1);
	assert_int_equal(t->f.log[mark].owned[0], P(1, 1));
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_STABLE);
	assert_int_equal(finish(t), 0);
}

/* ---- 6: leave ---- */

/* Invariant: a leave asked for while the join is in flight leaves the
 * membership that join creates, at once, without ever handing its
 * partitions to the application. */
static void test_leave_during_join(void **state)
{
	struct t *t = *state;
	struct hb *e;
	t->f.defer_join = 1;
	set_assign(&t->f, 10, 2, P(1, 0), P(1, 1));
	start(t);
	WAIT_FOR(t, t->f.join_deferred);
	assert_int_equal(synod_consumer_leave(t->c), SYNOD_OK);
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_LEAVING);
	run_for(t, 30);
	assert_int_equal(t->f.n, 1);
	answer_join(&t->f);
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_LEFT);
	assert_int_equal(t->f.n, 2);
	e = &t->f.log[1];
	assert_int_equal(e->epoch, -1);
	assert_string_equal(e->member_id, "m-1");
	assert_int_equal(t->app.assigned_calls + t->app.revoking_calls +
			     t->app.lost_calls,
			 0);
	assert_int_equal(finish(t), 0);
}

/* Invariant: a leaving member revokes first (the application finishes
 * with its partitions), sends nothing that says "gone" before, then
 * leaves with -2 when static (the controller keeps its assignment for
 * its return); LEFT after the answer. */
static void test_static_leave(void **state)
{
	struct t *t = *state;
	struct synod_consumer_config cfg;
	unsigned mark;
	struct hb *e;
	base_config(t, &cfg);
	cfg.instance_id = "inst-7";
	set_assign(&t->f, 10, 2, P(1, 0), P(2, 1));
	start_with(t, &cfg);
	WAIT_FOR(t, t->app.assigned_calls == 1);
	assert_int_equal(synod_consumer_leave(t->c), SYNOD_OK);
	/* Nothing happens inside the call. */
	assert_int_equal(t->app.revoking_calls, 0);
	WAIT_FOR(t, t->app.revoking_calls == 1);
	assert_int_equal(synod_consumer_state(t->c), SYNOD_CONSUMER_LEAVING);
	assert_int_equal(t->app.n_revoking, 2);
	/* The application takes its time: heartbeats go on, no leave. */
	mark = t->f.n;
	WAIT_FOR(t, heartbeats_since(&t->f, mark) >= 3);
	for (unsigned i = 0; i < t->f.n; i++)
		assert_true(t->f.log[i].epoch >= 0);
	/* Assignments are ignored while leaving. */
	set_assign(&t->f, 11, 3, P(1, 0), P(2, 1), P(2, 2));
	push(&t->f, GROUP, "m-1", 3, 11);
	run_for(t, 30);
	assert_int_equal(t->app.assigned_calls, 1);
	mark = t->f.n;
	assert_int_equal(synod_consumer_revoke_done(t->c, t->app.token),
			 SYNOD_OK);
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_LEFT);
	assert_true(t->f.n > mark);
	e = &t->f.log[t->f.n - 1];
	assert_int_equal(e->epoch, -2);
	assert_string_equal(e->member_id, "m-1");
	assert_string_equal(e->instance, "inst-7");
	assert_true(e->answered);
	/* Nothing more is sent. */
	mark = t->f.n;
	run_for(t, 150);
	assert_int_equal(t->f.n, mark);
	assert_int_equal(t->app.lost_calls, 0);
	assert_int_equal(t->app.states[t->app.n_states - 2],
			 SYNOD_CONSUMER_LEAVING);
	assert_int_equal(finish(t), 0);
}

/* Invariant: a dynamic member leaves with -1, and is LEFT after the
 * request timeout when no answer comes (the session ends anyway). A
 * revocation completed inside the revoking callback is fine. */
static void test_leave_timeout(void **state)
{
	struct t *t = *state;
	struct synod_consumer_config cfg;
	uint64_t t0;
	base_config(t, &cfg);
	cfg.request_timeout_ms = 300;
	set_assign(&t->f, 10, 1, P(1, 0));
	t->app.auto_done = 1;
	t->f.hold_leave = 1;
	start_with(t, &cfg);
	WAIT_FOR(t, t->app.assigned_calls == 1);
	t0 = fakectl_now_ms();
	assert_int_equal(synod_consumer_leave(t->c), SYNOD_OK);
	WAIT_FOR(t, t->f.log[t->f.n - 1].epoch == -1);
	assert_int_equal(t->app.revoking_calls, 1);
	assert_int_equal(synod_consumer_state(t->c), SYNOD_CONSUMER_LEAVING);
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_LEFT);
	assert_true(fakectl_now_ms() - t0 >= 250);
	assert_int_equal(synod_consumer_leave(t->c), SYNOD_OK); /* no-op */
	assert_int_equal(finish(t), 0);
}

/* Invariant: leave before any membership ends at once, without a
 * request; a private loop runs until LEFT. */
static void test_leave_unjoined(void **state)
{
	struct t *t = *state;
	struct synod_consumer_config cfg;
	struct synod_consumer *c;
	base_config(t, &cfg);
	assert_int_equal(synod_consumer_new(NULL, &cfg, NULL, &c), SYNOD_OK);
	assert_int_equal(synod_consumer_run(c), SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(synod_consumer_leave(c), SYNOD_OK);
	assert_int_equal(synod_consumer_run(c), SYNOD_OK);
	assert_int_equal(synod_consumer_state(c), SYNOD_CONSUMER_LEFT);
	assert_int_equal(synod_consumer_start(c), SYNOD_EBUSY);
	synod_consumer_close(c);
	/* Bad configs. */
	cfg.group_id = "";
	assert_int_equal(synod_consumer_new(&t->loop, &cfg, NULL, &c),
			 SYNOD_EINVALID_ARGUMENT);
	base_config(t, &cfg);
	cfg.n_topics = 0;
	assert_int_equal(synod_consumer_new(&t->loop, &cfg, NULL, &c),
			 SYNOD_EINVALID_ARGUMENT);
	cfg.topic_regex = "a[";
	assert_int_equal(synod_consumer_new(&t->loop, &cfg, NULL, &c),
			 SYNOD_EINVALID_ARGUMENT);
	cfg.topic_regex = "^orders-[0-9]+$";
	assert_int_equal(synod_consumer_new(&t->loop, &cfg, NULL, &c),
			 SYNOD_OK);
	synod_consumer_close(c);
	assert_int_equal(t->f.n, 0);
	assert_int_equal(finish(t), 0);
}

/* ---- 7: refusals ---- */

/* Invariant: UNRELEASED_INSTANCE_ID is retried (the old session may be
 * ending); a fatal refusal of a member reports its partitions lost, then
 * FAILED, and nothing more is sent. */
static void test_refusals(void **state)
{
	struct t *t = *state;
	struct synod_consumer_config cfg;
	const char *msg;
	unsigned mark;
	base_config(t, &cfg);
	cfg.instance_id = "inst-2";
	t->f.refuse_joins = 2;
	t->f.join_code = SYNOD_EUNRELEASED_INSTANCE_ID;
	set_assign(&t->f, 10, 1, P(1, 3));
	start_with(t, &cfg);
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_STABLE);
	assert_int_equal(t->f.n >= 3, 1);
	assert_int_equal(t->f.log[0].epoch, 0);
	assert_int_equal(t->f.log[1].epoch, 0);
	assert_int_equal(t->f.log[2].epoch, 0);
	assert_int_equal(t->app.errors, 2);
	t->f.refuse_next = SYNOD_EFENCED_INSTANCE_ID;
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_FAILED);
	assert_int_equal(t->app.lost_calls, 1);
	assert_int_equal(t->app.lost[0], P(1, 3));
	assert_int_equal(synod_consumer_error(t->c, &msg),
			 SYNOD_EFENCED_INSTANCE_ID);
	assert_non_null(strstr(msg, "FENCED_INSTANCE_ID"));
	mark = t->f.n;
	run_for(t, 150);
	assert_int_equal(t->f.n, mark);
	assert_int_equal(synod_consumer_revoke_done(t->c, 1), SYNOD_ENOT_FOUND);
	assert_int_equal(finish(t), 0);
}

/* Invariant: a fatal refusal of the join ends in FAILED without any
 * partition ever given; transient refusals of heartbeats change nothing. */
static void test_join_fatal_and_transient(void **state)
{
	struct t *t = *state;
	unsigned mark;
	start(t);
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_STABLE);
	t->f.refuse_next = SYNOD_EUNKNOWN;
	mark = t->f.n;
	WAIT_FOR(t, heartbeats_since(&t->f, mark) >= 3);
	assert_int_equal(t->app.last_error, SYNOD_EUNKNOWN);
	assert_int_equal(synod_consumer_state(t->c), SYNOD_CONSUMER_STABLE);
	/* The one after the refusal is full. */
	assert_true(t->f.log[mark + 1].has_names &&
		    t->f.log[mark + 1].has_owned);
	assert_int_equal(t->f.joins, 1);
	synod_consumer_close(t->c);
	t->c = NULL;

	memset(&t->app, 0, sizeof t->app);
	t->app.t = t;
	t->f.refuse_joins = 1;
	t->f.join_code = SYNOD_EGROUP_MAX_SIZE_REACHED;
	start(t);
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_FAILED);
	assert_int_equal(t->app.last_error, SYNOD_EGROUP_MAX_SIZE_REACHED);
	assert_int_equal(t->app.lost_calls + t->app.assigned_calls, 0);
	assert_int_equal(finish(t), 0);
}

/* ---- 8: close from callbacks ---- */

/* Invariant: closing from inside any callback is safe: no callback runs
 * afterwards, the loop drains, ASan sees no use after free or leak. */
static void test_close_from_callbacks(void **state)
{
	struct t *t = *state;
	const int modes[] = {CLOSE_STATE, CLOSE_ASSIGNED, CLOSE_REVOKING,
			     CLOSE_LOST, CLOSE_ERROR};
	for (unsigned m = 0; m < sizeof modes / sizeof modes[0]; m++) {
		for (int done_first = 0; done_first < 2; done_first++) {
			memset(&t->app, 0, sizeof t->app);
			t->app.t = t;
			t->app.close_on = modes[m];
			t->app.auto_done = done_first;
			t->f.refuse_next = 0;
			t->f.send_assignment = 0;
			set_assign(&t->f, 10, 2, P(1, 0), P(1, 1));
			start(t);
			if (modes[m] == CLOSE_REVOKING) {
				WAIT_FOR(t, t->app.assigned_calls == 1);
				set_assign(&t->f, 11, 1, P(1, 0));
				t->f.send_assignment = 1;
			} else if (modes[m] == CLOSE_LOST) {
				WAIT_FOR(t, t->app.assigned_calls == 1);
				t->f.refuse_next = SYNOD_EFENCED_MEMBER_EPOCH;
			} else if (modes[m] == CLOSE_ERROR) {
				WAIT_FOR(t, t->app.assigned_calls == 1);
				t->f.refuse_next = SYNOD_EUNKNOWN;
			}
			WAIT_FOR(t, t->app.closed);
			assert_null(t->c);
			run_for(t, 120);
			assert_int_equal(t->app.after_close, 0);
		}
	}
	/* Close from the revoking callback of a leave. */
	memset(&t->app, 0, sizeof t->app);
	t->app.t = t;
	start(t);
	WAIT_FOR(t, t->app.assigned_calls == 1);
	t->app.close_on = CLOSE_REVOKING;
	synod_consumer_leave(t->c);
	WAIT_FOR(t, t->app.closed);
	run_for(t, 120);
	assert_int_equal(t->app.after_close, 0);
	/* Close with a request in flight, from outside. */
	memset(&t->app, 0, sizeof t->app);
	t->app.t = t;
	start(t);
	WAIT_FOR(t, t->app.assigned_calls == 1);
	t->f.hold = 1;
	WAIT_FOR(t, !t->f.log[t->f.n - 1].answered);
	synod_consumer_close(t->c);
	t->c = NULL;
	assert_int_equal(finish(t), 0);
}

/* ---- 9: self-fencing ---- */

/* Invariant: a member whose heartbeats are not acknowledged for the
 * session timeout drops its partitions no later than the controller
 * could end its session (counted from the arrival of the last heartbeat
 * it acknowledged), then rejoins when the controller answers again. */
static void test_self_fence(void **state)
{
	struct t *t = *state;
	struct synod_consumer_config cfg;
	struct synod_consumer_stats st;
	uint64_t last_ack_at = 0;
	base_config(t, &cfg);
	cfg.session_timeout_ms = 600;
	set_assign(&t->f, 10, 2, P(1, 0), P(1, 1));
	start_with(t, &cfg);
	WAIT_FOR(t, t->app.assigned_calls == 1 && t->f.n >= 4);
	assert_false(synod_consumer_session_expired(t->c));
	t->f.hold = 1;
	WAIT_FOR(t, t->app.lost_calls == 1);
	for (unsigned i = 0; i < t->f.n; i++)
		if (t->f.log[i].answered && t->f.log[i].epoch > 0)
			last_ack_at = t->f.log[i].at_ms;
	assert_true(last_ack_at > 0);
	/* Not (much) before the session could end, and not after the
	 * controller could fence (it checks every 100 ms): the slack covers
	 * send-to-arrival delay and loop latency on a loaded machine. */
	assert_true(t->app.lost_at_ms + 100 >= last_ack_at + 600);
	assert_true(t->app.lost_at_ms <= last_ack_at + 600 + 100);
	assert_int_equal(t->app.n_lost, 2);
	assert_int_equal(synod_consumer_owned(t->c, NULL), 0);
	assert_int_equal(t->app.states[t->app.n_states - 1],
			 SYNOD_CONSUMER_FENCED);
	synod_consumer_stats(t->c, &st);
	assert_int_equal(st.self_fences, 1);
	assert_int_equal(t->app.last_error, SYNOD_ETIMEOUT);
	/* The controller is back: a new membership. */
	t->f.hold = 0;
	t->f.join_epoch = 9;
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_STABLE);
	assert_string_equal(synod_consumer_member_id(t->c), "m-2");
	assert_int_equal(synod_consumer_member_epoch(t->c), 9);
	assert_int_equal(t->app.assigned_calls, 2);
	assert_int_equal(finish(t), 0);
}

/* Arrival time of the first join logged at or after entry `from` (0:
 * none yet). */
static uint64_t join_since(const struct fake *f, unsigned from)
{
	for (unsigned i = from; i < f->n; i++)
		if (f->log[i].epoch == 0)
			return f->log[i].at_ms;
	return 0;
}

/* Invariant: a consumer configured for a long session (the default 45 s,
 * so a 5 s request timeout) that an answer tells of a shorter group
 * session times its requests out within half of that: when the
 * controller stops answering, the member fences itself at the group's
 * session and its rejoin follows at once, not after the configured
 * request timeout (which would hold the heartbeat in flight, and the
 * rejoin behind it, for seconds). */
static void test_short_group_session(void **state)
{
	struct t *t = *state;
	struct synod_consumer_config cfg;
	uint64_t held_at, join_at = 0;
	unsigned first;
	base_config(t, &cfg);
	t->f.session = 1000;
	set_assign(&t->f, 10, 2, P(1, 0), P(1, 1));
	start_with(t, &cfg);
	WAIT_FOR(t, t->app.assigned_calls == 1 && t->f.n >= 4);
	t->f.hold = 1;
	held_at = fakectl_now_ms();
	first = t->f.n;
	WAIT_FOR(t, t->app.lost_calls == 1);
	WAIT_FOR(t, (join_at = join_since(&t->f, first)) != 0);
	print_message("    rejoin %llu ms after the controller went silent\n",
		      (unsigned long long)(join_at - held_at));
	/* Fenced by held_at + 1000, then at most one heartbeat timeout of
	 * 500 ms; a 5000 ms timeout would put it past held_at + 4000. */
	assert_true(join_at <= held_at + 3000);
	t->f.hold = 0;
	WAIT_FOR(t, synod_consumer_state(t->c) == SYNOD_CONSUMER_STABLE);
	assert_int_equal(finish(t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_join_and_steady, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_revoke_after_done, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_push_versions, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_fenced_rejoin, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect_full, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect_during_request,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_revoking_callback, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_subscribe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leave_during_join, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_static_leave, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_leave_timeout, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_leave_unjoined, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_join_fatal_and_transient,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_from_callbacks, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_self_fence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_group_session, setup,
					    teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
