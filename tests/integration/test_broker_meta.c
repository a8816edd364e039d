/* tests/integration/test_broker_meta.c - the broker library's metadata
 * view against a real quorum: full image after registration, pushes in
 * version order, topic creation and deletion, ISR changes through
 * synod_broker_alter_isr, a controller failover, a re-registration that
 * keeps the view.
 *
 * Each test starts its own quorum of `synod` processes (SYNOD_BIN) through
 * tools/cluster.c and runs struct synod_broker objects of the C library on
 * the test's loop, next to a client for the operator's requests, so every
 * wait keeps the brokers going. Views are compared with DESCRIBE_TOPICS
 * (each broker must hold exactly the partitions it replicates, with the
 * same state, and every topic). Every delta a broker reports is checked
 * against the one before: versions only grow, and a delta that is not a
 * full image starts where the previous one ended. Every wait is bounded;
 * $SYNOD_KEEP_TEST_DIRS keeps the data dirs and logs.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"
#include "common.h"
#include "synod/broker.h"
#include "synod/client.h"

#ifndef SYNOD_BIN
#define SYNOD_BIN NULL
#endif

#define ETO_MS 300
#define LEADER_TIMEOUT_MS 15000
#define CALL_TIMEOUT_MS 15000
#define WAIT_MS 15000
#define MAX_LIB 8

struct lib_broker {
	struct fixture *f;
	struct synod_broker *b; /* NULL once closed */
	uint64_t last_version;	/* of the last delta reported */
	unsigned deltas, fulls;
	int order_violations;
};

struct fixture {
	struct cluster c;
	int started;
	int passed;
	uv_loop_t loop;
	int loop_ready;
	struct synod_client *cl;
	struct lib_broker lib[MAX_LIB];
	unsigned n_lib;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	if (f == NULL)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rv = 0;
	for (unsigned i = 0; i < f->n_lib; i++)
		if (f->lib[i].b)
			synod_broker_close(f->lib[i].b);
	if (f->cl)
		synod_client_close(f->cl);
	if (f->loop_ready) {
		uv_run(&f->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&f->loop) != 0) {
			fprintf(stderr, "teardown: handles left on the loop\n");
			rv = -1;
		}
	}
	if (f->started) {
		if (!f->passed)
			cluster_dump_logs(&f->c, 40);
		cluster_destroy(&f->c);
		if (f->c.sanitizer_reports > 0)
			rv = -1;
	}
	free(f);
	return rv;
}

/* ---- the loop and the operator's client ---- */

struct sync_call {
	int done;
	int status;
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *resp;
};

static void on_sync(void *arg, int status, const uint8_t *body, size_t len)
{
	struct sync_call *s = arg;
	s->done = 1;
	s->status = status;
	if (status == SYNOD_OK) {
		s->resp = protobuf_c_message_unpack(s->desc, NULL, len, body);
		if (s->resp == NULL)
			s->status = SYNOD_EINVALID_REQUEST;
	}
}

/* A request to the active controller, running the loop until the answer.
 * Returns a client error or the server's Status code; *out gets the
 * response when wanted. */
static int call(struct fixture *f, uint16_t api, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	struct sync_call s = {0, 0, desc, NULL};
	const Synod__Wire__Status *st;
	int code;
	if (out)
		*out = NULL;
	assert_int_equal(synod_client_send(f->cl, api, req, 1, on_sync, &s),
			 SYNOD_OK);
	while (!s.done)
		uv_run(&f->loop, UV_RUN_ONCE);
	if (s.status != SYNOD_OK) {
		fprintf(stderr, "call api %u: client error %s: %s\n", api,
			synod_error_name(s.status), synod_client_errmsg(f->cl));
		return s.status;
	}
	st = tool_status(s.resp);
	code = st ? st->code : SYNOD_EUNKNOWN;
	if (out)
		*out = s.resp;
	else
		protobuf_c_message_free_unpacked(s.resp, NULL);
	return code;
}

static void on_pump_timer(uv_timer_t *t)
{
	*(int *)t->data = 1;
	uv_stop(t->loop);
}

static void pump(struct fixture *f, unsigned ms)
{
	uv_timer_t t;
	int fired = 0;
	uv_timer_init(&f->loop, &t);
	t.data = &fired;
	uv_timer_start(&t, on_pump_timer, ms, 0);
	while (!fired)
		uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static int set_cluster_configs(struct fixture *f, unsigned session_ms,
			       unsigned heartbeat_ms)
{
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e[2] = {SYNOD__WIRE__CONFIG_ENTRY__INIT,
					 SYNOD__WIRE__CONFIG_ENTRY__INIT};
	Synod__Wire__ConfigEntry *ep[2] = {&e[0], &e[1]};
	char s[16], h[16];
	snprintf(s, sizeof s, "%u", session_ms);
	snprintf(h, sizeof h, "%u", heartbeat_ms);
	e[0].scope = e[1].scope = SYNOD_SCOPE_CLUSTER;
	e[0].key = "broker.session.timeout.ms";
	e[0].value = s;
	e[1].key = "broker.heartbeat.interval.ms";
	e[1].value = h;
	r.n_entries = 2;
	r.entries = ep;
	return call(f, SYNOD_API_CONFIG_SET, &r.base,
		    &synod__wire__config_set_response__descriptor, NULL);
}

static void start(struct fixture *f, unsigned n)
{
	struct synod_client_config cfg = {0};
	assert_int_equal(cluster_init(&f->c, n, SYNOD_BIN, ETO_MS, NULL), 0);
	f->started = 1;
	assert_int_equal(cluster_start(&f->c), 0);
	assert_int_not_equal(cluster_wait_leader(&f->c, LEADER_TIMEOUT_MS), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->loop_ready = 1;
	cfg.bootstrap = f->c.bootstrap;
	cfg.cluster_id = f->c.cluster_id;
	cfg.request_timeout_ms = CALL_TIMEOUT_MS;
	assert_int_equal(synod_client_new(&f->loop, &cfg, &f->cl), SYNOD_OK);
	assert_int_equal(set_cluster_configs(f, 3000, 300), SYNOD_OK);
	pump(f, 200);
}

/* ---- library brokers ---- */

static void on_metadata(void *arg, struct synod_broker *b,
			const Synod__Wire__MetadataDelta *d)
{
	struct lib_broker *lb = arg;
	int full = d->has_full && d->full;
	/* In version order, without gaps: a delta continues the last one;
	 * the view already shows it. */
	if (d->version < lb->last_version ||
	    (!full && d->prev_version != lb->last_version) ||
	    synod_broker_metadata_version(b) != d->version) {
		fprintf(stderr,
			"broker %d: delta %llu..%llu%s after %llu (view at "
			"%llu)\n",
			synod_broker_id(b), (unsigned long long)d->prev_version,
			(unsigned long long)d->version, full ? " full" : "",
			(unsigned long long)lb->last_version,
			(unsigned long long)synod_broker_metadata_version(b));
		lb->order_violations++;
	}
	lb->last_version = d->version;
	lb->deltas++;
	lb->fulls += full;
}

static unsigned lib_start(struct fixture *f, int32_t id)
{
	struct synod_endpoint ep = {"PLAINTEXT", "127.0.0.1",
				    (uint16_t)(19000 + id), "PLAINTEXT"};
	struct synod_broker_config cfg = {0};
	struct synod_broker_callbacks cbs = {0};
	unsigned i = f->n_lib;
	assert_true(i < MAX_LIB);
	f->lib[i].f = f;
	cfg.bootstrap = f->c.bootstrap;
	cfg.cluster_id = f->c.cluster_id;
	cfg.broker_id = id;
	cfg.endpoints = &ep;
	cfg.n_endpoints = 1;
	cbs.arg = &f->lib[i];
	cbs.metadata = on_metadata;
	assert_int_equal(synod_broker_new(&f->loop, &cfg, &cbs, &f->lib[i].b),
			 SYNOD_OK);
	f->n_lib++;
	assert_int_equal(synod_broker_start(f->lib[i].b), SYNOD_OK);
	return i;
}

static void wait_all_active(struct fixture *f)
{
	uint64_t deadline = tool_now_ms() + WAIT_MS;
	for (;;) {
		unsigned active = 0;
		for (unsigned i = 0; i < f->n_lib; i++)
			active += f->lib[i].b == NULL ||
				  synod_broker_state(f->lib[i].b) ==
				      SYNOD_BROKER_ACTIVE;
		if (active == f->n_lib)
			return;
		if (tool_now_ms() >= deadline)
			fail_msg("%u of %u brokers active", active, f->n_lib);
		pump(f, 10);
	}
}

/* ---- topics ---- */

static void create_topic(struct fixture *f, const char *name,
			 uint32_t partitions, uint32_t rf)
{
	Synod__Wire__CreateTopicsRequest r =
	    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
	Synod__Wire__CreatableTopic t = SYNOD__WIRE__CREATABLE_TOPIC__INIT;
	Synod__Wire__CreatableTopic *tp = &t;
	Synod__Wire__CreateTopicsResponse *resp;
	t.name = (char *)name;
	t.has_partitions = 1;
	t.partitions = partitions;
	t.has_replication_factor = 1;
	t.replication_factor = rf;
	r.n_topics = 1;
	r.topics = &tp;
	assert_int_equal(call(f, SYNOD_API_CREATE_TOPICS, &r.base,
			      &synod__wire__create_topics_response__descriptor,
			      (ProtobufCMessage **)&resp),
			 SYNOD_OK);
	assert_int_equal(resp->n_results, 1);
	assert_int_equal(resp->results[0]->status->code, SYNOD_OK);
	synod__wire__create_topics_response__free_unpacked(resp, NULL);
}

static void delete_topic(struct fixture *f, const char *name)
{
	Synod__Wire__DeleteTopicsRequest r =
	    SYNOD__WIRE__DELETE_TOPICS_REQUEST__INIT;
	char *names[1] = {(char *)name};
	r.n_names = 1;
	r.names = names;
	assert_int_equal(call(f, SYNOD_API_DELETE_TOPICS, &r.base,
			      &synod__wire__delete_topics_response__descriptor,
			      NULL),
			 SYNOD_OK);
}

static Synod__Wire__DescribeTopicsResponse *describe(struct fixture *f)
{
	Synod__Wire__DescribeTopicsRequest r =
	    SYNOD__WIRE__DESCRIBE_TOPICS_REQUEST__INIT;
	Synod__Wire__DescribeTopicsResponse *resp;
	assert_int_equal(
	    call(f, SYNOD_API_DESCRIBE_TOPICS, &r.base,
		 &synod__wire__describe_topics_response__descriptor,
		 (ProtobufCMessage **)&resp),
	    SYNOD_OK);
	return resp;
}

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* 1 when broker lb's view is exactly what the description says it should
 * hold; else 0, and why in `why`. */
static int view_matches(struct lib_broker *lb,
			const Synod__Wire__DescribeTopicsResponse *d, char *why,
			size_t len)
{
	int32_t id = synod_broker_id(lb->b);
	size_t want = 0;
	if (synod_broker_topic_count(lb->b) != d->n_topics) {
		snprintf(why, len, "broker %d: %zu topics, want %zu", id,
			 synod_broker_topic_count(lb->b), d->n_topics);
		return 0;
	}
	for (size_t i = 0; i < d->n_topics; i++) {
		const Synod__Wire__TopicDescription *t = d->topics[i];
		for (size_t k = 0; k < t->n_partitions; k++) {
			const Synod__Wire__PartitionState *p = t->partitions[k];
			Synod__Wire__PartitionState v;
			int mine = 0;
			for (size_t r = 0; r < p->n_replicas; r++)
				mine |= p->replicas[r] == id;
			if (!mine)
				continue;
			want++;
			if (synod_broker_find_partition(lb->b, t->topic_id.data,
							p->partition,
							&v) != SYNOD_OK) {
				snprintf(why, len, "broker %d: %s/%d missing",
					 id, t->name, p->partition);
				return 0;
			}
			if (strcmp(v.topic, t->name) != 0 ||
			    v.leader != p->leader ||
			    v.leader_epoch != p->leader_epoch ||
			    v.partition_epoch != p->partition_epoch ||
			    !same_ids(v.replicas, v.n_replicas, p->replicas,
				      p->n_replicas) ||
			    !same_ids(v.isr, v.n_isr, p->isr, p->n_isr)) {
				snprintf(why, len,
					 "broker %d: %s/%d differs (epoch %u, "
					 "want %u)",
					 id, t->name, p->partition,
					 v.partition_epoch, p->partition_epoch);
				return 0;
			}
		}
	}
	if (synod_broker_partition_count(lb->b) != want) {
		snprintf(why, len, "broker %d: %zu partitions, want %zu", id,
			 synod_broker_partition_count(lb->b), want);
		return 0;
	}
	return 1;
}

/* Wait until every live broker's view matches the description. */
static void wait_views(struct fixture *f)
{
	uint64_t deadline = tool_now_ms() + WAIT_MS;
	char why[256] = "";
	for (;;) {
		Synod__Wire__DescribeTopicsResponse *d = describe(f);
		unsigned ok = 0, live = 0;
		for (unsigned i = 0; i < f->n_lib; i++) {
			if (f->lib[i].b == NULL)
				continue;
			live++;
			ok += view_matches(&f->lib[i], d, why, sizeof why);
		}
		synod__wire__describe_topics_response__free_unpacked(d, NULL);
		if (ok == live)
			break;
		if (tool_now_ms() >= deadline)
			fail_msg("views differ: %s", why);
		pump(f, 20);
	}
	for (unsigned i = 0; i < f->n_lib; i++)
		assert_int_equal(f->lib[i].order_violations, 0);
}

/* A partition of `topic` led by some broker with an ISR of 3. */
static int find_led(struct fixture *f, const char *topic, uint8_t *topic_id,
		    Synod__Wire__PartitionState *out_copy, int32_t *isr)
{
	Synod__Wire__DescribeTopicsResponse *d = describe(f);
	int found = 0;
	for (size_t i = 0; i < d->n_topics && !found; i++) {
		const Synod__Wire__TopicDescription *t = d->topics[i];
		if (strcmp(t->name, topic) != 0)
			continue;
		for (size_t k = 0; k < t->n_partitions && !found; k++) {
			const Synod__Wire__PartitionState *p = t->partitions[k];
			if (p->n_isr != 3 || p->leader < 0)
				continue;
			memcpy(topic_id, t->topic_id.data, 16);
			*out_copy = *p;
			memcpy(isr, p->isr, 3 * sizeof *isr);
			found = 1;
		}
	}
	synod__wire__describe_topics_response__free_unpacked(d, NULL);
	return found;
}

static struct lib_broker *lib_by_id(struct fixture *f, int32_t id)
{
	for (unsigned i = 0; i < f->n_lib; i++)
		if (f->lib[i].b && synod_broker_id(f->lib[i].b) == id)
			return &f->lib[i];
	return NULL;
}

struct alter_result {
	int done;
	int code;
	uint32_t partition_epoch;
	size_t n_isr;
};

static void on_alter(void *arg, int code, const Synod__Wire__PartitionState *s)
{
	struct alter_result *r = arg;
	r->done++;
	r->code = code;
	if (s) {
		r->partition_epoch = s->partition_epoch;
		r->n_isr = s->n_isr;
	}
}

static void wait_alter(struct fixture *f, struct alter_result *r)
{
	uint64_t deadline = tool_now_ms() + WAIT_MS;
	while (!r->done) {
		if (tool_now_ms() >= deadline)
			fail_msg("no ALTER_PARTITION answer");
		pump(f, 10);
	}
}

/* ---- tests ---- */

static void test_views_and_isr(void **state)
{
	struct fixture *f = *state;
	uint8_t tid[16];
	Synod__Wire__PartitionState p;
	int32_t isr[3];
	struct alter_result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
	struct lib_broker *leader, *other;
	struct synod_broker_stats st;
	start(f, 3);
	for (int32_t id = 1; id <= 4; id++)
		lib_start(f, id);
	wait_all_active(f);
	/* Unfenced only once caught up with a full image. */
	for (unsigned i = 0; i < f->n_lib; i++) {
		assert_true(synod_broker_metadata_version(f->lib[i].b) >=
			    synod_broker_epoch(f->lib[i].b));
		assert_int_equal(f->lib[i].fulls, 1);
	}
	create_topic(f, "alpha", 8, 3);
	create_topic(f, "beta", 3, 2);
	wait_views(f);
	for (unsigned i = 0; i < f->n_lib; i++) {
		synod_broker_stats(f->lib[i].b, &st);
		assert_true(st.pushes_applied >= 1);
	}

	/* The leader shrinks an ISR; all three replicas see it. */
	assert_true(find_led(f, "alpha", tid, &p, isr));
	leader = lib_by_id(f, p.leader);
	assert_non_null(leader);
	assert_int_equal(
	    synod_broker_alter_isr(leader->b, tid, p.partition, p.leader_epoch,
				   p.partition_epoch, isr, 2, on_alter, &r1),
	    SYNOD_OK);
	wait_alter(f, &r1);
	assert_int_equal(r1.code, SYNOD_OK);
	assert_int_equal(r1.done, 1);
	assert_int_equal(r1.partition_epoch, p.partition_epoch + 1);
	assert_int_equal(r1.n_isr, 2);
	wait_views(f);
	/* The same request again quotes a stale partition epoch. */
	assert_int_equal(
	    synod_broker_alter_isr(leader->b, tid, p.partition, p.leader_epoch,
				   p.partition_epoch, isr, 2, on_alter, &r2),
	    SYNOD_OK);
	wait_alter(f, &r2);
	assert_int_equal(r2.code, SYNOD_EINVALID_UPDATE_VERSION);
	/* A follower is not the leader. */
	other = lib_by_id(f, isr[1]);
	assert_non_null(other);
	assert_int_equal(synod_broker_alter_isr(
			     other->b, tid, p.partition, p.leader_epoch,
			     p.partition_epoch + 1, isr, 3, on_alter, &r3),
			 SYNOD_OK);
	wait_alter(f, &r3);
	assert_int_equal(r3.code, SYNOD_ENOT_LEADER);
	/* Bad arguments: refused, no callback. */
	assert_int_equal(synod_broker_alter_isr(leader->b, NULL, 0, 0, 0, isr,
						1, on_alter, &r4),
			 SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(synod_broker_alter_isr(leader->b, tid, -1, 0, 0, isr,
						1, on_alter, &r4),
			 SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(synod_broker_alter_isr(leader->b, tid, 0, 0, 0, NULL,
						1, on_alter, &r4),
			 SYNOD_EINVALID_ARGUMENT);

	/* Deletion reaches every view. */
	delete_topic(f, "beta");
	wait_views(f);
	for (unsigned i = 0; i < f->n_lib; i++)
		assert_int_equal(synod_broker_topic_count(f->lib[i].b), 1);

	/* Heartbeats report the applied version. */
	pump(f, 700);
	{
		Synod__Wire__BrokerListRequest lr =
		    SYNOD__WIRE__BROKER_LIST_REQUEST__INIT;
		Synod__Wire__BrokerListResponse *l;
		assert_int_equal(
		    call(f, SYNOD_API_BROKER_LIST, &lr.base,
			 &synod__wire__broker_list_response__descriptor,
			 (ProtobufCMessage **)&l),
		    SYNOD_OK);
		for (size_t i = 0; i < l->n_brokers; i++) {
			struct lib_broker *lb = lib_by_id(f, l->brokers[i]->id);
			assert_non_null(lb);
			assert_true(l->brokers[i]->has_metadata_version);
			assert_int_equal(l->brokers[i]->metadata_version,
					 synod_broker_metadata_version(lb->b));
		}
		synod__wire__broker_list_response__free_unpacked(l, NULL);
	}

	/* Closed with an ALTER_PARTITION in flight: no callback. */
	assert_true(find_led(f, "alpha", tid, &p, isr));
	leader = lib_by_id(f, p.leader);
	assert_int_equal(
	    synod_broker_alter_isr(leader->b, tid, p.partition, p.leader_epoch,
				   p.partition_epoch, isr, 2, on_alter, &r4),
	    SYNOD_OK);
	synod_broker_close(leader->b);
	leader->b = NULL;
	pump(f, 300);
	assert_int_equal(r4.done, 0);
	f->passed = 1;
}

static void test_failover_and_reregistration(void **state)
{
	struct fixture *f = *state;
	struct synod_broker_stats before, after;
	Synod__Wire__BrokerUnregisterRequest ur =
	    SYNOD__WIRE__BROKER_UNREGISTER_REQUEST__INIT;
	uint64_t epoch;
	unsigned leader;
	start(f, 3);
	for (int32_t id = 1; id <= 3; id++)
		lib_start(f, id);
	wait_all_active(f);
	create_topic(f, "x", 6, 3);
	wait_views(f);

	/* The active controller dies; the next one pushes and answers
	 * fetches: views follow a topic created after the failover. */
	leader = cluster_wait_leader(&f->c, LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	assert_int_equal(cluster_kill(&f->c, leader), 0);
	create_topic(f, "y", 4, 2);
	wait_views(f);
	wait_all_active(f);

	/* Unregistered while alive: the broker registers again (new
	 * epoch) and catches up from its applied version, not from a full
	 * image: the view was kept. */
	synod_broker_stats(f->lib[0].b, &before);
	epoch = synod_broker_epoch(f->lib[0].b);
	ur.broker_id = 1;
	assert_int_equal(
	    call(f, SYNOD_API_BROKER_UNREGISTER, &ur.base,
		 &synod__wire__broker_unregister_response__descriptor, NULL),
	    SYNOD_OK);
	{
		uint64_t deadline = tool_now_ms() + WAIT_MS;
		while (synod_broker_epoch(f->lib[0].b) <= epoch ||
		       synod_broker_state(f->lib[0].b) != SYNOD_BROKER_ACTIVE) {
			if (tool_now_ms() >= deadline)
				fail_msg("broker 1 did not register again");
			pump(f, 10);
		}
	}
	synod_broker_stats(f->lib[0].b, &after);
	assert_true(after.registrations > before.registrations);
	assert_true(after.fetches > before.fetches);
	assert_int_equal(after.full_images, before.full_images);
	create_topic(f, "z", 2, 3);
	wait_views(f);
	f->passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_views_and_isr, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failover_and_reregistration,
					    setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
