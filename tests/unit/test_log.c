/* Unit tests of controller/log.c's JSON lines (log_format = json): every
 * line is one JSON object with ts, level, node and msg, whatever the
 * message holds (quotes, backslashes, control characters); an event's
 * key=value fields become members (integers as numbers, quoted values
 * unquoted), and its text line keeps them as written; the level in
 * effect is the cluster's override when set, else the node's own. */
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

/* Capture what fn logs on stderr into out. */
static void capture(void (*fn)(void), char *out, size_t size)
{
	char path[] = "/tmp/synod-test-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	FILE *fp;
	size_t n;
	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	fn();
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(fd);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(out, 1, size - 1, fp);
	out[n] = '\0';
	fclose(fp);
	unlink(path);
}

static void log_events(void)
{
	log_set_level(LOG_INFO);
	log_set_json(1, 3);
	log_event(LOG_INFO, "broker_fenced",
		  "broker=%d reason=session_timeout session_ms=%u note=\"%s\" "
		  "neg=-5 zero=0 lead=007",
		  42, 9000u, "two words");
	log_event(LOG_DEBUG, "hidden", "x=1");
	log_set_json(0, 0);
	log_event(LOG_INFO, "controller_active", "term=%d", 5);
}

static void test_events(void **state)
{
	char out[8192], *nl;
	json_t *j;
	json_error_t e;
	(void)state;
	capture(log_events, out, sizeof out);
	nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	j = json_loads(out, 0, &e);
	if (j == NULL)
		fail_msg("not JSON (%s): %s", e.text, out);
	assert_string_equal(json_string_value(json_object_get(j, "event")),
			    "broker_fenced");
	assert_int_equal(json_integer_value(json_object_get(j, "broker")), 42);
	assert_int_equal(json_integer_value(json_object_get(j, "session_ms")),
			 9000);
	assert_string_equal(json_string_value(json_object_get(j, "reason")),
			    "session_timeout");
	assert_string_equal(json_string_value(json_object_get(j, "note")),
			    "two words");
	assert_int_equal(json_integer_value(json_object_get(j, "neg")), -5);
	assert_int_equal(json_integer_value(json_object_get(j, "zero")), 0);
	/* not a JSON number: kept as text */
	assert_string_equal(json_string_value(json_object_get(j, "lead")),
			    "007");
	json_decref(j);
	/* The debug event is not shown; the text line keeps the fields. */
	assert_null(strstr(nl + 1, "hidden"));
	assert_non_null(strstr(nl + 1, " INFO "));
	assert_non_null(strstr(nl + 1, ": controller_active term=5\n"));
}

static void test_override(void **state)
{
	(void)state;
	log_set_override(0);
	log_set_level(LOG_WARN);
	assert_int_equal(log_level(), LOG_WARN);
	log_set_override(LOG_DEBUG); /* the cluster's log.level */
	assert_int_equal(log_level(), LOG_DEBUG);
	log_set_level(LOG_ERROR); /* SIGHUP: the node's own changes... */
	assert_int_equal(log_level(), LOG_DEBUG);
	log_set_override(0); /* ... and shows once the override goes */
	assert_int_equal(log_level(), LOG_ERROR);
	assert_string_equal(log_level_name(LOG_INFO), "info");
	log_set_level(LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_lines),
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_override),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
