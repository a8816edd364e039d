/* controller/groups.h - the consumer groups module (controller/module.h):
 * KIP-848's next-generation consumer group protocol on the active
 * controller, replicated through raft (docs/groups.md).
 *
 * - GROUP_HEARTBEAT (23): join, leave, static leave, steady heartbeats.
 *   Sessions live in the active controller's memory; a steady heartbeat
 *   writes nothing. Changes are records (storage/records.proto: GroupEpoch,
 *   GroupMember, GroupTarget, GroupCurrent, GroupMemberRemove,
 *   GroupDelete), all of one decision in one entry.
 * - Epochs and reconciliation as KIP-848: the group epoch moves on
 *   membership, subscription and subscribed-topic changes; the target
 *   assignment is computed by the group's server assignor
 *   (controller/assignor.h) for it; each member moves toward its target
 *   through controller/reconcile.h, revoking before receiving. The store
 *   refuses any record giving a partition to two members of a group.
 * - Pushes: when an applied decision changed what a member may use, the
 *   active controller pushes GroupAssignmentPush (api 24) to the member's
 *   connection at once; the heartbeat answer stays the source of truth.
 * - Expiry: a member without heartbeat for the session timeout, or that
 *   does not revoke within its rebalance timeout, is fenced (removed; its
 *   partitions freed in the same entry). A new active controller rebuilds
 *   the groups from the store and gives every member a full session.
 * - Topic changes (creation, growth, deletion) bump the epoch of the
 *   groups subscribed to them (names or regex) and reassign.
 * - GROUP_LIST (25), GROUP_DESCRIBE (26), GROUP_DELETE (27, empty groups
 *   only), GROUP_REMOVE_MEMBER (28).
 *
 * Ownership: created by the composition root (controller.c); frees itself
 * after its close once its timer closed and its proposals completed.
 */
#ifndef SYNOD_GROUPS_H
#define SYNOD_GROUPS_H

#include "module.h"
#include "reconcile.h"
#include "server_int.h"

struct groups;

struct groups_stats {
	uint64_t heartbeats;
	uint64_t joins;
	uint64_t rejoins; /* joins under the id of a member still there */
	uint64_t leaves;
	uint64_t fenced_by_timeout;   /* session expiry */
	uint64_t fenced_by_rebalance; /* did not revoke in time */
	uint64_t assignments;	      /* target assignments computed */
	uint64_t assign_max_us;	      /* slowest assignor run */
	uint64_t pushes;
};

/* The checks' view of a GROUP_HEARTBEAT request (pointers into req, which
 * the caller keeps): what rc_validate() judges. */
void groups_heartbeat_request(const Synod__Wire__GroupHeartbeatRequest *req,
			      struct rc_request *r);

int groups_new(struct server *s, struct groups **out);
/* The module: APIs 23, 25-28, leadership, applied entries, status, close. */
void groups_module(struct groups *g, struct module *m);
const struct groups_stats *groups_stats(const struct groups *g);

#endif
