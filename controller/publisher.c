/* controller/publisher.c - versioned delta delivery (see publisher.h). */
#include "publisher.h"

#include "synod/client.h"

void pub_init(struct publisher *p, size_t max_frame)
{
	p->push_max =
	    max_frame / 2 < PUB_PUSH_MAX ? max_frame / 2 : PUB_PUSH_MAX;
	p->stats = (struct pub_stats){0};
}

void pub_sub_init(struct pub_sub *s, uint64_t version)
{
	s->sc = NULL;
	s->cursor = version;
	s->dropped = 1;
}

void pub_sub_release(struct pub_sub *s)
{
	if (s->sc)
		srv_conn_unref(s->sc);
	s->sc = NULL;
}

void pub_attach(struct pub_sub *s, struct sconn *sc)
{
	if (s->sc == sc)
		return;
	if (s->sc)
		srv_conn_unref(s->sc);
	s->sc = sc;
	srv_conn_ref(sc);
}

static int send_delta(struct pub_sub *s, Synod__Wire__MetadataDelta *d)
{
	struct frame_header h = {.kind = FRAME_PUSH,
				 .api = SYNOD_API_METADATA_PUSH,
				 .api_version = 1};
	if (s->sc == NULL || s->sc->closed ||
	    conn_pending_bytes(&s->sc->conn) > PUB_QUEUE_MAX ||
	    conn_send(&s->sc->conn, &h, &d->base) != 0) {
		s->dropped = 1;
		return -1;
	}
	return 0;
}

int pub_nudge(struct publisher *p, struct pub_sub *s, uint64_t version)
{
	Synod__Wire__MetadataDelta d = SYNOD__WIRE__METADATA_DELTA__INIT;
	s->cursor = version;
	d.prev_version = version;
	d.version = version;
	p->stats.nudges++;
	return send_delta(s, &d);
}

void pub_heartbeat(struct publisher *p, struct pub_sub *s, struct sconn *sc,
		   uint64_t reported)
{
	/* Deltas written to the previous connection may be lost with it. */
	if (s->sc != NULL && s->sc != sc)
		s->dropped = 1;
	pub_attach(s, sc);
	if (!s->dropped || conn_pending_bytes(&sc->conn) >= PUB_QUEUE_MAX / 2)
		return;
	if (reported >= s->cursor) {
		s->dropped = 0; /* it has everything */
		return;
	}
	/* An empty delta whose prev_version cannot match: a gap. */
	if (pub_nudge(p, s, s->cursor) == 0)
		s->dropped = 0;
}

void pub_synced(struct pub_sub *s, uint64_t version, struct sconn *sc)
{
	s->cursor = version;
	if (sc)
		pub_attach(s, sc);
}

int pub_push(struct publisher *p, struct pub_sub *s,
	     Synod__Wire__MetadataDelta *d)
{
	size_t size = protobuf_c_message_get_packed_size(&d->base);
	if (size > p->push_max) {
		p->stats.oversize++;
		return pub_nudge(p, s, d->version);
	}
	d->prev_version = s->cursor;
	/* The cursor moves even when the delta is dropped: the next one
	 * shows a gap and the recipient fetches what it missed. */
	s->cursor = d->version;
	if (send_delta(s, d) != 0) {
		p->stats.dropped++;
		return -1;
	}
	p->stats.pushes++;
	p->stats.bytes += size;
	return 0;
}
