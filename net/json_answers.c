/* net/json_answers.c - JSON of the client protocol's answers (see
 * json_answers.h). */
#include "json_answers.h"

#include <stdlib.h>
#include <string.h>

#include "synod/client.h"

json_t *ja_error(int code, const char *message)
{
	return json_pack("{s:s,s:i,s:s}", "error", synod_error_name(code),
			 "code", code, "message",
			 message ? message : synod_strerror(code));
}

void ja_uuid(const ProtobufCBinaryData *id, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < 16 && i < id->len; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[id->data[i] >> 4];
		out[o++] = hex[id->data[i] & 15];
	}
	out[o] = '\0';
}

static json_t *ids(const int32_t *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(v[i]));
	return a;
}

/* ---- configs ---- */

const char *ja_scope_name(unsigned scope)
{
	return scope == SYNOD_SCOPE_TOPIC	? "topic"
	       : scope == SYNOD_SCOPE_GROUP	? "group"
	       : scope == SYNOD_SCOPE_PRINCIPAL ? "principal"
						: "cluster";
}

json_t *ja_config_entry(const Synod__Wire__ConfigEntry *e)
{
	json_t *j = json_object();
	json_object_set_new(j, "scope", json_string(ja_scope_name(e->scope)));
	json_object_set_new(j, "resource",
			    e->resource ? json_string(e->resource)
					: json_null());
	json_object_set_new(j, "key", json_string(e->key));
	json_object_set_new(j, "value", json_string(e->value));
	return j;
}

json_t *ja_config_list(const Synod__Wire__ConfigListResponse *r)
{
	json_t *a = json_array(), *j = json_object();
	for (size_t k = 0; k < r->n_entries; k++)
		json_array_append_new(a, ja_config_entry(r->entries[k]));
	json_object_set_new(j, "configs", a);
	json_object_set_new(j, "metadata_version",
			    json_integer((json_int_t)r->metadata_version));
	return j;
}

/* ---- brokers ---- */

json_t *ja_broker(const Synod__Wire__BrokerInfo *b)
{
	json_t *j = json_object(), *eps = json_array();
	json_object_set_new(j, "id", json_integer(b->id));
	json_object_set_new(j, "epoch", json_integer((json_int_t)b->epoch));
	json_object_set_new(j, "incarnation_id",
			    json_string(b->incarnation_id));
	json_object_set_new(j, "rack",
			    b->rack ? json_string(b->rack) : json_null());
	for (size_t k = 0; k < b->n_endpoints; k++) {
		const Synod__Wire__Endpoint *e = b->endpoints[k];
		json_array_append_new(
		    eps, json_pack("{s:s,s:s,s:i,s:s}", "name", e->name, "host",
				   e->host, "port", (int)e->port,
				   "security_protocol", e->security_protocol));
	}
	json_object_set_new(j, "endpoints", eps);
	json_object_set_new(j, "state", json_string(b->state));
	json_object_set_new(j, "fenced", json_boolean(b->fenced));
	json_object_set_new(j, "last_heartbeat_ms",
			    b->has_last_heartbeat_ms &&
				    b->last_heartbeat_ms >= 0
				? json_integer(b->last_heartbeat_ms)
				: json_null());
	json_object_set_new(j, "metadata_version",
			    b->has_metadata_version
				? json_integer((json_int_t)b->metadata_version)
				: json_null());
	json_object_set_new(j, "registered_ms",
			    json_integer((json_int_t)b->registered_ms));
	return j;
}

json_t *ja_broker_list(const Synod__Wire__BrokerListResponse *r, int one)
{
	json_t *a;
	if (one && r->n_brokers == 1)
		return ja_broker(r->brokers[0]);
	a = json_array();
	for (size_t k = 0; k < r->n_brokers; k++)
		json_array_append_new(a, ja_broker(r->brokers[k]));
	return json_pack("{s:o,s:I}", "brokers", a, "metadata_version",
			 (json_int_t)r->metadata_version);
}

/* ---- topics and partitions ---- */

int ja_described_add(struct ja_described *d,
		     Synod__Wire__DescribeTopicsResponse *page)
{
	void *grown = realloc(d->pages, (d->n_pages + 1) * sizeof *d->pages);
	if (grown == NULL) {
		protobuf_c_message_free_unpacked(&page->base, NULL);
		return -1;
	}
	d->pages = grown;
	d->pages[d->n_pages++] = page;
	return 0;
}

void ja_described_free(struct ja_described *d)
{
	for (size_t i = 0; d->tds && i < d->merged.n_topics; i++)
		free(d->tds[i].partitions);
	free(d->tds);
	free(d->tdp);
	for (size_t i = 0; i < d->n_pages; i++)
		protobuf_c_message_free_unpacked(&d->pages[i]->base, NULL);
	free(d->pages);
	memset(d, 0, sizeof *d);
}

static int by_name(const void *a, const void *b)
{
	const Synod__Wire__TopicDescription *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

int ja_described_merge(struct ja_described *d)
{
	size_t n = 0, cap = 0;
	if (d->n_pages == 0)
		return -1;
	for (size_t i = 0; i < d->n_pages; i++)
		cap += d->pages[i]->n_topics;
	d->tds = calloc(cap + 1, sizeof *d->tds);
	d->tdp = calloc(cap + 1, sizeof *d->tdp);
	if (d->tds == NULL || d->tdp == NULL)
		return -1;
	for (size_t i = 0; i < d->n_pages; i++)
		for (size_t k = 0; k < d->pages[i]->n_topics; k++) {
			Synod__Wire__TopicDescription *td = d->pages[i]
								->topics[k],
						      *m;
			void *grown;
			if (n > 0 && strcmp(d->tds[n - 1].name, td->name) == 0)
				m = &d->tds[n - 1]; /* continued */
			else {
				m = &d->tds[n++];
				*m = *td;
				m->n_partitions = 0;
				m->partitions = NULL;
			}
			grown =
			    realloc(m->partitions,
				    (m->n_partitions + td->n_partitions + 1) *
					sizeof *m->partitions);
			if (grown == NULL) {
				d->merged.n_topics = n; /* freed as merged */
				return -1;
			}
			m->partitions = grown;
			if (td->n_partitions > 0)
				memcpy(m->partitions + m->n_partitions,
				       td->partitions,
				       td->n_partitions *
					   sizeof *td->partitions);
			m->n_partitions += td->n_partitions;
		}
	for (size_t i = 0; i < n; i++)
		d->tdp[i] = &d->tds[i];
	qsort(d->tdp, n, sizeof *d->tdp, by_name);
	d->merged = *d->pages[0];
	d->merged.n_topics = n;
	d->merged.topics = d->tdp;
	return 0;
}

/* ---- topics and partitions, streamed (jansson's JSON_INDENT(2) layout) ----
 */

struct jw {
	ja_write_fn write;
	void *arg;
	int failed;
	size_t n;
	char buf[65536];
};

static void jw_flush(struct jw *j)
{
	if (!j->failed && j->n > 0 && j->write(j->arg, j->buf, j->n) != 0)
		j->failed = 1;
	j->n = 0;
}

static void jw_put(struct jw *j, const char *s, size_t len)
{
	while (len > 0 && !j->failed) {
		size_t room = sizeof j->buf - j->n;
		size_t k = len < room ? len : room;
		memcpy(j->buf + j->n, s, k);
		j->n += k;
		s += k;
		len -= k;
		if (j->n == sizeof j->buf)
			jw_flush(j);
	}
}

static void jw_puts(struct jw *j, const char *s)
{
	jw_put(j, s, strlen(s));
}

/* A newline and two spaces per level. */
static void jw_indent(struct jw *j, int depth)
{
	static const char spaces[] = "                                ";
	jw_put(j, "\n", 1);
	for (int n = 2 * depth; n > 0;) {
		int k = n < (int)sizeof spaces - 1 ? n : (int)sizeof spaces - 1;
		jw_put(j, spaces, (size_t)k);
		n -= k;
	}
}

/* A string as jansson escapes it: quotes, backslashes and control
 * characters; UTF-8 as it is. */
static void jw_str(struct jw *j, const char *s)
{
	const char *run = s;
	jw_put(j, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[8];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		jw_put(j, run, (size_t)(s - run));
		run = s + 1;
		switch (ch) {
		case '"':
			jw_put(j, "\\\"", 2);
			break;
		case '\\':
			jw_put(j, "\\\\", 2);
			break;
		case '\b':
			jw_put(j, "\\b", 2);
			break;
		case '\f':
			jw_put(j, "\\f", 2);
			break;
		case '\n':
			jw_put(j, "\\n", 2);
			break;
		case '\r':
			jw_put(j, "\\r", 2);
			break;
		case '\t':
			jw_put(j, "\\t", 2);
			break;
		default:
			snprintf(esc, sizeof esc, "\\u%04X", ch);
			jw_puts(j, esc);
		}
	}
	jw_put(j, run, (size_t)(s - run));
	jw_put(j, "\"", 1);
}

static void jw_int(struct jw *j, long long v)
{
	char num[24];
	jw_put(j, num, (size_t)snprintf(num, sizeof num, "%lld", v));
}

/* "key": at the start of a member (the indent before it is written). */
static void jw_key(struct jw *j, const char *key)
{
	jw_str(j, key);
	jw_put(j, ": ", 2);
}

static void jw_ids(struct jw *j, const int32_t *v, size_t n, int depth)
{
	if (n == 0) {
		jw_put(j, "[]", 2);
		return;
	}
	jw_put(j, "[", 1);
	for (size_t i = 0; i < n; i++) {
		jw_indent(j, depth + 1);
		jw_int(j, v[i]);
		if (i + 1 < n)
			jw_put(j, ",", 1);
	}
	jw_indent(j, depth);
	jw_put(j, "]", 1);
}

/* ja_partition(p) at depth; with its topic name and id when topic_id. */
static void jw_partition(struct jw *j, const Synod__Wire__PartitionState *p,
			 const ProtobufCBinaryData *topic_id, int depth)
{
	jw_put(j, "{", 1);
	jw_indent(j, depth + 1);
	if (topic_id) {
		char id[37];
		ja_uuid(topic_id, id);
		jw_key(j, "topic");
		jw_str(j, p->topic);
		jw_put(j, ",", 1);
		jw_indent(j, depth + 1);
		jw_key(j, "topic_id");
		jw_str(j, id);
		jw_put(j, ",", 1);
		jw_indent(j, depth + 1);
	}
	jw_key(j, "partition");
	jw_int(j, p->partition);
	jw_put(j, ",", 1);
	jw_indent(j, depth + 1);
	jw_key(j, "leader");
	jw_int(j, p->leader);
	jw_put(j, ",", 1);
	jw_indent(j, depth + 1);
	jw_key(j, "leader_epoch");
	jw_int(j, p->leader_epoch);
	jw_put(j, ",", 1);
	jw_indent(j, depth + 1);
	jw_key(j, "partition_epoch");
	jw_int(j, p->partition_epoch);
	jw_put(j, ",", 1);
	jw_indent(j, depth + 1);
	jw_key(j, "replicas");
	jw_ids(j, p->replicas, p->n_replicas, depth + 1);
	jw_put(j, ",", 1);
	jw_indent(j, depth + 1);
	jw_key(j, "isr");
	jw_ids(j, p->isr, p->n_isr, depth + 1);
	jw_indent(j, depth);
	jw_put(j, "}", 1);
}

/* A topic's configs as ja_topics builds them: an object keyed by config
 * key, a repeated key keeping its first place and its last value (as
 * json_object_set_new does). */
static void jw_configs(struct jw *j, const Synod__Wire__TopicDescription *d,
		       int depth)
{
	size_t shown = 0;
	for (size_t c = 0; c < d->n_configs; c++) {
		size_t last = c;
		int seen = 0;
		for (size_t k = 0; k < c && !seen; k++)
			seen =
			    strcmp(d->configs[k]->key, d->configs[c]->key) == 0;
		if (seen)
			continue;
		for (size_t k = c + 1; k < d->n_configs; k++)
			if (strcmp(d->configs[k]->key, d->configs[c]->key) == 0)
				last = k;
		jw_put(j, shown ? "," : "{", 1);
		jw_indent(j, depth + 1);
		jw_key(j, d->configs[c]->key);
		jw_str(j, d->configs[last]->value);
		shown++;
	}
	if (shown == 0) {
		jw_put(j, "{}", 2);
		return;
	}
	jw_indent(j, depth);
	jw_put(j, "}", 1);
}

static void jw_topic(struct jw *j, const Synod__Wire__TopicDescription *d,
		     int list, int depth)
{
	char id[37];
	ja_uuid(&d->topic_id, id);
	jw_put(j, "{", 1);
	jw_indent(j, depth + 1);
	jw_key(j, "topic");
	jw_str(j, d->name);
	jw_put(j, ",", 1);
	jw_indent(j, depth + 1);
	jw_key(j, "topic_id");
	jw_str(j, id);
	jw_put(j, ",", 1);
	jw_indent(j, depth + 1);
	jw_key(j, "partition_count");
	jw_int(j, d->partition_count);
	jw_put(j, ",", 1);
	jw_indent(j, depth + 1);
	jw_key(j, "configs");
	jw_configs(j, d, depth + 1);
	if (!list) {
		jw_put(j, ",", 1);
		jw_indent(j, depth + 1);
		jw_key(j, "partitions");
		if (d->n_partitions == 0) {
			jw_put(j, "[]", 2);
		} else {
			jw_put(j, "[", 1);
			for (size_t p = 0; p < d->n_partitions; p++) {
				jw_indent(j, depth + 2);
				jw_partition(j, d->partitions[p], NULL,
					     depth + 2);
				if (p + 1 < d->n_partitions)
					jw_put(j, ",", 1);
			}
			jw_indent(j, depth + 1);
			jw_put(j, "]", 1);
		}
	}
	jw_indent(j, depth);
	jw_put(j, "}", 1);
}

static int jw_end(struct jw *j)
{
	jw_put(j, "\n", 1);
	jw_flush(j);
	return j->failed ? -1 : 0;
}

int ja_topics_write(const Synod__Wire__DescribeTopicsResponse *r, int list,
		    int one, ja_write_fn write, void *arg)
{
	struct jw *j = malloc(sizeof *j);
	int rv;
	if (j == NULL)
		return -1;
	j->write = write;
	j->arg = arg;
	j->failed = 0;
	j->n = 0;
	if (one && !list && r->n_topics == 1) {
		jw_topic(j, r->topics[0], 0, 0);
	} else {
		jw_put(j, "{", 1);
		jw_indent(j, 1);
		jw_key(j, "topics");
		if (r->n_topics == 0) {
			jw_put(j, "[]", 2);
		} else {
			jw_put(j, "[", 1);
			for (size_t k = 0; k < r->n_topics; k++) {
				jw_indent(j, 2);
				jw_topic(j, r->topics[k], list, 2);
				if (k + 1 < r->n_topics)
					jw_put(j, ",", 1);
			}
			jw_indent(j, 1);
			jw_put(j, "]", 1);
		}
		jw_indent(j, 0);
		jw_put(j, "}", 1);
	}
	rv = jw_end(j);
	free(j);
	return rv;
}

int ja_partitions_write(const Synod__Wire__DescribeTopicsResponse *r,
			ja_write_fn write, void *arg)
{
	struct jw *j = malloc(sizeof *j);
	size_t total = 0, done = 0;
	int rv;
	if (j == NULL)
		return -1;
	j->write = write;
	j->arg = arg;
	j->failed = 0;
	j->n = 0;
	for (size_t k = 0; k < r->n_topics; k++)
		total += r->topics[k]->n_partitions;
	jw_put(j, "{", 1);
	jw_indent(j, 1);
	jw_key(j, "partitions");
	if (total == 0) {
		jw_put(j, "[]", 2);
	} else {
		jw_put(j, "[", 1);
		for (size_t k = 0; k < r->n_topics; k++)
			for (size_t p = 0; p < r->topics[k]->n_partitions;
			     p++) {
				jw_indent(j, 2);
				jw_partition(j, r->topics[k]->partitions[p],
					     &r->topics[k]->topic_id, 2);
				if (++done < total)
					jw_put(j, ",", 1);
			}
		jw_indent(j, 1);
		jw_put(j, "]", 1);
	}
	jw_indent(j, 0);
	jw_put(j, "}", 1);
	rv = jw_end(j);
	free(j);
	return rv;
}

/* ---- consumer groups ---- */

json_t *ja_group_list(const Synod__Wire__GroupListResponse *r)
{
	json_t *a = json_array();
	for (size_t i = 0; i < r->n_groups; i++) {
		const Synod__Wire__GroupSummary *g = r->groups[i];
		json_array_append_new(
		    a,
		    json_pack("{s:s,s:s,s:s,s:i,s:i,s:i}", "group", g->group_id,
			      "state", g->state, "assignor", g->assignor,
			      "group_epoch", g->group_epoch, "assignment_epoch",
			      g->assignment_epoch, "members", (int)g->members));
	}
	return json_pack("{s:o}", "groups", a);
}

static json_t *pset(const Synod__Wire__GroupPartitionSet *s)
{
	json_t *a = json_array();
	for (size_t i = 0; s && i < s->n_topics; i++) {
		const Synod__Wire__GroupTopicPartitions *t = s->topics[i];
		char id[37];
		ja_uuid(&t->topic_id, id);
		json_array_append_new(
		    a, json_pack("{s:s,s:s,s:o}", "topic",
				 t->topic ? t->topic : "", "topic_id", id,
				 "partitions",
				 ids(t->partitions, t->n_partitions)));
	}
	return a;
}

json_t *ja_group(const Synod__Wire__GroupDescription *d)
{
	const Synod__Wire__GroupSummary *g = d->summary;
	json_t *members = json_array();
	for (size_t k = 0; k < d->n_members; k++) {
		const Synod__Wire__GroupMemberDescription *m = d->members[k];
		json_array_append_new(
		    members,
		    json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:i,s:s,s:o,s:o,s:o}",
			      "member_id", m->member_id, "instance_id",
			      m->instance_id, "rack", m->rack, "client_id",
			      m->client_id, "client_host", m->client_host,
			      "member_epoch", m->member_epoch, "state",
			      m->state, "assigned", pset(m->assigned),
			      "pending_revocation", pset(m->pending_revocation),
			      "target", pset(m->target)));
	}
	return json_pack("{s:s,s:s,s:s,s:i,s:i,s:o}", "group", g->group_id,
			 "state", g->state, "assignor", g->assignor,
			 "group_epoch", g->group_epoch, "assignment_epoch",
			 g->assignment_epoch, "members", members);
}

json_t *ja_group_describe(const Synod__Wire__GroupDescribeResponse *r,
			  size_t asked)
{
	json_t *a = json_array(), *out;
	for (size_t i = 0; i < r->n_groups; i++)
		json_array_append_new(a, ja_group(r->groups[i]));
	out = asked == 1 && json_array_size(a) == 1
		  ? json_incref(json_array_get(a, 0))
		  : json_incref(a);
	json_decref(a);
	return out;
}

/* ---- read-only SQL ---- */

static json_t *cell(const Synod__Wire__QueryCell *c)
{
	static const char hex[] = "0123456789abcdef";
	json_t *j;
	char *t;
	if (c->has_integer)
		return json_integer((json_int_t)c->integer);
	if (c->has_real)
		return json_real(c->real);
	if (c->text)
		return json_string(c->text);
	if (!c->has_blob)
		return json_null();
	t = malloc(c->blob.len * 2 + 4);
	if (t == NULL)
		return NULL;
	t[0] = 'x';
	t[1] = '\'';
	for (size_t i = 0; i < c->blob.len; i++) {
		t[2 + 2 * i] = hex[c->blob.data[i] >> 4];
		t[3 + 2 * i] = hex[c->blob.data[i] & 15];
	}
	t[2 + 2 * c->blob.len] = '\'';
	t[3 + 2 * c->blob.len] = '\0';
	j = json_string(t);
	free(t);
	return j;
}

json_t *ja_query(const Synod__Wire__QueryResponse *r)
{
	json_t *cols = json_array(), *rows = json_array(), *j;
	for (size_t i = 0; i < r->n_columns; i++)
		json_array_append_new(cols, json_string(r->columns[i]));
	for (size_t i = 0; i < r->n_rows; i++) {
		json_t *row = json_array();
		for (size_t k = 0; k < r->rows[i]->n_cells; k++)
			json_array_append_new(row, cell(r->rows[i]->cells[k]));
		json_array_append_new(rows, row);
	}
	j = json_object();
	json_object_set_new(j, "columns", cols);
	json_object_set_new(j, "rows", rows);
	json_object_set_new(j, "truncated",
			    r->truncated ? json_string(r->truncated)
					 : json_null());
	json_object_set_new(j, "metadata_version",
			    json_integer((json_int_t)r->metadata_version));
	json_object_set_new(j, "node_id", json_integer((json_int_t)r->node_id));
	json_object_set_new(j, "elapsed_ms", json_integer(r->elapsed_ms));
	return j;
}

/* ---- the quorum ---- */

json_t *ja_quorum(const Synod__Wire__MetadataResponse *md,
		  const struct ja_probe *probes, int with_digest,
		  const Synod__Wire__NodeStatusResponse **leader_out)
{
	const Synod__Wire__NodeStatusResponse *leader = NULL;
	uint64_t commit = 0, term = 0;
	json_t *nodes = json_array(), *root;
	for (size_t i = 0; i < md->n_nodes; i++) {
		const Synod__Wire__NodeStatusResponse *r = probes[i].resp;
		if (probes[i].rv != SYNOD_OK || r == NULL)
			continue;
		if (r->term > term)
			term = r->term;
		if (r->role && strcmp(r->role, "leader") == 0 &&
		    (leader == NULL || r->term > leader->term))
			leader = r;
	}
	if (leader)
		commit = leader->commit_index;
	else
		for (size_t i = 0; i < md->n_nodes; i++)
			if (probes[i].rv == SYNOD_OK && probes[i].resp &&
			    probes[i].resp->commit_index > commit)
				commit = probes[i].resp->commit_index;
	for (size_t i = 0; i < md->n_nodes; i++) {
		const Synod__Wire__NodeAddress *a = md->nodes[i];
		const Synod__Wire__NodeStatusResponse *r =
		    probes[i].rv == SYNOD_OK ? probes[i].resp : NULL;
		json_t *n = json_object();
		int64_t match = -1;
		if (leader)
			for (size_t k = 0; k < leader->n_peers; k++)
				if (leader->peers[k]->id == a->id)
					match = (int64_t)leader->peers[k]
						    ->match_index;
		json_object_set_new(n, "id", json_integer((json_int_t)a->id));
		json_object_set_new(n, "address",
				    json_string(a->client_address));
		json_object_set_new(n, "raft_address",
				    json_string(a->raft_address));
		json_object_set_new(n, "voter", json_boolean(a->voter));
		json_object_set_new(n, "reachable", json_boolean(r != NULL));
		if (r) {
			json_object_set_new(n, "role", json_string(r->role));
			json_object_set_new(
			    n, "applied_index",
			    json_integer((json_int_t)r->applied_index));
			json_object_set_new(
			    n, "lag",
			    json_integer(
				commit > r->applied_index
				    ? (json_int_t)(commit - r->applied_index)
				    : 0));
			json_object_set_new(
			    n, "last_contact_ms",
			    r->last_contact_ms < 0
				? json_null()
				: json_integer(r->last_contact_ms));
			json_object_set_new(n, "term",
					    json_integer((json_int_t)r->term));
			if (r->connections &&
			    r->connections->has_tls_certificate_expiry)
				json_object_set_new(
				    n, "tls_certificate_expiry",
				    json_integer((json_int_t)r->connections
						     ->tls_certificate_expiry));
			if (with_digest) {
				json_object_set_new(
				    n, "metadata_version",
				    json_integer(
					(json_int_t)r->metadata_version));
				json_object_set_new(
				    n, "state_digest",
				    r->state_digest
					? json_string(r->state_digest)
					: json_null());
			}
			if (r->n_digest_points) {
				json_t *a = json_array();
				for (size_t k = 0; k < r->n_digest_points; k++)
					json_array_append_new(
					    a,
					    json_pack(
						"[I,s]",
						(json_int_t)r->digest_points[k]
						    ->index,
						r->digest_points[k]->digest
						    ? r->digest_points[k]
							  ->digest
						    : ""));
				json_object_set_new(n, "digest_points", a);
			}
		} else {
			json_object_set_new(n, "role", json_string("unknown"));
			json_object_set_new(n, "applied_index", json_null());
			json_object_set_new(
			    n, "lag",
			    match >= 0 && commit >= (uint64_t)match
				? json_integer(
				      (json_int_t)(commit - (uint64_t)match))
				: json_null());
			json_object_set_new(n, "last_contact_ms", json_null());
			json_object_set_new(n, "term", json_null());
			json_object_set_new(
			    n, "error",
			    json_string(synod_error_name(probes[i].rv)));
		}
		json_object_set_new(n, "match_index",
				    match >= 0 ? json_integer(match)
					       : json_null());
		json_array_append_new(nodes, n);
	}
	root = json_object();
	json_object_set_new(root, "cluster_id",
			    json_string(md->cluster_id ? md->cluster_id : ""));
	json_object_set_new(root, "leader_id",
			    leader ? json_integer((json_int_t)leader->node_id)
				   : json_null());
	json_object_set_new(root, "term", json_integer((json_int_t)term));
	json_object_set_new(root, "commit_index",
			    json_integer((json_int_t)commit));
	json_object_set_new(root, "nodes", nodes);
	{
		/* Health from the leader's store, else the most advanced
		 * reachable node's. */
		const Synod__Wire__NodeStatusResponse *h = leader;
		for (size_t i = 0; h == NULL && i < md->n_nodes; i++)
			if (probes[i].rv == SYNOD_OK && probes[i].resp &&
			    probes[i].resp->has_partitions &&
			    (h == NULL || probes[i].resp->metadata_version >
					      h->metadata_version))
				h = probes[i].resp;
		if (h && h->has_partitions)
			json_object_set_new(
			    root, "health",
			    json_pack(
				"{s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I}}",
				"metadata_version",
				(json_int_t)h->metadata_version, "topics",
				(json_int_t)h->topics, "partitions",
				(json_int_t)h->partitions, "offline",
				(json_int_t)h->partitions_offline,
				"under_replicated",
				(json_int_t)h->partitions_under_replicated,
				"not_preferred_leader",
				(json_int_t)h->partitions_not_preferred,
				"brokers", "registered",
				(json_int_t)h->brokers_registered, "active",
				(json_int_t)(h->brokers_registered -
					     h->brokers_fenced -
					     h->brokers_shutting_down),
				"fenced", (json_int_t)h->brokers_fenced,
				"shutting_down",
				(json_int_t)h->brokers_shutting_down));
		else
			json_object_set_new(root, "health", json_null());
	}
	if (leader_out)
		*leader_out = leader;
	return root;
}
