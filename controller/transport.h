/* controller/transport.h - raft_uv_tcp wrapped for Synod.
 *
 * Two things libraft's TCP transport lacks: TCP_NODELAY on raft sockets
 * (Nagle + delayed ACKs stall replication by ~40 ms) and a place for each
 * node's client address. Synod's raft addresses are composite:
 * "RAFT_HOST:PORT/CLIENT_HOST:PORT", so the raft configuration itself tells
 * every node where each voter serves clients. This wrapper strips the
 * client part before binding or connecting.
 *
 * Ownership: struct synod_transport is owned by the daemon; it must outlive
 * raft_uv (close it after raft_uv_close()).
 */
#ifndef SYNOD_TRANSPORT_H
#define SYNOD_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <stddef.h>

struct synod_transport {
	struct raft_uv_transport outer; /* hand this one to raft_uv_init */
	struct raft_uv_transport inner; /* raft_uv_tcp */
	raft_uv_accept_cb accept_cb;
	raft_uv_transport_close_cb close_cb;
};

int synod_transport_init(struct synod_transport *t, struct uv_loop_s *loop);
void synod_transport_close(struct synod_transport *t);

/* Split "raft/client" into its parts (either output may be NULL).
 * Returns 0, or -1 when the address has no client part or is too long. */
int synod_addr_split(const char *composite, char *raft, size_t raft_size,
		     char *client, size_t client_size);

#endif
