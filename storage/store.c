/* storage/store.c - SQLite store: schema, apply, snapshot, typed access. */
#include "store.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records.pb-c.h"

#define SNAP_MAGIC "SYNODSN1"
#define SNAP_HEADER 24 /* magic(8) format(4) flags(4) length(8) */
#define SNAP_FORMAT 1
#define MEMDB_MAX ((sqlite3_int64)64 << 30)

enum {
	ST_SET_META,
	ST_SET_CONFIG,
	ST_DEL_CONFIG,
	ST_GET_CONFIG,
	ST_LIST_ALL,
	ST_LIST_SCOPE,
	ST_LIST_RESOURCE,
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
	ST_BROKER_STATE,
	ST_LEADS_ANY,
	ST_BROKER_PARTS_PAGE,
	ST_LEADER_PARTS_PAGE,
	ST_ALL_PARTS_PAGE,
	ST_NEXT_LEADER,
	ST_TOPICS_SINCE_PAGE,
	ST_TOPICS_BY_NAME_PAGE,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_SET_META] = "INSERT INTO meta(key, value) VALUES(?1, ?2) "
		    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [ST_SET_CONFIG] =
	"INSERT INTO configs(scope, resource, key, value) "
	"VALUES(?1, ?2, ?3, ?4) ON CONFLICT(scope, resource, key) "
	"DO UPDATE SET value = excluded.value",
    [ST_DEL_CONFIG] = "DELETE FROM configs WHERE scope = ?1 AND resource = ?2 "
		      "AND key = ?3",
    [ST_GET_CONFIG] = "SELECT value FROM configs WHERE scope = ?1 AND "
		      "resource = ?2 AND key = ?3",
    [ST_LIST_ALL] = "SELECT scope, resource, key, value FROM configs "
		    "ORDER BY scope, resource, key",
    [ST_LIST_SCOPE] = "SELECT scope, resource, key, value FROM configs "
		      "WHERE scope = ?1 ORDER BY scope, resource, key",
    [ST_LIST_RESOURCE] = "SELECT scope, resource, key, value FROM configs "
			 "WHERE scope = ?1 AND resource = ?2 ORDER BY key",
    [ST_BROKER_EPOCH] = "SELECT epoch FROM brokers WHERE id = ?1",
    [ST_BROKER_PUT] = "INSERT OR REPLACE INTO brokers(id, epoch, "
		      "incarnation_id, rack, fenced, shutting_down, "
		      "registered_ms) VALUES(?1, ?2, ?3, ?4, 1, 0, ?5)",
    [ST_ENDPOINTS_DEL] = "DELETE FROM broker_endpoints WHERE broker_id = ?1",
    [ST_ENDPOINT_PUT] = "INSERT OR REPLACE INTO broker_endpoints(broker_id, "
			"name, host, port, security_protocol) "
			"VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_BROKER_FENCE] = "UPDATE brokers SET fenced = ?3 WHERE id = ?1 AND "
			"epoch = ?2",
    [ST_BROKER_SHUTDOWN] =
	"UPDATE brokers SET shutting_down = 1, fenced = 1 WHERE "
	"id = ?1 AND epoch = ?2",
    [ST_BROKER_DEL] = "DELETE FROM brokers WHERE id = ?1 AND "
		      "(?2 = 0 OR epoch = ?2)",
    [ST_BROKER_GET] = "SELECT id, epoch, incarnation_id, rack, fenced, "
		      "shutting_down, registered_ms FROM brokers WHERE id = ?1",
    [ST_BROKER_ALL] = "SELECT id, epoch, incarnation_id, rack, fenced, "
		      "shutting_down, registered_ms FROM brokers ORDER BY id",
    [ST_ENDPOINTS_GET] = "SELECT name, host, port, security_protocol FROM "
			 "broker_endpoints WHERE broker_id = ?1 ORDER BY name",
    [ST_TOPIC_BY_NAME] = "SELECT name, topic_id, tid, n_partitions, "
			 "created_index, version FROM topics WHERE name = ?1",
    [ST_TOPIC_BY_ID] = "SELECT name, topic_id, tid, n_partitions, "
		       "created_index, version FROM topics WHERE topic_id = ?1",
    [ST_TOPIC_BY_TID] = "SELECT name, topic_id, tid, n_partitions, "
			"created_index, version FROM topics WHERE tid = ?1",
    [ST_TOPIC_ALL] = "SELECT name, topic_id, tid, n_partitions, "
		     "created_index, version FROM topics ORDER BY name",
    [ST_TOPIC_PUT] = "INSERT INTO topics(name, topic_id, tid, n_partitions, "
		     "created_index, version) VALUES(?1, ?2, ?3, ?4, ?5, ?5)",
    [ST_TOPIC_GROW] = "UPDATE topics SET n_partitions = ?2, version = ?3 "
		      "WHERE tid = ?1",
    [ST_TOPIC_DEL] = "DELETE FROM topics WHERE tid = ?1",
    [ST_TOPIC_NEXT_TID] =
	"SELECT MAX(COALESCE((SELECT MAX(tid) FROM topics), 0), "
	"COALESCE((SELECT value FROM meta WHERE key = 'last_tid'), 0)) + 1",
    [ST_DELETED_PUT] = "INSERT OR REPLACE INTO deleted_topics(topic_id, name, "
		       "deleted_index) VALUES(?1, ?2, ?3)",
    [ST_DELETED_SINCE] = "SELECT name, topic_id, deleted_index FROM "
			 "deleted_topics WHERE deleted_index > ?1",
    [ST_TOPICS_SINCE] = "SELECT name, topic_id, tid, n_partitions, "
			"created_index, version FROM topics WHERE version > ?1",
    [ST_PART_PUT] = "INSERT OR REPLACE INTO partitions(tid, partition, "
		    "replicas, isr, leader, leader_epoch, partition_epoch, "
		    "version) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_PART_GET] = "SELECT partition, replicas, isr, leader, leader_epoch, "
		    "partition_epoch, version FROM partitions WHERE tid = ?1 "
		    "AND partition = ?2",
    [ST_PART_OF_TOPIC] = "SELECT partition, replicas, isr, leader, "
			 "leader_epoch, partition_epoch, version FROM "
			 "partitions WHERE tid = ?1 ORDER BY partition",
    [ST_PART_DEL_TOPIC] = "DELETE FROM partitions WHERE tid = ?1",
    [ST_REPLICA_PUT] = "INSERT OR IGNORE INTO replicas(broker, tid, "
		       "partition) VALUES(?1, ?2, ?3)",
    [ST_REPLICA_DEL] = "DELETE FROM replicas WHERE broker = ?1 AND tid = ?2 "
		       "AND partition = ?3",
    [ST_BROKER_PARTS] =
	"SELECT p.partition, p.replicas, p.isr, p.leader, p.leader_epoch, "
	"p.partition_epoch, p.version, t.name, t.topic_id, t.tid, "
	"t.n_partitions FROM replicas r JOIN partitions p ON p.tid = r.tid "
	"AND p.partition = r.partition JOIN topics t ON t.tid = r.tid "
	"WHERE r.broker = ?1",
    [ST_BROKER_PARTS_SINCE] =
	"SELECT p.partition, p.replicas, p.isr, p.leader, p.leader_epoch, "
	"p.partition_epoch, p.version, t.name, t.topic_id, t.tid, "
	"t.n_partitions FROM replicas r JOIN partitions p ON p.tid = r.tid "
	"AND p.partition = r.partition JOIN topics t ON t.tid = r.tid "
	"WHERE r.broker = ?1 AND p.version > ?2",
    [ST_ALL_PARTS] =
	"SELECT p.partition, p.replicas, p.isr, p.leader, p.leader_epoch, "
	"p.partition_epoch, p.version, t.name, t.topic_id, t.tid, "
	"t.n_partitions FROM partitions p JOIN topics t ON t.tid = p.tid "
	"ORDER BY t.name, p.partition",
    [ST_CONFIGS_DEL_RESOURCE] = "DELETE FROM configs WHERE scope = 1 AND "
				"resource = ?1",
    [ST_REPLICA_COUNTS] = "SELECT broker, COUNT(*) FROM replicas GROUP BY "
			  "broker",
    [ST_LEADER_COUNTS] = "SELECT leader, COUNT(*) FROM partitions GROUP BY "
			 "leader",
    [ST_BROKER_STATE] = "SELECT fenced, shutting_down FROM brokers WHERE "
			"id = ?1",
    /* Both use the partitions_leader index: O(log n), not a scan. */
    [ST_LEADS_ANY] = "SELECT 1 FROM partitions WHERE leader = ?1 LIMIT 1",
    [ST_NEXT_LEADER] = "SELECT MIN(leader) FROM partitions WHERE leader > ?1",
    /* Pages in (tid, partition) order after a cursor: keyset pagination
     * over an index, so each page costs its own rows only. */
    [ST_BROKER_PARTS_PAGE] =
	"SELECT p.partition, p.replicas, p.isr, p.leader, p.leader_epoch, "
	"p.partition_epoch, p.version, t.name, t.topic_id, t.tid, "
	"t.n_partitions FROM replicas r JOIN partitions p ON p.tid = r.tid "
	"AND p.partition = r.partition JOIN topics t ON t.tid = r.tid "
	"WHERE r.broker = ?1 AND (r.tid, r.partition) > (?2, ?3) "
	"AND p.version > ?5 ORDER BY r.tid, r.partition LIMIT ?4",
    [ST_LEADER_PARTS_PAGE] =
	"SELECT p.partition, p.replicas, p.isr, p.leader, p.leader_epoch, "
	"p.partition_epoch, p.version, t.name, t.topic_id, t.tid, "
	"t.n_partitions FROM partitions p JOIN topics t ON t.tid = p.tid "
	"WHERE p.leader = ?1 AND (p.tid, p.partition) > (?2, ?3) "
	"ORDER BY p.tid, p.partition LIMIT ?4",
    [ST_ALL_PARTS_PAGE] =
	"SELECT p.partition, p.replicas, p.isr, p.leader, p.leader_epoch, "
	"p.partition_epoch, p.version, t.name, t.topic_id, t.tid, "
	"t.n_partitions FROM partitions p JOIN topics t ON t.tid = p.tid "
	"WHERE (p.tid, p.partition) > (?1, ?2) "
	"ORDER BY p.tid, p.partition LIMIT ?3",
    [ST_TOPICS_SINCE_PAGE] = "SELECT name, topic_id, tid, n_partitions, "
			     "created_index, version FROM topics WHERE "
			     "version > ?1 AND tid > ?2 ORDER BY tid LIMIT ?3",
    [ST_TOPICS_BY_NAME_PAGE] = "SELECT name, topic_id, tid, n_partitions, "
			       "created_index, version FROM topics WHERE "
			       "name > ?1 ORDER BY name LIMIT ?2",
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/* Schema version 1. Replicas and ISRs are packed little-endian int32 arrays
 * (compact at a million partitions). Later issues fill the tables that only
 * exist here so far. */
static const char schema_v1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE brokers("
    " id INTEGER PRIMARY KEY, epoch INTEGER NOT NULL,"
    " incarnation_id TEXT NOT NULL, rack TEXT,"
    " fenced INTEGER NOT NULL DEFAULT 1,"
    " shutting_down INTEGER NOT NULL DEFAULT 0,"
    " registered_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE broker_endpoints("
    " broker_id INTEGER NOT NULL, name TEXT NOT NULL, host TEXT NOT NULL,"
    " port INTEGER NOT NULL, security_protocol TEXT NOT NULL,"
    " PRIMARY KEY(broker_id, name)) WITHOUT ROWID;"
    "CREATE TABLE topics("
    " name TEXT PRIMARY KEY, topic_id BLOB NOT NULL UNIQUE,"
    " tid INTEGER NOT NULL UNIQUE, n_partitions INTEGER NOT NULL,"
    " created_index INTEGER NOT NULL, version INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    /* tid: a small integer key for partitions (not the 16-byte id) */
    "CREATE TABLE partitions("
    " tid INTEGER NOT NULL, partition INTEGER NOT NULL,"
    " replicas BLOB NOT NULL, isr BLOB NOT NULL,"
    " leader INTEGER NOT NULL, leader_epoch INTEGER NOT NULL,"
    " partition_epoch INTEGER NOT NULL, version INTEGER NOT NULL,"
    " PRIMARY KEY(tid, partition)) WITHOUT ROWID;"
    /* which partitions each broker replicates */
    "CREATE TABLE replicas("
    " broker INTEGER NOT NULL, tid INTEGER NOT NULL,"
    " partition INTEGER NOT NULL,"
    " PRIMARY KEY(broker, tid, partition)) WITHOUT ROWID;"
    "CREATE TABLE deleted_topics("
    " topic_id BLOB PRIMARY KEY, name TEXT NOT NULL,"
    " deleted_index INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE configs("
    " scope INTEGER NOT NULL, resource TEXT NOT NULL, key TEXT NOT NULL,"
    " value TEXT NOT NULL, PRIMARY KEY(scope, resource, key)) WITHOUT ROWID;"
    "CREATE TABLE groups("
    " group_id TEXT PRIMARY KEY, group_epoch INTEGER NOT NULL,"
    " assignment_epoch INTEGER NOT NULL DEFAULT 0, assignor TEXT,"
    " state TEXT NOT NULL DEFAULT 'empty') WITHOUT ROWID;"
    "CREATE TABLE members("
    " group_id TEXT NOT NULL, member_id TEXT NOT NULL,"
    " member_epoch INTEGER NOT NULL, instance_id TEXT, rack TEXT,"
    " client_id TEXT, subscribed_topics TEXT,"
    " PRIMARY KEY(group_id, member_id)) WITHOUT ROWID;"
    "CREATE TABLE assignments("
    " group_id TEXT NOT NULL, member_id TEXT NOT NULL,"
    " topic_id BLOB NOT NULL, partition INTEGER NOT NULL,"
    " PRIMARY KEY(group_id, topic_id, partition)) WITHOUT ROWID;"
    "CREATE INDEX assignments_member ON assignments(group_id, member_id);"
    "CREATE INDEX partitions_leader ON partitions(leader);"
    "INSERT INTO meta(key, value) VALUES('schema_version', 1),"
    " ('applied_index', 0), ('cluster_id', ''), ('timestamp_ms', 0);";

static const char *const digest_tables[] = {
    "SELECT * FROM meta ORDER BY key",
    "SELECT * FROM brokers ORDER BY id",
    "SELECT * FROM broker_endpoints ORDER BY broker_id, name",
    "SELECT * FROM topics ORDER BY name",
    "SELECT * FROM partitions ORDER BY tid, partition",
    "SELECT * FROM replicas ORDER BY broker, tid, partition",
    "SELECT * FROM deleted_topics ORDER BY topic_id",
    "SELECT * FROM configs ORDER BY scope, resource, key",
    "SELECT * FROM groups ORDER BY group_id",
    "SELECT * FROM members ORDER BY group_id, member_id",
    "SELECT * FROM assignments ORDER BY group_id, topic_id, partition",
};

struct store {
	sqlite3 *db;
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
	struct {
		int32_t id;
		int usable; /* -1: not cached */
	} cache_brokers[16];
};

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_le32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

const char *store_strerror(int rv)
{
	switch (rv) {
	case STORE_OK:
		return "ok";
	case STORE_ENOMEM:
		return "out of memory";
	case STORE_EDB:
		return "database error";
	case STORE_EMALFORMED:
		return "malformed input";
	case STORE_EVERSION:
		return "format version newer than this build supports";
	case STORE_ENOTFOUND:
		return "not found";
	default:
		return "unknown error";
	}
}

static int fail(struct store *s, int rv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
	return rv;
}

static int dbfail(struct store *s, const char *what)
{
	return fail(s, STORE_EDB, "%s: %s", what, sqlite3_errmsg(s->db));
}

const char *store_errmsg(const struct store *s)
{
	return s->errmsg;
}

static void finalize_all(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(s->stmt[i]);
		s->stmt[i] = NULL;
	}
}

static int prepare_all(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
				       NULL) != SQLITE_OK)
			return dbfail(s, "prepare");
	}
	return STORE_OK;
}

static void set_limits(struct store *s)
{
	sqlite3_int64 limit = MEMDB_MAX;
	sqlite3_file_control(s->db, "main", SQLITE_FCNTL_SIZE_LIMIT, &limit);
}

/* Reload the cached meta values after open or restore. */
static int load_meta(struct store *s)
{
	sqlite3_stmt *st;
	int rv = STORE_OK;
	long long version = -1;
	if (sqlite3_prepare_v2(s->db, "SELECT key, value FROM meta", -1, &st,
			       NULL) != SQLITE_OK)
		return dbfail(s, "read meta");
	s->applied_index = 0;
	s->cluster_id[0] = '\0';
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		if (k == NULL)
			continue;
		if (strcmp(k, "applied_index") == 0)
			s->applied_index =
			    (uint64_t)sqlite3_column_int64(st, 1);
		else if (strcmp(k, "schema_version") == 0)
			version = sqlite3_column_int64(st, 1);
		else if (strcmp(k, "cluster_id") == 0) {
			const char *v =
			    (const char *)sqlite3_column_text(st, 1);
			snprintf(s->cluster_id, sizeof s->cluster_id, "%s",
				 v ? v : "");
		}
	}
	sqlite3_finalize(st);
	if (version < 1)
		rv = fail(s, STORE_EMALFORMED, "no schema version in store");
	else if (version > STORE_SCHEMA_VERSION)
		rv = fail(s, STORE_EVERSION,
			  "store schema version %lld is newer than %d", version,
			  STORE_SCHEMA_VERSION);
	return rv;
}

static int exec_pragmas(struct store *s)
{
	if (sqlite3_exec(s->db,
			 "PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;"
			 "PRAGMA foreign_keys=OFF;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return dbfail(s, "pragma");
	return STORE_OK;
}

/* Indexes that are not state (the digest ignores them): created when an
 * image from an older build lacks them. */
static int ensure_indexes(struct store *s)
{
	if (sqlite3_exec(s->db,
			 "CREATE INDEX IF NOT EXISTS partitions_leader ON "
			 "partitions(leader)",
			 NULL, NULL, NULL) != SQLITE_OK)
		return dbfail(s, "create index");
	return STORE_OK;
}

static void cache_drop(struct store *s);

int store_open(struct store **out)
{
	struct store *s;
	int rv;
	/* Before first use only; ignored (SQLITE_MISUSE) afterwards. */
	sqlite3_config(SQLITE_CONFIG_MEMDB_MAXSIZE, MEMDB_MAX);
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return STORE_ENOMEM;
	if (sqlite3_open_v2("synod.db", &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    "memdb") != SQLITE_OK) {
		rv = STORE_EDB;
		goto err;
	}
	set_limits(s);
	if ((rv = exec_pragmas(s)) != 0)
		goto err;
	if (sqlite3_exec(s->db, schema_v1, NULL, NULL, NULL) != SQLITE_OK) {
		rv = dbfail(s, "create schema");
		goto err;
	}
	if ((rv = prepare_all(s)) != 0 || (rv = load_meta(s)) != 0)
		goto err;
	cache_drop(s);
	*out = s;
	return STORE_OK;
err:
	store_close(s);
	return rv;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	finalize_all(s);
	sqlite3_close(s->db);
	free(s);
}

static int step_done(struct store *s, int i, const char *what)
{
	int rc = sqlite3_step(s->stmt[i]);
	sqlite3_reset(s->stmt[i]);
	sqlite3_clear_bindings(s->stmt[i]);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return dbfail(s, what);
	return STORE_OK;
}

static int set_meta_int(struct store *s, const char *key, int64_t v)
{
	sqlite3_bind_text(s->stmt[ST_SET_META], 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->stmt[ST_SET_META], 2, v);
	return step_done(s, ST_SET_META, "set meta");
}

static int set_meta_text(struct store *s, const char *key, const char *v)
{
	sqlite3_bind_text(s->stmt[ST_SET_META], 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->stmt[ST_SET_META], 2, v, -1, SQLITE_STATIC);
	return step_done(s, ST_SET_META, "set meta");
}

static const char *resource_of(unsigned scope, const char *resource)
{
	return scope == STORE_SCOPE_CLUSTER || resource == NULL ? "" : resource;
}

static int apply_broker(struct store *s, const Synod__Rec__Record *r,
			uint64_t index, uint64_t ts, int strict, int *status);
static int apply_topic(struct store *s, const Synod__Rec__Record *r,
		       uint64_t index, int strict, int *status);

/* strict: the entry's envelope is version 2 or later, whose records are
 * also checked against the partition invariants (store.h). Entries of
 * version 1 replay under the rules they were written with. */
static int apply_record(struct store *s, const Synod__Rec__Record *r,
			uint64_t index, uint64_t ts, int strict, int *status)
{
	*status = STORE_R_OK;
	switch (r->body_case) {
	case SYNOD__REC__RECORD__BODY_INIT_CLUSTER: {
		const char *id = r->init_cluster->cluster_id;
		if (id[0] == '\0' || strlen(id) >= sizeof s->cluster_id) {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
		if (s->cluster_id[0] != '\0') {
			if (strcmp(s->cluster_id, id) != 0)
				*status = STORE_R_CLUSTER_MISMATCH;
			return STORE_OK;
		}
		int rv = set_meta_text(s, "cluster_id", id);
		if (rv == STORE_OK)
			snprintf(s->cluster_id, sizeof s->cluster_id, "%s", id);
		return rv;
	}
	case SYNOD__REC__RECORD__BODY_SET_CONFIG: {
		const Synod__Rec__SetConfig *c = r->set_config;
		if (c->scope > STORE_SCOPE_TOPIC || c->key[0] == '\0') {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
		sqlite3_stmt *st = s->stmt[ST_SET_CONFIG];
		sqlite3_bind_int(st, 1, (int)c->scope);
		sqlite3_bind_text(st, 2, resource_of(c->scope, c->resource), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, c->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, c->value, -1, SQLITE_STATIC);
		return step_done(s, ST_SET_CONFIG, "set config");
	}
	case SYNOD__REC__RECORD__BODY_DELETE_CONFIG: {
		const Synod__Rec__DeleteConfig *c = r->delete_config;
		sqlite3_stmt *st = s->stmt[ST_DEL_CONFIG];
		int rv;
		if (c->scope > STORE_SCOPE_TOPIC || c->key[0] == '\0') {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
		sqlite3_bind_int(st, 1, (int)c->scope);
		sqlite3_bind_text(st, 2, resource_of(c->scope, c->resource), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, c->key, -1, SQLITE_STATIC);
		rv = step_done(s, ST_DEL_CONFIG, "delete config");
		if (rv == STORE_OK && sqlite3_changes(s->db) == 0)
			*status = STORE_R_NOT_FOUND;
		return rv;
	}
	case SYNOD__REC__RECORD__BODY_NOOP:
		return STORE_OK;
	case SYNOD__REC__RECORD__BODY_REGISTER_BROKER:
	case SYNOD__REC__RECORD__BODY_FENCE_BROKER:
	case SYNOD__REC__RECORD__BODY_UNFENCE_BROKER:
	case SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN:
	case SYNOD__REC__RECORD__BODY_UNREGISTER_BROKER:
		cache_drop(s);
		return apply_broker(s, r, index, ts, strict, status);
	case SYNOD__REC__RECORD__BODY_CREATE_TOPIC:
	case SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS:
	case SYNOD__REC__RECORD__BODY_REMOVE_TOPIC:
		s->cache_topic_valid = 0;
		return apply_topic(s, r, index, strict, status);
	case SYNOD__REC__RECORD__BODY_PARTITION_CHANGE:
		return apply_topic(s, r, index, strict, status);
	default:
		/* A record kind this build does not know: a newer leader
		 * wrote it. Applying around it would diverge. */
		return fail(s, STORE_EVERSION,
			    "unknown record type %d: upgrade this node",
			    (int)r->body_case);
	}
}

/* ---- brokers ---- */

#define BIND_TEXT(st, i, v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)

static int broker_epoch(struct store *s, int32_t id, uint64_t *epoch)
{
	sqlite3_stmt *st = s->stmt[ST_BROKER_EPOCH];
	int rc;
	*epoch = 0;
	sqlite3_bind_int(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*epoch = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		   ? STORE_OK
		   : dbfail(s, "broker epoch");
}

/* Does broker `id` lead any partition? (index lookup) */
static int leads_any(struct store *s, int32_t id, int *leads)
{
	sqlite3_stmt *st = s->stmt[ST_LEADS_ANY];
	int rc;
	sqlite3_bind_int(st, 1, id);
	rc = sqlite3_step(st);
	*leads = rc == SQLITE_ROW;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
						     : dbfail(s, "leads any");
}

static void cache_drop(struct store *s)
{
	s->cache_topic_valid = 0;
	for (size_t i = 0;
	     i < sizeof s->cache_brokers / sizeof *s->cache_brokers; i++)
		s->cache_brokers[i].usable = -1;
}

/* May broker `id` lead: registered, unfenced, not shutting down. */
static int leader_usable(struct store *s, int32_t id, int *ok)
{
	sqlite3_stmt *st = s->stmt[ST_BROKER_STATE];
	size_t slot =
	    (uint32_t)id % (sizeof s->cache_brokers / sizeof *s->cache_brokers);
	int rc;
	if (s->cache_brokers[slot].usable >= 0 &&
	    s->cache_brokers[slot].id == id) {
		*ok = s->cache_brokers[slot].usable;
		return STORE_OK;
	}
	sqlite3_bind_int(st, 1, id);
	rc = sqlite3_step(st);
	*ok = rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 0 &&
	      sqlite3_column_int(st, 1) == 0;
	sqlite3_reset(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		s->cache_brokers[slot].id = id;
		s->cache_brokers[slot].usable = *ok;
	}
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		   ? STORE_OK
		   : dbfail(s, "broker state");
}

/* Strict rule for records that fence, shut down, unregister or replace a
 * registration of broker `id`: it must lead nothing any more (the
 * controller moves its leaderships away first). */
static int refuse_if_leading(struct store *s, int strict, int32_t id,
			     int *status)
{
	int leads = 0, rv;
	if (!strict)
		return STORE_OK;
	if ((rv = leads_any(s, id, &leads)) != STORE_OK)
		return rv;
	if (leads)
		*status = STORE_R_REFUSED;
	return STORE_OK;
}

static int apply_broker(struct store *s, const Synod__Rec__Record *r,
			uint64_t index, uint64_t ts, int strict, int *status)
{
	sqlite3_stmt *st;
	uint64_t cur;
	int rv;
	switch (r->body_case) {
	case SYNOD__REC__RECORD__BODY_REGISTER_BROKER: {
		const Synod__Rec__RegisterBroker *b = r->register_broker;
		if (b->broker_id < 0 || b->incarnation_id[0] == '\0') {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
		if ((rv = broker_epoch(s, b->broker_id, &cur)) != STORE_OK)
			return rv;
		if (cur != b->expected_epoch) {
			*status = STORE_R_STALE;
			return STORE_OK;
		}
		/* A new registration starts fenced. */
		if ((rv = refuse_if_leading(s, strict, b->broker_id, status)) !=
			STORE_OK ||
		    *status != STORE_R_OK)
			return rv;
		st = s->stmt[ST_BROKER_PUT];
		sqlite3_bind_int(st, 1, b->broker_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
		BIND_TEXT(st, 3, b->incarnation_id);
		if (b->rack)
			BIND_TEXT(st, 4, b->rack);
		else
			sqlite3_bind_null(st, 4);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)ts);
		if ((rv = step_done(s, ST_BROKER_PUT, "register broker")) != 0)
			return rv;
		sqlite3_bind_int(s->stmt[ST_ENDPOINTS_DEL], 1, b->broker_id);
		if ((rv = step_done(s, ST_ENDPOINTS_DEL, "endpoints")) != 0)
			return rv;
		for (size_t i = 0; i < b->n_endpoints; i++) {
			const Synod__Rec__BrokerEndpoint *e = b->endpoints[i];
			st = s->stmt[ST_ENDPOINT_PUT];
			sqlite3_bind_int(st, 1, b->broker_id);
			BIND_TEXT(st, 2, e->name);
			BIND_TEXT(st, 3, e->host);
			sqlite3_bind_int(st, 4, (int)e->port);
			BIND_TEXT(st, 5, e->security_protocol);
			if ((rv = step_done(s, ST_ENDPOINT_PUT, "endpoint")) !=
			    0)
				return rv;
		}
		return STORE_OK;
	}
	case SYNOD__REC__RECORD__BODY_FENCE_BROKER:
	case SYNOD__REC__RECORD__BODY_UNFENCE_BROKER: {
		int fence =
		    r->body_case == SYNOD__REC__RECORD__BODY_FENCE_BROKER;
		int32_t id = fence ? r->fence_broker->broker_id
				   : r->unfence_broker->broker_id;
		uint64_t epoch =
		    fence ? r->fence_broker->epoch : r->unfence_broker->epoch;
		if ((rv = broker_epoch(s, id, &cur)) != STORE_OK)
			return rv;
		if (cur == 0 || cur != epoch) {
			*status = STORE_R_STALE;
			return STORE_OK;
		}
		if (fence && ((rv = refuse_if_leading(s, strict, id, status)) !=
				  STORE_OK ||
			      *status != STORE_R_OK))
			return rv;
		st = s->stmt[ST_BROKER_FENCE];
		sqlite3_bind_int(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)epoch);
		sqlite3_bind_int(st, 3, fence);
		if ((rv = step_done(s, ST_BROKER_FENCE, "fence broker")) != 0)
			return rv;
		if (sqlite3_changes(s->db) == 0)
			*status = STORE_R_STALE;
		return STORE_OK;
	}
	case SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN:
		if ((rv = broker_epoch(s, r->broker_shutdown->broker_id,
				       &cur)) != STORE_OK)
			return rv;
		if (cur == 0 || cur != r->broker_shutdown->epoch) {
			*status = STORE_R_STALE;
			return STORE_OK;
		}
		if ((rv = refuse_if_leading(s, strict,
					    r->broker_shutdown->broker_id,
					    status)) != STORE_OK ||
		    *status != STORE_R_OK)
			return rv;
		st = s->stmt[ST_BROKER_SHUTDOWN];
		sqlite3_bind_int(st, 1, r->broker_shutdown->broker_id);
		sqlite3_bind_int64(st, 2,
				   (sqlite3_int64)r->broker_shutdown->epoch);
		if ((rv = step_done(s, ST_BROKER_SHUTDOWN, "shutdown")) != 0)
			return rv;
		if (sqlite3_changes(s->db) == 0)
			*status = STORE_R_STALE;
		return STORE_OK;
	default: { /* UNREGISTER */
		const Synod__Rec__UnregisterBroker *u = r->unregister_broker;
		if ((rv = broker_epoch(s, u->broker_id, &cur)) != STORE_OK)
			return rv;
		if (cur == 0 ||
		    (u->has_epoch && u->epoch != 0 && u->epoch != cur)) {
			*status = STORE_R_NOT_FOUND;
			return STORE_OK;
		}
		if ((rv = refuse_if_leading(s, strict, u->broker_id, status)) !=
			STORE_OK ||
		    *status != STORE_R_OK)
			return rv;
		st = s->stmt[ST_BROKER_DEL];
		sqlite3_bind_int(st, 1, u->broker_id);
		sqlite3_bind_int64(
		    st, 2, (sqlite3_int64)(u->has_epoch ? u->epoch : 0));
		if ((rv = step_done(s, ST_BROKER_DEL, "unregister")) != 0)
			return rv;
		if (sqlite3_changes(s->db) == 0) {
			*status = STORE_R_NOT_FOUND;
			return STORE_OK;
		}
		sqlite3_bind_int(s->stmt[ST_ENDPOINTS_DEL], 1, u->broker_id);
		return step_done(s, ST_ENDPOINTS_DEL, "endpoints");
	}
	}
}

static void copy_col(char *dst, size_t size, sqlite3_stmt *st, int col)
{
	const char *v = (const char *)sqlite3_column_text(st, col);
	snprintf(dst, size, "%s", v ? v : "");
}

static int read_broker(struct store *s, sqlite3_stmt *st,
		       struct store_broker *b)
{
	sqlite3_stmt *es = s->stmt[ST_ENDPOINTS_GET];
	int rc;
	memset(b, 0, sizeof *b);
	b->id = sqlite3_column_int(st, 0);
	b->epoch = (uint64_t)sqlite3_column_int64(st, 1);
	copy_col(b->incarnation_id, sizeof b->incarnation_id, st, 2);
	b->has_rack = sqlite3_column_type(st, 3) != SQLITE_NULL;
	copy_col(b->rack, sizeof b->rack, st, 3);
	b->fenced = sqlite3_column_int(st, 4);
	b->shutting_down = sqlite3_column_int(st, 5);
	b->registered_ms = (uint64_t)sqlite3_column_int64(st, 6);
	sqlite3_bind_int(es, 1, b->id);
	while ((rc = sqlite3_step(es)) == SQLITE_ROW &&
	       b->n_endpoints < STORE_MAX_ENDPOINTS) {
		struct store_endpoint *e = &b->endpoints[b->n_endpoints++];
		copy_col(e->name, sizeof e->name, es, 0);
		copy_col(e->host, sizeof e->host, es, 1);
		e->port = (uint16_t)sqlite3_column_int(es, 2);
		copy_col(e->security_protocol, sizeof e->security_protocol, es,
			 3);
	}
	sqlite3_reset(es);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? STORE_OK
						     : dbfail(s, "endpoints");
}

int store_broker_get(struct store *s, int32_t id, struct store_broker *out)
{
	sqlite3_stmt *st = s->stmt[ST_BROKER_GET];
	int rc, rv;
	sqlite3_bind_int(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rv = read_broker(s, st, out);
	else
		rv = rc == SQLITE_DONE ? STORE_ENOTFOUND
				       : dbfail(s, "get broker");
	sqlite3_reset(st);
	return rv;
}

int store_broker_list(struct store *s, store_broker_cb cb, void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_BROKER_ALL];
	struct store_broker b;
	int rc, rv = STORE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((rv = read_broker(s, st, &b)) != STORE_OK)
			break;
		if ((rv = cb(arg, &b)) != 0)
			break;
	}
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = dbfail(s, "list brokers");
	sqlite3_reset(st);
	return rv;
}

/* ---- topics and partitions ---- */

static void put_ids(uint8_t *buf, const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put_le32(buf + 4 * i, (uint32_t)ids[i]);
}

static uint32_t get_ids(const void *blob, int bytes, int32_t *ids, uint32_t max)
{
	uint32_t n = bytes > 0 ? (uint32_t)bytes / 4 : 0;
	if (n > max)
		n = max;
	for (uint32_t i = 0; i < n; i++)
		ids[i] = (int32_t)get_le32((const unsigned char *)blob + 4 * i);
	return n;
}

static void read_topic(sqlite3_stmt *st, int col, struct store_topic *t)
{
	const void *id;
	memset(t, 0, sizeof *t);
	copy_col(t->name, sizeof t->name, st, col);
	id = sqlite3_column_blob(st, col + 1);
	if (id && sqlite3_column_bytes(st, col + 1) == 16)
		memcpy(t->topic_id, id, 16);
	t->tid = sqlite3_column_int64(st, col + 2);
	t->n_partitions = (uint32_t)sqlite3_column_int(st, col + 3);
	if (col == 0) {
		t->created_index = (uint64_t)sqlite3_column_int64(st, 4);
		t->version = (uint64_t)sqlite3_column_int64(st, 5);
	}
}

/* Columns: partition, replicas, isr, leader, leader_epoch,
 * partition_epoch, version. */
static void read_partition(sqlite3_stmt *st, struct store_partition *p)
{
	p->partition = sqlite3_column_int(st, 0);
	p->n_replicas =
	    get_ids(sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1),
		    p->replicas, STORE_MAX_REPLICAS);
	p->n_isr =
	    get_ids(sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2),
		    p->isr, STORE_MAX_REPLICAS);
	p->leader = sqlite3_column_int(st, 3);
	p->leader_epoch = (uint32_t)sqlite3_column_int64(st, 4);
	p->partition_epoch = (uint32_t)sqlite3_column_int64(st, 5);
	p->version = (uint64_t)sqlite3_column_int64(st, 6);
}

static int topic_query(struct store *s, int stmt, struct store_topic *out)
{
	sqlite3_stmt *st = s->stmt[stmt];
	int rc = sqlite3_step(st), rv;
	if (rc == SQLITE_ROW) {
		read_topic(st, 0, out);
		rv = STORE_OK;
	} else {
		rv = rc == SQLITE_DONE ? STORE_ENOTFOUND
				       : dbfail(s, "get topic");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

int store_topic_get(struct store *s, const char *name, struct store_topic *out)
{
	BIND_TEXT(s->stmt[ST_TOPIC_BY_NAME], 1, name);
	return topic_query(s, ST_TOPIC_BY_NAME, out);
}

int store_topic_get_by_id(struct store *s, const uint8_t id[16],
			  struct store_topic *out)
{
	sqlite3_bind_blob(s->stmt[ST_TOPIC_BY_ID], 1, id, 16, SQLITE_STATIC);
	return topic_query(s, ST_TOPIC_BY_ID, out);
}

int store_topic_get_by_tid(struct store *s, int64_t tid,
			   struct store_topic *out)
{
	sqlite3_bind_int64(s->stmt[ST_TOPIC_BY_TID], 1, tid);
	return topic_query(s, ST_TOPIC_BY_TID, out);
}

int store_topic_list(struct store *s, store_topic_cb cb, void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_TOPIC_ALL];
	struct store_topic t;
	int rc, rv = STORE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_topic(st, 0, &t);
		if ((rv = cb(arg, &t)) != 0)
			break;
	}
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = dbfail(s, "list topics");
	sqlite3_reset(st);
	return rv;
}

int store_partition_get(struct store *s, int64_t tid, int32_t partition,
			struct store_partition *out)
{
	sqlite3_stmt *st = s->stmt[ST_PART_GET];
	int rc, rv;
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int(st, 2, partition);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_partition(st, out);
		rv = STORE_OK;
	} else {
		rv = rc == SQLITE_DONE ? STORE_ENOTFOUND
				       : dbfail(s, "get partition");
	}
	sqlite3_reset(st);
	return rv;
}

struct page_ctx {
	struct store_pkey *after;
	unsigned *n;
	store_partition_cb cb;
	void *arg;
};

/* Counts the row and moves the cursor before handing it on. */
static int page_row(void *arg, const struct store_topic *t,
		    const struct store_partition *p)
{
	struct page_ctx *x = arg;
	x->after->tid = t->tid;
	x->after->partition = p->partition;
	(*x->n)++;
	return x->cb(x->arg, t, p);
}

/* Walk a statement whose rows are a partition (columns 0-6) followed, when
 * joined, by its topic (columns 7-10). */
static int walk_partitions(struct store *s, sqlite3_stmt *st,
			   const struct store_topic *topic,
			   store_partition_cb cb, void *arg)
{
	struct store_topic t;
	struct store_partition p;
	int rc, rv = STORE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_partition(st, &p);
		if (topic == NULL)
			read_topic(st, 7, &t);
		if ((rv = cb(arg, topic ? topic : &t, &p)) != 0)
			break;
	}
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = dbfail(s, "list partitions");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

int store_partition_list(struct store *s, const struct store_topic *t,
			 store_partition_cb cb, void *arg)
{
	sqlite3_bind_int64(s->stmt[ST_PART_OF_TOPIC], 1, t->tid);
	return walk_partitions(s, s->stmt[ST_PART_OF_TOPIC], t, cb, arg);
}

int store_partitions_all(struct store *s, store_partition_cb cb, void *arg)
{
	return walk_partitions(s, s->stmt[ST_ALL_PARTS], NULL, cb, arg);
}

int store_broker_partitions(struct store *s, int32_t broker,
			    uint64_t since_version, store_partition_cb cb,
			    void *arg)
{
	sqlite3_stmt *st;
	if (since_version == 0) {
		st = s->stmt[ST_BROKER_PARTS];
		sqlite3_bind_int(st, 1, broker);
	} else {
		st = s->stmt[ST_BROKER_PARTS_SINCE];
		sqlite3_bind_int(st, 1, broker);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)since_version);
	}
	return walk_partitions(s, st, NULL, cb, arg);
}

/* One page of a keyset walk (a joined statement): *after moves to the
 * last row given to cb, *n counts the rows. */
static int walk_page(struct store *s, sqlite3_stmt *st,
		     struct store_pkey *after, unsigned *n,
		     store_partition_cb cb, void *arg)
{
	struct page_ctx x = {after, n, cb, arg};
	*n = 0;
	return walk_partitions(s, st, NULL, page_row, &x);
}

int store_broker_partitions_page(struct store *s, int32_t broker,
				 struct store_pkey *after, unsigned limit,
				 unsigned *n, store_partition_cb cb, void *arg)
{
	return store_broker_partitions_since_page(s, broker, 0, after, limit, n,
						  cb, arg);
}

int store_broker_partitions_since_page(struct store *s, int32_t broker,
				       uint64_t since_version,
				       struct store_pkey *after, unsigned limit,
				       unsigned *n, store_partition_cb cb,
				       void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_BROKER_PARTS_PAGE];
	sqlite3_bind_int(st, 1, broker);
	sqlite3_bind_int64(st, 2, after->tid);
	sqlite3_bind_int(st, 3, after->partition);
	sqlite3_bind_int64(st, 4, limit);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)since_version);
	return walk_page(s, st, after, n, cb, arg);
}

/* Walk topic rows of st (bound already); *n counts them, *last gets the
 * last one's tid and name. */
static int walk_topic_page(struct store *s, sqlite3_stmt *st, unsigned *n,
			   struct store_topic *last, store_topic_cb cb,
			   void *arg)
{
	struct store_topic t;
	int rc, rv = STORE_OK;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_topic(st, 0, &t);
		*last = t;
		(*n)++;
		if ((rv = cb(arg, &t)) != 0)
			break;
	}
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = dbfail(s, "topic page");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

int store_topics_since_page(struct store *s, uint64_t since_version,
			    int64_t *after_tid, unsigned limit, unsigned *n,
			    store_topic_cb cb, void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_TOPICS_SINCE_PAGE];
	struct store_topic last;
	int rv;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_version);
	sqlite3_bind_int64(st, 2, *after_tid);
	sqlite3_bind_int64(st, 3, limit);
	rv = walk_topic_page(s, st, n, &last, cb, arg);
	if (*n > 0)
		*after_tid = last.tid;
	return rv;
}

int store_topics_page(struct store *s, char *after_name, size_t size,
		      unsigned limit, unsigned *n, store_topic_cb cb, void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_TOPICS_BY_NAME_PAGE];
	struct store_topic last;
	int rv;
	sqlite3_bind_text(st, 1, after_name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, limit);
	rv = walk_topic_page(s, st, n, &last, cb, arg);
	if (*n > 0)
		snprintf(after_name, size, "%s", last.name);
	return rv;
}

int store_leader_partitions_page(struct store *s, int32_t leader,
				 struct store_pkey *after, unsigned limit,
				 unsigned *n, store_partition_cb cb, void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_LEADER_PARTS_PAGE];
	sqlite3_bind_int(st, 1, leader);
	sqlite3_bind_int64(st, 2, after->tid);
	sqlite3_bind_int(st, 3, after->partition);
	sqlite3_bind_int64(st, 4, limit);
	return walk_page(s, st, after, n, cb, arg);
}

int store_partitions_page(struct store *s, struct store_pkey *after,
			  unsigned limit, unsigned *n, store_partition_cb cb,
			  void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_ALL_PARTS_PAGE];
	sqlite3_bind_int64(st, 1, after->tid);
	sqlite3_bind_int(st, 2, after->partition);
	sqlite3_bind_int64(st, 3, limit);
	return walk_page(s, st, after, n, cb, arg);
}

int store_next_leader(struct store *s, int32_t after, int32_t *leader)
{
	sqlite3_stmt *st = s->stmt[ST_NEXT_LEADER];
	int rc, rv = STORE_ENOTFOUND;
	sqlite3_bind_int(st, 1, after);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*leader = sqlite3_column_int(st, 0);
		rv = STORE_OK;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rv = dbfail(s, "next leader");
	}
	sqlite3_reset(st);
	return rv;
}

int store_broker_leads(struct store *s, int32_t id, int *leads)
{
	return leads_any(s, id, leads);
}

int store_topics_since(struct store *s, uint64_t since_version,
		       store_topic_cb live, store_topic_cb deleted, void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_TOPICS_SINCE];
	struct store_topic t;
	int rc, rv = STORE_OK;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_version);
	while (live && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_topic(st, 0, &t);
		if ((rv = live(arg, &t)) != 0)
			break;
	}
	if (live && rv == STORE_OK && rc != SQLITE_DONE)
		rv = dbfail(s, "topics since");
	sqlite3_reset(st);
	if (rv != STORE_OK || since_version == 0)
		return rv;
	st = s->stmt[ST_DELETED_SINCE];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_version);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *id = sqlite3_column_blob(st, 1);
		memset(&t, 0, sizeof t);
		copy_col(t.name, sizeof t.name, st, 0);
		if (id && sqlite3_column_bytes(st, 1) == 16)
			memcpy(t.topic_id, id, 16);
		t.version = (uint64_t)sqlite3_column_int64(st, 2);
		if ((rv = deleted(arg, &t)) != 0)
			break;
	}
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = dbfail(s, "deleted topics since");
	sqlite3_reset(st);
	return rv;
}

static int valid_partition(const Synod__Rec__PartitionRecord *p)
{
	if (p->n_replicas == 0 || p->n_replicas > STORE_MAX_REPLICAS ||
	    p->n_isr > p->n_replicas)
		return 0;
	return 1;
}

static int id_in(const int32_t *ids, size_t n, int32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

/* The strict rules for a partition state (store.h): replicas distinct,
 * ISR distinct and within the replicas, the leader (unless -1, offline)
 * in the ISR and registered, unfenced and not shutting down. Sets
 * *status to STORE_R_REFUSED when broken. */
static int check_state(struct store *s, const Synod__Rec__PartitionRecord *p,
		       int *status)
{
	int ok = 1, rv;
	for (size_t i = 0; i < p->n_replicas && ok; i++)
		ok = !id_in(p->replicas, i, p->replicas[i]);
	for (size_t i = 0; i < p->n_isr && ok; i++)
		ok = !id_in(p->isr, i, p->isr[i]) &&
		     id_in(p->replicas, p->n_replicas, p->isr[i]);
	if (ok && p->leader != -1)
		ok = p->leader >= 0 && id_in(p->isr, p->n_isr, p->leader);
	if (ok && p->leader != -1 &&
	    (rv = leader_usable(s, p->leader, &ok)) != STORE_OK)
		return rv;
	if (!ok)
		*status = STORE_R_REFUSED;
	return STORE_OK;
}

static int put_partition(struct store *s, int64_t tid,
			 const Synod__Rec__PartitionRecord *p, uint64_t index)
{
	uint8_t rep[4 * STORE_MAX_REPLICAS], isr[4 * STORE_MAX_REPLICAS];
	sqlite3_stmt *st = s->stmt[ST_PART_PUT];
	put_ids(rep, p->replicas, p->n_replicas);
	put_ids(isr, p->isr, p->n_isr);
	sqlite3_bind_int64(st, 1, tid);
	sqlite3_bind_int(st, 2, p->partition);
	sqlite3_bind_blob(st, 3, rep, (int)(4 * p->n_replicas), SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, isr, (int)(4 * p->n_isr), SQLITE_STATIC);
	sqlite3_bind_int(st, 5, p->leader);
	sqlite3_bind_int64(st, 6, p->leader_epoch);
	sqlite3_bind_int64(st, 7, p->partition_epoch);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)index);
	return step_done(s, ST_PART_PUT, "put partition");
}

static int replica_rows(struct store *s, int stmt, int64_t tid,
			int32_t partition, const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sqlite3_stmt *st = s->stmt[stmt];
		int rv;
		sqlite3_bind_int(st, 1, ids[i]);
		sqlite3_bind_int64(st, 2, tid);
		sqlite3_bind_int(st, 3, partition);
		if ((rv = step_done(s, stmt, "replicas")) != STORE_OK)
			return rv;
	}
	return STORE_OK;
}

/* Refuse a bad partition before writing anything. */
static int check_new_partitions(struct store *s, uint32_t first,
				Synod__Rec__PartitionRecord *const *parts,
				size_t n, int strict, int *status)
{
	int rv;
	for (size_t i = 0; i < n; i++)
		if (!valid_partition(parts[i]) ||
		    parts[i]->partition != (int32_t)(first + i)) {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
	for (size_t i = 0; strict && i < n; i++)
		if ((rv = check_state(s, parts[i], status)) != STORE_OK ||
		    *status != STORE_R_OK)
			return rv;
	return STORE_OK;
}

static int add_partitions(struct store *s, int64_t tid,
			  Synod__Rec__PartitionRecord *const *parts, size_t n,
			  uint64_t index)
{
	int rv;
	for (size_t i = 0; i < n; i++) {
		if ((rv = put_partition(s, tid, parts[i], index)) != STORE_OK ||
		    (rv = replica_rows(s, ST_REPLICA_PUT, tid,
				       parts[i]->partition, parts[i]->replicas,
				       parts[i]->n_replicas)) != STORE_OK)
			return rv;
	}
	return STORE_OK;
}

struct del_ctx {
	struct store *s;
	int rv;
};

static int delete_replica_rows(void *arg, const struct store_topic *t,
			       const struct store_partition *p)
{
	struct del_ctx *x = arg;
	x->rv = replica_rows(x->s, ST_REPLICA_DEL, t->tid, p->partition,
			     p->replicas, p->n_replicas);
	return x->rv;
}

static int apply_topic(struct store *s, const Synod__Rec__Record *r,
		       uint64_t index, int strict, int *status)
{
	struct store_topic t;
	sqlite3_stmt *st;
	int rv;
	switch (r->body_case) {
	case SYNOD__REC__RECORD__BODY_CREATE_TOPIC: {
		const Synod__Rec__CreateTopic *c = r->create_topic;
		int64_t tid = 0;
		if (c->topic_id.len != 16 || c->name[0] == '\0' ||
		    c->n_partitions == 0) {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
		if (store_topic_get(s, c->name, &t) == STORE_OK ||
		    store_topic_get_by_id(s, c->topic_id.data, &t) ==
			STORE_OK) {
			*status = STORE_R_STALE; /* exists already */
			return STORE_OK;
		}
		if ((rv = check_new_partitions(s, 0, c->partitions,
					       c->n_partitions, strict,
					       status)) != STORE_OK ||
		    *status != STORE_R_OK)
			return rv;
		/* Topic numbers are never reused (a deleted topic's number
		 * could otherwise meet state kept for it elsewhere). */
		st = s->stmt[ST_TOPIC_NEXT_TID];
		if (sqlite3_step(st) == SQLITE_ROW)
			tid = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if ((rv = set_meta_int(s, "last_tid", tid)) != STORE_OK)
			return rv;
		st = s->stmt[ST_TOPIC_PUT];
		BIND_TEXT(st, 1, c->name);
		sqlite3_bind_blob(st, 2, c->topic_id.data, 16, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, tid);
		sqlite3_bind_int(st, 4, (int)c->n_partitions);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)index);
		if ((rv = step_done(s, ST_TOPIC_PUT, "create topic")) != 0)
			return rv;
		return add_partitions(s, tid, c->partitions, c->n_partitions,
				      index);
	}
	case SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS: {
		const Synod__Rec__CreatePartitions *c = r->create_partitions;
		if (c->topic_id.len != 16 ||
		    store_topic_get_by_id(s, c->topic_id.data, &t) !=
			STORE_OK) {
			*status = STORE_R_NOT_FOUND;
			return STORE_OK;
		}
		if (c->n_partitions == 0 ||
		    c->partitions[0]->partition != (int32_t)t.n_partitions) {
			*status = STORE_R_STALE;
			return STORE_OK;
		}
		if ((rv = check_new_partitions(s, t.n_partitions, c->partitions,
					       c->n_partitions, strict,
					       status)) != STORE_OK ||
		    *status != STORE_R_OK)
			return rv;
		rv = add_partitions(s, t.tid, c->partitions, c->n_partitions,
				    index);
		if (rv != STORE_OK)
			return rv;
		st = s->stmt[ST_TOPIC_GROW];
		sqlite3_bind_int64(st, 1, t.tid);
		sqlite3_bind_int(st, 2,
				 (int)(t.n_partitions + c->n_partitions));
		sqlite3_bind_int64(st, 3, (sqlite3_int64)index);
		return step_done(s, ST_TOPIC_GROW, "grow topic");
	}
	case SYNOD__REC__RECORD__BODY_PARTITION_CHANGE: {
		const Synod__Rec__PartitionChange *c = r->partition_change;
		struct store_partition cur;
		if (c->topic_id.len == 16 && s->cache_topic_valid &&
		    memcmp(s->cache_topic.topic_id, c->topic_id.data, 16) ==
			0) {
			t = s->cache_topic;
		} else if (c->topic_id.len == 16 &&
			   store_topic_get_by_id(s, c->topic_id.data, &t) ==
			       STORE_OK) {
			s->cache_topic = t;
			s->cache_topic_valid = 1;
		} else {
			*status = STORE_R_NOT_FOUND;
			return STORE_OK;
		}
		if (store_partition_get(s, t.tid, c->state->partition, &cur) !=
		    STORE_OK) {
			*status = STORE_R_NOT_FOUND;
			return STORE_OK;
		}
		if (!valid_partition(c->state)) {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
		if (cur.partition_epoch != c->expected_partition_epoch) {
			*status = STORE_R_STALE;
			return STORE_OK;
		}
		/* Epochs only move forward: the partition epoch by exactly
		 * one, the leader epoch never back and up with every new
		 * leader. */
		if (strict &&
		    (c->state->partition_epoch != cur.partition_epoch + 1 ||
		     c->state->leader_epoch < cur.leader_epoch ||
		     (c->state->leader != cur.leader &&
		      c->state->leader_epoch <= cur.leader_epoch))) {
			*status = STORE_R_REFUSED;
			return STORE_OK;
		}
		if (strict &&
		    ((rv = check_state(s, c->state, status)) != STORE_OK ||
		     *status != STORE_R_OK))
			return rv;
		if ((rv = put_partition(s, t.tid, c->state, index)) != 0)
			return rv;
		if (cur.n_replicas != c->state->n_replicas ||
		    memcmp(cur.replicas, c->state->replicas,
			   4 * cur.n_replicas) != 0) {
			if ((rv = replica_rows(s, ST_REPLICA_DEL, t.tid,
					       cur.partition, cur.replicas,
					       cur.n_replicas)) != STORE_OK)
				return rv;
			return replica_rows(s, ST_REPLICA_PUT, t.tid,
					    cur.partition, c->state->replicas,
					    c->state->n_replicas);
		}
		return STORE_OK;
	}
	default: { /* REMOVE_TOPIC */
		const Synod__Rec__RemoveTopic *c = r->remove_topic;
		struct del_ctx x = {s, STORE_OK};
		if (c->topic_id.len != 16 ||
		    store_topic_get_by_id(s, c->topic_id.data, &t) !=
			STORE_OK) {
			*status = STORE_R_NOT_FOUND;
			return STORE_OK;
		}
		rv = store_partition_list(s, &t, delete_replica_rows, &x);
		if (rv != STORE_OK)
			return x.rv != STORE_OK ? x.rv : rv;
		sqlite3_bind_int64(s->stmt[ST_PART_DEL_TOPIC], 1, t.tid);
		if ((rv = step_done(s, ST_PART_DEL_TOPIC, "partitions")) != 0)
			return rv;
		sqlite3_bind_int64(s->stmt[ST_TOPIC_DEL], 1, t.tid);
		if ((rv = step_done(s, ST_TOPIC_DEL, "topic")) != 0)
			return rv;
		st = s->stmt[ST_DELETED_PUT];
		sqlite3_bind_blob(st, 1, t.topic_id, 16, SQLITE_STATIC);
		BIND_TEXT(st, 2, t.name);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)index);
		if ((rv = step_done(s, ST_DELETED_PUT, "tombstone")) != 0)
			return rv;
		BIND_TEXT(s->stmt[ST_CONFIGS_DEL_RESOURCE], 1, t.name);
		return step_done(s, ST_CONFIGS_DEL_RESOURCE, "topic configs");
	}
	}
}

static int counts(struct store *s, int stmt, store_count_cb cb, void *arg)
{
	sqlite3_stmt *st = s->stmt[stmt];
	int rc, rv = STORE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((rv = cb(arg, sqlite3_column_int(st, 0),
			     (uint64_t)sqlite3_column_int64(st, 1))) != 0)
			break;
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = dbfail(s, "counts");
	sqlite3_reset(st);
	return rv;
}

int store_replica_counts(struct store *s, store_count_cb cb, void *arg)
{
	return counts(s, ST_REPLICA_COUNTS, cb, arg);
}

int store_leader_counts(struct store *s, store_count_cb cb, void *arg)
{
	return counts(s, ST_LEADER_COUNTS, cb, arg);
}

static int run(struct store *s, int i)
{
	int rc = sqlite3_step(s->stmt[i]);
	sqlite3_reset(s->stmt[i]);
	return rc == SQLITE_DONE ? STORE_OK : dbfail(s, stmt_sql[i]);
}

int store_note_index(struct store *s, uint64_t index)
{
	int rv = set_meta_int(s, "applied_index", (int64_t)index);
	if (rv == STORE_OK)
		s->applied_index = index;
	return rv;
}

int store_apply_batch(struct store *s, uint64_t index,
		      const Synod__Rec__RecordBatch *b, int *statuses,
		      unsigned max_statuses, unsigned *n_records)
{
	int rv;
	if (n_records)
		*n_records = 0;
	if (b == NULL) {
		/* Deterministic on every node: the bytes are the same. */
		if (statuses && max_statuses > 0)
			statuses[0] = STORE_R_SKIPPED_MALFORMED;
		fail(s, STORE_EMALFORMED, "entry %llu: malformed record batch",
		     (unsigned long long)index);
		return store_note_index(s, index);
	}
	if (b->version > STORE_ENVELOPE_VERSION)
		return fail(s, STORE_EVERSION,
			    "entry %llu: record batch version %u is newer than "
			    "%d: upgrade this node",
			    (unsigned long long)index, b->version,
			    STORE_ENVELOPE_VERSION);
	if ((rv = run(s, ST_BEGIN)) != STORE_OK)
		return rv;
	cache_drop(s);
	for (size_t i = 0; i < b->n_records; i++) {
		int st;
		rv = apply_record(s, b->records[i], index,
				  b->has_timestamp_ms ? b->timestamp_ms : 0,
				  b->version >= 2, &st);
		if (rv != STORE_OK)
			break;
		if (statuses && i < max_statuses)
			statuses[i] = st;
	}
	if (rv == STORE_OK)
		rv = set_meta_int(s, "applied_index", (int64_t)index);
	if (rv == STORE_OK && b->has_timestamp_ms)
		rv = set_meta_int(s, "timestamp_ms", (int64_t)b->timestamp_ms);
	if (rv == STORE_OK)
		rv = run(s, ST_COMMIT);
	if (rv != STORE_OK) {
		char keep[sizeof s->errmsg];
		memcpy(keep, s->errmsg, sizeof keep);
		run(s, ST_ROLLBACK);
		memcpy(s->errmsg, keep, sizeof keep);
		load_meta(s);
		return rv;
	}
	s->applied_index = index;
	if (n_records)
		*n_records = (unsigned)b->n_records;
	return STORE_OK;
}

/* protobuf-c returns NULL both for malformed input and for a failed
 * allocation: this allocator tells the two apart. */
struct decode_alloc {
	int failed;
};

static void *decode_malloc(void *data, size_t size)
{
	void *p = malloc(size);
	if (p == NULL)
		((struct decode_alloc *)data)->failed = 1;
	return p;
}

static void decode_free(void *data, void *p)
{
	(void)data;
	free(p);
}

int store_decode_batch(const void *buf, size_t len,
		       struct Synod__Rec__RecordBatch **out)
{
	struct decode_alloc d = {0};
	ProtobufCAllocator a = {decode_malloc, decode_free, &d};
	*out = synod__rec__record_batch__unpack(&a, len, buf);
	if (*out == NULL && d.failed)
		return STORE_ENOMEM;
	return STORE_OK;
}

int store_apply(struct store *s, uint64_t index, const void *buf, size_t len,
		int *statuses, unsigned max_statuses, unsigned *n_records)
{
	Synod__Rec__RecordBatch *b;
	int rv = store_decode_batch(buf, len, &b);
	if (rv != STORE_OK)
		return fail(s, rv, "entry %llu: out of memory decoding it",
			    (unsigned long long)index);
	rv = store_apply_batch(s, index, b, statuses, max_statuses, n_records);
	if (b)
		synod__rec__record_batch__free_unpacked(b, NULL);
	return rv;
}

size_t store_db_size(struct store *s)
{
	sqlite3_int64 size = 0;
	unsigned char *p =
	    sqlite3_serialize(s->db, "main", &size, SQLITE_SERIALIZE_NOCOPY);
	if (p == NULL) {
		/* not contiguous: ask the pager */
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(s->db,
				       "SELECT page_count * page_size FROM "
				       "pragma_page_count, pragma_page_size",
				       -1, &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				size = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
	}
	return (size_t)size;
}

int store_snapshot(struct store *s, void *(*alloc)(size_t), void **buf,
		   size_t *len)
{
	sqlite3_int64 size = 0;
	unsigned char *img, *out;
	int copied = 0;
	img = sqlite3_serialize(s->db, "main", &size, SQLITE_SERIALIZE_NOCOPY);
	if (img == NULL) {
		img = sqlite3_serialize(s->db, "main", &size, 0);
		if (img == NULL)
			return fail(s, STORE_ENOMEM, "serialize failed");
		copied = 1;
	}
	out = alloc(SNAP_HEADER + (size_t)size);
	if (out == NULL) {
		if (copied)
			sqlite3_free(img);
		return fail(s, STORE_ENOMEM, "snapshot: out of memory");
	}
	memcpy(out, SNAP_MAGIC, 8);
	put_le32(out + 8, SNAP_FORMAT);
	put_le32(out + 12, 0);
	put_le64(out + 16, (uint64_t)size);
	memcpy(out + SNAP_HEADER, img, (size_t)size);
	if (copied)
		sqlite3_free(img);
	*buf = out;
	*len = SNAP_HEADER + (size_t)size;
	return STORE_OK;
}

int store_restore(struct store *s, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t size;
	unsigned char *img;
	sqlite3 *db;
	struct store tmp;
	int rv;
	if (len < SNAP_HEADER || memcmp(p, SNAP_MAGIC, 8) != 0)
		return fail(s, STORE_EMALFORMED, "snapshot: bad magic");
	if (get_le32(p + 8) > SNAP_FORMAT)
		return fail(s, STORE_EVERSION,
			    "snapshot format %u is newer than %d",
			    get_le32(p + 8), SNAP_FORMAT);
	size = get_le64(p + 16);
	if (size != len - SNAP_HEADER || size < 100 ||
	    memcmp(p + SNAP_HEADER, "SQLite format 3", 16) != 0)
		return fail(s, STORE_EMALFORMED, "snapshot: bad image");
	/* Load into a fresh connection first so a bad image leaves us as we
	 * were. */
	if (sqlite3_open_v2("synod.db", &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    "memdb") != SQLITE_OK) {
		sqlite3_close(db);
		return fail(s, STORE_ENOMEM, "snapshot: open failed");
	}
	img = sqlite3_malloc64(size);
	if (img == NULL) {
		sqlite3_close(db);
		return fail(s, STORE_ENOMEM, "snapshot: out of memory");
	}
	memcpy(img, p + SNAP_HEADER, size);
	if (sqlite3_deserialize(
		db, "main", img, (sqlite3_int64)size, (sqlite3_int64)size,
		SQLITE_DESERIALIZE_FREEONCLOSE |
		    SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK) {
		sqlite3_close(db);
		return fail(s, STORE_EMALFORMED,
			    "snapshot: deserialize failed");
	}
	memset(&tmp, 0, sizeof tmp);
	tmp.db = db;
	set_limits(&tmp);
	if ((rv = exec_pragmas(&tmp)) != 0 ||
	    (rv = ensure_indexes(&tmp)) != 0 || (rv = prepare_all(&tmp)) != 0 ||
	    (rv = load_meta(&tmp)) != 0) {
		snprintf(s->errmsg, sizeof s->errmsg, "snapshot: %.200s",
			 tmp.errmsg);
		finalize_all(&tmp);
		sqlite3_close(db);
		return rv == STORE_EDB ? STORE_EMALFORMED : rv;
	}
	finalize_all(s);
	sqlite3_close(s->db);
	memcpy(s->stmt, tmp.stmt, sizeof s->stmt);
	s->db = db;
	s->applied_index = tmp.applied_index;
	memcpy(s->cluster_id, tmp.cluster_id, sizeof s->cluster_id);
	return STORE_OK;
}

uint64_t store_applied_index(const struct store *s)
{
	return s->applied_index;
}

const char *store_cluster_id(const struct store *s)
{
	return s->cluster_id;
}

int store_config_get(struct store *s, unsigned scope, const char *resource,
		     const char *key, char **value)
{
	sqlite3_stmt *st = s->stmt[ST_GET_CONFIG];
	int rc, rv = STORE_ENOTFOUND;
	sqlite3_bind_int(st, 1, (int)scope);
	sqlite3_bind_text(st, 2, resource_of(scope, resource), -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		*value = strdup(v ? v : "");
		rv = *value ? STORE_OK : STORE_ENOMEM;
	} else if (rc != SQLITE_DONE) {
		rv = dbfail(s, "get config");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

int store_config_list(struct store *s, int scope, const char *resource,
		      store_config_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int rc, rv = STORE_OK;
	if (scope < 0) {
		st = s->stmt[ST_LIST_ALL];
	} else if (resource == NULL) {
		st = s->stmt[ST_LIST_SCOPE];
		sqlite3_bind_int(st, 1, scope);
	} else {
		st = s->stmt[ST_LIST_RESOURCE];
		sqlite3_bind_int(st, 1, scope);
		sqlite3_bind_text(st, 2, resource_of((unsigned)scope, resource),
				  -1, SQLITE_STATIC);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rv = cb(arg, (unsigned)sqlite3_column_int(st, 0),
			(const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2),
			(const char *)sqlite3_column_text(st, 3));
		if (rv != 0)
			break;
	}
	if (rv == 0 && rc != SQLITE_DONE)
		rv = dbfail(s, "list configs");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

/* FNV-1a over every column of every table, in key order. */
static void fnv(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		*h ^= c[i];
		*h *= 1099511628211ULL;
	}
}

int store_digest(struct store *s, uint64_t *digest)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t t = 0; t < sizeof digest_tables / sizeof *digest_tables;
	     t++) {
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(s->db, digest_tables[t], -1, &st,
				       NULL) != SQLITE_OK)
			return dbfail(s, "digest");
		fnv(&h, &t, sizeof t);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			int n = sqlite3_column_count(st);
			for (int c = 0; c < n; c++) {
				int type = sqlite3_column_type(st, c);
				const void *v = sqlite3_column_blob(st, c);
				int len = sqlite3_column_bytes(st, c);
				fnv(&h, &type, sizeof type);
				if (v != NULL)
					fnv(&h, v, (size_t)len);
			}
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return dbfail(s, "digest");
	}
	*digest = h;
	return STORE_OK;
}
