/* Unit tests: read-only SQL over a copy of the store (store_query_*) and
 * the health figures (store_health), storage/store.h.
 *
 * Invariants checked: a query never changes the store (writes, ATTACH,
 * state-changing pragmas, extension loading and a second statement are
 * refused, and the store is the same afterwards); rows and time are
 * bounded (cut off, interrupted); a copy taken in slices, with writes
 * between the slices, is the store as of the copy's end; a snapshot
 * restored during a copy ends it with an error, never a torn copy; the
 * health counts match the partitions, before and after a change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "records.pb-c.h"
#include "store.h"

static int apply(struct store *s, uint64_t index, Synod__Rec__Record *r)
{
	Synod__Rec__RecordBatch b = SYNOD__REC__RECORD_BATCH__INIT;
	Synod__Rec__Record *rp = r;
	size_t len;
	uint8_t *buf;
	int st = -1;
	b.version = 1; /* the rules without broker checks: leaders anywhere */
	b.n_records = 1;
	b.records = &rp;
	len = synod__rec__record_batch__get_packed_size(&b);
	buf = malloc(len);
	synod__rec__record_batch__pack(&b, buf);
	assert_int_equal(store_apply(s, index, buf, len, &st, 1, NULL),
			 STORE_OK);
	free(buf);
	return st;
}

/* A topic of n partitions; partition i: replicas (i%4, i+1%4, i+2%4),
 * leader and ISR given by the callbacks' rules below. */
static int create(struct store *s, uint64_t index, const char *name,
		  uint8_t id0, unsigned n, int offline, int short_isr,
		  int not_preferred)
{
	Synod__Rec__CreateTopic c = SYNOD__REC__CREATE_TOPIC__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	Synod__Rec__PartitionRecord **ps = calloc(n, sizeof *ps);
	uint8_t id[16];
	int32_t *ids = calloc(n * 6, sizeof *ids);
	int st;
	memset(id, id0, sizeof id);
	for (unsigned i = 0; i < n; i++) {
		Synod__Rec__PartitionRecord *p = calloc(1, sizeof *p);
		synod__rec__partition_record__init(p);
		p->partition = (int32_t)i;
		p->replicas = ids + 6 * i;
		p->isr = ids + 6 * i + 3;
		for (int k = 0; k < 3; k++)
			p->replicas[k] = p->isr[k] = (int32_t)((i + k) % 4);
		p->n_replicas = p->n_isr = 3;
		p->leader = p->replicas[0];
		if ((int)i < offline)
			p->leader = -1;
		else if ((int)i < offline + short_isr)
			p->n_isr = 2;
		else if ((int)i < offline + short_isr + not_preferred)
			p->leader = p->replicas[1];
		ps[i] = p;
	}
	c.name = (char *)name;
	c.topic_id.data = id;
	c.topic_id.len = 16;
	c.n_partitions = n;
	c.partitions = ps;
	r.body_case = SYNOD__REC__RECORD__BODY_CREATE_TOPIC;
	r.create_topic = &c;
	st = apply(s, index, &r);
	for (unsigned i = 0; i < n; i++)
		free(ps[i]);
	free(ps);
	free(ids);
	return st;
}

static const struct store_query_limits LIMITS = {1000, 1 << 20, 5000};

/* Run sql (copied in slices of `pages`) and return the result code. */
static int run(struct store *s, const char *sql,
	       const struct store_query_limits *lim, int pages,
	       struct store_query **out)
{
	struct store_query *q;
	int rv = store_query_new(s, sql, lim ? lim : &LIMITS, &q);
	if (rv != STORE_OK)
		return rv;
	while ((rv = store_query_copy(q, pages)) == 1)
		;
	if (rv == STORE_OK)
		rv = store_query_run(q);
	*out = q;
	return rv;
}

static int64_t int_cell(struct store_query *q, size_t row, unsigned col)
{
	const struct store_query_cell *c;
	char **names;
	unsigned n_cols = store_query_columns(q, &names);
	assert_true(row < store_query_rows(q, &c));
	assert_int_equal(c[row * n_cols + col].type, 1 /* SQLITE_INTEGER */);
	return c[row * n_cols + col].i;
}

static void test_reads(void **state)
{
	struct store *s;
	struct store_query *q;
	const struct store_query_cell *c;
	char **names;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(create(s, 10, "orders", 1, 8, 0, 0, 0), STORE_R_OK);
	assert_int_equal(
	    run(s, "SELECT count(*) AS n FROM partitions", NULL, 100, &q),
	    STORE_OK);
	assert_int_equal(store_query_columns(q, &names), 1);
	assert_string_equal(names[0], "n");
	assert_int_equal(int_cell(q, 0, 0), 8);
	assert_int_equal(store_query_index(q), 10);
	assert_null(store_query_truncated(q));
	store_query_free(q);
	/* The views: replicas as text. */
	assert_int_equal(
	    run(s,
		"SELECT topic, partition, leader, replicas, isr FROM "
		"partition_states WHERE partition = 1",
		NULL, 100, &q),
	    STORE_OK);
	assert_int_equal(store_query_rows(q, &c), 1);
	assert_string_equal(c[0].data, "orders");
	assert_string_equal(c[3].data, "1,2,3");
	assert_string_equal(c[4].data, "1,2,3");
	store_query_free(q);
	/* Schema pragmas are reads. */
	assert_int_equal(run(s, "PRAGMA table_info(topics)", NULL, 100, &q),
			 STORE_OK);
	assert_true(store_query_rows(q, &c) >= 5);
	store_query_free(q);
	store_close(s);
}

static void test_refusals(void **state)
{
	static const char *const bad[] = {
	    "DELETE FROM topics",
	    "UPDATE partitions SET leader = 7",
	    "INSERT INTO configs VALUES(0, '', 'k', 'v')",
	    "CREATE TABLE x(a)",
	    "DROP TABLE topics",
	    "ATTACH DATABASE 'file:x?mode=memory' AS x",
	    "PRAGMA writable_schema = 1",
	    "PRAGMA journal_mode = WAL",
	    "SELECT load_extension('libc.so.6')",
	    "BEGIN",
	    "VACUUM INTO '/tmp/synod-query-test.db'",
	};
	struct store *s;
	struct store_query *q;
	uint64_t digest_before, digest_after;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(create(s, 10, "orders", 1, 4, 0, 0, 0), STORE_R_OK);
	assert_int_equal(store_digest(s, &digest_before), STORE_OK);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rv = run(s, bad[i], NULL, 100, &q);
		if (rv != STORE_EREFUSED ||
		    strstr(store_query_errmsg(q), "refused") == NULL)
			fail_msg("%s: %d (%s)", bad[i], rv,
				 store_query_errmsg(q));
		store_query_free(q);
	}
	/* One statement only: the second is never run. */
	assert_int_equal(run(s, "SELECT 1; DELETE FROM topics", NULL, 100, &q),
			 STORE_EMALFORMED);
	assert_non_null(strstr(store_query_errmsg(q), "one statement"));
	store_query_free(q);
	assert_int_equal(run(s, "SELEKT nothing", NULL, 100, &q),
			 STORE_EMALFORMED);
	store_query_free(q);
	assert_int_equal(store_digest(s, &digest_after), STORE_OK);
	assert_true(digest_before == digest_after);
	store_close(s);
}

static void test_limits(void **state)
{
	struct store *s;
	struct store_query *q;
	const struct store_query_cell *c;
	struct store_query_limits few = {5, 1 << 20, 5000};
	struct store_query_limits quick = {1000, 1 << 20, 100};
	struct store_query_limits small = {1000000, 64, 5000};
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(create(s, 10, "orders", 1, 16, 0, 0, 0), STORE_R_OK);
	/* A query without end is cut off at the row limit... */
	assert_int_equal(run(s,
			     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
			     "SELECT x + 1 FROM c) SELECT x FROM c",
			     &few, 100, &q),
			 STORE_OK);
	assert_int_equal(store_query_rows(q, &c), 5);
	assert_non_null(store_query_truncated(q));
	store_query_free(q);
	/* ... or the byte limit ... */
	assert_int_equal(
	    run(s, "SELECT * FROM partitions a, partitions b", &small, 100, &q),
	    STORE_OK);
	assert_non_null(store_query_truncated(q));
	assert_true(store_query_rows(q, &c) < 256);
	store_query_free(q);
	/* ... and one that yields nothing is interrupted at its deadline. */
	assert_int_equal(run(s,
			     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
			     "SELECT x + 1 FROM c) SELECT count(*) FROM c",
			     &quick, 100, &q),
			 STORE_ETIMEOUT);
	assert_non_null(strstr(store_query_errmsg(q), "interrupted"));
	store_query_free(q);
	/* A huge value is refused by the length limit, not allocated. */
	assert_int_not_equal(
	    run(s, "SELECT length(zeroblob(100000000))", NULL, 100, &q),
	    STORE_OK);
	store_query_free(q);
	store_close(s);
}

/* A copy in slices of one page while the store changes between slices:
 * the copy is the store at the end of the copy. */
static void test_sliced_copy_sees_writes(void **state)
{
	struct store *s;
	struct store_query *q;
	int rv, steps = 0;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(create(s, 10, "a", 1, 200, 0, 0, 0), STORE_R_OK);
	assert_int_equal(
	    store_query_new(s,
			    "SELECT count(*), (SELECT count(*) FROM topics) "
			    "FROM partitions",
			    &LIMITS, &q),
	    STORE_OK);
	while ((rv = store_query_copy(q, 1)) == 1) {
		if (++steps == 2)
			assert_int_equal(create(s, 11, "b", 2, 50, 0, 0, 0),
					 STORE_R_OK);
	}
	assert_int_equal(rv, STORE_OK);
	assert_true(steps >= 2);
	assert_int_equal(store_query_run(q), STORE_OK);
	assert_int_equal(int_cell(q, 0, 0), 250);
	assert_int_equal(int_cell(q, 0, 1), 2);
	assert_int_equal(store_query_index(q), 11);
	store_query_free(q);
	store_close(s);
}

/* A snapshot installed while a copy runs ends the copy with a reason. */
static void test_restore_ends_copy(void **state)
{
	struct store *s, *other;
	struct store_query *q;
	void *snap;
	size_t len;
	int rv;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(store_open(&other), STORE_OK);
	assert_int_equal(create(s, 10, "a", 1, 200, 0, 0, 0), STORE_R_OK);
	assert_int_equal(create(other, 20, "z", 3, 10, 0, 0, 0), STORE_R_OK);
	assert_int_equal(store_snapshot(other, malloc, &snap, &len), STORE_OK);
	assert_int_equal(
	    store_query_new(s, "SELECT count(*) FROM partitions", &LIMITS, &q),
	    STORE_OK);
	assert_int_equal(store_query_copy(q, 1), 1);
	assert_int_equal(store_restore(s, snap, len), STORE_OK);
	rv = store_query_copy(q, 1);
	assert_int_equal(rv, STORE_EDB);
	assert_non_null(strstr(store_query_errmsg(q), "replaced"));
	assert_int_not_equal(store_query_run(q), STORE_OK);
	store_query_free(q);
	/* A new query sees the restored state. */
	assert_int_equal(
	    run(s, "SELECT count(*) FROM partitions", NULL, 100, &q), STORE_OK);
	assert_int_equal(int_cell(q, 0, 0), 10);
	store_query_free(q);
	free(snap);
	store_close(other);
	store_close(s);
}

static void test_health(void **state)
{
	struct store *s;
	struct store_health h;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(store_health(s, &h), STORE_OK);
	assert_int_equal(h.partitions, 0);
	/* 20 partitions: 3 offline, 4 with a short ISR, 5 led by their
	 * second replica. */
	assert_int_equal(create(s, 10, "a", 1, 20, 3, 4, 5), STORE_R_OK);
	assert_int_equal(create(s, 11, "b", 2, 6, 0, 0, 0), STORE_R_OK);
	assert_int_equal(store_health(s, &h), STORE_OK);
	assert_int_equal(h.topics, 2);
	assert_int_equal(h.partitions, 26);
	assert_int_equal(h.offline, 3);
	assert_int_equal(h.under_replicated, 4);
	assert_int_equal(h.not_preferred, 5);
	/* Cached at the same index; recomputed after a change. */
	assert_int_equal(store_health(s, &h), STORE_OK);
	assert_int_equal(h.offline, 3);
	assert_int_equal(create(s, 12, "c", 3, 2, 2, 0, 0), STORE_R_OK);
	assert_int_equal(store_health(s, &h), STORE_OK);
	assert_int_equal(h.offline, 5);
	assert_int_equal(h.partitions, 28);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_sliced_copy_sees_writes),
	    cmocka_unit_test(test_restore_ends_copy),
	    cmocka_unit_test(test_health),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
