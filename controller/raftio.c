/* raftio.c - see raftio.h. */
#include "raftio.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* The wrapper of an outer io, and of an inner one: the inner io's data is
 * the raft object (set in io_init), whose io is the outer one. */
#define X(io) ((struct raftio *)(io)->impl)
#define XI(inner) X(((struct raft *)(inner)->data)->io)

/* raft reads the free disk capacity that raft_uv keeps updating in its
 * own io (at every tick) from the outer one. */
static void sync_capacity(struct raftio *x)
{
	x->io.capacity = x->inner->capacity;
}

/* Errors set by the inner io are read by raft from the outer one. */
static int fwd_rv(struct raft_io *io, int rv)
{
	sync_capacity(X(io));
	if (rv != 0)
		memcpy(io->errmsg, X(io)->inner->errmsg, sizeof io->errmsg);
	return rv;
}

static void drop_held(struct raftio *x)
{
	if (!x->has_held)
		return;
	raft_configuration_close(&x->held.install_snapshot.conf);
	raft_free(x->held.install_snapshot.data.base);
	free(x->held_address);
	x->held_address = NULL;
	x->has_held = 0;
}

static int io_init(struct raft_io *io, raft_id id, const char *address)
{
	/* raft_init() set io->data to the raft object before this call;
	 * raft_uv reads it from its own io too (completed requests). */
	X(io)->inner->data = io->data;
	return fwd_rv(io, X(io)->inner->init(X(io)->inner, id, address));
}

/* io_close has run (raft always passes it a callback). */
static int closing(const struct raftio *x)
{
	return x->close_cb != NULL;
}

static void one_closed(struct raftio *x)
{
	if (--x->closes_left == 0 && x->close_cb)
		x->close_cb(&x->io);
}

static void on_inner_closed(struct raft_io *inner)
{
	one_closed(XI(inner));
}

static void on_resume_closed(uv_handle_t *h)
{
	one_closed(h->data);
}

static void cancel_deferred(struct raftio *x);
static void finish_install(struct raftio *x, int status);

static void io_close(struct raft_io *io, raft_io_close_cb cb)
{
	struct raftio *x = X(io);
	drop_held(x);
	cancel_deferred(x);
	x->close_cb = cb;
	if (x->install_refused != 0) { /* canceled, as raft_uv's would be */
		x->install_refused = 0;
		finish_install(x, RAFT_CANCELED);
	}
	x->closes_left = 1 + (x->resume_open != 0);
	if (x->resume_open) {
		x->resume_open = 0;
		uv_close((uv_handle_t *)&x->resume, on_resume_closed);
	}
	x->inner->close(x->inner, on_inner_closed);
}

static int io_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
		   struct raft_snapshot **snapshot, raft_index *start_index,
		   struct raft_entry *entries[], size_t *n_entries)
{
	int rv = X(io)->inner->load(X(io)->inner, term, voted_for, snapshot,
				    start_index, entries, n_entries);
	if (rv == 0) /* as raft_uv sets its own (uv.c, uvLoad) */
		X(io)->next_index = *start_index + *n_entries;
	return fwd_rv(io, rv);
}

static void on_tick(struct raft_io *inner)
{
	struct raftio *x = XI(inner);
	sync_capacity(x);
	x->tick(&x->io);
}

/* The batches and the array of a received AppendEntries (what libraft
 * frees: src/entry.c, entryBatchesDestroy). */
static void free_entries(struct raft_entry *e, unsigned n)
{
	void *batch = NULL;
	for (unsigned i = 0; i < n; i++)
		if (e[i].batch != batch) {
			batch = e[i].batch;
			raft_free(batch);
		}
	raft_free(e);
}

/* Entries [from, to) of m as a message of their own, with their own array
 * and batch (raft_uv decodes one so, and libraft frees each message's);
 * 0, or RAFT_NOMEM. */
static int split_part(const struct raft_message *m, unsigned from, unsigned to,
		      struct raft_message *out)
{
	const struct raft_append_entries *a = &m->append_entries;
	struct raft_entry *e;
	size_t size = 0;
	uint8_t *batch;
	for (unsigned i = from; i < to; i++)
		size += (a->entries[i].buf.len + 7) & ~(size_t)7;
	e = raft_malloc((to - from) * sizeof *e);
	batch = raft_malloc(size > 0 ? size : 8);
	if (e == NULL || batch == NULL) {
		raft_free(e);
		raft_free(batch);
		return RAFT_NOMEM;
	}
	size = 0;
	for (unsigned i = from; i < to; i++) {
		struct raft_entry *d = &e[i - from];
		*d = a->entries[i];
		if (a->entries[i].buf.len > 0)
			memcpy(batch + size, a->entries[i].buf.base,
			       a->entries[i].buf.len);
		d->buf.base = batch + size;
		d->batch = batch;
		size += (a->entries[i].buf.len + 7) & ~(size_t)7;
	}
	*out = *m;
	out->append_entries.entries = e;
	out->append_entries.n_entries = to - from;
	out->append_entries.prev_log_index = a->prev_log_index + from;
	out->append_entries.prev_log_term =
	    from == 0 ? a->prev_log_term : a->entries[from - 1].term;
	return 0;
}

/* An AppendEntries with a configuration entry after its first: split so
 * that each such entry begins a message (raftio.h, 5.12), delivered in
 * order. Out of memory, it is dropped, as a network drops one (the
 * leader sends it again); split halfway, libraft would be wrong. Returns
 * 0 when the message needs no split (then untouched). */
static int split_append(struct raftio *x, struct raft_message *msg)
{
	struct raft_append_entries *a = &msg->append_entries;
	struct raft_message *parts;
	unsigned n = 1, made = 0, from = 0;
	for (unsigned i = 1; i < a->n_entries; i++)
		n += a->entries[i].type == RAFT_CHANGE;
	if (n == 1)
		return 0;
	parts = raft_malloc(n * sizeof *parts);
	for (unsigned i = 1; parts != NULL && i <= a->n_entries; i++) {
		if (i < a->n_entries && a->entries[i].type != RAFT_CHANGE)
			continue;
		if (split_part(msg, from, i, &parts[made]) != 0)
			break;
		made++;
		from = i;
	}
	free_entries(a->entries, a->n_entries);
	if (made < n) {
		while (made > 0) {
			made--;
			free_entries(parts[made].append_entries.entries,
				     parts[made].append_entries.n_entries);
		}
		raft_free(parts);
		x->split_dropped++;
		return 1;
	}
	x->appends_split++;
	for (unsigned i = 0; i < n; i++)
		x->recv(&x->io, &parts[i]);
	raft_free(parts);
	return 1;
}

/* libraft 0.22.1 ignores an InstallSnapshot that arrives while it installs
 * one (src/replication.c, replicationInstallSnapshot: "already taking or
 * installing snapshot") and frees neither its data nor its configuration,
 * so every copy the leader resends during a long installation (each
 * install_snapshot_timeout) leaked a whole snapshot. While raft's
 * installation is in flight (install_req, set from its snapshot_put until
 * just before its callback, which clears r->snapshot.installing), raft gets
 * the message without them: it reads neither on that path, nor on the one
 * that answers a stale term, which frees them (an empty configuration and a
 * NULL payload are fine to free). */
static void to_raft(struct raftio *x, struct raft_message *msg)
{
	if (msg->type == RAFT_INSTALL_SNAPSHOT && x->install_req != NULL) {
		struct raft_install_snapshot *s = &msg->install_snapshot;
		raft_configuration_close(&s->conf);
		raft_configuration_init(&s->conf);
		raft_free(s->data.base);
		s->data.base = NULL;
		s->data.len = 0;
		x->installs_ignored++;
	}
	x->recv(&x->io, msg);
}

static void on_recv(struct raft_io *inner, struct raft_message *msg)
{
	struct raftio *x = XI(inner);
	char *addr;
	sync_capacity(x);
	if (msg->type == RAFT_REQUEST_VOTE && x->votes_held_until_ns != 0 &&
	    !msg->request_vote.disrupt_leader) {
		if (uv_hrtime() < x->votes_held_until_ns) {
			x->votes_dropped_at_start++; /* nothing to free */
			return;
		}
		x->votes_held_until_ns = 0;
	}
	if (msg->type == RAFT_APPEND_ENTRIES && split_append(x, msg))
		return;
	if (msg->type != RAFT_INSTALL_SNAPSHOT ||
	    (x->put_req == NULL && x->deferred_head == NULL)) {
		to_raft(x, msg);
		return;
	}
	/* Held until the save completes; the stream that brought it may be
	 * gone by then, so keep the sender's address. */
	addr = strdup(msg->server_address ? msg->server_address : "");
	if (x->has_held)
		x->dropped_total++;
	drop_held(x);
	x->held = *msg;
	x->held_address = addr;
	x->held.server_address = addr;
	x->has_held = 1;
	x->held_total++;
	if (addr == NULL) /* out of memory: as if the message was lost */
		drop_held(x);
}

static int io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
		    raft_io_recv_cb recv)
{
	struct raftio *x = X(io);
	x->tick = tick;
	x->recv = recv;
	x->votes_held_until_ns =
	    x->vote_hold_ns != 0 ? uv_hrtime() + x->vote_hold_ns : 0;
	return fwd_rv(io, x->inner->start(x->inner, msecs, on_tick, on_recv));
}

static int io_bootstrap(struct raft_io *io,
			const struct raft_configuration *conf)
{
	return fwd_rv(io, X(io)->inner->bootstrap(X(io)->inner, conf));
}

static int io_recover(struct raft_io *io, const struct raft_configuration *conf)
{
	return fwd_rv(io, X(io)->inner->recover(X(io)->inner, conf));
}

/* A term or vote that did not reach the disk (libraft 0.22 drops the
 * message that needed it and says nothing, so a node whose disk fails
 * would refuse every election silently), or a log truncation refused
 * (the conflicting entries would stay on disk). */
static int disk_rv(struct raft_io *io, int rv, const char *what)
{
	struct raftio *x = X(io);
	rv = fwd_rv(io, rv);
	if (rv != 0 && x->on_disk_error != NULL)
		x->on_disk_error(x, what, io->errmsg);
	return rv;
}

static int io_set_term(struct raft_io *io, raft_term term)
{
	return disk_rv(io, X(io)->inner->set_term(X(io)->inner, term),
		       "saving the term");
}

static int io_set_vote(struct raft_io *io, raft_id server_id)
{
	return disk_rv(io, X(io)->inner->set_vote(X(io)->inner, server_id),
		       "saving the vote");
}

/* After io_close, refused: libraft 0.22.1 sends an InstallSnapshot when
 * the snapshot it loads for it is ready (legacyLoadSnapshotCb), even
 * while closing, and raft_uv then makes a client for it whose connection
 * attempt outlives raft_uv; raft_uv_tcp reports itself closed without
 * waiting for it (reliability.md 5.16). libraft frees the message. */
static int io_send(struct raft_io *io, struct raft_io_send *req,
		   const struct raft_message *message, raft_io_send_cb cb)
{
	struct raftio *x = X(io);
	if (closing(x)) {
		x->sends_after_close++;
		strcpy(io->errmsg, "the io is closing");
		return RAFT_CANCELED;
	}
	return fwd_rv(io, x->inner->send(x->inner, req, message, cb));
}

/* An append timed for /metrics: the inner io gets a request of ours. */
struct timed_append {
	struct raft_io_append inner;
	struct raft_io_append *outer; /* raft's */
	raft_io_append_cb cb;
	struct raftio *x;
	uint64_t start_ns;
	struct timed_append *prev, *next; /* x's in-flight list */
	int orphan; /* the inner append failed; raft has forgotten it */
};

/* A log write that completes with an error: libraft 0.22 drops the
 * entries (legacy.c's persist callback) and would go on writing the next
 * ones, so a follower could acknowledge entries it never wrote. */
static void append_failed(struct raftio *x, int status)
{
	char why[RAFT_ERRMSG_BUF_SIZE + 64];
	if (status == 0 || status == RAFT_CANCELED || x->on_disk_error == NULL)
		return;
	snprintf(why, sizeof why, "%s%s%s", raft_strerror(status),
		 x->inner->errmsg[0] ? ": " : "", x->inner->errmsg);
	x->on_disk_error(x, "a log write", why);
}

static void append_done(struct raft_io_append *req, int status)
{
	struct timed_append *a = req->data;
	struct raft_io_append *outer = a->outer;
	raft_io_append_cb cb = a->cb;
	struct raftio *x = a->x;
	if (a->orphan) {
		free(a);
		return;
	}
	append_failed(x, status);
	hist_observe(&x->append_lat, (double)(uv_hrtime() - a->start_ns) / 1e9);
	if (a->prev != NULL)
		a->prev->next = a->next;
	else
		x->inflight_head = a->next;
	if (a->next != NULL)
		a->next->prev = a->prev;
	else
		x->inflight_tail = a->prev;
	free(a);
	outer->cb = cb;
	cb(outer, status);
}

/* Give a timed append to the inner io; linked once it took it (it calls
 * back later, never from inside append). */
static int forward_append(struct raftio *x, struct timed_append *a,
			  const struct raft_entry entries[], unsigned n)
{
	int rv;
	a->start_ns = uv_hrtime(); /* the disk's time, not the wait's */
	rv = x->inner->append(x->inner, &a->inner, entries, n, append_done);
	if (rv != 0) {
		/* libraft 0.22.1's UvAppend can fail after queueing the
		 * request (a write that could not be submitted): it may
		 * still call back, so a is kept (freed then, or leaked at
		 * exit) and the node stops. */
		a->orphan = 1;
		rv = fwd_rv(&x->io, rv);
		x->write_failed = rv; /* (raft_uv may have counted it) */
		append_failed(x, rv);
		return rv;
	}
	a->prev = x->inflight_tail;
	if (a->prev != NULL)
		a->prev->next = a;
	else
		x->inflight_head = a;
	x->inflight_tail = a;
	return 0;
}

/* A write held back behind a truncation (raftio.h). */
struct deferred_write {
	struct deferred_write *next;
	struct timed_append *append; /* NULL: a truncation */
	raft_index index;	     /* a truncation's */
	const struct raft_entry *entries;
	unsigned n;
};

/* No memory to hold a write back: it cannot be done in order, so the
 * node stops (as for a write that failed). */
static int no_memory(struct raftio *x, const char *what)
{
	strcpy(x->io.errmsg, "out of memory");
	if (x->on_disk_error != NULL)
		x->on_disk_error(x, what, "out of memory");
	return RAFT_NOMEM;
}

/* A save in flight, or its callback running (raft_uv releases the
 * save's barrier after that returns). */
static int saving(const struct raftio *x)
{
	return x->put_req != NULL || x->install_req != NULL || x->in_save_cb;
}

static void deliver_held(struct raftio *x);
static void fail_deferred(struct raftio *x, int status);

/* The writes held back, in order, once no save is in flight (called on
 * a later loop turn than the save's callback: raft_uv releases the
 * save's barrier after that callback returns); then a held message. */
static void flush_deferred(struct raftio *x)
{
	struct deferred_write *d;
	int rv;
	while (!saving(x) && (d = x->deferred_head) != NULL) {
		x->deferred_head = d->next;
		if (x->deferred_head == NULL)
			x->deferred_tail = NULL;
		if (d->append == NULL) {
			rv = disk_rv(&x->io,
				     x->inner->truncate(x->inner, d->index),
				     "truncating the log");
		} else {
			struct timed_append *a = d->append;
			struct raft_io_append *outer = a->outer;
			rv = forward_append(x, a, d->entries, d->n);
			if (rv != 0) { /* raft was told it was taken */
				x->write_failed = rv;
				outer->cb(outer, rv);
			}
		}
		free(d);
		if (rv != 0) {
			/* The writes after it would land at the wrong
			 * indexes: they fail too, and so does every later
			 * one (the node stops: on_disk_error). */
			x->write_failed = rv;
			fail_deferred(x, rv);
			return;
		}
	}
	if (!saving(x) && x->deferred_head == NULL)
		deliver_held(x);
}

static void on_resume(uv_timer_t *t)
{
	struct raftio *x = t->data;
	int status = x->install_refused;
	if (status != 0) { /* io_snapshot_put */
		x->install_refused = 0;
		finish_install(x, status);
		return;
	}
	flush_deferred(x);
}

/* A save completed: resume held writes on the next loop turn. */
static void schedule_resume(struct raftio *x)
{
	if (x->deferred_head != NULL && x->resume_open)
		uv_timer_start(&x->resume, on_resume, 0, 0);
}

static int open_resume(struct raftio *x)
{
	if (!x->resume_open) {
		if (x->loop == NULL || uv_timer_init(x->loop, &x->resume) != 0)
			return RAFT_NOMEM;
		x->resume.data = x;
		x->resume_open = 1;
	}
	return 0;
}

static int defer_write(struct raftio *x, struct deferred_write *d)
{
	if (open_resume(x) != 0)
		return RAFT_NOMEM;
	if (x->deferred_tail != NULL)
		x->deferred_tail->next = d;
	else
		x->deferred_head = d;
	x->deferred_tail = d;
	return 0;
}

static void fail_deferred(struct raftio *x, int status)
{
	struct deferred_write *d;
	while ((d = x->deferred_head) != NULL) {
		x->deferred_head = d->next;
		if (d->append != NULL) {
			struct raft_io_append *outer = d->append->outer;
			free(d->append);
			outer->cb(outer, status);
		}
		free(d);
	}
	x->deferred_tail = NULL;
}

static void cancel_deferred(struct raftio *x)
{
	fail_deferred(x, RAFT_CANCELED);
}

static int io_append(struct raft_io *io, struct raft_io_append *req,
		     const struct raft_entry entries[], unsigned n,
		     raft_io_append_cb cb)
{
	struct raftio *x = X(io);
	struct timed_append *a;
	struct deferred_write *d;
	int rv;
	if (x->write_failed) {
		strcpy(io->errmsg, "an earlier log write failed");
		return x->write_failed;
	}
	a = calloc(1, sizeof *a);
	if (a == NULL) { /* untimed (and never held: nothing to hold it in) */
		if (x->deferred_head != NULL)
			return no_memory(x, "a log write");
		rv =
		    fwd_rv(io, x->inner->append(x->inner, req, entries, n, cb));
		if (rv == 0)
			x->next_index += n;
		return rv;
	}
	a->inner.data = a;
	a->outer = req;
	a->cb = cb;
	a->x = x;
	req->cb = cb;
	if (x->deferred_head == NULL) {
		rv = forward_append(x, a, entries, n);
		if (rv == 0)
			x->next_index += n;
		return rv;
	}
	/* Behind a held truncation: after it, in order. */
	d = calloc(1, sizeof *d);
	if (d == NULL || defer_write(x, d) != 0) {
		free(d);
		free(a);
		return no_memory(x, "a log write");
	}
	d->append = a;
	d->entries = entries;
	d->n = n;
	x->next_index += n;
	return 0;
}

/* The index of the first of the n prefixes msg begins with, or -1. */
static int prefix_of(const char *msg, const char *const *prefixes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(msg, prefixes[i], strlen(prefixes[i])) == 0)
			return (int)i;
	return -1;
}

int raftio_trace_failure(const char *msg, const char **what, char *why,
			 size_t size)
{
	/* The first is a failed write; the others quote the whole line. */
	static const char *const prefixes[] = {
	    "retry failed write (", /* uv_append.c; ...) */
	    "truncate segment ",    /* uv_finalize.c */
	    "unlink segment ",	    /* uv_truncate.c */
	    "sync data directory: ", "truncate index ",
	};
	static const char *const whats[] = {
	    "a log write",	  "closing a log segment", "truncating the log",
	    "truncating the log", "truncating the log",
	};
	int i = prefix_of(msg, prefixes, sizeof prefixes / sizeof prefixes[0]);
	if (i < 0)
		return 0;
	*what = whats[i];
	if (i != 0) {
		snprintf(why, size, "%s", msg);
	} else {
		/* The libuv/OS error inside the parentheses. */
		size_t n = strlen(prefixes[0]), len = strlen(msg + n);
		if (len > 0 && msg[n + len - 1] == ')')
			len--;
		snprintf(why, size, "%.*s", (int)len, msg + n);
	}
	return 1;
}

int raftio_why_no_space(const char *why)
{
	const char *p;
	if (why == NULL)
		return 0;
	if (strstr(why, "no space left") != NULL ||
	    strstr(why, "No space left") != NULL ||
	    strstr(why, "not enough space") != NULL ||
	    strstr(why, "ENOSPC") != NULL)
		return 1;
	for (p = strstr(why, "-28"); p != NULL; p = strstr(p + 1, "-28"))
		if ((p == why || p[-1] == ' ' || p[-1] == ':' ||
		     p[-1] == '(') &&
		    (p[3] < '0' || p[3] > '9'))
			return 1;
	return 0;
}

int raftio_trace_save_step(const char *msg)
{
	static const char *const steps[] = {
	    "put snapshot at ",		/* uv_snapshot.c: started */
	    "snapshot write end",	/* its files written */
	    "snapshot creation failed", /* ... or not */
	    "store snapshot ",		/* its work could not start */
	    "retry snapshot write",	/* a file it retries */
	    "UvBarrier ",		/* uv_append.c: a barrier asked */
	    "UvUnblock ",		/* one released */
	    "unblock barrier or close", /* uv_finalize.c */
	    "uv truncate ",		/* uv_truncate.c */
	};
	return prefix_of(msg, steps, sizeof steps / sizeof steps[0]) >= 0;
}

int raftio_trace_snapshot_retry(const char *msg)
{
	return strcmp(msg, "retry snapshot write") == 0; /* uv_snapshot.c */
}

/* Appends start in order, so the head is the oldest. */
uint64_t raftio_oldest_append_ns(const struct raftio *x)
{
	return x->inflight_head != NULL ? x->inflight_head->start_ns : 0;
}

uint64_t raftio_oldest_save_ns(const struct raftio *x, int *install)
{
	uint64_t put = x->put_req != NULL ? x->put_started_ns : 0;
	uint64_t inst = x->install_req != NULL ? x->install_started_ns : 0;
	int is_install = inst != 0 && (put == 0 || inst < put);
	if (install != NULL)
		*install = is_install;
	return is_install ? inst : put;
}

static int io_truncate(struct raft_io *io, raft_index index)
{
	struct raftio *x = X(io);
	struct deferred_write *d;
	int rv;
	if (x->write_failed) {
		strcpy(io->errmsg, "an earlier log write failed");
		return x->write_failed;
	}
	/* libraft asks for one before every append: at or past the next
	 * index it is nothing (raft_uv's UvTruncate returns at once), and
	 * it goes through even during a save. */
	if (x->deferred_head == NULL &&
	    (!saving(x) ||
	     (x->install_req == NULL && index >= x->next_index))) {
		rv = disk_rv(io, x->inner->truncate(x->inner, index),
			     "truncating the log");
		if (rv == 0 && index < x->next_index)
			x->next_index = index;
		return rv;
	}
	/* During a save: held, with the writes after it (raftio.h). */
	d = calloc(1, sizeof *d);
	if (d == NULL || defer_write(x, d) != 0) {
		free(d);
		return no_memory(x, "truncating the log");
	}
	d->index = index;
	if (index < x->next_index)
		x->next_index = index;
	x->truncations_deferred++;
	return 0;
}

/* A snapshot save completed: noted (the node says when they fail). */
static void note_put(struct raftio *x, int status)
{
	if (status == 0) {
		x->snapshot_saved_ns = uv_hrtime();
	} else if (status != RAFT_CANCELED) {
		x->snapshot_failed_ns = uv_hrtime();
		x->snapshot_failures++;
	}
}

/* raft's own snapshot saved: its callback first, then the message held
 * back meanwhile (what libraft would have seen without the overlap).
 * The callback may start the next save at once (the snapshot threshold
 * passed again while this one was written: reliability.md 5.7); the
 * message then stays held until that one completes. */
static void on_put(struct raft_io_snapshot_put *put, int status)
{
	struct raftio *x = put->data;
	struct raft_io_snapshot_put *req = x->put_req;
	sync_capacity(x);
	x->put_req = NULL;
	x->put_started_ns = 0;
	note_put(x, status);
	x->in_save_cb = 1;
	req->cb(req, status);
	x->in_save_cb = 0;
	if (x->deferred_head != NULL)
		schedule_resume(x); /* the message after the writes */
	else if (x->put_req == NULL)
		deliver_held(x);
}

static void deliver_held(struct raftio *x)
{
	struct raft_message msg;
	if (!x->has_held)
		return;
	msg = x->held;
	x->has_held = 0;
	to_raft(x, &msg);
	/* raft copied what it keeps of the address. */
	free(x->held_address);
	x->held_address = NULL;
}

/* An installation of the leader's snapshot that failed (not canceled,
 * nor while closing): libraft 0.22.1 drops the error (src/legacy.c,
 * legacyPersistSnapshotCb) and leaves r->snapshot.installing set, so the
 * follower ignores its leader from then on; the node must stop
 * (reliability.md 5.15). */
static void install_failed(struct raftio *x, int status, const char *why)
{
	if (status != 0 && status != RAFT_CANCELED && !closing(x) &&
	    x->on_disk_error != NULL)
		x->on_disk_error(x, "saving the leader's snapshot", why);
}

/* raft's installation request completes. */
static void finish_install(struct raftio *x, int status)
{
	struct raft_io_snapshot_put *req = x->install_req;
	x->install_req = NULL;
	x->install_started_ns = 0;
	if (status == 0) /* raft_uv's next index (its install barrier) */
		x->next_index = x->install_index + 1;
	note_put(x, status);
	x->in_save_cb = 1;
	req->cb(req, status);
	x->in_save_cb = 0;
	schedule_resume(x);
}

/* A snapshot from the leader saved. */
static void on_install(struct raft_io_snapshot_put *put, int status)
{
	struct raftio *x = put->data;
	finish_install(x, status);
	install_failed(x, status, raft_strerror(status));
}

static int io_snapshot_put(struct raft_io *io, unsigned trailing,
			   struct raft_io_snapshot_put *req,
			   const struct raft_snapshot *snapshot,
			   raft_io_snapshot_put_cb cb)
{
	struct raftio *x = X(io);
	int rv;
	if (trailing == 0 && x->install_req == NULL) {
		req->cb = cb;
		x->install.data = x;
		x->inner->errmsg[0] = '\0';
		rv = x->inner->snapshot_put(x->inner, 0, &x->install, snapshot,
					    on_install);
		if (rv != 0 && open_resume(x) != 0) {
			/* No loop given (uv_timer_init does not fail):
			 * libraft's double free below cannot be avoided. */
			rv = fwd_rv(io, rv);
			install_failed(x, rv, io->errmsg);
			return rv;
		}
		x->install_req = req;
		x->install_started_ns = uv_hrtime();
		x->install_index = snapshot->index;
		if (rv != 0) {
			/* Refused at once: libraft 0.22.1 frees its request
			 * twice when snapshot_put returns an error for an
			 * installation (legacyPersistSnapshotStart, then its
			 * caller), so raft's callback gets the error instead,
			 * on the next loop turn (or a close cancels it);
			 * RAFT_CANCELED (raft_uv closing) too, unsaid. */
			install_failed(x, rv,
				       x->inner->errmsg[0] != '\0'
					   ? x->inner->errmsg
					   : raft_strerror(rv));
			x->install_refused = rv;
			uv_timer_start(&x->resume, on_resume, 0, 0);
			return fwd_rv(io, 0);
		}
		/* An upper bound of raft_uv's until it completes. */
		if (x->next_index < snapshot->index + 1)
			x->next_index = snapshot->index + 1;
		return fwd_rv(io, 0);
	}
	if (trailing == 0 || x->put_req != NULL)
		/* Never seen: a second save or installation at once. */
		return fwd_rv(io, x->inner->snapshot_put(x->inner, trailing,
							 req, snapshot, cb));
	req->cb = cb;
	x->put.data = x;
	rv = x->inner->snapshot_put(x->inner, trailing, &x->put, snapshot,
				    on_put);
	if (rv == 0) {
		x->put_req = req;
		x->put_started_ns = uv_hrtime();
	}
	return fwd_rv(io, rv);
}

static int io_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
			   raft_io_snapshot_get_cb cb)
{
	return fwd_rv(io, X(io)->inner->snapshot_get(X(io)->inner, req, cb));
}

static raft_time io_time(struct raft_io *io)
{
	return X(io)->inner->time(X(io)->inner);
}

static int io_random(struct raft_io *io, int min, int max)
{
	return X(io)->inner->random(X(io)->inner, min, max);
}

void raftio_init(struct raftio *x, struct raft_io *inner)
{
	memset(x, 0, sizeof *x);
	x->inner = inner;
	x->io.version = inner->version;
	x->io.capacity = inner->capacity;
	x->io.impl = x;
	x->io.init = io_init;
	x->io.close = io_close;
	x->io.load = io_load;
	x->io.start = io_start;
	x->io.bootstrap = io_bootstrap;
	x->io.recover = io_recover;
	x->io.set_term = io_set_term;
	x->io.set_vote = io_set_vote;
	x->io.send = io_send;
	x->io.append = io_append;
	x->io.truncate = io_truncate;
	x->io.snapshot_put = io_snapshot_put;
	x->io.snapshot_get = io_snapshot_get;
	x->io.time = io_time;
	x->io.random = io_random;
}

int raftio_config_repair(struct raft *r, raft_index *index)
{
	struct raft_configuration copy;
	raft_index y = r->configuration_uncommitted_index;
	*index = y;
	if (y == 0 || y > raft_last_applied(r))
		return 0;
	raft_configuration_init(&copy);
	for (unsigned i = 0; i < r->configuration.n; i++) {
		const struct raft_server *s = &r->configuration.servers[i];
		if (raft_configuration_add(&copy, s->id, s->address, s->role) !=
		    0) {
			raft_configuration_close(&copy);
			return -1;
		}
	}
	/* What replicationApplyConfigurationChange does for an entry it
	 * recognizes (r->configuration is that entry's, restored from the
	 * log at start). */
	raft_configuration_close(&r->configuration_committed);
	r->configuration_committed = copy;
	r->configuration_committed_index = y;
	r->configuration_uncommitted_index = 0;
	return 1;
}
