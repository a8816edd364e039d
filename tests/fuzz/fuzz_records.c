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
 * every entry, no partition is held by two members of one group; a
 * client request seen before reports none of its records applied. The
 * reads then walk everything the entry wrote.
 *
 * Every node must apply an entry the same way, malformed or not: the
 * same bytes are decoded and applied again on a second store (restored
 * from the same starting state with store_restore(), as a follower
 * installs a snapshot), and both must give the same results, statuses,
 * applied index and digest. */
#include <string.h>

#include "fuzz_store.h"

#define MAX_STATUSES 4096

/* The second node's store. */
static struct store *twin;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint64_t d;
	(void)argc;
	(void)argv;
	setup();
	FUZZ_CHECK(store_open(&twin) == STORE_OK);
	FUZZ_CHECK(store_restore(twin, base, base_len) == STORE_OK);
	FUZZ_CHECK(store_digest(twin, &d) == STORE_OK && d == base_digest);
	return 0;
}

/* What applying an entry (twice, at two indexes) did to a store. */
struct outcome {
	int rv[2];
	unsigned n[2];
	int statuses[2][MAX_STATUSES];
	uint64_t applied, digest;
};

/* data decoded and applied to s as fsm.c does, at FB_BASE_N + 1 and + 2
 * (stopping where the node would), into *o; returns the batch (the
 * caller's to free; NULL: malformed). */
static struct Synod__Rec__RecordBatch *
apply(struct store *s, const uint8_t *data, size_t size, struct outcome *o)
{
	struct Synod__Rec__RecordBatch *b;
	memset(o, 0, sizeof *o);
	FUZZ_CHECK(store_applied_index(s) == FB_BASE_N);
	FUZZ_CHECK(store_decode_batch(data, size, &b) == STORE_OK);
	for (unsigned k = 0; k < 2; k++) {
		uint64_t index = FB_BASE_N + 1 + k;
		int *statuses = o->statuses[k];
		unsigned n = 0;
		int rv =
		    store_apply_batch(s, index, b, statuses, MAX_STATUSES, &n);
		o->rv[k] = rv;
		o->n[k] = n;
		FUZZ_CHECK(rv == STORE_OK || rv == STORE_EVERSION);
		if (rv == STORE_EVERSION) {
			/* Nothing applied: the node stops. */
			FUZZ_CHECK(store_applied_index(s) == index - 1);
			break;
		}
		FUZZ_CHECK(store_applied_index(s) == index);
		if (b == NULL) {
			FUZZ_CHECK(statuses[0] == STORE_R_SKIPPED_MALFORMED);
			o->n[k] = 1;
			break;
		}
		FUZZ_CHECK(n == b->n_records);
		for (unsigned i = 0; i < n && i < MAX_STATUSES; i++)
			/* A STORE_R_* value (new ones are appended). */
			FUZZ_CHECK(statuses[i] >= STORE_R_OK &&
				   statuses[i] < STORE_R_OK + 32);
		/* A client request seen before (a resend) never reports a
		 * record as applied: its records say DUPLICATE, or the
		 * failure their first apply met. */
		for (unsigned i = 0, end = 0; i < n && i < MAX_STATUSES; i++) {
			const Synod__Rec__Record *r = b->records[i];
			if (i < end) {
				/* Inside the skipped span: a marker here is a
				 * skipped record, not a marker. */
				FUZZ_CHECK(statuses[i] != STORE_R_OK);
				continue;
			}
			if (r->body_case ==
				SYNOD__REC__RECORD__BODY_CLIENT_REQUEST &&
			    statuses[i] == STORE_R_DUPLICATE)
				end = i + 1 + r->client_request->records;
		}
	}
	o->applied = store_applied_index(s);
	FUZZ_CHECK(store_digest(s, &o->digest) == STORE_OK);
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome one, two;
	struct Synod__Rec__RecordBatch *b, *b2;
	int strict = 1;
	fz_reset();
	fz_reset_store(twin);
	b = apply(st, data, size, &one);
	b2 = apply(twin, data, size, &two);
	/* Both nodes did the same. */
	FUZZ_CHECK((b == NULL) == (b2 == NULL));
	FUZZ_CHECK(one.applied == two.applied && one.digest == two.digest);
	for (unsigned k = 0; k < 2; k++) {
		unsigned n = one.n[k] < MAX_STATUSES ? one.n[k] : MAX_STATUSES;
		FUZZ_CHECK(one.rv[k] == two.rv[k] && one.n[k] == two.n[k]);
		FUZZ_CHECK(memcmp(one.statuses[k], two.statuses[k],
				  n * sizeof one.statuses[k][0]) == 0);
	}
	if (b && b->version < 2)
		strict = 0; /* replayed under the old rules: no promise */
	read_all(strict);
	if (b)
		synod__rec__record_batch__free_unpacked(b, NULL);
	if (b2)
		synod__rec__record_batch__free_unpacked(b2, NULL);
	return 0;
}
