/* controller/kafka_listener.h - the Kafka-protocol listener of a controller
 * node (docs/kafka.md): Kafka's own tools (kcat, the admin clients) ask it for
 * ApiVersions and Metadata, answered from this node's store as a Kafka broker
 * answers from its metadata cache.
 *
 * A front end in the sense of controller/module.h (a module with no APIs,
 * for the server's close). Requests are framed as Kafka frames them (a
 * 4-byte size, at most kafka_max_request_bytes), decoded and encoded by
 * net/kafka.c from the schemas of net/kafka_apis.c, one API table here
 * (key, versions, flexible-from, handler). An unknown API key closes the
 * connection (as Kafka does); a version outside the table's range is
 * answered UNSUPPORTED_VERSION.
 *
 * Not built yet: TLS on this port (a node with TLS refuses kafka_address),
 * the admin APIs and forwarding (issue 13).
 *
 * Ownership: kafka_start() allocates the listener, freed by the server's
 * close after its handles closed.
 */
#ifndef SYNOD_KAFKA_LISTENER_H
#define SYNOD_KAFKA_LISTENER_H

#include "server.h"

/* Listen on address ("IP:PORT"; port 0: any free port, logged). 0, or -1
 * with s->errmsg set. */
int kafka_start(struct server *s, const char *address);

#endif
