/* controller/log.h - the daemon's log lines on stderr.
 * "2026-11-22T01:02:03.456Z INFO node 1: message", or with
 * log_set_json() one JSON object a line (log_format = json):
 * {"ts":"2026-11-22T01:02:03.456Z","level":"info","node":1,"msg":"..."}.
 * Thread-safe enough for one loop thread plus rare calls from the thread
 * pool (one fprintf each).
 */
#ifndef SYNOD_LOG_H
#define SYNOD_LOG_H

enum { LOG_ERROR = 1, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* The node's own level (config, flag, SIGHUP), and a level set for every
 * node (the cluster config log.level; 0: none), which wins. */
void log_set_level(int level);
void log_set_override(int level);
int log_level(void);		       /* in effect */
int log_parse_level(const char *s);    /* -1 when unknown */
const char *log_level_name(int level); /* "info" */
void log_set_prefix(const char *prefix);
/* JSON lines (on 1) for node node_id, or text (0). */
void log_set_json(int on, unsigned long long node_id);
/* "text" or "json": 0 or 1; -1 when unknown. */
int log_parse_format(const char *s);
void logf_(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An event operators look for (docs/operations.md "Logs"): its name and
 * key=value fields, "k=\"a value with spaces\"" quoted; in JSON lines the
 * fields become members (numbers when they are integers). */
void log_event_(int level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_event(level, event, ...) log_event_(level, event, __VA_ARGS__)

#define log_error(...) logf_(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) logf_(LOG_WARN, __VA_ARGS__)
#define log_info(...) logf_(LOG_INFO, __VA_ARGS__)
#define log_debug(...) logf_(LOG_DEBUG, __VA_ARGS__)

#endif
