/* tests/integration/fakectl.h - a scripted fake controller for tests of the
 * client and broker libraries (synod/client.h, synod/broker.h).
 *
 * A fake listens on 127.0.0.1 (an ephemeral port) on the test's own libuv
 * loop, next to the client or broker under test: no threads, no other
 * process. The test drives the loop (fakectl_step(), fakectl_wait(),
 * FAKECTL_WAIT_FOR) until what it expects holds. Several fakes may share
 * one loop (to script NOT_CONTROLLER redirects between "nodes").
 *
 * Requests: every request frame (kind FRAME_REQUEST) is counted per api and
 * handed to the handler set with fakectl_on_request(). The handler answers
 * now (fakectl_reply*), later (it keeps fakectl_conn_id() and the header,
 * and finds the connection again with fakectl_conn_find()), never, or
 * closes the connection; it returns FAKECTL_HANDLED. When there is no
 * handler or it returns FAKECTL_DEFAULT, the default applies:
 * - METADATA (1), the client's cluster-id handshake: MetadataResponse OK
 *   with the fake's cluster id, node id 1 and itself as leader; or
 *   CLUSTER_ID_MISMATCH when the request names another cluster.
 * - NODE_STATUS (2), the client's liveness probe: NodeStatusResponse OK
 *   (role "leader", active controller).
 * - anything else: not answered, or a Status-only answer with the code set
 *   by fakectl_set_default_status().
 * Frames of other kinds are ignored. A framing error (frame_decode() fails,
 * e.g. a frame above 16 MiB) counts in fakectl_bad_frames() and closes the
 * connection without an answer.
 *
 * Output: everything sent on a connection (replies, pushes, raw bytes) is
 * queued in order and written at once, or trickled out at the rate set by
 * fakectl_set_write_rate(), or held while the fake is paused.
 *
 * Ownership and lifetime:
 * - fakectl_start() allocates the fake; fakectl_free() releases it
 *   asynchronously: it stops the fake (fakectl_stop()) and the struct is
 *   freed once the loop has run the close callbacks of its handles. Run the
 *   loop afterwards (fakectl_drain()) before uv_loop_close(). Never touch
 *   the fake, or any of its connections, after fakectl_free().
 * - struct fakectl_conn belongs to the fake. A pointer handed to the
 *   handler is valid during that call; one from fakectl_conn_find() or
 *   fakectl_last_conn() until control returns to the loop. To answer
 *   later, keep fakectl_conn_id(fc) (ids are never reused by a fake) and
 *   look the connection up again; fakectl_conn_find() returns NULL once it
 *   closed, and every send function accepts fc == NULL and then does
 *   nothing (returns UV_EPIPE): a late answer to a closed connection is a
 *   harmless no-op.
 * - Messages and bytes passed to the send functions are copied (packed)
 *   before they return; the caller keeps them. The body passed to the
 *   handler is valid during the call only.
 *
 * Threading: everything runs on the loop's thread; call nothing from
 * another thread. The handler may call any function here except
 * fakectl_free() (fakectl_stop() is fine).
 */
#ifndef SYNOD_FAKECTL_H
#define SYNOD_FAKECTL_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"
#include "synod/client.h"

struct fakectl;
struct fakectl_conn;

/* Handler results. */
enum { FAKECTL_DEFAULT = 0, FAKECTL_HANDLED = 1 };

/* fakectl_set_default_status(): leave unhandled requests unanswered. */
#define FAKECTL_NO_ANSWER (-1)

/* fakectl_close_conn() */
enum { FAKECTL_CLOSE_NOW = 0, FAKECTL_CLOSE_FLUSHED = 1 };

/* Request handler: h->kind is FRAME_REQUEST; body[0..len) is valid during
 * the call. Return FAKECTL_HANDLED, or FAKECTL_DEFAULT for the default
 * behaviour (see above). */
typedef int (*fakectl_request_cb)(void *arg, struct fakectl_conn *fc,
				  const struct frame_header *h,
				  const uint8_t *body, size_t len);

/* ---- life cycle ---- */

/* Listen on 127.0.0.1:0 on `loop`. cluster_id (required) is copied.
 * Returns 0 or a libuv error (then *out is untouched; the loop may hold
 * closing handles: run it before closing it). */
int fakectl_start(uv_loop_t *loop, const char *cluster_id,
		  struct fakectl **out);
/* "127.0.0.1:PORT"; owned by the fake, valid until fakectl_free(). */
const char *fakectl_address(const struct fakectl *f);
/* Stop listening (new connections are refused) and close every connection
 * at once, dropping unsent output. Idempotent. Counters and the address
 * stay readable; fakectl_step() and fakectl_wait() still work. */
void fakectl_stop(struct fakectl *f);
/* fakectl_stop(), then free the fake once its handles are closed (the
 * loop must run for that). NULL is ignored. */
void fakectl_free(struct fakectl *f);

/* ---- behaviour ---- */

/* Set (or, with cb NULL, remove) the request handler. */
void fakectl_on_request(struct fakectl *f, fakectl_request_cb cb, void *arg);
/* Answer for requests nobody handled, other than METADATA and
 * NODE_STATUS: a Status-only body with `code` (e.g.
 * SYNOD_EUNSUPPORTED_API), or FAKECTL_NO_ANSWER (the default). */
void fakectl_set_default_status(struct fakectl *f, int code);
/* Write at most bytes_per_second to each connection (in chunks from a
 * 10 ms timer, one write in flight per connection), so that a large
 * answer arrives over seconds. 0: unlimited (the default); queued output
 * goes out at once. */
void fakectl_set_write_rate(struct fakectl *f, uint64_t bytes_per_second);
/* paused != 0: as if the process were stopped (SIGSTOP). Connections stay
 * open; nothing more is read or handled, and nothing more is written
 * (answers and pushes the test sends meanwhile are queued). New
 * connections are accepted (the kernel would complete them anyway) but
 * not read. paused == 0: resume; frames that were already read are
 * handled and queued output is written, from the next loop iteration. */
void fakectl_pause(struct fakectl *f, int paused);

/* ---- sending (fc may be NULL: then nothing happens, UV_EPIPE) ----
 * All return 0, UV_EPIPE (no connection, or it is closing) or UV_ENOMEM.
 * No size limit is applied. */

/* A response (kind FRAME_RESPONSE, flags 0) to `req`: its api, api version
 * and correlation id are copied. msg may be NULL (empty body). */
int fakectl_reply(struct fakectl_conn *fc, const struct frame_header *req,
		  const ProtobufCMessage *msg);
/* A Status-only response (it decodes as any response, see AnyResponse):
 * code, the code's text as message, and leader_address when not NULL
 * (the hint for NOT_CONTROLLER). */
int fakectl_reply_status(struct fakectl_conn *fc,
			 const struct frame_header *req, int code,
			 const char *leader_address);
/* A push (kind FRAME_PUSH, correlation id 0, api version 1), e.g. api
 * SYNOD_API_METADATA_PUSH with a MetadataDelta. */
int fakectl_push(struct fakectl_conn *fc, uint16_t api,
		 const ProtobufCMessage *msg);
/* Any frame (header as given) with an already packed body. */
int fakectl_send_frame(struct fakectl_conn *fc, const struct frame_header *h,
		       const void *body, size_t len);
/* Raw bytes, not checked: malformed frames, a prefix declaring 32 MiB, a
 * frame split across writes, ... */
int fakectl_send_raw(struct fakectl_conn *fc, const void *bytes, size_t n);

/* ---- connections ---- */

/* FAKECTL_CLOSE_NOW: close at once; output not yet handed to the socket
 * is dropped. FAKECTL_CLOSE_FLUSHED: stop reading, close once the queued
 * output is written (at the write rate; not while paused). Idempotent;
 * fc NULL is ignored. */
void fakectl_close_conn(struct fakectl_conn *fc, int how);
/* Connection id: >= 1, unique within the fake. */
uint64_t fakectl_conn_id(const struct fakectl_conn *fc);
/* The open connection with that id, or NULL (closed or closing). */
struct fakectl_conn *fakectl_conn_find(struct fakectl *f, uint64_t id);
/* The most recently accepted connection that is still open, or NULL. */
struct fakectl_conn *fakectl_last_conn(struct fakectl *f);
struct fakectl *fakectl_conn_owner(const struct fakectl_conn *fc);
/* Output of this connection queued and not yet written to the socket. */
size_t fakectl_conn_pending(const struct fakectl_conn *fc);

/* ---- counters (since start) ---- */

unsigned fakectl_conn_count(const struct fakectl *f); /* open now */
uint64_t fakectl_accepts(const struct fakectl *f);    /* accepted */
/* Request frames received with this api (every api, handled or not). */
uint64_t fakectl_requests(const struct fakectl *f, uint16_t api);
uint64_t fakectl_requests_total(const struct fakectl *f);
/* Connections closed for a framing error. */
uint64_t fakectl_bad_frames(const struct fakectl *f);
/* Connections whose peer reset them (a read ended in ECONNRESET) rather
 * than closing them. */
uint64_t fakectl_resets(const struct fakectl *f);
/* Bytes written to sockets (writes completed), all connections. */
uint64_t fakectl_bytes_written(const struct fakectl *f);

/* ---- driving the loop ---- */

/* Monotonic milliseconds (uv_hrtime based), for deadlines. */
uint64_t fakectl_now_ms(void);
/* Run one iteration of f's loop (UV_RUN_ONCE), blocking at most until
 * deadline_ms (fakectl_now_ms() time). Returns 0, or UV_ETIMEDOUT when
 * the deadline had passed already (nothing was run). */
int fakectl_step(struct fakectl *f, uint64_t deadline_ms);
/* Run f's loop until cond(arg) is true (checked before each iteration):
 * 0, or UV_ETIMEDOUT after timeout_ms. */
int fakectl_wait(struct fakectl *f, unsigned timeout_ms, int (*cond)(void *),
		 void *arg);
/* The same for an expression: sets ok to 1 when cond became true within
 * timeout_ms, else 0. */
#define FAKECTL_WAIT_FOR(f, timeout_ms, cond, ok)                              \
	do {                                                                   \
		uint64_t fakectl_dl_ = fakectl_now_ms() + (timeout_ms);        \
		while (!((ok) = !!(cond)) &&                                   \
		       fakectl_step((f), fakectl_dl_) == 0)                    \
			;                                                      \
	} while (0)
/* After everything on the loop was closed (fakes freed, clients and
 * brokers closed): run it without blocking (UV_RUN_NOWAIT) until no
 * handle (active or not, closing or not) and no request is left. 0, or
 * UV_ETIMEDOUT when something is still there after timeout_ms (a handle
 * nobody closed: uv_loop_close() would fail with UV_EBUSY). */
int fakectl_drain(uv_loop_t *loop, unsigned timeout_ms);

#endif
