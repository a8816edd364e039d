/* controller/brokers.c - broker sessions and the broker APIs. */
#include "brokers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"
#include "log.h"
#include "publisher.h"
#include "synod/client.h"

#define TICK_MS 50
#define DEFAULT_SESSION_MS 9000
#define DEFAULT_HEARTBEAT_MS 2000

struct session {
	int32_t id;
	uint64_t epoch; /* 0 while the first registration is in flight */
	char incarnation[40];
	int fenced;
	int shutting_down;
	int stop_ack;
	int op_pending; /* a record for this broker is in flight */
	uint64_t deadline_ms;
	uint64_t last_hb_ms; /* 0: none since takeover */
	uint64_t reported_version;
	int going;	    /* departure in progress: not alive for decisions */
	struct pub_sub pub; /* its metadata deltas (publisher.h) */
	int wants_brokers;  /* pushes carry other brokers' states */
	int wants_all;	    /* pushes carry every partition change */
	uint64_t conn_seq;  /* newest connection it was heard on (sconn) */
};

enum op_kind { OP_REGISTER, OP_HEARTBEAT, OP_FENCE, OP_UNREGISTER, OP_LIST };

/* One raft round trip on behalf of a broker or a request. */
struct bop {
	struct waiter w;
	struct brokers *b;
	struct pending *p; /* NULL for the timer's own fences */
	enum op_kind kind;
	uint64_t gen;
	int32_t id;
	char incarnation[40];
	struct lc_heartbeat hb;
	/* The record that makes the broker leave, proposed once its
	 * elections are (body case; epoch of the registration it names;
	 * RegisterBroker is rebuilt from the request). */
	int final;
	uint64_t epoch;
	unsigned retries;
};

/* Departures refused because the broker still led something (a partition
 * created meanwhile) are walked again this many times before the broker
 * answers BUSY / the tick tries later. */
#define DEPART_RETRIES 8

struct brokers {
	struct server *server;
	struct node *node;
	uv_timer_t timer;
	int active;
	/* 1: this node is the active controller but could not load the
	 * registrations (no memory); every tick tries again, and requests
	 * are answered UNAVAILABLE meanwhile, not for the whole term. */
	int loading;
	uint64_t gen; /* bumped on every leadership change */
	/* open addressing, linear probing; NULL = empty slot */
	struct session **slots;
	size_t cap, count;
	uint64_t session_ms, heartbeat_ms;
	struct brokers_stats stats;
	struct publisher pub; /* delivers the topics' deltas to sessions */
	unsigned ops;	      /* bops whose waiters have not run yet */
	struct brokers_hooks hooks;
	int closing;	      /* 1: closing, 2: timer closed */
	size_t reconcile_pos; /* next slot the tick compares with the store */
};

/* ---- session table ---- */

static size_t slot_of(const struct brokers *b, int32_t id)
{
	uint32_t h = (uint32_t)id * 2654435761u;
	return h & (b->cap - 1);
}

static void session_free(struct session *s)
{
	pub_sub_release(&s->pub);
	free(s);
}

static struct session *lookup(struct brokers *b, int32_t id)
{
	if (b->cap == 0)
		return NULL;
	for (size_t i = slot_of(b, id);; i = (i + 1) & (b->cap - 1)) {
		if (b->slots[i] == NULL)
			return NULL;
		if (b->slots[i]->id == id)
			return b->slots[i];
	}
}

static int table_put(struct brokers *b, struct session *s);

static int grow(struct brokers *b)
{
	struct session **old = b->slots;
	size_t old_cap = b->cap;
	size_t cap = old_cap ? old_cap * 2 : 64;
	struct session **slots = calloc(cap, sizeof *slots);
	if (slots == NULL)
		return -1;
	b->slots = slots;
	b->cap = cap;
	b->count = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			table_put(b, old[i]);
	free(old);
	return 0;
}

static int table_put(struct brokers *b, struct session *s)
{
	if ((b->count + 1) * 2 > b->cap && grow(b) != 0)
		return -1;
	size_t i = slot_of(b, s->id);
	while (b->slots[i] != NULL)
		i = (i + 1) & (b->cap - 1);
	b->slots[i] = s;
	b->count++;
	return 0;
}

static void table_remove(struct brokers *b, int32_t id)
{
	size_t i, j;
	struct session *s;
	if (b->cap == 0)
		return;
	for (i = slot_of(b, id); b->slots[i] && b->slots[i]->id != id;
	     i = (i + 1) & (b->cap - 1))
		;
	if ((s = b->slots[i]) == NULL)
		return;
	session_free(s);
	b->slots[i] = NULL;
	b->count--;
	/* Re-insert the rest of the cluster so probes stay unbroken. */
	for (j = (i + 1) & (b->cap - 1); b->slots[j];
	     j = (j + 1) & (b->cap - 1)) {
		struct session *m = b->slots[j];
		b->slots[j] = NULL;
		b->count--;
		table_put(b, m);
	}
}

static void table_clear(struct brokers *b)
{
	for (size_t i = 0; i < b->cap; i++)
		if (b->slots[i])
			session_free(b->slots[i]);
	free(b->slots);
	b->slots = NULL;
	b->cap = b->count = 0;
}

static struct lc_broker *as_lc(const struct session *s, struct lc_broker *l)
{
	l->epoch = s->epoch;
	l->incarnation_id = s->incarnation;
	l->fenced = s->fenced;
	l->shutting_down = s->shutting_down;
	l->deadline_ms = s->deadline_ms;
	l->stop_acknowledged = s->stop_ack;
	l->unheard = s->last_hb_ms == 0;
	return l;
}

/* Refreshed: uv_now() is the start of the loop iteration, and a session
 * deadline computed from it after a long iteration would be short. */
static uint64_t now_ms(struct brokers *b)
{
	uv_update_time(b->node->loop);
	return uv_now(b->node->loop);
}

static uint64_t config_ms(struct brokers *b, const char *key, uint64_t dflt)
{
	char *v = NULL;
	uint64_t x = dflt;
	if (store_config_get(b->node->fsm.store, 0, NULL, key, &v) ==
	    STORE_OK) {
		x = strtoull(v, NULL, 10);
		if (x == 0)
			x = dflt;
	}
	free(v);
	return x;
}

static void refresh_config(struct brokers *b)
{
	b->session_ms =
	    config_ms(b, "broker.session.timeout.ms", DEFAULT_SESSION_MS);
	b->heartbeat_ms =
	    config_ms(b, "broker.heartbeat.interval.ms", DEFAULT_HEARTBEAT_MS);
}

/* Mirror the committed registration of s->id (after a record applied). */
static void sync_from_store(struct brokers *b, struct session *s)
{
	struct store_broker sb;
	if (store_broker_get(b->node->fsm.store, s->id, &sb) != STORE_OK)
		return;
	if (sb.epoch != s->epoch) {
		/* A new registration: a new session. */
		s->epoch = sb.epoch;
		s->stop_ack = 0;
		s->reported_version = 0;
	}
	snprintf(s->incarnation, sizeof s->incarnation, "%s",
		 sb.incarnation_id);
	s->fenced = sb.fenced;
	s->shutting_down = sb.shutting_down;
}

/* Whether sc may renew s: a request on an older connection (accept
 * order) than the newest this session was heard on is one its client gave
 * up on, delivered late (the kernel retransmits what a closed socket had
 * not sent, also after the process died: reliability.md 5.32). 1 (and sc
 * is now the newest) or 0. Internal requests (seq 0) are not judged. */
static int newest_conn(struct session *s, const struct sconn *sc)
{
	if (sc->seq == 0)
		return 1;
	if (sc->seq < s->conn_seq)
		return 0;
	s->conn_seq = sc->seq;
	return 1;
}

/* ---- proposals ---- */

static void brokers_free(struct brokers *b);

static void bop_free(struct bop *o)
{
	struct brokers *b = o->b;
	free(o);
	if (--b->ops == 0 && b->closing == 2)
		brokers_free(b);
}

static struct bop *bop_new(struct brokers *b, struct pending *p,
			   enum op_kind kind, int32_t id, waiter_cb done)
{
	struct bop *o = calloc(1, sizeof *o);
	if (o == NULL)
		return NULL;
	o->w.done = done;
	o->w.data = o;
	o->b = b;
	b->ops++;
	o->p = p;
	o->kind = kind;
	o->gen = b->gen;
	o->id = id;
	return o;
}

/* The session an operation was for, if leadership did not change. */
static struct session *bop_session(struct bop *o)
{
	if (o->gen != o->b->gen || !o->b->active)
		return NULL;
	return lookup(o->b, o->id);
}

static void send_heartbeat_reply(struct brokers *b, struct pending *p, int code,
				 const struct lc_heartbeat *hb,
				 const struct session *s)
{
	Synod__Wire__BrokerHeartbeatResponse r =
	    SYNOD__WIRE__BROKER_HEARTBEAT_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	srv_fill_status(b->server, &st, code, NULL, &lid, leader,
			sizeof leader);
	r.status = &st;
	if (code == SYNOD_OK) {
		r.has_is_fenced = r.has_is_caught_up = r.has_should_shutdown =
		    1;
		r.is_fenced = hb->is_fenced;
		r.is_caught_up = hb->is_caught_up;
		r.should_shutdown = hb->should_shutdown;
		r.has_metadata_version = r.has_heartbeat_interval_ms = 1;
		r.metadata_version = store_applied_index(b->node->fsm.store);
		r.heartbeat_interval_ms = (uint32_t)b->heartbeat_ms;
		if (s) {
			/* Pushes up to here went out before this answer (on
			 * its connection): a broker behind it lost some and
			 * fetches. */
			r.has_pushed_version = 1;
			r.pushed_version = s->pub.cursor;
		}
	}
	srv_send(p->sc, &p->h, &r.base);
}

/* heard (DUPLICATE only; -1: not said): whether this controller heard
 * from the live incarnation. */
static void send_register_reply(struct brokers *b, struct pending *p, int code,
				const char *msg, uint64_t epoch, int heard)
{
	Synod__Wire__BrokerRegisterResponse r =
	    SYNOD__WIRE__BROKER_REGISTER_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	srv_fill_status(b->server, &st, code, msg, &lid, leader, sizeof leader);
	r.status = &st;
	if (code == SYNOD_OK) {
		r.has_broker_epoch = 1;
		r.broker_epoch = epoch;
		r.has_heartbeat_interval_ms = r.has_session_timeout_ms = 1;
		r.heartbeat_interval_ms = (uint32_t)b->heartbeat_ms;
		r.session_timeout_ms = (uint32_t)b->session_ms;
	} else if (code == SYNOD_EDUPLICATE_BROKER_REGISTRATION) {
		r.has_session_timeout_ms = 1;
		r.session_timeout_ms = (uint32_t)b->session_ms;
		if (heard >= 0) {
			r.has_other_heard = 1;
			r.other_heard = heard != 0;
		}
	}
	srv_send(p->sc, &p->h, &r.base);
}

static int propose_one(struct brokers *b, Synod__Rec__Record *r, struct bop *o)
{
	const Synod__Rec__Record *rp = r;
	return node_propose(b->node, &rp, 1, &o->w);
}

static void build_register(struct brokers *b, struct bop *o,
			   Synod__Rec__Record *r,
			   Synod__Rec__RegisterBroker *rb,
			   Synod__Rec__BrokerEndpoint *eps,
			   Synod__Rec__BrokerEndpoint **epp);

/* Propose the record that makes o->id leave (its elections are
 * proposed). Returns SYNOD_OK or the code (o's waiter not called). */
static int propose_final(struct brokers *b, struct bop *o)
{
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	Synod__Rec__FenceBroker fb = SYNOD__REC__FENCE_BROKER__INIT;
	Synod__Rec__BrokerShutdown sd = SYNOD__REC__BROKER_SHUTDOWN__INIT;
	Synod__Rec__UnregisterBroker ur = SYNOD__REC__UNREGISTER_BROKER__INIT;
	Synod__Rec__RegisterBroker rb = SYNOD__REC__REGISTER_BROKER__INIT;
	Synod__Rec__BrokerEndpoint eps[STORE_MAX_ENDPOINTS];
	Synod__Rec__BrokerEndpoint *epp[STORE_MAX_ENDPOINTS];
	r.body_case = (Synod__Rec__Record__BodyCase)o->final;
	switch (o->final) {
	case SYNOD__REC__RECORD__BODY_FENCE_BROKER:
		fb.broker_id = o->id;
		fb.epoch = o->epoch;
		r.fence_broker = &fb;
		break;
	case SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN:
		sd.broker_id = o->id;
		sd.epoch = o->epoch;
		r.broker_shutdown = &sd;
		break;
	case SYNOD__REC__RECORD__BODY_UNREGISTER_BROKER:
		ur.broker_id = o->id;
		r.unregister_broker = &ur;
		break;
	default:
		build_register(b, o, &r, &rb, eps, epp);
		break;
	}
	return propose_one(b, &r, o);
}

static void departed(void *arg, int rc)
{
	struct bop *o = arg;
	if (rc == SYNOD_OK)
		rc = propose_final(o->b, o);
	if (rc != SYNOD_OK)
		o->w.done(o->b->node, &o->w, rc, NULL);
}

/* Fence, shutdown, unregister and re-registration: first the elections
 * that move every leadership away from the broker (hooks.depart, in as
 * many bounded entries as it takes), then the record itself, which apply
 * refuses while the broker still leads. The broker counts as not alive
 * from now on, so nothing elects it meanwhile. Returns SYNOD_OK (o's
 * waiter runs later) or an error (it does not). */
static int depart(struct brokers *b, struct session *s, struct bop *o)
{
	if (s)
		s->going = 1;
	if (b->hooks.depart == NULL)
		return propose_final(b, o);
	if (b->hooks.depart(b->hooks.arg, o->id, departed, o) != 0) {
		if (s)
			s->going = 0;
		return SYNOD_EUNAVAILABLE;
	}
	return SYNOD_OK;
}

/* The record was refused because the broker still leads (a partition
 * created or recovered meanwhile): walk again. 1 when retried (the
 * waiter will run again), 0 otherwise. */
static int retry_refused(struct bop *o, int rc, const int *statuses)
{
	struct brokers *b = o->b;
	if (rc != SYNOD_OK || statuses == NULL ||
	    statuses[0] != STORE_R_REFUSED || o->gen != b->gen || !b->active ||
	    o->retries >= DEPART_RETRIES)
		return 0;
	o->retries++;
	return depart(b, lookup(b, o->id), o) == SYNOD_OK;
}

/* ---- registration ---- */

static void register_done(struct node *n, struct waiter *w, int rc,
			  const int *statuses)
{
	struct bop *o = w->data;
	struct brokers *b = o->b;
	struct session *s = bop_session(o);
	(void)n;
	if (retry_refused(o, rc, statuses))
		return;
	if (s) {
		s->op_pending = 0;
		s->going = 0;
	}
	if (rc == SYNOD_OK && statuses && statuses[0] == STORE_R_OK && s) {
		sync_from_store(b, s);
		s->deadline_ms = lc_deadline(now_ms(b), b->session_ms);
		s->last_hb_ms = now_ms(b);
		/* A new registration starts afresh from its own connection
		 * (the replaced incarnation's may be newer). */
		s->conn_seq = o->p->sc->seq;
		pub_attach(&s->pub, o->p->sc);
		b->stats.registrations++;
		log_event(LOG_INFO, "broker_registered",
			  "broker=%d epoch=%llu incarnation=%s", s->id,
			  (unsigned long long)s->epoch, s->incarnation);
		send_register_reply(b, o->p, SYNOD_OK, NULL, s->epoch, -1);
	} else {
		/* Refused as stale: our view lagged the store. Take the
		 * committed registration and let the broker retry. */
		if (s)
			sync_from_store(b, s);
		if (s && s->epoch == 0)
			table_remove(b, o->id);
		if (rc == SYNOD_OK)
			rc = SYNOD_EBUSY;
		send_register_reply(b, o->p, rc,
				    rc == SYNOD_EBUSY ? "registration raced: "
							"retry"
						      : NULL,
				    0, -1);
	}
	srv_pending_free(o->p);
	bop_free(o);
}

static int check_register(const Synod__Wire__BrokerRegisterRequest *r,
			  char *err, size_t size)
{
	if (r->broker_id < 0) {
		snprintf(err, size, "broker_id must be >= 0");
		return -1;
	}
	if (r->incarnation_id[0] == '\0' || strlen(r->incarnation_id) >= 40) {
		snprintf(err, size, "incarnation_id must be 1-39 characters");
		return -1;
	}
	if (r->rack && strlen(r->rack) >= 64) {
		snprintf(err, size, "rack longer than 63 characters");
		return -1;
	}
	if (r->n_endpoints > STORE_MAX_ENDPOINTS) {
		snprintf(err, size, "more than %d endpoints",
			 STORE_MAX_ENDPOINTS);
		return -1;
	}
	for (size_t i = 0; i < r->n_endpoints; i++) {
		const Synod__Wire__Endpoint *e = r->endpoints[i];
		if (e->name[0] == '\0' || strlen(e->name) >= 32 ||
		    e->host[0] == '\0' || strlen(e->host) >= 256 ||
		    e->port == 0 || e->port > 65535 ||
		    strlen(e->security_protocol) >= 32) {
			snprintf(err, size, "endpoint %zu is not valid", i);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(r->endpoints[k]->name, e->name) == 0) {
				snprintf(err, size, "endpoint name %s twice",
					 e->name);
				return -1;
			}
	}
	return 0;
}

static void build_register(struct brokers *b, struct bop *o,
			   Synod__Rec__Record *r,
			   Synod__Rec__RegisterBroker *rb,
			   Synod__Rec__BrokerEndpoint *eps,
			   Synod__Rec__BrokerEndpoint **epp)
{
	const Synod__Wire__BrokerRegisterRequest *req = o->p->msg;
	(void)b;
	for (size_t i = 0; i < req->n_endpoints; i++) {
		synod__rec__broker_endpoint__init(&eps[i]);
		eps[i].name = req->endpoints[i]->name;
		eps[i].host = req->endpoints[i]->host;
		eps[i].port = req->endpoints[i]->port;
		eps[i].security_protocol = req->endpoints[i]->security_protocol;
		epp[i] = &eps[i];
	}
	rb->broker_id = req->broker_id;
	rb->incarnation_id = req->incarnation_id;
	rb->rack = req->rack;
	rb->n_endpoints = req->n_endpoints;
	rb->endpoints = epp;
	rb->expected_epoch = o->epoch;
	r->body_case = SYNOD__REC__RECORD__BODY_REGISTER_BROKER;
	r->register_broker = rb;
}

static void handle_register(struct brokers *b, struct sconn *sc,
			    const struct frame_header *h,
			    Synod__Wire__BrokerRegisterRequest *req)
{
	struct pending *p;
	struct session *s;
	struct lc_broker lcb;
	char err[128];
	int rv;
	const char *cid = b->node->cfg->cluster_id;
	if (strcmp(req->cluster_id, cid) != 0) {
		snprintf(err, sizeof err, "this is cluster %s", cid);
		srv_reply_status(sc, h, SYNOD_ECLUSTER_ID_MISMATCH, err);
		goto free_req;
	}
	if (check_register(req, err, sizeof err) != 0) {
		srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT, err);
		goto free_req;
	}
	if ((rv = node_check_active(b->node)) != SYNOD_OK || !b->active) {
		srv_reply_status(
		    sc, h, rv != SYNOD_OK ? rv : SYNOD_EUNAVAILABLE, NULL);
		goto free_req;
	}
	/* Registrations are rare: read the session settings fresh, so a
	 * change made just before is in the answer (the tick refreshes them
	 * for heartbeats within 50 ms). */
	refresh_config(b);
	s = lookup(b, req->broker_id);
	if (s && s->op_pending) {
		srv_reply_status(sc, h, SYNOD_EBUSY,
				 "a change for this broker is in flight");
		goto free_req;
	}
	switch (lc_register(s && s->epoch ? as_lc(s, &lcb) : NULL,
			    req->incarnation_id, now_ms(b))) {
	case LC_REG_SAME:
		/* A retry after a lost answer: same epoch. One on an older
		 * connection than the newest the session was heard on is
		 * answered but renews nothing (as a heartbeat's would not). */
		if (newest_conn(s, sc)) {
			pub_attach(&s->pub, sc);
			s->deadline_ms = lc_deadline(now_ms(b), b->session_ms);
			s->last_hb_ms = now_ms(b);
		}
		p = srv_pending_new(sc, h, req, NULL, NULL);
		if (p) {
			send_register_reply(b, p, SYNOD_OK, NULL, s->epoch, -1);
			srv_pending_free(p);
		}
		return;
	case LC_REG_DUPLICATE:
		b->stats.duplicate_refusals++;
		snprintf(err, sizeof err,
			 "broker %d is registered by live incarnation %s",
			 req->broker_id, s->incarnation);
		/* With the session timeout: how long the broker should
		 * retry (the old session expires within it). */
		p = srv_pending_new(sc, h, req, NULL, NULL);
		if (p == NULL) {
			srv_reply_status(
			    sc, h, SYNOD_EDUPLICATE_BROKER_REGISTRATION, err);
			goto free_req;
		}
		send_register_reply(b, p, SYNOD_EDUPLICATE_BROKER_REGISTRATION,
				    err, 0, s->last_hb_ms != 0);
		srv_pending_free(p);
		return;
	case LC_REG_NEW:
		break;
	}
	if (s == NULL) {
		s = calloc(1, sizeof *s);
		if (s)
			s->id = req->broker_id; /* table_put hashes the id */
		if (s == NULL || table_put(b, s) != 0) {
			free(s);
			srv_reply_status(sc, h, SYNOD_EUNKNOWN,
					 "out of memory");
			goto free_req;
		}
	}
	{
		struct bop *o;
		int replaces = s->epoch != 0 && !s->fenced;
		p = srv_pending_new(sc, h, req, NULL, NULL);
		o = p ? bop_new(b, p, OP_REGISTER, req->broker_id,
				register_done)
		      : NULL;
		if (o == NULL) {
			if (p)
				srv_pending_free(p);
			else
				synod__wire__broker_register_request__free_unpacked(
				    req, NULL);
			srv_reply_status(sc, h, SYNOD_EUNKNOWN,
					 "out of memory");
			if (s->epoch == 0)
				table_remove(b, req->broker_id);
			return;
		}
		o->final = SYNOD__REC__RECORD__BODY_REGISTER_BROKER;
		o->epoch = s->epoch;
		/* A new incarnation replacing a live (unfenced) one: the old
		 * one's leaderships move away first, as for a fence (its
		 * session expired, or lc_register would have refused). */
		rv = replaces ? depart(b, s, o) : propose_final(b, o);
		if (rv != SYNOD_OK) {
			int32_t id = req->broker_id;
			srv_reply_status(sc, h, rv, NULL);
			if (s->epoch == 0)
				table_remove(b, id);
			srv_pending_free(p);
			bop_free(o);
			return;
		}
		s->op_pending = 1;
	}
	return;
free_req:
	synod__wire__broker_register_request__free_unpacked(req, NULL);
}

/* ---- heartbeats ---- */

static void heartbeat_done(struct node *n, struct waiter *w, int rc,
			   const int *statuses)
{
	struct bop *o = w->data;
	struct brokers *b = o->b;
	struct session *s = bop_session(o);
	(void)n;
	if (retry_refused(o, rc, statuses))
		return;
	if (s) {
		s->op_pending = 0;
		s->going = 0;
		sync_from_store(b, s);
		if (o->hb.action == LC_UNFENCE && !s->fenced) {
			b->stats.unfenced++;
			log_event(LOG_INFO, "broker_unfenced",
				  "broker=%d epoch=%llu", s->id,
				  (unsigned long long)s->epoch);
			if (b->hooks.back)
				b->hooks.back(b->hooks.arg, s->id);
		}
		if (o->hb.action == LC_SHUTDOWN && s->shutting_down) {
			b->stats.shutdowns++;
			log_event(LOG_INFO, "broker_shutdown",
				  "broker=%d epoch=%llu", s->id,
				  (unsigned long long)s->epoch);
		}
	}
	if (rc == SYNOD_OK && statuses && statuses[0] == STORE_R_REFUSED)
		rc = SYNOD_EBUSY; /* still led something: ask again */
	else if (rc == SYNOD_OK && statuses && statuses[0] != STORE_R_OK)
		rc = SYNOD_ESTALE_BROKER_EPOCH;
	if (rc == SYNOD_OK && s) {
		/* Answer with what is committed now. */
		o->hb.is_fenced = s->fenced;
		o->hb.should_shutdown = s->shutting_down;
		if (s->shutting_down)
			s->stop_ack = 1;
	}
	send_heartbeat_reply(b, o->p, rc, &o->hb, s);
	srv_pending_free(o->p);
	bop_free(o);
}

static void heartbeat_now(struct brokers *b, struct sconn *sc,
			  const struct frame_header *h,
			  Synod__Wire__BrokerHeartbeatRequest *req)
{
	struct session *s;
	struct lc_broker lcb;
	struct lc_heartbeat hb;
	struct pending *p;
	int rv;
	if ((rv = node_check_active(b->node)) != SYNOD_OK || !b->active) {
		srv_reply_status(
		    sc, h, rv != SYNOD_OK ? rv : SYNOD_EUNAVAILABLE, NULL);
		goto free_req;
	}
	b->stats.heartbeats++;
	s = lookup(b, req->broker_id);
	lc_heartbeat(s && s->epoch ? as_lc(s, &lcb) : NULL, req->broker_epoch,
		     req->metadata_version, req->want_fence, req->want_shutdown,
		     &hb);
	if (hb.error) {
		if (hb.error == SYNOD_ESTALE_BROKER_EPOCH)
			b->stats.stale_epoch_refusals++;
		srv_reply_status(sc, h, hb.error,
				 hb.error == SYNOD_ESTALE_BROKER_EPOCH
				     ? "broker epoch is not the current one"
				     : "broker id not registered");
		goto free_req;
	}
	if (!newest_conn(s, sc)) {
		b->stats.old_connection_refusals++;
		log_warn("broker %d: a heartbeat on connection %llu, older "
			 "than %llu it was heard on since: refused, its "
			 "session not renewed",
			 s->id, (unsigned long long)sc->seq,
			 (unsigned long long)s->conn_seq);
		srv_reply_status(sc, h, SYNOD_EINVALID_REQUEST,
				 "heartbeat on an older connection than the "
				 "broker's latest");
		goto free_req;
	}
	s->deadline_ms = lc_deadline(now_ms(b), b->session_ms);
	s->last_hb_ms = now_ms(b);
	s->reported_version = req->metadata_version;
	/* What its pushes carry, before they go on this connection (a
	 * session rebuilt at a takeover knows it only from here or from a
	 * fetch: without it, partition changes went out without the broker
	 * states they depend on, to a broker that had no reason to fetch). */
	if (req->has_with_brokers)
		s->wants_brokers = req->with_brokers;
	if (req->has_all_partitions)
		s->wants_all = req->all_partitions;
	/* Deltas go on this connection now; nudge the broker if some were
	 * dropped or went to its previous connection. */
	pub_heartbeat(&b->pub, &s->pub, sc, req->metadata_version);
	p = srv_pending_new(sc, h, req, NULL, NULL);
	if (p == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		goto free_req;
	}
	if (hb.action != LC_NONE && !s->op_pending) {
		struct bop *o =
		    bop_new(b, p, OP_HEARTBEAT, s->id, heartbeat_done);
		if (o == NULL) {
			srv_reply_status(sc, h, SYNOD_EUNKNOWN,
					 "out of memory");
			srv_pending_free(p);
			return;
		}
		o->hb = hb;
		o->epoch = s->epoch;
		if (hb.action == LC_UNFENCE) {
			Synod__Rec__UnfenceBroker ub =
			    SYNOD__REC__UNFENCE_BROKER__INIT;
			Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
			ub.broker_id = s->id;
			ub.epoch = s->epoch;
			r.body_case = SYNOD__REC__RECORD__BODY_UNFENCE_BROKER;
			r.unfence_broker = &ub;
			rv = propose_one(b, &r, o);
		} else {
			/* Fence on request, or controlled shutdown: the
			 * answer waits for the elections and the record. */
			o->final =
			    hb.action == LC_FENCE
				? SYNOD__REC__RECORD__BODY_FENCE_BROKER
				: SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN;
			rv = depart(b, s, o);
		}
		if (rv == SYNOD_OK) {
			s->op_pending = 1;
			return;
		}
		bop_free(o);
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(p);
		return;
	}
	/* Nothing to commit (or a change for it in flight): answer with the
	 * committed state at once; a fence or departure in flight counts as
	 * done (the broker must not count itself unfenced past a fence that
	 * is about to commit). */
	hb.is_fenced = s->fenced || s->going;
	hb.should_shutdown = s->shutting_down;
	if (s->shutting_down)
		s->stop_ack = 1;
	send_heartbeat_reply(b, p, SYNOD_OK, &hb, s);
	srv_pending_free(p);
	return;
free_req:
	synod__wire__broker_heartbeat_request__free_unpacked(req, NULL);
}

static void heartbeat_api(void *self, struct sconn *sc,
			  const struct frame_header *h, ProtobufCMessage *msg)
{
	heartbeat_now(self, sc, h, (Synod__Wire__BrokerHeartbeatRequest *)msg);
}

/* Heartbeats are answered from memory, so only under the leadership lease
 * (srv_with_lease): without it a deposed controller, paused while another
 * took over, told a broker the new one had just fenced that it was
 * unfenced, with a fresh session (docs/reliability.md 5.5). */
static void handle_heartbeat(struct brokers *b, struct sconn *sc,
			     const struct frame_header *h,
			     Synod__Wire__BrokerHeartbeatRequest *req)
{
	srv_with_lease(b->node, heartbeat_api, b, sc, h, &req->base);
}

/* ---- fencing on session expiry ---- */

static void fence_done(struct node *n, struct waiter *w, int rc,
		       const int *statuses)
{
	struct bop *o = w->data;
	struct session *s = bop_session(o);
	(void)n;
	if (retry_refused(o, rc, statuses))
		return;
	if (s) {
		s->op_pending = 0;
		s->going = 0;
		sync_from_store(o->b, s);
		if (rc == SYNOD_OK && statuses && statuses[0] == STORE_R_OK) {
			o->b->stats.fenced_by_timeout++;
			log_event(LOG_INFO, "broker_fenced",
				  "broker=%d reason=session_timeout "
				  "session_ms=%llu",
				  s->id, (unsigned long long)o->b->session_ms);
		}
	}
	bop_free(o);
}

/* Sessions compared with the store per tick (a fence committed by an
 * earlier controller, or any drift, is taken over within seconds). */
#define RECONCILE_PER_TICK 64

static void reconcile(struct brokers *b)
{
	for (unsigned k = 0; k < RECONCILE_PER_TICK && b->cap > 0; k++) {
		struct session *s;
		struct store_broker sb;
		b->reconcile_pos = (b->reconcile_pos + 1) & (b->cap - 1);
		s = b->slots[b->reconcile_pos];
		if (s == NULL || s->epoch == 0 || s->op_pending)
			continue;
		if (store_broker_get(b->node->fsm.store, s->id, &sb) !=
			STORE_OK ||
		    sb.epoch != s->epoch)
			continue; /* unregistered or replaced: ops handle it */
		if (sb.fenced != s->fenced ||
		    sb.shutting_down != s->shutting_down) {
			log_warn("broker %d: session said %s, store says %s: "
				 "taking the store's",
				 s->id, s->fenced ? "fenced" : "unfenced",
				 sb.fenced ? "fenced" : "unfenced");
			sync_from_store(b, s);
		}
	}
}

static int load_sessions(struct brokers *b);

static void on_tick(uv_timer_t *t)
{
	struct brokers *b = t->data;
	uint64_t now;
	if (node_check_active(b->node) != SYNOD_OK)
		return;
	if (b->loading)
		load_sessions(b);
	if (!b->active)
		return;
	refresh_config(b);
	reconcile(b);
	now = now_ms(b);
	for (size_t i = 0; i < b->cap; i++) {
		struct session *s = b->slots[i];
		struct lc_broker lcb;
		struct bop *o;
		if (s == NULL || s->epoch == 0 || s->op_pending ||
		    !lc_should_fence(as_lc(s, &lcb), now))
			continue;
		o = bop_new(b, NULL, OP_FENCE, s->id, fence_done);
		if (o == NULL)
			return;
		o->final = SYNOD__REC__RECORD__BODY_FENCE_BROKER;
		o->epoch = s->epoch;
		/* A departure that cannot start now is tried at the next
		 * tick; the other brokers are not held up by it. */
		if (depart(b, s, o) != SYNOD_OK) {
			bop_free(o);
			continue;
		}
		s->op_pending = 1;
	}
}

/* ---- unregister and list ---- */

static void unregister_done(struct node *n, struct waiter *w, int rc,
			    const int *statuses)
{
	struct bop *o = w->data;
	(void)n;
	if (retry_refused(o, rc, statuses))
		return;
	if (rc == SYNOD_OK && statuses && statuses[0] == STORE_R_NOT_FOUND)
		rc = SYNOD_EUNKNOWN_BROKER;
	else if (rc == SYNOD_OK && statuses && statuses[0] == STORE_R_REFUSED)
		rc = SYNOD_EBUSY;
	if (rc == SYNOD_OK) {
		if (bop_session(o))
			table_remove(o->b, o->id);
		log_event(LOG_INFO, "broker_unregistered", "broker=%d", o->id);
	} else if (bop_session(o)) {
		bop_session(o)->op_pending = 0;
		bop_session(o)->going = 0;
	}
	srv_reply_status(o->p->sc, &o->p->h, rc, NULL);
	srv_pending_free(o->p);
	bop_free(o);
}

static void handle_unregister(struct brokers *b, struct sconn *sc,
			      const struct frame_header *h,
			      Synod__Wire__BrokerUnregisterRequest *req)
{
	struct session *s;
	struct pending *p;
	struct bop *o;
	int rv = node_check_active(b->node);
	if (rv == SYNOD_OK && !b->active)
		rv = SYNOD_EUNAVAILABLE;
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		synod__wire__broker_unregister_request__free_unpacked(req,
								      NULL);
		return;
	}
	s = lookup(b, req->broker_id);
	if (s && s->op_pending) {
		srv_reply_status(sc, h, SYNOD_EBUSY,
				 "a change for this broker is in flight");
		synod__wire__broker_unregister_request__free_unpacked(req,
								      NULL);
		return;
	}
	p = srv_pending_new(sc, h, req, NULL, NULL);
	o = p ? bop_new(b, p, OP_UNREGISTER, req->broker_id, unregister_done)
	      : NULL;
	if (o == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (p)
			srv_pending_free(p);
		else
			synod__wire__broker_unregister_request__free_unpacked(
			    req, NULL);
		return;
	}
	o->final = SYNOD__REC__RECORD__BODY_UNREGISTER_BROKER;
	rv = depart(b, s, o);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(p);
		bop_free(o);
		return;
	}
	if (s)
		s->op_pending = 1;
}

struct list_ctx {
	struct brokers *b;
	int32_t only;
	int has_only;
	Synod__Wire__BrokerInfo *infos;
	Synod__Wire__Endpoint *eps;
	size_t n, cap;
};

static int list_one(void *arg, const struct store_broker *sb)
{
	struct list_ctx *x = arg;
	struct session *s;
	Synod__Wire__BrokerInfo *bi;
	if (x->has_only && sb->id != x->only)
		return 0;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		void *a = realloc(x->infos, cap * sizeof *x->infos);
		if (a == NULL)
			return -1;
		x->infos = a;
		a = realloc(x->eps, cap * STORE_MAX_ENDPOINTS * sizeof *x->eps);
		if (a == NULL)
			return -1;
		x->eps = a;
		x->cap = cap;
	}
	bi = &x->infos[x->n];
	synod__wire__broker_info__init(bi);
	bi->id = sb->id;
	bi->epoch = sb->epoch;
	bi->incarnation_id = strdup(sb->incarnation_id);
	bi->rack = sb->has_rack ? strdup(sb->rack) : NULL;
	bi->fenced = sb->fenced;
	bi->state = sb->shutting_down ? "shutting-down"
		    : sb->fenced      ? "fenced"
				      : "active";
	bi->has_registered_ms = 1;
	bi->registered_ms = sb->registered_ms;
	bi->n_endpoints = sb->n_endpoints;
	for (unsigned k = 0; k < sb->n_endpoints; k++) {
		Synod__Wire__Endpoint *e =
		    &x->eps[x->n * STORE_MAX_ENDPOINTS + k];
		synod__wire__endpoint__init(e);
		e->name = strdup(sb->endpoints[k].name);
		e->host = strdup(sb->endpoints[k].host);
		e->port = sb->endpoints[k].port;
		e->security_protocol =
		    strdup(sb->endpoints[k].security_protocol);
	}
	s = lookup(x->b, sb->id);
	bi->has_last_heartbeat_ms = 1;
	bi->last_heartbeat_ms =
	    s && s->last_hb_ms ? (int64_t)(now_ms(x->b) - s->last_hb_ms) : -1;
	if (s && s->last_hb_ms) {
		bi->has_metadata_version = 1;
		bi->metadata_version = s->reported_version;
	}
	x->n++;
	return 0;
}

static void list_done(struct node *n, struct waiter *w, int rc,
		      const int *statuses)
{
	struct bop *o = w->data;
	struct brokers *b = o->b;
	Synod__Wire__BrokerListRequest *req = o->p->msg;
	Synod__Wire__BrokerListResponse r =
	    SYNOD__WIRE__BROKER_LIST_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	struct list_ctx x = {
	    b, req->broker_id, req->has_broker_id, NULL, NULL, 0, 0};
	Synod__Wire__BrokerInfo **ptrs = NULL;
	Synod__Wire__Endpoint ***eptrs = NULL;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	(void)statuses;
	if (rc == SYNOD_OK &&
	    store_broker_list(n->fsm.store, list_one, &x) != STORE_OK)
		rc = SYNOD_EUNKNOWN;
	if (rc == SYNOD_OK && x.has_only && x.n == 0)
		rc = SYNOD_EUNKNOWN_BROKER;
	if (rc == SYNOD_OK && x.n > 0) {
		ptrs = calloc(x.n, sizeof *ptrs);
		eptrs = calloc(x.n, sizeof *eptrs);
		if (ptrs == NULL || eptrs == NULL)
			rc = SYNOD_EUNKNOWN;
	}
	if (rc == SYNOD_OK) {
		for (size_t i = 0; i < x.n; i++) {
			ptrs[i] = &x.infos[i];
			eptrs[i] = calloc(STORE_MAX_ENDPOINTS, sizeof **eptrs);
			for (size_t k = 0;
			     eptrs[i] && k < x.infos[i].n_endpoints; k++)
				eptrs[i][k] =
				    &x.eps[i * STORE_MAX_ENDPOINTS + k];
			x.infos[i].endpoints = eptrs[i];
			if (eptrs[i] == NULL)
				x.infos[i].n_endpoints = 0;
		}
		r.n_brokers = x.n;
		r.brokers = ptrs;
		r.has_metadata_version = 1;
		r.metadata_version = store_applied_index(n->fsm.store);
	}
	srv_fill_status(b->server, &st, rc, NULL, &lid, leader, sizeof leader);
	r.status = &st;
	srv_send(o->p->sc, &o->p->h, &r.base);
	for (size_t i = 0; i < x.n; i++) {
		free(x.infos[i].incarnation_id);
		free(x.infos[i].rack);
		for (unsigned k = 0; k < x.infos[i].n_endpoints; k++) {
			Synod__Wire__Endpoint *e =
			    &x.eps[i * STORE_MAX_ENDPOINTS + k];
			free(e->name);
			free(e->host);
			free(e->security_protocol);
		}
		if (eptrs)
			free(eptrs[i]);
	}
	free(eptrs);
	free(ptrs);
	free(x.infos);
	free(x.eps);
	srv_pending_free(o->p);
	bop_free(o);
}

static void handle_list(struct brokers *b, struct sconn *sc,
			const struct frame_header *h,
			Synod__Wire__BrokerListRequest *req)
{
	struct pending *p;
	struct bop *o;
	int rv = srv_check_read(sc);
	if (rv == SYNOD_OK && !b->active && !sc->local_read)
		rv = SYNOD_EUNAVAILABLE;
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		synod__wire__broker_list_request__free_unpacked(req, NULL);
		return;
	}
	p = srv_pending_new(sc, h, req, NULL, NULL);
	o = p ? bop_new(b, p, OP_LIST, 0, list_done) : NULL;
	if (o == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (p)
			srv_pending_free(p);
		else
			synod__wire__broker_list_request__free_unpacked(req,
									NULL);
		return;
	}
	rv = srv_read(sc, &o->w);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(p);
		bop_free(o);
	}
}

/* ---- lifecycle ---- */

static int takeover_one(void *arg, const struct store_broker *sb)
{
	struct brokers *b = arg;
	struct session *s = calloc(1, sizeof *s);
	if (s == NULL)
		return -1;
	s->id = sb->id;
	s->epoch = sb->epoch;
	snprintf(s->incarnation, sizeof s->incarnation, "%s",
		 sb->incarnation_id);
	s->fenced = sb->fenced;
	s->shutting_down = sb->shutting_down;
	/* A broker in controlled shutdown was (or will be) told to stop. */
	s->stop_ack = sb->shutting_down;
	s->deadline_ms = lc_deadline(now_ms(b), b->session_ms);
	/* Nobody pushed the entries the last term left uncommitted (this
	 * node's first barrier committed them) and the broker's connection
	 * is to the old controller: pushes continue from the applied state,
	 * and the broker's first heartbeat here is answered with a nudge, so
	 * a broker behind it fetches at once even in a quiet cluster. */
	pub_sub_init(&s->pub, store_applied_index(b->node->fsm.store));
	if (table_put(b, s) != 0) {
		free(s);
		return -1;
	}
	return 0;
}

/* The sessions from the store, each with a full session of grace from
 * now. STORE_OK, or (the table left empty) -1 (no memory for a session)
 * or the store's code. */
static int load_sessions(struct brokers *b)
{
	int rv = store_broker_list(b->node->fsm.store, takeover_one, b);
	if (rv != STORE_OK) {
		table_clear(b);
		return rv;
	}
	b->loading = 0;
	b->active = 1;
	log_info("broker sessions: %zu registered brokers, %llu ms of grace",
		 b->count, (unsigned long long)b->session_ms);
	return 0;
}

void brokers_leadership(struct brokers *b, int active)
{
	int rv;
	b->gen++;
	table_clear(b);
	b->active = 0;
	b->loading = 0;
	uv_timer_stop(&b->timer);
	if (!active)
		return;
	refresh_config(b);
	uv_timer_start(&b->timer, on_tick, TICK_MS, TICK_MS);
	rv = load_sessions(b);
	if (rv != STORE_OK) {
		b->loading = 1;
		log_warn("cannot load the broker registrations (%s): broker "
			 "requests are answered UNAVAILABLE until a tick "
			 "loads them",
			 rv < 0 ? "out of memory"
				: store_errmsg(b->node->fsm.store));
	}
}

/* ---- the module ---- */

static void api_register(void *self, struct sconn *sc,
			 const struct frame_header *h, ProtobufCMessage *msg)
{
	handle_register(self, sc, h, (void *)msg);
}

static void api_heartbeat(void *self, struct sconn *sc,
			  const struct frame_header *h, ProtobufCMessage *msg)
{
	handle_heartbeat(self, sc, h, (void *)msg);
}

static void api_unregister(void *self, struct sconn *sc,
			   const struct frame_header *h, ProtobufCMessage *msg)
{
	handle_unregister(self, sc, h, (void *)msg);
}

static void api_list(void *self, struct sconn *sc, const struct frame_header *h,
		     ProtobufCMessage *msg)
{
	handle_list(self, sc, h, (void *)msg);
}

static const struct module_api brokers_apis[] = {
    {SYNOD_API_BROKER_REGISTER, "BROKER_REGISTER", 1, 1, 1,
     &synod__wire__broker_register_request__descriptor, api_register,
     ACL_BROKER, NULL},
    {SYNOD_API_BROKER_HEARTBEAT, "BROKER_HEARTBEAT", 1, 1, 1,
     &synod__wire__broker_heartbeat_request__descriptor, api_heartbeat,
     ACL_BROKER, NULL},
    {SYNOD_API_BROKER_UNREGISTER, "BROKER_UNREGISTER", 1, 1, 1,
     &synod__wire__broker_unregister_request__descriptor, api_unregister,
     ACL_BROKER, NULL},
    {SYNOD_API_BROKER_LIST, "BROKER_LIST", 1, 1, 1,
     &synod__wire__broker_list_request__descriptor, api_list, ACL_READ, NULL},
};

static void mod_leadership(void *self, int active)
{
	brokers_leadership(self, active);
}

/* NODE_STATUS: the sessions, on the active controller only. */
static void mod_status(void *self, Synod__Wire__NodeStatusResponse *m)
{
	struct brokers *b = self;
	if (!b->active || node_check_active(b->node) != SYNOD_OK)
		return;
	m->has_brokers = m->has_broker_heartbeats = 1;
	m->has_brokers_fenced_by_timeout = m->has_broker_registrations = 1;
	m->brokers = brokers_count(b);
	m->broker_heartbeats = b->stats.heartbeats;
	m->brokers_fenced_by_timeout = b->stats.fenced_by_timeout;
	m->broker_registrations = b->stats.registrations;
	m->has_broker_stale_epoch_refusals = 1;
	m->has_broker_duplicate_refusals = 1;
	m->has_broker_old_connection_refusals = 1;
	m->broker_stale_epoch_refusals = b->stats.stale_epoch_refusals;
	m->broker_duplicate_refusals = b->stats.duplicate_refusals;
	m->broker_old_connection_refusals = b->stats.old_connection_refusals;
	m->has_broker_unfences = m->has_broker_shutdowns = 1;
	m->broker_unfences = b->stats.unfenced;
	m->broker_shutdowns = b->stats.shutdowns;
	m->has_pushes = m->has_pushes_dropped = m->has_push_bytes = 1;
	m->has_push_nudges = 1;
	m->pushes = b->pub.stats.pushes;
	m->pushes_dropped = b->pub.stats.dropped;
	m->push_bytes = b->pub.stats.bytes;
	m->push_nudges = b->pub.stats.nudges;
}

static void mod_close(void *self)
{
	brokers_close(self);
}

void brokers_module(struct brokers *b, struct module *m)
{
	memset(m, 0, sizeof *m);
	m->name = "brokers";
	m->self = b;
	m->apis = brokers_apis;
	m->n_apis = sizeof brokers_apis / sizeof brokers_apis[0];
	m->leadership = mod_leadership;
	m->status = mod_status;
	m->close = mod_close;
}

int brokers_new(struct server *s, struct brokers **out)
{
	struct brokers *b = calloc(1, sizeof *b);
	if (b == NULL)
		return -1;
	b->server = s;
	b->node = s->node;
	b->session_ms = DEFAULT_SESSION_MS;
	b->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
	pub_init(&b->pub, s->node->cfg->max_frame);
	uv_timer_init(s->loop, &b->timer);
	b->timer.data = b;
	*out = b;
	return 0;
}

static void brokers_free(struct brokers *b)
{
	free(b);
}

/* Waiters still in flight (failed by raft_close after us) hold b: the
 * last of timer close and those frees releases it. */
static void timer_closed(uv_handle_t *h)
{
	struct brokers *b = h->data;
	b->closing = 2;
	if (b->ops == 0)
		brokers_free(b);
}

void brokers_close(struct brokers *b)
{
	b->closing = 1;
	table_clear(b);
	b->active = 0;
	b->gen++;
	uv_close((uv_handle_t *)&b->timer, timer_closed);
}

const struct brokers_stats *brokers_stats(const struct brokers *b)
{
	return &b->stats;
}

unsigned brokers_count(const struct brokers *b)
{
	return b->active ? (unsigned)b->count : 0;
}

void brokers_set_hooks(struct brokers *b, const struct brokers_hooks *h)
{
	b->hooks = *h;
}

int brokers_ready(const struct brokers *b)
{
	return b->active;
}

int brokers_alive(struct brokers *b, int32_t id)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	return s && s->epoch && !s->fenced && !s->shutting_down && !s->going;
}

int brokers_departing(struct brokers *b, int32_t id)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	return s && s->going;
}

int brokers_check(struct brokers *b, int32_t id, uint64_t epoch)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	if (b->loading)
		return SYNOD_EUNAVAILABLE; /* not "unknown": not loaded yet */
	if (s == NULL || s->epoch == 0)
		return SYNOD_EUNKNOWN_BROKER;
	return s->epoch == epoch ? SYNOD_OK : SYNOD_ESTALE_BROKER_EPOCH;
}

void brokers_synced(struct brokers *b, int32_t id, uint64_t version,
		    struct sconn *sc)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	if (s)
		pub_synced(&s->pub, version, sc);
}

uint64_t brokers_pushed_version(struct brokers *b, int32_t id)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	return s ? s->pub.cursor : 0;
}

void brokers_want_brokers(struct brokers *b, int32_t id, int want)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	if (s)
		s->wants_brokers = want;
}

int brokers_wants_brokers(struct brokers *b, int32_t id)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	return s && s->wants_brokers;
}

void brokers_want_all(struct brokers *b, int32_t id, int want)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	if (s)
		s->wants_all = want;
}

int brokers_wants_all(struct brokers *b, int32_t id)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	return s && s->wants_all;
}

void brokers_foreach(struct brokers *b, void (*cb)(void *arg, int32_t id),
		     void *arg)
{
	if (!b->active)
		return;
	for (size_t i = 0; i < b->cap; i++)
		if (b->slots[i] && b->slots[i]->epoch)
			cb(arg, b->slots[i]->id);
}

int brokers_nudge(struct brokers *b, int32_t id, uint64_t version)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	if (s == NULL || s->epoch == 0)
		return -1;
	return pub_nudge(&b->pub, &s->pub, version);
}

int brokers_push(struct brokers *b, int32_t id, Synod__Wire__MetadataDelta *d)
{
	struct session *s = b->active ? lookup(b, id) : NULL;
	if (s == NULL || s->epoch == 0)
		return -1;
	return pub_push(&b->pub, &s->pub, d);
}
