/* tools/bench.c - synod-bench: figures for the quorum, never pass/fail.
 *
 * Starts its own quorum of real synod processes on loopback (tools/
 * cluster.c) unless --bootstrap is given, then measures:
 *   writes   committed config writes per second and p50/p99 latency with
 *            1, 64 and 256 requests in flight (one connection each run);
 *   failover time from kill -9 (or SIGSTOP) of the leader to the first
 *            write committed by the new leader, median of several runs;
 *   quiet    elections during an idle period (should be zero).
 * Every figure is printed; see docs/benchmarks.md for measured values.
 */
#include <getopt.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <sys/resource.h>

#include "bench.h"
#include "cluster.h"
#include "common.h"
#include "synod/broker.h"

static unsigned opt_nodes = 3;
static double opt_duration = 5.0;
static unsigned opt_runs = 5;
static unsigned opt_quiet_s = 300;
static unsigned opt_election_ms = 200; /* the daemon's default */
static const char *opt_only;
static const char *opt_flags;
static const char *opt_inflight = "1,64,256";
static unsigned opt_brokers = 10000;
static unsigned opt_hb_ms = 2000;
static unsigned opt_session_ms = 9000;
static double opt_window = 20.0;
static unsigned opt_p_brokers = 100;
static unsigned opt_partitions = 100000;
static unsigned opt_topic_parts = 1000;
static unsigned opt_rf = 3;
static struct bench_groups_opts opt_groups = {100000, 10000, 100,  10,	100,
					      1000,   10000, 3000, 20.0};

/* ---- write throughput ---- */

struct wbench {
	struct synod_client *c;
	uv_loop_t *loop;
	unsigned inflight, target;
	uint64_t sent, done, errors;
	uint64_t start_us, end_us;
	uint64_t *lat;
	size_t n_lat, cap_lat;
	int stop;
};

struct wreq {
	struct wbench *b;
	uint64_t t0;
};

static void issue(struct wbench *b);

static void on_write(void *arg, int status, const uint8_t *body, size_t len)
{
	struct wreq *r = arg;
	struct wbench *b = r->b;
	uint64_t now = tool_now_us();
	int ok = 0;
	if (status == SYNOD_OK) {
		Synod__Wire__ConfigSetResponse *resp =
		    synod__wire__config_set_response__unpack(NULL, len, body);
		ok = resp && resp->status->code == SYNOD_OK;
		if (resp)
			synod__wire__config_set_response__free_unpacked(resp,
									NULL);
	}
	b->inflight--;
	if (ok) {
		b->done++;
		if (b->n_lat == b->cap_lat) {
			b->cap_lat = b->cap_lat ? b->cap_lat * 2 : 65536;
			b->lat = realloc(b->lat, b->cap_lat * sizeof *b->lat);
		}
		b->lat[b->n_lat++] = now - r->t0;
	} else {
		b->errors++;
	}
	free(r);
	if (now >= b->end_us)
		b->stop = 1;
	if (!b->stop)
		issue(b);
}

static void issue(struct wbench *b)
{
	while (b->inflight < b->target) {
		Synod__Wire__ConfigSetRequest req =
		    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
		Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
		Synod__Wire__ConfigEntry *ep = &e;
		char topic[32], value[24];
		struct wreq *r = malloc(sizeof *r);
		snprintf(topic, sizeof topic, "bench-%llu",
			 (unsigned long long)(b->sent % 1000));
		snprintf(value, sizeof value, "%llu",
			 (unsigned long long)b->sent);
		e.scope = SYNOD_SCOPE_TOPIC;
		e.resource = topic;
		e.key = "retention.ms";
		e.value = value;
		req.n_entries = 1;
		req.entries = &ep;
		r->b = b;
		r->t0 = tool_now_us();
		if (synod_client_send(b->c, SYNOD_API_CONFIG_SET, &req.base, 1,
				      on_write, r) != SYNOD_OK) {
			free(r);
			b->errors++;
			b->stop = 1;
			return;
		}
		b->inflight++;
		b->sent++;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1));
	return (double)v[i] / 1000.0;
}

static void bench_writes(const char *bootstrap, unsigned k)
{
	struct wbench b;
	struct synod_client_config cfg = {0};
	uv_loop_t loop;
	memset(&b, 0, sizeof b);
	uv_loop_init(&loop);
	tool_tls_apply(&cfg);
	cfg.bootstrap = bootstrap;
	cfg.request_timeout_ms = 10000;
	synod_client_new(&loop, &cfg, &b.c);
	b.target = k;
	/* Warm up: route to the leader with one write. */
	b.end_us = tool_now_us() + 1000000;
	b.target = 1;
	issue(&b);
	while (b.done + b.errors < 1)
		uv_run(&loop, UV_RUN_ONCE);
	b.stop = 0;
	b.done = b.errors = 0;
	b.n_lat = 0;
	b.target = k;
	b.start_us = tool_now_us();
	b.end_us = b.start_us + (uint64_t)(opt_duration * 1e6);
	issue(&b);
	while (b.inflight > 0)
		uv_run(&loop, UV_RUN_ONCE);
	uint64_t elapsed = tool_now_us() - b.start_us;
	qsort(b.lat, b.n_lat, sizeof *b.lat, cmp_u64);
	printf("writes  inflight=%-4u  %9.0f writes/s  p50 %7.2f ms  p99 %7.2f "
	       "ms  max %7.2f ms  (%llu ok, %llu errors, %.1f s)\n",
	       k, (double)b.done / ((double)elapsed / 1e6),
	       pct(b.lat, b.n_lat, 0.50), pct(b.lat, b.n_lat, 0.99),
	       pct(b.lat, b.n_lat, 1.0), (unsigned long long)b.done,
	       (unsigned long long)b.errors, (double)elapsed / 1e6);
	fflush(stdout);
	synod_client_close(b.c);
	while (uv_run(&loop, UV_RUN_NOWAIT))
		;
	uv_loop_close(&loop);
	free(b.lat);
}

/* ---- failover ---- */

/* One write straight to node `id`; SYNOD_OK when committed there. */
static int write_to(struct cluster *c, unsigned id, unsigned timeout_ms)
{
	Synod__Wire__ConfigSetRequest req =
	    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	Synod__Wire__ConfigEntry *ep = &e;
	Synod__Wire__ConfigSetResponse *resp = NULL;
	struct synod_client *cl =
	    tool_client(c->nodes[id - 1].client_address, NULL, timeout_ms, 1);
	int rv;
	e.scope = SYNOD_SCOPE_CLUSTER;
	e.key = "retention.ms";
	e.value = "3600000";
	req.n_entries = 1;
	req.entries = &ep;
	rv = synod_client_call(cl, SYNOD_API_CONFIG_SET, &req.base, 1,
			       &synod__wire__config_set_response__descriptor,
			       (ProtobufCMessage **)&resp);
	if (rv == SYNOD_OK && resp->status->code != SYNOD_OK)
		rv = resp->status->code;
	if (resp)
		synod__wire__config_set_response__free_unpacked(resp, NULL);
	synod_client_close(cl);
	return rv;
}

static double failover_once(struct cluster *c, int use_stop)
{
	unsigned leader = cluster_wait_leader(c, 10000), next = 0;
	uint64_t t0, deadline;
	if (leader == 0)
		return -1;
	t0 = tool_now_us();
	if (use_stop)
		cluster_stop_node(c, leader);
	else
		cluster_kill(c, leader);
	deadline = t0 + 20000000;
	/* Poll the survivors until one is active, then commit through it. */
	while (tool_now_us() < deadline) {
		for (unsigned i = 1; i <= c->n && !next; i++) {
			if (i == leader || c->nodes[i - 1].pid == 0)
				continue;
			Synod__Wire__NodeStatusResponse *s =
			    cluster_node_status(c, i, 200);
			if (s && s->active_controller)
				next = i;
			if (s)
				synod__wire__node_status_response__free_unpacked(
				    s, NULL);
		}
		if (next && write_to(c, next, 2000) == SYNOD_OK)
			break;
		next = 0;
		usleep(2000);
	}
	double ms = (double)(tool_now_us() - t0) / 1000.0;
	if (use_stop)
		cluster_cont_node(c, leader);
	else
		cluster_start_node(c, leader);
	/* Let the old leader rejoin before the next run. */
	Synod__Wire__NodeStatusResponse *s =
	    cluster_node_status(c, next ? next : 1, 1000);
	if (s) {
		cluster_wait_applied(c, s->commit_index, 20000);
		synod__wire__node_status_response__free_unpacked(s, NULL);
	}
	return next ? ms : -1;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void bench_failover(struct cluster *c, int use_stop)
{
	double t[64];
	unsigned n = 0;
	for (unsigned i = 0; i < opt_runs && i < 64; i++) {
		double ms = failover_once(c, use_stop);
		if (ms >= 0)
			t[n++] = ms;
		printf("failover %-7s run %u: %s%.0f ms\n",
		       use_stop ? "SIGSTOP" : "kill-9", i + 1,
		       ms < 0 ? "FAILED " : "", ms < 0 ? 0 : ms);
		fflush(stdout);
	}
	qsort(t, n, sizeof *t, cmp_d);
	if (n)
		printf("failover %-7s median %.0f ms (min %.0f, max %.0f, %u "
		       "runs, election timeout %u ms)\n",
		       use_stop ? "SIGSTOP" : "kill-9", t[n / 2], t[0],
		       t[n - 1], n, opt_election_ms);
	fflush(stdout);
}

/* ---- quiet ---- */

/* Highest term any reachable node reports. */
static uint64_t max_term(struct cluster *c)
{
	uint64_t t = 0;
	for (unsigned i = 1; i <= c->n; i++) {
		Synod__Wire__NodeStatusResponse *s =
		    cluster_node_status(c, i, 1000);
		if (s) {
			if (s->term > t)
				t = s->term;
			synod__wire__node_status_response__free_unpacked(s,
									 NULL);
		}
	}
	return t;
}

static void bench_quiet(struct cluster *c)
{
	uint64_t tb, ta;
	cluster_wait_leader(c, 10000);
	tb = max_term(c);
	printf("quiet   idle for %u s ...\n", opt_quiet_s);
	fflush(stdout);
	sleep(opt_quiet_s);
	ta = max_term(c);
	printf("quiet   %u s idle: %llu elections (term %llu -> %llu)\n",
	       opt_quiet_s, (unsigned long long)(ta - tb),
	       (unsigned long long)tb, (unsigned long long)ta);
}

/* ---- brokers ---- */

struct bb {
	uv_loop_t loop;
	struct synod_broker **b;
	unsigned n;
	/* Kafka listeners (partitions bench): broker 1's view holds every
	 * partition, broker 2's only its own. */
	char kafka[2][32];
	uint64_t *seen_ok; /* heartbeats_ok at the last sample */
	uint64_t *rtt;	   /* samples, us */
	size_t n_rtt, cap_rtt;
};

static void bb_sample(struct bb *x, unsigned upto)
{
	for (unsigned i = 0; i < upto; i++) {
		struct synod_broker_stats st;
		if (x->b[i] == NULL)
			continue;
		synod_broker_stats(x->b[i], &st);
		if (st.heartbeats_ok != x->seen_ok[i]) {
			x->seen_ok[i] = st.heartbeats_ok;
			if (x->n_rtt == x->cap_rtt) {
				x->cap_rtt =
				    x->cap_rtt ? x->cap_rtt * 2 : 65536;
				x->rtt = realloc(x->rtt,
						 x->cap_rtt * sizeof *x->rtt);
			}
			x->rtt[x->n_rtt++] = synod_broker_last_rtt_us(x->b[i]);
		}
	}
}

/* Run the loop for `seconds`, sampling heartbeat RTTs every 100 ms. */
static void bb_run(struct bb *x, double seconds)
{
	uint64_t end = tool_now_us() + (uint64_t)(seconds * 1e6);
	uint64_t next = 0;
	while (tool_now_us() < end) {
		uv_run(&x->loop, UV_RUN_NOWAIT);
		if (tool_now_us() >= next) {
			bb_sample(x, x->n);
			next = tool_now_us() + 100000;
		}
		usleep(1000);
	}
}

static void bb_report(struct bb *x, const char *what)
{
	qsort(x->rtt, x->n_rtt, sizeof *x->rtt, cmp_u64);
	printf("brokers %s: heartbeat rtt p50 %.2f ms  p99 %.2f ms  max %.2f "
	       "ms  (%zu heartbeats)\n",
	       what, pct(x->rtt, x->n_rtt, 0.5), pct(x->rtt, x->n_rtt, 0.99),
	       pct(x->rtt, x->n_rtt, 1.0), x->n_rtt);
	fflush(stdout);
	x->n_rtt = 0;
}

int bench_cpu_ticks(pid_t pid, uint64_t *ticks)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof buf, f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (p == NULL || sscanf(p + 2,
				"%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %lu %lu",
				&ut, &st) != 2)
		return -1;
	*ticks = ut + st;
	return 0;
}

static uint64_t leader_heartbeats(struct cluster *c, unsigned leader)
{
	uint64_t n = 0;
	Synod__Wire__NodeStatusResponse *s =
	    cluster_node_status(c, leader, 2000);
	if (s) {
		n = s->broker_heartbeats;
		synod__wire__node_status_response__free_unpacked(s, NULL);
	}
	return n;
}

int bench_set_config(struct cluster *c, const char *key, const char *value)
{
	return bench_set_scoped(c, SYNOD_SCOPE_CLUSTER, NULL, key, value);
}

int bench_set_scoped(struct cluster *c, unsigned scope, const char *resource,
		     const char *key, const char *value)
{
	Synod__Wire__ConfigSetRequest req =
	    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	Synod__Wire__ConfigEntry *ep = &e;
	Synod__Wire__ConfigSetResponse *resp = NULL;
	struct synod_client *cl = cluster_client(c, 5000);
	int rv;
	e.scope = scope;
	e.resource = (char *)resource;
	e.key = (char *)key;
	e.value = (char *)value;
	req.n_entries = 1;
	req.entries = &ep;
	rv = synod_client_call(cl, SYNOD_API_CONFIG_SET, &req.base, 1,
			       &synod__wire__config_set_response__descriptor,
			       (ProtobufCMessage **)&resp);
	if (rv == SYNOD_OK && resp->status->code != SYNOD_OK)
		rv = resp->status->code;
	if (resp)
		synod__wire__config_set_response__free_unpacked(resp, NULL);
	synod_client_close(cl);
	return rv;
}

static int set_cluster_config(struct cluster *c, const char *key,
			      unsigned value)
{
	char v[24];
	snprintf(v, sizeof v, "%u", value);
	return bench_set_config(c, key, v);
}

struct writer_arg {
	const char *bootstrap;
	volatile int stop;
	uint64_t done;
};

/* A second thread (own loop) that keeps 256 config writes in flight. */
static void *writer_main(void *arg)
{
	struct writer_arg *w = arg;
	struct wbench b;
	struct synod_client_config cfg = {0};
	uv_loop_t loop;
	memset(&b, 0, sizeof b);
	uv_loop_init(&loop);
	tool_tls_apply(&cfg);
	cfg.bootstrap = w->bootstrap;
	cfg.request_timeout_ms = 10000;
	synod_client_new(&loop, &cfg, &b.c);
	b.target = 256;
	b.end_us = UINT64_MAX;
	issue(&b);
	while (!w->stop)
		uv_run(&loop, UV_RUN_ONCE);
	b.stop = 1;
	while (b.inflight > 0)
		uv_run(&loop, UV_RUN_ONCE);
	w->done = b.done;
	synod_client_close(b.c);
	while (uv_run(&loop, UV_RUN_NOWAIT))
		;
	uv_loop_close(&loop);
	free(b.lat);
	return NULL;
}

static void bench_brokers(struct cluster *c)
{
	struct bb x;
	unsigned leader = cluster_wait_leader(c, 10000);
	uint64_t t0, t_all = 0, hb0, hb1, cpu0, cpu1;
	long hz = sysconf(_SC_CLK_TCK);
	struct rlimit rl;
	unsigned active = 0, n_kill = 10;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (set_cluster_config(c, "broker.heartbeat.interval.ms", opt_hb_ms) !=
		SYNOD_OK ||
	    set_cluster_config(c, "broker.session.timeout.ms",
			       opt_session_ms) != SYNOD_OK) {
		printf("brokers: cannot set the broker configs\n");
		return;
	}
	memset(&x, 0, sizeof x);
	uv_loop_init(&x.loop);
	x.n = opt_brokers;
	x.b = calloc(x.n, sizeof *x.b);
	x.seen_ok = calloc(x.n, sizeof *x.seen_ok);
	t0 = tool_now_us();
	for (unsigned i = 0; i < x.n; i++) {
		struct synod_broker_config cfg = {0};
		struct synod_endpoint ep = {"PLAINTEXT", "127.0.0.1",
					    (uint16_t)(20000 + i % 40000),
					    "PLAINTEXT"};
		char rack[16];
		snprintf(rack, sizeof rack, "rack-%u", i % 3);
		cfg.bootstrap = c->bootstrap;
		cfg.cluster_id = c->cluster_id;
		cfg.tls_ca_file = tool_tls_ca();
		cfg.tls_cert_file = tool_tls_cert();
		cfg.tls_key_file = tool_tls_key();
		cfg.broker_id = (int32_t)i;
		cfg.rack = rack;
		cfg.endpoints = &ep;
		cfg.n_endpoints = 1;
		if (synod_broker_new(&x.loop, &cfg, NULL, &x.b[i]) !=
			SYNOD_OK ||
		    synod_broker_start(x.b[i]) != SYNOD_OK) {
			printf("brokers: cannot start broker %u\n", i);
			x.n = i;
			break;
		}
		if (i % 500 == 499)
			uv_run(&x.loop, UV_RUN_NOWAIT);
	}
	/* All registered and unfenced? */
	while (tool_now_us() - t0 < 180000000ull) {
		uv_run(&x.loop, UV_RUN_NOWAIT);
		active = 0;
		for (unsigned i = 0; i < x.n; i++)
			active +=
			    synod_broker_state(x.b[i]) == SYNOD_BROKER_ACTIVE;
		if (active == x.n) {
			t_all = tool_now_us() - t0;
			break;
		}
		usleep(2000);
	}
	printf("brokers %u registered and unfenced in %.1f s (%u active)\n",
	       x.n, t_all ? (double)t_all / 1e6 : -1.0, active);
	fflush(stdout);
	/* Settle one interval so heartbeats are spread, then measure. */
	bb_run(&x, (double)opt_hb_ms / 1000.0);
	x.n_rtt = 0;
	memset(x.seen_ok, 0, x.n * sizeof *x.seen_ok);
	bb_sample(&x, x.n);
	x.n_rtt = 0;
	hb0 = leader_heartbeats(c, leader);
	bench_cpu_ticks(c->nodes[leader - 1].pid, &cpu0);
	t0 = tool_now_us();
	bb_run(&x, opt_window);
	bench_cpu_ticks(c->nodes[leader - 1].pid, &cpu1);
	hb1 = leader_heartbeats(c, leader);
	double secs = (double)(tool_now_us() - t0) / 1e6;
	double cpu_s = (double)(cpu1 - cpu0) / (double)hz;
	printf("brokers idle controller: %.0f heartbeats/s, leader CPU %.1f%% "
	       "of a core, %.1f us CPU per heartbeat\n",
	       (double)(hb1 - hb0) / secs, 100.0 * cpu_s / secs,
	       hb1 > hb0 ? cpu_s * 1e6 / (double)(hb1 - hb0) : 0.0);
	bb_report(&x, "idle controller");

	/* The same while the controller commits 256 writes in flight. */
	{
		struct writer_arg w = {c->bootstrap, 0, 0};
		pthread_t th;
		pthread_create(&th, NULL, writer_main, &w);
		bb_run(&x, opt_window);
		w.stop = 1;
		pthread_join(th, NULL);
		printf("brokers busy controller: %.0f config writes/s "
		       "alongside\n",
		       (double)w.done / opt_window);
		bb_report(&x, "busy controller");
	}

	/* Crash n_kill brokers: time from their last heartbeat to the
	 * committed fence, beyond the session timeout. */
	{
		Synod__Wire__BrokerListRequest lreq =
		    SYNOD__WIRE__BROKER_LIST_REQUEST__INIT;
		struct synod_client *cl = cluster_client(c, 5000);
		uint64_t last_hb[64] = {0}, fenced_at[64] = {0};
		unsigned victims[64], n_fenced = 0;
		int64_t false_fences = 0;
		for (unsigned k = 0; k < n_kill && k < x.n; k++)
			victims[k] = (x.n / n_kill) * k;
		/* Close each right after its next heartbeat answer. */
		for (unsigned k = 0; k < n_kill; k++) {
			unsigned i = victims[k];
			struct synod_broker_stats st0, st;
			synod_broker_stats(x.b[i], &st0);
			do {
				uv_run(&x.loop, UV_RUN_NOWAIT);
				synod_broker_stats(x.b[i], &st);
				usleep(200);
			} while (st.heartbeats_ok == st0.heartbeats_ok);
			last_hb[k] = tool_now_us();
			synod_broker_close(x.b[i]);
			x.b[i] = NULL;
		}
		t0 = tool_now_us();
		while (n_fenced < n_kill &&
		       tool_now_us() - t0 < (uint64_t)opt_session_ms * 3000) {
			Synod__Wire__BrokerListResponse *r = NULL;
			uv_run(&x.loop, UV_RUN_NOWAIT);
			if (synod_client_call(
				cl, SYNOD_API_BROKER_LIST, &lreq.base, 1,
				&synod__wire__broker_list_response__descriptor,
				(ProtobufCMessage **)&r) == SYNOD_OK &&
			    r->status->code == SYNOD_OK) {
				uint64_t now = tool_now_us();
				for (size_t j = 0; j < r->n_brokers; j++)
					for (unsigned k = 0; k < n_kill; k++)
						if ((unsigned)r->brokers[j]
							    ->id ==
							victims[k] &&
						    r->brokers[j]->fenced &&
						    !fenced_at[k]) {
							fenced_at[k] = now;
							n_fenced++;
						}
				false_fences = 0;
				for (size_t j = 0; j < r->n_brokers; j++)
					if (r->brokers[j]->fenced)
						false_fences++;
				false_fences -= n_fenced;
			}
			if (r)
				synod__wire__broker_list_response__free_unpacked(
				    r, NULL);
			usleep(5000);
		}
		double d[64];
		unsigned nd = 0;
		for (unsigned k = 0; k < n_kill; k++)
			if (fenced_at[k])
				d[nd++] = ((double)(fenced_at[k] - last_hb[k]) /
					   1000.0) -
					  (double)opt_session_ms;
		qsort(d, nd, sizeof *d, cmp_d);
		if (nd)
			printf(
			    "brokers fence: %u of %u crashed brokers fenced; "
			    "after the session timeout: median %.0f ms, "
			    "max %.0f ms (session %u ms)\n",
			    nd, n_kill, d[nd / 2], d[nd - 1], opt_session_ms);
		printf("brokers false fences: %lld of %u healthy\n",
		       (long long)false_fences, x.n - n_kill);
		synod_client_close(cl);
	}
	for (unsigned i = 0; i < x.n; i++)
		if (x.b[i])
			synod_broker_close(x.b[i]);
	while (uv_run(&x.loop, UV_RUN_NOWAIT))
		;
	free(x.b);
	free(x.seen_ok);
	free(x.rtt);
	fflush(stdout);
}

/* ---- partitions ---- */

struct pcreate {
	unsigned sent, done, failed, inflight;
	unsigned topics;
	uint64_t t0, t1;
};

static void on_created(void *arg, int status, const uint8_t *body, size_t len)
{
	struct pcreate *pc = arg;
	int ok = 0;
	if (status == SYNOD_OK) {
		Synod__Wire__CreateTopicsResponse *r =
		    synod__wire__create_topics_response__unpack(NULL, len,
								body);
		ok = r && r->status->code == SYNOD_OK && r->n_results == 1 &&
		     r->results[0]->status->code == SYNOD_OK;
		if (!ok && r)
			status = r->status->code != SYNOD_OK
				     ? r->status->code
				     : r->results[0]->status->code;
		if (r)
			synod__wire__create_topics_response__free_unpacked(
			    r, NULL);
	}
	pc->inflight--;
	pc->done++;
	if (!ok && pc->failed++ < 3)
		fprintf(stderr, "partitions: a creation failed: %s\n",
			synod_error_name(status));
	pc->t1 = tool_now_us();
}

struct bench_figures bench_figures(struct cluster *c, unsigned id)
{
	struct bench_figures f;
	Synod__Wire__NodeStatusResponse *s = cluster_node_status(c, id, 3000);
	memset(&f, 0, sizeof f);
	if (s == NULL)
		return f;
	f.id = id;
	f.rss = s->rss_bytes;
	f.db = s->db_bytes;
	f.snapshots = s->snapshots_taken;
	f.snap_us = s->last_snapshot_us;
	f.snap_bytes = s->last_snapshot_bytes;
	f.restore_us = s->last_restore_us;
	f.applied = s->applied_index;
	f.commit = s->commit_index;
	f.term = s->term;
	f.bytes = s->bytes_proposed;
	f.heartbeats = s->group_heartbeats;
	f.assign_max_us = s->group_assign_max_us;
	f.stall_us = s->loop_stall_max_us;
	f.apply_us = s->apply_max_us;
	f.members = s->group_members;
	synod__wire__node_status_response__free_unpacked(s, NULL);
	return f;
}

/* A phase of the partitions bench: the largest loop stall of any node
 * and the elections (term changes) while it ran. */
struct phase {
	uint64_t term;
};

static void phase_begin(struct cluster *c, struct phase *p)
{
	for (unsigned id = 1; id <= c->n; id++) {
		Synod__Wire__NodeStatusResponse *s =
		    cluster_node_status_ex(c, id, 3000, 1);
		if (s)
			synod__wire__node_status_response__free_unpacked(s,
									 NULL);
	}
	p->term = max_term(c);
}

static void phase_end(struct cluster *c, const struct phase *p,
		      const char *name, unsigned skip)
{
	uint64_t worst = 0, over = 0, apply = 0;
	unsigned who = 0;
	for (unsigned id = 1; id <= c->n; id++) {
		Synod__Wire__NodeStatusResponse *s =
		    cluster_node_status(c, id, 3000);
		if (s == NULL)
			continue;
		if (id != skip && s->loop_stall_max_us > worst) {
			worst = s->loop_stall_max_us;
			who = id;
		}
		over += s->loop_stalls_over_50ms;
		if (id != skip && s->apply_max_us > apply)
			apply = s->apply_max_us;
		synod__wire__node_status_response__free_unpacked(s, NULL);
	}
	printf("partitions phase %s: largest loop stall %.1f ms (node %u), "
	       "%llu stalls over 50 ms, slowest entry apply %.1f ms, %llu "
	       "elections%s\n",
	       name, (double)worst / 1000.0, who, (unsigned long long)over,
	       (double)apply / 1000.0,
	       (unsigned long long)(max_term(c) - p->term),
	       skip ? " (the restarted node's own start not counted)" : "");
}

struct led {
	int32_t victim;
	unsigned n;
};

static int count_led(void *arg, const Synod__Wire__PartitionState *p)
{
	struct led *l = arg;
	if (p->leader == l->victim)
		l->n++;
	return 0;
}

struct sync_answer {
	int done, status;
	void *unused;
};

static void on_sync_answer(void *arg, int status, const uint8_t *body,
			   size_t len)
{
	struct sync_answer *a = arg;
	(void)body;
	(void)len;
	a->done = 1;
	a->status = status;
}

/* BROKER_LIST answer: status 1 when the broker is fenced. */
static void on_fenced_answer(void *arg, int status, const uint8_t *body,
			     size_t len)
{
	struct sync_answer *a = arg;
	Synod__Wire__BrokerListResponse *r = NULL;
	a->done = 1;
	a->status = 0;
	if (status == SYNOD_OK)
		r = synod__wire__broker_list_response__unpack(NULL, len, body);
	if (r && r->status->code == SYNOD_OK && r->n_brokers == 1 &&
	    r->brokers[0]->fenced)
		a->status = 1;
	if (r)
		synod__wire__broker_list_response__free_unpacked(r, NULL);
}

/* Does the controller list broker id as fenced? (runs loop) */
static int broker_fenced(struct synod_client *cl, uv_loop_t *loop, int32_t id)
{
	Synod__Wire__BrokerListRequest req =
	    SYNOD__WIRE__BROKER_LIST_REQUEST__INIT;
	struct sync_answer a = {0, 0, NULL};
	req.has_broker_id = 1;
	req.broker_id = id;
	if (synod_client_send(cl, SYNOD_API_BROKER_LIST, &req.base, 1,
			      on_fenced_answer, &a) != SYNOD_OK)
		return 0;
	while (!a.done)
		uv_run(loop, UV_RUN_ONCE);
	return a.status == 1;
}

/* ---- HTTP at scale (docs/benchmarks.md "HTTP") ---- */

struct hfetch {
	char addr[64];
	const char *method, *path, *body;
	const uint8_t *raw; /* instead of HTTP: these bytes (a Kafka frame) */
	size_t raw_len;
	int kafka;
	int status;
	size_t bytes;
	uint64_t us;
	volatile int done;
};

/* One request on a blocking socket (its own thread): status, bytes of
 * the whole answer, time to the last byte. */
static void *hfetch_thread(void *arg)
{
	struct hfetch *h = arg;
	struct sockaddr_in sa = {0};
	char host[64], req[1024], *buf = malloc(1 << 20);
	const char *colon = strrchr(h->addr, ':');
	uint64_t t0 = tool_now_us();
	ssize_t r;
	int fd = -1, n;
	h->status = 0;
	h->bytes = 0;
	if (buf == NULL || colon == NULL)
		goto out;
	snprintf(host, sizeof host, "%.*s", (int)(colon - h->addr), h->addr);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		goto out;
	if (h->kafka) {
		/* One Kafka request: read the frame its size announces. */
		size_t want = 4;
		if (write(fd, h->raw, h->raw_len) != (ssize_t)h->raw_len)
			goto out;
		while (h->bytes < want && (r = read(fd, buf, 1 << 20)) > 0) {
			if (h->bytes == 0 && r >= 4)
				want = 4 + ((size_t)(uint8_t)buf[0] << 24 |
					    (size_t)(uint8_t)buf[1] << 16 |
					    (size_t)(uint8_t)buf[2] << 8 |
					    (uint8_t)buf[3]);
			h->bytes += (size_t)r;
		}
		h->status = h->bytes >= want ? 200 : 0;
		goto out;
	}
	n = snprintf(req, sizeof req,
		     "%s %s HTTP/1.1\r\nHost: bench\r\nContent-Length: %zu"
		     "\r\n\r\n%s",
		     h->method, h->path, h->body ? strlen(h->body) : 0,
		     h->body ? h->body : "");
	if (write(fd, req, (size_t)n) != n)
		goto out;
	while ((r = read(fd, buf, 1 << 20)) > 0) {
		if (h->bytes == 0 && r > 12)
			h->status = atoi(buf + 9);
		h->bytes += (size_t)r;
	}
out:
	h->us = tool_now_us() - t0;
	if (fd >= 0)
		close(fd);
	free(buf);
	h->done = 1;
	return NULL;
}

/* Node id's address that its log gives after tag (port 0 asked). */
static int logged_addr(struct cluster *c, unsigned id, const char *tag,
		       char *out, size_t size)
{
	char line[1024];
	FILE *fp = fopen(c->nodes[id - 1].log_path, "r");
	int found = -1;
	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof line, fp)) {
		char *p = strstr(line, tag);
		if (p) {
			snprintf(out, size, "%s", p + strlen(tag));
			out[strcspn(out, " \n")] = '\0';
			found = 0;
		}
	}
	fclose(fp);
	return found;
}

static int http_addr(struct cluster *c, unsigned id, char *out, size_t size)
{
	return logged_addr(c, id,
			   "http: serving /healthz /readyz /metrics /v1 on ",
			   out, size);
}

/* A Kafka Metadata v4 request for every topic ("all") or one, into f;
 * its length. */
static size_t kafka_metadata(const char *topic, uint8_t *f, size_t size)
{
	static const uint8_t head[] = {0, 3, 0,	  4,   0,   0,	 0,  7,
				       0, 5, 'b', 'e', 'n', 'c', 'h'};
	size_t n = 4, tl = strlen(topic);
	if (tl > 200 || size < 4 + sizeof head + 8 + tl)
		return 0;
	memcpy(f + n, head, sizeof head);
	n += sizeof head;
	if (strcmp(topic, "all") == 0) {
		memset(f + n, 0xff, 4); /* null: every topic */
		n += 4;
	} else {
		static const uint8_t one[] = {0, 0, 0, 1};
		memcpy(f + n, one, 4);
		n += 4;
		f[n++] = (uint8_t)(tl >> 8);
		f[n++] = (uint8_t)tl;
		memcpy(f + n, topic, tl);
		n += tl;
	}
	f[n++] = 0; /* allow_auto_topic_creation */
	f[0] = f[1] = 0;
	f[2] = (uint8_t)((n - 4) >> 8);
	f[3] = (uint8_t)(n - 4);
	return n;
}

/* One request to node id while the brokers' loop keeps turning: its
 * figures and the node's largest loop stall meanwhile. */
static void http_measure(struct cluster *c, struct bb *x, unsigned id,
			 const char *method, const char *path, const char *body,
			 const char *label)
{
	struct hfetch h;
	pthread_t th;
	Synod__Wire__NodeStatusResponse *s;
	static uint8_t kframe[512];
	memset(&h, 0, sizeof h);
	if (strcmp(method, "KAFKA") == 0) { /* path: "all" or a topic */
		h.kafka = 1;
		h.raw = kframe;
		h.raw_len = kafka_metadata(path, kframe, sizeof kframe);
		if (h.raw_len == 0 ||
		    logged_addr(c, id, "kafka: serving the Kafka protocol on ",
				h.addr, sizeof h.addr) != 0) {
			printf("http: node %u has no Kafka address\n", id);
			return;
		}
	} else if (http_addr(c, id, h.addr, sizeof h.addr) != 0) {
		printf("http: node %u has no HTTP address\n", id);
		return;
	}
	h.method = method;
	h.path = path;
	h.body = body;
	s = cluster_node_status_ex(c, id, 3000, 1); /* reset the stall */
	if (s)
		synod__wire__node_status_response__free_unpacked(s, NULL);
	if (pthread_create(&th, NULL, hfetch_thread, &h) != 0)
		return;
	while (!h.done) {
		uv_run(&x->loop, UV_RUN_NOWAIT);
		usleep(2000);
	}
	pthread_join(th, NULL);
	s = cluster_node_status(c, id, 3000);
	printf("http %-34s node %u: %d, %10zu bytes in %8.1f ms; node's "
	       "largest loop stall %.1f ms\n",
	       label, id, h.status, h.bytes, (double)h.us / 1000.0,
	       s ? (double)s->loop_stall_max_us / 1000.0 : -1.0);
	if (s)
		synod__wire__node_status_response__free_unpacked(s, NULL);
}

/* Kafka Metadata v4 requests at broker 1's listener (x->kafka), one at a
 * time: time per answer, and the longest turn of the brokers' loop
 * meanwhile (the broker's stall: its answer is built in one turn when
 * its view has it, relayed to the controller otherwise). */
static void broker_kafka_measure(struct bb *x, unsigned which,
				 const char *topic, const char *label)
{
	static uint8_t kframe[512];
	uint64_t total = 0, stall = 0;
	size_t bytes = 0;
	int ok = 1, runs = 5;
	for (int i = 0; i < runs && ok; i++) {
		struct hfetch h;
		pthread_t th;
		memset(&h, 0, sizeof h);
		h.kafka = 1;
		h.raw = kframe;
		h.raw_len = kafka_metadata(topic, kframe, sizeof kframe);
		snprintf(h.addr, sizeof h.addr, "%s", x->kafka[which]);
		if (pthread_create(&th, NULL, hfetch_thread, &h) != 0)
			return;
		while (!h.done) {
			uint64_t t0 = tool_now_us(), d;
			uv_run(&x->loop, UV_RUN_NOWAIT);
			d = tool_now_us() - t0;
			if (d > stall)
				stall = d;
		}
		pthread_join(th, NULL);
		ok = h.status == 200;
		total += h.us;
		bytes = h.bytes;
	}
	if (!ok) {
		printf("kafka %-33s broker %u: no answer\n", label, which + 1);
		return;
	}
	printf("kafka %-33s broker %u: %10zu bytes in %8.1f ms (%.0f/s); "
	       "broker loop's longest turn %.1f ms\n",
	       label, which + 1, bytes, (double)total / runs / 1000.0,
	       1e6 * runs / (double)total, (double)stall / 1000.0);
}

/* The HTTP answers of a large cluster, and the loop stall each causes
 * (target < 5 ms), next to the stall of an idle stretch as long. */
static void bench_http(struct cluster *c, struct bb *x, unsigned leader)
{
	unsigned follower = leader % c->n + 1;
	Synod__Wire__NodeStatusResponse *s;
	uint64_t t0;
	s = cluster_node_status_ex(c, leader, 3000, 1);
	if (s)
		synod__wire__node_status_response__free_unpacked(s, NULL);
	for (t0 = tool_now_us(); tool_now_us() - t0 < 2000000;) {
		uv_run(&x->loop, UV_RUN_NOWAIT);
		usleep(2000);
	}
	s = cluster_node_status(c, leader, 3000);
	printf("http %-34s node %u: largest loop stall %.1f ms in 2 s "
	       "without HTTP\n",
	       "(baseline)", leader,
	       s ? (double)s->loop_stall_max_us / 1000.0 : -1.0);
	if (s)
		synod__wire__node_status_response__free_unpacked(s, NULL);
	for (int i = 0; i < 3; i++)
		http_measure(c, x, leader, "GET", "/metrics", NULL,
			     "GET /metrics");
	http_measure(c, x, leader, "GET", "/v1/quorum", NULL, "GET /v1/quorum");
	http_measure(c, x, leader, "GET", "/v1/topics", NULL,
		     "GET /v1/topics (leader)");
	http_measure(c, x, follower, "GET", "/v1/topics", NULL,
		     "GET /v1/topics (follower, local)");
	http_measure(c, x, leader, "GET", "/v1/topics/bench-00000", NULL,
		     "GET /v1/topics/NAME");
	http_measure(c, x, leader, "GET", "/v1/partitions", NULL,
		     "GET /v1/partitions (leader)");
	http_measure(c, x, follower, "GET", "/v1/partitions", NULL,
		     "GET /v1/partitions (follower)");
	http_measure(c, x, leader, "GET", "/v1/partitions?offline", NULL,
		     "GET /v1/partitions?offline");
	http_measure(c, x, leader, "POST", "/v1/query",
		     "SELECT leader, count(*) FROM partitions GROUP BY leader",
		     "POST /v1/query (leaders per broker)");
	http_measure(c, x, leader, "KAFKA", "all", NULL,
		     "Kafka Metadata v4, all topics");
	http_measure(c, x, follower, "KAFKA", "all", NULL,
		     "Kafka Metadata v4, all (follower)");
	http_measure(c, x, leader, "KAFKA", "bench-00000", NULL,
		     "Kafka Metadata v4, one topic");
	if (x->kafka[0][0] && x->kafka[1][0]) {
		broker_kafka_measure(x, 0, "all",
				     "Metadata v4, all (its view)");
		broker_kafka_measure(x, 0, "bench-00000",
				     "Metadata v4, one topic (its view)");
		broker_kafka_measure(x, 1, "all", "Metadata v4, all (relayed)");
		broker_kafka_measure(x, 1, "bench-00000",
				     "Metadata v4, one topic (relayed)");
	}
	{
		/* The daemon's memory after the big answers. */
		struct bench_figures f = bench_figures(c, leader);
		printf("http leader RSS after the answers: %.0f MiB\n",
		       (double)f.rss / 1048576.0);
	}
}

struct mine {
	int32_t id;
	uint64_t n;
};

static int count_mine(void *arg, const Synod__Wire__PartitionState *p)
{
	struct mine *m = arg;
	for (size_t r = 0; r < p->n_replicas; r++)
		if (p->replicas[r] == m->id)
			m->n++;
	return 0;
}

/* Partitions broker b replicates that its view holds (a view of every
 * partition holds others too). */
static uint64_t replicas_held(struct synod_broker *b)
{
	struct mine m = {synod_broker_id(b), 0};
	synod_broker_partitions(b, count_mine, &m);
	return m.n;
}

/* A TCP port free now on 127.0.0.1 (0: none). */
static int free_port(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void bench_partitions(struct cluster *c)
{
	struct bb x;
	struct synod_client *cl;
	struct pcreate pc;
	struct phase ph;
	unsigned leader = cluster_wait_leader(c, 10000);
	uint64_t t0, want, held = 0;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (set_cluster_config(c, "broker.heartbeat.interval.ms", 500) !=
		SYNOD_OK ||
	    set_cluster_config(c, "broker.session.timeout.ms", 2000) !=
		SYNOD_OK) {
		printf("partitions: cannot set the broker configs\n");
		return;
	}
	memset(&x, 0, sizeof x);
	uv_loop_init(&x.loop);
	x.n = opt_p_brokers;
	x.b = calloc(x.n, sizeof *x.b);
	for (unsigned i = 0; i < x.n; i++) {
		struct synod_broker_config cfg = {0};
		struct synod_endpoint ep = {"PLAINTEXT", "127.0.0.1",
					    (uint16_t)(20000 + i), "PLAINTEXT"};
		char rack[16];
		snprintf(rack, sizeof rack, "rack-%u", i % 3);
		cfg.bootstrap = c->bootstrap;
		cfg.cluster_id = c->cluster_id;
		cfg.tls_ca_file = tool_tls_ca();
		cfg.tls_cert_file = tool_tls_cert();
		cfg.tls_key_file = tool_tls_key();
		cfg.broker_id = (int32_t)i + 1;
		cfg.rack = rack;
		cfg.endpoints = &ep;
		cfg.n_endpoints = 1;
		if (i < 2) {
			/* Brokers 1 and 2 answer Kafka clients
			 * (docs/kafka.md): a listener on a free port, the
			 * other brokers in the view; broker 1's view holds
			 * every partition. */
			int port = free_port();
			if (port > 0) {
				snprintf(x.kafka[i], sizeof x.kafka[i],
					 "127.0.0.1:%d", port);
				cfg.kafka_address = x.kafka[i];
				cfg.other_brokers = 1;
				cfg.all_partitions = i == 0;
				ep.port = (uint16_t)port;
			}
		}
		if (synod_broker_new(&x.loop, &cfg, NULL, &x.b[i]) !=
			SYNOD_OK ||
		    synod_broker_start(x.b[i]) != SYNOD_OK) {
			printf("partitions: cannot start broker %u\n", i);
			return;
		}
	}
	t0 = tool_now_us();
	for (;;) {
		unsigned active = 0;
		uv_run(&x.loop, UV_RUN_NOWAIT);
		for (unsigned i = 0; i < x.n; i++)
			active +=
			    synod_broker_state(x.b[i]) == SYNOD_BROKER_ACTIVE;
		if (active == x.n)
			break;
		if (tool_now_us() - t0 > 60000000ull) {
			printf("partitions: only %u of %u brokers active\n",
			       active, x.n);
			return;
		}
		usleep(2000);
	}
	/* Topic creation, 4 requests in flight. */
	{
		struct synod_client_config cc = {0};
		tool_tls_apply(&cc);
		cc.bootstrap = c->bootstrap;
		cc.request_timeout_ms = 60000;
		synod_client_new(&x.loop, &cc, &cl);
	}
	memset(&pc, 0, sizeof pc);
	phase_begin(c, &ph);
	pc.topics = (opt_partitions + opt_topic_parts - 1) / opt_topic_parts;
	pc.t0 = tool_now_us();
	while (pc.done < pc.topics) {
		while (pc.sent < pc.topics && pc.inflight < 4) {
			Synod__Wire__CreateTopicsRequest req =
			    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
			Synod__Wire__CreatableTopic ct =
			    SYNOD__WIRE__CREATABLE_TOPIC__INIT;
			Synod__Wire__CreatableTopic *ctp = &ct;
			char name[32];
			snprintf(name, sizeof name, "bench-%05u", pc.sent);
			ct.name = name;
			ct.has_partitions = ct.has_replication_factor = 1;
			ct.partitions = opt_topic_parts;
			ct.replication_factor = opt_rf;
			req.n_topics = 1;
			req.topics = &ctp;
			if (synod_client_send(cl, SYNOD_API_CREATE_TOPICS,
					      &req.base, 1, on_created,
					      &pc) != SYNOD_OK)
				break;
			pc.sent++;
			pc.inflight++;
		}
		uv_run(&x.loop, UV_RUN_ONCE);
	}
	double secs = (double)(pc.t1 - pc.t0) / 1e6;
	printf("partitions created: %u topics x %u partitions (RF %u) in "
	       "%.2f s = %.0f partitions/s (%u failed)\n",
	       pc.topics, opt_topic_parts, opt_rf, secs,
	       (double)pc.topics * opt_topic_parts / secs, pc.failed);
	want = (uint64_t)(pc.topics - pc.failed) * opt_topic_parts * opt_rf;
	t0 = tool_now_us();
	while (tool_now_us() - t0 < 120000000ull) {
		uv_run(&x.loop, UV_RUN_NOWAIT);
		held = 0;
		for (unsigned i = 0; i < x.n; i++)
			held += replicas_held(x.b[i]);
		if (held >= want)
			break;
		usleep(5000);
	}
	printf("partitions pushed: %llu of %llu replicas held by the "
	       "brokers %.2f s after the last creation was acknowledged\n",
	       (unsigned long long)held, (unsigned long long)want,
	       (double)(tool_now_us() - pc.t1) / 1e6);
	phase_end(c, &ph, "creation", 0);
	printf("partitions memory: leader RSS %.0f MiB, SQLite image %.0f "
	       "MiB\n",
	       (double)bench_figures(c, leader).rss / 1048576.0,
	       (double)bench_figures(c, leader).db / 1048576.0);

	bench_http(c, &x, leader);

	/* Fence one broker: time until every other broker holds the new
	 * leaders of the partitions it led. */
	{
		struct synod_broker *victim = x.b[0];
		int32_t vid = synod_broker_id(victim);
		struct led l = {vid, 0};
		uint64_t t_close, t_first = 0, t_all = 0, t_fenced = 0;
		unsigned before = 0;
		for (unsigned i = 1; i < x.n; i++) {
			l.n = 0;
			synod_broker_partitions(x.b[i], count_led, &l);
			before += l.n;
		}
		{
			struct synod_broker_stats st;
			synod_broker_stats(victim, &st);
			printf(
			    "partitions victim: %llu heartbeats ok, last rtt "
			    "%llu us, state %s\n",
			    (unsigned long long)st.heartbeats_ok,
			    (unsigned long long)synod_broker_last_rtt_us(
				victim),
			    synod_broker_state_name(
				synod_broker_state(victim)));
		}
		phase_begin(c, &ph);
		synod_broker_close(victim);
		x.b[0] = NULL;
		t_close = tool_now_us();
		while (tool_now_us() - t_close < 30000000ull) {
			unsigned left = 0;
			uv_run(&x.loop, UV_RUN_NOWAIT);
			for (unsigned i = 1; i < x.n; i++) {
				l.n = 0;
				synod_broker_partitions(x.b[i], count_led, &l);
				left += l.n;
			}
			if (left < before && t_first == 0)
				t_first = tool_now_us();
			if (left == 0 && t_fenced) {
				t_all = t_all ? t_all : tool_now_us();
				break;
			}
			if (left == 0 && !t_all)
				t_all = tool_now_us();
			if (!t_fenced && broker_fenced(cl, &x.loop, vid))
				t_fenced = tool_now_us();
			usleep(1000);
		}
		if (t_fenced)
			printf(
			    "partitions fence of broker %d committed %.0f ms "
			    "after its last heartbeat (session timeout "
			    "2000 ms)\n",
			    vid, (double)(t_fenced - t_close) / 1000.0);
		if (t_all)
			printf("partitions fence of broker %d (%u replica "
			       "views led by it): first new leader pushed "
			       "%.0f ms after its last heartbeat; every broker "
			       "holds the new leaders %.0f ms after that "
			       "first push\n",
			       vid, before,
			       (double)(t_first - t_close) / 1000.0,
			       (double)(t_all - t_first) / 1000.0);
		else
			printf("partitions fence: brokers still see broker %d "
			       "leading after 30 s\n",
			       vid);
	}

	phase_end(c, &ph, "fence", 0);
	/* Preferred elections over every partition (ELECT_LEADERS with none
	 * named): a walk over all of them, page by page. */
	{
		Synod__Wire__ElectLeadersRequest req =
		    SYNOD__WIRE__ELECT_LEADERS_REQUEST__INIT;
		struct sync_answer a = {0, 0, NULL};
		uint64_t t;
		phase_begin(c, &ph);
		t = tool_now_us();
		if (synod_client_send(cl, SYNOD_API_ELECT_LEADERS, &req.base, 1,
				      on_sync_answer, &a) == SYNOD_OK)
			while (!a.done)
				uv_run(&x.loop, UV_RUN_ONCE);
		printf("partitions elect-leaders over all partitions: %s in "
		       "%.0f ms\n",
		       synod_error_name(a.status),
		       (double)(tool_now_us() - t) / 1000.0);
		phase_end(c, &ph, "elect-leaders", 0);
	}
	/* Snapshot, restore, catch-up of a restarted follower. */
	phase_begin(c, &ph);
	{
		unsigned f = leader % c->n + 1;
		uint64_t commit, t;
		printf("partitions snapshot: leader took %llu snapshots, last "
		       "%.0f MiB copied in %.0f ms on the loop\n",
		       (unsigned long long)bench_figures(c, leader).snapshots,
		       (double)bench_figures(c, leader).snap_bytes / 1048576.0,
		       (double)bench_figures(c, leader).snap_us / 1000.0);
		cluster_kill(c, f);
		commit = bench_figures(c, leader).commit;
		t = tool_now_us();
		cluster_start_node(c, f);
		if (cluster_wait_applied(c, commit, 60000) == 0)
			printf("partitions restart: follower %u back in the "
			       "quorum and caught up %.2f s after start "
			       "(restore %.0f ms, RSS %.0f MiB)\n",
			       f, (double)(tool_now_us() - t) / 1e6,
			       (double)bench_figures(c, f).restore_us / 1000.0,
			       (double)bench_figures(c, f).rss / 1048576.0);
		else
			printf("partitions restart: follower %u did not catch "
			       "up in 60 s\n",
			       f);
	}
	phase_end(c, &ph, "restart", leader % c->n + 1);
	synod_client_close(cl);
	for (unsigned i = 0; i < x.n; i++)
		if (x.b[i])
			synod_broker_close(x.b[i]);
	while (uv_run(&x.loop, UV_RUN_NOWAIT))
		;
	free(x.b);
}

/* Option values: a count (1 .. 10^9) or a number of seconds (> 0). */
static int parse_count(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;
	if (s[0] < '0' || s[0] > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v == 0 || v > 1000000000ul)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (s[0] == '\0' || *end != '\0' || !(v > 0) || v > 86400)
		return -1;
	*out = v;
	return 0;
}

static int bad_option(const char *value)
{
	fprintf(stderr, "synod-bench: bad option value '%s' (see --help)\n",
		value);
	return 2;
}

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: synod-bench [options] "
	    "[writes|failover|quiet|brokers|partitions|groups]...\n"
	    "  --nodes N               quorum size to start (default 3)\n"
	    "  --duration S            seconds per write run (default 5)\n"
	    "  --inflight LIST         in-flight levels (default 1,64,256)\n"
	    "  --runs N                failover runs each (default 5)\n"
	    "  --quiet-seconds S       idle period (default 300)\n"
	    "  --election-timeout-ms N daemon election timeout (default "
	    "200)\n"
	    "  --flags \"...\"           extra synod flags\n"
	    "  --bootstrap H:P,...     measure writes on a running "
	    "cluster instead\n"
	    "  --ca F --cert F --key F TLS to the cluster (or $SYNOD_CA, "
	    "$SYNOD_CERT,\n"
	    "                          $SYNOD_KEY; docs/security.md)\n"
	    "  --window S              seconds measured in brokers and "
	    "groups (default 20)\n"
	    "brokers: --brokers N (10000) --heartbeat-ms N (2000) "
	    "--session-ms N (9000)\n"
	    "partitions: --p-brokers N (100) --partitions N (100000) "
	    "--topic-partitions N (1000) --rf N (3)\n"
	    "groups: --group-members N (100000) --groups N (10000) "
	    "--group-topics N (100)\n"
	    "        --group-topic-partitions N (10) --group-conns N (100)\n"
	    "        --big-members N (1000, 0: none) --big-partitions N "
	    "(10000) --big-session-ms N (3000)\n"
	    "Without section names writes, failover and quiet run.\n");
}

/* One write run per in-flight level of --inflight. 0, or 2 on a bad list. */
static int write_levels(const char *bootstrap)
{
	char list[256], *tok, *save;
	unsigned k;
	snprintf(list, sizeof list, "%s", opt_inflight);
	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (parse_count(tok, &k) != 0)
			return bad_option(tok);
		bench_writes(bootstrap, k);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"nodes", required_argument, NULL, 'n'},
	    {"duration", required_argument, NULL, 'd'},
	    {"inflight", required_argument, NULL, 'i'},
	    {"runs", required_argument, NULL, 'r'},
	    {"quiet-seconds", required_argument, NULL, 'q'},
	    {"election-timeout-ms", required_argument, NULL, 'e'},
	    {"flags", required_argument, NULL, 'f'},
	    {"bootstrap", required_argument, NULL, 'b'},
	    {"ca", required_argument, NULL, 1},
	    {"cert", required_argument, NULL, 2},
	    {"key", required_argument, NULL, 3},
	    {"brokers", required_argument, NULL, 'B'},
	    {"heartbeat-ms", required_argument, NULL, 'H'},
	    {"session-ms", required_argument, NULL, 'S'},
	    {"window", required_argument, NULL, 'W'},
	    {"p-brokers", required_argument, NULL, 'P'},
	    {"partitions", required_argument, NULL, 'N'},
	    {"topic-partitions", required_argument, NULL, 'T'},
	    {"rf", required_argument, NULL, 'R'},
	    {"group-members", required_argument, NULL, 1000},
	    {"groups", required_argument, NULL, 1001},
	    {"group-topics", required_argument, NULL, 1002},
	    {"group-topic-partitions", required_argument, NULL, 1003},
	    {"group-conns", required_argument, NULL, 1004},
	    {"big-members", required_argument, NULL, 1005},
	    {"big-partitions", required_argument, NULL, 1006},
	    {"big-session-ms", required_argument, NULL, 1007},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *bootstrap = NULL;
	const char *tls[3] = {NULL, NULL, NULL};
	int opt, do_w = 0, do_f = 0, do_q = 0, do_b = 0, do_p = 0, do_g = 0;
	int rv = 0;
	unsigned *gopt[] = {
	    &opt_groups.members,	&opt_groups.groups,
	    &opt_groups.topics,		&opt_groups.topic_parts,
	    &opt_groups.conns,		&opt_groups.big_members,
	    &opt_groups.big_partitions, &opt_groups.big_session_ms};
	struct cluster c;
	char flags[sizeof c.extra_flags];
	unsigned conns;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_count(optarg, &opt_nodes) != 0)
				return bad_option(optarg);
			break;
		case 'd':
			if (parse_seconds(optarg, &opt_duration) != 0)
				return bad_option(optarg);
			break;
		case 'i':
			opt_inflight = optarg;
			break;
		case 'r':
			if (parse_count(optarg, &opt_runs) != 0)
				return bad_option(optarg);
			break;
		case 'q':
			if (parse_count(optarg, &opt_quiet_s) != 0)
				return bad_option(optarg);
			break;
		case 'e':
			if (parse_count(optarg, &opt_election_ms) != 0)
				return bad_option(optarg);
			break;
		case 'f':
			opt_flags = optarg;
			break;
		case 'b':
			bootstrap = optarg;
			break;
		case 1:
			tls[0] = optarg;
			break;
		case 2:
			tls[1] = optarg;
			break;
		case 3:
			tls[2] = optarg;
			break;
		case 'B':
			if (parse_count(optarg, &opt_brokers) != 0)
				return bad_option(optarg);
			break;
		case 'H':
			if (parse_count(optarg, &opt_hb_ms) != 0)
				return bad_option(optarg);
			break;
		case 'S':
			if (parse_count(optarg, &opt_session_ms) != 0)
				return bad_option(optarg);
			break;
		case 'W':
			if (parse_seconds(optarg, &opt_window) != 0)
				return bad_option(optarg);
			break;
		case 'P':
			if (parse_count(optarg, &opt_p_brokers) != 0)
				return bad_option(optarg);
			break;
		case 'N':
			if (parse_count(optarg, &opt_partitions) != 0)
				return bad_option(optarg);
			break;
		case 'T':
			if (parse_count(optarg, &opt_topic_parts) != 0)
				return bad_option(optarg);
			break;
		case 'R':
			if (parse_count(optarg, &opt_rf) != 0)
				return bad_option(optarg);
			break;
		case 1000:
		case 1001:
		case 1002:
		case 1003:
		case 1004:
		case 1005:
		case 1006:
		case 1007:
			/* Members may be 0 (that part is skipped). */
			if (strcmp(optarg, "0") == 0 &&
			    (opt == 1000 || opt == 1005))
				*gopt[opt - 1000] = 0;
			else if (parse_count(optarg, gopt[opt - 1000]) != 0)
				return bad_option(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	tool_tls_flags(tls[0], tls[1], tls[2]);
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "writes") == 0)
			do_w = 1;
		else if (strcmp(argv[i], "failover") == 0)
			do_f = 1;
		else if (strcmp(argv[i], "quiet") == 0)
			do_q = 1;
		else if (strcmp(argv[i], "brokers") == 0)
			do_b = 1;
		else if (strcmp(argv[i], "partitions") == 0)
			do_p = 1;
		else if (strcmp(argv[i], "groups") == 0)
			do_g = 1;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!do_w && !do_f && !do_q && !do_b && !do_p && !do_g)
		do_w = do_f = do_q = 1;
	(void)opt_only;
	if (opt_nodes < 1 || opt_nodes > CLUSTER_MAX_NODES ||
	    opt_duration <= 0 || opt_groups.groups == 0 ||
	    opt_groups.conns == 0 || opt_groups.topics == 0 ||
	    opt_groups.topic_parts == 0 || opt_groups.big_partitions == 0 ||
	    opt_groups.big_session_ms < 300) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (bootstrap)
		return write_levels(bootstrap);
	/* The simulated brokers all connect from 127.0.0.1: lift the client
	 * port's connection limits for them (--flags still win). */
	conns = opt_brokers + opt_p_brokers + opt_groups.conns + 1000;
	if ((size_t)snprintf(flags, sizeof flags,
			     "--max-client-connections %u "
			     "--max-client-connections-per-ip %u %s%s",
			     conns, conns,
			     do_p ? "--http-address 127.0.0.1:0 "
				    "--kafka-address 127.0.0.1:0 "
				  : "",
			     opt_flags ? opt_flags : "") >= sizeof flags) {
		fprintf(stderr, "synod-bench: --flags too long\n");
		return 2;
	}
	if (cluster_init(&c, opt_nodes, NULL, opt_election_ms, flags) != 0 ||
	    cluster_start(&c) != 0 || cluster_wait_leader(&c, 20000) == 0) {
		fprintf(stderr, "synod-bench: could not start a quorum\n");
		cluster_destroy(&c);
		return 1;
	}
	printf("synod-bench: %u nodes, election timeout %u ms, flags '%s'\n",
	       opt_nodes, opt_election_ms, opt_flags ? opt_flags : "");
	if (do_w) {
		uint64_t t0 = max_term(&c);
		if (write_levels(c.bootstrap) != 0) {
			cluster_destroy(&c);
			return 2;
		}
		printf("writes  elections during the write runs: %llu\n",
		       (unsigned long long)(max_term(&c) - t0));
	}
	if (do_f) {
		bench_failover(&c, 0);
		bench_failover(&c, 1);
	}
	if (do_b)
		bench_brokers(&c);
	if (do_p)
		bench_partitions(&c);
	if (do_g) {
		opt_groups.window = opt_window;
		if (bench_groups(&c, &opt_groups) != 0)
			rv = 1;
	}
	if (do_q)
		bench_quiet(&c);
	cluster_destroy(&c);
	return rv;
}
