/* controller/topics_push.c - metadata pushes built from applied entries
 * (delivered by the broker sessions' publisher), METADATA_FETCH (15) and the
 * paged walks it shares with DESCRIBE_TOPICS. See topics.h (what) and
 * topics_int.h (the shared state). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "synod/client.h"
#include "topics_int.h"

/* ---- pushes ---- */

struct bucket {
	int32_t broker;
	Synod__Wire__PartitionState **parts;
	size_t n, cap;
};

void *tp_grow(void *p, size_t *cap, size_t need, size_t size, int *failed)
{
	size_t c = *cap ? *cap : 16;
	void *n;
	if (need <= *cap)
		return p;
	while (c < need)
		c *= 2;
	n = realloc(p, c * size);
	if (n == NULL) {
		*failed = 1;
		return p;
	}
	*cap = c;
	return n;
}

char *tp_keep_str(struct push_ctx *x, const char *s)
{
	char *d;
	x->strings = tp_grow(x->strings, &x->cap_strings, x->n_strings + 1,
			     sizeof *x->strings, &x->failed);
	if (x->failed || (d = strdup(s)) == NULL) {
		x->failed = 1;
		return NULL;
	}
	x->strings[x->n_strings++] = d;
	return d;
}

/* Zeroed memory owned by x (freed with the strings). */
static void *keep_mem(struct push_ctx *x, size_t size)
{
	void *d;
	x->strings = tp_grow(x->strings, &x->cap_strings, x->n_strings + 1,
			     sizeof *x->strings, &x->failed);
	if (x->failed || (d = calloc(1, size ? size : 1)) == NULL) {
		x->failed = 1;
		return NULL;
	}
	x->strings[x->n_strings++] = d;
	return d;
}

/* Bytes a broker's state takes in a delta (estimated, from above). */
static size_t est_broker(const struct store_broker *sb)
{
	size_t n = 32 + (sb->has_rack ? strlen(sb->rack) + 2 : 0);
	for (unsigned i = 0; i < sb->n_endpoints; i++)
		n += 16 + strlen(sb->endpoints[i].name) +
		     strlen(sb->endpoints[i].host) +
		     strlen(sb->endpoints[i].security_protocol);
	return n;
}

/* Add broker id's state: sb, or NULL when it is not registered (then
 * `removed`). */
static int push_broker(struct push_ctx *x, int32_t id,
		       const struct store_broker *sb)
{
	Synod__Wire__BrokerState *w;
	Synod__Wire__Endpoint *eps = NULL, **epp = NULL;
	x->bstates = tp_grow(x->bstates, &x->cap_bstates, x->n_bstates + 1,
			     sizeof *x->bstates, &x->failed);
	if (x->failed)
		return -1;
	w = &x->bstates[x->n_bstates];
	synod__wire__broker_state__init(w);
	w->id = id;
	if (sb == NULL) {
		w->fenced = 1;
		w->has_removed = 1;
		w->removed = 1;
		x->broker_bytes += 16;
		x->n_bstates++;
		return 0;
	}
	w->epoch = sb->epoch;
	w->fenced = sb->fenced;
	w->has_shutting_down = 1;
	w->shutting_down = sb->shutting_down;
	if (sb->has_rack && (w->rack = tp_keep_str(x, sb->rack)) == NULL)
		return -1;
	if (sb->n_endpoints > 0) {
		eps = keep_mem(x, sb->n_endpoints * sizeof *eps);
		epp = eps ? keep_mem(x, sb->n_endpoints * sizeof *epp) : NULL;
		if (epp == NULL)
			return -1;
	}
	for (unsigned i = 0; i < sb->n_endpoints; i++) {
		const struct store_endpoint *se = &sb->endpoints[i];
		synod__wire__endpoint__init(&eps[i]);
		eps[i].name = tp_keep_str(x, se->name);
		eps[i].host = tp_keep_str(x, se->host);
		eps[i].security_protocol =
		    tp_keep_str(x, se->security_protocol);
		eps[i].port = se->port;
		if (x->failed)
			return -1;
		epp[i] = &eps[i];
	}
	w->n_endpoints = sb->n_endpoints;
	w->endpoints = epp;
	x->broker_bytes += est_broker(sb);
	x->n_bstates++;
	return 0;
}

static int push_registered(void *arg, const struct store_broker *sb)
{
	return push_broker(arg, sb->id, sb);
}

static struct bucket *bucket_of(struct push_ctx *x, int32_t broker)
{
	for (size_t i = 0; i < x->n_buckets; i++)
		if (x->buckets[i].broker == broker)
			return &x->buckets[i];
	x->buckets = tp_grow(x->buckets, &x->cap_buckets, x->n_buckets + 1,
			     sizeof *x->buckets, &x->failed);
	if (x->failed)
		return NULL;
	memset(&x->buckets[x->n_buckets], 0, sizeof *x->buckets);
	x->buckets[x->n_buckets].broker = broker;
	return &x->buckets[x->n_buckets++];
}

/* Fill a wire PartitionState (ids copied into x->ids by index: pointers
 * are fixed up once all states exist, since x->ids may move). */
void tp_wire_partition(Synod__Wire__PartitionState *w, char *topic,
		       uint8_t *topic_id, const struct store_partition *p)
{
	synod__wire__partition_state__init(w);
	w->topic = topic;
	w->topic_id.data = topic_id;
	w->topic_id.len = 16;
	w->partition = p->partition;
	w->leader = p->leader;
	w->leader_epoch = p->leader_epoch;
	w->partition_epoch = p->partition_epoch;
	w->n_replicas = p->n_replicas;
	w->n_isr = p->n_isr;
}

int tp_push_add_partition(struct push_ctx *x, const struct store_topic *t,
			  const struct store_partition *p)
{
	Synod__Wire__PartitionState *w;
	char *name = tp_keep_str(x, t->name);
	char *id = name ? tp_keep_str(x, "0123456789abcdef") : NULL;
	size_t off;
	if (id == NULL)
		return -1;
	memcpy(id, t->topic_id, 16);
	x->states = tp_grow(x->states, &x->cap_states, x->n_states + 1,
			    sizeof *x->states, &x->failed);
	x->ids =
	    tp_grow(x->ids, &x->cap_ids, x->n_ids + p->n_replicas + p->n_isr,
		    sizeof *x->ids, &x->failed);
	if (x->failed)
		return -1;
	w = &x->states[x->n_states++];
	tp_wire_partition(w, name, (uint8_t *)id, p);
	off = x->n_ids;
	memcpy(x->ids + off, p->replicas, p->n_replicas * sizeof(int32_t));
	memcpy(x->ids + off + p->n_replicas, p->isr,
	       p->n_isr * sizeof(int32_t));
	/* Store the offset for now; fixed up before sending. */
	w->replicas = (int32_t *)(uintptr_t)off;
	x->n_ids += p->n_replicas + p->n_isr;
	return 0;
}

static int push_topic(struct push_ctx *x, const struct store_topic *t,
		      int deleted)
{
	Synod__Wire__TopicState *w;
	char *name = tp_keep_str(x, t->name);
	char *id = name ? tp_keep_str(x, "0123456789abcdef") : NULL;
	if (id == NULL)
		return -1;
	memcpy(id, t->topic_id, 16);
	x->topics = tp_grow(x->topics, &x->cap_topics, x->n_topics + 1,
			    sizeof *x->topics, &x->failed);
	if (x->failed)
		return -1;
	w = &x->topics[x->n_topics++];
	synod__wire__topic_state__init(w);
	w->name = name;
	w->topic_id.data = (uint8_t *)id;
	w->topic_id.len = 16;
	w->partitions = deleted ? 0 : t->n_partitions;
	w->has_deleted = deleted;
	w->deleted = deleted;
	return 0;
}

static int push_live(void *arg, const struct store_topic *t)
{
	return push_topic(arg, t, 0);
}

static int push_deleted(void *arg, const struct store_topic *t)
{
	return push_topic(arg, t, 1);
}

struct send_all {
	struct push_ctx *x;
	Synod__Wire__PartitionState **none;
};

/* Pointers to x's broker states (NULL when none or out of memory). */
static Synod__Wire__BrokerState **broker_ptrs(struct push_ctx *x)
{
	Synod__Wire__BrokerState **bp;
	if (x->n_bstates == 0 ||
	    (bp = malloc(x->n_bstates * sizeof *bp)) == NULL)
		return NULL;
	for (size_t i = 0; i < x->n_bstates; i++)
		bp[i] = &x->bstates[i];
	return bp;
}

static void send_one(struct push_ctx *x, int32_t broker, struct bucket *bk)
{
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__TopicState **tp = NULL;
	int with =
	    x->n_bstates > 0 && brokers_wants_brokers(x->t->brokers, broker);
	Synod__Wire__BrokerState **bp = with ? broker_ptrs(x) : NULL;
	if (with && bp == NULL)
		return; /* out of memory: the next push shows a gap */
	if (x->n_topics) {
		tp = malloc(x->n_topics * sizeof *tp);
		if (tp == NULL) {
			free(bp);
			return;
		}
		for (size_t i = 0; i < x->n_topics; i++)
			tp[i] = &x->topics[i];
	}
	d.version = x->index;
	d.n_topics = x->n_topics;
	d.topics = tp;
	d.n_partitions = bk ? bk->n : 0;
	d.partitions = bk ? bk->parts : NULL;
	d.n_brokers = with ? x->n_bstates : 0;
	d.brokers = bp;
	brokers_push(x->t->brokers, broker, &d);
	free(tp);
	free(bp);
}

static void send_to_registered(void *arg, int32_t broker)
{
	struct push_ctx *x = arg;
	for (size_t i = 0; i < x->n_buckets; i++)
		if (x->buckets[i].broker == broker)
			return; /* sent with its partitions */
	/* Only broker states changed, and this broker did not ask for
	 * them: nothing for it. */
	if (x->n_topics == 0 && !brokers_wants_brokers(x->t->brokers, broker))
		return;
	if (x->nudge_only)
		brokers_nudge(x->t->brokers, broker, x->index);
	else
		send_one(x, broker, NULL);
}

static void count_broker(void *arg, int32_t broker)
{
	(void)broker;
	(*(size_t *)arg)++;
}

/* Count the brokers that asked for every partition (arg: a push_ctx
 * whose full_count grows). */
static void count_full(void *arg, int32_t broker)
{
	struct push_ctx *x = arg;
	if (brokers_wants_all(x->t->brokers, broker))
		x->full_count++;
}

/* Would the part of this entry's pushes that goes to every broker (topic
 * events, broker states), sent to every broker, queue more than
 * BROKERS_FANOUT_MAX bytes? */
static int fanout_too_large(struct push_ctx *x)
{
	size_t bytes = x->broker_bytes, n = 0;
	for (size_t i = 0; i < x->n_topics; i++)
		bytes += 24 + strlen(x->topics[i].name);
	brokers_foreach(x->t->brokers, count_broker, &n);
	return bytes * n > BROKERS_FANOUT_MAX;
}

void tp_push_free(struct push_ctx *x)
{
	for (size_t i = 0; i < x->n_strings; i++)
		free(x->strings[i]);
	free(x->strings);
	for (size_t i = 0; i < x->n_buckets; i++)
		free(x->buckets[i].parts);
	free(x->buckets);
	free(x->states);
	free(x->topics);
	free(x->ids);
	free(x->bstates);
}

/* Record ids of brokers an entry's broker records name. */
static int32_t record_broker(const Synod__Rec__Record *r)
{
	switch (r->body_case) {
	case SYNOD__REC__RECORD__BODY_REGISTER_BROKER:
		return r->register_broker->broker_id;
	case SYNOD__REC__RECORD__BODY_FENCE_BROKER:
		return r->fence_broker->broker_id;
	case SYNOD__REC__RECORD__BODY_UNFENCE_BROKER:
		return r->unfence_broker->broker_id;
	case SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN:
		return r->broker_shutdown->broker_id;
	case SYNOD__REC__RECORD__BODY_UNREGISTER_BROKER:
		return r->unregister_broker->broker_id;
	default:
		return -1;
	}
}

/* The state after the entry of every broker its records name (each once:
 * a record refused at apply pushes the unchanged state, which is
 * harmless). */
static void push_entry_brokers(struct push_ctx *x,
			       const Synod__Rec__RecordBatch *b)
{
	for (size_t i = 0; i < b->n_records && !x->failed; i++) {
		int32_t id = record_broker(b->records[i]);
		struct store_broker sb;
		int seen = 0;
		if (id < 0)
			continue;
		for (size_t k = 0; k < x->n_bstates && !seen; k++)
			seen = x->bstates[k].id == id;
		if (seen)
			continue;
		if (store_broker_get(x->t->store, id, &sb) == STORE_OK)
			push_broker(x, id, &sb);
		else
			push_broker(x, id, NULL);
	}
}

/* A broker that asked for every partition (all_partitions) gets every
 * state of the entry, not only those it replicates. When that would
 * queue more than BROKERS_FANOUT_MAX bytes for all of them, they are
 * nudged instead (they fetch: paged, bounded per answer). */
static void add_full_view(void *arg, int32_t broker)
{
	struct push_ctx *x = arg;
	struct bucket *bk;
	if (x->failed || !brokers_wants_all(x->t->brokers, broker))
		return;
	if (x->full_checked == 0) {
		size_t bytes = 0;
		brokers_foreach(x->t->brokers, count_full, x);
		for (size_t i = 0; i < x->n_states; i++)
			bytes +=
			    48 + strlen(x->states[i].topic) +
			    5 * (x->states[i].n_replicas + x->states[i].n_isr);
		x->nudge_full = bytes * x->full_count > BROKERS_FANOUT_MAX;
		x->full_checked = 1;
	}
	if ((bk = bucket_of(x, broker)) == NULL)
		return;
	if (x->nudge_full)
		return; /* its bucket marks it for a nudge */
	for (size_t i = 0; i < x->n_states && !x->failed; i++) {
		const Synod__Wire__PartitionState *w = &x->states[i];
		int replica = 0;
		for (size_t r = 0; r < w->n_replicas && !replica; r++)
			replica = w->replicas[r] == broker;
		if (replica)
			continue; /* in its bucket already */
		bk->parts = tp_grow(bk->parts, &bk->cap, bk->n + 1,
				    sizeof *bk->parts, &x->failed);
		if (!x->failed)
			bk->parts[bk->n++] = &x->states[i];
	}
}

/* An ISR member of p that may not be in an ISR now (fenced, shutting
 * down, departing, unregistered)? */
static int isr_has_departed(struct topics *t, const struct store_partition *p)
{
	for (uint32_t i = 0; i < p->n_isr; i++)
		if (!tp_alive(t, p->isr[i]))
			return 1;
	return 0;
}

static void push_entry(struct topics *t, uint64_t index,
		       const Synod__Rec__RecordBatch *b)
{
	struct push_ctx x;
	int topic_events = 0, removed = 0;
	unsigned crossed = 0; /* creations across a departure */
	memset(&x, 0, sizeof x);
	x.t = t;
	x.index = index;
	/* Every record, also once out of memory: the overlay entries the
	 * entry settles must go whether or not its pushes can be built. */
	for (size_t i = 0; i < b->n_records; i++) {
		const Synod__Rec__Record *r = b->records[i];
		struct store_topic topic;
		const ProtobufCBinaryData *id = NULL;
		Synod__Rec__PartitionRecord **parts = NULL;
		size_t n = 0;
		switch (r->body_case) {
		case SYNOD__REC__RECORD__BODY_CREATE_TOPIC:
			id = &r->create_topic->topic_id;
			parts = r->create_topic->partitions;
			n = r->create_topic->n_partitions;
			topic_events = 1;
			break;
		case SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS:
			id = &r->create_partitions->topic_id;
			parts = r->create_partitions->partitions;
			n = r->create_partitions->n_partitions;
			topic_events = 1;
			break;
		case SYNOD__REC__RECORD__BODY_PARTITION_CHANGE:
			id = &r->partition_change->topic_id;
			parts = &r->partition_change->state;
			n = 1;
			break;
		case SYNOD__REC__RECORD__BODY_REMOVE_TOPIC:
			topic_events = removed = 1;
			tp_load_invalidate(t);
			continue;
		default:
			continue;
		}
		if (id->len != 16 || store_topic_get_by_id(t->store, id->data,
							   &topic) != STORE_OK)
			continue;
		for (size_t k = 0; k < n; k++) {
			struct store_partition p;
			uint64_t key =
			    tp_ov_key(topic.tid, parts[k]->partition);
			struct ov_entry *e = tp_ov_find(t, key);
			int found = store_partition_get(t->store, topic.tid,
							parts[k]->partition,
							&p) == STORE_OK;
			/* This record was the last proposal for the
			 * partition, applied or refused: the store is the
			 * truth again. */
			if (e &&
			    e->p.partition_epoch == parts[k]->partition_epoch)
				tp_ov_remove(t, key);
			/* A change refused as stale changed nothing: check
			 * the partition again on the next tick. */
			if (found && p.version != index &&
			    r->body_case ==
				SYNOD__REC__RECORD__BODY_PARTITION_CHANGE)
				tp_recheck_add(t, key);
			/* A creation decided while a replica was alive and
			 * applied after that broker's departure walked the
			 * store (which could not show it yet): the walk never
			 * took the broker out of this ISR, so the next tick
			 * does (reliability.md 5.30). */
			if (found && p.version == index &&
			    r->body_case !=
				SYNOD__REC__RECORD__BODY_PARTITION_CHANGE &&
			    isr_has_departed(t, &p)) {
				tp_recheck_add(t, key);
				crossed++;
			}
			/* The committed state, if this entry changed it. */
			if (x.failed || !found || p.version != index)
				continue;
			if (tp_push_add_partition(&x, &topic, &p) != 0)
				x.failed = 1;
		}
	}
	if (crossed)
		log_info("entry %llu created %u partitions with a broker that "
			 "left in the ISR: rechecked at the next tick",
			 (unsigned long long)index, crossed);
	if (removed)
		tp_ov_drop_removed(t);
	if (topic_events && !x.failed)
		store_topics_since(t->store, index - 1, push_live, push_deleted,
				   &x);
	if (!x.failed)
		push_entry_brokers(&x, b);
	if (x.failed) {
		log_warn("out of memory building pushes for %llu: brokers "
			 "will fetch",
			 (unsigned long long)index);
		tp_push_free(&x);
		return;
	}
	if (x.n_states == 0 && x.n_topics == 0 && x.n_bstates == 0) {
		tp_push_free(&x);
		return;
	}
	/* Fix up id pointers, then group states by replica. */
	for (size_t i = 0; i < x.n_states && !x.failed; i++) {
		Synod__Wire__PartitionState *w = &x.states[i];
		size_t off = (size_t)(uintptr_t)w->replicas;
		w->replicas = x.ids + off;
		w->isr = x.ids + off + w->n_replicas;
		for (size_t r = 0; r < w->n_replicas; r++) {
			struct bucket *bk = bucket_of(&x, w->replicas[r]);
			if (bk == NULL)
				break;
			bk->parts = tp_grow(bk->parts, &bk->cap, bk->n + 1,
					    sizeof *bk->parts, &x.failed);
			if (!x.failed)
				bk->parts[bk->n++] = w;
		}
	}
	if (!x.failed && x.n_states > 0)
		brokers_foreach(t->brokers, add_full_view, &x);
	if (!x.failed) {
		for (size_t i = 0; i < x.n_buckets; i++) {
			if (x.nudge_full &&
			    brokers_wants_all(t->brokers, x.buckets[i].broker))
				brokers_nudge(t->brokers, x.buckets[i].broker,
					      x.index);
			else
				send_one(&x, x.buckets[i].broker,
					 &x.buckets[i]);
		}
		if (x.n_topics || x.n_bstates) {
			x.nudge_only = fanout_too_large(&x);
			brokers_foreach(t->brokers, send_to_registered, &x);
		}
		t->stats.pushes_built++;
	}
	tp_push_free(&x);
}

void topics_applied(struct topics *t, uint64_t index,
		    const Synod__Rec__RecordBatch *b)
{
	if (!t->active)
		return;
	/* Topic, partition and broker records (bodies 5-13). */
	for (size_t i = 0; i < b->n_records; i++)
		if (b->records[i]->body_case >=
			SYNOD__REC__RECORD__BODY_REGISTER_BROKER &&
		    b->records[i]->body_case <=
			SYNOD__REC__RECORD__BODY_REMOVE_TOPIC) {
			push_entry(t, index, b);
			return;
		}
}

/* ---- METADATA_FETCH ---- */

static int fetch_partition(void *arg, const struct store_topic *t,
			   const struct store_partition *p)
{
	return tp_push_add_partition(arg, t, p);
}

void tp_cursor_put(const struct cursor *c, uint8_t *b)
{
	uint64_t tid = (uint64_t)c->tid;
	uint32_t part = (uint32_t)c->partition;
	b[0] = c->phase;
	for (int i = 0; i < 8; i++)
		b[1 + i] = (uint8_t)(tid >> (8 * i));
	for (int i = 0; i < 4; i++)
		b[9 + i] = (uint8_t)(part >> (8 * i));
	for (int i = 0; i < 8; i++)
		b[13 + i] = (uint8_t)(c->version >> (8 * i));
}

int tp_cursor_get(const ProtobufCBinaryData *d, struct cursor *c)
{
	uint64_t tid = 0, version = 0;
	uint32_t part = 0;
	if (d->len != CURSOR_LEN || d->data[0] > 1)
		return -1;
	for (int i = 7; i >= 0; i--)
		tid = (tid << 8) | d->data[1 + i];
	for (int i = 3; i >= 0; i--)
		part = (part << 8) | d->data[9 + i];
	for (int i = 7; i >= 0; i--)
		version = (version << 8) | d->data[13 + i];
	c->phase = d->data[0];
	c->tid = (int64_t)tid;
	c->partition = (int32_t)part;
	c->version = version;
	return 0;
}

/* Bytes one answer page may hold (estimated while it is built). */
size_t tp_page_bytes(struct topics *t)
{
	size_t b = t->node->cfg->max_frame / 2;
	return b > (1u << 20) ? (1u << 20) : b;
}

size_t tp_est_partition(const struct store_topic *tp,
			const struct store_partition *p)
{
	return 48 + strlen(tp->name) + 5 * (p->n_replicas + p->n_isr);
}

struct fetch_page {
	struct push_ctx *x;
	size_t used, budget;
	uint64_t since; /* every partition's walk: those changed after */
};

static int page_topic(void *arg, const struct store_topic *tp)
{
	struct fetch_page *fp = arg;
	if (push_topic(fp->x, tp, 0) != 0)
		return -1;
	fp->used += 40 + strlen(tp->name);
	return fp->used >= fp->budget ? 1 : 0;
}

static int page_partition(void *arg, const struct store_topic *tp,
			  const struct store_partition *p)
{
	struct fetch_page *fp = arg;
	if (tp_push_add_partition(fp->x, tp, p) != 0)
		return -1;
	fp->used += tp_est_partition(tp, p);
	return fp->used >= fp->budget ? 1 : 0;
}

/* Every partition's walk (all_partitions): the row is sent when it
 * changed after since. */
static int page_partition_since(void *arg, const struct store_topic *tp,
				const struct store_partition *p)
{
	struct fetch_page *fp = arg;
	if (p->version <= fp->since)
		return 0;
	return page_partition(arg, tp, p);
}

/* Every registered broker into x (all_brokers), unless their states
 * would take more than half of max_frame_bytes: then none (a first page
 * holds them all plus up to a page of topics and partitions, which must
 * fit in one frame). Returns 0 or -1. */
static int fetch_brokers(struct topics *t, struct push_ctx *x)
{
	if (store_broker_list(t->store, push_registered, x) != STORE_OK ||
	    x->failed)
		return -1;
	if (x->broker_bytes > t->node->cfg->max_frame / 2) {
		uint64_t now = uv_now(t->node->loop);
		if (t->brokers_warned_ms == 0 ||
		    now - t->brokers_warned_ms >= 60000) {
			t->brokers_warned_ms = now;
			log_warn("%zu registered brokers take about %zu bytes, "
				 "above half of max_frame_bytes: fetch answers "
				 "leave them out",
				 x->n_bstates, x->broker_bytes);
		}
		x->n_bstates = 0;
		x->broker_bytes = 0;
		return 0;
	}
	x->all_brokers = 1;
	return 0;
}

/* One page of a fetch: what changed since `since`, from cursor c (NULL:
 * the first page, at version `version`). Fills x; *more and *next when
 * another page follows. Returns 0 or -1. The first page also carries
 * every registered broker; their bytes count against the page's budget,
 * so topics and partitions move to later pages (the first page holds at
 * least one row past them). */
static int fetch_page(struct topics *t, int32_t broker, uint64_t since,
		      const struct cursor *c, uint64_t version,
		      int with_brokers, int all, struct push_ctx *x, int *more,
		      struct cursor *next)
{
	struct fetch_page fp = {x, 0, tp_page_bytes(t), since};
	unsigned scanned = 0;
	struct cursor cur = {0, 0, -1, version};
	unsigned n;
	int rv;
	*more = 0;
	if (c) {
		cur = *c;
	} else {
		if (since > 0 &&
		    store_topics_since(t->store, since, NULL, push_deleted,
				       x) != STORE_OK)
			return -1; /* tombstones: all, on the first page */
		if (with_brokers && fetch_brokers(t, x) != 0)
			return -1;
		fp.used = x->broker_bytes;
	}
	if (cur.phase == 0) {
		do {
			rv = store_topics_since_page(t->store, since, &cur.tid,
						     PAGE_ROWS, &n, page_topic,
						     &fp);
			if (rv == 1) {
				*more = 1;
				*next = cur;
				return 0;
			}
			if (rv != 0)
				return -1;
		} while (n == PAGE_ROWS);
		cur.phase = 1;
		cur.tid = 0;
		cur.partition = -1;
	}
	do {
		struct store_pkey k = {cur.tid, cur.partition};
		if (all) /* every partition, filtered here */
			rv = store_partitions_page(t->store, &k, PAGE_ROWS, &n,
						   page_partition_since, &fp);
		else
			rv = store_broker_partitions_since_page(
			    t->store, broker, since, &k, PAGE_ROWS, &n,
			    page_partition, &fp);
		cur.tid = k.tid;
		cur.partition = k.partition;
		scanned += n;
		/* A full page, or (every partition's walk) enough rows
		 * looked at for one answer, most perhaps unchanged: the
		 * broker asks for the next page. */
		if (rv == 1 ||
		    (all && n == PAGE_ROWS && scanned >= SCAN_ROWS)) {
			*more = 1;
			*next = cur;
			return 0;
		}
		if (rv != 0)
			return -1;
	} while (n == PAGE_ROWS);
	return 0;
}

void tp_handle_fetch(struct topics *t, struct sconn *sc,
		     const struct frame_header *h,
		     Synod__Wire__MetadataFetchRequest *req)
{
	Synod__Wire__MetadataFetchResponse r =
	    SYNOD__WIRE__METADATA_FETCH_RESPONSE__INIT;
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__TopicState **tp = NULL;
	Synod__Wire__PartitionState **pp = NULL;
	Synod__Wire__BrokerState **bp = NULL;
	struct push_ctx x;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0, since = req->since_version;
	uint64_t version = store_applied_index(t->store);
	uint64_t read_version = version; /* this page's, whatever it says */
	int code = topics_check_active(t);
	memset(&x, 0, sizeof x);
	x.t = t;
	if (code == SYNOD_OK)
		code = brokers_check(t->brokers, req->broker_id,
				     req->broker_epoch);
	struct cursor c, next;
	uint8_t next_buf[CURSOR_LEN];
	int more = 0, paged = req->has_pages && req->pages;
	int all = req->has_all_partitions && req->all_partitions;
	int first = !req->has_cursor, restored = 0;
	if (code == SYNOD_OK && paged && req->has_cursor &&
	    (tp_cursor_get(&req->cursor, &c) != 0 || c.version > version))
		code = SYNOD_EINVALID_REQUEST;
	/* Later pages answer at the version of the first. */
	if (code == SYNOD_OK && paged && !first)
		version = c.version;
	if (since > version) {
		/* From a history this controller does not hold (restored from
		 * an older backup?): start over, and say so on every page. */
		since = 0;
		restored = 1;
	}
	if (code == SYNOD_OK && all && !paged)
		code = SYNOD_EINVALID_REQUEST; /* every partition: pages only */
	if (code == SYNOD_OK && paged) {
		if (fetch_page(t, req->broker_id, since, first ? NULL : &c,
			       version,
			       req->has_with_brokers && req->with_brokers, all,
			       &x, &more, &next) != 0 ||
		    x.failed)
			code = SYNOD_EUNKNOWN;
	} else if (code == SYNOD_OK &&
		   (store_topics_since(t->store, since, push_live, push_deleted,
				       &x) != STORE_OK ||
		    store_broker_partitions(t->store, req->broker_id, since,
					    fetch_partition, &x) != STORE_OK ||
		    (req->with_brokers && fetch_brokers(t, &x) != 0) ||
		    x.failed))
		code = SYNOD_EUNKNOWN;
	if (code == SYNOD_OK) {
		tp = calloc(x.n_topics + 1, sizeof *tp);
		pp = calloc(x.n_states + 1, sizeof *pp);
		bp = calloc(x.n_bstates + 1, sizeof *bp);
		if (tp == NULL || pp == NULL || bp == NULL)
			code = SYNOD_EUNKNOWN;
	}
	if (code == SYNOD_OK) {
		for (size_t i = 0; i < x.n_bstates; i++)
			bp[i] = &x.bstates[i];
		for (size_t i = 0; i < x.n_topics; i++)
			tp[i] = &x.topics[i];
		for (size_t i = 0; i < x.n_states; i++) {
			size_t off = (size_t)(uintptr_t)x.states[i].replicas;
			x.states[i].replicas = x.ids + off;
			x.states[i].isr = x.ids + off + x.states[i].n_replicas;
			pp[i] = &x.states[i];
		}
		d.prev_version = since;
		d.version = version;
		d.has_full = 1;
		d.full = since == 0 && first;
		if (more) {
			tp_cursor_put(&next, next_buf);
			r.has_next_cursor = 1;
			r.next_cursor.data = next_buf;
			r.next_cursor.len = CURSOR_LEN;
		}
		d.n_topics = x.n_topics;
		d.topics = tp;
		d.n_partitions = x.n_states;
		d.partitions = pp;
		d.n_brokers = x.n_bstates;
		d.brokers = bp;
		d.has_all_brokers = x.all_brokers;
		d.all_brokers = x.all_brokers;
		d.has_restored = restored;
		d.restored = restored;
		r.delta = &d;
		r.has_read_version = 1;
		r.read_version = read_version;
		r.has_pushed_version = 1;
		t->stats.fetches++;
		/* A later page leaves the push cursor alone: pushes made
		 * since the first page moved it past the answer's version,
		 * and putting it back would hide them from the broker (its
		 * next push would continue the answer's version). */
		if (first)
			brokers_synced(t->brokers, req->broker_id, version, sc);
		brokers_want_brokers(t->brokers, req->broker_id,
				     req->has_with_brokers &&
					 req->with_brokers);
		brokers_want_all(t->brokers, req->broker_id, all);
		/* Every push made since the first page: a broker holding
		 * them all has what pages read across changes missed. */
		r.pushed_version =
		    brokers_pushed_version(t->brokers, req->broker_id);
	}
	srv_fill_status(t->server, &st, code, NULL, &lid, leader,
			sizeof leader);
	r.status = &st;
	srv_send(sc, h, &r.base);
	free(tp);
	free(pp);
	free(bp);
	tp_push_free(&x);
	synod__wire__metadata_fetch_request__free_unpacked(req, NULL);
}
