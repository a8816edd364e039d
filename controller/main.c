/* controller/main.c - the synod daemon. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "cluster.h"
#include "log.h"
#include "node.h"
#include "query.h"
#include "controller.h"
#include "http.h"
#include "kafka_listener.h"
#include "server.h"
#include "tls.h"
#include "transport.h"
#include "workgate.h"

#define META_FILE "node.meta"

static struct synod_config cfg;
static struct node node;
static struct server server;
static uv_loop_t *loop;
static uv_signal_t sigterm, sigint, sighup;
static uv_timer_t stop_timer, stop_deadline;
static int exit_code;
#define STOP_DEADLINE_MS 15000
static int stopping;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: synod [--config FILE] [options]\n"
		"       synod --new-cluster-id\n"
		"\n"
		"The Synod controller daemon: one node of a raft quorum that "
		"replicates\ncluster metadata. Flags override the config "
		"file's keys of the same name.\n"
		"\n"
		"  --config FILE              ini file ([synod] section)\n"
		"  --node-id N                this node's id (1..2^32-1)\n"
		"  --cluster-id ID            cluster id, the same on every "
		"node\n"
		"  --raft-address H:P         address for raft traffic\n"
		"  --client-address H:P       address for clients, brokers, "
		"synodctl\n"
		"  --data-dir DIR             raft log, snapshots, node.meta\n"
		"  --http-address H:P         HTTP: /healthz /readyz /metrics, "
		"the JSON API\n"
		"                             /v1, the dashboard / (off when "
		"unset; port 0:\n"
		"                             any free port, logged)\n"
		"  --http-request-timeout-ms N  to send a request and take "
		"its answer\n"
		"                             (default 10000)\n"
		"  --kafka-address H:P        Kafka-protocol listener: "
		"ApiVersions, Metadata\n"
		"                             (docs/kafka.md; off when unset)\n"
		"  --kafka-max-request-bytes N  largest Kafka request "
		"(default 1048576)\n"
		"  --voters LIST              initial voters, bootstrapped on "
		"first start:\n"
		"                             ID@RAFT_H:P/CLIENT_H:P,...\n"
		"                             (a node not in the list starts "
		"empty and\n"
		"                             waits to be added with synodctl "
		"quorum add-voter)\n"
		"  --election-timeout-ms N    raft election timeout (default "
		"200)\n"
		"  --heartbeat-timeout-ms N   raft heartbeat (default "
		"election/10)\n"
		"  --snapshot-threshold N     entries between snapshots "
		"(default 65536)\n"
		"  --snapshot-trailing N      entries kept after a snapshot "
		"(default 16384)\n"
		"  --digest-every N           keep the state digest after "
		"each N entries\n"
		"                             (NODE_STATUS; O(state) each: "
		"tests; default 0,\n"
		"                             none)\n"
		"  --max-inflight-entries N   raft pipelining (default 256)\n"
		"  --max-batch-records N      records per raft entry (default "
		"10000)\n"
		"  --max-frame-bytes N        largest client frame (default "
		"16 MiB)\n"
		"  --max-client-connections N\n"
		"                             open client connections "
		"(default 10000)\n"
		"  --max-client-connections-per-ip N\n"
		"                             client connections from one IP "
		"address\n"
		"                             (default 1000)\n"
		"  --max-read-buffer-bytes N  read buffers of all client "
		"connections, for\n"
		"                             frames still arriving (default "
		"256 MiB)\n"
		"  --idle-timeout-ms N        close a client connection "
		"silent this long\n"
		"                             with no request pending "
		"(default 600000;\n"
		"                             0 never)\n"
		"  --partial-frame-timeout-ms N\n"
		"                             close a client connection whose "
		"frame stays\n"
		"                             incomplete this long (default "
		"30000)\n"
		"  --slow-reader-bytes N      close a client connection with "
		"more than this\n"
		"                             queued (default 4 MiB) for "
		"this long:\n"
		"  --slow-reader-timeout-ms N (default 30000)\n"
		"TLS on the client port (docs/security.md; all three or "
		"none):\n"
		"  --tls-cert-file FILE       this node's certificate chain "
		"(PEM)\n"
		"  --tls-key-file FILE        its private key (PEM)\n"
		"  --tls-ca-file FILE         CA bundle clients' certificates "
		"must chain to\n"
		"  --tls-handshake-timeout-ms N  (default 10000)\n"
		"  --tls-allow-tls12 true|false  accept TLS 1.2 too (default "
		"false: 1.3 only)\n"
		"  --tls-principal cn|san     a client's principal: its "
		"certificate's subject\n"
		"                             CN (default) or first DNS/URI "
		"SAN\n"
		"  --super-users P,...        principals that are admins\n"
		"  --allow-plaintext true|false  without TLS, serve on "
		"non-loopback\n"
		"                             addresses too (default false)\n"
		"  --plaintext-client-address H:P  development: a loopback "
		"plaintext client\n"
		"                             port beside the TLS one, whose "
		"clients are\n"
		"                             admins (needs allow_plaintext)\n"
		"  --authorization true|false roles and grants on the client "
		"port (default\n"
		"                             true; with TLS only)\n"
		"  --pre-vote true|false      raft pre-vote (default true)\n"
		"  --segment-size-bytes N     raft log segment size (default "
		"16 MiB, 4 to 20 MiB)\n"
		"  --disk-stall-ms N          a log write unfinished this long "
		"means a\n"
		"                             failing or stalled disk: a "
		"leader hands over\n"
		"                             (default 5000)\n"
		"  --snapshot-save-timeout-ms N  a snapshot save unfinished "
		"this long:\n"
		"                             exit 3 to be restarted (default "
		"60000; 0: never)\n"
		"  --thread-pool-size N       threads for disk work and "
		"queries (default\n"
		"                             16, 4 to 128; queries use at "
		"most a quarter)\n"
		"  --accept-damaged-log-tail true|false  start although an "
		"open log\n"
		"                             segment is damaged (unsafe: last "
		"resort,\n"
		"                             docs/operations.md 6.6; default "
		"false)\n"
		"  --connect-retry-ms N       raft reconnect delay (default "
		"100)\n"
		"  --log-level LEVEL          error, warn, info, debug\n"
		"  --log-format text|json     json: one object a line (ts, "
		"level, node, msg)\n"
		"  --new-cluster-id           print a fresh cluster id and "
		"exit\n"
		"  --version, --help\n");
}

static void new_cluster_id(char *out, size_t size)
{
	unsigned char b[16];
	if (getrandom(b, sizeof b, 0) != sizeof b)
		for (size_t i = 0; i < sizeof b; i++)
			b[i] = (unsigned char)rand();
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, size,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%"
		 "02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* node.meta: which cluster and node this data dir belongs to. Returns 1
 * when it was just created (first start), 0 when it matched, -1 on a
 * mismatch or error (message printed). */
static int check_meta(void)
{
	char path[PATH_MAX + 32], raft_dir[PATH_MAX + 16];
	char line[256], cid[64] = "";
	unsigned long long nid = 0;
	FILE *f;
	snprintf(path, sizeof path, "%s/%s", cfg.data_dir, META_FILE);
	snprintf(raft_dir, sizeof raft_dir, "%s/raft", cfg.data_dir);
	f = fopen(path, "r");
	if (f != NULL) {
		while (fgets(line, sizeof line, f)) {
			if (sscanf(line, "cluster_id = %63s", cid) == 1)
				continue;
			sscanf(line, "node_id = %llu", &nid);
		}
		fclose(f);
		if (strcmp(cid, cfg.cluster_id) != 0) {
			log_error("data dir %s belongs to cluster %s, not %s: "
				  "refusing to start",
				  cfg.data_dir, cid[0] ? cid : "(none)",
				  cfg.cluster_id);
			return -1;
		}
		if (nid != cfg.node_id) {
			log_error("data dir %s belongs to node %llu, not %llu: "
				  "refusing to start",
				  cfg.data_dir, nid,
				  (unsigned long long)cfg.node_id);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		log_error("%s: %s", path, strerror(errno));
		return -1;
	}
	/* No node.meta: this must be a new data dir. Raft data without it
	 * means a damaged or foreign dir; never bootstrap over it. */
	{
		DIR *d = opendir(raft_dir);
		struct dirent *e;
		int has_data = 0;
		while (d && (e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				has_data = 1;
		if (d)
			closedir(d);
		if (has_data) {
			log_error("%s has raft data but no %s: refusing to "
				  "start (restore node.meta or wipe the dir)",
				  raft_dir, META_FILE);
			return -1;
		}
	}
	if (mkdir(raft_dir, 0750) != 0 && errno != EEXIST) {
		log_error("mkdir %s: %s", raft_dir, strerror(errno));
		return -1;
	}
	char tmp[PATH_MAX + 40];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL) {
		log_error("%s: %s", tmp, strerror(errno));
		return -1;
	}
	fprintf(f,
		"# Written by synod on first start. Do not edit.\n"
		"format = 1\ncluster_id = %s\nnode_id = %llu\n",
		cfg.cluster_id, (unsigned long long)cfg.node_id);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		log_error("%s: %s", tmp, strerror(errno));
		return -1;
	}
	fclose(f);
	if (rename(tmp, path) != 0) {
		log_error("rename %s: %s", path, strerror(errno));
		return -1;
	}
	return 1;
}

static int lock_data_dir(void)
{
	char path[PATH_MAX + 16];
	int fd;
	snprintf(path, sizeof path, "%s/lock", cfg.data_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("data dir %s is in use by another synod process",
			  cfg.data_dir);
		close(fd);
		return -1;
	}
	return 0; /* kept open (and locked) until exit */
}

/* ---- systemd (Type=notify; deploy/synod.service) ----
 * READY=1 once the node is ready (cluster_ready: a leader known, caught
 * up) or after NOTIFY_READY_WAIT_MS, whichever comes first (a node of a
 * quorum not formed yet must not hang its unit's start); STATUS= as its
 * readiness changes; STOPPING=1. Nothing without $NOTIFY_SOCKET. */
#define NOTIFY_READY_WAIT_MS 60000
static uv_timer_t notify_timer;
static int notify_ready_sent;
static uint64_t notify_start_ms;
static char notify_status[200];

static void sd_notify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len;
	int fd;
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof sa.sun_path)
		return;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) <
	    0)
		log_debug("sd_notify: %s", strerror(errno));
	close(fd);
}

static void on_notify_timer(uv_timer_t *t)
{
	char why[160], status[200], msg[240];
	int ready = cluster_ready(&server, why, sizeof why);
	snprintf(status, sizeof status, "%s: %s", ready ? "ready" : "not ready",
		 why);
	if (!notify_ready_sent && (ready || uv_now(t->loop) - notify_start_ms >=
						NOTIFY_READY_WAIT_MS)) {
		notify_ready_sent = 1;
		snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status);
		sd_notify_send(msg);
		snprintf(notify_status, sizeof notify_status, "%s", status);
		return;
	}
	if (notify_ready_sent && strcmp(status, notify_status) != 0) {
		snprintf(msg, sizeof msg, "STATUS=%s", status);
		sd_notify_send(msg);
		snprintf(notify_status, sizeof notify_status, "%s", status);
	}
}

static void all_closed(void)
{
	uv_close((uv_handle_t *)&notify_timer, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
	uv_close((uv_handle_t *)&sighup, NULL);
	uv_close((uv_handle_t *)&stop_timer, NULL);
	uv_close((uv_handle_t *)&stop_deadline, NULL);
}

static int parts_left;

static void part_stopped(void)
{
	if (--parts_left == 0) {
		log_info("stopped");
		all_closed();
	}
}

static void on_node_stopped(struct node *n)
{
	(void)n;
	part_stopped();
}

static void on_server_closed(struct server *s)
{
	(void)s;
	part_stopped();
}

/* A stop that does not complete (libraft waiting for a disk write that
 * does not end): the process exits anyway, as if killed; everything it
 * acknowledged is on disk. */
static void on_stop_deadline(uv_timer_t *t)
{
	(void)t;
	int status = exit_code != 0 ? exit_code : 1;
	log_error("the stop did not complete in %d ms (libraft is still "
		  "waiting for its disk); exiting now with status %d",
		  STOP_DEADLINE_MS, status);
	fflush(stderr);
	_exit(status);
}

static void stop(void)
{
	if (stopping)
		return;
	stopping = 1;
	log_info("stopping");
	uv_timer_start(&stop_deadline, on_stop_deadline, STOP_DEADLINE_MS, 0);
	uv_timer_stop(&notify_timer);
	sd_notify_send("STOPPING=1");
	parts_left = 2;
	server.on_closed = on_server_closed;
	node.on_stopped = on_node_stopped;
	server_close(&server);
	node_stop(&node);
}

static void on_stop_timer(uv_timer_t *t)
{
	(void)t;
	stop();
}

static void on_fatal(struct node *n, const char *msg)
{
	log_error("fatal: %s", msg);
	if (exit_code == 0) /* the first reason stands */
		exit_code = n->fatal_status != 0 ? n->fatal_status : 1;
	/* Not from inside raft's callbacks: on the next loop turn. */
	if (!stopping)
		uv_timer_start(&stop_timer, on_stop_timer, 0, 0);
}

/* SIGHUP: load the TLS files again (docs/security.md, "Rotation"); on
 * any error the node keeps what it has. */
/* The config file (for SIGHUP), and whether --log-level overrides it. */
static const char *config_path_g;
static int log_level_flag;

/* SIGHUP: the config file's log_level again (unless a flag set it). */
static void reload_log_level(void)
{
	struct synod_config tmp;
	char err[512];
	if (config_path_g == NULL || log_level_flag)
		return;
	config_defaults(&tmp);
	if (config_load_file(&tmp, config_path_g, err, sizeof err) != 0) {
		log_error("SIGHUP: %s; keeping log level %s", err,
			  log_level_name(cfg.log_level));
		return;
	}
	if (tmp.log_level != cfg.log_level) {
		cfg.log_level = tmp.log_level;
		log_set_level(cfg.log_level);
		log_event(LOG_INFO, "log_level",
			  "level=%s source=sighup file=\"%s\"",
			  log_level_name(cfg.log_level), config_path_g);
	}
}

static void on_sighup(uv_signal_t *s, int signum)
{
	char err[600], what[160];
	(void)s;
	(void)signum;
	reload_log_level();
	if (cfg.tls_cert_file[0] == '\0') {
		log_info("SIGHUP: TLS is off, nothing to reload");
		return;
	}
	if (server_tls_reload(&server) != 0) {
		log_error("SIGHUP: %s; keeping the current certificates",
			  server.errmsg);
		return;
	}
	if (synod_transport_tls(
		&node.transport, cfg.tls_ca_file, cfg.tls_cert_file,
		cfg.tls_key_file, cfg.tls_allow_tls12,
		cfg.tls_handshake_timeout_ms, err, sizeof err) != 0) {
		log_error("SIGHUP: raft port TLS: %s; keeping its current "
			  "certificates",
			  err);
		return;
	}
	tls_ctx_describe(server.tls, what, sizeof what);
	log_info("SIGHUP: TLS certificates reloaded (%s)", what);
}

static void on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	log_info("signal %d received", signum);
	stop();
}

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"node-id", required_argument, NULL, 1},
    {"cluster-id", required_argument, NULL, 2},
    {"raft-address", required_argument, NULL, 3},
    {"client-address", required_argument, NULL, 4},
    {"data-dir", required_argument, NULL, 5},
    {"voters", required_argument, NULL, 6},
    {"election-timeout-ms", required_argument, NULL, 7},
    {"heartbeat-timeout-ms", required_argument, NULL, 8},
    {"snapshot-threshold", required_argument, NULL, 9},
    {"snapshot-trailing", required_argument, NULL, 10},
    {"max-inflight-entries", required_argument, NULL, 11},
    {"max-batch-records", required_argument, NULL, 12},
    {"max-frame-bytes", required_argument, NULL, 13},
    {"pre-vote", required_argument, NULL, 14},
    {"log-level", required_argument, NULL, 15},
    {"segment-size-bytes", required_argument, NULL, 17},
    {"connect-retry-ms", required_argument, NULL, 18},
    {"max-client-connections", required_argument, NULL, 19},
    {"max-client-connections-per-ip", required_argument, NULL, 20},
    {"max-read-buffer-bytes", required_argument, NULL, 21},
    {"idle-timeout-ms", required_argument, NULL, 22},
    {"partial-frame-timeout-ms", required_argument, NULL, 23},
    {"slow-reader-bytes", required_argument, NULL, 24},
    {"slow-reader-timeout-ms", required_argument, NULL, 25},
    {"tls-cert-file", required_argument, NULL, 26},
    {"tls-key-file", required_argument, NULL, 27},
    {"tls-ca-file", required_argument, NULL, 28},
    {"tls-handshake-timeout-ms", required_argument, NULL, 29},
    {"tls-allow-tls12", required_argument, NULL, 30},
    {"super-users", required_argument, NULL, 31},
    {"authorization", required_argument, NULL, 32},
    {"tls-principal", required_argument, NULL, 33},
    {"allow-plaintext", required_argument, NULL, 34},
    {"http-address", required_argument, NULL, 35},
    {"plaintext-client-address", required_argument, NULL, 36},
    {"log-format", required_argument, NULL, 37},
    {"http-request-timeout-ms", required_argument, NULL, 38},
    {"kafka-address", required_argument, NULL, 39},
    {"kafka-max-request-bytes", required_argument, NULL, 40},
    {"disk-stall-ms", required_argument, NULL, 41},
    {"accept-damaged-log-tail", required_argument, NULL, 42},
    {"snapshot-save-timeout-ms", required_argument, NULL, 43},
    {"thread-pool-size", required_argument, NULL, 44},
    {"digest-every", required_argument, NULL, 45},
    {"new-cluster-id", no_argument, NULL, 16},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char *const opt_keys[] = {
    [1] = "node_id",
    [2] = "cluster_id",
    [3] = "raft_address",
    [4] = "client_address",
    [5] = "data_dir",
    [6] = "voters",
    [7] = "election_timeout_ms",
    [8] = "heartbeat_timeout_ms",
    [9] = "snapshot_threshold",
    [10] = "snapshot_trailing",
    [45] = "digest_every",
    [11] = "max_inflight_entries",
    [12] = "max_batch_records",
    [13] = "max_frame_bytes",
    [14] = "pre_vote",
    [15] = "log_level",
    [16] = NULL,
    [17] = "segment_size_bytes",
    [18] = "connect_retry_ms",
    [19] = "max_client_connections",
    [20] = "max_client_connections_per_ip",
    [21] = "max_read_buffer_bytes",
    [22] = "idle_timeout_ms",
    [23] = "partial_frame_timeout_ms",
    [24] = "slow_reader_bytes",
    [25] = "slow_reader_timeout_ms",
    [26] = "tls_cert_file",
    [27] = "tls_key_file",
    [28] = "tls_ca_file",
    [29] = "tls_handshake_timeout_ms",
    [30] = "tls_allow_tls12",
    [31] = "super_users",
    [32] = "authorization",
    [33] = "tls_principal",
    [34] = "allow_plaintext",
    [35] = "http_address",
    [36] = "plaintext_client_address",
    [37] = "log_format",
    [38] = "http_request_timeout_ms",
    [39] = "kafka_address",
    [40] = "kafka_max_request_bytes",
    [41] = "disk_stall_ms",
    [42] = "accept_damaged_log_tail",
    [43] = "snapshot_save_timeout_ms",
    [44] = "thread_pool_size",
};

/* libuv sizes its thread pool from UV_THREADPOOL_SIZE when something first
 * uses it (4 threads without it). raft_uv's disk work (segment writes on a
 * file system without non-blocking AIO, new segments, snapshots,
 * truncations) waits there behind whatever runs: with 4 threads, four
 * read-only queries held every log write for up to their 30 s timeout
 * (reliability.md 5.19). Set before anything uses the pool; the
 * configuration's value wins over the environment's. */
static void set_thread_pool(unsigned threads)
{
	char v[16];
	snprintf(v, sizeof v, "%u", threads);
	setenv("UV_THREADPOOL_SIZE", v, 1);
}

int main(int argc, char **argv)
{
	char err[512];
	const char *config_path = NULL;
	int opt, first_start, bootstrap = 0;

	config_defaults(&cfg);
	/* First pass: find --config so flags can override the file. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:hV", long_opts, NULL)) != -1)
		if (opt == 'c')
			config_path = optarg;
	if (config_path) { /* absolute: the daemon may change directory */
		static char abs_path[PATH_MAX];
		config_path_g =
		    realpath(config_path, abs_path) ? abs_path : config_path;
	}
	if (config_path &&
	    config_load_file(&cfg, config_path, err, sizeof err) != 0) {
		fprintf(stderr, "synod: %s\n", err);
		return 2;
	}
	opterr = 1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:hV", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("synod %s (libraft %d.%d.%d, libuv %s)\n",
			       SYNOD_VERSION, RAFT_VERSION_MAJOR,
			       RAFT_VERSION_MINOR, RAFT_VERSION_RELEASE,
			       uv_version_string());
			return 0;
		case 16: {
			char id[40];
			new_cluster_id(id, sizeof id);
			printf("%s\n", id);
			return 0;
		}
		case '?':
			usage(stderr);
			return 2;
		default:
			if (strcmp(opt_keys[opt], "log_level") == 0)
				log_level_flag = 1;
			if (config_set(&cfg, opt_keys[opt], optarg, err,
				       sizeof err) != 0) {
				fprintf(stderr, "synod: %s\n", err);
				return 2;
			}
		}
	}
	if (optind < argc) {
		fprintf(stderr, "synod: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (config_validate(&cfg, err, sizeof err) != 0) {
		fprintf(stderr, "synod: %s (see --help)\n", err);
		return 2;
	}
	set_thread_pool(cfg.thread_pool_size);
	/* JSON, Kafka answers, large frees: at most half the pool (queries
	 * a quarter), the rest for raft_uv (workgate.h). */
	workgate_set_limit(cfg.thread_pool_size / 2);
	log_set_level(cfg.log_level);
	log_set_json(cfg.log_json, (unsigned long long)cfg.node_id);
	{
		char prefix[32];
		snprintf(prefix, sizeof prefix, "node %llu",
			 (unsigned long long)cfg.node_id);
		log_set_prefix(prefix);
	}
	if (mkdir(cfg.data_dir, 0750) != 0 && errno != EEXIST) {
		log_error("mkdir %s: %s", cfg.data_dir, strerror(errno));
		return 1;
	}
	if (lock_data_dir() != 0)
		return 1;
	first_start = check_meta();
	if (first_start < 0)
		return 1;
	if (first_start) {
		for (unsigned i = 0; i < cfg.n_voters; i++)
			if (cfg.voters[i].id == cfg.node_id)
				bootstrap = 1;
		log_info("first start in %s (%s)", cfg.data_dir,
			 bootstrap ? "bootstrapping the initial voters"
				   : "joining: waiting to be added");
	}
	log_info("thread pool: %u threads for disk work and queries "
		 "(thread_pool_size); read-only queries at most %u at once, "
		 "other jobs %u",
		 cfg.thread_pool_size, query_max_running(cfg.thread_pool_size),
		 workgate_limit());

	/* One connection per broker: thousands of descriptors. */
	{
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	loop = uv_default_loop();
	uv_timer_init(loop, &stop_timer);
	uv_timer_init(loop, &stop_deadline);
	if (node_init(&node, loop, &cfg, bootstrap) != 0) {
		log_error("%s", node.errmsg);
		return 1;
	}
	node.on_fatal = on_fatal;
	if (controller_start(&server, loop, &node, node.client_address) != 0) {
		log_error("%s", server.errmsg);
		return 1;
	}
	if (cfg.http_address[0] && http_start(&server, cfg.http_address) != 0) {
		log_error("%s", server.errmsg);
		return 1;
	}
	/* Always: it also serves requests forwarded by brokers' listeners. */
	if (kafka_start(&server, cfg.kafka_address) != 0) {
		log_error("%s", server.errmsg);
		return 1;
	}
	if (node_start(&node) != 0) {
		log_error("%s", node.errmsg);
		return 1;
	}
	uv_signal_init(loop, &sigterm);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_init(loop, &sighup);
	uv_signal_start(&sighup, on_sighup, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	log_info("serving clients on %s (cluster %s)", node.client_address,
		 cfg.cluster_id);
	uv_timer_init(loop, &notify_timer);
	if (getenv("NOTIFY_SOCKET")) {
		notify_start_ms = uv_now(loop);
		uv_timer_start(&notify_timer, on_notify_timer, 200, 500);
	}
	uv_run(loop, UV_RUN_DEFAULT);
	node_release(&node);
	uv_loop_close(loop);
	return exit_code;
}
