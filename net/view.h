/* net/view.h - a broker's metadata view (internal to synod_net).
 *
 * What one broker knows of the cluster's metadata: every topic (name, id,
 * partition count), the full state of every partition it replicates and
 * every registered broker (id, epoch, rack, endpoints, fenced, shutting
 * down), at one metadata version. net/broker.c feeds it the MetadataDelta
 * messages the controller pushes or returns to METADATA_FETCH; the rules
 * for ordering them are in view_check().
 *
 * Storage: partitions live in one open-addressing hash table (linear
 * probing, backward-shift deletion) keyed by (topic, partition), 48 bytes
 * a slot, with up to VIEW_INLINE_IDS replica and ISR ids inline (longer
 * lists take one allocation). Topics are an array indexed by a small
 * number (stable while the topic exists) plus a hash index by topic id.
 * Lookups, upserts and removals are O(1) on average; deleting a topic
 * costs min(its highest partition number held, the table size) probes.
 * Brokers (thousands at most) are an array sorted by id: lookups are
 * binary searches, an upsert or removal moves the entries after it, and
 * an all_brokers list replaces the array in O(n log n).
 *
 * Pure: no I/O, no libuv. Not thread-safe; one owner. Nothing here keeps a
 * pointer into a delta after the call returns (strings and arrays are
 * copied).
 */
#ifndef SYNOD_VIEW_H
#define SYNOD_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "synod.pb-c.h"

#define VIEW_TOPIC_ID_LEN 16
#define VIEW_INLINE_IDS 6
/* Bounds view_validate() puts on a delta's brokers. */
#define VIEW_MAX_BROKERS 100000
#define VIEW_MAX_ENDPOINTS 64

struct view_topic {
	uint8_t id[VIEW_TOPIC_ID_LEN];
	char *name;	     /* NULL: a free entry */
	uint64_t hash;	     /* of id */
	uint32_t partitions; /* partition count */
	uint32_t held;	     /* its partitions in the view */
	uint32_t max_part;   /* 1 + highest partition number inserted */
	uint32_t next_free;  /* free list (1-based), when name is NULL */
};

struct view_part {
	uint32_t topic; /* 1 + index into view.topics; 0: empty slot */
	int32_t partition;
	int32_t leader;
	uint32_t leader_epoch;
	uint32_t partition_epoch;
	uint16_t n_replicas;
	uint16_t n_isr;
	union {
		int32_t inl[VIEW_INLINE_IDS]; /* replicas, then isr */
		int32_t *ext; /* when n_replicas + n_isr > inline */
	} ids;
};

struct view_broker {
	int32_t id;
	int fenced;
	int shutting_down;
	uint64_t epoch;
	char *rack; /* NULL: none */
	size_t n_endpoints;
	Synod__Wire__Endpoint *eps;  /* strings owned */
	Synod__Wire__Endpoint **epp; /* pointers to eps, for readers */
};

struct view {
	uint64_t version; /* metadata version applied; 0: none */
	struct view_topic *topics;
	uint32_t topics_len; /* entries used in topics[] (live or free) */
	uint32_t topics_cap;
	uint32_t n_topics;   /* live topics */
	uint32_t free_topic; /* free list head (1-based), 0: none */
	uint32_t *tindex;    /* topic index hash: 1-based topic, 0 empty */
	uint32_t tindex_cap; /* power of two, or 0 */
	struct view_part *parts;
	uint32_t parts_cap; /* power of two, or 0 */
	uint32_t n_parts;
	struct view_broker *brokers; /* sorted by id */
	size_t n_brokers, cap_brokers;
};

/* An empty view at version 0 (a zeroed struct is one too). */
void view_init(struct view *v);
/* Free everything; the view is empty at version 0 afterwards. */
void view_free(struct view *v);

/* What to do with a delta, given the version applied:
 * - full: VIEW_APPLY when its version is above the applied one (a full
 *   image replaces the view whatever came before), else VIEW_STALE.
 * - otherwise VIEW_APPLY when prev_version == the applied version and is
 *   not 0, VIEW_STALE when version <= the applied version (already have
 *   it), VIEW_GAP otherwise (changes are missing: fetch). prev_version 0
 *   means the controller made no push for this broker before (a new
 *   session, a new active controller): such a delta lacks what came
 *   before it, so an empty view (version 0) takes only a full image. */
enum { VIEW_APPLY = 0, VIEW_STALE, VIEW_GAP };
int view_check(const struct view *v, const Synod__Wire__MetadataDelta *d);
/* The same for a METADATA_FETCH answer: a later page of a paged answer
 * (later_page) continues what its first page started: VIEW_APPLY. A full
 * image marked restored that answers a fetch since a version we hold
 * (since > 0) means the controller does not know that version (its
 * history was restored from an older backup): VIEW_APPLY, even when its
 * version is lower than ours. Otherwise as view_check. */
int view_check_fetch(const struct view *v, const Synod__Wire__MetadataDelta *d,
		     int later_page, uint64_t since);
/* view_check_fetch() for a view that would be at version `applied` (the
 * version staged pages bring it to, net/broker.c). */
int view_check_fetch_at(uint64_t applied, const Synod__Wire__MetadataDelta *d,
			int later_page, uint64_t since);

/* SYNOD_OK when the delta is well formed: topic ids of 16 bytes, names
 * present, partition numbers >= 0, at most 65535 replicas or ISR members,
 * at most VIEW_MAX_BROKERS brokers with ids >= 0, each with at most
 * VIEW_MAX_ENDPOINTS endpoints whose name, host and security protocol are
 * present, and version >= prev_version unless full. Else
 * SYNOD_EINVALID_REQUEST. */
int view_validate(const Synod__Wire__MetadataDelta *d);

/* Apply a delta (whatever view_check says: the caller decides) and set
 * the version to d->version. A full delta replaces the view (its brokers
 * too: a full image without brokers leaves none). Order within a delta:
 * brokers, topic upserts, partition upserts, removed partitions, then
 * topic deletions (a deleted topic loses every partition, so a deletion
 * wins over anything else in the same delta). Brokers: with all_brokers
 * the view's brokers become exactly those listed (without `removed`);
 * otherwise each listed broker's state replaces the one held (upsert),
 * and one with `removed` set is dropped. A broker listed twice: the last
 * one wins. A partition of a topic the
 * view does not know creates the topic (name and id from the partition,
 * count partition + 1). A partition state with a lower partition epoch
 * than the one held is skipped (epochs only grow; a full image starts
 * from an empty view, so nothing in it is skipped).
 * Returns SYNOD_OK; SYNOD_EINVALID_REQUEST when view_validate() refuses
 * it (nothing changed); SYNOD_ENOMEM, after which the view is empty at
 * version 0 (a fetch since 0 rebuilds it). */
int view_apply(struct view *v, const Synod__Wire__MetadataDelta *d);

static inline size_t view_topic_count(const struct view *v)
{
	return v->n_topics;
}
static inline size_t view_partition_count(const struct view *v)
{
	return v->n_parts;
}
static inline size_t view_broker_count(const struct view *v)
{
	return v->n_brokers;
}

/* Call cb for every partition (in no particular order) with a
 * PartitionState whose strings and arrays point into the view: valid
 * until the view changes. cb must not change the view. A non-zero return
 * stops the walk and is returned; else 0. */
typedef int (*view_partition_cb)(void *arg,
				 const Synod__Wire__PartitionState *p);
int view_foreach_partition(const struct view *v, view_partition_cb cb,
			   void *arg);
/* The same for the partitions of one topic only: at most min(1 + its
 * highest partition number held, the table size) probes, whatever
 * partition count the topic declares. */
int view_foreach_topic_partition(const struct view *v, const uint8_t *topic_id,
				 view_partition_cb cb, void *arg);
/* The same for topics (deleted is never set). */
typedef int (*view_topic_cb)(void *arg, const Synod__Wire__TopicState *t);
int view_foreach_topic(const struct view *v, view_topic_cb cb, void *arg);
/* Fill *out (pointers into the view, as above) for one partition.
 * SYNOD_OK, or SYNOD_ENOT_FOUND. */
int view_find_partition(const struct view *v, const uint8_t *topic_id,
			int32_t partition, Synod__Wire__PartitionState *out);
/* The topic of that id: SYNOD_OK and *out filled, or SYNOD_ENOT_FOUND. */
int view_find_topic(const struct view *v, const uint8_t *topic_id,
		    Synod__Wire__TopicState *out);
/* Every broker, by id, as a BrokerState pointing into the view (rack and
 * endpoints; valid until the view changes; removed never set,
 * shutting_down always present). Stops as view_foreach_partition. */
typedef int (*view_broker_cb)(void *arg, const Synod__Wire__BrokerState *b);
int view_foreach_broker(const struct view *v, view_broker_cb cb, void *arg);
/* One broker: SYNOD_OK and *out filled (pointing into the view), or
 * SYNOD_ENOT_FOUND. */
int view_find_broker(const struct view *v, int32_t id,
		     Synod__Wire__BrokerState *out);

/* The whole view as one full-image delta (full, all_brokers, version =
 * v->version, prev_version 0): every topic, partition and broker. Its
 * strings and arrays point into the view (valid until the view changes);
 * the arrays holding them belong to the image: view_image_free(). Returns
 * SYNOD_OK or SYNOD_ENOMEM (nothing to free then). */
struct view_image {
	Synod__Wire__MetadataDelta d;
	Synod__Wire__TopicState *topics, **tp;
	Synod__Wire__PartitionState *parts, **pp;
	Synod__Wire__BrokerState *brokers, **bp;
};
int view_image(const struct view *v, struct view_image *img);
void view_image_free(struct view_image *img);
/* dst (empty, or freed first) becomes a copy of src, sharing nothing with
 * it. SYNOD_OK, SYNOD_ENOMEM, or SYNOD_EINVALID_REQUEST when src holds
 * more than VIEW_MAX_BROKERS brokers (upserts can gather them; an image
 * may not list them); dst is then empty at version 0. */
int view_copy(struct view *dst, const struct view *src);

#endif
