/* storage/store_query.c - read-only SQL over a copy of the store (see
 * store.h, "Read-only SQL").
 *
 * The copy is made with SQLite's online backup, a bounded number of pages
 * per call, so the caller slices it across loop turns; writes to the store
 * in between are carried into the copy by SQLite (same connection), so
 * the copy is the state at the last slice. The query then runs on the
 * copy alone, on any one thread: it can never block or change the store.
 * On the copy: an authorizer that allows reading only (no writes, ATTACH,
 * pragmas that change state, transactions), one statement, a progress
 * handler that stops it at its deadline, and limits on rows, bytes, the
 * length of a value and the memory of its page cache.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"
#include "store_int.h"

#define QUERY_MAX_SQL 8192
#define QUERY_MAX_VALUE (1 << 20) /* bytes of one text or blob value */
#define QUERY_CACHE_KIB 16384	  /* the copy's page cache, beyond its size */
#define QUERY_PROGRESS_OPS 10000  /* VM steps between deadline checks */

struct store_query {
	struct store *s; /* NULL once the copy finished or was aborted */
	struct store_query *next;
	sqlite3 *db;
	sqlite3_backup *bk;
	char *sql;
	struct store_query_limits lim;
	uint64_t applied_index;
	uint64_t deadline_ns;
	int timed_out;
	char err[512];
	char refused[160]; /* what the authorizer refused first */
	/* the answer */
	unsigned n_cols;
	char **cols;
	struct store_query_cell *cells; /* row-major */
	size_t n_cells, cap_cells, n_rows, bytes;
	int truncated;
	char note[160];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void unlink_query(struct store_query *q)
{
	struct store_query **pp;
	if (q->s == NULL)
		return;
	for (pp = &q->s->queries; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	q->s = NULL;
}

void st_queries_abort(struct store *s)
{
	while (s->queries) {
		struct store_query *q = s->queries;
		if (q->bk) {
			sqlite3_backup_finish(q->bk);
			q->bk = NULL;
		}
		snprintf(q->err, sizeof q->err,
			 "the store was replaced (a snapshot was installed) "
			 "while it was copied; ask again");
		unlink_query(q);
	}
}

int store_query_new(struct store *s, const char *sql,
		    const struct store_query_limits *lim,
		    struct store_query **out)
{
	struct store_query *q;
	size_t len = strlen(sql);
	*out = NULL;
	if (len == 0 || len > QUERY_MAX_SQL)
		return st_fail(s, STORE_EMALFORMED,
			       "the query must have 1 to %d bytes",
			       QUERY_MAX_SQL);
	q = calloc(1, sizeof *q);
	if (q == NULL || (q->sql = strdup(sql)) == NULL) {
		free(q);
		return STORE_ENOMEM;
	}
	q->lim = *lim;
	if (sqlite3_open_v2("query.db", &q->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    "memdb") != SQLITE_OK ||
	    (q->bk = sqlite3_backup_init(q->db, "main", s->db, "main")) ==
		NULL) {
		st_fail(s, STORE_EDB, "query copy: %s",
			q->db ? sqlite3_errmsg(q->db) : "out of memory");
		sqlite3_close(q->db);
		free(q->sql);
		free(q);
		return STORE_EDB;
	}
	q->s = s;
	q->next = s->queries;
	s->queries = q;
	*out = q;
	return STORE_OK;
}

int store_query_copy(struct store_query *q, int pages)
{
	int rc;
	if (q->bk == NULL)
		return q->err[0] ? STORE_EDB : STORE_OK;
	rc = sqlite3_backup_step(q->bk, pages);
	if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return 1;
	if (rc == SQLITE_DONE) {
		q->applied_index = q->s ? q->s->applied_index : 0;
		sqlite3_backup_finish(q->bk);
		q->bk = NULL;
		unlink_query(q);
		return STORE_OK;
	}
	snprintf(q->err, sizeof q->err, "copying the store: %s",
		 sqlite3_errstr(rc));
	sqlite3_backup_finish(q->bk);
	q->bk = NULL;
	unlink_query(q);
	return STORE_EDB;
}

/* ---- the query ---- */

static int authorize(void *arg, int action, const char *a, const char *b,
		     const char *dbname, const char *trigger)
{
	struct store_query *q = arg;
	(void)dbname;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT:
	case SQLITE_READ:
	case SQLITE_RECURSIVE:
		return SQLITE_OK;
	case SQLITE_FUNCTION:
		/* Built-in functions and synod_ids only (no others exist on
		 * this connection); never the extension loader. */
		if (b && strcmp(b, "load_extension") == 0)
			break;
		return SQLITE_OK;
	case SQLITE_PRAGMA:
		/* Pragmas that only read the schema (their argument is a
		 * table or index name). */
		if (a && (strcmp(a, "table_info") == 0 ||
			  strcmp(a, "table_xinfo") == 0 ||
			  strcmp(a, "table_list") == 0 ||
			  strcmp(a, "index_list") == 0 ||
			  strcmp(a, "index_info") == 0))
			return SQLITE_OK;
		break;
	default:
		break;
	}
	if (q->refused[0] == '\0') {
		static const char *const names[] = {
		    [SQLITE_ATTACH] = "ATTACH",
		    [SQLITE_DETACH] = "DETACH",
		    [SQLITE_PRAGMA] = "PRAGMA",
		    [SQLITE_INSERT] = "INSERT",
		    [SQLITE_UPDATE] = "UPDATE",
		    [SQLITE_DELETE] = "DELETE",
		    [SQLITE_TRANSACTION] = "a transaction",
		    [SQLITE_FUNCTION] = "the function",
		};
		const char *what =
		    (size_t)action < sizeof names / sizeof names[0] &&
			    names[action]
			? names[action]
			: "a statement that is not a read";
		snprintf(q->refused, sizeof q->refused, "%s%s%s", what,
			 action == SQLITE_PRAGMA || action == SQLITE_FUNCTION
			     ? " "
			     : "",
			 action == SQLITE_PRAGMA     ? (a ? a : "")
			 : action == SQLITE_FUNCTION ? (b ? b : "")
						     : "");
	}
	return SQLITE_DENY;
}

static int progress(void *arg)
{
	struct store_query *q = arg;
	if (mono_ns() < q->deadline_ns)
		return 0;
	q->timed_out = 1;
	return 1;
}

/* synod_ids(blob): replicas and ISR blobs (little-endian int32s) as
 * "1,2,3". */
static void fn_ids(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *p;
	int n;
	char *out;
	size_t o = 0;
	(void)argc;
	if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
		sqlite3_result_null(ctx);
		return;
	}
	p = sqlite3_value_blob(argv[0]);
	n = sqlite3_value_bytes(argv[0]) / 4;
	out = sqlite3_malloc(n * 12 + 1);
	if (out == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, 13, "%s%d", i ? "," : "",
				      (int32_t)st_get_le32(p + 4 * i));
	sqlite3_result_text(ctx, out, (int)o, sqlite3_free);
}

/* Views over the raw tables (docs/operations.md lists them). */
static const char views[] =
    "CREATE TEMP VIEW partition_states AS SELECT t.name AS topic,"
    " p.partition AS partition, p.leader AS leader,"
    " p.leader_epoch AS leader_epoch, p.partition_epoch AS partition_epoch,"
    " synod_ids(p.replicas) AS replicas, synod_ids(p.isr) AS isr,"
    " length(p.replicas) / 4 AS n_replicas, length(p.isr) / 4 AS n_isr"
    " FROM partitions p JOIN topics t ON t.tid = p.tid;"
    "CREATE TEMP VIEW replica_brokers AS SELECT t.name AS topic,"
    " r.partition AS partition, r.broker AS broker, b.rack AS rack,"
    " b.fenced AS fenced FROM replicas r JOIN topics t ON t.tid = r.tid"
    " LEFT JOIN brokers b ON b.id = r.broker;";

static int add_cell(struct store_query *q, sqlite3_stmt *st, int i)
{
	struct store_query_cell *c;
	if (q->n_cells == q->cap_cells) {
		size_t cap = q->cap_cells ? q->cap_cells * 2 : 64;
		void *p = realloc(q->cells, cap * sizeof *q->cells);
		if (p == NULL)
			return -1;
		q->cells = p;
		q->cap_cells = cap;
	}
	c = &q->cells[q->n_cells++];
	memset(c, 0, sizeof *c);
	c->type = sqlite3_column_type(st, i);
	switch (c->type) {
	case SQLITE_INTEGER:
		c->i = sqlite3_column_int64(st, i);
		q->bytes += 8;
		break;
	case SQLITE_FLOAT:
		c->f = sqlite3_column_double(st, i);
		q->bytes += 8;
		break;
	case SQLITE_TEXT:
	case SQLITE_BLOB: {
		const void *v = c->type == SQLITE_TEXT
				    ? (const void *)sqlite3_column_text(st, i)
				    : sqlite3_column_blob(st, i);
		c->len = (size_t)sqlite3_column_bytes(st, i);
		c->data = malloc(c->len + 1);
		if (c->data == NULL) {
			c->type = SQLITE_NULL;
			return -1;
		}
		if (c->len)
			memcpy(c->data, v, c->len);
		c->data[c->len] = '\0';
		q->bytes += c->len + 4;
		break;
	}
	default:
		c->type = SQLITE_NULL;
		q->bytes += 1;
		break;
	}
	return 0;
}

static int run_query(struct store_query *q)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	int rc;
	if (q->bk != NULL || q->err[0])
		return STORE_EDB;
	if (sqlite3_create_function(q->db, "synod_ids", 1,
				    SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				    fn_ids, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(q->db, views, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(q->err, sizeof q->err, "preparing the copy: %s",
			 sqlite3_errmsg(q->db));
		return STORE_EDB;
	}
	{
		char pragma[64];
		snprintf(pragma, sizeof pragma,
			 "PRAGMA cache_size=-%d; PRAGMA query_only=1;",
			 QUERY_CACHE_KIB);
		sqlite3_exec(q->db, pragma, NULL, NULL, NULL);
	}
	sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(q->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0,
			  NULL);
	sqlite3_db_config(q->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_limit(q->db, SQLITE_LIMIT_LENGTH, QUERY_MAX_VALUE);
	sqlite3_limit(q->db, SQLITE_LIMIT_SQL_LENGTH, QUERY_MAX_SQL);
	sqlite3_limit(q->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_set_authorizer(q->db, authorize, q);
	q->deadline_ns = mono_ns() + (uint64_t)q->lim.timeout_ms * 1000000u;
	sqlite3_progress_handler(q->db, QUERY_PROGRESS_OPS, progress, q);
	rc = sqlite3_prepare_v2(q->db, q->sql, -1, &st, &tail);
	if (rc != SQLITE_OK || st == NULL) {
		if (q->refused[0])
			snprintf(q->err, sizeof q->err,
				 "refused: %s (read-only SQL: SELECT and "
				 "WITH only)",
				 q->refused);
		else if (q->timed_out)
			snprintf(q->err, sizeof q->err,
				 "interrupted after %u ms", q->lim.timeout_ms);
		else
			snprintf(q->err, sizeof q->err, "%s",
				 st == NULL && rc == SQLITE_OK
				     ? "no statement"
				     : sqlite3_errmsg(q->db));
		sqlite3_finalize(st);
		return q->refused[0]  ? STORE_EREFUSED
		       : q->timed_out ? STORE_ETIMEOUT
				      : STORE_EMALFORMED;
	}
	while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' ||
			*tail == '\r' || *tail == ';'))
		tail++;
	if (tail && *tail) {
		snprintf(q->err, sizeof q->err,
			 "one statement per query (more follows: \"%.40s\")",
			 tail);
		sqlite3_finalize(st);
		return STORE_EMALFORMED;
	}
	if (!sqlite3_stmt_readonly(st)) {
		snprintf(q->err, sizeof q->err,
			 "refused: the statement is not read-only");
		sqlite3_finalize(st);
		return STORE_EREFUSED;
	}
	q->n_cols = (unsigned)sqlite3_column_count(st);
	q->cols = calloc(q->n_cols + 1, sizeof *q->cols);
	if (q->cols == NULL) {
		sqlite3_finalize(st);
		return STORE_ENOMEM;
	}
	for (unsigned i = 0; i < q->n_cols; i++) {
		const char *name = sqlite3_column_name(st, (int)i);
		q->cols[i] = strdup(name ? name : "");
		if (q->cols[i] == NULL) {
			sqlite3_finalize(st);
			return STORE_ENOMEM;
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (q->n_rows >= q->lim.max_rows ||
		    q->bytes >= q->lim.max_bytes) {
			q->truncated = 1;
			snprintf(q->note, sizeof q->note,
				 "cut off at %zu rows (limits: %u rows, %zu "
				 "bytes)",
				 q->n_rows, q->lim.max_rows, q->lim.max_bytes);
			rc = SQLITE_DONE;
			break;
		}
		for (unsigned i = 0; i < q->n_cols; i++)
			if (add_cell(q, st, (int)i) != 0) {
				sqlite3_finalize(st);
				return STORE_ENOMEM;
			}
		q->n_rows++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		if (q->timed_out)
			snprintf(q->err, sizeof q->err,
				 "interrupted after %u ms (%zu rows read)",
				 q->lim.timeout_ms, q->n_rows);
		else
			snprintf(q->err, sizeof q->err, "%s",
				 sqlite3_errmsg(q->db));
		return q->timed_out ? STORE_ETIMEOUT : STORE_EDB;
	}
	return STORE_OK;
}

int store_query_run(struct store_query *q)
{
	int rv = run_query(q);
	/* The copy is done with: freed here, on the query's thread (a copy
	 * of a large store is tens of MiB to unmap). */
	if (q->bk == NULL) {
		sqlite3_close(q->db);
		q->db = NULL;
	}
	return rv;
}

const char *store_query_errmsg(const struct store_query *q)
{
	return q->err[0] ? q->err : "no error";
}

unsigned store_query_columns(const struct store_query *q, char ***names)
{
	*names = q->cols;
	return q->n_cols;
}

size_t store_query_rows(const struct store_query *q,
			const struct store_query_cell **cells)
{
	*cells = q->cells;
	return q->n_rows;
}

const char *store_query_truncated(const struct store_query *q)
{
	return q->truncated ? q->note : NULL;
}

uint64_t store_query_index(const struct store_query *q)
{
	return q->applied_index;
}

void store_query_free(struct store_query *q)
{
	if (q == NULL)
		return;
	if (q->bk)
		sqlite3_backup_finish(q->bk);
	unlink_query(q);
	sqlite3_close(q->db);
	for (size_t i = 0; i < q->n_cells; i++)
		free(q->cells[i].data);
	free(q->cells);
	for (unsigned i = 0; q->cols && i < q->n_cols; i++)
		free(q->cols[i]);
	free(q->cols);
	free(q->sql);
	free(q);
}
