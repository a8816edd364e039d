/* tools/sim.c - synod-sim: many simulated brokers in one process.
 *
 * One libuv loop runs N struct synod_broker (net/broker.c), each with its
 * own client connection, registering with ids K..K+N-1, heartbeating and,
 * on SIGTERM/SIGINT, shutting down in a controlled way. Nothing listens on
 * the endpoints the brokers advertise: they are metadata. See usage().
 *
 * Each broker's library keeps its metadata view (topics and the partitions
 * it replicates, from the controller's pushes and fetches); the state file
 * shows it.
 *
 * Timers: each broker has the library's two timers; the simulator adds a
 * 10 ms ramp timer while brokers are still being started, one 100 ms
 * housekeeping timer (state file, deferred closes, exit check, summary)
 * and one-shot crash/restart/deadline timers.
 *
 * State file: rewritten (atomically) only when something changed: a state,
 * a view (metadata callback), an epoch. At most every 100 ms, and when a
 * write takes longer than that, at most once per write's duration (so
 * writing never takes more than about half of the loop's time). Each
 * broker's partition list is serialized once per change of its view and
 * kept (sorted by topic, then partition) in its struct sbroker, so a write
 * costs little more than the I/O.
 *
 * Ownership: everything is owned by the single struct sim (static); a
 * broker is closed (and its struct sbroker keeps the last values seen,
 * partitions included) once it is STOPPED, FAILED or crashed.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "synod/broker.h"
#include "synod/group.h"

#define PORT_BASE 19000
#define MAX_BROKER_ID (65535 - PORT_BASE)
#define TICK_MS 100
#define RAMP_TICK_MS 10
#define STATE_MIN_MS 100
#define SUMMARY_MS 5000

/* Simulator-level state of one broker: the library's states plus these. */
enum {
	SB_PENDING = -1, /* not started yet (ramp) */
	SB_CRASHED = -2, /* closed without shutdown */
};

struct sbroker {
	int32_t id;
	struct synod_broker *b; /* NULL: not running */
	char rack[24];
	int state; /* enum synod_broker_state, or SB_* */
	int crash_target;
	int close_pending; /* STOPPED/FAILED: close at the next tick */
	uint64_t start_at; /* ramp offset, ms */
	/* Last values seen (kept after close). */
	uint64_t epoch;
	char incarnation[40];
	int fenced;
	int self_fenced; /* the library fenced it: no acknowledged heartbeat */
	/* Partitions it leads, kept from the transitions callback (checked
	 * against the view in the state file: "leading"). */
	long long leading;
	uint64_t transitions;
	uint64_t metadata_version;
	uint64_t last_rtt_us;
	size_t n_topics, n_partitions;
	char err[160];	      /* why it FAILED */
	char last_error[160]; /* the library's last error, if any */
	/* The view's partitions as a JSON array, rebuilt when view_dirty. */
	int view_dirty;
	char *pjson;
	size_t pjson_len;
	/* --event-log: what the last "ack" event said. */
	uint64_t ev_ack_ns;
	int ev_fenced, ev_self;
	/* --isr-churn-ms: the ISR change in flight (one at a time), resent
	 * as it was after a timeout or a lost controller, as a partition
	 * leader must (tries: sends so far). */
	int churn_busy;
	unsigned churn_tries;
	uint8_t churn_tid[16];
	int32_t churn_partition;
	uint32_t churn_le, churn_pe;
	int32_t churn_isr[16];
	size_t churn_n;
};

/* Simulator-level state of one consumer: the library's states plus this. */
enum {
	SC_CRASHED = -1, /* closed without leaving */
};

struct sconsumer;

/* One revocation waiting for --revoke-delay-ms. */
struct srevoke {
	uv_timer_t timer;
	struct sconsumer *sc;
	uint64_t token;
	struct srevoke *next;
};

struct sconsumer {
	unsigned index;
	char group[64];
	char instance[32];
	struct synod_consumer *c; /* NULL: not running */
	int state;		  /* enum synod_consumer_state, or SC_CRASHED */
	int crash_target;
	int close_pending; /* LEFT/FAILED: close at the next tick */
	struct srevoke *revokes;
	/* Wall-clock us of the last change of the owned set (assigned,
	 * revoke done, lost, crash): the file's owned set held from then
	 * until the file's updated_us. */
	uint64_t changed_us;
	/* Kept across close (a crashed consumer owns nothing). */
	char member_id[64];
	int32_t member_epoch;
	uint64_t assignment_version;
	struct synod_consumer_stats closed_stats; /* of closed incarnations */
	char err[160];
	char *ev_owned; /* --event-log: the owned set last logged (JSON) */
};

/* A growable text buffer (abort on out of memory: a simulator). */
struct buf {
	char *p;
	size_t len, cap;
};

static struct sim {
	uv_loop_t loop;
	const char *bootstrap;
	char cluster_id[128];
	unsigned n;
	int32_t first_id;
	unsigned racks;
	unsigned heartbeat_ms;
	unsigned request_timeout_ms;
	unsigned duplicate_retry_ms;
	unsigned ramp_ms;
	unsigned shutdown_timeout_ms;
	const char *state_file;
	int no_partitions; /* --no-partitions-in-state */
	char *crash_list;
	unsigned crash_after_ms;
	unsigned restart_after_ms;
	int verbose;

	struct sbroker *brokers;
	unsigned *order; /* ramp order: indices sorted by start_at */
	unsigned next_start;
	uint64_t t0; /* loop time at start */
	uv_timer_t tick, ramp, crash, restart, deadline;
	uv_signal_t sigint, sigterm;

	int shutting_down;
	int exiting;
	int exit_code;
	int dirty;
	uint64_t last_write_ms;
	uint64_t write_gap_ms; /* min time between writes */
	uint64_t last_summary_ms;
	uint64_t prev_heartbeats;
	struct synod_broker_stats closed_stats; /* of closed brokers */

	/* Consumers (--consumers). */
	unsigned n_consumers;
	unsigned n_groups;
	const char *group_prefix;
	const char **sub_topics; /* --subscribe names */
	size_t n_sub_topics;
	char *sub_regex; /* the /re/ items joined as (a)|(b) */
	unsigned revoke_delay_ms;
	int consumer_instance;
	unsigned consumer_session_ms;
	unsigned rebalance_timeout_ms;
	char *crash_consumers;
	struct sconsumer *consumers;

	/* --event-log and --isr-churn-ms (fault-injection runs). */
	FILE *events;
	unsigned isr_churn_ms;
	unsigned kafka_port_base; /* 0: no Kafka listeners */
	uv_timer_t churn;
} sim;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: synod-sim [--bootstrap H:P,...] [--cluster-id ID] "
	    "--brokers N --first-id K\n"
	    "                 [--racks R] [--heartbeat-ms MS] "
	    "[--state-file F]\n"
	    "                 [--crash ID[,ID...] --crash-after MS "
	    "[--restart-after MS]]\n"
	    "                 [--duplicate-retry-ms MS] "
	    "[--request-timeout-ms MS]\n"
	    "                 [--ramp-ms MS] [--shutdown-timeout-ms MS] "
	    "[--verbose]\n"
	    "                 [--ca FILE --cert FILE --key FILE] (TLS; or "
	    "$SYNOD_CA,\n"
	    "                 $SYNOD_CERT, $SYNOD_KEY: docs/security.md)\n"
	    "                 [--no-partitions-in-state]\n"
	    "                 [--consumers N --subscribe LIST [--groups G] "
	    "[--group-prefix P]\n"
	    "                  [--revoke-delay-ms MS] [--consumer-instance] "
	    "\n"
	    "                  [--consumer-session-ms MS] "
	    "[--rebalance-timeout-ms MS]\n"
	    "                  [--crash-consumers IDX[,IDX...]]]\n"
	    "                 [--event-log F] [--isr-churn-ms MS] "
	    "[--kafka-port-base P]\n"
	    "\n"
	    "Runs N simulated brokers (ids K..K+N-1) in one process until "
	    "SIGTERM or SIGINT,\n"
	    "then shuts them all down in a controlled way. Exit 0 when "
	    "every broker stopped\n"
	    "(crashed ones count as stopped), 1 otherwise (the ones that "
	    "did not stop are\n"
	    "listed), 2 usage error, 3 cluster unreachable. A second "
	    "signal exits at once\n"
	    "(1); so does the simulator when every broker failed (1).\n"
	    "\n"
	    "  --bootstrap H:P,...     controllers (default "
	    "$SYNOD_BOOTSTRAP)\n"
	    "  --cluster-id ID         default: asked with a METADATA "
	    "request\n"
	    "  --racks R               broker i gets rack \"rack-(i %% R)\"\n"
	    "  --heartbeat-ms MS       default: the controller's interval\n"
	    "  --state-file F          JSON state, rewritten atomically "
	    "when something\n"
	    "                          changed, at most every 100 ms (or "
	    "every write's\n"
	    "                          duration, if longer)\n"
	    "  --no-partitions-in-state  leave out the brokers' partition "
	    "lists (huge runs)\n"
	    "  --crash IDS             these brokers stop heartbeating "
	    "(close, no shutdown)\n"
	    "  --crash-after MS        ... this long after start (0: "
	    "never, the default)\n"
	    "  --restart-after MS      ... and start again as a new "
	    "incarnation this much\n"
	    "                          later\n"
	    "  --duplicate-retry-ms MS retry DUPLICATE_BROKER_REGISTRATION "
	    "this long (60000)\n"
	    "  --request-timeout-ms MS per request (library default 5000)\n"
	    "  --ramp-ms MS            start the brokers at random points "
	    "of this span\n"
	    "                          (default N/5 ms, at most 5000)\n"
	    "  --shutdown-timeout-ms MS give up waiting for STOPPED after "
	    "this (30000)\n"
	    "  --kafka-port-base P     broker N answers Kafka clients on "
	    "127.0.0.1:P+N\n"
	    "                          (Metadata from its view of every "
	    "partition, admin\n"
	    "                          requests relayed to the controller) "
	    "and advertises it\n"
	    "                          as its endpoint\n"
	    "\n"
	    "Consumers (synod/group.h), on the same loop; --brokers 0 "
	    "runs consumers only\n"
	    "(--first-id is then not needed):\n"
	    "  --consumers N           N consumers; consumer i joins group "
	    "P(i %% G)\n"
	    "  --groups G              default 1\n"
	    "  --group-prefix P        default \"group-\" (group-0 .. "
	    "group-(G-1))\n"
	    "  --subscribe LIST        topic names, comma-separated; an item "
	    "/re/ is a POSIX\n"
	    "                          extended regex (several: (a)|(b)); "
	    "required\n"
	    "  --revoke-delay-ms MS    each revocation is done (revoke_done) "
	    "this long after\n"
	    "                          the revoking callback (default 0: "
	    "next loop turn)\n"
	    "  --consumer-instance     static members: instance id "
	    "\"sim-<i>\"\n"
	    "  --consumer-session-ms MS session assumed for self-fencing "
	    "until the group's\n"
	    "                          is known (library default 45000)\n"
	    "  --rebalance-timeout-ms MS  (library default 300000)\n"
	    "  --crash-consumers IDXS  these consumers are closed without "
	    "leaving at\n"
	    "                          --crash-after, restarted (new member) "
	    "after\n"
	    "                          --restart-after when given\n"
	    "On SIGTERM/SIGINT consumers leave (static ones with epoch -2) "
	    "before the exit.\n"
	    "  --verbose               a summary line on stderr every 5 "
	    "s (twice: every\n"
	    "                          state change too)\n"
	    "  --event-log F           append JSON lines to F: every "
	    "state change, every\n"
	    "                          applied view (whole, with every "
	    "broker), fencing as\n"
	    "                          the library reckons it, owned sets "
	    "(tests/chaos;\n"
	    "                          small runs only)\n"
	    "  --isr-churn-ms MS       every MS each unfenced broker shrinks "
	    "or regrows the\n"
	    "                          ISR of one partition it leads (one "
	    "change in\n"
	    "                          flight; resent unchanged up to twice "
	    "after a\n"
	    "                          timeout, a lost controller, "
	    "UNAVAILABLE or BUSY)\n"
	    "\n"
	    "State file: {\"brokers\":[{\"id\",\"epoch\",\"incarnation_id\","
	    "\"state\",\"fenced\",\"rack\",\n"
	    "\"metadata_version\" (applied),\"last_rtt_us\",\"topic_count\","
	    "\"partition_count\"[,\"error\"]\n"
	    "[,\"last_error\"][,\"partitions\":[{\"topic\",\"partition\","
	    "\"leader\",\"leader_epoch\",\n"
	    "\"partition_epoch\",\"replicas\",\"isr\"},...] (by topic, "
	    "then partition)]},...],\n"
	    "\"counts\":{state: n}, \"consumers\":[{\"index\",\"group\","
	    "\"instance_id\",\"member_id\",\n"
	    "\"member_epoch\",\"state\",\"assignment_version\","
	    "\"changed_us\",\"owned_count\",\n"
	    "\"revocations_outstanding\",\"joins\",\"fences\","
	    "\"self_fences\",\"losses\"[,\"error\"],\n"
	    "\"owned\":[{\"topic\",\"topic_id\",\"partitions\"},...]},"
	    "...],\n"
	    "\"shutting_down\":bool, \"updated_ms\", \"updated_us\": "
	    "wall-clock time of the write}.\n"
	    "A consumer's owned set is what it owns at updated_us (being "
	    "revoked included,\n"
	    "revoke done excluded; a crashed consumer owns nothing) and "
	    "has not changed\n"
	    "since changed_us.\n"
	    "States: pending (not started yet), registering, fenced, active, "
	    "shutting-down,\nstopped, failed, crashed. Consumers: joining, "
	    "reconciling, stable, fenced,\nleaving, left, failed, "
	    "crashed.\n");
}

static int die_usage(const char *msg)
{
	fprintf(stderr, "synod-sim: %s (see synod-sim --help)\n", msg);
	return 2;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static uint64_t now_ms(void)
{
	return uv_now(&sim.loop);
}

static const char *sb_state_name(const struct sbroker *sb)
{
	if (sb->state == SB_PENDING)
		return "pending";
	if (sb->state == SB_CRASHED)
		return "crashed";
	return synod_broker_state_name((enum synod_broker_state)sb->state);
}

static int sb_done(const struct sbroker *sb)
{
	return sb->state == SB_CRASHED || sb->state == SYNOD_BROKER_STOPPED ||
	       sb->state == SYNOD_BROKER_FAILED;
}

/* ---- text buffers and the partitions' JSON ---- */

static void buf_reserve(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;
	if (b->len + more <= b->cap)
		return;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		fprintf(stderr, "synod-sim: out of memory\n");
		abort();
	}
	b->p = p;
	b->cap = cap;
}

static void buf_put(struct buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void buf_int(struct buf *b, long long v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof tmp, "%lld", v);
	buf_put(b, tmp, (size_t)n);
}

/* A JSON string literal. */
static void buf_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	buf_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			buf_put(b, e, 2);
		} else if (c < 0x20) {
			char e[6] = {'\\', 'u',		'0',
				     '0',  hex[c >> 4], hex[c & 15]};
			buf_put(b, e, 6);
		} else {
			buf_put(b, (const char *)&c, 1);
		}
	}
	buf_put(b, "\"", 1);
}

static void buf_ints(struct buf *b, const int32_t *v, size_t n)
{
	buf_put(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_put(b, ",", 1);
		buf_int(b, v[i]);
	}
	buf_put(b, "]", 1);
}

/* One partition of a view, pointing into it (valid during a rebuild). */
struct prow {
	const char *topic;
	int32_t partition, leader;
	uint32_t leader_epoch, partition_epoch;
	const int32_t *replicas, *isr;
	size_t n_replicas, n_isr;
};

struct prows {
	struct prow *v;
	size_t n, cap;
};

static int collect_partition(void *arg, const Synod__Wire__PartitionState *p)
{
	struct prows *rows = arg;
	struct prow *r;
	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 64;
		struct prow *v = realloc(rows->v, cap * sizeof *v);
		if (v == NULL) {
			fprintf(stderr, "synod-sim: out of memory\n");
			abort();
		}
		rows->v = v;
		rows->cap = cap;
	}
	r = &rows->v[rows->n++];
	r->topic = p->topic;
	r->partition = p->partition;
	r->leader = p->leader;
	r->leader_epoch = p->leader_epoch;
	r->partition_epoch = p->partition_epoch;
	r->replicas = p->replicas;
	r->n_replicas = p->n_replicas;
	r->isr = p->isr;
	r->n_isr = p->n_isr;
	return 0;
}

static int cmp_prow(const void *a, const void *b)
{
	const struct prow *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	if (c)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* Rebuild sb->pjson from the live broker's view. */
static void rebuild_partitions(struct sbroker *sb)
{
	struct prows rows = {0};
	struct buf out = {0};
	sb->view_dirty = 0;
	if (sb->b == NULL || sim.no_partitions)
		return;
	synod_broker_partitions(sb->b, collect_partition, &rows);
	if (rows.n > 1)
		qsort(rows.v, rows.n, sizeof *rows.v, cmp_prow);
	buf_reserve(&out, 2 + rows.n * 128);
	buf_put(&out, "[", 1);
	for (size_t i = 0; i < rows.n; i++) {
		const struct prow *r = &rows.v[i];
		buf_puts(&out, i ? ",{\"topic\":" : "{\"topic\":");
		buf_str(&out, r->topic);
		buf_puts(&out, ",\"partition\":");
		buf_int(&out, r->partition);
		buf_puts(&out, ",\"leader\":");
		buf_int(&out, r->leader);
		buf_puts(&out, ",\"leader_epoch\":");
		buf_int(&out, r->leader_epoch);
		buf_puts(&out, ",\"partition_epoch\":");
		buf_int(&out, r->partition_epoch);
		buf_puts(&out, ",\"replicas\":");
		buf_ints(&out, r->replicas, r->n_replicas);
		buf_puts(&out, ",\"isr\":");
		buf_ints(&out, r->isr, r->n_isr);
		buf_put(&out, "}", 1);
	}
	buf_put(&out, "]", 1);
	free(rows.v);
	free(sb->pjson);
	sb->pjson = out.p;
	sb->pjson_len = out.len;
}

/* Copy what the state file shows from a live broker. */
static void snapshot(struct sbroker *sb)
{
	struct synod_broker *b = sb->b;
	const char *msg;
	if (b == NULL)
		return;
	sb->epoch = synod_broker_epoch(b);
	snprintf(sb->incarnation, sizeof sb->incarnation, "%s",
		 synod_broker_incarnation(b));
	sb->fenced = synod_broker_fenced(b);
	sb->self_fenced = synod_broker_self_fenced(b);
	sb->metadata_version = synod_broker_metadata_version(b);
	sb->last_rtt_us = synod_broker_last_rtt_us(b);
	sb->n_topics = synod_broker_topic_count(b);
	sb->n_partitions = synod_broker_partition_count(b);
	if (synod_broker_error(b, &msg) != SYNOD_OK)
		snprintf(sb->last_error, sizeof sb->last_error, "%s", msg);
	if (sb->view_dirty)
		rebuild_partitions(sb);
}

/* ---- event log (--event-log F: JSON lines for tests/chaos) ----
 *
 * Every line is one object with "t" (CLOCK_MONOTONIC seconds, the clock
 * of uv_hrtime and of Python's time.monotonic) and "ev":
 *   state  a broker's library state changed: b, inc, epoch, state
 *   view   a broker applied a delta: b, inc, epoch, v (version), parts
 *          (every partition of its view: [topic id hex, partition,
 *          leader, leader epoch, partition epoch, [isr], [replicas]])
 *          and brokers (every broker of its view: [id, epoch, fenced,
 *          shutting down])
 *   ack    a broker's fencing as the library sees it changed, or a new
 *          heartbeat was acknowledged (checked every 100 ms): b, inc,
 *          epoch, fenced, self, deadline (when the session may end by
 *          the library's reckoning: last acknowledged send + session)
 *   alter  an ISR change answered (--isr-churn-ms): b, code, try (its
 *          sends so far), and with a state (OK): tid, p, isr, leader,
 *          le, pe, reps (the state the controller committed)
 *   own    a consumer's owned set changed: c, g, m, e, owned [[topic id
 *          hex, partition, topic name], ...]
 *   close  a broker or consumer was closed without a controlled exit
 * Lines are written whole and flushed at once: a kill -9 loses nothing
 * that was written. Meant for small runs (a view event lists the view). */

static void ev_begin(struct buf *o, const char *ev)
{
	char t[40];
	snprintf(t, sizeof t, "{\"t\":%.6f,\"ev\":\"",
		 (double)uv_hrtime() / 1e9);
	buf_puts(o, t);
	buf_puts(o, ev);
	buf_puts(o, "\"");
}

static void ev_broker(struct buf *o, const char *ev, struct sbroker *sb)
{
	ev_begin(o, ev);
	buf_puts(o, ",\"b\":");
	buf_int(o, sb->id);
	buf_puts(o, ",\"inc\":");
	buf_str(o, sb->b ? synod_broker_incarnation(sb->b) : sb->incarnation);
	buf_puts(o, ",\"epoch\":");
	buf_int(o, sb->b ? (long long)synod_broker_epoch(sb->b)
			 : (long long)sb->epoch);
}

static void ev_end(struct buf *o)
{
	buf_puts(o, "}\n");
	fwrite(o->p, 1, o->len, sim.events);
	fflush(sim.events);
	free(o->p);
}

static void buf_hex(struct buf *o, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	buf_put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		char c[2] = {hx[p[i] >> 4], hx[p[i] & 15]};
		buf_put(o, c, 2);
	}
	buf_put(o, "\"", 1);
}

static int ev_part(void *arg, const Synod__Wire__PartitionState *p)
{
	struct buf *o = arg;
	buf_puts(o, o->p[o->len - 1] == '[' ? "[" : ",[");
	buf_hex(o, p->topic_id.data, p->topic_id.len);
	buf_puts(o, ",");
	buf_int(o, p->partition);
	buf_puts(o, ",");
	buf_int(o, p->leader);
	buf_puts(o, ",");
	buf_int(o, p->leader_epoch);
	buf_puts(o, ",");
	buf_int(o, p->partition_epoch);
	buf_puts(o, ",");
	buf_ints(o, p->isr, p->n_isr);
	buf_puts(o, ",");
	buf_ints(o, p->replicas, p->n_replicas);
	buf_puts(o, "]");
	return 0;
}

static int ev_peer(void *arg, const Synod__Wire__BrokerState *bs)
{
	struct buf *o = arg;
	buf_puts(o, o->p[o->len - 1] == '[' ? "[" : ",[");
	buf_int(o, bs->id);
	buf_puts(o, ",");
	buf_int(o, (long long)bs->epoch);
	buf_puts(o, bs->fenced ? ",1" : ",0");
	buf_puts(o, bs->has_shutting_down && bs->shutting_down ? ",1]" : ",0]");
	return 0;
}

static void ev_view(struct sbroker *sb)
{
	struct buf o = {0};
	ev_broker(&o, "view", sb);
	buf_puts(&o, ",\"v\":");
	buf_int(&o, (long long)synod_broker_metadata_version(sb->b));
	buf_puts(&o, ",\"parts\":[");
	synod_broker_partitions(sb->b, ev_part, &o);
	buf_puts(&o, "],\"brokers\":[");
	synod_broker_brokers(sb->b, ev_peer, &o);
	buf_puts(&o, "]");
	ev_end(&o);
}

static void ev_state(struct sbroker *sb, const char *state)
{
	struct buf o = {0};
	ev_broker(&o, "state", sb);
	buf_puts(&o, ",\"state\":");
	buf_str(&o, state);
	ev_end(&o);
}

/* Every tick: a broker's fencing, as the library reckons it. */
static void ev_ack(struct sbroker *sb)
{
	struct buf o = {0};
	uint64_t ack = synod_broker_last_ack_ns(sb->b);
	int fenced = synod_broker_fenced(sb->b);
	int self = synod_broker_self_fenced(sb->b);
	char d[40];
	if (ack == sb->ev_ack_ns && fenced == sb->ev_fenced &&
	    self == sb->ev_self)
		return;
	sb->ev_ack_ns = ack;
	sb->ev_fenced = fenced;
	sb->ev_self = self;
	ev_broker(&o, "ack", sb);
	buf_puts(&o, fenced ? ",\"fenced\":1" : ",\"fenced\":0");
	buf_puts(&o, self ? ",\"self\":1" : ",\"self\":0");
	if (ack && synod_broker_session_timeout(sb->b)) {
		snprintf(d, sizeof d, ",\"deadline\":%.6f",
			 (double)ack / 1e9 +
			     synod_broker_session_timeout(sb->b) / 1000.0);
		buf_puts(&o, d);
	}
	ev_end(&o);
}

static void ev_close(const char *kind, long long id)
{
	struct buf o = {0};
	ev_begin(&o, "close");
	buf_puts(&o, kind[0] == 'b' ? ",\"b\":" : ",\"c\":");
	buf_int(&o, id);
	ev_end(&o);
}

static void add_stats(struct synod_broker_stats *to,
		      const struct synod_broker_stats *st)
{
	to->registrations += st->registrations;
	to->heartbeats += st->heartbeats;
	to->heartbeats_ok += st->heartbeats_ok;
	to->heartbeats_failed += st->heartbeats_failed;
	to->heartbeats_skipped += st->heartbeats_skipped;
	to->pushes += st->pushes;
	to->pushes_applied += st->pushes_applied;
	to->pushes_ignored += st->pushes_ignored;
	to->gaps += st->gaps;
	to->fetches += st->fetches;
	to->fetches_failed += st->fetches_failed;
	to->full_images += st->full_images;
	to->fetch_pages += st->fetch_pages;
	to->staged_commits += st->staged_commits;
	to->alters += st->alters;
	to->self_fences += st->self_fences;
}

static void close_broker(struct sbroker *sb)
{
	struct synod_broker_stats st;
	if (sb->b == NULL)
		return;
	snapshot(sb); /* the view too: it goes with the broker */
	if (sim.events)
		ev_close("b", sb->id);
	synod_broker_stats(sb->b, &st);
	add_stats(&sim.closed_stats, &st);
	synod_broker_close(sb->b);
	sb->b = NULL;
	sb->close_pending = 0;
}

static void on_metadata(void *arg, struct synod_broker *b,
			const Synod__Wire__MetadataDelta *delta)
{
	struct sbroker *sb = arg;
	sb->view_dirty = 1;
	sim.dirty = 1;
	if (sim.events)
		ev_view(sb);
	if (sim.verbose > 1)
		fprintf(stderr,
			"synod-sim: broker %d: metadata %llu..%llu%s: %zu "
			"topics, %zu partitions, %zu removed\n",
			sb->id, (unsigned long long)delta->prev_version,
			(unsigned long long)delta->version,
			delta->has_full && delta->full ? " (full)" : "",
			delta->n_topics, delta->n_partitions, delta->n_removed);
}

static void on_transitions(void *arg, struct synod_broker *b, uint64_t version,
			   const struct synod_transition *t, size_t n)
{
	struct sbroker *sb = arg;
	(void)b;
	for (size_t i = 0; i < n; i++) {
		if (t[i].old_role == SYNOD_ROLE_LEADER &&
		    t[i].new_role != SYNOD_ROLE_LEADER)
			sb->leading--;
		else if (t[i].old_role != SYNOD_ROLE_LEADER &&
			 t[i].new_role == SYNOD_ROLE_LEADER)
			sb->leading++;
		if (sim.verbose > 2)
			fprintf(stderr,
				"synod-sim: broker %d at %llu: %s-%d %d -> %d "
				"(leader %d, epoch %u)\n",
				sb->id, (unsigned long long)version, t[i].topic,
				t[i].partition, (int)t[i].old_role,
				(int)t[i].new_role, t[i].leader,
				t[i].leader_epoch);
	}
	sb->transitions += n;
	sim.dirty = 1;
}

static void on_state(void *arg, struct synod_broker *b,
		     enum synod_broker_state old_state,
		     enum synod_broker_state new_state)
{
	struct sbroker *sb = arg;
	sb->state = (int)new_state;
	sim.dirty = 1;
	if (sim.events)
		ev_state(sb, synod_broker_state_name(new_state));
	if (new_state == SYNOD_BROKER_FAILED) {
		const char *msg;
		synod_broker_error(b, &msg);
		snprintf(sb->err, sizeof sb->err, "%s", msg);
		fprintf(stderr, "synod-sim: broker %d failed: %s\n", sb->id,
			msg);
	}
	/* Closed at the next tick, not from inside the library's call. */
	if (new_state == SYNOD_BROKER_STOPPED ||
	    new_state == SYNOD_BROKER_FAILED)
		sb->close_pending = 1;
	if (sim.verbose > 1)
		fprintf(stderr, "synod-sim: broker %d: %s -> %s\n", sb->id,
			synod_broker_state_name(old_state),
			synod_broker_state_name(new_state));
}

static int start_broker(struct sbroker *sb)
{
	struct synod_endpoint ep = {
	    .name = "PLAINTEXT",
	    .host = "127.0.0.1",
	    .port = (uint16_t)(PORT_BASE + sb->id),
	    .security_protocol = "PLAINTEXT",
	};
	char kafka[32];
	if (sim.kafka_port_base) {
		ep.port = (uint16_t)(sim.kafka_port_base + (unsigned)sb->id);
		snprintf(kafka, sizeof kafka, "127.0.0.1:%u", ep.port);
	}
	struct synod_broker_config cfg = {
	    .bootstrap = sim.bootstrap,
	    .cluster_id = sim.cluster_id,
	    .tls_ca_file = tool_tls_ca(),
	    .tls_cert_file = tool_tls_cert(),
	    .tls_key_file = tool_tls_key(),
	    .broker_id = sb->id,
	    .rack = sb->rack[0] ? sb->rack : NULL,
	    .endpoints = &ep,
	    .n_endpoints = 1,
	    .heartbeat_interval_ms = sim.heartbeat_ms,
	    .request_timeout_ms = sim.request_timeout_ms,
	    .duplicate_retry_ms = sim.duplicate_retry_ms,
	    /* The event log shows which brokers each view says are
	     * fenced. */
	    .other_brokers = sim.events != NULL || sim.kafka_port_base,
	    .kafka_address = sim.kafka_port_base ? kafka : NULL,
	    /* A Kafka listener answers Metadata for any topic from the
	     * view (docs/kafka.md). */
	    .all_partitions = sim.kafka_port_base != 0,
	};
	struct synod_broker_callbacks cbs = {.arg = sb,
					     .state_changed = on_state,
					     .metadata = on_metadata,
					     .transitions = on_transitions};
	int rv = synod_broker_new(&sim.loop, &cfg, &cbs, &sb->b);
	if (rv != SYNOD_OK) {
		fprintf(stderr, "synod-sim: broker %d: %s\n", sb->id,
			synod_strerror(rv));
		sb->b = NULL;
		sb->state = SYNOD_BROKER_FAILED;
		snprintf(sb->err, sizeof sb->err, "new: %s",
			 synod_strerror(rv));
		sim.dirty = 1;
		return rv;
	}
	sb->state = SYNOD_BROKER_REGISTERING;
	sb->epoch = 0;
	sb->fenced = 1;
	sb->self_fenced = 0;
	sb->ev_ack_ns = 0;
	sb->ev_fenced = -1; /* the first tick logs an "ack" event */
	sb->leading = 0;    /* a new, empty view */
	sb->churn_busy = 0; /* the closed library's answer never comes */
	sb->last_rtt_us = 0;
	sb->view_dirty = 1; /* a new, empty view */
	sb->err[0] = '\0';
	sb->last_error[0] = '\0';
	snapshot(sb);
	rv = synod_broker_start(sb->b);
	if (rv != SYNOD_OK) {
		fprintf(stderr, "synod-sim: broker %d: start: %s\n", sb->id,
			synod_strerror(rv));
		synod_broker_close(sb->b);
		sb->b = NULL;
		sb->state = SYNOD_BROKER_FAILED;
		snprintf(sb->err, sizeof sb->err, "start: %s",
			 synod_strerror(rv));
		return rv;
	}
	sim.dirty = 1;
	return SYNOD_OK;
}

/* ---- ISR churn (--isr-churn-ms) ----
 * Every interval each unfenced broker takes one partition it leads (at
 * random) and shrinks its ISR by one follower, or grows it back to every
 * replica: leadership then moves within a changing ISR when brokers are
 * fenced (tests/chaos). */

struct churn_pick {
	int32_t id;
	unsigned seen;
	uint8_t tid[16];
	int32_t partition;
	uint32_t leader_epoch, partition_epoch;
	int32_t isr[16], replicas[16];
	size_t n_isr, n_replicas;
};

static int churn_collect(void *arg, const Synod__Wire__PartitionState *p)
{
	struct churn_pick *k = arg;
	if (p->leader != k->id || p->topic_id.len != 16 || p->n_replicas < 2 ||
	    p->n_replicas > 16 || p->n_isr > 16)
		return 0;
	k->seen++;
	if ((unsigned long)random() % k->seen != 0)
		return 0; /* reservoir sampling: each one equally likely */
	memcpy(k->tid, p->topic_id.data, 16);
	k->partition = p->partition;
	k->leader_epoch = p->leader_epoch;
	k->partition_epoch = p->partition_epoch;
	memcpy(k->isr, p->isr, p->n_isr * sizeof *p->isr);
	k->n_isr = p->n_isr;
	memcpy(k->replicas, p->replicas, p->n_replicas * sizeof *p->replicas);
	k->n_replicas = p->n_replicas;
	return 0;
}

/* Sends of one ISR change at most (a first send and two resends). */
#define CHURN_TRIES 3

static int churn_send(struct sbroker *sb);

static void on_churn_done(void *arg, int code,
			  const Synod__Wire__PartitionState *st)
{
	struct sbroker *sb = arg;
	struct buf o = {0};
	if (sim.events) {
		ev_begin(&o, "alter");
		buf_puts(&o, ",\"b\":");
		buf_int(&o, sb->id);
		buf_puts(&o, ",\"code\":");
		buf_str(&o, synod_error_name(code));
		buf_puts(&o, ",\"try\":");
		buf_int(&o, sb->churn_tries);
		if (st && st->topic_id.len == 16) {
			buf_puts(&o, ",\"tid\":");
			buf_hex(&o, st->topic_id.data, 16);
			buf_puts(&o, ",\"p\":");
			buf_int(&o, st->partition);
			buf_puts(&o, ",\"isr\":");
			buf_ints(&o, st->isr, st->n_isr);
			buf_puts(&o, ",\"leader\":");
			buf_int(&o, st->leader);
			buf_puts(&o, ",\"le\":");
			buf_int(&o, st->leader_epoch);
			buf_puts(&o, ",\"pe\":");
			buf_int(&o, st->partition_epoch);
			buf_puts(&o, ",\"reps\":");
			buf_ints(&o, st->replicas, st->n_replicas);
		}
		ev_end(&o);
	}
	sb->churn_busy = 0;
	/* Outcome unknown: the change may be in flight still, or applied
	 * with its answer lost. Send it again, unchanged. */
	if ((code == SYNOD_ETIMEOUT || code == SYNOD_ECONNECTION ||
	     code == SYNOD_ENOT_CONTROLLER || code == SYNOD_EUNAVAILABLE ||
	     code == SYNOD_EBUSY) &&
	    sb->churn_tries < CHURN_TRIES && sb->b != NULL)
		churn_send(sb);
}

static int churn_send(struct sbroker *sb)
{
	int rv = synod_broker_alter_isr(
	    sb->b, sb->churn_tid, sb->churn_partition, sb->churn_le,
	    sb->churn_pe, sb->churn_isr, sb->churn_n, on_churn_done, sb);
	if (rv == SYNOD_OK) {
		sb->churn_busy = 1;
		sb->churn_tries++;
	}
	return rv;
}

static void on_churn(uv_timer_t *t)
{
	(void)t;
	for (unsigned i = 0; i < sim.n; i++) {
		struct sbroker *sb = &sim.brokers[i];
		struct churn_pick k = {.id = sb->id};
		size_t n = 0;
		if (sb->b == NULL || sb->churn_busy ||
		    synod_broker_fenced(sb->b))
			continue;
		synod_broker_partitions(sb->b, churn_collect, &k);
		if (k.seen == 0)
			continue;
		if (k.n_isr >= k.n_replicas) {
			/* Drop one follower, at random. */
			size_t drop = 1 + (size_t)random() % (k.n_isr - 1);
			for (size_t j = 0, f = 0; j < k.n_isr; j++) {
				if (k.isr[j] != sb->id && ++f == drop)
					continue;
				sb->churn_isr[n++] = k.isr[j];
			}
		} else {
			memcpy(sb->churn_isr, k.replicas,
			       k.n_replicas * sizeof *sb->churn_isr);
			n = k.n_replicas;
		}
		memcpy(sb->churn_tid, k.tid, 16);
		sb->churn_partition = k.partition;
		sb->churn_le = k.leader_epoch;
		sb->churn_pe = k.partition_epoch;
		sb->churn_n = n;
		sb->churn_tries = 0;
		churn_send(sb);
	}
}

/* ---- consumers ---- */

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *sc_state_name(const struct sconsumer *sc)
{
	if (sc->state == SC_CRASHED)
		return "crashed";
	return synod_consumer_state_name((enum synod_consumer_state)sc->state);
}

static int sc_done(const struct sconsumer *sc)
{
	return sc->state == SC_CRASHED || sc->state == SYNOD_CONSUMER_LEFT ||
	       sc->state == SYNOD_CONSUMER_FAILED;
}

static void sc_snapshot(struct sconsumer *sc)
{
	if (sc->c == NULL)
		return;
	snprintf(sc->member_id, sizeof sc->member_id, "%s",
		 synod_consumer_member_id(sc->c));
	sc->member_epoch = synod_consumer_member_epoch(sc->c);
	sc->assignment_version = synod_consumer_assignment_version(sc->c);
}

static void add_cstats(struct synod_consumer_stats *to,
		       const struct synod_consumer_stats *st)
{
	to->joins += st->joins;
	to->heartbeats += st->heartbeats;
	to->full_heartbeats += st->full_heartbeats;
	to->answers_ok += st->answers_ok;
	to->failures += st->failures;
	to->skipped += st->skipped;
	to->pushes += st->pushes;
	to->pushes_applied += st->pushes_applied;
	to->pushes_ignored += st->pushes_ignored;
	to->assignments += st->assignments;
	to->revocations += st->revocations;
	to->losses += st->losses;
	to->fences += st->fences;
	to->self_fences += st->self_fences;
}

/* --event-log: an "own" event when the owned set changed since the last
 * one (a closed consumer owns nothing). */
static void ev_own(struct sconsumer *sc)
{
	struct buf set = {0}, o = {0};
	const struct synod_tp *tps = NULL;
	size_t n = sc->c ? synod_consumer_owned(sc->c, &tps) : 0;
	if (sim.events == NULL)
		return;
	buf_put(&set, "[", 1);
	for (size_t i = 0; i < n; i++) {
		/* By topic id: a topic deleted and created again under its
		 * name is another topic. */
		buf_puts(&set, i ? ",[" : "[");
		buf_hex(&set, tps[i].topic_id, 16);
		buf_puts(&set, ",");
		buf_int(&set, tps[i].partition);
		buf_puts(&set, ",");
		buf_str(&set, tps[i].topic);
		buf_puts(&set, "]");
	}
	buf_put(&set, "]", 1);
	buf_put(&set, "", 1); /* NUL */
	if (sc->ev_owned && strcmp(sc->ev_owned, set.p) == 0) {
		free(set.p);
		return;
	}
	free(sc->ev_owned);
	sc->ev_owned = set.p;
	ev_begin(&o, "own");
	buf_puts(&o, ",\"c\":");
	buf_int(&o, sc->index);
	buf_puts(&o, ",\"g\":");
	buf_str(&o, sc->group);
	buf_puts(&o, ",\"m\":");
	buf_str(&o, sc->c ? synod_consumer_member_id(sc->c) : sc->member_id);
	buf_puts(&o, ",\"e\":");
	buf_int(&o,
		sc->c ? synod_consumer_member_epoch(sc->c) : sc->member_epoch);
	buf_puts(&o, ",\"owned\":");
	buf_puts(&o, set.p);
	ev_end(&o);
}

static void on_revoke_closed(uv_handle_t *h)
{
	free(h->data);
}

static void drop_revoke(struct srevoke *r)
{
	struct srevoke **pp = &r->sc->revokes;
	while (*pp && *pp != r)
		pp = &(*pp)->next;
	if (*pp)
		*pp = r->next;
	uv_close((uv_handle_t *)&r->timer, on_revoke_closed);
}

static void on_revoke_timer(uv_timer_t *t)
{
	struct srevoke *r = t->data;
	struct sconsumer *sc = r->sc;
	if (sc->c) {
		/* ENOT_FOUND when the membership was lost meanwhile. */
		synod_consumer_revoke_done(sc->c, r->token);
		sc->changed_us = wall_us();
		ev_own(sc);
		sim.dirty = 1;
	}
	drop_revoke(r);
}

/* Close without leaving (a crash, or after LEFT/FAILED): the consumer
 * owns nothing from now on. */
static void close_consumer(struct sconsumer *sc)
{
	struct synod_consumer_stats st;
	if (sc->c == NULL)
		return;
	while (sc->revokes)
		drop_revoke(sc->revokes);
	sc_snapshot(sc);
	synod_consumer_stats(sc->c, &st);
	add_cstats(&sc->closed_stats, &st);
	synod_consumer_close(sc->c);
	sc->c = NULL;
	sc->close_pending = 0;
	ev_own(sc);
	sc->changed_us = wall_us();
	sim.dirty = 1;
}

static void on_c_state(void *arg, struct synod_consumer *c,
		       enum synod_consumer_state old_state,
		       enum synod_consumer_state new_state)
{
	struct sconsumer *sc = arg;
	sc->state = (int)new_state;
	sim.dirty = 1;
	if (new_state == SYNOD_CONSUMER_FAILED) {
		const char *msg;
		synod_consumer_error(c, &msg);
		snprintf(sc->err, sizeof sc->err, "%s", msg);
		fprintf(stderr, "synod-sim: consumer %u failed: %s\n",
			sc->index, msg);
	}
	if (new_state == SYNOD_CONSUMER_LEFT ||
	    new_state == SYNOD_CONSUMER_FAILED)
		sc->close_pending = 1;
	if (sim.verbose > 1)
		fprintf(stderr, "synod-sim: consumer %u (%s): %s -> %s\n",
			sc->index, sc->group,
			synod_consumer_state_name(old_state),
			synod_consumer_state_name(new_state));
}

static void on_c_assigned(void *arg, struct synod_consumer *c,
			  const struct synod_tp *tps, size_t n)
{
	struct sconsumer *sc = arg;
	(void)c;
	(void)tps;
	sc->changed_us = wall_us();
	sim.dirty = 1;
	ev_own(sc);
	if (sim.verbose > 2)
		fprintf(stderr, "synod-sim: consumer %u: %zu assigned\n",
			sc->index, n);
}

static void on_c_revoking(void *arg, struct synod_consumer *c,
			  const struct synod_tp *tps, size_t n, uint64_t token)
{
	struct sconsumer *sc = arg;
	struct srevoke *r;
	(void)c;
	(void)tps;
	sim.dirty = 1;
	if (sim.verbose > 2)
		fprintf(stderr, "synod-sim: consumer %u: %zu %s\n", sc->index,
			n, token == SYNOD_CONSUMER_LOST ? "lost" : "revoking");
	if (token == SYNOD_CONSUMER_LOST) {
		sc->changed_us = wall_us(); /* gone already */
		ev_own(sc);
		return;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL) {
		fprintf(stderr, "synod-sim: out of memory\n");
		abort();
	}
	r->sc = sc;
	r->token = token;
	r->next = sc->revokes;
	sc->revokes = r;
	uv_timer_init(&sim.loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, on_revoke_timer, sim.revoke_delay_ms, 0);
}

static void on_c_error(void *arg, struct synod_consumer *c, int code,
		       const char *msg)
{
	struct sconsumer *sc = arg;
	(void)c;
	if (sim.verbose > 1)
		fprintf(stderr, "synod-sim: consumer %u: %s: %s\n", sc->index,
			synod_error_name(code), msg ? msg : "");
}

static int start_consumer(struct sconsumer *sc)
{
	struct synod_consumer_config cfg = {
	    .bootstrap = sim.bootstrap,
	    .cluster_id = sim.cluster_id,
	    .tls_ca_file = tool_tls_ca(),
	    .tls_cert_file = tool_tls_cert(),
	    .tls_key_file = tool_tls_key(),
	    .group_id = sc->group,
	    .instance_id = sc->instance[0] ? sc->instance : NULL,
	    .client_id = "synod-sim",
	    .topics = sim.sub_topics,
	    .n_topics = sim.n_sub_topics,
	    .topic_regex = sim.sub_regex,
	    .rebalance_timeout_ms = sim.rebalance_timeout_ms,
	    .session_timeout_ms = sim.consumer_session_ms,
	    .request_timeout_ms = sim.request_timeout_ms,
	};
	struct synod_consumer_callbacks cbs = {.arg = sc,
					       .state_changed = on_c_state,
					       .assigned = on_c_assigned,
					       .revoking = on_c_revoking,
					       .error = on_c_error};
	int rv = synod_consumer_new(&sim.loop, &cfg, &cbs, &sc->c);
	if (rv == SYNOD_OK) {
		sc->state = SYNOD_CONSUMER_JOINING;
		sc->err[0] = '\0';
		sc->member_id[0] = '\0';
		sc->member_epoch = 0;
		sc->assignment_version = 0;
		rv = synod_consumer_start(sc->c);
		if (rv != SYNOD_OK) {
			synod_consumer_close(sc->c);
			sc->c = NULL;
		}
	} else {
		sc->c = NULL;
	}
	sim.dirty = 1;
	if (rv != SYNOD_OK) {
		fprintf(stderr, "synod-sim: consumer %u: %s\n", sc->index,
			synod_strerror(rv));
		sc->state = SYNOD_CONSUMER_FAILED;
		snprintf(sc->err, sizeof sc->err, "start: %s",
			 synod_strerror(rv));
	}
	return rv;
}

static void put_consumer(struct buf *o, struct sconsumer *sc)
{
	struct synod_consumer_stats st = sc->closed_stats, live;
	const struct synod_tp *tps = NULL;
	size_t n = 0;
	char hex[33];
	sc_snapshot(sc);
	if (sc->c) {
		n = synod_consumer_owned(sc->c, &tps);
		synod_consumer_stats(sc->c, &live);
		add_cstats(&st, &live);
	}
	buf_puts(o, "{\"index\":");
	buf_int(o, sc->index);
	buf_puts(o, ",\"group\":");
	buf_str(o, sc->group);
	buf_puts(o, ",\"instance_id\":");
	if (sc->instance[0])
		buf_str(o, sc->instance);
	else
		buf_puts(o, "null");
	buf_puts(o, ",\"member_id\":");
	buf_str(o, sc->member_id);
	buf_puts(o, ",\"member_epoch\":");
	buf_int(o, sc->member_epoch);
	buf_puts(o, ",\"state\":");
	buf_str(o, sc_state_name(sc));
	buf_puts(o, ",\"assignment_version\":");
	buf_int(o, (long long)sc->assignment_version);
	buf_puts(o, ",\"changed_us\":");
	buf_int(o, (long long)sc->changed_us);
	buf_puts(o, ",\"owned_count\":");
	buf_int(o, (long long)n);
	buf_puts(o, ",\"revocations_outstanding\":");
	buf_int(o,
		sc->c ? (long long)synod_consumer_revocations_outstanding(sc->c)
		      : 0);
	buf_puts(o, ",\"joins\":");
	buf_int(o, (long long)st.joins);
	buf_puts(o, ",\"fences\":");
	buf_int(o, (long long)st.fences);
	buf_puts(o, ",\"self_fences\":");
	buf_int(o, (long long)st.self_fences);
	buf_puts(o, ",\"losses\":");
	buf_int(o, (long long)st.losses);
	if (sc->err[0]) {
		buf_puts(o, ",\"error\":");
		buf_str(o, sc->err);
	}
	buf_puts(o, ",\"owned\":[");
	for (size_t i = 0; i < n;) {
		size_t j = i;
		for (int k = 0; k < 16; k++)
			snprintf(hex + 2 * k, 3, "%02x", tps[i].topic_id[k]);
		buf_puts(o, i ? ",{\"topic\":" : "{\"topic\":");
		if (tps[i].topic)
			buf_str(o, tps[i].topic);
		else
			buf_puts(o, "null");
		buf_puts(o, ",\"topic_id\":");
		buf_str(o, hex);
		buf_puts(o, ",\"partitions\":[");
		for (;
		     j < n && memcmp(tps[j].topic_id, tps[i].topic_id, 16) == 0;
		     j++) {
			if (j > i)
				buf_put(o, ",", 1);
			buf_int(o, tps[j].partition);
		}
		buf_puts(o, "]}");
		i = j;
	}
	buf_puts(o, "]}");
}

/* ---- state file ---- */

static void put_broker(struct buf *o, const struct sbroker *sb)
{
	buf_puts(o, "{\"id\":");
	buf_int(o, sb->id);
	buf_puts(o, ",\"epoch\":");
	buf_int(o, (long long)sb->epoch);
	buf_puts(o, ",\"incarnation_id\":");
	buf_str(o, sb->incarnation);
	buf_puts(o, ",\"state\":");
	buf_str(o, sb_state_name(sb));
	buf_puts(o, sb->fenced ? ",\"fenced\":true" : ",\"fenced\":false");
	buf_puts(o, sb->self_fenced ? ",\"self_fenced\":true"
				    : ",\"self_fenced\":false");
	buf_puts(o, ",\"leading\":");
	buf_int(o, sb->leading);
	buf_puts(o, ",\"transitions\":");
	buf_int(o, (long long)sb->transitions);
	buf_puts(o, ",\"rack\":");
	if (sb->rack[0])
		buf_str(o, sb->rack);
	else
		buf_puts(o, "null");
	buf_puts(o, ",\"metadata_version\":");
	buf_int(o, (long long)sb->metadata_version);
	buf_puts(o, ",\"last_rtt_us\":");
	buf_int(o, (long long)sb->last_rtt_us);
	buf_puts(o, ",\"topic_count\":");
	buf_int(o, (long long)sb->n_topics);
	buf_puts(o, ",\"partition_count\":");
	buf_int(o, (long long)sb->n_partitions);
	if (sb->err[0]) {
		buf_puts(o, ",\"error\":");
		buf_str(o, sb->err);
	}
	if (sb->last_error[0]) {
		buf_puts(o, ",\"last_error\":");
		buf_str(o, sb->last_error);
	}
}

/* Written with stdio (not jansson): the partition lists can be large and
 * are kept serialized per broker. */
static int write_state_file(void)
{
	static const char *const cnames[8] = {
	    "crashed", "pending",	"registering", "fenced",
	    "active",  "shutting-down", "stopped",     "failed"};
	unsigned c[8] = {0}; /* by state + 2 */
	char tmp[4096];
	struct buf o = {0};
	uint64_t t0 = uv_hrtime(), took_ms, now_us = wall_us();
	FILE *f;
	int rv = 0;
	if (sim.state_file == NULL)
		return 0;
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", sim.state_file, (int)getpid());
	f = fopen(tmp, "w");
	if (f == NULL) {
		fprintf(stderr, "synod-sim: cannot write %s: %s\n", tmp,
			strerror(errno));
		rv = -1;
		goto out;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	fputs("{\"brokers\":[", f);
	for (unsigned i = 0; i < sim.n; i++) {
		struct sbroker *sb = &sim.brokers[i];
		snapshot(sb);
		c[sb->state + 2]++;
		o.len = 0;
		if (i)
			buf_put(&o, ",", 1);
		put_broker(&o, sb);
		if (!sim.no_partitions)
			buf_puts(&o, ",\"partitions\":");
		fwrite(o.p, 1, o.len, f);
		if (!sim.no_partitions) {
			if (sb->pjson)
				fwrite(sb->pjson, 1, sb->pjson_len, f);
			else
				fputs("[]", f);
		}
		fputc('}', f);
	}
	fputs("],\"counts\":{", f);
	for (unsigned i = 0; i < 8; i++)
		fprintf(f, "%s\"%s\":%u", i ? "," : "", cnames[i], c[i]);
	fputs("},\"consumers\":[", f);
	for (unsigned i = 0; i < sim.n_consumers; i++) {
		o.len = 0;
		if (i)
			buf_put(&o, ",", 1);
		put_consumer(&o, &sim.consumers[i]);
		fwrite(o.p, 1, o.len, f);
	}
	/* Every consumer's owned set above is the one it has at updated_us
	 * (nothing runs on the loop while this is written). */
	fprintf(f,
		"],\"shutting_down\":%s,\"updated_ms\":%llu,"
		"\"updated_us\":%llu}\n",
		sim.shutting_down ? "true" : "false",
		(unsigned long long)(now_us / 1000u),
		(unsigned long long)now_us);
	rv = ferror(f);
	if (fclose(f) != 0)
		rv = -1;
	if (rv != 0 || rename(tmp, sim.state_file) != 0) {
		fprintf(stderr, "synod-sim: cannot write %s: %s\n",
			sim.state_file, strerror(errno));
		unlink(tmp);
		rv = -1;
	}
out:
	free(o.p);
	sim.dirty = 0;
	uv_update_time(&sim.loop);
	sim.last_write_ms = now_ms();
	/* A slow write (huge views) spaces the next one out as much. */
	took_ms = (uv_hrtime() - t0) / 1000000u;
	sim.write_gap_ms = took_ms > STATE_MIN_MS ? took_ms : STATE_MIN_MS;
	return rv;
}

/* ---- summary ---- */

static void summary(void)
{
	unsigned c[8] = {0};
	struct synod_broker_stats tot = sim.closed_stats, st;
	uint64_t rtt_sum = 0, rtt_max = 0, rtt_n = 0, now = now_ms();
	double secs = (double)(now - sim.last_summary_ms) / 1000.0;
	for (unsigned i = 0; i < sim.n; i++) {
		struct sbroker *sb = &sim.brokers[i];
		c[sb->state + 2]++;
		if (sb->b == NULL)
			continue;
		synod_broker_stats(sb->b, &st);
		add_stats(&tot, &st);
		uint64_t r = synod_broker_last_rtt_us(sb->b);
		if (r) {
			rtt_sum += r;
			rtt_n++;
			if (r > rtt_max)
				rtt_max = r;
		}
	}
	fprintf(stderr,
		"synod-sim: %u brokers: active %u fenced %u registering %u "
		"shutting-down %u stopped %u failed %u crashed %u pending %u "
		"| hb %.0f/s ok %llu failed %llu skipped %llu reg %llu | rtt "
		"avg %.2f ms max %.2f ms | pushes %llu applied %llu ignored "
		"%llu gaps %llu fetches %llu failed %llu full %llu pages %llu "
		"staged %llu\n",
		sim.n, c[SYNOD_BROKER_ACTIVE + 2], c[SYNOD_BROKER_FENCED + 2],
		c[SYNOD_BROKER_REGISTERING + 2],
		c[SYNOD_BROKER_SHUTTING_DOWN + 2], c[SYNOD_BROKER_STOPPED + 2],
		c[SYNOD_BROKER_FAILED + 2], c[SB_CRASHED + 2],
		c[SB_PENDING + 2],
		secs > 0 ? (double)(tot.heartbeats - sim.prev_heartbeats) / secs
			 : 0.0,
		(unsigned long long)tot.heartbeats_ok,
		(unsigned long long)tot.heartbeats_failed,
		(unsigned long long)tot.heartbeats_skipped,
		(unsigned long long)tot.registrations,
		rtt_n ? (double)rtt_sum / (double)rtt_n / 1000.0 : 0.0,
		(double)rtt_max / 1000.0, (unsigned long long)tot.pushes,
		(unsigned long long)tot.pushes_applied,
		(unsigned long long)tot.pushes_ignored,
		(unsigned long long)tot.gaps, (unsigned long long)tot.fetches,
		(unsigned long long)tot.fetches_failed,
		(unsigned long long)tot.full_images,
		(unsigned long long)tot.fetch_pages,
		(unsigned long long)tot.staged_commits);
	sim.prev_heartbeats = tot.heartbeats;
	sim.last_summary_ms = now;
	if (sim.n_consumers) {
		struct synod_consumer_stats ct = {0}, cs;
		unsigned stable = 0, crashed = 0;
		size_t owned = 0;
		for (unsigned i = 0; i < sim.n_consumers; i++) {
			struct sconsumer *sc = &sim.consumers[i];
			const struct synod_tp *tps;
			add_cstats(&ct, &sc->closed_stats);
			stable += sc->state == SYNOD_CONSUMER_STABLE;
			crashed += sc->state == SC_CRASHED;
			if (sc->c == NULL)
				continue;
			synod_consumer_stats(sc->c, &cs);
			add_cstats(&ct, &cs);
			owned += synod_consumer_owned(sc->c, &tps);
		}
		fprintf(stderr,
			"synod-sim: %u consumers: stable %u crashed %u, %zu "
			"partitions owned | joins %llu hb %llu failures %llu "
			"pushes %llu applied %llu | revocations %llu losses "
			"%llu fences %llu self-fences %llu\n",
			sim.n_consumers, stable, crashed, owned,
			(unsigned long long)ct.joins,
			(unsigned long long)ct.heartbeats,
			(unsigned long long)ct.failures,
			(unsigned long long)ct.pushes,
			(unsigned long long)ct.pushes_applied,
			(unsigned long long)ct.revocations,
			(unsigned long long)ct.losses,
			(unsigned long long)ct.fences,
			(unsigned long long)ct.self_fences);
	}
}

/* ---- exit ---- */

static void on_walk_close(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Stop the loop: close every broker, then every other handle. */
static void finish(int code)
{
	if (sim.exiting)
		return;
	sim.exiting = 1;
	sim.exit_code = code;
	for (unsigned i = 0; i < sim.n; i++)
		close_broker(&sim.brokers[i]);
	write_state_file(); /* consumers still show what they own */
	for (unsigned i = 0; i < sim.n_consumers; i++)
		close_consumer(&sim.consumers[i]);
	/* The brokers' own handles close through their close calls; what
	 * remains is ours. */
	uv_close((uv_handle_t *)&sim.tick, NULL);
	uv_close((uv_handle_t *)&sim.churn, NULL);
	uv_close((uv_handle_t *)&sim.ramp, NULL);
	uv_close((uv_handle_t *)&sim.crash, NULL);
	uv_close((uv_handle_t *)&sim.restart, NULL);
	uv_close((uv_handle_t *)&sim.deadline, NULL);
	uv_close((uv_handle_t *)&sim.sigint, NULL);
	uv_close((uv_handle_t *)&sim.sigterm, NULL);
}

/* After a shutdown: done when every broker is stopped, failed or crashed.
 * Before: give up when every broker failed (nothing will ever change). */
static void check_done(void)
{
	unsigned failed = 0;
	if (sim.exiting)
		return;
	if (!sim.shutting_down) {
		for (unsigned i = 0; i < sim.n; i++)
			if (sim.brokers[i].state != SYNOD_BROKER_FAILED)
				return;
		for (unsigned i = 0; i < sim.n_consumers; i++)
			if (sim.consumers[i].state != SYNOD_CONSUMER_FAILED)
				return;
		fprintf(stderr, "synod-sim: every broker and consumer "
				"failed\n");
		finish(1);
		return;
	}
	for (unsigned i = 0; i < sim.n_consumers; i++) {
		if (!sc_done(&sim.consumers[i]))
			return;
		failed += sim.consumers[i].state == SYNOD_CONSUMER_FAILED;
	}
	for (unsigned i = 0; i < sim.n; i++) {
		if (!sb_done(&sim.brokers[i]))
			return;
		failed += sim.brokers[i].state == SYNOD_BROKER_FAILED;
	}
	if (failed) {
		fprintf(stderr,
			"synod-sim: %u broker(s) or consumer(s) did not "
			"stop:",
			failed);
		for (unsigned i = 0; i < sim.n; i++)
			if (sim.brokers[i].state == SYNOD_BROKER_FAILED)
				fprintf(stderr, " %d(failed)",
					sim.brokers[i].id);
		for (unsigned i = 0; i < sim.n_consumers; i++)
			if (sim.consumers[i].state == SYNOD_CONSUMER_FAILED)
				fprintf(stderr, " consumer-%u(failed)", i);
		fputc('\n', stderr);
	} else if (sim.verbose) {
		fprintf(stderr,
			"synod-sim: all %u brokers stopped, %u consumers "
			"done\n",
			sim.n, sim.n_consumers);
	}
	finish(failed ? 1 : 0);
}

static void on_deadline(uv_timer_t *t)
{
	unsigned left = 0;
	for (unsigned i = 0; i < sim.n; i++)
		left += !sb_done(&sim.brokers[i]) ||
			sim.brokers[i].state == SYNOD_BROKER_FAILED;
	fprintf(stderr,
		"synod-sim: %u broker(s) did not stop within %u ms:", left,
		sim.shutdown_timeout_ms);
	for (unsigned i = 0; i < sim.n; i++) {
		struct sbroker *sb = &sim.brokers[i];
		if (!sb_done(sb) || sb->state == SYNOD_BROKER_FAILED)
			fprintf(stderr, " %d(%s)", sb->id, sb_state_name(sb));
	}
	for (unsigned i = 0; i < sim.n_consumers; i++) {
		struct sconsumer *sc = &sim.consumers[i];
		if (!sc_done(sc) || sc->state == SYNOD_CONSUMER_FAILED)
			fprintf(stderr, " consumer-%u(%s)", i,
				sc_state_name(sc));
	}
	fputc('\n', stderr);
	finish(1);
}

static void begin_shutdown(void)
{
	sim.shutting_down = 1;
	sim.dirty = 1;
	uv_timer_stop(&sim.ramp);
	uv_timer_stop(&sim.crash);
	uv_timer_stop(&sim.restart);
	for (unsigned i = 0; i < sim.n; i++) {
		struct sbroker *sb = &sim.brokers[i];
		if (sb->state == SB_PENDING)
			sb->state = SYNOD_BROKER_STOPPED; /* never started */
		else if (sb->b)
			synod_broker_shutdown(sb->b);
	}
	/* Consumers leave (revoking everything first; -2 for static
	 * members). */
	for (unsigned i = 0; i < sim.n_consumers; i++)
		if (sim.consumers[i].c)
			synod_consumer_leave(sim.consumers[i].c);
	uv_timer_start(&sim.deadline, on_deadline, sim.shutdown_timeout_ms, 0);
	check_done();
}

static void on_signal(uv_signal_t *s, int signum)
{
	if (sim.shutting_down) {
		fprintf(stderr, "synod-sim: second signal, exiting now\n");
		finish(1);
		return;
	}
	if (sim.verbose)
		fprintf(stderr,
			"synod-sim: %s: shutting down %u brokers, %u "
			"consumers\n",
			strsignal(signum), sim.n, sim.n_consumers);
	begin_shutdown();
}

/* ---- timers ---- */

static void on_tick(uv_timer_t *t)
{
	uint64_t now = now_ms();
	for (unsigned i = 0; i < sim.n; i++)
		if (sim.brokers[i].close_pending)
			close_broker(&sim.brokers[i]);
	for (unsigned i = 0; i < sim.n_consumers; i++)
		if (sim.consumers[i].close_pending)
			close_consumer(&sim.consumers[i]);
	if (sim.events) {
		for (unsigned i = 0; i < sim.n; i++)
			if (sim.brokers[i].b)
				ev_ack(&sim.brokers[i]);
		for (unsigned i = 0; i < sim.n_consumers; i++)
			ev_own(&sim.consumers[i]);
	}
	if (sim.state_file && sim.dirty &&
	    now - sim.last_write_ms >= sim.write_gap_ms)
		write_state_file();
	if (sim.verbose && now - sim.last_summary_ms >= SUMMARY_MS)
		summary();
	check_done();
}

static void on_ramp(uv_timer_t *t)
{
	uint64_t elapsed = now_ms() - sim.t0;
	while (sim.next_start < sim.n) {
		struct sbroker *sb = &sim.brokers[sim.order[sim.next_start]];
		if (sb->start_at > elapsed)
			return;
		sim.next_start++;
		start_broker(sb);
	}
	uv_timer_stop(&sim.ramp);
}

static void on_restart(uv_timer_t *t)
{
	for (unsigned i = 0; i < sim.n; i++) {
		struct sbroker *sb = &sim.brokers[i];
		if (sb->crash_target && sb->state == SB_CRASHED) {
			if (sim.verbose)
				fprintf(stderr,
					"synod-sim: restarting broker %d\n",
					sb->id);
			start_broker(sb);
		}
	}
	for (unsigned i = 0; i < sim.n_consumers; i++) {
		struct sconsumer *sc = &sim.consumers[i];
		if (sc->crash_target && sc->state == SC_CRASHED) {
			if (sim.verbose)
				fprintf(stderr,
					"synod-sim: restarting consumer %u\n",
					i);
			start_consumer(sc);
		}
	}
}

static void on_crash(uv_timer_t *t)
{
	for (unsigned i = 0; i < sim.n; i++) {
		struct sbroker *sb = &sim.brokers[i];
		if (!sb->crash_target)
			continue;
		if (sb->b == NULL) {
			/* Not started yet (or done): it never runs. */
			if (sb->state == SB_PENDING)
				sb->state = SB_CRASHED;
			continue;
		}
		if (sim.verbose)
			fprintf(stderr, "synod-sim: crashing broker %d (%s)\n",
				sb->id, sb_state_name(sb));
		close_broker(sb);
		sb->state = SB_CRASHED;
		sim.dirty = 1;
	}
	for (unsigned i = 0; i < sim.n_consumers; i++) {
		struct sconsumer *sc = &sim.consumers[i];
		if (!sc->crash_target || sc->c == NULL)
			continue;
		if (sim.verbose)
			fprintf(stderr,
				"synod-sim: crashing consumer %u (%s, %s)\n", i,
				sc->group, sc_state_name(sc));
		close_consumer(sc);
		sc->state = SC_CRASHED;
	}
	if (sim.restart_after_ms)
		uv_timer_start(&sim.restart, on_restart, sim.restart_after_ms,
			       0);
}

/* ---- setup ---- */

static int fetch_cluster_id(void)
{
	Synod__Wire__MetadataRequest req = SYNOD__WIRE__METADATA_REQUEST__INIT;
	Synod__Wire__MetadataResponse *resp = NULL;
	struct synod_client *c = tool_client(sim.bootstrap, NULL, 10000, 0);
	int rv;
	if (c == NULL)
		return 2;
	rv = synod_client_call(c, SYNOD_API_METADATA, &req.base, 0,
			       &synod__wire__metadata_response__descriptor,
			       (ProtobufCMessage **)&resp);
	if (rv != SYNOD_OK) {
		fprintf(stderr, "synod-sim: cannot fetch the cluster id: %s\n",
			synod_client_errmsg(c)[0] ? synod_client_errmsg(c)
						  : synod_strerror(rv));
		synod_client_close(c);
		return 3;
	}
	synod_client_close(c);
	if (resp->status->code != SYNOD_OK || resp->cluster_id == NULL ||
	    resp->cluster_id[0] == '\0') {
		fprintf(stderr, "synod-sim: METADATA: %s\n",
			resp->status->code != SYNOD_OK
			    ? synod_error_name(resp->status->code)
			    : "no cluster id");
		synod__wire__metadata_response__free_unpacked(resp, NULL);
		return 3;
	}
	snprintf(sim.cluster_id, sizeof sim.cluster_id, "%s", resp->cluster_id);
	synod__wire__metadata_response__free_unpacked(resp, NULL);
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* One socket per broker, plus the loop's own and a margin. */
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)sim.n + 64)
		fprintf(stderr,
			"synod-sim: warning: %llu file descriptors allowed "
			"for %u brokers\n",
			(unsigned long long)rl.rlim_cur, sim.n);
}

static int cmp_start(const void *a, const void *b)
{
	uint64_t x = sim.brokers[*(const unsigned *)a].start_at;
	uint64_t y = sim.brokers[*(const unsigned *)b].start_at;
	return x < y ? -1 : x > y;
}

static int mark_crash_targets(void)
{
	char *copy, *tok, *save;
	if (sim.crash_list == NULL)
		return 0;
	copy = strdup(sim.crash_list);
	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long id;
		if (parse_uint(tok, MAX_BROKER_ID, &id) != 0 ||
		    id < (unsigned long)sim.first_id ||
		    id >= (unsigned long)sim.first_id + sim.n) {
			fprintf(stderr,
				"synod-sim: --crash: '%s' is not one of the "
				"simulated ids\n",
				tok);
			free(copy);
			return -1;
		}
		sim.brokers[id - (unsigned long)sim.first_id].crash_target = 1;
	}
	free(copy);
	return 0;
}

/* --subscribe: comma-separated topic names; an item /re/ is a regex (it
 * ends at a '/' followed by ',' or the end, so it may contain commas).
 * Several regexes are joined as (a)|(b). */
static int parse_subscribe(const char *arg)
{
	struct buf re = {0};
	size_t n_re = 0;
	const char *p = arg;
	while (*p) {
		const char *end;
		if (*p == '/') {
			const char *q = p + 1;
			end = NULL;
			for (; *q; q++)
				if (*q == '/' &&
				    (q[1] == ',' || q[1] == '\0')) {
					end = q;
					break;
				}
			if (end == NULL || end == p + 1)
				return -1;
			buf_puts(&re, n_re ? "|(" : "(");
			buf_put(&re, p + 1, (size_t)(end - p - 1));
			buf_puts(&re, ")");
			n_re++;
			p = end + 1;
		} else {
			const char **v;
			end = strchr(p, ',');
			if (end == NULL)
				end = p + strlen(p);
			if (end == p)
				return -1;
			v = realloc(sim.sub_topics,
				    (sim.n_sub_topics + 1) * sizeof *v);
			if (v == NULL)
				return -1;
			sim.sub_topics = v;
			v[sim.n_sub_topics] = strndup(p, (size_t)(end - p));
			if (v[sim.n_sub_topics] == NULL)
				return -1;
			sim.n_sub_topics++;
			p = end;
		}
		if (*p == ',') {
			p++;
			if (*p == '\0')
				return -1;
		}
	}
	if (n_re == 1) {
		/* One regex: as written, without the parentheses. */
		memmove(re.p, re.p + 1, re.len - 2);
		re.len -= 2;
	}
	if (n_re) {
		buf_put(&re, "", 1);
		sim.sub_regex = re.p;
	}
	return sim.n_sub_topics || n_re ? 0 : -1;
}

static int setup_consumers(void)
{
	char *copy, *tok, *save;
	sim.consumers = calloc(sim.n_consumers ? sim.n_consumers : 1,
			       sizeof *sim.consumers);
	if (sim.consumers == NULL)
		return -1;
	for (unsigned i = 0; i < sim.n_consumers; i++) {
		struct sconsumer *sc = &sim.consumers[i];
		sc->index = i;
		sc->state = SYNOD_CONSUMER_JOINING;
		snprintf(sc->group, sizeof sc->group, "%s%u", sim.group_prefix,
			 i % sim.n_groups);
		if (sim.consumer_instance)
			snprintf(sc->instance, sizeof sc->instance, "sim-%u",
				 i);
	}
	if (sim.crash_consumers == NULL)
		return 0;
	copy = strdup(sim.crash_consumers);
	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long idx;
		if (parse_uint(tok, 1000000, &idx) != 0 ||
		    idx >= sim.n_consumers) {
			fprintf(stderr,
				"synod-sim: --crash-consumers: '%s' is not a "
				"consumer index (0..%u)\n",
				tok, sim.n_consumers - 1);
			free(copy);
			return -1;
		}
		sim.consumers[idx].crash_target = 1;
	}
	free(copy);
	return 0;
}

enum {
	OPT_CONSUMERS = 256,
	OPT_GROUPS,
	OPT_GROUP_PREFIX,
	OPT_SUBSCRIBE,
	OPT_REVOKE_DELAY,
	OPT_CONSUMER_INSTANCE,
	OPT_CONSUMER_SESSION,
	OPT_REBALANCE_TIMEOUT,
	OPT_CRASH_CONSUMERS,
	OPT_EVENT_LOG,
	OPT_ISR_CHURN,
	OPT_CA,
	OPT_CERT,
	OPT_KEY,
	OPT_KAFKA_PORT_BASE,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"bootstrap", required_argument, NULL, 'b'},
	    {"cluster-id", required_argument, NULL, 'c'},
	    {"brokers", required_argument, NULL, 'n'},
	    {"first-id", required_argument, NULL, 'k'},
	    {"racks", required_argument, NULL, 'r'},
	    {"heartbeat-ms", required_argument, NULL, 'H'},
	    {"state-file", required_argument, NULL, 's'},
	    {"crash", required_argument, NULL, 'C'},
	    {"crash-after", required_argument, NULL, 'A'},
	    {"restart-after", required_argument, NULL, 'R'},
	    {"duplicate-retry-ms", required_argument, NULL, 'D'},
	    {"request-timeout-ms", required_argument, NULL, 'T'},
	    {"ramp-ms", required_argument, NULL, 'P'},
	    {"shutdown-timeout-ms", required_argument, NULL, 'S'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"no-partitions-in-state", no_argument, NULL, 'N'},
	    {"consumers", required_argument, NULL, OPT_CONSUMERS},
	    {"groups", required_argument, NULL, OPT_GROUPS},
	    {"group-prefix", required_argument, NULL, OPT_GROUP_PREFIX},
	    {"subscribe", required_argument, NULL, OPT_SUBSCRIBE},
	    {"revoke-delay-ms", required_argument, NULL, OPT_REVOKE_DELAY},
	    {"consumer-instance", no_argument, NULL, OPT_CONSUMER_INSTANCE},
	    {"consumer-session-ms", required_argument, NULL,
	     OPT_CONSUMER_SESSION},
	    {"rebalance-timeout-ms", required_argument, NULL,
	     OPT_REBALANCE_TIMEOUT},
	    {"crash-consumers", required_argument, NULL, OPT_CRASH_CONSUMERS},
	    {"event-log", required_argument, NULL, OPT_EVENT_LOG},
	    {"isr-churn-ms", required_argument, NULL, OPT_ISR_CHURN},
	    {"ca", required_argument, NULL, OPT_CA},
	    {"cert", required_argument, NULL, OPT_CERT},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"kafka-port-base", required_argument, NULL, OPT_KAFKA_PORT_BASE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *opt_bootstrap = NULL, *opt_cluster_id = NULL;
	const char *opt_tls[3] = {NULL, NULL, NULL};
	const char *opt_event_log = NULL;
	long ramp = -1;
	int have_n = 0, have_k = 0, opt, rv;
	unsigned long v;
	uint64_t seed;

	signal(SIGPIPE, SIG_IGN); /* see synod/client.h */
	sim.duplicate_retry_ms = 60000;
	sim.shutdown_timeout_ms = 30000;
	sim.n_groups = 1;
	sim.group_prefix = "group-";
	while ((opt = getopt_long(argc, argv, "b:c:n:k:r:H:s:C:A:R:D:T:P:S:vh",
				  opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			opt_bootstrap = optarg;
			break;
		case 'c':
			opt_cluster_id = optarg;
			break;
		case 'n':
			if (parse_uint(optarg, 1000000, &v))
				return die_usage("bad --brokers");
			sim.n = (unsigned)v;
			have_n = 1;
			break;
		case 'k':
			if (parse_uint(optarg, MAX_BROKER_ID, &v))
				return die_usage("bad --first-id");
			sim.first_id = (int32_t)v;
			have_k = 1;
			break;
		case 'r':
			if (parse_uint(optarg, 1000000, &v) || v == 0)
				return die_usage("bad --racks");
			sim.racks = (unsigned)v;
			break;
		case 'H':
			if (parse_uint(optarg, 3600000, &v) || v == 0)
				return die_usage("bad --heartbeat-ms");
			sim.heartbeat_ms = (unsigned)v;
			break;
		case 's':
			sim.state_file = optarg;
			break;
		case 'C':
			sim.crash_list = optarg;
			break;
		case 'A':
			if (parse_uint(optarg, 86400000, &v))
				return die_usage("bad --crash-after");
			sim.crash_after_ms = (unsigned)v;
			break;
		case 'R':
			if (parse_uint(optarg, 86400000, &v))
				return die_usage("bad --restart-after");
			sim.restart_after_ms = (unsigned)v;
			break;
		case 'D':
			if (parse_uint(optarg, 86400000, &v))
				return die_usage("bad --duplicate-retry-ms");
			sim.duplicate_retry_ms = (unsigned)v;
			break;
		case 'T':
			if (parse_uint(optarg, 3600000, &v) || v == 0)
				return die_usage("bad --request-timeout-ms");
			sim.request_timeout_ms = (unsigned)v;
			break;
		case 'P':
			if (parse_uint(optarg, 3600000, &v))
				return die_usage("bad --ramp-ms");
			ramp = (long)v;
			break;
		case 'S':
			if (parse_uint(optarg, 3600000, &v) || v == 0)
				return die_usage("bad --shutdown-timeout-ms");
			sim.shutdown_timeout_ms = (unsigned)v;
			break;
		case 'v':
			sim.verbose++;
			break;
		case 'N':
			sim.no_partitions = 1;
			break;
		case OPT_CONSUMERS:
			if (parse_uint(optarg, 100000, &v))
				return die_usage("bad --consumers");
			sim.n_consumers = (unsigned)v;
			break;
		case OPT_GROUPS:
			if (parse_uint(optarg, 100000, &v) || v == 0)
				return die_usage("bad --groups");
			sim.n_groups = (unsigned)v;
			break;
		case OPT_GROUP_PREFIX:
			if (strlen(optarg) > 40)
				return die_usage("bad --group-prefix");
			sim.group_prefix = optarg;
			break;
		case OPT_SUBSCRIBE:
			if (sim.n_sub_topics || sim.sub_regex ||
			    parse_subscribe(optarg) != 0)
				return die_usage("bad --subscribe");
			break;
		case OPT_REVOKE_DELAY:
			if (parse_uint(optarg, 3600000, &v))
				return die_usage("bad --revoke-delay-ms");
			sim.revoke_delay_ms = (unsigned)v;
			break;
		case OPT_CONSUMER_INSTANCE:
			sim.consumer_instance = 1;
			break;
		case OPT_CONSUMER_SESSION:
			if (parse_uint(optarg, 3600000, &v) || v == 0)
				return die_usage("bad --consumer-session-ms");
			sim.consumer_session_ms = (unsigned)v;
			break;
		case OPT_REBALANCE_TIMEOUT:
			if (parse_uint(optarg, 3600000, &v) || v == 0)
				return die_usage("bad --rebalance-timeout-ms");
			sim.rebalance_timeout_ms = (unsigned)v;
			break;
		case OPT_CRASH_CONSUMERS:
			sim.crash_consumers = optarg;
			break;
		case OPT_EVENT_LOG:
			opt_event_log = optarg;
			break;
		case OPT_CA:
			opt_tls[0] = optarg;
			break;
		case OPT_CERT:
			opt_tls[1] = optarg;
			break;
		case OPT_KEY:
			opt_tls[2] = optarg;
			break;
		case OPT_ISR_CHURN:
			if (parse_uint(optarg, 3600000, &v) || v == 0)
				return die_usage("bad --isr-churn-ms");
			sim.isr_churn_ms = (unsigned)v;
			break;
		case OPT_KAFKA_PORT_BASE:
			if (parse_uint(optarg, 65535, &v) || v == 0)
				return die_usage("bad --kafka-port-base");
			sim.kafka_port_base = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return die_usage("unknown option");
		}
	}
	if (optind != argc)
		return die_usage("unexpected argument");
	if (!have_n && sim.n_consumers == 0)
		return die_usage("--brokers or --consumers is required");
	if (sim.n > 0 && !have_k)
		return die_usage("--first-id is required with --brokers");
	if (sim.kafka_port_base && (unsigned long)sim.kafka_port_base +
					   (unsigned long)sim.first_id + sim.n -
					   1 >
				       65535)
		return die_usage("--kafka-port-base: the last broker's port "
				 "is above 65535");
	if (sim.n == 0 && sim.n_consumers == 0)
		return die_usage(
		    "nothing to run (--brokers 0, no --consumers)");
	if (sim.n_consumers && !sim.n_sub_topics && !sim.sub_regex)
		return die_usage("--consumers needs --subscribe");
	if (sim.crash_consumers && sim.crash_after_ms == 0)
		fprintf(stderr, "synod-sim: --crash-consumers without "
				"--crash-after: no consumer will crash\n");
	if (sim.n > 0 &&
	    (unsigned long)sim.first_id + sim.n - 1 > MAX_BROKER_ID)
		return die_usage("broker ids above 46535 (port 19000+id)");
	if (sim.crash_list && sim.crash_after_ms == 0)
		fprintf(stderr, "synod-sim: --crash without --crash-after: "
				"no broker will crash\n");
	tool_tls_flags(opt_tls[0], opt_tls[1], opt_tls[2]);
	sim.bootstrap = tool_bootstrap(opt_bootstrap);
	if (sim.bootstrap == NULL) {
		fprintf(stderr, "synod-sim: no cluster: pass --bootstrap "
				"H:P,... or set SYNOD_BOOTSTRAP\n");
		return 2;
	}
	sim.ramp_ms =
	    ramp >= 0 ? (unsigned)ramp : (sim.n / 5 < 5000 ? sim.n / 5 : 5000);

	sim.brokers = calloc(sim.n ? sim.n : 1, sizeof *sim.brokers);
	sim.order = calloc(sim.n ? sim.n : 1, sizeof *sim.order);
	if (sim.brokers == NULL || sim.order == NULL) {
		fprintf(stderr, "synod-sim: out of memory\n");
		return 1;
	}
	if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	srandom((unsigned)(seed ^ (seed >> 32)));
	for (unsigned i = 0; i < sim.n; i++) {
		struct sbroker *sb = &sim.brokers[i];
		sb->id = sim.first_id + (int32_t)i;
		sb->state = SB_PENDING;
		sb->fenced = 1;
		if (sim.racks)
			snprintf(sb->rack, sizeof sb->rack, "rack-%u",
				 (unsigned)sb->id % sim.racks);
		sb->start_at =
		    sim.ramp_ms ? (uint64_t)random() % sim.ramp_ms : 0;
		sim.order[i] = i;
	}
	qsort(sim.order, sim.n, sizeof *sim.order, cmp_start);
	if (mark_crash_targets() != 0)
		return 2;
	if (setup_consumers() != 0)
		return 2;

	if (opt_cluster_id && opt_cluster_id[0]) {
		snprintf(sim.cluster_id, sizeof sim.cluster_id, "%s",
			 opt_cluster_id);
	} else {
		rv = fetch_cluster_id();
		if (rv != 0)
			return rv;
	}
	raise_nofile();
	if (opt_event_log) {
		sim.events = fopen(opt_event_log, "a");
		if (sim.events == NULL) {
			fprintf(stderr, "synod-sim: --event-log %s: %s\n",
				opt_event_log, strerror(errno));
			return 2;
		}
	}

	uv_loop_init(&sim.loop);
	uv_timer_init(&sim.loop, &sim.tick);
	uv_timer_init(&sim.loop, &sim.ramp);
	uv_timer_init(&sim.loop, &sim.crash);
	uv_timer_init(&sim.loop, &sim.restart);
	uv_timer_init(&sim.loop, &sim.deadline);
	uv_timer_init(&sim.loop, &sim.churn);
	uv_signal_init(&sim.loop, &sim.sigint);
	uv_signal_init(&sim.loop, &sim.sigterm);
	uv_signal_start(&sim.sigint, on_signal, SIGINT);
	uv_signal_start(&sim.sigterm, on_signal, SIGTERM);
	uv_update_time(&sim.loop);
	sim.t0 = now_ms();
	sim.last_summary_ms = sim.t0;
	if (sim.verbose)
		fprintf(stderr,
			"synod-sim: cluster %s, brokers %d..%d, ramp %u ms, "
			"%u consumers in %u groups\n",
			sim.cluster_id, sim.first_id,
			sim.first_id + (int32_t)sim.n - 1, sim.ramp_ms,
			sim.n_consumers, sim.n_groups);
	write_state_file();
	for (unsigned i = 0; i < sim.n_consumers; i++)
		start_consumer(&sim.consumers[i]);
	on_ramp(&sim.ramp); /* those due at 0 */
	if (sim.next_start < sim.n)
		uv_timer_start(&sim.ramp, on_ramp, RAMP_TICK_MS, RAMP_TICK_MS);
	uv_timer_start(&sim.tick, on_tick, TICK_MS, TICK_MS);
	if (sim.isr_churn_ms)
		uv_timer_start(&sim.churn, on_churn, sim.isr_churn_ms,
			       sim.isr_churn_ms);
	if ((sim.crash_list || sim.crash_consumers) && sim.crash_after_ms)
		uv_timer_start(&sim.crash, on_crash, sim.crash_after_ms, 0);

	uv_run(&sim.loop, UV_RUN_DEFAULT);
	/* finish() closed our handles; the brokers' closes finish here. */
	uv_walk(&sim.loop, on_walk_close, NULL);
	uv_run(&sim.loop, UV_RUN_DEFAULT);
	uv_loop_close(&sim.loop);
	for (unsigned i = 0; i < sim.n; i++)
		free(sim.brokers[i].pjson);
	free(sim.brokers);
	free(sim.order);
	for (unsigned i = 0; i < sim.n_consumers; i++)
		free(sim.consumers[i].ev_owned);
	free(sim.consumers);
	if (sim.events)
		fclose(sim.events);
	for (size_t i = 0; i < sim.n_sub_topics; i++)
		free((char *)sim.sub_topics[i]);
	free(sim.sub_topics);
	free(sim.sub_regex);
	return sim.exit_code;
}
