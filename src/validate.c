/*
 * validate.c -- the validators and bounded parsers behind validate.h.
 *
 * Everything here is pure: no I/O, no allocation, no locale.  Character
 * classes are spelled out by hand because <ctype.h> depends on the locale and
 * is undefined for negative chars, and a validator must give the same answer
 * everywhere.
 *
 * Every message has the form "<field> <value>: <reason>".  The value is
 * shown bare when it is a number written in digits and quoted otherwise, so
 * that empty values and values with blanks stay visible.  At most SHOW_CHARS
 * characters of it are shown, with control characters, invalid UTF-8 and
 * quotes escaped, so that hostile input cannot flood or forge a log line.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "validate.h"

/* How much of an offending value a message repeats. */
#define SHOW_CHARS 40

/*
 * Worst case for show(): each character escaped as two "\xNN" (a C1 control),
 * two quotes, "..." and the NUL.
 */
#define SHOW_SIZE (SHOW_CHARS * 8 + 2 + 3 + 1)

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_alnum(unsigned char c)
{
	return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z');
}

static bool is_xdigit(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* True if s is non-empty and all digits. */
static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!is_digit((unsigned char)*s))
			return false;
	return true;
}

/*
 * Decode one UTF-8 character at p into *cp; return its length in bytes, or
 * 0 if the bytes at p are not well-formed UTF-8 (RFC 3629, table 3-7 of the
 * Unicode standard): no overlong forms, no surrogates, nothing above
 * U+10FFFF, no stray or missing continuation bytes.  The NUL terminator is
 * never a continuation byte, so this cannot read past the end of a string.
 */
size_t utf8_decode(const unsigned char *p, uint32_t *cp)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t n, i;
	uint32_t v;

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
		if (c == 0xE0)
			lo = 0xA0; /* below is overlong */
		else if (c == 0xED)
			hi = 0x9F; /* above is a surrogate */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90; /* below is overlong */
		else if (c == 0xF4)
			hi = 0x8F; /* above is beyond U+10FFFF */
	} else {
		return 0; /* continuation byte, C0, C1 or F5..FF */
	}
	for (i = 1; i < n; i++) {
		if (p[i] < lo || p[i] > hi)
			return 0;
		v = (v << 6) | (p[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp = v;
	return n;
}

void utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;
	uint32_t cp;
	size_t n;

	while (*p != '\0') {
		n = utf8_decode(p, &cp);
		if (n == 0)
			*p++ = '?';
		else
			p += n;
	}
}

/* C0 (which includes tab and newline), DEL and C1. */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* A space separator (Unicode Zs): what a blank field is made of. */
static bool is_space(uint32_t cp)
{
	return cp == 0x20 || cp == 0xA0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F ||
	       cp == 0x3000;
}

static char *put_hex(char *o, unsigned char b)
{
	static const char hex[] = "0123456789ABCDEF";

	*o++ = '\\';
	*o++ = 'x';
	*o++ = hex[b >> 4];
	*o++ = hex[b & 0x0F];
	return o;
}

/* True for a whole number as written: -?[0-9]+ */
static bool looks_numeric(const char *s)
{
	if (*s == '-')
		s++;
	return all_digits(s);
}

/*
 * Render s for a message into buf (SHOW_SIZE bytes): bare if numeric,
 * otherwise quoted and escaped; cut after SHOW_CHARS characters.
 */
static const char *show(char *buf, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	bool quote = !looks_numeric(s);
	char *o = buf;
	size_t shown, n, i;
	uint32_t cp;

	if (quote)
		*o++ = '"';
	for (shown = 0; *p != '\0' && shown < SHOW_CHARS; shown++) {
		n = utf8_decode(p, &cp);
		if (n == 0) {
			o = put_hex(o, *p++);
		} else if (is_control(cp)) {
			for (i = 0; i < n; i++)
				o = put_hex(o, *p++);
		} else if (cp == '"' || cp == '\\') {
			*o++ = '\\';
			*o++ = (char)*p++;
		} else {
			for (i = 0; i < n; i++)
				*o++ = (char)*p++;
		}
	}
	if (*p != '\0') {
		memcpy(o, "...", 3);
		o += 3;
	}
	if (quote)
		*o++ = '"';
	*o = '\0';
	return buf;
}

static const char *label(const char *field)
{
	return field != NULL && *field != '\0' ? field : "value";
}

/* Reject s (not NULL) for a fixed reason. */
static int bad(struct err *e, const char *field, const char *s, const char *why)
{
	char v[SHOW_SIZE];

	return err_set(e, ERR_INVALID, field, "%s %s: %s", label(field),
		       show(v, s), why);
}

static int missing(struct err *e, const char *field)
{
	return err_set(e, ERR_INVALID, field, "%s: missing", label(field));
}

/* ---- numbers ---- */

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out,
		const char *field, struct err *e)
{
	char v[SHOW_SIZE];
	const char *p = s;
	bool neg = false, overflow = false;
	uint64_t limit, acc = 0, d;
	int64_t val;

	if (s == NULL)
		return missing(e, field);
	if (min > max)
		return err_set(e, ERR_INTERNAL, field,
			       "%s: empty range %" PRId64 "..%" PRId64,
			       label(field), min, max);

	if (*p == '-') {
		neg = true;
		p++;
	}
	/* Magnitude of INT64_MIN is one more than INT64_MAX. */
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (!is_digit((unsigned char)*p))
		return bad(e, field, s, "not a whole number");
	for (; is_digit((unsigned char)*p); p++) {
		d = (uint64_t)(*p - '0');
		if (overflow || acc > (limit - d) / 10)
			overflow = true; /* keep scanning for trailing junk */
		else
			acc = acc * 10 + d;
	}
	if (*p != '\0')
		return bad(e, field, s, "not a whole number");

	/* Beyond int64 is also beyond any bound the caller can express. */
	if (overflow && neg)
		return err_set(e, ERR_INVALID, field,
			       "%s %s: must be at least %" PRId64, label(field),
			       show(v, s), min);
	if (overflow)
		return err_set(e, ERR_INVALID, field,
			       "%s %s: must be at most %" PRId64, label(field),
			       show(v, s), max);
	if (neg && acc == (uint64_t)INT64_MAX + 1)
		val = INT64_MIN; /* -acc would overflow */
	else
		val = neg ? -(int64_t)acc : (int64_t)acc;
	if (val < min)
		return err_set(e, ERR_INVALID, field,
			       "%s %s: must be at least %" PRId64, label(field),
			       show(v, s), min);
	if (val > max)
		return err_set(e, ERR_INVALID, field,
			       "%s %s: must be at most %" PRId64, label(field),
			       show(v, s), max);
	if (out != NULL)
		*out = val;
	return 0;
}

/* ---- identifiers ---- */

int gtin_check_digit(const char *digits, int n)
{
	int i, sum = 0, weight = 3;
	unsigned char c;

	if (digits == NULL || (n != 8 && n != 12 && n != 13 && n != 14))
		return -1;
	/* Only the n-1 data digits are read; the caller may not have more. */
	for (i = 0; i < n - 1; i++)
		if (!is_digit((unsigned char)digits[i]))
			return -1;
	/* Weights run 3, 1, 3, ... leftwards from the last data digit. */
	for (i = n - 2; i >= 0; i--) {
		c = (unsigned char)digits[i];
		sum += (c - '0') * weight;
		weight = 4 - weight;
	}
	return '0' + (10 - sum % 10) % 10;
}

int validate_gtin(const char *s, const char *field, struct err *e)
{
	char v[SHOW_SIZE];
	size_t len;
	int check;

	if (s == NULL)
		return missing(e, field);
	for (len = 0; s[len] != '\0'; len++)
		if (!is_digit((unsigned char)s[len]))
			return bad(e, field, s, "only digits are allowed");
	if (len != 8 && len != 12 && len != 13 && len != 14)
		return bad(e, field, s, "must be 8, 12, 13 or 14 digits");
	check = gtin_check_digit(s, (int)len);
	if (check != s[len - 1])
		return err_set(e, ERR_INVALID, field,
			       "%s %s: wrong check digit, expected %c",
			       label(field), show(v, s), check);
	return 0;
}

int gtin_normalize(const char *s, char out[15], const char *field,
		   struct err *e)
{
	size_t len, pad;

	if (out != NULL)
		out[0] = '\0';
	if (validate_gtin(s, field, e) != 0)
		return -1;
	if (out == NULL)
		return 0;
	len = strlen(s);
	pad = 14 - len;
	memset(out, '0', pad);
	memcpy(out + pad, s, len + 1);
	return 0;
}

/* Exactly n digits; the reason names the count. */
static int fixed_digits(const char *s, size_t n, const char *why,
			const char *field, struct err *e)
{
	if (s == NULL)
		return missing(e, field);
	if (!all_digits(s) || strlen(s) != n)
		return bad(e, field, s, why);
	return 0;
}

int validate_vnr(const char *s, const char *field, struct err *e)
{
	return fixed_digits(s, 6, "must be exactly 6 digits", field, e);
}

int validate_npl_id(const char *s, const char *field, struct err *e)
{
	return fixed_digits(s, 14, "must be exactly 14 digits", field, e);
}

int validate_atc(const char *s, const char *field, struct err *e)
{
	/* L = letter, D = digit, as in J01CA04. */
	static const char shape[] = "LDDLLDD";
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (s == NULL)
		return missing(e, field);
	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'L' ? !is_upper(p[i]) : !is_digit(p[i]))
			break;
	}
	if (shape[i] != '\0' || p[i] != '\0')
		return bad(e, field, s,
			   "not a full 7-character ATC code such as J01CA04");
	return 0;
}

static const struct region {
	const char *code;
	const char *name;
} regions[] = {
	{"01", "Stockholm"},
	{"03", "Uppsala"},
	{"04", "Sörmland"},
	{"05", "Östergötland"},
	{"06", "Jönköpings län"},
	{"07", "Kronoberg"},
	{"08", "Kalmar län"},
	{"09", "Gotland"},
	{"10", "Blekinge"},
	{"12", "Skåne"},
	{"13", "Halland"},
	{"14", "Västra Götaland"},
	{"17", "Värmland"},
	{"18", "Örebro län"},
	{"19", "Västmanland"},
	{"20", "Dalarna"},
	{"21", "Gävleborg"},
	{"22", "Västernorrland"},
	{"23", "Jämtland Härjedalen"},
	{"24", "Västerbotten"},
	{"25", "Norrbotten"},
};

const char *region_name(const char *code)
{
	size_t i;

	if (code == NULL)
		return NULL;
	for (i = 0; i < sizeof regions / sizeof regions[0]; i++)
		if (strcmp(code, regions[i].code) == 0)
			return regions[i].name;
	return NULL;
}

int validate_region_code(const char *s, const char *field, struct err *e)
{
	if (s == NULL)
		return missing(e, field);
	if (region_name(s) == NULL)
		return bad(e, field, s, "not a Swedish region code");
	return 0;
}

int validate_site_code(const char *s, const char *field, struct err *e)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (s == NULL)
		return missing(e, field);
	for (i = 0; p[i] != '\0'; i++) {
		if (i == 32)
			return bad(e, field, s, "longer than 32 characters");
		if (!is_alnum(p[i]) && p[i] != '.' && p[i] != '_' &&
		    p[i] != '-')
			return bad(e, field, s,
				   "only letters A-Z, digits, '.', '_' and "
				   "'-' are allowed");
	}
	if (i == 0)
		return bad(e, field, s, "must not be empty");
	if (!is_alnum(p[0]))
		return bad(e, field, s, "must start with a letter or digit");
	return 0;
}

int validate_lot(const char *s, const char *field, struct err *e)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (s == NULL)
		return missing(e, field);
	for (i = 0; p[i] != '\0'; i++) {
		if (i == 64)
			return bad(e, field, s, "longer than 64 characters");
		if (p[i] < 0x20 || p[i] > 0x7E)
			return bad(e, field, s,
				   "only printable ASCII characters are "
				   "allowed");
	}
	if (i > 0 && (p[0] == ' ' || p[i - 1] == ' '))
		return bad(e, field, s, "must not start or end with a blank");
	return 0;
}

int validate_uuid(const char *s, const char *field, struct err *e)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (s == NULL)
		return missing(e, field);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (p[i] != '-')
				break;
		} else if (!is_xdigit(p[i])) {
			break; /* also stops at the NUL of a short string */
		}
	}
	if (i != 36 || p[36] != '\0')
		return bad(e, field, s,
			   "not a UUID of the form "
			   "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
	return 0;
}

/* ---- dates and text ---- */

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* The value of n digits at p, which the caller has checked. */
static int digits_value(const char *p, int n)
{
	int v = 0;

	while (n-- > 0)
		v = v * 10 + (*p++ - '0');
	return v;
}

int parse_date(const char *s, struct date *out, const char *field,
	       struct err *e)
{
	char v[SHOW_SIZE];
	const unsigned char *p = (const unsigned char *)s;
	int i, y, m, d, dim;

	if (s == NULL)
		return missing(e, field);
	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7) {
			if (p[i] != '-')
				break;
		} else if (!is_digit(p[i])) {
			break; /* also stops at the NUL of a short string */
		}
	}
	if (i != 10 || p[10] != '\0')
		return bad(e, field, s, "not a date of the form YYYY-MM-DD");
	y = digits_value(s, 4);
	m = digits_value(s + 5, 2);
	d = digits_value(s + 8, 2);
	if (y < 1900)
		return bad(e, field, s, "year must be 1900 or later");
	if (m < 1 || m > 12)
		return bad(e, field, s, "month must be 01 to 12");
	dim = days_in_month(y, m);
	if (d < 1 || d > dim)
		return err_set(e, ERR_INVALID, field,
			       "%s %s: no such day, %04d-%02d has %d days",
			       label(field), show(v, s), y, m, dim);
	if (out != NULL) {
		out->year = y;
		out->month = m;
		out->day = d;
	}
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int parse_timestamp(const char *s, int64_t *epoch, const char *field,
		    struct err *e)
{
	char date[11];
	const unsigned char *p = (const unsigned char *)s;
	struct date d;
	size_t i = 19;
	int hh, mm, ss, off = 0;

	if (s == NULL)
		return missing(e, field);
	if (strlen(s) < 20 || strlen(s) > 35)
		goto bad_form;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (parse_date(date, &d, field, e) < 0)
		return -1;
	if ((p[10] != 'T' && p[10] != ' ') || !is_digit(p[11]) ||
	    !is_digit(p[12]) || p[13] != ':' || !is_digit(p[14]) ||
	    !is_digit(p[15]) || p[16] != ':' || !is_digit(p[17]) ||
	    !is_digit(p[18]))
		goto bad_form;
	hh = digits_value(s + 11, 2);
	mm = digits_value(s + 14, 2);
	ss = digits_value(s + 17, 2);
	if (hh > 23 || mm > 59 || ss > 59)
		return bad(e, field, s, "no such time of day");
	if (p[i] == '.') {
		/* Fractions of a second are allowed and not kept. */
		for (i++; is_digit(p[i]) && i < 29; i++)
			;
		if (i == 20)
			goto bad_form;
	}
	if (p[i] == 'Z' && p[i + 1] == '\0') {
		off = 0;
	} else if ((p[i] == '+' || p[i] == '-') && is_digit(p[i + 1]) &&
		   is_digit(p[i + 2]) && p[i + 3] == ':' &&
		   is_digit(p[i + 4]) && is_digit(p[i + 5]) &&
		   p[i + 6] == '\0') {
		int oh = digits_value(s + i + 1, 2);
		int om = digits_value(s + i + 4, 2);

		if (oh > 14 || om > 59)
			return bad(e, field, s, "no such UTC offset");
		off = (p[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	} else {
		goto bad_form;
	}
	if (epoch)
		*epoch = days_from_civil(d.year, d.month, d.day) * 86400 +
			 hh * 3600 + mm * 60 + ss - off;
	return 0;
bad_form:
	return bad(e, field, s,
		   "not a time of the form YYYY-MM-DDTHH:MM:SSZ or with an "
		   "offset such as +01:00");
}

int validate_text(const char *s, size_t max_bytes, bool allow_empty,
		  const char *field, struct err *e)
{
	char v[SHOW_SIZE];
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n;
	uint32_t cp;
	bool blank = true;

	if (s == NULL)
		return missing(e, field);
	if (*s == '\0') {
		if (allow_empty)
			return 0;
		return bad(e, field, s, "must not be empty");
	}
	/* Bounded: a huge input is rejected without being walked. */
	for (i = 0; p[i] != '\0' && i <= max_bytes; i++)
		;
	if (i > max_bytes)
		return err_set(e, ERR_INVALID, field,
			       "%s %s: longer than %zu bytes", label(field),
			       show(v, s), max_bytes);
	for (i = 0; p[i] != '\0'; i += n) {
		n = utf8_decode(p + i, &cp);
		if (n == 0)
			return err_set(e, ERR_INVALID, field,
				       "%s %s: invalid UTF-8 at byte offset "
				       "%zu",
				       label(field), show(v, s), i);
		if (is_control(cp))
			return err_set(e, ERR_INVALID, field,
				       "%s %s: control character U+%04" PRIX32
				       " at byte offset %zu",
				       label(field), show(v, s), cp, i);
		blank &= is_space(cp);
	}
	/* "   " says no more than "": a reason of blanks is no reason. */
	if (blank && !allow_empty)
		return bad(e, field, s, "must not be blank");
	return 0;
}
