/* controller/kafka_admin.c - Kafka's admin APIs on a controller node
 * (docs/kafka.md section 2). Each is served by the active controller
 * (another node relays it there: kafka_relay) as requests of the client
 * protocol run through the server's registry (kop_call): the same
 * handlers, checks, records and errors as synodctl's, the answers mapped
 * to Kafka's messages and codes. DescribeCluster is answered by any node
 * from its store, as Metadata is.
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

#define NEW(r, T) ((T *)kf_alloc(&(r)->ra, sizeof(T)))
#define NEWN(r, T, n) ((T *)kf_alloc(&(r)->ra, (n) * sizeof(T) + 1))

/* Kafka's ConfigResource types and config sources. */
enum { RES_TOPIC = 2, RES_BROKER = 4 };
enum {
	SRC_DYNAMIC_TOPIC = 1,
	SRC_DYNAMIC_DEFAULT_BROKER = 4,
	SRC_DEFAULT = 5,
};

static struct kafka *kafka_of(struct kafka_request *r)
{
	return r->arg;
}

static struct store *store_of(struct kafka_request *r)
{
	return kafka_of(r)->s->node->fsm.store;
}

/* An admin request's op on the active controller, or NULL when r was
 * relayed there (or closed: not active, out of memory). */
static struct kop *begin(struct kafka_request *r)
{
	if (kafka_relay(r))
		return NULL;
	return kop_new(kafka_of(r), r);
}

/* The Kafka error and message of op's call that failed as a whole. */
static void call_error(const struct kop *op, int16_t *err, const char **msg)
{
	*err = kafka_error_of(op->code);
	*msg = op->msg[0] ? op->msg : synod_strerror(op->code);
}

/* A message in the answer's arena (NULL when empty). */
static int set_msg(struct kafka_request *r, struct kf_val *v, const char *m)
{
	return kafka_str(r, v, m && m[0] ? m : NULL);
}

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
			call_error(op, &err, &msg);
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
			if (set_msg(r, &t->v[KF_CTT_ERROR_MSG], msg) != 0)
				goto oom;
			continue;
		}
		/* Version 5+ says what was made (the store of the active
		 * controller has it once the answer came). */
		if (store_topic_get(store_of(r), name, &st) == STORE_OK) {
			struct store_partition p;
			t->v[KF_CTT_NUM_PARTITIONS].i = st.n_partitions;
			if (store_partition_get(store_of(r), st.tid, 0, &p) ==
			    STORE_OK)
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
		    NEWN(r, Synod__Wire__ReplicaAssignment *, as->n);
		if (t->assignments == NULL)
			return KF_ERR_UNKNOWN_SERVER_ERROR;
		for (size_t i = 0; i < as->n; i++) {
			const struct kf_val *a = &as->v[i];
			const struct kf_val *ids = &a->v[KF_CTQA_BROKER_IDS];
			Synod__Wire__ReplicaAssignment *w =
			    NEW(r, Synod__Wire__ReplicaAssignment);
			int32_t *v = NEWN(r, int32_t, ids->n);
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
		t->configs = NEWN(r, Synod__Wire__ConfigEntry *, cs->n);
		if (t->configs == NULL)
			return KF_ERR_UNKNOWN_SERVER_ERROR;
		for (size_t i = 0; i < cs->n; i++) {
			const struct kf_val *c = &cs->v[i];
			Synod__Wire__ConfigEntry *e =
			    NEW(r, Synod__Wire__ConfigEntry);
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
	if ((op = begin(r)) == NULL)
		return;
	ct = NEW(r, struct ct);
	names = NEWN(r, const char *, want->n);
	dup = NEWN(r, unsigned char, want->n);
	req.topics = NEWN(r, Synod__Wire__CreatableTopic *, want->n);
	if (ct == NULL || names == NULL || dup == NULL || req.topics == NULL ||
	    (ct->sent = NEWN(r, int, want->n)) == NULL ||
	    kf_array(&r->ra, topics, want->n) != 0)
		goto oom;
	op->data = ct;
	for (size_t i = 0; i < want->n; i++)
		names[i] = want->v[i].v[KF_CTQT_NAME].p;
	if (names_duplicates(names, want->n, dup) < 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		struct kf_val *t =
		    kf_struct(&r->ra, &kf_creatable_topic_result);
		Synod__Wire__CreatableTopic *w =
		    NEW(r, Synod__Wire__CreatableTopic);
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
			if (set_msg(r, &topics->v[i].v[KF_CTT_ERROR_MSG], why))
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
			call_error(op, &err, &msg);
		t->v[KF_DTT_ERROR].i = err;
		if (err != KF_ERR_NONE &&
		    set_msg(r, &t->v[KF_DTT_ERROR_MSG], msg) != 0) {
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
	struct kop *op;
	if ((op = begin(r)) == NULL)
		return;
	if (kf_array(&r->ra, out, want->n) != 0 ||
	    (req.names = NEWN(r, char *, want->n)) == NULL)
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
			if (store_topic_get_by_id(store_of(r), id, &st) !=
			    STORE_OK) {
				t->v[KF_DTT_NAME].null = 1;
				t->v[KF_DTT_ERROR].i = KF_ERR_UNKNOWN_TOPIC_ID;
				if (set_msg(r, &t->v[KF_DTT_ERROR_MSG],
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
			if (store_topic_get(store_of(r), name, &st) !=
			    STORE_OK) {
				t->v[KF_DTT_ERROR].i =
				    KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
				if (set_msg(r, &t->v[KF_DTT_ERROR_MSG],
					    "no such topic"))
					goto oom;
				continue;
			}
			memcpy(t->v[KF_DTT_ID].uuid, st.topic_id, 16);
		}
		req.names[req.n_names++] = (char *)name;
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
		call_error(op, &err, &msg);
	t->v[KF_CPR_ERROR].i = err;
	if (err != KF_ERR_NONE && set_msg(r, &t->v[KF_CPR_ERROR_MSG], msg)) {
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
	if ((op = begin(r)) == NULL)
		return;
	names = NEWN(r, const char *, want->n);
	dup = NEWN(r, unsigned char, want->n);
	if (names == NULL || dup == NULL || kf_array(&r->ra, out, want->n) != 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++)
		names[i] = want->v[i].v[KF_CPQT_NAME].p;
	if (names_duplicates(names, want->n, dup) < 0)
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
		if (why && set_msg(r, &t->v[KF_CPR_ERROR_MSG], why))
			goto oom;
		out->v[i] = *t;
	}
	cp_next(op);
	return;
oom:
	kop_fail(op);
}

/* ---- configs: DescribeConfigs (32), AlterConfigs (33),
 * IncrementalAlterConfigs (44) ---- */

/* The Synod scope of a Kafka resource: 1 (topic) or 0 (cluster: the
 * default broker resource, or any broker: Synod's configs are the
 * cluster's), or -1 with a Kafka error. */
static int res_scope(struct kafka_request *r, int64_t type, const char *name,
		     int16_t *err, const char **why)
{
	struct store_topic st;
	if (type == RES_TOPIC) {
		if (store_topic_get(store_of(r), name, &st) != STORE_OK) {
			*err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
			*why = "no such topic";
			return -1;
		}
		return 1;
	}
	if (type == RES_BROKER) {
		for (const char *p = name; *p; p++)
			if (!isdigit((unsigned char)*p)) {
				*err = KF_ERR_INVALID_REQUEST;
				*why = "a broker resource is a broker id, or "
				       "empty for the default";
				return -1;
			}
		return 0;
	}
	*err = KF_ERR_INVALID_REQUEST;
	*why = "Synod has topic and broker (cluster-wide) configs only";
	return -1;
}

struct cfgval {
	char *topic, *cluster; /* set values (malloc'd), or NULL */
};

struct cfg_read {
	const char *key;
	char **out;
};

static int8_t config_type(const char *type)
{
	if (strcmp(type, "bool") == 0)
		return 1;
	if (strcmp(type, "int") == 0)
		return 3;
	if (strcmp(type, "long") == 0)
		return 5;
	if (strcmp(type, "double") == 0)
		return 6;
	if (strcmp(type, "list") == 0)
		return 7;
	return 2; /* string */
}

static int wanted_key(const struct kf_val *keys, const char *key)
{
	if (keys->null)
		return 1;
	for (size_t i = 0; i < keys->n; i++)
		if (strcmp(keys->v[i].p, key) == 0)
			return 1;
	return 0;
}

/* One resource's configs: every key that may be set at its scope, with
 * its value and source, and synonyms in precedence order. */
static int describe_resource(struct kafka_request *r, int scope,
			     const char *name, const struct kf_val *keys,
			     struct kf_val *res)
{
	int synonyms = r->body.v[KF_DCQ_SYNONYMS].i != 0;
	int docs = r->body.v[KF_DCQ_DOCUMENTATION].i != 0;
	unsigned want_scope = scope ? CONFIG_SCOPE_TOPIC : CONFIG_SCOPE_CLUSTER;
	struct kf_val *configs = &res->v[KF_DCR_CONFIGS];
	size_t n = 0, at = 0;
	for (const struct configdef *d = configdefs(); d->key; d++)
		if ((d->scopes & want_scope) && wanted_key(keys, d->key))
			n++;
	if (kf_array(&r->ra, configs, n) != 0)
		return -1;
	for (const struct configdef *d = configdefs(); d->key; d++) {
		struct kf_val *c, *syn;
		char *topic = NULL, *cluster = NULL;
		const char *value = d->default_value;
		int source = SRC_DEFAULT, n_syn = 0;
		if (!(d->scopes & want_scope) || !wanted_key(keys, d->key))
			continue;
		if (scope == 1)
			(void)store_config_get(store_of(r), 1, name, d->key,
					       &topic);
		(void)store_config_get(store_of(r), 0, "", d->key, &cluster);
		if (topic) {
			value = topic;
			source = SRC_DYNAMIC_TOPIC;
		} else if (cluster) {
			value = cluster;
			source = SRC_DYNAMIC_DEFAULT_BROKER;
		}
		c = kf_struct(&r->ra, &kf_describe_configs_resource_result);
		if (c == NULL || kafka_str(r, &c->v[KF_DCC_NAME], d->key) ||
		    kafka_str(r, &c->v[KF_DCC_VALUE], value) ||
		    (docs && kafka_str(r, &c->v[KF_DCC_DOCUMENTATION], d->doc)))
			goto oom;
		c->v[KF_DCC_IS_DEFAULT].i = source == SRC_DEFAULT;
		c->v[KF_DCC_SOURCE].i = source;
		c->v[KF_DCC_TYPE].i = config_type(d->type);
		if (!docs)
			c->v[KF_DCC_DOCUMENTATION].null = 1;
		syn = &c->v[KF_DCC_SYNONYMS];
		if (synonyms) {
			struct kf_val *s;
			if (kf_array(&r->ra, syn, 3) != 0)
				goto oom;
			if (topic) {
				if ((s = kf_struct(
					 &r->ra,
					 &kf_describe_configs_synonym)) ==
					NULL ||
				    kafka_str(r, &s->v[KF_DCS_NAME], d->key) ||
				    kafka_str(r, &s->v[KF_DCS_VALUE], topic))
					goto oom;
				s->v[KF_DCS_SOURCE].i = SRC_DYNAMIC_TOPIC;
				syn->v[n_syn++] = *s;
			}
			if (cluster) {
				if ((s = kf_struct(
					 &r->ra,
					 &kf_describe_configs_synonym)) ==
					NULL ||
				    kafka_str(r, &s->v[KF_DCS_NAME], d->key) ||
				    kafka_str(r, &s->v[KF_DCS_VALUE], cluster))
					goto oom;
				s->v[KF_DCS_SOURCE].i =
				    SRC_DYNAMIC_DEFAULT_BROKER;
				syn->v[n_syn++] = *s;
			}
			if ((s = kf_struct(&r->ra,
					   &kf_describe_configs_synonym)) ==
				NULL ||
			    kafka_str(r, &s->v[KF_DCS_NAME], d->key) ||
			    kafka_str(r, &s->v[KF_DCS_VALUE], d->default_value))
				goto oom;
			s->v[KF_DCS_SOURCE].i = SRC_DEFAULT;
			syn->v[n_syn++] = *s;
			syn->n = (size_t)n_syn;
		}
		free(topic);
		free(cluster);
		configs->v[at++] = *c;
		continue;
	oom:
		free(topic);
		free(cluster);
		return -1;
	}
	configs->n = at;
	return 0;
}

static void dc_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	const struct kf_val *want = &r->body.v[KF_DCQ_RESOURCES];
	struct kf_val *out = &r->resp->v[KF_DC_RESULTS];
	(void)m;
	if (op->code != SYNOD_OK) {
		/* The barrier failed: this node is no longer active. */
		kop_fail(op);
		return;
	}
	if (kf_array(&r->ra, out, want->n) != 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		const struct kf_val *q = &want->v[i];
		const char *name = q->v[KF_DCQR_NAME].p;
		struct kf_val *res =
		    kf_struct(&r->ra, &kf_describe_configs_result);
		int16_t err = KF_ERR_NONE;
		const char *why = NULL;
		int scope;
		if (res == NULL || kafka_str(r, &res->v[KF_DCR_NAME], name))
			goto oom;
		res->v[KF_DCR_TYPE].i = q->v[KF_DCQR_TYPE].i;
		res->v[KF_DCR_ERROR_MSG].null = 1;
		scope = res_scope(r, q->v[KF_DCQR_TYPE].i, name, &err, &why);
		if (scope < 0) {
			res->v[KF_DCR_ERROR].i = err;
			if (set_msg(r, &res->v[KF_DCR_ERROR_MSG], why))
				goto oom;
		} else if (describe_resource(r, scope, name,
					     &q->v[KF_DCQR_KEYS], res) != 0) {
			goto oom;
		}
		out->v[i] = *res;
	}
	kop_done(op);
	return;
oom:
	kop_fail(op);
}

void kafka_describe_configs(struct kafka_request *r, struct kf_val *resp)
{
	Synod__Wire__ConfigListRequest req =
	    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
	struct kop *op;
	(void)resp;
	if ((op = begin(r)) == NULL)
		return;
	/* A read barrier first (the cluster's configs: a few), then the
	 * configs from this node's store, which has every write
	 * acknowledged before. */
	req.has_scope = 1;
	req.scope = 0;
	kop_call(op, SYNOD_API_CONFIG_LIST, &req.base, 0, NULL, dc_done);
}

/* The alters: per resource, one CONFIG_SET of the values set, then one
 * CONFIG_DELETE per key removed (IncrementalAlterConfigs' DELETE, or
 * AlterConfigs' keys not given). */
struct alter {
	int incremental;
	int scope;
	const char *name;
	char **deletes; /* keys to delete, then */
	size_t n_deletes, at;
	int16_t err;
	const char *why;
};

static const struct kf_val *alter_resources(struct kafka_request *r,
					    struct alter *a)
{
	return &r->body
		    .v[a->incremental ? KF_IACQ_RESOURCES : KF_ACQ_RESOURCES];
}

static struct kf_val *alter_result(struct kafka_request *r, struct alter *a,
				   size_t i)
{
	return &r->resp->v[a->incremental ? KF_IAC_RESPONSES : KF_AC_RESPONSES]
		    .v[i];
}

static void alter_next(struct kop *op);

/* Record the resource's outcome and go to the next one. */
static void alter_finish(struct kop *op, int16_t err, const char *why)
{
	struct kafka_request *r = op->r;
	struct alter *a = op->data;
	struct kf_val *res = alter_result(r, a, op->i);
	/* Both responses have error, message, type, name in that order. */
	res->v[KF_ACR_ERROR].i = err;
	if (err != KF_ERR_NONE && set_msg(r, &res->v[KF_ACR_ERROR_MSG], why)) {
		kop_fail(op);
		return;
	}
	op->i++;
	op->j = 0;
	alter_next(op);
}

static void alter_deleted(struct kop *op, ProtobufCMessage *m)
{
	struct alter *a = op->data;
	const char *why;
	int16_t err;
	(void)m;
	/* Deleting a key that is not set is no error (Kafka's too). */
	if (op->code != SYNOD_OK && op->code != SYNOD_ENOT_FOUND) {
		call_error(op, &err, &why);
		alter_finish(op, err, why);
		return;
	}
	a->at++;
	alter_next(op);
}

static void alter_set(struct kop *op, ProtobufCMessage *m)
{
	struct alter *a = op->data;
	const char *why;
	int16_t err;
	(void)m;
	if (op->code != SYNOD_OK) {
		call_error(op, &err, &why);
		alter_finish(op, err, why);
		return;
	}
	a->at = 0;
	op->j = 2;
	alter_next(op);
}

struct keys {
	struct kafka_request *r;
	const struct kf_val *configs; /* AlterConfigs' given ones */
	struct alter *a;
	int failed;
};

static int collect_unset(void *arg, unsigned scope, const char *resource,
			 const char *key, const char *value)
{
	struct keys *k = arg;
	char **grown;
	(void)scope;
	(void)resource;
	(void)value;
	for (size_t i = 0; i < k->configs->n; i++)
		if (strcmp(k->configs->v[i].v[KF_ACQC_NAME].p, key) == 0)
			return 0; /* set again */
	grown = NEWN(k->r, char *, k->a->n_deletes + 1);
	if (grown == NULL) {
		k->failed = 1;
		return 1;
	}
	if (k->a->n_deletes)
		memcpy(grown, k->a->deletes, k->a->n_deletes * sizeof *grown);
	if ((grown[k->a->n_deletes] = NEWN(k->r, char, strlen(key) + 1)) ==
	    NULL) {
		k->failed = 1;
		return 1;
	}
	strcpy(grown[k->a->n_deletes], key);
	k->a->deletes = grown;
	k->a->n_deletes++;
	return 0;
}

/* Phase 0 of resource op->i: check it, send its CONFIG_SET. */
static int alter_begin(struct kop *op)
{
	struct kafka_request *r = op->r;
	struct alter *a = op->data;
	const struct kf_val *q = &alter_resources(r, a)->v[op->i];
	const struct kf_val *cs = &q->v[KF_ACQR_CONFIGS];
	int validate = r->body
			   .v[a->incremental ? KF_IACQ_VALIDATE_ONLY
					     : KF_ACQ_VALIDATE_ONLY]
			   .i != 0;
	Synod__Wire__ConfigSetRequest req =
	    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	const char *why = NULL;
	int16_t err = KF_ERR_NONE;
	a->name = q->v[KF_ACQR_NAME].p;
	a->scope = res_scope(r, q->v[KF_ACQR_TYPE].i, a->name, &err, &why);
	a->n_deletes = 0;
	a->deletes = NULL;
	a->at = 0;
	if (a->scope == 0 && a->name[0]) {
		err = KF_ERR_INVALID_REQUEST;
		why = "Synod has no per-broker configs: alter the default "
		      "broker resource (an empty name), the cluster's";
		a->scope = -1;
	}
	if (a->scope < 0) {
		alter_finish(op, err, why);
		return 1;
	}
	if ((req.entries = NEWN(r, Synod__Wire__ConfigEntry *, cs->n)) ==
		NULL ||
	    (a->deletes = NEWN(r, char *, cs->n)) == NULL)
		return -1;
	for (size_t i = 0; i < cs->n; i++) {
		const struct kf_val *c = &cs->v[i];
		/* The alterable configs of both APIs: name first, the
		 * value last. */
		const struct kf_val *value =
		    &c->v[a->incremental ? KF_IACQC_VALUE : KF_ACQC_VALUE];
		const char *key = c->v[KF_ACQC_NAME].p;
		int64_t opcode = a->incremental ? c->v[KF_IACQC_OP].i : 0;
		Synod__Wire__ConfigEntry *e;
		if (opcode == 1) { /* DELETE */
			a->deletes[a->n_deletes++] = (char *)key;
			continue;
		}
		if (opcode != 0) {
			alter_finish(op, KF_ERR_INVALID_REQUEST,
				     "APPEND and SUBTRACT are not supported: "
				     "SET the whole value");
			return 1;
		}
		if (value->null) {
			if (a->incremental) {
				alter_finish(op, KF_ERR_INVALID_REQUEST,
					     "SET needs a value");
				return 1;
			}
			continue; /* AlterConfigs: null leaves it unset */
		}
		if ((e = NEW(r, Synod__Wire__ConfigEntry)) == NULL)
			return -1;
		*e = (Synod__Wire__ConfigEntry)SYNOD__WIRE__CONFIG_ENTRY__INIT;
		e->scope = (uint32_t)a->scope;
		e->resource = (char *)(a->scope ? a->name : "");
		e->key = (char *)key;
		e->value = (char *)value->p;
		req.entries[req.n_entries++] = e;
	}
	if (!a->incremental) {
		/* AlterConfigs replaces: the keys set now and not given
		 * are deleted. */
		struct keys k = {r, cs, a, 0};
		a->n_deletes = 0;
		if (store_config_list(store_of(r), a->scope,
				      a->scope ? a->name : "", collect_unset,
				      &k) != STORE_OK ||
		    k.failed)
			return -1;
	}
	for (size_t i = 0; i < a->n_deletes; i++)
		if (configdef_find(a->deletes[i]) == NULL) {
			alter_finish(op, KF_ERR_INVALID_CONFIG,
				     "unknown config key");
			return 1;
		}
	if (validate)
		a->n_deletes = 0; /* CONFIG_SET validates; nothing deleted */
	op->j = 1;
	if (req.n_entries == 0) {
		op->j = 2;
		return 0;
	}
	req.has_validate_only = 1;
	req.validate_only = validate;
	kop_call(op, SYNOD_API_CONFIG_SET, &req.base, 0, NULL, alter_set);
	return 1;
}

static void alter_next(struct kop *op)
{
	struct kafka_request *r = op->r;
	struct alter *a = op->data;
	while (op->i < alter_resources(r, a)->n) {
		if (op->j == 0) {
			int rv = alter_begin(op);
			if (rv < 0) {
				kop_fail(op);
				return;
			}
			if (rv > 0)
				return; /* a call, or finished (went on) */
		}
		if (a->at < a->n_deletes) {
			Synod__Wire__ConfigDeleteRequest req =
			    SYNOD__WIRE__CONFIG_DELETE_REQUEST__INIT;
			req.scope = (uint32_t)a->scope;
			req.resource = (char *)(a->scope ? a->name : "");
			req.key = a->deletes[a->at];
			kop_call(op, SYNOD_API_CONFIG_DELETE, &req.base, 0,
				 NULL, alter_deleted);
			return;
		}
		alter_finish(op, KF_ERR_NONE, NULL);
		return;
	}
	kop_done(op);
}

static void alter_start(struct kafka_request *r, struct kf_val *resp,
			int incremental)
{
	struct alter *a;
	const struct kf_val *want;
	struct kf_val *out =
	    &resp->v[incremental ? KF_IAC_RESPONSES : KF_AC_RESPONSES];
	struct kop *op;
	if ((op = begin(r)) == NULL)
		return;
	if ((a = NEW(r, struct alter)) == NULL)
		goto oom;
	a->incremental = incremental;
	op->data = a;
	want = alter_resources(r, a);
	if (kf_array(&r->ra, out, want->n) != 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		struct kf_val *res = kf_struct(
		    &r->ra,
		    incremental
			? &kf_incremental_alter_configs_resource_response
			: &kf_alter_configs_resource_response);
		if (res == NULL || kafka_str(r, &res->v[KF_ACR_NAME],
					     want->v[i].v[KF_ACQR_NAME].p))
			goto oom;
		res->v[KF_ACR_TYPE].i = want->v[i].v[KF_ACQR_TYPE].i;
		res->v[KF_ACR_ERROR_MSG].null = 1;
		out->v[i] = *res;
	}
	alter_next(op);
	return;
oom:
	kop_fail(op);
}

void kafka_alter_configs(struct kafka_request *r, struct kf_val *resp)
{
	alter_start(r, resp, 0);
}

void kafka_incremental_alter_configs(struct kafka_request *r,
				     struct kf_val *resp)
{
	alter_start(r, resp, 1);
}

/* ---- ElectLeaders (43) ---- */

static void el_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	const Synod__Wire__ElectLeadersResponse *resp = (const void *)m;
	struct kf_val *out = &r->resp->v[KF_EL_RESULTS];
	int unclean = r->version >= 1 && r->body.v[KF_ELQ_TYPE].i == 1;
	size_t n_topics = 0;
	if (m == NULL || op->code != SYNOD_OK) {
		const char *why;
		int16_t err;
		call_error(op, &err, &why);
		r->resp->v[KF_EL_ERROR].i = err;
		kop_done(op);
		return;
	}
	/* Results grouped by topic (the answer lists them topic by
	 * topic). */
	if (kf_array(&r->ra, out, resp->n_results) != 0)
		goto oom;
	for (size_t i = 0; i < resp->n_results; i++) {
		const Synod__Wire__ElectionResult *er = resp->results[i];
		struct kf_val *t = NULL, *p, *parts;
		int16_t err;
		for (size_t x = 0; x < n_topics && t == NULL; x++)
			if (strcmp(out->v[x].v[KF_ELR_TOPIC].p, er->topic) == 0)
				t = &out->v[x];
		if (t == NULL) {
			struct kf_val *nt =
			    kf_struct(&r->ra, &kf_replica_election_result);
			if (nt == NULL ||
			    kafka_str(r, &nt->v[KF_ELR_TOPIC], er->topic) ||
			    kf_array(&r->ra, &nt->v[KF_ELR_PARTITIONS],
				     resp->n_results))
				goto oom;
			nt->v[KF_ELR_PARTITIONS].n = 0;
			out->v[n_topics] = *nt;
			t = &out->v[n_topics++];
		}
		parts = &t->v[KF_ELR_PARTITIONS];
		if ((p = kf_struct(&r->ra,
				   &kf_elect_leaders_partition_result)) == NULL)
			goto oom;
		switch (er->code) {
		case SYNOD_OK:
			err = KF_ERR_NONE;
			break;
		case SYNOD_EELECTION_NOT_NEEDED:
			err = KF_ERR_ELECTION_NOT_NEEDED;
			break;
		case SYNOD_EUNKNOWN_TOPIC:
		case SYNOD_EUNKNOWN_PARTITION:
			err = KF_ERR_UNKNOWN_TOPIC_OR_PARTITION;
			break;
		default:
			err = unclean ? KF_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE
				      : KF_ERR_PREFERRED_LEADER_NOT_AVAILABLE;
		}
		p->v[KF_ELP_PARTITION].i = er->partition;
		p->v[KF_ELP_ERROR].i = err;
		if (err != KF_ERR_NONE && kafka_str(r, &p->v[KF_ELP_ERROR_MSG],
						    synod_strerror(er->code)))
			goto oom;
		if (err == KF_ERR_NONE)
			p->v[KF_ELP_ERROR_MSG].null = 1;
		parts->v[parts->n++] = *p;
	}
	out->n = n_topics;
	kop_done(op);
	return;
oom:
	kop_fail(op);
}

void kafka_elect_leaders(struct kafka_request *r, struct kf_val *resp)
{
	const struct kf_val *want = &r->body.v[KF_ELQ_TOPIC_PARTITIONS];
	Synod__Wire__ElectLeadersRequest req =
	    SYNOD__WIRE__ELECT_LEADERS_REQUEST__INIT;
	struct kop *op;
	(void)resp;
	if ((op = begin(r)) == NULL)
		return;
	/* Version 0 elects the preferred leaders; 1+ says which. */
	req.type = r->version >= 1 ? (uint32_t)r->body.v[KF_ELQ_TYPE].i : 0;
	if (req.type > 1) {
		r->resp->v[KF_EL_ERROR].i = KF_ERR_INVALID_REQUEST;
		kop_done(op);
		return;
	}
	if (!want->null && want->n > 0) {
		req.n_partitions = want->n;
		req.partitions =
		    NEWN(r, Synod__Wire__TopicPartitions *, want->n);
		if (req.partitions == NULL)
			goto oom;
		for (size_t i = 0; i < want->n; i++) {
			const struct kf_val *q = &want->v[i];
			const struct kf_val *ps = &q->v[KF_ELQT_PARTITIONS];
			Synod__Wire__TopicPartitions *tp =
			    NEW(r, Synod__Wire__TopicPartitions);
			int32_t *v = NEWN(r, int32_t, ps->n);
			if (tp == NULL || v == NULL)
				goto oom;
			*tp = (Synod__Wire__TopicPartitions)
			    SYNOD__WIRE__TOPIC_PARTITIONS__INIT;
			tp->topic = (char *)q->v[KF_ELQT_TOPIC].p;
			for (size_t x = 0; x < ps->n; x++)
				v[x] = (int32_t)ps->v[x].i;
			tp->n_partitions = ps->n;
			tp->partitions = v;
			req.partitions[i] = tp;
		}
	}
	kop_call(op, SYNOD_API_ELECT_LEADERS, &req.base, 0,
		 &synod__wire__elect_leaders_response__descriptor, el_done);
	return;
oom:
	kop_fail(op);
}

/* ---- groups: ListGroups (16), DescribeGroups (15),
 * ConsumerGroupDescribe (69) ---- */

/* "Empty", "Assigning", "Reconciling", "Stable" (Kafka's spelling of
 * KIP-848's states) from Synod's "empty", ... */
static int state_name(struct kafka_request *r, struct kf_val *v,
		      const char *state)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%s", state ? state : "");
	buf[0] = (char)toupper((unsigned char)buf[0]);
	return kafka_str(r, v, buf);
}

static void lg_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	const Synod__Wire__GroupListResponse *resp = (const void *)m;
	const struct kf_val *filter = &r->body.v[KF_LGQ_STATES_FILTER];
	struct kf_val *out = &r->resp->v[KF_LG_GROUPS];
	if (m == NULL || op->code != SYNOD_OK) {
		const char *why;
		int16_t err;
		call_error(op, &err, &why);
		r->resp->v[KF_LG_ERROR].i = err;
		kop_done(op);
		return;
	}
	if (kf_array(&r->ra, out, resp->n_groups) != 0)
		goto oom;
	out->n = 0;
	for (size_t i = 0; i < resp->n_groups; i++) {
		const Synod__Wire__GroupSummary *g = resp->groups[i];
		struct kf_val *e = kf_struct(&r->ra, &kf_listed_group);
		int keep = filter->n == 0;
		for (size_t x = 0; x < filter->n && !keep; x++)
			keep = strcasecmp(filter->v[x].p, g->state) == 0;
		if (!keep)
			continue;
		if (e == NULL ||
		    kafka_str(r, &e->v[KF_LGG_GROUP_ID], g->group_id) ||
		    kafka_str(r, &e->v[KF_LGG_PROTOCOL_TYPE], "consumer") ||
		    state_name(r, &e->v[KF_LGG_STATE], g->state))
			goto oom;
		out->v[out->n++] = *e;
	}
	kop_done(op);
	return;
oom:
	kop_fail(op);
}

void kafka_list_groups(struct kafka_request *r, struct kf_val *resp)
{
	Synod__Wire__GroupListRequest req =
	    SYNOD__WIRE__GROUP_LIST_REQUEST__INIT;
	struct kop *op;
	(void)resp;
	if ((op = begin(r)) == NULL)
		return;
	kop_call(op, SYNOD_API_GROUP_LIST, &req.base, 0,
		 &synod__wire__group_list_response__descriptor, lg_done);
}

/* The consumer protocol's bytes (version 0, an int16 version first):
 * the subscription (topic names) or the assignment (partitions by
 * topic). */
static int consumer_bytes(struct kafka_request *r, struct kf_val *out,
			  const struct kf_schema *s, const struct kf_val *v)
{
	struct kf_buf b = {0};
	uint8_t *p;
	kf_put_i16(&b, 0);
	kf_encode(s, 0, 0, v, &b);
	if (b.failed || (p = kf_alloc(&r->ra, b.len + 1)) == NULL) {
		kf_buf_free(&b);
		return -1;
	}
	memcpy(p, b.p, b.len);
	out->null = 0;
	out->p = (const char *)p;
	out->len = b.len;
	kf_buf_free(&b);
	return 0;
}

static int member_subscription(struct kafka_request *r, struct kf_val *out,
			       const Synod__Wire__GroupMemberDescription *gm)
{
	struct kf_val *sub =
	    kf_struct(&r->ra, &kf_consumer_protocol_subscription);
	struct kf_val *topics;
	if (sub == NULL)
		return -1;
	topics = &sub->v[KF_CSUB_TOPICS];
	if (kf_array(&r->ra, topics, gm->n_subscribed_topic_names) != 0)
		return -1;
	for (size_t i = 0; i < gm->n_subscribed_topic_names; i++)
		if (kafka_str(r, &topics->v[i], gm->subscribed_topic_names[i]))
			return -1;
	sub->v[KF_CSUB_USER_DATA].null = 1;
	return consumer_bytes(r, out, &kf_consumer_protocol_subscription, sub);
}

static int member_assignment(struct kafka_request *r, struct kf_val *out,
			     const Synod__Wire__GroupPartitionSet *set)
{
	struct kf_val *asg =
	    kf_struct(&r->ra, &kf_consumer_protocol_assignment);
	struct kf_val *tps;
	size_t n = set ? set->n_topics : 0;
	if (asg == NULL)
		return -1;
	tps = &asg->v[KF_CASG_PARTITIONS];
	if (kf_array(&r->ra, tps, n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const Synod__Wire__GroupTopicPartitions *gt = set->topics[i];
		struct kf_val *tp =
		    kf_struct(&r->ra, &kf_consumer_protocol_topic_partition);
		struct kf_val *ps;
		if (tp == NULL || kafka_str(r, &tp->v[KF_CASGT_TOPIC],
					    gt->topic ? gt->topic : ""))
			return -1;
		ps = &tp->v[KF_CASGT_PARTITIONS];
		if (kf_int32s(&r->ra, ps, gt->partitions, gt->n_partitions))
			return -1;
		tps->v[i] = *tp;
	}
	asg->v[KF_CASG_USER_DATA].null = 1;
	return consumer_bytes(r, out, &kf_consumer_protocol_assignment, asg);
}

static void dg_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	const Synod__Wire__GroupDescribeResponse *resp = (const void *)m;
	const struct kf_val *want = &r->body.v[KF_DGQ_GROUPS];
	struct kf_val *out = &r->resp->v[KF_DG_GROUPS];
	if (kf_array(&r->ra, out, want->n) != 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		const Synod__Wire__GroupDescription *gd = NULL;
		struct kf_val *g = kf_struct(&r->ra, &kf_described_group);
		struct kf_val *members;
		if (g == NULL ||
		    kafka_str(r, &g->v[KF_DGG_GROUP_ID], want->v[i].p) ||
		    kafka_str(r, &g->v[KF_DGG_PROTOCOL_TYPE], "consumer"))
			goto oom;
		out->v[i] = *g;
		g = &out->v[i];
		if (m == NULL || op->code != SYNOD_OK) {
			const char *why;
			int16_t err;
			call_error(op, &err, &why);
			g->v[KF_DGG_ERROR].i = err;
			continue;
		}
		for (size_t x = 0; x < resp->n_groups && gd == NULL; x++)
			if (resp->groups[x]->summary &&
			    strcmp(resp->groups[x]->summary->group_id,
				   want->v[i].p) == 0)
				gd = resp->groups[x];
		if (gd == NULL || (gd->has_code && gd->code != SYNOD_OK)) {
			/* As a Kafka coordinator says of a group it does
			 * not have: no error, state Dead. */
			if (kafka_str(r, &g->v[KF_DGG_STATE], "Dead") ||
			    kafka_str(r, &g->v[KF_DGG_PROTOCOL_TYPE], ""))
				goto oom;
			continue;
		}
		if (state_name(r, &g->v[KF_DGG_STATE], gd->summary->state) ||
		    kafka_str(r, &g->v[KF_DGG_PROTOCOL_DATA],
			      gd->summary->assignor))
			goto oom;
		members = &g->v[KF_DGG_MEMBERS];
		if (kf_array(&r->ra, members, gd->n_members) != 0)
			goto oom;
		for (size_t x = 0; x < gd->n_members; x++) {
			const Synod__Wire__GroupMemberDescription *gm =
			    gd->members[x];
			struct kf_val *e =
			    kf_struct(&r->ra, &kf_described_group_member);
			if (e == NULL ||
			    kafka_str(r, &e->v[KF_DGM_MEMBER_ID],
				      gm->member_id) ||
			    kafka_str(r, &e->v[KF_DGM_INSTANCE_ID],
				      gm->instance_id) ||
			    kafka_str(r, &e->v[KF_DGM_CLIENT_ID],
				      gm->client_id ? gm->client_id : "") ||
			    kafka_str(r, &e->v[KF_DGM_CLIENT_HOST],
				      gm->client_host ? gm->client_host : "") ||
			    member_subscription(r, &e->v[KF_DGM_METADATA],
						gm) ||
			    member_assignment(r, &e->v[KF_DGM_ASSIGNMENT],
					      gm->assigned))
				goto oom;
			members->v[x] = *e;
		}
	}
	kop_done(op);
	return;
oom:
	kop_fail(op);
}

static void group_describe(struct kafka_request *r, const struct kf_val *ids,
			   kop_step step)
{
	Synod__Wire__GroupDescribeRequest req =
	    SYNOD__WIRE__GROUP_DESCRIBE_REQUEST__INIT;
	struct kop *op;
	if ((op = begin(r)) == NULL)
		return;
	if (ids->n == 0) {
		step(op, NULL);
		return;
	}
	if ((req.group_ids = NEWN(r, char *, ids->n)) == NULL) {
		kop_fail(op);
		return;
	}
	for (size_t i = 0; i < ids->n; i++)
		req.group_ids[i] = (char *)ids->v[i].p;
	req.n_group_ids = ids->n;
	kop_call(op, SYNOD_API_GROUP_DESCRIBE, &req.base, 0,
		 &synod__wire__group_describe_response__descriptor, step);
}

void kafka_describe_groups(struct kafka_request *r, struct kf_val *resp)
{
	(void)resp;
	group_describe(r, &r->body.v[KF_DGQ_GROUPS], dg_done);
}

static int cgd_partitions(struct kafka_request *r, struct kf_val *out,
			  const Synod__Wire__GroupPartitionSet *set)
{
	struct kf_val *a = kf_struct(&r->ra, &kf_consumer_group_assignment);
	struct kf_val *tps;
	size_t n = set ? set->n_topics : 0;
	if (a == NULL)
		return -1;
	tps = &a->v[KF_CGDA_TOPIC_PARTITIONS];
	if (kf_array(&r->ra, tps, n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const Synod__Wire__GroupTopicPartitions *gt = set->topics[i];
		struct kf_val *tp =
		    kf_struct(&r->ra, &kf_consumer_group_topic_partitions);
		struct kf_val *ps;
		if (tp == NULL || kafka_str(r, &tp->v[KF_CGDT_NAME],
					    gt->topic ? gt->topic : ""))
			return -1;
		if (gt->topic_id.len == 16)
			memcpy(tp->v[KF_CGDT_ID].uuid, gt->topic_id.data, 16);
		ps = &tp->v[KF_CGDT_PARTITIONS];
		if (kf_int32s(&r->ra, ps, gt->partitions, gt->n_partitions))
			return -1;
		tps->v[i] = *tp;
	}
	*out = *a;
	return 0;
}

static void cgd_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	const Synod__Wire__GroupDescribeResponse *resp = (const void *)m;
	const struct kf_val *want = &r->body.v[KF_CGDQ_GROUP_IDS];
	struct kf_val *out = &r->resp->v[KF_CGD_GROUPS];
	if (kf_array(&r->ra, out, want->n) != 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		const Synod__Wire__GroupDescription *gd = NULL;
		struct kf_val *g =
		    kf_struct(&r->ra, &kf_consumer_group_described_group);
		struct kf_val *members;
		if (g == NULL ||
		    kafka_str(r, &g->v[KF_CGDG_GROUP_ID], want->v[i].p))
			goto oom;
		g->v[KF_CGDG_ERROR_MSG].null = 1;
		out->v[i] = *g;
		g = &out->v[i];
		if (m == NULL || op->code != SYNOD_OK) {
			const char *why;
			int16_t err;
			call_error(op, &err, &why);
			g->v[KF_CGDG_ERROR].i = err;
			if (set_msg(r, &g->v[KF_CGDG_ERROR_MSG], why))
				goto oom;
			continue;
		}
		for (size_t x = 0; x < resp->n_groups && gd == NULL; x++)
			if (resp->groups[x]->summary &&
			    strcmp(resp->groups[x]->summary->group_id,
				   want->v[i].p) == 0)
				gd = resp->groups[x];
		if (gd == NULL || (gd->has_code && gd->code != SYNOD_OK)) {
			g->v[KF_CGDG_ERROR].i = KF_ERR_GROUP_ID_NOT_FOUND;
			if (set_msg(r, &g->v[KF_CGDG_ERROR_MSG],
				    "no such group"))
				goto oom;
			continue;
		}
		if (state_name(r, &g->v[KF_CGDG_STATE], gd->summary->state) ||
		    kafka_str(r, &g->v[KF_CGDG_ASSIGNOR],
			      gd->summary->assignor))
			goto oom;
		g->v[KF_CGDG_EPOCH].i = gd->summary->group_epoch;
		g->v[KF_CGDG_ASSIGNMENT_EPOCH].i =
		    gd->summary->assignment_epoch;
		members = &g->v[KF_CGDG_MEMBERS];
		if (kf_array(&r->ra, members, gd->n_members) != 0)
			goto oom;
		for (size_t x = 0; x < gd->n_members; x++) {
			const Synod__Wire__GroupMemberDescription *gm =
			    gd->members[x];
			struct kf_val *e =
			    kf_struct(&r->ra, &kf_consumer_group_member);
			struct kf_val *names;
			if (e == NULL ||
			    kafka_str(r, &e->v[KF_CGDM_MEMBER_ID],
				      gm->member_id) ||
			    kafka_str(r, &e->v[KF_CGDM_INSTANCE_ID],
				      gm->instance_id) ||
			    kafka_str(r, &e->v[KF_CGDM_RACK_ID], gm->rack) ||
			    kafka_str(r, &e->v[KF_CGDM_CLIENT_ID],
				      gm->client_id ? gm->client_id : "") ||
			    kafka_str(r, &e->v[KF_CGDM_CLIENT_HOST],
				      gm->client_host ? gm->client_host : "") ||
			    kafka_str(r, &e->v[KF_CGDM_TOPIC_REGEX],
				      gm->subscribed_topic_regex) ||
			    cgd_partitions(r, &e->v[KF_CGDM_ASSIGNMENT],
					   gm->assigned) ||
			    cgd_partitions(r, &e->v[KF_CGDM_TARGET_ASSIGNMENT],
					   gm->target))
				goto oom;
			e->v[KF_CGDM_EPOCH].i = gm->member_epoch;
			names = &e->v[KF_CGDM_TOPIC_NAMES];
			if (kf_array(&r->ra, names,
				     gm->n_subscribed_topic_names) != 0)
				goto oom;
			for (size_t t = 0; t < gm->n_subscribed_topic_names;
			     t++)
				if (kafka_str(r, &names->v[t],
					      gm->subscribed_topic_names[t]))
					goto oom;
			members->v[x] = *e;
		}
	}
	kop_done(op);
	return;
oom:
	kop_fail(op);
}

void kafka_consumer_group_describe(struct kafka_request *r, struct kf_val *resp)
{
	(void)resp;
	group_describe(r, &r->body.v[KF_CGDQ_GROUP_IDS], cgd_done);
}

/* ---- DescribeCluster (60): any node, from its store ---- */

struct dcl {
	struct kafka_request *r;
	struct kf_val *brokers;
	int32_t first;
	int failed;
};

static int dcl_broker(void *arg, const struct store_broker *b)
{
	struct dcl *d = arg;
	struct kf_val *e;
	if (b->fenced || b->shutting_down || b->n_endpoints == 0)
		return 0;
	if ((e = kf_struct(&d->r->ra, &kf_describe_cluster_broker)) == NULL ||
	    kafka_str(d->r, &e->v[KF_DCLB_HOST], b->endpoints[0].host) ||
	    kafka_str(d->r, &e->v[KF_DCLB_RACK],
		      b->has_rack ? b->rack : NULL)) {
		d->failed = 1;
		return -1;
	}
	e->v[KF_DCLB_BROKER_ID].i = b->id;
	e->v[KF_DCLB_PORT].i = b->endpoints[0].port;
	if (d->brokers->n % 64 == 0) {
		struct kf_val *v =
		    kf_alloc(&d->r->ra, (d->brokers->n + 64) * sizeof *v);
		if (v == NULL) {
			d->failed = 1;
			return -1;
		}
		if (d->brokers->n)
			memcpy(v, d->brokers->v, d->brokers->n * sizeof *v);
		d->brokers->v = v;
	}
	d->brokers->v[d->brokers->n++] = *e;
	if (d->first < 0 || b->id < d->first)
		d->first = b->id;
	return 0;
}

void kafka_describe_cluster(struct kafka_request *r, struct kf_val *resp)
{
	struct kafka *k = kafka_of(r);
	struct dcl d = {r, &resp->v[KF_DCL_BROKERS], -1, 0};
	resp->v[KF_DCL_ERROR_MSG].null = 1;
	if (r->version >= 1 && r->body.v[KF_DCLQ_ENDPOINT_TYPE].i != 1) {
		/* KIP-919's controller endpoints: this node knows the
		 * others' client ports, not their Kafka ports. */
		resp->v[KF_DCL_ERROR].i = KF_ERR_UNSUPPORTED_ENDPOINT_TYPE;
		if (kafka_str(r, &resp->v[KF_DCL_ERROR_MSG],
			      "only broker endpoints (type 1) are served"))
			goto oom;
		kafka_respond(r);
		return;
	}
	if (kafka_str(r, &resp->v[KF_DCL_CLUSTER_ID],
		      k->s->node->cfg->cluster_id))
		goto oom;
	if (kf_array(&r->ra, d.brokers, 0) != 0 ||
	    store_broker_list(store_of(r), dcl_broker, &d) != 0 || d.failed)
		goto oom;
	/* As in Metadata: admin requests go to a live broker. */
	resp->v[KF_DCL_CONTROLLER_ID].i = d.first;
	kafka_respond(r);
	return;
oom:
	kafka_respond_close(r);
}

/* ---- FindCoordinator (10): any node, from its store ---- */

/* Groups are coordinated by the active controller; Kafka clients reach it
 * through a broker's listener, as for admin requests: the coordinator
 * named is the lowest live broker (the controller id of Metadata). */
struct first_live {
	struct store_broker b;
	int found;
};

static int first_live(void *arg, const struct store_broker *b)
{
	struct first_live *f = arg;
	if (b->fenced || b->shutting_down || b->n_endpoints == 0)
		return 0;
	if (!f->found || b->id < f->b.id) {
		f->b = *b;
		f->found = 1;
	}
	return 0;
}

static int coordinator(struct kafka_request *r, const struct first_live *f,
		       int64_t key_type, struct kf_val *err, struct kf_val *msg,
		       struct kf_val *id, struct kf_val *host,
		       struct kf_val *port)
{
	msg->null = 1;
	if (key_type != 0) {
		err->i = KF_ERR_COORDINATOR_NOT_AVAILABLE;
		id->i = -1;
		port->i = -1;
		return kafka_str(r, msg,
				 "Synod coordinates consumer groups "
				 "only (key type 0)");
	}
	if (!f->found) {
		err->i = KF_ERR_COORDINATOR_NOT_AVAILABLE;
		id->i = -1;
		port->i = -1;
		return kafka_str(r, msg, "no live broker");
	}
	id->i = f->b.id;
	port->i = f->b.endpoints[0].port;
	return kafka_str(r, host, f->b.endpoints[0].host);
}

void kafka_find_coordinator(struct kafka_request *r, struct kf_val *resp)
{
	struct first_live f;
	int64_t type = r->body.v[KF_FCQ_KEY_TYPE].i;
	memset(&f, 0, sizeof f);
	if (store_broker_list(store_of(r), first_live, &f) != 0)
		goto fail;
	if (r->version < 4) {
		if (coordinator(r, &f, type, &resp->v[KF_FC_ERROR],
				&resp->v[KF_FC_ERROR_MSG],
				&resp->v[KF_FC_NODE_ID], &resp->v[KF_FC_HOST],
				&resp->v[KF_FC_PORT]))
			goto fail;
	} else {
		const struct kf_val *keys = &r->body.v[KF_FCQ_KEYS];
		struct kf_val *cs = &resp->v[KF_FC_COORDINATORS];
		if (kf_array(&r->ra, cs, keys->n) != 0)
			goto fail;
		for (size_t i = 0; i < keys->n; i++) {
			struct kf_val *c = kf_struct(&r->ra, &kf_coordinator);
			if (c == NULL ||
			    kafka_str(r, &c->v[KF_FCC_KEY], keys->v[i].p) ||
			    coordinator(r, &f, type, &c->v[KF_FCC_ERROR],
					&c->v[KF_FCC_ERROR_MSG],
					&c->v[KF_FCC_NODE_ID],
					&c->v[KF_FCC_HOST], &c->v[KF_FCC_PORT]))
				goto fail;
			cs->v[i] = *c;
		}
	}
	kafka_respond(r);
	return;
fail:
	kafka_respond_close(r);
}

/* ---- DescribeQuorum (55): the active controller's raft progress ---- */

static void dq_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	struct kafka *k = kafka_of(r);
	const Synod__Wire__NodeStatusResponse *st = (const void *)m;
	Synod__Wire__MetadataResponse *md;
	struct kf_val *topics = &r->resp->v[KF_DQ_TOPICS], *t, *p;
	struct kf_val *voters, *observers;
	size_t nv = 0, no = 0;
	if (m == NULL || op->code != SYNOD_OK) {
		const char *why;
		int16_t err;
		call_error(op, &err, &why);
		r->resp->v[KF_DQ_ERROR].i = err;
		kop_done(op);
		return;
	}
	if ((md = fwd_local_metadata(k->s)) == NULL)
		goto oom;
	if (kf_array(&r->ra, topics, 1) != 0 ||
	    (t = kf_struct(&r->ra, &kf_describe_quorum_topic)) == NULL ||
	    kafka_str(r, &t->v[KF_DQT_NAME], "__cluster_metadata") ||
	    kf_array(&r->ra, &t->v[KF_DQT_PARTITIONS], 1) != 0 ||
	    (p = kf_struct(&r->ra, &kf_describe_quorum_partition)) == NULL)
		goto oom_md;
	p->v[KF_DQP_INDEX].i = 0;
	p->v[KF_DQP_LEADER].i = (int64_t)st->node_id;
	p->v[KF_DQP_EPOCH].i = (int64_t)st->term;
	p->v[KF_DQP_HIGH_WATERMARK].i = (int64_t)st->commit_index;
	voters = &p->v[KF_DQP_VOTERS];
	observers = &p->v[KF_DQP_OBSERVERS];
	if (kf_array(&r->ra, voters, md->n_nodes) != 0 ||
	    kf_array(&r->ra, observers, md->n_nodes) != 0)
		goto oom_md;
	for (size_t i = 0; i < md->n_nodes; i++) {
		const Synod__Wire__NodeAddress *na = md->nodes[i];
		struct kf_val *e = kf_struct(&r->ra, &kf_replica_state);
		int64_t end = -1;
		if (e == NULL)
			goto oom_md;
		if (na->id == st->node_id)
			end = (int64_t)st->last_index;
		for (size_t x = 0; x < st->n_peers; x++)
			if (st->peers[x]->id == na->id)
				end = (int64_t)st->peers[x]->match_index;
		e->v[KF_DQR_REPLICA_ID].i = (int64_t)na->id;
		e->v[KF_DQR_LOG_END_OFFSET].i = end;
		if (na->voter)
			voters->v[nv++] = *e;
		else
			observers->v[no++] = *e;
	}
	voters->n = nv;
	observers->n = no;
	t->v[KF_DQT_PARTITIONS].v[0] = *p;
	topics->v[0] = *t;
	synod__wire__metadata_response__free_unpacked(md, NULL);
	kop_done(op);
	return;
oom_md:
	synod__wire__metadata_response__free_unpacked(md, NULL);
oom:
	kop_fail(op);
}

void kafka_describe_quorum(struct kafka_request *r, struct kf_val *resp)
{
	Synod__Wire__NodeStatusRequest req =
	    SYNOD__WIRE__NODE_STATUS_REQUEST__INIT;
	struct kop *op;
	(void)resp;
	if ((op = begin(r)) == NULL)
		return;
	kop_call(op, SYNOD_API_NODE_STATUS, &req.base, 0,
		 &synod__wire__node_status_response__descriptor, dq_done);
}
