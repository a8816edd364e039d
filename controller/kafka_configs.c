/* controller/kafka_configs.c - Kafka's config APIs on a controller node
 * (docs/kafka.md 2.3): DescribeConfigs (from the active controller's
 * store, after a read barrier), AlterConfigs and IncrementalAlterConfigs
 * (CONFIG_SET and CONFIG_DELETE through the registry). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configdefs.h"
#include "kafka_admin_apis.h"
#include "kafka_int.h"
#include "log.h"
#include "store.h"

/* Kafka's ConfigResource types and config sources. */
enum { RES_TOPIC = 2, RES_BROKER = 4 };
enum {
	SRC_DYNAMIC_TOPIC = 1,
	SRC_DYNAMIC_DEFAULT_BROKER = 4,
	SRC_DEFAULT = 5,
};

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
		if (store_topic_get(kafka_store(r), name, &st) != STORE_OK) {
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
			(void)store_config_get(kafka_store(r), 1, name, d->key,
					       &topic);
		(void)store_config_get(kafka_store(r), 0, "", d->key, &cluster);
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
			if (kafka_msg(r, &res->v[KF_DCR_ERROR_MSG], why))
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
	if ((op = kafka_begin(r)) == NULL)
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
	size_t n_deletes, cap_deletes, at;
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

/* Record the resource's outcome and move to the next one (alter_next's
 * loop goes on: never a recursion, whatever the resources' count). 0, or
 * -1 out of memory. */
static int alter_record(struct kop *op, int16_t err, const char *why)
{
	struct kafka_request *r = op->r;
	struct alter *a = op->data;
	struct kf_val *res = alter_result(r, a, op->i);
	/* Both responses have error, message, type, name in that order. */
	res->v[KF_ACR_ERROR].i = err;
	if (err != KF_ERR_NONE && kafka_msg(r, &res->v[KF_ACR_ERROR_MSG], why))
		return -1;
	op->i++;
	op->j = 0;
	return 0;
}

/* A call's answer ended the resource: record it, go on. */
static void alter_finish(struct kop *op, int16_t err, const char *why)
{
	if (alter_record(op, err, why) != 0) {
		kop_fail(op);
		return;
	}
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
		kafka_call_error(op, &err, &why);
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
		kafka_call_error(op, &err, &why);
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
	if (k->a->n_deletes == k->a->cap_deletes) {
		/* Doubled (in the arena: the old array stays until the
		 * request is answered), not grown by one per key. */
		size_t cap = k->a->cap_deletes ? 2 * k->a->cap_deletes : 16;
		if ((grown = KNEWN(k->r, char *, cap)) == NULL) {
			k->failed = 1;
			return 1;
		}
		if (k->a->n_deletes)
			memcpy(grown, k->a->deletes,
			       k->a->n_deletes * sizeof *grown);
		k->a->deletes = grown;
		k->a->cap_deletes = cap;
	}
	if ((k->a->deletes[k->a->n_deletes] =
		 KNEWN(k->r, char, strlen(key) + 1)) == NULL) {
		k->failed = 1;
		return 1;
	}
	strcpy(k->a->deletes[k->a->n_deletes], key);
	k->a->n_deletes++;
	return 0;
}

/* Phase 0 of resource op->i: check it, send its CONFIG_SET. -1 out of
 * memory; 0 on to its deletes; 1 a call went out (its answer goes on);
 * 2 the resource's outcome is recorded (refused, or nothing to do): the
 * next one. */
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
	a->n_deletes = a->cap_deletes = 0;
	a->deletes = NULL;
	a->at = 0;
	if (a->scope == 0 && a->name[0]) {
		err = KF_ERR_INVALID_REQUEST;
		why = "Synod has no per-broker configs: alter the default "
		      "broker resource (an empty name), the cluster's";
		a->scope = -1;
	}
	if (a->scope < 0)
		return alter_record(op, err, why) ? -1 : 2;
	if ((req.entries = KNEWN(r, Synod__Wire__ConfigEntry *, cs->n)) ==
		NULL ||
	    (a->deletes = KNEWN(r, char *, cs->n)) == NULL)
		return -1;
	a->cap_deletes = cs->n;
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
		if (opcode != 0)
			return alter_record(op, KF_ERR_INVALID_REQUEST,
					    "APPEND and SUBTRACT are not "
					    "supported: SET the whole value")
				   ? -1
				   : 2;
		if (value->null) {
			if (a->incremental)
				return alter_record(op, KF_ERR_INVALID_REQUEST,
						    "SET needs a value")
					   ? -1
					   : 2;
			continue; /* AlterConfigs: null leaves it unset */
		}
		if ((e = KNEW(r, Synod__Wire__ConfigEntry)) == NULL)
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
		if (store_config_list(kafka_store(r), a->scope,
				      a->scope ? a->name : "", collect_unset,
				      &k) != STORE_OK ||
		    k.failed)
			return -1;
	}
	for (size_t i = 0; i < a->n_deletes; i++)
		if (configdef_find(a->deletes[i]) == NULL)
			return alter_record(op, KF_ERR_INVALID_CONFIG,
					    "unknown config key")
				   ? -1
				   : 2;
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
			if (rv == 1)
				return; /* a call: its answer goes on */
			if (rv == 2)
				continue; /* recorded: the next resource */
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
		if (alter_record(op, KF_ERR_NONE, NULL) != 0) {
			kop_fail(op);
			return;
		}
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
	if ((op = kafka_begin(r)) == NULL)
		return;
	if ((a = KNEW(r, struct alter)) == NULL)
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
