/* tests/integration/itest.h - helpers shared by the integration tests.
 *
 * One copy of what every multi-process test needs: a quorum of `synod`
 * processes (tools/cluster.c) with the test's own libuv loop and client,
 * blocking calls that return the server's Status code, running the loop
 * for a while (pump), cluster config setters, node log helpers, and the
 * fixture teardown that dumps the logs of a failed test and fails a test
 * whose daemons or simulators reported sanitizer findings.
 *
 * Ownership: struct itest is embedded in each test's own fixture, which the
 * test allocates (itest_alloc) and frees after itest_teardown(). The
 * cluster, loop and client inside belong to the struct: itest_teardown()
 * closes the client, runs the loop dry, closes it and destroys the cluster
 * (killing the nodes; the data dir stays with $SYNOD_KEEP_TEST_DIRS).
 * Whatever the test put on the loop (brokers, timers) must be closed before
 * itest_teardown(). Responses returned through `out` are the caller's, to
 * free with protobuf_c_message_free_unpacked(). Paths passed in are
 * borrowed for the call only.
 */
#ifndef SYNOD_TESTS_ITEST_H
#define SYNOD_TESTS_ITEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#include "cluster.h"
#include "common.h"
#include "synod/broker.h"
#include "synod/client.h"

#define ITEST_ETO_MS 300	      /* election timeout of every quorum */
#define ITEST_LEADER_TIMEOUT_MS 15000 /* to wait for a first leader */
#define ITEST_CALL_TIMEOUT_MS 15000   /* request timeout of the clients */

/* A test's quorum, loop and client; the first fields of its fixture. */
struct itest {
	struct cluster c;
	int started; /* cluster_init() ran: teardown destroys the cluster */
	int passed;  /* set by the test at its end: no log dump */
	uv_loop_t loop;
	int loop_ready;		 /* loop initialised */
	struct synod_client *cl; /* on loop, follows the leader */
};

/* ---- fixture ---- */

/* cmocka setup: *state = a zeroed fixture of size bytes; 0 or -1. */
int itest_alloc(void **state, size_t size);

/* Init and start an n-node quorum of synod_bin (NULL: the default) with
 * ITEST_ETO_MS and extra node flags (may be NULL). Asserts. */
struct cluster *itest_start(struct itest *it, unsigned n, const char *synod_bin,
			    const char *flags);

/* Wait for a leader, init it->loop and make it->cl on it. Asserts. */
void itest_start_client(struct itest *it);

/* Close it->cl and it->loop (failing when handles are left), dump the tail
 * of every node's log (40 lines) and of each of logs[0..n_logs-1]
 * (log_lines) when the test did not pass, then destroy the cluster. Fails
 * (-1) when a node or one of logs has a sanitizer report. Does not free
 * the fixture. */
int itest_teardown(struct itest *it, const char *const *logs, unsigned n_logs,
		   unsigned log_lines);

/* ---- calls ---- */

/* A request to the active controller through it->cl, running it->loop
 * (and so whatever else is on it) until the answer. Returns a client error
 * or the server's Status code; the decoded response goes to *out when
 * wanted (also with an error status). */
int itest_call(struct itest *it, uint16_t api, const ProtobufCMessage *req,
	       const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out);

/* The same through synod_client_call() of a client with a loop of its own
 * (blocking), to the leader or not. */
int itest_call_client(struct synod_client *cl, uint16_t api,
		      const ProtobufCMessage *req, int to_leader,
		      const ProtobufCMessageDescriptor *desc,
		      ProtobufCMessage **out);

/* CONFIG_SET of one cluster-scope key through itest_call(). */
int itest_set_config(struct itest *it, const char *key, const char *value);

/* CONFIG_SET of broker.session.timeout.ms and
 * broker.heartbeat.interval.ms in one request through itest_call(). */
int itest_set_cluster_configs(struct itest *it, unsigned session_ms,
			      unsigned heartbeat_ms);

/* CONFIG_SET, in one request, of the consumer group session timeout and
 * heartbeat interval, with their minimums lowered to them (tests use
 * short ones). */
int itest_set_group_configs(struct itest *it, unsigned session_ms,
			    unsigned heartbeat_ms);

/* ---- time ---- */

/* Run loop for ms milliseconds. The timer stops the loop (uv_stop) and the
 * loop runs with UV_RUN_DEFAULT: with UV_RUN_ONCE, an iteration whose poll
 * starts when no other timer is active would block for ever. */
void itest_pump(uv_loop_t *loop, unsigned ms);

/* Run loop until tool_now_ms() reaches when_ms (at once when past). */
void itest_pump_until(uv_loop_t *loop, uint64_t when_ms);

/* Sleep ms milliseconds of wall time (EINTR resumes). */
void itest_sleep_ms(unsigned ms);

/* ---- processes ---- */

/* Fork and exec argv (NULL-terminated; argv[0] found on PATH) with stdout
 * and stderr appended to log; the child's pid. Asserts the fork. */
pid_t itest_spawn(const char *const *argv, const char *log);

/* SIGKILL and reap *pid unless it is 0 (not running); *pid = 0. */
void itest_kill(pid_t *pid);

/* ---- logs and tools ---- */

/* Print the last max_lines lines of path to stderr (nothing if missing). */
void itest_dump_file(const char *path, unsigned max_lines);

/* 1 when the file has an ASan, LSan or UBSan report. */
int itest_has_sanitizer_report(const char *path);

/* Size of node id's log (0 when missing). */
long itest_log_size(struct cluster *c, unsigned id);

/* 1 when node id's log has a line with text at or after offset from. */
int itest_log_contains_after(struct cluster *c, unsigned id, long from,
			     const char *text);
/* The word after `tag` on the last line of node id's log holding it (up
 * to a space, a quote or the line's end), into out: an address a node
 * logged, say. 0, or -1 when no line holds tag. */
int itest_log_word_after(struct cluster *c, unsigned id, const char *tag,
			 char *out, size_t size);

/* Run `ctl --json args` against the quorum, stderr appended to
 * <dir>/synodctl.log; *out = its parsed output (NULL when not JSON).
 * Returns the exit code (-1 when killed). */
int itest_synodctl(struct itest *it, const char *ctl, const char *args,
		   json_t **out);

/* ---- broker metadata deltas ---- */

/* What a broker reported through its on_metadata callback so far. */
struct itest_deltas {
	uint64_t last_version; /* of the last delta reported */
	unsigned deltas, fulls;
	int order_violations;
};

/* Account for delta d reported by b: versions only grow, a delta that is
 * not a full image starts where the previous one ended, and b's view is
 * already at d's version; otherwise an order violation (printed). */
void itest_deltas_check(struct itest_deltas *ds, struct synod_broker *b,
			const Synod__Wire__MetadataDelta *d);

/* ---- raw connections (no client library; assert on failure) ---- */

/* Connect to hostport ("127.0.0.1:P") from source address src (NULL: the
 * kernel's choice); receive and send time out after 5 s. rcvbuf > 0
 * shrinks the receive buffer first. Returns the socket. */
int itest_raw_connect(const char *src, const char *hostport, int rcvbuf);

/* ---- HTTP (the nodes' http_address) ---- */

/* Send req (len bytes, may be 0) to addr, read the whole answer (the
 * server closes) into out (NUL-terminated, at most size - 1 bytes).
 * Returns the status code, 0 when closed without an answer. */
int itest_http_raw(const char *addr, const char *req, size_t len, char *out,
		   size_t size);
/* GET path; as itest_http_raw. */
int itest_http_get(const char *addr, const char *path, char *out, size_t size);
/* The body of an answer read by the above ("" when none). */
const char *itest_http_body(const char *resp);
/* The value of header `name` in an answer into out ("" when absent). */
void itest_http_header(const char *resp, const char *name, char *out,
		       size_t size);
void itest_raw_send(int fd, const uint8_t *buf, size_t n);
/* Read exactly n bytes: 0, or 1 on EOF / reset, or -1 on timeout. */
int itest_raw_read(int fd, uint8_t *buf, size_t n);
/* Read one response frame for correlation id corr; its body (malloc'd)
 * in *body; returns its length. */
size_t itest_raw_response(int fd, uint32_t corr, uint8_t **body);
/* The next response frame, whatever its correlation id (*corr), its body
 * (malloc'd) in *body, *len bytes: 0, or -1 when the connection closed or
 * stayed silent for the socket's timeout. Asserts on a malformed frame. */
int itest_raw_next_response(int fd, uint32_t *corr, uint8_t **body,
			    size_t *len);
/* Send msg as request api with correlation id corr (and client id cid,
 * 16 bytes, unless NULL); read and decode the answer (free it with
 * protobuf_c_message_free_unpacked); or both. */
void itest_raw_request(int fd, uint16_t api, const char *cid, uint32_t corr,
		       const ProtobufCMessage *msg);
/* Send n requests (api[i], correlation id corr[i], msg[i]; client id
 * cid, 16 bytes, unless NULL) in one write, so that the server reads
 * them together. */
void itest_raw_requests(int fd, const char *cid, unsigned n,
			const uint16_t *api, const uint32_t *corr,
			const ProtobufCMessage *const *msg);
ProtobufCMessage *itest_raw_answer(int fd, uint32_t corr,
				   const ProtobufCMessageDescriptor *desc);
ProtobufCMessage *itest_raw_call(int fd, uint16_t api, const char *cid,
				 uint32_t corr, const ProtobufCMessage *msg,
				 const ProtobufCMessageDescriptor *desc);

#endif
