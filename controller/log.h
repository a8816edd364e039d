/* controller/log.h - the daemon's log lines on stderr.
 * "2026-11-22T01:02:03.456Z INFO node 1: message". Thread-safe enough for
 * one loop thread plus rare calls from the thread pool (one fprintf each).
 */
#ifndef SYNOD_LOG_H
#define SYNOD_LOG_H

enum { LOG_ERROR = 1, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(int level);
int log_parse_level(const char *s); /* -1 when unknown */
void log_set_prefix(const char *prefix);
void logf_(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) logf_(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) logf_(LOG_WARN, __VA_ARGS__)
#define log_info(...) logf_(LOG_INFO, __VA_ARGS__)
#define log_debug(...) logf_(LOG_DEBUG, __VA_ARGS__)

#endif
