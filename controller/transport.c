/* controller/transport.c - TCP_NODELAY + composite addresses over
 * raft_uv_tcp. */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "log.h"
#include "tls.h"
#include "tlsrelay.h"

struct wrap_connect {
	struct raft_uv_connect inner;
	struct raft_uv_connect *outer;
	struct synod_transport *t;
	raft_id id;
	char address[256];
};

/* A TLS handshake in flight on a raft connection. */
struct synod_relay {
	struct synod_relay *next, *prev;
	struct synod_transport *t;
	struct tls_relay *relay;
	raft_id id;
	char address[256];
	struct raft_uv_connect *outer; /* NULL: an accepted connection */
};

static void node_cn(raft_id id, char *buf, size_t size)
{
	snprintf(buf, size, "synod-node-%llu", (unsigned long long)id);
}

static void relay_unlink(struct synod_relay *p)
{
	struct synod_transport *t = p->t;
	if (p->prev)
		p->prev->next = p->next;
	else
		t->relays = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void close_free(uv_handle_t *h)
{
	raft_free(h);
}

static void relay_done(void *arg, uv_stream_t *plain, int status,
		       const char *err, const char *principal)
{
	struct synod_relay *p = arg;
	struct synod_transport *t = p->t;
	(void)principal; /* the relay checked the node's CN */
	relay_unlink(p);
	if (status != 0) {
		/* A peer with a bad certificate retries every
		 * connect_retry_ms: one line a second at most. */
		uint64_t now = uv_now(t->loop);
		t->tls_refused++;
		if (t->log_ms == 0 || now - t->log_ms >= 1000) {
			if (t->log_skipped)
				log_warn("raft: %llu more connections refused "
					 "by TLS",
					 (unsigned long long)t->log_skipped);
			log_warn("raft: %s node %llu (%s): %s",
				 p->outer ? "connection to"
					  : "connection claiming to be",
				 (unsigned long long)p->id, p->address, err);
			t->log_ms = now;
			t->log_skipped = 0;
		} else {
			t->log_skipped++;
		}
	}
	if (p->outer)
		p->outer->cb(p->outer, status == 0 ? plain : NULL,
			     status == 0 ? 0 : RAFT_NOCONNECTION);
	else if (status == 0)
		t->accept_cb(&t->outer, p->id, p->address, plain);
	free(p);
}

/* Hand stream to a TLS relay; its end becomes raft's stream. 0, or -1
 * (the stream is closed and freed; nothing is called back). */
static int relay_begin(struct synod_transport *t, int server, raft_id id,
		       const char *address, uv_stream_t *stream,
		       struct raft_uv_connect *outer)
{
	struct synod_relay *p = calloc(1, sizeof *p);
	char cn[64];
	node_cn(id, cn, sizeof cn);
	if (p == NULL)
		goto fail;
	p->t = t;
	p->id = id;
	p->outer = outer;
	snprintf(p->address, sizeof p->address, "%s", address ? address : "");
	if (tls_relay_start(t->loop, server ? t->tls_server : t->tls_client,
			    server, stream, cn, t->tls_timeout_ms, relay_done,
			    p, &p->relay) != 0)
		goto fail;
	p->next = t->relays;
	if (t->relays)
		t->relays->prev = p;
	t->relays = p;
	return 0;
fail:
	free(p);
	uv_close((uv_handle_t *)stream, close_free);
	return -1;
}

int synod_transport_tls(struct synod_transport *t, const char *ca_file,
			const char *cert_file, const char *key_file,
			int allow_tls12, unsigned timeout_ms, char *err,
			size_t size)
{
	struct tls_config c = {0};
	struct tls_ctx *srv, *cli;
	c.ca_file = ca_file;
	c.cert_file = cert_file;
	c.key_file = key_file;
	c.allow_tls12 = allow_tls12;
	c.server = 1;
	c.require_peer_cert = 1;
	if (tls_ctx_new(&c, &srv, err, size) != 0)
		return -1;
	c.server = 0;
	if (tls_ctx_new(&c, &cli, err, size) != 0) {
		tls_ctx_free(srv);
		return -1;
	}
	/* A reload: connections and handshakes in flight keep the old
	 * contexts (each SSL holds a reference). */
	tls_ctx_free(t->tls_server);
	tls_ctx_free(t->tls_client);
	t->tls_server = srv;
	t->tls_client = cli;
	t->tls_timeout_ms = timeout_ms;
	return 0;
}

int synod_addr_split(const char *composite, char *raft, size_t raft_size,
		     char *client, size_t client_size)
{
	const char *slash = strchr(composite, '/');
	size_t n;
	if (slash == NULL || slash == composite || slash[1] == '\0')
		return -1;
	n = (size_t)(slash - composite);
	if (raft) {
		if (n >= raft_size)
			return -1;
		memcpy(raft, composite, n);
		raft[n] = '\0';
	}
	if (client) {
		if (strlen(slash + 1) >= client_size)
			return -1;
		strcpy(client, slash + 1);
	}
	return 0;
}

static void nodelay(struct uv_stream_s *s)
{
	if (s != NULL && s->type == UV_TCP)
		uv_tcp_nodelay((uv_tcp_t *)s, 1);
}

static int w_init(struct raft_uv_transport *o, raft_id id, const char *address)
{
	struct synod_transport *t = (struct synod_transport *)o;
	char raft[256];
	int rv;
	if (synod_addr_split(address, raft, sizeof raft, NULL, 0) != 0) {
		snprintf(o->errmsg, sizeof o->errmsg,
			 "address %s is not RAFT_HOST:PORT/CLIENT_HOST:PORT",
			 address);
		return RAFT_INVALID;
	}
	rv = t->inner.init(&t->inner, id, address);
	if (rv == 0)
		rv = raft_uv_tcp_set_bind_address(&t->inner, raft);
	if (rv != 0)
		memcpy(o->errmsg, t->inner.errmsg, sizeof o->errmsg);
	return rv;
}

/* raft_uv_tcp 0.22 can call back after it reported itself closed, and
 * raft_uv (which that report let finish closing) is gone by then
 * (reliability.md 5.16): such a callback is said and ignored. 1 if t is
 * closed. */
static int late(struct synod_transport *t, const char *what)
{
	if (!t->closed)
		return 0;
	t->late_callbacks++;
	log_warn("raft: libraft's transport called back after it closed (%s; "
		 "reliability.md 5.16): ignored",
		 what);
	return 1;
}

static void w_accept(struct raft_uv_transport *i, raft_id id,
		     const char *address, struct uv_stream_s *stream)
{
	struct synod_transport *t = i->data;
	if (late(t, "a connection accepted")) {
		uv_close((uv_handle_t *)stream, close_free);
		return;
	}
	nodelay(stream);
	if (t->tls_server) {
		(void)relay_begin(t, 1, id, address, stream, NULL);
		return;
	}
	t->accept_cb(&t->outer, id, address, stream);
}

static int w_listen(struct raft_uv_transport *o, raft_uv_accept_cb cb)
{
	struct synod_transport *t = (struct synod_transport *)o;
	int rv;
	t->accept_cb = cb;
	rv = t->inner.listen(&t->inner, w_accept);
	if (rv != 0)
		memcpy(o->errmsg, t->inner.errmsg, sizeof o->errmsg);
	return rv;
}

static void w_connect_cb(struct raft_uv_connect *req, struct uv_stream_s *s,
			 int status)
{
	struct wrap_connect *w = req->data;
	struct raft_uv_connect *outer = w->outer;
	struct synod_transport *t = w->t;
	raft_id id = w->id;
	char address[256];
	memcpy(address, w->address, sizeof address);
	free(w);
	if (late(t, "a connection attempt ended")) {
		/* raft_uv's client for it is not closing (made after its
		 * close) and would arm a retry timer; it is left, with that
		 * timer's handle: a leak at exit (uv_loop_close then says
		 * UV_EBUSY). raftio refuses the sends that make such
		 * clients. */
		if (status == 0)
			uv_close((uv_handle_t *)s, close_free);
		return;
	}
	if (status == 0)
		nodelay(s);
	if (status == 0 && t->tls_client) {
		if (relay_begin(t, 0, id, address, s, outer) != 0)
			outer->cb(outer, NULL, RAFT_NOCONNECTION);
		return;
	}
	outer->cb(outer, s, status);
}

static int w_connect(struct raft_uv_transport *o, struct raft_uv_connect *req,
		     raft_id id, const char *address, raft_uv_connect_cb cb)
{
	struct synod_transport *t = (struct synod_transport *)o;
	char raft[256];
	struct wrap_connect *w;
	int rv;
	if (synod_addr_split(address, raft, sizeof raft, NULL, 0) != 0)
		snprintf(raft, sizeof raft, "%s", address);
	if (t->closing) {
		/* Not refused: raft_uv would retry on a timer that keeps
		 * the loop running. raftio refuses the sends that led here
		 * (reliability.md 5.16). */
		t->connects_closing++;
		log_warn("raft: libraft connects to node %llu while its "
			 "transport closes (reliability.md 5.16)",
			 (unsigned long long)id);
	}
	w = malloc(sizeof *w);
	if (w == NULL)
		return RAFT_NOMEM;
	req->cb = cb;
	w->outer = req;
	w->t = t;
	snprintf(w->address, sizeof w->address, "%s", raft);
	w->id = id;
	w->inner.data = w;
	rv = t->inner.connect(&t->inner, &w->inner, id, raft, w_connect_cb);
	if (rv != 0) {
		memcpy(o->errmsg, t->inner.errmsg, sizeof o->errmsg);
		free(w);
	}
	return rv;
}

/* raft_uv_tcp calls this whenever a closing connection of its ends and
 * nothing else is left open, so possibly again (reliability.md 5.16):
 * raft_uv hears it once. */
static void w_close_cb(struct raft_uv_transport *i)
{
	struct synod_transport *t = i->data;
	raft_uv_transport_close_cb cb = t->close_cb;
	if (late(t, "closed again"))
		return;
	t->closed = 1;
	t->close_cb = NULL;
	if (cb)
		cb(&t->outer);
}

static void w_close(struct raft_uv_transport *o, raft_uv_transport_close_cb cb)
{
	struct synod_transport *t = (struct synod_transport *)o;
	t->close_cb = cb;
	t->closing = 1;
	/* Handshakes in flight end now: a connect fails (raft_uv is
	 * closing), an accepted connection is dropped. */
	while (t->relays)
		tls_relay_cancel(t->relays->relay);
	t->inner.close(&t->inner, w_close_cb);
}

int synod_transport_init(struct synod_transport *t, struct uv_loop_s *loop)
{
	int rv;
	memset(t, 0, sizeof *t);
	t->loop = loop;
	t->inner.version = 1;
	rv = raft_uv_tcp_init(&t->inner, loop);
	if (rv != 0)
		return rv;
	t->inner.data = t;
	t->outer.version = 1;
	/* raft_uv owns outer.data; we find t from &t->outer (first member). */
	t->outer.init = w_init;
	t->outer.listen = w_listen;
	t->outer.connect = w_connect;
	t->outer.close = w_close;
	return 0;
}

void synod_transport_close(struct synod_transport *t)
{
	if (t->freed)
		return;
	t->freed = 1;
	raft_uv_tcp_close(&t->inner);
	tls_ctx_free(t->tls_server);
	tls_ctx_free(t->tls_client);
	t->tls_server = t->tls_client = NULL;
}
