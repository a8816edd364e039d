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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "common.h"

static unsigned opt_nodes = 3;
static double opt_duration = 5.0;
static unsigned opt_runs = 5;
static unsigned opt_quiet_s = 300;
static unsigned opt_election_ms = 200; /* the daemon's default */
static const char *opt_only;
static const char *opt_flags;
static const char *opt_inflight = "1,64,256";

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
	rv = tool_call(cl, SYNOD_API_CONFIG_SET, &req.base, 1,
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

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: synod-bench [options] [writes|failover|quiet]...\n"
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
	    "Without section names all three run.\n");
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *bootstrap = NULL;
	int opt, do_w = 0, do_f = 0, do_q = 0;
	struct cluster c;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			opt_nodes = (unsigned)atoi(optarg);
			break;
		case 'd':
			opt_duration = atof(optarg);
			break;
		case 'i':
			opt_inflight = optarg;
			break;
		case 'r':
			opt_runs = (unsigned)atoi(optarg);
			break;
		case 'q':
			opt_quiet_s = (unsigned)atoi(optarg);
			break;
		case 'e':
			opt_election_ms = (unsigned)atoi(optarg);
			break;
		case 'f':
			opt_flags = optarg;
			break;
		case 'b':
			bootstrap = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "writes") == 0)
			do_w = 1;
		else if (strcmp(argv[i], "failover") == 0)
			do_f = 1;
		else if (strcmp(argv[i], "quiet") == 0)
			do_q = 1;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!do_w && !do_f && !do_q)
		do_w = do_f = do_q = 1;
	(void)opt_only;
	if (opt_nodes < 1 || opt_nodes > CLUSTER_MAX_NODES ||
	    opt_duration <= 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (bootstrap) {
		char list[256], *tok, *save;
		snprintf(list, sizeof list, "%s", opt_inflight);
		for (tok = strtok_r(list, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save))
			bench_writes(bootstrap, (unsigned)atoi(tok));
		return 0;
	}
	if (cluster_init(&c, opt_nodes, NULL, opt_election_ms, opt_flags) !=
		0 ||
	    cluster_start(&c) != 0 || cluster_wait_leader(&c, 20000) == 0) {
		fprintf(stderr, "synod-bench: could not start a quorum\n");
		cluster_destroy(&c);
		return 1;
	}
	printf("synod-bench: %u nodes, election timeout %u ms, flags '%s'\n",
	       opt_nodes, opt_election_ms, opt_flags ? opt_flags : "");
	if (do_w) {
		char list[256], *tok, *save;
		uint64_t t0 = max_term(&c);
		snprintf(list, sizeof list, "%s", opt_inflight);
		for (tok = strtok_r(list, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save))
			bench_writes(c.bootstrap, (unsigned)atoi(tok));
		printf("writes  elections during the write runs: %llu\n",
		       (unsigned long long)(max_term(&c) - t0));
	}
	if (do_f) {
		bench_failover(&c, 0);
		bench_failover(&c, 1);
	}
	if (do_q)
		bench_quiet(&c);
	cluster_destroy(&c);
	return 0;
}
