/*
 * check_allocation.c -- the regional-sharing workflow on a real database
 * (src/allocation.h, sql/011_allocation.sql).
 *
 * Three regions hold one product: Stockholm (01) plenty, Skåne (12) and
 * Västra Götaland (14) a couple of days, all consuming about ten a day.
 * The tests run the allocator and carry its proposals through approve,
 * ship, receive, short receipt, cancel and return, checking after every
 * step that the national total -- balances + in transit + lost in
 * transit, summed here from the tables themselves, not from the view --
 * is what it was, that the view agrees, and that verify finds no drift.
 * Around that: who may take which step, the obligatory decline and its
 * alert, retries, help requests, plans and their CSV, the alert function
 * for regions behind plan, bad input, and the command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "allocation.h"
#include "auth.h"
#include "ledger.h"
#include "readiness_report.h"
#include "suites.h"
#include "testdb.h"
#include "verify.h"

extern char **environ;

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *dburl;
static struct db *owner; /* schema owner, acting as the system */
static struct db *app;	 /* application role; each step sets its caller */
static int64_t prod, site01, site01b, site12, site14, site03;
static int64_t initial; /* the national total after setup */

/* ---- fixtures ---- */

static void own_exec(const char *sql, int n, const char *const *params)
{
	struct err e = {0};

	ck_assert_msg(db_command(owner, sql, n, params, &e) == 0, "%s: %s", sql,
		      e.msg);
}

static const char event_sql[] =
	"INSERT INTO stock_event (site_id, product_id, kind, quantity, lot,"
	" expiry, idempotency_key, payload_hash, occurred_at, recorded_by,"
	" delta, balance_after, seq)"
	" VALUES ($1::bigint, $2::bigint, $3::stock_event_kind, $4::bigint,"
	" coalesce($5, ''), $6::date, gen_random_uuid(),"
	" sha256(gen_random_uuid()::text::bytea),"
	" now() - make_interval(days => $7::int), 'test', 0, 0, 1)";

/* An event days ago, through the ledger's own trigger. */
static void event(int64_t site, const char *kind, int64_t qty, const char *lot,
		  const char *expiry, int days_ago)
{
	char s[24], p[24], q[24], d[16];
	const char *params[7] = {s, p, kind, q, lot, expiry, d};

	snprintf(s, sizeof(s), "%lld", (long long)site);
	snprintf(p, sizeof(p), "%lld", (long long)prod);
	snprintf(q, sizeof(q), "%lld", (long long)qty);
	snprintf(d, sizeof(d), "%d", days_ago);
	own_exec(event_sql, 7, params);
}

static int64_t scalar1(const char *sql, int64_t a)
{
	char s[24];
	const char *params[1] = {s};

	snprintf(s, sizeof(s), "%lld", (long long)a);
	return testdb_scalar_params(owner, sql, 1, params);
}

/* sql with $1 = a, as the owner, must fail: its error's message. */
static const char *refused1(const char *sql, int64_t a, struct err *e)
{
	char s[24];
	const char *params[1] = {s};
	PGresult *q;

	snprintf(s, sizeof(s), "%lld", (long long)a);
	q = db_exec(owner, sql, 1, params, e);
	ck_assert_msg(q == NULL, "%s: not refused", sql);
	return e->msg;
}

/*
 * The national total of the product from the tables: balances, stock in
 * transit, and what short receipts lost on the way.
 */
static int64_t national_total(void)
{
	return scalar1(
		"SELECT (SELECT coalesce(sum(quantity), 0) FROM stock_balance"
		"  WHERE product_id = $1::bigint)"
		" + (SELECT coalesce(sum(quantity), 0) FROM shipment"
		"  WHERE product_id = $1::bigint AND status = 'in_transit')"
		" + (SELECT coalesce(sum(quantity - received_quantity), 0)"
		"  FROM shipment WHERE product_id = $1::bigint"
		"  AND status = 'received')",
		prod);
}

static void count_drift(void *ctx, const struct verify_drift *d)
{
	(void)d;
	(*(int *)ctx)++;
}

/* After every step: the total is unchanged, the view says so, and the
 * ledger has no drift. */
static void invariant(const char *step)
{
	struct verify_totals t;
	struct err e = {0};
	int drifts = 0;
	int64_t total = national_total();

	ck_assert_msg(total == initial, "%s: national total %lld, was %lld",
		      step, (long long)total, (long long)initial);
	ck_assert_msg(scalar1("SELECT total FROM allocation_national_total"
			      " WHERE product_id = $1::bigint",
			      prod) == initial,
		      "%s: allocation_national_total disagrees", step);
	ck_assert_msg(verify_run(owner, count_drift, &drifts, &t, &e) == 0,
		      "%s: verify: %s", step, e.msg);
	ck_assert_msg(t.drifts == 0 && drifts == 0, "%s: verify found drift",
		      step);
}

static void setup(void)
{
	struct err e = {0};

	dburl = testdb_create();
	owner = testdb_connect();
	ck_assert_msg(db_act_as_system(owner, "setup", &e) == 0, "%s", e.msg);
	site01 = testdb_site(owner, "01", "01-CL");
	site01b = testdb_site(owner, "01", "01-B");
	site12 = testdb_site(owner, "12", "12-CL");
	site14 = testdb_site(owner, "14", "14-CL");
	site03 = testdb_site(owner, "03", "03-CL");
	prod = testdb_product(owner, "123456", "Alvedon 500 mg");
	own_exec("UPDATE product SET agreement_code = 'TO2022_LM'", 0, NULL);
	/* 30 days ago a delivery; ten a day used since. */
	event(site01, "receipt", 5000, "L01", "2030-01-01", 30);
	event(site12, "receipt", 300, "L12", "2030-01-01", 30);
	event(site14, "receipt", 300, "L14", "2030-01-01", 30);
	for (int d = 28; d >= 1; d--) {
		event(site01, "issue", 10, "L01", NULL, d);
		event(site12, "issue", 10, "L12", NULL, d);
		event(site14, "issue", 10, "L14", NULL, d);
	}
	app = testdb_connect_app("tester");
	ck_assert_msg(readiness_refresh(app, NULL, &e) == 0, "refresh: %s",
		      e.msg);
	initial = national_total();
	ck_assert_int_eq(initial, 4760);
}

static void teardown(void)
{
	db_close(app);
	db_close(owner);
	app = owner = NULL;
	testdb_drop();
}

/* ---- callers ---- */

static struct identity as(enum role role, const char *region)
{
	struct identity w;

	memset(&w, 0, sizeof(w));
	w.role = role;
	if (region)
		snprintf(w.region, sizeof(w.region), "%s", region);
	snprintf(w.username, sizeof(w.username), "%s%s%s", auth_role_name(role),
		 region ? "." : "", region ? region : "");
	return w;
}

static struct identity rc01, rc12, rc14, coord, viewer, importer, sys_id;

static void callers(void)
{
	rc01 = as(ROLE_REGION_CONTACT, "01");
	rc12 = as(ROLE_REGION_CONTACT, "12");
	rc14 = as(ROLE_REGION_CONTACT, "14");
	coord = as(ROLE_COORDINATOR, NULL);
	viewer = as(ROLE_VIEWER, NULL);
	importer = as(ROLE_IMPORTER, "01");
	sys_id = as(ROLE_SYSTEM, NULL);
}

/* Take one step of a proposal as w in a transaction; the domain's rc. */
static int step_as(const struct identity *w, int64_t id,
		   enum allocation_action action, const char *reason,
		   int64_t qty, const char *site, bool *replayed, struct err *e)
{
	struct allocation_act a = {.action = action,
				   .reason = reason,
				   .quantity = qty,
				   .site = site};
	bool r = false;

	err_clear(e);
	if (auth_begin(app, w, e) < 0)
		return -1;
	if (allocation_proposal_act(app, w, id, &a, &r, e) < 0 ||
	    db_commit(app, e) < 0) {
		db_rollback(app);
		return -1;
	}
	if (replayed)
		*replayed = r;
	return 0;
}

/* A step that must succeed. */
static void ok_step(const struct identity *w, int64_t id,
		    enum allocation_action action, const char *reason,
		    int64_t qty)
{
	struct err e = {0};

	ck_assert_msg(step_as(w, id, action, reason, qty, NULL, NULL, &e) == 0,
		      "%s of proposal %lld as %s: %s",
		      allocation_action_name(action), (long long)id,
		      w->username, e.msg);
}

/* A step that must be refused with code. */
static void refused_step(const struct identity *w, int64_t id,
			 enum allocation_action action, const char *reason,
			 enum err_code code, const char *field)
{
	struct err e = {0};

	ck_assert_msg(step_as(w, id, action, reason, -1, NULL, NULL, &e) < 0,
		      "%s of proposal %lld as %s: not refused",
		      allocation_action_name(action), (long long)id,
		      w->username);
	ck_assert_msg(
		e.code == code, "%s of proposal %lld as %s: %s (%s), wanted %s",
		allocation_action_name(action), (long long)id, w->username,
		err_code_name(e.code), e.msg, err_code_name(code));
	if (field)
		ck_assert_msg(strcmp(e.field, field) == 0,
			      "%s: field \"%s\", wanted %s: %s",
			      allocation_action_name(action), e.field, field,
			      e.msg);
}

/* Run the sharing problem as w; the run id, or 0 with e set. */
static int64_t share_as(const struct identity *w, int floor_days, struct err *e)
{
	struct allocation_params p;
	int64_t id = 0;

	allocation_params_default(&p, ALLOCATION_SHARE);
	p.products = &prod;
	p.nproducts = 1;
	p.floor_days = floor_days;
	err_clear(e);
	if (auth_begin(app, w, e) < 0)
		return 0;
	if (allocation_run(app, w, &p, &id, e) < 0 || db_commit(app, e) < 0) {
		db_rollback(app);
		return 0;
	}
	return id;
}

static int64_t share(void)
{
	struct err e = {0};
	int64_t id = share_as(&coord, -1, &e);

	ck_assert_msg(id > 0, "share: %s", e.msg);
	return id;
}

/* The proposal of run to region (the first, if several). */
static int64_t proposal_to(int64_t run, const char *region)
{
	char r[24];
	const char *params[2] = {r, region};

	snprintf(r, sizeof(r), "%lld", (long long)run);
	return testdb_scalar_params(
		owner,
		"SELECT coalesce(min(id), 0) FROM proposal_all"
		" WHERE run_id = $1::bigint"
		" AND to_region = $2",
		2, params);
}

static int64_t proposal_qty(int64_t id)
{
	return scalar1(
		"SELECT quantity FROM proposal_all WHERE id = $1::bigint", id);
}

/* Sum of a region's balances of the product. */
static int64_t held(const char *region)
{
	const char *params[1] = {region};

	return testdb_scalar_params(
		owner,
		"SELECT coalesce(sum(quantity), 0)"
		" FROM stock_balance WHERE region_code = $1",
		1, params);
}

static const char *status_of(int64_t id, char buf[16])
{
	char s[24];
	const char *params[1] = {s};
	struct err e = {0};
	PGresult *q;

	snprintf(s, sizeof(s), "%lld", (long long)id);
	q = db_exec(owner,
		    "SELECT status FROM proposal_all WHERE id = $1::bigint", 1,
		    params, &e);
	ck_assert_msg(q && PQntuples(q) == 1, "status of %lld: %s",
		      (long long)id, e.msg);
	snprintf(buf, 16, "%s", db_text(q, 0, 0));
	PQclear(q);
	return buf;
}

#define ck_status(id, want)                                              \
	do {                                                             \
		char sb_[16];                                            \
		ck_assert_msg(strcmp(status_of((id), sb_), (want)) == 0, \
			      "proposal %lld is %s, wanted %s",          \
			      (long long)(id), sb_, (want));             \
	} while (0)

/* Read a run as w. */
static json_t *run_as_seen_by(const struct identity *w, int64_t run)
{
	struct err e = {0};
	json_t *j = NULL;

	ck_assert_msg(auth_begin(app, w, &e) == 0, "%s", e.msg);
	ck_assert_msg(allocation_get(app, w, run, NULL, &j, &e) == 0, "get: %s",
		      e.msg);
	db_rollback(app);
	return j;
}

/* The result row of region in a run's first product. */
static json_t *region_result(json_t *run, const char *region)
{
	json_t *regions = json_object_get(
		json_object_get(
			json_array_get(json_object_get(run, "products"), 0),
			"result"),
		"regions");
	size_t i;
	json_t *r;

	json_array_foreach(
		regions, i,
		r) if (strcmp(json_string_value(json_object_get(r, "region")),
			      region) == 0) return r;
	ck_abort_msg("region %s not in the result", region);
	return NULL;
}

/* ---- the whole chain ---- */

START_TEST(test_chain_invariant)
{
	int64_t run, p12, p14, q12, q14, before12, before01;
	json_t *j, *r12;
	double level;

	callers();
	invariant("start");
	run = share();
	invariant("run");
	j = run_as_seen_by(&coord, run);
	level = json_real_value(json_object_get(
		json_array_get(json_object_get(j, "products"), 0), "level"));
	ck_assert_msg(level > 100 && level < 200, "level L %f", level);
	ck_assert_str_eq(
		json_string_value(json_object_get(j, "algorithm_version")),
		ALLOCATOR_VERSION);
	r12 = region_result(j, "12");
	ck_assert_msg(json_real_value(json_object_get(r12, "days_before")) < 3,
		      "12 had about 2 days");
	ck_assert_msg(json_real_value(json_object_get(r12, "days_after")) > 100,
		      "12 gets to L");
	ck_assert_int_eq(json_array_size(json_object_get(j, "proposals")), 2);
	json_decref(j);

	p12 = proposal_to(run, "12");
	p14 = proposal_to(run, "14");
	ck_assert_msg(p12 > 0 && p14 > 0, "proposals to 12 and 14");
	q12 = proposal_qty(p12);
	q14 = proposal_qty(p14);
	ck_assert_msg(q12 % 10 == 0 && q14 % 10 == 0, "whole packs");
	before12 = held("12");
	before01 = held("01");

	ok_step(&rc01, p12, ALLOCATION_APPROVE, NULL, -1);
	invariant("approve");
	ok_step(&rc01, p12, ALLOCATION_SHIP, NULL, -1);
	invariant("ship");
	ck_assert_int_eq(held("01"), before01 - q12);
	ck_assert_int_eq(scalar1("SELECT in_transit FROM allocation_in_transit"
				 " WHERE product_id = $1::bigint",
				 prod),
			 q12);
	ok_step(&rc12, p12, ALLOCATION_RECEIVE, NULL, -1);
	invariant("receive");
	ck_assert_int_eq(held("12"), before12 + q12);
	ck_status(p12, "received");

	/* The second: short by one pack, which is lost, on record. */
	ok_step(&rc01, p14, ALLOCATION_APPROVE, "gärna", -1);
	ok_step(&rc01, p14, ALLOCATION_SHIP, NULL, -1);
	invariant("ship 2");
	ok_step(&rc14, p14, ALLOCATION_RECEIVE, "en kartong saknades",
		q14 - 10);
	invariant("short receipt");
	ck_assert_int_eq(scalar1("SELECT lost FROM allocation_national_total"
				 " WHERE product_id = $1::bigint",
				 prod),
			 10);
	ck_assert_int_eq(scalar1("SELECT discrepancy FROM shipment"
				 " WHERE proposal_id = $1::bigint",
				 p14),
			 10);
	/* Received at the receiving region's central store, with the lot's
	 * expiry. */
	ck_assert_int_eq(scalar1("SELECT count(*) FROM stock_balance"
				 " WHERE site_id = $1::bigint AND lot = 'L01'"
				 " AND expiry = '2030-01-01'",
				 site14),
			 1);
}
END_TEST

START_TEST(test_cancel_and_return)
{
	int64_t run, p12, p14, before01;
	char reason[] = "lastbilen vände";

	callers();
	run = share();
	p12 = proposal_to(run, "12");
	p14 = proposal_to(run, "14");
	before01 = held("01");
	/* A coordinator withdraws a suggestion before it ships. */
	ok_step(&coord, p12, ALLOCATION_CANCEL, "behovet löst", -1);
	ck_status(p12, "cancelled");
	invariant("cancel");
	refused_step(&rc01, p12, ALLOCATION_APPROVE, NULL, ERR_CONFLICT,
		     "status");
	refused_step(&rc01, p12, ALLOCATION_SHIP, NULL, ERR_CONFLICT, "status");
	/* Shipped, then back: the giver has it all again. */
	ok_step(&rc01, p14, ALLOCATION_APPROVE, NULL, -1);
	ok_step(&rc01, p14, ALLOCATION_SHIP, NULL, -1);
	refused_step(&rc01, p14, ALLOCATION_CANCEL, NULL, ERR_CONFLICT,
		     "status");
	refused_step(&rc01, p14, ALLOCATION_RETURN, NULL, ERR_INVALID,
		     "reason");
	refused_step(&rc14, p14, ALLOCATION_RETURN, reason, ERR_FORBIDDEN,
		     NULL);
	ok_step(&rc01, p14, ALLOCATION_RETURN, reason, -1);
	invariant("return");
	ck_status(p14, "returned");
	ck_assert_int_eq(held("01"), before01);
	refused_step(&rc14, p14, ALLOCATION_RECEIVE, NULL, ERR_CONFLICT,
		     "status");
	ck_assert_int_eq(scalar1("SELECT count(*) FROM stock_event"
				 " WHERE kind = 'transfer_in'"
				 " AND site_id = $1::bigint",
				 site01),
			 1);
}
END_TEST

/* ---- who may ---- */

START_TEST(test_who_decides)
{
	int64_t run, p12, p14;
	struct err e = {0};
	json_t *j;

	callers();
	/* Only coordinators (and the system) run the allocator. */
	ck_assert_int_eq(share_as(&rc01, -1, &e), 0);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_int_eq(share_as(&viewer, -1, &e), 0);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	run = share();
	p12 = proposal_to(run, "12");
	p14 = proposal_to(run, "14");
	/* The giver decides: not a coordinator, not the receiver, not a
	 * third region, not a viewer or an import job. */
	refused_step(&coord, p12, ALLOCATION_APPROVE, NULL, ERR_FORBIDDEN,
		     NULL);
	refused_step(&coord, p12, ALLOCATION_DECLINE, "nej", ERR_FORBIDDEN,
		     NULL);
	refused_step(&rc12, p12, ALLOCATION_APPROVE, NULL, ERR_FORBIDDEN, NULL);
	refused_step(&rc14, p12, ALLOCATION_APPROVE, NULL, ERR_FORBIDDEN, NULL);
	refused_step(&viewer, p12, ALLOCATION_APPROVE, NULL, ERR_FORBIDDEN,
		     NULL);
	refused_step(&importer, p12, ALLOCATION_APPROVE, NULL, ERR_FORBIDDEN,
		     NULL);
	ck_status(p12, "proposed");
	ok_step(&rc01, p12, ALLOCATION_APPROVE, NULL, -1);
	refused_step(&coord, p12, ALLOCATION_SHIP, NULL, ERR_FORBIDDEN, NULL);
	refused_step(&rc12, p12, ALLOCATION_SHIP, NULL, ERR_FORBIDDEN, NULL);
	ok_step(&rc01, p12, ALLOCATION_SHIP, NULL, -1);
	/* The receiver receives; the giver does not. */
	refused_step(&rc01, p12, ALLOCATION_RECEIVE, NULL, ERR_FORBIDDEN, NULL);
	refused_step(&coord, p12, ALLOCATION_RECEIVE, NULL, ERR_FORBIDDEN,
		     NULL);
	ok_step(&rc12, p12, ALLOCATION_RECEIVE, NULL, -1);
	/* The giver declines the other. */
	ok_step(&rc01, p14, ALLOCATION_DECLINE, NULL, -1);
	ck_status(p14, "declined");
	invariant("after the refusals");

	/* Reading: a third region sees neither proposal. */
	ck_assert_msg(auth_begin(app, &rc14, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(allocation_proposal_get(app, &rc14, p12, &j, &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	db_rollback(app);
	ck_assert_msg(auth_begin(app, &rc12, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(allocation_proposal_get(app, &rc12, p12, &j, &e), 0);
	json_decref(j);
	ck_assert_int_eq(allocation_proposal_get(app, &rc12, 999999, &j, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_NOT_FOUND);
	db_rollback(app);
	ck_assert_msg(auth_begin(app, &importer, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(allocation_get(app, &importer, run, NULL, &j, &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	db_rollback(app);
}
END_TEST

/* Row-level security refuses what the handlers would, whatever path. */
START_TEST(test_rls_backstop)
{
	int64_t run, p12, p14;
	char s[24];
	const char *params[1] = {s};
	struct err e = {0};
	PGresult *q;

	callers();
	run = share();
	p12 = proposal_to(run, "12");
	p14 = proposal_to(run, "14");
	snprintf(s, sizeof(s), "%lld", (long long)p12);
	/* The policies guard proposals' rows; a packed one becomes a row
	 * when a step is first taken on it (sql/020), and only for those
	 * who see it. */
	snprintf(s, sizeof(s), "%lld", (long long)p14);
	ck_assert_msg(auth_begin(app, &rc12, &e) == 0, "%s", e.msg);
	q = db_exec(app, "SELECT allocation_proposal_materialize($1::bigint)",
		    1, params, &e);
	ck_assert_msg(q && strcmp(PQgetvalue(q, 0, 0), "f") == 0, "%s", e.msg);
	PQclear(q);
	db_commit(app, &e);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal"
				 " WHERE id = $1::bigint",
				 p14),
			 0);
	snprintf(s, sizeof(s), "%lld", (long long)run);
	own_exec("SELECT allocation_proposal_materialize(id) FROM proposal_all"
		 " WHERE run_id = $1::bigint",
		 1, params);
	snprintf(s, sizeof(s), "%lld", (long long)p12);
	/* The receiver cannot approve for the giver. */
	ck_assert_msg(auth_begin(app, &rc12, &e) == 0, "%s", e.msg);
	ck_assert_msg(db_command(app,
				 "UPDATE proposal SET status = 'approved'"
				 " WHERE id = $1::bigint",
				 1, params, &e) < 0,
		      "the receiver approved");
	db_rollback(app);
	/* A coordinator cannot either. */
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	ck_assert_msg(db_command(app,
				 "UPDATE proposal SET status = 'approved'"
				 " WHERE id = $1::bigint",
				 1, params, &e) < 0,
		      "a coordinator approved");
	db_rollback(app);
	/* A third region does not even see it. */
	snprintf(s, sizeof(s), "%lld", (long long)p14);
	ck_assert_msg(auth_begin(app, &rc12, &e) == 0, "%s", e.msg);
	q = db_exec(app,
		    "UPDATE proposal SET status = 'approved'"
		    " WHERE id = $1::bigint RETURNING id",
		    1, params, &e);
	ck_assert_msg(q != NULL && PQntuples(q) == 0, "%s", e.msg);
	PQclear(q);
	db_rollback(app);
	/* And the lifecycle is the database's too: no jump to received. */
	ck_assert_msg(db_command(owner,
				 "UPDATE proposal SET status = 'received'"
				 " WHERE id = $1::bigint",
				 1, params, &e) < 0,
		      "proposed -> received");
	ck_assert_int_eq(e.code, ERR_CONFLICT);
	ck_status(p14, "proposed");
}
END_TEST

/* ---- obligatory help ---- */

static void set_state(const char *region, const char *state)
{
	const char *params[2] = {region, state};

	own_exec("INSERT INTO region_state_history (region_code, state,"
		 " reason, set_by) VALUES ($1, $2::region_state, 'test',"
		 " 'test')",
		 2, params);
}

static int64_t open_alerts(const char *rule, const char *region)
{
	const char *params[2] = {rule, region};

	return testdb_scalar_params(
		owner,
		"SELECT count(*) FROM alert WHERE rule::text = $1"
		" AND region_code = $2 AND resolved_at IS NULL",
		2, params);
}

START_TEST(test_obligatory_decline)
{
	int64_t run, p12, p14, refused;
	struct err e = {0};

	callers();
	set_state("12", "disaster");
	run = share();
	p12 = proposal_to(run, "12");
	p14 = proposal_to(run, "14");
	ck_assert_int_eq(scalar1("SELECT obligatory::int FROM proposal_all"
				 " WHERE id = $1::bigint",
				 p12),
			 1);
	ck_assert_int_eq(scalar1("SELECT obligatory::int FROM proposal_all"
				 " WHERE id = $1::bigint",
				 p14),
			 0);
	/* Declining help to a region in disaster needs a reason ... */
	refused_step(&rc01, p12, ALLOCATION_DECLINE, NULL, ERR_INVALID,
		     "reason");
	ck_assert_int_eq(open_alerts("obligatory_decline", "12"), 0);
	/* ... and alerts national coordination. */
	ck_assert_msg(step_as(&rc01, p12, ALLOCATION_DECLINE,
			      "vi har själva brist", -1, NULL, NULL, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(open_alerts("obligatory_decline", "12"), 1);
	ck_assert_int_eq(
		scalar1("SELECT count(*) FROM alert"
			" WHERE rule::text = 'obligatory_decline'"
			" AND severity = 'critical'"
			" AND details->>'reason' = 'vi har själva brist'"
			" AND scope_key = 'proposal:' || $1::bigint",
			p12),
		1);
	/* The history says who declined and why. */
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_event"
				 " WHERE proposal_id = $1::bigint"
				 " AND status = 'declined'"
				 " AND reason = 'vi har själva brist'"
				 " AND actor = 'region_contact.01'",
				 p12),
			 1);
	/* A region that enters disaster after the proposal is made is
	 * obliged all the same. */
	set_state("14", "disaster");
	refused_step(&rc01, p14, ALLOCATION_DECLINE, NULL, ERR_INVALID,
		     "reason");
	/* A token delivery does not clear the alert: 1 arrives of a new
	 * proposal to 12 ... */
	refused = proposal_qty(p12);
	run = share();
	p12 = proposal_to(run, "12");
	ck_assert_msg(p12 > 0, "a new proposal to 12");
	ok_step(&rc01, p12, ALLOCATION_APPROVE, NULL, -1);
	ok_step(&rc01, p12, ALLOCATION_SHIP, NULL, -1);
	ck_assert_int_eq(open_alerts("obligatory_decline", "12"), 1);
	ok_step(&rc12, p12, ALLOCATION_RECEIVE, "resten krossad", 1);
	ck_assert_int_eq(open_alerts("obligatory_decline", "12"), 1);
	/* ... help that makes up for the refused quantity does. */
	run = share();
	p12 = proposal_to(run, "12");
	ck_assert_msg(p12 > 0, "a third proposal to 12");
	ok_step(&rc01, p12, ALLOCATION_APPROVE, NULL, -1);
	ok_step(&rc01, p12, ALLOCATION_SHIP, NULL, -1);
	ok_step(&rc12, p12, ALLOCATION_RECEIVE, NULL, -1);
	ck_assert_int_eq(open_alerts("obligatory_decline", "12"),
			 1 + proposal_qty(p12) < refused);
	/* Out of disaster, it is over whatever arrived. */
	set_state("12", "normal");
	own_exec("SELECT allocation_obligatory_resolve()", 0, NULL);
	ck_assert_int_eq(open_alerts("obligatory_decline", "12"), 0);
	invariant("obligatory");
}
END_TEST

/* Cancelling is no way round an obligatory proposal: the giver's cancel
 * needs a reason and alerts as its decline does; a coordinator's needs a
 * reason and alerts nobody. */
START_TEST(test_obligatory_cancel)
{
	int64_t run, p12;
	struct err e = {0};

	callers();
	set_state("12", "disaster");
	run = share();
	p12 = proposal_to(run, "12");
	refused_step(&rc01, p12, ALLOCATION_CANCEL, NULL, ERR_INVALID,
		     "reason");
	refused_step(&rc01, p12, ALLOCATION_CANCEL, "   ", ERR_INVALID,
		     "reason");
	ck_status(p12, "proposed");
	ck_assert_int_eq(open_alerts("obligatory_decline", "12"), 0);
	ok_step(&rc01, p12, ALLOCATION_CANCEL, "lagret behövs här", -1);
	ck_status(p12, "cancelled");
	ck_assert_int_eq(
		scalar1("SELECT count(*) FROM alert"
			" WHERE rule::text = 'obligatory_decline'"
			" AND severity = 'critical' AND resolved_at IS NULL"
			" AND details->>'reason' = 'lagret behövs här'"
			" AND details->>'status' = 'cancelled'"
			" AND title LIKE '%cancelled proposal%'"
			" AND scope_key = 'proposal:' || $1::bigint",
			p12),
		1);
	/* Approved, then cancelled by national coordination. */
	run = share();
	p12 = proposal_to(run, "12");
	ok_step(&rc01, p12, ALLOCATION_APPROVE, NULL, -1);
	refused_step(&coord, p12, ALLOCATION_CANCEL, NULL, ERR_INVALID,
		     "reason");
	ok_step(&coord, p12, ALLOCATION_CANCEL, "ersatt av ny körning", -1);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM alert"
				 " WHERE scope_key = 'proposal:' || $1::bigint",
				 p12),
			 0);
	ck_assert_int_eq(open_alerts("obligatory_decline", "12"), 1);
	/* The table holds the rule too. */
	run = share();
	p12 = proposal_to(run, "12");
	ck_assert_int_eq(scalar1("SELECT count(*) FROM (SELECT"
				 " allocation_proposal_materialize($1::bigint))"
				 " m",
				 p12),
			 1);
	ck_assert_msg(
		strstr(refused1("UPDATE proposal SET status = 'cancelled',"
				" obligatory = true WHERE id = $1::bigint",
				p12, &e),
		       "obligatory_cancel"),
		"%s", e.msg);
	ck_status(p12, "proposed");
	invariant("obligatory cancel");
}
END_TEST

/* A lot quarantined after the run chose it is neither approved nor
 * shipped until the quarantine is released. */
START_TEST(test_quarantined_after_proposal)
{
	int64_t run, p12, qid;
	char id[24], qs[24];
	const char *params[1] = {id};
	struct err e = {0};

	callers();
	run = share();
	p12 = proposal_to(run, "12");
	snprintf(id, sizeof(id), "%lld", (long long)p12);
	qid = testdb_scalar_params(
		owner,
		"INSERT INTO lot_quarantine (region_code, site_id, product_id,"
		" lot, reason, created_by) SELECT from_region, from_site_id,"
		" product_id, lot, 'kylkedjebrott', 'test' FROM proposal_all"
		" WHERE id = $1::bigint RETURNING id",
		1, params);
	ck_assert_int_eq(step_as(&rc01, p12, ALLOCATION_APPROVE, NULL, -1, NULL,
				 NULL, &e),
			 -1);
	ck_assert_msg(e.code == ERR_CONFLICT && strcmp(e.field, "lot") == 0 &&
			      strstr(e.msg, "quarantined") &&
			      strstr(e.msg, "kylkedjebrott"),
		      "%s: %s", err_code_name(e.code), e.msg);
	ck_status(p12, "proposed");
	snprintf(qs, sizeof(qs), "%lld", (long long)qid);
	params[0] = qs;
	own_exec("UPDATE lot_quarantine SET released_at = now(),"
		 " released_by = 'test', release_reason = 'kontrollerad'"
		 " WHERE id = $1::bigint",
		 1, params);
	ok_step(&rc01, p12, ALLOCATION_APPROVE, NULL, -1);
	/* Quarantined again before it ships. */
	params[0] = id;
	own_exec("INSERT INTO lot_quarantine (region_code, site_id, product_id,"
		 " lot, reason, created_by) SELECT from_region, from_site_id,"
		 " product_id, lot, 'återkallelse', 'test' FROM proposal_all"
		 " WHERE id = $1::bigint",
		 1, params);
	ck_assert_int_eq(
		step_as(&rc01, p12, ALLOCATION_SHIP, NULL, -1, NULL, NULL, &e),
		-1);
	ck_assert_msg(e.code == ERR_CONFLICT && strstr(e.msg, "återkallelse"),
		      "%s: %s", err_code_name(e.code), e.msg);
	ck_status(p12, "approved");
	ck_assert_int_eq(scalar1("SELECT count(*) FROM shipment"
				 " WHERE proposal_id = $1::bigint",
				 p12),
			 0);
	/* Cancelling it is the way out. */
	ok_step(&rc01, p12, ALLOCATION_CANCEL, NULL, -1);
	invariant("quarantined after proposal");
}
END_TEST

/* Approving proposal id as 01's contact person is refused: a conflict
 * whose message has words; nothing changes. */
static void approval_refused(int64_t id, const char *words)
{
	struct err e = {0};

	ck_assert_int_eq(step_as(&rc01, id, ALLOCATION_APPROVE, NULL, -1, NULL,
				 NULL, &e),
			 -1);
	ck_assert_msg(e.code == ERR_CONFLICT && strstr(e.msg, words), "%s: %s",
		      err_code_name(e.code), e.msg);
	ck_status(id, "proposed");
}

/* Two runs over the same stock propose the same units: approving the
 * second run's is refused once the first run's hold them, by the lot and
 * by the giver's floor. */
START_TEST(test_approvals_share_room)
{
	int64_t a, b, c, a12, a14, b12, b14, c12;
	struct err e = {0};

	callers();
	/* Floors of 0: only the lot binds. */
	a = share_as(&coord, 0, &e);
	b = share_as(&coord, 0, &e);
	ck_assert_msg(a > 0 && b > 0, "two runs: %s", e.msg);
	a12 = proposal_to(a, "12");
	a14 = proposal_to(a, "14");
	b12 = proposal_to(b, "12");
	b14 = proposal_to(b, "14");
	ok_step(&rc01, a12, ALLOCATION_APPROVE, NULL, -1);
	ok_step(&rc01, a14, ALLOCATION_APPROVE, NULL, -1);
	ok_step(&rc01, b12, ALLOCATION_APPROVE, NULL, -1);
	ck_assert_msg(proposal_qty(a12) + proposal_qty(a14) +
				      proposal_qty(b12) + proposal_qty(b14) >
			      held("01"),
		      "the runs propose more than 01 holds");
	approval_refused(b14, "lot L01 at the giving site holds");
	/* Cancelling gives the room back. */
	ok_step(&rc01, a14, ALLOCATION_CANCEL, NULL, -1);
	ok_step(&rc01, b12, ALLOCATION_CANCEL, NULL, -1);
	/* A run with a floor of 300 days proposes less, which the lot
	 * still holds, but the giver would end under that run's floor. */
	c = share_as(&coord, 300, &e);
	c12 = proposal_to(c, "12");
	ck_assert_msg(c12 > 0, "a run with floors: %s", e.msg);
	approval_refused(c12, "under its floor");
	ok_step(&rc01, b14, ALLOCATION_APPROVE, NULL, -1);
	/* Shipping what was approved leaves the sums as they were. */
	ok_step(&rc01, a12, ALLOCATION_SHIP, NULL, -1);
	approval_refused(c12, "under its floor");
	invariant("approvals share room");
}
END_TEST

/* ---- retries ---- */

START_TEST(test_retries)
{
	int64_t run, p12, q;
	bool replayed = false;
	struct err e = {0};

	callers();
	run = share();
	p12 = proposal_to(run, "12");
	q = proposal_qty(p12);
	ok_step(&rc01, p12, ALLOCATION_APPROVE, NULL, -1);
	ck_assert_int_eq(step_as(&rc01, p12, ALLOCATION_APPROVE, NULL, -1, NULL,
				 &replayed, &e),
			 0);
	ck_assert(replayed);
	ck_assert_int_eq(step_as(&rc01, p12, ALLOCATION_SHIP, NULL, -1, NULL,
				 &replayed, &e),
			 0);
	ck_assert(!replayed);
	ck_assert_int_eq(step_as(&rc01, p12, ALLOCATION_SHIP, NULL, -1, NULL,
				 &replayed, &e),
			 0);
	ck_assert(replayed);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM stock_event"
				 " WHERE kind = 'transfer_out'"
				 " AND product_id = $1::bigint",
				 prod),
			 1);
	invariant("ship twice");
	ck_assert_int_eq(step_as(&rc12, p12, ALLOCATION_RECEIVE, NULL, q, NULL,
				 &replayed, &e),
			 0);
	ck_assert(!replayed);
	ck_assert_int_eq(step_as(&rc12, p12, ALLOCATION_RECEIVE, NULL, -1, NULL,
				 &replayed, &e),
			 0);
	ck_assert(replayed);
	/* A retry that says something else is a conflict, not a second
	 * receipt. */
	ck_assert_int_eq(step_as(&rc12, p12, ALLOCATION_RECEIVE, "x", q - 10,
				 NULL, &replayed, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_CONFLICT);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM stock_event"
				 " WHERE kind = 'transfer_in'"
				 " AND product_id = $1::bigint",
				 prod),
			 1);
	/* The ledger itself refuses the step's key for another event. */
	ck_assert_int_eq(scalar1("SELECT count(DISTINCT idempotency_key)"
				 " FROM stock_event WHERE source = 'allocation'"
				 " AND product_id = $1::bigint",
				 prod),
			 2);
	invariant("receive twice");
}
END_TEST

/* A ship that the ledger refuses writes nothing. */
START_TEST(test_ship_refused_writes_nothing)
{
	int64_t run, p12, shipments;
	struct err e = {0};

	callers();
	run = share();
	p12 = proposal_to(run, "12");
	ok_step(&rc01, p12, ALLOCATION_APPROVE, NULL, -1);
	/* The lot is used up meanwhile. */
	event(site01, "issue", held("01") - 10, "L01", NULL, 0);
	ck_assert_int_eq(
		step_as(&rc01, p12, ALLOCATION_SHIP, NULL, -1, NULL, NULL, &e),
		-1);
	ck_assert_int_eq(e.code, ERR_CONFLICT);
	ck_assert_msg(strstr(e.msg, "negative") != NULL, "%s", e.msg);
	shipments = scalar1("SELECT count(*) FROM shipment"
			    " WHERE proposal_id = $1::bigint",
			    p12);
	ck_assert_int_eq(shipments, 0);
	ck_status(p12, "approved");
}
END_TEST

START_TEST(test_short_receipts)
{
	int64_t run, p12, p14, q;
	struct err e = {0};

	callers();
	run = share();
	p12 = proposal_to(run, "12");
	p14 = proposal_to(run, "14");
	q = proposal_qty(p12);
	ok_step(&rc01, p12, ALLOCATION_APPROVE, NULL, -1);
	ok_step(&rc01, p12, ALLOCATION_SHIP, NULL, -1);
	/* More than shipped cannot arrive; less needs a reason. */
	ck_assert_int_eq(step_as(&rc12, p12, ALLOCATION_RECEIVE, NULL, q + 10,
				 NULL, NULL, &e),
			 -1);
	ck_assert_str_eq(e.field, "quantity");
	ck_assert_int_eq(step_as(&rc12, p12, ALLOCATION_RECEIVE, NULL, q - 10,
				 NULL, NULL, &e),
			 -1);
	ck_assert_str_eq(e.field, "reason");
	/* Another region's site is not the receiver's. */
	ck_assert_int_eq(step_as(&rc12, p12, ALLOCATION_RECEIVE, NULL, -1,
				 "14-CL", NULL, &e),
			 -1);
	ck_assert_str_eq(e.field, "site");
	ck_status(p12, "shipped");
	invariant("refused receipts");
	/* Nothing arrived at all: no transfer_in, all of it lost. */
	ck_assert_int_eq(step_as(&rc12, p12, ALLOCATION_RECEIVE,
				 "pallen försvann", 0, NULL, NULL, &e),
			 0);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM stock_event"
				 " WHERE kind = 'transfer_in'"
				 " AND product_id = $1::bigint",
				 prod),
			 0);
	invariant("lost shipment");
	ck_assert_int_eq(scalar1("SELECT lost FROM allocation_national_total"
				 " WHERE product_id = $1::bigint",
				 prod),
			 q);
	/* Received at a site the receiver names. */
	ok_step(&rc01, p14, ALLOCATION_APPROVE, NULL, -1);
	ok_step(&rc01, p14, ALLOCATION_SHIP, NULL, -1);
	own_exec("INSERT INTO site (region_code, code, name, kind,"
		 " host_region_code) VALUES ('14', '14-SU', 'Sahlgrenska',"
		 " 'hospital', '14')",
		 0, NULL);
	ck_assert_int_eq(step_as(&rc14, p14, ALLOCATION_RECEIVE, NULL, -1,
				 "14-SU", NULL, &e),
			 0);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM stock_balance b"
				 " JOIN site s ON s.id = b.site_id"
				 " WHERE s.code = '14-SU' AND b.quantity ="
				 " (SELECT quantity FROM proposal_all"
				 "  WHERE id = $1::bigint)",
				 p14),
			 1);
	invariant("received at a named site");
}
END_TEST

/* ---- help requests ---- */

static int64_t help_as(const struct identity *w, const char *region,
		       int64_t qty, const char *days, int64_t *run,
		       struct err *e)
{
	struct allocation_help h = {.region = region,
				    .product_id = prod,
				    .quantity = qty,
				    .days = days,
				    .urgency = "urgent",
				    .reason = "slut på lagret"};
	int64_t id = 0;

	*run = 0;
	err_clear(e);
	if (auth_begin(app, w, e) < 0)
		return 0;
	if (allocation_help_create(app, w, &h, true, &id, run, e) < 0 ||
	    db_commit(app, e) < 0) {
		db_rollback(app);
		return 0;
	}
	return id;
}

static int close_as(const struct identity *w, int64_t id, const char *status,
		    struct err *e)
{
	err_clear(e);
	if (auth_begin(app, w, e) < 0)
		return -1;
	if (allocation_help_close(app, w, id, status, "klart", e) < 0 ||
	    db_commit(app, e) < 0) {
		db_rollback(app);
		return -1;
	}
	return 0;
}

START_TEST(test_help_request)
{
	int64_t id, run, total, rate_run;
	struct err e = {0};
	json_t *j, *r12, *lots;

	callers();
	/* Asking is the region's own, or a coordinator's on its word. */
	ck_assert_int_eq(help_as(&rc14, "12", 500, NULL, &run, &e), 0);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_int_eq(help_as(&viewer, "12", 500, NULL, &run, &e), 0);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM help_request"
				 " WHERE product_id = $1::bigint",
				 prod),
			 0);
	id = help_as(&rc12, "12", 505, NULL, &run, &e);
	ck_assert_msg(id > 0 && run > 0, "help: %s", e.msg);
	/* Proposals to the asking region only, at most what it asked, in
	 * whole packs. */
	total = scalar1("SELECT coalesce(sum(quantity), 0) FROM proposal_all"
			" WHERE run_id = $1::bigint",
			run);
	ck_assert_int_eq(total, 500);
	ck_assert_int_eq(
		scalar1("SELECT count(*) FROM proposal_all WHERE run_id"
			" = $1::bigint AND to_region <> '12'",
			run),
		0);
	/* The run explains what was proposed, not what was solved. */
	j = run_as_seen_by(&rc14, run);
	r12 = region_result(j, "12");
	ck_assert_int_eq(json_integer_value(json_object_get(r12, "after")),
			 20 + 500);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 region_result(j, "14"), "after")),
			 20);
	/* A third region's contact person sees the run, and its own lot
	 * but not 01's or 12's. */
	lots = json_object_get(
		json_object_get(
			json_array_get(json_object_get(j, "products"), 0),
			"inputs"),
		"lots");
	ck_assert_int_eq(json_array_size(lots), 1);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(lots, 0), "region")),
			 "14");
	json_decref(j);
	j = run_as_seen_by(&coord, run);
	ck_assert_int_eq(
		json_array_size(json_object_get(
			json_object_get(
				json_array_get(json_object_get(j, "products"),
					       0),
				"inputs"),
			"lots")),
		3);
	json_decref(j);
	/* Everyone but import jobs sees help requests. */
	ck_assert_msg(auth_begin(app, &rc14, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(allocation_help_get(app, &rc14, id, &j, &e), 0);
	ck_assert_str_eq(json_string_value(json_object_get(j, "urgency")),
			 "urgent");
	json_decref(j);
	db_rollback(app);
	/* Days: ten days of 14's own consumption. */
	ck_assert_msg(help_as(&coord, "14", 0, "10", &rate_run, &e) > 0, "%s",
		      e.msg);
	total = scalar1("SELECT coalesce(sum(quantity), 0) FROM proposal_all"
			" WHERE run_id = $1::bigint",
			rate_run);
	ck_assert_msg(total > 0 && total <= 110 && total % 10 == 0,
		      "ten days of about ten a day: %lld", (long long)total);
	/* Closing: not a third region; a coordinator closes but does not
	 * withdraw; the region withdraws; once. */
	ck_assert_int_eq(close_as(&rc14, id, "closed", &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_int_eq(close_as(&coord, id, "withdrawn", &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_int_eq(close_as(&rc12, id, "open", &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_int_eq(close_as(&rc12, id, "withdrawn", &e), 0);
	ck_assert_int_eq(close_as(&rc12, id, "closed", &e), -1);
	ck_assert_int_eq(e.code, ERR_CONFLICT);
	invariant("help requests");
}
END_TEST

/* A help request whose run fails leaves no request behind. */
START_TEST(test_help_request_all_or_nothing)
{
	struct allocation_help h = {
		.region = "12", .product_id = 0, .quantity = 10, .reason = "x"};
	int64_t id, run;
	struct err e = {0};

	callers();
	h.product_id = 999999;
	ck_assert_msg(auth_begin(app, &rc12, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(
		allocation_help_create(app, &rc12, &h, true, &id, &run, &e),
		-1);
	ck_assert_int_eq(e.code, ERR_NOT_FOUND);
	ck_assert_str_eq(e.field, "product");
	db_rollback(app);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " help_request"),
			 0);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " allocation_run"),
			 0);
}
END_TEST

/* ---- help requests fulfilled by what arrives ---- */

/* A help request's status, closed_by and close_reason, from the table. */
static void help_row(int64_t id, char status[16], char by[64],
		     char reason[1024])
{
	char s[24];
	const char *params[1] = {s};
	struct err e = {0};
	PGresult *q;

	snprintf(s, sizeof(s), "%lld", (long long)id);
	q = db_exec(owner,
		    "SELECT status, coalesce(closed_by, ''),"
		    " coalesce(close_reason, ''), closed_at IS NOT NULL"
		    " FROM help_request WHERE id = $1::bigint",
		    1, params, &e);
	ck_assert_msg(q && PQntuples(q) == 1, "help request %lld: %s",
		      (long long)id, e.msg);
	snprintf(status, 16, "%s", db_text(q, 0, 0));
	snprintf(by, 64, "%s", db_text(q, 0, 1));
	snprintf(reason, 1024, "%s", db_text(q, 0, 2));
	ck_assert_msg((strcmp(status, "open") != 0) ==
			      (db_text(q, 0, 3)[0] == 't'),
		      "closed_at of a %s request", status);
	PQclear(q);
}

#define ck_help(id, want)                                                \
	do {                                                             \
		char st_[16], by_[64], re_[1024];                        \
		help_row((id), st_, by_, re_);                           \
		ck_assert_msg(strcmp(st_, (want)) == 0,                  \
			      "help request %lld is %s (%s), wanted %s", \
			      (long long)(id), st_, re_, (want));        \
	} while (0)

/* The proposals of run, in id order, into ids; how many. */
static int run_proposals(int64_t run, int64_t *ids, int max)
{
	char r[24];
	const char *params[1] = {r};
	struct err e = {0};
	PGresult *q;
	int n;

	snprintf(r, sizeof(r), "%lld", (long long)run);
	q = db_exec(owner,
		    "SELECT id FROM proposal_all WHERE run_id = $1::bigint"
		    " ORDER BY id",
		    1, params, &e);
	ck_assert_msg(q != NULL, "%s", e.msg);
	n = PQntuples(q);
	for (int i = 0; i < n && i < max; i++)
		ids[i] = db_int64(q, i, 0);
	PQclear(q);
	return n;
}

/* Approve and ship proposal id as its giver, region 01. */
static void send_off(int64_t id)
{
	ok_step(&rc01, id, ALLOCATION_APPROVE, NULL, -1);
	ok_step(&rc01, id, ALLOCATION_SHIP, NULL, -1);
}

/*
 * A small lot at 01's second site expires first, so that a request for
 * 200 is proposed from two lots: 100 of L0\1"B and 100 of L01.
 */
static int64_t two_lot_request(int64_t *run, int64_t ids[2])
{
	struct err e = {0};
	int64_t id;

	event(site01b, "receipt", 100, "L0\\1\"B", "2029-06-01", 2);
	initial = national_total();
	id = help_as(&rc12, "12", 200, NULL, run, &e);
	ck_assert_msg(id > 0 && *run > 0, "help: %s", e.msg);
	ck_assert_int_eq(run_proposals(*run, ids, 2), 2);
	/* The lot's name, backslash and quote, arrives as it was written
	 * (test_stored_as_sent: a run's rows travel as binary COPY). */
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_all p"
				 " JOIN allocation_run_product rp"
				 " ON rp.run_id = p.run_id"
				 " AND rp.product_id = p.product_id"
				 " WHERE p.run_id = $1::bigint"
				 " AND p.lot = 'L0\\1\"B'"
				 " AND 'L0\\1\"B' = ANY (rp.lot_name)",
				 *run),
			 1);
	ck_assert_int_eq(proposal_qty(ids[0]) + proposal_qty(ids[1]), 200);
	return id;
}

/* Received in full across two proposals: open after the first, fulfilled
 * by the system with the second, in its transaction. */
START_TEST(test_help_fulfilled)
{
	int64_t id, run, ids[2];
	char st[16], by[64], reason[1024];
	struct err e = {0};
	json_t *j;

	callers();
	id = two_lot_request(&run, ids);
	send_off(ids[0]);
	send_off(ids[1]);
	ck_help(id, "open");
	ok_step(&rc12, ids[0], ALLOCATION_RECEIVE, NULL, -1);
	ck_help(id, "open");
	ok_step(&rc12, ids[1], ALLOCATION_RECEIVE, NULL, -1);
	help_row(id, st, by, reason);
	ck_assert_str_eq(st, "fulfilled");
	ck_assert_str_eq(by, "system");
	ck_assert_msg(strstr(reason, "received 200") &&
			      strstr(reason, "of 200 asked"),
		      "reason: %s", reason);
	invariant("help fulfilled");
	/* As the API answers it, to another region too. */
	ck_assert_msg(auth_begin(app, &rc14, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(allocation_help_get(app, &rc14, id, &j, &e), 0);
	db_rollback(app);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 "fulfilled");
	ck_assert_str_eq(json_string_value(json_object_get(j, "closed_by")),
			 "system");
	ck_assert_str_eq(json_string_value(json_object_get(j, "close_reason")),
			 reason);
	json_decref(j);
	/* A repeated receipt changes nothing; the request is closed once. */
	ok_step(&rc12, ids[1], ALLOCATION_RECEIVE, NULL, -1);
	ck_assert_int_eq(close_as(&rc12, id, "closed", &e), -1);
	ck_assert_int_eq(e.code, ERR_CONFLICT);
}
END_TEST

/* What counts is what arrived: a short receipt, a declined proposal, a
 * failed receipt leave the request open. */
START_TEST(test_help_not_yet)
{
	int64_t id, run, ids[2];
	struct err e = {0};

	callers();
	id = two_lot_request(&run, ids);
	/* Declined: the other proposal alone does not cover it. */
	ok_step(&rc01, ids[0], ALLOCATION_DECLINE, "behövs här", -1);
	send_off(ids[1]);
	ok_step(&rc12, ids[1], ALLOCATION_RECEIVE, NULL, -1);
	ck_help(id, "open");
	invariant("declined, one received");

	/* One proposal of 100 for 100 asked, shipped in full, received
	 * short: what arrived counts, not what was proposed. */
	id = help_as(&rc14, "14", 100, NULL, &run, &e);
	ck_assert_msg(id > 0 && run > 0, "help: %s", e.msg);
	ck_assert_int_eq(run_proposals(run, ids, 2), 1);
	ck_assert_int_eq(proposal_qty(ids[0]), 100);
	send_off(ids[0]);
	/* A receipt that fails (no reason for a short one) changes
	 * nothing. */
	ck_assert_int_eq(step_as(&rc14, ids[0], ALLOCATION_RECEIVE, NULL, 90,
				 NULL, NULL, &e),
			 -1);
	ck_help(id, "open");
	ok_step(&rc14, ids[0], ALLOCATION_RECEIVE, "en kartong krossad", 90);
	ck_help(id, "open");
	invariant("short receipt of a help request");
	/* The region closes it itself, as before. */
	ck_assert_int_eq(close_as(&rc14, id, "closed", &e), 0);
	ck_help(id, "closed");
}
END_TEST

/* Days: covered by the whole packs of days x the rate when asked. */
START_TEST(test_help_days_fulfilled)
{
	int64_t id, run, ids[4], got = 0, cap;
	char st[16], by[64], reason[1024];
	struct err e = {0};
	int n;

	callers();
	id = help_as(&rc14, "14", 0, "10", &run, &e);
	ck_assert_msg(id > 0 && run > 0, "help: %s", e.msg);
	cap = scalar1("SELECT (result->'help_request'->>'cap')::bigint"
		      " FROM allocation_run_product WHERE run_id = $1::bigint",
		      run);
	ck_assert_msg(cap > 0 && cap <= 110, "cap %lld", (long long)cap);
	n = run_proposals(run, ids, 4);
	ck_assert_msg(n >= 1 && n <= 4, "%d proposals", n);
	for (int i = 0; i < n; i++) {
		got += proposal_qty(ids[i]);
		send_off(ids[i]);
	}
	ck_assert_int_eq(got, cap / 10 * 10);
	for (int i = 0; i < n; i++) {
		ck_help(id, "open");
		ok_step(&rc14, ids[i], ALLOCATION_RECEIVE, NULL, -1);
	}
	help_row(id, st, by, reason);
	ck_assert_msg(strcmp(st, "fulfilled") == 0 && strcmp(by, "system") == 0,
		      "%s by %s", st, by);
	ck_assert_msg(strstr(reason, "10.00 days"), "reason: %s", reason);
	invariant("days fulfilled");
}
END_TEST

/*
 * A run's products and proposals are stored by sql/020's function, which
 * checks them; the application cannot insert them itself.  Proposals are
 * stored packed with their product until a step is first taken on one,
 * and read the same either way.
 */
/* A staged run product's place among its run's proposals, as the service
 * stages it (sql/021), from the run's stored rows. */
#define PLACE " proposal_first_id - min(proposal_first_id) OVER ()"

/*
 * A run's rows travel to the database as binary COPY (run_as): a lot
 * without expiry, named with a quote, a backslash and a space (lots are
 * printable ASCII: stock_event_lot_check), arrives as it was written, in
 * the run's stored inputs and in its proposals.  Stockholm's own lot is
 * counted away (not consumed: its rate stays), so what it gives is that
 * lot.  A product nobody holds is stored with no lots and no proposals.
 */
START_TEST(test_stored_as_sent)
{
	const char *odd = "Q-\"1\\2 x";
	char r[24], s[24];
	const char *params[3] = {r, odd, s};
	struct allocation_params p;
	struct err e = {0};
	int64_t run, n, ids[2];

	callers();
	event(site01, "count", 0, "L01", "2030-01-01", 0);
	event(site01b, "receipt", 2000, odd, NULL, 0);
	/* and a product nobody holds: its lots are an empty array */
	ids[0] = prod;
	ids[1] = testdb_product(owner, "654321", "Ingen lagerhållen");
	allocation_params_default(&p, ALLOCATION_SHARE);
	p.products = ids;
	p.nproducts = 2;
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	ck_assert_msg(allocation_run(app, &coord, &p, &run, &e) == 0 &&
			      db_commit(app, &e) == 0,
		      "run: %s", e.msg);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM allocation_run_product"
				 " WHERE run_id = $1::bigint"
				 " AND lot_site = '{}' AND lot_qty = '{}'"
				 " AND proposal_first_id IS NULL",
				 run),
			 1);
	snprintf(r, sizeof(r), "%lld", (long long)run);
	snprintf(s, sizeof(s), "%lld", (long long)site01b);
	n = scalar1("SELECT count(*) FROM proposal_all"
		    " WHERE run_id = $1::bigint",
		    run);
	ck_assert_int_ge(n, 2);
	ck_assert_int_eq(
		testdb_scalar_params(owner,
				     "SELECT count(*) FROM proposal_all"
				     " WHERE run_id = $1::bigint"
				     " AND lot = $2 AND expiry IS NULL"
				     " AND from_site_id = $3::bigint",
				     3, params),
		n);
	/* Every lot held, and nothing else, as the stored inputs */
	ck_assert_int_eq(
		scalar1("SELECT count(*) FROM allocation_run_product rp,"
			" unnest(rp.lot_site, rp.lot_name, rp.lot_expiry,"
			" rp.lot_qty) AS u(site, lot, expiry, qty)"
			" JOIN stock_balance b ON b.site_id = u.site"
			" AND b.lot = u.lot"
			" AND b.expiry IS NOT DISTINCT FROM u.expiry"
			" AND b.quantity = u.qty"
			" WHERE rp.run_id = $1::bigint"
			" AND b.product_id = rp.product_id",
			run),
		3);
	ck_assert_int_eq(scalar1("SELECT sum(cardinality(lot_site))"
				 " FROM allocation_run_product"
				 " WHERE run_id = $1::bigint",
				 run),
			 3);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM stock_balance"
				 " WHERE product_id = $1::bigint"
				 " AND quantity > 0",
				 prod),
			 3);
	ck_assert_int_eq(testdb_scalar_params(owner,
					      "SELECT count(*)"
					      " FROM allocation_run_product"
					      " WHERE run_id = $1::bigint"
					      " AND $2 = ANY (lot_name)",
					      2, params),
			 1);
}
END_TEST

START_TEST(test_proposal_insert_columns)
{
	/* what is staged (from run $1), how it is stored (into run $1),
	 * and what is refused */
	static const struct {
		const char *stage, *store, *refusal;
	} bad[] = {
		/* a run product of a product that does not exist, and
		 * otherwise as the run's */
		{"INSERT INTO lb_run_product_in SELECT (SELECT max(id) + 1"
		 " FROM product), 1, stock, rate, rate_known, floor_days,"
		 " target_days, lot_site, lot_name, lot_expiry, lot_qty,"
		 " level, receives, result," PLACE ","
		 " proposal_from, proposal_site, proposal_lot,"
		 " proposal_expiry, proposal_to, proposal_to_site,"
		 " proposal_quantity, proposal_obligatory"
		 " FROM allocation_run_product WHERE run_id = $1::bigint",
		 "SELECT allocation_store_run_products($1::bigint)",
		 "names a run and a product that exist"},
		/* a giving site of another region than the giving one */
		{"INSERT INTO lb_run_product_in SELECT product_id, 1, stock,"
		 " rate, rate_known, floor_days, target_days, lot_site,"
		 " lot_name, lot_expiry, lot_qty, level, receives, result," PLACE
		 ","
		 " proposal_to, proposal_site, proposal_lot, proposal_expiry,"
		 " proposal_from, '{NULL,NULL}', proposal_quantity,"
		 " proposal_obligatory FROM allocation_run_product"
		 " WHERE run_id = $1::bigint",
		 "SELECT allocation_store_run_products($1::bigint)",
		 "a site of the giving region"},
		/* a receiving site of another region than the receiving one */
		{"INSERT INTO lb_run_product_in SELECT product_id, 1, stock,"
		 " rate, rate_known, floor_days, target_days, lot_site,"
		 " lot_name, lot_expiry, lot_qty, level, receives, result," PLACE
		 ","
		 " proposal_from, proposal_site, proposal_lot,"
		 " proposal_expiry, proposal_to, proposal_site,"
		 " proposal_quantity, proposal_obligatory"
		 " FROM allocation_run_product WHERE run_id = $1::bigint",
		 "SELECT allocation_store_run_products($1::bigint)",
		 "a site of the receiving region"},
		/* nothing to move */
		{"INSERT INTO lb_run_product_in SELECT product_id, 1, stock,"
		 " rate, rate_known, floor_days, target_days, lot_site,"
		 " lot_name, lot_expiry, lot_qty, level, receives, result," PLACE
		 ","
		 " proposal_from, proposal_site, proposal_lot,"
		 " proposal_expiry, proposal_to, proposal_to_site, '{5,0}',"
		 " proposal_obligatory FROM allocation_run_product"
		 " WHERE run_id = $1::bigint",
		 "SELECT allocation_store_run_products($1::bigint)",
		 "allocation_run_product_proposals"},
		/* proposals placed one further on than the run has them */
		{"INSERT INTO lb_run_product_in SELECT product_id, 1, stock,"
		 " rate, rate_known, floor_days, target_days, lot_site,"
		 " lot_name, lot_expiry, lot_qty, level, receives, result," PLACE
		 " + 1, proposal_from, proposal_site, proposal_lot,"
		 " proposal_expiry, proposal_to, proposal_to_site,"
		 " proposal_quantity, proposal_obligatory"
		 " FROM allocation_run_product WHERE run_id = $1::bigint",
		 "SELECT allocation_store_run_products($1::bigint)",
		 "place their proposals where no other"},
		/* proposals without a place */
		{"INSERT INTO lb_run_product_in SELECT product_id, 1, stock,"
		 " rate, rate_known, floor_days, target_days, lot_site,"
		 " lot_name, lot_expiry, lot_qty, level, receives, result,"
		 " NULL, proposal_from, proposal_site, proposal_lot,"
		 " proposal_expiry, proposal_to, proposal_to_site,"
		 " proposal_quantity, proposal_obligatory"
		 " FROM allocation_run_product WHERE run_id = $1::bigint",
		 "SELECT allocation_store_run_products($1::bigint)",
		 "place their proposals where no other"},
		/* a place without proposals */
		{"INSERT INTO lb_run_product_in (product_id, pack_size,"
		 " result, proposal_offset) SELECT product_id, 1, '{}', 0"
		 " FROM allocation_run_product WHERE run_id = $1::bigint",
		 "SELECT allocation_store_run_products($1::bigint)",
		 "place their proposals where no other"},
		/* rows of a run that does not exist */
		{"INSERT INTO lb_run_product_in (product_id, pack_size,"
		 " result) SELECT product_id, 1, '{}'"
		 " FROM allocation_run_product WHERE run_id = $1::bigint",
		 "SELECT allocation_store_run_products($1::bigint + 1000)",
		 "no run the caller may write"},
	};
	static const char *const direct[] = {
		"INSERT INTO proposal (from_region, run_id, product_id,"
		" from_site_id, to_region, quantity, status)"
		" SELECT from_region, run_id, product_id, from_site_id,"
		" to_region, 10, 'approved' FROM proposal_all"
		" WHERE run_id = $1::bigint LIMIT 1",
		"INSERT INTO proposal (from_region, run_id, product_id,"
		" from_site_id, to_region, quantity)"
		" SELECT from_region, run_id, product_id, from_site_id,"
		" to_region, 10 FROM proposal_all WHERE run_id = $1::bigint"
		" LIMIT 1",
		"INSERT INTO allocation_run_product (run_id, product_id,"
		" pack_size, result) SELECT run_id + 1, product_id, 1, '{}'"
		" FROM allocation_run_product WHERE run_id = $1::bigint",
	};
	static const char detail_hash[] =
		"SELECT hashtext((SELECT to_jsonb(d) FROM proposal_detail d"
		" WHERE d.id = $1::bigint)::text)";
	int64_t run, first, before, after;
	char r[24];
	const char *params[1] = {r};
	struct err e = {0};

	callers();
	run = share();
	snprintf(r, sizeof(r), "%lld", (long long)run);
	/* Stored packed: no row yet, two proposals at the first id and the
	 * next, in the allocator's order. */
	first = scalar1("SELECT proposal_first_id FROM allocation_run_product"
			" WHERE run_id = $1::bigint",
			run);
	ck_assert_int_gt(first, 0);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal"
				 " WHERE run_id = $1::bigint",
				 run),
			 0);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_all p,"
				 " allocation_proposal_locate(p.id) l"
				 " WHERE p.run_id = $1::bigint"
				 " AND l.run_id = p.run_id"
				 " AND l.product_id = p.product_id",
				 run),
			 2);
	ck_assert_int_eq(scalar1("SELECT max(id) - min(id) + 1 FROM"
				 " proposal_all WHERE run_id = $1::bigint",
				 run),
			 2);
	/* The history of every new proposal starts with one 'proposed'
	 * step, stamped by the run's coordinator; the run says it, so no
	 * history row is stored for it (sql/017). */
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_history v"
				 " JOIN proposal_detail p"
				 " ON p.id = v.proposal_id"
				 " WHERE p.run_id = $1::bigint"
				 " AND v.status = 'proposed'"
				 " AND v.actor = p.updated_by"
				 " AND v.role = 'coordinator'"
				 " AND v.at = p.created_at",
				 run),
			 2);
	/* Nobody has changed them yet: the stamp shown is the run's
	 * (sql/018), none is stored. */
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_all p"
				 " JOIN proposal_detail d ON d.id = p.id"
				 " JOIN allocation_run r ON r.id = p.run_id"
				 " WHERE p.run_id = $1::bigint"
				 " AND p.updated_by IS NULL"
				 " AND d.updated_by = r.created_by"
				 " AND d.updated_by IS NOT NULL",
				 run),
			 2);
	/* A proposal reads the same before and after it becomes a row. */
	before = scalar1(detail_hash, first);
	own_exec("SELECT allocation_proposal_materialize(min(id))"
		 " FROM proposal_all WHERE run_id = $1::bigint",
		 1, params);
	after = scalar1(detail_hash, first);
	ck_assert_int_eq(before, after);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal"
				 " WHERE run_id = $1::bigint",
				 run),
			 1);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_all"
				 " WHERE run_id = $1::bigint",
				 run),
			 2);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_event v"
				 " JOIN proposal_all p ON p.id = v.proposal_id"
				 " WHERE p.run_id = $1::bigint",
				 run),
			 0);
	/* A proposal made before sql/017 kept its stored 'proposed' row:
	 * it shows once, as stored. */
	own_exec("INSERT INTO proposal_event (from_region, proposal_id,"
		 " status, actor, role) SELECT from_region, id, 'proposed',"
		 " 'earlier', 'coordinator' FROM proposal_all"
		 " WHERE run_id = $1::bigint ORDER BY id LIMIT 1",
		 1, params);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_history v"
				 " JOIN proposal_all p ON p.id = v.proposal_id"
				 " WHERE p.run_id = $1::bigint"
				 " AND v.status = 'proposed'"
				 " AND v.actor = 'earlier'",
				 run),
			 1);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_history v"
				 " JOIN proposal_all p ON p.id = v.proposal_id"
				 " WHERE p.run_id = $1::bigint",
				 run),
			 2);
	/* A shipment leaves from its proposal's giving region only. */
	ck_assert_msg(db_command(owner,
				 "INSERT INTO shipment (from_region,"
				 " proposal_id, product_id, to_region,"
				 " quantity, out_event_id, shipped_by)"
				 " SELECT p.to_region, p.id, p.product_id,"
				 " p.from_region, 1, e.id, 'x'"
				 " FROM proposal p, stock_event e"
				 " WHERE p.run_id = $1::bigint"
				 " AND e.region_code = p.to_region LIMIT 1",
				 1, params, &e) < 0,
		      "a shipment from another region than its proposal's");
	ck_assert_msg(strstr(e.msg, "does not give from region"), "%s", e.msg);
	/* Neither a proposal nor a run product is the application's to
	 * insert itself. */
	for (size_t i = 0; i < NELEM(direct); i++) {
		ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
		ck_assert_msg(db_command(app, direct[i], 1, params, &e) < 0,
			      "the application inserted: %s", direct[i]);
		ck_assert_msg(strstr(e.msg, "permission denied"), "%s", e.msg);
		db_rollback(app);
	}
	/* What the function refuses, staged as the service stages it from
	 * the run's rows, and stored into a new run of its own: nothing but
	 * the check named can refuse it. */
	for (size_t i = 0; i < NELEM(bad); i++) {
		char fresh[24];
		const char *into[1] = {fresh};
		int64_t into_run;

		ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
		into_run = testdb_scalar(app, "INSERT INTO allocation_run"
					      " (problem, params,"
					      " algorithm_version) VALUES"
					      " ('share', '{}', 'test')"
					      " RETURNING id");
		snprintf(fresh, sizeof(fresh), "%lld", (long long)into_run);
		testdb_exec(app, "CREATE TEMP TABLE IF NOT EXISTS"
				 " lb_run_product_in (product_id bigint,"
				 " pack_size integer, stock bigint[],"
				 " rate float8[], rate_known boolean[],"
				 " floor_days float8[], target_days float8[],"
				 " lot_site bigint[], lot_name text[],"
				 " lot_expiry date[], lot_qty bigint[],"
				 " level float8, receives bigint[],"
				 " result jsonb, proposal_offset bigint,"
				 " proposal_from char(2)[],"
				 " proposal_site bigint[], proposal_lot text[],"
				 " proposal_expiry date[],"
				 " proposal_to char(2)[],"
				 " proposal_to_site bigint[],"
				 " proposal_quantity bigint[],"
				 " proposal_obligatory boolean[])"
				 " ON COMMIT DELETE ROWS");
		ck_assert_msg(db_command(app, bad[i].stage, 1, params, &e) == 0,
			      "%s", e.msg);
		ck_assert_msg(db_command(app, bad[i].store, 1, into, &e) < 0,
			      "stored: %s", bad[i].stage);
		ck_assert_msg(strstr(e.msg, bad[i].refusal), "%s", e.msg);
		db_rollback(app);
	}
	/* A region's contact person writes only the runs of its own help
	 * requests, not a coordinator's. */
	ck_assert_msg(auth_begin(app, &rc01, &e) == 0, "%s", e.msg);
	ck_assert_msg(db_command(app,
				 "SELECT allocation_store_run_products("
				 "$1::bigint)",
				 1, params, &e) < 0,
		      "a contact person stored products of a national run");
	ck_assert_msg(strstr(e.msg, "no run the caller may write"), "%s",
		      e.msg);
	db_rollback(app);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM allocation_run_product"
				 " WHERE run_id = $1::bigint",
				 run),
			 1);
}
END_TEST

/* ---- supply and plans ---- */

START_TEST(test_supply)
{
	struct allocation_params p;
	struct err e = {0};
	int64_t id, sum = 0;
	json_t *j, *r;
	size_t i;

	callers();
	allocation_params_default(&p, ALLOCATION_SUPPLY);
	p.products = &prod;
	p.nproducts = 1;
	p.quantity = 15; /* not whole packs of 10 */
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(allocation_run(app, &coord, &p, &id, &e), -1);
	ck_assert_str_eq(e.field, "quantity");
	db_rollback(app);
	p.quantity = 1000;
	p.key = ALLOC_KEY_MAXMIN;
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	ck_assert_msg(allocation_run(app, &coord, &p, &id, &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(allocation_get(app, &coord, id, NULL, &j, &e), 0);
	ck_assert_int_eq(db_commit(app, &e), 0);
	json_array_foreach(
		json_object_get(
			json_object_get(
				json_array_get(json_object_get(j, "products"),
					       0),
				"result"),
			"regions"),
		i, r) sum += json_integer_value(json_object_get(r, "packs"));
	ck_assert_int_eq(sum, 100);
	/* The two short regions get it; Stockholm, far above, nothing. */
	ck_assert_int_eq(json_integer_value(json_object_get(
				 region_result(j, "01"), "packs")),
			 0);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 region_result(j, "12"), "packs")),
			 50);
	json_decref(j);
	/* Supply makes no proposals and moves nothing. */
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_all"
				 " WHERE run_id = $1::bigint",
				 id),
			 0);
	invariant("supply");
}
END_TEST

static int64_t plan_as(const struct identity *w, const int64_t *cap, int weeks,
		       const char *start, struct err *e)
{
	struct allocation_params p;
	int64_t id = 0;

	allocation_params_default(&p, ALLOCATION_PLAN);
	p.products = &prod;
	p.nproducts = 1;
	p.capacity = cap;
	p.weeks = weeks;
	p.start = start;
	err_clear(e);
	if (auth_begin(app, w, e) < 0)
		return 0;
	if (allocation_run(app, w, &p, &id, e) < 0 || db_commit(app, e) < 0) {
		db_rollback(app);
		return 0;
	}
	return id;
}

START_TEST(test_plan_csv_and_behind)
{
	static const int64_t cap[] = {30, 30, 30, 30};
	struct err e = {0};
	int64_t first, plan, lines = 0;
	char *csv = NULL, start[16];
	size_t len;
	PGresult *q;

	callers();
	ck_assert_int_eq(plan_as(&rc01, cap, 4, NULL, &e), 0);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	first = plan_as(&coord, cap, 4, NULL, &e);
	ck_assert_msg(first > 0, "%s", e.msg);
	/* Begun three weeks ago: weeks 1-3 have ended. */
	q = db_exec(owner, "SELECT (lb_today() - 21)::text", 0, NULL, &e);
	snprintf(start, sizeof(start), "%s", db_text(q, 0, 0));
	PQclear(q);
	plan = plan_as(&coord, cap, 4, start, &e);
	ck_assert_msg(plan > 0, "%s", e.msg);
	/* The newer plan replaces the older. */
	ck_assert_int_eq(scalar1("SELECT superseded_by FROM allocation_plan"
				 " WHERE run_id = $1::bigint",
				 first),
			 plan);
	/* Quotas never exceed a week's capacity; they go to the regions
	 * below target, 12 and 14 (01 is far above). */
	ck_assert_int_eq(scalar1("SELECT count(*) FROM (SELECT week,"
				 " sum(quota_packs) s FROM allocation_plan_row"
				 " WHERE run_id = $1::bigint GROUP BY week) w"
				 " WHERE s > 30",
				 plan),
			 0);
	ck_assert_int_eq(
		scalar1("SELECT sum(quota_packs) FROM"
			" allocation_plan_row WHERE run_id = $1::bigint"
			" AND region_code = '01'",
			plan),
		0);
	ck_assert_msg(scalar1("SELECT sum(quota_packs) FROM allocation_plan_row"
			      " WHERE run_id = $1::bigint"
			      " AND region_code IN ('12', '14')",
			      plan) > 0,
		      "12 and 14 are planned");
	/* The CSV: a header and a line per region and week. */
	ck_assert_msg(auth_begin(app, &rc14, &e) == 0, "%s", e.msg);
	ck_assert_msg(allocation_plan_csv(app, &rc14, plan, &csv, &len, &e) ==
			      0,
		      "%s", e.msg);
	db_rollback(app);
	ck_assert_msg(strncmp(csv,
			      "product,product_name,region,region_name,week,",
			      44) == 0,
		      "%.200s", csv);
	for (size_t i = 0; i < len; i++)
		lines += csv[i] == '\n';
	ck_assert_int_eq(lines,
			 1 + scalar1("SELECT count(*) FROM allocation_plan_row"
				     " WHERE run_id = $1::bigint",
				     plan));
	ck_assert_msg(strstr(csv, "\r\n123456,Alvedon 500 mg,12,Skåne,1,") !=
			      NULL,
		      "%.400s", csv);
	free(csv);
	/* Nothing has arrived since: 12 and 14 are behind their plan. */
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " allocation_plan_behind()"
					      " WHERE rule = 'behind_plan'"),
			 2);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM"
				       " allocation_plan_behind('12', NULL)"),
			 1);
	/* 12 buys what the plan asked: no longer behind. */
	event(site12, "receipt",
	      scalar1("SELECT planned_holding FROM allocation_plan_row"
		      " WHERE run_id = $1::bigint AND region_code = '12'"
		      " AND week = 3",
		      plan) -
		      held("12"),
	      "L12", "2030-01-01", 0);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM"
				       " allocation_plan_behind('12', NULL)"),
			 0);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " allocation_plan_behind()"),
			 1);
	/* Its rows fit the alert table as they are. */
	own_exec("INSERT INTO alert (rule, severity, region_code, product_id,"
		 " site_id, lot, scope_key, title, details)"
		 " SELECT rule::alert_rule, severity::alert_severity,"
		 " region_code, product_id, site_id, lot, scope_key, title,"
		 " details FROM allocation_plan_behind()",
		 0, NULL);
	ck_assert_int_eq(open_alerts("behind_plan", "14"), 1);
}
END_TEST

/* ---- bad input, without the database ---- */

START_TEST(test_capacity_file)
{
	static const struct {
		const char *text;
		int weeks; /* -1: refused */
		const char *msg;
	} cases[] = {
		{"week,packs\n1,10\n2,0\n3,5\n", 3, NULL},
		{"\xef\xbb\xbfWeek;Packs\r\n1;10\r\n2;20\r\n", 2, NULL},
		{"week,packs\n1,10\n\n2,4\n", 2, NULL},
		{"\"week\",\"packs\"\n\"1\",\"10\"\n", 1, NULL},
		{"", -1, "no weeks"},
		{"week,packs\n", -1, "no weeks"},
		{"vecka,förpackningar\n1,10\n", -1, "header"},
		{"week,packs\n2,10\n", -1, "line 2: week 1 expected"},
		{"week,packs\n1,10\n3,10\n", -1, "line 3: week 2 expected"},
		{"week,packs\n1,-5\n", -1, "line 2"},
		{"week,packs\n1,ten\n", -1, "line 2"},
		{"week,packs\n1,10,3\n", -1, "3 fields"},
		{"week,packs\n1\n", -1, "1 fields"},
		{"week,packs\n1,\"10\n", -1, "malformed"},
	};
	int64_t cap[ALLOCATOR_WEEKS_MAX];
	struct err e = {0};
	int weeks;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = allocation_capacity_parse(
			cases[i].text, strlen(cases[i].text), cap,
			ALLOCATOR_WEEKS_MAX, &weeks, &e);

		if (cases[i].weeks >= 0) {
			ck_assert_msg(rc == 0 && weeks == cases[i].weeks,
				      "case %zu: %s", i, e.msg);
		} else {
			ck_assert_msg(rc < 0, "case %zu accepted", i);
			ck_assert_msg(e.code == ERR_INVALID &&
					      strcmp(e.field, "capacity") == 0,
				      "case %zu: %s %s", i, e.field, e.msg);
			ck_assert_msg(strstr(e.msg, cases[i].msg) != NULL,
				      "case %zu: \"%s\" lacks \"%s\"", i, e.msg,
				      cases[i].msg);
		}
	}
	ck_assert_int_eq(allocation_capacity_parse("week,packs\n1,7\n2,9\n", 21,
						   cap, 1, &weeks, &e),
			 -1);
	ck_assert_msg(strstr(e.msg, "more than the 1 weeks") != NULL, "%s",
		      e.msg);
	/* What follows a NUL byte is not silently left unread. */
	{
		static const char nul[] = "week,packs\n1,5\0junk\n2,7\n";

		ck_assert_int_eq(allocation_capacity_parse(
					 nul, sizeof nul - 1, cap,
					 ALLOCATOR_WEEKS_MAX, &weeks, &e),
				 -1);
		ck_assert_msg(strstr(e.msg, "line 2: a NUL byte") != NULL, "%s",
			      e.msg);
	}
}
END_TEST

START_TEST(test_checks)
{
	struct allocation_params p;
	struct allocation_help h;
	struct allocation_act a;
	int64_t ids[2] = {1, 2}, cap[2] = {1, -1};
	struct err e = {0};

	allocation_params_default(&p, ALLOCATION_SHARE);
	ck_assert_int_eq(allocation_params_check(&p, &e), -1);
	ck_assert_str_eq(e.field, "product");
	p.products = ids;
	p.nproducts = 1;
	ck_assert_int_eq(allocation_params_check(&p, &e), 0);
	p.floor_days = ALLOCATION_DAYS_MAX + 1;
	ck_assert_int_eq(allocation_params_check(&p, &e), -1);
	ck_assert_str_eq(e.field, "floor_days");
	p.floor_days = -1;
	p.min_transfer = -1;
	ck_assert_int_eq(allocation_params_check(&p, &e), -1);
	ck_assert_str_eq(e.field, "min_transfer");
	allocation_params_default(&p, ALLOCATION_SUPPLY);
	p.products = ids;
	p.nproducts = 1;
	ck_assert_int_eq(allocation_params_check(&p, &e), -1);
	ck_assert_str_eq(e.field, "quantity");
	p.quantity = 10;
	p.reserve_pct = 10;
	ck_assert_int_eq(allocation_params_check(&p, &e), -1);
	ck_assert_str_eq(e.field, "reserve");
	p.key = ALLOC_KEY_HYBRID;
	p.hybrid_key = ALLOC_KEY_HYBRID;
	ck_assert_int_eq(allocation_params_check(&p, &e), -1);
	ck_assert_str_eq(e.field, "hybrid_key");
	p.hybrid_key = ALLOC_KEY_POPULATION;
	ck_assert_int_eq(allocation_params_check(&p, &e), 0);
	allocation_params_default(&p, ALLOCATION_PLAN);
	p.products = ids;
	p.nproducts = 2;
	ck_assert_int_eq(allocation_params_check(&p, &e), -1);
	ck_assert_str_eq(e.field, "product");
	p.nproducts = 1;
	p.weeks = 2;
	p.capacity = cap;
	ck_assert_int_eq(allocation_params_check(&p, &e), -1);
	ck_assert_str_eq(e.field, "capacity");
	cap[1] = 3;
	p.start = "2026-13-01";
	ck_assert_int_eq(allocation_params_check(&p, &e), -1);
	ck_assert_str_eq(e.field, "start");

	h = (struct allocation_help){
		.region = "01", .product_id = 1, .quantity = 10, .reason = "x"};
	ck_assert_int_eq(allocation_help_check(&h, &e), 0);
	h.region = "02";
	ck_assert_int_eq(allocation_help_check(&h, &e), -1);
	ck_assert_str_eq(e.field, "region");
	h.region = "01";
	h.days = "5";
	ck_assert_int_eq(allocation_help_check(&h, &e), -1);
	ck_assert_str_eq(e.field, "quantity");
	h.quantity = 0;
	ck_assert_int_eq(allocation_help_check(&h, &e), 0);
	h.days = "5,5";
	ck_assert_int_eq(allocation_help_check(&h, &e), 0);
	h.days = "0";
	ck_assert_int_eq(allocation_help_check(&h, &e), -1);
	ck_assert_str_eq(e.field, "days");
	h.days = "5";
	h.urgency = "whenever";
	ck_assert_int_eq(allocation_help_check(&h, &e), -1);
	ck_assert_str_eq(e.field, "urgency");
	h.urgency = NULL;
	h.reason = "a\nb";
	ck_assert_int_eq(allocation_help_check(&h, &e), -1);
	ck_assert_str_eq(e.field, "reason");

	a = (struct allocation_act){.action = ALLOCATION_SHIP, .quantity = 5};
	ck_assert_int_eq(allocation_act_check(&a, &e), -1);
	ck_assert_str_eq(e.field, "quantity");
	a = (struct allocation_act){.action = ALLOCATION_RECEIVE,
				    .quantity = -1,
				    .site = "bad site"};
	ck_assert_int_eq(allocation_act_check(&a, &e), -1);
	ck_assert_str_eq(e.field, "site");
	a = (struct allocation_act){.action = ALLOCATION_RETURN,
				    .quantity = -1};
	ck_assert_int_eq(allocation_act_check(&a, &e), -1);
	ck_assert_str_eq(e.field, "reason");
}
END_TEST

/* A run naming a product that does not exist writes nothing. */
/*
 * A run's rates, floors and targets are the same read from the rollup's
 * region rows (allocation_rate_inputs and allocation_targets, sql/017) as
 * through readiness_scan: with a consumption report on a region's own
 * history, a region whose only history is a report, and a national and
 * a regional target.
 */
START_TEST(test_rates_both_ways)
{
	struct allocation_params p;
	int64_t fast = 0, slow = 0;
	char f[24], sl[24];
	const char *params[2] = {f, sl};
	struct err e = {0};

	callers();
	own_exec("INSERT INTO import_batch (id, feed, source, sha256, bytes,"
		 " status, rows_total, rows_applied, rows_rejected,"
		 " started_at, recorded_by) OVERRIDING SYSTEM VALUE"
		 " VALUES (1, 'consumption', 't', repeat('0', 64), 0,"
		 " 'done', 0, 0, 0, now(), 't')",
		 0, NULL);
	own_exec("INSERT INTO consumption_report (region_code, site_id,"
		 " product_id, period_start, period_end, quantity, batch_id)"
		 " SELECT s.region_code, s.id, p.id, lb_today() - 20,"
		 " lb_today() - 11, 400, 1 FROM site s, product p"
		 " WHERE s.code = '12-CL' AND p.vnr = '123456'",
		 0, NULL);
	own_exec("INSERT INTO consumption_report (region_code, site_id,"
		 " product_id, period_start, period_end, quantity, batch_id)"
		 " SELECT s.region_code, s.id, p.id, lb_today() - 10,"
		 " lb_today() - 1, 90, 1 FROM site s, product p"
		 " WHERE s.code = '03-CL' AND p.vnr = '123456'",
		 0, NULL);
	own_exec("SELECT target_set(id, NULL, 40, 10, lb_today() - 1, NULL,"
		 " NULL, 'national') FROM product WHERE vnr = '123456'",
		 0, NULL);
	own_exec("SELECT target_set(id, '14', 60, 20, lb_today() - 1, NULL,"
		 " NULL, 'regional') FROM product WHERE vnr = '123456'",
		 0, NULL);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT allocation_rates_current("
					      "28)::int"),
			 1);
	fast = share();
	/* The same run, readiness_inputs reading the day rows. */
	allocation_params_default(&p, ALLOCATION_SHARE);
	p.products = &prod;
	p.nproducts = 1;
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	testdb_exec(app, "SELECT set_config('lagerbild.readiness_days', 'on',"
			 " true)");
	ck_assert_int_eq(testdb_scalar(app, "SELECT allocation_rates_current("
					    "28)::int"),
			 0);
	ck_assert_msg(allocation_run(app, &coord, &p, &slow, &e) == 0 &&
			      db_commit(app, &e) == 0,
		      "%s", e.msg);
	snprintf(f, sizeof(f), "%lld", (long long)fast);
	snprintf(sl, sizeof(sl), "%lld", (long long)slow);
	/* 01, 03 (its report alone), 12 and 14 have a rate; 14 its own
	 * target, the others the national one. */
	ck_assert_int_eq(
		testdb_scalar_params(
			owner,
			"SELECT count(*) FROM allocation_run_product a"
			" JOIN allocation_run_product b"
			" ON b.product_id = a.product_id"
			" WHERE a.run_id = $1::bigint"
			" AND b.run_id = $2::bigint"
			" AND a.rate = b.rate"
			" AND a.rate_known = b.rate_known"
			" AND a.floor_days = b.floor_days"
			" AND a.target_days = b.target_days"
			" AND a.stock = b.stock"
			" AND cardinality(array_positions(a.rate_known,"
			" true)) = 4"
			" AND 60 = ANY (a.target_days)"
			" AND 40 = ANY (a.target_days)",
			2, params),
		1);
}
END_TEST

START_TEST(test_run_all_or_nothing)
{
	struct allocation_params p;
	int64_t ids[2], id;
	struct err e = {0};

	callers();
	ids[0] = prod;
	ids[1] = 999999;
	allocation_params_default(&p, ALLOCATION_SHARE);
	p.products = ids;
	p.nproducts = 2;
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(allocation_run(app, &coord, &p, &id, &e), -1);
	ck_assert_int_eq(e.code, ERR_NOT_FOUND);
	ck_assert_str_eq(e.field, "product");
	db_rollback(app);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " allocation_run"),
			 0);
	ids[1] = prod;
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(allocation_run(app, &coord, &p, &id, &e), -1);
	ck_assert_str_eq(e.field, "product");
	db_rollback(app);
	/* A product the allocator refuses (a region holding more than it
	 * takes) fails the run while the products' COPY is open: the COPY
	 * is abandoned, nothing is written, and the connection goes on. */
	event(site01, "receipt", LEDGER_QTY_MAX, "BIG1", NULL, 1);
	event(site01b, "receipt", LEDGER_QTY_MAX, "BIG2", NULL, 1);
	p.nproducts = 1;
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(allocation_run(app, &coord, &p, &id, &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	db_rollback(app);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " allocation_run"),
			 0);
	ck_assert_int_eq(testdb_scalar(app, "SELECT 7"), 7);
}
END_TEST

/* ---- a run big enough to page ---- */

#define BIG_PRODUCTS 300

/* The ids of products as a run's product list, ascending. */
static size_t product_ids(int64_t *ids, size_t cap)
{
	struct err e = {0};
	PGresult *q = db_exec(owner, "SELECT id FROM product ORDER BY id", 0,
			      NULL, &e);
	size_t n = 0;

	ck_assert_msg(q != NULL, "%s", e.msg);
	for (int i = 0; i < PQntuples(q) && n < cap; i++)
		ids[n++] = db_int64(q, i, 0);
	PQclear(q);
	return n;
}

/* A page of run as w; ERR_* of a refusal, or 0 with *out set. */
static int page_as(const struct identity *w, int64_t run, int64_t product,
		   int64_t after, long limit, json_t **out, struct err *e)
{
	struct allocation_page pg = {
		.product_id = product, .after = after, .limit = limit};
	int rc;

	*out = NULL;
	err_clear(e);
	ck_assert_msg(auth_begin(app, w, e) == 0, "%s", e->msg);
	rc = allocation_get(app, w, run, &pg, out, e);
	db_rollback(app);
	return rc;
}

/*
 * 300 more products, each held by Stockholm and short in Skåne: a run over
 * all of them is read a page at a time, every product once, in order,
 * each with its own proposals, and the proposals list pages too.
 */
START_TEST(test_big_run_paging)
{
	static int64_t ids[BIG_PRODUCTS + 8], seen[BIG_PRODUCTS + 8];
	static const char odd_lot[] = "q\"b\\c,{d} e";
	struct allocation_params p;
	struct allocation_filter f = {0};
	struct err e = {0};
	json_t *j, *x, *s;
	int64_t run, after = 0, total, next, before = 0, last = INT64_MAX;
	size_t n, nseen = 0, i, k;
	int64_t props_seen = 0, listed = 0;
	int pages = 0;

	callers();
	own_exec(
		"INSERT INTO product (category, name, vnr, atc, pack_size)"
		" SELECT 'medicine', 'Big ' || g, (200000 + g)::text, 'N01AX10', 10"
		" FROM generate_series(1, 300) g",
		0, NULL);
	/* A delivery 30 days ago, then ten a day used, as for the first. */
	own_exec("INSERT INTO stock_event (site_id, product_id, kind,"
		 " quantity, lot, expiry, idempotency_key, payload_hash,"
		 " occurred_at, recorded_by, delta, balance_after, seq)"
		 " SELECT s.id, p.id, 'receipt', s.q, 'B', DATE '2030-01-01',"
		 " gen_random_uuid(), sha256(gen_random_uuid()::text::bytea),"
		 " now() - interval '30 days', 'test', 0, 0, 1"
		 " FROM product p, (VALUES ((SELECT id FROM site"
		 "  WHERE code = '01-CL'), 3000), ((SELECT id FROM site"
		 "  WHERE code = '12-CL'), 300)) s(id, q)"
		 " WHERE p.name LIKE 'Big %' ORDER BY p.id, s.id",
		 0, NULL);
	own_exec("INSERT INTO stock_event (site_id, product_id, kind,"
		 " quantity, lot, idempotency_key, payload_hash,"
		 " occurred_at, recorded_by, delta, balance_after, seq)"
		 " SELECT s.id, p.id, 'issue', 10, 'B', gen_random_uuid(),"
		 " sha256(gen_random_uuid()::text::bytea),"
		 " now() - make_interval(days => d), 'test', 0, 0, 1"
		 " FROM product p, site s, generate_series(1, 28) d"
		 " WHERE p.name LIKE 'Big %' AND s.code IN ('01-CL', '12-CL')"
		 " ORDER BY d DESC, p.id, s.id",
		 0, NULL);
	/* A lot whose name needs quoting in an array literal goes first
	 * (earliest expiry) and comes back as it was. */
	own_exec("INSERT INTO stock_event (site_id, product_id, kind,"
		 " quantity, lot, expiry, idempotency_key, payload_hash,"
		 " occurred_at, recorded_by, delta, balance_after, seq)"
		 " SELECT s.id, p.id, 'receipt', 500, $1, DATE '2029-06-01',"
		 " gen_random_uuid(), sha256(gen_random_uuid()::text::bytea),"
		 " now() - interval '29 days', 'test', 0, 0, 1"
		 " FROM product p, site s WHERE p.name = 'Big 7'"
		 " AND s.code = '01-CL'",
		 1, (const char *[]){odd_lot});
	ck_assert_msg(readiness_refresh(app, NULL, &e) == 0, "refresh: %s",
		      e.msg);
	n = product_ids(ids, NELEM(ids));
	ck_assert_int_eq(n, BIG_PRODUCTS + 1);
	allocation_params_default(&p, ALLOCATION_SHARE);
	p.products = ids;
	p.nproducts = n;
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	ck_assert_msg(allocation_run(app, &coord, &p, &run, &e) == 0 &&
			      db_commit(app, &e) == 0,
		      "run: %s", e.msg);
	total = scalar1("SELECT count(*) FROM proposal_all WHERE run_id = $1",
			run);
	ck_assert_msg(total >= BIG_PRODUCTS + 2, "%lld proposals",
		      (long long)total);

	/* The first page by default: 100 products, the summary of all. */
	ck_assert_int_eq(
		page_as(&coord, run, 0, 0, ALLOCATION_PAGE_DEFAULT, &j, &e), 0);
	s = json_object_get(j, "summary");
	ck_assert_int_eq(json_integer_value(json_object_get(s, "products")),
			 (json_int_t)n);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "proposals")),
			 total);
	ck_assert_int_eq(json_integer_value(json_object_get(s, "quantity")),
			 scalar1("SELECT sum(quantity) FROM proposal_all"
				 " WHERE run_id = $1",
				 run));
	ck_assert_int_eq(json_array_size(json_object_get(j, "products")),
			 ALLOCATION_PAGE_DEFAULT);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "next")),
			 ids[ALLOCATION_PAGE_DEFAULT - 1]);
	ck_assert_int_eq(json_array_size(json_object_get(j, "regions")),
			 testdb_scalar(owner, "SELECT count(*) FROM region"));
	/* Brief, as the command line lists a large run: the same products
	 * with their level and transfers, no inputs, no proposals. */
	{
		struct allocation_page bp = {.limit = ALLOCATION_PAGE_DEFAULT,
					     .brief = true};
		json_t *b, *fx;

		ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
		ck_assert_int_eq(allocation_get(app, &coord, run, &bp, &b, &e),
				 0);
		db_rollback(app);
		ck_assert_ptr_null(json_object_get(b, "proposals"));
		ck_assert_int_eq(
			json_integer_value(json_object_get(b, "next")),
			json_integer_value(json_object_get(j, "next")));
		ck_assert_int_eq(
			json_array_size(json_object_get(b, "products")),
			json_array_size(json_object_get(j, "products")));
		json_array_foreach(json_object_get(b, "products"), i, x)
		{
			fx = json_array_get(json_object_get(j, "products"), i);
			ck_assert(
				json_equal(json_object_get(x, "product_id"),
					   json_object_get(fx, "product_id")));
			ck_assert(json_equal(json_object_get(x, "level"),
					     json_object_get(fx, "level")));
			ck_assert(json_equal(
				json_object_get(json_object_get(x, "result"),
						"transfers"),
				json_object_get(json_object_get(fx, "result"),
						"transfers")));
			ck_assert_ptr_null(json_object_get(x, "inputs"));
		}
		json_decref(b);
	}
	json_decref(j);

	/* Every page in turn: each product once, ascending; its proposals
	 * with it. */
	do {
		ck_assert_msg(page_as(&coord, run, 0, after, 128, &j, &e) == 0,
			      "page after %lld: %s", (long long)after, e.msg);
		pages++;
		json_array_foreach(json_object_get(j, "products"), i, x)
		{
			int64_t id = json_integer_value(
				json_object_get(x, "product_id"));

			ck_assert_msg(nseen == 0 || id > seen[nseen - 1],
				      "product %lld out of order",
				      (long long)id);
			ck_assert_msg(json_array_size(json_object_get(
					      json_object_get(x, "inputs"),
					      "lots")) >= 1,
				      "product %lld: no lots", (long long)id);
			seen[nseen++] = id;
		}
		json_array_foreach(json_object_get(j, "proposals"), i, x)
		{
			int64_t pid = json_integer_value(
				json_object_get(x, "product_id"));
			bool on_page = false;

			json_t *y;

			json_array_foreach(json_object_get(j, "products"), k, y)
				on_page = on_page ||
					  json_integer_value(json_object_get(
						  y, "product_id")) == pid;
			ck_assert_msg(on_page,
				      "proposal of product %lld off "
				      "its page",
				      (long long)pid);
			props_seen++;
		}
		after = json_is_integer(json_object_get(j, "next")) ?
				json_integer_value(json_object_get(j, "next")) :
				0;
		json_decref(j);
	} while (after && pages < 10);
	ck_assert_int_eq(pages, 3);
	ck_assert_int_eq(nseen, n);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(seen[i], ids[i]);
	ck_assert_int_eq(props_seen, total);

	/* One product: just it, no next page. */
	ck_assert_int_eq(page_as(&coord, run, ids[200], 0, 10, &j, &e), 0);
	ck_assert_int_eq(json_array_size(json_object_get(j, "products")), 1);
	ck_assert_int_eq(
		json_integer_value(json_object_get(
			json_array_get(json_object_get(j, "products"), 0),
			"product_id")),
		ids[200]);
	ck_assert(json_is_null(json_object_get(j, "next")));
	ck_assert_int_eq(json_array_size(json_object_get(j, "proposals")),
			 scalar1("SELECT count(*) FROM proposal_all WHERE"
				 " product_id = $1",
				 ids[200]));
	json_decref(j);

	/* The odd lot: in the inputs and proposed, unchanged. */
	ck_assert_int_eq(
		testdb_scalar_params(owner,
				     "SELECT count(*) FROM proposal_all"
				     " WHERE lot = $1",
				     1, (const char *[]){odd_lot}),
		1);
	ck_assert_int_eq(page_as(&coord, run, ids[7], 0, 1, &j, &e), 0);
	x = json_object_get(
		json_object_get(
			json_array_get(json_object_get(j, "products"), 0),
			"inputs"),
		"lots");
	ck_assert_str_eq(
		json_string_value(json_object_get(json_array_get(x, 0), "lot")),
		odd_lot);
	k = 0;
	json_array_foreach(json_object_get(j, "proposals"), i, x) k +=
		strcmp(json_string_value(json_object_get(x, "lot")), odd_lot) ==
		0;
	ck_assert_int_eq(k, 1);
	json_decref(j);

	/* A region sees its own lots only, and the same summary. */
	ck_assert_int_eq(page_as(&rc12, run, ids[5], 0, 1, &j, &e), 0);
	x = json_object_get(
		json_object_get(
			json_array_get(json_object_get(j, "products"), 0),
			"inputs"),
		"lots");
	ck_assert_int_eq(json_array_size(x), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(x, 0),
							   "region")),
			 "12");
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(j, "summary"), "proposals")),
			 total);
	json_decref(j);

	/* Out of range: refused, naming the field. */
	ck_assert_int_eq(page_as(&coord, run, 0, 0, 0, &j, &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_str_eq(e.field, "limit");
	ck_assert_int_eq(
		page_as(&coord, run, 0, 0, ALLOCATION_PAGE_MAX + 1, &j, &e),
		-1);
	ck_assert_str_eq(e.field, "limit");

	/* The proposals of the run, 70 at a time, newest first. */
	f.run_id = run;
	f.limit = 70;
	pages = 0;
	do {
		f.before = before;
		ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
		ck_assert_msg(allocation_proposal_list(app, &coord, &f, &j,
						       &next, &e) == 0,
			      "list: %s", e.msg);
		db_rollback(app);
		ck_assert_msg(json_array_size(j) <= 70, "page too long");
		json_array_foreach(j, i, x)
		{
			int64_t id =
				json_integer_value(json_object_get(x, "id"));

			ck_assert_msg(id < last, "proposal %lld out of order",
				      (long long)id);
			last = id;
			listed++;
		}
		ck_assert_msg(next == 0 || next == last, "next %lld",
			      (long long)next);
		before = next;
		json_decref(j);
		pages++;
	} while (before && pages < 100);
	ck_assert_int_eq(listed, total);
	ck_assert_int_eq(pages, (total + 69) / 70);
	f.limit = 0;
	ck_assert_msg(auth_begin(app, &coord, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(
		allocation_proposal_list(app, &coord, &f, &j, &next, &e), -1);
	db_rollback(app);
	ck_assert_str_eq(e.field, "limit");
}
END_TEST

/* ---- the command line ---- */

struct cli_out {
	int code;
	char out[65536];
	char err[8192];
};

static void read_into(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t k;

	lseek(fd, 0, SEEK_SET);
	while (n + 1 < cap && (k = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(fd);
}

/* Run the binary with args (NULL-terminated) on this test's database. */
static void cli(struct cli_out *r, const char *const *args)
{
	const char *bin = getenv("LAGERBILD_BIN");
	char outp[] = "/tmp/lb-alloc-out.XXXXXX",
	     errp[] = "/tmp/lb-alloc-err.XXXXXX";
	char dbvar[512], *argv[32], *envp[256];
	int out, err, status, n = 0, k = 0;
	pid_t pid;

	ck_assert_msg(bin && bin[0], "LAGERBILD_BIN is not set");
	out = mkstemp(outp);
	err = mkstemp(errp);
	ck_assert_msg(out >= 0 && err >= 0, "mkstemp: %s", strerror(errno));
	unlink(outp);
	unlink(errp);
	argv[n++] = (char *)bin;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	snprintf(dbvar, sizeof(dbvar), "DATABASE_URL=%s", dburl);
	for (int i = 0; environ[i] && k < 254; i++)
		if (strncmp(environ[i], "DATABASE_URL=", 13) != 0)
			envp[k++] = environ[i];
	envp[k++] = dbvar;
	envp[k] = NULL;
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(out, STDOUT_FILENO) < 0 ||
		    dup2(err, STDERR_FILENO) < 0)
			_exit(126);
		execve(bin, argv, envp);
		_exit(127);
	}
	ck_assert_msg(waitpid(pid, &status, 0) == pid, "waitpid");
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
	read_into(out, r->out, sizeof(r->out));
	read_into(err, r->err, sizeof(r->err));
}

#define CLI(r, ...) cli((r), (const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_cli)
{
	static struct cli_out r;
	char id[24], path[] = "/tmp/lb-alloc-cap.XXXXXX";
	int64_t run, p12;
	int fd;

	callers();
	CLI(&r, "allocate", "--help");
	ck_assert_msg(r.code == 0 && strstr(r.out, "allocate share"), "%s",
		      r.err);
	CLI(&r, "proposal", "--help");
	ck_assert_int_eq(r.code, 0);
	CLI(&r, "help-request", "--help");
	ck_assert_int_eq(r.code, 0);
	/* Bad input: exit 2, the field named, nothing written. */
	CLI(&r, "allocate", "share", "--product", "123456", "--floor-days",
	    "x");
	ck_assert_msg(r.code == 2 && strstr(r.err, "floor-days"), "%d %s",
		      r.code, r.err);
	CLI(&r, "allocate", "supply", "--product", "123456", "--quantity",
	    "100", "--key", "lottery");
	ck_assert_msg(r.code == 2 && strstr(r.err, "key"), "%d %s", r.code,
		      r.err);
	CLI(&r, "allocate", "supply", "--product", "123456", "--quantity", "15",
	    "--key", "maxmin");
	ck_assert_msg(r.code == 2 && strstr(r.err, "whole packs"), "%d %s",
		      r.code, r.err);
	CLI(&r, "proposal", "approve");
	ck_assert_msg(r.code == 2 && strstr(r.err, "id"), "%d %s", r.code,
		      r.err);
	CLI(&r, "proposal", "approve", "x1");
	ck_assert_int_eq(r.code, 2);
	/* A mistyped option, or one without its value, stops the command
	 * before it writes anything. */
	CLI(&r, "allocate", "share", "--product", "123456", "--min-tranfer",
	    "5");
	ck_assert_msg(r.code == 2 && strstr(r.err, "--min-tranfer"), "%d %s",
		      r.code, r.err);
	CLI(&r, "allocate", "share", "--product", "123456", "--floor-days");
	ck_assert_msg(r.code == 2 && strstr(r.err, "--floor-days"), "%d %s",
		      r.code, r.err);
	CLI(&r, "help-request", "create", "--region", "14", "--product",
	    "123456", "--days", "5", "--urgensy", "critical", "--reason",
	    "akut");
	ck_assert_msg(r.code == 2 && strstr(r.err, "--urgensy"), "%d %s",
		      r.code, r.err);
	/* ... and so does one the form does not take. */
	CLI(&r, "allocate", "share", "--product", "123456", "--key", "maxmin");
	ck_assert_msg(r.code == 2 && strstr(r.err, "allocate share does not "
						   "take --key"),
		      "%d %s", r.code, r.err);
	CLI(&r, "help-request", "show", "1", "--reason", "x");
	ck_assert_msg(r.code == 2 && strstr(r.err, "--reason"), "%d %s", r.code,
		      r.err);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " help_request"),
			 0);
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0 && write(fd, "week,packs\n1,5\n3,5\n", 19) == 19,
		      "capacity file");
	close(fd);
	CLI(&r, "allocate", "plan", "--product", "123456", "--capacity-file",
	    path);
	ck_assert_msg(r.code == 2 && strstr(r.err, "line 3"), "%d %s", r.code,
		      r.err);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " allocation_run"),
			 0);
	/* The chain from the command line. */
	CLI(&r, "allocate", "share", "--product", "123456");
	ck_assert_msg(r.code == 0 && strstr(r.out, "level L ="), "%d %s %s",
		      r.code, r.out, r.err);
	run = testdb_scalar(owner, "SELECT max(id) FROM allocation_run");
	p12 = proposal_to(run, "12");
	snprintf(id, sizeof(id), "%lld", (long long)p12);
	CLI(&r, "proposal", "approve", id, "--as");
	ck_assert_msg(r.code == 2 && strstr(r.err, "--as"), "%d %s", r.code,
		      r.err);
	CLI(&r, "proposal", "approve", id);
	ck_assert_msg(r.code == 0 && strstr(r.out, "approved"), "%s", r.err);
	CLI(&r, "proposal", "ship", id);
	ck_assert_msg(r.code == 0 && strstr(r.out, "shipped"), "%s", r.err);
	CLI(&r, "proposal", "receive", id, "--qty", "3", "--reason",
	    "krossade");
	ck_assert_msg(r.code == 2 && strstr(r.err, "--qty"), "%d %s", r.code,
		      r.err);
	CLI(&r, "proposal", "ship", id, "--quantity", "3");
	ck_assert_msg(r.code == 2 && strstr(r.err, "proposal ship does not "
						   "take --quantity"),
		      "%d %s", r.code, r.err);
	CLI(&r, "proposal", "ship", id);
	ck_assert_msg(r.code == 0 && strstr(r.out, "already"), "%s", r.out);
	/* In transit, the ledger still adds up: `lagerbild verify` itself. */
	CLI(&r, "verify");
	ck_assert_msg(r.code == 0 && strstr(r.out, "no drift"), "%d %s %s",
		      r.code, r.out, r.err);
	CLI(&r, "allocate", "in-transit", "--product", "123456", "--json");
	ck_assert_msg(r.code == 0 && strstr(r.out, "\"total\": 4760") &&
			      strstr(r.out, "\"in_transit\": ") &&
			      atoll(strstr(r.out, "\"in_transit\": ") + 14) ==
				      proposal_qty(p12),
		      "%s", r.out);
	CLI(&r, "proposal", "receive", id, "--quantity", "10");
	ck_assert_msg(r.code == 2 && strstr(r.err, "reason"), "%d %s", r.code,
		      r.err);
	CLI(&r, "proposal", "receive", id);
	ck_assert_msg(r.code == 0 && strstr(r.out, "received"), "%s", r.err);
	invariant("the command line");
	CLI(&r, "verify");
	ck_assert_msg(r.code == 0 && strstr(r.out, "no drift"), "%d %s %s",
		      r.code, r.out, r.err);
	CLI(&r, "allocate", "in-transit", "--product", "123456", "--json");
	ck_assert_msg(r.code == 0 && strstr(r.out, "\"total\": 4760"), "%s",
		      r.out);
	/* A plan from a capacity file, as CSV. */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_msg(fd >= 0 && write(fd, "week;packs\n1;5\n2;5\n", 19) == 19,
		      "capacity file");
	close(fd);
	CLI(&r, "allocate", "plan", "--product", "123456", "--capacity-file",
	    path, "--weeks", "1");
	ck_assert_msg(r.code == 2 && strstr(r.err, "has 2 weeks"), "%d %s",
		      r.code, r.err);
	CLI(&r, "allocate", "plan", "--product", "123456", "--capacity-file",
	    path, "--weeks", "2", "--csv");
	unlink(path);
	ck_assert_msg(r.code == 0 &&
			      strncmp(r.out, "product,product_name,", 21) == 0,
		      "%d %s %s", r.code, r.out, r.err);
	CLI(&r, "help-request", "create", "--region", "14", "--product",
	    "123456", "--days", "5", "--urgency", "critical", "--reason",
	    "akut");
	ck_assert_msg(r.code == 0 && strstr(r.out, "help request"), "%s",
		      r.err);
	CLI(&r, "help-request", "create", "--region", "14", "--product",
	    "123456", "--quantity", "5", "--days", "5", "--reason", "akut");
	ck_assert_msg(r.code == 2 && strstr(r.err, "quantity"), "%d %s", r.code,
		      r.err);
}
END_TEST

/* A user for --as; disabled when asked. */
static void cli_user(const char *name, enum role role, const char *region,
		     bool disabled)
{
	struct err e = {0};
	int64_t uid;

	ck_assert_msg(auth_user_add(owner, name, role, region, NULL, NULL, &uid,
				    &e) == 0,
		      "user %s: %s", name, e.msg);
	if (disabled)
		ck_assert_msg(auth_user_disable(owner, name, &e) == 0, "%s",
			      e.msg);
}

/* --as: the step is taken as that user, checked as the API checks it. */
START_TEST(test_cli_as)
{
	static struct cli_out r;
	char id[24], hid[24], by[64] = "";
	const char *params[1] = {id}, *actor[1];
	int64_t run, p12, h;
	PGresult *q;
	struct err e = {0};

	callers();
	cli_user("anna", ROLE_REGION_CONTACT, "01", false);
	cli_user("kalle", ROLE_REGION_CONTACT, "12", false);
	cli_user("lisa", ROLE_REGION_CONTACT, "14", false);
	cli_user("samordnare", ROLE_COORDINATOR, NULL, false);
	cli_user("gammal", ROLE_REGION_CONTACT, "01", true);
	CLI(&r, "proposal", "--help");
	ck_assert_msg(r.code == 0 && strstr(r.out, "--as USERNAME") &&
			      strstr(r.out, "system identity"),
		      "%s", r.out);
	CLI(&r, "allocate", "share", "--product", "123456", "--as", "kalle");
	ck_assert_msg(r.code == 1 && strstr(r.err, "--as kalle") &&
			      strstr(r.err, "coordinators"),
		      "%d %s", r.code, r.err);
	CLI(&r, "allocate", "share", "--product", "123456", "--as",
	    "samordnare");
	ck_assert_msg(r.code == 0, "%d %s", r.code, r.err);
	run = testdb_scalar(owner, "SELECT max(id) FROM allocation_run");
	ck_assert_int_eq(scalar1("SELECT count(*) FROM allocation_run"
				 " WHERE id = $1::bigint"
				 " AND created_by = 'samordnare'"
				 " AND created_role = 'coordinator'",
				 run),
			 1);
	p12 = proposal_to(run, "12");
	snprintf(id, sizeof(id), "%lld", (long long)p12);
	/* The receiver, a coordinator, a stranger, a disabled user: refused,
	 * nothing written. */
	CLI(&r, "proposal", "approve", id, "--as", "kalle");
	ck_assert_msg(r.code == 1 && strstr(r.err, "--as kalle") &&
			      strstr(r.err, "region 12") &&
			      strstr(r.err, "region 01"),
		      "%d %s", r.code, r.err);
	CLI(&r, "proposal", "approve", id, "--as", "samordnare");
	ck_assert_msg(r.code == 1 && strstr(r.err, "--as samordnare") &&
			      strstr(r.err, "do not decide"),
		      "%d %s", r.code, r.err);
	CLI(&r, "proposal", "approve", id, "--as", "ingen");
	ck_assert_msg(r.code == 1 && strstr(r.err, "--as ingen") &&
			      strstr(r.err, "no such user") &&
			      !strstr(r.err, "no transaction"),
		      "%d %s", r.code, r.err);
	CLI(&r, "proposal", "approve", id, "--as", "gammal");
	ck_assert_msg(r.code == 1 && strstr(r.err, "--as gammal") &&
			      strstr(r.err, "disabled"),
		      "%d %s", r.code, r.err);
	CLI(&r, "proposal", "approve", id, "--as", "");
	ck_assert_msg(r.code == 2 && strstr(r.err, "as"), "%d %s", r.code,
		      r.err);
	ck_status(p12, "proposed");
	/* The giver's contact person approves and ships; the record names
	 * her, with the person at the shell beside it. */
	CLI(&r, "proposal", "approve", id, "--as", "anna");
	ck_assert_msg(r.code == 0 && strstr(r.out, "approved"), "%d %s", r.code,
		      r.err);
	q = db_exec(owner,
		    "SELECT decided_by FROM proposal_all WHERE id = $1::bigint",
		    1, params, &e);
	ck_assert_msg(q && PQntuples(q) == 1, "%s", e.msg);
	snprintf(by, sizeof(by), "%s", db_text(q, 0, 0));
	PQclear(q);
	ck_assert_str_eq(by, "anna");
	CLI(&r, "proposal", "receive", id, "--as", "anna");
	ck_assert_msg(r.code == 1 && strstr(r.err, "--as anna"), "%d %s",
		      r.code, r.err);
	CLI(&r, "proposal", "ship", id, "--as", "anna");
	ck_assert_msg(r.code == 0 && strstr(r.out, "shipped"), "%d %s", r.code,
		      r.err);
	/* The person at the shell is the remote ($LAGERBILD_ACTOR here). */
	actor[0] = getenv("LAGERBILD_ACTOR");
	ck_assert_int_eq(
		testdb_scalar_params(owner,
				     "SELECT count(*) FROM stock_event"
				     " WHERE kind = 'transfer_out'"
				     " AND recorded_by = 'anna'"
				     " AND remote = coalesce($1, remote)"
				     " AND remote <> ''",
				     1, actor),
		1);
	CLI(&r, "proposal", "receive", id, "--as", "kalle");
	ck_assert_msg(r.code == 0 && strstr(r.out, "received"), "%d %s", r.code,
		      r.err);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM proposal_event"
				 " WHERE proposal_id = $1::bigint"
				 " AND status = 'received' AND actor = 'kalle'"
				 " AND role = 'region_contact'",
				 p12),
			 1);
	invariant("--as");
	/* Help requests: a region asks for itself only. */
	CLI(&r, "help-request", "create", "--region", "01", "--product",
	    "123456", "--quantity", "100", "--reason", "x", "--as", "kalle");
	ck_assert_msg(r.code == 1 && strstr(r.err, "--as kalle"), "%d %s",
		      r.code, r.err);
	CLI(&r, "help-request", "create", "--region", "14", "--product",
	    "123456", "--quantity", "100", "--reason", "slut", "--as", "lisa");
	ck_assert_msg(r.code == 0, "%d %s", r.code, r.err);
	h = testdb_scalar(owner, "SELECT max(id) FROM help_request");
	ck_assert_int_eq(scalar1("SELECT count(*) FROM help_request"
				 " WHERE id = $1::bigint"
				 " AND created_by = 'lisa'",
				 h),
			 1);
	/* Its proposal received: the command says the request is fulfilled,
	 * and show answers it. */
	run = testdb_scalar(owner, "SELECT max(id) FROM allocation_run");
	p12 = proposal_to(run, "14");
	snprintf(id, sizeof(id), "%lld", (long long)p12);
	snprintf(hid, sizeof(hid), "%lld", (long long)h);
	CLI(&r, "proposal", "approve", id, "--as", "anna");
	ck_assert_int_eq(r.code, 0);
	CLI(&r, "proposal", "ship", id, "--as", "anna");
	ck_assert_int_eq(r.code, 0);
	CLI(&r, "proposal", "receive", id, "--as", "lisa");
	ck_assert_msg(r.code == 0 && strstr(r.out, "is fulfilled: received"),
		      "%d %s %s", r.code, r.out, r.err);
	CLI(&r, "help-request", "show", hid, "--as", "anna");
	ck_assert_msg(r.code == 0 &&
			      strstr(r.out, "\"status\": \"fulfilled\"") &&
			      strstr(r.out, "\"closed_by\": \"system\""),
		      "%d %s %s", r.code, r.out, r.err);
	CLI(&r, "help-request", "close", hid, "--status", "closed", "--reason",
	    "x", "--as", "lisa");
	ck_assert_msg(r.code == 1 && strstr(r.err, "already fulfilled"),
		      "%d %s", r.code, r.err);
}
END_TEST

Suite *allocation_suite(void)
{
	Suite *s = suite_create("allocation");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, test_capacity_file);
	tcase_add_test(tc, test_checks);
	suite_add_tcase(s, tc);

	tc = tcase_create("workflow");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_chain_invariant);
	tcase_add_test(tc, test_cancel_and_return);
	tcase_add_test(tc, test_who_decides);
	tcase_add_test(tc, test_rls_backstop);
	tcase_add_test(tc, test_obligatory_decline);
	tcase_add_test(tc, test_obligatory_cancel);
	tcase_add_test(tc, test_quarantined_after_proposal);
	tcase_add_test(tc, test_approvals_share_room);
	tcase_add_test(tc, test_retries);
	tcase_add_test(tc, test_ship_refused_writes_nothing);
	tcase_add_test(tc, test_short_receipts);
	tcase_add_test(tc, test_help_request);
	tcase_add_test(tc, test_help_request_all_or_nothing);
	tcase_add_test(tc, test_supply);
	tcase_add_test(tc, test_plan_csv_and_behind);
	tcase_add_test(tc, test_rates_both_ways);
	tcase_add_test(tc, test_run_all_or_nothing);
	tcase_add_test(tc, test_big_run_paging);
	tcase_add_test(tc, test_cli);
	tcase_add_test(tc, test_help_fulfilled);
	tcase_add_test(tc, test_help_not_yet);
	tcase_add_test(tc, test_help_days_fulfilled);
	tcase_add_test(tc, test_proposal_insert_columns);
	tcase_add_test(tc, test_stored_as_sent);
	tcase_add_test(tc, test_cli_as);
	suite_add_tcase(s, tc);
	return s;
}
