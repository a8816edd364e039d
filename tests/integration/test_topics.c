/* tests/integration/test_topics.c - topics, partitions, leader elections
 * and ISR changes against a real quorum (docs/protocol.md, APIs 14-21).
 *
 * Each test starts its own 3-node quorum of `synod` processes (SYNOD_BIN)
 * on loopback with a 300 ms election timeout through tools/cluster.c, sets
 * a 2000 ms broker session and 200 ms heartbeats before any broker starts,
 * and drives brokers two ways: `synod-sim` processes (SYNOD_SIM) with a
 * --state-file each, where a broker process must crash (kill -9) and come
 * back; and struct synod_broker objects of the C library on the test's own
 * loop, where a broker must send ALTER_PARTITION. `synodctl` (SYNOD_CTL) is
 * used where the operator would use it (offline partitions, unclean
 * elections).
 *
 * The controller's answer to DESCRIBE_TOPICS is the reference: after every
 * change, each live broker's view (the simulator's state file, or the
 * library's accessors) must become exactly the partitions it replicates,
 * with the same leader, epochs, replicas and ISR, and the topic count must
 * match. Expected states after a broker loss are computed independently
 * from the rules of controller/election.h (el_broker_gone) and compared
 * field by field, so an election applied twice or lost shows up as a wrong
 * epoch.
 *
 * a. create (every refusal, validate_only, explicit assignments, several
 *    topics in one request), describe, placement (distinct brokers, one
 *    replica per rack, balance), growth, deletion, the views;
 * b. kill -9 of brokers, and of the active controller just before and just
 *    after a broker's fence: each loss applied exactly once;
 * c. partitions whose whole ISR is lost go offline and recover when an ISR
 *    member returns; unclean elections by topic config and by synodctl;
 * d. ISR changes from partition leaders (stale, wrong, valid, pushed),
 *    preferred elections by hand, then the automatic rebalance.
 *
 * Every wait is bounded; a failing test prints the tail of every node's and
 * simulator's log. $SYNOD_KEEP_TEST_DIRS keeps the data dirs and logs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"

#ifndef SYNOD_BIN
#define SYNOD_BIN NULL
#endif
#ifndef SYNOD_SIM
#define SYNOD_SIM "synod-sim"
#endif
#ifndef SYNOD_CTL
#define SYNOD_CTL "synodctl"
#endif

#define SESSION_MS 2000
#define HEARTBEAT_MS 200
#define WAIT_MS 15000
#define MAX_SIMS 12
#define MAX_LIB 8
#define MAXR 8

struct sim {
	pid_t pid; /* 0: not running */
	int32_t first;
	unsigned n;
	char log[600];
	char state[600];
};

struct fixture {
	struct itest it;
	struct synod_broker *lib[MAX_LIB];
	unsigned n_lib;
	struct sim sims[MAX_SIMS];
	unsigned n_sims;
};

/* ---- processes ---- */

/* Start `synod-sim` with brokers first..first+n-1 and a state file; extra:
 * NULL-terminated more arguments. Returns the index of the simulator. */
static unsigned spawn_sim(struct fixture *f, int32_t first, unsigned n, ...)
{
	char first_s[16], n_s[16];
	const char *argv[40];
	unsigned k = 0, i = f->n_sims;
	struct sim *s = &f->sims[i];
	va_list ap;
	assert_true(i < MAX_SIMS);
	snprintf(first_s, sizeof first_s, "%d", first);
	snprintf(n_s, sizeof n_s, "%u", n);
	snprintf(s->log, sizeof s->log, "%s/sim-%u.log", f->it.c.dir, i);
	snprintf(s->state, sizeof s->state, "%s/sim-%u.json", f->it.c.dir, i);
	s->first = first;
	s->n = n;
	argv[k++] = SYNOD_SIM;
	argv[k++] = "--bootstrap";
	argv[k++] = f->it.c.bootstrap;
	argv[k++] = "--cluster-id";
	argv[k++] = f->it.c.cluster_id;
	argv[k++] = "--brokers";
	argv[k++] = n_s;
	argv[k++] = "--first-id";
	argv[k++] = first_s;
	argv[k++] = "--state-file";
	argv[k++] = s->state;
	argv[k++] = "--ramp-ms";
	argv[k++] = "0";
	argv[k++] = "--verbose";
	va_start(ap, n);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
		if (k < 39)
			argv[k++] = a;
	va_end(ap);
	argv[k] = NULL;
	s->pid = itest_spawn(argv, s->log);
	f->n_sims++;
	return i;
}

static void kill_sim(struct fixture *f, unsigned i)
{
	itest_kill(&f->sims[i].pid);
}

/* The running simulator holding broker id (simulators of one broker). */
static unsigned sim_of(struct fixture *f, int32_t id)
{
	for (unsigned i = 0; i < f->n_sims; i++)
		if (f->sims[i].pid > 0 && id >= f->sims[i].first &&
		    id < f->sims[i].first + (int32_t)f->sims[i].n)
			return i;
	fail_msg("no running simulator holds broker %d", id);
	return 0;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static void close_lib(struct fixture *f, unsigned i)
{
	if (f->lib[i]) {
		synod_broker_close(f->lib[i]);
		f->lib[i] = NULL;
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	const char *logs[MAX_SIMS];
	int rv;
	for (unsigned i = 0; i < f->n_sims; i++)
		kill_sim(f, i);
	for (unsigned i = 0; i < f->n_lib; i++)
		close_lib(f, i);
	for (unsigned i = 0; i < f->n_sims; i++)
		logs[i] = f->sims[i].log;
	rv = itest_teardown(&f->it, logs, f->n_sims, 20);
	free(f);
	return rv;
}

/* ---- the test's loop and client ---- */

/* Start a 3-node quorum, wait for a leader, make the client and set the
 * broker configs (before any broker starts). */
static void start_flags(struct fixture *f, const char *flags)
{
	char v[16];
	itest_start(&f->it, 3, SYNOD_BIN, flags);
	itest_start_client(&f->it);
	snprintf(v, sizeof v, "%u", SESSION_MS);
	assert_int_equal(
	    itest_set_config(&f->it, "broker.session.timeout.ms", v), SYNOD_OK);
	snprintf(v, sizeof v, "%u", HEARTBEAT_MS);
	assert_int_equal(
	    itest_set_config(&f->it, "broker.heartbeat.interval.ms", v),
	    SYNOD_OK);
	/* The active controller rereads them every 50 ms. */
	itest_pump(&f->it.loop, 200);
}

static void start(struct fixture *f)
{
	start_flags(f, NULL);
}

/* ---- brokers ---- */

/* A started library broker on the test's loop; its index in f->lib. */
static unsigned lib_start(struct fixture *f, int32_t id)
{
	struct synod_endpoint ep = {"PLAINTEXT", "127.0.0.1",
				    (uint16_t)(9000 + id), "PLAINTEXT"};
	struct synod_broker_config cfg = {0};
	unsigned i = f->n_lib;
	assert_true(i < MAX_LIB);
	cfg.bootstrap = f->it.c.bootstrap;
	cfg.cluster_id = f->it.c.cluster_id;
	cfg.broker_id = id;
	cfg.endpoints = &ep;
	cfg.n_endpoints = 1;
	cfg.duplicate_retry_ms = 10000;
	assert_int_equal(synod_broker_new(&f->it.loop, &cfg, NULL, &f->lib[i]),
			 SYNOD_OK);
	f->n_lib++;
	assert_int_equal(synod_broker_start(f->lib[i]), SYNOD_OK);
	return i;
}

/* The state of broker id as the controller lists it ("active", "fenced",
 * ...), or "" when not registered. */
static void broker_state(struct fixture *f, int32_t id, char *out, size_t size)
{
	Synod__Wire__BrokerListRequest r =
	    SYNOD__WIRE__BROKER_LIST_REQUEST__INIT;
	Synod__Wire__BrokerListResponse *l = NULL;
	int code;
	r.has_broker_id = 1;
	r.broker_id = id;
	code = itest_call(&f->it, SYNOD_API_BROKER_LIST, &r.base,
			  &synod__wire__broker_list_response__descriptor,
			  (ProtobufCMessage **)&l);
	out[0] = '\0';
	if (code == SYNOD_OK && l->n_brokers == 1)
		snprintf(out, size, "%s", l->brokers[0]->state);
	else if (code != SYNOD_EUNKNOWN_BROKER)
		fprintf(stderr, "BROKER_LIST %d: %s\n", id,
			synod_error_name(code));
	if (l)
		synod__wire__broker_list_response__free_unpacked(l, NULL);
}

/* Wait until broker id is in state `want` per the controller. */
static void wait_broker(struct fixture *f, int32_t id, const char *want,
			unsigned timeout_ms)
{
	uint64_t deadline = tool_now_ms() + timeout_ms;
	char st[32];
	for (;;) {
		broker_state(f, id, st, sizeof st);
		if (strcmp(st, want) == 0)
			return;
		if (tool_now_ms() >= deadline)
			fail_msg("broker %d: state '%s', wanted '%s'", id, st,
				 want);
		itest_pump(&f->it.loop, 25);
	}
}

/* ---- partition states ---- */

struct part {
	char topic[64];
	int32_t partition, leader;
	uint32_t le, pe; /* leader and partition epochs */
	int32_t rep[MAXR];
	unsigned nrep;
	int32_t isr[MAXR];
	unsigned nisr;
};

/* Every topic and partition, as the controller describes them (topics by
 * name, partitions by number). */
struct snap {
	struct part *p;
	size_t n;
	char names[32][64];
	uint8_t ids[32][16];
	uint32_t counts[32];
	size_t n_topics;
};

static int has(const int32_t *v, unsigned n, int32_t x)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

static void part_from_wire(const Synod__Wire__PartitionState *w, struct part *p)
{
	memset(p, 0, sizeof *p);
	snprintf(p->topic, sizeof p->topic, "%s", w->topic);
	p->partition = w->partition;
	p->leader = w->leader;
	p->le = w->leader_epoch;
	p->pe = w->partition_epoch;
	assert_true(w->n_replicas <= MAXR && w->n_isr <= MAXR);
	p->nrep = (unsigned)w->n_replicas;
	memcpy(p->rep, w->replicas, w->n_replicas * sizeof(int32_t));
	p->nisr = (unsigned)w->n_isr;
	memcpy(p->isr, w->isr, w->n_isr * sizeof(int32_t));
}

static int json_ids(json_t *a, int32_t *out, unsigned *n)
{
	size_t i;
	json_t *v;
	if (!json_is_array(a) || json_array_size(a) > MAXR)
		return -1;
	*n = 0;
	json_array_foreach(a, i, v) out[(*n)++] =
	    (int32_t)json_integer_value(v);
	return 0;
}

/* A partition object of a simulator's state file or of synodctl --json. */
static int part_from_json(json_t *o, const char *topic, struct part *p)
{
	const char *t =
	    topic ? topic : json_string_value(json_object_get(o, "topic"));
	memset(p, 0, sizeof *p);
	if (t == NULL)
		return -1;
	snprintf(p->topic, sizeof p->topic, "%s", t);
	p->partition =
	    (int32_t)json_integer_value(json_object_get(o, "partition"));
	p->leader = (int32_t)json_integer_value(json_object_get(o, "leader"));
	p->le =
	    (uint32_t)json_integer_value(json_object_get(o, "leader_epoch"));
	p->pe =
	    (uint32_t)json_integer_value(json_object_get(o, "partition_epoch"));
	if (!json_is_integer(json_object_get(o, "leader_epoch")) ||
	    !json_is_integer(json_object_get(o, "partition_epoch")))
		return -1;
	if (json_ids(json_object_get(o, "replicas"), p->rep, &p->nrep) != 0 ||
	    json_ids(json_object_get(o, "isr"), p->isr, &p->nisr) != 0)
		return -1;
	return 0;
}

static int part_eq(const struct part *a, const struct part *b)
{
	return strcmp(a->topic, b->topic) == 0 &&
	       a->partition == b->partition && a->leader == b->leader &&
	       a->le == b->le && a->pe == b->pe && a->nrep == b->nrep &&
	       a->nisr == b->nisr &&
	       memcmp(a->rep, b->rep, a->nrep * sizeof(int32_t)) == 0 &&
	       memcmp(a->isr, b->isr, a->nisr * sizeof(int32_t)) == 0;
}

static const char *part_str(const struct part *p, char *buf, size_t size)
{
	size_t o = (size_t)snprintf(
	    buf, size, "%s/%d leader %d le %u pe %u replicas [", p->topic,
	    p->partition, p->leader, p->le, p->pe);
	for (unsigned i = 0; i < p->nrep && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%d", i ? "," : "",
				      p->rep[i]);
	if (o < size)
		o += (size_t)snprintf(buf + o, size - o, "] isr [");
	for (unsigned i = 0; i < p->nisr && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%d", i ? "," : "",
				      p->isr[i]);
	if (o < size)
		snprintf(buf + o, size - o, "]");
	return buf;
}

static void assert_part(const struct part *got, const struct part *want)
{
	char a[256], b[256];
	if (!part_eq(got, want))
		fail_msg("partition state\n  got:  %s\n  want: %s",
			 part_str(got, a, sizeof a),
			 part_str(want, b, sizeof b));
}

static void snap_free(struct snap *s)
{
	free(s->p);
	memset(s, 0, sizeof *s);
}

/* DESCRIBE_TOPICS of every topic into s. */
static void snap_take(struct fixture *f, struct snap *s)
{
	Synod__Wire__DescribeTopicsRequest r =
	    SYNOD__WIRE__DESCRIBE_TOPICS_REQUEST__INIT;
	Synod__Wire__DescribeTopicsResponse *d = NULL;
	size_t total = 0, k = 0;
	int code =
	    itest_call(&f->it, SYNOD_API_DESCRIBE_TOPICS, &r.base,
		       &synod__wire__describe_topics_response__descriptor,
		       (ProtobufCMessage **)&d);
	if (code != SYNOD_OK)
		fail_msg("DESCRIBE_TOPICS: %s", synod_error_name(code));
	memset(s, 0, sizeof *s);
	assert_true(d->n_topics <= 32);
	for (size_t t = 0; t < d->n_topics; t++)
		total += d->topics[t]->n_partitions;
	s->p = calloc(total + 1, sizeof *s->p);
	assert_non_null(s->p);
	for (size_t t = 0; t < d->n_topics; t++) {
		const Synod__Wire__TopicDescription *td = d->topics[t];
		snprintf(s->names[t], sizeof s->names[t], "%s", td->name);
		assert_int_equal(td->topic_id.len, 16);
		memcpy(s->ids[t], td->topic_id.data, 16);
		s->counts[t] = td->partition_count;
		assert_int_equal(td->n_partitions, td->partition_count);
		for (size_t p = 0; p < td->n_partitions; p++) {
			part_from_wire(td->partitions[p], &s->p[k]);
			assert_string_equal(s->p[k].topic, td->name);
			assert_int_equal(s->p[k].partition, (int32_t)p);
			k++;
		}
	}
	s->n = k;
	s->n_topics = d->n_topics;
	synod__wire__describe_topics_response__free_unpacked(d, NULL);
}

static const struct part *snap_find(const struct snap *s, const char *topic,
				    int32_t partition)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->p[i].topic, topic) == 0 &&
		    s->p[i].partition == partition)
			return &s->p[i];
	fail_msg("no partition %s/%d", topic, partition);
	return NULL;
}

static int cmp_part(const void *a, const void *b)
{
	const struct part *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	if (c)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* ---- brokers' views against the controller ---- */

/* Compare one broker's view (sorted) with what it replicates in s. */
static int view_cmp(int32_t id, const struct part *v, size_t n,
		    size_t topic_count, const struct snap *s, char *why,
		    size_t size)
{
	size_t k = 0;
	char a[256], b[256];
	for (size_t i = 0; i < s->n; i++) {
		if (!has(s->p[i].rep, s->p[i].nrep, id))
			continue;
		if (k >= n) {
			snprintf(why, size, "broker %d lacks %s", id,
				 part_str(&s->p[i], a, sizeof a));
			return -1;
		}
		if (!part_eq(&v[k], &s->p[i])) {
			snprintf(why, size, "broker %d has %s, controller %s",
				 id, part_str(&v[k], a, sizeof a),
				 part_str(&s->p[i], b, sizeof b));
			return -1;
		}
		k++;
	}
	if (k != n) {
		snprintf(why, size, "broker %d has %s it does not replicate",
			 id, part_str(&v[k], a, sizeof a));
		return -1;
	}
	if (topic_count != s->n_topics) {
		snprintf(why, size, "broker %d has %zu topics, controller %zu",
			 id, topic_count, s->n_topics);
		return -1;
	}
	return 0;
}

/* Every active broker of running simulator i. */
static int sim_views_match(struct fixture *f, unsigned i, const struct snap *s,
			   char *why, size_t size)
{
	json_error_t err;
	json_t *root = json_load_file(f->sims[i].state, 0, &err), *b;
	json_t *brokers = json_object_get(root, "brokers");
	size_t bi;
	int rv = 0;
	if (!json_is_array(brokers) ||
	    json_array_size(brokers) != f->sims[i].n) {
		snprintf(why, size, "simulator %u: no state file yet", i);
		json_decref(root);
		return -1;
	}
	json_array_foreach(brokers, bi, b)
	{
		json_t *ps = json_object_get(b, "partitions"), *pj;
		int32_t id =
		    (int32_t)json_integer_value(json_object_get(b, "id"));
		const char *st = json_string_value(json_object_get(b, "state"));
		struct part *v;
		size_t pi, n = json_array_size(ps);
		if (st == NULL || strcmp(st, "active") != 0) {
			snprintf(why, size, "broker %d is %s", id,
				 st ? st : "?");
			rv = -1;
			break;
		}
		v = calloc(n + 1, sizeof *v);
		assert_non_null(v);
		json_array_foreach(ps, pi, pj)
		    assert_int_equal(part_from_json(pj, NULL, &v[pi]), 0);
		rv = view_cmp(id, v, n,
			      (size_t)json_integer_value(
				  json_object_get(b, "topic_count")),
			      s, why, size);
		free(v);
		if (rv != 0)
			break;
	}
	json_decref(root);
	return rv;
}

struct collect {
	struct part *v;
	size_t n, cap;
};

static int collect_one(void *arg, const Synod__Wire__PartitionState *p)
{
	struct collect *c = arg;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		assert_non_null(c->v);
	}
	part_from_wire(p, &c->v[c->n++]);
	return 0;
}

static int lib_view_matches(struct fixture *f, unsigned i, const struct snap *s,
			    char *why, size_t size)
{
	struct synod_broker *b = f->lib[i];
	struct collect c = {0};
	int rv;
	if (synod_broker_state(b) != SYNOD_BROKER_ACTIVE) {
		snprintf(why, size, "library broker %d is %s",
			 synod_broker_id(b),
			 synod_broker_state_name(synod_broker_state(b)));
		return -1;
	}
	synod_broker_partitions(b, collect_one, &c);
	assert_int_equal(c.n, synod_broker_partition_count(b));
	if (c.n > 1)
		qsort(c.v, c.n, sizeof *c.v, cmp_part);
	rv = view_cmp(synod_broker_id(b), c.v, c.n, synod_broker_topic_count(b),
		      s, why, size);
	free(c.v);
	return rv;
}

/* Wait until every running simulator's and every open library broker's
 * view equals the controller's description; *out gets that description
 * (when not NULL). */
static void wait_views(struct fixture *f, struct snap *out)
{
	uint64_t deadline = tool_now_ms() + WAIT_MS;
	char why[600];
	unsigned checked;
	for (;;) {
		struct snap s;
		int ok = 1;
		snap_take(f, &s);
		checked = 0;
		for (unsigned i = 0; ok && i < f->n_sims; i++)
			if (f->sims[i].pid > 0) {
				ok = sim_views_match(f, i, &s, why,
						     sizeof why) == 0;
				checked++;
			}
		for (unsigned i = 0; ok && i < f->n_lib; i++)
			if (f->lib[i]) {
				ok = lib_view_matches(f, i, &s, why,
						      sizeof why) == 0;
				checked++;
			}
		if (ok) {
			assert_true(checked > 0);
			if (out)
				*out = s;
			else
				snap_free(&s);
			return;
		}
		snap_free(&s);
		if (tool_now_ms() >= deadline)
			fail_msg("views do not match the controller: %s", why);
		itest_pump(&f->it.loop, 50);
	}
}

/* ---- topic requests ---- */

struct spec {
	const char *name;
	int partitions;	     /* -1: unset */
	int rf;		     /* -1: unset */
	const char *assign;  /* "1:2,2:3": replicas of partition 0, 1, ... */
	const char *configs; /* "k=v,k=v" */
};

struct built {
	Synod__Wire__CreatableTopic ct;
	Synod__Wire__ConfigEntry cfg[8], *cfgp[8];
	Synod__Wire__ReplicaAssignment ra[32], *rap[32];
	int32_t ids[32][MAXR];
	char buf[512];
};

static void build_topic(const struct spec *sp, struct built *b)
{
	memset(b, 0, sizeof *b);
	synod__wire__creatable_topic__init(&b->ct);
	b->ct.name = (char *)sp->name;
	if (sp->partitions >= 0) {
		b->ct.has_partitions = 1;
		b->ct.partitions = (uint32_t)sp->partitions;
	}
	if (sp->rf >= 0) {
		b->ct.has_replication_factor = 1;
		b->ct.replication_factor = (uint32_t)sp->rf;
	}
	if (sp->configs) {
		char *save, *kv;
		snprintf(b->buf, sizeof b->buf, "%s", sp->configs);
		for (kv = strtok_r(b->buf, ",", &save); kv;
		     kv = strtok_r(NULL, ",", &save)) {
			Synod__Wire__ConfigEntry *e = &b->cfg[b->ct.n_configs];
			char *eq = strchr(kv, '=');
			assert_non_null(eq);
			*eq = '\0';
			synod__wire__config_entry__init(e);
			e->scope = SYNOD_SCOPE_TOPIC;
			e->key = kv;
			e->value = eq + 1;
			b->cfgp[b->ct.n_configs++] = e;
		}
		b->ct.configs = b->cfgp;
	}
	if (sp->assign) {
		const char *s = sp->assign;
		while (*s) {
			Synod__Wire__ReplicaAssignment *a =
			    &b->ra[b->ct.n_assignments];
			synod__wire__replica_assignment__init(a);
			a->partition = (int32_t)b->ct.n_assignments;
			a->replicas = b->ids[b->ct.n_assignments];
			while (*s && *s != ',') {
				char *end;
				a->replicas[a->n_replicas++] =
				    (int32_t)strtol(s, &end, 10);
				s = *end == ':' ? end + 1 : end;
			}
			if (*s == ',')
				s++;
			b->rap[b->ct.n_assignments++] = a;
		}
		b->ct.assignments = b->rap;
	}
}

/* CREATE_TOPICS with one topic: its result code (the request's own status
 * must be OK); id (16 bytes) and msg when wanted. */
static int create(struct fixture *f, const struct spec *sp, int validate_only,
		  uint8_t *id, char *msg, size_t msg_size)
{
	Synod__Wire__CreateTopicsRequest r =
	    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
	Synod__Wire__CreateTopicsResponse *resp = NULL;
	struct built b;
	Synod__Wire__CreatableTopic *ctp = &b.ct;
	const Synod__Wire__TopicResult *res;
	int code;
	build_topic(sp, &b);
	r.n_topics = 1;
	r.topics = &ctp;
	if (validate_only)
		r.has_validate_only = r.validate_only = 1;
	code = itest_call(&f->it, SYNOD_API_CREATE_TOPICS, &r.base,
			  &synod__wire__create_topics_response__descriptor,
			  (ProtobufCMessage **)&resp);
	if (code != SYNOD_OK)
		fail_msg("CREATE_TOPICS %s: %s", sp->name,
			 synod_error_name(code));
	assert_int_equal(resp->n_results, 1);
	res = resp->results[0];
	/* The controller echoes at most 249 bytes of a name (see
	 * ct_item.name in controller/topics.c). */
	assert_int_equal(strncmp(res->name, sp->name, 249), 0);
	code = res->status->code;
	assert_int_equal(res->has_topic_id, code == SYNOD_OK);
	if (code == SYNOD_OK) {
		assert_int_equal(res->topic_id.len, 16);
		/* A UUID v4. */
		assert_int_equal(res->topic_id.data[6] >> 4, 4);
		assert_int_equal(res->topic_id.data[8] >> 6, 2);
		if (id)
			memcpy(id, res->topic_id.data, 16);
		assert_true(resp->has_metadata_version);
	}
	if (msg)
		snprintf(msg, msg_size, "%s",
			 res->status->message ? res->status->message : "");
	synod__wire__create_topics_response__free_unpacked(resp, NULL);
	return code;
}

static void create_ok(struct fixture *f, const struct spec *sp, uint8_t *id)
{
	char msg[200];
	int code = create(f, sp, 0, id, msg, sizeof msg);
	if (code != SYNOD_OK)
		fail_msg("create %s: %s (%s)", sp->name, synod_error_name(code),
			 msg);
}

static void expect_create(struct fixture *f, const struct spec *sp, int want)
{
	char msg[200];
	int code = create(f, sp, 0, NULL, msg, sizeof msg);
	if (code != want)
		fail_msg("create %s: %s (%s), expected %s", sp->name,
			 synod_error_name(code), msg, synod_error_name(want));
	assert_true(msg[0] != '\0');
}

static int delete_topics(struct fixture *f, const char *const *names, size_t n)
{
	Synod__Wire__DeleteTopicsRequest r =
	    SYNOD__WIRE__DELETE_TOPICS_REQUEST__INIT;
	r.n_names = n;
	r.names = (char **)names;
	return itest_call(&f->it, SYNOD_API_DELETE_TOPICS, &r.base,
			  &synod__wire__delete_topics_response__descriptor,
			  NULL);
}

static int grow(struct fixture *f, const char *name, uint32_t total,
		int validate_only)
{
	Synod__Wire__CreatePartitionsRequest r =
	    SYNOD__WIRE__CREATE_PARTITIONS_REQUEST__INIT;
	r.name = (char *)name;
	r.total = total;
	if (validate_only)
		r.has_validate_only = r.validate_only = 1;
	return itest_call(&f->it, SYNOD_API_CREATE_PARTITIONS, &r.base,
			  &synod__wire__create_partitions_response__descriptor,
			  NULL);
}

/* DESCRIBE_TOPICS of one topic: the code, *out on success. */
static int describe(struct fixture *f, const char *name,
		    Synod__Wire__DescribeTopicsResponse **out)
{
	Synod__Wire__DescribeTopicsRequest r =
	    SYNOD__WIRE__DESCRIBE_TOPICS_REQUEST__INIT;
	char *names[1] = {(char *)name};
	int code;
	r.n_names = 1;
	r.names = names;
	code = itest_call(&f->it, SYNOD_API_DESCRIBE_TOPICS, &r.base,
			  &synod__wire__describe_topics_response__descriptor,
			  (ProtobufCMessage **)out);
	if (code != SYNOD_OK && *out) {
		synod__wire__describe_topics_response__free_unpacked(*out,
								     NULL);
		*out = NULL;
	}
	return code;
}

static void describe_free(Synod__Wire__DescribeTopicsResponse *d)
{
	if (d)
		synod__wire__describe_topics_response__free_unpacked(d, NULL);
}

static const char *config_of(const Synod__Wire__TopicDescription *d,
			     const char *key)
{
	for (size_t i = 0; i < d->n_configs; i++)
		if (strcmp(d->configs[i]->key, key) == 0)
			return d->configs[i]->value;
	return NULL;
}

/* ELECT_LEADERS for one partition (all of the topic when partition < 0):
 * the request's code; the first result's code and leader. */
static int elect(struct fixture *f, int unclean, const char *topic,
		 int32_t partition, int *result, int32_t *leader)
{
	Synod__Wire__ElectLeadersRequest r =
	    SYNOD__WIRE__ELECT_LEADERS_REQUEST__INIT;
	Synod__Wire__ElectLeadersResponse *resp = NULL;
	Synod__Wire__TopicPartitions tp = SYNOD__WIRE__TOPIC_PARTITIONS__INIT;
	Synod__Wire__TopicPartitions *tpp = &tp;
	int code;
	r.type = unclean ? 1 : 0;
	tp.topic = (char *)topic;
	if (partition >= 0) {
		tp.n_partitions = 1;
		tp.partitions = &partition;
	}
	r.n_partitions = 1;
	r.partitions = &tpp;
	code = itest_call(&f->it, SYNOD_API_ELECT_LEADERS, &r.base,
			  &synod__wire__elect_leaders_response__descriptor,
			  (ProtobufCMessage **)&resp);
	if (code == SYNOD_OK) {
		assert_true(resp->n_results >= 1);
		assert_string_equal(resp->results[0]->topic, topic);
		*result = resp->results[0]->code;
		*leader = resp->results[0]->leader;
		assert_true(resp->has_elected);
		assert_int_equal(resp->elected, *result == SYNOD_OK);
	}
	if (resp)
		synod__wire__elect_leaders_response__free_unpacked(resp, NULL);
	return code;
}

/* ---- synodctl ---- */

/* `partition list [flags]` as "topic/partition" strings, sorted, joined by
 * spaces; every entry's fields checked against s. */
static void ctl_partition_list(struct fixture *f, const char *flags,
			       const struct snap *s, char *out, size_t size)
{
	char args[128];
	json_t *j = NULL, *arr, *e;
	size_t i, o = 0;
	snprintf(args, sizeof args, "partition list %s", flags);
	assert_int_equal(itest_synodctl(&f->it, SYNOD_CTL, args, &j), 0);
	assert_non_null(j);
	arr = json_object_get(j, "partitions");
	assert_true(json_is_array(arr));
	out[0] = '\0';
	json_array_foreach(arr, i, e)
	{
		struct part p;
		assert_int_equal(part_from_json(e, NULL, &p), 0);
		assert_part(&p, snap_find(s, p.topic, p.partition));
		o += (size_t)snprintf(out + o, size - o, "%s%s/%d",
				      i ? " " : "", p.topic, p.partition);
		assert_true(o < size);
	}
	json_decref(j);
}

/* ---- the election rules, independently ---- */

static int is_dead(const int32_t *dead, size_t n_dead, int32_t id)
{
	return has(dead, (unsigned)n_dead, id);
}

/* What controller/election.h's el_broker_gone must make of `in` when
 * broker `gone` is fenced and the brokers in dead[] (gone included) are
 * not alive; unclean elections off. */
static void expect_gone(const struct part *in, int32_t gone,
			const int32_t *dead, size_t n_dead, struct part *out)
{
	int in_isr = has(in->isr, in->nisr, gone);
	*out = *in;
	if (!in_isr && in->leader != gone)
		return;
	if (in_isr && in->nisr > 1) {
		out->nisr = 0;
		for (unsigned i = 0; i < in->nisr; i++)
			if (in->isr[i] != gone)
				out->isr[out->nisr++] = in->isr[i];
	}
	if (in->leader == gone) {
		out->leader = -1;
		for (unsigned i = 0; i < in->nrep; i++)
			if (in->rep[i] != gone &&
			    has(out->isr, out->nisr, in->rep[i]) &&
			    !is_dead(dead, n_dead, in->rep[i])) {
				out->leader = in->rep[i];
				break;
			}
		out->le++;
	}
	if (!part_eq(in, out))
		out->pe++;
}

/* Every partition of `after` is what expect_gone() makes of `before`.
 * Returns how many partitions changed leader. */
static unsigned check_gone(const struct snap *before, const struct snap *after,
			   int32_t gone, const int32_t *dead, size_t n_dead)
{
	unsigned moved = 0;
	assert_int_equal(after->n, before->n);
	for (size_t i = 0; i < before->n; i++) {
		struct part want;
		expect_gone(&before->p[i], gone, dead, n_dead, &want);
		assert_part(&after->p[i], &want);
		if (want.leader != before->p[i].leader) {
			moved++;
			/* A new leader comes from the old ISR. */
			if (want.leader >= 0)
				assert_true(has(before->p[i].isr,
						before->p[i].nisr,
						want.leader));
		}
	}
	return moved;
}

/* ---- a. create, describe, grow, delete, placement ---- */

static const char *rack_of(int32_t id)
{
	static const char *const racks[] = {"rack-0", "rack-1", "rack-2"};
	return racks[id % 3]; /* synod-sim --racks 3 */
}

/* Placement rules on a 6-broker, 3-rack cluster, every broker alive. */
static void check_placement(const Synod__Wire__TopicDescription *d,
			    uint32_t first, uint32_t rf)
{
	for (size_t p = first; p < d->n_partitions; p++) {
		const Synod__Wire__PartitionState *ps = d->partitions[p];
		assert_int_equal(ps->partition, (int32_t)p);
		assert_int_equal(ps->n_replicas, rf);
		for (size_t i = 0; i < rf; i++) {
			assert_in_range(ps->replicas[i], 1, 6);
			for (size_t k = 0; k < i; k++) {
				assert_int_not_equal(ps->replicas[i],
						     ps->replicas[k]);
				/* rf <= 3 racks: one replica per rack. */
				assert_string_not_equal(
				    rack_of(ps->replicas[i]),
				    rack_of(ps->replicas[k]));
			}
		}
		/* New: the preferred replica leads, the ISR is every replica,
		 * epochs start at 0. */
		assert_int_equal(ps->leader, ps->replicas[0]);
		assert_int_equal(ps->leader_epoch, 0);
		assert_int_equal(ps->partition_epoch, 0);
		assert_int_equal(ps->n_isr, ps->n_replicas);
		assert_memory_equal(ps->isr, ps->replicas,
				    ps->n_isr * sizeof(int32_t));
	}
}

static void test_create_describe_delete(void **state)
{
	struct fixture *f = *state;
	Synod__Wire__DescribeTopicsResponse *d = NULL;
	const Synod__Wire__TopicDescription *td;
	uint8_t orders_id[16], again_id[16], manual_id[16];
	unsigned leaders[7] = {0}, replicas[7] = {0};
	struct snap s;
	char name250[251];

	start(f);
	spawn_sim(f, 1, 6, "--racks", "3", NULL);
	for (int32_t id = 1; id <= 6; id++)
		wait_broker(f, id, "active", WAIT_MS);

	/* A topic with configs: 12 partitions, RF 3. */
	{
		struct spec sp = {
		    "orders", 12, 3, NULL,
		    "retention.ms=3600000,cleanup.policy=compact"};
		create_ok(f, &sp, orders_id);
		expect_create(f, &sp, SYNOD_ETOPIC_ALREADY_EXISTS);
	}
	assert_int_equal(describe(f, "orders", &d), SYNOD_OK);
	assert_int_equal(d->n_topics, 1);
	assert_true(d->has_metadata_version && d->metadata_version > 0);
	td = d->topics[0];
	assert_string_equal(td->name, "orders");
	assert_int_equal(td->topic_id.len, 16);
	assert_memory_equal(td->topic_id.data, orders_id, 16);
	assert_int_equal(td->partition_count, 12);
	assert_int_equal(td->n_configs, 2);
	assert_string_equal(config_of(td, "retention.ms"), "3600000");
	assert_string_equal(config_of(td, "cleanup.policy"), "compact");
	assert_int_equal(td->n_partitions, 12);
	check_placement(td, 0, 3);
	/* Balance from zero load: 2 leaders and 6 replicas per broker. */
	for (size_t p = 0; p < td->n_partitions; p++) {
		leaders[td->partitions[p]->leader]++;
		for (size_t i = 0; i < 3; i++)
			replicas[td->partitions[p]->replicas[i]]++;
	}
	for (int id = 1; id <= 6; id++) {
		assert_int_equal(leaders[id], 2);
		assert_int_equal(replicas[id], 6);
	}
	describe_free(d);

	/* Refusals, each with a message; nothing is created. */
	{
		struct spec rf7 = {"rf7", 1, 7, NULL, NULL};
		struct spec rf0 = {"rf0", 1, 0, NULL, NULL};
		struct spec p0 = {"p0", 0, 1, NULL, NULL};
		struct spec badv = {"badv", 1, 1, NULL, "retention.ms=forever"};
		struct spec badk = {"badk", 1, 1, NULL, "no.such.key=1"};
		struct spec clus = {"clus", 1, 1, NULL, "num.partitions=3"};
		struct spec n1 = {"bad name", 1, 1, NULL, NULL};
		struct spec n2 = {".", 1, 1, NULL, NULL};
		struct spec n3 = {"..", 1, 1, NULL, NULL};
		struct spec n4 = {"a/b", 1, 1, NULL, NULL};
		struct spec n5 = {name250, 1, 1, NULL, NULL};
		struct spec a1 = {"a1", -1, -1, "1:2,2:99", NULL};
		struct spec a2 = {"a2", -1, -1, "1:1", NULL};
		struct spec a3 = {"a3", -1, -1, "1:2,3", NULL};
		struct spec a4 = {"a4", 2, -1, "1:2,2:3", NULL};
		memset(name250, 'x', 250);
		name250[250] = '\0';
		expect_create(f, &rf7, SYNOD_EINVALID_REPLICATION_FACTOR);
		expect_create(f, &rf0, SYNOD_EINVALID_REPLICATION_FACTOR);
		expect_create(f, &p0, SYNOD_EINVALID_PARTITIONS);
		expect_create(f, &badv, SYNOD_EINVALID_CONFIG);
		expect_create(f, &badk, SYNOD_EINVALID_CONFIG);
		expect_create(f, &clus, SYNOD_EINVALID_CONFIG);
		expect_create(f, &n1, SYNOD_EINVALID_TOPIC);
		expect_create(f, &n2, SYNOD_EINVALID_TOPIC);
		expect_create(f, &n3, SYNOD_EINVALID_TOPIC);
		expect_create(f, &n4, SYNOD_EINVALID_TOPIC);
		expect_create(f, &n5, SYNOD_EINVALID_TOPIC);
		/* Explicit assignments: an unregistered broker, a broker
		 * twice, unequal replica counts, and with a count. */
		expect_create(f, &a1, SYNOD_EINVALID_ARGUMENT);
		expect_create(f, &a2, SYNOD_EINVALID_ARGUMENT);
		expect_create(f, &a3, SYNOD_EINVALID_REPLICATION_FACTOR);
		expect_create(f, &a4, SYNOD_EINVALID_ARGUMENT);
		name250[249] = '\0'; /* 249 characters are fine */
		{
			uint8_t id[16];
			assert_int_equal(create(f, &n5, 1, id, NULL, 0),
					 SYNOD_OK);
		}
	}
	/* validate_only: answered with an id, nothing created. */
	{
		struct spec vo = {"vo", 4, 2, NULL, "retention.ms=1000"};
		uint8_t id[16];
		assert_int_equal(create(f, &vo, 1, id, NULL, 0), SYNOD_OK);
		assert_int_equal(describe(f, "vo", &d), SYNOD_EUNKNOWN_TOPIC);
		assert_int_equal(grow(f, "orders", 16, 1), SYNOD_OK);
	}
	/* Several topics in one request: each has its own result. */
	{
		Synod__Wire__CreateTopicsRequest r =
		    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
		Synod__Wire__CreateTopicsResponse *resp = NULL;
		struct spec sa = {"multi-a", 2, 2, NULL, NULL};
		struct spec sb = {"multi-b", 0, 2, NULL, NULL};
		struct spec sc = {"multi-a", 1, 1, NULL, NULL};
		struct built ba, bb, bc;
		Synod__Wire__CreatableTopic *cts[3] = {&ba.ct, &bb.ct, &bc.ct};
		build_topic(&sa, &ba);
		build_topic(&sb, &bb);
		build_topic(&sc, &bc);
		r.n_topics = 3;
		r.topics = cts;
		assert_int_equal(
		    itest_call(&f->it, SYNOD_API_CREATE_TOPICS, &r.base,
			       &synod__wire__create_topics_response__descriptor,
			       (ProtobufCMessage **)&resp),
		    SYNOD_OK);
		assert_int_equal(resp->n_results, 3);
		assert_int_equal(resp->results[0]->status->code, SYNOD_OK);
		assert_int_equal(resp->results[1]->status->code,
				 SYNOD_EINVALID_PARTITIONS);
		/* The first one is pending: the second is refused as an
		 * existing topic. */
		assert_int_equal(resp->results[2]->status->code,
				 SYNOD_ETOPIC_ALREADY_EXISTS);
		synod__wire__create_topics_response__free_unpacked(resp, NULL);
		assert_int_equal(describe(f, "multi-a", &d), SYNOD_OK);
		assert_int_equal(d->topics[0]->partition_count, 2);
		assert_int_equal(d->topics[0]->partitions[0]->n_replicas, 2);
		describe_free(d);
		assert_int_equal(describe(f, "multi-b", &d),
				 SYNOD_EUNKNOWN_TOPIC);
	}
	/* Explicit assignment: exactly as given; defaults otherwise
	 * (num.partitions 1, default.replication.factor 3). */
	{
		struct spec m = {"manual", -1, -1, "4:5,5:6,6:4", NULL};
		struct spec dflt = {"defaults", -1, -1, NULL, NULL};
		static const int32_t want[3][2] = {{4, 5}, {5, 6}, {6, 4}};
		create_ok(f, &m, manual_id);
		create_ok(f, &dflt, NULL);
		assert_int_equal(describe(f, "manual", &d), SYNOD_OK);
		td = d->topics[0];
		assert_memory_equal(td->topic_id.data, manual_id, 16);
		assert_int_equal(td->partition_count, 3);
		assert_int_equal(td->n_configs, 0);
		for (size_t p = 0; p < 3; p++) {
			const Synod__Wire__PartitionState *ps =
			    td->partitions[p];
			assert_int_equal(ps->n_replicas, 2);
			assert_memory_equal(ps->replicas, want[p],
					    sizeof want[p]);
			assert_int_equal(ps->leader, want[p][0]);
			assert_int_equal(ps->n_isr, 2);
			assert_memory_equal(ps->isr, want[p], sizeof want[p]);
			assert_int_equal(ps->leader_epoch, 0);
			assert_int_equal(ps->partition_epoch, 0);
		}
		describe_free(d);
		assert_int_equal(describe(f, "defaults", &d), SYNOD_OK);
		assert_int_equal(d->topics[0]->partition_count, 1);
		check_placement(d->topics[0], 0, 3);
		describe_free(d);
	}

	/* Growth: 12 -> 16; the old partitions are untouched. */
	{
		Synod__Wire__DescribeTopicsResponse *before = NULL;
		assert_int_equal(describe(f, "orders", &before), SYNOD_OK);
		assert_int_equal(grow(f, "orders", 12, 0),
				 SYNOD_EINVALID_PARTITIONS);
		assert_int_equal(grow(f, "orders", 10, 0),
				 SYNOD_EINVALID_PARTITIONS);
		assert_int_equal(grow(f, "nope", 20, 0), SYNOD_EUNKNOWN_TOPIC);
		assert_int_equal(grow(f, "orders", 16, 0), SYNOD_OK);
		assert_int_equal(describe(f, "orders", &d), SYNOD_OK);
		td = d->topics[0];
		assert_int_equal(td->partition_count, 16);
		assert_int_equal(td->n_partitions, 16);
		assert_memory_equal(td->topic_id.data, orders_id, 16);
		check_placement(td, 12, 3);
		for (size_t p = 0; p < 12; p++) {
			struct part a, b;
			part_from_wire(before->topics[0]->partitions[p], &a);
			part_from_wire(td->partitions[p], &b);
			assert_part(&b, &a);
		}
		describe_free(before);
		describe_free(d);
	}

	/* Every simulated broker holds exactly what it replicates. */
	wait_views(f, &s);
	assert_int_equal(s.n_topics, 4); /* defaults, manual, multi-a,
					    orders */
	snap_free(&s);

	/* Deletion: all or nothing; unknown topics refused. */
	{
		const char *unknown[] = {"nope"};
		const char *mixed[] = {"manual", "nope"};
		const char *two[] = {"orders", "manual"};
		assert_int_equal(delete_topics(f, unknown, 1),
				 SYNOD_EUNKNOWN_TOPIC);
		assert_int_equal(delete_topics(f, mixed, 2),
				 SYNOD_EUNKNOWN_TOPIC);
		assert_int_equal(describe(f, "manual", &d), SYNOD_OK);
		describe_free(d);
		assert_int_equal(delete_topics(f, two, 2), SYNOD_OK);
		assert_int_equal(describe(f, "orders", &d),
				 SYNOD_EUNKNOWN_TOPIC);
		assert_int_equal(describe(f, "manual", &d),
				 SYNOD_EUNKNOWN_TOPIC);
		assert_int_equal(delete_topics(f, two, 1),
				 SYNOD_EUNKNOWN_TOPIC);
	}
	/* Gone from every broker's view (partitions and topic count). */
	wait_views(f, &s);
	assert_int_equal(s.n_topics, 2);
	for (size_t i = 0; i < s.n; i++)
		assert_string_not_equal(s.p[i].topic, "orders");
	snap_free(&s);

	/* The name is free again: a new id, no configs inherited. */
	{
		struct spec sp = {"orders", 3, 2, NULL, NULL};
		create_ok(f, &sp, again_id);
		assert_memory_not_equal(again_id, orders_id, 16);
		assert_int_equal(describe(f, "orders", &d), SYNOD_OK);
		assert_int_equal(d->topics[0]->n_configs, 0);
		assert_int_equal(d->topics[0]->partition_count, 3);
		describe_free(d);
	}
	wait_views(f, NULL);
	f->it.passed = 1;
}

/* ---- b. brokers die; the controller dies around their fences ---- */

/* The live broker (not in dead[]) leading the most partitions of s. */
static int32_t busiest(const struct snap *s, const int32_t *dead, size_t n_dead,
		       unsigned *count)
{
	int32_t best = 0;
	*count = 0;
	for (int32_t id = 1; id <= 5; id++) {
		unsigned n = 0;
		if (is_dead(dead, n_dead, id))
			continue;
		for (size_t i = 0; i < s->n; i++)
			n += s->p[i].leader == id;
		if (n > *count) {
			*count = n;
			best = id;
		}
	}
	assert_true(*count >= 1);
	return best;
}

/* Restart node id and wait until it applied what the leader has. */
static void restart_node(struct fixture *f, unsigned id)
{
	struct cluster *c = &f->it.c;
	unsigned leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	Synod__Wire__NodeStatusResponse *st;
	assert_int_not_equal(leader, 0);
	st = cluster_node_status(c, leader, 2000);
	assert_non_null(st);
	assert_int_equal(cluster_start_node(c, id), 0);
	assert_int_equal(cluster_wait_applied(c, st->applied_index, WAIT_MS),
			 0);
	synod__wire__node_status_response__free_unpacked(st, NULL);
}

static void test_broker_loss_and_controller_crash(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = &f->it.c;
	struct snap s0, s1, s2, s3;
	unsigned leader, leader2, most, moved;
	int32_t x, y, z, dead[3];
	uint64_t t_kill;
	long from;
	char st[32], line[96];

	start(f);
	for (int32_t id = 1; id <= 5; id++)
		spawn_sim(f, id, 1, NULL);
	for (int32_t id = 1; id <= 5; id++)
		wait_broker(f, id, "active", WAIT_MS);
	{
		struct spec ev = {"events", 10, 3, NULL, NULL};
		struct spec lg = {"logs", 5, 2, NULL, NULL};
		create_ok(f, &ev, NULL);
		create_ok(f, &lg, NULL);
	}
	wait_views(f, &s0);
	assert_int_equal(s0.n, 15);

	/* kill -9 x: the partitions it led get new leaders from their ISRs
	 * (in the fence's entry); x leaves every ISR; epochs move once. */
	x = busiest(&s0, NULL, 0, &most);
	assert_true(most >= 2);
	kill_sim(f, sim_of(f, x));
	wait_broker(f, x, "fenced", SESSION_MS + WAIT_MS);
	snap_take(f, &s1);
	dead[0] = x;
	moved = check_gone(&s0, &s1, x, dead, 1);
	assert_int_equal(moved, most);
	for (size_t i = 0; i < s1.n; i++) {
		assert_false(has(s1.p[i].isr, s1.p[i].nisr, x));
		assert_int_not_equal(s1.p[i].leader, x);
		assert_int_not_equal(s1.p[i].leader, -1);
	}
	snap_free(&s1);
	wait_views(f, &s1);
	check_gone(&s0, &s1, x, dead, 1); /* nothing moved since */

	/* kill -9 y, then kill -9 the active controller about when y's
	 * session expires (its fence and elections may or may not have
	 * been proposed or committed). */
	y = busiest(&s1, dead, 1, &most);
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	kill_sim(f, sim_of(f, y));
	t_kill = tool_now_ms();
	itest_pump_until(&f->it.loop, t_kill + SESSION_MS - HEARTBEAT_MS / 2);
	assert_int_equal(cluster_kill(c, leader), 0);
	snprintf(line, sizeof line, "broker_fenced broker=%d ", y);
	fprintf(stderr,
		"controller %u killed %llu ms after broker %d; it had %s "
		"applied its fence\n",
		leader, (unsigned long long)(tool_now_ms() - t_kill), y,
		cluster_log_contains(c, leader, line) == 1 ? "already" : "not");
	leader2 = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader2, 0);
	assert_int_not_equal(leader2, leader);
	/* The new controller fences y after a session of grace (unless the
	 * fence committed); nothing is lost or applied twice: the state is
	 * exactly one loss of y after the loss of x. */
	wait_broker(f, y, "fenced", 2 * SESSION_MS + WAIT_MS);
	snap_take(f, &s2);
	dead[1] = y;
	moved = check_gone(&s1, &s2, y, dead, 2);
	assert_int_equal(moved, most);
	snap_free(&s2);
	/* The healthy ones stayed active through the failover. */
	for (int32_t id = 1; id <= 5; id++) {
		if (is_dead(dead, 2, id))
			continue;
		broker_state(f, id, st, sizeof st);
		assert_string_equal(st, "active");
	}
	wait_views(f, &s2);
	check_gone(&s1, &s2, y, dead, 2);

	/* kill -9 z, and kill -9 the active controller right after it
	 * applied z's fence (committed, maybe not yet applied elsewhere):
	 * the next controller has it, and does not fence z again. */
	restart_node(f, leader);
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	z = busiest(&s2, dead, 2, &most);
	from = itest_log_size(c, leader);
	kill_sim(f, sim_of(f, z));
	t_kill = tool_now_ms();
	snprintf(line, sizeof line, "broker_fenced broker=%d ", z);
	while (!itest_log_contains_after(c, leader, from, line)) {
		assert_true(tool_now_ms() < t_kill + SESSION_MS + WAIT_MS);
		itest_pump(&f->it.loop, 5);
	}
	assert_int_equal(cluster_kill(c, leader), 0);
	leader2 = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader2, 0);
	assert_int_not_equal(leader2, leader);
	broker_state(f, z, st, sizeof st);
	assert_string_equal(st, "fenced");
	snap_take(f, &s3);
	dead[2] = z;
	moved = check_gone(&s2, &s3, z, dead, 3);
	assert_int_equal(moved, most);
	snap_free(&s3);
	wait_views(f, &s3);
	check_gone(&s2, &s3, z, dead, 3);
	assert_int_equal(itest_log_contains_after(c, leader2, 0, line), 0);
	snap_free(&s0);
	snap_free(&s1);
	snap_free(&s2);
	snap_free(&s3);
	f->it.passed = 1;
}

/* ---- c. offline partitions, recovery, unclean elections ---- */

static void expect_state(const struct snap *s, const char *topic,
			 int32_t leader, uint32_t le, uint32_t pe,
			 const char *isr)
{
	const struct part *p = snap_find(s, topic, 0);
	struct part want = *p;
	const char *q = isr;
	want.leader = leader;
	want.le = le;
	want.pe = pe;
	want.nisr = 0;
	while (*q) {
		char *end;
		want.isr[want.nisr++] = (int32_t)strtol(q, &end, 10);
		q = *end ? end + 1 : end;
	}
	assert_part(p, &want);
}

static void test_offline_and_unclean(void **state)
{
	struct fixture *f = *state;
	Synod__Wire__DescribeTopicsResponse *d = NULL;
	struct snap s;
	char list[256];
	json_t *j = NULL, *r;

	start(f);
	for (int32_t id = 1; id <= 3; id++)
		spawn_sim(f, id, 1, NULL);
	for (int32_t id = 1; id <= 3; id++)
		wait_broker(f, id, "active", WAIT_MS);
	{
		struct spec off = {"off", -1, -1, "1:2", NULL};
		struct spec uncl = {"uncl", -1, -1, "2:3", NULL};
		struct spec au = {"auto", -1, -1, "1:2",
				  "unclean.leader.election.enable=true"};
		create_ok(f, &off, NULL);
		create_ok(f, &uncl, NULL);
		create_ok(f, &au, NULL);
	}
	assert_int_equal(describe(f, "auto", &d), SYNOD_OK);
	assert_string_equal(
	    config_of(d->topics[0], "unclean.leader.election.enable"), "true");
	describe_free(d);

	/* Broker 2 dies: it leaves the ISRs; uncl's leadership moves to 3. */
	kill_sim(f, sim_of(f, 2));
	wait_broker(f, 2, "fenced", SESSION_MS + WAIT_MS);
	wait_views(f, &s);
	expect_state(&s, "off", 1, 0, 1, "1");
	expect_state(&s, "uncl", 3, 1, 1, "3");
	expect_state(&s, "auto", 1, 0, 1, "1");
	snap_free(&s);

	/* It comes back (a new incarnation): outside every ISR, nothing to
	 * recover, nothing changes. */
	spawn_sim(f, 2, 1, NULL);
	wait_broker(f, 2, "active", WAIT_MS);
	wait_views(f, &s);
	expect_state(&s, "off", 1, 0, 1, "1");
	expect_state(&s, "uncl", 3, 1, 1, "3");
	expect_state(&s, "auto", 1, 0, 1, "1");
	snap_free(&s);

	/* 1 and 3 die: off and uncl lose their whole ISR and go offline
	 * (the last ISR member stays listed); auto allows unclean elections
	 * and takes 2, outside its ISR. */
	kill_sim(f, sim_of(f, 1));
	kill_sim(f, sim_of(f, 3));
	wait_broker(f, 1, "fenced", SESSION_MS + WAIT_MS);
	wait_broker(f, 3, "fenced", SESSION_MS + WAIT_MS);
	wait_views(f, &s);
	expect_state(&s, "off", -1, 1, 2, "1");
	expect_state(&s, "uncl", -1, 2, 2, "3");
	expect_state(&s, "auto", 2, 1, 2, "2");
	ctl_partition_list(f, "--offline", &s, list, sizeof list);
	assert_string_equal(list, "off/0 uncl/0");
	ctl_partition_list(f, "--under-replicated", &s, list, sizeof list);
	assert_string_equal(list, "auto/0 off/0 uncl/0");
	ctl_partition_list(f, "", &s, list, sizeof list);
	assert_string_equal(list, "auto/0 off/0 uncl/0");
	snap_free(&s);

	/* A preferred election cannot help an offline partition whose
	 * preferred replica is dead. */
	assert_int_equal(itest_synodctl(&f->it, SYNOD_CTL,
					"partition elect-leaders --preferred "
					"--topic off",
					&j),
			 0);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "elected")), 0);
	r = json_array_get(json_object_get(j, "results"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "result")),
			    "ELECTION_NOT_NEEDED");
	json_decref(j);

	/* The operator forces uncl: 2 (alive, outside the ISR) leads, alone
	 * in the ISR. */
	assert_int_equal(
	    itest_synodctl(&f->it, SYNOD_CTL,
			   "partition elect-leaders --unclean --topic "
			   "uncl --partition 0",
			   &j),
	    0);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "elected")), 1);
	r = json_array_get(json_object_get(j, "results"), 0);
	assert_string_equal(json_string_value(json_object_get(r, "topic")),
			    "uncl");
	assert_int_equal(json_integer_value(json_object_get(r, "partition")),
			 0);
	assert_string_equal(json_string_value(json_object_get(r, "result")),
			    "ELECTED");
	assert_int_equal(json_integer_value(json_object_get(r, "leader")), 2);
	json_decref(j);
	assert_int_equal(itest_synodctl(&f->it, SYNOD_CTL,
					"partition elect-leaders --unclean "
					"--topic nope",
					&j),
			 1);
	json_decref(j);
	wait_views(f, &s);
	expect_state(&s, "uncl", 2, 3, 3, "2");
	expect_state(&s, "off", -1, 1, 2, "1");
	ctl_partition_list(f, "--offline", &s, list, sizeof list);
	assert_string_equal(list, "off/0");
	snap_free(&s);

	/* 1, the last ISR member of off, comes back: off recovers with it
	 * when it is unfenced. */
	spawn_sim(f, 1, 1, NULL);
	wait_broker(f, 1, "active", WAIT_MS);
	wait_views(f, &s);
	expect_state(&s, "off", 1, 2, 3, "1");
	expect_state(&s, "uncl", 2, 3, 3, "2");
	expect_state(&s, "auto", 2, 1, 2, "2");
	ctl_partition_list(f, "--offline", &s, list, sizeof list);
	assert_string_equal(list, "");
	snap_free(&s);
	f->it.passed = 1;
}

/* ---- d. ISR changes from leaders, preferred elections ---- */

struct alter_result {
	int done;
	int code;
	int has_state;
	struct part state;
};

static void on_alter(void *arg, int code, const Synod__Wire__PartitionState *s)
{
	struct alter_result *r = arg;
	r->done = 1;
	r->code = code;
	r->has_state = s != NULL;
	if (s)
		part_from_wire(s, &r->state);
}

/* synod_broker_alter_isr from library broker i; the answer's code, *out
 * the new state on success. */
static int alter(struct fixture *f, unsigned i, const uint8_t *tid,
		 int32_t partition, uint32_t le, uint32_t pe,
		 const int32_t *isr, size_t n, struct part *out)
{
	struct alter_result r = {0};
	assert_int_equal(synod_broker_alter_isr(f->lib[i], tid, partition, le,
						pe, isr, n, on_alter, &r),
			 SYNOD_OK);
	while (!r.done)
		uv_run(&f->it.loop, UV_RUN_ONCE);
	assert_int_equal(r.has_state, r.code == SYNOD_OK);
	if (out && r.code == SYNOD_OK)
		*out = r.state;
	return r.code;
}

/* ALTER_PARTITION by hand. */
static int alter_raw(struct fixture *f, int32_t broker, uint64_t epoch,
		     const uint8_t *tid, int32_t partition, uint32_t le,
		     uint32_t pe, int32_t *isr, size_t n)
{
	Synod__Wire__AlterPartitionRequest r =
	    SYNOD__WIRE__ALTER_PARTITION_REQUEST__INIT;
	r.broker_id = broker;
	r.broker_epoch = epoch;
	r.topic_id.data = (uint8_t *)tid;
	r.topic_id.len = 16;
	r.partition = partition;
	r.leader_epoch = le;
	r.partition_epoch = pe;
	r.new_isr = isr;
	r.n_new_isr = n;
	return itest_call(&f->it, SYNOD_API_ALTER_PARTITION, &r.base,
			  &synod__wire__alter_partition_response__descriptor,
			  NULL);
}

static void lib_wait_active(struct fixture *f, unsigned i)
{
	uint64_t deadline = tool_now_ms() + WAIT_MS;
	while (synod_broker_state(f->lib[i]) != SYNOD_BROKER_ACTIVE) {
		if (tool_now_ms() >= deadline)
			fail_msg("library broker %d: %s",
				 synod_broker_id(f->lib[i]),
				 synod_broker_state_name(
				     synod_broker_state(f->lib[i])));
		itest_pump(&f->it.loop, 10);
	}
}

/* Expected state of isr/<partition> in s, with leader, epochs, ISR. */
static void expect_isr_part(const struct snap *s, int32_t partition,
			    int32_t leader, uint32_t le, uint32_t pe,
			    const int32_t *isr, unsigned n)
{
	const struct part *p = snap_find(s, "isr", partition);
	struct part want = *p;
	want.leader = leader;
	want.le = le;
	want.pe = pe;
	want.nisr = n;
	memcpy(want.isr, isr, n * sizeof *isr);
	assert_part(p, &want);
}

static void test_isr_changes_and_preferred(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = &f->it.c;
	struct snap s;
	struct part got;
	uint8_t tid[16], bad_tid[16];
	unsigned l1, l2, l3, leader;
	uint64_t e2;
	int result;
	int32_t who;
	static const int32_t i23[] = {2, 3}, i2[] = {2}, i3[] = {3},
			     i231[] = {2, 3, 1}, i123[] = {1, 2, 3},
			     i32[] = {3, 2}, i132[] = {1, 3, 2};
	struct synod_broker_stats st_before, st_after;

	start(f);
	l1 = lib_start(f, 1);
	l2 = lib_start(f, 2);
	l3 = lib_start(f, 3);
	lib_wait_active(f, l1);
	lib_wait_active(f, l2);
	lib_wait_active(f, l3);
	{
		struct spec sp = {"isr", -1, -1, "1:2:3,1:3:2", NULL};
		create_ok(f, &sp, tid);
	}
	wait_views(f, &s);
	expect_isr_part(&s, 0, 1, 0, 0, i123, 3);
	expect_isr_part(&s, 1, 1, 0, 0, i132, 3);
	snap_free(&s);

	/* Broker 1 dies: 2 leads partition 0, 3 leads partition 1. */
	close_lib(f, l1);
	wait_broker(f, 1, "fenced", SESSION_MS + WAIT_MS);
	wait_views(f, &s);
	expect_isr_part(&s, 0, 2, 1, 1, i23, 2);
	expect_isr_part(&s, 1, 3, 1, 1, i32, 2);
	snap_free(&s);

	/* Invariant: a fenced broker is never added to an ISR, also by an
	 * explicit assignment: the ISR starts as the replicas alive, and a
	 * partition with none alive is refused. */
	{
		struct spec m = {"isr-manual", -1, -1, "1:2", NULL};
		struct spec none = {"isr-none", -1, -1, "1", NULL};
		Synod__Wire__DescribeTopicsResponse *d = NULL;
		const Synod__Wire__PartitionState *ps;
		create_ok(f, &m, NULL);
		assert_int_equal(describe(f, "isr-manual", &d), SYNOD_OK);
		ps = d->topics[0]->partitions[0];
		assert_int_equal(ps->n_replicas, 2);
		assert_int_equal(ps->leader, 2);
		assert_int_equal(ps->n_isr, 1);
		assert_int_equal(ps->isr[0], 2);
		describe_free(d);
		expect_create(f, &none, SYNOD_EINVALID_ARGUMENT);
		assert_int_equal(describe(f, "isr-none", &d),
				 SYNOD_EUNKNOWN_TOPIC);
	}

	/* Stale and wrong requests are refused and change nothing. */
	assert_int_equal(alter(f, l2, tid, 0, 0, 1, i2, 1, NULL),
			 SYNOD_EFENCED_LEADER_EPOCH);
	assert_int_equal(alter(f, l2, tid, 0, 1, 0, i2, 1, NULL),
			 SYNOD_EINVALID_UPDATE_VERSION);
	assert_int_equal(alter(f, l3, tid, 0, 1, 1, i3, 1, NULL),
			 SYNOD_ENOT_LEADER);
	assert_int_equal(alter(f, l2, tid, 0, 1, 1, i3, 1, NULL),
			 SYNOD_EINVALID_ISR); /* without the leader */
	assert_int_equal(alter(f, l2, tid, 0, 1, 1, i231, 3, NULL),
			 SYNOD_EINVALID_ISR); /* 1 is fenced */
	assert_int_equal(alter(f, l2, tid, 0, 1, 1, NULL, 0, NULL),
			 SYNOD_EINVALID_ISR);
	assert_int_equal(alter(f, l2, tid, 2, 1, 1, i2, 1, NULL),
			 SYNOD_EUNKNOWN_PARTITION);
	memset(bad_tid, 0xab, sizeof bad_tid);
	assert_int_equal(alter(f, l2, bad_tid, 0, 1, 1, i2, 1, NULL),
			 SYNOD_EUNKNOWN_TOPIC);
	e2 = synod_broker_epoch(f->lib[l2]);
	{
		int32_t isr[1] = {2};
		assert_int_equal(
		    alter_raw(f, 2, e2 + 1000, tid, 0, 1, 1, isr, 1),
		    SYNOD_ESTALE_BROKER_EPOCH);
		assert_int_equal(alter_raw(f, 9, 1, tid, 0, 1, 1, isr, 1),
				 SYNOD_EUNKNOWN_BROKER);
	}
	/* Restating the ISR (any order) is accepted without a bump. */
	assert_int_equal(alter(f, l2, tid, 0, 1, 1, i32, 2, &got), SYNOD_OK);
	assert_int_equal(got.pe, 1);
	snap_take(f, &s);
	expect_isr_part(&s, 0, 2, 1, 1, i23, 2);
	snap_free(&s);

	/* A valid shrink: partition epoch + 1, pushed to the replicas. */
	synod_broker_stats(f->lib[l3], &st_before);
	assert_int_equal(alter(f, l2, tid, 0, 1, 1, i2, 1, &got), SYNOD_OK);
	assert_string_equal(got.topic, "isr");
	assert_int_equal(got.partition, 0);
	assert_int_equal(got.leader, 2);
	assert_int_equal(got.le, 1);
	assert_int_equal(got.pe, 2);
	assert_int_equal(got.nisr, 1);
	assert_int_equal(got.isr[0], 2);
	/* The same request again (a retry after a lost answer) gets the
	 * state it made; another change quoting the old epoch is stale. */
	assert_int_equal(alter(f, l2, tid, 0, 1, 1, i2, 1, &got), SYNOD_OK);
	assert_int_equal(got.pe, 2);
	assert_int_equal(got.nisr, 1);
	assert_int_equal(alter(f, l2, tid, 0, 1, 1, i32, 2, NULL),
			 SYNOD_EINVALID_UPDATE_VERSION);
	wait_views(f, &s);
	expect_isr_part(&s, 0, 2, 1, 2, i2, 1);
	expect_isr_part(&s, 1, 3, 1, 1, i32, 2);
	snap_free(&s);
	synod_broker_stats(f->lib[l3], &st_after);
	assert_true(st_after.pushes_applied > st_before.pushes_applied);

	/* Broker 1 returns: nothing changes until a leader adds it. */
	l1 = lib_start(f, 1);
	lib_wait_active(f, l1);
	assert_int_equal(elect(f, 0, "isr", 0, &result, &who), SYNOD_OK);
	assert_int_equal(result, SYNOD_EELECTION_NOT_NEEDED);
	assert_int_equal(who, 2);
	/* A valid expansion, stored in replica order. */
	assert_int_equal(alter(f, l2, tid, 0, 1, 2, i231, 3, &got), SYNOD_OK);
	assert_int_equal(got.pe, 3);
	assert_int_equal(alter(f, l3, tid, 1, 1, 1, i231, 3, &got), SYNOD_OK);
	assert_int_equal(got.pe, 2);
	wait_views(f, &s);
	expect_isr_part(&s, 0, 2, 1, 3, i123, 3);
	expect_isr_part(&s, 1, 3, 1, 2, i132, 3);
	snap_free(&s);

	/* Preferred election of partition 0: back to replicas[0] = 1. */
	assert_int_equal(elect(f, 0, "isr", 0, &result, &who), SYNOD_OK);
	assert_int_equal(result, SYNOD_OK);
	assert_int_equal(who, 1);
	assert_int_equal(elect(f, 0, "isr", 0, &result, &who), SYNOD_OK);
	assert_int_equal(result, SYNOD_EELECTION_NOT_NEEDED);
	assert_int_equal(who, 1);
	assert_int_equal(elect(f, 0, "isr", 5, &result, &who), SYNOD_OK);
	assert_int_equal(result, SYNOD_EUNKNOWN_PARTITION);
	assert_int_equal(elect(f, 0, "nope", -1, &result, &who), SYNOD_OK);
	assert_int_equal(result, SYNOD_EUNKNOWN_TOPIC);
	wait_views(f, &s);
	expect_isr_part(&s, 0, 1, 2, 4, i123, 3);
	expect_isr_part(&s, 1, 3, 1, 2, i132, 3);
	snap_free(&s);
	/* The old leader is a follower now. */
	assert_int_equal(alter(f, l2, tid, 0, 1, 3, i2, 1, NULL),
			 SYNOD_ENOT_LEADER);

	/* Automatic rebalance: partition 1 (1 of 2 led off its preferred
	 * replica: 50% > leader.imbalance.percentage 10) moves back once
	 * a check runs. The interval is read when a controller becomes
	 * active, so a new one takes it. */
	assert_int_equal(
	    itest_set_config(&f->it, "leader.imbalance.check.interval.seconds",
			     "1"),
	    SYNOD_OK);
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	assert_int_equal(cluster_kill(c, leader), 0);
	assert_int_not_equal(cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS),
			     0);
	{
		uint64_t deadline = tool_now_ms() + WAIT_MS;
		for (;;) {
			snap_take(f, &s);
			if (snap_find(&s, "isr", 1)->leader == 1)
				break;
			snap_free(&s);
			assert_true(tool_now_ms() < deadline);
			itest_pump(&f->it.loop, 100);
		}
		snap_free(&s);
	}
	wait_views(f, &s);
	expect_isr_part(&s, 0, 1, 2, 4, i123, 3);
	expect_isr_part(&s, 1, 1, 2, 3, i132, 3);
	snap_free(&s);
	f->it.passed = 1;
}

/* ---- e. no silent staleness, self-fencing ---- */

struct async_create {
	int done;
	int status;
};

static void on_async_create(void *arg, int status, const uint8_t *body,
			    size_t len)
{
	struct async_create *a = arg;
	(void)body;
	(void)len;
	a->done = 1;
	a->status = status;
}

/* Create (or delete, when it exists) topic "flip" without waiting for the
 * answer: the change may be appended, committed, applied and pushed on
 * either side of the failover that follows at once. */
static void flip_async(struct fixture *f, int create, struct async_create *a)
{
	Synod__Wire__CreateTopicsRequest cr =
	    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
	Synod__Wire__DeleteTopicsRequest dr =
	    SYNOD__WIRE__DELETE_TOPICS_REQUEST__INIT;
	Synod__Wire__CreatableTopic ct = SYNOD__WIRE__CREATABLE_TOPIC__INIT;
	Synod__Wire__CreatableTopic *ctp = &ct;
	char *name = "flip";
	memset(a, 0, sizeof *a);
	ct.name = name;
	ct.has_partitions = ct.has_replication_factor = 1;
	ct.partitions = 6;
	ct.replication_factor = 3;
	cr.topics = &ctp;
	cr.n_topics = 1;
	dr.names = &name;
	dr.n_names = 1;
	assert_int_equal(synod_client_send(f->it.cl,
					   create ? SYNOD_API_CREATE_TOPICS
						  : SYNOD_API_DELETE_TOPICS,
					   create ? &cr.base : &dr.base, 1,
					   on_async_create, a),
			 SYNOD_OK);
	/* Let it reach the leader's log (or not): 0 to 4 ms. */
	itest_pump(&f->it.loop, (unsigned)(rand() % 5));
}

/* Invariant: after a controller failover in a quiet cluster, every
 * broker's view converges to the controller's committed state, whether the
 * last change was pushed by the old controller, committed by the new one's
 * first barrier (and pushed by nobody before the nudge), or lost; without
 * any later change to push. 20 rounds, alternating a leadership transfer
 * and a kill -9 of the active controller (restarted afterwards). */
static void test_views_across_failovers(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = &f->it.c;
	struct spec base = {"base", 4, 3, NULL, NULL};
	uint64_t worst = 0, total = 0;
	int exists = 0;

	srand(7);
	start(f);
	spawn_sim(f, 1, 5, NULL);
	for (int32_t id = 1; id <= 5; id++)
		wait_broker(f, id, "active", WAIT_MS);
	create_ok(f, &base, NULL);
	wait_views(f, NULL);
	for (int round = 0; round < 20; round++) {
		struct async_create a;
		unsigned leader = cluster_wait_leader(c, WAIT_MS), next;
		uint64_t t0;
		assert_int_not_equal(leader, 0);
		flip_async(f, !exists, &a);
		if (round % 2 == 0) {
			Synod__Wire__TransferLeaderRequest tr =
			    SYNOD__WIRE__TRANSFER_LEADER_REQUEST__INIT;
			int code = itest_call(
			    &f->it, SYNOD_API_TRANSFER_LEADER, &tr.base,
			    &synod__wire__quorum_change_response__descriptor,
			    NULL);
			/* BUSY/UNAVAILABLE: an election is on already. */
			(void)code;
		} else {
			assert_int_equal(cluster_kill(c, leader), 0);
		}
		next = cluster_wait_leader(c, WAIT_MS);
		assert_int_not_equal(next, 0);
		t0 = tool_now_ms();
		/* The request's own outcome does not matter; the views must
		 * follow what was committed. */
		while (!a.done)
			itest_pump(&f->it.loop, 20);
		wait_views(f, NULL);
		{
			uint64_t took = tool_now_ms() - t0;
			total += took;
			if (took > worst)
				worst = took;
		}
		{
			struct snap s;
			snap_take(f, &s);
			exists = 0;
			for (size_t t = 0; t < s.n_topics; t++)
				exists |= strcmp(s.names[t], "flip") == 0;
			snap_free(&s);
		}
		if (round % 2 == 1)
			restart_node(f, leader);
	}
	print_message("views converged after failovers in %llu ms on "
		      "average, %llu at worst (heartbeat %u ms)\n",
		      (unsigned long long)(total / 20),
		      (unsigned long long)worst, HEARTBEAT_MS);
	f->it.passed = 1;
}

/* One simulated broker's fields from its simulator's state file. */
static int sim_broker_flag(struct fixture *f, unsigned i, int32_t id,
			   const char *key)
{
	json_error_t err;
	json_t *root = json_load_file(f->sims[i].state, 0, &err), *b;
	size_t bi;
	int v = -1;
	json_array_foreach(
	    json_object_get(root, "brokers"), bi,
	    b) if (json_integer_value(json_object_get(b, "id")) == id) v =
	    json_is_true(json_object_get(b, key));
	json_decref(root);
	return v;
}

/* Invariant: a broker that cannot reach any controller for a session
 * timeout fences itself, no later than the controller would fence it; and
 * it comes back when the controllers do. All three controllers are
 * SIGSTOPped for three session timeouts. */
static void test_self_fence_when_controllers_stop(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = &f->it.c;
	uint64_t t_stop, t_all = 0, deadline;
	unsigned sim;

	start(f);
	sim = spawn_sim(f, 1, 4, NULL);
	for (int32_t id = 1; id <= 4; id++)
		wait_broker(f, id, "active", WAIT_MS);
	for (int32_t id = 1; id <= 4; id++)
		assert_int_equal(sim_broker_flag(f, sim, id, "self_fenced"), 0);
	t_stop = tool_now_ms();
	for (unsigned n = 1; n <= 3; n++)
		assert_int_equal(cluster_stop_node(c, n), 0);
	deadline = t_stop + 3 * SESSION_MS;
	while (tool_now_ms() < deadline) {
		int all = 1;
		for (int32_t id = 1; id <= 4 && all; id++)
			all = sim_broker_flag(f, sim, id, "self_fenced") == 1 &&
			      sim_broker_flag(f, sim, id, "fenced") == 1;
		if (all) {
			t_all = tool_now_ms();
			break;
		}
		itest_sleep_ms(20);
	}
	if (t_all == 0) {
		for (unsigned n = 1; n <= 3; n++)
			cluster_cont_node(c, n);
		fail_msg("simulated brokers did not fence themselves within "
			 "%u ms of losing every controller",
			 3 * SESSION_MS);
	}
	/* Never before the session could have ended: the last acknowledged
	 * heartbeat was sent at most one interval (plus a round trip)
	 * before the controllers stopped. */
	assert_true(t_all - t_stop + HEARTBEAT_MS + 100 >= SESSION_MS);
	print_message("all brokers fenced themselves %llu ms after the "
		      "controllers stopped (session %u ms)\n",
		      (unsigned long long)(t_all - t_stop), SESSION_MS);
	while (tool_now_ms() < deadline)
		itest_sleep_ms(20);
	for (unsigned n = 1; n <= 3; n++)
		assert_int_equal(cluster_cont_node(c, n), 0);
	/* Back: the controller decides again (it may fence them for the
	 * silence first; they catch up and are unfenced). */
	for (int32_t id = 1; id <= 4; id++)
		wait_broker(f, id, "active", WAIT_MS);
	deadline = tool_now_ms() + WAIT_MS;
	for (;;) {
		int none = 1;
		for (int32_t id = 1; id <= 4 && none; id++)
			none =
			    sim_broker_flag(f, sim, id, "self_fenced") == 0 &&
			    sim_broker_flag(f, sim, id, "fenced") == 0;
		if (none)
			break;
		if (tool_now_ms() >= deadline)
			fail_msg("simulated brokers did not come back");
		itest_sleep_ms(20);
	}
	wait_views(f, NULL);
	f->it.passed = 1;
}

/* ---- e. an ISR change is answered only once it has committed ---- */

/* Send one change three times in one write on a raw connection: as
 * ALTER_PARTITION (correlation ids corr and corr + 1, the second a
 * resend) and as the one item of an ALTER_PARTITIONS (corr + 2). */
static void raw_alter(int fd, uint32_t corr, int32_t broker, uint64_t epoch,
		      uint8_t *tid, uint32_t le, uint32_t pe, int32_t *isr,
		      size_t n)
{
	Synod__Wire__AlterPartitionRequest r =
	    SYNOD__WIRE__ALTER_PARTITION_REQUEST__INIT;
	Synod__Wire__AlterPartitionsRequest b =
	    SYNOD__WIRE__ALTER_PARTITIONS_REQUEST__INIT;
	Synod__Wire__AlterPartitionItem it =
	    SYNOD__WIRE__ALTER_PARTITION_ITEM__INIT;
	Synod__Wire__AlterPartitionItem *itp = &it;
	r.broker_id = b.broker_id = broker;
	r.broker_epoch = b.broker_epoch = epoch;
	r.topic_id.data = it.topic_id.data = tid;
	r.topic_id.len = it.topic_id.len = 16;
	r.leader_epoch = it.leader_epoch = le;
	r.partition_epoch = it.partition_epoch = pe;
	r.new_isr = it.new_isr = isr;
	r.n_new_isr = it.n_new_isr = n;
	b.items = &itp;
	b.n_items = 1;
	{
		const uint16_t api[3] = {SYNOD_API_ALTER_PARTITION,
					 SYNOD_API_ALTER_PARTITION,
					 SYNOD_API_ALTER_PARTITIONS};
		const uint32_t corrs[3] = {corr, corr + 1, corr + 2};
		const ProtobufCMessage *const msgs[3] = {&r.base, &r.base,
							 &b.base};
		itest_raw_requests(fd, NULL, 3, api, corrs, msgs);
	}
}

/* What one raw answer said: code (-1 none) and, when OK, the state. */
struct raw_isr_answer {
	int code;
	uint32_t pe;
	unsigned nisr;
};

/* Read the answers to requests corr_base + 0..n-1 (corr_base + n - 1 an
 * ALTER_PARTITIONS, the others ALTER_PARTITION) in whatever order they
 * come, until all came or the connection closed or stayed silent for 5 s
 * (the socket's timeout). */
static void raw_isr_answers(int fd, uint32_t corr_base, unsigned n,
			    struct raw_isr_answer *out)
{
	for (unsigned k = 0; k < n; k++)
		out[k].code = -1;
	for (unsigned got = 0; got < n; got++) {
		uint8_t *body;
		uint32_t corr;
		size_t len;
		unsigned k;
		const Synod__Wire__PartitionState *st = NULL;
		Synod__Wire__AlterPartitionResponse *r1 = NULL;
		Synod__Wire__AlterPartitionsResponse *rn = NULL;
		if (itest_raw_next_response(fd, &corr, &body, &len) != 0)
			return;
		assert_true(corr >= corr_base && corr < corr_base + n);
		k = corr - corr_base;
		if (k + 1 < n) {
			r1 = synod__wire__alter_partition_response__unpack(
			    NULL, len, body);
			assert_non_null(r1);
			out[k].code = (int)r1->status->code;
			st = r1->partition;
		} else {
			rn = synod__wire__alter_partitions_response__unpack(
			    NULL, len, body);
			assert_non_null(rn);
			out[k].code = (int)rn->status->code;
			if (out[k].code == SYNOD_OK) {
				assert_int_equal(rn->n_results, 1);
				out[k].code = rn->results[0]->code;
				st = rn->results[0]->state;
			}
		}
		if (out[k].code == SYNOD_OK) {
			assert_non_null(st);
			out[k].pe = st->partition_epoch;
			out[k].nisr = (unsigned)st->n_isr;
		}
		if (r1)
			synod__wire__alter_partition_response__free_unpacked(
			    r1, NULL);
		if (rn)
			synod__wire__alter_partitions_response__free_unpacked(
			    rn, NULL);
		free(body);
	}
}

/* The quorum, brokers 1-3 active, and topic `name` on replicas 1:2:3
 * (its id into tid): broker 1's library index. */
static unsigned start_with_topic_flags(struct fixture *f, const char *name,
				       uint8_t *tid, const char *flags)
{
	struct spec sp = {name, -1, -1, "1:2:3", NULL};
	unsigned l1;
	start_flags(f, flags);
	l1 = lib_start(f, 1);
	lib_start(f, 2);
	lib_start(f, 3);
	for (unsigned i = 0; i < 3; i++)
		lib_wait_active(f, i);
	create_ok(f, &sp, tid);
	return l1;
}

static unsigned start_with_topic(struct fixture *f, const char *name,
				 uint8_t *tid)
{
	return start_with_topic_flags(f, name, tid, NULL);
}

/* The active controller's ISR waits, or (in_flight) the partition
 * states it proposed that have not applied yet. */
static uint64_t controller_count(struct cluster *c, unsigned id, int in_flight)
{
	Synod__Wire__NodeStatusResponse *m = cluster_node_status(c, id, 5000);
	uint64_t v;
	assert_non_null(m);
	if (in_flight)
		v = m->has_partition_changes_in_flight
			? m->partition_changes_in_flight
			: UINT64_MAX;
	else
		v = m->has_isr_waits ? m->isr_waits : 0;
	synod__wire__node_status_response__free_unpacked(m, NULL);
	return v;
}

static uint64_t isr_waits(struct cluster *c, unsigned id)
{
	return controller_count(c, id, 0);
}

/* Invariant: an ISR change answered OK (ALTER_PARTITION, or an
 * ALTER_PARTITIONS item) reports a committed state, so the change is
 * never lost, even when the controller that answered is lost right
 * after. A resend of a change whose proposal is still in flight used to
 * be answered OK at once with the proposed state: with the followers
 * down (nothing can commit) and that controller then killed, the broker
 * held an ISR the quorum never had. */
static void test_isr_answer_is_committed(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = &f->it.c;
	struct snap s;
	struct raw_isr_answer a[3];
	uint8_t tid[16];
	unsigned l1, leader, others[2], k = 0;
	uint64_t e1, waits;
	int fd;
	static const int32_t i123[] = {1, 2, 3}, i12[] = {1, 2};
	int32_t isr12[] = {1, 2}, isr123[] = {1, 2, 3};
	const struct part *p;

	l1 = start_with_topic(f, "isr", tid);
	snap_take(f, &s);
	expect_isr_part(&s, 0, 1, 0, 0, i123, 3);
	snap_free(&s);
	e1 = synod_broker_epoch(f->lib[l1]);
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);
	waits = isr_waits(c, leader);

	/* Healthy: a change and two resends of it while it is in flight
	 * (the resends wait for it to apply); all three get its committed
	 * state. */
	fd = itest_raw_connect(NULL, c->nodes[leader - 1].client_address, 0);
	raw_alter(fd, 1, 1, e1, tid, 0, 0, isr12, 2);
	raw_isr_answers(fd, 1, 3, a);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(a[i].code, SYNOD_OK);
		assert_int_equal(a[i].pe, 1);
		assert_int_equal(a[i].nisr, 2);
	}
	assert_true(isr_waits(c, leader) >= waits + 2);
	snap_take(f, &s);
	expect_isr_part(&s, 0, 1, 0, 1, i12, 2);
	snap_free(&s);

	/* The followers die: nothing commits, and they never see what the
	 * leader appends now (stopped ones would, from their sockets'
	 * buffers, once resumed). The change to {1, 2, 3} and its resends
	 * stay unanswered until the leader steps down. */
	for (unsigned i = 1; i <= c->n; i++)
		if (i != leader)
			others[k++] = i;
	assert_int_equal(cluster_kill(c, others[0]), 0);
	assert_int_equal(cluster_kill(c, others[1]), 0);
	raw_alter(fd, 11, 1, e1, tid, 0, 1, isr123, 3);
	raw_isr_answers(fd, 11, 3, a);
	close(fd);
	/* Nothing else may answer them (an OK is judged below): broker 3
	 * is alive, the epochs are current. */
	for (unsigned i = 0; i < 3; i++)
		if (a[i].code != SYNOD_OK && a[i].code != -1 &&
		    a[i].code != SYNOD_ENOT_CONTROLLER &&
		    a[i].code != SYNOD_EUNAVAILABLE)
			fail_msg("request %u: %s", 11 + i,
				 synod_error_name(a[i].code));
	/* That controller dies with the change in its log only; the other
	 * two elect one of themselves. */
	assert_int_equal(cluster_kill(c, leader), 0);
	assert_int_equal(cluster_start_node(c, others[0]), 0);
	assert_int_equal(cluster_start_node(c, others[1]), 0);
	assert_int_not_equal(cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS),
			     0);
	snap_take(f, &s);
	p = snap_find(&s, "isr", 0);
	assert_non_null(p);
	for (unsigned i = 0; i < 3; i++)
		if (a[i].code == SYNOD_OK &&
		    (p->pe < a[i].pe || (p->pe == a[i].pe && p->nisr != 3)))
			fail_msg("request %u was answered OK with partition "
				 "epoch %u, ISR of %u; the quorum has "
				 "partition epoch %u, ISR of %u",
				 11 + i, a[i].pe, a[i].nisr, p->pe, p->nisr);
	expect_isr_part(&s, 0, 1, 0, 1, i12, 2);
	snap_free(&s);

	/* The broker sends it again to the new controller: committed. */
	{
		struct part got;
		assert_int_equal(alter(f, l1, tid, 0, 0, 1, isr123, 3, &got),
				 SYNOD_OK);
		assert_int_equal(got.pe, 2);
	}
	snap_take(f, &s);
	expect_isr_part(&s, 0, 1, 0, 2, i123, 3);
	snap_free(&s);
	f->it.passed = 1;
}

/* An ALTER_PARTITION of partition 0 by broker 1 (epoch `epoch`) to ISR
 * {1, 2} (isr12), quoting leader and partition epochs 0. */
static void alter_req_12(Synod__Wire__AlterPartitionRequest *r, uint64_t epoch,
			 uint8_t *tid, int32_t *isr12)
{
	r->broker_id = 1;
	r->broker_epoch = epoch;
	r->topic_id.data = tid;
	r->topic_id.len = 16;
	r->new_isr = isr12;
	r->n_new_isr = 2;
}

/* Invariant: an ISR change of a topic being removed is never answered
 * OK, and what the controller proposed for the topic's partitions goes
 * with the topic. A change decided before the removal applied is refused
 * at apply (no topic); its proposed state used to stay in the active
 * controller's overlay until the next leadership change, since its entry
 * found no topic to settle it. */
static void test_removed_topic_drops_changes_in_flight(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = &f->it.c;
	uint8_t tid[16];
	unsigned l1, leader;
	uint64_t e1, left;
	int fd, got_delete = 0, got_alter = 0;
	int32_t isr12[] = {1, 2};
	char *names[] = {"gone"};

	l1 = start_with_topic(f, "gone", tid);
	e1 = synod_broker_epoch(f->lib[l1]);
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);

	/* The removal, then an ISR change of the topic, in one write: the
	 * change is decided (and proposed) before the removal applies. */
	fd = itest_raw_connect(NULL, c->nodes[leader - 1].client_address, 0);
	{
		Synod__Wire__DeleteTopicsRequest d =
		    SYNOD__WIRE__DELETE_TOPICS_REQUEST__INIT;
		Synod__Wire__AlterPartitionRequest r =
		    SYNOD__WIRE__ALTER_PARTITION_REQUEST__INIT;
		const uint16_t api[2] = {SYNOD_API_DELETE_TOPICS,
					 SYNOD_API_ALTER_PARTITION};
		const uint32_t corrs[2] = {1, 2};
		const ProtobufCMessage *const msgs[2] = {&d.base, &r.base};
		d.names = names;
		d.n_names = 1;
		alter_req_12(&r, e1, tid, isr12);
		itest_raw_requests(fd, NULL, 2, api, corrs, msgs);
	}
	while (!got_delete || !got_alter) {
		uint8_t *body;
		uint32_t corr;
		size_t len;
		assert_int_equal(
		    itest_raw_next_response(fd, &corr, &body, &len), 0);
		if (corr == 1) {
			Synod__Wire__DeleteTopicsResponse *d =
			    synod__wire__delete_topics_response__unpack(
				NULL, len, body);
			assert_non_null(d);
			assert_int_equal(d->status->code, SYNOD_OK);
			synod__wire__delete_topics_response__free_unpacked(
			    d, NULL);
			got_delete = 1;
		} else {
			Synod__Wire__AlterPartitionResponse *a =
			    synod__wire__alter_partition_response__unpack(
				NULL, len, body);
			assert_int_equal(corr, 2);
			assert_non_null(a);
			/* Proposed, then refused at apply: the topic went
			 * meanwhile (UNKNOWN_TOPIC would mean it was decided
			 * after the removal, which this test is not about). */
			assert_int_equal(a->status->code,
					 SYNOD_EUNKNOWN_PARTITION);
			synod__wire__alter_partition_response__free_unpacked(
			    a, NULL);
			got_alter = 1;
		}
		free(body);
	}
	close(fd);
	/* Both entries applied on the leader before it answered; waited
	 * for all the same (the brokers' libraries run meanwhile). */
	{
		uint64_t deadline = tool_now_ms() + WAIT_MS;
		while ((left = controller_count(c, leader, 1)) != 0 &&
		       tool_now_ms() < deadline)
			itest_pump(&f->it.loop, 25);
	}
	if (left != 0)
		fail_msg("%llu partition states stay in flight after their "
			 "topic was removed",
			 (unsigned long long)left);
	f->it.passed = 1;
}

/* Invariant: every decision reads the newest state, the overlay over
 * the store, while a change is in flight. A proposal that failed at once
 * (a partition growth too large for a frame) rolled back the overlay
 * entries of the last decision made, whoever made it: here an ISR
 * change still in flight, whose resend was then decided against the
 * store as a new change, refused at apply and answered with an error
 * although the change committed. */
static void test_failed_proposal_keeps_changes_in_flight(void **state)
{
	struct fixture *f = *state;
	struct cluster *c = &f->it.c;
	struct spec big = {"big", 1, 3, NULL, NULL};
	uint8_t tid[16];
	unsigned l1, leader, got = 0;
	uint64_t e1;
	int fd, code[3] = {-1, -1, -1};
	uint32_t pe[3] = {0, 0, 0};
	int32_t isr12[] = {1, 2};

	l1 = start_with_topic_flags(f, "isr", tid, "--max-frame-bytes 4096");
	create_ok(f, &big, NULL);
	e1 = synod_broker_epoch(f->lib[l1]);
	leader = cluster_wait_leader(c, ITEST_LEADER_TIMEOUT_MS);
	assert_int_not_equal(leader, 0);

	/* In one write: an ISR change, a growth whose records do not fit
	 * in one entry, and the change again (a resend). */
	fd = itest_raw_connect(NULL, c->nodes[leader - 1].client_address, 0);
	{
		Synod__Wire__AlterPartitionRequest r =
		    SYNOD__WIRE__ALTER_PARTITION_REQUEST__INIT;
		Synod__Wire__CreatePartitionsRequest g =
		    SYNOD__WIRE__CREATE_PARTITIONS_REQUEST__INIT;
		const uint16_t api[3] = {SYNOD_API_ALTER_PARTITION,
					 SYNOD_API_CREATE_PARTITIONS,
					 SYNOD_API_ALTER_PARTITION};
		const uint32_t corrs[3] = {1, 2, 3};
		const ProtobufCMessage *const msgs[3] = {&r.base, &g.base,
							 &r.base};
		alter_req_12(&r, e1, tid, isr12);
		g.name = "big";
		g.total = 1000;
		itest_raw_requests(fd, NULL, 3, api, corrs, msgs);
	}
	while (got < 3) {
		uint8_t *body;
		uint32_t corr;
		size_t len;
		if (itest_raw_next_response(fd, &corr, &body, &len) != 0)
			break;
		assert_true(corr >= 1 && corr <= 3);
		if (corr == 2) {
			Synod__Wire__CreatePartitionsResponse *a =
			    synod__wire__create_partitions_response__unpack(
				NULL, len, body);
			assert_non_null(a);
			code[1] = (int)a->status->code;
			synod__wire__create_partitions_response__free_unpacked(
			    a, NULL);
		} else {
			Synod__Wire__AlterPartitionResponse *a =
			    synod__wire__alter_partition_response__unpack(
				NULL, len, body);
			assert_non_null(a);
			code[corr - 1] = (int)a->status->code;
			if (a->partition)
				pe[corr - 1] = a->partition->partition_epoch;
			synod__wire__alter_partition_response__free_unpacked(
			    a, NULL);
		}
		free(body);
		got++;
	}
	close(fd);
	assert_int_equal(got, 3);
	assert_int_equal(code[1], SYNOD_EMESSAGE_TOO_LARGE);
	for (unsigned i = 0; i < 3; i += 2) {
		if (code[i] != SYNOD_OK)
			fail_msg("ISR change %u answered %s", i + 1,
				 synod_error_name(code[i]));
		assert_int_equal(pe[i], 1);
	}
	f->it.passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_describe_delete, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_broker_loss_and_controller_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offline_and_unclean, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_isr_changes_and_preferred,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_views_across_failovers, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_self_fence_when_controllers_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_isr_answer_is_committed, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_failed_proposal_keeps_changes_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_removed_topic_drops_changes_in_flight, setup, teardown),
	};
	/* Writes to a killed node's socket must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* SYNOD_TEST_FILTER=test_name (a glob) runs only those tests. */
	if (getenv("SYNOD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("SYNOD_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
