/* Unit tests: KIP-848's member-side rules (controller/reconcile.c, pure):
 * request validation (a table of every invalid combination), every
 * reconciliation transition, the epoch check and the lost-answer retry,
 * the group invariant, and a randomized group simulation that checks after
 * every step that no partition has two owners, and that the group
 * converges to its target once events stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reconcile.h"
#include "synod/client.h"

#define KEYS(...) ((const uint64_t[]){__VA_ARGS__})
#define NKEYS(...) ((uint32_t)(sizeof(KEYS(__VA_ARGS__)) / sizeof(uint64_t)))
/* A set as two arguments (array, count); NOKEYS is the empty set. */
#define SET(...) KEYS(__VA_ARGS__), NKEYS(__VA_ARGS__)
#define NOKEYS NULL, 0

static struct rc_member mk(int32_t epoch, int32_t prev, enum rc_state st,
			   const uint64_t *a, uint32_t na, const uint64_t *r,
			   uint32_t nr)
{
	struct rc_member m,
	    src = {epoch, prev, st, (uint64_t *)a, na, (uint64_t *)r, nr};

	assert_int_equal(rc_member_copy(&m, &src), SYNOD_OK);
	return m;
}

static void assert_keys(const uint64_t *got, uint32_t n, const uint64_t *want,
			uint32_t nw)
{
	assert_int_equal(n, nw);
	if (n)
		assert_memory_equal(got, want, n * sizeof(*got));
	else
		assert_null(got);
}

static void expect(const struct rc_member *m, int32_t epoch, int32_t prev,
		   enum rc_state st, const uint64_t *a, uint32_t na,
		   const uint64_t *r, uint32_t nr)
{
	assert_int_equal(m->member_epoch, epoch);
	assert_int_equal(m->previous_epoch, prev);
	assert_int_equal(m->state, st);
	assert_keys(m->assigned, m->n_assigned, a, na);
	assert_keys(m->pending_revocation, m->n_pending, r, nr);
	assert_true(rc_well_formed(m));
}

/* What other members hold, for owned_by_other; records what it was asked. */
struct others {
	const uint64_t *held;
	uint32_t n;
	uint64_t asked[64];
	uint32_t n_asked;
};

static int held_by_others(void *arg, uint64_t key)
{
	struct others *o = arg;
	uint32_t i;

	if (o->n_asked < 64)
		o->asked[o->n_asked++] = key;
	for (i = 0; i < o->n; i++)
		if (o->held[i] == key)
			return 1;
	return 0;
}

static int was_asked(const struct others *o, uint64_t key)
{
	uint32_t i;

	for (i = 0; i < o->n_asked; i++)
		if (o->asked[i] == key)
			return 1;
	return 0;
}

/* ---- sets ---- */

static void test_sets(void **state)
{
	uint64_t k[] = {RC_KEY(2, 1), RC_KEY(1, 7), RC_KEY(2, 1), RC_KEY(1, 0),
			RC_KEY(1, 7)};

	(void)state;
	assert_int_equal(RC_KEY(3, 5), (3ULL << 32) | 5);
	assert_int_equal(RC_TID(RC_KEY(3, 5)), 3);
	assert_int_equal(RC_PARTITION(RC_KEY(3, 5)), 5);
	assert_int_equal(RC_PARTITION(RC_KEY(1, 0xffffffffu)), 0xffffffffu);
	assert_int_equal(RC_TID(RC_KEY(0xffffffffu, 0)), 0xffffffffu);

	assert_false(rc_is_set(k, 5));
	assert_int_equal(rc_normalize(k, 5), 3);
	assert_true(rc_is_set(k, 3));
	assert_int_equal(k[0], RC_KEY(1, 0));
	assert_int_equal(k[1], RC_KEY(1, 7));
	assert_int_equal(k[2], RC_KEY(2, 1));
	assert_int_equal(rc_normalize(NULL, 0), 0);
	assert_true(rc_is_set(NULL, 0));
	assert_false(rc_is_set(NULL, 1));
	assert_false(rc_is_set(KEYS(1, 1), 2));
	assert_false(rc_is_set(KEYS(2, 1), 2));

	assert_true(rc_subset(NOKEYS, SET(1, 2)));
	assert_true(rc_subset(NOKEYS, NOKEYS));
	assert_true(rc_subset(SET(1, 3), SET(1, 2, 3)));
	assert_true(rc_subset(SET(1, 2, 3), SET(1, 2, 3)));
	assert_false(rc_subset(SET(1, 4), SET(1, 2, 3)));
	assert_false(rc_subset(SET(0), SET(1, 2, 3)));
	assert_false(rc_subset(SET(1), NOKEYS));
}

/* ---- reconciliation transitions (reconcile.h's examples) ---- */

/* S1: STABLE at the target epoch: no change, whatever the target. */
static void test_stable_same_epoch(void **state)
{
	struct rc_member cur = mk(5, 4, RC_STABLE, SET(0, 1), NOKEYS), out;
	uint64_t *before = cur.assigned;

	(void)state;
	assert_int_equal(
	    rc_next(&cur, 5, SET(0, 1), SET(0, 1), 1, NULL, NULL, &out),
	    SYNOD_OK);
	expect(&out, 5, 4, RC_STABLE, SET(0, 1), NOKEYS);
	assert_ptr_not_equal(out.assigned, cur.assigned); /* its own copy */
	rc_member_free(&out);
	assert_int_equal(
	    rc_next(&cur, 5, SET(7, 8), NOKEYS, 0, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 5, 4, RC_STABLE, SET(0, 1), NOKEYS);
	rc_member_free(&out);
	/* In place: nothing moves. */
	assert_int_equal(
	    rc_next(&cur, 5, SET(0, 1), NOKEYS, 0, NULL, NULL, &cur), SYNOD_OK);
	assert_ptr_equal(cur.assigned, before);
	expect(&cur, 5, 4, RC_STABLE, SET(0, 1), NOKEYS);
	rc_member_free(&cur);
}

/* S2 -> UNREVOKED: something to give up and the member still holds it. */
static void test_stable_must_revoke(void **state)
{
	struct rc_member cur = mk(5, 4, RC_STABLE, SET(0, 1), NOKEYS), out;
	struct others o = {KEYS(2), 1, {0}, 0}, none = {NULL, 0, {0}, 0};

	(void)state;
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), SET(0, 1), 1, held_by_others, &o, &out),
	    SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0));
	rc_member_free(&out);
	/* Not reported (a step not caused by its heartbeat): the same. */
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), NOKEYS, 0, held_by_others, &o, &out),
	    SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0));
	rc_member_free(&out);
	/* Reports only the revoked one: still holds it. */
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), SET(0), 1, held_by_others, &o, &out),
	    SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0));
	rc_member_free(&out);
	/* Nothing new while revoking, even when it is free. */
	assert_int_equal(rc_next(&cur, 6, SET(1, 2), SET(0, 1), 1,
				 held_by_others, &none, &out),
			 SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0));
	rc_member_free(&out);
	/* Everything revoked. */
	assert_int_equal(
	    rc_next(&cur, 6, SET(7), SET(0, 1), 1, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, NOKEYS, SET(0, 1));
	rc_member_free(&out);
	rc_member_free(&cur);
}

/* S2 when the member already dropped what it must give up. */
static void test_stable_already_dropped(void **state)
{
	struct rc_member cur = mk(5, 4, RC_STABLE, SET(0, 1), NOKEYS), out;
	struct others o = {KEYS(2), 1, {0}, 0};

	(void)state;
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), SET(1), 1, held_by_others, &o, &out),
	    SYNOD_OK);
	expect(&out, 6, 5, RC_UNRELEASED_PARTITIONS, SET(1), NOKEYS);
	rc_member_free(&out);
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), SET(1), 1, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 6, 5, RC_STABLE, SET(1, 2), NOKEYS);
	rc_member_free(&out);
	/* It dropped everything: it gets its whole target. */
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), NOKEYS, 1, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 6, 5, RC_STABLE, SET(1, 2), NOKEYS);
	rc_member_free(&out);
	rc_member_free(&cur);
}

/* S2 with nothing to revoke: straight to the target epoch. */
static void test_stable_grows(void **state)
{
	struct rc_member cur = mk(5, 4, RC_STABLE, SET(0), NOKEYS), out;
	struct others o = {KEYS(1), 1, {0}, 0};

	(void)state;
	assert_int_equal(
	    rc_next(&cur, 6, SET(0, 1), NOKEYS, 0, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 6, 5, RC_STABLE, SET(0, 1), NOKEYS);
	rc_member_free(&out);
	assert_int_equal(
	    rc_next(&cur, 6, SET(0, 1), NOKEYS, 0, held_by_others, &o, &out),
	    SYNOD_OK);
	expect(&out, 6, 5, RC_UNRELEASED_PARTITIONS, SET(0), NOKEYS);
	rc_member_free(&out);
	/* Same set, new epoch: only the epoch moves. */
	assert_int_equal(rc_next(&cur, 6, SET(0), SET(0), 1, NULL, NULL, &out),
			 SYNOD_OK);
	expect(&out, 6, 5, RC_STABLE, SET(0), NOKEYS);
	rc_member_free(&out);
	/* An empty target with nothing held: epoch moves, nothing else. */
	rc_member_free(&cur);
	cur = mk(5, 4, RC_STABLE, NOKEYS, NOKEYS);
	assert_int_equal(rc_next(&cur, 6, NOKEYS, NOKEYS, 0, NULL, NULL, &out),
			 SYNOD_OK);
	expect(&out, 6, 5, RC_STABLE, NOKEYS, NOKEYS);
	rc_member_free(&out);
	rc_member_free(&cur);
}

/* U1: the member has not reported its pending partitions gone. */
static void test_unrevoked_waits(void **state)
{
	struct rc_member cur =
			     mk(5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0)),
			 out;

	(void)state;
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), SET(0, 1), 1, NULL, NULL, &out),
	    SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0));
	rc_member_free(&out);
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), NOKEYS, 0, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0));
	rc_member_free(&out);
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), SET(0), 1, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0));
	rc_member_free(&out);
	/* The target moved again: still waits for the revocation. */
	assert_int_equal(
	    rc_next(&cur, 7, SET(0, 3), SET(0, 1), 1, NULL, NULL, &out),
	    SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0));
	rc_member_free(&out);
	rc_member_free(&cur);
}

/* U2: the pending partitions are reported gone. */
static void test_unrevoked_done(void **state)
{
	struct rc_member cur =
			     mk(5, 5, RC_UNREVOKED_PARTITIONS, SET(1), SET(0)),
			 out;
	struct others o = {KEYS(2), 1, {0}, 0};
	struct others all = {KEYS(0, 1, 2, 3), 4, {0}, 0};

	(void)state;
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), SET(1), 1, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 6, 5, RC_STABLE, SET(1, 2), NOKEYS);
	rc_member_free(&out);
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), SET(1), 1, held_by_others, &o, &out),
	    SYNOD_OK);
	expect(&out, 6, 5, RC_UNRELEASED_PARTITIONS, SET(1), NOKEYS);
	rc_member_free(&out);
	/* A key of its own pending set back in the target is its own: given
	 * back at once, and owned_by_other() is not asked about it (here it
	 * would wrongly say "held", as a callback counting the member
	 * itself does). */
	assert_int_equal(
	    rc_next(&cur, 7, SET(0, 1), SET(1), 1, held_by_others, &all, &out),
	    SYNOD_OK);
	expect(&out, 7, 5, RC_STABLE, SET(0, 1), NOKEYS);
	assert_false(was_asked(&all, 0));
	assert_false(was_asked(&all, 1));
	rc_member_free(&out);
	/* The target moved while it revoked: its kept partition must go
	 * too; the 0 it gave up is released (and free again). */
	assert_int_equal(
	    rc_next(&cur, 7, SET(0, 3), SET(1), 1, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, NOKEYS, SET(1));
	/* ... and once 1 is reported gone too, it reaches the target. */
	assert_int_equal(
	    rc_next(&out, 7, SET(0, 3), NOKEYS, 1, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 7, 5, RC_STABLE, SET(0, 3), NOKEYS);
	rc_member_free(&out);
	/* It already dropped everything: straight to the target. */
	assert_int_equal(
	    rc_next(&cur, 7, SET(0, 3), NOKEYS, 1, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 7, 5, RC_STABLE, SET(0, 3), NOKEYS);
	rc_member_free(&out);
	rc_member_free(&cur);
}

/* W: UNRELEASED_PARTITIONS receives what was released since. */
static void test_unreleased(void **state)
{
	struct rc_member cur =
			     mk(6, 5, RC_UNRELEASED_PARTITIONS, SET(1), NOKEYS),
			 out;
	struct others o = {KEYS(2), 1, {0}, 0};

	(void)state;
	/* Still held: no change, previous epoch kept (Kafka would set it to
	 * 6; see reconcile.h). */
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), SET(1), 1, held_by_others, &o, &out),
	    SYNOD_OK);
	expect(&out, 6, 5, RC_UNRELEASED_PARTITIONS, SET(1), NOKEYS);
	rc_member_free(&out);
	/* Released. */
	assert_int_equal(rc_next(&cur, 6, SET(1, 2), NOKEYS, 0, held_by_others,
				 &(struct others){NULL, 0, {0}, 0}, &out),
			 SYNOD_OK);
	expect(&out, 6, 6, RC_STABLE, SET(1, 2), NOKEYS);
	rc_member_free(&out);
	/* The target moved on: it revokes like a STABLE member. */
	assert_int_equal(rc_next(&cur, 7, SET(2), SET(1), 1, NULL, NULL, &out),
			 SYNOD_OK);
	expect(&out, 6, 6, RC_UNREVOKED_PARTITIONS, NOKEYS, SET(1));
	rc_member_free(&out);
	assert_int_equal(rc_next(&cur, 7, SET(2), NOKEYS, 1, NULL, NULL, &out),
			 SYNOD_OK);
	expect(&out, 7, 6, RC_STABLE, SET(2), NOKEYS);
	rc_member_free(&out);
	/* In place. */
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 2), NOKEYS, 0, NULL, NULL, &cur), SYNOD_OK);
	expect(&cur, 6, 6, RC_STABLE, SET(1, 2), NOKEYS);
	rc_member_free(&cur);
}

/* J: a joining member (epoch 0, nothing held). */
static void test_join(void **state)
{
	struct rc_member cur = mk(0, -1, RC_STABLE, NOKEYS, NOKEYS), out;
	struct others o = {KEYS(4, 5), 2, {0}, 0};

	(void)state;
	assert_int_equal(rc_next(&cur, 3, SET(4, 5), NOKEYS, 1, held_by_others,
				 &(struct others){NULL, 0, {0}, 0}, &out),
			 SYNOD_OK);
	expect(&out, 3, 0, RC_STABLE, SET(4, 5), NOKEYS);
	rc_member_free(&out);
	/* All of its target still held by others: at the epoch, waiting. */
	assert_int_equal(
	    rc_next(&cur, 3, SET(4, 5), NOKEYS, 1, held_by_others, &o, &out),
	    SYNOD_OK);
	expect(&out, 3, 0, RC_UNRELEASED_PARTITIONS, NOKEYS, NOKEYS);
	rc_member_free(&out);
	rc_member_free(&cur);
}

/* X: a state value this version does not know. */
static void test_unknown_state(void **state)
{
	struct rc_member cur = mk(5, 4, (enum rc_state)7, SET(0), NOKEYS), out;

	(void)state;
	assert_false(rc_well_formed(&cur));
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(
	    rc_next(&cur, 6, SET(0, 1), NOKEYS, 0, NULL, NULL, &out),
	    SYNOD_EFENCED_MEMBER_EPOCH);
	assert_int_equal(out.member_epoch, 0x5a5a5a5a); /* untouched */
	assert_int_equal(
	    rc_next(&cur, 6, SET(0, 1), SET(0), 1, NULL, NULL, &out),
	    SYNOD_EFENCED_MEMBER_EPOCH);
	assert_int_equal(
	    rc_next(&cur, 6, SET(0, 1), NOKEYS, 1, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 6, 5, RC_STABLE, SET(0, 1), NOKEYS);
	rc_member_free(&out);
	rc_member_free(&cur);
}

/* Sets not in set form are refused and leave `out` alone. */
static void test_bad_arguments(void **state)
{
	struct rc_member cur = mk(5, 4, RC_STABLE, SET(0), NOKEYS), out;

	(void)state;
	memset(&out, 0x5a, sizeof(out));
	assert_int_equal(
	    rc_next(&cur, 6, SET(2, 1), NOKEYS, 0, NULL, NULL, &out),
	    SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(
	    rc_next(&cur, 6, SET(1, 1), NOKEYS, 0, NULL, NULL, &out),
	    SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(rc_next(&cur, 6, NULL, 1, NOKEYS, 0, NULL, NULL, &out),
			 SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(
	    rc_next(&cur, 6, SET(1), SET(3, 2), 1, NULL, NULL, &out),
	    SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(rc_next(&cur, 6, SET(1), NULL, 2, 1, NULL, NULL, &out),
			 SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(out.member_epoch, 0x5a5a5a5a);
	/* Without has_reported the report is not looked at. */
	assert_int_equal(
	    rc_next(&cur, 6, SET(1), SET(3, 2), 0, NULL, NULL, &out), SYNOD_OK);
	expect(&out, 5, 5, RC_UNREVOKED_PARTITIONS, NOKEYS, SET(0));
	rc_member_free(&out);
	rc_member_free(&cur);
}

/* Keys of several topics: sets are over whole keys. */
static void test_topics(void **state)
{
	uint64_t a0 = RC_KEY(1, 0), a1 = RC_KEY(1, 1), b0 = RC_KEY(2, 0);
	struct rc_member cur = mk(2, 1, RC_STABLE, SET(a0, a1), NOKEYS), out;

	(void)state;
	assert_int_equal(
	    rc_next(&cur, 3, SET(a1, b0), SET(a0, a1), 1, NULL, NULL, &out),
	    SYNOD_OK);
	expect(&out, 2, 2, RC_UNREVOKED_PARTITIONS, SET(a1), SET(a0));
	assert_int_equal(
	    rc_next(&out, 3, SET(a1, b0), SET(a1), 1, NULL, NULL, &out),
	    SYNOD_OK);
	expect(&out, 3, 2, RC_STABLE, SET(a1, b0), NOKEYS);
	rc_member_free(&out);
	rc_member_free(&cur);
}

/* docs/groups.md's worked example, with the invariant after each step. */
static void test_docs_example(void **state)
{
	struct rc_member a = mk(0, -1, RC_STABLE, NOKEYS, NOKEYS);
	struct rc_member b = mk(0, -1, RC_STABLE, NOKEYS, NOKEYS);
	const struct rc_member *g[2] = {&a, &b};
	struct others held;

	(void)state;
	/* 1. A joins: epoch 1, target A={0,1,2,3}. */
	held = (struct others){NULL, 0, {0}, 0};
	assert_int_equal(rc_next(&a, 1, SET(0, 1, 2, 3), NOKEYS, 1,
				 held_by_others, &held, &a),
			 SYNOD_OK);
	expect(&a, 1, 0, RC_STABLE, SET(0, 1, 2, 3), NOKEYS);
	/* 2. B joins: epoch 2, A={0,1}, B={2,3}. A first (a push step). */
	assert_int_equal(
	    rc_next(&a, 2, SET(0, 1), NOKEYS, 0, held_by_others, &held, &a),
	    SYNOD_OK);
	expect(&a, 1, 1, RC_UNREVOKED_PARTITIONS, SET(0, 1), SET(2, 3));
	held = (struct others){KEYS(0, 1, 2, 3), 4, {0}, 0};
	assert_int_equal(
	    rc_next(&b, 2, SET(2, 3), NOKEYS, 1, held_by_others, &held, &b),
	    SYNOD_OK);
	expect(&b, 2, 0, RC_UNRELEASED_PARTITIONS, NOKEYS, NOKEYS);
	assert_int_equal(rc_exclusive(g, 2), 1);
	/* 3. A reports {0,1}: stable at 2; B then receives {2,3}. */
	held = (struct others){NULL, 0, {0}, 0};
	assert_int_equal(
	    rc_next(&a, 2, SET(0, 1), SET(0, 1), 1, held_by_others, &held, &a),
	    SYNOD_OK);
	expect(&a, 2, 1, RC_STABLE, SET(0, 1), NOKEYS);
	assert_int_equal(rc_exclusive(g, 2), 1);
	held = (struct others){KEYS(0, 1), 2, {0}, 0};
	assert_int_equal(
	    rc_next(&b, 2, SET(2, 3), NOKEYS, 0, held_by_others, &held, &b),
	    SYNOD_OK);
	expect(&b, 2, 2, RC_STABLE, SET(2, 3), NOKEYS);
	assert_int_equal(rc_exclusive(g, 2), 1);
	rc_member_free(&a);
	rc_member_free(&b);
}

/* ---- epoch check and the lost-answer retry ---- */

static void test_check_epoch(void **state)
{
	struct rc_member m = mk(7, 5, RC_STABLE, SET(1, 2), NOKEYS);
	struct rc_member u = mk(5, 4, RC_UNREVOKED_PARTITIONS, SET(1), SET(0));

	(void)state;
	/* The member's epoch: always fine, whatever it reports. */
	assert_int_equal(rc_check_epoch(7, &m, NOKEYS, 0), SYNOD_OK);
	assert_int_equal(rc_check_epoch(7, &m, SET(1, 2, 9), 1), SYNOD_OK);
	/* Ahead of the member. */
	assert_int_equal(rc_check_epoch(8, &m, SET(1), 1),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	/* The previous epoch with a subset of assigned: a retry. */
	assert_int_equal(rc_check_epoch(5, &m, SET(1), 1), SYNOD_OK);
	assert_int_equal(rc_check_epoch(5, &m, SET(1, 2), 1), SYNOD_OK);
	assert_int_equal(rc_check_epoch(5, &m, NOKEYS, 1), SYNOD_OK);
	/* ... but not without a report, nor with something else. */
	assert_int_equal(rc_check_epoch(5, &m, NOKEYS, 0),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	assert_int_equal(rc_check_epoch(5, &m, SET(1, 3), 1),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	/* Older than the previous, or between the two. */
	assert_int_equal(rc_check_epoch(6, &m, SET(1), 1),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	assert_int_equal(rc_check_epoch(4, &m, SET(1), 1),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	/* Negative epochs are never a member's. */
	assert_int_equal(rc_check_epoch(-1, &m, NOKEYS, 1),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	assert_int_equal(rc_check_epoch(-2, &m, NOKEYS, 1),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	/* A pending partition is not assigned: a retry reporting it is
	 * fenced. */
	assert_int_equal(rc_check_epoch(4, &u, SET(0, 1), 1),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	assert_int_equal(rc_check_epoch(4, &u, SET(1), 1), SYNOD_OK);
	assert_int_equal(rc_check_epoch(5, &u, SET(0, 1), 1), SYNOD_OK);
	/* Reports not in set form. */
	assert_int_equal(rc_check_epoch(7, &m, SET(2, 1), 1),
			 SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(rc_check_epoch(7, &m, SET(2, 1), 0), SYNOD_OK);
	rc_member_free(&m);
	rc_member_free(&u);
}

/* A member whose answers get lost: it retries with the epoch it knows. */
static void test_lost_answer(void **state)
{
	struct rc_member m = mk(1, 0, RC_STABLE, SET(0, 1, 2, 3), NOKEYS);
	struct others held = {NULL, 0, {0}, 0};

	(void)state;
	/* Epoch 2: target {0,1}. Its heartbeat (epoch 1, owns all four). */
	assert_int_equal(rc_check_epoch(1, &m, SET(0, 1, 2, 3), 1), SYNOD_OK);
	assert_int_equal(rc_next(&m, 2, SET(0, 1), SET(0, 1, 2, 3), 1,
				 held_by_others, &held, &m),
			 SYNOD_OK);
	expect(&m, 1, 1, RC_UNREVOKED_PARTITIONS, SET(0, 1), SET(2, 3));
	/* It revokes 2 and 3 and reports: epoch 2 ... answer lost. */
	assert_int_equal(rc_check_epoch(1, &m, SET(0, 1), 1), SYNOD_OK);
	assert_int_equal(
	    rc_next(&m, 2, SET(0, 1), SET(0, 1), 1, held_by_others, &held, &m),
	    SYNOD_OK);
	expect(&m, 2, 1, RC_STABLE, SET(0, 1), NOKEYS);
	/* The retry with epoch 1 and what it owns is accepted and answered
	 * with epoch 2 (no change to the record). */
	assert_int_equal(rc_check_epoch(1, &m, SET(0, 1), 1), SYNOD_OK);
	assert_int_equal(
	    rc_next(&m, 2, SET(0, 1), SET(0, 1), 1, held_by_others, &held, &m),
	    SYNOD_OK);
	expect(&m, 2, 1, RC_STABLE, SET(0, 1), NOKEYS);
	/* A retry still claiming a partition it gave up is fenced, and so
	 * is one without its owned partitions. */
	assert_int_equal(rc_check_epoch(1, &m, SET(0, 1, 2), 1),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	assert_int_equal(rc_check_epoch(1, &m, NOKEYS, 0),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	/* Epoch 3 adds 4 (held elsewhere): UNRELEASED at 3, answer lost;
	 * the retry with 2 works, also after a step without progress. */
	held = (struct others){KEYS(4), 1, {0}, 0};
	assert_int_equal(
	    rc_next(&m, 3, SET(0, 1, 4), NOKEYS, 0, held_by_others, &held, &m),
	    SYNOD_OK);
	expect(&m, 3, 2, RC_UNRELEASED_PARTITIONS, SET(0, 1), NOKEYS);
	assert_int_equal(rc_check_epoch(2, &m, SET(0, 1), 1), SYNOD_OK);
	assert_int_equal(rc_next(&m, 3, SET(0, 1, 4), SET(0, 1), 1,
				 held_by_others, &held, &m),
			 SYNOD_OK);
	expect(&m, 3, 2, RC_UNRELEASED_PARTITIONS, SET(0, 1), NOKEYS);
	assert_int_equal(rc_check_epoch(2, &m, SET(0, 1), 1), SYNOD_OK);
	/* Two answers lost in a row: epoch 1 is too old now. */
	assert_int_equal(rc_check_epoch(1, &m, SET(0, 1), 1),
			 SYNOD_EFENCED_MEMBER_EPOCH);
	rc_member_free(&m);
}

/* ---- validation ---- */

static const char *names1[] = {"orders"};
static char group255[RC_GROUP_ID_MAX + 1], group256[RC_GROUP_ID_MAX + 2];
static char member36[RC_MEMBER_ID_MAX + 1], member37[RC_MEMBER_ID_MAX + 2];
static const uint64_t owned2[] = {RC_KEY(1, 0), RC_KEY(1, 1)};

struct vcase {
	const char *name;
	struct rc_request r;
	int rc;
	const char *why; /* a substring of the reason */
};

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
#endif
/* A valid join and a valid steady heartbeat, with fields overridden. */
#define JOIN(...)                                                              \
	{                                                                      \
		.group_id = "g", .member_epoch = 0,                            \
		.rebalance_timeout_ms = 300000, .has_subscribed_names = 1,     \
		.n_subscribed_names = 1, .subscribed_names = names1,           \
		__VA_ARGS__                                                    \
	}
#define HB(...)                                                                \
	{                                                                      \
		.group_id = "g", .member_id = "m-1", .member_epoch = 5,        \
		.rebalance_timeout_ms = -1, __VA_ARGS__                        \
	}

static const struct vcase vcases[] = {
    /* valid */
    {"join by names", JOIN(), SYNOD_OK, NULL},
    {"join by regex",
     JOIN(.has_subscribed_names = 0, .has_regex = 1, .regex = "^ord.*"),
     SYNOD_OK, NULL},
    {"join by names and regex", JOIN(.has_regex = 1, .regex = "x"), SYNOD_OK,
     NULL},
    {"join, owned present and empty", JOIN(.has_owned = 1), SYNOD_OK, NULL},
    {"join with a member id", JOIN(.member_id = "m-1"), SYNOD_OK, NULL},
    {"join, empty member id", JOIN(.member_id = ""), SYNOD_OK, NULL},
    {"join, static, with rack",
     JOIN(.instance_id = "i-1", .rack = "r1", .server_assignor = "range"),
     SYNOD_OK, NULL},
    {"join, rebalance timeout 0", JOIN(.rebalance_timeout_ms = 0), SYNOD_OK,
     NULL},
    {"join, names empty but regex",
     JOIN(.n_subscribed_names = 0, .has_regex = 1, .regex = "t"), SYNOD_OK,
     NULL},
    {"steady heartbeat", HB(), SYNOD_OK, NULL},
    {"heartbeat, full",
     HB(.instance_id = "i-1", .rack = "r1", .rebalance_timeout_ms = 1000,
	.has_subscribed_names = 1, .n_subscribed_names = 1,
	.subscribed_names = names1, .has_owned = 1, .owned = owned2,
	.n_owned = 2),
     SYNOD_OK, NULL},
    {"heartbeat clears its subscription",
     HB(.has_subscribed_names = 1, .has_regex = 1, .regex = ""), SYNOD_OK,
     NULL},
    {"leave", HB(.member_epoch = -1), SYNOD_OK, NULL},
    {"static leave", HB(.member_epoch = -2, .instance_id = "i-1"), SYNOD_OK,
     NULL},
    {"group id of 255 bytes", HB(.group_id = group255), SYNOD_OK, NULL},
    {"member id of 36 bytes", HB(.member_id = member36), SYNOD_OK, NULL},
    {"epoch INT32_MAX", HB(.member_epoch = INT32_MAX), SYNOD_OK, NULL},

    /* invalid: any epoch */
    {"no group id", HB(.group_id = NULL), SYNOD_EINVALID_REQUEST, "group id"},
    {"empty group id", JOIN(.group_id = ""), SYNOD_EINVALID_REQUEST,
     "group id"},
    {"group id of 256 bytes", HB(.group_id = group256), SYNOD_EINVALID_REQUEST,
     "group id"},
    {"member id of 37 bytes", HB(.member_id = member37), SYNOD_EINVALID_REQUEST,
     "member id"},
    {"join, member id of 37 bytes", JOIN(.member_id = member37),
     SYNOD_EINVALID_REQUEST, "member id"},
    {"join, member id with a space", JOIN(.member_id = "m 1"),
     SYNOD_EINVALID_REQUEST, "printable"},
    {"member id with a control byte", HB(.member_id = "m\n1"),
     SYNOD_EINVALID_REQUEST, "printable"},
    {"member id with a byte above ~",
     HB(.member_id = "m\xc3\xa9"
		     "1"),
     SYNOD_EINVALID_REQUEST, "printable"},
    {"heartbeat without member id", HB(.member_id = NULL),
     SYNOD_EINVALID_REQUEST, "member id required"},
    {"heartbeat, empty member id", HB(.member_id = ""), SYNOD_EINVALID_REQUEST,
     "member id required"},
    {"leave without member id", HB(.member_id = NULL, .member_epoch = -1),
     SYNOD_EINVALID_REQUEST, "member id required"},
    {"static leave without member id",
     HB(.member_id = "", .member_epoch = -2, .instance_id = "i-1"),
     SYNOD_EINVALID_REQUEST, "member id required"},
    {"empty instance id", HB(.instance_id = ""), SYNOD_EINVALID_REQUEST,
     "instance id"},
    {"join, empty instance id", JOIN(.instance_id = ""), SYNOD_EINVALID_REQUEST,
     "instance id"},
    {"empty rack", HB(.rack = ""), SYNOD_EINVALID_REQUEST, "rack"},
    {"join, empty rack", JOIN(.rack = ""), SYNOD_EINVALID_REQUEST, "rack"},
    {"rebalance timeout -2", HB(.rebalance_timeout_ms = -2),
     SYNOD_EINVALID_REQUEST, "rebalance timeout"},
    {"join, rebalance timeout INT32_MIN",
     JOIN(.rebalance_timeout_ms = INT32_MIN), SYNOD_EINVALID_REQUEST,
     "rebalance timeout"},

    /* invalid: join */
    {"join without rebalance timeout", JOIN(.rebalance_timeout_ms = -1),
     SYNOD_EINVALID_REQUEST, "rebalance timeout"},
    {"join with owned partitions",
     JOIN(.has_owned = 1, .owned = owned2, .n_owned = 2),
     SYNOD_EINVALID_REQUEST, "owned"},
    {"join without subscription", JOIN(.has_subscribed_names = 0),
     SYNOD_EINVALID_REQUEST, "subscribe"},
    {"join, empty names", JOIN(.n_subscribed_names = 0), SYNOD_EINVALID_REQUEST,
     "subscribe"},
    {"join, names absent (count ignored)",
     JOIN(.has_subscribed_names = 0, .n_subscribed_names = 3),
     SYNOD_EINVALID_REQUEST, "subscribe"},
    {"join, empty regex",
     JOIN(.has_subscribed_names = 0, .has_regex = 1, .regex = ""),
     SYNOD_EINVALID_REQUEST, "subscribe"},
    {"join, regex present but NULL",
     JOIN(.has_subscribed_names = 0, .has_regex = 1, .regex = NULL),
     SYNOD_EINVALID_REQUEST, "subscribe"},
    {"join, regex text but absent",
     JOIN(.has_subscribed_names = 0, .has_regex = 0, .regex = "x"),
     SYNOD_EINVALID_REQUEST, "subscribe"},
    {"join, empty names and empty regex",
     JOIN(.n_subscribed_names = 0, .has_regex = 1, .regex = ""),
     SYNOD_EINVALID_REQUEST, "subscribe"},

    /* invalid: static leave, other negative epochs */
    {"static leave without instance id", HB(.member_epoch = -2),
     SYNOD_EINVALID_REQUEST, "instance id"},
    {"epoch -3", HB(.member_epoch = -3), SYNOD_EINVALID_REQUEST,
     "member epoch"},
    {"epoch -3 with instance id", HB(.member_epoch = -3, .instance_id = "i"),
     SYNOD_EINVALID_REQUEST, "member epoch"},
    {"epoch INT32_MIN", HB(.member_epoch = INT32_MIN), SYNOD_EINVALID_REQUEST,
     "member epoch"},
};
#if defined(__clang__)
#pragma clang diagnostic pop
#else
#pragma GCC diagnostic pop
#endif

static void test_validate(void **state)
{
	char err[128];
	size_t i;

	(void)state;
	memset(group255, 'g', sizeof(group255) - 1);
	memset(group256, 'g', sizeof(group256) - 1);
	memset(member36, 'm', sizeof(member36) - 1);
	memset(member37, 'm', sizeof(member37) - 1);
	for (i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
		const struct vcase *c = &vcases[i];
		int rc;

		memset(err, 'x', sizeof(err));
		rc = rc_validate(&c->r, err, sizeof(err));
		if (rc != c->rc || (c->why && !strstr(err, c->why)) ||
		    (!c->why && err[0] != '\0'))
			fail_msg("case \"%s\": got %s (%s), want %s (%s)",
				 c->name, synod_error_name(rc), err,
				 synod_error_name(c->rc), c->why ? c->why : "");
		/* Without a buffer the answer is the same. */
		assert_int_equal(rc_validate(&c->r, NULL, 0), c->rc);
	}
	/* A short buffer is cut and terminated; size 0 is not written. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(rc_validate(&vcases[i - 1].r, err, 4),
			 SYNOD_EINVALID_REQUEST);
	assert_int_equal(strlen(err), 3);
	err[0] = 'x';
	assert_int_equal(rc_validate(&vcases[i - 1].r, err, 0),
			 SYNOD_EINVALID_REQUEST);
	assert_int_equal(err[0], 'x');
}

/* ---- group invariant ---- */

static void test_exclusive(void **state)
{
	struct rc_member a = mk(1, 0, RC_STABLE, SET(1, 2), NOKEYS);
	struct rc_member b = mk(1, 0, RC_UNREVOKED_PARTITIONS, SET(3), SET(4));
	struct rc_member c = mk(1, 0, RC_STABLE, SET(4), NOKEYS);
	struct rc_member d = mk(1, 0, RC_UNREVOKED_PARTITIONS, SET(5), SET(2));
	struct rc_member self = mk(1, 0, RC_STABLE, SET(6), SET(6));
	const struct rc_member *g[4];

	(void)state;
	assert_int_equal(rc_exclusive(NULL, 0), 1);
	g[0] = &a;
	g[1] = &b;
	assert_int_equal(rc_exclusive(g, 2), 1);
	g[2] = &c; /* 4: pending of b, assigned of c */
	assert_int_equal(rc_exclusive(g, 3), 0);
	g[2] = NULL; /* skipped */
	assert_int_equal(rc_exclusive(g, 3), 1);
	g[2] = &d; /* 2: assigned of a, pending of d */
	assert_int_equal(rc_exclusive(g, 3), 0);
	g[0] = &c;
	g[1] = &a;
	g[2] = &a; /* one member twice is two holders */
	assert_int_equal(rc_exclusive(g, 3), 0);
	g[0] = &self; /* a key twice in one member: not this invariant's */
	g[1] = &a;
	assert_int_equal(rc_exclusive(g, 2), 1);
	assert_false(rc_well_formed(&self));
	rc_member_free(&a);
	rc_member_free(&b);
	rc_member_free(&c);
	rc_member_free(&d);
	rc_member_free(&self);
}

static void test_well_formed(void **state)
{
	struct rc_member m;

	(void)state;
	m = mk(1, 0, RC_STABLE, SET(1, 2), NOKEYS);
	assert_true(rc_well_formed(&m));
	m.state = RC_UNRELEASED_PARTITIONS;
	assert_true(rc_well_formed(&m));
	m.state = RC_UNREVOKED_PARTITIONS; /* nothing pending */
	assert_false(rc_well_formed(&m));
	rc_member_free(&m);
	m = mk(1, 0, RC_STABLE, SET(2, 1), NOKEYS);
	assert_false(rc_well_formed(&m));
	rc_member_free(&m);
	m = mk(1, 0, RC_STABLE, SET(1), SET(3));
	assert_false(rc_well_formed(&m));
	m.state = RC_UNREVOKED_PARTITIONS;
	assert_true(rc_well_formed(&m));
	rc_member_free(&m);
	m = mk(1, 0, RC_UNREVOKED_PARTITIONS, SET(1), SET(1));
	assert_false(rc_well_formed(&m));
	rc_member_free(&m);
	/* rc_member_free keeps the epochs and state. */
	m = mk(4, 3, RC_UNREVOKED_PARTITIONS, SET(1), SET(2));
	rc_member_free(&m);
	assert_int_equal(m.member_epoch, 4);
	assert_null(m.assigned);
	assert_int_equal(m.n_pending, 0);
	rc_member_free(NULL);
}

/* ---- randomized simulation ---- */

#define SIM_MEMBERS 10
#define SIM_TOPICS 3
#define SIM_PARTS 24
#define SIM_KEYS (SIM_TOPICS * SIM_PARTS)

typedef int (*sim_step_fn)(const struct rc_member *cur, int32_t target_epoch,
			   const uint64_t *target, uint32_t n_target,
			   const uint64_t *reported, uint32_t n_reported,
			   int has_reported, rc_owned_fn owned_by_other,
			   void *arg, struct rc_member *out);

/* A member process as the controller cannot see it. */
struct sim_client {
	int alive;		  /* the process runs */
	int32_t epoch;		  /* the last epoch it was told */
	uint64_t owned[SIM_KEYS]; /* what it uses now */
	uint32_t n_owned;
	uint64_t told[SIM_KEYS]; /* the last assignment it was told */
	uint32_t n_told;
};

enum {
	ST_UNCHANGED, /* + state: 0..2 */
	ST_MOVED = 3, /* + from * 3 + to: 3..11 */
	ST_RETRY = 12,
	ST_FENCED,
	ST_LOST,
	ST_JOIN,
	ST_LEAVE,
	ST_CRASH,
	ST_EXPIRE,
	ST_TIMEOUT,
	ST_TOPIC,
	ST_CONVERGED,
	ST_COUNT
};

struct sim {
	uint64_t rng;
	sim_step_fn step;
	int32_t group_epoch;
	uint32_t parts[SIM_TOPICS]; /* 0: the topic does not exist */
	int in_group[SIM_MEMBERS];  /* the controller has a record */
	struct rc_member rec[SIM_MEMBERS];
	uint64_t target[SIM_MEMBERS][SIM_KEYS];
	uint32_t n_target[SIM_MEMBERS];
	struct sim_client cl[SIM_MEMBERS];
	unsigned long stats[ST_COUNT];
	char violation[256]; /* first broken rule, "" if none */
};

static uint64_t rnd(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t below(struct sim *s, uint32_t n)
{
	return (uint32_t)(rnd(s) % n);
}

static int has_key(const uint64_t *set, uint32_t n, uint64_t key)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (set[i] == key)
			return 1;
	return 0;
}

static uint32_t key_index(uint64_t key)
{
	return (RC_TID(key) - 1) * SIM_PARTS + RC_PARTITION(key);
}

/* The assignor of the test: every existing partition to one member, in
 * one of three ways (round robin over a random order, contiguous ranges,
 * or sticky: keep the previous target holder while under its quota). */
static void sim_assign(struct sim *s)
{
	uint32_t members[SIM_MEMBERS], nm = 0, i, j, t, p, nk = 0, quota;
	uint64_t keys[SIM_KEYS];
	uint32_t mode = below(s, 3), load[SIM_MEMBERS] = {0};
	int prev[SIM_KEYS];

	for (i = 0; i < SIM_KEYS; i++)
		prev[i] = -1;
	for (i = 0; i < SIM_MEMBERS; i++) {
		for (j = 0; j < s->n_target[i]; j++)
			prev[key_index(s->target[i][j])] = (int)i;
		s->n_target[i] = 0;
		if (s->in_group[i])
			members[nm++] = i;
	}
	for (t = 0; t < SIM_TOPICS; t++)
		for (p = 0; p < s->parts[t]; p++)
			keys[nk++] = RC_KEY(t + 1, p);
	if (nm == 0)
		return;
	for (i = nm - 1; i > 0; i--) { /* a random member order */
		uint32_t k = below(s, i + 1), x = members[i];

		members[i] = members[k];
		members[k] = x;
	}
	quota = (nk + nm - 1) / nm;
	for (i = 0; i < nk; i++) {
		uint32_t m;

		if (mode == 0) {
			m = members[i % nm];
		} else if (mode == 1) {
			m = members[(uint32_t)((uint64_t)i * nm / nk)];
		} else {
			int was = prev[key_index(keys[i])];

			if (was >= 0 && s->in_group[was] && load[was] < quota) {
				m = (uint32_t)was;
			} else {
				m = members[0];
				for (j = 1; j < nm; j++)
					if (load[members[j]] < load[m])
						m = members[j];
			}
		}
		load[m]++;
		s->target[m][s->n_target[m]++] = keys[i];
	}
}

static void sim_bump(struct sim *s)
{
	s->group_epoch++;
	sim_assign(s);
}

struct sim_other {
	struct sim *s;
	uint32_t self;
};

static int sim_owned_by_other(void *arg, uint64_t key)
{
	struct sim_other *o = arg;
	uint32_t i;

	for (i = 0; i < SIM_MEMBERS; i++) {
		const struct rc_member *r = &o->s->rec[i];

		if (i == o->self || !o->s->in_group[i])
			continue;
		if (has_key(r->assigned, r->n_assigned, key) ||
		    has_key(r->pending_revocation, r->n_pending, key))
			return 1;
	}
	return 0;
}

/* A reconciler that ignores the rules (gives the target at once): the
 * simulation must catch it. */
static int naive_next(const struct rc_member *cur, int32_t target_epoch,
		      const uint64_t *target, uint32_t n_target,
		      const uint64_t *reported, uint32_t n_reported,
		      int has_reported, rc_owned_fn owned_by_other, void *arg,
		      struct rc_member *out)
{
	struct rc_member n = {target_epoch,
			      cur->member_epoch,
			      RC_STABLE,
			      (uint64_t *)target,
			      n_target,
			      NULL,
			      0};

	if (out == cur)
		rc_member_free(out);
	return rc_member_copy(out, &n);
}

/* Every rule that must hold at every moment; records the first broken
 * one. */
static int sim_check(struct sim *s)
{
	const struct rc_member *g[SIM_MEMBERS];
	int holder[SIM_KEYS];
	uint32_t i, j;

	if (s->violation[0])
		return 0;
	for (i = 0; i < SIM_KEYS; i++)
		holder[i] = -1;
	for (i = 0; i < SIM_MEMBERS; i++) {
		const struct rc_member *r = &s->rec[i];
		const struct sim_client *c = &s->cl[i];

		g[i] = s->in_group[i] ? r : NULL;
		if (!s->in_group[i])
			continue;
		if (!rc_well_formed(r)) {
			snprintf(s->violation, sizeof(s->violation),
				 "member %u: record not well formed", i);
			return 0;
		}
		if (r->member_epoch > s->group_epoch) {
			snprintf(s->violation, sizeof(s->violation),
				 "member %u: epoch %d above the group's %d", i,
				 r->member_epoch, s->group_epoch);
			return 0;
		}
		if (!c->alive)
			continue;
		for (j = 0; j < c->n_owned; j++) {
			uint64_t k = c->owned[j];
			uint32_t x = key_index(k);

			/* What a process uses is in its record ... */
			if (!has_key(r->assigned, r->n_assigned, k) &&
			    !has_key(r->pending_revocation, r->n_pending, k)) {
				snprintf(s->violation, sizeof(s->violation),
					 "member %u uses %u/%u outside its "
					 "record",
					 i, RC_TID(k), RC_PARTITION(k));
				return 0;
			}
			/* ... and no two processes use one partition. */
			if (holder[x] >= 0) {
				snprintf(s->violation, sizeof(s->violation),
					 "members %d and %u both use %u/%u",
					 holder[x], i, RC_TID(k),
					 RC_PARTITION(k));
				return 0;
			}
			holder[x] = (int)i;
		}
	}
	if (rc_exclusive(g, SIM_MEMBERS) != 1) {
		snprintf(s->violation, sizeof(s->violation),
			 "a partition is in two members' records");
		return 0;
	}
	return 1;
}

static void set_copy(uint64_t *dst, uint32_t *n, const uint64_t *src,
		     uint32_t ns)
{
	if (ns)
		memcpy(dst, src, ns * sizeof(*dst));
	*n = ns;
}

/* The process takes what it was told and, if `revoke`, drops the rest. */
static void client_apply(struct sim_client *c, int revoke)
{
	uint64_t u[2 * SIM_KEYS];
	uint32_t n = 0, i;

	if (revoke) {
		set_copy(c->owned, &c->n_owned, c->told, c->n_told);
		return;
	}
	for (i = 0; i < c->n_owned; i++)
		u[n++] = c->owned[i];
	for (i = 0; i < c->n_told; i++)
		u[n++] = c->told[i];
	n = rc_normalize(u, n);
	set_copy(c->owned, &c->n_owned, u, n);
}

/* One reconciliation step of member i on the controller. */
static void sim_step(struct sim *s, uint32_t i, const uint64_t *rep,
		     uint32_t nrep, int has)
{
	struct sim_other o = {s, i};
	struct rc_member out;
	enum rc_state from = s->rec[i].state;
	int32_t epoch = s->rec[i].member_epoch;
	int rv;

	rv = s->step(&s->rec[i], s->group_epoch, s->target[i], s->n_target[i],
		     rep, nrep, has, sim_owned_by_other, &o, &out);
	assert_int_equal(rv, SYNOD_OK);
	if (out.member_epoch < epoch && !s->violation[0])
		snprintf(s->violation, sizeof(s->violation),
			 "member %u: epoch went back from %d to %d", i, epoch,
			 out.member_epoch);
	if (out.member_epoch == epoch && out.state == from &&
	    out.n_assigned == s->rec[i].n_assigned &&
	    out.n_pending == s->rec[i].n_pending)
		s->stats[ST_UNCHANGED + from]++;
	else
		s->stats[ST_MOVED + from * 3 + out.state]++;
	rc_member_free(&s->rec[i]);
	s->rec[i] = out;
}

/* The answer (or push) reaches the process. */
static void sim_deliver(struct sim *s, uint32_t i, int revoke)
{
	struct sim_client *c = &s->cl[i];

	set_copy(c->told, &c->n_told, s->rec[i].assigned, s->rec[i].n_assigned);
	c->epoch = s->rec[i].member_epoch;
	client_apply(c, revoke);
}

static void sim_remove(struct sim *s, uint32_t i)
{
	rc_member_free(&s->rec[i]);
	memset(&s->rec[i], 0, sizeof(s->rec[i]));
	s->in_group[i] = 0;
	memset(&s->cl[i], 0, sizeof(s->cl[i]));
}

static void sim_join(struct sim *s, uint32_t i)
{
	s->in_group[i] = 1;
	memset(&s->rec[i], 0, sizeof(s->rec[i]));
	s->rec[i].previous_epoch = -1;
	memset(&s->cl[i], 0, sizeof(s->cl[i]));
	s->cl[i].alive = 1;
	s->stats[ST_JOIN]++;
	sim_bump(s);
	sim_step(s, i, NULL, 0, 1); /* a joining member owns nothing */
	sim_deliver(s, i, 1);
}

/* A heartbeat of live member i: it may first drop what it was told to
 * give up; it reports what it owns (or not); the answer may be lost. */
static void sim_heartbeat(struct sim *s, uint32_t i, int revoke, int has,
			  int lose)
{
	struct sim_client *c = &s->cl[i];
	int rv;

	if (revoke)
		client_apply(c, 1);
	rv = rc_check_epoch(c->epoch, &s->rec[i], c->owned, c->n_owned, has);
	if (rv == SYNOD_EFENCED_MEMBER_EPOCH) {
		/* It gives everything up and rejoins. */
		s->stats[ST_FENCED]++;
		sim_remove(s, i);
		sim_bump(s);
		if (sim_check(s))
			sim_join(s, i);
		return;
	}
	assert_int_equal(rv, SYNOD_OK);
	if (c->epoch != s->rec[i].member_epoch)
		s->stats[ST_RETRY]++;
	sim_step(s, i, c->owned, c->n_owned, has);
	if (lose) {
		s->stats[ST_LOST]++;
		return;
	}
	sim_deliver(s, i, below(s, 2));
}

static int sim_pick(struct sim *s, int in_group, int alive, uint32_t *out)
{
	uint32_t start = below(s, SIM_MEMBERS), k;

	for (k = 0; k < SIM_MEMBERS; k++) {
		uint32_t i = (start + k) % SIM_MEMBERS;

		if (s->in_group[i] == in_group &&
		    (alive < 0 || s->cl[i].alive == alive)) {
			*out = i;
			return 1;
		}
	}
	return 0;
}

static void sim_event(struct sim *s)
{
	uint32_t e = below(s, 100), i, t;

	if (e < 45) { /* a heartbeat */
		if (sim_pick(s, 1, 1, &i))
			sim_heartbeat(s, i, below(s, 2), below(s, 10) != 0,
				      below(s, 8) == 0);
	} else if (e < 60) { /* a step without heartbeat, pushed */
		if (sim_pick(s, 1, -1, &i)) {
			sim_step(s, i, NULL, 0, 0);
			if (s->cl[i].alive && below(s, 8) != 0)
				sim_deliver(s, i, below(s, 2));
		}
	} else if (e < 70) { /* the target moves */
		t = below(s, SIM_TOPICS);
		s->stats[ST_TOPIC]++;
		switch (below(s, 4)) {
		case 0: /* the topic grows (or is created) */
			if (s->parts[t] < SIM_PARTS)
				s->parts[t] += 1 + below(s, 3);
			if (s->parts[t] > SIM_PARTS)
				s->parts[t] = SIM_PARTS;
			break;
		case 1: /* the topic is deleted */
			if (below(s, 3) == 0)
				s->parts[t] = 0;
			break;
		default: /* a reassignment (member change elsewhere) */
			break;
		}
		sim_bump(s);
	} else if (e < 78) { /* a join */
		if (sim_pick(s, 0, -1, &i))
			sim_join(s, i);
	} else if (e < 83) { /* a leave (epoch -1) */
		if (sim_pick(s, 1, 1, &i)) {
			s->stats[ST_LEAVE]++;
			sim_remove(s, i);
			sim_bump(s);
		}
	} else if (e < 89) { /* a crash: the record stays */
		if (sim_pick(s, 1, 1, &i)) {
			s->stats[ST_CRASH]++;
			memset(&s->cl[i], 0, sizeof(s->cl[i]));
		}
	} else if (e < 95) { /* the session of a crashed member expires */
		if (sim_pick(s, 1, 0, &i)) {
			s->stats[ST_EXPIRE]++;
			sim_remove(s, i);
			sim_bump(s);
		}
	} else { /* rebalance timeout: it never revoked (it self-fences) */
		for (i = 0; i < SIM_MEMBERS; i++)
			if (s->in_group[i] &&
			    s->rec[i].state == RC_UNREVOKED_PARTITIONS)
				break;
		if (i < SIM_MEMBERS) {
			s->stats[ST_TIMEOUT]++;
			sim_remove(s, i);
			sim_bump(s);
		}
	}
}

static int sim_converged(struct sim *s)
{
	uint32_t i, n = 0, total = 0, t;

	for (i = 0; i < SIM_MEMBERS; i++) {
		const struct rc_member *r = &s->rec[i];
		const struct sim_client *c = &s->cl[i];

		if (!s->in_group[i])
			continue;
		n++;
		total += s->n_target[i];
		if (r->state != RC_STABLE ||
		    r->member_epoch != s->group_epoch ||
		    r->n_assigned != s->n_target[i] ||
		    (r->n_assigned &&
		     memcmp(r->assigned, s->target[i],
			    r->n_assigned * sizeof(uint64_t))) ||
		    c->epoch != s->group_epoch || c->n_owned != r->n_assigned ||
		    (c->n_owned && memcmp(c->owned, r->assigned,
					  c->n_owned * sizeof(uint64_t))))
			return 0;
	}
	if (n > 0) /* every partition of the subscription is owned */
		for (t = 0; t < SIM_TOPICS; t++)
			total -= s->parts[t];
	return total == 0;
}

/* Events stop: crashed members expire, every live member heartbeats
 * (revoking at once, answers delivered) until the group is at its
 * target. */
static void sim_converge(struct sim *s)
{
	uint32_t i, round;

	for (i = 0; i < SIM_MEMBERS; i++)
		if (s->in_group[i] && !s->cl[i].alive) {
			sim_remove(s, i);
			sim_bump(s);
			assert_true(sim_check(s));
		}
	for (round = 0; round < 12 && !sim_converged(s); round++)
		for (i = 0; i < SIM_MEMBERS; i++)
			if (s->in_group[i]) {
				sim_heartbeat(s, i, 1, 1, 0);
				if (!sim_check(s))
					fail_msg("converging: %s",
						 s->violation);
			}
	if (!sim_converged(s))
		fail_msg("no convergence after %u rounds", round);
	s->stats[ST_CONVERGED]++;
}

static void sim_init(struct sim *s, uint64_t seed, sim_step_fn step)
{
	memset(s, 0, sizeof(*s));
	s->rng = seed;
	s->step = step;
	s->parts[0] = 8;
	s->parts[1] = 4;
}

static void sim_free(struct sim *s)
{
	uint32_t i;

	for (i = 0; i < SIM_MEMBERS; i++)
		rc_member_free(&s->rec[i]);
}

static void test_simulation(void **state)
{
	static const char *names[ST_COUNT] = {"unchanged stable",
					      "unchanged unrevoked",
					      "unchanged unreleased",
					      "stable->stable",
					      "stable->unrevoked",
					      "stable->unreleased",
					      "unrevoked->stable",
					      "unrevoked->unrevoked",
					      "unrevoked->unreleased",
					      "unreleased->stable",
					      "unreleased->unrevoked",
					      "unreleased->unreleased",
					      "retries accepted",
					      "fenced (rejoined)",
					      "answers lost",
					      "joins",
					      "leaves",
					      "crashes",
					      "expiries",
					      "rebalance timeouts",
					      "target changes",
					      "convergences"};
	unsigned long total[ST_COUNT] = {0}, steps = 0;
	uint64_t seed;
	unsigned k;

	(void)state;
	for (seed = 1; seed <= 40; seed++) {
		struct sim *s = calloc(1, sizeof(*s));
		uint32_t step;

		assert_non_null(s);
		sim_init(s, seed, rc_next);
		for (step = 0; step < 3000; step++) {
			sim_event(s);
			steps++;
			if (!sim_check(s))
				fail_msg("seed %llu step %u: %s",
					 (unsigned long long)seed, step,
					 s->violation);
			if (step % 500 == 499)
				sim_converge(s);
		}
		sim_converge(s);
		for (k = 0; k < ST_COUNT; k++)
			total[k] += s->stats[k];
		sim_free(s);
		free(s);
	}
	print_message("%lu random steps, 40 groups:\n", steps);
	for (k = 0; k < ST_COUNT; k++)
		print_message("  %-24s %lu\n", names[k], total[k]);
	/* Every transition and event happened. */
	for (k = 0; k < ST_COUNT; k++)
		if (total[k] == 0)
			fail_msg("never happened: %s", names[k]);
}

/* The same simulation with a reconciler that hands out the target at
 * once finds a partition with two owners: the checks have teeth. */
static void test_simulation_catches_naive(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 5; seed++) {
		struct sim *s = calloc(1, sizeof(*s));
		uint32_t step;

		assert_non_null(s);
		sim_init(s, seed, naive_next);
		for (step = 0; step < 3000 && sim_check(s); step++)
			sim_event(s);
		assert_true(s->violation[0] != '\0');
		sim_free(s);
		free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sets),
	    cmocka_unit_test(test_stable_same_epoch),
	    cmocka_unit_test(test_stable_must_revoke),
	    cmocka_unit_test(test_stable_already_dropped),
	    cmocka_unit_test(test_stable_grows),
	    cmocka_unit_test(test_unrevoked_waits),
	    cmocka_unit_test(test_unrevoked_done),
	    cmocka_unit_test(test_unreleased),
	    cmocka_unit_test(test_join),
	    cmocka_unit_test(test_unknown_state),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_topics),
	    cmocka_unit_test(test_docs_example),
	    cmocka_unit_test(test_check_epoch),
	    cmocka_unit_test(test_lost_answer),
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_exclusive),
	    cmocka_unit_test(test_well_formed),
	    cmocka_unit_test(test_simulation),
	    cmocka_unit_test(test_simulation_catches_naive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
