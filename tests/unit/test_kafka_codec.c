/* Unit tests: Kafka's wire format (net/kafka.c, net/kafka_apis.c).
 *
 * Checked: requests captured from kcat 1.7.1 / librdkafka 2.0.2
 * (tests/data/kafka, recorded by a proxy in front of a node) decode to
 * what kcat sent; the admin requests of librdkafka 2.0.2 and kafka-python
 * 2.0.2 (recorded by tests/data/kafka/capture.py) decode whole at their
 * version to what the clients were asked to send; a response encodes to bytes
 * written out by hand from Kafka's protocol rules (classic and flexible); every
 * Metadata response version 0-12 decodes back to what was encoded (fields
 * outside a version come back as their defaults); hostile input (truncations of
 * every capture, a count larger than the bytes, a negative length, a varint
 * that never ends, a budget too small) is refused with an error, never
 * read past or allocated for; every request and response schema of every
 * API the listeners serve (net/kafka_server.c's table), at every version,
 * round-trips random values byte for byte (tagged fields and nullable
 * ones included); the server's dispatch answers ApiVersions, answers an
 * unknown ApiVersions version in version 0, and refuses unknown keys and
 * other APIs' unknown versions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kafka.h"
#include "kafka_admin_apis.h"
#include "kafka_apis.h"
#include "kafka_server.h"

#ifndef DATA_DIR
#define DATA_DIR "tests/data/kafka"
#endif

static uint8_t *load(const char *name, size_t *len)
{
	char path[512];
	FILE *fp;
	uint8_t *buf = malloc(1 << 16);
	snprintf(path, sizeof path, "%s/%s", DATA_DIR, name);
	fp = fopen(path, "rb");
	if (fp == NULL)
		fail_msg("cannot open %s", path);
	*len = fread(buf, 1, 1 << 16, fp);
	fclose(fp);
	return buf;
}

static void test_kcat_requests(void **state)
{
	struct kf_arena a;
	struct kf_request_header h;
	struct kf_val body;
	size_t len, off = 0;
	uint8_t *f;
	(void)state;
	kf_arena_init(&a, 1 << 20);

	/* ApiVersions v3: flexible header (v2) and body. */
	f = load("kcat-1.7.1-apiversions-v3.bin", &len);
	assert_int_equal(len, 40);
	assert_int_equal(kf_decode_header(f + 4, len - 4, 1, &off, &a, &h),
			 KF_OK);
	assert_int_equal(h.api_key, KF_API_API_VERSIONS);
	assert_int_equal(h.api_version, 3);
	assert_int_equal(h.correlation_id, 1);
	assert_string_equal(h.client_id, "rdkafka");
	assert_int_equal(kf_decode(&kf_api_versions_request, 3, 1, f + 4,
				   len - 4, &off, &a, &body),
			 KF_OK);
	assert_int_equal(off, len - 4); /* every byte read */
	assert_string_equal(body.v[0].p, "librdkafka");
	assert_string_equal(body.v[1].p, "2.0.2");
	free(f);

	/* Metadata v4, topics [] (no topic) then null (every topic). */
	f = load("kcat-1.7.1-metadata-v4-empty.bin", &len);
	off = 0;
	assert_int_equal(kf_decode_header(f + 4, len - 4, 0, &off, &a, &h),
			 KF_OK);
	assert_int_equal(h.api_key, KF_API_METADATA);
	assert_int_equal(h.api_version, 4);
	assert_int_equal(kf_decode(&kf_metadata_request, 4, 0, f + 4, len - 4,
				   &off, &a, &body),
			 KF_OK);
	assert_int_equal(off, len - 4);
	assert_false(body.v[KF_MDQ_TOPICS].null);
	assert_int_equal(body.v[KF_MDQ_TOPICS].n, 0);
	assert_int_equal(body.v[KF_MDQ_AUTO_CREATE].i, 0);
	free(f);
	f = load("kcat-1.7.1-metadata-v4-null.bin", &len);
	off = 0;
	assert_int_equal(kf_decode_header(f + 4, len - 4, 0, &off, &a, &h),
			 KF_OK);
	assert_int_equal(kf_decode(&kf_metadata_request, 4, 0, f + 4, len - 4,
				   &off, &a, &body),
			 KF_OK);
	assert_true(body.v[KF_MDQ_TOPICS].null);
	assert_int_equal(body.v[KF_MDQ_AUTO_CREATE].i, 1);
	free(f);
	kf_arena_free(&a);
}

/* ApiVersions' answer with one API, by hand from the protocol's rules. */
static void test_known_bytes(void **state)
{
	static const uint8_t v0[] = {
	    0x00, 0x00,				/* error_code */
	    0x00, 0x00, 0x00, 0x01,		/* api_keys: int32 count */
	    0x00, 0x12, 0x00, 0x00, 0x00, 0x03, /* key 18, 0-3 */
	};
	static const uint8_t v3[] = {
	    0x00, 0x00,				/* error_code */
	    0x02,				/* compact array: 1 + 1 */
	    0x00, 0x12, 0x00, 0x00, 0x00, 0x03, /* key 18, 0-3 */
	    0x00,				/* the element's tags */
	    0x00, 0x00, 0x00, 0x00,		/* throttle_time_ms */
	    0x00,				/* the body's tags */
	};
	struct kf_arena a;
	struct kf_val *resp;
	struct kf_buf b = {0};
	(void)state;
	kf_arena_init(&a, 1 << 20);
	resp = kf_struct(&a, &kf_api_versions_response);
	assert_non_null(resp);
	assert_int_equal(kf_array(&a, &resp->v[KF_AV_API_KEYS], 1), 0);
	{
		struct kf_val *e = kf_struct(&a, &kf_api_version);
		e->v[KF_AVK_KEY].i = 18;
		e->v[KF_AVK_MIN].i = 0;
		e->v[KF_AVK_MAX].i = 3;
		resp->v[KF_AV_API_KEYS].v[0] = *e;
	}
	kf_encode(&kf_api_versions_response, 0, 0, resp, &b);
	assert_int_equal(b.len, sizeof v0);
	assert_memory_equal(b.p, v0, sizeof v0);
	b.len = 0;
	kf_encode(&kf_api_versions_response, 3, 1, resp, &b);
	assert_int_equal(b.len, sizeof v3);
	assert_memory_equal(b.p, v3, sizeof v3);
	kf_buf_free(&b);
	kf_arena_free(&a);
}

/* A Metadata answer of every field, encoded and decoded at each
 * version. */
static struct kf_val *sample(struct kf_arena *a)
{
	struct kf_val *r = kf_struct(a, &kf_metadata_response);
	struct kf_val *b, *t, *p;
	r->v[KF_MD_THROTTLE].i = 7;
	kf_string(a, &r->v[KF_MD_CLUSTER_ID], "cluster-é");
	r->v[KF_MD_CONTROLLER_ID].i = 2;
	r->v[KF_MD_CLUSTER_OPS].i = 5;
	kf_array(a, &r->v[KF_MD_BROKERS], 2);
	for (int i = 0; i < 2; i++) {
		b = kf_struct(a, &kf_metadata_broker);
		b->v[KF_MDB_NODE_ID].i = i + 1;
		kf_string(a, &b->v[KF_MDB_HOST], "host");
		b->v[KF_MDB_PORT].i = 9092 + i;
		kf_string(a, &b->v[KF_MDB_RACK], i ? "r1" : NULL);
		r->v[KF_MD_BROKERS].v[i] = *b;
	}
	kf_array(a, &r->v[KF_MD_TOPICS], 1);
	t = kf_struct(a, &kf_metadata_topic);
	kf_string(a, &t->v[KF_MDT_NAME], "orders");
	memset(t->v[KF_MDT_ID].uuid, 0xab, 16);
	t->v[KF_MDT_OPS].i = 9;
	kf_array(a, &t->v[KF_MDT_PARTITIONS], 1);
	p = kf_struct(a, &kf_metadata_partition);
	p->v[KF_MDP_INDEX].i = 3;
	p->v[KF_MDP_LEADER].i = 2;
	p->v[KF_MDP_EPOCH].i = 4;
	kf_array(a, &p->v[KF_MDP_REPLICAS], 2);
	p->v[KF_MDP_REPLICAS].v[0].i = 2;
	p->v[KF_MDP_REPLICAS].v[1].i = 1;
	kf_array(a, &p->v[KF_MDP_ISR], 1);
	p->v[KF_MDP_ISR].v[0].i = 2;
	kf_array(a, &p->v[KF_MDP_OFFLINE], 1);
	p->v[KF_MDP_OFFLINE].v[0].i = 1;
	t->v[KF_MDT_PARTITIONS].v[0] = *p;
	r->v[KF_MD_TOPICS].v[0] = *t;
	return r;
}

static void test_metadata_roundtrip(void **state)
{
	(void)state;
	for (int16_t v = 0; v <= 12; v++) {
		struct kf_arena a;
		struct kf_buf b = {0};
		struct kf_val got, *tp, *pp;
		size_t off = 0;
		int flex = v >= 9;
		kf_arena_init(&a, 1 << 20);
		kf_encode(&kf_metadata_response, v, flex, sample(&a), &b);
		assert_false(b.failed);
		assert_int_equal(kf_decode(&kf_metadata_response, v, flex, b.p,
					   b.len, &off, &a, &got),
				 KF_OK);
		assert_int_equal(off, b.len);
		assert_int_equal(got.v[KF_MD_THROTTLE].i, v >= 3 ? 7 : 0);
		assert_int_equal(got.v[KF_MD_CONTROLLER_ID].i, v >= 1 ? 2 : -1);
		if (v >= 2)
			assert_string_equal(got.v[KF_MD_CLUSTER_ID].p,
					    "cluster-é");
		assert_int_equal(got.v[KF_MD_CLUSTER_OPS].i,
				 v >= 8 && v <= 10 ? 5 : INT32_MIN);
		assert_int_equal(got.v[KF_MD_BROKERS].n, 2);
		assert_int_equal(got.v[KF_MD_BROKERS].v[1].v[KF_MDB_PORT].i,
				 9093);
		if (v >= 1) {
			assert_true(
			    got.v[KF_MD_BROKERS].v[0].v[KF_MDB_RACK].null);
			assert_string_equal(
			    got.v[KF_MD_BROKERS].v[1].v[KF_MDB_RACK].p, "r1");
		}
		tp = &got.v[KF_MD_TOPICS].v[0];
		assert_string_equal(tp->v[KF_MDT_NAME].p, "orders");
		assert_int_equal(tp->v[KF_MDT_ID].uuid[15], v >= 10 ? 0xab : 0);
		pp = &tp->v[KF_MDT_PARTITIONS].v[0];
		assert_int_equal(pp->v[KF_MDP_INDEX].i, 3);
		assert_int_equal(pp->v[KF_MDP_EPOCH].i, v >= 7 ? 4 : -1);
		assert_int_equal(pp->v[KF_MDP_REPLICAS].n, 2);
		assert_int_equal(pp->v[KF_MDP_OFFLINE].n, v >= 5 ? 1 : 0);
		kf_buf_free(&b);
		kf_arena_free(&a);
	}
}

static void test_hostile(void **state)
{
	static const char *const files[] = {"kcat-1.7.1-apiversions-v3.bin",
					    "kcat-1.7.1-metadata-v4-empty.bin",
					    "kcat-1.7.1-metadata-v4-null.bin"};
	struct kf_arena a;
	struct kf_val v;
	size_t off;
	(void)state;
	/* Every truncation of every capture: an error, never a read past
	 * the end (ASan runs this too). */
	for (size_t k = 0; k < 3; k++) {
		size_t len;
		uint8_t *f = load(files[k], &len);
		int flex = k == 0;
		const struct kf_schema *s =
		    k == 0 ? &kf_api_versions_request : &kf_metadata_request;
		for (size_t cut = 4; cut < len; cut++) {
			struct kf_request_header h;
			uint8_t *copy = malloc(cut - 4 + 1);
			int rv;
			memcpy(copy, f + 4, cut - 4);
			kf_arena_init(&a, 1 << 20);
			off = 0;
			rv =
			    kf_decode_header(copy, cut - 4, flex, &off, &a, &h);
			if (rv == KF_OK)
				rv = kf_decode(s, k == 0 ? 3 : 4, flex, copy,
					       cut - 4, &off, &a, &v);
			assert_int_not_equal(rv, KF_OK);
			kf_arena_free(&a);
			free(copy);
		}
		free(f);
	}
	{
		/* Metadata v4 claiming 2^31-1 topics in 8 bytes. */
		static const uint8_t big[] = {0x7f, 0xff, 0xff, 0xff, 0,
					      0,    0,	  0,	1};
		/* A name of length -2. */
		static const uint8_t neg[] = {0, 0, 0, 1, 0xff, 0xfe, 1};
		/* A compact array whose varint never ends. */
		static const uint8_t var[] = {0xff, 0xff, 0xff, 0xff,
					      0xff, 0xff, 0x01};
		/* Version 9 (flexible): 3 topics, "aaaa", "bbbb", "cccc",
		 * each with its empty tag section; then the three flags and
		 * the body's tags. Under a budget of 64 bytes it is refused.
		 */
		static const uint8_t many[] = {0x04, 0x05, 'a',	 'a',  'a', 'a',
					       0x00, 0x05, 'b',	 'b',  'b', 'b',
					       0x00, 0x05, 'c',	 'c',  'c', 'c',
					       0x00, 0x01, 0x00, 0x00, 0x00};
		kf_arena_init(&a, 1 << 20);
		off = 0;
		assert_int_equal(kf_decode(&kf_metadata_request, 4, 0, big,
					   sizeof big, &off, &a, &v),
				 KF_ESHORT);
		assert_true(a.used < 1024); /* nothing allocated for it */
		off = 0;
		assert_int_equal(kf_decode(&kf_metadata_request, 4, 0, neg,
					   sizeof neg, &off, &a, &v),
				 KF_EMALFORMED);
		off = 0;
		assert_int_equal(kf_decode(&kf_metadata_request, 9, 1, var,
					   sizeof var, &off, &a, &v),
				 KF_EMALFORMED);
		kf_arena_free(&a);
		kf_arena_init(&a, 1 << 20);
		off = 0;
		assert_int_equal(kf_decode(&kf_metadata_request, 9, 1, many,
					   sizeof many, &off, &a, &v),
				 KF_OK);
		assert_int_equal(v.v[KF_MDQ_TOPICS].n, 3);
		assert_string_equal(v.v[KF_MDQ_TOPICS].v[2].v[KF_MDQT_NAME].p,
				    "cccc");
		kf_arena_free(&a);
		kf_arena_init(&a, 64);
		off = 0;
		assert_int_equal(kf_decode(&kf_metadata_request, 9, 1, many,
					   sizeof many, &off, &a, &v),
				 KF_EBUDGET);
		kf_arena_free(&a);
	}
}

/* ---- every served schema, random values, every version ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int in_ver(const struct kf_field *f, int16_t v)
{
	return v >= f->min && v <= f->max;
}

static void random_value(struct kf_arena *a, const struct kf_field *f,
			 enum kf_type t, int16_t ver, int depth,
			 struct kf_val *out);

static void random_struct(struct kf_arena *a, const struct kf_schema *s,
			  int16_t ver, int depth, struct kf_val *out)
{
	struct kf_val *v = kf_struct(a, s);
	assert_non_null(v);
	for (unsigned i = 0; i < s->n; i++)
		if (in_ver(&s->fields[i], ver))
			random_value(a, &s->fields[i], s->fields[i].type, ver,
				     depth, &v->v[i]);
	*out = *v;
}

static void random_value(struct kf_arena *a, const struct kf_field *f,
			 enum kf_type t, int16_t ver, int depth,
			 struct kf_val *out)
{
	int nullable = ver >= f->null_min;
	char buf[16];
	switch (t) {
	case KF_BOOL:
		out->i = (int64_t)(rnd() & 1);
		break;
	case KF_INT8:
		out->i = (int8_t)rnd();
		break;
	case KF_INT16:
		out->i = (int16_t)rnd();
		break;
	case KF_INT32:
		out->i = (int32_t)rnd();
		break;
	case KF_INT64:
		out->i = (int64_t)rnd();
		break;
	case KF_UUID:
		for (int i = 0; i < 16; i++)
			out->uuid[i] = (uint8_t)rnd();
		break;
	case KF_STRING:
	case KF_BYTES:
		if (nullable && rnd() % 4 == 0) {
			out->null = 1;
			break;
		}
		snprintf(buf, sizeof buf, "v%u", (unsigned)(rnd() % 100000));
		assert_int_equal(kf_string(a, out, buf), 0);
		break;
	case KF_ARRAY: {
		size_t n = depth > 2 ? 0 : rnd() % 3;
		if (nullable && rnd() % 4 == 0) {
			out->null = 1;
			break;
		}
		assert_int_equal(kf_array(a, out, n), 0);
		for (size_t i = 0; i < n; i++) {
			if (f->elem_type == KF_STRUCT)
				random_struct(a, f->schema, ver, depth + 1,
					      &out->v[i]);
			else
				random_value(a, f, f->elem_type, ver, depth + 1,
					     &out->v[i]);
			out->v[i].null = 0; /* elements are never null */
		}
		break;
	}
	case KF_STRUCT:
		random_struct(a, f->schema, ver, depth + 1, out);
		break;
	}
}

static void roundtrip(const struct kf_schema *s, int16_t v, int flex)
{
	for (int round = 0; round < 20; round++) {
		struct kf_arena a;
		struct kf_buf b1 = {0}, b2 = {0};
		struct kf_val val, back;
		size_t off = 0;
		kf_arena_init(&a, 1 << 22);
		random_struct(&a, s, v, 0, &val);
		kf_encode(s, v, flex, &val, &b1);
		assert_false(b1.failed);
		if (kf_decode(s, v, flex, b1.p, b1.len, &off, &a, &back) !=
		    KF_OK)
			fail_msg("%s v%d does not decode what it encoded",
				 s->name, v);
		assert_int_equal(off, b1.len);
		kf_encode(s, v, flex, &back, &b2);
		if (b1.len != b2.len ||
		    (b1.len && memcmp(b1.p, b2.p, b1.len) != 0))
			fail_msg("%s v%d: encode(decode(x)) != x", s->name, v);
		kf_buf_free(&b1);
		kf_buf_free(&b2);
		kf_arena_free(&a);
	}
}

static kafka_handler no_handler(int16_t key)
{
	(void)key;
	return NULL;
}

static void test_served_schemas(void **state)
{
	struct kafka_api apis[KAFKA_SERVED_APIS];
	(void)state;
	kafka_apis_fill(apis, no_handler);
	for (size_t i = 0; i < KAFKA_SERVED_APIS; i++) {
		if (i > 0)
			assert_true(apis[i].key > apis[i - 1].key);
		for (int16_t v = apis[i].min; v <= apis[i].max; v++) {
			int flex = v >= apis[i].flexible_min;
			roundtrip(apis[i].request, v, flex);
			roundtrip(apis[i].response, v, flex);
		}
	}
	/* The consumer protocol's embedded messages (never flexible). */
	roundtrip(&kf_consumer_protocol_subscription, 0, 0);
	roundtrip(&kf_consumer_protocol_assignment, 0, 0);
}

/* ---- the server's dispatch, without sockets ---- */

struct got {
	int calls;
	uint8_t buf[4096];
	size_t len;
	int null;
};

static void on_done(void *arg, const uint8_t *resp, size_t len)
{
	struct got *g = arg;
	g->calls++;
	g->null = resp == NULL;
	if (resp && len <= sizeof g->buf) {
		memcpy(g->buf, resp, len);
		g->len = len;
	}
}

static void answer_defaults(struct kafka_request *r, struct kf_val *resp)
{
	(void)resp;
	kafka_respond(r);
}

static kafka_handler defaults(int16_t key)
{
	(void)key;
	return answer_defaults;
}

static size_t req(uint8_t *out, int16_t key, int16_t ver, int32_t corr)
{
	/* header v1 (client id "t"), then a body of zero bytes, enough for
	 * ApiVersions v0-2 */
	uint8_t h[] = {(uint8_t)(key >> 8),
		       (uint8_t)key,
		       (uint8_t)(ver >> 8),
		       (uint8_t)ver,
		       (uint8_t)(corr >> 24),
		       (uint8_t)(corr >> 16),
		       (uint8_t)(corr >> 8),
		       (uint8_t)corr,
		       0,
		       1,
		       't'};
	memcpy(out, h, sizeof h);
	return sizeof h;
}

static void test_dispatch(void **state)
{
	static struct kafka_api apis[KAFKA_SERVED_APIS];
	struct kafka_server_config cfg;
	struct kafka_server *ks;
	uv_loop_t loop;
	uint8_t f[64];
	struct got g;
	size_t n;
	(void)state;
	uv_loop_init(&loop);
	kafka_apis_fill(apis, defaults);
	memset(&cfg, 0, sizeof cfg);
	cfg.loop = &loop;
	cfg.apis = apis;
	cfg.n_apis = KAFKA_SERVED_APIS;
	cfg.max_request_bytes = 1024;
	assert_int_equal(kafka_server_new(&cfg, &ks), 0);

	/* ApiVersions v1: every served API, in the response's version. */
	memset(&g, 0, sizeof g);
	n = req(f, KF_API_API_VERSIONS, 1, 42);
	assert_int_equal(kafka_server_dispatch(ks, f, n, "test", on_done, &g),
			 0);
	assert_int_equal(g.calls, 1);
	assert_true(g.len >= 4 + 2 + 4);
	assert_int_equal(g.buf[3], 42);
	assert_int_equal(g.buf[4] << 8 | g.buf[5], KF_ERR_NONE);
	assert_int_equal(g.buf[9], KAFKA_SERVED_APIS);

	/* ApiVersions v99: version 0, UNSUPPORTED_VERSION, the list. */
	memset(&g, 0, sizeof g);
	n = req(f, KF_API_API_VERSIONS, 99, 43);
	assert_int_equal(kafka_server_dispatch(ks, f, n, "test", on_done, &g),
			 0);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.buf[4] << 8 | g.buf[5], KF_ERR_UNSUPPORTED_VERSION);
	assert_int_equal(g.buf[9], KAFKA_SERVED_APIS);

	/* An unknown key, another API's unknown version, a body that does
	 * not decode: refused, done never called. */
	memset(&g, 0, sizeof g);
	n = req(f, 9999, 0, 44);
	assert_int_equal(kafka_server_dispatch(ks, f, n, "test", on_done, &g),
			 -1);
	n = req(f, KF_API_METADATA, 13, 45);
	assert_int_equal(kafka_server_dispatch(ks, f, n, "test", on_done, &g),
			 -1);
	n = req(f, KF_API_CREATE_TOPICS, 2, 46); /* no body at all */
	assert_int_equal(kafka_server_dispatch(ks, f, n, "test", on_done, &g),
			 -1);
	assert_int_equal(g.calls, 0);

	/* A handler's answer: DescribeCluster v0 (flexible), defaults. */
	{
		uint8_t d[] = {0,   KF_API_DESCRIBE_CLUSTER,
			       0,   0,
			       0,   0,
			       0,   47,
			       0,   1,
			       't', 0, /* header v2: tags */
			       0,   0 /* include ops false, body tags */};
		memset(&g, 0, sizeof g);
		assert_int_equal(
		    kafka_server_dispatch(ks, d, sizeof d, "test", on_done, &g),
		    0);
		assert_int_equal(g.calls, 1);
		assert_int_equal(g.buf[3], 47);
		assert_int_equal(g.buf[4], 0); /* response header v1: tags */
	}
	kafka_server_close(ks);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- admin requests captured from real clients ---- */

static const struct kafka_api *served(int16_t key)
{
	static struct kafka_api apis[KAFKA_SERVED_APIS];
	kafka_apis_fill(apis, no_handler);
	for (size_t i = 0; i < KAFKA_SERVED_APIS; i++)
		if (apis[i].key == key)
			return &apis[i];
	return NULL;
}

/* Decode capture `name` whole; its body into *body (arena a). */
static void decode_capture(const char *name, struct kf_arena *a,
			   struct kf_val *body, int16_t *ver)
{
	size_t len, off = 0;
	uint8_t *buf = load(name, &len);
	const struct kafka_api *api;
	struct kf_request_header h;
	int16_t key;
	int32_t corr;
	int flex;
	assert_true(len > 4);
	assert_int_equal(kf_peek_header(buf + 4, len - 4, &key, ver, &corr),
			 KF_OK);
	api = served(key);
	if (api == NULL || *ver < api->min || *ver > api->max)
		fail_msg("%s: api %d v%d not served", name, key, *ver);
	flex = *ver >= api->flexible_min;
	assert_int_equal(kf_decode_header(buf + 4, len - 4, flex, &off, a, &h),
			 KF_OK);
	if (kf_decode(api->request, *ver, flex, buf + 4, len - 4, &off, a,
		      body) != KF_OK)
		fail_msg("%s does not decode", name);
	if (off != len - 4)
		fail_msg("%s: %zu bytes left over", name, len - 4 - off);
	free(buf);
}

static void test_admin_captures(void **state)
{
	struct kf_arena a;
	struct kf_val b;
	int16_t v;
	(void)state;
	kf_arena_init(&a, 1 << 20);

	decode_capture("librdkafka-2.0.2-createtopics-v4.bin", &a, &b, &v);
	assert_int_equal(b.v[KF_CTQ_TOPICS].n, 1);
	assert_string_equal(b.v[KF_CTQ_TOPICS].v[0].v[KF_CTQT_NAME].p,
			    "orders");
	assert_int_equal(b.v[KF_CTQ_TOPICS].v[0].v[KF_CTQT_NUM_PARTITIONS].i,
			 6);
	assert_int_equal(
	    b.v[KF_CTQ_TOPICS].v[0].v[KF_CTQT_REPLICATION_FACTOR].i, 3);
	assert_string_equal(
	    b.v[KF_CTQ_TOPICS].v[0].v[KF_CTQT_CONFIGS].v[0].v[KF_CTQC_NAME].p,
	    "retention.ms");
	decode_capture("kafka-python-2.0.2-createtopics-v3.bin", &a, &b, &v);
	assert_string_equal(b.v[KF_CTQ_TOPICS].v[0].v[KF_CTQT_NAME].p,
			    "orders");

	decode_capture("librdkafka-2.0.2-deletetopics-v1.bin", &a, &b, &v);
	assert_int_equal(b.v[KF_DTQ_TOPIC_NAMES].n, 2);
	assert_string_equal(b.v[KF_DTQ_TOPIC_NAMES].v[1].p, "pay");
	decode_capture("kafka-python-2.0.2-deletetopics-v3.bin", &a, &b, &v);
	assert_string_equal(b.v[KF_DTQ_TOPIC_NAMES].v[0].p, "orders");

	decode_capture("librdkafka-2.0.2-createpartitions-v0.bin", &a, &b, &v);
	assert_string_equal(b.v[KF_CPQ_TOPICS].v[0].v[KF_CPQT_NAME].p,
			    "orders");
	assert_int_equal(b.v[KF_CPQ_TOPICS].v[0].v[KF_CPQT_COUNT].i, 8);
	assert_true(b.v[KF_CPQ_TOPICS].v[0].v[KF_CPQT_ASSIGNMENTS].null);
	decode_capture("kafka-python-2.0.2-createpartitions-v1.bin", &a, &b,
		       &v);
	assert_int_equal(b.v[KF_CPQ_TOPICS].v[0].v[KF_CPQT_COUNT].i, 8);

	decode_capture("librdkafka-2.0.2-describeconfigs-v1.bin", &a, &b, &v);
	assert_int_equal(b.v[KF_DCQ_RESOURCES].v[0].v[KF_DCQR_TYPE].i, 2);
	assert_string_equal(b.v[KF_DCQ_RESOURCES].v[0].v[KF_DCQR_NAME].p,
			    "orders");

	decode_capture("librdkafka-2.0.2-alterconfigs-v0.bin", &a, &b, &v);
	assert_string_equal(b.v[KF_ACQ_RESOURCES].v[0].v[KF_ACQR_NAME].p,
			    "orders");
	assert_string_equal(b.v[KF_ACQ_RESOURCES]
				.v[0]
				.v[KF_ACQR_CONFIGS]
				.v[0]
				.v[KF_ACQC_VALUE]
				.p,
			    "5");

	decode_capture("librdkafka-2.0.2-listgroups-v0.bin", &a, &b, &v);
	assert_int_equal(v, 0);
	kf_arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kcat_requests),
	    cmocka_unit_test(test_known_bytes),
	    cmocka_unit_test(test_metadata_roundtrip),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_served_schemas),
	    cmocka_unit_test(test_dispatch),
	    cmocka_unit_test(test_admin_captures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
