/* Unit tests of controller/acl.c: what each role may do, the broker-id
 * and group checks, and the list matching. The invariant: a principal
 * never gets more than its role grants (a broker speaks only for its own
 * id, a consumer joins only its groups, only admins change the quorum or
 * grants). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"

static int allowed(enum acl_role role, enum acl_op op)
{
	struct acl_grant g = {role, 3, "g-*"};
	struct acl_subject s = {3, "g-1"};
	char why[128];
	return acl_decide(&g, op, &s, why, sizeof why) == 0;
}

/* The role table of acl.h, entry by entry. */
static void test_roles(void **state)
{
	static const struct {
		enum acl_role role;
		int ops[6]; /* ADMIN CONNECT READ WRITE BROKER CONSUMER */
	} want[] = {
	    {ACL_ROLE_NONE, {0, 0, 0, 0, 0, 0}},
	    {ACL_ROLE_READER, {0, 1, 1, 0, 0, 0}},
	    {ACL_ROLE_CONSUMER, {0, 1, 0, 0, 0, 1}},
	    {ACL_ROLE_BROKER, {0, 1, 0, 0, 1, 0}},
	    {ACL_ROLE_OPERATOR, {0, 1, 1, 1, 1, 1}},
	    {ACL_ROLE_ADMIN, {1, 1, 1, 1, 1, 1}},
	};
	(void)state;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		for (int op = ACL_ADMIN; op <= ACL_CONSUMER; op++)
			if (allowed(want[i].role, (enum acl_op)op) !=
			    want[i].ops[op])
				fail_msg("role %s, op %s: got %d",
					 acl_role_name(want[i].role),
					 acl_op_name((enum acl_op)op),
					 !want[i].ops[op]);
	assert_int_equal(acl_decide(NULL, ACL_CONNECT, NULL, NULL, 0), -1);
}

static void test_broker_id(void **state)
{
	struct acl_grant g = {ACL_ROLE_BROKER, 5, NULL};
	struct acl_subject s = {5, NULL};
	char why[128];
	(void)state;
	assert_int_equal(acl_decide(&g, ACL_BROKER, &s, why, sizeof why), 0);
	s.broker_id = 6;
	assert_int_equal(acl_decide(&g, ACL_BROKER, &s, why, sizeof why), -1);
	assert_non_null(strstr(why, "broker 5, not 6"));
	s.broker_id = -1;
	assert_int_equal(acl_decide(&g, ACL_BROKER, &s, why, sizeof why), -1);
	assert_int_equal(acl_decide(&g, ACL_BROKER, NULL, why, sizeof why), -1);
	g.broker_id = -1; /* role broker without broker.id: nothing */
	s.broker_id = -1;
	assert_int_equal(acl_decide(&g, ACL_BROKER, &s, why, sizeof why), -1);
	assert_non_null(strstr(why, "without a broker.id"));
}

static void test_groups(void **state)
{
	struct acl_grant g = {ACL_ROLE_CONSUMER, -1, "orders,pay-*"};
	struct acl_subject s = {-1, "orders"};
	char why[160];
	(void)state;
	assert_int_equal(acl_decide(&g, ACL_CONSUMER, &s, why, sizeof why), 0);
	s.group = "pay-eu";
	assert_int_equal(acl_decide(&g, ACL_CONSUMER, &s, why, sizeof why), 0);
	s.group = "orders2"; /* exact ids do not match as prefixes */
	assert_int_equal(acl_decide(&g, ACL_CONSUMER, &s, why, sizeof why), -1);
	assert_non_null(strstr(why, "'orders2'"));
	s.group = "pay"; /* "pay-*" needs the dash */
	assert_int_equal(acl_decide(&g, ACL_CONSUMER, &s, why, sizeof why), -1);
	s.group = NULL;
	assert_int_equal(acl_decide(&g, ACL_CONSUMER, &s, why, sizeof why), -1);
	g.groups = "";
	s.group = "orders";
	assert_int_equal(acl_decide(&g, ACL_CONSUMER, &s, why, sizeof why), -1);
	assert_true(acl_group_match("*", "anything"));
	assert_false(acl_group_match(NULL, "x"));
}

static void test_lists_and_names(void **state)
{
	enum acl_role r = ACL_ROLE_NONE;
	(void)state;
	assert_true(acl_in_list("admin, ops-1 root", "ops-1"));
	assert_true(acl_in_list("admin,root", "root"));
	assert_false(acl_in_list("admin,root", "adm"));
	assert_false(acl_in_list("admin", ""));
	assert_false(acl_in_list(NULL, "admin"));
	for (int i = ACL_ROLE_NONE; i <= ACL_ROLE_ADMIN; i++) {
		assert_int_equal(acl_role_parse(acl_role_name(i), &r), 0);
		assert_int_equal(r, i);
	}
	assert_int_equal(acl_role_parse("root", &r), -1);
	assert_int_equal(acl_role_parse(NULL, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_broker_id),
	    cmocka_unit_test(test_groups),
	    cmocka_unit_test(test_lists_and_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
