/* controller/kafka_admin.c - Kafka's topic admin APIs on a controller node
 * (docs/kafka.md section 2): CreateTopics, DeleteTopics, CreatePartitions,
 * ElectLeaders. Like every admin API (kafka_configs.c, kafka_groups.c,
 * kafka_cluster.c), each is served by the active controller (another node
 * relays it there: kafka_relay) as requests of the client protocol run
 * through the server's registry (kop_call): the same handlers, checks,
 * records and errors as synodctl's, the answers mapped to Kafka's
 * messages and codes.
 *
 * The client-protocol messages built here point into the Kafka request's
 * arenas (its decoded strings; structs from r->ra): nothing to free. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configdefs.h"
#include "kafka_admin_apis.h"
#include "kafka_int.h"
#include "log.h"
#include "store.h"

/* ---- CreateTopics (19) ---- */

struct ct {
	int *sent; /* per request topic: its index in the call, or -1 */
};

static void ct_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	struct ct *ct = op->data;
	const Synod__Wire__CreateTopicsResponse *resp = (const void *)m;
	struct kf_val *topics = &r->resp->v[KF_CT_TOPICS];
	const struct kf_val *want = &r->body.v[KF_CTQ_TOPICS];
	for (size_t i = 0; i < topics->n; i++) {
		struct kf_val *t = &topics->v[i];
		const char *name = want->v[i].v[KF_CTQT_NAME].p;
		struct store_topic st;
		int16_t err = KF_ERR_NONE;
		const char *msg = NULL;
		if (ct->sent[i] < 0)
			continue; /* refused before the call */
		if (op->code != SYNOD_OK) {
			kafka_call_error(op, &err, &msg);
		} else {
			/* m NULL: a resend answered "done" (created). */
			for (size_t x = 0; m && x < resp->n_results; x++) {
				const Synod__Wire__TopicResult *tr =
				    resp->results[x];
				if (strcmp(tr->name, name) != 0)
					continue;
				err = kafka_error_of(tr->status->code);
				msg = tr->status->message;
				if (tr->has_topic_id && tr->topic_id.len == 16)
					memcpy(t->v[KF_CTT_ID].uuid,
					       tr->topic_id.data, 16);
				break;
			}
		}
		t->v[KF_CTT_ERROR].i = err;
		if (err != KF_ERR_NONE) {
			if (kafka_msg(r, &t->v[KF_CTT_ERROR_MSG], msg) != 0)
				goto oom;
			continue;
		}
		/* Version 5+ says what was made (the store of the active
		 * controller has it once the answer came). */
		if (store_topic_get(kafka_store(r), name, &st) == STORE_OK) {
			struct store_partition p;
			t->v[KF_CTT_NUM_PARTITIONS].i = st.n_partitions;
			if (store_partition_get(kafka_store(r), st.tid, 0,
						&p) == STORE_OK)
				t->v[KF_CTT_REPLICATION_FACTOR].i =
				    p.n_replicas;
		} else {
			const struct kf_val *q = &want->v[i];
			t->v[KF_CTT_NUM_PARTITIONS].i =
			    q->v[KF_CTQT_NUM_PARTITIONS].i;
			t->v[KF_CTT_REPLICATION_FACTOR].i =
			    q->v[KF_CTQT_REPLICATION_FACTOR].i;
		}
	}
	kop_done(op);
	return;
oom:
	kop_fail(op);
}

/* The topic's request as the client protocol's, or a Kafka error. */
static int16_t ct_topic(struct kafka_request *r, const struct kf_val *q,
			Synod__Wire__CreatableTopic *t, const char **why)
{
	const struct kf_val *as = &q->v[KF_CTQT_ASSIGNMENTS];
	const struct kf_val *cs = &q->v[KF_CTQT_CONFIGS];
	int64_t np = q->v[KF_CTQT_NUM_PARTITIONS].i;
	int64_t rf = q->v[KF_CTQT_REPLICATION_FACTOR].i;
	*t = (Synod__Wire__CreatableTopic)SYNOD__WIRE__CREATABLE_TOPIC__INIT;
	t->name = (char *)q->v[KF_CTQT_NAME].p;
	if (as->n > 0) {
		if (np != -1 || rf != -1) {
			*why = "with replica assignments, num_partitions and "
			       "replication_factor must be -1";
			return KF_ERR_INVALID_REQUEST;
		}
		t->n_assignments = as->n;
		t->assignments =
		    KNEWN(r, Synod__Wire__ReplicaAssignment *, as->n);
		if (t->assignments == NULL)
			return KF_ERR_UNKNOWN_SERVER_ERROR;
		for (size_t i = 0; i < as->n; i++) {
			const struct kf_val *a = &as->v[i];
			const struct kf_val *ids = &a->v[KF_CTQA_BROKER_IDS];
			Synod__Wire__ReplicaAssignment *w =
			    KNEW(r, Synod__Wire__ReplicaAssignment);
			int32_t *v = KNEWN(r, int32_t, ids->n);
			if (w == NULL || v == NULL)
				return KF_ERR_UNKNOWN_SERVER_ERROR;
			*w = (Synod__Wire__ReplicaAssignment)
			    SYNOD__WIRE__REPLICA_ASSIGNMENT__INIT;
			w->partition = (int32_t)a->v[KF_CTQA_PARTITION].i;
			for (size_t x = 0; x < ids->n; x++)
				v[x] = (int32_t)ids->v[x].i;
			w->n_replicas = ids->n;
			w->replicas = v;
			t->assignments[i] = w;
		}
	} else {
		if (np == 0 || np < -1) {
			*why = "num_partitions must be positive (or -1: the "
			       "cluster's num.partitions)";
			return KF_ERR_INVALID_PARTITIONS;
		}
		if (rf == 0 || rf < -1) {
			*why = "replication_factor must be positive (or -1: "
			       "the cluster's default.replication.factor)";
			return KF_ERR_INVALID_REPLICATION_FACTOR;
		}
		t->has_partitions = np > 0;
		t->partitions = (uint32_t)(np > 0 ? np : 0);
		t->has_replication_factor = rf > 0;
		t->replication_factor = (uint32_t)(rf > 0 ? rf : 0);
	}
	if (cs->n > 0) {
		t->n_configs = cs->n;
		t->configs = KNEWN(r, Synod__Wire__ConfigEntry *, cs->n);
		if (t->configs == NULL)
			return KF_ERR_UNKNOWN_SERVER_ERROR;
		for (size_t i = 0; i < cs->n; i++) {
			const struct kf_val *c = &cs->v[i];
			Synod__Wire__ConfigEntry *e =
			    KNEW(r, Synod__Wire__ConfigEntry);
			if (e == NULL)
				return KF_ERR_UNKNOWN_SERVER_ERROR;
			if (c->v[KF_CTQC_VALUE].null) {
				*why = "a config without a value";
				return KF_ERR_INVALID_CONFIG;
			}
			*e = (Synod__Wire__ConfigEntry)
			    SYNOD__WIRE__CONFIG_ENTRY__INIT;
			e->scope = 1;
			e->resource = t->name;
			e->key = (char *)c->v[KF_CTQC_NAME].p;
			e->value = (char *)c->v[KF_CTQC_VALUE].p;
			t->configs[i] = e;
		}
	}
	return KF_ERR_NONE;
}

void kafka_create_topics(struct kafka_request *r, struct kf_val *resp)
{
	const struct kf_val *want = &r->body.v[KF_CTQ_TOPICS];
	struct kf_val *topics = &resp->v[KF_CT_TOPICS];
	Synod__Wire__CreateTopicsRequest req =
	    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
	const char **names;
	unsigned char *dup;
	struct kop *op;
	struct ct *ct;
	if ((op = kafka_begin(r)) == NULL)
		return;
	ct = KNEW(r, struct ct);
	names = KNEWN(r, const char *, want->n);
	dup = KNEWN(r, unsigned char, want->n);
	req.topics = KNEWN(r, Synod__Wire__CreatableTopic *, want->n);
	if (ct == NULL || names == NULL || dup == NULL || req.topics == NULL ||
	    (ct->sent = KNEWN(r, int, want->n)) == NULL ||
	    kf_array(&r->ra, topics, want->n) != 0)
		goto oom;
	op->data = ct;
	for (size_t i = 0; i < want->n; i++)
		names[i] = want->v[i].v[KF_CTQT_NAME].p;
	if (names_repeated(names, want->n, dup) < 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		struct kf_val *t =
		    kf_struct(&r->ra, &kf_creatable_topic_result);
		Synod__Wire__CreatableTopic *w =
		    KNEW(r, Synod__Wire__CreatableTopic);
		const char *why = NULL;
		int16_t err;
		if (t == NULL || w == NULL ||
		    kafka_str(r, &t->v[KF_CTT_NAME], names[i]) != 0)
			goto oom;
		t->v[KF_CTT_CONFIGS].null = 1; /* not described */
		t->v[KF_CTT_ERROR_MSG].null = 1;
		topics->v[i] = *t;
		ct->sent[i] = -1;
		if (dup[i]) {
			err = KF_ERR_INVALID_REQUEST;
			why = "the topic is named twice in the request";
		} else {
			err = ct_topic(r, &want->v[i], w, &why);
		}
		if (err != KF_ERR_NONE) {
			topics->v[i].v[KF_CTT_ERROR].i = err;
			if (kafka_msg(r, &topics->v[i].v[KF_CTT_ERROR_MSG],
				      why))
				goto oom;
			continue;
		}
		ct->sent[i] = (int)req.n_topics;
		req.topics[req.n_topics++] = w;
	}
	if (req.n_topics == 0) {
		kop_done(op);
		return;
	}
	req.has_validate_only = 1;
	req.validate_only = r->body.v[KF_CTQ_VALIDATE_ONLY].i != 0;
	kop_call(op, SYNOD_API_CREATE_TOPICS, &req.base, 0,
		 &synod__wire__create_topics_response__descriptor, ct_done);
	return;
oom:
	kop_fail(op);
}

/* ---- DeleteTopics (20) ---- */

static void dt_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	struct kf_val *out = &r->resp->v[KF_DT_RESPONSES];
	(void)m;
	for (size_t i = 0; i < out->n; i++) {
		struct kf_val *t = &out->v[i];
		int16_t err = KF_ERR_NONE;
		const char *msg = NULL;
		if (t->v[KF_DTT_ERROR].i != KF_ERR_NONE ||
		    t->v[KF_DTT_NAME].null)
			continue; /* refused before the call */
		/* One entry deletes them all, or none (its Status). */
		if (op->code != SYNOD_OK)
			kafka_call_error(op, &err, &msg);
		t->v[KF_DTT_ERROR].i = err;
		if (err != KF_ERR_NONE &&
		    kafka_msg(r, &t->v[KF_DTT_ERROR_MSG], msg) != 0) {
			kop_fail(op);
			return;
		}
	}
	kop_done(op);
}

void kafka_delete_topics(struct kafka_request *r, struct kf_val *resp)
{
	/* Versions 0-5 name topics; 6 gives names or ids. */
	int v6 = r->version >= 6;
	const struct kf_val *want =
	    &r->body.v[v6 ? KF_DTQ_TOPICS : KF_DTQ_TOPIC_NAMES];
	struct kf_val *out = &resp->v[KF_DT_RESPONSES];
	Synod__Wire__DeleteTopicsRequest req =
	    SYNOD__WIRE__DELETE_TOPICS_REQUEST__INIT;
	size_t *slot; /* the answer's entry of each name sent */
	struct kop *op;
	if ((op = kafka_begin(r)) == NULL)
		return;
	if (kf_array(&r->ra, out, want->n) != 0 ||
	    (req.names = KNEWN(r, char *, want->n)) == NULL ||
	    (slot = KNEWN(r, size_t, want->n)) == NULL)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		struct kf_val *t =
		    kf_struct(&r->ra, &kf_deletable_topic_result);
		const char *name =
		    v6 ? want->v[i].v[KF_DTQT_NAME].p : want->v[i].p;
		int by_id = v6 && want->v[i].v[KF_DTQT_NAME].null;
		struct store_topic st;
		if (t == NULL)
			goto oom;
		t->v[KF_DTT_ERROR_MSG].null = 1;
		out->v[i] = *t;
		t = &out->v[i];
		if (by_id) {
			const uint8_t *id = want->v[i].v[KF_DTQT_ID].uuid;
			memcpy(t->v[KF_DTT_ID].uuid, id, 16);
			if (store_topic_get_by_id(kafka_store(r), id, &st) !=
			    STORE_OK) {
				t->v[KF_DTT_NAME].null = 1;
				t->v[KF_DTT_ERROR].i = KF_ERR_UNKNOWN_TOPIC_ID;
				if (kafka_msg(r, &t->v[KF_DTT_ERROR_MSG],
					      "no topic has this id"))
					goto oom;
				continue;
			}
			if (kafka_str(r, &t->v[KF_DTT_NAME], st.name) != 0)
				goto oom;
			name = t->v[KF_DTT_NAME].p;
		} else {
			if (kafka_str(r, &t->v[KF_DTT_NAME], name) != 0)
				goto oom;
			/* Kafka deletes the topics it has and says which it
			 * has not (a DELETE_TOPICS naming one unknown topic
			 * would delete none). */
			if (store_topic_get(kafka_store(r), name, &st) !=
			    STORE_OK) {
				t->v[KF_DTT_ERROR].i =
				    KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
				if (kafka_msg(r, &t->v[KF_DTT_ERROR_MSG],
					      "no such topic"))
					goto oom;
				continue;
			}
			memcpy(t->v[KF_DTT_ID].uuid, st.topic_id, 16);
		}
		slot[req.n_names] = i;
		req.names[req.n_names++] = (char *)name;
	}
	/* A topic named twice (or by name and by id): refused, every copy;
	 * the others deleted, as Kafka does (one DELETE_TOPICS naming it
	 * twice would delete none). */
	if (req.n_names > 1) {
		unsigned char *dup = KNEWN(r, unsigned char, req.n_names);
		size_t k = 0;
		if (dup == NULL ||
		    names_repeated((const char *const *)req.names, req.n_names,
				   dup) < 0)
			goto oom;
		for (size_t x = 0; x < req.n_names; x++) {
			struct kf_val *t = &out->v[slot[x]];
			if (!dup[x]) {
				req.names[k++] = req.names[x];
				continue;
			}
			t->v[KF_DTT_ERROR].i = KF_ERR_INVALID_REQUEST;
			if (kafka_msg(r, &t->v[KF_DTT_ERROR_MSG],
				      "the topic is named twice in the "
				      "request"))
				goto oom;
		}
		req.n_names = k;
	}
	if (req.n_names == 0) {
		kop_done(op);
		return;
	}
	kop_call(op, SYNOD_API_DELETE_TOPICS, &req.base, 0, NULL, dt_done);
	return;
oom:
	kop_fail(op);
}

/* ---- CreatePartitions (37): one topic per call ---- */

static void cp_next(struct kop *op);

static void cp_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	struct kf_val *t = &r->resp->v[KF_CP_RESULTS].v[op->i];
	int16_t err = KF_ERR_NONE;
	const char *msg = NULL;
	(void)m;
	if (op->code != SYNOD_OK)
		kafka_call_error(op, &err, &msg);
	t->v[KF_CPR_ERROR].i = err;
	if (err != KF_ERR_NONE && kafka_msg(r, &t->v[KF_CPR_ERROR_MSG], msg)) {
		kop_fail(op);
		return;
	}
	op->i++;
	cp_next(op);
}

static void cp_next(struct kop *op)
{
	struct kafka_request *r = op->r;
	const struct kf_val *want = &r->body.v[KF_CPQ_TOPICS];
	for (; op->i < want->n; op->i++) {
		const struct kf_val *q = &want->v[op->i];
		struct kf_val *t = &r->resp->v[KF_CP_RESULTS].v[op->i];
		Synod__Wire__CreatePartitionsRequest req =
		    SYNOD__WIRE__CREATE_PARTITIONS_REQUEST__INIT;
		if (t->v[KF_CPR_ERROR].i != KF_ERR_NONE)
			continue;
		req.name = (char *)q->v[KF_CPQT_NAME].p;
		req.total = (uint32_t)q->v[KF_CPQT_COUNT].i;
		req.has_validate_only = 1;
		req.validate_only = r->body.v[KF_CPQ_VALIDATE_ONLY].i != 0;
		kop_call(op, SYNOD_API_CREATE_PARTITIONS, &req.base, 0, NULL,
			 cp_done);
		return;
	}
	kop_done(op);
}

void kafka_create_partitions(struct kafka_request *r, struct kf_val *resp)
{
	const struct kf_val *want = &r->body.v[KF_CPQ_TOPICS];
	struct kf_val *out = &resp->v[KF_CP_RESULTS];
	const char **names;
	unsigned char *dup;
	struct kop *op;
	if ((op = kafka_begin(r)) == NULL)
		return;
	names = KNEWN(r, const char *, want->n);
	dup = KNEWN(r, unsigned char, want->n);
	if (names == NULL || dup == NULL || kf_array(&r->ra, out, want->n) != 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++)
		names[i] = want->v[i].v[KF_CPQT_NAME].p;
	if (names_repeated(names, want->n, dup) < 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		const struct kf_val *q = &want->v[i];
		struct kf_val *t =
		    kf_struct(&r->ra, &kf_create_partitions_topic_result);
		const char *why = NULL;
		if (t == NULL || kafka_str(r, &t->v[KF_CPR_NAME], names[i]))
			goto oom;
		t->v[KF_CPR_ERROR_MSG].null = 1;
		if (dup[i]) {
			t->v[KF_CPR_ERROR].i = KF_ERR_INVALID_REQUEST;
			why = "the topic is named twice in the request";
		} else if (!q->v[KF_CPQT_ASSIGNMENTS].null &&
			   q->v[KF_CPQT_ASSIGNMENTS].n > 0) {
			t->v[KF_CPR_ERROR].i =
			    KF_ERR_INVALID_REPLICA_ASSIGNMENT;
			why = "manual assignments of new partitions are not "
			      "supported: Synod places their replicas";
		} else if (q->v[KF_CPQT_COUNT].i <= 0) {
			t->v[KF_CPR_ERROR].i = KF_ERR_INVALID_PARTITIONS;
			why = "the count must be positive";
		}
		if (why && kafka_msg(r, &t->v[KF_CPR_ERROR_MSG], why))
			goto oom;
		out->v[i] = *t;
	}
	cp_next(op);
	return;
oom:
	kop_fail(op);
}

/* ---- ElectLeaders (43) ---- */

static int16_t elect_error(int code, int unclean)
{
	switch (code) {
	case SYNOD_OK:
		return KF_ERR_NONE;
	case SYNOD_EELECTION_NOT_NEEDED:
		return KF_ERR_ELECTION_NOT_NEEDED;
	case SYNOD_EUNKNOWN_TOPIC:
	case SYNOD_EUNKNOWN_PARTITION:
		return KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
	default:
		return unclean ? KF_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE
			       : KF_ERR_PREFERRED_LEADER_NOT_AVAILABLE;
	}
}

/* One partition's result into topic entry t (its array sized already). */
static int el_result(struct kafka_request *r, struct kf_val *t,
		     int32_t partition, int16_t err, const char *msg)
{
	struct kf_val *parts = &t->v[KF_ELR_PARTITIONS];
	struct kf_val *p =
	    kf_struct(&r->ra, &kf_elect_leaders_partition_result);
	if (p == NULL)
		return -1;
	p->v[KF_ELP_PARTITION].i = partition;
	p->v[KF_ELP_ERROR].i = err;
	if (kafka_msg(r, &p->v[KF_ELP_ERROR_MSG],
		      err == KF_ERR_NONE ? NULL : msg))
		return -1;
	parts->v[parts->n++] = *p;
	return 0;
}

/* A topic entry with room for n partition results. */
static struct kf_val *el_topic(struct kafka_request *r, struct kf_val *out,
			       const char *topic, size_t n)
{
	struct kf_val *t = kf_struct(&r->ra, &kf_replica_election_result);
	if (t == NULL || kafka_str(r, &t->v[KF_ELR_TOPIC], topic) ||
	    kf_array(&r->ra, &t->v[KF_ELR_PARTITIONS], n))
		return NULL;
	t->v[KF_ELR_PARTITIONS].n = 0;
	out->v[out->n] = *t;
	return &out->v[out->n++];
}

static int cmp_result(const void *a, const void *b, void *arg)
{
	const Synod__Wire__ElectionResult *const *rs = arg;
	const Synod__Wire__ElectionResult *x = rs[*(const size_t *)a];
	const Synod__Wire__ElectionResult *y = rs[*(const size_t *)b];
	int c = strcmp(x->topic, y->topic);
	return c ? c
		 : (x->partition > y->partition) -
		       (x->partition < y->partition);
}

static void el_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	const Synod__Wire__ElectLeadersResponse *resp = (const void *)m;
	const struct kf_val *want = &r->body.v[KF_ELQ_TOPIC_PARTITIONS];
	struct kf_val *out = &r->resp->v[KF_EL_RESULTS];
	int unclean = r->version >= 1 && r->body.v[KF_ELQ_TYPE].i == 1;
	size_t *ord = NULL;
	if (m == NULL || op->code != SYNOD_OK) {
		const char *why;
		int16_t err;
		kafka_call_error(op, &err, &why);
		r->resp->v[KF_EL_ERROR].i = err;
		/* Version 0 has no top-level error: each partition asked
		 * for says it. */
		if (r->version == 0 && !want->null) {
			if (kf_array(&r->ra, out, want->n) != 0)
				goto oom;
			out->n = 0;
			for (size_t i = 0; i < want->n; i++) {
				const struct kf_val *q = &want->v[i];
				const struct kf_val *ps =
				    &q->v[KF_ELQT_PARTITIONS];
				struct kf_val *t = el_topic(
				    r, out, q->v[KF_ELQT_TOPIC].p, ps->n);
				if (t == NULL)
					goto oom;
				for (size_t x = 0; x < ps->n; x++)
					if (el_result(r, t, (int32_t)ps->v[x].i,
						      err, why))
						goto oom;
			}
		}
		kop_done(op);
		return;
	}
	/* Results grouped by topic: sorted once, each topic's array sized
	 * by its count (O(n log n) whatever the topics). */
	if (resp->n_results > 0 &&
	    (ord = malloc(resp->n_results * sizeof *ord)) == NULL)
		goto oom;
	for (size_t i = 0; i < resp->n_results; i++)
		ord[i] = i;
	if (resp->n_results > 1)
		qsort_r(ord, resp->n_results, sizeof *ord, cmp_result,
			resp->results);
	if (kf_array(&r->ra, out, resp->n_results) != 0)
		goto oom;
	out->n = 0;
	for (size_t i = 0; i < resp->n_results;) {
		const char *topic = resp->results[ord[i]]->topic;
		size_t end = i;
		struct kf_val *t;
		while (end < resp->n_results &&
		       strcmp(resp->results[ord[end]]->topic, topic) == 0)
			end++;
		if ((t = el_topic(r, out, topic, end - i)) == NULL)
			goto oom;
		for (; i < end; i++) {
			const Synod__Wire__ElectionResult *er =
			    resp->results[ord[i]];
			if (el_result(r, t, er->partition,
				      elect_error(er->code, unclean),
				      synod_strerror(er->code)))
				goto oom;
		}
	}
	free(ord);
	kop_done(op);
	return;
oom:
	free(ord);
	kop_fail(op);
}

void kafka_elect_leaders(struct kafka_request *r, struct kf_val *resp)
{
	const struct kf_val *want = &r->body.v[KF_ELQ_TOPIC_PARTITIONS];
	Synod__Wire__ElectLeadersRequest req =
	    SYNOD__WIRE__ELECT_LEADERS_REQUEST__INIT;
	struct kop *op;
	(void)resp;
	if ((op = kafka_begin(r)) == NULL)
		return;
	/* Version 0 elects the preferred leaders; 1+ says which. */
	req.type = r->version >= 1 ? (uint32_t)r->body.v[KF_ELQ_TYPE].i : 0;
	if (req.type > 1) {
		r->resp->v[KF_EL_ERROR].i = KF_ERR_INVALID_REQUEST;
		kop_done(op);
		return;
	}
	/* Null: every partition. An empty list, or a topic with no
	 * partitions, elects nothing (as Kafka): the client protocol's empty
	 * lists would mean "all", so they are never sent. */
	if (!want->null) {
		req.partitions =
		    KNEWN(r, Synod__Wire__TopicPartitions *, want->n);
		if (req.partitions == NULL)
			goto oom;
		for (size_t i = 0; i < want->n; i++) {
			const struct kf_val *q = &want->v[i];
			const struct kf_val *ps = &q->v[KF_ELQT_PARTITIONS];
			Synod__Wire__TopicPartitions *tp;
			int32_t *v;
			if (ps->n == 0)
				continue;
			tp = KNEW(r, Synod__Wire__TopicPartitions);
			v = KNEWN(r, int32_t, ps->n);
			if (tp == NULL || v == NULL)
				goto oom;
			*tp = (Synod__Wire__TopicPartitions)
			    SYNOD__WIRE__TOPIC_PARTITIONS__INIT;
			tp->topic = (char *)q->v[KF_ELQT_TOPIC].p;
			for (size_t x = 0; x < ps->n; x++)
				v[x] = (int32_t)ps->v[x].i;
			tp->n_partitions = ps->n;
			tp->partitions = v;
			req.partitions[req.n_partitions++] = tp;
		}
		if (req.n_partitions == 0) {
			kop_done(op);
			return;
		}
	}
	kop_call(op, SYNOD_API_ELECT_LEADERS, &req.base, 0,
		 &synod__wire__elect_leaders_response__descriptor, el_done);
	return;
oom:
	kop_fail(op);
}
