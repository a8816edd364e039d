/* controller/cluster.h - the cluster module (controller/module.h): what
 * every node answers about itself (METADATA 1, NODE_STATUS 2: raft,
 * store and loop figures, each module's counters, the client port's), the
 * dynamic configs (CONFIG_SET 3, GET 4, LIST 5, DELETE 6: validated
 * against controller/configdefs.c, writes through raft, reads
 * linearizable) and quorum membership (ADD_VOTER 7, REMOVE_VOTER 8,
 * TRANSFER_LEADER 9).
 *
 * Stateless: its handlers use the server's node (sc->server->node). No
 * events, nothing to close.
 */
#ifndef SYNOD_CLUSTER_H
#define SYNOD_CLUSTER_H

#include "module.h"
#include "server_int.h"

/* Fill m with the cluster module, ready for server_register(). */
void cluster_module(struct module *m);

#endif
