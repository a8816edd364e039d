/* controller/recbuf.h - a growing list of raft records being built for one
 * proposal, with an arena for their nested messages. node_propose() packs
 * the records at once, so a recbuf is freed right after proposing.
 * Ownership: everything reachable from the records is owned by the recbuf
 * unless it points to memory the caller keeps alive until the propose.
 */
#ifndef SYNOD_RECBUF_H
#define SYNOD_RECBUF_H

#include <stddef.h>

#include "records.pb-c.h"

struct recbuf {
	Synod__Rec__Record **recs;
	unsigned n, cap;
	void **allocs;
	size_t n_allocs, cap_allocs;
	int failed; /* an allocation failed: do not propose */
};

void recbuf_init(struct recbuf *rb);
/* A new zeroed, initialised record appended to the list (NULL on OOM). */
Synod__Rec__Record *recbuf_add(struct recbuf *rb);
/* Zeroed memory freed with the recbuf (NULL on OOM). */
void *recbuf_alloc(struct recbuf *rb, size_t size);
void recbuf_free(struct recbuf *rb);

#endif
