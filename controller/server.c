/* controller/server.c - client listener and request handlers. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configdefs.h"
#include "log.h"
#include "synod/client.h"
#include "synod.pb-c.h"
#include "server_int.h"
#include "brokers.h"
#include "topics.h"

/* ---- limit log lines: at most one a second per kind ---- */

static const char *const ratelog_what[SRV_LOG_KINDS] = {
    [SRV_LOG_MAX_CONNECTIONS] = "client connections refused "
				"(max_client_connections)",
    [SRV_LOG_PER_IP] = "client connections refused "
		       "(max_client_connections_per_ip)",
    [SRV_LOG_READ_PAUSE] = "client connections stopped reading "
			   "(max_read_buffer_bytes)",
    [SRV_LOG_IDLE] = "idle client connections closed (idle_timeout_ms)",
    [SRV_LOG_PARTIAL_FRAME] = "client connections closed with an "
			      "incomplete frame (partial_frame_timeout_ms)",
    [SRV_LOG_SLOW_READER] = "client connections closed as slow readers "
			    "(slow_reader_timeout_ms)",
    [SRV_LOG_OUTPUT_LIMIT] = "client connections closed with too many "
			     "responses unread",
};

/* 1 when a line of this kind may be logged now; else it is counted and
 * the 1 s timer reports the count. */
static int ratelog_allow(struct server *s, int kind)
{
	struct srv_ratelog *r = &s->ratelogs[kind];
	uint64_t now = uv_now(s->loop);
	if (r->logged && now - r->last_ms < 1000) {
		r->dropped++;
		return 0;
	}
	r->logged = 1;
	r->last_ms = now;
	return 1;
}

static void ratelog_flush(struct server *s)
{
	uint64_t now = uv_now(s->loop);
	for (int k = 0; k < SRV_LOG_KINDS; k++) {
		struct srv_ratelog *r = &s->ratelogs[k];
		if (r->dropped == 0 || now - r->last_ms < 1000)
			continue;
		logf_(k == SRV_LOG_IDLE ? LOG_INFO : LOG_WARN,
		      "%llu more %s in the last %llu ms",
		      (unsigned long long)r->dropped, ratelog_what[k],
		      (unsigned long long)(now - r->last_ms));
		r->dropped = 0;
		r->last_ms = now;
	}
}

void srv_conn_ref(struct sconn *sc)
{
	sc->refs++;
}

void srv_conn_unref(struct sconn *sc)
{
	if (--sc->refs == 0)
		free(sc);
}

void srv_send(struct sconn *sc, const struct frame_header *req,
	      const ProtobufCMessage *body)
{
	struct frame_header h = *req;
	if (sc->closed)
		return;
	h.kind = FRAME_RESPONSE;
	h.flags = 0;
	if (conn_send(&sc->conn, &h, body) != 0) {
		conn_close(&sc->conn);
	} else if (conn_pending_bytes(&sc->conn) > MAX_OUTPUT_BYTES) {
		sc->server->stats.closed_output_limit++;
		if (ratelog_allow(sc->server, SRV_LOG_OUTPUT_LIMIT))
			log_warn("client %s: %zu bytes of responses unread; "
				 "closing",
				 sc->conn.peer, conn_pending_bytes(&sc->conn));
		conn_close(&sc->conn);
	}
}

void srv_fill_status(struct server *s, Synod__Wire__Status *st, int code,
		     const char *msg, uint64_t *leader_id, char *leader,
		     size_t leader_size)
{
	st->code = code;
	st->message = (char *)(msg ? msg : synod_strerror(code));
	if (code == SYNOD_ENOT_CONTROLLER || code == SYNOD_EUNAVAILABLE) {
		node_leader(s->node, leader_id, leader, leader_size);
		if (*leader_id != 0) {
			st->has_leader_id = 1;
			st->leader_id = *leader_id;
			if (leader[0])
				st->leader_address = leader;
		}
	}
}

void srv_reply_status(struct sconn *sc, const struct frame_header *h, int code,
		      const char *msg)
{
	Synod__Wire__AnyResponse r = SYNOD__WIRE__ANY_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	srv_fill_status(sc->server, &st, code, msg, &lid, leader,
			sizeof leader);
	r.status = &st;
	if (code != SYNOD_OK)
		sc->server->stats.errors_sent++;
	srv_send(sc, h, &r.base);
}

struct pending *srv_pending_new(struct sconn *sc, const struct frame_header *h,
				void *msg,
				const ProtobufCMessageDescriptor *desc,
				waiter_cb done)
{
	struct pending *p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	p->w.done = done;
	p->w.data = p;
	p->sc = sc;
	p->h = *h;
	p->msg = msg;
	p->desc = desc;
	sc->refs++;
	if (++sc->outstanding >= MAX_OUTSTANDING)
		conn_pause(&sc->conn);
	return p;
}

void srv_pending_free(struct pending *p)
{
	if (p->msg)
		protobuf_c_message_free_unpacked(p->msg, NULL);
	/* A connection waiting for read-buffer memory resumes when that is
	 * released. */
	if (--p->sc->outstanding == MAX_OUTSTANDING / 2 && !p->sc->closed &&
	    !p->sc->blocked)
		conn_resume(&p->sc->conn);
	srv_conn_unref(p->sc);
	free(p);
}

/* ---- metadata and status (any node) ---- */

static void handle_metadata(struct sconn *sc, const struct frame_header *h,
			    Synod__Wire__MetadataRequest *req)
{
	struct server *s = sc->server;
	struct node *n = s->node;
	Synod__Wire__MetadataResponse r = SYNOD__WIRE__METADATA_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	struct raft_configuration *conf = &n->raft.configuration;
	Synod__Wire__NodeAddress *nodes = NULL, **ptrs = NULL;
	char leader[SYNOD_ADDR_MAX];
	char(*addrs)[2][SYNOD_ADDR_MAX] = NULL;
	uint64_t lid = 0;

	if (req->cluster_id && req->cluster_id[0] &&
	    strcmp(req->cluster_id, n->cfg->cluster_id) != 0) {
		char msg[160];
		snprintf(msg, sizeof msg, "this node belongs to cluster %s",
			 n->cfg->cluster_id);
		srv_reply_status(sc, h, SYNOD_ECLUSTER_ID_MISMATCH, msg);
		return;
	}
	srv_fill_status(s, &st, SYNOD_OK, NULL, &lid, leader, sizeof leader);
	r.status = &st;
	r.cluster_id = (char *)n->cfg->cluster_id;
	r.has_node_id = 1;
	r.node_id = n->cfg->node_id;
	node_leader(n, &lid, leader, sizeof leader);
	if (lid) {
		r.has_leader_id = 1;
		r.leader_id = lid;
		r.leader_address = leader;
	}
	if (conf->n > 0) {
		nodes = calloc(conf->n, sizeof *nodes);
		ptrs = calloc(conf->n, sizeof *ptrs);
		addrs = calloc(conf->n, sizeof *addrs);
	}
	if (conf->n > 0 && (!nodes || !ptrs || !addrs)) {
		free(nodes);
		free(ptrs);
		free(addrs);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		return;
	}
	for (unsigned i = 0; i < conf->n; i++) {
		const struct raft_server *sv = &conf->servers[i];
		synod__wire__node_address__init(&nodes[i]);
		if (synod_addr_split(sv->address, addrs[i][0], SYNOD_ADDR_MAX,
				     addrs[i][1], SYNOD_ADDR_MAX) != 0) {
			snprintf(addrs[i][0], SYNOD_ADDR_MAX, "%s",
				 sv->address);
			addrs[i][1][0] = '\0';
		}
		nodes[i].id = sv->id;
		nodes[i].raft_address = addrs[i][0];
		nodes[i].client_address = addrs[i][1];
		nodes[i].voter = sv->role == RAFT_VOTER;
		ptrs[i] = &nodes[i];
	}
	r.n_nodes = conf->n;
	r.nodes = ptrs;
	srv_send(sc, h, &r.base);
	free(nodes);
	free(ptrs);
	free(addrs);
}

static void fill_connections(const struct server *s,
			     Synod__Wire__ClientConnections *cc)
{
	cc->open = s->n_served;
	cc->accepted = s->stats.connections_accepted;
	cc->refused_max_connections = s->stats.refused_max_connections;
	cc->refused_per_ip = s->stats.refused_per_ip;
	cc->closed_idle = s->stats.closed_idle;
	cc->closed_partial_frame = s->stats.closed_partial_frame;
	cc->closed_slow_reader = s->stats.closed_slow_reader;
	cc->closed_output_limit = s->stats.closed_output_limit;
	cc->bad_frames = s->stats.bad_frames;
	cc->read_buffer_bytes = s->rbuf_bytes;
	cc->read_pauses = s->stats.read_pauses;
	cc->reads_paused = s->n_blocked;
}

static void handle_node_status(struct sconn *sc, const struct frame_header *h,
			       const Synod__Wire__NodeStatusRequest *req)
{
	struct server *s = sc->server;
	struct node *n = s->node;
	struct raft *r = &n->raft;
	Synod__Wire__NodeStatusResponse m =
	    SYNOD__WIRE__NODE_STATUS_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__PeerProgress *peers = NULL, **ptrs = NULL;
	Synod__Wire__ClientConnections cc =
	    SYNOD__WIRE__CLIENT_CONNECTIONS__INIT;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	unsigned np = 0;

	srv_fill_status(s, &st, SYNOD_OK, NULL, &lid, leader, sizeof leader);
	m.status = &st;
	m.has_node_id = m.has_term = m.has_commit_index = 1;
	m.has_applied_index = m.has_last_index = m.has_leader_id = 1;
	m.has_last_contact_ms = m.has_active_controller = 1;
	m.has_snapshot_index = m.has_uptime_ms = m.has_elections_started = 1;
	if (node_check_active(n) == SYNOD_OK) {
		const struct brokers_stats *bs = brokers_stats(s->brokers);
		m.has_brokers = m.has_broker_heartbeats = 1;
		m.has_brokers_fenced_by_timeout = m.has_broker_registrations =
		    1;
		m.brokers = brokers_count(s->brokers);
		m.broker_heartbeats = bs->heartbeats;
		m.brokers_fenced_by_timeout = bs->fenced_by_timeout;
		m.broker_registrations = bs->registrations;
	}
	m.has_metadata_version = 1;
	m.metadata_version = store_applied_index(n->fsm.store);
	m.has_db_bytes = m.has_snapshots_taken = m.has_last_snapshot_us = 1;
	m.has_last_snapshot_bytes = m.has_snapshots_restored = 1;
	m.has_last_restore_us = m.has_rss_bytes = 1;
	m.has_loop_stall_max_us = m.has_loop_stalls_over_50ms = 1;
	m.loop_stall_max_us = n->stats.loop_stall_max_us;
	m.loop_stalls_over_50ms = n->stats.loop_stalls_50ms;
	m.has_apply_max_us = 1;
	m.apply_max_us = n->fsm.apply_max_us;
	if (req->has_reset_loop_stall && req->reset_loop_stall) {
		n->stats.loop_stall_max_us = n->stats.loop_stalls_50ms = 0;
		n->fsm.apply_max_us = 0;
	}
	m.db_bytes = store_db_size(n->fsm.store);
	m.snapshots_taken = n->fsm.snapshots_taken;
	m.last_snapshot_us = n->fsm.last_snapshot_us;
	m.last_snapshot_bytes = n->fsm.last_snapshot_bytes;
	m.snapshots_restored = n->fsm.snapshots_restored;
	m.last_restore_us = n->fsm.last_restore_us;
	{
		size_t rss = 0;
		uv_resident_set_memory(&rss);
		m.rss_bytes = rss;
	}
	m.node_id = n->cfg->node_id;
	m.role = (char *)node_role(n);
	m.term = raft_current_term(r);
	m.commit_index = raft_commit_index(r);
	m.applied_index = raft_last_applied(r);
	m.last_index = raft_last_index(r);
	node_leader(n, &lid, leader, sizeof leader);
	m.leader_id = lid;
	m.last_contact_ms = node_last_contact_ms(n);
	m.cluster_id = (char *)n->cfg->cluster_id;
	m.active_controller = node_check_active(n) == SYNOD_OK;
	m.snapshot_index = n->fsm.snapshot_index;
	m.version = SYNOD_VERSION;
	m.uptime_ms = uv_now(n->loop) - n->stats.start_ms;
	m.elections_started = n->stats.term_changes;
	if (raft_state(r) == RAFT_LEADER && r->configuration.n > 0) {
		peers = calloc(r->configuration.n, sizeof *peers);
		ptrs = calloc(r->configuration.n, sizeof *ptrs);
		for (unsigned i = 0; peers && ptrs && i < r->configuration.n;
		     i++) {
			raft_index idx = 0;
			raft_id id = r->configuration.servers[i].id;
			if (id == r->id)
				idx = raft_last_index(r);
			else if (raft_match_index(r, id, &idx) != 0)
				continue;
			synod__wire__peer_progress__init(&peers[np]);
			peers[np].id = id;
			peers[np].match_index = idx;
			ptrs[np] = &peers[np];
			np++;
		}
	}
	m.n_peers = np;
	m.peers = ptrs;
	fill_connections(s, &cc);
	m.connections = &cc;
	srv_send(sc, h, &m.base);
	free(peers);
	free(ptrs);
}

/* ---- configs ---- */

static int check_entry(unsigned scope, const char *resource, const char *key,
		       const char *value, char *err, size_t err_size)
{
	if (scope == SYNOD_SCOPE_TOPIC &&
	    (resource == NULL || !topic_name_valid(resource))) {
		snprintf(err, err_size,
			 "topic scope needs a valid topic name "
			 "(1-249 of [a-zA-Z0-9._-], not '.' or '..')");
		return SYNOD_EINVALID_ARGUMENT;
	}
	if (value == NULL) {
		const struct configdef *d = configdef_find(key);
		if (d == NULL || scope > SYNOD_SCOPE_TOPIC) {
			snprintf(err, err_size, "unknown config key '%s'", key);
			return SYNOD_EINVALID_CONFIG;
		}
		if (scope == SYNOD_SCOPE_TOPIC && !d->topic_scope) {
			snprintf(err, err_size,
				 "'%s' can only be set for the cluster", key);
			return SYNOD_EINVALID_CONFIG;
		}
		return SYNOD_OK;
	}
	if (configdef_validate(scope, key, value, err, err_size) != 0)
		return SYNOD_EINVALID_CONFIG;
	return SYNOD_OK;
}

static void config_write_done(struct node *n, struct waiter *w, int rc,
			      const int *statuses)
{
	struct pending *p = w->data;
	Synod__Wire__ConfigSetResponse r =
	    SYNOD__WIRE__CONFIG_SET_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	if (rc == SYNOD_OK && statuses) {
		for (unsigned i = 0; i < w->count; i++)
			if (statuses[i] == STORE_R_NOT_FOUND)
				rc = SYNOD_ENOT_FOUND;
			else if (statuses[i] != STORE_R_OK)
				rc = SYNOD_EINVALID_ARGUMENT;
	}
	srv_fill_status(p->sc->server, &st, rc, NULL, &lid, leader,
			sizeof leader);
	r.status = &st;
	if (rc == SYNOD_OK) {
		r.has_metadata_version = 1;
		r.metadata_version = store_applied_index(n->fsm.store);
	}
	/* ConfigDeleteResponse has the same fields and numbers. */
	srv_send(p->sc, &p->h, &r.base);
	srv_pending_free(p);
}

static void handle_config_set(struct sconn *sc, const struct frame_header *h,
			      Synod__Wire__ConfigSetRequest *req)
{
	struct server *s = sc->server;
	Synod__Rec__SetConfig *sets;
	Synod__Rec__Record *recs;
	const Synod__Rec__Record **ptrs;
	char err[256];
	struct pending *p;
	int rv = node_check_active(s->node);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		goto out;
	}
	if (req->n_entries == 0) {
		srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT, "no entries");
		goto out;
	}
	for (size_t i = 0; i < req->n_entries; i++) {
		Synod__Wire__ConfigEntry *e = req->entries[i];
		rv = check_entry(e->scope, e->resource, e->key, e->value, err,
				 sizeof err);
		if (rv != SYNOD_OK) {
			srv_reply_status(sc, h, rv, err);
			goto out;
		}
	}
	if (req->validate_only) {
		srv_reply_status(sc, h, SYNOD_OK, "valid");
		goto out;
	}
	sets = calloc(req->n_entries, sizeof *sets);
	recs = calloc(req->n_entries, sizeof *recs);
	ptrs = calloc(req->n_entries, sizeof *ptrs);
	p = srv_pending_new(sc, h, req, NULL, config_write_done);
	if (!sets || !recs || !ptrs || !p) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		free(sets);
		free(recs);
		free(ptrs);
		if (p) {
			p->msg = NULL;
			srv_pending_free(p);
		}
		goto out;
	}
	for (size_t i = 0; i < req->n_entries; i++) {
		Synod__Wire__ConfigEntry *e = req->entries[i];
		synod__rec__set_config__init(&sets[i]);
		synod__rec__record__init(&recs[i]);
		sets[i].scope = e->scope;
		sets[i].resource =
		    e->scope == SYNOD_SCOPE_TOPIC ? e->resource : NULL;
		sets[i].key = e->key;
		sets[i].value = e->value;
		recs[i].body_case = SYNOD__REC__RECORD__BODY_SET_CONFIG;
		recs[i].set_config = &sets[i];
		ptrs[i] = &recs[i];
	}
	rv = node_propose(s->node, ptrs, (unsigned)req->n_entries, &p->w);
	free(sets);
	free(recs);
	free(ptrs);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(p);
	}
	return; /* req is owned by p now */
out:
	synod__wire__config_set_request__free_unpacked(req, NULL);
}

static void handle_config_delete(struct sconn *sc, const struct frame_header *h,
				 Synod__Wire__ConfigDeleteRequest *req)
{
	struct server *s = sc->server;
	Synod__Rec__DeleteConfig d = SYNOD__REC__DELETE_CONFIG__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	const Synod__Rec__Record *rp = &r;
	char err[256];
	struct pending *p;
	int rv = node_check_active(s->node);
	if (rv == SYNOD_OK)
		rv = check_entry(req->scope, req->resource, req->key, NULL, err,
				 sizeof err);
	else
		snprintf(err, sizeof err, "%s", synod_strerror(rv));
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, err);
		synod__wire__config_delete_request__free_unpacked(req, NULL);
		return;
	}
	p = srv_pending_new(sc, h, req, NULL, config_write_done);
	if (p == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		synod__wire__config_delete_request__free_unpacked(req, NULL);
		return;
	}
	d.scope = req->scope;
	d.resource = req->scope == SYNOD_SCOPE_TOPIC ? req->resource : NULL;
	d.key = req->key;
	r.body_case = SYNOD__REC__RECORD__BODY_DELETE_CONFIG;
	r.delete_config = &d;
	rv = node_propose(s->node, &rp, 1, &p->w);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(p);
	}
}

static void config_get_done(struct node *n, struct waiter *w, int rc,
			    const int *statuses)
{
	struct pending *p = w->data;
	Synod__Wire__ConfigGetRequest *req = p->msg;
	Synod__Wire__ConfigGetResponse r =
	    SYNOD__WIRE__CONFIG_GET_RESPONSE__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	char *value = NULL;
	(void)statuses;
	if (rc == SYNOD_OK) {
		int srv = store_config_get(n->fsm.store, req->scope,
					   req->resource, req->key, &value);
		e.scope = req->scope;
		e.resource =
		    req->scope == SYNOD_SCOPE_TOPIC ? req->resource : NULL;
		e.key = req->key;
		r.has_is_default = 1;
		if (srv == STORE_OK) {
			e.value = value;
		} else if (srv == STORE_ENOTFOUND) {
			/* Topic scope falls back to the cluster value, then
			 * to the built-in default. */
			if (req->scope == SYNOD_SCOPE_TOPIC &&
			    store_config_get(n->fsm.store, SYNOD_SCOPE_CLUSTER,
					     NULL, req->key,
					     &value) == STORE_OK) {
				e.value = value;
			} else {
				e.value = (char *)configdef_find(req->key)
					      ->default_value;
			}
			r.is_default = 1;
		} else {
			rc = SYNOD_EUNKNOWN;
		}
		if (rc == SYNOD_OK) {
			r.entry = &e;
			r.has_metadata_version = 1;
			r.metadata_version = store_applied_index(n->fsm.store);
		}
	}
	srv_fill_status(p->sc->server, &st, rc, NULL, &lid, leader,
			sizeof leader);
	r.status = &st;
	srv_send(p->sc, &p->h, &r.base);
	free(value);
	srv_pending_free(p);
}

struct list_ctx {
	Synod__Wire__ConfigEntry *entries;
	size_t n, cap;
};

static int list_cb(void *arg, unsigned scope, const char *resource,
		   const char *key, const char *value)
{
	struct list_ctx *x = arg;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		void *e = realloc(x->entries, cap * sizeof *x->entries);
		if (e == NULL)
			return -1;
		x->entries = e;
		x->cap = cap;
	}
	Synod__Wire__ConfigEntry *e = &x->entries[x->n++];
	synod__wire__config_entry__init(e);
	e->scope = scope;
	e->resource = resource && resource[0] ? strdup(resource) : NULL;
	e->key = strdup(key);
	e->value = strdup(value);
	return e->key && e->value ? 0 : -1;
}

static void config_list_done(struct node *n, struct waiter *w, int rc,
			     const int *statuses)
{
	struct pending *p = w->data;
	Synod__Wire__ConfigListRequest *req = p->msg;
	Synod__Wire__ConfigListResponse r =
	    SYNOD__WIRE__CONFIG_LIST_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	struct list_ctx x = {NULL, 0, 0};
	Synod__Wire__ConfigEntry **ptrs = NULL;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	(void)statuses;
	if (rc == SYNOD_OK) {
		int scope = req->has_scope ? (int)req->scope : -1;
		if (store_config_list(n->fsm.store, scope,
				      scope >= 0 ? req->resource : NULL,
				      list_cb, &x) != 0)
			rc = SYNOD_EUNKNOWN;
		else if (x.n > 0 && (ptrs = calloc(x.n, sizeof *ptrs)) == NULL)
			rc = SYNOD_EUNKNOWN;
	}
	if (rc == SYNOD_OK) {
		for (size_t i = 0; i < x.n; i++)
			ptrs[i] = &x.entries[i];
		r.n_entries = x.n;
		r.entries = ptrs;
		r.has_metadata_version = 1;
		r.metadata_version = store_applied_index(n->fsm.store);
	}
	srv_fill_status(p->sc->server, &st, rc, NULL, &lid, leader,
			sizeof leader);
	r.status = &st;
	srv_send(p->sc, &p->h, &r.base);
	for (size_t i = 0; i < x.n; i++) {
		free(x.entries[i].resource);
		free(x.entries[i].key);
		free(x.entries[i].value);
	}
	free(x.entries);
	free(ptrs);
	srv_pending_free(p);
}

static void start_read(struct sconn *sc, const struct frame_header *h,
		       void *msg, waiter_cb done)
{
	struct pending *p;
	int rv = node_check_active(sc->server->node);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	p = srv_pending_new(sc, h, msg, NULL, done);
	if (p == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	rv = node_read(sc->server->node, &p->w);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(p);
	}
}

/* ---- quorum membership ---- */

static void change_done(struct node *n, void *arg, int rc, const char *msg)
{
	struct pending *p = arg;
	Synod__Wire__QuorumChangeResponse r =
	    SYNOD__WIRE__QUORUM_CHANGE_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	srv_fill_status(p->sc->server, &st, rc, msg, &lid, leader,
			sizeof leader);
	r.status = &st;
	node_leader(n, &lid, leader, sizeof leader);
	r.has_leader_id = lid != 0;
	r.leader_id = lid;
	log_info("quorum change (api %u): %s", p->h.api, msg);
	srv_send(p->sc, &p->h, &r.base);
	srv_pending_free(p);
}

static void handle_change(struct sconn *sc, const struct frame_header *h,
			  ProtobufCMessage *msg)
{
	struct node *n = sc->server->node;
	struct pending *p = srv_pending_new(sc, h, msg, NULL, NULL);
	int rv;
	if (p == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	switch (h->api) {
	case SYNOD_API_ADD_VOTER: {
		Synod__Wire__AddVoterRequest *r = (void *)msg;
		rv = node_add_voter(n, r->id, r->raft_address,
				    r->client_address, change_done, p);
		break;
	}
	case SYNOD_API_REMOVE_VOTER:
		rv = node_remove_voter(
		    n, ((Synod__Wire__RemoveVoterRequest *)(void *)msg)->id,
		    change_done, p);
		break;
	default:
		rv = node_transfer(
		    n, ((Synod__Wire__TransferLeaderRequest *)(void *)msg)->id,
		    change_done, p);
		break;
	}
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, n->errmsg[0] ? n->errmsg : NULL);
		n->errmsg[0] = '\0';
		srv_pending_free(p);
	}
}

/* ---- dispatch ---- */

static const ProtobufCMessageDescriptor *request_desc(uint16_t api)
{
	switch (api) {
	case SYNOD_API_METADATA:
		return &synod__wire__metadata_request__descriptor;
	case SYNOD_API_NODE_STATUS:
		return &synod__wire__node_status_request__descriptor;
	case SYNOD_API_CONFIG_SET:
		return &synod__wire__config_set_request__descriptor;
	case SYNOD_API_CONFIG_GET:
		return &synod__wire__config_get_request__descriptor;
	case SYNOD_API_CONFIG_LIST:
		return &synod__wire__config_list_request__descriptor;
	case SYNOD_API_CONFIG_DELETE:
		return &synod__wire__config_delete_request__descriptor;
	case SYNOD_API_ADD_VOTER:
		return &synod__wire__add_voter_request__descriptor;
	case SYNOD_API_REMOVE_VOTER:
		return &synod__wire__remove_voter_request__descriptor;
	case SYNOD_API_TRANSFER_LEADER:
		return &synod__wire__transfer_leader_request__descriptor;
	case SYNOD_API_BROKER_REGISTER:
		return &synod__wire__broker_register_request__descriptor;
	case SYNOD_API_BROKER_HEARTBEAT:
		return &synod__wire__broker_heartbeat_request__descriptor;
	case SYNOD_API_BROKER_UNREGISTER:
		return &synod__wire__broker_unregister_request__descriptor;
	case SYNOD_API_BROKER_LIST:
		return &synod__wire__broker_list_request__descriptor;
	case SYNOD_API_METADATA_FETCH:
		return &synod__wire__metadata_fetch_request__descriptor;
	case SYNOD_API_ALTER_PARTITION:
		return &synod__wire__alter_partition_request__descriptor;
	case SYNOD_API_CREATE_TOPICS:
		return &synod__wire__create_topics_request__descriptor;
	case SYNOD_API_DELETE_TOPICS:
		return &synod__wire__delete_topics_request__descriptor;
	case SYNOD_API_CREATE_PARTITIONS:
		return &synod__wire__create_partitions_request__descriptor;
	case SYNOD_API_DESCRIBE_TOPICS:
		return &synod__wire__describe_topics_request__descriptor;
	case SYNOD_API_ELECT_LEADERS:
		return &synod__wire__elect_leaders_request__descriptor;
	case SYNOD_API_ALTER_PARTITIONS:
		return &synod__wire__alter_partitions_request__descriptor;
	default:
		return NULL;
	}
}

static void on_frame(struct conn *c, const struct frame_header *h,
		     const uint8_t *body, size_t len)
{
	struct sconn *sc = c->data;
	struct server *s = sc->server;
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *msg;
	s->stats.requests++;
	if (h->kind != FRAME_REQUEST) {
		srv_reply_status(sc, h, SYNOD_EINVALID_REQUEST,
				 "expected a request frame");
		return;
	}
	desc = request_desc(h->api);
	if (desc == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNSUPPORTED_API, NULL);
		return;
	}
	if (h->api_version != 1) {
		char msg_text[96];
		snprintf(msg_text, sizeof msg_text,
			 "api %u version %u not supported (supported: 1)",
			 h->api, h->api_version);
		srv_reply_status(sc, h, SYNOD_EUNSUPPORTED_VERSION, msg_text);
		return;
	}
	msg = protobuf_c_message_unpack(desc, NULL, len, body);
	if (msg == NULL) {
		srv_reply_status(sc, h, SYNOD_EINVALID_REQUEST,
				 "body does not decode");
		return;
	}
	switch (h->api) {
	case SYNOD_API_METADATA:
		handle_metadata(sc, h, (void *)msg);
		protobuf_c_message_free_unpacked(msg, NULL);
		break;
	case SYNOD_API_NODE_STATUS:
		handle_node_status(sc, h, (void *)msg);
		protobuf_c_message_free_unpacked(msg, NULL);
		break;
	case SYNOD_API_CONFIG_SET:
		handle_config_set(sc, h, (void *)msg);
		break;
	case SYNOD_API_CONFIG_DELETE:
		handle_config_delete(sc, h, (void *)msg);
		break;
	case SYNOD_API_CONFIG_GET: {
		Synod__Wire__ConfigGetRequest *g = (void *)msg;
		char err[256];
		int rv = check_entry(g->scope, g->resource, g->key, NULL, err,
				     sizeof err);
		if (rv != SYNOD_OK) {
			srv_reply_status(sc, h, rv, err);
			protobuf_c_message_free_unpacked(msg, NULL);
			break;
		}
		start_read(sc, h, msg, config_get_done);
		break;
	}
	case SYNOD_API_CONFIG_LIST: {
		Synod__Wire__ConfigListRequest *l = (void *)msg;
		if (l->has_scope &&
		    (l->scope > SYNOD_SCOPE_TOPIC ||
		     (l->scope == SYNOD_SCOPE_TOPIC && l->resource &&
		      !topic_name_valid(l->resource)))) {
			srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT,
					 "unknown scope or invalid topic name");
			protobuf_c_message_free_unpacked(msg, NULL);
			break;
		}
		start_read(sc, h, msg, config_list_done);
		break;
	}
	case SYNOD_API_BROKER_REGISTER:
	case SYNOD_API_BROKER_HEARTBEAT:
	case SYNOD_API_BROKER_UNREGISTER:
	case SYNOD_API_BROKER_LIST:
		brokers_handle(s->brokers, sc, h, msg);
		break;
	case SYNOD_API_METADATA_FETCH:
	case SYNOD_API_ALTER_PARTITION:
	case SYNOD_API_CREATE_TOPICS:
	case SYNOD_API_DELETE_TOPICS:
	case SYNOD_API_CREATE_PARTITIONS:
	case SYNOD_API_DESCRIBE_TOPICS:
	case SYNOD_API_ELECT_LEADERS:
	case SYNOD_API_ALTER_PARTITIONS:
		topics_handle(s->topics, sc, h, msg);
		break;
	default:
		handle_change(sc, h, msg);
		break;
	}
}

static void on_bad_frame(struct conn *c, int err, const struct frame_header *h)
{
	struct sconn *sc = c->data;
	int code = err == FRAME_ETOOBIG	   ? SYNOD_EMESSAGE_TOO_LARGE
		   : err == FRAME_EVERSION ? SYNOD_EUNSUPPORTED_VERSION
					   : SYNOD_EINVALID_REQUEST;
	struct frame_header rh = *h;
	sc->server->stats.bad_frames++;
	log_warn("client %s: %s; closing the connection", c->peer,
		 frame_strerror(err));
	/* Answered in our frame version; the correlation id is 0 when the
	 * header could not be read. */
	srv_reply_status(sc, &rh, code, frame_strerror(err));
}

/* ---- limits: connections, read buffers, timeouts ---- */

/* Connections per source address: a chained hash table keyed by the
 * address as 16 bytes (IPv4 mapped into IPv6). */
struct ip_count {
	struct ip_count *next;
	uint8_t addr[16];
	unsigned n;
};

static uint32_t ip_hash(const uint8_t *a)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	return h;
}

/* The link holding a's entry, or the NULL link that ends its chain. */
static struct ip_count **ip_find(struct server *s, const uint8_t *a)
{
	struct ip_count **pp = &s->ips[ip_hash(a) & (s->ips_size - 1)];
	while (*pp && memcmp((*pp)->addr, a, 16) != 0)
		pp = &(*pp)->next;
	return pp;
}

static int ip_grow(struct server *s)
{
	unsigned size = s->ips_size ? s->ips_size * 2 : 64;
	struct ip_count **t = calloc(size, sizeof *t);
	if (t == NULL)
		return -1;
	for (unsigned i = 0; i < s->ips_size; i++)
		while (s->ips[i]) {
			struct ip_count *e = s->ips[i];
			uint32_t b = ip_hash(e->addr) & (size - 1);
			s->ips[i] = e->next;
			e->next = t[b];
			t[b] = e;
		}
	free(s->ips);
	s->ips = t;
	s->ips_size = size;
	return 0;
}

/* Count one more connection from a: 0; 1 when a has max already (*n: how
 * many); -1 when out of memory. */
static int ip_acquire(struct server *s, const uint8_t *a, unsigned max,
		      unsigned *n)
{
	struct ip_count **pp;
	/* A table that cannot grow just gets longer chains. */
	if (s->ips_used >= s->ips_size && ip_grow(s) != 0 && s->ips_size == 0)
		return -1;
	pp = ip_find(s, a);
	if (*pp == NULL) {
		*pp = calloc(1, sizeof **pp);
		if (*pp == NULL)
			return -1;
		memcpy((*pp)->addr, a, 16);
		s->ips_used++;
	}
	*n = (*pp)->n;
	if ((*pp)->n >= max)
		return 1;
	(*pp)->n++;
	return 0;
}

static void ip_release(struct server *s, const uint8_t *a)
{
	struct ip_count **pp = ip_find(s, a), *e = *pp;
	if (e == NULL || --e->n > 0)
		return;
	*pp = e->next;
	free(e);
	s->ips_used--;
}

/* The peer's address as a table key and as text; -1 when unknown (the
 * peer is gone already). */
static int peer_addr(uv_tcp_t *tcp, uint8_t *key, char *text, size_t size)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	memset(key, 0, 16);
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&ss;
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
		return uv_ip4_name(in, text, size) == 0 ? 0 : -1;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&ss;
		memcpy(key, &in6->sin6_addr, 16);
		return uv_ip6_name(in6, text, size) == 0 ? 0 : -1;
	}
	return -1;
}

/* Read buffers: the first CONN_READ_MIN bytes of each connection are not
 * counted (the connection limits bound them), so small requests go on
 * when the budget is spent; only frames that need a bigger buffer wait. */
static size_t rbuf_counted(size_t cap)
{
	return cap > CONN_READ_MIN ? cap - CONN_READ_MIN : 0;
}

static void blocked_remove(struct server *s, struct sconn *sc)
{
	if (!sc->blocked)
		return;
	if (sc->bprev)
		sc->bprev->bnext = sc->bnext;
	else
		s->blocked_head = sc->bnext;
	if (sc->bnext)
		sc->bnext->bprev = sc->bprev;
	else
		s->blocked_tail = sc->bprev;
	sc->bnext = sc->bprev = NULL;
	sc->blocked = 0;
	s->n_blocked--;
}

/* Let connections waiting for read-buffer memory read again, first come
 * first served, as long as what each asked for fits (a connection that
 * then finds the budget spent again waits again, at the end). One that
 * has too many requests waiting for raft resumes when they complete. */
static void blocked_wake(struct server *s)
{
	uint64_t max = s->node->cfg->max_read_buffer_bytes;
	uint64_t used = s->rbuf_bytes;
	while (s->blocked_head) {
		struct sconn *sc = s->blocked_head;
		if (used + sc->blocked_want > max)
			break;
		used += sc->blocked_want;
		blocked_remove(s, sc);
		if (!sc->closed && sc->outstanding < MAX_OUTSTANDING)
			conn_resume(&sc->conn);
	}
}

/* conn_ops.rbuf_resize: account every change of a read buffer; refuse a
 * growth past max_read_buffer_bytes, and the connection stops reading
 * (its peer's bytes wait in the socket) until memory is released. */
static int on_rbuf_resize(struct conn *c, size_t cap)
{
	struct sconn *sc = c->data;
	struct server *s = sc->server;
	size_t counted = rbuf_counted(cap);
	if (counted > sc->rbuf_counted) {
		size_t grow = counted - sc->rbuf_counted;
		uint64_t max = s->node->cfg->max_read_buffer_bytes;
		if (s->rbuf_bytes + grow <= max) {
			s->rbuf_bytes += grow;
			sc->rbuf_counted = counted;
			return 0;
		}
		sc->blocked_want = grow;
		if (!sc->blocked) {
			sc->blocked = 1;
			sc->bprev = s->blocked_tail;
			if (s->blocked_tail)
				s->blocked_tail->bnext = sc;
			else
				s->blocked_head = sc;
			s->blocked_tail = sc;
			s->n_blocked++;
		}
		s->stats.read_pauses++;
		if (ratelog_allow(s, SRV_LOG_READ_PAUSE))
			log_warn(
			    "client %s: read buffers of all client "
			    "connections at %llu bytes, %zu more would "
			    "pass max_read_buffer_bytes (%llu): not reading "
			    "from it until memory is released",
			    c->peer, (unsigned long long)s->rbuf_bytes, grow,
			    (unsigned long long)max);
		return -1;
	}
	s->rbuf_bytes -= sc->rbuf_counted - counted;
	sc->rbuf_counted = counted;
	if (s->blocked_head)
		blocked_wake(s);
	return 0;
}

/* Every second: close connections past a timeout, give back the read
 * buffers of connections that went quiet, report dropped log lines. */
static void on_tick(uv_timer_t *t)
{
	struct server *s = t->data;
	const struct synod_config *cfg = s->node->cfg;
	uint64_t now = uv_now(s->loop);
	for (struct sconn *sc = s->conns; sc; sc = sc->next) {
		struct conn *c = &sc->conn;
		int quiet = c->bytes_in == sc->seen_bytes_in;
		size_t out = conn_pending_bytes(c);
		if (sc->closed || c->closing || !sc->served)
			continue;
		sc->seen_bytes_in = c->bytes_in;
		if (!quiet || sc->outstanding > 0)
			sc->active_ms = now;
		/* An incomplete frame: the same one as long as no frame
		 * completed since the last tick. Not while the server itself
		 * stopped reading because of requests waiting for raft. */
		if (c->rlen > 0 && (c->reading || sc->blocked)) {
			if (!sc->partial ||
			    c->frames_in != sc->partial_frames) {
				sc->partial = 1;
				sc->partial_ms = now;
				sc->partial_frames = c->frames_in;
			} else if (now - sc->partial_ms >=
				   cfg->partial_frame_timeout_ms) {
				s->stats.closed_partial_frame++;
				if (ratelog_allow(s, SRV_LOG_PARTIAL_FRAME))
					log_warn(
					    "client %s: frame incomplete "
					    "for %llu ms (%zu bytes "
					    "received, "
					    "partial_frame_timeout_ms "
					    "%u); closing",
					    c->peer,
					    (unsigned long long)(now -
								 sc->partial_ms),
					    c->rlen,
					    cfg->partial_frame_timeout_ms);
				conn_close(c);
				continue;
			}
		} else {
			sc->partial = 0;
		}
		if (out > cfg->slow_reader_bytes) {
			if (!sc->slow) {
				sc->slow = 1;
				sc->slow_ms = now;
			} else if (now - sc->slow_ms >=
				   cfg->slow_reader_timeout_ms) {
				s->stats.closed_slow_reader++;
				if (ratelog_allow(s, SRV_LOG_SLOW_READER))
					log_warn(
					    "client %s: more than %llu "
					    "bytes of responses unread "
					    "for %llu ms (%zu now, "
					    "slow_reader_timeout_ms %u); "
					    "closing",
					    c->peer,
					    (unsigned long long)
						cfg->slow_reader_bytes,
					    (unsigned long long)(now -
								 sc->slow_ms),
					    out, cfg->slow_reader_timeout_ms);
				conn_close(c);
				continue;
			}
		} else {
			sc->slow = 0;
		}
		if (cfg->idle_timeout_ms &&
		    now - sc->active_ms >= cfg->idle_timeout_ms) {
			s->stats.closed_idle++;
			if (ratelog_allow(s, SRV_LOG_IDLE))
				log_info(
				    "client %s: idle for %llu ms "
				    "(idle_timeout_ms %u); closing",
				    c->peer,
				    (unsigned long long)(now - sc->active_ms),
				    cfg->idle_timeout_ms);
			conn_close(c);
			continue;
		}
		if (quiet)
			conn_trim(c);
	}
	blocked_wake(s);
	ratelog_flush(s);
}

/* The last handle of a closing server closed. */
static void server_closed(struct server *s)
{
	free(s->ips);
	s->ips = NULL;
	s->ips_size = 0;
	if (s->on_closed)
		s->on_closed(s);
}

static void on_closed(struct conn *c)
{
	struct sconn *sc = c->data;
	struct server *s = sc->server;
	sc->closed = 1;
	blocked_remove(s, sc);
	if (sc->served) {
		ip_release(s, sc->addr);
		s->n_served--;
		sc->served = 0;
	}
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	s->n_conns--;
	srv_conn_unref(sc);
	if (s->closing && --s->open_handles == 0)
		server_closed(s);
}

static const struct conn_ops server_ops = {
    .frame = on_frame,
    .bad_frame = on_bad_frame,
    .closed = on_closed,
    .rbuf_resize = on_rbuf_resize,
};

/* A new connection: refused (closed at once, nothing read or answered)
 * past max_client_connections or max_client_connections_per_ip. */
static void on_connection(uv_stream_t *l, int status)
{
	struct server *s = l->data;
	const struct synod_config *cfg = s->node->cfg;
	struct sconn *sc;
	char ip[64] = "?";
	unsigned n = 0;
	int rv;
	if (status < 0 || s->closing)
		return;
	sc = calloc(1, sizeof *sc);
	if (sc == NULL)
		return;
	sc->server = s;
	sc->refs = 1;
	conn_init(&sc->conn, s->loop, &s->flusher, cfg->max_frame, &server_ops,
		  sc);
	sc->next = s->conns;
	if (s->conns)
		s->conns->prev = sc;
	s->conns = sc;
	s->n_conns++;
	if (uv_accept(l, (uv_stream_t *)&sc->conn.tcp) != 0 ||
	    peer_addr(&sc->conn.tcp, sc->addr, ip, sizeof ip) != 0) {
		conn_close(&sc->conn);
		return;
	}
	if (s->n_served >= cfg->max_client_connections) {
		s->stats.refused_max_connections++;
		if (ratelog_allow(s, SRV_LOG_MAX_CONNECTIONS))
			log_warn("refusing a client connection from %s: %u "
				 "connections open (max_client_connections "
				 "%u)",
				 ip, s->n_served, cfg->max_client_connections);
		conn_close(&sc->conn);
		return;
	}
	rv = ip_acquire(s, sc->addr, cfg->max_client_connections_per_ip, &n);
	if (rv != 0) {
		if (rv > 0)
			s->stats.refused_per_ip++;
		if (ratelog_allow(s, SRV_LOG_PER_IP)) {
			if (rv > 0)
				log_warn("refusing a client connection from "
					 "%s: %u connections from this address "
					 "(max_client_connections_per_ip %u)",
					 ip, n,
					 cfg->max_client_connections_per_ip);
			else
				log_warn("refusing a client connection from "
					 "%s: out of memory",
					 ip);
		}
		conn_close(&sc->conn);
		return;
	}
	sc->served = 1;
	s->n_served++;
	s->stats.connections_accepted++;
	sc->active_ms = uv_now(s->loop);
	if (conn_start(&sc->conn) != 0)
		conn_close(&sc->conn);
}

static void on_leadership(struct node *n, int active)
{
	struct server *s = n->data;
	brokers_leadership(s->brokers, active);
	topics_leadership(s->topics, active);
}

static void on_applied(struct node *n, uint64_t index,
		       const Synod__Rec__RecordBatch *b)
{
	struct server *s = n->data;
	topics_applied(s->topics, index, b);
}

int server_start(struct server *s, uv_loop_t *loop, struct node *node,
		 const char *address)
{
	struct sockaddr_storage ss;
	char host[SYNOD_ADDR_MAX];
	const char *colon = strrchr(address, ':');
	int rv;
	memset(s, 0, sizeof *s);
	s->loop = loop;
	s->node = node;
	if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
		snprintf(s->errmsg, sizeof s->errmsg, "bad address %s",
			 address);
		return -1;
	}
	if (address[0] == '[' && colon > address + 1 && colon[-1] == ']') {
		memcpy(host, address + 1, (size_t)(colon - address - 2));
		host[colon - address - 2] = '\0';
	} else {
		memcpy(host, address, (size_t)(colon - address));
		host[colon - address] = '\0';
	}
	if (uv_ip4_addr(host, atoi(colon + 1), (struct sockaddr_in *)&ss) !=
		0 &&
	    uv_ip6_addr(host, atoi(colon + 1), (struct sockaddr_in6 *)&ss) !=
		0) {
		snprintf(s->errmsg, sizeof s->errmsg,
			 "client_address %s: host must be an IP address",
			 address);
		return -1;
	}
	if (brokers_new(s, &s->brokers) != 0) {
		snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
		return -1;
	}
	if (topics_new(s, s->brokers, &s->topics) != 0) {
		snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
		return -1;
	}
	node->data = s;
	node->on_leadership = on_leadership;
	node->on_applied = on_applied;
	conn_flusher_init(&s->flusher, loop);
	uv_timer_init(loop, &s->tick);
	s->tick.data = s;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	rv = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
	if (rv == 0)
		rv =
		    uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
	if (rv != 0) {
		snprintf(s->errmsg, sizeof s->errmsg, "listen on %s: %s",
			 address, uv_strerror(rv));
		return -1;
	}
	uv_timer_start(&s->tick, on_tick, 1000, 1000);
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct server *s = h->data;
	if (--s->open_handles == 0)
		server_closed(s);
}

void server_close(struct server *s)
{
	if (s->closing)
		return;
	s->closing = 1;
	s->node->on_leadership = NULL;
	s->node->on_applied = NULL;
	topics_close(s->topics);
	brokers_close(s->brokers);
	s->open_handles = 4 + (int)s->n_conns;
	s->flusher.check.data = s->flusher.idle.data = s;
	uv_close((uv_handle_t *)&s->tick, handle_closed);
	uv_close((uv_handle_t *)&s->listener, handle_closed);
	uv_close((uv_handle_t *)&s->flusher.check, handle_closed);
	uv_close((uv_handle_t *)&s->flusher.idle, handle_closed);
	for (struct sconn *sc = s->conns; sc; sc = sc->next)
		conn_close(&sc->conn);
}
