/* controller/configdefs.h - the dynamic config keys Synod accepts, their
 * types, ranges and defaults, and name rules. Pure functions, no state.
 *
 * Topic-scope keys may also be set at cluster scope, where they are the
 * defaults of every topic. Cluster-only keys are refused at topic scope.
 * Group-scope keys (consumer.*) are a consumer group's overrides of the
 * cluster's group.consumer.* keys.
 */
#ifndef SYNOD_CONFIGDEFS_H
#define SYNOD_CONFIGDEFS_H

#include <stddef.h>

/* Bits of configdef.scopes: 1 << the wire scope number. */
enum {
	CONFIG_SCOPE_CLUSTER = 1u << 0,
	CONFIG_SCOPE_TOPIC = 1u << 1,
	CONFIG_SCOPE_GROUP = 1u << 2,
	CONFIG_SCOPE_PRINCIPAL = 1u << 3 /* a TLS principal's grants */
};

struct configdef {
	const char *key;
	const char *type; /* "long", "int", "bool", "enum", "list",
			     "double", "patterns" (comma-separated group
			     ids, each ending in '*' or not) */
	const char *default_value;
	unsigned scopes; /* CONFIG_SCOPE_* bits: where it may be set */
	const char *doc;
};

/* The table, terminated by a NULL key. */
const struct configdef *configdefs(void);
const struct configdef *configdef_find(const char *key);

/* "cluster", "cluster,topic", "group", ...: where d may be set. */
const char *configdef_scopes(const struct configdef *d);

/* A TLS principal's name as a config resource: 1-255 bytes, no
 * control characters. */
int principal_name_valid(const char *name);

/* 0 when d may be set at `scope` (0 cluster, 1 topic, 2 group, 3
 * principal);
 * otherwise -1 with a message in err. */
int configdef_scope_check(const struct configdef *d, unsigned scope, char *err,
			  size_t err_size);

/* 0 when `value` is valid for `key` at `scope` (0 cluster, 1 topic, 2 group);
 * otherwise -1 with a message in err. */
int configdef_validate(unsigned scope, const char *key, const char *value,
		       char *err, size_t err_size);

/* A consumer group id: 1-255 bytes (any bytes but NUL). */
#define GROUP_ID_MAX_BYTES 255u
int group_id_valid(const char *id);

/* Kafka's topic name rule: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
int topic_name_valid(const char *name);

/* dup[i] = 1 when names[i] repeats an earlier name, else 0. Returns how
 * many repeat, or -1 when out of memory. Expected O(n) (a hash set). */
long names_duplicates(const char *const *names, size_t n, unsigned char *dup);

/* The same, with the first copy of a repeated name marked too (Kafka
 * refuses every copy and serves the rest). */
long names_repeated(const char *const *names, size_t n, unsigned char *dup);

/* Names one DeleteTopics or DescribeTopics request may carry. */
#define MAX_NAMES_PER_REQUEST 10000u

#endif
