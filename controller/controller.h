/* controller/controller.h - the daemon's composition root: the server and
 * the modules it serves, created and wired in one place.
 *
 * Modules, in registration order (the order of their events):
 *   cluster  (cluster.h)  METADATA, NODE_STATUS, configs, quorum membership
 *   brokers  (brokers.h)  broker sessions: APIs 10-13
 *   topics   (topics.h)   topics, partitions, elections, ISR, pushes: 14-22
 *   groups   (groups.h)   consumer groups: 23-28 (after topics: an entry's
 *                         topic changes are pushed before groups react)
 * Dependencies, passed explicitly here: topics reads the broker sessions
 * (liveness, epochs, push cursors); brokers calls topics' departure hooks
 * when a broker leaves or comes back.
 *
 * Ownership: the caller owns the struct server; server_close() closes
 * the modules, which free themselves.
 */
#ifndef SYNOD_CONTROLLER_H
#define SYNOD_CONTROLLER_H

#include <uv.h>

#include "node.h"
#include "server.h"

/* Start the server on address and register every module. 0, or -1 with
 * s->errmsg set (nothing to close then but the server's handles, as for
 * server_start). */
int controller_start(struct server *s, uv_loop_t *loop, struct node *node,
		     const char *address);

#endif
