/* tools/bench.h - what synod-bench's sections share (tools/bench.c is the
 * program; tools/bench_groups.c the consumer group section). Figures are
 * printed, never asserted. */
#ifndef SYNOD_TOOLS_BENCH_H
#define SYNOD_TOOLS_BENCH_H

#include <stdint.h>
#include <sys/types.h>

#include "cluster.h"

/* User + system CPU ticks (sysconf(_SC_CLK_TCK) per second) of pid. */
int bench_cpu_ticks(pid_t pid, uint64_t *ticks);

/* CONFIG_SET of one cluster-scope key; SYNOD_OK or the error code. */
int bench_set_config(struct cluster *c, const char *key, const char *value);

/* Consumer groups: members heartbeating in many small groups (CPU,
 * latency, false fences, RSS and raft bytes per member), then one large
 * group's member crash to stable. */
struct bench_groups_opts {
	unsigned members;	 /* small-group members in all */
	unsigned groups;	 /* they are spread over this many groups */
	unsigned topics;	 /* group g subscribes to topic g % topics */
	unsigned topic_parts;	 /* partitions of each of those topics */
	unsigned conns;		 /* connections the members share */
	unsigned big_members;	 /* the large group (0: skipped) */
	unsigned big_partitions; /* its one topic */
	unsigned big_session_ms; /* its session (a group override) */
	double window;		 /* seconds of steady heartbeats measured */
};

/* 0, or -1 when a section could not run to its end (message printed). */
int bench_groups(struct cluster *c, const struct bench_groups_opts *o);

#endif
