/* Unit tests: a broker's leadership transitions (net/transitions.c):
 * became leader, became follower, removed (partition moved away, topic
 * deleted), a new leader epoch without a role change, ISR-only changes
 * that are not transitions, duplicates in one delta, and a full image
 * compared with the view it replaces. Broker under test: id 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "synod/client.h"
#include "transitions.h"
#include "view.h"

#define ME 1

static uint8_t tid_a[16] = {1}, tid_b[16] = {2};

struct pstate {
	Synod__Wire__PartitionState p;
	int32_t ids[6];
};

/* A partition of topic a ("a") or b ("b") with replicas {1,2,3}
 * (or {2,3,4} when mine is 0), ISR = replicas. */
static void mk(struct pstate *s, int topic_b, int32_t part, int32_t leader,
	       uint32_t le, uint32_t pe, int mine)
{
	synod__wire__partition_state__init(&s->p);
	s->p.topic = topic_b ? "b" : "a";
	s->p.topic_id.data = topic_b ? tid_b : tid_a;
	s->p.topic_id.len = 16;
	s->p.partition = part;
	s->p.leader = leader;
	s->p.leader_epoch = le;
	s->p.partition_epoch = pe;
	for (int i = 0; i < 3; i++)
		s->ids[i] = s->ids[3 + i] = mine ? 1 + i : 2 + i;
	s->p.replicas = s->ids;
	s->p.n_replicas = 3;
	s->p.isr = s->ids + 3;
	s->p.n_isr = 3;
}

static void topic(Synod__Wire__TopicState *t, int topic_b, uint32_t n,
		  int deleted)
{
	synod__wire__topic_state__init(t);
	t->name = topic_b ? "b" : "a";
	t->topic_id.data = topic_b ? tid_b : tid_a;
	t->topic_id.len = 16;
	t->partitions = n;
	if (deleted) {
		t->has_deleted = 1;
		t->deleted = 1;
	}
}

static struct view g_old;

static void done(struct view *v, struct trans_set *ts)
{
	trans_free(ts);
	view_free(v);
	view_free(&g_old);
}

/* Apply a delta of parts (upserts), removed and topics, collecting the
 * transitions as the broker library does. */
static void step(struct view *v, struct trans_set *ts, uint64_t prev,
		 uint64_t version, int full, Synod__Wire__PartitionState **up,
		 size_t n_up, Synod__Wire__PartitionState **rm, size_t n_rm,
		 Synod__Wire__TopicState **tp, size_t n_tp)
{
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	d.prev_version = prev;
	d.version = version;
	d.has_full = full;
	d.full = full;
	d.partitions = up;
	d.n_partitions = n_up;
	d.removed = rm;
	d.n_removed = n_rm;
	d.topics = tp;
	d.n_topics = n_tp;
	trans_init(ts, ME);
	if (full) {
		struct view nv, old = *v;
		view_init(&nv);
		assert_int_equal(view_apply(&nv, &d), SYNOD_OK);
		assert_int_equal(trans_before_view(ts, &old), SYNOD_OK);
		assert_int_equal(trans_add_new(ts, &old, &nv), SYNOD_OK);
		assert_int_equal(trans_after(ts, &nv), SYNOD_OK);
		/* The old view backs the transitions (topic ids, names) as
		 * in the library: freed at the next step or by done(). */
		*v = nv;
		view_free(&g_old);
		g_old = old;
		return;
	}
	assert_int_equal(trans_before_delta(ts, v, &d), SYNOD_OK);
	assert_int_equal(view_apply(v, &d), SYNOD_OK);
	assert_int_equal(trans_after(ts, v), SYNOD_OK);
}

static const struct synod_transition *find(const struct trans_set *ts,
					   int topic_b, int32_t part)
{
	for (size_t i = 0; i < ts->n_out; i++)
		if (memcmp(ts->out[i].topic_id, topic_b ? tid_b : tid_a, 16) ==
			0 &&
		    ts->out[i].partition == part)
			return &ts->out[i];
	return NULL;
}

static void test_roles(void **state)
{
	struct view v;
	struct trans_set ts;
	struct pstate s[4];
	Synod__Wire__PartitionState *up[4];
	Synod__Wire__TopicState ta, *tp[1] = {&ta};
	const struct synod_transition *t;
	(void)state;
	view_init(&v);

	/* Created: a-0 led by me, a-1 followed, a-2 not mine (never in a
	 * broker's view; the controller does not send it). */
	topic(&ta, 0, 3, 0);
	mk(&s[0], 0, 0, ME, 1, 1, 1);
	mk(&s[1], 0, 1, 2, 1, 1, 1);
	up[0] = &s[0].p;
	up[1] = &s[1].p;
	step(&v, &ts, 0, 10, 1, up, 2, NULL, 0, tp, 1);
	assert_int_equal(ts.n_out, 2);
	t = find(&ts, 0, 0);
	assert_non_null(t);
	assert_int_equal(t->old_role, SYNOD_ROLE_NONE);
	assert_int_equal(t->new_role, SYNOD_ROLE_LEADER);
	assert_int_equal(t->leader, ME);
	assert_int_equal(t->leader_epoch, 1);
	t = find(&ts, 0, 1);
	assert_int_equal(t->new_role, SYNOD_ROLE_FOLLOWER);
	assert_int_equal(t->leader, 2);
	/* Sorted by topic id, then partition. */
	assert_int_equal(ts.out[0].partition, 0);
	trans_free(&ts);

	/* An ISR change only (same leader epoch): no transition. */
	mk(&s[0], 0, 0, ME, 1, 2, 1);
	s[0].p.n_isr = 2;
	step(&v, &ts, 10, 11, 0, up, 1, NULL, 0, NULL, 0);
	assert_int_equal(ts.n_out, 0);
	trans_free(&ts);

	/* Leadership moves: a-0 to broker 2 (I follow), a-1 to me. The
	 * same partition twice in one delta counts once. */
	mk(&s[0], 0, 0, 2, 2, 3, 1);
	mk(&s[1], 0, 1, ME, 2, 2, 1);
	mk(&s[2], 0, 1, ME, 2, 2, 1);
	up[2] = &s[2].p;
	step(&v, &ts, 11, 12, 0, up, 3, NULL, 0, NULL, 0);
	assert_int_equal(ts.n_out, 2);
	t = find(&ts, 0, 0);
	assert_int_equal(t->old_role, SYNOD_ROLE_LEADER);
	assert_int_equal(t->new_role, SYNOD_ROLE_FOLLOWER);
	assert_int_equal(t->leader_epoch, 2);
	t = find(&ts, 0, 1);
	assert_int_equal(t->old_role, SYNOD_ROLE_FOLLOWER);
	assert_int_equal(t->new_role, SYNOD_ROLE_LEADER);
	trans_free(&ts);

	/* A new leader epoch, roles unchanged (broker 2 -> 3 leads a-0; I
	 * stay follower): a transition, so I follow the new leader. */
	mk(&s[0], 0, 0, 3, 3, 4, 1);
	step(&v, &ts, 12, 13, 0, up, 1, NULL, 0, NULL, 0);
	assert_int_equal(ts.n_out, 1);
	assert_int_equal(ts.out[0].old_role, SYNOD_ROLE_FOLLOWER);
	assert_int_equal(ts.out[0].new_role, SYNOD_ROLE_FOLLOWER);
	assert_int_equal(ts.out[0].leader, 3);
	assert_int_equal(ts.out[0].leader_epoch, 3);
	trans_free(&ts);

	/* Offline (leader -1): my follower role stays, the epoch moves. */
	mk(&s[0], 0, 0, -1, 4, 5, 1);
	step(&v, &ts, 13, 14, 0, up, 1, NULL, 0, NULL, 0);
	assert_int_equal(ts.n_out, 1);
	assert_int_equal(ts.out[0].leader, -1);
	trans_free(&ts);

	/* Reassigned away: removed; the last leader known is reported. */
	mk(&s[3], 0, 1, ME, 2, 2, 1);
	{
		Synod__Wire__PartitionState *rm[1] = {&s[3].p};
		step(&v, &ts, 14, 15, 0, NULL, 0, rm, 1, NULL, 0);
	}
	assert_int_equal(ts.n_out, 1);
	assert_int_equal(ts.out[0].partition, 1);
	assert_int_equal(ts.out[0].old_role, SYNOD_ROLE_LEADER);
	assert_int_equal(ts.out[0].new_role, SYNOD_ROLE_NONE);
	assert_int_equal(ts.out[0].leader, ME);
	assert_int_equal(ts.out[0].leader_epoch, 2);
	trans_free(&ts);

	/* Topic deleted: every partition of it held is removed. */
	mk(&s[1], 0, 1, ME, 5, 6, 1);
	step(&v, &ts, 15, 16, 0, up + 1, 1, NULL, 0, NULL, 0);
	trans_free(&ts);
	topic(&ta, 0, 3, 1);
	step(&v, &ts, 16, 17, 0, NULL, 0, NULL, 0, tp, 1);
	assert_int_equal(ts.n_out, 2);
	assert_string_equal(ts.out[0].topic, "a");
	assert_int_equal(ts.out[0].new_role, SYNOD_ROLE_NONE);
	assert_int_equal(ts.out[1].new_role, SYNOD_ROLE_NONE);
	assert_int_equal(find(&ts, 0, 1)->old_role, SYNOD_ROLE_LEADER);
	assert_int_equal(view_partition_count(&v), 0);
	done(&v, &ts);
}

static void test_full_image(void **state)
{
	struct view v;
	struct trans_set ts;
	struct pstate s[3];
	Synod__Wire__PartitionState *up[3];
	Synod__Wire__TopicState ta, tb, *tp[2] = {&ta, &tb};
	(void)state;
	view_init(&v);
	topic(&ta, 0, 2, 0);
	topic(&tb, 1, 1, 0);
	mk(&s[0], 0, 0, ME, 1, 1, 1);
	mk(&s[1], 0, 1, 2, 1, 1, 1);
	up[0] = &s[0].p;
	up[1] = &s[1].p;
	step(&v, &ts, 0, 10, 1, up, 2, NULL, 0, tp, 1);
	assert_int_equal(ts.n_out, 2);
	trans_free(&ts);

	/* A newer image: a-0 unchanged (no transition), a-1 gone, b-0 new
	 * and led by me. */
	mk(&s[2], 1, 0, ME, 7, 9, 1);
	up[1] = &s[2].p;
	step(&v, &ts, 0, 20, 1, up, 2, NULL, 0, tp, 2);
	assert_int_equal(ts.n_out, 2);
	assert_int_equal(find(&ts, 0, 1)->new_role, SYNOD_ROLE_NONE);
	assert_int_equal(find(&ts, 0, 1)->old_role, SYNOD_ROLE_FOLLOWER);
	assert_int_equal(find(&ts, 1, 0)->new_role, SYNOD_ROLE_LEADER);
	assert_int_equal(find(&ts, 1, 0)->leader_epoch, 7);
	assert_null(find(&ts, 0, 0));
	done(&v, &ts);
}

/* Invariant: a topic deletion costs what the view holds of the topic,
 * not the partition count it declares: a topic declaring 4 billion
 * partitions, deleted, is done at once (it made fuzz_view time out:
 * 4 billion lookups). Every partition held gets its transition. */
static void test_deleted_topic_declaring_huge_count(void **state)
{
	struct view v;
	struct trans_set ts;
	struct pstate s[2];
	Synod__Wire__PartitionState *up[2];
	Synod__Wire__TopicState ta, *tp[1] = {&ta};
	(void)state;
	view_init(&v);
	topic(&ta, 0, 4000000000u, 0);
	mk(&s[0], 0, 0, ME, 1, 1, 1);
	mk(&s[1], 0, 7, 2, 1, 1, 1);
	up[0] = &s[0].p;
	up[1] = &s[1].p;
	step(&v, &ts, 0, 10, 0, up, 2, NULL, 0, tp, 1);
	trans_free(&ts);
	topic(&ta, 0, 4000000000u, 1);
	step(&v, &ts, 10, 11, 0, NULL, 0, NULL, 0, tp, 1);
	assert_int_equal(ts.n_out, 2);
	assert_int_equal(find(&ts, 0, 0)->old_role, SYNOD_ROLE_LEADER);
	assert_int_equal(find(&ts, 0, 7)->old_role, SYNOD_ROLE_FOLLOWER);
	assert_int_equal(find(&ts, 0, 7)->new_role, SYNOD_ROLE_NONE);
	done(&v, &ts);
}

static void test_roles_of_state(void **state)
{
	struct pstate s;
	(void)state;
	mk(&s, 0, 0, 2, 1, 1, 0);
	assert_int_equal(trans_role(&s.p, ME), SYNOD_ROLE_NONE);
	mk(&s, 0, 0, 2, 1, 1, 1);
	assert_int_equal(trans_role(&s.p, ME), SYNOD_ROLE_FOLLOWER);
	mk(&s, 0, 0, ME, 1, 1, 1);
	assert_int_equal(trans_role(&s.p, ME), SYNOD_ROLE_LEADER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_full_image),
	    cmocka_unit_test(test_roles_of_state),
	    cmocka_unit_test(test_deleted_topic_declaring_huge_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
