/* controller/http_api.c - the JSON API, GET /v1/... (docs/operations.md
 * "JSON API").
 *
 * Each endpoint is one request of the client protocol, run through the
 * server's registry as an internal call (srv_call): the same handlers,
 * checks and answers as a client's, encoded by net/json_answers.c, the
 * encoder `synodctl --json` prints with. Where it runs:
 *
 * - on the active controller: the handler's linearizable read (barrier);
 * - on another node, for reads of the replicated state (brokers, topics,
 *   partitions, configs) without ?linearizable=1: this node's own store,
 *   saying in headers which leader it trails and by how much;
 * - otherwise (groups, whose state lives in the active controller's
 *   memory, or ?linearizable=1): forwarded to the active controller over
 *   the client protocol (synod_client), as a client would.
 *
 * Paged answers (topics, partitions) take one page per loop turn; the
 * merge and the JSON of the whole answer are built on the thread pool, so
 * an answer of a million partitions never stalls the loop for long.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <malloc.h>

#include "forward.h"
#include "http_int.h"
#include "json_answers.h"
#include "log.h"
#include "node.h"
#include "synod/client.h"
#include "workgate.h"

#define PROBE_TIMEOUT_MS 500 /* a quorum probe of one node */

enum ep {
	EP_QUORUM,
	EP_BROKERS,
	EP_BROKER,
	EP_TOPICS,
	EP_TOPIC,
	EP_PARTITIONS,
	EP_CONFIGS,
	EP_GROUPS,
	EP_GROUP,
	EP_QUERY,
};

enum where { W_ACTIVE, W_LOCAL, W_FORWARD };

struct probe {
	struct hop *op;
	struct synod_client *c;
	int done, rv;
	Synod__Wire__NodeStatusResponse *resp;
};

struct hop {
	struct http *h;
	struct hconn *c; /* NULL once the connection closed */
	struct hop *next;
	int queued;
	enum ep ep;
	int head;
	int linearizable;
	enum where where;
	int forwarded_once;
	uint16_t api;
	const ProtobufCMessageDescriptor *resp_desc;
	ProtobufCMessage *req; /* one of these: */
	Synod__Wire__BrokerListRequest blr;
	Synod__Wire__DescribeTopicsRequest dtr;
	Synod__Wire__ConfigListRequest clr;
	Synod__Wire__GroupListRequest glr;
	Synod__Wire__GroupDescribeRequest gdr;
	Synod__Wire__QueryRequest qr;
	ProtobufCMessage *qresp; /* the QUERY answer, JSON made off the loop */
	char *sql;
	char *names[1];
	uint8_t cursor[64];
	char arg[256]; /* the path's name or id */
	/* in flight */
	struct sconn *call;
	int waiting; /* an answer is awaited (internal or forwarded) */
	/* the answer: its bytes, or a client error */
	uint8_t *ans;
	size_t ans_len;
	int ans_rv;
	/* DESCRIBE_TOPICS pages, packed: decoded, merged and printed on the
	 * thread pool. An internal answer's status and cursor are read from
	 * the message itself (has_meta), a forwarded one's decoded here. */
	struct raw_page {
		uint8_t *p;
		size_t n;
	} * raw;
	size_t n_raw;
	int has_meta, meta_code, meta_more;
	char meta_msg[256];
	struct ja_described pages;
	/* /v1/quorum */
	int with_digest;
	Synod__Wire__MetadataResponse *md;
	struct probe *probes;
	size_t n_probes, probes_left;
	/* off the loop */
	struct workgate_req work; /* the JSON, off the loop (workgate.h) */
	int working;
	char *out;
	size_t out_len;
	char extra[512];
};

/* ---- answers ---- */

static int http_code_of(int code)
{
	switch (code) {
	case SYNOD_EUNKNOWN_TOPIC:
	case SYNOD_EUNKNOWN_BROKER:
	case SYNOD_EGROUP_ID_NOT_FOUND:
		return 404;
	case SYNOD_EINVALID_ARGUMENT:
	case SYNOD_EINVALID_REQUEST:
		return 400;
	case SYNOD_EAUTHORIZATION_FAILED:
		return 403;
	case SYNOD_ENOT_CONTROLLER:
	case SYNOD_EUNAVAILABLE:
	case SYNOD_ETIMEOUT:
	case SYNOD_ECONNECTION:
	case SYNOD_EBUSY:
		return 503;
	default:
		return 500;
	}
}

static const char *reason_of(int http)
{
	switch (http) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

/* Send j (taken) as the answer, with the op's headers. */
static void answer_json(struct hop *op, int http, json_t *j)
{
	char *text =
	    j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	size_t len;
	json_decref(j);
	if (op->c == NULL) {
		free(text);
		return;
	}
	if (text == NULL) {
		static const char oom[] = "{\"error\": \"out of memory\"}\n";
		http_respond(op->c, 500, reason_of(500), "application/json",
			     op->extra, oom, sizeof oom - 1, op->head);
		return;
	}
	len = strlen(text);
	text[len] = '\n'; /* json_dumps' NUL becomes the final newline */
	http_respond_owned(op->c, http, reason_of(http), "application/json",
			   op->extra, text, len + 1, op->head);
}

static void answer_error(struct hop *op, int code, const char *msg)
{
	answer_json(op, http_code_of(code), ja_error(code, msg));
}

/* Headers saying where the answer came from: this node, and for a read
 * of its own store, the leader it trails and by how much. */
static void set_headers(struct hop *op)
{
	struct node *n = op->h->s->node;
	size_t o;
	o = (size_t)snprintf(op->extra, sizeof op->extra,
			     "X-Synod-Node: %llu\r\nX-Synod-Read: %s\r\n",
			     (unsigned long long)n->cfg->node_id,
			     op->where == W_LOCAL ? "local"
			     : op->where == W_FORWARD
				 ? "forwarded to the active controller"
				 : "linearizable");
	if (op->where == W_LOCAL && o < sizeof op->extra) {
		char addr[SYNOD_ADDR_MAX];
		uint64_t leader = 0;
		uint64_t commit = raft_commit_index(&n->raft);
		uint64_t applied = raft_last_applied(&n->raft);
		node_leader(n, &leader, addr, sizeof addr);
		snprintf(
		    op->extra + o, sizeof op->extra - o,
		    "X-Synod-Leader: %llu\r\nX-Synod-Applied-Index: "
		    "%llu\r\nX-Synod-Lag-Entries: %llu\r\n"
		    "X-Synod-Last-Contact-Ms: %lld\r\n",
		    (unsigned long long)leader, (unsigned long long)applied,
		    (unsigned long long)(commit > applied ? commit - applied
							  : 0),
		    (long long)node_last_contact_ms(n));
	}
}

/* ---- the op's life ---- */

static void op_free(struct hop *op)
{
	struct http *h = op->h;
	if (op->call)
		srv_call_release(op->call);
	free(op->ans);
	for (size_t i = 0; i < op->n_raw; i++)
		free(op->raw[i].p);
	free(op->raw);
	ja_described_free(&op->pages);
	if (op->md)
		synod__wire__metadata_response__free_unpacked(op->md, NULL);
	for (size_t i = 0; i < op->n_probes; i++)
		if (op->probes[i].resp)
			synod__wire__node_status_response__free_unpacked(
			    op->probes[i].resp, NULL);
	free(op->probes);
	http_free_big(h->s->loop, op->out, op->out_len);
	free(op->sql);
	if (op->qresp)
		protobuf_c_message_free_unpacked(op->qresp, NULL);
	if (op->c)
		op->c->op = NULL;
	free(op);
	h->ops--;
	http_maybe_free(h);
}

/* Nothing waits for op any more: free it. */
static void op_done(struct hop *op)
{
	if (op->waiting || op->working || op->probes_left || op->queued)
		return;
	op_free(op);
}

static void enqueue(struct hop *op)
{
	struct http *h = op->h;
	op->queued = 1;
	op->next = NULL;
	if (h->ready_tail)
		h->ready_tail->next = op;
	else
		h->ready_head = op;
	h->ready_tail = op;
	uv_idle_start(&h->idle, http_api_on_idle);
}

/* A page's status and cursor (the next request's). */
static void page_meta(struct hop *op,
		      const Synod__Wire__DescribeTopicsResponse *r)
{
	op->has_meta = 1;
	op->meta_code = r->status ? r->status->code : SYNOD_EUNKNOWN;
	snprintf(op->meta_msg, sizeof op->meta_msg, "%s",
		 r->status && r->status->message ? r->status->message : "");
	op->meta_more = 0;
	if (r->has_next_cursor && r->next_cursor.len > 0 &&
	    r->next_cursor.len <= sizeof op->cursor) {
		memcpy(op->cursor, r->next_cursor.data, r->next_cursor.len);
		op->dtr.cursor.len = r->next_cursor.len;
		op->meta_more = 1;
	}
}

static void on_internal_answer(void *arg, const struct frame_header *fh,
			       const ProtobufCMessage *resp)
{
	struct hop *op = arg;
	size_t len = protobuf_c_message_get_packed_size(resp);
	(void)fh;
	op->waiting = 0;
	op->has_meta = 0;
	if (resp->descriptor ==
	    &synod__wire__describe_topics_response__descriptor) {
		/* A page: its status and cursor now, the rest on the pool. */
		page_meta(op, (const void *)resp);
	}
	op->ans = malloc(len ? len : 1);
	op->ans_len = len;
	op->ans_rv = op->ans ? SYNOD_OK : SYNOD_EUNKNOWN;
	if (op->ans)
		protobuf_c_message_pack(resp, op->ans);
	/* Perhaps inside srv_call (a local read): go on next turn. */
	enqueue(op);
}

static void on_forward_answer(void *arg, int status, const uint8_t *body,
			      size_t len)
{
	struct hop *op = arg;
	op->waiting = 0;
	op->ans_rv = status;
	if (status == SYNOD_OK) {
		op->ans = malloc(len ? len : 1);
		op->ans_len = len;
		if (op->ans == NULL)
			op->ans_rv = SYNOD_EUNKNOWN;
		else if (len)
			memcpy(op->ans, body, len);
	}
	enqueue(op);
}

/* Send the op's request where it goes. On a failure it answers the error
 * and leaves op to the caller's op_done (the caller may still hold it:
 * step() after retry_forwarded or describe_page). */
static void send_request(struct hop *op)
{
	char err[256] = "out of memory";
	op->waiting = 1;
	if (op->where != W_FORWARD) {
		op->call =
		    srv_call(op->h->s, op->api, op->req, op->where == W_LOCAL,
			     on_internal_answer, op);
		if (op->call == NULL) {
			op->waiting = 0;
			answer_error(op, SYNOD_EUNKNOWN, err);
		}
		return;
	}
	{
		struct synod_client *fwd =
		    forwarder_client(&op->h->fwd, err, sizeof err);
		if (fwd == NULL ||
		    synod_client_send(fwd, op->api, op->req, 1,
				      on_forward_answer, op) != SYNOD_OK) {
			op->waiting = 0;
			answer_error(op, SYNOD_EUNAVAILABLE,
				     fwd ? synod_client_errmsg(fwd) : err);
		}
	}
}

/* ---- off the loop: merge the pages, build and print the JSON ---- */

struct grow {
	char *p;
	size_t n, cap;
};

static int grow_write(void *arg, const char *text, size_t len)
{
	struct grow *g = arg;
	if (g->n + len > g->cap) {
		size_t cap = g->cap ? g->cap : 1 << 16;
		char *p;
		while (cap < g->n + len)
			cap *= 2;
		if ((p = realloc(g->p, cap)) == NULL)
			return -1;
		g->p = p;
		g->cap = cap;
	}
	memcpy(g->p + g->n, text, len);
	g->n += len;
	return 0;
}

static void work_json(uv_work_t *w)
{
	struct hop *op = w->data;
	struct grow g = {NULL, 0, 0};
	int rv = -1;
	if (op->ep == EP_QUERY) {
		json_t *j =
		    ja_query((const Synod__Wire__QueryResponse *)op->qresp);
		char *text =
		    j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
		      : NULL;
		json_decref(j);
		if (text) {
			op->out_len = strlen(text) + 1;
			text[op->out_len - 1] = '\n';
			op->out = text;
		}
		return;
	}
	/* The pages, decoded one by one (each freed as packed), merged,
	 * printed as the text streams (no tree). */
	for (size_t i = 0; i < op->n_raw; i++) {
		Synod__Wire__DescribeTopicsResponse *r =
		    synod__wire__describe_topics_response__unpack(
			NULL, op->raw[i].n, op->raw[i].p);
		free(op->raw[i].p);
		op->raw[i].p = NULL;
		if (r == NULL || ja_described_add(&op->pages, r) != 0)
			return;
	}
	if (ja_described_merge(&op->pages) != 0)
		return;
	if (op->ep == EP_PARTITIONS)
		rv = ja_partitions_write(&op->pages.merged, grow_write, &g);
	else
		rv = ja_topics_write(&op->pages.merged, op->ep == EP_TOPICS, 1,
				     grow_write, &g);
	ja_described_free(&op->pages);
#ifdef __GLIBC__
	malloc_trim(0); /* give the decoded pages' memory back */
#endif
	if (rv != 0) {
		free(g.p);
		return;
	}
	op->out = g.p;
	op->out_len = g.n;
}

static void after_json(uv_work_t *w, int status)
{
	struct hop *op = w->data;
	(void)status;
	op->working = 0;
	if (op->c) {
		if (op->out) {
			http_respond_owned(op->c, 200, "OK", "application/json",
					   op->extra, op->out, op->out_len,
					   op->head);
			op->out = NULL;
		} else {
			answer_error(op, SYNOD_EUNKNOWN, "out of memory");
		}
	}
	op_done(op);
}

/* ---- an answer arrived ---- */

static void encode_answer(struct hop *op, ProtobufCMessage *m)
{
	json_t *j = NULL;
	switch (op->ep) {
	case EP_BROKERS:
	case EP_BROKER:
		j = ja_broker_list((void *)m, op->ep == EP_BROKER);
		break;
	case EP_CONFIGS:
		j = ja_config_list((void *)m);
		break;
	case EP_GROUPS:
		j = ja_group_list((void *)m);
		break;
	case EP_GROUP: {
		Synod__Wire__GroupDescribeResponse *r = (void *)m;
		if (r->n_groups == 1 && r->groups[0]->has_code &&
		    r->groups[0]->code != SYNOD_OK) {
			char msg[300];
			snprintf(msg, sizeof msg, "group %s: %s", op->arg,
				 synod_strerror(r->groups[0]->code));
			answer_error(op, r->groups[0]->code, msg);
			return;
		}
		j = ja_group_describe(r, 1);
		break;
	}
	default:
		break;
	}
	answer_json(op, 200, j);
}

/* Leadership moved between the check and the read: ask the new active
 * controller, once. 1 when the request went again. */
static int retry_forwarded(struct hop *op, int code)
{
	if ((code == SYNOD_ENOT_CONTROLLER || code == SYNOD_EUNAVAILABLE) &&
	    op->where == W_ACTIVE && !op->forwarded_once) {
		op->forwarded_once = 1;
		op->where = W_FORWARD;
		op->has_meta = 0;
		set_headers(op);
		send_request(op);
		return 1;
	}
	return 0;
}

/* A DESCRIBE_TOPICS page (op->ans): kept packed; the next one asked for,
 * or the whole answer handed to the thread pool. */
static void describe_page(struct hop *op)
{
	struct raw_page *grown;
	if (!op->has_meta) { /* forwarded: decode it for its meta */
		Synod__Wire__DescribeTopicsResponse *r =
		    synod__wire__describe_topics_response__unpack(
			NULL, op->ans_len, op->ans);
		if (r == NULL) {
			answer_error(op, SYNOD_EINVALID_REQUEST,
				     "the answer does not decode");
			return;
		}
		page_meta(op, r);
		synod__wire__describe_topics_response__free_unpacked(r, NULL);
	}
	op->has_meta = 0;
	if (op->meta_code != SYNOD_OK) {
		free(op->ans);
		op->ans = NULL;
		if (!retry_forwarded(op, op->meta_code))
			answer_error(op, op->meta_code,
				     op->meta_msg[0] ? op->meta_msg : NULL);
		return;
	}
	grown = realloc(op->raw, (op->n_raw + 1) * sizeof *op->raw);
	if (grown == NULL) {
		answer_error(op, SYNOD_EUNKNOWN, "out of memory");
		return;
	}
	op->raw = grown;
	op->raw[op->n_raw].p = op->ans;
	op->raw[op->n_raw].n = op->ans_len;
	op->n_raw++;
	op->ans = NULL;
	if (op->meta_more) {
		op->dtr.has_cursor = 1;
		op->dtr.cursor.data = op->cursor;
		send_request(op);
		return;
	}
	op->work.work.data = op;
	if (workgate_queue(op->h->s->loop, &op->work, work_json, after_json) !=
	    0) {
		answer_error(op, SYNOD_EUNKNOWN, "no worker");
		return;
	}
	op->working = 1;
}

static void handle_answer(struct hop *op)
{
	ProtobufCMessage *m;
	const Synod__Wire__Status *st;
	if (op->call) {
		srv_call_release(op->call);
		op->call = NULL;
	}
	if (op->c == NULL)
		return;
	if (op->ans_rv != SYNOD_OK) {
		answer_error(op, op->ans_rv,
			     op->where == W_FORWARD
				 ? "the active controller did not answer"
				 : NULL);
		return;
	}
	if (op->api == SYNOD_API_DESCRIBE_TOPICS) {
		describe_page(op);
		return;
	}
	m = protobuf_c_message_unpack(op->resp_desc, NULL, op->ans_len,
				      op->ans);
	free(op->ans);
	op->ans = NULL;
	if (m == NULL) {
		answer_error(op, SYNOD_EINVALID_REQUEST,
			     "the answer does not decode");
		return;
	}
	st = fwd_status_of(m);
	if (st && st->code != SYNOD_OK) {
		int code = st->code;
		char msg[256];
		snprintf(msg, sizeof msg, "%s", st->message ? st->message : "");
		protobuf_c_message_free_unpacked(m, NULL);
		if (!retry_forwarded(op, code))
			answer_error(op, code, msg[0] ? msg : NULL);
		return;
	}
	if (op->ep == EP_QUERY) {
		op->qresp = m;
		op->work.work.data = op;
		if (workgate_queue(op->h->s->loop, &op->work, work_json,
				   after_json) != 0) {
			answer_error(op, SYNOD_EUNKNOWN, "no worker");
			return;
		}
		op->working = 1;
		return;
	}
	encode_answer(op, m);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* ---- /v1/quorum: this node's METADATA, every node's NODE_STATUS ---- */

static void quorum_answer(struct hop *op)
{
	struct ja_probe *jp = calloc(op->n_probes + 1, sizeof *jp);
	if (jp == NULL) {
		answer_error(op, SYNOD_EUNKNOWN, "out of memory");
		return;
	}
	for (size_t i = 0; i < op->n_probes; i++) {
		jp[i].rv = op->probes[i].rv;
		jp[i].resp = op->probes[i].resp;
	}
	answer_json(op, 200, ja_quorum(op->md, jp, op->with_digest, NULL));
	free(jp);
}

static void on_probe(void *arg, int status, const uint8_t *body, size_t len)
{
	struct probe *p = arg;
	struct hop *op = p->op;
	p->done = 1;
	p->rv = status;
	if (status == SYNOD_OK) {
		p->resp =
		    synod__wire__node_status_response__unpack(NULL, len, body);
		if (p->resp == NULL)
			p->rv = SYNOD_EINVALID_REQUEST;
	}
	synod_client_close(p->c);
	p->c = NULL;
	if (--op->probes_left == 0) {
		if (op->c)
			quorum_answer(op);
		op_done(op);
	}
}

static void quorum_start(struct hop *op)
{
	Synod__Wire__NodeStatusRequest sreq =
	    SYNOD__WIRE__NODE_STATUS_REQUEST__INIT;
	op->md = fwd_local_metadata(op->h->s);
	if (op->md == NULL) {
		answer_error(op, SYNOD_EUNKNOWN, "out of memory");
		op_done(op);
		return;
	}
	sreq.has_with_digest = 1;
	sreq.with_digest = op->with_digest != 0;
	op->probes = calloc(op->md->n_nodes + 1, sizeof *op->probes);
	if (op->probes == NULL) {
		answer_error(op, SYNOD_EUNKNOWN, "out of memory");
		op_done(op);
		return;
	}
	op->n_probes = op->md->n_nodes;
	op->probes_left = op->n_probes + 1; /* + this loop */
	for (size_t i = 0; i < op->n_probes; i++) {
		struct probe *p = &op->probes[i];
		struct synod_client_config cfg;
		p->op = op;
		p->done = 1;
		p->rv = SYNOD_ECONNECTION;
		fwd_client_config(op->h->s, &cfg);
		cfg.bootstrap = op->md->nodes[i]->client_address;
		cfg.request_timeout_ms = PROBE_TIMEOUT_MS;
		cfg.connect_timeout_ms = PROBE_TIMEOUT_MS;
		cfg.liveness_timeout_ms = PROBE_TIMEOUT_MS;
		cfg.pinned = 1;
		cfg.fail_fast = 1;
		if (cfg.bootstrap == NULL || cfg.bootstrap[0] == '\0' ||
		    synod_client_new(op->h->s->loop, &cfg, &p->c) != SYNOD_OK) {
			p->c = NULL;
			op->probes_left--;
			continue;
		}
		p->done = 0;
		if (synod_client_send(p->c, SYNOD_API_NODE_STATUS, &sreq.base,
				      0, on_probe, p) != SYNOD_OK) {
			synod_client_close(p->c);
			p->c = NULL;
			p->done = 1;
			op->probes_left--;
		}
	}
	if (--op->probes_left == 0) {
		quorum_answer(op);
		op_done(op);
	}
}

/* ---- the steps ---- */

static void step(struct hop *op)
{
	handle_answer(op);
	op_done(op);
}

void http_api_on_idle(uv_idle_t *idle)
{
	struct http *h = idle->data;
	struct hop *op = h->ready_head;
	h->ready_head = h->ready_tail = NULL;
	uv_idle_stop(idle);
	while (op) {
		struct hop *next = op->next;
		op->queued = 0;
		step(op);
		op = next;
	}
}

/* ---- routing ---- */

/* The query string has key (as "key", "key=1" or "key=true"). */
static int has_flag(const char *query, const char *key)
{
	size_t n = strlen(key);
	for (const char *q = query; q && *q;) {
		size_t len = strcspn(q, "&");
		if (len >= n && strncmp(q, key, n) == 0 &&
		    (len == n ||
		     (q[n] == '=' &&
		      (strncmp(q + n + 1, "1", len - n - 1) == 0 ||
		       strncmp(q + n + 1, "true", len - n - 1) == 0))))
			return 1;
		q += len;
		if (*q == '&')
			q++;
	}
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decode src[0..len) into out; -1 when malformed, too long or
 * with a NUL. */
static int unescape(const char *src, size_t len, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int ch = (unsigned char)src[i];
		if (ch == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return -1;
			hi = hexval(src[i + 1]);
			lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (ch == 0 || o + 1 >= size)
			return -1;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return o > 0 ? 0 : -1;
}

static const char query_usage[] =
    "{\"error\": \"INVALID_ARGUMENT\", \"message\": \"POST the query as "
    "{\\\"sql\\\": \\\"SELECT ...\\\", \\\"max_rows\\\": N, "
    "\\\"timeout_ms\\\": N} or as text\"}\n";

static void bad_request(struct hconn *c, const char *why)
{
	json_t *j = ja_error(SYNOD_EINVALID_ARGUMENT, why);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (text == NULL) {
		http_respond(c, 400, "Bad Request", "application/json", NULL,
			     query_usage, sizeof query_usage - 1, 0);
		return;
	}
	http_respond_owned(c, 400, "Bad Request", "application/json", NULL,
			   text, strlen(text), 0);
}

/* POST /v1/query's body: {"sql": "...", "max_rows": N, "timeout_ms": N},
 * or the SQL text itself. 0, or -1 with the reason. */
static int query_body(struct hop *op, const char *body, size_t len, char *err,
		      size_t size)
{
	Synod__Wire__QueryRequest *q = &op->qr;
	synod__wire__query_request__init(q);
	while (len && (*body == ' ' || *body == '\n' || *body == '\r' ||
		       *body == '\t')) {
		body++;
		len--;
	}
	if (len == 0) {
		snprintf(err, size,
			 "empty body: POST {\"sql\": \"SELECT ...\"}");
		return -1;
	}
	if (*body == '{') {
		json_error_t je;
		json_t *j = json_loadb(body, len, 0, &je), *v;
		if (j == NULL || !json_is_object(j) ||
		    !json_is_string(v = json_object_get(j, "sql"))) {
			snprintf(
			    err, size,
			    "the body is not {\"sql\": \"SELECT ...\"}: %s",
			    j ? "no \"sql\" string" : je.text);
			json_decref(j);
			return -1;
		}
		op->sql = strdup(json_string_value(v));
		if (json_is_integer(v = json_object_get(j, "max_rows")) &&
		    json_integer_value(v) > 0 &&
		    json_integer_value(v) <= UINT32_MAX) {
			q->has_max_rows = 1;
			q->max_rows = (uint32_t)json_integer_value(v);
		}
		if (json_is_integer(v = json_object_get(j, "timeout_ms")) &&
		    json_integer_value(v) > 0 &&
		    json_integer_value(v) <= UINT32_MAX) {
			q->has_timeout_ms = 1;
			q->timeout_ms = (uint32_t)json_integer_value(v);
		}
		json_decref(j);
	} else {
		op->sql = strndup(body, len);
	}
	if (op->sql == NULL) {
		snprintf(err, size, "out of memory");
		return -1;
	}
	q->sql = op->sql;
	return 0;
}

static void not_found(struct hconn *c, int head)
{
	static const char text[] =
	    "{\"error\": \"NOT_FOUND\", \"message\": \"try /v1/quorum, "
	    "/v1/brokers, /v1/brokers/ID, /v1/topics, /v1/topics/NAME, "
	    "/v1/partitions, /v1/configs, /v1/groups, /v1/groups/ID\"}\n";
	http_respond(c, 404, "Not Found", "application/json", NULL, text,
		     sizeof text - 1, head);
}

void http_api_route(struct hconn *c, int method, const char *path,
		    const char *query)
{
	struct http *h = c->h;
	struct hop *op;
	const char *rest = path + 4; /* after "/v1/" */
	const char *slash = strchr(rest, '/');
	size_t base = slash ? (size_t)(slash - rest) : strlen(rest);
	int head = method == HTTP_HEAD;
	op = calloc(1, sizeof *op);
	if (op == NULL) {
		static const char oom[] = "{\"error\": \"out of memory\"}\n";
		http_respond(c, 500, "Internal Server Error",
			     "application/json", NULL, oom, sizeof oom - 1,
			     head);
		return;
	}
	op->h = h;
	op->c = c;
	op->head = head;
	op->linearizable = has_flag(query, "linearizable");
	if (slash && slash[1] != '\0' &&
	    unescape(slash + 1, strlen(slash + 1), op->arg, sizeof op->arg) !=
		0) {
		free(op);
		not_found(c, head);
		return;
	}
#define IS(name) (base == sizeof(name) - 1 && strncmp(rest, name, base) == 0)
	if (method == HTTP_POST) { /* route() lets only /v1/query through */
		char err[200];
		if (query_body(op, c->body, c->body_len, err, sizeof err) !=
		    0) {
			free(op->sql);
			free(op);
			bad_request(c, err);
			return;
		}
		op->ep = EP_QUERY;
		op->req = &op->qr.base;
		op->api = SYNOD_API_QUERY;
		op->resp_desc = &synod__wire__query_response__descriptor;
	} else if (IS("query")) {
		free(op);
		http_respond(c, 405, "Method Not Allowed", "application/json",
			     NULL, query_usage, sizeof query_usage - 1, head);
		return;
	} else if (IS("quorum") && !slash) {
		op->ep = EP_QUORUM;
		op->with_digest = has_flag(query, "digest");
	} else if (IS("brokers") && (!slash || op->arg[0])) {
		synod__wire__broker_list_request__init(&op->blr);
		op->req = &op->blr.base;
		op->api = SYNOD_API_BROKER_LIST;
		op->resp_desc = &synod__wire__broker_list_response__descriptor;
		op->ep = EP_BROKERS;
		if (op->arg[0]) {
			char *end;
			long v = strtol(op->arg, &end, 10);
			if (*end != '\0' || v < 0 || v > INT32_MAX) {
				free(op);
				not_found(c, head);
				return;
			}
			op->ep = EP_BROKER;
			op->blr.has_broker_id = 1;
			op->blr.broker_id = (int32_t)v;
		}
	} else if ((IS("topics") && (!slash || op->arg[0])) ||
		   (IS("partitions") && !slash)) {
		synod__wire__describe_topics_request__init(&op->dtr);
		op->req = &op->dtr.base;
		op->api = SYNOD_API_DESCRIBE_TOPICS;
		op->resp_desc =
		    &synod__wire__describe_topics_response__descriptor;
		op->dtr.has_pages = op->dtr.pages = 1;
		if (IS("partitions")) {
			op->ep = EP_PARTITIONS;
			op->dtr.has_only_offline = op->dtr.only_offline =
			    has_flag(query, "offline");
			op->dtr.has_only_under_replicated =
			    op->dtr.only_under_replicated =
				has_flag(query, "under_replicated");
		} else if (op->arg[0]) {
			op->ep = EP_TOPIC;
			op->names[0] = op->arg;
			op->dtr.names = op->names;
			op->dtr.n_names = 1;
		} else {
			op->ep = EP_TOPICS;
			op->dtr.has_no_partitions = op->dtr.no_partitions = 1;
		}
	} else if (IS("configs") && !slash) {
		synod__wire__config_list_request__init(&op->clr);
		op->req = &op->clr.base;
		op->api = SYNOD_API_CONFIG_LIST;
		op->resp_desc = &synod__wire__config_list_response__descriptor;
		op->ep = EP_CONFIGS;
	} else if (IS("groups") && (!slash || op->arg[0])) {
		if (op->arg[0]) {
			synod__wire__group_describe_request__init(&op->gdr);
			op->names[0] = op->arg;
			op->gdr.group_ids = op->names;
			op->gdr.n_group_ids = 1;
			op->req = &op->gdr.base;
			op->api = SYNOD_API_GROUP_DESCRIBE;
			op->resp_desc =
			    &synod__wire__group_describe_response__descriptor;
			op->ep = EP_GROUP;
		} else {
			synod__wire__group_list_request__init(&op->glr);
			op->req = &op->glr.base;
			op->api = SYNOD_API_GROUP_LIST;
			op->resp_desc =
			    &synod__wire__group_list_response__descriptor;
			op->ep = EP_GROUPS;
		}
	} else {
		free(op);
		not_found(c, head);
		return;
	}
#undef IS
	h->ops++;
	c->op = op;
	if (op->ep == EP_QUORUM) {
		op->where = W_LOCAL;
		set_headers(op);
		quorum_start(op);
		return;
	}
	if (op->ep == EP_QUERY)
		op->where = W_LOCAL; /* any node serves it, on a copy */
	else if (node_check_active(h->s->node) == SYNOD_OK)
		op->where = W_ACTIVE;
	else if (!op->linearizable && op->ep != EP_GROUPS && op->ep != EP_GROUP)
		op->where = W_LOCAL;
	else
		op->where = W_FORWARD;
	set_headers(op);
	send_request(op);
	op_done(op); /* freed here only if it failed at once */
}

void http_api_detach(struct hconn *c)
{
	struct hop *op = c->op;
	c->op = NULL;
	op->c = NULL;
	if (op->call) {
		srv_call_release(op->call);
		op->call = NULL;
		if (op->waiting) {
			op->waiting = 0; /* its answer will never come */
			op_done(op);
		}
	}
}

void http_api_close(struct http *h)
{
	forwarder_close(&h->fwd); /* forwarded: CANCELED */
}
