/* controller/server.h - the client listener: accepts connections, reads
 * frames, decodes requests and dispatches them through the registry of
 * modules (controller/module.h), answers; enforces the client port's
 * limits. It names no module: the composition root (controller.c)
 * registers them, and the server forwards the node's leadership and
 * applied-entry events to each.
 *
 * Ownership: the server borrows the node and the loop, and owns the
 * copies of the registered struct modules (not the modules: each frees
 * itself after its close). Each connection is reference-counted: a
 * request waiting for raft holds a reference, so a client that
 * disconnects never leaves a dangling waiter.
 */
#ifndef SYNOD_SERVER_H
#define SYNOD_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "hist.h"
#include "acl.h"
#include "conn.h"
#include "node.h"

struct sconn;
struct module;

/* Modules the server can hold (controller/module.h), and API ids. */
#define SERVER_MAX_MODULES 16
#define SERVER_MAX_API 256

struct server_stats {
	uint64_t connections_accepted;
	uint64_t requests;
	uint64_t bad_frames;
	uint64_t errors_sent;
	/* requests answered from memory that first waited for a barrier
	 * (leadership lease expired: srv_with_lease) */
	uint64_t lease_waits;
	/* The client port limits (config keys in docs/operations.md). */
	uint64_t refused_max_connections; /* max_client_connections */
	uint64_t refused_per_ip;	  /* max_client_connections_per_ip */
	uint64_t closed_idle;		  /* idle_timeout_ms */
	uint64_t closed_partial_frame;	  /* partial_frame_timeout_ms */
	uint64_t closed_slow_reader;  /* slow_reader_bytes for _timeout_ms */
	uint64_t closed_output_limit; /* MAX_OUTPUT_BYTES unread */
	uint64_t read_pauses;  /* reads stopped for max_read_buffer_bytes */
	uint64_t tls_failures; /* handshake or record errors */
	uint64_t closed_tls_handshake; /* tls_handshake_timeout_ms */
	uint64_t authz_refused;	       /* AUTHORIZATION_FAILED answers */
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
	SRV_LOG_TLS,
	SRV_LOG_AUTHZ,
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
	/* The registry (controller/module.h): modules in registration
	 * order, and for each API id the module (1-based; 0: none) and its
	 * entry. */
	struct module *mods;
	unsigned n_mods;
	uint8_t api_mod[SERVER_MAX_API];
	const struct module_api *api[SERVER_MAX_API];
	uv_tcp_t listener;
	uint64_t conn_seq;	 /* connections accepted so far (sconn->seq) */
	uv_tcp_t plain_listener; /* plaintext_client_address (development) */
	int has_plain;
	struct tls_ctx *tls; /* NULL: plaintext client port */
	int authz;	     /* authorization on (TLS and config) */
	uint64_t acl_gen;    /* moves when principal grants may change */
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
	/* The listeners (listener, plain_listener) whose offered connection
	 * found no memory: libuv stops watching a listener until its offered
	 * connection is accepted, so the tick offers it again. */
	uv_stream_t *accept_later[2];
	struct srv_ratelog ratelogs[SRV_LOG_KINDS];
	int closing;
	int open_handles;
	void (*on_closed)(struct server *s);
	struct server_stats stats;
	/* Answers to requests: latency per API, and by Status code. */
	struct hist api_stats[SERVER_MAX_API];
	uint64_t answers_by_code[64];
	/* The store's health figures as NODE_STATUS last reported them
	 * (cluster.c: counted again at most every CLUSTER_HEALTH_MS;
	 * NODE_STATUS also answers clients' liveness probes). health_ms 0: none
	 * yet. */
	struct store_health health;
	uint64_t health_ms;
	char errmsg[512];
};

/* Whether principal may do op (no subject) by its grant in the
 * replicated state, for front ends other than the client port (HTTP).
 * 0 when allowed (always with authorization off, and for super users);
 * otherwise -1, counted and logged, the reason in why. */
int srv_principal_may(struct server *s, const char *principal, enum acl_op op,
		      char *why, size_t size);

/* "IP:PORT" a listener is bound to (the port chosen for port 0). */
void srv_bound_name(uv_tcp_t *t, char *out, size_t size);

/* Bind t (initialized by the caller, who closes it on failure too) to
 * address and listen: 0, or -1 with s->errmsg ("WHAT: listen on ADDRESS:
 * reason", or the address's own error naming what). */
int srv_tcp_listen(struct server *s, uv_tcp_t *t, const char *what,
		   const char *address, int backlog, uv_connection_cb cb);

/* "IP:PORT" or "[IPv6]:PORT" to a socket address. 0, or -1 with the
 * reason in err (naming `what`, the config key). */
int srv_listen_addr(const char *what, const char *address,
		    struct sockaddr_storage *ss, char *err, size_t size);

/* Load the client port's certificate, key and CA files again (SIGHUP):
 * new connections use them, open ones keep theirs. 0, or -1 with
 * s->errmsg set and the current files kept. */
int server_tls_reload(struct server *s);

/* Listen on address and take the node's events. Modules are registered
 * afterwards, before the loop runs (server_register in module.h). */
int server_start(struct server *s, uv_loop_t *loop, struct node *node,
		 const char *address);
/* Close every module (in reverse order), the listener and every
 * connection; on_closed when the server's handles are closed. */
void server_close(struct server *s);

#endif
