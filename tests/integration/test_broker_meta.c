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

#include "itest.h"

#ifndef SYNOD_BIN
#define SYNOD_BIN NULL
#endif

#define WAIT_MS 15000
#define MAX_LIB 8

struct lib_broker {
	struct fixture *f;
	struct synod_broker *b; /* NULL once closed */
	struct itest_deltas ds; /* what it reported */
};

struct fixture {
	struct itest it;
	struct lib_broker lib[MAX_LIB];
	unsigned n_lib;
};

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rv;
	for (unsigned i = 0; i < f->n_lib; i++)
		if (f->lib[i].b)
			synod_broker_close(f->lib[i].b);
	rv = itest_teardown(&f->it, NULL, 0, 0);
	free(f);
	return rv;
}

static void start(struct fixture *f, unsigned n)
{
	itest_start(&f->it, n, SYNOD_BIN, NULL);
	itest_start_client(&f->it);
	assert_int_equal(itest_set_cluster_configs(&f->it, 3000, 300),
			 SYNOD_OK);
	itest_pump(&f->it.loop, 200);
}

/* ---- library brokers ---- */

static void on_metadata(void *arg, struct synod_broker *b,
			const Synod__Wire__MetadataDelta *d)
{
	struct lib_broker *lb = arg;
	itest_deltas_check(&lb->ds, b, d);
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
	cfg.bootstrap = f->it.c.bootstrap;
	cfg.cluster_id = f->it.c.cluster_id;
	cfg.broker_id = id;
	cfg.endpoints = &ep;
	cfg.n_endpoints = 1;
	cbs.arg = &f->lib[i];
	cbs.metadata = on_metadata;
	assert_int_equal(
	    synod_broker_new(&f->it.loop, &cfg, &cbs, &f->lib[i].b), SYNOD_OK);
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
		itest_pump(&f->it.loop, 10);
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
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_CREATE_TOPICS, &r.base,
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
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_DELETE_TOPICS, &r.base,
		       &synod__wire__delete_topics_response__descriptor, NULL),
	    SYNOD_OK);
}

static Synod__Wire__DescribeTopicsResponse *describe(struct fixture *f)
{
	Synod__Wire__DescribeTopicsRequest r =
	    SYNOD__WIRE__DESCRIBE_TOPICS_REQUEST__INIT;
	Synod__Wire__DescribeTopicsResponse *resp;
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_DESCRIBE_TOPICS, &r.base,
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
		itest_pump(&f->it.loop, 20);
	}
	for (unsigned i = 0; i < f->n_lib; i++)
		assert_int_equal(f->lib[i].ds.order_violations, 0);
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
		itest_pump(&f->it.loop, 10);
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
		assert_int_equal(f->lib[i].ds.fulls, 1);
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
	itest_pump(&f->it.loop, 700);
	{
		Synod__Wire__BrokerListRequest lr =
		    SYNOD__WIRE__BROKER_LIST_REQUEST__INIT;
		Synod__Wire__BrokerListResponse *l;
		assert_int_equal(
		    itest_call(&f->it, SYNOD_API_BROKER_LIST, &lr.base,
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
	itest_pump(&f->it.loop, 300);
	assert_int_equal(r4.done, 0);
	f->it.passed = 1;
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
	leader = cluster_wait_leader(&f->it.c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	assert_int_equal(cluster_kill(&f->it.c, leader), 0);
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
	    itest_call(&f->it, SYNOD_API_BROKER_UNREGISTER, &ur.base,
		       &synod__wire__broker_unregister_response__descriptor,
		       NULL),
	    SYNOD_OK);
	{
		uint64_t deadline = tool_now_ms() + WAIT_MS;
		while (synod_broker_epoch(f->lib[0].b) <= epoch ||
		       synod_broker_state(f->lib[0].b) != SYNOD_BROKER_ACTIVE) {
			if (tool_now_ms() >= deadline)
				fail_msg("broker 1 did not register again");
			itest_pump(&f->it.loop, 10);
		}
	}
	synod_broker_stats(f->lib[0].b, &after);
	assert_true(after.registrations > before.registrations);
	assert_true(after.fetches > before.fetches);
	assert_int_equal(after.full_images, before.full_images);
	create_topic(f, "z", 2, 3);
	wait_views(f);
	f->it.passed = 1;
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
