/* tests/fuzz/fuzz_build.h - builders of log records (storage/records.proto)
 * for the fuzz targets' starting states and the seed corpus generator.
 * Everything is allocated once per process and never freed (but kept
 * reachable). */
#ifndef SYNOD_FUZZ_BUILD_H
#define SYNOD_FUZZ_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "records.pb-c.h"

static inline void *fb_alloc(size_t n)
{
	/* Kept reachable: not a leak for LeakSanitizer. */
	static void **keep;
	static size_t n_keep, cap_keep;
	void *p = calloc(1, n ? n : 1);
	if (p == NULL)
		abort();
	if (n_keep == cap_keep) {
		cap_keep = cap_keep ? cap_keep * 2 : 256;
		keep = realloc(keep, cap_keep * sizeof *keep);
		if (keep == NULL)
			abort();
	}
	keep[n_keep++] = p;
	return p;
}

static inline void *fb_dup(const void *init, size_t n)
{
	void *p = fb_alloc(n);
	memcpy(p, init, n);
	return p;
}

/* A new message of `type` set to its INIT value. */
#define FB_NEW(type, INIT) ((type *)fb_dup(&(type)INIT, sizeof(type)))

static inline Synod__Rec__Record *fb_record(void)
{
	return FB_NEW(Synod__Rec__Record, SYNOD__REC__RECORD__INIT);
}

static inline ProtobufCBinaryData fb_id(uint8_t n)
{
	ProtobufCBinaryData b;
	b.data = fb_alloc(16);
	memset(b.data, 0, 16);
	b.data[0] = 0x70;
	b.data[15] = n;
	b.len = 16;
	return b;
}

static inline Synod__Rec__Record *fb_init_cluster(const char *id)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = SYNOD__REC__RECORD__BODY_INIT_CLUSTER;
	r->init_cluster =
	    FB_NEW(Synod__Rec__InitCluster, SYNOD__REC__INIT_CLUSTER__INIT);
	r->init_cluster->cluster_id = (char *)id;
	r->init_cluster->schema_version = 1;
	return r;
}

static inline Synod__Rec__Record *fb_set_config(uint32_t scope, const char *res,
						const char *key,
						const char *value)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = SYNOD__REC__RECORD__BODY_SET_CONFIG;
	r->set_config =
	    FB_NEW(Synod__Rec__SetConfig, SYNOD__REC__SET_CONFIG__INIT);
	r->set_config->scope = scope;
	r->set_config->resource = (char *)res;
	r->set_config->key = (char *)key;
	r->set_config->value = (char *)value;
	return r;
}

static inline Synod__Rec__Record *
fb_delete_config(uint32_t scope, const char *res, const char *key)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = SYNOD__REC__RECORD__BODY_DELETE_CONFIG;
	r->delete_config =
	    FB_NEW(Synod__Rec__DeleteConfig, SYNOD__REC__DELETE_CONFIG__INIT);
	r->delete_config->scope = scope;
	r->delete_config->resource = (char *)res;
	r->delete_config->key = (char *)key;
	return r;
}

static inline Synod__Rec__Record *fb_register(int32_t id,
					      const char *incarnation,
					      const char *rack,
					      uint64_t expected)
{
	Synod__Rec__Record *r = fb_record();
	Synod__Rec__RegisterBroker *b = FB_NEW(
	    Synod__Rec__RegisterBroker, SYNOD__REC__REGISTER_BROKER__INIT);
	Synod__Rec__BrokerEndpoint *e = FB_NEW(
	    Synod__Rec__BrokerEndpoint, SYNOD__REC__BROKER_ENDPOINT__INIT);
	e->name = "PLAINTEXT";
	e->host = "127.0.0.1";
	e->port = 9092 + (uint32_t)id;
	e->security_protocol = "PLAINTEXT";
	b->broker_id = id;
	b->incarnation_id = (char *)incarnation;
	b->rack = (char *)rack;
	b->n_endpoints = 1;
	b->endpoints = fb_alloc(sizeof *b->endpoints);
	b->endpoints[0] = e;
	b->expected_epoch = expected;
	r->body_case = SYNOD__REC__RECORD__BODY_REGISTER_BROKER;
	r->register_broker = b;
	return r;
}

/* kind: SYNOD__REC__RECORD__BODY_FENCE_BROKER, _UNFENCE_BROKER or
 * _BROKER_SHUTDOWN (the three messages have the same fields). */
static inline Synod__Rec__Record *fb_broker_epoch(int kind, int32_t id,
						  uint64_t epoch)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = kind;
	switch (kind) {
	case SYNOD__REC__RECORD__BODY_FENCE_BROKER:
		r->fence_broker = FB_NEW(Synod__Rec__FenceBroker,
					 SYNOD__REC__FENCE_BROKER__INIT);
		r->fence_broker->broker_id = id;
		r->fence_broker->epoch = epoch;
		break;
	case SYNOD__REC__RECORD__BODY_UNFENCE_BROKER:
		r->unfence_broker = FB_NEW(Synod__Rec__UnfenceBroker,
					   SYNOD__REC__UNFENCE_BROKER__INIT);
		r->unfence_broker->broker_id = id;
		r->unfence_broker->epoch = epoch;
		break;
	default:
		r->body_case = SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN;
		r->broker_shutdown = FB_NEW(Synod__Rec__BrokerShutdown,
					    SYNOD__REC__BROKER_SHUTDOWN__INIT);
		r->broker_shutdown->broker_id = id;
		r->broker_shutdown->epoch = epoch;
		break;
	}
	return r;
}

static inline Synod__Rec__Record *fb_unregister(int32_t id, uint64_t epoch)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = SYNOD__REC__RECORD__BODY_UNREGISTER_BROKER;
	r->unregister_broker = FB_NEW(Synod__Rec__UnregisterBroker,
				      SYNOD__REC__UNREGISTER_BROKER__INIT);
	r->unregister_broker->broker_id = id;
	r->unregister_broker->has_epoch = 1;
	r->unregister_broker->epoch = epoch;
	return r;
}

/* A partition on brokers first..first+n-1 (mod 3, ids 1-3), all in the
 * ISR, led by the first. */
static inline Synod__Rec__PartitionRecord *
fb_part(int32_t p, int32_t first, uint32_t n, uint32_t le, uint32_t pe)
{
	Synod__Rec__PartitionRecord *x = FB_NEW(
	    Synod__Rec__PartitionRecord, SYNOD__REC__PARTITION_RECORD__INIT);
	x->partition = p;
	x->n_replicas = x->n_isr = n;
	x->replicas = fb_alloc(n * sizeof(int32_t));
	x->isr = fb_alloc(n * sizeof(int32_t));
	for (uint32_t i = 0; i < n; i++)
		x->replicas[i] = x->isr[i] = (first - 1 + (int32_t)i) % 3 + 1;
	x->leader = n ? x->replicas[0] : -1;
	x->leader_epoch = le;
	x->partition_epoch = pe;
	return x;
}

static inline Synod__Rec__Record *fb_create_topic(const char *name, uint8_t id,
						  uint32_t parts, uint32_t rf)
{
	Synod__Rec__Record *r = fb_record();
	Synod__Rec__CreateTopic *t =
	    FB_NEW(Synod__Rec__CreateTopic, SYNOD__REC__CREATE_TOPIC__INIT);
	t->name = (char *)name;
	t->topic_id = fb_id(id);
	t->n_partitions = parts;
	t->partitions = fb_alloc(parts * sizeof *t->partitions);
	for (uint32_t i = 0; i < parts; i++)
		t->partitions[i] =
		    fb_part((int32_t)i, (int32_t)i % 3 + 1, rf, 0, 0);
	r->body_case = SYNOD__REC__RECORD__BODY_CREATE_TOPIC;
	r->create_topic = t;
	return r;
}

static inline Synod__Rec__Record *
fb_create_partitions(uint8_t id, uint32_t from, uint32_t n, uint32_t rf)
{
	Synod__Rec__Record *r = fb_record();
	Synod__Rec__CreatePartitions *c = FB_NEW(
	    Synod__Rec__CreatePartitions, SYNOD__REC__CREATE_PARTITIONS__INIT);
	c->topic_id = fb_id(id);
	c->n_partitions = n;
	c->partitions = fb_alloc(n * sizeof *c->partitions);
	for (uint32_t i = 0; i < n; i++)
		c->partitions[i] = fb_part(
		    (int32_t)(from + i), (int32_t)(from + i) % 3 + 1, rf, 0, 0);
	r->body_case = SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS;
	r->create_partitions = c;
	return r;
}

static inline Synod__Rec__Record *
fb_partition_change(uint8_t id, uint32_t expected,
		    Synod__Rec__PartitionRecord *s)
{
	Synod__Rec__Record *r = fb_record();
	Synod__Rec__PartitionChange *c = FB_NEW(
	    Synod__Rec__PartitionChange, SYNOD__REC__PARTITION_CHANGE__INIT);
	c->topic_id = fb_id(id);
	c->expected_partition_epoch = expected;
	c->state = s;
	r->body_case = SYNOD__REC__RECORD__BODY_PARTITION_CHANGE;
	r->partition_change = c;
	return r;
}

static inline Synod__Rec__Record *fb_remove_topic(uint8_t id)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = SYNOD__REC__RECORD__BODY_REMOVE_TOPIC;
	r->remove_topic =
	    FB_NEW(Synod__Rec__RemoveTopic, SYNOD__REC__REMOVE_TOPIC__INIT);
	r->remove_topic->topic_id = fb_id(id);
	return r;
}

static inline Synod__Rec__Record *fb_group_epoch(const char *g, int32_t epoch,
						 int32_t aepoch)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = SYNOD__REC__RECORD__BODY_GROUP_EPOCH;
	r->group_epoch =
	    FB_NEW(Synod__Rec__GroupEpoch, SYNOD__REC__GROUP_EPOCH__INIT);
	r->group_epoch->group_id = (char *)g;
	r->group_epoch->group_epoch = epoch;
	r->group_epoch->assignment_epoch = aepoch;
	r->group_epoch->assignor = "uniform";
	return r;
}

static inline Synod__Rec__Record *fb_group_member(const char *g, const char *m,
						  const char *topic)
{
	Synod__Rec__Record *r = fb_record();
	Synod__Rec__GroupMember *x =
	    FB_NEW(Synod__Rec__GroupMember, SYNOD__REC__GROUP_MEMBER__INIT);
	x->group_id = (char *)g;
	x->member_id = (char *)m;
	x->rebalance_timeout_ms = 30000;
	x->client_id = "fuzz";
	x->n_subscribed_topic_names = 1;
	x->subscribed_topic_names = fb_alloc(sizeof(char *));
	x->subscribed_topic_names[0] = (char *)topic;
	r->body_case = SYNOD__REC__RECORD__BODY_GROUP_MEMBER;
	r->group_member = x;
	return r;
}

static inline Synod__Rec__GroupPartitions **
fb_gparts(uint8_t id, const int32_t *p, size_t n, size_t *n_out)
{
	Synod__Rec__GroupPartitions **v = fb_alloc(sizeof *v);
	v[0] = FB_NEW(Synod__Rec__GroupPartitions,
		      SYNOD__REC__GROUP_PARTITIONS__INIT);
	v[0]->topic_id = fb_id(id);
	v[0]->n_partitions = n;
	v[0]->partitions = fb_alloc(n * sizeof(int32_t));
	memcpy(v[0]->partitions, p, n * sizeof(int32_t));
	*n_out = 1;
	return v;
}

static inline Synod__Rec__Record *fb_group_target(const char *g, const char *m,
						  uint8_t id, const int32_t *p,
						  size_t n)
{
	Synod__Rec__Record *r = fb_record();
	Synod__Rec__GroupTarget *x =
	    FB_NEW(Synod__Rec__GroupTarget, SYNOD__REC__GROUP_TARGET__INIT);
	x->group_id = (char *)g;
	x->member_id = (char *)m;
	x->partitions = fb_gparts(id, p, n, &x->n_partitions);
	r->body_case = SYNOD__REC__RECORD__BODY_GROUP_TARGET;
	r->group_target = x;
	return r;
}

static inline Synod__Rec__Record *
fb_group_current(const char *g, const char *m, int32_t epoch, uint32_t state,
		 uint8_t id, const int32_t *a, size_t na, const int32_t *pend,
		 size_t np)
{
	Synod__Rec__Record *r = fb_record();
	Synod__Rec__GroupCurrent *x =
	    FB_NEW(Synod__Rec__GroupCurrent, SYNOD__REC__GROUP_CURRENT__INIT);
	x->group_id = (char *)g;
	x->member_id = (char *)m;
	x->member_epoch = epoch;
	x->previous_epoch = epoch > 0 ? epoch - 1 : 0;
	x->state = state;
	x->assigned = fb_gparts(id, a, na, &x->n_assigned);
	if (np)
		x->pending_revocation =
		    fb_gparts(id, pend, np, &x->n_pending_revocation);
	r->body_case = SYNOD__REC__RECORD__BODY_GROUP_CURRENT;
	r->group_current = x;
	return r;
}

static inline Synod__Rec__Record *fb_member_remove(const char *g, const char *m)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = SYNOD__REC__RECORD__BODY_GROUP_MEMBER_REMOVE;
	r->group_member_remove = FB_NEW(Synod__Rec__GroupMemberRemove,
					SYNOD__REC__GROUP_MEMBER_REMOVE__INIT);
	r->group_member_remove->group_id = (char *)g;
	r->group_member_remove->member_id = (char *)m;
	return r;
}

static inline Synod__Rec__Record *fb_group_delete(const char *g)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = SYNOD__REC__RECORD__BODY_GROUP_DELETE;
	r->group_delete =
	    FB_NEW(Synod__Rec__GroupDelete, SYNOD__REC__GROUP_DELETE__INIT);
	r->group_delete->group_id = (char *)g;
	return r;
}

static inline Synod__Rec__Record *fb_noop(void)
{
	Synod__Rec__Record *r = fb_record();
	r->body_case = SYNOD__REC__RECORD__BODY_NOOP;
	r->noop = FB_NEW(Synod__Rec__NoOp, SYNOD__REC__NO_OP__INIT);
	return r;
}

/* A ClientRequest marker: the next `records` records are request
 * `request` of client fb_id(client). */
static inline Synod__Rec__Record *
fb_client_request(uint8_t client, uint32_t request, uint32_t records)
{
	Synod__Rec__Record *r = fb_record();
	Synod__Rec__ClientRequest *c =
	    FB_NEW(Synod__Rec__ClientRequest, SYNOD__REC__CLIENT_REQUEST__INIT);
	c->client_id = fb_id(client);
	c->request = request;
	c->records = records;
	r->body_case = SYNOD__REC__RECORD__BODY_CLIENT_REQUEST;
	r->client_request = c;
	return r;
}

/* Pack records[0..n) as one entry of envelope `version`; *len gets its
 * size. */
static inline uint8_t *fb_pack(Synod__Rec__Record **records, size_t n,
			       uint32_t version, size_t *len)
{
	Synod__Rec__RecordBatch b = SYNOD__REC__RECORD_BATCH__INIT;
	uint8_t *out;
	b.version = version;
	b.has_timestamp_ms = 1;
	b.timestamp_ms = 1700000000000ull;
	b.n_records = n;
	b.records = records;
	*len = synod__rec__record_batch__get_packed_size(&b);
	out = fb_alloc(*len);
	synod__rec__record_batch__pack(&b, out);
	return out;
}

/* The starting state of the store targets: a cluster with configs, three
 * unfenced brokers (epochs 2, 3, 4), topics "orders" (id 1, 3 partitions
 * on 3 replicas) and "logs" (id 2, 2 partitions on 2), and group "g1"
 * with members m1 (partitions 0-1 of orders) and m2 (partition 2), as
 * entries 1..FB_BASE_N of envelope version 2. */
#define FB_BASE_N 7
static inline void fb_base(uint8_t *entries[FB_BASE_N], size_t lens[FB_BASE_N])
{
	static const int32_t p01[] = {0, 1}, p2[] = {2};
	Synod__Rec__Record *e1[] = {
	    fb_init_cluster("fuzz-cluster"),
	    fb_set_config(0, NULL, "num.partitions", "3"),
	    fb_set_config(1, "orders", "cleanup.policy", "compact")};
	Synod__Rec__Record *e2[] = {fb_register(1, "inc-1", "r1", 0)};
	Synod__Rec__Record *e3[] = {fb_register(2, "inc-2", "r2", 0)};
	Synod__Rec__Record *e4[] = {fb_register(3, "inc-3", NULL, 0)};
	Synod__Rec__Record *e5[] = {
	    fb_broker_epoch(SYNOD__REC__RECORD__BODY_UNFENCE_BROKER, 1, 2),
	    fb_broker_epoch(SYNOD__REC__RECORD__BODY_UNFENCE_BROKER, 2, 3),
	    fb_broker_epoch(SYNOD__REC__RECORD__BODY_UNFENCE_BROKER, 3, 4)};
	Synod__Rec__Record *e6[] = {fb_create_topic("orders", 1, 3, 3),
				    fb_create_topic("logs", 2, 2, 2)};
	Synod__Rec__Record *e7[] = {
	    fb_group_epoch("g1", 1, 1),
	    fb_group_member("g1", "m1", "orders"),
	    fb_group_member("g1", "m2", "orders"),
	    fb_group_target("g1", "m1", 1, p01, 2),
	    fb_group_target("g1", "m2", 1, p2, 1),
	    fb_group_current("g1", "m1", 1, 0, 1, p01, 2, NULL, 0),
	    fb_group_current("g1", "m2", 1, 0, 1, p2, 1, NULL, 0)};
	entries[0] = fb_pack(e1, 3, 2, &lens[0]);
	entries[1] = fb_pack(e2, 1, 2, &lens[1]);
	entries[2] = fb_pack(e3, 1, 2, &lens[2]);
	entries[3] = fb_pack(e4, 1, 2, &lens[3]);
	entries[4] = fb_pack(e5, 3, 2, &lens[4]);
	entries[5] = fb_pack(e6, 2, 2, &lens[5]);
	entries[6] = fb_pack(e7, 7, 2, &lens[6]);
}

#endif
