/* Unit tests: replica placement (controller/placement.c, pure). Properties
 * checked over thousands of random clusters (skewed racks, brokers without
 * a rack, pre-existing load), plus fixed cases, determinism, bad input and
 * a timing print (never asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "placement.h"

#define MAX_B 128

static const char *const rack_names[] = {"big", "r1", "r2", "r3",
					 "r4",	"r5", "r6", "r7"};

struct rng {
	uint64_t s;
};

static uint64_t rnd64(struct rng *r)
{
	uint64_t x = (r->s += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Uniform in [lo, hi]. */
static uint32_t rnd(struct rng *r, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rnd64(r) % ((uint64_t)hi - lo + 1));
}

/* A cluster and one placement over it, with what the checks need. */
struct tcase {
	unsigned num;
	struct pl_broker b[MAX_B];
	uint32_t rep0[MAX_B], lead0[MAX_B]; /* counts before */
	size_t nb;
	uint32_t rack[MAX_B]; /* broker -> rack index (test's own) */
	uint32_t rsize[MAX_B];
	uint32_t nr;
	uint32_t np, rf, seed;
	int32_t *out;
};

#define CHECK(tc, cond)                                                        \
	do {                                                                   \
		if (!(cond))                                                   \
			fail_msg("case %u (brokers %zu racks %u rf %u "        \
				 "partitions %u seed %u): %s",                 \
				 (tc)->num, (tc)->nb, (tc)->nr, (tc)->rf,      \
				 (tc)->np, (tc)->seed, #cond);                 \
	} while (0)

static const char *rack_of(const struct pl_broker *b)
{
	return b->rack ? b->rack : "";
}

/* Index the racks of tc->b (NULL and "" are the same rack). */
static void index_racks(struct tcase *tc)
{
	size_t i, j;

	tc->nr = 0;
	memset(tc->rsize, 0, sizeof(tc->rsize));
	for (i = 0; i < tc->nb; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(rack_of(&tc->b[i]), rack_of(&tc->b[j])) == 0)
				break;
		tc->rack[i] = j < i ? tc->rack[j] : tc->nr++;
		tc->rsize[tc->rack[i]]++;
	}
}

static void snapshot_counts(struct tcase *tc)
{
	size_t i;

	for (i = 0; i < tc->nb; i++) {
		tc->rep0[i] = tc->b[i].replicas;
		tc->lead0[i] = tc->b[i].leaders;
	}
}

static long broker_index(const struct tcase *tc, int32_t id)
{
	size_t i;

	for (i = 0; i < tc->nb; i++)
		if (tc->b[i].id == id)
			return (long)i;
	return -1;
}

/* Random cluster: 1-60 brokers, 0-8 racks in one of several shapes. */
static void random_cluster(struct tcase *tc, struct rng *r, int loaded)
{
	uint32_t nracks = rnd(r, 0, 8), shape = rnd(r, 0, 3);
	int32_t next_id = (int32_t)rnd(r, 0, 1000);
	size_t i;

	memset(tc->b, 0, sizeof(tc->b));
	tc->nb = rnd(r, 1, 60);
	for (i = 0; i < tc->nb; i++) {
		struct pl_broker *b = &tc->b[i];
		uint32_t k = nracks ? rnd(r, 0, nracks - 1) : 0;

		b->id = next_id;
		next_id += (int32_t)rnd(r, 1, 5);
		b->rack = rnd(r, 0, 1) ? NULL : "";
		if (nracks == 0)
			continue;
		switch (shape) {
		case 0: /* uniform */
			b->rack = rack_names[k];
			break;
		case 1: /* one big rack, the others mostly singletons */
			if (rnd(r, 0, 9) < 6 || i >= nracks)
				b->rack = "big";
			else
				b->rack = rack_names[i % nracks];
			break;
		case 2: /* some brokers without a rack */
			if (rnd(r, 0, 9) >= 3)
				b->rack = rack_names[k];
			break;
		default: /* round robin: equal sizes */
			b->rack = rack_names[i % nracks];
			break;
		}
	}
	/* The brokers come in no particular order. */
	for (i = tc->nb; i > 1; i--) {
		size_t j = rnd(r, 0, (uint32_t)i - 1);
		struct pl_broker t = tc->b[i - 1];

		tc->b[i - 1] = tc->b[j];
		tc->b[j] = t;
	}
	if (loaded)
		for (i = 0; i < tc->nb; i++) {
			tc->b[i].replicas = rnd(r, 0, 60);
			tc->b[i].leaders = rnd(r, 0, tc->b[i].replicas);
		}
	index_racks(tc);
}

/* Lower bound of the maximum replica count any valid placement reaches:
 * the smallest level such that brokers filled up to it (at most one
 * replica per partition each) can take every rack's share. A rack takes
 * at most one replica per partition when rf <= racks, and at least one
 * and at most min(size, rf - racks + 1) otherwise. */
static uint32_t best_max(const struct tcase *tc)
{
	uint32_t lam = 0;
	uint64_t need = (uint64_t)tc->np * tc->rf;

	for (;; lam++) {
		uint64_t total = 0;
		uint32_t r;
		int ok = 1;

		for (r = 0; r < tc->nr; r++) {
			uint64_t cap = 0, lo, hi;
			size_t i;

			for (i = 0; i < tc->nb; i++) {
				uint32_t e = tc->rep0[i], room;

				if (tc->rack[i] != r || e >= lam)
					continue;
				room = lam - e;
				cap += room < tc->np ? room : tc->np;
			}
			if (tc->rf <= tc->nr) {
				lo = 0;
				hi = tc->np;
			} else {
				uint32_t h = tc->rf - tc->nr + 1;

				lo = tc->np;
				hi = (uint64_t)tc->np *
				     (h < tc->rsize[r] ? h : tc->rsize[r]);
			}
			if (cap < lo)
				ok = 0;
			total += cap < hi ? cap : hi;
		}
		if (ok && total >= need)
			return lam;
	}
}

/* Checks that hold for every placement. */
static void check_rules(struct tcase *tc)
{
	uint32_t spread = tc->rf < tc->nr ? tc->rf : tc->nr;
	uint32_t newrep[MAX_B] = {0}, newlead[MAX_B] = {0};
	uint32_t p, k, j;
	size_t i;

	for (p = 0; p < tc->np; p++) {
		const int32_t *o = tc->out + (size_t)p * tc->rf;
		uint32_t rcnt[MAX_B] = {0}, nd = 0;

		for (k = 0; k < tc->rf; k++) {
			long bi = broker_index(tc, o[k]);

			CHECK(tc, bi >= 0);
			for (j = 0; j < k; j++)
				CHECK(tc, o[j] != o[k]);
			if (rcnt[tc->rack[bi]]++ == 0)
				nd++;
			newrep[bi]++;
			if (k == 0)
				newlead[bi]++;
		}
		CHECK(tc, nd == spread);
	}
	/* Counts updated with exactly what was placed. */
	for (i = 0; i < tc->nb; i++) {
		CHECK(tc, tc->b[i].replicas == tc->rep0[i] + newrep[i]);
		CHECK(tc, tc->b[i].leaders == tc->lead0[i] + newlead[i]);
	}
}

static void min_max(const struct tcase *tc, int leaders, uint32_t *mn,
		    uint32_t *mx)
{
	size_t i;

	*mn = UINT32_MAX;
	*mx = 0;
	for (i = 0; i < tc->nb; i++) {
		uint32_t v = leaders ? tc->b[i].leaders : tc->b[i].replicas;

		if (v < *mn)
			*mn = v;
		if (v > *mx)
			*mx = v;
	}
}

/* Leaders fill up like water: a broker given a leader by this call ends at
 * most one above the final minimum; from equal counts all within one. */
static void check_leaders(struct tcase *tc)
{
	uint32_t mn, mx;
	size_t i;
	int equal = 1;

	min_max(tc, 1, &mn, &mx);
	for (i = 0; i < tc->nb; i++) {
		if (tc->b[i].leaders > tc->lead0[i])
			CHECK(tc, tc->b[i].leaders <= mn + 1);
		if (tc->lead0[i] != tc->lead0[0])
			equal = 0;
	}
	if (equal)
		CHECK(tc, mx - mn <= 1);
}

/* No follower placed here can move to a broker with at least two
 * replicas fewer without losing rack spread (or distinctness). */
static void check_local_optimum(struct tcase *tc)
{
	uint32_t spread = tc->rf < tc->nr ? tc->rf : tc->nr;
	uint32_t p, k;

	for (p = 0; p < tc->np; p++) {
		const int32_t *o = tc->out + (size_t)p * tc->rf;
		uint32_t rcnt[MAX_B] = {0}, nd = 0;
		uint8_t in[MAX_B] = {0};
		size_t y;

		for (k = 0; k < tc->rf; k++) {
			long bi = broker_index(tc, o[k]);

			in[bi] = 1;
			if (rcnt[tc->rack[bi]]++ == 0)
				nd++;
		}
		for (k = 1; k < tc->rf; k++) {
			long bi = broker_index(tc, o[k]);
			uint32_t rb = tc->rack[bi];

			for (y = 0; y < tc->nb; y++) {
				uint32_t ry = tc->rack[y], after = nd;

				if (in[y] ||
				    tc->b[y].replicas + 2 > tc->b[bi].replicas)
					continue;
				/* racks after replacing o[k] by y */
				if (rb != ry) {
					after -= rcnt[rb] == 1;
					after += rcnt[ry] == 0;
				}
				CHECK(tc, after < spread);
			}
		}
	}
}

/* From zero load: one rack (or none) -> all within one; racks -> within
 * one inside each rack, and the maximum at most one above the bound. */
static void check_zero_load_balance(struct tcase *tc)
{
	uint32_t mn, mx, r;
	size_t i;

	min_max(tc, 0, &mn, &mx);
	if (tc->nr == 1)
		CHECK(tc, mx - mn <= 1);
	for (r = 0; r < tc->nr; r++) {
		uint32_t rmn = UINT32_MAX, rmx = 0;

		for (i = 0; i < tc->nb; i++) {
			if (tc->rack[i] != r)
				continue;
			if (tc->b[i].replicas < rmn)
				rmn = tc->b[i].replicas;
			if (tc->b[i].replicas > rmx)
				rmx = tc->b[i].replicas;
		}
		CHECK(tc, rmx - rmn <= 1);
	}
	CHECK(tc, mx <= best_max(tc) + 1);
}

static int run_case(struct tcase *tc)
{
	int rc;

	snapshot_counts(tc);
	tc->out = malloc((size_t)tc->np * tc->rf * sizeof(*tc->out));
	assert_non_null(tc->out);
	rc = placement_assign(tc->b, tc->nb, tc->np, tc->rf, tc->seed, tc->out);
	CHECK(tc, rc == PL_OK);
	check_rules(tc);
	check_leaders(tc);
	check_local_optimum(tc);
	return rc;
}

static void test_random_zero_load(void **state)
{
	struct rng r = {12345};
	struct tcase *tc = calloc(1, sizeof(*tc));
	unsigned n, at_bound = 0, over = 0;

	(void)state;
	assert_non_null(tc);
	for (n = 0; n < 2000; n++) {
		uint32_t lim;

		tc->num = n;
		random_cluster(tc, &r, 0);
		lim = tc->nb < 5 ? (uint32_t)tc->nb : 5;
		tc->rf = rnd(&r, 1, lim);
		tc->np = rnd(&r, 1, 500);
		tc->seed = (uint32_t)rnd64(&r);
		run_case(tc);
		check_zero_load_balance(tc);
		{
			uint32_t mn, mx;

			min_max(tc, 0, &mn, &mx);
			if (mx == best_max(tc))
				at_bound++;
			else
				over++;
		}
		free(tc->out);
	}
	print_message("zero load: max replicas at the bound in %u cases, "
		      "one above in %u\n",
		      at_bound, over);
	free(tc);
}

static void test_random_loaded(void **state)
{
	struct rng r = {777};
	struct tcase *tc = calloc(1, sizeof(*tc));
	unsigned n;

	(void)state;
	assert_non_null(tc);
	for (n = 0; n < 1000; n++) {
		uint32_t lim;

		tc->num = n;
		random_cluster(tc, &r, 1);
		lim = tc->nb < 5 ? (uint32_t)tc->nb : 5;
		tc->rf = rnd(&r, 1, lim);
		tc->np = rnd(&r, 1, 300);
		tc->seed = (uint32_t)rnd64(&r);
		run_case(tc);
		free(tc->out);
	}
	free(tc);
}

/* Several topics in a row, from zero, over no rack or racks of equal
 * sizes: the counts carry over and the cluster stays balanced as a whole.
 * Leaders stay within one (guaranteed). Replicas stay within one when the
 * topics share their RF. With mixed RFs no placement that cannot see the
 * next topics can promise that for both counts: with two brokers, R = L +
 * followers, an RF 2 topic fixes the followers by its leaders, and a later
 * RF 1 topic may then have to pick between balancing R and balancing L;
 * leader balance wins, so only the spread of replicas is printed there. */
static void test_topics_in_a_row(void **state)
{
	struct rng r = {99};
	struct tcase *tc = calloc(1, sizeof(*tc));
	unsigned n, t, worst = 0, over1 = 0;

	(void)state;
	assert_non_null(tc);
	for (n = 0; n < 600; n++) {
		uint32_t racks = rnd(&r, 0, 4), per = rnd(&r, 1, 6), lim;
		int mixed = n % 2;
		size_t i;

		memset(tc->b, 0, sizeof(tc->b));
		tc->nb = racks ? racks * per : rnd(&r, 1, 40);
		for (i = 0; i < tc->nb; i++) {
			tc->b[i].id = (int32_t)(100 + i);
			tc->b[i].rack = racks ? rack_names[i % racks] : NULL;
		}
		index_racks(tc);
		lim = tc->nb < 5 ? (uint32_t)tc->nb : 5;
		for (t = 0; t < 6; t++) {
			uint32_t mn, mx;

			tc->num = n * 10 + t;
			if (t == 0 || mixed)
				tc->rf = rnd(&r, 1, lim);
			tc->np = rnd(&r, 1, 200);
			tc->seed = n + t;
			run_case(tc);
			free(tc->out);
			min_max(tc, 1, &mn, &mx);
			CHECK(tc, mx - mn <= 1);
			min_max(tc, 0, &mn, &mx);
			if (!mixed)
				CHECK(tc, mx - mn <= 1);
			else if (mx - mn > 1)
				over1++;
			if (mixed && mx - mn > worst)
				worst = mx - mn;
		}
	}
	print_message("mixed RFs: replica spread above one after %u of 1800 "
		      "placements, at most %u\n",
		      over1, worst);
	free(tc);
}

static void test_fixed_cases(void **state)
{
	struct tcase tc;
	uint32_t mn, mx;
	size_t i;

	(void)state;
	/* More partitions than brokers, no racks: exact shares. */
	memset(&tc, 0, sizeof(tc));
	tc.nb = 7;
	for (i = 0; i < tc.nb; i++)
		tc.b[i].id = (int32_t)i;
	index_racks(&tc);
	tc.rf = 3;
	tc.np = 100;
	run_case(&tc);
	free(tc.out);
	min_max(&tc, 0, &mn, &mx);
	assert_int_equal(mn, 300 / 7);
	assert_int_equal(mx, 300 / 7 + 1);
	min_max(&tc, 1, &mn, &mx);
	assert_int_equal(mn, 100 / 7);
	assert_int_equal(mx, 100 / 7 + 1);

	/* Racks of 4, 1 and 1 brokers, RF 2: every partition spans two
	 * racks, so the big rack takes one replica of every partition (25
	 * on each of its brokers) and the singletons share the others. */
	memset(&tc, 0, sizeof(tc));
	tc.nb = 6;
	for (i = 0; i < tc.nb; i++) {
		tc.b[i].id = (int32_t)(10 + i);
		tc.b[i].rack = i < 4 ? "a" : i == 4 ? "b" : "c";
	}
	index_racks(&tc);
	tc.rf = 2;
	tc.np = 100;
	run_case(&tc);
	free(tc.out);
	for (i = 0; i < 4; i++)
		assert_int_equal(tc.b[i].replicas, 25);
	assert_int_equal(tc.b[4].replicas, 50);
	assert_int_equal(tc.b[5].replicas, 50);
	/* Leaders are not bound to racks: 100 over 6 brokers. */
	min_max(&tc, 1, &mn, &mx);
	assert_int_equal(mn, 16);
	assert_int_equal(mx, 17);

	/* RF above the number of racks: every rack still used. */
	memset(&tc, 0, sizeof(tc));
	tc.nb = 5;
	for (i = 0; i < tc.nb; i++) {
		tc.b[i].id = (int32_t)i;
		tc.b[i].rack = i == 0 ? "x" : "y";
	}
	index_racks(&tc);
	tc.rf = 4;
	tc.np = 10;
	run_case(&tc); /* check_rules: spread 2 in every partition */
	free(tc.out);
	assert_int_equal(tc.b[0].replicas, 10);
	for (i = 1; i < tc.nb; i++)
		assert_in_range(tc.b[i].replicas, 7, 8); /* 30 over 4 */

	/* A broker already far ahead is left alone until the others catch
	 * up. */
	memset(&tc, 0, sizeof(tc));
	tc.nb = 4;
	for (i = 0; i < tc.nb; i++)
		tc.b[i].id = (int32_t)i;
	tc.b[2].replicas = 50;
	tc.b[2].leaders = 20;
	index_racks(&tc);
	tc.rf = 2;
	tc.np = 30;
	run_case(&tc);
	for (i = 0; i < (size_t)tc.np * tc.rf; i++)
		assert_int_not_equal(tc.out[i], 2);
	free(tc.out);
	assert_int_equal(tc.b[2].replicas, 50);
	assert_int_equal(tc.b[0].replicas, 20);
	assert_int_equal(tc.b[0].leaders, 10);
}

static void place_cluster(struct pl_broker *b, size_t nb, uint32_t np,
			  uint32_t rf, uint32_t seed, int32_t *out)
{
	assert_int_equal(placement_assign(b, nb, np, rf, seed, out), PL_OK);
}

static void test_deterministic(void **state)
{
	struct pl_broker a[30], b[30];
	int32_t *o1 = malloc(200 * 3 * sizeof(*o1));
	int32_t *o2 = malloc(200 * 3 * sizeof(*o2));
	int32_t first[20];
	size_t i;
	int distinct = 0;
	uint32_t s;

	(void)state;
	assert_non_null(o1);
	assert_non_null(o2);
	for (i = 0; i < 30; i++) {
		a[i].id = (int32_t)(i * 3 + 1);
		a[i].rack = i % 4 == 0 ? "r1" : i % 3 == 0 ? NULL : "r2";
		a[i].replicas = (uint32_t)(i % 7);
		a[i].leaders = (uint32_t)(i % 3);
	}
	/* Same input and seed: same output. */
	memcpy(b, a, sizeof(a));
	place_cluster(a, 30, 200, 3, 42, o1);
	place_cluster(b, 30, 200, 3, 42, o2);
	assert_memory_equal(o1, o2, 200 * 3 * sizeof(*o1));
	assert_memory_equal(a, b, sizeof(a));
	/* Brokers given in another order: same output. */
	for (i = 0; i < 30; i++)
		b[i] = a[29 - i];
	for (i = 0; i < 30; i++) {
		b[i].replicas = (uint32_t)((29 - i) % 7);
		b[i].leaders = (uint32_t)((29 - i) % 3);
		a[i].replicas = (uint32_t)(i % 7);
		a[i].leaders = (uint32_t)(i % 3);
	}
	place_cluster(a, 30, 200, 3, 42, o1);
	place_cluster(b, 30, 200, 3, 42, o2);
	assert_memory_equal(o1, o2, 200 * 3 * sizeof(*o1));
	/* The seed varies the ties: the first leader of a fresh cluster. */
	for (s = 0; s < 20; s++) {
		for (i = 0; i < 30; i++)
			a[i].replicas = a[i].leaders = 0;
		place_cluster(a, 30, 1, 1, s, o1);
		first[s] = o1[0];
		for (i = 0; i < s; i++)
			if (first[i] == first[s])
				break;
		distinct += i == s;
	}
	assert_true(distinct >= 5);
	free(o1);
	free(o2);
}

static void test_invalid_input(void **state)
{
	struct pl_broker b[4] = {
	    {1, "a", 0, 0}, {2, "b", 3, 1}, {3, NULL, 0, 0}, {4, "", 7, 7}};
	struct pl_broker keep[4];
	int32_t out[40];
	size_t i;

	(void)state;
	memcpy(keep, b, sizeof(b));
	for (i = 0; i < 40; i++)
		out[i] = -7;
	assert_int_equal(placement_assign(b, 4, 10, 0, 1, out), PL_EINVALID_RF);
	assert_int_equal(placement_assign(b, 4, 10, 5, 1, out), PL_EINVALID_RF);
	assert_int_equal(placement_assign(b, 0, 10, 1, 1, out), PL_EINVALID_RF);
	assert_int_equal(placement_assign(NULL, 0, 10, 1, 1, out),
			 PL_EINVALID_RF);
	assert_int_equal(placement_assign(b, 4, 0, 1, 1, out), PL_EINVALID);
	assert_int_equal(placement_assign(b, 4, 10, 1, 1, NULL), PL_EINVALID);
	b[3].id = 2; /* duplicate id */
	assert_int_equal(placement_assign(b, 4, 10, 2, 1, out), PL_EINVALID);
	b[3].id = -1; /* negative id */
	assert_int_equal(placement_assign(b, 4, 10, 2, 1, out), PL_EINVALID);
	b[3].id = 4;
	b[1].replicas = UINT32_MAX - 5; /* would overflow */
	assert_int_equal(placement_assign(b, 4, 10, 2, 1, out), PL_EINVALID);
	b[1].replicas = 3;
	/* Nothing written by any refused call. */
	assert_memory_equal(b, keep, sizeof(b));
	for (i = 0; i < 40; i++)
		assert_int_equal(out[i], -7);
	/* And the valid call next to them works: rf = number of brokers. */
	assert_int_equal(placement_assign(b, 4, 10, 4, 1, out), PL_OK);
	assert_int_equal(b[0].replicas, 10);
	assert_int_equal(b[3].replicas, 17);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Prints how long big placements take; asserts only their validity. */
static void test_timing(void **state)
{
	static const uint32_t racks[] = {0, 5, 3};
	struct tcase *tc = calloc(1, sizeof(*tc));
	unsigned v;

	(void)state;
	assert_non_null(tc);
	for (v = 0; v < 3; v++) {
		double t0, t1;
		size_t i;

		memset(tc->b, 0, sizeof(tc->b));
		tc->nb = 100;
		for (i = 0; i < tc->nb; i++) {
			tc->b[i].id = (int32_t)i;
			if (v == 1)
				tc->b[i].rack = rack_names[i % racks[v]];
			if (v == 2) /* skewed: 98 in one rack, 2 singletons */
				tc->b[i].rack =
				    i < 98 ? "big" : rack_names[i - 97];
		}
		index_racks(tc);
		snapshot_counts(tc);
		tc->rf = 3;
		tc->np = 100000;
		tc->out = malloc((size_t)tc->np * tc->rf * sizeof(*tc->out));
		assert_non_null(tc->out);
		t0 = now_ms();
		assert_int_equal(
		    placement_assign(tc->b, tc->nb, tc->np, tc->rf, 1, tc->out),
		    PL_OK);
		t1 = now_ms();
		print_message("100000 partitions x RF 3 over 100 brokers, %u "
			      "racks%s: %.1f ms\n",
			      tc->nr, v == 2 ? " (skewed)" : "", t1 - t0);
		check_rules(tc);
		free(tc->out);
	}
	free(tc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_invalid_input),
	    cmocka_unit_test(test_fixed_cases),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_random_zero_load),
	    cmocka_unit_test(test_random_loaded),
	    cmocka_unit_test(test_topics_in_a_row),
	    cmocka_unit_test(test_timing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
