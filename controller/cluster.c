/* controller/cluster.c - the cluster module: what every node answers
 * about itself (METADATA, NODE_STATUS), dynamic configs (CONFIG_SET, GET,
 * LIST, DELETE) and quorum membership (ADD_VOTER, REMOVE_VOTER,
 * TRANSFER_LEADER). See cluster.h. */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configdefs.h"
#include "json_answers.h"
#include "log.h"
#include "settings.h"
#include "synod/client.h"

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

void cluster_node_status(struct server *s, int with_digest,
			 struct node_status *ns)
{
	struct node *n = s->node;
	struct raft *r = &n->raft;
	Synod__Wire__NodeStatusResponse *m = &ns->m;
	uint64_t lid = 0, dg = 0;
	unsigned np = 0;

	memset(ns, 0, sizeof *ns);
	synod__wire__node_status_response__init(m);
	synod__wire__status__init(&ns->st);
	synod__wire__client_connections__init(&ns->cc);
	srv_fill_status(s, &ns->st, SYNOD_OK, NULL, &lid, ns->leader,
			sizeof ns->leader);
	m->status = &ns->st;
	m->has_node_id = m->has_term = m->has_commit_index = 1;
	m->has_applied_index = m->has_last_index = m->has_leader_id = 1;
	m->has_last_contact_ms = m->has_active_controller = 1;
	m->has_snapshot_index = m->has_uptime_ms = m->has_elections_started = 1;
	m->has_metadata_version = 1;
	m->metadata_version = store_applied_index(n->fsm.store);
	m->has_db_bytes = m->has_snapshots_taken = m->has_last_snapshot_us = 1;
	m->has_last_snapshot_bytes = m->has_snapshots_restored = 1;
	m->has_last_restore_us = m->has_rss_bytes = 1;
	m->has_loop_stall_max_us = m->has_loop_stalls_over_50ms = 1;
	m->loop_stall_max_us = n->stats.loop_stall_max_us;
	m->loop_stalls_over_50ms = n->stats.loop_stalls_50ms;
	m->has_apply_max_us = 1;
	m->apply_max_us = n->fsm.apply_max_us;
	m->has_bytes_proposed = 1;
	m->bytes_proposed = n->stats.bytes_proposed;
	m->has_entries_proposed = m->has_records_proposed = 1;
	m->entries_proposed = n->stats.entries_proposed;
	m->records_proposed = n->stats.records_proposed;
	m->has_read_slices_deferred = 1;
	m->read_slices_deferred = n->stats.read_slices_deferred;
	/* Counting unhealthy partitions is O(their number): a node with a
	 * million offline partitions and a changing state would count them
	 * for every liveness probe. Once a CLUSTER_HEALTH_MS at most. */
	if (s->health_ms == 0 ||
	    uv_now(n->loop) - s->health_ms >= CLUSTER_HEALTH_MS) {
		struct store_health fresh;
		if (store_health(n->fsm.store, &fresh) == STORE_OK) {
			s->health = fresh;
			s->health_ms = uv_now(n->loop) ? uv_now(n->loop) : 1;
		}
	}
	if (s->health_ms != 0) {
		const struct store_health sh = s->health;
		{
			m->has_topics = m->has_partitions = 1;
			m->has_partitions_offline = 1;
			m->has_partitions_under_replicated = 1;
			m->has_partitions_not_preferred = 1;
			m->has_brokers_registered = m->has_brokers_fenced = 1;
			m->has_brokers_shutting_down = 1;
			m->topics = sh.topics;
			m->partitions = sh.partitions;
			m->partitions_offline = sh.offline;
			m->partitions_under_replicated = sh.under_replicated;
			m->partitions_not_preferred = sh.not_preferred;
			m->brokers_registered = (uint32_t)sh.brokers;
			m->brokers_fenced = (uint32_t)sh.brokers_fenced;
			m->brokers_shutting_down =
			    (uint32_t)sh.brokers_shutting_down;
		}
	}
	m->has_disk_free_bytes = m->has_disk_handoffs = 1;
	m->disk_free_bytes = n->stats.disk_free_bytes;
	m->disk_handoffs = n->stats.disk_handoffs;
	{
		/* The digests kept at apply, oldest first. */
		uint64_t k = n->fsm.n_digests,
			 first = k > FSM_DIGESTS ? k - FSM_DIGESTS : 0;
		for (uint64_t i = first; i < k; i++) {
			const struct fsm_digest *d =
			    &n->fsm.digests[i % FSM_DIGESTS];
			size_t j = m->n_digest_points++;
			synod__wire__digest_point__init(&ns->points[j]);
			snprintf(ns->point_hex[j], sizeof ns->point_hex[j],
				 "%016llx", (unsigned long long)d->digest);
			ns->points[j].index = d->index;
			ns->points[j].digest = ns->point_hex[j];
			ns->pointp[j] = &ns->points[j];
		}
		m->digest_points = ns->pointp;
	}
	if (with_digest && store_digest(n->fsm.store, &dg) == STORE_OK) {
		snprintf(ns->digest, sizeof ns->digest, "%016llx",
			 (unsigned long long)dg);
		m->state_digest = ns->digest;
	}
	m->db_bytes = store_db_size(n->fsm.store);
	m->snapshots_taken = n->fsm.snapshots_taken;
	m->last_snapshot_us = n->fsm.last_snapshot_us;
	m->last_snapshot_bytes = n->fsm.last_snapshot_bytes;
	m->snapshots_restored = n->fsm.snapshots_restored;
	m->last_restore_us = n->fsm.last_restore_us;
	{
		size_t rss = 0;
		uv_resident_set_memory(&rss);
		m->rss_bytes = rss;
	}
	m->node_id = n->cfg->node_id;
	m->role = (char *)node_role(n);
	m->term = raft_current_term(r);
	m->commit_index = raft_commit_index(r);
	m->applied_index = raft_last_applied(r);
	m->last_index = raft_last_index(r);
	node_leader(n, &lid, ns->leader, sizeof ns->leader);
	m->leader_id = lid;
	m->last_contact_ms = node_last_contact_ms(n);
	m->cluster_id = (char *)n->cfg->cluster_id;
	m->active_controller = node_check_active(n) == SYNOD_OK;
	m->snapshot_index = n->fsm.snapshot_index;
	m->version = SYNOD_VERSION;
	m->uptime_ms = uv_now(n->loop) - n->stats.start_ms;
	m->elections_started = n->stats.term_changes;
	if (raft_state(r) == RAFT_LEADER && r->configuration.n > 0) {
		ns->peers = calloc(r->configuration.n, sizeof *ns->peers);
		ns->ptrs = calloc(r->configuration.n, sizeof *ns->ptrs);
		for (unsigned i = 0;
		     ns->peers && ns->ptrs && i < r->configuration.n; i++) {
			raft_index idx = 0;
			raft_id id = r->configuration.servers[i].id;
			if (id == r->id)
				idx = raft_last_index(r);
			else if (raft_match_index(r, id, &idx) != 0)
				continue;
			synod__wire__peer_progress__init(&ns->peers[np]);
			ns->peers[np].id = id;
			ns->peers[np].match_index = idx;
			ns->ptrs[np] = &ns->peers[np];
			np++;
		}
	}
	m->n_peers = np;
	m->peers = ns->ptrs;
	srv_status(s, m, &ns->cc);
}

void cluster_node_status_free(struct node_status *ns)
{
	free(ns->peers);
	free(ns->ptrs);
	ns->peers = NULL;
	ns->ptrs = NULL;
}

static void handle_node_status(struct sconn *sc, const struct frame_header *h,
			       const Synod__Wire__NodeStatusRequest *req)
{
	struct server *s = sc->server;
	struct node_status ns;
	cluster_node_status(s, req->has_with_digest && req->with_digest, &ns);
	if (req->has_reset_loop_stall && req->reset_loop_stall) {
		s->node->stats.loop_stall_max_us = 0;
		s->node->stats.loop_stalls_50ms = 0;
		s->node->fsm.apply_max_us = 0;
	}
	srv_send(sc, h, &ns.m.base);
	cluster_node_status_free(&ns);
}

/* ---- configs ---- */

static int check_entry(unsigned scope, const char *resource, const char *key,
		       const char *value, char *err, size_t err_size)
{
	const struct configdef *d;
	if (scope == SYNOD_SCOPE_TOPIC &&
	    (resource == NULL || !topic_name_valid(resource))) {
		snprintf(err, err_size,
			 "topic scope needs a valid topic name "
			 "(1-249 of [a-zA-Z0-9._-], not '.' or '..')");
		return SYNOD_EINVALID_ARGUMENT;
	}
	if (scope == SYNOD_SCOPE_GROUP &&
	    (resource == NULL || !group_id_valid(resource))) {
		snprintf(err, err_size,
			 "group scope needs a group id (1-%u bytes)",
			 GROUP_ID_MAX_BYTES);
		return SYNOD_EINVALID_ARGUMENT;
	}
	if (scope == SYNOD_SCOPE_PRINCIPAL && !principal_name_valid(resource)) {
		snprintf(err, err_size,
			 "principal scope needs a principal name (1-255 "
			 "bytes, no control characters)");
		return SYNOD_EINVALID_ARGUMENT;
	}
	if (value != NULL)
		return configdef_validate(scope, key, value, err, err_size) == 0
			   ? SYNOD_OK
			   : SYNOD_EINVALID_CONFIG;
	if ((d = configdef_find(key)) == NULL) {
		snprintf(err, err_size, "unknown config key '%s'", key);
		return SYNOD_EINVALID_CONFIG;
	}
	return configdef_scope_check(d, scope, err, err_size) == 0
		   ? SYNOD_OK
		   : SYNOD_EINVALID_CONFIG;
}

/* The resource a config record names: none at cluster scope. */
static char *resource_of(unsigned scope, char *resource)
{
	return scope == SYNOD_SCOPE_CLUSTER ? NULL : resource;
}

/* An applied config change, for the log (grants included: they are an
 * audit trail). */
static void log_config_change(struct pending *p)
{
	const char *who =
	    p->sc->internal ? NULL : conn_tls_principal(&p->sc->conn);
	if (who == NULL || who[0] == '\0')
		who = "-";
	if (p->h.api == SYNOD_API_CONFIG_SET) {
		const Synod__Wire__ConfigSetRequest *req = p->msg;
		for (size_t i = 0; i < req->n_entries; i++) {
			const Synod__Wire__ConfigEntry *e = req->entries[i];
			log_event(
			    LOG_INFO, "config_set",
			    "scope=%s resource=\"%s\" key=%s value=\"%s\" "
			    "principal=\"%s\"",
			    ja_scope_name(e->scope),
			    e->resource ? e->resource : "", e->key, e->value,
			    who);
		}
	} else if (p->h.api == SYNOD_API_CONFIG_DELETE) {
		const Synod__Wire__ConfigDeleteRequest *req = p->msg;
		log_event(LOG_INFO, "config_deleted",
			  "scope=%s resource=\"%s\" key=%s principal=\"%s\"",
			  ja_scope_name(req->scope),
			  req->resource ? req->resource : "", req->key, who);
	}
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
			else if (statuses[i] != STORE_R_OK &&
				 statuses[i] != STORE_R_DUPLICATE)
				rc = SYNOD_EINVALID_ARGUMENT;
	}
	srv_fill_status(p->sc->server, &st, rc, NULL, &lid, leader,
			sizeof leader);
	r.status = &st;
	if (rc == SYNOD_OK) {
		r.has_metadata_version = 1;
		r.metadata_version = store_applied_index(n->fsm.store);
	}
	if (rc == SYNOD_OK)
		log_config_change(p);
	/* ConfigDeleteResponse has the same fields and numbers. */
	srv_send(p->sc, &p->h, &r.base);
	srv_pending_free(p);
}

/* A cluster config's value after this request: the request's (last one
 * wins), else the stored one, else the default. */
static long long effective(struct store *st,
			   const Synod__Wire__ConfigSetRequest *req,
			   const char *key)
{
	for (size_t i = req->n_entries; i-- > 0;)
		if (req->entries[i]->scope == SYNOD_SCOPE_CLUSTER &&
		    strcmp(req->entries[i]->key, key) == 0)
			return strtoll(req->entries[i]->value, NULL, 10);
	return (long long)settings_u64(st, key);
}

/* The consumer group timeouts must stay within their bounds (Kafka's
 * rule): checked when a request sets any of them, against the values it
 * leaves in place, and for a group's overrides against the cluster's
 * bounds. INVALID_CONFIG with the offending pair. Lowering a bound below
 * a group's override is allowed: the override is clamped where used. */
static int check_group_bounds(struct store *st,
			      const Synod__Wire__ConfigSetRequest *req,
			      char *err, size_t size)
{
	static const char *const pairs[][3] = {
	    {"group.consumer.session.timeout.ms",
	     "group.consumer.min.session.timeout.ms",
	     "group.consumer.max.session.timeout.ms"},
	    {"group.consumer.heartbeat.interval.ms",
	     "group.consumer.min.heartbeat.interval.ms",
	     "group.consumer.max.heartbeat.interval.ms"},
	};
	int touched = 0;
	/* A group's override (consumer.<x>) within the cluster's bounds. */
	for (size_t i = 0; i < req->n_entries; i++) {
		const Synod__Wire__ConfigEntry *e = req->entries[i];
		touched |= strncmp(e->key, "group.consumer.", 15) == 0;
		if (e->scope != SYNOD_SCOPE_GROUP)
			continue;
		for (size_t k = 0; k < 2; k++) {
			long long v, lo, hi;
			if (strcmp(e->key, pairs[k][0] + 6) != 0)
				continue;
			v = strtoll(e->value, NULL, 10);
			lo = effective(st, req, pairs[k][1]);
			hi = effective(st, req, pairs[k][2]);
			if (v < lo || v > hi) {
				snprintf(err, size,
					 "'%s' (%lld) of group '%s' must be "
					 "within '%s' (%lld) and '%s' (%lld)",
					 e->key, v, e->resource, pairs[k][1],
					 lo, pairs[k][2], hi);
				return SYNOD_EINVALID_CONFIG;
			}
		}
	}
	if (!touched)
		return SYNOD_OK;
	for (size_t k = 0; k < 2; k++) {
		long long v = effective(st, req, pairs[k][0]);
		long long lo = effective(st, req, pairs[k][1]);
		long long hi = effective(st, req, pairs[k][2]);
		if (lo > hi || v < lo || v > hi) {
			snprintf(err, size,
				 "'%s' (%lld) must be within '%s' (%lld) and "
				 "'%s' (%lld)",
				 pairs[k][0], v, pairs[k][1], lo, pairs[k][2],
				 hi);
			return SYNOD_EINVALID_CONFIG;
		}
	}
	return SYNOD_OK;
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
	rv = check_group_bounds(s->node->fsm.store, req, err, sizeof err);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, err);
		goto out;
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
		sets[i].resource = resource_of(e->scope, e->resource);
		sets[i].key = e->key;
		sets[i].value = e->value;
		recs[i].body_case = SYNOD__REC__RECORD__BODY_SET_CONFIG;
		recs[i].set_config = &sets[i];
		ptrs[i] = &recs[i];
	}
	srv_pending_once(p);
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
	d.resource = resource_of(req->scope, req->resource);
	d.key = req->key;
	r.body_case = SYNOD__REC__RECORD__BODY_DELETE_CONFIG;
	r.delete_config = &d;
	srv_pending_once(p);
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
		e.resource = resource_of(req->scope, req->resource);
		e.key = req->key;
		r.has_is_default = 1;
		if (srv == STORE_OK) {
			e.value = value;
		} else if (srv == STORE_ENOTFOUND) {
			/* Topic scope falls back to the cluster value, group
			 * scope to the cluster's group.<key>, then to the
			 * built-in default. */
			char ckey[128];
			snprintf(ckey, sizeof ckey, "%s%s",
				 req->scope == SYNOD_SCOPE_GROUP ? "group."
								 : "",
				 req->key);
			if (req->scope != SYNOD_SCOPE_CLUSTER &&
			    configdef_find(ckey) &&
			    store_config_get(n->fsm.store, SYNOD_SCOPE_CLUSTER,
					     NULL, ckey, &value) == STORE_OK) {
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
	int rv = srv_check_read(sc);
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
	rv = srv_read(sc, &p->w);
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

/* ---- the module ---- */

static void api_metadata(void *self, struct sconn *sc,
			 const struct frame_header *h, ProtobufCMessage *msg)
{
	(void)self;
	handle_metadata(sc, h, (void *)msg);
	protobuf_c_message_free_unpacked(msg, NULL);
}

static void api_node_status(void *self, struct sconn *sc,
			    const struct frame_header *h, ProtobufCMessage *msg)
{
	(void)self;
	handle_node_status(sc, h, (void *)msg);
	protobuf_c_message_free_unpacked(msg, NULL);
}

static void api_config_set(void *self, struct sconn *sc,
			   const struct frame_header *h, ProtobufCMessage *msg)
{
	(void)self;
	handle_config_set(sc, h, (void *)msg);
}

static void api_config_delete(void *self, struct sconn *sc,
			      const struct frame_header *h,
			      ProtobufCMessage *msg)
{
	(void)self;
	handle_config_delete(sc, h, (void *)msg);
}

static void api_config_get(void *self, struct sconn *sc,
			   const struct frame_header *h, ProtobufCMessage *msg)
{
	Synod__Wire__ConfigGetRequest *g = (void *)msg;
	char err[256];
	int rv =
	    check_entry(g->scope, g->resource, g->key, NULL, err, sizeof err);
	(void)self;
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, err);
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	start_read(sc, h, msg, config_get_done);
}

static void api_config_list(void *self, struct sconn *sc,
			    const struct frame_header *h, ProtobufCMessage *msg)
{
	Synod__Wire__ConfigListRequest *l = (void *)msg;
	(void)self;
	if (l->has_scope && (l->scope > SYNOD_SCOPE_PRINCIPAL ||
			     (l->scope == SYNOD_SCOPE_TOPIC && l->resource &&
			      !topic_name_valid(l->resource)) ||
			     (l->scope == SYNOD_SCOPE_GROUP && l->resource &&
			      !group_id_valid(l->resource)))) {
		srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT,
				 "unknown scope, invalid topic name or group "
				 "id");
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	start_read(sc, h, msg, config_list_done);
}

static void api_change(void *self, struct sconn *sc,
		       const struct frame_header *h, ProtobufCMessage *msg)
{
	(void)self;
	handle_change(sc, h, msg);
}

/* Changing a principal's grants is an admin's job; other configs are
 * operators'. */
static enum acl_op config_set_acl(const ProtobufCMessage *msg)
{
	const Synod__Wire__ConfigSetRequest *r = (const void *)msg;
	for (size_t i = 0; i < r->n_entries; i++)
		if (r->entries[i]->scope == SYNOD_SCOPE_PRINCIPAL)
			return ACL_ADMIN;
	return ACL_WRITE;
}

static enum acl_op config_delete_acl(const ProtobufCMessage *msg)
{
	const Synod__Wire__ConfigDeleteRequest *r = (const void *)msg;
	return r->scope == SYNOD_SCOPE_PRINCIPAL ? ACL_ADMIN : ACL_WRITE;
}

#define API(id, name, active, desc, fn, acl, acl_of)                           \
	{                                                                      \
		SYNOD_API_##id, name, 1, 1, active, &desc##__descriptor, fn,   \
		    acl, acl_of                                                \
	}

static const struct module_api cluster_apis[] = {
    API(METADATA, "METADATA", 0, synod__wire__metadata_request, api_metadata,
	ACL_CONNECT, NULL),
    API(NODE_STATUS, "NODE_STATUS", 0, synod__wire__node_status_request,
	api_node_status, ACL_CONNECT, NULL),
    API(CONFIG_SET, "CONFIG_SET", 1, synod__wire__config_set_request,
	api_config_set, ACL_WRITE, config_set_acl),
    API(CONFIG_GET, "CONFIG_GET", 1, synod__wire__config_get_request,
	api_config_get, ACL_READ, NULL),
    API(CONFIG_LIST, "CONFIG_LIST", 1, synod__wire__config_list_request,
	api_config_list, ACL_READ, NULL),
    API(CONFIG_DELETE, "CONFIG_DELETE", 1, synod__wire__config_delete_request,
	api_config_delete, ACL_WRITE, config_delete_acl),
    API(ADD_VOTER, "ADD_VOTER", 1, synod__wire__add_voter_request, api_change,
	ACL_ADMIN, NULL),
    API(REMOVE_VOTER, "REMOVE_VOTER", 1, synod__wire__remove_voter_request,
	api_change, ACL_ADMIN, NULL),
    API(TRANSFER_LEADER, "TRANSFER_LEADER", 1,
	synod__wire__transfer_leader_request, api_change, ACL_ADMIN, NULL),
};

void cluster_module(struct module *m)
{
	memset(m, 0, sizeof *m);
	m->name = "cluster";
	m->apis = cluster_apis;
	m->n_apis = sizeof cluster_apis / sizeof cluster_apis[0];
}

int cluster_ready_of(const Synod__Wire__NodeStatusResponse *m, char *why,
		     size_t size)
{
	uint64_t lag = m->commit_index > m->applied_index
			   ? m->commit_index - m->applied_index
			   : 0;
	if (m->leader_id == 0) {
		snprintf(why, size, "no leader known");
		return 0;
	}
	if (m->role && strcmp(m->role, "leader") == 0 &&
	    !m->active_controller) {
		snprintf(why, size,
			 "the leader is not the active controller yet");
		return 0;
	}
	if (lag > CLUSTER_READY_MAX_LAG) {
		snprintf(why, size, "%llu committed entries not applied yet",
			 (unsigned long long)lag);
		return 0;
	}
	snprintf(why, size, "leader %llu, applied index %llu",
		 (unsigned long long)m->leader_id,
		 (unsigned long long)m->applied_index);
	return 1;
}

int cluster_ready(struct server *s, char *why, size_t size)
{
	struct node_status ns;
	int ready;
	cluster_node_status(s, 0, &ns);
	ready = cluster_ready_of(&ns.m, why, size);
	cluster_node_status_free(&ns);
	return ready;
}
