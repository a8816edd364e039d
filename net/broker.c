/* net/broker.c - the broker side of the Synod protocol (see synod/broker.h).
 *
 * Ownership: a struct synod_broker owns its config copies, one synod_client,
 * two timers and its metadata view (net/view.h); the caller owns the struct
 * until synod_broker_close(). The main timer drives whatever comes next: a
 * registration retry (epoch 0) or the next heartbeat (epoch set). At most
 * one registration or heartbeat is in flight at any time, so every answer
 * arrives in a known context (b->inflight says which). Independently of
 * it, at most one METADATA_FETCH is in flight (b->fetch_inflight; the
 * second timer retries failed fetches), and any number of ALTER_PARTITION
 * requests (counted).
 *
 * Metadata: pushes arrive through the client's push callback; each is
 * applied, ignored or turned into a fetch as view_check() says. While a
 * fetch's first page is awaited every push is ignored: the answer covers
 * them (it is computed after they were sent, on the same connection, or
 * the next push shows a gap). While an answer in pages is gathered, the
 * pushes that continue its version are held and applied after its pages
 * (see "Staged answers" in struct synod_broker); others are ignored.
 *
 * The struct is freed only from the timers' close callbacks (or, on a
 * private loop, at the end of close/run), never inside a client or state
 * callback, so callbacks may close the broker re-entrantly: every path that
 * calls out checks b->closing afterwards.
 */
#include "synod/broker.h"
#include "broker_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "random.h"
#include "transitions.h"
#include "view.h"

#define DEFAULT_REQUEST_TIMEOUT_MS 5000
#define DEFAULT_HEARTBEAT_MS 2000 /* controller gave none */
#define MIN_REQUEST_TIMEOUT_MS 100
#define REGISTER_BACKOFF_MIN_MS 100
#define REGISTER_BACKOFF_MAX_MS 2000
#define FETCH_BACKOFF_MIN_MS 100
#define FETCH_BACKOFF_MAX_MS 2000
/* Paged answers staged before a commit (see struct synod_broker). */
#define STAGE_ROUNDS_MAX 4
/* broker.session.timeout.ms's default: how long a refused duplicate
 * registration is retried when neither the config nor the controller
 * says. */
#define DEFAULT_SESSION_MS 9000

enum { REQ_NONE = 0, REQ_REGISTER, REQ_HEARTBEAT };

/* One page of a paged METADATA_FETCH answer, kept packed until the answer
 * is applied (see "Staged answers" below). */
struct staged_page {
	uint8_t *body;
	size_t len;
};

struct synod_broker {
	uv_loop_t *loop;
	uv_loop_t own_loop;
	int owns_loop;
	int running; /* inside synod_broker_run */
	int closing;
	int started;

	/* configuration (owned copies) */
	char *bootstrap;
	char *cluster_id;
	char *tls_ca, *tls_cert, *tls_key; /* NULL: plaintext */
	char *rack;
	int32_t broker_id;
	struct synod_endpoint *endpoints;
	unsigned n_endpoints;
	/* The registration's endpoints, built once from `endpoints`. */
	Synod__Wire__Endpoint *wire_eps;
	Synod__Wire__Endpoint **wire_epp;
	unsigned cfg_heartbeat_ms;
	unsigned request_timeout_ms;  /* the client's (maybe lowered) */
	size_t max_frame;	      /* client's (0: its default) */
	unsigned liveness_timeout_ms; /* client's (0: its default) */
	int other_brokers;	      /* fetches ask for with_brokers */
	int all_partitions;	      /* fetches ask for all_partitions */
	char *kafka_address;	      /* NULL: no Kafka listener */
	size_t kafka_max_request;
	struct bk *kafka;	     /* the listener (broker_kafka.c) */
	unsigned duplicate_retry_ms; /* 0: one session timeout */
	struct synod_broker_callbacks cbs;
	char incarnation[37];
	uint64_t rng;

	struct synod_client *client;
	uv_timer_t timer;
	uv_timer_t fetch_timer; /* fetch retries */
	uv_timer_t fence_timer; /* self-fencing at the session's end */
	int open_timers;

	enum synod_broker_state state;
	int inflight;	  /* REQ_* */
	uint64_t sent_ns; /* uv_hrtime() when the request in flight was sent */
	/* Send time (uv_hrtime) of the last heartbeat the controller
	 * acknowledged (or of the registration that granted the epoch); the
	 * session the controller keeps ends no earlier than this plus the
	 * session timeout. 0: none. */
	uint64_t ack_sent_ns;
	int self_fenced; /* fenced by the library: no acknowledgement */
	int want_fence;	 /* synod_broker_request_fence(b, 1) */
	int want_shutdown;
	int heartbeat_asap; /* send a heartbeat when the answer arrives */
	int followup_done;  /* the one fast catch-up heartbeat was sent */
	int fenced;
	uint64_t epoch;
	uint64_t controller_version;
	uint64_t reported_version; /* in the last heartbeat sent */
	int had_answer;		   /* some request was answered */
	unsigned heartbeat_ms;	   /* in use; 0 before the first answer */
	unsigned session_ms;
	uint64_t next_due; /* loop time of the next heartbeat */
	unsigned backoff_ms;
	int dup_seen;
	uint64_t dup_deadline;
	uint64_t last_rtt_us;
	struct synod_broker_stats stats;
	int err;
	char errmsg[256];

	/* metadata */
	struct view view; /* view.version: the applied version */
	int legacy;	  /* controller without METADATA_FETCH */
	/* Client generation (synod_client_generation) of the connection the
	 * controller pushes on as far as the broker knows: the last fetch
	 * answered or heartbeat that checked it. Another one means pushes may
	 * have been lost: fetch. */
	uint64_t synced_gen;
	int fetch_inflight;
	uint64_t fetch_epoch; /* epoch of the fetch in flight */
	uint64_t fetch_since; /* its since_version */
	int fetch_again;      /* fetch once more after the one in flight */
	int fetch_after_hb;   /* fetch after the next heartbeat answer */
	unsigned fetch_backoff_ms;
	/* A fetch answered in pages: the cursor of the next page (len 0: the
	 * next fetch starts anew). */
	uint8_t fetch_cursor[64];
	size_t fetch_cursor_len;
	/* Staged answers. The controller reads each page of a paged answer
	 * when it is asked for, so the pages of one answer hold states from
	 * different versions (brokers from the first page's, a partition
	 * from a later page's), and a view with only some pages applied
	 * mixes them with older states: a partition still led by a broker
	 * the first page says is fenced. So pages are kept here (packed
	 * answers, in order) and the view is left alone. Once an answer's
	 * last page is in: when every page was read at the answer's version
	 * (read_version), it is one version; otherwise the changes since
	 * that version are fetched, until an answer is one version (one
	 * page always is) or after STAGE_ROUNDS_MAX rounds. Then every
	 * staged page is applied to a copy of the view, which replaces it
	 * at once (commit_stage()). */
	struct staged_page *stage;
	size_t n_stage, cap_stage;
	uint64_t stage_version; /* the version the staged pages reach */
	unsigned stage_rounds;	/* answers in pages among them */
	int stage_mixed; /* a page of this answer was read after its version */
	int stage_news;	 /* a staged page changes something */
	int stage_restored; /* a staged page is of another history */
	/* Pushes that arrived while an answer's later pages were asked for
	 * and continue its version without a gap (the controller moves its
	 * cursor from the first page on): applied after the pages, they
	 * bring every object to the state of the last one, so an answer
	 * read across changes needs no fetch after it. held_broken: a push
	 * that did not continue them (lost, dropped or a nudge), or another
	 * connection (held_gen). */
	struct staged_page *held;
	size_t n_held, cap_held;
	uint64_t held_version;
	uint64_t held_gen;
	int held_broken;
	unsigned alters_inflight;
};

static const char *const state_names[] = {
    [SYNOD_BROKER_REGISTERING] = "registering",
    [SYNOD_BROKER_FENCED] = "fenced",
    [SYNOD_BROKER_ACTIVE] = "active",
    [SYNOD_BROKER_SHUTTING_DOWN] = "shutting-down",
    [SYNOD_BROKER_STOPPED] = "stopped",
    [SYNOD_BROKER_FAILED] = "failed",
};

const char *synod_broker_state_name(enum synod_broker_state s)
{
	if ((unsigned)s >= sizeof state_names / sizeof state_names[0] ||
	    state_names[s] == NULL)
		return "unknown";
	return state_names[s];
}

/* ---- helpers ---- */

static void seterr(struct synod_broker *b, int code, const char *fmt, ...)
{
	va_list ap;
	b->err = code;
	va_start(ap, fmt);
	vsnprintf(b->errmsg, sizeof b->errmsg, fmt, ap);
	va_end(ap);
}

/* xorshift64*: per-broker jitter, no shared state. */
static uint64_t rnd(struct synod_broker *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi] (hi >= lo). */
static uint64_t rnd_between(struct synod_broker *b, uint64_t lo, uint64_t hi)
{
	return lo + rnd(b) % (hi - lo + 1);
}

static int make_incarnation(struct synod_broker *b)
{
	uint8_t r[24];
	if (net_random(r, sizeof r) != 0)
		return -1;
	net_uuid_text(r, b->incarnation);
	memcpy(&b->rng, r + 16, sizeof b->rng);
	if (b->rng == 0)
		b->rng = 0x9E3779B97F4A7C15ull;
	return 0;
}

static void on_push(void *arg, uint16_t api, const uint8_t *body, size_t len);

static int make_client(struct synod_broker *b, struct synod_client **out)
{
	struct synod_client_config cfg = {0};
	int rv;
	cfg.bootstrap = b->bootstrap;
	cfg.cluster_id = b->cluster_id;
	cfg.tls_ca_file = b->tls_ca;
	cfg.tls_cert_file = b->tls_cert;
	cfg.tls_key_file = b->tls_key;
	cfg.request_timeout_ms = b->request_timeout_ms;
	cfg.max_frame = b->max_frame;
	cfg.liveness_timeout_ms = b->liveness_timeout_ms;
	if (b->request_timeout_ms < 1000)
		cfg.connect_timeout_ms = b->request_timeout_ms;
	rv = synod_client_new(b->loop, &cfg, out);
	if (rv == SYNOD_OK)
		synod_client_on_push(*out, on_push, b);
	return rv;
}

static void set_state(struct synod_broker *b, enum synod_broker_state s)
{
	enum synod_broker_state old = b->state;
	if (old == s)
		return;
	b->state = s;
	if (b->cbs.state_changed)
		b->cbs.state_changed(b->cbs.arg, b, old, s);
}

static int finished(const struct synod_broker *b)
{
	return b->state == SYNOD_BROKER_STOPPED ||
	       b->state == SYNOD_BROKER_FAILED;
}

/* FAILED, with the error seterr() recorded last. */
static void fail(struct synod_broker *b)
{
	uv_timer_stop(&b->timer);
	set_state(b, SYNOD_BROKER_FAILED);
}

static void stop(struct synod_broker *b)
{
	uv_timer_stop(&b->timer);
	set_state(b, SYNOD_BROKER_STOPPED);
}

static void on_timer(uv_timer_t *t);

static void arm(struct synod_broker *b, uint64_t delay_ms)
{
	uv_timer_start(&b->timer, on_timer, delay_ms, 0);
}

/* Never more than the view holds: the controller unfences a broker for
 * the version it reports. */
static uint64_t version_to_report(const struct synod_broker *b)
{
	/* An image of another history on its way: the view will go back. */
	if (b->stage_restored)
		return 0;
	return b->view.version;
}

/* ---- self-fencing ----
 *
 * The controller fences a broker when no heartbeat with its epoch arrived
 * for the session timeout, counted from the heartbeat's arrival. The
 * broker counts from the send time of the last heartbeat the controller
 * acknowledged, which is no later than its arrival: its own deadline
 * comes first (up to clock rate differences between the two machines'
 * monotonic clocks, parts per million). */

static uint64_t lease_end_ns(const struct synod_broker *b)
{
	if (b->epoch == 0 || b->session_ms == 0 || b->ack_sent_ns == 0)
		return 0;
	return b->ack_sent_ns + (uint64_t)b->session_ms * 1000000u;
}

static int lease_expired(const struct synod_broker *b)
{
	uint64_t end = lease_end_ns(b);
	return end != 0 && uv_hrtime() >= end;
}

static void on_fence_timer(uv_timer_t *t);

static void self_fence(struct synod_broker *b)
{
	if (b->self_fenced || b->epoch == 0)
		return;
	b->self_fenced = 1;
	b->fenced = 1;
	b->stats.self_fences++;
	seterr(b, SYNOD_ETIMEOUT,
	       "no heartbeat acknowledged for the session timeout (%u ms): "
	       "fenced until the controller answers",
	       b->session_ms);
	if (b->state == SYNOD_BROKER_ACTIVE)
		set_state(b, SYNOD_BROKER_FENCED);
}

/* (Re)arm the self-fencing timer for the current acknowledgement. */
static void arm_lease(struct synod_broker *b)
{
	uint64_t end = lease_end_ns(b), now = uv_hrtime();
	if (end == 0) {
		uv_timer_stop(&b->fence_timer);
		return;
	}
	if (now >= end) {
		uv_timer_stop(&b->fence_timer);
		self_fence(b);
		return;
	}
	/* Loop time may lag the clock: round up, and check the clock again
	 * when the timer fires. */
	uv_timer_start(&b->fence_timer, on_fence_timer,
		       (end - now + 999999u) / 1000000u, 0);
}

static void on_fence_timer(uv_timer_t *t)
{
	struct synod_broker *b = t->data;
	if (b->closing || finished(b))
		return;
	arm_lease(b);
}

static void start_fetch(struct synod_broker *b);
static void stage_drop(struct synod_broker *b);
static void maybe_catchup(struct synod_broker *b);

/* ---- registration ---- */

static void on_register(void *arg, int status, const uint8_t *body, size_t len);

static void schedule_register_retry(struct synod_broker *b)
{
	unsigned d = b->backoff_ms;
	/* Jitter in [d/2, d]: brokers refused together spread out. */
	arm(b, rnd_between(b, d / 2, d));
	b->backoff_ms =
	    d * 2 > REGISTER_BACKOFF_MAX_MS ? REGISTER_BACKOFF_MAX_MS : d * 2;
}

static int send_register(struct synod_broker *b)
{
	Synod__Wire__BrokerRegisterRequest req =
	    SYNOD__WIRE__BROKER_REGISTER_REQUEST__INIT;
	int rv;
	req.cluster_id = b->cluster_id;
	req.broker_id = b->broker_id;
	req.incarnation_id = b->incarnation;
	req.rack = b->rack;
	req.n_endpoints = b->n_endpoints;
	req.endpoints = b->wire_epp;
	/* Before the send, which may write at once: the session is counted
	 * from no later than the controller's receipt (lease_end_ns). */
	b->sent_ns = uv_hrtime();
	rv = synod_client_send(b->client, SYNOD_API_BROKER_REGISTER, &req.base,
			       1, on_register, b);
	if (rv != SYNOD_OK) {
		seterr(b, rv, "register: %s", synod_strerror(rv));
		return rv;
	}
	b->inflight = REQ_REGISTER;
	b->stats.registrations++;
	return SYNOD_OK;
}

/* Register now, or after a backoff when the send itself failed. */
static void do_register(struct synod_broker *b)
{
	if (send_register(b) != SYNOD_OK)
		schedule_register_retry(b);
}

/* Begin a new registration (after the epoch went stale). */
static void reregister(struct synod_broker *b)
{
	uv_timer_stop(&b->timer);
	uv_timer_stop(&b->fetch_timer); /* the registration fetches */
	uv_timer_stop(&b->fence_timer);
	b->epoch = 0;
	b->fenced = 1;
	b->self_fenced = 0;
	b->ack_sent_ns = 0;
	b->followup_done = 0;
	b->fetch_after_hb = 0;
	b->backoff_ms = REGISTER_BACKOFF_MIN_MS;
	set_state(b, SYNOD_BROKER_REGISTERING);
	if (b->closing || finished(b))
		return;
	do_register(b);
}

static int send_heartbeat(struct synod_broker *b);

static void registered(struct synod_broker *b,
		       const Synod__Wire__BrokerRegisterResponse *r)
{
	uint64_t now = uv_now(b->loop);
	b->epoch = r->broker_epoch;
	b->fenced = 1;
	b->self_fenced = 0;
	b->ack_sent_ns = b->sent_ns; /* the session starts at registration */
	b->followup_done = 0;
	b->dup_seen = 0;
	b->had_answer = 1;
	b->legacy = 0; /* try METADATA_FETCH again: maybe a newer node */
	b->backoff_ms = REGISTER_BACKOFF_MIN_MS;
	if (r->has_session_timeout_ms && r->session_timeout_ms > 0) {
		b->session_ms = r->session_timeout_ms;
		if (b->request_timeout_ms >= b->session_ms) {
			unsigned t = b->session_ms / 2;
			b->request_timeout_ms = t < MIN_REQUEST_TIMEOUT_MS
						    ? MIN_REQUEST_TIMEOUT_MS
						    : t;
			synod_client_set_request_timeout(b->client,
							 b->request_timeout_ms);
		}
	}
	if (b->cfg_heartbeat_ms)
		b->heartbeat_ms = b->cfg_heartbeat_ms;
	else if (r->has_heartbeat_interval_ms && r->heartbeat_interval_ms > 0)
		b->heartbeat_ms = r->heartbeat_interval_ms;
	else if (b->heartbeat_ms == 0)
		b->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
	arm_lease(b);
	/* First heartbeat at once, the next at a random point of the
	 * interval: brokers registered together do not stay in step. */
	b->next_due = now + rnd_between(b, 1, b->heartbeat_ms);
	arm(b, b->next_due - now);
	/* Catch up from the applied version at once (the controller will
	 * not unfence a broker behind its own registration). A fetch still
	 * in flight was sent for the old epoch: fetch again after it. */
	start_fetch(b);
	if (b->state != SYNOD_BROKER_SHUTTING_DOWN) {
		set_state(b, SYNOD_BROKER_FENCED);
		/* The callback may have closed or shut down (which sent a
		 * heartbeat already). */
		if (b->closing || finished(b) || b->inflight)
			return;
	}
	send_heartbeat(b);
}

static int fatal_register_refusal(int code)
{
	return code == SYNOD_ECLUSTER_ID_MISMATCH ||
	       code == SYNOD_EINVALID_REQUEST ||
	       code == SYNOD_EINVALID_ARGUMENT ||
	       code == SYNOD_EUNSUPPORTED_VERSION;
}

static void on_register(void *arg, int status, const uint8_t *body, size_t len)
{
	struct synod_broker *b = arg;
	Synod__Wire__BrokerRegisterResponse *r = NULL;
	int code, unheard;
	b->inflight = REQ_NONE;
	if (b->closing || finished(b))
		return;
	if (status == SYNOD_OK) {
		r = synod__wire__broker_register_response__unpack(NULL, len,
								  body);
		if (r == NULL || r->status == NULL)
			status = SYNOD_EINVALID_REQUEST;
	}
	if (status != SYNOD_OK) {
		/* Client-side: TIMEOUT, CONNECTION, the handshake's
		 * CLUSTER_ID_MISMATCH, or an undecodable answer. */
		if (r)
			synod__wire__broker_register_response__free_unpacked(
			    r, NULL);
		seterr(b, status, "register: %s (%s)", synod_strerror(status),
		       synod_client_errmsg(b->client));
		if (status == SYNOD_ECLUSTER_ID_MISMATCH) {
			fail(b);
			return;
		}
		if (b->state == SYNOD_BROKER_SHUTTING_DOWN) {
			stop(b);
			return;
		}
		schedule_register_retry(b);
		return;
	}
	code = r->status->code;
	if (code == SYNOD_EDUPLICATE_BROKER_REGISTRATION &&
	    r->has_session_timeout_ms && r->session_timeout_ms > 0)
		b->session_ms = r->session_timeout_ms;
	/* The controller has not heard from the other incarnation: only a
	 * new controller's grace keeps its session (a takeover gives every
	 * registered broker a fresh one), no sign of a second live
	 * process. */
	unheard = code == SYNOD_EDUPLICATE_BROKER_REGISTRATION &&
		  r->has_other_heard && !r->other_heard;
	if (code == SYNOD_OK &&
	    (!r->has_broker_epoch || r->broker_epoch == 0)) {
		/* Cannot heartbeat without an epoch: ask again. */
		synod__wire__broker_register_response__free_unpacked(r, NULL);
		seterr(b, SYNOD_EINVALID_REQUEST,
		       "register: answer without epoch");
		schedule_register_retry(b);
		return;
	}
	if (code == SYNOD_OK) {
		registered(b, r);
		synod__wire__broker_register_response__free_unpacked(r, NULL);
		return;
	}
	seterr(b, code, "register refused: %s%s%s", synod_error_name(code),
	       r->status->message ? ": " : "",
	       r->status->message ? r->status->message : "");
	synod__wire__broker_register_response__free_unpacked(r, NULL);
	if (fatal_register_refusal(code)) {
		fail(b);
		return;
	}
	if (b->state == SYNOD_BROKER_SHUTTING_DOWN) {
		stop(b);
		return;
	}
	if (code == SYNOD_EDUPLICATE_BROKER_REGISTRATION && unheard) {
		/* Not counted: the window starts at the first refusal that
		 * names a live incarnation the controller heard from. That
		 * grace ends within one session timeout (or the other
		 * incarnation heartbeats, and then it counts). */
		b->dup_seen = 0;
		if (b->backoff_ms > 1000)
			b->backoff_ms = 1000;
	} else if (code == SYNOD_EDUPLICATE_BROKER_REGISTRATION) {
		uint64_t now = uv_now(b->loop);
		if (!b->dup_seen) {
			/* Default: one session timeout (the old incarnation's
			 * session ends within it), plus a second for the
			 * controller's fencing tick and our retry spacing. */
			uint64_t w = b->duplicate_retry_ms;
			if (w == 0)
				w = (b->session_ms ? b->session_ms
						   : DEFAULT_SESSION_MS) +
				    1000u;
			b->dup_seen = 1;
			b->dup_deadline = now + w;
		}
		if (now >= b->dup_deadline) {
			fail(b);
			return;
		}
		/* Retry at most every second: the old incarnation's session
		 * expires on the controller's clock, not ours. */
		if (b->backoff_ms > 1000)
			b->backoff_ms = 1000;
	}
	schedule_register_retry(b);
}

/* ---- heartbeats ---- */

static void on_heartbeat(void *arg, int status, const uint8_t *body,
			 size_t len);

static int send_heartbeat(struct synod_broker *b)
{
	Synod__Wire__BrokerHeartbeatRequest req =
	    SYNOD__WIRE__BROKER_HEARTBEAT_REQUEST__INIT;
	int rv;
	if (b->inflight) {
		b->stats.heartbeats_skipped++;
		return SYNOD_EBUSY;
	}
	/* The connection went down since the last answer: pushes sent on it
	 * may be lost. Check once this heartbeat has told the controller
	 * where to push now. */
	if (b->had_answer && synod_client_peer(b->client) == NULL)
		b->fetch_after_hb = 1;
	req.broker_id = b->broker_id;
	req.broker_epoch = b->epoch;
	req.metadata_version = version_to_report(b);
	if (b->want_shutdown) {
		req.has_want_shutdown = 1;
		req.want_shutdown = 1;
	}
	if (b->want_fence) {
		req.has_want_fence = 1;
		req.want_fence = 1;
	}
	/* What pushes must carry: a controller that took over learns it
	 * here before it pushes on this connection. */
	req.has_with_brokers = 1;
	req.with_brokers = b->other_brokers != 0;
	req.has_all_partitions = 1;
	req.all_partitions = b->all_partitions != 0;
	/* Before the send, as in send_register. */
	b->sent_ns = uv_hrtime();
	rv = synod_client_send(b->client, SYNOD_API_BROKER_HEARTBEAT, &req.base,
			       1, on_heartbeat, b);
	if (rv != SYNOD_OK) {
		seterr(b, rv, "heartbeat: %s", synod_strerror(rv));
		b->stats.heartbeats_failed++;
		return rv;
	}
	b->inflight = REQ_HEARTBEAT;
	b->reported_version = req.metadata_version;
	b->stats.heartbeats++;
	return SYNOD_OK;
}

static void on_timer(uv_timer_t *t)
{
	struct synod_broker *b = t->data;
	uint64_t now;
	if (b->closing || finished(b))
		return;
	if (b->epoch == 0) {
		/* A registration retry. */
		if (!b->inflight)
			do_register(b);
		return;
	}
	now = uv_now(b->loop);
	b->next_due += b->heartbeat_ms;
	if (b->next_due <= now)
		b->next_due = now + b->heartbeat_ms;
	arm(b, b->next_due - now);
	send_heartbeat(b);
}

/* While FENCED: send one heartbeat at once when the broker caught up with
 * its registration since it last reported (or, with an old controller,
 * when the controller's version is newer than the one reported), instead
 * of waiting for the next interval. */
static void maybe_catchup(struct synod_broker *b)
{
	int need;
	if (b->closing || b->state != SYNOD_BROKER_FENCED || b->epoch == 0)
		return;
	need = !b->legacy && b->view.version >= b->epoch &&
	       b->reported_version < b->epoch;
	if (!need)
		return;
	if (b->inflight == REQ_HEARTBEAT) {
		b->heartbeat_asap = 1; /* right after its answer */
		return;
	}
	if (b->inflight)
		return;
	b->followup_done = 1;
	send_heartbeat(b);
}

static void heartbeat_answered(struct synod_broker *b,
			       const Synod__Wire__BrokerHeartbeatResponse *r)
{
	unsigned iv;
	uint64_t gen = synod_client_generation(b->client);
	b->stats.heartbeats_ok++;
	b->had_answer = 1;
	b->last_rtt_us = (uv_hrtime() - b->sent_ns) / 1000u;
	b->ack_sent_ns = b->sent_ns;
	if (r->has_metadata_version)
		b->controller_version = r->metadata_version;
	if (r->has_is_fenced)
		b->fenced = r->is_fenced;
	if (lease_expired(b)) {
		/* Acknowledged too late: the heartbeat was sent a session
		 * ago, the controller may have ended the session already.
		 * Still fenced (counted once). */
		if (!b->self_fenced)
			self_fence(b);
		b->fenced = 1;
		if (b->closing || finished(b))
			return;
	} else {
		b->self_fenced = 0;
	}
	arm_lease(b);
	/* No silent staleness: a connection the broker did not sync on
	 * (a reconnect or redirect inside a request, a new controller) may
	 * have lost pushes, and a controller that pushed beyond the view
	 * says so: fetch. A new connection may also reach a newer
	 * controller: probe METADATA_FETCH again. */
	if (gen != b->synced_gen && !b->fetch_inflight) {
		/* (A fetch in flight syncs when it is answered: its answer
		 * comes on this connection or a later one.) */
		b->synced_gen = gen;
		b->legacy = 0;
		b->fetch_after_hb = 1;
	} else if (r->has_pushed_version &&
		   r->pushed_version > b->view.version && !b->fetch_inflight &&
		   b->fetch_cursor_len == 0 && b->n_stage == 0) {
		b->stats.gaps++;
		b->fetch_after_hb = 1;
	}
	iv = b->cfg_heartbeat_ms;
	if (iv == 0 && r->has_heartbeat_interval_ms &&
	    r->heartbeat_interval_ms > 0)
		iv = r->heartbeat_interval_ms;
	if (iv && iv != b->heartbeat_ms) {
		uint64_t now = uv_now(b->loop);
		b->heartbeat_ms = iv;
		b->next_due = now + iv;
		arm(b, iv);
	}
	if (b->state != SYNOD_BROKER_SHUTTING_DOWN) {
		set_state(b, b->fenced ? SYNOD_BROKER_FENCED
				       : SYNOD_BROKER_ACTIVE);
	} else if (b->want_shutdown && r->has_should_shutdown &&
		   r->should_shutdown) {
		b->heartbeat_asap = 0;
		stop(b);
		return;
	}
	/* A broker shutting down leads until the controller has moved its
	 * leaders: its view is kept current the same way. */
	if (b->closing || finished(b))
		return;
	if (b->fetch_after_hb) {
		b->fetch_after_hb = 0;
		start_fetch(b);
	}
	if (b->heartbeat_asap) {
		b->heartbeat_asap = 0;
		send_heartbeat(b);
		return;
	}
	maybe_catchup(b);
}

static void on_heartbeat(void *arg, int status, const uint8_t *body, size_t len)
{
	struct synod_broker *b = arg;
	Synod__Wire__BrokerHeartbeatResponse *r = NULL;
	int code;
	b->inflight = REQ_NONE;
	if (b->closing || finished(b))
		return;
	if (status == SYNOD_OK) {
		r = synod__wire__broker_heartbeat_response__unpack(NULL, len,
								   body);
		if (r == NULL || r->status == NULL)
			status = SYNOD_EINVALID_REQUEST;
	}
	if (status != SYNOD_OK) {
		if (r)
			synod__wire__broker_heartbeat_response__free_unpacked(
			    r, NULL);
		b->stats.heartbeats_failed++;
		seterr(b, status, "heartbeat: %s (%s)", synod_strerror(status),
		       synod_client_errmsg(b->client));
		if (status == SYNOD_ECLUSTER_ID_MISMATCH) {
			fail(b);
			return;
		}
		/* The connection (maybe the controller) changed: pushes may
		 * have been lost. */
		b->fetch_after_hb = 1;
		if (b->heartbeat_asap) {
			b->heartbeat_asap = 0;
			send_heartbeat(b);
		}
		return;
	}
	code = r->status->code;
	if (code == SYNOD_OK) {
		heartbeat_answered(b, r);
		synod__wire__broker_heartbeat_response__free_unpacked(r, NULL);
		return;
	}
	b->stats.heartbeats_failed++;
	seterr(b, code, "heartbeat refused: %s%s%s", synod_error_name(code),
	       r->status->message ? ": " : "",
	       r->status->message ? r->status->message : "");
	synod__wire__broker_heartbeat_response__free_unpacked(r, NULL);
	switch (code) {
	case SYNOD_ECLUSTER_ID_MISMATCH:
		fail(b);
		return;
	case SYNOD_ESTALE_BROKER_EPOCH:
	case SYNOD_EUNKNOWN_BROKER:
		b->heartbeat_asap = 0;
		if (b->state == SYNOD_BROKER_SHUTTING_DOWN)
			stop(b); /* nothing left to hand over */
		else
			reregister(b);
		return;
	default:
		/* NOT_CONTROLLER after the client's retries, UNAVAILABLE,
		 * anything unexpected: the next heartbeat is on schedule. A
		 * new controller may not have our pushes: check after it. */
		b->fetch_after_hb = 1;
		if (b->heartbeat_asap) {
			b->heartbeat_asap = 0;
			send_heartbeat(b);
		}
		return;
	}
}

/* ---- metadata ---- */

static int delta_has_content(const Synod__Wire__MetadataDelta *d)
{
	return d->n_topics > 0 || d->n_partitions > 0 || d->n_removed > 0 ||
	       d->n_brokers > 0 || (d->has_all_brokers && d->all_brokers);
}

static void report_transitions(struct synod_broker *b, struct trans_set *ts)
{
	if (ts->failed) {
		seterr(b, SYNOD_ENOMEM,
		       "out of memory computing leadership transitions at "
		       "%llu: not reported",
		       (unsigned long long)b->view.version);
		return;
	}
	if (ts->n_out > 0 && b->cbs.transitions && !b->closing)
		b->cbs.transitions(b->cbs.arg, b, b->view.version, ts->out,
				   ts->n_out);
}

/* The transitions of a view that replaced `old` whole (a full image, or
 * staged pages), compared partition by partition. */
static void report_replacement(struct synod_broker *b, const struct view *old)
{
	struct trans_set ts;
	trans_init(&ts, b->broker_id);
	if (trans_before_view(&ts, old) == SYNOD_OK &&
	    trans_add_new(&ts, old, &b->view) == SYNOD_OK)
		trans_after(&ts, &b->view);
	report_transitions(b, &ts);
	trans_free(&ts);
}

/* Apply d (view_check said VIEW_APPLY) and report it. Returns SYNOD_OK,
 * SYNOD_EINVALID_REQUEST (refused, nothing changed) or SYNOD_ENOMEM (the
 * view is empty at version 0 now). The callbacks may close the broker. */
static int apply_delta(struct synod_broker *b,
		       const Synod__Wire__MetadataDelta *d)
{
	uint64_t before = b->view.version;
	int full = d->has_full && d->full;
	int track = b->cbs.transitions != NULL;
	struct view old, nv;
	struct trans_set ts;
	int rv;
	trans_init(&ts, b->broker_id);
	view_init(&old);
	if (track && full) {
		/* Into a new view, compared whole with the one it replaces. */
		view_init(&nv);
		rv = view_apply(&nv, d);
		if (rv == SYNOD_OK) {
			old = b->view;
			b->view = nv;
		} else if (rv == SYNOD_ENOMEM) {
			view_free(&b->view);
		}
	} else {
		if (track)
			trans_before_delta(&ts, &b->view, d);
		rv = view_apply(&b->view, d);
	}
	if (rv != SYNOD_OK) {
		trans_free(&ts);
		seterr(b, rv, "metadata %llu..%llu: %s",
		       (unsigned long long)d->prev_version,
		       (unsigned long long)d->version,
		       rv == SYNOD_ENOMEM ? "out of memory, view dropped"
					  : "malformed delta");
		return rv;
	}
	if (full)
		b->stats.full_images++;
	if (b->cbs.metadata &&
	    (full || d->version != before || delta_has_content(d)))
		b->cbs.metadata(b->cbs.arg, b, d);
	if (track && !b->closing && full) {
		report_replacement(b, &old);
	} else if (track && !b->closing) {
		trans_after(&ts, &b->view);
		report_transitions(b, &ts);
	}
	trans_free(&ts);
	view_free(&old);
	return SYNOD_OK;
}

static void on_fetch(void *arg, int status, const uint8_t *body, size_t len);
static void on_fetch_timer(uv_timer_t *t);

static void schedule_fetch_retry(struct synod_broker *b)
{
	unsigned d = b->fetch_backoff_ms;
	uv_timer_start(&b->fetch_timer, on_fetch_timer,
		       rnd_between(b, d / 2, d), 0);
	b->fetch_backoff_ms =
	    d * 2 > FETCH_BACKOFF_MAX_MS ? FETCH_BACKOFF_MAX_MS : d * 2;
}

/* Fetch the changes since the applied version now (or once the fetch in
 * flight is answered). Nothing before an epoch (the registration fetches)
 * or when the controller has no METADATA_FETCH. */
static void start_fetch(struct synod_broker *b)
{
	Synod__Wire__MetadataFetchRequest req =
	    SYNOD__WIRE__METADATA_FETCH_REQUEST__INIT;
	int rv;
	if (b->closing || finished(b) || b->legacy || b->epoch == 0)
		return;
	if (b->fetch_inflight) {
		b->fetch_again = 1;
		return;
	}
	uv_timer_stop(&b->fetch_timer);
	if (b->fetch_epoch != b->epoch &&
	    (b->fetch_cursor_len > 0 || b->n_stage > 0)) {
		b->fetch_cursor_len = 0; /* pages of an old registration */
		stage_drop(b);
	}
	req.broker_id = b->broker_id;
	req.broker_epoch = b->epoch;
	req.since_version = b->fetch_cursor_len > 0 ? b->fetch_since
			    : b->n_stage > 0	    ? b->stage_version
						    : b->view.version;
	req.has_pages = 1;
	req.pages = 1;
	if (b->other_brokers) {
		req.has_with_brokers = 1;
		req.with_brokers = 1;
	}
	if (b->all_partitions) {
		req.has_all_partitions = 1;
		req.all_partitions = 1;
	}
	if (b->fetch_cursor_len > 0) {
		req.has_cursor = 1;
		req.cursor.data = b->fetch_cursor;
		req.cursor.len = b->fetch_cursor_len;
	}
	rv = synod_client_send(b->client, SYNOD_API_METADATA_FETCH, &req.base,
			       1, on_fetch, b);
	if (rv != SYNOD_OK) {
		seterr(b, rv, "metadata fetch: %s", synod_strerror(rv));
		b->stats.fetches_failed++;
		schedule_fetch_retry(b);
		return;
	}
	b->fetch_inflight = 1;
	b->fetch_epoch = b->epoch;
	b->fetch_since = req.since_version;
	b->stats.fetches++;
}

/* A gap: fetch, unless a retry is already scheduled (backoff holds). */
static void fetch_for_gap(struct synod_broker *b)
{
	if (!uv_is_active((uv_handle_t *)&b->fetch_timer))
		start_fetch(b);
}

static void on_fetch_timer(uv_timer_t *t)
{
	struct synod_broker *b = t->data;
	if (b->closing || finished(b))
		return;
	start_fetch(b);
}

static void fetch_failed(struct synod_broker *b)
{
	b->stats.fetches_failed++;
	b->fetch_cursor_len = 0; /* start over from the view */
	stage_drop(b);
	if (b->fetch_again) {
		b->fetch_again = 0;
		start_fetch(b);
		return;
	}
	schedule_fetch_retry(b);
}

/* Whether an answer's page continues what the view (or, while staging,
 * the staged pages) holds: SYNOD_OK and *stale = 0 (apply it), SYNOD_OK
 * and *stale = 1 (nothing newer than what we have: the answer is
 * ignored), or an error: retry. */
static int fetch_check(struct synod_broker *b,
		       const Synod__Wire__MetadataDelta *d, int *stale)
{
	int rv = view_validate(d);
	*stale = 0;
	if (rv != SYNOD_OK) {
		seterr(b, rv, "metadata fetch: malformed answer");
		return rv;
	}
	switch (view_check_fetch_at(
	    b->n_stage > 0 ? b->stage_version : b->view.version, d,
	    b->fetch_cursor_len > 0, b->fetch_since)) {
	case VIEW_APPLY:
		return SYNOD_OK;
	case VIEW_STALE:
		*stale = 1;
		return SYNOD_OK;
	default:
		seterr(b, SYNOD_EINVALID_REQUEST,
		       "metadata fetch since %llu answered %llu..%llu",
		       (unsigned long long)b->fetch_since,
		       (unsigned long long)d->prev_version,
		       (unsigned long long)d->version);
		return SYNOD_EINVALID_REQUEST;
	}
}

static void pages_free(struct staged_page **a, size_t *n, size_t *cap)
{
	for (size_t i = 0; i < *n; i++)
		free((*a)[i].body);
	free(*a);
	*a = NULL;
	*n = *cap = 0;
}

/* Append a copy of body to a[0..n). SYNOD_OK or SYNOD_ENOMEM. */
static int pages_add(struct staged_page **a, size_t *n, size_t *cap,
		     const uint8_t *body, size_t len)
{
	uint8_t *copy;
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		struct staged_page *st = realloc(*a, c * sizeof *st);
		if (st == NULL)
			return SYNOD_ENOMEM;
		*a = st;
		*cap = c;
	}
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		return SYNOD_ENOMEM;
	memcpy(copy, body, len);
	(*a)[*n].body = copy;
	(*a)[*n].len = len;
	(*n)++;
	return SYNOD_OK;
}

static void held_drop(struct synod_broker *b)
{
	pages_free(&b->held, &b->n_held, &b->cap_held);
	b->held_version = 0;
	b->held_broken = 0;
}

static void stage_drop(struct synod_broker *b)
{
	pages_free(&b->stage, &b->n_stage, &b->cap_stage);
	held_drop(b);
	b->stage_version = 0;
	b->stage_rounds = 0;
	b->stage_mixed = 0;
	b->stage_news = 0;
	b->stage_restored = 0;
}

/* Keep one page (the packed answer) for commit_stage(). A first page
 * starts holding the pushes that continue its version. */
static int stage_page(struct synod_broker *b, const uint8_t *body, size_t len,
		      const Synod__Wire__MetadataDelta *d, int first)
{
	int rv = pages_add(&b->stage, &b->n_stage, &b->cap_stage, body, len);
	if (rv != SYNOD_OK)
		return rv;
	b->stage_version = d->version;
	b->stage_news |= (d->has_full && d->full) || delta_has_content(d);
	b->stage_restored |= d->has_restored && d->restored;
	if (first) {
		held_drop(b); /* this answer covers them */
		b->held_version = d->version;
		b->held_gen = synod_client_generation(b->client);
	}
	return SYNOD_OK;
}

/* A push while an answer in pages is gathered (d NULL: it did not
 * decode): held when it continues the held ones (returns 1), else it
 * breaks them (the answer then needs a fetch after it) or is old news
 * (0). */
static int hold_push(struct synod_broker *b, const uint8_t *body, size_t len,
		     const Synod__Wire__MetadataDelta *d)
{
	if (b->held_broken)
		return 0;
	if (d != NULL && !(d->has_full && d->full) &&
	    d->version <= b->held_version)
		return 0; /* already covered */
	if (d == NULL || (d->has_full && d->full) ||
	    synod_client_generation(b->client) != b->held_gen ||
	    d->prev_version != b->held_version ||
	    pages_add(&b->held, &b->n_held, &b->cap_held, body, len) !=
		SYNOD_OK) {
		b->held_broken = 1;
		return 0;
	}
	b->held_version = d->version;
	return 1;
}

/* Report a view that replaced `old` whole: the metadata callback with an
 * image of the new view (full), then the transitions from old to it. The
 * callbacks may close the broker; old stays the caller's. */
static void report_replaced(struct synod_broker *b, const struct view *old)
{
	struct view_image img;
	if (b->cbs.metadata) {
		if (view_image(&b->view, &img) != SYNOD_OK) {
			seterr(b, SYNOD_ENOMEM,
			       "out of memory reporting metadata %llu: not "
			       "reported",
			       (unsigned long long)b->view.version);
		} else {
			img.d.prev_version = old->version;
			b->cbs.metadata(b->cbs.arg, b, &img.d);
			view_image_free(&img);
		}
	}
	if (b->cbs.transitions != NULL && !b->closing)
		report_replacement(b, old);
}

/* Apply every staged page, in order, to a copy of the view (none when the
 * first is a full image) and put it in the view's place; report it as one
 * full image. SYNOD_OK, or SYNOD_ENOMEM (the view is unchanged; the stage
 * is dropped either way). The callbacks may close the broker. */
static int commit_stage(struct synod_broker *b)
{
	struct view nv, old;
	unsigned fulls = 0;
	size_t pages = b->n_stage, pushes = b->n_held;
	int rv = SYNOD_OK;
	if (!b->stage_news && b->n_held == 0 &&
	    b->stage_version == b->view.version) {
		stage_drop(b); /* nothing new: the view stays */
		return SYNOD_OK;
	}
	view_init(&nv);
	for (size_t i = 0; i < b->n_stage && rv == SYNOD_OK; i++) {
		Synod__Wire__MetadataFetchResponse *r =
		    synod__wire__metadata_fetch_response__unpack(
			NULL, b->stage[i].len, b->stage[i].body);
		/* It unpacked when it arrived: failing now is memory. */
		if (r == NULL || r->delta == NULL) {
			rv = SYNOD_ENOMEM;
		} else {
			int full = r->delta->has_full && r->delta->full;
			if (i == 0 && !full)
				rv = view_copy(&nv, &b->view);
			if (rv == SYNOD_OK)
				rv = view_apply(&nv, r->delta);
			fulls += full;
		}
		if (r)
			synod__wire__metadata_fetch_response__free_unpacked(
			    r, NULL);
	}
	for (size_t i = 0; i < b->n_held && rv == SYNOD_OK; i++) {
		Synod__Wire__MetadataDelta *d =
		    synod__wire__metadata_delta__unpack(NULL, b->held[i].len,
							b->held[i].body);
		rv = d ? view_apply(&nv, d) : SYNOD_ENOMEM;
		if (d)
			synod__wire__metadata_delta__free_unpacked(d, NULL);
	}
	stage_drop(b);
	if (rv != SYNOD_OK) {
		view_free(&nv);
		seterr(b, rv,
		       "metadata fetch: %s applying %zu pages and %zu pushes: "
		       "view kept at %llu",
		       rv == SYNOD_ENOMEM ? "out of memory" : "malformed page",
		       pages, pushes, (unsigned long long)b->view.version);
		return rv;
	}
	old = b->view;
	b->view = nv;
	b->stats.full_images += fulls;
	b->stats.pushes_applied += pushes;
	b->stats.staged_commits++;
	report_replaced(b, &old);
	view_free(&old);
	return SYNOD_OK;
}

static void on_fetch(void *arg, int status, const uint8_t *body, size_t len)
{
	struct synod_broker *b = arg;
	Synod__Wire__MetadataFetchResponse *r = NULL;
	int code;
	b->fetch_inflight = 0;
	if (b->closing || finished(b))
		return;
	if (status == SYNOD_OK) {
		r = synod__wire__metadata_fetch_response__unpack(NULL, len,
								 body);
		if (r == NULL || r->status == NULL)
			status = SYNOD_EINVALID_REQUEST;
	}
	if (status != SYNOD_OK) {
		if (r)
			synod__wire__metadata_fetch_response__free_unpacked(
			    r, NULL);
		seterr(b, status, "metadata fetch: %s (%s)",
		       synod_strerror(status), synod_client_errmsg(b->client));
		if (status == SYNOD_ECLUSTER_ID_MISMATCH) {
			fail(b);
			return;
		}
		fetch_failed(b);
		return;
	}
	code = r->status->code;
	if (code == SYNOD_OK) {
		int more = r->has_next_cursor && r->next_cursor.len > 0;
		int later = b->fetch_cursor_len > 0, stale = 0;
		/* Pushes held since the first page reach every push made:
		 * with them, the pages read across changes are complete. */
		int held_cover =
		    !b->held_broken && r->has_pushed_version &&
		    r->pushed_version == b->held_version &&
		    synod_client_generation(b->client) == b->held_gen;
		int rv = r->delta ? fetch_check(b, r->delta, &stale)
				  : SYNOD_EINVALID_REQUEST;
		if (rv == SYNOD_OK && more &&
		    r->next_cursor.len > sizeof b->fetch_cursor)
			rv = SYNOD_EINVALID_REQUEST;
		if (stale)
			more = 0; /* the whole answer is old news */
		if (rv == SYNOD_OK && !stale) {
			if (!more && !later && b->n_stage == 0)
				/* One page: one read, consistent. */
				rv = apply_delta(b, r->delta);
			else
				rv = stage_page(b, body, len, r->delta, !later);
			if (!later)
				b->stage_mixed = 0;
			if (!r->has_read_version ||
			    r->read_version != r->delta->version)
				b->stage_mixed = 1;
		}
		if (rv == SYNOD_OK && more) {
			memcpy(b->fetch_cursor, r->next_cursor.data,
			       r->next_cursor.len);
			b->fetch_cursor_len = r->next_cursor.len;
		} else {
			b->fetch_cursor_len = 0;
		}
		synod__wire__metadata_fetch_response__free_unpacked(r, NULL);
		if (b->closing || finished(b))
			return; /* the metadata callback closed or stopped */
		if (rv != SYNOD_OK) {
			fetch_failed(b);
			return;
		}
		b->fetch_backoff_ms = FETCH_BACKOFF_MIN_MS;
		/* Answered on this connection: the controller pushes on it
		 * from here on. */
		b->synced_gen = synod_client_generation(b->client);
		if (more) {
			b->stats.fetch_pages++;
			start_fetch(b); /* the next page, at once */
			return;
		}
		if (b->n_stage > 0 && later && !stale && b->stage_mixed &&
		    !held_cover && b->stage_rounds < STAGE_ROUNDS_MAX) {
			/* An answer in pages is complete, but the store moved
			 * while it was read and the pushes held since do not
			 * surely cover it: what changed, in a fetch since its
			 * version. */
			b->stage_rounds++;
			start_fetch(b);
			return;
		}
		if (b->n_stage > 0) {
			rv = commit_stage(b);
			if (b->closing || finished(b))
				return;
			if (rv != SYNOD_OK) {
				fetch_failed(b);
				return;
			}
		}
		if (b->fetch_again) {
			b->fetch_again = 0;
			start_fetch(b);
		} else if (b->view.version < b->epoch) {
			/* The controller answered from before our own
			 * registration: cannot be, but do not stay fenced
			 * for it. */
			b->stats.fetches_failed++;
			schedule_fetch_retry(b);
		}
		maybe_catchup(b);
		return;
	}
	seterr(b, code, "metadata fetch refused: %s%s%s",
	       synod_error_name(code), r->status->message ? ": " : "",
	       r->status->message ? r->status->message : "");
	synod__wire__metadata_fetch_response__free_unpacked(r, NULL);
	switch (code) {
	case SYNOD_ECLUSTER_ID_MISMATCH:
		fail(b);
		return;
	case SYNOD_EUNSUPPORTED_API:
		/* A controller from before metadata pushes: no view to
		 * keep, so the broker stays fenced (it reports only what its
		 * view holds). Probed again on the next connection or
		 * registration (a rolling upgrade moves the controller). */
		b->legacy = 1;
		b->fetch_cursor_len = 0;
		stage_drop(b);
		b->synced_gen = synod_client_generation(b->client);
		b->fetch_again = 0;
		b->stats.fetches_failed++;
		maybe_catchup(b);
		return;
	case SYNOD_ESTALE_BROKER_EPOCH:
	case SYNOD_EUNKNOWN_BROKER:
		b->stats.fetches_failed++;
		b->fetch_cursor_len = 0; /* the answer is lost: start over */
		stage_drop(b);
		if (b->fetch_epoch != b->epoch) {
			/* Sent for a registration replaced since. */
			if (b->fetch_again) {
				b->fetch_again = 0;
				start_fetch(b);
			}
			return;
		}
		if (b->inflight) {
			/* The heartbeat in flight carries the same epoch and
			 * decides; should it succeed, fetch after it. */
			b->fetch_after_hb = 1;
			return;
		}
		b->heartbeat_asap = 0;
		if (b->state == SYNOD_BROKER_SHUTTING_DOWN)
			stop(b);
		else
			reregister(b);
		return;
	default:
		/* NOT_CONTROLLER after the client's retries, UNAVAILABLE,
		 * BUSY, UNKNOWN, ...: retry with backoff. */
		fetch_failed(b);
		return;
	}
}

static void on_push(void *arg, uint16_t api, const uint8_t *body, size_t len)
{
	struct synod_broker *b = arg;
	Synod__Wire__MetadataDelta *d;
	if (b->closing || api != SYNOD_API_METADATA_PUSH)
		return;
	b->stats.pushes++;
	if (b->fetch_cursor_len > 0 || b->n_stage > 0) {
		/* An answer in pages is gathered: held if it continues what
		 * its pages will be, else the answer is followed up. */
		int held;
		d = synod__wire__metadata_delta__unpack(NULL, len, body);
		held = hold_push(b, body, len,
				 d && view_validate(d) == SYNOD_OK ? d : NULL);
		if (d)
			synod__wire__metadata_delta__free_unpacked(d, NULL);
		if (!held) /* held ones count as applied at the commit */
			b->stats.pushes_ignored++;
		return;
	}
	if (b->fetch_inflight) {
		/* The fetch brings this too. */
		b->stats.pushes_ignored++;
		return;
	}
	d = synod__wire__metadata_delta__unpack(NULL, len, body);
	if (d == NULL || view_validate(d) != SYNOD_OK) {
		/* A change we cannot read is a change we miss. */
		seterr(b, SYNOD_EINVALID_REQUEST,
		       "metadata push: malformed delta");
		if (d)
			synod__wire__metadata_delta__free_unpacked(d, NULL);
		b->stats.gaps++;
		fetch_for_gap(b);
		return;
	}
	switch (view_check(&b->view, d)) {
	case VIEW_APPLY:
		if (apply_delta(b, d) == SYNOD_OK) {
			b->stats.pushes_applied++;
		} else if (!b->closing) {
			b->stats.gaps++;
			fetch_for_gap(b);
		}
		break;
	case VIEW_STALE:
		b->stats.pushes_ignored++;
		break;
	default:
		b->stats.gaps++;
		fetch_for_gap(b);
		break;
	}
	synod__wire__metadata_delta__free_unpacked(d, NULL);
	maybe_catchup(b);
}

/* ---- alter partition ---- */

struct alter_req {
	struct synod_broker *b;
	synod_broker_alter_cb cb;
	void *arg;
};

static void on_alter(void *arg, int status, const uint8_t *body, size_t len)
{
	struct alter_req *a = arg;
	struct synod_broker *b = a->b;
	synod_broker_alter_cb cb = a->cb;
	void *cb_arg = a->arg;
	Synod__Wire__AlterPartitionResponse *r = NULL;
	free(a);
	b->alters_inflight--;
	if (b->closing || cb == NULL)
		return;
	if (status == SYNOD_OK) {
		r = synod__wire__alter_partition_response__unpack(NULL, len,
								  body);
		if (r == NULL || r->status == NULL)
			status = SYNOD_EINVALID_REQUEST;
	}
	if (status != SYNOD_OK) {
		if (r)
			synod__wire__alter_partition_response__free_unpacked(
			    r, NULL);
		cb(cb_arg, status, NULL);
		return;
	}
	cb(cb_arg, r->status->code,
	   r->status->code == SYNOD_OK ? r->partition : NULL);
	synod__wire__alter_partition_response__free_unpacked(r, NULL);
}

int synod_broker_alter_isr(struct synod_broker *b, const uint8_t *topic_id,
			   int32_t partition, uint32_t leader_epoch,
			   uint32_t partition_epoch, const int32_t *isr,
			   size_t n, synod_broker_alter_cb cb, void *arg)
{
	Synod__Wire__AlterPartitionRequest req =
	    SYNOD__WIRE__ALTER_PARTITION_REQUEST__INIT;
	struct alter_req *a;
	int rv;
	if (b == NULL || topic_id == NULL || partition < 0 ||
	    (n > 0 && isr == NULL))
		return SYNOD_EINVALID_ARGUMENT;
	if (b->closing || finished(b))
		return SYNOD_ESHUTTING_DOWN;
	if (b->epoch == 0)
		return SYNOD_EUNKNOWN_BROKER;
	a = malloc(sizeof *a);
	if (a == NULL)
		return SYNOD_ENOMEM;
	a->b = b;
	a->cb = cb;
	a->arg = arg;
	req.broker_id = b->broker_id;
	req.broker_epoch = b->epoch;
	req.topic_id.len = VIEW_TOPIC_ID_LEN;
	req.topic_id.data = (uint8_t *)topic_id;
	req.partition = partition;
	req.leader_epoch = leader_epoch;
	req.partition_epoch = partition_epoch;
	req.n_new_isr = n;
	req.new_isr = (int32_t *)isr;
	rv = synod_client_send(b->client, SYNOD_API_ALTER_PARTITION, &req.base,
			       1, on_alter, a);
	if (rv != SYNOD_OK) {
		free(a);
		return rv;
	}
	b->alters_inflight++;
	b->stats.alters++;
	return SYNOD_OK;
}

struct alter_batch_req {
	struct synod_broker *b;
	synod_broker_alter_batch_cb cb;
	void *arg;
	size_t n; /* changes sent: the answer has as many results */
};

static void on_alter_batch(void *arg, int status, const uint8_t *body,
			   size_t len)
{
	struct alter_batch_req *a = arg;
	struct synod_broker *b = a->b;
	synod_broker_alter_batch_cb cb = a->cb;
	void *cb_arg = a->arg;
	size_t n = a->n;
	Synod__Wire__AlterPartitionsResponse *r = NULL;
	free(a);
	b->alters_inflight--;
	if (b->closing || cb == NULL)
		return;
	if (status == SYNOD_OK) {
		r = synod__wire__alter_partitions_response__unpack(NULL, len,
								   body);
		if (r == NULL || r->status == NULL ||
		    (r->status->code == SYNOD_OK && r->n_results != n))
			status = SYNOD_EINVALID_REQUEST;
	}
	if (status != SYNOD_OK || r->status->code != SYNOD_OK) {
		int code = status != SYNOD_OK ? status : r->status->code;
		if (r)
			synod__wire__alter_partitions_response__free_unpacked(
			    r, NULL);
		cb(cb_arg, code, NULL, 0);
		return;
	}
	cb(cb_arg, SYNOD_OK,
	   (const Synod__Wire__AlterPartitionResult *const *)r->results,
	   r->n_results);
	synod__wire__alter_partitions_response__free_unpacked(r, NULL);
}

int synod_broker_alter_isrs(struct synod_broker *b,
			    const struct synod_isr_change *items, size_t n,
			    synod_broker_alter_batch_cb cb, void *arg)
{
	Synod__Wire__AlterPartitionsRequest req =
	    SYNOD__WIRE__ALTER_PARTITIONS_REQUEST__INIT;
	Synod__Wire__AlterPartitionItem *its, **itp;
	struct alter_batch_req *a;
	int rv;
	if (b == NULL || items == NULL || n == 0)
		return SYNOD_EINVALID_ARGUMENT;
	for (size_t i = 0; i < n; i++)
		if (items[i].topic_id == NULL || items[i].partition < 0 ||
		    (items[i].n_isr > 0 && items[i].isr == NULL))
			return SYNOD_EINVALID_ARGUMENT;
	if (b->closing || finished(b))
		return SYNOD_ESHUTTING_DOWN;
	if (b->epoch == 0)
		return SYNOD_EUNKNOWN_BROKER;
	a = malloc(sizeof *a);
	its = calloc(n, sizeof *its);
	itp = calloc(n, sizeof *itp);
	if (a == NULL || its == NULL || itp == NULL) {
		free(a);
		free(its);
		free(itp);
		return SYNOD_ENOMEM;
	}
	a->b = b;
	a->cb = cb;
	a->arg = arg;
	a->n = n;
	for (size_t i = 0; i < n; i++) {
		synod__wire__alter_partition_item__init(&its[i]);
		its[i].topic_id.len = VIEW_TOPIC_ID_LEN;
		its[i].topic_id.data = (uint8_t *)items[i].topic_id;
		its[i].partition = items[i].partition;
		its[i].leader_epoch = items[i].leader_epoch;
		its[i].partition_epoch = items[i].partition_epoch;
		its[i].n_new_isr = items[i].n_isr;
		its[i].new_isr = (int32_t *)items[i].isr;
		itp[i] = &its[i];
	}
	req.broker_id = b->broker_id;
	req.broker_epoch = b->epoch;
	req.n_items = n;
	req.items = itp;
	/* Packed before the call returns: the arrays can go. */
	rv = synod_client_send(b->client, SYNOD_API_ALTER_PARTITIONS, &req.base,
			       1, on_alter_batch, a);
	free(its);
	free(itp);
	if (rv != SYNOD_OK) {
		free(a);
		return rv;
	}
	b->alters_inflight++;
	b->stats.alters++;
	return SYNOD_OK;
}

/* ---- public API ---- */

static void free_broker(struct synod_broker *b)
{
	for (unsigned i = 0; i < b->n_endpoints; i++) {
		free((char *)b->endpoints[i].name);
		free((char *)b->endpoints[i].host);
		free((char *)b->endpoints[i].security_protocol);
	}
	free(b->endpoints);
	free(b->wire_eps);
	free(b->wire_epp);
	free(b->bootstrap);
	free(b->cluster_id);
	free(b->tls_ca);
	free(b->tls_cert);
	free(b->tls_key);
	free(b->rack);
	free(b->kafka_address);
	view_free(&b->view);
	stage_drop(b);
	free(b);
}

static char *dup_or_null(const char *s, int *bad)
{
	char *d;
	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*bad = 1;
	return d;
}

int synod_broker_new(uv_loop_t *loop, const struct synod_broker_config *cfg,
		     const struct synod_broker_callbacks *cbs,
		     struct synod_broker **out)
{
	struct synod_broker *b;
	int nomem = 0, rv;
	if (cfg == NULL || out == NULL || cfg->bootstrap == NULL ||
	    cfg->bootstrap[0] == '\0' || cfg->cluster_id == NULL ||
	    cfg->cluster_id[0] == '\0' || cfg->broker_id < 0 ||
	    (cfg->n_endpoints > 0 && cfg->endpoints == NULL))
		return SYNOD_EINVALID_ARGUMENT;
	for (unsigned i = 0; i < cfg->n_endpoints; i++)
		if (cfg->endpoints[i].name == NULL ||
		    cfg->endpoints[i].host == NULL)
			return SYNOD_EINVALID_ARGUMENT;
	b = calloc(1, sizeof *b);
	if (b == NULL)
		return SYNOD_ENOMEM;
	b->bootstrap = dup_or_null(cfg->bootstrap, &nomem);
	b->cluster_id = dup_or_null(cfg->cluster_id, &nomem);
	b->tls_ca = dup_or_null(cfg->tls_ca_file, &nomem);
	b->tls_cert = dup_or_null(cfg->tls_cert_file, &nomem);
	b->tls_key = dup_or_null(cfg->tls_key_file, &nomem);
	b->rack =
	    cfg->rack && cfg->rack[0] ? dup_or_null(cfg->rack, &nomem) : NULL;
	if (cfg->n_endpoints > 0) {
		unsigned n = cfg->n_endpoints;
		b->endpoints = calloc(n, sizeof *b->endpoints);
		b->wire_eps = calloc(n, sizeof *b->wire_eps);
		b->wire_epp = calloc(n, sizeof *b->wire_epp);
		if (!b->endpoints || !b->wire_eps || !b->wire_epp)
			nomem = 1;
		else
			b->n_endpoints = n;
	}
	for (unsigned i = 0; i < b->n_endpoints; i++) {
		const struct synod_endpoint *e = &cfg->endpoints[i];
		struct synod_endpoint *d = &b->endpoints[i];
		Synod__Wire__Endpoint *w = &b->wire_eps[i];
		d->name = dup_or_null(e->name, &nomem);
		d->host = dup_or_null(e->host, &nomem);
		d->port = e->port;
		d->security_protocol = dup_or_null(
		    e->security_protocol ? e->security_protocol : "PLAINTEXT",
		    &nomem);
		synod__wire__endpoint__init(w);
		w->name = (char *)d->name;
		w->host = (char *)d->host;
		w->port = d->port;
		w->security_protocol = (char *)d->security_protocol;
		b->wire_epp[i] = w;
	}
	if (nomem) {
		free_broker(b);
		return SYNOD_ENOMEM;
	}
	if (make_incarnation(b) != 0) {
		free_broker(b);
		return SYNOD_EUNKNOWN;
	}
	b->broker_id = cfg->broker_id;
	b->cfg_heartbeat_ms = cfg->heartbeat_interval_ms;
	b->heartbeat_ms = cfg->heartbeat_interval_ms;
	b->request_timeout_ms = cfg->request_timeout_ms
				    ? cfg->request_timeout_ms
				    : DEFAULT_REQUEST_TIMEOUT_MS;
	b->duplicate_retry_ms = cfg->duplicate_retry_ms;
	b->max_frame = cfg->max_frame;
	b->liveness_timeout_ms = cfg->liveness_timeout_ms;
	b->other_brokers = cfg->other_brokers != 0;
	b->all_partitions = cfg->all_partitions != 0;
	b->kafka_address = dup_or_null(cfg->kafka_address, &nomem);
	b->kafka_max_request = cfg->kafka_max_request_bytes;
	if (cbs)
		b->cbs = *cbs;
	b->state = SYNOD_BROKER_REGISTERING;
	b->fenced = 1;
	b->backoff_ms = REGISTER_BACKOFF_MIN_MS;
	b->fetch_backoff_ms = FETCH_BACKOFF_MIN_MS;
	view_init(&b->view);
	if (loop == NULL) {
		if (uv_loop_init(&b->own_loop) != 0) {
			free_broker(b);
			return SYNOD_ENOMEM;
		}
		b->loop = &b->own_loop;
		b->owns_loop = 1;
	} else {
		b->loop = loop;
	}
	rv = make_client(b, &b->client);
	if (rv != SYNOD_OK) {
		if (b->owns_loop)
			uv_loop_close(&b->own_loop);
		free_broker(b);
		return rv;
	}
	uv_timer_init(b->loop, &b->timer);
	uv_timer_init(b->loop, &b->fetch_timer);
	uv_timer_init(b->loop, &b->fence_timer);
	b->timer.data = b->fetch_timer.data = b->fence_timer.data = b;
	b->open_timers = 3;
	*out = b;
	return SYNOD_OK;
}

int synod_broker_start(struct synod_broker *b)
{
	int rv;
	if (b->started || finished(b))
		return SYNOD_EBUSY;
	if (b->kafka_address && b->kafka == NULL) {
		rv = bk_start(b, b->loop, b->kafka_address,
			      b->kafka_max_request, &b->kafka);
		if (rv != SYNOD_OK) {
			b->kafka = NULL;
			return rv;
		}
	}
	rv = send_register(b);
	if (rv != SYNOD_OK)
		return rv;
	b->started = 1;
	return SYNOD_OK;
}

int synod_broker_shutdown(struct synod_broker *b)
{
	if (b->closing || finished(b) || b->want_shutdown)
		return SYNOD_OK;
	b->want_shutdown = 1;
	if (b->epoch == 0) {
		if (b->inflight == REQ_REGISTER)
			set_state(b, SYNOD_BROKER_SHUTTING_DOWN);
		else
			stop(b);
		return SYNOD_OK;
	}
	set_state(b, SYNOD_BROKER_SHUTTING_DOWN);
	if (b->closing)
		return SYNOD_OK;
	if (b->inflight)
		b->heartbeat_asap = 1;
	else
		send_heartbeat(b);
	return SYNOD_OK;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct synod_broker *b = h->data;
	if (--b->open_timers == 0 && !b->owns_loop)
		free_broker(b);
}

/* Private loop: let the client and timer finish closing, then free. */
static void finish_private(struct synod_broker *b)
{
	uv_run(b->loop, UV_RUN_DEFAULT);
	uv_loop_close(b->loop);
	free_broker(b);
}

void synod_broker_close(struct synod_broker *b)
{
	if (b == NULL || b->closing)
		return;
	b->closing = 1;
	uv_timer_stop(&b->timer);
	uv_timer_stop(&b->fetch_timer);
	uv_timer_stop(&b->fence_timer);
	bk_close(b->kafka);
	b->kafka = NULL;
	/* Fails the requests in flight with CANCELED; on_* ignore it. */
	synod_client_close(b->client);
	b->client = NULL;
	uv_close((uv_handle_t *)&b->timer, on_timer_closed);
	uv_close((uv_handle_t *)&b->fetch_timer, on_timer_closed);
	uv_close((uv_handle_t *)&b->fence_timer, on_timer_closed);
	if (b->owns_loop && !b->running)
		finish_private(b);
}

int synod_broker_run(struct synod_broker *b)
{
	int rv = SYNOD_OK;
	if (!b->owns_loop || b->running || (!b->started && !finished(b)))
		return SYNOD_EINVALID_ARGUMENT;
	b->running = 1;
	while (!b->closing && !finished(b))
		if (uv_run(b->loop, UV_RUN_ONCE) == 0 && !b->closing &&
		    !finished(b) && !uv_loop_alive(b->loop))
			break; /* nothing left to wait for (cannot happen) */
	b->running = 0;
	if (b->closing) {
		finish_private(b);
		return SYNOD_OK;
	}
	if (b->state == SYNOD_BROKER_FAILED)
		rv = b->err ? b->err : SYNOD_EUNKNOWN;
	return rv;
}

struct synod_client *broker_client(struct synod_broker *b)
{
	return b->closing ? NULL : b->client;
}

const char *broker_cluster_id(const struct synod_broker *b)
{
	return b->cluster_id;
}

enum synod_broker_state synod_broker_state(const struct synod_broker *b)
{
	return b->state;
}

uint64_t synod_broker_epoch(const struct synod_broker *b)
{
	return b->epoch;
}

int32_t synod_broker_id(const struct synod_broker *b)
{
	return b->broker_id;
}

const char *synod_broker_incarnation(const struct synod_broker *b)
{
	return b->incarnation;
}

uint64_t synod_broker_controller_version(const struct synod_broker *b)
{
	return b->controller_version;
}

uint64_t synod_broker_last_rtt_us(const struct synod_broker *b)
{
	return b->last_rtt_us;
}

int synod_broker_error(const struct synod_broker *b, const char **msg)
{
	if (msg)
		*msg = b->errmsg;
	return b->err;
}

int synod_broker_fenced(const struct synod_broker *b)
{
	/* The clock, not only the timer: a process that was stopped must
	 * not act on a session that ended while its loop could not run. */
	return b->fenced || lease_expired(b);
}

int synod_broker_self_fenced(const struct synod_broker *b)
{
	return b->self_fenced || (!b->fenced && lease_expired(b));
}

uint64_t synod_broker_last_ack_ns(const struct synod_broker *b)
{
	return b->epoch ? b->ack_sent_ns : 0;
}

int synod_broker_request_fence(struct synod_broker *b, int fence)
{
	if (b->closing || finished(b))
		return SYNOD_ESHUTTING_DOWN;
	fence = fence != 0;
	if (b->want_fence == fence)
		return SYNOD_OK;
	b->want_fence = fence;
	/* Tell the controller now, not at the next interval. */
	if (b->epoch == 0)
		return SYNOD_OK; /* the first heartbeat carries it */
	if (b->inflight)
		b->heartbeat_asap = 1;
	else
		send_heartbeat(b);
	return SYNOD_OK;
}

unsigned synod_broker_heartbeat_interval(const struct synod_broker *b)
{
	return b->heartbeat_ms;
}

unsigned synod_broker_session_timeout(const struct synod_broker *b)
{
	return b->session_ms;
}

void synod_broker_stats(const struct synod_broker *b,
			struct synod_broker_stats *out)
{
	*out = b->stats;
	if (b->kafka)
		bk_stats(b->kafka, out);
}

uint64_t synod_broker_metadata_version(const struct synod_broker *b)
{
	return b->view.version;
}

size_t synod_broker_topic_count(const struct synod_broker *b)
{
	return view_topic_count(&b->view);
}

size_t synod_broker_partition_count(const struct synod_broker *b)
{
	return view_partition_count(&b->view);
}

int synod_broker_partitions(const struct synod_broker *b,
			    synod_broker_partition_cb cb, void *arg)
{
	return view_foreach_partition(&b->view, cb, arg);
}

int synod_broker_topics(const struct synod_broker *b, synod_broker_topic_cb cb,
			void *arg)
{
	return view_foreach_topic(&b->view, cb, arg);
}

int synod_broker_find_partition(const struct synod_broker *b,
				const uint8_t *topic_id, int32_t partition,
				Synod__Wire__PartitionState *out)
{
	if (topic_id == NULL || out == NULL)
		return SYNOD_EINVALID_ARGUMENT;
	return view_find_partition(&b->view, topic_id, partition, out);
}

/* ---- other brokers ---- */

size_t synod_broker_broker_count(const struct synod_broker *b)
{
	return view_broker_count(&b->view);
}

int synod_broker_brokers(const struct synod_broker *b,
			 synod_broker_broker_cb cb, void *arg)
{
	return view_foreach_broker(&b->view, cb, arg);
}

int synod_broker_find_broker(const struct synod_broker *b, int32_t id,
			     Synod__Wire__BrokerState *out)
{
	if (out == NULL)
		return SYNOD_EINVALID_ARGUMENT;
	return view_find_broker(&b->view, id, out);
}
