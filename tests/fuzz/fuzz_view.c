/* tests/fuzz/fuzz_view.c - the broker library's handling of metadata
 * pushes and METADATA_FETCH answers (net/broker.c's on_push, on_fetch,
 * fetch_apply and apply_delta, restated here without the connection;
 * the verdicts are the library's own, view_check and view_check_fetch):
 * decoding, view_validate, view_check, view_apply into the broker's
 * metadata view (net/view.c) and the leadership transitions of each
 * change (net/transitions.c), full images included (the old view is kept
 * and compared with the new one).
 *
 * Input: chunks [op][u16 length][bytes] (fuzz_common.h). op % 4: 0 a
 * push (MetadataDelta), 1 a fetch answer (MetadataFetchResponse: pages
 * and cursors as broker.c follows them), 2 a MetadataDelta applied
 * whatever view_check says (view_apply lets the caller decide), 3 a new
 * fetch starts from the applied version. op / 4 % 8 is the broker's id.
 *
 * Invariants after every step: the counts agree with the walks; every
 * partition and topic walked is found again by id; brokers are sorted by
 * id without repeats; every transition reported says the role the
 * partition has in the view now, and is a change of role or of leader
 * epoch, in (topic id, partition) order. */
#include <string.h>

#include "fuzz_common.h"
#include "synod/client.h"
#include "transitions.h"
#include "view.h"

struct broker {
	int32_t me;
	struct view view;
	struct view trans_old;
	int trans_held;
	size_t fetch_cursor_len;
	uint64_t fetch_since;
};

/* ---- checks ---- */

struct walk {
	const struct view *v;
	size_t n;
	int32_t last_broker;
};

static int walk_partition(void *arg, const Synod__Wire__PartitionState *p)
{
	struct walk *w = arg;
	Synod__Wire__PartitionState again;
	Synod__Wire__TopicState t;
	FUZZ_CHECK(p->topic_id.len == VIEW_TOPIC_ID_LEN);
	FUZZ_CHECK(p->partition >= 0);
	FUZZ_CHECK(view_find_partition(w->v, p->topic_id.data, p->partition,
				       &again) == SYNOD_OK);
	FUZZ_CHECK(again.leader == p->leader &&
		   again.leader_epoch == p->leader_epoch &&
		   again.partition_epoch == p->partition_epoch &&
		   again.n_replicas == p->n_replicas &&
		   again.n_isr == p->n_isr);
	FUZZ_CHECK(view_find_topic(w->v, p->topic_id.data, &t) == SYNOD_OK);
	w->n++;
	return 0;
}

static int walk_topic(void *arg, const Synod__Wire__TopicState *t)
{
	struct walk *w = arg;
	Synod__Wire__TopicState again;
	FUZZ_CHECK(t->topic_id.len == VIEW_TOPIC_ID_LEN && t->name != NULL);
	FUZZ_CHECK(view_find_topic(w->v, t->topic_id.data, &again) == SYNOD_OK);
	FUZZ_CHECK(strcmp(again.name, t->name) == 0);
	w->n++;
	return 0;
}

static int walk_broker(void *arg, const Synod__Wire__BrokerState *b)
{
	struct walk *w = arg;
	Synod__Wire__BrokerState again;
	FUZZ_CHECK(b->id > w->last_broker);
	w->last_broker = b->id;
	FUZZ_CHECK(view_find_broker(w->v, b->id, &again) == SYNOD_OK);
	FUZZ_CHECK(again.epoch == b->epoch &&
		   again.n_endpoints == b->n_endpoints);
	for (size_t i = 0; i < b->n_endpoints; i++)
		FUZZ_CHECK(b->endpoints[i]->name && b->endpoints[i]->host);
	w->n++;
	return 0;
}

static void check_view(const struct view *v)
{
	struct walk w = {v, 0, -1};
	FUZZ_CHECK(view_foreach_partition(v, walk_partition, &w) == 0);
	FUZZ_CHECK(w.n == view_partition_count(v));
	w.n = 0;
	FUZZ_CHECK(view_foreach_topic(v, walk_topic, &w) == 0);
	FUZZ_CHECK(w.n == view_topic_count(v));
	w.n = 0;
	FUZZ_CHECK(view_foreach_broker(v, walk_broker, &w) == 0);
	FUZZ_CHECK(w.n == view_broker_count(v));
}

static void check_transitions(const struct broker *b,
			      const struct trans_set *ts)
{
	for (size_t i = 0; i < ts->n_out; i++) {
		const struct synod_transition *t = &ts->out[i];
		Synod__Wire__PartitionState ps;
		enum synod_role now = SYNOD_ROLE_NONE;
		if (view_find_partition(&b->view, t->topic_id, t->partition,
					&ps) == SYNOD_OK)
			now = trans_role(&ps, b->me);
		FUZZ_CHECK(t->new_role == now);
		if (now != SYNOD_ROLE_NONE)
			FUZZ_CHECK(t->leader == ps.leader &&
				   t->leader_epoch == ps.leader_epoch);
		if (i > 0) {
			const struct synod_transition *p = &ts->out[i - 1];
			int r =
			    memcmp(p->topic_id, t->topic_id, VIEW_TOPIC_ID_LEN);
			FUZZ_CHECK(r < 0 ||
				   (r == 0 && p->partition < t->partition));
		}
	}
}

/* ---- broker.c's handling, without the connection ---- */

static void finish_full_tracked(struct broker *b)
{
	struct trans_set ts;
	trans_init(&ts, b->me);
	if (trans_before_view(&ts, &b->trans_old) == SYNOD_OK &&
	    trans_add_new(&ts, &b->trans_old, &b->view) == SYNOD_OK)
		trans_after(&ts, &b->view);
	if (!ts.failed)
		check_transitions(b, &ts);
	trans_free(&ts);
	view_free(&b->trans_old);
	b->trans_held = 0;
}

static int apply_delta(struct broker *b, const Synod__Wire__MetadataDelta *d,
		       int last)
{
	int full = d->has_full && d->full;
	struct trans_set ts;
	int rv;
	trans_init(&ts, b->me);
	if (full) {
		struct view nv;
		view_init(&nv);
		rv = view_apply(&nv, d);
		if (rv != SYNOD_OK) {
			view_free(&nv);
		} else {
			if (b->trans_held) {
				view_free(&b->view);
			} else {
				b->trans_old = b->view;
				b->trans_held = 1;
			}
			b->view = nv;
		}
	} else {
		if (!b->trans_held)
			trans_before_delta(&ts, &b->view, d);
		rv = view_apply(&b->view, d);
	}
	if (rv != SYNOD_OK) {
		FUZZ_CHECK(rv == SYNOD_EINVALID_REQUEST);
		trans_free(&ts);
		return rv;
	}
	FUZZ_CHECK(b->view.version == d->version);
	if (b->trans_held) {
		if (last)
			finish_full_tracked(b);
	} else {
		trans_after(&ts, &b->view);
		if (!ts.failed)
			check_transitions(b, &ts);
	}
	trans_free(&ts);
	return SYNOD_OK;
}

static void on_push(struct broker *b, const uint8_t *body, size_t len)
{
	Synod__Wire__MetadataDelta *d =
	    synod__wire__metadata_delta__unpack(NULL, len, body);
	if (d == NULL)
		return;
	if (view_validate(d) == SYNOD_OK &&
	    view_check(&b->view, d) == VIEW_APPLY)
		apply_delta(b, d, 1);
	synod__wire__metadata_delta__free_unpacked(d, NULL);
}

static int fetch_apply(struct broker *b, const Synod__Wire__MetadataDelta *d,
		       int last)
{
	int rv = view_validate(d);
	if (rv != SYNOD_OK)
		return rv;
	switch (view_check_fetch(&b->view, d, b->fetch_cursor_len > 0,
				 b->fetch_since)) {
	case VIEW_APPLY:
		return apply_delta(b, d, last);
	case VIEW_STALE:
		return SYNOD_OK;
	default:
		return SYNOD_EINVALID_REQUEST;
	}
}

static void on_fetch(struct broker *b, const uint8_t *body, size_t len)
{
	Synod__Wire__MetadataFetchResponse *r =
	    synod__wire__metadata_fetch_response__unpack(NULL, len, body);
	if (r == NULL)
		return;
	if (r->status->code == SYNOD_OK) {
		int more = r->has_next_cursor && r->next_cursor.len > 0;
		int rv = r->delta ? fetch_apply(b, r->delta, !more)
				  : SYNOD_EINVALID_REQUEST;
		if (rv == SYNOD_OK && more && r->next_cursor.len > 64)
			rv = SYNOD_EINVALID_REQUEST;
		if (rv == SYNOD_OK && more) {
			b->view.version =
			    r->delta->has_restored && r->delta->restored
				? 0
				: b->fetch_since;
			b->fetch_cursor_len = r->next_cursor.len;
		} else {
			b->fetch_cursor_len = 0;
		}
	} else {
		b->fetch_cursor_len = 0;
	}
	synod__wire__metadata_fetch_response__free_unpacked(r, NULL);
}

static void apply_any(struct broker *b, const uint8_t *body, size_t len)
{
	Synod__Wire__MetadataDelta *d =
	    synod__wire__metadata_delta__unpack(NULL, len, body);
	if (d == NULL)
		return;
	if (view_validate(d) == SYNOD_OK) {
		if (b->trans_held)
			finish_full_tracked(b);
		apply_delta(b, d, 1);
	} else {
		/* Refused: nothing changes. */
		uint64_t v = b->view.version;
		size_t n = view_partition_count(&b->view);
		FUZZ_CHECK(view_apply(&b->view, d) == SYNOD_EINVALID_REQUEST);
		FUZZ_CHECK(b->view.version == v &&
			   view_partition_count(&b->view) == n);
	}
	synod__wire__metadata_delta__free_unpacked(d, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	struct fz_chunk c;
	struct broker b;
	memset(&b, 0, sizeof b);
	view_init(&b.view);
	b.me = 1;
	while (fz_chunk(&f, &c)) {
		b.me = (int32_t)(c.op / 4 % 8);
		switch (c.op % 4) {
		case 0:
			on_push(&b, c.data, c.len);
			break;
		case 1:
			on_fetch(&b, c.data, c.len);
			break;
		case 2:
			apply_any(&b, c.data, c.len);
			break;
		default:
			b.fetch_since = b.view.version;
			b.fetch_cursor_len = 0;
			break;
		}
		check_view(&b.view);
		if (b.trans_held)
			check_view(&b.trans_old);
	}
	if (b.trans_held)
		finish_full_tracked(&b);
	view_free(&b.view);
	return 0;
}
