/* tests/integration/test_limits.c - the client port's limits on a real
 * node: connections per node and per source address, the read-buffer
 * budget for frames still arriving, the partial-frame, idle and
 * slow-reader timeouts (controller/server.c, docs/operations.md).
 *
 * Each test starts its own one-node quorum (SYNOD_BIN) with small limits
 * and drives it with raw sockets, bound to source addresses 127.0.0.x
 * where a test needs more connections than one address may open, and
 * with the client library. The node's counters come from NODE_STATUS
 * (`connections`), read through the client library or, while an address
 * is at its limit, through one of the test's raw connections. Every wait
 * has a deadline; a failing test prints the node's log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "frame.h"
#include "itest.h"
#include "synod/broker.h"

#ifndef SYNOD_BIN
#define SYNOD_BIN NULL
#endif

#define WAIT_MS 15000

/* Small limits shared by the tests; each adds its own. */
#define BASE_FLAGS                                                             \
	"--max-frame-bytes 65536 --max-read-buffer-bytes 1048576 "             \
	"--max-client-connections-per-ip 20 "

struct fixture {
	struct itest it;
	struct synod_broker *broker; /* closed by teardown */
};

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rv;
	if (f->broker)
		synod_broker_close(f->broker);
	rv = itest_teardown(&f->it, NULL, 0, 0);
	free(f);
	return rv;
}

/* ---- raw connections ---- */

/* The 16-byte prefix of a request frame whose body is body_len bytes
 * (net/frame.h writes it). */
static void prefix(uint8_t *out, uint16_t api, uint32_t corr, size_t body_len)
{
	struct frame_header h = {.kind = FRAME_REQUEST,
				 .api = api,
				 .api_version = 1,
				 .correlation_id = corr};
	frame_put_prefix(out, &h, body_len);
}

/* One request frame with an empty body. */
static void raw_request(int fd, uint16_t api, uint32_t corr)
{
	uint8_t p[16];
	prefix(p, api, corr, 0);
	itest_raw_send(fd, p, sizeof p);
}

/* NODE_STATUS over a raw connection (asserts it is served). */
static Synod__Wire__NodeStatusResponse *raw_status(int fd)
{
	static uint32_t corr = 1000;
	Synod__Wire__NodeStatusResponse *r;
	uint8_t *body;
	size_t len;
	raw_request(fd, SYNOD_API_NODE_STATUS, ++corr);
	len = itest_raw_response(fd, corr, &body);
	r = synod__wire__node_status_response__unpack(NULL, len, body);
	free(body);
	assert_non_null(r);
	assert_int_equal(r->status->code, SYNOD_OK);
	assert_non_null(r->connections);
	return r;
}

/* A NODE_STATUS on fd is answered. */
static void raw_expect_serving(int fd)
{
	synod__wire__node_status_response__free_unpacked(raw_status(fd), NULL);
}

/* Milliseconds until the server closes fd (EOF or reset; any data before
 * is skipped), or -1 when it is still open after timeout_ms. */
static long closed_within(int fd, unsigned timeout_ms)
{
	uint64_t t0 = tool_now_ms(), deadline = t0 + timeout_ms;
	uint8_t buf[4096];
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		uint64_t now = tool_now_ms();
		ssize_t r;
		if (now >= deadline)
			return -1;
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return (long)(tool_now_ms() - t0);
	}
}

/* ---- node figures ---- */

/* NODE_STATUS through the client library (a connection of its own from
 * 127.0.0.1). NULL when unreachable. */
static Synod__Wire__NodeStatusResponse *status(struct cluster *c)
{
	Synod__Wire__NodeStatusResponse *s = cluster_node_status(c, 1, 2000);
	if (s && s->connections == NULL) {
		synod__wire__node_status_response__free_unpacked(s, NULL);
		return NULL;
	}
	return s;
}

typedef int (*conns_pred)(const Synod__Wire__ClientConnections *cc,
			  uint64_t arg);

/* Poll the node's connection figures until pred holds: 0, or -1 at the
 * deadline (the last figures printed). */
static int wait_conns(struct cluster *c, conns_pred pred, uint64_t arg,
		      unsigned timeout_ms)
{
	uint64_t deadline = tool_now_ms() + timeout_ms;
	for (;;) {
		Synod__Wire__NodeStatusResponse *s = status(c);
		int ok = s && pred(s->connections, arg);
		if (!ok && s && tool_now_ms() >= deadline)
			fprintf(stderr,
				"connections: open %u, read buffers %llu, "
				"paused %u, partial-frame closes %llu, idle "
				"closes %llu, slow-reader closes %llu\n",
				s->connections->open,
				(unsigned long long)
				    s->connections->read_buffer_bytes,
				s->connections->reads_paused,
				(unsigned long long)
				    s->connections->closed_partial_frame,
				(unsigned long long)s->connections->closed_idle,
				(unsigned long long)
				    s->connections->closed_slow_reader);
		if (s)
			synod__wire__node_status_response__free_unpacked(s,
									 NULL);
		if (ok)
			return 0;
		if (tool_now_ms() >= deadline)
			return -1;
		itest_sleep_ms(20);
	}
}

/* Only the status probe's own connection is open. */
static int only_probe(const Synod__Wire__ClientConnections *cc, uint64_t arg)
{
	(void)arg;
	return cc->open == 1;
}

/* VmRSS of a process in KiB (0 when unreadable). */
static uint64_t rss_kib(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kib = 0;
	FILE *fp;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof line, fp))
		if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
			break;
	fclose(fp);
	return kib;
}

/* CONFIG_SET of one cluster key through a client of its own. */
static int set_config(struct synod_client *cl, const char *key,
		      const char *value)
{
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	Synod__Wire__ConfigEntry *ep = &e;
	e.scope = SYNOD_SCOPE_CLUSTER;
	e.key = (char *)key;
	e.value = (char *)value;
	r.n_entries = 1;
	r.entries = &ep;
	return itest_call_client(cl, SYNOD_API_CONFIG_SET, &r.base, 1,
				 &synod__wire__config_set_response__descriptor,
				 NULL);
}

/* The register of the exactly-once tests: retention.ms of topic "reg". */
struct reg_set {
	Synod__Wire__ConfigSetRequest r;
	Synod__Wire__ConfigEntry e, *ep;
};

static void reg_set_init(struct reg_set *x, const char *value)
{
	synod__wire__config_set_request__init(&x->r);
	synod__wire__config_entry__init(&x->e);
	x->e.scope = SYNOD_SCOPE_TOPIC;
	x->e.resource = "reg";
	x->e.key = "retention.ms";
	x->e.value = (char *)value;
	x->ep = &x->e;
	x->r.n_entries = 1;
	x->r.entries = &x->ep;
}

static int set_config_topic(struct itest *it, const char *value)
{
	struct reg_set x;
	reg_set_init(&x, value);
	return itest_call(it, SYNOD_API_CONFIG_SET, &x.r.base,
			  &synod__wire__config_set_response__descriptor, NULL);
}

static struct cluster *start_node(struct fixture *f, const char *flags)
{
	struct cluster *c = itest_start(&f->it, 1, SYNOD_BIN, flags);
	assert_int_equal(cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS), 1);
	/* The probes of the wait are gone. */
	assert_int_equal(wait_conns(c, only_probe, 0, WAIT_MS), 0);
	return c;
}

/* ---- a. connections per address and per node ---- */

#define A_PER_IP 20
#define A_TOTAL 25

static void test_connection_limits(void **state)
{
	struct fixture *f = *state;
	struct cluster *c =
	    start_node(f, BASE_FLAGS
		       "--max-client-connections 25 --idle-timeout-ms 60000");
	const char *addr = c->nodes[0].client_address;
	Synod__Wire__NodeStatusResponse *s;
	int fd[A_PER_IP], other[A_TOTAL - A_PER_IP], extra;
	long ms;

	/* 20 connections from 127.0.0.1, each usable. */
	for (int i = 0; i < A_PER_IP; i++) {
		fd[i] = itest_raw_connect(NULL, addr, 0);
		raw_expect_serving(fd[i]);
	}
	/* The 21st is closed at once, unanswered. */
	extra = itest_raw_connect(NULL, addr, 0);
	ms = closed_within(extra, 5000);
	assert_true(ms >= 0 && ms < 1000);
	close(extra);
	/* Another address still gets in, up to the node's total. */
	for (int i = 0; i < A_TOTAL - A_PER_IP; i++) {
		other[i] = itest_raw_connect("127.0.0.2", addr, 0);
		raw_expect_serving(other[i]);
	}
	extra = itest_raw_connect("127.0.0.3", addr, 0);
	ms = closed_within(extra, 5000);
	assert_true(ms >= 0 && ms < 1000);
	close(extra);
	/* Every accepted connection still works; the counters say why
	 * the two were refused. */
	for (int i = 0; i < A_PER_IP; i++)
		raw_expect_serving(fd[i]);
	s = raw_status(other[0]);
	assert_int_equal(s->connections->open, A_TOTAL);
	assert_int_equal(s->connections->refused_per_ip, 1);
	assert_int_equal(s->connections->refused_max_connections, 1);
	synod__wire__node_status_response__free_unpacked(s, NULL);
	assert_true(itest_log_contains_after(
	    c, 1, 0,
	    "refusing a client connection from 127.0.0.1: 20 connections "
	    "from this address (max_client_connections_per_ip 20)"));
	assert_true(itest_log_contains_after(
	    c, 1, 0,
	    "refusing a client connection from 127.0.0.3: 25 connections "
	    "open (max_client_connections 25)"));

	/* A slot freed is a slot for 127.0.0.1 again (once the node has
	 * seen the close: until then the new one may be refused). */
	close(fd[0]);
	{
		uint64_t deadline = tool_now_ms() + WAIT_MS;
		for (;;) {
			fd[0] = itest_raw_connect(NULL, addr, 0);
			if (closed_within(fd[0], 200) < 0)
				break;
			close(fd[0]);
			assert_true(tool_now_ms() < deadline);
		}
	}
	raw_expect_serving(fd[0]);
	for (int i = 0; i < A_PER_IP; i++)
		close(fd[i]);
	for (int i = 0; i < A_TOTAL - A_PER_IP; i++)
		close(other[i]);
	assert_int_equal(wait_conns(c, only_probe, 0, WAIT_MS), 0);
	f->it.passed = 1;
}

/* ---- b. many partial frames: memory stays bounded, writes go on ---- */

#define B_SOURCES 20		       /* 127.0.0.10 .. 127.0.0.29 */
#define B_CONNS (B_SOURCES * A_PER_IP) /* 400 */
#define B_SENT (60 * 1024)	       /* of a 64 KiB frame */
#define B_BUDGET (1024 * 1024)	       /* --max-read-buffer-bytes */
#define B_RSS_SLACK_KIB (8 * 1024)     /* vs 24 MiB unbounded */
#define B_PARTIAL_MS 8000

/* Most attackers wait and the budget is (nearly) spent. */
static int budget_spent(const Synod__Wire__ClientConnections *cc,
			uint64_t conns)
{
	return cc->reads_paused >= conns / 2 &&
	       cc->read_buffer_bytes + 64 * 1024 >= B_BUDGET;
}

static int all_closed_partial(const Synod__Wire__ClientConnections *cc,
			      uint64_t conns)
{
	return cc->closed_partial_frame >= conns && cc->open == 1 &&
	       cc->read_buffer_bytes == 0 && cc->reads_paused == 0;
}

static void test_partial_frames_bounded(void **state)
{
	struct fixture *f = *state;
	struct cluster *c =
	    start_node(f, BASE_FLAGS "--partial-frame-timeout-ms 8000 "
				     "--idle-timeout-ms 60000");
	const char *addr = c->nodes[0].client_address;
	pid_t pid = c->nodes[0].pid;
	Synod__Wire__NodeStatusResponse *s;
	struct synod_client *cl;
	uint8_t *frame = calloc(1, B_SENT);
	int *fd = calloc(B_CONNS, sizeof *fd);
	uint64_t rss0, rss1;
	assert_non_null(frame);
	assert_non_null(fd);

	/* Warm the node up (a write, a status) before the baseline. */
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	assert_int_equal(set_config(cl, "retention.ms", "1000"), SYNOD_OK);
	synod_client_close(cl);
	assert_int_equal(wait_conns(c, only_probe, 0, WAIT_MS), 0);
	rss0 = rss_kib(pid);
	assert_true(rss0 > 0);

	/* 400 connections from 20 addresses each send the first 60 KiB of
	 * a 64 KiB frame (the largest allowed) and stop: 24 MiB if the
	 * node read them all. */
	prefix(frame, SYNOD_API_CONFIG_SET, 1, 65536 - 12);
	for (int i = 0; i < B_CONNS; i++) {
		char src[32];
		snprintf(src, sizeof src, "127.0.0.%d", 10 + i / A_PER_IP);
		fd[i] = itest_raw_connect(src, addr, 0);
		/* The socket buffers take what the node does not read. */
		itest_raw_send(fd[i], frame, B_SENT);
	}
	assert_int_equal(wait_conns(c, budget_spent, B_CONNS, WAIT_MS), 0);
	rss1 = rss_kib(pid);
	fprintf(stderr,
		"RSS %llu KiB before, %llu KiB with %d partial frames\n",
		(unsigned long long)rss0, (unsigned long long)rss1, B_CONNS);
	assert_true(rss1 < rss0 + B_RSS_SLACK_KIB);

	/* A fresh connection writes and commits meanwhile: its small frames
	 * need no budget. */
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	assert_int_equal(set_config(cl, "retention.ms", "2000"), SYNOD_OK);
	assert_int_equal(set_config(cl, "retention.ms", "3000"), SYNOD_OK);
	synod_client_close(cl);
	s = status(c);
	assert_non_null(s);
	assert_true(s->connections->read_buffer_bytes <= B_BUDGET);
	assert_true(s->connections->read_pauses >= B_CONNS / 2);
	/* ... while every attacker is still connected. */
	assert_int_equal(s->connections->closed_partial_frame, 0);
	assert_int_equal(s->connections->open, B_CONNS + 1);
	synod__wire__node_status_response__free_unpacked(s, NULL);
	assert_true(itest_log_contains_after(
	    c, 1, 0, "pass max_read_buffer_bytes (1048576): not reading"));

	/* The partial-frame timeout closes them all, the waiting ones too,
	 * and every byte of the budget comes back. */
	assert_int_equal(
	    wait_conns(c, all_closed_partial, B_CONNS, B_PARTIAL_MS + WAIT_MS),
	    0);
	for (int i = 0; i < B_CONNS; i++) {
		assert_true(closed_within(fd[i], 5000) >= 0);
		close(fd[i]);
	}
	/* A frame that needs a large buffer is read again. */
	{
		int big = itest_raw_connect(NULL, addr, 0);
		enum { BODY = 40000 };
		uint8_t *req = calloc(1, 16 + BODY), *body;
		/* NodeStatusRequest with an unknown 39996-byte field 15. */
		assert_non_null(req);
		prefix(req, SYNOD_API_NODE_STATUS, 77, BODY);
		req[16] = (15 << 3) | 2;
		req[17] = 0x80 | ((BODY - 4) & 0x7f);
		req[18] = 0x80 | (((BODY - 4) >> 7) & 0x7f);
		req[19] = (uint8_t)((BODY - 4) >> 14);
		itest_raw_send(big, req, 16 + BODY);
		itest_raw_response(big, 77, &body);
		free(body);
		free(req);
		close(big);
	}
	free(fd);
	free(frame);
	f->it.passed = 1;
}

/* ---- c. an incomplete frame is closed after the partial timeout ---- */

static void test_partial_timeout(void **state)
{
	struct fixture *f = *state;
	struct cluster *c =
	    start_node(f, BASE_FLAGS "--partial-frame-timeout-ms 1000 "
				     "--idle-timeout-ms 60000");
	const char *addr = c->nodes[0].client_address;
	Synod__Wire__NodeStatusResponse *s;
	uint8_t req[16 + 100] = {0};
	uint8_t *body;
	int half, slow;
	long ms;

	prefix(req, SYNOD_API_NODE_STATUS, 5, 100);
	req[16] = (15 << 3) | 2; /* unknown field 15, 98 bytes */
	req[17] = 98;

	/* A frame sent in two halves 300 ms apart is answered. */
	slow = itest_raw_connect(NULL, addr, 0);
	itest_raw_send(slow, req, 60);
	itest_sleep_ms(300);
	itest_raw_send(slow, req + 60, sizeof req - 60);
	itest_raw_response(slow, 5, &body);
	free(body);

	/* Half a frame, then nothing: closed after 1 s (checked once a
	 * second, so within 2 s more). */
	half = itest_raw_connect(NULL, addr, 0);
	raw_expect_serving(half);
	itest_raw_send(half, req, 58);
	ms = closed_within(half, 5000);
	fprintf(stderr, "half a frame: closed after %ld ms\n", ms);
	assert_true(ms >= 900 && ms <= 4000);
	close(half);

	/* The other one was quiet as long, with no frame pending: open. */
	raw_expect_serving(slow);
	close(slow);
	s = status(c);
	assert_non_null(s);
	assert_int_equal(s->connections->closed_partial_frame, 1);
	assert_int_equal(s->connections->closed_idle, 0);
	synod__wire__node_status_response__free_unpacked(s, NULL);
	assert_true(itest_log_contains_after(c, 1, 0,
					     "partial_frame_timeout_ms 1000); "
					     "closing"));
	f->it.passed = 1;
}

/* ---- d. idle connections are closed, busy ones are not ---- */

#define D_IDLE_MS 2000
#define D_RUN_MS 6000

static int idle_closed(const Synod__Wire__ClientConnections *cc, uint64_t n)
{
	return cc->closed_idle >= n;
}

static void test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = start_node(f, BASE_FLAGS "--idle-timeout-ms 2000");
	const char *addr = c->nodes[0].client_address;
	Synod__Wire__NodeStatusResponse *s;
	struct synod_client *cl;
	uint64_t t0, next, idle_at = 0;
	int idle, busy, beats = 0;

	idle = itest_raw_connect(NULL, addr, 0);
	busy = itest_raw_connect(NULL, addr, 0);
	raw_expect_serving(idle);
	t0 = tool_now_ms();
	next = t0;
	/* The busy one sends a NODE_STATUS every 500 ms (a broker's
	 * heartbeat, faster) for three idle timeouts. */
	while (tool_now_ms() < t0 + D_RUN_MS) {
		uint64_t now = tool_now_ms();
		struct pollfd p = {idle, POLLIN, 0};
		if (now >= next) {
			raw_expect_serving(busy);
			beats++;
			next += 500;
			continue;
		}
		if (idle_at == 0 && poll(&p, 1, (int)(next - now)) > 0) {
			uint8_t b;
			ssize_t r = recv(idle, &b, 1, MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno == ECONNRESET))
				idle_at = tool_now_ms();
		} else if (idle_at != 0) {
			itest_sleep_ms((unsigned)(next - now));
		}
	}
	fprintf(stderr, "idle connection closed after %llu ms, %d beats\n",
		idle_at ? (unsigned long long)(idle_at - t0) : 0ULL, beats);
	assert_true(idle_at != 0);
	assert_true(idle_at - t0 >= D_IDLE_MS - 100 &&
		    idle_at - t0 <= D_IDLE_MS + 2000);
	assert_true(beats >= D_RUN_MS / 500 - 1);
	s = raw_status(busy);
	assert_int_equal(s->connections->closed_idle, 1);
	assert_int_equal(s->connections->closed_partial_frame, 0);
	synod__wire__node_status_response__free_unpacked(s, NULL);
	close(idle);
	close(busy);
	assert_true(itest_log_contains_after(
	    c, 1, 0, "(idle_timeout_ms 2000); closing"));

	/* A library client whose connection was closed for idleness just
	 * reconnects for its next request. */
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	assert_int_equal(set_config(cl, "retention.ms", "1000"), SYNOD_OK);
	assert_int_equal(wait_conns(c, idle_closed, 2, WAIT_MS), 0);
	assert_int_equal(set_config(cl, "retention.ms", "2000"), SYNOD_OK);
	synod_client_close(cl);
	f->it.passed = 1;
}

/* ---- e. a peer that does not read its responses ---- */

#define E_ENTRIES 200
#define E_REQUESTS 3000

static int slow_closed(const Synod__Wire__ClientConnections *cc, uint64_t arg)
{
	(void)arg;
	return cc->closed_slow_reader == 1;
}

static void test_slow_reader(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = start_node(
	    f, BASE_FLAGS "--slow-reader-bytes 65536 --slow-reader-timeout-ms "
			  "1000 --idle-timeout-ms 60000");
	const char *addr = c->nodes[0].client_address;
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e[E_ENTRIES], *ep[E_ENTRIES];
	Synod__Wire__NodeStatusResponse *s;
	char topics[E_ENTRIES][16];
	struct synod_client *cl;
	uint8_t *reqs;
	int fd;

	/* 200 topic configs: every CONFIG_LIST answer is about 10 KiB. */
	for (int i = 0; i < E_ENTRIES; i++) {
		synod__wire__config_entry__init(&e[i]);
		snprintf(topics[i], sizeof topics[i], "t%d", i);
		e[i].scope = SYNOD_SCOPE_TOPIC;
		e[i].resource = topics[i];
		e[i].key = "retention.ms";
		e[i].value = "86400000";
		ep[i] = &e[i];
	}
	r.n_entries = E_ENTRIES;
	r.entries = ep;
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	assert_int_equal(
	    itest_call_client(cl, SYNOD_API_CONFIG_SET, &r.base, 1,
			      &synod__wire__config_set_response__descriptor,
			      NULL),
	    SYNOD_OK);
	synod_client_close(cl);

	/* 3000 CONFIG_LISTs (30 MB of answers), none read. */
	fd = itest_raw_connect(NULL, addr, 4096);
	reqs = calloc(E_REQUESTS, 16);
	assert_non_null(reqs);
	for (int i = 0; i < E_REQUESTS; i++)
		prefix(reqs + 16 * i, SYNOD_API_CONFIG_LIST, (uint32_t)i + 1,
		       0);
	itest_raw_send(fd, reqs, 16 * E_REQUESTS);
	free(reqs);
	assert_int_equal(wait_conns(c, slow_closed, 0, WAIT_MS), 0);
	s = status(c);
	assert_non_null(s);
	assert_int_equal(s->connections->closed_output_limit, 0);
	assert_int_equal(s->connections->closed_idle, 0);
	/* Invariant: reads confirmed by one barrier are answered a slice of
	 * the loop at a time (3000 lists of 200 configs take far longer than
	 * one 2 ms slice on any machine), not all in one loop turn. */
	print_message("read slices deferred %llu, loop stall max %llu us\n",
		      (unsigned long long)s->read_slices_deferred,
		      (unsigned long long)s->loop_stall_max_us);
	assert_true(s->has_read_slices_deferred &&
		    s->read_slices_deferred >= 1);
	synod__wire__node_status_response__free_unpacked(s, NULL);
	close(fd);
	assert_true(itest_log_contains_after(c, 1, 0,
					     "slow_reader_timeout_ms 1000); "
					     "closing"));
	f->it.passed = 1;
}

/* ---- exactly-once writes ---- */

/* A CONFIG_SET or CONFIG_DELETE request sent raw with client id `cid`
 * and correlation id `corr` (FRAME_F_CLIENT_ID); the answer's code. */
/* A write request with a client id over a raw connection: its answer's
 * status code (ConfigSetResponse and ConfigDeleteResponse have the same
 * fields and numbers). */
static int raw_write(int fd, uint16_t api, const char *cid, uint32_t corr,
		     const ProtobufCMessage *msg)
{
	Synod__Wire__ConfigSetResponse *r =
	    (Synod__Wire__ConfigSetResponse *)itest_raw_call(
		fd, api, cid, corr, msg,
		&synod__wire__config_set_response__descriptor);
	int code = r->status->code;
	synod__wire__config_set_response__free_unpacked(r, NULL);
	return code;
}

static int raw_set(int fd, const char *cid, uint32_t corr, const char *value)
{
	struct reg_set x;
	reg_set_init(&x, value);
	return raw_write(fd, SYNOD_API_CONFIG_SET, cid, corr, &x.r.base);
}

static char *get_value(struct itest *it)
{
	Synod__Wire__ConfigGetRequest g = SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	Synod__Wire__ConfigGetResponse *r = NULL;
	char *v;
	g.scope = SYNOD_SCOPE_TOPIC;
	g.resource = "reg";
	g.key = "retention.ms";
	assert_int_equal(
	    itest_call(it, SYNOD_API_CONFIG_GET, &g.base,
		       &synod__wire__config_get_response__descriptor,
		       (ProtobufCMessage **)&r),
	    SYNOD_OK);
	v = strdup(r->entry->value);
	synod__wire__config_get_response__free_unpacked(r, NULL);
	return v;
}

static void expect_reg(struct itest *it, const char *want)
{
	char *v = get_value(it);
	assert_string_equal(v, want);
	free(v);
}

/* Invariant: a write request resent with the same client id and
 * correlation id (a lost answer, a leader change) is applied once. Its
 * resend is answered as the first attempt was (OK, or the failure its
 * records met at apply) and does not overwrite what another client wrote
 * in between (the chaos suite found such a resend breaking
 * linearizability: docs/reliability.md). Another correlation id, or
 * another client id with the same correlation id, is a new request. */
static void test_exactly_once(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = start_node(f, NULL);
	const char *a = "client-aaaaaaaaa", *b = "client-bbbbbbbbb";
	Synod__Wire__ConfigDeleteRequest d =
	    SYNOD__WIRE__CONFIG_DELETE_REQUEST__INIT;
	int fd = itest_raw_connect(NULL, c->nodes[0].client_address, 0);
	itest_start_client(&f->it);
	assert_true(fd >= 0);
	assert_int_equal(raw_set(fd, a, 7, "100"), SYNOD_OK);
	expect_reg(&f->it, "100");
	assert_int_equal(set_config_topic(&f->it, "200"), SYNOD_OK);
	/* The resend: acknowledged, not applied again. */
	assert_int_equal(raw_set(fd, a, 7, "100"), SYNOD_OK);
	expect_reg(&f->it, "200");
	/* New requests. */
	assert_int_equal(raw_set(fd, a, 8, "300"), SYNOD_OK);
	expect_reg(&f->it, "300");
	assert_int_equal(raw_set(fd, b, 7, "400"), SYNOD_OK);
	expect_reg(&f->it, "400");
	/* A delete resent after a new value: the value stays. */
	d.scope = SYNOD_SCOPE_TOPIC;
	d.resource = "reg";
	d.key = "retention.ms";
	assert_int_equal(raw_write(fd, SYNOD_API_CONFIG_DELETE, a, 9, &d.base),
			 SYNOD_OK);
	assert_int_equal(set_config_topic(&f->it, "500"), SYNOD_OK);
	assert_int_equal(raw_write(fd, SYNOD_API_CONFIG_DELETE, a, 9, &d.base),
			 SYNOD_OK);
	expect_reg(&f->it, "500");
	/* A delete that found nothing, resent after another client set the
	 * key: NOT_FOUND again (not OK: it deleted nothing), the value
	 * stays. */
	assert_int_equal(raw_write(fd, SYNOD_API_CONFIG_DELETE, a, 10, &d.base),
			 SYNOD_OK);
	assert_int_equal(raw_write(fd, SYNOD_API_CONFIG_DELETE, a, 11, &d.base),
			 SYNOD_ENOT_FOUND);
	assert_int_equal(set_config_topic(&f->it, "600"), SYNOD_OK);
	assert_int_equal(raw_write(fd, SYNOD_API_CONFIG_DELETE, a, 11, &d.base),
			 SYNOD_ENOT_FOUND);
	expect_reg(&f->it, "600");
	close(fd);
	f->it.passed = 1;
}

/* CREATE_TOPICS of topics names[0..n) (parts[i] partitions, NULL: 1;
 * 1 replica each) as request (cid, corr), sent `copies` times in one write (a
 * resend while the first is in flight), every copy answered alike: each topic's
 * result code in codes[], and its id in ids[] (zeros without one). */
static void raw_create_n(int fd, const char *cid, uint32_t corr,
			 const char *const *names, const uint32_t *parts,
			 size_t n, unsigned copies, int *codes,
			 uint8_t (*ids)[16])
{
	Synod__Wire__CreateTopicsRequest r =
	    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
	Synod__Wire__CreatableTopic ct[2], *ctp[2];
	uint16_t apis[2] = {SYNOD_API_CREATE_TOPICS, SYNOD_API_CREATE_TOPICS};
	uint32_t corrs[2] = {corr, corr};
	const ProtobufCMessage *msgs[2] = {&r.base, &r.base};
	assert_true(n <= 2 && copies >= 1 && copies <= 2);
	for (size_t i = 0; i < n; i++) {
		synod__wire__creatable_topic__init(&ct[i]);
		ct[i].name = (char *)names[i];
		ct[i].has_partitions = ct[i].has_replication_factor = 1;
		ct[i].partitions = parts ? parts[i] : 1;
		ct[i].replication_factor = 1;
		ctp[i] = &ct[i];
	}
	r.n_topics = n;
	r.topics = ctp;
	itest_raw_requests(fd, cid, copies, apis, corrs, msgs);
	for (unsigned c = 0; c < copies; c++) {
		Synod__Wire__CreateTopicsResponse *resp =
		    (Synod__Wire__CreateTopicsResponse *)itest_raw_answer(
			fd, corr,
			&synod__wire__create_topics_response__descriptor);
		assert_int_equal(resp->status->code, SYNOD_OK);
		assert_int_equal(resp->n_results, n);
		for (size_t i = 0; i < n; i++) {
			uint8_t id[16] = {0};
			int code = resp->results[i]->status->code;
			if (resp->results[i]->has_topic_id &&
			    resp->results[i]->topic_id.len == 16)
				memcpy(id, resp->results[i]->topic_id.data, 16);
			if (c == 0) {
				codes[i] = code;
				memcpy(ids[i], id, 16);
			} else {
				assert_int_equal(code, codes[i]);
				assert_memory_equal(id, ids[i], 16);
			}
		}
		synod__wire__create_topics_response__free_unpacked(resp, NULL);
	}
}

/* CREATE_TOPICS of topic `name` alone: its result code, its id in id[16]
 * (zeros without one). */
static int raw_create(int fd, const char *cid, uint32_t corr, const char *name,
		      uint8_t *id)
{
	int code;
	raw_create_n(fd, cid, corr, &name, NULL, 1, 1, &code,
		     (uint8_t(*)[16])id);
	return code;
}

static int raw_delete(int fd, const char *cid, uint32_t corr, const char *name)
{
	Synod__Wire__DeleteTopicsRequest r =
	    SYNOD__WIRE__DELETE_TOPICS_REQUEST__INIT;
	Synod__Wire__DeleteTopicsResponse *resp;
	char *names[] = {(char *)name};
	int code;
	r.n_names = 1;
	r.names = names;
	resp = (Synod__Wire__DeleteTopicsResponse *)itest_raw_call(
	    fd, SYNOD_API_DELETE_TOPICS, cid, corr, &r.base,
	    &synod__wire__delete_topics_response__descriptor);
	code = resp->status->code;
	synod__wire__delete_topics_response__free_unpacked(resp, NULL);
	return code;
}

/* CREATE_TOPICS of names[0..2) as request (cid, corr), then its resend:
 * both times names[0] created (one id) and names[1] refused with code. */
static void create_resent(int fd, const char *cid, uint32_t corr,
			  const char *const *names, const uint32_t *parts,
			  int code)
{
	int codes[2];
	uint8_t ids[2][2][16];
	for (int k = 0; k < 2; k++) {
		raw_create_n(fd, cid, corr, names, parts, 2, 1, codes, ids[k]);
		assert_int_equal(codes[0], SYNOD_OK);
		assert_int_equal(codes[1], code);
	}
	assert_memory_equal(ids[0][0], ids[1][0], 16);
}

/* Invariant: a topic creation or deletion resent with the same client id
 * and correlation id (its answer lost, perhaps to a controller failover)
 * is answered as the first attempt was: OK, and not TOPIC_ALREADY_EXISTS
 * or UNKNOWN_TOPIC, which would say the request did nothing (the chaos
 * suite's topic checker found such an answer: docs/reliability.md), and
 * never OK for a topic it did not create. A new request still gets those
 * errors. */
static void test_topic_resends_once(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = start_node(f, NULL);
	const char *a = "client-aaaaaaaaa";
	struct synod_endpoint ep = {"PLAINTEXT", "127.0.0.1", 9001,
				    "PLAINTEXT"};
	struct synod_broker_config cfg = {0};
	struct synod_broker *b;
	uint8_t id1[16], id2[16], id3[16];
	uint64_t deadline = tool_now_ms() + WAIT_MS;
	int fd = itest_raw_connect(NULL, c->nodes[0].client_address, 0);
	assert_true(fd >= 0);
	itest_start_client(&f->it);
	/* One unfenced broker, for replication factor 1. */
	cfg.bootstrap = c->bootstrap;
	cfg.cluster_id = c->cluster_id;
	cfg.broker_id = 1;
	cfg.endpoints = &ep;
	cfg.n_endpoints = 1;
	assert_int_equal(synod_broker_new(&f->it.loop, &cfg, NULL, &f->broker),
			 SYNOD_OK);
	b = f->broker;
	assert_int_equal(synod_broker_start(b), SYNOD_OK);
	while (synod_broker_state(b) != SYNOD_BROKER_ACTIVE) {
		assert_true(tool_now_ms() < deadline);
		itest_pump(&f->it.loop, 50);
	}

	assert_int_equal(raw_create(fd, a, 20, "once", id1), SYNOD_OK);
	/* The resend: OK with the same id, not TOPIC_ALREADY_EXISTS. */
	assert_int_equal(raw_create(fd, a, 20, "once", id2), SYNOD_OK);
	assert_memory_equal(id1, id2, 16);
	/* Another request: the topic exists. */
	assert_int_equal(raw_create(fd, a, 21, "once", id2),
			 SYNOD_ETOPIC_ALREADY_EXISTS);
	assert_int_equal(raw_delete(fd, a, 22, "once"), SYNOD_OK);
	/* The resend: OK, not UNKNOWN_TOPIC. */
	assert_int_equal(raw_delete(fd, a, 22, "once"), SYNOD_OK);
	assert_int_equal(raw_delete(fd, a, 23, "once"), SYNOD_EUNKNOWN_TOPIC);
	/* The first creation resent after the deletion: not applied again
	 * (no topic comes back), answered as the first time, with its id. */
	assert_int_equal(raw_create(fd, a, 20, "once", id2), SYNOD_OK);
	assert_memory_equal(id1, id2, 16);
	assert_int_equal(raw_delete(fd, a, 24, "once"), SYNOD_EUNKNOWN_TOPIC);
	/* A new creation of the name: a new id. */
	assert_int_equal(raw_create(fd, a, 25, "once", id3), SYNOD_OK);
	assert_memory_not_equal(id1, id3, 16);
	/* The first creation resent once more, the name now another
	 * topic's: still its first answer, not TOPIC_ALREADY_EXISTS. */
	assert_int_equal(raw_create(fd, a, 20, "once", id2), SYNOD_OK);
	assert_memory_equal(id1, id2, 16);
	/* A creation of two topics, one there already: its resend answers
	 * as the first attempt did, and not OK for the topic it did not
	 * create (docs/reliability.md 5.33). */
	{
		const char *two[] = {"once", "twice"};
		int codes[2];
		uint8_t ids[2][16], again[2][16];
		raw_create_n(fd, a, 26, two, NULL, 2, 1, codes, ids);
		assert_int_equal(codes[0], SYNOD_ETOPIC_ALREADY_EXISTS);
		assert_int_equal(codes[1], SYNOD_OK);
		raw_create_n(fd, a, 26, two, NULL, 2, 1, codes, again);
		assert_int_equal(codes[0], SYNOD_ETOPIC_ALREADY_EXISTS);
		assert_int_equal(codes[1], SYNOD_OK);
		assert_memory_equal(ids[1], again[1], 16);
		/* "once" deleted since: the resend neither creates it nor
		 * answers OK for it (the first attempt did not create it). */
		assert_int_equal(raw_delete(fd, a, 27, "once"), SYNOD_OK);
		raw_create_n(fd, a, 26, two, NULL, 2, 1, codes, again);
		assert_int_equal(codes[0], SYNOD_EBUSY);
		assert_int_equal(codes[1], SYNOD_OK);
		assert_memory_equal(ids[1], again[1], 16);
		assert_int_equal(raw_delete(fd, a, 28, "once"),
				 SYNOD_EUNKNOWN_TOPIC);
	}
	/* A topic refused for good (no partitions), and a name listed twice
	 * (the second copy taken by the first, in flight): a resend gets
	 * the same errors again, not BUSY or OK. */
	{
		const char *two[] = {"p-ok", "p-bad"}, *dupl[] = {"d1", "d1"};
		const uint32_t parts[] = {1, 0};
		create_resent(fd, a, 32, two, parts, SYNOD_EINVALID_PARTITIONS);
		create_resent(fd, a, 33, dupl, NULL,
			      SYNOD_ETOPIC_ALREADY_EXISTS);
	}
	/* The same creation twice in one write: the second, a resend while
	 * the first is in flight, is proposed again and skipped at apply;
	 * both are answered OK with the one id (as before the kept names:
	 * this guards the common case of create_done's resend branch). */
	{
		const char *one[] = {"inflight"};
		int code;
		uint8_t ids[1][16], zero[16] = {0};
		raw_create_n(fd, a, 30, one, NULL, 1, 2, &code, ids);
		assert_int_equal(code, SYNOD_OK);
		assert_memory_not_equal(ids[0], zero, 16);
		assert_int_equal(raw_create(fd, a, 31, "inflight", id2),
				 SYNOD_ETOPIC_ALREADY_EXISTS);
	}
	close(fd);
	f->it.passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_connection_limits, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_partial_frames_bounded, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_partial_timeout, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_reader, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exactly_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_topic_resends_once, setup,
					    teardown),
	};
	/* Writes to a closed socket must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
