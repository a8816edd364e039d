/* tests/fuzz/fuzz_request.c - request bodies of every API the server
 * registers, decoded as the server decodes them (the request descriptor
 * of the module's table, controller/module.h), then through the pure
 * checks the handlers make before anything touches state: config keys,
 * values and scopes (controller/configdefs.c), topic names and
 * duplicates, group ids, KIP-848's heartbeat rules and partition sets
 * (controller/reconcile.c), the ISR rules of ALTER_PARTITION(S)
 * (controller/election.c), the member's regular expression (regcomp, as
 * controller/groups.c compiles it). No server is started: the tables come
 * from the modules' *_module() functions, which only fill a struct.
 *
 * Input: byte 0 selects the API (modulo the number registered), the rest
 * is the body. Every decoded message is also packed again and must decode
 * to the same bytes. */
#include <regex.h>
#include <string.h>

#include "brokers.h"
#include "cluster.h"
#include "configdefs.h"
#include "election.h"
#include "fuzz_common.h"
#include "groups.h"
#include "module.h"
#include "reconcile.h"
#include "synod/client.h"
#include "topics.h"

#define MAX_APIS 64

static const struct module_api *apis[MAX_APIS];
static size_t n_apis;

static void add_module(const struct module *m)
{
	for (size_t i = 0; i < m->n_apis && n_apis < MAX_APIS; i++)
		apis[n_apis++] = &m->apis[i];
}

static void load_registry(void)
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
}

/* cluster.c's check_entry(): the checks of one config entry. */
static void check_entry(unsigned scope, const char *resource, const char *key,
			const char *value)
{
	char err[256];
	const struct configdef *d;
	if (scope == SYNOD_SCOPE_TOPIC &&
	    (resource == NULL || !topic_name_valid(resource)))
		return;
	if (scope == SYNOD_SCOPE_GROUP &&
	    (resource == NULL || !group_id_valid(resource)))
		return;
	if (scope == SYNOD_SCOPE_PRINCIPAL && !principal_name_valid(resource))
		return;
	if (value != NULL) {
		if (configdef_validate(scope, key, value, err, sizeof err) != 0)
			FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
		return;
	}
	if ((d = configdef_find(key)) == NULL)
		return;
	FUZZ_CHECK(strcmp(d->key, key) == 0);
	configdef_scope_check(d, scope, err, sizeof err);
	(void)configdef_scopes(d);
}

static void check_names(char **names, size_t n)
{
	unsigned char *dup = calloc(n + 1, 1);
	long count, ones = 0;
	if (dup == NULL)
		return;
	count = names_duplicates((const char *const *)names, n, dup);
	for (size_t i = 0; i < n; i++) {
		ones += dup[i];
		/* A repeat has an equal name before it; a first does not. */
		int earlier = 0;
		for (size_t k = 0; k < i && !earlier && n <= 64; k++)
			earlier = strcmp(names[k], names[i]) == 0;
		if (n <= 64)
			FUZZ_CHECK(earlier == dup[i]);
		(void)topic_name_valid(names[i]);
	}
	FUZZ_CHECK(count == ones);
	free(dup);
}

static int regex_ok(const char *re_text)
{
	regex_t re;
	static const char *const topics[] = {"orders", "a.b-c_d", "", "x"};
	if (re_text == NULL || re_text[0] == '\0')
		return 1;
	/* The controller has no length bound of its own here; a bound keeps
	 * the fuzzer on Synod's code rather than on glibc's regcomp. */
	if (strlen(re_text) > 256)
		return 0;
	if (regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
		(void)regexec(&re, topics[i], 0, NULL, 0);
	regfree(&re);
	return 1;
}

/* A partition set from the wire as RC keys (tid = topic index + 1, as
 * the controller maps topic ids to its topic numbers). */
static void check_pset(const Synod__Wire__GroupPartitionSet *s)
{
	size_t n = 0, k = 0;
	uint64_t *keys;
	uint32_t m;
	for (size_t i = 0; i < s->n_topics; i++)
		n += s->topics[i]->n_partitions;
	if (n == 0 || n > (1u << 20))
		return;
	if ((keys = malloc(n * sizeof *keys)) == NULL)
		return;
	for (size_t i = 0; i < s->n_topics; i++)
		for (size_t j = 0; j < s->topics[i]->n_partitions; j++)
			keys[k++] = RC_KEY(i + 1, s->topics[i]->partitions[j]);
	m = rc_normalize(keys, (uint32_t)n);
	FUZZ_CHECK(m <= n);
	FUZZ_CHECK(rc_is_set(keys, m));
	free(keys);
}

static void check_heartbeat(const Synod__Wire__GroupHeartbeatRequest *req)
{
	struct rc_request r;
	char err[200];
	int rv;
	groups_heartbeat_request(req, &r); /* what the controller checks */
	rv = rc_validate(&r, err, sizeof err);
	FUZZ_CHECK(rv == SYNOD_OK || rv == SYNOD_EINVALID_REQUEST);
	FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
	if (rv != SYNOD_OK)
		return;
	FUZZ_CHECK(r.group_id && r.group_id[0]);
	(void)group_id_valid(req->group_id);
	(void)regex_ok(req->subscribed_topic_regex);
	if (req->subscribed_topic_names)
		check_names(req->subscribed_topic_names->names,
			    req->subscribed_topic_names->n_names);
	if (req->owned)
		check_pset(req->owned);
}

/* ALTER_PARTITION against a fixed current state: replicas 1-4, ISR
 * {1,2,3}, leader 1, leader epoch 5, partition epoch 9; broker 4 fenced. */
static int alive(void *arg, int32_t id)
{
	(void)arg;
	return id >= 1 && id <= 3;
}

static void check_alter(int32_t from, uint32_t le, uint32_t pe,
			const int32_t *isr, size_t n)
{
	struct el_partition in = {{1, 2, 3, 4}, 4, {1, 2, 3}, 3, 1, 5, 9};
	struct el_partition out;
	int rv;
	memset(&out, 0x5a, sizeof out);
	rv = el_alter_isr(&in, from, le, pe, isr,
			  n > UINT32_MAX ? UINT32_MAX : (uint32_t)n, alive,
			  NULL, &out);
	if (rv != 0)
		return;
	/* Accepted: a non-empty subset of the replicas holding the leader,
	 * epochs as the rules say. */
	FUZZ_CHECK(out.n_isr >= 1 && out.n_isr <= out.n_replicas);
	FUZZ_CHECK(out.leader == in.leader);
	FUZZ_CHECK(out.leader_epoch == in.leader_epoch);
	FUZZ_CHECK(out.partition_epoch == in.partition_epoch ||
		   out.partition_epoch == in.partition_epoch + 1);
	FUZZ_CHECK(el_changed(&in, &out) ==
		   (out.partition_epoch != in.partition_epoch));
	int has_leader = 0;
	for (uint32_t i = 0; i < out.n_isr; i++) {
		int in_replicas = 0;
		has_leader |= out.isr[i] == out.leader;
		for (uint32_t k = 0; k < out.n_replicas; k++)
			in_replicas |= out.replicas[k] == out.isr[i];
		FUZZ_CHECK(in_replicas);
		for (uint32_t k = 0; k < i; k++)
			FUZZ_CHECK(out.isr[k] != out.isr[i]);
	}
	FUZZ_CHECK(has_leader);
}

static void check(uint16_t api, ProtobufCMessage *msg)
{
	switch (api) {
	case SYNOD_API_CONFIG_SET: {
		Synod__Wire__ConfigSetRequest *r = (void *)msg;
		for (size_t i = 0; i < r->n_entries; i++)
			check_entry(r->entries[i]->scope,
				    r->entries[i]->resource, r->entries[i]->key,
				    r->entries[i]->value);
		break;
	}
	case SYNOD_API_CONFIG_GET: {
		Synod__Wire__ConfigGetRequest *r = (void *)msg;
		check_entry(r->scope, r->resource, r->key, NULL);
		break;
	}
	case SYNOD_API_CONFIG_DELETE: {
		Synod__Wire__ConfigDeleteRequest *r = (void *)msg;
		check_entry(r->scope, r->resource, r->key, NULL);
		break;
	}
	case SYNOD_API_CONFIG_LIST: {
		Synod__Wire__ConfigListRequest *r = (void *)msg;
		if (r->resource) {
			(void)topic_name_valid(r->resource);
			(void)group_id_valid(r->resource);
		}
		break;
	}
	case SYNOD_API_CREATE_TOPICS: {
		Synod__Wire__CreateTopicsRequest *r = (void *)msg;
		char **names = calloc(r->n_topics + 1, sizeof *names);
		char err[300];
		if (names == NULL)
			break;
		for (size_t i = 0; i < r->n_topics; i++) {
			const Synod__Wire__CreatableTopic *ct = r->topics[i];
			names[i] = ct->name;
			for (size_t k = 0; k < ct->n_configs; k++)
				(void)configdef_validate(
				    SYNOD_SCOPE_TOPIC, ct->configs[k]->key,
				    ct->configs[k]->value, err, sizeof err);
		}
		check_names(names, r->n_topics);
		free(names);
		break;
	}
	case SYNOD_API_DELETE_TOPICS: {
		Synod__Wire__DeleteTopicsRequest *r = (void *)msg;
		check_names(r->names, r->n_names);
		break;
	}
	case SYNOD_API_DESCRIBE_TOPICS: {
		Synod__Wire__DescribeTopicsRequest *r = (void *)msg;
		check_names(r->names, r->n_names);
		break;
	}
	case SYNOD_API_ELECT_LEADERS: {
		Synod__Wire__ElectLeadersRequest *r = (void *)msg;
		for (size_t i = 0; i < r->n_partitions; i++)
			(void)topic_name_valid(r->partitions[i]->topic);
		break;
	}
	case SYNOD_API_ALTER_PARTITION: {
		Synod__Wire__AlterPartitionRequest *r = (void *)msg;
		check_alter(r->broker_id, r->leader_epoch, r->partition_epoch,
			    r->new_isr, r->n_new_isr);
		break;
	}
	case SYNOD_API_ALTER_PARTITIONS: {
		Synod__Wire__AlterPartitionsRequest *r = (void *)msg;
		for (size_t i = 0; i < r->n_items; i++)
			check_alter(r->broker_id, r->items[i]->leader_epoch,
				    r->items[i]->partition_epoch,
				    r->items[i]->new_isr,
				    r->items[i]->n_new_isr);
		break;
	}
	case SYNOD_API_GROUP_HEARTBEAT:
		check_heartbeat((void *)msg);
		break;
	case SYNOD_API_GROUP_DESCRIBE: {
		Synod__Wire__GroupDescribeRequest *r = (void *)msg;
		for (size_t i = 0; i < r->n_group_ids; i++)
			(void)group_id_valid(r->group_ids[i]);
		break;
	}
	case SYNOD_API_GROUP_DELETE: {
		Synod__Wire__GroupDeleteRequest *r = (void *)msg;
		(void)group_id_valid(r->group_id);
		break;
	}
	default:
		break;
	}
}

/* Unknown fields anywhere in m (protobuf-c keeps and packs them again). */
static int has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (m->n_unknown_fields > 0)
		return 1;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n =
			    *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *v = *(
			    ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t k = 0; k < n; k++)
				if (has_unknown(v[k]))
					return 1;
		} else {
			const ProtobufCMessage *sub = *(
			    const ProtobufCMessage *const *)(base + f->offset);
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    *(const uint32_t *)(base + f->quantifier_offset) !=
				f->id)
				continue;
			if (sub && has_unknown(sub))
				return 1;
		}
	}
	return 0;
}

/* Pack again, decode again, pack again: the same bytes. Not with unknown
 * fields: protobuf-c 1.4.1 keeps a field number 0 whose tag is encoded in
 * more bytes than needed (80 00), packs it as 00 and then refuses that
 * (docs/fuzzing.md); Synod never packs a decoded request again. */
static void roundtrip(const ProtobufCMessageDescriptor *desc,
		      const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg), n2;
	uint8_t *a = malloc(n + 1), *b;
	ProtobufCMessage *again;
	FUZZ_CHECK(a != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(msg, a) == n);
	again = protobuf_c_message_unpack(desc, NULL, n, a);
	FUZZ_CHECK(again != NULL);
	n2 = protobuf_c_message_get_packed_size(again);
	FUZZ_CHECK(n2 == n);
	b = malloc(n2 + 1);
	FUZZ_CHECK(b != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(again, b) == n2);
	FUZZ_CHECK(memcmp(a, b, n) == 0);
	protobuf_c_message_free_unpacked(again, NULL);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct module_api *a;
	ProtobufCMessage *msg;
	if (n_apis == 0)
		load_registry();
	if (size < 1)
		return 0;
	a = apis[data[0] % n_apis];
	msg = protobuf_c_message_unpack(a->request, NULL, size - 1, data + 1);
	if (msg == NULL)
		return 0; /* INVALID_REQUEST */
	FUZZ_CHECK(msg->descriptor == a->request);
	check(a->api, msg);
	if (!has_unknown(msg))
		roundtrip(a->request, msg);
	protobuf_c_message_free_unpacked(msg, NULL);
	return 0;
}
