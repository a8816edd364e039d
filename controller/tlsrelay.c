/* controller/tlsrelay.c - TLS between a TCP stream and a socketpair. */
#include "tlsrelay.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <raft.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"

#define RBUF (16 * 1024 + 512)
/* Encrypted bytes queued towards the peer above which the relay stops
 * reading from raft, and below which it reads again. */
#define HIGH_WATER (8u << 20)
#define LOW_WATER (1u << 20)

struct tls_relay {
	uv_loop_t *loop;
	uv_stream_t *tcp; /* raft_malloc'd, ours */
	uv_pipe_t app;	  /* our end of the socketpair */
	uv_timer_t timer;
	SSL *ssl;
	BIO *rbio, *wbio;
	int ready, closing, app_open, app_paused, handles;
	char expect[128];
	int principal_san;   /* the context's principal rule */
	char principal[128]; /* the peer's, by that rule */
	tls_relay_cb cb;
	void *arg;
	uint8_t rbuf[RBUF];
};

struct wreq {
	uv_write_t req;
	struct tls_relay *r;
	uint8_t data[];
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_app_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_closed(uv_handle_t *h)
{
	struct tls_relay *r = h->data;
	if ((uv_handle_t *)r->tcp == h)
		raft_free(h);
	if (--r->handles == 0) {
		SSL_free(r->ssl);
		free(r);
	}
}

static void relay_close(struct tls_relay *r)
{
	if (r->closing)
		return;
	r->closing = 1;
	uv_close((uv_handle_t *)r->tcp, on_closed);
	uv_close((uv_handle_t *)&r->timer, on_closed);
	if (r->app_open)
		uv_close((uv_handle_t *)&r->app, on_closed);
}

/* Before the handshake completed: tell the caller why, close. */
static void relay_fail(struct tls_relay *r, const char *fmt, ...)
{
	char err[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, sizeof err, fmt, ap);
	va_end(ap);
	ERR_clear_error();
	if (!r->ready && r->cb) {
		tls_relay_cb cb = r->cb;
		r->cb = NULL;
		cb(r->arg, NULL, -1, err, NULL);
	}
	relay_close(r);
}

static void on_tcp_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct tls_relay *r = w->r;
	free(w);
	if (status < 0) {
		if (status != UV_ECANCELED)
			relay_close(r);
		return;
	}
	if (r->app_paused && !r->closing &&
	    uv_stream_get_write_queue_size(r->tcp) < LOW_WATER) {
		r->app_paused = 0;
		uv_read_start((uv_stream_t *)&r->app, on_alloc, on_app_read);
	}
}

static void on_app_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct tls_relay *r = w->r;
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		relay_close(r);
}

static int write_copy(struct tls_relay *r, uv_stream_t *s, const void *p,
		      size_t n, uv_write_cb cb)
{
	struct wreq *w;
	uv_buf_t b;
	if (n == 0 || r->closing)
		return 0;
	/* Nothing queued: write at once, copy only what is left. */
	if (uv_stream_get_write_queue_size(s) == 0) {
		int k;
		b = uv_buf_init((char *)p, (unsigned)n);
		k = uv_try_write(s, &b, 1);
		if (k == (int)n)
			return 0;
		if (k > 0) {
			p = (const char *)p + k;
			n -= (size_t)k;
		} else if (k != UV_EAGAIN) {
			return -1;
		}
	}
	w = malloc(sizeof *w + n);
	if (w == NULL)
		return -1;
	w->r = r;
	memcpy(w->data, p, n);
	b = uv_buf_init((char *)w->data, (unsigned)n);
	if (uv_write(&w->req, s, &b, 1, cb) != 0) {
		free(w);
		return -1;
	}
	return 0;
}

/* Send what OpenSSL queued for the peer. */
static void flush_tcp(struct tls_relay *r)
{
	char *p;
	long n = BIO_get_mem_data(r->wbio, &p);
	if (n <= 0 || r->closing)
		return;
	if (write_copy(r, r->tcp, p, (size_t)n, on_tcp_written) != 0) {
		relay_close(r);
		return;
	}
	(void)BIO_reset(r->wbio);
}

/* The handshake completed: check the peer, make the socketpair, hand one
 * end over. 0, or -1 when the relay failed (closed). */
static int established(struct tls_relay *r)
{
	X509 *x = SSL_get1_peer_certificate(r->ssl);
	char cn[128] = "";
	int fds[2];
	uv_pipe_t *plain;
	tls_relay_cb cb;
	if (x == NULL) {
		relay_fail(r, "the peer presented no certificate");
		return -1;
	}
	tls_principal_of(0, x, cn, sizeof cn); /* nodes: always the CN */
	tls_principal_of(r->principal_san, x, r->principal,
			 sizeof r->principal);
	X509_free(x);
	if (r->expect[0] && strcmp(cn, r->expect) != 0) {
		relay_fail(r, "the peer's certificate is for '%s', not '%s'",
			   cn, r->expect);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
		relay_fail(r, "socketpair: out of descriptors");
		return -1;
	}
	plain = raft_malloc(sizeof *plain);
	if (plain == NULL || uv_pipe_init(r->loop, &r->app, 0) != 0) {
		raft_free(plain);
		close(fds[0]);
		close(fds[1]);
		relay_fail(r, "out of memory");
		return -1;
	}
	r->app.data = r;
	r->app_open = 1;
	r->handles++;
	uv_pipe_init(r->loop, plain, 0);
	if (uv_pipe_open(&r->app, fds[0]) != 0 ||
	    uv_pipe_open(plain, fds[1]) != 0 ||
	    uv_read_start((uv_stream_t *)&r->app, on_alloc, on_app_read) != 0) {
		close(fds[1]);
		uv_close((uv_handle_t *)plain, (uv_close_cb)raft_free);
		relay_fail(r, "cannot open the socketpair");
		return -1;
	}
	r->ready = 1;
	uv_timer_stop(&r->timer);
	cb = r->cb;
	r->cb = NULL;
	cb(r->arg, (uv_stream_t *)plain, 0, NULL, r->principal);
	return 0;
}

static void pump(struct tls_relay *r)
{
	uint8_t buf[16384];
	if (!r->ready) {
		int rv = SSL_do_handshake(r->ssl);
		if (rv != 1) {
			int e = SSL_get_error(r->ssl, rv);
			flush_tcp(r); /* the next flight, or an alert */
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE)
				return;
			{
				char why[160];
				tls_failure_reason(r->ssl, why, sizeof why);
				relay_fail(r, "TLS handshake failed: %s", why);
			}
			return;
		}
		flush_tcp(r);
		if (established(r) != 0)
			return;
	}
	while (!r->closing) {
		int k = SSL_read(r->ssl, buf, sizeof buf);
		if (k <= 0) {
			int e = SSL_get_error(r->ssl, k);
			if (e != SSL_ERROR_WANT_READ)
				relay_close(r);
			ERR_clear_error();
			break;
		}
		if (write_copy(r, (uv_stream_t *)&r->app, buf, (size_t)k,
			       on_app_written) != 0) {
			relay_close(r);
			return;
		}
	}
	flush_tcp(r);
}

/* Both streams read into the relay's buffer: each read is consumed
 * (written on, or handed to OpenSSL) before the next one. */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct tls_relay *r = h->data;
	(void)hint;
	buf->base = (char *)r->rbuf;
	buf->len = sizeof r->rbuf;
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct tls_relay *r = s->data;
	if (n < 0) {
		relay_fail(r, "the connection closed during the TLS handshake");
		return;
	}
	if (n > 0 && BIO_write(r->rbio, buf->base, (int)n) != (int)n) {
		relay_fail(r, "out of memory");
		return;
	}
	pump(r);
}

static void on_app_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct tls_relay *r = s->data;
	if (n < 0) {
		relay_close(r); /* raft closed its end */
		return;
	}
	if (n == 0)
		return;
	if (SSL_write(r->ssl, buf->base, (int)n) != (int)n) {
		ERR_clear_error();
		relay_close(r);
		return;
	}
	flush_tcp(r);
	if (!r->closing &&
	    uv_stream_get_write_queue_size(r->tcp) > HIGH_WATER) {
		r->app_paused = 1;
		uv_read_stop((uv_stream_t *)&r->app);
	}
}

static void on_timeout(uv_timer_t *t)
{
	relay_fail(t->data, "no TLS handshake within the timeout");
}

int tls_relay_start(uv_loop_t *loop, struct tls_ctx *ctx, int server,
		    uv_stream_t *tcp, const char *expect_cn,
		    unsigned timeout_ms, tls_relay_cb cb, void *arg,
		    struct tls_relay **out)
{
	struct tls_relay *r = calloc(1, sizeof *r);
	if (r == NULL)
		return -1;
	r->loop = loop;
	r->tcp = tcp;
	r->cb = cb;
	r->arg = arg;
	snprintf(r->expect, sizeof r->expect, "%s", expect_cn ? expect_cn : "");
	r->principal_san = tls_ctx_principal_san(ctx);
	r->ssl = tls_ssl_new(ctx, server, (void **)&r->rbio, (void **)&r->wbio);
	if (r->ssl == NULL) {
		free(r);
		return -1;
	}
	tcp->data = r;
	if (uv_read_start(tcp, on_alloc, on_tcp_read) != 0) {
		SSL_free(r->ssl);
		free(r);
		return -1;
	}
	*out = r;
	if (tcp->type == UV_TCP)
		uv_tcp_nodelay((uv_tcp_t *)tcp, 1);
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	r->handles = 2; /* tcp, timer (+ app once established) */
	uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
	if (!server)
		pump(r); /* the ClientHello */
	return 0;
}

void tls_relay_cancel(struct tls_relay *r)
{
	relay_fail(r, "canceled");
}
