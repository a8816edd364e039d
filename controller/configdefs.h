/* controller/configdefs.h - the dynamic config keys Synod accepts, their
 * types, ranges and defaults, and name rules. Pure functions, no state.
 *
 * Topic-scope keys may also be set at cluster scope, where they are the
 * defaults of every topic. Cluster-only keys are refused at topic scope.
 */
#ifndef SYNOD_CONFIGDEFS_H
#define SYNOD_CONFIGDEFS_H

#include <stddef.h>

struct configdef {
	const char *key;
	const char *type; /* "long", "int", "bool", "enum", "list",
			     "double" */
	const char *default_value;
	int topic_scope; /* 1: valid at topic scope too */
	const char *doc;
};

/* The table, terminated by a NULL key. */
const struct configdef *configdefs(void);
const struct configdef *configdef_find(const char *key);

/* 0 when `value` is valid for `key` at `scope` (0 cluster, 1 topic);
 * otherwise -1 with a message in err. */
int configdef_validate(unsigned scope, const char *key, const char *value,
		       char *err, size_t err_size);

/* Kafka's topic name rule: 1-249 of [a-zA-Z0-9._-], not "." or "..". */
int topic_name_valid(const char *name);

/* dup[i] = 1 when names[i] repeats an earlier name, else 0. Returns how
 * many repeat, or -1 when out of memory. Expected O(n) (a hash set). */
long names_duplicates(const char *const *names, size_t n, unsigned char *dup);

/* Names one DeleteTopics or DescribeTopics request may carry. */
#define MAX_NAMES_PER_REQUEST 10000u

#endif
