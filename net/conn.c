/* net/conn.c - framed libuv TCP connection with batched writes. */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

#define READ_MIN CONN_READ_MIN
#define READ_KEEP (256 * 1024)

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

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)hint;
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
			buf->base = NULL;
			buf->len = 0;
			return;
		}
		uint8_t *p = realloc(c->rbuf, cap);
		if (p == NULL) {
			rbuf_resize(c, c->rcap);
			buf->base = NULL;
			buf->len = 0;
			return;
		}
		c->rbuf = p;
		c->rcap = cap;
	}
	buf->base = (char *)c->rbuf + c->rlen;
	buf->len = c->rcap - c->rlen;
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

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	size_t off = 0;
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
	c->rlen += (size_t)n;
	c->bytes_in += (uint64_t)n;
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
	return uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
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

void conn_flush(struct conn *c)
{
	uv_buf_t b;
	int n;
	dirty_remove(c);
	if (c->wlen == 0 || c->closing)
		return;
	/* Keep order: only try a direct write when nothing is in flight. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0 &&
	    c->inflight_bytes == 0) {
		b = uv_buf_init((char *)c->wbuf, (unsigned)c->wlen);
		n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (n == (int)c->wlen) {
			c->wlen = 0;
			return;
		}
		if (n > 0) {
			memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
			c->wlen -= (size_t)n;
		} else if (n != UV_EAGAIN && n != UV_ENOSYS) {
			conn_close(c);
			return;
		}
	}
	struct wreq *w = malloc(sizeof *w + c->wlen);
	if (w == NULL) {
		conn_close(c);
		return;
	}
	w->c = c;
	w->len = c->wlen;
	memcpy(w->data, c->wbuf, c->wlen);
	c->wlen = 0;
	b = uv_buf_init((char *)w->data, (unsigned)w->len);
	c->inflight_bytes += w->len;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		c->inflight_bytes -= w->len;
		free(w);
		conn_close(c);
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
	}
}

static void on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	rbuf_free(c);
	free(c->wbuf);
	c->wbuf = NULL;
	c->rlen = c->rcap = c->wlen = c->wcap = 0;
	if (c->ops->closed)
		c->ops->closed(c);
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	dirty_remove(c);
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}
