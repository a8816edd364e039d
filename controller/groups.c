/* controller/groups.c - consumer groups on the active controller (see
 * groups.h and docs/groups.md).
 *
 * Model: the active controller keeps every group in memory as the store
 * has it (reloaded from the store after each of its own decisions
 * commits), plus what only lives in memory: sessions (deadlines), the
 * member's connection for pushes, and what each member was last told.
 *
 * Decisions: one at a time per group. A heartbeat that needs a change
 * builds every record of it (member metadata, group epoch, target
 * assignment, each member's reconciliation step) into one proposal; other
 * requests of that group wait in its queue until the proposal is applied
 * and the group reloaded, then run in order. A heartbeat that changes
 * nothing is answered from memory at once.
 */
#include "groups.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assignor.h"
#include "configdefs.h"
#include "log.h"
#include "publisher.h"
#include "random.h"
#include "recbuf.h"
#include "reconcile.h"
#include "settings.h"
#include "synod/client.h"

#define TICK_MS 100
#define MEMBER_ID_MAX 36
#define GROUP_ID_MAX 255

struct gwait {
	struct gwait *next;
	struct pending *p; /* the request (p->msg) and its connection */
};

struct gmember {
	char id[MEMBER_ID_MAX + 1];
	char *instance_id, *rack, *client_id, *client_host, *regex, *assignor;
	char **names;
	uint32_t n_names;
	int32_t rebalance_timeout_ms;
	struct rc_member rc; /* committed reconciliation state */
	uint64_t *target;    /* committed target, sorted keys */
	uint32_t n_target;
	/* memory only */
	uint64_t deadline_ms;
	uint64_t revoke_deadline_ms; /* 0: nothing to revoke */
	int static_left;
	struct sconn *sc;
	uint64_t assign_version; /* entry that last changed rc.assigned */
	uint64_t sent_version;	 /* last assignment version told */
	/* The member epoch of the last heartbeat answer: the member knew
	 * it, so it quotes no older one. Epochs moved by other members'
	 * entries reach it by push, which may still be on its way. */
	int32_t answered_epoch;
};

struct group {
	char *id;
	int32_t epoch, aepoch;
	char assignor[32];
	struct gmember **m;
	uint32_t n, cap;
	int busy;
	struct gwait *wait_head, *wait_tail;
	int dirty;	    /* topics changed: check the subscription */
	uint64_t meta_hash; /* subscribed topics when last assigned */
	uint64_t cfg_seen;  /* gs->cfg_gen when the times were read */
	uint32_t session_ms, interval_ms;
	/* No member's session or rebalance deadline is before this (a lower
	 * bound: the tick skips the group until then). */
	uint64_t check_at;
	/* Every member stable at the target epoch (set at reload): a steady
	 * heartbeat needs no decision. */
	int settled;
};

struct groups {
	struct server *server;
	struct node *node;
	struct store *store;
	uv_timer_t timer;
	int active;
	/* 1: active controller, but the groups could not be loaded (no
	 * memory): every tick tries again; requests are UNAVAILABLE. */
	int loading;
	int closing;
	unsigned ops; /* proposals whose waiters have not run */
	uint64_t gen;
	uint64_t cfg_gen;	 /* bumped when a config record is applied */
	uint64_t asg_seen;	 /* cfg_gen when asg_list was read */
	uint64_t tick_budget_ns; /* topic-change checks stop at this time */
	char asg_list[1025];	 /* group.consumer.assignors in effect */
	struct group **slots;	 /* open addressing by group id */
	/* Topics by id (reloads map every member's partition sets). */
	struct tcache_ent {
		uint8_t id[16];
		int64_t tid;
		uint32_t n_partitions;
		int found;
		uint64_t gen; /* store_topics_gen() + 1; 0: empty */
	} tcache[256];
	size_t cap, count;
	struct groups_stats stats;
};

/* One decision in flight. */
struct gop {
	struct waiter w;
	struct groups *gs;
	struct group *g;
	uint64_t gen;
	struct pending *p; /* the heartbeat being answered, or NULL */
	char member[MEMBER_ID_MAX + 1]; /* whose answer */
	int32_t answer_epoch;		/* -1/-2 on leave */
	int kind;
	int full; /* a full request: the answer carries the assignment */
};

enum { OP_HEARTBEAT, OP_FENCE, OP_DELETE, OP_REMOVE, OP_META };

/* ---- small helpers ---- */

/* The loop's time, refreshed: uv_now() is the start of the iteration,
 * and a deadline computed from it after a long iteration would shorten
 * a member's session by that iteration. */
static uint64_t now_ms(struct groups *gs)
{
	uv_update_time(gs->node->loop);
	return uv_now(gs->node->loop);
}

static char *dup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static uint32_t config_u32(struct groups *gs, const char *key)
{
	return (uint32_t)settings_u64(gs->store, key);
}

/* A group's override (consumer.<x>) when it has one, else the cluster's
 * group.consumer.<x>. */
static uint32_t group_value(struct groups *gs, const struct group *g,
			    const char *key)
{
	char ckey[64], *v = NULL;
	uint32_t x;
	if (store_config_get(gs->store, STORE_SCOPE_GROUP, g->id, key, &v) ==
		STORE_OK &&
	    v != NULL) {
		x = (uint32_t)strtoul(v, NULL, 10);
		free(v);
		return x;
	}
	free(v);
	snprintf(ckey, sizeof ckey, "group.%s", key);
	return config_u32(gs, ckey);
}

static uint32_t clamp_u32(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* The group's session timeout and heartbeat interval in effect: its
 * overrides or the cluster's values, kept within the cluster's bounds
 * (an override set before a bound moved is clamped). Read from the
 * store once per config change (gs->cfg_gen), not per heartbeat. */
static void group_times(struct groups *gs, struct group *g)
{
	uint32_t session, interval;
	if (g->cfg_seen == gs->cfg_gen)
		return;
	session =
	    clamp_u32(group_value(gs, g, "consumer.session.timeout.ms"),
		      config_u32(gs, "group.consumer.min.session.timeout.ms"),
		      config_u32(gs, "group.consumer.max.session.timeout.ms"));
	interval = clamp_u32(
	    group_value(gs, g, "consumer.heartbeat.interval.ms"),
	    config_u32(gs, "group.consumer.min.heartbeat.interval.ms"),
	    config_u32(gs, "group.consumer.max.heartbeat.interval.ms"));
	/* Several heartbeats per session, whatever the configs say. */
	if (interval >= session)
		interval = session / 3 ? session / 3 : 1;
	g->session_ms = session;
	g->interval_ms = interval;
	g->cfg_seen = gs->cfg_gen;
}

static uint32_t session_ms(struct groups *gs, struct group *g)
{
	group_times(gs, g);
	return g->session_ms;
}

static uint32_t interval_ms(struct groups *gs, struct group *g)
{
	group_times(gs, g);
	return g->interval_ms;
}

/* The assignors allowed (group.consumer.assignors): 1 when name is one;
 * first = the default. */
static int assignor_allowed(struct groups *gs, const char *name, char *first,
			    size_t size)
{
	char v[sizeof gs->asg_list], *save, *tok;
	int ok = 0;
	if (gs->asg_seen != gs->cfg_gen) {
		char *c = NULL;
		if (store_config_get(gs->store, SYNOD_SCOPE_CLUSTER, NULL,
				     "group.consumer.assignors",
				     &c) != STORE_OK ||
		    c == NULL)
			snprintf(gs->asg_list, sizeof gs->asg_list, "%s",
				 configdef_find("group.consumer.assignors")
				     ->default_value);
		else
			snprintf(gs->asg_list, sizeof gs->asg_list, "%s", c);
		free(c);
		gs->asg_seen = gs->cfg_gen;
	}
	memcpy(v, gs->asg_list, sizeof v);
	first[0] = '\0';
	for (tok = strtok_r(v, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (first[0] == '\0')
			snprintf(first, size, "%s", tok);
		if (name && strcmp(name, tok) == 0)
			ok = 1;
	}
	return name == NULL ? first[0] != '\0' : ok;
}

static int make_member_id(char *out)
{
	uint8_t r[16];
	if (net_random(r, sizeof r) != 0)
		return -1;
	net_uuid_text(r, out);
	return 0;
}

/* ---- the group table ---- */

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static struct group **slot_of(struct groups *gs, const char *id)
{
	size_t i = str_hash(id) & (gs->cap - 1);
	while (gs->slots[i] && strcmp(gs->slots[i]->id, id) != 0)
		i = (i + 1) & (gs->cap - 1);
	return &gs->slots[i];
}

static struct group *lookup(struct groups *gs, const char *id)
{
	return gs->cap ? *slot_of(gs, id) : NULL;
}

static int table_put(struct groups *gs, struct group *g)
{
	if ((gs->count + 1) * 2 > gs->cap) {
		struct group **old = gs->slots;
		size_t oc = gs->cap, cap = oc ? oc * 2 : 64;
		struct group **n = calloc(cap, sizeof *n);
		if (n == NULL)
			return -1;
		gs->slots = n;
		gs->cap = cap;
		for (size_t i = 0; i < oc; i++)
			if (old[i])
				*slot_of(gs, old[i]->id) = old[i];
		free(old);
	}
	*slot_of(gs, g->id) = g;
	gs->count++;
	return 0;
}

static void member_free(struct gmember *m)
{
	if (m == NULL)
		return;
	free(m->instance_id);
	free(m->rack);
	free(m->client_id);
	free(m->client_host);
	free(m->regex);
	free(m->assignor);
	for (uint32_t i = 0; i < m->n_names; i++)
		free(m->names[i]);
	free(m->names);
	rc_member_free(&m->rc);
	free(m->target);
	if (m->sc)
		srv_conn_unref(m->sc);
	free(m);
}

static void fail_waiting(struct group *g, int code)
{
	while (g->wait_head) {
		struct gwait *w = g->wait_head;
		g->wait_head = w->next;
		srv_reply_status(w->p->sc, &w->p->h, code, NULL);
		srv_pending_free(w->p);
		free(w);
	}
	g->wait_tail = NULL;
}

static void group_free(struct group *g)
{
	fail_waiting(g, SYNOD_ENOT_CONTROLLER);
	for (uint32_t i = 0; i < g->n; i++)
		member_free(g->m[i]);
	free(g->m);
	free(g->id);
	free(g);
}

/* Remove g from the table (backward-shift deletion) and free it. */
static void table_remove(struct groups *gs, struct group *g)
{
	size_t i = (size_t)(slot_of(gs, g->id) - gs->slots), j = i;
	gs->slots[i] = NULL;
	for (;;) {
		size_t k;
		j = (j + 1) & (gs->cap - 1);
		if (gs->slots[j] == NULL)
			break;
		k = str_hash(gs->slots[j]->id) & (gs->cap - 1);
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && (k <= i && k > j))) {
			gs->slots[i] = gs->slots[j];
			gs->slots[j] = NULL;
			i = j;
		}
	}
	gs->count--;
	group_free(g);
}

static void table_clear(struct groups *gs)
{
	for (size_t i = 0; i < gs->cap; i++)
		if (gs->slots[i])
			group_free(gs->slots[i]);
	free(gs->slots);
	gs->slots = NULL;
	gs->cap = gs->count = 0;
}

static struct gmember *find_member(struct group *g, const char *id)
{
	for (uint32_t i = 0; i < g->n; i++)
		if (strcmp(g->m[i]->id, id) == 0)
			return g->m[i];
	return NULL;
}

static struct gmember *find_instance(struct group *g, const char *inst)
{
	for (uint32_t i = 0; inst && i < g->n; i++)
		if (streq(g->m[i]->instance_id, inst))
			return g->m[i];
	return NULL;
}

static int add_member(struct group *g, struct gmember *m)
{
	if (g->n == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 8;
		void *n = realloc(g->m, cap * sizeof *g->m);
		if (n == NULL)
			return -1;
		g->m = n;
		g->cap = cap;
	}
	g->m[g->n++] = m;
	return 0;
}

/* ---- partition keys <-> topic ids ---- */

static uint64_t key_of(int64_t tid, int32_t p)
{
	return (uint64_t)tid << 32 | (uint32_t)p;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* A stored partition set as sorted keys (partitions of topics that no
 * longer exist are left out). *out is malloc'd (NULL when empty). */
/* A topic's tid and partition count by topic id: 0, or -1 when there is
 * no such topic. Cached until the store's topics change. */
static int topic_by_id(struct groups *gs, const uint8_t id[16], int64_t *tid,
		       uint32_t *n_partitions)
{
	uint64_t gen = store_topics_gen(gs->store) + 1, h = 0;
	for (int i = 0; i < 16; i++)
		h = h * 31 + id[i];
	struct tcache_ent *e = &gs->tcache[h % 256];
	if (e->gen != gen || memcmp(e->id, id, 16) != 0) {
		struct store_topic t;
		int rv = store_topic_get_by_id(gs->store, id, &t);
		if (rv != STORE_OK && rv != STORE_ENOTFOUND)
			return -1; /* not cached: a read error */
		memcpy(e->id, id, 16);
		e->gen = gen;
		e->found = rv == STORE_OK;
		e->tid = e->found ? t.tid : 0;
		e->n_partitions = e->found ? t.n_partitions : 0;
	}
	*tid = e->tid;
	*n_partitions = e->n_partitions;
	return e->found ? 0 : -1;
}

static int pset_keys(struct groups *gs, const struct store_pset *ps,
		     uint64_t **out, uint32_t *n)
{
	size_t total = 0, k = 0;
	*out = NULL;
	*n = 0;
	for (uint32_t i = 0; i < ps->n_topics; i++)
		total += ps->topics[i].n;
	if (total == 0)
		return 0;
	*out = malloc(total * sizeof **out);
	if (*out == NULL)
		return -1;
	for (uint32_t i = 0; i < ps->n_topics; i++) {
		int64_t tid;
		uint32_t np;
		if (topic_by_id(gs, ps->topics[i].topic_id, &tid, &np) != 0)
			continue;
		for (uint32_t j = 0; j < ps->topics[i].n; j++)
			if (ps->topics[i].partitions[j] >= 0 &&
			    (uint32_t)ps->topics[i].partitions[j] < np)
				(*out)[k++] =
				    key_of(tid, ps->topics[i].partitions[j]);
	}
	/* Stored sets are in key order already (topics by tid, partitions
	 * ascending): sort only when they are not. */
	for (size_t i = 1; i < k; i++)
		if ((*out)[i - 1] > (*out)[i]) {
			qsort(*out, k, sizeof **out, cmp_u64);
			break;
		}
	*n = (uint32_t)k;
	return 0;
}

/* Keys as record partition lists (one per topic), allocated in rb. */
static Synod__Rec__GroupPartitions **rec_parts(struct groups *gs,
					       struct recbuf *rb,
					       const uint64_t *keys, uint32_t n,
					       size_t *n_out)
{
	Synod__Rec__GroupPartitions **v;
	size_t topics = 0, t = 0;
	*n_out = 0;
	for (uint32_t i = 0; i < n; i++)
		if (i == 0 || keys[i] >> 32 != keys[i - 1] >> 32)
			topics++;
	if (topics == 0)
		return NULL;
	v = recbuf_alloc(rb, topics * sizeof *v);
	if (v == NULL)
		return NULL;
	for (uint32_t i = 0; i < n;) {
		int64_t tid = (int64_t)(keys[i] >> 32);
		uint32_t j = i;
		struct store_topic st;
		Synod__Rec__GroupPartitions *gp;
		while (j < n && keys[j] >> 32 == keys[i] >> 32)
			j++;
		gp = recbuf_alloc(rb, sizeof *gp);
		if (gp == NULL)
			return NULL;
		synod__rec__group_partitions__init(gp);
		if (store_topic_get_by_tid(gs->store, tid, &st) != STORE_OK) {
			i = j; /* deleted meanwhile: left out */
			continue;
		}
		gp->topic_id.data = recbuf_alloc(rb, 16);
		gp->partitions = recbuf_alloc(rb, (j - i) * sizeof(int32_t));
		if (gp->topic_id.data == NULL || gp->partitions == NULL)
			return NULL;
		memcpy(gp->topic_id.data, st.topic_id, 16);
		gp->topic_id.len = 16;
		for (uint32_t k = i; k < j; k++)
			gp->partitions[gp->n_partitions++] =
			    (int32_t)(uint32_t)keys[k];
		v[t++] = gp;
		i = j;
	}
	*n_out = t;
	return v;
}

/* Keys as a wire partition set (topic ids and names); free with
 * wire_pset_free. */
struct wire_pset {
	Synod__Wire__GroupPartitionSet set;
	Synod__Wire__GroupTopicPartitions *tps, **ptrs;
	uint8_t (*ids)[16];
	char **names;
	int32_t *parts;
};

static int wire_pset(struct groups *gs, const uint64_t *keys, uint32_t n,
		     struct wire_pset *w)
{
	size_t topics = 0, t = 0;
	memset(w, 0, sizeof *w);
	synod__wire__group_partition_set__init(&w->set);
	for (uint32_t i = 0; i < n; i++)
		if (i == 0 || keys[i] >> 32 != keys[i - 1] >> 32)
			topics++;
	if (topics == 0)
		return 0;
	w->tps = calloc(topics, sizeof *w->tps);
	w->ptrs = calloc(topics, sizeof *w->ptrs);
	w->ids = calloc(topics, sizeof *w->ids);
	w->names = calloc(topics, sizeof *w->names);
	w->parts = calloc(n, sizeof *w->parts);
	if (!w->tps || !w->ptrs || !w->ids || !w->names || !w->parts)
		return -1;
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i;
		struct store_topic st;
		Synod__Wire__GroupTopicPartitions *tp = &w->tps[t];
		while (j < n && keys[j] >> 32 == keys[i] >> 32)
			j++;
		if (store_topic_get_by_tid(gs->store, (int64_t)(keys[i] >> 32),
					   &st) != STORE_OK) {
			i = j;
			continue;
		}
		synod__wire__group_topic_partitions__init(tp);
		memcpy(w->ids[t], st.topic_id, 16);
		tp->topic_id.data = w->ids[t];
		tp->topic_id.len = 16;
		w->names[t] = strdup(st.name);
		tp->topic = w->names[t];
		tp->partitions = w->parts + i;
		for (uint32_t k = i; k < j; k++)
			tp->partitions[tp->n_partitions++] =
			    (int32_t)(uint32_t)keys[k];
		w->ptrs[t] = tp;
		t++;
		i = j;
	}
	w->set.topics = w->ptrs;
	w->set.n_topics = t;
	return 0;
}

static void wire_pset_free(struct wire_pset *w)
{
	for (size_t i = 0; w->names && i < w->set.n_topics; i++)
		free(w->names[i]);
	free(w->tps);
	free(w->ptrs);
	free(w->ids);
	free(w->names);
	free(w->parts);
}

/* A request's owned partitions as sorted keys (unknown topics and
 * partitions out of range are dropped: they cannot be held). */
static int owned_keys(struct groups *gs,
		      const Synod__Wire__GroupPartitionSet *o, uint64_t **out,
		      uint32_t *n)
{
	size_t total = 0, k = 0;
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < o->n_topics; i++)
		total += o->topics[i]->n_partitions;
	if (total == 0)
		return 0;
	*out = malloc(total * sizeof **out);
	if (*out == NULL)
		return -1;
	for (size_t i = 0; i < o->n_topics; i++) {
		const Synod__Wire__GroupTopicPartitions *tp = o->topics[i];
		int64_t tid;
		uint32_t np;
		if (tp->topic_id.len != 16 ||
		    topic_by_id(gs, tp->topic_id.data, &tid, &np) != 0)
			continue;
		for (size_t j = 0; j < tp->n_partitions; j++)
			if (tp->partitions[j] >= 0 &&
			    (uint32_t)tp->partitions[j] < np)
				(*out)[k++] = key_of(tid, tp->partitions[j]);
	}
	qsort(*out, k, sizeof **out, cmp_u64);
	/* Distinct. */
	{
		size_t w = 0;
		for (size_t i = 0; i < k; i++)
			if (w == 0 || (*out)[w - 1] != (*out)[i])
				(*out)[w++] = (*out)[i];
		k = w;
	}
	*n = (uint32_t)k;
	return 0;
}

/* Sets m's session deadline; the group's next check is no later. */
static void renew(struct group *g, struct gmember *m, uint64_t deadline)
{
	m->deadline_ms = deadline;
	if (deadline < g->check_at)
		g->check_at = deadline;
}

/* ---- loading a group from the store ---- */

struct reload {
	struct groups *gs;
	struct group *g;
	struct gmember **old;
	uint32_t n_old;
	uint64_t index;
	int failed;
	uint32_t cursor; /* where take_old() looks first */
};

/* The member's state before the reload. Both lists come in member id
 * order (the store's), so the search starts where the last one ended:
 * linear over a reload, not quadratic. */
static struct gmember *take_old(struct reload *r, const char *id)
{
	for (uint32_t k = 0; k < r->n_old; k++) {
		uint32_t i = (r->cursor + k) % r->n_old;
		if (r->old[i] && strcmp(r->old[i]->id, id) == 0) {
			struct gmember *m = r->old[i];
			r->old[i] = NULL;
			r->cursor = i + 1;
			return m;
		}
	}
	return NULL;
}

static int same_keys(const uint64_t *a, uint32_t na, const uint64_t *b,
		     uint32_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static int on_stored_member(void *arg, const struct store_group_member *sm)
{
	struct reload *r = arg;
	struct groups *gs = r->gs;
	struct gmember *m = calloc(1, sizeof *m), *old;
	if (m == NULL)
		goto nomem;
	snprintf(m->id, sizeof m->id, "%s", sm->member_id);
	m->instance_id = dup_opt(sm->instance_id);
	m->rack = dup_opt(sm->rack);
	m->client_id = dup_opt(sm->client_id);
	m->client_host = dup_opt(sm->client_host);
	m->regex = dup_opt(sm->subscribed_regex);
	m->assignor = dup_opt(sm->server_assignor);
	m->rebalance_timeout_ms = sm->rebalance_timeout_ms;
	if (sm->n_subscribed) {
		m->names = calloc(sm->n_subscribed, sizeof *m->names);
		if (m->names == NULL)
			goto nomem;
		for (uint32_t i = 0; i < sm->n_subscribed; i++)
			if ((m->names[m->n_names++] =
				 strdup(sm->subscribed_names[i])) == NULL)
				goto nomem;
	}
	m->rc.member_epoch = sm->member_epoch;
	m->rc.previous_epoch = sm->previous_epoch;
	m->rc.state = (enum rc_state)sm->state;
	if (pset_keys(gs, &sm->assigned, &m->rc.assigned, &m->rc.n_assigned) !=
		0 ||
	    pset_keys(gs, &sm->pending, &m->rc.pending_revocation,
		      &m->rc.n_pending) != 0 ||
	    pset_keys(gs, &sm->target, &m->target, &m->n_target) != 0)
		goto nomem;
	old = take_old(r, m->id);
	if (old) {
		m->deadline_ms = old->deadline_ms;
		m->revoke_deadline_ms = old->revoke_deadline_ms;
		m->static_left = old->static_left;
		m->sc = old->sc;
		old->sc = NULL;
		m->sent_version = old->sent_version;
		m->answered_epoch = old->answered_epoch;
		m->assign_version =
		    same_keys(old->rc.assigned, old->rc.n_assigned,
			      m->rc.assigned, m->rc.n_assigned)
			? old->assign_version
			: r->index;
		member_free(old);
	} else {
		m->deadline_ms = now_ms(gs) + session_ms(gs, r->g);
		m->assign_version = r->index;
	}
	/* The rebalance timeout runs while the member must revoke. */
	if (m->rc.state != RC_UNREVOKED_PARTITIONS)
		m->revoke_deadline_ms = 0;
	else if (m->revoke_deadline_ms == 0)
		m->revoke_deadline_ms =
		    now_ms(gs) + (uint64_t)m->rebalance_timeout_ms;
	if (add_member(r->g, m) != 0)
		goto nomem;
	return 0;
nomem:
	member_free(m);
	r->failed = 1;
	return -1;
}

static int on_stored_group(void *arg, const struct store_group *sg)
{
	struct group *g = arg;
	g->epoch = sg->group_epoch;
	g->aepoch = sg->assignment_epoch;
	snprintf(g->assignor, sizeof g->assignor, "%s", sg->assignor);
	return 0;
}

/* Make g what the store holds (after one of our decisions applied, or at
 * takeover). Returns 0, 1 when the group is gone from the store, -1 on
 * error (out of memory: the group is dropped from memory and reloaded at
 * the next takeover; its members' sessions go on being checked by the
 * controller that has them). */
static int reload_group(struct groups *gs, struct group *g, uint64_t index)
{
	struct reload r = {gs, g, g->m, g->n, index, 0, 0};
	int rv;
	rv = store_group_get(gs->store, g->id, on_stored_group, g);
	if (rv == STORE_ENOTFOUND)
		return 1;
	if (rv != STORE_OK)
		return -1;
	g->m = NULL;
	g->n = g->cap = 0;
	rv = store_group_members(gs->store, g->id, on_stored_member, &r);
	for (uint32_t i = 0; i < r.n_old; i++)
		member_free(r.old[i]);
	free(r.old);
	g->check_at = 0; /* deadlines may have moved: scan at the next tick */
	g->settled = g->epoch == g->aepoch;
	for (uint32_t i = 0; i < g->n && g->settled; i++)
		g->settled = g->m[i]->rc.state == RC_STABLE &&
			     g->m[i]->rc.member_epoch == g->aepoch;
	return rv == STORE_OK && !r.failed ? 0 : -1;
}

static struct group *group_new(const char *id)
{
	struct group *g = calloc(1, sizeof *g);
	if (g == NULL || (g->id = strdup(id)) == NULL) {
		free(g);
		return NULL;
	}
	return g;
}

/* ---- decisions ---- */

/* A member as a decision sees it: committed state, or what the decision
 * makes of it. */
struct pm {
	struct gmember *m; /* the committed member, or a joining one */
	struct rc_member rc;
	uint64_t *target;
	uint32_t n_target;
	int joined, removed, meta, target_changed, rc_changed, own_target;
	int own_m; /* m is the decision's copy (join, metadata change) */
	const uint64_t *reported; /* its owned partitions, when it said */
	uint32_t n_reported;
	int has_reported;
};

struct plan {
	struct groups *gs;
	struct group *g;
	struct recbuf rb;
	int32_t epoch, aepoch;
	char assignor[32];
	int group_new;
	struct pm *pm;
	uint32_t n;
	/* owner map for reconciliation: key -> 1 + pm index */
	uint64_t *okeys;
	uint32_t *oval;
	size_t ocap;
};

static void plan_free(struct plan *pl)
{
	for (uint32_t i = 0; i < pl->n; i++) {
		if (pl->pm[i].rc_changed)
			rc_member_free(&pl->pm[i].rc);
		if (pl->pm[i].own_target)
			free(pl->pm[i].target);
		if (pl->pm[i].own_m)
			member_free(pl->pm[i].m);
	}
	free(pl->pm);
	free(pl->okeys);
	free(pl->oval);
	recbuf_free(&pl->rb);
}

static int plan_init(struct plan *pl, struct groups *gs, struct group *g)
{
	memset(pl, 0, sizeof *pl);
	pl->gs = gs;
	pl->g = g;
	recbuf_init(&pl->rb);
	pl->epoch = g->epoch;
	pl->aepoch = g->aepoch;
	snprintf(pl->assignor, sizeof pl->assignor, "%s", g->assignor);
	pl->pm = calloc(g->n + 1, sizeof *pl->pm);
	if (pl->pm == NULL)
		return -1;
	for (uint32_t i = 0; i < g->n; i++) {
		struct pm *p = &pl->pm[pl->n++];
		p->m = g->m[i];
		p->rc = g->m[i]->rc;
		p->target = g->m[i]->target;
		p->n_target = g->m[i]->n_target;
	}
	return 0;
}

static struct pm *plan_find(struct plan *pl, const struct gmember *m)
{
	for (uint32_t i = 0; i < pl->n; i++)
		if (pl->pm[i].m == m)
			return &pl->pm[i];
	return NULL;
}

/* Topics a set of members subscribes to (names and regexes), sorted by
 * tid, distinct. */
struct subs {
	struct asg_topic *t;
	uint32_t n, cap;
	int failed;
};

static int subs_put(struct subs *s, int64_t tid, uint32_t partitions)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->t[i].tid == tid)
			return 0;
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		void *n = realloc(s->t, cap * sizeof *s->t);
		if (n == NULL) {
			s->failed = 1;
			return -1;
		}
		s->t = n;
		s->cap = cap;
	}
	s->t[s->n].tid = tid;
	s->t[s->n].partitions = partitions;
	s->t[s->n].rack_masks = NULL;
	s->n++;
	return 0;
}

static int subs_add(struct subs *s, const struct store_topic *t)
{
	return subs_put(s, t->tid, t->n_partitions);
}

struct regex_walk {
	struct subs *s;
	regex_t *re;
};

static int regex_one(void *arg, const struct store_topic *t)
{
	struct regex_walk *w = arg;
	if (regexec(w->re, t->name, 0, NULL, 0) == 0)
		subs_add(w->s, t);
	return w->s->failed ? -1 : 0;
}

static int cmp_topic(const void *a, const void *b)
{
	const struct asg_topic *x = a, *y = b;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

/* Subscribed topics of member m into s (s may hold others already). */
static void subs_member(struct groups *gs, const struct gmember *m,
			struct subs *s)
{
	for (uint32_t i = 0; i < m->n_names; i++) {
		struct store_topic t;
		if (store_topic_get(gs->store, m->names[i], &t) == STORE_OK)
			subs_add(s, &t);
	}
	if (m->regex) {
		regex_t re;
		struct regex_walk w = {s, &re};
		if (regcomp(&re, m->regex, REG_EXTENDED | REG_NOSUB) == 0) {
			store_topic_list(gs->store, regex_one, &w);
			regfree(&re);
		}
	}
}

/* Subscriptions resolved once per distinct (names, regex) in a decision:
 * the members of a group mostly share one, and each resolution reads the
 * store (and runs a regex over every topic). */
#define SUBCACHE 8
struct subcache {
	const struct gmember *m[SUBCACHE];
	struct subs s[SUBCACHE];
	uint32_t n;
};

static int same_subscription(const struct gmember *a, const struct gmember *b)
{
	if (a->n_names != b->n_names || !streq(a->regex, b->regex))
		return 0;
	for (uint32_t i = 0; i < a->n_names; i++)
		if (strcmp(a->names[i], b->names[i]) != 0)
			return 0;
	return 1;
}

/* m's subscribed topics: from the cache, or resolved into the cache, or
 * (cache full) into *tmp, which the caller frees. */
static const struct subs *sub_of(struct groups *gs, struct subcache *c,
				 const struct gmember *m, struct subs *tmp)
{
	struct subs *s = tmp;
	for (uint32_t k = 0; k < c->n; k++)
		if (same_subscription(c->m[k], m))
			return &c->s[k];
	if (c->n < SUBCACHE) {
		c->m[c->n] = m;
		s = &c->s[c->n++];
	}
	memset(s, 0, sizeof *s);
	subs_member(gs, m, s);
	return s;
}

static void subcache_free(struct subcache *c)
{
	for (uint32_t k = 0; k < c->n; k++)
		free(c->s[k].t);
}

static uint32_t topic_index(const struct subs *s, int64_t tid)
{
	uint32_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (s->t[mid].tid < tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- racks: members' racks numbered, partitions' replica racks ---- */

struct racks {
	char *names[64];
	unsigned n;
	/* broker id -> rack number + 1 (0: none), a small cache */
	int32_t bid[256];
	int rack[256];
	unsigned nb;
	uint64_t *masks; /* per subscribed partition, all topics in order */
	size_t n_masks;
};

static int rack_number(struct racks *r, const char *name)
{
	if (name == NULL)
		return -1;
	for (unsigned i = 0; i < r->n; i++)
		if (strcmp(r->names[i], name) == 0)
			return (int)i;
	if (r->n == 64 || (r->names[r->n] = strdup(name)) == NULL)
		return -1; /* beyond 64 racks: treated as rack-less */
	return (int)r->n++;
}

/* The rack number of broker id, when it is one a member uses. */
static int broker_rack(struct groups *gs, struct racks *r, int32_t id)
{
	struct store_broker b;
	int k = -1;
	for (unsigned i = 0; i < r->nb; i++)
		if (r->bid[i] == id)
			return r->rack[i];
	if (store_broker_get(gs->store, id, &b) == STORE_OK && b.has_rack)
		for (unsigned i = 0; i < r->n && k < 0; i++)
			if (strcmp(r->names[i], b.rack) == 0)
				k = (int)i;
	if (r->nb < 256) {
		r->bid[r->nb] = id;
		r->rack[r->nb++] = k;
	}
	return k;
}

struct mask_walk {
	struct groups *gs;
	struct racks *r;
	uint64_t *masks; /* this topic's */
	uint32_t n;
};

static int mask_one(void *arg, const struct store_topic *t,
		    const struct store_partition *p)
{
	struct mask_walk *w = arg;
	uint64_t m = 0;
	(void)t;
	if (p->partition < 0 || (uint32_t)p->partition >= w->n)
		return 0;
	for (uint32_t i = 0; i < p->n_replicas; i++) {
		int k = broker_rack(w->gs, w->r, p->replicas[i]);
		if (k >= 0)
			m |= 1ull << k;
	}
	w->masks[p->partition] = m;
	return 0;
}

/* Rack-aware assignment when members declare racks: number their racks
 * and give every subscribed partition the mask of its replicas' racks
 * (one partition walk per subscribed topic: its cost is in
 * assign_max_us). Returns 1 when rack-aware, 0 when not, -1 on error. */
static int racks_prepare(struct groups *gs, struct plan *pl, struct subs *all,
			 struct racks *r, int *member_rack)
{
	size_t total = 0, off = 0;
	int any = 0;
	for (uint32_t i = 0; i < pl->n; i++) {
		member_rack[i] =
		    pl->pm[i].removed ? -1 : rack_number(r, pl->pm[i].m->rack);
		any |= member_rack[i] >= 0;
	}
	if (!any)
		return 0;
	for (uint32_t i = 0; i < all->n; i++)
		total += all->t[i].partitions;
	r->masks = calloc(total + 1, sizeof *r->masks);
	if (r->masks == NULL)
		return -1;
	for (uint32_t i = 0; i < all->n; i++) {
		struct store_topic t;
		struct mask_walk w = {gs, r, r->masks + off,
				      all->t[i].partitions};
		if (store_topic_get_by_tid(gs->store, all->t[i].tid, &t) ==
		    STORE_OK)
			store_partition_list(gs->store, &t, mask_one, &w);
		all->t[i].rack_masks = r->masks + off;
		off += all->t[i].partitions;
	}
	return 1;
}

static void racks_free(struct racks *r)
{
	for (unsigned i = 0; i < r->n; i++)
		free(r->names[i]);
	free(r->masks);
}

/* Recompute the target assignment for the plan's epoch: GroupTarget
 * records for members whose target changed. */
static int plan_assign(struct plan *pl)
{
	struct groups *gs = pl->gs;
	struct subs all = {0};
	struct asg_member *am = NULL;
	uint32_t **tix = NULL, na = 0, *map = NULL;
	struct asg_input in;
	struct asg_result res;
	asg_fn fn = asg_find(pl->assignor);
	struct racks racks;
	int *member_rack = NULL, rack_aware = 0;
	uint64_t t0;
	int rv = -1;
	struct subcache sc;
	memset(&racks, 0, sizeof racks);
	memset(&sc, 0, sizeof sc);
	if (fn == NULL)
		fn = asg_find("uniform");
	for (uint32_t i = 0; i < pl->n && !all.failed; i++) {
		struct subs tmp = {0};
		const struct subs *ms;
		if (pl->pm[i].removed)
			continue;
		ms = sub_of(gs, &sc, pl->pm[i].m, &tmp);
		all.failed |= ms->failed;
		for (uint32_t k = 0; k < ms->n && !all.failed; k++)
			subs_put(&all, ms->t[k].tid, ms->t[k].partitions);
		free(tmp.t);
	}
	if (all.failed)
		goto out;
	if (all.n > 1)
		qsort(all.t, all.n, sizeof *all.t, cmp_topic);
	am = calloc(pl->n + 1, sizeof *am);
	tix = calloc(pl->n + 1, sizeof *tix);
	map = calloc(pl->n + 1, sizeof *map);
	member_rack = calloc(pl->n + 1, sizeof *member_rack);
	if (am == NULL || tix == NULL || map == NULL || member_rack == NULL)
		goto out;
	t0 = uv_hrtime();
	if ((rack_aware = racks_prepare(gs, pl, &all, &racks, member_rack)) < 0)
		goto out;
	for (uint32_t i = 0; i < pl->n; i++) {
		struct pm *p = &pl->pm[i];
		struct subs tmp = {0};
		const struct subs *own;
		if (p->removed)
			continue;
		own = sub_of(gs, &sc, p->m, &tmp);
		if (own->failed) {
			free(tmp.t);
			goto out;
		}
		tix[na] = calloc(own->n + 1, sizeof **tix);
		if (tix[na] == NULL) {
			free(tmp.t);
			goto out;
		}
		for (uint32_t k = 0; k < own->n; k++)
			tix[na][k] = topic_index(&all, own->t[k].tid);
		qsort(tix[na], own->n, sizeof **tix, cmp_u32);
		am[na].member_id = p->m->id;
		am[na].instance_id = p->m->instance_id;
		am[na].rack = member_rack[i];
		am[na].topics = tix[na];
		am[na].n_topics = own->n;
		am[na].current = p->target;
		am[na].n_current = p->n_target;
		map[na] = i;
		na++;
		free(tmp.t);
	}
	memset(&in, 0, sizeof in);
	in.topics = all.t;
	in.n_topics = all.n;
	in.members = am;
	in.n_members = na;
	in.rack_aware = rack_aware;
	if (fn(&in, &res) != SYNOD_OK)
		goto out;
	{
		uint64_t us = (uv_hrtime() - t0) / 1000u;
		gs->stats.assignments++;
		if (us > gs->stats.assign_max_us)
			gs->stats.assign_max_us = us;
	}
	for (uint32_t k = 0; k < na && !pl->rb.failed; k++) {
		struct pm *p = &pl->pm[map[k]];
		Synod__Rec__Record *r;
		Synod__Rec__GroupTarget *gt;
		if (same_keys(p->target, p->n_target, res.assigned[k],
			      res.n_assigned[k]))
			continue;
		if (p->own_target)
			free(p->target);
		p->target = res.assigned[k];
		p->n_target = res.n_assigned[k];
		res.assigned[k] = NULL;
		res.n_assigned[k] = 0;
		p->own_target = 1;
		p->target_changed = 1;
		r = recbuf_add(&pl->rb);
		gt = recbuf_alloc(&pl->rb, sizeof *gt);
		if (r == NULL || gt == NULL)
			break;
		synod__rec__group_target__init(gt);
		gt->group_id = pl->g->id;
		gt->member_id = p->m->id;
		gt->partitions = rec_parts(gs, &pl->rb, p->target, p->n_target,
					   &gt->n_partitions);
		r->body_case = SYNOD__REC__RECORD__BODY_GROUP_TARGET;
		r->group_target = gt;
	}
	asg_result_free(&res);
	rv = pl->rb.failed ? -1 : 0;
out:
	for (uint32_t i = 0; tix && i < na; i++)
		free(tix[i]);
	free(tix);
	free(am);
	free(map);
	free(member_rack);
	racks_free(&racks);
	subcache_free(&sc);
	free(all.t);
	return rv;
}

/* ---- the owner map: which planned member holds a partition ---- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static size_t oslot(const struct plan *pl, uint64_t key)
{
	size_t i = mix(key) & (pl->ocap - 1);
	while (pl->oval[i] && pl->okeys[i] != key)
		i = (i + 1) & (pl->ocap - 1);
	return i;
}

static void oput(struct plan *pl, uint64_t key, uint32_t owner)
{
	size_t i = oslot(pl, key);
	pl->okeys[i] = key;
	pl->oval[i] = owner;
}

static void odel(struct plan *pl, uint64_t key)
{
	size_t i = oslot(pl, key), j = i;
	if (pl->oval[i] == 0)
		return;
	pl->oval[i] = 0;
	for (;;) {
		size_t k;
		j = (j + 1) & (pl->ocap - 1);
		if (pl->oval[j] == 0)
			return;
		k = mix(pl->okeys[j]) & (pl->ocap - 1);
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && (k <= i && k > j))) {
			pl->okeys[i] = pl->okeys[j];
			pl->oval[i] = pl->oval[j];
			pl->oval[j] = 0;
			i = j;
		}
	}
}

static void own_all(struct plan *pl, const struct rc_member *rc, uint32_t owner)
{
	for (uint32_t k = 0; k < rc->n_assigned; k++)
		owner ? oput(pl, rc->assigned[k], owner)
		      : odel(pl, rc->assigned[k]);
	for (uint32_t k = 0; k < rc->n_pending; k++)
		owner ? oput(pl, rc->pending_revocation[k], owner)
		      : odel(pl, rc->pending_revocation[k]);
}

struct other_arg {
	struct plan *pl;
	uint32_t self;
};

static int owned_by_other(void *arg, uint64_t key)
{
	struct other_arg *a = arg;
	size_t i = oslot(a->pl, key);
	return a->pl->oval[i] != 0 && a->pl->oval[i] != a->self;
}

static int rc_equal(const struct rc_member *a, const struct rc_member *b)
{
	return a->member_epoch == b->member_epoch &&
	       a->previous_epoch == b->previous_epoch && a->state == b->state &&
	       same_keys(a->assigned, a->n_assigned, b->assigned,
			 b->n_assigned) &&
	       same_keys(a->pending_revocation, a->n_pending,
			 b->pending_revocation, b->n_pending);
}

/* One reconciliation step for every member (the one that reported its
 * owned partitions first: what it releases, others may receive in the
 * same entry); GroupCurrent records for those whose state changed. The
 * owner map makes sure no step hands out a partition another member
 * holds, in the order the records apply. */
static int plan_reconcile(struct plan *pl, struct pm *first)
{
	size_t total = 0;
	for (uint32_t i = 0; i < pl->n; i++)
		if (!pl->pm[i].removed)
			total += pl->pm[i].rc.n_assigned +
				 pl->pm[i].rc.n_pending + pl->pm[i].n_target;
	pl->ocap = 64;
	while (pl->ocap < total * 2 + 2)
		pl->ocap *= 2;
	pl->okeys = calloc(pl->ocap, sizeof *pl->okeys);
	pl->oval = calloc(pl->ocap, sizeof *pl->oval);
	if (pl->okeys == NULL || pl->oval == NULL)
		return -1;
	for (uint32_t i = 0; i < pl->n; i++)
		if (!pl->pm[i].removed)
			own_all(pl, &pl->pm[i].rc, i + 1);
	for (uint32_t step = 0; step <= pl->n; step++) {
		struct pm *p;
		uint32_t i;
		struct rc_member out;
		struct other_arg oa;
		Synod__Rec__Record *r;
		Synod__Rec__GroupCurrent *gc;
		if (step == 0) {
			if (first == NULL)
				continue;
			p = first;
		} else {
			p = &pl->pm[step - 1];
			if (p == first)
				continue;
		}
		i = (uint32_t)(p - pl->pm);
		if (p->removed)
			continue;
		oa.pl = pl;
		oa.self = i + 1;
		memset(&out, 0, sizeof out);
		if (rc_next(&p->rc, pl->aepoch, p->target, p->n_target,
			    p->reported, p->n_reported, p->has_reported,
			    owned_by_other, &oa, &out) != SYNOD_OK)
			return -1;
		/* A joining member always gets its first GroupCurrent. */
		if (rc_equal(&out, &p->rc) && !p->joined) {
			rc_member_free(&out);
			continue;
		}
		own_all(pl, &p->rc, 0);
		own_all(pl, &out, i + 1);
		if (p->rc_changed)
			rc_member_free(&p->rc);
		p->rc = out;
		p->rc_changed = 1;
		r = recbuf_add(&pl->rb);
		gc = recbuf_alloc(&pl->rb, sizeof *gc);
		if (r == NULL || gc == NULL)
			return -1;
		synod__rec__group_current__init(gc);
		gc->group_id = pl->g->id;
		gc->member_id = p->m->id;
		gc->member_epoch = p->rc.member_epoch;
		gc->previous_epoch = p->rc.previous_epoch;
		gc->state = (uint32_t)p->rc.state;
		gc->assigned = rec_parts(pl->gs, &pl->rb, p->rc.assigned,
					 p->rc.n_assigned, &gc->n_assigned);
		gc->pending_revocation =
		    rec_parts(pl->gs, &pl->rb, p->rc.pending_revocation,
			      p->rc.n_pending, &gc->n_pending_revocation);
		r->body_case = SYNOD__REC__RECORD__BODY_GROUP_CURRENT;
		r->group_current = gc;
	}
	return pl->rb.failed ? -1 : 0;
}

/* GroupEpoch (when the group is new or an epoch moved), the member
 * tombstones and metadata, in the order the store applies them. */
static int plan_head(struct plan *pl)
{
	struct group *g = pl->g;
	if (pl->group_new || pl->epoch != g->epoch || pl->aepoch != g->aepoch ||
	    strcmp(pl->assignor, g->assignor)) {
		Synod__Rec__Record *r = recbuf_add(&pl->rb);
		Synod__Rec__GroupEpoch *e = recbuf_alloc(&pl->rb, sizeof *e);
		if (r == NULL || e == NULL)
			return -1;
		synod__rec__group_epoch__init(e);
		e->group_id = g->id;
		e->group_epoch = pl->epoch;
		e->assignment_epoch = pl->aepoch;
		e->assignor = pl->assignor;
		r->body_case = SYNOD__REC__RECORD__BODY_GROUP_EPOCH;
		r->group_epoch = e;
	}
	for (uint32_t i = 0; i < pl->n; i++) {
		struct pm *p = &pl->pm[i];
		Synod__Rec__Record *r;
		if (!p->removed && !p->joined && !p->meta)
			continue;
		if ((r = recbuf_add(&pl->rb)) == NULL)
			return -1;
		if (p->removed) {
			Synod__Rec__GroupMemberRemove *rm =
			    recbuf_alloc(&pl->rb, sizeof *rm);
			if (rm == NULL)
				return -1;
			synod__rec__group_member_remove__init(rm);
			rm->group_id = g->id;
			rm->member_id = p->m->id;
			r->body_case =
			    SYNOD__REC__RECORD__BODY_GROUP_MEMBER_REMOVE;
			r->group_member_remove = rm;
		} else {
			struct gmember *m = p->m;
			Synod__Rec__GroupMember *gm =
			    recbuf_alloc(&pl->rb, sizeof *gm);
			if (gm == NULL)
				return -1;
			synod__rec__group_member__init(gm);
			gm->group_id = g->id;
			gm->member_id = m->id;
			gm->instance_id = m->instance_id;
			gm->rack = m->rack;
			gm->client_id = m->client_id;
			gm->client_host = m->client_host;
			gm->rebalance_timeout_ms = m->rebalance_timeout_ms;
			gm->subscribed_topic_names = m->names;
			gm->n_subscribed_topic_names = m->n_names;
			gm->subscribed_topic_regex = m->regex;
			gm->server_assignor = m->assignor;
			r->body_case = SYNOD__REC__RECORD__BODY_GROUP_MEMBER;
			r->group_member = gm;
		}
	}
	return 0;
}

/* Everything after the membership part of a decision: epoch bump when
 * `bump`, the target when the group epoch is ahead of it, then every
 * member's reconciliation step. */
static int plan_finish(struct plan *pl, int bump, struct pm *first)
{
	int assign;
	if (bump)
		pl->epoch++;
	assign = pl->epoch > pl->aepoch;
	if (assign)
		pl->aepoch = pl->epoch;
	if (plan_head(pl) != 0)
		return -1;
	if (assign && plan_assign(pl) != 0)
		return -1;
	return plan_reconcile(pl, first);
}

/* ---- answers and pushes ---- */

static void send_answer(struct groups *gs, struct group *g, struct pending *p,
			int code, const char *msg, struct gmember *m,
			int32_t epoch_override, int full)
{
	Synod__Wire__GroupHeartbeatResponse r =
	    SYNOD__WIRE__GROUP_HEARTBEAT_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	struct wire_pset w;
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	int have_set = 0;
	srv_fill_status(gs->server, &st, code, msg, &lid, leader,
			sizeof leader);
	r.status = &st;
	if (code == SYNOD_OK && m) {
		r.member_id = m->id;
		r.has_member_epoch = r.has_heartbeat_interval_ms = 1;
		r.member_epoch =
		    epoch_override ? epoch_override : m->rc.member_epoch;
		if (!epoch_override)
			m->answered_epoch = r.member_epoch;
		r.heartbeat_interval_ms = interval_ms(gs, g);
		r.has_session_timeout_ms = 1;
		r.session_timeout_ms = session_ms(gs, g);
		if (!epoch_override &&
		    (full || m->assign_version > m->sent_version ||
		     m->sent_version == 0)) {
			if (wire_pset(gs, m->rc.assigned, m->rc.n_assigned,
				      &w) == 0) {
				r.assignment = &w.set;
				r.has_assignment_version = 1;
				r.assignment_version = m->assign_version;
				m->sent_version =
				    m->assign_version ? m->assign_version : 1;
			}
			have_set = 1;
		}
	}
	srv_send(p->sc, &p->h, &r.base);
	if (have_set)
		wire_pset_free(&w);
}

/* Tell member m what it may use now, on its last connection. */
static void push_assignment(struct groups *gs, struct group *g,
			    struct gmember *m)
{
	Synod__Wire__GroupAssignmentPush a =
	    SYNOD__WIRE__GROUP_ASSIGNMENT_PUSH__INIT;
	struct frame_header h = {.kind = FRAME_PUSH,
				 .api = SYNOD_API_GROUP_ASSIGNMENT_PUSH,
				 .api_version = 1};
	struct wire_pset w;
	if (m->sc == NULL || m->sc->closed ||
	    conn_pending_bytes(&m->sc->conn) > PUB_QUEUE_MAX)
		return; /* its next heartbeat answer carries it */
	if (wire_pset(gs, m->rc.assigned, m->rc.n_assigned, &w) != 0) {
		wire_pset_free(&w);
		return;
	}
	a.group_id = g->id;
	a.member_id = m->id;
	a.member_epoch = m->rc.member_epoch;
	a.version = m->assign_version;
	a.assignment = &w.set;
	if (conn_send(&m->sc->conn, &h, &a.base) == 0) {
		m->sent_version = m->assign_version;
		gs->stats.pushes++;
	}
	wire_pset_free(&w);
}

static void attach(struct gmember *m, struct sconn *sc)
{
	if (m->sc == sc)
		return;
	if (m->sc)
		srv_conn_unref(m->sc);
	m->sc = sc;
	srv_conn_ref(sc);
}

/* ---- proposals ---- */

static void process_waiting(struct groups *gs, struct group *g);
static void handle_hb(struct groups *gs, struct group *g, struct pending *p);

static void gop_done(struct node *n, struct waiter *w, int rc,
		     const int *statuses)
{
	struct gop *o = w->data;
	struct groups *gs = o->gs;
	struct group *g = o->g;
	uint64_t index = store_applied_index(gs->node->fsm.store);
	int stale = o->gen != gs->gen || gs->closing;
	(void)n;
	gs->ops--;
	if (stale) {
		if (o->p) {
			srv_reply_status(
			    o->p->sc, &o->p->h,
			    rc == SYNOD_OK ? SYNOD_ENOT_CONTROLLER : rc, NULL);
			srv_pending_free(o->p);
		}
		free(o);
		if (gs->closing == 2 && gs->ops == 0)
			free(gs);
		return;
	}
	g->busy = 0;
	if (rc == SYNOD_OK && statuses) {
		for (unsigned i = 0; i < w->count; i++)
			if (statuses[i] == STORE_R_REFUSED ||
			    statuses[i] == STORE_R_INVALID ||
			    statuses[i] == STORE_R_STALE)
				log_warn("group %s: record %u refused (status "
					 "%d); reloading",
					 g->id, i, statuses[i]);
	}
	if (rc == SYNOD_OK) {
		int gone = reload_group(gs, g, index);
		if (gone != 0) {
			if (o->p) {
				srv_reply_status(
				    o->p->sc, &o->p->h,
				    gone > 0 ? SYNOD_OK : SYNOD_EUNKNOWN, NULL);
				srv_pending_free(o->p);
			}
			free(o);
			table_remove(gs, g);
			return;
		}
	}
	if (o->p) {
		struct gmember *m =
		    o->member[0] ? find_member(g, o->member) : NULL;
		if (rc != SYNOD_OK)
			srv_reply_status(o->p->sc, &o->p->h, rc, NULL);
		else if (o->kind != OP_HEARTBEAT)
			srv_reply_status(o->p->sc, &o->p->h, SYNOD_OK, NULL);
		else if (m == NULL && o->answer_epoch < 0) {
			struct gmember gone;
			memset(&gone, 0, sizeof gone);
			memcpy(gone.id, o->member, sizeof gone.id);
			send_answer(gs, g, o->p, SYNOD_OK, NULL, &gone,
				    o->answer_epoch, 0);
		} else if (m == NULL)
			srv_reply_status(o->p->sc, &o->p->h,
					 SYNOD_EUNKNOWN_MEMBER_ID,
					 "member was removed");
		else {
			/* Pushes go where it speaks from (a join too). */
			attach(m, o->p->sc);
			send_answer(gs, g, o->p, SYNOD_OK, NULL, m, 0, o->full);
		}
		srv_pending_free(o->p);
	}
	if (rc == SYNOD_OK)
		for (uint32_t i = 0; i < g->n; i++)
			if (g->m[i]->assign_version > g->m[i]->sent_version &&
			    strcmp(g->m[i]->id, o->member) != 0)
				push_assignment(gs, g, g->m[i]);
	free(o);
	process_waiting(gs, g);
}

/* Propose the plan; o's answer follows when it is applied. Returns 0 (o
 * is the waiter's now) or an error code (o untouched). */
static int propose(struct plan *pl, struct gop *o)
{
	struct groups *gs = pl->gs;
	int rv;
	if (pl->rb.failed)
		return SYNOD_EUNKNOWN;
	if (pl->rb.n == 0)
		return -1; /* nothing to write */
	o->w.data = o;
	o->w.done = gop_done;
	o->gs = gs;
	o->g = pl->g;
	o->gen = gs->gen;
	rv = node_propose(gs->node,
			  (const Synod__Rec__Record *const *)pl->rb.recs,
			  pl->rb.n, &o->w);
	if (rv != SYNOD_OK)
		return rv;
	gs->ops++;
	pl->g->busy = 1;
	return 0;
}

/* ---- GROUP_HEARTBEAT ---- */

static int names_equal(const struct gmember *m,
		       const Synod__Wire__GroupTopicNames *t)
{
	if (m->n_names != t->n_names)
		return 0;
	for (uint32_t i = 0; i < m->n_names; i++)
		if (strcmp(m->names[i], t->names[i]) != 0)
			return 0;
	return 1;
}

static int set_names(struct gmember *m, const Synod__Wire__GroupTopicNames *t)
{
	for (uint32_t i = 0; i < m->n_names; i++)
		free(m->names[i]);
	free(m->names);
	m->names = NULL;
	m->n_names = 0;
	if (t == NULL || t->n_names == 0)
		return 0;
	m->names = calloc(t->n_names, sizeof *m->names);
	if (m->names == NULL)
		return -1;
	for (size_t i = 0; i < t->n_names; i++)
		if ((m->names[m->n_names++] = strdup(t->names[i])) == NULL)
			return -1;
	return 0;
}

static int set_str(char **dst, const char *v)
{
	char *n = NULL;
	if (v && v[0] && (n = strdup(v)) == NULL)
		return -1;
	free(*dst);
	*dst = n;
	return 0;
}

/* A copy of m's metadata (the decision's, freed with the plan). */
static struct gmember *meta_copy(const struct gmember *m)
{
	struct gmember *c = calloc(1, sizeof *c);
	Synod__Wire__GroupTopicNames t = SYNOD__WIRE__GROUP_TOPIC_NAMES__INIT;
	if (c == NULL)
		return NULL;
	memcpy(c->id, m->id, sizeof c->id);
	c->rebalance_timeout_ms = m->rebalance_timeout_ms;
	t.names = m->names;
	t.n_names = m->n_names;
	if (set_str(&c->instance_id, m->instance_id) ||
	    set_str(&c->rack, m->rack) ||
	    set_str(&c->client_id, m->client_id) ||
	    set_str(&c->client_host, m->client_host) ||
	    set_str(&c->regex, m->regex) ||
	    set_str(&c->assignor, m->assignor) || set_names(c, &t)) {
		member_free(c);
		return NULL;
	}
	return c;
}

/* The request's fields into c (what was sent; absent = unchanged).
 * Returns 1 when the subscription changed, 0 when only other fields did,
 * -1 when nothing changed, -2 out of memory. */
static int apply_fields(struct gmember *c,
			const Synod__Wire__GroupHeartbeatRequest *req,
			const char *host, int dry)
{
	int sub = 0, other = 0;
	if (req->subscribed_topic_names &&
	    !names_equal(c, req->subscribed_topic_names)) {
		if (dry)
			return 0;
		if (set_names(c, req->subscribed_topic_names) != 0)
			return -2;
		sub = 1;
	}
	if (req->subscribed_topic_regex &&
	    !streq(c->regex, req->subscribed_topic_regex[0]
				 ? req->subscribed_topic_regex
				 : NULL)) {
		if (dry)
			return 0;
		if (set_str(&c->regex, req->subscribed_topic_regex) != 0)
			return -2;
		sub = 1;
	}
	if (req->server_assignor && !streq(c->assignor, req->server_assignor)) {
		if (dry)
			return 0;
		if (set_str(&c->assignor, req->server_assignor) != 0)
			return -2;
		sub = 1; /* may change the group's assignor */
	}
	if (req->has_rebalance_timeout_ms && req->rebalance_timeout_ms >= 0 &&
	    req->rebalance_timeout_ms != c->rebalance_timeout_ms) {
		if (dry)
			return 0;
		c->rebalance_timeout_ms = req->rebalance_timeout_ms;
		other = 1;
	}
	if (req->rack && !streq(c->rack, req->rack[0] ? req->rack : NULL)) {
		if (dry)
			return 0;
		if (set_str(&c->rack, req->rack) != 0)
			return -2;
		other = 1;
	}
	if (req->client_id && !streq(c->client_id, req->client_id)) {
		if (dry)
			return 0;
		if (set_str(&c->client_id, req->client_id) != 0)
			return -2;
		other = 1;
	}
	if (host && !streq(c->client_host, host)) {
		if (dry)
			return 0;
		if (set_str(&c->client_host, host) != 0)
			return -2;
		other = 1;
	}
	return sub ? 1 : other ? 0 : -1;
}

/* The group's assignor: the one most members ask for (ties: by name),
 * else the configured default. */
static void pick_assignor(struct groups *gs, struct plan *pl)
{
	char dflt[32];
	const char *best = NULL;
	uint32_t best_n = 0;
	/* Names are checked at the heartbeat (allowed and built in): a few
	 * distinct ones at most. */
	const char *name[8];
	uint32_t count[8];
	size_t ns = 0, k;
	for (uint32_t i = 0; i < pl->n; i++) {
		const char *a = pl->pm[i].m->assignor;
		if (pl->pm[i].removed || a == NULL)
			continue;
		for (k = 0; k < ns && strcmp(name[k], a) != 0; k++)
			;
		if (k == ns && ns < 8) {
			name[ns] = a;
			count[ns++] = 0;
		}
		if (k < ns)
			count[k]++;
	}
	for (k = 0; k < ns; k++)
		if (count[k] > best_n ||
		    (count[k] == best_n && strcmp(name[k], best) < 0)) {
			best = name[k];
			best_n = count[k];
		}
	if (best == NULL && assignor_allowed(gs, NULL, dflt, sizeof dflt))
		best = dflt;
	if (best)
		snprintf(pl->assignor, sizeof pl->assignor, "%s", best);
}

static int regex_ok(const char *re_text)
{
	regex_t re;
	if (re_text == NULL || re_text[0] == '\0')
		return 1;
	if (regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	regfree(&re);
	return 1;
}

static void answer_fail(struct pending *p, int code, const char *msg)
{
	srv_reply_status(p->sc, &p->h, code, msg);
	srv_pending_free(p);
}

/* Merge the sorted set b[0..nb) into *owned (sorted, *n keys). */
static int merge_keys(uint64_t **owned, uint32_t *n, const uint64_t *b,
		      uint32_t nb)
{
	uint64_t *u;
	uint32_t k = 0, i = 0, j = 0;
	if (nb == 0)
		return 0;
	u = malloc(((size_t)*n + nb) * sizeof *u);
	if (u == NULL)
		return -1;
	while (i < *n || j < nb) {
		uint64_t a = i < *n ? (*owned)[i] : UINT64_MAX;
		uint64_t c = j < nb ? b[j] : UINT64_MAX;
		u[k++] = a < c ? a : c;
		i += a <= c;
		j += c <= a;
	}
	free(*owned);
	*owned = u;
	*n = k;
	return 0;
}

/* A report made before the member saw its latest assignment: everything
 * the record gives it or is taking back from it counts as owned too. A
 * push that gave it a partition may still be in flight even when the
 * record has since moved that partition to pending revocation: the member
 * gives it up only in a report made after it saw the revocation
 * (reliability.md 5.6). */
static int union_held(const struct gmember *m, uint64_t **owned, uint32_t *n)
{
	if (merge_keys(owned, n, m->rc.assigned, m->rc.n_assigned) != 0)
		return -1;
	return merge_keys(owned, n, m->rc.pending_revocation, m->rc.n_pending);
}

/* A steady heartbeat: no report, nothing asked that differs, the member
 * at its current epoch and its group settled. The session is renewed and
 * the answer comes from memory, without a decision (most heartbeats). 1
 * when answered. */
static int steady_beat(struct groups *gs, struct group *g, struct pending *p)
{
	Synod__Wire__GroupHeartbeatRequest *req = p->msg;
	struct gmember *m;
	if (!g->settled || req->member_epoch <= 0 || req->owned ||
	    req->member_id == NULL ||
	    (m = find_member(g, req->member_id)) == NULL ||
	    req->member_epoch != m->rc.member_epoch ||
	    (req->instance_id && !streq(m->instance_id, req->instance_id)) ||
	    apply_fields(m, req, p->sc->conn.peer, 1) != -1)
		return 0;
	renew(g, m, now_ms(gs) + session_ms(gs, g));
	m->static_left = 0;
	attach(m, p->sc);
	send_answer(gs, g, p, SYNOD_OK, NULL, m, 0, 0);
	srv_pending_free(p);
	return 1;
}

static void handle_hb(struct groups *gs, struct group *g, struct pending *p)
{
	Synod__Wire__GroupHeartbeatRequest *req = p->msg;
	struct plan pl;
	struct gop *o = NULL;
	struct gmember *m = NULL;
	struct pm *pm = NULL;
	uint64_t *owned = NULL;
	uint32_t n_owned = 0;
	int bump = 0, rv, full = 0, created = 0, rejoin = 0;
	char dflt[32];
	const char *host = p->sc->conn.peer;

	gs->stats.heartbeats++;
	if (g && steady_beat(gs, g, p))
		return;
	if (g == NULL) {
		/* A first join creates the group (committed with it). */
		if (req->member_epoch != 0)
			return answer_fail(p, SYNOD_EUNKNOWN_MEMBER_ID,
					   "no such group");
		if ((g = group_new(req->group_id)) == NULL ||
		    table_put(gs, g) != 0) {
			if (g)
				group_free(g);
			return answer_fail(p, SYNOD_EUNKNOWN, "out of memory");
		}
		created = 1;
	}
	if (plan_init(&pl, gs, g) != 0) {
		plan_free(&pl);
		return answer_fail(p, SYNOD_EUNKNOWN, "out of memory");
	}
	pl.group_new = created;
	if (created && assignor_allowed(gs, NULL, dflt, sizeof dflt))
		snprintf(pl.assignor, sizeof pl.assignor, "%s", dflt);
	o = calloc(1, sizeof *o);
	if (o == NULL)
		goto nomem;
	o->kind = OP_HEARTBEAT;

	if (req->server_assignor && req->server_assignor[0] &&
	    (!assignor_allowed(gs, req->server_assignor, dflt, sizeof dflt) ||
	     asg_find(req->server_assignor) == NULL)) {
		rv = SYNOD_EUNSUPPORTED_ASSIGNOR;
		goto refuse;
	}
	if (req->subscribed_topic_regex &&
	    !regex_ok(req->subscribed_topic_regex)) {
		rv = SYNOD_EINVALID_REGULAR_EXPRESSION;
		goto refuse;
	}

	/* A join under the id of a member the group still has: that member
	 * rejoining (after a fence, or retrying a join whose answer was
	 * lost). It is kept (no ghost holding partitions until a session
	 * ends) and answered its assignment as a full heartbeat at its
	 * epoch. Its join reports nothing owned, but the join may be a
	 * delayed copy of one the member has since been answered, so it
	 * counts as a report from before the latest assignment: it releases
	 * nothing. The member's next report releases what it gave up
	 * (docs/groups.md 2). */
	if (req->member_id && req->member_id[0])
		m = find_member(g, req->member_id);
	rejoin = req->member_epoch == 0 && m != NULL;
	if (rejoin && !streq(m->instance_id, req->instance_id)) {
		rv = SYNOD_EFENCED_INSTANCE_ID;
		goto refuse;
	}
	if (req->member_epoch == 0 && !rejoin) {
		/* Join (or a static member's return). */
		struct gmember *old = find_instance(g, req->instance_id);
		struct gmember *c;
		if (old && !old->static_left) {
			rv = SYNOD_EUNRELEASED_INSTANCE_ID;
			goto refuse;
		}
		if (old == NULL &&
		    g->n >= config_u32(gs, "group.consumer.max.size")) {
			rv = SYNOD_EGROUP_MAX_SIZE_REACHED;
			goto refuse;
		}
		c = calloc(1, sizeof *c);
		if (c == NULL)
			goto nomem;
		/* The id the client chose (rc_validate checked it), or ours. */
		if (req->member_id && req->member_id[0])
			snprintf(c->id, sizeof c->id, "%s", req->member_id);
		else if (make_member_id(c->id) != 0) {
			free(c);
			goto nomem;
		}
		c->rebalance_timeout_ms = req->rebalance_timeout_ms;
		if (set_str(&c->instance_id, req->instance_id) ||
		    apply_fields(c, req, host, 0) == -2) {
			member_free(c);
			goto nomem;
		}
		pm = &pl.pm[pl.n++];
		pm->m = c;
		pm->own_m = pm->joined = 1;
		if (old) {
			/* The new member id takes over the static member's
			 * assignment; the group epoch does not move. */
			struct pm *op = plan_find(&pl, old);
			op->removed = 1;
			pm->rc = old->rc;
			pm->target = old->target;
			pm->n_target = old->n_target;
			/* The GroupCurrent of the new member must not see the
			 * old one's partitions as held by another. */
			pm->rc_changed = 0;
			bump = 0;
		} else {
			bump = 1;
		}
		pm->has_reported = 1; /* a joining member owns nothing */
		full = 1;
		gs->stats.joins++;
	} else {
		if (m == NULL) {
			rv = SYNOD_EUNKNOWN_MEMBER_ID;
			goto refuse;
		}
		if (req->instance_id &&
		    !streq(m->instance_id, req->instance_id)) {
			rv = SYNOD_EFENCED_INSTANCE_ID;
			goto refuse;
		}
		if (req->member_epoch == -2) {
			/* A static member leaving that will come back: kept
			 * for a full session from now; no epoch change. */
			m->static_left = 1;
			renew(g, m, now_ms(gs) + session_ms(gs, g));
			send_answer(gs, g, p, SYNOD_OK, NULL, m, -2, 0);
			srv_pending_free(p);
			free(o);
			plan_free(&pl);
			return;
		}
		pm = plan_find(&pl, m);
		if (req->member_epoch == -1) {
			pm->removed = 1;
			bump = 1;
			o->answer_epoch = -1;
			gs->stats.leaves++;
		} else {
			struct gmember *c;
			int changed;
			if (req->owned &&
			    owned_keys(gs, req->owned, &owned, &n_owned) != 0)
				goto nomem;
			if ((req->owned || rejoin) &&
			    (rejoin || !req->has_assignment_version ||
			     req->assignment_version < m->assign_version ||
			     req->member_epoch < m->rc.member_epoch)) {
				if (union_held(m, &owned, &n_owned) != 0)
					goto nomem;
				/* It has not seen its latest assignment (a
				 * push lost with a connection): the answer
				 * carries it again. */
				if (rejoin || !req->has_assignment_version ||
				    req->assignment_version < m->sent_version)
					m->sent_version =
					    req->has_assignment_version
						? req->assignment_version
						: 0;
			}
			/* Any epoch between the last one the member was
			 * answered and its current one: the controller moved
			 * it meanwhile (pushes), the member may not know yet,
			 * and its owned report counts as stale (above).
			 * Otherwise KIP-848's rule (a lost answer's retry). */
			if (rejoin || (req->member_epoch >= m->answered_epoch &&
				       req->member_epoch <= m->rc.member_epoch))
				rv = SYNOD_OK;
			else
				rv = rc_check_epoch(req->member_epoch, &m->rc,
						    owned, n_owned,
						    req->owned != NULL);
			if (rv != SYNOD_OK)
				goto refuse;
			renew(g, m, now_ms(gs) + session_ms(gs, g));
			m->static_left = 0;
			attach(m, p->sc);
			if ((c = meta_copy(m)) == NULL)
				goto nomem;
			changed = apply_fields(c, req, host, 0);
			if (changed == -2) {
				member_free(c);
				goto nomem;
			}
			if (changed >= 0) {
				pm->m = c;
				pm->own_m = pm->meta = 1;
				bump = changed == 1;
			} else {
				member_free(c);
			}
			pm->reported = owned;
			pm->n_reported = n_owned;
			pm->has_reported = req->owned != NULL || rejoin;
			full = rejoin ||
			       (req->owned && req->subscribed_topic_names &&
				req->has_rebalance_timeout_ms);
			if (rejoin)
				gs->stats.rejoins++;
		}
	}
	pick_assignor(gs, &pl);
	if (plan_finish(&pl, bump, pm->removed ? NULL : pm) != 0)
		goto nomem;
	snprintf(o->member, sizeof o->member, "%s", pm->m->id);
	if (pl.rb.n == 0) {
		/* Nothing changed: answer from memory. */
		send_answer(gs, g, p, SYNOD_OK, NULL, m, 0, full);
		srv_pending_free(p);
		free(o);
		plan_free(&pl);
		free(owned);
		return;
	}
	o->p = p;
	o->full = full;
	rv = propose(&pl, o);
	plan_free(&pl);
	free(owned);
	if (rv != 0) {
		free(o);
		answer_fail(p, rv, NULL);
		if (created)
			table_remove(gs, g);
	}
	return;
refuse:
	free(o);
	plan_free(&pl);
	free(owned);
	answer_fail(p, rv, NULL);
	if (created)
		table_remove(gs, g);
	return;
nomem:
	rv = SYNOD_EUNKNOWN;
	goto refuse;
}

static void process_waiting(struct groups *gs, struct group *g)
{
	while (!g->busy && g->wait_head) {
		struct gwait *w = g->wait_head;
		struct pending *p = w->p;
		g->wait_head = w->next;
		if (g->wait_head == NULL)
			g->wait_tail = NULL;
		free(w);
		/* g exists already: handle_hb removes only a group it
		 * created itself. */
		handle_hb(gs, g, p);
	}
}

/* ---- expiry, topic changes ---- */

/* Fence member m (session or rebalance timeout, or an operator): it is
 * removed and its partitions are free from the same entry on. */
/* Removes members ms[0..n) in one decision: one entry, one new epoch and
 * target however many left at once (a mass crash is one rebalance). With
 * n = 0, only a new epoch and target (topics changed). */
static int fence(struct groups *gs, struct group *g, struct gmember **ms,
		 uint32_t n, struct pending *p, int kind)
{
	struct plan pl;
	struct gop *o;
	int rv;
	if (plan_init(&pl, gs, g) != 0 || (o = calloc(1, sizeof *o)) == NULL) {
		plan_free(&pl);
		return SYNOD_EUNKNOWN;
	}
	for (uint32_t i = 0; i < n; i++)
		plan_find(&pl, ms[i])->removed = 1;
	pick_assignor(gs, &pl);
	if (plan_finish(&pl, 1, NULL) != 0) {
		plan_free(&pl);
		free(o);
		return SYNOD_EUNKNOWN;
	}
	o->kind = kind;
	o->p = p;
	rv = propose(&pl, o);
	plan_free(&pl);
	if (rv != 0)
		free(o);
	return rv == -1 ? SYNOD_OK : rv;
}

/* Do the targets still cover exactly the partitions the group subscribes
 * to? (A topic created, grown or deleted: no.) */
static int targets_current(struct groups *gs, struct group *g)
{
	struct subs all = {0};
	struct subcache sc;
	uint64_t want = 0, have = 0;
	int ok = 1;
	memset(&sc, 0, sizeof sc);
	for (uint32_t i = 0; i < g->n && !all.failed; i++) {
		struct subs tmp = {0};
		const struct subs *ms = sub_of(gs, &sc, g->m[i], &tmp);
		all.failed |= ms->failed;
		for (uint32_t k = 0; k < ms->n && !all.failed; k++)
			subs_put(&all, ms->t[k].tid, ms->t[k].partitions);
		free(tmp.t);
	}
	subcache_free(&sc);
	if (all.failed) {
		free(all.t);
		return 1; /* try again at the next change */
	}
	if (all.n > 1)
		qsort(all.t, all.n, sizeof *all.t, cmp_topic);
	for (uint32_t i = 0; i < all.n; i++)
		want += all.t[i].partitions;
	for (uint32_t i = 0; i < g->n && ok; i++) {
		have += g->m[i]->n_target;
		for (uint32_t k = 0; k < g->m[i]->n_target && ok; k++) {
			uint64_t key = g->m[i]->target[k];
			uint32_t t = topic_index(&all, (int64_t)(key >> 32));
			ok = t < all.n &&
			     all.t[t].tid == (int64_t)(key >> 32) &&
			     (uint32_t)key < all.t[t].partitions;
		}
	}
	free(all.t);
	return ok && want == have;
}

static int meta_changed(struct groups *gs, struct group *g)
{
	return fence(gs, g, NULL, 0, NULL, OP_META); /* a new epoch only */
}

static void check_group(struct groups *gs, struct group *g, uint64_t now)
{
	struct gmember **out = NULL;
	uint32_t n_out = 0;
	uint64_t next = UINT64_MAX;
	if (g->busy)
		return;
	if (now < g->check_at && !g->dirty &&
	    !(g->n > 0 && g->epoch > g->aepoch))
		return; /* nothing due: most groups at most ticks */
	for (uint32_t i = 0; i < g->n; i++) {
		struct gmember *m = g->m[i];
		int expired = now >= m->deadline_ms;
		int slow =
		    m->revoke_deadline_ms && now >= m->revoke_deadline_ms;
		if (!expired && !slow) {
			if (m->deadline_ms < next)
				next = m->deadline_ms;
			if (m->revoke_deadline_ms &&
			    m->revoke_deadline_ms < next)
				next = m->revoke_deadline_ms;
			continue;
		}
		if (out == NULL && (out = malloc(g->n * sizeof *out)) == NULL)
			return; /* the next tick tries again */
		out[n_out++] = m;
		if (n_out <= 10)
			log_info("group %s: member %s fenced (%s)", g->id,
				 m->id,
				 expired ? "session expired"
					 : "did not revoke in time");
		if (expired)
			gs->stats.fenced_by_timeout++;
		else
			gs->stats.fenced_by_rebalance++;
	}
	if (n_out > 0) {
		if (n_out > 10)
			log_info("group %s: %u members fenced in all", g->id,
				 n_out);
		fence(gs, g, out, n_out, NULL, OP_FENCE);
		free(out);
		return; /* one decision at a time */
	}
	g->check_at = next;
	if (g->dirty && g->n > 0) {
		/* A topic change marks every group: checks are spread over
		 * ticks (5 ms of them per tick), not one long stall. */
		if (uv_hrtime() > gs->tick_budget_ns)
			return;
		g->dirty = 0;
		if (!targets_current(gs, g)) {
			log_info("group %s: subscribed topics changed", g->id);
			meta_changed(gs, g);
		}
	} else if (g->n > 0 && g->epoch > g->aepoch) {
		meta_changed(gs, g); /* a target left behind by a failover */
	}
}

static int load_groups(struct groups *gs);

static void on_tick(uv_timer_t *t)
{
	struct groups *gs = t->data;
	uint64_t now = now_ms(gs);
	if (gs->loading && node_check_active(gs->node) == SYNOD_OK)
		load_groups(gs);
	if (!gs->active)
		return;
	gs->tick_budget_ns = uv_hrtime() + 5000000u;
	for (size_t i = 0; i < gs->cap; i++)
		if (gs->slots[i])
			check_group(gs, gs->slots[i], now);
}

/* ---- GROUP_LIST, GROUP_DESCRIBE, GROUP_DELETE, REMOVE_MEMBER ---- */

static const char *group_state(const struct group *g)
{
	if (g->n == 0)
		return "empty";
	if (g->epoch > g->aepoch)
		return "assigning";
	for (uint32_t i = 0; i < g->n; i++)
		if (g->m[i]->rc.member_epoch != g->aepoch ||
		    g->m[i]->rc.state != RC_STABLE)
			return "reconciling";
	return "stable";
}

static void summary(const struct group *g, Synod__Wire__GroupSummary *s)
{
	synod__wire__group_summary__init(s);
	s->group_id = g->id;
	s->state = (char *)group_state(g);
	s->assignor = (char *)g->assignor;
	s->group_epoch = g->epoch;
	s->assignment_epoch = g->aepoch;
	s->members = g->n;
}

static int cmp_group(const void *a, const void *b)
{
	const struct group *x = *(struct group *const *)a,
			   *y = *(struct group *const *)b;
	return strcmp(x->id, y->id);
}

static int check_active(struct groups *gs, struct sconn *sc,
			const struct frame_header *h)
{
	int rv = node_check_active(gs->node);
	if (rv == SYNOD_OK && !gs->active)
		rv = SYNOD_EUNAVAILABLE;
	if (rv != SYNOD_OK)
		srv_reply_status(sc, h, rv, NULL);
	return rv;
}

static void api_list(void *self, struct sconn *sc, const struct frame_header *h,
		     ProtobufCMessage *msg)
{
	struct groups *gs = self;
	Synod__Wire__GroupListResponse r =
	    SYNOD__WIRE__GROUP_LIST_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__GroupSummary *sum = NULL, **ptrs = NULL;
	struct group **all = NULL;
	size_t n = 0;
	protobuf_c_message_free_unpacked(msg, NULL);
	if (check_active(gs, sc, h) != SYNOD_OK)
		return;
	all = calloc(gs->count + 1, sizeof *all);
	sum = calloc(gs->count + 1, sizeof *sum);
	ptrs = calloc(gs->count + 1, sizeof *ptrs);
	if (!all || !sum || !ptrs) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < gs->cap; i++)
		if (gs->slots[i])
			all[n++] = gs->slots[i];
	qsort(all, n, sizeof *all, cmp_group);
	for (size_t i = 0; i < n; i++) {
		summary(all[i], &sum[i]);
		ptrs[i] = &sum[i];
	}
	st.code = SYNOD_OK;
	r.status = &st;
	r.groups = ptrs;
	r.n_groups = n;
	srv_send(sc, h, &r.base);
out:
	free(all);
	free(sum);
	free(ptrs);
}

struct desc_member {
	Synod__Wire__GroupMemberDescription d;
	struct wire_pset a, p, t;
};

static void api_describe(void *self, struct sconn *sc,
			 const struct frame_header *h, ProtobufCMessage *msg)
{
	struct groups *gs = self;
	Synod__Wire__GroupDescribeRequest *req = (void *)msg;
	Synod__Wire__GroupDescribeResponse r =
	    SYNOD__WIRE__GROUP_DESCRIBE_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__GroupDescription *ds = NULL, **dp = NULL;
	Synod__Wire__GroupSummary *sums = NULL;
	struct desc_member **dm = NULL;
	Synod__Wire__GroupMemberDescription ***mp = NULL;
	static const char *const states[] = {"stable", "unrevoked",
					     "unreleased"};
	size_t n = req->n_group_ids;
	if (check_active(gs, sc, h) != SYNOD_OK)
		goto out;
	if (n > MAX_NAMES_PER_REQUEST) {
		srv_reply_status(sc, h, SYNOD_EINVALID_ARGUMENT,
				 "too many group ids");
		goto out;
	}
	ds = calloc(n + 1, sizeof *ds);
	dp = calloc(n + 1, sizeof *dp);
	sums = calloc(n + 1, sizeof *sums);
	dm = calloc(n + 1, sizeof *dm);
	mp = calloc(n + 1, sizeof *mp);
	if (!ds || !dp || !sums || !dm || !mp)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		struct group *g = lookup(gs, req->group_ids[i]);
		synod__wire__group_description__init(&ds[i]);
		dp[i] = &ds[i];
		if (g == NULL) {
			synod__wire__group_summary__init(&sums[i]);
			sums[i].group_id = req->group_ids[i];
			sums[i].state = "dead";
			sums[i].assignor = "";
			ds[i].summary = &sums[i];
			ds[i].has_code = 1;
			ds[i].code = SYNOD_EGROUP_ID_NOT_FOUND;
			continue;
		}
		summary(g, &sums[i]);
		ds[i].summary = &sums[i];
		dm[i] = calloc(g->n + 1, sizeof **dm);
		mp[i] = calloc(g->n + 1, sizeof **mp);
		if (!dm[i] || !mp[i])
			goto nomem;
		for (uint32_t k = 0; k < g->n; k++) {
			struct gmember *m = g->m[k];
			struct desc_member *x = &dm[i][k];
			synod__wire__group_member_description__init(&x->d);
			x->d.member_id = m->id;
			x->d.instance_id = m->instance_id;
			x->d.rack = m->rack;
			x->d.client_id = m->client_id;
			x->d.client_host = m->client_host;
			x->d.member_epoch = m->rc.member_epoch;
			x->d.state =
			    (char *)states[m->rc.state <= 2 ? m->rc.state : 0];
			if (wire_pset(gs, m->rc.assigned, m->rc.n_assigned,
				      &x->a) != 0 ||
			    wire_pset(gs, m->rc.pending_revocation,
				      m->rc.n_pending, &x->p) != 0 ||
			    wire_pset(gs, m->target, m->n_target, &x->t) != 0)
				goto nomem;
			x->d.assigned = &x->a.set;
			x->d.pending_revocation = &x->p.set;
			x->d.target = &x->t.set;
			x->d.subscribed_topic_names = m->names;
			x->d.n_subscribed_topic_names = m->n_names;
			x->d.subscribed_topic_regex = m->regex;
			mp[i][k] = &x->d;
		}
		ds[i].members = mp[i];
		ds[i].n_members = g->n;
	}
	st.code = SYNOD_OK;
	r.status = &st;
	r.groups = dp;
	r.n_groups = n;
	srv_send(sc, h, &r.base);
	goto out;
nomem:
	srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
out:
	for (size_t i = 0; dm && i < n; i++) {
		struct group *g = dm[i] ? lookup(gs, req->group_ids[i]) : NULL;
		for (uint32_t k = 0; g && k < g->n; k++) {
			wire_pset_free(&dm[i][k].a);
			wire_pset_free(&dm[i][k].p);
			wire_pset_free(&dm[i][k].t);
		}
		free(dm[i]);
		free(mp[i]);
	}
	free(dm);
	free(mp);
	free(ds);
	free(dp);
	free(sums);
	protobuf_c_message_free_unpacked(msg, NULL);
}

static void api_delete(void *self, struct sconn *sc,
		       const struct frame_header *h, ProtobufCMessage *msg)
{
	struct groups *gs = self;
	Synod__Wire__GroupDeleteRequest *req = (void *)msg;
	struct group *g;
	struct pending *p;
	struct gop *o;
	struct recbuf rb;
	Synod__Rec__Record *r;
	Synod__Rec__GroupDelete d = SYNOD__REC__GROUP_DELETE__INIT;
	int rv;
	if (check_active(gs, sc, h) != SYNOD_OK) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	g = lookup(gs, req->group_id);
	if (g == NULL || g->n > 0 || g->busy) {
		srv_reply_status(sc, h,
				 g == NULL ? SYNOD_EGROUP_ID_NOT_FOUND
				 : g->busy ? SYNOD_EBUSY
					   : SYNOD_ENON_EMPTY_GROUP,
				 NULL);
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	p = srv_pending_new(sc, h, msg, NULL, NULL);
	o = calloc(1, sizeof *o);
	recbuf_init(&rb);
	r = recbuf_add(&rb);
	if (p == NULL || o == NULL || r == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (p)
			srv_pending_free(p);
		else
			protobuf_c_message_free_unpacked(msg, NULL);
		free(o);
		recbuf_free(&rb);
		return;
	}
	d.group_id = g->id;
	r->body_case = SYNOD__REC__RECORD__BODY_GROUP_DELETE;
	r->group_delete = &d;
	o->w.data = o;
	o->w.done = gop_done;
	o->gs = gs;
	o->g = g;
	o->gen = gs->gen;
	o->p = p;
	o->kind = OP_DELETE;
	rv = node_propose(gs->node, (const Synod__Rec__Record *const *)rb.recs,
			  rb.n, &o->w);
	recbuf_free(&rb);
	if (rv != SYNOD_OK) {
		free(o);
		answer_fail(p, rv, NULL);
		return;
	}
	gs->ops++;
	g->busy = 1;
}

static void api_remove_member(void *self, struct sconn *sc,
			      const struct frame_header *h,
			      ProtobufCMessage *msg)
{
	struct groups *gs = self;
	Synod__Wire__GroupRemoveMemberRequest *req = (void *)msg;
	struct group *g;
	struct gmember *m;
	struct pending *p;
	int rv;
	if (check_active(gs, sc, h) != SYNOD_OK) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	g = lookup(gs, req->group_id);
	m = g ? find_member(g, req->member_id) : NULL;
	if (g == NULL || m == NULL || g->busy) {
		srv_reply_status(sc, h,
				 g == NULL   ? SYNOD_EGROUP_ID_NOT_FOUND
				 : m == NULL ? SYNOD_EUNKNOWN_MEMBER_ID
					     : SYNOD_EBUSY,
				 NULL);
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	p = srv_pending_new(sc, h, msg, NULL, NULL);
	if (p == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	log_info("group %s: member %s removed by an operator", g->id, m->id);
	rv = fence(gs, g, &m, 1, p, OP_REMOVE);
	if (rv != SYNOD_OK)
		answer_fail(p, rv, NULL);
}

/* KIP-848's checks of the fields' combination (reconcile.h). */
void groups_heartbeat_request(const Synod__Wire__GroupHeartbeatRequest *req,
			      struct rc_request *r)
{
	memset(r, 0, sizeof *r);
	r->group_id = req->group_id;
	r->member_id = req->member_id;
	r->member_epoch = req->member_epoch;
	r->instance_id = req->instance_id;
	r->rack = req->rack;
	r->rebalance_timeout_ms =
	    req->has_rebalance_timeout_ms ? req->rebalance_timeout_ms : -1;
	if (req->subscribed_topic_names) {
		r->has_subscribed_names = 1;
		r->n_subscribed_names =
		    (uint32_t)req->subscribed_topic_names->n_names;
		r->subscribed_names =
		    (const char *const *)req->subscribed_topic_names->names;
	}
	if (req->subscribed_topic_regex) {
		r->has_regex = 1;
		r->regex = req->subscribed_topic_regex;
	}
	r->server_assignor = req->server_assignor;
	if (req->owned) {
		r->has_owned = 1;
		for (size_t i = 0; i < req->owned->n_topics; i++)
			r->n_owned +=
			    (uint32_t)req->owned->topics[i]->n_partitions;
	}
}

static int validate_heartbeat(const Synod__Wire__GroupHeartbeatRequest *req,
			      char *err, size_t size)
{
	struct rc_request r;
	groups_heartbeat_request(req, &r);
	return rc_validate(&r, err, size);
}

static void heartbeat_now(void *self, struct sconn *sc,
			  const struct frame_header *h, ProtobufCMessage *msg)
{
	struct groups *gs = self;
	Synod__Wire__GroupHeartbeatRequest *req = (void *)msg;
	struct group *g;
	struct pending *p;
	char err[200];
	int rv;
	if (check_active(gs, sc, h) != SYNOD_OK) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	rv = validate_heartbeat(req, err, sizeof err);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, err);
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	p = srv_pending_new(sc, h, msg, NULL, NULL);
	if (p == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	g = lookup(gs, req->group_id);
	if (g && g->busy) {
		struct gwait *w = calloc(1, sizeof *w);
		if (w == NULL)
			return answer_fail(p, SYNOD_EUNKNOWN, "out of memory");
		w->p = p;
		if (g->wait_tail)
			g->wait_tail->next = w;
		else
			g->wait_head = w;
		g->wait_tail = w;
		return;
	}
	handle_hb(gs, g, p);
}

/* Answered from memory (sessions, assignments): only under the
 * leadership lease, as broker heartbeats (srv_with_lease). */
static void api_heartbeat(void *self, struct sconn *sc,
			  const struct frame_header *h, ProtobufCMessage *msg)
{
	struct groups *gs = self;
	srv_with_lease(gs->node, heartbeat_now, gs, sc, h, msg);
}

/* ---- the module ---- */

static int load_one(void *arg, const struct store_group *sg)
{
	struct groups *gs = arg;
	struct group *g = group_new(sg->group_id);
	if (g == NULL || table_put(gs, g) != 0) {
		if (g)
			group_free(g);
		return -1;
	}
	if (reload_group(gs, g, store_applied_index(gs->store)) != 0)
		return -1;
	/* Check the targets against the topics at the first tick (a topic
	 * change the last controller had no time to act on). */
	g->dirty = 1;
	return 0;
}

/* The groups from the store, every member with a full session of grace
 * from now (no member is fenced by a failover). STORE_OK, or (the table
 * left empty) -1 (no memory) or the store's code. */
static int load_groups(struct groups *gs)
{
	uint64_t now = now_ms(gs);
	int rv = store_group_list(gs->store, load_one, gs);
	if (rv != STORE_OK) {
		table_clear(gs);
		return rv;
	}
	for (size_t i = 0; i < gs->cap; i++) {
		struct group *g = gs->slots[i];
		for (uint32_t k = 0; g && k < g->n; k++)
			g->m[k]->deadline_ms = now + session_ms(gs, g);
	}
	gs->loading = 0;
	gs->active = 1;
	log_info("consumer groups: %zu groups, a session of grace each",
		 gs->count);
	return STORE_OK;
}

static void mod_leadership(void *self, int active)
{
	struct groups *gs = self;
	int rv;
	gs->gen++;
	gs->cfg_gen++;
	table_clear(gs);
	gs->active = 0;
	gs->loading = 0;
	uv_timer_stop(&gs->timer);
	if (!active)
		return;
	uv_timer_start(&gs->timer, on_tick, TICK_MS, TICK_MS);
	rv = load_groups(gs);
	if (rv != STORE_OK) {
		gs->loading = 1;
		log_warn("cannot load the consumer groups (%s): group requests "
			 "are answered UNAVAILABLE until a tick loads them",
			 rv < 0 ? "out of memory" : store_errmsg(gs->store));
	}
}

static void mod_applied(void *self, uint64_t index,
			const Synod__Rec__RecordBatch *b)
{
	struct groups *gs = self;
	int topics = 0;
	(void)index;
	if (!gs->active)
		return;
	for (size_t i = 0; i < b->n_records; i++) {
		int c = b->records[i]->body_case;
		if (c == SYNOD__REC__RECORD__BODY_SET_CONFIG ||
		    c == SYNOD__REC__RECORD__BODY_DELETE_CONFIG)
			gs->cfg_gen++; /* times are read again */
		if (!topics &&
		    (c == SYNOD__REC__RECORD__BODY_CREATE_TOPIC ||
		     c == SYNOD__REC__RECORD__BODY_CREATE_PARTITIONS ||
		     c == SYNOD__REC__RECORD__BODY_REMOVE_TOPIC)) {
			topics = 1;
			for (size_t k = 0; k < gs->cap; k++)
				if (gs->slots[k])
					gs->slots[k]->dirty = 1;
		}
	}
}

/* NODE_STATUS: the groups and their members, on the active controller. */
static void mod_status(void *self, Synod__Wire__NodeStatusResponse *m)
{
	struct groups *gs = self;
	uint32_t members = 0;
	if (!gs->active)
		return;
	m->has_groups_empty = m->has_groups_assigning = 1;
	m->has_groups_reconciling = m->has_groups_stable = 1;
	for (size_t i = 0; i < gs->cap; i++)
		if (gs->slots[i]) {
			const char *st = group_state(gs->slots[i]);
			members += gs->slots[i]->n;
			if (strcmp(st, "empty") == 0)
				m->groups_empty++;
			else if (strcmp(st, "assigning") == 0)
				m->groups_assigning++;
			else if (strcmp(st, "reconciling") == 0)
				m->groups_reconciling++;
			else
				m->groups_stable++;
		}
	m->has_groups = m->has_group_members = 1;
	m->has_group_heartbeats = m->has_group_assign_max_us = 1;
	m->groups = (uint32_t)gs->count;
	m->group_members = members;
	m->group_heartbeats = gs->stats.heartbeats;
	m->group_assign_max_us = gs->stats.assign_max_us;
	m->has_group_joins = m->has_group_rejoins = 1;
	m->group_joins = gs->stats.joins + gs->stats.rejoins;
	m->group_rejoins = gs->stats.rejoins;
}

static void timer_closed(uv_handle_t *h)
{
	struct groups *gs = h->data;
	gs->closing = 2;
	if (gs->ops == 0)
		free(gs);
}

static void mod_close(void *self)
{
	struct groups *gs = self;
	gs->closing = 1;
	gs->gen++;
	gs->active = 0;
	table_clear(gs);
	uv_close((uv_handle_t *)&gs->timer, timer_closed);
}

static const struct module_api groups_apis[] = {
    {SYNOD_API_GROUP_HEARTBEAT, "GROUP_HEARTBEAT", 1, 1, 1,
     &synod__wire__group_heartbeat_request__descriptor, api_heartbeat,
     ACL_CONSUMER, NULL},
    {SYNOD_API_GROUP_LIST, "GROUP_LIST", 1, 1, 1,
     &synod__wire__group_list_request__descriptor, api_list, ACL_READ, NULL},
    {SYNOD_API_GROUP_DESCRIBE, "GROUP_DESCRIBE", 1, 1, 1,
     &synod__wire__group_describe_request__descriptor, api_describe, ACL_READ,
     NULL},
    {SYNOD_API_GROUP_DELETE, "GROUP_DELETE", 1, 1, 1,
     &synod__wire__group_delete_request__descriptor, api_delete, ACL_WRITE,
     NULL},
    {SYNOD_API_GROUP_REMOVE_MEMBER, "GROUP_REMOVE_MEMBER", 1, 1, 1,
     &synod__wire__group_remove_member_request__descriptor, api_remove_member,
     ACL_WRITE, NULL},
};

void groups_module(struct groups *gs, struct module *m)
{
	memset(m, 0, sizeof *m);
	m->name = "groups";
	m->self = gs;
	m->apis = groups_apis;
	m->n_apis = sizeof groups_apis / sizeof groups_apis[0];
	m->leadership = mod_leadership;
	m->applied = mod_applied;
	m->status = mod_status;
	m->close = mod_close;
}

int groups_new(struct server *s, struct groups **out)
{
	struct groups *gs = calloc(1, sizeof *gs);
	if (gs == NULL)
		return -1;
	gs->server = s;
	gs->node = s->node;
	gs->store = s->node->fsm.store;
	gs->cfg_gen = 1; /* a new group (cfg_seen 0) reads its times */
	uv_timer_init(s->loop, &gs->timer);
	gs->timer.data = gs;
	*out = gs;
	return 0;
}

const struct groups_stats *groups_stats(const struct groups *gs)
{
	return &gs->stats;
}
