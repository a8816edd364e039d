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
};

struct server {
	uv_loop_t *loop;
	struct node *node;
	struct brokers *brokers;
	struct topics *topics;
	uv_tcp_t listener;
	struct conn_flusher flusher;
	struct sconn *conns; /* all open connections */
	unsigned n_conns;
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
