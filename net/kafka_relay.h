/* net/kafka_relay.h - relay a Kafka request to the active controller over
 * a client-protocol connection: API 30 KAFKA_FORWARD, KIP-590's envelope
 * (docs/protocol.md 5.10). The request's bytes go in the envelope; the
 * Kafka answer's bytes come back to the request unchanged, or, when the
 * controller gives none (or cannot be reached), the request's connection
 * closes and its client asks again. Used by brokers' listeners
 * (net/broker_kafka.c) and controller nodes that are not the active one
 * (controller/kafka_listener.c).
 */
#ifndef SYNOD_KAFKA_RELAY_H
#define SYNOD_KAFKA_RELAY_H

#include <stdint.h>

#include "kafka_server.h"
#include "synod/client.h"

/* Send r through c. SYNOD_OK: r is answered later, when the client's
 * answer comes (or the client closes: its requests end CANCELED); *failed
 * (optional; must outlive the request) counts the relayed requests that
 * got no answer. Otherwise nothing was sent (the client's error) and the
 * caller answers r. Uses r->data. */
int kafka_relay_send(struct kafka_request *r, struct synod_client *c,
		     uint64_t *failed);

#endif
