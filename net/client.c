/* net/client.c - the Synod client library (see synod/client.h). */
#include "synod/client.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "conn.h"
#include "tls.h"

#define TICK_MS 20
#define MAX_ADDRS 64
#define DEFAULT_MAX_REDIRECTS 10
#define DEFAULT_REQUEST_TIMEOUT_MS 10000
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define REDIRECT_BACKOFF_MIN_MS 25

enum { ST_IDLE, ST_RESOLVING, ST_CONNECTING, ST_HANDSHAKE, ST_READY };

struct preq {
	struct preq *next, *prev;
	uint32_t corr;
	uint16_t api;
	int to_leader;
	int sent;
	int ever_sent;	    /* reached some node at least once */
	unsigned redirects; /* NOT_CONTROLLER answers followed */
	uint64_t sent_ms;   /* when last handed to a connection */
	int failing;	    /* being failed by fail_all() */
	uint8_t *body;
	size_t len;
	uint64_t deadline;
	synod_response_cb cb;
	void *arg;
};

struct cconn {
	struct conn conn;
	uv_connect_t connect;
	struct synod_client *client;
	int connected;
};

struct synod_client {
	uv_loop_t *loop;
	uv_loop_t own_loop;
	int owns_loop;
	char *addrs[MAX_ADDRS];
	unsigned n_addrs;
	unsigned addr_next;
	char *cluster_id;
	struct tls_ctx *tls; /* NULL: plaintext */
	struct synod_client_config cfg;
	struct conn_flusher flusher;
	struct cconn *cc;
	int state;
	char peer[128];
	char leader_hint[128];
	uv_timer_t tick;  /* deadlines and connect timeout */
	uv_timer_t retry; /* reconnect backoff */
	unsigned backoff_ms;
	uint64_t connect_deadline;
	uint32_t next_corr;
	/* Sent with every request (FRAME_F_CLIENT_ID): with the correlation
	 * id, which a resend keeps, it lets the controller apply a write
	 * once. Random; none when the system has no randomness for it. */
	uint8_t client_id[FRAME_CLIENT_ID_SIZE];
	int has_client_id;
	uint32_t handshake_corr;
	uint32_t ping_corr; /* liveness probe in flight, 0 if none */
	uint64_t ping_sent_ms;
	uint64_t last_rx_ms;	/* last byte received on this connection */
	uint64_t last_bytes_in; /* conn.bytes_in when last_rx_ms was set */
	/* The first request sent since the last byte received, even one that
	 * has timed out since (0: none): with request timeouts at or below
	 * liveness_timeout_ms no request waits that long, yet a node that
	 * answers nothing is still suspect. */
	int unanswered;
	uint64_t unanswered_ms;
	/* A to_leader request was answered NOT_CONTROLLER (or UNAVAILABLE,
	 * SHUTTING_DOWN): nothing more is sent on this connection; it is
	 * closed once the requests sent on it are answered, so no answer
	 * already on its way is lost. */
	int draining;
	int connect_failed;	  /* the last attempt failed (fail_fast) */
	unsigned redirect_streak; /* redirects since the last real answer */
	uint64_t generation;	  /* connections that became ready */
	uint64_t rng;
	uv_getaddrinfo_t gai; /* name lookup (ST_RESOLVING) */
	int port;	      /* of the lookup in progress */
	struct preq *head, *tail;
	synod_push_cb push_cb;
	void *push_arg;
	struct synod_client_stats stats;
	int open_handles;
	int closing;
	/* Own loop: close from a callback cannot run the loop or free; it
	 * is finished by synod_client_call's return or by a later close. */
	int depth;   /* user callbacks running */
	int running; /* inside synod_client_call */
	char errmsg[512];
	char tls_err[256]; /* the last connection's TLS failure, until a
			      connection works */
};

static void seterr(struct synod_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
	va_end(ap);
}

const char *synod_client_errmsg(const struct synod_client *c)
{
	return c->errmsg;
}

uv_loop_t *synod_client_loop(struct synod_client *c)
{
	return c->loop;
}

void synod_client_on_push(struct synod_client *c, synod_push_cb cb, void *arg)
{
	c->push_cb = cb;
	c->push_arg = arg;
}

void synod_client_set_request_timeout(struct synod_client *c, unsigned ms)
{
	c->cfg.request_timeout_ms = ms ? ms : DEFAULT_REQUEST_TIMEOUT_MS;
	if (c->cfg.connect_timeout_ms > c->cfg.request_timeout_ms)
		c->cfg.connect_timeout_ms = c->cfg.request_timeout_ms;
}

const char *synod_client_peer(const struct synod_client *c)
{
	return c->state == ST_READY ? c->peer : NULL;
}

uint64_t synod_client_generation(const struct synod_client *c)
{
	return c->generation;
}

void synod_client_stats(const struct synod_client *c,
			struct synod_client_stats *out)
{
	*out = c->stats;
}

/* xorshift64*: per-client jitter. */
static uint64_t rnd(struct synod_client *c)
{
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [d/2, d]. */
static uint64_t jitter(struct synod_client *c, uint64_t d)
{
	return d / 2 + rnd(c) % (d - d / 2 + 1);
}

static void list_remove(struct synod_client *c, struct preq *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		c->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		c->tail = p->prev;
	p->next = p->prev = NULL;
}

static void list_append(struct synod_client *c, struct preq *p)
{
	p->next = NULL;
	p->prev = c->tail;
	if (c->tail)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
}

static void complete(struct synod_client *c, struct preq *p, int status,
		     const uint8_t *body, size_t len)
{
	list_remove(c, p);
	if (p->cb) {
		c->depth++;
		p->cb(p->arg, status, body, len);
		c->depth--;
	}
	free(p->body);
	free(p);
}

/* Fail every request pending now. One that a callback sends meanwhile is
 * not failed here (it waits for its own answer or deadline): a caller that
 * retries from its callback cannot keep this loop going for ever. The
 * marked requests stay first in the list (sends append). */
static void fail_all(struct synod_client *c, int status)
{
	for (struct preq *p = c->head; p; p = p->next)
		p->failing = 1;
	while (c->head && c->head->failing)
		complete(c, c->head, status, NULL, 0);
}

static void start_connect(struct synod_client *c);

/* Correlation ids skip 0: the server answers frames it could not parse
 * with id 0. */
static uint32_t next_corr(struct synod_client *c)
{
	if (++c->next_corr == 0)
		c->next_corr = 1;
	return c->next_corr;
}

static void on_retry(uv_timer_t *t)
{
	struct synod_client *c = t->data;
	if (!c->closing && c->cc == NULL && c->state == ST_IDLE &&
	    c->head != NULL)
		start_connect(c);
}

/* Connect again: to a leader hint at once the first time, after a
 * jittered backoff when hints keep leading to nodes that are not the
 * controller (two nodes pointing at each other during an election must
 * not become a connection storm), and after the exponential backoff
 * without a hint. */
static void schedule_reconnect(struct synod_client *c)
{
	uint64_t d;
	if (c->closing || c->head == NULL)
		return;
	if (c->leader_hint[0] != '\0' && !c->cfg.pinned) {
		unsigned k = c->redirect_streak;
		if (k <= 1) {
			uv_timer_start(&c->retry, on_retry, 0, 0);
			return;
		}
		d = REDIRECT_BACKOFF_MIN_MS;
		while (--k > 1 && d < c->cfg.backoff_max_ms)
			d *= 2;
		if (d > c->cfg.backoff_max_ms)
			d = c->cfg.backoff_max_ms;
		uv_timer_start(&c->retry, on_retry, jitter(c, d), 0);
		return;
	}
	uv_timer_start(&c->retry, on_retry, jitter(c, c->backoff_ms), 0);
	c->backoff_ms *= 2;
	if (c->backoff_ms > c->cfg.backoff_max_ms)
		c->backoff_ms = c->cfg.backoff_max_ms;
}

static void send_one(struct synod_client *c, struct preq *p)
{
	struct frame_header h = {.kind = FRAME_REQUEST,
				 .api = p->api,
				 .api_version = 1,
				 .correlation_id = p->corr};
	if (c->has_client_id) {
		h.flags = FRAME_F_CLIENT_ID;
		memcpy(h.client_id, c->client_id, sizeof h.client_id);
	}
	if (conn_send_raw(&c->cc->conn, &h, p->body, p->len) == 0) {
		p->sent = p->ever_sent = 1;
		p->sent_ms = uv_now(c->loop);
		if (!c->unanswered) {
			c->unanswered = 1;
			c->unanswered_ms = p->sent_ms;
		}
	}
}

static void send_unsent(struct synod_client *c)
{
	for (struct preq *p = c->head; p; p = p->next)
		if (!p->sent)
			send_one(c, p);
}

static int can_send(const struct synod_client *c)
{
	return c->state == ST_READY && !c->draining;
}

static void on_conn_closed(struct conn *conn)
{
	struct cconn *cc = conn->data;
	struct synod_client *c = cc->client;
	if (conn_tls_error(conn) && !c->closing) {
		seterr(c, "%s", conn_tls_error(conn));
		snprintf(c->tls_err, sizeof c->tls_err, "%s",
			 conn_tls_error(conn));
	}
	free(cc);
	c->open_handles--;
	if (c->cc == cc) {
		c->cc = NULL;
		c->state = ST_IDLE;
		c->ping_corr = 0;
		c->unanswered = 0;
		c->draining = 0;
		for (struct preq *p = c->head; p; p = p->next)
			p->sent = 0;
		if (c->cfg.fail_fast && c->connect_failed && !c->closing) {
			/* Refused or unreachable: that is the answer. */
			c->connect_failed = 0;
			fail_all(c, SYNOD_ECONNECTION);
		} else {
			schedule_reconnect(c);
		}
	}
	if (c->closing && c->open_handles == 0 && !c->owns_loop)
		free(c);
}

static void drop_conn(struct synod_client *c)
{
	if (c->cc)
		conn_close(&c->cc->conn);
}

/* A node that stopped answering, or never finished connecting: reset the
 * connection, so that requests the kernel still holds for it are not
 * delivered seconds later, after they were resent elsewhere (a broker's
 * heartbeat renewing a session it no longer has; reliability.md 5.32). */
static void give_up_conn(struct synod_client *c)
{
	if (c->cc)
		conn_abort(&c->cc->conn);
}

/* Draining: close once no request sent on the connection awaits its
 * answer (the liveness probe does not count). */
static void maybe_drained(struct synod_client *c)
{
	if (!c->draining || c->cc == NULL)
		return;
	for (struct preq *p = c->head; p; p = p->next)
		if (p->sent)
			return;
	drop_conn(c);
}

static struct preq *find_sent(struct synod_client *c, uint32_t corr)
{
	for (struct preq *p = c->head; p; p = p->next)
		if (p->sent && p->corr == corr)
			return p;
	return NULL;
}

static int status_of(const uint8_t *body, size_t len, char *leader,
		     size_t leader_size)
{
	Synod__Wire__AnyResponse *r =
	    synod__wire__any_response__unpack(NULL, len, body);
	int code;
	leader[0] = '\0';
	if (r == NULL)
		return -1;
	code = r->status ? r->status->code : 0;
	if (r->status && r->status->leader_address)
		snprintf(leader, leader_size, "%s", r->status->leader_address);
	synod__wire__any_response__free_unpacked(r, NULL);
	return code;
}

/* The connection is usable: a new generation (see client.h). */
static void ready(struct synod_client *c)
{
	c->state = ST_READY;
	c->generation++;
	c->stats.connections++;
	send_unsent(c);
}

/* A to_leader request reached a node that cannot serve it: follow the
 * hint (NOT_CONTROLLER) or try another node, after the answers still
 * due on this connection. */
static void not_here(struct synod_client *c, struct preq *p, int code,
		     const char *leader)
{
	char from[128];
	p->sent = 0;
	snprintf(from, sizeof from, "%s", c->peer);
	if (code == SYNOD_ENOT_CONTROLLER && leader[0] &&
	    strcmp(leader, c->peer) != 0)
		snprintf(c->leader_hint, sizeof c->leader_hint, "%s", leader);
	else
		c->leader_hint[0] = '\0';
	c->draining = 1;
	if (code == SYNOD_ENOT_CONTROLLER) {
		c->redirect_streak++;
		c->stats.redirects++;
		if (++p->redirects > c->cfg.max_redirects) {
			seterr(c,
			       "no active controller after %u redirects "
			       "(last: %s -> %s)",
			       p->redirects - 1, from,
			       leader[0] ? leader : "no hint");
			c->stats.redirect_limit++;
			complete(c, p, SYNOD_ENOT_CONTROLLER, NULL, 0);
			if (c->closing)
				return;
		}
	}
	maybe_drained(c);
}

static void on_frame(struct conn *conn, const struct frame_header *h,
		     const uint8_t *body, size_t len)
{
	struct cconn *cc = conn->data;
	struct synod_client *c = cc->client;
	char leader[128];
	struct preq *p;
	c->last_rx_ms = uv_now(c->loop);
	c->last_bytes_in = conn->bytes_in;
	c->unanswered = 0;
	c->tls_err[0] = '\0'; /* a connection that works */
	if (h->kind == FRAME_PUSH) {
		if (c->push_cb) {
			c->depth++;
			c->push_cb(c->push_arg, h->api, body, len);
			c->depth--;
		}
		return;
	}
	if (h->kind != FRAME_RESPONSE)
		return;
	if (c->ping_corr != 0 && h->correlation_id == c->ping_corr) {
		c->ping_corr = 0;
		return;
	}
	if (c->state == ST_HANDSHAKE &&
	    h->correlation_id == c->handshake_corr) {
		int code = status_of(body, len, leader, sizeof leader);
		if (code == SYNOD_ECLUSTER_ID_MISMATCH) {
			seterr(c, "node %s belongs to another cluster",
			       c->peer);
			fail_all(c, SYNOD_ECLUSTER_ID_MISMATCH);
			drop_conn(c);
			return;
		}
		ready(c);
		return;
	}
	p = find_sent(c, h->correlation_id);
	if (p == NULL)
		return; /* timed out already */
	if (p->to_leader && !c->cfg.pinned) {
		int code = status_of(body, len, leader, sizeof leader);
		if (code == SYNOD_ENOT_CONTROLLER ||
		    code == SYNOD_EUNAVAILABLE ||
		    code == SYNOD_ESHUTTING_DOWN) {
			not_here(c, p, code, leader);
			return;
		}
	}
	c->backoff_ms = 50;
	c->redirect_streak = 0;
	complete(c, p, SYNOD_OK, body, len);
	if (!c->closing)
		maybe_drained(c);
}

static void on_bad_frame(struct conn *conn, int err,
			 const struct frame_header *h)
{
	struct cconn *cc = conn->data;
	struct synod_client *c = cc->client;
	struct preq *p;
	c->stats.bad_frames++;
	if (err != FRAME_ETOOBIG) {
		seterr(c, "bad frame from %s: %s", c->peer,
		       frame_strerror(err));
		return;
	}
	seterr(c, "a frame from %s is larger than max_frame (%zu bytes)",
	       c->peer, c->cfg.max_frame);
	/* Its request would get the same answer again: fail it. A push that
	 * large is lost with the connection (a broker then fetches). */
	if (h->kind == FRAME_RESPONSE && h->correlation_id != 0 &&
	    (p = find_sent(c, h->correlation_id)) != NULL) {
		complete(c, p, SYNOD_EMESSAGE_TOO_LARGE, NULL, 0);
		if (!c->closing)
			maybe_drained(c);
	}
}

static const struct conn_ops client_ops = {
    .frame = on_frame,
    .bad_frame = on_bad_frame,
    .closed = on_conn_closed,
};

static void on_connect(uv_connect_t *req, int status)
{
	struct cconn *cc = req->data;
	struct synod_client *c = cc->client;
	if (c->cc != cc)
		return; /* abandoned (timeout / close): already closing */
	if (status < 0) {
		seterr(c, "connect %s: %s", c->peer, uv_strerror(status));
		c->leader_hint[0] = '\0';
		c->connect_failed = 1;
		drop_conn(c);
		return;
	}
	cc->connected = 1;
	c->connect_failed = 0;
	c->last_rx_ms = uv_now(c->loop);
	c->last_bytes_in = 0;
	c->ping_corr = 0;
	c->unanswered = 0;
	if (conn_start(&cc->conn) != 0) {
		drop_conn(c);
		return;
	}
	if (c->cluster_id) {
		Synod__Wire__MetadataRequest m =
		    SYNOD__WIRE__METADATA_REQUEST__INIT;
		struct frame_header h = {.kind = FRAME_REQUEST,
					 .api = SYNOD_API_METADATA,
					 .api_version = 1,
					 .correlation_id = next_corr(c)};
		m.cluster_id = c->cluster_id;
		c->handshake_corr = h.correlation_id;
		c->state = ST_HANDSHAKE;
		conn_send(&cc->conn, &h, &m.base);
		return;
	}
	ready(c);
}

int net_split_hostport(const char *hostport, char *host, size_t size, int *port)
{
	const char *colon = strrchr(hostport, ':');
	size_t n;
	if (colon == NULL || colon == hostport ||
	    (size_t)(colon - hostport) >= size)
		return -1;
	n = (size_t)(colon - hostport);
	memcpy(host, hostport, n);
	host[n] = '\0';
	*port = atoi(colon + 1);
	if (*port <= 0 || *port > 65535)
		return -1;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	return 0;
}

static uint64_t now_ms(struct synod_client *c)
{
	return uv_now(c->loop);
}

static void connect_to(struct synod_client *c, const struct sockaddr *sa)
{
	struct cconn *cc = calloc(1, sizeof *cc);
	if (cc == NULL) {
		c->state = ST_IDLE;
		schedule_reconnect(c);
		return;
	}
	cc->client = c;
	if (conn_init(&cc->conn, c->loop, &c->flusher, c->cfg.max_frame,
		      &client_ops, cc) != 0) {
		free(cc);
		c->state = ST_IDLE;
		schedule_reconnect(c);
		return;
	}
	c->open_handles++;
	if (c->tls && conn_tls_attach(&cc->conn, c->tls, 0) != 0) {
		/* closed() drops it and schedules the retry */
		c->cc = cc;
		c->state = ST_CONNECTING;
		drop_conn(c);
		return;
	}
	c->cc = cc;
	c->state = ST_CONNECTING;
	/* Counted from here: a name lookup that outlived its own deadline
	 * (on_tick could not cancel it) must not leave this attempt, and
	 * its handshake, without one. */
	c->connect_deadline = now_ms(c) + c->cfg.connect_timeout_ms;
	c->stats.connects++;
	cc->connect.data = cc;
	if (uv_tcp_connect(&cc->connect, &cc->conn.tcp, sa, on_connect) != 0)
		drop_conn(c);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct synod_client *c = req->data;
	c->open_handles--;
	if (c->closing || c->state != ST_RESOLVING) {
		/* Closed, or given up on (connect timeout) meanwhile. */
		if (res)
			uv_freeaddrinfo(res);
		if (c->closing && c->open_handles == 0 && !c->owns_loop)
			free(c);
		return;
	}
	if (status != 0 || res == NULL) {
		seterr(c, "cannot resolve %s: %s", c->peer,
		       status ? uv_strerror(status) : "no address");
		if (res)
			uv_freeaddrinfo(res);
		c->state = ST_IDLE;
		schedule_reconnect(c);
		return;
	}
	struct sockaddr_storage ss;
	memcpy(&ss, res->ai_addr, res->ai_addrlen);
	uv_freeaddrinfo(res);
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port =
		    htons((uint16_t)c->port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port =
		    htons((uint16_t)c->port);
	connect_to(c, (struct sockaddr *)&ss);
}

/* Connect to the leader hint, or the next bootstrap node. Addresses are
 * numeric or names; names are looked up in libuv's thread pool
 * (uv_getaddrinfo), never on the loop. */
static void start_connect(struct synod_client *c)
{
	struct sockaddr_storage ss;
	struct addrinfo hints;
	char host[128];
	if (c->leader_hint[0] && !c->cfg.pinned) {
		snprintf(c->peer, sizeof c->peer, "%s", c->leader_hint);
		c->leader_hint[0] = '\0';
	} else {
		unsigned i = c->cfg.pinned ? 0 : c->addr_next++ % c->n_addrs;
		snprintf(c->peer, sizeof c->peer, "%s", c->addrs[i]);
	}
	c->connect_deadline = now_ms(c) + c->cfg.connect_timeout_ms;
	if (net_split_hostport(c->peer, host, sizeof host, &c->port) != 0) {
		seterr(c, "cannot parse address %s", c->peer);
		schedule_reconnect(c);
		return;
	}
	if (uv_ip4_addr(host, c->port, (struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(host, c->port, (struct sockaddr_in6 *)&ss) == 0) {
		connect_to(c, (struct sockaddr *)&ss);
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	c->gai.data = c;
	if (uv_getaddrinfo(c->loop, &c->gai, on_resolved, host, NULL, &hints) !=
	    0) {
		seterr(c, "cannot resolve %s", c->peer);
		schedule_reconnect(c);
		return;
	}
	c->open_handles++;
	c->state = ST_RESOLVING;
}

static void on_tick(uv_timer_t *t)
{
	struct synod_client *c = t->data;
	uint64_t now = now_ms(c);
	struct preq *p = c->head, *next;
	while (p && !c->closing) {
		next = p->next;
		if (now >= p->deadline) {
			if (p->ever_sent) {
				seterr(c,
				       "request timed out (last node tried: "
				       "%s)%s%s",
				       c->peer, c->tls_err[0] ? "; " : "",
				       c->tls_err);
				complete(c, p, SYNOD_ETIMEOUT, NULL, 0);
			} else {
				if (c->errmsg[0] == '\0')
					seterr(c, "could not reach any node");
				else if (c->tls_err[0] &&
					 strstr(c->errmsg, c->tls_err) == NULL)
					seterr(c,
					       "could not reach any node; %s",
					       c->tls_err);
				complete(c, p, SYNOD_ECONNECTION, NULL, 0);
			}
			/* The callback may have sent or completed others:
			 * start over (expired ones are gone). */
			next = c->head;
		}
		p = next;
	}
	if (c->closing)
		return;
	if (c->cc && c->state != ST_READY && now >= c->connect_deadline) {
		seterr(c, "connect %s: timed out", c->peer);
		give_up_conn(c);
	}
	if (c->state == ST_RESOLVING && now >= c->connect_deadline) {
		/* on_resolved ends it (UV_EAI_CANCELED, or the late
		 * answer if the lookup was running already). */
		seterr(c, "resolve %s: timed out", c->peer);
		uv_cancel((uv_req_t *)&c->gai);
		c->connect_deadline = UINT64_MAX;
	}
	/* Liveness: a node that stops answering (SIGSTOP, a partition)
	 * keeps its TCP connection open. With requests outstanding and no
	 * frame for liveness_timeout_ms, probe it; if the probe is not
	 * answered in time either, move on to another node. */
	if (c->cc && c->state == ST_READY) {
		/* Only a request that waited liveness_timeout_ms with nothing
		 * received since it was sent makes the node suspect: one
		 * still outstanding, or the first sent since the last byte
		 * received, even if it timed out meanwhile. Bytes count, not
		 * frames: a large answer arriving slowly is progress, and
		 * the probe's answer queues behind it. */
		int waiting = 0;
		if (c->cc->conn.bytes_in != c->last_bytes_in) {
			c->last_bytes_in = c->cc->conn.bytes_in;
			c->last_rx_ms = now;
			c->unanswered = 0;
		}
		waiting = c->unanswered &&
			  now - c->unanswered_ms >= c->cfg.liveness_timeout_ms;
		for (p = c->head; p && !waiting; p = p->next)
			waiting = p->sent && now - p->sent_ms >=
						 c->cfg.liveness_timeout_ms;
		if (c->ping_corr != 0 &&
		    now - c->ping_sent_ms >= c->cfg.liveness_timeout_ms &&
		    now - c->last_rx_ms >= c->cfg.liveness_timeout_ms) {
			seterr(c, "node %s is not answering", c->peer);
			c->leader_hint[0] = '\0';
			c->stats.liveness_drops++;
			give_up_conn(c);
		} else if (waiting && c->ping_corr == 0 &&
			   now - c->last_rx_ms >= c->cfg.liveness_timeout_ms) {
			Synod__Wire__NodeStatusRequest m =
			    SYNOD__WIRE__NODE_STATUS_REQUEST__INIT;
			struct frame_header h = {.kind = FRAME_REQUEST,
						 .api = SYNOD_API_NODE_STATUS,
						 .api_version = 1,
						 .correlation_id =
						     next_corr(c)};
			if (conn_send(&c->cc->conn, &h, &m.base) == 0) {
				c->ping_corr = h.correlation_id;
				c->ping_sent_ms = now;
			}
		}
	}
	/* A draining connection whose last awaited answer timed out has
	 * nothing left to wait for: move on, or every later request would
	 * wait behind it (reliability.md 5.25). */
	maybe_drained(c);
	if (c->head == NULL)
		uv_timer_stop(&c->tick);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct synod_client *c = h->data;
	c->open_handles--;
	if (c->closing && c->open_handles == 0 && !c->owns_loop)
		free(c);
}

int synod_client_new(uv_loop_t *loop, const struct synod_client_config *cfg,
		     struct synod_client **out)
{
	struct synod_client *c;
	char *copy, *tok, *save;
	int rv;
	if (cfg == NULL || cfg->bootstrap == NULL || cfg->bootstrap[0] == '\0')
		return SYNOD_EINVALID_ARGUMENT;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return SYNOD_ENOMEM;
	c->cfg = *cfg;
	if (c->cfg.request_timeout_ms == 0)
		c->cfg.request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
	if (c->cfg.connect_timeout_ms == 0)
		c->cfg.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
	if (c->cfg.backoff_max_ms == 0)
		c->cfg.backoff_max_ms = 1000;
	if (c->cfg.liveness_timeout_ms == 0)
		c->cfg.liveness_timeout_ms = 1000;
	if (c->cfg.max_frame == 0)
		c->cfg.max_frame = SYNOD_DEFAULT_MAX_FRAME;
	if (c->cfg.max_redirects == 0)
		c->cfg.max_redirects = DEFAULT_MAX_REDIRECTS;
	c->backoff_ms = 50;
	c->has_client_id = getrandom(c->client_id, sizeof c->client_id, 0) ==
			   (ssize_t)sizeof c->client_id;
	c->rng = (uint64_t)(uintptr_t)c ^ uv_hrtime() ^ 0x9E3779B97F4A7C15ull;
	if (c->rng == 0)
		c->rng = 1;
	copy = strdup(cfg->bootstrap);
	if (copy == NULL)
		goto nomem;
	for (tok = strtok_r(copy, ", ", &save); tok && c->n_addrs < MAX_ADDRS;
	     tok = strtok_r(NULL, ", ", &save)) {
		c->addrs[c->n_addrs] = strdup(tok);
		if (c->addrs[c->n_addrs] == NULL) {
			free(copy);
			goto nomem;
		}
		c->n_addrs++;
	}
	free(copy);
	if (c->n_addrs == 0) {
		free(c);
		return SYNOD_EINVALID_ARGUMENT;
	}
	if (cfg->cluster_id && cfg->cluster_id[0]) {
		c->cluster_id = strdup(cfg->cluster_id);
		if (c->cluster_id == NULL)
			goto nomem;
	}
	if (cfg->tls_ca_file && cfg->tls_ca_file[0]) {
		struct tls_config tc = {0};
		char err[400];
		tc.ca_file = cfg->tls_ca_file;
		tc.cert_file = cfg->tls_cert_file && cfg->tls_cert_file[0]
				   ? cfg->tls_cert_file
				   : NULL;
		tc.key_file = cfg->tls_key_file && cfg->tls_key_file[0]
				  ? cfg->tls_key_file
				  : NULL;
		tc.allow_tls12 = cfg->tls_allow_tls12;
		if (tls_ctx_new(&tc, &c->tls, err, sizeof err) != 0) {
			if (cfg->errmsg && cfg->errmsg_size)
				snprintf(cfg->errmsg, cfg->errmsg_size, "%s",
					 err);
			rv = SYNOD_EINVALID_ARGUMENT;
			goto fail;
		}
	} else if ((cfg->tls_cert_file && cfg->tls_cert_file[0]) ||
		   (cfg->tls_key_file && cfg->tls_key_file[0])) {
		if (cfg->errmsg && cfg->errmsg_size)
			snprintf(cfg->errmsg, cfg->errmsg_size,
				 "a TLS certificate or key without a CA "
				 "bundle (tls_ca_file)");
		rv = SYNOD_EINVALID_ARGUMENT;
		goto fail;
	}
	c->cfg.errmsg = NULL;
	c->cfg.errmsg_size = 0;
	c->cfg.tls_ca_file = c->cfg.tls_cert_file = c->cfg.tls_key_file = NULL;
	if (loop == NULL) {
		uv_loop_init(&c->own_loop);
		c->loop = &c->own_loop;
		c->owns_loop = 1;
	} else {
		c->loop = loop;
	}
	conn_flusher_init(&c->flusher, c->loop);
	uv_timer_init(c->loop, &c->tick);
	uv_timer_init(c->loop, &c->retry);
	c->tick.data = c->retry.data = c;
	c->flusher.check.data = c->flusher.idle.data = &c->flusher;
	c->open_handles = 4; /* tick, retry, flusher check + idle */
	/* Start the round-robin at a per-client offset so many clients
	 * spread their first connections. */
	c->addr_next = (unsigned)((uintptr_t)c >> 4) % c->n_addrs;
	*out = c;
	return SYNOD_OK;
nomem:
	rv = SYNOD_ENOMEM;
fail:
	for (unsigned i = 0; i < c->n_addrs; i++)
		free(c->addrs[i]);
	free(c->cluster_id);
	tls_ctx_free(c->tls);
	free(c);
	return rv;
}

int synod_client_send(struct synod_client *c, uint16_t api,
		      const ProtobufCMessage *req, int to_leader,
		      synod_response_cb cb, void *arg)
{
	struct preq *p;
	if (c->closing)
		return SYNOD_ESHUTTING_DOWN;
	p = calloc(1, sizeof *p);
	if (p == NULL)
		return SYNOD_ENOMEM;
	p->len = req ? protobuf_c_message_get_packed_size(req) : 0;
	if (p->len + FRAME_HEADER_SIZE > c->cfg.max_frame) {
		free(p);
		return SYNOD_EMESSAGE_TOO_LARGE;
	}
	p->body = malloc(p->len ? p->len : 1);
	if (p->body == NULL) {
		free(p);
		return SYNOD_ENOMEM;
	}
	if (req)
		protobuf_c_message_pack(req, p->body);
	p->api = api;
	p->to_leader = to_leader;
	p->cb = cb;
	p->arg = arg;
	p->corr = next_corr(c);
	p->deadline = now_ms(c) + c->cfg.request_timeout_ms;
	list_append(c, p);
	if (!uv_is_active((uv_handle_t *)&c->tick))
		uv_timer_start(&c->tick, on_tick, TICK_MS, TICK_MS);
	if (can_send(c))
		send_one(c, p);
	else if (c->state == ST_IDLE && !uv_is_active((uv_handle_t *)&c->retry))
		start_connect(c);
	return SYNOD_OK;
}

static void finish_own(struct synod_client *c);

struct sync_call {
	int done;
	int status;
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *resp;
};

static void on_sync(void *arg, int status, const uint8_t *body, size_t len)
{
	struct sync_call *s = arg;
	s->done = 1;
	s->status = status;
	if (status == SYNOD_OK) {
		s->resp = protobuf_c_message_unpack(s->desc, NULL, len, body);
		if (s->resp == NULL)
			s->status = SYNOD_EINVALID_REQUEST;
	}
}

int synod_client_call(struct synod_client *c, uint16_t api,
		      const ProtobufCMessage *req, int to_leader,
		      const ProtobufCMessageDescriptor *resp_desc,
		      ProtobufCMessage **resp)
{
	struct sync_call s = {0, 0, resp_desc, NULL};
	int rv;
	if (!c->owns_loop)
		return SYNOD_EINVALID_ARGUMENT;
	if (c->depth > 0 || c->running)
		return SYNOD_EBUSY; /* the loop is running already */
	rv = synod_client_send(c, api, req, to_leader, on_sync, &s);
	if (rv != SYNOD_OK)
		return rv;
	c->running = 1;
	while (!s.done)
		uv_run(c->loop, UV_RUN_ONCE);
	c->running = 0;
	*resp = s.resp;
	if (c->closing)
		finish_own(c); /* closed from a callback meanwhile */
	return s.status;
}

/* Own loop, from outside any callback: let every handle close, then
 * free. */
static void finish_own(struct synod_client *c)
{
	while (c->open_handles > 0)
		uv_run(c->loop, UV_RUN_ONCE);
	uv_loop_close(c->loop);
	free(c);
}

void synod_client_close(struct synod_client *c)
{
	if (c->closing) {
		/* Own loop closed from a callback: finish now that the
		 * caller's uv_run returned. */
		if (c->owns_loop && c->depth == 0 && !c->running)
			finish_own(c);
		return;
	}
	c->closing = 1;
	if (c->state == ST_RESOLVING)
		uv_cancel((uv_req_t *)&c->gai);
	fail_all(c, SYNOD_ECANCELED);
	drop_conn(c);
	uv_close((uv_handle_t *)&c->tick, on_handle_closed);
	uv_close((uv_handle_t *)&c->retry, on_handle_closed);
	c->flusher.check.data = c->flusher.idle.data = c;
	uv_close((uv_handle_t *)&c->flusher.check, on_handle_closed);
	uv_close((uv_handle_t *)&c->flusher.idle, on_handle_closed);
	free(c->flusher.tls_rbuf); /* no read after the close above */
	c->flusher.tls_rbuf = NULL;
	for (unsigned i = 0; i < c->n_addrs; i++)
		free(c->addrs[i]);
	free(c->cluster_id);
	c->cluster_id = NULL;
	c->n_addrs = 0;
	tls_ctx_free(c->tls); /* connections hold references of their own */
	c->tls = NULL;
	/* From a callback (or inside synod_client_call) the loop is running
	 * under us: synod_client_call's return or a later close finishes. */
	if (c->owns_loop && c->depth == 0 && !c->running)
		finish_own(c);
}
