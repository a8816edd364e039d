/* tests/fuzz/fuzz_kafka.c - the Kafka codec (net/kafka.c) on a request
 * frame's bytes, as the Kafka listener reads them
 * (controller/kafka_listener.c): the header peeked and decoded, then the
 * body as every version of ApiVersions and Metadata, classic and
 * flexible, under an arena budget; what decodes is encoded again and
 * decoded back.
 *
 * Invariants: no read past the input (ASan), the arena never passes its
 * budget, a decoded value re-encodes to bytes that decode again at the
 * same version. Seeds: tests/data/kafka (kcat's requests). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "kafka_apis.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int16_t key, ver;
	int32_t corr;
	if (size < 4)
		return 0;
	/* The frame's size prefix, as the listener strips it. */
	data += 4;
	size -= 4;
	if (kf_peek_header(data, size, &key, &ver, &corr) != KF_OK)
		return 0;
	for (int flex = 0; flex <= 1; flex++) {
		struct kf_arena a;
		struct kf_request_header h;
		size_t off = 0;
		kf_arena_init(&a, BUDGET);
		if (kf_decode_header(data, size, flex, &off, &a, &h) == KF_OK) {
			for (int16_t v = 0; v <= 3; v++)
				one(&kf_api_versions_request, v, flex, data,
				    size, off);
			for (int16_t v = 0; v <= 12; v++)
				one(&kf_metadata_request, v, flex, data, size,
				    off);
			/* Responses too (the broker library will read
			 * them): from the body's first byte. */
			one(&kf_metadata_response, ver & 15, flex, data, size,
			    off);
			one(&kf_api_versions_response, ver & 3, flex, data,
			    size, off);
		}
		kf_arena_free(&a);
	}
	return 0;
}
