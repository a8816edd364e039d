/* controller/assignor.c - server-side assignors (see assignor.h for the
 * contract and the guarantees).
 *
 * Partitions are numbered by "slots": the subscribed topics laid out in
 * tid order, slot = base of the topic + partition, so walking the slots
 * walks the keys in ascending order and every member's result comes out
 * sorted without sorting. Members are ranked by member id once (radix sort
 * of an 8-byte prefix, strcmp within equal prefixes); every tie anywhere
 * goes to the smaller rank, never to the input order.
 *
 * uniform:
 *  1. claim: every valid key of a member's `current` marks the slot as
 *     its (the smaller member id wins a slot claimed twice);
 *  2. classes: members with the same topic set form a subscription class
 *     (one class: homogeneous, steps 3-4 are skipped);
 *  3. class balance (heterogeneous): y[C][t], the partitions of topic t
 *     given to class C, start from what the class's members hold; free
 *     partitions go to the subscribed class whose members are smallest;
 *     then chains of moves between classes (class X hands a partition of t
 *     to class Y subscribed to t, ...) run while they lower the sum of
 *     squared member sizes (a class's members share its total within
 *     one). A labelling pass finds, for every class at once, the smallest
 *     member size it can reach (a breadth-first search backwards from the
 *     classes in increasing size), then paths are applied, in bulk;
 *     repeated until no class can improve: the balance is then optimal
 *     (a convex-cost flow without improving path);
 *  4. split: each topic's partitions are given to classes: held ones
 *     first (up to y), shed preferably from members above their quota,
 *     then the free ones (rack-aware: local ones first);
 *  5. within a class (homogeneous): quotas floor or ceil of the class's
 *     total over its members, the ceil ones going first to members holding
 *     more than the floor (by rank); each member keeps its first
 *     min(held, quota) slots, the others fill members with room in rank
 *     order; one pass over the slots; or, rack-aware, rack_solve() below.
 *
 * rack_solve: members with a base size and optionally one extra each
 * (extras in all fixed), items with a rack mask and a preferred member.
 * Max-flow between distinct masks and racks (capacity of a rack: its base
 * sizes plus extras taken through a shared node X) gives the largest
 * number of local placements; the flow starts from the local items the
 * preferred members can keep, then grows by augmenting paths. Items are
 * then given to racks (preferred ones first) and to members (preferred,
 * then members that need new items anyway), the rest as in step 5.
 *
 * range: subscribers per topic in (instance id, member id) order, ranges
 * written directly; rack-aware: rack_solve() per co-partition group with
 * the range sizes as fixed capacities and the plain range as preference.
 */
#include "assignor.h"

#include <stdlib.h>
#include <string.h>

#include "synod/client.h"

#define NONE UINT32_MAX

/* ---- scratch memory: every temporary of one call, freed together ---- */

struct scratch {
	void **p;
	uint32_t n, cap;
	int failed;
};

static void *sc_get(struct scratch *sc, size_t n, size_t size, int zero)
{
	void *p;

	if (sc->failed)
		return NULL;
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX / size)
		goto fail;
	if (sc->n == sc->cap) {
		uint32_t cap = sc->cap ? sc->cap * 2 : 32;
		void **np = realloc(sc->p, cap * sizeof *np);

		if (np == NULL)
			goto fail;
		sc->p = np;
		sc->cap = cap;
	}
	p = zero ? calloc(n, size) : malloc(n * size);
	if (p == NULL)
		goto fail;
	sc->p[sc->n++] = p;
	return p;
fail:
	sc->failed = 1;
	return NULL;
}

static void sc_free(struct scratch *sc)
{
	for (uint32_t i = 0; i < sc->n; i++)
		free(sc->p[i]);
	free(sc->p);
	memset(sc, 0, sizeof *sc);
}

static uint32_t *u32s(struct scratch *sc, size_t n)
{
	return sc_get(sc, n, sizeof(uint32_t), 0);
}

static uint32_t *u32z(struct scratch *sc, size_t n)
{
	return sc_get(sc, n, sizeof(uint32_t), 1);
}

static void fill_none(uint32_t *a, size_t n)
{
	memset(a, 0xff, n * sizeof *a);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* ---- results ---- */

void asg_result_free(struct asg_result *out)
{
	if (out == NULL)
		return;
	if (out->assigned)
		for (uint32_t i = 0; i < out->n_members; i++)
			free(out->assigned[i]);
	free(out->assigned);
	free(out->n_assigned);
	memset(out, 0, sizeof *out);
}

/* Allocate out for counts n[] (members in input order). */
static int result_alloc(struct asg_result *out, uint32_t M, const uint32_t *n)
{
	memset(out, 0, sizeof *out);
	if (M == 0)
		return SYNOD_OK;
	out->assigned = calloc(M, sizeof *out->assigned);
	out->n_assigned = calloc(M, sizeof *out->n_assigned);
	out->n_members = M;
	if (out->assigned == NULL || out->n_assigned == NULL)
		goto fail;
	for (uint32_t i = 0; i < M; i++) {
		out->n_assigned[i] = n[i];
		if (n[i] == 0)
			continue;
		out->assigned[i] = malloc((size_t)n[i] * sizeof(uint64_t));
		if (out->assigned[i] == NULL)
			goto fail;
	}
	return SYNOD_OK;
fail:
	asg_result_free(out);
	return SYNOD_ENOMEM;
}

/* ---- input checks, member ranks, topic layout ---- */

static int same_topics(const struct asg_member *a, const struct asg_member *b)
{
	return a->n_topics == b->n_topics &&
	       (a->topics == b->topics ||
		memcmp(a->topics, b->topics, a->n_topics * sizeof *a->topics) ==
		    0);
}

static int validate(const struct asg_input *in)
{
	const struct asg_member *first = NULL;

	if (in->n_topics && in->topics == NULL)
		return SYNOD_EINVALID_ARGUMENT;
	if (in->n_members && in->members == NULL)
		return SYNOD_EINVALID_ARGUMENT;
	for (uint32_t i = 0; i < in->n_topics; i++)
		if (in->topics[i].tid < 0 ||
		    in->topics[i].tid > (int64_t)UINT32_MAX)
			return SYNOD_EINVALID_ARGUMENT;
	for (uint32_t i = 0; i < in->n_members; i++) {
		const struct asg_member *m = &in->members[i];

		if (m->member_id == NULL || m->rack < -1 || m->rack > 63)
			return SYNOD_EINVALID_ARGUMENT;
		if ((m->n_topics && m->topics == NULL) ||
		    (m->n_current && m->current == NULL))
			return SYNOD_EINVALID_ARGUMENT;
		if (m->n_topics == 0 || (first && same_topics(m, first)))
			continue; /* checked already */
		if (first == NULL)
			first = m;
		for (uint32_t k = 0; k < m->n_topics; k++)
			if (m->topics[k] >= in->n_topics ||
			    (k && m->topics[k] <= m->topics[k - 1]))
				return SYNOD_EINVALID_ARGUMENT;
	}
	return SYNOD_OK;
}

struct idkey {
	uint64_t k; /* first 8 bytes, big-endian: orders as strcmp does */
	uint32_t idx;
};

static uint64_t prefix8(const char *s)
{
	uint64_t k = 0;

	for (int i = 0; i < 8 && s[i]; i++)
		k |= (uint64_t)(unsigned char)s[i] << (56 - 8 * i);
	return k;
}

/* Insertion sort by full id of a run with equal prefixes (short runs). */
static void sort_run(const struct asg_input *in, struct idkey *a, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		struct idkey x = a[i];
		const char *id = in->members[x.idx].member_id;
		uint32_t j = i;

		while (j > 0 &&
		       strcmp(in->members[a[j - 1].idx].member_id, id) > 0) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = x;
	}
}

#define RBITS 11
#define RBUCKETS (1u << RBITS)
#define RPASSES ((64 + RBITS - 1) / RBITS)

/* byrank[r] = the member of rank r (member ids ascending), rank[m] its
 * inverse. SYNOD_EINVALID_ARGUMENT on a duplicate id. LSD radix sort of
 * the 8-byte prefixes (O(M)), then strcmp within equal prefixes only. */
static int rank_members(const struct asg_input *in, struct scratch *sc,
			uint32_t *byrank, uint32_t *rank)
{
	uint32_t M = in->n_members;
	struct idkey *a = sc_get(sc, M, sizeof *a, 0);
	struct idkey *b = sc_get(sc, M, sizeof *b, 0);
	uint32_t(*cnt)[RBUCKETS] = sc_get(sc, RPASSES, sizeof *cnt, 1);

	if (sc->failed)
		return SYNOD_ENOMEM;
	for (uint32_t i = 0; i < M; i++) {
		uint64_t k = prefix8(in->members[i].member_id);

		a[i].k = k;
		a[i].idx = i;
		for (int d = 0; d < RPASSES; d++)
			cnt[d][(k >> (d * RBITS)) & (RBUCKETS - 1)]++;
	}
	for (int d = 0; d < RPASSES && M; d++) {
		uint32_t sum = 0, *c = cnt[d];
		struct idkey *t;

		if (c[(a[0].k >> (d * RBITS)) & (RBUCKETS - 1)] == M)
			continue; /* one bucket: nothing moves */
		for (uint32_t v = 0; v < RBUCKETS; v++) {
			uint32_t n = c[v];

			c[v] = sum;
			sum += n;
		}
		for (uint32_t i = 0; i < M; i++)
			b[c[(a[i].k >> (d * RBITS)) & (RBUCKETS - 1)]++] = a[i];
		t = a;
		a = b;
		b = t;
	}
	for (uint32_t i = 0, j; i < M; i = j) {
		for (j = i + 1; j < M && a[j].k == a[i].k; j++)
			;
		if (j - i == 1)
			continue;
		sort_run(in, a + i, j - i);
		for (uint32_t x = i + 1; x < j; x++)
			if (strcmp(in->members[a[x].idx].member_id,
				   in->members[a[x - 1].idx].member_id) == 0)
				return SYNOD_EINVALID_ARGUMENT;
	}
	for (uint32_t i = 0; i < M; i++) {
		byrank[i] = a[i].idx;
		rank[a[i].idx] = i;
	}
	return SYNOD_OK;
}

/* The subscribed topics laid out in tid order. */
struct layout {
	uint32_t NT;	  /* topics subscribed by someone */
	uint32_t P;	  /* their partitions: slots 0..P-1 */
	uint32_t *tpos;	  /* input topic -> layout position, NONE */
	uint32_t *topic;  /* position -> input topic */
	int64_t *tid;	  /* position -> tid, ascending */
	uint32_t *base;	  /* position -> first slot; base[NT] = P */
	uint32_t *direct; /* tid -> position or NONE, tid < ndirect */
	uint32_t ndirect; /* 0: binary search in tid[] */
};

struct tidix {
	int64_t tid;
	uint32_t idx;
};

static int cmp_tidix(const void *a, const void *b)
{
	const struct tidix *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* The topics of members reps[0..nreps) (all members if reps is NULL)
 * are the subscribed ones. */
static int make_layout(const struct asg_input *in, struct scratch *sc,
		       struct layout *l, const uint32_t *reps, uint32_t nreps)
{
	uint32_t T = in->n_topics;
	struct tidix *s = sc_get(sc, T, sizeof *s, 0);
	uint8_t *sub = sc_get(sc, T, 1, 1);
	uint64_t P = 0;

	l->tpos = u32s(sc, T);
	l->topic = u32s(sc, T);
	l->tid = sc_get(sc, T, sizeof *l->tid, 0);
	l->base = u32s(sc, (size_t)T + 1);
	if (sc->failed)
		return SYNOD_ENOMEM;
	if (reps == NULL)
		nreps = in->n_members;
	for (uint32_t j = 0; j < nreps; j++) {
		const struct asg_member *m = &in->members[reps ? reps[j] : j];

		for (uint32_t k = 0; k < m->n_topics; k++)
			sub[m->topics[k]] = 1;
	}
	for (uint32_t i = 0; i < T; i++) {
		s[i].tid = in->topics[i].tid;
		s[i].idx = i;
	}
	qsort(s, T, sizeof *s, cmp_tidix);
	l->NT = 0;
	for (uint32_t i = 0; i < T; i++) {
		uint32_t t = s[i].idx;

		if (i && s[i].tid == s[i - 1].tid)
			return SYNOD_EINVALID_ARGUMENT;
		l->tpos[t] = NONE;
		if (!sub[t])
			continue;
		l->tpos[t] = l->NT;
		l->topic[l->NT] = t;
		l->tid[l->NT] = s[i].tid;
		l->base[l->NT] = (uint32_t)P;
		P += in->topics[t].partitions;
		if (P >= NONE)
			return SYNOD_EINVALID_ARGUMENT;
		l->NT++;
	}
	l->base[l->NT] = (uint32_t)P;
	l->P = (uint32_t)P;
	/* tids are small numbers: a direct table when it stays small */
	l->ndirect = 0;
	if (l->NT && l->tid[l->NT - 1] < 8 * (int64_t)l->NT + 4096) {
		l->ndirect = (uint32_t)l->tid[l->NT - 1] + 1;
		l->direct = u32s(sc, l->ndirect);
		if (sc->failed)
			return SYNOD_ENOMEM;
		fill_none(l->direct, l->ndirect);
		for (uint32_t lp = 0; lp < l->NT; lp++)
			l->direct[l->tid[lp]] = lp;
	}
	return SYNOD_OK;
}

/* Layout position of tid, NONE if not subscribed. */
static uint32_t find_tid(const struct layout *l, int64_t tid)
{
	uint32_t lo = 0, hi = l->NT;

	if (l->ndirect)
		return tid < l->ndirect ? l->direct[tid] : NONE;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (l->tid[mid] < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->NT && l->tid[lo] == tid ? lo : NONE;
}

/* ---- rack_solve ---- */

struct rsolve {
	uint32_t n;	      /* members 0..n-1, by rank */
	const int *rack;      /* per member: -1..63 */
	const uint32_t *base; /* per member: size without extra */
	int xok;	      /* 1: each member may take one extra */
	uint32_t extras;      /* extras to give: sum base + extras = ni */
	uint32_t ni;	      /* items */
	const uint64_t *mask; /* per item: racks holding a replica */
	const uint32_t *pref; /* per item: preferred member or NONE */
	uint32_t *own;	      /* out: per item, its member */
};

/* Bits set (SWAR: no libgcc call without -mpopcnt). */
static uint32_t popc(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (uint32_t)((x * 0x0101010101010101ULL) >> 56);
}

struct mpop {
	uint32_t pop, d;
};

static int cmp_mpop(const void *a, const void *b)
{
	const struct mpop *x = a, *y = b;

	if (x->pop != y->pop)
		return x->pop < y->pop ? -1 : 1;
	return (x->d > y->d) - (x->d < y->d);
}

/* Index of the rack bit r among the bits of mask v (its position in the
 * mask's rack list). */
static uint32_t bit_index(uint64_t v, uint32_t r)
{
	return popc(v & ((1ULL << r) - 1));
}

static int rack_solve(const struct rsolve *p)
{
	struct scratch sc = {0};
	const uint32_t n = p->n, ni = p->ni;
	uint64_t pm = 0, Br[64] = {0}, Fr[64] = {0}, Xr[64] = {0};
	uint64_t sumE = 0, E = p->extras;
	uint32_t ri[64], rnum[64], R = 0, kr[64] = {0}, roff_m[65];
	uint32_t *mid, *dn, *outd, *roff, *rr, *f, *need, *cur, *rk;
	uint32_t *rmoff, *rmd, *rmpos, *par, *vis, *queue, *spl, *klc;
	uint32_t *hl, *nlp, *cap, *asg, *rmem, *lq, c1[64], c2[64];
	uint64_t *dval, *htab_k;
	uint32_t *htab_v, D = 0, Dmax, stamp = 0;
	size_t hsize;
	uint8_t *tag, *ext;
	uint32_t nodes, X;
	int rv = -1;

	for (uint32_t i = 0; i < n; i++)
		if (p->rack[i] >= 0)
			pm |= 1ULL << p->rack[i];
	for (uint32_t r = 0; r < 64; r++) {
		ri[r] = NONE;
		if (pm >> r & 1) {
			ri[r] = R;
			rnum[R++] = r;
		}
	}
	for (uint32_t i = 0; i < n; i++)
		if (p->rack[i] >= 0) {
			uint32_t r = ri[p->rack[i]];

			kr[r]++;
			Br[r] += p->base[i];
		}
	for (uint32_t r = 0; r < R; r++)
		Xr[r] = p->xok ? kr[r] : 0;
	/* members of each rack, by rank */
	rmem = u32s(&sc, n);
	if (sc.failed)
		goto out;
	roff_m[0] = 0;
	for (uint32_t r = 0; r < R; r++)
		roff_m[r + 1] = roff_m[r] + kr[r];
	{
		uint32_t fillp[64];

		memcpy(fillp, roff_m, sizeof fillp);
		for (uint32_t i = 0; i < n; i++)
			if (p->rack[i] >= 0)
				rmem[fillp[ri[p->rack[i]]]++] = i;
	}

	/* distinct masks (restricted to present racks), in item order */
	Dmax = ni;
	if (R < 32 && (1u << R) < Dmax)
		Dmax = 1u << R;
	for (hsize = 16; hsize < 2 * (size_t)Dmax; hsize *= 2)
		;
	mid = u32s(&sc, ni);
	dval = sc_get(&sc, Dmax, sizeof *dval, 0);
	dn = u32z(&sc, Dmax);
	outd = u32z(&sc, Dmax);
	roff = u32s(&sc, (size_t)Dmax + 1);
	htab_k = sc_get(&sc, hsize, sizeof *htab_k, 0);
	htab_v = u32s(&sc, hsize);
	if (sc.failed)
		goto out;
	fill_none(htab_v, hsize);
	for (uint32_t it = 0; it < ni; it++) {
		uint64_t v = p->mask[it] & pm, h;
		size_t s;

		mid[it] = NONE;
		if (v == 0)
			continue;
		h = v * 0x9e3779b97f4a7c15ULL;
		s = (size_t)(h >> 29) & (hsize - 1);
		while (htab_v[s] != NONE && htab_k[s] != v)
			s = (s + 1) & (hsize - 1);
		if (htab_v[s] == NONE) {
			htab_k[s] = v;
			htab_v[s] = D;
			dval[D++] = v;
		}
		mid[it] = htab_v[s];
		dn[mid[it]]++;
	}
	roff[0] = 0;
	for (uint32_t d = 0; d < D; d++)
		roff[d + 1] = roff[d] + popc(dval[d]);
	rr = u32s(&sc, roff[D]);
	f = u32z(&sc, roff[D]);
	need = u32s(&sc, roff[D]);
	rmoff = u32z(&sc, (size_t)R + 1);
	rmd = u32s(&sc, roff[D]);
	rmpos = u32s(&sc, roff[D]);
	if (sc.failed)
		goto out;
	for (uint32_t d = 0; d < D; d++) {
		uint64_t v = dval[d];
		uint32_t j = 0;

		while (v) {
			uint32_t b = (uint32_t)__builtin_ctzll(v);

			rr[roff[d] + j++] = ri[b];
			rmoff[ri[b] + 1]++;
			v &= v - 1;
		}
	}
	for (uint32_t r = 0; r < R; r++)
		rmoff[r + 1] += rmoff[r];
	{
		uint32_t fillp[64];

		memcpy(fillp, rmoff, R * sizeof *fillp);
		for (uint32_t d = 0; d < D; d++)
			for (uint32_t q = roff[d]; q < roff[d + 1]; q++) {
				uint32_t r = rr[q];

				rmd[fillp[r]] = d;
				rmpos[fillp[r]++] = q;
			}
	}

	/* lq[it]: the flow entry (mask, rack of the preferred member) when
	 * the item is local to its preferred member, else NONE */
	spl = u32z(&sc, n);
	klc = u32s(&sc, n);
	tag = sc_get(&sc, ni, 1, 1);
	lq = u32s(&sc, ni);
	if (sc.failed)
		goto out;
	for (uint32_t it = 0; it < ni; it++) {
		uint32_t m = p->pref[it], d = mid[it];
		int r = m == NONE ? -1 : p->rack[m];

		lq[it] = NONE;
		if (d != NONE && r >= 0 && (dval[d] >> r & 1)) {
			lq[it] = roff[d] + bit_index(dval[d], (uint32_t)r);
			spl[m]++;
		}
	}
	/* initial flow: the local items preferred members can keep */
	{
		uint64_t eleft = E;

		for (uint32_t i = 0; i < n; i++) {
			klc[i] = min_u32(spl[i], p->base[i]);
			if (p->xok && spl[i] > p->base[i] && eleft) {
				klc[i]++;
				eleft--;
			}
		}
	}
	for (uint32_t it = 0; it < ni; it++) {
		uint32_t m = p->pref[it];

		if (lq[it] == NONE || klc[m] == 0)
			continue;
		klc[m]--;
		tag[it] = 1;
		f[lq[it]]++;
	}
	for (uint32_t d = 0; d < D; d++)
		for (uint32_t q = roff[d]; q < roff[d + 1]; q++) {
			outd[d] += f[q];
			Fr[rr[q]] += f[q];
		}
	for (uint32_t r = 0; r < R; r++)
		sumE += Fr[r] > Br[r] ? Fr[r] - Br[r] : 0;

	/* greedy direct paths, most constrained masks first */
	{
		struct mpop *ord = sc_get(&sc, D, sizeof *ord, 0);

		if (sc.failed)
			goto out;
		for (uint32_t d = 0; d < D; d++) {
			ord[d].pop = roff[d + 1] - roff[d];
			ord[d].d = d;
		}
		qsort(ord, D, sizeof *ord, cmp_mpop);
		for (int pass = 0; pass < 2; pass++)
			for (uint32_t k = 0; k < D; k++) {
				uint32_t d = ord[k].d;

				for (uint32_t q = roff[d];
				     q < roff[d + 1] && outd[d] < dn[d]; q++) {
					uint32_t r = rr[q];
					uint64_t res = dn[d] - outd[d], c;

					if (pass == 0)
						c = Fr[r] < Br[r]
							? Br[r] - Fr[r]
							: 0;
					else if (Fr[r] >= Br[r])
						c = min_u64(Xr[r] -
								(Fr[r] - Br[r]),
							    E - sumE);
					else
						c = 0;
					c = min_u64(c, res);
					if (c == 0)
						continue;
					f[q] += (uint32_t)c;
					outd[d] += (uint32_t)c;
					Fr[r] += c;
					if (pass == 1)
						sumE += c;
				}
			}
	}

	/* augmenting paths: nodes are masks 0..D-1, racks D..D+R-1, X */
	nodes = D + R + 1;
	X = D + R;
	par = u32s(&sc, nodes);
	vis = u32z(&sc, nodes);
	queue = u32s(&sc, nodes);
	if (sc.failed)
		goto out;
	for (;;) {
		uint32_t qh = 0, qt = 0, term = NONE;
		uint64_t delta;

		stamp++;
		for (uint32_t d = 0; d < D; d++)
			if (outd[d] < dn[d]) {
				vis[d] = stamp;
				par[d] = NONE;
				queue[qt++] = d;
			}
		while (qh < qt && term == NONE) {
			uint32_t v = queue[qh++];

			if (v < D) {
				for (uint32_t q = roff[v]; q < roff[v + 1];
				     q++) {
					uint32_t r = rr[q], w = D + r;

					if (vis[w] == stamp)
						continue;
					vis[w] = stamp;
					par[w] = v;
					if (Fr[r] < Br[r]) {
						term = w;
						break;
					}
					queue[qt++] = w;
				}
			} else if (v < X) {
				uint32_t r = v - D;

				if (Fr[r] >= Br[r] && Fr[r] - Br[r] < Xr[r] &&
				    vis[X] != stamp) {
					vis[X] = stamp;
					par[X] = v;
					if (sumE < E) {
						term = X;
						break;
					}
					queue[qt++] = X;
				}
				for (uint32_t q = rmoff[r]; q < rmoff[r + 1];
				     q++) {
					uint32_t d = rmd[q];

					if (vis[d] == stamp || f[rmpos[q]] == 0)
						continue;
					vis[d] = stamp;
					par[d] = v;
					queue[qt++] = d;
				}
			} else {
				for (uint32_t r = 0; r < R; r++) {
					uint32_t w = D + r;

					if (vis[w] == stamp || Fr[r] <= Br[r])
						continue;
					vis[w] = stamp;
					par[w] = X;
					queue[qt++] = w;
				}
			}
		}
		if (term == NONE)
			break;
		if (term == X)
			delta = E - sumE;
		else
			delta = Br[term - D] - Fr[term - D];
		for (uint32_t v = term; par[v] != NONE; v = par[v]) {
			uint32_t u = par[v];

			if (v < D && u >= D && u < X) { /* reverse r -> d */
				uint32_t r = u - D;

				delta = min_u64(
				    delta,
				    f[roff[v] + bit_index(dval[v], rnum[r])]);
			} else if (v == X) {
				uint32_t r = u - D;

				delta = min_u64(delta, Xr[r] - (Fr[r] - Br[r]));
			} else if (u == X) {
				uint32_t r = v - D;

				delta = min_u64(delta, Fr[r] - Br[r]);
			}
			if (par[u] == NONE)
				delta = min_u64(delta, dn[u] - outd[u]);
		}
		for (uint32_t v = term; par[v] != NONE; v = par[v]) {
			uint32_t u = par[v];

			if (v >= D && v < X && u < D) { /* forward d -> r */
				uint32_t r = v - D;

				f[roff[u] + bit_index(dval[u], rnum[r])] +=
				    (uint32_t)delta;
				Fr[r] += delta;
			} else if (v < D && u >= D && u < X) {
				uint32_t r = u - D;

				f[roff[v] + bit_index(dval[v], rnum[r])] -=
				    (uint32_t)delta;
				Fr[r] -= delta;
			}
			if (par[u] == NONE)
				outd[u] += (uint32_t)delta;
		}
		sumE = 0;
		for (uint32_t r = 0; r < R; r++)
			sumE += Fr[r] > Br[r] ? Fr[r] - Br[r] : 0;
	}

	/* items to racks: kept local ones, preferred ones, free ones, rest */
	rk = u32s(&sc, ni);
	cur = u32z(&sc, D);
	if (sc.failed)
		goto out;
	memcpy(need, f, roff[D] * sizeof *need);
	fill_none(rk, ni);
	for (int pass = 0; pass < 4; pass++)
		for (uint32_t it = 0; it < ni; it++) {
			uint32_t m = p->pref[it], d = mid[it], q;

			if (d == NONE || rk[it] != NONE)
				continue;
			if (pass <= 1) {
				if ((pass == 0 && !tag[it]) ||
				    (q = lq[it]) == NONE)
					continue;
				if (need[q]) {
					need[q]--;
					rk[it] = rr[q];
				}
				continue;
			}
			if ((pass == 2) != (m == NONE))
				continue;
			while (roff[d] + cur[d] < roff[d + 1] &&
			       need[roff[d] + cur[d]] == 0)
				cur[d]++;
			if (roff[d] + cur[d] < roff[d + 1]) {
				q = roff[d] + cur[d];
				need[q]--;
				rk[it] = rr[q];
			}
		}

	/* racks to members */
	hl = u32z(&sc, n);
	nlp = u32z(&sc, n);
	cap = u32s(&sc, n);
	asg = u32z(&sc, n);
	ext = sc_get(&sc, n, 1, 1);
	if (sc.failed)
		goto out;
	for (uint32_t it = 0; it < ni; it++) {
		uint32_t m = p->pref[it];

		if (m == NONE)
			continue;
		if (rk[it] == NONE)
			nlp[m]++;
		else if (p->rack[m] >= 0 && rk[it] == ri[p->rack[m]])
			hl[m]++;
	}
	for (uint32_t i = 0; i < n; i++)
		cap[i] = p->base[i];
	for (uint32_t r = 0; r < R; r++) {
		uint64_t er = Fr[r] > Br[r] ? Fr[r] - Br[r] : 0;

		for (int pass = 0; pass < 3 && er; pass++)
			for (uint32_t k = roff_m[r]; k < roff_m[r + 1] && er;
			     k++) {
				uint32_t i = rmem[k];

				if (ext[i] ||
				    (pass == 0 && hl[i] <= p->base[i]) ||
				    (pass == 1 && hl[i] + nlp[i] <= p->base[i]))
					continue;
				ext[i] = 1;
				cap[i]++;
				er--;
			}
		E -= Fr[r] > Br[r] ? Fr[r] - Br[r] : 0;
		c1[r] = c2[r] = roff_m[r];
	}
	for (uint32_t it = 0; it < ni; it++) {
		uint32_t m = p->pref[it];

		p->own[it] = NONE;
		if (rk[it] != NONE && m != NONE && p->rack[m] >= 0 &&
		    rk[it] == ri[p->rack[m]] && asg[m] < cap[m]) {
			p->own[it] = m;
			asg[m]++;
		}
	}
	for (uint32_t it = 0; it < ni; it++) {
		uint32_t r = rk[it], m;

		if (r == NONE || p->own[it] != NONE)
			continue;
		while (c1[r] < roff_m[r + 1] &&
		       asg[rmem[c1[r]]] + nlp[rmem[c1[r]]] >= cap[rmem[c1[r]]])
			c1[r]++;
		if (c1[r] < roff_m[r + 1]) {
			m = rmem[c1[r]];
		} else {
			while (asg[rmem[c2[r]]] >= cap[rmem[c2[r]]])
				c2[r]++;
			m = rmem[c2[r]];
		}
		p->own[it] = m;
		asg[m]++;
	}
	/* the rest: preferred member if it has room (or an extra left) */
	for (uint32_t it = 0; it < ni; it++) {
		uint32_t m = p->pref[it];

		if (rk[it] != NONE || m == NONE)
			continue;
		if (asg[m] < cap[m]) {
			p->own[it] = m;
			asg[m]++;
		} else if (p->xok && !ext[m] && E) {
			ext[m] = 1;
			cap[m]++;
			E--;
			p->own[it] = m;
			asg[m]++;
		}
	}
	{
		uint32_t c = 0, cx = 0;

		for (uint32_t it = 0; it < ni; it++) {
			uint32_t m;

			if (p->own[it] != NONE)
				continue;
			while (c < n && asg[c] >= cap[c])
				c++;
			if (c < n) {
				m = c;
			} else {
				while (cx < n && (ext[cx] || !p->xok))
					cx++;
				if (cx == n)
					goto out; /* sum base + extras != ni */
				m = cx;
				ext[m] = 1;
				cap[m]++;
			}
			p->own[it] = m;
			asg[m]++;
		}
	}
	rv = 0;
out:
	sc_free(&sc);
	return rv;
}

/* ---- uniform ---- */

struct uni {
	const struct asg_input *in;
	struct scratch sc;
	struct layout l;
	uint32_t M;
	uint32_t *rank, *byrank;
	uint32_t *cls;	 /* member -> class, NONE without topics */
	uint32_t *cnt;	 /* member -> slots it holds (owner[]) */
	uint32_t *quota; /* member -> final size */
	uint32_t *owner; /* slot -> member, NONE */
	uint32_t *scls;	 /* slot -> class (K > 1 only) */
	/* classes, in order of their smallest member id */
	uint32_t K;
	uint32_t *c_moff, *c_mem; /* members of class c: c_mem[c_moff[c]..] */
	uint32_t *c_Y;		  /* class -> partitions given to it */
	uint64_t *c_racks;	  /* class -> racks of its members */
	uint32_t *rep;		  /* class -> its smallest member */
	/* edges: (class, topic) pairs, by class then layout position */
	uint32_t E;
	uint32_t *c_eoff; /* class -> first edge; c_eoff[K] = E */
	uint32_t *e_lp, *e_cls, *e_s, *e_y;
	uint32_t *t_eoff, *t_edges; /* topic -> its edges, class order */
};

static uint32_t ksize(const struct uni *u, uint32_t c)
{
	return u->c_moff[c + 1] - u->c_moff[c];
}

/* The largest and smallest member size of class c. */
static uint32_t c_hi(const struct uni *u, uint32_t c, uint32_t Y)
{
	uint32_t k = ksize(u, c);

	return Y / k + (Y % k != 0);
}

static uint32_t c_lo(const struct uni *u, uint32_t c, uint32_t Y)
{
	return Y / ksize(u, c);
}

static uint32_t hash_topics(const struct asg_member *m)
{
	uint32_t h = 2166136261u;

	for (uint32_t k = 0; k < m->n_topics; k++) {
		h ^= m->topics[k];
		h *= 16777619u;
	}
	return h ^ m->n_topics;
}

/* Subscription classes, numbered by their smallest member rank. */
static int make_classes(struct uni *u)
{
	const struct asg_input *in = u->in;
	uint32_t M = u->M, first = NONE, *rep, *cnt;
	int homog = 1;

	u->cls = u32s(&u->sc, M);
	rep = u->rep = u32s(&u->sc, M);
	if (u->sc.failed)
		return SYNOD_ENOMEM;
	fill_none(u->cls, M);
	for (uint32_t r = 0; r < M; r++) {
		const struct asg_member *m = &in->members[u->byrank[r]];

		if (m->n_topics == 0)
			continue;
		if (first == NONE)
			first = u->byrank[r];
		else if (!same_topics(m, &in->members[first]))
			homog = 0;
	}
	u->K = 0;
	if (homog) {
		for (uint32_t i = 0; i < M; i++)
			if (in->members[i].n_topics)
				u->cls[i] = 0;
		if (first != NONE) {
			rep[0] = first;
			u->K = 1;
		}
	} else {
		uint32_t *tab;
		size_t hsize;

		for (hsize = 16; hsize < 2 * (size_t)M; hsize *= 2)
			;
		tab = u32s(&u->sc, hsize);
		if (u->sc.failed)
			return SYNOD_ENOMEM;
		fill_none(tab, hsize);
		for (uint32_t r = 0; r < M; r++) {
			uint32_t i = u->byrank[r];
			const struct asg_member *m = &in->members[i];
			size_t s;

			if (m->n_topics == 0)
				continue;
			s = hash_topics(m) & (hsize - 1);
			while (tab[s] != NONE &&
			       !same_topics(m, &in->members[rep[tab[s]]]))
				s = (s + 1) & (hsize - 1);
			if (tab[s] == NONE) {
				tab[s] = u->K;
				rep[u->K++] = i;
			}
			u->cls[i] = tab[s];
		}
	}
	/* members by class, rank order */
	u->c_moff = u32z(&u->sc, (size_t)u->K + 1);
	u->c_mem = u32s(&u->sc, M);
	u->c_Y = u32z(&u->sc, u->K);
	u->c_racks = sc_get(&u->sc, u->K, sizeof *u->c_racks, 1);
	u->c_eoff = u32z(&u->sc, (size_t)u->K + 1);
	cnt = u32z(&u->sc, (size_t)u->K + 1);
	if (u->sc.failed)
		return SYNOD_ENOMEM;
	for (uint32_t i = 0; i < M; i++)
		if (u->cls[i] != NONE) {
			u->c_moff[u->cls[i] + 1]++;
			if (in->members[i].rack >= 0)
				u->c_racks[u->cls[i]] |= 1ULL
							 << in->members[i].rack;
		}
	for (uint32_t c = 0; c < u->K; c++)
		u->c_moff[c + 1] += u->c_moff[c];
	for (uint32_t r = 0; r < M; r++) {
		uint32_t i = u->byrank[r], c = u->cls[i];

		if (c != NONE)
			u->c_mem[u->c_moff[c] + cnt[c]++] = i;
	}
	return SYNOD_OK;
}

/* Edges: the (class, topic) pairs, after the layout. */
static int make_edges(struct uni *u)
{
	const struct asg_input *in = u->in;
	const uint32_t *rep = u->rep;

	for (uint32_t c = 0; c < u->K; c++)
		u->c_eoff[c + 1] = u->c_eoff[c] + in->members[rep[c]].n_topics;
	u->E = u->c_eoff[u->K];
	u->e_lp = u32s(&u->sc, u->E);
	u->e_cls = u32s(&u->sc, u->E);
	u->e_s = u32z(&u->sc, u->E);
	u->e_y = u32z(&u->sc, u->E);
	u->t_eoff = u32z(&u->sc, (size_t)u->l.NT + 1);
	u->t_edges = u32s(&u->sc, u->E);
	if (u->sc.failed)
		return SYNOD_ENOMEM;
	for (uint32_t c = 0; c < u->K; c++) {
		const struct asg_member *m = &in->members[rep[c]];
		uint32_t e0 = u->c_eoff[c];

		int sorted = 1;

		for (uint32_t k = 0; k < m->n_topics; k++) {
			u->e_lp[e0 + k] = u->l.tpos[m->topics[k]];
			sorted &=
			    k == 0 || u->e_lp[e0 + k] > u->e_lp[e0 + k - 1];
		}
		if (!sorted) /* by layout position (tid order) */
			qsort(u->e_lp + e0, m->n_topics, sizeof *u->e_lp,
			      cmp_u32);
		for (uint32_t e = e0; e < u->c_eoff[c + 1]; e++) {
			u->e_cls[e] = c;
			u->t_eoff[u->e_lp[e] + 1]++;
		}
	}
	for (uint32_t t = 0; t < u->l.NT; t++)
		u->t_eoff[t + 1] += u->t_eoff[t];
	{
		uint32_t *fp = u32s(&u->sc, (size_t)u->l.NT + 1);

		if (u->sc.failed)
			return SYNOD_ENOMEM;
		memcpy(fp, u->t_eoff, ((size_t)u->l.NT + 1) * sizeof *fp);
		for (uint32_t e = 0; e < u->E; e++)
			u->t_edges[fp[u->e_lp[e]]++] = e;
	}
	return SYNOD_OK;
}

/* Step 1: owner[slot] = the member holding it now, counts in cnt[]. */
static int claim(struct uni *u)
{
	const struct asg_input *in = u->in;
	uint32_t *stamp = NULL;

	u->owner = u32s(&u->sc, u->l.P);
	u->cnt = u32z(&u->sc, u->M);
	if (u->K > 1)
		stamp = u32z(&u->sc, u->l.NT);
	if (u->sc.failed)
		return SYNOD_ENOMEM;
	fill_none(u->owner, u->l.P);
	/* in input order (faster than by rank: each member's keys are read
	 * in a row; the result does not depend on this order) */
	for (uint32_t i = 0; i < u->M; i++) {
		const struct asg_member *m = &in->members[i];
		int64_t last = -1;
		uint32_t lp = NONE;

		if (u->cls[i] == NONE || m->n_current == 0)
			continue;
		if (stamp)
			for (uint32_t k = 0; k < m->n_topics; k++)
				stamp[u->l.tpos[m->topics[k]]] = i + 1;
		for (uint32_t k = 0; k < m->n_current; k++) {
			uint64_t key = m->current[k];
			int64_t tid = (int64_t)(key >> 32);
			uint32_t part = (uint32_t)key, s, o;

			if (tid != last) {
				last = tid;
				lp = find_tid(&u->l, tid);
				if (lp != NONE && stamp && stamp[lp] != i + 1)
					lp = NONE;
			}
			if (lp == NONE ||
			    part >= u->l.base[lp + 1] - u->l.base[lp])
				continue;
			s = u->l.base[lp] + part;
			o = u->owner[s];
			if (o == NONE) {
				u->owner[s] = i;
				u->cnt[i]++;
			} else if (o != i && u->rank[i] < u->rank[o]) {
				u->owner[s] = i;
				u->cnt[i]++;
				u->cnt[o]--;
			}
		}
	}
	return SYNOD_OK;
}

/* Quotas within each class from its total c_Y: floor or ceil, the ceil
 * ones first to members holding more than the floor, by rank. */
static void class_quotas(struct uni *u)
{
	for (uint32_t c = 0; c < u->K; c++) {
		uint32_t k = ksize(u, c), q = u->c_Y[c] / k;
		uint32_t x = u->c_Y[c] % k;
		const uint32_t *mem = u->c_mem + u->c_moff[c];

		for (uint32_t j = 0; j < k; j++) {
			uint32_t i = mem[j];

			u->quota[i] = q;
			if (x && u->cnt[i] > q) {
				u->quota[i]++;
				x--;
			}
		}
		for (uint32_t j = 0; j < k && x; j++)
			if (u->quota[mem[j]] == q) {
				u->quota[mem[j]]++;
				x--;
			}
	}
}

/* The class edge of class c for layout position lp. */
static uint32_t class_edge(const struct uni *u, uint32_t c, uint32_t lp)
{
	uint32_t lo = u->c_eoff[c], hi = u->c_eoff[c + 1];

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (u->e_lp[mid] < lp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct heapent {
	uint32_t lvl, c, e;
};

static int heap_less(const struct heapent *a, const struct heapent *b)
{
	return a->lvl != b->lvl ? a->lvl < b->lvl : a->c < b->c;
}

static void heap_down(struct heapent *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		struct heapent t;

		if (l < n && heap_less(&h[l], &h[m]))
			m = l;
		if (r < n && heap_less(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

struct tord {
	uint32_t nsub, lp;
};

static int cmp_tord(const void *a, const void *b)
{
	const struct tord *x = a, *y = b;

	if (x->nsub != y->nsub)
		return x->nsub < y->nsub ? -1 : 1;
	return (x->lp > y->lp) - (x->lp < y->lp);
}

struct lvl {
	uint32_t lo, c;
};

static int cmp_lvl(const void *a, const void *b)
{
	const struct lvl *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return (x->c > y->c) - (x->c < y->c);
}

struct gain {
	uint32_t g, c;
};

static int cmp_gain(const void *a, const void *b)
{
	const struct gain *x = a, *y = b;

	if (x->g != y->g)
		return x->g > y->g ? -1 : 1;
	return (x->c > y->c) - (x->c < y->c);
}

/* Step 3: y[] per (class, topic) with optimal balance. */
static int balance_classes(struct uni *u)
{
	struct scratch *sc = &u->sc;
	uint32_t K = u->K, NT = u->l.NT, nt = 0;
	uint32_t *ce = u32s(sc, K), *lab = u32s(sc, K), *nxe = u32s(sc, K);
	uint32_t *nxc = u32s(sc, K), *queue = u32s(sc, K);
	uint32_t *texp = u32z(sc, NT), round = 0;
	struct tord *to = sc_get(sc, NT, sizeof *to, 0);
	struct heapent *h = sc_get(sc, K, sizeof *h, 0);
	struct lvl *ord = sc_get(sc, K, sizeof *ord, 0);
	struct gain *cand = sc_get(sc, K, sizeof *cand, 0);

	if (sc->failed)
		return SYNOD_ENOMEM;
	/* sticky counts */
	for (uint32_t lp = 0; lp < NT; lp++) {
		for (uint32_t q = u->t_eoff[lp]; q < u->t_eoff[lp + 1]; q++)
			ce[u->e_cls[u->t_edges[q]]] = u->t_edges[q];
		for (uint32_t s = u->l.base[lp]; s < u->l.base[lp + 1]; s++)
			if (u->owner[s] != NONE)
				u->e_s[ce[u->cls[u->owner[s]]]]++;
	}
	for (uint32_t e = 0; e < u->E; e++) {
		u->e_y[e] = u->e_s[e];
		u->c_Y[u->e_cls[e]] += u->e_s[e];
	}
	/* free partitions to the smallest classes, constrained topics first */
	for (uint32_t lp = 0; lp < NT; lp++) {
		uint32_t held = 0;

		for (uint32_t q = u->t_eoff[lp]; q < u->t_eoff[lp + 1]; q++)
			held += u->e_s[u->t_edges[q]];
		if (held < u->l.base[lp + 1] - u->l.base[lp]) {
			to[nt].nsub = u->t_eoff[lp + 1] - u->t_eoff[lp];
			to[nt++].lp = lp;
		}
	}
	qsort(to, nt, sizeof *to, cmp_tord);
	for (uint32_t k = 0; k < nt; k++) {
		uint32_t lp = to[k].lp, hn = 0,
			 free_ = u->l.base[lp + 1] - u->l.base[lp];

		for (uint32_t q = u->t_eoff[lp]; q < u->t_eoff[lp + 1]; q++) {
			uint32_t e = u->t_edges[q], c = u->e_cls[e];

			free_ -= u->e_s[e];
			h[hn].lvl = c_lo(u, c, u->c_Y[c]);
			h[hn].c = c;
			h[hn++].e = e;
		}
		for (uint32_t i = hn / 2; i-- > 0;)
			heap_down(h, hn, i);
		while (free_) {
			uint32_t c = h[0].c, lvl = h[0].lvl, step;
			/* units until this class's level goes up, or all */
			uint64_t up =
			    (uint64_t)(lvl + 1) * ksize(u, c) - u->c_Y[c];

			step = hn == 1 || up > free_ ? free_ : (uint32_t)up;
			u->e_y[h[0].e] += step;
			u->c_Y[c] += step;
			free_ -= step;
			h[0].lvl = c_lo(u, c, u->c_Y[c]);
			heap_down(h, hn, 0);
		}
	}
	/* direct moves inside each topic, cheap, while they improve */
	for (int sweep = 0, moved = 1; moved && sweep < 8; sweep++) {
		moved = 0;
		for (uint32_t lp = 0; lp < NT; lp++) {
			uint32_t q0 = u->t_eoff[lp], q1 = u->t_eoff[lp + 1];

			if (q1 - q0 < 2)
				continue;
			for (;;) {
				uint32_t ex = NONE, eb = NONE, hx = 0,
					 lb = NONE;
				uint32_t x, b, n = 0;

				/* the largest holder (surplus over what it
				 * held first) and the smallest subscriber */
				for (uint32_t q = q0; q < q1; q++) {
					uint32_t e = u->t_edges[q],
						 c = u->e_cls[e];
					uint32_t hi = c_hi(u, c, u->c_Y[c]);
					uint32_t lo = c_lo(u, c, u->c_Y[c]);

					if (u->e_y[e] &&
					    (hi > hx ||
					     (hi == hx && ex != NONE &&
					      u->e_y[e] > u->e_s[e] &&
					      u->e_y[ex] <= u->e_s[ex]))) {
						hx = hi;
						ex = e;
					}
					if (lo < lb) {
						lb = lo;
						eb = e;
					}
				}
				if (ex == NONE || hx < lb + 2)
					break;
				x = u->e_cls[ex];
				b = u->e_cls[eb];
				while (n < u->e_y[ex] &&
				       c_hi(u, x, u->c_Y[x] - n) >=
					   c_lo(u, b, u->c_Y[b] + n) + 2)
					n++;
				u->e_y[ex] -= n;
				u->e_y[eb] += n;
				u->c_Y[x] -= n;
				u->c_Y[b] += n;
				moved = 1;
			}
		}
	}
	/* improving chains until none is left */
	for (;;) {
		uint32_t nc = 0, qh, qt;

		round++;
		for (uint32_t c = 0; c < K; c++) {
			ord[c].lo = c_lo(u, c, u->c_Y[c]);
			ord[c].c = c;
			lab[c] = NONE;
		}
		qsort(ord, K, sizeof *ord, cmp_lvl);
		for (uint32_t i = 0; i < K;) {
			uint32_t v = ord[i].lo;

			qh = qt = 0;
			for (; i < K && ord[i].lo == v; i++)
				if (lab[ord[i].c] == NONE) {
					lab[ord[i].c] = v;
					nxc[ord[i].c] = NONE;
					queue[qt++] = ord[i].c;
				}
			while (qh < qt) {
				uint32_t y = queue[qh++];

				for (uint32_t e = u->c_eoff[y];
				     e < u->c_eoff[y + 1]; e++) {
					uint32_t lp = u->e_lp[e];

					if (texp[lp] == round)
						continue;
					texp[lp] = round;
					for (uint32_t q = u->t_eoff[lp];
					     q < u->t_eoff[lp + 1]; q++) {
						uint32_t e2 = u->t_edges[q];
						uint32_t x = u->e_cls[e2];

						if (lab[x] != NONE ||
						    u->e_y[e2] == 0)
							continue;
						lab[x] = v;
						nxe[x] = e2;
						nxc[x] = y;
						queue[qt++] = x;
					}
				}
			}
		}
		for (uint32_t c = 0; c < K; c++) {
			uint32_t hi = c_hi(u, c, u->c_Y[c]);

			if (hi >= lab[c] + 2) {
				cand[nc].g = hi - lab[c];
				cand[nc++].c = c;
			}
		}
		if (nc == 0)
			break;
		qsort(cand, nc, sizeof *cand, cmp_gain);
		for (uint32_t k = 0; k < nc; k++) {
			uint32_t x = cand[k].c, r = x, avail = NONE, n = 0;

			while (nxc[r] != NONE) {
				avail = min_u32(avail, u->e_y[nxe[r]]);
				r = nxc[r];
			}
			if (r == x || avail == 0 || avail == NONE)
				continue;
			while (n < avail && c_hi(u, x, u->c_Y[x] - n) >=
						c_lo(u, r, u->c_Y[r] + n) + 2)
				n++;
			if (n == 0)
				continue;
			for (uint32_t g = x; nxc[g] != NONE; g = nxc[g]) {
				uint32_t e = nxe[g];

				u->e_y[e] -= n;
				u->e_y[class_edge(u, nxc[g], u->e_lp[e])] += n;
			}
			u->c_Y[x] -= n;
			u->c_Y[r] += n;
		}
	}
	return SYNOD_OK;
}

/* Step 4: slot -> class, owner[] keeps only what its class keeps. */
static int split(struct uni *u)
{
	struct scratch *sc = &u->sc;
	const struct asg_input *in = u->in;
	uint32_t K = u->K, NT = u->l.NT;
	uint32_t *ce = u32s(sc, K), *kp = u32z(sc, u->E),
		 *drop = u32z(sc, u->E);
	uint32_t *excess = u32z(sc, u->M);
	uint32_t roff[65], *rl = NULL, rcur[64];
	int racks = 0;

	u->scls = u32s(sc, u->l.P);
	if (sc->failed)
		return SYNOD_ENOMEM;
	if (in->rack_aware) {
		uint64_t any = 0;

		for (uint32_t c = 0; c < K; c++)
			any |= u->c_racks[c];
		racks = any != 0;
		if (racks) {
			uint32_t maxs = 1;

			for (uint32_t lp = 0; lp < NT; lp++)
				maxs = maxs > u->t_eoff[lp + 1] - u->t_eoff[lp]
					   ? maxs
					   : u->t_eoff[lp + 1] - u->t_eoff[lp];
			rl = u32s(sc, (size_t)64 * maxs);
			if (sc->failed)
				return SYNOD_ENOMEM;
		}
	}
	/* excess over a first estimate of the quotas: shed from those */
	class_quotas(u);
	for (uint32_t i = 0; i < u->M; i++)
		if (u->cls[i] != NONE && u->cnt[i] > u->quota[i])
			excess[i] = u->cnt[i] - u->quota[i];
	fill_none(u->scls, u->l.P);
	for (uint32_t lp = 0; lp < NT; lp++) {
		uint32_t b0 = u->l.base[lp], b1 = u->l.base[lp + 1];
		uint32_t q0 = u->t_eoff[lp], q1 = u->t_eoff[lp + 1], ec = q0;
		const uint64_t *mk = in->topics[u->l.topic[lp]].rack_masks;
		int anydrop = 0, tr = racks && mk != NULL;

		for (uint32_t q = q0; q < q1; q++) {
			uint32_t e = u->t_edges[q];

			ce[u->e_cls[e]] = e;
			if (u->e_s[e] > u->e_y[e]) {
				drop[e] = u->e_s[e] - u->e_y[e];
				anydrop = 1;
			}
		}
		if (anydrop && !tr)
			for (uint32_t s = b0; s < b1; s++) {
				uint32_t o = u->owner[s], e;

				if (o == NONE)
					continue;
				e = ce[u->cls[o]];
				if (drop[e] && excess[o]) {
					drop[e]--;
					excess[o]--;
					u->owner[s] = NONE;
					u->cnt[o]--;
				}
			}
		if (tr) {
			/* per rack, the topic's classes with a member there */
			memset(roff, 0, sizeof roff);
			for (uint32_t q = q0; q < q1; q++)
				for (uint64_t v =
					 u->c_racks[u->e_cls[u->t_edges[q]]];
				     v; v &= v - 1)
					roff[__builtin_ctzll(v) + 1]++;
			for (int r = 0; r < 64; r++)
				roff[r + 1] += roff[r];
			memcpy(rcur, roff, sizeof rcur);
			for (uint32_t q = q0; q < q1; q++)
				for (uint64_t v =
					 u->c_racks[u->e_cls[u->t_edges[q]]];
				     v; v &= v - 1)
					rl[rcur[__builtin_ctzll(v)]++] =
					    u->t_edges[q];
			memcpy(rcur, roff, sizeof rcur);
		}
		/* held partitions the class keeps (rack: local ones first) */
		for (int pass = tr ? 0 : 1; pass < 2; pass++)
			for (uint32_t s = b0; s < b1; s++) {
				uint32_t o = u->owner[s], e, c;

				if (o == NONE || u->scls[s] != NONE)
					continue;
				c = u->cls[o];
				e = ce[c];
				if (pass == 0 && !(mk[s - b0] & u->c_racks[c]))
					continue;
				if (pass == 1 && tr)
					break; /* rack: after the local ones */
				if (kp[e] < u->e_y[e]) {
					kp[e]++;
					u->scls[s] = c;
				}
			}
		if (tr) {
			/* free, then held elsewhere: to a class local to it;
			 * then held ones stay if their class has room */
			for (int pass = 0; pass < 3; pass++)
				for (uint32_t s = b0; s < b1; s++) {
					uint32_t o = u->owner[s];

					if (u->scls[s] != NONE ||
					    (pass == 0) != (o == NONE))
						continue;
					if (pass == 2) {
						uint32_t e = ce[u->cls[o]];

						if (kp[e] < u->e_y[e]) {
							kp[e]++;
							u->scls[s] = u->cls[o];
						}
						continue;
					}
					for (uint64_t v = mk[s - b0]; v;
					     v &= v - 1) {
						int r = __builtin_ctzll(v);

						while (rcur[r] < roff[r + 1] &&
						       kp[rl[rcur[r]]] >=
							   u->e_y[rl[rcur[r]]])
							rcur[r]++;
						if (rcur[r] < roff[r + 1]) {
							uint32_t e =
							    rl[rcur[r]];

							kp[e]++;
							u->scls[s] =
							    u->e_cls[e];
							break;
						}
					}
				}
		}
		/* the rest to classes with room, in class order */
		for (uint32_t s = b0; s < b1; s++) {
			uint32_t o = u->owner[s];

			if (o != NONE && u->scls[s] != u->cls[o]) {
				u->owner[s] = NONE;
				u->cnt[o]--;
			}
			if (u->scls[s] != NONE)
				continue;
			while (kp[u->t_edges[ec]] >= u->e_y[u->t_edges[ec]])
				ec++;
			kp[u->t_edges[ec]]++;
			u->scls[s] = u->e_cls[u->t_edges[ec]];
		}
	}
	return SYNOD_OK;
}

/* Step 5 with racks for class c: rack_solve over its slots (slot order;
 * NULL: slots 0..ni-1). */
static int solve_class_racks(struct uni *u, uint32_t c, uint32_t *lidx,
			     const uint32_t *slot, uint32_t ni)
{
	const struct asg_input *in = u->in;
	struct scratch sc = {0};
	uint32_t k = ksize(u, c), lp = 0;
	const uint32_t *mem = u->c_mem + u->c_moff[c];
	int *rack = sc_get(&sc, k, sizeof *rack, 0);
	uint32_t *base = u32s(&sc, k), *pref = u32s(&sc, ni);
	uint32_t *own = u32s(&sc, ni);
	uint64_t *mask = sc_get(&sc, ni, sizeof *mask, 0);
	const uint64_t *rm = NULL;
	struct rsolve rs;
	int rv = SYNOD_ENOMEM;

	if (sc.failed)
		goto out;
	for (uint32_t j = 0; j < k; j++) {
		rack[j] = in->members[mem[j]].rack;
		base[j] = u->c_Y[c] / k;
		lidx[mem[j]] = j;
	}
	for (uint32_t it = 0; it < ni; it++) {
		uint32_t s = slot ? slot[it] : it;

		if (s >= u->l.base[lp + 1]) {
			while (s >= u->l.base[lp + 1])
				lp++;
			rm = in->topics[u->l.topic[lp]].rack_masks;
		} else if (it == 0) {
			rm = in->topics[u->l.topic[lp]].rack_masks;
		}
		mask[it] = rm ? rm[s - u->l.base[lp]] : 0;
		pref[it] = u->owner[s] == NONE ? NONE : lidx[u->owner[s]];
	}
	rs.n = k;
	rs.rack = rack;
	rs.base = base;
	rs.xok = 1;
	rs.extras = u->c_Y[c] % k;
	rs.ni = ni;
	rs.mask = mask;
	rs.pref = pref;
	rs.own = own;
	if (rack_solve(&rs) != 0)
		goto out;
	for (uint32_t j = 0; j < k; j++)
		u->quota[mem[j]] = 0;
	for (uint32_t it = 0; it < ni; it++) {
		uint32_t m = mem[own[it]];

		u->owner[slot ? slot[it] : it] = m;
		u->quota[m]++;
	}
	rv = SYNOD_OK;
out:
	sc_free(&sc);
	return rv;
}

/* Does class c need rack_solve? Not when no placement can be local,
 * nor when each partition is local for all members of the class or for
 * none (say RF >= racks, every member with a rack): then every balanced
 * assignment has the same locality and step 5's plain pass is optimal. */
static int class_racks(const struct uni *u, uint32_t c)
{
	const struct asg_input *in = u->in;
	uint64_t cr = u->c_racks[c];
	int unracked = 0;

	if (!in->rack_aware || cr == 0)
		return 0;
	for (uint32_t j = u->c_moff[c]; j < u->c_moff[c + 1]; j++)
		unracked |= in->members[u->c_mem[j]].rack < 0;
	for (uint32_t e = u->c_eoff[c]; e < u->c_eoff[c + 1]; e++) {
		uint32_t lp = u->e_lp[e];
		const uint64_t *rm = in->topics[u->l.topic[lp]].rack_masks;

		if (rm == NULL)
			continue;
		for (uint32_t p = 0; p < u->l.base[lp + 1] - u->l.base[lp];
		     p++) {
			uint64_t v = rm[p] & cr;

			if (v && (v != cr || unracked))
				return 1;
		}
	}
	return 0;
}

/* Step 5 for every class with racks; solved[c] = 1 for those. */
static int solve_racks(struct uni *u, uint8_t *solved)
{
	struct scratch *sc = &u->sc;
	uint32_t K = u->K, P = u->l.P, any = 0, *off, *slots, *lidx;

	for (uint32_t c = 0; c < K; c++)
		any += solved[c] = (uint8_t)class_racks(u, c);
	if (!any)
		return SYNOD_OK;
	lidx = u32s(sc, u->M);
	if (sc->failed)
		return SYNOD_ENOMEM;
	if (u->scls == NULL) /* one class: all the slots, in order */
		return solve_class_racks(u, 0, lidx, NULL, P);
	off = u32z(sc, (size_t)K + 1);
	slots = u32s(sc, P);
	if (sc->failed)
		return SYNOD_ENOMEM;
	for (uint32_t s = 0; s < P; s++)
		off[(u->scls ? u->scls[s] : 0) + 1]++;
	for (uint32_t c = 0; c < K; c++)
		off[c + 1] += off[c];
	{
		uint32_t *fp = u32s(sc, (size_t)K + 1);

		if (sc->failed)
			return SYNOD_ENOMEM;
		memcpy(fp, off, ((size_t)K + 1) * sizeof *fp);
		for (uint32_t s = 0; s < P; s++)
			slots[fp[u->scls ? u->scls[s] : 0]++] = s;
	}
	for (uint32_t c = 0; c < K; c++)
		if (solved[c] &&
		    solve_class_racks(u, c, lidx, slots + off[c],
				      off[c + 1] - off[c]) != SYNOD_OK)
			return SYNOD_ENOMEM;
	return SYNOD_OK;
}

/* Append partitions p0..p0+n-1 of the topic with key0 to member m. */
static void emit(struct asg_result *out, uint32_t *pos, uint32_t m,
		 uint64_t key0, uint32_t p0, uint32_t n)
{
	uint64_t *d = out->assigned[m] + pos[m];

	for (uint32_t k = 0; k < n; k++)
		d[k] = key0 | (p0 + k);
	pos[m] += n;
}

int asg_uniform(const struct asg_input *in, struct asg_result *out)
{
	struct uni u;
	uint32_t *keep, *room, *ccur, *pos;
	uint8_t *solved;
	int rv;

	if (out)
		memset(out, 0, sizeof *out);
	if (in == NULL || out == NULL)
		return SYNOD_EINVALID_ARGUMENT;
	rv = validate(in);
	if (rv != SYNOD_OK)
		return rv;
	memset(&u, 0, sizeof u);
	u.in = in;
	u.M = in->n_members;
	u.rank = u32s(&u.sc, u.M);
	u.byrank = u32s(&u.sc, u.M);
	if (u.sc.failed) {
		rv = SYNOD_ENOMEM;
		goto out;
	}
	if ((rv = rank_members(in, &u.sc, u.byrank, u.rank)) != SYNOD_OK ||
	    (rv = make_classes(&u)) != SYNOD_OK ||
	    (rv = make_layout(in, &u.sc, &u.l, u.rep, u.K)) != SYNOD_OK ||
	    (rv = make_edges(&u)) != SYNOD_OK || (rv = claim(&u)) != SYNOD_OK)
		goto out;
	u.quota = u32z(&u.sc, u.M);
	solved = sc_get(&u.sc, u.K, 1, 1);
	if (u.sc.failed) {
		rv = SYNOD_ENOMEM;
		goto out;
	}
	if (u.K == 1)
		u.c_Y[0] = u.l.P;
	else if (u.K > 1 && ((rv = balance_classes(&u)) != SYNOD_OK ||
			     (rv = split(&u)) != SYNOD_OK))
		goto out;
	class_quotas(&u);
	if ((rv = solve_racks(&u, solved)) != SYNOD_OK)
		goto out;

	/* step 5 without racks, and the output: one pass over the slots,
	 * by runs of one owner */
	keep = u32s(&u.sc, u.M);
	room = u32s(&u.sc, u.M);
	ccur = u32s(&u.sc, u.K);
	pos = u32z(&u.sc, u.M);
	if (u.sc.failed) {
		rv = SYNOD_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < u.M; i++) {
		keep[i] = min_u32(u.cnt[i], u.quota[i]);
		room[i] = u.quota[i] - keep[i];
	}
	for (uint32_t c = 0; c < u.K; c++)
		ccur[c] = u.c_moff[c];
	if ((rv = result_alloc(out, u.M, u.quota)) != SYNOD_OK)
		goto out;
	for (uint32_t lp = 0; lp < u.l.NT; lp++) {
		uint64_t key0 = (uint64_t)u.l.tid[lp] << 32;
		uint32_t b0 = u.l.base[lp], b1 = u.l.base[lp + 1], s = b0;

		while (s < b1) {
			uint32_t o = u.owner[s], c = u.scls ? u.scls[s] : 0;
			uint32_t e = s + 1, n;

			if (o != NONE) {
				while (e < b1 && u.owner[e] == o)
					e++;
				n = solved[c] ? e - s : min_u32(keep[o], e - s);
				if (!solved[c])
					keep[o] -= n;
				emit(out, pos, o, key0, s - b0, n);
				s += n;
			} else {
				while (e < b1 && u.owner[e] == NONE &&
				       (u.scls == NULL || u.scls[e] == c))
					e++;
			}
			/* released or free: members of c with room */
			while (s < e) {
				uint32_t m;

				while (room[u.c_mem[ccur[c]]] == 0)
					ccur[c]++;
				m = u.c_mem[ccur[c]];
				n = min_u32(room[m], e - s);
				room[m] -= n;
				emit(out, pos, m, key0, s - b0, n);
				s += n;
			}
		}
	}
	rv = SYNOD_OK;
out:
	sc_free(&u.sc);
	return rv;
}

/* ---- range ---- */

struct rkey {
	const char *inst, *id;
	uint32_t idx;
};

/* Instance ids first (by instance id), then the others; then member id. */
static int cmp_range(const void *a, const void *b)
{
	const struct rkey *x = a, *y = b;

	if ((x->inst != NULL) != (y->inst != NULL))
		return x->inst ? -1 : 1;
	if (x->inst) {
		int c = strcmp(x->inst, y->inst);

		if (c)
			return c;
	}
	return strcmp(x->id, y->id);
}

/* Owner (index in the topic's subscriber list) of partition p when n
 * subscribers share P partitions in ranges. */
static uint32_t range_owner(uint32_t P, uint32_t n, uint32_t p)
{
	uint32_t per = P / n, ex = P % n;
	uint64_t cut = (uint64_t)ex * (per + 1);

	if (p < cut)
		return p / (per + 1);
	return ex + (uint32_t)((p - cut) / per);
}

static uint32_t range_size(uint32_t P, uint32_t n, uint32_t i)
{
	return P / n + (i < P % n);
}

/* Co-partition groups: topics with the same partition count and the same
 * subscriber list. With racks and rack masks, gown[g] holds each
 * index's owner (position in the list) from rack_solve; NULL otherwise. */
static int range_racks(const struct asg_input *in, struct scratch *sc,
		       const struct layout *l, const uint32_t *t_off,
		       const uint32_t *t_mem, uint32_t **town)
{
	uint32_t NT = l->NT, *tab, *grep, *gof, G = 0;
	size_t hsize;
	int anyrack = 0;

	for (uint32_t i = 0; i < in->n_members; i++)
		anyrack |= in->members[i].rack >= 0;
	if (!in->rack_aware || !anyrack)
		return SYNOD_OK;
	for (hsize = 16; hsize < 2 * (size_t)NT; hsize *= 2)
		;
	tab = u32s(sc, hsize);
	grep = u32s(sc, NT);
	gof = u32s(sc, NT);
	if (sc->failed)
		return SYNOD_ENOMEM;
	fill_none(tab, hsize);
	for (uint32_t lp = 0; lp < NT; lp++) {
		uint32_t n = t_off[lp + 1] - t_off[lp];
		uint32_t P = l->base[lp + 1] - l->base[lp];
		uint32_t h = 2166136261u ^ P;
		size_t s;

		for (uint32_t k = t_off[lp]; k < t_off[lp + 1]; k++)
			h = (h ^ t_mem[k]) * 16777619u;
		s = h & (hsize - 1);
		for (;; s = (s + 1) & (hsize - 1)) {
			uint32_t g = tab[s], r;

			if (g == NONE) {
				tab[s] = G;
				grep[G] = lp;
				gof[lp] = G++;
				break;
			}
			r = grep[g];
			if (l->base[r + 1] - l->base[r] == P &&
			    t_off[r + 1] - t_off[r] == n &&
			    memcmp(t_mem + t_off[r], t_mem + t_off[lp],
				   n * sizeof *t_mem) == 0) {
				gof[lp] = g;
				break;
			}
		}
	}
	for (uint32_t g = 0; g < G; g++) {
		uint32_t r = grep[g], n = t_off[r + 1] - t_off[r];
		uint32_t P = l->base[r + 1] - l->base[r];
		const uint32_t *mem = t_mem + t_off[r];
		int masks = 0, racks = 0;
		struct rsolve rs;
		uint64_t *mask;
		uint32_t *base, *pref, *own;
		int *rack;

		for (uint32_t k = 0; k < n; k++)
			racks |= in->members[mem[k]].rack >= 0;
		for (uint32_t lp = r; lp < NT && !masks; lp++)
			masks = gof[lp] == g &&
				in->topics[l->topic[lp]].rack_masks != NULL;
		if (!masks || !racks || P == 0)
			continue;
		mask = sc_get(sc, P, sizeof *mask, 0);
		pref = u32s(sc, P);
		own = u32s(sc, P);
		base = u32s(sc, n);
		rack = sc_get(sc, n, sizeof *rack, 0);
		if (sc->failed)
			return SYNOD_ENOMEM;
		for (uint32_t p = 0; p < P; p++) {
			mask[p] = ~0ULL;
			pref[p] = range_owner(P, n, p);
		}
		for (uint32_t lp = r; lp < NT; lp++) {
			const uint64_t *rm =
			    in->topics[l->topic[lp]].rack_masks;

			if (gof[lp] != g || rm == NULL)
				continue;
			for (uint32_t p = 0; p < P; p++)
				mask[p] &= rm[p];
		}
		for (uint32_t k = 0; k < n; k++) {
			base[k] = range_size(P, n, k);
			rack[k] = in->members[mem[k]].rack;
		}
		rs.n = n;
		rs.rack = rack;
		rs.base = base;
		rs.xok = 0;
		rs.extras = 0;
		rs.ni = P;
		rs.mask = mask;
		rs.pref = pref;
		rs.own = own;
		if (rack_solve(&rs) != 0)
			return SYNOD_ENOMEM;
		for (uint32_t lp = r; lp < NT; lp++)
			if (gof[lp] == g)
				town[lp] = own;
	}
	return SYNOD_OK;
}

int asg_range(const struct asg_input *in, struct asg_result *out)
{
	struct scratch sc = {0};
	struct layout l;
	struct rkey *ord;
	uint32_t M, *t_off, *t_mem, *cnt, *pos, **town, *rank, *byrank;
	int rv;

	if (out)
		memset(out, 0, sizeof *out);
	if (in == NULL || out == NULL)
		return SYNOD_EINVALID_ARGUMENT;
	rv = validate(in);
	if (rv != SYNOD_OK)
		return rv;
	M = in->n_members;
	rank = u32s(&sc, M);
	byrank = u32s(&sc, M);
	ord = sc_get(&sc, M, sizeof *ord, 0);
	cnt = u32z(&sc, M);
	pos = u32z(&sc, M);
	if (sc.failed) {
		rv = SYNOD_ENOMEM;
		goto out;
	}
	if ((rv = rank_members(in, &sc, byrank, rank)) != SYNOD_OK ||
	    (rv = make_layout(in, &sc, &l, NULL, 0)) != SYNOD_OK)
		goto out;
	for (uint32_t i = 0; i < M; i++) {
		ord[i].inst = in->members[i].instance_id;
		ord[i].id = in->members[i].member_id;
		ord[i].idx = i;
	}
	qsort(ord, M, sizeof *ord, cmp_range);
	/* subscribers of each topic, in range order */
	t_off = u32z(&sc, (size_t)l.NT + 1);
	town = sc_get(&sc, l.NT, sizeof *town, 1);
	if (sc.failed) {
		rv = SYNOD_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < M; i++)
		for (uint32_t k = 0; k < in->members[i].n_topics; k++)
			t_off[l.tpos[in->members[i].topics[k]] + 1]++;
	for (uint32_t lp = 0; lp < l.NT; lp++)
		t_off[lp + 1] += t_off[lp];
	t_mem = u32s(&sc, t_off[l.NT]);
	{
		uint32_t *fp = u32s(&sc, (size_t)l.NT + 1);

		if (sc.failed) {
			rv = SYNOD_ENOMEM;
			goto out;
		}
		memcpy(fp, t_off, ((size_t)l.NT + 1) * sizeof *fp);
		for (uint32_t j = 0; j < M; j++) {
			const struct asg_member *m = &in->members[ord[j].idx];

			for (uint32_t k = 0; k < m->n_topics; k++)
				t_mem[fp[l.tpos[m->topics[k]]]++] = ord[j].idx;
		}
	}
	for (uint32_t lp = 0; lp < l.NT; lp++) {
		uint32_t n = t_off[lp + 1] - t_off[lp];
		uint32_t P = l.base[lp + 1] - l.base[lp];

		for (uint32_t k = 0; k < n; k++)
			cnt[t_mem[t_off[lp] + k]] += range_size(P, n, k);
	}
	if ((rv = range_racks(in, &sc, &l, t_off, t_mem, town)) != SYNOD_OK ||
	    (rv = result_alloc(out, M, cnt)) != SYNOD_OK)
		goto out;
	for (uint32_t lp = 0; lp < l.NT; lp++) {
		uint32_t n = t_off[lp + 1] - t_off[lp], p = 0;
		uint32_t P = l.base[lp + 1] - l.base[lp];
		const uint32_t *mem = t_mem + t_off[lp];
		uint64_t key0 = (uint64_t)l.tid[lp] << 32;

		if (town[lp]) {
			for (p = 0; p < P; p++) {
				uint32_t m = mem[town[lp][p]];

				out->assigned[m][pos[m]++] = key0 | p;
			}
			continue;
		}
		for (uint32_t k = 0; k < n; k++) {
			uint32_t m = mem[k], end = p + range_size(P, n, k);

			for (; p < end; p++)
				out->assigned[m][pos[m]++] = key0 | p;
		}
	}
	rv = SYNOD_OK;
out:
	sc_free(&sc);
	return rv;
}

asg_fn asg_find(const char *name)
{
	if (name == NULL)
		return NULL;
	if (strcmp(name, "uniform") == 0)
		return asg_uniform;
	if (strcmp(name, "range") == 0)
		return asg_range;
	return NULL;
}
