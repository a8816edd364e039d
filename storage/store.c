/* storage/store.c - SQLite store: schema, open/close, the apply of an
 * entry (dispatching each record to its table family: store_brokers.c,
 * store_topics.c), snapshots, meta and configs. See store_int.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define SNAP_MAGIC "SYNODSN1"
#define SNAP_HEADER 24 /* magic(8) format(4) flags(4) length(8) */
/* flags: SNAP_SUMMED set = the low 31 bits are image_sum() of the image.
 * Older builds write 0 and ignore flags, so images stay readable both
 * ways. */
#define SNAP_SUMMED 0x80000000u
#define SNAP_FORMAT 1
#define MEMDB_MAX ((sqlite3_int64)64 << 30)

/* Client requests applied (ClientRequest records), for exactly-once
 * writes: kept 10 minutes of entry time. Created if missing (images from
 * older builds). From envelope 5, a request whose records did not all
 * apply keeps its last failed outcome in client_outcomes (same key, same
 * time), so that its resend is answered with a failure as the first time
 * was, and the ids of the topics a request created are kept in
 * client_topics; other requests, nearly all, add no row to either. */
#define CREQ_KEEP_MS 600000u
static const char creq_schema[] =
    "CREATE TABLE IF NOT EXISTS client_requests("
    " client_id BLOB NOT NULL, request INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, PRIMARY KEY(client_id, request)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS client_requests_ts ON client_requests(ts);"
    "CREATE TABLE IF NOT EXISTS client_outcomes("
    " client_id BLOB NOT NULL, request INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, status INTEGER NOT NULL,"
    " PRIMARY KEY(client_id, request)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS client_outcomes_ts ON client_outcomes(ts);"
    "CREATE TABLE IF NOT EXISTS client_topics("
    " client_id BLOB NOT NULL, request INTEGER NOT NULL,"
    " topic_id BLOB NOT NULL, ts INTEGER NOT NULL,"
    " PRIMARY KEY(client_id, request, topic_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS client_topics_ts ON client_topics(ts);";

const char *const st_core_sql[ST_COUNT] = {
    [ST_CREQ_GET] = "SELECT o.status FROM client_requests r LEFT JOIN "
		    "client_outcomes o USING (client_id, request) "
		    "WHERE r.client_id = ?1 AND r.request = ?2",
    [ST_CREQ_PUT] = "INSERT INTO client_requests(client_id, request, ts) "
		    "VALUES(?1, ?2, ?3)",
    [ST_CREQ_PRUNE] = "DELETE FROM client_requests WHERE ts < ?1",
    [ST_COUT_PUT] = "INSERT OR REPLACE INTO client_outcomes(client_id, "
		    "request, ts, status) VALUES(?1, ?2, ?3, ?4)",
    [ST_COUT_PRUNE] = "DELETE FROM client_outcomes WHERE ts < ?1",
    /* The names of kept topics: from their rows, or their tombstones
     * once deleted (deleted_topics keeps every deleted topic's name). */
    [ST_CTOP_GET] = "SELECT coalesce(t.name, d.name) AS n, c.topic_id FROM "
		    "client_topics c "
		    "LEFT JOIN topics t ON t.topic_id = c.topic_id "
		    "LEFT JOIN deleted_topics d ON d.topic_id = c.topic_id "
		    "WHERE c.client_id = ?1 AND c.request = ?2 ORDER BY n",
    [ST_CTOP_PUT] = "INSERT OR REPLACE INTO client_topics(client_id, "
		    "request, topic_id, ts) VALUES(?1, ?2, ?3, ?4)",
    [ST_CTOP_PRUNE] = "DELETE FROM client_topics WHERE ts < ?1",
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
    /* Consumer group tables: st_groups_schema (store_groups.c). */
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
    "SELECT * FROM cgroups ORDER BY group_id",
    "SELECT * FROM cgroup_members ORDER BY group_id, member_id",
    "SELECT * FROM cgroup_owned ORDER BY group_id, topic_id, partition",
    "SELECT * FROM client_requests ORDER BY client_id, request",
    /* Tables from DIGEST_LAZY_FROM on count only when they hold rows: a
     * state that does not use them has the digest older builds give. */
    "SELECT * FROM client_outcomes ORDER BY client_id, request",
    "SELECT * FROM client_topics ORDER BY client_id, request, topic_id",
};
#define DIGEST_LAZY_FROM 12
_Static_assert(DIGEST_LAZY_FROM ==
		   sizeof digest_tables / sizeof *digest_tables - 2,
	       "client_outcomes and client_topics are counted lazily");

void st_put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
uint32_t st_get_le32(const unsigned char *p)
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
	case STORE_EREFUSED:
		return "refused: not a read";
	case STORE_ETIMEOUT:
		return "deadline passed";
	default:
		return "unknown error";
	}
}

int st_fail(struct store *s, int rv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
	return rv;
}

int st_dbfail(struct store *s, const char *what)
{
	return st_fail(s, STORE_EDB, "%s: %s", what, sqlite3_errmsg(s->db));
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
		const char *sql = st_core_sql[i]     ? st_core_sql[i]
				  : st_broker_sql[i] ? st_broker_sql[i]
				  : st_topic_sql[i]  ? st_topic_sql[i]
						     : st_group_sql[i];
		if (sql == NULL)
			return st_fail(s, STORE_EDB, "statement %d has no SQL",
				       i);
		if (sqlite3_prepare_v3(s->db, sql, -1,
				       SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
				       NULL) != SQLITE_OK)
			return st_dbfail(s, "prepare");
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
		return st_dbfail(s, "read meta");
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
		rv = st_fail(s, STORE_EMALFORMED, "no schema version in store");
	else if (version > STORE_SCHEMA_VERSION)
		rv = st_fail(s, STORE_EVERSION,
			     "store schema version %lld is newer than %d",
			     version, STORE_SCHEMA_VERSION);
	return rv;
}

static int exec_pragmas(struct store *s)
{
	if (sqlite3_exec(s->db,
			 "PRAGMA journal_mode=MEMORY; PRAGMA synchronous=OFF;"
			 "PRAGMA foreign_keys=OFF;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return st_dbfail(s, "pragma");
	return STORE_OK;
}

/* Indexes that are not state (the digest ignores them): created when an
 * image from an older build lacks them. */
static int ensure_indexes(struct store *s)
{
	if (sqlite3_exec(s->db,
			 "CREATE INDEX IF NOT EXISTS partitions_leader ON "
			 "partitions(leader);" ST_HEALTH_INDEXES,
			 NULL, NULL, NULL) != SQLITE_OK)
		return st_dbfail(s, "create index");
	if (sqlite3_exec(s->db, st_groups_schema, NULL, NULL, NULL) !=
	    SQLITE_OK)
		return st_dbfail(s, "create group tables");
	if (sqlite3_exec(s->db, creq_schema, NULL, NULL, NULL) != SQLITE_OK)
		return st_dbfail(s, "create client request table");
	return STORE_OK;
}

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
		rv = st_dbfail(s, "create schema");
		goto err;
	}
	if ((rv = ensure_indexes(s)) != 0 || (rv = prepare_all(s)) != 0 ||
	    (rv = load_meta(s)) != 0)
		goto err;
	st_cache_drop(s);
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
	st_queries_abort(s);
	finalize_all(s);
	sqlite3_close(s->db);
	st_groups_free(s);
	free(s);
}

int st_step_done(struct store *s, int i, const char *what)
{
	int rc = sqlite3_step(s->stmt[i]);
	sqlite3_reset(s->stmt[i]);
	sqlite3_clear_bindings(s->stmt[i]);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return st_dbfail(s, what);
	return STORE_OK;
}

int st_set_meta_int(struct store *s, const char *key, int64_t v)
{
	sqlite3_bind_text(s->stmt[ST_SET_META], 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->stmt[ST_SET_META], 2, v);
	return st_step_done(s, ST_SET_META, "set meta");
}

static int set_meta_text(struct store *s, const char *key, const char *v)
{
	sqlite3_bind_text(s->stmt[ST_SET_META], 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->stmt[ST_SET_META], 2, v, -1, SQLITE_STATIC);
	return st_step_done(s, ST_SET_META, "set meta");
}

static const char *resource_of(unsigned scope, const char *resource)
{
	return scope == STORE_SCOPE_CLUSTER || resource == NULL ? "" : resource;
}

/* env: the entry's envelope version; records are checked against the
 * invariants of that version (store.h, ST_ENV_*): entries replay under
 * the rules they were written with. */
static int apply_record(struct store *s, const Synod__Rec__Record *r,
			uint64_t index, uint64_t ts, unsigned env, int *status)
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
		if (c->scope > STORE_SCOPE_PRINCIPAL || c->key[0] == '\0') {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
		sqlite3_stmt *st = s->stmt[ST_SET_CONFIG];
		sqlite3_bind_int(st, 1, (int)c->scope);
		sqlite3_bind_text(st, 2, resource_of(c->scope, c->resource), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, c->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, c->value, -1, SQLITE_STATIC);
		return st_step_done(s, ST_SET_CONFIG, "set config");
	}
	case SYNOD__REC__RECORD__BODY_DELETE_CONFIG: {
		const Synod__Rec__DeleteConfig *c = r->delete_config;
		sqlite3_stmt *st = s->stmt[ST_DEL_CONFIG];
		int rv;
		if (c->scope > STORE_SCOPE_PRINCIPAL || c->key[0] == '\0') {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
		sqlite3_bind_int(st, 1, (int)c->scope);
		sqlite3_bind_text(st, 2, resource_of(c->scope, c->resource), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, c->key, -1, SQLITE_STATIC);
		rv = st_step_done(s, ST_DEL_CONFIG, "delete config");
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
		st_cache_drop(s);
		return st_apply_broker(s, r, index, ts, env, status);
	case SYNOD__REC__RECORD__BODY_CREATE_TOPIC:
	case SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS:
	case SYNOD__REC__RECORD__BODY_REMOVE_TOPIC:
		s->cache_topic_valid = 0;
		s->topics_gen++;
		return st_apply_topic(s, r, index, env, status);
	case SYNOD__REC__RECORD__BODY_PARTITION_CHANGE:
		return st_apply_topic(s, r, index, env, status);
	case SYNOD__REC__RECORD__BODY_GROUP_EPOCH:
	case SYNOD__REC__RECORD__BODY_GROUP_MEMBER:
	case SYNOD__REC__RECORD__BODY_GROUP_TARGET:
	case SYNOD__REC__RECORD__BODY_GROUP_CURRENT:
	case SYNOD__REC__RECORD__BODY_GROUP_MEMBER_REMOVE:
	case SYNOD__REC__RECORD__BODY_GROUP_DELETE:
		return st_apply_group(s, r, status);
	default:
		/* A record kind this build does not know: a newer leader
		 * wrote it. Applying around it would diverge. */
		return st_fail(s, STORE_EVERSION,
			       "unknown record type %d: upgrade this node",
			       (int)r->body_case);
	}
}

static int run(struct store *s, int i)
{
	int rc = sqlite3_step(s->stmt[i]);
	sqlite3_reset(s->stmt[i]);
	return rc == SQLITE_DONE ? STORE_OK
				 : st_dbfail(s, sqlite3_sql(s->stmt[i]));
}

int store_note_index(struct store *s, uint64_t index)
{
	int rv = st_set_meta_int(s, "applied_index", (int64_t)index);
	if (rv == STORE_OK)
		s->applied_index = index;
	return rv;
}

int store_client_request_get(struct store *s, const uint8_t *client_id,
			     uint64_t request, struct store_client_request *out)
{
	sqlite3_stmt *st = s->stmt[ST_CREQ_GET];
	int rc;
	memset(out, 0, sizeof *out);
	sqlite3_bind_blob(st, 1, client_id, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)request);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->seen = 1;
		out->outcome = sqlite3_column_int(st, 0); /* NULL: 0, OK */
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		   ? STORE_OK
		   : st_dbfail(s, "read client request");
}

/* A ClientRequest marker: STORE_R_DUPLICATE, *skip = the records it marks
 * and *replay = the outcome they report (the kept one, else
 * STORE_R_DUPLICATE) when (client, request) was applied before; else
 * remember it (and forget those older than CREQ_KEEP_MS of entry time). */
static int apply_client_request(struct store *s,
				const Synod__Rec__ClientRequest *c,
				size_t remaining, uint64_t ts, int *status,
				unsigned *skip, int *replay)
{
	sqlite3_stmt *st;
	struct store_client_request seen;
	int rv;
	*status = STORE_R_OK;
	*skip = 0;
	if (c->client_id.len != 16 || c->records > remaining) {
		*status = STORE_R_INVALID;
		return STORE_OK;
	}
	if ((rv = store_client_request_get(s, c->client_id.data, c->request,
					   &seen)) != STORE_OK)
		return rv;
	if (seen.seen) {
		*status = STORE_R_DUPLICATE;
		*skip = c->records;
		*replay = seen.outcome != STORE_R_OK ? seen.outcome
						     : STORE_R_DUPLICATE;
		return STORE_OK;
	}
	if (ts > CREQ_KEEP_MS) {
		sqlite3_int64 old = (sqlite3_int64)(ts - CREQ_KEEP_MS);
		sqlite3_bind_int64(s->stmt[ST_CREQ_PRUNE], 1, old);
		sqlite3_bind_int64(s->stmt[ST_COUT_PRUNE], 1, old);
		sqlite3_bind_int64(s->stmt[ST_CTOP_PRUNE], 1, old);
		if ((rv = st_step_done(s, ST_CREQ_PRUNE, "prune requests")) !=
			STORE_OK ||
		    (rv = st_step_done(s, ST_COUT_PRUNE, "prune outcomes")) !=
			STORE_OK ||
		    (rv = st_step_done(s, ST_CTOP_PRUNE, "prune topics")) !=
			STORE_OK)
			return rv;
	}
	st = s->stmt[ST_CREQ_PUT];
	sqlite3_bind_blob(st, 1, c->client_id.data, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->request);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ts);
	return st_step_done(s, ST_CREQ_PUT, "put client request");
}

/* Keep that client request c created topic `id` (16 bytes). */
static int keep_topic(struct store *s, const Synod__Rec__ClientRequest *c,
		      uint64_t ts, const ProtobufCBinaryData *id)
{
	sqlite3_stmt *st = s->stmt[ST_CTOP_PUT];
	sqlite3_bind_blob(st, 1, c->client_id.data, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->request);
	sqlite3_bind_blob(st, 3, id->data, (int)id->len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)ts);
	return st_step_done(s, ST_CTOP_PUT, "put client topic");
}

int store_client_request_topics(struct store *s, const uint8_t *client_id,
				uint64_t request, store_kept_topic_cb cb,
				void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_CTOP_GET];
	int rc, rv = STORE_OK;
	sqlite3_bind_blob(st, 1, client_id, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)request);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (name == NULL || sqlite3_column_bytes(st, 1) != 16)
			continue; /* no name known: cannot be asked for */
		if ((rv = cb(arg, name, sqlite3_column_blob(st, 1))) != 0)
			break;
	}
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = st_dbfail(s, "read client topics");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

/* Keep the outcome of client request c: the last of its records' that
 * was not STORE_R_OK (replacing a row its marker's prune would have
 * removed, should one be left). */
static int keep_outcome(struct store *s, const Synod__Rec__ClientRequest *c,
			uint64_t ts, int outcome)
{
	sqlite3_stmt *st = s->stmt[ST_COUT_PUT];
	sqlite3_bind_blob(st, 1, c->client_id.data, 16, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->request);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ts);
	sqlite3_bind_int(st, 4, outcome);
	return st_step_done(s, ST_COUT_PUT, "put client outcome");
}

int store_apply_batch(struct store *s, uint64_t index,
		      const Synod__Rec__RecordBatch *b, int *statuses,
		      unsigned max_statuses, unsigned *n_records)
{
	int rv, replay = STORE_R_DUPLICATE, outcome = STORE_R_OK;
	unsigned skip = 0, marked = 0; /* records left of a marked request */
	const Synod__Rec__ClientRequest *mark = NULL;
	if (n_records)
		*n_records = 0;
	if (b == NULL) {
		/* Deterministic on every node: the bytes are the same. */
		if (statuses && max_statuses > 0)
			statuses[0] = STORE_R_SKIPPED_MALFORMED;
		st_fail(s, STORE_EMALFORMED,
			"entry %llu: malformed record batch",
			(unsigned long long)index);
		return store_note_index(s, index);
	}
	if (b->version > STORE_ENVELOPE_VERSION)
		return st_fail(
		    s, STORE_EVERSION,
		    "entry %llu: record batch version %u is newer than "
		    "%d: upgrade this node",
		    (unsigned long long)index, b->version,
		    STORE_ENVELOPE_VERSION);
	if ((rv = run(s, ST_BEGIN)) != STORE_OK)
		return rv;
	st_cache_drop(s);
	for (size_t i = 0; i < b->n_records; i++) {
		int st;
		uint64_t ts = b->has_timestamp_ms ? b->timestamp_ms : 0;
		rv = STORE_OK;
		if (skip > 0) {
			/* Marked by a ClientRequest applied before. */
			skip--;
			st = replay;
		} else if (b->records[i]->body_case ==
			       SYNOD__REC__RECORD__BODY_CLIENT_REQUEST &&
			   marked == 0) {
			mark = b->records[i]->client_request;
			rv = apply_client_request(s, mark, b->n_records - i - 1,
						  ts, &st, &skip, &replay);
			marked = rv == STORE_OK && st == STORE_R_OK &&
					 b->version >= ST_ENV_OUTCOME
				     ? mark->records
				     : 0;
			outcome = STORE_R_OK;
		} else {
			if (b->records[i]->body_case ==
			    SYNOD__REC__RECORD__BODY_CLIENT_REQUEST)
				/* A marker inside a marked request (envelope
				 * 5; no leader writes one): one of its
				 * records, invalid. */
				st = STORE_R_INVALID;
			else
				rv = apply_record(s, b->records[i], index, ts,
						  b->version, &st);
			if (rv == STORE_OK && marked > 0) {
				/* The last failure: the one handlers that
				 * answer one code for a request answer. */
				if (st != STORE_R_OK)
					outcome = st;
				else if (b->records[i]->body_case ==
					 SYNOD__REC__RECORD__BODY_CREATE_TOPIC)
					rv = keep_topic(
					    s, mark, ts,
					    &b->records[i]
						 ->create_topic->topic_id);
				if (--marked == 0 && rv == STORE_OK &&
				    outcome != STORE_R_OK)
					rv = keep_outcome(s, mark, ts, outcome);
			}
		}
		if (rv != STORE_OK)
			break;
		if (statuses && i < max_statuses)
			statuses[i] = st;
	}
	if (rv == STORE_OK)
		rv = st_set_meta_int(s, "applied_index", (int64_t)index);
	if (rv == STORE_OK && b->has_timestamp_ms)
		rv = st_set_meta_int(s, "timestamp_ms",
				     (int64_t)b->timestamp_ms);
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
		return st_fail(s, rv, "entry %llu: out of memory decoding it",
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

/* A 31-bit checksum of a snapshot image, 8 bytes a step (about as fast
 * as the copy it guards): a flipped bit anywhere changes it. */
static uint32_t image_sum(const unsigned char *p, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xFF51AFD7ED558CCDull;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0xC4CEB9FE1A85EC53ull;
	h ^= h >> 29;
	return (uint32_t)(h ^ (h >> 31)) & 0x7FFFFFFFu;
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
			return st_fail(s, STORE_ENOMEM, "serialize failed");
		copied = 1;
	}
	out = alloc(SNAP_HEADER + (size_t)size);
	if (out == NULL) {
		if (copied)
			sqlite3_free(img);
		return st_fail(s, STORE_ENOMEM, "snapshot: out of memory");
	}
	memcpy(out, SNAP_MAGIC, 8);
	st_put_le32(out + 8, SNAP_FORMAT);
	put_le64(out + 16, (uint64_t)size);
	memcpy(out + SNAP_HEADER, img, (size_t)size);
	st_put_le32(out + 12,
		    SNAP_SUMMED | image_sum(out + SNAP_HEADER, (size_t)size));
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
		return st_fail(s, STORE_EMALFORMED, "snapshot: bad magic");
	if (st_get_le32(p + 8) > SNAP_FORMAT)
		return st_fail(s, STORE_EVERSION,
			       "snapshot format %u is newer than %d",
			       st_get_le32(p + 8), SNAP_FORMAT);
	size = get_le64(p + 16);
	if (size != len - SNAP_HEADER || size < 100 ||
	    memcmp(p + SNAP_HEADER, "SQLite format 3", 16) != 0)
		return st_fail(s, STORE_EMALFORMED, "snapshot: bad image");
	if ((st_get_le32(p + 12) & SNAP_SUMMED) &&
	    (st_get_le32(p + 12) & ~SNAP_SUMMED) !=
		image_sum(p + SNAP_HEADER, (size_t)size))
		return st_fail(s, STORE_EMALFORMED,
			       "snapshot: checksum mismatch (the image is "
			       "damaged)");
	/* Load into a fresh connection first so a bad image leaves us as we
	 * were. */
	if (sqlite3_open_v2("synod.db", &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    "memdb") != SQLITE_OK) {
		sqlite3_close(db);
		return st_fail(s, STORE_ENOMEM, "snapshot: open failed");
	}
	img = sqlite3_malloc64(size);
	if (img == NULL) {
		sqlite3_close(db);
		return st_fail(s, STORE_ENOMEM, "snapshot: out of memory");
	}
	memcpy(img, p + SNAP_HEADER, size);
	if (sqlite3_deserialize(
		db, "main", img, (sqlite3_int64)size, (sqlite3_int64)size,
		SQLITE_DESERIALIZE_FREEONCLOSE |
		    SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK) {
		sqlite3_close(db);
		return st_fail(s, STORE_EMALFORMED,
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
	st_queries_abort(s);
	finalize_all(s);
	sqlite3_close(s->db);
	memcpy(s->stmt, tmp.stmt, sizeof s->stmt);
	s->db = db;
	s->applied_index = tmp.applied_index;
	s->health_index = 0;
	memcpy(s->cluster_id, tmp.cluster_id, sizeof s->cluster_id);
	s->topics_gen++;
	st_cache_drop(s);
	return STORE_OK;
}

uint64_t store_applied_index(const struct store *s)
{
	return s->applied_index;
}

uint64_t store_topics_gen(const struct store *s)
{
	return s->topics_gen;
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
		rv = st_dbfail(s, "get config");
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
		rv = st_dbfail(s, "list configs");
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
			return st_dbfail(s, "digest");
		int rc, first = 1;
		if (t < DIGEST_LAZY_FROM)
			fnv(&h, &t, sizeof t);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (first && t >= DIGEST_LAZY_FROM)
				fnv(&h, &t, sizeof t);
			first = 0;
			int n = sqlite3_column_count(st);
			for (int c = 0; c < n; c++) {
				int type = sqlite3_column_type(st, c);
				const void *v = sqlite3_column_blob(st, c);
				int len = sqlite3_column_bytes(st, c);
				fnv(&h, &type, sizeof type);
				fnv(&h, &len,
				    sizeof len); /* "ab","c" != "a","bc" */
				if (v != NULL)
					fnv(&h, v, (size_t)len);
			}
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return st_dbfail(s, "digest");
	}
	*digest = h;
	return STORE_OK;
}
