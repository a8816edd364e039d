/* Unit tests for logcheck.c: libraft's open segments told apart as clean,
 * torn by a crash, or damaged.
 *
 * The invariant protected: a node never starts from an open segment that
 * libraft would cut short when the cut drops entries that were written
 * whole (so perhaps acknowledged); a write torn by a crash (whole sectors
 * missing from a point inside the last batch on) still starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../controller/logcheck.h"

#define SEG_LEN (64 * 1024)

struct seg {
	uint8_t buf[SEG_LEN];
	size_t used;
	size_t batch_off[64];
	size_t batch_end[64];
	int batches;
	uint64_t entries;
};

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A batch of n entries whose data are sizes[i] bytes, none zero. */
static void add_batch(struct seg *s, unsigned n, const uint32_t *sizes,
		      unsigned *rnd)
{
	uint8_t *b = s->buf + s->used;
	size_t hdr = 8 + 16 * (size_t)n, data = 0;
	put64(b + 8, n);
	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = b + 16 + 16 * i;
		put64(e, 7);		 /* term */
		e[8] = 1;		 /* RAFT_COMMAND */
		put32(e + 12, sizes[i]); /* size */
		for (uint32_t k = 0; k < sizes[i]; k++) {
			*rnd = *rnd * 1103515245u + 12345u;
			b[8 + hdr + data + k] =
			    (uint8_t)(1 + (*rnd >> 16) % 255);
		}
		data += sizes[i];
	}
	put32(b, logcheck_crc32(b + 8, hdr, 0));
	put32(b + 4, logcheck_crc32(b + 8 + hdr, data, 0));
	s->batch_off[s->batches] = s->used;
	s->used += 8 + hdr + data;
	s->batch_end[s->batches++] = s->used;
	s->entries += n;
}

/* A batch of one barrier entry: 8 bytes of zeros (libraft appends one at
 * every election a node wins). */
static void add_barrier(struct seg *s)
{
	uint8_t *b = s->buf + s->used;
	put64(b + 8, 1);
	put64(b + 16, 7);
	b[24] = 2; /* RAFT_BARRIER */
	put32(b + 28, 8);
	memset(b + 32, 0, 8);
	put32(b, logcheck_crc32(b + 8, 24, 0));
	put32(b + 4, logcheck_crc32(b + 32, 8, 0));
	s->batch_off[s->batches] = s->used;
	s->used += 40;
	s->batch_end[s->batches++] = s->used;
	s->entries += 1;
}

/* format 1 and 12 batches of 1-3 entries of 8-400 bytes. */
static void build(struct seg *s)
{
	unsigned rnd = 42;
	memset(s, 0, sizeof *s);
	put64(s->buf, 1);
	s->used = 8;
	for (int i = 0; i < 12; i++) {
		uint32_t sizes[3];
		unsigned n = 1 + (unsigned)i % 3;
		for (unsigned k = 0; k < n; k++)
			sizes[k] =
			    8 * (1 + (unsigned)(i * 7 + (int)k * 13) % 50);
		add_batch(s, n, sizes, &rnd);
	}
}

static void check(const struct seg *s, enum logcheck_verdict want,
		  size_t want_off)
{
	struct logcheck_result r;
	logcheck_open_segment(s->buf, SEG_LEN, &r);
	if (r.verdict != want ||
	    (want != LOGCHECK_CLEAN && r.offset != want_off))
		fail_msg("verdict %d at %zu (%s), want %d at %zu", r.verdict,
			 r.offset, r.why, want, want_off);
}

static void test_crc(void **state)
{
	(void)state;
	/* CRC-32 with polynomial 0x04C11DB7, not reflected, init 0, no xor */
	assert_int_equal(logcheck_crc32("123456789", 9, 0), 0x89A1897Fu);
	assert_int_equal(
	    logcheck_crc32("56789", 5, logcheck_crc32("1234", 4, 0)),
	    0x89A1897Fu);
}

static void test_clean(void **state)
{
	struct seg *s = malloc(sizeof *s);
	struct logcheck_result r;
	(void)state;
	build(s);
	logcheck_open_segment(s->buf, SEG_LEN, &r);
	assert_int_equal(r.verdict, LOGCHECK_CLEAN);
	assert_int_equal(r.batches, 12);
	assert_int_equal(r.entries, s->entries);
	assert_true(r.has_data);
	memset(s->buf, 0, SEG_LEN); /* allocated, never written */
	logcheck_open_segment(s->buf, SEG_LEN, &r);
	assert_int_equal(r.verdict, LOGCHECK_CLEAN);
	assert_false(r.has_data);
	free(s);
}

/* A crash leaves whole sectors from any sector boundary inside a batch
 * unwritten (zero), and every later batch with them: torn, there. */
static void test_torn_at_every_sector(void **state)
{
	struct seg *s = malloc(sizeof *s), *t = malloc(sizeof *t);
	int checked = 0;
	(void)state;
	build(s);
	for (int b = 0; b < s->batches; b++) {
		size_t x = (s->batch_off[b] / 512 + 1) * 512;
		for (; x < s->batch_end[b]; x += 512) {
			*t = *s;
			memset(t->buf + x, 0, SEG_LEN - x);
			check(t, LOGCHECK_TORN, s->batch_off[b]);
			checked++;
		}
		/* Not reached at all: the batch is zeros, the end. */
		*t = *s;
		memset(t->buf + s->batch_off[b], 0, SEG_LEN - s->batch_off[b]);
		check(t, LOGCHECK_CLEAN, 0);
	}
	assert_true(checked >= 4);
	free(s);
	free(t);
}

/* One bit flipped anywhere in the written bytes is damage, never taken
 * for a torn write (no entry here ends in zeros). */
static void test_every_flip_is_damage(void **state)
{
	struct seg *s = malloc(sizeof *s), *t = malloc(sizeof *t);
	(void)state;
	build(s);
	for (size_t i = 0; i < s->used; i++) {
		struct logcheck_result r;
		*t = *s;
		t->buf[i] ^= (uint8_t)(1u << (i % 8));
		logcheck_open_segment(t->buf, SEG_LEN, &r);
		if (r.verdict != LOGCHECK_DAMAGED)
			fail_msg("flip at %zu: verdict %d (%s)", i, r.verdict,
				 r.why);
	}
	free(s);
	free(t);
}

/* A flipped bit in the entry count of a last batch whose data is zeros
 * (a barrier): the header it claims reaches into the zeros after it, as
 * a torn one would; the count is known flipped, so it is damage. */
static void test_flipped_count_in_last_batch(void **state)
{
	struct seg *s = malloc(sizeof *s), *t = malloc(sizeof *t);
	struct logcheck_result r;
	size_t last;
	(void)state;
	build(s);
	add_barrier(s);
	last = s->batch_off[s->batches - 1];
	logcheck_open_segment(s->buf, SEG_LEN, &r);
	assert_int_equal(r.verdict, LOGCHECK_CLEAN);
	assert_int_equal(r.batches, 13);
	for (int bit = 0; bit < 64; bit++) {
		*t = *s;
		t->buf[last + 8 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		check(t, LOGCHECK_DAMAGED, last);
	}
	free(s);
	free(t);
}

static void test_other_damage(void **state)
{
	struct seg *s = malloc(sizeof *s), *t = malloc(sizeof *t);
	struct logcheck_result r;
	(void)state;
	build(s);
	/* A sector missing inside the last batch, its end written: sectors
	 * out of order, refused. */
	*t = *s;
	{
		size_t b = (size_t)s->batches - 1, x;
		x = (s->batch_off[b] / 512 + 1) * 512;
		if (x + 512 < s->batch_end[b]) {
			memset(t->buf + x, 0, 512);
			check(t, LOGCHECK_DAMAGED, s->batch_off[b]);
		}
	}
	/* A zeroed batch in the middle with data after it. */
	*t = *s;
	memset(t->buf + s->batch_off[3], 0, s->batch_end[3] - s->batch_off[3]);
	check(t, LOGCHECK_DAMAGED, s->batch_off[3]);
	/* Another format, or none with data. */
	*t = *s;
	put64(t->buf, 2);
	check(t, LOGCHECK_DAMAGED, 0);
	put64(t->buf, 0);
	check(t, LOGCHECK_DAMAGED, 0);
	/* A file cut inside a batch (open segments are preallocated). */
	logcheck_open_segment(s->buf, s->batch_end[5] - 3, &r);
	assert_int_equal(r.verdict, LOGCHECK_DAMAGED);
	assert_int_equal(r.offset, s->batch_off[5]);
	/* Shorter than the format word. */
	logcheck_open_segment(s->buf, 4, &r);
	assert_int_equal(r.verdict, LOGCHECK_DAMAGED);
	free(s);
	free(t);
}

static void write_file(const char *dir, const char *name, const uint8_t *buf,
		       size_t len)
{
	char path[512];
	FILE *f;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* logcheck_dir on dir, with its buffers. */
static int check_dir(const char *dir, int *torn, char *note, char *err)
{
	return logcheck_dir(dir, torn, note, 512, err, 1024);
}

static void test_dir(void **state)
{
	struct seg *s = malloc(sizeof *s), *t = malloc(sizeof *t);
	char dir[] = "/tmp/test_logcheck-XXXXXX", note[512], err[1024],
	     cmd[600];
	uint8_t zeros[4096] = {0};
	int torn = -1;
	size_t x;
	(void)state;
	assert_non_null(mkdtemp(dir));
	build(s);
	*t = *s;
	x = (s->batch_off[11] / 512 + 1) * 512;
	memset(t->buf + x, 0, SEG_LEN - x);

	/* open-1 full and clean, open-2 torn, open-3 not yet written. */
	write_file(dir, "open-1", s->buf, SEG_LEN);
	write_file(dir, "open-2", t->buf, SEG_LEN);
	write_file(dir, "open-3", zeros, sizeof zeros);
	note[0] = '\0';
	assert_int_equal(check_dir(dir, &torn, note, err), 0);
	assert_int_equal(torn, 1);
	assert_non_null(strstr(note, "open-2: a write torn by a crash"));

	/* A torn open-2 with entries in open-10 (numeric order): damage. */
	write_file(dir, "open-10", s->buf, SEG_LEN);
	assert_int_equal(check_dir(dir, &torn, note, err), 1);
	assert_non_null(strstr(err, "open-2: a write torn at byte"));
	assert_non_null(strstr(err, "open-10 has entries"));

	/* A flipped bit in open-1: damage naming the file and the byte. */
	snprintf(cmd, sizeof cmd, "%s/open-10", dir);
	unlink(cmd);
	*t = *s;
	t->buf[s->batch_off[4] + 30] ^= 4;
	write_file(dir, "open-1", t->buf, SEG_LEN);
	assert_int_equal(check_dir(dir, &torn, note, err), 1);
	assert_non_null(strstr(err, "open-1: byte"));
	assert_non_null(strstr(err, "Damaged data directory"));

	/* No directory: nothing to check. */
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(check_dir(dir, &torn, note, err), 0);
	assert_int_equal(torn, 0);
	free(s);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc),
	    cmocka_unit_test(test_clean),
	    cmocka_unit_test(test_torn_at_every_sector),
	    cmocka_unit_test(test_every_flip_is_damage),
	    cmocka_unit_test(test_flipped_count_in_last_batch),
	    cmocka_unit_test(test_other_damage),
	    cmocka_unit_test(test_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
