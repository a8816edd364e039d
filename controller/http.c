/* controller/http.c - GET /healthz, /readyz, /metrics (see http.h). */
#include "http.h"

#include <dirent.h>
#include <limits.h>
#include <malloc.h>
#include <http_parser.h>
#include <jansson.h>
#include <raft.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "hist.h"
#include "http_int.h"
#include "log.h"
#include "module.h"
#include "synod/client.h"
#include "tls.h"
#include "tlsrelay.h"
#include "workgate.h"

/* The dashboard (controller/dashboard/index.html, cmake/embed.cmake). */
extern const unsigned char synod_dashboard_html[];
extern const size_t synod_dashboard_html_len;

struct hwrite {
	uv_write_t req;
	struct hconn *c;
	char *owned; /* the body, when given (http_respond_owned) */
	size_t owned_len;
	uv_buf_t bufs[2];
	char head[];
};

/* ---- a growing text buffer ---- */

struct text {
	char *p;
	size_t len, cap;
	int failed;
};

static void tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (t->failed)
		return;
	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = t->cap ? t->cap * 2 : 4096;
			char *q;
			while (cap - t->len <= (size_t)n)
				cap *= 2;
			q = realloc(t->p, cap);
			if (q == NULL) {
				t->failed = 1;
				return;
			}
			t->p = q;
			t->cap = cap;
		}
	}
}

/* One sample with its HELP and TYPE lines. */
static void metric(struct text *t, const char *name, const char *type,
		   const char *help, double v)
{
	tprintf(t, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name,
		type, name, v);
}

/* A counter split by one label: n series name{label="values[i]"}. */
static void counter_by(struct text *t, const char *name, const char *help,
		       const char *label, const char *const *values,
		       const uint64_t *counts, unsigned n)
{
	tprintf(t, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (unsigned i = 0; i < n; i++)
		tprintf(t, "%s{%s=\"%s\"} %llu\n", name, label, values[i],
			(unsigned long long)counts[i]);
}

/* One histogram's lines (no HELP/TYPE); labels: "" or `api="X",`. */
static void hist_lines(struct text *t, const char *name, const char *labels,
		       const struct hist *h)
{
	uint64_t cum = 0;
	char close_labels[160];
	size_t n = strlen(labels);
	/* labels without the trailing comma, for _sum and _count */
	snprintf(close_labels, sizeof close_labels, "%.*s", n ? (int)n - 1 : 0,
		 labels);
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		cum += h->bucket[b];
		tprintf(t, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels,
			hist_bounds[b], (unsigned long long)cum);
	}
	tprintf(t,
		"%s_bucket{%sle=\"+Inf\"} %llu\n%s_sum%s%s%s %.9g\n"
		"%s_count%s%s%s %llu\n",
		name, labels, (unsigned long long)h->count, name, n ? "{" : "",
		close_labels, n ? "}" : "", h->sum_s, name, n ? "{" : "",
		close_labels, n ? "}" : "", (unsigned long long)h->count);
}

/* ---- /metrics ---- */

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* the directory's own descriptor */
}

char *http_metrics_text(struct server *s)
{
	struct node_status ns;
	const Synod__Wire__NodeStatusResponse *m = &ns.m;
	const Synod__Wire__ClientConnections *cc;
	struct text t = {0};
	static const char *const roles[] = {"leader", "follower", "candidate",
					    "unavailable"};
	double now = (double)time(NULL);
	cluster_node_status(s, 0, &ns);
	cc = m->connections;

	tprintf(&t,
		"# HELP synod_build_info Synod's version (the value is 1).\n"
		"# TYPE synod_build_info gauge\n"
		"synod_build_info{version=\"%s\",node_id=\"%llu\"} 1\n",
		SYNOD_VERSION, (unsigned long long)m->node_id);
	tprintf(&t, "# HELP synod_raft_role This node's raft role (1 for the "
		    "current one).\n# TYPE synod_raft_role gauge\n");
	for (unsigned i = 0; i < 4; i++)
		tprintf(&t, "synod_raft_role{role=\"%s\"} %d\n", roles[i],
			m->role && strcmp(m->role, roles[i]) == 0);
	metric(&t, "synod_raft_term", "gauge", "Current raft term.",
	       (double)m->term);
	metric(&t, "synod_raft_leader_id", "gauge",
	       "Id of the leader this node knows (0: none).",
	       (double)m->leader_id);
	metric(&t, "synod_raft_commit_index", "gauge", "Raft commit index.",
	       (double)m->commit_index);
	metric(&t, "synod_raft_applied_index", "gauge",
	       "Last raft entry applied to the state machine.",
	       (double)m->applied_index);
	metric(&t, "synod_raft_last_index", "gauge",
	       "Last index in this node's raft log.", (double)m->last_index);
	metric(&t, "synod_raft_apply_lag_entries", "gauge",
	       "Committed entries not applied yet.",
	       m->commit_index > m->applied_index
		   ? (double)(m->commit_index - m->applied_index)
		   : 0.0);
	metric(&t, "synod_raft_last_contact_seconds", "gauge",
	       "Since this follower last heard from the leader (-1: unknown; "
	       "0 on the leader).",
	       m->last_contact_ms < 0 ? -1.0
				      : (double)m->last_contact_ms / 1000.0);
	metric(&t, "synod_raft_term_changes_total", "counter",
	       "Terms this node has seen begin since it started (elections).",
	       (double)m->elections_started);
	metric(&t, "synod_raft_snapshot_index", "gauge",
	       "Index of the last snapshot taken or restored.",
	       (double)m->snapshot_index);
	metric(&t, "synod_raft_snapshots_taken_total", "counter",
	       "Snapshots this node took.", (double)m->snapshots_taken);
	metric(&t, "synod_raft_snapshots_restored_total", "counter",
	       "Snapshots this node installed.", (double)m->snapshots_restored);
	metric(&t, "synod_raft_last_snapshot_bytes", "gauge",
	       "Size of the last snapshot taken.",
	       (double)m->last_snapshot_bytes);
	metric(&t, "synod_raft_last_snapshot_seconds", "gauge",
	       "Time the last snapshot's copy took on the loop.",
	       (double)m->last_snapshot_us / 1e6);
	metric(&t, "synod_raft_proposed_bytes_total", "counter",
	       "Bytes of log entries this node proposed as leader.",
	       (double)m->bytes_proposed);
	metric(&t, "synod_active_controller", "gauge",
	       "1 when this node is the active controller.",
	       m->active_controller ? 1.0 : 0.0);
	metric(&t, "synod_metadata_version", "gauge",
	       "Index of the last applied state change.",
	       (double)m->metadata_version);
	metric(&t, "synod_db_bytes", "gauge",
	       "Size of the state machine's SQLite image.",
	       (double)m->db_bytes);
	metric(&t, "synod_disk_free_bytes", "gauge",
	       "Free bytes in the data directory's filesystem.",
	       (double)m->disk_free_bytes);
	metric(&t, "synod_disk_leadership_handoffs_total", "counter",
	       "Leadership handed over for the disk (no room, or log writes "
	       "that do not complete).",
	       (double)m->disk_handoffs);
	{
		uint64_t oldest = raftio_oldest_append_ns(&s->node->raftio);
		metric(&t, "synod_raft_append_oldest_seconds", "gauge",
		       "Age of the oldest log write in flight (0: none).",
		       oldest != 0 ? (double)(uv_hrtime() - oldest) / 1e9
				   : 0.0);
	}
	metric(&t, "synod_disk_stalled", "gauge",
	       "1 while a log write has been unfinished for disk_stall_ms.",
	       (double)s->node->disk_stalled);
	metric(&t, "synod_disk_stalls_total", "counter",
	       "Times a log write stayed unfinished for disk_stall_ms.",
	       (double)s->node->stats.disk_stalls);
	metric(&t, "synod_snapshot_write_failing", "gauge",
	       "1 while the last snapshot write failed (raft tries again).",
	       (double)s->node->snapshot_failing);
	metric(&t, "synod_snapshot_write_failures_total", "counter",
	       "Snapshot writes that failed.",
	       (double)s->node->stats.snapshot_write_failures);
	{
		uint64_t oldest = raftio_oldest_save_ns(&s->node->raftio, NULL);
		metric(&t, "synod_snapshot_save_oldest_seconds", "gauge",
		       "Age of the snapshot save in flight (0: none).",
		       oldest != 0 ? (double)(uv_hrtime() - oldest) / 1e9
				   : 0.0);
	}
	metric(&t, "synod_snapshot_save_stalled", "gauge",
	       "1 while a snapshot save has been unfinished for "
	       "disk_stall_ms.",
	       (double)s->node->snapshot_stalled);
	metric(&t, "synod_snapshot_save_stalls_total", "counter",
	       "Times a snapshot save stayed unfinished for disk_stall_ms.",
	       (double)s->node->stats.snapshot_stalls);
	metric(&t, "synod_loop_stall_max_seconds", "gauge",
	       "Longest time the event loop was late (since start or reset).",
	       (double)m->loop_stall_max_us / 1e6);
	metric(&t, "synod_loop_stalls_over_50ms_total", "counter",
	       "Times the event loop was more than 50 ms late.",
	       (double)m->loop_stalls_over_50ms);
	metric(&t, "synod_apply_max_seconds", "gauge",
	       "Slowest committed entry applied (since start or reset).",
	       (double)m->apply_max_us / 1e6);
	metric(&t, "synod_pool_jobs_running", "gauge",
	       "The node's own jobs on the thread pool now (JSON of HTTP "
	       "topic, partition and query answers, large Kafka answers, "
	       "large frees), at most half the pool.",
	       (double)workgate_running());
	metric(&t, "synod_pool_jobs_waiting", "gauge",
	       "The node's own jobs waiting for room on the thread pool.",
	       (double)workgate_waiting());
	metric(&t, "synod_pool_jobs_total", "counter",
	       "The node's own jobs queued for the thread pool.",
	       (double)workgate_queued());
	metric(&t, "synod_pool_jobs_waited_total", "counter",
	       "The node's own jobs that waited for room on the thread pool.",
	       (double)workgate_waited());
	metric(&t, "synod_raft_snapshot_resends_freed_total", "counter",
	       "InstallSnapshot messages that arrived while this node "
	       "installed a snapshot (freed unread: reliability.md 5.18).",
	       (double)s->node->raftio.installs_ignored);
	tprintf(&t,
		"# HELP synod_raft_append_duration_seconds Log entries "
		"written to this node's disk, from the write's start to its "
		"end.\n# TYPE synod_raft_append_duration_seconds histogram\n");
	hist_lines(&t, "synod_raft_append_duration_seconds", "",
		   &s->node->raftio.append_lat);
	tprintf(&t, "# HELP synod_raft_commit_duration_seconds Entries this "
		    "node proposed as leader, from the proposal to their "
		    "apply (commit by a majority).\n"
		    "# TYPE synod_raft_commit_duration_seconds histogram\n");
	hist_lines(&t, "synod_raft_commit_duration_seconds", "",
		   &s->node->commit_lat);
	metric(&t, "synod_raft_entries_proposed_total", "counter",
	       "Log entries this node proposed as leader.",
	       (double)m->entries_proposed);
	metric(&t, "synod_raft_records_proposed_total", "counter",
	       "Records in those entries (records per entry: group commit).",
	       (double)m->records_proposed);
	metric(&t, "synod_read_slices_deferred_total", "counter",
	       "Loop iterations that left confirmed reads for the next (their "
	       "answers took longer than a 2 ms slice).",
	       (double)m->read_slices_deferred);
	metric(&t, "synod_kafka_connections", "gauge",
	       "Connections to this node's Kafka port.",
	       (double)m->kafka_connections);
	metric(&t, "synod_kafka_requests_total", "counter",
	       "Kafka requests received on this node's Kafka port.",
	       (double)m->kafka_requests);
	metric(&t, "synod_kafka_forwarded_total", "counter",
	       "Kafka requests this node relayed to the active controller.",
	       (double)m->kafka_forwarded);
	metric(&t, "synod_kafka_forward_failures_total", "counter",
	       "Relayed Kafka requests that got no answer (their client's "
	       "connection was closed).",
	       (double)m->kafka_forward_failed);
	metric(&t, "synod_kafka_relayed_total", "counter",
	       "Kafka requests relayed to this node (from brokers' "
	       "listeners and other nodes) that it served as the active "
	       "controller.",
	       (double)m->kafka_relayed);
	if (m->has_partitions) {
		metric(&t, "synod_topics", "gauge", "Topics.",
		       (double)m->topics);
		metric(&t, "synod_partitions", "gauge", "Partitions.",
		       (double)m->partitions);
		metric(&t, "synod_partitions_offline", "gauge",
		       "Partitions without a leader.",
		       (double)m->partitions_offline);
		metric(&t, "synod_partitions_under_replicated", "gauge",
		       "Partitions whose ISR is smaller than their replicas.",
		       (double)m->partitions_under_replicated);
		metric(&t, "synod_partitions_not_preferred_leader", "gauge",
		       "Partitions led by a broker other than their preferred "
		       "(first) replica: the leader imbalance.",
		       (double)m->partitions_not_preferred);
		tprintf(&t,
			"# HELP synod_brokers_registered Registered brokers by "
			"state.\n# TYPE synod_brokers_registered gauge\n"
			"synod_brokers_registered{state=\"active\"} %u\n"
			"synod_brokers_registered{state=\"fenced\"} %u\n"
			"synod_brokers_registered{state=\"shutting_down\"} "
			"%u\n",
			m->brokers_registered - m->brokers_fenced -
			    m->brokers_shutting_down,
			m->brokers_fenced, m->brokers_shutting_down);
	}
	if (m->has_pushes) {
		metric(&t, "synod_metadata_pushes_total", "counter",
		       "Metadata deltas pushed to brokers.", (double)m->pushes);
		metric(&t, "synod_metadata_pushes_dropped_total", "counter",
		       "Deltas dropped (the broker's queue was full or it had "
		       "no connection); it catches up with a fetch.",
		       (double)m->pushes_dropped);
		metric(&t, "synod_metadata_push_bytes_total", "counter",
		       "Bytes of the deltas pushed.", (double)m->push_bytes);
		metric(&t, "synod_metadata_push_nudges_total", "counter",
		       "Empty deltas sent instead (oversized or after a drop).",
		       (double)m->push_nudges);
	}
	if (m->has_fetches) {
		metric(&t, "synod_metadata_fetches_total", "counter",
		       "METADATA_FETCH requests answered.", (double)m->fetches);
		metric(&t, "synod_partition_leader_changes_total", "counter",
		       "Partition leader changes proposed.",
		       (double)m->leader_changes);
		metric(&t, "synod_partition_isr_changes_total", "counter",
		       "Partition ISR changes proposed.",
		       (double)m->isr_changes);
		metric(&t, "synod_partition_isr_waits_total", "counter",
		       "Waits of ISR changes for a change in flight on "
		       "their partition.",
		       (double)m->isr_waits);
	}
	if (m->has_partition_changes_in_flight)
		metric(&t, "synod_partition_changes_in_flight", "gauge",
		       "Partition states proposed, not yet applied.",
		       (double)m->partition_changes_in_flight);
	if (m->has_brokers) {
		metric(&t, "synod_brokers", "gauge",
		       "Broker sessions the active controller holds.",
		       (double)m->brokers);
		metric(&t, "synod_broker_heartbeats_total", "counter",
		       "Broker heartbeats handled.",
		       (double)m->broker_heartbeats);
		metric(&t, "synod_broker_fences_total", "counter",
		       "Brokers fenced for a session timeout.",
		       (double)m->brokers_fenced_by_timeout);
		metric(&t, "synod_broker_registrations_total", "counter",
		       "Broker registrations handled.",
		       (double)m->broker_registrations);
		if (m->has_broker_unfences) {
			metric(&t, "synod_broker_unfences_total", "counter",
			       "Brokers unfenced (caught up after a "
			       "registration or a fence).",
			       (double)m->broker_unfences);
			metric(&t, "synod_broker_shutdowns_total", "counter",
			       "Controlled shutdowns granted.",
			       (double)m->broker_shutdowns);
		}
		if (m->has_broker_stale_epoch_refusals) {
			static const char *const why[] = {
			    "stale_epoch", "duplicate", "old_connection"};
			const uint64_t n[] = {
			    m->broker_stale_epoch_refusals,
			    m->broker_duplicate_refusals,
			    m->broker_old_connection_refusals};
			counter_by(&t, "synod_broker_refusals_total",
				   "Broker requests refused: a heartbeat with "
				   "an old broker epoch (stale_epoch), a "
				   "registration while a live incarnation "
				   "holds the id (duplicate), a heartbeat on "
				   "an older connection than the session's "
				   "latest (old_connection).",
				   "reason", why, n, 3);
		}
	}
	if (m->has_groups) {
		metric(&t, "synod_groups", "gauge",
		       "Consumer groups the active controller holds.",
		       (double)m->groups);
		metric(&t, "synod_group_members", "gauge",
		       "Members of those groups.", (double)m->group_members);
		metric(&t, "synod_group_heartbeats_total", "counter",
		       "Group heartbeats handled.",
		       (double)m->group_heartbeats);
		metric(&t, "synod_group_assignor_max_seconds", "gauge",
		       "Slowest assignor run.",
		       (double)m->group_assign_max_us / 1e6);
		metric(&t, "synod_group_joins_total", "counter",
		       "Group joins handled (rejoins included).",
		       (double)m->group_joins);
		metric(&t, "synod_group_rejoins_total", "counter",
		       "Joins under the id of a member the group still had.",
		       (double)m->group_rejoins);
		tprintf(&t,
			"# HELP synod_groups_by_state Consumer groups by "
			"state.\n# TYPE synod_groups_by_state gauge\n"
			"synod_groups_by_state{state=\"empty\"} %u\n"
			"synod_groups_by_state{state=\"assigning\"} %u\n"
			"synod_groups_by_state{state=\"reconciling\"} %u\n"
			"synod_groups_by_state{state=\"stable\"} %u\n",
			m->groups_empty, m->groups_assigning,
			m->groups_reconciling, m->groups_stable);
	}
	if (cc) {
		metric(&t, "synod_client_connections", "gauge",
		       "Client connections open now.", (double)cc->open);
		metric(&t, "synod_client_connections_accepted_total", "counter",
		       "Client connections accepted.", (double)cc->accepted);
		static const char *const why[] = {
		    "max_connections", "per_ip",      "idle",
		    "partial_frame",   "slow_reader", "output_limit",
		    "bad_frame"};
		const uint64_t n[] = {cc->refused_max_connections,
				      cc->refused_per_ip,
				      cc->closed_idle,
				      cc->closed_partial_frame,
				      cc->closed_slow_reader,
				      cc->closed_output_limit,
				      cc->bad_frames};
		counter_by(&t, "synod_client_connections_closed_total",
			   "Client connections refused or closed by a limit.",
			   "reason", why, n, 7);
		metric(&t, "synod_client_read_buffer_bytes", "gauge",
		       "Read-buffer memory of client connections.",
		       (double)cc->read_buffer_bytes);
		if (cc->has_tls_certificate_expiry) {
			metric(&t,
			       "synod_tls_certificate_expiry_timestamp_seconds",
			       "gauge",
			       "When this node's certificate expires (seconds "
			       "since the epoch).",
			       (double)cc->tls_certificate_expiry);
			metric(&t, "synod_tls_failures_total", "counter",
			       "Client TLS handshakes or records that failed.",
			       (double)cc->tls_failures);
			metric(&t, "synod_tls_handshake_timeouts_total",
			       "counter",
			       "Client connections closed without a handshake "
			       "in time.",
			       (double)cc->tls_handshake_timeouts);
			metric(&t, "synod_authorization_failed_total",
			       "counter",
			       "Requests refused AUTHORIZATION_FAILED.",
			       (double)cc->authorization_failed);
		}
	}
	metric(&t, "synod_requests_total", "counter",
	       "Client requests received.", (double)s->stats.requests);
	tprintf(&t, "# HELP synod_request_duration_seconds From a request's "
		    "arrival to its answer, per API.\n"
		    "# TYPE synod_request_duration_seconds histogram\n");
	for (unsigned api = 0; api < SERVER_MAX_API; api++) {
		char labels[80];
		if (s->api_stats[api].count == 0 || s->api[api] == NULL)
			continue;
		snprintf(labels, sizeof labels, "api=\"%s\",",
			 s->api[api]->name);
		hist_lines(&t, "synod_request_duration_seconds", labels,
			   &s->api_stats[api]);
	}
	tprintf(&t, "# HELP synod_answers_total Answers to client requests by "
		    "Status code (protocol.md).\n"
		    "# TYPE synod_answers_total counter\n");
	for (unsigned code = 0; code < 64; code++)
		if (s->answers_by_code[code] || code == SYNOD_OK)
			tprintf(&t, "synod_answers_total{code=\"%s\"} %llu\n",
				code == SYNOD_OK ? "OK"
						 : synod_error_name((int)code),
				(unsigned long long)s->answers_by_code[code]);
	metric(&t, "synod_errors_sent_total", "counter",
	       "Client requests answered with an error.",
	       (double)s->stats.errors_sent);
	metric(&t, "process_resident_memory_bytes", "gauge",
	       "Resident memory of this process.", (double)m->rss_bytes);
	metric(&t, "process_open_fds", "gauge",
	       "Open file descriptors of this process.", (double)open_fds());
	metric(&t, "process_start_time_seconds", "gauge",
	       "When this process started (seconds since the epoch).",
	       now - (double)m->uptime_ms / 1000.0);
	metric(&t, "synod_uptime_seconds", "gauge",
	       "Since this process started.", (double)m->uptime_ms / 1000.0);
	cluster_node_status_free(&ns);
	if (t.failed) {
		free(t.p);
		return NULL;
	}
	return t.p;
}

/* ---- connections ---- */

static void free_raft_handle(uv_handle_t *handle)
{
	raft_free(handle);
}

static void free_handle(uv_handle_t *handle)
{
	free(handle);
}

static void on_stream_closed(uv_handle_t *handle)
{
	struct hconn *c = handle->data;
	if (c->stream_raft)
		raft_free(handle);
	else
		free(handle);
	free(c);
}

static void hconn_close(struct hconn *c)
{
	struct http *h = c->h;
	if (c->closing)
		return;
	c->closing = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->n_conns--;
	if (c->op)
		http_api_detach(c);
	if (c->relay) {
		/* relay_done frees c */
		tls_relay_cancel(c->relay);
		return;
	}
	uv_close((uv_handle_t *)c->stream, on_stream_closed);
}

/* Freeing an answer of hundreds of MiB (its pages unmapped) takes tens
 * of ms: done on the thread pool, and the heap trimmed there. */
#define HTTP_BIG_FREE (1u << 20)

struct big_free {
	struct workgate_req work;
	void *p;
};

static void work_free(uv_work_t *w)
{
	struct big_free *b = w->data;
	free(b->p);
	b->p = NULL;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void after_free(uv_work_t *w, int status)
{
	struct big_free *b = w->data;
	(void)status;
	free(b->p); /* NULL once work_free ran; not when the pool refused */
	free(b);
}

void http_free_big(uv_loop_t *loop, void *p, size_t size)
{
	struct big_free *b;
	if (p == NULL)
		return;
	if (size < HTTP_BIG_FREE || (b = malloc(sizeof *b)) == NULL) {
		free(p);
		return;
	}
	b->p = p;
	b->work.work.data = b;
	if (workgate_queue(loop, &b->work, work_free, after_free) != 0) {
		free(p);
		free(b);
	}
}

static void on_written(uv_write_t *req, int status)
{
	struct hwrite *w = (struct hwrite *)req;
	struct http *h = w->c->h;
	(void)status;
	hconn_close(w->c);
	http_free_big(h->s->loop, w->owned, w->owned_len);
	free(w);
}

static void send_answer(struct hconn *c, int code, const char *reason,
			const char *ctype, const char *extra, const char *body,
			char *owned, size_t len, int head)
{
	struct text t = {0};
	struct hwrite *w;
	unsigned n = 1;
	tprintf(&t,
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
		code, reason, ctype, len, extra ? extra : "");
	if (t.failed || c->closing) {
		free(t.p);
		free(owned);
		if (!c->closing)
			hconn_close(c);
		return;
	}
	w = malloc(sizeof *w + t.len + (head || owned ? 0 : len));
	if (w == NULL) {
		free(t.p);
		free(owned);
		hconn_close(c);
		return;
	}
	w->c = c;
	w->owned = owned;
	w->owned_len = owned ? len : 0;
	memcpy(w->head, t.p, t.len);
	free(t.p);
	w->bufs[0] = uv_buf_init(w->head, (unsigned)t.len);
	if (!head && len) {
		if (!owned)
			memcpy(w->head + t.len, body, len);
		w->bufs[1] =
		    uv_buf_init(owned ? owned : w->head + t.len, (unsigned)len);
		n = 2;
	}
	uv_read_stop(c->stream);
	c->writing = 1;
	c->write_ms = uv_now(c->h->s->loop);
	if (uv_write(&w->req, c->stream, w->bufs, n, on_written) != 0) {
		free(w->owned);
		free(w);
		hconn_close(c);
	}
}

void http_respond(struct hconn *c, int code, const char *reason,
		  const char *ctype, const char *extra, const char *body,
		  size_t len, int head)
{
	send_answer(c, code, reason, ctype, extra, body, NULL, len, head);
}

void http_respond_owned(struct hconn *c, int code, const char *reason,
			const char *ctype, const char *extra, char *body,
			size_t len, int head)
{
	send_answer(c, code, reason, ctype, extra, NULL, body, len, head);
}

static void respond(struct hconn *c, int code, const char *reason,
		    const char *ctype, const char *body, size_t len, int head)
{
	http_respond(c, code, reason, ctype, NULL, body, len, head);
}

static void respond_text(struct hconn *c, int code, const char *reason,
			 const char *text, int head)
{
	respond(c, code, reason, "text/plain; charset=utf-8", text,
		strlen(text), head);
}

/* /readyz: 200 when cluster_ready() says so, 503 with the reason
 * otherwise; JSON either way. */
static void readyz(struct hconn *c, int head)
{
	struct node_status ns;
	const Synod__Wire__NodeStatusResponse *m = &ns.m;
	char why[160], *body;
	int ready;
	json_t *j;
	cluster_node_status(c->h->s, 0, &ns);
	ready = cluster_ready_of(m, why, sizeof why);
	j = json_pack("{s:b,s:s?,s:I,s:s,s:I,s:I,s:I}", "ready", ready,
		      "reason", ready ? NULL : why, "node_id",
		      (json_int_t)m->node_id, "role", m->role ? m->role : "",
		      "leader_id", (json_int_t)m->leader_id, "commit_index",
		      (json_int_t)m->commit_index, "applied_index",
		      (json_int_t)m->applied_index);
	cluster_node_status_free(&ns);
	body = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(j);
	if (body == NULL) {
		respond_text(c, 500, "Internal Server Error", "out of memory\n",
			     head);
		return;
	}
	http_respond(c, ready ? 200 : 503, ready ? "OK" : "Service Unavailable",
		     "application/json", NULL, body, strlen(body), head);
	free(body);
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct hconn *c = p->data;
	if (c->url_len + len >= sizeof c->url) {
		c->url_too_long = 1;
		return 0;
	}
	memcpy(c->url + c->url_len, at, len);
	c->url_len += len;
	c->url[c->url_len] = '\0';
	return 0;
}

static int on_complete(http_parser *p)
{
	struct hconn *c = p->data;
	c->complete = 1;
	return 1; /* stop: one request per connection */
}

static void route(struct hconn *c)
{
	int head = c->parser.method == HTTP_HEAD;
	char path[1024];
	size_t n;
	c->h->requests++;
	if (c->url_too_long) {
		respond_text(c, 414, "URI Too Long", "URI too long\n", head);
		return;
	}
	n = strcspn(c->url, "?");
	snprintf(path, sizeof path, "%.*s", (int)n, c->url);
	if (c->parser.method != HTTP_GET && !head &&
	    !(c->parser.method == HTTP_POST &&
	      strcmp(path, "/v1/query") == 0)) {
		respond_text(c, 405, "Method Not Allowed",
			     "only GET and HEAD (and POST /v1/query)\n", 0);
		return;
	}
	/* Over HTTPS with authorization on: /healthz for any certified
	 * client (probes), the rest for principals that may read. */
	if (c->tls && strcmp(path, "/healthz") != 0) {
		char why[512], text[560];
		if (srv_principal_may(c->h->s, c->principal, ACL_READ, why,
				      sizeof why) != 0) {
			snprintf(text, sizeof text,
				 "AUTHORIZATION_FAILED: %s\n", why);
			respond_text(c, 403, "Forbidden", text, head);
			return;
		}
	}
	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
		http_respond(
		    c, 200, "OK", "text/html; charset=utf-8",
		    "Content-Security-Policy: default-src 'self'; script-src "
		    "'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
		    "connect-src 'self'; frame-ancestors 'none'\r\n"
		    "X-Content-Type-Options: nosniff\r\n",
		    (const char *)synod_dashboard_html,
		    synod_dashboard_html_len, head);
	} else if (strcmp(path, "/healthz") == 0) {
		respond_text(c, 200, "OK", "ok\n", head);
	} else if (strcmp(path, "/readyz") == 0) {
		readyz(c, head);
	} else if (strcmp(path, "/metrics") == 0) {
		struct http *h = c->h;
		struct text t = {0};
		char *text = http_metrics_text(h->s);
		if (text != NULL) {
			t.p = text;
			t.len = strlen(text);
			t.cap = t.len + 1;
			static const char *const why[] = {"refused", "evicted",
							  "timeout"};
			const uint64_t n[] = {h->refused, h->evicted,
					      h->timed_out};
			metric(&t, "synod_http_requests_total", "counter",
			       "HTTP requests received.", (double)h->requests);
			counter_by(&t, "synod_http_connections_closed_total",
				   "HTTP connections refused (at the limit, "
				   "none to evict), evicted (the idlest, to "
				   "admit a new one) or timed out.",
				   "reason", why, n, 3);
		}
		if (text == NULL || t.failed) {
			free(t.p);
			respond_text(c, 500, "Internal Server Error",
				     "out of memory\n", head);
			return;
		}
		http_respond_owned(c, 200, "OK", "text/plain; version=0.0.4",
				   NULL, t.p, t.len, head);
	} else if (strncmp(path, "/v1/", 4) == 0) {
		http_api_route(c, (int)c->parser.method, path,
			       c->url[n] == '?' ? c->url + n + 1 : "");
	} else {
		respond_text(c, 404, "Not Found",
			     "not found (try /healthz, /readyz, /metrics, "
			     "/v1/quorum)\n",
			     head);
	}
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct hconn *c = p->data;
	/* The whole request is bounded by HTTP_MAX_REQUEST (on_read). */
	if (c->body_len + len >= sizeof c->body)
		return 1;
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	c->body[c->body_len] = '\0';
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct hconn *c = p->data;
	c->headers_done = 1;
	/* A declared body that cannot fit: answer before reading it. */
	if (p->content_length != ULLONG_MAX &&
	    p->content_length >= sizeof c->body)
		c->body_too_big = 1;
	return 0;
}

static const http_parser_settings parser_settings = {
    .on_headers_complete = on_headers_complete,
    .on_url = on_url,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

static void on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *buf)
{
	struct hconn *c = handle->data;
	(void)hint;
	buf->base = c->rbuf;
	buf->len = sizeof c->rbuf;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	struct hconn *c = stream->data;
	size_t used;
	if (n < 0) {
		hconn_close(c);
		return;
	}
	if (n == 0 || c->complete)
		return;
	c->bytes += (size_t)n;
	if (c->bytes > HTTP_MAX_REQUEST) {
		if (c->headers_done)
			respond_text(c, 413, "Content Too Large",
				     "request body above 16 KiB\n", 0);
		else
			respond_text(c, 431, "Request Header Fields Too Large",
				     "request headers above 16 KiB\n", 0);
		return;
	}
	used = http_parser_execute(&c->parser, &parser_settings, buf->base,
				   (size_t)n);
	if (c->body_too_big) {
		respond_text(c, 413, "Content Too Large",
			     "request body above 16 KiB\n", 0);
		return;
	}
	if (c->complete) {
		route(c);
		return;
	}
	if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || used != (size_t)n)
		respond_text(c, 400, "Bad Request", "bad request\n", 0);
}

static void begin(struct hconn *c, uv_stream_t *stream, int raft_heap)
{
	c->stream = stream;
	c->stream_raft = raft_heap;
	stream->data = c;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	if (uv_read_start(stream, on_alloc, on_read) != 0)
		hconn_close(c);
}

static void relay_done(void *arg, uv_stream_t *plain, int status,
		       const char *err, const char *principal)
{
	struct hconn *c = arg;
	c->relay = NULL;
	if (c->closing) { /* canceled by hconn_close (already unlinked) */
		free(c);
		return;
	}
	if (status != 0) {
		log_warn("http: %s", err);
		c->closing = 1;
		if (c->prev)
			c->prev->next = c->next;
		else
			c->h->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->h->n_conns--;
		free(c);
		return;
	}
	c->tls = 1;
	snprintf(c->principal, sizeof c->principal, "%s",
		 principal ? principal : "");
	begin(c, plain, 1);
}

/* At the connection limit: the connection that has waited longest for
 * its request to arrive (an idle or slow client) makes room, so a flood
 * of idle connections cannot lock out a scrape. NULL when every
 * connection is being answered. */
static struct hconn *evictable(struct http *h)
{
	struct hconn *old = NULL;
	for (struct hconn *c = h->conns; c; c = c->next)
		if (!c->complete && !c->closing &&
		    (old == NULL || c->start_ms < old->start_ms))
			old = c;
	return old;
}

static void on_connection(uv_stream_t *l, int status)
{
	struct http *h = l->data;
	struct server *s = h->s;
	struct hconn *c;
	uv_tcp_t *tcp;
	if (status < 0 || h->closing)
		return;
	tcp = s->tls ? raft_malloc(sizeof *tcp) : malloc(sizeof *tcp);
	if (tcp == NULL) {
		if (!h->accept_later)
			log_warn("http: out of memory for a new connection; "
				 "it waits (tried again every second)");
		h->accept_later = 1;
		return;
	}
	h->accept_later = 0;
	uv_tcp_init(s->loop, tcp);
	if (h->n_conns >= HTTP_MAX_CONNS) {
		struct hconn *old = evictable(h);
		if (old) {
			h->evicted++;
			hconn_close(old);
		}
	}
	if (uv_accept(l, (uv_stream_t *)tcp) != 0 ||
	    h->n_conns >= HTTP_MAX_CONNS ||
	    (c = calloc(1, sizeof *c)) == NULL) {
		h->refused++;
		tcp->data = NULL;
		uv_close((uv_handle_t *)tcp,
			 s->tls ? free_raft_handle : free_handle);
		return;
	}
	c->h = h;
	c->start_ms = uv_now(s->loop);
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->n_conns++;
	if (s->tls) {
		if (tls_relay_start(s->loop, s->tls, 1, (uv_stream_t *)tcp,
				    NULL,
				    s->node->cfg->tls_handshake_timeout_ms,
				    relay_done, c, &c->relay) != 0) {
			c->relay = NULL;
			c->stream = (uv_stream_t *)tcp;
			c->stream_raft = 1;
			tcp->data = c;
			hconn_close(c);
		}
		return;
	}
	begin(c, (uv_stream_t *)tcp, 0);
}

/* Close connections that took too long to send their request
 * (slowloris), or to take their answer (a client that does not read);
 * then offer again a connection that found no memory (after the walk: its
 * admission may close, and free, a connection). */
static void on_sweep(uv_timer_t *t)
{
	struct http *h = t->data;
	uint64_t now = uv_now(h->s->loop);
	uint64_t limit = h->s->node->cfg->http_request_timeout_ms;
	struct hconn *c = h->conns, *next;
	for (; c; c = next) {
		next = c->next;
		if ((!c->complete && now - c->start_ms >= limit) ||
		    (c->writing && now - c->write_ms >= limit)) {
			h->timed_out++;
			hconn_close(c);
		}
	}
	if (h->accept_later)
		on_connection((uv_stream_t *)&h->listener, 0);
}

/* ---- the module: the server's close closes the listener ---- */

void http_maybe_free(struct http *h)
{
	if (h->closing && h->handles == 0 && h->ops == 0)
		free(h);
}

static void on_handle_closed(uv_handle_t *handle)
{
	struct http *h = handle->data;
	h->handles--;
	http_maybe_free(h);
}

static void mod_close(void *self)
{
	struct http *h = self;
	h->closing = 1;
	while (h->conns)
		hconn_close(h->conns);
	http_api_close(h);
	uv_close((uv_handle_t *)&h->listener, on_handle_closed);
	uv_close((uv_handle_t *)&h->sweep, on_handle_closed);
	uv_close((uv_handle_t *)&h->idle, on_handle_closed);
}

int http_start(struct server *s, const char *address)
{
	struct http *h;
	struct module m;
	h = calloc(1, sizeof *h);
	if (h == NULL) {
		snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
		return -1;
	}
	h->s = s;
	forwarder_init(&h->fwd, s, HTTP_FORWARD_TIMEOUT_MS);
	uv_tcp_init(s->loop, &h->listener);
	h->listener.data = h;
	uv_timer_init(s->loop, &h->sweep);
	h->sweep.data = h;
	uv_idle_init(s->loop, &h->idle);
	h->idle.data = h;
	h->handles = 3;
	json_object_seed(0); /* before any JSON is built off the loop */
	if (srv_tcp_listen(s, &h->listener, "http_address", address, 128,
			   on_connection) != 0) {
		h->closing = 1;
		uv_close((uv_handle_t *)&h->listener, on_handle_closed);
		uv_close((uv_handle_t *)&h->sweep, on_handle_closed);
		uv_close((uv_handle_t *)&h->idle, on_handle_closed);
		return -1;
	}
	uv_timer_start(&h->sweep, on_sweep, 1000, 1000);
	{
		char where[80];
		srv_bound_name(&h->listener, where, sizeof where);
		log_info("http: serving /healthz /readyz /metrics /v1 on %s%s",
			 where,
			 s->tls ? " (HTTPS, client certificates of the CA)"
				: "");
	}
	memset(&m, 0, sizeof m);
	m.name = "http";
	m.self = h;
	m.close = mod_close;
	if (server_register(s, &m) != 0) {
		mod_close(h);
		return -1;
	}
	return 0;
}
