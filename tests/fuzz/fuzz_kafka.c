/* tests/fuzz/fuzz_kafka.c - the Kafka codec (net/kafka.c) on a request
 * frame's bytes, as the Kafka listener reads them
 * (net/kafka_server.c): the header peeked and decoded, then the body as
 * every version of the request and response of the API its key names
 * (every API the listeners serve; ApiVersions and Metadata for unknown
 * keys), classic and flexible, under an arena budget; what decodes is
 * encoded again and decoded back. The whole frame also goes through the
 * server's dispatch with handlers that answer at once.
 *
 * Invariants: no read past the input (ASan), the arena never passes its
 * budget, a decoded value re-encodes to bytes that decode again at the
 * same version, a dispatched frame is answered once or refused. Seeds:
 * tests/data/kafka (kcat's, librdkafka's and kafka-python's requests). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "kafka_apis.h"
#include "kafka_server.h"

#define BUDGET (64u << 10)

static void one(const struct kf_schema *s, int16_t ver, int flex,
		const uint8_t *data, size_t size, size_t start)
{
	struct kf_arena a;
	struct kf_val v, back;
	size_t off = start;
	kf_arena_init(&a, BUDGET);
	if (kf_decode(s, ver, flex, data, size, &off, &a, &v) == KF_OK) {
		struct kf_buf b = {0};
		size_t o2 = 0;
		if (off < start || off > size)
			abort();
		kf_encode(s, ver, flex, &v, &b);
		if (!b.failed &&
		    kf_decode(s, ver, flex, b.p, b.len, &o2, &a, &back) ==
			KF_OK &&
		    o2 != b.len)
			abort(); /* what we write, we read whole */
		kf_buf_free(&b);
	}
	if (a.used > a.budget)
		abort();
	kf_arena_free(&a);
}

static void answer(struct kafka_request *r, struct kf_val *resp)
{
	(void)resp;
	kafka_respond(r);
}

static kafka_handler pick(int16_t key)
{
	(void)key;
	return answer;
}

static int answers;
static void on_done(void *arg, const uint8_t *resp, size_t len)
{
	(void)arg;
	(void)resp;
	(void)len;
	answers++;
}

static struct kafka_api apis[KAFKA_SERVED_APIS];
static struct kafka_server *ks;
static uv_loop_t loop;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int16_t key, ver;
	int32_t corr;
	const struct kafka_api *api = NULL;
	if (ks == NULL) {
		struct kafka_server_config cfg = {0};
		uv_loop_init(&loop);
		kafka_apis_fill(apis, pick);
		cfg.loop = &loop;
		cfg.apis = apis;
		cfg.n_apis = KAFKA_SERVED_APIS;
		cfg.max_request_bytes = 1 << 20;
		if (kafka_server_new(&cfg, &ks) != 0)
			abort();
	}
	if (size < 4)
		return 0;
	/* The frame's size prefix, as the listener strips it. */
	data += 4;
	size -= 4;
	if (kf_peek_header(data, size, &key, &ver, &corr) != KF_OK)
		return 0;
	answers = 0;
	if (kafka_server_dispatch(ks, data, size, "fuzz", on_done, NULL) == 0 &&
	    answers != 1)
		abort(); /* small answers are encoded at once */
	api = kafka_server_api(ks, key);
	for (int flex = 0; flex <= 1; flex++) {
		struct kf_arena a;
		struct kf_request_header h;
		size_t off = 0;
		kf_arena_init(&a, BUDGET);
		if (kf_decode_header(data, size, flex, &off, &a, &h) == KF_OK) {
			if (api == NULL) {
				for (int16_t v = 0; v <= 3; v++)
					one(&kf_api_versions_request, v, flex,
					    data, size, off);
				for (int16_t v = 0; v <= 12; v++)
					one(&kf_metadata_request, v, flex, data,
					    size, off);
			} else {
				for (int16_t v = api->min; v <= api->max; v++) {
					one(api->request, v, flex, data, size,
					    off);
					/* Responses too (a relay passes them
					 * back; clients read them). */
					one(api->response, v, flex, data, size,
					    off);
				}
			}
		}
		kf_arena_free(&a);
	}
	return 0;
}
