/* tests/integration/test_groups_sim.c - many library consumers
 * (synod/group.h, run by `synod-sim --consumers`) against a real quorum:
 * 3 groups x 10 consumers over topics of 100 partitions, then consumers
 * added and crashed (and restarted), partitions added, a topic created
 * that a regex subscription matches, a topic deleted, and a kill -9 of
 * the active controller in the middle of a reconciliation.
 *
 * Invariant, sampled every 50 ms while the test's loop runs (it runs
 * during every call and wait): within a group no partition is owned by
 * two consumers. The sims' state files show, per consumer, the set it
 * owns at the file's updated_us, unchanged since the consumer's
 * changed_us; two consumers of a group listing one partition are a
 * violation when those intervals overlap (files of different processes
 * are written at different times: a stale file is not a violation).
 *
 * After each step: every group converges (each live consumer stable,
 * every partition of the subscription owned once, sizes within one of
 * each other, GROUP_DESCRIBE stable with the expected member count). The
 * failover fences nobody: the member ids of the consumers that lived
 * through it do not change and no consumer was fenced or self-fenced.
 *
 * A 3-node quorum (300 ms election timeout), a synod-sim of 3 brokers
 * (topics need replicas, RF 1), group sessions of 2 s, heartbeats 200 ms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>

#include "itest.h"

#ifndef SYNOD_BIN
#define SYNOD_BIN NULL
#endif
#ifndef SYNOD_SIM
#define SYNOD_SIM "synod-sim"
#endif
#ifndef SYNOD_CTL
#define SYNOD_CTL "synodctl"
#endif

#define WAIT_MS 30000
#define SESSION_MS 6000
#define SAMPLE_MS 50
#define MAX_SIMS 8
#define N_GROUPS 3
#define MAX_TOPICS 8

struct simproc {
	pid_t pid;
	int consumers; /* runs consumers: its state file is sampled */
	char log[512];
	char state[512];
};

struct topic {
	char name[32];
	unsigned partitions; /* 0: deleted */
};

struct fixture {
	struct itest it;
	struct simproc sims[MAX_SIMS];
	unsigned n_sims;
	uv_timer_t sampler;
	int sampler_on;
	unsigned samples;
	unsigned violations;
	unsigned long long max_owners_entries;
	char first_violation[512];
	struct topic topics[MAX_TOPICS];
	unsigned n_topics;
};

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	const char *logs[MAX_SIMS];
	int rv;
	for (unsigned i = 0; i < f->n_sims; i++) {
		itest_kill(&f->sims[i].pid);
		logs[i] = f->sims[i].log;
	}
	if (f->sampler_on)
		uv_close((uv_handle_t *)&f->sampler, NULL);
	rv = itest_teardown(&f->it, logs, f->n_sims, 60);
	free(f);
	return rv;
}

/* ---- processes ---- */

/* synod-sim with a state file; extra: NULL-terminated arguments. */
static unsigned spawn_sim(struct fixture *f, int consumers, ...)
{
	const char *argv[48];
	unsigned k = 0, i = f->n_sims;
	struct simproc *s = &f->sims[i];
	va_list ap;
	assert_true(i < MAX_SIMS);
	snprintf(s->log, sizeof s->log, "%s/sim-%u.log", f->it.c.dir, i);
	snprintf(s->state, sizeof s->state, "%s/sim-%u.json", f->it.c.dir, i);
	s->consumers = consumers;
	argv[k++] = SYNOD_SIM;
	argv[k++] = "--bootstrap";
	argv[k++] = f->it.c.bootstrap;
	argv[k++] = "--cluster-id";
	argv[k++] = f->it.c.cluster_id;
	argv[k++] = "--state-file";
	argv[k++] = s->state;
	argv[k++] = "--verbose";
	argv[k++] = "--verbose";
	va_start(ap, consumers);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
		if (k < 47)
			argv[k++] = a;
	va_end(ap);
	argv[k] = NULL;
	s->pid = itest_spawn(argv, s->log);
	f->n_sims++;
	return i;
}

/* SIGTERM, then wait (running the loop) for the exit; its status. */
static int term_sim(struct fixture *f, unsigned i, unsigned timeout_ms)
{
	struct simproc *s = &f->sims[i];
	uint64_t end = tool_now_ms() + timeout_ms;
	int st;
	assert_int_equal(kill(s->pid, SIGTERM), 0);
	for (;;) {
		pid_t r = waitpid(s->pid, &st, WNOHANG);
		if (r == s->pid)
			break;
		if (tool_now_ms() > end) {
			itest_kill(&s->pid);
			return -1;
		}
		itest_pump(&f->it.loop, 20);
	}
	s->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the sampled invariant ---- */

struct own {
	const char *group;
	const char *topic_id;
	int32_t partition;
	unsigned sim, consumer;
	uint64_t lo, hi;
};

static int cmp_own(const void *a, const void *b)
{
	const struct own *x = a, *y = b;
	int c = strcmp(x->group, y->group);
	if (c)
		return c;
	c = strcmp(x->topic_id, y->topic_id);
	if (c)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* Every consumer sim's state file (NULL when not written yet). */
static void load_states(struct fixture *f, json_t **js)
{
	for (unsigned i = 0; i < f->n_sims; i++)
		js[i] = f->sims[i].consumers
			    ? json_load_file(f->sims[i].state, 0, NULL)
			    : NULL;
}

static void free_states(struct fixture *f, json_t **js)
{
	for (unsigned i = 0; i < f->n_sims; i++)
		json_decref(js[i]);
}

static void sample(struct fixture *f)
{
	json_t *js[MAX_SIMS];
	struct own *v = NULL;
	size_t n = 0, cap = 0;
	load_states(f, js);
	for (unsigned s = 0; s < f->n_sims; s++) {
		json_t *cs, *c;
		size_t ci;
		uint64_t hi;
		if (js[s] == NULL)
			continue;
		hi = (uint64_t)json_integer_value(
		    json_object_get(js[s], "updated_us"));
		cs = json_object_get(js[s], "consumers");
		json_array_foreach(cs, ci, c)
		{
			json_t *owned = json_object_get(c, "owned"), *t;
			uint64_t lo = (uint64_t)json_integer_value(
			    json_object_get(c, "changed_us"));
			size_t ti;
			json_array_foreach(owned, ti, t)
			{
				json_t *ps = json_object_get(t, "partitions"),
				       *p;
				size_t pi;
				json_array_foreach(ps, pi, p)
				{
					if (n == cap) {
						cap = cap ? cap * 2 : 1024;
						v = realloc(v, cap * sizeof *v);
						assert_non_null(v);
					}
					v[n++] = (struct own){
					    json_string_value(
						json_object_get(c, "group")),
					    json_string_value(
						json_object_get(t, "topic_id")),
					    (int32_t)json_integer_value(p),
					    s,
					    (unsigned)ci,
					    lo,
					    hi};
				}
			}
		}
	}
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_own);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && cmp_own(&v[i], &v[j]) == 0)
			j++;
		for (size_t a = i; a < j; a++)
			for (size_t b = a + 1; b < j; b++) {
				const struct own *x = &v[a], *y = &v[b];
				if (x->sim == y->sim &&
				    x->consumer == y->consumer)
					continue;
				if (x->lo <= y->hi && y->lo <= x->hi) {
					if (f->violations++ == 0)
						snprintf(
						    f->first_violation,
						    sizeof f->first_violation,
						    "%s %s-%d: sim %u consumer "
						    "%u [%llu,%llu] and sim %u "
						    "consumer %u [%llu,%llu]",
						    x->group, x->topic_id,
						    x->partition, x->sim,
						    x->consumer,
						    (unsigned long long)x->lo,
						    (unsigned long long)x->hi,
						    y->sim, y->consumer,
						    (unsigned long long)y->lo,
						    (unsigned long long)y->hi);
				}
			}
		i = j;
	}
	if (n > f->max_owners_entries)
		f->max_owners_entries = n;
	f->samples++;
	free(v);
	free_states(f, js);
}

static void on_sample(uv_timer_t *t)
{
	sample(t->data);
}

static void assert_no_violation(struct fixture *f)
{
	if (f->violations)
		fail_msg("%u double ownership(s) sampled, first: %s",
			 f->violations, f->first_violation);
}

/* ---- cluster calls ---- */

static void start(struct fixture *f)
{
	itest_start(&f->it, 3, SYNOD_BIN, NULL);
	itest_start_client(&f->it);
	assert_int_equal(itest_set_cluster_configs(&f->it, 4000, 200),
			 SYNOD_OK);
	assert_int_equal(itest_set_group_configs(&f->it, SESSION_MS, 200),
			 SYNOD_OK);
	uv_timer_init(&f->it.loop, &f->sampler);
	f->sampler.data = f;
	f->sampler_on = 1;
	uv_timer_start(&f->sampler, on_sample, SAMPLE_MS, SAMPLE_MS);
}

/* CREATE_TOPICS, RF 1; the result's code. */
static int try_create_topic(struct fixture *f, const char *name, uint32_t n)
{
	Synod__Wire__CreateTopicsRequest r =
	    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
	Synod__Wire__CreatableTopic t = SYNOD__WIRE__CREATABLE_TOPIC__INIT;
	Synod__Wire__CreatableTopic *tp = &t;
	Synod__Wire__CreateTopicsResponse *resp = NULL;
	int code;
	t.name = (char *)name;
	t.has_partitions = t.has_replication_factor = 1;
	t.partitions = n;
	t.replication_factor = 1;
	r.n_topics = 1;
	r.topics = &tp;
	code = itest_call(&f->it, SYNOD_API_CREATE_TOPICS, &r.base,
			  &synod__wire__create_topics_response__descriptor,
			  (ProtobufCMessage **)&resp);
	if (code == SYNOD_OK)
		code = resp->results[0]->status->code;
	if (resp)
		synod__wire__create_topics_response__free_unpacked(resp, NULL);
	return code;
}

static void create_topic(struct fixture *f, const char *name, uint32_t n)
{
	assert_true(f->n_topics < MAX_TOPICS);
	assert_int_equal(try_create_topic(f, name, n), SYNOD_OK);
	snprintf(f->topics[f->n_topics].name, sizeof f->topics[0].name, "%s",
		 name);
	f->topics[f->n_topics++].partitions = n;
}

static struct topic *find_topic(struct fixture *f, const char *name)
{
	for (unsigned i = 0; i < f->n_topics; i++)
		if (strcmp(f->topics[i].name, name) == 0 &&
		    f->topics[i].partitions)
			return &f->topics[i];
	return NULL;
}

static void create_partitions(struct fixture *f, const char *name,
			      uint32_t total)
{
	Synod__Wire__CreatePartitionsRequest r =
	    SYNOD__WIRE__CREATE_PARTITIONS_REQUEST__INIT;
	struct topic *t = find_topic(f, name);
	assert_non_null(t);
	r.name = (char *)name;
	r.total = total;
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_CREATE_PARTITIONS, &r.base,
		       &synod__wire__create_partitions_response__descriptor,
		       NULL),
	    SYNOD_OK);
	t->partitions = total;
}

static void delete_topic(struct fixture *f, const char *name)
{
	Synod__Wire__DeleteTopicsRequest r =
	    SYNOD__WIRE__DELETE_TOPICS_REQUEST__INIT;
	char *names[1] = {(char *)name};
	struct topic *t = find_topic(f, name);
	assert_non_null(t);
	r.names = names;
	r.n_names = 1;
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_DELETE_TOPICS, &r.base,
		       &synod__wire__delete_topics_response__descriptor, NULL),
	    SYNOD_OK);
	t->partitions = 0;
}

/* The partitions a group of these tests subscribes to: orders, events
 * and every topic matching ^logs-. */
static unsigned subscribed_partitions(struct fixture *f, const char *topic)
{
	struct topic *t = find_topic(f, topic);
	if (t == NULL)
		return 0;
	if (strcmp(topic, "orders") == 0 || strcmp(topic, "events") == 0 ||
	    strncmp(topic, "logs-", 5) == 0)
		return t->partitions;
	return 0;
}

static unsigned subscription_size(struct fixture *f)
{
	unsigned n = 0;
	for (unsigned i = 0; i < f->n_topics; i++)
		n += subscribed_partitions(f, f->topics[i].name);
	return n;
}

/* GROUP_DESCRIBE of one group (NULL when the call failed, e.g. during
 * an election). */
static Synod__Wire__GroupDescribeResponse *describe(struct fixture *f,
						    const char *group)
{
	Synod__Wire__GroupDescribeRequest r =
	    SYNOD__WIRE__GROUP_DESCRIBE_REQUEST__INIT;
	Synod__Wire__GroupDescribeResponse *resp = NULL;
	char *ids[1] = {(char *)group};
	int code;
	r.group_ids = ids;
	r.n_group_ids = 1;
	code = itest_call(&f->it, SYNOD_API_GROUP_DESCRIBE, &r.base,
			  &synod__wire__group_describe_response__descriptor,
			  (ProtobufCMessage **)&resp);
	if (code != SYNOD_OK || resp->n_groups != 1) {
		if (resp)
			synod__wire__group_describe_response__free_unpacked(
			    resp, NULL);
		return NULL;
	}
	return resp;
}

/* ---- convergence ---- */

static int live_state(const char *st)
{
	return strcmp(st, "crashed") != 0 && strcmp(st, "left") != 0 &&
	       strcmp(st, "failed") != 0;
}

/* Converged: in every group, `members` live consumers, all stable with
 * nothing being revoked, owning together every subscribed partition
 * exactly once, sizes within one; GROUP_DESCRIBE agrees (stable, that
 * many members, assignment epoch = group epoch). why: what is missing. */
static int converged(struct fixture *f, unsigned members, char *why,
		     size_t why_len)
{
	json_t *js[MAX_SIMS];
	unsigned want = subscription_size(f);
	int ok = 1;
	load_states(f, js);
	for (unsigned g = 0; g < N_GROUPS && ok; g++) {
		char group[16];
		unsigned n_live = 0, total = 0, mn = ~0u, mx = 0;
		snprintf(group, sizeof group, "group-%u", g);
		for (unsigned s = 0; s < f->n_sims && ok; s++) {
			json_t *c;
			size_t ci;
			if (!f->sims[s].consumers || f->sims[s].pid == 0)
				continue;
			if (js[s] == NULL) {
				snprintf(why, why_len, "no state file %u", s);
				ok = 0;
				break;
			}
			json_array_foreach(json_object_get(js[s], "consumers"),
					   ci, c)
			{
				const char *st = json_string_value(
				    json_object_get(c, "state"));
				json_t *t;
				size_t ti;
				unsigned mine = 0;
				if (strcmp(json_string_value(
					       json_object_get(c, "group")),
					   group) != 0 ||
				    !live_state(st))
					continue;
				n_live++;
				if (strcmp(st, "stable") != 0 ||
				    json_integer_value(json_object_get(
					c, "revocations_outstanding"))) {
					snprintf(why, why_len,
						 "%s: sim %u consumer %zu %s",
						 group, s, ci, st);
					ok = 0;
					break;
				}
				json_array_foreach(json_object_get(c, "owned"),
						   ti, t)
				{
					const char *name = json_string_value(
					    json_object_get(t, "topic"));
					json_t *p;
					size_t pi;
					assert_non_null(name);
					json_array_foreach(
					    json_object_get(t, "partitions"),
					    pi, p)
					{
						if (json_integer_value(p) >=
						    (json_int_t)
							subscribed_partitions(
							    f, name)) {
							snprintf(
							    why, why_len,
							    "%s: owns "
							    "%s-%lld",
							    group, name,
							    (long long)
								json_integer_value(
								    p));
							ok = 0;
						}
						mine++;
					}
				}
				total += mine;
				if (mine < mn)
					mn = mine;
				if (mine > mx)
					mx = mine;
			}
		}
		if (!ok)
			break;
		if (n_live != members || total != want || mx - mn > 1) {
			snprintf(why, why_len,
				 "%s: %u live consumers (want %u), %u "
				 "partitions owned (want %u), sizes %u..%u",
				 group, n_live, members, total, want, mn, mx);
			ok = 0;
		}
	}
	free_states(f, js);
	if (!ok)
		return 0;
	/* The controller's view. */
	for (unsigned g = 0; g < N_GROUPS; g++) {
		char group[16];
		Synod__Wire__GroupDescribeResponse *d;
		const Synod__Wire__GroupSummary *s;
		snprintf(group, sizeof group, "group-%u", g);
		d = describe(f, group);
		if (d == NULL) {
			snprintf(why, why_len, "%s: describe failed", group);
			return 0;
		}
		s = d->groups[0]->summary;
		if (strcmp(s->state, "stable") != 0 || s->members != members ||
		    s->group_epoch != s->assignment_epoch) {
			snprintf(why, why_len,
				 "%s: controller says %s, %u members, "
				 "epochs %d/%d",
				 group, s->state, s->members, s->group_epoch,
				 s->assignment_epoch);
			ok = 0;
		}
		synod__wire__group_describe_response__free_unpacked(d, NULL);
		if (!ok)
			return 0;
	}
	return 1;
}

/* Wait for converged(members); returns how long it took (ms). */
static uint64_t wait_converged(struct fixture *f, unsigned members,
			       const char *what)
{
	uint64_t t0 = tool_now_ms(), end = t0 + WAIT_MS;
	char why[256] = "";
	while (!converged(f, members, why, sizeof why)) {
		if (tool_now_ms() > end)
			fail_msg("%s: not converged after %u ms: %s", what,
				 WAIT_MS, why);
		itest_pump(&f->it.loop, 20);
	}
	assert_no_violation(f);
	fprintf(stderr,
		"test_groups_sim: %s: converged in %llu ms (%u x %u "
		"consumers, %u partitions per group, %u samples)\n",
		what, (unsigned long long)(tool_now_ms() - t0), N_GROUPS,
		members, subscription_size(f), f->samples);
	return tool_now_ms() - t0;
}

/* The member id of each live consumer: ids[sim * 64 + index]. */
#define ID_SLOTS (MAX_SIMS * 64)
struct ids {
	char id[ID_SLOTS][40];
};

static void member_ids(struct fixture *f, struct ids *out)
{
	json_t *js[MAX_SIMS];
	memset(out, 0, sizeof *out);
	load_states(f, js);
	for (unsigned s = 0; s < f->n_sims; s++) {
		json_t *c;
		size_t ci;
		if (js[s] == NULL || f->sims[s].pid == 0)
			continue;
		json_array_foreach(json_object_get(js[s], "consumers"), ci, c)
		{
			const char *st =
			    json_string_value(json_object_get(c, "state"));
			if (ci >= 64 || !live_state(st))
				continue;
			snprintf(
			    out->id[s * 64 + ci], sizeof out->id[0], "%s",
			    json_string_value(json_object_get(c, "member_id")));
		}
	}
	free_states(f, js);
}

/* Sum of a counter over the live consumers of the consumer sims. */
static long long consumer_sum(struct fixture *f, const char *key)
{
	json_t *js[MAX_SIMS];
	long long n = 0;
	load_states(f, js);
	for (unsigned s = 0; s < f->n_sims; s++) {
		json_t *c;
		size_t ci;
		if (js[s] == NULL || f->sims[s].pid == 0)
			continue;
		json_array_foreach(json_object_get(js[s], "consumers"), ci, c)
		    n += json_integer_value(json_object_get(c, key));
	}
	free_states(f, js);
	return n;
}

/* Some consumer of sim s has a revocation outstanding. */
static int revoking(struct fixture *f, unsigned s)
{
	json_t *j = json_load_file(f->sims[s].state, 0, NULL), *c;
	size_t ci;
	int r = 0;
	if (j == NULL)
		return 0;
	json_array_foreach(json_object_get(j, "consumers"), ci, c) r |=
	    json_integer_value(json_object_get(c, "revocations_outstanding")) >
	    0;
	json_decref(j);
	return r;
}

/* Count of the consumers of sim s in state st. */
static unsigned count_state(struct fixture *f, unsigned s, const char *st)
{
	json_t *j = json_load_file(f->sims[s].state, 0, NULL), *c;
	size_t ci;
	unsigned n = 0;
	if (j == NULL)
		return 0;
	json_array_foreach(json_object_get(j, "consumers"), ci, c) n +=
	    strcmp(json_string_value(json_object_get(c, "state")), st) == 0;
	json_decref(j);
	return n;
}

/* ---- the test ---- */

static void test_groups_sim(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = &f->it.c;
	struct ids *before = calloc(1, sizeof *before),
		   *after = calloc(1, sizeof *after);
	unsigned brokers, s1, s2, s3, leader, newleader;
	uint64_t end, t_kill;
	long long fences0, self0;
	assert_non_null(before);
	assert_non_null(after);
	start(f);

	/* Brokers (topics need replicas): a sim of three. */
	brokers = spawn_sim(f, 0, "--brokers", "3", "--first-id", "1",
			    "--ramp-ms", "0", NULL);
	(void)brokers;
	end = tool_now_ms() + WAIT_MS;
	for (;;) {
		int code = try_create_topic(f, "orders", 100);
		if (code == SYNOD_OK)
			break;
		if (tool_now_ms() > end)
			fail_msg("cannot create a topic: %s",
				 synod_error_name(code));
		itest_pump(&f->it.loop, 100);
	}
	snprintf(f->topics[0].name, sizeof f->topics[0].name, "orders");
	f->topics[0].partitions = 100;
	f->n_topics = 1;
	create_topic(f, "events", 100);
	create_topic(f, "other", 100); /* subscribed by nobody */

	/* 3 groups x 10 consumers, one process, --brokers 0. */
	s1 = spawn_sim(f, 1, "--brokers", "0", "--consumers", "30", "--groups",
		       "3", "--subscribe", "orders,events,/^logs-/",
		       "--revoke-delay-ms", "300", NULL);
	wait_converged(f, 10, "join 3 x 10");

	/* 6 more consumers in another process; three of them (one per
	 * group) crash 3 s after start and come back as new members 5 s
	 * later. */
	s2 =
	    spawn_sim(f, 1, "--brokers", "0", "--consumers", "6", "--groups",
		      "3", "--subscribe", "orders,events,/^logs-/",
		      "--revoke-delay-ms", "100", "--crash-consumers", "0,1,2",
		      "--crash-after", "3000", "--restart-after", "5000", NULL);
	end = tool_now_ms() + WAIT_MS;
	while (count_state(f, s2, "crashed") != 3) {
		if (tool_now_ms() > end)
			fail_msg("the consumers did not crash");
		itest_pump(&f->it.loop, 20);
	}
	fprintf(stderr, "test_groups_sim: 3 consumers crashed\n");
	/* Their partitions go to the others after their sessions (2 s);
	 * 11 per group is checked only if it settles before the restart
	 * (timing), 12 per group after it always. */
	{
		char why[256];
		uint64_t t0 = tool_now_ms();
		while (count_state(f, s2, "crashed") == 3 &&
		       !converged(f, 11, why, sizeof why))
			itest_pump(&f->it.loop, 20);
		if (count_state(f, s2, "crashed") == 3)
			fprintf(stderr,
				"test_groups_sim: 3 consumers crashed: "
				"converged in %llu ms (3 x 11)\n",
				(unsigned long long)(tool_now_ms() - t0));
	}
	wait_converged(f, 12, "3 consumers restarted");
	assert_int_equal(count_state(f, s2, "crashed"), 0);

	create_partitions(f, "orders", 150);
	wait_converged(f, 12, "orders grown to 150");
	create_topic(f, "logs-a", 100);
	wait_converged(f, 12, "logs-a created (regex)");
	delete_topic(f, "events");
	wait_converged(f, 12, "events deleted");
	fprintf(stderr,
		"test_groups_sim: before the failover: %lld fences, %lld "
		"self-fences, %lld joins\n",
		consumer_sum(f, "fences"), consumer_sum(f, "self_fences"),
		consumer_sum(f, "joins"));
	fences0 = consumer_sum(f, "fences");
	self0 = consumer_sum(f, "self_fences");

	/* kill -9 of the active controller in the middle of a
	 * reconciliation: a new consumer per group makes members give up
	 * partitions (300 ms each in sim 1). */
	member_ids(f, before);
	s3 = spawn_sim(f, 1, "--brokers", "0", "--consumers", "3", "--groups",
		       "3", "--subscribe", "orders,events,/^logs-/", NULL);
	end = tool_now_ms() + WAIT_MS;
	while (!revoking(f, s1)) {
		if (tool_now_ms() > end)
			fail_msg("no reconciliation to interrupt");
		itest_pump(&f->it.loop, 5);
	}
	leader = cluster_wait_leader(c, WAIT_MS);
	assert_int_not_equal(leader, 0);
	t_kill = tool_now_ms();
	assert_int_equal(cluster_kill(c, leader), 0);
	fprintf(stderr,
		"test_groups_sim: killed node %u during a reconciliation\n",
		leader);
	end = tool_now_ms() + WAIT_MS;
	for (newleader = 0; newleader == 0;) {
		if (tool_now_ms() > end)
			fail_msg("no new leader");
		itest_pump(&f->it.loop, 50);
		newleader = cluster_wait_leader(c, 200);
	}
	fprintf(stderr, "test_groups_sim: node %u leads after %llu ms\n",
		newleader, (unsigned long long)(tool_now_ms() - t_kill));
	wait_converged(f, 13, "new consumers across a failover");
	fprintf(stderr, "test_groups_sim: %llu ms from the kill\n",
		(unsigned long long)(tool_now_ms() - t_kill));
	member_ids(f, after);
	for (unsigned i = 0; i < ID_SLOTS; i++)
		if (before->id[i][0])
			assert_string_equal(before->id[i], after->id[i]);
	/* The failover fenced nobody (the counters of sims 1 and 2; sim 3's
	 * consumers joined across it). */
	fprintf(stderr,
		"test_groups_sim: after the failover: %lld fences (%lld "
		"before), %lld self-fences\n",
		consumer_sum(f, "fences"), fences0,
		consumer_sum(f, "self_fences"));
	assert_int_equal(consumer_sum(f, "self_fences"), self0);
	assert_int_equal(cluster_start_node(c, leader), 0);

	/* What operators see: synodctl agrees on the members. */
	{
		json_t *j = NULL, *members, *m;
		size_t i, total = 0;
		assert_int_equal(itest_synodctl(&f->it, SYNOD_CTL,
						"group describe group-1", &j),
				 0);
		assert_string_equal(
		    json_string_value(json_object_get(j, "state")), "stable");
		members = json_object_get(j, "members");
		assert_int_equal(json_array_size(members), 13);
		json_array_foreach(members, i, m)
		{
			json_t *as = json_object_get(m, "assigned"), *t;
			const char *id =
			    json_string_value(json_object_get(m, "member_id"));
			size_t k;
			int found = 0;
			json_array_foreach(as, k, t) total +=
			    json_array_size(json_object_get(t, "partitions"));
			for (unsigned x = 0; x < ID_SLOTS; x++)
				found |= strcmp(after->id[x], id) == 0;
			assert_true(found);
		}
		assert_int_equal(total, subscription_size(f));
		json_decref(j);
	}

	/* Clean exits: the consumers leave; the groups end up empty. */
	assert_int_equal(term_sim(f, s3, 20000), 0);
	assert_int_equal(term_sim(f, s2, 20000), 0);
	assert_int_equal(term_sim(f, s1, 20000), 0);
	/* Members whose leave was lost expire after their session. */
	end = tool_now_ms() + WAIT_MS;
	for (unsigned g = 0; g < N_GROUPS;) {
		char group[16];
		Synod__Wire__GroupDescribeResponse *d;
		int empty;
		snprintf(group, sizeof group, "group-%u", g);
		d = describe(f, group);
		assert_non_null(d);
		empty = strcmp(d->groups[0]->summary->state, "empty") == 0;
		if (!empty && tool_now_ms() > end)
			fail_msg("%s: %s, %u members after the leaves", group,
				 d->groups[0]->summary->state,
				 d->groups[0]->summary->members);
		synod__wire__group_describe_response__free_unpacked(d, NULL);
		if (empty)
			g++;
		else
			itest_pump(&f->it.loop, 100);
	}
	fprintf(stderr,
		"test_groups_sim: groups empty %llu ms after the "
		"last sim exited\n",
		(unsigned long long)(tool_now_ms() + WAIT_MS - end));
	assert_no_violation(f);
	fprintf(stderr,
		"test_groups_sim: %u samples, up to %llu owned partitions "
		"per sample, no double ownership\n",
		f->samples, f->max_owners_entries);
	free(before);
	free(after);
	f->it.passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_groups_sim, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
