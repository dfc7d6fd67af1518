/*
 * log.h -- diagnostics on stderr, one line per event, in key=value form.
 *
 * Data goes to stdout; everything here goes to stderr.  A line looks like
 *   level=error msg="balance would go negative: ..." field=qty
 * Values are quoted when they need it, with quotes, backslashes and control
 * characters escaped, so a line is always one line.
 */
#ifndef LAGERBILD_LOG_H
#define LAGERBILD_LOG_H

#include <stdbool.h>

#include "err.h"

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARNING,
	LOG_ERROR
};

/* Lines below this level are dropped.  Default LOG_INFO. */
void log_set_level(enum log_level level);

/* Parse "debug", "info", "warning" or "error"; -1 if none of them. */
int log_level_parse(const char *s, enum log_level *out);

/*
 * Write one line: level, msg (printf-formatted), then optional extra
 * key=value pairs given as a NULL-terminated list of alternating keys and
 * values (NULL values are skipped).  Thread-safe: one write(2) per line.
 */
void log_line(enum log_level level, const char *const *kv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(...) log_line(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_line(LOG_INFO, NULL, __VA_ARGS__)
#define log_warning(...) log_line(LOG_WARNING, NULL, __VA_ARGS__)
#define log_error(...) log_line(LOG_ERROR, NULL, __VA_ARGS__)

/* Log an error object: msg, code and field. */
void log_err(const struct err *e);

/* For start-up failures only: log at error level and exit(1). */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
