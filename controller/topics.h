/* controller/topics.h - topics and partitions on the active controller:
 * creation (with placement), deletion, growth, description, leader
 * elections (on broker fence/shutdown, on return, on demand, automatic
 * rebalance), ISR changes from partition leaders (one or many per
 * request), and metadata pushes and fetches for brokers.
 *
 * Decisions use the pure functions of placement.h and election.h over the
 * committed state plus an overlay of partition states proposed but not yet
 * applied, so two changes in flight never build on stale state. Every
 * change is a record with the partition's full new state and the partition
 * epoch it replaces.
 *
 * Pushes: after each applied entry that touched topics, partitions or
 * broker registrations, the active controller sends each concerned broker
 * a MetadataDelta (frame kind PUSH, api 14): all brokers get topic
 * creations, growth and deletions and the new state of every broker the
 * entry registered, fenced, unfenced, shut down or unregistered; replicas
 * get the new state of their partitions. Brokers that miss pushes (queue
 * full, reconnect, failover) fetch what changed since their version (api
 * 15), answered from the store with every registered broker.
 *
 * Ownership: owned by the server; borrows the node, the broker sessions
 * and the loop. Requests passed to its handlers (topics_module) are owned
 * by them.
 */
#ifndef SYNOD_TOPICS_H
#define SYNOD_TOPICS_H

#include <stdint.h>

#include "brokers.h"
#include "module.h"
#include "server_int.h"

struct topics;

struct topics_stats {
	uint64_t topics_created;
	uint64_t partitions_created;
	uint64_t elections; /* leader changes proposed */
	uint64_t isr_changes;
	uint64_t isr_waits;    /* waits (per change, per barrier) for a change
				  in flight on the partition */
	uint64_t pushes_built; /* entries that produced pushes */
	uint64_t fetches;
};

/* Uses b for broker liveness and pushes (b outlives t). */
int topics_new(struct server *s, struct brokers *b, struct topics **out);
/* The module (controller/module.h): APIs 15-22, leadership, applied
 * entries (pushes), close. */
void topics_module(struct topics *t, struct module *m);
/* What the broker sessions call when a broker leaves or comes back
 * (brokers_set_hooks). */
void topics_broker_hooks(struct topics *t, struct brokers_hooks *h);
void topics_close(struct topics *t);
void topics_leadership(struct topics *t, int active);
/* node_check_active(), and SYNOD_EUNAVAILABLE while the broker sessions
 * are not loaded (brokers_ready()): every topic request and decision
 * that reads which brokers are alive waits for both. */
int topics_check_active(struct topics *t);
/* A command entry applied (any role): pushes on the active controller. */
void topics_applied(struct topics *t, uint64_t index,
		    const Synod__Rec__RecordBatch *b);
const struct topics_stats *topics_stats(const struct topics *t);
/* Preferred (or unclean) elections over every partition, walked page by
 * page; p (NULL: the automatic rebalance) is answered and freed. */
void topics_elect_all(struct topics *t, struct pending *p, int unclean);

#endif
