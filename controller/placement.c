/* controller/placement.c - replica placement for new partitions (see
 * placement.h for the contract and the guarantees).
 *
 * Two passes over plain arrays, no global state:
 *  1. greedy, partition by partition: the leader is the broker with the
 *     fewest leaders of all (so leaders fill up like water: never more than
 *     one apart when starting level); then each follower is the broker with
 *     the fewest replicas among those allowed, first in racks the partition
 *     does not use yet, then anywhere once every rack is used. Among
 *     brokers with as few replicas, a follower is taken from those that
 *     already lead more, which keeps the brokers with few leaders free to
 *     take the next leaders without overtaking the others in replicas.
 *  2. local repair: while some follower placed here sits on a broker with
 *     at least two more replicas than another broker that could replace it
 *     without losing rack spread, move it there (each move lowers the sum
 *     of squared replica counts, so this ends; the greedy pass leaves few).
 * Remaining ties go to a seed-derived ranking of the broker ids, so the
 * result depends on the brokers' ids, racks and counts and on the seed,
 * not on the order of brokers[].
 *
 * Indices into brokers[] are written to out[] while placing and turned
 * into ids at the end. Cost: O(n_partitions * rf * n_brokers) per pass.
 */
#include "placement.h"

#include <stdlib.h>
#include <string.h>

struct pl_ctx {
	size_t nb;	 /* brokers */
	uint32_t nr;	 /* distinct racks */
	uint32_t *rack;	 /* broker -> rack index */
	uint32_t *rank;	 /* broker -> seeded tie-break rank */
	uint32_t *rep;	 /* broker -> replicas (working copy) */
	uint32_t *lead;	 /* broker -> leaders (working copy) */
	uint8_t *used;	 /* broker is in the current partition */
	uint32_t *rsize; /* rack -> brokers */
	uint64_t *rload; /* rack -> replicas on its brokers */
	uint32_t *rcnt;	 /* rack -> replicas of the current partition */
	uint32_t nused;	 /* racks with rcnt > 0 */
};

struct pl_sort {
	uint64_t key;
	const char *rack;
	int32_t id;
	uint32_t idx;
};

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static int cmp_id(const void *a, const void *b)
{
	const struct pl_sort *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static int cmp_key(const void *a, const void *b)
{
	const struct pl_sort *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return cmp_id(a, b);
}

static int cmp_rack(const void *a, const void *b)
{
	const struct pl_sort *x = a, *y = b;
	int c = strcmp(x->rack, y->rack);

	return c ? c : cmp_id(a, b);
}

/* Compare the replicas per broker of two racks, rload/rsize, exactly. */
static int rack_cmp(const struct pl_ctx *c, uint32_t ra, uint32_t rb)
{
	uint64_t sa = c->rsize[ra], sb = c->rsize[rb];
	uint64_t qa = c->rload[ra] / sa, qb = c->rload[rb] / sb;
	uint64_t ma, mb;

	if (ra == rb)
		return 0;
	if (qa != qb)
		return qa < qb ? -1 : 1;
	/* remainders < sizes < 2^32: the products fit */
	ma = (c->rload[ra] % sa) * sb;
	mb = (c->rload[rb] % sb) * sa;
	return (ma > mb) - (ma < mb);
}

/* Is broker a a better leader than b? Fewest leaders, then fewest
 * replicas, then the least loaded rack, then rank. */
static int leader_better(const struct pl_ctx *c, size_t a, size_t b)
{
	int r;

	if (c->lead[a] != c->lead[b])
		return c->lead[a] < c->lead[b];
	if (c->rep[a] != c->rep[b])
		return c->rep[a] < c->rep[b];
	r = rack_cmp(c, c->rack[a], c->rack[b]);
	if (r)
		return r < 0;
	return c->rank[a] < c->rank[b];
}

/* Is broker a a better follower than b? Fewest replicas, then the most
 * leaders, then the least loaded rack, then rank. */
static int follower_better(const struct pl_ctx *c, size_t a, size_t b)
{
	int r;

	if (c->rep[a] != c->rep[b])
		return c->rep[a] < c->rep[b];
	if (c->lead[a] != c->lead[b])
		return c->lead[a] > c->lead[b];
	r = rack_cmp(c, c->rack[a], c->rack[b]);
	if (r)
		return r < 0;
	return c->rank[a] < c->rank[b];
}

/* Mark broker b as a member of the current partition. */
static void join(struct pl_ctx *c, size_t b)
{
	c->used[b] = 1;
	if (c->rcnt[c->rack[b]]++ == 0)
		c->nused++;
}

static void leave(struct pl_ctx *c, size_t b)
{
	c->used[b] = 0;
	if (--c->rcnt[c->rack[b]] == 0)
		c->nused--;
}

static void add_replica(struct pl_ctx *c, size_t b)
{
	c->rep[b]++;
	c->rload[c->rack[b]]++;
}

static void del_replica(struct pl_ctx *c, size_t b)
{
	c->rep[b]--;
	c->rload[c->rack[b]]--;
}

static void place_one(struct pl_ctx *c, int32_t *o, uint32_t rf)
{
	size_t b, best = 0;
	uint32_t k;

	for (b = 1; b < c->nb; b++)
		if (leader_better(c, b, best))
			best = b;
	o[0] = (int32_t)best;
	join(c, best);
	add_replica(c, best);
	c->lead[best]++;
	for (k = 1; k < rf; k++) {
		int found = 0;
		int spread = c->nused < c->nr; /* a new rack is still needed */

		for (b = 0; b < c->nb; b++) {
			if (c->used[b] || (spread && c->rcnt[c->rack[b]]))
				continue;
			if (!found || follower_better(c, b, best)) {
				best = b;
				found = 1;
			}
		}
		/* rf <= nb: some broker is always unused */
		o[k] = (int32_t)best;
		join(c, best);
		add_replica(c, best);
	}
	for (k = 0; k < rf; k++)
		leave(c, (size_t)o[k]);
}

static uint32_t min_rep(const struct pl_ctx *c)
{
	uint32_t m = c->rep[0];
	size_t b;

	for (b = 1; b < c->nb; b++)
		if (c->rep[b] < m)
			m = c->rep[b];
	return m;
}

/* Best replacement for follower slot o[k] of the current partition (whose
 * members are joined): a broker outside it with at least two replicas
 * fewer, keeping the number of racks; -1 when there is none. */
static long replacement(const struct pl_ctx *c, const int32_t *o, uint32_t k)
{
	size_t from = (size_t)o[k], b;
	uint32_t rfrom = c->rack[from];
	int lose = c->rcnt[rfrom] == 1;
	long best = -1;

	for (b = 0; b < c->nb; b++) {
		uint32_t rb = c->rack[b];
		int gain;

		if (c->used[b] || c->rep[b] + 2 > c->rep[from])
			continue;
		gain = rb == rfrom ? lose : c->rcnt[rb] == 0;
		if (gain < lose)
			continue;
		if (best < 0 || follower_better(c, b, (size_t)best))
			best = (long)b;
	}
	return best;
}

static void repair(struct pl_ctx *c, int32_t *out, uint32_t np, uint32_t rf)
{
	uint64_t moved;

	do {
		uint32_t floor = min_rep(c), p, k;

		moved = 0;
		for (p = 0; p < np; p++) {
			int32_t *o = out + (size_t)p * rf;
			int need = 0;

			for (k = 1; k < rf; k++)
				if (c->rep[o[k]] >= floor + 2)
					need = 1;
			if (!need)
				continue;
			for (k = 0; k < rf; k++)
				join(c, (size_t)o[k]);
			for (k = 1; k < rf; k++) {
				long to;

				if (c->rep[o[k]] < floor + 2)
					continue;
				to = replacement(c, o, k);
				if (to < 0)
					continue;
				leave(c, (size_t)o[k]);
				del_replica(c, (size_t)o[k]);
				o[k] = (int32_t)to;
				join(c, (size_t)to);
				add_replica(c, (size_t)to);
				moved++;
			}
			for (k = 0; k < rf; k++)
				leave(c, (size_t)o[k]);
		}
	} while (moved);
}

static void ctx_free(struct pl_ctx *c)
{
	free(c->rack);
	free(c->rank);
	free(c->rep);
	free(c->lead);
	free(c->used);
	free(c->rsize);
	free(c->rload);
	free(c->rcnt);
}

/* Validate the brokers and build the context: rack indices in rack name
 * order, tie-break ranks from the seed. */
static int ctx_init(struct pl_ctx *c, const struct pl_broker *brokers,
		    size_t nb, uint32_t np, uint32_t seed)
{
	struct pl_sort *s;
	size_t i;
	int rc = PL_OK;

	memset(c, 0, sizeof(*c));
	c->nb = nb;
	s = calloc(nb, sizeof(*s));
	c->rack = calloc(nb, sizeof(*c->rack));
	c->rank = calloc(nb, sizeof(*c->rank));
	c->rep = calloc(nb, sizeof(*c->rep));
	c->lead = calloc(nb, sizeof(*c->lead));
	c->used = calloc(nb, sizeof(*c->used));
	c->rsize = calloc(nb, sizeof(*c->rsize));
	c->rload = calloc(nb, sizeof(*c->rload));
	c->rcnt = calloc(nb, sizeof(*c->rcnt));
	if (!s || !c->rack || !c->rank || !c->rep || !c->lead || !c->used ||
	    !c->rsize || !c->rload || !c->rcnt) {
		rc = PL_ENOMEM;
		goto out;
	}
	for (i = 0; i < nb; i++) {
		const struct pl_broker *b = &brokers[i];

		if (b->id < 0 || b->replicas > UINT32_MAX - np ||
		    b->leaders > UINT32_MAX - np) {
			rc = PL_EINVALID;
			goto out;
		}
		s[i].id = b->id;
		s[i].rack = b->rack ? b->rack : "";
		s[i].idx = (uint32_t)i;
		s[i].key = mix64(((uint64_t)seed << 32) | (uint32_t)b->id);
		c->rep[i] = b->replicas;
		c->lead[i] = b->leaders;
	}
	qsort(s, nb, sizeof(*s), cmp_id);
	for (i = 1; i < nb; i++)
		if (s[i].id == s[i - 1].id) {
			rc = PL_EINVALID;
			goto out;
		}
	qsort(s, nb, sizeof(*s), cmp_key);
	for (i = 0; i < nb; i++)
		c->rank[s[i].idx] = (uint32_t)i;
	qsort(s, nb, sizeof(*s), cmp_rack);
	for (i = 0; i < nb; i++) {
		uint32_t b = s[i].idx;

		if (i > 0 && strcmp(s[i].rack, s[i - 1].rack) != 0)
			c->nr++;
		c->rack[b] = c->nr;
		c->rsize[c->nr]++;
		c->rload[c->nr] += c->rep[b];
	}
	c->nr++;
out:
	free(s);
	if (rc)
		ctx_free(c);
	return rc;
}

int placement_assign(struct pl_broker *brokers, size_t n_brokers,
		     uint32_t n_partitions, uint32_t rf, uint32_t seed,
		     int32_t *out)
{
	struct pl_ctx c;
	size_t i, n;
	uint32_t p;
	int rc;

	if (rf < 1 || rf > n_brokers)
		return PL_EINVALID_RF;
	if (n_partitions == 0 || !brokers || !out || n_brokers > INT32_MAX ||
	    n_partitions > SIZE_MAX / rf)
		return PL_EINVALID;
	rc = ctx_init(&c, brokers, n_brokers, n_partitions, seed);
	if (rc)
		return rc;
	for (p = 0; p < n_partitions; p++)
		place_one(&c, out + (size_t)p * rf, rf);
	repair(&c, out, n_partitions, rf);
	n = (size_t)n_partitions * rf;
	for (i = 0; i < n; i++)
		out[i] = brokers[out[i]].id;
	for (i = 0; i < n_brokers; i++) {
		brokers[i].replicas = c.rep[i];
		brokers[i].leaders = c.lead[i];
	}
	ctx_free(&c);
	return PL_OK;
}
