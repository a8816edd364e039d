/* tests/fuzz/fuzz_snapshot.c - store_restore() of arbitrary bytes (a
 * snapshot from InstallSnapshot or from disk), then every read over the
 * image it accepted, a snapshot of it restored again, and an entry
 * applied on top.
 *
 * Input: byte 0, bit 0 clear: the rest is an SQLite image, given a valid
 * snapshot header here (so the fuzzer works on the image); bit 0 set: the
 * rest is the whole snapshot, header included.
 *
 * Invariants: nothing crashes or overflows; a refused snapshot leaves the
 * store as it was (the starting state, fuzz_build.h); an image accepted
 * once is accepted again after store_snapshot(). */
#include <string.h>

#include "fuzz_store.h"

static uint8_t *entry;
static size_t entry_len;

/* The entry applied over a restored image: one record of each family. */
static void make_entry(void)
{
	static const int32_t p0[] = {0};
	Synod__Rec__Record *r[] = {
	    fb_register(4, "inc-4", "r1", 0),
	    fb_broker_epoch(SYNOD__REC__RECORD__BODY_FENCE_BROKER, 2, 3),
	    fb_partition_change(1, 0, fb_part(1, 2, 2, 1, 1)),
	    fb_create_partitions(2, 2, 1, 2),
	    fb_set_config(1, "orders", "retention.ms", "1000"),
	    fb_group_current("g1", "m2", 2, 0, 1, p0, 1, NULL, 0),
	    fb_member_remove("g1", "m1"),
	    fb_remove_topic(2)};
	entry = fb_pack(r, sizeof r / sizeof r[0], 2, &entry_len);
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	make_entry();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *buf;
	static size_t cap;
	const uint8_t *snap;
	size_t len;
	void *again;
	size_t again_len;
	uint64_t digest;
	int rv;
	if (size < 1)
		return 0;
	fz_lax = 0;
	fz_reset();
	if (data[0] & 1) {
		snap = data + 1;
		len = size - 1;
	} else {
		if (cap < size - 1 + SNAP_HEADER) {
			cap = size - 1 + SNAP_HEADER;
			buf = realloc(buf, cap);
			FUZZ_CHECK(buf != NULL);
		}
		memcpy(buf, "SYNODSN1", 8);
		put_le(buf + 8, 1, 4);
		put_le(buf + 12, 0, 4);
		put_le(buf + 16, size - 1, 8);
		memcpy(buf + SNAP_HEADER, data + 1, size - 1);
		snap = buf;
		len = size - 1 + SNAP_HEADER;
	}
	rv = store_restore(st, snap, len);
	if (rv != STORE_OK) {
		/* Refused: the old content stays, and works. */
		FUZZ_CHECK(rv == STORE_EMALFORMED || rv == STORE_EVERSION);
		FUZZ_CHECK(store_applied_index(st) == FB_BASE_N);
		FUZZ_CHECK(strcmp(store_cluster_id(st), "fuzz-cluster") == 0);
		FUZZ_CHECK(store_digest(st, &digest) == STORE_OK);
		return 0;
	}
	fz_lax = 1;
	read_all(0);
	/* What was accepted once is accepted again. */
	if (store_snapshot(st, malloc, &again, &again_len) == STORE_OK) {
		FUZZ_CHECK(store_restore(st, again, again_len) == STORE_OK);
		free(again);
	}
	(void)store_apply(st, store_applied_index(st) + 1, entry, entry_len,
			  NULL, 0, NULL);
	read_all(0);
	return 0;
}
