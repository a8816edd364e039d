/* controller/acl.h - who may do what: roles, operation classes and the
 * decision, as pure functions over plain structs (no clock, no I/O). The
 * server (controller/server.c) asks acl_decide() before each request
 * when authorization is on (docs/security.md section 5); the unit tests
 * (tests/unit/test_acl.c) drive it directly.
 *
 * A principal is the subject CN of a client's verified certificate. Its
 * grant lives in the replicated state as principal-scope configs
 * (`role`, `broker.id`, `groups`), so every node decides the same;
 * principals in the node's `super_users` list are admins whatever the
 * state says.
 *
 * Every API has one operation class (the server's API table says which):
 *   CONNECT   METADATA, NODE_STATUS: any principal with a role
 *   READ      describe and list APIs, CONFIG_GET/LIST
 *   WRITE     topics, partitions, elections, configs, group admin
 *   ADMIN     quorum membership and leadership, principal-scope configs
 *   BROKER    broker registration, heartbeats, metadata fetch, ISR
 *             changes: a broker principal for its own broker id only;
 *             operators and admins too (BROKER_UNREGISTER by hand)
 *   CONSUMER  GROUP_HEARTBEAT: a consumer principal for its groups only;
 *             operators and admins too
 * Roles grant:
 *   reader    CONNECT, READ
 *   consumer  CONNECT, CONSUMER (groups matching its patterns)
 *   broker    CONNECT, BROKER (its broker.id)
 *   operator  CONNECT, READ, WRITE, BROKER, CONSUMER
 *   admin     everything
 *   none      nothing (also: no grant at all)
 */
#ifndef SYNOD_ACL_H
#define SYNOD_ACL_H

#include <stddef.h>
#include <stdint.h>

/* ACL_ADMIN is 0: an API table entry that forgets its class is admin
 * only. */
enum acl_op {
	ACL_ADMIN = 0,
	ACL_CONNECT,
	ACL_READ,
	ACL_WRITE,
	ACL_BROKER,
	ACL_CONSUMER,
};

enum acl_role {
	ACL_ROLE_NONE = 0,
	ACL_ROLE_READER,
	ACL_ROLE_CONSUMER,
	ACL_ROLE_BROKER,
	ACL_ROLE_OPERATOR,
	ACL_ROLE_ADMIN,
};

/* A principal's grant. groups: comma-separated group ids, each matching
 * exactly or, ending in '*', as a prefix ("" or NULL: none). Borrowed. */
struct acl_grant {
	enum acl_role role;
	int64_t broker_id; /* -1: none */
	const char *groups;
};

/* The request's subject, where its class needs one. */
struct acl_subject {
	int64_t broker_id; /* BROKER: the request's broker id; -1 none */
	const char *group; /* CONSUMER: the request's group id */
};

/* 0 when g allows op on subject; otherwise -1 and why (a sentence without
 * the principal's name, NUL-terminated when size > 0). subject may be
 * NULL for classes that need none. */
int acl_decide(const struct acl_grant *g, enum acl_op op,
	       const struct acl_subject *subject, char *why, size_t size);

/* "reader", ... ("none" for ACL_ROLE_NONE); acl_role_parse() is its
 * inverse: 0, or -1 for an unknown name (*out untouched). */
const char *acl_role_name(enum acl_role r);
int acl_role_parse(const char *name, enum acl_role *out);
const char *acl_op_name(enum acl_op op);

/* 1 when group matches one of the comma-separated patterns. */
int acl_group_match(const char *patterns, const char *group);

/* 1 when name is in the comma- or space-separated list. */
int acl_in_list(const char *list, const char *name);

#endif
