/* controller/tlsrelay.h - TLS on a raft connection, for raft_uv.
 *
 * raft_uv reads and writes whatever uv_stream_t its transport hands it.
 * A relay takes a connected TCP stream (from raft_uv_tcp, after its
 * plaintext preamble naming the peer's id), runs a TLS handshake on it
 * over memory BIOs on the loop, checks the peer's certificate (chain to
 * the cluster CA, subject CN equal to expect_cn), and then hands the
 * caller one end of a socketpair as a uv_pipe_t: bytes written there are
 * encrypted onto the TCP stream, bytes arriving on the TCP stream are
 * decrypted into it. Either side closing closes both.
 *
 * Ownership: tls_relay_start() takes the TCP stream (allocated with
 * raft_malloc(), as raft_uv_tcp does; the relay closes it and frees it
 * with raft_free()). The pipe handed to cb is allocated with raft_malloc()
 * and belongs to the receiver (raft_uv closes and frees it). The relay
 * frees itself once both of its handles closed. cb is called exactly once
 * when tls_relay_start() returned 0: with the pipe and status 0, or with
 * NULL and a non-zero status (the reason in err, NUL-terminated), after
 * which the relay has closed the TCP stream. A start that returns non-zero
 * never calls cb and leaves the stream to the caller. *out identifies the
 * relay for tls_relay_cancel() until cb runs.
 */
#ifndef SYNOD_TLSRELAY_H
#define SYNOD_TLSRELAY_H

#include <uv.h>

struct tls_ctx;
struct tls_relay;

/* principal: on success, the peer's principal by the context's rule
 * (tls.h: subject CN or first DNS/URI SAN), "" when none; NULL on
 * failure. Valid during the call only. */
typedef void (*tls_relay_cb)(void *arg, uv_stream_t *plain, int status,
			     const char *err, const char *principal);

int tls_relay_start(uv_loop_t *loop, struct tls_ctx *ctx, int server,
		    uv_stream_t *tcp, const char *expect_cn,
		    unsigned timeout_ms, tls_relay_cb cb, void *arg,
		    struct tls_relay **out);

/* Before its cb ran: fail the relay now (cb runs with an error inside
 * this call). Not after cb ran: the relay may be gone. */
void tls_relay_cancel(struct tls_relay *r);

#endif
