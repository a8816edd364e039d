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

static void brokers_free(struct view_broker *a, size_t n);

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
	brokers_free(v->brokers, v->n_brokers);
	view_init(v);
}

static int check_at(uint64_t applied, const Synod__Wire__MetadataDelta *d)
{
	if (d->has_full && d->full)
		return d->version > applied ? VIEW_APPLY : VIEW_STALE;
	/* A delta from 0 does not continue anything: it lacks whatever came
	 * before it (the controller had made no push for this broker yet). */
	if (d->prev_version == applied && d->prev_version != 0)
		return VIEW_APPLY;
	if (d->version <= applied)
		return VIEW_STALE;
	return VIEW_GAP;
}

int view_check(const struct view *v, const Synod__Wire__MetadataDelta *d)
{
	return check_at(v->version, d);
}

int view_check_fetch_at(uint64_t applied, const Synod__Wire__MetadataDelta *d,
			int later_page, uint64_t since)
{
	if (later_page)
		return VIEW_APPLY;
	if (d->has_full && d->full && since > 0 && d->version <= applied &&
	    d->has_restored && d->restored)
		return VIEW_APPLY;
	return check_at(applied, d);
}

int view_check_fetch(const struct view *v, const Synod__Wire__MetadataDelta *d,
		     int later_page, uint64_t since)
{
	return view_check_fetch_at(v->version, d, later_page, since);
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

static int valid_broker(const Synod__Wire__BrokerState *b)
{
	if (b == NULL || b->id < 0 || b->n_endpoints > VIEW_MAX_ENDPOINTS ||
	    (b->n_endpoints > 0 && b->endpoints == NULL))
		return 0;
	for (size_t i = 0; i < b->n_endpoints; i++) {
		const Synod__Wire__Endpoint *e = b->endpoints[i];
		if (e == NULL || e->name == NULL || e->host == NULL ||
		    e->security_protocol == NULL)
			return 0;
	}
	return 1;
}

int view_validate(const Synod__Wire__MetadataDelta *d)
{
	if (!(d->has_full && d->full) && d->version < d->prev_version)
		return SYNOD_EINVALID_REQUEST;
	if (d->n_brokers > VIEW_MAX_BROKERS)
		return SYNOD_EINVALID_REQUEST;
	for (size_t i = 0; i < d->n_brokers; i++)
		if (!valid_broker(d->brokers[i]))
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

/* ---- brokers ---- */

static void broker_clear(struct view_broker *b)
{
	for (size_t i = 0; i < b->n_endpoints; i++) {
		free(b->eps[i].name);
		free(b->eps[i].host);
		free(b->eps[i].security_protocol);
	}
	free(b->eps);
	free(b->epp);
	free(b->rack);
	memset(b, 0, sizeof *b);
}

static void brokers_free(struct view_broker *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		broker_clear(&a[i]);
	free(a);
}

/* A fresh copy of a wire state in *out. */
static int broker_copy(const Synod__Wire__BrokerState *s,
		       struct view_broker *out)
{
	memset(out, 0, sizeof *out);
	out->id = s->id;
	out->epoch = s->epoch;
	out->fenced = s->fenced != 0;
	out->shutting_down = s->has_shutting_down && s->shutting_down;
	if (s->rack != NULL && (out->rack = dup_str(s->rack)) == NULL)
		goto nomem;
	if (s->n_endpoints > 0) {
		out->eps = calloc(s->n_endpoints, sizeof *out->eps);
		out->epp = calloc(s->n_endpoints, sizeof *out->epp);
		if (out->eps == NULL || out->epp == NULL)
			goto nomem;
	}
	for (size_t i = 0; i < s->n_endpoints; i++) {
		const Synod__Wire__Endpoint *e = s->endpoints[i];
		Synod__Wire__Endpoint *d = &out->eps[i];
		synod__wire__endpoint__init(d);
		d->port = e->port;
		d->name = dup_str(e->name);
		d->host = dup_str(e->host);
		d->security_protocol = dup_str(e->security_protocol);
		out->epp[i] = d;
		out->n_endpoints = i + 1; /* freed by broker_clear from now */
		if (d->name == NULL || d->host == NULL ||
		    d->security_protocol == NULL)
			goto nomem;
	}
	return SYNOD_OK;
nomem:
	broker_clear(out);
	return SYNOD_ENOMEM;
}

/* Index of broker id in the sorted array, or where it would go. */
static size_t broker_pos(const struct view *v, int32_t id, int *found)
{
	size_t lo = 0, hi = v->n_brokers;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->brokers[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < v->n_brokers && v->brokers[lo].id == id;
	return lo;
}

static void broker_remove(struct view *v, int32_t id)
{
	int found;
	size_t i = broker_pos(v, id, &found);
	if (!found)
		return;
	broker_clear(&v->brokers[i]);
	memmove(&v->brokers[i], &v->brokers[i + 1],
		(v->n_brokers - i - 1) * sizeof *v->brokers);
	v->n_brokers--;
}

static int broker_upsert(struct view *v, const Synod__Wire__BrokerState *s)
{
	struct view_broker nb;
	int found;
	size_t i = broker_pos(v, s->id, &found);
	if (!found && v->n_brokers == v->cap_brokers) {
		size_t cap = v->cap_brokers ? v->cap_brokers * 2 : 8;
		struct view_broker *n = realloc(v->brokers, cap * sizeof *n);
		if (n == NULL)
			return SYNOD_ENOMEM;
		v->brokers = n;
		v->cap_brokers = cap;
	}
	if (broker_copy(s, &nb) != SYNOD_OK)
		return SYNOD_ENOMEM;
	if (found) {
		broker_clear(&v->brokers[i]);
	} else {
		memmove(&v->brokers[i + 1], &v->brokers[i],
			(v->n_brokers - i) * sizeof *v->brokers);
		v->n_brokers++;
	}
	v->brokers[i] = nb;
	return SYNOD_OK;
}

struct broker_ord {
	int32_t id;
	size_t at; /* index in the delta */
};

static int ord_cmp(const void *a, const void *b)
{
	const struct broker_ord *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* all_brokers: the view's brokers become exactly those listed (the last
 * listing of an id wins; removed ones are left out). */
static int brokers_replace(struct view *v, const Synod__Wire__MetadataDelta *d)
{
	struct broker_ord *ord = NULL;
	struct view_broker *nb = NULL;
	size_t n = d->n_brokers, k = 0;
	if (n > 0) {
		ord = malloc(n * sizeof *ord);
		nb = calloc(n, sizeof *nb);
		if (ord == NULL || nb == NULL) {
			free(ord);
			free(nb);
			return SYNOD_ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		ord[i].id = d->brokers[i]->id;
		ord[i].at = i;
	}
	if (n > 1)
		qsort(ord, n, sizeof *ord, ord_cmp);
	for (size_t i = 0; i < n; i++) {
		const Synod__Wire__BrokerState *s = d->brokers[ord[i].at];
		if (i + 1 < n && ord[i + 1].id == ord[i].id)
			continue; /* a later listing follows */
		if (s->has_removed && s->removed)
			continue;
		if (broker_copy(s, &nb[k]) != SYNOD_OK) {
			brokers_free(nb, k);
			free(ord);
			return SYNOD_ENOMEM;
		}
		k++;
	}
	free(ord);
	brokers_free(v->brokers, v->n_brokers);
	v->brokers = nb;
	v->n_brokers = k;
	v->cap_brokers = n;
	return SYNOD_OK;
}

static int apply_brokers(struct view *v, const Synod__Wire__MetadataDelta *d)
{
	if (d->has_all_brokers && d->all_brokers)
		return brokers_replace(v, d);
	for (size_t i = 0; i < d->n_brokers; i++) {
		const Synod__Wire__BrokerState *s = d->brokers[i];
		if (s->has_removed && s->removed)
			broker_remove(v, s->id);
		else if (broker_upsert(v, s) != SYNOD_OK)
			return SYNOD_ENOMEM;
	}
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
	if (apply_brokers(v, d) != SYNOD_OK)
		goto nomem;
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

int view_foreach_topic_partition(const struct view *v, const uint8_t *topic_id,
				 view_partition_cb cb, void *arg)
{
	uint32_t num = topic_find(v, topic_id), seen = 0, n;
	const struct view_topic *t;
	Synod__Wire__PartitionState ps;
	int probe, rv;
	if (num == 0 || v->parts_cap == 0)
		return 0;
	t = &v->topics[num - 1];
	/* Probe each partition number it ever held, or, with fewer slots
	 * than partition numbers, scan the table. */
	probe = t->max_part <= v->parts_cap;
	n = probe ? t->max_part : v->parts_cap;
	for (uint32_t k = 0; k < n && seen < t->held; k++) {
		uint32_t slot = probe ? part_slot(v, num, (int32_t)k) : k;
		if (v->parts[slot].topic != num)
			continue;
		seen++;
		fill_part(v, &v->parts[slot], &ps);
		if ((rv = cb(arg, &ps)) != 0)
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

static void fill_broker(const struct view_broker *b,
			Synod__Wire__BrokerState *out)
{
	synod__wire__broker_state__init(out);
	out->id = b->id;
	out->epoch = b->epoch;
	out->rack = b->rack;
	out->n_endpoints = b->n_endpoints;
	out->endpoints = b->epp;
	out->fenced = b->fenced;
	out->has_shutting_down = 1;
	out->shutting_down = b->shutting_down;
}

int view_foreach_broker(const struct view *v, view_broker_cb cb, void *arg)
{
	for (size_t i = 0; i < v->n_brokers; i++) {
		Synod__Wire__BrokerState bs;
		int rv;
		fill_broker(&v->brokers[i], &bs);
		rv = cb(arg, &bs);
		if (rv != 0)
			return rv;
	}
	return 0;
}

int view_find_broker(const struct view *v, int32_t id,
		     Synod__Wire__BrokerState *out)
{
	int found;
	size_t i = broker_pos(v, id, &found);
	if (!found)
		return SYNOD_ENOT_FOUND;
	fill_broker(&v->brokers[i], out);
	return SYNOD_OK;
}

/* ---- whole images ---- */

void view_image_free(struct view_image *img)
{
	free(img->topics);
	free(img->tp);
	free(img->parts);
	free(img->pp);
	free(img->brokers);
	free(img->bp);
	memset(img, 0, sizeof *img);
}

int view_image(const struct view *v, struct view_image *img)
{
	size_t nt = 0, np = 0;
	memset(img, 0, sizeof *img);
	synod__wire__metadata_delta__init(&img->d);
	/* + 1: never a zero-byte allocation */
	img->topics = calloc(v->n_topics + 1, sizeof *img->topics);
	img->tp = calloc(v->n_topics + 1, sizeof *img->tp);
	img->parts = calloc(v->n_parts + 1, sizeof *img->parts);
	img->pp = calloc(v->n_parts + 1, sizeof *img->pp);
	img->brokers = calloc(v->n_brokers + 1, sizeof *img->brokers);
	img->bp = calloc(v->n_brokers + 1, sizeof *img->bp);
	if (img->topics == NULL || img->tp == NULL || img->parts == NULL ||
	    img->pp == NULL || img->brokers == NULL || img->bp == NULL) {
		view_image_free(img);
		return SYNOD_ENOMEM;
	}
	for (uint32_t i = 0; i < v->topics_len; i++) {
		if (v->topics[i].name == NULL)
			continue;
		fill_topic(&v->topics[i], &img->topics[nt]);
		img->tp[nt] = &img->topics[nt];
		nt++;
	}
	for (uint32_t i = 0; i < v->parts_cap; i++) {
		if (v->parts[i].topic == 0)
			continue;
		fill_part(v, &v->parts[i], &img->parts[np]);
		img->pp[np] = &img->parts[np];
		np++;
	}
	for (size_t i = 0; i < v->n_brokers; i++) {
		fill_broker(&v->brokers[i], &img->brokers[i]);
		img->bp[i] = &img->brokers[i];
	}
	img->d.version = v->version;
	img->d.has_full = 1;
	img->d.full = 1;
	img->d.n_topics = nt;
	img->d.topics = img->tp;
	img->d.n_partitions = np;
	img->d.partitions = img->pp;
	img->d.n_brokers = v->n_brokers;
	img->d.brokers = img->bp;
	img->d.has_all_brokers = 1;
	img->d.all_brokers = 1;
	return SYNOD_OK;
}

int view_copy(struct view *dst, const struct view *src)
{
	struct view_image img;
	int rv;
	view_free(dst);
	if (view_image(src, &img) != SYNOD_OK)
		return SYNOD_ENOMEM;
	/* An image always validates (the view held it); a full delta at
	 * version 0 still applies: view_apply does not check versions. */
	rv = view_apply(dst, &img.d);
	view_image_free(&img);
	return rv;
}
