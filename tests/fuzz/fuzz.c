/*
 * fuzz.c -- the checks the fuzz targets share (see fuzz.h).
 *
 * The UTF-8 decoder here is deliberately not src/validate.c's: it decodes
 * first and range-checks the code point afterwards, where validate.c
 * narrows the allowed continuation bytes as it goes.  fuzz_validate holds
 * the two to the same answer at every byte of its input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: invariant: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void fuzz_check_err(int rc, const struct err *e, const char *field)
{
	if (rc == 0)
		return;
	if (rc != -1)
		fuzz_fail("returned %d, not 0 or -1", rc);
	/* checked before anything reads them as strings */
	if (!memchr(e->field, '\0', sizeof e->field) ||
	    !memchr(e->msg, '\0', sizeof e->msg))
		fuzz_fail("error field or message not NUL-terminated");
	if (e->code == ERR_NONE || e->msg[0] == '\0')
		fuzz_fail("failed without an error (code %d, message '%s')",
			  (int)e->code, e->msg);
	if (!fuzz_utf8_valid(e->field))
		fuzz_fail("error field not valid UTF-8: '%s'", e->field);
	if (!fuzz_utf8_valid(e->msg))
		fuzz_fail("error message not valid UTF-8: '%s'", e->msg);
	if (field && strcmp(e->field, field) != 0)
		fuzz_fail("error names field '%s', expected '%s'", e->field,
			  field);
}

int fuzz_utf8_char(const unsigned char *s, uint32_t *cp)
{
	uint32_t c = s[0], v;
	int n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		v = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	/* a NUL is not a continuation byte, so this stops at the end */
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
	    (n == 4 && (v < 0x10000 || v > 0x10FFFF)))
		return 0;
	*cp = v;
	return n;
}

int fuzz_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	int n;

	while (*p) {
		n = fuzz_utf8_char(p, &cp);
		if (n == 0)
			return 0;
		p += n;
	}
	return 1;
}
