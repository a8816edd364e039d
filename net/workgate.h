/* net/workgate.h - at most so many of the server's own jobs on libuv's
 * thread pool at once; the others wait here, in order.
 *
 * Why: libuv's pool is shared with raft_uv, which does its disk work there
 * (log writes on a file system without non-blocking direct I/O, new
 * segments, snapshots, truncations), and the pool runs jobs in the order
 * they came. Jobs without a bound of their own (the JSON of large HTTP
 * answers, Kafka answers encoded off the loop, large frees) queued in
 * numbers would make raft's disk work wait behind all of them: a burst of
 * Kafka Metadata requests of a large cluster, say, when every client
 * refreshes at a failover. Through the gate at most workgate_limit() of
 * them are in the pool at once, so raft's work waits behind no more
 * (docs/reliability.md 5.19).
 *
 * The gate is one per thread (a loop's thread: the loop's callbacks and
 * every call here run there): it lives as long as the thread, so a job
 * never outlives it. It gates one loop at a time: a job of another loop
 * of the same thread, queued while the gate holds jobs, goes straight to
 * the pool (a job waiting in the gate is no request of its loop, which
 * could end or close meanwhile). Read-only queries are not gated: they
 * are refused past their own bound (controller/query.h). Name lookups
 * (uv_getaddrinfo, up to half of the pool by libuv's own cap) are not
 * either: with host names in addresses and a slow resolver they can
 * still take threads raft_uv would use.
 *
 * Ownership: the caller owns each struct workgate_req and must keep it
 * until its after_cb has been called (as with uv_queue_work); work.data
 * is the caller's. Not thread-safe: the loop's thread.
 */
#ifndef SYNOD_WORKGATE_H
#define SYNOD_WORKGATE_H

#include <uv.h>

struct workgate_req {
	uv_work_t work; /* work.data: the caller's; callbacks get &work */
	/* internal */
	uv_loop_t *loop;
	uv_work_cb work_cb;
	uv_after_work_cb after_cb;
	struct workgate_req *next;
};

/* Jobs in the pool at once through this thread's gate, at least 1
 * (default 8, half of the node's default thread pool). */
void workgate_set_limit(unsigned limit);
unsigned workgate_limit(void);

/* Like uv_queue_work(loop, &r->work, work_cb, after_cb): the job goes to
 * the pool now, or once fewer than the limit are there. 0, or a libuv
 * error (UV_EINVAL without a callback; then neither callback is called).
 * after_cb's status is 0, or, when the pool refuses a job that waited,
 * that error (on the loop's thread; work_cb did not run). Never
 * uv_cancel() a gated request: it may not be in the pool yet. */
int workgate_queue(uv_loop_t *loop, struct workgate_req *r, uv_work_cb work_cb,
		   uv_after_work_cb after_cb);

/* This thread's jobs in the pool now, and waiting in the gate; jobs
 * queued (taken: bypasses included, refused ones not), and those that
 * waited, since the thread began (the node's /metrics:
 * synod_pool_jobs_*). */
unsigned workgate_running(void);
unsigned workgate_waiting(void);
unsigned long long workgate_queued(void);
unsigned long long workgate_waited(void);

#endif
