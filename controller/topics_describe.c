/* controller/topics_describe.c - DESCRIBE_TOPICS (20): linearizable, paged
 * descriptions of topics and partitions. See topics.h (what) and topics_int.h
 * (the shared state). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configdefs.h"
#include "election.h"
#include "synod/client.h"
#include "topics_int.h"

/* ---- describe ---- */

struct desc_ctx {
	struct topics *t;
	Synod__Wire__DescribeTopicsRequest *req;
	Synod__Wire__TopicDescription *descs;
	size_t n, cap;
	struct push_ctx parts; /* partition states of all topics */
	size_t *first_part;    /* per topic: first index in parts.states */
	size_t *n_part;
	Synod__Wire__ConfigEntry **cfg_entries;
	size_t *n_cfg;
	int failed;
	/* pages: bytes used of budget (SIZE_MAX: no pages); where the topic
	 * being described starts (partition after which) and, when the
	 * budget ran out, the last partition included */
	size_t used, budget;
	int64_t cur_tid;
	int32_t after_part, stop_part;
	/* pages: partitions looked at (kept or filtered out), bounded by
	 * DESC_SCAN_ROWS so that a filter matching little (only_offline)
	 * never walks every partition in one loop turn */
	size_t scanned;
};

/* Partitions a page looks at, at most: a page costs the loop about
 * 1 us a partition. */
#define DESC_SCAN_ROWS 2048

static int page_full(const struct desc_ctx *x)
{
	return x->used >= x->budget ||
	       (x->budget != SIZE_MAX && x->scanned >= DESC_SCAN_ROWS);
}

static int desc_partition(void *arg, const struct store_topic *t,
			  const struct store_partition *p)
{
	struct desc_ctx *x = arg;
	int keep = 1;
	if (t->tid != x->cur_tid)
		return 2; /* the next topic: this one is done */
	x->scanned++;
	if (x->req->only_offline && p->leader != EL_NO_LEADER)
		keep = 0;
	if (x->req->only_under_replicated && p->n_isr >= p->n_replicas)
		keep = 0;
	if (keep) {
		if (tp_push_add_partition(&x->parts, t, p) != 0)
			return -1;
		x->n_part[x->n - 1]++;
		x->used += tp_est_partition(t, p);
	}
	if (page_full(x)) {
		x->stop_part = p->partition;
		return 1;
	}
	return 0;
}

static int desc_config(void *arg, unsigned scope, const char *resource,
		       const char *key, const char *value)
{
	struct desc_ctx *x = arg;
	size_t ti = x->n - 1;
	Synod__Wire__ConfigEntry *e;
	(void)scope;
	(void)resource;
	x->cfg_entries[ti] =
	    tp_grow(x->cfg_entries[ti], &(size_t){x->n_cfg[ti]},
		    x->n_cfg[ti] + 1, sizeof *x->cfg_entries[ti], &x->failed);
	if (x->failed)
		return -1;
	e = &x->cfg_entries[ti][x->n_cfg[ti]++];
	synod__wire__config_entry__init(e);
	e->scope = SYNOD_SCOPE_TOPIC;
	e->key = tp_keep_str(&x->parts, key);
	e->value = tp_keep_str(&x->parts, value);
	return e->key && e->value ? 0 : -1;
}

static int desc_topic(void *arg, const struct store_topic *t)
{
	struct desc_ctx *x = arg;
	Synod__Wire__TopicDescription *d;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		void *a = realloc(x->descs, cap * sizeof *x->descs);
		void *b =
		    a ? realloc(x->first_part, cap * sizeof(size_t)) : NULL;
		void *c = b ? realloc(x->n_part, cap * sizeof(size_t)) : NULL;
		void *e =
		    c ? realloc(x->cfg_entries, cap * sizeof *x->cfg_entries)
		      : NULL;
		void *f = e ? realloc(x->n_cfg, cap * sizeof(size_t)) : NULL;
		if (a)
			x->descs = a;
		if (b)
			x->first_part = b;
		if (c)
			x->n_part = c;
		if (e)
			x->cfg_entries = e;
		if (f == NULL)
			return -1;
		x->n_cfg = f;
		x->cap = cap;
	}
	d = &x->descs[x->n];
	synod__wire__topic_description__init(d);
	d->name = tp_keep_str(&x->parts, t->name);
	d->topic_id.data =
	    (uint8_t *)tp_keep_str(&x->parts, "0123456789abcdef");
	if (d->name == NULL || d->topic_id.data == NULL)
		return -1;
	memcpy(d->topic_id.data, t->topic_id, 16);
	d->topic_id.len = 16;
	d->partition_count = t->n_partitions;
	x->first_part[x->n] = x->parts.n_states;
	x->n_part[x->n] = 0;
	x->cfg_entries[x->n] = NULL;
	x->n_cfg[x->n] = 0;
	x->n++;
	if (store_config_list(x->t->store, SYNOD_SCOPE_TOPIC, t->name,
			      desc_config, x) != 0)
		return -1;
	x->used += 64 + strlen(t->name);
	x->scanned++;
	if (x->req->no_partitions)
		return 0;
	/* The topic's partitions after after_part, page by page; 1 when the
	 * budget ran out at stop_part. */
	x->cur_tid = t->tid;
	for (struct store_pkey k = {t->tid, x->after_part};;) {
		unsigned n;
		int rv = store_partitions_page(x->t->store, &k, PAGE_ROWS, &n,
					       desc_partition, x);
		if (rv == 1)
			return 1;
		if (rv == 2 || (rv == 0 && n < PAGE_ROWS))
			return 0;
		if (rv != 0)
			return -1;
	}
}

struct all_ctx {
	struct desc_ctx *x;
	int more, failed;
	struct cursor *next;
};

static int desc_all_topic(void *arg, const struct store_topic *tp)
{
	struct all_ctx *a = arg;
	int rv;
	if (page_full(a->x) && a->x->n > 0) {
		a->more = 1;
		a->next->tid = tp->tid;
		a->next->partition = -1;
		return 1;
	}
	rv = desc_topic(a->x, tp);
	a->x->after_part = -1;
	if (rv == 1) {
		a->more = 1;
		a->next->tid = tp->tid;
		a->next->partition = a->x->stop_part;
		return 1;
	}
	if (rv != 0)
		a->failed = 1;
	return rv;
}

/* Every topic, in topic number order, from cursor c (NULL: the start). */
static int describe_all(struct topics *t, struct desc_ctx *x,
			const struct cursor *c, int *more, struct cursor *next)
{
	struct all_ctx a = {x, 0, 0, next};
	int64_t after = 0;
	unsigned n;
	if (c) {
		struct store_topic tp;
		/* The topic the last page stopped in (gone meanwhile: go on
		 * after it). */
		if (store_topic_get_by_tid(t->store, c->tid, &tp) == STORE_OK &&
		    desc_all_topic(&a, &tp) != 0) {
			*more = a.more;
			return a.failed ? SYNOD_EUNKNOWN : SYNOD_OK;
		}
		after = c->tid;
	}
	do {
		int rv = store_topics_since_page(t->store, 0, &after, PAGE_ROWS,
						 &n, desc_all_topic, &a);
		if (a.failed || (rv != 0 && rv != 1))
			return SYNOD_EUNKNOWN;
		if (rv == 1)
			break;
	} while (n == PAGE_ROWS);
	*more = a.more;
	return SYNOD_OK;
}

static void describe_done(struct node *n, struct waiter *w, int rc,
			  const int *statuses)
{
	struct top *o = w->data;
	struct topics *t = o->t;
	Synod__Wire__DescribeTopicsRequest *req = o->p->msg;
	Synod__Wire__DescribeTopicsResponse r =
	    SYNOD__WIRE__DESCRIBE_TOPICS_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	struct desc_ctx x;
	Synod__Wire__TopicDescription **dp = NULL;
	Synod__Wire__PartitionState **pp = NULL;
	Synod__Wire__ConfigEntry **cp = NULL;
	size_t n_cfg_total = 0;
	char leader[SYNOD_ADDR_MAX], msg[300] = "";
	uint64_t lid = 0;
	struct cursor c = {0, 0, -1, 0}, next = {0, 0, -1, 0};
	uint8_t next_buf[CURSOR_LEN];
	int more = 0;
	(void)statuses;
	memset(&x, 0, sizeof x);
	x.t = t;
	x.req = req;
	x.parts.t = t;
	x.budget = req->has_pages && req->pages ? tp_page_bytes(t) : SIZE_MAX;
	x.after_part = -1;
	if (rc == SYNOD_OK && req->has_cursor) {
		if (tp_cursor_get(&req->cursor, &c) != 0 ||
		    (req->n_names > 0 && (uint64_t)c.tid >= req->n_names))
			rc = SYNOD_EINVALID_REQUEST;
		else
			x.after_part = c.partition;
	}
	if (rc == SYNOD_OK) {
		if (req->n_names == 0 && x.budget == SIZE_MAX) {
			/* Unpaged (older clients): by name, all at once. */
			if (store_topic_list(n->fsm.store, desc_topic, &x) != 0)
				rc = SYNOD_EUNKNOWN;
		} else if (req->n_names == 0) {
			rc = describe_all(t, &x, req->has_cursor ? &c : NULL,
					  &more, &next);
		} else {
			size_t i = req->has_cursor ? (size_t)c.tid : 0;
			for (; i < req->n_names && rc == SYNOD_OK && !more;
			     i++) {
				struct store_topic tp;
				int drv;
				if (store_topic_get(n->fsm.store, req->names[i],
						    &tp) != STORE_OK) {
					rc = SYNOD_EUNKNOWN_TOPIC;
					snprintf(msg, sizeof msg, "no topic %s",
						 req->names[i]);
					break;
				}
				if (page_full(&x) && x.n > 0) {
					more = 1; /* this topic on the next */
					next.tid = (int64_t)i;
					next.partition = -1;
					break;
				}
				drv = desc_topic(&x, &tp);
				x.after_part = -1;
				if (drv == 1) {
					more = 1;
					next.tid = (int64_t)i;
					next.partition = x.stop_part;
				} else if (drv != 0) {
					rc = SYNOD_EUNKNOWN;
				}
			}
		}
	}
	if (rc == SYNOD_OK && (x.parts.failed || x.failed))
		rc = SYNOD_EUNKNOWN;
	if (rc == SYNOD_OK) {
		for (size_t i = 0; i < x.n; i++)
			n_cfg_total += x.n_cfg[i];
		dp = calloc(x.n + 1, sizeof *dp);
		pp = calloc(x.parts.n_states + 1, sizeof *pp);
		cp = calloc(n_cfg_total + 1, sizeof *cp);
		if (dp == NULL || pp == NULL || cp == NULL)
			rc = SYNOD_EUNKNOWN;
	}
	if (rc == SYNOD_OK) {
		size_t ci = 0;
		for (size_t i = 0; i < x.parts.n_states; i++) {
			Synod__Wire__PartitionState *ps = &x.parts.states[i];
			size_t off = (size_t)(uintptr_t)ps->replicas;
			ps->replicas = x.parts.ids + off;
			ps->isr = x.parts.ids + off + ps->n_replicas;
			pp[i] = ps;
		}
		for (size_t i = 0; i < x.n; i++) {
			x.descs[i].n_partitions = x.n_part[i];
			x.descs[i].partitions = pp + x.first_part[i];
			x.descs[i].n_configs = x.n_cfg[i];
			x.descs[i].configs = cp + ci;
			for (size_t k = 0; k < x.n_cfg[i]; k++)
				cp[ci++] = &x.cfg_entries[i][k];
			dp[i] = &x.descs[i];
		}
		r.n_topics = x.n;
		r.topics = dp;
		r.has_metadata_version = 1;
		r.metadata_version = store_applied_index(n->fsm.store);
		if (more) {
			next.phase = 0;
			next.version = r.metadata_version;
			tp_cursor_put(&next, next_buf);
			r.has_next_cursor = 1;
			r.next_cursor.data = next_buf;
			r.next_cursor.len = CURSOR_LEN;
		}
	}
	srv_fill_status(t->server, &st, rc, msg[0] ? msg : NULL, &lid, leader,
			sizeof leader);
	r.status = &st;
	srv_send(o->p->sc, &o->p->h, &r.base);
	free(dp);
	free(pp);
	free(cp);
	for (size_t i = 0; i < x.n; i++)
		free(x.cfg_entries[i]);
	free(x.cfg_entries);
	free(x.n_cfg);
	free(x.descs);
	free(x.first_part);
	free(x.n_part);
	tp_push_free(&x.parts);
	srv_pending_free(o->p);
	tp_top_free(o);
}

void tp_handle_describe(struct topics *t, struct sconn *sc,
			const struct frame_header *h,
			Synod__Wire__DescribeTopicsRequest *req)
{
	struct pending *p;
	struct top *o;
	int rv = srv_check_read(sc);
	if (rv == SYNOD_OK && req->n_names > MAX_NAMES_PER_REQUEST)
		rv = SYNOD_EINVALID_ARGUMENT;
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv,
				 rv == SYNOD_EINVALID_ARGUMENT
				     ? "too many topics named in one request"
				     : NULL);
		synod__wire__describe_topics_request__free_unpacked(req, NULL);
		return;
	}
	p = srv_pending_new(sc, h, req, NULL, NULL);
	o = p ? tp_top_new(t, p, describe_done) : NULL;
	if (o == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (p)
			srv_pending_free(p);
		else
			synod__wire__describe_topics_request__free_unpacked(
			    req, NULL);
		return;
	}
	rv = srv_read(sc, &o->w);
	if (rv != SYNOD_OK) {
		srv_reply_status(sc, h, rv, NULL);
		srv_pending_free(p);
		tp_top_free(o);
	}
}
