/* Unit tests: server-side assignors (controller/assignor.c, pure).
 *
 * Invariants checked on every result (fixed cases and thousands of random
 * groups from a seeded PRNG):
 *  - complete and exclusive: every partition of a subscribed topic goes to
 *    exactly one member subscribed to its topic, nothing else is assigned,
 *    each member's keys are sorted and distinct;
 *  - uniform balance: homogeneous subscriptions give sizes within one;
 *    in general no chain of moves (A hands a partition of t to a member
 *    subscribed to t, ...) reaches a member two smaller than A, and the
 *    sum of squared sizes equals the optimum of a reference min-cost flow;
 *  - uniform stickiness: homogeneous without racks, the partitions kept by
 *    their current owner are exactly the maximum (reference formula); a
 *    single join or leave from a balanced assignment moves at most
 *    ceil(P/M) partitions (join) or just the leaver's (leave); with
 *    heterogeneous subscriptions the moves stay within ceil(P/M) of the
 *    reference optimum (min-cost flow: optimal balance, then stickiness);
 *    the result is a fixpoint (given back as current, nothing moves);
 *  - rack: the number of local placements equals the reference max-flow
 *    for balanced sizes (homogeneous), rack before stickiness;
 *  - range: per topic contiguous ranges in (instance id, member id) order,
 *    the first P % n one larger; co-partitioning; with racks, the same
 *    sizes, co-partitioning kept and locality equal to the reference;
 *  - determinism: same input twice gives the same result; members and
 *    topics given in another order give each member the same partitions.
 * A timing print (never asserted) closes; tests/unit/bench_assignor.c
 * measures the large cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "assignor.h"
#include "synod/client.h"

#define MAXT 8
#define MAXM 24
#define MAXPP 40
#define MAXK (MAXT * MAXPP)

/* ---- PRNG ---- */

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

/* ---- a test group: plain arrays, pointers fixed by tg_fix() ---- */

struct tg {
	unsigned num; /* case number, for messages */
	uint32_t nt, nm;
	int rack_aware;
	struct asg_topic t[MAXT];
	int has_masks[MAXT];
	uint64_t masks[MAXT][MAXPP];
	struct asg_member m[MAXM];
	char ids[MAXM][24], inst[MAXM][24];
	int has_inst[MAXM];
	uint32_t subs[MAXM][MAXT];
	uint64_t cur[MAXM][MAXK + 8];
};

static void tg_fix(struct tg *g)
{
	for (uint32_t i = 0; i < g->nt; i++)
		g->t[i].rack_masks = g->has_masks[i] ? g->masks[i] : NULL;
	for (uint32_t i = 0; i < g->nm; i++) {
		g->m[i].member_id = g->ids[i];
		g->m[i].instance_id = g->has_inst[i] ? g->inst[i] : NULL;
		g->m[i].topics = g->subs[i];
		g->m[i].current = g->cur[i];
	}
}

static struct asg_input tg_input(const struct tg *g)
{
	struct asg_input in = {g->t, g->nt, g->m, g->nm, g->rack_aware};

	return in;
}

static uint64_t key(int64_t tid, uint32_t p)
{
	return (uint64_t)tid << 32 | p;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static long topic_of(const struct tg *g, int64_t tid)
{
	for (uint32_t i = 0; i < g->nt; i++)
		if (g->t[i].tid == tid)
			return (long)i;
	return -1;
}

static int subscribes(const struct tg *g, uint32_t m, uint32_t t)
{
	for (uint32_t k = 0; k < g->m[m].n_topics; k++)
		if (g->subs[m][k] == t)
			return 1;
	return 0;
}

static int subscribed_by_any(const struct tg *g, uint32_t t)
{
	for (uint32_t m = 0; m < g->nm; m++)
		if (subscribes(g, m, t))
			return 1;
	return 0;
}

static int homogeneous(const struct tg *g)
{
	long first = -1;

	for (uint32_t m = 0; m < g->nm; m++) {
		if (g->m[m].n_topics == 0)
			continue;
		if (first < 0)
			first = m;
		else if (g->m[m].n_topics != g->m[first].n_topics ||
			 memcmp(g->subs[m], g->subs[first],
				g->m[m].n_topics * sizeof(uint32_t)))
			return 0;
	}
	return 1;
}

static uint32_t total_partitions(const struct tg *g)
{
	uint32_t P = 0;

	for (uint32_t t = 0; t < g->nt; t++)
		if (subscribed_by_any(g, t))
			P += g->t[t].partitions;
	return P;
}

/* The documented rule for `current`: a valid key (known topic the member
 * subscribes to, partition in range) counts for the smallest member id
 * listing it. vown[t][p] = that member or -1. */
static void valid_owners(const struct tg *g, int vown[MAXT][MAXPP])
{
	for (uint32_t t = 0; t < MAXT; t++)
		for (uint32_t p = 0; p < MAXPP; p++)
			vown[t][p] = -1;
	for (uint32_t m = 0; m < g->nm; m++)
		for (uint32_t k = 0; k < g->m[m].n_current; k++) {
			uint64_t kk = g->cur[m][k];
			long t = topic_of(g, (int64_t)(kk >> 32));
			uint32_t p = (uint32_t)kk;
			int *o;

			if (t < 0 || p >= g->t[t].partitions ||
			    !subscribes(g, m, (uint32_t)t))
				continue;
			o = &vown[t][p];
			if (*o < 0 || strcmp(g->ids[m], g->ids[*o]) < 0)
				*o = (int)m;
		}
}

/* ---- results ---- */

struct res {
	uint32_t n[MAXM];
	uint64_t k[MAXM][MAXK];
	int own[MAXT][MAXPP]; /* member or -1 */
	uint32_t P;	      /* assigned in all */
};

#define CHECK(g, cond)                                                         \
	do {                                                                   \
		if (!(cond))                                                   \
			fail_msg("case %u (members %u topics %u): %s",         \
				 (g)->num, (g)->nm, (g)->nt, #cond);           \
	} while (0)

/* Complete and exclusive, sorted, subscribed; fills *r. */
static void check_valid(const struct tg *g, const struct asg_result *out,
			struct res *r)
{
	memset(r, 0, sizeof *r);
	for (uint32_t t = 0; t < MAXT; t++)
		for (uint32_t p = 0; p < MAXPP; p++)
			r->own[t][p] = -1;
	CHECK(g, out->n_members == g->nm);
	for (uint32_t m = 0; m < g->nm; m++) {
		CHECK(g, out->n_assigned[m] <= MAXK);
		CHECK(g, out->n_assigned[m] == 0 || out->assigned[m] != NULL);
		r->n[m] = out->n_assigned[m];
		for (uint32_t k = 0; k < r->n[m]; k++) {
			uint64_t kk = out->assigned[m][k];
			long t = topic_of(g, (int64_t)(kk >> 32));
			uint32_t p = (uint32_t)kk;

			r->k[m][k] = kk;
			CHECK(g, k == 0 || kk > out->assigned[m][k - 1]);
			CHECK(g, t >= 0);
			CHECK(g, p < g->t[t].partitions);
			CHECK(g, subscribes(g, m, (uint32_t)t));
			CHECK(g, r->own[t][p] < 0);
			r->own[t][p] = (int)m;
			r->P++;
		}
	}
	for (uint32_t t = 0; t < g->nt; t++)
		if (subscribed_by_any(g, t))
			for (uint32_t p = 0; p < g->t[t].partitions; p++)
				CHECK(g, r->own[t][p] >= 0);
	CHECK(g, r->P == total_partitions(g));
}

static uint32_t retained(const struct tg *g, const struct res *r)
{
	int vown[MAXT][MAXPP];
	uint32_t n = 0;

	valid_owners(g, vown);
	for (uint32_t t = 0; t < g->nt; t++)
		for (uint32_t p = 0; p < g->t[t].partitions; p++)
			n += vown[t][p] >= 0 && vown[t][p] == r->own[t][p];
	return n;
}

static uint32_t local_count(const struct tg *g, const struct res *r)
{
	uint32_t n = 0;

	for (uint32_t t = 0; t < g->nt; t++)
		for (uint32_t p = 0; p < g->t[t].partitions; p++) {
			int o = r->own[t][p];

			if (o >= 0 && g->m[o].rack >= 0 && g->has_masks[t] &&
			    (g->masks[t][p] >> g->m[o].rack & 1))
				n++;
		}
	return n;
}

static uint64_t sum_squares(const struct tg *g, const struct res *r)
{
	uint64_t s = 0;

	for (uint32_t m = 0; m < g->nm; m++)
		s += (uint64_t)r->n[m] * r->n[m];
	return s;
}

/* No member A reaches, by a chain of single moves, a member B subscribed
 * along the way with |B| <= |A| - 2. */
static void check_no_improving_chain(const struct tg *g, const struct res *r)
{
	for (uint32_t a = 0; a < g->nm; a++) {
		int seen[MAXM] = {0};
		uint32_t q[MAXM], qh = 0, qt = 0;

		seen[a] = 1;
		q[qt++] = a;
		while (qh < qt) {
			uint32_t x = q[qh++];

			for (uint32_t t = 0; t < g->nt; t++) {
				int holds = 0;

				for (uint32_t p = 0; p < g->t[t].partitions;
				     p++)
					holds |= r->own[t][p] == (int)x;
				if (!holds)
					continue;
				for (uint32_t y = 0; y < g->nm; y++)
					if (!seen[y] && subscribes(g, y, t)) {
						seen[y] = 1;
						q[qt++] = y;
						if (r->n[y] + 2 <= r->n[a])
							fail_msg("case %u: "
								 "member %u "
								 "(%u) can "
								 "give to %u "
								 "(%u)",
								 g->num, a,
								 r->n[a], y,
								 r->n[y]);
					}
			}
		}
	}
}

static void check_same_result(const struct tg *g, const struct res *a,
			      const struct res *b)
{
	for (uint32_t m = 0; m < g->nm; m++) {
		CHECK(g, a->n[m] == b->n[m]);
		CHECK(g, memcmp(a->k[m], b->k[m], a->n[m] * sizeof(uint64_t)) ==
			     0);
	}
}

static void run(const struct tg *g, asg_fn fn, struct res *r)
{
	struct asg_input in = tg_input(g);
	struct asg_result out;

	CHECK(g, fn(&in, &out) == SYNOD_OK);
	check_valid(g, &out, r);
	asg_result_free(&out);
	CHECK(g, out.assigned == NULL && out.n_members == 0);
}

/* Current of every member := its result in r. */
static void set_current(struct tg *g, const struct res *r)
{
	for (uint32_t m = 0; m < g->nm; m++) {
		memcpy(g->cur[m], r->k[m], r->n[m] * sizeof(uint64_t));
		g->m[m].n_current = r->n[m];
	}
}

/* ---- reference solvers (small, obviously correct, slow) ---- */

#define FN 400	 /* nodes */
#define FA 24000 /* arcs, with reverses */

struct flow {
	int n, na;
	int head[FN], nxt[FA], to[FA];
	long cap[FA], cost[FA];
};

static void fl_init(struct flow *f, int n)
{
	f->n = n;
	f->na = 0;
	for (int i = 0; i < n; i++)
		f->head[i] = -1;
}

static void fl_add(struct flow *f, int u, int v, long cap, long cost)
{
	assert_true(f->na + 2 <= FA && u < FN && v < FN);
	f->to[f->na] = v;
	f->cap[f->na] = cap;
	f->cost[f->na] = cost;
	f->nxt[f->na] = f->head[u];
	f->head[u] = f->na++;
	f->to[f->na] = u;
	f->cap[f->na] = 0;
	f->cost[f->na] = -cost;
	f->nxt[f->na] = f->head[v];
	f->head[v] = f->na++;
}

/* Max flow, Edmonds-Karp. */
static long fl_max(struct flow *f, int s, int t)
{
	long total = 0;

	for (;;) {
		int pe[FN], q[FN], qh = 0, qt = 0;

		for (int i = 0; i < f->n; i++)
			pe[i] = -2;
		pe[s] = -1;
		q[qt++] = s;
		while (qh < qt && pe[t] == -2) {
			int u = q[qh++];

			for (int a = f->head[u]; a >= 0; a = f->nxt[a])
				if (f->cap[a] > 0 && pe[f->to[a]] == -2) {
					pe[f->to[a]] = a;
					q[qt++] = f->to[a];
				}
		}
		if (pe[t] == -2)
			return total;
		long d = 1L << 40;

		for (int v = t; v != s; v = f->to[pe[v] ^ 1])
			d = f->cap[pe[v]] < d ? f->cap[pe[v]] : d;
		for (int v = t; v != s; v = f->to[pe[v] ^ 1]) {
			f->cap[pe[v]] -= d;
			f->cap[pe[v] ^ 1] += d;
		}
		total += d;
	}
}

/* Min-cost flow of value need (successive shortest paths, SPFA). */
static long fl_mincost(struct flow *f, int s, int t, long need)
{
	long cost = 0;

	while (need > 0) {
		long dist[FN];
		int pe[FN], inq[FN] = {0}, q[FN], qh = 0, qn = 0;

		for (int i = 0; i < f->n; i++) {
			dist[i] = 1L << 60;
			pe[i] = -1;
		}
		dist[s] = 0;
		q[0] = s;
		qn = 1;
		inq[s] = 1;
		while (qn) {
			int u = q[qh];

			qh = (qh + 1) % FN;
			qn--;
			inq[u] = 0;
			for (int a = f->head[u]; a >= 0; a = f->nxt[a]) {
				int v = f->to[a];

				if (f->cap[a] > 0 &&
				    dist[u] + f->cost[a] < dist[v]) {
					dist[v] = dist[u] + f->cost[a];
					pe[v] = a;
					if (!inq[v]) {
						inq[v] = 1;
						q[(qh + qn++) % FN] = v;
					}
				}
			}
		}
		assert_true(pe[t] >= 0);
		long d = need;

		for (int v = t; v != s; v = f->to[pe[v] ^ 1])
			d = f->cap[pe[v]] < d ? f->cap[pe[v]] : d;
		for (int v = t; v != s; v = f->to[pe[v] ^ 1]) {
			f->cap[pe[v]] -= d;
			f->cap[pe[v] ^ 1] += d;
		}
		need -= d;
		cost += d * dist[t];
	}
	return cost;
}

/* Uniform's reference: among assignments minimizing the sum of squared
 * sizes, the largest number of partitions kept by their valid current
 * owner. Counts only (partitions of a topic are interchangeable). */
static void ref_uniform(const struct tg *g, uint64_t *sumsq, uint32_t *keep)
{
	static struct flow f;
	int vown[MAXT][MAXPP];
	int S = 0, T = 1, tb = 2, mb = 2 + (int)g->nt;
	uint32_t P = total_partitions(g);
	long W = (long)P + 1, cost;
	int sticky_arc[MAXM][MAXT];

	valid_owners(g, vown);
	fl_init(&f, mb + (int)g->nm);
	for (uint32_t t = 0; t < g->nt; t++)
		if (subscribed_by_any(g, t))
			fl_add(&f, S, tb + (int)t, g->t[t].partitions, 0);
	for (uint32_t m = 0; m < g->nm; m++) {
		uint32_t cap = 0;

		for (uint32_t t = 0; t < g->nt; t++) {
			uint32_t c = 0;

			sticky_arc[m][t] = -1;
			if (!subscribes(g, m, t))
				continue;
			for (uint32_t p = 0; p < g->t[t].partitions; p++)
				c += vown[t][p] == (int)m;
			sticky_arc[m][t] = f.na;
			fl_add(&f, tb + (int)t, mb + (int)m, c, -1);
			fl_add(&f, tb + (int)t, mb + (int)m, P, 0);
			cap += g->t[t].partitions;
		}
		for (uint32_t k = 1; k <= cap; k++)
			fl_add(&f, mb + (int)m, T, 1, W * (2 * (long)k - 1));
	}
	cost = fl_mincost(&f, S, T, P);
	*keep = 0;
	for (uint32_t m = 0; m < g->nm; m++)
		for (uint32_t t = 0; t < g->nt; t++)
			if (sticky_arc[m][t] >= 0)
				*keep += (uint32_t)f.cap[sticky_arc[m][t] ^ 1];
	/* cost = W * sum of squares - keep */
	*sumsq = (uint64_t)((cost + (long)*keep) / W);
}

static int local(const struct tg *g, uint32_t m, uint32_t t, uint32_t p)
{
	return g->m[m].rack >= 0 && g->has_masks[t] &&
	       (g->masks[t][p] >> g->m[m].rack & 1);
}

/* Most local placements possible with sizes floor/ceil(P/M) (homogeneous
 * subscriptions). */
static uint32_t ref_local_uniform(const struct tg *g)
{
	static struct flow f;
	uint32_t P = total_partitions(g), M = 0, q, x;
	int S = 0, T = 1, X = 2, pb = 3, mb, n = 0;
	int pn[MAXT][MAXPP];

	for (uint32_t m = 0; m < g->nm; m++)
		M += g->m[m].n_topics > 0;
	if (M == 0)
		return 0;
	q = P / M;
	x = P % M;
	mb = pb + (int)P;
	fl_init(&f, mb + (int)g->nm);
	for (uint32_t t = 0; t < g->nt; t++)
		if (subscribed_by_any(g, t))
			for (uint32_t p = 0; p < g->t[t].partitions; p++) {
				pn[t][p] = pb + n++;
				fl_add(&f, S, pn[t][p], 1, 0);
			}
	for (uint32_t m = 0; m < g->nm; m++) {
		if (g->m[m].n_topics == 0)
			continue;
		for (uint32_t t = 0; t < g->nt; t++)
			if (subscribes(g, m, t))
				for (uint32_t p = 0; p < g->t[t].partitions;
				     p++)
					if (local(g, m, t, p))
						fl_add(&f, pn[t][p],
						       mb + (int)m, 1, 0);
		fl_add(&f, mb + (int)m, T, q, 0);
		fl_add(&f, mb + (int)m, X, 1, 0);
	}
	fl_add(&f, X, T, x, 0);
	return (uint32_t)fl_max(&f, S, T);
}

/* ---- random groups ---- */

enum {
	G_HOMOG = 1,   /* one subscription for all (a few without topics) */
	G_RACKS = 2,   /* racks and rack masks, rack_aware */
	G_CURRENT = 4, /* random current assignments, some invalid keys */
	G_SMALL = 8,   /* small enough for the min-cost-flow reference */
};

static void gen_ids(struct tg *g, struct rng *r)
{
	uint32_t style = rnd(r, 0, 3), base = rnd(r, 0, 500);

	for (uint32_t i = 0; i < g->nm; i++) {
		uint32_t v = base + i * 4 + rnd(r, 0, 3); /* distinct */

		switch (style) {
		case 0:
			snprintf(g->ids[i], sizeof g->ids[i], "m%u", v);
			break;
		case 1: /* a long common prefix: ties of 8-byte prefixes */
			snprintf(g->ids[i], sizeof g->ids[i],
				 "consumer-member-%u", v);
			break;
		case 2:
			snprintf(g->ids[i], sizeof g->ids[i], "%08x-%04x",
				 (unsigned)rnd64(r), v);
			break;
		default: /* short ones, some prefixes of others */
			snprintf(g->ids[i], sizeof g->ids[i], "%u", v);
			break;
		}
		g->has_inst[i] = rnd(r, 0, 3) == 0;
		snprintf(g->inst[i], sizeof g->inst[i], "i%u",
			 (v * 7919u) % 1000u + 1000u * i);
	}
	/* members come in no particular order */
	for (uint32_t i = g->nm; i > 1; i--) {
		uint32_t j = rnd(r, 0, i - 1);
		char t[24];
		int h;

		memcpy(t, g->ids[i - 1], 24);
		memcpy(g->ids[i - 1], g->ids[j], 24);
		memcpy(g->ids[j], t, 24);
		memcpy(t, g->inst[i - 1], 24);
		memcpy(g->inst[i - 1], g->inst[j], 24);
		memcpy(g->inst[j], t, 24);
		h = g->has_inst[i - 1];
		g->has_inst[i - 1] = g->has_inst[j];
		g->has_inst[j] = h;
	}
}

static void random_subset(struct rng *r, uint32_t nt, uint32_t *out,
			  uint32_t *n, int nonempty)
{
	do {
		*n = 0;
		for (uint32_t t = 0; t < nt; t++)
			if (rnd(r, 0, 1))
				out[(*n)++] = t;
	} while (nonempty && *n == 0 && nt > 0);
}

static void gen_group(struct tg *g, struct rng *r, unsigned mode, unsigned num)
{
	uint32_t maxm = mode & G_SMALL ? 9 : MAXM;
	uint32_t maxp = mode & G_SMALL ? 12 : MAXPP;
	uint32_t nracks = rnd(r, 1, 4), used[64] = {0};

	memset(g, 0, sizeof *g);
	g->num = num;
	g->nt = rnd(r, 1, mode & G_SMALL ? 4 : MAXT);
	g->nm = rnd(r, 0, maxm);
	g->rack_aware = (mode & G_RACKS) != 0;
	for (uint32_t t = 0; t < g->nt; t++) {
		uint32_t tid;

		do
			tid = rnd(r, 0, 63);
		while (used[tid]);
		used[tid] = 1;
		g->t[t].tid = tid;
		g->t[t].partitions =
		    rnd(r, 0, 5) == 0 ? rnd(r, 0, 2) : rnd(r, 1, maxp);
		g->has_masks[t] = (mode & G_RACKS) && rnd(r, 0, 5) != 0;
		for (uint32_t p = 0; p < g->t[t].partitions; p++)
			g->masks[t][p] = rnd64(r) & ((1ULL << nracks) - 1);
	}
	gen_ids(g, r);
	if (mode & G_HOMOG) {
		uint32_t s[MAXT], n;

		random_subset(r, g->nt, s, &n, 1);
		for (uint32_t m = 0; m < g->nm; m++) {
			if (rnd(r, 0, 9) == 0)
				continue; /* no topics */
			memcpy(g->subs[m], s, n * sizeof *s);
			g->m[m].n_topics = n;
		}
	} else {
		/* a few subscription sets, or each member its own */
		uint32_t pool[4][MAXT], pn[4], np = rnd(r, 1, 4);

		for (uint32_t k = 0; k < np; k++)
			random_subset(r, g->nt, pool[k], &pn[k], 0);
		for (uint32_t m = 0; m < g->nm; m++) {
			if (np < 4) {
				uint32_t k = rnd(r, 0, np - 1);

				memcpy(g->subs[m], pool[k],
				       pn[k] * sizeof(uint32_t));
				g->m[m].n_topics = pn[k];
			} else {
				random_subset(r, g->nt, g->subs[m],
					      &g->m[m].n_topics, 0);
			}
		}
	}
	for (uint32_t m = 0; m < g->nm; m++)
		g->m[m].rack =
		    (mode & G_RACKS) ? (int)rnd(r, 0, nracks) - 1 : -1;
	if (mode & G_CURRENT) {
		for (uint32_t t = 0; t < g->nt; t++)
			for (uint32_t p = 0; p < g->t[t].partitions; p++) {
				uint32_t m, c = rnd(r, 0, 9);

				if (g->nm == 0 || c < 3)
					continue;
				m = rnd(r, 0, g->nm - 1);
				g->cur[m][g->m[m].n_current++] =
				    key(g->t[t].tid, p);
				if (c == 9) { /* claimed twice */
					m = rnd(r, 0, g->nm - 1);
					g->cur[m][g->m[m].n_current++] =
					    key(g->t[t].tid, p);
				}
			}
		for (uint32_t m = 0; m < g->nm; m++) {
			if (rnd(r, 0, 4) == 0) /* unknown topic */
				g->cur[m][g->m[m].n_current++] =
				    key(rnd(r, 100, 200), 0);
			if (rnd(r, 0, 4) == 0 && g->nt) /* beyond the count */
				g->cur[m][g->m[m].n_current++] =
				    key(g->t[0].tid, g->t[0].partitions);
			qsort(g->cur[m], g->m[m].n_current, sizeof(uint64_t),
			      cmp_u64);
		}
	}
	tg_fix(g);
}

/* h := g with members and topics in another order; mp[i] = new index of
 * member i. */
static void permute(const struct tg *g, struct tg *h, struct rng *r,
		    uint32_t *mp)
{
	uint32_t tp[MAXT];

	*h = *g;
	for (uint32_t i = 0; i < g->nt; i++)
		tp[i] = i;
	for (uint32_t i = g->nt; i > 1; i--) {
		uint32_t j = rnd(r, 0, i - 1), t = tp[i - 1];

		tp[i - 1] = tp[j];
		tp[j] = t;
	}
	for (uint32_t i = 0; i < g->nm; i++)
		mp[i] = i;
	for (uint32_t i = g->nm; i > 1; i--) {
		uint32_t j = rnd(r, 0, i - 1), t = mp[i - 1];

		mp[i - 1] = mp[j];
		mp[j] = t;
	}
	for (uint32_t i = 0; i < g->nt; i++) {
		h->t[tp[i]] = g->t[i];
		h->has_masks[tp[i]] = g->has_masks[i];
		memcpy(h->masks[tp[i]], g->masks[i], sizeof g->masks[i]);
	}
	for (uint32_t i = 0; i < g->nm; i++) {
		uint32_t j = mp[i];

		h->m[j] = g->m[i];
		memcpy(h->ids[j], g->ids[i], 24);
		memcpy(h->inst[j], g->inst[i], 24);
		h->has_inst[j] = g->has_inst[i];
		memcpy(h->cur[j], g->cur[i], sizeof g->cur[i]);
		for (uint32_t k = 0; k < g->m[i].n_topics; k++)
			h->subs[j][k] = tp[g->subs[i][k]];
		qsort(h->subs[j], g->m[i].n_topics, sizeof(uint32_t), cmp_u32);
	}
	tg_fix(h);
}

/* Same result for g and its permutation h (member i of g is mp[i] in h). */
static void check_permuted(const struct tg *g, const struct tg *h,
			   const uint32_t *mp, const struct res *a,
			   const struct res *b)
{
	for (uint32_t m = 0; m < g->nm; m++) {
		CHECK(g, a->n[m] == b->n[mp[m]]);
		CHECK(g, memcmp(a->k[m], b->k[mp[m]],
				a->n[m] * sizeof(uint64_t)) == 0);
	}
}

/* ---- uniform: random groups ---- */

static int rack_effective(const struct tg *g)
{
	int m_rack = 0, t_mask = 0;

	if (!g->rack_aware)
		return 0;
	for (uint32_t m = 0; m < g->nm; m++)
		m_rack |= g->m[m].rack >= 0 && g->m[m].n_topics > 0;
	for (uint32_t t = 0; t < g->nt; t++)
		t_mask |= g->has_masks[t] && subscribed_by_any(g, t);
	return m_rack && t_mask;
}

static uint32_t subscribed_members(const struct tg *g)
{
	uint32_t M = 0;

	for (uint32_t m = 0; m < g->nm; m++)
		M += g->m[m].n_topics > 0;
	return M;
}

/* Homogeneous, no racks: the most partitions that can stay. */
static uint32_t best_keep_homog(const struct tg *g)
{
	int vown[MAXT][MAXPP];
	uint32_t M = subscribed_members(g), P = total_partitions(g), q, x;
	uint32_t keep = 0, over = 0;

	if (M == 0)
		return 0;
	q = P / M;
	x = P % M;
	valid_owners(g, vown);
	for (uint32_t m = 0; m < g->nm; m++) {
		uint32_t c = 0;

		for (uint32_t t = 0; t < g->nt; t++)
			for (uint32_t p = 0; p < g->t[t].partitions; p++)
				c += vown[t][p] == (int)m;
		keep += c < q ? c : q;
		over += c > q;
	}
	return keep + (over < x ? over : x);
}

static uint32_t ceil_div(uint32_t a, uint32_t b)
{
	return b ? (a + b - 1) / b : 0;
}

struct stats {
	unsigned cases, ref_cases, gap_cases;
	uint64_t gap_sum, gap_max, moved, moved_ref;
};

static void check_balance(const struct tg *g, const struct res *a)
{
	uint32_t mn = UINT32_MAX, mx = 0;

	for (uint32_t m = 0; m < g->nm; m++) {
		if (g->m[m].n_topics == 0) {
			CHECK(g, a->n[m] == 0);
			continue;
		}
		mn = a->n[m] < mn ? a->n[m] : mn;
		mx = a->n[m] > mx ? a->n[m] : mx;
	}
	if (homogeneous(g) && mx > 0)
		CHECK(g, mx - mn <= 1);
	/* identical subscriptions: within one */
	for (uint32_t x = 0; x < g->nm; x++)
		for (uint32_t y = 0; y < g->nm; y++)
			if (g->m[x].n_topics == g->m[y].n_topics &&
			    memcmp(g->subs[x], g->subs[y],
				   g->m[x].n_topics * sizeof(uint32_t)) == 0)
				CHECK(g, a->n[x] <= a->n[y] + 1);
	check_no_improving_chain(g, a);
}

static void check_uniform(const struct tg *g, struct rng *r, unsigned mode,
			  struct stats *st)
{
	static struct res a, b;
	static struct tg h;
	uint32_t mp[MAXM];

	st->cases++;
	run(g, asg_uniform, &a);
	run(g, asg_uniform, &b);
	check_same_result(g, &a, &b);
	permute(g, &h, r, mp);
	run(&h, asg_uniform, &b);
	check_permuted(g, &h, mp, &a, &b);
	check_balance(g, &a);
	if (homogeneous(g) && !rack_effective(g))
		CHECK(g, retained(g, &a) == best_keep_homog(g));
	if (homogeneous(g) && rack_effective(g))
		CHECK(g, local_count(g, &a) == ref_local_uniform(g));
	if (mode & G_SMALL) {
		uint64_t sq;
		uint32_t keep, mine = retained(g, &a);

		ref_uniform(g, &sq, &keep);
		st->ref_cases++;
		CHECK(g, sum_squares(g, &a) == sq);
		if (!rack_effective(g)) {
			uint32_t gap = keep > mine ? keep - mine : 0;

			if (homogeneous(g))
				CHECK(g, mine == keep);
			CHECK(g, mine <= keep);
			CHECK(g, gap <= ceil_div(total_partitions(g),
						 subscribed_members(g)));
			st->gap_cases += gap > 0;
			st->gap_sum += gap;
			st->gap_max = gap > st->gap_max ? gap : st->gap_max;
		}
	}
	/* fixpoint */
	h = *g;
	tg_fix(&h);
	set_current(&h, &a);
	run(&h, asg_uniform, &b);
	check_same_result(g, &a, &b);
}

static void random_uniform(unsigned mode, unsigned n, uint64_t seed,
			   const char *what)
{
	static struct tg g;
	struct rng r = {seed};
	struct stats st = {0};

	for (unsigned i = 0; i < n; i++) {
		unsigned md =
		    mode | (i % 3 ? G_CURRENT : 0) | (i % 2 ? G_SMALL : 0);

		gen_group(&g, &r, md, i);
		check_uniform(&g, &r, md, &st);
	}
	print_message("%s: %u groups, %u against the reference; stickiness "
		      "(where racks play no part) below the reference optimum "
		      "in %u (total %llu, max %llu partitions)\n",
		      what, st.cases, st.ref_cases, st.gap_cases,
		      (unsigned long long)st.gap_sum,
		      (unsigned long long)st.gap_max);
}

static void test_uniform_random_homogeneous(void **state)
{
	(void)state;
	random_uniform(G_HOMOG, 3000, 1, "homogeneous");
}

static void test_uniform_random_heterogeneous(void **state)
{
	(void)state;
	random_uniform(0, 3000, 2, "heterogeneous");
}

static void test_uniform_random_racks(void **state)
{
	(void)state;
	random_uniform(G_HOMOG | G_RACKS, 2000, 3, "homogeneous, racks");
	random_uniform(G_RACKS, 2000, 4, "heterogeneous, racks");
}

/* ---- uniform: a single join or leave ---- */

static void remove_member(struct tg *g, uint32_t x)
{
	for (uint32_t m = x; m + 1 < g->nm; m++) {
		g->m[m] = g->m[m + 1];
		memcpy(g->ids[m], g->ids[m + 1], 24);
		memcpy(g->inst[m], g->inst[m + 1], 24);
		g->has_inst[m] = g->has_inst[m + 1];
		memcpy(g->subs[m], g->subs[m + 1], sizeof g->subs[m]);
		memcpy(g->cur[m], g->cur[m + 1], sizeof g->cur[m]);
	}
	g->nm--;
	tg_fix(g);
}

static void add_member(struct tg *g, struct rng *r, int homog)
{
	uint32_t m = g->nm++;
	long like = -1;

	memset(&g->m[m], 0, sizeof g->m[m]);
	snprintf(g->ids[m], 24, "new-%u", rnd(r, 0, 99999));
	g->has_inst[m] = 0;
	g->m[m].rack = g->rack_aware ? (int)rnd(r, 0, 3) - 1 : -1;
	for (uint32_t i = 0; i < m && like < 0; i++)
		if (g->m[i].n_topics)
			like = i;
	if (homog && like >= 0) {
		memcpy(g->subs[m], g->subs[like], sizeof g->subs[m]);
		g->m[m].n_topics = g->m[like].n_topics;
	} else {
		random_subset(r, g->nt, g->subs[m], &g->m[m].n_topics, 1);
	}
	tg_fix(g);
}

static void join_leave(unsigned mode, unsigned n, uint64_t seed,
		       const char *what)
{
	static struct tg g, h;
	static struct res a, b;
	struct rng r = {seed};
	struct stats st = {0};

	for (unsigned i = 0; i < n; i++) {
		unsigned md = mode | G_SMALL | (i % 2 ? G_CURRENT : 0);
		uint32_t P, M, moved, leaver = 0;
		int join;

		gen_group(&g, &r, md, i);
		run(&g, asg_uniform, &a);
		h = g;
		tg_fix(&h);
		set_current(&h, &a);
		join = h.nm == 0 || (h.nm < MAXM && rnd(&r, 0, 1));
		if (join) {
			add_member(&h, &r, mode & G_HOMOG);
		} else {
			uint32_t x = rnd(&r, 0, h.nm - 1);

			leaver = a.n[x];
			remove_member(&h, x);
		}
		run(&h, asg_uniform, &b);
		P = total_partitions(&h);
		M = subscribed_members(&h);
		moved = P - retained(&h, &b);
		st.cases++;
		st.moved += moved;
		check_balance(&h, &b);
		if (homogeneous(&g) && homogeneous(&h) && !rack_effective(&h) &&
		    total_partitions(&g) == P) {
			/* from a balanced assignment: the bound, exactly */
			if (join)
				CHECK(&h, moved <= ceil_div(P, M));
			else
				CHECK(&h, moved == leaver);
			CHECK(&h, retained(&h, &b) == best_keep_homog(&h));
		}
		if (!rack_effective(&h)) {
			uint64_t sq;
			uint32_t keep;

			ref_uniform(&h, &sq, &keep);
			st.moved_ref += P - keep;
			st.ref_cases++;
			CHECK(&h, sum_squares(&h, &b) == sq);
			/* what balance requires, plus at most ceil(P/M) */
			CHECK(&h, moved <= P - keep + ceil_div(P, M));
			st.gap_cases += moved > P - keep;
		}
	}
	print_message("%s: %u joins/leaves, %llu partitions moved (reference "
		      "optimum %llu over %u of them; above it in %u)\n",
		      what, st.cases, (unsigned long long)st.moved,
		      (unsigned long long)st.moved_ref, st.ref_cases,
		      st.gap_cases);
}

static void test_uniform_join_leave(void **state)
{
	(void)state;
	join_leave(G_HOMOG, 2000, 11, "homogeneous");
	join_leave(0, 2000, 12, "heterogeneous");
	join_leave(G_HOMOG | G_RACKS, 1000, 13, "homogeneous, racks");
}

/* ---- range: random groups ---- */

static int range_before(const struct tg *g, uint32_t a, uint32_t b)
{
	if (g->has_inst[a] != g->has_inst[b])
		return g->has_inst[a];
	if (g->has_inst[a] && strcmp(g->inst[a], g->inst[b]))
		return strcmp(g->inst[a], g->inst[b]) < 0;
	return strcmp(g->ids[a], g->ids[b]) < 0;
}

/* Subscribers of topic t in range order. */
static uint32_t range_list(const struct tg *g, uint32_t t, uint32_t *l)
{
	uint32_t n = 0;

	for (uint32_t m = 0; m < g->nm; m++)
		if (subscribes(g, m, t)) {
			uint32_t k = n++;

			while (k > 0 && range_before(g, m, l[k - 1])) {
				l[k] = l[k - 1];
				k--;
			}
			l[k] = m;
		}
	return n;
}

static int same_subscribers(const struct tg *g, uint32_t t1, uint32_t t2)
{
	for (uint32_t m = 0; m < g->nm; m++)
		if (subscribes(g, m, t1) != subscribes(g, m, t2))
			return 0;
	return 1;
}

/* Locality of co-partitioned indexes, and the reference maximum. */
static void range_locality(const struct tg *g, const struct res *a,
			   uint32_t *mine, uint32_t *best)
{
	int done[MAXT] = {0};

	*mine = *best = 0;
	for (uint32_t t = 0; t < g->nt; t++) {
		static struct flow f;
		uint32_t l[MAXM], n = range_list(g, t, l), P;
		uint64_t mask[MAXPP];
		int any = 0;

		if (done[t] || n == 0)
			continue;
		P = g->t[t].partitions;
		for (uint32_t p = 0; p < P; p++)
			mask[p] = ~0ULL;
		for (uint32_t t2 = t; t2 < g->nt; t2++) {
			if (g->t[t2].partitions != P ||
			    !same_subscribers(g, t, t2))
				continue;
			done[t2] = 1;
			if (!g->has_masks[t2])
				continue;
			any = 1;
			for (uint32_t p = 0; p < P; p++)
				mask[p] &= g->masks[t2][p];
		}
		if (!any)
			continue;
		fl_init(&f, 2 + (int)P + (int)n);
		for (uint32_t p = 0; p < P; p++) {
			int o = a->own[t][p];

			fl_add(&f, 0, 2 + (int)p, 1, 0);
			if (g->m[o].rack >= 0 && (mask[p] >> g->m[o].rack & 1))
				(*mine)++;
			for (uint32_t k = 0; k < n; k++)
				if (g->m[l[k]].rack >= 0 &&
				    (mask[p] >> g->m[l[k]].rack & 1))
					fl_add(&f, 2 + (int)p,
					       2 + (int)P + (int)k, 1, 0);
		}
		for (uint32_t k = 0; k < n; k++)
			fl_add(&f, 2 + (int)P + (int)k, 1, P / n + (k < P % n),
			       0);
		*best += (uint32_t)fl_max(&f, 0, 1);
	}
}

static void check_range(const struct tg *g, struct rng *r)
{
	static struct res a, b;
	static struct tg h;
	uint32_t mp[MAXM];
	int racks = rack_effective(g);

	run(g, asg_range, &a);
	run(g, asg_range, &b);
	check_same_result(g, &a, &b);
	permute(g, &h, r, mp);
	run(&h, asg_range, &b);
	check_permuted(g, &h, mp, &a, &b);
	for (uint32_t t = 0; t < g->nt; t++) {
		uint32_t l[MAXM], n = range_list(g, t, l), P, p = 0;

		if (n == 0)
			continue;
		P = g->t[t].partitions;
		for (uint32_t k = 0; k < n; k++) {
			uint32_t sz = P / n + (k < P % n), got = 0;

			for (uint32_t q = 0; q < P; q++)
				got += a.own[t][q] == (int)l[k];
			CHECK(g, got == sz);
			for (uint32_t end = p + sz; p < end && !racks; p++)
				CHECK(g, a.own[t][p] == (int)l[k]);
		}
		/* co-partitioned */
		for (uint32_t t2 = 0; t2 < g->nt; t2++)
			if (g->t[t2].partitions == P &&
			    same_subscribers(g, t, t2))
				for (uint32_t q = 0; q < P; q++)
					CHECK(g, a.own[t][q] == a.own[t2][q]);
	}
	if (racks) {
		uint32_t mine, best;

		range_locality(g, &a, &mine, &best);
		CHECK(g, mine == best);
	}
}

static void test_range_random(void **state)
{
	static struct tg g;
	struct rng r = {21};

	(void)state;
	for (unsigned i = 0; i < 3000; i++) {
		unsigned md = (i % 2 ? G_HOMOG : 0) | (i % 3 ? G_CURRENT : 0) |
			      (i % 4 == 0 ? G_RACKS : 0);

		gen_group(&g, &r, md, i);
		/* co-partitioned topics often: equal counts */
		if (i % 5 == 0)
			for (uint32_t t = 1; t < g.nt; t++) {
				g.t[t].partitions = g.t[0].partitions;
				if (i % 10 == 0)
					g.has_masks[t] = 0;
			}
		tg_fix(&g);
		check_range(&g, &r);
	}
}

/* ---- fixed cases ---- */

/* A group written by hand: topics (tid, partitions), members (id, rack,
 * topic indexes terminated by -1, current keys terminated by 0 with
 * UINT64_MAX meaning key 0 is not used here). */
static void hand_topic(struct tg *g, int64_t tid, uint32_t partitions)
{
	g->t[g->nt].tid = tid;
	g->t[g->nt++].partitions = partitions;
}

static uint32_t hand_member(struct tg *g, const char *id, int rack,
			    const int *topics, const uint64_t *cur)
{
	uint32_t m = g->nm++;

	snprintf(g->ids[m], 24, "%s", id);
	g->m[m].rack = rack;
	for (; topics && *topics >= 0; topics++)
		g->subs[m][g->m[m].n_topics++] = (uint32_t)*topics;
	for (; cur && *cur; cur++)
		g->cur[m][g->m[m].n_current++] = *cur;
	tg_fix(g);
	return m;
}

static void expect_keys(const struct res *r, uint32_t m, const uint64_t *k,
			uint32_t n)
{
	assert_int_equal(r->n[m], n);
	for (uint32_t i = 0; i < n; i++)
		assert_true(r->k[m][i] == k[i]);
}

static void test_empty_group(void **state)
{
	static struct tg g;
	struct asg_input in;
	struct asg_result out;

	(void)state;
	memset(&g, 0, sizeof g);
	hand_topic(&g, 1, 10);
	tg_fix(&g);
	in = tg_input(&g);
	assert_int_equal(asg_uniform(&in, &out), SYNOD_OK);
	assert_int_equal(out.n_members, 0);
	assert_null(out.assigned);
	asg_result_free(&out);
	assert_int_equal(asg_range(&in, &out), SYNOD_OK);
	assert_int_equal(out.n_members, 0);
	asg_result_free(&out);
	/* no topics at all */
	in.n_topics = 0;
	in.topics = NULL;
	assert_int_equal(asg_uniform(&in, &out), SYNOD_OK);
	asg_result_free(&out);
	asg_result_free(&out); /* twice is fine */
	asg_result_free(NULL);
}

/* A member without topics gets nothing, a topic of 0 partitions is fine,
 * a topic nobody subscribes to is not assigned. */
static void test_edges(void **state)
{
	static struct tg g;
	static struct res r;
	static const int ta[] = {0, 1, -1}, tc[] = {0, -1};
	static const uint64_t a4[] = {5ULL << 32, 5ULL << 32 | 1},
			      c4[] = {5ULL << 32 | 2, 5ULL << 32 | 3};

	(void)state;
	memset(&g, 0, sizeof g);
	hand_topic(&g, 5, 4);
	hand_topic(&g, 3, 0);
	hand_topic(&g, 9, 6); /* nobody */
	hand_member(&g, "a", -1, ta, NULL);
	hand_member(&g, "b", -1, NULL, NULL);
	hand_member(&g, "c", -1, tc, NULL);
	run(&g, asg_uniform, &r);
	assert_int_equal(r.n[1], 0);
	assert_int_equal(r.P, 4);
	assert_int_equal(r.n[0], 2);
	assert_int_equal(r.n[2], 2);
	run(&g, asg_range, &r);
	expect_keys(&r, 0, a4, 2);
	expect_keys(&r, 1, NULL, 0);
	expect_keys(&r, 2, c4, 2);
	/* only members without topics */
	g.m[0].n_topics = g.m[2].n_topics = 0;
	run(&g, asg_uniform, &r);
	assert_int_equal(r.P, 0);
	run(&g, asg_range, &r);
	assert_int_equal(r.P, 0);
}

static void test_uniform_fixed(void **state)
{
	static struct tg g;
	static struct res r;
	static const int t0[] = {0, -1};
	uint64_t k[10];

	(void)state;
	for (uint32_t p = 0; p < 10; p++)
		k[p] = key(7, p);
	memset(&g, 0, sizeof g);
	hand_topic(&g, 7, 10);
	hand_member(&g, "c", -1, t0, NULL);
	hand_member(&g, "a", -1, t0, NULL);
	hand_member(&g, "b", -1, t0, NULL);
	/* no current: the extra one to the smallest id, ranges by id */
	run(&g, asg_uniform, &r);
	expect_keys(&r, 1, k, 4);
	expect_keys(&r, 2, k + 4, 3);
	expect_keys(&r, 0, k + 7, 3);
	/* c holds 0-4, b holds 5-9: b keeps 4 (the extra goes to the
	 * smaller id of those above the floor), c keeps 3, a gets the three
	 * released: 3 moves, the minimum */
	memcpy(g.cur[0], k, 5 * sizeof *k);
	g.m[0].n_current = 5;
	memcpy(g.cur[2], k + 5, 5 * sizeof *k);
	g.m[2].n_current = 5;
	run(&g, asg_uniform, &r);
	{
		const uint64_t a[] = {k[3], k[4], k[9]};

		expect_keys(&r, 0, k, 3);
		expect_keys(&r, 2, k + 5, 4);
		expect_keys(&r, 1, a, 3);
	}
}

static void test_uniform_heterogeneous_fixed(void **state)
{
	static struct tg g;
	static struct res r;
	static const int t0[] = {0, -1}, t01[] = {0, 1, -1}, t1[] = {1, -1};
	uint64_t a[3] = {key(1, 0), key(1, 1), key(1, 2)};
	uint64_t b[3] = {key(2, 0), key(2, 1), key(2, 2)};

	(void)state;
	/* A {t0,t1}, B {t1}, 4 + 4: A takes t0, B t1 */
	memset(&g, 0, sizeof g);
	hand_topic(&g, 1, 4);
	hand_topic(&g, 2, 4);
	hand_member(&g, "A", -1, t01, NULL);
	hand_member(&g, "B", -1, t1, NULL);
	run(&g, asg_uniform, &r);
	assert_int_equal(r.n[0], 4);
	assert_int_equal(r.n[1], 4);
	for (uint32_t p = 0; p < 4; p++)
		assert_int_equal(r.own[1][p], 1);
	/* a chain: A {t0} holds t0's 3, B {t0,t1} holds t1's 3, C {t1}
	 * nothing. C can only take t1, so B hands C two of t1 and takes one
	 * of t0 from A: 2, 2, 2 with 3 moves. */
	memset(&g, 0, sizeof g);
	hand_topic(&g, 1, 3);
	hand_topic(&g, 2, 3);
	{
		uint64_t ca[4] = {a[0], a[1], a[2], 0};
		uint64_t cb[4] = {b[0], b[1], b[2], 0};

		hand_member(&g, "A", -1, t0, ca);
		hand_member(&g, "B", -1, t01, cb);
		hand_member(&g, "C", -1, t1, NULL);
	}
	run(&g, asg_uniform, &r);
	assert_int_equal(r.n[0], 2);
	assert_int_equal(r.n[1], 2);
	assert_int_equal(r.n[2], 2);
	assert_int_equal(retained(&g, &r), 3);
	check_no_improving_chain(&g, &r);
}

/* Invalid keys in current are ignored; a partition claimed twice counts
 * for the smaller member id. */
static void test_bad_current(void **state)
{
	static struct tg g;
	static struct res r;
	static const int t0[] = {0, -1}, t01[] = {0, 1, -1};
	const uint64_t cx[] = {key(1, 0), key(1, 1), key(1, 9),
			       key(2, 0), key(7, 0), 0};
	const uint64_t cy[] = {key(1, 0), key(1, 2), key(2, 1), 0};
	const uint64_t ex[] = {key(1, 0), key(1, 1), key(1, 3)};
	const uint64_t ey[] = {key(1, 2), key(2, 0), key(2, 1)};

	(void)state;
	memset(&g, 0, sizeof g);
	hand_topic(&g, 1, 4);
	hand_topic(&g, 2, 2);
	hand_member(&g, "y", -1, t01, cy);
	hand_member(&g, "x", -1, t0, cx);
	run(&g, asg_uniform, &r);
	expect_keys(&r, 1, ex, 3);
	expect_keys(&r, 0, ey, 3);
}

static void test_uniform_rack_fixed(void **state)
{
	static struct tg g;
	static struct res r;
	static const int t0[] = {0, -1};
	const uint64_t ca[] = {key(4, 1), key(4, 3), 0};
	const uint64_t cc[] = {key(4, 0), key(4, 2), 0};

	(void)state;
	/* racks 0,0,1,1; even partitions in rack 0, odd in rack 1; current
	 * all on the wrong rack: rack beats stickiness, all 8 local */
	memset(&g, 0, sizeof g);
	hand_topic(&g, 4, 8);
	g.has_masks[0] = 1;
	for (uint32_t p = 0; p < 8; p++)
		g.masks[0][p] = p % 2 ? 2 : 1;
	hand_member(&g, "a", 0, t0, ca);
	hand_member(&g, "b", 0, t0, NULL);
	hand_member(&g, "c", 1, t0, cc);
	hand_member(&g, "d", 1, t0, NULL);
	g.rack_aware = 1;
	run(&g, asg_uniform, &r);
	assert_int_equal(local_count(&g, &r), 8);
	for (uint32_t m = 0; m < 4; m++)
		assert_int_equal(r.n[m], 2);
	/* without rack_aware: stickiness */
	g.rack_aware = 0;
	run(&g, asg_uniform, &r);
	assert_int_equal(retained(&g, &r), 4);
	/* everything in rack 0: balance first, 4 local at most */
	g.rack_aware = 1;
	for (uint32_t p = 0; p < 8; p++)
		g.masks[0][p] = 1;
	run(&g, asg_uniform, &r);
	for (uint32_t m = 0; m < 4; m++)
		assert_int_equal(r.n[m], 2);
	assert_int_equal(local_count(&g, &r), 4);
	/* the ceil size goes where it makes a placement local: 3 members,
	 * racks 0,1,1, 4 partitions in rack 0 -> the rack 0 member gets 2 */
	memset(&g, 0, sizeof g);
	hand_topic(&g, 4, 4);
	g.has_masks[0] = 1;
	for (uint32_t p = 0; p < 4; p++)
		g.masks[0][p] = 1;
	hand_member(&g, "x", 1, t0, NULL);
	hand_member(&g, "y", 1, t0, NULL);
	hand_member(&g, "z", 0, t0, NULL);
	g.rack_aware = 1;
	run(&g, asg_uniform, &r);
	assert_int_equal(r.n[2], 2);
	assert_int_equal(local_count(&g, &r), 2);
}

static void test_range_fixed(void **state)
{
	static struct tg g;
	static struct res r;
	static const int t01[] = {0, 1, -1}, t0[] = {0, -1}, t1[] = {1, -1};

	(void)state;
	/* Kafka's example: C0 gets t0p0, t0p1, t1p0, t1p1; C1 t0p2, t1p2 */
	memset(&g, 0, sizeof g);
	hand_topic(&g, 1, 3);
	hand_topic(&g, 2, 3);
	hand_member(&g, "C1", -1, t01, NULL);
	hand_member(&g, "C0", -1, t01, NULL);
	run(&g, asg_range, &r);
	{
		const uint64_t c0[] = {key(1, 0), key(1, 1), key(2, 0),
				       key(2, 1)};
		const uint64_t c1[] = {key(1, 2), key(2, 2)};

		expect_keys(&r, 1, c0, 4);
		expect_keys(&r, 0, c1, 2);
	}
	/* instance ids first, by instance id; then member ids */
	memset(&g, 0, sizeof g);
	hand_topic(&g, 1, 3);
	hand_member(&g, "a", -1, t0, NULL);
	hand_member(&g, "b", -1, t0, NULL);
	hand_member(&g, "c", -1, t0, NULL);
	g.has_inst[0] = g.has_inst[2] = 1;
	strcpy(g.inst[0], "z");
	strcpy(g.inst[2], "y");
	tg_fix(&g);
	run(&g, asg_range, &r);
	assert_int_equal(r.own[0][0], 2);
	assert_int_equal(r.own[0][1], 0);
	assert_int_equal(r.own[0][2], 1);
	/* heterogeneous: A {t0,t1}, B {t1} */
	memset(&g, 0, sizeof g);
	hand_topic(&g, 1, 2);
	hand_topic(&g, 2, 4);
	hand_member(&g, "B", -1, t1, NULL);
	hand_member(&g, "A", -1, t01, NULL);
	run(&g, asg_range, &r);
	{
		const uint64_t a[] = {key(1, 0), key(1, 1), key(2, 0),
				      key(2, 1)};
		const uint64_t b[] = {key(2, 2), key(2, 3)};

		expect_keys(&r, 1, a, 4);
		expect_keys(&r, 0, b, 2);
	}
	/* racks: plain range would put everything off-rack; rack-aware
	 * swaps within the sizes, for both co-partitioned topics */
	memset(&g, 0, sizeof g);
	hand_topic(&g, 1, 4);
	hand_topic(&g, 2, 4);
	g.has_masks[0] = g.has_masks[1] = 1;
	for (uint32_t p = 0; p < 4; p++)
		g.masks[0][p] = g.masks[1][p] = p < 2 ? 2 : 1;
	hand_member(&g, "a", 0, t01, NULL);
	hand_member(&g, "b", 1, t01, NULL);
	run(&g, asg_range, &r);
	assert_int_equal(local_count(&g, &r), 0);
	g.rack_aware = 1;
	run(&g, asg_range, &r);
	assert_int_equal(local_count(&g, &r), 8);
	assert_int_equal(r.n[0], 4);
	assert_int_equal(r.own[0][2], 0);
	assert_int_equal(r.own[1][2], 0);
}

static void test_invalid_input(void **state)
{
	static struct tg g;
	static const int t0[] = {0, -1}, t10[] = {1, 0, -1};
	struct asg_input in;
	struct asg_result out;
	asg_fn fns[2] = {asg_uniform, asg_range};

	(void)state;
	for (int f = 0; f < 2; f++) {
		memset(&g, 0, sizeof g);
		hand_topic(&g, 1, 4);
		hand_topic(&g, 2, 4);
		hand_member(&g, "a", -1, t0, NULL);
		hand_member(&g, "b", -1, t0, NULL);
		in = tg_input(&g);
		assert_int_equal(fns[f](NULL, &out), SYNOD_EINVALID_ARGUMENT);
		assert_int_equal(fns[f](&in, NULL), SYNOD_EINVALID_ARGUMENT);
		assert_int_equal(fns[f](&in, &out), SYNOD_OK);
		asg_result_free(&out);
#define BAD(stmt, undo)                                                        \
	do {                                                                   \
		stmt;                                                          \
		memset(&out, 0x5a, sizeof out);                                \
		assert_int_equal(fns[f](&in, &out), SYNOD_EINVALID_ARGUMENT);  \
		assert_null(out.assigned);                                     \
		assert_int_equal(out.n_members, 0);                            \
		undo;                                                          \
	} while (0)
		BAD(strcpy(g.ids[1], "a"), strcpy(g.ids[1], "b"));
		BAD(g.m[1].member_id = NULL, g.m[1].member_id = g.ids[1]);
		BAD(g.m[0].rack = 64, g.m[0].rack = -1);
		BAD(g.m[0].rack = -2, g.m[0].rack = -1);
		BAD(g.subs[0][0] = 2, g.subs[0][0] = 0);
		BAD(g.m[0].topics = NULL, g.m[0].topics = g.subs[0]);
		BAD(g.m[0].current = NULL;
		    g.m[0].n_current = 1, g.m[0].n_current = 0;
		    g.m[0].current = g.cur[0]);
		BAD(g.t[1].tid = 1, g.t[1].tid = 2);
		BAD(g.t[1].tid = -1, g.t[1].tid = 2);
		BAD(g.t[1].tid = (int64_t)UINT32_MAX + 1, g.t[1].tid = 2);
		BAD(in.topics = NULL, in.topics = g.t);
		BAD(in.members = NULL, in.members = g.m);
		/* unsorted / repeated topic indexes */
		hand_member(&g, "c", -1, t10, NULL);
		in = tg_input(&g);
		BAD((void)0, (void)0);
		g.subs[2][0] = 0;
		BAD((void)0, (void)0);
		g.nm--;
		in = tg_input(&g);
		/* 2^32 - 1 subscribed partitions or more */
		BAD(g.t[0].partitions = UINT32_MAX, g.t[0].partitions = 4);
#undef BAD
	}
}

static void test_find(void **state)
{
	(void)state;
	assert_true(asg_find("uniform") == asg_uniform);
	assert_true(asg_find("range") == asg_range);
	assert_null(asg_find("sticky"));
	assert_null(asg_find(""));
	assert_null(asg_find(NULL));
}

/* ---- timing (printed, never asserted) ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_timing(void **state)
{
	const uint32_t M = 1000, T = 10, PT = 1000;
	struct asg_topic *t = calloc(T, sizeof *t);
	struct asg_member *m = calloc(M, sizeof *m);
	uint32_t *subs = calloc(T, sizeof *subs);
	char(*ids)[16] = calloc(M, sizeof *ids);
	struct asg_input in = {t, T, m, M, 0};
	struct asg_result out, out2;
	double t0, t1, t2;

	(void)state;
	assert_true(t && m && subs && ids);
	for (uint32_t i = 0; i < T; i++) {
		t[i].tid = i + 1;
		t[i].partitions = PT;
		subs[i] = i;
	}
	for (uint32_t i = 0; i < M; i++) {
		snprintf(ids[i], sizeof ids[i], "m%05u", i);
		m[i].member_id = ids[i];
		m[i].rack = -1;
		m[i].topics = subs;
		m[i].n_topics = T;
	}
	t0 = now_ms();
	assert_int_equal(asg_uniform(&in, &out), SYNOD_OK);
	t1 = now_ms();
	for (uint32_t i = 0; i < M; i++) {
		m[i].current = out.assigned[i];
		m[i].n_current = out.n_assigned[i];
	}
	assert_int_equal(asg_uniform(&in, &out2), SYNOD_OK);
	t2 = now_ms();
	print_message("uniform %u members x %u partitions: %.2f ms from "
		      "scratch, %.2f ms sticky (tests/unit/bench_assignor.c "
		      "for the large cases)\n",
		      M, T * PT, t1 - t0, t2 - t1);
	for (uint32_t i = 0; i < M; i++)
		assert_int_equal(out.n_assigned[i], T * PT / M);
	asg_result_free(&out);
	asg_result_free(&out2);
	free(t);
	free(m);
	free(subs);
	free(ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_invalid_input),
	    cmocka_unit_test(test_empty_group),
	    cmocka_unit_test(test_edges),
	    cmocka_unit_test(test_bad_current),
	    cmocka_unit_test(test_uniform_fixed),
	    cmocka_unit_test(test_uniform_heterogeneous_fixed),
	    cmocka_unit_test(test_uniform_rack_fixed),
	    cmocka_unit_test(test_range_fixed),
	    cmocka_unit_test(test_uniform_random_homogeneous),
	    cmocka_unit_test(test_uniform_random_heterogeneous),
	    cmocka_unit_test(test_uniform_random_racks),
	    cmocka_unit_test(test_uniform_join_leave),
	    cmocka_unit_test(test_range_random),
	    cmocka_unit_test(test_timing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
