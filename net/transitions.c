/* net/transitions.c - per-partition leadership transitions (see
 * transitions.h). */
#include "transitions.h"

#include <stdlib.h>
#include <string.h>

void trans_init(struct trans_set *s, int32_t me)
{
	memset(s, 0, sizeof *s);
	s->me = me;
}

void trans_free(struct trans_set *s)
{
	free(s->keys);
	free(s->out);
	trans_init(s, s->me);
}

enum synod_role trans_role(const Synod__Wire__PartitionState *p, int32_t me)
{
	if (p->leader == me)
		return SYNOD_ROLE_LEADER;
	for (size_t i = 0; i < p->n_replicas; i++)
		if (p->replicas[i] == me)
			return SYNOD_ROLE_FOLLOWER;
	return SYNOD_ROLE_NONE;
}

static int add_key(struct trans_set *s, const uint8_t *tid, const char *topic,
		   int32_t partition, const struct view *v)
{
	Synod__Wire__PartitionState p;
	struct trans_key *k;
	if (s->failed)
		return SYNOD_ENOMEM;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void *n = realloc(s->keys, cap * sizeof *s->keys);
		if (n == NULL) {
			s->failed = 1;
			return SYNOD_ENOMEM;
		}
		s->keys = n;
		s->cap = cap;
	}
	k = &s->keys[s->n++];
	k->topic_id = tid;
	k->topic = topic;
	k->partition = partition;
	k->old_role = SYNOD_ROLE_NONE;
	k->old_leader = -1;
	k->old_leader_epoch = 0;
	if (v && view_find_partition(v, tid, partition, &p) == SYNOD_OK) {
		k->old_role = trans_role(&p, s->me);
		k->old_leader = p.leader;
		k->old_leader_epoch = p.leader_epoch;
	}
	return SYNOD_OK;
}

struct deleted {
	struct trans_set *s;
	const struct view *v;
	const Synod__Wire__TopicState *t;
};

static int add_deleted(void *arg, const Synod__Wire__PartitionState *p)
{
	struct deleted *del = arg;
	return add_key(del->s, del->t->topic_id.data, del->t->name,
		       p->partition, del->v);
}

int trans_before_delta(struct trans_set *s, const struct view *v,
		       const Synod__Wire__MetadataDelta *d)
{
	for (size_t i = 0; i < d->n_partitions; i++) {
		const Synod__Wire__PartitionState *p = d->partitions[i];
		if (add_key(s, p->topic_id.data, p->topic, p->partition, v))
			return SYNOD_ENOMEM;
	}
	for (size_t i = 0; i < d->n_removed; i++) {
		const Synod__Wire__PartitionState *p = d->removed[i];
		if (add_key(s, p->topic_id.data, p->topic, p->partition, v))
			return SYNOD_ENOMEM;
	}
	for (size_t i = 0; i < d->n_topics; i++) {
		const Synod__Wire__TopicState *t = d->topics[i];
		struct deleted del = {s, v, t};
		/* The partitions it holds, not the count it declares (a
		 * count of 4 billion would stall the loop). */
		if ((t->has_deleted && t->deleted) &&
		    view_foreach_topic_partition(v, t->topic_id.data,
						 add_deleted, &del) != 0)
			return SYNOD_ENOMEM;
	}
	return SYNOD_OK;
}

struct walk {
	struct trans_set *s;
	const struct view *old;
};

static int add_old(void *arg, const Synod__Wire__PartitionState *p)
{
	struct walk *w = arg;
	return add_key(w->s, p->topic_id.data, p->topic, p->partition, w->old);
}

static int add_if_new(void *arg, const Synod__Wire__PartitionState *p)
{
	struct walk *w = arg;
	Synod__Wire__PartitionState o;
	if (view_find_partition(w->old, p->topic_id.data, p->partition, &o) ==
	    SYNOD_OK)
		return 0;
	return add_key(w->s, p->topic_id.data, p->topic, p->partition, NULL);
}

int trans_before_view(struct trans_set *s, const struct view *v)
{
	struct walk w = {s, v};
	return view_foreach_partition(v, add_old, &w) ? SYNOD_ENOMEM : SYNOD_OK;
}

int trans_add_new(struct trans_set *s, const struct view *old,
		  const struct view *nv)
{
	struct walk w = {s, old};
	return view_foreach_partition(nv, add_if_new, &w) ? SYNOD_ENOMEM
							  : SYNOD_OK;
}

static int key_cmp(const void *a, const void *b)
{
	const struct trans_key *x = a, *y = b;
	int c = memcmp(x->topic_id, y->topic_id, VIEW_TOPIC_ID_LEN);
	if (c)
		return c;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

int trans_after(struct trans_set *s, const struct view *v)
{
	size_t n = 0;
	s->n_out = 0;
	if (s->failed)
		return SYNOD_ENOMEM;
	if (s->n == 0)
		return SYNOD_OK;
	/* One key per partition: the first one noted holds the prior role
	 * (all were noted against the same view). */
	qsort(s->keys, s->n, sizeof *s->keys, key_cmp);
	s->out = calloc(s->n, sizeof *s->out);
	if (s->out == NULL) {
		s->failed = 1;
		return SYNOD_ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct trans_key *k = &s->keys[i];
		Synod__Wire__PartitionState p;
		struct synod_transition *t;
		enum synod_role role = SYNOD_ROLE_NONE;
		int32_t leader = -1;
		uint32_t le = 0, pe = 0;
		if (i > 0 && key_cmp(&s->keys[i - 1], k) == 0)
			continue;
		if (view_find_partition(v, k->topic_id, k->partition, &p) ==
		    SYNOD_OK) {
			role = trans_role(&p, s->me);
			leader = p.leader;
			le = p.leader_epoch;
			pe = p.partition_epoch;
		}
		if (role == k->old_role &&
		    (role == SYNOD_ROLE_NONE || le == k->old_leader_epoch))
			continue;
		t = &s->out[n++];
		t->topic_id = k->topic_id;
		t->topic = k->topic;
		t->partition = k->partition;
		t->old_role = k->old_role;
		t->new_role = role;
		if (role == SYNOD_ROLE_NONE) {
			/* Removed: the last leader this broker knew. */
			t->leader = k->old_leader;
			t->leader_epoch = k->old_leader_epoch;
		} else {
			t->leader = leader;
			t->leader_epoch = le;
			t->partition_epoch = pe;
		}
	}
	s->n_out = n;
	return SYNOD_OK;
}
