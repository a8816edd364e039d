/* controller/server.c - the client listener: connections, frames, the
 * registry of modules and dispatch, replies, the client port's limits. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "module.h"
#include "server_int.h"
#include "tls.h"
#include "synod.pb-c.h"
#include "synod/client.h"

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
    [SRV_LOG_TLS] = "client connections failing TLS (handshake, "
		    "certificate, tls_handshake_timeout_ms)",
    [SRV_LOG_AUTHZ] = "requests refused AUTHORIZATION_FAILED",
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
	if (--sc->refs == 0) {
		free(sc->grant_groups);
		free(sc);
	}
}

/* An answer to a request: its latency under its API, its Status code
 * (field 1 of every response) among the codes. */
static void count_answer(struct server *s, const struct frame_header *req,
			 const ProtobufCMessage *body)
{
	if (req->kind != FRAME_REQUEST || req->recv_us == 0 ||
	    req->api >= SERVER_MAX_API)
		return;
	hist_observe(&s->api_stats[req->api],
		     (double)(uv_hrtime() / 1000 - req->recv_us) / 1e6);
	if (body) {
		const ProtobufCFieldDescriptor *f =
		    protobuf_c_message_descriptor_get_field(body->descriptor,
							    1);
		if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    f->descriptor == &synod__wire__status__descriptor) {
			const Synod__Wire__Status *st =
			    *(const Synod__Wire__Status *const *)((const char *)
								      body +
								  f->offset);
			if (st && st->code < 64)
				s->answers_by_code[st->code]++;
		}
	}
}

void srv_send(struct sconn *sc, const struct frame_header *req,
	      const ProtobufCMessage *body)
{
	struct frame_header h = *req;
	if (sc->closed)
		return;
	count_answer(sc->server, req, body);
	h.kind = FRAME_RESPONSE;
	h.flags = 0;
	if (sc->internal) {
		void (*answer)(void *, const struct frame_header *,
			       const ProtobufCMessage *) = sc->answer;
		sc->answer = NULL; /* one answer per call */
		if (answer)
			answer(sc->answer_arg, &h, body);
		return;
	}
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

void srv_waiter_once(struct waiter *w, const struct frame_header *h)
{
	if (h->kind == FRAME_REQUEST && (h->flags & FRAME_F_CLIENT_ID)) {
		w->client_id = h->client_id;
		w->request = h->correlation_id;
	}
}

void srv_pending_once(struct pending *p)
{
	srv_waiter_once(&p->w, &p->h);
}

int srv_resend_lookup(struct store *st, const struct frame_header *h,
		      struct store_client_request *out)
{
	if (h->kind != FRAME_REQUEST || !(h->flags & FRAME_F_CLIENT_ID) ||
	    store_client_request_get(st, h->client_id, h->correlation_id,
				     out) != STORE_OK)
		memset(out, 0, sizeof *out);
	return out->seen;
}

int srv_resend_applied(struct store *st, const struct frame_header *h)
{
	struct store_client_request first;
	return srv_resend_lookup(st, h, &first) && first.outcome == STORE_R_OK;
}

struct lease_wait {
	struct waiter w; /* first: the waiter is the struct */
	srv_handler fn;
	void *self;
	struct pending *p; /* the connection and the request */
};

static void lease_confirmed(struct node *n, struct waiter *w, int rc,
			    const int *statuses)
{
	struct lease_wait *lw = (struct lease_wait *)w;
	struct pending *p = lw->p;
	(void)n;
	(void)statuses;
	if (rc == SYNOD_OK) {
		ProtobufCMessage *msg = p->msg;
		p->msg = NULL;
		lw->fn(lw->self, p->sc, &p->h, msg);
	} else {
		srv_reply_status(p->sc, &p->h, rc, NULL);
	}
	srv_pending_free(p);
	free(lw);
}

void srv_with_lease(struct node *n, srv_handler fn, void *self,
		    struct sconn *sc, const struct frame_header *h,
		    ProtobufCMessage *msg)
{
	struct lease_wait *lw;
	int rv;
	if (node_lease_valid(n) || node_check_active(n) != SYNOD_OK) {
		fn(self, sc, h, msg);
		return;
	}
	lw = calloc(1, sizeof *lw);
	if (lw == NULL ||
	    (lw->p = srv_pending_new(sc, h, msg, NULL, NULL)) == NULL) {
		free(lw);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	lw->w.done = lease_confirmed;
	lw->w.now = 1; /* its lease is the barrier's: not queued */
	lw->fn = fn;
	lw->self = self;
	sc->server->stats.lease_waits++;
	if ((rv = node_read(n, &lw->w)) != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(lw->p);
		free(lw);
	}
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
	if (s->tls) {
		cc->has_tls_certificate_expiry = 1;
		cc->tls_certificate_expiry = tls_ctx_cert_expiry(s->tls);
		cc->has_tls_failures = cc->has_tls_handshake_timeouts = 1;
		cc->tls_failures = s->stats.tls_failures;
		cc->tls_handshake_timeouts = s->stats.closed_tls_handshake;
		cc->has_authorization_failed = 1;
		cc->authorization_failed = s->stats.authz_refused;
	}
}

void srv_status(struct server *s, Synod__Wire__NodeStatusResponse *m,
		Synod__Wire__ClientConnections *cc)
{
	for (unsigned i = 0; i < s->n_mods; i++)
		if (s->mods[i].status)
			s->mods[i].status(s->mods[i].self, m);
	fill_connections(s, cc);
	m->connections = cc;
}

/* ---- registry and dispatch ---- */

int server_register(struct server *s, const struct module *m)
{
	struct module *mods;
	if (s->n_mods >= SERVER_MAX_MODULES) {
		snprintf(s->errmsg, sizeof s->errmsg, "too many modules");
		return -1;
	}
	for (size_t i = 0; i < m->n_apis; i++) {
		uint16_t api = m->apis[i].api;
		if (api >= SERVER_MAX_API || s->api_mod[api] != 0 ||
		    m->apis[i].request == NULL || m->apis[i].handle == NULL) {
			snprintf(s->errmsg, sizeof s->errmsg,
				 "module %s: api %u is out of range, "
				 "incomplete or served already",
				 m->name, api);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (m->apis[k].api == api) {
				snprintf(s->errmsg, sizeof s->errmsg,
					 "module %s: api %u twice", m->name,
					 api);
				return -1;
			}
	}
	mods = realloc(s->mods, (s->n_mods + 1) * sizeof *mods);
	if (mods == NULL) {
		snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
		return -1;
	}
	s->mods = mods;
	s->mods[s->n_mods++] = *m;
	for (size_t i = 0; i < m->n_apis; i++) {
		s->api_mod[m->apis[i].api] = (uint8_t)s->n_mods;
		s->api[m->apis[i].api] = &m->apis[i];
	}
	return 0;
}

void server_foreach_api(const struct server *s,
			void (*cb)(void *arg, const struct module *m,
				   const struct module_api *a),
			void *arg)
{
	for (unsigned api = 0; api < SERVER_MAX_API; api++)
		if (s->api_mod[api])
			cb(arg, &s->mods[s->api_mod[api] - 1], s->api[api]);
}

/* ---- authorization (controller/acl.h, docs/security.md) ---- */

/* principal's grant from the replicated state into *g (groups into
 * groups[0..size)). */
static void read_grant(struct server *s, const char *principal,
		       struct acl_grant *g, char *groups, size_t size)
{
	struct store *st = s->node->fsm.store;
	char *v = NULL;
	g->role = ACL_ROLE_NONE;
	g->broker_id = -1;
	groups[0] = '\0';
	g->groups = groups;
	if (store_config_get(st, SYNOD_SCOPE_PRINCIPAL, principal, "role",
			     &v) == STORE_OK)
		(void)acl_role_parse(v, &g->role);
	free(v);
	v = NULL;
	if (store_config_get(st, SYNOD_SCOPE_PRINCIPAL, principal, "broker.id",
			     &v) == STORE_OK)
		g->broker_id = strtoll(v, NULL, 10);
	free(v);
	v = NULL;
	if (store_config_get(st, SYNOD_SCOPE_PRINCIPAL, principal, "groups",
			     &v) == STORE_OK)
		snprintf(groups, size, "%s", v);
	free(v);
}

/* The connection's grant, read again from the store when grants may
 * have changed since. */
static const struct acl_grant *grant_of(struct server *s, struct sconn *sc,
					const char *principal)
{
	if (sc->acl_gen == s->acl_gen)
		return &sc->grant;
	if (sc->grant_groups == NULL &&
	    (sc->grant_groups = malloc(GRANT_GROUPS_MAX)) == NULL) {
		/* Out of memory: no grant (refused), read again next time. */
		static char none[1];
		sc->grant.role = ACL_ROLE_NONE;
		sc->grant.broker_id = -1;
		sc->grant.groups = none;
		return &sc->grant;
	}
	read_grant(s, principal, &sc->grant, sc->grant_groups,
		   GRANT_GROUPS_MAX);
	sc->acl_gen = s->acl_gen;
	return &sc->grant;
}

int srv_principal_may(struct server *s, const char *principal, enum acl_op op,
		      char *why, size_t size)
{
	struct acl_grant g;
	char groups[GRANT_GROUPS_MAX], reason[300];
	if (!s->authz || acl_in_list(s->node->cfg->super_users, principal))
		return 0;
	read_grant(s, principal, &g, groups, sizeof groups);
	if (acl_decide(&g, op, NULL, reason, sizeof reason) == 0)
		return 0;
	snprintf(why, size, "principal '%s' (role %s) may not %s: %s",
		 principal, acl_role_name(g.role), acl_op_name(op), reason);
	s->stats.authz_refused++;
	if (ratelog_allow(s, SRV_LOG_AUTHZ))
		log_warn("http: AUTHORIZATION_FAILED: %s", why);
	return -1;
}

/* The request's broker_id (int32) or group_id (string) field. */
static void subject_of(const ProtobufCMessage *msg, struct acl_subject *out)
{
	const ProtobufCFieldDescriptor *f;
	out->broker_id = -1;
	out->group = NULL;
	f = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor,
							    "broker_id");
	if (f && f->type == PROTOBUF_C_TYPE_INT32 &&
	    f->label != PROTOBUF_C_LABEL_REPEATED) {
		int present = 1;
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
		    f->quantifier_offset)
			present =
			    *(const protobuf_c_boolean *)((const char *)msg +
							  f->quantifier_offset);
		if (present)
			out->broker_id =
			    *(const int32_t *)((const char *)msg + f->offset);
	}
	f = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor,
							    "group_id");
	if (f && f->type == PROTOBUF_C_TYPE_STRING &&
	    f->label != PROTOBUF_C_LABEL_REPEATED)
		out->group = *(char *const *)((const char *)msg + f->offset);
}

/* 1 when who is a member node's certificate principal, synod-node-ID
 * with ID in the raft configuration: a node may read on another's client
 * port (the HTTP API probes every node for /v1/quorum and forwards reads
 * to the active controller). It could join raft with that certificate
 * anyway. */
static int member_principal(struct server *s, const char *who)
{
	static const char prefix[] = "synod-node-";
	const struct raft_configuration *conf = &s->node->raft.configuration;
	char *end;
	unsigned long long id;
	if (who == NULL || strncmp(who, prefix, sizeof prefix - 1) != 0)
		return 0;
	who += sizeof prefix - 1;
	if (*who < '1' || *who > '9')
		return 0;
	id = strtoull(who, &end, 10);
	if (*end != '\0')
		return 0;
	for (unsigned i = 0; i < conf->n; i++)
		if (conf->servers[i].id == id)
			return 1;
	return 0;
}

/* 0 when the connection's principal may make this request; otherwise it
 * is answered AUTHORIZATION_FAILED (and logged) and -1 returned. */
static int authorize(struct server *s, struct sconn *sc,
		     const struct frame_header *h, const struct module_api *a,
		     const ProtobufCMessage *msg)
{
	const char *who = conn_tls_principal(&sc->conn);
	const struct acl_grant *g;
	struct acl_subject subject;
	enum acl_op op = a->acl_of ? a->acl_of(msg) : a->acl;
	char why[300], text[600];
	/* The development port: explicitly allowed, loopback only. */
	if (sc->plaintext || acl_in_list(s->node->cfg->super_users, who))
		return 0;
	if ((op == ACL_READ || op == ACL_CONNECT) && member_principal(s, who))
		return 0;
	g = grant_of(s, sc, who);
	subject_of(msg, &subject);
	if (acl_decide(g, op, &subject, why, sizeof why) == 0)
		return 0;
	snprintf(text, sizeof text, "principal '%s' (role %s) may not %s: %s",
		 who, acl_role_name(g->role), a->name, why);
	s->stats.authz_refused++;
	if (ratelog_allow(s, SRV_LOG_AUTHZ))
		log_warn("client %s: AUTHORIZATION_FAILED: %s", sc->conn.peer,
			 text);
	srv_reply_status(sc, h, SYNOD_EAUTHORIZATION_FAILED, text);
	return -1;
}

static void dispatch(struct sconn *sc, const struct frame_header *h,
		     const uint8_t *body, size_t len)
{
	struct server *s = sc->server;
	const struct module_api *a;
	const struct module *m;
	ProtobufCMessage *msg;
	s->stats.requests++;
	if (h->kind != FRAME_REQUEST) {
		srv_reply_status(sc, h, SYNOD_EINVALID_REQUEST,
				 "expected a request frame");
		return;
	}
	if (h->api >= SERVER_MAX_API || s->api_mod[h->api] == 0) {
		srv_reply_status(sc, h, SYNOD_EUNSUPPORTED_API, NULL);
		return;
	}
	m = &s->mods[s->api_mod[h->api] - 1];
	a = s->api[h->api];
	if (h->api_version < a->min_version ||
	    h->api_version > a->max_version) {
		char msg_text[96];
		if (a->min_version == a->max_version)
			snprintf(msg_text, sizeof msg_text,
				 "api %u version %u not supported "
				 "(supported: %u)",
				 h->api, h->api_version, a->min_version);
		else
			snprintf(msg_text, sizeof msg_text,
				 "api %u version %u not supported "
				 "(supported: %u-%u)",
				 h->api, h->api_version, a->min_version,
				 a->max_version);
		srv_reply_status(sc, h, SYNOD_EUNSUPPORTED_VERSION, msg_text);
		return;
	}
	msg = protobuf_c_message_unpack(a->request, NULL, len, body);
	if (msg == NULL) {
		srv_reply_status(sc, h, SYNOD_EINVALID_REQUEST,
				 "body does not decode");
		return;
	}
	if (s->authz && !sc->internal && authorize(s, sc, h, a, msg) != 0) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	a->handle(m->self, sc, h, msg);
}

static void on_frame(struct conn *c, const struct frame_header *h,
		     const uint8_t *body, size_t len)
{
	dispatch(c->data, h, body, len);
}

/* ---- internal calls (server_int.h) ---- */

int srv_check_read(struct sconn *sc)
{
	return sc->local_read ? SYNOD_OK : node_check_active(sc->server->node);
}

int srv_read(struct sconn *sc, struct waiter *w)
{
	if (!sc->local_read)
		return node_read(sc->server->node, w);
	w->first = 0;
	w->count = 0;
	w->next = NULL;
	w->done(sc->server->node, w, SYNOD_OK, NULL);
	return SYNOD_OK;
}

struct sconn *srv_call(struct server *s, uint16_t api,
		       const ProtobufCMessage *req, int local_read,
		       void (*answer)(void *arg, const struct frame_header *h,
				      const ProtobufCMessage *resp),
		       void *arg)
{
	static uint32_t correlation;
	struct frame_header h;
	struct sconn *sc = calloc(1, sizeof *sc);
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *body = malloc(len ? len : 1);
	if (sc == NULL || body == NULL) {
		free(sc);
		free(body);
		return NULL;
	}
	protobuf_c_message_pack(req, body);
	sc->server = s;
	sc->refs = 2; /* the caller's, and this call's until dispatched */
	sc->internal = 1;
	sc->local_read = local_read;
	sc->answer = answer;
	sc->answer_arg = arg;
	snprintf(sc->conn.peer, sizeof sc->conn.peer, "internal");
	memset(&h, 0, sizeof h);
	h.kind = FRAME_REQUEST;
	h.api = api;
	h.api_version =
	    api < SERVER_MAX_API && s->api[api] ? s->api[api]->max_version : 0;
	h.correlation_id = ++correlation;
	h.recv_us = uv_hrtime() / 1000;
	dispatch(sc, &h, body, len);
	free(body);
	srv_conn_unref(sc);
	return sc;
}

void srv_call_release(struct sconn *sc)
{
	sc->answer = NULL;
	sc->closed = 1;
	srv_conn_unref(sc);
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

static void on_connection(uv_stream_t *l, int status);

/* Every second: close connections past a timeout, give back the read
 * buffers of connections that went quiet, report dropped log lines, offer
 * again the connections that found no memory. */
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
		if (!conn_tls_ready(c)) {
			if (now - sc->accepted_ms >=
			    cfg->tls_handshake_timeout_ms) {
				s->stats.closed_tls_handshake++;
				if (ratelog_allow(s, SRV_LOG_TLS))
					log_warn("client %s: no TLS handshake "
						 "within %u ms "
						 "(tls_handshake_timeout_ms); "
						 "closing",
						 c->peer,
						 cfg->tls_handshake_timeout_ms);
				conn_close(c);
			}
			continue;
		}
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
	for (int i = 0; i < 2; i++)
		if (s->accept_later[i] != NULL)
			on_connection(s->accept_later[i], 0);
}

/* The last handle of a closing server closed. */
static void server_closed(struct server *s)
{
	tls_ctx_free(s->tls); /* connections hold references of their own */
	s->tls = NULL;
	free(s->mods);
	s->mods = NULL;
	s->n_mods = 0;
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
	if (conn_tls_error(c)) {
		s->stats.tls_failures++;
		if (ratelog_allow(s, SRV_LOG_TLS))
			log_warn("client: %s", conn_tls_error(c));
	}
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

/* Where the server notes that listener l waits for memory. */
static uv_stream_t **accept_later_slot(struct server *s, uv_stream_t *l)
{
	return &s->accept_later[l == (uv_stream_t *)&s->plain_listener];
}

/* No memory for the connection l offers: it waits in l (and the kernel's
 * backlog holds the next ones) until the tick offers it again. */
static void accept_later(struct server *s, uv_stream_t *l)
{
	uv_stream_t **slot = accept_later_slot(s, l);
	if (*slot == NULL)
		log_warn("client port: out of memory for a new connection; "
			 "it waits (tried again every second)");
	*slot = l;
}

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
	if (sc == NULL) {
		accept_later(s, l);
		return;
	}
	*accept_later_slot(s, l) = NULL;
	sc->server = s;
	sc->seq = ++s->conn_seq;
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
	sc->active_ms = sc->accepted_ms = uv_now(s->loop);
	sc->plaintext = l == (uv_stream_t *)&s->plain_listener;
	if (s->tls && !sc->plaintext &&
	    conn_tls_attach(&sc->conn, s->tls, 1) != 0) {
		conn_close(&sc->conn);
		return;
	}
	if (conn_start(&sc->conn) != 0)
		conn_close(&sc->conn);
}

/* The node's events, to every module in registration order. */
static void on_leadership(struct node *n, int active)
{
	struct server *s = n->data;
	for (unsigned i = 0; i < s->n_mods; i++)
		if (s->mods[i].leadership)
			s->mods[i].leadership(s->mods[i].self, active);
}

static void on_applied(struct node *n, uint64_t index,
		       const Synod__Rec__RecordBatch *b)
{
	struct server *s = n->data;
	/* Grants may have changed (a snapshot restored: b NULL):
	 * connections read theirs again. */
	if (b == NULL)
		s->acl_gen++;
	for (size_t i = 0; b && i < b->n_records; i++) {
		const Synod__Rec__Record *r = b->records[i];
		if ((r->body_case == SYNOD__REC__RECORD__BODY_SET_CONFIG &&
		     r->set_config->scope == SYNOD_SCOPE_PRINCIPAL) ||
		    (r->body_case == SYNOD__REC__RECORD__BODY_DELETE_CONFIG &&
		     r->delete_config->scope == SYNOD_SCOPE_PRINCIPAL)) {
			s->acl_gen++;
			break;
		}
	}
	for (unsigned i = 0; i < s->n_mods; i++)
		if (s->mods[i].applied)
			s->mods[i].applied(s->mods[i].self, index, b);
}

/* The client port's TLS context from the configured files. 0, or -1
 * with s->errmsg set. */
static int make_tls(struct server *s, const struct synod_config *cfg,
		    struct tls_ctx **out)
{
	struct tls_config tc = {0};
	char err[400];
	tc.ca_file = cfg->tls_ca_file;
	tc.cert_file = cfg->tls_cert_file;
	tc.key_file = cfg->tls_key_file;
	tc.server = 1;
	tc.require_peer_cert = 1;
	tc.allow_tls12 = cfg->tls_allow_tls12;
	tc.principal_san = cfg->tls_principal_san;
	if (tls_ctx_new(&tc, out, err, sizeof err) != 0) {
		snprintf(s->errmsg, sizeof s->errmsg, "client port TLS: %s",
			 err);
		return -1;
	}
	return 0;
}

int server_tls_reload(struct server *s)
{
	struct tls_ctx *t;
	if (s->tls == NULL) {
		snprintf(s->errmsg, sizeof s->errmsg,
			 "the client port has no TLS");
		return -1;
	}
	if (make_tls(s, s->node->cfg, &t) != 0)
		return -1;
	tls_ctx_free(s->tls); /* open connections keep their own */
	s->tls = t;
	return 0;
}

void srv_bound_name(uv_tcp_t *t, char *out, size_t size)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	char ip[64] = "?";
	int port = 0;
	if (uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	snprintf(out, size, "%s:%d", ip, port);
}

int srv_tcp_listen(struct server *s, uv_tcp_t *t, const char *what,
		   const char *address, int backlog, uv_connection_cb cb)
{
	struct sockaddr_storage ss;
	int rv;
	if (srv_listen_addr(what, address, &ss, s->errmsg, sizeof s->errmsg) !=
	    0)
		return -1;
	rv = uv_tcp_bind(t, (struct sockaddr *)&ss, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)t, backlog, cb);
	if (rv != 0) {
		snprintf(s->errmsg, sizeof s->errmsg, "%s: listen on %s: %s",
			 what, address, uv_strerror(rv));
		return -1;
	}
	return 0;
}

int srv_listen_addr(const char *what, const char *address,
		    struct sockaddr_storage *ss, char *err, size_t size)
{
	char host[SYNOD_ADDR_MAX];
	const char *colon = strrchr(address, ':');
	if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
		snprintf(err, size, "%s %s: not IP:PORT", what, address);
		return -1;
	}
	if (address[0] == '[' && colon > address + 1 && colon[-1] == ']') {
		memcpy(host, address + 1, (size_t)(colon - address - 2));
		host[colon - address - 2] = '\0';
	} else {
		memcpy(host, address, (size_t)(colon - address));
		host[colon - address] = '\0';
	}
	if (uv_ip4_addr(host, atoi(colon + 1), (struct sockaddr_in *)ss) != 0 &&
	    uv_ip6_addr(host, atoi(colon + 1), (struct sockaddr_in6 *)ss) !=
		0) {
		snprintf(err, size, "%s %s: host must be an IP address", what,
			 address);
		return -1;
	}
	return 0;
}

int server_start(struct server *s, uv_loop_t *loop, struct node *node,
		 const char *address)
{
	struct sockaddr_storage ss;
	memset(s, 0, sizeof *s);
	s->loop = loop;
	s->node = node;
	/* The address first: a bad one is said before TLS is loaded. */
	if (srv_listen_addr("client_address", address, &ss, s->errmsg,
			    sizeof s->errmsg) != 0)
		return -1;
	if (node->cfg->tls_cert_file[0]) {
		char what[160];
		if (make_tls(s, node->cfg, &s->tls) != 0)
			return -1;
		tls_ctx_describe(s->tls, what, sizeof what);
		log_info("client port: TLS (%s), certificate %s, client "
			 "certificates verified against %s",
			 node->cfg->tls_allow_tls12 ? "1.2 and 1.3"
						    : "1.3 only",
			 what, node->cfg->tls_ca_file);
		s->authz = node->cfg->authorization;
		s->acl_gen = 1;
		log_info("client port: authorization %s%s%s",
			 s->authz ? "on (grants in the replicated state)"
				  : "OFF (every certified client may do "
				    "everything)",
			 s->authz && node->cfg->super_users[0]
			     ? ", super users: "
			     : "",
			 s->authz ? node->cfg->super_users : "");
	}
	node->data = s;
	node->on_leadership = on_leadership;
	node->on_applied = on_applied;
	conn_flusher_init(&s->flusher, loop);
	uv_timer_init(loop, &s->tick);
	s->tick.data = s;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	if (srv_tcp_listen(s, &s->listener, "client_address", address, 1024,
			   on_connection) != 0)
		return -1;
	if (node->cfg->plaintext_client_address[0] && s->tls) {
		const char *pa = node->cfg->plaintext_client_address;
		char where[80];
		uv_tcp_init(loop, &s->plain_listener);
		s->plain_listener.data = s;
		s->has_plain = 1;
		if (srv_tcp_listen(s, &s->plain_listener,
				   "plaintext_client_address", pa, 128,
				   on_connection) != 0)
			return -1;
		srv_bound_name(&s->plain_listener, where, sizeof where);
		log_warn("plaintext client port (development: every client on "
			 "it is an admin) on %s",
			 where);
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
	for (unsigned i = s->n_mods; i-- > 0;)
		if (s->mods[i].close)
			s->mods[i].close(s->mods[i].self);
	s->open_handles = 4 + s->has_plain + (int)s->n_conns;
	if (s->has_plain)
		uv_close((uv_handle_t *)&s->plain_listener, handle_closed);
	s->flusher.check.data = s->flusher.idle.data = s;
	uv_close((uv_handle_t *)&s->tick, handle_closed);
	uv_close((uv_handle_t *)&s->listener, handle_closed);
	uv_close((uv_handle_t *)&s->flusher.check, handle_closed);
	uv_close((uv_handle_t *)&s->flusher.idle, handle_closed);
	free(s->flusher.tls_rbuf); /* no read after the closes below */
	s->flusher.tls_rbuf = NULL;
	for (struct sconn *sc = s->conns; sc; sc = sc->next)
		conn_close(&sc->conn);
}
