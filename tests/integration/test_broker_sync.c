/* tests/integration/test_broker_sync.c - the broker library's metadata
 * synchronisation against a scripted fake controller, for what a real one
 * does not do on demand: a fetch answer held back while pushes arrive
 * (they must be ignored), gaps, malformed pushes, a push from prev_version
 * 0, a fetch refused as STALE_BROKER_EPOCH (re-registration, then a fetch
 * since the applied version: the view is kept), and a controller without
 * METADATA_FETCH (UNSUPPORTED_API: fenced, probed again on the next
 * connection), and answers in pages read while the state changes (the
 * library stages them: no view it reports mixes versions).
 *
 * The fake speaks the framing of net/conn.h on a loopback port of the
 * test's loop, next to one struct synod_broker: registration, heartbeats
 * (fenced until the reported version reaches the epoch), fetches and
 * pushes of one topic of N_PARTS partitions. Every wait is bounded.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn.h"
#include "itest.h"

#define N_PARTS 4
#define N_BROKERS 4 /* ids 1..N_BROKERS; the library's broker is 1 */
#define WAIT_MS 5000
#define CLUSTER "sync-test-cluster"

enum { FETCH_ANSWER, FETCH_HOLD, FETCH_STALE, FETCH_UNSUPPORTED, FETCH_PAGED };

struct fconn {
	struct conn conn;
	struct fake *f;
	struct fconn *next, *prev;
};

struct fake {
	uv_loop_t loop;
	uv_tcp_t listener;
	struct conn_flusher flusher;
	char addr[64];
	struct fconn *conns; /* every open connection */
	struct fconn *last;  /* where pushes go */
	/* registration */
	uint64_t epoch;
	int fenced;
	unsigned registrations, heartbeats, fetches;
	uint64_t last_reported, last_since;
	/* metadata */
	uint64_t version;      /* the controller's */
	uint64_t push_version; /* last push made for the broker */
	int32_t leader[N_PARTS];
	uint32_t pepoch[N_PARTS];
	uint64_t pver[N_PARTS]; /* version of each partition's last change */
	int bfenced[N_BROKERS + 1];
	/* FETCH_PAGED: one changed partition a page, each read when asked
	 * for (as the real controller does), all at the first page's
	 * version; between() runs before a later page is read. */
	uint64_t page_version;
	void (*between)(struct fake *f, int32_t partition);
	uint64_t before_pages; /* the library's version before them */
	int lose_between;      /* lose between_pages' second push */
	int fetch_mode;
	int held; /* a fetch answer held back */
	struct fconn *held_conn;
	struct frame_header held_h;
	/* the broker */
	struct synod_broker *b;
	struct itest_deltas ds; /* what the broker reported */
	unsigned deltas;	/* metadata callbacks */
	int check_leaders; /* count views with a fenced leader in `mixed` */
	unsigned mixed;	   /* views that showed a fenced or unknown leader */
};

static const uint8_t topic_id[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
				     0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
				     0xdd, 0xee, 0xff, 0x01};

/* ---- the fake controller ---- */

static void reply(struct fconn *fc, const struct frame_header *req,
		  const ProtobufCMessage *m)
{
	struct frame_header h = {.kind = FRAME_RESPONSE,
				 .api = req->api,
				 .api_version = 1,
				 .correlation_id = req->correlation_id};
	conn_send(&fc->conn, &h, m);
}

static void reply_status(struct fconn *fc, const struct frame_header *req,
			 int code)
{
	Synod__Wire__BrokerUnregisterResponse r =
	    SYNOD__WIRE__BROKER_UNREGISTER_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	st.code = code;
	r.status = &st;
	reply(fc, req, &r.base);
}

/* The broker replicates every partition of the one topic. A delta with
 * everything (full when since is 0), prev = since, version = now. */
static void fill_image(struct fake *f, Synod__Wire__MetadataDelta *d,
		       Synod__Wire__TopicState *t, Synod__Wire__TopicState **tp,
		       Synod__Wire__PartitionState *p,
		       Synod__Wire__PartitionState **pp, int32_t *reps)
{
	synod__wire__topic_state__init(t);
	t->name = "t";
	t->topic_id.data = (uint8_t *)topic_id;
	t->topic_id.len = 16;
	t->partitions = N_PARTS;
	*tp = t;
	d->n_topics = 1;
	d->topics = tp;
	for (int i = 0; i < N_PARTS; i++) {
		synod__wire__partition_state__init(&p[i]);
		p[i].topic = "t";
		p[i].topic_id.data = (uint8_t *)topic_id;
		p[i].topic_id.len = 16;
		p[i].partition = i;
		p[i].leader = f->leader[i];
		p[i].leader_epoch = f->pepoch[i];
		p[i].partition_epoch = f->pepoch[i];
		p[i].n_replicas = p[i].n_isr = 1;
		p[i].replicas = p[i].isr = reps;
		pp[i] = &p[i];
	}
	d->n_partitions = N_PARTS;
	d->partitions = pp;
}

/* Every broker, as with_brokers asks. */
static void fill_brokers(struct fake *f, Synod__Wire__MetadataDelta *d,
			 Synod__Wire__BrokerState *bs,
			 Synod__Wire__BrokerState **bp)
{
	for (int i = 0; i < N_BROKERS; i++) {
		synod__wire__broker_state__init(&bs[i]);
		bs[i].id = i + 1;
		bs[i].epoch = 1;
		bs[i].fenced = f->bfenced[i + 1];
		bp[i] = &bs[i];
	}
	d->n_brokers = N_BROKERS;
	d->brokers = bp;
	d->has_all_brokers = 1;
	d->all_brokers = 1;
}

static void answer_fetch(struct fake *f, struct fconn *fc,
			 const struct frame_header *h, uint64_t since)
{
	Synod__Wire__MetadataFetchResponse r =
	    SYNOD__WIRE__METADATA_FETCH_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__TopicState t, *tp;
	Synod__Wire__PartitionState p[N_PARTS], *pp[N_PARTS];
	Synod__Wire__BrokerState bs[N_BROKERS], *bp[N_BROKERS];
	int32_t reps[1] = {1};
	fill_image(f, &d, &t, &tp, p, pp, reps);
	fill_brokers(f, &d, bs, bp);
	d.prev_version = since;
	d.version = f->version;
	d.has_full = 1;
	d.full = since == 0;
	r.status = &st;
	r.delta = &d;
	reply(fc, h, &r.base);
	f->push_version = f->version;
	f->last = fc;
}

/* FETCH_PAGED: the first partition at or after the cursor (one byte)
 * that changed since `since` (all of them when since is 0), read now;
 * the first page also carries the topic and every broker. */
static void answer_page(struct fake *f, struct fconn *fc,
			const struct frame_header *h,
			const Synod__Wire__MetadataFetchRequest *q)
{
	Synod__Wire__MetadataFetchResponse r =
	    SYNOD__WIRE__METADATA_FETCH_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__TopicState t, *tp;
	Synod__Wire__PartitionState p[N_PARTS], *pp[N_PARTS];
	Synod__Wire__BrokerState bs[N_BROKERS], *bp[N_BROKERS];
	int32_t reps[1] = {1};
	int first = !(q->has_cursor && q->cursor.len == 1);
	int32_t from = first ? 0 : q->cursor.data[0], at = -1, next = -1;
	uint8_t cur;
	if (!first && f->between)
		f->between(f, from);
	fill_image(f, &d, &t, &tp, p, pp, reps); /* the state now */
	for (int32_t i = from; i < N_PARTS; i++) {
		if (q->since_version != 0 && f->pver[i] <= q->since_version)
			continue;
		if (at < 0)
			at = i;
		else if (next < 0)
			next = i;
	}
	if (first) {
		f->page_version = f->version;
		fill_brokers(f, &d, bs, bp);
	} else {
		d.n_topics = 0;
	}
	d.n_partitions = at < 0 ? 0 : 1;
	d.partitions = at < 0 ? NULL : &pp[at];
	d.prev_version = q->since_version;
	d.version = f->page_version;
	d.has_full = 1;
	d.full = q->since_version == 0 && first;
	if (next >= 0) {
		cur = (uint8_t)next;
		r.has_next_cursor = 1;
		r.next_cursor.data = &cur;
		r.next_cursor.len = 1;
	}
	r.status = &st;
	r.delta = &d;
	if (first) /* a later page leaves the push cursor alone */
		f->push_version = f->page_version;
	r.has_read_version = 1;
	r.read_version = f->version; /* read now */
	r.has_pushed_version = 1;
	r.pushed_version = f->push_version;
	reply(fc, h, &r.base);
	f->last = fc;
}

static void on_request(struct fake *f, struct fconn *fc,
		       const struct frame_header *h, const uint8_t *body,
		       size_t len)
{
	switch (h->api) {
	case SYNOD_API_BROKER_REGISTER: {
		Synod__Wire__BrokerRegisterResponse r =
		    SYNOD__WIRE__BROKER_REGISTER_RESPONSE__INIT;
		Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
		f->registrations++;
		f->epoch = ++f->version; /* the registration's log index */
		f->fenced = 1;
		f->push_version = 0; /* a new session */
		f->last = fc;
		r.status = &st;
		r.has_broker_epoch = 1;
		r.broker_epoch = f->epoch;
		r.has_heartbeat_interval_ms = 1;
		r.heartbeat_interval_ms = 200;
		r.has_session_timeout_ms = 1;
		r.session_timeout_ms = 10000;
		reply(fc, h, &r.base);
		return;
	}
	case SYNOD_API_BROKER_HEARTBEAT: {
		Synod__Wire__BrokerHeartbeatRequest *q =
		    synod__wire__broker_heartbeat_request__unpack(NULL, len,
								  body);
		Synod__Wire__BrokerHeartbeatResponse r =
		    SYNOD__WIRE__BROKER_HEARTBEAT_RESPONSE__INIT;
		Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
		assert_non_null(q);
		f->heartbeats++;
		if (q->broker_epoch != f->epoch) {
			reply_status(fc, h, SYNOD_ESTALE_BROKER_EPOCH);
			synod__wire__broker_heartbeat_request__free_unpacked(
			    q, NULL);
			return;
		}
		f->last = fc;
		f->last_reported = q->metadata_version;
		if (q->metadata_version >= f->epoch)
			f->fenced = 0;
		synod__wire__broker_heartbeat_request__free_unpacked(q, NULL);
		r.status = &st;
		r.has_is_fenced = 1;
		r.is_fenced = f->fenced;
		r.has_metadata_version = 1;
		r.metadata_version = f->version;
		r.has_heartbeat_interval_ms = 1;
		r.heartbeat_interval_ms = 200;
		reply(fc, h, &r.base);
		return;
	}
	case SYNOD_API_METADATA_FETCH: {
		Synod__Wire__MetadataFetchRequest *q =
		    synod__wire__metadata_fetch_request__unpack(NULL, len,
								body);
		assert_non_null(q);
		f->fetches++;
		f->last_since = q->since_version;
		if (f->fetch_mode == FETCH_UNSUPPORTED) {
			reply_status(fc, h, SYNOD_EUNSUPPORTED_API);
		} else if (f->fetch_mode == FETCH_STALE ||
			   q->broker_epoch != f->epoch) {
			f->fetch_mode = FETCH_ANSWER;
			f->epoch = 0; /* as if unregistered */
			reply_status(fc, h, SYNOD_ESTALE_BROKER_EPOCH);
		} else if (f->fetch_mode == FETCH_PAGED) {
			answer_page(f, fc, h, q);
		} else if (f->fetch_mode == FETCH_HOLD) {
			f->held = 1;
			f->held_conn = fc;
			f->held_h = *h;
		} else {
			answer_fetch(f, fc, h, q->since_version);
		}
		synod__wire__metadata_fetch_request__free_unpacked(q, NULL);
		return;
	}
	default:
		/* The handshake (METADATA) and liveness probes: OK. */
		reply_status(fc, h, SYNOD_OK);
		return;
	}
}

static void on_frame(struct conn *c, const struct frame_header *h,
		     const uint8_t *body, size_t len)
{
	struct fconn *fc = c->data;
	if (h->kind == FRAME_REQUEST)
		on_request(fc->f, fc, h, body, len);
}

static void on_closed(struct conn *c)
{
	struct fconn *fc = c->data;
	if (fc->prev)
		fc->prev->next = fc->next;
	else
		fc->f->conns = fc->next;
	if (fc->next)
		fc->next->prev = fc->prev;
	if (fc->f->last == fc)
		fc->f->last = NULL;
	if (fc->f->held_conn == fc) {
		fc->f->held_conn = NULL;
		fc->f->held = 0;
	}
	free(fc);
}

static const struct conn_ops fake_ops = {
    .frame = on_frame,
    .bad_frame = NULL,
    .closed = on_closed,
};

static void on_connection(uv_stream_t *l, int status)
{
	struct fake *f = l->data;
	struct fconn *fc;
	if (status < 0)
		return;
	fc = calloc(1, sizeof *fc);
	assert_non_null(fc);
	fc->f = f;
	conn_init(&fc->conn, &f->loop, &f->flusher, SYNOD_DEFAULT_MAX_FRAME,
		  &fake_ops, fc);
	fc->next = f->conns;
	if (f->conns)
		f->conns->prev = fc;
	f->conns = fc;
	if (uv_accept(l, (uv_stream_t *)&fc->conn.tcp) != 0) {
		conn_close(&fc->conn);
		return;
	}
	conn_start(&fc->conn);
}

static void push_raw(struct fake *f, const uint8_t *body, size_t len)
{
	struct frame_header h = {.kind = FRAME_PUSH,
				 .api = SYNOD_API_METADATA_PUSH,
				 .api_version = 1};
	assert_non_null(f->last);
	conn_send_raw(&f->last->conn, &h, body, len);
}

static void push_delta(struct fake *f, const Synod__Wire__MetadataDelta *d)
{
	size_t len = synod__wire__metadata_delta__get_packed_size(d);
	uint8_t *buf = malloc(len ? len : 1);
	assert_non_null(buf);
	synod__wire__metadata_delta__pack(d, buf);
	push_raw(f, buf, len);
	free(buf);
}

/* Partition i gets a new leader at a version `skip` above the current one
 * (versions in between concern other brokers); pushed unless `lose`. */
static void change(struct fake *f, int i, int32_t leader, unsigned skip,
		   int lose)
{
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__PartitionState p, *pp = &p;
	int32_t reps[1] = {1};
	f->version += skip;
	f->leader[i] = leader;
	f->pepoch[i]++;
	f->pver[i] = f->version;
	synod__wire__partition_state__init(&p);
	p.topic = "t";
	p.topic_id.data = (uint8_t *)topic_id;
	p.topic_id.len = 16;
	p.partition = i;
	p.leader = leader;
	p.leader_epoch = p.partition_epoch = f->pepoch[i];
	p.n_replicas = p.n_isr = 1;
	p.replicas = p.isr = reps;
	d.prev_version = f->push_version;
	d.version = f->version;
	d.n_partitions = 1;
	d.partitions = &pp;
	f->push_version = f->version;
	if (!lose)
		push_delta(f, &d);
}

static void release_fetch(struct fake *f)
{
	assert_true(f->held);
	f->held = 0;
	f->fetch_mode = FETCH_ANSWER;
	answer_fetch(f, f->held_conn, &f->held_h, f->last_since);
}

/* ---- the broker ---- */

/* Invariant of every view reported: no partition led by a broker the
 * same view lists as fenced (or does not list). */
static int fenced_leader(void *arg, const Synod__Wire__PartitionState *p)
{
	struct fake *f = arg;
	Synod__Wire__BrokerState bs;
	if (p->leader >= 0 &&
	    (synod_broker_find_broker(f->b, p->leader, &bs) != SYNOD_OK ||
	     bs.fenced)) {
		fprintf(stderr,
			"view %llu: partition %d led by broker %d, %s there\n",
			(unsigned long long)synod_broker_metadata_version(f->b),
			p->partition, p->leader,
			synod_broker_find_broker(f->b, p->leader, &bs) ==
				SYNOD_OK
			    ? "fenced"
			    : "unknown");
		f->mixed++;
	}
	return 0;
}

static void on_metadata(void *arg, struct synod_broker *b,
			const Synod__Wire__MetadataDelta *d)
{
	struct fake *f = arg;
	itest_deltas_check(&f->ds, b, d);
	f->deltas++;
	if (f->check_leaders)
		synod_broker_partitions(b, fenced_leader, f);
}

#define WAIT_FOR(f, cond)                                                      \
	do {                                                                   \
		unsigned waited_ = 0;                                          \
		while (!(cond)) {                                              \
			if (waited_ >= WAIT_MS)                                \
				fail_msg("timed out waiting for %s", #cond);   \
			itest_pump(&(f)->loop, 5);                             \
			waited_ += 5;                                          \
		}                                                              \
	} while (0)

/* The view has partition i with this leader. */
static int leader_is(struct fake *f, int i, int32_t leader)
{
	Synod__Wire__PartitionState p;
	return synod_broker_find_partition(f->b, topic_id, i, &p) == SYNOD_OK &&
	       p.leader == leader;
}

static int view_matches(struct fake *f)
{
	for (int i = 0; i < N_PARTS; i++)
		if (!leader_is(f, i, f->leader[i]))
			return 0;
	return synod_broker_partition_count(f->b) == N_PARTS &&
	       synod_broker_topic_count(f->b) == 1;
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof *f);
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof ss;
	struct synod_broker_config cfg = {0};
	struct synod_broker_callbacks cbs = {0};
	if (f == NULL)
		return -1;
	for (int i = 0; i < N_PARTS; i++)
		f->leader[i] = 1;
	f->version = 10;
	uv_loop_init(&f->loop);
	conn_flusher_init(&f->flusher, &f->loop);
	uv_tcp_init(&f->loop, &f->listener);
	f->listener.data = f;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	if (uv_tcp_bind(&f->listener, (struct sockaddr *)&sa, 0) != 0 ||
	    uv_listen((uv_stream_t *)&f->listener, 16, on_connection) != 0 ||
	    uv_tcp_getsockname(&f->listener, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d",
		 ntohs(((struct sockaddr_in *)&ss)->sin_port));
	cfg.bootstrap = f->addr;
	cfg.cluster_id = CLUSTER;
	cfg.broker_id = 1;
	cfg.other_brokers = 1;
	cbs.arg = f;
	cbs.metadata = on_metadata;
	if (synod_broker_new(&f->loop, &cfg, &cbs, &f->b) != SYNOD_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	int rv = 0;
	if (f->b)
		synod_broker_close(f->b);
	for (struct fconn *fc = f->conns; fc; fc = fc->next)
		conn_close(&fc->conn);
	uv_close((uv_handle_t *)&f->listener, NULL);
	conn_flusher_close(&f->flusher);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&f->loop) != 0) {
		fprintf(stderr, "teardown: handles left on the loop\n");
		rv = -1;
	}
	if (f->ds.order_violations) {
		fprintf(stderr, "deltas out of order: %d\n",
			f->ds.order_violations);
		rv = -1;
	}
	free(f);
	return rv;
}

/* ---- tests ---- */

static void test_fetch_push_gap(void **state)
{
	struct fake *f = *state;
	struct synod_broker_stats st;
	uint64_t v;
	f->fetch_mode = FETCH_HOLD;
	assert_int_equal(synod_broker_start(f->b), SYNOD_OK);
	WAIT_FOR(f, f->held);
	/* Registered, fetch held: fenced, reporting nothing applied. */
	assert_int_equal(f->last_since, 0);
	WAIT_FOR(f, f->heartbeats >= 1);
	assert_int_equal(synod_broker_state(f->b), SYNOD_BROKER_FENCED);
	assert_int_equal(f->last_reported, 0);
	/* Pushes while the fetch is in flight are ignored. */
	change(f, 0, 2, 1, 0);
	change(f, 1, 3, 2, 0);
	itest_pump(&f->loop, 50);
	synod_broker_stats(f->b, &st);
	assert_int_equal(st.pushes, 2);
	assert_int_equal(st.pushes_ignored, 2);
	assert_int_equal(st.pushes_applied, 0);
	assert_int_equal(synod_broker_metadata_version(f->b), 0);
	/* The answer carries them; the broker reports it caught up at once
	 * (the interval is 200 ms, but it does not wait for it). */
	release_fetch(f);
	WAIT_FOR(f, synod_broker_metadata_version(f->b) == f->version);
	assert_true(view_matches(f));
	assert_int_equal(f->ds.fulls, 1);
	WAIT_FOR(f, synod_broker_state(f->b) == SYNOD_BROKER_ACTIVE);
	assert_int_equal(f->last_reported, f->version);
	/* Pushes continue from the fetched version, skipping versions. */
	change(f, 2, 4, 3, 0);
	WAIT_FOR(f, leader_is(f, 2, 4));
	assert_int_equal(synod_broker_metadata_version(f->b), f->version);
	/* A stale push (already have it) changes nothing. */
	v = f->version;
	{
		Synod__Wire__MetadataDelta d =
		    SYNOD__WIRE__METADATA_DELTA__INIT;
		d.prev_version = v - 3;
		d.version = v;
		push_delta(f, &d);
	}
	itest_pump(&f->loop, 30);
	synod_broker_stats(f->b, &st);
	assert_int_equal(st.pushes_ignored, 3);
	assert_int_equal(st.gaps, 0);
	/* A lost push: the next one shows a gap; the fetch since the
	 * applied version repairs it. */
	change(f, 3, 5, 1, 1);
	change(f, 0, 6, 1, 0);
	WAIT_FOR(f, view_matches(f) &&
			synod_broker_metadata_version(f->b) == f->version);
	synod_broker_stats(f->b, &st);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.fetches, 2);
	assert_int_equal(f->last_since, v);
	assert_int_equal(st.full_images, 1);
	/* Garbage, and a delta from 0: gaps too. */
	v = st.fetches;
	push_raw(f, (const uint8_t *)"\xff\xff\xff\xff", 4);
	WAIT_FOR(f, f->fetches == v + 1 &&
			synod_broker_metadata_version(f->b) == f->version);
	change(f, 1, 7, 1, 0); /* continues from the fetch */
	WAIT_FOR(f, leader_is(f, 1, 7));
	{
		Synod__Wire__MetadataDelta d =
		    SYNOD__WIRE__METADATA_DELTA__INIT;
		d.prev_version = 0;
		d.version = ++f->version;
		f->push_version = f->version;
		push_delta(f, &d);
	}
	WAIT_FOR(f, f->fetches == v + 2 &&
			synod_broker_metadata_version(f->b) == f->version);
	synod_broker_stats(f->b, &st);
	assert_int_equal(st.gaps, 3);
	assert_true(view_matches(f));
	/* Heartbeats report the applied version. */
	WAIT_FOR(f, f->last_reported == f->version);
}

/* A fetch refused as STALE_BROKER_EPOCH: register again, then fetch since
 * the applied version (the view is kept). */
static void test_fetch_stale_epoch(void **state)
{
	struct fake *f = *state;
	struct synod_broker_stats st;
	uint64_t applied, old_epoch;
	assert_int_equal(synod_broker_start(f->b), SYNOD_OK);
	WAIT_FOR(f, synod_broker_state(f->b) == SYNOD_BROKER_ACTIVE);
	applied = synod_broker_metadata_version(f->b);
	old_epoch = synod_broker_epoch(f->b);
	assert_true(applied >= old_epoch);
	f->fetch_mode = FETCH_STALE;
	change(f, 0, 9, 1, 1); /* lost */
	change(f, 1, 9, 1, 0); /* gap: fetch, refused */
	WAIT_FOR(f, f->registrations == 2 &&
			synod_broker_state(f->b) == SYNOD_BROKER_ACTIVE);
	assert_true(synod_broker_epoch(f->b) > old_epoch);
	WAIT_FOR(f, view_matches(f) &&
			synod_broker_metadata_version(f->b) == f->version);
	synod_broker_stats(f->b, &st);
	assert_int_equal(st.full_images, 1);
	assert_int_equal(f->last_since, applied);
	assert_true(st.fetches_failed >= 1);
}

/* A controller without METADATA_FETCH. Invariant: a broker never reports
 * a version its view does not hold, so such a controller leaves it fenced;
 * it probes METADATA_FETCH again on every new connection (a rolling
 * upgrade moves the active controller), not on every heartbeat. */
static void test_old_controller(void **state)
{
	struct fake *f = *state;
	f->fetch_mode = FETCH_UNSUPPORTED;
	assert_int_equal(synod_broker_start(f->b), SYNOD_OK);
	WAIT_FOR(f, f->heartbeats >= 3);
	assert_int_equal(synod_broker_state(f->b), SYNOD_BROKER_FENCED);
	assert_int_equal(synod_broker_metadata_version(f->b), 0);
	assert_int_equal(f->last_reported, 0);
	assert_int_equal(f->fetches, 1);
	itest_pump(&f->loop, 500);
	assert_int_equal(f->fetches, 1);
	/* A new connection (the node restarted, upgraded): probed again,
	 * and answered this time. */
	f->fetch_mode = FETCH_ANSWER;
	conn_close(&f->last->conn);
	WAIT_FOR(f, synod_broker_state(f->b) == SYNOD_BROKER_ACTIVE);
	assert_int_equal(f->fetches, 2);
	assert_int_equal(f->last_reported, f->version);
	assert_true(view_matches(f));
}

/* The fake's state changes: partition i gets a new leader, broker id is
 * fenced or unfenced; each is a version, and nothing is pushed. */
static void move(struct fake *f, int i, int32_t leader)
{
	f->leader[i] = leader;
	f->pepoch[i]++;
	f->pver[i] = ++f->version;
}

static void set_fenced(struct fake *f, int32_t id, int fenced)
{
	f->bfenced[id] = fenced;
	++f->version;
}

/* As a controller does it: broker id's new state pushed to the broker
 * (it asked for other brokers), unless `lose`. */
static void push_fenced(struct fake *f, int32_t id, int fenced, int lose)
{
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__BrokerState bs, *bp = &bs;
	set_fenced(f, id, fenced);
	synod__wire__broker_state__init(&bs);
	bs.id = id;
	bs.epoch = 1;
	bs.fenced = fenced;
	d.prev_version = f->push_version;
	d.version = f->version;
	d.n_brokers = 1;
	d.brokers = &bp;
	f->push_version = f->version;
	if (!lose)
		push_delta(f, &d);
}

/* Before page 1 of the paged answer: broker 4 is unfenced and made the
 * leader of partition 1 (both after the first page's version), pushed
 * (the second one lost when f->lose_between), and the library has applied
 * nothing of the answer yet. */
static void between_pages(struct fake *f, int32_t partition)
{
	if (partition != 1)
		return;
	assert_int_equal(synod_broker_metadata_version(f->b), f->before_pages);
	assert_true(leader_is(f, 1, 2) && leader_is(f, 3, 2));
	push_fenced(f, 4, 0, 0);
	change(f, 1, 4, 1, f->lose_between);
}

/* Broker 2 gives up its leaderships and is fenced, broker 4 is fenced
 * (nothing pushed); a gap then makes the library fetch since its version,
 * in pages (one partition a page) that the fake reads while it unfences
 * broker 4 and makes it a leader (between_pages). */
static void paged_fetch_across_changes(struct fake *f)
{
	for (int i = 0; i < N_PARTS; i++)
		move(f, i, 3);
	set_fenced(f, 2, 1);
	f->fetch_mode = FETCH_PAGED;
	f->between = between_pages;
	f->deltas = 0;
	f->fetches = 0;
	f->before_pages = synod_broker_metadata_version(f->b);
	push_raw(f, (const uint8_t *)"\xff\xff\xff\xff", 4); /* a gap */
	WAIT_FOR(f, synod_broker_metadata_version(f->b) == f->version);
	assert_int_equal(f->deltas, 1); /* reported once */
	assert_int_equal(f->mixed, 0);
	assert_true(view_matches(f));
	for (int32_t id = 1; id <= N_BROKERS; id++) {
		Synod__Wire__BrokerState bs;
		assert_int_equal(synod_broker_find_broker(f->b, id, &bs),
				 SYNOD_OK);
		assert_int_equal(bs.fenced, f->bfenced[id]);
	}
	f->fetch_mode = FETCH_ANSWER;
	f->between = NULL;
}

/* Answers in pages read while the state changes. Invariant: every view
 * the library reports (and shows) is one the controller held at one
 * version: no partition led by a broker the view lists as fenced. Before
 * staging, the view after the answer's first page listed broker 2 fenced
 * while partitions 1-3 still had it as leader, and after the last page
 * listed broker 4 fenced (from the first page) while partition 1 (a later
 * page) had it as leader. */
static void test_paged_answer_staged(void **state)
{
	struct fake *f = *state;
	struct synod_broker_stats st;
	uint64_t v0;
	f->check_leaders = 1;
	for (int i = 0; i < N_PARTS; i++)
		f->leader[i] = 2;
	f->bfenced[4] = 1;
	assert_int_equal(synod_broker_start(f->b), SYNOD_OK);
	WAIT_FOR(f, synod_broker_state(f->b) == SYNOD_BROKER_ACTIVE &&
			view_matches(f));
	/* The pushes made between the pages all arrive: held, and applied
	 * after the pages, they complete them; no fetch after the answer. */
	v0 = f->version;
	paged_fetch_across_changes(f);
	assert_int_equal(f->fetches, N_PARTS);
	assert_int_equal(f->last_since, v0);
	synod_broker_stats(f->b, &st);
	assert_int_equal(st.fetch_pages, N_PARTS - 1);
	assert_int_equal(st.staged_commits, 1);
	/* The same with the last push lost (the controller's cursor is past
	 * what the library holds): a fetch since the answer's version, one
	 * page, completes it. */
	for (int i = 0; i < N_PARTS; i++)
		move(f, i, 2);
	set_fenced(f, 2, 0);
	set_fenced(f, 4, 1);
	push_raw(f, (const uint8_t *)"\xff\xff\xff\xff", 4); /* one page */
	WAIT_FOR(f, view_matches(f) &&
			synod_broker_metadata_version(f->b) == f->version);
	f->lose_between = 1;
	v0 = f->version;
	paged_fetch_across_changes(f);
	assert_int_equal(f->fetches, N_PARTS + 1);
	assert_int_equal(f->last_since, v0 + 5); /* the answer's version */
	synod_broker_stats(f->b, &st);
	assert_int_equal(st.staged_commits, 2);
	/* Pushes continue from there. */
	change(f, 0, 4, 1, 0);
	WAIT_FOR(f, leader_is(f, 0, 4));
	assert_int_equal(f->mixed, 0);
	/* An answer in pages read at one version (nothing changed between
	 * its pages) is applied at once, without a fetch after it. */
	v0 = f->version;
	move(f, 2, 4);
	move(f, 3, 4);
	f->fetch_mode = FETCH_PAGED;
	f->fetches = 0;
	push_raw(f, (const uint8_t *)"\xff\xff\xff\xff", 4);
	WAIT_FOR(f, synod_broker_metadata_version(f->b) == f->version);
	assert_int_equal(f->fetches, 2);
	assert_int_equal(f->last_since, v0);
	synod_broker_stats(f->b, &st);
	assert_int_equal(st.staged_commits, 3);
	assert_true(view_matches(f));
	assert_int_equal(f->mixed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fetch_push_gap, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_fetch_stale_epoch, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_paged_answer_staged, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_old_controller, setup,
					    teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
