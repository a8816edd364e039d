/* controller/topics.c - the topics module: its table of APIs and events,
 * leadership, the applied-entry hook; topic creation (placement, parked
 * creations), deletion and growth (APIs 17-19). See topics.h (what) and
 * topics_int.h (the shared state). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "configdefs.h"
#include "election.h"
#include "placement.h"
#include "recbuf.h"
#include "synod/client.h"
#include "settings.h"
#include "topics_int.h"

struct candidates {
	struct topics *t;
	struct pl_broker *b;
	char (*racks)[64];
	size_t n, cap;
	int failed;
};

static int add_candidate(void *arg, const struct store_broker *sb)
{
	struct candidates *c = arg;
	if (!brokers_alive(c->t->brokers, sb->id))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		void *b = realloc(c->b, cap * sizeof *c->b);
		void *r = b ? realloc(c->racks, cap * sizeof *c->racks) : NULL;
		if (b)
			c->b = b;
		if (r == NULL) {
			c->failed = 1;
			return -1;
		}
		c->racks = r;
		c->cap = cap;
	}
	snprintf(c->racks[c->n], 64, "%s", sb->has_rack ? sb->rack : "");
	memset(&c->b[c->n], 0, sizeof *c->b);
	c->b[c->n].id = sb->id;
	c->n++;
	return 0;
}

/* Alive brokers with their racks and current load. */
/* Alive brokers with their racks and current load. */
static int candidates_load(struct topics *t, struct candidates *c)
{
	memset(c, 0, sizeof *c);
	c->t = t;
	if (store_broker_list(t->store, add_candidate, c) != STORE_OK ||
	    c->failed)
		return -1;
	if (!t->load_valid) {
		tp_load_invalidate(t);
		if (store_replica_counts(t->store, tp_load_replicas, t) != 0 ||
		    store_leader_counts(t->store, tp_load_leaders, t) != 0) {
			tp_load_invalidate(t);
			return -1;
		}
		t->load_valid = 1;
	}
	for (size_t i = 0; i < c->n; i++) {
		struct load_entry *e = tp_load_get(t, c->b[i].id);
		c->b[i].rack = c->racks[i];
		if (e) {
			c->b[i].replicas = e->replicas;
			c->b[i].leaders = e->leaders;
		}
	}
	return 0;
}

/* Placement added to c's counts: keep them. */
static void candidates_keep(struct topics *t, struct candidates *c)
{
	for (size_t i = 0; t->load_valid && i < c->n; i++) {
		struct load_entry *e = tp_load_get(t, c->b[i].id);
		if (e) {
			e->replicas = c->b[i].replicas;
			e->leaders = c->b[i].leaders;
		}
	}
}

static void candidates_free(struct candidates *c)
{
	free(c->b);
	free(c->racks);
}

static int same_request(const struct tp_pending *e,
			const struct frame_header *h)
{
	return e->once && (h->flags & FRAME_F_CLIENT_ID) &&
	       e->request == h->correlation_id &&
	       memcmp(e->client_id, h->client_id, 16) == 0;
}

/* 1 when a creation of `name` is in flight: of another request, or of
 * this one's earlier items (entries from `before` on were added while
 * handling h now). An earlier attempt of the request h itself (a resend)
 * is not: it is proposed again, and apply skips it. */
static int pending_name(struct topics *t, const char *name,
			const struct frame_header *h, size_t before)
{
	for (size_t i = 0; i < t->n_pending; i++)
		if (strcmp(t->pending[i].name, name) == 0 &&
		    !(i < before && same_request(&t->pending[i], h)))
			return 1;
	return 0;
}

static void pending_remove(struct topics *t, const char *name)
{
	for (size_t i = 0; i < t->n_pending; i++)
		if (strcmp(t->pending[i].name, name) == 0) {
			free(t->pending[i].name);
			t->pending[i] = t->pending[--t->n_pending];
			return;
		}
}

static int pending_add(struct topics *t, const char *name,
		       const struct frame_header *h)
{
	struct tp_pending *e;
	if (t->n_pending == t->cap_pending) {
		size_t cap = t->cap_pending ? t->cap_pending * 2 : 16;
		void *p = realloc(t->pending, cap * sizeof *t->pending);
		if (p == NULL)
			return -1;
		t->pending = p;
		t->cap_pending = cap;
	}
	e = &t->pending[t->n_pending];
	if ((e->name = strdup(name)) == NULL)
		return -1;
	e->once = h->kind == FRAME_REQUEST && (h->flags & FRAME_F_CLIENT_ID);
	if (e->once) {
		memcpy(e->client_id, h->client_id, 16);
		e->request = h->correlation_id;
	}
	t->n_pending++;
	return 0;
}

static void pending_clear(struct topics *t)
{
	for (size_t i = 0; i < t->n_pending; i++)
		free(t->pending[i].name);
	t->n_pending = 0;
}

uint32_t tp_cluster_default(struct topics *t, const char *key)
{
	return (uint32_t)settings_u64(t->store, key);
}

/* Result of one topic of a CREATE_TOPICS request. */
struct ct_item {
	int code;
	char msg[160];
	uint8_t topic_id[16];
	unsigned first_rec; /* index of its CreateTopic record, or -1u */
	int no_id;	    /* OK without a topic id (see create_done) */
	char name[256];
};

static int check_assignment(struct topics *t,
			    const Synod__Wire__CreatableTopic *ct, char *msg,
			    size_t size)
{
	uint32_t rf = 0;
	for (size_t i = 0; i < ct->n_assignments; i++) {
		const Synod__Wire__ReplicaAssignment *a = ct->assignments[i];
		struct store_broker sb;
		unsigned alive = 0;
		if (a->partition != (int32_t)i) {
			snprintf(msg, size,
				 "assignments must cover partitions 0..%zu in "
				 "order",
				 ct->n_assignments - 1);
			return SYNOD_EINVALID_PARTITIONS;
		}
		if (i == 0)
			rf = (uint32_t)a->n_replicas;
		if (a->n_replicas == 0 || a->n_replicas != rf ||
		    a->n_replicas > EL_MAX_REPLICAS) {
			snprintf(msg, size,
				 "every partition needs the same number "
				 "(1-%d) of replicas",
				 EL_MAX_REPLICAS);
			return SYNOD_EINVALID_REPLICATION_FACTOR;
		}
		for (size_t k = 0; k < a->n_replicas; k++) {
			for (size_t j = 0; j < k; j++)
				if (a->replicas[j] == a->replicas[k]) {
					snprintf(msg, size,
						 "partition %zu lists broker "
						 "%d twice",
						 i, a->replicas[k]);
					return SYNOD_EINVALID_ARGUMENT;
				}
			if (store_broker_get(t->store, a->replicas[k], &sb) !=
			    STORE_OK) {
				snprintf(msg, size,
					 "broker %d is not registered",
					 a->replicas[k]);
				return SYNOD_EINVALID_ARGUMENT;
			}
			alive += brokers_alive(t->brokers, a->replicas[k]);
		}
		/* The ISR starts as the replicas alive (initial_state):
		 * none would leave the partition with nobody to lead it or
		 * an ISR of fenced brokers. */
		if (alive == 0) {
			snprintf(msg, size,
				 "every broker assigned to partition %zu is "
				 "fenced or shutting down",
				 i);
			return SYNOD_EINVALID_ARGUMENT;
		}
	}
	return SYNOD_OK;
}

/* The initial state: the ISR the replicas alive (a fenced or departing
 * broker is never added to an ISR), leader the first of them. Placement
 * places on alive brokers only and check_assignment wants one alive per
 * partition, so the ISR is never empty. */
static void initial_state(struct topics *t, const int32_t *replicas,
			  uint32_t rf, int32_t partition,
			  struct store_partition *p)
{
	memset(p, 0, sizeof *p);
	p->partition = partition;
	p->n_replicas = rf;
	memcpy(p->replicas, replicas, rf * sizeof(int32_t));
	p->leader = EL_NO_LEADER;
	for (uint32_t k = 0; k < rf; k++) {
		if (!brokers_alive(t->brokers, replicas[k]))
			continue;
		if (p->leader == EL_NO_LEADER)
			p->leader = replicas[k];
		p->isr[p->n_isr++] = replicas[k];
	}
}

static Synod__Rec__PartitionRecord **
partitions_records(struct topics *t, struct recbuf *rb, const int32_t *assign,
		   uint32_t first, uint32_t n, uint32_t rf)
{
	Synod__Rec__PartitionRecord **prs =
	    recbuf_alloc(rb, sizeof *prs * (n ? n : 1));
	if (prs == NULL)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		struct store_partition p;
		initial_state(t, assign + (size_t)i * rf, rf,
			      (int32_t)(first + i), &p);
		if ((prs[i] = tp_rec_partition(rb, &p)) == NULL)
			return NULL;
	}
	return prs;
}

/* The topics a request created, as apply kept them (envelope 5), read
 * once per request: names (owned) and ids, in name order. */
struct kept_topic {
	char *name;
	uint8_t id[16];
};
struct kept {
	int state; /* 0 not read yet, 1 read, -2 the store failed */
	size_t n, cap;
	struct kept_topic *v;
};

static int kept_add(void *arg, const char *name, const uint8_t *id)
{
	struct kept *k = arg;
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 8;
		void *p = realloc(k->v, cap * sizeof *k->v);
		if (p == NULL)
			return STORE_ENOMEM;
		k->v = p;
		k->cap = cap;
	}
	if ((k->v[k->n].name = strdup(name)) == NULL)
		return STORE_ENOMEM;
	memcpy(k->v[k->n++].id, id, 16);
	return 0;
}

static int kept_cmp(const void *key, const void *e)
{
	return strcmp(key, ((const struct kept_topic *)e)->name);
}

static void kept_free(struct kept *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i].name);
	free(k->v);
	memset(k, 0, sizeof *k);
}

/* What apply kept of the topics the request h created: 1 it created one
 * named `name` (its id, the first answer's, copied to id[16] even if the
 * topic was deleted or replaced since), 0 it created others, -1 none kept
 * (it created none, or was applied in an older envelope; also for h
 * without a client id), -2 the store failed or no memory. k: the
 * request's, read at the first call. */
static int kept_created(struct topics *t, const struct frame_header *h,
			struct kept *k, const char *name, uint8_t *id)
{
	const struct kept_topic *e;
	if (h->kind != FRAME_REQUEST || !(h->flags & FRAME_F_CLIENT_ID))
		return -1;
	if (k->state == 0)
		k->state = store_client_request_topics(t->store, h->client_id,
						       h->correlation_id,
						       kept_add, k) == STORE_OK
			       ? 1
			       : -2;
	if (k->state != 1)
		return -2;
	if (k->n == 0)
		return -1;
	e = bsearch(name, k->v, k->n, sizeof *k->v, kept_cmp);
	if (e == NULL)
		return 0;
	memcpy(id, e->id, 16);
	return 1;
}

/* kept_created() for a resend of a request applied before, with what
 * older envelopes allow when none is kept: a request that failed (failed:
 * its first apply kept a failure) created none, and one applied with
 * nothing failing takes a topic there now for its own (its id in id[16]),
 * as before envelope 5; -1 then only when none is there. */
static int resend_created(struct topics *t, const struct frame_header *h,
			  struct kept *k, const char *name, uint8_t *id,
			  int failed)
{
	struct store_topic there;
	int made = kept_created(t, h, k, name, id);
	if (made != -1)
		return made;
	if (failed)
		return 0;
	if (store_topic_get(t->store, name, &there) != STORE_OK)
		return -1;
	memcpy(id, there.topic_id, 16);
	return 1;
}

/* A resend of a request applied before that did not create a topic it
 * names: its first answer for it was an error, and apply skips the
 * resend's records, so the topic is not proposed again (nor answered OK,
 * which would say it exists). */
static void refused_before(struct ct_item *it)
{
	it->code = SYNOD_EBUSY;
	snprintf(it->msg, sizeof it->msg,
		 "this request was applied before without creating the "
		 "topic (it was answered an error then): send it again as "
		 "a new request");
}

static void create_done(struct node *n, struct waiter *w, int rc,
			const int *statuses)
{
	struct top *o = w->data;
	struct topics *t = o->t;
	struct ct_item *items = o->items;
	const struct frame_header *h = o->p ? &o->p->h : NULL;
	struct kept kept = {0};
	Synod__Wire__CreateTopicsResponse r =
	    SYNOD__WIRE__CREATE_TOPICS_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__TopicResult *res = calloc(o->n_items + 1, sizeof *res);
	Synod__Wire__TopicResult **rp = calloc(o->n_items + 1, sizeof *rp);
	Synod__Wire__Status *sts = calloc(o->n_items + 1, sizeof *sts);
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	for (unsigned i = 0; i < o->n_items; i++) {
		struct ct_item *it = &items[i];
		if (it->first_rec != -1u)
			pending_remove(t, it->name);
		if (it->code == SYNOD_OK && it->first_rec != -1u) {
			int st =
			    statuses ? statuses[it->first_rec] : STORE_R_OK;
			/* A record skipped at apply (DUPLICATE: a resend of
			 * a request applied before with nothing failed) or
			 * one that failed: only a kept creation makes it OK
			 * (apply skips all of a resend's records, so a record
			 * that failed now never created the topic). */
			int made = h == NULL || st == STORE_R_OK ? -1
				   : st == STORE_R_DUPLICATE
				       ? resend_created(t, h, &kept, it->name,
							it->topic_id, 0)
				       : kept_created(t, h, &kept, it->name,
						      it->topic_id);
			if (rc != SYNOD_OK)
				it->code = rc;
			else if (made == 1)
				; /* the first answer */
			else if (st == STORE_R_DUPLICATE && made == 0)
				refused_before(it);
			else if (st == STORE_R_DUPLICATE && made == -2)
				it->code = SYNOD_EUNKNOWN;
			else if (st == STORE_R_DUPLICATE)
				it->no_id = 1; /* older envelope, gone since */
			else if (st == STORE_R_STALE)
				it->code = SYNOD_ETOPIC_ALREADY_EXISTS;
			else if (st == STORE_R_REFUSED) {
				/* A chosen leader or ISR member left
				 * meanwhile. */
				it->code = SYNOD_EBUSY;
				snprintf(it->msg, sizeof it->msg,
					 "a chosen leader or in-sync replica "
					 "left while the topic was created: "
					 "retry");
			} else if (st != STORE_R_OK)
				it->code = SYNOD_EUNKNOWN;
			else
				t->stats.topics_created++;
		}
	}
	kept_free(&kept);
	if (res && rp && sts) {
		for (unsigned i = 0; i < o->n_items; i++) {
			synod__wire__topic_result__init(&res[i]);
			synod__wire__status__init(&sts[i]);
			sts[i].code = items[i].code;
			sts[i].message =
			    items[i].msg[0]
				? items[i].msg
				: (char *)synod_strerror(items[i].code);
			res[i].name = items[i].name;
			res[i].status = &sts[i];
			if (items[i].code == SYNOD_OK && !items[i].no_id) {
				res[i].has_topic_id = 1;
				res[i].topic_id.data = items[i].topic_id;
				res[i].topic_id.len = 16;
			}
			rp[i] = &res[i];
		}
		r.n_results = o->n_items;
		r.results = rp;
	}
	/* Leadership lost with the entry in flight: say so at the top, so
	 * clients retry on the new controller (a retry may then find the
	 * topic created: TOPIC_ALREADY_EXISTS). */
	srv_fill_status(t->server, &st,
			rc == SYNOD_ENOT_CONTROLLER ||
				rc == SYNOD_ESHUTTING_DOWN ||
				!(res && rp && sts)
			    ? rc
			    : SYNOD_OK,
			NULL, &lid, leader, sizeof leader);
	r.status = &st;
	r.has_metadata_version = 1;
	r.metadata_version = store_applied_index(n->fsm.store);
	if (o->p)
		srv_send(o->p->sc, &o->p->h, &r.base);
	free(res);
	free(rp);
	free(sts);
	if (o->p)
		srv_pending_free(o->p);
	tp_top_free(o);
}

/* Refuse, in linear time and before any placement or record is built, a
 * request that would create more than max.partitions.per.request
 * partitions: each request commits as one raft entry, which every node
 * applies in one loop turn. Returns -1 when it answered. */
static int check_create_size(struct topics *t, struct sconn *sc,
			     const struct frame_header *h,
			     Synod__Wire__CreateTopicsRequest *req)
{
	uint64_t cap = tp_cluster_default(t, "max.partitions.per.request");
	uint64_t dflt = tp_cluster_default(t, "num.partitions"), total = 0;
	char msg[200];
	for (size_t i = 0; i < req->n_topics; i++) {
		const Synod__Wire__CreatableTopic *ct = req->topics[i];
		total += ct->n_assignments    ? ct->n_assignments
			 : ct->has_partitions ? ct->partitions
					      : dflt;
	}
	if (total <= cap && req->n_topics <= cap)
		return 0;
	snprintf(msg, sizeof msg,
		 "the request creates %llu partitions in %zu topics: at most "
		 "%llu in one request (max.partitions.per.request)",
		 (unsigned long long)total, req->n_topics,
		 (unsigned long long)cap);
	srv_reply_status(sc, h, SYNOD_EINVALID_PARTITIONS, msg);
	synod__wire__create_topics_request__free_unpacked(req, NULL);
	return -1;
}

/* Partitions a CreateTopics request would create. */
static uint64_t create_weight(struct topics *t,
			      const Synod__Wire__CreateTopicsRequest *req)
{
	uint64_t dflt = tp_cluster_default(t, "num.partitions"), total = 0;
	for (size_t i = 0; i < req->n_topics; i++) {
		const Synod__Wire__CreatableTopic *ct = req->topics[i];
		total += ct->n_assignments    ? ct->n_assignments
			 : ct->has_partitions ? ct->partitions
					      : dflt;
	}
	return total;
}

/* Which topics repeat an earlier name in the request (NULL: no memory). */
static unsigned char *create_duplicates(Synod__Wire__CreateTopicsRequest *req)
{
	const char **names = malloc((req->n_topics + 1) * sizeof *names);
	unsigned char *dup = calloc(req->n_topics + 1, 1);
	if (names && dup) {
		for (size_t i = 0; i < req->n_topics; i++)
			names[i] = req->topics[i]->name;
		if (names_duplicates(names, req->n_topics, dup) < 0) {
			free(dup);
			dup = NULL;
		}
	} else {
		free(dup);
		dup = NULL;
	}
	free(names);
	return dup;
}

void tp_handle_create(struct topics *t, struct sconn *sc,
		      const struct frame_header *h,
		      Synod__Wire__CreateTopicsRequest *req)
{
	struct recbuf rb;
	struct candidates cand;
	struct ct_item *items;
	struct pending *p;
	struct top *o;
	unsigned char *dup;
	int rv = topics_check_active(t);
	struct store_client_request first;
	struct kept kept = {0};
	size_t before;
	uint32_t seed = 0;
	if (rv != SYNOD_OK || req->n_topics == 0) {
		srv_reply_status(sc, h,
				 rv != SYNOD_OK ? rv : SYNOD_EINVALID_ARGUMENT,
				 rv != SYNOD_OK ? NULL : "no topics");
		synod__wire__create_topics_request__free_unpacked(req, NULL);
		return;
	}
	if (check_create_size(t, sc, h, req) != 0)
		return;
	/* Wait for earlier proposals to apply when this one would take the
	 * partition records in flight past APPLY_WEIGHT_MAX. */
	{
		uint64_t w = create_weight(t, req);
		if (!t->resuming &&
		    (t->park_head ||
		     (t->weight > 0 && t->weight + w > APPLY_WEIGHT_MAX))) {
			struct parked *k = t->n_parked < MAX_PARKED
					       ? calloc(1, sizeof *k)
					       : NULL;
			struct pending *p2 =
			    k ? srv_pending_new(sc, h, req, NULL, NULL) : NULL;
			if (p2 == NULL) {
				free(k);
				srv_reply_status(sc, h, SYNOD_EBUSY,
						 "too many creations waiting");
				synod__wire__create_topics_request__free_unpacked(
				    req, NULL);
				return;
			}
			k->p = p2;
			k->weight = w;
			if (t->park_tail)
				t->park_tail->next = k;
			else
				t->park_head = k;
			t->park_tail = k;
			t->n_parked++;
			tp_jobs_kick(t);
			return;
		}
	}
	items = calloc(req->n_topics, sizeof *items);
	dup = items ? create_duplicates(req) : NULL;
	if (dup == NULL || candidates_load(t, &cand) != 0) {
		free(dup);
		free(items);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		synod__wire__create_topics_request__free_unpacked(req, NULL);
		return;
	}
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = (uint32_t)uv_now(t->node->loop);
	srv_resend_lookup(t->store, h, &first);
	before = t->n_pending;
	recbuf_init(&rb);
	for (size_t i = 0; i < req->n_topics; i++) {
		const Synod__Wire__CreatableTopic *ct = req->topics[i];
		struct ct_item *it = &items[i];
		struct store_topic existing;
		uint32_t np, rf;
		int32_t *assign = NULL;
		int made;
		it->first_rec = -1u;
		snprintf(it->name, sizeof it->name, "%s", ct->name);
		if (!topic_name_valid(ct->name)) {
			it->code = SYNOD_EINVALID_TOPIC;
			snprintf(it->msg, sizeof it->msg,
				 "topic names are 1-249 of [a-zA-Z0-9._-], "
				 "not '.' or '..'");
			continue;
		}
		/* A resend of a request applied before (first): a later
		 * copy of a name it lists twice was refused then, and is
		 * again below. */
		made = first.seen && !dup[i]
			   ? resend_created(t, h, &kept, ct->name, it->topic_id,
					    first.outcome != STORE_R_OK)
			   : -1;
		if (made == 1)
			/* A resend of the creation of this topic, applied
			 * before (its answer was lost): the first answer,
			 * even if the topic was deleted or replaced since. */
			continue;
		if (made == -2) {
			it->code = SYNOD_EUNKNOWN;
			snprintf(it->msg, sizeof it->msg,
				 "could not read the request's outcome");
			continue;
		}
		if (store_topic_get(t->store, ct->name, &existing) ==
			STORE_OK ||
		    pending_name(t, ct->name, h, before)) {
			it->code = SYNOD_ETOPIC_ALREADY_EXISTS;
			continue;
		}
		if (dup[i])
			it->code = SYNOD_EINVALID_ARGUMENT;
		if (it->code) {
			snprintf(it->msg, sizeof it->msg,
				 "topic listed twice in the request");
			continue;
		}
		for (size_t k = 0; k < ct->n_configs; k++)
			if (configdef_validate(SYNOD_SCOPE_TOPIC,
					       ct->configs[k]->key,
					       ct->configs[k]->value, it->msg,
					       sizeof it->msg) != 0)
				it->code = SYNOD_EINVALID_CONFIG;
		if (it->code)
			continue;
		if (ct->n_assignments > 0) {
			if (ct->has_partitions || ct->has_replication_factor) {
				it->code = SYNOD_EINVALID_ARGUMENT;
				snprintf(it->msg, sizeof it->msg,
					 "give assignments or partitions and "
					 "replication factor, not both");
				continue;
			}
			it->code =
			    check_assignment(t, ct, it->msg, sizeof it->msg);
			if (it->code)
				continue;
			np = (uint32_t)ct->n_assignments;
			rf = (uint32_t)ct->assignments[0]->n_replicas;
			assign = malloc((size_t)np * rf * sizeof *assign);
			for (uint32_t k = 0; assign && k < np; k++)
				memcpy(assign + (size_t)k * rf,
				       ct->assignments[k]->replicas,
				       rf * sizeof *assign);
		} else {
			np = ct->has_partitions
				 ? ct->partitions
				 : tp_cluster_default(t, "num.partitions");
			rf = ct->has_replication_factor
				 ? ct->replication_factor
				 : tp_cluster_default(
				       t, "default.replication.factor");
			if (np == 0 || np > MAX_PARTITIONS_PER_TOPIC) {
				it->code = SYNOD_EINVALID_PARTITIONS;
				snprintf(it->msg, sizeof it->msg,
					 "partitions must be 1-%u",
					 MAX_PARTITIONS_PER_TOPIC);
				continue;
			}
			if (rf == 0 || rf > cand.n || rf > EL_MAX_REPLICAS) {
				it->code = SYNOD_EINVALID_REPLICATION_FACTOR;
				snprintf(it->msg, sizeof it->msg,
					 "replication factor %u with %zu "
					 "unfenced brokers",
					 rf, cand.n);
				continue;
			}
			assign = malloc((size_t)np * rf * sizeof *assign);
			if (assign &&
			    placement_assign(cand.b, cand.n, np, rf, seed + i,
					     assign) != PL_OK) {
				free(assign);
				assign = NULL;
			}
		}
		if (assign == NULL) {
			it->code = SYNOD_EUNKNOWN;
			snprintf(it->msg, sizeof it->msg, "placement failed");
			continue;
		}
		if (made == 0) {
			/* Passes every check now, but the first attempt did
			 * not create it. */
			refused_before(it);
			free(assign);
			continue;
		}
		if (getrandom(it->topic_id, 16, 0) != 16) {
			for (int k = 0; k < 16; k++)
				it->topic_id[k] = (uint8_t)rand();
		}
		it->topic_id[6] = (it->topic_id[6] & 0x0f) | 0x40;
		it->topic_id[8] = (it->topic_id[8] & 0x3f) | 0x80;
		if (!req->validate_only) {
			Synod__Rec__Record *r = recbuf_add(&rb);
			Synod__Rec__CreateTopic *c =
			    recbuf_alloc(&rb, sizeof *c);
			if (r && c) {
				it->first_rec = rb.n - 1;
				synod__rec__create_topic__init(c);
				c->name = (char *)ct->name;
				c->topic_id.data = it->topic_id;
				c->topic_id.len = 16;
				c->n_partitions = np;
				c->partitions = partitions_records(
				    t, &rb, assign, 0, np, rf);
				r->body_case =
				    SYNOD__REC__RECORD__BODY_CREATE_TOPIC;
				r->create_topic = c;
				t->stats.partitions_created += np;
			}
			for (size_t k = 0; k < ct->n_configs; k++) {
				Synod__Rec__Record *cr = recbuf_add(&rb);
				Synod__Rec__SetConfig *sc2 =
				    recbuf_alloc(&rb, sizeof *sc2);
				if (cr == NULL || sc2 == NULL)
					break;
				synod__rec__set_config__init(sc2);
				sc2->scope = SYNOD_SCOPE_TOPIC;
				sc2->resource = (char *)ct->name;
				sc2->key = ct->configs[k]->key;
				sc2->value = ct->configs[k]->value;
				cr->body_case =
				    SYNOD__REC__RECORD__BODY_SET_CONFIG;
				cr->set_config = sc2;
			}
			if (it->first_rec != -1u)
				pending_add(t, ct->name, h);
		}
		free(assign);
	}
	if (!req->validate_only)
		candidates_keep(t, &cand);
	candidates_free(&cand);
	kept_free(&kept);
	free(dup);
	p = srv_pending_new(sc, h, req, NULL, NULL);
	o = p ? tp_top_new(t, p, create_done) : NULL;
	if (o == NULL || rb.failed) {
		for (size_t i = 0; i < req->n_topics; i++)
			if (items[i].first_rec != -1u)
				pending_remove(t, items[i].name);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (o)
			tp_top_free(o);
		if (p)
			srv_pending_free(p);
		else
			synod__wire__create_topics_request__free_unpacked(req,
									  NULL);
		free(items);
		recbuf_free(&rb);
		return;
	}
	o->items = items;
	o->n_items = (unsigned)req->n_topics;
	if (rb.n == 0) {
		/* validate_only, or nothing valid: answer now. */
		create_done(t->node, &o->w, SYNOD_OK, NULL);
		recbuf_free(&rb);
		return;
	}
	srv_waiter_once(&o->w, &p->h);
	rv = node_propose(t->node, (const Synod__Rec__Record *const *)rb.recs,
			  rb.n, &o->w);
	recbuf_free(&rb);
	if (rv != SYNOD_OK)
		create_done(t->node, &o->w, rv, NULL);
	else
		tp_weigh(t, o, create_weight(t, req));
}

/* ---- deletion and growth ---- */

static void simple_done(struct node *n, struct waiter *w, int rc,
			const int *statuses)
{
	struct top *o = w->data;
	struct topics *t = o->t;
	int code = rc;
	(void)n;
	if (code == SYNOD_OK && statuses && o->n_items > 0) {
		for (unsigned i = 0; i < o->n_items; i++)
			if (statuses[i] == STORE_R_NOT_FOUND)
				code = SYNOD_EUNKNOWN_TOPIC;
			else if (statuses[i] == STORE_R_STALE)
				code = SYNOD_EINVALID_UPDATE_VERSION;
			else if (statuses[i] == STORE_R_REFUSED)
				code = SYNOD_EBUSY;
			else if (statuses[i] != STORE_R_OK &&
				 statuses[i] != STORE_R_DUPLICATE)
				code = SYNOD_EUNKNOWN;
	}
	tp_failed_proposal(t, o, rc);
	if (o->p) {
		srv_reply_status(o->p->sc, &o->p->h, code,
				 code == SYNOD_OK ? "done" : NULL);
		srv_pending_free(o->p);
	}
	tp_top_free(o);
}

static void propose_for(struct topics *t, struct sconn *sc,
			const struct frame_header *h, void *req,
			struct recbuf *rb, uint64_t weight)
{
	struct pending *p = srv_pending_new(sc, h, req, NULL, NULL);
	struct top *o = p ? tp_top_new(t, p, simple_done) : NULL;
	int rv;
	if (o == NULL || rb->failed) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (o)
			tp_top_free(o);
		if (p)
			srv_pending_free(p);
		else
			protobuf_c_message_free_unpacked(req, NULL);
		return;
	}
	o->n_items = rb->n;
	srv_waiter_once(&o->w, &p->h);
	rv = node_propose(t->node, (const Synod__Rec__Record *const *)rb->recs,
			  rb->n, &o->w);
	if (rv != SYNOD_OK)
		simple_done(t->node, &o->w, rv, NULL);
	else
		tp_weigh(t, o, weight);
}

static void handle_delete(struct topics *t, struct sconn *sc,
			  const struct frame_header *h,
			  Synod__Wire__DeleteTopicsRequest *req)
{
	struct recbuf rb;
	int rv = topics_check_active(t);
	uint64_t weight = 0, cap;
	char msg[300];
	if (rv != SYNOD_OK || req->n_names == 0) {
		srv_reply_status(sc, h, rv ? rv : SYNOD_EINVALID_ARGUMENT,
				 rv ? NULL : "no topics");
		synod__wire__delete_topics_request__free_unpacked(req, NULL);
		return;
	}
	if (srv_resend_applied(t->store, h)) {
		/* Applied before, its answer lost: the topics are gone now
		 * (UNKNOWN_TOPIC would say this deletion did nothing). */
		srv_reply_status(sc, h, SYNOD_OK, "done");
		synod__wire__delete_topics_request__free_unpacked(req, NULL);
		return;
	}
	if (req->n_names > MAX_NAMES_PER_REQUEST) {
		snprintf(msg, sizeof msg,
			 "%zu topics named: at most %u in one request",
			 req->n_names, MAX_NAMES_PER_REQUEST);
		srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT, msg);
		synod__wire__delete_topics_request__free_unpacked(req, NULL);
		return;
	}
	{
		unsigned char *dup = calloc(req->n_names, 1);
		long n_dup =
		    dup ? names_duplicates((const char *const *)req->names,
					   req->n_names, dup)
			: -1;
		for (size_t i = 0; n_dup > 0 && i < req->n_names; i++)
			if (dup[i]) {
				snprintf(msg, sizeof msg,
					 "topic %s listed twice",
					 req->names[i]);
				break;
			}
		free(dup);
		if (n_dup != 0) {
			srv_reply_status(sc, h,
					 n_dup < 0 ? SYNOD_EUNKNOWN
						   : SYNOD_EINVALID_ARGUMENT,
					 n_dup < 0 ? "out of memory" : msg);
			synod__wire__delete_topics_request__free_unpacked(req,
									  NULL);
			return;
		}
	}
	cap = tp_cluster_default(t, "max.partitions.per.request");
	recbuf_init(&rb);
	for (size_t i = 0; i < req->n_names; i++) {
		struct store_topic tp;
		Synod__Rec__Record *r;
		Synod__Rec__RemoveTopic *rt;
		uint8_t *id;
		if (store_topic_get(t->store, req->names[i], &tp) != STORE_OK) {
			snprintf(msg, sizeof msg, "no topic %s", req->names[i]);
			srv_reply_status(sc, h, SYNOD_EUNKNOWN_TOPIC, msg);
			recbuf_free(&rb);
			synod__wire__delete_topics_request__free_unpacked(req,
									  NULL);
			return;
		}
		if (i > 0 && weight + tp.n_partitions > cap) {
			/* One entry removes them all: keep it applicable in
			 * one short loop turn (a single topic always goes). */
			snprintf(msg, sizeof msg,
				 "the topics named have more than %llu "
				 "partitions together (max.partitions.per."
				 "request): delete fewer per request",
				 (unsigned long long)cap);
			srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT, msg);
			recbuf_free(&rb);
			synod__wire__delete_topics_request__free_unpacked(req,
									  NULL);
			return;
		}
		weight += tp.n_partitions;
		r = recbuf_add(&rb);
		rt = recbuf_alloc(&rb, sizeof *rt);
		id = recbuf_alloc(&rb, 16);
		if (r == NULL || rt == NULL || id == NULL)
			break;
		synod__rec__remove_topic__init(rt);
		memcpy(id, tp.topic_id, 16);
		rt->topic_id.data = id;
		rt->topic_id.len = 16;
		r->body_case = SYNOD__REC__RECORD__BODY_REMOVE_TOPIC;
		r->remove_topic = rt;
	}
	propose_for(t, sc, h, req, &rb, weight);
	recbuf_free(&rb);
}

static void handle_grow(struct topics *t, struct sconn *sc,
			const struct frame_header *h,
			Synod__Wire__CreatePartitionsRequest *req)
{
	struct store_topic tp;
	struct store_partition p0;
	struct candidates cand;
	struct recbuf rb;
	int32_t *assign = NULL;
	uint32_t rf, add;
	char msg[200];
	int rv = topics_check_active(t);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		goto free_req;
	}
	if (srv_resend_applied(t->store, h)) {
		srv_reply_status(sc, h, SYNOD_OK, "done");
		goto free_req;
	}
	if (store_topic_get(t->store, req->name, &tp) != STORE_OK) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN_TOPIC, NULL);
		goto free_req;
	}
	if (req->total <= tp.n_partitions ||
	    req->total > MAX_PARTITIONS_PER_TOPIC) {
		snprintf(msg, sizeof msg,
			 "topic %s has %u partitions: the new total must be "
			 "larger (at most %u)",
			 tp.name, tp.n_partitions, MAX_PARTITIONS_PER_TOPIC);
		srv_reply_status(sc, h, SYNOD_EINVALID_PARTITIONS, msg);
		goto free_req;
	}
	if (tp_current(t, tp.tid, 0, &p0, NULL) != STORE_OK ||
	    candidates_load(t, &cand) != 0) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, NULL);
		goto free_req;
	}
	rf = p0.n_replicas;
	add = req->total - tp.n_partitions;
	if (add > tp_cluster_default(t, "max.partitions.per.request")) {
		snprintf(msg, sizeof msg,
			 "%u new partitions: at most %u in one request "
			 "(max.partitions.per.request); tp_grow in steps",
			 add,
			 tp_cluster_default(t, "max.partitions.per.request"));
		candidates_free(&cand);
		srv_reply_status(sc, h, SYNOD_EINVALID_PARTITIONS, msg);
		goto free_req;
	}
	if (rf > cand.n) {
		snprintf(msg, sizeof msg,
			 "replication factor %u with %zu unfenced brokers", rf,
			 cand.n);
		candidates_free(&cand);
		srv_reply_status(sc, h, SYNOD_EINVALID_REPLICATION_FACTOR, msg);
		goto free_req;
	}
	assign = malloc((size_t)add * rf * sizeof *assign);
	if (assign == NULL ||
	    placement_assign(cand.b, cand.n, add, rf, (uint32_t)tp.tid,
			     assign) != PL_OK) {
		free(assign);
		candidates_free(&cand);
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "placement failed");
		goto free_req;
	}
	if (!req->validate_only)
		candidates_keep(t, &cand);
	candidates_free(&cand);
	if (req->validate_only) {
		free(assign);
		srv_reply_status(sc, h, SYNOD_OK, "valid");
		goto free_req;
	}
	recbuf_init(&rb);
	{
		Synod__Rec__Record *r = recbuf_add(&rb);
		Synod__Rec__CreatePartitions *c = recbuf_alloc(&rb, sizeof *c);
		uint8_t *id = recbuf_alloc(&rb, 16);
		if (r && c && id) {
			synod__rec__create_partitions__init(c);
			memcpy(id, tp.topic_id, 16);
			c->topic_id.data = id;
			c->topic_id.len = 16;
			c->n_partitions = add;
			c->partitions = partitions_records(
			    t, &rb, assign, tp.n_partitions, add, rf);
			r->body_case =
			    SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS;
			r->create_partitions = c;
			t->stats.partitions_created += add;
		}
	}
	free(assign);
	propose_for(t, sc, h, req, &rb, add);
	recbuf_free(&rb);
	return;
free_req:
	synod__wire__create_partitions_request__free_unpacked(req, NULL);
}

/* ---- lifecycle ---- */

void topics_leadership(struct topics *t, int active)
{
	t->gen++;
	t->n_recheck = 0;
	/* Walks of the old term end (a departure reports NOT_CONTROLLER). */
	tp_jobs_fail_all(t,
			 active ? SYNOD_EUNAVAILABLE : SYNOD_ENOT_CONTROLLER);
	tp_parked_fail(t, active ? SYNOD_EUNAVAILABLE : SYNOD_ENOT_CONTROLLER);
	tp_ov_clear(t);
	tp_load_invalidate(t);
	pending_clear(t);
	t->active = active;
	if (active) {
		/* The repair sweep runs at the first tick, then every
		 * REPAIR_INTERVAL_MS. The takeover's sweeps are queued once:
		 * now, with the broker sessions loaded (the previous term's
		 * entries have applied: leadership follows a barrier), else
		 * at the first tick that finds them. */
		t->next_repair_ms = 0;
		t->next_rebalance_ms =
		    uv_now(t->node->loop) +
		    1000ull * tp_cluster_default(
				  t, "leader.imbalance.check.interval.seconds");
		uv_timer_start(&t->timer, tp_on_rebalance_tick,
			       REBALANCE_POLL_MS, REBALANCE_POLL_MS);
		t->sweeps_due = SWEEP_OFFLINE | SWEEP_ISR;
		if (topics_check_active(t) == SYNOD_OK)
			tp_takeover_sweeps(t);
	} else {
		uv_timer_stop(&t->timer);
	}
}

int topics_new(struct server *s, struct brokers *b, struct topics **out)
{
	struct topics *t = calloc(1, sizeof *t);
	if (t == NULL)
		return -1;
	t->server = s;
	t->node = s->node;
	t->brokers = b;
	t->store = s->node->fsm.store;
	uv_timer_init(s->loop, &t->timer);
	t->timer.data = t;
	uv_idle_init(s->loop, &t->jobs_idle);
	t->jobs_idle.data = t;
	t->open_handles = 2;
	/* A page of a walk is one proposal: small enough for one entry of
	 * max_frame_bytes (a PartitionChange packs to under 256 bytes) and
	 * quick to apply on a follower. */
	t->page = 1000;
	if (t->page > s->node->cfg->max_batch_records)
		t->page = s->node->cfg->max_batch_records;
	if (t->page > s->node->cfg->max_frame / 256)
		t->page = (unsigned)(s->node->cfg->max_frame / 256);
	if (t->page < 16)
		t->page = 16;
	*out = t;
	return 0;
}

void tp_topics_free(struct topics *t)
{
	free(t->recheck);
	tp_ov_clear(t);
	tp_load_invalidate(t);
	pending_clear(t);
	free(t->pending);
	free(t);
}

static void handle_closed(uv_handle_t *h)
{
	struct topics *t = h->data;
	if (--t->open_handles > 0)
		return;
	t->closing = 2;
	if (t->ops == 0)
		tp_topics_free(t);
}

void topics_close(struct topics *t)
{
	tp_jobs_fail_all(t, SYNOD_ESHUTTING_DOWN);
	tp_parked_fail(t, SYNOD_ESHUTTING_DOWN);
	t->closing = 1;
	t->active = 0;
	t->gen++;
	uv_close((uv_handle_t *)&t->timer, handle_closed);
	uv_close((uv_handle_t *)&t->jobs_idle, handle_closed);
}

const struct topics_stats *topics_stats(const struct topics *t)
{
	return &t->stats;
}

/* ---- the module ---- */

/* api_handle_x(): the module_handler of handle_x. */
#define WRAP(fn)                                                               \
	static void api_##fn(void *self, struct sconn *sc,                     \
			     const struct frame_header *h,                     \
			     ProtobufCMessage *msg)                            \
	{                                                                      \
		fn(self, sc, h, (void *)msg);                                  \
	}
WRAP(tp_handle_fetch)
WRAP(tp_handle_alter)
WRAP(tp_handle_alter_batch)
WRAP(tp_handle_create)
WRAP(handle_delete)
WRAP(handle_grow)
WRAP(tp_handle_describe)
WRAP(tp_handle_elect)

static const struct module_api topics_apis[] = {
    {SYNOD_API_METADATA_FETCH, "METADATA_FETCH", 1, 1, 1,
     &synod__wire__metadata_fetch_request__descriptor, api_tp_handle_fetch,
     ACL_BROKER, NULL},
    {SYNOD_API_ALTER_PARTITION, "ALTER_PARTITION", 1, 1, 1,
     &synod__wire__alter_partition_request__descriptor, api_tp_handle_alter,
     ACL_BROKER, NULL},
    {SYNOD_API_CREATE_TOPICS, "CREATE_TOPICS", 1, 1, 1,
     &synod__wire__create_topics_request__descriptor, api_tp_handle_create,
     ACL_WRITE, NULL},
    {SYNOD_API_DELETE_TOPICS, "DELETE_TOPICS", 1, 1, 1,
     &synod__wire__delete_topics_request__descriptor, api_handle_delete,
     ACL_WRITE, NULL},
    {SYNOD_API_CREATE_PARTITIONS, "CREATE_PARTITIONS", 1, 1, 1,
     &synod__wire__create_partitions_request__descriptor, api_handle_grow,
     ACL_WRITE, NULL},
    {SYNOD_API_DESCRIBE_TOPICS, "DESCRIBE_TOPICS", 1, 1, 1,
     &synod__wire__describe_topics_request__descriptor, api_tp_handle_describe,
     ACL_READ, NULL},
    {SYNOD_API_ELECT_LEADERS, "ELECT_LEADERS", 1, 1, 1,
     &synod__wire__elect_leaders_request__descriptor, api_tp_handle_elect,
     ACL_WRITE, NULL},
    {SYNOD_API_ALTER_PARTITIONS, "ALTER_PARTITIONS", 1, 1, 1,
     &synod__wire__alter_partitions_request__descriptor,
     api_tp_handle_alter_batch, ACL_WRITE, NULL},
};

static void mod_leadership(void *self, int active)
{
	topics_leadership(self, active);
}

static void mod_applied(void *self, uint64_t index,
			const Synod__Rec__RecordBatch *b)
{
	topics_applied(self, index, b);
}

static void mod_close(void *self)
{
	topics_close(self);
}

static void mod_status(void *self, Synod__Wire__NodeStatusResponse *m)
{
	struct topics *t = self;
	if (!t->active)
		return;
	m->has_fetches = m->has_leader_changes = m->has_isr_changes = 1;
	m->has_isr_waits = m->has_partition_changes_in_flight = 1;
	m->partition_changes_in_flight = t->ov_count;
	m->fetches = t->stats.fetches;
	m->leader_changes = t->stats.elections;
	m->isr_changes = t->stats.isr_changes;
	m->isr_waits = t->stats.isr_waits;
}

void topics_module(struct topics *t, struct module *m)
{
	memset(m, 0, sizeof *m);
	m->name = "topics";
	m->self = t;
	m->apis = topics_apis;
	m->n_apis = sizeof topics_apis / sizeof topics_apis[0];
	m->leadership = mod_leadership;
	m->applied = mod_applied;
	m->status = mod_status;
	m->close = mod_close;
}

void topics_broker_hooks(struct topics *t, struct brokers_hooks *h)
{
	memset(h, 0, sizeof *h);
	h->arg = t;
	h->depart = tp_hook_depart;
	h->back = tp_hook_back;
}
