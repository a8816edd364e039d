/* tests/fuzz/fuzz_view.c - the broker library (net/broker.c): its decoding
 * of everything the controller sends it (METADATA_PUSH frames, paged
 * METADATA_FETCH answers and their cursors, BROKER_REGISTER and
 * BROKER_HEARTBEAT answers, ALTER_PARTITION(S) answers) and the state
 * machine they drive (registration, heartbeats, self-fencing, fetches,
 * paged answers staged and applied at once, full images compared with
 * the view they replace), down to the
 * broker's metadata view (net/view.c) and the leadership transitions of
 * each change (net/transitions.c). net/broker.c is compiled into this
 * file, as fuzz_group.c does with net/group.c: the client library is a
 * fake (a request waits in its slot until the input answers it), the
 * clocks are a counter and the random bytes fixed, so a run depends on
 * its input only. Timers never fire by themselves: the input fires them.
 *
 * Input: chunks [op][u16 length][bytes] (fuzz_common.h); byte 0 of the
 * input also picks the broker's id and options. op % 8:
 * 0 a push with the bytes (op / 8 % 8 == 7: of another api);
 * 1 the request in flight is answered with the bytes, op / 8 % 3 says
 *   which: the registration or heartbeat, the fetch, the oldest alter;
 * 2 the same request fails with a client status (byte 0);
 * 3 the registration or heartbeat in flight is answered with a
 *   well-formed answer whose code and fields come from the bytes;
 * 4 time passes (u16 ms from the bytes; none: one heartbeat interval),
 *   then the self-fencing timer fires, and the main timer (op / 8 even)
 *   or the fetch retry timer (odd);
 * 5 op / 8 % 5: the client reconnects (a new generation); its connection
 *   drops or comes back; the application asks to be fenced or unfenced
 *   (byte 0); it shuts down; sends start or stop failing (byte 0);
 * 6 the application alters the ISR of a partition of its view (op / 8
 *   odd: a batch of up to four);
 * 7 a delta applied to a view of its own whatever view_check says (the
 *   library never does that: net/view.c's refusal is checked there).
 *
 * Invariants after every step: the views' counts agree with their walks,
 * everything walked is found again by id, brokers are sorted without
 * repeats; ACTIVE only with an epoch, unfenced, within its session;
 * while pages are staged the view keeps its version and no delta is
 * reported, and the rounds stay bounded. Every
 * request the library sends: one registration or heartbeat and one fetch
 * in flight at most; a registration only without an epoch; heartbeats,
 * fetches and alters carry the broker's epoch; a heartbeat never reports
 * a version above the view's; a fetch without a cursor asks from the
 * staged version (or, with nothing staged, the view's), a cursor is at
 * most 64 bytes. Callbacks: a delta
 * reported is at the view's version; every transition says the role the
 * view gives now and is a change of role or of leader epoch, in (topic
 * id, partition) order; an alter's callback runs once (never after
 * close), with a state only when it succeeded, a batch's with one result
 * per change sent. */
#include <string.h>
#include <sys/random.h>
#include <uv.h>

/* Not synod/client.h: fuzz_fake_client.h includes it after its renames. */
#include "fuzz_common.h"

/* ---- the fakes ---- */

static ssize_t fz_getrandom(void *buf, size_t len, unsigned flags)
{
	(void)flags;
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(i * 37 + 11);
	return (ssize_t)len;
}
#define getrandom fz_getrandom

#include "fuzz_fake_client.h"
#define bk_start fz_bk_start
#define bk_close fz_bk_close
#define bk_stats fz_bk_stats

#include "../../net/broker.c"
/* Its random bytes (net/random.c) come from the fake too: the same
 * incarnation and jitter on every run of an input. */
#include "../../net/random.c"

#undef uv_hrtime
#undef uv_now
#undef getrandom

struct slot {
	int used;
	uint16_t api;
	synod_response_cb cb;
	void *arg;
};

#define MAX_ALTERS 8

static struct {
	struct synod_broker *b; /* the broker under test */
	struct slot rh;		/* registration or heartbeat */
	struct slot fetch;
	struct slot alters[MAX_ALTERS]; /* oldest first */
	size_t n_alters;
	int fail_sends;
	char storage[64];
} fake;

int fz_bk_start(struct synod_broker *b, uv_loop_t *loop, const char *address,
		size_t max_request, struct bk **out)
{
	(void)b, (void)loop, (void)address, (void)max_request;
	*out = NULL;
	return SYNOD_EINVALID_ARGUMENT; /* no Kafka listener configured */
}

void fz_bk_close(struct bk *k)
{
	FUZZ_CHECK(k == NULL);
}

void fz_bk_stats(const struct bk *k, struct synod_broker_stats *st)
{
	(void)k, (void)st;
}

int fz_client_new(uv_loop_t *loop, const struct synod_client_config *cfg,
		  struct synod_client **out)
{
	(void)loop;
	FUZZ_CHECK(cfg->request_timeout_ms > 0);
	*out = (struct synod_client *)(void *)fake.storage;
	return SYNOD_OK;
}

/* As the real client: the requests in flight fail with CANCELED. */
void fz_client_close(struct synod_client *c)
{
	struct slot all[2 + MAX_ALTERS];
	size_t n = 0;
	(void)c;
	if (fake.rh.used)
		all[n++] = fake.rh;
	if (fake.fetch.used)
		all[n++] = fake.fetch;
	for (size_t i = 0; i < fake.n_alters; i++)
		all[n++] = fake.alters[i];
	fake.rh.used = fake.fetch.used = 0;
	fake.n_alters = 0;
	for (size_t i = 0; i < n; i++)
		all[i].cb(all[i].arg, SYNOD_ECANCELED, NULL, 0);
}

/* What the library puts on the wire, checked against its own state. */
static void check_request(uint16_t api, const ProtobufCMessage *m)
{
	const struct synod_broker *b = fake.b;
	switch (api) {
	case SYNOD_API_BROKER_REGISTER: {
		const Synod__Wire__BrokerRegisterRequest *r = (const void *)m;
		FUZZ_CHECK(b->epoch == 0 && r->broker_id == b->broker_id);
		FUZZ_CHECK(strcmp(r->cluster_id, b->cluster_id) == 0);
		break;
	}
	case SYNOD_API_BROKER_HEARTBEAT: {
		const Synod__Wire__BrokerHeartbeatRequest *r = (const void *)m;
		FUZZ_CHECK(r->broker_epoch != 0 && r->broker_epoch == b->epoch);
		FUZZ_CHECK(r->metadata_version <= b->view.version);
		break;
	}
	case SYNOD_API_METADATA_FETCH: {
		const Synod__Wire__MetadataFetchRequest *r = (const void *)m;
		FUZZ_CHECK(r->broker_epoch != 0 && r->broker_epoch == b->epoch);
		if (r->has_cursor && r->cursor.len > 0)
			FUZZ_CHECK(r->cursor.len <= sizeof b->fetch_cursor);
		else
			FUZZ_CHECK(r->since_version == (b->n_stage > 0
							    ? b->stage_version
							    : b->view.version));
		break;
	}
	case SYNOD_API_ALTER_PARTITION: {
		const Synod__Wire__AlterPartitionRequest *r = (const void *)m;
		FUZZ_CHECK(r->broker_epoch != 0 && r->broker_epoch == b->epoch);
		FUZZ_CHECK(r->topic_id.len == VIEW_TOPIC_ID_LEN);
		break;
	}
	case SYNOD_API_ALTER_PARTITIONS: {
		const Synod__Wire__AlterPartitionsRequest *r = (const void *)m;
		FUZZ_CHECK(r->broker_epoch != 0 && r->broker_epoch == b->epoch);
		FUZZ_CHECK(r->n_items > 0);
		break;
	}
	default:
		FUZZ_CHECK(!"a request of an unexpected api");
	}
	/* It goes on the wire: it must pack. */
	{
		size_t n = protobuf_c_message_get_packed_size(m);
		uint8_t *p = malloc(n ? n : 1);
		FUZZ_CHECK(p != NULL && protobuf_c_message_pack(m, p) == n);
		free(p);
	}
}

int fz_client_send(struct synod_client *c, uint16_t api,
		   const ProtobufCMessage *req, int to_leader,
		   synod_response_cb cb, void *arg)
{
	struct slot *s;
	(void)c;
	FUZZ_CHECK(to_leader);
	check_request(api, req);
	if (fake.fail_sends)
		return SYNOD_EMESSAGE_TOO_LARGE;
	switch (api) {
	case SYNOD_API_BROKER_REGISTER:
	case SYNOD_API_BROKER_HEARTBEAT:
		s = &fake.rh;
		break;
	case SYNOD_API_METADATA_FETCH:
		s = &fake.fetch;
		break;
	default:
		FUZZ_CHECK(fake.n_alters < MAX_ALTERS); /* the driver's limit */
		s = &fake.alters[fake.n_alters++];
		break;
	}
	FUZZ_CHECK(!s->used); /* one of each kind in flight at most */
	s->used = 1;
	s->api = api;
	s->cb = cb;
	s->arg = arg;
	fz_conn.connected = 1;
	return SYNOD_OK;
}

/* Answer (status SYNOD_OK: with body) the request of one kind in flight:
 * 0 registration or heartbeat, 1 fetch, 2 the oldest alter. */
static void answer(unsigned kind, int status, const uint8_t *body, size_t len)
{
	struct slot s;
	if (kind == 0 && fake.rh.used) {
		s = fake.rh;
		fake.rh.used = 0;
	} else if (kind == 1 && fake.fetch.used) {
		s = fake.fetch;
		fake.fetch.used = 0;
	} else if (kind == 2 && fake.n_alters > 0) {
		s = fake.alters[0];
		memmove(fake.alters, fake.alters + 1,
			--fake.n_alters * sizeof fake.alters[0]);
		fake.alters[fake.n_alters].used = 0;
	} else {
		return;
	}
	s.cb(s.arg, status, status == SYNOD_OK ? body : NULL,
	     status == SYNOD_OK ? len : 0);
}

/* ---- the views ---- */

struct walk {
	const struct view *v;
	size_t n;
	int32_t last_broker;
};

static int walk_partition(void *arg, const Synod__Wire__PartitionState *p)
{
	struct walk *w = arg;
	Synod__Wire__PartitionState again;
	Synod__Wire__TopicState t;
	FUZZ_CHECK(p->topic_id.len == VIEW_TOPIC_ID_LEN);
	FUZZ_CHECK(p->partition >= 0);
	FUZZ_CHECK(view_find_partition(w->v, p->topic_id.data, p->partition,
				       &again) == SYNOD_OK);
	FUZZ_CHECK(again.leader == p->leader &&
		   again.leader_epoch == p->leader_epoch &&
		   again.partition_epoch == p->partition_epoch &&
		   again.n_replicas == p->n_replicas &&
		   again.n_isr == p->n_isr);
	FUZZ_CHECK(view_find_topic(w->v, p->topic_id.data, &t) == SYNOD_OK);
	w->n++;
	return 0;
}

static int walk_topic(void *arg, const Synod__Wire__TopicState *t)
{
	struct walk *w = arg;
	Synod__Wire__TopicState again;
	FUZZ_CHECK(t->topic_id.len == VIEW_TOPIC_ID_LEN && t->name != NULL);
	FUZZ_CHECK(view_find_topic(w->v, t->topic_id.data, &again) == SYNOD_OK);
	FUZZ_CHECK(strcmp(again.name, t->name) == 0);
	w->n++;
	return 0;
}

static int walk_broker(void *arg, const Synod__Wire__BrokerState *b)
{
	struct walk *w = arg;
	Synod__Wire__BrokerState again;
	FUZZ_CHECK(b->id > w->last_broker);
	w->last_broker = b->id;
	FUZZ_CHECK(view_find_broker(w->v, b->id, &again) == SYNOD_OK);
	FUZZ_CHECK(again.epoch == b->epoch &&
		   again.n_endpoints == b->n_endpoints);
	for (size_t i = 0; i < b->n_endpoints; i++)
		FUZZ_CHECK(b->endpoints[i]->name && b->endpoints[i]->host);
	w->n++;
	return 0;
}

static void check_view(const struct view *v)
{
	struct walk w = {v, 0, -1};
	FUZZ_CHECK(view_foreach_partition(v, walk_partition, &w) == 0);
	FUZZ_CHECK(w.n == view_partition_count(v));
	w.n = 0;
	FUZZ_CHECK(view_foreach_topic(v, walk_topic, &w) == 0);
	FUZZ_CHECK(w.n == view_topic_count(v));
	w.n = 0;
	FUZZ_CHECK(view_foreach_broker(v, walk_broker, &w) == 0);
	FUZZ_CHECK(w.n == view_broker_count(v));
}

/* ---- the application ---- */

static struct {
	size_t alters_sent, alters_answered;
	struct view side; /* op 7's */
	unsigned deltas;  /* metadata callbacks */
	/* While pages are staged: the view's version and the callbacks
	 * when the staging began. */
	int staging;
	uint64_t staged_from;
	unsigned staged_deltas;
} app;

static void cb_state(void *arg, struct synod_broker *b,
		     enum synod_broker_state old, enum synod_broker_state now)
{
	(void)arg, (void)b;
	FUZZ_CHECK(old != now);
}

static void cb_metadata(void *arg, struct synod_broker *b,
			const Synod__Wire__MetadataDelta *d)
{
	(void)arg;
	FUZZ_CHECK(d->version == b->view.version);
	app.deltas++;
	check_view(&b->view);
}

static void cb_transitions(void *arg, struct synod_broker *b, uint64_t version,
			   const struct synod_transition *t, size_t n)
{
	(void)arg;
	FUZZ_CHECK(n > 0 && version == b->view.version);
	for (size_t i = 0; i < n; i++) {
		Synod__Wire__PartitionState ps;
		enum synod_role now = SYNOD_ROLE_NONE;
		if (view_find_partition(&b->view, t[i].topic_id, t[i].partition,
					&ps) == SYNOD_OK)
			now = trans_role(&ps, b->broker_id);
		FUZZ_CHECK(t[i].new_role == now);
		if (now != SYNOD_ROLE_NONE)
			FUZZ_CHECK(t[i].leader == ps.leader &&
				   t[i].leader_epoch == ps.leader_epoch);
		if (i > 0) {
			int r = memcmp(t[i - 1].topic_id, t[i].topic_id,
				       VIEW_TOPIC_ID_LEN);
			FUZZ_CHECK(r < 0 || (r == 0 && t[i - 1].partition <
							   t[i].partition));
		}
	}
}

static void cb_alter(void *arg, int code,
		     const Synod__Wire__PartitionState *state)
{
	(void)arg;
	FUZZ_CHECK(fake.b != NULL && !fake.b->closing);
	FUZZ_CHECK(code == SYNOD_OK || state == NULL);
	app.alters_answered++;
}

static void cb_alter_batch(void *arg, int code,
			   const Synod__Wire__AlterPartitionResult *const *r,
			   size_t n)
{
	FUZZ_CHECK(fake.b != NULL && !fake.b->closing);
	if (code == SYNOD_OK)
		FUZZ_CHECK(n == (size_t)(uintptr_t)arg && r != NULL);
	else
		FUZZ_CHECK(n == 0 && r == NULL);
	app.alters_answered++;
}

struct pick {
	size_t skip;
	Synod__Wire__PartitionState *out;
	int found;
};

static int pick_partition(void *arg, const Synod__Wire__PartitionState *p)
{
	struct pick *k = arg;
	if (k->skip-- > 0)
		return 0;
	*k->out = *p;
	k->found = 1;
	return 1;
}

/* op 6: ISR changes of partitions of the view (the first of several when
 * it has none: an unknown partition). */
static void alter(struct synod_broker *b, int batch, const uint8_t *d,
		  size_t len)
{
	static const uint8_t unknown[VIEW_TOPIC_ID_LEN] = {0x70, 9};
	static const int32_t isr[] = {1, 2, 3};
	struct synod_isr_change items[4];
	Synod__Wire__PartitionState ps[4];
	uint8_t ids[4][VIEW_TOPIC_ID_LEN];
	size_t n = batch ? (len > 0 ? d[0] % 4 + 1 : 1) : 1;
	size_t count = view_partition_count(&b->view);
	int rv;
	if (fake.n_alters >= MAX_ALTERS)
		return;
	for (size_t i = 0; i < n; i++) {
		struct pick k = {0, &ps[i], 0};
		if (count > 0) {
			k.skip = (len > i + 1 ? d[i + 1] : i) % count;
			view_foreach_partition(&b->view, pick_partition, &k);
		}
		if (k.found) {
			memcpy(ids[i], ps[i].topic_id.data, VIEW_TOPIC_ID_LEN);
		} else {
			memcpy(ids[i], unknown, VIEW_TOPIC_ID_LEN);
			ps[i].partition = (int32_t)i;
			ps[i].leader_epoch = ps[i].partition_epoch = 0;
		}
		items[i].topic_id = ids[i];
		items[i].partition = ps[i].partition;
		items[i].leader_epoch = ps[i].leader_epoch;
		items[i].partition_epoch = ps[i].partition_epoch;
		items[i].isr = isr;
		items[i].n_isr = (len > 5 ? d[5] : i) % 4;
	}
	if (batch)
		rv = synod_broker_alter_isrs(b, items, n, cb_alter_batch,
					     (void *)(uintptr_t)n);
	else
		rv = synod_broker_alter_isr(
		    b, items[0].topic_id, items[0].partition,
		    items[0].leader_epoch, items[0].partition_epoch, isr,
		    items[0].n_isr, cb_alter, NULL);
	if (rv == SYNOD_OK)
		app.alters_sent++;
	else
		FUZZ_CHECK(rv == SYNOD_EUNKNOWN_BROKER ||
			   rv == SYNOD_ESHUTTING_DOWN ||
			   rv == SYNOD_EMESSAGE_TOO_LARGE);
}

/* op 7: view.c's refusal changes nothing; an accepted delta is applied. */
static void apply_any(const uint8_t *body, size_t len)
{
	Synod__Wire__MetadataDelta *d =
	    synod__wire__metadata_delta__unpack(NULL, len, body);
	if (d == NULL)
		return;
	if (view_validate(d) == SYNOD_OK) {
		int rv = view_apply(&app.side, d);
		FUZZ_CHECK(rv == SYNOD_OK);
		FUZZ_CHECK(app.side.version == d->version);
	} else {
		uint64_t v = app.side.version;
		size_t n = view_partition_count(&app.side);
		FUZZ_CHECK(view_apply(&app.side, d) == SYNOD_EINVALID_REQUEST);
		FUZZ_CHECK(app.side.version == v &&
			   view_partition_count(&app.side) == n);
	}
	synod__wire__metadata_delta__free_unpacked(d, NULL);
	check_view(&app.side);
}

/* ---- answers built from the bytes (op 3) ---- */

static const int codes[] = {SYNOD_OK,
			    SYNOD_OK,
			    SYNOD_OK,
			    SYNOD_OK,
			    SYNOD_ESTALE_BROKER_EPOCH,
			    SYNOD_EUNKNOWN_BROKER,
			    SYNOD_EDUPLICATE_BROKER_REGISTRATION,
			    SYNOD_ENOT_CONTROLLER,
			    SYNOD_EUNAVAILABLE,
			    SYNOD_ECLUSTER_ID_MISMATCH,
			    SYNOD_EINVALID_REQUEST,
			    SYNOD_EUNKNOWN};

static void answer_built(const uint8_t *d, size_t len)
{
	struct fz f = {d, len};
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	uint8_t buf[128];
	size_t n;
	uint8_t flags;
	if (!fake.rh.used)
		return;
	st.code = codes[fz_u8(&f) % (sizeof codes / sizeof codes[0])];
	flags = fz_u8(&f);
	if (fake.rh.api == SYNOD_API_BROKER_REGISTER) {
		Synod__Wire__BrokerRegisterResponse r =
		    SYNOD__WIRE__BROKER_REGISTER_RESPONSE__INIT;
		r.status = &st;
		r.has_broker_epoch = (flags & 1) != 0;
		r.broker_epoch = fz_u16(&f);
		r.has_session_timeout_ms = (flags & 2) != 0;
		r.session_timeout_ms = fz_u16(&f);
		r.has_heartbeat_interval_ms = (flags & 4) != 0;
		r.heartbeat_interval_ms = fz_u16(&f);
		FUZZ_CHECK(protobuf_c_message_get_packed_size(&r.base) <=
			   sizeof buf);
		n = protobuf_c_message_pack(&r.base, buf);
	} else {
		Synod__Wire__BrokerHeartbeatResponse r =
		    SYNOD__WIRE__BROKER_HEARTBEAT_RESPONSE__INIT;
		r.status = &st;
		r.has_is_fenced = (flags & 1) != 0;
		r.is_fenced = (flags & 2) != 0;
		r.has_should_shutdown = r.should_shutdown = (flags & 4) != 0;
		r.has_heartbeat_interval_ms = (flags & 8) != 0;
		r.heartbeat_interval_ms = fz_u16(&f);
		r.has_metadata_version = (flags & 16) != 0;
		r.metadata_version = fz_u32(&f);
		r.has_pushed_version = (flags & 32) != 0;
		r.pushed_version = fz_u32(&f);
		FUZZ_CHECK(protobuf_c_message_get_packed_size(&r.base) <=
			   sizeof buf);
		n = protobuf_c_message_pack(&r.base, buf);
	}
	answer(0, SYNOD_OK, buf, n);
}

/* ---- the run ---- */

static const int failures[] = {
    SYNOD_ETIMEOUT,	    SYNOD_ECONNECTION,		SYNOD_ECANCELED,
    SYNOD_EINVALID_REQUEST, SYNOD_ECLUSTER_ID_MISMATCH, SYNOD_ENOT_CONTROLLER,
    SYNOD_EUNAVAILABLE};

static void time_passes(struct synod_broker *b, const uint8_t *d, size_t len,
			int fetch_timer)
{
	uint64_t ms = len >= 2 ? (uint64_t)d[0] << 8 | d[1]
			       : (b->heartbeat_ms ? b->heartbeat_ms : 1000);
	fake_ns += ms * 1000000u;
	/* The self-fencing timer is due at the session's end: it looks at
	 * the clock and fences, or waits again. */
	if (uv_is_active((uv_handle_t *)&b->fence_timer))
		on_fence_timer(&b->fence_timer);
	if (fetch_timer) {
		if (uv_is_active((uv_handle_t *)&b->fetch_timer))
			on_fetch_timer(&b->fetch_timer);
	} else if (uv_is_active((uv_handle_t *)&b->timer)) {
		on_timer(&b->timer);
	}
}

static void check_broker(const struct synod_broker *b)
{
	check_view(&b->view);
	FUZZ_CHECK(b->fetch_cursor_len <= sizeof b->fetch_cursor);
	FUZZ_CHECK(b->n_stage <= b->cap_stage &&
		   b->stage_rounds <= STAGE_ROUNDS_MAX);
	if (b->n_stage == 0) {
		FUZZ_CHECK(b->stage_rounds == 0);
		app.staging = 0;
	} else if (!app.staging) {
		app.staging = 1;
		app.staged_from = b->view.version;
		app.staged_deltas = app.deltas;
	} else {
		FUZZ_CHECK(b->view.version == app.staged_from &&
			   app.deltas == app.staged_deltas);
	}
	if (b->state == SYNOD_BROKER_ACTIVE)
		FUZZ_CHECK(b->epoch != 0 && !b->fenced && !b->self_fenced &&
			   !lease_expired(b));
	FUZZ_CHECK((b->inflight != REQ_NONE) == fake.rh.used);
	FUZZ_CHECK(b->fetch_inflight == fake.fetch.used);
	FUZZ_CHECK(b->alters_inflight == fake.n_alters);
	/* The client's request timeout is the library's once it changed
	 * it (a short session), and then below the session. */
	FUZZ_CHECK(fz_conn.request_timeout_ms == 0 ||
		   (fz_conn.request_timeout_ms == b->request_timeout_ms &&
		    (b->request_timeout_ms < b->session_ms ||
		     b->request_timeout_ms == 100)));
	FUZZ_CHECK(app.alters_sent == app.alters_answered + fake.n_alters);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uv_loop_t *loop;
	static const struct synod_broker_callbacks cbs = {
	    NULL, cb_state, cb_metadata, cb_transitions};
	uint8_t first = size > 0 ? data[0] : 0;
	struct synod_broker_config cfg;
	struct synod_broker *b;
	struct fz f = {data, size};
	struct fz_chunk k;
	if (loop == NULL)
		loop = uv_default_loop();
	memset(&fake, 0, sizeof fake);
	memset(&fz_conn, 0, sizeof fz_conn);
	memset(&app, 0, sizeof app);
	view_init(&app.side);
	fake_ns = 1000000000ull;
	memset(&cfg, 0, sizeof cfg);
	cfg.bootstrap = "127.0.0.1:1";
	cfg.cluster_id = "fuzz-cluster";
	cfg.broker_id = (int32_t)(first % 4) + 1;
	cfg.other_brokers = (first & 0x10) != 0;
	cfg.all_partitions = (first & 0x20) != 0;
	cfg.heartbeat_interval_ms = (first & 0x40) ? 500 : 0;
	FUZZ_CHECK(synod_broker_new(loop, &cfg, &cbs, &b) == SYNOD_OK);
	fake.b = b;
	FUZZ_CHECK(synod_broker_start(b) == SYNOD_OK);
	while (fz_chunk(&f, &k) && !finished(b)) {
		unsigned sub = k.op / 8;
		switch (k.op % 8) {
		case 0:
			on_push(b,
				sub % 8 == 7 ? SYNOD_API_METADATA_FETCH
					     : SYNOD_API_METADATA_PUSH,
				k.data, k.len);
			break;
		case 1:
			answer(sub % 3, SYNOD_OK, k.data, k.len);
			break;
		case 2:
			answer(sub % 3,
			       failures[(k.len ? k.data[0] : 0) %
					(sizeof failures / sizeof failures[0])],
			       NULL, 0);
			break;
		case 3:
			answer_built(k.data, k.len);
			break;
		case 4:
			time_passes(b, k.data, k.len, sub % 2);
			break;
		case 5:
			switch (sub % 5) {
			case 0:
				fz_conn.generation++;
				break;
			case 1:
				fz_conn.connected = !fz_conn.connected;
				break;
			case 2:
				synod_broker_request_fence(
				    b, k.len > 0 && (k.data[0] & 1));
				break;
			case 3:
				FUZZ_CHECK(synod_broker_shutdown(b) ==
					   SYNOD_OK);
				break;
			default:
				fake.fail_sends = k.len > 0 && (k.data[0] & 1);
				break;
			}
			break;
		case 6:
			alter(b, sub % 2, k.data, k.len);
			break;
		default:
			apply_any(k.data, k.len);
			break;
		}
		check_broker(b);
	}
	synod_broker_close(b);
	FUZZ_CHECK(!fake.rh.used && !fake.fetch.used && fake.n_alters == 0);
	while (uv_run(loop, UV_RUN_NOWAIT) != 0)
		;
	view_free(&app.side);
	return 0;
}
