/* controller/hist.c - latency histograms (see hist.h). */
#include "hist.h"

const double hist_bounds[HIST_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0};

void hist_observe(struct hist *h, double seconds)
{
	unsigned b = 0;
	while (b < HIST_BUCKETS && seconds > hist_bounds[b])
		b++;
	h->bucket[b]++;
	h->count++;
	h->sum_s += seconds;
}
