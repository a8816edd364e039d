/* controller/http_int.h - what the HTTP listener (http.c) and its JSON API
 * (http_api.c) share. Internal to the daemon.
 *
 * Ownership: a connection (struct hconn) is the listener's; a /v1 request
 * in flight (struct hop, http_api.c) points to its connection until the
 * connection closes (http_api_detach), and frees itself when its last
 * callback returned.
 */
#ifndef SYNOD_HTTP_INT_H
#define SYNOD_HTTP_INT_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "forward.h"
#include "server_int.h"

#define HTTP_FORWARD_TIMEOUT_MS 10000 /* a request forwarded to the leader */

#define HTTP_MAX_CONNS 64
#define HTTP_MAX_REQUEST (16 * 1024) /* request line, headers and body */

struct hconn;
struct hop;
struct synod_client;

struct http {
	struct server *s;
	uv_tcp_t listener;
	uv_timer_t sweep;
	uv_idle_t idle; /* runs the /v1 requests' next steps (http_api.c) */
	struct hconn *conns;
	unsigned n_conns;
	int handles; /* listener, sweep, idle */
	int closing;
	/* No memory for the listener's offered connection: libuv stops
	 * watching the listener until that connection is accepted, so the
	 * sweep offers it again. */
	int accept_later;
	uint64_t requests, refused;
	uint64_t evicted;   /* idle connections closed to admit new ones */
	uint64_t timed_out; /* requests or answers too slow */
	/* http_api.c: requests waiting for their next step; the client that
	 * forwards to the active controller (controller/forward.h). */
	struct hop *ready_head, *ready_tail;
	struct forwarder fwd;
	unsigned ops; /* requests in flight */
};

struct hconn {
	struct http *h;
	struct hconn *next, *prev;
	uv_stream_t *stream;	 /* NULL while a TLS handshake runs */
	int stream_raft;	 /* stream from the relay: raft_free it */
	struct tls_relay *relay; /* handshake in flight */
	http_parser parser;
	char url[1024];
	size_t url_len;
	int url_too_long;
	size_t bytes;
	uint64_t start_ms;
	int complete, closing;
	int headers_done, body_too_big;
	int writing;	     /* the answer is being written */
	uint64_t write_ms;   /* since then */
	int tls;	     /* came over HTTPS: principal is set */
	char principal[128]; /* the client certificate's */
	char body[HTTP_MAX_REQUEST];
	size_t body_len;
	struct hop *op; /* a /v1 request in flight */
	char rbuf[4096];
};

/* Answer and close once written. body is copied; extra: more header lines
 * ("Name: value\r\n"...), or NULL. With head, no body is sent. */
void http_respond(struct hconn *c, int code, const char *reason,
		  const char *ctype, const char *extra, const char *body,
		  size_t len, int head);
/* The same, taking ownership of body (malloc'd; freed once written). */
void http_respond_owned(struct hconn *c, int code, const char *reason,
			const char *ctype, const char *extra, char *body,
			size_t len, int head);

/* free(p) of size bytes; on the thread pool when it is large (unmapping
 * hundreds of MiB stalls the loop). */
void http_free_big(uv_loop_t *loop, void *p, size_t size);

/* Free h once its handles closed and no /v1 request is in flight. */
void http_maybe_free(struct http *h);

/* ---- http_api.c ---- */

/* Serve GET/POST /v1/...: path without the query, query after '?' (or
 * ""). Answers c now or later. */
void http_api_route(struct hconn *c, int method, const char *path,
		    const char *query);
/* c closes: its request in flight, if any, answers nobody. */
void http_api_detach(struct hconn *c);
/* The idle handle's callback: run the waiting steps. */
void http_api_on_idle(uv_idle_t *idle);
/* The listener closes: close the forwarding client. */
void http_api_close(struct http *h);

#endif
