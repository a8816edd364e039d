/* tests/fuzz/fuzz_group.c - the consumer library (net/group.c): its
 * decoding of GROUP_HEARTBEAT answers and GROUP_ASSIGNMENT_PUSH frames
 * and the state machine they drive (assignments, revocations, fencing,
 * leaving). net/group.c has no pure entry point: it is compiled into this
 * file with the client library replaced by a fake (no sockets: a request
 * sent waits in one slot until the input answers it) and the clocks
 * replaced by a counter, so a run depends on its input only. Timers never
 * fire by themselves; the input fires them.
 *
 * Input: chunks [op][u16 length][bytes] (fuzz_common.h). op % 8:
 * 0 the request in flight is answered with the bytes (a
 *   GroupHeartbeatResponse); 1 it fails with a client status (byte 0);
 * 2 a push with the bytes (GroupAssignmentPush); 3 the heartbeat timer
 *   fires (the clock moves on by the heartbeat interval); 4 the kick
 *   timer fires; 5 the application completes its oldest revocation;
 * 6 the client reconnects (a new generation); 7 the application leaves
 *   (bytes empty) or subscribes to the topic named by the bytes.
 *
 * Invariants: at most one request in flight; every heartbeat the library
 * sends passes the controller's own request checks (rc_validate, as
 * controller/groups.c applies it); owned partitions are a sorted set;
 * every callback's partitions are sorted, non-empty sets. */
#include <uv.h>

#include "fuzz_common.h"
#include "groups.h"
#include "reconcile.h"

/* ---- the fakes ---- */

#include "fuzz_fake_client.h"

#include "../../net/group.c"

#undef uv_hrtime
#undef uv_now

static struct {
	int pending;
	synod_response_cb cb;
	void *arg;
} fake;
static char fake_client_storage[64];

int fz_client_new(uv_loop_t *loop, const struct synod_client_config *cfg,
		  struct synod_client **out)
{
	(void)loop;
	(void)cfg;
	*out = (struct synod_client *)(void *)fake_client_storage;
	return SYNOD_OK;
}

void fz_client_close(struct synod_client *c)
{
	(void)c;
	fake.pending = 0;
}

/* What controller/groups.c's validate_heartbeat() checks. */
static void check_request(const Synod__Wire__GroupHeartbeatRequest *req)
{
	struct rc_request r;
	char err[200];
	groups_heartbeat_request(req, &r); /* controller/groups.c */
	if (rc_validate(&r, err, sizeof err) != SYNOD_OK) {
		fprintf(stderr, "library sent an invalid heartbeat: %s\n", err);
		abort();
	}
}

int fz_client_send(struct synod_client *c, uint16_t api,
		   const ProtobufCMessage *req, int to_leader,
		   synod_response_cb cb, void *arg)
{
	(void)c;
	(void)to_leader;
	FUZZ_CHECK(api == SYNOD_API_GROUP_HEARTBEAT);
	FUZZ_CHECK(!fake.pending); /* one request in flight at most */
	check_request((const Synod__Wire__GroupHeartbeatRequest *)req);
	/* The request goes on the wire: it must pack. */
	FUZZ_CHECK(protobuf_c_message_get_packed_size(req) > 0);
	fake.pending = 1;
	fake.cb = cb;
	fake.arg = arg;
	fz_conn.connected = 1;
	return SYNOD_OK;
}

/* ---- the application ---- */

#define MAX_TOKENS 64

static struct {
	uint64_t tokens[MAX_TOKENS];
	size_t n_tokens;
} app;

static void check_set(const struct synod_tp *v, size_t n)
{
	for (size_t i = 1; i < n; i++)
		FUZZ_CHECK(tp_cmp(&v[i - 1], &v[i]) < 0);
}

static void cb_assigned(void *arg, struct synod_consumer *c,
			const struct synod_tp *tps, size_t n)
{
	(void)arg;
	(void)c;
	FUZZ_CHECK(n > 0);
	check_set(tps, n);
}

static void cb_revoking(void *arg, struct synod_consumer *c,
			const struct synod_tp *tps, size_t n, uint64_t token)
{
	(void)arg;
	(void)c;
	FUZZ_CHECK(n > 0);
	check_set(tps, n);
	if (token != SYNOD_CONSUMER_LOST && app.n_tokens < MAX_TOKENS)
		app.tokens[app.n_tokens++] = token;
}

static void cb_error(void *arg, struct synod_consumer *c, int code,
		     const char *msg)
{
	(void)arg;
	(void)c;
	(void)code;
	FUZZ_CHECK(msg != NULL);
}

static const struct synod_consumer_callbacks cbs = {NULL, NULL, cb_assigned,
						    cb_revoking, cb_error};

/* ---- the run ---- */

static const int answer_statuses[] = {
    SYNOD_ETIMEOUT,	    SYNOD_ECANCELED,
    SYNOD_EINVALID_REQUEST, SYNOD_ECLUSTER_ID_MISMATCH,
    SYNOD_ENOT_CONTROLLER,  SYNOD_EUNAVAILABLE};

static void answer(struct synod_consumer *c, int status, const uint8_t *body,
		   size_t len)
{
	synod_response_cb cb = fake.cb;
	void *arg = fake.arg;
	(void)c;
	if (!fake.pending)
		return;
	fake.pending = 0;
	cb(arg, status, body, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uv_loop_t *loop;
	static const char *const topics[] = {"orders"};
	struct synod_consumer_config cfg;
	struct synod_consumer *c;
	struct fz f = {data, size};
	struct fz_chunk k;
	if (loop == NULL)
		loop = uv_default_loop();
	memset(&fake, 0, sizeof fake);
	memset(&fz_conn, 0, sizeof fz_conn);
	memset(&app, 0, sizeof app);
	memset(&cfg, 0, sizeof cfg);
	fake_ns = 1000000000ull;
	cfg.bootstrap = "127.0.0.1:1";
	cfg.cluster_id = "fuzz-cluster";
	cfg.group_id = "g1";
	cfg.topics = topics;
	cfg.n_topics = 1;
	cfg.session_timeout_ms = 10000;
	cfg.unreleased_retry_ms = 5000;
	if (size > 0 && (data[0] & 0x80))
		cfg.instance_id = "static-1";
	FUZZ_CHECK(synod_consumer_new(loop, &cfg, &cbs, &c) == SYNOD_OK);
	FUZZ_CHECK(synod_consumer_start(c) == SYNOD_OK);
	while (fz_chunk(&f, &k) && !terminal(c)) {
		switch (k.op % 8) {
		case 0:
			answer(c, SYNOD_OK, k.data, k.len);
			break;
		case 1:
			answer(c,
			       answer_statuses[(k.len ? k.data[0] : 0) %
					       (sizeof answer_statuses /
						sizeof answer_statuses[0])],
			       NULL, 0);
			break;
		case 2:
			on_push(c, SYNOD_API_GROUP_ASSIGNMENT_PUSH, k.data,
				k.len);
			break;
		case 3:
			fake_ns += (uint64_t)c->heartbeat_ms * 1000000u;
			on_timer(&c->timer);
			break;
		case 4:
			on_kick(&c->kick_timer);
			break;
		case 5:
			if (app.n_tokens > 0) {
				synod_consumer_revoke_done(c, app.tokens[0]);
				memmove(app.tokens, app.tokens + 1,
					--app.n_tokens * sizeof app.tokens[0]);
			}
			break;
		case 6:
			fz_conn.generation++;
			break;
		default:
			if (k.len == 0) {
				synod_consumer_leave(c);
			} else {
				char name[64];
				const char *v[1] = {name};
				size_t n = k.len < sizeof name
					       ? k.len
					       : sizeof name - 1;
				memcpy(name, k.data, n);
				name[n] = '\0';
				synod_consumer_subscribe(c, v, 1, NULL);
			}
			break;
		}
		check_set(c->owned.v, c->owned.n);
		check_set(c->target.v, c->target.n);
		/* The request timeout: at most half the session (the
		 * least of the configured and the answered), at least
		 * 100 ms, and the client's once the library changed it. */
		FUZZ_CHECK(c->request_timeout_ms >= 100 &&
			   (c->request_timeout_ms <= c->session_ms / 2 ||
			    c->request_timeout_ms == 100));
		FUZZ_CHECK(fz_conn.request_timeout_ms == 0 ||
			   fz_conn.request_timeout_ms == c->request_timeout_ms);
	}
	synod_consumer_close(c);
	while (uv_run(loop, UV_RUN_NOWAIT) != 0)
		;
	return 0;
}
