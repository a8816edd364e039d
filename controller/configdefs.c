/* controller/configdefs.c - config key table and validation. */
#include "configdefs.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct limits {
	const char *key;
	long long min, max;	    /* integers */
	const char *const *choices; /* enum / list members */
};

static const char *const cleanup_choices[] = {"delete", "compact", NULL};
static const char *const compression_choices[] = {
    "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd", NULL};
static const char *const timestamp_choices[] = {"CreateTime", "LogAppendTime",
						NULL};

static const char *const assignor_choices[] = {"uniform", "range", NULL};
static const char *const log_level_choices[] = {"node", "error", "warn",
						"info", "debug", NULL};

static const char *const role_choices[] = {
    "none", "reader", "consumer", "broker", "operator", "admin", NULL};

/* Where a key may be set. */
#define C CONFIG_SCOPE_CLUSTER
#define CT (CONFIG_SCOPE_CLUSTER | CONFIG_SCOPE_TOPIC)
#define G CONFIG_SCOPE_GROUP
#define P CONFIG_SCOPE_PRINCIPAL

static const struct configdef defs[] = {
    {"cleanup.policy", "list", "delete", CT,
     "delete and/or compact old segments"},
    {"compression.type", "enum", "producer", CT, "final compression codec"},
    {"delete.retention.ms", "long", "86400000", CT,
     "how long delete tombstones are kept"},
    {"max.message.bytes", "int", "1048588", CT, "largest record batch"},
    {"message.timestamp.type", "enum", "CreateTime", CT,
     "which timestamp records carry"},
    {"min.cleanable.dirty.ratio", "double", "0.5", CT,
     "dirty ratio that triggers compaction"},
    {"min.insync.replicas", "int", "1", CT,
     "replicas that must acknowledge acks=all writes"},
    {"retention.bytes", "long", "-1", CT,
     "size limit per partition (-1: none)"},
    {"retention.ms", "long", "604800000", CT, "time limit (-1: none)"},
    {"segment.bytes", "int", "1073741824", CT, "log segment size"},
    {"segment.ms", "long", "604800000", CT, "time before a segment rolls"},
    {"unclean.leader.election.enable", "bool", "false", CT,
     "elect a leader outside the ISR when no ISR member is alive"},
    {"broker.heartbeat.interval.ms", "int", "2000", C,
     "how often brokers heartbeat (told in every answer)"},
    {"broker.session.timeout.ms", "int", "9000", C,
     "silence after which a broker is fenced"},
    {"auto.leader.rebalance.enable", "bool", "true", C,
     "move leadership back to preferred replicas automatically"},
    {"default.replication.factor", "int", "3", C,
     "replication factor of topics created without one"},
    {"leader.imbalance.check.interval.seconds", "long", "300", C,
     "how often leader imbalance is checked"},
    {"leader.imbalance.percentage", "int", "10", C,
     "imbalance that triggers a preferred leader election"},
    {"num.partitions", "int", "1", C,
     "partition count of topics created without one"},
    {"max.partitions.per.request", "int", "5000", C,
     "partitions one CreateTopics or CreatePartitions request may create "
     "(a request commits as one raft entry)"},
    /* Consumer groups (KIP-848's names and defaults; docs/groups.md). */
    {"group.consumer.session.timeout.ms", "int", "45000", C,
     "silence after which a consumer group member is fenced"},
    {"group.consumer.heartbeat.interval.ms", "int", "5000", C,
     "how often members heartbeat (told in every answer)"},
    {"group.consumer.min.session.timeout.ms", "int", "45000", C,
     "lowest session timeout a group may use"},
    {"group.consumer.max.session.timeout.ms", "int", "60000", C,
     "highest session timeout a group may use"},
    {"group.consumer.min.heartbeat.interval.ms", "int", "5000", C,
     "lowest heartbeat interval a group may use"},
    {"group.consumer.max.heartbeat.interval.ms", "int", "15000", C,
     "highest heartbeat interval a group may use"},
    {"group.consumer.max.size", "int", "2147483647", C,
     "members one consumer group may have"},
    {"log.level", "enum", "node", C,
     "every node's log level (error, warn, info, debug), or node: each "
     "node's own log_level (config file, flag, SIGHUP)"},
    {"group.consumer.assignors", "list", "uniform,range", C,
     "server assignors members may ask for; the first is the default"},
    /* Per-group overrides (group scope only), within the cluster's
     * group.consumer.min/max bounds. */
    {"consumer.session.timeout.ms", "int", "45000", G,
     "this group's session timeout (default: "
     "group.consumer.session.timeout.ms)"},
    {"consumer.heartbeat.interval.ms", "int", "5000", G,
     "this group's heartbeat interval (default: "
     "group.consumer.heartbeat.interval.ms)"},
    /* Grants of a TLS principal (principal scope; docs/security.md). */
    {"role", "enum", "none", P,
     "what the principal may do: reader, consumer, broker, operator, "
     "admin"},
    {"broker.id", "int", "-1", P,
     "the one broker id a principal of role broker speaks for"},
    {"groups", "patterns", "", P,
     "consumer groups a principal of role consumer may join: ids, or "
     "prefixes ending in '*'"},
    {NULL, NULL, NULL, 0, NULL},
};

#undef C
#undef CT
#undef G
#undef P

static const struct limits limits[] = {
    {"cleanup.policy", 0, 0, cleanup_choices},
    {"compression.type", 0, 0, compression_choices},
    {"delete.retention.ms", 0, INT64_MAX, NULL},
    {"max.message.bytes", 0, INT32_MAX, NULL},
    {"message.timestamp.type", 0, 0, timestamp_choices},
    {"min.insync.replicas", 1, INT32_MAX, NULL},
    {"retention.bytes", -1, INT64_MAX, NULL},
    {"retention.ms", -1, INT64_MAX, NULL},
    {"segment.bytes", 14, INT32_MAX, NULL},
    {"segment.ms", 1, INT64_MAX, NULL},
    {"broker.heartbeat.interval.ms", 10, 3600000, NULL},
    {"broker.session.timeout.ms", 100, 3600000, NULL},
    {"default.replication.factor", 1, 32767, NULL},
    {"leader.imbalance.check.interval.seconds", 1, INT64_MAX, NULL},
    {"leader.imbalance.percentage", 0, 100, NULL},
    {"num.partitions", 1, 1000000, NULL},
    {"max.partitions.per.request", 1, 1000000, NULL},
    {"group.consumer.session.timeout.ms", 1, INT32_MAX, NULL},
    {"group.consumer.heartbeat.interval.ms", 1, INT32_MAX, NULL},
    {"group.consumer.min.session.timeout.ms", 1, INT32_MAX, NULL},
    {"group.consumer.max.session.timeout.ms", 1, INT32_MAX, NULL},
    {"group.consumer.min.heartbeat.interval.ms", 1, INT32_MAX, NULL},
    {"group.consumer.max.heartbeat.interval.ms", 1, INT32_MAX, NULL},
    {"group.consumer.max.size", 1, INT32_MAX, NULL},
    {"group.consumer.assignors", 0, 0, assignor_choices},
    {"log.level", 0, 0, log_level_choices},
    {"consumer.session.timeout.ms", 1, INT32_MAX, NULL},
    {"consumer.heartbeat.interval.ms", 1, INT32_MAX, NULL},
    {"role", 0, 0, role_choices},
    {"broker.id", -1, INT32_MAX, NULL},
    {NULL, 0, 0, NULL},
};

const struct configdef *configdefs(void)
{
	return defs;
}

const struct configdef *configdef_find(const char *key)
{
	for (const struct configdef *d = defs; d->key; d++)
		if (strcmp(d->key, key) == 0)
			return d;
	return NULL;
}

static const struct limits *limits_find(const char *key)
{
	for (const struct limits *l = limits; l->key; l++)
		if (strcmp(l->key, key) == 0)
			return l;
	return NULL;
}

static int in_choices(const char *const *choices, const char *v, size_t n)
{
	for (; *choices; choices++)
		if (strlen(*choices) == n && strncmp(*choices, v, n) == 0)
			return 1;
	return 0;
}

const char *configdef_scopes(const struct configdef *d)
{
	static const char *const names[8] = {
	    "none",  "cluster",	      "topic",	     "cluster,topic",
	    "group", "cluster,group", "topic,group", "cluster,topic,group"};
	if (d->scopes == CONFIG_SCOPE_PRINCIPAL)
		return "principal";
	return names[d->scopes & 7u];
}

int configdef_scope_check(const struct configdef *d, unsigned scope, char *err,
			  size_t err_size)
{
	if (scope > 3) {
		snprintf(err, err_size, "unknown scope %u", scope);
		return -1;
	}
	if (!(d->scopes & (1u << scope))) {
		snprintf(err, err_size, "'%s' can only be set at %s scope",
			 d->key, configdef_scopes(d));
		return -1;
	}
	return 0;
}

int configdef_validate(unsigned scope, const char *key, const char *value,
		       char *err, size_t err_size)
{
	const struct configdef *d = configdef_find(key);
	const struct limits *l;
	if (d == NULL) {
		snprintf(err, err_size, "unknown config key '%s'", key);
		return -1;
	}
	if (configdef_scope_check(d, scope, err, err_size) != 0)
		return -1;
	if (strlen(value) > 1024) {
		snprintf(err, err_size, "value of '%s' is too long", key);
		return -1;
	}
	l = limits_find(key);
	if (strcmp(d->type, "bool") == 0) {
		if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
			goto bad;
		return 0;
	}
	if (strcmp(d->type, "long") == 0 || strcmp(d->type, "int") == 0) {
		char *end;
		long long x;
		errno = 0;
		x = strtoll(value, &end, 10);
		if (!(value[0] == '-' ||
		      (value[0] >= '0' && value[0] <= '9')) ||
		    *end != '\0' || errno != 0 || x < l->min || x > l->max) {
			snprintf(err, err_size,
				 "'%s' must be an integer in [%lld, %lld], "
				 "not '%s'",
				 key, l->min, l->max, value);
			return -1;
		}
		return 0;
	}
	if (strcmp(d->type, "double") == 0) {
		char *end;
		double x;
		errno = 0;
		x = strtod(value, &end);
		if (!(value[0] == '.' ||
		      (value[0] >= '0' && value[0] <= '9')) ||
		    *end != '\0' || errno != 0 || !isfinite(x) || x < 0.0 ||
		    x > 1.0) {
			snprintf(err, err_size,
				 "'%s' must be a number in [0, 1], not '%s'",
				 key, value);
			return -1;
		}
		return 0;
	}
	if (strcmp(d->type, "patterns") == 0) {
		/* "" (none), or ids / prefixes* separated by commas. */
		const char *p = value;
		while (*p) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			if (n == 0 || n > GROUP_ID_MAX_BYTES)
				goto bad;
			for (size_t i = 0; i + 1 < n; i++)
				if (p[i] == '*')
					goto bad; /* only a trailing '*' */
			p += n;
			if (*p == ',' && *++p == '\0')
				goto bad;
		}
		return 0;
	}
	if (strcmp(d->type, "enum") == 0) {
		if (!in_choices(l->choices, value, strlen(value)))
			goto bad;
		return 0;
	}
	if (strcmp(d->type, "list") == 0) {
		const char *p = value;
		if (*p == '\0')
			goto bad;
		while (*p) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			if (!in_choices(l->choices, p, n))
				goto bad;
			p += n;
			if (*p == ',') {
				p++;
				if (*p == '\0')
					goto bad;
			}
		}
		return 0;
	}
bad:
	if (l && l->choices) {
		char list[256] = "";
		for (const char *const *c = l->choices; *c; c++) {
			strncat(list, *c, sizeof list - strlen(list) - 1);
			if (c[1])
				strncat(list, ", ",
					sizeof list - strlen(list) - 1);
		}
		snprintf(err, err_size, "'%s' must be %s of: %s; not '%s'", key,
			 strcmp(d->type, "list") == 0 ? "a list" : "one", list,
			 value);
	} else {
		snprintf(err, err_size, "'%s' must be true or false, not '%s'",
			 key, value);
	}
	return -1;
}

int group_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	return n >= 1 && n <= GROUP_ID_MAX_BYTES;
}

int topic_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 249 || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return 0;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			return 0;
	return 1;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* names_duplicates and names_repeated: a hash set of the first copy of
 * each name (its index + 1); every_copy marks that first copy too. */
static long mark_names(const char *const *names, size_t n, unsigned char *dup,
		       int every_copy)
{
	size_t cap = 16, i;
	size_t *slots; /* index + 1 of a name's first copy; 0 empty */
	long count = 0;
	while (cap < 2 * n)
		cap *= 2;
	if ((slots = calloc(cap, sizeof *slots)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		size_t k = (size_t)name_hash(names[i]) & (cap - 1);
		while (slots[k] && strcmp(names[slots[k] - 1], names[i]) != 0)
			k = (k + 1) & (cap - 1);
		dup[i] = slots[k] != 0;
		if (slots[k]) {
			count++;
			if (every_copy)
				dup[slots[k] - 1] = 1;
		} else {
			slots[k] = i + 1;
		}
	}
	free(slots);
	return count;
}

long names_duplicates(const char *const *names, size_t n, unsigned char *dup)
{
	return mark_names(names, n, dup, 0);
}

long names_repeated(const char *const *names, size_t n, unsigned char *dup)
{
	return mark_names(names, n, dup, 1);
}

int principal_name_valid(const char *name)
{
	size_t n = 0;
	if (name == NULL)
		return 0;
	for (; name[n]; n++)
		if ((unsigned char)name[n] < 0x20 || name[n] == 0x7f)
			return 0;
	return n >= 1 && n <= 255;
}
