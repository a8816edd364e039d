/* controller/reconcile.h - KIP-848's member-side rules of consumer groups
 * as pure functions over plain structs (no clock, no I/O, no globals):
 * validation of a GROUP_HEARTBEAT request, the epoch check of a heartbeat
 * against the member's record, and the reconciliation step that moves a
 * member toward its target assignment (Kafka's CurrentAssignmentBuilder).
 * The groups module (controller/groups.c) applies them; unit tests drive
 * them directly (tests/unit/test_reconcile.c).
 *
 * Partitions: a partition is a uint64_t key RC_KEY(tid, partition), tid
 * being the store's small topic number. A partition SET is an array of
 * keys sorted ascending without duplicates (rc_normalize() makes one);
 * NULL is the empty set when its count is 0. Every function here that
 * takes a set expects that form and refuses others where it says so.
 *
 * Invariant these rules keep (issue 9): within a group, a partition is in
 * at most one member's assigned ∪ pending_revocation at any moment. A
 * member only ever receives a partition that it already held or that no
 * other member holds (owned_by_other() says so), and it gives a partition
 * up in its record only once it reported it gone (or never reported
 * owning it). rc_exclusive() checks the invariant over a group.
 */
#ifndef SYNOD_RECONCILE_H
#define SYNOD_RECONCILE_H

#include <stddef.h>
#include <stdint.h>

#define RC_KEY(tid, partition)                                                 \
	(((uint64_t)(uint32_t)(tid) << 32) | (uint64_t)(uint32_t)(partition))
#define RC_TID(key) ((uint32_t)((uint64_t)(key) >> 32))
#define RC_PARTITION(key) ((uint32_t)((uint64_t)(key)&0xffffffffu))

/* Member epochs with a meaning of their own in a request. */
#define RC_EPOCH_JOIN 0
#define RC_EPOCH_LEAVE (-1)
#define RC_EPOCH_STATIC_LEAVE (-2)

/* Limits of rc_validate(). A member id is what the controller gave at the
 * first join: a UUID in its 36-character text form; anything from 1 to 36
 * bytes is accepted (the controller then looks it up). A group id is 1 to
 * 255 bytes (docs/groups.md). */
#define RC_MEMBER_ID_MAX 36
#define RC_GROUP_ID_MAX 255

/* ---- 1. Request validation ---- */

/* A GROUP_HEARTBEAT request (KIP-848's ConsumerGroupHeartbeat) as plain
 * fields. Absent fields mean "unchanged" (the request is a delta). All
 * pointers are borrowed. */
struct rc_request {
	const char *group_id;
	const char *member_id;	 /* NULL or "": none (a first join) */
	int32_t member_epoch;	 /* 0 join, -1 leave, -2 static leave, >0 */
	const char *instance_id; /* NULL: absent */
	const char *rack;	 /* NULL: absent */
	int32_t rebalance_timeout_ms; /* -1: absent */
	int has_subscribed_names;     /* the names field is present */
	uint32_t n_subscribed_names;
	const char *const *subscribed_names; /* may be NULL: not looked at */
	int has_regex;			     /* the regex field is present */
	const char *regex;		     /* NULL counts as "" */
	const char *server_assignor; /* NULL: absent; not looked at here */
	int has_owned;		     /* the owned field is present */
	const uint64_t *owned;	     /* not looked at here */
	uint32_t n_owned;
};

/* Field combinations as Kafka validates them
 * (GroupMetadataManager.throwIfConsumerGroupHeartbeatRequestIsInvalid),
 * checked in this order; the first failure answers:
 *   - group_id NULL, empty, or longer than RC_GROUP_ID_MAX;
 *   - member_id longer than RC_MEMBER_ID_MAX (Synod's limit);
 *   - a non-zero member_epoch (leave, static leave, heartbeat) without a
 *     member id;
 *   - instance_id present but empty; rack present but empty;
 *   - rebalance_timeout_ms below -1 (Synod's: Kafka lets it through);
 *   - epoch 0 (join): rebalance_timeout_ms absent (-1); owned partitions
 *     present and not empty; no subscription: neither a non-empty names
 *     list nor a non-empty regex;
 *   - epoch -2: no instance_id;
 *   - any other negative epoch (below -2).
 * Returns SYNOD_OK, or SYNOD_EINVALID_REQUEST with the reason written to
 * err (always NUL-terminated when size > 0; err may be NULL).
 *
 * Where this differs from Kafka 4.x, on purpose:
 *   - a join may leave `owned` absent (Kafka wants it present and empty):
 *     absent on a join means "owns nothing", as a fresh member does;
 *   - a join needs a non-empty subscription (Kafka 4.x accepts an empty
 *     list or regex; Kafka 3.7 wanted non-empty names, as Synod does);
 *   - the member id is also required for -2 (as Kafka 3.7 and 4.x's
 *     version 1 do) and bounded to 36 bytes; a join may carry one (the
 *     controller ignores it and gives its own).
 * Not checked here (they need the controller's state): the server
 * assignor (UNSUPPORTED_ASSIGNOR), whether the regex compiles
 * (INVALID_REGULAR_EXPRESSION), the group's size, the member and instance
 * ids (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, UNRELEASED_INSTANCE_ID) and
 * the epoch (rc_check_epoch()). */
int rc_validate(const struct rc_request *r, char *err, size_t size);

/* ---- 2. Reconciliation ---- */

enum rc_state {
	RC_STABLE = 0,		  /* at its epoch with all it can have */
	RC_UNREVOKED_PARTITIONS,  /* must report pending_revocation gone */
	RC_UNRELEASED_PARTITIONS, /* at the target epoch, waiting for
				     partitions another member still holds */
};

/* A member's committed reconciliation state (KIP-848's
 * CurrentMemberAssignment). assigned and pending_revocation are disjoint
 * sets; pending_revocation is empty except in RC_UNREVOKED_PARTITIONS. */
struct rc_member {
	int32_t member_epoch, previous_epoch;
	enum rc_state state;
	uint64_t *assigned; /* what the member may use now */
	uint32_t n_assigned;
	uint64_t *pending_revocation; /* it must give these up */
	uint32_t n_pending;
};

/* owned_by_other(arg, key): another member of the group currently holds
 * key (in its assigned or pending_revocation). Whether it counts the
 * member being reconciled itself does not matter: rc_next() never asks
 * about a key that member holds. */
typedef int (*rc_owned_fn)(void *arg, uint64_t key);

/* One reconciliation step of member `cur` toward the target assignment
 * (target_epoch, target[0..n_target)), given the partitions the member
 * reported owning in the heartbeat being handled (reported_owned, when
 * has_reported; has_reported = 0 when the step is not caused by the
 * member's own heartbeat, or its heartbeat left `owned` out).
 *
 * Notation: cur = (epoch e, state, assigned A, pending R); target epoch E,
 * target set T; the member "still holds" a set X when it did not report
 * (has_reported = 0) or its report intersects X. NEXT(from A) is:
 *     A' = A ∩ T                  kept
 *     R' = A − T                  to revoke
 *     F  = T − A' minus every key owned_by_other() says another member
 *          holds (a key of R, the member's own, is never asked about)
 *     unreleased = some key of T − A' is held by another member
 *   if R' ≠ ∅ and the member still holds R':
 *        UNREVOKED_PARTITIONS, epoch e (unchanged), assigned A',
 *        pending R' (nothing new is given while it revokes);
 *   else:
 *        epoch E, assigned A' ∪ F, pending ∅, state
 *        UNRELEASED_PARTITIONS when unreleased, else STABLE.
 *
 * Transitions (Kafka's CurrentAssignmentBuilder.build()):
 *   S1 STABLE, e == E: no change (whatever T: a target never changes
 *      without a new epoch).
 *   S2 STABLE, e != E: NEXT.
 *   U1 UNREVOKED_PARTITIONS and the member still holds R: no change
 *      (even if the target moved again; the rebalance timeout of the
 *      caller is what ends a member that never revokes).
 *   U2 UNREVOKED_PARTITIONS and R reported gone: NEXT (R is dropped from
 *      the record; a key of R that is back in T is handed back at once).
 *   W  UNRELEASED_PARTITIONS: NEXT (it receives what was released since).
 *   X  a state value out of the enum (a record from a newer version):
 *      when the member reported owning nothing, NEXT from A at epoch E;
 *      otherwise SYNOD_EFENCED_MEMBER_EPOCH (it must rejoin).
 *
 * previous_epoch: whenever the result differs from cur (epoch, state or
 * sets), previous_epoch = e, cur's member epoch (Kafka's
 * updateMemberEpoch(): also when the epoch stays, entering UNREVOKED).
 * A result equal to cur keeps cur's previous_epoch (Kafka would set it to
 * e when W makes no progress; keeping it leaves a lost-answer retry
 * acceptable longer and writes no record for a non-change).
 *
 * Worked examples (one topic, keys written as partition numbers; "others"
 * is what owned_by_other() sees):
 *   S1  STABLE e5 {0,1}, E5 T{0,1}              -> unchanged
 *   S2  STABLE e5 A{0,1}, E6 T{1,2}, reported {0,1}, others hold {2}
 *       -> UNREVOKED e5 (prev 5) assigned {1} pending {0}
 *   S2' same, reported {1} (0 was already dropped), others hold {2}
 *       -> UNRELEASED e6 (prev 5) assigned {1} (2 is still held)
 *   S2" STABLE e5 A{0}, E6 T{0,1}, nobody holds 1
 *       -> STABLE e6 (prev 5) assigned {0,1} (no revocation needed)
 *   U1  UNREVOKED e5 A{1} R{0}, reported {0,1} or not reported -> unchanged
 *   U2  UNREVOKED e5 A{1} R{0}, E6 T{1,2}, reported {1}, nobody holds 2
 *       -> STABLE e6 (prev 5) assigned {1,2}
 *   U2' same, another member still holds 2
 *       -> UNRELEASED e6 (prev 5) assigned {1}
 *   U2" UNREVOKED e5 A{1} R{0}, E7 T{0,3} (target moved), reported {1}
 *       -> UNREVOKED e5 (prev 5) assigned {} pending {1}; the 0 it gave
 *          up is free again and comes back with the next NEXT
 *   W   UNRELEASED e6 A{1}, E6 T{1,2}, 2 now free
 *       -> STABLE e6 (prev 6) assigned {1,2}
 *   W'  UNRELEASED e6 A{1}, E6 T{1,2}, 2 still held -> unchanged
 *   J   a join: STABLE e0 {} , E3 T{4,5}, nobody holds them
 *       -> STABLE e3 (prev 0) assigned {4,5}
 *
 * Sets must be in set form (sorted, no duplicates): otherwise, or with a
 * NULL array and a non-zero count, SYNOD_EINVALID_ARGUMENT. The sets of
 * cur are not checked (they come from the record). owned_by_other may be
 * NULL: nobody else holds anything.
 *
 * Ownership: inputs are borrowed. On SYNOD_OK, *out is a new state with
 * arrays of its own (free them with rc_member_free()); out may be cur,
 * whose arrays are then replaced (freed). On an error (also
 * SYNOD_ENOMEM) *out is untouched. */
int rc_next(const struct rc_member *cur, int32_t target_epoch,
	    const uint64_t *target, uint32_t n_target,
	    const uint64_t *reported_owned, uint32_t n_reported,
	    int has_reported, rc_owned_fn owned_by_other, void *arg,
	    struct rc_member *out);

/* Frees m's arrays and sets them to NULL, their counts to 0; the epochs
 * and state stay. m may be NULL. */
void rc_member_free(struct rc_member *m);

/* *dst = a deep copy of *src. SYNOD_OK or SYNOD_ENOMEM (dst untouched). */
int rc_member_copy(struct rc_member *dst, const struct rc_member *src);

/* 1 when m is well formed: both arrays in set form, disjoint, a known
 * state, pending_revocation empty unless UNREVOKED_PARTITIONS and non-empty
 * in it. */
int rc_well_formed(const struct rc_member *m);

/* ---- 3. Epoch check of a heartbeat ---- */

/* A heartbeat of a known member (request epoch > 0) against its record m
 * (Kafka's throwIfConsumerGroupMemberEpochIsInvalid):
 *   - epoch == m->member_epoch: SYNOD_OK;
 *   - epoch == m->previous_epoch (below the member epoch) and the member
 *     reported owned partitions (has_reported) that are a subset of
 *     m->assigned: SYNOD_OK, a retry whose answer (with the new epoch)
 *     was lost;
 *   - otherwise (above the member epoch, older, or the previous one
 *     without a report or with a partition outside assigned):
 *     SYNOD_EFENCED_MEMBER_EPOCH (the member must give up everything and
 *     rejoin).
 * Negative epochs (leave requests) are never a member's epoch: FENCED.
 * reported_owned must be in set form (else SYNOD_EINVALID_ARGUMENT). */
int rc_check_epoch(int32_t member_epoch_in_request, const struct rc_member *m,
		   const uint64_t *reported_owned, uint32_t n,
		   int has_reported);

/* ---- 4. Group invariant and set helpers ---- */

/* 1 when no key is in two members' assigned ∪ pending_revocation (a key
 * in both sets of one member is that member's business: rc_well_formed()).
 * NULL entries are skipped. 0 when some key has two holders; -1 when out of
 * memory (it sorts a copy of all keys: O(K log K) for K keys in all). */
int rc_exclusive(const struct rc_member *const *members, uint32_t n);

/* Sorts keys[0..n) and removes duplicates in place; returns the new count. */
uint32_t rc_normalize(uint64_t *keys, uint32_t n);

/* 1 when keys[0..n) is in set form (strictly ascending; NULL only if n is
 * 0). */
int rc_is_set(const uint64_t *keys, uint32_t n);

/* 1 when the set a is a subset of the set b. */
int rc_subset(const uint64_t *a, uint32_t na, const uint64_t *b, uint32_t nb);

#endif
