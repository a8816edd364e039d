/* controller/transport.c - TCP_NODELAY + composite addresses over
 * raft_uv_tcp. */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct wrap_connect {
	struct raft_uv_connect inner;
	struct raft_uv_connect *outer;
};

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

static void w_accept(struct raft_uv_transport *i, raft_id id,
		     const char *address, struct uv_stream_s *stream)
{
	struct synod_transport *t = i->data;
	nodelay(stream);
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
	free(w);
	if (status == 0)
		nodelay(s);
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
	w = malloc(sizeof *w);
	if (w == NULL)
		return RAFT_NOMEM;
	req->cb = cb;
	w->outer = req;
	w->inner.data = w;
	rv = t->inner.connect(&t->inner, &w->inner, id, raft, w_connect_cb);
	if (rv != 0) {
		memcpy(o->errmsg, t->inner.errmsg, sizeof o->errmsg);
		free(w);
	}
	return rv;
}

static void w_close_cb(struct raft_uv_transport *i)
{
	struct synod_transport *t = i->data;
	if (t->close_cb)
		t->close_cb(&t->outer);
}

static void w_close(struct raft_uv_transport *o, raft_uv_transport_close_cb cb)
{
	struct synod_transport *t = (struct synod_transport *)o;
	t->close_cb = cb;
	t->inner.close(&t->inner, w_close_cb);
}

int synod_transport_init(struct synod_transport *t, struct uv_loop_s *loop)
{
	int rv;
	memset(t, 0, sizeof *t);
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
	raft_uv_tcp_close(&t->inner);
}
