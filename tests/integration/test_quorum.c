/* tests/integration/test_quorum.c - multi-process tests of a real quorum.
 *
 * Each test starts its own quorum of `synod` processes (SYNOD_BIN) on
 * loopback with a 300 ms election timeout through tools/cluster.c, drives
 * it with the client library (and raw sockets for bad input), and checks
 * what survives kills, stops, restarts and membership changes. Every wait
 * is bounded; a failing test prints the tail of every node's log.
 * $SYNOD_KEEP_TEST_DIRS keeps the data dirs and logs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#ifndef SYNOD_BIN
#define SYNOD_BIN NULL
#endif

#define WAIT_MS 15000

struct fixture {
	struct itest it;
};

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rv = itest_teardown(&f->it, NULL, 0, 0);
	free(f);
	return rv;
}

/* ---- client helpers ---- */

static int set_configs(struct synod_client *cl, int to_leader,
		       Synod__Wire__ConfigEntry **entries, size_t n,
		       int validate_only)
{
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	r.n_entries = n;
	r.entries = entries;
	if (validate_only) {
		r.has_validate_only = 1;
		r.validate_only = 1;
	}
	return itest_call_client(cl, SYNOD_API_CONFIG_SET, &r.base, to_leader,
				 &synod__wire__config_set_response__descriptor,
				 NULL);
}

static int set_config(struct synod_client *cl, unsigned scope,
		      const char *resource, const char *key, const char *value)
{
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	Synod__Wire__ConfigEntry *ep = &e;
	e.scope = scope;
	e.resource = (char *)resource;
	e.key = (char *)key;
	e.value = (char *)value;
	return set_configs(cl, 1, &ep, 1, 0);
}

static int delete_config(struct synod_client *cl, unsigned scope,
			 const char *resource, const char *key)
{
	Synod__Wire__ConfigDeleteRequest r =
	    SYNOD__WIRE__CONFIG_DELETE_REQUEST__INIT;
	r.scope = scope;
	r.resource = (char *)resource;
	r.key = (char *)key;
	return itest_call_client(
	    cl, SYNOD_API_CONFIG_DELETE, &r.base, 1,
	    &synod__wire__config_delete_response__descriptor, NULL);
}

/* CONFIG_GET: returns the code; *value (malloc'd) and *is_default set on
 * success. */
static int get_config(struct synod_client *cl, unsigned scope,
		      const char *resource, const char *key, char **value,
		      int *is_default)
{
	Synod__Wire__ConfigGetRequest r = SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	Synod__Wire__ConfigGetResponse *resp;
	int code;
	r.scope = scope;
	r.resource = (char *)resource;
	r.key = (char *)key;
	*value = NULL;
	code = itest_call_client(cl, SYNOD_API_CONFIG_GET, &r.base, 1,
				 &synod__wire__config_get_response__descriptor,
				 (ProtobufCMessage **)&resp);
	if (resp == NULL)
		return code;
	if (code == SYNOD_OK && resp->entry) {
		*value = strdup(resp->entry->value);
		if (is_default)
			*is_default = resp->has_is_default && resp->is_default;
	}
	synod__wire__config_get_response__free_unpacked(resp, NULL);
	return code;
}

static Synod__Wire__ConfigListResponse *list_configs(struct synod_client *cl)
{
	Synod__Wire__ConfigListRequest r =
	    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
	Synod__Wire__ConfigListResponse *resp;
	int code =
	    itest_call_client(cl, SYNOD_API_CONFIG_LIST, &r.base, 1,
			      &synod__wire__config_list_response__descriptor,
			      (ProtobufCMessage **)&resp);
	if (code != SYNOD_OK) {
		fprintf(stderr, "CONFIG_LIST: %s\n", synod_error_name(code));
		if (resp)
			synod__wire__config_list_response__free_unpacked(resp,
									 NULL);
		return NULL;
	}
	return resp;
}

static const char *find_entry(const Synod__Wire__ConfigListResponse *l,
			      unsigned scope, const char *resource,
			      const char *key)
{
	for (size_t i = 0; i < l->n_entries; i++) {
		const Synod__Wire__ConfigEntry *e = l->entries[i];
		const char *res = e->resource ? e->resource : "";
		if (e->scope == scope && strcmp(e->key, key) == 0 &&
		    strcmp(res, resource ? resource : "") == 0)
			return e->value;
	}
	return NULL;
}

static Synod__Wire__MetadataResponse *metadata(struct synod_client *cl)
{
	Synod__Wire__MetadataRequest r = SYNOD__WIRE__METADATA_REQUEST__INIT;
	Synod__Wire__MetadataResponse *resp;
	int code =
	    itest_call_client(cl, SYNOD_API_METADATA, &r.base, 0,
			      &synod__wire__metadata_response__descriptor,
			      (ProtobufCMessage **)&resp);
	if (code != SYNOD_OK && resp) {
		synod__wire__metadata_response__free_unpacked(resp, NULL);
		resp = NULL;
	}
	return resp;
}

static const Synod__Wire__NodeAddress *
meta_node(const Synod__Wire__MetadataResponse *m, uint64_t id)
{
	for (size_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i]->id == id)
			return m->nodes[i];
	return NULL;
}

static int quorum_change(struct synod_client *cl, uint16_t api,
			 const ProtobufCMessage *req)
{
	return itest_call_client(
	    cl, api, req, 1, &synod__wire__quorum_change_response__descriptor,
	    NULL);
}

static int transfer_leader(struct synod_client *cl, uint64_t id)
{
	Synod__Wire__TransferLeaderRequest r =
	    SYNOD__WIRE__TRANSFER_LEADER_REQUEST__INIT;
	r.has_id = 1;
	r.id = id;
	return quorum_change(cl, SYNOD_API_TRANSFER_LEADER, &r.base);
}

/* ---- status helpers ---- */

static Synod__Wire__NodeStatusResponse *status(struct cluster *c, unsigned id)
{
	return cluster_node_status(c, id, 2000);
}

static void status_free(Synod__Wire__NodeStatusResponse *s)
{
	if (s)
		synod__wire__node_status_response__free_unpacked(s, NULL);
}

static uint64_t applied_index(struct cluster *c, unsigned id)
{
	Synod__Wire__NodeStatusResponse *s = status(c, id);
	uint64_t idx = s ? s->applied_index : 0;
	status_free(s);
	return idx;
}

typedef int (*status_pred)(const Synod__Wire__NodeStatusResponse *s,
			   uint64_t arg);

/* Poll node id's NODE_STATUS until pred holds. 0, or -1 at the deadline. */
static int wait_status(struct cluster *c, unsigned id, status_pred pred,
		       uint64_t arg, unsigned timeout_ms)
{
	uint64_t deadline = tool_now_ms() + timeout_ms;
	for (;;) {
		Synod__Wire__NodeStatusResponse *s = status(c, id);
		int ok = s && pred(s, arg);
		status_free(s);
		if (ok)
			return 0;
		if (tool_now_ms() >= deadline)
			return -1;
		itest_sleep_ms(15);
	}
}

static int knows_leader(const Synod__Wire__NodeStatusResponse *s,
			uint64_t leader)
{
	return s->leader_id == leader;
}

static int is_active(const Synod__Wire__NodeStatusResponse *s, uint64_t arg)
{
	(void)arg;
	return s->active_controller;
}

static int follows_other(const Synod__Wire__NodeStatusResponse *s,
			 uint64_t self)
{
	return strcmp(s->role, "follower") == 0 && !s->active_controller &&
	       s->leader_id != 0 && s->leader_id != self;
}

/* Make node id the active controller: TRANSFER_LEADER, retried while
 * raft could not complete it (the target may need one more round to be
 * up to date on a loaded machine). 0, or the last code. */
static int make_leader(struct cluster *c, struct synod_client *cl, unsigned id)
{
	int code = SYNOD_EUNKNOWN;
	for (int attempt = 0; attempt < 5; attempt++) {
		if (wait_status(c, id, is_active, 0, 0) == 0)
			return SYNOD_OK;
		code = transfer_leader(cl, id);
		if (code == SYNOD_OK &&
		    wait_status(c, id, is_active, 0, WAIT_MS) == 0)
			return SYNOD_OK;
		fprintf(stderr, "transfer to node %u: %s (attempt %d)\n", id,
			synod_error_name(code), attempt + 1);
		if (code == SYNOD_OK)
			code = SYNOD_ETIMEOUT;
		else if (code != SYNOD_EUNAVAILABLE && code != SYNOD_EBUSY)
			break;
		itest_sleep_ms(50 * (attempt + 1));
	}
	return code;
}

static unsigned other_than(struct cluster *c, unsigned a, unsigned b)
{
	for (unsigned id = 1; id <= c->n; id++)
		if (id != a && id != b && cluster_running(c, id))
			return id;
	return 0;
}

/* ---- a. kill -9 of the leader loses no acknowledged write ---- */

#define A_SEQ 20
#define A_ASYNC 200
#define A_WINDOW 32

struct awrite {
	int done;
	int code;
	char topic[32];
	char value[32];
	Synod__Wire__ConfigEntry e;
	Synod__Wire__ConfigEntry *ep;
	Synod__Wire__ConfigSetRequest req;
};

static void on_awrite(void *arg, int status, const uint8_t *body, size_t len)
{
	struct awrite *w = arg;
	w->done = 1;
	w->code = status;
	if (status == SYNOD_OK) {
		Synod__Wire__ConfigSetResponse *r =
		    synod__wire__config_set_response__unpack(NULL, len, body);
		w->code = r ? r->status->code : SYNOD_EINVALID_REQUEST;
		if (r)
			synod__wire__config_set_response__free_unpacked(r,
									NULL);
	}
}

static void test_leader_kill_keeps_acked_writes(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = itest_start(&f->it, 3, SYNOD_BIN, NULL);
	struct synod_client *cl;
	struct awrite *w;
	Synod__Wire__ConfigListResponse *l;
	unsigned leader, leader2, sent = 0, done = 0, ok = 0;
	uint64_t t0;
	char topic[32], value[32], *v;
	int killed = 0, is_default = -1;

	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);

	/* Acknowledged one by one. */
	for (int i = 0; i < A_SEQ; i++) {
		snprintf(topic, sizeof topic, "t%d", i);
		snprintf(value, sizeof value, "%d", 1000 + i);
		assert_int_equal(set_config(cl, SYNOD_SCOPE_TOPIC, topic,
					    "retention.ms", value),
				 SYNOD_OK);
	}
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_CLUSTER, NULL, "num.partitions", "12"),
	    SYNOD_OK);
	assert_int_equal(set_config(cl, SYNOD_SCOPE_CLUSTER, NULL,
				    "leader.imbalance.percentage", "25"),
			 SYNOD_OK);

	/* A stream of writes, a few in flight; kill -9 the leader in the
	 * middle. The client must ride over it (reconnect, follow
	 * NOT_CONTROLLER, resend) and every write must end acknowledged. */
	w = calloc(A_ASYNC, sizeof *w);
	assert_non_null(w);
	t0 = tool_now_ms();
	while (done < A_ASYNC) {
		while (sent < A_ASYNC && sent - done < A_WINDOW) {
			struct awrite *x = &w[sent];
			synod__wire__config_entry__init(&x->e);
			synod__wire__config_set_request__init(&x->req);
			snprintf(x->topic, sizeof x->topic, "t%u",
				 A_SEQ + sent);
			snprintf(x->value, sizeof x->value, "%u", 5000 + sent);
			x->e.scope = SYNOD_SCOPE_TOPIC;
			x->e.resource = x->topic;
			x->e.key = "retention.ms";
			x->e.value = x->value;
			x->ep = &x->e;
			x->req.n_entries = 1;
			x->req.entries = &x->ep;
			assert_int_equal(
			    synod_client_send(cl, SYNOD_API_CONFIG_SET,
					      &x->req.base, 1, on_awrite, x),
			    SYNOD_OK);
			sent++;
		}
		uv_run(synod_client_loop(cl), UV_RUN_ONCE);
		done = ok = 0;
		for (unsigned i = 0; i < sent; i++) {
			done += w[i].done;
			ok += w[i].done && w[i].code == SYNOD_OK;
		}
		if (!killed && ok >= A_ASYNC / 3) {
			assert_int_equal(cluster_kill(c, leader), 0);
			killed = 1;
		}
		assert_true(tool_now_ms() - t0 < 60000);
	}
	assert_true(killed);
	for (unsigned i = 0; i < A_ASYNC; i++) {
		if (w[i].code != SYNOD_OK)
			fprintf(stderr, "write %s failed: %s\n", w[i].topic,
				synod_error_name(w[i].code));
		assert_int_equal(w[i].code, SYNOD_OK);
	}

	leader2 = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader2, 0);
	assert_int_not_equal(leader2, leader);

	/* The new leader takes writes. */
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "after", "retention.ms", "777"),
	    SYNOD_OK);

	/* Everything acknowledged is there, with its value. */
	l = list_configs(cl);
	assert_non_null(l);
	assert_int_equal(l->n_entries, A_SEQ + A_ASYNC + 2 + 1);
	for (int i = 0; i < A_SEQ; i++) {
		snprintf(topic, sizeof topic, "t%d", i);
		snprintf(value, sizeof value, "%d", 1000 + i);
		const char *got =
		    find_entry(l, SYNOD_SCOPE_TOPIC, topic, "retention.ms");
		assert_non_null(got);
		assert_string_equal(got, value);
	}
	for (unsigned i = 0; i < A_ASYNC; i++) {
		const char *got = find_entry(l, SYNOD_SCOPE_TOPIC, w[i].topic,
					     "retention.ms");
		assert_non_null(got);
		assert_string_equal(got, w[i].value);
	}
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_CLUSTER, NULL, "num.partitions"), "12");
	assert_string_equal(find_entry(l, SYNOD_SCOPE_CLUSTER, NULL,
				       "leader.imbalance.percentage"),
			    "25");
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_TOPIC, "after", "retention.ms"), "777");
	synod__wire__config_list_response__free_unpacked(l, NULL);
	synod_client_close(cl);

	/* CONFIG_GET straight from the new leader (pinned). */
	cl = cluster_node_client(c, leader2, ITEST_CALL_TIMEOUT_MS, 1);
	assert_non_null(cl);
	assert_int_equal(get_config(cl, SYNOD_SCOPE_TOPIC, "t0", "retention.ms",
				    &v, &is_default),
			 SYNOD_OK);
	assert_string_equal(v, "1000");
	assert_int_equal(is_default, 0);
	free(v);
	assert_int_equal(get_config(cl, SYNOD_SCOPE_TOPIC, w[A_ASYNC - 1].topic,
				    "retention.ms", &v, &is_default),
			 SYNOD_OK);
	assert_string_equal(v, w[A_ASYNC - 1].value);
	free(v);
	synod_client_close(cl);

	/* The killed node comes back and catches up. */
	assert_int_equal(cluster_start_node(c, leader), 0);
	assert_int_equal(
	    cluster_wait_applied(c, applied_index(c, leader2), WAIT_MS), 0);
	free(w);
	f->it.passed = 1;
}

/* ---- b. a follower refuses writes and names the leader ---- */

static void test_follower_redirects(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = itest_start(&f->it, 3, SYNOD_BIN, NULL);
	Synod__Wire__ConfigSetRequest req =
	    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	Synod__Wire__ConfigEntry *ep = &e;
	Synod__Wire__ConfigSetResponse *resp;
	Synod__Wire__MetadataResponse *m;
	struct synod_client *cl;
	unsigned leader, follower;
	char *v;

	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	follower = other_than(c, leader, 0);
	assert_int_not_equal(follower, 0);
	assert_int_equal(
	    wait_status(c, follower, knows_leader, leader, WAIT_MS), 0);

	/* Pinned to the follower: the answer itself, not a redirect. */
	cl = cluster_node_client(c, follower, ITEST_CALL_TIMEOUT_MS, 1);
	assert_non_null(cl);
	e.scope = SYNOD_SCOPE_TOPIC;
	e.resource = "orders";
	e.key = "retention.ms";
	e.value = "3600000";
	req.n_entries = 1;
	req.entries = &ep;
	assert_int_equal(
	    itest_call_client(cl, SYNOD_API_CONFIG_SET, &req.base, 1,
			      &synod__wire__config_set_response__descriptor,
			      (ProtobufCMessage **)&resp),
	    SYNOD_ENOT_CONTROLLER);
	assert_non_null(resp);
	assert_true(resp->status->has_leader_id);
	assert_int_equal(resp->status->leader_id, leader);
	assert_non_null(resp->status->leader_address);
	assert_string_equal(resp->status->leader_address,
			    c->nodes[leader - 1].client_address);
	assert_false(resp->has_metadata_version);
	synod__wire__config_set_response__free_unpacked(resp, NULL);

	/* Reads need the active controller too. */
	assert_int_equal(get_config(cl, SYNOD_SCOPE_TOPIC, "orders",
				    "retention.ms", &v, NULL),
			 SYNOD_ENOT_CONTROLLER);
	assert_null(v);

	/* METADATA is served by any node. */
	m = metadata(cl);
	assert_non_null(m);
	assert_int_equal(m->node_id, follower);
	assert_string_equal(m->cluster_id, c->cluster_id);
	assert_true(m->has_leader_id);
	assert_int_equal(m->leader_id, leader);
	assert_string_equal(m->leader_address,
			    c->nodes[leader - 1].client_address);
	assert_int_equal(m->n_nodes, 3);
	for (unsigned id = 1; id <= 3; id++) {
		const Synod__Wire__NodeAddress *na = meta_node(m, id);
		assert_non_null(na);
		assert_true(na->voter);
		assert_string_equal(na->raft_address,
				    c->nodes[id - 1].raft_address);
		assert_string_equal(na->client_address,
				    c->nodes[id - 1].client_address);
	}
	synod__wire__metadata_response__free_unpacked(m, NULL);
	synod_client_close(cl);

	/* Unpinned, bootstrapped with the follower only: the client
	 * follows the redirect and the write lands on the leader. */
	cl = cluster_node_client(c, follower, ITEST_CALL_TIMEOUT_MS, 0);
	assert_non_null(cl);
	assert_int_equal(set_config(cl, SYNOD_SCOPE_TOPIC, "orders",
				    "retention.ms", "3600000"),
			 SYNOD_OK);
	assert_non_null(synod_client_peer(cl));
	assert_string_equal(synod_client_peer(cl),
			    c->nodes[leader - 1].client_address);
	assert_int_equal(get_config(cl, SYNOD_SCOPE_TOPIC, "orders",
				    "retention.ms", &v, NULL),
			 SYNOD_OK);
	assert_string_equal(v, "3600000");
	free(v);
	synod_client_close(cl);
	f->it.passed = 1;
}

/* ---- c. catch-up through InstallSnapshot ---- */

#define C_WRITES 300
#define C_DIGEST_EVERY 16

/* The state digests nodes 1..n kept at apply (--digest-every): a node's
 * indexes are the first command entries at or past multiples of
 * C_DIGEST_EVERY, and every node that reports one index reports the same
 * digest for it (the state after that entry). Returns how many indexes
 * node `who` shares with another node. */
static unsigned check_digest_points(struct cluster *c, unsigned who)
{
	Synod__Wire__NodeStatusResponse *s[CLUSTER_MAX_NODES + 1] = {0};
	unsigned shared = 0;
	for (unsigned i = 1; i <= c->n; i++) {
		s[i] = status(c, i);
		assert_non_null(s[i]);
		assert_true(s[i]->n_digest_points > 0);
		assert_true(s[i]->n_digest_points <= 16);
		for (size_t k = 1; k < s[i]->n_digest_points; k++)
			assert_true(
			    s[i]->digest_points[k]->index / C_DIGEST_EVERY >
			    s[i]->digest_points[k - 1]->index / C_DIGEST_EVERY);
	}
	for (unsigned i = 1; i <= c->n; i++)
		for (size_t k = 0; k < s[i]->n_digest_points; k++) {
			const Synod__Wire__DigestPoint *p =
			    s[i]->digest_points[k];
			int with_other = 0;
			for (unsigned j = 1; j <= c->n; j++)
				for (size_t m = 0;
				     j != i && m < s[j]->n_digest_points; m++) {
					const Synod__Wire__DigestPoint *q =
					    s[j]->digest_points[m];
					if (q->index != p->index)
						continue;
					with_other = 1;
					if (strcmp(q->digest, p->digest) != 0)
						fail_msg(
						    "entry %llu: node %u "
						    "digest %s, node %u %s",
						    (unsigned long long)
							p->index,
						    i, p->digest, j, q->digest);
				}
			if (i == who && with_other)
				shared++;
		}
	for (unsigned i = 1; i <= c->n; i++)
		status_free(s[i]);
	return shared;
}

static void test_snapshot_catch_up(void **state)
{
	struct fixture *f = *state;
	struct cluster *c =
	    itest_start(&f->it, 3, SYNOD_BIN,
			"--snapshot-threshold 64 --snapshot-trailing 32 "
			"--digest-every 16");
	Synod__Wire__ConfigListResponse *l;
	Synod__Wire__NodeStatusResponse *s;
	struct synod_client *cl;
	unsigned leader, lagger;
	uint64_t target, lagger_last;
	char topic[32], value[32];

	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	lagger = other_than(c, leader, 0);
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_CLUSTER, NULL, "num.partitions", "3"),
	    SYNOD_OK);
	assert_int_equal(
	    cluster_wait_applied(c, applied_index(c, leader), WAIT_MS), 0);
	s = status(c, lagger);
	assert_non_null(s);
	lagger_last = s->last_index;
	status_free(s);
	assert_true(lagger_last < 32);

	assert_int_equal(cluster_kill(c, lagger), 0);
	assert_int_equal(cluster_log_contains(c, lagger, "restored snapshot"),
			 0);

	/* One request, one entry: the log moves far past the lagger. */
	for (int i = 0; i < C_WRITES; i++) {
		snprintf(topic, sizeof topic, "s%d", i);
		snprintf(value, sizeof value, "%d", i * 7);
		assert_int_equal(set_config(cl, SYNOD_SCOPE_TOPIC, topic,
					    "retention.ms", value),
				 SYNOD_OK);
	}
	/* Overwrite a few: the newest value must win after restore. */
	for (int i = 0; i < 5; i++) {
		snprintf(topic, sizeof topic, "s%d", i);
		assert_int_equal(set_config(cl, SYNOD_SCOPE_TOPIC, topic,
					    "retention.ms", "-1"),
				 SYNOD_OK);
	}
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	target = applied_index(c, leader);
	assert_true(target > lagger_last + 64 + 32);

	assert_int_equal(cluster_start_node(c, lagger), 0);
	assert_int_equal(cluster_wait_applied(c, target, WAIT_MS), 0);
	assert_int_equal(cluster_log_contains(c, lagger, "restored snapshot"),
			 1);
	s = status(c, lagger);
	assert_non_null(s);
	assert_true(s->applied_index >= target);
	assert_true(s->last_index >= target);
	status_free(s);
	/* The state digests kept at apply: the lagger, restored from a
	 * snapshot, takes them at the others' indexes, with the same
	 * digests, once they all apply the same entries. */
	for (int i = 0; i < 3 * C_DIGEST_EVERY; i++) {
		snprintf(topic, sizeof topic, "d%d", i);
		assert_int_equal(set_config(cl, SYNOD_SCOPE_TOPIC, topic,
					    "retention.ms", "1"),
				 SYNOD_OK);
	}
	assert_int_equal(
	    cluster_wait_applied(c, applied_index(c, leader), WAIT_MS), 0);
	assert_true(check_digest_points(c, lagger) >= 2);

	/* Read the data through the lagger itself: make it the leader. */
	assert_int_equal(make_leader(c, cl, lagger), SYNOD_OK);
	synod_client_close(cl);
	cl = cluster_node_client(c, lagger, ITEST_CALL_TIMEOUT_MS, 1);
	assert_non_null(cl);
	l = list_configs(cl);
	assert_non_null(l);
	assert_int_equal(l->n_entries, C_WRITES + 1 + 3 * C_DIGEST_EVERY);
	for (int i = 0; i < C_WRITES; i++) {
		snprintf(topic, sizeof topic, "s%d", i);
		snprintf(value, sizeof value, "%d", i < 5 ? -1 : i * 7);
		const char *got =
		    find_entry(l, SYNOD_SCOPE_TOPIC, topic, "retention.ms");
		assert_non_null(got);
		assert_string_equal(got, value);
	}
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_CLUSTER, NULL, "num.partitions"), "3");
	synod__wire__config_list_response__free_unpacked(l, NULL);
	/* And it takes writes as the leader. */
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "s0", "retention.ms", "42"),
	    SYNOD_OK);
	synod_client_close(cl);
	f->it.passed = 1;
}

/* ---- d. whole-cluster restart ---- */

#define D_TOPICS 30

static void test_full_restart(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = itest_start(&f->it, 3, SYNOD_BIN, NULL);
	Synod__Wire__ConfigListResponse *l;
	struct synod_client *cl;
	unsigned leader;
	uint64_t commit;
	char topic[32], value[32], *v;
	int is_default = -1;

	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	for (int i = 0; i < D_TOPICS; i++) {
		snprintf(topic, sizeof topic, "d%d", i);
		snprintf(value, sizeof value, "%d", 100 + i);
		assert_int_equal(set_config(cl, SYNOD_SCOPE_TOPIC, topic,
					    "retention.ms", value),
				 SYNOD_OK);
	}
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "d0", "retention.ms", "-1"),
	    SYNOD_OK);
	assert_int_equal(set_config(cl, SYNOD_SCOPE_TOPIC, "d1",
				    "cleanup.policy", "compact"),
			 SYNOD_OK);
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_CLUSTER, NULL, "num.partitions", "9"),
	    SYNOD_OK);
	assert_int_equal(set_config(cl, SYNOD_SCOPE_CLUSTER, NULL,
				    "leader.imbalance.percentage", "33"),
			 SYNOD_OK);
	assert_int_equal(delete_config(cl, SYNOD_SCOPE_CLUSTER, NULL,
				       "leader.imbalance.percentage"),
			 SYNOD_OK);
	synod_client_close(cl);
	commit = applied_index(c, leader);
	assert_true(commit > D_TOPICS);

	for (unsigned id = 1; id <= c->n; id++)
		assert_int_equal(cluster_term(c, id, 10000), 0);
	for (unsigned id = 1; id <= c->n; id++)
		assert_false(cluster_running(c, id));

	assert_int_equal(cluster_start(c), 0);
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	assert_int_equal(cluster_wait_applied(c, commit, WAIT_MS), 0);

	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	l = list_configs(cl);
	assert_non_null(l);
	assert_int_equal(l->n_entries, D_TOPICS + 2);
	for (int i = 0; i < D_TOPICS; i++) {
		snprintf(topic, sizeof topic, "d%d", i);
		snprintf(value, sizeof value, "%d", i == 0 ? -1 : 100 + i);
		const char *got =
		    find_entry(l, SYNOD_SCOPE_TOPIC, topic, "retention.ms");
		assert_non_null(got);
		assert_string_equal(got, value);
	}
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_TOPIC, "d1", "cleanup.policy"),
	    "compact");
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_CLUSTER, NULL, "num.partitions"), "9");
	assert_null(find_entry(l, SYNOD_SCOPE_CLUSTER, NULL,
			       "leader.imbalance.percentage"));
	synod__wire__config_list_response__free_unpacked(l, NULL);

	/* The deleted key reads as its default again. */
	assert_int_equal(get_config(cl, SYNOD_SCOPE_CLUSTER, NULL,
				    "leader.imbalance.percentage", &v,
				    &is_default),
			 SYNOD_OK);
	assert_string_equal(v, "10");
	assert_int_equal(is_default, 1);
	free(v);
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "d2", "retention.ms", "5"),
	    SYNOD_OK);
	synod_client_close(cl);
	f->it.passed = 1;
}

/* ---- e. add and remove a voter ---- */

static void test_add_remove_voter(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = itest_start(&f->it, 3, SYNOD_BIN, NULL);
	Synod__Wire__AddVoterRequest add = SYNOD__WIRE__ADD_VOTER_REQUEST__INIT;
	Synod__Wire__RemoveVoterRequest rm =
	    SYNOD__WIRE__REMOVE_VOTER_REQUEST__INIT;
	Synod__Wire__MetadataResponse *m;
	Synod__Wire__ConfigListResponse *l;
	const Synod__Wire__NodeAddress *na;
	struct synod_client *cl, *pin;
	unsigned leader, victim;
	int id;
	char topic[32];

	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	for (int i = 0; i < 20; i++) {
		snprintf(topic, sizeof topic, "e%d", i);
		assert_int_equal(set_config(cl, SYNOD_SCOPE_TOPIC, topic,
					    "retention.ms", "60000"),
				 SYNOD_OK);
	}

	id = cluster_add_node(c);
	assert_int_equal(id, 4);
	assert_int_equal(cluster_start_node(c, 4), 0);
	assert_true(strstr(c->bootstrap, c->nodes[3].client_address) != NULL);

	/* An existing voter cannot be added again. */
	add.id = leader;
	add.raft_address = c->nodes[leader - 1].raft_address;
	add.client_address = c->nodes[leader - 1].client_address;
	assert_int_equal(quorum_change(cl, SYNOD_API_ADD_VOTER, &add.base),
			 SYNOD_EINVALID_ARGUMENT);

	add.id = 4;
	add.raft_address = c->nodes[3].raft_address;
	add.client_address = c->nodes[3].client_address;
	assert_int_equal(quorum_change(cl, SYNOD_API_ADD_VOTER, &add.base),
			 SYNOD_OK);

	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	pin = cluster_node_client(c, leader, ITEST_CALL_TIMEOUT_MS, 1);
	assert_non_null(pin);
	m = metadata(pin);
	assert_non_null(m);
	assert_int_equal(m->n_nodes, 4);
	na = meta_node(m, 4);
	assert_non_null(na);
	assert_true(na->voter);
	assert_string_equal(na->raft_address, c->nodes[3].raft_address);
	assert_string_equal(na->client_address, c->nodes[3].client_address);
	synod__wire__metadata_response__free_unpacked(m, NULL);
	synod_client_close(pin);

	/* The new voter catches up and sees the same quorum. */
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_CLUSTER, NULL, "num.partitions", "4"),
	    SYNOD_OK);
	assert_int_equal(
	    cluster_wait_applied(c, applied_index(c, leader), WAIT_MS), 0);
	pin = cluster_node_client(c, 4, ITEST_CALL_TIMEOUT_MS, 1);
	assert_non_null(pin);
	m = metadata(pin);
	assert_non_null(m);
	assert_int_equal(m->n_nodes, 4);
	assert_non_null(meta_node(m, 4));
	assert_true(meta_node(m, 4)->voter);
	assert_int_equal(m->leader_id, leader);
	synod__wire__metadata_response__free_unpacked(m, NULL);

	/* Its data, read through it as the leader. */
	assert_int_equal(make_leader(c, cl, 4), SYNOD_OK);
	l = list_configs(pin);
	assert_non_null(l);
	assert_int_equal(l->n_entries, 21);
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_TOPIC, "e19", "retention.ms"), "60000");
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_CLUSTER, NULL, "num.partitions"), "4");
	synod__wire__config_list_response__free_unpacked(l, NULL);
	synod_client_close(pin);

	/* Remove one of the first voters (not the leader, node 4). */
	leader = 4;
	victim = other_than(c, 4, 0);
	assert_int_not_equal(victim, 0);
	rm.id = 99;
	assert_int_equal(quorum_change(cl, SYNOD_API_REMOVE_VOTER, &rm.base),
			 SYNOD_ENOT_FOUND);
	rm.id = victim;
	assert_int_equal(quorum_change(cl, SYNOD_API_REMOVE_VOTER, &rm.base),
			 SYNOD_OK);
	pin = cluster_node_client(c, leader, ITEST_CALL_TIMEOUT_MS, 1);
	assert_non_null(pin);
	m = metadata(pin);
	assert_non_null(m);
	assert_int_equal(m->n_nodes, 3);
	assert_null(meta_node(m, victim));
	for (size_t i = 0; i < m->n_nodes; i++)
		assert_true(m->nodes[i]->voter);
	synod__wire__metadata_response__free_unpacked(m, NULL);
	synod_client_close(pin);
	assert_int_equal(cluster_term(c, victim, 10000), 0);

	/* The three left keep a working quorum. */
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "e0", "retention.ms", "1"),
	    SYNOD_OK);
	assert_int_equal(
	    cluster_wait_applied(c, applied_index(c, leader), WAIT_MS), 0);
	synod_client_close(cl);
	f->it.passed = 1;
}

/* ---- f. bad input against a live node ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

/* Send one frame: h = {len, magic, version, kind}, len 0 meaning the
 * right one (12 + body_len), then api, api version, correlation id. */
struct raw_head {
	uint32_t len;
	uint8_t magic, version, kind;
};

static void raw_send(int fd, struct raw_head h, uint16_t api,
		     uint16_t api_version, uint32_t corr, const uint8_t *body,
		     size_t body_len)
{
	uint8_t buf[256];
	size_t n = 16 + body_len;
	assert_true(n <= sizeof buf);
	put32(buf, h.len ? h.len : (uint32_t)(12 + body_len));
	buf[4] = h.magic;
	buf[5] = h.version;
	buf[6] = h.kind;
	buf[7] = 0;
	put16(buf + 8, api);
	put16(buf + 10, api_version);
	put32(buf + 12, corr);
	if (body_len)
		memcpy(buf + 16, body, body_len);
	assert_int_equal(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

static const struct raw_head GOOD = {0, 0x53, 1, 0};

/* Read one response frame: its Status code, correlation id in *corr. */
static int raw_response(int fd, uint32_t *corr)
{
	uint8_t prefix[16], body[4096];
	Synod__Wire__AnyResponse *r;
	uint32_t len;
	int code;
	assert_int_equal(itest_raw_read(fd, prefix, sizeof prefix), 0);
	len = get32(prefix);
	assert_int_equal(prefix[4], 0x53);
	assert_int_equal(prefix[5], 1);
	assert_int_equal(prefix[6], 1); /* response */
	assert_true(len >= 12 && len - 12 <= sizeof body);
	assert_int_equal(itest_raw_read(fd, body, len - 12), 0);
	*corr = get32(prefix + 12);
	r = synod__wire__any_response__unpack(NULL, len - 12, body);
	assert_non_null(r);
	assert_non_null(r->status);
	code = r->status->code;
	synod__wire__any_response__free_unpacked(r, NULL);
	return code;
}

/* The server must close the connection (EOF or reset) within 5 s. */
static void raw_expect_closed(int fd)
{
	uint8_t b;
	assert_int_equal(itest_raw_read(fd, &b, 1), 1);
}

/* A valid NODE_STATUS on the same connection still works. */
static void raw_expect_serving(int fd, uint32_t corr)
{
	uint32_t got;
	raw_send(fd, GOOD, SYNOD_API_NODE_STATUS, 1, corr, NULL, 0);
	assert_int_equal(raw_response(fd, &got), SYNOD_OK);
	assert_int_equal(got, corr);
}

static void test_bad_input(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = itest_start(&f->it, 1, SYNOD_BIN, NULL);
	const char *addr;
	struct synod_client *cl;
	Synod__Wire__ConfigEntry e[2] = {SYNOD__WIRE__CONFIG_ENTRY__INIT,
					 SYNOD__WIRE__CONFIG_ENTRY__INIT};
	Synod__Wire__ConfigEntry *ep[2] = {&e[0], &e[1]};
	static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff,
					  0xff, 0x0f, 0x01, 0x02};
	uint32_t corr;
	int fd, is_default = -1;
	char *v;

	assert_int_equal(cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS), 1);
	addr = c->nodes[0].client_address;

	/* Bad magic: an error answer, then the connection closes. */
	fd = itest_raw_connect(NULL, addr, 0);
	raw_send(fd, (struct raw_head){0, 0x00, 1, 0}, SYNOD_API_NODE_STATUS, 1,
		 7, NULL, 0);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EINVALID_REQUEST);
	raw_expect_closed(fd);
	close(fd);

	/* Oversize length (2 GiB declared, nothing sent after). */
	fd = itest_raw_connect(NULL, addr, 0);
	raw_send(fd, (struct raw_head){0x7fffffffu, 0x53, 1, 0},
		 SYNOD_API_NODE_STATUS, 1, 8, NULL, 0);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EMESSAGE_TOO_LARGE);
	raw_expect_closed(fd);
	close(fd);

	/* Frame version 2: answered in version 1 with our correlation id. */
	fd = itest_raw_connect(NULL, addr, 0);
	raw_send(fd, (struct raw_head){0, 0x53, 2, 0}, SYNOD_API_NODE_STATUS, 1,
		 9, NULL, 0);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EUNSUPPORTED_VERSION);
	assert_int_equal(corr, 9);
	raw_expect_closed(fd);
	close(fd);

	/* Declared length below the header size. */
	fd = itest_raw_connect(NULL, addr, 0);
	raw_send(fd, (struct raw_head){4, 0x53, 1, 0}, SYNOD_API_NODE_STATUS, 1,
		 10, NULL, 0);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EINVALID_REQUEST);
	raw_expect_closed(fd);
	close(fd);

	/* Unknown api, api version 9, an undecodable body, a response
	 * frame sent as a request: each answered, connection kept. */
	fd = itest_raw_connect(NULL, addr, 0);
	raw_send(fd, GOOD, 999, 1, 11, NULL, 0);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EUNSUPPORTED_API);
	assert_int_equal(corr, 11);
	raw_expect_serving(fd, 12);
	raw_send(fd, GOOD, SYNOD_API_NODE_STATUS, 9, 13, NULL, 0);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EUNSUPPORTED_VERSION);
	assert_int_equal(corr, 13);
	raw_expect_serving(fd, 14);
	raw_send(fd, GOOD, SYNOD_API_CONFIG_SET, 1, 15, garbage,
		 sizeof garbage);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EINVALID_REQUEST);
	assert_int_equal(corr, 15);
	raw_expect_serving(fd, 16);
	/* ConfigGetRequest without its required fields. */
	raw_send(fd, GOOD, SYNOD_API_CONFIG_GET, 1, 17, NULL, 0);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EINVALID_REQUEST);
	assert_int_equal(corr, 17);
	raw_send(fd, (struct raw_head){0, 0x53, 1, 1}, SYNOD_API_NODE_STATUS, 1,
		 18, NULL, 0);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EINVALID_REQUEST);
	assert_int_equal(corr, 18);
	raw_expect_serving(fd, 19);
	close(fd);

	/* Unknown frame kind: refused and closed. */
	fd = itest_raw_connect(NULL, addr, 0);
	raw_send(fd, (struct raw_head){0, 0x53, 1, 7}, SYNOD_API_NODE_STATUS, 1,
		 20, NULL, 0);
	assert_int_equal(raw_response(fd, &corr), SYNOD_EINVALID_REQUEST);
	raw_expect_closed(fd);
	close(fd);

	/* Half a frame, then the peer goes away. */
	fd = itest_raw_connect(NULL, addr, 0);
	raw_send(fd, (struct raw_head){200, 0x53, 1, 0}, SYNOD_API_CONFIG_SET,
		 1, 21, garbage, sizeof garbage);
	close(fd);

	/* Still alive and serving. */
	assert_true(cluster_running(c, 1));
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "ok", "retention.ms", "1234"),
	    SYNOD_OK);

	/* Invalid configs are refused, and nothing of them is stored. */
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "bad", "retention.ms", "abc"),
	    SYNOD_EINVALID_CONFIG);
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "bad", "retention.ms", "-5"),
	    SYNOD_EINVALID_CONFIG);
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "bad", "no.such.key", "1"),
	    SYNOD_EINVALID_CONFIG);
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "bad", "num.partitions", "3"),
	    SYNOD_EINVALID_CONFIG);
	assert_int_equal(set_config(cl, SYNOD_SCOPE_CLUSTER, NULL,
				    "compression.type", "brotli"),
			 SYNOD_EINVALID_CONFIG);
	assert_int_equal(set_config(cl, SYNOD_SCOPE_CLUSTER, NULL,
				    "unclean.leader.election.enable", "maybe"),
			 SYNOD_EINVALID_CONFIG);
	/* One bad entry spoils the whole request. */
	e[0].scope = SYNOD_SCOPE_TOPIC;
	e[0].resource = "bad";
	e[0].key = "retention.ms";
	e[0].value = "60000";
	e[1].scope = SYNOD_SCOPE_TOPIC;
	e[1].resource = "bad";
	e[1].key = "segment.bytes";
	e[1].value = "1";
	assert_int_equal(set_configs(cl, 1, ep, 2, 0), SYNOD_EINVALID_CONFIG);
	/* validate_only checks without storing. */
	e[1].value = "1048576";
	assert_int_equal(set_configs(cl, 1, ep, 2, 1), SYNOD_OK);
	assert_int_equal(get_config(cl, SYNOD_SCOPE_TOPIC, "bad",
				    "retention.ms", &v, &is_default),
			 SYNOD_OK);
	assert_string_equal(v, "604800000");
	assert_int_equal(is_default, 1);
	free(v);
	assert_int_equal(get_config(cl, SYNOD_SCOPE_TOPIC, "ok", "retention.ms",
				    &v, &is_default),
			 SYNOD_OK);
	assert_string_equal(v, "1234");
	assert_int_equal(is_default, 0);
	free(v);
	synod_client_close(cl);

	/* A client that expects another cluster is refused. */
	cl = tool_client(c->bootstrap, "00000000-0000-4000-8000-000000000000",
			 ITEST_CALL_TIMEOUT_MS, 0);
	assert_non_null(cl);
	{
		Synod__Wire__NodeStatusRequest r =
		    SYNOD__WIRE__NODE_STATUS_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;
		assert_int_equal(
		    synod_client_call(
			cl, SYNOD_API_NODE_STATUS, &r.base, 0,
			&synod__wire__node_status_response__descriptor, &resp),
		    SYNOD_ECLUSTER_ID_MISMATCH);
		assert_null(resp);
	}
	synod_client_close(cl);
	/* METADATA naming another cluster, sent by hand. */
	cl = cluster_client(c, ITEST_CALL_TIMEOUT_MS);
	assert_non_null(cl);
	{
		Synod__Wire__MetadataRequest r =
		    SYNOD__WIRE__METADATA_REQUEST__INIT;
		r.cluster_id = "another";
		assert_int_equal(
		    itest_call_client(
			cl, SYNOD_API_METADATA, &r.base, 0,
			&synod__wire__metadata_response__descriptor, NULL),
		    SYNOD_ECLUSTER_ID_MISMATCH);
	}
	synod_client_close(cl);

	assert_true(cluster_running(c, 1));
	assert_int_equal(cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS), 1);
	f->it.passed = 1;
}

/* ---- h. many requests pipelined on one connection ---- */

struct flood {
	unsigned done, ok;
};

static void on_flood(void *arg, int status, const uint8_t *body, size_t len)
{
	struct flood *fl = arg;
	fl->done++;
	if (status == SYNOD_OK) {
		Synod__Wire__ConfigSetResponse *r =
		    synod__wire__config_set_response__unpack(NULL, len, body);
		if (r && r->status->code == SYNOD_OK)
			fl->ok++;
		if (r)
			synod__wire__config_set_response__free_unpacked(r,
									NULL);
	}
}

/* More requests in flight than the server keeps outstanding per
 * connection (4096): it stops reading and resumes, and every request is
 * answered once, committed, in any order. */
static void test_pipelined_flood(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = itest_start(&f->it, 3, SYNOD_BIN, NULL);
	struct synod_client *cl;
	struct flood fl = {0, 0};
	enum { N = 12000 };
	assert_true(cluster_wait_leader(c, WAIT_MS) != 0);
	cl = cluster_client(c, 60000);
	assert_non_null(cl);
	/* Route to the leader first. */
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_CLUSTER, NULL, "retention.ms", "1"),
	    SYNOD_OK);
	for (unsigned i = 0; i < N; i++) {
		Synod__Wire__ConfigSetRequest r =
		    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
		Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
		Synod__Wire__ConfigEntry *ep = &e;
		char topic[32], value[16];
		snprintf(topic, sizeof topic, "flood-%u", i % 500);
		snprintf(value, sizeof value, "%u", i);
		e.scope = SYNOD_SCOPE_TOPIC;
		e.resource = topic;
		e.key = "retention.ms";
		e.value = value;
		r.n_entries = 1;
		r.entries = &ep;
		assert_int_equal(synod_client_send(cl, SYNOD_API_CONFIG_SET,
						   &r.base, 1, on_flood, &fl),
				 SYNOD_OK);
	}
	while (fl.done < N)
		uv_run(synod_client_loop(cl), UV_RUN_ONCE);
	assert_int_equal(fl.ok, N);
	/* The last value written per topic is the highest i for it. */
	char *v = NULL;
	assert_int_equal(get_config(cl, SYNOD_SCOPE_TOPIC, "flood-7",
				    "retention.ms", &v, NULL),
			 SYNOD_OK);
	assert_string_equal(v, "11507");
	free(v);
	synod_client_close(cl);
	f->it.passed = 1;
}

/* ---- g. SIGSTOP of the leader ---- */

static void test_stopped_leader(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = itest_start(&f->it, 3, SYNOD_BIN, NULL);
	Synod__Wire__ConfigListResponse *l;
	struct synod_client *cl, *cl2;
	unsigned leader, leader2;
	char topic[32];

	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	/* A client connected to the leader before it stops. */
	cl = cluster_node_client(c, leader, ITEST_CALL_TIMEOUT_MS, 0);
	assert_non_null(cl);
	for (int i = 0; i < 5; i++) {
		snprintf(topic, sizeof topic, "g%d", i);
		assert_int_equal(set_config(cl, SYNOD_SCOPE_TOPIC, topic,
					    "retention.ms", "10"),
				 SYNOD_OK);
	}

	assert_int_equal(cluster_stop_node(c, leader), 0);
	leader2 = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader2, 0);
	assert_int_not_equal(leader2, leader);

	cl2 = cluster_node_client(c, leader2, ITEST_CALL_TIMEOUT_MS, 0);
	assert_non_null(cl2);
	for (int i = 5; i < 15; i++) {
		snprintf(topic, sizeof topic, "g%d", i);
		assert_int_equal(set_config(cl2, SYNOD_SCOPE_TOPIC, topic,
					    "retention.ms", "20"),
				 SYNOD_OK);
	}

	/* The old leader wakes up, steps down and catches up. */
	assert_int_equal(cluster_cont_node(c, leader), 0);
	assert_int_equal(wait_status(c, leader, follows_other, leader, WAIT_MS),
			 0);
	assert_int_equal(
	    cluster_wait_applied(c, applied_index(c, leader2), WAIT_MS), 0);

	/* The first client, connected to the old leader, is redirected. */
	assert_int_equal(
	    set_config(cl, SYNOD_SCOPE_TOPIC, "g15", "retention.ms", "30"),
	    SYNOD_OK);
	assert_non_null(synod_client_peer(cl));
	assert_string_not_equal(synod_client_peer(cl),
				c->nodes[leader - 1].client_address);
	l = list_configs(cl);
	assert_non_null(l);
	assert_int_equal(l->n_entries, 16);
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_TOPIC, "g0", "retention.ms"), "10");
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_TOPIC, "g14", "retention.ms"), "20");
	assert_string_equal(
	    find_entry(l, SYNOD_SCOPE_TOPIC, "g15", "retention.ms"), "30");
	synod__wire__config_list_response__free_unpacked(l, NULL);
	synod_client_close(cl);
	synod_client_close(cl2);

	/* One active controller, and it is not the old one. */
	{
		Synod__Wire__NodeStatusResponse *s = status(c, leader);
		assert_non_null(s);
		assert_false(s->active_controller);
		assert_string_equal(s->role, "follower");
		status_free(s);
	}
	f->it.passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_leader_kill_keeps_acked_writes,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_follower_redirects, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_catch_up, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_full_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_add_remove_voter, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined_flood, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stopped_leader, setup,
					    teardown),
	};
	/* Writes to a killed node's socket must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
