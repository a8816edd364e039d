/* tests/fuzz/fuzz_frame.c - framing (net/frame.c) as a connection reads
 * it: the bytes go through net/conn.c's own read path (on_alloc, on_read:
 * buffer growth, split reads, frames spanning reads, the move of a partial
 * frame to the buffer's start, the owner refusing growth), compiled into
 * this file so its static functions can be driven without a socket.
 *
 * Input: byte 0 picks the maximum frame size, byte 1 seeds the read
 * sizes, byte 2 the read-buffer budget; the rest is the byte stream.
 * Oracle: the frames (header and body) delivered through split reads are
 * exactly those of frame_decode() run over the whole stream at once, and
 * the stream ends in a framing error (closing the connection) exactly
 * when the one-shot decode ends in one. */
#include "../../net/conn.c"

#include "fuzz_common.h"

#define MAX_FRAMES 4096

struct rec {
	struct frame_header h;
	size_t off, len; /* body, as an offset into the stream */
};

struct harness {
	const uint8_t *stream;
	size_t stream_len;
	struct rec want[MAX_FRAMES];
	size_t n_want;
	int want_err; /* FRAME_E* ending the stream, or FRAME_EAGAIN */
	size_t got;   /* frames delivered */
	size_t pos;   /* stream offset of the next frame's body check */
	int got_err;
	size_t budget; /* read buffer capacity the owner allows */
	int closed;
};

static struct harness H;
static uv_loop_t *loop;

static void on_frame(struct conn *c, const struct frame_header *h,
		     const uint8_t *body, size_t len)
{
	const struct rec *w;
	if (H.got >= H.n_want) {
		/* Past the frames the reference kept (MAX_FRAMES). */
		FUZZ_CHECK(H.want_err == -100);
		H.got++;
		return;
	}
	w = &H.want[H.got++];
	{
		struct frame_header a = *h; /* recv_us: conn.c's clock */
		FUZZ_CHECK(a.recv_us > 0);
		a.recv_us = 0;
		FUZZ_CHECK(memcmp(&a, &w->h, sizeof a) == 0);
	}
	FUZZ_CHECK(len == w->len);
	FUZZ_CHECK(len == 0 || memcmp(body, H.stream + w->off, len) == 0);
	/* The body lies inside the read buffer. */
	FUZZ_CHECK(body >= c->rbuf && body + len <= c->rbuf + c->rlen);
}

static void on_bad(struct conn *c, int err, const struct frame_header *h)
{
	(void)c;
	(void)h;
	FUZZ_CHECK(H.got_err == 0);
	H.got_err = err;
}

static void on_conn_closed(struct conn *c)
{
	(void)c;
	H.closed = 1;
}

static int on_resize(struct conn *c, size_t cap)
{
	(void)c;
	return cap > H.budget ? -1 : 0;
}

static const struct conn_ops ops = {on_frame, on_bad, on_conn_closed,
				    on_resize};

/* The reference: every frame of the whole stream at once. */
static void reference(size_t max_frame)
{
	size_t off = 0;
	H.n_want = 0;
	H.want_err = FRAME_EAGAIN;
	for (;;) {
		struct frame_header h;
		const uint8_t *body;
		size_t blen, used;
		int rv;
		memset(&h, 0, sizeof h);
		rv = frame_decode(H.stream + off, H.stream_len - off, max_frame,
				  &h, &body, &blen, &used);
		if (rv != FRAME_OK) {
			H.want_err = rv;
			return;
		}
		/* The body ends the frame, after a prefix of at least
		 * FRAME_PREFIX bytes (more with a client id). */
		FUZZ_CHECK(used >= FRAME_PREFIX && used <= H.stream_len - off);
		FUZZ_CHECK(body >= H.stream + off + FRAME_PREFIX &&
			   body + blen == H.stream + off + used);
		if (H.n_want == MAX_FRAMES) {
			H.want_err = -100; /* too many to compare: stop here */
			return;
		}
		H.want[H.n_want].h = h;
		H.want[H.n_want].off = (size_t)(body - H.stream);
		H.want[H.n_want].len = blen;
		H.n_want++;
		off += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conn c;
	static struct conn_flusher fl;
	struct fz f = {data, size};
	size_t max_frame, off = 0;
	uint32_t rng;
	if (loop == NULL) {
		loop = uv_default_loop();
		conn_flusher_init(&fl, loop);
	}
	if (size < 3)
		return 0;
	memset(&H, 0, sizeof H);
	/* 16 bytes up to 16 MiB: small ones make ETOOBIG reachable. */
	max_frame = (size_t)16 << (fz_u8(&f) % 21);
	rng = 0x9e3779b9u ^ fz_u8(&f);
	H.budget = (size_t)CONN_READ_MIN << (fz_u8(&f) % 12);
	H.stream = f.p;
	H.stream_len = f.n;
	reference(max_frame);

	conn_init(&c, loop, &fl, max_frame, &ops, NULL);
	c.reading = 1;
	while (!c.closing && off < H.stream_len) {
		uv_buf_t buf;
		size_t n;
		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		/* Mostly short reads, sometimes a large one. */
		n = (rng & 7) == 0 ? (rng >> 8) % 65536 + 1
				   : (rng >> 8) % 23 + 1;
		on_alloc((uv_handle_t *)&c.tcp, 65536, &buf);
		if (buf.base == NULL) {
			/* Growth refused: libuv reports UV_ENOBUFS, the
			 * connection pauses; the owner frees room later and
			 * resumes (here: it allows any size from now on). */
			on_read((uv_stream_t *)&c.tcp, UV_ENOBUFS, &buf);
			FUZZ_CHECK(!c.closing);
			H.budget = SIZE_MAX;
			continue;
		}
		FUZZ_CHECK(buf.len > 0);
		if (n > buf.len)
			n = buf.len;
		if (n > H.stream_len - off)
			n = H.stream_len - off;
		memcpy(buf.base, H.stream + off, n);
		off += n;
		on_read((uv_stream_t *)&c.tcp, (ssize_t)n, &buf);
		/* What stays buffered is one partial frame at most. */
		if (!c.closing)
			FUZZ_CHECK(c.rlen <= c.rcap);
	}
	if (H.want_err != -100) {
		FUZZ_CHECK(H.got == H.n_want);
		if (H.want_err == FRAME_EAGAIN)
			FUZZ_CHECK(H.got_err == 0 && !c.closing);
		else /* which error may depend on how much had arrived
		      * (4 bytes: ETOOBIG; 5: EMAGIC), not whether */
			FUZZ_CHECK(H.got_err != 0 && c.closing);
	}
	conn_close(&c);
	uv_run(loop, UV_RUN_NOWAIT);
	FUZZ_CHECK(H.closed);
	return 0;
}
