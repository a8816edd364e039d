/* storage/store_brokers.c - the brokers table family: registrations and
 * endpoints, their records' apply (with the epoch preconditions and the
 * "never while it leads" rule), and their reads. See store_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

const char *const st_broker_sql[ST_COUNT] = {
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
    [ST_BROKER_STATE] = "SELECT fenced, shutting_down FROM brokers WHERE "
			"id = ?1",
    /* Uses the partitions_leader index: O(log n), not a scan. */
    [ST_LEADS_ANY] = "SELECT 1 FROM partitions WHERE leader = ?1 LIMIT 1",
};

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
		   : st_dbfail(s, "broker epoch");
}

/* Does broker `id` lead any partition? (index lookup) */
int st_leads_any(struct store *s, int32_t id, int *leads)
{
	sqlite3_stmt *st = s->stmt[ST_LEADS_ANY];
	int rc;
	sqlite3_bind_int(st, 1, id);
	rc = sqlite3_step(st);
	*leads = rc == SQLITE_ROW;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		   ? STORE_OK
		   : st_dbfail(s, "leads any");
}

void st_cache_drop(struct store *s)
{
	s->cache_topic_valid = 0;
	for (size_t i = 0;
	     i < sizeof s->cache_brokers / sizeof *s->cache_brokers; i++)
		s->cache_brokers[i].usable = -1;
}

/* May broker `id` lead or join an ISR: registered, unfenced, not shutting
 * down. */
int st_broker_usable(struct store *s, int32_t id, int *ok)
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
		   : st_dbfail(s, "broker state");
}

/* Strict rule for records that fence, shut down, unregister or replace a
 * registration of broker `id`: it must lead nothing any more (the
 * controller moves its leaderships away first). */
static int refuse_if_leading(struct store *s, unsigned env, int32_t id,
			     int *status)
{
	int leads = 0, rv;
	if (env < ST_ENV_STRICT)
		return STORE_OK;
	if ((rv = st_leads_any(s, id, &leads)) != STORE_OK)
		return rv;
	if (leads)
		*status = STORE_R_REFUSED;
	return STORE_OK;
}

int st_apply_broker(struct store *s, const Synod__Rec__Record *r,
		    uint64_t index, uint64_t ts, unsigned env, int *status)
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
		if ((rv = refuse_if_leading(s, env, b->broker_id, status)) !=
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
		if ((rv = st_step_done(s, ST_BROKER_PUT, "register broker")) !=
		    0)
			return rv;
		sqlite3_bind_int(s->stmt[ST_ENDPOINTS_DEL], 1, b->broker_id);
		if ((rv = st_step_done(s, ST_ENDPOINTS_DEL, "endpoints")) != 0)
			return rv;
		for (size_t i = 0; i < b->n_endpoints; i++) {
			const Synod__Rec__BrokerEndpoint *e = b->endpoints[i];
			st = s->stmt[ST_ENDPOINT_PUT];
			sqlite3_bind_int(st, 1, b->broker_id);
			BIND_TEXT(st, 2, e->name);
			BIND_TEXT(st, 3, e->host);
			sqlite3_bind_int(st, 4, (int)e->port);
			BIND_TEXT(st, 5, e->security_protocol);
			if ((rv = st_step_done(s, ST_ENDPOINT_PUT,
					       "endpoint")) != 0)
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
		if (fence &&
		    ((rv = refuse_if_leading(s, env, id, status)) != STORE_OK ||
		     *status != STORE_R_OK))
			return rv;
		st = s->stmt[ST_BROKER_FENCE];
		sqlite3_bind_int(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)epoch);
		sqlite3_bind_int(st, 3, fence);
		if ((rv = st_step_done(s, ST_BROKER_FENCE, "fence broker")) !=
		    0)
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
		if ((rv = refuse_if_leading(s, env,
					    r->broker_shutdown->broker_id,
					    status)) != STORE_OK ||
		    *status != STORE_R_OK)
			return rv;
		st = s->stmt[ST_BROKER_SHUTDOWN];
		sqlite3_bind_int(st, 1, r->broker_shutdown->broker_id);
		sqlite3_bind_int64(st, 2,
				   (sqlite3_int64)r->broker_shutdown->epoch);
		if ((rv = st_step_done(s, ST_BROKER_SHUTDOWN, "shutdown")) != 0)
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
		if ((rv = refuse_if_leading(s, env, u->broker_id, status)) !=
			STORE_OK ||
		    *status != STORE_R_OK)
			return rv;
		st = s->stmt[ST_BROKER_DEL];
		sqlite3_bind_int(st, 1, u->broker_id);
		sqlite3_bind_int64(
		    st, 2, (sqlite3_int64)(u->has_epoch ? u->epoch : 0));
		if ((rv = st_step_done(s, ST_BROKER_DEL, "unregister")) != 0)
			return rv;
		if (sqlite3_changes(s->db) == 0) {
			*status = STORE_R_NOT_FOUND;
			return STORE_OK;
		}
		sqlite3_bind_int(s->stmt[ST_ENDPOINTS_DEL], 1, u->broker_id);
		return st_step_done(s, ST_ENDPOINTS_DEL, "endpoints");
	}
	}
}

void st_copy_col(char *dst, size_t size, sqlite3_stmt *st, int col)
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
	st_copy_col(b->incarnation_id, sizeof b->incarnation_id, st, 2);
	b->has_rack = sqlite3_column_type(st, 3) != SQLITE_NULL;
	st_copy_col(b->rack, sizeof b->rack, st, 3);
	b->fenced = sqlite3_column_int(st, 4);
	b->shutting_down = sqlite3_column_int(st, 5);
	b->registered_ms = (uint64_t)sqlite3_column_int64(st, 6);
	sqlite3_bind_int(es, 1, b->id);
	while ((rc = sqlite3_step(es)) == SQLITE_ROW &&
	       b->n_endpoints < STORE_MAX_ENDPOINTS) {
		struct store_endpoint *e = &b->endpoints[b->n_endpoints++];
		st_copy_col(e->name, sizeof e->name, es, 0);
		st_copy_col(e->host, sizeof e->host, es, 1);
		e->port = (uint16_t)sqlite3_column_int(es, 2);
		st_copy_col(e->security_protocol, sizeof e->security_protocol,
			    es, 3);
	}
	sqlite3_reset(es);
	return rc == SQLITE_ROW || rc == SQLITE_DONE
		   ? STORE_OK
		   : st_dbfail(s, "endpoints");
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
				       : st_dbfail(s, "get broker");
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
		rv = st_dbfail(s, "list brokers");
	sqlite3_reset(st);
	return rv;
}
