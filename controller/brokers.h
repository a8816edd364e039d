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
 * a healthy broker. A rebuild that finds no memory is tried again every
 * tick; broker requests are answered UNAVAILABLE meanwhile (so are the
 * topic requests and decisions that need the sessions: brokers_ready()).
 *
 * Ownership: struct brokers is owned by the server and borrows its node
 * and loop. Requests passed to its handlers (brokers_module) are owned
 * by them.
 */
#ifndef SYNOD_BROKERS_H
#define SYNOD_BROKERS_H

#include <stdint.h>

#include "module.h"
#include "server_int.h"
#include "recbuf.h"

struct brokers;

struct brokers_stats {
	uint64_t registrations;
	uint64_t heartbeats;
	uint64_t fenced_by_timeout;
	uint64_t unfenced;
	uint64_t shutdowns;
	uint64_t stale_epoch_refusals;
	uint64_t duplicate_refusals;
	uint64_t old_connection_refusals; /* reliability.md 5.32 */
};
/* Bytes of pushes one entry may queue across all brokers for topic events
 * (creations, growth, deletions go to every broker); above it, brokers
 * without partitions in the entry are nudged instead. */
#define BROKERS_FANOUT_MAX (64u << 20)

struct recbuf;

/* Called once when a departure's elections are all proposed (rc
 * SYNOD_OK) or could not be (NOT_CONTROLLER, SHUTTING_DOWN, ...). */
typedef void (*brokers_departed_cb)(void *arg, int rc);

/* What the topic logic (controller/topics.c) plugs in. */
struct brokers_hooks {
	void *arg;
	/* Broker `id` is leaving (fence, controlled shutdown, unregister,
	 * or a new incarnation replacing its registration): propose, in as
	 * many bounded entries as it takes, the leader elections and ISR
	 * changes that move every leadership away from it, then call
	 * done(done_arg, rc), never from within this call. The record
	 * that makes it leave is proposed after that: apply refuses it
	 * while the broker still leads (storage/store.h), and the broker is
	 * retried. Returns 0 when started, -1 (done not called) if not. */
	int (*depart)(void *arg, int32_t id, brokers_departed_cb done,
		      void *done_arg);
	/* Broker `id` was unfenced (committed): recover what it can lead. */
	void (*back)(void *arg, int32_t id);
};

int brokers_new(struct server *s, struct brokers **out);
/* The module (controller/module.h): APIs 10-13, leadership, NODE_STATUS
 * counters, close. */
void brokers_module(struct brokers *b, struct module *m);
/* Close the timer; the struct is freed when it closed. */
void brokers_close(struct brokers *b);
/* The node became (1) or stopped being (0) the active controller. */
void brokers_leadership(struct brokers *b, int active);
const struct brokers_stats *brokers_stats(const struct brokers *b);
/* Sessions held (0 unless active). */
unsigned brokers_count(const struct brokers *b);

void brokers_set_hooks(struct brokers *b, const struct brokers_hooks *h);
/* 1 when this node is the active controller and holds every registered
 * broker's session: before that (a takeover still loading them, out of
 * memory), brokers_alive() knows no broker, so decisions that ask it
 * (placement, repairs, elections) wait (topics: topics_check_active()). */
int brokers_ready(const struct brokers *b);
/* Registered, unfenced, not shutting down and not leaving. */
int brokers_alive(struct brokers *b, int32_t id);
/* A departure (fence, shutdown, unregister, re-registration) of id is in
 * progress: its elections are being proposed. */
int brokers_departing(struct brokers *b, int32_t id);
/* SYNOD_OK when id is registered with this epoch, else
 * SYNOD_EUNKNOWN_BROKER / SYNOD_ESTALE_BROKER_EPOCH, or SYNOD_EUNAVAILABLE
 * while the sessions are not loaded yet (brokers_ready()). */
int brokers_check(struct brokers *b, int32_t id, uint64_t epoch);
/* The broker has state up to `version` (after METADATA_FETCH); pushes
 * continue from there, on sc when given. */
void brokers_synced(struct brokers *b, int32_t id, uint64_t version,
		    struct sconn *sc);
/* The version of the last push made for broker id (its session's push
 * cursor; 0: no session). */
uint64_t brokers_pushed_version(struct brokers *b, int32_t id);
/* Broker id asked (METADATA_FETCH with_brokers) for the other brokers'
 * states; pushes of registration changes go only to those. */
void brokers_want_brokers(struct brokers *b, int32_t id, int want);
int brokers_wants_brokers(struct brokers *b, int32_t id);
/* Broker id asked (METADATA_FETCH all_partitions) for every partition:
 * every partition change is pushed to it, replica or not. */
void brokers_want_all(struct brokers *b, int32_t id, int want);
int brokers_wants_all(struct brokers *b, int32_t id);
/* Every registered broker's id. */
void brokers_foreach(struct brokers *b, void (*cb)(void *arg, int32_t id),
		     void *arg);
/* Push a delta to broker id through its session's publisher cursor
 * (publisher.h); sets d->prev_version. 0 when sent, -1 when not (no
 * session, no connection, queue full: the broker will fetch). */
int brokers_push(struct brokers *b, int32_t id, Synod__Wire__MetadataDelta *d);
/* Move broker id's push cursor to `version` and send it a delta that
 * cannot apply (prev_version = version): a broker behind sees a gap and
 * fetches. 0 when sent. */
int brokers_nudge(struct brokers *b, int32_t id, uint64_t version);

#endif
