/*
 * fuzz_validate.c -- libFuzzer target for the pure validators of
 * src/validate.h and the two pure parsers the importers lean on,
 * catalog_product_key and readiness_days_parse.
 *
 * Everything from outside passes these before it reaches the database, and
 * the CHECK constraints in sql/ repeat their rules, so a validator that
 * accepts too much turns into a database error and one that refuses too
 * much into a rejected import.  Where the rule is simple enough to write
 * again, the answer is compared with a reference written here apart from
 * the code under test (integers, dates, timestamps' dates, text); elsewhere
 * the accepted values are checked for the shape their header promises.
 * Every failure must follow the error convention and name its field, and a
 * validator's message must be valid UTF-8 (it quotes the input escaped).
 * validate.c's UTF-8 decoder and utf8_scrub, which err.c applies to every
 * message, are checked against fuzz.c's decoder.
 *
 * Input: byte 0 picks the function (low 4 bits) and its options (high 4
 * bits); the rest is the string, in a buffer of exactly its size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "readiness_report.h"
#include "validate.h"

#include "fuzz.h"

static int all_digits(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* The n digits at s as a number (the caller has checked they are). */
static int digits_value(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Reference for parse_int64: -?[0-9]+ within [min, max]. */
static int ref_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	const char *p = s[0] == '-' ? s + 1 : s;
	char *end;
	long long v;

	if (!*p)
		return -1;
	for (const char *q = p; *q; q++)
		if (*q < '0' || *q > '9')
			return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Unicode Zs, the blanks validate_text refuses alone (validate.h). */
static int ref_space(uint32_t cp)
{
	return cp == 0x20 || cp == 0xA0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F ||
	       cp == 0x3000;
}

/* Reference for validate_text. */
static int ref_text(const char *s, size_t max, int allow_empty)
{
	size_t len = strlen(s);
	int blank = 1;
	uint32_t cp;

	if (len == 0)
		return allow_empty ? 0 : -1;
	if (len > max)
		return -1;
	for (size_t i = 0; i < len;) {
		int n = fuzz_utf8_char((const unsigned char *)s + i, &cp);

		if (n == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
			return -1;
		blank &= ref_space(cp);
		i += (size_t)n;
	}
	return blank && !allow_empty ? -1 : 0;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reference for parse_date: YYYY-MM-DD, year >= 1900, a real day. */
static int ref_date(const char *s, struct date *d)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30,
				  31, 31, 30, 31, 30, 31};

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	d->year = digits_value(s, 4);
	d->month = digits_value(s + 5, 2);
	d->day = digits_value(s + 8, 2);
	if (d->year < 1900 || d->month < 1 || d->month > 12)
		return -1;
	if (d->day < 1 ||
	    d->day > dim[d->month - 1] + (d->month == 2 && is_leap(d->year)))
		return -1;
	return 0;
}

/* Days since 1970-01-01 (Howard Hinnant's days_from_civil). */
static int64_t ref_days(const struct date *d)
{
	int64_t y = d->year - (d->month <= 2);
	int64_t era = y / 400, yoe = y - era * 400;
	int64_t doy = (153 * (d->month + (d->month > 2 ? -3 : 9)) + 2) / 5 +
		      d->day - 1;

	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void fuzz_int64(const char *s, int opt)
{
	static const int64_t ranges[][2] = {
		{INT64_MIN, INT64_MAX}, {0, 1000000000000}, {1, 104}, {-5, 5}};
	const int64_t *r = ranges[opt & 3];
	struct err e = {0};
	int64_t v = 0x5a5a, rv = 0;
	int rc;

	rc = parse_int64(s, r[0], r[1], &v, "n", &e);
	fuzz_check_err(rc, &e, "n");
	if (rc != ref_int64(s, r[0], r[1], &rv))
		fuzz_fail("parse_int64('%s') returned %d", s, rc);
	if (rc == 0 && v != rv)
		fuzz_fail("parse_int64('%s') = %lld, expected %lld", s,
			  (long long)v, (long long)rv);
}

static void fuzz_gtin(const char *s)
{
	struct err e = {0};
	char out[15];
	size_t n = strlen(s);
	int rc;

	rc = gtin_normalize(s, out, "gtin", &e);
	fuzz_check_err(rc, &e, "gtin");
	if (rc == 0) {
		/* 14 digits, the input left-padded, its check digit right */
		if (!all_digits(out, 14) ||
		    (n != 8 && n != 12 && n != 13 && n != 14) ||
		    strcmp(out + 14 - n, s) != 0 ||
		    gtin_check_digit(out, 14) != out[13] ||
		    validate_gtin(out, "g", &e) != 0)
			fuzz_fail("gtin_normalize('%s') = '%.15s'", s, out);
	} else if (validate_gtin(s, "gtin", &e) == 0) {
		fuzz_fail("gtin_normalize refuses '%s', validate_gtin takes it",
			  s);
	}
}

static void fuzz_date(const char *s)
{
	struct err e = {0};
	struct date d, rd;
	int rc;

	rc = parse_date(s, &d, "date", &e);
	fuzz_check_err(rc, &e, "date");
	if (rc != ref_date(s, &rd))
		fuzz_fail("parse_date('%s') returned %d", s, rc);
	if (rc == 0 &&
	    (d.year != rd.year || d.month != rd.month || d.day != rd.day))
		fuzz_fail("parse_date('%s') = %d-%d-%d", s, d.year, d.month,
			  d.day);
}

static void fuzz_timestamp(const char *s)
{
	struct err e = {0};
	int64_t epoch, day;
	struct date rd;
	char date[11];
	int rc;

	rc = parse_timestamp(s, &epoch, "ts", &e);
	fuzz_check_err(rc, &e, "ts");
	if (rc != 0)
		return;
	/* the date part is a date, and the instant within its day give or
	 * take the largest offset */
	memcpy(date, s, 10);
	date[10] = '\0';
	if (ref_date(date, &rd) < 0)
		fuzz_fail("parse_timestamp('%s') took a bad date", s);
	day = ref_days(&rd);
	if (epoch < day * 86400 - 15 * 3600 ||
	    epoch > day * 86400 + 86400 + 15 * 3600)
		fuzz_fail("parse_timestamp('%s') = %lld", s, (long long)epoch);
}

static void fuzz_text(const char *s, int opt)
{
	size_t max = (size_t)(opt & 7) * 7;
	int allow = opt & 8 ? 1 : 0, rc;
	struct err e = {0};

	rc = validate_text(s, max, allow, "t", &e);
	fuzz_check_err(rc, &e, "t");
	if (rc != ref_text(s, max, allow))
		fuzz_fail("validate_text('%s', max %zu, allow_empty %d) "
			  "returned %d",
			  s, max, allow, rc);
}

static void fuzz_days(const char *s, int opt)
{
	bool allow_zero = opt & 8;
	struct err e = {0};
	char out[16], *end;
	double x;
	int rc;

	memset(out, 0x5a, sizeof(out));
	rc = readiness_days_parse(s, allow_zero, out, "days", &e);
	fuzz_check_err(rc, &e, "days");
	if (rc != 0)
		return;
	if (!memchr(out, '\0', sizeof(out)))
		fuzz_fail("days '%s': output not terminated", s);
	x = strtod(out, &end);
	if (*end || x < 0 || x > 3650 || (x == 0 && !allow_zero))
		fuzz_fail("days '%s' -> '%s'", s, out);
}

static void fuzz_product_key(const char *s)
{
	char key[CATALOG_KEY_MAX];
	const char *kind = NULL;
	struct err e = {0};
	int rc;

	memset(key, 0x5a, sizeof(key));
	rc = catalog_product_key(s, &kind, key, &e);
	fuzz_check_err(rc, &e, NULL);
	if (rc == 0 && (!memchr(key, '\0', sizeof(key)) || !kind))
		fuzz_fail("product key '%s': value not terminated", s);
}

/* The validators with a fixed form: accepted values have its length. */
static void fuzz_codes(const char *s, int which)
{
	struct err e = {0};
	size_t n = strlen(s);
	int rc;

	switch (which) {
	case 5:
		rc = validate_site_code(s, "site", &e);
		fuzz_check_err(rc, &e, "site");
		if (rc == 0 && (n < 1 || n > 32))
			fuzz_fail("site code of %zu bytes", n);
		break;
	case 6:
		rc = validate_lot(s, "lot", &e);
		fuzz_check_err(rc, &e, "lot");
		if (rc == 0 && n > 64)
			fuzz_fail("lot of %zu bytes", n);
		break;
	case 7:
		rc = validate_uuid(s, "uuid", &e);
		fuzz_check_err(rc, &e, "uuid");
		if (rc == 0 && n != 36)
			fuzz_fail("uuid of %zu bytes", n);
		break;
	case 8:
		rc = validate_atc(s, "atc", &e);
		fuzz_check_err(rc, &e, "atc");
		if (rc == 0 && n != 7)
			fuzz_fail("ATC code of %zu bytes", n);
		break;
	case 9:
		rc = validate_vnr(s, "vnr", &e);
		fuzz_check_err(rc, &e, "vnr");
		if ((rc == 0) != all_digits(s, 6))
			fuzz_fail("validate_vnr('%s') returned %d", s, rc);
		break;
	case 10:
		rc = validate_npl_id(s, "npl", &e);
		fuzz_check_err(rc, &e, "npl");
		if ((rc == 0) != all_digits(s, 14))
			fuzz_fail("validate_npl_id('%s') returned %d", s, rc);
		break;
	case 11:
		rc = validate_region_code(s, "region", &e);
		fuzz_check_err(rc, &e, "region");
		if ((rc == 0) != (region_name(s) != NULL))
			fuzz_fail("validate_region_code('%s') returned %d", s,
				  rc);
		break;
	default: break;
	}
}

/*
 * validate.c's UTF-8 decoder against fuzz.c's at every byte of s, and
 * utf8_scrub: its result is UTF-8 of the same length, and UTF-8 is left
 * as it was.
 */
static void fuzz_utf8(char *s)
{
	size_t len = strlen(s), n;
	uint32_t a = 0, b = 0;
	int valid = fuzz_utf8_valid(s), m;
	char *was = malloc(len + 1);

	if (!was)
		fuzz_fail("out of memory");
	memcpy(was, s, len + 1);
	for (size_t i = 0; i < len; i++) {
		n = utf8_decode((const unsigned char *)s + i, &a);
		m = fuzz_utf8_char((const unsigned char *)s + i, &b);
		if ((int)n != m || (n != 0 && a != b))
			fuzz_fail("byte %zu: utf8_decode %zu U+%04X, reference "
				  "%d U+%04X",
				  i, n, (unsigned)a, m, (unsigned)b);
	}
	utf8_scrub(s);
	if (!fuzz_utf8_valid(s) || strlen(s) != len)
		fuzz_fail("utf8_scrub left '%s' (%zu bytes of %zu)", s,
			  strlen(s), len);
	if (valid && strcmp(was, s) != 0)
		fuzz_fail("utf8_scrub changed valid UTF-8");
	free(was);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sel, opt, rc;
	char *s;

	if (size < 1)
		return 0;
	sel = data[0] & 15;
	opt = data[0] >> 4;
	s = malloc(size);
	if (!s)
		fuzz_fail("out of memory");
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';

	switch (sel) {
	case 0: fuzz_int64(s, opt); break;
	case 1: fuzz_gtin(s); break;
	case 2: fuzz_date(s); break;
	case 3: fuzz_timestamp(s); break;
	case 4: fuzz_text(s, opt); break;
	case 12: fuzz_product_key(s); break;
	case 13: fuzz_days(s, opt); break;
	case 14:
		rc = gtin_check_digit(s, (int)strlen(s));
		if (rc != -1 && (rc < '0' || rc > '9'))
			fuzz_fail("gtin_check_digit('%s') = %d", s, rc);
		break;
	case 15: fuzz_utf8(s); break;
	default: fuzz_codes(s, sel); break;
	}
	free(s);
	return 0;
}
