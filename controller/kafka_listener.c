/* controller/kafka_listener.c - the Kafka-protocol listener (see
 * kafka_listener.h).
 *
 * A request is decoded on the loop. ApiVersions is answered at once. A
 * Metadata answer is a job: the node's brokers in one turn, then the
 * partitions KAFKA_SLICE at a time per loop turn (a million partitions
 * never stall the loop), then the encoding on the thread pool. Meanwhile
 * the connection reads nothing more: Kafka answers a connection's
 * requests in order. */
#include "kafka_listener.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "kafka_apis.h"
#include "log.h"
#include "module.h"
#include "server_int.h"
#include "store.h"

#define KAFKA_MAX_CONNS 1024
#define KAFKA_IDLE_MS 600000 /* Kafka's connections.max.idle.ms */
/* A request's decoded values may take this many times its size. */
#define KAFKA_ARENA_FACTOR 16
/* The most an answer may take while it is built (a Metadata answer of a
 * million partitions takes a few hundred MiB of values). */
#define KAFKA_RESPONSE_BUDGET (1ull << 30)
/* Partitions read from the store per loop turn. */
#define KAFKA_SLICE 2048

struct kafka;
struct kjob;

struct kconn {
	struct kafka *k;
	struct kconn *next, *prev;
	uv_tcp_t tcp;
	uint8_t *buf; /* bytes read, not yet a whole frame */
	size_t len, cap;
	uint64_t active_ms;
	int closing;
	struct kjob *job; /* an answer being built: read nothing more */
	int reading;
	char peer[64];
};

struct kafka {
	struct server *s;
	uv_tcp_t listener;
	uv_timer_t sweep;
	uv_idle_t idle; /* runs the jobs' slices */
	struct kconn *conns;
	unsigned n_conns;
	struct kjob *jobs; /* waiting for a slice */
	unsigned n_jobs;   /* alive (queued, or encoding on the pool) */
	int handles, closing;
	size_t max_request;
	uint64_t requests, refused_frames;
};

struct kwrite {
	uv_write_t req;
	struct kf_buf b;
};

/* ---- the API table ---- */

struct kreq {
	struct kafka *k;
	struct kf_request_header h;
	struct kf_val body;
	struct kf_arena *a; /* the answer's (the request's is bounded) */
	int flexible;
};

/* Fill resp (a struct of the API's response schema) at once: 0, or -1
 * (out of memory: the connection is closed, never answered in part). */
typedef int (*kafka_handler)(struct kreq *r, struct kf_val *resp);

struct kafka_api {
	int16_t key;
	const char *name;
	int16_t min, max, flexible_min;
	const struct kf_schema *request, *response;
	kafka_handler handle; /* NULL: a job (Metadata) */
};

static int handle_api_versions(struct kreq *r, struct kf_val *resp);

static const struct kafka_api apis[] = {
    {KF_API_METADATA, "Metadata", 0, 12, 9, &kf_metadata_request,
     &kf_metadata_response, NULL},
    {KF_API_API_VERSIONS, "ApiVersions", 0, 3, 3, &kf_api_versions_request,
     &kf_api_versions_response, handle_api_versions},
};
#define N_APIS (sizeof apis / sizeof apis[0])

static const struct kafka_api *find_api(int16_t key)
{
	for (size_t i = 0; i < N_APIS; i++)
		if (apis[i].key == key)
			return &apis[i];
	return NULL;
}

static int handle_api_versions(struct kreq *r, struct kf_val *resp)
{
	struct kf_val *keys = &resp->v[KF_AV_API_KEYS];
	if (kf_array(r->a, keys, N_APIS) != 0)
		return -1;
	for (size_t i = 0; i < N_APIS; i++) {
		struct kf_val *e = kf_struct(r->a, &kf_api_version);
		if (e == NULL)
			return -1;
		e->v[KF_AVK_KEY].i = apis[i].key;
		e->v[KF_AVK_MIN].i = apis[i].min;
		e->v[KF_AVK_MAX].i = apis[i].max;
		keys->v[i] = *e;
	}
	return 0;
}

/* ---- Metadata: this node's store, as a broker's metadata cache ---- */

struct named {
	struct store_topic t;
};

struct kjob {
	struct kjob *next;
	struct kafka *k;
	struct kconn *c; /* NULL once the connection closed */
	struct kf_arena a, ra;
	struct kreq r;
	const struct kafka_api *api;
	int16_t version;
	int32_t corr;
	struct kf_val *resp;
	struct store *st;
	int32_t *live; /* the brokers listed, sorted */
	size_t n_live;
	size_t cap_topics, cap_brokers;
	/* the walk: every topic, or the named ones */
	int all;
	struct named *want;
	size_t n_want, at;
	struct store_pkey cursor;
	int64_t cur_tid; /* the topic being filled (0: none yet) */
	size_t cur_idx, cur_cap;
	unsigned seen; /* partitions this slice */
	int failed, done;
	uv_work_t work;
	struct kf_buf out;
};

static int grow(struct kf_arena *a, struct kf_val *arr, size_t *cap,
		size_t want)
{
	struct kf_val *v;
	size_t c = *cap ? *cap : 16;
	if (want <= *cap)
		return 0;
	while (c < want)
		c *= 2;
	if ((v = kf_alloc(a, c * sizeof *v)) == NULL)
		return -1;
	if (arr->n)
		memcpy(v, arr->v, arr->n * sizeof *v);
	arr->v = v;
	*cap = c;
	return 0;
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return x < y ? -1 : x > y;
}

static int md_broker(void *arg, const struct store_broker *b)
{
	struct kjob *j = arg;
	struct kf_val *arr = &j->resp->v[KF_MD_BROKERS], *e;
	if (b->fenced || b->shutting_down || b->n_endpoints == 0)
		return 0; /* Kafka lists the live brokers only */
	if (j->n_live % 64 == 0) {
		int32_t *l = realloc(j->live, (j->n_live + 64) * sizeof *l);
		if (l == NULL) {
			j->failed = 1;
			return -1;
		}
		j->live = l;
	}
	if (grow(&j->ra, arr, &j->cap_brokers, arr->n + 1) != 0 ||
	    (e = kf_struct(&j->ra, &kf_metadata_broker)) == NULL ||
	    kf_string(&j->ra, &e->v[KF_MDB_HOST], b->endpoints[0].host) != 0 ||
	    kf_string(&j->ra, &e->v[KF_MDB_RACK],
		      b->has_rack ? b->rack : NULL) != 0) {
		j->failed = 1;
		return -1;
	}
	e->v[KF_MDB_NODE_ID].i = b->id;
	e->v[KF_MDB_PORT].i = b->endpoints[0].port;
	arr->v[arr->n++] = *e;
	j->live[j->n_live++] = b->id;
	return 0;
}

static int is_live(const struct kjob *j, int32_t id)
{
	return bsearch(&id, j->live, j->n_live, sizeof *j->live, cmp_i32) !=
	       NULL;
}

static int ids(struct kf_arena *a, struct kf_val *arr, const int32_t *v,
	       size_t n)
{
	if (kf_array(a, arr, n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		arr->v[i].i = v[i];
	return 0;
}

/* A topic entry (t NULL: unknown, named name or id); its index. */
static int add_topic(struct kjob *j, const struct store_topic *t,
		     const char *name, const uint8_t *id, int error)
{
	struct kf_val *arr = &j->resp->v[KF_MD_TOPICS], *e;
	if (grow(&j->ra, arr, &j->cap_topics, arr->n + 1) != 0 ||
	    (e = kf_struct(&j->ra, &kf_metadata_topic)) == NULL ||
	    kf_string(&j->ra, &e->v[KF_MDT_NAME], t ? t->name : name) != 0) {
		j->failed = 1;
		return -1;
	}
	e->v[KF_MDT_ERROR].i = error;
	if (t || id)
		memcpy(e->v[KF_MDT_ID].uuid, t ? t->topic_id : id, 16);
	arr->v[arr->n++] = *e;
	return 0;
}

static int md_partition(void *arg, const struct store_topic *t,
			const struct store_partition *p)
{
	struct kjob *j = arg;
	struct kf_val *parts, *e;
	int32_t offline[STORE_MAX_REPLICAS];
	size_t n_off = 0;
	if (!j->all && t->tid != j->want[j->at].t.tid)
		return 1; /* past the named topic */
	if (t->tid != j->cur_tid) {
		if (add_topic(j, t, NULL, NULL, KF_ERR_NONE) != 0)
			return -1;
		j->cur_tid = t->tid;
		j->cur_idx = j->resp->v[KF_MD_TOPICS].n - 1;
		j->cur_cap = 0;
	}
	parts = &j->resp->v[KF_MD_TOPICS].v[j->cur_idx].v[KF_MDT_PARTITIONS];
	if (grow(&j->ra, parts, &j->cur_cap, parts->n + 1) != 0 ||
	    (e = kf_struct(&j->ra, &kf_metadata_partition)) == NULL) {
		j->failed = 1;
		return -1;
	}
	for (uint32_t i = 0; i < p->n_replicas; i++)
		if (!is_live(j, p->replicas[i]))
			offline[n_off++] = p->replicas[i];
	e->v[KF_MDP_ERROR].i =
	    p->leader < 0 ? KF_ERR_LEADER_NOT_AVAILABLE : KF_ERR_NONE;
	e->v[KF_MDP_INDEX].i = p->partition;
	e->v[KF_MDP_LEADER].i = p->leader;
	e->v[KF_MDP_EPOCH].i = p->leader_epoch;
	if (ids(&j->ra, &e->v[KF_MDP_REPLICAS], p->replicas, p->n_replicas) ||
	    ids(&j->ra, &e->v[KF_MDP_ISR], p->isr, p->n_isr) ||
	    ids(&j->ra, &e->v[KF_MDP_OFFLINE], offline, n_off)) {
		j->failed = 1;
		return -1;
	}
	parts->v[parts->n++] = *e;
	j->seen++;
	return 0;
}

/* The first step, at once: the brokers, the cluster, which topics. */
static int md_begin(struct kjob *j)
{
	struct server *s = j->k->s;
	const struct kf_val *want = &j->r.body.v[KF_MDQ_TOPICS];
	j->st = s->node->fsm.store;
	if (kf_string(&j->ra, &j->resp->v[KF_MD_CLUSTER_ID],
		      s->node->cfg->cluster_id) != 0)
		return -1;
	/* No broker routes admin requests yet (docs/kafka.md). */
	j->resp->v[KF_MD_CONTROLLER_ID].i = -1;
	if (store_broker_list(j->st, md_broker, j) != 0 || j->failed)
		return -1;
	if (j->n_live > 1)
		qsort(j->live, j->n_live, sizeof *j->live, cmp_i32);
	/* Version 0: an empty list means every topic; from 1, null does
	 * and an empty list means none. */
	if (want->null || (j->version == 0 && want->n == 0)) {
		j->all = 1;
		j->cursor.tid = 0;
		j->cursor.partition = -1;
		return 0;
	}
	j->want = calloc(want->n + 1, sizeof *j->want);
	if (j->want == NULL)
		return -1;
	for (size_t i = 0; i < want->n; i++) {
		const struct kf_val *q = &want->v[i];
		const struct kf_val *name = &q->v[KF_MDQT_NAME];
		struct store_topic t;
		int found =
		    !name->null
			? store_topic_get(j->st, name->p, &t) == STORE_OK
			: store_topic_get_by_id(j->st, q->v[KF_MDQT_ID].uuid,
						&t) == STORE_OK;
		if (found)
			j->want[j->n_want++].t = t;
		else if (add_topic(j, NULL, name->null ? NULL : name->p,
				   name->null ? q->v[KF_MDQT_ID].uuid : NULL,
				   name->null
				       ? KF_ERR_UNKNOWN_TOPIC_ID
				       : KF_ERR_UNKNOWN_TOPIC_OR_PARTITION) !=
			 0)
			return -1;
	}
	if (j->n_want > 0) {
		j->cursor.tid = j->want[0].t.tid;
		j->cursor.partition = -1;
	}
	return 0;
}

/* One slice of the walk; sets j->done at its end. */
static void md_slice(struct kjob *j)
{
	j->seen = 0;
	while (!j->done && !j->failed && j->seen < KAFKA_SLICE) {
		unsigned limit = KAFKA_SLICE - j->seen, n = 0;
		int rv;
		if (!j->all && j->at >= j->n_want) {
			j->done = 1;
			break;
		}
		rv = store_partitions_page(j->st, &j->cursor, limit, &n,
					   md_partition, j);
		/* 1: md_partition stopped at the next topic; other codes
		 * are the store's errors. */
		if (j->failed || (rv != 0 && rv != 1)) {
			j->failed = 1;
			break;
		}
		if (j->all) {
			if (n < limit) /* the table ended */
				j->done = 1;
			continue;
		}
		/* A named topic: the walk reached the next topic, or the
		 * table ended: on to the next name. */
		if (rv == 1 || n < limit) {
			if (j->cur_tid != j->want[j->at].t.tid && /* empty */
			    add_topic(j, &j->want[j->at].t, NULL, NULL,
				      KF_ERR_NONE) != 0)
				break;
			j->at++;
			j->cur_tid = 0;
			if (j->at < j->n_want) {
				j->cursor.tid = j->want[j->at].t.tid;
				j->cursor.partition = -1;
			}
		}
	}
}

/* ---- connections ---- */

static void process_frames(struct kconn *c);

static void free_conn(uv_handle_t *h)
{
	struct kconn *c = h->data;
	free(c->buf);
	free(c);
}

static void kconn_close(struct kconn *c)
{
	struct kafka *k = c->k;
	if (c->closing)
		return;
	c->closing = 1;
	if (c->job) {
		c->job->c = NULL; /* its answer goes nowhere */
		c->job = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		k->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	k->n_conns--;
	uv_close((uv_handle_t *)&c->tcp, free_conn);
}

static void on_written(uv_write_t *req, int status)
{
	struct kwrite *w = (struct kwrite *)req;
	(void)status;
	kf_buf_free(&w->b);
	free(w);
}

static void send_frame(struct kconn *c, struct kf_buf *b)
{
	struct kwrite *w;
	uv_buf_t ub;
	uint32_t n = (uint32_t)(b->len - 4);
	if (b->failed || (w = malloc(sizeof *w)) == NULL) {
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

/* ---- jobs ---- */

static void maybe_free_kafka(struct kafka *k)
{
	if (k->closing && k->handles == 0 && k->n_jobs == 0)
		free(k);
}

static void job_free(struct kjob *j)
{
	struct kafka *k = j->k;
	if (j->c)
		j->c->job = NULL;
	kf_arena_free(&j->a);
	kf_arena_free(&j->ra);
	kf_buf_free(&j->out);
	free(j->live);
	free(j->want);
	free(j);
	k->n_jobs--;
	maybe_free_kafka(k);
}

static void work_encode(uv_work_t *w)
{
	struct kjob *j = w->data;
	kf_put_i32(&j->out, 0); /* the size, filled in by send_frame */
	kf_encode_response_header(&j->out, j->corr, j->r.flexible);
	kf_encode(j->api->response, j->version, j->r.flexible, j->resp,
		  &j->out);
	/* The values are done with: freed here, off the loop. */
	kf_arena_free(&j->ra);
}

static void after_encode(uv_work_t *w, int status)
{
	struct kjob *j = w->data;
	struct kconn *c = j->c;
	(void)status;
	if (c && !c->closing) {
		c->job = NULL;
		send_frame(c, &j->out);
		if (!c->closing)
			process_frames(c); /* what came meanwhile, then read */
	}
	j->c = NULL;
	job_free(j);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b);

static void resume_reading(struct kconn *c)
{
	if (c->closing || c->reading)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		kconn_close(c);
	else
		c->reading = 1;
}

static void on_idle(uv_idle_t *idle)
{
	struct kafka *k = idle->data;
	struct kjob *queue = k->jobs, *next;
	k->jobs = NULL;
	for (struct kjob *j = queue; j; j = next) {
		next = j->next;
		if (j->c == NULL) { /* its connection closed */
			job_free(j);
			continue;
		}
		md_slice(j);
		if (j->failed) {
			log_warn("kafka %s: Metadata: out of memory building "
				 "the answer; closing",
				 j->c->peer);
			kconn_close(j->c);
			job_free(j);
			continue;
		}
		if (!j->done) {
			j->next = k->jobs;
			k->jobs = j;
			continue;
		}
		j->work.data = j;
		if (uv_queue_work(k->s->loop, &j->work, work_encode,
				  after_encode) != 0) {
			kconn_close(j->c);
			job_free(j);
		}
	}
	if (k->jobs == NULL)
		uv_idle_stop(idle);
}

/* ---- requests ---- */

/* One whole request frame (its bytes after the size). 0, or -1 to close
 * the connection. */
static int on_request(struct kconn *c, const uint8_t *frame, size_t len)
{
	struct kafka *k = c->k;
	const struct kafka_api *api;
	struct kjob *j;
	struct kf_val *resp;
	size_t off = 0;
	int16_t key, ver;
	int32_t corr;
	int rv;
	k->requests++;
	if (kf_peek_header(frame, len, &key, &ver, &corr) != KF_OK)
		return -1;
	api = find_api(key);
	if (api == NULL) {
		log_debug("kafka %s: api key %d unknown; closing", c->peer,
			  key);
		return -1;
	}
	if ((j = calloc(1, sizeof *j)) == NULL)
		return -1;
	k->n_jobs++;
	j->k = k;
	j->api = api;
	j->version = ver;
	j->corr = corr;
	kf_arena_init(&j->a, len * KAFKA_ARENA_FACTOR + (1u << 20));
	kf_arena_init(&j->ra, KAFKA_RESPONSE_BUDGET);
	j->r.k = k;
	j->r.a = &j->ra;
	if (ver < api->min || ver > api->max) {
		/* ApiVersions answers in version 0 with the versions it
		 * has; the others close the connection, as Kafka does. */
		rv = -1;
		if (key == KF_API_API_VERSIONS &&
		    (resp = kf_struct(&j->ra, &kf_api_versions_response)) &&
		    handle_api_versions(&j->r, resp) == 0) {
			resp->v[KF_AV_ERROR].i = KF_ERR_UNSUPPORTED_VERSION;
			kf_put_i32(&j->out, 0);
			kf_encode_response_header(&j->out, corr, 0);
			kf_encode(&kf_api_versions_response, 0, 0, resp,
				  &j->out);
			send_frame(c, &j->out);
			rv = 0;
		} else {
			log_debug("kafka %s: %s version %d unsupported; "
				  "closing",
				  c->peer, api->name, ver);
		}
		job_free(j);
		return rv;
	}
	j->r.flexible = ver >= api->flexible_min;
	rv = kf_decode_header(frame, len, j->r.flexible, &off, &j->a, &j->r.h);
	if (rv == KF_OK)
		rv = kf_decode(api->request, ver, j->r.flexible, frame, len,
			       &off, &j->a, &j->r.body);
	if (rv != KF_OK) {
		log_warn("kafka %s: %s v%d does not decode (%s); closing",
			 c->peer, api->name, ver, kf_strerror(rv));
		job_free(j);
		return -1;
	}
	resp = j->resp = kf_struct(&j->ra, api->response);
	if (resp == NULL) {
		job_free(j);
		return -1;
	}
	if (api->handle) { /* at once */
		if (api->handle(&j->r, resp) != 0) {
			job_free(j);
			return -1;
		}
		kf_put_i32(&j->out, 0);
		kf_encode_response_header(
		    &j->out, corr, j->r.flexible && key != KF_API_API_VERSIONS);
		kf_encode(api->response, ver, j->r.flexible, resp, &j->out);
		send_frame(c, &j->out);
		job_free(j);
		return 0;
	}
	/* Metadata: a job; this connection waits for it. */
	if (md_begin(j) != 0) {
		log_warn("kafka %s: Metadata: out of memory; closing", c->peer);
		job_free(j);
		return -1;
	}
	j->c = c;
	c->job = j;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = 0;
	j->next = k->jobs;
	k->jobs = j;
	uv_idle_start(&k->idle, on_idle);
	return 0;
}

/* Answer the whole frames read (stopping at a job's). */
static void process_frames(struct kconn *c)
{
	struct kafka *k = c->k;
	size_t pos = 0;
	while (!c->closing && !c->job && c->len - pos >= 4) {
		const uint8_t *p = c->buf + pos;
		int32_t size =
		    (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			      (uint32_t)p[2] << 8 | p[3]);
		if (size < 8 || (size_t)size > k->max_request) {
			k->refused_frames++;
			log_warn("kafka %s: a frame of %d bytes (allowed 8 to "
				 "%zu, kafka_max_request_bytes); closing",
				 c->peer, size, k->max_request);
			kconn_close(c);
			return;
		}
		if (c->len - pos - 4 < (size_t)size)
			break;
		if (on_request(c, p + 4, (size_t)size) != 0) {
			kconn_close(c);
			return;
		}
		pos += 4 + (size_t)size;
	}
	if (pos > 0 && !c->closing) {
		memmove(c->buf, c->buf + pos, c->len - pos);
		c->len -= pos;
	}
	if (!c->closing && !c->job)
		resume_reading(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct kconn *c = h->data;
	(void)hint;
	if (c->cap - c->len < 65536) {
		size_t cap = c->cap ? c->cap * 2 : 65536;
		uint8_t *p;
		while (cap - c->len < 65536)
			cap *= 2;
		/* Never more than one request and one read ahead. */
		if (cap > c->k->max_request + 4 + 131072 ||
		    (p = realloc(c->buf, cap)) == NULL) {
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
			log_warn("kafka %s: out of read buffer; closing",
				 c->peer);
		kconn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->active_ms = uv_now(c->k->s->loop);
	process_frames(c);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct kafka *k = l->data;
	struct kconn *c;
	struct sockaddr_storage ss;
	int sl = sizeof ss;
	if (status < 0 || k->closing || (c = calloc(1, sizeof *c)) == NULL)
		return;
	uv_tcp_init(k->s->loop, &c->tcp);
	c->tcp.data = c;
	c->k = k;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
	    k->n_conns >= KAFKA_MAX_CONNS) {
		uv_close((uv_handle_t *)&c->tcp, free_conn);
		return;
	}
	snprintf(c->peer, sizeof c->peer, "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
		(void)uv_ip_name((struct sockaddr *)&ss, c->peer,
				 sizeof c->peer);
	c->active_ms = uv_now(k->s->loop);
	c->next = k->conns;
	if (k->conns)
		k->conns->prev = c;
	k->conns = c;
	k->n_conns++;
	uv_tcp_nodelay(&c->tcp, 1);
	resume_reading(c);
}

static void on_sweep(uv_timer_t *t)
{
	struct kafka *k = t->data;
	uint64_t now = uv_now(k->s->loop);
	for (struct kconn *c = k->conns, *next; c; c = next) {
		next = c->next;
		if (!c->job && now - c->active_ms >= KAFKA_IDLE_MS)
			kconn_close(c);
	}
}

/* ---- the module ---- */

static void on_handle_closed(uv_handle_t *h)
{
	struct kafka *k = h->data;
	k->handles--;
	maybe_free_kafka(k);
}

static void mod_close(void *self)
{
	struct kafka *k = self;
	k->closing = 1;
	while (k->conns)
		kconn_close(k->conns);
	while (k->jobs) { /* queued (those on the pool free themselves) */
		struct kjob *j = k->jobs;
		k->jobs = j->next;
		job_free(j);
	}
	uv_close((uv_handle_t *)&k->listener, on_handle_closed);
	uv_close((uv_handle_t *)&k->sweep, on_handle_closed);
	uv_close((uv_handle_t *)&k->idle, on_handle_closed);
}

int kafka_start(struct server *s, const char *address)
{
	struct kafka *k;
	struct module m;
	if (s->tls) {
		snprintf(s->errmsg, sizeof s->errmsg,
			 "kafka_address: the Kafka port has no TLS yet; a "
			 "node with TLS cannot open it (docs/kafka.md)");
		return -1;
	}
	if ((k = calloc(1, sizeof *k)) == NULL) {
		snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
		return -1;
	}
	k->s = s;
	k->max_request = s->node->cfg->kafka_max_request_bytes;
	uv_tcp_init(s->loop, &k->listener);
	k->listener.data = k;
	uv_timer_init(s->loop, &k->sweep);
	k->sweep.data = k;
	uv_idle_init(s->loop, &k->idle);
	k->idle.data = k;
	k->handles = 3;
	if (srv_tcp_listen(s, &k->listener, "kafka_address", address, 128,
			   on_connection) != 0) {
		k->closing = 1;
		uv_close((uv_handle_t *)&k->listener, on_handle_closed);
		uv_close((uv_handle_t *)&k->sweep, on_handle_closed);
		uv_close((uv_handle_t *)&k->idle, on_handle_closed);
		return -1;
	}
	uv_timer_start(&k->sweep, on_sweep, 10000, 10000);
	{
		char where[80];
		srv_bound_name(&k->listener, where, sizeof where);
		log_info("kafka: serving ApiVersions and Metadata on %s",
			 where);
	}
	memset(&m, 0, sizeof m);
	m.name = "kafka";
	m.self = k;
	m.close = mod_close;
	if (server_register(s, &m) != 0) {
		mod_close(k);
		return -1;
	}
	return 0;
}
