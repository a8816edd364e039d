/* Unit tests of controller/log.c's JSON lines (log_format = json): every
 * line is one JSON object with ts, level, node and msg, whatever the
 * message holds (quotes, backslashes, control characters). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <unistd.h>

#include "log.h"

static void test_json_lines(void **state)
{
	char path[] = "/tmp/synod-test-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	FILE *fp;
	char line[8192];
	int n = 0;
	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	log_set_level(LOG_INFO);
	log_set_json(1, 7);
	log_info("plain %d", 1);
	log_warn("quote \" backslash \\ tab \t newline \n bell \a end");
	log_debug("not shown");
	log_set_json(0, 0);
	log_info("text again");
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(fd);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof line, fp)) {
		json_error_t e;
		json_t *j;
		n++;
		if (n == 3) { /* the text line */
			assert_non_null(strstr(line, " INFO "));
			assert_non_null(strstr(line, "text again"));
			continue;
		}
		j = json_loads(line, 0, &e);
		if (j == NULL)
			fail_msg("line %d is not JSON (%s): %s", n, e.text,
				 line);
		assert_int_equal(json_integer_value(json_object_get(j, "node")),
				 7);
		assert_non_null(json_string_value(json_object_get(j, "ts")));
		if (n == 1) {
			assert_string_equal(
			    json_string_value(json_object_get(j, "level")),
			    "info");
			assert_string_equal(
			    json_string_value(json_object_get(j, "msg")),
			    "plain 1");
		} else {
			assert_string_equal(
			    json_string_value(json_object_get(j, "level")),
			    "warn");
			assert_string_equal(
			    json_string_value(json_object_get(j, "msg")),
			    "quote \" backslash \\ tab \t newline \n bell \a "
			    "end");
		}
		json_decref(j);
	}
	fclose(fp);
	unlink(path);
	assert_int_equal(n, 3);
	assert_int_equal(log_parse_format("JSON"), 1);
	assert_int_equal(log_parse_format("text"), 0);
	assert_int_equal(log_parse_format("xml"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
