/* storage/store_groups.c - the consumer groups table family: groups,
 * members (metadata, target and current assignment) and the ownership
 * index that makes apply refuse a partition held by two members of one
 * group. See store_int.h and docs/groups.md.
 *
 * Partition sets are stored as blobs: for each topic, its 16-byte id, a
 * little-endian u32 count, then that many little-endian i32 partitions.
 * Subscribed topic names are NUL-terminated strings one after another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define GROUP_ID_MAX 255
#define MEMBER_ID_MAX 64
#define NAME_MAX_LEN 255
#define GROUP_PARTS_MAX 1000000u

/* Tables created at open and after a restore (images from before groups
 * lack them); the v1 tables of the same purpose were never written and
 * are dropped. */
const char st_groups_schema[] =
    "DROP TABLE IF EXISTS assignments;"
    "DROP TABLE IF EXISTS members;"
    "DROP TABLE IF EXISTS groups;"
    "CREATE TABLE IF NOT EXISTS cgroups("
    " group_id TEXT PRIMARY KEY, group_epoch INTEGER NOT NULL,"
    " assignment_epoch INTEGER NOT NULL, assignor TEXT NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cgroup_members("
    " group_id TEXT NOT NULL, member_id TEXT NOT NULL, instance_id TEXT,"
    " rack TEXT, client_id TEXT, client_host TEXT,"
    " rebalance_timeout_ms INTEGER NOT NULL, subscribed BLOB,"
    " regex TEXT, assignor TEXT,"
    " member_epoch INTEGER NOT NULL DEFAULT 0,"
    " previous_epoch INTEGER NOT NULL DEFAULT 0,"
    " state INTEGER NOT NULL DEFAULT 0,"
    " target BLOB, assigned BLOB, pending BLOB,"
    " PRIMARY KEY(group_id, member_id)) WITHOUT ROWID;"
    /* Who holds each partition (assigned or pending revocation). */
    "CREATE TABLE IF NOT EXISTS cgroup_owned("
    " group_id TEXT NOT NULL, topic_id BLOB NOT NULL,"
    " partition INTEGER NOT NULL, member_id TEXT NOT NULL,"
    " PRIMARY KEY(group_id, topic_id, partition)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS cgroup_owned_member ON"
    " cgroup_owned(group_id, member_id);";

const char *const st_group_sql[ST_COUNT] = {
    [ST_GROUP_GET] = "SELECT group_id, group_epoch, assignment_epoch, "
		     "assignor FROM cgroups WHERE group_id = ?1",
    [ST_GROUP_ALL] = "SELECT group_id, group_epoch, assignment_epoch, "
		     "assignor FROM cgroups ORDER BY group_id",
    [ST_GROUP_PUT] = "INSERT INTO cgroups(group_id, group_epoch, "
		     "assignment_epoch, assignor) VALUES(?1, ?2, ?3, ?4) "
		     "ON CONFLICT(group_id) DO UPDATE SET "
		     "group_epoch = excluded.group_epoch, "
		     "assignment_epoch = excluded.assignment_epoch, "
		     "assignor = excluded.assignor",
    [ST_GROUP_DEL] = "DELETE FROM cgroups WHERE group_id = ?1",
    [ST_GMEMBER_PUT] =
	"INSERT INTO cgroup_members(group_id, member_id, instance_id, rack, "
	"client_id, client_host, rebalance_timeout_ms, subscribed, regex, "
	"assignor) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
	"ON CONFLICT(group_id, member_id) DO UPDATE SET "
	"instance_id = excluded.instance_id, rack = excluded.rack, "
	"client_id = excluded.client_id, client_host = excluded.client_host, "
	"rebalance_timeout_ms = excluded.rebalance_timeout_ms, "
	"subscribed = excluded.subscribed, regex = excluded.regex, "
	"assignor = excluded.assignor",
    [ST_GMEMBER_EXISTS] = "SELECT 1 FROM cgroup_members WHERE group_id = ?1 "
			  "AND member_id = ?2",
    [ST_GMEMBER_SETS] = "SELECT assigned, pending FROM cgroup_members WHERE "
			"group_id = ?1 AND member_id = ?2",
    [ST_GMEMBER_TARGET] = "UPDATE cgroup_members SET target = ?3 WHERE "
			  "group_id = ?1 AND member_id = ?2",
    [ST_GMEMBER_CURRENT] =
	"UPDATE cgroup_members SET member_epoch = ?3, previous_epoch = ?4, "
	"state = ?5, assigned = ?6, pending = ?7 WHERE group_id = ?1 AND "
	"member_id = ?2",
    [ST_GMEMBER_DEL] = "DELETE FROM cgroup_members WHERE group_id = ?1 AND "
		       "member_id = ?2",
    [ST_GMEMBERS_OF] =
	"SELECT group_id, member_id, instance_id, rack, client_id, "
	"client_host, rebalance_timeout_ms, subscribed, regex, assignor, "
	"member_epoch, previous_epoch, state, target, assigned, pending "
	"FROM cgroup_members WHERE group_id = ?1 ORDER BY member_id",
    [ST_GMEMBERS_COUNT] = "SELECT COUNT(*) FROM cgroup_members WHERE "
			  "group_id = ?1",
    [ST_GOWNED_GET] = "SELECT member_id FROM cgroup_owned WHERE "
		      "group_id = ?1 AND topic_id = ?2 AND partition = ?3",
    [ST_GOWNED_PUT] = "INSERT INTO cgroup_owned(group_id, topic_id, "
		      "partition, member_id) VALUES(?1, ?2, ?3, ?4)",
    [ST_GOWNED_DEL_MEMBER] = "DELETE FROM cgroup_owned WHERE group_id = ?1 "
			     "AND member_id = ?2",
    [ST_GCONFIGS_DEL] = "DELETE FROM configs WHERE scope = 2 AND "
			"resource = ?1",
};

/* ---- partition set blobs ---- */

/* Bytes of the blob for a record's partition list; 0 when it is not
 * valid (a topic id not 16 bytes, a negative partition, too many). */
static size_t pset_size(Synod__Rec__GroupPartitions *const *p, size_t n)
{
	size_t bytes = 0, parts = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i]->topic_id.len != 16)
			return 0;
		for (size_t k = 0; k < p[i]->n_partitions; k++)
			if (p[i]->partitions[k] < 0)
				return 0;
		parts += p[i]->n_partitions;
		bytes += 20 + 4 * p[i]->n_partitions;
	}
	if (parts > GROUP_PARTS_MAX)
		return 0;
	return bytes ? bytes : 1;
}

static void pset_put(uint8_t *out, Synod__Rec__GroupPartitions *const *p,
		     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memcpy(out, p[i]->topic_id.data, 16);
		st_put_le32(out + 16, (uint32_t)p[i]->n_partitions);
		out += 20;
		for (size_t k = 0; k < p[i]->n_partitions; k++, out += 4)
			st_put_le32(out, (uint32_t)p[i]->partitions[k]);
	}
}

/* Decode a blob into s->gscratch[slot] (valid until the next read). */
static int pset_get(struct store *s, int slot, const uint8_t *b, size_t len,
		    struct store_pset *out)
{
	struct st_pset_scratch *x = &s->gscratch[slot];
	size_t nt = 0, np = 0, off = 0;
	memset(out, 0, sizeof *out);
	while (off + 20 <= len) {
		uint32_t n = st_get_le32(b + off + 16);
		if (n > (len - off - 20) / 4)
			return st_fail(s, STORE_EMALFORMED,
				       "bad partition set");
		nt++;
		np += n;
		off += 20 + 4 * (size_t)n;
	}
	if (nt > x->cap_topics) {
		void *t = realloc(x->topics, nt * sizeof *x->topics);
		if (t == NULL)
			return STORE_ENOMEM;
		x->topics = t;
		x->cap_topics = nt;
	}
	if (np > x->cap_parts) {
		void *p = realloc(x->parts, np * sizeof *x->parts);
		if (p == NULL)
			return STORE_ENOMEM;
		x->parts = p;
		x->cap_parts = np;
	}
	off = 0;
	np = 0;
	for (size_t i = 0; i < nt; i++) {
		uint32_t n = st_get_le32(b + off + 16);
		x->topics[i].topic_id = b + off;
		x->topics[i].n = n;
		/* No partition in the whole set: parts may still be NULL. */
		x->topics[i].partitions = x->parts ? x->parts + np : NULL;
		for (uint32_t k = 0; k < n; k++)
			x->parts[np + k] =
			    (int32_t)st_get_le32(b + off + 20 + 4 * k);
		np += n;
		off += 20 + 4 * (size_t)n;
	}
	out->topics = x->topics;
	out->n_topics = (uint32_t)nt;
	return STORE_OK;
}

void st_groups_free(struct store *s)
{
	for (int i = 0; i < ST_GSCRATCH; i++) {
		free(s->gscratch[i].topics);
		free(s->gscratch[i].parts);
	}
	free(s->gnames);
	memset(s->gscratch, 0, sizeof s->gscratch);
	s->gnames = NULL;
	s->gnames_cap = 0;
}

/* ---- apply ---- */

static int id_ok(const char *id, size_t max)
{
	size_t n = id ? strlen(id) : 0;
	return n > 0 && n <= max;
}

static int opt_ok(const char *v, size_t max)
{
	return v == NULL || strlen(v) <= max;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int group_row(struct store *s, const char *gid, int32_t *epoch,
		     int *found)
{
	sqlite3_stmt *st = s->stmt[ST_GROUP_GET];
	int rc;
	sqlite3_bind_text(st, 1, gid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found && epoch)
		*epoch = sqlite3_column_int(st, 1);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return st_dbfail(s, "read group");
	return STORE_OK;
}

static int member_exists(struct store *s, const char *gid, const char *mid,
			 int *found)
{
	sqlite3_stmt *st = s->stmt[ST_GMEMBER_EXISTS];
	int rc;
	sqlite3_bind_text(st, 1, gid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, mid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return st_dbfail(s, "read member");
	return STORE_OK;
}

static int apply_epoch(struct store *s, const Synod__Rec__GroupEpoch *g,
		       int *status)
{
	sqlite3_stmt *st = s->stmt[ST_GROUP_PUT];
	int32_t cur = 0;
	int found, rv;
	if (!id_ok(g->group_id, GROUP_ID_MAX) || g->group_epoch < 0 ||
	    g->assignment_epoch < 0 || g->assignment_epoch > g->group_epoch ||
	    !id_ok(g->assignor, 31)) {
		*status = STORE_R_INVALID;
		return STORE_OK;
	}
	if ((rv = group_row(s, g->group_id, &cur, &found)) != STORE_OK)
		return rv;
	if (found && g->group_epoch < cur) {
		*status = STORE_R_STALE; /* epochs never go back */
		return STORE_OK;
	}
	sqlite3_bind_text(st, 1, g->group_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, g->group_epoch);
	sqlite3_bind_int(st, 3, g->assignment_epoch);
	sqlite3_bind_text(st, 4, g->assignor, -1, SQLITE_STATIC);
	return st_step_done(s, ST_GROUP_PUT, "put group");
}

static int apply_member(struct store *s, const Synod__Rec__GroupMember *m,
			int *status)
{
	sqlite3_stmt *st = s->stmt[ST_GMEMBER_PUT];
	size_t len = 0;
	uint8_t *names = NULL;
	int found, rv;
	if (!id_ok(m->group_id, GROUP_ID_MAX) ||
	    !id_ok(m->member_id, MEMBER_ID_MAX) ||
	    !opt_ok(m->instance_id, NAME_MAX_LEN) ||
	    !opt_ok(m->rack, NAME_MAX_LEN) ||
	    !opt_ok(m->client_id, NAME_MAX_LEN) ||
	    !opt_ok(m->client_host, NAME_MAX_LEN) ||
	    !opt_ok(m->subscribed_topic_regex, NAME_MAX_LEN) ||
	    !opt_ok(m->server_assignor, 31) || m->rebalance_timeout_ms < 0 ||
	    m->n_subscribed_topic_names > 10000) {
		*status = STORE_R_INVALID;
		return STORE_OK;
	}
	for (size_t i = 0; i < m->n_subscribed_topic_names; i++) {
		if (!id_ok(m->subscribed_topic_names[i], NAME_MAX_LEN)) {
			*status = STORE_R_INVALID;
			return STORE_OK;
		}
		len += strlen(m->subscribed_topic_names[i]) + 1;
	}
	if ((rv = group_row(s, m->group_id, NULL, &found)) != STORE_OK)
		return rv;
	if (!found) {
		*status = STORE_R_INVALID; /* GroupEpoch comes first */
		return STORE_OK;
	}
	if (len) {
		size_t off = 0;
		names = malloc(len);
		if (names == NULL)
			return STORE_ENOMEM;
		for (size_t i = 0; i < m->n_subscribed_topic_names; i++) {
			size_t n = strlen(m->subscribed_topic_names[i]) + 1;
			memcpy(names + off, m->subscribed_topic_names[i], n);
			off += n;
		}
	}
	sqlite3_bind_text(st, 1, m->group_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->member_id, -1, SQLITE_STATIC);
	bind_opt(st, 3, m->instance_id);
	bind_opt(st, 4, m->rack);
	bind_opt(st, 5, m->client_id);
	bind_opt(st, 6, m->client_host);
	sqlite3_bind_int(st, 7, m->rebalance_timeout_ms);
	if (names)
		sqlite3_bind_blob(st, 8, names, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	bind_opt(st, 9, m->subscribed_topic_regex);
	bind_opt(st, 10, m->server_assignor);
	rv = st_step_done(s, ST_GMEMBER_PUT, "put member");
	free(names);
	return rv;
}

static int bind_pset(struct store *s, sqlite3_stmt *st, int i,
		     Synod__Rec__GroupPartitions *const *p, size_t n,
		     uint8_t **buf)
{
	size_t len = pset_size(p, n);
	*buf = NULL;
	if (len == 0)
		return -1;
	if (n == 0) {
		sqlite3_bind_null(st, i);
		return 0;
	}
	*buf = malloc(len);
	if (*buf == NULL)
		return st_fail(s, STORE_ENOMEM, "out of memory"), -2;
	pset_put(*buf, p, n);
	sqlite3_bind_blob(st, i, *buf, (int)len, SQLITE_STATIC);
	return 0;
}

static int apply_target(struct store *s, const Synod__Rec__GroupTarget *t,
			int *status)
{
	sqlite3_stmt *st = s->stmt[ST_GMEMBER_TARGET];
	uint8_t *buf;
	int found, rv;
	if (!id_ok(t->group_id, GROUP_ID_MAX) ||
	    !id_ok(t->member_id, MEMBER_ID_MAX)) {
		*status = STORE_R_INVALID;
		return STORE_OK;
	}
	if ((rv = member_exists(s, t->group_id, t->member_id, &found)) != 0)
		return rv;
	if (!found) {
		*status = STORE_R_NOT_FOUND;
		return STORE_OK;
	}
	rv = bind_pset(s, st, 3, t->partitions, t->n_partitions, &buf);
	if (rv == -2)
		return STORE_ENOMEM;
	if (rv == -1) {
		sqlite3_clear_bindings(st);
		*status = STORE_R_INVALID;
		return STORE_OK;
	}
	sqlite3_bind_text(st, 1, t->group_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->member_id, -1, SQLITE_STATIC);
	rv = st_step_done(s, ST_GMEMBER_TARGET, "put target");
	free(buf);
	return rv;
}

/* Every partition of p held by a member other than mid? */
static int held_by_other(struct store *s, const char *gid, const char *mid,
			 Synod__Rec__GroupPartitions *const *p, size_t n,
			 int *other)
{
	sqlite3_stmt *st = s->stmt[ST_GOWNED_GET];
	*other = 0;
	for (size_t i = 0; i < n && !*other; i++)
		for (size_t k = 0; k < p[i]->n_partitions && !*other; k++) {
			int rc;
			sqlite3_bind_text(st, 1, gid, -1, SQLITE_STATIC);
			sqlite3_bind_blob(st, 2, p[i]->topic_id.data, 16,
					  SQLITE_STATIC);
			sqlite3_bind_int(st, 3, p[i]->partitions[k]);
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW) {
				const char *m =
				    (const char *)sqlite3_column_text(st, 0);
				*other = m == NULL || strcmp(m, mid) != 0;
			}
			sqlite3_reset(st);
			if (rc != SQLITE_ROW && rc != SQLITE_DONE)
				return st_dbfail(s, "read owner");
		}
	return STORE_OK;
}

static int own(struct store *s, const char *gid, const char *mid,
	       Synod__Rec__GroupPartitions *const *p, size_t n, int *dup)
{
	sqlite3_stmt *st = s->stmt[ST_GOWNED_PUT];
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < p[i]->n_partitions; k++) {
			int rc;
			sqlite3_bind_text(st, 1, gid, -1, SQLITE_STATIC);
			sqlite3_bind_blob(st, 2, p[i]->topic_id.data, 16,
					  SQLITE_STATIC);
			sqlite3_bind_int(st, 3, p[i]->partitions[k]);
			sqlite3_bind_text(st, 4, mid, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc == SQLITE_CONSTRAINT) {
				*dup = 1; /* twice in this record */
				return STORE_OK;
			}
			if (rc != SQLITE_DONE)
				return st_dbfail(s, "put owner");
		}
	return STORE_OK;
}

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 20);
}

static size_t put_keys(uint8_t *k, Synod__Rec__GroupPartitions *const *p,
		       size_t n)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < p[i]->n_partitions; j++, m++) {
			memcpy(k + 20 * m, p[i]->topic_id.data, 16);
			st_put_le32(k + 20 * m + 16,
				    (uint32_t)p[i]->partitions[j]);
		}
	return m;
}

/* *dup = a partition appears twice in assigned + pending (checked before
 * anything is written: a refused record changes nothing). */
static int has_dups(const Synod__Rec__GroupCurrent *c, int *dup)
{
	size_t n = 0, m;
	uint8_t *k;
	*dup = 0;
	for (size_t i = 0; i < c->n_assigned; i++)
		n += c->assigned[i]->n_partitions;
	for (size_t i = 0; i < c->n_pending_revocation; i++)
		n += c->pending_revocation[i]->n_partitions;
	if (n < 2)
		return STORE_OK;
	k = malloc(20 * n);
	if (k == NULL)
		return STORE_ENOMEM;
	m = put_keys(k, c->assigned, c->n_assigned);
	put_keys(k + 20 * m, c->pending_revocation, c->n_pending_revocation);
	qsort(k, n, 20, key_cmp);
	for (size_t i = 1; i < n && !*dup; i++)
		*dup = memcmp(k + 20 * (i - 1), k + 20 * i, 20) == 0;
	free(k);
	return STORE_OK;
}

/* Does the member exist (*found), and are its stored assigned and pending
 * sets these encodings (*same; NULL: no set)? */
static int stored_sets(struct store *s, const Synod__Rec__GroupCurrent *c,
		       const uint8_t *a, size_t la, const uint8_t *p, size_t lp,
		       int *found, int *same)
{
	sqlite3_stmt *st = s->stmt[ST_GMEMBER_SETS];
	int rc;
	sqlite3_bind_text(st, 1, c->group_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->member_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	*same = 0;
	if (*found) {
		const void *sa = sqlite3_column_blob(st, 0);
		size_t na = (size_t)sqlite3_column_bytes(st, 0);
		const void *sp = sqlite3_column_blob(st, 1);
		size_t np = (size_t)sqlite3_column_bytes(st, 1);
		*same = na == la && np == lp &&
			(la == 0 || memcmp(sa, a, la) == 0) &&
			(lp == 0 || memcmp(sp, p, lp) == 0);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return st_dbfail(s, "read member");
	return STORE_OK;
}

static int apply_current(struct store *s, const Synod__Rec__GroupCurrent *c,
			 int *status)
{
	sqlite3_stmt *st = s->stmt[ST_GMEMBER_CURRENT];
	uint8_t *a = NULL, *p = NULL;
	int found, same, other = 0, dup = 0, rv, ra, rp;
	if (!id_ok(c->group_id, GROUP_ID_MAX) ||
	    !id_ok(c->member_id, MEMBER_ID_MAX) || c->member_epoch < 0 ||
	    c->previous_epoch < 0 || c->previous_epoch > c->member_epoch ||
	    c->state > 2 || pset_size(c->assigned, c->n_assigned) == 0 ||
	    pset_size(c->pending_revocation, c->n_pending_revocation) == 0) {
		*status = STORE_R_INVALID;
		return STORE_OK;
	}
	if ((rv = has_dups(c, &dup)) != STORE_OK)
		return rv;
	if (dup) {
		*status = STORE_R_INVALID; /* a partition twice */
		return STORE_OK;
	}
	ra = bind_pset(s, st, 6, c->assigned, c->n_assigned, &a);
	rp = bind_pset(s, st, 7, c->pending_revocation, c->n_pending_revocation,
		       &p);
	if (ra == -2 || rp == -2) {
		rv = STORE_ENOMEM;
		goto unbind;
	}
	rv = stored_sets(
	    s, c, a, a ? pset_size(c->assigned, c->n_assigned) : 0, p,
	    p ? pset_size(c->pending_revocation, c->n_pending_revocation) : 0,
	    &found, &same);
	if (rv != STORE_OK)
		goto unbind;
	if (!found) {
		*status = STORE_R_NOT_FOUND;
		goto unbind;
	}
	/* The same sets (an epoch or state step): its owner rows are
	 * already these. Otherwise the invariant: no partition held by two
	 * members of the group. */
	if (!same &&
	    ((rv = held_by_other(s, c->group_id, c->member_id, c->assigned,
				 c->n_assigned, &other)) != STORE_OK ||
	     (!other && (rv = held_by_other(s, c->group_id, c->member_id,
					    c->pending_revocation,
					    c->n_pending_revocation, &other)) !=
			    STORE_OK)))
		goto unbind;
	if (other) {
		*status = STORE_R_REFUSED;
		goto unbind;
	}
	if (!same) {
		sqlite3_bind_text(s->stmt[ST_GOWNED_DEL_MEMBER], 1, c->group_id,
				  -1, SQLITE_STATIC);
		sqlite3_bind_text(s->stmt[ST_GOWNED_DEL_MEMBER], 2,
				  c->member_id, -1, SQLITE_STATIC);
		if ((rv = st_step_done(s, ST_GOWNED_DEL_MEMBER,
				       "drop owners")) != 0)
			goto unbind;
		if ((rv = own(s, c->group_id, c->member_id, c->assigned,
			      c->n_assigned, &dup)) != STORE_OK ||
		    (!dup &&
		     (rv = own(s, c->group_id, c->member_id,
			       c->pending_revocation, c->n_pending_revocation,
			       &dup)) != STORE_OK))
			goto unbind;
		if (dup) { /* ruled out by has_dups(): cannot happen */
			rv = st_fail(s, STORE_EDB,
				     "partition twice in a record");
			goto unbind;
		}
	}
	sqlite3_bind_text(st, 1, c->group_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->member_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, c->member_epoch);
	sqlite3_bind_int(st, 4, c->previous_epoch);
	sqlite3_bind_int(st, 5, (int)c->state);
	rv = st_step_done(s, ST_GMEMBER_CURRENT, "put current");
	free(a);
	free(p);
	return rv;
unbind:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	free(a);
	free(p);
	return rv;
}

static int apply_remove(struct store *s, const Synod__Rec__GroupMemberRemove *r,
			int *status)
{
	int rv;
	if (!id_ok(r->group_id, GROUP_ID_MAX) ||
	    !id_ok(r->member_id, MEMBER_ID_MAX)) {
		*status = STORE_R_INVALID;
		return STORE_OK;
	}
	sqlite3_bind_text(s->stmt[ST_GMEMBER_DEL], 1, r->group_id, -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(s->stmt[ST_GMEMBER_DEL], 2, r->member_id, -1,
			  SQLITE_STATIC);
	if ((rv = st_step_done(s, ST_GMEMBER_DEL, "drop member")) != 0)
		return rv;
	if (sqlite3_changes(s->db) == 0)
		*status = STORE_R_NOT_FOUND;
	sqlite3_bind_text(s->stmt[ST_GOWNED_DEL_MEMBER], 1, r->group_id, -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(s->stmt[ST_GOWNED_DEL_MEMBER], 2, r->member_id, -1,
			  SQLITE_STATIC);
	return st_step_done(s, ST_GOWNED_DEL_MEMBER, "drop owners");
}

static int member_count(struct store *s, const char *gid, int64_t *n)
{
	sqlite3_stmt *st = s->stmt[ST_GMEMBERS_COUNT];
	int rc;
	sqlite3_bind_text(st, 1, gid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return st_dbfail(s, "count members");
	return STORE_OK;
}

static int apply_delete(struct store *s, const Synod__Rec__GroupDelete *d,
			int *status)
{
	int64_t n;
	int rv;
	if (!id_ok(d->group_id, GROUP_ID_MAX)) {
		*status = STORE_R_INVALID;
		return STORE_OK;
	}
	if ((rv = member_count(s, d->group_id, &n)) != STORE_OK)
		return rv;
	if (n > 0) {
		*status = STORE_R_REFUSED; /* only empty groups */
		return STORE_OK;
	}
	sqlite3_bind_text(s->stmt[ST_GROUP_DEL], 1, d->group_id, -1,
			  SQLITE_STATIC);
	if ((rv = st_step_done(s, ST_GROUP_DEL, "drop group")) != 0)
		return rv;
	if (sqlite3_changes(s->db) == 0) {
		*status = STORE_R_NOT_FOUND;
		return STORE_OK;
	}
	/* The group's config overrides go with it. */
	sqlite3_bind_text(s->stmt[ST_GCONFIGS_DEL], 1, d->group_id, -1,
			  SQLITE_STATIC);
	return st_step_done(s, ST_GCONFIGS_DEL, "group configs");
}

int st_apply_group(struct store *s, const Synod__Rec__Record *r, int *status)
{
	switch (r->body_case) {
	case SYNOD__REC__RECORD__BODY_GROUP_EPOCH:
		return apply_epoch(s, r->group_epoch, status);
	case SYNOD__REC__RECORD__BODY_GROUP_MEMBER:
		return apply_member(s, r->group_member, status);
	case SYNOD__REC__RECORD__BODY_GROUP_TARGET:
		return apply_target(s, r->group_target, status);
	case SYNOD__REC__RECORD__BODY_GROUP_CURRENT:
		return apply_current(s, r->group_current, status);
	case SYNOD__REC__RECORD__BODY_GROUP_MEMBER_REMOVE:
		return apply_remove(s, r->group_member_remove, status);
	default:
		return apply_delete(s, r->group_delete, status);
	}
}

/* ---- reads ---- */

static const char *col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

static void read_group(sqlite3_stmt *st, struct store_group *g)
{
	g->group_id = col_text(st, 0);
	g->group_epoch = sqlite3_column_int(st, 1);
	g->assignment_epoch = sqlite3_column_int(st, 2);
	g->assignor = col_text(st, 3);
}

int store_group_get(struct store *s, const char *group_id, store_group_cb cb,
		    void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_GROUP_GET];
	struct store_group g;
	int rc, rv = STORE_ENOTFOUND;
	sqlite3_bind_text(st, 1, group_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_group(st, &g);
		rv = cb(arg, &g);
	} else if (rc != SQLITE_DONE) {
		rv = st_dbfail(s, "read group");
	}
	sqlite3_reset(st);
	return rv;
}

int store_group_list(struct store *s, store_group_cb cb, void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_GROUP_ALL];
	struct store_group g;
	int rc, rv = STORE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_group(st, &g);
		if ((rv = cb(arg, &g)) != 0)
			break;
	}
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = st_dbfail(s, "list groups");
	sqlite3_reset(st);
	return rv;
}

/* Subscribed names blob -> s->gnames (pointers into the blob). */
static int read_names(struct store *s, const uint8_t *b, size_t len,
		      struct store_group_member *m)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += b[i] == '\0';
	if (n > s->gnames_cap) {
		void *p = realloc(s->gnames, n * sizeof *s->gnames);
		if (p == NULL)
			return STORE_ENOMEM;
		s->gnames = p;
		s->gnames_cap = n;
	}
	m->n_subscribed = 0;
	for (size_t i = 0; i < len;) {
		const char *name = (const char *)b + i;
		size_t l = strnlen(name, len - i);
		if (i + l >= len)
			break; /* unterminated tail: ignored */
		s->gnames[m->n_subscribed++] = name;
		i += l + 1;
	}
	m->subscribed_names = s->gnames;
	return STORE_OK;
}

int store_group_members(struct store *s, const char *group_id,
			store_member_cb cb, void *arg)
{
	sqlite3_stmt *st = s->stmt[ST_GMEMBERS_OF];
	int rc, rv = STORE_OK;
	sqlite3_bind_text(st, 1, group_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_group_member m;
		memset(&m, 0, sizeof m);
		m.group_id = col_text(st, 0);
		m.member_id = col_text(st, 1);
		m.instance_id = col_text(st, 2);
		m.rack = col_text(st, 3);
		m.client_id = col_text(st, 4);
		m.client_host = col_text(st, 5);
		m.rebalance_timeout_ms = sqlite3_column_int(st, 6);
		if ((rv = read_names(s, sqlite3_column_blob(st, 7),
				     (size_t)sqlite3_column_bytes(st, 7),
				     &m)) != STORE_OK)
			break;
		m.subscribed_regex = col_text(st, 8);
		m.server_assignor = col_text(st, 9);
		m.member_epoch = sqlite3_column_int(st, 10);
		m.previous_epoch = sqlite3_column_int(st, 11);
		m.state = (uint32_t)sqlite3_column_int(st, 12);
		if ((rv = pset_get(s, 0, sqlite3_column_blob(st, 13),
				   (size_t)sqlite3_column_bytes(st, 13),
				   &m.target)) != STORE_OK ||
		    (rv = pset_get(s, 1, sqlite3_column_blob(st, 14),
				   (size_t)sqlite3_column_bytes(st, 14),
				   &m.assigned)) != STORE_OK ||
		    (rv = pset_get(s, 2, sqlite3_column_blob(st, 15),
				   (size_t)sqlite3_column_bytes(st, 15),
				   &m.pending)) != STORE_OK)
			break;
		if ((rv = cb(arg, &m)) != 0)
			break;
	}
	if (rv == STORE_OK && rc != SQLITE_DONE)
		rv = st_dbfail(s, "list members");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

int store_group_owner(struct store *s, const char *group_id,
		      const uint8_t topic_id[16], int32_t partition,
		      char *member, size_t size)
{
	sqlite3_stmt *st = s->stmt[ST_GOWNED_GET];
	int rc, rv = STORE_ENOTFOUND;
	sqlite3_bind_text(st, 1, group_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, topic_id, 16, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, partition);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(member, size, "%s", col_text(st, 0));
		rv = STORE_OK;
	} else if (rc != SQLITE_DONE) {
		rv = st_dbfail(s, "read owner");
	}
	sqlite3_reset(st);
	return rv;
}
