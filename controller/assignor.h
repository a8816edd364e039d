/* controller/assignor.h - server-side consumer group assignors (KIP-848's
 * `uniform` and `range`, with a rack-aware option that works): pure
 * functions over plain structs (no store, no sockets, no globals, no
 * randomness), deterministic for a given input.
 *
 * A partition is a uint64_t key: (uint64_t)tid << 32 | partition, tid being
 * the store's small topic number (struct store_topic.tid). Key arrays are
 * sorted ascending everywhere.
 *
 * Common to both assignors (checked by tests/unit/test_assignor.c):
 *  - complete and exclusive: every partition 0..partitions-1 of every topic
 *    that at least one member subscribes to goes to exactly one member
 *    subscribed to that topic; partitions of topics nobody subscribes to go
 *    to no one. A member without topics gets nothing. Members may subscribe
 *    to different topic sets.
 *  - deterministic: the result depends on the content of the input only:
 *    the members' ids, instance ids, racks, subscriptions (as sets of
 *    topics), current assignments (as sets), the topics' tids, partition
 *    counts and rack masks, and rack_aware. Neither the order of members[]
 *    nor the order of topics[] (with members' indexes remapped) changes
 *    what a member gets: out->assigned[i] always belongs to members[i].
 *    No hash order, pointer value or clock is involved.
 *
 * uniform (the default assignor). Priorities: balance > rack > stickiness.
 *  1. Balance. Sizes are optimally balanced for the subscriptions: no
 *     member A holds a partition that could move to a member B subscribed
 *     to its topic, directly or through a chain of such moves (A -> X1 ->
 *     ... -> B, each hop handing on one partition of a topic the next one
 *     subscribes to), while |A| >= |B| + 2. Equivalently, the sum of the
 *     squared sizes is the minimum possible, so the largest member is as
 *     small as possible and the smallest as large as possible. With
 *     homogeneous subscriptions (every member with topics has the same
 *     set) the sizes are floor(P/M) or ceil(P/M); members with identical
 *     subscriptions always differ by at most one.
 *  2. Rack (rack_aware = 1, some member has a rack and some subscribed
 *     topic has rack_masks): a placement is local when the member's rack
 *     bit is set in the partition's rack mask. With homogeneous
 *     subscriptions, the number of local placements is the maximum any
 *     assignment balanced as in 1 can reach (a max-flow over (rack mask,
 *     rack) classes, including the choice of which members take the
 *     ceil(P/M) sizes). With heterogeneous subscriptions the same holds
 *     within each subscription class (members with the same topic set) for
 *     the partitions the class gets; which partitions of a topic each class
 *     gets is chosen greedily: local ones first, then sticky ones (not
 *     proven maximal across classes).
 *  3. Stickiness: a partition in a member's `current` stays with it when 1
 *     and 2 allow. Without racks and with homogeneous subscriptions, the
 *     number of partitions that stay is the maximum possible among
 *     balanced assignments: each member keeps min(current, quota) and the
 *     ceil(P/M) quotas go first to members holding more than floor(P/M)
 *     (by member id). So, from a balanced assignment, a single join moves
 *     at most ceil(P/M) partitions (M counting the new member), a single
 *     leave moves only the leaver's partitions, and a change of the
 *     partition count moves only what the new quotas require. With
 *     heterogeneous subscriptions, members start from everything they
 *     hold and balance is restored by moves that take surplus before
 *     current partitions (best effort, not proven optimal: over thousands
 *     of small random groups, under 1% keep fewer than the optimum of a
 *     min-cost flow, by at most 2 partitions; a single join or leave stays
 *     within ceil(P/M) of the fewest moves the balance allows, which the
 *     test asserts). With racks, current partitions are kept first among
 *     the placements that reach the locality of 2 (greedy).
 *  Fixpoint: given back as `current` (same members, subscriptions and
 *  topics), the result does not move; by construction, except with racks
 *  and heterogeneous subscriptions together, where the tests check it on
 *  random groups but it is not proven.
 *  A partition listed in several members' `current` counts as current for
 *  the smallest member id (strcmp) only. Keys of unknown topics, of
 *  partitions >= the topic's count or of topics the member no longer
 *  subscribes to are ignored.
 *  Cost, measured by tests/unit/bench_assignor.c (RelWithDebInfo, the
 *  2-core development VM, best of 25): without racks O(P + C + M + S +
 *  T log T) time and memory (P partitions assigned, C current keys, M
 *  members, S subscriptions, T topics); homogeneous, 5,000 members x
 *  250,000 partitions in 0.8 ms from scratch and 1.4 ms with current
 *  assignments (steady, a join, a leave), 10,000 x 100,000 in 0.8 ms and
 *  1.25 ms. Heterogeneous subscriptions add a few O(S) sweeps and
 *  O(S + K log K) per chain round (K classes): 1,000 members each on its
 *  own 10% of 1,000 topics of 50 partitions, 10 ms from scratch, 4-5 ms
 *  steady or after a join or leave. Racks add O(P) passes and O(D * R)
 *  per augmenting path (D distinct rack masks, R racks), skipped when
 *  each partition is local for all members or none (RF >= racks): 5,000 x
 *  250,000 over 6 racks with RF 3 in 6-8 ms, over 3 racks with RF 3 in
 *  1-1.7 ms.
 *
 * range. Per topic, its subscribers are ordered: members with an instance
 * id first, by instance id, then the others; ties by member id (strcmp).
 * With n subscribers and P_t partitions, the i-th gets P_t / n partitions,
 * plus one for i < P_t % n, as a contiguous range starting at
 * i * (P_t / n) + min(i, P_t % n). So topics with equal partition counts
 * and identical subscriber sets are co-partitioned: partition i of each
 * goes to the same member. `current` is ignored: range is sticky through
 * static membership only (an instance id keeps its place in the order).
 * rack_aware: per co-partition group (topics with the same partition count
 * and the same subscribers), every member keeps its number of partitions
 * and co-partitioning is kept; the number of partition indexes placed on a
 * member whose rack holds a replica of that index in every topic of the
 * group (topics with NULL rack_masks are left out of that test; an index
 * is never local when all are NULL) is the maximum possible with those
 * counts (max-flow), and among such placements each index stays with its
 * plain-range member when it can (greedy). Ranges are then not
 * contiguous. Cost: O(P + S + M log M), plus the max-flow with racks
 * (5,000 members x 250,000 partitions in 50 topics: 4 ms, 4.5 ms with 6
 * racks).
 *
 * Ownership: the input is borrowed and not modified (it may be used
 * concurrently by other readers). On SYNOD_OK the assignor allocates
 * out->assigned (n_members pointers) and out->n_assigned (n_members
 * counts), and each out->assigned[i] separately with malloc (NULL when
 * out->n_assigned[i] is 0): the caller may take any out->assigned[i]
 * (free() it itself later) and set it to NULL before asg_result_free().
 * On any error nothing is allocated and *out is zeroed, so
 * asg_result_free() is harmless. No state survives a call: the functions
 * are reentrant and thread-safe.
 */
#ifndef SYNOD_ASSIGNOR_H
#define SYNOD_ASSIGNOR_H

#include <stdint.h>

struct asg_topic {
	int64_t tid;		    /* 0 .. UINT32_MAX, distinct */
	uint32_t partitions;	    /* count: partitions 0..partitions-1 */
	const uint64_t *rack_masks; /* per partition: bit r set when a
				       replica lives in rack r (r < 64;
				       racks numbered by the caller); NULL:
				       unknown (never local) */
};

struct asg_member {
	const char *member_id;	 /* unique in the group, not NULL */
	const char *instance_id; /* static membership, or NULL */
	int rack;		 /* rack number 0..63, or -1 */
	const uint32_t *topics;	 /* subscribed: indexes into
				    asg_input.topics, sorted, distinct */
	uint32_t n_topics;
	const uint64_t *current; /* its current target assignment
				    (stickiness), sorted keys (duplicates
				    and invalid keys are ignored) */
	uint32_t n_current;
};

struct asg_input {
	const struct asg_topic *topics;
	uint32_t n_topics;
	const struct asg_member *members;
	uint32_t n_members;
	int rack_aware; /* 1: prefer members in a replica's rack (balance >
			   rack > stickiness) */
};

struct asg_result {
	uint64_t **assigned;  /* per member (input order): sorted keys */
	uint32_t *n_assigned; /* per member: count of assigned[i] */
	uint32_t n_members;
};

/* Both return SYNOD_OK, SYNOD_ENOMEM, or SYNOD_EINVALID_ARGUMENT (codes of
 * synod/client.h) for an input breaking the rules above: in or out NULL,
 * a NULL array with a non-zero count, a NULL or duplicate member_id, a rack
 * outside -1..63, a member's topic index out of range, unsorted or
 * repeated, a tid outside 0..UINT32_MAX or repeated, 2^32 - 1 or more
 * subscribed partitions in all. out is filled on SYNOD_OK only. */
int asg_uniform(const struct asg_input *in, struct asg_result *out);
int asg_range(const struct asg_input *in, struct asg_result *out);

/* Frees what an assignor allocated (NULL entries are skipped) and zeroes
 * *out. NULL or an already freed (zeroed) result is fine. */
void asg_result_free(struct asg_result *out);

/* Look an assignor up by name ("uniform", "range"); NULL if unknown or
 * name is NULL. */
typedef int (*asg_fn)(const struct asg_input *, struct asg_result *);
asg_fn asg_find(const char *name);

#endif
