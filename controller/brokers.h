/* controller/brokers.h - broker lifecycle on the active controller:
 * registration, heartbeats (in memory), fencing on session expiry,
 * controlled shutdown, unregistration, listing. Decisions come from the
 * pure functions in lifecycle.h; state changes are raft records
 * (RegisterBroker, FenceBroker, UnfenceBroker, BrokerShutdown,
 * UnregisterBroker) applied by storage/.
 *
 * Sessions (deadlines, last heartbeat, reported metadata version) live
 * only in the active controller's memory. When a node becomes active it
 * rebuilds them from the store and gives every broker a full session
 * timeout of grace from that moment, so a controller failover never fences
 * a healthy broker.
 *
 * Ownership: struct brokers is owned by the server and borrows its node
 * and loop. Requests passed to brokers_handle() are owned by it.
 */
#ifndef SYNOD_BROKERS_H
#define SYNOD_BROKERS_H

#include <stdint.h>

#include "server_int.h"

struct brokers;

struct brokers_stats {
	uint64_t registrations;
	uint64_t heartbeats;
	uint64_t fenced_by_timeout;
	uint64_t unfenced;
	uint64_t shutdowns;
	uint64_t stale_epoch_refusals;
	uint64_t duplicate_refusals;
};

int brokers_new(struct server *s, struct brokers **out);
/* Close the timer; the struct is freed when it closed. */
void brokers_close(struct brokers *b);
/* The node became (1) or stopped being (0) the active controller. */
void brokers_leadership(struct brokers *b, int active);
/* APIs 10-13. Takes ownership of msg. */
void brokers_handle(struct brokers *b, struct sconn *sc,
		    const struct frame_header *h, ProtobufCMessage *msg);
const struct brokers_stats *brokers_stats(const struct brokers *b);
/* Sessions held (0 unless active). */
unsigned brokers_count(const struct brokers *b);

#endif
