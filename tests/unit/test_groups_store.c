/* Unit tests: consumer group records in the store (storage/
 * store_groups.c): the apply rules, the invariant that apply refuses a
 * partition held by two members of one group (identically on every
 * node), tombstones freeing partitions, deletes of empty groups only,
 * the reads, and snapshots (round trip, and an image from before the
 * group tables). */
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
	b.version = 2;
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

static uint8_t T1[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static uint8_t T2[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};

static int epoch(struct store *s, uint64_t index, const char *g, int32_t ge,
		 int32_t ae)
{
	Synod__Rec__GroupEpoch e = SYNOD__REC__GROUP_EPOCH__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	e.group_id = (char *)g;
	e.group_epoch = ge;
	e.assignment_epoch = ae;
	e.assignor = "uniform";
	r.body_case = SYNOD__REC__RECORD__BODY_GROUP_EPOCH;
	r.group_epoch = &e;
	return apply(s, index, &r);
}

static int member(struct store *s, uint64_t index, const char *g, const char *m)
{
	Synod__Rec__GroupMember gm = SYNOD__REC__GROUP_MEMBER__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	char *names[2] = {"orders", "payments"};
	gm.group_id = (char *)g;
	gm.member_id = (char *)m;
	gm.instance_id = strcmp(m, "m1") == 0 ? "inst-1" : NULL;
	gm.rack = "r1";
	gm.rebalance_timeout_ms = 30000;
	gm.n_subscribed_topic_names = 2;
	gm.subscribed_topic_names = names;
	r.body_case = SYNOD__REC__RECORD__BODY_GROUP_MEMBER;
	r.group_member = &gm;
	return apply(s, index, &r);
}

/* A partition list "t1:0,1;t2:3" from two topics. */
struct plist {
	Synod__Rec__GroupPartitions gp[2], *gpp[2];
	int32_t parts[2][8];
	size_t n;
};

static void plist(struct plist *p, const int32_t *a, size_t na,
		  const int32_t *b, size_t nb)
{
	memset(p, 0, sizeof *p);
	for (int i = 0; i < 2; i++) {
		synod__rec__group_partitions__init(&p->gp[i]);
		p->gpp[i] = &p->gp[i];
	}
	if (na) {
		p->gp[p->n].topic_id.data = T1;
		p->gp[p->n].topic_id.len = 16;
		memcpy(p->parts[p->n], a, na * sizeof *a);
		p->gp[p->n].partitions = p->parts[p->n];
		p->gp[p->n].n_partitions = na;
		p->n++;
	}
	if (nb) {
		p->gp[p->n].topic_id.data = T2;
		p->gp[p->n].topic_id.len = 16;
		memcpy(p->parts[p->n], b, nb * sizeof *b);
		p->gp[p->n].partitions = p->parts[p->n];
		p->gp[p->n].n_partitions = nb;
		p->n++;
	}
}

static int current(struct store *s, uint64_t index, const char *g,
		   const char *m, int32_t me, const struct plist *assigned,
		   const struct plist *pending)
{
	Synod__Rec__GroupCurrent c = SYNOD__REC__GROUP_CURRENT__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	c.group_id = (char *)g;
	c.member_id = (char *)m;
	c.member_epoch = me;
	c.previous_epoch = me > 0 ? me - 1 : 0;
	c.state = pending && pending->n ? 1 : 0;
	c.assigned = (Synod__Rec__GroupPartitions **)assigned->gpp;
	c.n_assigned = assigned->n;
	if (pending) {
		c.pending_revocation =
		    (Synod__Rec__GroupPartitions **)pending->gpp;
		c.n_pending_revocation = pending->n;
	}
	r.body_case = SYNOD__REC__RECORD__BODY_GROUP_CURRENT;
	r.group_current = &c;
	return apply(s, index, &r);
}

static int target(struct store *s, uint64_t index, const char *g, const char *m,
		  const struct plist *t)
{
	Synod__Rec__GroupTarget gt = SYNOD__REC__GROUP_TARGET__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	gt.group_id = (char *)g;
	gt.member_id = (char *)m;
	gt.partitions = (Synod__Rec__GroupPartitions **)t->gpp;
	gt.n_partitions = t->n;
	r.body_case = SYNOD__REC__RECORD__BODY_GROUP_TARGET;
	r.group_target = &gt;
	return apply(s, index, &r);
}

static int remove_member(struct store *s, uint64_t index, const char *g,
			 const char *m)
{
	Synod__Rec__GroupMemberRemove rm =
	    SYNOD__REC__GROUP_MEMBER_REMOVE__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	rm.group_id = (char *)g;
	rm.member_id = (char *)m;
	r.body_case = SYNOD__REC__RECORD__BODY_GROUP_MEMBER_REMOVE;
	r.group_member_remove = &rm;
	return apply(s, index, &r);
}

static int delete_group(struct store *s, uint64_t index, const char *g)
{
	Synod__Rec__GroupDelete d = SYNOD__REC__GROUP_DELETE__INIT;
	Synod__Rec__Record r = SYNOD__REC__RECORD__INIT;
	d.group_id = (char *)g;
	r.body_case = SYNOD__REC__RECORD__BODY_GROUP_DELETE;
	r.group_delete = &d;
	return apply(s, index, &r);
}

static int owner_is(struct store *s, const char *g, uint8_t *tid, int32_t p,
		    const char *want)
{
	char m[64];
	int rv = store_group_owner(s, g, tid, p, m, sizeof m);
	if (want == NULL)
		return rv == STORE_ENOTFOUND;
	return rv == STORE_OK && strcmp(m, want) == 0;
}

struct seen {
	int groups;
	int32_t epoch, aepoch;
	int members;
	char last_member[64];
	uint32_t assigned_parts, target_parts, pending_parts;
	uint32_t names;
	int has_instance;
};

static int on_group(void *arg, const struct store_group *g)
{
	struct seen *x = arg;
	x->groups++;
	x->epoch = g->group_epoch;
	x->aepoch = g->assignment_epoch;
	assert_string_equal(g->assignor, "uniform");
	return 0;
}

static uint32_t count(const struct store_pset *p)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->n_topics; i++)
		n += p->topics[i].n;
	return n;
}

static int on_member(void *arg, const struct store_group_member *m)
{
	struct seen *x = arg;
	x->members++;
	strcpy(x->last_member, m->member_id);
	x->assigned_parts += count(&m->assigned);
	x->target_parts += count(&m->target);
	x->pending_parts += count(&m->pending);
	x->names = m->n_subscribed;
	if (m->n_subscribed == 2) {
		assert_string_equal(m->subscribed_names[0], "orders");
		assert_string_equal(m->subscribed_names[1], "payments");
	}
	x->has_instance += m->instance_id != NULL;
	assert_int_equal(m->rebalance_timeout_ms, 30000);
	return 0;
}

static void test_apply_rules(void **state)
{
	struct store *s;
	struct plist a, b, none, dup, t;
	struct seen x;
	const int32_t p01[] = {0, 1}, p2[] = {2}, p1[] = {1}, p3[] = {3};
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	plist(&none, NULL, 0, NULL, 0);

	/* A member needs its group first; bad ids are invalid. */
	assert_int_equal(member(s, 1, "g", "m1"), STORE_R_INVALID);
	assert_int_equal(epoch(s, 2, "", 1, 0), STORE_R_INVALID);
	assert_int_equal(epoch(s, 3, "g", 1, 2), STORE_R_INVALID);
	assert_int_equal(epoch(s, 4, "g", 1, 0), STORE_R_OK);
	assert_int_equal(member(s, 5, "g", "m1"), STORE_R_OK);
	assert_int_equal(member(s, 6, "g", "m2"), STORE_R_OK);
	/* Epochs never go back. */
	assert_int_equal(epoch(s, 7, "g", 3, 3), STORE_R_OK);
	assert_int_equal(epoch(s, 8, "g", 2, 2), STORE_R_STALE);

	/* m1 takes t1:0,1 and t2:3; targets are stored as given. */
	plist(&a, p01, 2, p3, 1);
	assert_int_equal(target(s, 9, "g", "m1", &a), STORE_R_OK);
	assert_int_equal(current(s, 10, "g", "m1", 3, &a, NULL), STORE_R_OK);
	assert_true(owner_is(s, "g", T1, 0, "m1"));
	assert_true(owner_is(s, "g", T2, 3, "m1"));
	/* Invariant: m2 may not take t1:1 while m1 holds it, neither as
	 * assigned nor as pending revocation; the refusal changes nothing. */
	plist(&b, p1, 1, NULL, 0);
	assert_int_equal(current(s, 11, "g", "m2", 3, &b, NULL),
			 STORE_R_REFUSED);
	assert_int_equal(current(s, 12, "g", "m2", 3, &none, &b),
			 STORE_R_REFUSED);
	assert_true(owner_is(s, "g", T1, 1, "m1"));
	/* A partition twice in one record is invalid, and changes nothing. */
	plist(&dup, p01, 2, NULL, 0);
	assert_int_equal(current(s, 13, "g", "m1", 3, &a, &dup),
			 STORE_R_INVALID);
	assert_true(owner_is(s, "g", T2, 3, "m1"));
	/* m1 revokes t1:1 (pending), then gives it up: m2 may take it. */
	{
		struct plist keep, pend;
		const int32_t p0[] = {0};
		plist(&keep, p0, 1, p3, 1);
		plist(&pend, p1, 1, NULL, 0);
		assert_int_equal(current(s, 14, "g", "m1", 3, &keep, &pend),
				 STORE_R_OK);
		assert_int_equal(current(s, 15, "g", "m2", 3, &b, NULL),
				 STORE_R_REFUSED);
		assert_int_equal(current(s, 16, "g", "m1", 4, &keep, NULL),
				 STORE_R_OK);
		assert_true(owner_is(s, "g", T1, 1, NULL));
		assert_int_equal(current(s, 17, "g", "m2", 4, &b, NULL),
				 STORE_R_OK);
		assert_true(owner_is(s, "g", T1, 1, "m2"));
	}
	/* Another group is independent. */
	assert_int_equal(epoch(s, 18, "h", 1, 1), STORE_R_OK);
	assert_int_equal(member(s, 19, "h", "m1"), STORE_R_OK);
	assert_int_equal(current(s, 20, "h", "m1", 1, &b, NULL), STORE_R_OK);
	/* Unknown member, unknown group. */
	assert_int_equal(current(s, 21, "g", "zz", 1, &b, NULL),
			 STORE_R_NOT_FOUND);
	plist(&t, p2, 1, NULL, 0);
	assert_int_equal(target(s, 22, "g", "zz", &t), STORE_R_NOT_FOUND);

	/* Reads. */
	memset(&x, 0, sizeof x);
	assert_int_equal(store_group_list(s, on_group, &x), STORE_OK);
	assert_int_equal(x.groups, 2);
	memset(&x, 0, sizeof x);
	assert_int_equal(store_group_get(s, "g", on_group, &x), STORE_OK);
	assert_int_equal(x.epoch, 3);
	assert_int_equal(x.aepoch, 3);
	assert_int_equal(store_group_get(s, "nope", on_group, &x),
			 STORE_ENOTFOUND);
	memset(&x, 0, sizeof x);
	assert_int_equal(store_group_members(s, "g", on_member, &x), STORE_OK);
	assert_int_equal(x.members, 2);
	assert_int_equal(x.assigned_parts, 3); /* m1: t1:0, t2:3; m2: t1:1 */
	assert_int_equal(x.target_parts, 3);
	assert_int_equal(x.pending_parts, 0);
	assert_int_equal(x.names, 2);
	assert_int_equal(x.has_instance, 1);

	/* Delete only when empty; the tombstone frees the partitions. */
	assert_int_equal(delete_group(s, 23, "g"), STORE_R_REFUSED);
	assert_int_equal(remove_member(s, 24, "g", "m1"), STORE_R_OK);
	assert_true(owner_is(s, "g", T1, 0, NULL));
	assert_true(owner_is(s, "g", T2, 3, NULL));
	assert_int_equal(remove_member(s, 25, "g", "m1"), STORE_R_NOT_FOUND);
	assert_int_equal(remove_member(s, 26, "g", "m2"), STORE_R_OK);
	assert_int_equal(delete_group(s, 27, "g"), STORE_R_OK);
	assert_int_equal(delete_group(s, 28, "g"), STORE_R_NOT_FOUND);
	memset(&x, 0, sizeof x);
	assert_int_equal(store_group_list(s, on_group, &x), STORE_OK);
	assert_int_equal(x.groups, 1);
	store_close(s);
}

static void *sysalloc(size_t n)
{
	return malloc(n);
}

static void test_snapshot(void **state)
{
	struct store *s, *t;
	struct plist a;
	const int32_t p01[] = {0, 1};
	void *buf;
	size_t len;
	uint64_t d1, d2;
	struct seen x;
	(void)state;
	assert_int_equal(store_open(&s), STORE_OK);
	assert_int_equal(epoch(s, 1, "g", 1, 1), STORE_R_OK);
	assert_int_equal(member(s, 2, "g", "m1"), STORE_R_OK);
	plist(&a, p01, 2, NULL, 0);
	assert_int_equal(current(s, 3, "g", "m1", 1, &a, NULL), STORE_R_OK);
	assert_int_equal(store_snapshot(s, sysalloc, &buf, &len), STORE_OK);
	assert_int_equal(store_open(&t), STORE_OK);
	assert_int_equal(store_restore(t, buf, len), STORE_OK);
	free(buf);
	assert_int_equal(store_digest(s, &d1), STORE_OK);
	assert_int_equal(store_digest(t, &d2), STORE_OK);
	assert_true(d1 == d2);
	assert_true(owner_is(t, "g", T1, 1, "m1"));
	memset(&x, 0, sizeof x);
	assert_int_equal(store_group_members(t, "g", on_member, &x), STORE_OK);
	assert_int_equal(x.assigned_parts, 2);
	/* The ownership invariant holds after a restore too. */
	{
		struct plist b;
		assert_int_equal(member(t, 4, "g", "m2"), STORE_R_OK);
		plist(&b, p01, 1, NULL, 0);
		assert_int_equal(current(t, 5, "g", "m2", 1, &b, NULL),
				 STORE_R_REFUSED);
	}
	store_close(s);
	store_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apply_rules),
	    cmocka_unit_test(test_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
