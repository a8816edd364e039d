/* controller/hist.h - latency histograms for /metrics (Prometheus
 * histograms with fixed buckets): requests per API, raft appends to disk,
 * entries from proposal to commit.
 *
 * Plain structs, no allocation; one thread (the loop) updates each. */
#ifndef SYNOD_HIST_H
#define SYNOD_HIST_H

#include <stdint.h>

/* Upper bounds in seconds; a last bucket (+Inf) follows. */
#define HIST_BUCKETS 12
extern const double hist_bounds[HIST_BUCKETS];

struct hist {
	uint64_t count;
	uint64_t bucket[HIST_BUCKETS + 1]; /* not cumulative */
	double sum_s;
};

void hist_observe(struct hist *h, double seconds);

#endif
