/* storage/store_topics.c - the topics table family: topics, partitions,
 * replicas and deleted topics; their records' apply (with the partition
 * invariants) and their reads, pages included. See store_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define BIND_TEXT(st, i, v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC)

const char *const st_topic_sql[ST_COUNT] = {
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
    /* Uses the partitions_leader index. */
    [ST_NEXT_LEADER] = "SELECT MIN(leader) FROM partitions WHERE leader > ?1",
    /* Uses the replicas table's primary key (broker first). */
    [ST_NEXT_REPLICA_BROKER] = "SELECT MIN(broker) FROM replicas WHERE "
			       "broker > ?1",
    [ST_TOPICS_SINCE_PAGE] = "SELECT name, topic_id, tid, n_partitions, "
			     "created_index, version FROM topics WHERE "
			     "version > ?1 AND tid > ?2 ORDER BY tid LIMIT ?3",
    [ST_TOPICS_BY_NAME_PAGE] = "SELECT name, topic_id, tid, n_partitions, "
			       "created_index, version FROM topics WHERE "
			       "name > ?1 ORDER BY name LIMIT ?2",
};

static void put_ids(uint8_t *buf, const int32_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		st_put_le32(buf + 4 * i, (uint32_t)ids[i]);
}

static uint32_t get_ids(const void *blob, int bytes, int32_t *ids, uint32_t max)
{
	uint32_t n = bytes > 0 ? (uint32_t)bytes / 4 : 0;
	if (n > max)
		n = max;
	for (uint32_t i = 0; i < n; i++)
		ids[i] =
		    (int32_t)st_get_le32((const unsigned char *)blob + 4 * i);
	return n;
}

static void read_topic(sqlite3_stmt *st, int col, struct store_topic *t)
{
	const void *id;
	memset(t, 0, sizeof *t);
	st_copy_col(t->name, sizeof t->name, st, col);
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
				       : st_dbfail(s, "get topic");
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
		rv = st_dbfail(s, "list topics");
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
				       : st_dbfail(s, "get partition");
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
		rv = st_dbfail(s, "list partitions");
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
		rv = st_dbfail(s, "topic page");
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

static int next_id(struct store *s, int stmt, int32_t after, int32_t *id,
		   const char *what)
{
	sqlite3_stmt *st = s->stmt[stmt];
	int rc, rv = STORE_ENOTFOUND;
	sqlite3_bind_int(st, 1, after);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*id = sqlite3_column_int(st, 0);
		rv = STORE_OK;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rv = st_dbfail(s, what);
	}
	sqlite3_reset(st);
	return rv;
}

int store_next_leader(struct store *s, int32_t after, int32_t *leader)
{
	return next_id(s, ST_NEXT_LEADER, after, leader, "next leader");
}

int store_next_replica_broker(struct store *s, int32_t after, int32_t *broker)
{
	return next_id(s, ST_NEXT_REPLICA_BROKER, after, broker,
		       "next replica broker");
}

int store_broker_leads(struct store *s, int32_t id, int *leads)
{
	return st_leads_any(s, id, leads);
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
		rv = st_dbfail(s, "topics since");
	sqlite3_reset(st);
	if (rv != STORE_OK || since_version == 0)
		return rv;
	st = s->stmt[ST_DELETED_SINCE];
	sqlite3_bind_int64(st, 1, (sqlite3_int64)since_version);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *id = sqlite3_column_blob(st, 1);
		memset(&t, 0, sizeof t);
		st_copy_col(t.name, sizeof t.name, st, 0);
		if (id && sqlite3_column_bytes(st, 1) == 16)
			memcpy(t.topic_id, id, 16);
		t.version = (uint64_t)sqlite3_column_int64(st, 2);
		if ((rv = deleted(arg, &t)) != 0)
			break;
	}
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = st_dbfail(s, "deleted topics since");
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

/* The rules for a partition state (store.h), from envelope
 * ST_ENV_STRICT: replicas distinct, ISR distinct and within the replicas,
 * the leader (unless -1, offline) in the ISR and registered, unfenced and
 * not shutting down; from ST_ENV_ISR_JOIN, every ISR member that is not in
 * cur_isr[0..n_cur) (a new partition: none is) as usable as the leader.
 * Sets *status to STORE_R_REFUSED when broken. */
static int check_state(struct store *s, const Synod__Rec__PartitionRecord *p,
		       const int32_t *cur_isr, size_t n_cur, unsigned env,
		       int *status)
{
	int ok = 1, rv;
	if (env < ST_ENV_STRICT)
		return STORE_OK;
	for (size_t i = 0; i < p->n_replicas && ok; i++)
		ok = !id_in(p->replicas, i, p->replicas[i]);
	for (size_t i = 0; i < p->n_isr && ok; i++)
		ok = !id_in(p->isr, i, p->isr[i]) &&
		     id_in(p->replicas, p->n_replicas, p->isr[i]);
	if (ok && p->leader != -1)
		ok = p->leader >= 0 && id_in(p->isr, p->n_isr, p->leader);
	if (ok && p->leader != -1 &&
	    (rv = st_broker_usable(s, p->leader, &ok)) != STORE_OK)
		return rv;
	for (size_t i = 0; ok && env >= ST_ENV_ISR_JOIN && i < p->n_isr; i++)
		if (!id_in(cur_isr, n_cur, p->isr[i]) &&
		    (rv = st_broker_usable(s, p->isr[i], &ok)) != STORE_OK)
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
	return st_step_done(s, ST_PART_PUT, "put partition");
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
		if ((rv = st_step_done(s, stmt, "replicas")) != STORE_OK)
			return rv;
	}
	return STORE_OK;
}

/* Refuse a bad partition before writing anything. */
static int check_new_partitions(struct store *s, uint32_t first,
				Synod__Rec__PartitionRecord *const *parts,
				size_t n, unsigned env, int *status)
{
	int rv;
	for (size_t i = 0; i < n; i++)
		if (!valid_partition(parts[i]) ||
		    parts[i]->partition != (int32_t)(first + i)) {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
	for (size_t i = 0; i < n; i++)
		if ((rv = check_state(s, parts[i], NULL, 0, env, status)) !=
			STORE_OK ||
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

int st_apply_topic(struct store *s, const Synod__Rec__Record *r, uint64_t index,
		   unsigned env, int *status)
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
					       c->n_partitions, env, status)) !=
			STORE_OK ||
		    *status != STORE_R_OK)
			return rv;
		/* Topic numbers are never reused (a deleted topic's number
		 * could otherwise meet state kept for it elsewhere). */
		st = s->stmt[ST_TOPIC_NEXT_TID];
		if (sqlite3_step(st) == SQLITE_ROW)
			tid = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if ((rv = st_set_meta_int(s, "last_tid", tid)) != STORE_OK)
			return rv;
		st = s->stmt[ST_TOPIC_PUT];
		BIND_TEXT(st, 1, c->name);
		sqlite3_bind_blob(st, 2, c->topic_id.data, 16, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, tid);
		sqlite3_bind_int(st, 4, (int)c->n_partitions);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)index);
		if ((rv = st_step_done(s, ST_TOPIC_PUT, "create topic")) != 0)
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
					       c->n_partitions, env, status)) !=
			STORE_OK ||
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
		return st_step_done(s, ST_TOPIC_GROW, "grow topic");
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
		if (env >= ST_ENV_STRICT &&
		    (c->state->partition_epoch != cur.partition_epoch + 1 ||
		     c->state->leader_epoch < cur.leader_epoch ||
		     (c->state->leader != cur.leader &&
		      c->state->leader_epoch <= cur.leader_epoch))) {
			*status = STORE_R_REFUSED;
			return STORE_OK;
		}
		if ((rv = check_state(s, c->state, cur.isr, cur.n_isr, env,
				      status)) != STORE_OK ||
		    *status != STORE_R_OK)
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
		if ((rv = st_step_done(s, ST_PART_DEL_TOPIC, "partitions")) !=
		    0)
			return rv;
		sqlite3_bind_int64(s->stmt[ST_TOPIC_DEL], 1, t.tid);
		if ((rv = st_step_done(s, ST_TOPIC_DEL, "topic")) != 0)
			return rv;
		st = s->stmt[ST_DELETED_PUT];
		sqlite3_bind_blob(st, 1, t.topic_id, 16, SQLITE_STATIC);
		BIND_TEXT(st, 2, t.name);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)index);
		if ((rv = st_step_done(s, ST_DELETED_PUT, "tombstone")) != 0)
			return rv;
		BIND_TEXT(s->stmt[ST_CONFIGS_DEL_RESOURCE], 1, t.name);
		return st_step_done(s, ST_CONFIGS_DEL_RESOURCE,
				    "topic configs");
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
		rv = st_dbfail(s, "counts");
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

/* ---- health figures (store.h) ---- */

static int count_of(struct store *s, const char *sql, uint64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);
		*out = v > 0 ? (uint64_t)v : 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? STORE_OK : st_dbfail(s, "health");
}

int store_health(struct store *s, struct store_health *out)
{
	struct store_health h;
	int rv;
	if (s->health_index != 0 && s->health_index == s->applied_index) {
		*out = s->health;
		return STORE_OK;
	}
	memset(&h, 0, sizeof h);
	if ((rv = count_of(s, "SELECT count(*) FROM topics", &h.topics)) ||
	    (rv = count_of(s, "SELECT total(n_partitions) FROM topics",
			   &h.partitions)) ||
	    (rv = count_of(s,
			   "SELECT count(*) FROM partitions WHERE leader = -1",
			   &h.offline)) ||
	    (rv = count_of(
		 s,
		 "SELECT count(*) FROM partitions WHERE " ST_UNDER_REPLICATED,
		 &h.under_replicated)) ||
	    (rv = count_of(
		 s, "SELECT count(*) FROM partitions WHERE " ST_NOT_PREFERRED,
		 &h.not_preferred)) ||
	    (rv = count_of(s, "SELECT count(*) FROM brokers", &h.brokers)) ||
	    (rv = count_of(s,
			   "SELECT count(*) FROM brokers WHERE fenced AND "
			   "NOT shutting_down",
			   &h.brokers_fenced)) ||
	    (rv =
		 count_of(s, "SELECT count(*) FROM brokers WHERE shutting_down",
			  &h.brokers_shutting_down)))
		return rv;
	s->health = h;
	s->health_index = s->applied_index;
	*out = h;
	return STORE_OK;
}
