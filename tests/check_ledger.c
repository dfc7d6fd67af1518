/*
 * check_ledger.c -- the ledger's semantics against a real PostgreSQL: every
 * rule of DESIGN.md "The stock ledger", each in a fresh database.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "ledger.h"
#include "suites.h"
#include "testdb.h"
#include "verify.h"

static struct db *db; /* the application role, as the CLI and API run */
static struct db *owner;
static int64_t site1, site2, prod;
static const char *conninfo_for_threads; /* each thread connects itself */

static void setup(void)
{
	conninfo_for_threads = testdb_create();
	owner = testdb_connect();
	site1 = testdb_site(owner, "01", "01-CL");
	site2 = testdb_site(owner, "01", "01-KS");
	prod = testdb_product(owner, "123456", "Propofol 10 mg/ml 20 ml x 5");
	db = testdb_connect_app("tester");
}

static void teardown(void)
{
	db_close(db);
	db_close(owner);
	db = owner = NULL;
	testdb_drop();
}

static struct ledger_event event(enum ledger_kind kind, int64_t site,
				 int64_t qty, const char *lot)
{
	struct ledger_event ev = {
		.kind = kind,
		.site_id = site,
		.product_id = prod,
		.quantity = qty,
		.lot = lot,
		.actor = "tester",
	};
	return ev;
}

/* Record and insist that it worked. */
static struct ledger_result ok(struct ledger_event ev)
{
	struct ledger_result r;
	struct err e = {0};

	ck_assert_msg(ledger_record(db, &ev, &r, &e) == 0, "%s", e.msg);
	return r;
}

/* Record and insist that it failed with code; returns the message. */
static struct err refused(struct ledger_event ev, enum err_code code)
{
	struct ledger_result r;
	struct err e = {0};

	ck_assert_int_eq(ledger_record(db, &ev, &r, &e), -1);
	ck_assert_msg(e.code == code, "code %s, wanted %s: %s",
		      err_code_name(e.code), err_code_name(code), e.msg);
	return e;
}

static int64_t balance(int64_t site, const char *lot)
{
	char s[24], p[24];
	const char *params[] = {s, p, lot};

	snprintf(s, sizeof(s), "%lld", (long long)site);
	snprintf(p, sizeof(p), "%lld", (long long)prod);
	return testdb_scalar_params(
		owner,
		"SELECT coalesce(sum(quantity), 0) FROM stock_balance"
		" WHERE site_id = $1 AND product_id = $2 AND lot = $3",
		3, params);
}

static int64_t aggregate(const char *region)
{
	char p[24];
	const char *params[] = {region, p};

	snprintf(p, sizeof(p), "%lld", (long long)prod);
	return testdb_scalar_params(
		owner,
		"SELECT coalesce(sum(quantity), 0) FROM region_product_stock"
		" WHERE region_code = $1 AND product_id = $2",
		2, params);
}

static int64_t events(void)
{
	return testdb_scalar(owner, "SELECT count(*) FROM stock_event");
}

static void assert_no_drift(void)
{
	struct verify_totals t;
	struct err e = {0};

	ck_assert_msg(verify_run(owner, NULL, NULL, &t, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(t.drifts, 0);
}

START_TEST(test_receipt_and_issue_move_balance_and_aggregate)
{
	struct ledger_result r;

	r = ok(event(LEDGER_RECEIPT, site1, 100, "L1"));
	ck_assert_int_eq(r.delta, 100);
	ck_assert_int_eq(r.balance_after, 100);
	ck_assert_str_eq(r.region_code, "01");
	ck_assert(!r.replayed);
	r = ok(event(LEDGER_ISSUE, site1, 30, "L1"));
	ck_assert_int_eq(r.delta, -30);
	ck_assert_int_eq(r.balance_after, 70);
	ok(event(LEDGER_RECEIPT, site2, 5, ""));
	ok(event(LEDGER_EXPIRY_WRITEOFF, site1, 10, "L1"));
	ck_assert_int_eq(balance(site1, "L1"), 60);
	ck_assert_int_eq(balance(site2, ""), 5);
	ck_assert_int_eq(aggregate("01"), 65);
	assert_no_drift();
}
END_TEST

START_TEST(test_negative_balance_refused_with_full_message)
{
	struct err e;
	int64_t before;

	ok(event(LEDGER_RECEIPT, site1, 10, "L7"));
	before = events();
	e = refused(event(LEDGER_ISSUE, site1, 11, "L7"), ERR_CONFLICT);
	ck_assert_msg(strstr(e.msg, "balance would go negative"), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "01-CL"), "no site: %s", e.msg);
	ck_assert_msg(strstr(e.msg, "123456"), "no product: %s", e.msg);
	ck_assert_msg(strstr(e.msg, "lot L7"), "no lot: %s", e.msg);
	ck_assert_msg(strstr(e.msg, "balance 10"), "no balance: %s", e.msg);
	ck_assert_msg(strstr(e.msg, "requested 11"), "no request: %s", e.msg);
	ck_assert_int_eq(events(), before);
	ck_assert_int_eq(balance(site1, "L7"), 10);
	/* Another lot of the same product is another balance. */
	refused(event(LEDGER_ISSUE, site1, 1, "L8"), ERR_CONFLICT);
	refused(event(LEDGER_TRANSFER_OUT, site1, 11, "L7"), ERR_CONFLICT);
	refused(event(LEDGER_EXPIRY_WRITEOFF, site1, 11, "L7"), ERR_CONFLICT);
	ck_assert_int_eq(events(), before);
	assert_no_drift();
}
END_TEST

START_TEST(test_count_sets_balance_and_records_delta)
{
	struct ledger_result r;

	ok(event(LEDGER_RECEIPT, site1, 50, ""));
	r = ok(event(LEDGER_COUNT, site1, 42, ""));
	ck_assert_int_eq(r.delta, -8);
	ck_assert_int_eq(r.balance_after, 42);
	r = ok(event(LEDGER_COUNT, site1, 60, ""));
	ck_assert_int_eq(r.delta, 18);
	r = ok(event(LEDGER_COUNT, site1, 0, ""));
	ck_assert_int_eq(r.delta, -60);
	ck_assert_int_eq(balance(site1, ""), 0);
	/* A first count of a new lot starts it. */
	r = ok(event(LEDGER_COUNT, site2, 7, "NY"));
	ck_assert_int_eq(r.delta, 7);
	ck_assert_int_eq(aggregate("01"), 7);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM stock_event"
					      " WHERE kind = 'count'"),
			 4);
	assert_no_drift();
}
END_TEST

START_TEST(test_adjustment_needs_reason_even_past_the_library)
{
	struct ledger_event ev = event(LEDGER_ADJUSTMENT, site1, 5, "");
	struct err e = {0};
	struct ledger_result r;

	refused(ev, ERR_INVALID);
	ev.reason = "Inventering efter flytt";
	r = ok(ev);
	ck_assert_int_eq(r.delta, 5);
	ev = event(LEDGER_ADJUSTMENT, site1, -2, "");
	ev.reason = "Trasig förpackning";
	r = ok(ev);
	ck_assert_int_eq(r.balance_after, 3);
	/* The trigger refuses it too, for any writer that skips the C side. */
	ck_assert_int_eq(
		db_command(db,
			   "INSERT INTO stock_event (site_id, product_id, kind,"
			   " quantity, idempotency_key, payload_hash,"
			   " recorded_by) VALUES (1, 1, 'adjustment', 3,"
			   " gen_random_uuid(), sha256('x'), 'x')",
			   0, NULL, &e),
		-1);
	ck_assert_msg(strstr(e.msg, "reason is required"), "%s", e.msg);
}
END_TEST

START_TEST(test_reversal_at_most_once)
{
	struct ledger_event rev = {.kind = LEDGER_REVERSAL,
				   .reason = "Fel antal",
				   .actor = "tester"};
	struct ledger_result r1, r2;
	struct err e;

	r1 = ok(event(LEDGER_RECEIPT, site1, 40, "L1"));
	ok(event(LEDGER_ISSUE, site1, 15, "L1"));
	r2 = ok(event(LEDGER_COUNT, site1, 20, "L1"));
	ck_assert_int_eq(r2.delta, -5);
	rev.reverses = r2.event_id;
	r2 = ok(rev);
	ck_assert_int_eq(r2.delta, 5);
	ck_assert_int_eq(balance(site1, "L1"), 25);
	e = refused(rev, ERR_CONFLICT);
	ck_assert_msg(strstr(e.msg, "already reversed"), "%s", e.msg);
	/* A reversal cannot itself be reversed. */
	rev.reverses = r2.event_id;
	e = refused(rev, ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "itself a reversal"), "%s", e.msg);
	/* Undoing the receipt now would leave -15: refused. */
	rev.reverses = r1.event_id;
	e = refused(rev, ERR_CONFLICT);
	ck_assert_msg(strstr(e.msg, "balance would go negative"), "%s", e.msg);
	rev.reverses = 999999;
	refused(rev, ERR_NOT_FOUND);
	assert_no_drift();
}
END_TEST

START_TEST(test_idempotent_retry_and_conflict)
{
	struct ledger_event ev = event(LEDGER_RECEIPT, site1, 12, "L1");
	struct ledger_result a, b;
	struct err e;

	ev.key = "0b5e1d7c-2f4a-4b7e-9c1d-3a2b1c0d9e8f";
	a = ok(ev);
	b = ok(ev);
	ck_assert(b.replayed);
	ck_assert_int_eq(b.event_id, a.event_id);
	ck_assert_int_eq(b.balance_after, a.balance_after);
	/* The key is a UUID: its case does not make it another key. */
	ev.key = "0B5E1D7C-2F4A-4B7E-9C1D-3A2B1C0D9E8F";
	b = ok(ev);
	ck_assert(b.replayed);
	ck_assert_int_eq(events(), 1);
	ck_assert_int_eq(balance(site1, "L1"), 12);
	ev.quantity = 13;
	e = refused(ev, ERR_CONFLICT);
	ck_assert_msg(strstr(e.msg, "already used"), "%s", e.msg);
	ev.quantity = 12;
	ev.lot = "L2";
	refused(ev, ERR_CONFLICT);
	ck_assert_int_eq(events(), 1);
	/* A key names one event nationally, not only within a region. */
	{
		int64_t other = testdb_site(owner, "12", "12-CL");

		ev = event(LEDGER_RECEIPT, other, 12, "L1");
		ev.key = "0b5e1d7c-2f4a-4b7e-9c1d-3a2b1c0d9e8f";
		e = refused(ev, ERR_CONFLICT);
		ck_assert_msg(strstr(e.msg, "already used"), "%s", e.msg);
		ck_assert_int_eq(aggregate("12"), 0);
	}
	/* Without a key every call is a new event. */
	ev.key = NULL;
	a = ok(ev);
	b = ok(ev);
	ck_assert_int_ne(a.event_id, b.event_id);
	ck_assert_str_ne(a.key, b.key);
}
END_TEST

START_TEST(test_batch_is_all_or_nothing)
{
	struct ledger_event evs[3] = {
		event(LEDGER_RECEIPT, site1, 10, "B"),
		event(LEDGER_ISSUE, site1, 4, "B"),
		event(LEDGER_ISSUE, site2, 1, "B"), /* site2 has nothing */
	};
	struct ledger_result res[3];
	struct err e = {0};

	ck_assert_int_eq(ledger_record_batch(db, evs, 3, res, &e), -1);
	ck_assert_int_eq(e.code, ERR_CONFLICT);
	ck_assert_msg(strncmp(e.msg, "event 2: ", 9) == 0, "%s", e.msg);
	ck_assert_int_eq(events(), 0);
	ck_assert_int_eq(aggregate("01"), 0);
	evs[2] = event(LEDGER_RECEIPT, site2, 3, "B");
	ck_assert_msg(ledger_record_batch(db, evs, 3, res, &e) == 0, "%s",
		      e.msg);
	/* Results come back in the caller's order. */
	ck_assert_int_eq(res[0].delta, 10);
	ck_assert_int_eq(res[1].delta, -4);
	ck_assert_int_eq(res[1].balance_after, 6);
	ck_assert_int_eq(res[2].balance_after, 3);
	ck_assert_int_eq(aggregate("01"), 9);
	assert_no_drift();
}
END_TEST

START_TEST(test_ledger_is_append_only)
{
	struct err e = {0};

	ok(event(LEDGER_RECEIPT, site1, 10, ""));
	ck_assert_int_eq(db_command(db, "UPDATE stock_event SET quantity = 99",
				    0, NULL, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_int_eq(db_command(db, "DELETE FROM stock_event", 0, NULL, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_int_eq(db_command(db, "UPDATE stock_balance SET quantity = 1",
				    0, NULL, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_int_eq(db_command(db,
				    "INSERT INTO stock_balance VALUES ('01', 1,"
				    " 1, 'X', NULL, 5, 1, 0, now())",
				    0, NULL, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	/* Not even the owner may rewrite history. */
	ck_assert_int_eq(db_command(owner,
				    "UPDATE stock_event SET quantity = 99", 0,
				    NULL, &e),
			 -1);
	ck_assert_msg(strstr(e.msg, "append-only"), "%s", e.msg);
	ck_assert_int_eq(
		db_command(owner, "DELETE FROM stock_event", 0, NULL, &e), -1);
	ck_assert_int_eq(
		db_command(owner, "TRUNCATE stock_event CASCADE", 0, NULL, &e),
		-1);
	ck_assert_int_eq(events(), 1);
}
END_TEST

START_TEST(test_lot_has_one_expiry)
{
	struct ledger_event ev = event(LEDGER_RECEIPT, site1, 10, "L1");
	struct err e;

	ev.expiry = "2027-03-31";
	ok(ev);
	ok(ev);
	ev.expiry = "2027-04-30";
	e = refused(ev, ERR_CONFLICT);
	ck_assert_msg(strstr(e.msg, "lot L1 has expiry 2027-03-31"), "%s",
		      e.msg);
	/* Stock without a lot keeps the earliest date it was given. */
	ev.lot = "";
	ok(ev);
	ev.expiry = "2027-01-31";
	ok(ev);
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT count(*) FROM stock_balance"
			      " WHERE lot = '' AND expiry = '2027-01-31'"),
		1);
}
END_TEST

START_TEST(test_recorded_by_is_the_session_actor)
{
	struct ledger_event ev = event(LEDGER_RECEIPT, site1, 1, "");

	ev.actor = "somebody-else";
	ok(ev);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM stock_event"
					      " WHERE recorded_by = 'tester'"),
			 1);
}
END_TEST

START_TEST(test_shared_store_counts_for_owner_region)
{
	struct err e = {0};
	int64_t shared;

	ck_assert_int_eq(
		db_command(owner,
			   "INSERT INTO site (region_code, code, name, kind,"
			   " host_region_code) VALUES ('09', '09-CL-STHLM',"
			   " 'Gotlands lager i Stockholm', 'central', '01')",
			   0, NULL, &e),
		0);
	shared = testdb_scalar(
		owner, "SELECT id FROM site WHERE code = '09-CL-STHLM'");
	ok(event(LEDGER_RECEIPT, shared, 25, ""));
	ck_assert_int_eq(aggregate("09"), 25);
	ck_assert_int_eq(aggregate("01"), 0);
}
END_TEST

START_TEST(test_unknown_site_refused)
{
	struct err e =
		refused(event(LEDGER_RECEIPT, 987654, 1, ""), ERR_NOT_FOUND);

	ck_assert_msg(strstr(e.msg, "site 987654"), "%s", e.msg);
	ck_assert_int_eq(events(), 0);
}
END_TEST

START_TEST(test_unknown_product_refused)
{
	struct ledger_event ev = event(LEDGER_RECEIPT, site1, 1, "");
	struct err e;

	/* region_product_stock's foreign key, checked once per (region,
	 * product); callers resolve products before they get here */
	ev.product_id = 987654;
	e = refused(ev, ERR_INVALID);
	ck_assert_msg(strstr(e.msg, "product"), "%s", e.msg);
	ck_assert_int_eq(events(), 0);
}
END_TEST

/* What the ledger refers to stays: no foreign keys keep it (sql/004). */
START_TEST(test_sites_and_products_are_kept)
{
	static const char *const sql[] = {
		"DELETE FROM product",
		"DELETE FROM site",
		"UPDATE site SET region_code = '12'",
		"TRUNCATE site CASCADE",
		"TRUNCATE product CASCADE",
	};
	struct err e = {0};

	ok(event(LEDGER_RECEIPT, site1, 5, ""));
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		ck_assert_msg(db_command(owner, sql[i], 0, NULL, &e) == -1,
			      "%s was allowed", sql[i]);
		ck_assert_msg(db_failed_with(owner, "LB007"), "%s: %s", sql[i],
			      e.msg);
	}
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM product"),
			 1);
	/* renaming and deactivating are fine */
	ck_assert_msg(db_command(owner,
				 "UPDATE site SET name = 'Nytt namn',"
				 " active = false",
				 0, NULL, &e) == 0,
		      "%s", e.msg);
}
END_TEST

/* ledger_apply_counts called directly, as a careless caller might. */
static int apply_counts(struct db *as, const char *sites, const char *lots,
			const char *expiries, const char *qtys, struct err *e)
{
	char p[64];
	const char *params[5] = {sites, p, lots, expiries, qtys};
	PGresult *res;

	/* one product per site listed, the test's own */
	snprintf(p, sizeof(p), "{%lld,%lld}", (long long)prod, (long long)prod);
	if (strchr(sites, ',') == NULL)
		snprintf(p, sizeof(p), "{%lld}", (long long)prod);
	res = db_exec(as,
		      "SELECT ledger_apply_counts($1::bigint[], $2::bigint[],"
		      " $3::text[], $4::date[], $5::bigint[],"
		      " array_fill(now(), ARRAY[cardinality($1::bigint[])]),"
		      " 'test', 1)",
		      5, params, e);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

START_TEST(test_bulk_counts_agree_with_the_row_path)
{
	char sites[64], one[32];
	struct err e = {0};
	struct ledger_result r;

	snprintf(sites, sizeof(sites), "{%lld,%lld}", (long long)site1,
		 (long long)site2);
	snprintf(one, sizeof(one), "{%lld}", (long long)site1);
	ok(event(LEDGER_RECEIPT, site1, 10, "L1"));
	ck_assert_msg(apply_counts(db, sites, "{L1,\"\"}",
				   "{2027-06-30,2027-01-31}", "{4,9}", &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(balance(site1, "L1"), 4);
	ck_assert_int_eq(balance(site2, ""), 9);
	ck_assert_int_eq(aggregate("01"), 13);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM stock_balance"
				       " WHERE lot = 'L1'"
				       " AND expiry = '2027-06-30'"),
			 1);
	/* the row path goes on from the bulk path's seq */
	r = ok(event(LEDGER_ISSUE, site1, 1, "L1"));
	ck_assert_int_eq(r.balance_after, 3);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT max(seq) FROM stock_event"
					      " WHERE lot = 'L1'"),
			 3);
	assert_no_drift();

	/* refusals, each leaving nothing behind */
	ck_assert_int_eq(
		apply_counts(db, "{987654}", "{\"\"}", "{NULL}", "{1}", &e),
		-1);
	ck_assert_msg(db_failed_with(db, "LB003"), "%s", e.msg);
	ck_assert_int_eq(
		apply_counts(db, one, "{L1}", "{2030-01-01}", "{1}", &e), -1);
	ck_assert_msg(db_failed_with(db, "LB006"), "%s", e.msg);
	ck_assert_int_eq(apply_counts(db, one, "{L1}", "{NULL}", "{-1}", &e),
			 -1);
	ck_assert_msg(db_failed_with(db, "LB008"), "%s", e.msg);
	ck_assert_int_eq(
		apply_counts(db, sites, "{L1,L1}", "{NULL,NULL}", "{1}", &e),
		-1);
	ck_assert_msg(db_failed_with(db, "LB008"), "%s", e.msg);
	ck_assert_int_eq(balance(site1, "L1"), 3);
	assert_no_drift();
}
END_TEST

/* The bulk path asks the same questions of the caller as the policies. */
START_TEST(test_bulk_counts_respect_the_callers_region)
{
	struct db *imp12 = testdb_connect_app("imp12");
	char one[32];
	struct err e = {0};

	snprintf(one, sizeof(one), "{%lld}", (long long)site1);
	ck_assert(db_command(imp12,
			     "SELECT set_config('lagerbild.role', 'importer',"
			     " false), set_config('lagerbild.region', '12',"
			     " false)",
			     0, NULL, &e) == 0);
	ck_assert_int_eq(
		apply_counts(imp12, one, "{\"\"}", "{NULL}", "{5}", &e), -1);
	ck_assert_msg(db_failed_with(imp12, "42501"), "%s", e.msg);
	/* and the app role may not take the bulk path by hand */
	ck_assert_int_eq(db_command(db,
				    "INSERT INTO stock_event (site_id,"
				    " product_id, kind, quantity, delta,"
				    " balance_after, seq, recorded_by,"
				    " import_batch_id) VALUES (1, 1, 'count',"
				    " 1, 1, 1, 1, 'x', 1)",
				    0, NULL, &e),
			 -1);
	ck_assert_msg(db_failed_with(db, "42501"), "%s", e.msg);
	ck_assert_int_eq(events(), 0);
	db_close(imp12);
}
END_TEST

/* ---- concurrency ---- */

#define THREADS 8
#define PER_THREAD 1000

struct worker {
	int n;
	const char *conninfo;
	int64_t site;
	int failures;
	char why[512];
	const char *key; /* for the shared-key test */
	int64_t event_id;
};

/* 500 receipts of 2 and 500 issues of 1, interleaved: never negative. */
static void *hammer(void *arg)
{
	struct worker *w = arg;
	struct db *mine = NULL;
	struct err e = {0};

	if (db_connect(&mine, w->conninfo, &e) < 0 ||
	    db_become_app(mine, "tester", &e) < 0) {
		w->failures = PER_THREAD;
		memcpy(w->why, e.msg, sizeof(w->why));
		goto out;
	}
	for (int i = 0; i < PER_THREAD; i++) {
		struct ledger_event ev = {
			.kind = (i % 2 == 0) ? LEDGER_RECEIPT : LEDGER_ISSUE,
			.site_id = w->site,
			.product_id = prod,
			.quantity = (i % 2 == 0) ? 2 : 1,
			.actor = "tester",
		};
		struct ledger_result r;

		if (ledger_record(mine, &ev, &r, &e) < 0) {
			w->failures++;
			memcpy(w->why, e.msg, sizeof(w->why));
		}
	}
out:
	db_close(mine);
	return NULL;
}

START_TEST(test_concurrent_writers_same_balance)
{
	pthread_t t[THREADS];
	struct worker w[THREADS];
	struct verify_totals vt;
	struct err e = {0};

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.n = i,
				       .conninfo = conninfo_for_threads,
				       .site = site1};
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(w[i].failures == 0, "thread %d: %d failures: %s",
			      i, w[i].failures, w[i].why);
	}
	ck_assert_int_eq(events(), THREADS * PER_THREAD);
	ck_assert_int_eq(balance(site1, ""), THREADS * PER_THREAD / 2);
	ck_assert_int_eq(
		testdb_scalar(owner, "SELECT sum(delta) FROM stock_event"),
		THREADS * PER_THREAD / 2);
	ck_assert_int_eq(aggregate("01"), THREADS * PER_THREAD / 2);
	ck_assert_msg(verify_run(owner, NULL, NULL, &vt, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(vt.drifts, 0);
	ck_assert_int_eq(vt.events, THREADS * PER_THREAD);
}
END_TEST

/* Every thread sends the same event with the same key at once. */
static void *same_key(void *arg)
{
	struct worker *w = arg;
	struct db *mine = NULL;
	struct err e = {0};
	struct ledger_event ev = {
		.kind = LEDGER_RECEIPT,
		.site_id = w->site,
		.product_id = prod,
		.quantity = 5,
		.key = w->key,
		.actor = "tester",
	};
	struct ledger_result r;

	if (db_connect(&mine, w->conninfo, &e) < 0 ||
	    db_become_app(mine, "tester", &e) < 0 ||
	    ledger_record(mine, &ev, &r, &e) < 0) {
		w->failures = 1;
		memcpy(w->why, e.msg, sizeof(w->why));
	} else {
		w->event_id = r.event_id;
	}
	db_close(mine);
	return NULL;
}

START_TEST(test_concurrent_retries_count_once)
{
	pthread_t t[THREADS];
	struct worker w[THREADS];

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){
			.n = i,
			.conninfo = conninfo_for_threads,
			.site = site2,
			.key = "7d0c2b1a-5e4f-4a3b-8c2d-1e0f9a8b7c6d"};
		ck_assert_int_eq(pthread_create(&t[i], NULL, same_key, &w[i]),
				 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		ck_assert_msg(w[i].failures == 0, "thread %d: %s", i, w[i].why);
		ck_assert_int_eq(w[i].event_id, w[0].event_id);
	}
	ck_assert_int_eq(events(), 1);
	ck_assert_int_eq(balance(site2, ""), 5);
}
END_TEST

Suite *ledger_suite(void)
{
	Suite *s = suite_create("ledger");
	TCase *tc = tcase_create("semantics");
	TCase *conc = tcase_create("concurrency");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_receipt_and_issue_move_balance_and_aggregate);
	tcase_add_test(tc, test_negative_balance_refused_with_full_message);
	tcase_add_test(tc, test_count_sets_balance_and_records_delta);
	tcase_add_test(tc, test_adjustment_needs_reason_even_past_the_library);
	tcase_add_test(tc, test_reversal_at_most_once);
	tcase_add_test(tc, test_idempotent_retry_and_conflict);
	tcase_add_test(tc, test_batch_is_all_or_nothing);
	tcase_add_test(tc, test_ledger_is_append_only);
	tcase_add_test(tc, test_lot_has_one_expiry);
	tcase_add_test(tc, test_recorded_by_is_the_session_actor);
	tcase_add_test(tc, test_shared_store_counts_for_owner_region);
	tcase_add_test(tc, test_unknown_site_refused);
	tcase_add_test(tc, test_unknown_product_refused);
	tcase_add_test(tc, test_sites_and_products_are_kept);
	tcase_add_test(tc, test_bulk_counts_agree_with_the_row_path);
	tcase_add_test(tc, test_bulk_counts_respect_the_callers_region);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(conc, setup, teardown);
	tcase_set_timeout(conc, 300);
	tcase_add_test(conc, test_concurrent_writers_same_balance);
	tcase_add_test(conc, test_concurrent_retries_count_once);
	suite_add_tcase(s, conc);
	return s;
}
