/* tests/integration/test_http_api.c - the JSON API (/v1), read-only SQL
 * and the HTTP listener under abuse, on a 3-node quorum with simulated
 * brokers (docs/operations.md "JSON API", "Read-only SQL", "HTTP").
 *
 * Invariants checked:
 * - /v1/... answers the same document as `synodctl --json` for the same
 *   question (one encoder), on the active controller and, for reads of
 *   the replicated state, on a follower, which says it read locally and
 *   which leader it trails; ?linearizable=1 and group reads on a follower
 *   are forwarded to the active controller;
 * - read-only SQL never writes (DELETE, ATTACH refused, the topics
 *   unchanged), a query without end is interrupted at its deadline, and
 *   writes commit while it runs (a topic is created before its answer);
 * - 300 idle connections, a slowloris client and an oversized body get
 *   bounded treatment (evicted, timed out, 413) while /healthz keeps
 *   answering, and no node sees an election meanwhile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <poll.h>
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

#define WAIT_MS 20000

struct fixture {
	struct itest it;
	char http[4][64];
	pid_t sim;
	char sim_log[600];
	/* TMPDIR as it was, put back by teardown (test_queries_...) */
	int tmpdir_changed, tmpdir_had;
	char tmpdir[512];
};

static char buf[1 << 20];

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	const char *logs[1] = {f->sim_log};
	int rv;
	itest_kill(&f->sim);
	if (f->tmpdir_changed && f->tmpdir_had)
		setenv("TMPDIR", f->tmpdir, 1);
	else if (f->tmpdir_changed)
		unsetenv("TMPDIR");
	rv = itest_teardown(&f->it, logs, 1, 0);
	free(f);
	return rv;
}

/* The body of GET addr/path as JSON (asserting the status code). */
static json_t *get_json(const char *addr, const char *path, int want)
{
	json_error_t err;
	json_t *j;
	int code = itest_http_get(addr, path, buf, sizeof buf);
	if (code != want)
		fail_msg("GET %s: %d, wanted %d: %s", path, code, want, buf);
	j = json_loads(itest_http_body(buf), 0, &err);
	if (j == NULL)
		fail_msg("GET %s: not JSON (%s): %s", path, err.text, buf);
	return j;
}

static json_t *post_query(const char *addr, const char *body, int want)
{
	char req[4096];
	json_error_t err;
	json_t *j;
	int n = snprintf(req, sizeof req,
			 "POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: "
			 "application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 strlen(body), body);
	int code = itest_http_raw(addr, req, (size_t)n, buf, sizeof buf);
	if (code != want)
		fail_msg("POST %s: %d, wanted %d: %s", body, code, want, buf);
	j = json_loads(itest_http_body(buf), 0, &err);
	assert_non_null(j);
	return j;
}

static json_t *ctl(struct fixture *f, const char *args)
{
	json_t *j = NULL;
	int rv = itest_synodctl(&f->it, SYNOD_CTL, args, &j);
	if (rv != 0 || j == NULL)
		fail_msg("synodctl %s: exit %d", args, rv);
	return j;
}

/* Drop the fields that move with time (heartbeat ages). */
static void drop_clocks(json_t *brokers)
{
	size_t i;
	json_t *b;
	json_array_foreach(brokers, i, b)
	{
		json_object_del(b, "last_heartbeat_ms");
		json_object_del(b, "metadata_version");
	}
}

static void expect_same(struct fixture *f, const char *addr, const char *path,
			const char *args)
{
	json_t *a = get_json(addr, path, 200), *b = ctl(f, args);
	if (json_is_object(a) && json_object_get(a, "brokers")) {
		drop_clocks(json_object_get(a, "brokers"));
		drop_clocks(json_object_get(b, "brokers"));
	} else if (json_is_object(a) && json_object_get(a, "incarnation_id")) {
		json_t *x = json_pack("[O]", a), *y = json_pack("[O]", b);
		drop_clocks(x); /* one broker: the same object, changed */
		drop_clocks(y);
		json_decref(x);
		json_decref(y);
	}
	if (!json_equal(a, b)) {
		char *x = json_dumps(a, JSON_COMPACT),
		     *y = json_dumps(b, JSON_COMPACT);
		fail_msg("%s differs from synodctl %s:\n%s\n%s", path, args, x,
			 y);
	}
	json_decref(a);
	json_decref(b);
}

static uint64_t metric(const char *addr, const char *name)
{
	char *p;
	assert_int_equal(itest_http_get(addr, "/metrics", buf, sizeof buf),
			 200);
	p = strstr(buf, name);
	if (p == NULL)
		fail_msg("no %s in /metrics", name);
	return strtoull(p + strlen(name), NULL, 10);
}

static void start(struct fixture *f)
{
	const char *argv[16];
	unsigned k = 0;
	itest_start(
	    &f->it, 3, SYNOD_BIN,
	    "--http-address 127.0.0.1:0 --http-request-timeout-ms 1000");
	for (unsigned id = 1; id <= 3; id++)
		assert_int_equal(
		    itest_log_word_after(
			&f->it.c, id,
			"http: serving /healthz /readyz /metrics /v1 on ",
			f->http[id], sizeof f->http[id]),
		    0);
	itest_start_client(&f->it);
	assert_int_equal(itest_set_cluster_configs(&f->it, 1500, 300), 0);
	snprintf(f->sim_log, sizeof f->sim_log, "%s/sim.log", f->it.c.dir);
	argv[k++] = SYNOD_SIM;
	argv[k++] = "--bootstrap";
	argv[k++] = f->it.c.bootstrap;
	argv[k++] = "--cluster-id";
	argv[k++] = f->it.c.cluster_id;
	argv[k++] = "--brokers";
	argv[k++] = "3";
	argv[k++] = "--first-id";
	argv[k++] = "1";
	argv[k++] = "--racks";
	argv[k++] = "2";
	argv[k] = NULL;
	f->sim = itest_spawn(argv, f->sim_log);
	for (uint64_t end = tool_now_ms() + WAIT_MS;;) {
		json_t *j = NULL;
		int rv = itest_synodctl(&f->it, SYNOD_CTL,
					"topic create orders --partitions 6 "
					"--replication-factor 2",
					&j);
		json_decref(j);
		if (rv == 0)
			break;
		if (tool_now_ms() > end)
			fail_msg("no brokers to create a topic on");
		itest_sleep_ms(100);
	}
	json_decref(ctl(f, "topic create pay --partitions 3 "
			   "--replication-factor 1"));
	json_decref(ctl(f, "config set --topic orders retention.ms=1000"));
}

static void test_api(void **state)
{
	struct fixture *f = *state;
	unsigned leader, follower;
	char hdr[64];
	json_t *j;
	start(f);
	leader = cluster_wait_leader(&f->it.c, WAIT_MS);
	assert_int_not_equal(leader, 0);
	follower = leader % 3 + 1;

	/* The active controller: the same documents as synodctl --json. */
	expect_same(f, f->http[leader], "/v1/topics", "topic list");
	expect_same(f, f->http[leader], "/v1/topics/orders",
		    "topic describe orders");
	expect_same(f, f->http[leader], "/v1/partitions", "partition list");
	expect_same(f, f->http[leader], "/v1/configs", "config list");
	expect_same(f, f->http[leader], "/v1/brokers", "broker list");
	expect_same(f, f->http[leader], "/v1/brokers/2", "broker describe 2");
	expect_same(f, f->http[leader], "/v1/groups", "group list");
	itest_http_header(buf, "X-Synod-Read", hdr, sizeof hdr);

	/* A follower reads its own store, and says so. */
	expect_same(f, f->http[follower], "/v1/topics/orders",
		    "topic describe orders");
	assert_int_equal(itest_http_get(f->http[follower], "/v1/topics/orders",
					buf, sizeof buf),
			 200);
	itest_http_header(buf, "X-Synod-Read", hdr, sizeof hdr);
	assert_string_equal(hdr, "local");
	itest_http_header(buf, "X-Synod-Leader", hdr, sizeof hdr);
	assert_int_equal(atoi(hdr), (int)leader);
	itest_http_header(buf, "X-Synod-Lag-Entries", hdr, sizeof hdr);
	assert_true(hdr[0] != '\0');
	/* ... or forwards, when asked to be linearizable, and for groups. */
	expect_same(f, f->http[follower], "/v1/partitions?linearizable=1",
		    "partition list");
	itest_http_header(buf, "X-Synod-Read", hdr, sizeof hdr);
	assert_non_null(strstr(hdr, "forwarded"));
	expect_same(f, f->http[follower], "/v1/groups", "group list");
	itest_http_header(buf, "X-Synod-Read", hdr, sizeof hdr);
	assert_non_null(strstr(hdr, "forwarded"));

	/* The quorum, from any node: every node, one leader; its health
	 * figures are at most CLUSTER_HEALTH_MS (1 s) old. */
	for (uint64_t end = tool_now_ms() + WAIT_MS;; itest_sleep_ms(100)) {
		j = get_json(f->http[follower], "/v1/quorum", 200);
		assert_int_equal(json_array_size(json_object_get(j, "nodes")),
				 3);
		assert_int_equal(
		    json_integer_value(json_object_get(j, "leader_id")),
		    leader);
		if (json_integer_value(json_object_get(
			json_object_get(j, "health"), "partitions")) == 9)
			break;
		json_decref(j);
		if (tool_now_ms() > end)
			fail_msg("/v1/quorum's health never counted 9 "
				 "partitions");
	}
	json_decref(j);

	/* Errors: JSON, with the protocol's code. */
	j = get_json(f->http[leader], "/v1/topics/nope", 404);
	assert_string_equal(json_string_value(json_object_get(j, "error")),
			    "UNKNOWN_TOPIC");
	json_decref(j);
	j = get_json(f->http[follower], "/v1/brokers/99", 404);
	assert_string_equal(json_string_value(json_object_get(j, "error")),
			    "UNKNOWN_BROKER");
	json_decref(j);
	j = get_json(f->http[leader], "/v1/groups/nope", 404);
	json_decref(j);
	j = get_json(f->http[leader], "/v1/nothing", 404);
	json_decref(j);

	/* The metrics move: 9 partitions, pushes sent; when the brokers
	 * die, pay's 3 single-replica partitions go offline on every node
	 * (each counts from its own store). */
	for (uint64_t end = tool_now_ms() + WAIT_MS;
	     metric(f->http[follower], "\nsynod_partitions ") != 9;
	     itest_sleep_ms(100))
		if (tool_now_ms() > end)
			fail_msg("synod_partitions never 9");
	assert_true(metric(f->http[leader], "\nsynod_metadata_pushes_total ") >
		    0);
	assert_int_equal(
	    metric(f->http[follower], "\nsynod_partitions_offline "), 0);
	/* The describes' JSON went through the thread pool's gate
	 * (net/workgate.h), one at a time: none waited, none is left. */
	assert_true(metric(f->http[leader], "\nsynod_pool_jobs_total ") > 0);
	assert_int_equal(
	    metric(f->http[leader], "\nsynod_pool_jobs_waited_total "), 0);
	assert_int_equal(metric(f->http[leader], "\nsynod_pool_jobs_waiting "),
			 0);
	itest_kill(&f->sim);
	for (uint64_t end = tool_now_ms() + WAIT_MS;;) {
		unsigned ok = 0;
		for (unsigned id = 1; id <= 3; id++)
			ok += metric(f->http[id],
				     "\nsynod_partitions_offline ") >= 3;
		if (ok == 3)
			break;
		if (tool_now_ms() > end)
			fail_msg("offline partitions not counted");
		itest_sleep_ms(100);
	}
	assert_true(metric(f->http[leader], "synod_brokers_registered{state="
					    "\"fenced\"} ") >= 1);
	f->it.passed = 1;
}

static void test_query(void **state)
{
	struct fixture *f = *state;
	unsigned leader;
	json_t *j, *t;
	int fd;
	struct pollfd pfd;
	char req[1024];
	const char *endless =
	    "{\"sql\": \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
	    "x + 1 FROM c) SELECT count(*) FROM c\", \"timeout_ms\": 3000}";
	start(f);
	leader = cluster_wait_leader(&f->it.c, WAIT_MS);
	assert_int_not_equal(leader, 0);

	j = post_query(f->http[leader],
		       "{\"sql\": \"SELECT count(*) AS n FROM partitions\"}",
		       200);
	assert_int_equal(json_integer_value(json_array_get(
			     json_array_get(json_object_get(j, "rows"), 0), 0)),
			 9);
	json_decref(j);
	/* On a follower too, and as plain text. */
	{
		const char *text = "SELECT topic FROM partition_states WHERE "
				   "partition = 5";
		int n = snprintf(req, sizeof req,
				 "POST /v1/query HTTP/1.1\r\nHost: x\r\n"
				 "Content-Length: %zu\r\n\r\n%s",
				 strlen(text), text);
		assert_int_equal(itest_http_raw(f->http[leader % 3 + 1], req,
						(size_t)n, buf, sizeof buf),
				 200);
		assert_non_null(strstr(itest_http_body(buf), "\"orders\""));
	}
	/* Writes, ATTACH, pragmas that change state: refused. */
	j = post_query(f->http[leader], "{\"sql\": \"DELETE FROM topics\"}",
		       400);
	assert_non_null(strstr(json_string_value(json_object_get(j, "message")),
			       "refused"));
	json_decref(j);
	j = post_query(f->http[leader],
		       "{\"sql\": \"ATTACH DATABASE 'x.db' AS x\"}", 400);
	json_decref(j);
	j = post_query(f->http[leader],
		       "{\"sql\": \"PRAGMA writable_schema = 1\"}", 400);
	json_decref(j);
	j = post_query(f->http[leader], "{\"nosql\": 1}", 400);
	json_decref(j);
	t = ctl(f, "topic list");
	assert_int_equal(json_array_size(json_object_get(t, "topics")), 2);
	json_decref(t);

	/* A query without end, and a write while it runs: the write
	 * commits before the query's answer (its deadline) comes. */
	{
		int n = snprintf(req, sizeof req,
				 "POST /v1/query HTTP/1.1\r\nHost: x\r\n"
				 "Content-Length: %zu\r\n\r\n%s",
				 strlen(endless), endless);
		fd = itest_raw_connect(NULL, f->http[leader], 0);
		itest_raw_send(fd, (const uint8_t *)req, (size_t)n);
	}
	itest_sleep_ms(200);
	json_decref(ctl(f, "topic create during --partitions 2 "
			   "--replication-factor 1"));
	pfd.fd = fd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 0), 0); /* the query still runs */
	{
		size_t got = 0;
		ssize_t r;
		while ((r = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
			got += (size_t)r;
		buf[got] = '\0';
		close(fd);
	}
	assert_non_null(strstr(buf, "HTTP/1.1 503"));
	assert_non_null(strstr(buf, "interrupted after 3000 ms"));
	/* A cross join of the partitions: cut off at its deadline too. */
	j = post_query(f->http[leader],
		       "{\"sql\": \"SELECT count(*) FROM partitions a, "
		       "partitions b, partitions c, partitions d, partitions "
		       "e, partitions f, partitions g, partitions h, "
		       "partitions i\", \"timeout_ms\": 300}",
		       503);
	json_decref(j);
	f->it.passed = 1;
}

/* An endless query (SQLite counts until the deadline) sent on a new
 * connection; its answer comes at the deadline. */
static int endless_query(const char *addr, unsigned timeout_ms)
{
	char body[256], req[512];
	int fd, n;
	snprintf(body, sizeof body,
		 "{\"sql\": \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
		 "SELECT x + 1 FROM c) SELECT count(*) FROM c\", "
		 "\"timeout_ms\": %u}",
		 timeout_ms);
	n = snprintf(req, sizeof req,
		     "POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Length: "
		     "%zu\r\n\r\n%s",
		     strlen(body), body);
	fd = itest_raw_connect(NULL, addr, 0);
	itest_raw_send(fd, (const uint8_t *)req, (size_t)n);
	return fd;
}

static int answered(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, 0) != 0;
}

/* Invariant: read-only queries never hold all of the thread pool that
 * raft_uv's disk work waits in (reliability.md 5.19). One node on tmpfs,
 * where raft_uv writes the log on the pool (no non-blocking direct I/O):
 * with as many endless queries as the node runs at once (a fifth is
 * BUSY), a write still commits before any of them answers. With libuv's
 * default pool of 4 threads the write waited for their deadline. */
static void test_queries_leave_disk_threads(void **state)
{
	struct fixture *f = *state;
	const char *tmp = getenv("TMPDIR");
	int fds[4];
	json_t *j;
	if (access("/dev/shm", W_OK) != 0) {
		print_message("skipped: no writable /dev/shm (tmpfs)\n");
		skip();
	}
	f->tmpdir_had = tmp != NULL;
	if (tmp)
		snprintf(f->tmpdir, sizeof f->tmpdir, "%s", tmp);
	f->tmpdir_changed = 1;
	setenv("TMPDIR", "/dev/shm", 1); /* the cluster's directory */
	itest_start(&f->it, 1, SYNOD_BIN,
		    "--http-address 127.0.0.1:0 --segment-size-bytes 4194304");
	assert_int_equal(itest_log_word_after(
			     &f->it.c, 1,
			     "http: serving /healthz /readyz /metrics /v1 on ",
			     f->http[1], sizeof f->http[1]),
			 0);
	assert_int_equal(
	    itest_log_word_after(&f->it.c, 1, "thread pool: ", buf, sizeof buf),
	    0);
	assert_string_equal(buf, "16");
	itest_start_client(&f->it);
	assert_int_equal(itest_set_cluster_configs(&f->it, 1500, 300), 0);
	for (unsigned i = 0; i < 4; i++)
		fds[i] = endless_query(f->http[1], 8000);
	/* Until all four run: a fifth is refused. */
	for (uint64_t end = tool_now_ms() + WAIT_MS;;) {
		char req[512];
		const char *q = "SELECT 1";
		int n = snprintf(req, sizeof req,
				 "POST /v1/query HTTP/1.1\r\nHost: x\r\n"
				 "Content-Length: %zu\r\n\r\n%s",
				 strlen(q), q);
		int code =
		    itest_http_raw(f->http[1], req, (size_t)n, buf, sizeof buf);
		if (code == 503 && strstr(buf, "too many queries"))
			break;
		assert_int_equal(code, 200);
		if (tool_now_ms() > end)
			fail_msg("the four queries never ran together");
		itest_sleep_ms(20);
	}
	/* A write: raft appends it to the log on the pool. */
	assert_int_equal(itest_set_cluster_configs(&f->it, 1600, 300), 0);
	for (unsigned i = 0; i < 4; i++)
		assert_false(answered(fds[i])); /* the queries still run */
	j = ctl(f, "config get broker.session.timeout.ms");
	assert_string_equal(json_string_value(json_object_get(j, "value")),
			    "1600");
	json_decref(j);
	/* Each answers at its deadline, after the write. */
	for (unsigned i = 0; i < 4; i++) {
		struct pollfd pfd = {.fd = fds[i], .events = POLLIN};
		size_t got = 0;
		ssize_t r;
		assert_int_equal(poll(&pfd, 1, WAIT_MS), 1); /* its deadline */
		while ((r = read(fds[i], buf + got, sizeof buf - 1 - got)) > 0)
			got += (size_t)r;
		buf[got] = '\0';
		close(fds[i]);
		if (strstr(buf, "HTTP/1.1 503") == NULL ||
		    strstr(buf, "interrupted after 8000 ms") == NULL)
			fail_msg("query %u answered: %s", i, buf);
	}
	f->it.passed = 1;
}

static void test_abuse(void **state)
{
	struct fixture *f = *state;
	uint64_t terms[4];
	int idle[300], slow;
	unsigned leader;
	start(f);
	leader = cluster_wait_leader(&f->it.c, WAIT_MS);
	assert_int_not_equal(leader, 0);
	for (unsigned id = 1; id <= 3; id++)
		terms[id] = metric(f->http[id], "\nsynod_raft_term ");

	/* More idle connections than the listener takes: the idlest are
	 * evicted, a probe still gets its answer. */
	for (int i = 0; i < 300; i++)
		idle[i] = itest_raw_connect(NULL, f->http[leader], 0);
	itest_sleep_ms(100);
	assert_int_equal(
	    itest_http_get(f->http[leader], "/healthz", buf, sizeof buf), 200);
	for (int i = 0; i < 300; i++)
		close(idle[i]);

	/* Slowloris: a byte every 200 ms is closed at the request timeout
	 * (1000 ms here) plus the sweep's second. */
	slow = itest_raw_connect(NULL, f->http[leader], 0);
	{
		const char *part = "GET /metrics HTTP/1.1\r\nX-Slow: ";
		uint64_t t0 = tool_now_ms();
		int closed = 0;
		itest_raw_send(slow, (const uint8_t *)part, strlen(part));
		while (!closed && tool_now_ms() - t0 < 10000) {
			char ch = 'a', rb[64];
			struct pollfd p = {slow, POLLIN, 0};
			if (send(slow, &ch, 1, MSG_NOSIGNAL) < 0)
				closed = 1;
			else if (poll(&p, 1, 200) == 1 &&
				 read(slow, rb, sizeof rb) <= 0)
				closed = 1;
		}
		assert_true(closed);
		close(slow);
	}

	/* A body announced far above the limit: 413 before it is read. */
	{
		const char *big = "POST /v1/query HTTP/1.1\r\nHost: x\r\n"
				  "Content-Length: 100000000\r\n\r\nSELECT";
		assert_int_equal(itest_http_raw(f->http[leader], big,
						strlen(big), buf, sizeof buf),
				 413);
	}
	assert_true(metric(f->http[leader], "synod_http_connections_closed_"
					    "total{reason=\"evicted\"} ") > 0);
	assert_true(metric(f->http[leader], "synod_http_connections_closed_"
					    "total{reason=\"timeout\"} ") > 0);
	/* Nobody noticed: no election anywhere. */
	for (unsigned id = 1; id <= 3; id++)
		assert_int_equal(metric(f->http[id], "\nsynod_raft_term "),
				 terms[id]);
	f->it.passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_api, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queries_leave_disk_threads,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abuse, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
