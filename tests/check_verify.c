/*
 * check_verify.c -- verify finds every kind of drift and repairs nothing.
 */
#include <string.h>

#include <check.h>

#include "ledger.h"
#include "suites.h"
#include "testdb.h"
#include "verify.h"

static struct db *owner;
static struct db *app;
static int64_t site, prod;

struct seen {
	int n;
	char checks[8][32];
	char where[8][200];
	int64_t expected[8], actual[8];
};

static void collect(void *ctx, const struct verify_drift *d)
{
	struct seen *s = ctx;

	if (s->n < 8) {
		strncpy(s->checks[s->n], d->check, sizeof(s->checks[0]) - 1);
		strncpy(s->where[s->n], d->where, sizeof(s->where[0]) - 1);
		s->expected[s->n] = d->expected;
		s->actual[s->n] = d->actual;
	}
	s->n++;
}

static void setup(void)
{
	struct ledger_event ev = {.kind = LEDGER_RECEIPT,
				  .quantity = 30,
				  .lot = "V1",
				  .actor = "tester"};
	struct ledger_result r;
	struct err e = {0};

	testdb_create();
	owner = testdb_connect();
	site = testdb_site(owner, "12", "12-CL");
	prod = testdb_product(owner, "654321", "Noradrenalin 1 mg/ml");
	app = testdb_connect_app("tester");
	ev.site_id = site;
	ev.product_id = prod;
	ck_assert_msg(ledger_record(app, &ev, &r, &e) == 0, "%s", e.msg);
	ev.kind = LEDGER_ISSUE;
	ev.quantity = 12;
	ck_assert_msg(ledger_record(app, &ev, &r, &e) == 0, "%s", e.msg);
}

static void teardown(void)
{
	db_close(app);
	db_close(owner);
	app = owner = NULL;
	testdb_drop();
}

static struct seen run(struct verify_totals *t)
{
	struct seen s = {0};
	struct err e = {0};

	ck_assert_msg(verify_run(app, collect, &s, t, &e) == 0, "%s", e.msg);
	return s;
}

START_TEST(test_clean_ledger_has_no_drift)
{
	struct verify_totals t;
	struct seen s = run(&t);

	ck_assert_int_eq(s.n, 0);
	ck_assert_int_eq(t.drifts, 0);
	ck_assert_int_eq(t.events, 2);
	ck_assert_int_eq(t.balances, 1);
	ck_assert_int_eq(t.aggregates, 1);
}
END_TEST

START_TEST(test_tampered_balance_reported_not_repaired)
{
	struct verify_totals t;
	struct err e = {0};
	struct seen s;

	ck_assert_int_eq(db_command(owner,
				    "UPDATE stock_balance SET quantity = 99", 0,
				    NULL, &e),
			 0);
	s = run(&t);
	ck_assert_int_eq(t.drifts, 2);
	ck_assert_str_eq(s.checks[0], "balance");
	ck_assert_msg(strstr(s.where[0], "12-CL"), "%s", s.where[0]);
	ck_assert_msg(strstr(s.where[0], "lot V1"), "%s", s.where[0]);
	ck_assert_int_eq(s.expected[0], 18);
	ck_assert_int_eq(s.actual[0], 99);
	ck_assert_str_eq(s.checks[1], "aggregate");
	/* Still wrong afterwards: verify never repairs. */
	ck_assert_int_eq(
		testdb_scalar(owner, "SELECT quantity FROM stock_balance"), 99);
	run(&t);
	ck_assert_int_eq(t.drifts, 2);
}
END_TEST

START_TEST(test_tampered_aggregate_and_missing_balance)
{
	struct verify_totals t;
	struct err e = {0};
	struct seen s;

	ck_assert_int_eq(
		db_command(owner,
			   "UPDATE region_product_stock SET quantity = 17", 0,
			   NULL, &e),
		0);
	s = run(&t);
	ck_assert_int_eq(t.drifts, 1);
	ck_assert_str_eq(s.checks[0], "aggregate");
	ck_assert_int_eq(s.expected[0], 18);
	ck_assert_int_eq(s.actual[0], 17);
	ck_assert_int_eq(
		db_command(owner, "DELETE FROM stock_balance", 0, NULL, &e), 0);
	s = run(&t);
	ck_assert_str_eq(s.checks[0], "balance");
	ck_assert_int_eq(s.expected[0], 18);
	ck_assert_int_eq(s.actual[0], 0);
}
END_TEST

START_TEST(test_rewritten_history_breaks_the_chain)
{
	struct verify_totals t;
	struct err e = {0};
	struct seen s;

	/* Only a superuser who disables the guard can do this. */
	ck_assert_int_eq(
		db_script(owner,
			  "ALTER TABLE stock_event DISABLE TRIGGER "
			  "stock_event_no_update;"
			  "UPDATE stock_event SET delta = -10, quantity = 10"
			  " WHERE kind = 'issue';"
			  "ALTER TABLE stock_event ENABLE TRIGGER "
			  "stock_event_no_update",
			  &e),
		0);
	s = run(&t);
	ck_assert_int_ge(t.drifts, 2);
	ck_assert_str_eq(s.checks[0], "balance");
	ck_assert_int_eq(s.expected[0], 20);
	ck_assert_int_eq(s.actual[0], 18);
	ck_assert_str_eq(s.checks[t.drifts - 1], "event_chain");
}
END_TEST

Suite *verify_suite(void)
{
	Suite *s = suite_create("verify");
	TCase *tc = tcase_create("verify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_clean_ledger_has_no_drift);
	tcase_add_test(tc, test_tampered_balance_reported_not_repaired);
	tcase_add_test(tc, test_tampered_aggregate_and_missing_balance);
	tcase_add_test(tc, test_rewritten_history_breaks_the_chain);
	suite_add_tcase(s, tc);
	return s;
}
