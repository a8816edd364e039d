/* raftio.h - a raft_io that forwards every call to another one (raft_uv's)
 * and holds back an InstallSnapshot message while a snapshot of the
 * node's own is being saved.
 *
 * Why: libraft 0.22.0 and 0.22.1 (src/legacy.c, takeSnapshotCb) clear
 * r->legacy.snapshot_pending before reading it when an InstallSnapshot
 * arrived during the node's own snapshot_put (trailing > 0): the follower
 * dereferences NULL (legacyPersistSnapshotStart) as soon as the put
 * completes. docs/reliability.md 5.2 has the analysis. Holding the
 * message until the put's callback has returned makes libraft see the
 * two one after the other, which it handles. When that callback starts
 * the next save at once (the threshold passed again meanwhile), the
 * message stays held until that save completes too (5.7). A second
 * InstallSnapshot held back replaces the first, which is dropped (the
 * leader sends it again after its install timeout).
 *
 * It also holds back a log truncation that raft asks for while a
 * snapshot save is in flight (a real one: libraft asks for one at the
 * next index before every append, and raftio keeps a copy of raft_uv's
 * next index to tell), with every append and truncation after it,
 * until the save has completed and raft_uv has released its barrier (the
 * next loop turn): libraft 0.22.1's raft_uv attaches the truncation's
 * barrier to an open segment it closes at once, triggers only the save's
 * barrier, and never performs the truncation; the replaced entries stay
 * on disk and the next start fails ("closed segment ... is past last
 * snapshot"). docs/reliability.md 5.14. An InstallSnapshot is held while
 * such writes wait, so that raft_uv sees them before the installation.
 *
 * And it splits an AppendEntries whose configuration entry is not its
 * first, so that each such entry begins a message of its own: libraft
 * 0.22.0 and 0.22.1 (src/replication.c, replicationAppend) record a
 * configuration entry a follower receives as uncommitted at the index of
 * the message's first new entry instead of its own, and when it commits,
 * they do not recognize it: configuration_uncommitted_index never clears,
 * so once that node leads it refuses every configuration change
 * (RAFT_CANTCHANGE), and its snapshots carry the configuration from
 * before the change. docs/reliability.md 5.12.
 *
 * And, when vote_hold_ns is set, it drops every RequestVote (votes and
 * pre-votes, not a leadership transfer's) for that long after start: a
 * node that restarts has forgotten that it heard from its leader, and
 * libraft would vote at once, while the leader still counts on its
 * lease (node_lease_valid: followers that heard from it refuse votes for
 * an election timeout). docs/reliability.md 5.17.
 *
 * And it frees the payload and configuration of an InstallSnapshot that
 * arrives while raft installs one, handing raft the message without them:
 * libraft 0.22.1 ignores such a message and frees neither, so each copy
 * the leader resends during a long installation leaked a whole snapshot
 * (reliability.md 5.18).
 *
 * Use: raftio_init(&x, &uv_io) after raft_uv_init(), then pass &x.io to
 * raft_init(). Everything else stays with the inner io (raft_uv_set_*,
 * raft_uv_close after raft_close). Not thread-safe: the loop's thread.
 *
 * Ownership: x does not own the inner io. A held message (its
 * configuration, payload and a copy of the sender's address) belongs to
 * x until it is delivered; a close drops it. Held writes keep raft's
 * entries (raft keeps them until the append's callback); a close cancels
 * the appends (RAFT_CANCELED, as raft_uv does) and drops truncations.
 * A split AppendEntries: x frees the entries and batch it received and
 * hands raft parts with their own, which raft frees as it frees raft_uv's.
 */
#ifndef SYNOD_RAFTIO_H
#define SYNOD_RAFTIO_H

#include <raft.h>
#include <uv.h>

#include "hist.h"

struct timed_append;
struct deferred_write;

struct raftio {
	struct raft_io io;     /* hand this to raft_init() */
	struct raft_io *inner; /* raft_uv's */
	raft_io_tick_cb tick;  /* raft's */
	raft_io_recv_cb recv;  /* raft's */
	raft_io_close_cb close_cb;
	/* raft's own snapshot save in flight (trailing > 0), or NULL */
	struct raft_io_snapshot_put *put_req;
	struct raft_io_snapshot_put put; /* what the inner io got */
	/* an installation (trailing 0) in flight, or NULL */
	struct raft_io_snapshot_put *install_req;
	struct raft_io_snapshot_put install; /* what the inner io got */
	/* When (uv_hrtime) a snapshot, raft's own or an installed one, was
	 * last saved, and when one last completed with an error (not
	 * canceled; raft_uv retries a file it could not make instead:
	 * raftio_trace_snapshot_retry); 0: not yet. Those failures count. */
	uint64_t snapshot_saved_ns, snapshot_failed_ns;
	uint64_t snapshot_failures;
	/* When (uv_hrtime) the save in flight of each kind started. */
	uint64_t put_started_ns, install_started_ns;
	struct raft_message held; /* valid when has_held */
	char *held_address;
	int has_held;
	unsigned long long held_total;	  /* messages held back */
	unsigned long long dropped_total; /* held ones replaced */
	/* AppendEntries split at a configuration entry, and those dropped
	 * for want of memory to split them. */
	unsigned long long appends_split, split_dropped;
	/* Writes held back behind a truncation during a save, in order;
	 * their count (truncations) and the handle that resumes them. */
	struct deferred_write *deferred_head, *deferred_tail;
	unsigned long long truncations_deferred;
	/* Messages raft asked to send after the io began to close, refused
	 * (libraft 0.22.1 sends the snapshot it finished loading even
	 * then, and raft_uv would open a connection that outlives it:
	 * reliability.md 5.16). */
	unsigned long long sends_after_close;
	/* Set by the caller before start (0: off): RequestVotes are dropped
	 * for this long after start; until when (uv_hrtime; 0 once over),
	 * and how many were. */
	uint64_t vote_hold_ns, votes_held_until_ns;
	unsigned long long votes_dropped_at_start;
	/* InstallSnapshots that reached raft during an installation, their
	 * payload and configuration freed here (libraft ignores them). */
	unsigned long long installs_ignored;
	uv_loop_t *loop; /* set by the caller after raftio_init */
	uv_timer_t resume;
	int resume_open, closes_left;
	int in_save_cb;	  /* raft's callback of a save is running */
	int write_failed; /* a held write failed: every later one fails */
	/* An installation the inner io refused at once: raft's callback
	 * gets this status on the next loop turn (raftio.c). */
	int install_refused;
	/* raft_uv's next append index, or more (never less): libraft asks
	 * for a truncation before every append, which is nothing at or past
	 * it; and the index of the installation in flight. */
	raft_index next_index, install_index;
	struct hist append_lat; /* entries appended to disk (/metrics) */
	/* appends given to the inner io and not yet called back, oldest
	 * first (untimed ones, when memory ran out, are not listed) */
	struct timed_append *inflight_head, *inflight_tail;
	/* Called (when set) when the term or the vote could not be saved,
	 * a log truncation was refused, a log write failed, or the leader's
	 * snapshot could not be installed (not canceled: libraft 0.22.1
	 * then ignores its leader until restarted, reliability.md 5.15);
	 * data is the caller's. */
	void (*on_disk_error)(struct raftio *x, const char *what,
			      const char *errmsg);
	void *data;
};

void raftio_init(struct raftio *x, struct raft_io *inner);

/* When (uv_hrtime) the oldest append still in flight started; 0 when
 * none is. A disk that hangs shows here as an append that never ends. */
uint64_t raftio_oldest_append_ns(const struct raftio *x);

/* When (uv_hrtime) the oldest snapshot save still in flight started, 0
 * when none is; *install (when not NULL) tells whether it is a snapshot
 * from the leader being installed rather than the node's own. raft_uv
 * runs one save at a time, and while one is unfinished the node installs
 * nothing from its leader (a held InstallSnapshot waits, or libraft
 * ignores it), so a save that never ends leaves a follower behind. */
uint64_t raftio_oldest_save_ns(const struct raftio *x, int *install);

/* Whether a diagnostic of raft_uv 0.22 (its tracer's message) reports a
 * disk failure it does not report otherwise: a log write that failed
 * (retried on a broken timer: it crashes 5 s later), a segment that could
 * not be closed, a log truncation that did not complete. *what is then a
 * static description and why (size bytes, the caller's) the error. Pure;
 * callable from any thread (raft_uv traces from its worker threads too). */
int raftio_trace_failure(const char *msg, const char **what, char *why,
			 size_t size);

/* Whether a failure's error (why, as raftio_trace_failure, an I/O
 * callback or raft_init gives it) is a full disk: "-28" (ENOSPC, as
 * raft_uv 0.22 quotes a failed segment write), libuv's "no space left on
 * device", raft_uv's "not enough space to allocate N bytes", or
 * "ENOSPC". Pure. */
int raftio_why_no_space(const char *why);

/* Whether a diagnostic of raft_uv 0.22 says a snapshot could not be
 * written (its file could not be made: a failing or full disk) and will be
 * tried again, disk_retry (5 s) later, for as long as it fails. raft's log
 * still works; it only grows until a snapshot is written. Pure; callable
 * from any thread. */
int raftio_trace_snapshot_retry(const char *msg);

/* Whether a diagnostic of raft_uv 0.22 tells a step of a snapshot save
 * or of a barrier (a save's, a truncation's): kept by the node and logged
 * when a save stalls (reliability.md 5.13). Pure; callable from any
 * thread. */
int raftio_trace_save_step(const char *msg);

/* libraft 0.22 state left by the bug the split avoids (raftio.h's top,
 * reliability.md 5.12) in a node that received a configuration entry
 * before (or by a rollback of a later one that libraft held uncommitted
 * before applying this one): a snapshot taken meanwhile records the
 * configuration before it,
 * and at the next start libraft marks the entry (now at its right index,
 * restored from the log) uncommitted although it is at or below the last
 * applied index, so it is never applied again and, leading, the node
 * refuses every change. To be called right after raft_start(): marks that
 * configuration committed, as libraft would have when it applied it.
 * The snapshot on disk keeps the old one until the next (an installation
 * sends it): operations.md 6 says what to do after such an upgrade.
 * Returns 1 when it did (*index: the entry's), 0 when there was nothing
 * to repair, -1 out of memory (nothing changed). */
int raftio_config_repair(struct raft *r, raft_index *index);

#endif
