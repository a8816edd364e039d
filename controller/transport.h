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
#include <stdint.h>

struct tls_ctx;
struct synod_relay;

struct synod_transport {
	struct raft_uv_transport outer; /* hand this one to raft_uv_init */
	struct raft_uv_transport inner; /* raft_uv_tcp */
	raft_uv_accept_cb accept_cb;
	raft_uv_transport_close_cb close_cb;
	struct uv_loop_s *loop;
	/* TLS (synod_transport_tls): NULL for plaintext raft. */
	struct tls_ctx *tls_server, *tls_client;
	unsigned tls_timeout_ms;
	struct synod_relay *relays;   /* handshakes in flight */
	uint64_t tls_refused;	      /* connections refused by TLS */
	uint64_t log_ms, log_skipped; /* refusal log lines, one a second */
	int closing;		      /* raft_uv closes it */
	int closed;		      /* raft_uv was told it closed */
	uint64_t late_callbacks;      /* from raft_uv_tcp after that */
	uint64_t connects_closing;    /* connections begun while closing */
	int freed;		      /* synod_transport_close ran */
};

int synod_transport_init(struct synod_transport *t, struct uv_loop_s *loop);

/* TLS on every raft connection (docs/security.md), after init and before
 * raft_uv_init(); called again later, a reload (new connections use the
 * new files; on an error the current ones stay): both sides present
 * certificates of ca_file's CA, and each checks that the peer's subject CN is
 * "synod-node-ID" for the node id the connection is for (the id a connecting
 * node names in raft_uv's preamble; the id being connected to). 0, or -1 with
 * the reason in err (the file named). */
int synod_transport_tls(struct synod_transport *t, const char *ca_file,
			const char *cert_file, const char *key_file,
			int allow_tls12, unsigned timeout_ms, char *err,
			size_t size);
/* Frees raft_uv_tcp and the TLS contexts; a second call does nothing.
 * Once listening, call it only after uv_run has returned: raft_uv_tcp
 * 0.22 can run a connection's close callback after it called raft_uv's
 * close callback, and that callback reads the transport (reliability.md
 * 5.16). Its close callback reaches raft_uv once, however often
 * raft_uv_tcp calls it. */
void synod_transport_close(struct synod_transport *t);

/* Split "raft/client" into its parts (either output may be NULL).
 * Returns 0, or -1 when the address has no client part or is too long. */
int synod_addr_split(const char *composite, char *raft, size_t raft_size,
		     char *client, size_t client_size);

#endif
