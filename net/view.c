/* net/view.c - a broker's metadata view (see view.h). */
#include "view.h"

#include <stdlib.h>
#include <string.h>

#include "synod/client.h"

#define MIN_PARTS_CAP 16u
#define MIN_TINDEX_CAP 16u

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t id_hash(const uint8_t *id)
{
	uint64_t lo, hi;
	memcpy(&lo, id, 8);
	memcpy(&hi, id + 8, 8);
	return mix64(lo ^ mix64(hi));
}

static uint64_t part_hash(uint64_t topic_hash, int32_t partition)
{
	return mix64(topic_hash +
		     (uint64_t)(uint32_t)partition * 0x9E3779B97F4A7C15ull);
}

static const int32_t *part_ids(const struct view_part *p)
{
	return p->n_replicas + p->n_isr > VIEW_INLINE_IDS ? p->ids.ext
							  : p->ids.inl;
}

static void part_free_ids(struct view_part *p)
{
	if (p->n_replicas + p->n_isr > VIEW_INLINE_IDS)
		free(p->ids.ext);
	p->n_replicas = p->n_isr = 0;
}

void view_init(struct view *v)
{
	memset(v, 0, sizeof *v);
}

void view_free(struct view *v)
{
	for (uint32_t i = 0; i < v->parts_cap; i++)
		if (v->parts[i].topic)
			part_free_ids(&v->parts[i]);
	for (uint32_t i = 0; i < v->topics_len; i++)
		free(v->topics[i].name);
	free(v->parts);
	free(v->topics);
	free(v->tindex);
	view_init(v);
}

int view_check(const struct view *v, const Synod__Wire__MetadataDelta *d)
{
	if (d->has_full && d->full)
		return d->version > v->version ? VIEW_APPLY : VIEW_STALE;
	/* A delta from 0 does not continue anything: it lacks whatever came
	 * before it (the controller had made no push for this broker yet). */
	if (d->prev_version == v->version && d->prev_version != 0)
		return VIEW_APPLY;
	if (d->version <= v->version)
		return VIEW_STALE;
	return VIEW_GAP;
}

static int valid_id(ProtobufCBinaryData id)
{
	return id.len == VIEW_TOPIC_ID_LEN && id.data != NULL;
}

static int valid_part(const Synod__Wire__PartitionState *p)
{
	return p != NULL && p->topic != NULL && valid_id(p->topic_id) &&
	       p->partition >= 0 && p->n_replicas <= UINT16_MAX &&
	       p->n_isr <= UINT16_MAX &&
	       (p->n_replicas == 0 || p->replicas != NULL) &&
	       (p->n_isr == 0 || p->isr != NULL);
}

int view_validate(const Synod__Wire__MetadataDelta *d)
{
	if (!(d->has_full && d->full) && d->version < d->prev_version)
		return SYNOD_EINVALID_REQUEST;
	for (size_t i = 0; i < d->n_topics; i++) {
		const Synod__Wire__TopicState *t = d->topics[i];
		if (t == NULL || t->name == NULL || !valid_id(t->topic_id))
			return SYNOD_EINVALID_REQUEST;
	}
	for (size_t i = 0; i < d->n_partitions; i++)
		if (!valid_part(d->partitions[i]))
			return SYNOD_EINVALID_REQUEST;
	for (size_t i = 0; i < d->n_removed; i++) {
		const Synod__Wire__PartitionState *p = d->removed[i];
		/* Only the key matters. */
		if (p == NULL || !valid_id(p->topic_id) || p->partition < 0)
			return SYNOD_EINVALID_REQUEST;
	}
	return SYNOD_OK;
}

/* ---- topics ---- */

/* Slot of the topic index holding id, or of the empty slot ending its
 * probe sequence. */
static uint32_t tindex_slot(const struct view *v, const uint8_t *id, uint64_t h)
{
	uint32_t mask = v->tindex_cap - 1, i = (uint32_t)h & mask;
	while (v->tindex[i] != 0) {
		const struct view_topic *t = &v->topics[v->tindex[i] - 1];
		if (t->hash == h && memcmp(t->id, id, VIEW_TOPIC_ID_LEN) == 0)
			break;
		i = (i + 1) & mask;
	}
	return i;
}

/* 1-based topic number, or 0. */
static uint32_t topic_find(const struct view *v, const uint8_t *id)
{
	if (v->tindex_cap == 0)
		return 0;
	return v->tindex[tindex_slot(v, id, id_hash(id))];
}

static int tindex_resize(struct view *v, uint32_t cap)
{
	uint32_t *old = v->tindex, old_cap = v->tindex_cap;
	uint32_t *n = calloc(cap, sizeof *n);
	if (n == NULL)
		return SYNOD_ENOMEM;
	v->tindex = n;
	v->tindex_cap = cap;
	for (uint32_t i = 0; i < old_cap; i++) {
		uint32_t t = old[i], j;
		if (t == 0)
			continue;
		j = (uint32_t)v->topics[t - 1].hash & (cap - 1);
		while (n[j] != 0)
			j = (j + 1) & (cap - 1);
		n[j] = t;
	}
	free(old);
	return SYNOD_OK;
}

static void tindex_remove(struct view *v, uint32_t i)
{
	uint32_t mask = v->tindex_cap - 1, j = i;
	for (;;) {
		uint32_t k;
		j = (j + 1) & mask;
		if (v->tindex[j] == 0)
			break;
		k = (uint32_t)v->topics[v->tindex[j] - 1].hash & mask;
		/* Move j back to i unless its home lies cyclically in
		 * (i, j]. */
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && (k <= i && k > j))) {
			v->tindex[i] = v->tindex[j];
			i = j;
		}
	}
	v->tindex[i] = 0;
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* Find or create the topic of `id`. A new one gets `name` and `count`
 * partitions; an existing one keeps its fields. *out: 1-based number. */
static int topic_get(struct view *v, const uint8_t *id, const char *name,
		     uint32_t count, uint32_t *out)
{
	uint64_t h = id_hash(id);
	uint32_t slot, num;
	struct view_topic *t;
	char *nm;
	if ((uint64_t)(v->n_topics + 1) * 4 > (uint64_t)v->tindex_cap * 3) {
		uint32_t cap =
		    v->tindex_cap ? v->tindex_cap * 2 : MIN_TINDEX_CAP;
		if (tindex_resize(v, cap) != SYNOD_OK)
			return SYNOD_ENOMEM;
	}
	slot = tindex_slot(v, id, h);
	if (v->tindex[slot] != 0) {
		*out = v->tindex[slot];
		return SYNOD_OK;
	}
	nm = dup_str(name);
	if (nm == NULL)
		return SYNOD_ENOMEM;
	if (v->free_topic != 0) {
		num = v->free_topic;
		v->free_topic = v->topics[num - 1].next_free;
	} else {
		if (v->topics_len == v->topics_cap) {
			uint32_t cap = v->topics_cap ? v->topics_cap * 2 : 8;
			struct view_topic *n =
			    realloc(v->topics, cap * sizeof *n);
			if (n == NULL) {
				free(nm);
				return SYNOD_ENOMEM;
			}
			v->topics = n;
			v->topics_cap = cap;
		}
		num = ++v->topics_len;
	}
	t = &v->topics[num - 1];
	memset(t, 0, sizeof *t);
	memcpy(t->id, id, VIEW_TOPIC_ID_LEN);
	t->name = nm;
	t->hash = h;
	t->partitions = count;
	v->tindex[slot] = num;
	v->n_topics++;
	*out = num;
	return SYNOD_OK;
}

static int topic_set_name(struct view_topic *t, const char *name)
{
	char *nm;
	if (strcmp(t->name, name) == 0)
		return SYNOD_OK;
	nm = dup_str(name);
	if (nm == NULL)
		return SYNOD_ENOMEM;
	free(t->name);
	t->name = nm;
	return SYNOD_OK;
}

/* ---- partitions ---- */

static uint32_t part_home(const struct view *v, const struct view_part *p)
{
	return (uint32_t)part_hash(v->topics[p->topic - 1].hash, p->partition) &
	       (v->parts_cap - 1);
}

/* Slot holding (topic, partition), or the empty slot ending its probe
 * sequence. parts_cap must be > 0. */
static uint32_t part_slot(const struct view *v, uint32_t topic,
			  int32_t partition)
{
	uint32_t mask = v->parts_cap - 1;
	uint32_t i =
	    (uint32_t)part_hash(v->topics[topic - 1].hash, partition) & mask;
	while (v->parts[i].topic != 0 && !(v->parts[i].topic == topic &&
					   v->parts[i].partition == partition))
		i = (i + 1) & mask;
	return i;
}

static int parts_resize(struct view *v, uint32_t cap)
{
	struct view_part *old = v->parts;
	uint32_t old_cap = v->parts_cap;
	struct view_part *n = calloc(cap, sizeof *n);
	if (n == NULL)
		return SYNOD_ENOMEM;
	v->parts = n;
	v->parts_cap = cap;
	for (uint32_t i = 0; i < old_cap; i++) {
		uint32_t j;
		if (old[i].topic == 0)
			continue;
		j = part_home(v, &old[i]);
		while (n[j].topic != 0)
			j = (j + 1) & (cap - 1);
		n[j] = old[i];
	}
	free(old);
	return SYNOD_OK;
}

/* Backward-shift deletion of slot i. */
static void part_remove_slot(struct view *v, uint32_t i)
{
	uint32_t mask = v->parts_cap - 1, j = i;
	struct view_topic *t = &v->topics[v->parts[i].topic - 1];
	t->held--;
	part_free_ids(&v->parts[i]);
	v->n_parts--;
	for (;;) {
		uint32_t k;
		j = (j + 1) & mask;
		if (v->parts[j].topic == 0)
			break;
		k = part_home(v, &v->parts[j]);
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && (k <= i && k > j))) {
			v->parts[i] = v->parts[j];
			i = j;
		}
	}
	memset(&v->parts[i], 0, sizeof v->parts[i]);
}

/* Shrink a sparse table (after mass removals); failure is harmless. */
static void parts_maybe_shrink(struct view *v)
{
	uint32_t cap = v->parts_cap;
	while (cap > MIN_PARTS_CAP && (uint64_t)v->n_parts * 8 < cap)
		cap /= 2;
	if (cap != v->parts_cap) {
		if (v->n_parts == 0) {
			free(v->parts);
			v->parts = NULL;
			v->parts_cap = 0;
			return;
		}
		parts_resize(v, cap);
	}
}

static int part_upsert(struct view *v, const Synod__Wire__PartitionState *ps)
{
	uint32_t topic, slot;
	struct view_part *p;
	struct view_topic *t;
	size_t n = ps->n_replicas + ps->n_isr;
	int32_t *ext = NULL, *dst;
	int rv = topic_get(v, ps->topic_id.data, ps->topic,
			   (uint32_t)ps->partition + 1, &topic);
	if (rv != SYNOD_OK)
		return rv;
	if ((uint64_t)(v->n_parts + 1) * 4 > (uint64_t)v->parts_cap * 3) {
		uint32_t cap = v->parts_cap ? v->parts_cap * 2 : MIN_PARTS_CAP;
		if (cap == 0 || parts_resize(v, cap) != SYNOD_OK)
			return SYNOD_ENOMEM;
	}
	if (n > VIEW_INLINE_IDS) {
		ext = malloc(n * sizeof *ext);
		if (ext == NULL)
			return SYNOD_ENOMEM;
	}
	slot = part_slot(v, topic, ps->partition);
	p = &v->parts[slot];
	t = &v->topics[topic - 1];
	if (p->topic != 0 && ps->partition_epoch < p->partition_epoch) {
		/* Older than what we hold (a fetch page read before a change
		 * we already have): partition epochs only grow. */
		free(ext);
		return SYNOD_OK;
	}
	if (p->topic == 0) {
		p->topic = topic;
		p->partition = ps->partition;
		v->n_parts++;
		t->held++;
		if ((uint32_t)ps->partition >= t->max_part)
			t->max_part = (uint32_t)ps->partition + 1;
	} else {
		part_free_ids(p);
	}
	if ((uint32_t)ps->partition >= t->partitions)
		t->partitions = (uint32_t)ps->partition + 1;
	p->leader = ps->leader;
	p->leader_epoch = ps->leader_epoch;
	p->partition_epoch = ps->partition_epoch;
	p->n_replicas = (uint16_t)ps->n_replicas;
	p->n_isr = (uint16_t)ps->n_isr;
	if (ext)
		p->ids.ext = ext;
	dst = ext ? ext : p->ids.inl;
	if (ps->n_replicas)
		memcpy(dst, ps->replicas, ps->n_replicas * sizeof *dst);
	if (ps->n_isr)
		memcpy(dst + ps->n_replicas, ps->isr, ps->n_isr * sizeof *dst);
	return SYNOD_OK;
}

static void part_remove(struct view *v, const uint8_t *id, int32_t partition)
{
	uint32_t topic = topic_find(v, id), slot;
	if (topic == 0 || v->parts_cap == 0)
		return;
	slot = part_slot(v, topic, partition);
	if (v->parts[slot].topic != 0)
		part_remove_slot(v, slot);
}

static void topic_delete(struct view *v, const uint8_t *id)
{
	uint32_t num = topic_find(v, id);
	struct view_topic *t;
	if (num == 0)
		return;
	t = &v->topics[num - 1];
	if (t->held > 0 && t->max_part <= v->parts_cap) {
		/* Probe each partition number it ever held. */
		for (uint32_t p = 0; p < t->max_part && t->held > 0; p++) {
			uint32_t slot = part_slot(v, num, (int32_t)p);
			if (v->parts[slot].topic != 0)
				part_remove_slot(v, slot);
		}
	} else if (t->held > 0) {
		/* Fewer slots than partition numbers: scan the table. A
		 * removal shifts a later entry into slot i: look again. */
		for (uint32_t i = 0; i < v->parts_cap && t->held > 0; i++)
			while (v->parts[i].topic == num)
				part_remove_slot(v, i);
	}
	tindex_remove(v, tindex_slot(v, id, t->hash));
	free(t->name);
	t->name = NULL;
	t->next_free = v->free_topic;
	v->free_topic = num;
	v->n_topics--;
}

int view_apply(struct view *v, const Synod__Wire__MetadataDelta *d)
{
	int rv = view_validate(d);
	if (rv != SYNOD_OK)
		return rv;
	if (d->has_full && d->full) {
		uint64_t need = d->n_partitions, cap = MIN_PARTS_CAP;
		view_free(v);
		/* Size the table once for the image instead of doubling
		 * through it. */
		while (need * 4 > cap * 3)
			cap *= 2;
		if (need > 0 && (cap > UINT32_MAX / 2 ||
				 parts_resize(v, (uint32_t)cap) != SYNOD_OK))
			goto nomem;
	}
	for (size_t i = 0; i < d->n_topics; i++) {
		const Synod__Wire__TopicState *ts = d->topics[i];
		uint32_t num;
		if (ts->has_deleted && ts->deleted)
			continue;
		rv = topic_get(v, ts->topic_id.data, ts->name, ts->partitions,
			       &num);
		if (rv != SYNOD_OK)
			goto nomem;
		v->topics[num - 1].partitions = ts->partitions;
		if (topic_set_name(&v->topics[num - 1], ts->name) != SYNOD_OK)
			goto nomem;
	}
	for (size_t i = 0; i < d->n_partitions; i++)
		if (part_upsert(v, d->partitions[i]) != SYNOD_OK)
			goto nomem;
	for (size_t i = 0; i < d->n_removed; i++)
		part_remove(v, d->removed[i]->topic_id.data,
			    d->removed[i]->partition);
	for (size_t i = 0; i < d->n_topics; i++) {
		const Synod__Wire__TopicState *ts = d->topics[i];
		if (ts->has_deleted && ts->deleted)
			topic_delete(v, ts->topic_id.data);
	}
	if (d->n_removed > 0 || d->n_topics > 0)
		parts_maybe_shrink(v);
	v->version = d->version;
	return SYNOD_OK;
nomem:
	view_free(v);
	return SYNOD_ENOMEM;
}

/* ---- reading ---- */

static void fill_part(const struct view *v, const struct view_part *p,
		      Synod__Wire__PartitionState *out)
{
	const struct view_topic *t = &v->topics[p->topic - 1];
	const int32_t *ids = part_ids(p);
	synod__wire__partition_state__init(out);
	out->topic = t->name;
	out->topic_id.len = VIEW_TOPIC_ID_LEN;
	out->topic_id.data = (uint8_t *)t->id;
	out->partition = p->partition;
	out->leader = p->leader;
	out->leader_epoch = p->leader_epoch;
	out->partition_epoch = p->partition_epoch;
	out->n_replicas = p->n_replicas;
	out->replicas = (int32_t *)ids;
	out->n_isr = p->n_isr;
	out->isr = (int32_t *)ids + p->n_replicas;
}

static void fill_topic(const struct view_topic *t, Synod__Wire__TopicState *out)
{
	synod__wire__topic_state__init(out);
	out->name = t->name;
	out->topic_id.len = VIEW_TOPIC_ID_LEN;
	out->topic_id.data = (uint8_t *)t->id;
	out->partitions = t->partitions;
}

int view_foreach_partition(const struct view *v, view_partition_cb cb,
			   void *arg)
{
	for (uint32_t i = 0; i < v->parts_cap; i++) {
		Synod__Wire__PartitionState ps;
		int rv;
		if (v->parts[i].topic == 0)
			continue;
		fill_part(v, &v->parts[i], &ps);
		rv = cb(arg, &ps);
		if (rv != 0)
			return rv;
	}
	return 0;
}

int view_foreach_topic(const struct view *v, view_topic_cb cb, void *arg)
{
	for (uint32_t i = 0; i < v->topics_len; i++) {
		Synod__Wire__TopicState ts;
		int rv;
		if (v->topics[i].name == NULL)
			continue;
		fill_topic(&v->topics[i], &ts);
		rv = cb(arg, &ts);
		if (rv != 0)
			return rv;
	}
	return 0;
}

int view_find_partition(const struct view *v, const uint8_t *topic_id,
			int32_t partition, Synod__Wire__PartitionState *out)
{
	uint32_t topic = topic_find(v, topic_id), slot;
	if (topic == 0 || v->parts_cap == 0 || partition < 0)
		return SYNOD_ENOT_FOUND;
	slot = part_slot(v, topic, partition);
	if (v->parts[slot].topic == 0)
		return SYNOD_ENOT_FOUND;
	fill_part(v, &v->parts[slot], out);
	return SYNOD_OK;
}

int view_find_topic(const struct view *v, const uint8_t *topic_id,
		    Synod__Wire__TopicState *out)
{
	uint32_t topic = topic_find(v, topic_id);
	if (topic == 0)
		return SYNOD_ENOT_FOUND;
	fill_topic(&v->topics[topic - 1], out);
	return SYNOD_OK;
}
