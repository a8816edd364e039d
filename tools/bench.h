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

/* One node's NODE_STATUS figures (all zero when it does not answer). */
struct bench_figures {
	unsigned id;
	uint64_t rss, db, snapshots, snap_us, snap_bytes, restore_us;
	uint64_t applied, commit, term;
	uint64_t bytes;	     /* bytes_proposed */
	uint64_t heartbeats; /* group_heartbeats */
	uint64_t assign_max_us, stall_us, apply_us;
	uint32_t members; /* group_members */
};
struct bench_figures bench_figures(struct cluster *c, unsigned id);

/* CONFIG_SET of one cluster-scope key; SYNOD_OK or the error code. */
int bench_set_config(struct cluster *c, const char *key, const char *value);
/* The same at any scope (resource: topic name or group id). */
int bench_set_scoped(struct cluster *c, unsigned scope, const char *resource,
		     const char *key, const char *value);

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
