/* Unit tests: partition leader election and ISR rules
 * (controller/election.c, pure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "election.h"
#include "synod/client.h"

/* Liveness for the tests: bit `id` of *arg set = alive. */
static int alive_mask(void *arg, int32_t id)
{
	uint64_t m = *(const uint64_t *)arg;

	return id >= 0 && id < 64 && (m >> id) & 1;
}

#define ALIVE(...) alive_of((const int32_t[]){__VA_ARGS__, -1})

static uint64_t alive_of(const int32_t *ids)
{
	uint64_t m = 0;

	for (; *ids >= 0; ids++)
		m |= 1ULL << *ids;
	return m;
}

/* A partition: replicas and ISR as -1-terminated lists. */
static struct el_partition part(const int32_t *reps, const int32_t *isr,
				int32_t leader, uint32_t le, uint32_t pe)
{
	struct el_partition p;

	memset(&p, 0, sizeof(p));
	for (; *reps >= 0; reps++)
		p.replicas[p.n_replicas++] = *reps;
	for (; *isr >= 0; isr++)
		p.isr[p.n_isr++] = *isr;
	p.leader = leader;
	p.leader_epoch = le;
	p.partition_epoch = pe;
	return p;
}

#define L(...) ((const int32_t[]){__VA_ARGS__, -1})
#define NONE ((const int32_t[]){-1})

static void assert_isr(const struct el_partition *p, const int32_t *want)
{
	uint32_t n = 0;

	for (; want[n] >= 0; n++)
		;
	assert_int_equal(p->n_isr, n);
	assert_memory_equal(p->isr, want, n * sizeof(*want));
}

static void test_fenced_leader(void **state)
{
	struct el_partition in = part(L(1, 2, 3), L(1, 2, 3), 1, 5, 10), out;
	uint64_t a = ALIVE(2, 3);

	(void)state;
	el_broker_gone(&in, 1, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, 2);
	assert_isr(&out, L(2, 3));
	assert_int_equal(out.leader_epoch, 6);
	assert_int_equal(out.partition_epoch, 11);
	assert_true(el_changed(&in, &out));
	/* Replicas untouched. */
	assert_int_equal(out.n_replicas, 3);
	assert_memory_equal(out.replicas, in.replicas, sizeof(in.replicas));

	/* The next ISR member in replica order that is alive: 2 is in the
	 * ISR but dead, so 3. */
	a = ALIVE(3);
	el_broker_gone(&in, 1, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, 3);
	assert_isr(&out, L(2, 3));

	/* Replica order, not ISR order, decides. */
	in = part(L(1, 3, 2), L(2, 1, 3), 1, 5, 10);
	a = ALIVE(2, 3);
	el_broker_gone(&in, 1, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, 3);
	assert_isr(&out, L(2, 3));

	/* The gone broker is never re-elected, even if the caller's
	 * liveness still says it is alive. */
	in = part(L(1, 2), L(1, 2), 1, 5, 10);
	a = ALIVE(1);
	el_broker_gone(&in, 1, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, EL_NO_LEADER);
	assert_isr(&out, L(2));
	assert_int_equal(out.leader_epoch, 6);

	/* Also when it is the last ISR member, kept there: offline, or an
	 * unclean leader other than it. */
	in = part(L(1, 2), L(1), 1, 5, 10);
	a = ALIVE(1, 2);
	el_broker_gone(&in, 1, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, EL_NO_LEADER);
	assert_isr(&out, L(1));
	el_broker_gone(&in, 1, 1, alive_mask, &a, &out);
	assert_int_equal(out.leader, 2);
	assert_isr(&out, L(2));

	/* `out` may be `in`. */
	in = part(L(1, 2, 3), L(1, 2, 3), 1, 5, 10);
	a = ALIVE(2, 3);
	el_broker_gone(&in, 1, 0, alive_mask, &a, &in);
	assert_int_equal(in.leader, 2);
	assert_int_equal(in.leader_epoch, 6);
	assert_int_equal(in.partition_epoch, 11);
}

static void test_fenced_follower(void **state)
{
	struct el_partition in = part(L(1, 2, 3), L(1, 2, 3), 1, 5, 10), out;
	uint64_t a = ALIVE(1, 3);

	(void)state;
	el_broker_gone(&in, 2, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, 1);
	assert_isr(&out, L(1, 3));
	assert_int_equal(out.leader_epoch, 5);
	assert_int_equal(out.partition_epoch, 11);
	assert_true(el_changed(&in, &out));

	/* Not in the ISR, not leader: nothing to do. */
	in = part(L(1, 2, 3), L(1, 3), 1, 5, 10);
	el_broker_gone(&in, 2, 1, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));
	assert_int_equal(out.partition_epoch, 10);
	/* A broker that is no replica at all, nor -1: nothing either. */
	el_broker_gone(&in, 9, 1, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));
	in.leader = EL_NO_LEADER;
	el_broker_gone(&in, EL_NO_LEADER, 1, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));
}

static void test_last_isr_member(void **state)
{
	struct el_partition in = part(L(1, 2, 3), L(1), 1, 5, 10), out;
	uint64_t a = ALIVE(2, 3);

	(void)state;
	/* The leader and last ISR member is fenced: it stays in the ISR and
	 * the partition goes offline. */
	el_broker_gone(&in, 1, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, EL_NO_LEADER);
	assert_isr(&out, L(1));
	assert_int_equal(out.leader_epoch, 6);
	assert_int_equal(out.partition_epoch, 11);

	/* Going offline with the others in the ISR but dead: the ISR loses
	 * the gone leader and keeps them. */
	in = part(L(1, 2, 3), L(1, 2), 1, 5, 10);
	a = ALIVE(3);
	el_broker_gone(&in, 1, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, EL_NO_LEADER);
	assert_isr(&out, L(2));

	/* Already offline, its last ISR member fenced again: no change. */
	in = part(L(1, 2, 3), L(1), EL_NO_LEADER, 6, 11);
	el_broker_gone(&in, 1, 0, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));
}

static void test_unclean(void **state)
{
	struct el_partition in = part(L(1, 2, 3), L(1), 1, 5, 10), out;
	uint64_t a = ALIVE(2, 3);

	(void)state;
	/* No ISR member left: the first alive replica, ISR just it. */
	el_broker_gone(&in, 1, 1, alive_mask, &a, &out);
	assert_int_equal(out.leader, 2);
	assert_isr(&out, L(2));
	assert_int_equal(out.leader_epoch, 6);
	assert_int_equal(out.partition_epoch, 11);
	a = ALIVE(3);
	el_broker_gone(&in, 1, 1, alive_mask, &a, &out);
	assert_int_equal(out.leader, 3);
	assert_isr(&out, L(3));

	/* Unclean allowed but a clean choice exists: clean wins. */
	in = part(L(1, 2, 3), L(1, 3), 1, 5, 10);
	a = ALIVE(2, 3);
	el_broker_gone(&in, 1, 1, alive_mask, &a, &out);
	assert_int_equal(out.leader, 3);
	assert_isr(&out, L(3));

	/* Nobody alive: offline even with unclean, last member kept. */
	in = part(L(1, 2, 3), L(1), 1, 5, 10);
	a = 0;
	el_broker_gone(&in, 1, 1, alive_mask, &a, &out);
	assert_int_equal(out.leader, EL_NO_LEADER);
	assert_isr(&out, L(1));
}

static void test_recover(void **state)
{
	struct el_partition in = part(L(1, 2, 3), L(1), EL_NO_LEADER, 6, 11);
	struct el_partition out;
	uint64_t a = ALIVE(1);

	(void)state;
	/* The ISR member comes back. */
	el_recover(&in, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, 1);
	assert_isr(&out, L(1));
	assert_int_equal(out.leader_epoch, 7);
	assert_int_equal(out.partition_epoch, 12);

	/* Only replicas outside the ISR come back: stays offline... */
	a = ALIVE(2, 3);
	el_recover(&in, 0, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));
	assert_int_equal(out.leader, EL_NO_LEADER);
	/* ...unless unclean election is allowed. */
	el_recover(&in, 1, alive_mask, &a, &out);
	assert_int_equal(out.leader, 2);
	assert_isr(&out, L(2));
	assert_int_equal(out.leader_epoch, 7);
	assert_int_equal(out.partition_epoch, 12);

	/* Unclean over an ISR of several dead members: ISR just the new
	 * leader. */
	in = part(L(1, 2, 3), L(1, 2), EL_NO_LEADER, 6, 11);
	a = ALIVE(3);
	el_recover(&in, 1, alive_mask, &a, &out);
	assert_int_equal(out.leader, 3);
	assert_isr(&out, L(3));

	/* Several ISR members: the first alive one in replica order. */
	in = part(L(3, 1, 2), L(1, 2), EL_NO_LEADER, 6, 11);
	a = ALIVE(1, 2);
	el_recover(&in, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, 1);
	assert_isr(&out, L(1, 2));

	/* A partition with a leader is not touched. */
	in = part(L(1, 2, 3), L(2, 3), 2, 6, 11);
	a = ALIVE(1, 3);
	el_recover(&in, 1, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));
}

static void test_preferred(void **state)
{
	struct el_partition in = part(L(1, 2, 3), L(1, 2, 3), 2, 5, 10), out;
	uint64_t a = ALIVE(1, 2, 3);

	(void)state;
	el_preferred(&in, alive_mask, &a, &out);
	assert_int_equal(out.leader, 1);
	assert_isr(&out, L(1, 2, 3));
	assert_int_equal(out.leader_epoch, 6);
	assert_int_equal(out.partition_epoch, 11);
	/* Already the leader. */
	el_preferred(&out, alive_mask, &a, &in);
	assert_false(el_changed(&out, &in));
	/* Not in the ISR, or not alive: no change. */
	in = part(L(1, 2, 3), L(2, 3), 2, 5, 10);
	el_preferred(&in, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));
	in = part(L(1, 2, 3), L(1, 2, 3), 2, 5, 10);
	a = ALIVE(2, 3);
	el_preferred(&in, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));
	/* An offline partition whose preferred replica is back in the ISR. */
	in = part(L(1, 2, 3), L(1), EL_NO_LEADER, 5, 10);
	a = ALIVE(1);
	el_preferred(&in, alive_mask, &a, &out);
	assert_int_equal(out.leader, 1);
	assert_int_equal(out.leader_epoch, 6);
}

/* el_alter_isr on `in` expecting error `err`; `out` must stay untouched. */
static void alter_refused(const struct el_partition *in, int32_t from,
			  uint32_t le, uint32_t pe, const int32_t *isr,
			  uint32_t n, uint64_t a, int err)
{
	struct el_partition out, canary;

	memset(&out, 0xab, sizeof(out));
	canary = out;
	assert_int_equal(
	    el_alter_isr(in, from, le, pe, isr, n, alive_mask, &a, &out), err);
	assert_memory_equal(&out, &canary, sizeof(out));
}

static void test_alter_isr_refused(void **state)
{
	struct el_partition in = part(L(1, 2, 3), L(1, 2), 1, 5, 10);
	uint64_t a = ALIVE(1, 2, 3);
	struct el_partition off = part(L(1, 2, 3), L(1), EL_NO_LEADER, 5, 10);

	(void)state;
	/* Stale (or unknown newer) leader epoch. */
	alter_refused(&in, 1, 4, 10, L(1), 1, a, SYNOD_EFENCED_LEADER_EPOCH);
	alter_refused(&in, 1, 6, 10, L(1), 1, a, SYNOD_EFENCED_LEADER_EPOCH);
	/* Stale partition epoch. */
	alter_refused(&in, 1, 5, 9, L(1), 1, a, SYNOD_EINVALID_UPDATE_VERSION);
	alter_refused(&in, 1, 5, 11, L(1), 1, a, SYNOD_EINVALID_UPDATE_VERSION);
	/* Not the leader (checked first, as Kafka does). */
	alter_refused(&in, 2, 5, 10, L(2), 1, a, SYNOD_ENOT_LEADER);
	alter_refused(&in, 2, 4, 9, L(2), 1, a, SYNOD_ENOT_LEADER);
	alter_refused(&in, 7, 5, 10, L(1), 1, a, SYNOD_ENOT_LEADER);
	alter_refused(&off, 1, 5, 10, L(1), 1, a, SYNOD_ENOT_LEADER);
	alter_refused(&off, EL_NO_LEADER, 5, 10, L(1), 1, a, SYNOD_ENOT_LEADER);
	/* Then the epochs before the ISR itself. */
	alter_refused(&in, 1, 4, 10, L(9, 9), 2, a, SYNOD_EFENCED_LEADER_EPOCH);
	alter_refused(&in, 1, 5, 9, L(9, 9), 2, a,
		      SYNOD_EINVALID_UPDATE_VERSION);
	/* Bad ISRs. */
	alter_refused(&in, 1, 5, 10, L(2, 3), 2, a, SYNOD_EINVALID_ISR);
	alter_refused(&in, 1, 5, 10, L(1, 2, 2), 3, a, SYNOD_EINVALID_ISR);
	alter_refused(&in, 1, 5, 10, L(1, 1), 2, a, SYNOD_EINVALID_ISR);
	/* not a replica (though alive) */
	alter_refused(&in, 1, 5, 10, L(1, 4), 2, ALIVE(1, 2, 3, 4),
		      SYNOD_EINVALID_ISR);
	alter_refused(&in, 1, 5, 10, L(1, 2, 3, 4), 4, a, SYNOD_EINVALID_ISR);
	alter_refused(&in, 1, 5, 10, NONE, 0, a, SYNOD_EINVALID_ISR);
	alter_refused(&in, 1, 5, 10, NULL, 2, a, SYNOD_EINVALID_ISR);
	/* Adding a member that is not alive. */
	alter_refused(&in, 1, 5, 10, L(1, 2, 3), 3, ALIVE(1, 2),
		      SYNOD_EINVALID_ISR);
	alter_refused(&in, 1, 5, 10, L(1, 3), 2, ALIVE(1, 2),
		      SYNOD_EINVALID_ISR);
}

static void test_alter_isr_accepted(void **state)
{
	struct el_partition in = part(L(1, 2, 3), L(1, 2), 1, 5, 10), out;
	uint64_t a = ALIVE(1, 2, 3);

	(void)state;
	/* Shrink. */
	assert_int_equal(
	    el_alter_isr(&in, 1, 5, 10, L(1), 1, alive_mask, &a, &out), 0);
	assert_isr(&out, L(1));
	assert_int_equal(out.leader, 1);
	assert_int_equal(out.leader_epoch, 5);
	assert_int_equal(out.partition_epoch, 11);
	assert_true(el_changed(&in, &out));
	/* Expand, given in any order: stored in replica order. */
	assert_int_equal(
	    el_alter_isr(&in, 1, 5, 10, L(3, 1, 2), 3, alive_mask, &a, &out),
	    0);
	assert_isr(&out, L(1, 2, 3));
	assert_int_equal(out.leader_epoch, 5);
	assert_int_equal(out.partition_epoch, 11);
	/* A member kept need not be alive (only added ones must be). */
	a = ALIVE(1, 3);
	assert_int_equal(
	    el_alter_isr(&in, 1, 5, 10, L(2, 1, 3), 3, alive_mask, &a, &out),
	    0);
	assert_isr(&out, L(1, 2, 3));
	/* No-op: the same members (any order) are accepted and change
	 * nothing: no epoch bump, nothing to commit. */
	assert_int_equal(
	    el_alter_isr(&in, 1, 5, 10, L(2, 1), 2, alive_mask, &a, &out), 0);
	assert_false(el_changed(&in, &out));
	assert_int_equal(out.partition_epoch, 10);
	/* ...also when the current ISR is not in replica order: it is kept
	 * as it is. */
	{
		struct el_partition odd = part(L(1, 2, 3), L(2, 1), 1, 5, 10);

		assert_int_equal(el_alter_isr(&odd, 1, 5, 10, L(1, 2), 2,
					      alive_mask, &a, &out),
				 0);
		assert_false(el_changed(&odd, &out));
		assert_isr(&out, L(2, 1));
	}
	/* The next request must carry the new partition epoch. */
	a = ALIVE(1, 2, 3);
	assert_int_equal(
	    el_alter_isr(&in, 1, 5, 10, L(1), 1, alive_mask, &a, &in),
	    0); /* `out` may be `in` */
	assert_int_equal(in.partition_epoch, 11);
	assert_int_equal(
	    el_alter_isr(&in, 1, 5, 10, L(1, 2), 2, alive_mask, &a, &out),
	    SYNOD_EINVALID_UPDATE_VERSION);
	assert_int_equal(
	    el_alter_isr(&in, 1, 5, 11, L(1, 2), 2, alive_mask, &a, &out), 0);
	assert_int_equal(out.partition_epoch, 12);
}

/* A retry of the change that made the current state is answered with
 * that state; anything else quoting an old epoch is still stale. */
static void test_alter_isr_retry(void **state)
{
	struct el_partition before = part(L(1, 2, 3), L(1, 2, 3), 1, 5, 10);
	struct el_partition now, out;
	uint64_t a = ALIVE(1, 2, 3);

	(void)state;
	/* The leader shrinks {1,2,3} to {1,2}: epoch 11. */
	assert_int_equal(
	    el_alter_isr(&before, 1, 5, 10, L(1, 2), 2, alive_mask, &a, &now),
	    0);
	assert_int_equal(now.partition_epoch, 11);
	/* The same request again (its answer was lost): OK, no change. */
	memset(&out, 0xab, sizeof(out));
	assert_int_equal(
	    el_alter_isr(&now, 1, 5, 10, L(1, 2), 2, alive_mask, &a, &out), 0);
	assert_false(el_changed(&now, &out));
	assert_int_equal(out.partition_epoch, 11);
	assert_isr(&out, L(1, 2));
	/* In another order, and with the members no longer alive: still the
	 * same set, still a retry (nothing is added). */
	a = ALIVE(1);
	assert_int_equal(
	    el_alter_isr(&now, 1, 5, 10, L(2, 1), 2, alive_mask, &a, &out), 0);
	assert_false(el_changed(&now, &out));
	a = ALIVE(1, 2, 3);
	/* Another ISR quoting the old epoch is stale. */
	alter_refused(&now, 1, 5, 10, L(1), 1, a,
		      SYNOD_EINVALID_UPDATE_VERSION);
	alter_refused(&now, 1, 5, 10, L(1, 2, 3), 3, a,
		      SYNOD_EINVALID_UPDATE_VERSION);
	/* A duplicate makes it another request. */
	alter_refused(&now, 1, 5, 10, L(1, 1), 2, a,
		      SYNOD_EINVALID_UPDATE_VERSION);
	alter_refused(&now, 1, 5, 10, NULL, 2, a,
		      SYNOD_EINVALID_UPDATE_VERSION);
	/* Two epochs back: stale. */
	alter_refused(&now, 1, 5, 9, L(1, 2), 2, a,
		      SYNOD_EINVALID_UPDATE_VERSION);
	/* Not from the leader, or another leader epoch: refused as before. */
	alter_refused(&now, 2, 5, 10, L(1, 2), 2, a, SYNOD_ENOT_LEADER);
	alter_refused(&now, 1, 4, 10, L(1, 2), 2, a,
		      SYNOD_EFENCED_LEADER_EPOCH);
	/* After a leader change the old leader's retry is fenced. */
	{
		struct el_partition moved = part(L(1, 2, 3), L(1, 2), 2, 6, 11);

		alter_refused(&moved, 1, 5, 10, L(1, 2), 2, a,
			      SYNOD_ENOT_LEADER);
		alter_refused(&moved, 2, 5, 10, L(1, 2), 2, a,
			      SYNOD_EFENCED_LEADER_EPOCH);
	}
	/* Partition epoch 0 has no epoch before it. */
	{
		struct el_partition zero = part(L(1, 2, 3), L(1, 2), 1, 0, 0);

		alter_refused(&zero, 1, 0, UINT32_MAX, L(1, 2), 2, a,
			      SYNOD_EINVALID_UPDATE_VERSION);
	}
	/* The current epoch is not a retry but the usual no-op. */
	assert_int_equal(
	    el_alter_isr(&now, 1, 5, 11, L(1, 2), 2, alive_mask, &a, &out), 0);
	assert_false(el_changed(&now, &out));
}

static void test_changed(void **state)
{
	struct el_partition a = part(L(1, 2, 3), L(1, 2), 1, 5, 10), b;

	(void)state;
	b = a;
	assert_false(el_changed(&a, &b));
	/* Slots past the counts are not compared. */
	b.isr[2] = 77;
	b.replicas[5] = 77;
	assert_false(el_changed(&a, &b));
	b = a;
	b.replicas[2] = 4;
	assert_true(el_changed(&a, &b));
	b = a;
	b.n_replicas = 2;
	assert_true(el_changed(&a, &b));
	b = a;
	b.isr[1] = 3;
	assert_true(el_changed(&a, &b));
	b = a;
	b.n_isr = 1;
	assert_true(el_changed(&a, &b));
	b = a;
	b.leader = 2;
	assert_true(el_changed(&a, &b));
	b = a;
	b.leader_epoch++;
	assert_true(el_changed(&a, &b));
	b = a;
	b.partition_epoch++;
	assert_true(el_changed(&a, &b));
}

static void test_imbalance(void **state)
{
	struct el_partition p[4];

	(void)state;
	p[0] = part(L(1, 2), L(1, 2), 1, 0, 0);		/* preferred */
	p[1] = part(L(1, 2), L(1, 2), 2, 1, 1);		/* not */
	p[2] = part(L(2, 3), L(2), EL_NO_LEADER, 1, 1); /* offline */
	p[3] = part(L(3, 1), L(3, 1), 3, 0, 0);		/* preferred */
	assert_int_equal(el_imbalance_percent(p, 4), 33);
	assert_int_equal(el_imbalance_percent(p, 2), 50);
	assert_int_equal(el_imbalance_percent(p, 1), 0);
	assert_int_equal(el_imbalance_percent(p + 1, 1), 100);
	assert_int_equal(el_imbalance_percent(p + 2, 1), 0);
	assert_int_equal(el_imbalance_percent(NULL, 0), 0);
}

/* Random sequences of fencing, returns, preferred elections and ISR
 * changes on one partition keep KRaft's invariants: one leader per leader
 * epoch, the leader an alive ISR member when elected, the ISR a non-empty
 * duplicate-free subset of the replicas, epochs moving exactly when they
 * must. */
/* Invariant: a partition brought in line with the brokers alive (the
 * rechecks of refused changes) moves its partition epoch by exactly one,
 * which is all apply accepts. The chain of el_broker_gone steps it
 * replaced moved it once per dead replica, and its refusal came back for
 * ever. */
static void test_reconcile(void **state)
{
	struct el_partition in, out, chain, next;
	uint64_t a, s = 7;

	(void)state;
	/* Two dead followers: one change, ISR down to the leader. */
	in = part(L(1, 2, 3), L(1, 2, 3), 1, 5, 10);
	a = ALIVE(1);
	el_reconcile(&in, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, 1);
	assert_isr(&out, L(1));
	assert_int_equal(out.leader_epoch, 5);
	assert_int_equal(out.partition_epoch, 11);

	/* The leader and a follower dead. */
	a = ALIVE(3);
	el_reconcile(&in, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, 3);
	assert_isr(&out, L(3));
	assert_int_equal(out.leader_epoch, 6);
	assert_int_equal(out.partition_epoch, 11);

	/* Offline with a dead and a live ISR member: recovered. */
	in = part(L(1, 2), L(1, 2), EL_NO_LEADER, 5, 10);
	a = ALIVE(2);
	el_reconcile(&in, 0, alive_mask, &a, &out);
	assert_int_equal(out.leader, 2);
	assert_isr(&out, L(2));
	assert_int_equal(out.leader_epoch, 6);
	assert_int_equal(out.partition_epoch, 11);

	/* Nobody alive: offline, the last ISR member kept; unclean changes
	 * nothing more without a live replica. */
	in = part(L(1, 2), L(1, 2), 1, 5, 10);
	a = 0;
	el_reconcile(&in, 1, alive_mask, &a, &out);
	assert_int_equal(out.leader, EL_NO_LEADER);
	assert_isr(&out, L(2));
	assert_int_equal(out.partition_epoch, 11);

	/* Unclean: a live replica outside the ISR leads, alone. */
	in = part(L(1, 2, 3), L(1), EL_NO_LEADER, 5, 10);
	a = ALIVE(3);
	el_reconcile(&in, 0, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));
	el_reconcile(&in, 1, alive_mask, &a, &out);
	assert_int_equal(out.leader, 3);
	assert_isr(&out, L(3));

	/* Everyone alive: nothing to change. */
	in = part(L(1, 2, 3), L(1, 2, 3), 1, 5, 10);
	a = ALIVE(1, 2, 3);
	el_reconcile(&in, 0, alive_mask, &a, &out);
	assert_false(el_changed(&in, &out));

	/* Random partitions and liveness: the same leader and ISR as the
	 * chained steps, with one bump of each epoch at most. */
	for (unsigned run = 0; run < 20000; run++) {
		uint32_t nr, i;
		int unclean;

		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		nr = 1 + (uint32_t)(s >> 33) % 5;
		memset(&in, 0, sizeof(in));
		for (i = 0; i < nr; i++) {
			in.replicas[i] = (int32_t)((i + (s >> 40)) % 6) + 1;
			if (i == 0 || (s >> (20 + i)) & 1)
				in.isr[in.n_isr++] = in.replicas[i];
		}
		in.n_replicas = nr;
		in.leader =
		    (s >> 30) & 1 ? in.isr[(s >> 13) % in.n_isr] : EL_NO_LEADER;
		in.leader_epoch = 5;
		in.partition_epoch = 10;
		a = (s >> 3) & 0x7e;
		unclean = (s >> 60) & 1;
		el_reconcile(&in, unclean, alive_mask, &a, &out);
		chain = in;
		for (i = 0; i < nr; i++) {
			if (alive_mask(&a, in.replicas[i]))
				continue;
			el_broker_gone(&chain, in.replicas[i], unclean,
				       alive_mask, &a, &next);
			chain = next;
		}
		if (chain.leader == EL_NO_LEADER) {
			el_recover(&chain, unclean, alive_mask, &a, &next);
			chain = next;
		}
		assert_int_equal(out.leader, chain.leader);
		assert_int_equal(out.n_isr, chain.n_isr);
		assert_memory_equal(out.isr, chain.isr,
				    out.n_isr * sizeof(*out.isr));
		assert_int_equal(out.partition_epoch,
				 in.partition_epoch + el_changed(&in, &chain));
		assert_int_equal(out.leader_epoch,
				 in.leader_epoch + (out.leader != in.leader));
		if (out.leader != EL_NO_LEADER) {
			uint32_t k = 0;

			assert_true(alive_mask(&a, out.leader));
			while (k < out.n_isr && out.isr[k] != out.leader)
				k++;
			assert_true(k < out.n_isr);
		}
	}
}

static void test_random_sequences(void **state)
{
	uint64_t s = 1;
	unsigned run;

	(void)state;
	for (run = 0; run < 300; run++) {
		int32_t by_epoch[512];
		struct el_partition p, q;
		uint64_t a;
		uint32_t i, nr = 1 + run % 5, step;

		memset(&p, 0, sizeof(p));
		for (i = 0; i < nr; i++)
			p.replicas[i] = p.isr[i] = (int32_t)(i + 1);
		p.n_replicas = p.n_isr = nr;
		p.leader = 1;
		a = ALIVE(1, 2, 3, 4, 5);
		for (i = 0; i < 512; i++)
			by_epoch[i] = -2;
		by_epoch[0] = 1;
		for (step = 0; step < 200; step++) {
			int32_t id, newisr[EL_MAX_REPLICAS];
			uint32_t n = 0, j, op;
			int unclean, rc = 0;

			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			op = (uint32_t)(s >> 33) % 5;
			id = (int32_t)((s >> 40) % nr) + 1;
			unclean = (s >> 50) % 4 == 0;
			switch (op) {
			case 0: /* fenced */
				a &= ~(1ULL << id);
				el_broker_gone(&p, id, unclean, alive_mask, &a,
					       &q);
				break;
			case 1: /* back */
				a |= 1ULL << id;
				el_recover(&p, unclean, alive_mask, &a, &q);
				break;
			case 2:
				el_preferred(&p, alive_mask, &a, &q);
				break;
			default: /* the leader proposes a random ISR */
				for (j = 0; j < nr; j++)
					if ((s >> (20 + j)) & 1)
						newisr[n++] = p.replicas[j];
				rc = el_alter_isr(&p, p.leader, p.leader_epoch,
						  p.partition_epoch, newisr, n,
						  alive_mask, &a, &q);
				if (rc)
					q = p;
				break;
			}
			/* ISR: non-empty subset of replicas, no duplicate. */
			assert_true(q.n_isr >= 1);
			for (i = 0; i < q.n_isr; i++) {
				for (j = 0; j < q.n_replicas; j++)
					if (q.replicas[j] == q.isr[i])
						break;
				assert_true(j < q.n_replicas);
				for (j = 0; j < i; j++)
					assert_int_not_equal(q.isr[j],
							     q.isr[i]);
			}
			/* Leader epoch moves iff the leader changes; the
			 * partition epoch iff anything does, by one. */
			assert_int_equal(q.leader_epoch,
					 p.leader_epoch +
					     (q.leader != p.leader));
			assert_int_equal(q.partition_epoch,
					 p.partition_epoch +
					     (el_changed(&p, &q) ? 1u : 0u));
			if (q.leader != EL_NO_LEADER) {
				for (i = 0; i < q.n_isr; i++)
					if (q.isr[i] == q.leader)
						break;
				assert_true(i < q.n_isr);
				if (q.leader != p.leader)
					assert_true(alive_mask(&a, q.leader));
			}
			/* One leader per leader epoch, ever. */
			assert_true(q.leader_epoch < 512);
			if (by_epoch[q.leader_epoch] == -2)
				by_epoch[q.leader_epoch] = q.leader;
			assert_int_equal(by_epoch[q.leader_epoch], q.leader);
			p = q;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fenced_leader),
	    cmocka_unit_test(test_fenced_follower),
	    cmocka_unit_test(test_last_isr_member),
	    cmocka_unit_test(test_unclean),
	    cmocka_unit_test(test_recover),
	    cmocka_unit_test(test_preferred),
	    cmocka_unit_test(test_alter_isr_refused),
	    cmocka_unit_test(test_alter_isr_accepted),
	    cmocka_unit_test(test_alter_isr_retry),
	    cmocka_unit_test(test_changed),
	    cmocka_unit_test(test_imbalance),
	    cmocka_unit_test(test_reconcile),
	    cmocka_unit_test(test_random_sequences),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
