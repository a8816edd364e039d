/* controller/kafka_listener.h - the Kafka protocol on a controller node
 * (docs/kafka.md): Kafka's own tools (kcat, the admin clients of
 * librdkafka, Java, Python, JavaScript) ask it for ApiVersions, Metadata
 * (from this node's store, as a Kafka broker answers from its metadata
 * cache) and the admin APIs (served by the active controller).
 *
 * A module in the sense of controller/module.h: it serves API 30
 * KAFKA_FORWARD, the Kafka requests brokers' listeners and the other
 * controller nodes relay to the active controller (KIP-590's envelope),
 * and, when kafka_address is set, listens for Kafka clients. Connections,
 * framing and the API table's dispatch are net/kafka_server.c's; the
 * handlers are here (Metadata, forwarding) and in kafka_admin.c.
 *
 * Not built yet: TLS on this port (a node with TLS refuses kafka_address).
 *
 * Ownership: kafka_start() allocates the module, freed by the server's
 * close after its handles closed and its requests answered.
 */
#ifndef SYNOD_KAFKA_LISTENER_H
#define SYNOD_KAFKA_LISTENER_H

#include "server.h"

/* Register the module; listen on address ("IP:PORT"; port 0: any free
 * port, logged) unless it is empty. 0, or -1 with s->errmsg set. */
int kafka_start(struct server *s, const char *address);

#endif
