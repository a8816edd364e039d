/* controller/log.c - timestamped log lines. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int level = LOG_INFO;
static char prefix[64] = "synod";
static int json;
static unsigned long long json_node;

void log_set_json(int on, unsigned long long node_id)
{
	json = on;
	json_node = node_id;
}

int log_parse_format(const char *s)
{
	if (strcasecmp(s, "text") == 0)
		return 0;
	if (strcasecmp(s, "json") == 0)
		return 1;
	return -1;
}

/* s as the inside of a JSON string into out (always NUL-terminated;
 * cut at a character boundary of the escapes when it does not fit). */
static void json_escape(const char *s, char *out, size_t size)
{
	size_t n = 0;
	for (; *s && n + 7 < size; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			out[n++] = '\\';
			out[n++] = (char)ch;
		} else if (ch < 0x20) {
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", ch);
		} else {
			out[n++] = (char)ch;
		}
	}
	out[n] = '\0';
}

void log_set_level(int l)
{
	level = l;
}

void log_set_prefix(const char *p)
{
	snprintf(prefix, sizeof prefix, "%s", p);
}

int log_parse_level(const char *s)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i + 1;
	return -1;
}

void logf_(int l, const char *fmt, ...)
{
	static const char *tags[] = {"", "ERROR", "WARN", "INFO", "DEBUG"};
	char line[1024], ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;
	if (l > level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (json) {
		static const char *names[] = {"", "error", "warn", "info",
					      "debug"};
		char esc[sizeof line * 6 + 1];
		json_escape(line, esc, sizeof esc);
		fprintf(stderr,
			"{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"node\":%llu,"
			"\"msg\":\"%s\"}\n",
			ts, now.tv_nsec / 1000000, names[l], json_node, esc);
		return;
	}
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", ts, now.tv_nsec / 1000000,
		tags[l], prefix, line);
}
