/* controller/placement.h - replica placement for new partitions: pure
 * functions over plain structs (no store, no sockets), deterministic for a
 * given input (the caller passes a seed when it wants variety).
 *
 * Rules, in priority order:
 *  1. the replicas of one partition are distinct brokers;
 *  2. they span as many distinct racks as there are racks (up to RF);
 *     brokers without a rack form one rack of their own ("");
 *  3. load is balanced, counting what is already placed: each broker's
 *     replica count, and separately its leader count (first replica), stay
 *     within one of the fair share as far as rules 1-2 allow;
 *  4. consecutive partitions rotate their leaders over brokers and racks.
 * Only unfenced, not shutting-down brokers are candidates (the caller
 * passes just those).
 *
 * How (placement.c): each leader goes to the broker with the fewest
 * leaders of all (ties: fewest replicas, least loaded rack, seeded rank);
 * each follower to the broker with the fewest replicas among those in
 * racks the partition does not use yet (any unused broker once every rack
 * is used; ties: most leaders, least loaded rack, seeded rank); then a
 * repair pass moves followers placed here off brokers that have two
 * replicas more than a possible replacement. Leaders are not rotated over
 * racks as such: racks of very different sizes would then give a
 * one-broker rack as many leaders as a large rack; rule 3 wins. Leaders
 * still rotate: from equal counts every broker leads once before any
 * leads twice, and ties go to the least loaded rack.
 *
 * Guaranteed (and checked by tests/unit/test_placement.c):
 *  - rules 1 and 2, always;
 *  - leaders: each goes to a broker with the fewest leaders at that moment,
 *    so from equal leader counts (e.g. zero) they end within one of each
 *    other, and in general every broker given a leader ends at most one
 *    above the final minimum (also over several calls in a row);
 *  - replicas: no follower placed by the call can move to a broker that
 *    has at least two replicas fewer without breaking rules 1-2;
 *  - the result depends only on the set of brokers (ids, racks, counts),
 *    n_partitions, rf and seed, not on the order of brokers[].
 * Observed on thousands of random clusters (asserted there, not proven):
 * from zero load with no or one rack, replica counts end within one; with
 * racks, within one inside each rack, and the maximum at most one above a
 * lower bound of the best possible for the racks' sizes; topics of one RF
 * placed in a row over equal racks stay within one. With mixed RFs in a
 * row, leader balance is kept and replica counts may drift a little
 * further apart (the leader of an RF 1 partition is its only replica).
 * Cost: O(n_partitions * rf * n_brokers) time, O(n_brokers) extra memory:
 * 100,000 partitions x RF 3 over 100 brokers take about 0.1 s.
 *
 * Ownership: inputs are borrowed; outputs go to caller-provided arrays.
 */
#ifndef SYNOD_PLACEMENT_H
#define SYNOD_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

struct pl_broker {
	int32_t id;
	const char *rack;  /* NULL or "": no rack */
	uint32_t replicas; /* replicas already placed on it */
	uint32_t leaders;  /* partitions it already leads (preferred) */
};

enum {
	PL_OK = 0,
	PL_EINVALID_RF = 1, /* rf < 1 or rf > number of brokers */
	PL_EINVALID = 2,    /* other bad input (n_partitions, duplicate ids) */
	PL_ENOMEM = 3,
};
/* PL_EINVALID_RF is checked first (so no brokers at all gives it); then
 * PL_EINVALID for: n_partitions == 0, brokers or out NULL, a negative or
 * duplicate broker id, a count that n_partitions more would overflow.
 * On any error nothing is written (neither out nor brokers[]). */

/* Place n_partitions partitions of replication factor rf over brokers[].
 * out[p * rf + r] = broker id of replica r of partition p (r = 0 is the
 * preferred leader). brokers[].replicas/leaders are updated to include
 * the new placement, so several topics can be placed in a row. */
int placement_assign(struct pl_broker *brokers, size_t n_brokers,
		     uint32_t n_partitions, uint32_t rf, uint32_t seed,
		     int32_t *out);

#endif
