/* tools/cluster.c - a local Synod quorum of real processes (see cluster.h).
 */
#include "cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define POLL_MS 15
/* A deadline, paid only by a node that never starts: generous, because a
 * restart under ASan on a loaded 2-core machine once took 14 s between
 * the thread pool and raft start (fsync contention). */
#define START_TIMEOUT_MS 60000
#define STATUS_TIMEOUT_MS 500
#define MAX_ARGS 64
#define START_ATTEMPTS 5

/* Results of one start attempt. */
enum { START_OK = 0, START_FAILED = -1, START_ADDRINUSE = -2 };

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static struct cluster_node *node_of(struct cluster *c, unsigned id)
{
	if (id == 0 || id > c->n)
		return NULL;
	return &c->nodes[id - 1];
}

/* ---- ports ---- */

/* Bind 127.0.0.1:0 for `count` sockets at once (so they differ), note the
 * ports, close. Another process may take one before the node binds it:
 * starts retry on "address already in use". */
static int pick_ports(unsigned *ports, unsigned count)
{
	int fds[2 * CLUSTER_MAX_NODES];
	unsigned i;
	int rv = 0;
	if (count > 2 * CLUSTER_MAX_NODES)
		return -1;
	for (i = 0; i < count; i++) {
		struct sockaddr_in sa = {0};
		socklen_t len = sizeof sa;
		sa.sin_family = AF_INET;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 ||
		    bind(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0 ||
		    getsockname(fds[i], (struct sockaddr *)&sa, &len) != 0) {
			fprintf(stderr, "cluster: cannot pick a port: %s\n",
				strerror(errno));
			if (fds[i] >= 0)
				close(fds[i]);
			rv = -1;
			break;
		}
		ports[i] = ntohs(sa.sin_port);
	}
	while (i > 0)
		close(fds[--i]);
	return rv;
}

static unsigned port_of(const char *hostport)
{
	const char *colon = strrchr(hostport, ':');
	return colon ? (unsigned)atoi(colon + 1) : 0;
}

/* New ports for node nd, different from every other node's. */
static int assign_ports(struct cluster *c, struct cluster_node *nd)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		unsigned p[2];
		int clash = 0;
		if (pick_ports(p, 2) != 0)
			return -1;
		for (unsigned i = 0; i < CLUSTER_MAX_NODES; i++) {
			struct cluster_node *o = &c->nodes[i];
			if (o == nd || o->id == 0)
				continue;
			for (int k = 0; k < 2; k++)
				if (p[k] == port_of(o->raft_address) ||
				    p[k] == port_of(o->client_address))
					clash = 1;
		}
		if (clash)
			continue;
		snprintf(nd->raft_address, sizeof nd->raft_address,
			 "127.0.0.1:%u", p[0]);
		snprintf(nd->client_address, sizeof nd->client_address,
			 "127.0.0.1:%u", p[1]);
		return 0;
	}
	fprintf(stderr, "cluster: no free ports\n");
	return -1;
}

/* 1 when something else holds the port of hostport (127.0.0.1:P) now. */
static int port_busy(const char *hostport)
{
	struct sockaddr_in sa = {0};
	int one = 1, busy = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port_of(hostport));
	/* As libuv does: a port in TIME_WAIT is not busy. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 &&
	    errno == EADDRINUSE)
		busy = 1;
	close(fd);
	return busy;
}

static void build_strings(struct cluster *c)
{
	size_t off = 0;
	c->voters[0] = '\0';
	for (unsigned i = 0; i < c->n_voters; i++) {
		struct cluster_node *nd = &c->nodes[i];
		off += (size_t)snprintf(c->voters + off, sizeof c->voters - off,
					"%s%u@%s/%s", i ? "," : "", nd->id,
					nd->raft_address, nd->client_address);
		if (off >= sizeof c->voters)
			break;
	}
	off = 0;
	c->bootstrap[0] = '\0';
	for (unsigned i = 0; i < c->n; i++) {
		off += (size_t)snprintf(
		    c->bootstrap + off, sizeof c->bootstrap - off, "%s%s",
		    i ? "," : "", c->nodes[i].client_address);
		if (off >= sizeof c->bootstrap)
			break;
	}
}

/* ---- setup ---- */

static void new_uuid(char *out, size_t size)
{
	unsigned char b[16];
	if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
		srand((unsigned)time(NULL) ^ (unsigned)getpid());
		for (size_t i = 0; i < sizeof b; i++)
			b[i] = (unsigned char)rand();
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, size,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

static int find_synod_bin(char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n;
	const char *env = getenv("SYNOD_BIN");
	if (env && env[0]) {
		snprintf(out, size, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	/* build/tests/test_x -> build/synod; build/synod-bench -> same. */
	for (int up = 1; up <= 2; up++) {
		char *slash = strrchr(exe, '/');
		if (slash == NULL)
			break;
		*slash = '\0';
		snprintf(out, size, "%s/synod", exe);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

static void node_prepare(struct cluster *c, struct cluster_node *nd,
			 unsigned id)
{
	memset(nd, 0, sizeof *nd);
	nd->id = id;
	nd->exit_status = -1;
	snprintf(nd->data_dir, sizeof nd->data_dir, "%s/node-%u", c->dir, id);
	snprintf(nd->log_path, sizeof nd->log_path, "%s/node-%u.log", c->dir,
		 id);
}

int cluster_init(struct cluster *c, unsigned n, const char *synod_bin,
		 unsigned election_timeout_ms, const char *flags)
{
	const char *tmp = getenv("TMPDIR");
	memset(c, 0, sizeof *c);
	if (n == 0 || n > CLUSTER_MAX_NODES) {
		fprintf(stderr, "cluster: %u nodes (1..%d)\n", n,
			CLUSTER_MAX_NODES);
		return -1;
	}
	if (synod_bin && synod_bin[0])
		snprintf(c->synod_bin, sizeof c->synod_bin, "%s", synod_bin);
	else if (find_synod_bin(c->synod_bin, sizeof c->synod_bin) != 0) {
		fprintf(stderr, "cluster: synod binary not found (set "
				"$SYNOD_BIN)\n");
		return -1;
	}
	if (access(c->synod_bin, X_OK) != 0) {
		fprintf(stderr, "cluster: %s: %s\n", c->synod_bin,
			strerror(errno));
		return -1;
	}
	if (flags && strlen(flags) >= sizeof c->extra_flags) {
		fprintf(stderr, "cluster: extra flags too long\n");
		return -1;
	}
	snprintf(c->extra_flags, sizeof c->extra_flags, "%s",
		 flags ? flags : "");
	snprintf(c->dir, sizeof c->dir, "%s/synod-cluster-XXXXXX",
		 tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(c->dir) == NULL) {
		fprintf(stderr, "cluster: mkdtemp %s: %s\n", c->dir,
			strerror(errno));
		c->dir[0] = '\0';
		return -1;
	}
	c->n = n;
	c->n_voters = n;
	c->election_timeout_ms = election_timeout_ms ? election_timeout_ms
						     : 200; /* daemon default */
	new_uuid(c->cluster_id, sizeof c->cluster_id);
	for (unsigned i = 0; i < n; i++) {
		node_prepare(c, &c->nodes[i], i + 1);
		if (assign_ports(c, &c->nodes[i]) != 0) {
			cluster_destroy(c);
			return -1;
		}
	}
	build_strings(c);
	return 0;
}

int cluster_add_node(struct cluster *c)
{
	struct cluster_node *nd;
	if (c->n >= CLUSTER_MAX_NODES) {
		fprintf(stderr, "cluster: at most %d nodes\n",
			CLUSTER_MAX_NODES);
		return -1;
	}
	nd = &c->nodes[c->n];
	node_prepare(c, nd, c->n + 1);
	if (assign_ports(c, nd) != 0)
		return -1;
	c->n++;
	build_strings(c);
	return (int)nd->id;
}

/* ---- processes ---- */

static void note_exit(struct cluster_node *nd, int status)
{
	nd->exit_status = status;
	nd->pid = 0;
	nd->stopped = 0;
}

int cluster_running(struct cluster *c, unsigned id)
{
	struct cluster_node *nd = node_of(c, id);
	int status;
	pid_t r;
	if (nd == NULL || nd->pid <= 0)
		return 0;
	r = waitpid(nd->pid, &status, WNOHANG);
	if (r == 0)
		return 1;
	if (r == nd->pid || (r < 0 && errno == ECHILD))
		note_exit(nd, r == nd->pid ? status : -1);
	return nd->pid > 0;
}

/* Wait for the child to exit within timeout_ms. 0 when it did. */
static int wait_exit(struct cluster_node *nd, unsigned timeout_ms)
{
	uint64_t deadline = tool_now_ms() + timeout_ms;
	for (;;) {
		int status;
		pid_t r = waitpid(nd->pid, &status, WNOHANG);
		if (r == nd->pid || (r < 0 && errno == ECHILD)) {
			note_exit(nd, r == nd->pid ? status : -1);
			return 0;
		}
		if (tool_now_ms() >= deadline)
			return -1;
		sleep_ms(5);
	}
}

static void kill_and_reap(struct cluster_node *nd)
{
	int status;
	if (nd->pid <= 0)
		return;
	kill(nd->pid, SIGKILL);
	while (waitpid(nd->pid, &status, 0) < 0 && errno == EINTR)
		;
	note_exit(nd, status);
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Read the log from offset `from` to its end (NUL terminated, malloc'd).
 */
static char *read_log(const char *path, long from)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long end;
	size_t n;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0) {
		fclose(f);
		return NULL;
	}
	if (from > end)
		from = 0;
	buf = malloc((size_t)(end - from) + 1);
	if (buf == NULL || fseek(f, from, SEEK_SET) != 0) {
		free(buf);
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, (size_t)(end - from), f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int log_has(const char *path, long from, const char *text)
{
	char *s = read_log(path, from);
	int found;
	if (s == NULL)
		return 0;
	found = strstr(s, text) != NULL;
	free(s);
	return found;
}

static int build_argv(struct cluster *c, struct cluster_node *nd, char **argv,
		      char *flags_copy, char *id, char *eto)
{
	int k = 0;
	char *save, *tok;
	snprintf(id, 16, "%u", nd->id);
	snprintf(eto, 16, "%u", c->election_timeout_ms);
	argv[k++] = c->synod_bin;
	argv[k++] = "--node-id";
	argv[k++] = id;
	argv[k++] = "--cluster-id";
	argv[k++] = c->cluster_id;
	argv[k++] = "--raft-address";
	argv[k++] = nd->raft_address;
	argv[k++] = "--client-address";
	argv[k++] = nd->client_address;
	argv[k++] = "--data-dir";
	argv[k++] = nd->data_dir;
	argv[k++] = "--voters";
	argv[k++] = c->voters;
	argv[k++] = "--election-timeout-ms";
	argv[k++] = eto;
	for (tok = strtok_r(flags_copy, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (k >= MAX_ARGS - 1)
			return -1;
		argv[k++] = tok;
	}
	argv[k] = NULL;
	return 0;
}

/* The extra flags for node nd: every "{id}" replaced by its id (per-node
 * files such as TLS certificates). 0, or -1 when they do not fit. */
static int node_flags(const struct cluster *c, const struct cluster_node *nd,
		      char *out, size_t size)
{
	const char *p = c->extra_flags;
	size_t n = 0;
	while (*p) {
		if (strncmp(p, "{id}", 4) == 0) {
			int k = snprintf(out + n, size - n, "%u", nd->id);
			if (k < 0 || (size_t)k >= size - n)
				return -1;
			n += (size_t)k;
			p += 4;
			continue;
		}
		if (n + 1 >= size)
			return -1;
		out[n++] = *p++;
	}
	out[n] = '\0';
	return 0;
}

/* One attempt: spawn, then wait until the log says it serves clients, or
 * it exits. */
static int start_once(struct cluster *c, struct cluster_node *nd)
{
	char *argv[MAX_ARGS];
	char flags[sizeof c->extra_flags], id[16], eto[16];
	long from = file_size(nd->log_path);
	pid_t parent = getpid(), pid;
	uint64_t deadline;
	int fd;

	if (node_flags(c, nd, flags, sizeof flags) != 0 ||
	    build_argv(c, nd, argv, flags, id, eto) != 0) {
		fprintf(stderr, "cluster: too many extra flags\n");
		return START_FAILED;
	}
	fd =
	    open(nd->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "cluster: %s: %s\n", nd->log_path,
			strerror(errno));
		return START_FAILED;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "cluster: fork: %s\n", strerror(errno));
		close(fd);
		return START_FAILED;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		/* Die with the test process, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd);
	nd->pid = pid;
	nd->stopped = 0;
	deadline = tool_now_ms() + START_TIMEOUT_MS;
	for (;;) {
		if (!cluster_running(c, nd->id)) {
			/* The daemon's message for a busy raft port may
			 * lack the reason: look at the ports too. */
			int inuse = log_has(nd->log_path, from,
					    "address already in use") ||
				    port_busy(nd->raft_address) ||
				    port_busy(nd->client_address);
			if (!inuse)
				fprintf(stderr,
					"cluster: node %u exited at start "
					"(status 0x%x); see %s\n",
					nd->id, (unsigned)nd->exit_status,
					nd->log_path);
			return inuse ? START_ADDRINUSE : START_FAILED;
		}
		if (log_has(nd->log_path, from, "serving clients on"))
			return START_OK;
		if (tool_now_ms() >= deadline) {
			fprintf(stderr,
				"cluster: node %u not serving after "
				"%d ms; see %s\n",
				nd->id, START_TIMEOUT_MS, nd->log_path);
			kill_and_reap(nd);
			return START_FAILED;
		}
		sleep_ms(5);
	}
}

static int has_data(struct cluster_node *nd)
{
	char path[sizeof nd->data_dir + 16];
	snprintf(path, sizeof path, "%s/node.meta", nd->data_dir);
	return access(path, F_OK) == 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int cluster_start_node(struct cluster *c, unsigned id)
{
	struct cluster_node *nd = node_of(c, id);
	uint64_t deadline = tool_now_ms() + START_TIMEOUT_MS;
	int rv, fresh_joiner;
	if (nd == NULL) {
		fprintf(stderr, "cluster: no node %u\n", id);
		return -1;
	}
	if (cluster_running(c, id))
		return 0;
	fresh_joiner = id > c->n_voters && !has_data(nd);
	for (unsigned attempt = 0;; attempt++) {
		rv = start_once(c, nd);
		if (rv != START_ADDRINUSE)
			break;
		if (attempt + 1 >= START_ATTEMPTS * 4 ||
		    tool_now_ms() >= deadline)
			break;
		/* A joining node nobody knows yet may take new ports. The
		 * initial voters' ports are in every node's log: keep them
		 * and let whoever holds the port go away. */
		if (fresh_joiner) {
			if (assign_ports(c, nd) != 0)
				return -1;
			build_strings(c);
		} else {
			sleep_ms(100);
		}
	}
	if (rv != START_OK)
		fprintf(stderr, "cluster: node %u did not start; see %s\n", id,
			nd->log_path);
	return rv == START_OK ? 0 : -1;
}

int cluster_start(struct cluster *c)
{
	int fresh = 1;
	for (unsigned i = 0; i < c->n; i++)
		if (has_data(&c->nodes[i]) || c->nodes[i].pid > 0)
			fresh = 0;
	for (unsigned attempt = 0; attempt < START_ATTEMPTS; attempt++) {
		int rv = START_OK;
		for (unsigned i = 0; i < c->n && rv == START_OK; i++) {
			if (cluster_running(c, i + 1))
				continue;
			rv = fresh ? start_once(c, &c->nodes[i])
				   : (cluster_start_node(c, i + 1) == 0
					  ? START_OK
					  : START_FAILED);
		}
		if (rv == START_OK)
			return 0;
		if (rv != START_ADDRINUSE)
			break;
		/* A first start lost a port race: nobody holds data yet, so
		 * start over with new ports for everyone. */
		for (unsigned i = 0; i < c->n; i++) {
			kill_and_reap(&c->nodes[i]);
			rm_rf(c->nodes[i].data_dir);
			if (assign_ports(c, &c->nodes[i]) != 0)
				return -1;
		}
		build_strings(c);
	}
	fprintf(stderr, "cluster: could not start the cluster in %s\n", c->dir);
	return -1;
}

int cluster_kill(struct cluster *c, unsigned id)
{
	struct cluster_node *nd = node_of(c, id);
	if (nd == NULL || !cluster_running(c, id))
		return -1;
	kill_and_reap(nd);
	return 0;
}

int cluster_term(struct cluster *c, unsigned id, unsigned timeout_ms)
{
	struct cluster_node *nd = node_of(c, id);
	if (nd == NULL || !cluster_running(c, id))
		return -1;
	kill(nd->pid, SIGTERM);
	if (nd->stopped)
		kill(nd->pid, SIGCONT);
	nd->stopped = 0;
	if (wait_exit(nd, timeout_ms) == 0)
		return WIFEXITED(nd->exit_status) &&
			       WEXITSTATUS(nd->exit_status) == 0
			   ? 0
			   : -1;
	fprintf(stderr, "cluster: node %u ignored SIGTERM for %u ms: killed\n",
		id, timeout_ms);
	kill_and_reap(nd);
	return -1;
}

int cluster_stop_node(struct cluster *c, unsigned id)
{
	struct cluster_node *nd = node_of(c, id);
	if (nd == NULL || !cluster_running(c, id) ||
	    kill(nd->pid, SIGSTOP) != 0)
		return -1;
	nd->stopped = 1;
	return 0;
}

int cluster_cont_node(struct cluster *c, unsigned id)
{
	struct cluster_node *nd = node_of(c, id);
	if (nd == NULL || !cluster_running(c, id) ||
	    kill(nd->pid, SIGCONT) != 0)
		return -1;
	nd->stopped = 0;
	return 0;
}

void cluster_destroy(struct cluster *c)
{
	uint64_t deadline;
	const char *keep = getenv("SYNOD_KEEP_TEST_DIRS");
	for (unsigned i = 0; i < c->n; i++) {
		struct cluster_node *nd = &c->nodes[i];
		if (!cluster_running(c, i + 1))
			continue;
		kill(nd->pid, SIGTERM);
		if (nd->stopped)
			kill(nd->pid, SIGCONT);
		nd->stopped = 0;
	}
	deadline = tool_now_ms() + 5000;
	for (unsigned i = 0; i < c->n; i++) {
		struct cluster_node *nd = &c->nodes[i];
		uint64_t now = tool_now_ms();
		if (nd->pid <= 0)
			continue;
		if (wait_exit(nd, now < deadline ? (unsigned)(deadline - now)
						 : 0) != 0) {
			fprintf(stderr,
				"cluster: node %u ignored SIGTERM: "
				"killed\n",
				nd->id);
			kill_and_reap(nd);
		}
	}
	/* Every node has exited: a sanitizer build has written its reports
	 * (memory errors, UB, leaks) to the node logs by now. */
	for (unsigned i = 0; i < c->n; i++) {
		static const char *const marks[] = {"ERROR: AddressSanitizer",
						    "ERROR: LeakSanitizer",
						    "runtime error:"};
		for (size_t m = 0; m < sizeof marks / sizeof *marks; m++)
			if (cluster_log_contains(c, c->nodes[i].id, marks[m]) ==
			    1) {
				fprintf(stderr,
					"cluster: node %u log has a sanitizer "
					"report (%s):\n",
					c->nodes[i].id, marks[m]);
				cluster_dump_logs_node(c, c->nodes[i].id, 60);
				c->sanitizer_reports++;
			}
	}
	if (c->dir[0]) {
		if (keep && keep[0])
			fprintf(stderr, "cluster: kept %s\n", c->dir);
		else
			rm_rf(c->dir);
	}
	c->dir[0] = '\0';
	c->n = 0;
}

/* ---- status ---- */

struct synod_client *cluster_node_client(struct cluster *c, unsigned id,
					 unsigned timeout_ms, int pinned)
{
	struct cluster_node *nd = node_of(c, id);
	if (nd == NULL)
		return NULL;
	return tool_client(nd->client_address, c->cluster_id, timeout_ms,
			   pinned);
}

struct synod_client *cluster_client(struct cluster *c, unsigned timeout_ms)
{
	return tool_client(c->bootstrap, c->cluster_id, timeout_ms, 0);
}

Synod__Wire__NodeStatusResponse *
cluster_node_status(struct cluster *c, unsigned id, unsigned timeout_ms)
{
	return cluster_node_status_ex(c, id, timeout_ms, 0);
}

Synod__Wire__NodeStatusResponse *cluster_node_status_ex(struct cluster *c,
							unsigned id,
							unsigned timeout_ms,
							int reset_stall)
{
	struct cluster_node *nd = node_of(c, id);
	Synod__Wire__NodeStatusRequest req =
	    SYNOD__WIRE__NODE_STATUS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct synod_client *cl;
	int rv;
	if (nd == NULL)
		return NULL;
	/* No cluster id: a status probe must work before the handshake's
	 * answer matters, and costs one round trip less. */
	cl = tool_client(nd->client_address, NULL, timeout_ms, 1);
	if (cl == NULL)
		return NULL;
	req.has_reset_loop_stall = req.reset_loop_stall = reset_stall != 0;
	rv = synod_client_call(cl, SYNOD_API_NODE_STATUS, &req.base, 0,
			       &synod__wire__node_status_response__descriptor,
			       &resp);
	synod_client_close(cl);
	if (rv != SYNOD_OK || resp == NULL)
		return NULL;
	if (tool_status(resp) == NULL || tool_status(resp)->code != SYNOD_OK) {
		protobuf_c_message_free_unpacked(resp, NULL);
		return NULL;
	}
	return (Synod__Wire__NodeStatusResponse *)resp;
}

/* Poll timeout for one node: what is left, at most STATUS_TIMEOUT_MS. */
static unsigned probe_ms(uint64_t deadline)
{
	uint64_t now = tool_now_ms();
	uint64_t left = deadline > now ? deadline - now : 1;
	return left < STATUS_TIMEOUT_MS ? (unsigned)left : STATUS_TIMEOUT_MS;
}

unsigned cluster_wait_leader(struct cluster *c, unsigned timeout_ms)
{
	uint64_t deadline = tool_now_ms() + timeout_ms;
	for (;;) {
		for (unsigned id = 1; id <= c->n; id++) {
			Synod__Wire__NodeStatusResponse *s;
			int active;
			if (!cluster_running(c, id) || c->nodes[id - 1].stopped)
				continue;
			s = cluster_node_status(c, id, probe_ms(deadline));
			if (s == NULL)
				continue;
			active =
			    s->has_active_controller && s->active_controller;
			synod__wire__node_status_response__free_unpacked(s,
									 NULL);
			if (active)
				return id;
		}
		if (tool_now_ms() >= deadline)
			return 0;
		sleep_ms(POLL_MS);
	}
}

int cluster_wait_applied(struct cluster *c, uint64_t index, unsigned timeout_ms)
{
	uint64_t deadline = tool_now_ms() + timeout_ms;
	for (;;) {
		int all = 1;
		for (unsigned id = 1; id <= c->n && all; id++) {
			Synod__Wire__NodeStatusResponse *s;
			if (!cluster_running(c, id) || c->nodes[id - 1].stopped)
				continue;
			s = cluster_node_status(c, id, probe_ms(deadline));
			if (s == NULL || s->applied_index < index)
				all = 0;
			if (s)
				synod__wire__node_status_response__free_unpacked(
				    s, NULL);
		}
		if (all)
			return 0;
		if (tool_now_ms() >= deadline)
			return -1;
		sleep_ms(POLL_MS);
	}
}

/* ---- logs ---- */

int cluster_log_contains(struct cluster *c, unsigned id, const char *text)
{
	struct cluster_node *nd = node_of(c, id);
	char *s;
	int found;
	if (nd == NULL || (s = read_log(nd->log_path, 0)) == NULL)
		return -1;
	found = strstr(s, text) != NULL;
	free(s);
	return found;
}

void cluster_dump_logs_node(struct cluster *c, unsigned id, unsigned max_lines)
{
	struct cluster_node *nd = node_of(c, id);
	char *s;
	const char *p;
	unsigned lines = 0;
	if (nd == NULL || (s = read_log(nd->log_path, 0)) == NULL)
		return;
	p = s + strlen(s);
	while (p > s) {
		p--;
		if (*p == '\n' && p[1] != '\0' && ++lines > max_lines) {
			p++;
			break;
		}
	}
	fprintf(stderr, "---- node %u (%s, pid %d) last lines ----\n%s", nd->id,
		nd->log_path, (int)nd->pid, p);
	free(s);
}

void cluster_dump_logs(struct cluster *c, unsigned max_lines)
{
	for (unsigned i = 0; i < c->n; i++)
		cluster_dump_logs_node(c, c->nodes[i].id, max_lines);
}
