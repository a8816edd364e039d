/* tests/fuzz/fuzz_records.c - a raft log entry (a RecordBatch,
 * storage/records.proto) from outside, applied to the store as fsm.c
 * applies a committed entry: store_decode_batch() then
 * store_apply_batch(), twice (at two indexes: records replayed after a
 * restart or sent twice), over a fixed starting state (fuzz_build.h's
 * fb_base: brokers, topics, a group) restored from a snapshot at every
 * run so each input sees the same store.
 *
 * Invariants: apply never crashes and never fails locally (only
 * STORE_EVERSION may refuse an entry, as documented); every record gets a
 * known status; and the store's promises (store.h "Invariants") hold
 * afterwards: for envelope 2 entries, every partition has distinct
 * replicas, an ISR of distinct replicas, and a leader that is -1 or an
 * ISR member that is registered, unfenced and not shutting down; for
 * every entry, no partition is held by two members of one group. The
 * reads then walk everything the entry wrote. */
#include <string.h>

#include "fuzz_store.h"

#define MAX_STATUSES 4096

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int statuses[MAX_STATUSES];
	struct Synod__Rec__RecordBatch *b;
	int strict = 1;
	fz_reset();
	FUZZ_CHECK(store_applied_index(st) == FB_BASE_N);
	FUZZ_CHECK(store_decode_batch(data, size, &b) == STORE_OK);
	for (uint64_t index = FB_BASE_N + 1; index <= FB_BASE_N + 2; index++) {
		unsigned n = 0;
		int rv =
		    store_apply_batch(st, index, b, statuses, MAX_STATUSES, &n);
		FUZZ_CHECK(rv == STORE_OK || rv == STORE_EVERSION);
		if (rv == STORE_EVERSION) {
			/* Nothing applied: the node stops. */
			FUZZ_CHECK(store_applied_index(st) == index - 1);
			break;
		}
		FUZZ_CHECK(store_applied_index(st) == index);
		if (b == NULL) {
			FUZZ_CHECK(statuses[0] == STORE_R_SKIPPED_MALFORMED);
			break;
		}
		FUZZ_CHECK(n == b->n_records);
		for (unsigned i = 0; i < n && i < MAX_STATUSES; i++)
			/* A STORE_R_* value (new ones are appended). */
			FUZZ_CHECK(statuses[i] >= STORE_R_OK &&
				   statuses[i] < STORE_R_OK + 32);
	}
	if (b && b->version < 2)
		strict = 0; /* replayed under the old rules: no promise */
	read_all(strict);
	if (b)
		synod__rec__record_batch__free_unpacked(b, NULL);
	return 0;
}
