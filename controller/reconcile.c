/* controller/reconcile.c - KIP-848's member-side rules (see reconcile.h).
 * Pure functions: results are built in fresh arrays, so `out` may be
 * `cur`. */
#include "reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synod/client.h"

/* ---- sets ---- */

int rc_is_set(const uint64_t *keys, uint32_t n)
{
	uint32_t i;

	if (n == 0)
		return 1;
	if (keys == NULL)
		return 0;
	for (i = 1; i < n; i++)
		if (keys[i - 1] >= keys[i])
			return 0;
	return 1;
}

static int contains(const uint64_t *set, uint32_t n, uint64_t key)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (set[mid] == key)
			return 1;
		if (set[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int intersects(const uint64_t *a, uint32_t na, const uint64_t *b,
		      uint32_t nb)
{
	uint32_t i = 0, j = 0;

	while (i < na && j < nb) {
		if (a[i] == b[j])
			return 1;
		if (a[i] < b[j])
			i++;
		else
			j++;
	}
	return 0;
}

int rc_subset(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb)
{
	uint32_t i = 0, j = 0;

	while (i < na) {
		while (j < nb && b[j] < a[i])
			j++;
		if (j == nb || b[j] != a[i])
			return 0;
		i++;
		j++;
	}
	return 1;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

uint32_t rc_normalize(uint64_t *keys, uint32_t n)
{
	uint32_t i, w = 0;

	if (n == 0 || keys == NULL)
		return 0;
	qsort(keys, n, sizeof(*keys), cmp_u64);
	for (i = 0; i < n; i++)
		if (w == 0 || keys[w - 1] != keys[i])
			keys[w++] = keys[i];
	return w;
}

static uint64_t *dup_keys(const uint64_t *keys, uint32_t n, int *failed)
{
	uint64_t *p;

	if (n == 0)
		return NULL;
	p = malloc((size_t)n * sizeof(*p));
	if (p == NULL) {
		*failed = 1;
		return NULL;
	}
	memcpy(p, keys, (size_t)n * sizeof(*p));
	return p;
}

static int same_keys(const uint64_t *a, uint32_t na, const uint64_t *b,
		     uint32_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

/* ---- members ---- */

void rc_member_free(struct rc_member *m)
{
	if (m == NULL)
		return;
	free(m->assigned);
	free(m->pending_revocation);
	m->assigned = NULL;
	m->pending_revocation = NULL;
	m->n_assigned = 0;
	m->n_pending = 0;
}

int rc_member_copy(struct rc_member *dst, const struct rc_member *src)
{
	struct rc_member c = *src;
	int failed = 0;

	c.assigned = dup_keys(src->assigned, src->n_assigned, &failed);
	c.pending_revocation =
	    dup_keys(src->pending_revocation, src->n_pending, &failed);
	if (failed) {
		rc_member_free(&c);
		return SYNOD_ENOMEM;
	}
	*dst = c;
	return SYNOD_OK;
}

int rc_well_formed(const struct rc_member *m)
{
	if (!rc_is_set(m->assigned, m->n_assigned) ||
	    !rc_is_set(m->pending_revocation, m->n_pending) ||
	    intersects(m->assigned, m->n_assigned, m->pending_revocation,
		       m->n_pending))
		return 0;
	switch (m->state) {
	case RC_STABLE:
	case RC_UNRELEASED_PARTITIONS:
		return m->n_pending == 0;
	case RC_UNREVOKED_PARTITIONS:
		return m->n_pending > 0;
	}
	return 0;
}

static int same_member(const struct rc_member *a, const struct rc_member *b)
{
	return a->member_epoch == b->member_epoch && a->state == b->state &&
	       same_keys(a->assigned, a->n_assigned, b->assigned,
			 b->n_assigned) &&
	       same_keys(a->pending_revocation, a->n_pending,
			 b->pending_revocation, b->n_pending);
}

/* ---- 1. validation ---- */

static int invalid(char *err, size_t size, const char *why)
{
	if (err && size > 0)
		snprintf(err, size, "%s", why);
	return SYNOD_EINVALID_REQUEST;
}

int rc_validate(const struct rc_request *r, char *err, size_t size)
{
	size_t mlen = r->member_id ? strlen(r->member_id) : 0;
	int32_t e = r->member_epoch;

	if (err && size > 0)
		err[0] = '\0';
	if (r->group_id == NULL || r->group_id[0] == '\0')
		return invalid(err, size, "group id must not be empty");
	if (strlen(r->group_id) > RC_GROUP_ID_MAX)
		return invalid(err, size, "group id longer than 255 bytes");
	if (mlen > RC_MEMBER_ID_MAX)
		return invalid(err, size, "member id longer than 36 bytes");
	for (size_t i = 0; i < mlen; i++)
		if (r->member_id[i] <= ' ' || r->member_id[i] > '~')
			return invalid(err, size,
				       "member id must be printable ASCII "
				       "without spaces");
	if (e != RC_EPOCH_JOIN && mlen == 0)
		return invalid(err, size,
			       "member id required when the member epoch is "
			       "not 0");
	if (r->instance_id && r->instance_id[0] == '\0')
		return invalid(err, size, "instance id must not be empty");
	if (r->rack && r->rack[0] == '\0')
		return invalid(err, size, "rack must not be empty");
	if (r->rebalance_timeout_ms < -1)
		return invalid(err, size,
			       "rebalance timeout must be -1 (unchanged) or "
			       ">= 0");
	if (e == RC_EPOCH_JOIN) {
		int names =
		    r->has_subscribed_names && r->n_subscribed_names > 0;
		int regex = r->has_regex && r->regex && r->regex[0] != '\0';

		if (r->rebalance_timeout_ms == -1)
			return invalid(
			    err, size,
			    "a join must give the rebalance timeout");
		if (r->has_owned && r->n_owned > 0)
			return invalid(err, size,
				       "a join must not report owned "
				       "partitions");
		if (!names && !regex)
			return invalid(
			    err, size,
			    "a join must subscribe to topic names or "
			    "a regular expression");
	} else if (e == RC_EPOCH_STATIC_LEAVE) {
		if (r->instance_id == NULL)
			return invalid(
			    err, size,
			    "member epoch -2 (static leave) needs an "
			    "instance id");
	} else if (e < RC_EPOCH_STATIC_LEAVE) {
		return invalid(err, size, "member epoch is invalid");
	}
	return SYNOD_OK;
}

/* ---- 2. reconciliation ---- */

/* The member still holds (some of) set x: it did not report, or its report
 * intersects x. */
static int still_holds(const uint64_t *x, uint32_t nx, const uint64_t *rep,
		       uint32_t nrep, int has_reported)
{
	if (nx == 0)
		return 0;
	if (!has_reported)
		return 1;
	return intersects(x, nx, rep, nrep);
}

/* NEXT (reconcile.h) from cur's assigned set into *n (fresh arrays);
 * `epoch` is the member epoch kept when it must revoke. */
static int next_assignment(const struct rc_member *cur, int32_t epoch,
			   int32_t target_epoch, const uint64_t *target,
			   uint32_t n_target, const uint64_t *rep,
			   uint32_t nrep, int has_reported,
			   rc_owned_fn owned_by_other, void *arg,
			   struct rc_member *n)
{
	const uint64_t *a = cur->assigned;
	uint32_t na = cur->n_assigned, i = 0, j = 0;
	uint64_t *kept = NULL, *revoke = NULL;
	uint32_t nk = 0, nr = 0;
	int unreleased = 0;

	memset(n, 0, sizeof(*n));
	if (na > 0) {
		kept = malloc((size_t)na * sizeof(*kept));
		revoke = malloc((size_t)na * sizeof(*revoke));
		if (kept == NULL || revoke == NULL)
			goto nomem;
	}
	/* A' = A ∩ T, R' = A − T (merge of two sorted sets). */
	for (i = 0; i < na; i++) {
		while (j < n_target && target[j] < a[i])
			j++;
		if (j < n_target && target[j] == a[i])
			kept[nk++] = a[i];
		else
			revoke[nr++] = a[i];
	}
	if (still_holds(revoke, nr, rep, nrep, has_reported)) {
		n->member_epoch = epoch;
		n->state = RC_UNREVOKED_PARTITIONS;
		n->assigned = kept;
		n->n_assigned = nk;
		n->pending_revocation = revoke;
		n->n_pending = nr;
		if (nk == 0) {
			free(kept);
			n->assigned = NULL;
		}
		return SYNOD_OK;
	}
	free(revoke);
	revoke = NULL;
	/* A' ∪ F: every key of T the member keeps or that nobody else holds
	 * (its own pending keys are its own). */
	if (n_target > 0) {
		uint64_t *all = malloc((size_t)n_target * sizeof(*all));
		uint32_t w = 0, k = 0;

		if (all == NULL)
			goto nomem;
		for (j = 0; j < n_target; j++) {
			uint64_t key = target[j];

			while (k < nk && kept[k] < key)
				k++;
			if (k < nk && kept[k] == key) {
				all[w++] = key;
				continue;
			}
			if (!contains(cur->pending_revocation, cur->n_pending,
				      key) &&
			    owned_by_other && owned_by_other(arg, key)) {
				unreleased = 1;
				continue;
			}
			all[w++] = key;
		}
		free(kept);
		kept = all;
		nk = w;
	}
	n->member_epoch = target_epoch;
	n->state = unreleased ? RC_UNRELEASED_PARTITIONS : RC_STABLE;
	n->assigned = nk ? kept : NULL;
	n->n_assigned = nk;
	if (nk == 0)
		free(kept);
	return SYNOD_OK;
nomem:
	free(kept);
	free(revoke);
	return SYNOD_ENOMEM;
}

int rc_next(const struct rc_member *cur, int32_t target_epoch,
	    const uint64_t *target, uint32_t n_target,
	    const uint64_t *reported_owned, uint32_t n_reported,
	    int has_reported, rc_owned_fn owned_by_other, void *arg,
	    struct rc_member *out)
{
	struct rc_member n;
	int rv, changed;

	if (!rc_is_set(target, n_target) ||
	    (has_reported && !rc_is_set(reported_owned, n_reported)))
		return SYNOD_EINVALID_ARGUMENT;
	if (!has_reported)
		n_reported = 0;
	switch (cur->state) {
	case RC_STABLE:
		/* S1 / S2 */
		if (cur->member_epoch == target_epoch)
			goto unchanged;
		rv = next_assignment(cur, cur->member_epoch, target_epoch,
				     target, n_target, reported_owned,
				     n_reported, has_reported, owned_by_other,
				     arg, &n);
		break;
	case RC_UNREVOKED_PARTITIONS:
		/* U1 / U2 */
		if (still_holds(cur->pending_revocation, cur->n_pending,
				reported_owned, n_reported, has_reported))
			goto unchanged;
		rv = next_assignment(cur, cur->member_epoch, target_epoch,
				     target, n_target, reported_owned,
				     n_reported, has_reported, owned_by_other,
				     arg, &n);
		break;
	case RC_UNRELEASED_PARTITIONS:
		/* W */
		rv = next_assignment(cur, cur->member_epoch, target_epoch,
				     target, n_target, reported_owned,
				     n_reported, has_reported, owned_by_other,
				     arg, &n);
		break;
	default:
		/* X: a state this version does not know. */
		if (!has_reported || n_reported > 0)
			return SYNOD_EFENCED_MEMBER_EPOCH;
		rv = next_assignment(cur, target_epoch, target_epoch, target,
				     n_target, reported_owned, n_reported,
				     has_reported, owned_by_other, arg, &n);
		break;
	}
	if (rv != SYNOD_OK)
		return rv;
	changed = !same_member(&n, cur);
	n.previous_epoch = changed ? cur->member_epoch : cur->previous_epoch;
	if (out == cur)
		rc_member_free(out);
	*out = n;
	return SYNOD_OK;
unchanged:
	if (out == cur)
		return SYNOD_OK;
	return rc_member_copy(out, cur);
}

/* ---- 3. epoch check ---- */

int rc_check_epoch(int32_t member_epoch_in_request, const struct rc_member *m,
		   const uint64_t *reported_owned, uint32_t n, int has_reported)
{
	int32_t e = member_epoch_in_request;

	if (has_reported && !rc_is_set(reported_owned, n))
		return SYNOD_EINVALID_ARGUMENT;
	if (e < 0)
		return SYNOD_EFENCED_MEMBER_EPOCH;
	if (e == m->member_epoch)
		return SYNOD_OK;
	if (e < m->member_epoch && e == m->previous_epoch && has_reported &&
	    rc_subset(reported_owned, n, m->assigned, m->n_assigned))
		return SYNOD_OK;
	return SYNOD_EFENCED_MEMBER_EPOCH;
}

/* ---- 4. group invariant ---- */

struct holder {
	uint64_t key;
	uint32_t member;
};

static int cmp_holder(const void *x, const void *y)
{
	const struct holder *a = x, *b = y;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->member < b->member ? -1 : a->member > b->member;
}

int rc_exclusive(const struct rc_member *const *members, uint32_t n)
{
	struct holder *h;
	size_t total = 0, k = 0, i;
	uint32_t m, j;
	int ok = 1;

	for (m = 0; m < n; m++)
		if (members[m])
			total += (size_t)members[m]->n_assigned +
				 members[m]->n_pending;
	if (total < 2)
		return 1;
	h = malloc(total * sizeof(*h));
	if (h == NULL)
		return -1;
	for (m = 0; m < n; m++) {
		const struct rc_member *x = members[m];

		if (x == NULL)
			continue;
		for (j = 0; j < x->n_assigned; j++)
			h[k++] = (struct holder){x->assigned[j], m};
		for (j = 0; j < x->n_pending; j++)
			h[k++] = (struct holder){x->pending_revocation[j], m};
	}
	qsort(h, total, sizeof(*h), cmp_holder);
	for (i = 1; i < total && ok; i++)
		if (h[i].key == h[i - 1].key && h[i].member != h[i - 1].member)
			ok = 0;
	free(h);
	return ok;
}
