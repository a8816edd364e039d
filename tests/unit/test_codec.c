/* Unit tests: frame codec (net/frame.c), protobuf bodies, config key
 * validation (controller/configdefs.c) and daemon config parsing
 * (controller/config.c). Malformed, truncated, oversize and unknown-version
 * input must give an error, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "query.h"
#include "configdefs.h"
#include "frame.h"
#include "synod.pb-c.h"
#include "synod/client.h"

static size_t make_frame(uint8_t *out, const struct frame_header *h,
			 const uint8_t *body, size_t len)
{
	frame_put_prefix(out, h, len);
	memcpy(out + frame_prefix_size(h), body, len);
	return frame_prefix_size(h) + len;
}

/* A request's client id (FRAME_F_CLIENT_ID) travels between header and
 * body and comes back out of the body; a frame too short to hold it is
 * refused; responses never carry one. */
static void test_client_id(void **state)
{
	uint8_t buf[256];
	struct frame_header h = {.kind = FRAME_REQUEST,
				 .flags = FRAME_F_CLIENT_ID,
				 .api = SYNOD_API_CONFIG_SET,
				 .api_version = 1,
				 .correlation_id = 42},
			    got;
	const uint8_t *body;
	size_t blen, used, n;
	(void)state;
	memcpy(h.client_id, "0123456789abcdef", 16);
	n = make_frame(buf, &h, (const uint8_t *)"hello", 5);
	assert_int_equal(n, 16 + 16 + 5);
	assert_int_equal(frame_decode(buf, n, 1024, &got, &body, &blen, &used),
			 FRAME_OK);
	assert_true(got.flags & FRAME_F_CLIENT_ID);
	assert_memory_equal(got.client_id, "0123456789abcdef", 16);
	assert_int_equal(got.correlation_id, 42);
	assert_int_equal(blen, 5);
	assert_memory_equal(body, "hello", 5);
	assert_int_equal(used, n);
	/* Flag set but fewer than 16 bytes after the header. */
	h.flags = 0;
	n = make_frame(buf, &h, (const uint8_t *)"0123456789", 10);
	buf[7] = FRAME_F_CLIENT_ID;
	assert_int_equal(frame_decode(buf, n, 1024, &got, &body, &blen, &used),
			 FRAME_ESHORT);
	/* A response with the flag: no client id taken from its body. */
	h.kind = FRAME_RESPONSE;
	h.flags = FRAME_F_CLIENT_ID;
	n = make_frame(buf, &h, (const uint8_t *)"hello", 5);
	assert_int_equal(n, 21);
	assert_int_equal(frame_decode(buf, n, 1024, &got, &body, &blen, &used),
			 FRAME_OK);
	assert_int_equal(blen, 5);
}

static void test_roundtrip(void **state)
{
	uint8_t buf[256];
	struct frame_header h = {.kind = FRAME_REQUEST,
				 .api = SYNOD_API_CONFIG_SET,
				 .api_version = 1,
				 .correlation_id = 0xdeadbeef};
	struct frame_header got;
	const uint8_t *body;
	size_t blen, used;
	size_t n = make_frame(buf, &h, (const uint8_t *)"hello", 5);
	(void)state;
	assert_int_equal(n, 21);
	assert_int_equal(frame_decode(buf, n, 1024, &got, &body, &blen, &used),
			 FRAME_OK);
	assert_int_equal(got.kind, FRAME_REQUEST);
	assert_int_equal(got.api, SYNOD_API_CONFIG_SET);
	assert_int_equal(got.api_version, 1);
	assert_int_equal(got.correlation_id, 0xdeadbeef);
	assert_int_equal(blen, 5);
	assert_memory_equal(body, "hello", 5);
	assert_int_equal(used, n);
}

static void test_truncated(void **state)
{
	uint8_t buf[64];
	struct frame_header h = {.kind = FRAME_RESPONSE,
				 .api = 2,
				 .api_version = 1,
				 .correlation_id = 7},
			    got;
	const uint8_t *body;
	size_t blen, used;
	size_t n = make_frame(buf, &h, (const uint8_t *)"abcdefgh", 8);
	(void)state;
	/* Every strict prefix is incomplete, never an error or a frame. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(
		    frame_decode(buf, k, 1024, &got, &body, &blen, &used),
		    FRAME_EAGAIN);
	/* Two frames back to back decode one at a time. */
	memcpy(buf + n, buf, n);
	assert_int_equal(
	    frame_decode(buf, 2 * n, 1024, &got, &body, &blen, &used),
	    FRAME_OK);
	assert_int_equal(used, n);
	assert_int_equal(
	    frame_decode(buf + used, n, 1024, &got, &body, &blen, &used),
	    FRAME_OK);
}

static void test_bad_frames(void **state)
{
	uint8_t buf[64];
	struct frame_header h = {.kind = FRAME_REQUEST,
				 .api = 1,
				 .api_version = 1,
				 .correlation_id = 9},
			    got;
	const uint8_t *body;
	size_t blen, used;
	size_t n = make_frame(buf, &h, (const uint8_t *)"x", 1);
	(void)state;

	/* Oversize: refused from the 4-byte length alone. */
	assert_int_equal(frame_decode(buf, 4, 8, &got, &body, &blen, &used),
			 FRAME_ETOOBIG);
	uint8_t big[5] = {0xff, 0xff, 0xff, 0xff, FRAME_MAGIC};
	assert_int_equal(
	    frame_decode(big, sizeof big, 1u << 20, &got, &body, &blen, &used),
	    FRAME_ETOOBIG);
	/* Bad magic: refused as soon as the fifth byte is here. */
	buf[4] = 'G';
	assert_int_equal(frame_decode(buf, 5, 1024, &got, &body, &blen, &used),
			 FRAME_EMAGIC);
	buf[4] = FRAME_MAGIC;
	/* Unknown frame version: error, but the correlation id is known so
	 * the peer can be answered. */
	buf[5] = 2;
	assert_int_equal(frame_decode(buf, n, 1024, &got, &body, &blen, &used),
			 FRAME_EVERSION);
	assert_int_equal(got.correlation_id, 9);
	buf[5] = FRAME_VERSION;
	/* Unknown kind. */
	buf[6] = 9;
	assert_int_equal(frame_decode(buf, n, 1024, &got, &body, &blen, &used),
			 FRAME_EKIND);
	buf[6] = FRAME_REQUEST;
	/* Length shorter than the header. */
	uint8_t shorty[8] = {0, 0, 0, 3, FRAME_MAGIC, 1, 0, 0};
	assert_int_equal(frame_decode(shorty, sizeof shorty, 1024, &got, &body,
				      &blen, &used),
			 FRAME_ESHORT);
	for (int e = FRAME_EKIND; e <= FRAME_OK; e++)
		assert_non_null(frame_strerror(e));
}

/* Random bytes never crash the decoder, and whatever it accepts lies
 * inside the buffer. */
static void test_fuzz(void **state)
{
	uint8_t buf[96];
	struct frame_header got;
	const uint8_t *body;
	size_t blen, used;
	(void)state;
	srand(42);
	for (int i = 0; i < 200000; i++) {
		size_t len = (size_t)(rand() % (int)sizeof buf);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rand();
		if (i % 3 == 0 && len > 5) {
			buf[0] = buf[1] = 0;
			buf[4] = FRAME_MAGIC;
			buf[5] = FRAME_VERSION;
			buf[6] = (uint8_t)(rand() % 3);
		}
		int rv = frame_decode(buf, len, 64, &got, &body, &blen, &used);
		if (rv == FRAME_OK) {
			assert_true(used <= len);
			assert_true(body + blen == buf + used);
			/* Bodies that do not decode are refused, not trusted.
			 */
			ProtobufCMessage *m = protobuf_c_message_unpack(
			    &synod__wire__config_set_request__descriptor, NULL,
			    blen, body);
			if (m)
				protobuf_c_message_free_unpacked(m, NULL);
		}
	}
}

static void test_truncated_bodies(void **state)
{
	Synod__Wire__ConfigSetRequest req =
	    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	Synod__Wire__ConfigEntry *ep = &e;
	uint8_t buf[256];
	size_t n;
	(void)state;
	e.scope = 1;
	e.resource = "orders";
	e.key = "retention.ms";
	e.value = "1000";
	req.n_entries = 1;
	req.entries = &ep;
	n = synod__wire__config_set_request__pack(&req, buf);
	Synod__Wire__ConfigSetRequest *full =
	    synod__wire__config_set_request__unpack(NULL, n, buf);
	assert_non_null(full);
	assert_string_equal(full->entries[0]->value, "1000");
	synod__wire__config_set_request__free_unpacked(full, NULL);
	/* Every cut inside a length-delimited field must fail to decode. */
	for (size_t k = 1; k < n; k++) {
		Synod__Wire__ConfigSetRequest *m =
		    synod__wire__config_set_request__unpack(NULL, k, buf);
		assert_null(m);
	}
	/* A body missing a required field is refused. */
	Synod__Wire__AnyResponse any = SYNOD__WIRE__ANY_RESPONSE__INIT;
	n = synod__wire__any_response__pack(&any, buf);
	assert_null(synod__wire__config_set_response__unpack(NULL, n, buf));
}

/* A Status-only body decodes as any response type. */
static void test_status_only_response(void **state)
{
	Synod__Wire__AnyResponse any = SYNOD__WIRE__ANY_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	uint8_t buf[128];
	size_t n;
	(void)state;
	st.code = SYNOD_ENOT_CONTROLLER;
	st.has_leader_id = 1;
	st.leader_id = 3;
	st.leader_address = "127.0.0.1:9003";
	any.status = &st;
	n = synod__wire__any_response__pack(&any, buf);
	Synod__Wire__ConfigListResponse *r =
	    synod__wire__config_list_response__unpack(NULL, n, buf);
	assert_non_null(r);
	assert_int_equal(r->status->code, SYNOD_ENOT_CONTROLLER);
	assert_int_equal(r->status->leader_id, 3);
	assert_string_equal(r->status->leader_address, "127.0.0.1:9003");
	synod__wire__config_list_response__free_unpacked(r, NULL);
}

static void test_error_names(void **state)
{
	(void)state;
	for (int i = 0; i < SYNOD_ERROR_COUNT; i++) {
		assert_string_not_equal(synod_error_name(i),
					"UNKNOWN_ERROR_CODE");
		assert_non_null(synod_strerror(i));
	}
	assert_string_equal(synod_error_name(-1), "UNKNOWN_ERROR_CODE");
	assert_string_equal(synod_error_name(SYNOD_ERROR_COUNT),
			    "UNKNOWN_ERROR_CODE");
	assert_string_equal(synod_error_name(SYNOD_ENOT_CONTROLLER),
			    "NOT_CONTROLLER");
}

static void test_configdefs(void **state)
{
	char err[256];
	(void)state;
	static const struct {
		unsigned scope;
		const char *key, *value;
		int ok;
	} cases[] = {
	    {0, "retention.ms", "-1", 1},
	    {0, "retention.ms", "604800000", 1},
	    {0, "retention.ms", "-2", 0},
	    {0, "retention.ms", "", 0},
	    {0, "retention.ms", "12abc", 0},
	    {0, "retention.ms", "99999999999999999999999", 0},
	    {1, "segment.bytes", "14", 1},
	    {1, "segment.bytes", "13", 0},
	    {1, "segment.bytes", "2147483648", 0},
	    {1, "cleanup.policy", "compact", 1},
	    {1, "cleanup.policy", "compact,delete", 1},
	    {1, "cleanup.policy", "compact,", 0},
	    {1, "cleanup.policy", "", 0},
	    {1, "cleanup.policy", "shred", 0},
	    {1, "compression.type", "zstd", 1},
	    {1, "compression.type", "brotli", 0},
	    {1, "unclean.leader.election.enable", "true", 1},
	    {1, "unclean.leader.election.enable", "yes", 0},
	    {1, "min.cleanable.dirty.ratio", "0.25", 1},
	    {1, "min.cleanable.dirty.ratio", "1.5", 0},
	    {1, "min.cleanable.dirty.ratio", "nan", 0},
	    {1, "min.insync.replicas", "0", 0},
	    {0, "num.partitions", "12", 1},
	    {1, "num.partitions", "12", 0}, /* cluster only */
	    {0, "no.such.key", "1", 0},
	    {2, "retention.ms", "1", 0},
	    {3, "retention.ms", "1", 0},
	    {0, "leader.imbalance.percentage", "101", 0},
	    {2, "consumer.session.timeout.ms", "50000", 1},
	    {0, "consumer.session.timeout.ms", "50000", 0},
	    {1, "consumer.heartbeat.interval.ms", "5000", 0},
	    {2, "consumer.heartbeat.interval.ms", "0", 0},
	    {2, "group.consumer.max.size", "5", 0},
	    /* Principal scope: grants (docs/security.md). */
	    {3, "role", "operator", 1},
	    {3, "role", "root", 0},
	    {0, "role", "admin", 0},
	    {3, "broker.id", "7", 1},
	    {3, "broker.id", "-2", 0},
	    {3, "groups", "orders,pay-*", 1},
	    {3, "groups", "", 1},
	    {3, "groups", "a*b", 0},
	    {3, "groups", "a,", 0},
	    {3, "groups", ",a", 0},
	    {3, "retention.ms", "1", 0},
	    {4, "role", "admin", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int rv = configdef_validate(cases[i].scope, cases[i].key,
					    cases[i].value, err, sizeof err);
		if (cases[i].ok)
			assert_int_equal(rv, 0);
		else {
			assert_int_equal(rv, -1);
			assert_true(strlen(err) > 0);
		}
	}
	/* Every default is itself valid, at the first scope it may be set. */
	for (const struct configdef *d = configdefs(); d->key; d++) {
		unsigned scope = d->scopes & CONFIG_SCOPE_CLUSTER ? 0
				 : d->scopes & CONFIG_SCOPE_TOPIC ? 1
				 : d->scopes & CONFIG_SCOPE_GROUP ? 2
								  : 3;
		assert_int_equal(configdef_validate(scope, d->key,
						    d->default_value, err,
						    sizeof err),
				 0);
	}
	assert_true(group_id_valid("g"));
	assert_false(group_id_valid(""));
	assert_false(group_id_valid(NULL));
}

static void test_topic_names(void **state)
{
	char longname[300];
	(void)state;
	assert_true(topic_name_valid("orders"));
	assert_true(topic_name_valid("a.b_c-D9"));
	assert_false(topic_name_valid(""));
	assert_false(topic_name_valid("."));
	assert_false(topic_name_valid(".."));
	assert_false(topic_name_valid("has space"));
	assert_false(topic_name_valid("slash/no"));
	memset(longname, 'a', 249);
	longname[249] = '\0';
	assert_true(topic_name_valid(longname));
	longname[249] = 'a';
	longname[250] = '\0';
	assert_false(topic_name_valid(longname));
}

static void test_daemon_config(void **state)
{
	struct synod_config c;
	char err[512];
	struct voter_spec v[SYNOD_MAX_VOTERS];
	unsigned n;
	(void)state;
	config_defaults(&c);
	assert_int_equal(config_validate(&c, err, sizeof err), -1);
	assert_non_null(strstr(err, "node_id"));

	assert_int_equal(config_parse_voters("1@127.0.0.1:7001/127.0.0.1:9001,"
					     "2@h2:7002/h2:9002",
					     v, SYNOD_MAX_VOTERS, &n, err,
					     sizeof err),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[1].id, 2);
	assert_string_equal(v[1].raft_address, "h2:7002");
	assert_string_equal(v[1].client_address, "h2:9002");
	/* Bad voter lists. */
	const char *bad[] = {"1@127.0.0.1:7001",    "x@h:1/h:2",
			     "1@h:1/h:2,1@h:3/h:4", "0@h:1/h:2",
			     "1@h:99999/h:2",	    "1@h/h:2"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(config_parse_voters(bad[i], v,
						     SYNOD_MAX_VOTERS, &n, err,
						     sizeof err),
				 -1);

	assert_int_equal(config_set(&c, "node_id", "0", err, sizeof err), -1);
	assert_int_equal(config_set(&c, "node_id", "-1", err, sizeof err), -1);
	assert_int_equal(config_set(&c, "node_id", "1", err, sizeof err), 0);
	assert_int_equal(
	    config_set(&c, "election_timeout_ms", "10", err, sizeof err), -1);
	assert_int_equal(
	    config_set(&c, "cluster_id", "bad id!", err, sizeof err), -1);
	assert_int_equal(config_set(&c, "bogus", "1", err, sizeof err), -1);
	assert_int_equal(
	    config_set(&c, "segment_size_bytes", "104857600", err, sizeof err),
	    -1);
	/* Below libraft's 4 MiB capacity threshold nothing commits. */
	assert_int_equal(
	    config_set(&c, "segment_size_bytes", "1048576", err, sizeof err),
	    -1);
	assert_int_equal(
	    config_set(&c, "segment_size_bytes", "4194304", err, sizeof err),
	    0);
	/* 0 turns the stuck-save restart off; below 1 s is refused. */
	assert_int_equal(c.snapshot_save_timeout_ms, 60000);
	assert_int_equal(
	    config_set(&c, "snapshot_save_timeout_ms", "0", err, sizeof err),
	    0);
	assert_int_equal(c.snapshot_save_timeout_ms, 0);
	assert_int_equal(
	    config_set(&c, "snapshot_save_timeout_ms", "999", err, sizeof err),
	    -1);
	assert_int_equal(
	    config_set(&c, "snapshot_save_timeout_ms", "00", err, sizeof err),
	    -1);
	assert_int_equal(
	    config_set(&c, "snapshot_save_timeout_ms", "2000", err, sizeof err),
	    0);
	assert_int_equal(c.snapshot_save_timeout_ms, 2000);
	/* The thread pool: 16 by default, 4 to 128. */
	assert_int_equal(c.thread_pool_size, 16);
	assert_int_equal(
	    config_set(&c, "thread_pool_size", "3", err, sizeof err), -1);
	assert_int_equal(
	    config_set(&c, "thread_pool_size", "129", err, sizeof err), -1);
	assert_int_equal(
	    config_set(&c, "thread_pool_size", "4", err, sizeof err), 0);
	assert_int_equal(c.thread_pool_size, 4);
	/* Queries take a quarter of it, 1 to 4. */
	assert_int_equal(query_max_running(4), 1);
	assert_int_equal(query_max_running(7), 1);
	assert_int_equal(query_max_running(8), 2);
	assert_int_equal(query_max_running(16), 4);
	assert_int_equal(query_max_running(128), 4);
	assert_int_equal(
	    config_set(&c, "cluster_id", "abc-123", err, sizeof err), 0);
	assert_int_equal(config_set(&c, "data_dir", "/tmp/x", err, sizeof err),
			 0);
	assert_int_equal(config_set(&c, "voters",
				    "1@127.0.0.1:7001/127.0.0.1:9001", err,
				    sizeof err),
			 0);
	assert_int_equal(config_validate(&c, err, sizeof err), 0);
	/* Own address that contradicts the voters entry. */
	assert_int_equal(
	    config_set(&c, "raft_address", "127.0.0.1:7999", err, sizeof err),
	    0);
	assert_int_equal(config_validate(&c, err, sizeof err), -1);
	assert_int_equal(
	    config_set(&c, "raft_address", "127.0.0.1:7001", err, sizeof err),
	    0);
	assert_int_equal(
	    config_set(&c, "heartbeat_timeout_ms", "2000", err, sizeof err), 0);
	assert_int_equal(config_validate(&c, err, sizeof err), -1);
	assert_int_equal(
	    config_set(&c, "heartbeat_timeout_ms", "0", err, sizeof err), -1);
	c.heartbeat_timeout_ms = 0;
	assert_int_equal(config_validate(&c, err, sizeof err), 0);
	/* Safe default: without TLS, only loopback addresses. */
	assert_int_equal(config_set(&c, "voters",
				    "1@10.0.0.1:7001/10.0.0.1:9001", err,
				    sizeof err),
			 0);
	c.raft_address[0] = '\0';
	assert_int_equal(config_validate(&c, err, sizeof err), -1);
	assert_non_null(strstr(err, "raft_address 10.0.0.1:7001 is not a "
				    "loopback address"));
	assert_int_equal(
	    config_set(&c, "allow_plaintext", "true", err, sizeof err), 0);
	assert_int_equal(config_validate(&c, err, sizeof err), 0);
	assert_int_equal(
	    config_set(&c, "allow_plaintext", "yes", err, sizeof err), -1);
	c.allow_plaintext = 0;
	assert_int_equal(config_set(&c, "tls_cert_file", "/c", err, sizeof err),
			 0);
	assert_int_equal(config_validate(&c, err, sizeof err), -1);
	assert_non_null(strstr(err, "together")); /* key and CA missing */
	assert_int_equal(config_set(&c, "tls_key_file", "/k", err, sizeof err),
			 0);
	assert_int_equal(config_set(&c, "tls_ca_file", "/a", err, sizeof err),
			 0);
	assert_int_equal(config_validate(&c, err, sizeof err), 0);
	/* Listen addresses longer than any address: refused, never
	 * written past (found by fuzz_config). */
	{
		char lng[400];
		memset(lng, '1', sizeof lng);
		memcpy(lng + sizeof lng - 3, ":0", 3);
		assert_int_equal(
		    config_set(&c, "http_address", lng, err, sizeof err), -1);
		assert_int_equal(config_set(&c, "plaintext_client_address", lng,
					    err, sizeof err),
				 -1);
	}
	/* The development port: loopback, TLS on and allowed only. */
	assert_int_equal(config_set(&c, "plaintext_client_address",
				    "10.0.0.1:9000", err, sizeof err),
			 -1);
	assert_int_equal(config_set(&c, "plaintext_client_address",
				    "127.0.0.1:0", err, sizeof err),
			 0);
	assert_int_equal(config_validate(&c, err, sizeof err), -1);
	assert_non_null(strstr(err, "allow_plaintext"));
	c.allow_plaintext = 1;
	assert_int_equal(config_validate(&c, err, sizeof err), 0);
	c.allow_plaintext = 0;
	c.plaintext_client_address[0] = '\0';
	assert_true(config_loopback("127.0.0.5:1"));
	assert_true(config_loopback("[::1]:1"));
	assert_true(config_loopback("localhost:1"));
	assert_false(config_loopback("0.0.0.0:1"));
	assert_false(config_loopback("h2:1"));
	assert_false(config_loopback("nocolon"));
	/* Missing file gives an error, not a crash. */
	assert_int_equal(
	    config_load_file(&c, "/nonexistent/synod.conf", err, sizeof err),
	    -1);
}

/* Duplicate names are found in one pass, whatever their count. */
static void test_names_duplicates(void **state)
{
	const char *a[] = {"x", "y", "z", "y", "x", "w"};
	unsigned char dup[6];
	const char **many = malloc(100000 * sizeof *many);
	unsigned char *mdup = malloc(100000);
	char(*buf)[12] = malloc(100000 * sizeof *buf);
	(void)state;
	assert_int_equal(names_duplicates(a, 6, dup), 2);
	assert_memory_equal(dup, ((unsigned char[]){0, 0, 0, 1, 1, 0}), 6);
	assert_int_equal(names_duplicates(a, 0, dup), 0);
	/* Every copy, the first too. */
	assert_int_equal(names_repeated(a, 6, dup), 2);
	assert_memory_equal(dup, ((unsigned char[]){1, 1, 0, 1, 1, 0}), 6);
	for (unsigned i = 0; i < 100000; i++) {
		snprintf(buf[i], sizeof buf[i], "t%u", i);
		many[i] = buf[i];
	}
	assert_int_equal(names_duplicates(many, 100000, mdup), 0);
	many[99999] = "t5";
	assert_int_equal(names_duplicates(many, 100000, mdup), 1);
	assert_int_equal(mdup[99999], 1);
	assert_int_equal(mdup[5], 0);
	assert_int_equal(names_repeated(many, 100000, mdup), 1);
	assert_int_equal(mdup[99999], 1);
	assert_int_equal(mdup[5], 1);
	assert_int_equal(mdup[6], 0);
	free(many);
	free(mdup);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_duplicates),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_client_id),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_bad_frames),
	    cmocka_unit_test(test_fuzz),
	    cmocka_unit_test(test_truncated_bodies),
	    cmocka_unit_test(test_status_only_response),
	    cmocka_unit_test(test_error_names),
	    cmocka_unit_test(test_configdefs),
	    cmocka_unit_test(test_topic_names),
	    cmocka_unit_test(test_daemon_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
