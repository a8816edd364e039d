/* logcheck.h - reads libraft's open log segments before raft does, to tell
 * a write torn by a crash from damage.
 *
 * Why: libraft 0.22 (src/uv_segment.c, uvSegmentLoadOpen) truncates an
 * open segment at the first batch that fails its checksums and starts
 * without the entries from there on, whatever follows. After a crash in
 * the middle of a write that is right: the torn batch was never written
 * whole, so never acknowledged. After a bit flip it is not: the entries
 * from the flip on were on disk, perhaps acknowledged, and the node would
 * vote as if it never had them (docs/reliability.md 5.9).
 *
 * The model of a torn write: a disk persists a write sector by sector in
 * order, so a crash leaves a prefix of whole 512-byte sectors, and the
 * rest of the file as it was: zeros (libraft preallocates each open
 * segment with zeros and never reuses one). So a bad batch is a torn
 * write when the file holds only zeros from a sector boundary before the
 * batch's end on: the data stops inside the batch. Anything else is
 * damage: a batch that fails its checksums with data after it, a sector
 * inside the batch where only the end is missing, a torn batch in an open
 * segment older than one with entries (libraft writes one segment at a
 * time). A batch whose header fails its checksum counts as torn only
 * when its entry headers look like entry headers as far as they are
 * written and its count is not one bit away from a count the checksum
 * accepts (a count flipped larger would reach into the zeros). Writes
 * torn out of sector order are refused too (safe, not available: the
 * node is rebuilt, or started with accept_damaged_log_tail). A flip in
 * the data of the last batch is taken for a torn write when that batch's
 * trailing zeros cross a sector boundary (the batch is dropped).
 *
 * Segment format 1 (little endian): u64 format; batches of u32 header
 * checksum, u32 data checksum, u64 n, n entry headers (u64 term, u8
 * type, 3 unused, u32 size), then the entries' data. Checksums are
 * CRC-32 (polynomial 0x04C11DB7, not reflected, initial value 0, no
 * final xor) of the header (from n) and of the data.
 *
 * Pure functions except logcheck_dir (reads files). No allocation is
 * kept: results are plain structs the caller owns.
 */
#ifndef SYNOD_LOGCHECK_H
#define SYNOD_LOGCHECK_H

#include <stddef.h>
#include <stdint.h>

enum logcheck_verdict {
	LOGCHECK_CLEAN = 0, /* every batch intact, zeros after the last */
	LOGCHECK_TORN,	    /* the last batch was torn by a crash */
	LOGCHECK_DAMAGED,   /* damage: starting would lose entries */
};

struct logcheck_result {
	enum logcheck_verdict verdict;
	uint64_t batches; /* intact batches before the end or the bad one */
	uint64_t entries; /* entries in those batches */
	size_t offset;	  /* where the bad batch starts (TORN, DAMAGED) */
	int has_data;	  /* the segment holds anything but zeros */
	char why[160];	  /* what is wrong (TORN, DAMAGED) */
};

/* CRC-32 as libraft computes its segment checksums, continuing from crc. */
uint32_t logcheck_crc32(const void *buf, size_t len, uint32_t crc);

/* Classifies the content of one open segment (buf, len bytes). */
void logcheck_open_segment(const uint8_t *buf, size_t len,
			   struct logcheck_result *out);

/* Checks the open segments (open-N) of the raft directory dir, oldest
 * first. Returns 0 when they are intact or end in a torn write (then
 * *torn_out, when not NULL, is set and note names the file and offset),
 * 1 when one is damaged (errmsg names the file, the byte and why), -1
 * when one cannot be read (errmsg). */
int logcheck_dir(const char *dir, int *torn_out, char *note, size_t note_size,
		 char *errmsg, size_t errmsg_size);

#endif
