/* tests/integration/test_http.c - the nodes' HTTP listener
 * (controller/http.c, docs/operations.md "HTTP"): /healthz, /readyz,
 * /metrics on a 3-node quorum, through a failover, and bad requests.
 *
 * Invariants checked: /readyz is 200 on a node only when it knows a
 * leader (and on the leader only once it is the active controller): a
 * node whose peers are all stopped says 503 until they are back; at
 * any time at most one node's /metrics says synod_active_controller 1;
 * /metrics passes `promtool check metrics` (when promtool is installed);
 * malformed, oversized or non-GET requests get a 4xx answer and never
 * stop the node from serving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "itest.h"

#ifndef SYNOD_BIN
#define SYNOD_BIN NULL
#endif

#define WAIT_MS 15000

struct fixture {
	struct itest it;
	char http[4][64]; /* "127.0.0.1:PORT" of node 1..3 */
};

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rv = itest_teardown(&f->it, NULL, 0, 0);
	free(f);
	return rv;
}

/* The address node id logged for its HTTP listener (port 0 asked). */
static void find_http(struct fixture *f, unsigned id)
{
	assert_int_equal(itest_log_word_after(
			     &f->it.c, id,
			     "http: serving /healthz /readyz /metrics /v1 on ",
			     f->http[id], sizeof f->http[id]),
			 0);
}

/* How many of the running nodes' /metrics say they are the active
 * controller. */
static int active_controllers(struct fixture *f, unsigned skip)
{
	static char buf[1 << 17];
	int n = 0;
	for (unsigned id = 1; id <= 3; id++) {
		if (id == skip)
			continue;
		assert_int_equal(
		    itest_http_get(f->http[id], "/metrics", buf, sizeof buf),
		    200);
		n += strstr(buf, "\nsynod_active_controller 1\n") != NULL;
	}
	return n;
}

static void wait_ready(struct fixture *f, unsigned skip)
{
	static char buf[4096];
	for (uint64_t end = tool_now_ms() + WAIT_MS;;) {
		int ready = 0;
		for (unsigned id = 1; id <= 3; id++)
			if (id != skip &&
			    itest_http_get(f->http[id], "/readyz", buf,
					   sizeof buf) == 200)
				ready++;
		if (ready == (skip ? 2 : 3))
			return;
		if (tool_now_ms() > end)
			fail_msg("nodes not ready: last answer %s", buf);
		itest_sleep_ms(50);
	}
}

static void test_http(void **state)
{
	struct fixture *f = *state;
	static char buf[1 << 17];
	unsigned leader;
	itest_start(&f->it, 3, SYNOD_BIN, "--http-address 127.0.0.1:0");
	for (unsigned id = 1; id <= 3; id++)
		find_http(f, id);
	for (unsigned id = 1; id <= 3; id++) {
		assert_int_equal(
		    itest_http_get(f->http[id], "/healthz", buf, sizeof buf),
		    200);
		assert_string_equal(itest_http_body(buf), "ok\n");
	}
	wait_ready(f, 0);
	assert_int_equal(itest_http_get(f->http[1], "/readyz", buf, sizeof buf),
			 200);
	assert_true(strstr(itest_http_body(buf), "\"ready\":true") != NULL);
	assert_int_equal(active_controllers(f, 0), 1);

	/* /metrics is valid exposition text; the active controller's, with
	 * the most sections. */
	for (unsigned id = 1;; id++) {
		assert_true(id <= 3);
		assert_int_equal(
		    itest_http_get(f->http[id], "/metrics", buf, sizeof buf),
		    200);
		if (strstr(buf, "\nsynod_active_controller 1\n"))
			break;
	}
	assert_non_null(strstr(buf, "\nsynod_raft_term "));
	assert_non_null(strstr(buf, "\nprocess_open_fds "));
	assert_non_null(strstr(buf, "\nsynod_broker_refusals_total{reason="
				    "\"old_connection\"} 0\n"));
	assert_non_null(strstr(buf, "\nsynod_broker_shutdowns_total 0\n"));
	if (system("command -v promtool >/dev/null 2>&1") == 0) {
		char path[512], cmd[1024];
		FILE *fp;
		snprintf(path, sizeof path, "%s/metrics.txt", f->it.c.dir);
		fp = fopen(path, "w");
		assert_non_null(fp);
		fputs(itest_http_body(buf), fp);
		fclose(fp);
		snprintf(cmd, sizeof cmd,
			 "promtool check metrics < '%s' > '%s.check' 2>&1",
			 path, path);
		if (system(cmd) != 0) {
			snprintf(cmd, sizeof cmd, "cat '%s.check'", path);
			if (system(cmd) != 0)
				fprintf(stderr, "cannot show %s.check\n", path);
			fail_msg("promtool check metrics failed");
		}
	}

	/* Bad requests: answered 4xx, the node goes on serving. */
	assert_int_equal(itest_http_get(f->http[2], "/nope", buf, sizeof buf),
			 404);
	{
		const char *post = "POST /metrics HTTP/1.1\r\nHost: x\r\n"
				   "Content-Length: 0\r\n\r\n";
		const char *junk = "\x16\x03\x01garbage\r\n\r\n";
		assert_int_equal(itest_http_raw(f->http[2], post, strlen(post),
						buf, sizeof buf),
				 405);
		assert_int_equal(itest_http_raw(f->http[2], junk, strlen(junk),
						buf, sizeof buf),
				 400);
	}
	{
		static char big[20000];
		memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
		memset(big + 26, 'a', sizeof big - 26);
		assert_int_equal(itest_http_raw(f->http[2], big, sizeof big,
						buf, sizeof buf),
				 431);
	}
	assert_int_equal(
	    itest_http_get(f->http[2], "/healthz", buf, sizeof buf), 200);

	/* A node cut off from the quorum (the others stopped) stops being
	 * ready, and is ready again once they are back. */
	leader = cluster_wait_leader(&f->it.c, WAIT_MS);
	assert_int_not_equal(leader, 0);
	{
		unsigned alone = leader % 3 + 1;
		for (unsigned id = 1; id <= 3; id++)
			if (id != alone)
				assert_int_equal(
				    cluster_stop_node(&f->it.c, id), 0);
		for (uint64_t end = tool_now_ms() + WAIT_MS;
		     itest_http_get(f->http[alone], "/readyz", buf,
				    sizeof buf) != 503;) {
			if (tool_now_ms() > end)
				fail_msg("node %u stayed ready alone: %s",
					 alone, buf);
			itest_sleep_ms(50);
		}
		assert_non_null(
		    strstr(itest_http_body(buf), "\"ready\":false"));
		for (unsigned id = 1; id <= 3; id++)
			if (id != alone)
				assert_int_equal(
				    cluster_cont_node(&f->it.c, id), 0);
		wait_ready(f, 0);
	}

	/* Failover: the survivors become ready again, one active
	 * controller among them. */
	leader = cluster_wait_leader(&f->it.c, WAIT_MS);
	assert_int_not_equal(leader, 0);
	assert_int_equal(cluster_kill(&f->it.c, leader), 0);
	wait_ready(f, leader);
	for (uint64_t end = tool_now_ms() + WAIT_MS;
	     active_controllers(f, leader) != 1;) {
		if (tool_now_ms() > end)
			fail_msg("no single active controller after the "
				 "failover");
		itest_sleep_ms(50);
	}
	f->it.passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_http, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
