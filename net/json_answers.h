/* net/json_answers.h - the JSON of the client protocol's answers: one
 * encoder for `synodctl --json` and the nodes' HTTP API (/v1/...,
 * docs/operations.md "JSON API"), so both print the same document for the
 * same question.
 *
 * Each function builds a new jansson value from decoded answers (the
 * caller owns the result: json_decref); the answers are only read. NULL
 * only when out of memory.
 */
#ifndef SYNOD_JSON_ANSWERS_H
#define SYNOD_JSON_ANSWERS_H

#include <jansson.h>
#include <stddef.h>

#include "synod.pb-c.h"

/* {"error": "NOT_CONTROLLER", "code": 3, "message": "..."} */
json_t *ja_error(int code, const char *message);

/* A 16-byte id as 8-4-4-4-12 hex (out: 37 bytes). */
void ja_uuid(const ProtobufCBinaryData *id, char out[37]);

/* ---- configs ---- */
const char *ja_scope_name(unsigned scope);
json_t *ja_config_entry(const Synod__Wire__ConfigEntry *e);
/* {"configs": [...], "metadata_version": N} */
json_t *ja_config_list(const Synod__Wire__ConfigListResponse *r);

/* ---- brokers ---- */
json_t *ja_broker(const Synod__Wire__BrokerInfo *b);
/* {"brokers": [...], "metadata_version": N}; with `one` and exactly one
 * broker, that broker's object (`broker describe ID`). */
json_t *ja_broker_list(const Synod__Wire__BrokerListResponse *r, int one);

/* ---- topics and partitions ---- */

/* A DESCRIBE_TOPICS answer gathered from its pages: `merged` points into
 * the pages (a topic continued on the next page is one topic here), its
 * topics sorted by name. The pages are the gatherer's (freed by
 * ja_described_free). */
struct ja_described {
	Synod__Wire__DescribeTopicsResponse **pages;
	size_t n_pages;
	Synod__Wire__DescribeTopicsResponse merged;
	Synod__Wire__TopicDescription *tds;
	Synod__Wire__TopicDescription **tdp;
};
/* Take a decoded page (owned by d from then on, even on failure). */
int ja_described_add(struct ja_described *d,
		     Synod__Wire__DescribeTopicsResponse *page);
/* Merge the pages into d->merged: 0, or -1 when out of memory. */
int ja_described_merge(struct ja_described *d);
void ja_described_free(struct ja_described *d);

/* The topic and partition lists as JSON text, written piece by piece
 * without building a jansson tree (a million partitions cost their text,
 * not a tree ten times its size), in jansson's layout (json_dumps with
 * JSON_INDENT(2) | JSON_PRESERVE_ORDER; test_json_answers checks the bytes
 * against jansson's), and a newline:
 * - ja_topics_write: `topic list` (list: topic, topic_id,
 *   partition_count, configs) and `topic describe` (and partitions):
 *   {"topics": [...]}, or the topic's object when `one` and exactly one;
 * - ja_partitions_write: `partition list`: {"partitions": [...]}, each
 *   with its topic, partition, leader, leader_epoch, partition_epoch,
 *   replicas, isr.
 * write(arg, text, len) gets pieces of up to 64 KiB and returns 0, or -1
 * to stop. 0, or -1 when a write failed. */
typedef int (*ja_write_fn)(void *arg, const char *text, size_t len);
int ja_topics_write(const Synod__Wire__DescribeTopicsResponse *r, int list,
		    int one, ja_write_fn write, void *arg);
int ja_partitions_write(const Synod__Wire__DescribeTopicsResponse *r,
			ja_write_fn write, void *arg);

/* ---- consumer groups ---- */
json_t *ja_group_list(const Synod__Wire__GroupListResponse *r);
json_t *ja_group(const Synod__Wire__GroupDescription *d);
/* `group describe`: the group's object when one was asked and one
 * answered, else an array. */
json_t *ja_group_describe(const Synod__Wire__GroupDescribeResponse *r,
			  size_t asked);

/* ---- read-only SQL ---- */
/* {"columns": [...], "rows": [[...], ...], "truncated": null or why,
 * "metadata_version": N, "node_id": N, "elapsed_ms": N}; a blob cell is
 * the string "x'0a0b...'" (hex, as an SQL literal). */
json_t *ja_query(const Synod__Wire__QueryResponse *r);

/* ---- the quorum ---- */

/* What asking one node for its NODE_STATUS gave: rv SYNOD_OK with the
 * answer, or the client error. */
struct ja_probe {
	int rv;
	const Synod__Wire__NodeStatusResponse *resp;
};
/* `quorum status`: md's nodes with probes[i] for md->nodes[i], and
 * "health" (topics, partitions offline, under-replicated, not on their
 * preferred leader, brokers by state) from the leader's answer, else the
 * most advanced reachable node's (null when none answered). *leader (may
 * be NULL) gets the probe answer of the leader seen (NULL: none). */
json_t *ja_quorum(const Synod__Wire__MetadataResponse *md,
		  const struct ja_probe *probes, int with_digest,
		  const Synod__Wire__NodeStatusResponse **leader);

#endif
