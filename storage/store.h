/* storage/store.h - the replicated state machine's SQLite store.
 *
 * A store is one private in-memory SQLite database (memdb VFS) holding schema
 * version 1 of Synod's metadata. Committed raft entries are applied with
 * store_apply(): one transaction per entry, record by record, each record
 * checking its own preconditions. The result is a pure function of the
 * entries applied (and the snapshot restored), never of clocks or the
 * network. Nothing here knows about sockets or raft.
 *
 * Errors: functions return 0 or a STORE_E* code; the last error's text is in
 * store_errmsg(). Per-record outcomes of store_apply() are STORE_R* codes.
 *
 * Ownership: the store owns its database and prepared statements. Strings
 * returned through callbacks are valid only during the callback. Snapshot
 * buffers come from the allocator passed in and belong to the caller.
 * Not thread-safe: one thread (the event loop) uses a store at a time.
 */
#ifndef SYNOD_STORE_H
#define SYNOD_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 1
/* Envelope 2: records are also checked against the partition invariants
 * (STORE_R_REFUSED); entries of envelope 1 replay under the old rules. */
/* Envelope 3: ClientRequest markers (exactly-once client writes); a node
 * of an older build stops at the first such entry instead of applying a
 * resent request twice. */
/* Envelope 4: a record that adds a broker to an ISR (a new partition's
 * ISR, a PartitionChange's members not in the current ISR) is refused
 * unless the broker is registered, unfenced and not shutting down. */
/* Envelope 5: a client request whose records were not all applied (a
 * record refused, stale, invalid or not found) keeps the last such
 * outcome with its marker, and a resend of it reports that outcome for
 * its records instead of STORE_R_DUPLICATE (which handlers answer as a
 * success); one that created topics keeps their ids; a marker inside a
 * marked request is one of its records, STORE_R_INVALID. */
#define STORE_ENVELOPE_VERSION 5

/* Function return codes. */
enum {
	STORE_OK = 0,
	STORE_ENOMEM,	  /* out of memory */
	STORE_EDB,	  /* SQLite failed (see store_errmsg) */
	STORE_EMALFORMED, /* input could not be decoded */
	STORE_EVERSION,	  /* input has a newer format than this build knows */
	STORE_ENOTFOUND,  /* no such item */
	STORE_EREFUSED,	  /* read-only SQL: not a read (store_query_run) */
	STORE_ETIMEOUT,	  /* read-only SQL: past its deadline */
};

/* Per-record apply outcomes (identical on every node). */
enum {
	STORE_R_OK = 0,
	STORE_R_SKIPPED_MALFORMED, /* entry could not be decoded: skipped */
	STORE_R_CLUSTER_MISMATCH,  /* InitCluster with another id */
	STORE_R_NOT_FOUND,	   /* delete of something absent */
	STORE_R_INVALID,	   /* record fields invalid */
	STORE_R_STALE,		   /* epoch precondition failed */
	STORE_R_REFUSED,	   /* would break an invariant (below) */
	STORE_R_DUPLICATE, /* a resent client request, applied before: the
			      records it marks are skipped (ClientRequest);
			      when a record of the first apply failed
			      (envelope 5), they all report the last such
			      failure instead */
};

/* Invariants that apply refuses to break, identically on every node, for
 * entries of envelope version 2 and later (STORE_R_REFUSED):
 * - a partition state has distinct replicas, an ISR of distinct replicas,
 *   and a leader that is -1 (offline) or an ISR member that is
 *   registered, unfenced and not shutting down (CreateTopic,
 *   CreatePartitions, PartitionChange);
 * - a PartitionChange moves the partition epoch by exactly one, never
 *   lowers the leader epoch, and raises it whenever the leader changes;
 * - FenceBroker, BrokerShutdown, UnregisterBroker and a RegisterBroker
 *   (which starts a new, fenced registration) apply only when the broker
 *   leads no partition: the controller moves leaderships away first.
 * - From envelope 4: a broker joins an ISR (CreateTopic,
 *   CreatePartitions, a PartitionChange adding it) only while registered,
 *   unfenced and not shutting down. Members already in the ISR may stay
 *   (the controller removes departed ones itself).
 * - A GroupCurrent never gives a member a partition (assigned or pending
 *   revocation) that another member of its group holds; a GroupDelete
 *   applies only to a group without members; a GroupEpoch never lowers
 *   the group epoch (STORE_R_STALE). These hold for every envelope
 *   version (group records are newer than envelope 2).
 * Together: a fenced, shut-down or unregistered broker never leads, at
 * any applied index. */

/* Config scopes. */
/* Group scope: a consumer group's overrides (resource = group id); they
 * go with the group when it is deleted. */
enum {
	STORE_SCOPE_CLUSTER = 0,
	STORE_SCOPE_TOPIC = 1,
	STORE_SCOPE_GROUP = 2,
	STORE_SCOPE_PRINCIPAL = 3 /* grants of a TLS principal */
};

struct store;

const char *store_strerror(int rv);

/* Open an empty store with schema version 1. *out is owned by the caller
 * and freed with store_close(). */
int store_open(struct store **out);
void store_close(struct store *s);
const char *store_errmsg(const struct store *s);

/* Apply one committed entry (a RecordBatch) at log index `index`.
 * `statuses`, if not NULL, receives one STORE_R* per record, up to
 * `max_statuses`; *n_records (if not NULL) gets the record count.
 * Returns STORE_OK when the entry was applied or deterministically skipped
 * (malformed); STORE_EVERSION when the entry needs a newer build (nothing
 * applied: the node must stop); STORE_EDB/ENOMEM on a local failure
 * (nothing applied, the transaction rolled back). */
int store_apply(struct store *s, uint64_t index, const void *buf, size_t len,
		int *statuses, unsigned max_statuses, unsigned *n_records);
/* The same for an entry already decoded (NULL: it did not decode). The
 * batch stays the caller's. */
struct Synod__Rec__RecordBatch;
int store_apply_batch(struct store *s, uint64_t index,
		      const struct Synod__Rec__RecordBatch *b, int *statuses,
		      unsigned max_statuses, unsigned *n_records);

/* Decode an entry. STORE_OK with *out NULL means malformed (skipped the
 * same way everywhere); STORE_ENOMEM means this node could not allocate
 * and must stop, never skip. *out is freed with
 * synod__rec__record_batch__free_unpacked(*out, NULL). */
int store_decode_batch(const void *buf, size_t len,
		       struct Synod__Rec__RecordBatch **out);

/* Record `index` as applied without a state change. store_apply() uses it
 * for entries it skips as malformed. Barrier and configuration entries do
 * not pass through the store: the metadata version is the index of the
 * last command entry, which is what brokers compare. */
int store_note_index(struct store *s, uint64_t index);

/* Snapshot: a self-describing copy of the database (header + SQLite image).
 * The buffer is allocated with `alloc` and owned by the caller. The copy is
 * one memcpy of the database pages. */
int store_snapshot(struct store *s, void *(*alloc)(size_t), void **buf,
		   size_t *len);
/* Replace the whole database with a snapshot's. On error the old content
 * stays. The buffer is not kept. */
int store_restore(struct store *s, const void *buf, size_t len);

/* Metadata version: index of the last applied log entry (0 when empty). */
uint64_t store_applied_index(const struct store *s);
/* What apply remembers of a client request (ClientRequest markers are
 * kept 10 minutes of entry time). */
struct store_client_request {
	int seen;    /* applied before, still remembered */
	int outcome; /* its records' last outcome that was not
			STORE_R_OK; STORE_R_OK when none failed (always
			for entries older than envelope 5) */
};
/* *out = what is remembered of the client request (client_id: 16 bytes,
 * request: its correlation id); all zero when it is not. */
int store_client_request_get(struct store *s, const uint8_t *client_id,
			     uint64_t request,
			     struct store_client_request *out);
/* The topics that client request created (kept from envelope 5, as
 * long as the request is remembered; none for entries of older
 * envelopes), in name order: cb(arg, name, topic_id[16]) for each, the
 * name kept with its tombstone once it was deleted (both the store's,
 * valid during the call). A nonzero return from cb stops the
 * walk and is returned. */
typedef int (*store_kept_topic_cb)(void *arg, const char *name,
				   const uint8_t *topic_id);
int store_client_request_topics(struct store *s, const uint8_t *client_id,
				uint64_t request, store_kept_topic_cb cb,
				void *arg);
/* Changes whenever a topic record is applied or an image restored: what a
 * caller cached about topics (ids, partition counts) is stale when it
 * differs from the value it cached it under. */
uint64_t store_topics_gen(const struct store *s);

/* Cluster id ("" before InitCluster is applied). Owned by the store. */
const char *store_cluster_id(const struct store *s);
/* Size in bytes of the database image. */
size_t store_db_size(struct store *s);

/* Typed access to configs. */
typedef int (*store_config_cb)(void *arg, unsigned scope, const char *resource,
			       const char *key, const char *value);
/* *value (malloc'd, caller frees) or STORE_ENOTFOUND. */
int store_config_get(struct store *s, unsigned scope, const char *resource,
		     const char *key, char **value);
/* Every config of `scope` (or all scopes when scope < 0) and `resource`
 * (all resources when NULL), ordered by scope, resource, key. A non-zero
 * return from cb stops the walk and is returned. */
int store_config_list(struct store *s, int scope, const char *resource,
		      store_config_cb cb, void *arg);

/* Brokers. A registration's epoch is the log index of its entry. */
#define STORE_MAX_ENDPOINTS 8
struct store_endpoint {
	char name[32];
	char host[256];
	uint16_t port;
	char security_protocol[32];
};
struct store_broker {
	int32_t id;
	uint64_t epoch;
	char incarnation_id[40];
	char rack[64];
	int has_rack;
	int fenced;
	int shutting_down;
	uint64_t registered_ms; /* leader's wall clock at registration */
	unsigned n_endpoints;
	struct store_endpoint endpoints[STORE_MAX_ENDPOINTS];
};
/* STORE_OK with *out filled, or STORE_ENOTFOUND. */
int store_broker_get(struct store *s, int32_t id, struct store_broker *out);
/* Every broker by id; a non-zero return from cb stops and is returned.
 * The struct is valid during the call only. */
typedef int (*store_broker_cb)(void *arg, const struct store_broker *b);
int store_broker_list(struct store *s, store_broker_cb cb, void *arg);

/* Topics and partitions. tid is a small integer key internal to the store
 * (stable for a topic's life); topic_id the 16-byte id clients see. */
#define STORE_MAX_REPLICAS 32
struct store_topic {
	char name[256];
	uint8_t topic_id[16];
	int64_t tid;
	uint32_t n_partitions;
	uint64_t created_index;
	uint64_t version; /* last change of the topic itself (or deletion) */
};
struct store_partition {
	int32_t partition;
	int32_t leader; /* -1: offline */
	uint32_t leader_epoch;
	uint32_t partition_epoch;
	uint32_t n_replicas, n_isr;
	int32_t replicas[STORE_MAX_REPLICAS];
	int32_t isr[STORE_MAX_REPLICAS];
	uint64_t version; /* log index of its last change */
};
typedef int (*store_topic_cb)(void *arg, const struct store_topic *t);
/* For joined walks the topic carries name, topic_id, tid and
 * n_partitions only. Structs are valid during the call. */
typedef int (*store_partition_cb)(void *arg, const struct store_topic *t,
				  const struct store_partition *p);
int store_topic_get(struct store *s, const char *name, struct store_topic *out);
int store_topic_get_by_id(struct store *s, const uint8_t id[16],
			  struct store_topic *out);
int store_topic_get_by_tid(struct store *s, int64_t tid,
			   struct store_topic *out);
int store_topic_list(struct store *s, store_topic_cb cb, void *arg);
int store_partition_get(struct store *s, int64_t tid, int32_t partition,
			struct store_partition *out);
/* One topic's partitions, in order. */
int store_partition_list(struct store *s, const struct store_topic *t,
			 store_partition_cb cb, void *arg);
/* Every partition, by topic name then partition. */
int store_partitions_all(struct store *s, store_partition_cb cb, void *arg);
/* Partitions broker replicates (changed after since_version; 0: all). */
int store_broker_partitions(struct store *s, int32_t broker,
			    uint64_t since_version, store_partition_cb cb,
			    void *arg);
/* Topics created or grown after since_version (live; NULL: skip them),
 * and, when since_version > 0, topics deleted after it (deleted: name,
 * topic_id and version = deletion index). */
int store_topics_since(struct store *s, uint64_t since_version,
		       store_topic_cb live, store_topic_cb deleted, void *arg);

/* Keyset pages in (tid, partition) order: rows after *after (start with
 * {0, -1}), at most `limit`; *after moves to the last row returned and *n
 * counts the rows (fewer than limit: the walk is done). Each page costs
 * its own rows, so a walk over a million partitions can be spread over
 * many loop turns. */
struct store_pkey {
	int64_t tid;
	int32_t partition;
};
/* Partitions broker replicates. */
int store_broker_partitions_page(struct store *s, int32_t broker,
				 struct store_pkey *after, unsigned limit,
				 unsigned *n, store_partition_cb cb, void *arg);
/* The same, only those changed after since_version. */
int store_broker_partitions_since_page(struct store *s, int32_t broker,
				       uint64_t since_version,
				       struct store_pkey *after, unsigned limit,
				       unsigned *n, store_partition_cb cb,
				       void *arg);
/* Topics created or grown after since_version with tid > *after_tid, in
 * tid order (start with 0); *after_tid moves to the last one returned. */
int store_topics_since_page(struct store *s, uint64_t since_version,
			    int64_t *after_tid, unsigned limit, unsigned *n,
			    store_topic_cb cb, void *arg);
/* Topics by name after after_name ("" to start), which moves to the last
 * name returned (size: its buffer). */
int store_topics_page(struct store *s, char *after_name, size_t size,
		      unsigned limit, unsigned *n, store_topic_cb cb,
		      void *arg);
/* Partitions led by `leader`. */
int store_leader_partitions_page(struct store *s, int32_t leader,
				 struct store_pkey *after, unsigned limit,
				 unsigned *n, store_partition_cb cb, void *arg);
/* Every partition. */
int store_partitions_page(struct store *s, struct store_pkey *after,
			  unsigned limit, unsigned *n, store_partition_cb cb,
			  void *arg);
/* The smallest broker id > after that leads a partition (STORE_ENOTFOUND:
 * none), through an index: enumerating leaders costs O(brokers log n). */
int store_next_leader(struct store *s, int32_t after, int32_t *leader);
/* The smallest broker id > after that is a replica of some partition
 * (registered or not), through the replicas table's key: O(log n) each. */
int store_next_replica_broker(struct store *s, int32_t after, int32_t *broker);
/* *leads = 1 when broker id leads at least one partition. */
int store_broker_leads(struct store *s, int32_t id, int *leads);

/* Per broker: how many partitions it replicates / leads. */
typedef int (*store_count_cb)(void *arg, int32_t broker, uint64_t count);
int store_replica_counts(struct store *s, store_count_cb cb, void *arg);
int store_leader_counts(struct store *s, store_count_cb cb, void *arg);

/* A digest of all table contents, every row in key order (FNV-1a, 64
 * bits: for comparing replicas, not for security): equal on replicas at
 * the same applied index. Reads everything: O(state). NODE_STATUS
 * reports it when asked (with_digest). */
int store_digest(struct store *s, uint64_t *digest);

/* ---- consumer groups (docs/groups.md) ---- */

/* A set of partitions: per topic (by id), its partition numbers. */
struct store_gtopic {
	const uint8_t *topic_id; /* 16 bytes */
	uint32_t n;
	const int32_t *partitions;
};
struct store_pset {
	const struct store_gtopic *topics;
	uint32_t n_topics;
};

struct store_group {
	const char *group_id;
	int32_t group_epoch;
	int32_t assignment_epoch; /* group epoch of the target assignment */
	const char *assignor;
};

/* A member: what it asked for (GroupMember), its target (GroupTarget) and
 * where its reconciliation stands (GroupCurrent). Optional strings are
 * NULL when unset. */
struct store_group_member {
	const char *group_id, *member_id;
	const char *instance_id, *rack, *client_id, *client_host;
	int32_t rebalance_timeout_ms;
	const char *const *subscribed_names;
	uint32_t n_subscribed;
	const char *subscribed_regex, *server_assignor;
	int32_t member_epoch, previous_epoch;
	uint32_t state; /* 0 stable, 1 unrevoked, 2 unreleased */
	struct store_pset target, assigned, pending;
};

/* Everything passed to these callbacks is valid during the call only. A
 * non-zero return stops the walk and is returned. */
typedef int (*store_group_cb)(void *arg, const struct store_group *g);
typedef int (*store_member_cb)(void *arg, const struct store_group_member *m);
/* One group: cb once, or STORE_ENOTFOUND. */
int store_group_get(struct store *s, const char *group_id, store_group_cb cb,
		    void *arg);
/* Every group, by id. */
int store_group_list(struct store *s, store_group_cb cb, void *arg);
/* Every member of a group, by member id. */
int store_group_members(struct store *s, const char *group_id,
			store_member_cb cb, void *arg);
/* Who holds (assigned or pending revocation) a partition in a group:
 * STORE_OK with its member id in member, or STORE_ENOTFOUND. */
int store_group_owner(struct store *s, const char *group_id,
		      const uint8_t topic_id[16], int32_t partition,
		      char *member, size_t size);

/* ---- Health figures (NODE_STATUS, /metrics) ---- */
struct store_health {
	uint64_t topics;
	uint64_t partitions;
	uint64_t offline;	   /* leader -1 */
	uint64_t under_replicated; /* ISR smaller than the replicas */
	uint64_t not_preferred;	   /* led by other than the first replica */
	uint64_t brokers;	   /* registered */
	uint64_t brokers_fenced;   /* and not shutting down */
	uint64_t brokers_shutting_down; /* (fenced or not) */
};
/* The figures at the current applied index: computed again only when the
 * state changed since the last call, through indexes (O(topics + brokers
 * + unhealthy partitions)). STORE_OK or STORE_EDB. */
int store_health(struct store *s, struct store_health *out);

/* ---- Read-only SQL (docs/operations.md "Read-only SQL") ----
 *
 * A query runs on a copy of the store, never on the store itself:
 * store_query_new() starts the copy, store_query_copy() copies up to
 * `pages` pages (4 KiB each) per call (on the store's thread, sliced by
 * the caller across loop turns; writes in between are carried into the
 * copy), and store_query_run() runs the query on the copy (any one
 * thread; the store is not touched). The copy offers the views
 * partition_states and replica_brokers and the function synod_ids(blob).
 * Only one SELECT (or WITH) statement; no writes, ATTACH, transactions or
 * pragmas other than table_info, table_xinfo, table_list, index_list and
 * index_info. Stopped at the deadline (STORE_ETIMEOUT); rows past the
 * limits are cut off (store_query_truncated says so).
 *
 * Ownership: the query is the caller's (store_query_free); a store being
 * restored or closed ends the copies in progress (their store_query_copy
 * then fails with the reason). Names and cells returned stay valid until
 * store_query_free. */
struct store_query;
struct store_query_limits {
	unsigned max_rows;
	size_t max_bytes; /* of the answer's values */
	unsigned timeout_ms;
};
struct store_query_cell {
	int type; /* SQLITE_INTEGER (1), FLOAT (2), TEXT (3), BLOB (4), NULL
		     (5) */
	int64_t i;
	double f;
	char *data; /* text or blob, NUL-terminated */
	size_t len;
};
/* STORE_OK, or STORE_EMALFORMED (empty or above 8 KiB: store_errmsg),
 * STORE_ENOMEM, STORE_EDB. */
int store_query_new(struct store *s, const char *sql,
		    const struct store_query_limits *lim,
		    struct store_query **out);
/* 1 while pages remain, STORE_OK when the copy is complete, STORE_EDB
 * when it failed (store_query_errmsg). */
int store_query_copy(struct store_query *q, int pages);
/* STORE_OK; STORE_EREFUSED (not a read), STORE_ETIMEOUT, STORE_EMALFORMED
 * (does not compile, or more than one statement), STORE_EDB, STORE_ENOMEM:
 * the reason in store_query_errmsg. Frees the copy before returning (the
 * answer stays): run it once. */
int store_query_run(struct store_query *q);
const char *store_query_errmsg(const struct store_query *q);
unsigned store_query_columns(const struct store_query *q, char ***names);
/* Rows; cells row-major (rows x columns). */
size_t store_query_rows(const struct store_query *q,
			const struct store_query_cell **cells);
/* Why rows were cut off, or NULL. */
const char *store_query_truncated(const struct store_query *q);
/* The store's applied index when the copy completed. */
uint64_t store_query_index(const struct store_query *q);
void store_query_free(struct store_query *q);

#endif
