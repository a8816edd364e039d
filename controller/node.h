/* controller/node.h - one controller node: raft wiring, leadership, the
 * group-commit write path and linearizable reads.
 *
 * Write path: a request handler turns a request into records and calls
 * node_propose() with a waiter. Records proposed in one loop iteration are
 * packed into one RecordBatch and one raft entry (group commit, at most
 * max_batch_records records). When raft applies the entry on this node, the
 * fsm fills each record's status, and the waiters complete, in log order.
 * A waiter completes exactly once: with SYNOD_OK (check its statuses), or
 * SYNOD_ENOT_CONTROLLER when leadership was lost (the outcome is unknown),
 * SYNOD_EUNAVAILABLE when raft refused the entry, or SYNOD_ESHUTTING_DOWN.
 *
 * Reads: node_read() completes its waiter once a barrier entry proposed
 * after the call has been applied, so the read sees every write
 * acknowledged before it (linearizable). One barrier serves all reads that
 * arrive in the same loop iteration (or they ride on a write entry).
 * Confirmed reads are answered from an idle handle, in order, at most
 * 2 ms of each loop iteration, so a waiter may complete some iterations
 * after its barrier or entry, with the state applied then (or
 * NOT_CONTROLLER / SHUTTING_DOWN if the leadership or the node went
 * meanwhile); one with `now` set (a lease answer from memory) completes
 * in the turn that confirms it.
 *
 * Ownership: the node borrows the config and the loop. Waiters are owned
 * by the caller and must stay valid until their done callback ran.
 */
#ifndef SYNOD_NODE_H
#define SYNOD_NODE_H

#include <raft.h>
#include <raft/uv.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "fsm.h"
#include "raftio.h"
#include "records.pb-c.h"
#include "transport.h"

#define SAVE_STEPS 24 /* raft_uv's save steps kept (struct node) */

struct node;
struct waiter;

typedef void (*waiter_cb)(struct node *n, struct waiter *w, int rc,
			  const int *statuses);

struct waiter {
	struct waiter *next;
	waiter_cb done;
	unsigned first; /* index of the waiter's first record in the entry */
	unsigned count;
	void *data;
	/* Set (16 bytes, the caller's) for an exactly-once client write:
	 * node_propose() puts a ClientRequest marker before the records,
	 * and clears it (one proposal per request). A resend that was
	 * applied before gets STORE_R_DUPLICATE for its records, or the
	 * first apply's last failure (store.h). */
	const uint8_t *client_id;
	uint32_t request;
	/* node_read: complete in the loop turn its barrier or entry
	 * confirms, not queued behind other reads (lease answers:
	 * srv_with_lease). */
	int now;
};

struct proposal;
struct node_change;

struct node_stats {
	uint64_t entries_proposed;
	uint64_t records_proposed;
	uint64_t bytes_proposed; /* entry payloads handed to raft_apply */
	uint64_t entries_applied;
	uint64_t reads;
	uint64_t barriers;
	uint64_t read_slices_deferred; /* turns that left reads for the next */
	uint64_t leader_elected;       /* times this node became active */
	uint64_t term_changes;	       /* terms seen change (elections) */
	uint64_t start_ms;
	uint64_t loop_stall_max_us; /* worst lateness of the poll timer */
	uint64_t loop_stalls_50ms;  /* times it was more than 50 ms late */
	uint64_t last_poll_ns;
	uint64_t disk_free_bytes; /* data dir, checked every second */
	uint64_t disk_handoffs;	  /* leaderships handed over for it */
	uint64_t disk_stalls;	  /* times a log write passed disk_stall_ms */
	uint64_t snapshot_stalls; /* times a snapshot save passed it */
	uint64_t snapshot_write_failures; /* retried by raft_uv, or failed */
};

struct node {
	const struct synod_config *cfg;
	uv_loop_t *loop;
	struct raft raft;
	struct raft_io io;		  /* raft_uv's */
	struct raftio raftio;		  /* what raft gets: io, see raftio.h */
	unsigned long long raftio_logged; /* held_total last logged */
	unsigned long long installs_ignored_logged;
	unsigned long long truncations_logged; /* the same, truncations */
	unsigned long long splits_logged; /* the same, split AppendEntries */
	struct synod_transport transport;
	struct fsm fsm;
	char address[2 * SYNOD_ADDR_MAX + 2]; /* composite raft address */
	char client_address[SYNOD_ADDR_MAX];
	char errmsg[1024];

	int raft_started;
	int is_leader; /* raft says leader */
	int active;    /* leader whose first barrier applied */
	raft_term term;
	raft_term active_term;
	struct raft_barrier *lead_barrier; /* in flight, or NULL */

	/* group commit */
	uint8_t *batch_buf;
	size_t batch_len, batch_cap;
	unsigned batch_records;
	struct waiter *batch_waiters, **batch_tail;
	struct proposal *inflight_head, *inflight_tail;
	unsigned inflight_entries;
	uv_check_t flush_check;
	uv_idle_t flush_idle;
	int flush_armed;

	/* Leadership lease (node_lease_valid): when a proposal made in this
	 * leadership that has since committed was made (uv_hrtime ms; 0:
	 * none yet), and when the barrier after the election was. */
	uint64_t confirmed_ms, lead_barrier_ms;

	/* linearizable reads */
	struct waiter *reads_next; /* waiting for a barrier not sent yet */
	struct waiter **reads_next_tail;
	unsigned read_barriers_inflight;
	/* confirmed by a barrier or an entry, answered a slice per loop
	 * iteration from reads_idle */
	struct waiter *reads_ready, **reads_ready_tail;
	uv_idle_t reads_idle;

	/* membership */
	struct node_change *change;
	uint64_t disk_checked_ms, disk_handoff_ms;
	int disk_low;
	int disk_stalled;   /* a log write unfinished for disk_stall_ms */
	int disk_failed;    /* a log write failed: stopping (node.c) */
	int vote_hold_said; /* the votes dropped at start were logged */
	/* A failure seen by raft_uv's tracer, maybe on a worker thread:
	 * claimed once, then published to the loop (on_poll). */
	atomic_int disk_fail_claimed, disk_fail_pending;
	const char *disk_fail_what;
	char disk_fail_why[512];
	/* Snapshot writes that failed (raft_uv retries them): how many and
	 * when the last did (uv_hrtime), from the tracer; failing while the
	 * last came after the last snapshot saved (node.c). */
	atomic_uint_fast64_t snapshot_retries, snapshot_retry_ns;
	int snapshot_failing;
	int snapshot_stalled; /* a snapshot save unfinished for disk_stall_ms */
	/* The last raft_uv diagnostics about saves and barriers
	 * (raftio_trace_save_step), from any thread, logged when a save
	 * stalls (reliability.md 5.13): a ring under save_steps_lock. */
	uv_mutex_t save_steps_lock;
	struct save_step {
		uint64_t ns;	/* uv_hrtime */
		char text[120]; /* FILE:LINE message */
	} save_steps[SAVE_STEPS];
	unsigned save_steps_next, save_steps_count;
	struct raft_tracer uv_tracer; /* raft_uv's, watched for that */
	int trace_stderr;	      /* LIBRAFT_TRACE: it prints them too */

	uv_timer_t poll;
	struct node_stats stats;
	struct hist commit_lat; /* entries: proposed to applied here */
	int stopping;
	int released; /* node_release ran */
	int open_handles;
	void (*on_fatal)(struct node *n, const char *msg);
	/* The exit status on_fatal asks for: 0 or 1 (a fault an operator
	 * must look at: not restarted), or 3 (libraft is stuck: restart the
	 * node; docs/operations.md, 'Logs and exit codes'). */
	int fatal_status;
	void (*on_leadership)(struct node *n, int active);
	void (*on_stopped)(struct node *n);
	/* A command entry applied on this node (any role). */
	void (*on_applied)(struct node *n, uint64_t index,
			   const Synod__Rec__RecordBatch *b);
	void *data;
};

/* Set up raft (raft_uv + our transport) in cfg->data_dir/raft and the
 * fsm; bootstrap when `bootstrap` is set. Returns 0 or -1 with errmsg. */
int node_init(struct node *n, uv_loop_t *loop, const struct synod_config *cfg,
	      int bootstrap);
int node_start(struct node *n);
/* Stop raft; on_stopped runs when every handle is closed. Pending waiters
 * complete with SYNOD_ESHUTTING_DOWN. */
void node_stop(struct node *n);
/* After on_stopped, once uv_run has returned (no handle of the node's
 * left): frees raft_uv and its transport, which raft_uv_tcp may still
 * use until then. Only after a node_init that succeeded (after one that
 * failed it does nothing); a second call does nothing. */
void node_release(struct node *n);

/* Propose records (packed into the current batch). Returns SYNOD_OK (w->done
 * will run), or SYNOD_ENOT_CONTROLLER / SYNOD_EUNAVAILABLE /
 * SYNOD_EMESSAGE_TOO_LARGE without calling it. */
int node_propose(struct node *n, const Synod__Rec__Record *const *recs,
		 unsigned n_recs, struct waiter *w);
/* Linearizable read barrier (see above). Same return rules. */
int node_read(struct node *n, struct waiter *w);
/* 1 when this node is the active controller and no other node can have
 * been elected since: a proposal it made less than nine tenths of an
 * election timeout ago has committed (the followers that acknowledged it
 * refuse votes until their election timeout passes), and no leadership
 * transfer is in flight. Answers given from memory only (broker and group
 * heartbeats) check it: a controller that was paused or cut off while
 * another was elected must not extend sessions or say "unfenced"; when
 * it is 0 they wait for node_read() instead. Assumes that a follower does
 * not restart and vote within the lease (it forgets its leader). */
int node_lease_valid(struct node *n);

/* The active controller as this node knows it: id (0 unknown) and client
 * address ("" unknown). */
void node_leader(struct node *n, uint64_t *id, char *client, size_t size);
/* SYNOD_OK when this node may serve writes now, else the code to answer. */
int node_check_active(struct node *n);

typedef void (*node_change_cb)(struct node *n, void *arg, int rc,
			       const char *msg);
int node_add_voter(struct node *n, uint64_t id, const char *raft_address,
		   const char *client_address, node_change_cb cb, void *arg);
int node_remove_voter(struct node *n, uint64_t id, node_change_cb cb,
		      void *arg);
int node_transfer(struct node *n, uint64_t id, node_change_cb cb, void *arg);

const char *node_role(struct node *n);
int64_t node_last_contact_ms(struct node *n);

#endif
