/* controller/kafka_listener.c - the Kafka protocol on a controller node
 * (see kafka_listener.h): the module, the listener, Metadata, the admin
 * requests' plumbing (kop_*) and forwarding.
 *
 * A Metadata answer is built in slices: the node's brokers at once, then
 * the partitions KAFKA_SLICE at a time per loop turn (a million partitions
 * never stall the loop); net/kafka_server.c encodes a large answer on the
 * thread pool. An admin request runs client-protocol requests through the
 * server's registry (srv_call), one at a time, each answer handled on a
 * later loop turn (kafka_admin.c). */
#include "kafka_listener.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "kafka_admin_apis.h"
#include "kafka_apis.h"
#include "kafka_int.h"
#include "kafka_relay.h"
#include "log.h"
#include "module.h"
#include "store.h"

/* Partitions read from the store per loop turn. */
#define KAFKA_SLICE 2048
#define KAFKA_FORWARD_TIMEOUT_MS 30000

/* ---- Metadata: this node's store, as a broker's metadata cache ---- */

struct kjob {
	struct kjob *next;
	struct kafka *k;
	struct kafka_request *r;
	struct store *st;
	int32_t *live; /* the brokers listed, sorted */
	size_t n_live;
	size_t cap_topics, cap_brokers;
	/* the walk: every topic, or the named ones */
	int all;
	struct store_topic *want; /* the named topics found */
	size_t n_want, at;
	struct store_pkey cursor;
	int64_t cur_tid; /* the topic being filled (0: none yet) */
	size_t cur_idx, cur_cap;
	unsigned seen; /* partitions this slice */
	int failed, done;
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
	struct kf_val *arr = &j->r->resp->v[KF_MD_BROKERS], *e;
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
	if (grow(&j->r->ra, arr, &j->cap_brokers, arr->n + 1) != 0 ||
	    (e = kf_struct(&j->r->ra, &kf_metadata_broker)) == NULL ||
	    kf_string(&j->r->ra, &e->v[KF_MDB_HOST], b->endpoints[0].host) !=
		0 ||
	    kf_string(&j->r->ra, &e->v[KF_MDB_RACK],
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

/* A topic entry (t NULL: unknown, named name or id); its index. */
static int add_topic(struct kjob *j, const struct store_topic *t,
		     const char *name, const uint8_t *id, int error)
{
	struct kf_val *arr = &j->r->resp->v[KF_MD_TOPICS], *e;
	if (grow(&j->r->ra, arr, &j->cap_topics, arr->n + 1) != 0 ||
	    (e = kf_struct(&j->r->ra, &kf_metadata_topic)) == NULL ||
	    kf_string(&j->r->ra, &e->v[KF_MDT_NAME], t ? t->name : name) != 0) {
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
	if (!j->all && t->tid != j->want[j->at].tid)
		return 1; /* past the named topic */
	if (t->tid != j->cur_tid) {
		if (add_topic(j, t, NULL, NULL, KF_ERR_NONE) != 0)
			return -1;
		j->cur_tid = t->tid;
		j->cur_idx = j->r->resp->v[KF_MD_TOPICS].n - 1;
		j->cur_cap = 0;
	}
	parts = &j->r->resp->v[KF_MD_TOPICS].v[j->cur_idx].v[KF_MDT_PARTITIONS];
	if (grow(&j->r->ra, parts, &j->cur_cap, parts->n + 1) != 0 ||
	    (e = kf_struct(&j->r->ra, &kf_metadata_partition)) == NULL) {
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
	if (kf_int32s(&j->r->ra, &e->v[KF_MDP_REPLICAS], p->replicas,
		      p->n_replicas) ||
	    kf_int32s(&j->r->ra, &e->v[KF_MDP_ISR], p->isr, p->n_isr) ||
	    kf_int32s(&j->r->ra, &e->v[KF_MDP_OFFLINE], offline, n_off)) {
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
	const struct kf_val *want = &j->r->body.v[KF_MDQ_TOPICS];
	j->st = s->node->fsm.store;
	if (kf_string(&j->r->ra, &j->r->resp->v[KF_MD_CLUSTER_ID],
		      s->node->cfg->cluster_id) != 0)
		return -1;
	if (store_broker_list(j->st, md_broker, j) != 0 || j->failed)
		return -1;
	if (j->n_live > 1)
		qsort(j->live, j->n_live, sizeof *j->live, cmp_i32);
	/* Admin requests go to the controller id: a live broker, whose
	 * listener forwards them to the active controller (KIP-590; -1 when
	 * no broker is live). */
	j->r->resp->v[KF_MD_CONTROLLER_ID].i = j->n_live ? j->live[0] : -1;
	/* Version 0: an empty list means every topic; from 1, null does
	 * and an empty list means none. */
	if (want->null || (j->r->version == 0 && want->n == 0)) {
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
			j->want[j->n_want++] = t;
		else if (add_topic(j, NULL, name->null ? NULL : name->p,
				   name->null ? q->v[KF_MDQT_ID].uuid : NULL,
				   name->null
				       ? KF_ERR_UNKNOWN_TOPIC_ID
				       : KF_ERR_UNKNOWN_TOPIC_OR_PARTITION) !=
			 0)
			return -1;
	}
	if (j->n_want > 0) {
		j->cursor.tid = j->want[0].tid;
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
			if (j->cur_tid != j->want[j->at].tid && /* empty */
			    add_topic(j, &j->want[j->at], NULL, NULL,
				      KF_ERR_NONE) != 0)
				break;
			j->at++;
			j->cur_tid = 0;
			if (j->at < j->n_want) {
				j->cursor.tid = j->want[j->at].tid;
				j->cursor.partition = -1;
			}
		}
	}
}

static void job_free(struct kjob *j)
{
	free(j->live);
	free(j->want);
	free(j);
}

static void unqueue_job(struct kjob *j)
{
	struct kjob **pp = &j->k->jobs;
	while (*pp && *pp != j)
		pp = &(*pp)->next;
	if (*pp)
		*pp = j->next;
}

static void md_cancel(struct kafka_request *r)
{
	struct kjob *j = r->data;
	unqueue_job(j);
	job_free(j);
	kafka_respond_close(r);
}

static void on_idle(uv_idle_t *idle);

static void handle_metadata(struct kafka_request *r, struct kf_val *resp)
{
	struct kafka *k = r->arg;
	struct kjob *j = calloc(1, sizeof *j);
	(void)resp;
	if (j == NULL) {
		kafka_respond_close(r);
		return;
	}
	j->k = k;
	j->r = r;
	if (md_begin(j) != 0) {
		log_warn("kafka %s: Metadata: out of memory; closing", r->peer);
		job_free(j);
		kafka_respond_close(r);
		return;
	}
	r->data = j;
	r->cancel = md_cancel;
	j->next = k->jobs;
	k->jobs = j;
	uv_idle_start(&k->idle, on_idle);
}

/* The Metadata slices of this turn. */
static void run_jobs(struct kafka *k)
{
	struct kjob *queue = k->jobs, *next;
	k->jobs = NULL;
	for (struct kjob *j = queue; j; j = next) {
		struct kafka_request *r = j->r;
		next = j->next;
		if (kafka_request_orphaned(r)) { /* its connection closed */
			job_free(j);
			kafka_respond_close(r);
			continue;
		}
		md_slice(j);
		if (j->failed) {
			log_warn("kafka %s: Metadata: out of memory building "
				 "the answer; closing",
				 r->peer);
			job_free(j);
			kafka_respond_close(r);
			continue;
		}
		if (!j->done) {
			j->next = k->jobs;
			k->jobs = j;
			continue;
		}
		job_free(j);
		kafka_respond(r); /* encoded on the pool when large */
	}
}

/* ---- admin requests: client-protocol calls, one at a time ---- */

static void kop_unlink(struct kop *op)
{
	struct kafka *k = op->k;
	struct kop **pp = &k->ready;
	while (*pp && *pp != op)
		pp = &(*pp)->next_ready;
	if (*pp)
		*pp = op->next_ready;
	if (op->prev)
		op->prev->next = op->next;
	else
		k->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	if (op->call)
		srv_call_release(op->call);
	op->call = NULL;
	if (op->free_data)
		op->free_data(op->data);
	free(op->ans);
}

static void kop_cancel(struct kafka_request *r)
{
	struct kop *op = r->data;
	kop_unlink(op);
	free(op);
	kafka_respond_close(r);
}

struct kop *kop_new(struct kafka *k, struct kafka_request *r)
{
	struct kop *op = calloc(1, sizeof *op);
	if (op == NULL) {
		kafka_respond_close(r);
		return NULL;
	}
	op->k = k;
	op->r = r;
	op->next = k->ops;
	if (k->ops)
		k->ops->prev = op;
	k->ops = op;
	r->data = op;
	r->cancel = kop_cancel;
	return op;
}

void kop_done(struct kop *op)
{
	struct kafka_request *r = op->r;
	kop_unlink(op);
	free(op);
	kafka_respond(r);
}

void kop_fail(struct kop *op)
{
	struct kafka_request *r = op->r;
	kop_unlink(op);
	free(op);
	kafka_respond_close(r);
}

static void kop_ready(struct kop *op)
{
	op->next_ready = op->k->ready;
	op->k->ready = op;
	uv_idle_start(&op->k->idle, on_idle);
}

static void on_call_answer(void *arg, const struct frame_header *fh,
			   const ProtobufCMessage *resp)
{
	struct kop *op = arg;
	size_t len = protobuf_c_message_get_packed_size(resp);
	(void)fh;
	free(op->ans);
	op->ans = malloc(len ? len : 1);
	op->ans_len = len;
	op->ans_desc = resp->descriptor;
	if (op->ans)
		protobuf_c_message_pack(resp, op->ans);
	/* Perhaps inside srv_call: go on next turn. */
	kop_ready(op);
}

void kop_call(struct kop *op, uint16_t api, const ProtobufCMessage *req,
	      int local_read, const ProtobufCMessageDescriptor *expect,
	      kop_step step)
{
	op->step = step;
	op->expect = expect;
	free(op->ans);
	op->ans = NULL;
	op->ans_desc = NULL;
	op->call = srv_call(op->k->s, api, req, local_read, on_call_answer, op);
	if (op->call == NULL)
		kop_ready(op); /* no answer: out of memory */
}

/* The admin steps of this turn. */
static void run_ops(struct kafka *k)
{
	struct kop *queue = k->ready, *next;
	k->ready = NULL;
	for (struct kop *op = queue; op; op = next) {
		ProtobufCMessage *m = NULL;
		const Synod__Wire__Status *st;
		next = op->next_ready;
		if (op->call) {
			srv_call_release(op->call);
			op->call = NULL;
		}
		op->code = SYNOD_EUNKNOWN;
		snprintf(op->msg, sizeof op->msg, "out of memory");
		if (op->ans && op->ans_desc &&
		    (m = protobuf_c_message_unpack(op->ans_desc, NULL,
						   op->ans_len, op->ans))) {
			st = fwd_status_of(m);
			op->code = st ? st->code : SYNOD_OK;
			snprintf(op->msg, sizeof op->msg, "%s",
				 st && st->message ? st->message : "");
		}
		free(op->ans);
		op->ans = NULL;
		if (m && m->descriptor != op->expect) {
			/* A Status alone (its code is op->code). */
			protobuf_c_message_free_unpacked(m, NULL);
			m = NULL;
		}
		if (kafka_request_orphaned(op->r)) {
			if (m)
				protobuf_c_message_free_unpacked(m, NULL);
			kop_fail(op);
			continue;
		}
		op->step(op, m);
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
	}
}

static void on_idle(uv_idle_t *idle)
{
	struct kafka *k = idle->data;
	run_jobs(k);
	run_ops(k);
	if (k->jobs == NULL && k->ready == NULL)
		uv_idle_stop(idle);
}

int16_t kafka_error_of(int code)
{
	switch (code) {
	case SYNOD_OK:
		return KF_ERR_NONE;
	case SYNOD_EUNKNOWN_TOPIC:
		return KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	case SYNOD_ETOPIC_ALREADY_EXISTS:
		return KF_ERR_TOPIC_ALREADY_EXISTS;
	case SYNOD_EINVALID_TOPIC:
		return KF_ERR_INVALID_TOPIC_EXCEPTION;
	case SYNOD_EUNKNOWN_PARTITION:
		return KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	case SYNOD_EELECTION_NOT_NEEDED:
		return KF_ERR_ELECTION_NOT_NEEDED;
	case SYNOD_ENON_EMPTY_GROUP:
		return KF_ERR_NON_EMPTY_GROUP;
	case SYNOD_EINVALID_PARTITIONS:
		return KF_ERR_INVALID_PARTITIONS;
	case SYNOD_EINVALID_REPLICATION_FACTOR:
		return KF_ERR_INVALID_REPLICATION_FACTOR;
	case SYNOD_EINVALID_CONFIG:
		return KF_ERR_INVALID_CONFIG;
	case SYNOD_ENOT_CONTROLLER:
	case SYNOD_EUNAVAILABLE:
		return KF_ERR_NOT_CONTROLLER;
	case SYNOD_EINVALID_ARGUMENT:
	case SYNOD_EINVALID_REQUEST:
		return KF_ERR_INVALID_REQUEST;
	case SYNOD_EAUTHORIZATION_FAILED:
		return KF_ERR_CLUSTER_AUTHORIZATION_FAILED;
	case SYNOD_ETIMEOUT:
		return KF_ERR_REQUEST_TIMED_OUT;
	case SYNOD_EGROUP_ID_NOT_FOUND:
		return KF_ERR_GROUP_ID_NOT_FOUND;
	default:
		return KF_ERR_UNKNOWN_SERVER_ERROR;
	}
}

int kafka_str(struct kafka_request *r, struct kf_val *v, const char *s)
{
	return kf_string(&r->ra, v, s);
}

int kafka_msg(struct kafka_request *r, struct kf_val *v, const char *m)
{
	return kafka_str(r, v, m && m[0] ? m : NULL);
}

struct kafka *kafka_of(struct kafka_request *r)
{
	return r->arg;
}

struct store *kafka_store(struct kafka_request *r)
{
	return kafka_of(r)->s->node->fsm.store;
}

struct kop *kafka_begin(struct kafka_request *r)
{
	if (kafka_relay(r))
		return NULL;
	return kop_new(kafka_of(r), r);
}

void kafka_call_error(const struct kop *op, int16_t *err, const char **msg)
{
	*err = kafka_error_of(op->code);
	*msg = op->msg[0] ? op->msg : synod_strerror(op->code);
}

/* ---- forwarding to the active controller ---- */

int kafka_relay(struct kafka_request *r)
{
	struct kafka *k = r->arg;
	struct synod_client *c;
	char err[256] = "out of memory";
	int code = node_check_active(k->s->node);
	if (code == SYNOD_OK)
		return 0;
	if (r->dispatched) {
		/* Relayed here, but this node is not (or no longer) the
		 * active controller: no second hop. The relay closes its
		 * client's connection, which asks again. */
		kafka_respond_close(r);
		return 1;
	}
	c = forwarder_client(&k->fwd, err, sizeof err);
	if (kafka_relay_send(r, c, &k->forward_failed) != SYNOD_OK) {
		k->forward_failed++;
		log_warn("kafka %s: %s: cannot relay to the active "
			 "controller: %s; closing",
			 r->peer, r->api->name,
			 c ? synod_client_errmsg(c) : err);
		kafka_respond_close(r);
		return 1;
	}
	k->forwarded++;
	return 1;
}

/* API 30 KAFKA_FORWARD: a relayed Kafka request, served as if it came on
 * this node's Kafka port. */
static void on_dispatched(void *arg, const uint8_t *resp, size_t len)
{
	struct pending *p = arg;
	struct server *s = p->sc->server;
	Synod__Wire__KafkaForwardResponse m =
	    SYNOD__WIRE__KAFKA_FORWARD_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	/* The answer goes back in one frame of the client protocol: one
	 * larger than half of max_frame_bytes (every topic of a few hundred
	 * thousand partitions) is refused rather than sent where the relay
	 * could not take it, or where it would crowd the broker's own
	 * connection. */
	if (resp && len > s->node->cfg->max_frame / 2) {
		char msg[160];
		snprintf(msg, sizeof msg,
			 "the Kafka answer takes %zu bytes, above half of "
			 "max_frame_bytes: ask a controller node or a broker "
			 "with all_partitions",
			 len);
		srv_reply_status(p->sc, &p->h, SYNOD_EMESSAGE_TOO_LARGE, msg);
		srv_pending_free(p);
		return;
	}
	srv_fill_status(s, &st, SYNOD_OK, NULL, NULL, NULL, 0);
	m.status = &st;
	if (resp) {
		m.has_response = 1;
		m.response.data = (uint8_t *)resp;
		m.response.len = len;
	}
	srv_send(p->sc, &p->h, &m.base);
	srv_pending_free(p);
}

static void api_forward(void *self, struct sconn *sc,
			const struct frame_header *h, ProtobufCMessage *msg)
{
	struct kafka *k = self;
	Synod__Wire__KafkaForwardRequest *req = (void *)msg;
	struct pending *p;
	char peer[96];
	int code = node_check_active(k->s->node);
	if (code != SYNOD_OK) {
		srv_reply_status(sc, h, code, NULL);
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	if ((p = srv_pending_new(sc, h, msg, NULL, NULL)) == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	snprintf(peer, sizeof peer, "%s via %s",
		 req->client ? req->client : "?", sc->conn.peer);
	k->dispatched++;
	if (kafka_server_dispatch(k->ks, req->request.data, req->request.len,
				  peer, on_dispatched, p) != 0) {
		srv_reply_status(sc, h, SYNOD_EINVALID_REQUEST,
				 "not a Kafka request this node serves");
		srv_pending_free(p);
	}
}

/* The class of the Kafka API inside: describes and lists read, the rest
 * write. */
static enum acl_op forward_acl(const ProtobufCMessage *msg)
{
	const Synod__Wire__KafkaForwardRequest *req = (const void *)msg;
	int16_t key, ver;
	int32_t corr;
	if (kf_peek_header(req->request.data, req->request.len, &key, &ver,
			   &corr) != KF_OK)
		return ACL_WRITE;
	switch (key) {
	case KF_API_METADATA:
	case KF_API_API_VERSIONS:
	case KF_API_FIND_COORDINATOR:
	case KF_API_DESCRIBE_GROUPS:
	case KF_API_LIST_GROUPS:
	case KF_API_DESCRIBE_CONFIGS:
	case KF_API_DESCRIBE_QUORUM:
	case KF_API_DESCRIBE_CLUSTER:
	case KF_API_CONSUMER_GROUP_DESCRIBE:
		return ACL_READ;
	default:
		return ACL_WRITE;
	}
}

static const struct module_api forward_apis[] = {
    {SYNOD_API_KAFKA_FORWARD, "KAFKA_FORWARD", 1, 1, 1,
     &synod__wire__kafka_forward_request__descriptor, api_forward, ACL_WRITE,
     forward_acl},
};

/* ---- the API table ---- */

static kafka_handler pick(int16_t key)
{
	switch (key) {
	case KF_API_METADATA:
		return handle_metadata;
	case KF_API_FIND_COORDINATOR:
		return kafka_find_coordinator;
	case KF_API_DESCRIBE_GROUPS:
		return kafka_describe_groups;
	case KF_API_LIST_GROUPS:
		return kafka_list_groups;
	case KF_API_CREATE_TOPICS:
		return kafka_create_topics;
	case KF_API_DELETE_TOPICS:
		return kafka_delete_topics;
	case KF_API_DESCRIBE_CONFIGS:
		return kafka_describe_configs;
	case KF_API_ALTER_CONFIGS:
		return kafka_alter_configs;
	case KF_API_CREATE_PARTITIONS:
		return kafka_create_partitions;
	case KF_API_ELECT_LEADERS:
		return kafka_elect_leaders;
	case KF_API_INCREMENTAL_ALTER_CONFIGS:
		return kafka_incremental_alter_configs;
	case KF_API_DESCRIBE_QUORUM:
		return kafka_describe_quorum;
	case KF_API_DESCRIBE_CLUSTER:
		return kafka_describe_cluster;
	case KF_API_CONSUMER_GROUP_DESCRIBE:
		return kafka_consumer_group_describe;
	default:
		return NULL;
	}
}

/* The same for every node (filled at each start). */
static struct kafka_api apis[KAFKA_SERVED_APIS];

/* ---- the module ---- */

static void on_log(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level == KAFKA_LOG_WARN)
		log_warn("kafka %s", msg);
	else if (level == KAFKA_LOG_INFO)
		log_info("kafka %s", msg);
	else
		log_debug("kafka %s", msg);
}

static void mod_status(void *self, Synod__Wire__NodeStatusResponse *m)
{
	struct kafka *k = self;
	struct kafka_server_stats st;
	if (k->ks == NULL)
		return;
	kafka_server_stats(k->ks, &st);
	m->has_kafka_connections = m->has_kafka_requests = 1;
	m->has_kafka_forwarded = m->has_kafka_forward_failed = 1;
	m->has_kafka_relayed = 1;
	m->kafka_connections = st.connections;
	m->kafka_requests = st.requests;
	m->kafka_forwarded = k->forwarded;
	m->kafka_forward_failed = k->forward_failed;
	m->kafka_relayed = k->dispatched;
}

static void maybe_free_kafka(struct kafka *k)
{
	if (k->closing && k->handles == 0)
		free(k);
}

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
	/* Forwarded requests complete with CANCELED (and close); those
	 * waiting for a call or a slice are cancelled by the server. */
	forwarder_close(&k->fwd);
	if (k->ks)
		kafka_server_close(k->ks);
	k->ks = NULL;
	if (k->listening) {
		k->listener.data = k; /* was the server's, for connections */
		uv_close((uv_handle_t *)&k->listener, on_handle_closed);
	}
	uv_close((uv_handle_t *)&k->idle, on_handle_closed);
}

int kafka_start(struct server *s, const char *address)
{
	struct kafka *k;
	struct module m;
	struct kafka_server_config kc;
	if (address[0] && s->tls) {
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
	forwarder_init(&k->fwd, s, KAFKA_FORWARD_TIMEOUT_MS);
	memset(&kc, 0, sizeof kc);
	kc.loop = s->loop;
	kafka_apis_fill(apis, pick);
	kc.apis = apis;
	kc.n_apis = KAFKA_SERVED_APIS;
	kc.arg = k;
	kc.max_request_bytes = s->node->cfg->kafka_max_request_bytes;
	kc.log = on_log;
	if (kafka_server_new(&kc, &k->ks) != 0) {
		free(k);
		snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
		return -1;
	}
	uv_idle_init(s->loop, &k->idle);
	k->idle.data = k;
	k->handles = 1;
	if (address[0]) {
		uv_tcp_init(s->loop, &k->listener);
		k->listener.data = k->ks;
		k->listening = 1;
		k->handles++;
		if (srv_tcp_listen(s, &k->listener, "kafka_address", address,
				   128, kafka_server_on_connection) != 0) {
			k->listener.data = k;
			mod_close(k);
			return -1;
		}
		{
			char where[80];
			srv_bound_name(&k->listener, where, sizeof where);
			log_info("kafka: serving the Kafka protocol on %s",
				 where);
		}
	}
	memset(&m, 0, sizeof m);
	m.name = "kafka";
	m.self = k;
	m.apis = forward_apis;
	m.n_apis = sizeof forward_apis / sizeof forward_apis[0];
	m.close = mod_close;
	m.status = mod_status;
	if (server_register(s, &m) != 0) {
		mod_close(k);
		return -1;
	}
	return 0;
}
