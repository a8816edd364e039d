/* Timing of the server-side assignors (controller/assignor.c): prints
 * figures, asserts nothing about speed (built by CMake, not run by ctest;
 * the invariants are tests/unit/test_assignor.c's job, this only checks
 * that every partition was assigned once).
 *
 *   build/tests/bench_assignor [runs [filter [cold]]]
 *
 * filter: run only the cases whose title contains it ("" for all).
 * The allocator is kept warm (mallopt: no trimming, no mmap below 256 MB),
 * as in a long-running daemon: otherwise glibc hands the 2 MB result back
 * to the kernel between runs and the next run pays ~500 page faults for
 * it. "cold" keeps glibc's defaults.
 * Each case runs `runs` times (default 9) after one warm-up; min and median
 * in ms. "scratch": no current assignment; "steady": everyone's current is
 * the previous result; "join"/"leave": steady plus one member more/less.
 * Member ids are random UUIDs as the controller makes them.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assignor.h"
#include "synod/client.h"

static uint64_t rs = 42;
static const char *filter;

static uint64_t rnd64(void)
{
	uint64_t x = (rs += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

struct group {
	struct asg_topic *t;
	struct asg_member *m;
	uint64_t **masks;
	char (*ids)[40];
	uint32_t **subs;
	uint32_t *all; /* 0..nt-1, the homogeneous subscription */
	uint32_t nt, nm, cap;
	struct asg_result prev;
};

enum shape { HOMOG, CLASSES, RANDOM_SUBS };

static void die(const char *what)
{
	fprintf(stderr, "bench_assignor: %s\n", what);
	exit(1);
}

static void *xcalloc(size_t n, size_t s)
{
	void *p = calloc(n ? n : 1, s);

	if (p == NULL)
		die("out of memory");
	return p;
}

/* nm members (room for one more), nt topics of pt partitions. racks > 0:
 * members round-robin over racks, each partition's replicas in rf random
 * distinct racks. */
static void make(struct group *g, uint32_t nm, uint32_t nt, uint32_t pt,
		 enum shape shape, uint32_t racks, uint32_t rf)
{
	uint32_t *all;

	memset(g, 0, sizeof *g);
	g->nm = nm;
	g->nt = nt;
	g->cap = nm + 1;
	g->t = xcalloc(nt, sizeof *g->t);
	g->m = xcalloc(g->cap, sizeof *g->m);
	g->ids = xcalloc(g->cap, sizeof *g->ids);
	g->subs = xcalloc(g->cap, sizeof *g->subs);
	g->masks = xcalloc(nt, sizeof *g->masks);
	all = g->all = xcalloc(nt, sizeof *all);
	for (uint32_t i = 0; i < nt; i++) {
		g->t[i].tid = i + 1;
		g->t[i].partitions = pt;
		all[i] = i;
		if (racks) {
			g->masks[i] = xcalloc(pt, sizeof(uint64_t));
			for (uint32_t p = 0; p < pt; p++)
				while ((uint32_t)__builtin_popcountll(
					   g->masks[i][p]) < rf)
					g->masks[i][p] |= 1ULL
							  << (rnd64() % racks);
			g->t[i].rack_masks = g->masks[i];
		}
	}
	for (uint32_t i = 0; i < g->cap; i++) {
		struct asg_member *m = &g->m[i];
		uint64_t a = rnd64(), b = rnd64();

		snprintf(g->ids[i], sizeof g->ids[i],
			 "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
			 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
			 ((unsigned)(b >> 48) & 0x3fff) | 0x8000,
			 (unsigned long long)(b & 0xffffffffffffULL));
		m->member_id = g->ids[i];
		m->rack = racks ? (int)(i % racks) : -1;
		if (shape == HOMOG) {
			m->topics = all;
			m->n_topics = nt;
		} else if (shape == CLASSES) {
			/* 5 classes: topics i with i % 5 != class, so every
			 * topic has 4 classes subscribed */
			uint32_t c = i % 5, n = 0;

			g->subs[i] = xcalloc(nt, sizeof(uint32_t));
			for (uint32_t k = 0; k < nt; k++)
				if (k % 5 != c)
					g->subs[i][n++] = k;
			m->topics = g->subs[i];
			m->n_topics = n;
		} else {
			/* 10% of the topics, at random: every member its own */
			uint32_t n = 0;

			g->subs[i] = xcalloc(nt, sizeof(uint32_t));
			for (uint32_t k = 0; k < nt; k++)
				if (rnd64() % 10 == 0)
					g->subs[i][n++] = k;
			if (n == 0)
				g->subs[i][n++] = (uint32_t)(rnd64() % nt);
			qsort(g->subs[i], n, sizeof(uint32_t), cmp_u32);
			m->topics = g->subs[i];
			m->n_topics = n;
		}
	}
}

static void destroy(struct group *g)
{
	asg_result_free(&g->prev);
	for (uint32_t i = 0; i < g->cap; i++)
		free(g->subs[i]);
	for (uint32_t i = 0; i < g->nt; i++)
		free(g->masks[i]);
	free(g->t);
	free(g->m);
	free(g->ids);
	free(g->subs);
	free(g->masks);
	free(g->all);
}

/* Every subscribed partition assigned once (cheap check). */
static void verify(const struct group *g, const struct asg_result *r)
{
	uint64_t n = 0, want = 0;
	uint8_t *sub = xcalloc(g->nt, 1);

	for (uint32_t i = 0; i < g->nm; i++) {
		n += r->n_assigned[i];
		for (uint32_t k = 0; k < g->m[i].n_topics; k++)
			sub[g->m[i].topics[k]] = 1;
	}
	for (uint32_t t = 0; t < g->nt; t++)
		want += sub[t] ? g->t[t].partitions : 0;
	free(sub);
	if (n != want)
		die("wrong number of partitions assigned");
}

/* Run fn `runs` times on g; print min/median; keep the last result as
 * everyone's current when `stick`. */
static void measure(const char *label, struct group *g, asg_fn fn, int runs,
		    int stick, uint32_t *sizes_out)
{
	struct asg_input in = {g->t, g->nt, g->m, g->nm, 0};
	double *t = xcalloc((size_t)runs, sizeof *t);
	struct asg_result r = {0};
	uint32_t mn = UINT32_MAX, mx = 0;

	in.rack_aware = g->t[0].rack_masks != NULL;
	for (int i = -1; i < runs; i++) {
		double t0;

		asg_result_free(&r);
		t0 = now_ms();
		if (fn(&in, &r) != SYNOD_OK)
			die("assignor failed");
		if (i >= 0)
			t[i] = now_ms() - t0;
	}
	verify(g, &r);
	for (uint32_t i = 0; i < g->nm; i++) {
		mn = r.n_assigned[i] < mn ? r.n_assigned[i] : mn;
		mx = r.n_assigned[i] > mx ? r.n_assigned[i] : mx;
	}
	qsort(t, (size_t)runs, sizeof *t, cmp_d);
	printf("  %-34s min %7.2f ms  median %7.2f ms  sizes %u..%u\n", label,
	       t[0], t[runs / 2], mn, mx);
	fflush(stdout);
	if (sizes_out)
		*sizes_out = mx;
	if (stick) {
		asg_result_free(&g->prev);
		g->prev = r;
		for (uint32_t i = 0; i < g->nm; i++) {
			g->m[i].current = r.assigned[i];
			g->m[i].n_current = r.n_assigned[i];
		}
	} else {
		asg_result_free(&r);
	}
	free(t);
}

static void uniform_case(const char *title, uint32_t nm, uint32_t nt,
			 uint32_t pt, enum shape shape, uint32_t racks,
			 uint32_t rf, int runs)
{
	struct group g;
	struct asg_member last;

	if (filter && !strstr(title, filter))
		return;
	printf("%s\n", title);
	make(&g, nm, nt, pt, shape, racks, rf);
	measure("uniform, scratch", &g, asg_uniform, runs, 1, NULL);
	measure("uniform, steady", &g, asg_uniform, runs, 0, NULL);
	g.nm++; /* one member joins (no current) */
	measure("uniform, one joins", &g, asg_uniform, runs, 0, NULL);
	g.nm -= 2; /* back, and the last one leaves */
	last = g.m[g.nm];
	measure("uniform, one leaves", &g, asg_uniform, runs, 0, NULL);
	g.m[g.nm] = last;
	g.nm++;
	destroy(&g);
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 9;

	if (runs < 1)
		runs = 1;
	filter = argc > 2 && argv[2][0] ? argv[2] : NULL;
	if (argc <= 3 || strcmp(argv[3], "cold") != 0) {
		mallopt(M_TRIM_THRESHOLD, 256 << 20);
		mallopt(M_MMAP_THRESHOLD, 256 << 20);
	}
	printf("bench_assignor: %d runs per line after a warm-up, %s "
	       "allocator\n",
	       runs,
	       argc > 3 && strcmp(argv[3], "cold") == 0 ? "cold" : "warm");
	uniform_case("5,000 members x 250,000 partitions, 1 topic (Kafka: "
		     "7.5 ms)",
		     5000, 1, 250000, HOMOG, 0, 0, runs);
	uniform_case("5,000 members x 250,000 partitions, 50 topics of 5,000",
		     5000, 50, 5000, HOMOG, 0, 0, runs);
	uniform_case("10,000 members x 100,000 partitions, 1 topic (Kafka: "
		     "4.3 ms)",
		     10000, 1, 100000, HOMOG, 0, 0, runs);
	uniform_case("10,000 members x 100,000 partitions, 100 topics of "
		     "1,000",
		     10000, 100, 1000, HOMOG, 0, 0, runs);
	uniform_case("5,000 members x 50,000 partitions, 1 topic (Kafka: "
		     "1.7 ms)",
		     5000, 1, 50000, HOMOG, 0, 0, runs);
	uniform_case("1,000 members x 1,000 topics x 50 partitions, 5 "
		     "subscription classes",
		     1000, 1000, 50, CLASSES, 0, 0, runs);
	uniform_case("1,000 members x 1,000 topics x 50 partitions, each "
		     "member 10% of the topics at random (Kafka: 15-20 ms)",
		     1000, 1000, 50, RANDOM_SUBS, 0, 0, runs);
	uniform_case("rack-aware: 5,000 members x 250,000 partitions, 50 "
		     "topics, 3 racks, RF 3",
		     5000, 50, 5000, HOMOG, 3, 3, runs);
	uniform_case("rack-aware: 5,000 members x 250,000 partitions, 50 "
		     "topics, 6 racks, RF 3",
		     5000, 50, 5000, HOMOG, 6, 3, runs);
	uniform_case("rack-aware: 1,000 members x 50,000 partitions, 1 topic, "
		     "16 racks, RF 3",
		     1000, 1, 50000, HOMOG, 16, 3, runs);
	if (filter == NULL || strstr("range", filter)) {
		struct group g;

		printf("range: 5,000 members x 250,000 partitions, 50 topics "
		       "of 5,000\n");
		make(&g, 5000, 50, 5000, HOMOG, 0, 0);
		measure("range", &g, asg_range, runs, 0, NULL);
		destroy(&g);
		printf("range, rack-aware: same, 6 racks, RF 3\n");
		make(&g, 5000, 50, 5000, HOMOG, 6, 3);
		measure("range", &g, asg_range, runs, 0, NULL);
		destroy(&g);
	}
	return 0;
}
