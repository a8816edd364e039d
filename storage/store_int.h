/* storage/store_int.h - what the store's files share (internal to
 * storage/; users include store.h only).
 *
 * The store is one struct (below) over one in-memory SQLite database, in
 * three files by table family: store.c (schema, open/close, the apply
 * dispatch, snapshots, meta and configs), store_brokers.c (brokers and
 * their endpoints) and store_topics.c (topics, partitions, replicas,
 * deleted topics). A new family (consumer groups) adds a file of its own:
 * its statements (an enum range here, an SQL array of its own, listed in
 * store.c's prepare_all), its records' apply function (called from
 * store.c's apply_record) and its reads.
 *
 * Conventions: functions here return STORE_* codes and set s->errmsg
 * through st_fail()/st_dbfail(). Statements are prepared once at open
 * (persistent) and reset after each use.
 */
#ifndef SYNOD_STORE_INT_H
#define SYNOD_STORE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "records.pb-c.h"
#include "store.h"

/* Prepared statements, by family; their SQL is in the family's file. */
enum {
	/* cluster, configs, transactions (store.c) */
	ST_SET_META,
	ST_SET_CONFIG,
	ST_DEL_CONFIG,
	ST_GET_CONFIG,
	ST_LIST_ALL,
	ST_LIST_SCOPE,
	ST_LIST_RESOURCE,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_CREQ_GET,
	ST_CREQ_PUT,
	ST_CREQ_PRUNE,
	ST_COUT_PUT,
	ST_COUT_PRUNE,
	ST_CTOP_GET,
	ST_CTOP_PUT,
	ST_CTOP_PRUNE,
	/* brokers (store_brokers.c) */
	ST_BROKER_EPOCH,
	ST_BROKER_PUT,
	ST_ENDPOINTS_DEL,
	ST_ENDPOINT_PUT,
	ST_BROKER_FENCE,
	ST_BROKER_SHUTDOWN,
	ST_BROKER_DEL,
	ST_BROKER_GET,
	ST_BROKER_ALL,
	ST_ENDPOINTS_GET,
	ST_BROKER_STATE,
	ST_LEADS_ANY,
	/* topics and partitions (store_topics.c) */
	ST_TOPIC_BY_NAME,
	ST_TOPIC_BY_ID,
	ST_TOPIC_BY_TID,
	ST_TOPIC_ALL,
	ST_TOPIC_PUT,
	ST_TOPIC_GROW,
	ST_TOPIC_DEL,
	ST_TOPIC_NEXT_TID,
	ST_DELETED_PUT,
	ST_DELETED_SINCE,
	ST_TOPICS_SINCE,
	ST_PART_PUT,
	ST_PART_GET,
	ST_PART_OF_TOPIC,
	ST_PART_DEL_TOPIC,
	ST_REPLICA_PUT,
	ST_REPLICA_DEL,
	ST_BROKER_PARTS,
	ST_BROKER_PARTS_SINCE,
	ST_ALL_PARTS,
	ST_CONFIGS_DEL_RESOURCE,
	ST_REPLICA_COUNTS,
	ST_LEADER_COUNTS,
	ST_BROKER_PARTS_PAGE,
	ST_LEADER_PARTS_PAGE,
	ST_ALL_PARTS_PAGE,
	ST_NEXT_LEADER,
	ST_NEXT_REPLICA_BROKER,
	ST_TOPICS_SINCE_PAGE,
	ST_TOPICS_BY_NAME_PAGE,
	/* consumer groups (store_groups.c) */
	ST_GROUP_GET,
	ST_GROUP_ALL,
	ST_GROUP_PUT,
	ST_GROUP_DEL,
	ST_GMEMBER_PUT,
	ST_GMEMBER_EXISTS,
	ST_GMEMBER_SETS,
	ST_GMEMBER_TARGET,
	ST_GMEMBER_CURRENT,
	ST_GMEMBER_DEL,
	ST_GMEMBERS_OF,
	ST_GMEMBERS_COUNT,
	ST_GOWNED_GET,
	ST_GOWNED_PUT,
	ST_GOWNED_DEL_MEMBER,
	ST_GCONFIGS_DEL,
	ST_COUNT
};

/* Each family's SQL, indexed by statement (NULL where another family
 * defines it). */
extern const char *const st_core_sql[ST_COUNT];
extern const char *const st_broker_sql[ST_COUNT];
extern const char *const st_topic_sql[ST_COUNT];
extern const char *const st_group_sql[ST_COUNT];
/* The group tables, created if missing (open, restore). */
extern const char st_groups_schema[];

/* Decoded partition sets handed to read callbacks (store_groups.c). */
#define ST_GSCRATCH 3
struct st_pset_scratch {
	struct store_gtopic *topics;
	size_t cap_topics;
	int32_t *parts;
	size_t cap_parts;
};

/* Partial indexes that make store_health() O(topics + brokers + the
 * unhealthy partitions): under-replicated ones, and those led by a broker
 * other than their first (preferred) replica. Not state (the digest
 * ignores indexes). The WHERE clauses must match store_health()'s. */
#define ST_UNDER_REPLICATED "length(isr) < length(replicas)"
#define ST_NOT_PREFERRED                                                       \
	"leader <> -1 AND hex(substr(replicas, 1, 4)) <> "                     \
	"printf('%02X%02X%02X%02X', leader & 255, (leader >> 8) & 255, "       \
	"(leader >> 16) & 255, (leader >> 24) & 255)"
#define ST_HEALTH_INDEXES                                                      \
	"CREATE INDEX IF NOT EXISTS partitions_under ON partitions(tid) "      \
	"WHERE " ST_UNDER_REPLICATED ";"                                       \
	"CREATE INDEX IF NOT EXISTS partitions_not_preferred ON "              \
	"partitions(tid) WHERE " ST_NOT_PREFERRED ";"

struct store {
	sqlite3 *db;
	/* store_health()'s last answer, at health_index (0: none). */
	struct store_health health;
	uint64_t health_index;
	struct store_query *queries; /* copies in progress (store_query.c) */
	sqlite3_stmt *stmt[ST_COUNT];
	uint64_t applied_index;
	char cluster_id[64];
	char errmsg[256];
	/* Within one apply: the topic a PartitionChange named last, and
	 * which brokers may lead (most records of an entry share both).
	 * Dropped at the start of every entry and by any record that
	 * changes topics or brokers. */
	int cache_topic_valid;
	struct store_topic cache_topic;
	/* Bumped whenever topics may have changed (store_topics_gen). */
	uint64_t topics_gen;
	/* By id modulo its size: a creation checks every ISR member
	 * (envelope 4), so that a few thousand partitions over a fleet of
	 * brokers take a lookup per broker, not per member. */
	struct {
		int32_t id;
		int usable; /* -1: not cached */
	} cache_brokers[256];
	/* Group reads: decoded partition sets and subscribed names, valid
	 * during a callback (store_groups.c). */
	struct st_pset_scratch gscratch[ST_GSCRATCH];
	const char **gnames;
	size_t gnames_cap;
};

/* Errors: set s->errmsg, return rv (st_dbfail: STORE_EDB with SQLite's
 * message). */
int st_fail(struct store *s, int rv, const char *fmt, ...);
int st_dbfail(struct store *s, const char *what);
/* Step statement i once, reset it and clear its bindings. */
int st_step_done(struct store *s, int i, const char *what);
int st_set_meta_int(struct store *s, const char *key, int64_t v);
void st_put_le32(unsigned char *p, uint32_t v);
uint32_t st_get_le32(const unsigned char *p);
/* Copy text column col into dst (empty when NULL). */
void st_copy_col(char *dst, size_t size, sqlite3_stmt *st, int col);

/* ---- brokers (store_brokers.c) ---- */

/* Envelope versions from which apply enforces a rule (store.h); `env` is
 * the entry's envelope version. */
#define ST_ENV_STRICT 2	  /* partition states, leaderships */
#define ST_ENV_ISR_JOIN 4 /* ISR additions of usable brokers only */
#define ST_ENV_OUTCOME 5  /* client requests keep a failed outcome */

/* Apply a broker record (Register/Fence/Unfence/Shutdown/Unregister). */
int st_apply_broker(struct store *s, const Synod__Rec__Record *r,
		    uint64_t index, uint64_t ts, unsigned env, int *status);
/* Forget the per-entry broker cache (start of an entry, broker change). */
void st_cache_drop(struct store *s);
/* *ok = broker id may lead or join an ISR: registered, unfenced, not
 * shutting down. */
int st_broker_usable(struct store *s, int32_t id, int *ok);
/* *leads = broker id leads at least one partition. */
int st_leads_any(struct store *s, int32_t id, int *leads);

/* ---- consumer groups (store_groups.c) ---- */

/* Apply GroupEpoch, GroupMember, GroupTarget, GroupCurrent,
 * GroupMemberRemove, GroupDelete. */
int st_apply_group(struct store *s, const Synod__Rec__Record *r, int *status);
/* Free the read scratch buffers (close). */
void st_groups_free(struct store *s);

/* ---- topics and partitions (store_topics.c) ---- */

/* Apply CreateTopic, CreatePartitions, RemoveTopic, PartitionChange. */
int st_apply_topic(struct store *s, const Synod__Rec__Record *r, uint64_t index,
		   unsigned env, int *status);

/* End the copies in progress (before the database is replaced or
 * closed). */
void st_queries_abort(struct store *s);

#endif
