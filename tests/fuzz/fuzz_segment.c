/* tests/fuzz/fuzz_segment.c - the check of libraft's open log segments
 * that runs before every start (controller/logcheck.c): a segment file
 * is outside input (the disk, a copy, a bit flip).
 *
 * Input: the content of one open segment (libFuzzer keeps inputs short:
 * the preallocated zeros of a real one are left out).
 *
 * Invariants: nothing crashes; the verdict is one of three and the same
 * twice; a bad batch's offset lies in the input, after the format word;
 * every intact batch holds at least one entry; the reason is a
 * terminated string, empty for a clean segment; a segment of zeros is
 * clean and says it holds no data. */
#include <string.h>

#include "fuzz_common.h"
#include "logcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct logcheck_result a, b;
	size_t i;
	logcheck_open_segment(data, size, &a);
	logcheck_open_segment(data, size, &b);
	FUZZ_CHECK(memcmp(&a, &b, sizeof a) == 0);
	FUZZ_CHECK(a.verdict == LOGCHECK_CLEAN || a.verdict == LOGCHECK_TORN ||
		   a.verdict == LOGCHECK_DAMAGED);
	FUZZ_CHECK(memchr(a.why, '\0', sizeof a.why) != NULL);
	FUZZ_CHECK(a.entries >= a.batches);
	if (a.verdict == LOGCHECK_CLEAN)
		FUZZ_CHECK(a.why[0] == '\0');
	else
		FUZZ_CHECK(a.offset < size || (a.offset == 0 && size < 8));
	if (a.verdict == LOGCHECK_TORN)
		FUZZ_CHECK(a.offset >= 8 && a.has_data);
	for (i = 0; i < size && data[i] == 0; i++)
		;
	if (i == size)
		FUZZ_CHECK(a.verdict == LOGCHECK_CLEAN && !a.has_data);
	return 0;
}
