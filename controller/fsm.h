/* controller/fsm.h - the raft state machine over the SQLite store.
 *
 * Glues a struct store (storage/) into libraft's struct raft_fsm:
 * apply() runs store_apply() for each committed command entry; snapshot()
 * copies the database image; restore() replaces it. Pure of sockets and
 * clocks, so raft_fixture tests drive it exactly as the daemon does.
 *
 * Ownership: fsm_init() opens a store that the fsm owns until fsm_close().
 * The optional hooks are called on the loop thread during apply.
 */
#ifndef SYNOD_FSM_H
#define SYNOD_FSM_H

#include <raft.h>
#include <stdint.h>

#include "../storage/store.h"

struct fsm_hooks {
	void *arg;
	/* Before applying entry `index`: where to write per-record statuses
	 * (NULL: nowhere). */
	int *(*statuses_for)(void *arg, uint64_t index, unsigned *max);
	/* After an entry applied (state changed). */
	/* After a command entry applied. b: the decoded entry (NULL when it
	 * did not decode and was skipped), valid during the call. */
	void (*applied)(void *arg, uint64_t index,
			const struct Synod__Rec__RecordBatch *b);
	/* After a snapshot was restored (state replaced). */
	void (*restored)(void *arg, uint64_t index);
	/* The node can no longer apply (newer format or local DB failure):
	 * the daemon must stop. */
	void (*fatal)(void *arg, const char *msg);
};

/* State digests taken at apply (digest_every), the last FSM_DIGESTS. */
#define FSM_DIGESTS 16
struct fsm_digest {
	uint64_t index;	 /* the entry just applied */
	uint64_t digest; /* store_digest() after it */
};

struct fsm {
	struct raft_fsm raft_fsm; /* handed to raft_init() */
	struct store *store;
	struct raft *raft; /* set after raft_init (for the index) */
	struct fsm_hooks hooks;
	uint64_t snapshots_taken;
	uint64_t snapshots_restored;
	uint64_t last_snapshot_us;
	uint64_t last_snapshot_bytes;
	uint64_t snapshot_index; /* log index of the last snapshot taken or
				    restored (0: none) */
	uint64_t last_restore_us;
	uint64_t apply_max_us; /* slowest entry applied (store and hooks) */
	int failed;	       /* set once apply failed fatally: applies stop */
	/* digest_every > 0 (set before raft starts): after the first command
	 * entry applied at or past each multiple of it, the state digest
	 * goes into digests[n_digests++ % FSM_DIGESTS]. Nodes applying the
	 * same log take them at the same indexes (a restored snapshot skips
	 * to the next multiple), so replicas compare their states at the same
	 * index all along, not only when they agree on the last one. O(state)
	 * on the loop each time: for tests (--digest-every). */
	unsigned digest_every;
	uint64_t digest_next;
	struct fsm_digest digests[FSM_DIGESTS];
	uint64_t n_digests;
	char restore_error[256]; /* why the last restore failed, or "" */
};

int fsm_init(struct fsm *f);
void fsm_close(struct fsm *f);

#endif
