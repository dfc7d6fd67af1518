/*
 * err.c -- filling in and reading a struct err.
 *
 * Messages end up in logs, on a terminal and in JSON bodies, so they are
 * UTF-8 whatever they quote: a message cut short by the buffer backs off
 * to the last whole character, and a byte that starts no character (input
 * cut inside one by a "%.40s", say) becomes '?'.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "validate.h"

/*
 * After a truncating copy into buf (size bytes, NUL-terminated), drop a
 * trailing UTF-8 sequence that lost its tail.  Only the last character can
 * be cut, so looking back at most three bytes is enough.
 */
static void trim_cut_utf8(char *buf, size_t size)
{
	size_t len = strlen(buf);
	size_t i, need;
	unsigned char c;

	if (len + 1 < size)
		return; /* nothing was cut */
	for (i = len; i > 0 && len - i < 4; i--) {
		c = (unsigned char)buf[i - 1];
		if ((c & 0xC0) == 0x80)
			continue; /* continuation byte: keep looking for lead */
		if (c < 0x80)
			return;
		if (c >= 0xF0)
			need = 4;
		else if (c >= 0xE0)
			need = 3;
		else
			need = 2;
		if (len - (i - 1) < need)
			buf[i - 1] = '\0';
		return;
	}
}

int err_set(struct err *e, enum err_code code, const char *field,
	    const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->code = code;

	if (field == NULL)
		field = "";
	snprintf(e->field, sizeof e->field, "%s", field);
	trim_cut_utf8(e->field, sizeof e->field);
	utf8_scrub(e->field);

	e->msg[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		if (vsnprintf(e->msg, sizeof e->msg, fmt, ap) < 0)
			e->msg[0] = '\0';
		va_end(ap);
		trim_cut_utf8(e->msg, sizeof e->msg);
		utf8_scrub(e->msg);
	}
	return -1;
}

void err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = ERR_NONE;
	e->field[0] = '\0';
	e->msg[0] = '\0';
}

const char *err_code_name(enum err_code code)
{
	switch (code) {
	case ERR_NONE: return "none";
	case ERR_INVALID: return "invalid";
	case ERR_NOT_FOUND: return "not_found";
	case ERR_CONFLICT: return "conflict";
	case ERR_FORBIDDEN: return "forbidden";
	case ERR_UNAVAILABLE: return "unavailable";
	case ERR_INTERNAL: return "internal";
	}
	return "unknown";
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	char prefix[128], old[sizeof e->msg];
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	if (vsnprintf(prefix, sizeof prefix, fmt, ap) < 0)
		prefix[0] = '\0';
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	/* The message may be cut here; that is the point of the buffer. */
	if (snprintf(e->msg, sizeof e->msg, "%s%.*s", prefix,
		     (int)(sizeof e->msg - 1), old) < 0)
		e->msg[0] = '\0';
	trim_cut_utf8(e->msg, sizeof e->msg);
	utf8_scrub(e->msg);
	return -1;
}
