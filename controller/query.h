/* controller/query.h - read-only SQL, API 29 QUERY (docs/operations.md
 * "Read-only SQL"): a module (controller/module.h) any node serves.
 *
 * A query runs on a copy of this node's store (storage/store.h,
 * store_query_*): the copy is taken a slice of pages per loop turn, the
 * query runs on the thread pool over the copy alone, so neither the copy
 * nor the longest query stalls the loop or blocks a write. At most
 * query_max_running() at once (more: BUSY), a quarter of libuv's thread
 * pool, which raft_uv's disk work shares; rows, bytes and time bounded
 * (store.h).
 *
 * Ownership: query_module() fills a struct module for server_register();
 * the module frees itself after the server's close once its queries on
 * the thread pool returned.
 */
#ifndef SYNOD_QUERY_H
#define SYNOD_QUERY_H

#include "module.h"

#define QUERY_MAX_RUNNING 4
#define QUERY_DEFAULT_ROWS 10000
#define QUERY_MAX_ROWS 100000
#define QUERY_DEFAULT_TIMEOUT_MS 5000
#define QUERY_MAX_TIMEOUT_MS 30000
#define QUERY_MAX_BYTES (4u << 20) /* of the answer's values */
#define QUERY_COPY_PAGES 64	   /* pages copied per loop turn */

struct query_srv;

/* Queries that may run at once on a node whose thread pool has
 * pool_threads threads (config thread_pool_size): a quarter of them, 1 to
 * QUERY_MAX_RUNNING, so that raft_uv's disk work, which waits in the same
 * pool, always finds threads that no query holds (reliability.md 5.19). */
unsigned query_max_running(unsigned pool_threads);

/* 0, or -1 when out of memory. */
int query_new(struct server *s, struct query_srv **out);
void query_module(struct query_srv *q, struct module *m);

#endif
