/*
 * log.c -- key=value diagnostics on stderr.
 *
 * Each line is assembled in a fixed buffer and written with a single write(2)
 * so that lines from concurrent threads never interleave.  Overlong values are
 * cut, and the cut is marked, rather than growing the buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LINE_MAX_BYTES 4096

static enum log_level min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
	bool cut;
};

static void put_raw(struct line *l, const char *s, size_t n)
{
	/* Keep room for the cut marker and the newline. */
	size_t room = sizeof(l->buf) - 8 - l->len;

	if (n > room) {
		n = room;
		l->cut = true;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static bool needs_quotes(const char *v)
{
	if (*v == '\0')
		return true;
	for (; *v; v++)
		if ((unsigned char)*v <= ' ' || *v == '"' || *v == '=' ||
		    *v == '\\' || (unsigned char)*v == 0x7f)
			return true;
	return false;
}

static void put_value(struct line *l, const char *v)
{
	char esc[4];

	if (!needs_quotes(v)) {
		put_raw(l, v, strlen(v));
		return;
	}
	put_raw(l, "\"", 1);
	for (; *v && !l->cut; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put_raw(l, esc, 2);
		} else if (c == '\n') {
			put_raw(l, "\\n", 2);
		} else if (c < ' ' || c == 0x7f) {
			put_raw(l, "?", 1);
		} else {
			put_raw(l, (const char *)&c, 1);
		}
	}
	put_raw(l, "\"", 1);
}

static void put_pair(struct line *l, const char *key, const char *value)
{
	if (l->len > 0)
		put_raw(l, " ", 1);
	put_raw(l, key, strlen(key));
	put_raw(l, "=", 1);
	put_value(l, value);
}

static void emit(enum log_level level, const char *const *kv, const char *fmt,
		 va_list ap)
{
	struct line l = {.len = 0, .cut = false};
	char msg[2048];

	if (level < min_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	put_pair(&l, "level", level_names[level]);
	put_pair(&l, "msg", msg);
	for (; kv && kv[0]; kv += 2) {
		if (kv[1])
			put_pair(&l, kv[0], kv[1]);
	}
	if (l.cut) {
		memcpy(l.buf + l.len, " [cut]", 6);
		l.len += 6;
	}
	l.buf[l.len++] = '\n';
	/* A failed diagnostic write has nowhere left to be reported. */
	if (write(STDERR_FILENO, l.buf, l.len) < 0)
		return;
}

void log_set_level(enum log_level level)
{
	min_level = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_line(enum log_level level, const char *const *kv, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, kv, fmt, ap);
	va_end(ap);
}

void log_err(const struct err *e)
{
	const char *kv[] = {"code", err_code_name(e->code), "field",
			    e->field[0] ? e->field : NULL, NULL};

	log_line(LOG_ERROR, kv, "%s", e->msg);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
