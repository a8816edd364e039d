/* controller/node.c - raft wiring, leadership, group commit, reads. */
#include "node.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/statvfs.h>
#include <time.h>

#include "log.h"
#include "logcheck.h"
#include "synod/client.h"

#define POLL_MS 10
#define BATCH_HEADER_MAX 32

struct proposal {
	struct raft_apply req;
	struct node *node;
	uint64_t proposed_ms; /* for the leadership lease */
	uint64_t proposed_ns; /* for the commit latency */
	struct proposal *next, *prev;
	uint64_t index;
	unsigned n_records;
	int *statuses;
	struct waiter *waiters;
	struct waiter *reads; /* reads that ride on this entry */
};

struct read_barrier {
	struct raft_barrier req;
	struct node *node;
	uint64_t proposed_ms;
	struct waiter *waiters;
};

struct node_change {
	struct raft_change req;
	struct raft_transfer treq;
	struct node *node;
	node_change_cb cb;
	void *arg;
	uint64_t id;
	const char *what; /* "add-voter", "remove-voter", "transfer-leader" */
	uint64_t started_ms;
	int assign_next; /* add: assign voter role after the spare is in */
};

#define ENTRY_SOFT_MAX ((size_t)32 << 10)

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void complete_list(struct node *n, struct waiter *w, int rc,
			  const int *statuses)
{
	while (w) {
		struct waiter *next = w->next;
		w->next = NULL;
		w->done(n, w, rc, statuses ? statuses + w->first : NULL);
		w = next;
	}
}

static int lost_code(struct node *n)
{
	return n->stopping ? SYNOD_ESHUTTING_DOWN : SYNOD_ENOT_CONTROLLER;
}

/* Fail what has not been handed to raft yet, and the reads a barrier
 * confirmed that are not answered yet (a module's memory they would read
 * goes with the leadership). */
static void fail_unproposed(struct node *n)
{
	struct waiter *w = n->batch_waiters, *r = n->reads_next,
		      *ready = n->reads_ready;
	n->batch_waiters = NULL;
	n->batch_tail = &n->batch_waiters;
	n->batch_len = 0;
	n->batch_records = 0;
	n->reads_next = NULL;
	n->reads_next_tail = &n->reads_next;
	n->reads_ready = NULL;
	n->reads_ready_tail = &n->reads_ready;
	uv_idle_stop(&n->reads_idle);
	complete_list(n, w, lost_code(n), NULL);
	complete_list(n, r, lost_code(n), NULL);
	complete_list(n, ready, lost_code(n), NULL);
}

/* ---- fsm hooks ---- */

static int *statuses_for(void *arg, uint64_t index, unsigned *max)
{
	struct node *n = arg;
	for (struct proposal *p = n->inflight_head; p; p = p->next)
		if (p->index == index) {
			*max = p->n_records;
			return p->statuses;
		}
	return NULL;
}

/* The cluster config log.level (configdefs.c), set for every node: the
 * log level in effect, or the node's own when absent or "node". */
static void sync_log_level(struct node *n)
{
	char *v = NULL;
	int l = 0, before = log_level();
	if (store_config_get(n->fsm.store, STORE_SCOPE_CLUSTER, NULL,
			     "log.level", &v) == STORE_OK &&
	    (l = log_parse_level(v)) < 0)
		l = 0;
	free(v);
	log_set_override(l);
	if (log_level() != before)
		log_event(LOG_INFO, "log_level", "level=%s source=%s",
			  log_level_name(log_level()),
			  l ? "cluster_config" : "node");
}

static int touches_log_level(const Synod__Rec__RecordBatch *b)
{
	for (size_t i = 0; b && i < b->n_records; i++) {
		const Synod__Rec__Record *r = b->records[i];
		if (r->body_case == SYNOD__REC__RECORD__BODY_SET_CONFIG &&
		    r->set_config->scope == STORE_SCOPE_CLUSTER &&
		    strcmp(r->set_config->key, "log.level") == 0)
			return 1;
		if (r->body_case == SYNOD__REC__RECORD__BODY_DELETE_CONFIG &&
		    r->delete_config->scope == STORE_SCOPE_CLUSTER &&
		    strcmp(r->delete_config->key, "log.level") == 0)
			return 1;
	}
	return 0;
}

static void applied(void *arg, uint64_t index, const Synod__Rec__RecordBatch *b)
{
	struct node *n = arg;
	const char *cid = store_cluster_id(n->fsm.store);
	n->stats.entries_applied++;
	if (b == NULL || touches_log_level(b))
		sync_log_level(n);
	if (n->on_applied && b != NULL)
		n->on_applied(n, index, b);
	if (cid[0] != '\0' && strcmp(cid, n->cfg->cluster_id) != 0 &&
	    n->on_fatal) {
		char msg[256];
		snprintf(msg, sizeof msg,
			 "this node is configured for cluster %s but the "
			 "quorum's log is cluster %s",
			 n->cfg->cluster_id, cid);
		n->on_fatal(n, msg);
	}
}

static void restored(void *arg, uint64_t index)
{
	struct node *n = arg;
	log_info("restored snapshot at index %llu (%zu bytes of database)",
		 (unsigned long long)index, store_db_size(n->fsm.store));
	applied(arg, index, NULL);
}

static void fatal(void *arg, const char *msg)
{
	struct node *n = arg;
	if (n->on_fatal)
		n->on_fatal(n, msg);
}

/* ---- group commit ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t i = 0;
	while (v >= 0x80) {
		p[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[i++] = (uint8_t)v;
	return i;
}

static uint64_t mono_ms(void)
{
	return uv_hrtime() / 1000000;
}

/* A proposal made at `at` in this leadership committed: a majority heard
 * from this leader at `at` or later (see node_lease_valid). */
static void confirm(struct node *n, uint64_t at)
{
	if (at > n->confirmed_ms)
		n->confirmed_ms = at;
}

/* Reads a barrier or an entry confirmed. Each is answered from the
 * state applied when it is answered, never older than the confirmation,
 * so answering on a later loop turn stays linearizable. Lease answers
 * (w->now: srv_with_lease, answered from memory) are answered at once,
 * as before; the rest go to a queue that the idle handle serves, once a
 * loop iteration, for at most READS_SLICE_NS (at least one read):
 * thousands of reads pipelined on one barrier, each a store scan and an
 * answer, would otherwise hold the loop for seconds (every other client,
 * broker and raft message waiting). A read answered while this node is
 * no longer the active controller gets lost_code() (fail_unproposed fails
 * the queue when the leadership goes). */
#define READS_SLICE_NS (2u * 1000 * 1000)

static void serve_ready_reads(struct node *n)
{
	uint64_t start = uv_hrtime();
	while (n->reads_ready) {
		struct waiter *w = n->reads_ready;
		if ((n->reads_ready = w->next) == NULL)
			n->reads_ready_tail = &n->reads_ready;
		w->next = NULL;
		w->done(n, w,
			node_check_active(n) == SYNOD_OK ? SYNOD_OK
							 : lost_code(n),
			NULL);
		if (uv_hrtime() - start >= READS_SLICE_NS)
			break;
	}
	if (n->reads_ready == NULL)
		uv_idle_stop(&n->reads_idle);
	else
		n->stats.read_slices_deferred++; /* the idle handle goes on */
}

static void on_reads_idle(uv_idle_t *h)
{
	serve_ready_reads(h->data);
}

/* Reads whose barrier or entry committed (status 0) or failed. */
static void settle_reads(struct node *n, struct waiter *w, int status)
{
	if (status != 0 || n->stopping) {
		complete_list(n, w, lost_code(n), NULL);
		return;
	}
	while (w) {
		struct waiter *next = w->next;
		w->next = NULL;
		if (w->now) {
			w->done(n, w, SYNOD_OK, NULL);
		} else {
			*n->reads_ready_tail = w;
			n->reads_ready_tail = &w->next;
		}
		w = next;
	}
	if (n->reads_ready && !n->stopping)
		uv_idle_start(&n->reads_idle, on_reads_idle);
}

static void apply_cb(struct raft_apply *req, int status, void *result)
{
	struct proposal *p = req->data;
	struct node *n = p->node;
	(void)result;
	if (p->prev)
		p->prev->next = p->next;
	else
		n->inflight_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		n->inflight_tail = p->prev;
	n->inflight_entries--;
	if (status == 0) {
		confirm(n, p->proposed_ms);
		hist_observe(&n->commit_lat,
			     (double)(uv_hrtime() - p->proposed_ns) / 1e9);
		complete_list(n, p->waiters, SYNOD_OK, p->statuses);
	} else {
		complete_list(n, p->waiters, lost_code(n), NULL);
	}
	settle_reads(n, p->reads, status);
	free(p->statuses);
	free(p);
}

static void read_barrier_cb(struct raft_barrier *req, int status)
{
	struct read_barrier *b = req->data;
	struct node *n = b->node;
	n->read_barriers_inflight--;
	if (status == 0)
		confirm(n, b->proposed_ms);
	settle_reads(n, b->waiters, status);
	free(b);
}

static void propose_batch(struct node *n)
{
	struct proposal *p;
	struct raft_buffer buf;
	uint8_t hdr[BATCH_HEADER_MAX];
	size_t h = 0;
	struct waiter *waiters = n->batch_waiters;
	int rv;

	if (n->batch_records == 0)
		return;
	/* RecordBatch: field 1 version, field 2 timestamp, then the records
	 * already packed as repeated field 3. */
	hdr[h++] = 0x08;
	h += put_varint(hdr + h, STORE_ENVELOPE_VERSION);
	hdr[h++] = 0x10;
	h += put_varint(hdr + h, wall_ms());

	/* raft_uv wants entry lengths in multiples of 8: pad with field 15
	 * (bytes), tag 0x7A, a one-byte length and 0-7 zero bytes. */
	size_t pad = (8 - (h + n->batch_len + 2) % 8) % 8;
	p = calloc(1, sizeof *p);
	buf.len = h + n->batch_len + 2 + pad;
	buf.base = raft_malloc(buf.len);
	if (p)
		p->statuses = calloc(n->batch_records, sizeof *p->statuses);
	if (p == NULL || buf.base == NULL || p->statuses == NULL) {
		if (p)
			free(p->statuses);
		free(p);
		raft_free(buf.base);
		n->batch_waiters = NULL;
		n->batch_tail = &n->batch_waiters;
		n->batch_len = n->batch_records = 0;
		complete_list(n, waiters, SYNOD_EUNAVAILABLE, NULL);
		return;
	}
	memcpy(buf.base, hdr, h);
	memcpy((uint8_t *)buf.base + h, n->batch_buf, n->batch_len);
	((uint8_t *)buf.base)[h + n->batch_len] = 0x7A;
	((uint8_t *)buf.base)[h + n->batch_len + 1] = (uint8_t)pad;
	memset((uint8_t *)buf.base + h + n->batch_len + 2, 0, pad);
	p->node = n;
	p->proposed_ms = mono_ms();
	p->proposed_ns = uv_hrtime();
	p->n_records = n->batch_records;
	p->waiters = waiters;
	p->req.data = p;
	n->batch_waiters = NULL;
	n->batch_tail = &n->batch_waiters;
	n->batch_len = 0;
	n->batch_records = 0;
	/* Reads that arrived so far ride on this entry. */
	if (n->reads_next) {
		p->reads = n->reads_next;
		n->stats.reads++;
		n->reads_next = NULL;
		n->reads_next_tail = &n->reads_next;
	}
	rv = raft_apply(&n->raft, &p->req, &buf, 1, apply_cb);
	if (rv != 0) {
		log_warn("raft_apply: %s", raft_strerror(rv));
		/* Only these fail before raft takes the buffer; after any
		 * other error raft may have logged it already: leak rather
		 * than risk a double free. */
		if (rv == RAFT_NOTLEADER || rv == RAFT_NOSPACE ||
		    rv == RAFT_NOMEM || rv == RAFT_CANTCHANGE)
			raft_free(buf.base);
		rv = rv == RAFT_NOTLEADER ? SYNOD_ENOT_CONTROLLER
					  : SYNOD_EUNAVAILABLE;
		complete_list(n, p->waiters, rv, NULL);
		complete_list(n, p->reads, rv, NULL);
		free(p->statuses);
		free(p);
		return;
	}
	n->stats.bytes_proposed += buf.len;
	p->index = p->req.index;
	p->prev = n->inflight_tail;
	if (n->inflight_tail)
		n->inflight_tail->next = p;
	else
		n->inflight_head = p;
	n->inflight_tail = p;
	n->inflight_entries++;
	n->stats.entries_proposed++;
	n->stats.records_proposed += p->n_records;
}

static void issue_read_barrier(struct node *n)
{
	struct read_barrier *b;
	struct waiter *w = n->reads_next;
	int rv;
	if (w == NULL)
		return;
	n->reads_next = NULL;
	n->reads_next_tail = &n->reads_next;
	b = calloc(1, sizeof *b);
	if (b == NULL) {
		complete_list(n, w, SYNOD_EUNAVAILABLE, NULL);
		return;
	}
	b->node = n;
	b->waiters = w;
	b->req.data = b;
	b->proposed_ms = mono_ms();
	rv = raft_barrier(&n->raft, &b->req, read_barrier_cb);
	if (rv != 0) {
		free(b);
		complete_list(n, w, SYNOD_ENOT_CONTROLLER, NULL);
		return;
	}
	n->read_barriers_inflight++;
	n->stats.barriers++;
	n->stats.reads++;
}

static void flush(struct node *n)
{
	if (n->flush_armed) {
		uv_check_stop(&n->flush_check);
		uv_idle_stop(&n->flush_idle);
		n->flush_armed = 0;
	}
	if (n->stopping)
		return;
	propose_batch(n);
	issue_read_barrier(n);
}

static void on_flush_check(uv_check_t *h)
{
	flush(h->data);
}

static void on_flush_idle(uv_idle_t *h)
{
	flush(h->data);
}

static void arm_flush(struct node *n)
{
	if (n->flush_armed)
		return;
	uv_check_start(&n->flush_check, on_flush_check);
	uv_idle_start(&n->flush_idle, on_flush_idle);
	n->flush_armed = 1;
}

int node_check_active(struct node *n)
{
	if (n->stopping)
		return SYNOD_ESHUTTING_DOWN;
	if (n->active && raft_state(&n->raft) == RAFT_LEADER)
		return SYNOD_OK;
	if (n->is_leader)
		return SYNOD_EUNAVAILABLE; /* elected, first barrier pending */
	return SYNOD_ENOT_CONTROLLER;
}

int node_propose(struct node *n, const Synod__Rec__Record *const *recs,
		 unsigned n_recs, struct waiter *w)
{
	size_t need = 0;
	Synod__Rec__ClientRequest cr = SYNOD__REC__CLIENT_REQUEST__INIT;
	Synod__Rec__Record mark = SYNOD__REC__RECORD__INIT;
	int marked = w->client_id != NULL;
	int rv = node_check_active(n);
	if (rv != SYNOD_OK)
		return rv;
	if (marked) {
		cr.client_id.data = (uint8_t *)w->client_id;
		cr.client_id.len = 16;
		cr.request = w->request;
		cr.records = n_recs;
		mark.body_case = SYNOD__REC__RECORD__BODY_CLIENT_REQUEST;
		mark.client_request = &cr;
		need += 11 + protobuf_c_message_get_packed_size(&mark.base);
	}
	for (unsigned i = 0; i < n_recs; i++)
		need += 11 + protobuf_c_message_get_packed_size(&recs[i]->base);
	if (need > n->cfg->max_frame)
		return SYNOD_EMESSAGE_TOO_LARGE;
	/* Group commit closes an entry at ENTRY_SOFT_MAX bytes too: one
	 * proposal may be larger (up to max_frame), but entries packed from
	 * many are kept small enough for a follower to apply quickly. */
	if (n->batch_records > 0 &&
	    (n->batch_records + n_recs + (unsigned)marked >
		 n->cfg->max_batch_records ||
	     n->batch_len + need > n->cfg->max_frame ||
	     n->batch_len + need > ENTRY_SOFT_MAX))
		propose_batch(n);
	if (n->batch_cap - n->batch_len < need) {
		size_t cap = n->batch_cap ? n->batch_cap : 64 * 1024;
		while (cap - n->batch_len < need)
			cap *= 2;
		uint8_t *b = realloc(n->batch_buf, cap);
		if (b == NULL)
			return SYNOD_EUNAVAILABLE;
		n->batch_buf = b;
		n->batch_cap = cap;
	}
	if (marked) {
		size_t len = protobuf_c_message_get_packed_size(&mark.base);
		n->batch_buf[n->batch_len++] = 0x1A; /* field 3, LEN */
		n->batch_len += put_varint(n->batch_buf + n->batch_len, len);
		protobuf_c_message_pack(&mark.base,
					n->batch_buf + n->batch_len);
		n->batch_len += len;
		n->batch_records++;
		w->client_id = NULL; /* one proposal per request */
	}
	w->first = n->batch_records;
	w->count = n_recs;
	for (unsigned i = 0; i < n_recs; i++) {
		size_t len = protobuf_c_message_get_packed_size(&recs[i]->base);
		n->batch_buf[n->batch_len++] = 0x1A; /* field 3, LEN */
		n->batch_len += put_varint(n->batch_buf + n->batch_len, len);
		protobuf_c_message_pack(&recs[i]->base,
					n->batch_buf + n->batch_len);
		n->batch_len += len;
	}
	n->batch_records += n_recs;
	w->next = NULL;
	*n->batch_tail = w;
	n->batch_tail = &w->next;
	arm_flush(n);
	return SYNOD_OK;
}

int node_read(struct node *n, struct waiter *w)
{
	int rv = node_check_active(n);
	if (rv != SYNOD_OK)
		return rv;
	w->first = 0;
	w->count = 0;
	w->next = NULL;
	*n->reads_next_tail = w;
	n->reads_next_tail = &w->next;
	arm_flush(n);
	return SYNOD_OK;
}

/* ---- leadership ---- */

static void init_cluster_done(struct node *n, struct waiter *w, int rc,
			      const int *statuses)
{
	if (rc == SYNOD_OK && statuses && statuses[0] == STORE_R_OK)
		log_info("cluster %s initialised", n->cfg->cluster_id);
	else if (rc == SYNOD_OK && statuses &&
		 statuses[0] == STORE_R_CLUSTER_MISMATCH && n->on_fatal)
		n->on_fatal(n, "the quorum's log belongs to another cluster");
	free(w);
}

static void became_active(struct node *n)
{
	const char *cid = store_cluster_id(n->fsm.store);
	n->active = 1;
	n->stats.leader_elected++;
	log_event(LOG_INFO, "controller_active", "term=%llu commit=%llu",
		  (unsigned long long)n->active_term,
		  (unsigned long long)raft_commit_index(&n->raft));
	if (cid[0] == '\0') {
		Synod__Rec__InitCluster ic = SYNOD__REC__INIT_CLUSTER__INIT;
		Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
		const Synod__Rec__Record *rp = &r;
		struct waiter *w = calloc(1, sizeof *w);
		ic.cluster_id = (char *)n->cfg->cluster_id;
		ic.schema_version = STORE_SCHEMA_VERSION;
		r.body_case = SYNOD__REC__RECORD__BODY_INIT_CLUSTER;
		r.init_cluster = &ic;
		if (w) {
			w->done = init_cluster_done;
			if (node_propose(n, &rp, 1, w) != SYNOD_OK)
				free(w);
		}
	}
	if (n->on_leadership)
		n->on_leadership(n, 1);
}

static void lead_barrier_cb(struct raft_barrier *req, int status)
{
	struct node *n = req->data;
	int current = n->lead_barrier == req;
	free(req);
	if (!current)
		return;
	n->lead_barrier = NULL;
	if (n->stopping)
		return;
	if (status != 0 || raft_state(&n->raft) != RAFT_LEADER ||
	    raft_current_term(&n->raft) != n->active_term) {
		n->is_leader = 0; /* poll retries if still leader */
		return;
	}
	confirm(n, n->lead_barrier_ms);
	became_active(n);
}

static void lose_leadership(struct node *n)
{
	int was_active = n->active;
	n->is_leader = 0;
	n->active = 0;
	n->confirmed_ms = 0;
	n->lead_barrier = NULL; /* its callback will see it is stale */
	fail_unproposed(n);
	if (was_active) {
		log_event(LOG_INFO, "controller_inactive", "term=%llu",
			  (unsigned long long)raft_current_term(&n->raft));
		if (n->on_leadership)
			n->on_leadership(n, 0);
	}
}

static void check_leadership(struct node *n)
{
	raft_term term = raft_current_term(&n->raft);
	int state = raft_state(&n->raft);
	if (term != n->term) {
		if (n->term != 0)
			n->stats.term_changes++;
		n->term = term;
	}
	if (state == RAFT_LEADER) {
		if (n->is_leader && n->active_term == term)
			return;
		if (n->is_leader)
			lose_leadership(n);
		struct raft_barrier *b = calloc(1, sizeof *b);
		if (b == NULL)
			return;
		b->data = n;
		n->lead_barrier_ms = mono_ms();
		n->confirmed_ms = 0;
		int rv = raft_barrier(&n->raft, b, lead_barrier_cb);
		if (rv != 0) {
			log_warn("barrier after election: %s (retrying)",
				 raft_strerror(rv));
			free(b);
			return;
		}
		n->is_leader = 1;
		n->active = 0;
		n->active_term = term;
		n->lead_barrier = b;
		log_event(LOG_INFO, "raft_leader_elected",
			  "term=%llu waiting_for=barrier",
			  (unsigned long long)term);
	} else if (n->is_leader) {
		lose_leadership(n);
	}
}

/* The poll timer doubles as the loop's stall meter: how much later than
 * POLL_MS after the previous run it ran. */
static void measure_stall(struct node *n)
{
	uint64_t now = uv_hrtime();
	if (n->stats.last_poll_ns != 0) {
		uint64_t gap_us = (now - n->stats.last_poll_ns) / 1000;
		uint64_t late =
		    gap_us > POLL_MS * 1000 ? gap_us - POLL_MS * 1000 : 0;
		if (late > n->stats.loop_stall_max_us)
			n->stats.loop_stall_max_us = late;
		if (late > 50000)
			n->stats.loop_stalls_50ms++;
		if (late > 1000u * n->cfg->election_timeout_ms / 2)
			log_warn("event loop stalled %llu ms (election timeout "
				 "%u ms)",
				 (unsigned long long)(late / 1000),
				 n->cfg->election_timeout_ms);
	}
	n->stats.last_poll_ns = now;
}

static void disk_handoff_done(struct node *n, void *arg, int rc,
			      const char *msg)
{
	(void)arg;
	if (rc == SYNOD_OK)
		log_warn("leadership handed over (the data dir's disk)");
	else
		log_warn("leadership hand-over for the disk failed: %s",
			 msg ? msg : synod_strerror(rc));
	(void)n;
}

/* A write to the raft directory failed: the node stops (on_fatal: a clean
 * stop on the next loop turn), saying whether the disk is full or
 * failing. Fail-stop, as etcd and PostgreSQL do on a
 * failed write: nothing unwritten was acknowledged, and libraft cannot
 * go on (uv_trace, raftio.h's on_disk_error). */
static void disk_failed(struct node *n, const char *what, const char *why)
{
	char msg[1024];
	if (n->disk_failed)
		return;
	n->disk_failed = 1;
	if (raftio_why_no_space(why))
		snprintf(msg, sizeof msg,
			 "%s/raft: %s failed (%s): no space left on the "
			 "disk. Stopping: this node cannot keep its log, term "
			 "and vote. Nothing unwritten was acknowledged; the "
			 "other nodes go on. Free space on the disk (or grow "
			 "its filesystem), then start the node "
			 "(docs/operations.md, 'Full disk')",
			 n->cfg->data_dir, what, why);
	else
		snprintf(msg, sizeof msg,
			 "%s/raft: %s failed (%s): the disk is failing. "
			 "Stopping: this node cannot keep its log, term and "
			 "vote. Nothing unwritten was acknowledged; the other "
			 "nodes go on. Check the kernel log, fix or replace "
			 "the disk, then start the node (docs/operations.md, "
			 "'A failing disk')",
			 n->cfg->data_dir, what, why);
	if (n->on_fatal != NULL)
		n->on_fatal(n, msg);
}

/* raft_uv's diagnostics. libraft 0.22.1 retries a failed segment write on
 * the wrong timer (src/uv_append.c: uvAppendRetryTimerCb is started on
 * prepare_retry, whose data is not the segment) and crashes when it
 * fires, disk_retry (5 s) later; a segment it cannot close or a log
 * truncation that fails only sets a flag nothing reads. These
 * diagnostics are the only reports (raftio_trace_failure). Some come from
 * raft_uv's worker threads: the first is published to the loop, which
 * stops the node (check_disk_failure, within POLL_MS). LIBRAFT_TRACE still
 * prints them all. Cost: libraft formats each diagnostic (a few per
 * message sent or entry appended) once a tracer is set. */
static void uv_trace(struct raft_tracer *t, int type, const void *info)
{
	const struct raft_tracer_info *i = info;
	struct node *n = t->impl;
	const char *m, *what;
	char why[sizeof n->disk_fail_why - 64], copy[sizeof why];
	if (type != RAFT_TRACER_DIAGNOSTIC || i->version < 1 ||
	    i->diagnostic.message == NULL)
		return;
	m = i->diagnostic.message;
	if (n->trace_stderr)
		fprintf(stderr, "LIBRAFT   %s:%d %s\n", i->diagnostic.file,
			i->diagnostic.line, m);
	if (raftio_trace_snapshot_retry(m)) {
		atomic_store(&n->snapshot_retry_ns, uv_hrtime());
		atomic_fetch_add(&n->snapshot_retries, 1);
	}
	if (raftio_trace_save_step(m)) {
		unsigned k;
		uv_mutex_lock(&n->save_steps_lock);
		k = n->save_steps_next;
		n->save_steps_next = (k + 1) % SAVE_STEPS;
		if (n->save_steps_count < SAVE_STEPS)
			n->save_steps_count++;
		n->save_steps[k].ns = uv_hrtime();
		snprintf(n->save_steps[k].text, sizeof n->save_steps[k].text,
			 "%s:%d %s",
			 i->diagnostic.file ? i->diagnostic.file : "?",
			 i->diagnostic.line, m);
		uv_mutex_unlock(&n->save_steps_lock);
		return;
	}
	/* A cheap filter on libraft's buffer (most diagnostics stop here),
	 * then the match that counts, on a copy no other thread writes: a
	 * report once named the wrong file (reliability.md 5.16). The
	 * report says where libraft said it. */
	if (!raftio_trace_failure(m, &what, why, sizeof why))
		return;
	snprintf(copy, sizeof copy, "%s", m);
	if (!raftio_trace_failure(copy, &what, why, sizeof why) ||
	    atomic_exchange(&n->disk_fail_claimed, 1) != 0)
		return;
	n->disk_fail_what = what;
	snprintf(n->disk_fail_why, sizeof n->disk_fail_why, "%s; %s:%d", why,
		 i->diagnostic.file ? i->diagnostic.file : "?",
		 i->diagnostic.line);
	atomic_store_explicit(&n->disk_fail_pending, 1, memory_order_release);
}

/* On the loop: a failure uv_trace published. */
static void check_disk_failure(struct node *n)
{
	if (atomic_load_explicit(&n->disk_fail_pending, memory_order_acquire))
		disk_failed(n, n->disk_fail_what, n->disk_fail_why);
}

static void on_raftio_disk_error(struct raftio *x, const char *what,
				 const char *errmsg)
{
	disk_failed(x->data, what, errmsg);
}

/* A disk operation in flight since started_ns (0: none) against
 * disk_stall_ms: *stalled follows it and *count counts the stalls that
 * began. Returns 1 when one just began, -1 when one just ended, else 0;
 * *waited_ms is the operation's age. */
static int stall_edge(const struct node *n, uint64_t started_ns, int *stalled,
		      uint64_t *count, uint64_t *waited_ms)
{
	int was = *stalled;
	*waited_ms = started_ns != 0 ? (uv_hrtime() - started_ns) / 1000000 : 0;
	*stalled = *waited_ms >= n->cfg->disk_stall_ms;
	if (*stalled && !was)
		(*count)++;
	return *stalled == was ? 0 : *stalled ? 1 : -1;
}

/* A log write unfinished for disk_stall_ms: a disk that hangs (one whose
 * write fails stops the node: uv_trace). */
static void check_disk_stall(struct node *n, const char *dir)
{
	uint64_t waited_ms;
	int edge =
	    stall_edge(n, raftio_oldest_append_ns(&n->raftio), &n->disk_stalled,
		       &n->stats.disk_stalls, &waited_ms);
	if (edge < 0)
		log_info("%s: log writes complete again", dir);
	else if (edge > 0)
		log_error("%s: a log write has not completed for %llu ms "
			  "(disk_stall_ms %u): the disk hangs or is very "
			  "slow, and this node is not keeping its log. Check "
			  "the kernel log and the disk (docs/operations.md, "
			  "'A failing disk')",
			  dir, (unsigned long long)waited_ms,
			  n->cfg->disk_stall_ms);
}

/* raft_uv 0.22's interval between tries of a snapshot file it could not
 * make (UV__DISK_RETRY_RATE; the node keeps its default). */
#define SNAPSHOT_RETRY_NS (5000ull * 1000000u)

/* Snapshots that cannot be written: raft_uv tries a file it could not
 * make again every 5 s for as long as that fails (its tracer says so), and
 * a save of its own that fails later (naming the file, syncing the
 * directory) is dropped and taken again at the next threshold (raftio).
 * raft's log still works, so the node goes on, but the log grows until a
 * snapshot is written; a disk that fails only there is otherwise silent.
 * (An installation that fails that late stops the node: raftio.h.) */
static void check_snapshot_writes(struct node *n, const char *dir)
{
	uint64_t failed_ns = atomic_load(&n->snapshot_retry_ns);
	int failing;
	if (n->raftio.snapshot_failed_ns > failed_ns)
		failed_ns = n->raftio.snapshot_failed_ns;
	failing = failed_ns != 0 && failed_ns > n->raftio.snapshot_saved_ns;
	n->stats.snapshot_write_failures =
	    atomic_load(&n->snapshot_retries) + n->raftio.snapshot_failures;
	if (failing && !n->snapshot_failing && !n->disk_failed)
		log_error("%s: a snapshot could not be written (%llu bytes "
			  "free); raft tries again. The log is kept and the "
			  "node goes on, but the log grows until a snapshot "
			  "is written. Check the kernel log, the disk and its "
			  "free space (docs/operations.md, 'A failing disk')",
			  dir, (unsigned long long)n->stats.disk_free_bytes);
	else if (!failing && n->snapshot_failing)
		log_info("%s: snapshots are written again", dir);
	n->snapshot_failing = failing;
}

/* What raft_uv said of its saves and barriers before a save stalled,
 * oldest first, with how long ago (reliability.md 5.13: the cause of a
 * save that never ends is not known). */
static void log_save_steps(struct node *n, const char *when)
{
	uint64_t now = uv_hrtime();
	unsigned count, first;
	struct save_step steps[SAVE_STEPS]; /* logged without the lock */
	uv_mutex_lock(&n->save_steps_lock);
	memcpy(steps, n->save_steps, sizeof steps);
	count = n->save_steps_count;
	first = (n->save_steps_next + SAVE_STEPS - count) % SAVE_STEPS;
	uv_mutex_unlock(&n->save_steps_lock);
	for (unsigned j = 0; j < count; j++) {
		unsigned k = (first + j) % SAVE_STEPS;
		log_warn("raft_uv %s: %llu ms ago: %s", when,
			 (unsigned long long)((now - steps[k].ns) / 1000000),
			 steps[k].text);
	}
}

/* A snapshot save unfinished for disk_stall_ms. raft_uv runs one at a
 * time and a follower installs nothing from its leader meanwhile, so it
 * falls behind for as long as this lasts (reliability.md 5.13). */
static void check_snapshot_stall(struct node *n, const char *dir)
{
	char msg[1024];
	int install, retrying;
	uint64_t waited_ms, retry_ns = atomic_load(&n->snapshot_retry_ns);
	uint64_t started_ns = raftio_oldest_save_ns(&n->raftio, &install);
	int edge = stall_edge(n, started_ns, &n->snapshot_stalled,
			      &n->stats.snapshot_stalls, &waited_ms);
	const char *what = install ? "the installation of the leader's snapshot"
				   : "this node's own snapshot save";
	if (edge > 0)
		log_save_steps(n, "before the stall");
	if (edge < 0)
		log_info("%s: snapshot saves complete again", dir);
	else if (edge > 0)
		log_error("%s: %s has not completed for %llu ms "
			  "(disk_stall_ms %u)%s. Check the kernel log and the "
			  "disk (docs/operations.md, 'A failing disk')",
			  dir, what, (unsigned long long)waited_ms,
			  n->cfg->disk_stall_ms,
			  n->raftio.has_held
			      ? "; an InstallSnapshot from the leader waits "
				"for it, and this node does not catch up "
				"meanwhile"
			      : "");
	/* libraft 0.22 can leave a save that never ends on a disk that
	 * works, and cannot cancel one: only a restart brings the node back.
	 * Not while log writes hang too (the save waits for them: the disk
	 * is at fault, and a restart would not help), nor while raft_uv
	 * still retries this save's files (every 5 s, each failing: a
	 * failing disk, said by check_snapshot_writes; a restart would not
	 * help either), nor after another fatal error. */
	retrying = started_ns != 0 && retry_ns > started_ns &&
		   uv_hrtime() - retry_ns < 2 * SNAPSHOT_RETRY_NS;
	if (n->cfg->snapshot_save_timeout_ms == 0 ||
	    waited_ms < n->cfg->snapshot_save_timeout_ms ||
	    n->on_fatal == NULL || n->fatal_status != 0 || n->disk_failed ||
	    n->disk_stalled || retrying)
		return;
	n->fatal_status = 3;
	/* What came since the stall's report (a retry, a barrier, nothing):
	 * where the save stopped. */
	log_save_steps(n, "before the stop");
	snprintf(msg, sizeof msg,
		 "%s: %s has not completed for %llu ms "
		 "(snapshot_save_timeout_ms %u) while log writes complete: "
		 "libraft can leave one that never ends (docs/reliability.md "
		 "5.13). This node stops with status 3 for its service "
		 "manager to restart it",
		 dir, what, (unsigned long long)waited_ms,
		 n->cfg->snapshot_save_timeout_ms);
	n->on_fatal(n, msg);
}

/* Room for the next two log segments in dir (disk_low when not). */
static void check_disk_room(struct node *n, const char *dir)
{
	struct statvfs v;
	uint64_t need = 2 * (uint64_t)n->cfg->segment_size;
	if (statvfs(dir, &v) != 0)
		return;
	n->stats.disk_free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
	if (n->stats.disk_free_bytes >= need) {
		if (n->disk_low)
			log_info("data dir %s has room again", dir);
		n->disk_low = 0;
		return;
	}
	if (!n->disk_low)
		log_warn("data dir %s: %llu bytes free, less than two log "
			 "segments (%llu): this node cannot keep its log",
			 dir, (unsigned long long)n->stats.disk_free_bytes,
			 (unsigned long long)need);
	n->disk_low = 1;
}

/* A leader whose data dir has no room for its next log segments, or
 * whose log writes do not complete, hands leadership over: followers
 * still commit without its copy, but it would hold its log in memory
 * only and grow. Checked once a second. */
static void check_disk(struct node *n)
{
	char dir[PATH_MAX + 16];
	uint64_t now = uv_now(n->loop);
	if (now - n->disk_checked_ms < 1000)
		return;
	n->disk_checked_ms = now;
	snprintf(dir, sizeof dir, "%s/raft", n->cfg->data_dir);
	check_disk_stall(n, dir);
	check_disk_room(n, dir);
	check_snapshot_writes(n, dir);
	check_snapshot_stall(n, dir);
	if ((n->disk_low || n->disk_stalled) &&
	    raft_state(&n->raft) == RAFT_LEADER && n->change == NULL &&
	    now - n->disk_handoff_ms >= 10000 &&
	    node_transfer(n, 0, disk_handoff_done, NULL) == SYNOD_OK) {
		n->disk_handoff_ms = now;
		n->stats.disk_handoffs++;
		log_warn("handing leadership over: %s",
			 n->disk_stalled ? "its log writes do not complete"
					 : "no room for the log");
	}
}

/* Say when raftio held an InstallSnapshot back, held a truncation, split
 * an AppendEntries or freed an InstallSnapshot raft ignores (the libraft
 * workarounds at work: raftio.h). */
static void check_raftio(struct node *n)
{
	if (n->raftio.truncations_deferred != n->truncations_logged) {
		n->truncations_logged = n->raftio.truncations_deferred;
		log_info("a log truncation waited for a snapshot save to "
			 "complete (%llu so far; raftio.h)",
			 (unsigned long long)n->truncations_logged);
	}
	if (n->raftio.appends_split + n->raftio.split_dropped !=
	    n->splits_logged) {
		n->splits_logged =
		    n->raftio.appends_split + n->raftio.split_dropped;
		log_info("an AppendEntries was split at a configuration entry "
			 "(%llu so far, %llu dropped for want of memory; "
			 "raftio.h)",
			 (unsigned long long)n->raftio.appends_split,
			 (unsigned long long)n->raftio.split_dropped);
	}
	if (n->raftio.installs_ignored != n->installs_ignored_logged) {
		n->installs_ignored_logged = n->raftio.installs_ignored;
		log_info("an InstallSnapshot arrived while this node installed "
			 "one: raft ignores it, its copy freed (%llu so far; "
			 "raftio.h)",
			 (unsigned long long)n->installs_ignored_logged);
	}
	if (n->raftio.held_total == n->raftio_logged)
		return;
	n->raftio_logged = n->raftio.held_total;
	log_info("an InstallSnapshot waited for this node's own snapshot save "
		 "(%llu so far, %llu replaced by a newer one; raftio.h)",
		 (unsigned long long)n->raftio.held_total,
		 (unsigned long long)n->raftio.dropped_total);
}

/* Once the start's vote hold is over: how many votes it dropped. */
static void check_vote_hold(struct node *n)
{
	const struct raftio *x = &n->raftio;
	if (n->vote_hold_said || x->votes_dropped_at_start == 0 ||
	    (x->votes_held_until_ns != 0 &&
	     uv_hrtime() < x->votes_held_until_ns))
		return;
	n->vote_hold_said = 1;
	log_info("raft: %llu vote requests dropped in the first %u ms after "
		 "the start, so that a leader's lease still holds "
		 "(reliability.md 5.17)",
		 x->votes_dropped_at_start, n->cfg->election_timeout_ms);
}

static void on_poll(uv_timer_t *t)
{
	measure_stall(t->data);
	check_disk_failure(t->data);
	check_leadership(t->data);
	check_disk(t->data);
	check_raftio(t->data);
	check_vote_hold(t->data);
}

void node_leader(struct node *n, uint64_t *id, char *client, size_t size)
{
	raft_id lid = 0;
	const char *addr = NULL;
	if (client && size)
		client[0] = '\0';
	raft_leader(&n->raft, &lid, &addr);
	*id = lid;
	if (lid != 0 && addr != NULL && client)
		synod_addr_split(addr, NULL, 0, client, size);
}

const char *node_role(struct node *n)
{
	switch (raft_state(&n->raft)) {
	case RAFT_LEADER:
		return "leader";
	case RAFT_FOLLOWER:
		return "follower";
	case RAFT_CANDIDATE:
		return "candidate";
	default:
		return "unavailable";
	}
}

int node_lease_valid(struct node *n)
{
	/* Followers that acknowledged an entry refuse votes (and pre-votes)
	 * until their election timeout, at least election_timeout_ms, passes
	 * without news from this leader, and one that restarts drops them
	 * for as long after its start (raftio's vote_hold_ns); a tenth of
	 * it is kept for clock rates. A leadership transfer elects without
	 * waiting: no lease. */
	uint64_t lease =
	    n->cfg->election_timeout_ms - n->cfg->election_timeout_ms / 10;
	return n->active && raft_state(&n->raft) == RAFT_LEADER &&
	       raft_transferee(&n->raft) == 0 && n->confirmed_ms != 0 &&
	       mono_ms() < n->confirmed_ms + lease;
}

int64_t node_last_contact_ms(struct node *n)
{
	switch (raft_state(&n->raft)) {
	case RAFT_LEADER:
		return 0;
	case RAFT_FOLLOWER: {
		raft_id lid = 0;
		const char *addr;
		raft_leader(&n->raft, &lid, &addr);
		if (lid == 0)
			return -1;
		raft_time now = n->io.time(&n->io);
		return now >= n->raft.election_timer_start
			   ? (int64_t)(now - n->raft.election_timer_start)
			   : 0;
	}
	default:
		return -1;
	}
}

/* ---- membership ---- */

/* What libraft is waiting for before it takes another configuration
 * change (its own answer, RAFT_CANTCHANGE, does not say). */
static void raft_change_wait(struct node *n, char *buf, size_t size)
{
	struct raft *r = &n->raft;
	buf[0] = '\0';
	if (raft_state(r) == RAFT_LEADER && r->leader_state.promotee_id != 0)
		snprintf(buf, size,
			 "node %llu is catching up before it votes (round "
			 "%u of %u)",
			 (unsigned long long)r->leader_state.promotee_id,
			 (unsigned)(r->leader_state.round_number <
					    r->max_catch_up_rounds
					? r->leader_state.round_number
					: r->max_catch_up_rounds),
			 (unsigned)r->max_catch_up_rounds);
	else if (r->configuration_uncommitted_index != 0 &&
		 r->configuration_uncommitted_index <= raft_last_applied(r))
		/* Applied and still "uncommitted": libraft lost track of it
		 * (reliability.md 5.12; raftio's split prevents it, and a
		 * start repairs one kept from before: raftio_config_repair). */
		snprintf(
		    buf, size,
		    "libraft lost track of the configuration at index %llu "
		    "(applied: %llu): restart this node "
		    "(docs/reliability.md 5.12)",
		    (unsigned long long)r->configuration_uncommitted_index,
		    (unsigned long long)raft_last_applied(r));
	else if (r->configuration_uncommitted_index != 0)
		snprintf(buf, size,
			 "the configuration at index %llu is not committed yet "
			 "(commit index %llu)",
			 (unsigned long long)r->configuration_uncommitted_index,
			 (unsigned long long)r->commit_index);
}

/* "add-voter 3", or "transfer-leader" to any voter. */
static const char *change_name(const struct node_change *c, char *buf,
			       size_t size)
{
	if (c->id != 0)
		snprintf(buf, size, "%s %llu", c->what,
			 (unsigned long long)c->id);
	else
		snprintf(buf, size, "%s", c->what);
	return buf;
}

static double change_age_s(const struct node *n, const struct node_change *c)
{
	return (double)(uv_now(n->loop) - c->started_ms) / 1000.0;
}

/* A change asked for while another one runs: the answer says which, for
 * how long, and what it waits for. */
static void change_busy(struct node *n)
{
	const struct node_change *c = n->change;
	char wait[160], name[64];
	raft_change_wait(n, wait, sizeof wait);
	snprintf(n->errmsg, sizeof n->errmsg,
		 "a quorum change is in progress: %s, started %.1f s ago%s%s",
		 change_name(c, name, sizeof name), change_age_s(n, c),
		 wait[0] ? "; " : "", wait);
}

/* Changes are rare and each matters to operators: the leader logs their
 * start and their end. */
static void change_log_start(struct node *n, struct node_change *c)
{
	char name[64];
	c->started_ms = uv_now(n->loop);
	n->change = c;
	log_info("quorum change started: %s",
		 change_name(c, name, sizeof name));
}

static void change_log_end(struct node *n, const struct node_change *c,
			   const char *how)
{
	char name[64];
	log_info("quorum change %s ended after %.1f s: %s",
		 change_name(c, name, sizeof name), change_age_s(n, c), how);
}

static void change_cb(struct raft_change *req, int status)
{
	struct node_change *c = req->data;
	struct node *n = c->node;
	const char *how;
	if (status == 0 && c->assign_next) {
		c->assign_next = 0;
		int rv = raft_assign(&n->raft, &c->req, c->id, RAFT_VOTER,
				     change_cb);
		if (rv == 0) {
			log_info("quorum change add-voter %llu: in as a spare "
				 "after %.1f s; it votes once it has caught up",
				 (unsigned long long)c->id, change_age_s(n, c));
			return;
		}
		status = rv;
	}
	n->change = NULL;
	if (status == 0)
		how = "done";
	else if (status == RAFT_NOCONNECTION &&
		 strcmp(c->what, "add-voter") == 0)
		/* libraft gives a promotion up when a round passes 5 s, or
		 * when its 10th round passes an election timeout
		 * (timeout.c). */
		how = "it did not catch up with the log in time and stays a "
		      "non-voter: add it again once it is up";
	else
		how = raft_strerror(status);
	change_log_end(n, c, how);
	if (status == 0)
		c->cb(n, c->arg, SYNOD_OK, how);
	else
		c->cb(n, c->arg,
		      status == RAFT_LEADERSHIPLOST || status == RAFT_NOTLEADER
			  ? SYNOD_ENOT_CONTROLLER
			  : SYNOD_ECHANGE_FAILED,
		      how);
	free(c);
}

static struct raft_server *find_server(struct node *n, uint64_t id)
{
	for (unsigned i = 0; i < n->raft.configuration.n; i++)
		if (n->raft.configuration.servers[i].id == id)
			return &n->raft.configuration.servers[i];
	return NULL;
}

static struct node_change *change_new(struct node *n, const char *what,
				      uint64_t id, node_change_cb cb, void *arg,
				      int *rv)
{
	struct node_change *c;
	*rv = node_check_active(n);
	if (*rv != SYNOD_OK)
		return NULL;
	if (n->change != NULL) {
		change_busy(n);
		*rv = SYNOD_EBUSY;
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL) {
		*rv = SYNOD_EUNAVAILABLE;
		return NULL;
	}
	c->node = n;
	c->cb = cb;
	c->arg = arg;
	c->id = id;
	c->what = what;
	c->req.data = c;
	c->treq.data = c;
	return c;
}

/* Whether libraft would refuse a configuration change now: then n->errmsg
 * says why, as its refusal would. Asked before calling it, for libraft
 * 0.22.1 leaks the encoded configuration when it refuses one
 * (src/legacy.c, clientChangeConfiguration). */
static int change_would_wait(struct node *n)
{
	char wait[160];
	raft_change_wait(n, wait, sizeof wait);
	if (wait[0] == '\0')
		return 0;
	snprintf(n->errmsg, sizeof n->errmsg, "%s: %s",
		 raft_strerror(RAFT_CANTCHANGE), wait);
	return 1;
}

/* libraft refused to start a change: keep its message, map its code. */
static int change_refused(struct node *n, struct node_change *c, int rv)
{
	if (rv != RAFT_CANTCHANGE || !change_would_wait(n))
		snprintf(n->errmsg, sizeof n->errmsg, "%s",
			 raft_errmsg(&n->raft));
	free(c);
	return rv == RAFT_CANTCHANGE || rv == RAFT_BUSY
		   ? SYNOD_EBUSY
		   : SYNOD_EINVALID_ARGUMENT;
}

int node_add_voter(struct node *n, uint64_t id, const char *raft_address,
		   const char *client_address, node_change_cb cb, void *arg)
{
	char addr[sizeof n->address];
	struct raft_server *s;
	struct node_change *c;
	int rv = node_check_active(n);
	if (rv != SYNOD_OK)
		return rv;
	if (id == 0 || config_check_hostport(raft_address) != 0 ||
	    config_check_hostport(client_address) != 0 ||
	    strlen(raft_address) >= SYNOD_ADDR_MAX ||
	    strlen(client_address) >= SYNOD_ADDR_MAX)
		return SYNOD_EINVALID_ARGUMENT;
	s = find_server(n, id);
	if (s != NULL && s->role == RAFT_VOTER) {
		snprintf(n->errmsg, sizeof n->errmsg,
			 "node %llu is already a voter",
			 (unsigned long long)id);
		return SYNOD_EINVALID_ARGUMENT;
	}
	c = change_new(n, "add-voter", id, cb, arg, &rv);
	if (c == NULL)
		return rv;
	if (change_would_wait(n)) {
		free(c);
		return SYNOD_EBUSY;
	}
	snprintf(addr, sizeof addr, "%s/%s", raft_address, client_address);
	if (s != NULL) {
		rv = raft_assign(&n->raft, &c->req, id, RAFT_VOTER, change_cb);
	} else {
		c->assign_next = 1;
		rv = raft_add(&n->raft, &c->req, id, addr, change_cb);
	}
	if (rv != 0)
		return change_refused(n, c, rv);
	change_log_start(n, c);
	return SYNOD_OK;
}

int node_remove_voter(struct node *n, uint64_t id, node_change_cb cb, void *arg)
{
	struct node_change *c;
	int rv = node_check_active(n);
	if (rv != SYNOD_OK)
		return rv;
	if (find_server(n, id) == NULL) {
		snprintf(n->errmsg, sizeof n->errmsg,
			 "node %llu is not in the quorum",
			 (unsigned long long)id);
		return SYNOD_ENOT_FOUND;
	}
	c = change_new(n, "remove-voter", id, cb, arg, &rv);
	if (c == NULL)
		return rv;
	if (change_would_wait(n)) {
		free(c);
		return SYNOD_EBUSY;
	}
	rv = raft_remove(&n->raft, &c->req, id, change_cb);
	if (rv != 0)
		return change_refused(n, c, rv);
	change_log_start(n, c);
	return SYNOD_OK;
}

static void transfer_cb(struct raft_transfer *req)
{
	struct node_change *c = req->data;
	struct node *n = c->node;
	n->change = NULL;
	change_log_end(n, c,
		       raft_state(&n->raft) != RAFT_LEADER
			   ? "leadership transferred"
			   : "the transfer did not complete");
	if (raft_state(&n->raft) != RAFT_LEADER)
		c->cb(n, c->arg, SYNOD_OK, "leadership transferred");
	else
		c->cb(n, c->arg, SYNOD_ECHANGE_FAILED,
		      "leadership transfer did not complete");
	free(c);
}

int node_transfer(struct node *n, uint64_t id, node_change_cb cb, void *arg)
{
	struct node_change *c;
	struct raft_server *s;
	int rv = node_check_active(n);
	if (rv != SYNOD_OK)
		return rv;
	if (id != 0) {
		s = find_server(n, id);
		if (s == NULL)
			return SYNOD_ENOT_FOUND;
		if (s->role != RAFT_VOTER || id == n->raft.id)
			return SYNOD_EINVALID_ARGUMENT;
	}
	c = change_new(n, "transfer-leader", id, cb, arg, &rv);
	if (c == NULL)
		return rv;
	rv = raft_transfer(&n->raft, &c->treq, id, transfer_cb);
	if (rv != 0)
		return change_refused(n, c, rv);
	change_log_start(n, c);
	return SYNOD_OK;
}

/* ---- lifecycle ---- */

/* What to do about a start error that says the disk is full
 * (raftio_why_no_space) or could not be read (EIO: "i/o error" from
 * libuv, as raft_uv words it, or strerror's); "" for any other. */
static const char *start_error_hint(const char *why)
{
	if (raftio_why_no_space(why))
		return ". The disk is full: free space on it (or grow its "
		       "filesystem), then start again (docs/operations.md, "
		       "'Full disk')";
	if (why == NULL || (strstr(why, "i/o error") == NULL &&
			    strstr(why, "Input/output error") == NULL))
		return "";
	return ". The disk cannot be read: this node must not start from "
	       "it. Check the kernel log and the disk, then start again; "
	       "replace a failing disk and rebuild the node "
	       "(docs/operations.md, 'A failing disk')";
}

int node_init(struct node *n, uv_loop_t *loop, const struct synod_config *cfg,
	      int bootstrap)
{
	char dir[PATH_MAX + 16];
	unsigned seed = 0;
	int rv;
	const char *raft_addr = cfg->raft_address,
		   *client = cfg->client_address;

	memset(n, 0, sizeof *n);
	n->cfg = cfg;
	n->loop = loop;
	n->batch_tail = &n->batch_waiters;
	n->reads_next_tail = &n->reads_next;
	n->reads_ready_tail = &n->reads_ready;
	n->stats.start_ms = uv_now(loop);
	for (unsigned i = 0; i < cfg->n_voters; i++)
		if (cfg->voters[i].id == cfg->node_id) {
			if (!raft_addr[0])
				raft_addr = cfg->voters[i].raft_address;
			if (!client[0])
				client = cfg->voters[i].client_address;
		}
	snprintf(n->address, sizeof n->address, "%s/%s", raft_addr, client);
	snprintf(n->client_address, sizeof n->client_address, "%s", client);
	snprintf(dir, sizeof dir, "%s/raft", cfg->data_dir);

	if (fsm_init(&n->fsm) != 0) {
		snprintf(n->errmsg, sizeof n->errmsg, "cannot open the store");
		return -1;
	}
	n->fsm.hooks.arg = n;
	n->fsm.hooks.statuses_for = statuses_for;
	n->fsm.hooks.applied = applied;
	n->fsm.hooks.restored = restored;
	n->fsm.hooks.fatal = fatal;

	if ((rv = synod_transport_init(&n->transport, loop)) != 0) {
		snprintf(n->errmsg, sizeof n->errmsg, "transport: %s",
			 raft_strerror(rv));
		goto err_fsm;
	}
	if (cfg->tls_cert_file[0]) {
		char err[400];
		if (synod_transport_tls(
			&n->transport, cfg->tls_ca_file, cfg->tls_cert_file,
			cfg->tls_key_file, cfg->tls_allow_tls12,
			cfg->tls_handshake_timeout_ms, err, sizeof err) != 0) {
			snprintf(n->errmsg, sizeof n->errmsg,
				 "raft port TLS: %s", err);
			rv = RAFT_INVALID;
			goto err_transport;
		}
		log_info("raft port: TLS, peers verified against %s (subject "
			 "CN synod-node-ID)",
			 cfg->tls_ca_file);
	}
	if ((rv = raft_uv_init(&n->io, loop, dir, &n->transport.outer)) != 0) {
		snprintf(n->errmsg, sizeof n->errmsg, "raft io in %s: %s", dir,
			 n->io.errmsg);
		goto err_transport;
	}
	raft_uv_set_segment_size(&n->io, cfg->segment_size);
	raft_uv_set_connect_retry_delay(&n->io, cfg->connect_retry_ms);
	n->trace_stderr = getenv("LIBRAFT_TRACE") != NULL;
	if ((rv = uv_mutex_init(&n->save_steps_lock)) != 0) {
		snprintf(n->errmsg, sizeof n->errmsg, "mutex: %s",
			 uv_strerror(rv));
		goto err_io;
	}
	n->uv_tracer.impl = n;
	n->uv_tracer.version = 2;
	n->uv_tracer.emit = uv_trace;
	raft_uv_set_tracer(&n->io, &n->uv_tracer);
	raftio_init(&n->raftio, &n->io);
	n->raftio.loop = n->loop;
	/* A restarted node votes only after an election timeout: the
	 * leadership lease (node_lease_valid) counts on it. */
	n->raftio.vote_hold_ns = (uint64_t)cfg->election_timeout_ms * 1000000u;
	n->raftio.on_disk_error = on_raftio_disk_error;
	n->raftio.data = n;
	if ((rv = raft_init(&n->raft, &n->raftio.io, &n->fsm.raft_fsm,
			    cfg->node_id, n->address)) != 0) {
		snprintf(n->errmsg, sizeof n->errmsg, "raft: %s%s",
			 raft_errmsg(&n->raft),
			 start_error_hint(raft_errmsg(&n->raft)));
		goto err_io;
	}
	n->fsm.raft = &n->raft;
	n->fsm.digest_every = cfg->digest_every;
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = (unsigned)wall_ms() ^ (unsigned)cfg->node_id;
	raft_seed(&n->raft, seed);
	raft_set_election_timeout(&n->raft, cfg->election_timeout_ms);
	raft_set_heartbeat_timeout(&n->raft,
				   cfg->heartbeat_timeout_ms
				       ? cfg->heartbeat_timeout_ms
				       : cfg->election_timeout_ms / 10);
	raft_set_pre_vote(&n->raft, cfg->pre_vote != 0);
	raft_set_snapshot_threshold(&n->raft, cfg->snapshot_threshold);
	raft_set_snapshot_trailing(&n->raft, cfg->snapshot_trailing);
	raft_set_max_inflight_entries(&n->raft, cfg->max_inflight_entries);

	if (bootstrap) {
		struct raft_configuration conf;
		char addr[sizeof n->address];
		raft_configuration_init(&conf);
		for (unsigned i = 0; i < cfg->n_voters; i++) {
			snprintf(addr, sizeof addr, "%s/%s",
				 cfg->voters[i].raft_address,
				 cfg->voters[i].client_address);
			rv = raft_configuration_add(&conf, cfg->voters[i].id,
						    addr, RAFT_VOTER);
			if (rv != 0)
				break;
		}
		if (rv == 0)
			rv = raft_bootstrap(&n->raft, &conf);
		raft_configuration_close(&conf);
		if (rv == RAFT_CANTBOOTSTRAP) {
			log_info("raft data exists already: not bootstrapping");
		} else if (rv != 0) {
			snprintf(n->errmsg, sizeof n->errmsg, "bootstrap: %s",
				 raft_errmsg(&n->raft));
			goto err_raft;
		} else {
			log_info("bootstrapped a quorum of %u voters",
				 cfg->n_voters);
		}
	}
	uv_check_init(loop, &n->flush_check);
	uv_idle_init(loop, &n->flush_idle);
	uv_idle_init(loop, &n->reads_idle);
	uv_timer_init(loop, &n->poll);
	n->flush_check.data = n->flush_idle.data = n->poll.data = n;
	n->reads_idle.data = n;
	return 0;

err_raft:
	n->released = 1; /* nothing for node_release to free */
	raft_close(&n->raft, NULL);
	/* raft_close on an unstarted raft completes synchronously enough for
	 * the caller to exit; the process is about to stop anyway. */
	return -1;
err_io:
	raft_uv_close(&n->io);
err_transport:
	synod_transport_close(&n->transport);
err_fsm:
	fsm_close(&n->fsm);
	n->released = 1;
	return -1;
}

/* libraft renames a closed segment it cannot read to corrupt-* and starts
 * without the entries from it on: a node that acknowledged those entries
 * would then vote and serve as if it never had them. The first such file
 * in dir: 1 (its name in name), 0 none, -1 dir unreadable. */
static int find_set_aside(const char *dir, char *name, size_t size,
			  int *no_metadata)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0, log = 0, meta = 0;
	*no_metadata = 0;
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while (!found && (e = readdir(d)) != NULL) {
		const char *f = e->d_name;
		if (strncmp(f, "corrupt-", 8) == 0) {
			snprintf(name, size, "%s/%s", dir, f);
			found = 1;
		}
		meta |=
		    strcmp(f, "metadata1") == 0 || strcmp(f, "metadata2") == 0;
		/* Closed segments and snapshots: entries for sure (open
		 * segments are preallocated before anything is written). */
		log |= (f[0] >= '0' && f[0] <= '9') ||
		       strncmp(f, "snapshot-", 9) == 0;
	}
	closedir(d);
	/* Entries without the term and vote: raft would start at term 0 and
	 * could vote twice in a term it already voted in. */
	*no_metadata = !found && log && !meta;
	return found || *no_metadata;
}

/* Refuses (-1, errmsg) a raft directory holding a set-aside segment. */
static int check_log_intact(struct node *n, const char *when)
{
	char dir[PATH_MAX], bad[PATH_MAX + 300];
	int rv, no_metadata;
	snprintf(dir, sizeof dir, "%s/raft", n->cfg->data_dir);
	rv = find_set_aside(dir, bad, sizeof bad, &no_metadata);
	if (rv == 0)
		return 0;
	if (rv > 0 && no_metadata)
		snprintf(n->errmsg, sizeof n->errmsg,
			 "%s: metadata1 and metadata2 (this node's raft term "
			 "and vote) are missing but the log has entries: "
			 "starting would forget its vote. Put them back from "
			 "a copy, or rebuild the node (docs/operations.md, "
			 "'Damaged data directory')",
			 dir);
	else if (rv < 0)
		snprintf(n->errmsg, sizeof n->errmsg, "cannot read %s: %s", dir,
			 strerror(errno));
	else
		snprintf(n->errmsg, sizeof n->errmsg,
			 "%s: a raft log segment that could not be read (%s; "
			 "checksum or format error). This node's log lost the "
			 "entries from that segment on, so it must not rejoin "
			 "with this data: remove its data directory and add it "
			 "back as a new voter (docs/operations.md, 'Damaged "
			 "data directory'), or put back an intact copy of the "
			 "segment under its original name",
			 bad, when);
	return -1;
}

/* Open segments: damage refused before libraft cuts them (logcheck.h); a
 * write torn by a crash is only said. */
static int check_open_segments(struct node *n)
{
	char dir[PATH_MAX], note[PATH_MAX + 300];
	int torn = 0, rv;
	snprintf(dir, sizeof dir, "%s/raft", n->cfg->data_dir);
	rv = logcheck_dir(dir, &torn, note, sizeof note, n->errmsg,
			  sizeof n->errmsg);
	if (rv == 1 && n->cfg->accept_damaged_log_tail) {
		log_warn("%s", n->errmsg);
		log_warn("accept_damaged_log_tail is set: starting anyway. "
			 "libraft drops the entries from the damage on; this "
			 "node may have lost entries it acknowledged. Rebuild "
			 "it as soon as the quorum allows (docs/operations.md "
			 "6.6)");
		n->errmsg[0] = '\0';
		return 0;
	}
	if (rv != 0) {
		size_t len = strlen(n->errmsg);
		snprintf(n->errmsg + len, sizeof n->errmsg - len, "%s",
			 start_error_hint(n->errmsg));
		return -1;
	}
	if (torn)
		log_warn("%s", note);
	return 0;
}

/* The file name of the newest snapshot in dir (libraft's order: term,
 * then index, then timestamp; "snapshot-T-I-MS", not its ".meta"), or ""
 * when none is found. */
static void newest_snapshot(const char *dir, char *name, size_t size)
{
	unsigned long long best[3] = {0, 0, 0}, v[3];
	struct dirent *e;
	DIR *d = opendir(dir);
	name[0] = '\0';
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int used = 0;
		if (sscanf(e->d_name, "snapshot-%llu-%llu-%llu%n", &v[0], &v[1],
			   &v[2], &used) != 3 ||
		    e->d_name[used] != '\0')
			continue;
		if (name[0] != '\0' &&
		    (v[0] < best[0] || (v[0] == best[0] && v[1] < best[1]) ||
		     (v[0] == best[0] && v[1] == best[1] && v[2] <= best[2])))
			continue;
		memcpy(best, v, sizeof best);
		snprintf(name, size, "%s", e->d_name);
	}
	closedir(d);
}

int node_start(struct node *n)
{
	int rv;
	if (check_log_intact(n, "set aside by an earlier start") != 0 ||
	    check_open_segments(n) != 0)
		return -1;
	rv = raft_start(&n->raft);
	if (rv == 0 && check_log_intact(n, "set aside by raft just now") != 0) {
		n->raft_started = 1;
		return -1;
	}
	if (rv != 0 && n->fsm.restore_error[0] != '\0') {
		/* The newest snapshot does not load: never serve without it. */
		char dir[PATH_MAX], file[256];
		snprintf(dir, sizeof dir, "%s/raft", n->cfg->data_dir);
		newest_snapshot(dir, file, sizeof file);
		snprintf(n->errmsg, sizeof n->errmsg,
			 "%s%s%s: the newest snapshot cannot be restored "
			 "(%s). This node must not serve from its data: "
			 "rebuild it (docs/operations.md, 'Damaged data "
			 "directory')",
			 dir, file[0] ? "/" : "", file, n->fsm.restore_error);
		return -1;
	}
	if (rv != 0) {
		const char *why = raft_errmsg(&n->raft);
		int net = 0;
		if (why == NULL || why[0] == '\0') {
			net = n->io.errmsg[0] == '\0';
			why = net ? n->transport.outer.errmsg : n->io.errmsg;
		}
		net = net || strstr(why, "bind") != NULL ||
		      strstr(why, "listen") != NULL ||
		      strstr(why, "address already in use") != NULL;
		if (net)
			snprintf(n->errmsg, sizeof n->errmsg,
				 "raft start: %s%s%s (is %s in use?)",
				 raft_strerror(rv), why[0] ? ": " : "", why,
				 n->address);
		else if (start_error_hint(why)[0] != '\0')
			snprintf(n->errmsg, sizeof n->errmsg,
				 "raft start: %s: %s (in %s/raft)%s",
				 raft_strerror(rv), why, n->cfg->data_dir,
				 start_error_hint(why));
		else if (strstr(why, "segment") != NULL ||
			 strstr(why, "snapshot") != NULL)
			/* A log file that does not read (a closed segment
			 * cut short, say). */
			snprintf(n->errmsg, sizeof n->errmsg,
				 "raft start: %s: %s: in %s/raft. This node's "
				 "log cannot be read, so it must not serve "
				 "from this data: put back an intact copy of "
				 "the file, or rebuild the node "
				 "(docs/operations.md, 'Damaged data "
				 "directory')",
				 raft_strerror(rv), why, n->cfg->data_dir);
		else
			snprintf(n->errmsg, sizeof n->errmsg,
				 "raft start: %s%s%s (in %s/raft)",
				 raft_strerror(rv), why[0] ? ": " : "", why,
				 n->cfg->data_dir);
		return -1;
	}
	n->raft_started = 1;
	n->term = raft_current_term(&n->raft);
	{
		raft_index y;
		int fixed = raftio_config_repair(&n->raft, &y);
		if (fixed != 0)
			log_warn(
			    "the configuration at index %llu was applied "
			    "(last applied %llu) but libraft 0.22 held it "
			    "uncommitted, refusing every membership "
			    "change: %s (docs/reliability.md 5.12)",
			    (unsigned long long)y,
			    (unsigned long long)raft_last_applied(&n->raft),
			    fixed > 0 ? "marked committed"
				      : "not repaired (out of memory)");
	}
	uv_timer_start(&n->poll, on_poll, POLL_MS, POLL_MS);
	log_info("raft started: node %llu at %s, last index %llu",
		 (unsigned long long)n->cfg->node_id, n->address,
		 (unsigned long long)raft_last_index(&n->raft));
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct node *n = h->data;
	if (--n->open_handles == 0 && n->on_stopped)
		n->on_stopped(n);
}

static void raft_closed(struct raft *r)
{
	struct node *n = r->data;
	if (n->raftio.sends_after_close > 0)
		log_info("raft: %llu messages libraft sent while closing were "
			 "refused (reliability.md 5.16)",
			 n->raftio.sends_after_close);
	/* raft_uv and its transport are freed by node_release, after the
	 * loop ends: a connection raft_uv_tcp was still closing can call
	 * back into them later than this (reliability.md 5.16). */
	fsm_close(&n->fsm);
	free(n->batch_buf);
	n->batch_buf = NULL;
	handle_closed((uv_handle_t *)&n->poll);
}

void node_release(struct node *n)
{
	if (n->released)
		return;
	n->released = 1;
	raft_uv_close(&n->io);
	synod_transport_close(&n->transport);
	uv_mutex_destroy(&n->save_steps_lock);
}

void node_stop(struct node *n)
{
	if (n->stopping)
		return;
	n->stopping = 1;
	n->active = 0;
	fail_unproposed(n);
	uv_timer_stop(&n->poll);
	n->open_handles = 5; /* four handles + raft itself */
	uv_close((uv_handle_t *)&n->flush_check, handle_closed);
	uv_close((uv_handle_t *)&n->flush_idle, handle_closed);
	uv_close((uv_handle_t *)&n->reads_idle, handle_closed);
	uv_close((uv_handle_t *)&n->poll, handle_closed);
	n->raft.data = n;
	raft_close(&n->raft, raft_closed);
}
