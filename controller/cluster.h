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

/* This node's NODE_STATUS answer (every module's figures and the client
 * port's), for the wire and for /metrics (controller/http.c): one source
 * for both. with_digest computes the state digest (O(state), on the
 * loop). The message points into *ns; cluster_node_status_free() frees
 * what it allocated. */
struct node_status {
	Synod__Wire__NodeStatusResponse m;
	Synod__Wire__Status st;
	Synod__Wire__ClientConnections cc;
	Synod__Wire__PeerProgress *peers, **ptrs;
	char leader[SYNOD_ADDR_MAX];
	char digest[17];
	Synod__Wire__DigestPoint points[FSM_DIGESTS], *pointp[FSM_DIGESTS];
	char point_hex[FSM_DIGESTS][17];
};
void cluster_node_status(struct server *s, int with_digest,
			 struct node_status *ns);
void cluster_node_status_free(struct node_status *ns);

/* Whether this node is ready to serve (/readyz, systemd's READY=1): it
 * knows a leader, has applied what it knows committed (within
 * CLUSTER_READY_MAX_LAG entries) and, if it leads, is the active
 * controller. 1, or 0 with the reason in why. */
#define CLUSTER_READY_MAX_LAG 1000
/* NODE_STATUS's health figures (partitions offline, ...) are at most this
 * old. */
#define CLUSTER_HEALTH_MS 1000
int cluster_ready(struct server *s, char *why, size_t size);
/* The same test over a status already made. */
int cluster_ready_of(const Synod__Wire__NodeStatusResponse *m, char *why,
		     size_t size);

#endif
