/* Unit tests: the broker library's metadata view (net/view.c): the version
 * rules for pushes and fetch answers (apply, stale, gap), full images,
 * upserts, removed partitions, deleted topics, malformed deltas, and the
 * hash table under many partitions (checked against a plain array). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "synod/client.h"
#include "view.h"

/* ---- building deltas ---- */

struct delta {
	Synod__Wire__MetadataDelta d;
	size_t cap_t, cap_p, cap_r, cap_b;
};

static struct delta *delta_new(uint64_t prev, uint64_t version, int full)
{
	struct delta *x = calloc(1, sizeof *x);
	assert_non_null(x);
	synod__wire__metadata_delta__init(&x->d);
	x->d.prev_version = prev;
	x->d.version = version;
	if (full) {
		x->d.has_full = 1;
		x->d.full = 1;
	}
	return x;
}

static ProtobufCBinaryData mkid(uint32_t n)
{
	ProtobufCBinaryData b;
	b.data = calloc(1, VIEW_TOPIC_ID_LEN);
	assert_non_null(b.data);
	/* Low-entropy ids on purpose: the table must mix them. */
	memcpy(b.data, &n, sizeof n);
	b.len = VIEW_TOPIC_ID_LEN;
	return b;
}

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 8;
	p = realloc(p, *cap * size);
	assert_non_null(p);
	return p;
}

static void add_topic(struct delta *x, const char *name, uint32_t id,
		      uint32_t partitions, int deleted)
{
	Synod__Wire__TopicState *t = calloc(1, sizeof *t);
	assert_non_null(t);
	synod__wire__topic_state__init(t);
	t->name = strdup(name);
	t->topic_id = mkid(id);
	t->partitions = partitions;
	if (deleted) {
		t->has_deleted = 1;
		t->deleted = 1;
	}
	x->d.topics =
	    grow(x->d.topics, &x->cap_t, x->d.n_topics, sizeof *x->d.topics);
	x->d.topics[x->d.n_topics++] = t;
}

static Synod__Wire__PartitionState *mkpart(const char *topic, uint32_t id,
					   int32_t p, int32_t leader,
					   uint32_t le, uint32_t pe,
					   const int32_t *reps, size_t nr,
					   const int32_t *isr, size_t ni)
{
	Synod__Wire__PartitionState *s = calloc(1, sizeof *s);
	assert_non_null(s);
	synod__wire__partition_state__init(s);
	s->topic = strdup(topic);
	s->topic_id = mkid(id);
	s->partition = p;
	s->leader = leader;
	s->leader_epoch = le;
	s->partition_epoch = pe;
	s->n_replicas = nr;
	s->replicas = nr ? malloc(nr * sizeof *reps) : NULL;
	if (nr)
		memcpy(s->replicas, reps, nr * sizeof *reps);
	s->n_isr = ni;
	s->isr = ni ? malloc(ni * sizeof *isr) : NULL;
	if (ni)
		memcpy(s->isr, isr, ni * sizeof *isr);
	return s;
}

static void add_part(struct delta *x, const char *topic, uint32_t id, int32_t p,
		     int32_t leader, uint32_t le, uint32_t pe,
		     const int32_t *reps, size_t nr, const int32_t *isr,
		     size_t ni)
{
	x->d.partitions = grow(x->d.partitions, &x->cap_p, x->d.n_partitions,
			       sizeof *x->d.partitions);
	x->d.partitions[x->d.n_partitions++] =
	    mkpart(topic, id, p, leader, le, pe, reps, nr, isr, ni);
}

/* A partition with replicas {1,2,3} and ISR {1,2,3} led by 1. */
static void add_simple(struct delta *x, const char *topic, uint32_t id,
		       int32_t p, uint32_t epoch)
{
	static const int32_t r[] = {1, 2, 3};
	add_part(x, topic, id, p, 1, epoch, epoch, r, 3, r, 3);
}

static void add_removed(struct delta *x, const char *topic, uint32_t id,
			int32_t p)
{
	x->d.removed =
	    grow(x->d.removed, &x->cap_r, x->d.n_removed, sizeof *x->d.removed);
	x->d.removed[x->d.n_removed++] =
	    mkpart(topic, id, p, -1, 0, 0, NULL, 0, NULL, 0);
}

/* A broker with n_eps endpoints (host "h<id>", ports 9000 + i). */
static void add_broker(struct delta *x, int32_t id, uint64_t epoch,
		       const char *rack, unsigned n_eps, int fenced,
		       int removed)
{
	Synod__Wire__BrokerState *b = calloc(1, sizeof *b);
	char host[32];
	assert_non_null(b);
	synod__wire__broker_state__init(b);
	b->id = id;
	b->epoch = epoch;
	b->rack = rack ? strdup(rack) : NULL;
	b->fenced = fenced;
	if (removed) {
		b->has_removed = 1;
		b->removed = 1;
	}
	b->has_shutting_down = 1;
	b->shutting_down = 0;
	b->n_endpoints = n_eps;
	b->endpoints = n_eps ? calloc(n_eps, sizeof *b->endpoints) : NULL;
	snprintf(host, sizeof host, "h%d", id);
	for (unsigned i = 0; i < n_eps; i++) {
		Synod__Wire__Endpoint *e = calloc(1, sizeof *e);
		assert_non_null(e);
		synod__wire__endpoint__init(e);
		e->name = strdup(i == 0 ? "PLAINTEXT" : "INTERNAL");
		e->host = strdup(host);
		e->port = 9000 + i;
		e->security_protocol = strdup("PLAINTEXT");
		b->endpoints[i] = e;
	}
	x->d.brokers =
	    grow(x->d.brokers, &x->cap_b, x->d.n_brokers, sizeof *x->d.brokers);
	x->d.brokers[x->d.n_brokers++] = b;
}

static void free_broker(Synod__Wire__BrokerState *b)
{
	for (size_t i = 0; i < b->n_endpoints; i++) {
		if (b->endpoints[i] == NULL)
			continue;
		free(b->endpoints[i]->name);
		free(b->endpoints[i]->host);
		free(b->endpoints[i]->security_protocol);
		free(b->endpoints[i]);
	}
	free(b->endpoints);
	free(b->rack);
	free(b);
}

static void free_part(Synod__Wire__PartitionState *s)
{
	free(s->topic);
	free(s->topic_id.data);
	free(s->replicas);
	free(s->isr);
	free(s);
}

static void delta_free(struct delta *x)
{
	for (size_t i = 0; i < x->d.n_topics; i++) {
		free(x->d.topics[i]->name);
		free(x->d.topics[i]->topic_id.data);
		free(x->d.topics[i]);
	}
	for (size_t i = 0; i < x->d.n_partitions; i++)
		free_part(x->d.partitions[i]);
	for (size_t i = 0; i < x->d.n_removed; i++)
		free_part(x->d.removed[i]);
	for (size_t i = 0; i < x->d.n_brokers; i++)
		free_broker(x->d.brokers[i]);
	free(x->d.brokers);
	free(x->d.topics);
	free(x->d.partitions);
	free(x->d.removed);
	free(x);
}

/* Through the wire format, as the library gets it; then check + apply.
 * Returns the verdict of view_check; applies on VIEW_APPLY. */
static int offer(struct view *v, struct delta *x)
{
	size_t len = synod__wire__metadata_delta__get_packed_size(&x->d);
	uint8_t *buf = malloc(len ? len : 1);
	Synod__Wire__MetadataDelta *d;
	int verdict;
	assert_non_null(buf);
	synod__wire__metadata_delta__pack(&x->d, buf);
	d = synod__wire__metadata_delta__unpack(NULL, len, buf);
	assert_non_null(d);
	verdict = view_check(v, d);
	if (verdict == VIEW_APPLY)
		assert_int_equal(view_apply(v, d), SYNOD_OK);
	synod__wire__metadata_delta__free_unpacked(d, NULL);
	free(buf);
	delta_free(x);
	return verdict;
}

static int has(const struct view *v, uint32_t id, int32_t p,
	       Synod__Wire__PartitionState *out)
{
	ProtobufCBinaryData b = mkid(id);
	Synod__Wire__PartitionState tmp;
	int rv = view_find_partition(v, b.data, p, out ? out : &tmp);
	free(b.data);
	return rv == SYNOD_OK;
}

static int topic(const struct view *v, uint32_t id,
		 Synod__Wire__TopicState *out)
{
	ProtobufCBinaryData b = mkid(id);
	Synod__Wire__TopicState tmp;
	int rv = view_find_topic(v, b.data, out ? out : &tmp);
	free(b.data);
	return rv == SYNOD_OK;
}

static int count_cb(void *arg, const Synod__Wire__PartitionState *p)
{
	(*(size_t *)arg)++;
	return 0;
}

static size_t walk_count(const struct view *v)
{
	size_t n = 0;
	assert_int_equal(view_foreach_partition(v, count_cb, &n), 0);
	return n;
}

/* ---- tests ---- */

static void test_full_image(void **state)
{
	struct view v;
	struct delta *x = delta_new(0, 10, 1);
	Synod__Wire__PartitionState p;
	Synod__Wire__TopicState t;
	static const int32_t reps[] = {4, 5, 6}, isr[] = {5, 4};
	(void)state;
	view_init(&v);
	add_topic(x, "alpha", 1, 3, 0);
	add_topic(x, "beta", 2, 2, 0);
	add_topic(x, "gamma", 3, 8, 0); /* none of its partitions here */
	add_simple(x, "alpha", 1, 0, 1);
	add_part(x, "alpha", 1, 2, 5, 7, 9, reps, 3, isr, 2);
	add_simple(x, "beta", 2, 1, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(v.version, 10);
	assert_int_equal(view_topic_count(&v), 3);
	assert_int_equal(view_partition_count(&v), 3);
	assert_int_equal(walk_count(&v), 3);
	assert_true(has(&v, 1, 2, &p));
	assert_string_equal(p.topic, "alpha");
	assert_int_equal(p.partition, 2);
	assert_int_equal(p.leader, 5);
	assert_int_equal(p.leader_epoch, 7);
	assert_int_equal(p.partition_epoch, 9);
	assert_int_equal(p.n_replicas, 3);
	assert_memory_equal(p.replicas, reps, sizeof reps);
	assert_int_equal(p.n_isr, 2);
	assert_memory_equal(p.isr, isr, sizeof isr);
	assert_int_equal(p.topic_id.len, 16);
	assert_false(has(&v, 1, 1, NULL));
	assert_false(has(&v, 3, 0, NULL));
	assert_true(topic(&v, 3, &t));
	assert_string_equal(t.name, "gamma");
	assert_int_equal(t.partitions, 8);
	assert_false(t.has_deleted);
	view_free(&v);
	assert_int_equal(v.version, 0);
	assert_int_equal(view_topic_count(&v), 0);
}

/* Fetch answers: later pages continue the first; a restored full image
 * answering a fetch since a version we hold starts over even when older;
 * the rest as view_check. */
static void test_fetch_rules(void **state)
{
	struct view v;
	struct delta *x = delta_new(0, 20, 1), *r;
	(void)state;
	view_init(&v);
	v.version = 30;
	assert_int_equal(view_check_fetch(&v, &x->d, 0, 30), VIEW_STALE);
	assert_int_equal(view_check_fetch(&v, &x->d, 1, 30), VIEW_APPLY);
	r = delta_new(0, 20, 1);
	r->d.has_restored = r->d.restored = 1;
	assert_int_equal(view_check_fetch(&v, &r->d, 0, 30), VIEW_APPLY);
	/* Not for a first fetch (since 0): no version of ours to lose. */
	assert_int_equal(view_check_fetch(&v, &r->d, 0, 0), VIEW_STALE);
	delta_free(r);
	delta_free(x);
	x = delta_new(30, 31, 0);
	assert_int_equal(view_check_fetch(&v, &x->d, 0, 30), VIEW_APPLY);
	delta_free(x);
	x = delta_new(33, 34, 0);
	assert_int_equal(view_check_fetch(&v, &x->d, 0, 30), VIEW_GAP);
	delta_free(x);
}

static void test_version_rules(void **state)
{
	struct view v;
	struct delta *x;
	(void)state;
	view_init(&v);
	/* An empty view takes only a full image: a delta from 0 is what a
	 * new session pushes first, and lacks what came before. */
	x = delta_new(0, 9, 0);
	add_simple(x, "a", 1, 0, 1);
	assert_int_equal(offer(&v, x), VIEW_GAP);
	assert_int_equal(v.version, 0);
	x = delta_new(0, 10, 1);
	add_simple(x, "a", 1, 0, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(v.version, 10);
	/* Later too: a delta from 0 is a gap. */
	assert_int_equal(offer(&v, delta_new(0, 12, 0)), VIEW_GAP);
	/* Already have it: the same push again, or an older one. */
	assert_int_equal(offer(&v, delta_new(8, 10, 0)), VIEW_STALE);
	assert_int_equal(offer(&v, delta_new(5, 9, 0)), VIEW_STALE);
	/* Missing changes: prev above ours, or below with version above. */
	assert_int_equal(offer(&v, delta_new(11, 13, 0)), VIEW_GAP);
	assert_int_equal(offer(&v, delta_new(8, 12, 0)), VIEW_GAP);
	assert_int_equal(v.version, 10);
	/* The chain continues; versions we are not concerned with are
	 * skipped by the controller without looking like gaps. */
	assert_int_equal(offer(&v, delta_new(10, 17, 0)), VIEW_APPLY);
	assert_int_equal(v.version, 17);
	/* A fetch that found nothing new: same version, no change. */
	assert_int_equal(offer(&v, delta_new(17, 17, 0)), VIEW_APPLY);
	assert_int_equal(v.version, 17);
	/* Full images: only newer ones replace the view. */
	assert_int_equal(offer(&v, delta_new(0, 16, 1)), VIEW_STALE);
	assert_int_equal(offer(&v, delta_new(0, 17, 1)), VIEW_STALE);
	assert_int_equal(view_partition_count(&v), 1);
	assert_int_equal(offer(&v, delta_new(0, 18, 1)), VIEW_APPLY);
	assert_int_equal(v.version, 18);
	assert_int_equal(view_partition_count(&v), 0);
	assert_int_equal(view_topic_count(&v), 0);
	view_free(&v);
}

static void test_upsert_and_removed(void **state)
{
	struct view v;
	struct delta *x = delta_new(0, 5, 1);
	Synod__Wire__PartitionState p;
	Synod__Wire__TopicState t;
	static const int32_t r[] = {1, 2, 3}, shrunk[] = {1, 3};
	(void)state;
	view_init(&v);
	add_topic(x, "t", 7, 4, 0);
	for (int i = 0; i < 4; i++)
		add_simple(x, "t", 7, i, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(view_partition_count(&v), 4);
	/* An ISR shrink, a reassignment away, one that was not there. */
	x = delta_new(5, 6, 0);
	add_part(x, "t", 7, 1, 1, 1, 2, r, 3, shrunk, 2);
	add_removed(x, "t", 7, 3);
	add_removed(x, "t", 7, 9);
	add_removed(x, "nope", 99, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(v.version, 6);
	assert_int_equal(view_partition_count(&v), 3);
	assert_false(has(&v, 7, 3, NULL));
	assert_true(has(&v, 7, 1, &p));
	assert_int_equal(p.partition_epoch, 2);
	assert_int_equal(p.n_isr, 2);
	assert_memory_equal(p.isr, shrunk, sizeof shrunk);
	/* The topic stays: it still exists in the cluster. */
	assert_true(topic(&v, 7, &t));
	assert_int_equal(t.partitions, 4);
	/* Grown topic: count changes, new partition comes back. */
	x = delta_new(6, 9, 0);
	add_topic(x, "t", 7, 6, 0);
	add_simple(x, "t", 7, 5, 1);
	add_simple(x, "t", 7, 3, 4);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(topic(&v, 7, &t));
	assert_int_equal(t.partitions, 6);
	assert_int_equal(view_partition_count(&v), 5);
	assert_true(has(&v, 7, 3, &p));
	assert_int_equal(p.leader_epoch, 4);
	view_free(&v);
}

static void test_topic_deletion(void **state)
{
	struct view v;
	struct delta *x = delta_new(0, 20, 1);
	Synod__Wire__TopicState t;
	(void)state;
	view_init(&v);
	add_topic(x, "doomed", 1, 50, 0);
	add_topic(x, "kept", 2, 50, 0);
	for (int i = 0; i < 50; i += 2) {
		add_simple(x, "doomed", 1, i, 1);
		add_simple(x, "kept", 2, i, 1);
	}
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(view_partition_count(&v), 50);
	/* Deleted in a delta that also (stale-ly) upserts one of its
	 * partitions: the deletion wins. */
	x = delta_new(20, 21, 0);
	add_simple(x, "doomed", 1, 3, 2);
	add_topic(x, "doomed", 1, 50, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_false(topic(&v, 1, NULL));
	assert_int_equal(view_topic_count(&v), 1);
	assert_int_equal(view_partition_count(&v), 25);
	assert_int_equal(walk_count(&v), 25);
	for (int i = 0; i < 50; i++)
		assert_false(has(&v, 1, i, NULL));
	assert_true(has(&v, 2, 48, NULL));
	/* Deleting an unknown topic changes nothing. */
	x = delta_new(21, 22, 0);
	add_topic(x, "ghost", 77, 1, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(view_topic_count(&v), 1);
	/* Recreated under the same name with a new id. */
	x = delta_new(22, 23, 0);
	add_topic(x, "doomed", 3, 2, 0);
	add_simple(x, "doomed", 3, 0, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(topic(&v, 3, &t));
	assert_string_equal(t.name, "doomed");
	assert_int_equal(view_topic_count(&v), 2);
	assert_int_equal(view_partition_count(&v), 26);
	/* Removing a topic's last partition keeps the topic. */
	x = delta_new(23, 24, 0);
	add_removed(x, "doomed", 3, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(topic(&v, 3, NULL));
	assert_int_equal(view_partition_count(&v), 25);
	view_free(&v);
}

/* A partition of a topic the view has not seen creates it. */
static void test_implied_topic(void **state)
{
	struct view v;
	struct delta *x = delta_new(0, 3, 1);
	Synod__Wire__TopicState t;
	(void)state;
	view_init(&v);
	add_simple(x, "implied", 4, 6, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(topic(&v, 4, &t));
	assert_string_equal(t.name, "implied");
	assert_int_equal(t.partitions, 7);
	x = delta_new(3, 4, 0);
	add_topic(x, "implied", 4, 12, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(topic(&v, 4, &t));
	assert_int_equal(t.partitions, 12);
	view_free(&v);
}

/* Replica and ISR lists longer than what fits inline. */
static void test_long_lists(void **state)
{
	struct view v;
	struct delta *x = delta_new(0, 1, 1);
	Synod__Wire__PartitionState p;
	int32_t reps[9], isr[7];
	(void)state;
	for (int i = 0; i < 9; i++)
		reps[i] = 100 + i;
	for (int i = 0; i < 7; i++)
		isr[i] = 108 - i;
	view_init(&v);
	add_part(x, "wide", 1, 0, 100, 1, 1, reps, 9, isr, 7);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(has(&v, 1, 0, &p));
	assert_int_equal(p.n_replicas, 9);
	assert_memory_equal(p.replicas, reps, sizeof reps);
	assert_int_equal(p.n_isr, 7);
	assert_memory_equal(p.isr, isr, sizeof isr);
	/* Long to short (inline) and back, then gone. */
	x = delta_new(1, 2, 0);
	add_part(x, "wide", 1, 0, 100, 1, 2, reps, 2, isr, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(has(&v, 1, 0, &p));
	assert_int_equal(p.n_replicas, 2);
	assert_int_equal(p.replicas[1], 101);
	assert_int_equal(p.n_isr, 1);
	assert_int_equal(p.isr[0], 108);
	x = delta_new(2, 3, 0);
	add_part(x, "wide", 1, 0, 100, 1, 3, reps, 9, isr, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(has(&v, 1, 0, &p));
	assert_int_equal(p.n_replicas, 9);
	assert_int_equal(p.n_isr, 0);
	assert_memory_equal(p.replicas, reps, sizeof reps);
	/* A second long one, then a full image without them (frees). */
	x = delta_new(3, 4, 0);
	add_part(x, "wide", 1, 1, 100, 1, 1, reps, 9, isr, 7);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	x = delta_new(3, 5, 1);
	add_simple(x, "narrow", 2, 0, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_false(has(&v, 1, 0, NULL));
	assert_int_equal(view_partition_count(&v), 1);
	assert_int_equal(view_topic_count(&v), 1);
	view_free(&v);
}

static void test_malformed(void **state)
{
	struct view v;
	struct delta *x = delta_new(0, 4, 1);
	Synod__Wire__MetadataDelta *d;
	(void)state;
	view_init(&v);
	add_simple(x, "a", 1, 0, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	/* Topic id of 15 bytes. */
	x = delta_new(4, 5, 0);
	add_simple(x, "a", 1, 1, 1);
	x->d.partitions[0]->topic_id.len = 15;
	assert_int_equal(view_validate(&x->d), SYNOD_EINVALID_REQUEST);
	assert_int_equal(view_apply(&v, &x->d), SYNOD_EINVALID_REQUEST);
	delta_free(x);
	/* Negative partition, in removed. */
	x = delta_new(4, 5, 0);
	add_simple(x, "a", 1, 1, 1);
	add_removed(x, "a", 1, -1);
	assert_int_equal(view_apply(&v, &x->d), SYNOD_EINVALID_REQUEST);
	delta_free(x);
	/* A topic without a 16-byte id. */
	x = delta_new(4, 5, 0);
	add_topic(x, "b", 2, 1, 0);
	x->d.topics[0]->topic_id.len = 0;
	assert_int_equal(view_apply(&v, &x->d), SYNOD_EINVALID_REQUEST);
	delta_free(x);
	/* Going backwards. */
	x = delta_new(4, 3, 0);
	assert_int_equal(view_apply(&v, &x->d), SYNOD_EINVALID_REQUEST);
	delta_free(x);
	/* Nothing changed. */
	assert_int_equal(v.version, 4);
	assert_int_equal(view_partition_count(&v), 1);
	assert_false(has(&v, 1, 1, NULL));
	/* Garbage does not decode. */
	d = synod__wire__metadata_delta__unpack(
	    NULL, 3, (const uint8_t *)"\xff\xff\xff");
	assert_null(d);
	view_free(&v);
}

static int stop_cb(void *arg, const Synod__Wire__PartitionState *p)
{
	return ++*(int *)arg == 3 ? 42 : 0;
}

static int topic_cb(void *arg, const Synod__Wire__TopicState *t)
{
	(*(int *)arg)++;
	assert_false(t->has_deleted);
	return 0;
}

static void test_walks(void **state)
{
	struct view v;
	struct delta *x = delta_new(0, 1, 1);
	int n = 0;
	(void)state;
	view_init(&v);
	for (int i = 0; i < 10; i++)
		add_simple(x, "w", 1, i, 1);
	add_topic(x, "other", 2, 1, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(view_foreach_partition(&v, stop_cb, &n), 42);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(view_foreach_topic(&v, topic_cb, &n), 0);
	assert_int_equal(n, 2);
	view_free(&v);
	/* An empty view walks nothing. */
	n = 0;
	assert_int_equal(view_foreach_partition(&v, stop_cb, &n), 0);
	assert_int_equal(n, 0);
	assert_false(has(&v, 1, 0, NULL));
}

/* Many partitions in many topics, against a reference array: growth,
 * removals (backward shifts), topic deletions by probing and by scan,
 * shrinking. */
#define NT 40
#define NP 1500

static int32_t ref[NT][NP]; /* leader, or -2: absent */

static void check_all(const struct view *v)
{
	size_t n = 0;
	for (int t = 0; t < NT; t++)
		for (int p = 0; p < NP; p++) {
			Synod__Wire__PartitionState s;
			int h = has(v, (uint32_t)t + 1, p, &s);
			if (ref[t][p] == -2) {
				assert_false(h);
				continue;
			}
			assert_true(h);
			assert_int_equal(s.leader, ref[t][p]);
			assert_int_equal(s.partition, p);
			n++;
		}
	assert_int_equal(view_partition_count(v), n);
	assert_int_equal(walk_count(v), n);
}

static void test_many(void **state)
{
	struct view v;
	uint64_t ver = 0;
	unsigned seed = 12345;
	struct delta *x;
	char name[16];
	static const int32_t r[] = {1, 2, 3};
	(void)state;
	view_init(&v);
	for (int t = 0; t < NT; t++)
		for (int p = 0; p < NP; p++)
			ref[t][p] = -2;
	/* Fill in batches. */
	for (int t = 0; t < NT; t++) {
		x = delta_new(ver, ver + 1, t == 0);
		ver++;
		snprintf(name, sizeof name, "topic-%02d", t);
		add_topic(x, name, (uint32_t)t + 1, NP, 0);
		for (int p = 0; p < NP; p++) {
			int32_t leader = (t * 7 + p) % 5;
			add_part(x, name, (uint32_t)t + 1, p, leader, 1, 1, r,
				 3, r, 3);
			ref[t][p] = leader;
		}
		assert_int_equal(offer(&v, x), VIEW_APPLY);
	}
	check_all(&v);
	/* Random removals and updates. */
	for (int round = 0; round < 20; round++) {
		x = delta_new(ver, ver + 1, 0);
		ver++;
		for (int k = 0; k < 2000; k++) {
			int t = (int)(rand_r(&seed) % NT);
			int p = (int)(rand_r(&seed) % NP);
			snprintf(name, sizeof name, "topic-%02d", t);
			if (rand_r(&seed) % 3 == 0)
				add_removed(x, name, (uint32_t)t + 1, p);
			else
				add_part(x, name, (uint32_t)t + 1, p,
					 (int32_t)(rand_r(&seed) % 9), 2, 2, r,
					 3, r, 3);
		}
		/* The reference in the view's order: every upsert, then
		 * every removal. */
		for (size_t i = 0; i < x->d.n_partitions; i++) {
			const Synod__Wire__PartitionState *s =
			    x->d.partitions[i];
			uint32_t id;
			memcpy(&id, s->topic_id.data, sizeof id);
			ref[id - 1][s->partition] = s->leader;
		}
		for (size_t i = 0; i < x->d.n_removed; i++) {
			const Synod__Wire__PartitionState *s = x->d.removed[i];
			uint32_t id;
			memcpy(&id, s->topic_id.data, sizeof id);
			ref[id - 1][s->partition] = -2;
		}
		assert_int_equal(offer(&v, x), VIEW_APPLY);
	}
	check_all(&v);
	/* Delete most topics (probing path). */
	x = delta_new(ver, ver + 1, 0);
	ver++;
	for (int t = 0; t < NT - 2; t++) {
		snprintf(name, sizeof name, "topic-%02d", t);
		add_topic(x, name, (uint32_t)t + 1, NP, 1);
		for (int p = 0; p < NP; p++)
			ref[t][p] = -2;
	}
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	check_all(&v);
	assert_int_equal(view_topic_count(&v), 2);
	/* The table shrank with the view. */
	assert_true(v.parts_cap <= 4 * 2 * NP * 2);
	/* A topic whose partition numbers exceed the table size: deleted
	 * by scanning the table. */
	x = delta_new(ver, ver + 1, 0);
	ver++;
	add_simple(x, "sparse", 1000, 1000000, 1);
	add_simple(x, "sparse", 1000, 5, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(has(&v, 1000, 1000000, NULL));
	x = delta_new(ver, ver + 1, 0);
	ver++;
	add_topic(x, "sparse", 1000, 0, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_false(has(&v, 1000, 1000000, NULL));
	assert_false(has(&v, 1000, 5, NULL));
	check_all(&v);
	/* Re-adding topics reuses freed topic slots. */
	x = delta_new(ver, ver + 1, 0);
	ver++;
	add_topic(x, "topic-00", 1, NP, 0);
	add_simple(x, "topic-00", 1, 17, 3);
	ref[0][17] = 1;
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_true(v.topics_len <= NT + 1);
	check_all(&v);
	view_free(&v);
}

/* ---- brokers ---- */

struct bwalk {
	int32_t ids[16];
	size_t n;
};

static int broker_cb(void *arg, const Synod__Wire__BrokerState *b)
{
	struct bwalk *w = arg;
	assert_true(w->n < 16);
	assert_true(b->has_shutting_down);
	assert_false(b->has_removed);
	w->ids[w->n++] = b->id;
	return 0;
}

/* The ids in the view, in walk order, as "1,2,3". */
static const char *broker_ids(const struct view *v)
{
	static char buf[128];
	struct bwalk w = {{0}, 0};
	size_t off = 0;
	assert_int_equal(view_foreach_broker(v, broker_cb, &w), 0);
	assert_int_equal(w.n, view_broker_count(v));
	buf[0] = '\0';
	for (size_t i = 0; i < w.n; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%d",
					i ? "," : "", w.ids[i]);
	return buf;
}

static int stop_broker_cb(void *arg, const Synod__Wire__BrokerState *b)
{
	(void)b;
	return ++*(int *)arg == 2 ? 7 : 0;
}

static void test_brokers(void **state)
{
	struct view v;
	struct delta *x;
	Synod__Wire__BrokerState b;
	int calls = 0;
	(void)state;
	view_init(&v);
	assert_int_equal(view_broker_count(&v), 0);
	assert_int_equal(view_find_broker(&v, 1, &b), SYNOD_ENOT_FOUND);

	/* A full image with every broker (listed out of order). */
	x = delta_new(0, 10, 1);
	x->d.has_all_brokers = 1;
	x->d.all_brokers = 1;
	add_broker(x, 3, 7, "rack-c", 2, 0, 0);
	add_broker(x, 1, 5, "rack-a", 1, 0, 0);
	add_broker(x, 2, 6, NULL, 0, 1, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(view_broker_count(&v), 3);
	assert_string_equal(broker_ids(&v), "1,2,3");
	assert_int_equal(view_find_broker(&v, 3, &b), SYNOD_OK);
	assert_int_equal(b.id, 3);
	assert_int_equal(b.epoch, 7);
	assert_string_equal(b.rack, "rack-c");
	assert_false(b.fenced);
	assert_true(b.has_shutting_down);
	assert_false(b.shutting_down);
	assert_int_equal(b.n_endpoints, 2);
	assert_string_equal(b.endpoints[0]->name, "PLAINTEXT");
	assert_string_equal(b.endpoints[0]->host, "h3");
	assert_int_equal(b.endpoints[0]->port, 9000);
	assert_string_equal(b.endpoints[0]->security_protocol, "PLAINTEXT");
	assert_string_equal(b.endpoints[1]->name, "INTERNAL");
	assert_int_equal(b.endpoints[1]->port, 9001);
	assert_int_equal(view_find_broker(&v, 2, &b), SYNOD_OK);
	assert_null(b.rack);
	assert_true(b.fenced);
	assert_int_equal(b.n_endpoints, 0);
	assert_int_equal(view_find_broker(&v, 4, &b), SYNOD_ENOT_FOUND);
	assert_int_equal(view_find_broker(&v, -1, &b), SYNOD_ENOT_FOUND);

	/* A push: 2 unfenced and shutting down, 4 registers, 1 leaves. */
	x = delta_new(10, 11, 0);
	add_broker(x, 2, 6, "rack-b", 1, 0, 0);
	x->d.brokers[0]->shutting_down = 1;
	add_broker(x, 4, 11, NULL, 1, 1, 0);
	add_broker(x, 1, 0, NULL, 0, 1, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_string_equal(broker_ids(&v), "2,3,4");
	assert_int_equal(view_find_broker(&v, 2, &b), SYNOD_OK);
	assert_string_equal(b.rack, "rack-b");
	assert_false(b.fenced);
	assert_true(b.shutting_down);
	assert_int_equal(b.n_endpoints, 1);
	assert_int_equal(view_find_broker(&v, 1, &b), SYNOD_ENOT_FOUND);
	/* Removing an unknown broker is nothing; a re-registration
	 * replaces the state (new epoch, fewer endpoints). */
	x = delta_new(11, 12, 0);
	add_broker(x, 9, 0, NULL, 0, 1, 1);
	add_broker(x, 3, 12, NULL, 1, 1, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_string_equal(broker_ids(&v), "2,3,4");
	assert_int_equal(view_find_broker(&v, 3, &b), SYNOD_OK);
	assert_int_equal(b.epoch, 12);
	assert_null(b.rack);
	assert_int_equal(b.n_endpoints, 1);
	/* Twice in one delta: the last wins. */
	x = delta_new(12, 13, 0);
	add_broker(x, 5, 13, NULL, 0, 1, 0);
	add_broker(x, 5, 13, NULL, 0, 0, 0);
	add_broker(x, 4, 0, NULL, 0, 1, 1);
	add_broker(x, 4, 13, NULL, 0, 0, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_string_equal(broker_ids(&v), "2,3,4,5");
	assert_int_equal(view_find_broker(&v, 5, &b), SYNOD_OK);
	assert_false(b.fenced);
	/* Deltas without brokers leave them alone. */
	x = delta_new(13, 14, 0);
	add_topic(x, "t", 1, 1, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_string_equal(broker_ids(&v), "2,3,4,5");
	/* A walk stops on a non-zero return. */
	assert_int_equal(view_foreach_broker(&v, stop_broker_cb, &calls), 7);
	assert_int_equal(calls, 2);

	/* all_brokers (a fetch since 14): exactly those listed; a listing
	 * marked removed is left out, a repeated id keeps the last. */
	x = delta_new(14, 15, 0);
	x->d.has_all_brokers = 1;
	x->d.all_brokers = 1;
	add_broker(x, 6, 15, NULL, 0, 0, 0);
	add_broker(x, 3, 1, NULL, 0, 1, 0);
	add_broker(x, 3, 12, "r", 1, 0, 0);
	add_broker(x, 2, 0, NULL, 0, 1, 1);
	add_broker(x, 4, 13, NULL, 0, 0, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_string_equal(broker_ids(&v), "3,4,6");
	assert_int_equal(view_find_broker(&v, 3, &b), SYNOD_OK);
	assert_int_equal(b.epoch, 12);
	assert_string_equal(b.rack, "r");
	assert_int_equal(view_topic_count(&v), 1);
	/* all_brokers with none: no brokers. */
	x = delta_new(15, 16, 0);
	x->d.has_all_brokers = 1;
	x->d.all_brokers = 1;
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(view_broker_count(&v), 0);
	assert_int_equal(view_topic_count(&v), 1);

	/* A full image replaces the brokers too, even without any. */
	x = delta_new(16, 17, 0);
	add_broker(x, 8, 17, NULL, 1, 0, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(view_broker_count(&v), 1);
	x = delta_new(0, 20, 1);
	add_simple(x, "t", 1, 0, 1);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	assert_int_equal(view_broker_count(&v), 0);
	assert_int_equal(view_partition_count(&v), 1);
	/* Freed with the view. */
	x = delta_new(20, 21, 0);
	add_broker(x, 8, 21, "rack", 3, 0, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	view_free(&v);
	assert_int_equal(view_broker_count(&v), 0);
}

static void test_brokers_malformed(void **state)
{
	struct view v;
	struct delta *x;
	(void)state;
	view_init(&v);
	x = delta_new(0, 4, 1);
	add_broker(x, 1, 4, NULL, 1, 0, 0);
	assert_int_equal(offer(&v, x), VIEW_APPLY);
	/* A negative id. */
	x = delta_new(4, 5, 0);
	add_broker(x, -1, 5, NULL, 0, 0, 0);
	assert_int_equal(view_validate(&x->d), SYNOD_EINVALID_REQUEST);
	assert_int_equal(view_apply(&v, &x->d), SYNOD_EINVALID_REQUEST);
	delta_free(x);
	/* An endpoint without a host, or without a security protocol. */
	x = delta_new(4, 5, 0);
	add_broker(x, 2, 5, NULL, 2, 0, 0);
	free(x->d.brokers[0]->endpoints[1]->host);
	x->d.brokers[0]->endpoints[1]->host = NULL;
	assert_int_equal(view_apply(&v, &x->d), SYNOD_EINVALID_REQUEST);
	delta_free(x);
	x = delta_new(4, 5, 0);
	add_broker(x, 2, 5, NULL, 1, 0, 0);
	free(x->d.brokers[0]->endpoints[0]->security_protocol);
	x->d.brokers[0]->endpoints[0]->security_protocol = NULL;
	assert_int_equal(view_apply(&v, &x->d), SYNOD_EINVALID_REQUEST);
	delta_free(x);
	/* Too many endpoints. */
	x = delta_new(4, 5, 0);
	add_broker(x, 2, 5, NULL, VIEW_MAX_ENDPOINTS + 1, 0, 0);
	assert_int_equal(view_apply(&v, &x->d), SYNOD_EINVALID_REQUEST);
	delta_free(x);
	/* Too many brokers (the count alone is checked first). */
	x = delta_new(4, 5, 0);
	add_broker(x, 2, 5, NULL, 0, 0, 0);
	x->d.n_brokers = VIEW_MAX_BROKERS + 1;
	assert_int_equal(view_validate(&x->d), SYNOD_EINVALID_REQUEST);
	x->d.n_brokers = 1;
	delta_free(x);
	/* Nothing changed. */
	assert_int_equal(v.version, 4);
	assert_string_equal(broker_ids(&v), "1");
	view_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_image),
	    cmocka_unit_test(test_version_rules),
	    cmocka_unit_test(test_fetch_rules),
	    cmocka_unit_test(test_upsert_and_removed),
	    cmocka_unit_test(test_topic_deletion),
	    cmocka_unit_test(test_implied_topic),
	    cmocka_unit_test(test_long_lists),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_walks),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_brokers),
	    cmocka_unit_test(test_brokers_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
