/* net/conn.c - framed libuv TCP connection with batched writes. */
#include "conn.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"

#define READ_MIN CONN_READ_MIN
#define READ_KEEP (256 * 1024)

/* Ciphertext read buffer of a TLS connection: one full record. */
#define TLS_CBUF (16 * 1024 + 512)

struct conn_tls {
	SSL *ssl;
	int principal_san; /* the principal rule (tls.h) */
	BIO *rbio, *wbio;  /* network side: bytes read / bytes to write */
	int ready;	   /* handshake completed */
	int need_pump;	   /* plaintext may wait in ssl (resumed reading) */
	char principal[128];
	char err[256];
};

static void tls_pump(struct conn *c);

struct wreq {
	uv_write_t req;
	struct conn *c;
	size_t len;
	uint8_t data[];
};

static void dirty_remove(struct conn *c)
{
	struct conn_flusher *f = c->flusher;
	if (!c->dirty)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		f->dirty = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	c->dirty = 0;
}

static void flusher_run(struct conn_flusher *f)
{
	while (f->dirty) {
		struct conn *c = f->dirty;
		dirty_remove(c);
		if (c->tls && c->tls->need_pump && !c->closing) {
			c->tls->need_pump = 0;
			tls_pump(c);
			if (c->closing)
				continue;
		}
		conn_flush(c);
	}
	if (f->active) {
		uv_idle_stop(&f->idle);
		uv_check_stop(&f->check);
		f->active = 0;
	}
}

static void on_check(uv_check_t *h)
{
	flusher_run(h->data);
}

static void on_idle(uv_idle_t *h)
{
	flusher_run(h->data);
}

int conn_flusher_init(struct conn_flusher *f, uv_loop_t *loop)
{
	memset(f, 0, sizeof *f);
	uv_check_init(loop, &f->check);
	uv_idle_init(loop, &f->idle);
	f->check.data = f;
	f->idle.data = f;
	return 0;
}

void conn_flusher_close(struct conn_flusher *f)
{
	uv_close((uv_handle_t *)&f->check, NULL);
	uv_close((uv_handle_t *)&f->idle, NULL);
	free(f->tls_rbuf);
	f->tls_rbuf = NULL;
}

static void mark_dirty(struct conn *c)
{
	struct conn_flusher *f = c->flusher;
	if (c->dirty)
		return;
	c->dirty = 1;
	c->prev = NULL;
	c->next = f->dirty;
	if (f->dirty)
		f->dirty->prev = c;
	f->dirty = c;
	if (!f->active) {
		/* The check flushes what poll-phase callbacks queued; the
		 * idle keeps poll from blocking when timers queued it. */
		uv_check_start(&f->check, on_check);
		uv_idle_start(&f->idle, on_idle);
		f->active = 1;
	}
}

int conn_init(struct conn *c, uv_loop_t *loop, struct conn_flusher *f,
	      size_t max_frame, const struct conn_ops *ops, void *data)
{
	memset(c, 0, sizeof *c);
	c->data = data;
	c->ops = ops;
	c->flusher = f;
	c->max_frame = max_frame;
	c->tcp.data = c;
	return uv_tcp_init(loop, &c->tcp);
}

static int rbuf_resize(struct conn *c, size_t cap)
{
	return c->ops->rbuf_resize ? c->ops->rbuf_resize(c, cap) : 0;
}

/* Room in the read buffer for plaintext: *base and *len, 0; -1 when the
 * owner refused to grow it (c->rbuf_refused set) or memory ran out. */
static int rbuf_room(struct conn *c, uint8_t **base, size_t *len)
{
	/* Start small (thousands of mostly idle broker connections) and
	 * double while reads fill the buffer. */
	if (c->rcap - c->rlen < READ_MIN / 2) {
		size_t cap = c->rcap ? c->rcap * 2 : READ_MIN;
		while (cap - c->rlen < READ_MIN / 2)
			cap *= 2;
		/* The buffer starts with the frame being received (on_read
		 * moves it there): once its length is known, grow no further
		 * than it needs, with room for the next header. */
		if (c->rlen >= FRAME_LEN_SIZE) {
			const uint8_t *b = c->rbuf;
			size_t need =
			    FRAME_LEN_SIZE + (((size_t)b[0] << 24) |
					      ((size_t)b[1] << 16) |
					      ((size_t)b[2] << 8) | b[3]);
			if (need < c->rlen + READ_MIN / 2)
				need = c->rlen + READ_MIN / 2;
			if (need < cap)
				cap = need;
		}
		if (rbuf_resize(c, cap) != 0) {
			c->rbuf_refused = 1;
			return -1;
		}
		uint8_t *p = realloc(c->rbuf, cap);
		if (p == NULL) {
			rbuf_resize(c, c->rcap);
			return -1;
		}
		c->rbuf = p;
		c->rcap = cap;
	}
	*base = c->rbuf + c->rlen;
	*len = c->rcap - c->rlen;
	return 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	uint8_t *base;
	size_t len;
	(void)hint;
	if (c->tls) {
		/* Ciphertext: handed to OpenSSL whole in on_read. */
		struct conn_flusher *f = c->flusher;
		if (f->tls_rbuf == NULL)
			f->tls_rbuf = malloc(TLS_CBUF);
		buf->base = (char *)f->tls_rbuf;
		buf->len = f->tls_rbuf ? TLS_CBUF : 0;
		return;
	}
	if (rbuf_room(c, &base, &len) != 0) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = (char *)base;
	buf->len = len;
}

static void rbuf_free(struct conn *c)
{
	if (c->rbuf == NULL)
		return;
	rbuf_resize(c, 0);
	free(c->rbuf);
	c->rbuf = NULL;
	c->rcap = 0;
}

/* Split and deliver the frames in the read buffer (c->rlen bytes). */
static void deliver(struct conn *c)
{
	size_t off = 0;
	while (!c->closing) {
		struct frame_header h;
		const uint8_t *body;
		size_t blen, used;
		memset(&h, 0, sizeof h);
		int rv = frame_decode(c->rbuf + off, c->rlen - off,
				      c->max_frame, &h, &body, &blen, &used);
		if (rv == FRAME_EAGAIN)
			break;
		if (rv != FRAME_OK) {
			if (c->ops->bad_frame)
				c->ops->bad_frame(c, rv, &h);
			conn_flush(c);
			conn_close(c);
			return;
		}
		c->frames_in++;
		h.recv_us = uv_hrtime() / 1000;
		c->ops->frame(c, &h, body, blen);
		off += used;
	}
	if (c->closing)
		return;
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	/* Give memory back after a large frame. */
	if (c->rlen == 0 && c->rcap > READ_KEEP)
		rbuf_free(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (n == UV_ENOBUFS && c->rbuf_refused) {
		/* The owner refused to grow the buffer: wait for its
		 * conn_resume(); the peer's bytes wait in the socket. */
		c->rbuf_refused = 0;
		conn_pause(c);
		return;
	}
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->bytes_in += (uint64_t)n;
	if (c->tls) {
		if (n > 0 &&
		    BIO_write(c->tls->rbio, buf->base, (int)n) != (int)n) {
			snprintf(c->tls->err, sizeof c->tls->err,
				 "TLS: out of memory");
			conn_close(c);
			return;
		}
		tls_pump(c);
		return;
	}
	c->rlen += (size_t)n;
	deliver(c);
}

void conn_trim(struct conn *c)
{
	if (c->rlen == 0 && c->rcap > READ_MIN)
		rbuf_free(c);
}

int conn_start(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	char host[48] = "?";
	int port = 0;
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			uv_ip4_name(in, host, sizeof host);
			port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(in6, host, sizeof host);
			port = ntohs(in6->sin6_port);
		}
	}
	snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
	c->reading = 1;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		return -1;
	if (c->tls && !SSL_is_server(c->tls->ssl))
		tls_pump(c); /* the ClientHello */
	return 0;
}

static int reserve(struct conn *c, size_t n)
{
	if (c->wcap - c->wlen >= n)
		return 0;
	size_t cap = c->wcap ? c->wcap : 4096;
	while (cap - c->wlen < n)
		cap *= 2;
	uint8_t *p = realloc(c->wbuf, cap);
	if (p == NULL)
		return UV_ENOMEM;
	c->wbuf = p;
	c->wcap = cap;
	return 0;
}

int conn_send(struct conn *c, const struct frame_header *h,
	      const ProtobufCMessage *body)
{
	size_t blen = body ? protobuf_c_message_get_packed_size(body) : 0;
	size_t pre = frame_prefix_size(h);
	if (c->closing)
		return UV_EPIPE;
	if (reserve(c, pre + blen) != 0)
		return UV_ENOMEM;
	frame_put_prefix(c->wbuf + c->wlen, h, blen);
	if (body)
		protobuf_c_message_pack(body, c->wbuf + c->wlen + pre);
	c->wlen += pre + blen;
	c->frames_out++;
	mark_dirty(c);
	return 0;
}

int conn_send_raw(struct conn *c, const struct frame_header *h,
		  const uint8_t *body, size_t len)
{
	size_t pre = frame_prefix_size(h);
	if (c->closing)
		return UV_EPIPE;
	if (reserve(c, pre + len) != 0)
		return UV_ENOMEM;
	frame_put_prefix(c->wbuf + c->wlen, h, len);
	if (len)
		memcpy(c->wbuf + c->wlen + pre, body, len);
	c->wlen += pre + len;
	c->frames_out++;
	mark_dirty(c);
	return 0;
}

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	w->c->inflight_bytes -= w->len;
	if (status < 0 && status != UV_ECANCELED)
		conn_close(w->c);
	free(w);
}

/* Write len bytes at p after what is queued (copied when they cannot be
 * written at once). */
static void send_bytes(struct conn *c, const uint8_t *p, size_t len)
{
	uv_buf_t b;
	int n;
	/* Keep order: only try a direct write when nothing is in flight. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0 &&
	    c->inflight_bytes == 0) {
		b = uv_buf_init((char *)p, (unsigned)len);
		n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (n == (int)len)
			return;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n != UV_EAGAIN && n != UV_ENOSYS) {
			conn_close(c);
			return;
		}
	}
	struct wreq *w = malloc(sizeof *w + len);
	if (w == NULL) {
		conn_close(c);
		return;
	}
	w->c = c;
	w->len = len;
	memcpy(w->data, p, len);
	b = uv_buf_init((char *)w->data, (unsigned)w->len);
	c->inflight_bytes += w->len;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		c->inflight_bytes -= w->len;
		free(w);
		conn_close(c);
	}
}

/* Send what OpenSSL wrote into the network-side BIO. */
static void tls_send_out(struct conn *c)
{
	char *p;
	long n;
	if (c->closing)
		return;
	n = BIO_get_mem_data(c->tls->wbio, &p);
	if (n <= 0)
		return;
	send_bytes(c, (const uint8_t *)p, (size_t)n);
	(void)BIO_reset(c->tls->wbio);
}

/* The connection fails: say why (never key material), send the alert
 * OpenSSL queued, close. */
static void tls_fail(struct conn *c, const char *what)
{
	struct conn_tls *t = c->tls;
	char why[160];
	tls_failure_reason(t->ssl, why, sizeof why);
	if (t->err[0] == '\0')
		snprintf(t->err, sizeof t->err, "TLS %s with %s failed: %s",
			 what, c->peer, why);
	tls_send_out(c);
	conn_close(c);
}

/* Move bytes through OpenSSL: the handshake, then plaintext into the
 * read buffer and its frames to the owner; what OpenSSL wants to send
 * (handshake flights, alerts) goes out. */
static void tls_pump(struct conn *c)
{
	struct conn_tls *t = c->tls;
	if (!t->ready) {
		int r = SSL_do_handshake(t->ssl);
		if (r != 1) {
			int e = SSL_get_error(t->ssl, r);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE) {
				tls_send_out(c);
				return;
			}
			tls_fail(c, "handshake");
			return;
		}
		t->ready = 1;
		{
			X509 *x = SSL_get1_peer_certificate(t->ssl);
			tls_principal_of(t->principal_san, x, t->principal,
					 sizeof t->principal);
			X509_free(x);
		}
		tls_send_out(c);
		if (c->wlen)
			mark_dirty(c); /* frames queued during the handshake */
	}
	while (!c->closing && c->reading) {
		uint8_t *base;
		size_t len;
		int k;
		if (rbuf_room(c, &base, &len) != 0) {
			if (!c->rbuf_refused) {
				conn_close(c); /* out of memory */
				return;
			}
			/* Refused by the owner: plaintext may stay in
			 * OpenSSL until conn_resume(). */
			c->rbuf_refused = 0;
			conn_pause(c);
			break;
		}
		if (len > INT32_MAX)
			len = INT32_MAX;
		k = SSL_read(t->ssl, base, (int)len);
		if (k <= 0) {
			int e = SSL_get_error(t->ssl, k);
			if (e == SSL_ERROR_WANT_READ)
				break;
			if (e == SSL_ERROR_ZERO_RETURN) {
				conn_close(c); /* close_notify */
				return;
			}
			tls_fail(c, "read");
			return;
		}
		c->rlen += (size_t)k;
		deliver(c);
	}
	tls_send_out(c);
}

void conn_flush(struct conn *c)
{
	dirty_remove(c);
	if (c->wlen == 0 || c->closing)
		return;
	if (c->tls) {
		int k;
		if (!c->tls->ready)
			return; /* sent once the handshake completes */
		if (c->wlen > INT32_MAX) {
			conn_close(c);
			return;
		}
		k = SSL_write(c->tls->ssl, c->wbuf, (int)c->wlen);
		if (k != (int)c->wlen) {
			tls_fail(c, "write");
			return;
		}
		c->wlen = 0;
		tls_send_out(c);
	} else {
		send_bytes(c, c->wbuf, c->wlen);
		c->wlen = 0;
	}
	/* Shrink an idle buffer that grew for a burst. */
	if (c->wcap > (1u << 20)) {
		free(c->wbuf);
		c->wbuf = NULL;
		c->wcap = 0;
	}
}

size_t conn_pending_bytes(const struct conn *c)
{
	return c->wlen + c->inflight_bytes;
}

void conn_pause(struct conn *c)
{
	if (c->reading && !c->closing) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

void conn_resume(struct conn *c)
{
	if (!c->reading && !c->closing) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) ==
		    0)
			c->reading = 1;
		if (c->reading && c->tls) {
			/* Plaintext OpenSSL holds: delivered from the
			 * flusher, not from inside the caller. */
			c->tls->need_pump = 1;
			mark_dirty(c);
		}
	}
}

static void on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct conn_tls *t = c->tls; /* its err is readable in closed() */
	rbuf_free(c);
	free(c->wbuf);
	c->wbuf = NULL;
	c->rlen = c->rcap = c->wlen = c->wcap = 0;
	if (t) {
		SSL_free(t->ssl); /* and its BIOs */
		t->ssl = NULL;
	}
	if (c->ops->closed)
		c->ops->closed(c); /* may free c */
	free(t);
}

/* reset: SO_LINGER 0, the kernel drops what it still holds and sends a
 * reset. That fails before a socket exists (connect not yet started), and
 * a plain close then has nothing to discard. */
static void close_conn(struct conn *c, int reset)
{
	if (c->closing)
		return;
	c->closing = 1;
	dirty_remove(c);
	if (!reset || uv_tcp_close_reset(&c->tcp, on_closed) != 0)
		uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void conn_close(struct conn *c)
{
	close_conn(c, 0);
}

void conn_abort(struct conn *c)
{
	close_conn(c, 1);
}

int conn_tls_attach(struct conn *c, struct tls_ctx *ctx, int server)
{
	struct conn_tls *t = calloc(1, sizeof *t);
	if (t == NULL)
		return UV_ENOMEM;
	t->ssl = tls_ssl_new(ctx, server, (void **)&t->rbio, (void **)&t->wbio);
	if (t->ssl == NULL) {
		free(t);
		return UV_ENOMEM;
	}
	t->principal_san = tls_ctx_principal_san(ctx);
	c->tls = t;
	return 0;
}

int conn_tls_ready(const struct conn *c)
{
	return c->tls == NULL || c->tls->ready;
}

const char *conn_tls_principal(const struct conn *c)
{
	return c->tls ? c->tls->principal : "";
}

const char *conn_tls_error(const struct conn *c)
{
	return c->tls && c->tls->err[0] ? c->tls->err : NULL;
}
