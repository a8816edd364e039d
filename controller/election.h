/* controller/election.h - partition leader election and ISR rules: pure
 * functions over plain structs. The active controller calls them when a
 * broker is fenced, shuts down, comes back, when an operator asks for an
 * election, and when a partition leader asks to change its ISR.
 *
 * Semantics (KRaft's): leader -1 means offline. The leader epoch is bumped
 * whenever the leader changes; the partition epoch whenever anything in the
 * partition state changes (leader, ISR, replicas).
 *
 * Ownership: all inputs are borrowed; `out` is the caller's and may be
 * the same struct as `in`. `alive` may be NULL: every broker is alive.
 * Entries past EL_MAX_REPLICAS are ignored.
 *
 * Every function that fills `out` (el_alter_isr only when it accepts)
 * leaves it equal to `in` when nothing is to change (so
 * el_changed() tells whether to commit a PartitionChange), and otherwise
 * bumps the partition epoch exactly once, and the leader epoch exactly
 * once if the leader changed (to another broker or to EL_NO_LEADER).
 */
#ifndef SYNOD_ELECTION_H
#define SYNOD_ELECTION_H

#include <stdint.h>

#define EL_MAX_REPLICAS 32
#define EL_NO_LEADER (-1)

struct el_partition {
	int32_t replicas[EL_MAX_REPLICAS]; /* replicas[0]: preferred leader */
	uint32_t n_replicas;
	int32_t isr[EL_MAX_REPLICAS];
	uint32_t n_isr;
	int32_t leader; /* EL_NO_LEADER when offline */
	uint32_t leader_epoch;
	uint32_t partition_epoch;
};

/* Is broker `id` usable as a leader or ISR member right now (registered,
 * unfenced, not shutting down)? Supplied by the caller. */
typedef int (*el_alive_fn)(void *arg, int32_t id);

/* 1 when `out` differs from `in` (a PartitionChange must be committed):
 * any field, the replica and ISR lists compared in order. */
int el_changed(const struct el_partition *in, const struct el_partition *out);

/* Broker `gone` was fenced or is shutting down: remove it from the ISR
 * (unless it is the last ISR member: Kafka keeps the last one so the
 * partition can recover with it), and if it led, elect the first replica
 * (in replica order) that is in the ISR and alive; none: leader -1
 * (offline), or, when `unclean` is allowed, the first alive replica, whose
 * ISR becomes just itself. `gone` itself is never elected, whatever
 * `alive` says of it. Nothing changes when `gone` is neither in the ISR
 * nor the leader, or is only the last ISR member of a partition it does
 * not lead. */
void el_broker_gone(const struct el_partition *in, int32_t gone, int unclean,
		    el_alive_fn alive, void *arg, struct el_partition *out);

/* An offline partition (leader -1): elect the first alive ISR member in
 * replica order (the ISR stays as it is); none and `unclean`: the first
 * alive replica, the ISR becomes just it. Otherwise (no candidate, or the
 * partition has a leader) nothing changes: an offline partition whose
 * returning brokers are all outside the ISR stays offline unless
 * `unclean`. */
void el_recover(const struct el_partition *in, int unclean, el_alive_fn alive,
		void *arg, struct el_partition *out);

/* Bring a partition in line with the brokers alive now, in one change:
 * every replica that is not alive leaves the ISR (the last ISR member
 * stays, as in el_broker_gone), a leader that is not alive is replaced
 * as el_broker_gone would, and an offline partition is recovered as
 * el_recover would. The same result as those steps chained, with one
 * bump of each epoch (apply takes a partition epoch one above the
 * current only: a chain of steps, each bumping it, is refused). */
void el_reconcile(const struct el_partition *in, int unclean, el_alive_fn alive,
		  void *arg, struct el_partition *out);

/* Preferred leader election: make replicas[0] leader if it is alive and in
 * the ISR and not already leader (also when the partition is offline).
 * Otherwise nothing changes (the caller answers
 * SYNOD_EELECTION_NOT_NEEDED or reports why). */
void el_preferred(const struct el_partition *in, el_alive_fn alive, void *arg,
		  struct el_partition *out);

/* Error codes of el_alter_isr (synod_error values, defined in
 * synod/client.h): SYNOD_ENOT_LEADER, SYNOD_EFENCED_LEADER_EPOCH,
 * SYNOD_EINVALID_UPDATE_VERSION, SYNOD_EINVALID_ISR. */
/* The leader `from` asks to set the ISR to new_isr, knowing leader_epoch
 * and partition_epoch. Rules: `from` must be the current leader; the
 * epochs must be the current ones; the new ISR must be a non-empty subset
 * of the replicas, contain the leader, have no duplicates, and every member
 * it adds must be alive. Returns 0 and fills `out` (partition epoch bumped
 * when the ISR changes), or an error code and leaves `out` untouched.
 *
 * Checks, in this order (Kafka's): `from` is not the leader (also when
 * the partition is offline) -> SYNOD_ENOT_LEADER; leader_epoch differs
 * from the current one (older: a zombie leader; newer cannot come from a
 * correct broker) -> SYNOD_EFENCED_LEADER_EPOCH; a retry (below) -> 0;
 * partition_epoch differs -> SYNOD_EINVALID_UPDATE_VERSION; then the ISR
 * rules above ->
 * SYNOD_EINVALID_ISR. Members kept from the current ISR need not be alive
 * (the controller itself removes fenced brokers); the leader epoch never
 * changes here.
 * The accepted ISR is stored in replica order, whatever order new_isr has.
 * No-op: a new ISR with the same members as the current one (in any order)
 * is accepted and leaves `out` equal to `in`, without a bump (el_changed()
 * is 0; the caller answers with the current state and commits nothing):
 * a leader restating its ISR must not make the partition epoch move.
 * Retry: a request from the current leader, with the current leader
 * epoch, quoting partition_epoch = the current one - 1 and asking for the
 * current ISR as a set (no duplicates, any order) repeats the change that
 * produced the current state (its answer was lost, or the client sent it
 * again after a failover). It is accepted like a no-op: 0, `out` equal to
 * `in`; the caller answers OK with the current state. (The change that
 * made the state may also have been the controller's own, such as a
 * fenced follower leaving the ISR: the leader got what it asked for all
 * the same.) */
int el_alter_isr(const struct el_partition *in, int32_t from,
		 uint32_t leader_epoch, uint32_t partition_epoch,
		 const int32_t *new_isr, uint32_t n_new_isr, el_alive_fn alive,
		 void *arg, struct el_partition *out);

/* Leader imbalance in percent over the partitions given: the share of
 * partitions whose leader is not their preferred replica (offline ones
 * excluded), rounded down; 0 when none is online. */
unsigned el_imbalance_percent(const struct el_partition *parts, uint32_t n);

#endif
