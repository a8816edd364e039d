/* Unit tests: broker lifecycle decisions (controller/lifecycle.c, pure) and
 * the broker records' apply rules in the store (epochs, preconditions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lifecycle.h"
#include "records.pb-c.h"
#include "store.h"
#include "synod/client.h"

static struct lc_broker broker(uint64_t epoch, const char *inc, int fenced,
			       uint64_t deadline)
{
	struct lc_broker b = {epoch, inc, fenced, 0, deadline, 0, 0};
	return b;
}

static void test_register_rules(void **state)
{
	struct lc_broker b = broker(10, "inc-a", 0, 5000);
	(void)state;
	/* Unknown id: a new registration. */
	assert_int_equal(lc_register(NULL, "inc-a", 0), LC_REG_NEW);
	/* Same incarnation (retry after a lost answer): same epoch. */
	assert_int_equal(lc_register(&b, "inc-a", 100), LC_REG_SAME);
	assert_int_equal(lc_register(&b, "inc-a", 999999), LC_REG_SAME);
	/* Another incarnation while the session lives: refused... */
	assert_int_equal(lc_register(&b, "inc-b", 4999), LC_REG_DUPLICATE);
	/* ...also when the live one is fenced (it still heartbeats)... */
	b.fenced = 1;
	assert_int_equal(lc_register(&b, "inc-b", 4999), LC_REG_DUPLICATE);
	/* ...but not when it is fenced and only a takeover's grace keeps
	 * its session (it leads nothing)... */
	b.unheard = 1;
	assert_int_equal(lc_register(&b, "inc-b", 0), LC_REG_NEW);
	/* ...while an unfenced one unheard since the takeover is kept (it
	 * may lead: a failover must not replace a live broker)... */
	b.fenced = 0;
	assert_int_equal(lc_register(&b, "inc-b", 4999), LC_REG_DUPLICATE);
	b.unheard = 0;
	b.fenced = 1;
	/* ...accepted once the session expired... */
	assert_int_equal(lc_register(&b, "inc-b", 5000), LC_REG_NEW);
	/* ...or once the old one finished a controlled shutdown. */
	b.stop_acknowledged = 1;
	assert_int_equal(lc_register(&b, "inc-b", 0), LC_REG_NEW);
}

static void test_heartbeat_errors(void **state)
{
	struct lc_broker b = broker(10, "inc-a", 1, 5000);
	struct lc_heartbeat hb;
	(void)state;
	lc_heartbeat(NULL, 10, 10, 0, 0, &hb);
	assert_int_equal(hb.error, SYNOD_EUNKNOWN_BROKER);
	assert_false(hb.renew);
	/* A zombie with an older epoch must not act, nor renew anything. */
	lc_heartbeat(&b, 9, 100, 0, 0, &hb);
	assert_int_equal(hb.error, SYNOD_ESTALE_BROKER_EPOCH);
	assert_false(hb.renew);
	assert_int_equal(hb.action, LC_NONE);
	lc_heartbeat(&b, 11, 100, 0, 0, &hb);
	assert_int_equal(hb.error, SYNOD_ESTALE_BROKER_EPOCH);
}

static void test_unfence_when_caught_up(void **state)
{
	struct lc_broker b = broker(10, "inc-a", 1, 5000);
	struct lc_heartbeat hb;
	(void)state;
	/* Behind its own registration: stays fenced. */
	lc_heartbeat(&b, 10, 9, 0, 0, &hb);
	assert_int_equal(hb.error, 0);
	assert_true(hb.renew);
	assert_false(hb.is_caught_up);
	assert_int_equal(hb.action, LC_NONE);
	assert_true(hb.is_fenced);
	/* Caught up: unfence. */
	lc_heartbeat(&b, 10, 10, 0, 0, &hb);
	assert_true(hb.is_caught_up);
	assert_int_equal(hb.action, LC_UNFENCE);
	assert_false(hb.is_fenced);
	/* Already unfenced: nothing to commit. */
	b.fenced = 0;
	lc_heartbeat(&b, 10, 50, 0, 0, &hb);
	assert_int_equal(hb.action, LC_NONE);
	assert_false(hb.is_fenced);
	/* The broker asks to be fenced. */
	lc_heartbeat(&b, 10, 50, 1, 0, &hb);
	assert_int_equal(hb.action, LC_FENCE);
	assert_true(hb.is_fenced);
	b.fenced = 1;
	lc_heartbeat(&b, 10, 50, 1, 0, &hb);
	assert_int_equal(hb.action, LC_NONE);
	assert_true(hb.is_fenced);
}

static void test_controlled_shutdown(void **state)
{
	struct lc_broker b = broker(10, "inc-a", 0, 5000);
	struct lc_heartbeat hb;
	(void)state;
	lc_heartbeat(&b, 10, 50, 0, 1, &hb);
	assert_int_equal(hb.action, LC_SHUTDOWN);
	assert_true(hb.should_shutdown);
	assert_true(hb.is_fenced);
	/* Committed: later heartbeats (even without the flag) keep saying
	 * stop, and never unfence. */
	b.shutting_down = 1;
	b.fenced = 1;
	lc_heartbeat(&b, 10, 50, 0, 0, &hb);
	assert_int_equal(hb.action, LC_NONE);
	assert_true(hb.should_shutdown);
	assert_true(hb.is_fenced);
}

static void test_session_expiry_and_grace(void **state)
{
	struct lc_broker b = broker(10, "inc-a", 0, 0);
	(void)state;
	b.deadline_ms = lc_deadline(1000, 9000);
	assert_int_equal(b.deadline_ms, 10000);
	assert_false(lc_should_fence(&b, 9999));
	assert_true(lc_should_fence(&b, 10000));
	/* Fenced brokers are not fenced again. */
	b.fenced = 1;
	assert_false(lc_should_fence(&b, 20000));
	/* Takeover: a broker whose last heartbeat the new controller never
	 * saw gets a full session from the takeover moment. */
	b.fenced = 0;
	b.deadline_ms = lc_deadline(50000, 9000);
	assert_false(lc_should_fence(&b, 58999));
	assert_true(lc_should_fence(&b, 59000));
}

/* ---- store apply of broker records ---- */

static int apply(struct store *s, uint64_t index,
		 Synod__Rec__Record *const *recs, size_t n, int *st)
{
	Synod__Rec__RecordBatch b = SYNOD__REC__RECORD_BATCH__INIT;
	uint8_t buf[4096];
	size_t len;
	b.version = 1;
	b.has_timestamp_ms = 1;
	b.timestamp_ms = 1700000000000ULL + index;
	b.n_records = n;
	b.records = (Synod__Rec__Record **)recs;
	len = synod__rec__record_batch__pack(&b, buf);
	return store_apply(s, index, buf, len, st, (unsigned)n, NULL);
}

static int reg(struct store *s, uint64_t index, int32_t id, const char *inc,
	       uint64_t expected)
{
	Synod__Rec__RegisterBroker rb = SYNOD__REC__REGISTER_BROKER__INIT;
	Synod__Rec__BrokerEndpoint ep = SYNOD__REC__BROKER_ENDPOINT__INIT;
	Synod__Rec__BrokerEndpoint *epp = &ep;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	Synod__Rec__Record *rp = &r;
	int st = -1;
	ep.name = "PLAINTEXT";
	ep.host = "10.0.0.1";
	ep.port = 9092;
	ep.security_protocol = "PLAINTEXT";
	rb.broker_id = id;
	rb.incarnation_id = (char *)inc;
	rb.rack = "r1";
	rb.n_endpoints = 1;
	rb.endpoints = &epp;
	rb.expected_epoch = expected;
	r.body_case = SYNOD__REC__RECORD__BODY_REGISTER_BROKER;
	r.register_broker = &rb;
	assert_int_equal(apply(s, index, &rp, 1, &st), STORE_OK);
	return st;
}

static int fence(struct store *s, uint64_t index, int32_t id, uint64_t epoch,
		 int on)
{
	Synod__Rec__FenceBroker f = SYNOD__REC__FENCE_BROKER__INIT;
	Synod__Rec__UnfenceBroker u = SYNOD__REC__UNFENCE_BROKER__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	Synod__Rec__Record *rp = &r;
	int st = -1;
	if (on) {
		f.broker_id = id;
		f.epoch = epoch;
		r.body_case = SYNOD__REC__RECORD__BODY_FENCE_BROKER;
		r.fence_broker = &f;
	} else {
		u.broker_id = id;
		u.epoch = epoch;
		r.body_case = SYNOD__REC__RECORD__BODY_UNFENCE_BROKER;
		r.unfence_broker = &u;
	}
	assert_int_equal(apply(s, index, &rp, 1, &st), STORE_OK);
	return st;
}

static void test_store_broker_records(void **state)
{
	struct store *s;
	struct store_broker b;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	/* Register: epoch = the entry's index; starts fenced. */
	assert_int_equal(reg(s, 5, 1, "inc-a", 0), STORE_R_OK);
	assert_int_equal(store_broker_get(s, 1, &b), STORE_OK);
	assert_int_equal(b.epoch, 5);
	assert_string_equal(b.incarnation_id, "inc-a");
	assert_string_equal(b.rack, "r1");
	assert_true(b.fenced);
	assert_int_equal(b.n_endpoints, 1);
	assert_string_equal(b.endpoints[0].host, "10.0.0.1");
	assert_int_equal(b.endpoints[0].port, 9092);
	assert_int_equal(b.registered_ms, 1700000000005ULL);
	/* A racing registration that expected no broker loses. */
	assert_int_equal(reg(s, 6, 1, "inc-b", 0), STORE_R_STALE);
	assert_int_equal(store_broker_get(s, 1, &b), STORE_OK);
	assert_int_equal(b.epoch, 5);
	/* Unfence with a stale epoch: refused; with the right one: done. */
	assert_int_equal(fence(s, 7, 1, 4, 0), STORE_R_STALE);
	assert_int_equal(fence(s, 8, 1, 5, 0), STORE_R_OK);
	assert_int_equal(store_broker_get(s, 1, &b), STORE_OK);
	assert_false(b.fenced);
	/* Re-registration replacing epoch 5: new epoch, fenced again. */
	assert_int_equal(reg(s, 9, 1, "inc-b", 5), STORE_R_OK);
	assert_int_equal(store_broker_get(s, 1, &b), STORE_OK);
	assert_int_equal(b.epoch, 9);
	assert_true(b.fenced);
	/* The old epoch's fence/unfence no longer apply. */
	assert_int_equal(fence(s, 10, 1, 5, 0), STORE_R_STALE);
	assert_int_equal(fence(s, 11, 1, 9, 0), STORE_R_OK);
	assert_int_equal(fence(s, 12, 1, 9, 1), STORE_R_OK);
	assert_int_equal(store_broker_get(s, 1, &b), STORE_OK);
	assert_true(b.fenced);
	/* Controlled shutdown marks and fences. */
	{
		Synod__Rec__BrokerShutdown sd =
		    SYNOD__REC__BROKER_SHUTDOWN__INIT;
		Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
		Synod__Rec__Record *rp = &r;
		int st = -1;
		assert_int_equal(fence(s, 13, 1, 9, 0), STORE_R_OK);
		sd.broker_id = 1;
		sd.epoch = 9;
		r.body_case = SYNOD__REC__RECORD__BODY_BROKER_SHUTDOWN;
		r.broker_shutdown = &sd;
		assert_int_equal(apply(s, 14, &rp, 1, &st), STORE_OK);
		assert_int_equal(st, STORE_R_OK);
		assert_int_equal(store_broker_get(s, 1, &b), STORE_OK);
		assert_true(b.shutting_down);
		assert_true(b.fenced);
	}
	/* Unregister removes the broker and its endpoints; twice: absent. */
	{
		Synod__Rec__UnregisterBroker u =
		    SYNOD__REC__UNREGISTER_BROKER__INIT;
		Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
		Synod__Rec__Record *rp = &r;
		int st = -1;
		u.broker_id = 1;
		r.body_case = SYNOD__REC__RECORD__BODY_UNREGISTER_BROKER;
		r.unregister_broker = &u;
		assert_int_equal(apply(s, 15, &rp, 1, &st), STORE_OK);
		assert_int_equal(st, STORE_R_OK);
		assert_int_equal(store_broker_get(s, 1, &b), STORE_ENOTFOUND);
		assert_int_equal(apply(s, 16, &rp, 1, &st), STORE_OK);
		assert_int_equal(st, STORE_R_NOT_FOUND);
	}
	/* Invalid ids are refused identically everywhere. */
	assert_int_equal(reg(s, 17, -3, "x", 0), STORE_R_INVALID);
	store_close(s);
}

static int count_cb(void *arg, const struct store_broker *b)
{
	int *n = arg;
	assert_int_equal(b->id, *n); /* ordered by id */
	(*n)++;
	return 0;
}

static void test_store_broker_list_snapshot(void **state)
{
	struct store *s, *t;
	void *buf;
	size_t len;
	uint64_t d1, d2;
	int n = 0;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(store_open(&t), STORE_OK);
	for (int i = 0; i < 50; i++)
		assert_int_equal(reg(s, (uint64_t)(100 + i), i, "inc", 0),
				 STORE_R_OK);
	assert_int_equal(store_broker_list(s, count_cb, &n), STORE_OK);
	assert_int_equal(n, 50);
	assert_int_equal(store_snapshot(s, malloc, &buf, &len), STORE_OK);
	assert_int_equal(store_restore(t, buf, len), STORE_OK);
	free(buf);
	assert_int_equal(store_digest(s, &d1), STORE_OK);
	assert_int_equal(store_digest(t, &d2), STORE_OK);
	assert_true(d1 == d2);
	n = 0;
	assert_int_equal(store_broker_list(t, count_cb, &n), STORE_OK);
	assert_int_equal(n, 50);
	store_close(s);
	store_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_rules),
	    cmocka_unit_test(test_heartbeat_errors),
	    cmocka_unit_test(test_unfence_when_caught_up),
	    cmocka_unit_test(test_controlled_shutdown),
	    cmocka_unit_test(test_session_expiry_and_grace),
	    cmocka_unit_test(test_store_broker_records),
	    cmocka_unit_test(test_store_broker_list_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
