/* net/conn.h - a framed TCP connection on a libuv loop (internal).
 *
 * Used by the controller's server and by the client library. Reads are
 * split into frames (net/frame.h); frames to send are packed into a
 * per-connection output buffer and written once per loop iteration by a
 * flusher shared by all connections of one owner, so a burst of responses
 * costs one write() per connection, not one per frame.
 *
 * Ownership: the owner allocates struct conn (usually embedded in its own
 * per-connection struct), calls conn_init(), and may free it only from the
 * ops->closed callback (after every handle is closed). Outgoing bodies are
 * copied: the caller keeps its message.
 */
#ifndef SYNOD_CONN_H
#define SYNOD_CONN_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"

struct tls_ctx;
struct conn_tls;

/* A connection's first read buffer; it doubles while a frame arrives
 * (never beyond what the frame being received needs). */
#define CONN_READ_MIN 4096

struct conn;

struct conn_ops {
	/* One complete frame. The body is valid during the call only. The
	 * callee may call conn_close(). */
	void (*frame)(struct conn *c, const struct frame_header *h,
		      const uint8_t *body, size_t len);
	/* A framing error (FRAME_E*): called once, right before the
	 * connection closes. h is partly filled (see frame_decode). */
	void (*bad_frame)(struct conn *c, int err,
			  const struct frame_header *h);
	/* Connection ended (peer closed, error, or conn_close): handles are
	 * closed, the owner may free the struct now. */
	void (*closed)(struct conn *c);
	/* Optional, for owners that account read-buffer memory: the read
	 * buffer's capacity goes from c->rcap to cap bytes (0: freed). For
	 * growth (cap > c->rcap), a nonzero return refuses it: the
	 * connection stops reading, as with conn_pause(), until the owner
	 * calls conn_resume(). Other changes cannot be refused. When an
	 * allowed growth fails (out of memory), it is called again with the
	 * old capacity. Must not close the connection. */
	int (*rbuf_resize)(struct conn *c, size_t cap);
};

/* Flushes dirty connections once per loop iteration. One per owner. */
struct conn_flusher {
	uv_check_t check;
	uv_idle_t idle;
	struct conn *dirty; /* doubly linked through conn->next/prev */
	int active;
	/* Ciphertext read buffer shared by the TLS connections of this
	 * owner: libuv calls a stream's read callback right after its
	 * alloc callback, and on_read hands the bytes to OpenSSL at once.
	 * Allocated at the first TLS read; freed by conn_flusher_close(). */
	uint8_t *tls_rbuf;
};

struct conn {
	uv_tcp_t tcp;
	void *data;
	const struct conn_ops *ops;
	struct conn_flusher *flusher;
	struct conn *next, *prev; /* dirty list */
	int dirty;
	int closing;
	int reading;
	size_t max_frame;
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t wlen, wcap;
	size_t inflight_bytes; /* handed to uv_write, not yet written */
	uint64_t frames_in, frames_out;
	uint64_t bytes_in; /* read from the socket */
	int rbuf_refused;  /* ops->rbuf_resize refused the last growth */
	char peer[64];
	struct conn_tls *tls; /* NULL: plaintext */
};

int conn_flusher_init(struct conn_flusher *f, uv_loop_t *loop);
/* Close the flusher's handles (after all its connections closed). */
void conn_flusher_close(struct conn_flusher *f);

/* Initialise the TCP handle on `loop`. */
int conn_init(struct conn *c, uv_loop_t *loop, struct conn_flusher *f,
	      size_t max_frame, const struct conn_ops *ops, void *data);
/* Start reading (after connect or accept); records the peer address. */
int conn_start(struct conn *c);
/* Queue one frame. Returns 0, UV_ENOMEM, or UV_EPIPE when closing. */
int conn_send(struct conn *c, const struct frame_header *h,
	      const ProtobufCMessage *body);
/* Queue a frame whose body is already packed. */
int conn_send_raw(struct conn *c, const struct frame_header *h,
		  const uint8_t *body, size_t len);
/* Write what is queued now (normally the flusher does it). */
void conn_flush(struct conn *c);
/* Bytes queued or in flight on this connection (back-pressure). */
size_t conn_pending_bytes(const struct conn *c);
/* Stop / restart reading from the socket (back-pressure on a peer that
 * sends faster than its requests complete). Frames already read are still
 * delivered, so nothing waits in the buffer while paused. Idempotent. */
void conn_pause(struct conn *c);
void conn_resume(struct conn *c);
/* Free the read buffer if it holds no partial frame and is larger than
 * the initial allocation (memory back from a connection gone quiet). */
void conn_trim(struct conn *c);
/* Idempotent. Queued output that was not written yet is dropped. */
void conn_close(struct conn *c);
/* conn_close() for a connection given up on: the kernel also discards
 * what it accepted but has not delivered, and the peer sees a reset.
 * A given-up connection's unsent bytes would otherwise keep being
 * retransmitted after close, even after the process exits, and reach
 * the peer seconds later (docs/reliability.md 5.32). */
void conn_abort(struct conn *c);

/* ---- TLS (net/tls.h) ----
 * conn_tls_attach() makes c a TLS connection: call it after conn_init()
 * and before conn_start(); server 1 on the accepting side. The handshake
 * runs on the loop as bytes arrive; frames queued before it completes are
 * sent once it has. A failed handshake or TLS record closes the
 * connection; conn_tls_error() then says why (in ops->closed too).
 * Returns 0 or UV_ENOMEM. */
int conn_tls_attach(struct conn *c, struct tls_ctx *t, int server);
/* 1 once the handshake completed (always 1 for plaintext). */
int conn_tls_ready(const struct conn *c);
/* The subject CN of the peer's verified certificate, "" when none. */
const char *conn_tls_principal(const struct conn *c);
/* Why TLS closed the connection, or NULL. */
const char *conn_tls_error(const struct conn *c);

/* Split "host:port" ("[v6]:port" too) into host (size bytes) and port
 * (1-65535). 0, or -1 when malformed. */
int net_split_hostport(const char *hostport, char *host, size_t size,
		       int *port);

#endif
