/* Unit tests of controller/raftio.c: the raft_io wrapper that holds back
 * InstallSnapshot while the node's own snapshot is being saved (the
 * libraft 0.22 NULL dereference in takeSnapshotCb, docs/reliability.md
 * 5.2). A fake inner io records what reaches it; fake raft callbacks
 * record what reaches raft. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "raftio.h"

struct fake {
	struct raft_io io;
	raft_io_tick_cb tick;
	raft_io_recv_cb recv;
	struct raft_io_snapshot_put *put;
	raft_io_snapshot_put_cb put_cb;
	unsigned put_trailing;
	int put_fails; /* the next snapshot_put returns this */
	int closed;
};

static struct fake fake;
static struct raftio x;
static struct raft r;
/* What raft saw. */
static int n_recv, n_put_done, n_closed;
static struct raft_message last;
static char last_address[64];
static struct raft_io_snapshot_put *put_done;

static int f_init(struct raft_io *io, raft_id id, const char *address)
{
	(void)io;
	(void)id;
	(void)address;
	return 0;
}

static int f_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
		   raft_io_recv_cb recv)
{
	(void)io;
	(void)msecs;
	fake.tick = tick;
	fake.recv = recv;
	return 0;
}

static int f_put(struct raft_io *io, unsigned trailing,
		 struct raft_io_snapshot_put *req,
		 const struct raft_snapshot *snapshot,
		 raft_io_snapshot_put_cb cb)
{
	(void)io;
	(void)snapshot;
	if (trailing == 99 || fake.put_fails != 0) {
		int rv = fake.put_fails != 0 ? fake.put_fails : RAFT_IOERR;
		fake.put_fails = 0;
		strcpy(fake.io.errmsg, "disk on fire");
		return rv;
	}
	fake.put = req;
	fake.put_cb = cb;
	fake.put_trailing = trailing;
	req->cb = cb;
	return 0;
}

/* Term or vote 13 fails, as a write to a failing disk does. */
static int fail_13(uint64_t v, const char *file)
{
	if (v != 13)
		return 0;
	snprintf(fake.io.errmsg, sizeof fake.io.errmsg,
		 "persist %s: write: i/o error", file);
	return RAFT_IOERR;
}

static int f_set_term(struct raft_io *io, raft_term term)
{
	(void)io;
	return fail_13(term, "metadata1");
}

static int f_set_vote(struct raft_io *io, raft_id id)
{
	(void)io;
	return fail_13(id, "metadata2");
}

/* Appends are kept until the test completes them; with fail_append set,
 * one is kept and then refused, as libraft 0.22.1's UvAppend does when
 * the write cannot be submitted. */
static struct raft_io_append *f_appends[8];
static int n_f_appends, fail_append;
/* The writes the inner io got, in order: "A" an append, "T5" a
 * truncation at 5. */
static char f_ops[128];

static int f_truncate(struct raft_io *io, raft_index index)
{
	(void)io;
	snprintf(f_ops + strlen(f_ops), sizeof f_ops - strlen(f_ops), "T%llu",
		 (unsigned long long)index);
	return 0;
}

static int f_append(struct raft_io *io, struct raft_io_append *req,
		    const struct raft_entry entries[], unsigned n,
		    raft_io_append_cb cb)
{
	(void)io;
	(void)entries;
	(void)n;
	req->cb = cb;
	f_appends[n_f_appends++] = req;
	strncat(f_ops, "A", sizeof f_ops - strlen(f_ops) - 1);
	if (fail_append) {
		strcpy(fake.io.errmsg, "io_submit: input/output error");
		return RAFT_IOERR;
	}
	return 0;
}

/* An empty log: the next index is 1. */
static int f_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
		  struct raft_snapshot **snapshot, raft_index *start_index,
		  struct raft_entry *entries[], size_t *n_entries)
{
	(void)io;
	*term = 0;
	*voted_for = 0;
	*snapshot = NULL;
	*start_index = 1;
	*entries = NULL;
	*n_entries = 0;
	return 0;
}

static void f_close(struct raft_io *io, raft_io_close_cb cb)
{
	fake.closed = 1;
	cb(io);
}

/* What raft saw of the AppendEntries delivered to it. */
struct seen_append {
	raft_index prev;
	raft_term prev_term;
	unsigned n;
	char text[64]; /* each entry: type letter, term, payload */
	void *entries, *batch;
};
static struct seen_append seen[8];
static int n_seen;
static int raft_ignores_installs;

static void raft_recv(struct raft_io *io, struct raft_message *m)
{
	assert_ptr_equal(io, &x.io);
	n_recv++;
	last = *m;
	snprintf(last_address, sizeof last_address, "%s",
		 m->server_address ? m->server_address : "(null)");
	/* raft owns an installation's configuration and data; libraft
	 * 0.22.1 frees neither when it ignores the message (it installs
	 * one already: raft_ignores_installs). */
	if (m->type == RAFT_INSTALL_SNAPSHOT && !raft_ignores_installs) {
		raft_configuration_close(&m->install_snapshot.conf);
		raft_free(m->install_snapshot.data.base);
	}
	/* And an AppendEntries' batch and array (libraft frees
	 * entries[0].batch, then the array). */
	if (m->type == RAFT_APPEND_ENTRIES && n_seen < 8) {
		const struct raft_append_entries *a = &m->append_entries;
		struct seen_append *v = &seen[n_seen++];
		size_t at = 0;
		v->prev = a->prev_log_index;
		v->prev_term = a->prev_log_term;
		v->n = a->n_entries;
		v->entries = a->entries;
		v->batch = a->n_entries > 0 ? a->entries[0].batch : NULL;
		v->text[0] = '\0';
		for (unsigned i = 0; i < a->n_entries; i++) {
			const struct raft_entry *e = &a->entries[i];
			assert_ptr_equal(e->batch, v->batch);
			at += (size_t)snprintf(
			    v->text + at, sizeof v->text - at, "%c%llu%.*s ",
			    e->type == RAFT_CHANGE ? 'C' : 'A',
			    (unsigned long long)e->term, (int)e->buf.len,
			    (const char *)e->buf.base);
		}
		if (a->n_entries > 0) {
			raft_free(a->entries[0].batch);
			raft_free(a->entries);
		}
	}
}

static void raft_tick(struct raft_io *io)
{
	assert_ptr_equal(io, &x.io);
}

static void raft_put_cb(struct raft_io_snapshot_put *req, int status)
{
	assert_int_equal(status, 0);
	/* The held message is delivered after this returns. */
	assert_int_equal(n_recv, 0);
	put_done = req;
	n_put_done++;
}

static void raft_closed(struct raft_io *io)
{
	assert_ptr_equal(io, &x.io);
	n_closed++;
}

static int setup(void **state)
{
	(void)state;
	memset(&fake, 0, sizeof fake);
	memset(&r, 0, sizeof r);
	fake.io.version = 2;
	fake.io.init = f_init;
	fake.io.start = f_start;
	fake.io.snapshot_put = f_put;
	fake.io.set_term = f_set_term;
	fake.io.set_vote = f_set_vote;
	fake.io.append = f_append;
	fake.io.truncate = f_truncate;
	fake.io.load = f_load;
	f_ops[0] = '\0';
	n_f_appends = 0;
	fail_append = 0;
	fake.io.close = f_close;
	n_recv = n_put_done = n_closed = 0;
	raft_ignores_installs = 0;
	put_done = NULL;
	raftio_init(&x, &fake.io);
	x.loop = uv_default_loop();
	r.io = &x.io;
	x.io.data = &r; /* as raft_init() does before init */
	assert_int_equal(x.io.init(&x.io, 1, "a"), 0);
	assert_ptr_equal(fake.io.data, &r);
	{
		raft_term term;
		raft_id vote;
		struct raft_snapshot *snapshot;
		raft_index start;
		struct raft_entry *entries;
		size_t n;
		assert_int_equal(x.io.load(&x.io, &term, &vote, &snapshot,
					   &start, &entries, &n),
				 0);
	}
	assert_int_equal(x.io.start(&x.io, 100, raft_tick, raft_recv), 0);
	return 0;
}

/* An InstallSnapshot message with heap payload and configuration, from
 * `from` (address on the stack: the stream's, gone after the call). */
static void recv_install(raft_index index, const char *from)
{
	struct raft_message m;
	char addr[32];
	memset(&m, 0, sizeof m);
	m.type = RAFT_INSTALL_SNAPSHOT;
	m.server_id = 2;
	snprintf(addr, sizeof addr, "%s", from);
	m.server_address = addr;
	m.install_snapshot.last_index = index;
	raft_configuration_init(&m.install_snapshot.conf);
	assert_int_equal(raft_configuration_add(&m.install_snapshot.conf, 1,
						"a", RAFT_VOTER),
			 0);
	m.install_snapshot.data.len = 8;
	m.install_snapshot.data.base = raft_malloc(8);
	assert_non_null(m.install_snapshot.data.base);
	fake.recv(&fake.io, &m);
	memset(addr, 'X', sizeof addr - 1); /* the stream's buffer reused */
}

static void recv_heartbeat(void)
{
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_APPEND_ENTRIES;
	m.server_id = 2;
	m.server_address = "b";
	fake.recv(&fake.io, &m);
}

/* raft's callback that starts its next save at once (libraft does when
 * the threshold passed again during the save). */
static struct raft_io_snapshot_put next_req;
static struct raft_snapshot next_snap;
static void raft_put_cb_again(struct raft_io_snapshot_put *req, int status)
{
	assert_int_equal(status, 0);
	assert_int_equal(n_recv, 0);
	put_done = req;
	n_put_done++;
	if (n_put_done == 1)
		assert_int_equal(x.io.snapshot_put(&x.io, 32, &next_req,
						   &next_snap,
						   raft_put_cb_again),
				 0);
}

/* Invariant (reliability.md 5.7): raft never sees an InstallSnapshot
 * while a save of its own is in flight, also when its callback for one
 * save starts the next: the message waits for that one too. Without it,
 * libraft 0.22 crashes as in 5.2 (seed 316). */
static void test_held_across_back_to_back_saves(void **state)
{
	struct raft_io_snapshot_put req;
	struct raft_snapshot snap;
	(void)state;
	memset(&snap, 0, sizeof snap);
	memset(&next_snap, 0, sizeof next_snap);
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 32, &req, &snap, raft_put_cb_again), 0);
	recv_install(40, "leader-1");
	assert_int_equal(n_recv, 0);
	/* The first save completes; its callback starts the second. */
	fake.put_cb(fake.put, 0);
	assert_int_equal(n_put_done, 1);
	assert_ptr_equal(put_done, &req);
	assert_int_equal(n_recv, 0); /* still held */
	assert_true(x.has_held);
	/* The second completes: now the message. */
	fake.put_cb(fake.put, 0);
	assert_int_equal(n_put_done, 2);
	assert_ptr_equal(put_done, &next_req);
	assert_int_equal(n_recv, 1);
	assert_int_equal(last.install_snapshot.last_index, 40);
	assert_string_equal(last_address, "leader-1");
	assert_false(x.has_held);
}

/* Invariant: raft never sees an InstallSnapshot while a snapshot of its
 * own is being saved; it sees it right after the save's callback. */
static void test_held_during_own_save(void **state)
{
	struct raft_io_snapshot_put req;
	struct raft_snapshot snap;
	(void)state;
	memset(&snap, 0, sizeof snap);
	/* No save in flight: straight through. */
	recv_install(10, "leader-1");
	assert_int_equal(n_recv, 1);
	assert_int_equal(last.install_snapshot.last_index, 10);
	n_recv = 0;
	assert_int_equal(x.io.snapshot_put(&x.io, 32, &req, &snap, raft_put_cb),
			 0);
	assert_int_equal(fake.put_trailing, 32);
	assert_ptr_not_equal(fake.put, &req); /* the wrapper's own request */
	/* Other messages still flow; the installation waits. */
	recv_heartbeat();
	assert_int_equal(n_recv, 1);
	n_recv = 0;
	recv_install(20, "leader-1");
	assert_int_equal(n_recv, 0);
	/* A newer one replaces it (the first is freed: ASan checks). */
	recv_install(30, "leader-2");
	assert_int_equal(n_recv, 0);
	assert_int_equal(x.held_total, 2);
	assert_int_equal(x.dropped_total, 1);
	/* The save completes: raft's callback, then the message. */
	fake.put_cb(fake.put, 0);
	assert_int_equal(n_put_done, 1);
	assert_ptr_equal(put_done, &req);
	assert_int_equal(n_recv, 1);
	assert_int_equal(last.install_snapshot.last_index, 30);
	assert_string_equal(last_address, "leader-2");
	/* Nothing in flight any more. */
	recv_install(40, "leader-2");
	assert_int_equal(n_recv, 2);
}

/* raft reads the free capacity raft_uv keeps updating (at each tick) from
 * the outer io: without it raft refuses entries ("not enough disk
 * space"). */
static void test_capacity_follows(void **state)
{
	(void)state;
	fake.io.capacity = 77;
	fake.tick(&fake.io);
	assert_int_equal(x.io.capacity, 77);
	fake.io.capacity = 5;
	recv_heartbeat();
	assert_int_equal(x.io.capacity, 5);
}

/* An installation's save (trailing 0) does not hold messages back; its
 * completion reaches raft with raft's own request. */
static void test_install_put_passes_through(void **state)
{
	struct raft_io_snapshot_put req;
	struct raft_snapshot snap;
	(void)state;
	memset(&snap, 0, sizeof snap);
	assert_int_equal(x.io.snapshot_put(&x.io, 0, &req, &snap, raft_put_cb),
			 0);
	assert_int_equal(fake.put_trailing, 0);
	recv_install(50, "leader-1");
	assert_int_equal(n_recv, 1);
	n_recv = 0; /* raft_put_cb checks nothing is delivered after it */
	fake.put_cb(fake.put, 0);
	assert_int_equal(n_put_done, 1);
	assert_ptr_equal(put_done, &req);
}

/* Invariant: an InstallSnapshot that reaches raft while raft installs one
 * keeps nothing raft would not free (libraft 0.22.1 ignores it and frees
 * neither its payload nor its configuration: a whole snapshot leaked per
 * copy, reliability.md 5.18); once the installation is over, the next one
 * reaches raft whole. Under ASan, a leak fails the run too. */
static void test_install_during_install_freed(void **state)
{
	struct raft_io_snapshot_put req;
	struct raft_snapshot snap;
	(void)state;
	memset(&snap, 0, sizeof snap);
	snap.index = 50;
	assert_int_equal(x.io.snapshot_put(&x.io, 0, &req, &snap, raft_put_cb),
			 0);
	raft_ignores_installs = 1; /* as libraft while installing */
	recv_install(60, "leader-1");
	recv_install(70, "leader-1");
	assert_int_equal(n_recv, 2);
	assert_int_equal(last.type, RAFT_INSTALL_SNAPSHOT);
	assert_int_equal(last.install_snapshot.last_index, 70);
	assert_int_equal(last.server_id, 2);
	assert_string_equal(last_address, "leader-1");
	assert_null(last.install_snapshot.data.base);
	assert_int_equal(last.install_snapshot.data.len, 0);
	assert_int_equal(last.install_snapshot.conf.n, 0);
	assert_int_equal(x.installs_ignored, 2);
	n_recv = 0; /* raft_put_cb checks nothing is delivered after it */
	fake.put_cb(fake.put, 0);
	assert_int_equal(n_put_done, 1);
	raft_ignores_installs = 0;
	recv_install(80, "leader-1");
	assert_int_equal(n_recv, 1);
	assert_int_equal(last.install_snapshot.last_index, 80);
	assert_int_equal(last.install_snapshot.data.len, 8);
	assert_non_null(last.install_snapshot.data.base);
	assert_int_equal(last.install_snapshot.conf.n, 1);
	assert_int_equal(x.installs_ignored, 2);
}

static void canceled_cb(struct raft_io_snapshot_put *req, int status)
{
	assert_int_equal(status, RAFT_CANCELED);
	put_done = req;
	n_put_done++;
}

static void put_failed_cb(struct raft_io_snapshot_put *req, int status)
{
	assert_int_equal(status, RAFT_IOERR);
	put_done = req;
	n_put_done++;
}

/* snapshot_saved_ns moves when a save of either kind succeeds;
 * snapshot_failed_ns and the count when one fails, but not when it is
 * canceled (node.c: failing while the last failure is newer). */
static void test_snapshot_saved_time(void **state)
{
	struct raft_io_snapshot_put own, inst;
	struct raft_snapshot snap;
	uint64_t t0;
	(void)state;
	memset(&snap, 0, sizeof snap);
	assert_int_equal(x.snapshot_saved_ns, 0);
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 32, &own, &snap, put_failed_cb), 0);
	fake.put_cb(fake.put, RAFT_IOERR);
	assert_ptr_equal(put_done, &own);
	assert_int_equal(x.snapshot_saved_ns, 0);
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 0, &inst, &snap, put_failed_cb), 0);
	fake.put_cb(fake.put, RAFT_IOERR);
	assert_ptr_equal(put_done, &inst);
	assert_int_equal(x.snapshot_saved_ns, 0);
	assert_int_equal(x.snapshot_failures, 2);
	assert_true(x.snapshot_failed_ns > 0);
	t0 = uv_hrtime();
	assert_int_equal(x.io.snapshot_put(&x.io, 0, &inst, &snap, raft_put_cb),
			 0);
	fake.put_cb(fake.put, 0);
	assert_true(x.snapshot_saved_ns >= t0);
	x.snapshot_saved_ns = 0;
	assert_int_equal(x.io.snapshot_put(&x.io, 32, &own, &snap, raft_put_cb),
			 0);
	fake.put_cb(fake.put, 0);
	assert_true(x.snapshot_saved_ns >= t0);
	assert_ptr_equal(put_done, &own);
	assert_int_equal(n_put_done, 4);
	/* Canceled (the node closing): not a failure. */
	assert_int_equal(x.io.snapshot_put(&x.io, 32, &own, &snap, canceled_cb),
			 0);
	fake.put_cb(fake.put, RAFT_CANCELED);
	assert_int_equal(x.snapshot_failures, 2);
	assert_int_equal(n_put_done, 5);
}

/* The save in flight, of either kind, and when it started (a save that
 * never ends leaves a follower behind: node.c reports it). */
static void test_oldest_save(void **state)
{
	struct raft_io_snapshot_put own, inst;
	struct raft_snapshot snap;
	uint64_t t0 = uv_hrtime();
	int install = -1;
	(void)state;
	memset(&snap, 0, sizeof snap);
	assert_int_equal(raftio_oldest_save_ns(&x, &install), 0);
	assert_int_equal(install, 0);
	assert_int_equal(x.io.snapshot_put(&x.io, 32, &own, &snap, raft_put_cb),
			 0);
	assert_true(raftio_oldest_save_ns(&x, &install) >= t0);
	assert_int_equal(install, 0);
	fake.put_cb(fake.put, 0);
	assert_int_equal(raftio_oldest_save_ns(&x, NULL), 0);
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 0, &inst, &snap, put_failed_cb), 0);
	assert_true(raftio_oldest_save_ns(&x, &install) >= t0);
	assert_int_equal(install, 1);
	fake.put_cb(fake.put, RAFT_IOERR);
	assert_int_equal(raftio_oldest_save_ns(&x, &install), 0);
	assert_int_equal(install, 0);
	/* An installation while raft's own save runs (raft_uv would take
	 * them one at a time; raftio does not hold those back): the older
	 * is the oldest. */
	assert_int_equal(x.io.snapshot_put(&x.io, 32, &own, &snap, raft_put_cb),
			 0);
	{
		struct raft_io_snapshot_put *own_inner = fake.put;
		raft_io_snapshot_put_cb own_cb = fake.put_cb;
		uint64_t t_own = raftio_oldest_save_ns(&x, &install);
		assert_int_equal(
		    x.io.snapshot_put(&x.io, 0, &inst, &snap, raft_put_cb), 0);
		assert_int_equal(raftio_oldest_save_ns(&x, &install), t_own);
		assert_int_equal(install, 0);
		own_cb(own_inner, 0);
		assert_true(raftio_oldest_save_ns(&x, &install) >= t_own);
		assert_int_equal(install, 1);
		fake.put_cb(fake.put, 0);
		assert_int_equal(raftio_oldest_save_ns(&x, NULL), 0);
	}
	/* One refused at once (trailing 99: the fake's failure) never was
	 * in flight. */
	assert_int_equal(x.io.snapshot_put(&x.io, 99, &own, &snap, raft_put_cb),
			 RAFT_IOERR);
	assert_int_equal(raftio_oldest_save_ns(&x, NULL), 0);
}

static int n_disk_errors, n_appended;
static void raft_appended(struct raft_io_append *req, int status);
static int n_canceled;

static void raft_append_canceled(struct raft_io_append *req, int status)
{
	(void)req;
	assert_int_equal(status, RAFT_CANCELED);
	n_canceled++;
}

/* Runs the loop until nothing is active (the resume timer fired). */
static void turn(void)
{
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

/* libraft 0.22.1's raft_uv never performs a truncation asked for while a
 * snapshot save is in flight (reliability.md 5.14). The invariant: the
 * inner io gets a real truncation only when no save is in flight, and
 * every write after it in raft's order; an installation only after them.
 * libraft also asks for a truncation at the next index before every
 * append: that one is nothing, and goes straight through. */
static void test_truncate_during_save(void **state)
{
	struct raft_io_snapshot_put own;
	struct raft_io_append req[4];
	struct raft_snapshot snap;
	struct raft_entry e[6];
	(void)state;
	memset(&snap, 0, sizeof snap);
	memset(e, 0, sizeof e);
	n_appended = 0;
	for (int i = 0; i < 4; i++)
		req[i].data = &r;
	assert_int_equal(x.next_index, 1); /* the fake's empty log */
	assert_int_equal(x.io.append(&x.io, &req[0], e, 6, raft_appended), 0);
	assert_string_equal(f_ops, "A");
	assert_int_equal(x.io.snapshot_put(&x.io, 32, &own, &snap, raft_put_cb),
			 0);
	/* During the save, appends go on (with libraft's truncation at the
	 * next index before each). */
	assert_int_equal(x.io.truncate(&x.io, 7), 0);
	assert_int_equal(x.io.append(&x.io, &req[1], e, 1, raft_appended), 0);
	assert_string_equal(f_ops, "AT7A");
	/* A real truncation waits, with the append after it. */
	assert_int_equal(x.io.truncate(&x.io, 5), 0);
	assert_int_equal(x.io.append(&x.io, &req[2], e, 1, raft_appended), 0);
	assert_string_equal(f_ops, "AT7A");
	assert_int_equal(x.truncations_deferred, 1);
	/* So does an InstallSnapshot (raft_uv must see the writes first). */
	recv_install(60, "leader-1");
	assert_int_equal(n_recv, 0);
	/* The save completes: raft_uv releases its barrier only after this
	 * callback returns, so nothing moves yet. */
	fake.put_cb(fake.put, 0);
	assert_string_equal(f_ops, "AT7A");
	assert_int_equal(n_recv, 0);
	/* On the next loop turn: the truncation, the append, the message. */
	turn();
	assert_string_equal(f_ops, "AT7AT5A");
	assert_int_equal(n_recv, 1);
	assert_int_equal(last.type, RAFT_INSTALL_SNAPSHOT);
	for (int i = 0; i < 3; i++)
		f_appends[i]->cb(f_appends[i], 0);
	assert_int_equal(n_appended, 3);
	/* No save in flight: straight through. */
	assert_int_equal(x.io.truncate(&x.io, 3), 0);
	assert_int_equal(x.io.append(&x.io, &req[3], e, 1, raft_appended), 0);
	assert_string_equal(f_ops, "AT7AT5AT3A");
	f_appends[3]->cb(f_appends[3], 0);
	assert_int_equal(n_appended, 4);
	x.io.close(&x.io, raft_closed);
	turn();
	assert_int_equal(n_closed, 1);
}

static struct raft_io_snapshot_put next_own;
static struct raft_snapshot next_snap;

/* raft's callback starts the next save at once (5.7). */
static void put_then_next(struct raft_io_snapshot_put *req, int status)
{
	raft_put_cb(req, status);
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 32, &next_own, &next_snap, raft_put_cb),
	    0);
}

/* A save started from the callback of the one before keeps the held
 * writes waiting until it completes too; a close cancels them. */
static void test_truncate_waits_for_next_save(void **state)
{
	struct raft_io_snapshot_put own;
	struct raft_io_append req[3];
	struct raft_snapshot snap;
	struct raft_entry e[6];
	(void)state;
	memset(&snap, 0, sizeof snap);
	memset(&next_snap, 0, sizeof next_snap);
	memset(e, 0, sizeof e);
	n_appended = n_canceled = 0;
	for (int i = 0; i < 3; i++)
		req[i].data = &r;
	assert_int_equal(x.io.append(&x.io, &req[0], e, 6, raft_appended), 0);
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 32, &own, &snap, put_then_next), 0);
	assert_int_equal(x.io.truncate(&x.io, 3), 0);
	assert_int_equal(x.io.append(&x.io, &req[1], e, 1, raft_appended), 0);
	fake.put_cb(fake.put, 0); /* starts the next save */
	turn();
	assert_string_equal(f_ops, "A");
	fake.put_cb(fake.put, 0);
	turn();
	assert_string_equal(f_ops, "AT3A");
	f_appends[0]->cb(f_appends[0], 0);
	f_appends[1]->cb(f_appends[1], 0);
	assert_int_equal(n_appended, 2);
	/* Held at close: canceled, as raft_uv cancels its pending ones. */
	assert_int_equal(x.io.snapshot_put(&x.io, 32, &own, &snap, raft_put_cb),
			 0);
	assert_int_equal(x.io.truncate(&x.io, 2), 0);
	assert_int_equal(
	    x.io.append(&x.io, &req[2], e, 1, raft_append_canceled), 0);
	x.io.close(&x.io, raft_closed);
	assert_int_equal(n_canceled, 1);
	assert_string_equal(f_ops, "AT3A");
	turn();
	assert_int_equal(n_closed, 1);
}

/* Errors of the inner io reach raft with their message; nothing is held
 * for a save that never started. */
static void test_errors_and_close(void **state)
{
	struct raft_io_snapshot_put req;
	struct raft_snapshot snap;
	(void)state;
	memset(&snap, 0, sizeof snap);
	assert_int_equal(x.io.snapshot_put(&x.io, 99, &req, &snap, raft_put_cb),
			 RAFT_IOERR);
	assert_string_equal(x.io.errmsg, "disk on fire");
	recv_install(60, "leader-1");
	assert_int_equal(n_recv, 1);
	/* Held at close: freed (ASan), and the close completes. */
	assert_int_equal(x.io.snapshot_put(&x.io, 32, &req, &snap, raft_put_cb),
			 0);
	recv_install(70, "leader-1");
	assert_int_equal(n_recv, 1);
	x.io.close(&x.io, raft_closed);
	assert_true(fake.closed);
	assert_int_equal(n_closed, 1);
	assert_false(x.has_held);
}

static char disk_what[64], disk_errmsg[256];

static void on_disk_error(struct raftio *xx, const char *what,
			  const char *errmsg)
{
	assert_ptr_equal(xx, &x);
	assert_ptr_equal(xx->data, &r);
	snprintf(disk_what, sizeof disk_what, "%s", what);
	snprintf(disk_errmsg, sizeof disk_errmsg, "%s", errmsg);
	n_disk_errors++;
}

static void raft_appended(struct raft_io_append *req, int status)
{
	assert_int_equal(status, 0);
	assert_ptr_equal(req->data, &r); /* raft's own request */
	n_appended++;
}

/* A term or vote that does not reach the disk is said (the node stops
 * on it: libraft would refuse elections silently), with the inner io's
 * message; raft still gets the error. */
static void test_metadata_errors_said(void **state)
{
	(void)state;
	n_disk_errors = 0;
	x.on_disk_error = on_disk_error;
	x.data = &r;
	assert_int_equal(x.io.set_term(&x.io, 12), 0);
	assert_int_equal(x.io.set_vote(&x.io, 2), 0);
	assert_int_equal(n_disk_errors, 0);
	assert_int_equal(x.io.set_term(&x.io, 13), RAFT_IOERR);
	assert_int_equal(n_disk_errors, 1);
	assert_string_equal(disk_what, "saving the term");
	assert_string_equal(disk_errmsg, "persist metadata1: write: i/o error");
	assert_string_equal(x.io.errmsg, "persist metadata1: write: i/o error");
	assert_int_equal(x.io.set_vote(&x.io, 13), RAFT_IOERR);
	assert_int_equal(n_disk_errors, 2);
	assert_string_equal(disk_what, "saving the vote");
}

/* An AppendEntries as raft_uv decodes one: entries (type letter A or C,
 * then the payload, from spec "A1:x C2:yy ...") in one batch. */
static struct raft_message append_msg(raft_index prev, raft_term prev_term,
				      const char *spec)
{
	struct raft_message m;
	struct raft_entry *e = raft_malloc(8 * sizeof *e);
	uint8_t *batch = raft_malloc(256);
	char words[128], *save = NULL, *w;
	unsigned n = 0;
	size_t at = 0;
	assert_non_null(e);
	assert_non_null(batch);
	memset(&m, 0, sizeof m);
	snprintf(words, sizeof words, "%s", spec);
	for (w = strtok_r(words, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save)) {
		const char *payload = strchr(w, ':') + 1;
		e[n].type = w[0] == 'C' ? RAFT_CHANGE : RAFT_COMMAND;
		e[n].term = strtoull(w + 1, NULL, 10);
		memcpy(batch + at, payload, strlen(payload));
		e[n].buf.base = batch + at;
		e[n].buf.len = strlen(payload);
		e[n].batch = batch;
		at += 8;
		n++;
	}
	m.type = RAFT_APPEND_ENTRIES;
	m.server_id = 2;
	m.server_address = "leader-2";
	m.append_entries.term = 3;
	m.append_entries.prev_log_index = prev;
	m.append_entries.prev_log_term = prev_term;
	m.append_entries.leader_commit = prev;
	m.append_entries.entries = n > 0 ? e : NULL;
	m.append_entries.n_entries = n;
	if (n == 0) {
		raft_free(e);
		raft_free(batch);
	}
	return m;
}

/* libraft 0.22.1 records a configuration entry a follower receives as
 * uncommitted at the index of the message's first new entry (5.12). The
 * invariant: every configuration entry reaches raft first in its message,
 * in order, with the right previous index and term, each message with a
 * batch and array of its own; other messages reach it untouched. */
static void test_append_split_at_changes(void **state)
{
	struct raft_message m;
	void *orig;
	(void)state;
	n_seen = 0;
	m = append_msg(10, 1, "A1:a C2:bb A2:ccc C3:dddd");
	fake.recv(&fake.io, &m);
	assert_int_equal(n_seen, 3);
	assert_int_equal(seen[0].prev, 10);
	assert_int_equal(seen[0].prev_term, 1);
	assert_string_equal(seen[0].text, "A1a ");
	assert_int_equal(seen[1].prev, 11);
	assert_int_equal(seen[1].prev_term, 1);
	assert_string_equal(seen[1].text, "C2bb A2ccc ");
	assert_int_equal(seen[2].prev, 13);
	assert_int_equal(seen[2].prev_term, 2);
	assert_string_equal(seen[2].text, "C3dddd ");
	assert_ptr_not_equal(seen[0].batch, seen[1].batch);
	assert_ptr_not_equal(seen[1].batch, seen[2].batch);
	assert_int_equal(last.append_entries.term, 3);
	assert_string_equal(last_address, "leader-2");
	assert_int_equal(x.appends_split, 1);
	/* Untouched: a change first, none, a heartbeat. */
	n_seen = 0;
	m = append_msg(20, 3, "C3:e A3:f");
	orig = m.append_entries.entries;
	fake.recv(&fake.io, &m);
	m = append_msg(22, 3, "A3:g A3:h");
	fake.recv(&fake.io, &m);
	m = append_msg(24, 3, "");
	fake.recv(&fake.io, &m);
	assert_int_equal(n_seen, 3);
	assert_ptr_equal(seen[0].entries, orig);
	assert_string_equal(seen[0].text, "C3e A3f ");
	assert_string_equal(seen[1].text, "A3g A3h ");
	assert_int_equal(seen[2].n, 0);
	assert_int_equal(x.appends_split, 1);
	assert_int_equal(x.split_dropped, 0);
	/* A change first and another later (the add, then the promotion);
	 * an empty payload. */
	n_seen = 0;
	m = append_msg(30, 3, "C3:i A3: C4:j");
	fake.recv(&fake.io, &m);
	assert_int_equal(n_seen, 2);
	assert_int_equal(seen[0].prev, 30);
	assert_string_equal(seen[0].text, "C3i A3 ");
	assert_int_equal(seen[1].prev, 32);
	assert_int_equal(seen[1].prev_term, 3);
	assert_string_equal(seen[1].text, "C4j ");
	assert_int_equal(x.appends_split, 2);
}

/* An allocator that fails once `fail_after` allocations have been made. */
static int heap_allocs, heap_fail_after;
static void *h_malloc(void *d, size_t n)
{
	(void)d;
	return heap_allocs++ >= heap_fail_after ? NULL : malloc(n);
}
static void h_free(void *d, void *p)
{
	(void)d;
	free(p);
}
static void *h_calloc(void *d, size_t n, size_t size)
{
	(void)d;
	return heap_allocs++ >= heap_fail_after ? NULL : calloc(n, size);
}
static void *h_realloc(void *d, void *p, size_t n)
{
	(void)d;
	return heap_allocs++ >= heap_fail_after ? NULL : realloc(p, n);
}
static void *h_aligned_alloc(void *d, size_t align, size_t n)
{
	(void)d;
	return aligned_alloc(align, n);
}
static void h_aligned_free(void *d, size_t align, void *p)
{
	(void)d;
	(void)align;
	free(p);
}

/* Out of memory halfway through a split: the whole message is dropped (a
 * network may drop one; half of it would confuse libraft), nothing leaks
 * (ASan), and the next one is split again. */
static void test_append_split_out_of_memory(void **state)
{
	struct raft_heap heap = {NULL,		h_malloc,  h_free,
				 h_calloc,	h_realloc, h_aligned_alloc,
				 h_aligned_free};
	struct raft_message m;
	(void)state;
	n_seen = 0;
	for (int k = 0; k < 5; k++) {
		m = append_msg(10, 1, "A1:a C2:bb A2:ccc");
		heap_allocs = 0;
		heap_fail_after = k; /* the parts, the first part's array
					 or batch, then the second's */
		raft_heap_set(&heap);
		fake.recv(&fake.io, &m);
		raft_heap_set_default();
		assert_int_equal(n_seen, 0);
		assert_int_equal(x.split_dropped, (unsigned long long)k + 1);
	}
	m = append_msg(10, 1, "A1:a C2:bb A2:ccc");
	fake.recv(&fake.io, &m);
	assert_int_equal(n_seen, 2);
	assert_int_equal(x.appends_split, 1);
}

static void conf_of(struct raft_configuration *c, int n)
{
	raft_configuration_init(c);
	for (int i = 1; i <= n; i++) {
		char addr[8];
		snprintf(addr, sizeof addr, "n%d", i);
		assert_int_equal(
		    raft_configuration_add(c, (raft_id)i, addr, RAFT_VOTER), 0);
	}
}

/* The state the 5.12 bug leaves at a start (a snapshot recorded the old
 * configuration; the entry, restored from the log, is at or below the
 * last applied index and held uncommitted). The invariant: the repair
 * marks committed only a configuration at or below the last applied
 * index, as libraft would when applying it, and changes nothing else;
 * out of memory it changes nothing. */
static void test_config_repair(void **state)
{
	struct raft_heap heap = {NULL,		h_malloc,  h_free,
				 h_calloc,	h_realloc, h_aligned_alloc,
				 h_aligned_free};
	struct raft rr;
	raft_index y = 99;
	(void)state;
	memset(&rr, 0, sizeof rr);
	conf_of(&rr.configuration, 3);
	conf_of(&rr.configuration_committed, 2);
	rr.configuration_committed_index = 5;
	/* Nothing held: nothing to do. */
	rr.last_applied = 100;
	assert_int_equal(raftio_config_repair(&rr, &y), 0);
	assert_int_equal(y, 0);
	/* Held above the last applied index: a real uncommitted change. */
	rr.configuration_uncommitted_index = 101;
	assert_int_equal(raftio_config_repair(&rr, &y), 0);
	assert_int_equal(rr.configuration_uncommitted_index, 101);
	assert_int_equal(rr.configuration_committed.n, 2);
	/* Out of memory: unchanged. */
	rr.configuration_uncommitted_index = 40;
	heap_allocs = 0;
	heap_fail_after = 1;
	raft_heap_set(&heap);
	assert_int_equal(raftio_config_repair(&rr, &y), -1);
	raft_heap_set_default();
	assert_int_equal(rr.configuration_uncommitted_index, 40);
	assert_int_equal(rr.configuration_committed_index, 5);
	assert_int_equal(rr.configuration_committed.n, 2);
	/* Held at or below it: committed now, a copy of the current one. */
	assert_int_equal(raftio_config_repair(&rr, &y), 1);
	assert_int_equal(y, 40);
	assert_int_equal(rr.configuration_uncommitted_index, 0);
	assert_int_equal(rr.configuration_committed_index, 40);
	assert_int_equal(rr.configuration_committed.n, 3);
	assert_ptr_not_equal(rr.configuration_committed.servers,
			     rr.configuration.servers);
	assert_string_equal(rr.configuration_committed.servers[2].address,
			    "n3");
	assert_int_equal(rr.configuration.n, 3);
	assert_int_equal(raftio_config_repair(&rr, &y), 0);
	raft_configuration_close(&rr.configuration);
	raft_configuration_close(&rr.configuration_committed);
}

static int disk_errors_at_cb;

static void install_failed_cb(struct raft_io_snapshot_put *req, int status)
{
	assert_int_not_equal(status, 0);
	disk_errors_at_cb = n_disk_errors;
	put_done = req;
	n_put_done++;
}

/* libraft 0.22.1 drops an installation's error and then ignores its
 * leader until restarted (reliability.md 5.15). The invariant: every
 * installation that fails, at once or in its callback, is said (the node
 * stops on it), after raft's callback has had the status; one that is
 * canceled (a close) is not, nor a failed save of the node's own (raft
 * takes it again). */
static void test_install_failure_said(void **state)
{
	struct raft_io_snapshot_put req;
	struct raft_snapshot snap;
	(void)state;
	memset(&snap, 0, sizeof snap);
	n_disk_errors = 0;
	x.on_disk_error = on_disk_error;
	x.data = &r;
	/* The node's own save fails: not said here. */
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 32, &req, &snap, install_failed_cb), 0);
	fake.put_cb(fake.put, RAFT_IOERR);
	assert_int_equal(n_put_done, 1);
	assert_int_equal(n_disk_errors, 0);
	/* An installation that fails in its callback (naming its file). */
	snap.index = 40;
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 0, &req, &snap, install_failed_cb), 0);
	fake.put_cb(fake.put, RAFT_IOERR);
	assert_int_equal(n_put_done, 2);
	assert_int_equal(disk_errors_at_cb, 0); /* raft saw it first */
	assert_int_equal(n_disk_errors, 1);
	assert_string_equal(disk_what, "saving the leader's snapshot");
	assert_string_equal(disk_errmsg, raft_strerror(RAFT_IOERR));
	assert_int_equal(raftio_oldest_save_ns(&x, NULL), 0);
	turn();
	/* Canceled by a close: not said. */
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 0, &req, &snap, install_failed_cb), 0);
	fake.put_cb(fake.put, RAFT_CANCELED);
	assert_int_equal(n_put_done, 3);
	assert_int_equal(n_disk_errors, 1);
	turn();
	/* Refused at once: said, with the inner io's message; raft's
	 * callback gets the error on the next loop turn (libraft 0.22.1
	 * frees its request twice when snapshot_put returns one). */
	fake.put_fails = RAFT_NOSPACE;
	assert_int_equal(
	    x.io.snapshot_put(&x.io, 0, &req, &snap, install_failed_cb), 0);
	assert_int_equal(n_disk_errors, 2);
	assert_string_equal(disk_errmsg, "disk on fire");
	assert_int_equal(n_put_done, 3);
	assert_true(raftio_oldest_save_ns(&x, NULL) > 0);
	turn();
	assert_int_equal(n_put_done, 4);
	assert_ptr_equal(put_done, &req);
	assert_int_equal(n_disk_errors, 2);
	assert_null(x.install_req);
	assert_int_equal(raftio_oldest_save_ns(&x, NULL), 0);
	/* Canceled at once (raft_uv closing): not said, and raft's
	 * callback gets it on the next loop turn too. */
	fake.put_fails = RAFT_CANCELED;
	assert_int_equal(x.io.snapshot_put(&x.io, 0, &req, &snap, canceled_cb),
			 0);
	assert_int_equal(n_disk_errors, 2);
	assert_int_equal(n_put_done, 4);
	turn();
	assert_int_equal(n_put_done, 5);
	assert_int_equal(n_disk_errors, 2);
	assert_null(x.install_req);
	/* The next installation works. */
	assert_int_equal(x.io.snapshot_put(&x.io, 0, &req, &snap, raft_put_cb),
			 0);
	fake.put_cb(fake.put, 0);
	assert_int_equal(n_put_done, 6);
	assert_int_equal(n_disk_errors, 2);
	turn();
	/* Refused at once, then a close before the next turn: raft's
	 * callback is canceled, as raft_uv's requests are; nothing more is
	 * said. */
	fake.put_fails = RAFT_IOERR;
	assert_int_equal(x.io.snapshot_put(&x.io, 0, &req, &snap, canceled_cb),
			 0);
	assert_int_equal(n_disk_errors, 3);
	x.io.close(&x.io, raft_closed);
	assert_int_equal(n_put_done, 7);
	turn();
	assert_int_equal(n_closed, 1);
	assert_int_equal(n_disk_errors, 3);
}

/* The oldest append in flight is known (a disk that hangs shows as one
 * that never ends), whatever order the inner io completes them in. */
static void test_oldest_append(void **state)
{
	struct raft_io_append req[4];
	struct raft_entry e;
	uint64_t a0, a1;
	(void)state;
	memset(&e, 0, sizeof e);
	n_appended = 0;
	assert_int_equal(raftio_oldest_append_ns(&x), 0);
	for (int i = 0; i < 4; i++) {
		req[i].data = &r;
		assert_int_equal(
		    x.io.append(&x.io, &req[i], &e, 1, raft_appended), 0);
	}
	assert_int_equal(n_f_appends, 4);
	a0 = raftio_oldest_append_ns(&x);
	assert_true(a0 != 0);
	/* The second completes first: the first is still the oldest. */
	f_appends[1]->cb(f_appends[1], 0);
	assert_int_equal(raftio_oldest_append_ns(&x), a0);
	f_appends[0]->cb(f_appends[0], 0);
	a1 = raftio_oldest_append_ns(&x);
	assert_true(a1 >= a0);
	/* The last, then the third: none in flight. */
	f_appends[3]->cb(f_appends[3], 0);
	assert_int_equal(raftio_oldest_append_ns(&x), a1);
	f_appends[2]->cb(f_appends[2], 0);
	assert_int_equal(raftio_oldest_append_ns(&x), 0);
	assert_int_equal(n_appended, 4);
}

static int n_failed_cb, failed_status;

static void raft_append_failed(struct raft_io_append *req, int status)
{
	(void)req;
	failed_status = status;
	n_failed_cb++;
}

/* A log write that completes with an error is said (libraft would drop
 * its entries and write the next ones); a canceled one (at close) is
 * not. raft gets the status either way. */
static void test_append_errors_said(void **state)
{
	struct raft_io_append req[2];
	struct raft_entry e;
	(void)state;
	memset(&e, 0, sizeof e);
	n_disk_errors = n_failed_cb = 0;
	x.on_disk_error = on_disk_error;
	x.data = &r;
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    x.io.append(&x.io, &req[i], &e, 1, raft_append_failed), 0);
	f_appends[0]->cb(f_appends[0], RAFT_CANCELED);
	assert_int_equal(n_disk_errors, 0);
	assert_int_equal(failed_status, RAFT_CANCELED);
	strcpy(fake.io.errmsg, "write: no such device");
	f_appends[1]->cb(f_appends[1], RAFT_IOERR);
	assert_int_equal(n_disk_errors, 1);
	assert_string_equal(disk_what, "a log write");
	assert_non_null(strstr(disk_errmsg, "write: no such device"));
	assert_int_equal(failed_status, RAFT_IOERR);
	assert_int_equal(n_failed_cb, 2);
	assert_int_equal(raftio_oldest_append_ns(&x), 0);
}

/* An append refused after the inner io kept it: raft gets the error (and
 * forgets its request), the node is told, and when the inner io calls
 * back later nothing reaches raft (ASan: nothing freed twice). */
static void test_append_refused_after_queueing(void **state)
{
	struct raft_io_append req;
	struct raft_entry e;
	(void)state;
	memset(&e, 0, sizeof e);
	n_disk_errors = n_failed_cb = 0;
	x.on_disk_error = on_disk_error;
	x.data = &r;
	fail_append = 1;
	assert_int_equal(x.io.append(&x.io, &req, &e, 1, raft_append_failed),
			 RAFT_IOERR);
	assert_string_equal(x.io.errmsg, "io_submit: input/output error");
	assert_int_equal(n_disk_errors, 1);
	assert_string_equal(disk_what, "a log write");
	assert_int_equal(raftio_oldest_append_ns(&x), 0);
	/* Later writes would land at the wrong indexes (raft_uv may have
	 * counted the refused one): refused too, until the node stops. */
	fail_append = 0;
	assert_int_equal(x.io.truncate(&x.io, 1), RAFT_IOERR);
	assert_string_equal(x.io.errmsg, "an earlier log write failed");
	assert_int_equal(x.io.append(&x.io, &req, &e, 1, raft_append_failed),
			 RAFT_IOERR);
	assert_int_equal(n_f_appends, 1);
	f_appends[0]->cb(f_appends[0], RAFT_CANCELED);
	assert_int_equal(n_failed_cb, 0);
}

/* raft_uv's diagnostics that report a disk failure (with the error they
 * carry), and some that do not (a failed segment creation is retried and
 * must not stop a node whose disk is full; a torn open segment is cut at
 * start). */
static void test_trace_failures(void **state)
{
	const char *what = NULL;
	char why[64];
	(void)state;
	assert_true(raftio_trace_failure(
	    "retry failed write (write failed: -5)", &what, why, sizeof why));
	assert_string_equal(what, "a log write");
	assert_string_equal(why, "write failed: -5");
	assert_true(raftio_trace_failure(
	    "truncate segment open-3: fsync: input/output error", &what, why,
	    sizeof why));
	assert_string_equal(what, "closing a log segment");
	assert_string_equal(
	    why, "truncate segment open-3: fsync: input/output error");
	assert_true(raftio_trace_failure(
	    "unlink segment 0000000000000001-0000000000000009: EIO", &what, why,
	    sizeof why));
	assert_string_equal(what, "truncating the log");
	assert_true(raftio_trace_failure("sync data directory: EIO", &what, why,
					 sizeof why));
	assert_true(raftio_trace_failure("truncate index 12: EIO", &what, why,
					 sizeof why));
	/* Cut to the buffer, terminated. */
	assert_true(raftio_trace_failure("retry failed write (a long error "
					 "message that does not fit in the "
					 "buffer given)",
					 &what, why, 16));
	assert_string_equal(why, "a long error me");
	what = NULL;
	assert_false(raftio_trace_failure(
	    "can't create segment open-4: no space left on device", &what, why,
	    sizeof why));
	assert_false(raftio_trace_failure(
	    "truncate open segment open-1 at 1384 (batch 15), since it has "
	    "corrupted entries",
	    &what, why, sizeof why));
	assert_false(raftio_trace_failure("uv truncate work cb ok", &what, why,
					  sizeof why));
	assert_false(raftio_trace_failure("finalize open-1 into 1-9", &what,
					  why, sizeof why));
	assert_false(raftio_trace_failure("", &what, why, sizeof why));
	/* A snapshot write that failed is retried: not a stop. */
	assert_false(raftio_trace_failure("retry snapshot write", &what, why,
					  sizeof why));
	assert_null(what);
	/* A full disk, told from a failing one. */
	assert_true(raftio_why_no_space("write failed: -28"));
	assert_true(
	    raftio_why_no_space("write failed: -28; src/uv_append.c:1"));
	assert_true(raftio_why_no_space(
	    "can't create segment open-4: no space left on device"));
	assert_true(raftio_why_no_space("sync data directory: ENOSPC"));
	assert_true(raftio_why_no_space("-28"));
	assert_true(raftio_why_no_space("io: create I/O capabilities probe "
					"file: not enough space to allocate "
					"4096 bytes"));
	assert_false(raftio_why_no_space("write failed: -5"));
	assert_false(raftio_why_no_space("write failed: -280"));
	assert_false(raftio_why_no_space("truncate index 1-28: EIO"));
	assert_false(
	    raftio_why_no_space("persist metadata1: write: i/o error"));
	assert_false(raftio_why_no_space(""));
	assert_false(raftio_why_no_space(NULL));
	assert_true(raftio_trace_snapshot_retry("retry snapshot write"));
	assert_false(raftio_trace_snapshot_retry("retry failed write (x)"));
	assert_false(raftio_trace_snapshot_retry("snapshot write end 0"));
	/* Steps of saves and barriers, kept for a stalled save's report. */
	assert_true(raftio_trace_save_step("put snapshot at 506, keeping 32"));
	assert_true(raftio_trace_save_step("snapshot write end 0"));
	assert_true(raftio_trace_save_step("retry snapshot write"));
	assert_true(
	    raftio_trace_save_step("UvBarrier uv->append_next_index:507"));
	assert_true(raftio_trace_save_step("UvUnblock queue empty"));
	assert_true(raftio_trace_save_step("unblock barrier or close"));
	assert_true(raftio_trace_save_step("uv truncate 8"));
	assert_true(raftio_trace_save_step("uv truncate barrier cb"));
	assert_false(raftio_trace_save_step("snapshot snapshot-8-7774-1.meta"));
	assert_false(raftio_trace_save_step("enqueue 5 entries"));
	assert_false(raftio_trace_save_step(""));
}

static void recv_vote(int pre_vote, int disrupt_leader)
{
	struct raft_message m;
	memset(&m, 0, sizeof m);
	m.type = RAFT_REQUEST_VOTE;
	m.server_id = 2;
	m.server_address = "b";
	m.request_vote.term = 5;
	m.request_vote.candidate_id = 2;
	m.request_vote.pre_vote = pre_vote != 0;
	m.request_vote.disrupt_leader = disrupt_leader != 0;
	fake.recv(&fake.io, &m);
}

/* Invariant: a node that starts votes for no candidate (nor pre-votes)
 * within vote_hold_ns of its start, as a follower that heard from its
 * leader would not, so a leader's lease holds across a follower's
 * restart (reliability.md 5.17); a leadership transfer's vote still goes
 * through, and everything after the hold does. */
static void test_votes_held_at_start(void **state)
{
	(void)state;
	/* setup() started x without a hold: votes pass. */
	recv_vote(0, 0);
	assert_int_equal(n_recv, 1);
	assert_int_equal(x.votes_dropped_at_start, 0);
	/* Started again with a hold of 60 s (ended by hand below). */
	n_recv = 0;
	x.vote_hold_ns = 60ull * 1000000000u;
	assert_int_equal(x.io.start(&x.io, 100, raft_tick, raft_recv), 0);
	recv_vote(0, 0);
	recv_vote(1, 0);
	assert_int_equal(n_recv, 0);
	assert_int_equal(x.votes_dropped_at_start, 2);
	recv_vote(0, 1); /* a transfer */
	assert_int_equal(n_recv, 1);
	assert_int_equal(last.type, RAFT_REQUEST_VOTE);
	assert_true(last.request_vote.disrupt_leader);
	recv_heartbeat(); /* other messages pass */
	assert_int_equal(n_recv, 2);
	/* After the hold. */
	x.votes_held_until_ns = uv_hrtime() - 1;
	recv_vote(1, 0);
	assert_int_equal(n_recv, 3);
	assert_true(last.request_vote.pre_vote);
	assert_int_equal(x.votes_held_until_ns, 0);
	assert_int_equal(x.votes_dropped_at_start, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_held_across_back_to_back_saves, setup),
	    cmocka_unit_test_setup(test_held_during_own_save, setup),
	    cmocka_unit_test_setup(test_install_put_passes_through, setup),
	    cmocka_unit_test_setup(test_install_during_install_freed, setup),
	    cmocka_unit_test_setup(test_snapshot_saved_time, setup),
	    cmocka_unit_test_setup(test_oldest_save, setup),
	    cmocka_unit_test_setup(test_truncate_during_save, setup),
	    cmocka_unit_test_setup(test_truncate_waits_for_next_save, setup),
	    cmocka_unit_test_setup(test_capacity_follows, setup),
	    cmocka_unit_test_setup(test_errors_and_close, setup),
	    cmocka_unit_test_setup(test_metadata_errors_said, setup),
	    cmocka_unit_test_setup(test_install_failure_said, setup),
	    cmocka_unit_test_setup(test_append_split_at_changes, setup),
	    cmocka_unit_test_setup(test_append_split_out_of_memory, setup),
	    cmocka_unit_test(test_config_repair),
	    cmocka_unit_test_setup(test_oldest_append, setup),
	    cmocka_unit_test_setup(test_append_errors_said, setup),
	    cmocka_unit_test_setup(test_append_refused_after_queueing, setup),
	    cmocka_unit_test(test_trace_failures),
	    cmocka_unit_test_setup(test_votes_held_at_start, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
