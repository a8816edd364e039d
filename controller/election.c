/* controller/election.c - partition leader election and ISR rules (see
 * election.h). Pure functions; every result is built in a local copy, so
 * `out` may be `in`. */
#include "election.h"

#include "synod/client.h"

static uint32_t count(uint32_t n)
{
	return n > EL_MAX_REPLICAS ? EL_MAX_REPLICAS : n;
}

static int member(const int32_t *set, uint32_t n, int32_t id)
{
	uint32_t i;

	for (i = 0; i < count(n); i++)
		if (set[i] == id)
			return 1;
	return 0;
}

/* b[0..nb) has no duplicates and the same members as a[0..na). */
static int same_set(const int32_t *a, uint32_t na, const int32_t *b,
		    uint32_t nb)
{
	uint32_t i;

	if (b == NULL || na != nb || nb > EL_MAX_REPLICAS)
		return 0;
	for (i = 0; i < nb; i++)
		if (!member(a, na, b[i]) || member(b, i, b[i]))
			return 0;
	return 1;
}

static int is_alive(el_alive_fn alive, void *arg, int32_t id)
{
	return alive ? alive(arg, id) != 0 : 1;
}

static void remove_isr(struct el_partition *p, int32_t id)
{
	uint32_t i, j = 0;

	for (i = 0; i < count(p->n_isr); i++)
		if (p->isr[i] != id)
			p->isr[j++] = p->isr[i];
	p->n_isr = j;
}

/* First replica, in replica order, other than `skip`, that is alive and,
 * when isr_only, in the ISR; EL_NO_LEADER if none. */
static int32_t first_replica(const struct el_partition *p, int32_t skip,
			     int isr_only, el_alive_fn alive, void *arg)
{
	uint32_t i;

	for (i = 0; i < count(p->n_replicas); i++) {
		int32_t r = p->replicas[i];

		if (r == skip || (isr_only && !member(p->isr, p->n_isr, r)))
			continue;
		if (is_alive(alive, arg, r))
			return r;
	}
	return EL_NO_LEADER;
}

/* Elect a leader among the replicas other than `skip`: clean first, then,
 * when allowed, unclean (ISR becomes just the new leader). Bumps the
 * leader epoch when the leader changes. */
static void elect(struct el_partition *p, int32_t skip, int unclean,
		  el_alive_fn alive, void *arg)
{
	int32_t l = first_replica(p, skip, 1, alive, arg);

	if (l == EL_NO_LEADER && unclean) {
		l = first_replica(p, skip, 0, alive, arg);
		if (l != EL_NO_LEADER) {
			p->isr[0] = l;
			p->n_isr = 1;
		}
	}
	if (l != p->leader) {
		p->leader = l;
		p->leader_epoch++;
	}
}

/* Bump the partition epoch of `p` if it differs from `in`. */
static void finish(const struct el_partition *in, struct el_partition *p,
		   struct el_partition *out)
{
	if (el_changed(in, p))
		p->partition_epoch++;
	*out = *p;
}

int el_changed(const struct el_partition *in, const struct el_partition *out)
{
	uint32_t i;

	if (in->n_replicas != out->n_replicas || in->n_isr != out->n_isr ||
	    in->leader != out->leader ||
	    in->leader_epoch != out->leader_epoch ||
	    in->partition_epoch != out->partition_epoch)
		return 1;
	for (i = 0; i < count(in->n_replicas); i++)
		if (in->replicas[i] != out->replicas[i])
			return 1;
	for (i = 0; i < count(in->n_isr); i++)
		if (in->isr[i] != out->isr[i])
			return 1;
	return 0;
}

void el_broker_gone(const struct el_partition *in, int32_t gone, int unclean,
		    el_alive_fn alive, void *arg, struct el_partition *out)
{
	struct el_partition p = *in;

	if (p.n_isr > 1 && member(p.isr, p.n_isr, gone))
		remove_isr(&p, gone);
	if (p.leader == gone && gone != EL_NO_LEADER)
		elect(&p, gone, unclean, alive, arg);
	finish(in, &p, out);
}

void el_recover(const struct el_partition *in, int unclean, el_alive_fn alive,
		void *arg, struct el_partition *out)
{
	struct el_partition p = *in;

	if (p.leader == EL_NO_LEADER)
		elect(&p, EL_NO_LEADER, unclean, alive, arg);
	finish(in, &p, out);
}

void el_reconcile(const struct el_partition *in, int unclean, el_alive_fn alive,
		  void *arg, struct el_partition *out)
{
	struct el_partition p = *in;

	for (uint32_t i = 0; i < count(in->n_replicas); i++) {
		int32_t r = in->replicas[i];

		if (p.n_isr > 1 && !is_alive(alive, arg, r) &&
		    member(p.isr, p.n_isr, r))
			remove_isr(&p, r);
	}
	if (p.leader == EL_NO_LEADER || !is_alive(alive, arg, p.leader))
		elect(&p, p.leader, unclean, alive, arg);
	finish(in, &p, out);
}

void el_preferred(const struct el_partition *in, el_alive_fn alive, void *arg,
		  struct el_partition *out)
{
	struct el_partition p = *in;
	int32_t pref;

	if (p.n_replicas > 0) {
		pref = p.replicas[0];
		if (p.leader != pref && member(p.isr, p.n_isr, pref) &&
		    is_alive(alive, arg, pref)) {
			p.leader = pref;
			p.leader_epoch++;
		}
	}
	finish(in, &p, out);
}

int el_alter_isr(const struct el_partition *in, int32_t from,
		 uint32_t leader_epoch, uint32_t partition_epoch,
		 const int32_t *new_isr, uint32_t n_new_isr, el_alive_fn alive,
		 void *arg, struct el_partition *out)
{
	struct el_partition p = *in;
	uint32_t i, j, n = 0;

	if (from == EL_NO_LEADER || from != in->leader)
		return SYNOD_ENOT_LEADER;
	if (leader_epoch != in->leader_epoch)
		return SYNOD_EFENCED_LEADER_EPOCH;
	/* A retry of the change that made the current state (its answer
	 * was lost): the epoch it quoted is the one before, and it asked for
	 * what the ISR is now. Nothing more to do. */
	if (in->partition_epoch > 0 &&
	    partition_epoch == in->partition_epoch - 1 &&
	    same_set(in->isr, in->n_isr, new_isr, n_new_isr)) {
		*out = *in;
		return 0;
	}
	if (partition_epoch != in->partition_epoch)
		return SYNOD_EINVALID_UPDATE_VERSION;
	if (n_new_isr == 0 || !new_isr || n_new_isr > count(in->n_replicas))
		return SYNOD_EINVALID_ISR;
	for (i = 0; i < n_new_isr; i++) {
		int32_t id = new_isr[i];

		if (!member(in->replicas, in->n_replicas, id) ||
		    member(new_isr, i, id))
			return SYNOD_EINVALID_ISR;
		if (!member(in->isr, in->n_isr, id) &&
		    !is_alive(alive, arg, id))
			return SYNOD_EINVALID_ISR;
	}
	if (!member(new_isr, n_new_isr, in->leader))
		return SYNOD_EINVALID_ISR;
	/* Same set as now: nothing to change, whatever the order. */
	if (n_new_isr == in->n_isr) {
		for (i = 0; i < n_new_isr; i++)
			if (!member(in->isr, in->n_isr, new_isr[i]))
				break;
		if (i == n_new_isr) {
			*out = *in;
			return 0;
		}
	}
	/* Store the ISR in replica order. */
	for (j = 0; j < count(in->n_replicas); j++)
		if (member(new_isr, n_new_isr, in->replicas[j]))
			p.isr[n++] = in->replicas[j];
	p.n_isr = n;
	finish(in, &p, out);
	return 0;
}

unsigned el_imbalance_percent(const struct el_partition *parts, uint32_t n)
{
	uint64_t online = 0, off = 0;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (parts[i].leader == EL_NO_LEADER || parts[i].n_replicas == 0)
			continue;
		online++;
		if (parts[i].leader != parts[i].replicas[0])
			off++;
	}
	return online ? (unsigned)(off * 100 / online) : 0;
}
