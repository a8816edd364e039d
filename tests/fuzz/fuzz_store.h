/* tests/fuzz/fuzz_store.h - what the store targets (fuzz_records.c,
 * fuzz_snapshot.c) share: the store with its starting state, the
 * invariant checks and the reads that walk every table.
 *
 * fz_lax: the store holds an arbitrary image (a restored snapshot): the
 * reads may fail (SQLite finds the image corrupt) and the rows may say
 * anything, but nothing may crash or overflow. */
#ifndef SYNOD_FUZZ_STORE_H
#define SYNOD_FUZZ_STORE_H

#include <string.h>

#include "fuzz_build.h"
#include "fuzz_common.h"
#include "store.h"
#include "store_int.h"

static struct store *st;
static int fz_lax;

/* A read's result: must succeed on a store Synod wrote itself. */
#define FZ_READ(call)                                                          \
	do {                                                                   \
		int rv_ = (call);                                              \
		if (!fz_lax)                                                   \
			FUZZ_CHECK(rv_ == STORE_OK);                           \
	} while (0)
static void *base; /* the starting state as a snapshot */
static size_t base_len;
static uint64_t base_digest;

#define SNAP_HEADER 24 /* storage/store.c */

static void setup(void)
{
	uint8_t *entries[FB_BASE_N];
	size_t lens[FB_BASE_N];
	int statuses[16];
	unsigned n;
	FUZZ_CHECK(store_open(&st) == STORE_OK);
	fb_base(entries, lens);
	for (unsigned i = 0; i < FB_BASE_N; i++) {
		FUZZ_CHECK(store_apply(st, i + 1, entries[i], lens[i], statuses,
				       16, &n) == STORE_OK);
		for (unsigned k = 0; k < n; k++)
			FUZZ_CHECK(statuses[k] == STORE_R_OK);
	}
	FUZZ_CHECK(store_snapshot(st, malloc, &base, &base_len) == STORE_OK);
	FUZZ_CHECK(store_digest(st, &base_digest) == STORE_OK);
}

/* Store s back to the starting state, faster than store_restore()
 * (which prepares every statement again: most of a run's time): the
 * image goes into the store's own connection, whose statements prepare
 * again when next used, and the cached values are reset as
 * store_restore() resets them. fz_reset() resets st, checked against the
 * starting digest every 256 runs. */
static void fz_reset_store(struct store *s)
{
	size_t n = base_len - SNAP_HEADER;
	unsigned char *img = sqlite3_malloc64(n);
	FUZZ_CHECK(img != NULL);
	memcpy(img, (const uint8_t *)base + SNAP_HEADER, n);
	FUZZ_CHECK(sqlite3_deserialize(
		       s->db, "main", img, (sqlite3_int64)n, (sqlite3_int64)n,
		       SQLITE_DESERIALIZE_FREEONCLOSE |
			   SQLITE_DESERIALIZE_RESIZEABLE) == SQLITE_OK);
	FUZZ_CHECK(sqlite3_exec(s->db,
				"PRAGMA journal_mode=MEMORY; "
				"PRAGMA synchronous=OFF; "
				"PRAGMA foreign_keys=OFF;",
				NULL, NULL, NULL) == SQLITE_OK);
	s->applied_index = FB_BASE_N;
	snprintf(s->cluster_id, sizeof s->cluster_id, "fuzz-cluster");
	s->errmsg[0] = '\0';
	s->cache_topic_valid = 0;
	s->topics_gen++;
	st_cache_drop(s);
	/* Read scratch of earlier runs: each run starts without (a fresh
	 * store's state), or a run would depend on the ones before. */
	st_groups_free(s);
}

static void fz_reset(void)
{
	static unsigned runs;
	fz_reset_store(st);
	if (runs++ % 256 == 0) {
		uint64_t d;
		FUZZ_CHECK(store_digest(st, &d) == STORE_OK &&
			   d == base_digest);
	}
}

/* ---- partition invariants ---- */

static int check_partition(void *arg, const struct store_topic *t,
			   const struct store_partition *p)
{
	struct store_broker b;
	int in_isr = 0;
	(void)arg;
	(void)t;
	FUZZ_CHECK(p->n_replicas <= STORE_MAX_REPLICAS);
	FUZZ_CHECK(p->n_isr <= STORE_MAX_REPLICAS);
	for (uint32_t i = 0; i < p->n_replicas; i++)
		for (uint32_t k = 0; k < i; k++)
			FUZZ_CHECK(p->replicas[k] != p->replicas[i]);
	for (uint32_t i = 0; i < p->n_isr; i++) {
		int is_replica = 0;
		for (uint32_t k = 0; k < i; k++)
			FUZZ_CHECK(p->isr[k] != p->isr[i]);
		for (uint32_t k = 0; k < p->n_replicas; k++)
			is_replica |= p->replicas[k] == p->isr[i];
		FUZZ_CHECK(is_replica);
		in_isr |= p->isr[i] == p->leader;
	}
	if (p->leader == -1)
		return 0;
	FUZZ_CHECK(in_isr);
	FUZZ_CHECK(store_broker_get(st, p->leader, &b) == STORE_OK);
	FUZZ_CHECK(!b.fenced && !b.shutting_down);
	return 0;
}

/* ---- group invariant: one holder per partition in a group ---- */

struct holder {
	uint8_t topic_id[16];
	int32_t partition;
};

struct holders {
	struct holder *v;
	size_t n, cap;
	int members;
};

static void hold(struct holders *h, const struct store_pset *s)
{
	for (uint32_t t = 0; t < s->n_topics; t++)
		for (uint32_t i = 0; i < s->topics[t].n; i++) {
			if (h->n == h->cap) {
				h->cap = h->cap ? h->cap * 2 : 64;
				h->v = realloc(h->v, h->cap * sizeof *h->v);
				FUZZ_CHECK(h->v != NULL);
			}
			memcpy(h->v[h->n].topic_id, s->topics[t].topic_id, 16);
			h->v[h->n].partition = s->topics[t].partitions[i];
			h->n++;
		}
}

static int holder_cmp(const void *a, const void *b)
{
	const struct holder *x = a, *y = b;
	int r = memcmp(x->topic_id, y->topic_id, 16);
	if (r)
		return r;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

static int one_member(void *arg, const struct store_group_member *m)
{
	struct holders *h = arg;
	FUZZ_CHECK(fz_lax || (m->member_id != NULL && m->group_id != NULL));
	hold(h, &m->assigned);
	hold(h, &m->pending);
	h->members++;
	return 0;
}

static int one_group(void *arg, const struct store_group *g)
{
	struct holders h = {0};
	(void)arg;
	if (g->group_id == NULL) {
		FUZZ_CHECK(fz_lax);
		return 0;
	}
	FZ_READ(store_group_members(st, g->group_id, one_member, &h));
	if (h.n > 1 && !fz_lax) {
		qsort(h.v, h.n, sizeof *h.v, holder_cmp);
		for (size_t i = 1; i < h.n; i++)
			FUZZ_CHECK(holder_cmp(&h.v[i - 1], &h.v[i]) != 0);
	}
	free(h.v);
	return 0;
}

/* ---- reads over whatever the entry wrote ---- */

static int any_topic(void *arg, const struct store_topic *t)
{
	(void)arg;
	FUZZ_CHECK(memchr(t->name, '\0', sizeof t->name) != NULL);
	return 0;
}

static int any_partition(void *arg, const struct store_topic *t,
			 const struct store_partition *p)
{
	(void)arg;
	(void)t;
	FUZZ_CHECK(p->n_replicas <= STORE_MAX_REPLICAS &&
		   p->n_isr <= STORE_MAX_REPLICAS);
	return 0;
}

static int any_broker(void *arg, const struct store_broker *b)
{
	(void)arg;
	FUZZ_CHECK(b->n_endpoints <= STORE_MAX_ENDPOINTS);
	return 0;
}

static int any_config(void *arg, unsigned scope, const char *resource,
		      const char *key, const char *value)
{
	(void)arg;
	FUZZ_CHECK(fz_lax || scope <= STORE_SCOPE_PRINCIPAL);
	FUZZ_CHECK(fz_lax || (resource && key && value));
	return 0;
}

static int any_count(void *arg, int32_t broker, uint64_t count)
{
	(void)arg;
	(void)broker;
	FUZZ_CHECK(fz_lax || count > 0);
	return 0;
}

static void read_all(int strict)
{
	struct store_pkey after = {0, -1};
	struct holders h = {0};
	struct store_broker b;
	struct store_topic t;
	uint64_t digest;
	int32_t leader = -1;
	char *value = NULL;
	unsigned n, steps = 0;
	if (strict)
		FZ_READ(store_partitions_all(st, check_partition, NULL));
	FZ_READ(store_group_list(st, one_group, NULL));
	FZ_READ(store_topic_list(st, any_topic, NULL));
	FZ_READ(store_broker_list(st, any_broker, NULL));
	FZ_READ(store_config_list(st, -1, NULL, any_config, NULL));
	FZ_READ(store_topics_since(st, 7, any_topic, any_topic, NULL));
	FZ_READ(store_broker_partitions(st, 1, 0, any_partition, NULL));
	FZ_READ(
	    store_partitions_page(st, &after, 1000, &n, any_partition, NULL));
	FZ_READ(store_replica_counts(st, any_count, NULL));
	FZ_READ(store_leader_counts(st, any_count, NULL));
	while (store_next_leader(st, leader, &leader) == STORE_OK &&
	       steps++ < 1000) {
		int leads = 0;
		FZ_READ(store_broker_leads(st, leader, &leads));
		FUZZ_CHECK(fz_lax || leads);
	}
	if (store_broker_get(st, 1, &b) == STORE_OK)
		FUZZ_CHECK(b.n_endpoints <= STORE_MAX_ENDPOINTS);
	if (store_topic_get(st, "orders", &t) == STORE_OK) {
		struct store_partition p;
		FZ_READ(store_partition_list(st, &t, any_partition, NULL));
		if (store_partition_get(st, t.tid, 0, &p) == STORE_OK)
			FUZZ_CHECK(p.n_replicas <= STORE_MAX_REPLICAS);
	}
	if (store_config_get(st, 0, "", "num.partitions", &value) == STORE_OK)
		free(value);
	FZ_READ(store_group_members(st, "g1", one_member, &h));
	free(h.v);
	FZ_READ(store_digest(st, &digest));
	(void)store_db_size(st);
	(void)store_cluster_id(st);
}

#endif
