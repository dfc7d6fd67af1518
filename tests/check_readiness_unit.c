/*
 * check_readiness_unit.c -- the readiness arithmetic, table-driven, no
 * database: windows, stockout adjustment, too little history, zero
 * consumption, targets, floors and level factors.
 */
#include <math.h>
#include <string.h>

#include <check.h>

#include "readiness.h"
#include "suites.h"

/* Inputs in the order of struct readiness_input. */
#define IN(avail, issued, window, hist, out, target, floor, factor)     \
	{                                                               \
		avail, issued, window, hist, out, target, floor, factor \
	}

static const struct {
	const char *what;
	struct readiness_input in;
	bool rate_known;
	double rate; /* when known */
	bool infinite;
	double days; /* when known and finite */
	int64_t target_qty, floor_qty, shortfall;
	enum readiness_status status;
} cases[] = {
	{"28 days of 10 a day, 300 in stock, target 30",
	 IN(300, 280, 28, 28, 0, 30, 7, 1), true, 10, false, 30, 300, 70, 0,
	 READINESS_OK},
	{"just under target", IN(299, 280, 28, 28, 0, 30, 7, 1), true, 10,
	 false, 29.9, 300, 70, 1, READINESS_BELOW_TARGET},
	{"under the floor", IN(60, 280, 28, 28, 0, 30, 7, 1), true, 10, false,
	 6, 300, 70, 240, READINESS_BELOW_FLOOR},
	{"exactly at the floor is below target, not below floor",
	 IN(70, 280, 28, 28, 0, 30, 7, 1), true, 10, false, 7, 300, 70, 230,
	 READINESS_BELOW_TARGET},
	/* 8 days out of stock: 280 over the 20 days it could be issued */
	{"stockout days raise the rate", IN(300, 280, 28, 28, 8, 30, 7, 1),
	 true, 14, false, 300.0 / 14, 420, 98, 120, READINESS_BELOW_TARGET},
	{"nothing in stock is a stockout whatever the rest",
	 IN(0, 280, 28, 28, 0, 30, 7, 1), true, 10, false, 0, 300, 70, 300,
	 READINESS_STOCKOUT},
	{"a stockout with no history at all", IN(0, 0, 28, 0, 0, 30, 7, 1),
	 false, 0, false, 0, -1, -1, -1, READINESS_STOCKOUT},
	{"no consumption: infinite days, never a huge number",
	 IN(5, 0, 28, 28, 0, 30, 7, 1), true, 0, true, 0, 0, 0, 0,
	 READINESS_OK},
	{"six days of history is too little", IN(100, 60, 28, 6, 0, 30, 7, 1),
	 false, 0, false, 0, -1, -1, -1, READINESS_UNKNOWN_RATE},
	{"seven days is enough", IN(100, 70, 28, 7, 0, 30, 7, 1), true, 10,
	 false, 10, 300, 70, 200, READINESS_BELOW_TARGET},
	{"history minus stockout days under seven is too little",
	 IN(100, 70, 28, 10, 4, 30, 7, 1), false, 0, false, 0, -1, -1, -1,
	 READINESS_UNKNOWN_RATE},
	{"out of stock all window, now restocked",
	 IN(50, 0, 28, 28, 28, 30, 7, 1), false, 0, false, 0, -1, -1, -1,
	 READINESS_UNKNOWN_RATE},
	{"a short product history uses its own days, not the window",
	 IN(100, 100, 28, 10, 0, 30, 7, 1), true, 10, false, 10, 300, 70, 200,
	 READINESS_BELOW_TARGET},
	{"no target applies", IN(100, 280, 28, 28, 0, 0, 0, 1), true, 10, false,
	 10, -1, -1, -1, READINESS_NO_TARGET},
	{"heightened readiness doubles target and floor",
	 IN(400, 280, 28, 28, 0, 30, 7, 2), true, 10, false, 40, 600, 140, 200,
	 READINESS_BELOW_TARGET},
	{"a target without a floor", IN(10, 280, 28, 28, 0, 30, 0, 1), true, 10,
	 false, 1, 300, -1, 290, READINESS_BELOW_TARGET},
	{"a longer window", IN(900, 900, 90, 90, 0, 30, 7, 1), true, 10, false,
	 90, 300, 70, 0, READINESS_OK},
	{"fractional rate rounds target quantities up",
	 IN(100, 10, 28, 28, 0, 30, 7, 1), true, 10.0 / 28, false, 280, 11, 3,
	 0, READINESS_OK},
};

START_TEST(test_cases)
{
	struct readiness_result r;
	struct err e = {0};
	const char *what = cases[_i].what;

	ck_assert_msg(readiness_compute(&cases[_i].in, &r, &e) == 0, "%s: %s",
		      what, e.msg);
	ck_assert_msg(r.rate_known == cases[_i].rate_known, "%s: rate_known",
		      what);
	if (r.rate_known)
		ck_assert_msg(fabs(r.rate - cases[_i].rate) < 1e-9,
			      "%s: rate %g, wanted %g", what, r.rate,
			      cases[_i].rate);
	ck_assert_msg(r.days_infinite == cases[_i].infinite,
		      "%s: days_infinite", what);
	if (r.rate_known && !r.days_infinite)
		ck_assert_msg(fabs(r.days - cases[_i].days) < 1e-9,
			      "%s: days %g, wanted %g", what, r.days,
			      cases[_i].days);
	ck_assert_msg(r.target_qty == cases[_i].target_qty,
		      "%s: target_qty %lld, wanted %lld", what,
		      (long long)r.target_qty, (long long)cases[_i].target_qty);
	ck_assert_msg(r.floor_qty == cases[_i].floor_qty,
		      "%s: floor_qty %lld, wanted %lld", what,
		      (long long)r.floor_qty, (long long)cases[_i].floor_qty);
	ck_assert_msg(r.shortfall == cases[_i].shortfall,
		      "%s: shortfall %lld, wanted %lld", what,
		      (long long)r.shortfall, (long long)cases[_i].shortfall);
	ck_assert_msg(r.status == cases[_i].status, "%s: status %s, wanted %s",
		      what, readiness_status_name(r.status),
		      readiness_status_name(cases[_i].status));
	ck_assert_msg(fabs(r.target_days - cases[_i].in.target_days *
						   cases[_i].in.factor) < 1e-9,
		      "%s: scaled target", what);
}
END_TEST

static const struct {
	struct readiness_input in;
	const char *field;
} bad[] = {
	{IN(-1, 0, 28, 28, 0, 30, 7, 1), "available"},
	{IN(1, -1, 28, 28, 0, 30, 7, 1), "issued"},
	{IN(1, 0, 0, 0, 0, 30, 7, 1), "window_days"},
	{IN(1, 0, 367, 28, 0, 30, 7, 1), "window_days"},
	{IN(1, 0, 28, 29, 0, 30, 7, 1), "history_days"},
	{IN(1, 0, 28, -1, 0, 30, 7, 1), "history_days"},
	{IN(1, 0, 28, 10, 11, 30, 7, 1), "stockout_days"},
	{IN(1, 0, 28, 10, -1, 30, 7, 1), "stockout_days"},
	{IN(1, 0, 28, 28, 0, -1, 0, 1), "target_days"},
	{IN(1, 0, 28, 28, 0, NAN, 0, 1), "target_days"},
	{IN(1, 0, 28, 28, 0, 4000, 0, 1), "target_days"},
	{IN(1, 0, 28, 28, 0, 30, -1, 1), "floor_days"},
	{IN(1, 0, 28, 28, 0, 30, 31, 1), "floor_days"},
	{IN(1, 0, 28, 28, 0, 30, 7, 0), "factor"},
	{IN(1, 0, 28, 28, 0, 30, 7, -2), "factor"},
	{IN(1, 0, 28, 28, 0, 30, 7, NAN), "factor"},
};

START_TEST(test_bad_inputs)
{
	struct readiness_result r;
	struct err e = {0};

	ck_assert_int_eq(readiness_compute(&bad[_i].in, &r, &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_str_eq(e.field, bad[_i].field);
	ck_assert_msg(r.status == READINESS_STOCKOUT && !r.rate_known &&
			      r.target_qty == -1,
		      "a refused input leaves a blank result");
}
END_TEST

START_TEST(test_status_names)
{
	static const enum readiness_status all[] = {
		READINESS_STOCKOUT,	READINESS_BELOW_FLOOR,
		READINESS_BELOW_TARGET, READINESS_OK,
		READINESS_NO_TARGET,	READINESS_UNKNOWN_RATE};
	enum readiness_status s;
	struct err e = {0};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		ck_assert_int_eq(
			readiness_status_parse(readiness_status_name(all[i]),
					       &s, "status", &e),
			0);
		ck_assert_int_eq(s, all[i]);
		ck_assert(readiness_is_short(all[i]) ==
			  (i <= 2)); /* the first three */
	}
	ck_assert_int_eq(readiness_status_parse("fine", &s, "status", &e), -1);
	ck_assert_str_eq(e.field, "status");
	ck_assert_int_eq(readiness_status_parse(NULL, &s, "status", &e), -1);
}
END_TEST

Suite *readiness_unit_suite(void)
{
	Suite *s = suite_create("readiness_unit");
	TCase *tc = tcase_create("math");

	tcase_add_loop_test(tc, test_cases, 0,
			    sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_bad_inputs, 0,
			    sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_status_names);
	suite_add_tcase(s, tc);
	return s;
}
