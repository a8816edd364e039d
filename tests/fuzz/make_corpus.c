/* tests/fuzz/make_corpus.c - writes the seed corpora of the fuzz targets
 * (tests/fuzz/corpus/<target>/): small valid inputs built from real
 * messages with protobuf-c, in each target's input format.
 *
 *   fuzz_make_corpus DIR      (DIR: tests/fuzz/corpus)
 *
 * The request target's first byte indexes the registry in the order the
 * target loads it (cluster, brokers, topics, groups): this program loads
 * the same tables. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brokers.h"
#include "cluster.h"
#include "frame.h"
#include "fuzz_build.h"
#include "fuzz_common.h"
#include "groups.h"
#include "module.h"
#include "store.h"
#include "synod/client.h"
#include "topics.h"

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;
	snprintf(path, sizeof path, "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n ||
	    fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Pack msg after `prefix_len` bytes of prefix. */
static uint8_t *packed(const ProtobufCMessage *m, const uint8_t *prefix,
		       size_t prefix_len, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = fb_alloc(prefix_len + n);
	if (prefix_len)
		memcpy(p, prefix, prefix_len);
	protobuf_c_message_pack(m, p + prefix_len);
	*len = prefix_len + n;
	return p;
}

/* ---- frame ---- */

static size_t frame(uint8_t *out, uint8_t kind, uint16_t api, uint32_t corr,
		    const ProtobufCMessage *m)
{
	struct frame_header h;
	memset(&h, 0, sizeof h);
	h.kind = kind;
	h.api = api;
	h.api_version = 1;
	h.correlation_id = corr;
	size_t n = m ? protobuf_c_message_get_packed_size(m) : 0;
	frame_put_prefix(out, &h, n);
	if (m)
		protobuf_c_message_pack(m, out + FRAME_PREFIX);
	return FRAME_PREFIX + n;
}

static void corpus_frame(void)
{
	static uint8_t buf[4096];
	Synod__Wire__ConfigGetRequest g = SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	Synod__Wire__Status s = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__MetadataRequest md = SYNOD__WIRE__METADATA_REQUEST__INIT;
	size_t n;
	g.key = "retention.ms";
	s.code = SYNOD_ENOT_CONTROLLER;
	s.message = "not the active controller";
	md.cluster_id = "fuzz-cluster";
	/* max 16 MiB, seed 1, budget 64 KiB: one request */
	buf[0] = 20, buf[1] = 1, buf[2] = 4;
	n = 3 + frame(buf + 3, FRAME_REQUEST, SYNOD_API_CONFIG_GET, 7, &g.base);
	put("frame", "one_request", buf, n);
	/* three frames of each kind, split small (seed 9) */
	buf[1] = 9;
	n += frame(buf + n, FRAME_RESPONSE, SYNOD_API_CONFIG_GET, 7, &s.base);
	n += frame(buf + n, FRAME_PUSH, SYNOD_API_METADATA_PUSH, 0, NULL);
	n += frame(buf + n, FRAME_REQUEST, SYNOD_API_METADATA, 8, &md.base);
	put("frame", "three_frames", buf, n);
	/* max 64 bytes: the second frame is too big */
	buf[0] = 2, buf[2] = 0;
	put("frame", "too_big", buf, n);
	/* a partial frame at the end, then bad magic */
	buf[0] = 20;
	n = 3 + frame(buf + 3, FRAME_REQUEST, SYNOD_API_CONFIG_GET, 1, &g.base);
	memcpy(buf + n, "GET / HTTP/1.1\r\n\r\n", 18);
	put("frame", "bad_magic", buf, n + 18);
	put("frame", "partial", buf, n - 5);
}

/* ---- request ---- */

#define MAX_APIS 64
static const struct module_api *apis[MAX_APIS];
static size_t n_apis;

static void add_module(const struct module *m)
{
	for (size_t i = 0; i < m->n_apis && n_apis < MAX_APIS; i++)
		apis[n_apis++] = &m->apis[i];
}

static uint8_t api_index(uint16_t api)
{
	for (size_t i = 0; i < n_apis; i++)
		if (apis[i]->api == api)
			return (uint8_t)i;
	fprintf(stderr, "api %u not registered\n", api);
	exit(1);
}

static void req(const char *name, uint16_t api, const ProtobufCMessage *m)
{
	uint8_t i = api_index(api);
	size_t n;
	uint8_t *p = packed(m, &i, 1, &n);
	put("request", name, p, n);
}

static void corpus_request(void)
{
	struct module m;
	cluster_module(&m);
	add_module(&m);
	brokers_module(NULL, &m);
	add_module(&m);
	topics_module(NULL, &m);
	add_module(&m);
	groups_module(NULL, &m);
	add_module(&m);

	/* Every API with an empty body (decodes when nothing is required). */
	for (size_t i = 0; i < n_apis; i++) {
		char name[64];
		uint8_t b = (uint8_t)i;
		snprintf(name, sizeof name, "empty_%s", apis[i]->name);
		put("request", name, &b, 1);
	}
	{
		Synod__Wire__ConfigEntry e[3] = {
		    SYNOD__WIRE__CONFIG_ENTRY__INIT,
		    SYNOD__WIRE__CONFIG_ENTRY__INIT,
		    SYNOD__WIRE__CONFIG_ENTRY__INIT};
		Synod__Wire__ConfigEntry *ep[3] = {&e[0], &e[1], &e[2]};
		Synod__Wire__ConfigSetRequest r =
		    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
		e[0].key = "retention.ms", e[0].value = "86400000";
		e[1].scope = 1, e[1].resource = "orders";
		e[1].key = "cleanup.policy", e[1].value = "compact,delete";
		e[2].scope = 2, e[2].resource = "g1";
		e[2].key = "consumer.session.timeout.ms", e[2].value = "45000";
		r.n_entries = 3;
		r.entries = ep;
		req("config_set", SYNOD_API_CONFIG_SET, &r.base);
	}
	{
		Synod__Wire__ConfigGetRequest r =
		    SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
		r.scope = 1, r.resource = "orders", r.key = "retention.ms";
		req("config_get", SYNOD_API_CONFIG_GET, &r.base);
	}
	{
		Synod__Wire__ConfigListRequest r =
		    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
		r.has_scope = 1, r.scope = 2, r.resource = "g1";
		req("config_list", SYNOD_API_CONFIG_LIST, &r.base);
	}
	{
		Synod__Wire__AddVoterRequest r =
		    SYNOD__WIRE__ADD_VOTER_REQUEST__INIT;
		r.id = 4, r.raft_address = "10.0.0.4:9093";
		r.client_address = "10.0.0.4:9092";
		req("add_voter", SYNOD_API_ADD_VOTER, &r.base);
	}
	{
		Synod__Wire__Endpoint e = SYNOD__WIRE__ENDPOINT__INIT, *ep = &e;
		Synod__Wire__BrokerRegisterRequest r =
		    SYNOD__WIRE__BROKER_REGISTER_REQUEST__INIT;
		e.name = "PLAINTEXT", e.host = "10.0.1.1", e.port = 9092;
		e.security_protocol = "PLAINTEXT";
		r.cluster_id = "fuzz-cluster", r.broker_id = 1;
		r.incarnation_id = "6f1c1e7a-3d2b-4c55-9a57-2f0e5d1b9c11";
		r.n_endpoints = 1, r.endpoints = &ep, r.rack = "r1";
		req("broker_register", SYNOD_API_BROKER_REGISTER, &r.base);
	}
	{
		Synod__Wire__BrokerHeartbeatRequest r =
		    SYNOD__WIRE__BROKER_HEARTBEAT_REQUEST__INIT;
		r.broker_id = 1, r.broker_epoch = 2, r.metadata_version = 9;
		req("broker_heartbeat", SYNOD_API_BROKER_HEARTBEAT, &r.base);
	}
	{
		Synod__Wire__ConfigEntry c = SYNOD__WIRE__CONFIG_ENTRY__INIT,
					 *cp = &c;
		int32_t reps[] = {1, 2, 3};
		Synod__Wire__ReplicaAssignment
		    a = SYNOD__WIRE__REPLICA_ASSIGNMENT__INIT,
		    *ap = &a;
		Synod__Wire__CreatableTopic t[3] = {
		    SYNOD__WIRE__CREATABLE_TOPIC__INIT,
		    SYNOD__WIRE__CREATABLE_TOPIC__INIT,
		    SYNOD__WIRE__CREATABLE_TOPIC__INIT};
		Synod__Wire__CreatableTopic *tp[3] = {&t[0], &t[1], &t[2]};
		Synod__Wire__CreateTopicsRequest r =
		    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
		c.key = "retention.ms", c.value = "1000";
		a.n_replicas = 3, a.replicas = reps;
		t[0].name = "orders", t[0].has_partitions = 1;
		t[0].partitions = 12, t[0].has_replication_factor = 1;
		t[0].replication_factor = 3, t[0].n_configs = 1;
		t[0].configs = &cp;
		t[1].name = "logs", t[1].n_assignments = 1;
		t[1].assignments = &ap;
		t[2].name = "orders";
		r.n_topics = 3, r.topics = tp;
		req("create_topics", SYNOD_API_CREATE_TOPICS, &r.base);
	}
	{
		char *names[] = {"orders", "logs", "orders", ".."};
		Synod__Wire__DeleteTopicsRequest r =
		    SYNOD__WIRE__DELETE_TOPICS_REQUEST__INIT;
		Synod__Wire__DescribeTopicsRequest d =
		    SYNOD__WIRE__DESCRIBE_TOPICS_REQUEST__INIT;
		r.n_names = 4, r.names = names;
		req("delete_topics", SYNOD_API_DELETE_TOPICS, &r.base);
		d.n_names = 2, d.names = names;
		req("describe_topics", SYNOD_API_DESCRIBE_TOPICS, &d.base);
	}
	{
		int32_t parts[] = {0, 1};
		Synod__Wire__TopicPartitions
		    t = SYNOD__WIRE__TOPIC_PARTITIONS__INIT,
		    *tp = &t;
		Synod__Wire__ElectLeadersRequest r =
		    SYNOD__WIRE__ELECT_LEADERS_REQUEST__INIT;
		t.topic = "orders", t.n_partitions = 2, t.partitions = parts;
		r.type = 1, r.n_partitions = 1, r.partitions = &tp;
		req("elect_leaders", SYNOD_API_ELECT_LEADERS, &r.base);
	}
	{
		/* fuzz_request.c's state: replicas 1-4, ISR {1,2,3},
		 * leader 1, epochs 5 and 9. */
		int32_t isr[] = {2, 1}, isr2[] = {1, 2, 3, 4};
		uint8_t id[16] = {0x70};
		Synod__Wire__AlterPartitionRequest r =
		    SYNOD__WIRE__ALTER_PARTITION_REQUEST__INIT;
		Synod__Wire__AlterPartitionItem it[2] = {
		    SYNOD__WIRE__ALTER_PARTITION_ITEM__INIT,
		    SYNOD__WIRE__ALTER_PARTITION_ITEM__INIT};
		Synod__Wire__AlterPartitionItem *itp[2] = {&it[0], &it[1]};
		Synod__Wire__AlterPartitionsRequest rs =
		    SYNOD__WIRE__ALTER_PARTITIONS_REQUEST__INIT;
		r.broker_id = 1, r.broker_epoch = 2;
		r.topic_id.data = id, r.topic_id.len = 16;
		r.leader_epoch = 5, r.partition_epoch = 9;
		r.n_new_isr = 2, r.new_isr = isr;
		req("alter_partition", SYNOD_API_ALTER_PARTITION, &r.base);
		r.partition_epoch = 8, r.n_new_isr = 3, r.new_isr = isr2 + 0;
		req("alter_partition_retry", SYNOD_API_ALTER_PARTITION,
		    &r.base);
		for (int i = 0; i < 2; i++) {
			it[i].topic_id = r.topic_id;
			it[i].partition = i, it[i].leader_epoch = 5;
			it[i].partition_epoch = 9;
		}
		it[0].n_new_isr = 2, it[0].new_isr = isr;
		it[1].n_new_isr = 4, it[1].new_isr = isr2;
		rs.broker_id = 1, rs.broker_epoch = 2;
		rs.n_items = 2, rs.items = itp;
		req("alter_partitions", SYNOD_API_ALTER_PARTITIONS, &rs.base);
	}
	{
		char *names[] = {"orders", "logs"};
		int32_t parts[] = {0, 2, 1};
		uint8_t id[16] = {0x70, 1};
		Synod__Wire__GroupTopicNames tn =
		    SYNOD__WIRE__GROUP_TOPIC_NAMES__INIT;
		Synod__Wire__GroupTopicPartitions
		    gt = SYNOD__WIRE__GROUP_TOPIC_PARTITIONS__INIT,
		    *gtp = &gt;
		Synod__Wire__GroupPartitionSet owned =
		    SYNOD__WIRE__GROUP_PARTITION_SET__INIT;
		Synod__Wire__GroupHeartbeatRequest r =
		    SYNOD__WIRE__GROUP_HEARTBEAT_REQUEST__INIT;
		tn.n_names = 2, tn.names = names;
		gt.topic_id.data = id, gt.topic_id.len = 16;
		gt.n_partitions = 3, gt.partitions = parts;
		owned.n_topics = 1, owned.topics = &gtp;
		r.group_id = "g1", r.member_epoch = 0;
		r.has_rebalance_timeout_ms = 1, r.rebalance_timeout_ms = 30000;
		r.subscribed_topic_names = &tn;
		r.subscribed_topic_regex = "ord(er)?s.*";
		r.server_assignor = "uniform", r.rack = "r1";
		r.client_id = "fuzz";
		req("group_join", SYNOD_API_GROUP_HEARTBEAT, &r.base);
		memset(&r, 0, sizeof r);
		r = (Synod__Wire__GroupHeartbeatRequest)
		    SYNOD__WIRE__GROUP_HEARTBEAT_REQUEST__INIT;
		r.group_id = "g1";
		r.member_id = "8a5e1c0e-0000-4000-8000-000000000001";
		r.member_epoch = 3, r.owned = &owned;
		r.has_assignment_version = 1, r.assignment_version = 12;
		req("group_heartbeat", SYNOD_API_GROUP_HEARTBEAT, &r.base);
		r.member_epoch = -2, r.instance_id = "static-1", r.owned = NULL;
		req("group_static_leave", SYNOD_API_GROUP_HEARTBEAT, &r.base);
	}
	{
		char *ids[] = {"g1", "g2"};
		Synod__Wire__GroupDescribeRequest r =
		    SYNOD__WIRE__GROUP_DESCRIBE_REQUEST__INIT;
		Synod__Wire__GroupRemoveMemberRequest rm =
		    SYNOD__WIRE__GROUP_REMOVE_MEMBER_REQUEST__INIT;
		r.n_group_ids = 2, r.group_ids = ids;
		req("group_describe", SYNOD_API_GROUP_DESCRIBE, &r.base);
		rm.group_id = "g1", rm.member_id = "m1";
		req("group_remove_member", SYNOD_API_GROUP_REMOVE_MEMBER,
		    &rm.base);
	}
}

/* ---- records ---- */

static void rec(const char *name, Synod__Rec__Record **r, size_t n,
		uint32_t version)
{
	size_t len;
	uint8_t *p = fb_pack(r, n, version, &len);
	put("records", name, p, len);
}

static void corpus_records(void)
{
	static const int32_t p0[] = {0}, p12[] = {1, 2}, p2[] = {2};
	Synod__Rec__PartitionRecord *moved = fb_part(0, 2, 3, 1, 1);
	Synod__Rec__Record *r;
	/* Each record kind alone, against fuzz_build.h's base state. */
	r = fb_init_cluster("fuzz-cluster");
	rec("init_cluster_same", &r, 1, 2);
	r = fb_init_cluster("other");
	rec("init_cluster_other", &r, 1, 2);
	r = fb_set_config(2, "g1", "consumer.session.timeout.ms", "45000");
	rec("set_config_group", &r, 1, 2);
	r = fb_delete_config(1, "orders", "cleanup.policy");
	rec("delete_config", &r, 1, 2);
	r = fb_noop();
	rec("noop", &r, 1, 2);
	r = fb_register(4, "inc-4", "r3", 0);
	rec("register_new", &r, 1, 2);
	r = fb_register(1, "inc-1b", "r1", 2);
	rec("register_again", &r, 1, 2);
	r = fb_broker_epoch(SYNOD__REC__RECORD__BODY_FENCE_BROKER, 3, 4);
	rec("fence_leader", &r, 1, 2);
	r = fb_broker_epoch(SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN, 2, 3);
	rec("shutdown", &r, 1, 2);
	r = fb_unregister(3, 0);
	rec("unregister", &r, 1, 1);
	r = fb_create_topic("events", 3, 4, 2);
	rec("create_topic", &r, 1, 2);
	r = fb_create_partitions(2, 2, 2, 2);
	rec("create_partitions", &r, 1, 2);
	r = fb_partition_change(1, 0, moved);
	rec("partition_change", &r, 1, 2);
	r = fb_remove_topic(2);
	rec("remove_topic", &r, 1, 2);
	r = fb_group_epoch("g1", 2, 2);
	rec("group_epoch", &r, 1, 2);
	r = fb_group_member("g1", "m3", "logs");
	rec("group_member", &r, 1, 2);
	r = fb_group_target("g1", "m2", 1, p12, 2);
	rec("group_target", &r, 1, 2);
	r = fb_group_current("g1", "m2", 2, 1, 1, p2, 1, p0, 1);
	rec("group_current_conflict", &r, 1, 2);
	r = fb_member_remove("g1", "m1");
	rec("member_remove", &r, 1, 2);
	r = fb_group_delete("g1");
	rec("group_delete", &r, 1, 2);
	{
		/* A decision as the controller commits one. */
		Synod__Rec__Record *v[] = {
		    fb_member_remove("g1", "m1"),
		    fb_group_epoch("g1", 2, 2),
		    fb_group_target("g1", "m2", 1, p12, 2),
		    fb_group_current("g1", "m2", 2, 0, 1, p2, 1, NULL, 0),
		    fb_partition_change(2, 0, fb_part(1, 3, 2, 1, 1)),
		    fb_register(5, "inc-5", NULL, 0)};
		rec("mixed", v, sizeof v / sizeof v[0], 2);
		rec("mixed_v1", v, sizeof v / sizeof v[0], 1);
		rec("mixed_v3", v, 2, 3);
	}
	{
		/* Client requests (exactly-once writes), as group commit packs
		 * them: a clean one, one whose first record finds nothing to
		 * delete (its outcome is kept from envelope 5: the fuzz target
		 * applies every entry twice, so the second apply replays it),
		 * and a write without a marker. */
		Synod__Rec__Record *v[] = {
		    fb_client_request(1, 7, 1),
		    fb_set_config(1, "orders", "retention.ms", "1000"),
		    fb_client_request(1, 8, 2),
		    fb_delete_config(1, "orders", "no.such.key"),
		    fb_set_config(1, "events", "retention.ms", "2000"),
		    fb_set_config(0, NULL, "num.partitions", "3")};
		rec("client_requests", v, sizeof v / sizeof v[0], 5);
		rec("client_requests_v4", v, sizeof v / sizeof v[0], 4);
	}
}

/* ---- snapshot ---- */

/* The image of store s with 512-byte pages (an in-memory database
 * cannot change its page size: a file copy can). */
static uint8_t *small_image(struct store *s, size_t *len)
{
	char path[] = "/tmp/synod-fuzz-corpus-XXXXXX";
	void *snap;
	size_t n;
	sqlite3 *db;
	uint8_t *out;
	FILE *f;
	int fd = mkstemp(path);
	/* store.c's snapshot: a 24-byte header, then the SQLite image. */
	if (store_snapshot(s, malloc, &snap, &n) != STORE_OK || n < 24 ||
	    fd < 0 || (f = fdopen(fd, "wb")) == NULL ||
	    fwrite((uint8_t *)snap + 24, 1, n - 24, f) != n - 24 ||
	    fclose(f) != 0)
		exit(1);
	free(snap);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA page_size=512; VACUUM;", NULL, NULL,
			 NULL) != SQLITE_OK) {
		fprintf(stderr, "vacuum: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_close(db);
	if ((f = fopen(path, "rb")) == NULL)
		exit(1);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	out = fb_alloc(*len);
	if (fread(out, 1, *len, f) != *len)
		exit(1);
	fclose(f);
	unlink(path);
	return out;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void corpus_snapshot(void)
{
	uint8_t *entries[FB_BASE_N];
	size_t lens[FB_BASE_N];
	struct store *s, *check;
	size_t len;
	uint8_t *img, *p;
	if (store_open(&s) != STORE_OK || store_open(&check) != STORE_OK)
		exit(1);
	fb_base(entries, lens);
	for (unsigned i = 0; i < FB_BASE_N; i++)
		if (store_apply(s, i + 1, entries[i], lens[i], NULL, 0, NULL) !=
		    STORE_OK)
			exit(1);
	img = small_image(s, &len);
	/* mode 1: the whole snapshot (store.c's 24-byte header) */
	p = fb_alloc(1 + 24 + len);
	p[0] = 1;
	memcpy(p + 1, "SYNODSN1", 8);
	put_le(p + 9, 1, 4);
	put_le(p + 13, 0, 4);
	put_le(p + 17, len, 8);
	memcpy(p + 25, img, len);
	if (store_restore(check, p + 1, 24 + len) != STORE_OK ||
	    store_applied_index(check) != FB_BASE_N) {
		fprintf(stderr, "snapshot seed does not restore: %s\n",
			store_errmsg(check));
		exit(1);
	}
	put("snapshot", "whole", p, 1 + 24 + len);
	/* mode 0: the image only */
	p[24] = 0;
	put("snapshot", "image", p + 24, 1 + len);
	store_close(s);
	store_close(check);
}

/* ---- config ---- */

static void corpus_config(void)
{
	static const char file[] =
	    "\x00"
	    "# a node\n[synod]\nnode_id = 1\ncluster_id = fuzz-cluster\n"
	    "raft_address = 10.0.0.1:9093\nclient_address = 10.0.0.1:9092\n"
	    "data_dir = /var/lib/synod\n"
	    "voters = 1@10.0.0.1:9093/10.0.0.1:9092,"
	    "2@10.0.0.2:9093/10.0.0.2:9092\n"
	    "election_timeout_ms = 200\nheartbeat_timeout_ms = 20\n"
	    "pre_vote = true\nmax_frame_bytes = 16777216\n"
	    "max_read_buffer_bytes = 268435456\nidle_timeout_ms = 0\n"
	    "segment_size_bytes = 8388608\nlog_level = debug\n";
	static const char bad[] = "\x01[other]\nnode_id = 0\n";
	static const char set[] = "\x06voters\0"
				  "1@a:1/b:2 2@[::1]:3/[::1]:4";
	static const char set2[] = "\x06max_read_buffer_bytes\0"
				   "1099511627776";
	static const char vot[] = "\x07"
				  "1@h:1/h:2,2@h:3/h:4,1@h:5/h:6";
	put("config", "file", file, sizeof file - 1);
	put("config", "bad_section", bad, sizeof bad - 1);
	put("config", "set_voters", set, sizeof set - 1);
	put("config", "set_u64", set2, sizeof set2 - 1);
	put("config", "voters_dup", vot, sizeof vot - 1);
}

/* ---- view ---- */

static Synod__Wire__PartitionState *ps(const char *topic, uint8_t *id,
				       int32_t p, int32_t leader, uint32_t le,
				       uint32_t pe)
{
	static int32_t reps[] = {1, 2, 3};
	Synod__Wire__PartitionState *x = fb_alloc(sizeof *x);
	synod__wire__partition_state__init(x);
	x->topic = (char *)topic;
	x->topic_id.data = id, x->topic_id.len = 16;
	x->partition = p, x->leader = leader;
	x->leader_epoch = le, x->partition_epoch = pe;
	x->n_replicas = x->n_isr = 3;
	x->replicas = x->isr = reps;
	return x;
}

/* fuzz_view's answers built from bytes (op 3): code, flags, fields. */
static size_t built_register(uint8_t *out, uint16_t epoch, uint16_t session)
{
	uint8_t d[8] = {0,
			7,
			(uint8_t)(epoch >> 8),
			(uint8_t)epoch,
			(uint8_t)(session >> 8),
			(uint8_t)session,
			0x03,
			0xe8};
	return fz_put_chunk(out, 3, d, sizeof d);
}

static size_t built_heartbeat(uint8_t *out, int fenced, uint32_t version)
{
	uint8_t d[12] = {0, (uint8_t)(1 | (fenced ? 2 : 0) | 16 | 32), 0, 0};
	for (int i = 0; i < 4; i++)
		d[4 + i] = d[8 + i] = (uint8_t)(version >> (24 - 8 * i));
	return fz_put_chunk(out, 3, d, sizeof d);
}

static size_t time_chunk(uint8_t *out, uint8_t op, uint16_t ms)
{
	uint8_t d[2] = {(uint8_t)(ms >> 8), (uint8_t)ms};
	return fz_put_chunk(out, op, d, sizeof d);
}

static size_t message_chunk(uint8_t *out, uint8_t op, const ProtobufCMessage *m)
{
	size_t n;
	uint8_t *p = packed(m, NULL, 0, &n);
	return fz_put_chunk(out, op, p, n);
}

/* Input ops of fuzz_view (see its header). */
enum {
	V_PUSH = 0,
	V_ANSWER_RH = 1,
	V_ANSWER_FETCH = 1 + 8,
	V_ANSWER_ALTER = 1 + 16,
	V_FAIL_FETCH = 2 + 8,
	V_BUILT = 3,
	V_TIME = 4,
	V_TIME_FETCH = 4 + 8,
	V_RECONNECT = 5,
	V_WANT_FENCE = 5 + 16,
	V_SHUTDOWN = 5 + 24,
	V_ALTER = 6,
	V_ALTER_BATCH = 6 + 8,
	V_APPLY_ANY = 7
};

static void corpus_view(void)
{
	static uint8_t orders[16] = {0x70, 1}, logs[16] = {0x70, 2};
	static uint8_t buf[16384];
	Synod__Wire__TopicState t[2] = {SYNOD__WIRE__TOPIC_STATE__INIT,
					SYNOD__WIRE__TOPIC_STATE__INIT};
	Synod__Wire__TopicState *tp[2] = {&t[0], &t[1]};
	Synod__Wire__Endpoint e = SYNOD__WIRE__ENDPOINT__INIT, *ep = &e;
	Synod__Wire__BrokerState b[2] = {SYNOD__WIRE__BROKER_STATE__INIT,
					 SYNOD__WIRE__BROKER_STATE__INIT};
	Synod__Wire__BrokerState *bp[2] = {&b[0], &b[1]};
	Synod__Wire__PartitionState *parts[3];
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__MetadataDelta moved = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__MetadataFetchResponse fr =
	    SYNOD__WIRE__METADATA_FETCH_RESPONSE__INIT;
	Synod__Wire__AlterPartitionResponse ar =
	    SYNOD__WIRE__ALTER_PARTITION_RESPONSE__INIT;
	Synod__Wire__AlterPartitionsResponse abr =
	    SYNOD__WIRE__ALTER_PARTITIONS_RESPONSE__INIT;
	Synod__Wire__AlterPartitionResult res[2] = {
	    SYNOD__WIRE__ALTER_PARTITION_RESULT__INIT,
	    SYNOD__WIRE__ALTER_PARTITION_RESULT__INIT};
	Synod__Wire__AlterPartitionResult *resp[2] = {&res[0], &res[1]};
	Synod__Wire__Status ok = SYNOD__WIRE__STATUS__INIT;
	uint8_t cursor[64] = {1, 2, 3}; /* the longest the library takes */
	uint8_t two[1] = {1}, one_bit[1] = {1};
	size_t n = 0, start;
	t[0].name = "orders", t[0].topic_id.data = orders;
	t[0].topic_id.len = 16, t[0].partitions = 3;
	t[1].name = "logs", t[1].topic_id.data = logs;
	t[1].topic_id.len = 16, t[1].partitions = 2;
	e.name = "PLAINTEXT", e.host = "10.0.1.1", e.port = 9092;
	e.security_protocol = "PLAINTEXT";
	for (int i = 0; i < 2; i++) {
		b[i].id = i + 1, b[i].epoch = (uint64_t)i + 2;
		b[i].n_endpoints = 1, b[i].endpoints = &ep;
	}
	b[1].rack = "r2", b[1].fenced = 1;
	parts[0] = ps("orders", orders, 0, 1, 0, 0);
	parts[1] = ps("orders", orders, 1, 2, 0, 0);
	parts[2] = ps("logs", logs, 0, 3, 0, 0);
	ok.code = 0;

	/* Broker 1 (the first op, V_TIME, is 4: id 4 % 4 + 1) registers
	 * (epoch 5, session 9 s), fetches a full image in two pages (staged)
	 * and what changed since (nothing: one page, so the pages apply), is
	 * unfenced by a heartbeat, then a push moves a leadership. */
	n += time_chunk(buf + n, V_TIME, 10);
	n += built_register(buf + n, 5, 9000);
	d.prev_version = 0, d.version = 12, d.has_full = d.full = 1;
	d.n_topics = 2, d.topics = tp, d.n_partitions = 2;
	d.partitions = parts, d.n_brokers = 2, d.brokers = bp;
	d.has_all_brokers = d.all_brokers = 1;
	fr.status = &ok, fr.delta = &d;
	fr.has_next_cursor = 1, fr.next_cursor.data = cursor;
	fr.next_cursor.len = sizeof cursor;
	n += message_chunk(buf + n, V_ANSWER_FETCH, &fr.base);
	d.has_full = d.full = 0, d.n_topics = 0, d.n_brokers = 0;
	d.has_all_brokers = d.all_brokers = 0;
	d.n_partitions = 1, d.partitions = &parts[2];
	fr.has_next_cursor = 0, fr.next_cursor.len = 0;
	n += message_chunk(buf + n, V_ANSWER_FETCH, &fr.base);
	d.prev_version = 12, d.n_partitions = 0;
	n += message_chunk(buf + n, V_ANSWER_FETCH, &fr.base);
	n += built_heartbeat(buf + n, 0, 12);
	start = n;
	moved.prev_version = 12, moved.version = 14;
	parts[1]->leader = 1, parts[1]->leader_epoch = 1;
	parts[1]->partition_epoch = 1;
	moved.n_partitions = 1, moved.partitions = &parts[1];
	moved.n_removed = 1, moved.removed = &parts[2];
	moved.n_brokers = 1, moved.brokers = &bp[1];
	n += message_chunk(buf + n, V_PUSH, &moved.base);
	n += time_chunk(buf + n, V_TIME, 1000);
	n += built_heartbeat(buf + n, 0, 14);
	put("view", "register_fetch_push", buf, n);

	/* Then the partition's leader shrinks its ISR, alone and in a
	 * batch, and both are answered. */
	n = start;
	n += message_chunk(buf + n, V_PUSH, &moved.base);
	n += fz_put_chunk(buf + n, V_ALTER, NULL, 0);
	ar.status = &ok, ar.partition = parts[1];
	n += message_chunk(buf + n, V_ANSWER_ALTER, &ar.base);
	n += fz_put_chunk(buf + n, V_ALTER_BATCH, two, sizeof two);
	for (int i = 0; i < 2; i++) {
		res[i].topic_id.data = orders, res[i].topic_id.len = 16;
		res[i].partition = i, res[i].state = parts[i];
	}
	abr.status = &ok, abr.n_results = 2, abr.results = resp;
	n += message_chunk(buf + n, V_ANSWER_ALTER, &abr.base);
	put("view", "alter", buf, n);

	/* A push with a gap, so a fetch (which fails, then is retried on
	 * its timer); the session ends without an acknowledged heartbeat
	 * (self-fenced); the broker asks to be fenced, reconnects, and
	 * shuts down. */
	n = start;
	moved.prev_version = 13;
	n += message_chunk(buf + n, V_PUSH, &moved.base);
	n += fz_put_chunk(buf + n, V_FAIL_FETCH, NULL, 0);
	n += time_chunk(buf + n, V_TIME_FETCH, 200);
	n += time_chunk(buf + n, V_TIME, 9500);
	n += fz_put_chunk(buf + n, V_WANT_FENCE, one_bit, sizeof one_bit);
	n += fz_put_chunk(buf + n, V_RECONNECT, NULL, 0);
	n += built_heartbeat(buf + n, 1, 14);
	n += fz_put_chunk(buf + n, V_SHUTDOWN, NULL, 0);
	put("view", "gap_fence_shutdown", buf, n);

	/* The image in two pages read across a change: the push made
	 * between them (continuing the first page's version) is held and
	 * completes the answer (the last page's pushed_version is its
	 * version), so no fetch follows. */
	n = 0;
	n += time_chunk(buf + n, V_TIME, 10);
	n += built_register(buf + n, 5, 9000);
	d.prev_version = 0, d.version = 12, d.has_full = d.full = 1;
	d.n_topics = 2, d.topics = tp, d.n_partitions = 2;
	d.partitions = parts, d.n_brokers = 2, d.brokers = bp;
	d.has_all_brokers = d.all_brokers = 1;
	fr.has_next_cursor = 1, fr.next_cursor.data = cursor;
	fr.next_cursor.len = 8;
	fr.has_read_version = fr.has_pushed_version = 1;
	fr.read_version = fr.pushed_version = 12;
	n += message_chunk(buf + n, V_ANSWER_FETCH, &fr.base);
	moved.prev_version = 12, moved.version = 14;
	n += message_chunk(buf + n, V_PUSH, &moved.base);
	d.has_full = d.full = 0, d.n_topics = 0, d.n_brokers = 0;
	d.has_all_brokers = d.all_brokers = 0;
	d.n_partitions = 1, d.partitions = &parts[2];
	fr.has_next_cursor = 0, fr.next_cursor.len = 0;
	fr.read_version = fr.pushed_version = 14;
	n += message_chunk(buf + n, V_ANSWER_FETCH, &fr.base);
	n += built_heartbeat(buf + n, 0, 14);
	put("view", "pages_held_push", buf, n);

	/* A delta applied to a view of its own, whatever view_check says. */
	n = 0;
	n += message_chunk(buf + n, V_APPLY_ANY, &moved.base);
	put("view", "apply_any", buf, n);
}

/* ---- group ---- */

static void corpus_group(void)
{
	static uint8_t orders[16] = {0x70, 1};
	static uint8_t buf[4096];
	int32_t parts[] = {2, 0, 1}, fewer[] = {1};
	Synod__Wire__Status ok = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__GroupTopicPartitions
	    gt = SYNOD__WIRE__GROUP_TOPIC_PARTITIONS__INIT,
	    *gtp = &gt;
	Synod__Wire__GroupPartitionSet set =
	    SYNOD__WIRE__GROUP_PARTITION_SET__INIT;
	Synod__Wire__GroupHeartbeatResponse r =
	    SYNOD__WIRE__GROUP_HEARTBEAT_RESPONSE__INIT;
	Synod__Wire__GroupAssignmentPush push =
	    SYNOD__WIRE__GROUP_ASSIGNMENT_PUSH__INIT;
	size_t n = 0, len;
	uint8_t *p;
	gt.topic_id.data = orders, gt.topic_id.len = 16, gt.topic = "orders";
	gt.n_partitions = 3, gt.partitions = parts;
	set.n_topics = 1, set.topics = &gtp;
	/* The join's answer with an assignment. */
	r.status = &ok, r.member_id = "8a5e1c0e-0000-4000-8000-000000000001";
	r.has_member_epoch = 1, r.member_epoch = 1;
	r.has_heartbeat_interval_ms = 1, r.heartbeat_interval_ms = 3000;
	r.assignment = &set, r.has_assignment_version = 1;
	r.assignment_version = 10;
	r.has_session_timeout_ms = 1, r.session_timeout_ms = 45000;
	p = packed(&r.base, NULL, 0, &len);
	n += fz_put_chunk(buf + n, 0, p, len);
	put("group", "join", buf, n);
	/* Then a push taking two partitions away, the revocation done, the
	 * heartbeat timer and its answer. */
	push.group_id = "g1", push.member_id = r.member_id;
	push.member_epoch = 2, push.version = 11;
	gt.n_partitions = 1, gt.partitions = fewer;
	push.assignment = &set;
	p = packed(&push.base, NULL, 0, &len);
	n += fz_put_chunk(buf + n, 2, p, len);
	n += fz_put_chunk(buf + n, 5, NULL, 0);
	n += fz_put_chunk(buf + n, 4, NULL, 0);
	r.member_epoch = 2, r.assignment = NULL;
	r.has_assignment_version = 0, r.member_id = NULL;
	p = packed(&r.base, NULL, 0, &len);
	n += fz_put_chunk(buf + n, 0, p, len);
	n += fz_put_chunk(buf + n, 3, NULL, 0);
	put("group", "push_revoke", buf, n);
	/* A fence: the heartbeat answered FENCED_MEMBER_EPOCH, a rejoin. */
	ok.code = SYNOD_EFENCED_MEMBER_EPOCH;
	p = packed(&r.base, NULL, 0, &len);
	n += fz_put_chunk(buf + n, 0, p, len);
	n += fz_put_chunk(buf + n, 6, NULL, 0);
	n += fz_put_chunk(buf + n, 3, NULL, 0);
	n += fz_put_chunk(buf + n, 1, "\x00", 1);
	put("group", "fenced", buf, n);
	/* Leave after the join (static member: top bit of byte 0). */
	buf[0] = 0x80;
	n = 0;
	ok.code = 0;
	r.member_id = "8a5e1c0e-0000-4000-8000-000000000001";
	r.member_epoch = 1, r.assignment = &set;
	p = packed(&r.base, NULL, 0, &len);
	n += fz_put_chunk(buf + n, 0x80, p, len);
	n += fz_put_chunk(buf + n, 7, NULL, 0);
	n += fz_put_chunk(buf + n, 4, NULL, 0);
	n += fz_put_chunk(buf + n, 5, NULL, 0);
	n += fz_put_chunk(buf + n, 4, NULL, 0);
	n += fz_put_chunk(buf + n, 0, p, len);
	put("group", "leave", buf, n);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) != 0 && errno != EEXIST) {
		perror(root);
		return 1;
	}
	corpus_frame();
	corpus_request();
	corpus_records();
	corpus_snapshot();
	corpus_config();
	corpus_view();
	corpus_group();
	return 0;
}
