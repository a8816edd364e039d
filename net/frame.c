/* net/frame.c - frame prefix encode/decode. */
#include "frame.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

const char *frame_strerror(int rv)
{
	switch (rv) {
	case FRAME_OK:
		return "ok";
	case FRAME_EAGAIN:
		return "incomplete frame";
	case FRAME_ETOOBIG:
		return "frame larger than the maximum size";
	case FRAME_EMAGIC:
		return "bad frame magic (not a Synod client connection?)";
	case FRAME_EVERSION:
		return "unsupported frame version";
	case FRAME_ESHORT:
		return "frame shorter than its header";
	case FRAME_EKIND:
		return "unknown frame kind";
	default:
		return "unknown frame error";
	}
}

static int has_client_id(const struct frame_header *h)
{
	return h->kind == FRAME_REQUEST && (h->flags & FRAME_F_CLIENT_ID);
}

size_t frame_prefix_size(const struct frame_header *h)
{
	return FRAME_PREFIX + (has_client_id(h) ? FRAME_CLIENT_ID_SIZE : 0);
}

void frame_put_prefix(uint8_t *out, const struct frame_header *h,
		      size_t body_len)
{
	size_t extra = has_client_id(h) ? FRAME_CLIENT_ID_SIZE : 0;
	if (extra)
		memcpy(out + FRAME_PREFIX, h->client_id, extra);
	put32(out, (uint32_t)(FRAME_HEADER_SIZE + extra + body_len));
	out[4] = FRAME_MAGIC;
	out[5] = FRAME_VERSION;
	out[6] = h->kind;
	out[7] = h->flags;
	put16(out + 8, h->api);
	put16(out + 10, h->api_version);
	put32(out + 12, h->correlation_id);
}

static void get_header(const uint8_t *buf, struct frame_header *h)
{
	h->kind = buf[6];
	h->flags = buf[7];
	h->api = get16(buf + 8);
	h->api_version = get16(buf + 10);
	h->correlation_id = get32(buf + 12);
}

int frame_decode(const uint8_t *buf, size_t len, size_t max_frame,
		 struct frame_header *h, const uint8_t **body, size_t *body_len,
		 size_t *consumed)
{
	uint32_t n;
	if (len < FRAME_LEN_SIZE)
		return FRAME_EAGAIN;
	n = get32(buf);
	/* Check what can be checked before the whole frame is here, so a
	 * bad peer is refused without buffering its garbage. */
	if (len > FRAME_LEN_SIZE && buf[4] != FRAME_MAGIC)
		return FRAME_EMAGIC;
	if (n > max_frame) {
		/* The header, when it is here already, tells the receiver
		 * which request the oversized frame answers. */
		if (len >= FRAME_PREFIX)
			get_header(buf, h);
		return FRAME_ETOOBIG;
	}
	if (n < FRAME_HEADER_SIZE)
		return FRAME_ESHORT;
	if (len < FRAME_PREFIX)
		return FRAME_EAGAIN;
	get_header(buf, h);
	if (buf[5] != FRAME_VERSION)
		return FRAME_EVERSION;
	if (h->kind > FRAME_PUSH)
		return FRAME_EKIND;
	if (len < FRAME_LEN_SIZE + (size_t)n)
		return FRAME_EAGAIN;
	*body = buf + FRAME_PREFIX;
	*body_len = n - FRAME_HEADER_SIZE;
	*consumed = FRAME_LEN_SIZE + (size_t)n;
	if (has_client_id(h)) {
		if (*body_len < FRAME_CLIENT_ID_SIZE)
			return FRAME_ESHORT;
		memcpy(h->client_id, *body, FRAME_CLIENT_ID_SIZE);
		*body += FRAME_CLIENT_ID_SIZE;
		*body_len -= FRAME_CLIENT_ID_SIZE;
	}
	return FRAME_OK;
}
