/* controller/http.h - the node's HTTP listener (docs/operations.md,
 * section 11): GET /healthz, /readyz, /metrics (Prometheus text format),
 * the dashboard at /, the JSON API /v1/... and POST /v1/query
 * (controller/http_api.c), on the node's loop, parsed with Debian's
 * http-parser.
 *
 * A front end in the sense of controller/module.h: it registers a module
 * with no APIs (for the server's close event) and reads what it serves
 * from the same source as NODE_STATUS (cluster_node_status()), so the
 * wire and /metrics never disagree; /v1 runs the protocol's own handlers
 * (srv_call).
 *
 * With TLS on the client port (docs/security.md) the HTTP port is HTTPS:
 * a client must present a certificate of the cluster's CA (the same
 * handshake as the raft relay's, controller/tlsrelay.c). /healthz
 * answers any certified client; everything else needs a principal that
 * may read (srv_principal_may), else 403.
 *
 * Limits: 64 connections (at the limit the one waiting longest for its
 * request is evicted), a request of at most 16 KiB, http_request_timeout_ms
 * to send it and to take the answer; one request per connection
 * (Connection: close).
 *
 * Ownership: http_start() allocates the listener, which the server's
 * close frees (after its handles closed and its /v1 requests returned).
 */
#ifndef SYNOD_HTTP_H
#define SYNOD_HTTP_H

#include "server.h"

/* Listen on address ("IP:PORT"; port 0: any free port, logged). 0, or -1
 * with s->errmsg set. */
int http_start(struct server *s, const char *address);

/* The Prometheus text of this node (for tests and tools): a malloc'd
 * NUL-terminated string, or NULL when out of memory. */
char *http_metrics_text(struct server *s);

#endif
