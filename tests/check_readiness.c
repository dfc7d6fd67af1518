/*
 * check_readiness.c -- readiness on a real database: the daily rollup and
 * its watermark, what counts as available, the inputs readiness_compute is
 * given (history, stockout days, issued with imported consumption), which
 * target applies, the level's factor, the API's filters and region
 * scoping, the CLI, and the targets feed with its rejections.
 *
 * History is made by writing events with occurred_at in the past as the
 * schema owner acting as the system; everything under test then runs as
 * the application role with a caller's identity.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "readiness_report.h"
#include "auth.h"
#include "feeds.h"
#include "httpclient.h"
#include "import.h"
#include "suites.h"
#include "testdb.h"

static struct db *own; /* owner, acting as the system */
static struct db *app; /* the application role */
static const char *dburl;
static int64_t site_a, site_b, site_12, prod, prod2;

static void setup(void)
{
	struct err e = {0};

	dburl = testdb_create();
	own = testdb_connect();
	ck_assert_msg(db_act_as_system(own, "setup", &e) == 0, "%s", e.msg);
	site_a = testdb_site(own, "01", "01-A");
	site_b = testdb_site(own, "01", "01-B");
	site_12 = testdb_site(own, "12", "12-A");
	prod = testdb_product(own, "123456", "Propofol");
	prod2 = testdb_product(own, "234567", "Amoxicillin");
	app = testdb_connect_app("tester");
}

static void teardown(void)
{
	db_close(app);
	db_close(own);
	app = own = NULL;
	testdb_drop();
}

/* An event days_ago days back (noon, Stockholm); lot and expiry may be
 * NULL. */
static void ev(int64_t site, int64_t product, const char *kind, long qty,
	       int days_ago, const char *lot, const char *expiry)
{
	testdb_event_ago(own, site, product, kind, qty, days_ago, lot, expiry);
}

/* Issue qty a day for days from..to days back. */
static void issue_daily(int64_t site, int64_t product, long qty, int from,
			int to)
{
	for (int d = from; d >= to; d--)
		ev(site, product, "issue", qty, d, NULL, NULL);
}

static int64_t refresh(void)
{
	struct err e = {0};
	int64_t n = -1;

	ck_assert_msg(readiness_refresh(app, &n, &e) == 0, "refresh: %s",
		      e.msg);
	return n;
}

/* ---- scanning as a caller ---- */

#define ROWS_MAX 16

struct got {
	int n;
	struct {
		char region[3], site[33];
		int64_t product_id;
		struct readiness_input in;
		struct readiness_result out;
	} r[ROWS_MAX];
};

static int keep(const struct readiness_row *row, void *arg)
{
	struct got *g = arg;

	ck_assert_int_lt(g->n, ROWS_MAX);
	snprintf(g->r[g->n].region, 3, "%s", row->region ? row->region : "");
	snprintf(g->r[g->n].site, 33, "%s", row->site ? row->site : "");
	g->r[g->n].product_id = row->product_id;
	g->r[g->n].in = row->in;
	g->r[g->n].out = row->out;
	g->n++;
	return 0;
}

static struct identity who_is(enum role role, const char *region)
{
	struct identity w;

	if (role == ROLE_SYSTEM) {
		auth_system_identity(&w, "tester");
		return w;
	}
	memset(&w, 0, sizeof(w));
	w.role = role;
	snprintf(w.username, sizeof(w.username), "u");
	snprintf(w.region, sizeof(w.region), "%s", region ? region : "");
	return w;
}

static void scan_once(enum role role, const char *region,
		      const struct readiness_filter *f, bool days,
		      struct got *g)
{
	struct identity w = who_is(role, region);
	struct err e = {0};

	memset(g, 0, sizeof(*g));
	ck_assert_msg(auth_begin(app, &w, &e) == 0, "%s", e.msg);
	if (days)
		testdb_exec(app, "SELECT set_config('lagerbild.readiness_days',"
				 " 'on', true)");
	ck_assert_msg(readiness_scan(app, f, keep, g, &e) == 0, "scan: %s",
		      e.msg);
	db_rollback(app);
}

/* The rows' inputs agree, in the same order. */
static void same_inputs(const struct got *a, const struct got *b)
{
	ck_assert_int_eq(a->n, b->n);
	for (int i = 0; i < a->n; i++) {
		const struct readiness_input *x = &a->r[i].in, *y = &b->r[i].in;

		ck_assert_str_eq(a->r[i].region, b->r[i].region);
		ck_assert_str_eq(a->r[i].site, b->r[i].site);
		ck_assert_int_eq(a->r[i].product_id, b->r[i].product_id);
		ck_assert_msg(x->available == y->available &&
				      x->issued == y->issued &&
				      x->history_days == y->history_days &&
				      x->stockout_days == y->stockout_days &&
				      x->target_days == y->target_days &&
				      x->floor_days == y->floor_days,
			      "row %d (%s%s, product %lld): available %lld/%lld"
			      " issued %lld/%lld history %d/%d stockout"
			      " %d/%d",
			      i, a->r[i].region, a->r[i].site,
			      (long long)a->r[i].product_id,
			      (long long)x->available, (long long)y->available,
			      (long long)x->issued, (long long)y->issued,
			      x->history_days, y->history_days,
			      x->stockout_days, y->stockout_days);
	}
}

/*
 * Scan as a caller.  Every scan is made twice: as readiness_inputs
 * chooses (the rollup's window sums, when they are current) and from the
 * day rows themselves; the two must agree on every input.
 */
static void scan_as(enum role role, const char *region,
		    const struct readiness_filter *f, struct got *g)
{
	struct got *days = malloc(sizeof(*days));

	ck_assert_ptr_nonnull(days);
	scan_once(role, region, f, false, g);
	scan_once(role, region, f, true, days);
	same_inputs(g, days);
	free(days);
}

/* The one row for region (or "" above regions) and product. */
static int find(const struct got *g, const char *key, int64_t product)
{
	for (int i = 0; i < g->n; i++)
		if ((strcmp(g->r[i].region, key) == 0 ||
		     strcmp(g->r[i].site, key) == 0) &&
		    g->r[i].product_id == product)
			return i;
	ck_abort_msg("no row for %s, product %lld", key, (long long)product);
	return -1;
}

/* ---- the rollup ---- */

START_TEST(test_rollup_incremental)
{
	int64_t max_id;

	ev(site_a, prod, "receipt", 100, 10, NULL, NULL);
	issue_daily(site_a, prod, 5, 9, 5);
	ev(site_12, prod, "receipt", 7, 3, NULL, NULL);
	ck_assert_int_eq(refresh(), 7);
	max_id = testdb_scalar(own, "SELECT max(id) FROM stock_event");
	ck_assert_int_eq(testdb_scalar(own, "SELECT min(last_id) FROM"
					    " stock_daily_watermark"),
			 max_id);
	ck_assert_int_eq(testdb_scalar(own, "SELECT events_read FROM"
					    " stock_daily_watermark WHERE"
					    " region_code = '01'"),
			 6);
	/* Nothing new: nothing read. */
	ck_assert_int_eq(refresh(), 0);
	ck_assert_int_eq(testdb_scalar(own, "SELECT sum(events_total) FROM"
					    " stock_daily_watermark"),
			 7);
	/* Two new events, one backdated before the issues: only they are
	 * read, and the later days' balances move with the backdated one. */
	ev(site_a, prod, "issue", 3, 1, NULL, NULL);
	ev(site_a, prod, "receipt", 40, 8, NULL, NULL);
	ck_assert_int_eq(refresh(), 2);
	ck_assert_int_eq(testdb_scalar(own, "SELECT events_read FROM"
					    " stock_daily_watermark WHERE"
					    " region_code = '01'"),
			 2);
	ck_assert_int_eq(testdb_scalar(own, "SELECT sum(events_total) FROM"
					    " stock_daily_watermark"),
			 9);
	/* 100 - 25 + 40 - 3 */
	ck_assert_int_eq(testdb_scalar(own,
				       "SELECT end_balance FROM"
				       " stock_daily WHERE day = lb_today()"
				       " - 1 AND region_code = '01'"),
			 112);
	ck_assert_int_eq(testdb_scalar(own, "SELECT end_balance FROM"
					    " stock_daily_key WHERE"
					    " region_code = '01'"),
			 112);
	/* day 8 back: 100 - 5 (day 9) + 40 - 5 */
	ck_assert_int_eq(testdb_scalar(own,
				       "SELECT end_balance FROM"
				       " stock_daily WHERE day = lb_today()"
				       " - 8 AND region_code = '01'"),
			 130);
	ck_assert_int_eq(testdb_scalar(own, "SELECT sum(issued) FROM"
					    " stock_daily"),
			 28);
}
END_TEST

/* The window's sums of every key as of lb_today() - back, computed here
 * from the day rows, independently of sql/009. */
#define SUMS_AS_OF                                                           \
	"SELECT k.region_code, k.site_id, k.product_id,"                     \
	" coalesce(sum(x.issued) FILTER (WHERE x.day BETWEEN t - 27 AND t)," \
	"  0) AS i,"                                                         \
	" coalesce(sum(x.net) FILTER (WHERE x.day > t), 0) AS f,"            \
	" coalesce(sum(greatest(x.net, 0)) FILTER (WHERE x.day >= t - 27),"  \
	"  0) AS p"                                                          \
	" FROM stock_daily_key k"                                            \
	" CROSS JOIN (SELECT lb_today() - $1::integer AS t) c"               \
	" LEFT JOIN stock_daily x USING (region_code, site_id, product_id)"  \
	" GROUP BY 1, 2, 3"

static void tx(struct db *db, bool begin)
{
	struct err e = {0};

	ck_assert_msg((begin ? db_begin(db, &e) : db_commit(db, &e)) == 0, "%s",
		      e.msg);
}

/* Keys whose sums differ from SUMS_AS_OF(back). */
static int64_t sums_wrong(int back)
{
	char b[16];
	const char *params[] = {b};

	snprintf(b, sizeof(b), "%d", back);
	return testdb_scalar_params(
		own,
		"SELECT count(*) FROM stock_daily_key k JOIN (" SUMS_AS_OF
		") r USING (region_code, site_id, product_id)"
		" WHERE (k.w_issued, k.w_future, k.w_pos) <> (r.i, r.f, r.p)"
		"  OR k.w_stale",
		1, params);
}

/* Run sql with $1 = a and, when b is not NULL, $2 = b. */
static void exec_2(struct db *db, const char *sql, const char *a, const char *b)
{
	const char *params[] = {a, b};
	struct err e = {0};

	ck_assert_msg(db_command(db, sql, b ? 2 : 1, params, &e) == 0, "%s: %s",
		      sql, e.msg);
}

/* The rollup keeps the default window's sums per key; readiness reads
 * them (and not the day rows) when they are current, and the day's turn
 * moves them by the rows entering and leaving the window. */
START_TEST(test_window_sums)
{
	static const int backs[] = {1, 3, 27, 28, 29, 90};
	struct readiness_filter f = {.scope = "region", .region = "01"};
	struct got fast, days;
	char sa[24], pr[24], back[16];

	/* Day rows on both sides of every boundary a turn of up to 90 days
	 * crosses, at two sites and two products. */
	ev(site_a, prod, "receipt", 5000, 120, NULL, NULL);
	ev(site_b, prod, "receipt", 5000, 120, NULL, NULL);
	ev(site_a, prod2, "receipt", 5000, 120, NULL, NULL);
	for (int d = 118; d >= 0; d -= 1 + d % 3) {
		ev(site_a, prod, "issue", 1 + d % 7, d, NULL, NULL);
		if (d % 2)
			ev(site_b, prod, "issue", 2, d, NULL, NULL);
		if (d % 5 == 0)
			ev(site_a, prod2, "receipt", 9, d, NULL, NULL);
	}
	refresh();
	ck_assert_int_eq(testdb_scalar(own, "SELECT count(*) FROM"
					    " stock_daily_horizon"
					    " WHERE w_day = lb_today()"),
			 1);
	ck_assert_int_eq(sums_wrong(0), 0);

	/* They are what is read: a wrong sum shows in the scan (and not
	 * when the day rows are asked for), until the key is marked stale
	 * and the next refresh puts it right. */
	tx(own, true);
	testdb_exec(own,
		    "SELECT set_config('lagerbild.window_sums', 'on', true)");
	snprintf(sa, sizeof(sa), "%lld", (long long)site_a);
	snprintf(pr, sizeof(pr), "%lld", (long long)prod);
	exec_2(own,
	       "UPDATE stock_daily_key SET w_issued = w_issued + 280"
	       " WHERE site_id = $1 AND product_id = $2",
	       sa, pr);
	tx(own, false);
	scan_once(ROLE_COORDINATOR, NULL, &f, false, &fast);
	scan_once(ROLE_COORDINATOR, NULL, &f, true, &days);
	ck_assert_int_eq(fast.r[find(&fast, "01", prod)].in.issued,
			 days.r[find(&days, "01", prod)].in.issued + 280);
	refresh();
	ck_assert_int_eq(sums_wrong(0), 1);
	/* not as the window: marks it stale */
	exec_2(own,
	       "UPDATE stock_daily_key SET w_issued = 0"
	       " WHERE site_id = $1 AND product_id = $2",
	       sa, pr);
	scan_once(ROLE_COORDINATOR, NULL, &f, false, &fast);
	same_inputs(&fast, &days); /* stale: the day rows are read */
	refresh();
	ck_assert_int_eq(sums_wrong(0), 0);

	/* The day turns: sums as of `back` days ago, brought to today. */
	for (size_t i = 0; i < sizeof(backs) / sizeof(backs[0]); i++) {
		tx(own, true);
		testdb_exec(own,
			    "SELECT set_config('lagerbild.window_sums', 'on',"
			    " true)");
		snprintf(back, sizeof(back), "%d", backs[i]);
		exec_2(own,
		       "UPDATE stock_daily_key k SET w_issued = r.i,"
		       " w_future = r.f, w_pos = r.p, w_stale = false"
		       " FROM (" SUMS_AS_OF ") r"
		       " WHERE (k.region_code, k.site_id, k.product_id)"
		       " = (r.region_code, r.site_id, r.product_id)",
		       back, NULL);
		exec_2(own,
		       "UPDATE stock_daily_horizon"
		       " SET w_day = lb_today() - $1::integer",
		       back, NULL);
		tx(own, false);
		/* Not current: the day rows are read, and agree. */
		scan_as(ROLE_COORDINATOR, NULL, &f, &fast);
		ck_assert_msg(sums_wrong(backs[i]) == 0, "as of %d back",
			      backs[i]);
		refresh();
		ck_assert_msg(sums_wrong(0) == 0, "rolled %d days", backs[i]);
		scan_as(ROLE_COORDINATOR, NULL, &f, &fast);
	}
}
END_TEST

/* An issue's reversal takes the issue back on the issue's day; the app
 * role cannot write the rollup itself. */
START_TEST(test_rollup_reversal_and_privileges)
{
	struct err e = {0};
	int64_t issue;

	ev(site_a, prod, "receipt", 100, 5, NULL, NULL);
	ev(site_a, prod, "issue", 30, 4, NULL, NULL);
	refresh();
	issue = testdb_scalar(own, "SELECT max(id) FROM stock_event");
	{
		char id[24];
		const char *params[] = {id};

		snprintf(id, sizeof(id), "%lld", (long long)issue);
		ck_assert_msg(
			db_command(own,
				   "INSERT INTO stock_event (kind, reverses,"
				   " reason, quantity, site_id, product_id,"
				   " idempotency_key, payload_hash,"
				   " recorded_by) VALUES ('reversal', $1,"
				   " 'wrong', 1, 0, 0, gen_random_uuid(),"
				   " sha256('r'), 'test')",
				   1, params, &e) == 0,
			"%s", e.msg);
	}
	ck_assert_int_eq(refresh(), 1);
	ck_assert_int_eq(testdb_scalar(own, "SELECT issued FROM stock_daily"
					    " WHERE day = lb_today() - 4"),
			 0);
	ck_assert_int_eq(testdb_scalar(own, "SELECT end_balance FROM"
					    " stock_daily_key"),
			 100);
	ck_assert_int_ne(db_command(app,
				    "INSERT INTO stock_daily VALUES ('01', 1,"
				    " 1, current_date, 0, 0, 0)",
				    0, NULL, &e),
			 0);
	ck_assert_int_ne(db_command(app,
				    "UPDATE stock_daily_watermark SET"
				    " last_id = 0",
				    0, NULL, &e),
			 0);
}
END_TEST

/* ---- inputs ---- */

START_TEST(test_available_excludes_expired_and_quarantined)
{
	struct readiness_filter f = {.scope = "site"};
	struct got g;
	int i;

	ev(site_a, prod, "receipt", 100, 20, "L1", "2099-12-31");
	ev(site_a, prod, "receipt", 30, 20, "OLD", "2020-01-01");
	ev(site_a, prod, "receipt", 20, 20, "Q", "2099-12-31");
	ev(site_a, prod, "receipt", 5, 20, NULL, NULL);
	testdb_exec(own, "INSERT INTO lot_quarantine (region_code, site_id,"
			 " product_id, lot, reason) SELECT region_code, id, "
			 "(SELECT id FROM product WHERE vnr = '123456'), 'Q',"
			 " 'recall' FROM site WHERE code = '01-A'");
	refresh();
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	i = find(&g, "01-A", prod);
	ck_assert_int_eq(g.r[i].in.available, 105);
	/* Released: counts again. */
	testdb_exec(own,
		    "UPDATE lot_quarantine SET release_reason = 'cleared'");
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	ck_assert_int_eq(g.r[find(&g, "01-A", prod)].in.available, 125);
	/* A quarantine is released once and never deleted. */
	{
		struct err e = {0};

		ck_assert_int_ne(db_command(own,
					    "UPDATE lot_quarantine SET"
					    " release_reason = 'again'",
					    0, NULL, &e),
				 0);
		ck_assert_int_ne(db_command(own, "DELETE FROM lot_quarantine",
					    0, NULL, &e),
				 0);
	}
}
END_TEST

/*
 * Site A: 100 received 20 days back, 10 a day issued from 19 to 10 days
 * back (empty at the end of day 10 back), 50 received 3 days back.  So the
 * window's history is 21 days (20 back to today) and the days 10..4 back
 * (7) ended empty.
 */
/* Region rows (sql/013) whose sums differ from their sites' keys. */
static int64_t region_rows_wrong(void)
{
	return testdb_scalar(
		own,
		"SELECT count(*) FROM readiness_region_key r"
		" FULL JOIN (SELECT region_code, product_id,"
		"  min(first_day) AS f, sum(end_balance) AS b,"
		"  sum(w_issued) AS i, sum(w_future) AS u, sum(w_pos) AS p"
		"  FROM stock_daily_key GROUP BY 1, 2) k"
		" USING (region_code, product_id)"
		" WHERE (r.stock_first, r.last_bal, r.w_issued, r.w_future,"
		"  r.w_pos) IS DISTINCT FROM (k.f, k.b, k.i, k.u, k.p)");
}

/*
 * A region-scope scan reads the region rows the refresh keeps: their sums
 * follow every write of the sites' keys at once, and their stockout days
 * are walked again when the day turns (or from scratch), never read
 * stale.  Every scan is also compared with the day rows (scan_as).
 */
START_TEST(test_region_rows)
{
	struct readiness_filter f = {.scope = "region"};
	struct got g, days;
	char sa[24], pr[24];
	int i;

	/* 01/prod runs out at site A for 7 days; 01/prod2 never does. */
	ev(site_a, prod, "receipt", 100, 20, NULL, NULL);
	issue_daily(site_a, prod, 10, 19, 10);
	ev(site_a, prod, "receipt", 50, 3, NULL, NULL);
	ev(site_a, prod2, "receipt", 1000, 25, NULL, NULL);
	issue_daily(site_a, prod2, 5, 24, 0);
	ev(site_b, prod2, "receipt", 10, 5, NULL, NULL);
	ev(site_b, prod2, "issue", 10, 2, NULL, NULL);
	ev(site_12, prod, "receipt", 7, 3, NULL, NULL);
	refresh();
	ck_assert_int_eq(region_rows_wrong(), 0);
	ck_assert_int_eq(testdb_scalar(own, "SELECT count(*) FROM"
					    " readiness_region_key"),
			 3);
	scan_as(ROLE_COORDINATOR, NULL, &f, &g);
	i = find(&g, "01", prod);
	ck_assert_int_eq(g.r[i].in.stockout_days, 7);
	ck_assert_int_eq(g.r[i].in.issued, 100);
	ck_assert_int_eq(g.r[find(&g, "01", prod2)].in.stockout_days, 0);

	/* The day turns: stockout days as of yesterday are not read, and
	 * the refresh walks the groups that can have run out again. */
	tx(own, true);
	testdb_exec(own,
		    "UPDATE readiness_region_key SET out_days = out_days + 100"
		    " WHERE last_bal - w_pos <= 0");
	testdb_exec(own,
		    "UPDATE stock_daily_horizon SET r_day = lb_today() - 1");
	tx(own, false);
	scan_as(ROLE_COORDINATOR, NULL, &f, &g);
	ck_assert_int_eq(g.r[find(&g, "01", prod)].in.stockout_days, 7);
	refresh();
	ck_assert_int_eq(testdb_scalar(own, "SELECT max(out_days) FROM"
					    " readiness_region_key"),
			 7);
	scan_as(ROLE_COORDINATOR, NULL, &f, &g);

	/* A site key's sums written as the window's own (not stale): the
	 * region row follows at once, and that is what is read. */
	snprintf(sa, sizeof(sa), "%lld", (long long)site_b);
	snprintf(pr, sizeof(pr), "%lld", (long long)prod2);
	tx(own, true);
	testdb_exec(own,
		    "SELECT set_config('lagerbild.window_sums', 'on', true)");
	exec_2(own,
	       "UPDATE stock_daily_key SET w_issued = w_issued + 70"
	       " WHERE site_id = $1 AND product_id = $2",
	       sa, pr);
	tx(own, false);
	ck_assert_int_eq(region_rows_wrong(), 0);
	scan_once(ROLE_COORDINATOR, NULL, &f, false, &g);
	scan_once(ROLE_COORDINATOR, NULL, &f, true, &days);
	ck_assert_int_eq(g.r[find(&g, "01", prod2)].in.issued,
			 days.r[find(&days, "01", prod2)].in.issued + 70);
	/* marked stale (not written as the window): put right by the next
	 * refresh */
	exec_2(own,
	       "UPDATE stock_daily_key SET w_stale = true"
	       " WHERE site_id = $1 AND product_id = $2",
	       sa, pr);
	refresh();
	scan_as(ROLE_COORDINATOR, NULL, &f, &g);

	/* Never computed: every region row again, whatever it held. */
	tx(own, true);
	testdb_exec(own,
		    "UPDATE readiness_region_key SET w_issued = w_issued + 5,"
		    " out_days = out_days + 3, last_bal = last_bal - 1");
	testdb_exec(own, "UPDATE stock_daily_horizon SET r_day = NULL");
	tx(own, false);
	scan_as(ROLE_COORDINATOR, NULL, &f, &g);
	ck_assert_int_eq(region_rows_wrong(), 3);
	refresh();
	ck_assert_int_eq(region_rows_wrong(), 0);
	scan_as(ROLE_COORDINATOR, NULL, &f, &g);
	ck_assert_int_eq(g.r[find(&g, "01", prod)].in.stockout_days, 7);

	/* New writes: the touched rows only, in the same refresh. */
	ev(site_b, prod, "receipt", 4, 0, NULL, NULL);
	ev(site_12, prod, "issue", 7, 0, NULL, NULL);
	refresh();
	ck_assert_int_eq(region_rows_wrong(), 0);
	scan_as(ROLE_COORDINATOR, NULL, &f, &g);
	ck_assert_int_eq(g.r[find(&g, "12", prod)].in.stockout_days, 1);
}
END_TEST

START_TEST(test_rate_with_stockout_days)
{
	struct readiness_filter f = {.scope = "site"};
	struct got g;
	int i;

	ev(site_a, prod, "receipt", 100, 20, NULL, NULL);
	issue_daily(site_a, prod, 10, 19, 10);
	ev(site_a, prod, "receipt", 50, 3, NULL, NULL);
	refresh();
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	i = find(&g, "01-A", prod);
	ck_assert_int_eq(g.r[i].in.history_days, 21);
	ck_assert_int_eq(g.r[i].in.stockout_days, 7);
	ck_assert_int_eq(g.r[i].in.issued, 100);
	ck_assert(g.r[i].out.rate_known);
	ck_assert_double_eq_tol(g.r[i].out.rate, 100.0 / 14, 1e-9);
	ck_assert_double_eq_tol(g.r[i].out.days, 50 / (100.0 / 14), 1e-9);

	/* Region scope sums sites: site B holding stock throughout means the
	 * region was never out. */
	ev(site_b, prod, "receipt", 1, 30, NULL, NULL);
	refresh();
	f.scope = "region";
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	i = find(&g, "01", prod);
	ck_assert_int_eq(g.r[i].in.history_days, READINESS_WINDOW_DEFAULT);
	ck_assert_int_eq(g.r[i].in.stockout_days, 0);
	ck_assert_int_eq(g.r[i].in.available, 51);
}
END_TEST

START_TEST(test_too_little_history_and_no_consumption)
{
	struct readiness_filter f = {.scope = "site"};
	struct readiness_row row;
	struct got g;
	json_t *j;
	int i;

	ev(site_a, prod, "receipt", 100, 3, NULL, NULL);
	ev(site_a, prod, "issue", 10, 2, NULL, NULL);
	ev(site_b, prod, "receipt", 100, 20, NULL, NULL);
	refresh();
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	i = find(&g, "01-A", prod);
	ck_assert_int_eq(g.r[i].in.history_days, 4);
	ck_assert(!g.r[i].out.rate_known);
	ck_assert_int_eq(g.r[i].out.status, READINESS_UNKNOWN_RATE);
	memset(&row, 0, sizeof(row));
	row.scope = "site";
	row.in = g.r[i].in;
	row.out = g.r[i].out;
	j = readiness_row_json(&row);
	ck_assert(json_is_null(json_object_get(j, "rate")));
	ck_assert(json_is_false(json_object_get(j, "rate_known")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "reason")),
			 "too little history");
	json_decref(j);

	i = find(&g, "01-B", prod);
	ck_assert(g.r[i].out.rate_known);
	ck_assert(g.r[i].out.days_infinite);
	ck_assert_int_eq(g.r[i].out.status, READINESS_NO_TARGET);
	row.in = g.r[i].in;
	row.out = g.r[i].out;
	j = readiness_row_json(&row);
	ck_assert(json_is_null(json_object_get(j, "days")));
	ck_assert(json_is_true(json_object_get(j, "days_infinite")));
	json_decref(j);
}
END_TEST

/* Imported consumption wins for the days it covers; ledger issues count
 * elsewhere; a period is prorated by its overlap with the window. */
START_TEST(test_consumption_reports)
{
	struct readiness_filter f = {.scope = "site"};
	struct got g;

	ev(site_a, prod, "receipt", 1000, 40, NULL, NULL);
	issue_daily(site_a, prod, 10, 27, 0); /* 28 days x 10 */
	refresh();
	/* Covers 27..18 days back (10 days) with 50; and a period half in
	 * the window: 37..28 back, outside, and 33..24 back: 4 of 10 days
	 * inside, so 40% of 100. */
	testdb_exec(own,
		    "INSERT INTO import_batch (id, feed, source, sha256, bytes,"
		    " status, rows_total, rows_applied, rows_rejected,"
		    " started_at, recorded_by) OVERRIDING SYSTEM VALUE"
		    " VALUES (1, 'consumption', 't', repeat('0', 64), 0,"
		    " 'done', 0, 0, 0, now(), 't')");
	testdb_exec(own, "INSERT INTO consumption_report (region_code, site_id,"
			 " product_id, period_start, period_end, quantity,"
			 " batch_id) SELECT '01', s.id, p.id, lb_today() - 27,"
			 " lb_today() - 18, 50, 1 FROM site s, product p"
			 " WHERE s.code = '01-A' AND p.vnr = '123456'");
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	ck_assert_int_eq(g.r[find(&g, "01-A", prod)].in.issued, 50 + 18 * 10);
	testdb_exec(own, "INSERT INTO consumption_report (region_code, site_id,"
			 " product_id, period_start, period_end, quantity,"
			 " batch_id) SELECT '01', s.id, p.id, lb_today() - 37,"
			 " lb_today() - 28, 100, 1 FROM site s, product p"
			 " WHERE s.code = '01-A' AND p.vnr = '123456'");
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	ck_assert_int_eq(g.r[find(&g, "01-A", prod)].in.issued, 50 + 18 * 10);
}
END_TEST

static void target_sql(const char *region, const char *days, const char *floor_)
{
	char p[24];
	const char *params[] = {p, region, days, floor_};
	struct err e = {0};
	PGresult *res;

	snprintf(p, sizeof(p), "%lld", (long long)prod);
	res = db_exec(own,
		      "SELECT target_set($1::bigint, $2, $3::numeric,"
		      " $4::numeric, lb_today() - 1, NULL, NULL, 'test')",
		      4, params, &e);
	ck_assert_msg(res != NULL, "%s", e.msg);
	PQclear(res);
}

START_TEST(test_targets_precedence_default_and_factor)
{
	struct readiness_filter f = {.scope = "region"};
	struct got g;
	int i;

	ev(site_a, prod, "receipt", 1000, 30, NULL, NULL);
	issue_daily(site_a, prod, 10, 27, 0);
	ev(site_12, prod, "receipt", 1000, 30, NULL, NULL);
	issue_daily(site_12, prod, 10, 27, 0);
	refresh();
	/* No target, no agreement: none. */
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	ck_assert_double_eq(g.r[find(&g, "01", prod)].in.target_days, 0);
	ck_assert_int_eq(g.r[find(&g, "01", prod)].out.status,
			 READINESS_NO_TARGET);
	/* Under an agreement: its default, 30 days and floor 7. */
	testdb_exec(own, "UPDATE product SET agreement_code = 'TO2022_LM'"
			 " WHERE vnr = '123456'");
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	i = find(&g, "01", prod);
	ck_assert_double_eq(g.r[i].in.target_days, 30);
	ck_assert_double_eq(g.r[i].in.floor_days, 7);
	/* 720 left at 10/day: 72 days, ok against 30. */
	ck_assert_int_eq(g.r[i].out.status, READINESS_OK);
	/* A national target, then region 12's own. */
	target_sql(NULL, "60", "20");
	target_sql("12", "90", "80");
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	i = find(&g, "01", prod);
	ck_assert_double_eq(g.r[i].in.target_days, 60);
	ck_assert_double_eq(g.r[i].in.floor_days, 20);
	ck_assert_int_eq(g.r[i].out.status, READINESS_OK);
	i = find(&g, "12", prod);
	ck_assert_double_eq(g.r[i].in.target_days, 90);
	ck_assert_int_eq(g.r[i].out.status, READINESS_BELOW_FLOOR);
	ck_assert_int_eq(g.r[i].out.shortfall, 900 - 720);
	/* The nation uses the national target. */
	f.scope = "nation";
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	ck_assert_double_eq(g.r[find(&g, "", prod)].in.target_days, 60);
	/* A level with factor 2 doubles targets: region 01 now below. */
	testdb_exec(own, "UPDATE readiness_level_factor SET factor = 2,"
			 " reason = 'test' WHERE level = 'heightened'");
	testdb_exec(own, "INSERT INTO readiness_level_history (level, reason,"
			 " set_by) VALUES ('heightened', 'test', 'x')");
	f.scope = "region";
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	i = find(&g, "01", prod);
	ck_assert_double_eq(g.r[i].out.target_days, 120);
	ck_assert_int_eq(g.r[i].out.status, READINESS_BELOW_TARGET);
	/* Filters: short only, agreement, category. */
	f.short_only = true;
	f.region = "01";
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	ck_assert_int_eq(g.n, 1);
	f.short_only = false;
	f.region = NULL;
	f.agreement = "TO2026_SJP";
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	ck_assert_int_eq(g.n, 0);
	f.agreement = NULL;
	f.category = "ppe";
	scan_as(ROLE_SYSTEM, NULL, &f, &g);
	ck_assert_int_eq(g.n, 0);
}
END_TEST

/* target_set replaces from its day on; history is kept; overlapping by
 * hand is refused. */
START_TEST(test_target_set_replaces)
{
	struct err e = {0};

	testdb_exec(own,
		    "SELECT target_set((SELECT id FROM product WHERE vnr ="
		    " '123456'), NULL, 30, 7, '2026-01-01', NULL, NULL, 'a')");
	testdb_exec(own,
		    "SELECT target_set((SELECT id FROM product WHERE vnr ="
		    " '123456'), NULL, 45, 7, '2026-06-01', NULL, NULL, 'b')");
	ck_assert_int_eq(testdb_scalar(own, "SELECT count(*) FROM target WHERE"
					    " valid_to = '2026-05-31'"),
			 1);
	/* Same again: nothing changes. */
	testdb_exec(own,
		    "SELECT target_set((SELECT id FROM product WHERE vnr ="
		    " '123456'), NULL, 45, 7, '2026-06-01', NULL, NULL, 'b')");
	ck_assert_int_eq(testdb_scalar(own, "SELECT count(*) FROM target"), 2);
	/* Same start, new numbers: the old row is withdrawn. */
	testdb_exec(own,
		    "SELECT target_set((SELECT id FROM product WHERE vnr ="
		    " '123456'), NULL, 50, 7, '2026-06-01', NULL, NULL, 'c')");
	ck_assert_int_eq(testdb_scalar(own, "SELECT count(*) FROM target WHERE"
					    " withdrawn_at IS NOT NULL"),
			 1);
	ck_assert_int_ne(db_command(own,
				    "INSERT INTO target (product_id,"
				    " target_days, valid_from, reason,"
				    " created_by) SELECT id, 10, '2026-07-01',"
				    " 'x', 'x' FROM product WHERE vnr ="
				    " '123456'",
				    0, NULL, &e),
			 0);
	ck_assert_int_ne(db_command(own, "DELETE FROM target", 0, NULL, &e), 0);
	ck_assert_int_ne(db_command(own, "UPDATE target SET target_days = 1", 0,
				    NULL, &e),
			 0);
	testdb_exec(own, "INSERT INTO readiness_level_history (level, reason,"
			 " set_by) VALUES ('heightened', 'test', 'x')");
	ck_assert_int_ne(db_command(own,
				    "UPDATE readiness_level_history SET"
				    " reason = 'x'",
				    0, NULL, &e),
			 0);
}
END_TEST

/* Region-scoped callers: their own sites only; regions for everyone;
 * writes by role. */
START_TEST(test_scoping_and_rls)
{
	struct readiness_filter f = {.scope = "site"};
	struct identity w;
	struct err e = {0};
	struct got g;

	ev(site_a, prod, "receipt", 10, 5, NULL, NULL);
	ev(site_12, prod, "receipt", 10, 5, NULL, NULL);
	refresh();
	scan_as(ROLE_REGION_CONTACT, "01", &f, &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.r[0].site, "01-A");
	f.scope = "region";
	scan_as(ROLE_REGION_CONTACT, "01", &f, &g);
	ck_assert_int_eq(g.n, 2);
	f.scope = "nation";
	scan_as(ROLE_VIEWER, NULL, &f, &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_int_eq(g.r[0].in.available, 20);

	/* The level: coordinators only. */
	w = who_is(ROLE_REGION_CONTACT, "01");
	ck_assert_msg(auth_begin(app, &w, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(readiness_level_set(app, "highest", "x", &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	db_rollback(app);
	/* A region's state: its own contact person, not another's. */
	ck_assert_msg(auth_begin(app, &w, &e) == 0, "%s", e.msg);
	ck_assert_msg(readiness_state_set(app, "01", "disaster", "storm", &e) ==
			      0,
		      "%s", e.msg);
	ck_assert_int_eq(readiness_state_set(app, "12", "disaster", "x", &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	db_rollback(app);
	w = who_is(ROLE_COORDINATOR, NULL);
	ck_assert_msg(auth_begin(app, &w, &e) == 0, "%s", e.msg);
	ck_assert_msg(
		readiness_state_set(app, "12", "disaster_risk", "x", &e) == 0,
		"%s", e.msg);
	ck_assert_msg(db_commit(app, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(testdb_scalar(own,
				       "SELECT count(*) FROM"
				       " region_state_history WHERE set_by"
				       " = 'u' AND state = 'disaster_risk'"),
			 1);
	/* Bad filters are refused before the database. */
	f.scope = "nation";
	f.region = "01";
	ck_assert_int_eq(readiness_filter_check(&f, &e), -1);
	ck_assert_str_eq(e.field, "region");
}
END_TEST

/* ---- the API ---- */

static struct httpclient_server srv;

static long call(const char *method, const char *path, const char *token,
		 const char *body, json_t **json)
{
	struct httpclient_request rq = {.method = method,
					.path = path,
					.token = token,
					.body = body,
					.body_len = body ? strlen(body) : 0};
	static const char *const hdr[] = {"Content-Type: application/json",
					  NULL};
	struct httpclient_response r;
	long status;

	rq.headers = hdr;
	ck_assert_msg(httpclient_do(&srv, &rq, &r) == 0, "%s %s: no answer",
		      method, path);
	status = r.status;
	ck_assert_msg(status != 500, "%s %s: 500 %s", method, path, r.body);
	if (json)
		*json = httpclient_json(&r);
	httpclient_response_free(&r);
	return status;
}

START_TEST(test_api)
{
	char *rc01, *rc12, *coord;
	json_t *j = NULL, *rows;

	ev(site_a, prod, "receipt", 1000, 30, NULL, NULL);
	issue_daily(site_a, prod, 10, 27, 0);
	ev(site_12, prod2, "receipt", 5, 30, NULL, NULL);
	refresh();
	rc01 = testdb_token("rc01", ROLE_REGION_CONTACT, "01");
	rc12 = testdb_token("rc12", ROLE_REGION_CONTACT, "12");
	coord = testdb_token("coord", ROLE_COORDINATOR, NULL);
	httpclient_start(&srv, dburl, NULL);

	ck_assert_int_eq(call("GET", "/api/v1/readiness", rc12, NULL, &j), 200);
	rows = json_object_get(j, "rows");
	ck_assert_int_eq(json_array_size(rows), 2);
	json_decref(j);
	ck_assert_int_eq(call("GET", "/api/v1/readiness?scope=site&region=01",
			      rc12, NULL, NULL),
			 403);
	ck_assert_int_eq(
		call("GET", "/api/v1/readiness?scope=site", rc12, NULL, &j),
		200);
	rows = json_object_get(j, "rows");
	ck_assert_int_eq(json_array_size(rows), 1);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(rows, 0), "site")),
			 "12-A");
	json_decref(j);
	ck_assert_int_eq(call("GET",
			      "/api/v1/readiness?product=234567&"
			      "scope=nation",
			      rc01, NULL, &j),
			 200);
	rows = json_object_get(j, "rows");
	ck_assert_int_eq(json_array_size(rows), 1);
	ck_assert(json_is_true(
		json_object_get(json_array_get(rows, 0), "days_infinite")));
	ck_assert(
		json_is_null(json_object_get(json_array_get(rows, 0), "days")));
	json_decref(j);
	ck_assert_int_eq(
		call("GET", "/api/v1/readiness?status=bogus", rc01, NULL, NULL),
		400);
	ck_assert_int_eq(call("GET", "/api/v1/readiness?scope=nation&region=01",
			      rc01, NULL, NULL),
			 400);
	ck_assert_int_eq(
		call("GET", "/api/v1/readiness?window=0", rc01, NULL, NULL),
		400);

	/* Targets: coordinators write; the status filter sees the result. */
	ck_assert_int_eq(call("POST", "/api/v1/targets", rc01,
			      "{\"product\":\"123456\",\"target_days\":90,"
			      "\"reason\":\"x\"}",
			      NULL),
			 403);
	ck_assert_int_eq(call("POST", "/api/v1/targets", coord,
			      "{\"product\":\"123456\",\"target_days\":90,"
			      "\"floor_days\":\"7,5\",\"region\":\"01\","
			      "\"reason\":\"list 2026\"}",
			      &j),
			 201);
	ck_assert_double_eq(
		json_number_value(json_object_get(json_object_get(j, "target"),
						  "floor_days")),
		7.5);
	json_decref(j);
	ck_assert_int_eq(call("POST", "/api/v1/targets", coord,
			      "{\"product\":\"123456\",\"target_days\":5,"
			      "\"floor_days\":9,\"reason\":\"x\"}",
			      NULL),
			 400);
	ck_assert_int_eq(call("GET", "/api/v1/readiness?status=below_target",
			      rc12, NULL, &j),
			 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "rows")), 1);
	json_decref(j);
	ck_assert_int_eq(
		call("GET", "/api/v1/targets?product=123456", rc12, NULL, &j),
		200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "targets")), 1);
	json_decref(j);
	ck_assert_int_eq(call("PATCH", "/api/v1/targets/1", coord,
			      "{\"reason\":\"ended\"}", NULL),
			 200);
	ck_assert_int_eq(call("PATCH", "/api/v1/targets/999", coord,
			      "{\"reason\":\"ended\"}", NULL),
			 404);

	/* The level and a region's state. */
	ck_assert_int_eq(call("PUT", "/api/v1/readiness-level", rc01,
			      "{\"level\":\"highest\",\"reason\":\"x\"}", NULL),
			 403);
	ck_assert_int_eq(call("PUT", "/api/v1/readiness-level", coord,
			      "{\"level\":\"high\",\"reason\":\"x\"}", NULL),
			 400);
	ck_assert_int_eq(call("PUT", "/api/v1/readiness-level", coord,
			      "{\"level\":\"peacetime_crisis\","
			      "\"reason\":\"storm\"}",
			      &j),
			 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "level")),
			 "peacetime_crisis");
	json_decref(j);
	ck_assert_int_eq(
		call("GET", "/api/v1/readiness-level", rc12, NULL, NULL), 200);
	ck_assert_int_eq(call("PUT", "/api/v1/regions/12/state", rc01,
			      "{\"state\":\"disaster\",\"reason\":\"x\"}",
			      NULL),
			 403);
	ck_assert_int_eq(call("PUT", "/api/v1/regions/12/state", rc12,
			      "{\"state\":\"disaster\",\"reason\":\"storm\"}",
			      NULL),
			 200);
	ck_assert_int_eq(
		call("GET", "/api/v1/regions/12/state", rc01, NULL, &j), 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "state")),
			 "disaster");
	ck_assert_int_eq(json_array_size(json_object_get(j, "history")), 1);
	json_decref(j);
	ck_assert_int_eq(
		call("GET", "/api/v1/regions/99/state", rc01, NULL, NULL), 404);
	httpclient_stop(&srv, 10);
	httpclient_cleanup(&srv);
}
END_TEST

/* ---- the CLI ---- */

/* The binary's exit status; its stdout into out. */
static int cli(char *out, size_t size, const char *const *args)
{
	return testdb_cli(dburl, false, out, size, args);
}

START_TEST(test_cli)
{
	static char out[65536];

	ev(site_a, prod, "receipt", 1000, 30, NULL, NULL);
	issue_daily(site_a, prod, 10, 27, 0);
	ck_assert_int_eq(
		cli(out, sizeof(out),
		    (const char *const[]){"readiness", "refresh", NULL}),
		0);
	ck_assert_msg(strstr(out, "read 29 events") != NULL, "%s", out);
	ck_assert_int_eq(cli(out, sizeof(out),
			     (const char *const[]){"readiness", "targets",
						   "set", "--product", "123456",
						   "--target-days", "120",
						   "--floor-days", "30",
						   "--reason", "test", NULL}),
			 0);
	ck_assert_int_eq(cli(out, sizeof(out),
			     (const char *const[]){"readiness", "--short",
						   "--tsv", NULL}),
			 0);
	ck_assert_msg(strstr(out, "01\t") && strstr(out, "below_target"), "%s",
		      out);
	ck_assert_int_eq(cli(out, sizeof(out),
			     (const char *const[]){"readiness", "--scope",
						   "site", "--json", NULL}),
			 0);
	{
		json_t *j = json_loads(out, 0, NULL);

		ck_assert_msg(json_array_size(j) == 1, "%s", out);
		ck_assert_str_eq(json_string_value(json_object_get(
					 json_array_get(j, 0), "site")),
				 "01-A");
		json_decref(j);
	}
	ck_assert_int_eq(
		cli(out, sizeof(out),
		    (const char *const[]){"readiness", "level", "set",
					  "highest", "--reason", "war", NULL}),
		0);
	ck_assert_msg(strstr(out, "\"highest\""), "%s", out);
	ck_assert_int_eq(cli(out, sizeof(out),
			     (const char *const[]){"readiness", "level", "set",
						   "highest", NULL}),
			 2);
	ck_assert_int_eq(cli(out, sizeof(out),
			     (const char *const[]){"readiness", "--scope",
						   "galaxy", NULL}),
			 2);
	ck_assert_int_eq(
		cli(out, sizeof(out),
		    (const char *const[]){"readiness", "state", "--region",
					  "09", "set", "disaster", "--reason",
					  "storm", NULL}),
		0);
	ck_assert_int_eq(testdb_scalar(own, "SELECT count(*) FROM"
					    " region_state_history"),
			 1);
}
END_TEST

/* ---- the targets feed ---- */

static int run_import(const char *path, enum role role, const char *region,
		      struct import_report *rep, struct err *e)
{
	struct identity w = who_is(role, region);
	struct import_options opt = {.source = path, .partial = true};

	memset(rep, 0, sizeof(*rep));
	return import_execute(app, &w, &import_feed_targets, path, &opt, NULL,
			      NULL, NULL, rep, e);
}

static bool has_error(const struct import_report *rep, int64_t line,
		      const char *field)
{
	size_t i;
	json_t *x;

	json_array_foreach(rep->errors, i, x)
	{
		if (json_integer_value(json_object_get(x, "line")) == line &&
		    strcmp(json_string_value(json_object_get(x, "field")),
			   field) == 0)
			return true;
	}
	return false;
}

START_TEST(test_import_targets)
{
	struct import_report rep;
	struct err e = {0};

	ck_assert_msg(run_import("tests/data/targets/good.csv", ROLE_IMPORTER,
				 NULL, &rep, &e) == 0,
		      "%s", e.msg);
	ck_assert_str_eq(rep.status, "done");
	ck_assert_int_eq(rep.rows_applied, 3);
	import_report_free(&rep);
	ck_assert_int_eq(testdb_scalar(own, "SELECT count(*) FROM target"
					    " WHERE withdrawn_at IS NULL"),
			 3);
	ck_assert_int_eq(testdb_scalar(own, "SELECT count(*) FROM target"
					    " WHERE region_code = '14' AND"
					    " floor_days = 10.5"),
			 1);
	/* A later list replaces from its date; the earlier ends the day
	 * before. */
	ck_assert_msg(run_import("tests/data/targets/later.csv",
				 ROLE_COORDINATOR, NULL, &rep, &e) == 0,
		      "%s", e.msg);
	ck_assert_str_eq(rep.status, "done");
	import_report_free(&rep);
	ck_assert_int_eq(testdb_scalar(own, "SELECT count(*) FROM target WHERE"
					    " region_code IS NULL AND valid_to"
					    " = '2026-06-30'"),
			 1);
	/* A regional importer or contact person may not. */
	ck_assert_int_eq(run_import("tests/data/targets/good.csv",
				    ROLE_IMPORTER, "01", &rep, &e),
			 -1);
	import_report_free(&rep);
	/* Every rejection with its line and field. */
	ck_assert_msg(run_import("tests/data/targets/bad.csv", ROLE_IMPORTER,
				 NULL, &rep, &e) == 0,
		      "%s", e.msg);
	ck_assert_str_eq(rep.status, "partial");
	ck_assert_int_eq(rep.rows_applied, 1);
	ck_assert(has_error(&rep, 3, "product"));     /* malformed */
	ck_assert(has_error(&rep, 4, "product"));     /* unknown */
	ck_assert(has_error(&rep, 5, "region"));      /* 02 */
	ck_assert(has_error(&rep, 6, "target_days")); /* 0 */
	ck_assert(has_error(&rep, 7, "target_days")); /* abc */
	ck_assert(has_error(&rep, 8, "floor_days"));  /* above target */
	ck_assert(has_error(&rep, 9, "valid_from"));  /* not a date */
	ck_assert(has_error(&rep, 10, "valid_to"));   /* before from */
	ck_assert(has_error(&rep, 11, "agreement"));  /* unknown */
	ck_assert(has_error(&rep, 12, "valid_from")); /* duplicate of 2 */
	ck_assert(has_error(&rep, 13, "agreement"));  /* malformed */
	ck_assert(has_error(&rep, 14, "floor_days")); /* 3 decimals */
	ck_assert_int_eq(rep.rows_rejected, 12);
	import_report_free(&rep);
}
END_TEST

Suite *readiness_suite(void)
{
	Suite *s = suite_create("readiness");
	TCase *tc = tcase_create("db");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_rollup_incremental);
	tcase_add_test(tc, test_rollup_reversal_and_privileges);
	tcase_add_test(tc, test_window_sums);
	tcase_add_test(tc, test_region_rows);
	tcase_add_test(tc, test_available_excludes_expired_and_quarantined);
	tcase_add_test(tc, test_rate_with_stockout_days);
	tcase_add_test(tc, test_too_little_history_and_no_consumption);
	tcase_add_test(tc, test_consumption_reports);
	tcase_add_test(tc, test_targets_precedence_default_and_factor);
	tcase_add_test(tc, test_target_set_replaces);
	tcase_add_test(tc, test_scoping_and_rls);
	tcase_add_test(tc, test_api);
	tcase_add_test(tc, test_cli);
	tcase_add_test(tc, test_import_targets);
	suite_add_tcase(s, tc);
	return s;
}
