/*
 * check_ledger_unit.c -- ledger_validate and kind names, without a database.
 */
#include <string.h>

#include <check.h>

#include "ledger.h"
#include "validate.h"
#include "suites.h"

struct validate_case {
	enum ledger_kind kind;
	int64_t qty;
	const char *reason;
	const char *lot;
	const char *expiry;
	const char *key;
	int64_t reverses;
	const char *field; /* NULL: valid */
};

static const struct validate_case cases[] = {
	{LEDGER_RECEIPT, 1, NULL, NULL, NULL, NULL, 0, NULL},
	{LEDGER_RECEIPT, LEDGER_QTY_MAX, NULL, "L1", "2027-01-31", NULL, 0,
	 NULL},
	{LEDGER_RECEIPT, LEDGER_QTY_MAX + 1, NULL, NULL, NULL, NULL, 0, "qty"},
	{LEDGER_RECEIPT, 0, NULL, NULL, NULL, NULL, 0, "qty"},
	{LEDGER_RECEIPT, -5, NULL, NULL, NULL, NULL, 0, "qty"},
	{LEDGER_ISSUE, 0, NULL, NULL, NULL, NULL, 0, "qty"},
	{LEDGER_ISSUE, 3, NULL, "", NULL, NULL, 0, NULL},
	{LEDGER_TRANSFER_OUT, -1, NULL, NULL, NULL, NULL, 0, "qty"},
	{LEDGER_TRANSFER_IN, 7, NULL, NULL, NULL, NULL, 0, NULL},
	{LEDGER_EXPIRY_WRITEOFF, 0, NULL, NULL, NULL, NULL, 0, "qty"},
	{LEDGER_COUNT, 0, NULL, NULL, NULL, NULL, 0, NULL},
	{LEDGER_COUNT, -1, NULL, NULL, NULL, NULL, 0, "qty"},
	{LEDGER_ADJUSTMENT, -4, "Kassation", NULL, NULL, NULL, 0, NULL},
	{LEDGER_ADJUSTMENT, 4, NULL, NULL, NULL, NULL, 0, "reason"},
	{LEDGER_ADJUSTMENT, 4, "", NULL, NULL, NULL, 0, "reason"},
	{LEDGER_ADJUSTMENT, 0, "noll", NULL, NULL, NULL, 0, "qty"},
	{LEDGER_ADJUSTMENT, 2, "rad\nbrytning", NULL, NULL, NULL, 0, "reason"},
	{LEDGER_RECEIPT, 1, NULL, " L1", NULL, NULL, 0, "lot"},
	{LEDGER_RECEIPT, 1, NULL, "L\x01", NULL, NULL, 0, "lot"},
	{LEDGER_RECEIPT, 1, NULL, NULL, "2023-02-29", NULL, 0, "expiry"},
	{LEDGER_RECEIPT, 1, NULL, NULL, "2024-02-29", NULL, 0, NULL},
	{LEDGER_RECEIPT, 1, NULL, NULL, "29/02/2024", NULL, 0, "expiry"},
	{LEDGER_RECEIPT, 1, NULL, NULL, NULL,
	 "6F1C2A3B-0000-4000-8000-00000000000A", 0, NULL},
	{LEDGER_RECEIPT, 1, NULL, NULL, NULL, "not-a-uuid", 0, "key"},
	{LEDGER_RECEIPT, 1, NULL, NULL, NULL, NULL, 5, "reverses"},
	{LEDGER_REVERSAL, 0, "fel", NULL, NULL, NULL, 5, NULL},
	{LEDGER_REVERSAL, 0, "fel", NULL, NULL, NULL, 0, "reverses"},
	{LEDGER_REVERSAL, 0, NULL, NULL, NULL, NULL, 5, "reason"},
};

START_TEST(test_validate_table)
{
	const struct validate_case *c = &cases[_i];
	struct ledger_event ev = {
		.kind = c->kind,
		.site_id = 1,
		.product_id = 1,
		.quantity = c->qty,
		.reason = c->reason,
		.lot = c->lot,
		.expiry = c->expiry,
		.key = c->key,
		.reverses = c->reverses,
	};
	struct err e = {0};
	int rc = ledger_validate(&ev, &e);

	if (c->field == NULL) {
		ck_assert_msg(rc == 0, "case %d: unexpected error: %s", _i,
			      e.msg);
	} else {
		ck_assert_msg(rc == -1, "case %d: accepted", _i);
		ck_assert_int_eq(e.code, ERR_INVALID);
		ck_assert_str_eq(e.field, c->field);
		ck_assert_msg(e.msg[0] != '\0', "case %d: empty message", _i);
	}
}
END_TEST

START_TEST(test_site_and_product_required)
{
	struct ledger_event ev = {.kind = LEDGER_RECEIPT, .quantity = 1};
	struct err e = {0};

	ck_assert_int_eq(ledger_validate(&ev, &e), -1);
	ck_assert_str_eq(e.field, "site");
	ev.site_id = 3;
	ck_assert_int_eq(ledger_validate(&ev, &e), -1);
	ck_assert_str_eq(e.field, "product");
	ev.product_id = 4;
	ck_assert_int_eq(ledger_validate(&ev, &e), 0);
}
END_TEST

START_TEST(test_kind_names_round_trip)
{
	static const char *const names[] = {
		"receipt",	"issue",       "count",		  "adjustment",
		"transfer_out", "transfer_in", "expiry_writeoff", "reversal",
	};
	enum ledger_kind k;
	struct err e = {0};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ck_assert_int_eq(ledger_kind_parse(names[i], &k, "kind", &e),
				 0);
		ck_assert_str_eq(ledger_kind_name(k), names[i]);
	}
	ck_assert_int_eq(ledger_kind_parse("Receipt", &k, "kind", &e), -1);
	ck_assert_str_eq(e.field, "kind");
	ck_assert_int_eq(ledger_kind_parse("", &k, "kind", &e), -1);
	ck_assert_int_eq(ledger_kind_parse(NULL, &k, "kind", &e), -1);
}
END_TEST

START_TEST(test_batch_limits_checked_before_database)
{
	static struct ledger_event evs[LEDGER_BATCH_MAX + 1];
	static struct ledger_result res[LEDGER_BATCH_MAX + 1];
	struct ledger_event bad[2] = {
		{.kind = LEDGER_RECEIPT,
		 .site_id = 1,
		 .product_id = 1,
		 .quantity = 1},
		{.kind = LEDGER_ISSUE,
		 .site_id = 1,
		 .product_id = 1,
		 .quantity = 0},
	};
	struct err e = {0};

	/* A NULL db is never touched: both fail validation first. */
	ck_assert_int_eq(
		ledger_record_batch(NULL, evs, LEDGER_BATCH_MAX + 1, res, &e),
		-1);
	ck_assert_str_eq(e.field, "events");
	ck_assert_int_eq(ledger_record_batch(NULL, bad, 2, res, &e), -1);
	ck_assert_str_eq(e.field, "qty");
	ck_assert_msg(strncmp(e.msg, "event 1: ", 9) == 0, "%s", e.msg);
}
END_TEST

static const struct {
	const char *s;
	int64_t epoch; /* -1: invalid */
} timestamps[] = {
	{"1970-01-01T00:00:00Z", 0},
	{"2026-11-22T07:09:00Z", 1795331340},
	{"2026-11-22T08:09:00+01:00", 1795331340},
	{"2026-11-22 02:09:00-05:00", 1795331340},
	{"2024-02-29T23:59:59.999Z", 1709251199},
	{"2000-03-01T00:00:00Z", 951868800},
	{"2026-11-22T07:09:00", -1},
	{"2026-11-22T24:00:00Z", -1},
	{"2026-11-22T07:60:00Z", -1},
	{"2023-02-29T00:00:00Z", -1},
	{"2026-11-22T07:09:00+15:00", -1},
	{"2026-11-22T07:09:00.Z", -1},
	{"2026-11-22T07:09:00Zjunk", -1},
	{"2026-11-22", -1},
	{"tomorrow", -1},
	{"", -1},
};

START_TEST(test_timestamps)
{
	int64_t epoch = -7;
	struct err e = {0};
	int rc = parse_timestamp(timestamps[_i].s, &epoch, "occurred_at", &e);

	if (timestamps[_i].epoch < 0) {
		ck_assert_msg(rc == -1, "%s accepted", timestamps[_i].s);
		ck_assert_str_eq(e.field, "occurred_at");
	} else {
		ck_assert_msg(rc == 0, "%s: %s", timestamps[_i].s, e.msg);
		ck_assert_int_eq(epoch, timestamps[_i].epoch);
	}
}
END_TEST

Suite *ledger_unit_suite(void)
{
	Suite *s = suite_create("ledger_unit");
	TCase *tc = tcase_create("validate");

	tcase_add_loop_test(tc, test_validate_table, 0,
			    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_site_and_product_required);
	tcase_add_test(tc, test_kind_names_round_trip);
	tcase_add_test(tc, test_batch_limits_checked_before_database);
	tcase_add_loop_test(tc, test_timestamps, 0,
			    (int)(sizeof(timestamps) / sizeof(timestamps[0])));
	suite_add_tcase(s, tc);
	return s;
}
