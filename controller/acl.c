/* controller/acl.c - roles and operation classes (see acl.h). */
#include "acl.h"

#include <stdio.h>
#include <string.h>

static const char *const role_names[] = {
    [ACL_ROLE_NONE] = "none",	      [ACL_ROLE_READER] = "reader",
    [ACL_ROLE_CONSUMER] = "consumer", [ACL_ROLE_BROKER] = "broker",
    [ACL_ROLE_OPERATOR] = "operator", [ACL_ROLE_ADMIN] = "admin",
};

static const char *const op_names[] = {
    [ACL_ADMIN] = "administer the quorum and grants",
    [ACL_CONNECT] = "connect",
    [ACL_READ] = "read",
    [ACL_WRITE] = "change topics, configs or groups",
    [ACL_BROKER] = "speak for a broker",
    [ACL_CONSUMER] = "join a consumer group",
};

const char *acl_role_name(enum acl_role r)
{
	return (unsigned)r <= ACL_ROLE_ADMIN ? role_names[r] : "?";
}

const char *acl_op_name(enum acl_op op)
{
	return (unsigned)op <= ACL_CONSUMER ? op_names[op] : "?";
}

int acl_role_parse(const char *name, enum acl_role *out)
{
	for (unsigned r = 0; r <= ACL_ROLE_ADMIN; r++)
		if (name && strcmp(name, role_names[r]) == 0) {
			*out = (enum acl_role)r;
			return 0;
		}
	return -1;
}

/* Does the item p[0..n) of a list match name (exactly, or as a prefix
 * when it ends in '*')? */
static int item_match(const char *p, size_t n, const char *name)
{
	if (n > 0 && p[n - 1] == '*')
		return strncmp(p, name, n - 1) == 0;
	return strlen(name) == n && strncmp(p, name, n) == 0;
}

int acl_group_match(const char *patterns, const char *group)
{
	const char *p = patterns;
	if (p == NULL || group == NULL)
		return 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n > 0 && item_match(p, n, group))
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

int acl_in_list(const char *list, const char *name)
{
	const char *p = list;
	if (p == NULL || name == NULL || name[0] == '\0')
		return 0;
	while (*p) {
		size_t n = strcspn(p, ", ");
		if (n > 0 && strlen(name) == n && strncmp(p, name, n) == 0)
			return 1;
		p += n;
		p += strspn(p, ", ");
	}
	return 0;
}

int acl_decide(const struct acl_grant *g, enum acl_op op,
	       const struct acl_subject *subject, char *why, size_t size)
{
	enum acl_role r = g ? g->role : ACL_ROLE_NONE;
	if (size)
		why[0] = '\0';
	if (r == ACL_ROLE_ADMIN)
		return 0;
	if (r == ACL_ROLE_NONE) {
		snprintf(why, size, "no role granted");
		return -1;
	}
	switch (op) {
	case ACL_CONNECT:
		return 0;
	case ACL_READ:
		if (r == ACL_ROLE_READER || r == ACL_ROLE_OPERATOR)
			return 0;
		break;
	case ACL_WRITE:
		if (r == ACL_ROLE_OPERATOR)
			return 0;
		break;
	case ACL_ADMIN:
		break;
	case ACL_BROKER:
		if (r == ACL_ROLE_OPERATOR)
			return 0;
		if (r == ACL_ROLE_BROKER) {
			int64_t want = subject ? subject->broker_id : -1;
			if (g->broker_id >= 0 && want == g->broker_id)
				return 0;
			if (g->broker_id < 0)
				snprintf(why, size,
					 "role broker without a broker.id");
			else
				snprintf(why, size,
					 "role broker for broker %lld, not "
					 "%lld",
					 (long long)g->broker_id,
					 (long long)want);
			return -1;
		}
		break;
	case ACL_CONSUMER:
		if (r == ACL_ROLE_OPERATOR)
			return 0;
		if (r == ACL_ROLE_CONSUMER) {
			const char *grp = subject ? subject->group : NULL;
			if (acl_group_match(g->groups, grp))
				return 0;
			snprintf(why, size,
				 "role consumer, group '%s' not in its groups "
				 "'%s'",
				 grp ? grp : "", g->groups ? g->groups : "");
			return -1;
		}
		break;
	}
	snprintf(why, size, "role %s may not %s", acl_role_name(r),
		 acl_op_name(op));
	return -1;
}
