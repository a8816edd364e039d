/* tests/integration/test_groups.c - consumer groups against a real quorum
 * (docs/groups.md), driven by raw GROUP_HEARTBEAT requests so every step
 * of KIP-848's protocol is visible: join, the revoke-then-assign
 * handshake, epochs, errors, session expiry, a regex subscription meeting
 * a new topic, leave and delete, and a kill -9 of the active controller in
 * the middle of a reconciliation.
 *
 * The invariant checked after every step (GROUP_DESCRIBE): within a group
 * no partition is in two members' assigned or pending-revocation sets.
 *
 * A 3-node quorum (300 ms election timeout), three library brokers on the
 * test's loop (topics need replicas), group sessions of 2 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>

#include "itest.h"

#ifndef SYNOD_BIN
#define SYNOD_BIN NULL
#endif
#ifndef SYNOD_CTL
#define SYNOD_CTL "synodctl"
#endif

#define WAIT_MS 15000
#define SESSION_MS 2000

struct member;

struct fixture {
	struct itest it;
	struct synod_broker *b[3];
	/* Members whose assignment pushes (api 24) the test applies. */
	struct member *members[8];
	unsigned n_members;
	unsigned pushes;
};

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rv;
	for (int i = 0; i < 3; i++)
		if (f->b[i])
			synod_broker_close(f->b[i]);
	rv = itest_teardown(&f->it, NULL, 0, 0);
	free(f);
	return rv;
}

static void start(struct fixture *f)
{
	itest_start(&f->it, 3, SYNOD_BIN, NULL);
	itest_start_client(&f->it);
	assert_int_equal(itest_set_cluster_configs(&f->it, 4000, 200),
			 SYNOD_OK);
	assert_int_equal(itest_set_group_configs(&f->it, SESSION_MS, 200),
			 SYNOD_OK);
	/* Out of their bounds: refused, nothing changes. */
	assert_int_equal(itest_set_config(&f->it,
					  "group.consumer.session.timeout.ms",
					  "70000"),
			 SYNOD_EINVALID_CONFIG);
	assert_int_equal(
	    itest_set_config(&f->it, "group.consumer.heartbeat.interval.ms",
			     "20"),
	    SYNOD_EINVALID_CONFIG);
	assert_int_equal(
	    itest_set_config(&f->it, "group.consumer.max.session.timeout.ms",
			     "1000"),
	    SYNOD_EINVALID_CONFIG);
	for (int i = 0; i < 3; i++) {
		struct synod_broker_config cfg = {0};
		char rack[8];
		snprintf(rack, sizeof rack, "r%d", i + 1);
		cfg.bootstrap = f->it.c.bootstrap;
		cfg.cluster_id = f->it.c.cluster_id;
		cfg.broker_id = i + 1;
		cfg.rack = rack;
		assert_int_equal(
		    synod_broker_new(&f->it.loop, &cfg, NULL, &f->b[i]),
		    SYNOD_OK);
		assert_int_equal(synod_broker_start(f->b[i]), SYNOD_OK);
	}
	for (uint64_t end = tool_now_ms() + WAIT_MS;;) {
		int n = 0;
		for (int i = 0; i < 3; i++)
			n += synod_broker_state(f->b[i]) == SYNOD_BROKER_ACTIVE;
		if (n == 3)
			break;
		if (tool_now_ms() > end)
			fail_msg("brokers did not become active");
		itest_pump(&f->it.loop, 20);
	}
}

static void create_topic(struct fixture *f, const char *name, uint32_t n)
{
	Synod__Wire__CreateTopicsRequest r =
	    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
	Synod__Wire__CreatableTopic t = SYNOD__WIRE__CREATABLE_TOPIC__INIT;
	Synod__Wire__CreatableTopic *tp = &t;
	Synod__Wire__CreateTopicsResponse *resp = NULL;
	t.name = (char *)name;
	t.has_partitions = t.has_replication_factor = 1;
	t.partitions = n;
	t.replication_factor = 1;
	r.n_topics = 1;
	r.topics = &tp;
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_CREATE_TOPICS, &r.base,
		       &synod__wire__create_topics_response__descriptor,
		       (ProtobufCMessage **)&resp),
	    SYNOD_OK);
	assert_int_equal(resp->results[0]->status->code, SYNOD_OK);
	synod__wire__create_topics_response__free_unpacked(resp, NULL);
}

/* ---- a member, as the test drives it ---- */

struct member {
	char id[64];
	int32_t epoch;
	int32_t interval_ms, session_ms; /* told by the last answer */
	uint64_t version;		 /* assignment version applied */
	/* owned partitions as (topic index in ids, partition) */
	uint8_t tid[8][16];
	char tname[8][64];
	int32_t parts[8][64];
	size_t nparts[8];
	size_t ntopics;
};

static size_t owned_count(const struct member *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->ntopics; i++)
		n += m->nparts[i];
	return n;
}

static void take_assignment(struct member *m,
			    const Synod__Wire__GroupPartitionSet *a,
			    uint64_t version)
{
	m->ntopics = 0;
	for (size_t i = 0; i < a->n_topics && i < 8; i++) {
		const Synod__Wire__GroupTopicPartitions *t = a->topics[i];
		assert_int_equal(t->topic_id.len, 16);
		memcpy(m->tid[i], t->topic_id.data, 16);
		snprintf(m->tname[i], sizeof m->tname[i], "%s",
			 t->topic ? t->topic : "");
		m->nparts[i] = t->n_partitions < 64 ? t->n_partitions : 64;
		memcpy(m->parts[i], t->partitions,
		       m->nparts[i] * sizeof(int32_t));
		m->ntopics++;
	}
	m->version = version;
}

struct hb {
	const char *group;
	struct member *m;
	int32_t epoch; /* to send */
	const char *names;
	const char *regex;
	const char *assignor;
	const char *instance;
	int send_owned;
	int32_t timeout_ms; /* -1: absent */
	const char *rack;
};

/* One heartbeat; applies the answer to m. Returns the Status code. */
static int heartbeat(struct fixture *f, const struct hb *in)
{
	Synod__Wire__GroupHeartbeatRequest r =
	    SYNOD__WIRE__GROUP_HEARTBEAT_REQUEST__INIT;
	Synod__Wire__GroupTopicNames names =
	    SYNOD__WIRE__GROUP_TOPIC_NAMES__INIT;
	Synod__Wire__GroupPartitionSet owned =
	    SYNOD__WIRE__GROUP_PARTITION_SET__INIT;
	Synod__Wire__GroupTopicPartitions tps[8], *tpp[8];
	Synod__Wire__GroupHeartbeatResponse *resp = NULL;
	char *nv[4], buf[128];
	int code;
	r.group_id = (char *)in->group;
	r.member_id = in->m->id[0] ? in->m->id : NULL;
	r.member_epoch = in->epoch;
	r.instance_id = (char *)in->instance;
	r.rack = (char *)in->rack;
	if (in->names) {
		char *save, *tok;
		snprintf(buf, sizeof buf, "%s", in->names);
		for (tok = strtok_r(buf, ",", &save); tok && names.n_names < 4;
		     tok = strtok_r(NULL, ",", &save))
			nv[names.n_names++] = tok;
		names.names = nv;
		r.subscribed_topic_names = &names;
	}
	r.subscribed_topic_regex = (char *)in->regex;
	r.server_assignor = (char *)in->assignor;
	if (in->timeout_ms >= 0) {
		r.has_rebalance_timeout_ms = 1;
		r.rebalance_timeout_ms = in->timeout_ms;
	}
	if (in->send_owned) {
		for (size_t i = 0; i < in->m->ntopics; i++) {
			synod__wire__group_topic_partitions__init(&tps[i]);
			tps[i].topic_id.data = in->m->tid[i];
			tps[i].topic_id.len = 16;
			tps[i].partitions = in->m->parts[i];
			tps[i].n_partitions = in->m->nparts[i];
			tpp[i] = &tps[i];
		}
		owned.topics = tpp;
		owned.n_topics = in->m->ntopics;
		r.owned = &owned;
		r.has_assignment_version = 1;
		r.assignment_version = in->m->version;
	}
	code = itest_call(&f->it, SYNOD_API_GROUP_HEARTBEAT, &r.base,
			  &synod__wire__group_heartbeat_response__descriptor,
			  (ProtobufCMessage **)&resp);
	if (code == SYNOD_OK) {
		if (resp->member_id)
			snprintf(in->m->id, sizeof in->m->id, "%s",
				 resp->member_id);
		if (resp->has_member_epoch)
			in->m->epoch = resp->member_epoch;
		if (resp->has_heartbeat_interval_ms)
			in->m->interval_ms = resp->heartbeat_interval_ms;
		if (resp->has_session_timeout_ms)
			in->m->session_ms = resp->session_timeout_ms;
		if (resp->assignment)
			take_assignment(in->m, resp->assignment,
					resp->assignment_version);
	}
	if (resp)
		synod__wire__group_heartbeat_response__free_unpacked(resp,
								     NULL);
	return code;
}

/* GroupAssignmentPush: applied to the member it names when newer. */
static void on_push(void *arg, uint16_t api, const uint8_t *body, size_t len)
{
	struct fixture *f = arg;
	Synod__Wire__GroupAssignmentPush *p;
	if (api != SYNOD_API_GROUP_ASSIGNMENT_PUSH)
		return;
	p = synod__wire__group_assignment_push__unpack(NULL, len, body);
	assert_non_null(p);
	for (unsigned i = 0; i < f->n_members; i++) {
		struct member *m = f->members[i];
		if (strcmp(m->id, p->member_id) == 0 &&
		    p->version > m->version && p->member_epoch >= m->epoch) {
			take_assignment(m, p->assignment, p->version);
			m->epoch = p->member_epoch;
			f->pushes++;
		}
	}
	synod__wire__group_assignment_push__free_unpacked(p, NULL);
}

static int join(struct fixture *f, const char *group, struct member *m,
		const char *names, const char *regex)
{
	struct hb h = {group, m, 0, names, regex, NULL, NULL, 0, 30000, NULL};
	memset(m, 0, sizeof *m);
	if (f->n_members < 8)
		f->members[f->n_members++] = m;
	synod_client_on_push(f->it.cl, on_push, f);
	return heartbeat(f, &h);
}

/* Wait (the test's loop running, pushes applied) until m owns n
 * partitions: an assignment push to it. */
static void wait_push(struct fixture *f, struct member *m, size_t n,
		      const char *name)
{
	uint64_t end = tool_now_ms() + WAIT_MS;
	while (owned_count(m) != n) {
		if (tool_now_ms() > end)
			fail_msg("no assignment push to %s", name);
		itest_pump(&f->it.loop, 10);
	}
}

/* A steady heartbeat reporting what the member owns. */
static int beat(struct fixture *f, const char *group, struct member *m)
{
	struct hb h = {group, m, m->epoch, NULL, NULL, NULL, NULL, 1, -1, NULL};
	return heartbeat(f, &h);
}

/* ---- checking the group ---- */

struct gview {
	int32_t epoch, aepoch;
	char state[32];
	unsigned members;
	unsigned assigned, pending, target;
	int exclusive;
};

static Synod__Wire__GroupDescribeResponse *describe(struct fixture *f,
						    const char *group)
{
	Synod__Wire__GroupDescribeRequest r =
	    SYNOD__WIRE__GROUP_DESCRIBE_REQUEST__INIT;
	Synod__Wire__GroupDescribeResponse *resp = NULL;
	char *ids[1] = {(char *)group};
	r.group_ids = ids;
	r.n_group_ids = 1;
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_GROUP_DESCRIBE, &r.base,
		       &synod__wire__group_describe_response__descriptor,
		       (ProtobufCMessage **)&resp),
	    SYNOD_OK);
	assert_int_equal(resp->n_groups, 1);
	return resp;
}

/* The invariant: within the group, no partition twice in the members'
 * assigned and pending-revocation sets. */
static struct gview check(struct fixture *f, const char *group)
{
	Synod__Wire__GroupDescribeResponse *d = describe(f, group);
	const Synod__Wire__GroupDescription *g = d->groups[0];
	struct gview v;
	struct {
		uint8_t id[16];
		int32_t p;
	} seen[512];
	size_t n = 0;
	memset(&v, 0, sizeof v);
	v.exclusive = 1;
	v.epoch = g->summary->group_epoch;
	v.aepoch = g->summary->assignment_epoch;
	snprintf(v.state, sizeof v.state, "%s", g->summary->state);
	v.members = g->summary->members;
	for (size_t k = 0; k < g->n_members; k++) {
		const Synod__Wire__GroupMemberDescription *m = g->members[k];
		const Synod__Wire__GroupPartitionSet *sets[2] = {
		    m->assigned, m->pending_revocation};
		for (int s = 0; s < 2; s++)
			for (size_t i = 0; i < sets[s]->n_topics; i++) {
				const Synod__Wire__GroupTopicPartitions *t =
				    sets[s]->topics[i];
				for (size_t j = 0; j < t->n_partitions; j++) {
					for (size_t x = 0; x < n; x++)
						if (seen[x].p ==
							t->partitions[j] &&
						    memcmp(seen[x].id,
							   t->topic_id.data,
							   16) == 0)
							v.exclusive = 0;
					if (n < 512) {
						memcpy(seen[n].id,
						       t->topic_id.data, 16);
						seen[n++].p = t->partitions[j];
					}
					if (s == 0)
						v.assigned++;
					else
						v.pending++;
				}
			}
		for (size_t i = 0; i < m->target->n_topics; i++)
			v.target += m->target->topics[i]->n_partitions;
	}
	synod__wire__group_describe_response__free_unpacked(d, NULL);
	assert_true(v.exclusive);
	return v;
}

/* ---- the tests ---- */

/* Invariant: a partition changes owner only after its old owner reported
 * it gone; never two owners at once (checked after every step). */
static void test_join_revoke_assign(void **state)
{
	struct fixture *f = *state;
	struct member a, b, a_old;
	struct gview v;
	start(f);
	create_topic(f, "orders", 6);

	assert_int_equal(join(f, "g1", &a, "orders", NULL), SYNOD_OK);
	assert_true(strlen(a.id) == 36);
	assert_int_equal(a.epoch, 1);
	assert_int_equal(owned_count(&a), 6);
	v = check(f, "g1");
	assert_string_equal(v.state, "stable");
	assert_int_equal(v.assigned, 6);

	/* B joins: B gets nothing while A holds everything; A is told to
	 * give up three. */
	a_old = a;
	assert_int_equal(join(f, "g1", &b, "orders", NULL), SYNOD_OK);
	assert_int_equal(b.epoch, 2);
	assert_int_equal(owned_count(&b), 0);
	v = check(f, "g1");
	assert_int_equal(v.epoch, 2);
	assert_int_equal(v.aepoch, 2);
	assert_string_equal(v.state, "reconciling");
	assert_int_equal(v.assigned + v.pending, 6);
	assert_int_equal(v.pending, 3);

	/* A learns at once, by a push on its connection: keep three, give
	 * up three (this test's member gives them up at once). */
	wait_push(f, &a, 3, "A");
	assert_true(f->pushes >= 1);
	assert_int_equal(a.epoch, 1);
	/* Invariant: a report made before the member saw that push (all
	 * six, an older assignment version) releases nothing. */
	assert_int_equal(beat(f, "g1", &a_old), SYNOD_OK);
	v = check(f, "g1");
	assert_int_equal(v.pending, 3);
	/* A reports the three gone: it moves to epoch 2 and B receives
	 * them in the same entry (pushed to B). */
	assert_int_equal(beat(f, "g1", &a), SYNOD_OK);
	assert_int_equal(a.epoch, 2);
	v = check(f, "g1");
	assert_int_equal(v.pending, 0);
	assert_int_equal(v.assigned, 6);
	wait_push(f, &b, 3, "B");
	assert_int_equal(beat(f, "g1", &b), SYNOD_OK);
	v = check(f, "g1");
	assert_string_equal(v.state, "stable");

	/* Errors. */
	{
		struct member x;
		struct hb h;
		memset(&x, 0, sizeof x);
		snprintf(x.id, sizeof x.id, "%s", "no-such-member");
		x.epoch = 1;
		assert_int_equal(beat(f, "g1", &x), SYNOD_EUNKNOWN_MEMBER_ID);
		x = a;
		x.epoch = 7;
		assert_int_equal(beat(f, "g1", &x), SYNOD_EFENCED_MEMBER_EPOCH);
		memset(&x, 0, sizeof x);
		h = (struct hb){"g1", &x,   0, NULL,  NULL,
				NULL, NULL, 0, 30000, NULL};
		assert_int_equal(heartbeat(f, &h), SYNOD_EINVALID_REQUEST);
		h = (struct hb){"g1",	  &x,	0, "orders", NULL,
				"sticky", NULL, 0, 30000,    NULL};
		assert_int_equal(heartbeat(f, &h), SYNOD_EUNSUPPORTED_ASSIGNOR);
		h = (struct hb){"g1", &x,   0, NULL,  "([a-z",
				NULL, NULL, 0, 30000, NULL};
		assert_int_equal(heartbeat(f, &h),
				 SYNOD_EINVALID_REGULAR_EXPRESSION);
		h = (struct hb){"g1", &x,   -2, NULL, NULL,
				NULL, NULL, 0,	-1,   NULL};
		snprintf(x.id, sizeof x.id, "%s", a.id);
		assert_int_equal(heartbeat(f, &h), SYNOD_EINVALID_REQUEST);
	}

	/* B stops heartbeating: fenced after the session, A gets all. */
	{
		uint64_t end = tool_now_ms() + WAIT_MS;
		for (;;) {
			assert_int_equal(beat(f, "g1", &a), SYNOD_OK);
			v = check(f, "g1");
			if (v.members == 1 && owned_count(&a) == 6 &&
			    strcmp(v.state, "stable") == 0)
				break;
			if (tool_now_ms() > end)
				fail_msg("B was not fenced");
			itest_pump(&f->it.loop, 100);
		}
	}
	assert_int_equal(beat(f, "g1", &b), SYNOD_EUNKNOWN_MEMBER_ID);
	/* The active controller's NODE_STATUS counts the group. */
	{
		unsigned leader = cluster_wait_leader(&f->it.c, WAIT_MS);
		Synod__Wire__NodeStatusResponse *ns =
		    cluster_node_status(&f->it.c, leader, 2000);
		assert_non_null(ns);
		assert_true(ns->active_controller && ns->has_groups);
		assert_int_equal(ns->groups, 1);
		assert_int_equal(ns->group_members, 1);
		assert_true(ns->group_heartbeats > 0);
		synod__wire__node_status_response__free_unpacked(ns, NULL);
	}

	/* Leave, then delete the empty group. */
	{
		Synod__Wire__GroupDeleteRequest dr =
		    SYNOD__WIRE__GROUP_DELETE_REQUEST__INIT;
		struct hb h = {"g1", &a,   -1, NULL, NULL,
			       NULL, NULL, 0,  -1,   NULL};
		dr.group_id = "g1";
		assert_int_equal(
		    itest_call(&f->it, SYNOD_API_GROUP_DELETE, &dr.base,
			       &synod__wire__group_delete_response__descriptor,
			       NULL),
		    SYNOD_ENON_EMPTY_GROUP);
		assert_int_equal(heartbeat(f, &h), SYNOD_OK);
		assert_int_equal(a.epoch, -1);
		v = check(f, "g1");
		assert_string_equal(v.state, "empty");
		assert_int_equal(
		    itest_call(&f->it, SYNOD_API_GROUP_DELETE, &dr.base,
			       &synod__wire__group_delete_response__descriptor,
			       NULL),
		    SYNOD_OK);
	}
	f->it.passed = 1;
}

/* Invariant: a join under the id of a member the group still has (a
 * rejoin after a fence, or a join retried after its answer was lost) is
 * that member, not a new one: no ghost is left holding partitions until
 * its session ends. The group keeps one member per consumer; the join
 * itself releases nothing (it may be a delayed copy of an answered one),
 * and what the member gave up goes to its target with its next report. */
static void test_rejoin_same_id(void **state)
{
	struct fixture *f = *state;
	struct member a, b, x;
	struct gview v;
	struct hb h;
	int32_t epoch;
	start(f);
	create_topic(f, "orders", 4);
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	f->members[f->n_members++] = &a;
	f->members[f->n_members++] = &b;
	synod_client_on_push(f->it.cl, on_push, f);

	/* A joins under the id it chose, then sends the same join again. */
	snprintf(a.id, sizeof a.id, "%s", "consumer-a");
	h = (struct hb){"g4", &a,   0, "orders", NULL,
			NULL, NULL, 0, 30000,	 NULL};
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	assert_string_equal(a.id, "consumer-a");
	assert_int_equal(owned_count(&a), 4);
	epoch = a.epoch;
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	assert_string_equal(a.id, "consumer-a");
	assert_int_equal(a.epoch, epoch);
	assert_int_equal(owned_count(&a), 4);
	v = check(f, "g4");
	assert_int_equal(v.members, 1);
	assert_int_equal(v.assigned, 4);

	/* B joins: A is asked to give up two, B waits for them. */
	snprintf(b.id, sizeof b.id, "%s", "consumer-b");
	h.m = &b;
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	assert_string_equal(b.id, "consumer-b");
	assert_int_equal(owned_count(&b), 0);
	v = check(f, "g4");
	assert_int_equal(v.members, 2);
	assert_int_equal(v.pending, 2);

	/* Another instance may not take A's id. */
	x = a;
	h = (struct hb){"g4", &x,	0, "orders", NULL,
			NULL, "inst-x", 0, 30000,    NULL};
	assert_int_equal(heartbeat(f, &h), SYNOD_EFENCED_INSTANCE_ID);

	/* A is fenced (a stale epoch), gives everything up and rejoins
	 * under its id: still two members, and the answer carries A's
	 * assignment. The join itself releases nothing (it may be a delayed
	 * copy of an answered one): A's next report does, and B gets its two
	 * in that entry, long before A's session could have ended. */
	x = a;
	x.epoch = a.epoch + 7;
	assert_int_equal(beat(f, "g4", &x), SYNOD_EFENCED_MEMBER_EPOCH);
	a.ntopics = 0;
	a.version = 0;
	h = (struct hb){"g4", &a,   0, "orders", NULL,
			NULL, NULL, 0, 30000,	 NULL};
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	assert_string_equal(a.id, "consumer-a");
	assert_int_equal(owned_count(&a), 2);
	v = check(f, "g4");
	assert_int_equal(v.members, 2);
	assert_int_equal(v.pending, 2);
	assert_int_equal(beat(f, "g4", &a), SYNOD_OK);
	v = check(f, "g4");
	assert_int_equal(v.members, 2);
	assert_int_equal(v.pending, 0);
	wait_push(f, &b, 2, "B");
	/* A delayed copy of A's join, processed now, takes nothing from B. */
	x = a;
	h = (struct hb){"g4", &x,   0, "orders", NULL,
			NULL, NULL, 0, 30000,	 NULL};
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	assert_int_equal(owned_count(&x), 2);
	v = check(f, "g4");
	assert_int_equal(v.members, 2);
	assert_int_equal(v.pending, 0);
	assert_int_equal(v.assigned, 4);
	assert_int_equal(beat(f, "g4", &b), SYNOD_OK);
	assert_int_equal(beat(f, "g4", &a), SYNOD_OK);
	v = check(f, "g4");
	assert_int_equal(v.members, 2);
	assert_int_equal(v.assigned, 4);
	assert_string_equal(v.state, "stable");
	/* The active controller counts the rejoins (three here, unless
	 * leadership moved meanwhile). */
	{
		unsigned leader = cluster_wait_leader(&f->it.c, WAIT_MS);
		Synod__Wire__NodeStatusResponse *ns =
		    cluster_node_status(&f->it.c, leader, 2000);
		assert_non_null(ns);
		assert_true(ns->has_group_rejoins && ns->has_group_joins);
		assert_true(ns->group_rejoins >= 1 && ns->group_rejoins <= 3);
		assert_true(ns->group_joins >= ns->group_rejoins);
		synod__wire__node_status_response__free_unpacked(ns, NULL);
	}
	f->it.passed = 1;
}

/* Invariant (reliability.md 5.6): a partition the controller gave a
 * member stays that member's, for the controller, until the member
 * reports it gone in a heartbeat made after it saw the revocation. A
 * report from before the member saw the assignment that gave it the
 * partition (its push still in flight) does not release it, even once
 * the record has moved it to pending revocation; the answer to such a
 * report carries the member's current assignment again. */
static void test_report_before_push(void **state)
{
	struct fixture *f = *state;
	struct member x, x_old, y;
	struct gview v;
	uint64_t v2;
	start(f);
	create_topic(f, "dl-a", 1);
	assert_int_equal(join(f, "g5", &x, "dl-a,dl-b", NULL), SYNOD_OK);
	assert_int_equal(owned_count(&x), 1);
	/* x_old: the member as it is while the next push is in flight. */
	x_old = x;
	create_topic(f, "dl-b", 1);
	for (uint64_t end = tool_now_ms() + WAIT_MS; owned_count(&x) != 2;) {
		if (tool_now_ms() > end)
			fail_msg("dl-b-0 was not pushed to x");
		itest_pump(&f->it.loop, 10);
	}
	assert_true(x.version > x_old.version);
	v2 = x.version;
	/* y wants dl-b only: the target moves dl-b-0 from x to y, and x's
	 * record holds it as pending revocation. */
	assert_int_equal(join(f, "g5", &y, "dl-b", NULL), SYNOD_OK);
	assert_int_equal(owned_count(&y), 0);
	v = check(f, "g5");
	assert_int_equal(v.pending, 1);
	/* The report from before the push: it does not own dl-b-0 (it
	 * never saw it), yet it may: nothing is released. */
	assert_int_equal(beat(f, "g5", &x_old), SYNOD_OK);
	v = check(f, "g5");
	assert_int_equal(v.pending, 1);
	assert_int_equal(owned_count(&y), 0);
	/* ... and its answer carried the current assignment again. */
	assert_true(x_old.version > v2);
	assert_int_equal(owned_count(&x_old), 1);
	/* x, having seen the revocation, reports dl-b-0 gone: y gets it. */
	for (uint64_t end = tool_now_ms() + WAIT_MS; owned_count(&x) != 1;) {
		if (tool_now_ms() > end)
			fail_msg("the revocation was not pushed to x");
		itest_pump(&f->it.loop, 10);
	}
	assert_int_equal(beat(f, "g5", &x), SYNOD_OK);
	v = check(f, "g5");
	assert_int_equal(v.pending, 0);
	for (uint64_t end = tool_now_ms() + WAIT_MS; owned_count(&y) != 1;) {
		if (tool_now_ms() > end)
			fail_msg("dl-b-0 was not pushed to y");
		itest_pump(&f->it.loop, 10);
	}
	f->it.passed = 1;
}

/* A regex subscription meets a topic created later: the group's epoch
 * moves and the new partitions are assigned. A kill -9 of the active
 * controller in the middle of a reconciliation fences nobody, and the
 * invariant holds on the new controller. */
static void test_regex_and_failover(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = &f->it.c;
	struct member a, b;
	struct gview v;
	unsigned leader;
	uint64_t end;
	start(f);
	create_topic(f, "logs-a", 4);
	assert_int_equal(join(f, "g2", &a, NULL, "^logs-.*"), SYNOD_OK);
	assert_int_equal(owned_count(&a), 4);
	create_topic(f, "logs-b", 4);
	create_topic(f, "other", 4);
	end = tool_now_ms() + WAIT_MS;
	while (owned_count(&a) != 8) {
		assert_int_equal(beat(f, "g2", &a), SYNOD_OK);
		if (tool_now_ms() > end)
			fail_msg("the new topic was not assigned");
		itest_pump(&f->it.loop, 100);
	}
	v = check(f, "g2");
	assert_int_equal(v.target, 8);

	/* B joins: A must give up half; kill the controller before A
	 * reports. */
	assert_int_equal(join(f, "g2", &b, NULL, "^logs-.*"), SYNOD_OK);
	v = check(f, "g2");
	assert_int_equal(v.pending, 4);
	leader = cluster_wait_leader(c, WAIT_MS);
	assert_int_equal(cluster_kill(c, leader), 0);
	assert_int_not_equal(cluster_wait_leader(c, WAIT_MS), 0);
	/* On the new controller: both still members (grace), A finishes
	 * revoking, B receives. */
	end = tool_now_ms() + WAIT_MS;
	for (;;) {
		int ca = beat(f, "g2", &a), cb = beat(f, "g2", &b);
		if (ca == SYNOD_OK && cb == SYNOD_OK) {
			v = check(f, "g2");
			if (v.members == 2 && owned_count(&a) == 4 &&
			    owned_count(&b) == 4 &&
			    strcmp(v.state, "stable") == 0)
				break;
		} else {
			assert_true(ca == SYNOD_ENOT_CONTROLLER ||
				    ca == SYNOD_EUNAVAILABLE ||
				    ca == SYNOD_ETIMEOUT);
		}
		if (tool_now_ms() > end)
			fail_msg("the group did not settle after failover");
		itest_pump(&f->it.loop, 100);
	}
	/* What operators see (synodctl group ... --json). */
	{
		json_t *j = NULL, *members, *m;
		size_t i, total = 0;
		assert_int_equal(
		    itest_synodctl(&f->it, SYNOD_CTL, "group describe g2", &j),
		    0);
		assert_string_equal(
		    json_string_value(json_object_get(j, "state")), "stable");
		members = json_object_get(j, "members");
		assert_int_equal(json_array_size(members), 2);
		json_array_foreach(members, i, m)
		{
			json_t *as = json_object_get(m, "assigned"), *t;
			size_t k;
			json_array_foreach(as, k, t) total +=
			    json_array_size(json_object_get(t, "partitions"));
			assert_int_equal(json_array_size(json_object_get(
					     m, "pending_revocation")),
					 0);
		}
		assert_int_equal(total, 8);
		json_decref(j);
		assert_int_equal(
		    itest_synodctl(&f->it, SYNOD_CTL, "group list", &j), 0);
		assert_int_equal(json_array_size(json_object_get(j, "groups")),
				 1);
		json_decref(j);
	}
	f->it.passed = 1;
}

/* The broker holding each partition of topic (RF 1): leader[p]. */
static void leaders(struct fixture *f, const char *topic, int32_t *leader,
		    size_t n)
{
	Synod__Wire__DescribeTopicsRequest r =
	    SYNOD__WIRE__DESCRIBE_TOPICS_REQUEST__INIT;
	Synod__Wire__DescribeTopicsResponse *d = NULL;
	char *names[1] = {(char *)topic};
	r.names = names;
	r.n_names = 1;
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_DESCRIBE_TOPICS, &r.base,
		       &synod__wire__describe_topics_response__descriptor,
		       (ProtobufCMessage **)&d),
	    SYNOD_OK);
	assert_int_equal(d->topics[0]->n_partitions, n);
	for (size_t i = 0; i < n; i++)
		leader[d->topics[0]->partitions[i]->partition] =
		    d->topics[0]->partitions[i]->replicas[0];
	synod__wire__describe_topics_response__free_unpacked(d, NULL);
}

/* Rack-aware assignment (balance > rack > stickiness): members in racks
 * r1 and r2 each get the partitions whose replica lives in their rack,
 * and the rest is split to keep the sizes balanced. */
static void test_racks(void **state)
{
	struct fixture *f = *state;
	struct member a, b;
	int32_t leader[6];
	struct hb h;
	start(f);
	create_topic(f, "racked", 6);
	leaders(f, "racked", leader, 6);
	memset(&a, 0, sizeof a);
	f->members[f->n_members++] = &a;
	synod_client_on_push(f->it.cl, on_push, f);
	h = (struct hb){"g3", &a,   0, "racked", NULL,
			NULL, NULL, 0, 30000,	 "r1"};
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	memset(&b, 0, sizeof b);
	f->members[f->n_members++] = &b;
	h = (struct hb){"g3", &b,   0, "racked", NULL,
			NULL, NULL, 0, 30000,	 "r2"};
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	for (uint64_t end = tool_now_ms() + WAIT_MS;;) {
		struct gview v;
		assert_int_equal(beat(f, "g3", &a), SYNOD_OK);
		assert_int_equal(beat(f, "g3", &b), SYNOD_OK);
		v = check(f, "g3");
		if (strcmp(v.state, "stable") == 0 && owned_count(&a) == 3 &&
		    owned_count(&b) == 3)
			break;
		if (tool_now_ms() > end)
			fail_msg("group g3 did not settle");
		itest_pump(&f->it.loop, 50);
	}
	/* Every partition on broker 1 (rack r1) went to A, on broker 2
	 * (r2) to B. */
	for (size_t i = 0; i < a.nparts[0]; i++)
		assert_int_not_equal(leader[a.parts[0][i]], 2);
	for (size_t i = 0; i < b.nparts[0]; i++)
		assert_int_not_equal(leader[b.parts[0][i]], 1);
	f->it.passed = 1;
}

/* ---- static membership and per-group configs ---- */

static int join_static(struct fixture *f, const char *group, struct member *m,
		       const char *names, const char *instance)
{
	struct hb h = {group, m,	0, names, NULL,
		       NULL,  instance, 0, 30000, NULL};
	memset(m, 0, sizeof *m);
	if (f->n_members < 8)
		f->members[f->n_members++] = m;
	synod_client_on_push(f->it.cl, on_push, f);
	return heartbeat(f, &h);
}

/* Heartbeats from every member until the group is stable and each holds
 * its target; fails after WAIT_MS. */
static void settle(struct fixture *f, const char *group, struct member **m,
		   unsigned n)
{
	for (uint64_t end = tool_now_ms() + WAIT_MS;;) {
		struct gview v;
		for (unsigned i = 0; i < n; i++)
			assert_int_equal(beat(f, group, m[i]), SYNOD_OK);
		v = check(f, group);
		if (strcmp(v.state, "stable") == 0 && v.pending == 0)
			return;
		if (tool_now_ms() > end)
			fail_msg("group %s did not settle", group);
		itest_pump(&f->it.loop, 20);
	}
}

static int config_call(struct fixture *f, unsigned scope, const char *res,
		       const char *key, const char *value)
{
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT, *ep = &e;
	e.scope = scope;
	e.resource = (char *)res;
	e.key = (char *)key;
	e.value = (char *)value;
	r.n_entries = 1;
	r.entries = &ep;
	return itest_call(&f->it, SYNOD_API_CONFIG_SET, &r.base,
			  &synod__wire__config_set_response__descriptor, NULL);
}

/* Entries CONFIG_LIST returns for one group. */
static size_t group_configs(struct fixture *f, const char *group)
{
	Synod__Wire__ConfigListRequest r =
	    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
	Synod__Wire__ConfigListResponse *l = NULL;
	size_t n;
	r.has_scope = 1;
	r.scope = SYNOD_SCOPE_GROUP;
	r.resource = (char *)group;
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_CONFIG_LIST, &r.base,
		       &synod__wire__config_list_response__descriptor,
		       (ProtobufCMessage **)&l),
	    SYNOD_OK);
	n = l->n_entries;
	synod__wire__config_list_response__free_unpacked(l, NULL);
	return n;
}

static int same_owned(const struct member *a, const struct member *b)
{
	if (a->ntopics != b->ntopics)
		return 0;
	for (size_t i = 0; i < a->ntopics; i++)
		if (a->nparts[i] != b->nparts[i] ||
		    memcmp(a->parts[i], b->parts[i],
			   a->nparts[i] * sizeof(int32_t)) != 0)
			return 0;
	return 1;
}

/* Invariants: a static member that leaves with -2 and comes back within
 * its session keeps its partitions: the group epoch does not move and
 * the other member's epoch and assignment do not either. An instance id
 * belongs to one member at a time (UNRELEASED_INSTANCE_ID,
 * FENCED_INSTANCE_ID). A group's config overrides change that group's
 * heartbeat interval and session (expiry included) and no other group's,
 * stay within the cluster's bounds, and go with the group. */
static void test_static_and_overrides(void **state)
{
	struct fixture *f = *state;
	struct member a, b, a2, c, x, *ab[2];
	struct gview v;
	struct hb h;
	int32_t epoch, b_epoch;
	start(f);
	create_topic(f, "fixed", 4);
	assert_int_equal(join_static(f, "gs", &a, "fixed", "inst-a"), SYNOD_OK);
	assert_int_equal(join_static(f, "gs", &b, "fixed", "inst-b"), SYNOD_OK);
	ab[0] = &a;
	ab[1] = &b;
	settle(f, "gs", ab, 2);
	assert_int_equal(owned_count(&a), 2);
	assert_int_equal(owned_count(&b), 2);
	epoch = check(f, "gs").epoch;
	b_epoch = b.epoch;

	/* The instance id is held: a second join with it, or a heartbeat
	 * quoting it from another member, is refused. */
	assert_int_equal(join_static(f, "gs", &x, "fixed", "inst-a"),
			 SYNOD_EUNRELEASED_INSTANCE_ID);
	h = (struct hb){"gs", &b,	b.epoch, NULL, NULL,
			NULL, "inst-a", 1,	 -1,   NULL};
	assert_int_equal(heartbeat(f, &h), SYNOD_EFENCED_INSTANCE_ID);

	/* A restarts: leaves with -2, comes back with a new member id. */
	h = (struct hb){"gs", &a, -2, NULL, NULL, NULL, "inst-a", 0, -1, NULL};
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	assert_int_equal(a.epoch, -2);
	v = check(f, "gs");
	assert_int_equal(v.epoch, epoch);
	assert_int_equal(v.members, 2);
	assert_int_equal(join_static(f, "gs", &a2, "fixed", "inst-a"),
			 SYNOD_OK);
	assert_string_not_equal(a2.id, a.id);
	assert_true(same_owned(&a2, &a));
	v = check(f, "gs");
	assert_int_equal(v.epoch, epoch);
	assert_int_equal(v.members, 2);
	assert_string_equal(v.state, "stable");
	assert_int_equal(beat(f, "gs", &b), SYNOD_OK);
	assert_int_equal(b.epoch, b_epoch);
	assert_int_equal(owned_count(&b), 2);
	a.epoch = 1;
	assert_int_equal(beat(f, "gs", &a), SYNOD_EUNKNOWN_MEMBER_ID);

	/* A third member exceeds a max size of 2. */
	assert_int_equal(
	    itest_set_config(&f->it, "group.consumer.max.size", "2"), SYNOD_OK);
	assert_int_equal(join(f, "gs", &x, "fixed", NULL),
			 SYNOD_EGROUP_MAX_SIZE_REACHED);
	assert_int_equal(
	    itest_set_config(&f->it, "group.consumer.max.size", "100"),
	    SYNOD_OK);

	/* Per-group overrides: gs only; other groups keep the cluster's. */
	assert_int_equal(join(f, "other", &c, "fixed", NULL), SYNOD_OK);
	assert_int_equal(c.interval_ms, 200);
	assert_int_equal(c.session_ms, SESSION_MS);
	assert_int_equal(config_call(f, SYNOD_SCOPE_GROUP, "gs",
				     "consumer.heartbeat.interval.ms", "300"),
			 SYNOD_OK);
	assert_int_equal(config_call(f, SYNOD_SCOPE_GROUP, "gs",
				     "consumer.session.timeout.ms", "3000"),
			 SYNOD_OK);
	assert_int_equal(beat(f, "gs", &b), SYNOD_OK);
	assert_int_equal(b.interval_ms, 300);
	assert_int_equal(b.session_ms, 3000);
	assert_int_equal(beat(f, "other", &c), SYNOD_OK);
	assert_int_equal(c.interval_ms, 200);
	assert_int_equal(c.session_ms, SESSION_MS);
	/* Out of the cluster's bounds, wrong scope, no group: refused. */
	assert_int_equal(config_call(f, SYNOD_SCOPE_GROUP, "gs",
				     "consumer.session.timeout.ms", "1000"),
			 SYNOD_EINVALID_CONFIG);
	assert_int_equal(config_call(f, SYNOD_SCOPE_GROUP, "gs",
				     "consumer.heartbeat.interval.ms",
				     "100000"),
			 SYNOD_EINVALID_CONFIG);
	assert_int_equal(config_call(f, SYNOD_SCOPE_CLUSTER, NULL,
				     "consumer.session.timeout.ms", "3000"),
			 SYNOD_EINVALID_CONFIG);
	assert_int_equal(
	    config_call(f, SYNOD_SCOPE_GROUP, "gs", "retention.ms", "1000"),
	    SYNOD_EINVALID_CONFIG);
	assert_int_equal(config_call(f, SYNOD_SCOPE_GROUP, "gs",
				     "group.consumer.max.size", "5"),
			 SYNOD_EINVALID_CONFIG);
	assert_int_equal(config_call(f, SYNOD_SCOPE_GROUP, "",
				     "consumer.session.timeout.ms", "3000"),
			 SYNOD_EINVALID_ARGUMENT);
	assert_int_equal(
	    config_call(f, 3, "gs", "consumer.session.timeout.ms", "3000"),
	    SYNOD_EINVALID_CONFIG);
	/* CONFIG_GET: the override, or the cluster's value as default. */
	{
		Synod__Wire__ConfigGetRequest g =
		    SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
		Synod__Wire__ConfigGetResponse *r = NULL;
		g.scope = SYNOD_SCOPE_GROUP;
		g.resource = "other";
		g.key = "consumer.session.timeout.ms";
		assert_int_equal(
		    itest_call(&f->it, SYNOD_API_CONFIG_GET, &g.base,
			       &synod__wire__config_get_response__descriptor,
			       (ProtobufCMessage **)&r),
		    SYNOD_OK);
		assert_true(r->is_default);
		assert_int_equal(atoi(r->entry->value), SESSION_MS);
		synod__wire__config_get_response__free_unpacked(r, NULL);
	}
	assert_int_equal(group_configs(f, "gs"), 2);

	/* A2 leaves for good (-2 and never back): fenced after the group's
	 * 3 s session, not the cluster's 2 s; B gets all four. */
	h = (struct hb){"gs", &a2, -2, NULL, NULL, NULL, "inst-a", 0, -1, NULL};
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	{
		uint64_t left = tool_now_ms(), end = left + WAIT_MS;
		for (;;) {
			assert_int_equal(beat(f, "gs", &b), SYNOD_OK);
			assert_int_equal(beat(f, "other", &c), SYNOD_OK);
			v = check(f, "gs");
			if (v.members == 1)
				break;
			if (tool_now_ms() > end)
				fail_msg("the static member was not fenced");
			itest_pump(&f->it.loop, 50);
		}
		assert_true(tool_now_ms() - left >= 3000 - 200);
	}
	settle(f, "gs", ab + 1, 1);
	assert_int_equal(owned_count(&b), 4);

	/* The empty group's delete takes its overrides with it. */
	h = (struct hb){"gs", &b, -1, NULL, NULL, NULL, NULL, 0, -1, NULL};
	assert_int_equal(heartbeat(f, &h), SYNOD_OK);
	{
		Synod__Wire__GroupDeleteRequest dr =
		    SYNOD__WIRE__GROUP_DELETE_REQUEST__INIT;
		dr.group_id = "gs";
		assert_int_equal(
		    itest_call(&f->it, SYNOD_API_GROUP_DELETE, &dr.base,
			       &synod__wire__group_delete_response__descriptor,
			       NULL),
		    SYNOD_OK);
	}
	assert_int_equal(group_configs(f, "gs"), 0);
	f->it.passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_join_revoke_assign, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_rejoin_same_id, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_regex_and_failover, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_racks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_report_before_push, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_static_and_overrides, setup,
					    teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
