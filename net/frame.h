/* net/frame.h - framing of the client protocol (internal to net/ and the
 * controller's server).
 *
 * Frame: u32 big-endian length of what follows (header + body), then the
 * 12-byte header:
 *   u8 magic (0x53 'S'), u8 frame version (1), u8 kind, u8 flags,
 *   u16 api, u16 api version, u32 correlation id   (all big-endian)
 * then the protobuf body. A request with flag FRAME_F_CLIENT_ID carries
 * the sender's 16-byte client id between the header and the body (the
 * length counts it): with the correlation id it names the request across
 * resends, so the controller applies a write once (docs/protocol.md §8).
 * Pure functions over buffers: no I/O.
 */
#ifndef SYNOD_FRAME_H
#define SYNOD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC 0x53
#define FRAME_VERSION 1
#define FRAME_LEN_SIZE 4
#define FRAME_HEADER_SIZE 12
#define FRAME_PREFIX (FRAME_LEN_SIZE + FRAME_HEADER_SIZE)

enum frame_kind { FRAME_REQUEST = 0, FRAME_RESPONSE = 1, FRAME_PUSH = 2 };

/* Header flags. */
#define FRAME_F_CLIENT_ID 0x01 /* request: 16-byte client id follows */
#define FRAME_CLIENT_ID_SIZE 16

/* frame_decode results */
enum {
	FRAME_OK = 0,
	FRAME_EAGAIN = -1,   /* need more bytes */
	FRAME_ETOOBIG = -2,  /* declared length above the maximum */
	FRAME_EMAGIC = -3,   /* not a Synod frame */
	FRAME_EVERSION = -4, /* frame version unknown */
	FRAME_ESHORT = -5,   /* declared length below the header size */
	FRAME_EKIND = -6,    /* kind unknown */
};

struct frame_header {
	uint8_t kind;
	uint8_t flags;
	uint16_t api;
	uint16_t api_version;
	uint32_t correlation_id;
	uint8_t client_id[FRAME_CLIENT_ID_SIZE]; /* with FRAME_F_CLIENT_ID */
	/* Not on the wire: when conn.c delivered the frame (uv_hrtime() in
	 * microseconds); 0 for headers made or decoded elsewhere. The
	 * server times requests from it (a reply copies the header). */
	uint64_t recv_us;
};

/* Bytes before the body: FRAME_PREFIX, plus the client id when the
 * header carries one. */
size_t frame_prefix_size(const struct frame_header *h);

const char *frame_strerror(int rv);

/* Write the prefix (frame_prefix_size(h) bytes) for a body of body_len
 * bytes. */
void frame_put_prefix(uint8_t *out, const struct frame_header *h,
		      size_t body_len);

/* Try to take one frame from buf[0..len). On FRAME_OK: *h, *body,
 * *body_len (pointing into buf) and *consumed are set. On FRAME_EVERSION,
 * and on FRAME_ETOOBIG when the 16-byte prefix is in buf, *h is set as far
 * as it was read (correlation id included) so the receiver can answer or
 * report it before closing. */
int frame_decode(const uint8_t *buf, size_t len, size_t max_frame,
		 struct frame_header *h, const uint8_t **body, size_t *body_len,
		 size_t *consumed);

#endif
