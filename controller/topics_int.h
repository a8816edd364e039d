/* controller/topics_int.h - the state the topics module's files share
 * (internal: only controller/topics*.c include it).
 *
 * One struct topics, in eight files by concern:
 *   topics.c             the module (APIs, events), lifecycle, topic
 *                        creation, deletion and growth
 *   topics_load.c        placement load per broker
 *   topics_partitions.c  overlay of proposed partition states, rechecks,
 *                        conversions, the controller's own proposals
 *   topics_jobs.c        walks across loop turns (departures, returns,
 *                        repairs, elections of every partition)
 *   topics_elect.c       ELECT_LEADERS and the automatic rebalance
 *   topics_isr.c         ALTER_PARTITION(S)
 *   topics_push.c        pushes, METADATA_FETCH, pages
 *   topics_describe.c    DESCRIBE_TOPICS
 * Decisions stay in the pure files (placement.c, election.c); these files
 * gather the state they decide on and propose the records.
 */
#ifndef SYNOD_TOPICS_INT_H
#define SYNOD_TOPICS_INT_H

#include <stdint.h>

#include "election.h"
#include "recbuf.h"
#include "topics.h"

struct job;
struct elect_req;
struct alter_batch;
struct push_ctx;

#define MAX_PARTITIONS_PER_TOPIC 1000000u
#define REBALANCE_POLL_MS 1000
/* Repair sweep period (also run at the first tick after activation). */
#define REPAIR_INTERVAL_MS 5000
/* Loop time walks may take per loop iteration. */
#define JOB_BUDGET_NS (10u * 1000u * 1000u)
/* Partition records proposed and not yet applied, above which creations
 * wait and walks pause: a follower applies what one round trip commits in
 * one loop turn, so this bounds that turn (about 15 us a partition). */
#define APPLY_WEIGHT_MAX 2000u
/* Creations waiting for that budget, above which they are refused BUSY. */
#define MAX_PARKED 10000u
/* Results kept for an ELECT_LEADERS answer (elected partitions first). */
#define ELECT_MAX_RESULTS 10000u

/* ---- overlay of proposed, not yet applied partition states ---- */

struct ov_entry {
	uint64_t key;	/* tid << 32 | partition; 0 = empty */
	uint64_t owner; /* the decision (proposal) that put it */
	struct store_partition p;
	/* The in-flight state p was decided on, put by prev_owner (0:
	 * none, p was decided on the store): what the overlay says again
	 * if owner's proposal is lost while prev_owner's is not. */
	uint64_t prev_owner;
	struct store_partition prev;
};

struct parked {
	struct parked *next;
	struct pending *p; /* the CreateTopics request, its connection */
	uint64_t weight;
};

/* Replicas and leaders per broker, for placement: loaded from the store
 * once (two GROUP BY scans) and then kept current by the controller's own
 * decisions, so creating topic after topic stays O(new partitions). */
struct load_entry {
	int32_t id;
	int used;
	uint32_t replicas, leaders;
};

/* A topic creation in flight, with the request that proposed it (once:
 * it came with a client id; a resend of it is proposed again and the
 * apply answers DUPLICATE, or the first apply's failure: see
 * srv_pending_once). */
struct tp_pending {
	char *name;
	int once;
	uint8_t client_id[16];
	uint64_t request;
};

struct topics {
	struct server *server;
	struct node *node;
	struct brokers *brokers;
	struct store *store;
	int active;
	uint64_t gen;
	struct ov_entry *ov;
	size_t ov_cap, ov_count;
	struct tp_pending *pending; /* topic creations in flight */
	size_t n_pending, cap_pending;
	uv_timer_t timer; /* automatic leader rebalance */
	uint64_t next_rebalance_ms;
	unsigned ops;
	int closing;
	struct load_entry *load;
	size_t load_cap, load_count;
	int load_valid;
	uint64_t *recheck; /* partitions to bring in line (refused
			      changes, creations across a departure) */
	size_t n_recheck, cap_recheck;
	uint64_t owner_seq, cur_owner; /* decisions, for overlay rollback */
	struct job *jobs, *jobs_tail;  /* walks sliced across loop turns */
	uv_idle_t jobs_idle;
	int jobs_running;
	unsigned page; /* partitions per walk page (and per entry) */
	uint64_t next_repair_ms;
	int sweeps_due; /* a takeover whose sweeps are not all queued yet:
			   SWEEP_OFFLINE | SWEEP_ISR (tp_takeover_sweeps) */
	int open_handles;
	uint64_t weight; /* partition records proposed, not yet applied */
	struct parked *park_head, *park_tail; /* creations waiting for it */
	unsigned n_parked;
	int resuming; /* tp_handle_create() called for a parked request */
	uint64_t brokers_warned_ms; /* fetches left brokers out (logged) */
	struct topics_stats stats;
};

struct top {
	struct waiter w;
	struct topics *t;
	struct pending *p; /* NULL: internal */
	uint64_t gen;
	uint64_t owner; /* decision whose overlay entries it carries */
	struct elect_req *er;
	uint64_t weight; /* partition records it proposed */
	int kind;
	char *name; /* pending topic creation */
	unsigned n_items;
	void *items;		/* per-kind result data */
	struct alter_batch *ab; /* ALTER_PARTITIONS: the request */
	unsigned first;		/* ... its changes first..first+n_items */
};

/* ---- walks sliced across loop turns (jobs) ----
 *
 * Anything that may touch an unbounded number of partitions is a job: a
 * keyset walk over an index (store_*_page) that takes one page at a
 * time, decides on it, and proposes that page's changes as one proposal
 * of at most t->page records. The jobs run from an idle handle, round
 * robin, for at most JOB_BUDGET_NS of loop time per iteration, so neither
 * the leader's loop nor a follower's apply of one entry stalls for long,
 * and no decision is ever too large for one raft entry. */

enum job_kind {
	JOB_DEPART,    /* broker leaving: move its leaderships and ISR away */
	JOB_BACK,      /* broker returned: recover offline partitions */
	JOB_REPAIR,    /* partitions led by a broker that may not lead */
	JOB_ELECT,     /* preferred / unclean elections (request, rebalance) */
	JOB_IMBALANCE, /* count off-preferred leaders, then maybe rebalance */
	JOB_ISR_SWEEP, /* takeover: ISRs holding a broker that may not be in
			  one (tp_takeover_sweeps) */
	JOB_OFFLINE,   /* offline partitions that can have a leader now (at
			  takeover, then with each imbalance check) */
};

struct elect_item {
	char topic[256];
	int32_t partition;
	int code;
	int32_t leader;
	unsigned rec; /* record index in its proposal, -1u: none */
};

/* One ELECT_LEADERS request (or automatic rebalance) across pages. */
struct elect_req {
	struct topics *t;
	struct pending *p; /* NULL: automatic rebalance */
	int unclean;
	struct elect_item *items;
	size_t n, cap;
	unsigned elected;
	unsigned looked;
	unsigned holds; /* walks and page proposals not finished, + build */
	int rc;
	int failed;
};

struct job {
	struct job *next;
	enum job_kind kind;
	int32_t broker;
	int64_t tid; /* JOB_ELECT: this topic only; 0: all */
	struct store_pkey cursor;
	brokers_departed_cb done; /* JOB_DEPART */
	void *done_arg;
	struct elect_req *er;	       /* JOB_ELECT */
	uint64_t total, off_preferred; /* JOB_IMBALANCE */
	uint64_t moved, offline;       /* JOB_DEPART, JOB_REPAIR, JOB_BACK,
					  JOB_OFFLINE: leaders proposed elsewhere,
					  partitions left or brought back online */
	uint64_t taken_out;	       /* JOB_ISR_SWEEP: ISRs j->broker left */
	int sweep_next;	 /* JOB_ISR_SWEEP: find the next broker to walk */
	const char *why; /* JOB_OFFLINE: "takeover" or "periodic check" */
	char unclean_topic[256];
	int unclean;
};

struct push_ctx {
	struct topics *t;
	uint64_t index;
	struct bucket *buckets;
	size_t n_buckets, cap_buckets;
	Synod__Wire__PartitionState *states;
	size_t n_states, cap_states;
	Synod__Wire__TopicState *topics;
	size_t n_topics, cap_topics;
	char **strings; /* owned copies */
	size_t n_strings, cap_strings;
	int32_t *ids; /* replicas and ISRs, owned */
	size_t n_ids, cap_ids;
	Synod__Wire__BrokerState *bstates; /* brokers (strings in strings) */
	size_t n_bstates, cap_bstates;
	size_t broker_bytes; /* their estimated packed size */
	int all_brokers;     /* bstates lists every registered broker */
	int failed;
	int nudge_only; /* topic events too large to fan out: nudge */
	/* brokers that asked for every partition (all_partitions): how
	 * many, and whether this entry's states are too large to push to
	 * them all (they are nudged, and fetch) */
	int full_checked, nudge_full;
	size_t full_count;
};

/* ---- pages (METADATA_FETCH, DESCRIBE_TOPICS) ----
 *
 * A cursor is opaque to clients: phase (1 byte), topic number (8),
 * partition (4), version of the first page (8), little endian. */
#define CURSOR_LEN 21
#define PAGE_ROWS 256 /* rows read from the store per query */
/* Rows an answer of every partition's walk (METADATA_FETCH
 * all_partitions) looks at, at most: a catch-up that finds few changes
 * among a million partitions takes many small answers, never one long
 * loop turn. */
#define SCAN_ROWS 16384

struct cursor {
	uint8_t phase;
	int64_t tid;
	int32_t partition;
	uint64_t version;
};

struct alter_batch {
	struct topics *t;
	struct pending *p; /* the request (an AlterPartitionsRequest) */
	struct ab_item *items;
	size_t n;
	unsigned *chg; /* item of each change proposed, in order */
	unsigned n_chg;
	unsigned holds; /* proposals not ended, + the build, + a wait */
	int rc;		/* leadership lost with a proposal in flight */
	/* Items whose partition had a change in flight, decided again once
	 * a read barrier commits (round: barriers waited so far). */
	unsigned *wait, *wait_spare;
	unsigned n_wait, round;
};

/* ---- topics.c ---- */

uint32_t tp_cluster_default(struct topics *t, const char *key);
void tp_handle_create(struct topics *t, struct sconn *sc,
		      const struct frame_header *h,
		      Synod__Wire__CreateTopicsRequest *req);
void tp_topics_free(struct topics *t);

/* ---- topics_load.c ---- */

struct load_entry *tp_load_get(struct topics *t, int32_t id);
void tp_load_invalidate(struct topics *t);
void tp_load_leader_moved(struct topics *t, int32_t from, int32_t to);
int tp_load_replicas(void *arg, int32_t broker, uint64_t count);
int tp_load_leaders(void *arg, int32_t broker, uint64_t count);

/* ---- topics_partitions.c ---- */

void tp_recheck_add(struct topics *t, uint64_t key);
uint64_t tp_ov_key(int64_t tid, int32_t partition);
struct ov_entry *tp_ov_find(struct topics *t, uint64_t key);
void tp_ov_clear(struct topics *t);
void tp_ov_remove(struct topics *t, uint64_t key);
void tp_ov_rollback(struct topics *t, uint64_t owner);
void tp_ov_drop_removed(struct topics *t);
void tp_begin_decision(struct topics *t);
/* The partition's state: its proposed one (*in_flight 1; may be NULL)
 * while a change is in flight, else the committed one. A proposed state
 * that can no longer apply is dropped from the overlay (the store is read
 * too whenever the overlay has an entry). */
int tp_current(struct topics *t, int64_t tid, int32_t partition,
	       struct store_partition *out, int *in_flight);
void tp_to_el(const struct store_partition *p, struct el_partition *e);
int tp_alive(void *arg, int32_t id);
int tp_unclean_allowed(struct topics *t, const char *topic);
Synod__Rec__PartitionRecord *tp_rec_partition(struct recbuf *rb,
					      const struct store_partition *p);
int tp_add_change(struct topics *t, struct recbuf *rb,
		  const struct store_topic *topic,
		  const struct store_partition *before,
		  const struct el_partition *after);
/* A request's or a decision's operation. tp_top_new: one that put
 * nothing in the overlay (a lost proposal of it rolls nothing back);
 * tp_top_decided: the proposal of the current decision (tp_begin_decision),
 * whose overlay entries go if it is lost. */
struct top *tp_top_new(struct topics *t, struct pending *p, waiter_cb cb);
struct top *tp_top_decided(struct topics *t, struct pending *p, waiter_cb cb);
void tp_weigh(struct topics *t, struct top *o, uint64_t w);
void tp_top_free(struct top *o);
void tp_failed_proposal(struct topics *t, struct top *o, int rc);
int tp_propose_internal(struct topics *t, struct recbuf *rb);

/* ---- topics_jobs.c ---- */

int tp_elect_decide(struct topics *t, struct recbuf *rb, int unclean,
		    const struct store_topic *tp,
		    const struct store_partition *cur,
		    struct elect_item **items, size_t *n, size_t *cap,
		    int *failed);
void tp_parked_fail(struct topics *t, int code);
void tp_jobs_kick(struct topics *t);
struct job *tp_job_add(struct topics *t, enum job_kind kind);
int tp_job_exists(struct topics *t, enum job_kind kind, int32_t broker);
void tp_jobs_fail_all(struct topics *t, int rc);
int tp_hook_depart(void *arg, int32_t id, brokers_departed_cb done,
		   void *done_arg);
void tp_hook_back(void *arg, int32_t id);
void tp_repair_sweep(struct topics *t);
/* The takeover's sweeps (topics_jobs.c), queued once per takeover. */
#define SWEEP_OFFLINE 1
#define SWEEP_ISR 2
/* Queue those of t->sweeps_due not queued yet; what cannot be (no memory,
 * not active) stays due for the next tick. */
void tp_takeover_sweeps(struct topics *t);

/* ---- topics_elect.c ---- */

void tp_er_release(struct elect_req *er);
int tp_elect_page_propose(struct topics *t, struct elect_req *er,
			  struct recbuf *rb, struct elect_item *items,
			  size_t n_items);
void tp_handle_elect(struct topics *t, struct sconn *sc,
		     const struct frame_header *h,
		     Synod__Wire__ElectLeadersRequest *req);
void tp_on_rebalance_tick(uv_timer_t *tm);

/* ---- topics_isr.c ---- */

void tp_handle_alter(struct topics *t, struct sconn *sc,
		     const struct frame_header *h,
		     Synod__Wire__AlterPartitionRequest *req);
void tp_handle_alter_batch(struct topics *t, struct sconn *sc,
			   const struct frame_header *h,
			   Synod__Wire__AlterPartitionsRequest *req);

/* ---- topics_push.c ---- */

void *tp_grow(void *p, size_t *cap, size_t need, size_t size, int *failed);
char *tp_keep_str(struct push_ctx *x, const char *s);
void tp_wire_partition(Synod__Wire__PartitionState *w, char *topic,
		       uint8_t *topic_id, const struct store_partition *p);
int tp_push_add_partition(struct push_ctx *x, const struct store_topic *t,
			  const struct store_partition *p);
void tp_push_free(struct push_ctx *x);
void tp_cursor_put(const struct cursor *c, uint8_t *b);
int tp_cursor_get(const ProtobufCBinaryData *d, struct cursor *c);
size_t tp_page_bytes(struct topics *t);
size_t tp_est_partition(const struct store_topic *tp,
			const struct store_partition *p);
void tp_handle_fetch(struct topics *t, struct sconn *sc,
		     const struct frame_header *h,
		     Synod__Wire__MetadataFetchRequest *req);

/* ---- topics_describe.c ---- */

void tp_handle_describe(struct topics *t, struct sconn *sc,
			const struct frame_header *h,
			Synod__Wire__DescribeTopicsRequest *req);

#endif
