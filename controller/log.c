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

static int base_level = LOG_INFO, override_level;

void log_set_level(int l)
{
	base_level = l;
	level = override_level ? override_level : base_level;
}

void log_set_override(int l)
{
	override_level = l;
	level = override_level ? override_level : base_level;
}

int log_level(void)
{
	return level;
}

void log_set_prefix(const char *p)
{
	snprintf(prefix, sizeof prefix, "%s", p);
}

const char *log_level_name(int l)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	return l >= 1 && l <= 4 ? names[l - 1] : "?";
}

int log_parse_level(const char *s)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i + 1;
	return -1;
}

/* Now as RFC 3339 UTC with milliseconds. */
static void stamp(char *out, size_t size)
{
	struct timespec now;
	struct tm tm;
	char sec[32];
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%03ldZ", sec, now.tv_nsec / 1000000);
}

static int is_number(const char *v, size_t n)
{
	size_t i = v[0] == '-' ? 1 : 0;
	if (n == i || n > 19)
		return 0;
	for (; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	return !(v[0] == '0' && n > 1);
}

/* "k=v k=\"quoted v\"" as JSON members (",\"k\":v") into out. */
static void json_fields(const char *f, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	while (*f && o + 16 < size) {
		const char *k, *v, *eq;
		char key[64], val[512], esc[sizeof val * 6 + 1];
		size_t kn, vn;
		int quoted;
		while (*f == ' ')
			f++;
		k = f;
		eq = strchr(k, '=');
		if (eq == NULL || eq == k || memchr(k, ' ', (size_t)(eq - k)))
			break; /* not a field: stop */
		kn = (size_t)(eq - k);
		v = eq + 1;
		quoted = *v == '"';
		if (quoted) {
			const char *end = strchr(v + 1, '"');
			if (end == NULL)
				break;
			vn = (size_t)(end - v - 1);
			v++;
			f = end + 1;
		} else {
			vn = strcspn(v, " ");
			f = v + vn;
		}
		snprintf(key, sizeof key, "%.*s", (int)kn, k);
		snprintf(val, sizeof val, "%.*s", (int)vn, v);
		json_escape(key, esc, sizeof esc);
		o += (size_t)snprintf(out + o, size - o, ",\"%s\":", esc);
		if (o >= size)
			break;
		if (!quoted && is_number(val, strlen(val))) {
			o += (size_t)snprintf(out + o, size - o, "%s", val);
		} else {
			json_escape(val, esc, sizeof esc);
			o += (size_t)snprintf(out + o, size - o, "\"%s\"", esc);
		}
		if (o >= size) {
			out[0] = '\0'; /* all or nothing */
			return;
		}
	}
}

void log_event_(int l, const char *event, const char *fmt, ...)
{
	static const char *tags[] = {"", "ERROR", "WARN", "INFO", "DEBUG"};
	static const char *names[] = {"", "error", "warn", "info", "debug"};
	char fields[768], ts[40];
	va_list ap;
	if (l > level)
		return;
	stamp(ts, sizeof ts);
	va_start(ap, fmt);
	vsnprintf(fields, sizeof fields, fmt, ap);
	va_end(ap);
	if (json) {
		char members[4096], ev[160], msg[sizeof fields * 6 + 1];
		json_fields(fields, members, sizeof members);
		json_escape(event, ev, sizeof ev);
		json_escape(fields, msg, sizeof msg);
		fprintf(stderr,
			"{\"ts\":\"%s\",\"level\":\"%s\",\"node\":%llu,"
			"\"event\":\"%s\"%s,\"msg\":\"%s %s\"}\n",
			ts, names[l], json_node, ev, members, ev, msg);
		return;
	}
	fprintf(stderr, "%s %s %s: %s %s\n", ts, tags[l], prefix, event,
		fields);
}

void logf_(int l, const char *fmt, ...)
{
	static const char *tags[] = {"", "ERROR", "WARN", "INFO", "DEBUG"};
	char line[1024], ts[40];
	va_list ap;
	if (l > level)
		return;
	stamp(ts, sizeof ts);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (json) {
		static const char *names[] = {"", "error", "warn", "info",
					      "debug"};
		char esc[sizeof line * 6 + 1];
		json_escape(line, esc, sizeof esc);
		fprintf(stderr,
			"{\"ts\":\"%s\",\"level\":\"%s\",\"node\":%llu,"
			"\"msg\":\"%s\"}\n",
			ts, names[l], json_node, esc);
		return;
	}
	fprintf(stderr, "%s %s %s: %s\n", ts, tags[l], prefix, line);
}
