/* test_raftio_uv.c - raftio over the real raft_uv of libraft 0.22.1, on
 * a directory of the test's own: a log truncation asked for while a
 * snapshot save is being written (docs/reliability.md 5.14).
 *
 * raft_uv attaches the truncation's barrier to the open segment, which it
 * closes at once (it is idle), and triggers only the save's barrier: the
 * truncation never happens. The replaced entries stay on disk in a closed
 * segment, the new ones go to a segment that overlaps it, and the next
 * start fails. raftio holds the truncation, and the writes after it,
 * until the save has completed. The invariant checked: what a fresh
 * raft_uv loads afterwards is the log raft asked for.
 *
 * To keep the save's write in flight, raft_uv's tracer (called on the
 * worker thread too) parks the worker when it reports "snapshot write
 * end" (uv_snapshot.c), until the test releases it.
 *
 * Also: a message libraft sends while the io closes (the InstallSnapshot
 * whose snapshot finished loading meanwhile) is refused, so raft_uv opens
 * no connection that would outlive it (reliability.md 5.16). The stack
 * is the node's: Synod's transport over raft_uv_tcp. */
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "raftio.h"
#include "transport.h"

static uv_loop_t loop;
static uv_async_t parked_async;
static sem_t release_sem;
static _Atomic int park_armed;
static int parked;

static void emit(struct raft_tracer *t, int type, const void *data)
{
	const struct raft_tracer_info *i = data;
	(void)t;
	if (type != RAFT_TRACER_DIAGNOSTIC || i->version < 1 ||
	    strncmp(i->diagnostic.message, "snapshot write end", 18) != 0)
		return;
	if (park_armed) { /* the worker thread: park until released */
		park_armed = 0;
		uv_async_send(&parked_async);
		sem_wait(&release_sem);
	}
}

static struct raft_tracer tracer = {.impl = NULL, .version = 2, .emit = emit};

static void on_parked(uv_async_t *a)
{
	(void)a;
	parked = 1;
}

/* Runs the loop until *flag is set (or 10 s: a test failure). */
static void run_until(const int *flag)
{
	uint64_t end = uv_hrtime() + 10000000000ULL;
	while (!*flag && uv_hrtime() < end)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(*flag);
}

/* Runs the loop for ms (let raft_uv's thread-pool work settle). */
static void run_for(unsigned ms)
{
	uint64_t end = uv_hrtime() + (uint64_t)ms * 1000000;
	while (uv_hrtime() < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

struct append {
	struct raft_io_append req;
	struct raft_entry entries[8];
	uint64_t data[8];
	int done, status;
};

static void appended(struct raft_io_append *req, int status)
{
	struct append *a = req->data;
	a->done = 1;
	a->status = status;
}

/* Entries first..first+n-1 of term, each carrying its index and term,
 * after a truncation at first, as libraft asks before every append
 * (legacy.c): nothing unless first is below the next index. */
static void append(struct raft_io *io, struct append *a, raft_index first,
		   unsigned n, raft_term term)
{
	assert_int_equal(io->truncate(io, first), 0);
	memset(a, 0, sizeof *a);
	for (unsigned i = 0; i < n; i++) {
		a->data[i] = (term << 32) | (first + i);
		a->entries[i].term = term;
		a->entries[i].type = RAFT_COMMAND;
		a->entries[i].buf.base = &a->data[i];
		a->entries[i].buf.len = sizeof a->data[i];
	}
	a->req.data = a;
	assert_int_equal(io->append(io, &a->req, a->entries, n, appended), 0);
}

struct save {
	struct raft_io_snapshot_put req;
	struct raft_snapshot snap;
	struct raft_buffer buf;
	uint64_t payload[4];
	int done, status;
};

static void saved(struct raft_io_snapshot_put *req, int status)
{
	struct save *s = req->data;
	s->done = 1;
	s->status = status;
}

static void save(struct raft_io *io, struct save *s, unsigned trailing,
		 raft_index index)
{
	memset(s, 0, sizeof *s);
	raft_configuration_init(&s->snap.configuration);
	assert_int_equal(raft_configuration_add(&s->snap.configuration, 1,
						"127.0.0.1:9", RAFT_VOTER),
			 0);
	s->snap.index = index;
	s->snap.term = 1;
	s->snap.configuration_index = 1;
	s->buf.base = s->payload;
	s->buf.len = sizeof s->payload;
	s->snap.bufs = &s->buf;
	s->snap.n_bufs = 1;
	s->req.data = s;
	assert_int_equal(
	    io->snapshot_put(io, trailing, &s->req, &s->snap, saved), 0);
}

static int closed;

static void on_closed(struct raft_io *io)
{
	(void)io;
	closed = 1;
}

static void tick(struct raft_io *io)
{
	(void)io;
}

static void recv_msg(struct raft_io *io, struct raft_message *m)
{
	(void)io;
	(void)m;
}

/* Node 1's raft and client addresses (the transport's form). */
#define ADDRESS "127.0.0.1:9/127.0.0.1:10"

/* The io under test: raftio over raft_uv, or raft_uv alone. */
struct stack {
	struct synod_transport t;
	struct raft_io uv;
	struct raftio x;
	struct raft r; /* what raftio finds through the inner io's data */
	struct raft_io *io;
};

static void stack_open(struct stack *s, const char *dir, int with_raftio)
{
	raft_term term;
	raft_id vote;
	struct raft_snapshot *snap = NULL;
	raft_index start;
	struct raft_entry *entries = NULL;
	size_t n = 0;
	memset(s, 0, sizeof *s);
	assert_int_equal(synod_transport_init(&s->t, &loop), 0);
	assert_int_equal(raft_uv_init(&s->uv, &loop, dir, &s->t.outer), 0);
	raft_uv_set_tracer(&s->uv, &tracer);
	s->io = &s->uv;
	if (with_raftio) {
		raftio_init(&s->x, &s->uv);
		s->x.loop = &loop;
		s->io = &s->x.io;
		/* raft_uv hands completed legacy requests to raft at each
		 * loop turn: an empty queue of them. */
		s->r.legacy.requests[0] = s->r.legacy.requests;
		s->r.legacy.requests[1] = s->r.legacy.requests;
		s->r.io = &s->x.io;
		s->x.io.data = &s->r;
	}
	assert_int_equal(s->io->init(s->io, 1, ADDRESS), 0);
	assert_int_equal(
	    s->io->load(s->io, &term, &vote, &snap, &start, &entries, &n), 0);
	assert_null(snap);
	assert_int_equal(n, 0);
	assert_int_equal(s->io->start(s->io, 10000, tick, recv_msg), 0);
}

/* After the io closed: the loop runs on a while, then raft_uv and the
 * transport are freed, as node_release does. */
static void stack_free(struct stack *s)
{
	run_for(50);
	raft_uv_close(&s->uv);
	synod_transport_close(&s->t);
}

static void stack_close(struct stack *s)
{
	closed = 0;
	s->io->close(s->io, on_closed);
	run_until(&closed);
	stack_free(s);
}

/* Frees a snapshot raft_uv loaded (NULL: none). */
static void snapshot_free(struct raft_snapshot *snap)
{
	if (snap == NULL)
		return;
	raft_configuration_close(&snap->configuration);
	for (unsigned i = 0; i < snap->n_bufs; i++)
		raft_free(snap->bufs[i].base);
	raft_free(snap->bufs);
	raft_free(snap);
}

/* Loads dir with a fresh raft_uv: its error, or 0 and the log's last
 * index and the terms of entries 8 and 9. */
static int reload(const char *dir, raft_index *last, raft_term *t8,
		  raft_term *t9)
{
	struct stack s;
	raft_term term;
	raft_id vote;
	struct raft_snapshot *snap = NULL;
	raft_index start = 0;
	struct raft_entry *entries = NULL;
	size_t n = 0;
	int rv;
	memset(&s, 0, sizeof s);
	assert_int_equal(synod_transport_init(&s.t, &loop), 0);
	assert_int_equal(raft_uv_init(&s.uv, &loop, dir, &s.t.outer), 0);
	raft_uv_set_auto_recovery(&s.uv, false);
	s.io = &s.uv;
	assert_int_equal(s.io->init(s.io, 1, ADDRESS), 0);
	rv = s.io->load(s.io, &term, &vote, &snap, &start, &entries, &n);
	if (rv == 0) {
		*last = start + n - 1;
		for (size_t i = 0; i < n; i++) {
			if (start + i == 8)
				*t8 = entries[i].term;
			if (start + i == 9)
				*t9 = entries[i].term;
		}
		for (size_t i = 0; i < n; i++)
			if (entries[i].batch != NULL &&
			    (i == 0 ||
			     entries[i].batch != entries[i - 1].batch))
				raft_free(entries[i].batch);
		raft_free(entries);
		snapshot_free(snap);
	}
	stack_close(&s);
	return rv;
}

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "%s/raftio-uv-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_async_init(&loop, &parked_async, on_parked), 0);
	assert_int_equal(sem_init(&release_sem, 0, 0), 0);
	parked = 0;
	park_armed = 0;
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	int rv;
	(void)state;
	/* (After a failed check a worker may still be parked, and raft_uv
	 * open: never wait for them.) */
	sem_post(&release_sem);
	uv_close((uv_handle_t *)&parked_async, NULL);
	for (int i = 0; i < 100 && uv_loop_alive(&loop); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	rv = uv_loop_close(&loop);
	sem_destroy(&release_sem);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 && rv == 0 ? 0 : -1;
}

/* Entries 1-5; a save at 3 whose write is parked; 6-10 appended and
 * written meanwhile (the log goes on during a save); then, as a follower
 * told by a new leader, the log truncated at 8 and 8-9 appended at term
 * 2; then the save's write is released. Returns what a fresh load
 * says. */
static int truncate_during_save(int with_raftio, raft_index *last,
				raft_term *t8, raft_term *t9)
{
	static struct append a1, a2, a3;
	static struct save s1;
	struct stack s;
	stack_open(&s, dir, with_raftio);
	append(s.io, &a1, 1, 5, 1);
	run_until(&a1.done);
	park_armed = 1;
	save(s.io, &s1, 100, 3);
	run_until(&parked);
	/* Written during the save (its truncation at 6 is nothing). */
	append(s.io, &a2, 6, 5, 1);
	run_until(&a2.done);
	run_for(100); /* its segment idle */
	/* The real truncation, at 8, and the new entries. */
	append(s.io, &a3, 8, 2, 2);
	run_for(200); /* (raft_uv closes that segment meanwhile) */
	sem_post(&release_sem);
	run_until(&s1.done);
	run_until(&a3.done);
	assert_int_equal(s1.status, 0);
	assert_int_equal(a3.status, 0);
	raft_configuration_close(&s1.snap.configuration);
	stack_close(&s);
	return reload(dir, last, t8, t9);
}

/* Through raftio: the truncation happens; the log is 1-9, 8 and 9 of
 * term 2. */
static void test_truncation_kept(void **state)
{
	raft_index last = 0;
	raft_term t8 = 0, t9 = 0;
	(void)state;
	assert_int_equal(truncate_during_save(1, &last, &t8, &t9), 0);
	assert_int_equal(last, 9);
	assert_int_equal(t8, 2);
	assert_int_equal(t9, 2);
}

/* raft_uv alone still loses the truncation, and the next start fails
 * (RAFT_CORRUPT: "closed segment ... is past last snapshot"). When a
 * libraft upgrade fixes it, this fails: re-check raftio's workaround. */
static void test_raft_uv_alone_loses_it(void **state)
{
	raft_index last = 0;
	raft_term t8 = 0, t9 = 0;
	(void)state;
	assert_int_equal(truncate_during_save(0, &last, &t8, &t9),
			 RAFT_CORRUPT);
}

struct get_send {
	struct raft_io_snapshot_get get;
	struct raft_io_send send;
	struct raft_io *io; /* sends through this */
	int got, status, rv;
};

/* As libraft's legacyLoadSnapshotCb: the snapshot loaded, its message is
 * sent (a RequestVote here: any message makes raft_uv open a client). */
static void got_then_send(struct raft_io_snapshot_get *req,
			  struct raft_snapshot *snap, int status)
{
	struct get_send *g = req->data;
	struct raft_message m;
	g->got = 1;
	g->status = status;
	snapshot_free(snap);
	memset(&m, 0, sizeof m);
	m.type = RAFT_REQUEST_VOTE;
	m.server_id = 2;
	m.server_address = "127.0.0.1:1/127.0.0.1:2";
	m.request_vote.version = 2;
	m.request_vote.term = 2;
	m.request_vote.candidate_id = 1;
	g->rv = g->io->send(g->io, &g->send, &m, NULL);
}

/* A stack through raftio with a snapshot load in flight when the io
 * closes; its callback sends through raftio (via_raftio) or straight to
 * raft_uv, as libraft's would without raftio. Returns once closed. */
static void close_while_loading(struct stack *s, struct get_send *g,
				int via_raftio)
{
	static struct append a;
	static struct save sv;
	stack_open(s, dir, 1);
	append(s->io, &a, 1, 5, 1);
	run_until(&a.done);
	save(s->io, &sv, 2, 3);
	run_until(&sv.done);
	assert_int_equal(sv.status, 0);
	raft_configuration_close(&sv.snap.configuration);
	memset(g, 0, sizeof *g);
	g->io = via_raftio ? s->io : &s->uv;
	g->get.data = g;
	assert_int_equal(s->io->snapshot_get(s->io, &g->get, got_then_send), 0);
	closed = 0;
	s->io->close(s->io, on_closed);
	run_until(&closed);
	assert_true(g->got); /* raft_uv waits for the load */
	assert_int_equal(g->status, 0);
}

/* The invariant: once the io closes, raft's messages go nowhere, and
 * raft_uv opens no connection after its transport closed. libraft 0.22.1
 * sends an InstallSnapshot when its snapshot has loaded, even while
 * closing; raft_uv made a client for it whose connection attempt
 * outlived raft_uv, and the daemon crashed in its callback after
 * "stopped" (reliability.md 5.16). */
static void test_send_while_closing_refused(void **state)
{
	struct get_send g;
	struct stack s;
	(void)state;
	close_while_loading(&s, &g, 1);
	assert_int_equal(g.rv, RAFT_CANCELED);
	assert_int_equal(s.x.sends_after_close, 1);
	stack_free(&s);
	assert_int_equal(s.t.connects_closing, 0);
	assert_int_equal(s.t.late_callbacks, 0);
}

/* The same send straight to raft_uv (what libraft did without raftio's
 * refusal): raft_uv begins a connection on the closing transport, whose
 * attempt ends after the transport said it closed. The transport's
 * second guard takes both late callbacks (the attempt's, then its close
 * again) without touching raft_uv, and stays allocated until freed
 * after them. When a libraft upgrade no longer connects while closing,
 * this fails: re-check raftio's refusal. raft_uv's client for that
 * message leaks, with its timer's handle (teardown_leaky). */
static void test_raft_uv_alone_connects_while_closing(void **state)
{
	struct get_send g;
	struct stack s;
	(void)state;
	close_while_loading(&s, &g, 0);
	assert_int_equal(g.rv, 0);
	assert_int_equal(s.t.connects_closing, 1);
	/* The attempt's address lookup is a thread-pool job: it ends on
	 * a later turn than the transport's close. */
	for (uint64_t end = uv_hrtime() + 10000000000ULL;
	     s.t.late_callbacks < 2 && uv_hrtime() < end;)
		run_for(10);
	assert_int_equal(s.t.late_callbacks, 2);
	stack_free(&s);
}

/* As teardown, but the loop keeps the handle raft_uv leaked. */
static int teardown_leaky(void **state)
{
	char cmd[300];
	(void)state;
	sem_post(&release_sem);
	uv_close((uv_handle_t *)&parked_async, NULL);
	for (int i = 0; i < 100 && uv_loop_alive(&loop); i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	(void)uv_loop_close(&loop); /* UV_EBUSY: the leaked timer */
	sem_destroy(&release_sem);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_truncation_kept, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_raft_uv_alone_loses_it, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_send_while_closing_refused,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_raft_uv_alone_connects_while_closing, setup,
		teardown_leaky),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
