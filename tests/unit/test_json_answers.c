/* Unit tests: net/json_answers.c. The streamed writers of the topic and
 * partition lists print, byte for byte, what jansson prints for the
 * documents built as trees here (json_dumps with JSON_INDENT(2) |
 * JSON_PRESERVE_ORDER, then a newline): synodctl and HTTP /v1 stream,
 * and must still print well-formed JSON of the documented shape.
 *
 * Invariant checked: for 3,000 random answers (empty lists, empty
 * replica sets and configs, repeated config keys, names with quotes,
 * backslashes, control characters and multi-byte UTF-8), text written ==
 * text of the tree; a writer that fails stops the writing with -1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_answers.h"

/* ---- the oracle: the documents as jansson trees, which jansson prints
 * (the definition the streamed writers must equal byte for byte) ---- */

static json_t *int_array(const int32_t *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

static json_t *tree_partition(const Synod__Wire__PartitionState *p,
			      const ProtobufCBinaryData *topic_id)
{
	json_t *j = json_object();
	if (topic_id) {
		char id[37];
		ja_uuid(topic_id, id);
		json_object_set_new(j, "topic", json_string(p->topic));
		json_object_set_new(j, "topic_id", json_string(id));
	}
	json_object_set_new(j, "partition", json_integer(p->partition));
	json_object_set_new(j, "leader", json_integer(p->leader));
	json_object_set_new(j, "leader_epoch", json_integer(p->leader_epoch));
	json_object_set_new(j, "partition_epoch",
			    json_integer(p->partition_epoch));
	json_object_set_new(j, "replicas",
			    int_array(p->replicas, p->n_replicas));
	json_object_set_new(j, "isr", int_array(p->isr, p->n_isr));
	return j;
}

static json_t *tree_topics(const Synod__Wire__DescribeTopicsResponse *r,
			   int list, int one)
{
	json_t *arr = json_array(), *out;
	for (size_t k = 0; k < r->n_topics; k++) {
		const Synod__Wire__TopicDescription *d = r->topics[k];
		json_t *j = json_object(), *cf = json_object();
		char id[37];
		ja_uuid(&d->topic_id, id);
		json_object_set_new(j, "topic", json_string(d->name));
		json_object_set_new(j, "topic_id", json_string(id));
		json_object_set_new(j, "partition_count",
				    json_integer(d->partition_count));
		for (size_t c = 0; c < d->n_configs; c++)
			json_object_set_new(cf, d->configs[c]->key,
					    json_string(d->configs[c]->value));
		json_object_set_new(j, "configs", cf);
		if (!list) {
			json_t *ps = json_array();
			for (size_t p = 0; p < d->n_partitions; p++)
				json_array_append_new(
				    ps, tree_partition(d->partitions[p], NULL));
			json_object_set_new(j, "partitions", ps);
		}
		json_array_append_new(arr, j);
	}
	if (one && !list && r->n_topics == 1)
		out = json_incref(json_array_get(arr, 0));
	else
		out = json_pack("{s:O}", "topics", arr);
	json_decref(arr);
	return out;
}

static json_t *tree_partitions(const Synod__Wire__DescribeTopicsResponse *r)
{
	json_t *arr = json_array();
	for (size_t k = 0; k < r->n_topics; k++)
		for (size_t p = 0; p < r->topics[k]->n_partitions; p++)
			json_array_append_new(
			    arr, tree_partition(r->topics[k]->partitions[p],
						&r->topics[k]->topic_id));
	return json_pack("{s:o}", "partitions", arr);
}

struct out {
	char *p;
	size_t n, cap;
	int fail_after; /* calls before failing; -1 never */
};

static int collect(void *arg, const char *text, size_t len)
{
	struct out *o = arg;
	if (o->fail_after == 0)
		return -1;
	if (o->fail_after > 0)
		o->fail_after--;
	if (o->n + len + 1 > o->cap) {
		o->cap = (o->n + len + 1) * 2;
		o->p = realloc(o->p, o->cap);
		assert_non_null(o->p);
	}
	memcpy(o->p + o->n, text, len);
	o->n += len;
	o->p[o->n] = '\0';
	return 0;
}

static unsigned seed = 12345;
static unsigned rnd(unsigned n)
{
	seed = seed * 1103515245u + 12345u;
	return (seed >> 16) % n;
}

/* A name of 0..7 pieces: letters, quotes, backslashes, control
 * characters, DEL, two- and three-byte UTF-8. */
static char *name(void)
{
	static const char *const pieces[] = {
	    "a",  "orders", "-",    "\"",   "\\",	"\n",
	    "\t", "\x01",   "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
	    "/",  " ",	    "\b",   "\f",   "\r",	"x.y"};
	char *s = calloc(1, 64);
	unsigned n = rnd(8);
	for (unsigned i = 0; i < n; i++)
		strcat(s, pieces[rnd(sizeof pieces / sizeof pieces[0])]);
	return s;
}

static int32_t *ids(size_t n)
{
	int32_t *v = calloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = (int32_t)rnd(2000) - 1000;
	return v;
}

static Synod__Wire__DescribeTopicsResponse *make(void)
{
	Synod__Wire__DescribeTopicsResponse *r = calloc(1, sizeof *r);
	synod__wire__describe_topics_response__init(r);
	r->n_topics = rnd(4);
	r->topics = calloc(r->n_topics + 1, sizeof *r->topics);
	for (size_t t = 0; t < r->n_topics; t++) {
		Synod__Wire__TopicDescription *d = calloc(1, sizeof *d);
		synod__wire__topic_description__init(d);
		d->name = name();
		d->topic_id.len = 16;
		d->topic_id.data = malloc(16);
		for (int i = 0; i < 16; i++)
			d->topic_id.data[i] = (uint8_t)rnd(256);
		d->partition_count = rnd(100000);
		d->n_configs = rnd(4);
		d->configs = calloc(d->n_configs + 1, sizeof *d->configs);
		for (size_t c = 0; c < d->n_configs; c++) {
			Synod__Wire__ConfigEntry *e = calloc(1, sizeof *e);
			synod__wire__config_entry__init(e);
			/* few keys: repeats happen */
			e->key = strdup(rnd(2) ? "retention.ms" : "k\"1");
			e->value = name();
			d->configs[c] = e;
		}
		d->n_partitions = rnd(5);
		d->partitions =
		    calloc(d->n_partitions + 1, sizeof *d->partitions);
		for (size_t p = 0; p < d->n_partitions; p++) {
			Synod__Wire__PartitionState *ps = calloc(1, sizeof *ps);
			synod__wire__partition_state__init(ps);
			ps->topic = strdup(d->name);
			ps->partition = (int32_t)rnd(100000);
			ps->leader = (int32_t)rnd(10) - 1;
			ps->leader_epoch = rnd(1000);
			ps->partition_epoch = rnd(1000);
			ps->n_replicas = rnd(4);
			ps->replicas = ids(ps->n_replicas);
			ps->n_isr = rnd(4);
			ps->isr = ids(ps->n_isr);
			d->partitions[p] = ps;
		}
		r->topics[t] = d;
	}
	return r;
}

static void drop(Synod__Wire__DescribeTopicsResponse *r)
{
	for (size_t t = 0; t < r->n_topics; t++) {
		Synod__Wire__TopicDescription *d = r->topics[t];
		for (size_t c = 0; c < d->n_configs; c++) {
			free(d->configs[c]->key);
			free(d->configs[c]->value);
			free(d->configs[c]);
		}
		for (size_t p = 0; p < d->n_partitions; p++) {
			free(d->partitions[p]->topic);
			free(d->partitions[p]->replicas);
			free(d->partitions[p]->isr);
			free(d->partitions[p]);
		}
		free(d->configs);
		free(d->partitions);
		free(d->topic_id.data);
		free(d->name);
		free(d);
	}
	free(r->topics);
	free(r);
}

static void same(json_t *tree, struct out *o, const char *what)
{
	char *want = json_dumps(tree, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t n;
	assert_non_null(want);
	n = strlen(want);
	if (o->n != n + 1 || memcmp(o->p, want, n) != 0 || o->p[n] != '\n')
		fail_msg("%s differs:\n--- tree\n%s\n--- streamed\n%s", what,
			 want, o->p ? o->p : "");
	free(want);
	json_decref(tree);
}

static void test_streamed_equals_tree(void **state)
{
	(void)state;
	for (int i = 0; i < 3000; i++) {
		Synod__Wire__DescribeTopicsResponse *r = make();
		for (int mode = 0; mode < 4; mode++) {
			struct out o = {NULL, 0, 0, -1};
			if (mode < 3) {
				int list = mode == 0, one = mode == 2;
				assert_int_equal(
				    ja_topics_write(r, list, one, collect, &o),
				    0);
				same(tree_topics(r, list, one), &o, "topics");
			} else {
				assert_int_equal(
				    ja_partitions_write(r, collect, &o), 0);
				same(tree_partitions(r), &o, "partitions");
			}
			free(o.p);
		}
		drop(r);
	}
}

static void test_write_failure_stops(void **state)
{
	Synod__Wire__DescribeTopicsResponse *r;
	struct out o = {NULL, 0, 0, 0};
	(void)state;
	do {
		r = make();
		if (r->n_topics == 0)
			drop(r);
	} while (r->n_topics == 0);
	assert_int_equal(ja_topics_write(r, 0, 0, collect, &o), -1);
	assert_int_equal(o.n, 0);
	assert_int_equal(ja_partitions_write(r, collect, &o), -1);
	drop(r);
	free(o.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_streamed_equals_tree),
	    cmocka_unit_test(test_write_failure_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
