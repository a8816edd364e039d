/* controller/fsm.c - raft_fsm over the store. */
#include "fsm.h"

#include "records.pb-c.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int fsm_apply(struct raft_fsm *rf, const struct raft_buffer *buf,
		     void **result)
{
	struct fsm *f = rf->data;
	uint64_t index = raft_last_applied(f->raft) + 1;
	uint64_t t0 = now_us();
	unsigned max = 0;
	int *statuses = NULL;
	Synod__Rec__RecordBatch *b;
	int rv;
	*result = NULL;
	if (f->failed)
		return RAFT_IOERR;
	if (f->hooks.statuses_for)
		statuses = f->hooks.statuses_for(f->hooks.arg, index, &max);
	/* Decoded once, for the store and for the observers. Out of
	 * memory is not "malformed": skipping here alone would diverge. */
	rv = store_decode_batch(buf->base, buf->len, &b);
	if (rv != STORE_OK) {
		f->failed = 1;
		if (f->hooks.fatal)
			f->hooks.fatal(f->hooks.arg,
				       "out of memory decoding a committed "
				       "entry: stopping rather than skip it");
		return RAFT_NOMEM;
	}
	rv = store_apply_batch(f->store, index, b, statuses, max, NULL);
	if (rv != STORE_OK) {
		if (b)
			synod__rec__record_batch__free_unpacked(b, NULL);
		f->failed = 1;
		if (f->hooks.fatal)
			f->hooks.fatal(f->hooks.arg, store_errmsg(f->store));
		return RAFT_IOERR;
	}
	if (f->hooks.applied)
		f->hooks.applied(f->hooks.arg, index, b);
	if (b)
		synod__rec__record_batch__free_unpacked(b, NULL);
	if (f->digest_every && index >= f->digest_next) {
		uint64_t d;
		if (store_digest(f->store, &d) == STORE_OK)
			f->digests[f->n_digests++ % FSM_DIGESTS] =
			    (struct fsm_digest){index, d};
		f->digest_next =
		    (index / f->digest_every + 1) * f->digest_every;
	}
	if (now_us() - t0 > f->apply_max_us)
		f->apply_max_us = now_us() - t0;
	return 0;
}

static void *raft_alloc(size_t n)
{
	return raft_malloc(n);
}

static int fsm_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[],
			unsigned *n_bufs)
{
	struct fsm *f = rf->data;
	uint64_t t0 = now_us();
	void *data;
	size_t len;
	int rv;
	rv = store_snapshot(f->store, raft_alloc, &data, &len);
	if (rv != STORE_OK)
		return RAFT_NOMEM;
	*bufs = raft_malloc(sizeof **bufs);
	if (*bufs == NULL) {
		raft_free(data);
		return RAFT_NOMEM;
	}
	(*bufs)[0].base = data;
	(*bufs)[0].len = len;
	*n_bufs = 1;
	f->snapshots_taken++;
	f->last_snapshot_us = now_us() - t0;
	f->snapshot_index = raft_last_applied(f->raft);
	f->last_snapshot_bytes = len;
	return 0;
}

static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
	struct fsm *f = rf->data;
	uint64_t t0 = now_us();
	int rv = store_restore(f->store, buf->base, buf->len);
	if (rv != STORE_OK) {
		/* libraft keeps ownership of buf on error. */
		snprintf(f->restore_error, sizeof f->restore_error, "%s",
			 store_errmsg(f->store));
		fprintf(stderr, "synod: snapshot restore failed: %s\n",
			f->restore_error);
		return RAFT_CORRUPT;
	}
	raft_free(buf->base);
	f->snapshots_restored++;
	f->last_restore_us = now_us() - t0;
	f->snapshot_index = store_applied_index(f->store);
	if (f->digest_every)
		f->digest_next =
		    (f->snapshot_index / f->digest_every + 1) * f->digest_every;
	if (f->hooks.restored)
		f->hooks.restored(f->hooks.arg, store_applied_index(f->store));
	return 0;
}

int fsm_init(struct fsm *f)
{
	int rv;
	memset(f, 0, sizeof *f);
	rv = store_open(&f->store);
	if (rv != STORE_OK)
		return rv;
	f->raft_fsm.version = 1;
	f->raft_fsm.data = f;
	f->raft_fsm.apply = fsm_apply;
	f->raft_fsm.snapshot = fsm_snapshot;
	f->raft_fsm.restore = fsm_restore;
	return 0;
}

void fsm_close(struct fsm *f)
{
	store_close(f->store);
	f->store = NULL;
}
