/* controller/server.h - the client listener: accepts connections, decodes
 * frames, dispatches requests to handlers, answers.
 *
 * Every node serves METADATA and NODE_STATUS itself. Writes, linearizable
 * reads and membership changes need the active controller; elsewhere they
 * get NOT_CONTROLLER with the leader's id and client address.
 *
 * Ownership: the server borrows the node and the loop. Each connection is
 * reference-counted: a request waiting for raft holds a reference, so a
 * client that disconnects never leaves a dangling waiter.
 */
#ifndef SYNOD_SERVER_H
#define SYNOD_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "conn.h"
#include "node.h"

struct sconn;
struct brokers;
struct topics;

struct server_stats {
	uint64_t connections_accepted;
	uint64_t requests;
	uint64_t bad_frames;
	uint64_t errors_sent;
	/* The client port limits (config keys in docs/operations.md). */
	uint64_t refused_max_connections; /* max_client_connections */
	uint64_t refused_per_ip;	  /* max_client_connections_per_ip */
	uint64_t closed_idle;		  /* idle_timeout_ms */
	uint64_t closed_partial_frame;	  /* partial_frame_timeout_ms */
	uint64_t closed_slow_reader;  /* slow_reader_bytes for _timeout_ms */
	uint64_t closed_output_limit; /* MAX_OUTPUT_BYTES unread */
	uint64_t read_pauses; /* reads stopped for max_read_buffer_bytes */
};

/* Kinds of limit log lines, each at most once a second. */
enum {
	SRV_LOG_MAX_CONNECTIONS,
	SRV_LOG_PER_IP,
	SRV_LOG_READ_PAUSE,
	SRV_LOG_IDLE,
	SRV_LOG_PARTIAL_FRAME,
	SRV_LOG_SLOW_READER,
	SRV_LOG_OUTPUT_LIMIT,
	SRV_LOG_KINDS
};

struct srv_ratelog {
	uint64_t last_ms; /* when the last line was logged */
	uint64_t dropped; /* lines not logged since */
	int logged;	  /* any line yet */
};

struct ip_count;

struct server {
	uv_loop_t *loop;
	struct node *node;
	struct brokers *brokers;
	struct topics *topics;
	uv_tcp_t listener;
	struct conn_flusher flusher;
	struct sconn *conns; /* all open connections */
	unsigned n_conns;
	/* Limits: connections served (accepted and not refused), per source
	 * address (hash table), read-buffer bytes counted against
	 * max_read_buffer_bytes, connections waiting for that budget (FIFO),
	 * and the 1 s timer that enforces the timeouts. */
	unsigned n_served;
	struct ip_count **ips;
	unsigned ips_size, ips_used;
	uint64_t rbuf_bytes;
	struct sconn *blocked_head, *blocked_tail;
	unsigned n_blocked;
	uv_timer_t tick;
	struct srv_ratelog ratelogs[SRV_LOG_KINDS];
	int closing;
	int open_handles;
	void (*on_closed)(struct server *s);
	struct server_stats stats;
	char errmsg[256];
};

int server_start(struct server *s, uv_loop_t *loop, struct node *node,
		 const char *address);
/* Close the listener and every connection; on_closed when done. */
void server_close(struct server *s);

#endif
