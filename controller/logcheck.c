/* logcheck.c - see logcheck.h. */
#include "logcheck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR 512u
#define FORMAT 1u
#define PREAMBLE 16u	 /* two checksums and the entry count */
#define ENTRY_HEADER 16u /* term, type, unused, size */

struct crc_table {
	uint32_t t[256];
};

static void crc_init(struct crc_table *c)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t v = i << 24;
		for (int k = 0; k < 8; k++)
			v = (v & 0x80000000u) ? (v << 1) ^ 0x04C11DB7u : v << 1;
		c->t[i] = v;
	}
}

static uint32_t crc_run(const struct crc_table *c, const uint8_t *p, size_t len,
			uint32_t crc)
{
	while (len-- > 0)
		crc = (crc << 8) ^ c->t[((crc >> 24) ^ *p++) & 0xffu];
	return crc;
}

uint32_t logcheck_crc32(const void *buf, size_t len, uint32_t crc)
{
	struct crc_table c;
	crc_init(&c);
	return crc_run(&c, buf, len, crc);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* One past the last non-zero byte; 0 when all are zero. */
static size_t data_end(const uint8_t *buf, size_t len)
{
	while (len > 0 && buf[len - 1] == 0)
		len--;
	return len;
}

/* Whether the entry headers of a batch whose header checksum failed look
 * like entry headers as far as they are written (before nz): a count
 * flipped larger reaches into entry data, which does not. */
static int headers_plausible(const uint8_t *buf, size_t off, uint64_t n,
			     size_t nz)
{
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *e = buf + off + PREAMBLE + i * ENTRY_HEADER;
		if (off + PREAMBLE + (i + 1) * ENTRY_HEADER > nz)
			break;
		if (e[8] < 1 || e[8] > 3 || e[9] != 0 || e[10] != 0 ||
		    e[11] != 0)
			return 0;
	}
	return 1;
}

/* Whether the header at off holds a count with one flipped bit: with the
 * bit back, the header passes its checksum. (A count flipped larger would
 * otherwise reach into the zeros after the last batch and look torn.) */
static int count_flipped(const struct crc_table *c, const uint8_t *buf,
			 size_t len, size_t off, uint64_t n)
{
	uint64_t most = (len - off - PREAMBLE) / ENTRY_HEADER;
	for (int bit = 0; bit < 64; bit++) {
		uint64_t m = n ^ ((uint64_t)1 << bit);
		uint8_t le[8];
		uint32_t crc;
		if (m == 0 || m > most)
			continue;
		for (int k = 0; k < 8; k++)
			le[k] = (uint8_t)(m >> (8 * k));
		crc = crc_run(c, le, 8, 0);
		crc = crc_run(c, buf + off + PREAMBLE, (size_t)m * ENTRY_HEADER,
			      crc);
		if (crc == le32(buf + off))
			return 1;
	}
	return 0;
}

/* The batch at off: 1 intact (*end set), 0 bad (*end is how far it
 * claims to reach, or the preamble's end when its count is not sane;
 * *n_out its count when its header was read, 0 when not; *hdr_ok whether
 * its header passed its checksum; why set). */
static int read_batch(const struct crc_table *c, const uint8_t *buf, size_t len,
		      size_t off, size_t *end, uint64_t *n_out, int *hdr_ok,
		      const char **why)
{
	size_t room = len - off, hdr_end;
	uint64_t n, data = 0;
	*end = off + PREAMBLE;
	*n_out = 0;
	*hdr_ok = 0;
	if (room < PREAMBLE) {
		*why = "the batch runs past the end of the file";
		return 0;
	}
	n = le64(buf + off + 8);
	if (n == 0 || n > (room - PREAMBLE) / ENTRY_HEADER) {
		*why = n == 0 ? "a batch of zero entries"
			      : "an entry count larger than the file";
		return 0;
	}
	hdr_end = off + PREAMBLE + (size_t)n * ENTRY_HEADER;
	*end = hdr_end;
	*n_out = n;
	if (crc_run(c, buf + off + 8, hdr_end - off - 8, 0) !=
	    le32(buf + off)) {
		*why = "the batch header fails its checksum";
		return 0;
	}
	*hdr_ok = 1;
	for (uint64_t i = 0; i < n; i++) {
		data += le32(buf + off + PREAMBLE + i * ENTRY_HEADER + 12);
		if (data > len - hdr_end) {
			*end = len + 1;
			*why = "the batch's entries run past the end of the "
			       "file";
			return 0;
		}
	}
	*end = hdr_end + (size_t)data;
	if (crc_run(c, buf + hdr_end, (size_t)data, 0) != le32(buf + off + 4)) {
		*why = "the batch's entries fail their checksum";
		return 0;
	}
	return 1;
}

/* Whether the bad batch at off (claiming to reach end; n, hdr_ok as
 * read_batch says) is a write torn by a crash: zeros from a sector
 * boundary inside it on (nz: one past the file's last non-zero byte),
 * its end within the file, and a header that is either intact or cut,
 * not changed. */
static int torn_batch(const struct crc_table *c, const uint8_t *buf, size_t len,
		      size_t nz, size_t off, size_t end, uint64_t n, int hdr_ok)
{
	size_t first_zero_sector = (nz + SECTOR - 1) / SECTOR * SECTOR;
	if (end > len || first_zero_sector >= end)
		return 0;
	if (hdr_ok)
		return 1;
	return headers_plausible(buf, off, n, nz) &&
	       (n == 0 || !count_flipped(c, buf, len, off, n));
}

void logcheck_open_segment(const uint8_t *buf, size_t len,
			   struct logcheck_result *out)
{
	struct crc_table c;
	size_t nz = data_end(buf, len), off = 8, end;
	const char *why = "";
	uint64_t n = 0;
	int hdr_ok;
	memset(out, 0, sizeof *out);
	out->has_data = nz > 0;
	if (nz == 0)
		return; /* allocated, never written */
	if (len < 8 || le64(buf) != FORMAT) {
		out->verdict = LOGCHECK_DAMAGED;
		snprintf(
		    out->why, sizeof out->why, "format version %llu, not %u",
		    len < 8 ? 0ULL : (unsigned long long)le64(buf), FORMAT);
		return;
	}
	crc_init(&c);
	while (off < nz) {
		if (!read_batch(&c, buf, len, off, &end, &n, &hdr_ok, &why)) {
			int torn =
			    torn_batch(&c, buf, len, nz, off, end, n, hdr_ok);
			out->verdict = torn ? LOGCHECK_TORN : LOGCHECK_DAMAGED;
			out->offset = off;
			snprintf(out->why, sizeof out->why, "%s%s", why,
				 torn ? ", and nothing is written after it "
					"from a sector boundary inside it on"
				      : (end <= len && end < nz
					     ? ", and data follows it"
					     : ""));
			return;
		}
		out->batches++;
		out->entries += n;
		off = end;
	}
}

static int read_whole(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len > 0 ? *len : 1);
	if (*buf == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	while (got < *len) {
		ssize_t r = read(fd, *buf + got, *len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(*buf);
			close(fd);
			errno = e;
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The counters of dir's open-N files, sorted: count, or -1. */
static int list_open(const char *dir, uint64_t **out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		char *rest;
		unsigned long long k;
		if (strncmp(e->d_name, "open-", 5) != 0)
			continue;
		errno = 0;
		k = strtoull(e->d_name + 5, &rest, 10);
		if (errno != 0 || *rest != '\0' || rest == e->d_name + 5)
			continue;
		if (n == cap) {
			uint64_t *w;
			cap = cap ? 2 * cap : 8;
			w = realloc(v, cap * sizeof *v);
			if (w == NULL) {
				free(v);
				closedir(d);
				errno = ENOMEM;
				return -1;
			}
			v = w;
		}
		v[n++] = k;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof *v, cmp_u64);
	*out = v;
	return (int)n;
}

#define WAY_BACK                                                               \
	"This node must not rejoin with this data: remove its data "           \
	"directory and add it back as a new voter (docs/operations.md, "       \
	"'Damaged data directory')"

int logcheck_dir(const char *dir, int *torn_out, char *note, size_t note_size,
		 char *errmsg, size_t errmsg_size)
{
	uint64_t *open = NULL, torn_at = 0;
	int n = list_open(dir, &open), torn = 0, rv = 0;
	struct logcheck_result r, torn_r = {0};
	if (torn_out != NULL)
		*torn_out = 0;
	if (n < 0) {
		snprintf(errmsg, errmsg_size, "cannot list %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	for (int i = 0; i < n && rv == 0; i++) {
		char path[4096];
		uint8_t *buf;
		size_t len;
		snprintf(path, sizeof path, "%s/open-%llu", dir,
			 (unsigned long long)open[i]);
		if (read_whole(path, &buf, &len) != 0) {
			snprintf(errmsg, errmsg_size, "cannot read %s: %s",
				 path, strerror(errno));
			rv = -1;
			break;
		}
		logcheck_open_segment(buf, len, &r);
		free(buf);
		if (torn && r.has_data) {
			snprintf(errmsg, errmsg_size,
				 "%s/open-%llu: a write torn at byte %zu, but "
				 "%s has entries written after it (raft "
				 "writes one segment at a time): damaged, not "
				 "a crash. " WAY_BACK,
				 dir, (unsigned long long)torn_at,
				 torn_r.offset, path);
			rv = 1;
		} else if (r.verdict == LOGCHECK_DAMAGED) {
			snprintf(errmsg, errmsg_size,
				 "%s: byte %zu, after %llu intact batches: %s. "
				 "Not a write torn by a crash: libraft would "
				 "drop the entries from there on. " WAY_BACK,
				 path, r.offset, (unsigned long long)r.batches,
				 r.why);
			rv = 1;
		} else if (r.verdict == LOGCHECK_TORN) {
			torn = 1;
			torn_at = open[i];
			torn_r = r;
			snprintf(note, note_size,
				 "%s: a write torn by a crash at byte %zu, "
				 "after %llu intact batches (%s): raft drops "
				 "it; it was never acknowledged",
				 path, r.offset, (unsigned long long)r.batches,
				 r.why);
		}
	}
	free(open);
	if (rv == 0 && torn_out != NULL)
		*torn_out = torn;
	return rv;
}
