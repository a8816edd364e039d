/* tests/integration/test_broker_lib.c - the broker and client libraries
 * (synod/broker.h, synod/client.h) against scripted fake controllers
 * (fakectl.h), for the promises of issue 15:
 * - self-fencing after a session timeout without an acknowledged
 *   heartbeat, counted from the send time of the last acknowledged one;
 * - no silent staleness: a hidden redirect, a pushed_version above the
 *   view, a push lost in a reset connection all make the broker fetch;
 * - legacy mode (no METADATA_FETCH) reports only what the view holds and
 *   is probed again on a new controller;
 * - client liveness counts bytes, not frames, and also requests that
 *   timed out unanswered (a broker leaves a silent controller even with
 *   a request timeout below the liveness timeout); oversized frames fail the
 *   request (not a resend loop);
 * - NOT_CONTROLLER redirects are bounded (limit, backoff), do not drop
 *   the other answers of the connection, and do not keep the client on
 *   that node when an answer due there times out;
 * - every connection attempt has a deadline (also after a slow name
 *   lookup); failing all pending requests ends even when callbacks retry;
 * - closing clients and brokers from their own callbacks (own loop and
 *   caller's loop) is safe (run this binary under ASan too);
 * - full images never take the view back unless `restored`;
 * - leadership transitions in version order;
 * - DUPLICATE_BROKER_REGISTRATION retried for a session timeout by
 *   default;
 * - broker-initiated fencing (want_fence on every heartbeat).
 * Everything runs on one libuv loop shared by the fakes and the library
 * under test, except where a client or broker has its own loop: then the
 * fake runs on a loop of its own in a helper thread (struct tfake). Every
 * wait is bounded; durations are only checked from below, or with
 * generous upper bounds.
 */
#include <dlfcn.h>
#include <netdb.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakectl.h"
#include "synod/broker.h"

#define WAIT_MS 5000
#define CLUSTER "broker-lib-test-cluster"
#define BROKER_ID 7
#define EPOCH 5
#define HB_MS 50
#define SESSION_MS 600
#define BROKER_TIMEOUT_MS 300 /* below the session: no client switch */
#define MS 1000000ull	      /* nanoseconds */

static const uint8_t topic_id[16] = {1, 2,  3,	4,  5,	6,  7,	8,
				     9, 10, 11, 12, 13, 14, 15, 16};

/* ---- a fake controller in a thread (for clients and brokers with their
 * own loop, which the test cannot share) ---- */

struct tfake {
	uv_thread_t thread;
	uv_loop_t loop;
	uv_async_t stop;
	uv_sem_t ready;
	struct fakectl *f;
	fakectl_request_cb cb;
	void *arg;
	char address[64];
	int rv;
	int running;
	/* Snapshots taken when stopped. */
	uint64_t accepts;
	uint64_t requests_total;
};

static void tf_on_stop(uv_async_t *a)
{
	struct tfake *tf = a->data;
	tf->accepts = fakectl_accepts(tf->f);
	tf->requests_total = fakectl_requests_total(tf->f);
	fakectl_free(tf->f);
	tf->f = NULL;
	uv_close((uv_handle_t *)a, NULL);
}

static void tf_main(void *arg)
{
	struct tfake *tf = arg;
	tf->rv = uv_loop_init(&tf->loop);
	if (tf->rv != 0) {
		uv_sem_post(&tf->ready);
		return;
	}
	tf->rv = fakectl_start(&tf->loop, CLUSTER, &tf->f);
	if (tf->rv == 0) {
		fakectl_on_request(tf->f, tf->cb, tf->arg);
		snprintf(tf->address, sizeof tf->address, "%s",
			 fakectl_address(tf->f));
		tf->stop.data = tf;
		tf->rv = uv_async_init(&tf->loop, &tf->stop, tf_on_stop);
		if (tf->rv != 0)
			fakectl_free(tf->f);
	}
	uv_sem_post(&tf->ready);
	if (tf->rv == 0)
		uv_run(&tf->loop, UV_RUN_DEFAULT);
	fakectl_drain(&tf->loop, WAIT_MS);
	uv_loop_close(&tf->loop);
}

/* Start the fake; its handler runs on the helper thread (no cmocka
 * asserts in it). 0 or an error. */
static int tfake_start(struct tfake *tf, fakectl_request_cb cb, void *arg)
{
	memset(tf, 0, sizeof *tf);
	tf->cb = cb;
	tf->arg = arg;
	if (uv_sem_init(&tf->ready, 0) != 0)
		return -1;
	if (uv_thread_create(&tf->thread, tf_main, tf) != 0) {
		uv_sem_destroy(&tf->ready);
		return -1;
	}
	uv_sem_wait(&tf->ready);
	tf->running = 1;
	if (tf->rv != 0) {
		uv_thread_join(&tf->thread);
		uv_sem_destroy(&tf->ready);
		tf->running = 0;
		return tf->rv;
	}
	return 0;
}

/* Stop and join; afterwards the handler's state may be read. */
static void tfake_stop(struct tfake *tf)
{
	if (tf == NULL || !tf->running)
		return;
	uv_async_send(&tf->stop);
	uv_thread_join(&tf->thread);
	uv_sem_destroy(&tf->ready);
	tf->running = 0;
}

/* ---- fixture ---- */

struct late;

#define MAX_KEEP 32

struct t {
	uv_loop_t loop;
	struct fakectl *a, *b;
	struct synod_client *c;
	struct synod_broker *br;
	struct tfake *tf;
	uv_timer_t timer;
	int timer_init;
	int finished;
	/* State that handlers and callbacks point to lives here, not on
	 * the test function's stack: a failed assert longjmps out of the
	 * test, and teardown still runs the loop (CANCELED callbacks, the
	 * helper thread until it is joined). Freed after teardown's
	 * drain. */
	void *kept[MAX_KEEP];
	unsigned n_kept;
	struct late *lates; /* delayed heartbeat answers not sent yet */
};

/* Zeroed memory that lives until teardown. */
static void *keep(struct t *t, size_t size)
{
	void *p;
	assert_true(t->n_kept < MAX_KEEP);
	p = calloc(1, size);
	assert_non_null(p);
	t->kept[t->n_kept++] = p;
	return p;
}

static void close_lates(struct t *t);

#define WAIT_FOR_MS(f, ms, cond)                                               \
	do {                                                                   \
		int ok_;                                                       \
		FAKECTL_WAIT_FOR((f), (ms), (cond), ok_);                      \
		if (!ok_)                                                      \
			fail_msg("timed out (%u ms) waiting for %s",           \
				 (unsigned)(ms), #cond);                       \
	} while (0)
#define WAIT_FOR(f, cond) WAIT_FOR_MS(f, WAIT_MS, cond)

/* Let the loop run for ms milliseconds. */
static void run_for(struct t *t, unsigned ms)
{
	uint64_t dl = fakectl_now_ms() + ms;
	while (fakectl_step(t->a, dl) == 0)
		;
}

static int finish(struct t *t)
{
	int rv;
	if (t->finished)
		return 0;
	t->finished = 1;
	tfake_stop(t->tf);
	t->tf = NULL;
	close_lates(t);
	if (t->br)
		synod_broker_close(t->br);
	if (t->c)
		synod_client_close(t->c);
	if (t->timer_init)
		uv_close((uv_handle_t *)&t->timer, NULL);
	fakectl_free(t->a);
	fakectl_free(t->b);
	t->br = NULL;
	t->c = NULL;
	t->a = t->b = NULL;
	rv = fakectl_drain(&t->loop, WAIT_MS);
	if (rv != 0)
		return rv;
	return uv_loop_close(&t->loop);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof *t);
	if (t == NULL || uv_loop_init(&t->loop) != 0)
		return -1;
	if (fakectl_start(&t->loop, CLUSTER, &t->a) != 0)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	int rv = finish(t);
	for (unsigned i = 0; i < t->n_kept; i++)
		free(t->kept[i]);
	free(t);
	return rv == 0 ? 0 : -1;
}

/* ---- the scripted controller of the broker tests ----
 *
 * Answers BROKER_REGISTER (epoch, interval, session), BROKER_HEARTBEAT
 * (is_fenced as a controller decides it: the reported version below
 * unfence_at, or want_fence when fence_on_want) and METADATA_FETCH (a full
 * image of the current state), or redirects all three to another node.
 * No cmocka asserts: it also runs on the helper thread; what it saw is
 * recorded and checked by the test. */

enum { FETCH_FULL = 0, FETCH_UNSUPPORTED, FETCH_SILENT };
enum { HB_OK = 0, HB_SILENT };

#define MAX_HB_LOG 1024

struct ctl {
	char redirect[64]; /* set: NOT_CONTROLLER with this hint */
	uint64_t epoch;
	unsigned hb_ms, session_ms;
	uint64_t version; /* the controller's metadata version */
	int with_topic;	  /* images hold topic "orders" */
	int has_part;	  /* images hold partition orders-0 */
	Synod__Wire__PartitionState part;
	int32_t replicas[3], isr[3];
	int restored; /* images carry `restored` */
	int fetch_mode;
	int hb_mode;
	int dup_register;      /* refuse: DUPLICATE_BROKER_REGISTRATION */
	int dup_unheard;       /* ... saying other_heard false */
	uint64_t dup_until_ms; /* ... until then (0: always) */
	int stop_after_next;   /* answer one more heartbeat, then HB_SILENT */
	uint64_t stop_ns;      /* when that last answered one was handled */
	int send_pushed;       /* heartbeat answers carry pushed_version */
	uint64_t pushed_version;
	uint64_t unfence_at; /* is_fenced while reported version < this */
	int fence_on_want;   /* is_fenced while want_fence */
	/* Heartbeat answers hb_delay_ms after the request (test's loop
	 * only: timers on `loop`); late_pending: not sent yet. */
	uv_loop_t *loop;
	struct fakectl *f;
	unsigned hb_delay_ms;
	unsigned late_pending;
	struct late **lates; /* &t->lates */
	/* What it saw. */
	uint64_t registers, heartbeats, heartbeats_answered, fetches;
	uint64_t redirected;
	uint64_t first_register_ms;
	uint64_t max_reported, last_reported;
	uint64_t last_since;	      /* since_version of the last fetch */
	uint64_t bad;		      /* undecodable or foreign requests */
	unsigned char wf[MAX_HB_LOG]; /* want_fence of each heartbeat */
	uint64_t wf_ms[MAX_HB_LOG];   /* and when it arrived */
	unsigned n_wf;
};

static void ctl_init(struct ctl *s, uint64_t version)
{
	memset(s, 0, sizeof *s);
	s->epoch = EPOCH;
	s->hb_ms = HB_MS;
	s->session_ms = SESSION_MS;
	s->version = version;
	s->unfence_at = EPOCH;
}

/* Partition orders-0 with replicas 7, 2, 3. */
static void ctl_set_part(struct ctl *s, int32_t leader, uint32_t leader_epoch,
			 uint32_t partition_epoch, const int32_t *isr,
			 size_t n_isr)
{
	static const int32_t replicas[3] = {BROKER_ID, 2, 3};
	synod__wire__partition_state__init(&s->part);
	memcpy(s->replicas, replicas, sizeof replicas);
	memcpy(s->isr, isr, n_isr * sizeof *isr);
	s->part.topic = "orders";
	s->part.topic_id.data = (uint8_t *)topic_id;
	s->part.topic_id.len = sizeof topic_id;
	s->part.partition = 0;
	s->part.leader = leader;
	s->part.leader_epoch = leader_epoch;
	s->part.partition_epoch = partition_epoch;
	s->part.n_replicas = 3;
	s->part.replicas = s->replicas;
	s->part.n_isr = n_isr;
	s->part.isr = s->isr;
	s->has_part = 1;
}

static void init_topic(Synod__Wire__TopicState *topic)
{
	synod__wire__topic_state__init(topic);
	topic->name = "orders";
	topic->topic_id.data = (uint8_t *)topic_id;
	topic->topic_id.len = sizeof topic_id;
	topic->partitions = 1;
}

static void ctl_register(struct ctl *s, struct fakectl_conn *fc,
			 const struct frame_header *h, const uint8_t *body,
			 size_t len)
{
	Synod__Wire__BrokerRegisterRequest *q =
	    synod__wire__broker_register_request__unpack(NULL, len, body);
	Synod__Wire__BrokerRegisterResponse r =
	    SYNOD__WIRE__BROKER_REGISTER_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	if (q == NULL) {
		s->bad++;
		fakectl_reply_status(fc, h, SYNOD_EINVALID_REQUEST, NULL);
		return;
	}
	if (q->broker_id != BROKER_ID || strcmp(q->cluster_id, CLUSTER) != 0)
		s->bad++;
	synod__wire__broker_register_request__free_unpacked(q, NULL);
	s->registers++;
	if (s->first_register_ms == 0)
		s->first_register_ms = fakectl_now_ms();
	r.status = &st;
	r.has_session_timeout_ms = 1;
	r.session_timeout_ms = s->session_ms;
	if (s->dup_register &&
	    (s->dup_until_ms == 0 || fakectl_now_ms() < s->dup_until_ms)) {
		st.code = SYNOD_EDUPLICATE_BROKER_REGISTRATION;
		st.message = "broker 7 is registered by a live incarnation";
		if (s->dup_unheard) {
			r.has_other_heard = 1;
			r.other_heard = 0;
		}
		fakectl_reply(fc, h, &r.base);
		return;
	}
	r.has_broker_epoch = 1;
	r.broker_epoch = s->epoch;
	r.has_heartbeat_interval_ms = 1;
	r.heartbeat_interval_ms = s->hb_ms;
	fakectl_reply(fc, h, &r.base);
}

struct late {
	struct late *next, *prev;
	uv_timer_t timer;
	struct ctl *s;
	uint64_t conn;
	struct frame_header h;
	int is_fenced;
};

static void free_late(uv_handle_t *h)
{
	free(h->data);
}

static void late_unlink(struct late **head, struct late *l)
{
	if (l->prev)
		l->prev->next = l->next;
	else
		*head = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->next = l->prev = NULL;
}

/* Teardown: drop the answers not sent yet (before the fakes go). */
static void close_lates(struct t *t)
{
	while (t->lates) {
		struct late *l = t->lates;
		late_unlink(&t->lates, l);
		uv_timer_stop(&l->timer);
		uv_close((uv_handle_t *)&l->timer, free_late);
	}
}

static void on_late(uv_timer_t *tm)
{
	struct late *l = tm->data;
	struct ctl *s = l->s;
	Synod__Wire__BrokerHeartbeatResponse r =
	    SYNOD__WIRE__BROKER_HEARTBEAT_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	r.status = &st;
	r.has_is_fenced = 1;
	r.is_fenced = l->is_fenced;
	r.has_metadata_version = 1;
	r.metadata_version = s->version;
	if (fakectl_reply(fakectl_conn_find(s->f, l->conn), &l->h, &r.base) ==
	    0)
		s->heartbeats_answered++;
	s->late_pending--;
	late_unlink(s->lates, l);
	uv_close((uv_handle_t *)tm, free_late);
}

static void ctl_heartbeat(struct ctl *s, struct fakectl_conn *fc,
			  const struct frame_header *h, const uint8_t *body,
			  size_t len)
{
	Synod__Wire__BrokerHeartbeatRequest *q =
	    synod__wire__broker_heartbeat_request__unpack(NULL, len, body);
	Synod__Wire__BrokerHeartbeatResponse r =
	    SYNOD__WIRE__BROKER_HEARTBEAT_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	int want_fence;
	uint64_t reported;
	if (q == NULL) {
		s->bad++;
		fakectl_reply_status(fc, h, SYNOD_EINVALID_REQUEST, NULL);
		return;
	}
	if (q->broker_id != BROKER_ID || q->broker_epoch != s->epoch)
		s->bad++;
	reported = q->metadata_version;
	want_fence = q->has_want_fence && q->want_fence;
	synod__wire__broker_heartbeat_request__free_unpacked(q, NULL);
	s->heartbeats++;
	s->last_reported = reported;
	if (reported > s->max_reported)
		s->max_reported = reported;
	if (s->n_wf < MAX_HB_LOG) {
		s->wf_ms[s->n_wf] = fakectl_now_ms();
		s->wf[s->n_wf++] = (unsigned char)want_fence;
	}
	if (s->hb_mode == HB_SILENT)
		return;
	r.status = &st;
	r.has_is_fenced = 1;
	r.is_fenced =
	    reported < s->unfence_at || (s->fence_on_want && want_fence);
	if (s->hb_delay_ms > 0 && s->loop != NULL && s->lates != NULL) {
		struct late *l = calloc(1, sizeof *l);
		if (l == NULL) {
			s->bad++;
			return;
		}
		l->s = s;
		l->conn = fakectl_conn_id(fc);
		l->h = *h;
		l->is_fenced = r.is_fenced;
		l->timer.data = l;
		uv_timer_init(s->loop, &l->timer);
		/* Varied by a few ms: whatever the phase of the client's
		 * 20 ms deadline tick, some answers fall between a
		 * deadline and the tick that would expire it. */
		uv_timer_start(
		    &l->timer, on_late,
		    s->hb_delay_ms + (unsigned)(s->heartbeats * 7 % 18), 0);
		s->late_pending++;
		l->next = *s->lates;
		if (l->next)
			l->next->prev = l;
		*s->lates = l;
		return;
	}
	r.has_metadata_version = 1;
	r.metadata_version = s->version;
	if (s->send_pushed) {
		r.has_pushed_version = 1;
		r.pushed_version = s->pushed_version;
	}
	fakectl_reply(fc, h, &r.base);
	s->heartbeats_answered++;
	if (s->stop_after_next) {
		s->stop_after_next = 0;
		s->hb_mode = HB_SILENT;
		s->stop_ns = uv_hrtime();
	}
}

static void ctl_fetch(struct ctl *s, struct fakectl_conn *fc,
		      const struct frame_header *h, const uint8_t *body,
		      size_t len)
{
	Synod__Wire__MetadataFetchRequest *q =
	    synod__wire__metadata_fetch_request__unpack(NULL, len, body);
	Synod__Wire__MetadataFetchResponse r =
	    SYNOD__WIRE__METADATA_FETCH_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__TopicState topic;
	Synod__Wire__TopicState *tp[1] = {&topic};
	Synod__Wire__PartitionState *pp[1] = {&s->part};
	if (q == NULL) {
		s->bad++;
		fakectl_reply_status(fc, h, SYNOD_EINVALID_REQUEST, NULL);
		return;
	}
	if (q->broker_id != BROKER_ID || q->broker_epoch != s->epoch)
		s->bad++;
	s->last_since = q->since_version;
	synod__wire__metadata_fetch_request__free_unpacked(q, NULL);
	s->fetches++;
	if (s->fetch_mode == FETCH_UNSUPPORTED) {
		fakectl_reply_status(fc, h, SYNOD_EUNSUPPORTED_API, NULL);
		return;
	}
	if (s->fetch_mode == FETCH_SILENT)
		return;
	init_topic(&topic);
	d.prev_version = 0;
	d.version = s->version;
	d.has_full = 1;
	d.full = 1;
	if (s->restored) {
		d.has_restored = 1;
		d.restored = 1;
	}
	if (s->with_topic) {
		d.n_topics = 1;
		d.topics = tp;
	}
	if (s->has_part) {
		d.n_partitions = 1;
		d.partitions = pp;
	}
	r.status = &st;
	r.delta = &d;
	fakectl_reply(fc, h, &r.base);
}

static int ctl_handle(void *arg, struct fakectl_conn *fc,
		      const struct frame_header *h, const uint8_t *body,
		      size_t len)
{
	struct ctl *s = arg;
	if (h->api != SYNOD_API_BROKER_REGISTER &&
	    h->api != SYNOD_API_BROKER_HEARTBEAT &&
	    h->api != SYNOD_API_METADATA_FETCH)
		return FAKECTL_DEFAULT;
	if (s->redirect[0]) {
		s->redirected++;
		fakectl_reply_status(fc, h, SYNOD_ENOT_CONTROLLER, s->redirect);
		return FAKECTL_HANDLED;
	}
	if (h->api == SYNOD_API_BROKER_REGISTER)
		ctl_register(s, fc, h, body, len);
	else if (h->api == SYNOD_API_BROKER_HEARTBEAT)
		ctl_heartbeat(s, fc, h, body, len);
	else
		ctl_fetch(s, fc, h, body, len);
	return FAKECTL_HANDLED;
}

/* A push on the fake's newest connection: prev..version, with the fake's
 * partition as an upsert (part) or as removed (removed). */
static int push_delta(struct fakectl *f, struct ctl *s, uint64_t prev,
		      uint64_t version, int topic, int part, int removed)
{
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	Synod__Wire__TopicState ts;
	Synod__Wire__TopicState *tp[1] = {&ts};
	Synod__Wire__PartitionState *pp[1] = {&s->part};
	init_topic(&ts);
	d.prev_version = prev;
	d.version = version;
	if (topic) {
		d.n_topics = 1;
		d.topics = tp;
	}
	if (part) {
		d.n_partitions = 1;
		d.partitions = pp;
	}
	if (removed) {
		d.n_removed = 1;
		d.removed = pp;
	}
	return fakectl_push(fakectl_last_conn(f), SYNOD_API_METADATA_PUSH,
			    &d.base);
}

/* ---- the broker under test and what its callbacks saw ---- */

enum {
	CLOSE_NEVER = 0,
	CLOSE_ON_STATE,	     /* state_changed to close_state */
	CLOSE_ON_SELF_FENCE, /* state_changed ACTIVE -> FENCED */
	CLOSE_ON_METADATA,   /* metadata with version >= close_version */
	CLOSE_ON_TRANSITIONS,
};

struct rec_trans {
	uint64_t version;
	int32_t partition;
	int old_role, new_role;
	int32_t leader;
	uint32_t leader_epoch, partition_epoch;
	int id_ok, name_ok;
};

struct bobs {
	enum synod_broker_state states[64];
	unsigned n_states;
	/* The first ACTIVE -> FENCED. */
	uint64_t fence_ns, fence_ack_ns;
	int fence_self, fence_fenced;
	/* metadata callback */
	uint64_t versions[256];
	int full[256], restored[256];
	unsigned n_versions;
	unsigned went_back; /* version below the previous, not restored */
	/* transitions callback */
	struct rec_trans trans[64];
	unsigned n_trans;
	unsigned bad_trans; /* not sorted, or version not the view's */
	/* close from a callback */
	int close_on;
	enum synod_broker_state close_state;
	uint64_t close_version;
	int closed;
	unsigned after_close; /* callbacks after close: must stay 0 */
	/* state_changed to ACTIVE while fenced() or self_fenced() said 1 */
	unsigned active_but_fenced;
	int viol_fenced, viol_self; /* at the first one */
	int64_t viol_ack_age_ms;    /* now - last_ack_ns */
	uint64_t viol_self_fences;
};

static void maybe_close(struct bobs *o, struct synod_broker *b, int where)
{
	if (o->close_on == where && !o->closed) {
		o->closed = 1;
		synod_broker_close(b);
	}
}

static void on_state(void *arg, struct synod_broker *b,
		     enum synod_broker_state old_state,
		     enum synod_broker_state new_state)
{
	struct bobs *o = arg;
	if (o->closed) {
		o->after_close++;
		return;
	}
	if (o->n_states < sizeof o->states / sizeof o->states[0])
		o->states[o->n_states++] = new_state;
	if (old_state == SYNOD_BROKER_ACTIVE &&
	    new_state == SYNOD_BROKER_FENCED && o->fence_ns == 0) {
		o->fence_ns = uv_hrtime();
		o->fence_ack_ns = synod_broker_last_ack_ns(b);
		o->fence_self = synod_broker_self_fenced(b);
		o->fence_fenced = synod_broker_fenced(b);
		maybe_close(o, b, CLOSE_ON_SELF_FENCE);
		return;
	}
	if (new_state == SYNOD_BROKER_ACTIVE &&
	    (synod_broker_fenced(b) || synod_broker_self_fenced(b)) &&
	    o->active_but_fenced++ == 0) {
		struct synod_broker_stats st;
		synod_broker_stats(b, &st);
		o->viol_fenced = synod_broker_fenced(b);
		o->viol_self = synod_broker_self_fenced(b);
		o->viol_ack_age_ms = ((int64_t)uv_hrtime() -
				      (int64_t)synod_broker_last_ack_ns(b)) /
				     (int64_t)MS;
		o->viol_self_fences = st.self_fences;
	}
	if (new_state == o->close_state)
		maybe_close(o, b, CLOSE_ON_STATE);
}

static void on_metadata(void *arg, struct synod_broker *b,
			const Synod__Wire__MetadataDelta *d)
{
	struct bobs *o = arg;
	int restored = d->has_restored && d->restored;
	if (o->closed) {
		o->after_close++;
		return;
	}
	if (o->n_versions > 0 && d->version < o->versions[o->n_versions - 1] &&
	    !restored)
		o->went_back++;
	if (o->n_versions < sizeof o->versions / sizeof o->versions[0]) {
		o->versions[o->n_versions] = d->version;
		o->full[o->n_versions] = d->has_full && d->full;
		o->restored[o->n_versions] = restored;
		o->n_versions++;
	}
	if (d->version >= o->close_version)
		maybe_close(o, b, CLOSE_ON_METADATA);
}

static void on_transitions(void *arg, struct synod_broker *b, uint64_t version,
			   const struct synod_transition *tr, size_t n)
{
	struct bobs *o = arg;
	if (o->closed) {
		o->after_close++;
		return;
	}
	if (version != synod_broker_metadata_version(b))
		o->bad_trans++;
	for (size_t i = 0; i < n; i++) {
		struct rec_trans *r;
		if (o->n_trans >= sizeof o->trans / sizeof o->trans[0])
			break;
		r = &o->trans[o->n_trans++];
		r->version = version;
		r->partition = tr[i].partition;
		r->old_role = tr[i].old_role;
		r->new_role = tr[i].new_role;
		r->leader = tr[i].leader;
		r->leader_epoch = tr[i].leader_epoch;
		r->partition_epoch = tr[i].partition_epoch;
		r->id_ok = tr[i].topic_id != NULL &&
			   memcmp(tr[i].topic_id, topic_id, 16) == 0;
		r->name_ok =
		    tr[i].topic != NULL && strcmp(tr[i].topic, "orders") == 0;
	}
	if (o->n_trans > 0 && version < o->trans[0].version)
		o->bad_trans++;
	maybe_close(o, b, CLOSE_ON_TRANSITIONS);
}

static const struct synod_endpoint endpoint = {"PLAINTEXT", "127.0.0.1", 9092,
					       "PLAINTEXT"};

static void broker_config(struct synod_broker_config *cfg,
			  const char *bootstrap)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->bootstrap = bootstrap;
	cfg->cluster_id = CLUSTER;
	cfg->broker_id = BROKER_ID;
	cfg->endpoints = &endpoint;
	cfg->n_endpoints = 1;
	cfg->request_timeout_ms = BROKER_TIMEOUT_MS;
}

static void broker_callbacks(struct synod_broker_callbacks *cbs, struct bobs *o)
{
	memset(cbs, 0, sizeof *cbs);
	cbs->arg = o;
	cbs->state_changed = on_state;
	cbs->metadata = on_metadata;
	cbs->transitions = on_transitions;
}

/* A started broker on the test's loop, as t->br. */
static void start_broker_cfg(struct t *t, struct bobs *o,
			     const struct synod_broker_config *cfg)
{
	struct synod_broker_callbacks cbs;
	broker_callbacks(&cbs, o);
	assert_int_equal(synod_broker_new(&t->loop, cfg, &cbs, &t->br),
			 SYNOD_OK);
	assert_int_equal(synod_broker_start(t->br), SYNOD_OK);
}

static void start_broker(struct t *t, struct bobs *o, const char *bootstrap)
{
	struct synod_broker_config cfg;
	broker_config(&cfg, bootstrap);
	start_broker_cfg(t, o, &cfg);
}

/* ACTIVE at `version`, and a few more heartbeats answered, so that the
 * fetches after the registration are over. */
static void wait_active(struct t *t, struct ctl *s, uint64_t version)
{
	uint64_t hb;
	WAIT_FOR(t->a, synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE &&
			   synod_broker_metadata_version(t->br) == version);
	hb = s->heartbeats_answered;
	WAIT_FOR(t->a, s->heartbeats_answered >= hb + 3);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_ACTIVE);
	assert_int_equal(s->bad, 0);
}

static void close_broker(struct t *t)
{
	synod_broker_close(t->br);
	t->br = NULL;
}

/* ==== 1: self-fencing ==== */

/* Invariant: a broker whose heartbeats are no longer acknowledged fences
 * itself (state, fenced(), self_fenced(), counter) once a session timeout
 * has passed since the SEND time of the last acknowledged heartbeat, so
 * never later than the controller (which counts from the arrival) and
 * never before; the next acknowledged heartbeat ends it. */
static void test_self_fence(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	struct synod_broker_stats st;
	uint64_t hb, ack_before;
	ctl_init(s, 5);
	fakectl_on_request(t->a, ctl_handle, s);
	start_broker(t, o, fakectl_address(t->a));
	wait_active(t, s, 5);
	assert_int_equal(synod_broker_session_timeout(t->br), SESSION_MS);
	assert_int_equal(synod_broker_heartbeat_interval(t->br), HB_MS);
	assert_int_equal(synod_broker_fenced(t->br), 0);
	assert_int_equal(synod_broker_self_fenced(t->br), 0);
	assert_true(synod_broker_last_ack_ns(t->br) != 0);
	assert_true(synod_broker_last_ack_ns(t->br) <= uv_hrtime());

	/* Answer one more heartbeat, then none. */
	s->stop_after_next = 1;
	WAIT_FOR(t->a, s->stop_ns != 0);
	ack_before = synod_broker_last_ack_ns(t->br);
	WAIT_FOR_MS(t->a, 5 * SESSION_MS, o->fence_ns != 0);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_FENCED);
	assert_int_equal(synod_broker_fenced(t->br), 1);
	assert_int_equal(synod_broker_self_fenced(t->br), 1);
	assert_int_equal(o->fence_self, 1);
	assert_int_equal(o->fence_fenced, 1);
	synod_broker_stats(t->br, &st);
	assert_int_equal(st.self_fences, 1);
	/* The acknowledged heartbeat was sent before the fake handled it. */
	assert_true(o->fence_ack_ns != 0);
	assert_true(o->fence_ack_ns <= s->stop_ns);
	assert_true(o->fence_ack_ns >= ack_before);
	/* Not before the session ended, counted from that send time ... */
	assert_true(o->fence_ns >= o->fence_ack_ns + SESSION_MS * MS);
	/* ... and not before the answers stopped plus the session, less
	 * the transit time of that heartbeat (an interval, generously). */
	assert_true(o->fence_ns + (HB_MS + 10) * MS >=
		    s->stop_ns + SESSION_MS * MS);
	/* It keeps heartbeating, and stays fenced while nobody answers. */
	hb = s->heartbeats;
	run_for(t, 300);
	assert_true(s->heartbeats > hb);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_FENCED);
	assert_int_equal(synod_broker_self_fenced(t->br), 1);

	/* Answers again: unfenced (the controller says so), no longer
	 * self-fenced. */
	s->hb_mode = HB_OK;
	WAIT_FOR(t->a, synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE);
	assert_int_equal(synod_broker_self_fenced(t->br), 0);
	assert_int_equal(synod_broker_fenced(t->br), 0);
	assert_true(synod_broker_last_ack_ns(t->br) > o->fence_ack_ns);
	synod_broker_stats(t->br, &st);
	assert_int_equal(st.self_fences, 1);
	assert_true(o->n_states >= 4);
	assert_int_equal(o->states[o->n_states - 2], SYNOD_BROKER_FENCED);
	assert_int_equal(o->states[o->n_states - 1], SYNOD_BROKER_ACTIVE);
	assert_int_equal(o->after_close, 0);
	assert_int_equal(finish(t), 0);
}

/* Invariant: fenced() looks at the clock, not only at the timer: a
 * process whose loop could not run (SIGSTOP, a VM freeze) past its
 * session end reports itself fenced at once, before any callback ran. */
static void test_self_fence_clock(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	uint64_t end;
	ctl_init(s, 5);
	fakectl_on_request(t->a, ctl_handle, s);
	start_broker(t, o, fakectl_address(t->a));
	wait_active(t, s, 5);
	end = synod_broker_last_ack_ns(t->br) + SESSION_MS * MS;
	/* The loop does not run: no heartbeat can be acknowledged. */
	while (uv_hrtime() < end + 20 * MS)
		uv_sleep(10);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_ACTIVE);
	assert_int_equal(synod_broker_fenced(t->br), 1);
	assert_int_equal(synod_broker_self_fenced(t->br), 1);
	/* Once the loop runs, the answers come back: active again. */
	WAIT_FOR(t->a, synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE &&
			   synod_broker_fenced(t->br) == 0);
	assert_int_equal(synod_broker_self_fenced(t->br), 0);
	assert_int_equal(finish(t), 0);
}

/* Invariant: the state never says ACTIVE while the library itself
 * considers the session over. An acknowledgement whose own lease has
 * already ended (the answer came later than a session timeout after the
 * heartbeat was sent) cannot unfence the broker: state_changed(ACTIVE)
 * always comes with synod_broker_fenced() == 0 and self_fenced() == 0.
 * Set up: a request timeout just below the session (so it is not
 * halved) and heartbeat answers delayed by the session plus 2-19 ms (varied, so
 * that the cycle length, hence the phase of the 20 ms tick, varies too); the
 * client takes an answer up to one 20 ms tick after its deadline. */
static void test_late_ack_keeps_fence(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	struct synod_broker_config cfg;
	unsigned sampled = 0;
	int ok;
	ctl_init(s, 5);
	s->loop = &t->loop;
	s->f = t->a;
	s->lates = &t->lates;
	fakectl_on_request(t->a, ctl_handle, s);
	broker_config(&cfg, fakectl_address(t->a));
	cfg.request_timeout_ms = SESSION_MS - 1;
	start_broker_cfg(t, o, &cfg);
	wait_active(t, s, 5);
	assert_int_equal(o->active_but_fenced, 0);

	s->hb_delay_ms = SESSION_MS + 2; /* + 0..17 ms */
	/* Several late heartbeats; sample the state meanwhile too. */
	FAKECTL_WAIT_FOR(
	    t->a, 8000,
	    (sampled += synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE &&
			synod_broker_fenced(t->br)) > 20 ||
		o->active_but_fenced > 0,
	    ok);
	(void)ok;
	print_message("    late answers: %llu heartbeats answered, %u "
		      "ACTIVE-while-fenced callbacks, %u samples\n",
		      (unsigned long long)s->heartbeats_answered,
		      o->active_but_fenced, sampled);
	if (o->active_but_fenced > 0)
		print_message("    first ACTIVE-while-fenced: fenced() %d, "
			      "self_fenced() %d, last ack sent %lld ms "
			      "before (session %d ms), self_fences %llu\n",
			      o->viol_fenced, o->viol_self,
			      (long long)o->viol_ack_age_ms, SESSION_MS,
			      (unsigned long long)o->viol_self_fences);
	assert_int_equal(o->active_but_fenced, 0);
	assert_true(sampled <= 20);

	/* Prompt answers again: active, and consistent. */
	s->hb_delay_ms = 0;
	WAIT_FOR(t->a, s->late_pending == 0);
	WAIT_FOR(t->a, synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE &&
			   synod_broker_fenced(t->br) == 0);
	assert_int_equal(synod_broker_self_fenced(t->br), 0);
	assert_int_equal(o->active_but_fenced, 0);
	assert_int_equal(finish(t), 0);
}

/* Invariant: a broker configured with a request timeout above the
 * controller's session takes half the session for the requests after the
 * registration's answer, on the same connection (no reconnect, so nothing
 * in flight is cancelled): a heartbeat the controller never answers gives
 * way to the next one well within the session, not after the configured
 * timeout. */
static void test_short_session_timeout(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	struct synod_broker_config cfg;
	uint64_t hb;
	ctl_init(s, 5);
	fakectl_on_request(t->a, ctl_handle, s);
	broker_config(&cfg, fakectl_address(t->a));
	cfg.request_timeout_ms = 20000; /* far above SESSION_MS */
	start_broker_cfg(t, o, &cfg);
	wait_active(t, s, 5);
	/* Heartbeats no longer answered: each times out after
	 * SESSION_MS / 2, and the next follows. With the configured 20 s,
	 * the first would hold the broker past the wait. */
	s->hb_mode = HB_SILENT;
	hb = s->heartbeats;
	WAIT_FOR(t->a, s->heartbeats >= hb + 4);
	WAIT_FOR(t->a, synod_broker_self_fenced(t->br));
	/* One connection throughout: the timeout changed in place. */
	assert_int_equal(fakectl_accepts(t->a), 1);
	s->hb_mode = HB_OK;
	WAIT_FOR(t->a, synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE &&
			   !synod_broker_self_fenced(t->br));
	assert_int_equal(s->bad, 0);
	assert_int_equal(finish(t), 0);
}

/* ==== 2: no silent staleness ==== */

/* Invariant (a): a NOT_CONTROLLER redirect that the client follows
 * inside a heartbeat (no error visible to the broker) still makes the
 * broker fetch from the new controller, so its view reaches the new
 * controller's version without any push. */
static void test_stale_redirect(void **state)
{
	struct t *t = *state;
	struct ctl *sa = keep(t, sizeof *sa);
	struct ctl *sb = keep(t, sizeof *sb);
	struct bobs *o = keep(t, sizeof *o);
	struct synod_broker_stats st;
	ctl_init(sa, 5);
	ctl_init(sb, 10);
	sb->with_topic = 1; /* B committed a topic the broker never heard of */
	assert_int_equal(fakectl_start(&t->loop, CLUSTER, &t->b), 0);
	fakectl_on_request(t->a, ctl_handle, sa);
	fakectl_on_request(t->b, ctl_handle, sb);
	start_broker(t, o, fakectl_address(t->a));
	wait_active(t, sa, 5);
	assert_int_equal(synod_broker_topic_count(t->br), 0);

	/* A is no longer the controller; its hint names B. B pushed
	 * nothing (no pushed_version in its answers). */
	snprintf(sa->redirect, sizeof sa->redirect, "%s",
		 fakectl_address(t->b));
	WAIT_FOR(t->a, fakectl_requests(t->b, SYNOD_API_METADATA_FETCH) >= 1 &&
			   synod_broker_metadata_version(t->br) == 10);
	assert_int_equal(synod_broker_topic_count(t->br), 1);
	assert_true(sa->redirected >= 1);
	assert_true(sb->heartbeats_answered >= 1);
	assert_int_equal(sb->last_since, 5);
	synod_broker_stats(t->br, &st);
	assert_int_equal(st.heartbeats_failed, 0); /* nothing visible */
	assert_int_equal(st.pushes, 0);
	assert_int_equal(st.gaps, 0);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_ACTIVE);
	assert_int_equal(sb->bad, 0);
	assert_int_equal(finish(t), 0);
}

/* Invariant (b): a heartbeat answer whose pushed_version is above the
 * view (a push the broker never received) makes it fetch (a gap). */
static void test_stale_pushed_version(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	struct synod_broker_stats before, after;
	uint64_t fetches;
	ctl_init(s, 5);
	s->send_pushed = 1;
	s->pushed_version = 5;
	fakectl_on_request(t->a, ctl_handle, s);
	start_broker(t, o, fakectl_address(t->a));
	wait_active(t, s, 5);
	synod_broker_stats(t->br, &before);
	fetches = s->fetches;
	/* The controller moved to 8 and says it pushed 8; no push came. */
	s->version = 8;
	s->with_topic = 1;
	s->pushed_version = 8;
	WAIT_FOR(t->a, synod_broker_metadata_version(t->br) == 8);
	synod_broker_stats(t->br, &after);
	assert_true(after.gaps > before.gaps);
	assert_true(after.fetches > before.fetches);
	assert_true(s->fetches > fetches);
	assert_int_equal(s->last_since, 5);
	assert_int_equal(after.pushes, 0);
	assert_int_equal(synod_broker_topic_count(t->br), 1);
	assert_int_equal(s->bad, 0);
	assert_int_equal(finish(t), 0);
}

/* Invariant (c): a push lost with a connection that was reset is
 * recovered: the broker fetches after its next heartbeat on the new
 * connection, although nothing else told it (no pushed_version). */
/* Version 6 (from 5) creates a topic; its push is queued while the fake
 * is paused and dropped by closing the connection: it never reaches the
 * broker, which reconnects. */
static void lose_push_with_conn(struct t *t, struct ctl *s)
{
	s->version = 6;
	s->with_topic = 1;
	fakectl_pause(t->a, 1);
	assert_int_equal(push_delta(t->a, s, 5, 6, 1, 0, 0), 0);
	fakectl_close_conn(fakectl_last_conn(t->a), FAKECTL_CLOSE_NOW);
	fakectl_pause(t->a, 0);
}

static void test_stale_conn_reset(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	struct synod_broker_stats st;
	uint64_t fetches;
	ctl_init(s, 5);
	fakectl_on_request(t->a, ctl_handle, s);
	start_broker(t, o, fakectl_address(t->a));
	wait_active(t, s, 5);
	assert_int_equal(fakectl_conn_count(t->a), 1);
	assert_int_equal(fakectl_accepts(t->a), 1);
	fetches = s->fetches;
	lose_push_with_conn(t, s);
	WAIT_FOR(t->a, synod_broker_metadata_version(t->br) == 6);
	assert_int_equal(synod_broker_topic_count(t->br), 1);
	assert_true(s->fetches > fetches);
	assert_int_equal(s->last_since, 5);
	assert_int_equal(fakectl_accepts(t->a), 2);
	synod_broker_stats(t->br, &st);
	assert_int_equal(st.pushes, 0); /* the push was lost indeed */
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_ACTIVE);
	assert_int_equal(s->bad, 0);
	assert_int_equal(finish(t), 0);
}

/* Invariant: no silent staleness while shutting down either. A broker
 * in controlled shutdown leads until the controller has moved its
 * leaders; a push lost with its connection must be fetched as in
 * ACTIVE. The heartbeat answer that found the new connection used to
 * leave the fetch for a later state that a shutdown never reaches. */
static void test_shutdown_conn_reset(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	ctl_init(s, 5);
	fakectl_on_request(t->a, ctl_handle, s);
	start_broker(t, o, fakectl_address(t->a));
	wait_active(t, s, 5);
	/* The fake never grants the shutdown: the broker stays in it. */
	assert_int_equal(synod_broker_shutdown(t->br), SYNOD_OK);
	WAIT_FOR(t->a, synod_broker_state(t->br) == SYNOD_BROKER_SHUTTING_DOWN);
	lose_push_with_conn(t, s);
	WAIT_FOR(t->a, synod_broker_metadata_version(t->br) == 6);
	assert_int_equal(synod_broker_topic_count(t->br), 1);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_SHUTTING_DOWN);
	assert_int_equal(s->bad, 0);
	assert_int_equal(finish(t), 0);
}

/* Invariant: a controller that stops answering (paused: its TCP
 * connection stays open) is left for another node even when the
 * broker's request timeout (300 ms here) is below the client's liveness
 * timeout (its default, 1000 ms). Each heartbeat times out before it has
 * waited that long, but nothing has come back since they were sent, so
 * the client probes the node and moves on; the broker keeps its session
 * on the other node. Before: the broker stayed on the silent connection
 * until TCP gave up (reliability.md 5.21). */
static void test_silent_controller_left(void **state)
{
	struct t *t = *state;
	struct ctl *sa = keep(t, sizeof *sa);
	struct ctl *sb = keep(t, sizeof *sb);
	struct bobs *o = keep(t, sizeof *o);
	struct ctl *first, *other;
	struct fakectl *silent;
	char boot[128];
	uint64_t hb;
	ctl_init(sa, 5);
	ctl_init(sb, 5);
	assert_int_equal(fakectl_start(&t->loop, CLUSTER, &t->b), 0);
	fakectl_on_request(t->a, ctl_handle, sa);
	fakectl_on_request(t->b, ctl_handle, sb);
	snprintf(boot, sizeof boot, "%s,%s", fakectl_address(t->a),
		 fakectl_address(t->b));
	start_broker(t, o, boot);
	/* The client starts at a random bootstrap node. */
	WAIT_FOR(t->a, sa->heartbeats_answered + sb->heartbeats_answered > 0);
	first = sa->heartbeats_answered > 0 ? sa : sb;
	other = first == sa ? sb : sa;
	silent = first == sa ? t->a : t->b;
	wait_active(t, first, 5);
	assert_int_equal(other->heartbeats, 0);
	fakectl_pause(silent, 1);
	hb = first->heartbeats_answered;
	WAIT_FOR_MS(t->a, 8000, other->heartbeats_answered >= 3);
	assert_int_equal(first->heartbeats_answered, hb);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_ACTIVE);
	assert_int_equal(sa->bad + sb->bad, 0);
	fakectl_pause(silent, 0);
	assert_int_equal(finish(t), 0);
}

/* ==== 3: legacy re-probe ==== */

/* Invariant: with a controller that has no METADATA_FETCH the broker
 * reports only the version its view holds (0 here), never the
 * controller's, so such a controller (unfencing at 100) keeps it fenced;
 * on a new controller it probes METADATA_FETCH again. */
static void test_legacy_reprobe(void **state)
{
	struct t *t = *state;
	struct ctl *sa = keep(t, sizeof *sa);
	struct ctl *sb = keep(t, sizeof *sb);
	struct bobs *o = keep(t, sizeof *o);
	ctl_init(sa, 100);
	sa->fetch_mode = FETCH_UNSUPPORTED;
	sa->unfence_at = 100;
	ctl_init(sb, 100);
	sb->unfence_at = 100;
	sb->with_topic = 1;
	assert_int_equal(fakectl_start(&t->loop, CLUSTER, &t->b), 0);
	fakectl_on_request(t->a, ctl_handle, sa);
	fakectl_on_request(t->b, ctl_handle, sb);
	start_broker(t, o, fakectl_address(t->a));
	WAIT_FOR(t->a, sa->fetches >= 1 && sa->heartbeats >= 8);
	assert_int_equal(sa->max_reported, 0);
	assert_int_equal(synod_broker_metadata_version(t->br), 0);
	assert_int_equal(synod_broker_controller_version(t->br), 100);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_FENCED);
	assert_int_equal(synod_broker_fenced(t->br), 1);
	assert_int_equal(fakectl_requests(t->b, SYNOD_API_METADATA_FETCH), 0);

	/* A rolling upgrade: A redirects to B, which has METADATA_FETCH. */
	snprintf(sa->redirect, sizeof sa->redirect, "%s",
		 fakectl_address(t->b));
	WAIT_FOR(t->a, fakectl_requests(t->b, SYNOD_API_METADATA_FETCH) >= 1 &&
			   synod_broker_metadata_version(t->br) == 100);
	WAIT_FOR(t->a, synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE);
	assert_int_equal(sb->max_reported, 100);
	assert_int_equal(synod_broker_topic_count(t->br), 1);
	assert_int_equal(sa->bad + sb->bad, 0);
	assert_int_equal(finish(t), 0);
}

/* ==== client helpers ==== */

struct result {
	int calls;
	int status;
	int code;
	char value[64];
	size_t n_entries;
	int after_close; /* called after the test closed the client */
	int *closed;	 /* the test's "closed" flag, or NULL */
};

static void on_response(void *arg, int status, const uint8_t *body, size_t len)
{
	struct result *r = arg;
	Synod__Wire__AnyResponse *any;
	if (r->closed && *r->closed && status != SYNOD_ECANCELED)
		r->after_close++;
	r->calls++;
	r->status = status;
	r->code = -1;
	r->value[0] = '\0';
	r->n_entries = 0;
	if (status != SYNOD_OK)
		return;
	any = synod__wire__any_response__unpack(NULL, len, body);
	if (any == NULL)
		return;
	r->code = any->status ? any->status->code : 0;
	synod__wire__any_response__free_unpacked(any, NULL);
	if (r->code != SYNOD_OK)
		return;
	/* CONFIG_GET and CONFIG_LIST answers: both decode either way
	 * (unknown fields are skipped); keep what each has. */
	Synod__Wire__ConfigGetResponse *g =
	    synod__wire__config_get_response__unpack(NULL, len, body);
	if (g) {
		if (g->entry && g->entry->value)
			snprintf(r->value, sizeof r->value, "%s",
				 g->entry->value);
		synod__wire__config_get_response__free_unpacked(g, NULL);
	}
	Synod__Wire__ConfigListResponse *l =
	    synod__wire__config_list_response__unpack(NULL, len, body);
	if (l) {
		r->n_entries = l->n_entries;
		synod__wire__config_list_response__free_unpacked(l, NULL);
	}
}

static void new_client_cfg(struct t *t, struct synod_client_config *cfg)
{
	assert_int_equal(synod_client_new(&t->loop, cfg, &t->c), SYNOD_OK);
}

static void client_config(struct synod_client_config *cfg,
			  const char *bootstrap)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->bootstrap = bootstrap;
	cfg->cluster_id = CLUSTER;
}

static void send_get(struct synod_client *c, struct result *r)
{
	Synod__Wire__ConfigGetRequest q = SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	q.scope = SYNOD_SCOPE_CLUSTER;
	q.key = "retention.ms";
	assert_int_equal(synod_client_send(c, SYNOD_API_CONFIG_GET, &q.base, 1,
					   on_response, r),
			 SYNOD_OK);
}

static void send_list(struct synod_client *c, struct result *r)
{
	Synod__Wire__ConfigListRequest q =
	    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
	assert_int_equal(synod_client_send(c, SYNOD_API_CONFIG_LIST, &q.base, 1,
					   on_response, r),
			 SYNOD_OK);
}

static int reply_get(struct fakectl_conn *fc, const struct frame_header *h,
		     const char *value)
{
	Synod__Wire__ConfigGetResponse r =
	    SYNOD__WIRE__CONFIG_GET_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	e.scope = SYNOD_SCOPE_CLUSTER;
	e.key = "retention.ms";
	e.value = (char *)value;
	r.status = &st;
	r.entry = &e;
	return fakectl_reply(fc, h, &r.base);
}

/* A ConfigListResponse of n entries with values of value_len bytes. */
static int reply_list(struct fakectl_conn *fc, const struct frame_header *h,
		      size_t n, size_t value_len)
{
	Synod__Wire__ConfigListResponse r =
	    SYNOD__WIRE__CONFIG_LIST_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__ConfigEntry *e = calloc(n ? n : 1, sizeof *e);
	Synod__Wire__ConfigEntry **ep = calloc(n ? n : 1, sizeof *ep);
	char(*keys)[16] = calloc(n ? n : 1, sizeof *keys);
	char *value = malloc(value_len + 1);
	int rv;
	if (!e || !ep || !keys || !value) {
		free(e);
		free(ep);
		free(keys);
		free(value);
		return UV_ENOMEM;
	}
	memset(value, 'v', value_len);
	value[value_len] = '\0';
	for (size_t i = 0; i < n; i++) {
		synod__wire__config_entry__init(&e[i]);
		snprintf(keys[i], sizeof keys[i], "key.%zu", i);
		e[i].key = keys[i];
		e[i].value = value;
		ep[i] = &e[i];
	}
	r.status = &st;
	r.n_entries = n;
	r.entries = ep;
	rv = fakectl_reply(fc, h, &r.base);
	free(e);
	free(ep);
	free(keys);
	free(value);
	return rv;
}

/* ==== 4: liveness counts bytes; oversized frames ==== */

#define BIG_ENTRIES 2700 /* x ~112 bytes: ~300 KB */
#define BIG_RATE 100000	 /* bytes per second: ~3 s */

static int answer_big_list(void *arg, struct fakectl_conn *fc,
			   const struct frame_header *h, const uint8_t *body,
			   size_t len)
{
	size_t *n = arg;
	if (h->api == SYNOD_API_CONFIG_GET) {
		reply_get(fc, h, "86400000");
		return FAKECTL_HANDLED;
	}
	if (h->api != SYNOD_API_CONFIG_LIST)
		return FAKECTL_DEFAULT;
	reply_list(fc, h, *n, 96);
	return FAKECTL_HANDLED;
}

/* Invariant: an answer that keeps arriving, however slowly, is never
 * taken for a dead node: liveness counts bytes, not frames (a 300 KB
 * answer at 100 KB/s with a 150 ms liveness timeout arrives on the one
 * connection, with no liveness drop and no resend). */
static void test_liveness_counts_bytes(void **state)
{
	struct t *t = *state;
	struct synod_client_config cfg;
	struct synod_client_stats cs;
	struct result *r = keep(t, sizeof *r);
	size_t *n = keep(t, sizeof *n);
	uint64_t t0, elapsed;
	*n = BIG_ENTRIES;
	fakectl_on_request(t->a, answer_big_list, n);
	client_config(&cfg, fakectl_address(t->a));
	cfg.liveness_timeout_ms = 150;
	cfg.request_timeout_ms = 10000;
	new_client_cfg(t, &cfg);
	fakectl_set_write_rate(t->a, BIG_RATE);
	t0 = fakectl_now_ms();
	send_list(t->c, r);
	WAIT_FOR_MS(t->a, 15000, r->calls > 0);
	elapsed = fakectl_now_ms() - t0;
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->status, SYNOD_OK);
	assert_int_equal(r->code, SYNOD_OK);
	assert_int_equal(r->n_entries, BIG_ENTRIES);
	/* It really trickled: far longer than the liveness timeout. */
	assert_true(fakectl_bytes_written(t->a) > 280000);
	assert_true(elapsed >= 2000);
	assert_int_equal(fakectl_accepts(t->a), 1);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_CONFIG_LIST), 1);
	synod_client_stats(t->c, &cs);
	assert_int_equal(cs.liveness_drops, 0);
	assert_int_equal(cs.connections, 1);
	assert_int_equal(finish(t), 0);
}

/* Invariant: an answer above max_frame fails its request with
 * MESSAGE_TOO_LARGE (and says why), instead of being dropped silently
 * and resent forever; the client stays usable. */
static void test_oversize_frame(void **state)
{
	struct t *t = *state;
	struct synod_client_config cfg;
	struct synod_client_stats cs;
	struct result *r = keep(t, sizeof *r);
	struct result *g = keep(t, sizeof *g);
	size_t *n = keep(t, sizeof *n);
	*n = 1800; /* ~200 KB */
	fakectl_on_request(t->a, answer_big_list, n);
	client_config(&cfg, fakectl_address(t->a));
	cfg.max_frame = 64 * 1024;
	cfg.request_timeout_ms = 3000;
	new_client_cfg(t, &cfg);
	send_list(t->c, r);
	WAIT_FOR(t->a, r->calls > 0);
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->status, SYNOD_EMESSAGE_TOO_LARGE);
	assert_non_null(strstr(synod_client_errmsg(t->c), "max_frame"));
	/* Not resent meanwhile or afterwards. */
	run_for(t, 300);
	assert_true(fakectl_requests(t->a, SYNOD_API_CONFIG_LIST) >= 1);
	assert_true(fakectl_requests(t->a, SYNOD_API_CONFIG_LIST) <= 2);
	assert_int_equal(r->calls, 1);
	synod_client_stats(t->c, &cs);
	assert_true(cs.bad_frames >= 1);
	/* A small request still works. */
	send_get(t->c, g);
	WAIT_FOR(t->a, g->calls > 0);
	assert_int_equal(g->status, SYNOD_OK);
	assert_string_equal(g->value, "86400000");
	assert_int_equal(finish(t), 0);
}

/* ==== 5: redirect storm ==== */

static int redirect_other(void *arg, struct fakectl_conn *fc,
			  const struct frame_header *h, const uint8_t *body,
			  size_t len)
{
	struct t *t = arg;
	struct fakectl *me = fakectl_conn_owner(fc);
	struct fakectl *other = me == t->a ? t->b : t->a;
	if (h->api != SYNOD_API_CONFIG_GET)
		return FAKECTL_DEFAULT;
	fakectl_reply_status(fc, h, SYNOD_ENOT_CONTROLLER,
			     fakectl_address(other));
	return FAKECTL_HANDLED;
}

static uint64_t gets_ab(struct t *t)
{
	return fakectl_requests(t->a, SYNOD_API_CONFIG_GET) +
	       fakectl_requests(t->b, SYNOD_API_CONFIG_GET);
}

static uint64_t accepts_ab(struct t *t)
{
	return fakectl_accepts(t->a) + fakectl_accepts(t->b);
}

/* Invariant: two nodes whose hints point at each other cannot make a
 * connection storm: a request follows at most max_redirects hints (with
 * a growing backoff between them), then fails with NOT_CONTROLLER. */
static void test_redirect_storm(void **state)
{
	struct t *t = *state;
	struct synod_client_config cfg;
	struct synod_client_stats cs;
	struct result *r = keep(t, sizeof *r);
	uint64_t gets0, acc0, t0, elapsed;
	assert_int_equal(fakectl_start(&t->loop, CLUSTER, &t->b), 0);
	fakectl_on_request(t->a, redirect_other, t);
	fakectl_on_request(t->b, redirect_other, t);

	/* As configured by the issue: default limit (10), 3 s timeout:
	 * NOT_CONTROLLER, or TIMEOUT when the backoff outlasts it. */
	client_config(&cfg, fakectl_address(t->a));
	cfg.request_timeout_ms = 3000;
	cfg.backoff_max_ms = 1000;
	new_client_cfg(t, &cfg);
	send_get(t->c, r);
	WAIT_FOR_MS(t->a, 10000, r->calls > 0);
	assert_int_equal(r->calls, 1);
	assert_true(r->status == SYNOD_ENOT_CONTROLLER ||
		    r->status == SYNOD_ETIMEOUT);
	assert_true(accepts_ab(t) <= 12);
	assert_true(gets_ab(t) <= 11);
	synod_client_stats(t->c, &cs);
	assert_true(cs.redirects <= 11);
	if (r->status == SYNOD_ENOT_CONTROLLER)
		assert_int_equal(cs.redirect_limit, 1);
	else
		assert_int_equal(cs.redirect_limit, 0);
	synod_client_close(t->c);
	t->c = NULL;

	/* With time to spare: exactly 11 answers (the 11th is not
	 * followed), 11 connections at most, and the backoff spreads them
	 * out (the jittered sum of 25 ms doubling to 1 s is above 2 s). */
	gets0 = gets_ab(t);
	acc0 = accepts_ab(t);
	memset(r, 0, sizeof *r);
	cfg.request_timeout_ms = 20000;
	new_client_cfg(t, &cfg);
	t0 = fakectl_now_ms();
	send_get(t->c, r);
	WAIT_FOR_MS(t->a, 20000, r->calls > 0);
	elapsed = fakectl_now_ms() - t0;
	assert_int_equal(r->status, SYNOD_ENOT_CONTROLLER);
	assert_int_equal(gets_ab(t) - gets0, 11);
	assert_true(accepts_ab(t) - acc0 <= 12);
	assert_true(elapsed >= 1500);
	synod_client_stats(t->c, &cs);
	assert_true(cs.redirects <= 11);
	assert_int_equal(cs.redirect_limit, 1);
	assert_non_null(strstr(synod_client_errmsg(t->c), "redirect"));
	synod_client_close(t->c);
	t->c = NULL;

	/* max_redirects 3: NOT_CONTROLLER after the 4th answer. */
	gets0 = gets_ab(t);
	memset(r, 0, sizeof *r);
	cfg.max_redirects = 3;
	new_client_cfg(t, &cfg);
	send_get(t->c, r);
	WAIT_FOR(t->a, r->calls > 0);
	assert_int_equal(r->status, SYNOD_ENOT_CONTROLLER);
	assert_int_equal(gets_ab(t) - gets0, 4);
	synod_client_stats(t->c, &cs);
	assert_int_equal(cs.redirect_limit, 1);
	assert_true(cs.redirects >= 3 && cs.redirects <= 4);
	assert_int_equal(finish(t), 0);
}

/* ==== 6: NOT_CONTROLLER does not drop other answers ==== */

struct held {
	struct t *t;
	uint64_t conn;
	struct frame_header h;
	int have;
	int answered;
};

static void on_answer_held(uv_timer_t *tm)
{
	struct held *x = tm->data;
	struct fakectl_conn *fc = fakectl_conn_find(x->t->a, x->conn);
	if (reply_get(fc, &x->h, "from-A") == 0)
		x->answered = 1;
}

static int a_hold_get_redirect_list(void *arg, struct fakectl_conn *fc,
				    const struct frame_header *h,
				    const uint8_t *body, size_t len)
{
	struct held *x = arg;
	struct t *t = x->t;
	if (h->api == SYNOD_API_CONFIG_GET) {
		/* X: answered 30 ms later, after Y's redirect. */
		x->conn = fakectl_conn_id(fc);
		x->h = *h;
		x->have = 1;
		return FAKECTL_HANDLED;
	}
	if (h->api == SYNOD_API_CONFIG_LIST) {
		fakectl_reply_status(fc, h, SYNOD_ENOT_CONTROLLER,
				     fakectl_address(t->b));
		if (x->have)
			uv_timer_start(&t->timer, on_answer_held, 30, 0);
		return FAKECTL_HANDLED;
	}
	return FAKECTL_DEFAULT;
}

static int b_answers(void *arg, struct fakectl_conn *fc,
		     const struct frame_header *h, const uint8_t *body,
		     size_t len)
{
	if (h->api == SYNOD_API_CONFIG_GET) {
		reply_get(fc, h, "from-B");
		return FAKECTL_HANDLED;
	}
	if (h->api == SYNOD_API_CONFIG_LIST) {
		reply_list(fc, h, 1, 4);
		return FAKECTL_HANDLED;
	}
	return FAKECTL_DEFAULT;
}

/* Invariant: a NOT_CONTROLLER answer to one request does not lose the
 * answers still due on that connection: X, answered OK by A after Y's
 * redirect, completes once with A's answer (not resent to B); Y is
 * answered by B. */
static void test_redirect_keeps_answers(void **state)
{
	struct t *t = *state;
	struct synod_client_config cfg;
	struct result *x = keep(t, sizeof *x);
	struct result *y = keep(t, sizeof *y);
	struct held *hx = keep(t, sizeof *hx);
	hx->t = t;
	assert_int_equal(uv_timer_init(&t->loop, &t->timer), 0);
	t->timer_init = 1;
	t->timer.data = hx;
	assert_int_equal(fakectl_start(&t->loop, CLUSTER, &t->b), 0);
	fakectl_on_request(t->a, a_hold_get_redirect_list, hx);
	fakectl_on_request(t->b, b_answers, NULL);
	client_config(&cfg, fakectl_address(t->a));
	cfg.request_timeout_ms = 3000;
	new_client_cfg(t, &cfg);
	send_get(t->c, x);  /* X */
	send_list(t->c, y); /* Y, pipelined behind X */
	WAIT_FOR(t->a, x->calls > 0 && y->calls > 0);
	run_for(t, 100); /* nothing more arrives */
	assert_true(hx->answered);
	assert_int_equal(x->calls, 1);
	assert_int_equal(x->status, SYNOD_OK);
	assert_int_equal(x->code, SYNOD_OK);
	assert_string_equal(x->value, "from-A");
	assert_int_equal(y->calls, 1);
	assert_int_equal(y->status, SYNOD_OK);
	assert_int_equal(y->code, SYNOD_OK);
	assert_int_equal(y->n_entries, 1);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_CONFIG_GET), 1);
	assert_int_equal(fakectl_requests(t->b, SYNOD_API_CONFIG_GET), 0);
	assert_int_equal(fakectl_requests(t->a, SYNOD_API_CONFIG_LIST), 1);
	assert_int_equal(fakectl_requests(t->b, SYNOD_API_CONFIG_LIST), 1);
	assert_string_equal(synod_client_peer(t->c), fakectl_address(t->b));
	assert_int_equal(finish(t), 0);
}

/* A: CONFIG_GET is never answered, CONFIG_LIST is redirected to B. */
static int a_silent_get_redirect_list(void *arg, struct fakectl_conn *fc,
				      const struct frame_header *h,
				      const uint8_t *body, size_t len)
{
	struct t *t = arg;
	(void)body;
	(void)len;
	if (h->api == SYNOD_API_CONFIG_GET)
		return FAKECTL_HANDLED; /* held for ever */
	if (h->api == SYNOD_API_CONFIG_LIST) {
		fakectl_reply_status(fc, h, SYNOD_ENOT_CONTROLLER,
				     fakectl_address(t->b));
		return FAKECTL_HANDLED;
	}
	return FAKECTL_DEFAULT;
}

/* Invariant: a NOT_CONTROLLER answer never leaves the client stuck on the
 * node that gave it. Nothing new is sent on that connection while answers
 * are still due on it; when the last of them times out instead of being
 * answered, the client leaves, and a later request reaches the controller
 * the hint names (reliability.md 5.25: three brokers' heartbeats failed
 * for the rest of a chaos run). */
static void test_drain_ends_on_timeout(void **state)
{
	struct t *t = *state;
	struct synod_client_config cfg;
	struct result *x = keep(t, sizeof *x);
	struct result *y = keep(t, sizeof *y);
	struct result *z = keep(t, sizeof *z);
	assert_int_equal(fakectl_start(&t->loop, CLUSTER, &t->b), 0);
	fakectl_on_request(t->a, a_silent_get_redirect_list, t);
	fakectl_on_request(t->b, b_answers, NULL);
	client_config(&cfg, fakectl_address(t->a));
	cfg.request_timeout_ms = 300;
	new_client_cfg(t, &cfg);
	send_get(t->c, x);  /* X: never answered by A */
	send_list(t->c, y); /* Y: redirected; the connection drains */
	WAIT_FOR(t->a, x->calls > 0 && y->calls > 0);
	assert_int_equal(x->calls, 1);
	assert_int_equal(x->status, SYNOD_ETIMEOUT);
	assert_int_equal(y->calls, 1);
	send_get(t->c, z); /* Z: after X timed out */
	WAIT_FOR(t->a, z->calls > 0);
	assert_int_equal(z->calls, 1);
	assert_int_equal(z->status, SYNOD_OK);
	assert_int_equal(z->code, SYNOD_OK);
	assert_string_equal(z->value, "from-B");
	assert_string_equal(synod_client_peer(t->c), fakectl_address(t->b));
	assert_int_equal(finish(t), 0);
}

/* ==== 6c: a name lookup slower than the connect timeout ==== */

/* This binary's getaddrinfo (it comes before libc's for libuv too): the
 * name "slow.test" takes 300 ms and is 127.0.0.1; other names go to the
 * next definition (libc, or a sanitizer's). Runs in libuv's thread pool. */
#define SLOW_NAME "slow.test"
#define SLOW_LOOKUP_MS 300

int getaddrinfo(const char *node, const char *service,
		const struct addrinfo *hints, struct addrinfo **res)
{
	typedef int (*gai_fn)(const char *, const char *,
			      const struct addrinfo *, struct addrinfo **);
	gai_fn next = (gai_fn)(uintptr_t)dlsym(RTLD_NEXT, "getaddrinfo");
	if (next == NULL)
		return EAI_FAIL;
	if (node != NULL && strcmp(node, SLOW_NAME) == 0) {
		usleep(SLOW_LOOKUP_MS * 1000);
		node = "127.0.0.1";
	}
	return next(node, service, hints, res);
}

/* Invariant: every connection attempt has a deadline, also one that
 * begins after a name lookup that outlived the connect timeout (on_tick
 * cannot cancel a lookup already running): a node that accepts the TCP
 * connection but never answers the handshake (stopped, SIGSTOP) is left
 * after connect_timeout_ms, not kept until TCP gives up. */
static void test_slow_lookup_then_silent(void **state)
{
	struct t *t = *state;
	struct synod_client_config cfg;
	struct synod_client_stats st;
	struct result *x = keep(t, sizeof *x);
	const char *addr = fakectl_address(t->a);
	char slow[64];
	snprintf(slow, sizeof slow, SLOW_NAME "%s", strrchr(addr, ':'));
	fakectl_pause(t->a, 1); /* accepts, never answers */
	client_config(&cfg, slow);
	cfg.connect_timeout_ms = 100;
	cfg.request_timeout_ms = 4000;
	new_client_cfg(t, &cfg);
	send_get(t->c, x);
	/* The first attempt connects at about 300 ms; without its own
	 * deadline it waits for the handshake for ever. */
	WAIT_FOR_MS(t->a, 3000,
		    (synod_client_stats(t->c, &st), st.connects >= 2));
	assert_int_equal(x->calls, 0);
	fakectl_pause(t->a, 0);
	assert_int_equal(finish(t), 0);
}

/* ==== 6d: a callback that retries at once ==== */

struct retrier {
	struct synod_client *c;
	int calls;
	int last_status;
};

static void retry_at_once(void *arg, int status, const uint8_t *body,
			  size_t len)
{
	struct retrier *r = arg;
	Synod__Wire__ConfigGetRequest q = SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	(void)body;
	(void)len;
	r->calls++;
	r->last_status = status;
	if (status == SYNOD_ECANCELED || r->calls >= 1000)
		return;
	q.scope = SYNOD_SCOPE_CLUSTER;
	q.key = "retention.ms";
	synod_client_send(r->c, SYNOD_API_CONFIG_GET, &q.base, 1, retry_at_once,
			  r);
}

/* Invariant: failing the pending requests (here every connection answers
 * CLUSTER_ID_MISMATCH) fails those pending when it began, not the ones
 * their callbacks send meanwhile: a caller that retries from its callback
 * gets one answer per attempt, never an endless loop inside one (capped
 * at 1000 retries here, all of them at once without the rule). */
static void test_fail_all_ends(void **state)
{
	struct t *t = *state;
	struct synod_client_config cfg;
	struct retrier *r = keep(t, sizeof *r);
	Synod__Wire__ConfigGetRequest q = SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	client_config(&cfg, fakectl_address(t->a));
	cfg.cluster_id = "another-cluster";
	cfg.request_timeout_ms = 3000;
	new_client_cfg(t, &cfg);
	r->c = t->c;
	q.scope = SYNOD_SCOPE_CLUSTER;
	q.key = "retention.ms";
	assert_int_equal(synod_client_send(t->c, SYNOD_API_CONFIG_GET, &q.base,
					   1, retry_at_once, r),
			 SYNOD_OK);
	WAIT_FOR(t->a, r->calls >= 1);
	assert_int_equal(r->last_status, SYNOD_ECLUSTER_ID_MISMATCH);
	/* Each later failure needs another connection (after a backoff of
	 * 25 ms or more): a handful in 100 ms, not 1000. */
	run_for(t, 100);
	assert_true(r->calls < 20);
	assert_int_equal(finish(t), 0);
}

/* ==== 7: close from callbacks ==== */

/* A response callback that closes the client (once). */
struct closer {
	struct synod_client *c;
	int closed;
	struct result r;
};

static void close_in_response(void *arg, int status, const uint8_t *body,
			      size_t len)
{
	struct closer *k = arg;
	on_response(&k->r, status, body, len);
	if (!k->closed) {
		k->closed = 1;
		synod_client_close(k->c);
	}
}

/* The thread fake of the own-loop client tests: answers CONFIG_GET (or
 * not), never CONFIG_LIST. */
struct simple {
	int answer_get;
};

static int simple_handle(void *arg, struct fakectl_conn *fc,
			 const struct frame_header *h, const uint8_t *body,
			 size_t len)
{
	struct simple *s = arg;
	if (h->api == SYNOD_API_CONFIG_GET) {
		if (s->answer_get)
			reply_get(fc, h, "86400000");
		return FAKECTL_HANDLED;
	}
	if (h->api == SYNOD_API_CONFIG_LIST)
		return FAKECTL_HANDLED;
	return FAKECTL_DEFAULT;
}

static void own_loop_call(struct t *t, int answer_get, unsigned timeout_ms,
			  int want_status)
{
	struct tfake *tf = keep(t, sizeof *tf);
	struct simple *s = keep(t, sizeof *s);
	struct synod_client_config cfg;
	struct synod_client *c;
	struct closer *k = keep(t, sizeof *k);
	Synod__Wire__ConfigGetRequest gq =
	    SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	Synod__Wire__ConfigListRequest lq =
	    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
	ProtobufCMessage *resp = (ProtobufCMessage *)k; /* not NULL */
	int rv;
	s->answer_get = answer_get;
	assert_int_equal(tfake_start(tf, simple_handle, s), 0);
	t->tf = tf;
	client_config(&cfg, tf->address);
	cfg.request_timeout_ms = timeout_ms;
	assert_int_equal(synod_client_new(NULL, &cfg, &c), SYNOD_OK);
	k->c = c;
	gq.scope = SYNOD_SCOPE_CLUSTER;
	gq.key = "retention.ms";
	assert_int_equal(synod_client_send(c, SYNOD_API_CONFIG_GET, &gq.base, 1,
					   close_in_response, k),
			 SYNOD_OK);
	/* The loop runs inside the call; the callback of the first request
	 * closes the client under it: the call ends CANCELED and frees the
	 * client before it returns. */
	rv = synod_client_call(c, SYNOD_API_CONFIG_LIST, &lq.base, 1,
			       &synod__wire__config_list_response__descriptor,
			       &resp);
	assert_int_equal(rv, SYNOD_ECANCELED);
	assert_null(resp);
	assert_int_equal(k->r.calls, 1);
	assert_int_equal(k->r.status, want_status);
	t->tf = NULL;
	tfake_stop(tf);
}

/* Invariant: an own-loop client closed from a response callback while
 * synod_client_call() runs its loop is freed by that call, with no use
 * after free (ASan): from an answer, and from a timeout (on_tick). */
static void test_close_own_loop_call(void **state)
{
	struct t *t = *state;
	own_loop_call(t, 1, 3000, SYNOD_OK);
	own_loop_call(t, 0, 200, SYNOD_ETIMEOUT);
	assert_int_equal(finish(t), 0);
}

static void own_loop_run(struct t *t, int answer_get, unsigned timeout_ms,
			 int want_status)
{
	struct tfake *tf = keep(t, sizeof *tf);
	struct simple *s = keep(t, sizeof *s);
	struct synod_client_config cfg;
	struct synod_client *c;
	struct closer *k = keep(t, sizeof *k);
	struct result *y = keep(t, sizeof *y);
	s->answer_get = answer_get;
	assert_int_equal(tfake_start(tf, simple_handle, s), 0);
	t->tf = tf;
	client_config(&cfg, tf->address);
	cfg.request_timeout_ms = timeout_ms;
	assert_int_equal(synod_client_new(NULL, &cfg, &c), SYNOD_OK);
	k->c = c;
	y->closed = &k->closed;
	{
		Synod__Wire__ConfigGetRequest q =
		    SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
		q.scope = SYNOD_SCOPE_CLUSTER;
		q.key = "retention.ms";
		assert_int_equal(synod_client_send(c, SYNOD_API_CONFIG_GET,
						   &q.base, 1,
						   close_in_response, k),
				 SYNOD_OK);
	}
	send_list(c, y);
	/* The test runs the client's loop itself; it ends once the client
	 * closed its handles. */
	uv_run(synod_client_loop(c), UV_RUN_DEFAULT);
	assert_int_equal(k->r.calls, 1);
	assert_int_equal(k->r.status, want_status);
	assert_int_equal(y->calls, 1);
	assert_int_equal(y->status, SYNOD_ECANCELED);
	assert_int_equal(y->after_close, 0);
	/* The second close frees it (client.h's contract). */
	synod_client_close(c);
	t->tf = NULL;
	tfake_stop(tf);
}

/* Invariant: an own-loop client closed from its response callback while
 * the caller runs uv_run() itself is finished by one more close after
 * uv_run returned; the other request completes CANCELED, once. */
static void test_close_own_loop_run(void **state)
{
	struct t *t = *state;
	own_loop_run(t, 1, 3000, SYNOD_OK);
	own_loop_run(t, 0, 200, SYNOD_ETIMEOUT);
	assert_int_equal(finish(t), 0);
}

/* Caller-loop client: the fake holds X (CONFIG_GET), and answers both X
 * and Y (CONFIG_LIST) in one write once Y arrives, so that both answers
 * are in one read; or (push mode) writes a push and then Y's answer. */
struct both {
	struct held x;
	int push_first;
};

static int answer_both(void *arg, struct fakectl_conn *fc,
		       const struct frame_header *h, const uint8_t *body,
		       size_t len)
{
	struct both *bo = arg;
	if (h->api == SYNOD_API_CONFIG_GET) {
		bo->x.conn = fakectl_conn_id(fc);
		bo->x.h = *h;
		bo->x.have = 1;
		return FAKECTL_HANDLED;
	}
	if (h->api != SYNOD_API_CONFIG_LIST)
		return FAKECTL_DEFAULT;
	/* Queue everything while paused: one write on the resume. */
	fakectl_pause(fakectl_conn_owner(fc), 1);
	if (bo->push_first) {
		Synod__Wire__MetadataDelta d =
		    SYNOD__WIRE__METADATA_DELTA__INIT;
		d.prev_version = 1;
		d.version = 2;
		fakectl_push(fc, SYNOD_API_METADATA_PUSH, &d.base);
	} else if (bo->x.have) {
		reply_get(fc, &bo->x.h, "x");
	}
	reply_list(fc, h, 1, 4);
	fakectl_pause(fakectl_conn_owner(fc), 0);
	return FAKECTL_HANDLED;
}

struct push_closer {
	struct synod_client *c;
	int closed;
	int calls;
	int after_close;
	struct t *t;
};

static void close_in_push(void *arg, uint16_t api, const uint8_t *body,
			  size_t len)
{
	struct push_closer *p = arg;
	if (p->closed) {
		p->after_close++;
		return;
	}
	p->calls++;
	p->closed = 1;
	synod_client_close(p->c);
	p->t->c = NULL;
}

/* Invariant: a client on the caller's loop closed from a response
 * callback, with another answer in the same read, or from its push
 * callback, with an answer right behind the push: the others complete
 * CANCELED exactly once, no callback runs after close, and the loop
 * drains (no use after free under ASan). */
static void test_close_caller_loop_client(void **state)
{
	struct t *t = *state;
	struct synod_client_config cfg;
	struct both *bo = keep(t, sizeof *bo);
	struct closer *k = keep(t, sizeof *k);
	struct result *y = keep(t, sizeof *y);
	struct result *z = keep(t, sizeof *z);
	struct push_closer *pc = keep(t, sizeof *pc);
	fakectl_on_request(t->a, answer_both, bo);
	client_config(&cfg, fakectl_address(t->a));
	cfg.request_timeout_ms = 3000;

	/* From a response callback. */
	new_client_cfg(t, &cfg);
	k->c = t->c;
	y->closed = &k->closed;
	{
		Synod__Wire__ConfigGetRequest q =
		    SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
		q.scope = SYNOD_SCOPE_CLUSTER;
		q.key = "retention.ms";
		assert_int_equal(synod_client_send(t->c, SYNOD_API_CONFIG_GET,
						   &q.base, 1,
						   close_in_response, k),
				 SYNOD_OK);
	}
	send_list(t->c, y);
	WAIT_FOR(t->a, k->closed);
	t->c = NULL; /* closed by the callback */
	WAIT_FOR(t->a, fakectl_conn_count(t->a) == 0);
	run_for(t, 50);
	assert_int_equal(k->r.calls, 1);
	assert_int_equal(k->r.status, SYNOD_OK);
	assert_int_equal(y->calls, 1);
	assert_int_equal(y->status, SYNOD_ECANCELED);
	assert_int_equal(y->after_close, 0);

	/* From the push callback. */
	memset(bo, 0, sizeof *bo);
	bo->push_first = 1;
	new_client_cfg(t, &cfg);
	pc->c = t->c;
	pc->t = t;
	z->closed = &pc->closed;
	synod_client_on_push(t->c, close_in_push, pc);
	send_list(t->c, z);
	WAIT_FOR(t->a, pc->closed);
	WAIT_FOR(t->a, fakectl_conn_count(t->a) == 0);
	run_for(t, 50);
	assert_int_equal(pc->calls, 1);
	assert_int_equal(pc->after_close, 0);
	assert_int_equal(z->calls, 1);
	assert_int_equal(z->status, SYNOD_ECANCELED);
	assert_int_equal(z->after_close, 0);
	assert_int_equal(finish(t), 0);
}

/* One caller-loop broker closed from a callback (o->close_on); the
 * scenario's pushes follow once it is active. */
static void broker_close_case(struct t *t, struct ctl *s, int close_on,
			      enum synod_broker_state close_state,
			      uint64_t close_version, int image_part,
			      int push_part, int silence)
{
	struct bobs *o = keep(t, sizeof *o);
	static const int32_t isr[3] = {BROKER_ID, 2, 3};
	ctl_init(s, 5);
	s->with_topic = 1;
	if (image_part)
		ctl_set_part(s, BROKER_ID, 1, 1, isr, 3);
	o->close_on = close_on;
	o->close_state = close_state;
	o->close_version = close_version;
	start_broker(t, o, fakectl_address(t->a));
	if (push_part || silence) {
		WAIT_FOR(t->a, o->closed || (synod_broker_state(t->br) ==
					     SYNOD_BROKER_ACTIVE));
		assert_false(o->closed);
		run_for(t, 3 * HB_MS); /* registration fetches are over */
		if (push_part) {
			ctl_set_part(s, BROKER_ID, 1, 1, isr, 3);
			s->version = 6;
			assert_int_equal(fakectl_conn_count(t->a), 1);
			assert_int_equal(push_delta(t->a, s, 5, 6, 0, 1, 0), 0);
		}
		if (silence)
			s->hb_mode = HB_SILENT;
	}
	WAIT_FOR(t->a, o->closed);
	t->br = NULL; /* closed by its callback */
	/* Nothing runs after close; its connection goes away. */
	WAIT_FOR(t->a, fakectl_conn_count(t->a) == 0);
	run_for(t, 2 * HB_MS);
	assert_int_equal(o->after_close, 0);
	assert_int_equal(s->bad, 0);
}

/* Invariant: a broker on the caller's loop may be closed from any of its
 * callbacks (state_changed on registration, on unfencing and on
 * self-fencing; metadata from a fetch answer and from a push;
 * transitions from a full image and from a push): nothing runs after,
 * nothing is used after free, the loop drains. */
static void test_close_caller_loop_broker(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	fakectl_on_request(t->a, ctl_handle, s);
	broker_close_case(t, s, CLOSE_ON_STATE, SYNOD_BROKER_FENCED, 0, 0, 0,
			  0);
	broker_close_case(t, s, CLOSE_ON_STATE, SYNOD_BROKER_ACTIVE, 0, 0, 0,
			  0);
	broker_close_case(t, s, CLOSE_ON_SELF_FENCE, SYNOD_BROKER_FAILED, 0, 0,
			  0, 1);
	broker_close_case(t, s, CLOSE_ON_METADATA, SYNOD_BROKER_FAILED, 0, 0, 0,
			  0);
	broker_close_case(t, s, CLOSE_ON_METADATA, SYNOD_BROKER_FAILED, 6, 0, 1,
			  0);
	broker_close_case(t, s, CLOSE_ON_TRANSITIONS, SYNOD_BROKER_FAILED, 0, 1,
			  0, 0);
	broker_close_case(t, s, CLOSE_ON_TRANSITIONS, SYNOD_BROKER_FAILED, 0, 0,
			  1, 0);
	assert_int_equal(finish(t), 0);
}

static void on_alarm(int sig)
{
	static const char msg[] =
	    "test_broker_lib: a private-loop broker never returned\n";
	(void)sig;
	if (write(2, msg, sizeof msg - 1) < 0) {
		/* nothing to do */
	}
	_exit(1);
}

static void private_loop_case(struct t *t, int close_on,
			      enum synod_broker_state close_state)
{
	struct tfake *tf = keep(t, sizeof *tf);
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	struct synod_broker_config cfg;
	struct synod_broker_callbacks cbs;
	struct synod_broker *b;
	ctl_init(s, 5);
	s->with_topic = 1;
	assert_int_equal(tfake_start(tf, ctl_handle, s), 0);
	t->tf = tf;
	broker_config(&cfg, tf->address);
	broker_callbacks(&cbs, o);
	o->close_on = close_on;
	o->close_state = close_state;
	assert_int_equal(synod_broker_new(NULL, &cfg, &cbs, &b), SYNOD_OK);
	assert_int_equal(synod_broker_start(b), SYNOD_OK);
	/* Guard: a run that never returns kills the binary. */
	signal(SIGALRM, on_alarm);
	alarm(60);
	assert_int_equal(synod_broker_run(b), SYNOD_OK);
	alarm(0);
	/* Freed by run (closed from a callback during it). */
	assert_int_equal(o->closed, 1);
	assert_int_equal(o->after_close, 0);
	t->tf = NULL;
	tfake_stop(tf);
	assert_int_equal(s->bad, 0);
}

/* Invariant: a broker with its private loop closed from its
 * state_changed (or metadata) callback during synod_broker_run() makes
 * run return SYNOD_OK having freed it, with no use after free. */
static void test_close_private_loop_broker(void **state)
{
	struct t *t = *state;
	private_loop_case(t, CLOSE_ON_STATE, SYNOD_BROKER_ACTIVE);
	private_loop_case(t, CLOSE_ON_STATE, SYNOD_BROKER_FENCED);
	private_loop_case(t, CLOSE_ON_METADATA, SYNOD_BROKER_FAILED);
	assert_int_equal(finish(t), 0);
}

/* ==== 8: full images never go back ==== */

/* Invariant: a full image older than the view never replaces it (the
 * versions the broker shows never go back), unless the controller says
 * its history was restored (`restored`): then it does. */
static void test_full_image_never_back(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	struct synod_broker_stats st;
	uint64_t fetches;
	unsigned nv;
	ctl_init(s, 50);
	s->with_topic = 1;
	fakectl_on_request(t->a, ctl_handle, s);
	start_broker(t, o, fakectl_address(t->a));
	wait_active(t, s, 50);
	assert_int_equal(synod_broker_topic_count(t->br), 1);

	/* A gap (60..61) makes it fetch; the answer is a full image at 40
	 * without `restored`. */
	s->version = 40;
	s->with_topic = 0;
	fetches = s->fetches;
	nv = o->n_versions;
	assert_int_equal(fakectl_conn_count(t->a), 1);
	assert_int_equal(push_delta(t->a, s, 60, 61, 0, 0, 0), 0);
	WAIT_FOR(t->a, s->fetches > fetches);
	run_for(t, 300);
	assert_int_equal(synod_broker_metadata_version(t->br), 50);
	assert_int_equal(synod_broker_topic_count(t->br), 1);
	assert_int_equal(o->went_back, 0);
	for (unsigned i = nv; i < o->n_versions; i++)
		assert_true(o->versions[i] >= 50);
	synod_broker_stats(t->br, &st);
	assert_true(st.gaps >= 1);

	/* Now the controller says its history was restored: the older
	 * image replaces the view. */
	s->restored = 1;
	fetches = s->fetches;
	assert_int_equal(push_delta(t->a, s, 70, 71, 0, 0, 0), 0);
	WAIT_FOR(t->a, synod_broker_metadata_version(t->br) == 40);
	assert_true(s->fetches > fetches);
	assert_int_equal(synod_broker_topic_count(t->br), 0);
	assert_true(o->n_versions > nv);
	assert_int_equal(o->versions[o->n_versions - 1], 40);
	assert_int_equal(o->full[o->n_versions - 1], 1);
	assert_int_equal(o->restored[o->n_versions - 1], 1);
	assert_int_equal(o->went_back, 0);
	assert_int_equal(s->bad, 0);
	assert_int_equal(finish(t), 0);
}

/* ==== 9: transitions ==== */

static void push_and_wait(struct t *t, struct ctl *s, uint64_t version,
			  int part, int removed)
{
	s->version = version;
	assert_int_equal(fakectl_conn_count(t->a), 1);
	assert_int_equal(
	    push_delta(t->a, s, version - 1, version, 0, part, removed), 0);
	if (removed)
		s->has_part = 0;
	WAIT_FOR(t->a, synod_broker_metadata_version(t->br) == version);
}

static void check_trans(const struct rec_trans *r, uint64_t version,
			int old_role, int new_role, int32_t leader,
			uint32_t leader_epoch, uint32_t partition_epoch)
{
	assert_int_equal(r->version, version);
	assert_int_equal(r->partition, 0);
	assert_true(r->id_ok);
	assert_true(r->name_ok);
	assert_int_equal(r->old_role, old_role);
	assert_int_equal(r->new_role, new_role);
	assert_int_equal(r->leader, leader);
	assert_int_equal(r->leader_epoch, leader_epoch);
	assert_int_equal(r->partition_epoch, partition_epoch);
}

/* Invariant: the transitions callback reports exactly the leadership
 * changes of this broker (became leader, became follower, a new leader
 * epoch with the role kept, removed), with old and new roles and epochs,
 * in version order; an ISR-only change is none. */
static void test_transitions(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	static const int32_t isr3[3] = {BROKER_ID, 2, 3};
	static const int32_t isr2[2] = {3, BROKER_ID};
	ctl_init(s, 10);
	s->with_topic = 1;
	fakectl_on_request(t->a, ctl_handle, s);
	start_broker(t, o, fakectl_address(t->a));
	wait_active(t, s, 10);
	assert_int_equal(o->n_trans, 0);
	ctl_set_part(s, BROKER_ID, 1, 1, isr3, 3);
	push_and_wait(t, s, 11, 1, 0); /* leader */
	ctl_set_part(s, 2, 2, 2, isr3, 3);
	push_and_wait(t, s, 12, 1, 0); /* follower of 2 */
	ctl_set_part(s, 3, 3, 3, isr3, 3);
	push_and_wait(t, s, 13, 1, 0); /* follower of 3, new epoch */
	ctl_set_part(s, 3, 3, 4, isr2, 2);
	push_and_wait(t, s, 14, 1, 0); /* ISR only */
	assert_int_equal(synod_broker_partition_count(t->br), 1);
	push_and_wait(t, s, 15, 0, 1); /* removed */
	assert_int_equal(synod_broker_partition_count(t->br), 0);
	run_for(t, 2 * HB_MS);
	assert_int_equal(o->n_trans, 4);
	assert_int_equal(o->bad_trans, 0);
	check_trans(&o->trans[0], 11, SYNOD_ROLE_NONE, SYNOD_ROLE_LEADER,
		    BROKER_ID, 1, 1);
	check_trans(&o->trans[1], 12, SYNOD_ROLE_LEADER, SYNOD_ROLE_FOLLOWER, 2,
		    2, 2);
	check_trans(&o->trans[2], 13, SYNOD_ROLE_FOLLOWER, SYNOD_ROLE_FOLLOWER,
		    3, 3, 3);
	check_trans(&o->trans[3], 15, SYNOD_ROLE_FOLLOWER, SYNOD_ROLE_NONE, 3,
		    3, 0);
	assert_int_equal(s->bad, 0);
	assert_int_equal(finish(t), 0);
}

/* ==== 10: DUPLICATE_BROKER_REGISTRATION ==== */

/* Invariant: a registration refused as a duplicate is retried, by
 * default (duplicate_retry_ms 0) for at least the session timeout the
 * refusal names (the old incarnation's session may be expiring), then
 * FAILED; duplicate_retry_ms 1 gives up after the first retry. */
static void test_duplicate_default(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	struct synod_broker_config cfg;
	uint64_t failed_ms;
	const char *msg = NULL;
	ctl_init(s, 5);
	s->dup_register = 1;
	s->session_ms = 400;
	fakectl_on_request(t->a, ctl_handle, s);
	broker_config(&cfg, fakectl_address(t->a));
	start_broker_cfg(t, o, &cfg);
	WAIT_FOR_MS(t->a, 10000,
		    synod_broker_state(t->br) == SYNOD_BROKER_FAILED);
	failed_ms = fakectl_now_ms();
	assert_true(s->first_register_ms != 0);
	assert_true(failed_ms - s->first_register_ms >= 400);
	assert_true(s->registers >= 3);
	assert_int_equal(synod_broker_error(t->br, &msg),
			 SYNOD_EDUPLICATE_BROKER_REGISTRATION);
	assert_non_null(msg);
	close_broker(t);

	ctl_init(s, 5);
	s->dup_register = 1;
	s->session_ms = 400;
	memset(o, 0, sizeof *o);
	cfg.duplicate_retry_ms = 1;
	start_broker_cfg(t, o, &cfg);
	WAIT_FOR(t->a, synod_broker_state(t->br) == SYNOD_BROKER_FAILED);
	assert_true(s->registers >= 1 && s->registers <= 3);
	assert_int_equal(synod_broker_error(t->br, NULL),
			 SYNOD_EDUPLICATE_BROKER_REGISTRATION);
	assert_int_equal(finish(t), 0);
}

/* Invariant: refusals that say the controller has not heard from the
 * other incarnation (other_heard false: a new controller's grace keeps
 * its session, as after a failover) do not count toward giving up: a
 * broker refused so for longer than its retry window (400 ms session +
 * 1 s here) registers once the refusals end, and never FAILS
 * (reliability.md 5.21). */
static void test_duplicate_unheard(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	ctl_init(s, 5);
	s->dup_register = 1;
	s->dup_unheard = 1;
	s->session_ms = 400;
	s->dup_until_ms = fakectl_now_ms() + 3000;
	fakectl_on_request(t->a, ctl_handle, s);
	start_broker(t, o, fakectl_address(t->a));
	WAIT_FOR_MS(t->a, 10000,
		    synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE ||
			synod_broker_state(t->br) == SYNOD_BROKER_FAILED);
	assert_int_equal(synod_broker_state(t->br), SYNOD_BROKER_ACTIVE);
	assert_true(fakectl_now_ms() >= s->dup_until_ms);
	assert_true(s->registers >= 4);
	assert_int_equal(s->bad, 0);
	assert_int_equal(finish(t), 0);
}

/* ==== 11: broker-initiated fence ==== */

static int first_wf_from(const struct ctl *s, unsigned from, int value)
{
	for (unsigned i = from; i < s->n_wf; i++)
		if (s->wf[i] == value)
			return (int)i;
	return -1;
}

/* Invariant: after synod_broker_request_fence(b, 1) every heartbeat the
 * broker sends carries want_fence (the first right away: at most the one
 * in flight before lacks it), until synod_broker_request_fence(b, 0);
 * then none does. The controller's answer decides the state. */
static void test_request_fence(void **state)
{
	struct t *t = *state;
	struct ctl *s = keep(t, sizeof *s);
	struct bobs *o = keep(t, sizeof *o);
	unsigned n0;
	int first;
	uint64_t t0;
	ctl_init(s, 5);
	s->fence_on_want = 1;
	fakectl_on_request(t->a, ctl_handle, s);
	start_broker(t, o, fakectl_address(t->a));
	wait_active(t, s, 5);
	assert_int_equal(first_wf_from(s, 0, 1), -1);

	n0 = s->n_wf;
	t0 = fakectl_now_ms();
	assert_int_equal(synod_broker_request_fence(t->br, 1), SYNOD_OK);
	assert_int_equal(synod_broker_request_fence(t->br, 1), SYNOD_OK);
	WAIT_FOR(t->a, first_wf_from(s, n0, 1) >= 0);
	first = first_wf_from(s, n0, 1);
	print_message("    want_fence heartbeat %llu ms after the request\n",
		      (unsigned long long)(s->wf_ms[first] - t0));
	assert_true((unsigned)first - n0 <= 1);
	WAIT_FOR(t->a, s->n_wf >= (unsigned)first + 6 &&
			   synod_broker_state(t->br) == SYNOD_BROKER_FENCED);
	for (unsigned i = (unsigned)first; i < s->n_wf; i++)
		assert_int_equal(s->wf[i], 1);
	assert_int_equal(synod_broker_fenced(t->br), 1);
	assert_int_equal(synod_broker_self_fenced(t->br), 0);

	n0 = s->n_wf;
	assert_int_equal(synod_broker_request_fence(t->br, 0), SYNOD_OK);
	WAIT_FOR(t->a, first_wf_from(s, n0, 0) >= 0);
	first = first_wf_from(s, n0, 0);
	assert_true((unsigned)first - n0 <= 1);
	WAIT_FOR(t->a, s->n_wf >= (unsigned)first + 6 &&
			   synod_broker_state(t->br) == SYNOD_BROKER_ACTIVE);
	for (unsigned i = (unsigned)first; i < s->n_wf; i++)
		assert_int_equal(s->wf[i], 0);
	assert_int_equal(synod_broker_fenced(t->br), 0);
	assert_int_equal(s->bad, 0);
	assert_int_equal(finish(t), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_self_fence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_fence_clock, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_late_ack_keeps_fence, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_short_session_timeout, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_silent_controller_left, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stale_redirect, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stale_pushed_version, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stale_conn_reset, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_conn_reset, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_legacy_reprobe, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_liveness_counts_bytes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_oversize_frame, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_redirect_storm, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_redirect_keeps_answers, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_drain_ends_on_timeout, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_slow_lookup_then_silent, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_fail_all_ends, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_close_own_loop_call, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_close_own_loop_run, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_close_caller_loop_client,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_caller_loop_broker,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_private_loop_broker,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_image_never_back, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_unheard, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_default, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_request_fence, setup,
					    teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	/* SYNOD_TEST_FILTER=test_name (a glob) runs only those tests. */
	if (getenv("SYNOD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("SYNOD_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
