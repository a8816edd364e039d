/* Unit tests: topic and partition records in the store (apply rules,
 * epochs, indexes by broker, versions for fetch-since, tombstones). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "records.pb-c.h"
#include "store.h"

/* Envelope version of the entries apply() writes: 1 replays the old
 * rules, 2 adds the invariant checks (STORE_R_REFUSED), 4 the check of
 * brokers joining an ISR. */
static unsigned g_version = 1;

/* Apply the n records as entry `index` (timestamp ts_ms, 0: none);
 * st[i] = each record's status. */
static void apply_all(struct store *s, uint64_t index, uint64_t ts_ms,
		      Synod__Rec__Record **recs, size_t n, int *st)
{
	Synod__Rec__RecordBatch b = SYNOD__REC__RECORD_BATCH__INIT;
	size_t len;
	uint8_t *buf;
	b.version = g_version;
	b.has_timestamp_ms = ts_ms != 0;
	b.timestamp_ms = ts_ms;
	b.n_records = n;
	b.records = recs;
	len = synod__rec__record_batch__get_packed_size(&b);
	buf = malloc(len);
	synod__rec__record_batch__pack(&b, buf);
	assert_int_equal(store_apply(s, index, buf, len, st, (unsigned)n, NULL),
			 STORE_OK);
	free(buf);
}

static int apply(struct store *s, uint64_t index, Synod__Rec__Record *r)
{
	int st = -1;
	apply_all(s, index, 0, &r, 1, &st);
	return st;
}

static Synod__Rec__PartitionRecord *prec(int32_t part, int32_t a, int32_t b,
					 int32_t c)
{
	Synod__Rec__PartitionRecord *p = calloc(1, sizeof *p);
	synod__rec__partition_record__init(p);
	p->partition = part;
	p->replicas = calloc(3, sizeof(int32_t));
	p->isr = calloc(3, sizeof(int32_t));
	p->replicas[0] = p->isr[0] = a;
	p->replicas[1] = p->isr[1] = b;
	p->replicas[2] = p->isr[2] = c;
	p->n_replicas = p->n_isr = 3;
	p->leader = a;
	return p;
}

static void free_prec(Synod__Rec__PartitionRecord *p)
{
	free(p->replicas);
	free(p->isr);
	free(p);
}

static uint8_t ID_A[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static uint8_t ID_B[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
static uint8_t ID_C[16] = {7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

/* A CreateTopic record of `name` (id, n partitions led by brokers 0-3
 * in turn); free with free_create(). */
static Synod__Rec__Record *create_rec(const char *name, uint8_t *id, unsigned n)
{
	Synod__Rec__Record *r = calloc(1, sizeof *r);
	Synod__Rec__CreateTopic *c = calloc(1, sizeof *c);
	synod__rec__record__init(r);
	synod__rec__create_topic__init(c);
	c->name = (char *)name;
	c->topic_id.data = id;
	c->topic_id.len = 16;
	c->n_partitions = n;
	c->partitions = calloc(n, sizeof *c->partitions);
	for (unsigned i = 0; i < n; i++)
		c->partitions[i] =
		    prec((int32_t)i, (int32_t)(i % 4), (int32_t)((i + 1) % 4),
			 (int32_t)((i + 2) % 4));
	r->body_case = SYNOD__REC__RECORD__BODY_CREATE_TOPIC;
	r->create_topic = c;
	return r;
}

static void free_create(Synod__Rec__Record *r)
{
	for (size_t i = 0; i < r->create_topic->n_partitions; i++)
		free_prec(r->create_topic->partitions[i]);
	free(r->create_topic->partitions);
	free(r->create_topic);
	free(r);
}

static int create(struct store *s, uint64_t index, const char *name,
		  uint8_t *id, unsigned n)
{
	Synod__Rec__Record *r = create_rec(name, id, n);
	int st = apply(s, index, r);
	free_create(r);
	return st;
}

static int remove_topic(struct store *s, uint64_t index, uint8_t *id)
{
	Synod__Rec__RemoveTopic rt = SYNOD__REC__REMOVE_TOPIC__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	rt.topic_id.data = id;
	rt.topic_id.len = 16;
	r.body_case = SYNOD__REC__RECORD__BODY_REMOVE_TOPIC;
	r.remove_topic = &rt;
	return apply(s, index, &r);
}

static int change(struct store *s, uint64_t index, uint8_t *id, int32_t part,
		  uint32_t expected, int32_t leader, uint32_t le, uint32_t pe,
		  int n_isr)
{
	Synod__Rec__PartitionChange c = SYNOD__REC__PARTITION_CHANGE__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	Synod__Rec__PartitionRecord *p = prec(part, 0, 1, 2);
	int st;
	p->leader = leader;
	p->leader_epoch = le;
	p->partition_epoch = pe;
	p->n_isr = (size_t)n_isr;
	c.topic_id.data = id;
	c.topic_id.len = 16;
	c.expected_partition_epoch = expected;
	c.state = p;
	r.body_case = SYNOD__REC__RECORD__BODY_PARTITION_CHANGE;
	r.partition_change = &c;
	st = apply(s, index, &r);
	free_prec(p);
	return st;
}

struct count {
	int n;
	int32_t last_leader;
};

static int count_part(void *arg, const struct store_topic *t,
		      const struct store_partition *p)
{
	struct count *c = arg;
	(void)t;
	c->n++;
	c->last_leader = p->leader;
	return 0;
}

static int count_topic(void *arg, const struct store_topic *t)
{
	(void)t;
	((struct count *)arg)->n++;
	return 0;
}

static void test_create_and_lookup(void **state)
{
	struct store *s;
	struct store_topic t;
	struct store_partition p;
	struct count c = {0, 0};
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(create(s, 10, "orders", ID_A, 8), STORE_R_OK);
	assert_int_equal(store_topic_get(s, "orders", &t), STORE_OK);
	assert_int_equal(t.n_partitions, 8);
	assert_memory_equal(t.topic_id, ID_A, 16);
	assert_int_equal(t.created_index, 10);
	assert_int_equal(store_topic_get_by_id(s, ID_A, &t), STORE_OK);
	assert_string_equal(t.name, "orders");
	assert_int_equal(store_partition_get(s, t.tid, 5, &p), STORE_OK);
	assert_int_equal(p.n_replicas, 3);
	assert_int_equal(p.replicas[0], 1);
	assert_int_equal(p.leader, 1);
	assert_int_equal(p.version, 10);
	/* The same name or id again is refused (stale), nothing changes. */
	assert_int_equal(create(s, 11, "orders", ID_B, 2), STORE_R_STALE);
	assert_int_equal(create(s, 12, "other", ID_A, 2), STORE_R_STALE);
	assert_int_equal(store_topic_get(s, "other", &t), STORE_ENOTFOUND);
	/* Broker 0 replicates partitions 0,2,3,4,6,7 (i%4, i+1%4, i+2%4). */
	assert_int_equal(store_broker_partitions(s, 0, 0, count_part, &c),
			 STORE_OK);
	assert_int_equal(c.n, 6);
	store_close(s);
}

static void test_partition_change_epochs(void **state)
{
	struct store *s;
	struct store_topic t;
	struct store_partition p;
	struct count c = {0, 0};
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(create(s, 10, "orders", ID_A, 4), STORE_R_OK);
	assert_int_equal(store_topic_get(s, "orders", &t), STORE_OK);
	/* A change expecting the current epoch applies. */
	assert_int_equal(change(s, 11, ID_A, 1, 0, 2, 1, 1, 2), STORE_R_OK);
	assert_int_equal(store_partition_get(s, t.tid, 1, &p), STORE_OK);
	assert_int_equal(p.leader, 2);
	assert_int_equal(p.leader_epoch, 1);
	assert_int_equal(p.partition_epoch, 1);
	assert_int_equal(p.n_isr, 2);
	assert_int_equal(p.version, 11);
	/* A stale one (expects epoch 0 again) is refused. */
	assert_int_equal(change(s, 12, ID_A, 1, 0, 0, 5, 5, 3), STORE_R_STALE);
	assert_int_equal(store_partition_get(s, t.tid, 1, &p), STORE_OK);
	assert_int_equal(p.leader, 2);
	assert_int_equal(p.version, 11);
	/* Unknown partition or topic: not found. */
	assert_int_equal(change(s, 13, ID_A, 9, 0, 0, 1, 1, 3),
			 STORE_R_NOT_FOUND);
	assert_int_equal(change(s, 14, ID_B, 0, 0, 0, 1, 1, 3),
			 STORE_R_NOT_FOUND);
	/* Fetch-since: only partition 1 changed after 10 for broker 0. */
	assert_int_equal(store_broker_partitions(s, 0, 10, count_part, &c),
			 STORE_OK);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.last_leader, 2);
	store_close(s);
}

static void test_grow_and_remove(void **state)
{
	struct store *s;
	struct store_topic t;
	struct count c = {0, 0}, d = {0, 0};
	char *v = NULL;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(create(s, 10, "orders", ID_A, 2), STORE_R_OK);
	{
		Synod__Rec__CreatePartitions cp =
		    SYNOD__REC__CREATE_PARTITIONS__INIT;
		Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
		Synod__Rec__PartitionRecord *ps[2] = {prec(2, 0, 1, 2),
						      prec(3, 1, 2, 3)};
		cp.topic_id.data = ID_A;
		cp.topic_id.len = 16;
		cp.n_partitions = 2;
		cp.partitions = ps;
		r.body_case = SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS;
		r.create_partitions = &cp;
		assert_int_equal(apply(s, 11, &r), STORE_R_OK);
		/* The same again starts at the wrong number: stale. */
		assert_int_equal(apply(s, 12, &r), STORE_R_STALE);
		free_prec(ps[0]);
		free_prec(ps[1]);
	}
	assert_int_equal(store_topic_get(s, "orders", &t), STORE_OK);
	assert_int_equal(t.n_partitions, 4);
	assert_int_equal(t.version, 11);
	/* A topic config goes with the topic. */
	{
		Synod__Rec__SetConfig sc = SYNOD__REC__SET_CONFIG__INIT;
		Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
		sc.scope = 1;
		sc.resource = "orders";
		sc.key = "retention.ms";
		sc.value = "5";
		r.body_case = SYNOD__REC__RECORD__BODY_SET_CONFIG;
		r.set_config = &sc;
		assert_int_equal(apply(s, 13, &r), STORE_R_OK);
	}
	assert_int_equal(remove_topic(s, 14, ID_A), STORE_R_OK);
	assert_int_equal(remove_topic(s, 15, ID_A), STORE_R_NOT_FOUND);
	assert_int_equal(store_topic_get(s, "orders", &t), STORE_ENOTFOUND);
	assert_int_equal(store_config_get(s, 1, "orders", "retention.ms", &v),
			 STORE_ENOTFOUND);
	for (int b = 0; b < 4; b++)
		assert_int_equal(
		    store_broker_partitions(s, b, 0, count_part, &c), STORE_OK);
	assert_int_equal(c.n, 0);
	/* Since 13: one deleted topic, no live ones. */
	assert_int_equal(
	    store_topics_since(s, 13, count_topic, count_topic, &d), STORE_OK);
	assert_int_equal(d.n, 1);
	/* The name can be used again, with a new id. */
	assert_int_equal(create(s, 16, "orders", ID_B, 1), STORE_R_OK);
	store_close(s);
}

static void test_snapshot_keeps_topics(void **state)
{
	struct store *s, *t2;
	void *buf;
	size_t len;
	uint64_t d1, d2;
	struct store_topic t;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(store_open(&t2), STORE_OK);
	assert_int_equal(create(s, 10, "a", ID_A, 8), STORE_R_OK);
	assert_int_equal(create(s, 11, "b", ID_B, 3), STORE_R_OK);
	assert_int_equal(store_snapshot(s, malloc, &buf, &len), STORE_OK);
	assert_int_equal(store_restore(t2, buf, len), STORE_OK);
	free(buf);
	assert_int_equal(store_digest(s, &d1), STORE_OK);
	assert_int_equal(store_digest(t2, &d2), STORE_OK);
	assert_true(d1 == d2);
	assert_int_equal(store_topic_get(t2, "b", &t), STORE_OK);
	assert_int_equal(t.n_partitions, 3);
	store_close(s);
	store_close(t2);
}

/* ---- invariants of envelope 2 ---- */

static int broker_rec(struct store *s, uint64_t index, int kind, int32_t id,
		      uint64_t epoch, const char *incarnation)
{
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	Synod__Rec__RegisterBroker rb = SYNOD__REC__REGISTER_BROKER__INIT;
	Synod__Rec__FenceBroker fb = SYNOD__REC__FENCE_BROKER__INIT;
	Synod__Rec__UnfenceBroker ub = SYNOD__REC__UNFENCE_BROKER__INIT;
	Synod__Rec__BrokerShutdown sd = SYNOD__REC__BROKER_SHUTDOWN__INIT;
	Synod__Rec__UnregisterBroker ur = SYNOD__REC__UNREGISTER_BROKER__INIT;
	r.body_case = (Synod__Rec__Record__BodyCase)kind;
	switch (kind) {
	case SYNOD__REC__RECORD__BODY_REGISTER_BROKER:
		rb.broker_id = id;
		rb.incarnation_id = (char *)incarnation;
		rb.expected_epoch = epoch;
		r.register_broker = &rb;
		break;
	case SYNOD__REC__RECORD__BODY_FENCE_BROKER:
		fb.broker_id = id;
		fb.epoch = epoch;
		r.fence_broker = &fb;
		break;
	case SYNOD__REC__RECORD__BODY_UNFENCE_BROKER:
		ub.broker_id = id;
		ub.epoch = epoch;
		r.unfence_broker = &ub;
		break;
	case SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN:
		sd.broker_id = id;
		sd.epoch = epoch;
		r.broker_shutdown = &sd;
		break;
	default:
		ur.broker_id = id;
		r.unregister_broker = &ur;
		break;
	}
	return apply(s, index, &r);
}

#define REG SYNOD__REC__RECORD__BODY_REGISTER_BROKER
#define FENCE SYNOD__REC__RECORD__BODY_FENCE_BROKER
#define UNFENCE SYNOD__REC__RECORD__BODY_UNFENCE_BROKER
#define SHUTDOWN SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN
#define UNREG SYNOD__REC__RECORD__BODY_UNREGISTER_BROKER

/* Brokers 0-3 registered at indexes 1-4 (epoch = index) and unfenced. */
static void four_brokers(struct store *s)
{
	for (int32_t b = 0; b < 4; b++) {
		assert_int_equal(broker_rec(s, 1 + (uint64_t)b, REG, b, 0, "i"),
				 STORE_R_OK);
		assert_int_equal(broker_rec(s, 5 + (uint64_t)b, UNFENCE, b,
					    1 + (uint64_t)b, NULL),
				 STORE_R_OK);
	}
}

/* Invariant: a partition's leader is an ISR member that is registered,
 * unfenced and not shutting down, at creation too. */
static void test_strict_create(void **state)
{
	struct store *s;
	(void)state;
	g_version = 2;
	assert_int_equal(store_open(&s), STORE_OK);
	/* Leaders 0-3 are not registered yet. */
	assert_int_equal(create(s, 10, "orders", ID_A, 4), STORE_R_REFUSED);
	four_brokers(s);
	/* Broker 1 fenced: partition 1 (leader 1) would break it. */
	assert_int_equal(broker_rec(s, 11, FENCE, 1, 2, NULL), STORE_R_OK);
	assert_int_equal(create(s, 12, "orders", ID_A, 4), STORE_R_REFUSED);
	assert_int_equal(broker_rec(s, 13, UNFENCE, 1, 2, NULL), STORE_R_OK);
	assert_int_equal(create(s, 14, "orders", ID_A, 4), STORE_R_OK);
	/* Under envelope 1 the old rules stay: no refusal. */
	g_version = 1;
	assert_int_equal(broker_rec(s, 15, FENCE, 2, 3, NULL), STORE_R_OK);
	g_version = 2;
	store_close(s);
}

/* Invariants: the partition epoch moves by exactly one, the leader epoch
 * never goes back and rises with every new leader; the leader is in the
 * ISR and usable. */
static void test_strict_change(void **state)
{
	struct store *s;
	struct store_topic t;
	struct store_partition p;
	(void)state;
	g_version = 2;
	assert_int_equal(store_open(&s), STORE_OK);
	four_brokers(s);
	assert_int_equal(create(s, 10, "orders", ID_A, 4), STORE_R_OK);
	assert_int_equal(store_topic_get(s, "orders", &t), STORE_OK);
	/* change(): replicas 0,1,2, ISR the first n_isr of them. */
	/* partition epoch skips a number */
	assert_int_equal(change(s, 11, ID_A, 0, 0, 1, 1, 2, 3),
			 STORE_R_REFUSED);
	/* new leader without a new leader epoch */
	assert_int_equal(change(s, 12, ID_A, 0, 0, 1, 0, 1, 3),
			 STORE_R_REFUSED);
	/* leader outside the ISR (ISR is 0 only) */
	assert_int_equal(change(s, 13, ID_A, 0, 0, 1, 1, 1, 1),
			 STORE_R_REFUSED);
	/* a good one: leader 1, epochs 1/1 */
	assert_int_equal(change(s, 14, ID_A, 0, 0, 1, 1, 1, 3), STORE_R_OK);
	/* leader epoch backwards */
	assert_int_equal(change(s, 15, ID_A, 0, 1, 1, 0, 2, 3),
			 STORE_R_REFUSED);
	/* a fenced leader */
	assert_int_equal(broker_rec(s, 16, FENCE, 2, 3, NULL), STORE_R_REFUSED);
	assert_int_equal(change(s, 17, ID_A, 2, 0, 0, 1, 1, 3), STORE_R_OK);
	assert_int_equal(broker_rec(s, 18, FENCE, 2, 3, NULL), STORE_R_OK);
	assert_int_equal(change(s, 19, ID_A, 0, 1, 2, 2, 2, 3),
			 STORE_R_REFUSED);
	/* offline is always allowed */
	assert_int_equal(change(s, 20, ID_A, 0, 1, -1, 2, 2, 3), STORE_R_OK);
	assert_int_equal(store_partition_get(s, t.tid, 0, &p), STORE_OK);
	assert_int_equal(p.leader, -1);
	assert_int_equal(p.leader_epoch, 2);
	assert_int_equal(p.partition_epoch, 2);
	store_close(s);
}

/* Invariant: a fenced, shutting-down, unregistered or re-registered
 * broker leads nothing: those records are refused while it leads. */
static void test_strict_departures(void **state)
{
	struct store *s;
	int leads = 0;
	(void)state;
	g_version = 2;
	assert_int_equal(store_open(&s), STORE_OK);
	four_brokers(s);
	assert_int_equal(create(s, 10, "orders", ID_A, 4), STORE_R_OK);
	/* Partition 1 is led by broker 1, partition 3 by broker 3. */
	assert_int_equal(store_broker_leads(s, 1, &leads), STORE_OK);
	assert_true(leads);
	assert_int_equal(broker_rec(s, 11, FENCE, 1, 2, NULL), STORE_R_REFUSED);
	assert_int_equal(broker_rec(s, 12, SHUTDOWN, 1, 2, NULL),
			 STORE_R_REFUSED);
	assert_int_equal(broker_rec(s, 13, UNREG, 1, 0, NULL), STORE_R_REFUSED);
	assert_int_equal(broker_rec(s, 14, REG, 1, 2, "new"), STORE_R_REFUSED);
	/* A stale epoch is still stale first. */
	assert_int_equal(broker_rec(s, 15, FENCE, 1, 99, NULL), STORE_R_STALE);
	/* Move partition 1 to broker 2 (its replicas are 0,1,2 in change()). */
	assert_int_equal(change(s, 16, ID_A, 1, 0, 2, 1, 1, 3), STORE_R_OK);
	assert_int_equal(store_broker_leads(s, 1, &leads), STORE_OK);
	assert_false(leads);
	assert_int_equal(broker_rec(s, 17, REG, 1, 2, "new"), STORE_R_OK);
	assert_int_equal(broker_rec(s, 18, SHUTDOWN, 1, 17, NULL), STORE_R_OK);
	assert_int_equal(broker_rec(s, 19, UNREG, 1, 0, NULL), STORE_R_OK);
	assert_int_equal(broker_rec(s, 20, UNREG, 1, 0, NULL),
			 STORE_R_NOT_FOUND);
	store_close(s);
}

/* Invariant (envelope 4): a broker joins an ISR only while registered,
 * unfenced and not shutting down, at creation or in a PartitionChange;
 * a member already in the ISR may stay. */
static void test_strict_isr_join(void **state)
{
	struct store *s;
	struct store_topic t;
	struct store_partition p;
	(void)state;
	g_version = 4;
	assert_int_equal(store_open(&s), STORE_OK);
	four_brokers(s);
	assert_int_equal(create(s, 10, "orders", ID_A, 1), STORE_R_OK);
	assert_int_equal(store_topic_get(s, "orders", &t), STORE_OK);
	/* change(): replicas 0,1,2, ISR the first n_isr of them. */
	assert_int_equal(change(s, 11, ID_A, 0, 0, 0, 0, 1, 1), STORE_R_OK);
	assert_int_equal(broker_rec(s, 12, FENCE, 2, 3, NULL), STORE_R_OK);
	/* Broker 2, fenced, may not join; broker 1 may. */
	assert_int_equal(change(s, 13, ID_A, 0, 1, 0, 0, 2, 3),
			 STORE_R_REFUSED);
	assert_int_equal(change(s, 14, ID_A, 0, 1, 0, 0, 2, 2), STORE_R_OK);
	/* Envelope 3 replays under its own rules: the join applies. */
	g_version = 3;
	assert_int_equal(change(s, 15, ID_A, 0, 2, 0, 0, 3, 3), STORE_R_OK);
	g_version = 4;
	/* Already a member: it may stay through a later change. */
	assert_int_equal(change(s, 16, ID_A, 0, 3, 1, 1, 4, 3), STORE_R_OK);
	assert_int_equal(store_partition_get(s, t.tid, 0, &p), STORE_OK);
	assert_int_equal(p.n_isr, 3);
	assert_int_equal(p.partition_epoch, 4);
	/* A new topic whose ISR holds fenced broker 2 (its leader 0 is
	 * fine), then one holding shutting-down broker 3. */
	assert_int_equal(create(s, 17, "b", ID_B, 1), STORE_R_REFUSED);
	assert_int_equal(broker_rec(s, 18, UNFENCE, 2, 3, NULL), STORE_R_OK);
	assert_int_equal(broker_rec(s, 19, SHUTDOWN, 3, 4, NULL), STORE_R_OK);
	assert_int_equal(create(s, 20, "b", ID_B, 2), STORE_R_REFUSED);
	assert_int_equal(create(s, 21, "b", ID_B, 1), STORE_R_OK);
	/* Unregistered: broker 3 gone, then a topic naming it. */
	assert_int_equal(broker_rec(s, 22, UNREG, 3, 0, NULL), STORE_R_OK);
	assert_int_equal(create(s, 23, "c", ID_C, 2), STORE_R_REFUSED);
	/* Envelope 3 replays a creation under its own rules too (its
	 * leaders 0 and 1 are usable). */
	g_version = 3;
	assert_int_equal(create(s, 24, "c", ID_C, 2), STORE_R_OK);
	g_version = 4;
	store_close(s);
}

struct keys {
	int n;
	int64_t tid[64];
	int32_t part[64];
};

static int key_part(void *arg, const struct store_topic *t,
		    const struct store_partition *p)
{
	struct keys *k = arg;
	k->tid[k->n] = t->tid;
	k->part[k->n++] = p->partition;
	return 0;
}

struct kept_find {
	const char *name;
	uint8_t id[16];
	int n, found;
	char last[64];
};

static int kept_find_cb(void *arg, const char *name, const uint8_t *id)
{
	struct kept_find *k = arg;
	assert_true(strcmp(k->last, name) < 0); /* in name order */
	snprintf(k->last, sizeof k->last, "%s", name);
	k->n++;
	if (strcmp(name, k->name) == 0) {
		memcpy(k->id, id, 16);
		k->found++;
	}
	return 0;
}

/* Whether request (cid, request) created a topic named `name` (1, and
 * then with the id `want`), others (0) or none kept (-1). */
static int created(struct store *s, const char *cid, uint32_t request,
		   const char *name, const uint8_t *want)
{
	struct kept_find k = {.name = name};
	assert_int_equal(store_client_request_topics(s, (const uint8_t *)cid,
						     request, kept_find_cb, &k),
			 STORE_OK);
	assert_true(k.found <= 1);
	if (k.found)
		assert_memory_equal(k.id, want, 16);
	return k.n == 0 ? -1 : k.found;
}

/* Invariant: a resent CREATE_TOPICS is answered OK only for the topics
 * its first attempt created. Group commit puts several requests in one
 * entry, so the entry index (each topic's created_index) cannot tell
 * them apart: apply keeps, per marked request, the ids of the topics it
 * created (envelope 5; docs/reliability.md 5.33). */
static void test_client_topics(void **state)
{
	const char *a = "client-aaaaaaaaa", *b = "client-bbbbbbbbb";
	Synod__Rec__ClientRequest ma = SYNOD__REC__CLIENT_REQUEST__INIT,
				  mb = SYNOD__REC__CLIENT_REQUEST__INIT;
	Synod__Rec__Record ra = SYNOD__REC__RECORD__INIT,
			   rb = SYNOD__REC__RECORD__INIT;
	Synod__Rec__Record *recs[4];
	struct store_client_request first;
	struct store *s;
	int st[4];
	(void)state;
	g_version = 5;
	assert_int_equal(store_open(&s), STORE_OK);
	four_brokers(s);
	ma.client_id.data = (uint8_t *)a;
	mb.client_id.data = (uint8_t *)b;
	ma.client_id.len = mb.client_id.len = 16;
	ma.request = 1;
	mb.request = 2;
	ma.records = mb.records = 1;
	ra.body_case = rb.body_case = SYNOD__REC__RECORD__BODY_CLIENT_REQUEST;
	ra.client_request = &ma;
	rb.client_request = &mb;
	/* One entry: A creates x, B creates y. */
	recs[0] = &ra;
	recs[1] = create_rec("x", ID_A, 4);
	recs[2] = &rb;
	recs[3] = create_rec("y", ID_B, 4);
	apply_all(s, 20, 1000, recs, 4, st);
	free_create(recs[1]);
	free_create(recs[3]);
	for (int i = 0; i < 4; i++)
		assert_int_equal(st[i], STORE_R_OK);
	/* Both topics have created_index 20; the kept ids tell which
	 * request created which. */
	assert_int_equal(
	    store_client_request_get(s, (const uint8_t *)a, 1, &first),
	    STORE_OK);
	assert_true(first.seen && first.outcome == STORE_R_OK);
	assert_int_equal(created(s, a, 1, "x", ID_A), 1);
	assert_int_equal(created(s, a, 1, "y", NULL), 0);
	assert_int_equal(created(s, b, 2, "y", ID_B), 1);
	assert_int_equal(created(s, b, 2, "x", NULL), 0);
	/* A request that kept no topic: unknown (-1). */
	assert_int_equal(created(s, a, 2, "y", NULL), -1);
	/* x deleted, then created again by another request: A still
	 * created x, with the first id (its first answer), found by the
	 * name kept with the deleted topic. */
	assert_int_equal(remove_topic(s, 21, ID_A), STORE_R_OK);
	assert_int_equal(created(s, a, 1, "x", ID_A), 1);
	assert_int_equal(create(s, 22, "x", ID_C, 1), STORE_R_OK);
	assert_int_equal(created(s, a, 1, "x", ID_A), 1);
	assert_int_equal(created(s, b, 2, "x", NULL), 0);
	g_version = 1;
	store_close(s);
}

/* Keyset pages visit every row once, in order, whatever the page size. */
static void test_pages(void **state)
{
	struct store *s;
	int32_t l = -1;
	int leaders = 0;
	(void)state;
	g_version = 1;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(create(s, 10, "a", ID_A, 9), STORE_R_OK);
	assert_int_equal(create(s, 11, "b", ID_B, 5), STORE_R_OK);
	for (unsigned limit = 1; limit <= 15; limit++) {
		struct keys all = {0}, b0 = {0}, l2 = {0};
		struct store_pkey k = {0, -1};
		unsigned n;
		do {
			assert_int_equal(store_partitions_page(s, &k, limit, &n,
							       key_part, &all),
					 STORE_OK);
		} while (n == limit);
		assert_int_equal(all.n, 14);
		for (int i = 1; i < all.n; i++)
			assert_true(all.tid[i - 1] < all.tid[i] ||
				    (all.tid[i - 1] == all.tid[i] &&
				     all.part[i - 1] < all.part[i]));
		k = (struct store_pkey){0, -1};
		do {
			assert_int_equal(
			    store_broker_partitions_page(s, 0, &k, limit, &n,
							 key_part, &b0),
			    STORE_OK);
		} while (n == limit);
		/* all but i%4 == 1 hold broker 0 */
		assert_int_equal(b0.n, 7 + 4);
		k = (struct store_pkey){0, -1};
		do {
			assert_int_equal(
			    store_leader_partitions_page(s, 2, &k, limit, &n,
							 key_part, &l2),
			    STORE_OK);
		} while (n == limit);
		assert_int_equal(l2.n, 2 + 1); /* a: 2, 6; b: 2 */
	}
	while (store_next_leader(s, l, &l) == STORE_OK)
		leaders++;
	assert_int_equal(leaders, 4);
	/* Every replica's broker once, in order (brokers 0-3 here). */
	for (int32_t b = INT32_MIN, want = 0;; want++) {
		if (store_next_replica_broker(s, b, &b) != STORE_OK) {
			assert_int_equal(want, 4);
			break;
		}
		assert_int_equal(b, want);
	}
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_and_lookup),
	    cmocka_unit_test(test_partition_change_epochs),
	    cmocka_unit_test(test_grow_and_remove),
	    cmocka_unit_test(test_snapshot_keeps_topics),
	    cmocka_unit_test(test_strict_create),
	    cmocka_unit_test(test_strict_change),
	    cmocka_unit_test(test_strict_departures),
	    cmocka_unit_test(test_strict_isr_join),
	    cmocka_unit_test(test_client_topics),
	    cmocka_unit_test(test_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
