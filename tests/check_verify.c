/*
 * check_verify.c -- verify finds every kind of drift and repairs nothing.
 */
#include <stdio.h>
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

/* ---- verify_incremental ---- */

/* Every drift reported, one "check|where|expected|actual" line each. */
struct drift_log {
	int n;
	size_t len;
	char text[8192];
};

static void log_drift(void *ctx, const struct verify_drift *d)
{
	struct drift_log *l = ctx;
	int w;

	if (l->len < sizeof(l->text)) {
		w = snprintf(l->text + l->len, sizeof(l->text) - l->len,
			     "%s|%s|%lld|%lld\n", d->check, d->where,
			     (long long)d->expected, (long long)d->actual);
		if (w > 0)
			l->len += (size_t)w;
	}
	l->n++;
}

static struct drift_log full_log(void)
{
	struct drift_log l = {0};
	struct verify_totals t;
	struct err e = {0};

	ck_assert_msg(verify_run(app, log_drift, &l, &t, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(t.drifts, l.n);
	return l;
}

static struct drift_log incr_log(int64_t every, struct verify_totals *t)
{
	struct drift_log l = {0};
	struct err e = {0};

	ck_assert_msg(verify_incremental(app, every, log_drift, &l, t, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(t->drifts, l.n);
	return l;
}

/*
 * Run verify_incremental and check that it reports exactly what the full
 * verify reports about the same ledger, and at least min drifts.  Returns
 * whether it ran the full check.
 */
static bool incr_same_as_full(int64_t every, int min)
{
	struct verify_totals t;
	struct drift_log l = incr_log(every, &t);
	struct drift_log f = full_log();

	ck_assert_msg(f.n >= min, "full verify found %d drifts: %s", f.n,
		      f.text);
	ck_assert_int_eq(l.n, f.n);
	ck_assert_str_eq(l.text, f.text);
	return t.full;
}

static int64_t record(int64_t product, enum ledger_kind kind, int64_t qty)
{
	struct ledger_event ev = {.kind = kind,
				  .site_id = site,
				  .product_id = product,
				  .quantity = qty,
				  .lot = "V1",
				  .actor = "tester"};
	struct ledger_result r;
	struct err e = {0};

	ck_assert_msg(ledger_record(app, &ev, &r, &e) == 0, "%s", e.msg);
	return r.event_id;
}

static int64_t reverse(int64_t id)
{
	struct ledger_event ev = {.kind = LEDGER_REVERSAL,
				  .reverses = id,
				  .reason = "recorded twice",
				  .actor = "tester"};
	struct ledger_result r;
	struct err e = {0};

	ck_assert_msg(ledger_record(app, &ev, &r, &e) == 0, "%s", e.msg);
	return r.event_id;
}

/* Change history as only a superuser who lifts the guard can: sql, with
 * event id as $1 when id > 0. */
static void tamper_id(const char *sql, int64_t id)
{
	struct err e = {0};
	char idtext[24];
	const char *params[] = {idtext};

	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	ck_assert_msg(db_command(owner,
				 "ALTER TABLE stock_event DISABLE TRIGGER"
				 " stock_event_no_update",
				 0, NULL, &e) == 0,
		      "%s", e.msg);
	ck_assert_msg(db_command(owner, sql, id > 0 ? 1 : 0,
				 id > 0 ? params : NULL, &e) == 0,
		      "%s", e.msg);
	ck_assert_msg(db_command(owner,
				 "ALTER TABLE stock_event ENABLE TRIGGER"
				 " stock_event_no_update",
				 0, NULL, &e) == 0,
		      "%s", e.msg);
}

static void tamper(const char *sql)
{
	tamper_id(sql, 0);
}

static void exec_owner(const char *sql)
{
	struct err e = {0};

	ck_assert_msg(db_command(owner, sql, 0, NULL, &e) == 0, "%s", e.msg);
}

/*
 * After a clean run the checkpoint is the ledger: every key's sum and last
 * seq, nothing held, and the checksums it predicts are those of its totals.
 */
static void assert_checkpoint_exact(void)
{
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT count(*) FROM (SELECT region_code,"
			      "  site_id, product_id, lot, sum(delta) AS t,"
			      "  max(seq) AS s FROM stock_event"
			      "  GROUP BY 1, 2, 3, 4) l"
			      " FULL JOIN verify_checkpoint_key c"
			      "  USING (region_code, site_id, product_id, lot)"
			      " WHERE l.t IS DISTINCT FROM c.total"
			      "  OR l.s IS DISTINCT FROM c.last_seq OR c.held"),
		0);
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT ((SELECT balance_hash FROM"
			      "  verify_checkpoint) = (SELECT bit_xor("
			      "  verify_balance_hash(region_code, site_id,"
			      "  product_id, lot, total))"
			      "  FROM verify_checkpoint_key))::int"),
		1);
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT ((SELECT aggregate_hash FROM"
			      "  verify_checkpoint) = (SELECT bit_xor("
			      "  verify_aggregate_hash(region_code, product_id,"
			      "  t)) FROM (SELECT region_code, product_id,"
			      "  sum(total) AS t FROM verify_checkpoint_key"
			      "  GROUP BY 1, 2) a))::int"),
		1);
}

START_TEST(test_incremental_clean_ledger)
{
	struct verify_totals t;
	struct drift_log l = incr_log(VERIFY_FULL_EVERY_DEFAULT, &t);
	int64_t prod2 = testdb_product(owner, "654322", "Adrenalin 1 mg/ml");
	int64_t id;

	/* The first run is the full check and builds the checkpoint. */
	ck_assert_int_eq(l.n, 0);
	ck_assert(t.full);
	ck_assert_int_eq(t.events, 2);
	ck_assert_int_eq(t.balances, 1);
	ck_assert_int_eq(t.aggregates, 1);
	assert_checkpoint_exact();
	record(prod, LEDGER_RECEIPT, 5);
	record(prod2, LEDGER_RECEIPT, 7);
	id = record(prod2, LEDGER_ISSUE, 3);
	reverse(id);
	l = incr_log(VERIFY_FULL_EVERY_DEFAULT, &t);
	ck_assert_int_eq(l.n, 0);
	ck_assert(!t.full);
	/* Only what is new is read; every balance and aggregate compared. */
	ck_assert_int_eq(t.events, 4);
	ck_assert_int_eq(t.balances, 2);
	ck_assert_int_eq(t.aggregates, 2);
	assert_checkpoint_exact();
	l = incr_log(VERIFY_FULL_EVERY_DEFAULT, &t);
	ck_assert_int_eq(l.n, 0);
	ck_assert_int_eq(t.events, 0);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
}
END_TEST

START_TEST(test_incremental_first_run_finds_tampering)
{
	/* No checkpoint yet: the first run is the full check. */
	exec_owner("UPDATE stock_balance SET quantity = 99");
	exec_owner("UPDATE region_product_stock SET quantity = 17");
	ck_assert(incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	/* ... and a drift found then is found again by the next runs. */
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	record(prod, LEDGER_RECEIPT, 5);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 3));
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 3));
}
END_TEST

START_TEST(test_incremental_tampered_balance)
{
	struct verify_totals t;
	struct drift_log l;
	int64_t prod2 = testdb_product(owner, "654322", "Adrenalin 1 mg/ml");

	ck_assert(incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	record(prod2, LEDGER_RECEIPT, 7);
	/* A balance that no new event touched: every balance is compared. */
	exec_owner("UPDATE stock_balance SET quantity = 99"
		   " WHERE product_id IN (SELECT id FROM product"
		   "  WHERE name LIKE 'Noradrenalin%')");
	l = incr_log(VERIFY_FULL_EVERY_DEFAULT, &t);
	ck_assert(!t.full);
	ck_assert_int_eq(l.n, 2);
	ck_assert_msg(strstr(l.text, "balance|region 12 site 12-CL product") &&
			      strstr(l.text, "lot V1|18|99\n"),
		      "%s", l.text);
	ck_assert_msg(strstr(l.text, "aggregate|region 12 product"), "%s",
		      l.text);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	record(prod2, LEDGER_ISSUE, 2);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	/* Put right, it is clean again and the checkpoint exact. */
	exec_owner(
		"UPDATE stock_balance SET quantity = 18 WHERE quantity = 99");
	l = incr_log(VERIFY_FULL_EVERY_DEFAULT, &t);
	ck_assert_int_eq(l.n, 0);
	assert_checkpoint_exact();
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
}
END_TEST

START_TEST(test_incremental_tampered_aggregate)
{
	int64_t prod2 = testdb_product(owner, "654322", "Adrenalin 1 mg/ml");

	record(prod2, LEDGER_RECEIPT, 7);
	ck_assert(incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	/*
	 * Quantity moved from one aggregate to another: the national total
	 * is unchanged, the balances too, and no event touches either.
	 */
	exec_owner("UPDATE region_product_stock SET quantity = quantity"
		   " + CASE WHEN quantity = 18 THEN 5 ELSE -5 END");
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	record(prod, LEDGER_RECEIPT, 1);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	exec_owner("UPDATE region_product_stock SET quantity = quantity"
		   " - CASE WHEN quantity = 24 THEN 5 ELSE -5 END");
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	assert_checkpoint_exact();
}
END_TEST

START_TEST(test_incremental_tampered_event)
{
	int64_t prod2 = testdb_product(owner, "654322", "Adrenalin 1 mg/ml");
	int64_t e1, e3;

	ck_assert(incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	e1 = record(prod, LEDGER_RECEIPT, 5);
	record(prod, LEDGER_ISSUE, 3);
	/* An older event's delta, above the checkpoint (not yet verified). */
	tamper_id(
		"UPDATE stock_event SET delta = 7, quantity = 7 WHERE id = $1::bigint",
		e1);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 3));
	/* Other keys move on; the drifting one is reported every time. */
	record(prod2, LEDGER_RECEIPT, 4);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 3));
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 3));
	tamper_id(
		"UPDATE stock_event SET delta = 5, quantity = 5 WHERE id = $1::bigint",
		e1);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	assert_checkpoint_exact();
	/* A balance_after, the ledger's sums untouched. */
	e3 = record(prod, LEDGER_RECEIPT, 2);
	tamper_id(
		"UPDATE stock_event SET balance_after = 40 WHERE id = $1::bigint",
		e3);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 1));
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 1));
}
END_TEST

START_TEST(test_incremental_deleted_event)
{
	int64_t e2;

	ck_assert(incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	record(prod, LEDGER_RECEIPT, 5);
	e2 = record(prod, LEDGER_ISSUE, 3);
	record(prod, LEDGER_RECEIPT, 1);
	tamper_id("DELETE FROM stock_event WHERE id = $1::bigint", e2);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	/* The last event of a key, which leaves no gap in seq behind. */
	tamper("DELETE FROM stock_event WHERE id = (SELECT max(id)"
	       " FROM stock_event)");
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 1));
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 1));
}
END_TEST

/*
 * A writer that drew a lower id commits after one with a higher id was
 * verified: its event must still be read, and a change to it found.
 */
START_TEST(test_incremental_out_of_order_commits)
{
	struct verify_totals t;
	struct drift_log l;
	struct err e = {0};
	struct db *slow = testdb_connect();
	int64_t prod2 = testdb_product(owner, "654322", "Adrenalin 1 mg/ml");
	char ids[24];
	const char *params[2] = {ids, NULL};
	char prods[24];
	PGresult *res;
	int64_t early, late;

	ck_assert(incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	snprintf(ids, sizeof(ids), "%lld", (long long)site);
	snprintf(prods, sizeof(prods), "%lld", (long long)prod);
	params[1] = prods;
	ck_assert_int_eq(db_command(slow, "BEGIN", 0, NULL, &e), 0);
	res = db_exec(slow,
		      "INSERT INTO stock_event (site_id, product_id, lot, kind,"
		      "  quantity, idempotency_key, payload_hash, recorded_by)"
		      " VALUES ($1, $2, 'V1', 'receipt', 4, gen_random_uuid(),"
		      "  sha256('slow'::bytea), 'tester') RETURNING id",
		      2, params, &e);
	ck_assert_msg(res != NULL, "%s", e.msg);
	early = db_int64(res, 0, 0);
	PQclear(res);
	late = record(prod2, LEDGER_RECEIPT, 6);
	ck_assert_int_gt(late, early);
	l = incr_log(VERIFY_FULL_EVERY_DEFAULT, &t);
	ck_assert_int_eq(l.n, 0);
	ck_assert_int_eq(t.events, 1);
	ck_assert_int_eq(db_command(slow, "COMMIT", 0, NULL, &e), 0);
	db_close(slow);
	/* The early event is read now, though a later id was verified. */
	l = incr_log(VERIFY_FULL_EVERY_DEFAULT, &t);
	ck_assert_int_eq(l.n, 0);
	ck_assert_int_eq(t.events, 1);
	assert_checkpoint_exact();
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));

	/* Again, and this time the early event is tampered with. */
	slow = testdb_connect();
	ck_assert_int_eq(db_command(slow, "BEGIN", 0, NULL, &e), 0);
	res = db_exec(slow,
		      "INSERT INTO stock_event (site_id, product_id, lot, kind,"
		      "  quantity, idempotency_key, payload_hash, recorded_by)"
		      " VALUES ($1, $2, 'V1', 'issue', 2, gen_random_uuid(),"
		      "  sha256('slow2'::bytea), 'tester') RETURNING id",
		      2, params, &e);
	ck_assert_msg(res != NULL, "%s", e.msg);
	early = db_int64(res, 0, 0);
	PQclear(res);
	record(prod2, LEDGER_ISSUE, 1);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	ck_assert_int_eq(db_command(slow, "COMMIT", 0, NULL, &e), 0);
	db_close(slow);
	tamper_id(
		"UPDATE stock_event SET balance_after = 3 WHERE id = $1::bigint",
		early);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 1));
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 1));
}
END_TEST

/*
 * History changed below the checkpoint is the full check's to find: the
 * incremental one does not read it (the contract in verify.h), and the
 * full one runs once the last is older than the interval.
 */
START_TEST(test_below_checkpoint_needs_full)
{
	struct verify_totals t;
	struct drift_log l;

	ck_assert(incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
	tamper("UPDATE stock_event SET delta = -10, quantity = 10"
	       " WHERE kind = 'issue'");
	l = incr_log(VERIFY_FULL_EVERY_DEFAULT, &t);
	ck_assert(!t.full);
	ck_assert_int_eq(l.n, 0);
	exec_owner("UPDATE verify_checkpoint"
		   " SET full_at = now() - interval '25 hours'");
	ck_assert(incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	/* Found once, it stays found by the incremental runs. */
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	record(prod, LEDGER_RECEIPT, 5);
	ck_assert(!incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 2));
	/* 0: every run is full. */
	ck_assert(incr_same_as_full(0, 2));
	ck_assert(incr_same_as_full(0, 2));
}
END_TEST

START_TEST(test_incremental_bad_interval)
{
	struct verify_totals t;
	struct err e = {0};

	ck_assert_int_eq(verify_incremental(app, -1, NULL, NULL, &t, &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "verify_full_interval"), "%s", e.msg);
	ck_assert_int_eq(verify_incremental(app, VERIFY_FULL_EVERY_MAX + 1,
					    NULL, NULL, &t, &e),
			 -1);
	/* Nothing was left locked or half done. */
	ck_assert(incr_same_as_full(VERIFY_FULL_EVERY_DEFAULT, 0));
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
	tcase_add_test(tc, test_incremental_clean_ledger);
	tcase_add_test(tc, test_incremental_first_run_finds_tampering);
	tcase_add_test(tc, test_incremental_tampered_balance);
	tcase_add_test(tc, test_incremental_tampered_aggregate);
	tcase_add_test(tc, test_incremental_tampered_event);
	tcase_add_test(tc, test_incremental_deleted_event);
	tcase_add_test(tc, test_incremental_out_of_order_commits);
	tcase_add_test(tc, test_below_checkpoint_needs_full);
	tcase_add_test(tc, test_incremental_bad_interval);
	suite_add_tcase(s, tc);
	return s;
}
