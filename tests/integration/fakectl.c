/* tests/integration/fakectl.c - a scripted fake controller (see fakectl.h).
 *
 * Plain uv_tcp_t connections with their own read buffer and output queue
 * (not net/conn.h: the output must be held while paused and trickled out
 * at a set rate). Handles: the listener, three timers (rate-limited
 * writes, deferred work after a resume, the guard of fakectl_step) and one
 * TCP handle per connection. A connection leaves the fake's list when it
 * starts closing and is freed from its close callback, after libuv has
 * completed (or canceled) its writes; the fake is freed by the last close
 * callback after fakectl_free().
 */
#include "fakectl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_MIN 4096
#define RATE_TICK_MS 10
#define MAX_APIS 256
#define FAKE_MAX_FRAME SYNOD_DEFAULT_MAX_FRAME

struct fakectl_conn {
	struct fakectl *f;
	struct fakectl_conn *next, *prev; /* f->conns: open ones only */
	uint64_t id;
	uv_tcp_t tcp;
	int closing;
	int reading;
	int close_flushed; /* close once the output is written */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *obuf; /* output queued: obuf[ooff..olen) */
	size_t ooff, olen, ocap;
	unsigned writes; /* uv_write requests in flight */
	uint64_t credit; /* rate limiter, in milli-bytes */
};

struct fakectl {
	uv_loop_t *loop;
	char *cluster_id;
	char address[64];
	uv_tcp_t listener;
	uv_timer_t rate_timer;
	uv_timer_t resume_timer;
	uv_timer_t guard;
	int open_handles;
	int stopped;
	int freeing;
	int paused;
	fakectl_request_cb cb;
	void *cb_arg;
	int default_code;
	uint64_t rate; /* bytes per second, 0: unlimited */
	uint64_t rate_last_ms;
	struct fakectl_conn *conns; /* newest first */
	unsigned n_conns;
	uint64_t next_id;
	uint64_t accepts;
	uint64_t requests[MAX_APIS];
	uint64_t requests_total;
	uint64_t bad_frames;
	uint64_t resets;
	uint64_t bytes_written;
};

struct wreq {
	uv_write_t req;
	struct fakectl_conn *fc;
	size_t len;
	uint8_t data[];
};

static void kick(struct fakectl_conn *fc);
static void process(struct fakectl_conn *fc);

uint64_t fakectl_now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

/* ---- life cycle of handles ---- */

static void maybe_free(struct fakectl *f)
{
	if (f->freeing && f->open_handles == 0) {
		free(f->cluster_id);
		free(f);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct fakectl *f = h->data;
	f->open_handles--;
	maybe_free(f);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct fakectl_conn *fc = h->data;
	struct fakectl *f = fc->f;
	free(fc->rbuf);
	free(fc->obuf);
	free(fc);
	f->open_handles--;
	maybe_free(f);
}

static void close_now(struct fakectl_conn *fc)
{
	struct fakectl *f = fc->f;
	if (fc->closing)
		return;
	fc->closing = 1;
	if (fc->prev)
		fc->prev->next = fc->next;
	else
		f->conns = fc->next;
	if (fc->next)
		fc->next->prev = fc->prev;
	fc->next = fc->prev = NULL;
	f->n_conns--;
	fc->ooff = fc->olen = 0;
	uv_close((uv_handle_t *)&fc->tcp, on_conn_closed);
}

static size_t pending(const struct fakectl_conn *fc)
{
	return fc->olen - fc->ooff;
}

static void maybe_close_flushed(struct fakectl_conn *fc)
{
	if (!fc->closing && fc->close_flushed && pending(fc) == 0 &&
	    fc->writes == 0)
		close_now(fc);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct fakectl_conn *fc = h->data;
	(void)hint;
	if (fc->rcap - fc->rlen < READ_MIN / 2) {
		size_t cap = fc->rcap ? fc->rcap * 2 : READ_MIN;
		uint8_t *p;
		while (cap - fc->rlen < READ_MIN / 2)
			cap *= 2;
		p = realloc(fc->rbuf, cap);
		if (p == NULL) {
			buf->base = NULL;
			buf->len = 0;
			return;
		}
		fc->rbuf = p;
		fc->rcap = cap;
	}
	buf->base = (char *)fc->rbuf + fc->rlen;
	buf->len = fc->rcap - fc->rlen;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fakectl_conn *fc = s->data;
	(void)buf;
	if (n < 0) {
		if (n == UV_ECONNRESET)
			fc->f->resets++;
		close_now(fc); /* EOF, reset, or ENOBUFS */
		return;
	}
	fc->rlen += (size_t)n;
	process(fc);
}

static void start_reading(struct fakectl_conn *fc)
{
	if (fc->reading || fc->closing || fc->close_flushed || fc->f->paused)
		return;
	if (uv_read_start((uv_stream_t *)&fc->tcp, on_alloc, on_read) == 0)
		fc->reading = 1;
	else
		close_now(fc);
}

static void stop_reading(struct fakectl_conn *fc)
{
	if (!fc->reading || fc->closing)
		return;
	uv_read_stop((uv_stream_t *)&fc->tcp);
	fc->reading = 0;
}

/* ---- default answers ---- */

static void answer_metadata(struct fakectl_conn *fc,
			    const struct frame_header *h, const uint8_t *body,
			    size_t len)
{
	struct fakectl *f = fc->f;
	Synod__Wire__MetadataRequest *q =
	    synod__wire__metadata_request__unpack(NULL, len, body);
	Synod__Wire__MetadataResponse r = SYNOD__WIRE__METADATA_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__NodeAddress self = SYNOD__WIRE__NODE_ADDRESS__INIT;
	Synod__Wire__NodeAddress *nodes[1] = {&self};
	char msg[160];
	if (q == NULL) {
		fakectl_reply_status(fc, h, SYNOD_EINVALID_REQUEST, NULL);
		return;
	}
	if (q->cluster_id && q->cluster_id[0] &&
	    strcmp(q->cluster_id, f->cluster_id) != 0) {
		snprintf(msg, sizeof msg, "this node belongs to cluster %s",
			 f->cluster_id);
		st.code = SYNOD_ECLUSTER_ID_MISMATCH;
		st.message = msg;
		r.status = &st;
		fakectl_reply(fc, h, &r.base);
		synod__wire__metadata_request__free_unpacked(q, NULL);
		return;
	}
	synod__wire__metadata_request__free_unpacked(q, NULL);
	st.code = SYNOD_OK;
	st.message = "success";
	self.id = 1;
	self.raft_address = f->address;
	self.client_address = f->address;
	self.voter = 1;
	r.status = &st;
	r.cluster_id = f->cluster_id;
	r.has_node_id = r.has_leader_id = 1;
	r.node_id = r.leader_id = 1;
	r.leader_address = f->address;
	r.n_nodes = 1;
	r.nodes = nodes;
	fakectl_reply(fc, h, &r.base);
}

static void answer_node_status(struct fakectl_conn *fc,
			       const struct frame_header *h)
{
	Synod__Wire__NodeStatusResponse r =
	    SYNOD__WIRE__NODE_STATUS_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	st.code = SYNOD_OK;
	st.message = "success";
	r.status = &st;
	r.has_node_id = r.has_leader_id = 1;
	r.node_id = r.leader_id = 1;
	r.role = "leader";
	r.cluster_id = fc->f->cluster_id;
	r.has_active_controller = 1;
	r.active_controller = 1;
	fakectl_reply(fc, h, &r.base);
}

static void handle_request(struct fakectl_conn *fc,
			   const struct frame_header *h, const uint8_t *body,
			   size_t len)
{
	struct fakectl *f = fc->f;
	f->requests_total++;
	if (h->api < MAX_APIS)
		f->requests[h->api]++;
	if (f->cb && f->cb(f->cb_arg, fc, h, body, len) == FAKECTL_HANDLED)
		return;
	if (fc->closing)
		return;
	switch (h->api) {
	case SYNOD_API_METADATA:
		answer_metadata(fc, h, body, len);
		break;
	case SYNOD_API_NODE_STATUS:
		answer_node_status(fc, h);
		break;
	default:
		if (f->default_code >= 0)
			fakectl_reply_status(fc, h, f->default_code, NULL);
		break;
	}
}

/* Handle the complete frames in the read buffer, unless paused. */
static void process(struct fakectl_conn *fc)
{
	struct fakectl *f = fc->f;
	size_t off = 0;
	while (!fc->closing && !fc->close_flushed && !f->paused) {
		struct frame_header h;
		const uint8_t *body;
		size_t blen, used;
		int rv;
		memset(&h, 0, sizeof h);
		rv = frame_decode(fc->rbuf + off, fc->rlen - off,
				  FAKE_MAX_FRAME, &h, &body, &blen, &used);
		if (rv == FRAME_EAGAIN)
			break;
		if (rv != FRAME_OK) {
			f->bad_frames++;
			close_now(fc);
			return;
		}
		off += used;
		if (h.kind == FRAME_REQUEST)
			handle_request(fc, &h, body, blen);
	}
	if (fc->closing)
		return;
	if (off > 0) {
		memmove(fc->rbuf, fc->rbuf + off, fc->rlen - off);
		fc->rlen -= off;
	}
}

/* ---- writing ---- */

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct fakectl_conn *fc = w->fc;
	fc->writes--;
	if (status == 0)
		fc->f->bytes_written += w->len;
	free(w);
	if (fc->closing)
		return;
	if (status < 0) {
		close_now(fc);
		return;
	}
	if (fc->f->rate == 0)
		kick(fc);
	maybe_close_flushed(fc);
}

/* Hand the next n queued bytes to libuv. */
static void write_chunk(struct fakectl_conn *fc, size_t n)
{
	struct wreq *w = malloc(sizeof *w + n);
	uv_buf_t buf;
	if (w == NULL) {
		close_now(fc);
		return;
	}
	w->fc = fc;
	w->len = n;
	memcpy(w->data, fc->obuf + fc->ooff, n);
	fc->ooff += n;
	if (fc->ooff == fc->olen)
		fc->ooff = fc->olen = 0;
	buf = uv_buf_init((char *)w->data, (unsigned)n);
	fc->writes++;
	if (uv_write(&w->req, (uv_stream_t *)&fc->tcp, &buf, 1, on_write) !=
	    0) {
		fc->writes--;
		free(w);
		close_now(fc);
	}
}

static void on_rate_timer(uv_timer_t *t)
{
	struct fakectl *f = t->data;
	uint64_t now = uv_now(f->loop);
	uint64_t dt = now - f->rate_last_ms;
	uint64_t cap = f->rate * 5 * RATE_TICK_MS;
	int busy = 0;
	struct fakectl_conn *fc, *next;
	f->rate_last_ms = now;
	if (cap < 1000)
		cap = 1000;
	if (f->paused || f->rate == 0) {
		uv_timer_stop(t);
		return;
	}
	for (fc = f->conns; fc; fc = next) {
		size_t n;
		next = fc->next;
		if (pending(fc) == 0)
			continue;
		busy = 1;
		fc->credit += f->rate * dt;
		if (fc->credit > cap)
			fc->credit = cap;
		if (fc->writes > 0)
			continue;
		n = (size_t)(fc->credit / 1000);
		if (n == 0)
			continue;
		if (n > pending(fc))
			n = pending(fc);
		fc->credit -= (uint64_t)n * 1000;
		write_chunk(fc, n);
	}
	if (!busy)
		uv_timer_stop(t);
}

/* Write what is queued now (unlimited), or make sure the rate timer
 * runs. Nothing while paused. */
static void kick(struct fakectl_conn *fc)
{
	struct fakectl *f = fc->f;
	if (fc->closing || f->paused || pending(fc) == 0)
		return;
	if (f->rate == 0) {
		write_chunk(fc, pending(fc));
		return;
	}
	if (!uv_is_active((uv_handle_t *)&f->rate_timer)) {
		f->rate_last_ms = uv_now(f->loop);
		uv_timer_start(&f->rate_timer, on_rate_timer, RATE_TICK_MS,
			       RATE_TICK_MS);
	}
}

/* Reserve n bytes at the end of the output queue. */
static uint8_t *queue_reserve(struct fakectl_conn *fc, size_t n)
{
	if (fc->ooff > 0 && fc->ocap - fc->olen < n) {
		memmove(fc->obuf, fc->obuf + fc->ooff, pending(fc));
		fc->olen -= fc->ooff;
		fc->ooff = 0;
	}
	if (fc->ocap - fc->olen < n) {
		size_t cap = fc->ocap ? fc->ocap : READ_MIN;
		uint8_t *p;
		while (cap - fc->olen < n)
			cap *= 2;
		p = realloc(fc->obuf, cap);
		if (p == NULL)
			return NULL;
		fc->obuf = p;
		fc->ocap = cap;
	}
	fc->olen += n;
	return fc->obuf + fc->olen - n;
}

static int usable(const struct fakectl_conn *fc)
{
	return fc != NULL && !fc->closing && !fc->f->stopped;
}

int fakectl_send_raw(struct fakectl_conn *fc, const void *bytes, size_t n)
{
	uint8_t *p;
	if (!usable(fc))
		return UV_EPIPE;
	if (n == 0)
		return 0;
	p = queue_reserve(fc, n);
	if (p == NULL)
		return UV_ENOMEM;
	memcpy(p, bytes, n);
	kick(fc);
	return 0;
}

int fakectl_send_frame(struct fakectl_conn *fc, const struct frame_header *h,
		       const void *body, size_t len)
{
	uint8_t *p;
	if (!usable(fc))
		return UV_EPIPE;
	p = queue_reserve(fc, FRAME_PREFIX + len);
	if (p == NULL)
		return UV_ENOMEM;
	frame_put_prefix(p, h, len);
	if (len > 0)
		memcpy(p + FRAME_PREFIX, body, len);
	kick(fc);
	return 0;
}

/* A frame with msg packed straight into the output queue. */
static int send_msg(struct fakectl_conn *fc, const struct frame_header *h,
		    const ProtobufCMessage *msg)
{
	size_t len;
	uint8_t *p;
	if (!usable(fc))
		return UV_EPIPE;
	len = msg ? protobuf_c_message_get_packed_size(msg) : 0;
	p = queue_reserve(fc, FRAME_PREFIX + len);
	if (p == NULL)
		return UV_ENOMEM;
	frame_put_prefix(p, h, len);
	if (msg)
		protobuf_c_message_pack(msg, p + FRAME_PREFIX);
	kick(fc);
	return 0;
}

int fakectl_reply(struct fakectl_conn *fc, const struct frame_header *req,
		  const ProtobufCMessage *msg)
{
	struct frame_header h = {.kind = FRAME_RESPONSE,
				 .flags = 0,
				 .api = req->api,
				 .api_version = req->api_version,
				 .correlation_id = req->correlation_id};
	return send_msg(fc, &h, msg);
}

int fakectl_reply_status(struct fakectl_conn *fc,
			 const struct frame_header *req, int code,
			 const char *leader_address)
{
	Synod__Wire__AnyResponse r = SYNOD__WIRE__ANY_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	st.code = code;
	st.message = (char *)synod_strerror(code);
	st.leader_address = (char *)leader_address;
	r.status = &st;
	return fakectl_reply(fc, req, &r.base);
}

int fakectl_push(struct fakectl_conn *fc, uint16_t api,
		 const ProtobufCMessage *msg)
{
	struct frame_header h = {
	    .kind = FRAME_PUSH, .api = api, .api_version = 1};
	return send_msg(fc, &h, msg);
}

/* ---- connections ---- */

static void on_connection(uv_stream_t *l, int status)
{
	struct fakectl *f = l->data;
	struct fakectl_conn *fc;
	if (status < 0 || f->stopped)
		return;
	fc = calloc(1, sizeof *fc);
	if (fc == NULL)
		return;
	fc->f = f;
	fc->tcp.data = fc;
	if (uv_tcp_init(f->loop, &fc->tcp) != 0) {
		free(fc);
		return;
	}
	f->open_handles++;
	fc->id = ++f->next_id;
	fc->next = f->conns;
	if (f->conns)
		f->conns->prev = fc;
	f->conns = fc;
	f->n_conns++;
	if (uv_accept(l, (uv_stream_t *)&fc->tcp) != 0) {
		close_now(fc);
		return;
	}
	f->accepts++;
	uv_tcp_nodelay(&fc->tcp, 1);
	start_reading(fc);
}

void fakectl_close_conn(struct fakectl_conn *fc, int how)
{
	if (fc == NULL || fc->closing)
		return;
	if (how == FAKECTL_CLOSE_NOW) {
		close_now(fc);
		return;
	}
	stop_reading(fc);
	fc->close_flushed = 1;
	maybe_close_flushed(fc);
}

uint64_t fakectl_conn_id(const struct fakectl_conn *fc)
{
	return fc->id;
}

struct fakectl_conn *fakectl_conn_find(struct fakectl *f, uint64_t id)
{
	for (struct fakectl_conn *fc = f->conns; fc; fc = fc->next)
		if (fc->id == id)
			return fc;
	return NULL;
}

struct fakectl_conn *fakectl_last_conn(struct fakectl *f)
{
	return f->conns;
}

struct fakectl *fakectl_conn_owner(const struct fakectl_conn *fc)
{
	return fc->f;
}

size_t fakectl_conn_pending(const struct fakectl_conn *fc)
{
	return pending(fc);
}

/* ---- behaviour ---- */

void fakectl_on_request(struct fakectl *f, fakectl_request_cb cb, void *arg)
{
	f->cb = cb;
	f->cb_arg = arg;
}

void fakectl_set_default_status(struct fakectl *f, int code)
{
	f->default_code = code < 0 ? FAKECTL_NO_ANSWER : code;
}

void fakectl_set_write_rate(struct fakectl *f, uint64_t bytes_per_second)
{
	f->rate = bytes_per_second;
	if (f->rate == 0) {
		uv_timer_stop(&f->rate_timer);
		for (struct fakectl_conn *fc = f->conns; fc; fc = fc->next)
			if (fc->writes == 0)
				kick(fc);
	}
}

/* After a resume: handle what was read meanwhile, read again, write. */
static void on_resume_timer(uv_timer_t *t)
{
	struct fakectl *f = t->data;
	struct fakectl_conn *fc, *next;
	for (fc = f->conns; fc && !f->paused; fc = next) {
		next = fc->next;
		process(fc);
		if (f->paused)
			break; /* the handler paused again */
		/* The handler may have closed the next one: start over. */
		if (next && next->closing)
			next = f->conns;
		if (!fc->closing) {
			start_reading(fc);
			if (fc->writes == 0 || f->rate > 0)
				kick(fc);
		}
	}
}

void fakectl_pause(struct fakectl *f, int paused)
{
	if (f->stopped || !!paused == f->paused)
		return;
	f->paused = !!paused;
	if (f->paused) {
		uv_timer_stop(&f->resume_timer);
		for (struct fakectl_conn *fc = f->conns; fc; fc = fc->next)
			stop_reading(fc);
		return;
	}
	uv_timer_start(&f->resume_timer, on_resume_timer, 0, 0);
}

/* ---- start, stop, free ---- */

int fakectl_start(uv_loop_t *loop, const char *cluster_id, struct fakectl **out)
{
	struct fakectl *f;
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof ss, rv;
	if (loop == NULL || cluster_id == NULL || out == NULL)
		return UV_EINVAL;
	f = calloc(1, sizeof *f);
	if (f == NULL)
		return UV_ENOMEM;
	f->cluster_id = strdup(cluster_id);
	if (f->cluster_id == NULL) {
		free(f);
		return UV_ENOMEM;
	}
	f->loop = loop;
	f->default_code = FAKECTL_NO_ANSWER;
	uv_tcp_init(loop, &f->listener);
	uv_timer_init(loop, &f->rate_timer);
	uv_timer_init(loop, &f->resume_timer);
	uv_timer_init(loop, &f->guard);
	f->listener.data = f->rate_timer.data = f->resume_timer.data =
	    f->guard.data = f;
	f->open_handles = 4;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	rv = uv_tcp_bind(&f->listener, (const struct sockaddr *)&sa, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&f->listener, 128, on_connection);
	if (rv == 0)
		rv = uv_tcp_getsockname(&f->listener, (struct sockaddr *)&ss,
					&len);
	if (rv != 0) {
		fakectl_free(f);
		return rv;
	}
	snprintf(f->address, sizeof f->address, "127.0.0.1:%d",
		 ntohs(((struct sockaddr_in *)&ss)->sin_port));
	*out = f;
	return 0;
}

const char *fakectl_address(const struct fakectl *f)
{
	return f->address;
}

void fakectl_stop(struct fakectl *f)
{
	if (f->stopped)
		return;
	f->stopped = 1;
	uv_close((uv_handle_t *)&f->listener, on_handle_closed);
	uv_timer_stop(&f->rate_timer);
	uv_timer_stop(&f->resume_timer);
	while (f->conns)
		close_now(f->conns);
}

void fakectl_free(struct fakectl *f)
{
	if (f == NULL || f->freeing)
		return;
	fakectl_stop(f);
	f->freeing = 1;
	uv_close((uv_handle_t *)&f->rate_timer, on_handle_closed);
	uv_close((uv_handle_t *)&f->resume_timer, on_handle_closed);
	uv_close((uv_handle_t *)&f->guard, on_handle_closed);
}

/* ---- counters ---- */

unsigned fakectl_conn_count(const struct fakectl *f)
{
	return f->n_conns;
}

uint64_t fakectl_accepts(const struct fakectl *f)
{
	return f->accepts;
}

uint64_t fakectl_requests(const struct fakectl *f, uint16_t api)
{
	return api < MAX_APIS ? f->requests[api] : 0;
}

uint64_t fakectl_requests_total(const struct fakectl *f)
{
	return f->requests_total;
}

uint64_t fakectl_bad_frames(const struct fakectl *f)
{
	return f->bad_frames;
}

uint64_t fakectl_resets(const struct fakectl *f)
{
	return f->resets;
}

uint64_t fakectl_bytes_written(const struct fakectl *f)
{
	return f->bytes_written;
}

/* ---- driving the loop ---- */

static void on_guard(uv_timer_t *t)
{
	(void)t; /* only wakes uv_run up */
}

int fakectl_step(struct fakectl *f, uint64_t deadline_ms)
{
	uint64_t now = fakectl_now_ms();
	if (now >= deadline_ms)
		return UV_ETIMEDOUT;
	uv_update_time(f->loop);
	uv_timer_start(&f->guard, on_guard, deadline_ms - now, 0);
	uv_run(f->loop, UV_RUN_ONCE);
	uv_timer_stop(&f->guard);
	return 0;
}

int fakectl_wait(struct fakectl *f, unsigned timeout_ms, int (*cond)(void *),
		 void *arg)
{
	uint64_t deadline = fakectl_now_ms() + timeout_ms;
	while (!cond(arg))
		if (fakectl_step(f, deadline) != 0)
			return cond(arg) ? 0 : UV_ETIMEDOUT;
	return 0;
}

static void count_handle(uv_handle_t *h, void *arg)
{
	(void)h;
	(*(unsigned *)arg)++;
}

/* Handles not yet closed (closing ones included; libuv's internal ones
 * excluded: uv_loop_close() deals with those). */
static unsigned handles_left(uv_loop_t *loop)
{
	unsigned n = 0;
	uv_walk(loop, count_handle, &n);
	return n;
}

int fakectl_drain(uv_loop_t *loop, unsigned timeout_ms)
{
	uint64_t deadline = fakectl_now_ms() + timeout_ms;
	while (uv_loop_alive(loop) || handles_left(loop) > 0) {
		if (fakectl_now_ms() >= deadline)
			return UV_ETIMEDOUT;
		uv_run(loop, UV_RUN_NOWAIT);
	}
	return 0;
}
