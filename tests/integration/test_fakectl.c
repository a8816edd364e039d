/* tests/integration/test_fakectl.c - self-test of the scripted fake
 * controller (fakectl.h) with the client and broker libraries on the same
 * loop:
 * - a client's handshake and a CONFIG_GET answered NOT_FOUND; a client of
 *   another cluster refused by the handshake;
 * - a NOT_CONTROLLER redirect from one fake to another;
 * - a broker registering, fetching and heartbeating until ACTIVE, then
 *   applying a push of the next version;
 * - the harness's own mechanics: a reply trickled out at a set rate, the
 *   default answer, an oversized frame prefix (the client drops the
 *   connection), a late answer to a closed connection (a no-op), a pause
 *   (nothing answered: the request times out; frames read meanwhile are
 *   handled after the resume), and a close once the answer is written.
 * Every test ends by closing everything and draining the loop:
 * uv_loop_close() must succeed. Every wait is bounded; no fixed sleeps.
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
#include "synod/broker.h"

#define WAIT_MS 5000
#define CLUSTER "fakectl-test-cluster"

struct t {
	uv_loop_t loop;
	struct fakectl *a, *b;
	struct synod_client *c;
	struct synod_broker *br;
	int finished; /* finish() ran */
};

/* One client response. */
struct result {
	int done;
	int status;
	int code; /* Status.code of the body */
	char value[64];
	size_t n_entries;
};

#define WAIT_FOR(f, cond)                                                      \
	do {                                                                   \
		int ok_;                                                       \
		FAKECTL_WAIT_FOR((f), WAIT_MS, (cond), ok_);                   \
		if (!ok_)                                                      \
			fail_msg("timed out waiting for %s", #cond);           \
	} while (0)

static void on_response(void *arg, int status, const uint8_t *body, size_t len)
{
	struct result *r = arg;
	r->done = 1;
	r->status = status;
	r->code = -1;
	if (status != SYNOD_OK)
		return;
	Synod__Wire__AnyResponse *any =
	    synod__wire__any_response__unpack(NULL, len, body);
	assert_non_null(any);
	r->code = any->status ? any->status->code : 0;
	synod__wire__any_response__free_unpacked(any, NULL);
}

static void on_config_get(void *arg, int status, const uint8_t *body,
			  size_t len)
{
	struct result *r = arg;
	on_response(arg, status, body, len);
	if (status != SYNOD_OK || r->code != SYNOD_OK)
		return;
	Synod__Wire__ConfigGetResponse *g =
	    synod__wire__config_get_response__unpack(NULL, len, body);
	assert_non_null(g);
	if (g->entry)
		snprintf(r->value, sizeof r->value, "%s", g->entry->value);
	synod__wire__config_get_response__free_unpacked(g, NULL);
}

static void on_config_list(void *arg, int status, const uint8_t *body,
			   size_t len)
{
	struct result *r = arg;
	on_response(arg, status, body, len);
	if (status != SYNOD_OK || r->code != SYNOD_OK)
		return;
	Synod__Wire__ConfigListResponse *l =
	    synod__wire__config_list_response__unpack(NULL, len, body);
	assert_non_null(l);
	r->n_entries = l->n_entries;
	synod__wire__config_list_response__free_unpacked(l, NULL);
}

static void send_config_get(struct t *t, struct result *r)
{
	Synod__Wire__ConfigGetRequest q = SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	q.scope = SYNOD_SCOPE_CLUSTER;
	q.key = "retention.ms";
	memset(r, 0, sizeof *r);
	assert_int_equal(synod_client_send(t->c, SYNOD_API_CONFIG_GET, &q.base,
					   1, on_config_get, r),
			 SYNOD_OK);
}

static void new_client(struct t *t, const char *bootstrap,
		       unsigned request_timeout_ms, unsigned liveness_ms)
{
	struct synod_client_config cfg = {0};
	cfg.bootstrap = bootstrap;
	cfg.cluster_id = CLUSTER;
	cfg.request_timeout_ms = request_timeout_ms;
	cfg.liveness_timeout_ms = liveness_ms;
	assert_int_equal(synod_client_new(&t->loop, &cfg, &t->c), SYNOD_OK);
}

/* Close what the test opened, free the fakes, and run the loop until
 * nothing is left. 0 when the loop closed cleanly. */
static int finish(struct t *t)
{
	int rv;
	if (t->finished)
		return 0;
	t->finished = 1;
	if (t->br)
		synod_broker_close(t->br);
	if (t->c)
		synod_client_close(t->c);
	fakectl_free(t->a);
	fakectl_free(t->b);
	t->br = NULL;
	t->c = NULL;
	t->a = t->b = NULL;
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
	if (fakectl_start(&t->loop, CLUSTER, &t->a) != 0)
		return -1;
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

/* ---- 1: handshake and an answer from the handler ---- */

static int answer_not_found(void *arg, struct fakectl_conn *fc,
			    const struct frame_header *h, const uint8_t *body,
			    size_t len)
{
	if (h->api != SYNOD_API_CONFIG_GET)
		return FAKECTL_DEFAULT;
	assert_int_equal(fakectl_reply_status(fc, h, SYNOD_ENOT_FOUND, NULL),
			 0);
	return FAKECTL_HANDLED;
}

static void test_client_request(void **state)
{
	struct t *t = *state;
	struct result r;
	fakectl_on_request(t->a, answer_not_found, NULL);
	new_client(t, fakectl_address(t->a), 2000, 0);
	send_config_get(t, &r);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_OK);
	assert_int_equal(r.code, SYNOD_ENOT_FOUND);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_METADATA), 1);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_CONFIG_GET), 1);
	assert_int_equal(fakectl_requests_total(t->a), 2);
	assert_int_equal(fakectl_accepts(t->a), 1);
	assert_int_equal(fakectl_conn_count(t->a), 1);
	assert_string_equal(synod_client_peer(t->c), fakectl_address(t->a));
	assert_int_equal(finish(t), 0);
}

/* Host names are looked up off the loop (uv_getaddrinfo): "localhost"
 * reaches the fake; a name that does not resolve ends the request with
 * CONNECTION and says why, without a crash or a loop stall. */
static void test_client_names(void **state)
{
	struct t *t = *state;
	struct result r;
	struct synod_client_stats st;
	char addr[64];
	const char *colon = strrchr(fakectl_address(t->a), ':');
	fakectl_on_request(t->a, answer_not_found, NULL);
	snprintf(addr, sizeof addr, "localhost%s", colon);
	new_client(t, addr, 2000, 0);
	send_config_get(t, &r);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_OK);
	assert_int_equal(r.code, SYNOD_ENOT_FOUND);
	synod_client_stats(t->c, &st);
	assert_int_equal(st.connections, 1);
	synod_client_close(t->c);
	t->c = NULL;
	new_client(t, "no-such-host.invalid:9", 1500, 0);
	send_config_get(t, &r);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_ECONNECTION);
	assert_non_null(strstr(synod_client_errmsg(t->c), "resolve"));
	assert_int_equal(finish(t), 0);
}

/* A node that stops answering (its liveness probe too) is given up on
 * with a reset, not a close, so that the kernel drops the requests it
 * still holds for it instead of delivering them seconds later
 * (reliability.md 5.32). A client's own close stays a plain close. */
static int answer_only_handshake(void *arg, struct fakectl_conn *fc,
				 const struct frame_header *h,
				 const uint8_t *body, size_t len)
{
	(void)arg, (void)fc, (void)body, (void)len;
	return h->api == SYNOD_API_METADATA ? FAKECTL_DEFAULT : FAKECTL_HANDLED;
}

static void test_liveness_reset(void **state)
{
	struct t *t = *state;
	struct result r;
	struct synod_client_stats st;
	fakectl_on_request(t->a, answer_only_handshake, NULL);
	new_client(t, fakectl_address(t->a), 10000, 150);
	send_config_get(t, &r);
	WAIT_FOR(t->a, fakectl_resets(t->a) >= 1);
	synod_client_stats(t->c, &st);
	assert_true(st.liveness_drops >= 1);
	assert_int_equal(r.done, 0); /* the request waits for the next node */
	/* The client's own close: the fake reads an end of file. */
	fakectl_on_request(t->a, answer_not_found, NULL);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.code, SYNOD_ENOT_FOUND);
	uint64_t resets = fakectl_resets(t->a);
	synod_client_close(t->c);
	t->c = NULL;
	WAIT_FOR(t->a, fakectl_conn_count(t->a) == 0);
	assert_int_equal(fakectl_resets(t->a), resets);
	assert_int_equal(finish(t), 0);
}

/* A client expecting another cluster is refused by the handshake. */
static void test_cluster_mismatch(void **state)
{
	struct t *t = *state;
	struct synod_client_config cfg = {0};
	struct result r;
	cfg.bootstrap = fakectl_address(t->a);
	cfg.cluster_id = "some-other-cluster";
	cfg.request_timeout_ms = 2000;
	assert_int_equal(synod_client_new(&t->loop, &cfg, &t->c), SYNOD_OK);
	send_config_get(t, &r);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_ECLUSTER_ID_MISMATCH);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_CONFIG_GET), 0);
	WAIT_FOR(t->a, fakectl_conn_count(t->a) == 0);
	assert_int_equal(finish(t), 0);
}

/* ---- 2: redirect ---- */

static int redirect_to_b(void *arg, struct fakectl_conn *fc,
			 const struct frame_header *h, const uint8_t *body,
			 size_t len)
{
	struct t *t = arg;
	if (h->api == SYNOD_API_METADATA || h->api == SYNOD_API_NODE_STATUS)
		return FAKECTL_DEFAULT;
	fakectl_reply_status(fc, h, SYNOD_ENOT_CONTROLLER,
			     fakectl_address(t->b));
	return FAKECTL_HANDLED;
}

static int answer_config(void *arg, struct fakectl_conn *fc,
			 const struct frame_header *h, const uint8_t *body,
			 size_t len)
{
	Synod__Wire__ConfigGetResponse r =
	    SYNOD__WIRE__CONFIG_GET_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	if (h->api != SYNOD_API_CONFIG_GET)
		return FAKECTL_DEFAULT;
	e.scope = SYNOD_SCOPE_CLUSTER;
	e.key = "retention.ms";
	e.value = "86400000";
	r.status = &st;
	r.entry = &e;
	fakectl_reply(fc, h, &r.base);
	return FAKECTL_HANDLED;
}

static void test_redirect(void **state)
{
	struct t *t = *state;
	struct result r;
	assert_int_equal(fakectl_start(&t->loop, CLUSTER, &t->b), 0);
	assert_string_not_equal(fakectl_address(t->a), fakectl_address(t->b));
	fakectl_on_request(t->a, redirect_to_b, t);
	fakectl_on_request(t->b, answer_config, t);
	new_client(t, fakectl_address(t->a), 3000, 0);
	send_config_get(t, &r);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_OK);
	assert_int_equal(r.code, SYNOD_OK);
	assert_string_equal(r.value, "86400000");
	assert_string_equal(synod_client_peer(t->c), fakectl_address(t->b));
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_CONFIG_GET), 1);
	assert_int_equal(fakectl_requests(t->b, SYNOD_API_CONFIG_GET), 1);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_METADATA), 1);
	assert_int_equal(fakectl_requests(t->b, SYNOD_API_METADATA), 1);
	/* The client left A for B. */
	WAIT_FOR(t->a, fakectl_conn_count(t->a) == 0);
	assert_int_equal(fakectl_conn_count(t->b), 1);
	assert_int_equal(finish(t), 0);
}

/* ---- 3: a broker until ACTIVE ---- */

static const uint8_t topic_id[16] = {1, 2,  3,	4,  5,	6,  7,	8,
				     9, 10, 11, 12, 13, 14, 15, 16};

/* The fake controller's state: metadata version 5 and no topic, then
 * version 6 with topic "orders" once a push was asked for. */
struct brokerside {
	struct t *t;
	int register_ok; /* the request named our cluster and broker 7 */
	uint64_t version;
	int want_push; /* push version 6 after the next heartbeat answer */
	int pushed;
	enum synod_broker_state states[16];
	unsigned n_states;
};

static int controller(void *arg, struct fakectl_conn *fc,
		      const struct frame_header *h, const uint8_t *body,
		      size_t len)
{
	struct brokerside *s = arg;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__TopicState topic = SYNOD__WIRE__TOPIC_STATE__INIT;
	Synod__Wire__TopicState *tp = &topic;
	topic.name = "orders";
	topic.topic_id.data = (uint8_t *)topic_id;
	topic.topic_id.len = sizeof topic_id;
	topic.partitions = 3;
	switch (h->api) {
	case SYNOD_API_BROKER_REGISTER: {
		Synod__Wire__BrokerRegisterRequest *q =
		    synod__wire__broker_register_request__unpack(NULL, len,
								 body);
		Synod__Wire__BrokerRegisterResponse r =
		    SYNOD__WIRE__BROKER_REGISTER_RESPONSE__INIT;
		assert_non_null(q);
		s->register_ok = strcmp(q->cluster_id, CLUSTER) == 0 &&
				 q->broker_id == 7 &&
				 strlen(q->incarnation_id) == 36;
		synod__wire__broker_register_request__free_unpacked(q, NULL);
		r.status = &st;
		r.has_broker_epoch = 1;
		r.broker_epoch = 5;
		r.has_heartbeat_interval_ms = 1;
		r.heartbeat_interval_ms = 50;
		r.has_session_timeout_ms = 1;
		r.session_timeout_ms = 1000;
		fakectl_reply(fc, h, &r.base);
		return FAKECTL_HANDLED;
	}
	case SYNOD_API_BROKER_HEARTBEAT: {
		Synod__Wire__BrokerHeartbeatResponse r =
		    SYNOD__WIRE__BROKER_HEARTBEAT_RESPONSE__INIT;
		r.status = &st;
		r.has_is_fenced = 1;
		r.is_fenced = 0;
		r.has_metadata_version = 1;
		r.metadata_version = s->version;
		fakectl_reply(fc, h, &r.base);
		if (s->want_push) {
			/* On the connection the broker heartbeats on. */
			s->want_push = 0;
			s->version = 6;
			d.prev_version = 5;
			d.version = 6;
			d.n_topics = 1;
			d.topics = &tp;
			assert_int_equal(
			    fakectl_push(fc, SYNOD_API_METADATA_PUSH, &d.base),
			    0);
			s->pushed = 1;
		}
		return FAKECTL_HANDLED;
	}
	case SYNOD_API_METADATA_FETCH: {
		/* Always the full image of the current version. */
		Synod__Wire__MetadataFetchResponse r =
		    SYNOD__WIRE__METADATA_FETCH_RESPONSE__INIT;
		d.prev_version = 0;
		d.version = s->version;
		d.has_full = 1;
		d.full = 1;
		if (s->version == 6) {
			d.n_topics = 1;
			d.topics = &tp;
		}
		r.status = &st;
		r.delta = &d;
		fakectl_reply(fc, h, &r.base);
		return FAKECTL_HANDLED;
	}
	default:
		return FAKECTL_DEFAULT;
	}
}

static void on_state(void *arg, struct synod_broker *b,
		     enum synod_broker_state old_state,
		     enum synod_broker_state new_state)
{
	struct brokerside *s = arg;
	if (s->n_states < sizeof s->states / sizeof s->states[0])
		s->states[s->n_states++] = new_state;
}

static void test_broker_active(void **state)
{
	struct t *t = *state;
	struct brokerside s = {.t = t, .version = 5};
	struct synod_endpoint ep = {"PLAINTEXT", "127.0.0.1", 9092,
				    "PLAINTEXT"};
	struct synod_broker_config cfg = {0};
	struct synod_broker_callbacks cbs = {0};
	fakectl_on_request(t->a, controller, &s);
	cfg.bootstrap = fakectl_address(t->a);
	cfg.cluster_id = CLUSTER;
	cfg.broker_id = 7;
	cfg.endpoints = &ep;
	cfg.n_endpoints = 1;
	cbs.arg = &s;
	cbs.state_changed = on_state;
	assert_int_equal(synod_broker_new(&t->loop, &cfg, &cbs, &t->br),
			 SYNOD_OK);
	assert_int_equal(synod_broker_start(t->br), SYNOD_OK);
	WAIT_FOR(t->a, synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE);
	assert_true(s.register_ok);
	assert_int_equal(synod_broker_epoch(t->br), 5);
	assert_int_equal(synod_broker_metadata_version(t->br), 5);
	assert_int_equal(synod_broker_heartbeat_interval(t->br), 50);
	assert_int_equal(synod_broker_session_timeout(t->br), 1000);
	assert_int_equal(s.n_states, 2);
	assert_int_equal(s.states[0], SYNOD_BROKER_FENCED);
	assert_int_equal(s.states[1], SYNOD_BROKER_ACTIVE);
	assert_true(fakectl_requests(t->a, SYNOD_API_METADATA_FETCH) >= 1);
	/* Heartbeats go on every 50 ms; the registration stands. */
	WAIT_FOR(t->a, fakectl_requests(t->a, SYNOD_API_BROKER_HEARTBEAT) >= 6);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_ACTIVE);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_BROKER_REGISTER), 1);
	/* A push (prev 5, version 6) creating a topic. */
	assert_int_equal(synod_broker_topic_count(t->br), 0);
	s.want_push = 1;
	WAIT_FOR(t->a, s.pushed && synod_broker_metadata_version(t->br) == 6);
	assert_int_equal(synod_broker_topic_count(t->br), 1);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_ACTIVE);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_BROKER_REGISTER), 1);
	assert_int_equal(finish(t), 0);
}

/* ---- 4: the harness's own mechanics ---- */

#define LIST_ENTRIES 400
#define WRITE_RATE 32000 /* bytes per second */

static char big_value[100];

static int held_list(void *arg, struct fakectl_conn *fc,
		     const struct frame_header *h, const uint8_t *body,
		     size_t len)
{
	Synod__Wire__ConfigListResponse r =
	    SYNOD__WIRE__CONFIG_LIST_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__ConfigEntry e[LIST_ENTRIES], *ep[LIST_ENTRIES];
	char keys[LIST_ENTRIES][16];
	if (h->api == SYNOD_API_CONFIG_GET)
		return answer_config(arg, fc, h, body, len);
	if (h->api == SYNOD_API_CONFIG_SET) {
		/* Answer, then hang up once the answer is out. */
		fakectl_reply_status(fc, h, SYNOD_OK, NULL);
		fakectl_close_conn(fc, FAKECTL_CLOSE_FLUSHED);
		return FAKECTL_HANDLED;
	}
	if (h->api != SYNOD_API_CONFIG_LIST)
		return FAKECTL_DEFAULT;
	for (int i = 0; i < LIST_ENTRIES; i++) {
		synod__wire__config_entry__init(&e[i]);
		snprintf(keys[i], sizeof keys[i], "key.%d", i);
		e[i].key = keys[i];
		e[i].value = big_value;
		ep[i] = &e[i];
	}
	r.status = &st;
	r.n_entries = LIST_ENTRIES;
	r.entries = ep;
	fakectl_reply(fc, h, &r.base);
	return FAKECTL_HANDLED;
}

static void test_harness(void **state)
{
	struct t *t = *state;
	Synod__Wire__ConfigListRequest lq =
	    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
	Synod__Wire__ConfigDeleteRequest dq =
	    SYNOD__WIRE__CONFIG_DELETE_REQUEST__INIT;
	Synod__Wire__ConfigSetRequest sq =
	    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	struct result r;
	struct frame_header h = {.kind = FRAME_RESPONSE,
				 .api = SYNOD_API_CONFIG_GET,
				 .api_version = 1,
				 .correlation_id = 99};
	uint8_t prefix[FRAME_PREFIX];
	uint64_t t0, elapsed, before, id;
	memset(big_value, 'v', sizeof big_value - 1);
	fakectl_on_request(t->a, held_list, t);
	/* Liveness above the trickle's duration: this test is about the
	 * fake, not about how the client judges a slow frame. */
	new_client(t, fakectl_address(t->a), 3000, 5000);

	/* A ~45 KB answer at 32 KB/s takes more than a second. */
	fakectl_set_write_rate(t->a, WRITE_RATE);
	memset(&r, 0, sizeof r);
	t0 = fakectl_now_ms();
	assert_int_equal(synod_client_send(t->c, SYNOD_API_CONFIG_LIST,
					   &lq.base, 1, on_config_list, &r),
			 SYNOD_OK);
	WAIT_FOR(t->a, r.done);
	elapsed = fakectl_now_ms() - t0;
	assert_int_equal(r.status, SYNOD_OK);
	assert_int_equal(r.code, SYNOD_OK);
	assert_int_equal(r.n_entries, LIST_ENTRIES);
	assert_true(fakectl_bytes_written(t->a) > 40000);
	assert_true(elapsed >= 1000 * 40000 / WRITE_RATE - 100);
	fakectl_set_write_rate(t->a, 0);

	/* Nobody handles CONFIG_DELETE: the configured default answer. */
	fakectl_set_default_status(t->a, SYNOD_EUNSUPPORTED_API);
	dq.scope = SYNOD_SCOPE_CLUSTER;
	dq.key = "retention.ms";
	memset(&r, 0, sizeof r);
	assert_int_equal(synod_client_send(t->c, SYNOD_API_CONFIG_DELETE,
					   &dq.base, 1, on_response, &r),
			 SYNOD_OK);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_OK);
	assert_int_equal(r.code, SYNOD_EUNSUPPORTED_API);

	/* A frame prefix declaring 32 MiB: the client drops the
	 * connection; a late answer to it is a no-op. */
	id = fakectl_conn_id(fakectl_last_conn(t->a));
	assert_int_equal(fakectl_accepts(t->a), 1);
	frame_put_prefix(prefix, &h, 32u << 20);
	assert_int_equal(
	    fakectl_send_raw(fakectl_last_conn(t->a), prefix, sizeof prefix),
	    0);
	WAIT_FOR(t->a, fakectl_conn_count(t->a) == 0);
	assert_null(fakectl_conn_find(t->a, id));
	assert_int_equal(
	    fakectl_reply_status(fakectl_conn_find(t->a, id), &h, 0, NULL),
	    UV_EPIPE);
	/* The next request reconnects. */
	send_config_get(t, &r);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_OK);
	assert_string_equal(r.value, "86400000");
	assert_int_equal(fakectl_accepts(t->a), 2);

	/* Paused: the request is not handled and times out on the open
	 * connection; after the resume the fake handles it (too late). */
	fakectl_pause(t->a, 1);
	before = fakectl_requests(t->a, SYNOD_API_CONFIG_GET);
	send_config_get(t, &r);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_ETIMEOUT);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_CONFIG_GET), before);
	assert_int_equal(fakectl_conn_count(t->a), 1);
	fakectl_pause(t->a, 0);
	WAIT_FOR(t->a,
		 fakectl_requests(t->a, SYNOD_API_CONFIG_GET) == before + 1);
	/* And it answers again. */
	send_config_get(t, &r);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_OK);
	assert_int_equal(r.code, SYNOD_OK);

	/* An answer trickling out (2 KB/s), then the connection closes once
	 * it is written. */
	fakectl_set_write_rate(t->a, 2000);
	memset(&r, 0, sizeof r);
	assert_int_equal(synod_client_send(t->c, SYNOD_API_CONFIG_SET, &sq.base,
					   1, on_response, &r),
			 SYNOD_OK);
	WAIT_FOR(t->a, r.done);
	assert_int_equal(r.status, SYNOD_OK);
	assert_int_equal(r.code, SYNOD_OK);
	WAIT_FOR(t->a, fakectl_conn_count(t->a) == 0);
	assert_int_equal(fakectl_accepts(t->a), 2);
	assert_int_equal(fakectl_bad_frames(t->a), 0);
	assert_int_equal(finish(t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_client_request, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_client_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_liveness_reset, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_mismatch, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_redirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_broker_active, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_harness, setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
