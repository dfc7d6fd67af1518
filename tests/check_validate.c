/*
 * check_validate.c -- table-driven tests for validate.c and err.c, and for
 * db.c's reading of the integers a result holds.
 *
 * Each validator has a table of inputs with the expected verdict and either
 * the expected value or a piece of the expected message; one loop test walks
 * each table, so a new edge case is one more row.  A separate table pins
 * whole messages, since interfaces show them to people verbatim.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "err.h"
#include "jsonin.h"
#include "validate.h"

Suite *validate_suite(void);

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Any value that no validator would write, to see what it leaves alone. */
#define SENTINEL INT64_C(-4242)

static const char *str(const char *s)
{
	return s != NULL ? s : "(NULL)";
}

/* Start from garbage so a validator that forgets a field is caught. */
static void err_dirty(struct err *e)
{
	memset(e, 'x', sizeof *e);
	e->code = ERR_INTERNAL;
	e->field[sizeof e->field - 1] = '\0';
	e->msg[sizeof e->msg - 1] = '\0';
}

/*
 * The common verdict check: rc matches ok, and a failure is ERR_INVALID on
 * the right field with msg somewhere in the message.
 */
static void verdict(int rc, bool ok, const struct err *e, const char *field,
		    const char *msg, const char *in)
{
	if (ok) {
		ck_assert_msg(rc == 0, "input \"%s\": rejected: %s", str(in),
			      e->msg);
		return;
	}
	ck_assert_msg(rc == -1, "input \"%s\": accepted", str(in));
	ck_assert_msg(e->code == ERR_INVALID, "input \"%s\": code %s", str(in),
		      err_code_name(e->code));
	ck_assert_str_eq(e->field, field);
	if (msg != NULL)
		ck_assert_msg(strstr(e->msg, msg) != NULL,
			      "input \"%s\": message \"%s\" lacks \"%s\"",
			      str(in), e->msg, msg);
}

/* A validator's message must be readable as valid UTF-8 text itself. */
static void msg_is_text(const struct err *e)
{
	ck_assert_msg(validate_text(e->msg, sizeof e->msg - 1, false, "msg",
				    NULL) == 0,
		      "message is not clean text: %s", e->msg);
}

/* ---- parse_int64 ---- */

static const struct int_case {
	const char *in;
	int64_t min, max;
	bool ok;
	int64_t want;	 /* when ok */
	const char *msg; /* when not */
} int_cases[] = {
	{"0", INT64_MIN, INT64_MAX, true, 0, NULL},
	{"7", INT64_MIN, INT64_MAX, true, 7, NULL},
	{"007", INT64_MIN, INT64_MAX, true, 7, NULL},
	{"-0", INT64_MIN, INT64_MAX, true, 0, NULL},
	{"-007", INT64_MIN, INT64_MAX, true, -7, NULL},
	{"123456789", INT64_MIN, INT64_MAX, true, 123456789, NULL},
	{"9223372036854775807", INT64_MIN, INT64_MAX, true, INT64_MAX, NULL},
	{"-9223372036854775808", INT64_MIN, INT64_MAX, true, INT64_MIN, NULL},
	{"0009223372036854775807", INT64_MIN, INT64_MAX, true, INT64_MAX, NULL},
	{"9223372036854775808", INT64_MIN, INT64_MAX, false, 0,
	 "must be at most 9223372036854775807"},
	{"-9223372036854775809", INT64_MIN, INT64_MAX, false, 0,
	 "must be at least -9223372036854775808"},
	{"18446744073709551615", INT64_MIN, INT64_MAX, false, 0,
	 "must be at most"},
	{"18446744073709551616", INT64_MIN, INT64_MAX, false, 0,
	 "must be at most"},
	{"-18446744073709551616", INT64_MIN, INT64_MAX, false, 0,
	 "must be at least"},
	{"99999999999999999999999999999999", INT64_MIN, INT64_MAX, false, 0,
	 "must be at most"},
	{"99999999999999999999x", INT64_MIN, INT64_MAX, false, 0,
	 "not a whole number"},
	{"", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{NULL, INT64_MIN, INT64_MAX, false, 0, "missing"},
	{" 1", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"1 ", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"\t1", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"1\n", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"+1", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"-", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"--1", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"-+1", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"- 1", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"1-", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"1e3", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"0x10", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"1.0", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"1,000", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"1 000", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"12a", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"\xd9\xa1", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"\xef\xbc\x91", INT64_MIN, INT64_MAX, false, 0, "not a whole number"},
	{"1", 1, 100, true, 1, NULL},
	{"100", 1, 100, true, 100, NULL},
	{"0", 1, 100, false, 0, "must be at least 1"},
	{"101", 1, 100, false, 0, "must be at most 100"},
	{"-1", 0, INT64_MAX, false, 0, "must be at least 0"},
	{"-5", -10, -1, true, -5, NULL},
	{"0", -10, -1, false, 0, "must be at most -1"},
	{"42", 42, 42, true, 42, NULL},
	{"43", 42, 42, false, 0, "must be at most 42"},
};

START_TEST(test_int64)
{
	const struct int_case *c = &int_cases[_i];
	struct err e;
	int64_t v = SENTINEL;
	int rc;

	err_dirty(&e);
	rc = parse_int64(c->in, c->min, c->max, &v, "qty", &e);
	verdict(rc, c->ok, &e, "qty", c->msg, c->in);
	if (c->ok)
		ck_assert_int_eq(v, c->want);
	else
		ck_assert_int_eq(v, SENTINEL);
}
END_TEST

START_TEST(test_int64_bad_range)
{
	struct err e;
	int64_t v = SENTINEL;

	err_dirty(&e);
	ck_assert_int_eq(parse_int64("5", 10, 1, &v, "qty", &e), -1);
	ck_assert_int_eq(e.code, ERR_INTERNAL);
	ck_assert_int_eq(v, SENTINEL);
	ck_assert_int_eq(parse_int64("5", 1, 10, NULL, "qty", &e), 0);
}
END_TEST

/* ---- GTIN ---- */

static const struct gtin_case {
	const char *in;
	bool ok;
	const char *want; /* 14-digit form when ok, message piece when not */
} gtin_cases[] = {
	{"4006381333931", true, "04006381333931"},
	{"5901234123457", true, "05901234123457"},
	{"73513537", true, "00000073513537"},
	{"96385074", true, "00000096385074"},
	{"036000291452", true, "00036000291452"},
	{"00036000291452", true, "00036000291452"},
	{"10012345678902", true, "10012345678902"},
	{"7350012345679", true, "07350012345679"},
	{"7350012345671", false, "wrong check digit, expected 9"},
	{"4006381333932", false, "wrong check digit, expected 1"},
	{"4006381333930", false, "wrong check digit, expected 1"},
	{"73513536", false, "wrong check digit, expected 7"},
	{"036000291453", false, "wrong check digit, expected 2"},
	{"10012345678901", false, "wrong check digit, expected 2"},
	{"0004006381333931", false, "must be 8, 12, 13 or 14 digits"},
	{"123456789012345", false, "must be 8, 12, 13 or 14 digits"},
	{"1234567", false, "must be 8, 12, 13 or 14 digits"},
	{"123456789", false, "must be 8, 12, 13 or 14 digits"},
	{"12345678901", false, "must be 8, 12, 13 or 14 digits"},
	{"", false, "must be 8, 12, 13 or 14 digits"},
	{NULL, false, "missing"},
	{"400638133393A", false, "only digits are allowed"},
	{"ABCDEFGH", false, "only digits are allowed"},
	{"4006381 333931", false, "only digits are allowed"},
	{" 4006381333931", false, "only digits are allowed"},
	{"4006381333931 ", false, "only digits are allowed"},
	{"4006381333931\n", false, "only digits are allowed"},
	{"-4006381333931", false, "only digits are allowed"},
	{"+4006381333931", false, "only digits are allowed"},
	{"4006-3813-3393-1", false, "only digits are allowed"},
	{"4006381333931.0", false, "only digits are allowed"},
	{"\xef\xbc\x94\xef\xbc\x90\xef\xbc\x90\xef\xbc\x96\xef\xbc\x93"
	 "\xef\xbc\x98\xef\xbc\x91\xef\xbc\x93",
	 false, "only digits are allowed"},
};

START_TEST(test_gtin)
{
	const struct gtin_case *c = &gtin_cases[_i];
	struct err e;
	char out[15];
	int rc;

	err_dirty(&e);
	rc = validate_gtin(c->in, "gtin", &e);
	verdict(rc, c->ok, &e, "gtin", c->ok ? NULL : c->want, c->in);

	memset(out, 'x', sizeof out);
	err_dirty(&e);
	rc = gtin_normalize(c->in, out, "gtin", &e);
	verdict(rc, c->ok, &e, "gtin", c->ok ? NULL : c->want, c->in);
	if (c->ok) {
		ck_assert_str_eq(out, c->want);
		/* The padded form must itself be a valid GTIN-14. */
		ck_assert_int_eq(validate_gtin(out, "gtin", NULL), 0);
	} else {
		ck_assert_str_eq(out, "");
	}
}
END_TEST

static const struct check_digit_case {
	const char *digits;
	int n;
	int want;
} check_digit_cases[] = {
	{"400638133393", 13, '1'},
	{"4006381333931", 13, '1'}, /* the check digit itself is not read */
	{"400638133393X", 13, '1'},
	{"7351353", 8, '7'},
	{"03600029145", 12, '2'},
	{"1001234567890", 14, '2'},
	{"735001234567", 13, '9'},
	{"0000000", 8, '0'},
	{"400638133393", 11, -1},
	{"400638133393", 15, -1},
	{"400638133393", 0, -1},
	{"400638133393", -13, -1},
	{NULL, 13, -1},
	{"40063813339A", 13, -1},
	{"4006", 13, -1},
	{"", 8, -1},
};

START_TEST(test_gtin_check_digit)
{
	const struct check_digit_case *c = &check_digit_cases[_i];

	ck_assert_int_eq(gtin_check_digit(c->digits, c->n), c->want);
}
END_TEST

/* ---- validators with one string in and a verdict out ---- */

struct str_case {
	const char *in;
	bool ok;
	const char *msg; /* piece of the message when not ok */
};

static void run_str_case(int (*fn)(const char *, const char *, struct err *),
			 const char *field, const struct str_case *c)
{
	struct err e;

	err_dirty(&e);
	verdict(fn(c->in, field, &e), c->ok, &e, field, c->msg, c->in);
	if (!c->ok)
		msg_is_text(&e);
}

static const struct str_case vnr_cases[] = {
	{"123456", true, NULL},
	{"012345", true, NULL},
	{"000000", true, NULL},
	{"999999", true, NULL},
	{"12345", false, "must be exactly 6 digits"},
	{"1234567", false, "must be exactly 6 digits"},
	{"0123456", false, "must be exactly 6 digits"},
	{"12345a", false, "must be exactly 6 digits"},
	{" 12345", false, "must be exactly 6 digits"},
	{"123456 ", false, "must be exactly 6 digits"},
	{"-12345", false, "must be exactly 6 digits"},
	{"+12345", false, "must be exactly 6 digits"},
	{"12 345", false, "must be exactly 6 digits"},
	{"", false, "must be exactly 6 digits"},
	{NULL, false, "missing"},
	{"\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93\xef\xbc\x94\xef\xbc\x95"
	 "\xef\xbc\x96",
	 false, "must be exactly 6 digits"},
};

START_TEST(test_vnr)
{
	run_str_case(validate_vnr, "vnr", &vnr_cases[_i]);
}
END_TEST

static const struct str_case npl_cases[] = {
	{"20090915000018", true, NULL},
	{"19750101000014", true, NULL},
	{"00000000000000", true, NULL},
	{"2009091500001", false, "must be exactly 14 digits"},
	{"200909150000180", false, "must be exactly 14 digits"},
	{"2009091500001X", false, "must be exactly 14 digits"},
	{"2009-09-15-0000", false, "must be exactly 14 digits"},
	{" 20090915000018", false, "must be exactly 14 digits"},
	{"20090915000018\n", false, "must be exactly 14 digits"},
	{"", false, "must be exactly 14 digits"},
	{NULL, false, "missing"},
};

START_TEST(test_npl_id)
{
	run_str_case(validate_npl_id, "npl_id", &npl_cases[_i]);
}
END_TEST

static const struct str_case atc_cases[] = {
	{"J01CA04", true, NULL},	 {"N02BE01", true, NULL},
	{"A10BA02", true, NULL},	 {"L01XC02", true, NULL},
	{"j01ca04", false, "ATC code"},	 {"J01ca04", false, "ATC code"},
	{"J01CA4", false, "ATC code"},	 {"J01CA045", false, "ATC code"},
	{"J01CA", false, "ATC code"},	 {"J01", false, "ATC code"},
	{"J", false, "ATC code"},	 {"JO1CA04", false, "ATC code"},
	{"J01C404", false, "ATC code"},	 {"101CA04", false, "ATC code"},
	{" J01CA04", false, "ATC code"}, {"J01CA04 ", false, "ATC code"},
	{"J01 CA04", false, "ATC code"}, {"J01ÅA04", false, "ATC code"},
	{"", false, "ATC code"},	 {NULL, false, "missing"},
};

START_TEST(test_atc)
{
	run_str_case(validate_atc, "atc", &atc_cases[_i]);
}
END_TEST

static const struct str_case region_cases[] = {
	{"01", true, NULL},
	{"09", true, NULL},
	{"10", true, NULL},
	{"25", true, NULL},
	{"00", false, "not a Swedish region code"},
	{"02", false, "not a Swedish region code"},
	{"11", false, "not a Swedish region code"},
	{"15", false, "not a Swedish region code"},
	{"16", false, "not a Swedish region code"},
	{"26", false, "not a Swedish region code"},
	{"99", false, "not a Swedish region code"},
	{"1", false, "not a Swedish region code"},
	{"001", false, "not a Swedish region code"},
	{"010", false, "not a Swedish region code"},
	{" 01", false, "not a Swedish region code"},
	{"01 ", false, "not a Swedish region code"},
	{"+1", false, "not a Swedish region code"},
	{"-1", false, "not a Swedish region code"},
	{"AB", false, "not a Swedish region code"},
	{"Stockholm", false, "not a Swedish region code"},
	{"", false, "not a Swedish region code"},
	{NULL, false, "missing"},
};

START_TEST(test_region_code)
{
	run_str_case(validate_region_code, "region", &region_cases[_i]);
}
END_TEST

static const struct region_case {
	const char *code;
	const char *name; /* NULL: not a region */
} region_name_cases[] = {
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
	{"02", NULL},
	{"11", NULL},
	{"1", NULL},
	{"", NULL},
	{NULL, NULL},
};

START_TEST(test_region_name)
{
	const struct region_case *c = &region_name_cases[_i];
	const char *got = region_name(c->code);

	if (c->name == NULL) {
		ck_assert_ptr_null(got);
		return;
	}
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, c->name);
	ck_assert_int_eq(validate_region_code(c->code, "region", NULL), 0);
	ck_assert_int_eq(validate_text(got, 64, false, "name", NULL), 0);
}
END_TEST

/* 32 and 33 characters. */
#define SITE32 "abcdefghijklmnopqrstuvwxyz012345"
#define SITE33 SITE32 "6"

static const struct str_case site_cases[] = {
	{"SUS-MALMO", true, NULL},
	{"karolinska.solna_1", true, NULL},
	{"A", true, NULL},
	{"1", true, NULL},
	{"abc-", true, NULL},
	{"a..b", true, NULL},
	{SITE32, true, NULL},
	{SITE33, false, "longer than 32 characters"},
	{"", false, "must not be empty"},
	{NULL, false, "missing"},
	{"-abc", false, "must start with a letter or digit"},
	{".abc", false, "must start with a letter or digit"},
	{"_abc", false, "must start with a letter or digit"},
	{"a b", false, "only letters"},
	{" ab", false, "only letters"},
	{"ab ", false, "only letters"},
	{"a/b", false, "only letters"},
	{"a:b", false, "only letters"},
	{"\xc3\xa5re", false, "only letters"},
	{"ab\n", false, "only letters"},
};

START_TEST(test_site_code)
{
	run_str_case(validate_site_code, "site", &site_cases[_i]);
}
END_TEST

/* 64 and 65 characters. */
#define LOT64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define LOT65 LOT64 "X"

static const struct str_case lot_cases[] = {
	{"", true, NULL},
	{"A123", true, NULL},
	{"LOT 42", true, NULL},
	{"a-b/c#1~!", true, NULL},
	{LOT64, true, NULL},
	{LOT65, false, "longer than 64 characters"},
	{" A", false, "must not start or end with a blank"},
	{"A ", false, "must not start or end with a blank"},
	{" ", false, "must not start or end with a blank"},
	{"A\tB", false, "printable ASCII"},
	{"A\n", false, "printable ASCII"},
	{"A\x7f", false, "printable ASCII"},
	{"\xc3\x96L", false, "printable ASCII"},
	{NULL, false, "missing"},
};

START_TEST(test_lot)
{
	run_str_case(validate_lot, "lot", &lot_cases[_i]);
}
END_TEST

static const struct str_case uuid_cases[] = {
	{"123e4567-e89b-12d3-a456-426614174000", true, NULL},
	{"123E4567-E89B-12D3-A456-426614174000", true, NULL},
	{"123e4567-E89B-12d3-a456-426614174000", true, NULL},
	{"00000000-0000-0000-0000-000000000000", true, NULL},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", true, NULL},
	{"123e4567e89b12d3a456426614174000", false, "not a UUID"},
	{"{123e4567-e89b-12d3-a456-426614174000}", false, "not a UUID"},
	{"urn:uuid:123e4567-e89b-12d3-a456-426614174000", false, "not a UUID"},
	{"123e4567-e89b-12d3-a456-4266141740000", false, "not a UUID"},
	{"123e4567-e89b-12d3-a456-42661417400", false, "not a UUID"},
	{"123e4567-e89b-12d3-a456-42661417400g", false, "not a UUID"},
	{"123e4567e-89b-12d3-a456-426614174000", false, "not a UUID"},
	{"123e4567-e89b-12d3-a456_426614174000", false, "not a UUID"},
	{"123e4567-e89b-12d3-a456-426614174000\n", false, "not a UUID"},
	{" 123e4567-e89b-12d3-a456-426614174000", false, "not a UUID"},
	{"123e4567-e89b-12d3-a456-42661417400 ", false, "not a UUID"},
	{"", false, "not a UUID"},
	{NULL, false, "missing"},
};

START_TEST(test_uuid)
{
	run_str_case(validate_uuid, "id", &uuid_cases[_i]);
}
END_TEST

/* ---- dates ---- */

static const struct date_case {
	const char *in;
	bool ok;
	int y, m, d;
	const char *msg;
} date_cases[] = {
	{"2024-02-29", true, 2024, 2, 29, NULL},
	{"2000-02-29", true, 2000, 2, 29, NULL},
	{"2023-02-28", true, 2023, 2, 28, NULL},
	{"1900-01-01", true, 1900, 1, 1, NULL},
	{"9999-12-31", true, 9999, 12, 31, NULL},
	{"2024-01-31", true, 2024, 1, 31, NULL},
	{"2024-04-30", true, 2024, 4, 30, NULL},
	{"2023-02-29", false, 0, 0, 0, "2023-02 has 28 days"},
	{"1900-02-29", false, 0, 0, 0, "1900-02 has 28 days"},
	{"2100-02-29", false, 0, 0, 0, "2100-02 has 28 days"},
	{"2024-02-30", false, 0, 0, 0, "2024-02 has 29 days"},
	{"2024-04-31", false, 0, 0, 0, "2024-04 has 30 days"},
	{"2024-01-32", false, 0, 0, 0, "2024-01 has 31 days"},
	{"2024-01-00", false, 0, 0, 0, "no such day"},
	{"2024-13-01", false, 0, 0, 0, "month must be 01 to 12"},
	{"2024-00-10", false, 0, 0, 0, "month must be 01 to 12"},
	{"1899-12-31", false, 0, 0, 0, "year must be 1900 or later"},
	{"0000-01-01", false, 0, 0, 0, "year must be 1900 or later"},
	{"2024-1-01", false, 0, 0, 0, "YYYY-MM-DD"},
	{"2024-01-1", false, 0, 0, 0, "YYYY-MM-DD"},
	{"24-01-01", false, 0, 0, 0, "YYYY-MM-DD"},
	{"12024-01-01", false, 0, 0, 0, "YYYY-MM-DD"},
	{"2024/01/01", false, 0, 0, 0, "YYYY-MM-DD"},
	{"20240101", false, 0, 0, 0, "YYYY-MM-DD"},
	{"2024-01-01T00:00", false, 0, 0, 0, "YYYY-MM-DD"},
	{"2024-01-01 ", false, 0, 0, 0, "YYYY-MM-DD"},
	{" 2024-01-01", false, 0, 0, 0, "YYYY-MM-DD"},
	{"+024-01-01", false, 0, 0, 0, "YYYY-MM-DD"},
	{"2024-+1-01", false, 0, 0, 0, "YYYY-MM-DD"},
	{"2024-01--1", false, 0, 0, 0, "YYYY-MM-DD"},
	{"2024-0a-01", false, 0, 0, 0, "YYYY-MM-DD"},
	{"", false, 0, 0, 0, "YYYY-MM-DD"},
	{NULL, false, 0, 0, 0, "missing"},
};

START_TEST(test_date)
{
	const struct date_case *c = &date_cases[_i];
	struct date d = {-1, -1, -1};
	struct err e;

	err_dirty(&e);
	verdict(parse_date(c->in, &d, "date", &e), c->ok, &e, "date", c->msg,
		c->in);
	if (c->ok) {
		ck_assert_int_eq(d.year, c->y);
		ck_assert_int_eq(d.month, c->m);
		ck_assert_int_eq(d.day, c->d);
	} else {
		ck_assert_int_eq(d.year, -1);
		ck_assert_int_eq(d.month, -1);
		ck_assert_int_eq(d.day, -1);
	}
}
END_TEST

/* Every day of 1900..2400 against an independent count of days per year. */
START_TEST(test_date_every_day)
{
	static const char *const months[] = {"01", "02", "03", "04",
					     "05", "06", "07", "08",
					     "09", "10", "11", "12"};
	char buf[16];
	int y, m, d, days, want;
	struct date out;

	for (y = 1900; y <= 2400; y++) {
		days = 0;
		for (m = 0; m < 12; m++) {
			for (d = 1; d <= 32; d++) {
				buf[0] = (char)('0' + y / 1000);
				buf[1] = (char)('0' + y / 100 % 10);
				buf[2] = (char)('0' + y / 10 % 10);
				buf[3] = (char)('0' + y % 10);
				buf[4] = '-';
				memcpy(buf + 5, months[m], 2);
				buf[7] = '-';
				buf[8] = (char)('0' + d / 10);
				buf[9] = (char)('0' + d % 10);
				buf[10] = '\0';
				if (parse_date(buf, &out, "date", NULL) == 0)
					days++;
			}
		}
		want = y % 400 == 0 || (y % 4 == 0 && y % 100 != 0) ? 366 : 365;
		ck_assert_int_eq(days, want);
	}
}
END_TEST

/* ---- text ---- */

static const struct text_case {
	const char *in;
	size_t max;
	bool allow_empty;
	bool ok;
	const char *msg;
} text_cases[] = {
	{"Skåne", 100, false, true, NULL},
	{"Jämtland Härjedalen", 100, false, true, NULL},
	{"", 100, true, true, NULL},
	{"", 100, false, false, "must not be empty"},
	{"   ", 100, false, false, "must not be blank"},
	{"\xc2\xa0 \xe3\x80\x80", 100, false, false, "must not be blank"},
	{"   ", 100, true, true, NULL},
	{" a ", 100, false, true, NULL},
	{"", 0, true, true, NULL},
	{NULL, 100, true, false, "missing"},
	{"abc", 3, false, true, NULL},
	{"abcd", 3, false, false, "longer than 3 bytes"},
	{"a", 0, true, false, "longer than 0 bytes"},
	{"åäö", 6, false, true, NULL},
	{"åäö", 5, false, false, "longer than 5 bytes"},
	{"x", SIZE_MAX, false, true, NULL},
	/* control characters */
	{"a\tb", 100, false, false,
	 "control character U+0009 at byte offset 1"},
	{"a\nb", 100, false, false, "control character U+000A"},
	{"\r", 100, false, false, "control character U+000D"},
	{"\x01", 100, false, false, "control character U+0001"},
	{"\x1f", 100, false, false, "control character U+001F"},
	{"\x7f", 100, false, false, "control character U+007F"},
	{"\xc2\x80", 100, false, false, "control character U+0080"},
	{"\xc2\x85", 100, false, false, "control character U+0085"},
	{"\xc2\x9f", 100, false, false, "control character U+009F"},
	{" ~", 100, false, true, NULL},
	{"\xc2\xa0x", 100, false, true, NULL}, /* U+00A0 is no control */
	/* well-formed boundaries */
	{"\xc2\xa1", 100, false, true, NULL},
	{"\xdf\xbf", 100, false, true, NULL},
	{"\xe0\xa0\x80", 100, false, true, NULL},
	{"\xed\x9f\xbf", 100, false, true, NULL},
	{"\xee\x80\x80", 100, false, true, NULL},
	{"\xef\xbf\xbd", 100, false, true, NULL},
	{"\xf0\x90\x80\x80", 100, false, true, NULL},
	{"\xf0\x9f\x98\x80", 100, false, true, NULL},
	{"\xf4\x8f\xbf\xbf", 100, false, true, NULL},
	/* overlong forms */
	{"\xc0\xaf", 100, false, false, "invalid UTF-8 at byte offset 0"},
	{"\xc0\x80", 100, false, false, "invalid UTF-8"},
	{"\xc1\xbf", 100, false, false, "invalid UTF-8"},
	{"\xe0\x80\xaf", 100, false, false, "invalid UTF-8"},
	{"\xe0\x9f\xbf", 100, false, false, "invalid UTF-8"},
	{"\xf0\x80\x80\xaf", 100, false, false, "invalid UTF-8"},
	{"\xf0\x8f\xbf\xbf", 100, false, false, "invalid UTF-8"},
	/* surrogates and beyond U+10FFFF */
	{"\xed\xa0\x80", 100, false, false, "invalid UTF-8"},
	{"\xed\xbf\xbf", 100, false, false, "invalid UTF-8"},
	{"\xed\xa0\xbd\xed\xb8\x80", 100, false, false, "invalid UTF-8"},
	{"\xf4\x90\x80\x80", 100, false, false, "invalid UTF-8"},
	{"\xf5\x80\x80\x80", 100, false, false, "invalid UTF-8"},
	{"\xf8\x88\x80\x80\x80", 100, false, false, "invalid UTF-8"},
	{"\xfe", 100, false, false, "invalid UTF-8"},
	{"\xff", 100, false, false, "invalid UTF-8"},
	/* stray continuation bytes and cut sequences */
	{"\x80", 100, false, false, "invalid UTF-8 at byte offset 0"},
	{"a\xbf", 100, false, false, "invalid UTF-8 at byte offset 1"},
	{"\xc3\xa5\xa5", 100, false, false, "invalid UTF-8 at byte offset 2"},
	{"\xc3", 100, false, false, "invalid UTF-8"},
	{"ab\xc3", 100, false, false, "invalid UTF-8 at byte offset 2"},
	{"\xc3(", 100, false, false, "invalid UTF-8"},
	{"\xe2\x82", 100, false, false, "invalid UTF-8"},
	{"\xe2\x82z", 100, false, false, "invalid UTF-8"},
	{"\xf0\x9f\x98", 100, false, false, "invalid UTF-8"},
	{"\xf0\x9f\x98 ", 100, false, false, "invalid UTF-8"},
	{"\xe2\x82\xac\xe2", 100, false, false,
	 "invalid UTF-8 at byte offset 3"},
	/* ISO 8859-1 text that was never converted */
	{"Sk\xe5ne", 100, false, false, "invalid UTF-8 at byte offset 2"},
};

START_TEST(test_text)
{
	const struct text_case *c = &text_cases[_i];
	struct err e;

	err_dirty(&e);
	verdict(validate_text(c->in, c->max, c->allow_empty, "note", &e), c->ok,
		&e, "note", c->msg, c->in);
	if (!c->ok)
		msg_is_text(&e);
}
END_TEST

/* ---- whole messages ---- */

static int qty_1_100(const char *s, const char *field, struct err *e)
{
	int64_t v;

	return parse_int64(s, 1, 100, &v, field, e);
}

static int date_any(const char *s, const char *field, struct err *e)
{
	struct date d;

	return parse_date(s, &d, field, e);
}

static int text_10(const char *s, const char *field, struct err *e)
{
	return validate_text(s, 10, false, field, e);
}

static const struct msg_case {
	int (*fn)(const char *s, const char *field, struct err *e);
	const char *field;
	const char *in;
	const char *msg;
} msg_cases[] = {
	{qty_1_100, "qty", "12a", "qty \"12a\": not a whole number"},
	{qty_1_100, "qty", "0", "qty 0: must be at least 1"},
	{qty_1_100, "qty", "-3", "qty -3: must be at least 1"},
	{qty_1_100, "qty", "101", "qty 101: must be at most 100"},
	{qty_1_100, "qty", "007", NULL},
	{qty_1_100, "qty", "", "qty \"\": not a whole number"},
	{qty_1_100, "qty", " 5", "qty \" 5\": not a whole number"},
	{qty_1_100, "qty", NULL, "qty: missing"},
	{qty_1_100, NULL, "0", "value 0: must be at least 1"},
	{qty_1_100, "", "0", "value 0: must be at least 1"},
	{validate_gtin, "gtin", "7350012345671",
	 "gtin 7350012345671: wrong check digit, expected 9"},
	{validate_gtin, "gtin", "123",
	 "gtin 123: must be 8, 12, 13 or 14 digits"},
	{validate_gtin, "gtin", "12 34",
	 "gtin \"12 34\": only digits are allowed"},
	{validate_vnr, "vnr", "12345", "vnr 12345: must be exactly 6 digits"},
	{validate_vnr, "vnr", "012345", NULL},
	{validate_region_code, "region", "02",
	 "region 02: not a Swedish region code"},
	{validate_region_code, "region", "",
	 "region \"\": not a Swedish region code"},
	{validate_atc, "atc", "j01ca04",
	 "atc \"j01ca04\": not a full 7-character ATC code such as J01CA04"},
	{date_any, "expires", "2023-02-29",
	 "expires \"2023-02-29\": no such day, 2023-02 has 28 days"},
	{validate_site_code, "site", "a\"b\\c",
	 "site \"a\\\"b\\\\c\": only letters A-Z, digits, '.', '_' and '-' "
	 "are allowed"},
	{validate_lot, "lot", "A\x01",
	 "lot \"A\\x01\": only printable ASCII characters are allowed"},
	{text_10, "note", "a\tb",
	 "note \"a\\x09b\": control character U+0009 at byte offset 1"},
	{text_10, "note", "\xc2\x85",
	 "note \"\\xC2\\x85\": control character U+0085 at byte offset 0"},
	{text_10, "note", "\xc0\xaf",
	 "note \"\\xC0\\xAF\": invalid UTF-8 at byte offset 0"},
	{text_10, "note", "å\xff",
	 "note \"å\\xFF\": invalid UTF-8 at byte offset 2"},
	{text_10, "note", "åååååå", "note \"åååååå\": longer than 10 bytes"},
	/* 41 characters: 40 are shown */
	{validate_vnr, "vnr", "0123456789012345678901234567890123456789X",
	 "vnr \"0123456789012345678901234567890123456789...\": "
	 "must be exactly 6 digits"},
	{qty_1_100, "qty", "00000000000000000000000000000000000000001", NULL},
	{qty_1_100, "qty", "10000000000000000000000000000000000000000",
	 "qty 1000000000000000000000000000000000000000...: must be at most "
	 "100"},
	/* characters, not bytes, are counted, and none is cut in half */
	{validate_vnr, "vnr", "ååååååååååååååååååååååååååååååååååååååååå",
	 "vnr \"åååååååååååååååååååååååååååååååååååååååå...\": must be "
	 "exactly 6 digits"},
};

START_TEST(test_messages)
{
	const struct msg_case *c = &msg_cases[_i];
	struct err e;
	int rc;

	err_dirty(&e);
	rc = c->fn(c->in, c->field, &e);
	if (c->msg == NULL) {
		ck_assert_msg(rc == 0, "input \"%s\": %s", str(c->in), e.msg);
		return;
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_str_eq(e.field, c->field != NULL ? c->field : "");
	ck_assert_str_eq(e.msg, c->msg);
}
END_TEST

/* ---- robustness ---- */

/* A megabyte of input gives a short message and no trouble. */
START_TEST(test_huge_input)
{
	static const char fill[] = {'1', 'a', ' ', '\xc3'};
	size_t size = 1024 * 1024;
	char *big = malloc(size + 1);
	struct err e;
	int64_t v = SENTINEL;
	size_t i;

	ck_assert_ptr_nonnull(big);
	for (i = 0; i < sizeof fill; i++) {
		memset(big, fill[i], size);
		big[size] = '\0';

		err_dirty(&e);
		ck_assert_int_eq(parse_int64(big, 0, 100, &v, "qty", &e), -1);
		ck_assert_int_eq(v, SENTINEL);
		ck_assert_uint_lt(strlen(e.msg), 256);
		ck_assert_ptr_nonnull(strstr(e.msg, "..."));
		msg_is_text(&e);

		err_dirty(&e);
		ck_assert_int_eq(validate_gtin(big, "gtin", &e), -1);
		ck_assert_uint_lt(strlen(e.msg), 256);
		msg_is_text(&e);

		err_dirty(&e);
		ck_assert_int_eq(validate_text(big, VALIDATE_TEXT_MAX, false,
					       "note", &e),
				 -1);
		ck_assert_ptr_nonnull(strstr(e.msg, "longer than 1000 bytes"));
		ck_assert_uint_lt(strlen(e.msg), 400);
		msg_is_text(&e);

		ck_assert_int_eq(validate_site_code(big, "site", NULL), -1);
		ck_assert_int_eq(validate_lot(big, "lot", NULL), -1);
		ck_assert_int_eq(validate_uuid(big, "id", NULL), -1);
		ck_assert_int_eq(parse_date(big, NULL, "date", NULL), -1);
	}
	/* Valid UTF-8, just long: allowed when the limit allows it. */
	memset(big, 'a', size);
	ck_assert_int_eq(validate_text(big, size, false, "note", NULL), 0);
	free(big);
}
END_TEST

/* Callers that only want a verdict may pass no struct err. */
START_TEST(test_null_err)
{
	ck_assert_int_eq(parse_int64("x", 0, 1, NULL, "qty", NULL), -1);
	ck_assert_int_eq(parse_int64(NULL, 0, 1, NULL, "qty", NULL), -1);
	ck_assert_int_eq(parse_int64("1", 0, 1, NULL, "qty", NULL), 0);
	ck_assert_int_eq(validate_gtin("7350012345671", "gtin", NULL), -1);
	ck_assert_int_eq(gtin_normalize("1", NULL, "gtin", NULL), -1);
	ck_assert_int_eq(gtin_normalize("73513537", NULL, "gtin", NULL), 0);
	ck_assert_int_eq(validate_vnr(NULL, "vnr", NULL), -1);
	ck_assert_int_eq(validate_npl_id(NULL, "npl_id", NULL), -1);
	ck_assert_int_eq(validate_atc(NULL, "atc", NULL), -1);
	ck_assert_int_eq(validate_region_code(NULL, "region", NULL), -1);
	ck_assert_int_eq(validate_site_code(NULL, "site", NULL), -1);
	ck_assert_int_eq(validate_lot(NULL, "lot", NULL), -1);
	ck_assert_int_eq(validate_uuid(NULL, "id", NULL), -1);
	ck_assert_int_eq(parse_date(NULL, NULL, "date", NULL), -1);
	ck_assert_int_eq(parse_date("2024-02-29", NULL, "date", NULL), 0);
	ck_assert_int_eq(validate_text(NULL, 10, true, "note", NULL), -1);
}
END_TEST

/* ---- err.c ---- */

static const struct code_case {
	enum err_code code;
	const char *name;
} code_cases[] = {
	{ERR_NONE, "none"},
	{ERR_INVALID, "invalid"},
	{ERR_NOT_FOUND, "not_found"},
	{ERR_CONFLICT, "conflict"},
	{ERR_FORBIDDEN, "forbidden"},
	{ERR_UNAVAILABLE, "unavailable"},
	{ERR_INTERNAL, "internal"},
	{(enum err_code)7, "unknown"}, /* no such code */
};

START_TEST(test_err_code_name)
{
	ck_assert_str_eq(err_code_name(code_cases[_i].code),
			 code_cases[_i].name);
}
END_TEST

START_TEST(test_err_set)
{
	struct err e;

	err_dirty(&e);
	ck_assert_int_eq(
		err_set(&e, ERR_CONFLICT, "key", "key %s: %d", "k1", 7), -1);
	ck_assert_int_eq(e.code, ERR_CONFLICT);
	ck_assert_str_eq(e.field, "key");
	ck_assert_str_eq(e.msg, "key k1: 7");

	err_dirty(&e);
	ck_assert_int_eq(err_set(&e, ERR_INTERNAL, NULL, "boom"), -1);
	ck_assert_str_eq(e.field, "");
	ck_assert_str_eq(e.msg, "boom");

	ck_assert_int_eq(err_set(NULL, ERR_INTERNAL, "f", "x %d", 1), -1);

	err_clear(&e);
	ck_assert_int_eq(e.code, ERR_NONE);
	ck_assert_str_eq(e.field, "");
	ck_assert_str_eq(e.msg, "");
	err_clear(NULL);
}
END_TEST

/* Truncation keeps the buffers terminated and never splits a character. */
/* A message quoting input cut inside a character ("%.4s" of "RS-é",
 * found by fuzzing) is made UTF-8: that byte becomes '?', the rest stays. */
START_TEST(test_err_scrubbed)
{
	struct err e;

	err_set(&e, ERR_INVALID, "notice_id", "notice_id \"%.4s\": too long",
		"RS-\xc3\xa9");
	ck_assert_str_eq(e.msg, "notice_id \"RS-?\": too long");
	err_set(&e, ERR_INVALID, "\xffx", "\xc3\xa5 ok \xed\xa0\x80");
	ck_assert_str_eq(e.field, "?x");
	ck_assert_str_eq(e.msg, "\xc3\xa5 ok ???");
	err_prefix(&e, "%.1s: ", "\xc3\xa5");
	ck_assert_str_eq(e.msg, "?: \xc3\xa5 ok ???");
}
END_TEST

START_TEST(test_err_truncate)
{
	char big[2048], field[200];
	struct err e;
	size_t i;

	for (i = 0; i + 2 < sizeof big; i += 2)
		memcpy(big + i, "\xc3\xa5", 2);
	big[i] = '\0';
	for (i = 0; i + 2 < sizeof field; i += 2)
		memcpy(field + i, "\xc3\xa5", 2);
	field[i] = '\0';

	err_dirty(&e);
	err_set(&e, ERR_INVALID, field, "x%s", big);
	/* 63 bytes fit; the 32nd 'å' would be cut, so it goes. */
	ck_assert_uint_eq(strlen(e.field), 62);
	ck_assert_int_eq(validate_text(e.field, 63, false, "f", NULL), 0);
	/* "x" and 255 'å' fill 511 bytes exactly. */
	ck_assert_uint_eq(strlen(e.msg), 511);
	ck_assert_int_eq(validate_text(e.msg, 511, false, "m", NULL), 0);

	err_set(&e, ERR_INVALID, "f", "%s", big);
	ck_assert_uint_eq(strlen(e.msg), 510);
	ck_assert_int_eq(validate_text(e.msg, 511, false, "m", NULL), 0);

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	err_set(&e, ERR_INVALID, big, "%s", big);
	ck_assert_uint_eq(strlen(e.field), sizeof e.field - 1);
	ck_assert_uint_eq(strlen(e.msg), sizeof e.msg - 1);
}
END_TEST

/*
 * db_int64 reads a value as strtoll does (it reads digits by hand, and
 * leaves to strtoll what is no bigint), and a NULL as 0.  The result is
 * made without a server.
 */
static const char *const int_texts[] = {
	"0",
	"7",
	"-7",
	"42",
	"-0",
	"1000000",
	"9223372036854775807",
	"-9223372036854775808",
	"9223372036854775808",
	"-9223372036854775809",
	"18446744073709551615",
	"99999999999999999999",
	"-99999999999999999999",
	"1234567890123456789",
	"12345678901234567890",
	"00000000000000000000042",
	"1.5",
	"-",
	"",
	"2e5",
};

START_TEST(test_db_int64)
{
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc col = {.name = (char *)"v", .typid = 20, .typlen = 8};
	const char *t = int_texts[_i];

	ck_assert_ptr_nonnull(r);
	ck_assert(PQsetResultAttrs(r, 1, &col));
	ck_assert(PQsetvalue(r, 0, 0, (char *)t, (int)strlen(t)));
	ck_assert(PQsetvalue(r, 1, 0, NULL, -1));
	ck_assert_msg(db_int64(r, 0, 0) == strtoll(t, NULL, 10),
		      "\"%s\": %lld, strtoll %lld", t,
		      (long long)db_int64(r, 0, 0), strtoll(t, NULL, 10));
	ck_assert(db_int64(r, 1, 0) == 0);
	PQclear(r);
}
END_TEST

/*
 * An unknown member's name is cut to 64 bytes in the error, and never in
 * the middle of a character: the field and message stay UTF-8 (a cut "é"
 * left half of it, found by fuzzing).
 */
START_TEST(test_jsonin_long_key)
{
	static const struct jsonin_field fields[] = {
		{"reason", JSONIN_STRING, false},
	};
	char body[128];
	json_t *j;
	struct err e = {0}, v = {0};

	snprintf(
		body, sizeof(body), "{\"%s\xc3\xa9x\": 1}",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	j = json_loads(body, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(jsonin_check(j, fields, 1, "", &e), -1);
	ck_assert_msg(strstr(e.msg, "unknown field") != NULL, "%s", e.msg);
	ck_assert_msg(validate_text(e.field, sizeof(e.field), false, "f", &v) ==
			      0,
		      "field: %s", v.msg);
	ck_assert_msg(validate_text(e.msg, sizeof(e.msg), false, "m", &v) == 0,
		      "message: %s", v.msg);
	ck_assert_int_eq(strlen(e.field), 63);
	json_decref(j);
}
END_TEST

Suite *validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc;

	tc = tcase_create("int64");
	tcase_add_loop_test(tc, test_int64, 0, NELEM(int_cases));
	tcase_add_test(tc, test_int64_bad_range);
	tcase_add_loop_test(tc, test_db_int64, 0, NELEM(int_texts));
	suite_add_tcase(s, tc);

	tc = tcase_create("gtin");
	tcase_add_loop_test(tc, test_gtin, 0, NELEM(gtin_cases));
	tcase_add_loop_test(tc, test_gtin_check_digit, 0,
			    NELEM(check_digit_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("codes");
	tcase_add_loop_test(tc, test_vnr, 0, NELEM(vnr_cases));
	tcase_add_loop_test(tc, test_npl_id, 0, NELEM(npl_cases));
	tcase_add_loop_test(tc, test_atc, 0, NELEM(atc_cases));
	tcase_add_loop_test(tc, test_region_code, 0, NELEM(region_cases));
	tcase_add_loop_test(tc, test_region_name, 0, NELEM(region_name_cases));
	tcase_add_loop_test(tc, test_site_code, 0, NELEM(site_cases));
	tcase_add_loop_test(tc, test_lot, 0, NELEM(lot_cases));
	tcase_add_loop_test(tc, test_uuid, 0, NELEM(uuid_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("date");
	tcase_add_loop_test(tc, test_date, 0, NELEM(date_cases));
	tcase_add_test(tc, test_date_every_day);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_add_loop_test(tc, test_text, 0, NELEM(text_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("messages");
	tcase_add_loop_test(tc, test_messages, 0, NELEM(msg_cases));
	tcase_add_test(tc, test_huge_input);
	tcase_add_test(tc, test_null_err);
	suite_add_tcase(s, tc);

	tc = tcase_create("jsonin");
	tcase_add_test(tc, test_jsonin_long_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("err");
	tcase_add_loop_test(tc, test_err_code_name, 0, NELEM(code_cases));
	tcase_add_test(tc, test_err_set);
	tcase_add_test(tc, test_err_truncate);
	tcase_add_test(tc, test_err_scrubbed);
	suite_add_tcase(s, tc);

	return s;
}
