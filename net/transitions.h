/* net/transitions.h - a broker's per-partition leadership transitions
 * (internal to synod_net).
 *
 * What changed for this broker when its metadata view moved from one
 * version to the next: for every partition a delta touched, its role
 * before and after (leader, follower, none) and the leader epoch. A
 * transition is reported when the role changed, or when the partition
 * kept a role but got a new leader epoch (a new leader term: a follower
 * must follow the new leader from its epoch, a leader must start its new
 * epoch). Partitions whose role and leader epoch are unchanged (an ISR
 * change, say) are not transitions.
 *
 * Use, for a delta applied in place:
 *   trans_init(&s, me);
 *   trans_before_delta(&s, &view, delta);   // prior roles
 *   view_apply(&view, delta);
 *   trans_after(&s, &view);                 // s.out[0..s.n_out)
 *   ... report ...; trans_free(&s);
 * and for a view replaced whole (a full image applied into a new view):
 *   trans_before_view(&s, &old); trans_add_new(&s, &old, &new);
 *   trans_after(&s, &new);
 *
 * Pure: no I/O. The transitions point into the views and the delta given
 * (topic ids and names): valid while all of them are (callers keep the old
 * view of a replacement alive until they reported). Out of memory: the
 * functions return SYNOD_ENOMEM and s->failed is set; trans_after then
 * reports nothing.
 */
#ifndef SYNOD_TRANSITIONS_H
#define SYNOD_TRANSITIONS_H

#include <stddef.h>
#include <stdint.h>

#include "synod/broker.h"
#include "view.h"

struct trans_key {
	const uint8_t *topic_id;
	const char *topic;
	int32_t partition;
	enum synod_role old_role;
	int32_t old_leader;
	uint32_t old_leader_epoch;
};

struct trans_set {
	int32_t me;
	struct trans_key *keys;
	size_t n, cap;
	struct synod_transition *out;
	size_t n_out;
	int failed;
};

void trans_init(struct trans_set *s, int32_t me);
void trans_free(struct trans_set *s);
/* The role of broker `me` in a partition state. */
enum synod_role trans_role(const Synod__Wire__PartitionState *p, int32_t me);
/* Every partition delta d (not full) touches in v: upserted, removed, or of
 * a topic it deletes; with its role in v now. */
int trans_before_delta(struct trans_set *s, const struct view *v,
		       const Synod__Wire__MetadataDelta *d);
/* Every partition of v, with its role in v. */
int trans_before_view(struct trans_set *s, const struct view *v);
/* The partitions of nv that old does not hold (role none before). */
int trans_add_new(struct trans_set *s, const struct view *old,
		  const struct view *nv);
/* Roles in v now; fills s->out with the transitions, in a stable order
 * (by topic id, then partition). */
int trans_after(struct trans_set *s, const struct view *v);

#endif
