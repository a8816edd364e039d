/* controller/recbuf.c - record lists for one proposal. */
#include "recbuf.h"

#include <stdlib.h>
#include <string.h>

void recbuf_init(struct recbuf *rb)
{
	memset(rb, 0, sizeof *rb);
}

void *recbuf_alloc(struct recbuf *rb, size_t size)
{
	void *p;
	if (rb->n_allocs == rb->cap_allocs) {
		size_t cap = rb->cap_allocs ? rb->cap_allocs * 2 : 64;
		void **a = realloc(rb->allocs, cap * sizeof *a);
		if (a == NULL) {
			rb->failed = 1;
			return NULL;
		}
		rb->allocs = a;
		rb->cap_allocs = cap;
	}
	p = calloc(1, size ? size : 1);
	if (p == NULL) {
		rb->failed = 1;
		return NULL;
	}
	rb->allocs[rb->n_allocs++] = p;
	return p;
}

Synod__Rec__Record *recbuf_add(struct recbuf *rb)
{
	Synod__Rec__Record *r;
	if (rb->n == rb->cap) {
		unsigned cap = rb->cap ? rb->cap * 2 : 16;
		void *a = realloc(rb->recs, cap * sizeof *rb->recs);
		if (a == NULL) {
			rb->failed = 1;
			return NULL;
		}
		rb->recs = a;
		rb->cap = cap;
	}
	r = recbuf_alloc(rb, sizeof *r);
	if (r == NULL)
		return NULL;
	synod__rec__record__init(r);
	rb->recs[rb->n++] = r;
	return r;
}

void recbuf_free(struct recbuf *rb)
{
	for (size_t i = 0; i < rb->n_allocs; i++)
		free(rb->allocs[i]);
	free(rb->allocs);
	free(rb->recs);
	memset(rb, 0, sizeof *rb);
}
