/* tools/cluster.h - run a local Synod quorum of real `synod` processes on
 * loopback, for integration tests and synod-bench.
 *
 * Each node gets ephemeral ports (raft and client) picked by binding port 0,
 * a data dir under a fresh temporary directory, and its own log file there.
 * Nodes are started with short timeouts given by the caller. Every wait is
 * bounded by a deadline: nothing sleeps for a fixed time.
 *
 * Ownership: the struct is the caller's; cluster_destroy() kills what still
 * runs and removes the temporary directory (unless $SYNOD_KEEP_TEST_DIRS
 * is set, for post-mortems).
 */
#ifndef SYNOD_TOOLS_CLUSTER_H
#define SYNOD_TOOLS_CLUSTER_H

#include <stdint.h>
#include <sys/types.h>

#include "synod/client.h"

#define CLUSTER_MAX_NODES 7

struct cluster_node {
	unsigned id; /* 1-based node id */
	pid_t pid;   /* 0 when not running */
	int stopped; /* SIGSTOP'ed */
	char raft_address[64];
	char client_address[64];
	char data_dir[512];
	char log_path[512];
	int exit_status; /* waitpid status of its last exit, -1 none */
};

struct cluster {
	unsigned n;	     /* nodes in use (voters at start + joined) */
	unsigned n_voters;   /* initial voters */
	char dir[512];	     /* temporary base directory */
	char synod_bin[512]; /* path of the synod binary */
	char cluster_id[64];
	char voters[2048];	/* --voters value of the initial voters */
	char bootstrap[1024];	/* client addresses of all nodes, comma list */
	char extra_flags[1024]; /* more daemon flags, space separated; "{id}"
				  becomes each node's id */
	unsigned sanitizer_reports; /* node logs with ASan/UBSan/LSan reports,
				      counted by cluster_destroy() */
	unsigned election_timeout_ms;
	struct cluster_node nodes[CLUSTER_MAX_NODES];
};

/* Prepare n voters (not started). synod_bin NULL: $SYNOD_BIN, or "synod"
 * next to the running executable's directory's parent build dir. flags:
 * extra daemon flags (e.g. "--snapshot-threshold 64") or NULL. Returns 0
 * or -1 (message on stderr). */
int cluster_init(struct cluster *c, unsigned n, const char *synod_bin,
		 unsigned election_timeout_ms, const char *flags);
/* Start every node (or one, 1-based id); 0 or -1. */
int cluster_start(struct cluster *c);
int cluster_start_node(struct cluster *c, unsigned id);
/* Prepare one more node (not a voter; start it, then add it with
 * SYNOD_API_ADD_VOTER). Returns its id or -1. */
int cluster_add_node(struct cluster *c);
/* Signals: kill -9 (and reap), SIGTERM (and wait up to timeout_ms),
 * SIGSTOP, SIGCONT. 0 or -1 (not running); cluster_term returns 0 only
 * when the node exited with status 0 in time (else it is killed). */
int cluster_kill(struct cluster *c, unsigned id);
int cluster_term(struct cluster *c, unsigned id, unsigned timeout_ms);
int cluster_stop_node(struct cluster *c, unsigned id);
int cluster_cont_node(struct cluster *c, unsigned id);
/* SIGTERM every running node and wait; count sanitizer reports in the
 * node logs (sanitizer_reports); then remove the directory. */
void cluster_destroy(struct cluster *c);

/* Wait up to timeout_ms until some running node is the active controller
 * (NODE_STATUS says active_controller). Returns its id, or 0. */
unsigned cluster_wait_leader(struct cluster *c, unsigned timeout_ms);
/* Wait until every running node has applied at least `index`. 0 / -1. */
int cluster_wait_applied(struct cluster *c, uint64_t index,
			 unsigned timeout_ms);
/* NODE_STATUS of one node (pinned client, short timeout). Caller frees
 * with synod__wire__node_status_response__free_unpacked. NULL when
 * unreachable. */
Synod__Wire__NodeStatusResponse *
cluster_node_status(struct cluster *c, unsigned id, unsigned timeout_ms);
/* The same; reset_stall starts a new loop stall window on that node. */
Synod__Wire__NodeStatusResponse *cluster_node_status_ex(struct cluster *c,
							unsigned id,
							unsigned timeout_ms,
							int reset_stall);
/* A client (own loop) bootstrapped with every node's client address. */
struct synod_client *cluster_client(struct cluster *c, unsigned timeout_ms);

/* A client (own loop) bootstrapped with one node's client address only;
 * pinned: never follow NOT_CONTROLLER. */
struct synod_client *cluster_node_client(struct cluster *c, unsigned id,
					 unsigned timeout_ms, int pinned);
/* 1 when node id runs (reaps it, setting pid to 0, when it exited). */
int cluster_running(struct cluster *c, unsigned id);
/* 1 when the node's log file contains `text`, 0 when not, -1 on error. */
int cluster_log_contains(struct cluster *c, unsigned id, const char *text);
/* Print the last max_lines lines of one node's log to stderr. */
void cluster_dump_logs_node(struct cluster *c, unsigned id, unsigned max_lines);
/* Print the last max_lines lines of every node's log to stderr. */
void cluster_dump_logs(struct cluster *c, unsigned max_lines);

#endif
