/* tests/fuzz/fuzz_common.h - what the fuzz targets share: a reader that
 * takes bytes off the fuzzer's input (running out gives zeros, never
 * fails), and FUZZ_CHECK, which aborts (a crash libFuzzer keeps) when an
 * invariant the target checks does not hold. */
#ifndef SYNOD_FUZZ_COMMON_H
#define SYNOD_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	uint8_t v = 0;
	if (f->n > 0) {
		v = f->p[0];
		f->p++;
		f->n--;
	}
	return v;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t hi = fz_u8(f);
	return (uint16_t)((hi << 8) | fz_u8(f));
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t hi = fz_u16(f);
	return (hi << 16) | fz_u16(f);
}

/* Up to n bytes (fewer at the end of the input); *len gets the count. */
static inline const uint8_t *fz_bytes(struct fz *f, size_t n, size_t *len)
{
	const uint8_t *p = f->p;
	if (n > f->n)
		n = f->n;
	f->p += n;
	f->n -= n;
	*len = n;
	return p;
}

/* Chunked input used by several targets: a sequence of
 * [u8 op][u16 big-endian length][length bytes]. Returns 0 at the end. */
struct fz_chunk {
	uint8_t op;
	const uint8_t *data;
	size_t len;
};

static inline int fz_chunk(struct fz *f, struct fz_chunk *c)
{
	if (f->n == 0)
		return 0;
	c->op = fz_u8(f);
	c->data = fz_bytes(f, fz_u16(f), &c->len);
	return 1;
}

/* Append one chunk to buf (used by the corpus generator). */
static inline size_t fz_put_chunk(uint8_t *buf, uint8_t op, const void *data,
				  size_t len)
{
	buf[0] = op;
	buf[1] = (uint8_t)(len >> 8);
	buf[2] = (uint8_t)len;
	for (size_t i = 0; i < len; i++)
		buf[3 + i] = ((const uint8_t *)data)[i];
	return 3 + len;
}

#endif
