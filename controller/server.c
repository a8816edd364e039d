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
		log_warn("client %s: %zu bytes of responses unread; closing",
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
	if (--p->sc->outstanding == MAX_OUTSTANDING / 2 && !p->sc->closed)
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

static void handle_node_status(struct sconn *sc, const struct frame_header *h)
{
	struct server *s = sc->server;
	struct node *n = s->node;
	struct raft *r = &n->raft;
	Synod__Wire__NodeStatusResponse m =
	    SYNOD__WIRE__NODE_STATUS_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__PeerProgress *peers = NULL, **ptrs = NULL;
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
		handle_node_status(sc, h);
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

static void on_closed(struct conn *c)
{
	struct sconn *sc = c->data;
	struct server *s = sc->server;
	sc->closed = 1;
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		s->conns = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	s->n_conns--;
	srv_conn_unref(sc);
	if (s->closing && --s->open_handles == 0 && s->on_closed)
		s->on_closed(s);
}

static const struct conn_ops server_ops = {
    .frame = on_frame,
    .bad_frame = on_bad_frame,
    .closed = on_closed,
};

static void on_connection(uv_stream_t *l, int status)
{
	struct server *s = l->data;
	struct sconn *sc;
	if (status < 0 || s->closing)
		return;
	sc = calloc(1, sizeof *sc);
	if (sc == NULL)
		return;
	sc->server = s;
	sc->refs = 1;
	conn_init(&sc->conn, s->loop, &s->flusher, s->node->cfg->max_frame,
		  &server_ops, sc);
	if (uv_accept(l, (uv_stream_t *)&sc->conn.tcp) != 0) {
		sc->closed = 1;
		s->n_conns++;
		sc->next = s->conns;
		if (s->conns)
			s->conns->prev = sc;
		s->conns = sc;
		conn_close(&sc->conn);
		return;
	}
	sc->next = s->conns;
	if (s->conns)
		s->conns->prev = sc;
	s->conns = sc;
	s->n_conns++;
	s->stats.connections_accepted++;
	conn_start(&sc->conn);
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
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct server *s = h->data;
	if (--s->open_handles == 0 && s->on_closed)
		s->on_closed(s);
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
	s->open_handles = 3 + (int)s->n_conns;
	s->flusher.check.data = s->flusher.idle.data = s;
	uv_close((uv_handle_t *)&s->listener, handle_closed);
	uv_close((uv_handle_t *)&s->flusher.check, handle_closed);
	uv_close((uv_handle_t *)&s->flusher.idle, handle_closed);
	for (struct sconn *sc = s->conns; sc; sc = sc->next)
		conn_close(&sc->conn);
}
