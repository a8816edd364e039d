/* controller/publisher.h - delivery of versioned metadata deltas to their
 * recipients (brokers now; group members next).
 *
 * The deciding modules (topics) say what changed; the publisher delivers
 * it and keeps delivery honest:
 * - A recipient (struct pub_sub, embedded in the recipient's own record:
 *   a broker session) has a cursor: the version of the last delta made for
 *   it, sent or not. Each delta carries prev_version = the cursor, so the
 *   recipient applies it only on top of exactly what it holds and fetches
 *   on any gap.
 * - Deltas go on the connection the recipient last spoke on
 *   (pub_attach: its heartbeats, pub_synced: its fetches). Speaking on
 *   another connection marks earlier deltas possibly lost.
 * - Queue limit: when the connection's output passes PUB_QUEUE_MAX, or it
 *   is closed, a delta is dropped and the cursor still moves: the next
 *   delta shows the recipient a gap. A dropped (or possibly lost) delta
 *   is also announced at the recipient's next heartbeat by a nudge, an
 *   empty delta with prev_version = version = the cursor, unless it
 *   reports being at the cursor already.
 * - A delta larger than PUB_PUSH_MAX (or half the max frame) is not sent:
 *   the recipient is nudged and fetches it in pages.
 * - Resync: a new active controller starts every cursor at its applied
 *   version (pub_sub_init) with a nudge pending.
 *
 * Ownership: a pub_sub holds a reference on its connection (released by
 * pub_sub_release). Deltas passed in are the caller's (packed before the
 * call returns).
 */
#ifndef SYNOD_PUBLISHER_H
#define SYNOD_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include "server_int.h"
#include "synod.pb-c.h"

/* Output queued on a recipient's connection above which deltas to it are
 * dropped (it catches up with a fetch). */
#define PUB_QUEUE_MAX (4u << 20)
/* Largest delta sent as it is; above it (or half of max_frame) a nudge. */
#define PUB_PUSH_MAX (1u << 20)

struct pub_stats {
	uint64_t pushes;   /* deltas sent */
	uint64_t dropped;  /* ... dropped (queue full, no connection) */
	uint64_t oversize; /* ... sent as nudges instead */
	uint64_t nudges;
	uint64_t bytes; /* of the deltas sent */
};

struct publisher {
	size_t push_max; /* min(PUB_PUSH_MAX, max_frame / 2) */
	struct pub_stats stats;
};

struct pub_sub {
	struct sconn *sc; /* where deltas go (a reference), or NULL */
	uint64_t cursor;  /* version of the last delta made for it */
	int dropped;	  /* a delta was dropped or may be lost: nudge */
};

void pub_init(struct publisher *p, size_t max_frame);
/* A recipient with cursor `version`, no connection yet, nudge pending. */
void pub_sub_init(struct pub_sub *s, uint64_t version);
void pub_sub_release(struct pub_sub *s);
/* The recipient spoke on sc: deltas go there. */
void pub_attach(struct pub_sub *s, struct sconn *sc);
/* A heartbeat on sc reporting version `reported`: attach, and nudge when
 * deltas were dropped or sent on another connection and it is behind. */
void pub_heartbeat(struct publisher *p, struct pub_sub *s, struct sconn *sc,
		   uint64_t reported);
/* The recipient fetched everything up to version on sc (sc may be NULL:
 * keep the connection). Deltas continue from there. */
void pub_synced(struct pub_sub *s, uint64_t version, struct sconn *sc);
/* Send d (sets d->prev_version; the cursor moves to d->version even when
 * it is dropped). 0 when sent (or, too large, nudged instead), -1 when
 * dropped. */
int pub_push(struct publisher *p, struct pub_sub *s,
	     Synod__Wire__MetadataDelta *d);
/* Move the cursor to version and send an empty delta that cannot apply
 * (prev_version = version): a recipient behind it fetches. 0 when sent. */
int pub_nudge(struct publisher *p, struct pub_sub *s, uint64_t version);

#endif
