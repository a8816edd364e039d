/* controller/topics_load.c - the placement load cache: replicas and leaders per
 * broker, loaded once from the store and kept current by the controller's
 * own decisions. See topics.h (what) and topics_int.h (the shared state). */
#include <stdlib.h>

#include "topics_int.h"

struct load_entry *tp_load_get(struct topics *t, int32_t id)
{
	size_t i;
	if ((t->load_count + 1) * 2 > t->load_cap) {
		struct load_entry *old = t->load;
		size_t old_cap = t->load_cap;
		size_t cap = old_cap ? old_cap * 2 : 64;
		struct load_entry *n = calloc(cap, sizeof *n);
		if (n == NULL)
			return NULL;
		t->load = n;
		t->load_cap = cap;
		t->load_count = 0;
		for (size_t k = 0; k < old_cap; k++)
			if (old[k].used) {
				struct load_entry *e =
				    tp_load_get(t, old[k].id);
				e->replicas = old[k].replicas;
				e->leaders = old[k].leaders;
			}
		free(old);
	}
	for (i = ((uint32_t)id * 2654435761u) & (t->load_cap - 1);
	     t->load[i].used; i = (i + 1) & (t->load_cap - 1))
		if (t->load[i].id == id)
			return &t->load[i];
	t->load[i].used = 1;
	t->load[i].id = id;
	t->load_count++;
	return &t->load[i];
}

void tp_load_invalidate(struct topics *t)
{
	free(t->load);
	t->load = NULL;
	t->load_cap = t->load_count = 0;
	t->load_valid = 0;
}

void tp_load_leader_moved(struct topics *t, int32_t from, int32_t to)
{
	struct load_entry *e;
	if (!t->load_valid || from == to)
		return;
	if (from >= 0 && (e = tp_load_get(t, from)) != NULL && e->leaders > 0)
		e->leaders--;
	if (to >= 0 && (e = tp_load_get(t, to)) != NULL)
		e->leaders++;
}

/* ---- topic creation ---- */

int tp_load_replicas(void *arg, int32_t broker, uint64_t count)
{
	struct load_entry *e = tp_load_get(arg, broker);
	if (e)
		e->replicas = (uint32_t)count;
	return e ? 0 : -1;
}

int tp_load_leaders(void *arg, int32_t broker, uint64_t count)
{
	struct load_entry *e = broker >= 0 ? tp_load_get(arg, broker) : NULL;
	if (e)
		e->leaders = (uint32_t)count;
	return 0;
}
