/* controller/log.c - timestamped log lines. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static int level = LOG_INFO;
static char prefix[64] = "synod";

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
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", ts, now.tv_nsec / 1000000,
		tags[l], prefix, line);
}
