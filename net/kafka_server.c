/* net/kafka_server.c - connections, frames and the API table of a Kafka
 * protocol listener (see kafka_server.h). */
#include "kafka_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_admin_apis.h"
#include "kafka_apis.h"

/* A request's decoded values may take this many times its size. */
#define ARENA_FACTOR 16
/* The most an answer may take while it is built (a Metadata answer of a
 * million partitions takes a few hundred MiB of values). */
#define RESPONSE_BUDGET (1ull << 30)
/* Answers whose values take more are encoded on the thread pool. */
#define ENCODE_ON_POOL (256u << 10)
/* How soon a connection that found no memory is offered again. */
#define KAFKA_ACCEPT_RETRY_MS 100

struct kconn {
	struct kafka_server *ks;
	struct kconn *next, *prev;
	uv_tcp_t tcp;
	uint8_t *buf; /* bytes read, not yet a whole frame */
	size_t len, cap;
	uint64_t active_ms;
	int closing;
	struct kafka_request *req; /* waiting for its answer: read nothing */
	int reading;
	int in_process; /* inside process_frames() */
	char peer[64];
};

struct kafka_server {
	struct kafka_server_config cfg;
	uv_timer_t sweep;
	/* A listener whose offered connection could not be taken (no
	 * memory): libuv stops watching it until that connection is
	 * accepted, so the sweep offers it again. */
	uv_stream_t *accept_later;
	struct kconn *conns;
	unsigned n_conns;
	struct kafka_request *waiting; /* not answered yet */
	uint64_t n_waiting;
	int closing, timer_closed;
	uint64_t requests, refused_frames;
};

struct kwrite {
	uv_write_t req;
	struct kf_buf b;
};

static void klog(struct kafka_server *ks, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void klog(struct kafka_server *ks, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	if (ks->cfg.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ks->cfg.log(ks->cfg.arg, level, msg);
}

static const struct kafka_api served[KAFKA_SERVED_APIS] = {
    {KF_API_METADATA, "Metadata", 0, 12, 9, &kf_metadata_request,
     &kf_metadata_response, NULL},
    {KF_API_FIND_COORDINATOR, "FindCoordinator", 0, 4, 3,
     &kf_find_coordinator_request, &kf_find_coordinator_response, NULL},
    {KF_API_DESCRIBE_GROUPS, "DescribeGroups", 0, 5, 5,
     &kf_describe_groups_request, &kf_describe_groups_response, NULL},
    {KF_API_LIST_GROUPS, "ListGroups", 0, 4, 3, &kf_list_groups_request,
     &kf_list_groups_response, NULL},
    {KF_API_API_VERSIONS, "ApiVersions", 0, 3, 3, &kf_api_versions_request,
     &kf_api_versions_response, NULL},
    {KF_API_CREATE_TOPICS, "CreateTopics", 0, 7, 5, &kf_create_topics_request,
     &kf_create_topics_response, NULL},
    {KF_API_DELETE_TOPICS, "DeleteTopics", 0, 6, 4, &kf_delete_topics_request,
     &kf_delete_topics_response, NULL},
    {KF_API_DESCRIBE_CONFIGS, "DescribeConfigs", 0, 4, 4,
     &kf_describe_configs_request, &kf_describe_configs_response, NULL},
    {KF_API_ALTER_CONFIGS, "AlterConfigs", 0, 2, 2, &kf_alter_configs_request,
     &kf_alter_configs_response, NULL},
    {KF_API_CREATE_PARTITIONS, "CreatePartitions", 0, 3, 2,
     &kf_create_partitions_request, &kf_create_partitions_response, NULL},
    {KF_API_ELECT_LEADERS, "ElectLeaders", 0, 2, 2, &kf_elect_leaders_request,
     &kf_elect_leaders_response, NULL},
    {KF_API_INCREMENTAL_ALTER_CONFIGS, "IncrementalAlterConfigs", 0, 1, 1,
     &kf_incremental_alter_configs_request,
     &kf_incremental_alter_configs_response, NULL},
    {KF_API_DESCRIBE_QUORUM, "DescribeQuorum", 0, 1, 0,
     &kf_describe_quorum_request, &kf_describe_quorum_response, NULL},
    {KF_API_DESCRIBE_CLUSTER, "DescribeCluster", 0, 1, 0,
     &kf_describe_cluster_request, &kf_describe_cluster_response, NULL},
    {KF_API_CONSUMER_GROUP_DESCRIBE, "ConsumerGroupDescribe", 0, 0, 0,
     &kf_consumer_group_describe_request, &kf_consumer_group_describe_response,
     NULL},
};

void kafka_apis_fill(struct kafka_api *out, kafka_handler (*pick)(int16_t key))
{
	for (size_t i = 0; i < KAFKA_SERVED_APIS; i++) {
		out[i] = served[i];
		if (served[i].key != KF_API_API_VERSIONS)
			out[i].handle = pick(served[i].key);
	}
}

const struct kafka_api *kafka_server_api(const struct kafka_server *ks,
					 int16_t key)
{
	for (size_t i = 0; i < ks->cfg.n_apis; i++)
		if (ks->cfg.apis[i].key == key)
			return &ks->cfg.apis[i];
	return NULL;
}

static void maybe_free(struct kafka_server *ks)
{
	if (ks->closing && ks->timer_closed && ks->n_waiting == 0 &&
	    ks->n_conns == 0)
		free(ks);
}

/* ---- connections ---- */

static void process_frames(struct kconn *c);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);

static void free_conn(uv_handle_t *h)
{
	struct kconn *c = h->data;
	struct kafka_server *ks = c->ks;
	free(c->buf);
	free(c);
	ks->n_conns--;
	maybe_free(ks);
}

static void kconn_close(struct kconn *c)
{
	struct kafka_server *ks = c->ks;
	if (c->closing)
		return;
	c->closing = 1;
	if (c->req) {
		c->req->c = NULL; /* its answer goes nowhere */
		c->req = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		ks->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->tcp, free_conn);
}

static void on_written(uv_write_t *req, int status)
{
	struct kwrite *w = (struct kwrite *)req;
	(void)status;
	kf_buf_free(&w->b);
	free(w);
}

/* Send b (its first 4 bytes: room for the size); takes b's bytes. */
static void send_frame(struct kconn *c, struct kf_buf *b)
{
	struct kwrite *w;
	uv_buf_t ub;
	uint32_t n = (uint32_t)(b->len - 4);
	if (b->failed || b->len < 4 || (w = malloc(sizeof *w)) == NULL) {
		kf_buf_free(b);
		kconn_close(c);
		return;
	}
	b->p[0] = (uint8_t)(n >> 24);
	b->p[1] = (uint8_t)(n >> 16);
	b->p[2] = (uint8_t)(n >> 8);
	b->p[3] = (uint8_t)n;
	w->b = *b;
	memset(b, 0, sizeof *b);
	ub = uv_buf_init((char *)w->b.p, (unsigned)w->b.len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_written) !=
	    0) {
		kf_buf_free(&w->b);
		free(w);
		kconn_close(c);
	}
}

/* ---- requests ---- */

static struct kafka_request *request_new(struct kafka_server *ks,
					 const uint8_t *frame, size_t len)
{
	struct kafka_request *r = calloc(1, sizeof *r);
	uint8_t *copy = malloc(len ? len : 1);
	if (r == NULL || copy == NULL) {
		free(r);
		free(copy);
		return NULL;
	}
	memcpy(copy, frame, len);
	r->ks = ks;
	r->arg = ks->cfg.arg;
	r->frame = copy;
	r->frame_len = len;
	kf_arena_init(&r->a, len * ARENA_FACTOR + (1u << 20));
	kf_arena_init(&r->ra, RESPONSE_BUDGET);
	r->next_waiting = ks->waiting;
	if (ks->waiting)
		ks->waiting->prev_waiting = r;
	ks->waiting = r;
	ks->n_waiting++;
	return r;
}

static void request_free(struct kafka_request *r)
{
	struct kafka_server *ks = r->ks;
	if (r->c)
		r->c->req = NULL;
	if (r->prev_waiting)
		r->prev_waiting->next_waiting = r->next_waiting;
	else
		ks->waiting = r->next_waiting;
	if (r->next_waiting)
		r->next_waiting->prev_waiting = r->prev_waiting;
	kf_arena_free(&r->a);
	kf_arena_free(&r->ra);
	kf_buf_free(&r->out);
	free((void *)r->frame);
	free(r);
	ks->n_waiting--;
	maybe_free(ks);
}

int kafka_request_orphaned(const struct kafka_request *r)
{
	return r->c == NULL && r->dispatched == NULL;
}

/* r->out holds the answer (its first 4 bytes: room for the size): send it
 * or hand it to the dispatcher; then the connection reads on. */
static void deliver(struct kafka_request *r)
{
	struct kconn *c = r->c;
	if (r->dispatched) {
		int ok = !r->out.failed && r->out.len >= 4;
		r->dispatched(r->dispatched_arg, ok ? r->out.p + 4 : NULL,
			      ok ? r->out.len - 4 : 0);
	} else if (c && !c->closing) {
		c->req = NULL;
		r->c = NULL;
		send_frame(c, &r->out);
		if (!c->closing)
			process_frames(c); /* what came meanwhile, then read */
	}
	request_free(r);
}

static void encode(struct kafka_request *r)
{
	kf_put_i32(&r->out, 0); /* the size, filled in by send_frame */
	kf_encode_response_header(&r->out, r->h.correlation_id,
				  r->flexible &&
				      r->api->key != KF_API_API_VERSIONS);
	kf_encode(r->api->response, r->version, r->flexible, r->resp, &r->out);
}

static void work_encode(uv_work_t *w)
{
	struct kafka_request *r = w->data;
	encode(r);
	/* The values are done with: freed here, off the loop. */
	kf_arena_free(&r->ra);
}

static void after_encode(uv_work_t *w, int status)
{
	(void)status;
	deliver(w->data);
}

void kafka_respond(struct kafka_request *r)
{
	r->cancel = NULL;
	if (kafka_request_orphaned(r)) {
		request_free(r);
		return;
	}
	if (r->ra.used >= ENCODE_ON_POOL) {
		r->work.work.data = r;
		if (workgate_queue(r->ks->cfg.loop, &r->work, work_encode,
				   after_encode) == 0)
			return;
	}
	encode(r);
	deliver(r);
}

void kafka_respond_raw(struct kafka_request *r, const uint8_t *resp, size_t len)
{
	r->cancel = NULL;
	kf_put_i32(&r->out, 0);
	kf_put(&r->out, resp, len);
	deliver(r);
}

void kafka_respond_close(struct kafka_request *r)
{
	struct kconn *c = r->c;
	r->cancel = NULL;
	if (r->dispatched)
		r->dispatched(r->dispatched_arg, NULL, 0);
	else if (c)
		kconn_close(c);
	request_free(r);
}

/* ApiVersions: the table's APIs and versions. */
static int api_versions(struct kafka_request *r, struct kf_val *resp)
{
	const struct kafka_server *ks = r->ks;
	struct kf_val *keys = &resp->v[KF_AV_API_KEYS];
	if (kf_array(&r->ra, keys, ks->cfg.n_apis) != 0)
		return -1;
	for (size_t i = 0; i < ks->cfg.n_apis; i++) {
		struct kf_val *e = kf_struct(&r->ra, &kf_api_version);
		if (e == NULL)
			return -1;
		e->v[KF_AVK_KEY].i = ks->cfg.apis[i].key;
		e->v[KF_AVK_MIN].i = ks->cfg.apis[i].min;
		e->v[KF_AVK_MAX].i = ks->cfg.apis[i].max;
		keys->v[i] = *e;
	}
	return 0;
}

/* Decode and hand a request to its handler. c: its connection (NULL for
 * a dispatch, then done is set). 0, or -1: the frame is refused (nothing
 * was called; a connection closes). */
static int serve(struct kafka_server *ks, struct kconn *c, const uint8_t *frame,
		 size_t len, const char *peer,
		 void (*done)(void *arg, const uint8_t *resp, size_t len),
		 void *arg)
{
	const struct kafka_api *api;
	struct kafka_request *r;
	size_t off = 0;
	int16_t key, ver;
	int32_t corr;
	int rv;
	if (c)
		ks->requests++; /* on the port (dispatches are the caller's) */
	if (kf_peek_header(frame, len, &key, &ver, &corr) != KF_OK)
		return -1;
	if ((api = kafka_server_api(ks, key)) == NULL) {
		klog(ks, KAFKA_LOG_DEBUG, "%s: api key %d unknown; closing",
		     peer, key);
		return -1;
	}
	if ((r = request_new(ks, frame, len)) == NULL)
		return -1;
	r->api = api;
	r->version = ver;
	r->h.api_key = key;
	r->h.api_version = ver;
	r->h.correlation_id = corr;
	if (c == NULL)
		snprintf(r->peer_buf, sizeof r->peer_buf, "%s", peer);
	r->peer = c ? c->peer : r->peer_buf;
	r->c = c;
	r->dispatched = done;
	r->dispatched_arg = arg;
	if (c)
		c->req = r;
	if (ver < api->min || ver > api->max) {
		/* ApiVersions answers in version 0 with the versions it
		 * has; the others close the connection, as Kafka does. */
		if (key == KF_API_API_VERSIONS &&
		    (r->resp = kf_struct(&r->ra, &kf_api_versions_response)) &&
		    api_versions(r, r->resp) == 0) {
			r->resp->v[KF_AV_ERROR].i = KF_ERR_UNSUPPORTED_VERSION;
			r->version = 0;
			r->flexible = 0;
			kafka_respond(r);
			return 0;
		}
		klog(ks, KAFKA_LOG_DEBUG,
		     "%s: %s version %d unsupported; closing", r->peer,
		     api->name, ver);
		goto refuse;
	}
	r->flexible = ver >= api->flexible_min;
	rv = kf_decode_header(frame, len, r->flexible, &off, &r->a, &r->h);
	if (rv == KF_OK)
		rv = kf_decode(api->request, ver, r->flexible, frame, len, &off,
			       &r->a, &r->body);
	if (rv != KF_OK) {
		klog(ks, KAFKA_LOG_WARN,
		     "%s: %s v%d does not decode (%s); closing", r->peer,
		     api->name, ver, kf_strerror(rv));
		goto refuse;
	}
	if ((r->resp = kf_struct(&r->ra, api->response)) == NULL)
		goto refuse;
	if (api->handle == NULL) {
		if (api_versions(r, r->resp) != 0)
			goto refuse;
		kafka_respond(r);
		return 0;
	}
	api->handle(r, r->resp);
	return 0;
refuse:
	r->dispatched = NULL;
	r->c = NULL;
	if (c)
		c->req = NULL;
	request_free(r);
	return -1;
}

int kafka_server_dispatch(
    struct kafka_server *ks, const uint8_t *frame, size_t len, const char *peer,
    void (*done)(void *arg, const uint8_t *resp, size_t len), void *arg)
{
	if (ks->closing || len < 8 || len > ks->cfg.max_request_bytes)
		return -1;
	return serve(ks, NULL, frame, len, peer, done, arg);
}

/* Serve the whole frames read, stopping at one that waits. An answer
 * given at once comes back here through deliver(): in_process makes that
 * a no-op, and this loop goes on. */
static void process_frames(struct kconn *c)
{
	struct kafka_server *ks = c->ks;
	size_t pos = 0;
	if (c->in_process)
		return;
	c->in_process = 1;
	while (!c->closing && !c->req && c->len - pos >= 4) {
		const uint8_t *p = c->buf + pos;
		int32_t size =
		    (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			      (uint32_t)p[2] << 8 | p[3]);
		if (size < 8 || (size_t)size > ks->cfg.max_request_bytes) {
			ks->refused_frames++;
			klog(ks, KAFKA_LOG_WARN,
			     "%s: a frame of %d bytes (allowed 8 to %zu); "
			     "closing",
			     c->peer, size, ks->cfg.max_request_bytes);
			kconn_close(c);
			break;
		}
		if (c->len - pos - 4 < (size_t)size)
			break;
		pos += 4 + (size_t)size;
		if (serve(ks, c, p + 4, (size_t)size, NULL, NULL, NULL) != 0) {
			kconn_close(c);
			break;
		}
	}
	c->in_process = 0;
	if (c->closing)
		return;
	if (pos > 0) {
		memmove(c->buf, c->buf + pos, c->len - pos);
		c->len -= pos;
	}
	if (!c->req && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) !=
		    0)
			kconn_close(c);
		else
			c->reading = 1;
	} else if (c->req && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct kconn *c = h->data;
	(void)hint;
	if (c->cap - c->len < 65536) {
		/* Never more than one request and one read ahead. */
		size_t most = c->ks->cfg.max_request_bytes + 4 + 131072;
		size_t cap = c->cap ? c->cap * 2 : 65536;
		uint8_t *p;
		while (cap - c->len < 65536)
			cap *= 2;
		if (cap > most)
			cap = most;
		if (cap <= c->len || (p = realloc(c->buf, cap)) == NULL) {
			b->base = NULL;
			b->len = 0;
			return;
		}
		c->buf = p;
		c->cap = cap;
	}
	b->base = (char *)c->buf + c->len;
	b->len = c->cap - c->len;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct kconn *c = st->data;
	if (n < 0 || (n == 0 && b->base == NULL)) {
		if (n == UV_ENOBUFS)
			klog(c->ks, KAFKA_LOG_WARN,
			     "%s: out of read buffer; closing", c->peer);
		kconn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->active_ms = uv_now(c->ks->cfg.loop);
	process_frames(c);
}

static void on_sweep(uv_timer_t *t);

void kafka_server_on_connection(uv_stream_t *l, int status)
{
	struct kafka_server *ks = l->data;
	struct kconn *c;
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	if (status < 0 || ks->closing)
		return;
	if ((c = calloc(1, sizeof *c)) == NULL) {
		if (ks->accept_later == NULL)
			klog(ks, KAFKA_LOG_WARN,
			     "out of memory for a new connection; it waits "
			     "(tried again every %d ms)",
			     KAFKA_ACCEPT_RETRY_MS);
		ks->accept_later = l;
		uv_timer_start(&ks->sweep, on_sweep, KAFKA_ACCEPT_RETRY_MS,
			       10000);
		return;
	}
	ks->accept_later = NULL;
	uv_tcp_init(ks->cfg.loop, &c->tcp);
	c->tcp.data = c;
	c->ks = ks;
	c->closing = 1; /* not listed until accepted */
	ks->n_conns++;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
	    ks->n_conns > ks->cfg.max_connections) {
		uv_close((uv_handle_t *)&c->tcp, free_conn);
		return;
	}
	c->closing = 0;
	snprintf(c->peer, sizeof c->peer, "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
		(void)uv_ip_name((struct sockaddr *)&ss, c->peer,
				 sizeof c->peer);
	c->active_ms = uv_now(ks->cfg.loop);
	c->next = ks->conns;
	if (ks->conns)
		ks->conns->prev = c;
	ks->conns = c;
	uv_tcp_nodelay(&c->tcp, 1);
	process_frames(c); /* starts reading */
}

/* Close the connections idle past idle_ms, then offer again a connection
 * that found no memory. */
static void on_sweep(uv_timer_t *t)
{
	struct kafka_server *ks = t->data;
	uint64_t now = uv_now(ks->cfg.loop);
	for (struct kconn *c = ks->conns, *next; c; c = next) {
		next = c->next;
		if (!c->req && now - c->active_ms >= ks->cfg.idle_ms)
			kconn_close(c);
	}
	if (ks->accept_later != NULL)
		kafka_server_on_connection(ks->accept_later, 0);
}

int kafka_server_new(const struct kafka_server_config *cfg,
		     struct kafka_server **out)
{
	struct kafka_server *ks = calloc(1, sizeof *ks);
	if (ks == NULL)
		return -1;
	ks->cfg = *cfg;
	if (ks->cfg.max_connections == 0)
		ks->cfg.max_connections = 1024;
	if (ks->cfg.idle_ms == 0)
		ks->cfg.idle_ms = 600000;
	uv_timer_init(cfg->loop, &ks->sweep);
	ks->sweep.data = ks;
	uv_timer_start(&ks->sweep, on_sweep, 10000, 10000);
	uv_unref((uv_handle_t *)&ks->sweep);
	*out = ks;
	return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct kafka_server *ks = h->data;
	ks->timer_closed = 1;
	maybe_free(ks);
}

void kafka_server_close(struct kafka_server *ks)
{
	struct kafka_request *r, *next;
	ks->closing = 1;
	while (ks->conns)
		kconn_close(ks->conns);
	for (r = ks->waiting; r; r = next) {
		next = r->next_waiting;
		if (r->cancel)
			r->cancel(r); /* answers: r is freed */
	}
	uv_close((uv_handle_t *)&ks->sweep, on_timer_closed);
}

void kafka_server_stats(const struct kafka_server *ks,
			struct kafka_server_stats *st)
{
	st->connections = ks->n_conns;
	st->requests = ks->requests;
	st->refused_frames = ks->refused_frames;
	st->waiting = ks->n_waiting;
}
