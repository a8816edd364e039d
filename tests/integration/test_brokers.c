/* tests/integration/test_brokers.c - the broker lifecycle against a real
 * quorum (docs/broker-protocol.md).
 *
 * Each test starts its own quorum of `synod` processes (SYNOD_BIN) on
 * loopback with a 300 ms election timeout through tools/cluster.c, sets
 * short broker session and heartbeat configs, and drives brokers three
 * ways: `synod-sim` processes (SYNOD_SIM) where a whole broker process must
 * crash (kill -9) or shut down (SIGTERM); struct synod_broker objects of the
 * C library on the test's own loop; and hand-made requests for what a
 * well-behaved library never sends (zombie epochs, bad registrations).
 * `synodctl` (SYNOD_CTL) is checked for its --json output.
 *
 * The library brokers and the test's client share one loop, so every
 * blocking call and every wait here keeps the brokers heartbeating. Every
 * wait is bounded; a failing test prints the tail of every node's and
 * simulator's log. $SYNOD_KEEP_TEST_DIRS keeps the data dirs and logs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

#define MAX_SIMS 4
#define MAX_LIB 16
#define SIM_PORT_BASE 19000 /* tools/sim.c: endpoint port = 19000 + id */

struct lib_broker {
	struct synod_broker *b; /* NULL once closed */
};

struct fixture {
	struct itest it;
	struct lib_broker lib[MAX_LIB];
	unsigned n_lib;
	pid_t sims[MAX_SIMS];
	char sim_logs[MAX_SIMS][600];
	unsigned n_sims;
	unsigned session_ms, heartbeat_ms;
};

/* ---- processes ---- */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Start `synod-sim` with brokers first..first+n-1; extra: NULL-terminated
 * more arguments. Returns the index of the simulator. */
static unsigned spawn_sim(struct fixture *f, int first, unsigned n, ...)
{
	char first_s[16], n_s[16];
	const char *argv[40];
	unsigned k = 0, i = f->n_sims;
	va_list ap;
	assert_true(i < MAX_SIMS);
	snprintf(first_s, sizeof first_s, "%d", first);
	snprintf(n_s, sizeof n_s, "%u", n);
	snprintf(f->sim_logs[i], sizeof f->sim_logs[i], "%s/sim-%u.log",
		 f->it.c.dir, i);
	argv[k++] = SYNOD_SIM;
	argv[k++] = "--bootstrap";
	argv[k++] = f->it.c.bootstrap;
	argv[k++] = "--cluster-id";
	argv[k++] = f->it.c.cluster_id;
	argv[k++] = "--brokers";
	argv[k++] = n_s;
	argv[k++] = "--first-id";
	argv[k++] = first_s;
	argv[k++] = "--verbose";
	va_start(ap, n);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
		if (k < 39)
			argv[k++] = a;
	va_end(ap);
	argv[k] = NULL;
	f->sims[i] = itest_spawn(argv, f->sim_logs[i]);
	f->n_sims++;
	return i;
}

/* Wait up to timeout_ms for simulator i to exit; its exit code, or -1
 * (still running, or killed by a signal). */
static int wait_sim(struct fixture *f, unsigned i, unsigned timeout_ms)
{
	uint64_t deadline = tool_now_ms() + timeout_ms;
	int st;
	for (;;) {
		pid_t r = waitpid(f->sims[i], &st, WNOHANG);
		if (r == f->sims[i]) {
			f->sims[i] = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		}
		if (r < 0 || tool_now_ms() >= deadline)
			return -1;
		itest_sleep_ms(10);
	}
}

static void kill_sim(struct fixture *f, unsigned i)
{
	itest_kill(&f->sims[i]);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static void close_lib(struct fixture *f, unsigned i)
{
	if (f->lib[i].b) {
		synod_broker_close(f->lib[i].b);
		f->lib[i].b = NULL;
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	const char *logs[MAX_SIMS];
	int rv;
	for (unsigned i = 0; i < f->n_sims; i++)
		kill_sim(f, i);
	for (unsigned i = 0; i < f->n_lib; i++)
		close_lib(f, i);
	for (unsigned i = 0; i < f->n_sims; i++)
		logs[i] = f->sim_logs[i];
	rv = itest_teardown(&f->it, logs, f->n_sims, 30);
	free(f);
	return rv;
}

/* ---- the test's loop and client ---- */

/* Start an n-node quorum, wait for a leader, make the client and set the
 * broker configs (before any broker starts). */
static struct cluster *start(struct fixture *f, unsigned n, unsigned session_ms,
			     unsigned heartbeat_ms)
{
	itest_start(&f->it, n, SYNOD_BIN, NULL);
	itest_start_client(&f->it);
	assert_int_equal(
	    itest_set_cluster_configs(&f->it, session_ms, heartbeat_ms),
	    SYNOD_OK);
	f->session_ms = session_ms;
	f->heartbeat_ms = heartbeat_ms;
	/* The active controller rereads them every 50 ms. */
	itest_pump(&f->it.loop, 200);
	return &f->it.c;
}

/* ---- library brokers ---- */

/* A started library broker on the test's loop; its index in f->lib. */
static unsigned lib_start(struct fixture *f, int32_t id, const char *cluster_id,
			  uint16_t port, unsigned duplicate_retry_ms)
{
	struct synod_endpoint ep = {"PLAINTEXT", "127.0.0.1", port,
				    "PLAINTEXT"};
	struct synod_broker_config cfg = {0};
	unsigned i = f->n_lib;
	assert_true(i < MAX_LIB);
	cfg.bootstrap = f->it.c.bootstrap;
	cfg.cluster_id = cluster_id ? cluster_id : f->it.c.cluster_id;
	cfg.broker_id = id;
	cfg.rack = "lib";
	cfg.endpoints = &ep;
	cfg.n_endpoints = 1;
	cfg.duplicate_retry_ms = duplicate_retry_ms;
	assert_int_equal(
	    synod_broker_new(&f->it.loop, &cfg, NULL, &f->lib[i].b), SYNOD_OK);
	f->n_lib++;
	assert_int_equal(synod_broker_start(f->lib[i].b), SYNOD_OK);
	return i;
}

static enum synod_broker_state lib_state(struct fixture *f, unsigned i)
{
	return synod_broker_state(f->lib[i].b);
}

/* Run the loop until library broker i is in state `want` (0) or the
 * deadline passes (-1). */
static int lib_wait(struct fixture *f, unsigned i, enum synod_broker_state want,
		    unsigned timeout_ms)
{
	uint64_t deadline = tool_now_ms() + timeout_ms;
	while (lib_state(f, i) != want) {
		if (tool_now_ms() >= deadline) {
			const char *msg;
			synod_broker_error(f->lib[i].b, &msg);
			fprintf(stderr,
				"broker %d: state %s, wanted %s (last error: "
				"%s)\n",
				synod_broker_id(f->lib[i].b),
				synod_broker_state_name(lib_state(f, i)),
				synod_broker_state_name(want), msg);
			return -1;
		}
		itest_pump(&f->it.loop, 10);
	}
	return 0;
}

/* ---- broker APIs by hand ---- */

static Synod__Wire__BrokerListResponse *list_brokers(struct fixture *f)
{
	Synod__Wire__BrokerListRequest r =
	    SYNOD__WIRE__BROKER_LIST_REQUEST__INIT;
	Synod__Wire__BrokerListResponse *resp;
	int code = itest_call(&f->it, SYNOD_API_BROKER_LIST, &r.base,
			      &synod__wire__broker_list_response__descriptor,
			      (ProtobufCMessage **)&resp);
	if (code != SYNOD_OK) {
		fprintf(stderr, "BROKER_LIST: %s\n", synod_error_name(code));
		if (resp)
			synod__wire__broker_list_response__free_unpacked(resp,
									 NULL);
		return NULL;
	}
	return resp;
}

static void list_free(Synod__Wire__BrokerListResponse *l)
{
	if (l)
		synod__wire__broker_list_response__free_unpacked(l, NULL);
}

static const Synod__Wire__BrokerInfo *
find_broker(const Synod__Wire__BrokerListResponse *l, int32_t id)
{
	for (size_t i = 0; i < l->n_brokers; i++)
		if (l->brokers[i]->id == id)
			return l->brokers[i];
	return NULL;
}

/* BROKER_LIST with broker_id: the code; *out (caller frees) on success. */
static int describe_broker(struct fixture *f, int32_t id,
			   Synod__Wire__BrokerListResponse **out)
{
	Synod__Wire__BrokerListRequest r =
	    SYNOD__WIRE__BROKER_LIST_REQUEST__INIT;
	r.has_broker_id = 1;
	r.broker_id = id;
	return itest_call(&f->it, SYNOD_API_BROKER_LIST, &r.base,
			  &synod__wire__broker_list_response__descriptor,
			  (ProtobufCMessage **)out);
}

static int unregister_broker(struct fixture *f, int32_t id)
{
	Synod__Wire__BrokerUnregisterRequest r =
	    SYNOD__WIRE__BROKER_UNREGISTER_REQUEST__INIT;
	r.broker_id = id;
	return itest_call(&f->it, SYNOD_API_BROKER_UNREGISTER, &r.base,
			  &synod__wire__broker_unregister_response__descriptor,
			  NULL);
}

/* A registration built by hand. */
struct reg {
	Synod__Wire__BrokerRegisterRequest req;
	Synod__Wire__Endpoint eps[10];
	Synod__Wire__Endpoint *epp[10];
	char names[10][16];
	int other_heard; /* of a DUPLICATE_BROKER_REGISTRATION answer */
};

static void reg_init(struct fixture *f, struct reg *g, int32_t id,
		     const char *incarnation)
{
	memset(g, 0, sizeof *g);
	synod__wire__broker_register_request__init(&g->req);
	g->req.cluster_id = f->it.c.cluster_id;
	g->req.broker_id = id;
	g->req.incarnation_id = (char *)incarnation;
	for (unsigned i = 0; i < 10; i++) {
		synod__wire__endpoint__init(&g->eps[i]);
		snprintf(g->names[i], sizeof g->names[i], "L%u", i);
		g->eps[i].name = g->names[i];
		g->eps[i].host = "127.0.0.1";
		g->eps[i].port = 9092 + i;
		g->eps[i].security_protocol = "PLAINTEXT";
		g->epp[i] = &g->eps[i];
	}
	g->req.n_endpoints = 1;
	g->req.endpoints = g->epp;
}

/* The code; *epoch and *message (malloc'd, may be NULL) when wanted. */
static int reg_send(struct fixture *f, struct reg *g, uint64_t *epoch,
		    char **message)
{
	Synod__Wire__BrokerRegisterResponse *resp;
	int code =
	    itest_call(&f->it, SYNOD_API_BROKER_REGISTER, &g->req.base,
		       &synod__wire__broker_register_response__descriptor,
		       (ProtobufCMessage **)&resp);
	if (epoch)
		*epoch = 0;
	if (message)
		*message = NULL;
	if (resp == NULL)
		return code;
	if (code == SYNOD_OK) {
		assert_true(resp->has_broker_epoch);
		assert_true(resp->has_heartbeat_interval_ms);
		assert_true(resp->has_session_timeout_ms);
		assert_int_equal(resp->heartbeat_interval_ms, f->heartbeat_ms);
		assert_int_equal(resp->session_timeout_ms, f->session_ms);
		if (epoch)
			*epoch = resp->broker_epoch;
	}
	if (code == SYNOD_EDUPLICATE_BROKER_REGISTRATION) {
		assert_true(resp->has_other_heard);
		g->other_heard = resp->other_heard;
	}
	if (message && resp->status->message)
		*message = strdup(resp->status->message);
	synod__wire__broker_register_response__free_unpacked(resp, NULL);
	return code;
}

struct hb_result {
	int is_fenced, is_caught_up, should_shutdown;
	uint64_t metadata_version;
};

/* A heartbeat on the test's client (fd < 0) or on raw connection fd
 * (with correlation id corr); its status code. */
static int heartbeat_on(struct fixture *f, int fd, uint32_t corr, int32_t id,
			uint64_t epoch, uint64_t version, int want_fence,
			int want_shutdown, struct hb_result *out)
{
	Synod__Wire__BrokerHeartbeatRequest r =
	    SYNOD__WIRE__BROKER_HEARTBEAT_REQUEST__INIT;
	Synod__Wire__BrokerHeartbeatResponse *resp;
	int code;
	r.broker_id = id;
	r.broker_epoch = epoch;
	r.metadata_version = version;
	if (want_fence) {
		r.has_want_fence = 1;
		r.want_fence = 1;
	}
	if (want_shutdown) {
		r.has_want_shutdown = 1;
		r.want_shutdown = 1;
	}
	if (fd < 0) {
		code = itest_call(
		    &f->it, SYNOD_API_BROKER_HEARTBEAT, &r.base,
		    &synod__wire__broker_heartbeat_response__descriptor,
		    (ProtobufCMessage **)&resp);
	} else {
		resp = (Synod__Wire__BrokerHeartbeatResponse *)itest_raw_call(
		    fd, SYNOD_API_BROKER_HEARTBEAT, NULL, corr, &r.base,
		    &synod__wire__broker_heartbeat_response__descriptor);
		code = (int)resp->status->code;
	}
	if (resp == NULL)
		return code;
	if (code == SYNOD_OK && out) {
		assert_true(resp->has_is_fenced && resp->has_is_caught_up &&
			    resp->has_should_shutdown &&
			    resp->has_metadata_version);
		assert_true(resp->has_heartbeat_interval_ms);
		assert_int_equal(resp->heartbeat_interval_ms, f->heartbeat_ms);
		out->is_fenced = resp->is_fenced;
		out->is_caught_up = resp->is_caught_up;
		out->should_shutdown = resp->should_shutdown;
		out->metadata_version = resp->metadata_version;
	}
	synod__wire__broker_heartbeat_response__free_unpacked(resp, NULL);
	return code;
}

static int heartbeat(struct fixture *f, int32_t id, uint64_t epoch,
		     uint64_t version, int want_fence, int want_shutdown,
		     struct hb_result *out)
{
	return heartbeat_on(f, -1, 0, id, epoch, version, want_fence,
			    want_shutdown, out);
}

/* ---- node logs ---- */

/* 1 when some node's log contains `text`. */
static int any_log_contains(struct cluster *c, const char *text)
{
	for (unsigned id = 1; id <= c->n; id++)
		if (itest_log_contains_after(c, id, 0, text))
			return 1;
	return 0;
}

/* ---- synodctl ---- */

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* ---- a. 100 brokers, 5 crash, the controller crashes, shutdown ---- */

#define A_SESSION_MS 3000
#define A_HEARTBEAT_MS 300
#define A_BROKERS 100
#define A_CRASHED 5 /* ids 96..100, a simulator of their own */

/* Counts of brokers 1..A_BROKERS in each state; -1 when the list is not
 * exactly those ids. */
struct tally {
	unsigned active, fenced, shutting_down;
	unsigned crashed_fenced; /* of ids > A_BROKERS - A_CRASHED */
	unsigned healthy_active; /* of ids <= A_BROKERS - A_CRASHED */
};

static int tally(const Synod__Wire__BrokerListResponse *l, struct tally *t)
{
	memset(t, 0, sizeof *t);
	if (l->n_brokers != A_BROKERS)
		return -1;
	for (size_t i = 0; i < l->n_brokers; i++) {
		const Synod__Wire__BrokerInfo *b = l->brokers[i];
		int crashed = b->id > A_BROKERS - A_CRASHED;
		if (b->id != (int32_t)i + 1) /* ordered by id */
			return -1;
		if (strcmp(b->state, "active") == 0) {
			assert_false(b->fenced);
			t->active++;
			t->healthy_active += !crashed;
		} else if (strcmp(b->state, "fenced") == 0) {
			assert_true(b->fenced);
			t->fenced++;
			t->crashed_fenced += crashed;
		} else if (strcmp(b->state, "shutting-down") == 0) {
			assert_true(b->fenced);
			t->shutting_down++;
		} else {
			fail_msg("broker %d: unknown state %s", b->id,
				 b->state);
		}
	}
	return 0;
}

static void check_registered_fleet(struct fixture *f,
				   const Synod__Wire__BrokerListResponse *l)
{
	for (size_t i = 0; i < l->n_brokers; i++) {
		const Synod__Wire__BrokerInfo *b = l->brokers[i];
		char rack[24];
		assert_true(b->epoch > 0);
		assert_int_equal(strlen(b->incarnation_id), 36);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(b->incarnation_id,
						l->brokers[k]->incarnation_id);
		snprintf(rack, sizeof rack, "rack-%u", (unsigned)b->id % 3);
		assert_non_null(b->rack);
		assert_string_equal(b->rack, rack);
		assert_int_equal(b->n_endpoints, 1);
		assert_string_equal(b->endpoints[0]->name, "PLAINTEXT");
		assert_string_equal(b->endpoints[0]->host, "127.0.0.1");
		assert_int_equal(b->endpoints[0]->port, SIM_PORT_BASE + b->id);
		assert_string_equal(b->endpoints[0]->security_protocol,
				    "PLAINTEXT");
		/* Heartbeating, caught up with its own registration. */
		assert_true(b->has_last_heartbeat_ms);
		assert_in_range(b->last_heartbeat_ms, 0, f->session_ms);
		assert_true(b->has_metadata_version);
		assert_true(b->metadata_version >= b->epoch);
		assert_true(b->has_registered_ms);
		assert_in_range(b->registered_ms, wall_ms() - 10 * 60 * 1000,
				wall_ms());
	}
}

static void check_synodctl_fleet(struct fixture *f)
{
	json_t *j = NULL, *brokers, *b;
	size_t i;
	assert_int_equal(itest_synodctl(&f->it, SYNOD_CTL, "broker list", &j),
			 0);
	assert_non_null(j);
	brokers = json_object_get(j, "brokers");
	assert_true(json_is_array(brokers));
	assert_int_equal(json_array_size(brokers), A_BROKERS);
	assert_true(json_is_integer(json_object_get(j, "metadata_version")));
	json_array_foreach(brokers, i, b)
	{
		json_t *eps = json_object_get(b, "endpoints");
		json_t *ep = json_array_get(eps, 0);
		json_int_t id = json_integer_value(json_object_get(b, "id"));
		assert_int_equal(id, (json_int_t)i + 1);
		assert_string_equal(jstr(b, "state"), "active");
		assert_true(json_is_false(json_object_get(b, "fenced")));
		assert_true(json_integer_value(json_object_get(b, "epoch")) >
			    0);
		assert_int_equal(strlen(jstr(b, "incarnation_id")), 36);
		assert_true(json_is_string(json_object_get(b, "rack")));
		assert_true(
		    json_is_integer(json_object_get(b, "last_heartbeat_ms")));
		assert_true(
		    json_is_integer(json_object_get(b, "metadata_version")));
		assert_true(
		    json_is_integer(json_object_get(b, "registered_ms")));
		assert_int_equal(json_array_size(eps), 1);
		assert_string_equal(jstr(ep, "name"), "PLAINTEXT");
		assert_string_equal(jstr(ep, "host"), "127.0.0.1");
		assert_string_equal(jstr(ep, "security_protocol"), "PLAINTEXT");
		assert_int_equal(
		    json_integer_value(json_object_get(ep, "port")),
		    SIM_PORT_BASE + id);
	}
	json_decref(j);

	/* describe: one object. */
	assert_int_equal(
	    itest_synodctl(&f->it, SYNOD_CTL, "broker describe 42", &j), 0);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 42);
	assert_string_equal(jstr(j, "rack"), "rack-0");
	assert_string_equal(jstr(j, "state"), "active");
	json_decref(j);
}

static void test_fleet(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = start(f, 3, A_SESSION_MS, A_HEARTBEAT_MS);
	Synod__Wire__BrokerListResponse *l = NULL;
	struct tally t;
	unsigned healthy, crashed, leader, leader2, lib;
	uint64_t deadline, t_kill, t_leader, epoch1;
	long log_from[CLUSTER_MAX_NODES];
	char line[96];

	healthy = spawn_sim(f, 1, A_BROKERS - A_CRASHED, "--racks", "3", NULL);
	crashed = spawn_sim(f, A_BROKERS - A_CRASHED + 1, A_CRASHED, "--racks",
			    "3", NULL);

	/* All 100 register and are unfenced. */
	deadline = tool_now_ms() + 30000;
	for (;;) {
		l = list_brokers(f);
		assert_non_null(l);
		if (tally(l, &t) == 0 && t.active == A_BROKERS)
			break;
		assert_true(tool_now_ms() < deadline);
		list_free(l);
		itest_pump(&f->it.loop, 100);
	}
	check_registered_fleet(f, l);
	list_free(l);
	check_synodctl_fleet(f);

	/* kill -9 the simulator holding brokers 96..100. */
	kill_sim(f, crashed);
	t_kill = tool_now_ms();

	/* Half a session later they are still unfenced: nothing is fenced
	 * before its session timeout. The earliest possible fence is one
	 * session after their last heartbeat, at most one interval before
	 * the kill; the answer must come before that to prove anything. */
	itest_pump_until(&f->it.loop, t_kill + A_SESSION_MS / 2);
	l = list_brokers(f);
	assert_non_null(l);
	assert_true(tool_now_ms() < t_kill + A_SESSION_MS - A_HEARTBEAT_MS);
	assert_int_equal(tally(l, &t), 0);
	assert_int_equal(t.active, A_BROKERS);
	list_free(l);

	/* Then exactly those five are fenced, the 95 others stay active. */
	deadline = t_kill + A_SESSION_MS + 10000;
	for (;;) {
		uint64_t answered;
		l = list_brokers(f);
		answered = tool_now_ms();
		assert_non_null(l);
		assert_int_equal(tally(l, &t), 0);
		assert_int_equal(t.healthy_active, A_BROKERS - A_CRASHED);
		assert_int_equal(t.shutting_down, 0);
		if (t.crashed_fenced > 0)
			assert_true(answered >= t_kill + A_SESSION_MS -
						    A_HEARTBEAT_MS - 100);
		if (t.crashed_fenced == A_CRASHED)
			break;
		assert_true(answered < deadline);
		list_free(l);
		itest_pump(&f->it.loop, 50);
	}
	assert_int_equal(t.fenced, A_CRASHED);
	for (int32_t id = A_BROKERS - A_CRASHED + 1; id <= A_BROKERS; id++) {
		const Synod__Wire__BrokerInfo *b = find_broker(l, id);
		assert_non_null(b);
		assert_true(b->fenced);
		assert_true(b->last_heartbeat_ms >= A_SESSION_MS);
	}
	list_free(l);
	snprintf(line, sizeof line,
		 "broker_fenced broker=%d reason=session_timeout "
		 "session_ms=%u",
		 A_BROKERS, A_SESSION_MS);
	assert_int_equal(any_log_contains(c, line), 1);

	/* kill -9 the active controller: no healthy broker is fenced. */
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	for (unsigned id = 1; id <= c->n; id++)
		log_from[id - 1] = itest_log_size(c, id);
	assert_int_equal(cluster_kill(c, leader), 0);
	leader2 = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	t_leader = tool_now_ms();
	assert_int_not_equal(leader2, 0);
	assert_int_not_equal(leader2, leader);
	snprintf(line, sizeof line, "broker sessions: %u registered brokers",
		 A_BROKERS);
	assert_int_equal(
	    itest_log_contains_after(c, leader2, log_from[leader2 - 1], line),
	    1);
	/* A new incarnation of a crashed, fenced broker during the
	 * takeover's grace (its old session renewed, A_SESSION_MS): taken at
	 * once, a new epoch, fenced until it catches up. The grace is for
	 * live brokers' leaderships, and a fenced one has none (it used to
	 * wait out the session). */
	{
		struct reg g;
		uint64_t e0, e1;
		assert_int_equal(describe_broker(f, A_BROKERS, &l), SYNOD_OK);
		e0 = l->brokers[0]->epoch;
		list_free(l);
		reg_init(f, &g, A_BROKERS, "incarnation-after-takeover");
		assert_int_equal(reg_send(f, &g, &e1, NULL), SYNOD_OK);
		assert_true(e1 > e0);
		assert_true(tool_now_ms() < t_leader + A_SESSION_MS);
		assert_int_equal(describe_broker(f, A_BROKERS, &l), SYNOD_OK);
		assert_string_equal(l->brokers[0]->state, "fenced");
		assert_int_equal(l->brokers[0]->epoch, e1);
		list_free(l);
	}
	/* Two session timeouts after the takeover. */
	itest_pump_until(&f->it.loop, t_leader + 2 * A_SESSION_MS + 300);
	l = list_brokers(f);
	assert_non_null(l);
	assert_int_equal(tally(l, &t), 0);
	assert_int_equal(t.healthy_active, A_BROKERS - A_CRASHED);
	assert_int_equal(t.crashed_fenced, A_CRASHED);
	for (size_t i = 0; i < l->n_brokers; i++) {
		const Synod__Wire__BrokerInfo *b = l->brokers[i];
		assert_true(b->has_last_heartbeat_ms);
		if (b->id == A_BROKERS) {
			/* Registered again above (within a session of the
			 * takeover), silent since. */
			assert_true(b->last_heartbeat_ms >= A_SESSION_MS);
		} else if (b->id > A_BROKERS - A_CRASHED) {
			/* None since this controller took over. */
			assert_int_equal(b->last_heartbeat_ms, -1);
			assert_false(b->has_metadata_version);
		} else {
			assert_in_range(b->last_heartbeat_ms, 0,
					A_SESSION_MS - 1);
		}
	}
	list_free(l);
	assert_int_equal(itest_log_contains_after(c, leader2,
						  log_from[leader2 - 1],
						  "broker_fenced broker="),
			 0);
	{
		json_t *j = NULL;
		assert_int_equal(
		    itest_synodctl(&f->it, SYNOD_CTL, "broker describe 97", &j),
		    0);
		assert_non_null(j);
		assert_string_equal(jstr(j, "state"), "fenced");
		assert_true(
		    json_is_null(json_object_get(j, "last_heartbeat_ms")));
		assert_true(
		    json_is_null(json_object_get(j, "metadata_version")));
		json_decref(j);
	}

	/* Controlled shutdown: SIGTERM, exit 0 soon, every broker of the
	 * simulator shutting down (and fenced). */
	assert_int_equal(describe_broker(f, 1, &l), SYNOD_OK);
	epoch1 = l->brokers[0]->epoch;
	list_free(l);
	{
		uint64_t t0 = tool_now_ms();
		kill(f->sims[healthy], SIGTERM);
		assert_int_equal(wait_sim(f, healthy, 15000), 0);
		fprintf(stderr, "controlled shutdown of %u brokers: %llu ms\n",
			A_BROKERS - A_CRASHED,
			(unsigned long long)(tool_now_ms() - t0));
	}
	l = list_brokers(f);
	assert_non_null(l);
	assert_int_equal(tally(l, &t), 0);
	assert_int_equal(t.shutting_down, A_BROKERS - A_CRASHED);
	assert_int_equal(t.crashed_fenced, A_CRASHED);
	list_free(l);

	/* A broker that finished a controlled shutdown is replaced by a new
	 * incarnation at once (no DUPLICATE wait: retry time 0 fails on
	 * the first refusal), with a higher epoch. */
	lib = lib_start(f, 1, NULL, SIM_PORT_BASE + 1, 0);
	assert_int_equal(lib_wait(f, lib, SYNOD_BROKER_ACTIVE, 10000), 0);
	assert_true(synod_broker_epoch(f->lib[lib].b) > epoch1);
	assert_int_equal(describe_broker(f, 1, &l), SYNOD_OK);
	assert_string_equal(l->brokers[0]->state, "active");
	assert_int_equal(l->brokers[0]->epoch,
			 synod_broker_epoch(f->lib[lib].b));
	assert_string_equal(l->brokers[0]->incarnation_id,
			    synod_broker_incarnation(f->lib[lib].b));
	assert_string_equal(l->brokers[0]->rack, "lib");
	list_free(l);
	f->it.passed = 1;
}

/* ---- b. zombies, duplicates, the heartbeat rules by hand ---- */

#define B_SESSION_MS 1500
#define B_HEARTBEAT_MS 200

/* The active controller's broker counters (NODE_STATUS on fd, a raw
 * connection to it): refusals [0] stale epoch, [1] duplicate, [2] old
 * connection; [3] unfences, [4] controlled shutdowns. */
static void counters(int fd, uint32_t corr, uint64_t out[5])
{
	Synod__Wire__NodeStatusRequest r =
	    SYNOD__WIRE__NODE_STATUS_REQUEST__INIT;
	Synod__Wire__NodeStatusResponse *m =
	    (Synod__Wire__NodeStatusResponse *)itest_raw_call(
		fd, SYNOD_API_NODE_STATUS, NULL, corr, &r.base,
		&synod__wire__node_status_response__descriptor);
	assert_non_null(m);
	assert_true(m->has_broker_stale_epoch_refusals &&
		    m->has_broker_duplicate_refusals &&
		    m->has_broker_old_connection_refusals &&
		    m->has_broker_unfences && m->has_broker_shutdowns);
	out[0] = m->broker_stale_epoch_refusals;
	out[1] = m->broker_duplicate_refusals;
	out[2] = m->broker_old_connection_refusals;
	out[3] = m->broker_unfences;
	out[4] = m->broker_shutdowns;
	synod__wire__node_status_response__free_unpacked(m, NULL);
}

static void test_zombie_and_duplicate(void **state)
{
	struct fixture *f = *state;
	Synod__Wire__BrokerListResponse *l;
	struct reg g;
	struct hb_result hb;
	unsigned a, a2, a3;
	uint64_t epoch_a, epoch3, e, t_close, n[5];
	char *msg;
	char inc_a[40];
	struct cluster *c = start(f, 1, B_SESSION_MS, B_HEARTBEAT_MS);
	int fd;

	a = lib_start(f, 7, NULL, 9092, 0);
	assert_int_equal(lib_wait(f, a, SYNOD_BROKER_ACTIVE, 10000), 0);
	epoch_a = synod_broker_epoch(f->lib[a].b);
	snprintf(inc_a, sizeof inc_a, "%s",
		 synod_broker_incarnation(f->lib[a].b));
	assert_int_equal(synod_broker_session_timeout(f->lib[a].b),
			 B_SESSION_MS);
	assert_int_equal(synod_broker_heartbeat_interval(f->lib[a].b),
			 B_HEARTBEAT_MS);

	/* Another incarnation while the first heartbeats: refused, by hand
	 * and through the library (retry time 0: FAILED at once). */
	reg_init(f, &g, 7, "other-incarnation");
	assert_int_equal(reg_send(f, &g, NULL, &msg),
			 SYNOD_EDUPLICATE_BROKER_REGISTRATION);
	assert_int_equal(g.other_heard, 1); /* it heartbeats here */
	assert_non_null(msg);
	assert_non_null(strstr(msg, inc_a));
	free(msg);
	a2 = lib_start(f, 7, NULL, 9093, 0);
	assert_int_equal(lib_wait(f, a2, SYNOD_BROKER_FAILED, 10000), 0);
	assert_int_equal(synod_broker_error(f->lib[a2].b, NULL),
			 SYNOD_EDUPLICATE_BROKER_REGISTRATION);
	/* The same incarnation again (a retry after a lost answer): the
	 * same epoch, nothing changed. */
	reg_init(f, &g, 7, inc_a);
	g.eps[0].port = 1234; /* ignored: endpoints are per incarnation */
	assert_int_equal(reg_send(f, &g, &e, NULL), SYNOD_OK);
	assert_int_equal(e, epoch_a);
	assert_int_equal(describe_broker(f, 7, &l), SYNOD_OK);
	assert_int_equal(l->brokers[0]->epoch, epoch_a);
	assert_string_equal(l->brokers[0]->incarnation_id, inc_a);
	assert_int_equal(l->brokers[0]->endpoints[0]->port, 9092);
	assert_string_equal(l->brokers[0]->state, "active");
	list_free(l);
	assert_int_equal(lib_state(f, a), SYNOD_BROKER_ACTIVE);

	/* The first one dies (no shutdown). A new incarnation that keeps
	 * retrying is accepted once the old session expired, not before,
	 * with a higher epoch. */
	close_lib(f, a);
	t_close = tool_now_ms();
	a3 = lib_start(f, 7, NULL, 9094, 10000);
	assert_int_equal(lib_wait(f, a3, SYNOD_BROKER_ACTIVE, 10000), 0);
	assert_true(tool_now_ms() >=
		    t_close + B_SESSION_MS - B_HEARTBEAT_MS - 100);
	epoch3 = synod_broker_epoch(f->lib[a3].b);
	assert_true(epoch3 > epoch_a);
	{
		struct synod_broker_stats st;
		synod_broker_stats(f->lib[a3].b, &st);
		assert_true(st.registrations >= 2); /* refused first */
	}

	/* The zombie of the first incarnation: its epoch is stale, whatever
	 * it reports, and its registration is a duplicate now. */
	assert_int_equal(heartbeat(f, 7, epoch_a, 1u << 30, 0, 0, NULL),
			 SYNOD_ESTALE_BROKER_EPOCH);
	assert_int_equal(heartbeat(f, 7, epoch_a, 1u << 30, 0, 1, NULL),
			 SYNOD_ESTALE_BROKER_EPOCH);
	assert_int_equal(heartbeat(f, 7, epoch3 + 1000, 0, 0, 0, NULL),
			 SYNOD_ESTALE_BROKER_EPOCH);
	reg_init(f, &g, 7, inc_a);
	assert_int_equal(reg_send(f, &g, NULL, NULL),
			 SYNOD_EDUPLICATE_BROKER_REGISTRATION);
	assert_int_equal(heartbeat(f, 12345, 1, 0, 0, 0, NULL),
			 SYNOD_EUNKNOWN_BROKER);
	/* Counted, by reason (synod_broker_refusals_total): three stale
	 * heartbeats; the duplicates by hand, through a2, of a3 before the
	 * old session expired and of the zombie. */
	fd = itest_raw_connect(NULL, c->nodes[0].client_address, 0);
	counters(fd, 1, n);
	close(fd);
	assert_int_equal(n[0], 3);
	assert_true(n[1] >= 3);
	assert_int_equal(n[2], 0);
	/* The zombie changed nothing. */
	itest_pump(&f->it.loop, 3 * B_HEARTBEAT_MS);
	assert_int_equal(describe_broker(f, 7, &l), SYNOD_OK);
	assert_int_equal(l->brokers[0]->epoch, epoch3);
	assert_string_equal(l->brokers[0]->incarnation_id,
			    synod_broker_incarnation(f->lib[a3].b));
	assert_string_equal(l->brokers[0]->state, "active");
	list_free(l);
	assert_int_equal(lib_state(f, a3), SYNOD_BROKER_ACTIVE);

	/* A broker by hand: registration, catch-up, fence on request,
	 * controlled shutdown, replacement. */
	reg_init(f, &g, 20, "hand-made-20");
	g.req.rack = "r1";
	assert_int_equal(reg_send(f, &g, &e, NULL), SYNOD_OK);
	{
		uint64_t again;
		assert_int_equal(reg_send(f, &g, &again, NULL), SYNOD_OK);
		assert_int_equal(again, e);
	}
	assert_int_equal(heartbeat(f, 20, e, 0, 0, 0, &hb), SYNOD_OK);
	assert_true(hb.is_fenced);
	assert_false(hb.is_caught_up);
	assert_false(hb.should_shutdown);
	assert_true(hb.metadata_version >= e);
	assert_int_equal(heartbeat(f, 20, e, e - 1, 0, 0, &hb), SYNOD_OK);
	assert_true(hb.is_fenced);
	assert_int_equal(heartbeat(f, 20, e, e, 0, 0, &hb), SYNOD_OK);
	assert_false(hb.is_fenced);
	assert_true(hb.is_caught_up);
	assert_int_equal(describe_broker(f, 20, &l), SYNOD_OK);
	assert_string_equal(l->brokers[0]->state, "active");
	assert_string_equal(l->brokers[0]->rack, "r1");
	assert_int_equal(l->brokers[0]->metadata_version, e);
	list_free(l);
	assert_int_equal(heartbeat(f, 20, e, e, 1, 0, &hb), SYNOD_OK);
	assert_true(hb.is_fenced);
	assert_int_equal(describe_broker(f, 20, &l), SYNOD_OK);
	assert_string_equal(l->brokers[0]->state, "fenced");
	list_free(l);
	assert_int_equal(heartbeat(f, 20, e, e, 0, 0, &hb), SYNOD_OK);
	assert_false(hb.is_fenced);
	assert_int_equal(heartbeat(f, 20, e, e, 0, 1, &hb), SYNOD_OK);
	assert_true(hb.should_shutdown);
	assert_true(hb.is_fenced);
	assert_int_equal(heartbeat(f, 20, e, e, 0, 0, &hb), SYNOD_OK);
	assert_true(hb.should_shutdown);
	assert_true(hb.is_fenced);
	assert_int_equal(describe_broker(f, 20, &l), SYNOD_OK);
	assert_string_equal(l->brokers[0]->state, "shutting-down");
	assert_true(l->brokers[0]->fenced);
	list_free(l);
	/* Told to stop: a new incarnation may register at once. */
	reg_init(f, &g, 20, "hand-made-20-b");
	{
		uint64_t e2;
		assert_int_equal(reg_send(f, &g, &e2, NULL), SYNOD_OK);
		assert_true(e2 > e);
		assert_int_equal(heartbeat(f, 20, e, e, 0, 0, NULL),
				 SYNOD_ESTALE_BROKER_EPOCH);
		assert_int_equal(describe_broker(f, 20, &l), SYNOD_OK);
		assert_string_equal(l->brokers[0]->state, "fenced");
		assert_int_equal(l->brokers[0]->epoch, e2);
		list_free(l);
	}
	assert_int_equal(lib_state(f, a3), SYNOD_BROKER_ACTIVE);
	/* Unfenced: a, a3 and broker 20 twice; one controlled shutdown. */
	fd = itest_raw_connect(NULL, c->nodes[0].client_address, 0);
	counters(fd, 2, n);
	close(fd);
	assert_true(n[3] >= 4);
	assert_int_equal(n[4], 1);
	f->it.passed = 1;
}

/* ---- c. bad registrations, shutdown and unregistration ---- */

#define C_SESSION_MS 1500
#define C_HEARTBEAT_MS 200

static void expect_invalid(struct fixture *f, struct reg *g, const char *what)
{
	char *msg = NULL;
	int code = reg_send(f, g, NULL, &msg);
	if (code != SYNOD_EINVALID_ARGUMENT)
		fail_msg("%s: %s (%s), expected INVALID_ARGUMENT", what,
			 synod_error_name(code), msg ? msg : "");
	free(msg);
}

static void test_bad_registration_and_unregister(void **state)
{
	struct fixture *f = *state;
	Synod__Wire__BrokerListResponse *l;
	struct reg g;
	char long_s[80];
	unsigned b, other, s30, s31, s32;
	uint64_t e, e32;
	json_t *j;

	start(f, 1, C_SESSION_MS, C_HEARTBEAT_MS);

	/* Another cluster: refused by hand and through the library (its
	 * connection handshake). */
	reg_init(f, &g, 1, "inc-1");
	g.req.cluster_id = "not-this-cluster";
	assert_int_equal(reg_send(f, &g, NULL, NULL),
			 SYNOD_ECLUSTER_ID_MISMATCH);
	other = lib_start(f, 2, "not-this-cluster", 9092, 0);
	assert_int_equal(lib_wait(f, other, SYNOD_BROKER_FAILED, 10000), 0);
	assert_int_equal(synod_broker_error(f->lib[other].b, NULL),
			 SYNOD_ECLUSTER_ID_MISMATCH);

	/* Malformed registrations. */
	reg_init(f, &g, -1, "inc-1");
	expect_invalid(f, &g, "negative id");
	reg_init(f, &g, 1, "inc-1");
	g.eps[0].port = 0;
	expect_invalid(f, &g, "port 0");
	reg_init(f, &g, 1, "inc-1");
	g.eps[0].port = 65536;
	expect_invalid(f, &g, "port 65536");
	reg_init(f, &g, 1, "inc-1");
	g.eps[0].host = "";
	expect_invalid(f, &g, "empty host");
	reg_init(f, &g, 1, "inc-1");
	g.eps[0].name = "";
	expect_invalid(f, &g, "empty endpoint name");
	reg_init(f, &g, 1, "inc-1");
	g.req.n_endpoints = 2;
	g.eps[1].name = g.eps[0].name;
	expect_invalid(f, &g, "endpoint name twice");
	reg_init(f, &g, 1, "inc-1");
	g.req.n_endpoints = 9;
	expect_invalid(f, &g, "9 endpoints");
	reg_init(f, &g, 1, "");
	expect_invalid(f, &g, "empty incarnation");
	memset(long_s, 'x', sizeof long_s);
	long_s[40] = '\0';
	reg_init(f, &g, 1, long_s);
	expect_invalid(f, &g, "40-byte incarnation");
	long_s[40] = 'x';
	long_s[64] = '\0';
	reg_init(f, &g, 1, "inc-1");
	g.req.rack = long_s;
	expect_invalid(f, &g, "64-byte rack");
	/* The library refuses a negative id itself, and a port 0 is
	 * refused by the controller: FAILED. */
	{
		struct synod_broker_config cfg = {0};
		struct synod_broker *nb = NULL;
		cfg.bootstrap = f->it.c.bootstrap;
		cfg.cluster_id = f->it.c.cluster_id;
		cfg.broker_id = -1;
		assert_int_equal(synod_broker_new(&f->it.loop, &cfg, NULL, &nb),
				 SYNOD_EINVALID_ARGUMENT);
		assert_null(nb);
	}
	b = lib_start(f, 3, NULL, 0, 0);
	assert_int_equal(lib_wait(f, b, SYNOD_BROKER_FAILED, 10000), 0);
	assert_int_equal(synod_broker_error(f->lib[b].b, NULL),
			 SYNOD_EINVALID_ARGUMENT);
	/* The limits themselves are accepted. */
	memset(long_s, 'y', sizeof long_s);
	long_s[63] = '\0';
	reg_init(f, &g, 4, long_s + 63 - 39);
	g.req.rack = long_s;
	g.req.n_endpoints = 8;
	g.eps[7].port = 65535;
	assert_int_equal(reg_send(f, &g, &e, NULL), SYNOD_OK);
	reg_init(f, &g, 5, "no-endpoints");
	g.req.n_endpoints = 0;
	assert_int_equal(reg_send(f, &g, NULL, NULL), SYNOD_OK);
	/* Only those two are registered; endpoints come back by name. */
	l = list_brokers(f);
	assert_non_null(l);
	assert_int_equal(l->n_brokers, 2);
	assert_int_equal(l->brokers[0]->id, 4);
	assert_int_equal(l->brokers[0]->epoch, e);
	assert_string_equal(l->brokers[0]->state, "fenced");
	assert_int_equal(l->brokers[0]->n_endpoints, 8);
	assert_int_equal(strlen(l->brokers[0]->rack), 63);
	for (unsigned i = 0; i < 8; i++)
		assert_string_equal(l->brokers[0]->endpoints[i]->name,
				    g.names[i]);
	assert_int_equal(l->brokers[0]->endpoints[7]->port, 65535);
	assert_int_equal(l->brokers[1]->id, 5);
	assert_int_equal(l->brokers[1]->n_endpoints, 0);
	assert_null(l->brokers[1]->rack);
	list_free(l);

	/* Controlled shutdown through the library: STOPPED, then the
	 * registration shows shutting-down until it is unregistered. */
	s30 = lib_start(f, 30, NULL, 9092, 0);
	assert_int_equal(lib_wait(f, s30, SYNOD_BROKER_ACTIVE, 10000), 0);
	assert_false(synod_broker_fenced(f->lib[s30].b));
	assert_int_equal(synod_broker_shutdown(f->lib[s30].b), SYNOD_OK);
	assert_int_equal(lib_wait(f, s30, SYNOD_BROKER_STOPPED, 5000), 0);
	assert_true(synod_broker_fenced(f->lib[s30].b));
	close_lib(f, s30);
	assert_int_equal(describe_broker(f, 30, &l), SYNOD_OK);
	assert_string_equal(l->brokers[0]->state, "shutting-down");
	assert_true(l->brokers[0]->fenced);
	list_free(l);
	assert_int_equal(unregister_broker(f, 30), SYNOD_OK);
	assert_int_equal(describe_broker(f, 30, &l), SYNOD_EUNKNOWN_BROKER);
	list_free(l);
	assert_int_equal(unregister_broker(f, 30), SYNOD_EUNKNOWN_BROKER);

	/* synodctl unregister of a broker that died. */
	s31 = lib_start(f, 31, NULL, 9092, 0);
	assert_int_equal(lib_wait(f, s31, SYNOD_BROKER_ACTIVE, 10000), 0);
	close_lib(f, s31);
	assert_int_equal(
	    itest_synodctl(&f->it, SYNOD_CTL, "broker unregister 31", &j), 0);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
	assert_int_equal(
	    itest_synodctl(&f->it, SYNOD_CTL, "broker describe 31", &j), 1);
	assert_non_null(j);
	assert_string_equal(jstr(j, "error"), "UNKNOWN_BROKER");
	json_decref(j);
	assert_int_equal(
	    itest_synodctl(&f->it, SYNOD_CTL, "broker describe x", &j), 2);
	json_decref(j);
	assert_int_equal(
	    itest_synodctl(&f->it, SYNOD_CTL, "broker unregister -1", &j), 2);
	json_decref(j);

	/* Unregistering a live broker: it is told UNKNOWN_BROKER and
	 * registers again, with a new epoch. */
	s32 = lib_start(f, 32, NULL, 9092, 0);
	assert_int_equal(lib_wait(f, s32, SYNOD_BROKER_ACTIVE, 10000), 0);
	e32 = synod_broker_epoch(f->lib[s32].b);
	assert_int_equal(unregister_broker(f, 32), SYNOD_OK);
	{
		uint64_t deadline = tool_now_ms() + 10000;
		for (;;) {
			int code = describe_broker(f, 32, &l);
			int back = code == SYNOD_OK &&
				   l->brokers[0]->epoch > e32 &&
				   strcmp(l->brokers[0]->state, "active") == 0;
			list_free(l);
			if (back)
				break;
			assert_true(code == SYNOD_OK ||
				    code == SYNOD_EUNKNOWN_BROKER);
			assert_true(tool_now_ms() < deadline);
			itest_pump(&f->it.loop, 50);
		}
	}
	assert_int_equal(lib_wait(f, s32, SYNOD_BROKER_ACTIVE, 5000), 0);
	assert_true(synod_broker_epoch(f->lib[s32].b) > e32);
	/* Registered brokers: 4, 5 (never heartbeat: still fenced), 30 and
	 * 31 gone, 32 back. */
	l = list_brokers(f);
	assert_non_null(l);
	assert_int_equal(l->n_brokers, 3);
	assert_int_equal(l->brokers[2]->id, 32);
	assert_int_equal(l->brokers[2]->epoch,
			 synod_broker_epoch(f->lib[s32].b));
	list_free(l);
	f->it.passed = 1;
}

/* ---- a deposed controller's heartbeat answers ---- */

/* Invariant: a controller that lost its leadership while it could not run
 * (SIGSTOP) never answers a broker's heartbeat from its stale memory:
 * such an answer said "unfenced" and renewed the broker's session while
 * the new controller had fenced it (found by the chaos suite,
 * docs/reliability.md 5.5). The heartbeat is sent to the leader right
 * after it is stopped (the kernel queues it), another is elected, the
 * broker's session ends there, the old leader is continued, and its
 * answer must be a refusal (NOT_CONTROLLER), never OK. Without the
 * leadership lease this fails only when the old leader reads the
 * heartbeat before any message of the new term (as in the chaos runs,
 * where the new leader's connection to it was being re-established);
 * here it usually reads the new term first. */
static void test_deposed_controller_heartbeat(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = start(f, 3, 1000, 200);
	Synod__Wire__BrokerHeartbeatRequest r =
	    SYNOD__WIRE__BROKER_HEARTBEAT_REQUEST__INIT;
	Synod__Wire__BrokerHeartbeatResponse *resp;
	struct hb_result hr = {0};
	struct reg g;
	uint64_t epoch, deadline, t_stop;
	unsigned leader, leader2;
	int fd;

	reg_init(f, &g, 7, "0a7e3c1e-1d2b-4c5d-8e9f-000000000007");
	assert_int_equal(reg_send(f, &g, &epoch, NULL), SYNOD_OK);
	deadline = wall_ms() + 10000;
	do {
		assert_true(wall_ms() < deadline);
		assert_int_equal(
		    heartbeat(f, 7, epoch, epoch + 1000, 0, 0, &hr), SYNOD_OK);
	} while (hr.is_fenced);
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	fd = itest_raw_connect(NULL, c->nodes[leader - 1].client_address, 0);
	r.broker_id = 7;
	r.broker_epoch = epoch;
	r.metadata_version = epoch + 1000;

	t_stop = wall_ms();
	assert_int_equal(cluster_stop_node(c, leader), 0);
	/* Queued by the kernel while the old leader is stopped. */
	itest_raw_request(fd, SYNOD_API_BROKER_HEARTBEAT, NULL, 41, &r.base);
	leader2 = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader2, 0);
	assert_int_not_equal(leader2, leader);
	/* A new incarnation during the takeover's grace: refused (the old
	 * one is unfenced: it may lead), saying this controller has not
	 * heard from it, so a library does not count it toward giving up
	 * (reliability.md 5.21). The grace (1000 ms) starts at the takeover,
	 * at least an election timeout (300 ms) after the stop; an answer
	 * after that may be a registration. */
	{
		struct reg g2;
		Synod__Wire__BrokerRegisterResponse *rr;
		int fd2 = itest_raw_connect(
		    NULL, c->nodes[leader2 - 1].client_address, 0);
		reg_init(f, &g2, 7, "0a7e3c1e-1d2b-4c5d-8e9f-0000000000b7");
		/* UNAVAILABLE until its first barrier committed. */
		for (uint32_t corr = 42;; corr++) {
			rr = (Synod__Wire__BrokerRegisterResponse *)itest_raw_call(
			    fd2, SYNOD_API_BROKER_REGISTER, NULL, corr,
			    &g2.req.base,
			    &synod__wire__broker_register_response__descriptor);
			if (rr->status->code != SYNOD_EUNAVAILABLE)
				break;
			synod__wire__broker_register_response__free_unpacked(
			    rr, NULL);
			assert_true(wall_ms() < t_stop + 10000);
			itest_pump(&f->it.loop, 20);
		}
		if (rr->status->code != SYNOD_OK || wall_ms() < t_stop + 1300) {
			assert_int_equal(rr->status->code,
					 SYNOD_EDUPLICATE_BROKER_REGISTRATION);
			assert_true(rr->has_other_heard);
			assert_false(rr->other_heard);
		}
		synod__wire__broker_register_response__free_unpacked(rr, NULL);
		close(fd2);
	}
	/* The broker stays silent: the new controller fences it after its
	 * grace (a session). */
	itest_pump(&f->it.loop, 1500);

	assert_int_equal(cluster_cont_node(c, leader), 0);
	resp = (Synod__Wire__BrokerHeartbeatResponse *)itest_raw_answer(
	    fd, 41, &synod__wire__broker_heartbeat_response__descriptor);
	assert_int_not_equal(resp->status->code, SYNOD_OK);
	synod__wire__broker_heartbeat_response__free_unpacked(resp, NULL);
	close(fd);
	f->it.passed = 1;
}

/* A heartbeat its client gave up on, delivered late on its old
 * connection (the kernel retransmits what a closed socket had not sent,
 * also after the process died: reliability.md 5.32), must not renew the
 * session: the invariant is that a broker that stopped heartbeating is
 * fenced one session after its last heartbeat on its newest connection.
 * Connections a (older) and b (newer) to the active controller: once b
 * has carried a heartbeat, a's are refused, and heartbeats on a alone do
 * not keep the broker unfenced. */
static void test_stale_connection_heartbeat(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = start(f, 3, 1000, 200);
	struct hb_result hr = {0};
	struct reg g;
	uint64_t epoch, deadline, version;
	uint32_t corr = 100;
	uint64_t n[5];
	unsigned leader;
	int fd_a, fd_b, fenced = 0;

	reg_init(f, &g, 8, "0a7e3c1e-1d2b-4c5d-8e9f-000000000008");
	assert_int_equal(reg_send(f, &g, &epoch, NULL), SYNOD_OK);
	version = epoch + 1000;
	deadline = wall_ms() + 10000;
	do {
		assert_true(wall_ms() < deadline);
		assert_int_equal(heartbeat(f, 8, epoch, version, 0, 0, &hr),
				 SYNOD_OK);
	} while (hr.is_fenced);
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	fd_a = itest_raw_connect(NULL, c->nodes[leader - 1].client_address, 0);
	assert_int_equal(
	    heartbeat_on(f, fd_a, corr++, 8, epoch, version, 0, 0, NULL),
	    SYNOD_OK);
	fd_b = itest_raw_connect(NULL, c->nodes[leader - 1].client_address, 0);
	assert_int_equal(
	    heartbeat_on(f, fd_b, corr++, 8, epoch, version, 0, 0, NULL),
	    SYNOD_OK);
	/* b is the newest: a (and the test's client, older still) are
	 * refused; b goes on. */
	assert_int_equal(
	    heartbeat_on(f, fd_a, corr++, 8, epoch, version, 0, 0, NULL),
	    SYNOD_EINVALID_REQUEST);
	assert_int_equal(heartbeat(f, 8, epoch, version, 0, 0, NULL),
			 SYNOD_EINVALID_REQUEST);
	assert_int_equal(
	    heartbeat_on(f, fd_b, corr++, 8, epoch, version, 0, 0, NULL),
	    SYNOD_OK);
	/* b goes silent; a keeps sending: the broker is fenced about a
	 * session (1 s) after b's last heartbeat. */
	deadline = wall_ms() + 5000;
	while (!fenced) {
		Synod__Wire__BrokerListResponse *l = NULL;
		assert_true(wall_ms() < deadline);
		assert_int_equal(heartbeat_on(f, fd_a, corr++, 8, epoch,
					      version, 0, 0, NULL),
				 SYNOD_EINVALID_REQUEST);
		assert_int_equal(describe_broker(f, 8, &l), SYNOD_OK);
		assert_int_equal(l->n_brokers, 1);
		fenced = strcmp(l->brokers[0]->state, "fenced") == 0;
		list_free(l);
		itest_pump(&f->it.loop, 200);
	}
	assert_true(any_log_contains(c, "older than"));
	/* Counted, by reason (synod_broker_refusals_total). */
	counters(fd_b, corr++, n);
	assert_true(n[2] >= 3);
	assert_int_equal(n[0], 0);
	assert_int_equal(n[1], 0);
	close(fd_a);
	close(fd_b);
	f->it.passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fleet, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deposed_controller_heartbeat,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zombie_and_duplicate, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_bad_registration_and_unregister, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_connection_heartbeat,
					    setup, teardown),
	};
	/* Writes to a killed node's socket must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* SYNOD_TEST_FILTER=test_name (a glob) runs only those tests. */
	if (getenv("SYNOD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("SYNOD_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
