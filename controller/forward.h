/* controller/forward.h - this node as a client of the quorum's client
 * ports: its own METADATA answer, client settings towards the other nodes,
 * and a client that sends requests to the active controller (the HTTP
 * API's forwarded reads, the Kafka listener's forwarded requests).
 *
 * Ownership: a struct forwarder is its owner's; forwarder_client()'s
 * client belongs to the forwarder (made again when the quorum's client
 * addresses changed: the old one's requests complete with CANCELED). Loop
 * thread only.
 */
#ifndef SYNOD_FORWARD_H
#define SYNOD_FORWARD_H

#include <stddef.h>

#include "server_int.h"
#include "synod/client.h"

/* This node's METADATA answer (who leads, the nodes' addresses), decoded;
 * free with synod__wire__metadata_response__free_unpacked. NULL: out of
 * memory. */
Synod__Wire__MetadataResponse *fwd_local_metadata(struct server *s);

/* Client settings of this node towards the others' client ports (the
 * cluster id, TLS with this node's certificate). Borrows s's strings. */
void fwd_client_config(struct server *s, struct synod_client_config *cfg);

/* The Status of an answer (field 1 of every response), or NULL. */
const Synod__Wire__Status *fwd_status_of(const ProtobufCMessage *m);

struct forwarder {
	struct server *s;
	unsigned timeout_ms;
	struct synod_client *c;
	char *bootstrap;
};

void forwarder_init(struct forwarder *f, struct server *s, unsigned timeout_ms);
/* The client towards the active controller, or NULL (err says why: no
 * client address known, out of memory). */
struct synod_client *forwarder_client(struct forwarder *f, char *err,
				      size_t size);
/* Close the client: its requests complete with SYNOD_ECANCELED. */
void forwarder_close(struct forwarder *f);

#endif
