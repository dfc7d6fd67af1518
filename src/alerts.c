/*
 * alerts.c -- the alert rules, their evaluation, and the server's alert
 * thread (see alerts.h).
 *
 * The conditions that hold are gathered into the temporary table
 * alert_now: the readiness rules from readiness_scan (C computes, one
 * way), the others set-wise in SQL.  Three statements then merge alert_now
 * into alert.  Everything the rules read is indexed by (region, product)
 * or small, except stock_balance, which a sweep reads once per rule that
 * needs it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "readiness_report.h"
#include "alerts.h"
#include "auth.h"
#include "catalog.h"
#include "log.h"
#include "mailer.h"
#include "validate.h"
#include "verify.h"
#include "webhook.h"

static const char *const rule_names[] = {
	"stockout",	   "below_floor",     "below_target",
	"expiring_lots",   "shortage_notice", "stale_reporting",
	"region_disaster", "ledger_drift",    "obligatory_decline",
	"behind_plan",
};
#define NRULES (sizeof(rule_names) / sizeof(rule_names[0]))

static const char *const severity_names[] = {"info", "warning", "critical"};

/* What a (region, product) evaluation covers, as a SQL array. */
/* What a (region, product) evaluation covers, as a SQL array.
 * obligatory_decline is in none: a decision opens it (sql/011) and
 * allocation_obligatory_resolve() ends it, so an evaluation that does not
 * find it holding must not resolve it. */
static const char keyed_rules[] = "{stockout,below_floor,below_target,"
				  "expiring_lots,shortage_notice,"
				  "stale_reporting,behind_plan}";
static const char sweep_rules[] =
	"{stockout,below_floor,below_target,"
	"expiring_lots,shortage_notice,"
	"stale_reporting,behind_plan,region_disaster}";
static const char all_rules[] = "{stockout,below_floor,below_target,"
				"expiring_lots,shortage_notice,"
				"stale_reporting,behind_plan,region_disaster,"
				"ledger_drift}";

void alerts_options_default(struct alerts_options *o)
{
	*o = (struct alerts_options){
		.expiry_days = ALERTS_EXPIRY_DAYS_DEFAULT,
		.stale_days = ALERTS_STALE_DAYS_DEFAULT,
		.verify = true,
		.refresh = true,
		.deliver = true,
	};
}

int alerts_rule_check(const char *s, const char *field, struct err *e)
{
	for (size_t i = 0; s && i < NRULES; i++)
		if (strcmp(s, rule_names[i]) == 0)
			return 0;
	return err_set(e, ERR_INVALID, field,
		       "%s \"%.40s\": not one of stockout, below_floor, "
		       "below_target, expiring_lots, shortage_notice, "
		       "stale_reporting, region_disaster, ledger_drift",
		       field, s ? s : "");
}

int alerts_severity_check(const char *s, const char *field, struct err *e)
{
	for (size_t i = 0; s && i < 3; i++)
		if (strcmp(s, severity_names[i]) == 0)
			return 0;
	return err_set(e, ERR_INVALID, field,
		       "%s \"%.40s\": not one of info, warning, critical",
		       field, s ? s : "");
}

/* ---- a growable text buffer (arrays for unnest) ---- */

/* Sticky failure: appends after a failure do nothing; checked once. */
struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

/* A readiness sweep of the nation at most: 20 MB of array text. */
#define BUF_MAX (64u * 1024 * 1024)

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > BUF_MAX || !(p = realloc(b->p, cap))) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append one element of a text array under construction. */
static void buf_elem(struct buf *b, const char *s)
{
	buf_add(b, b->len > 1 ? "," : "", b->len > 1 ? 1 : 0);
	buf_str(b, s);
}

static void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){0};
}

/* ---- the readiness rules ---- */

enum {
	COL_RULE,
	COL_SEV,
	COL_REGION,
	COL_PRODUCT,
	COL_AVAIL,
	COL_RATE,
	COL_DAYS,
	COL_TARGET,
	COL_FLOOR,
	COL_SHORT,
	COL_WINDOW,
	NCOLS
};

struct gather {
	struct buf col[NCOLS];
	int64_t rows;
};

static void num(struct buf *b, double v, bool known)
{
	char s[40];

	if (!known) {
		buf_elem(b, "NULL");
		return;
	}
	snprintf(s, sizeof(s), "%.3f", v);
	buf_elem(b, s);
}

static void int_elem(struct buf *b, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	buf_elem(b, s);
}

static int on_readiness(const struct readiness_row *row, void *arg)
{
	struct gather *g = arg;
	const struct readiness_result *r = &row->out;
	const char *rule, *sev;

	if (!row->region)
		return 0;
	switch (r->status) {
	case READINESS_STOCKOUT:
		/* Nothing on hand of a product the region has no history of
		 * is not a stockout: it does not use it. */
		if (row->in.history_days == 0 && row->in.issued == 0)
			return 0;
		rule = "stockout";
		sev = "critical";
		break;
	case READINESS_BELOW_FLOOR:
		rule = "below_floor";
		sev = "warning";
		break;
	case READINESS_BELOW_TARGET:
		rule = "below_target";
		sev = "info";
		break;
	default: return 0;
	}
	buf_elem(&g->col[COL_RULE], rule);
	buf_elem(&g->col[COL_SEV], sev);
	buf_elem(&g->col[COL_REGION], row->region);
	int_elem(&g->col[COL_PRODUCT], row->product_id);
	int_elem(&g->col[COL_AVAIL], row->in.available);
	num(&g->col[COL_RATE], r->rate, r->rate_known);
	num(&g->col[COL_DAYS], r->days, r->rate_known && !r->days_infinite);
	num(&g->col[COL_TARGET], r->target_days, r->target_days > 0);
	num(&g->col[COL_FLOOR], r->floor_days, r->floor_days > 0);
	if (r->shortfall >= 0)
		int_elem(&g->col[COL_SHORT], r->shortfall);
	else
		buf_elem(&g->col[COL_SHORT], "NULL");
	int_elem(&g->col[COL_WINDOW], row->in.window_days);
	g->rows++;
	return 0;
}

static const char readiness_insert_sql[] =
	"INSERT INTO alert_now (rule, severity, region_code, product_id,"
	" scope_key, title, details)"
	" SELECT r.rule::alert_rule, r.sev::alert_severity, r.region,"
	"  r.product_id, format('region:%s/product:%s', r.region, r.product_id),"
	"  format('%s: %s, region %s %s', CASE r.rule"
	"    WHEN 'stockout' THEN 'Out of stock'"
	"    WHEN 'below_floor' THEN 'Below floor'"
	"    ELSE 'Below target' END, p.name, g.code, g.name),"
	"  jsonb_strip_nulls(jsonb_build_object('available', r.available,"
	"   'rate', r.rate, 'days', r.days, 'target_days', r.target_days,"
	"   'floor_days', r.floor_days, 'shortfall', r.shortfall,"
	"   'window_days', r.win))"
	" FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],"
	"  $5::bigint[], $6::numeric[], $7::numeric[], $8::numeric[],"
	"  $9::numeric[], $10::bigint[], $11::int[])"
	"  AS r(rule, sev, region, product_id, available, rate, days,"
	"  target_days, floor_days, shortfall, win)"
	" JOIN product p ON p.id = r.product_id"
	" JOIN region g ON g.code = r.region";

/* Scan readiness for region (NULL: all) and the products asked, and put
 * the short ones in alert_now. */
static int readiness_rules(struct db *db, const char *region,
			   const int64_t *products, size_t n,
			   const struct alerts_options *o, struct err *e)
{
	struct readiness_filter f = {.scope = "region",
				     .region = region,
				     .short_only = true,
				     .any_order = true,
				     .window_days = o->window_days,
				     .product_ids = products,
				     .nproducts = products ? n : 0};
	struct gather g = {0};
	const char *params[NCOLS];
	int rc = -1;

	for (int c = 0; c < NCOLS; c++)
		buf_str(&g.col[c], "{");
	if (readiness_scan(db, &f, on_readiness, &g, e) < 0)
		goto out;
	if (g.rows == 0) {
		rc = 0;
		goto out;
	}
	for (int c = 0; c < NCOLS; c++) {
		buf_str(&g.col[c], "}");
		if (g.col[c].failed) {
			err_set(e, ERR_INTERNAL, "",
				"readiness alerts: out of memory");
			goto out;
		}
		params[c] = g.col[c].p;
	}
	rc = db_command(db, readiness_insert_sql, NCOLS, params, e);
out:
	for (int c = 0; c < NCOLS; c++)
		buf_free(&g.col[c]);
	return rc;
}

/* ---- subscription filters ---- */

static int check_list(const char *const *v, size_t n, const char *field,
		      int (*check)(const char *, const char *, struct err *),
		      struct err *e)
{
	if (n > ALERTS_FILTER_MAX)
		return err_set(e, ERR_INVALID, field,
			       "%s: %zu entries; at most %d", field, n,
			       ALERTS_FILTER_MAX);
	for (size_t i = 0; i < n; i++)
		if (check(v[i], field, e) < 0)
			return -1;
	return 0;
}

int alerts_filter_check(const char *const *regions, size_t nregions,
			const char *const *categories, size_t ncategories,
			const char *const *rules, size_t nrules,
			const char *min_severity, const char *description,
			struct err *e)
{
	if (check_list(regions, nregions, "regions", validate_region_code, e) <
		    0 ||
	    check_list(categories, ncategories, "categories",
		       catalog_check_category, e) < 0 ||
	    check_list(rules, nrules, "rules", alerts_rule_check, e) < 0 ||
	    (min_severity &&
	     alerts_severity_check(min_severity, "min_severity", e) < 0) ||
	    (description &&
	     validate_text(description, 200, false, "description", e) < 0))
		return -1;
	return 0;
}

/* ---- the rules in SQL ---- */

/*
 * Each takes $1 region (NULL: all), $2 products (NULL: all) and $3 its
 * parameter (days).  Scope keys name ids, titles name things.
 */
static const char expiring_sql[] =
	"INSERT INTO alert_now"
	" SELECT 'expiring_lots',"
	"  CASE WHEN b.expiry < lb_today() + 30 THEN 'warning'"
	"   ELSE 'info' END::alert_severity,"
	"  b.region_code, b.product_id, b.site_id, b.lot,"
	"  format('region:%s/site:%s/product:%s/lot:%s', b.region_code,"
	"   b.site_id, b.product_id, b.lot),"
	"  format('%s: lot %s at %s %s %s (%s %s)', p.name,"
	"   CASE WHEN b.lot = '' THEN '(none)' ELSE b.lot END, s.code,"
	"   CASE WHEN b.expiry < lb_today() THEN 'expired' ELSE 'expires' END,"
	"   b.expiry, b.quantity, p.base_unit),"
	"  jsonb_build_object('quantity', b.quantity, 'expiry', b.expiry,"
	"   'days', b.expiry - lb_today(), 'site', s.code, 'lot', b.lot)"
	" FROM stock_balance b"
	" JOIN site s ON s.id = b.site_id"
	" JOIN product p ON p.id = b.product_id"
	" WHERE b.quantity > 0 AND b.expiry IS NOT NULL"
	"  AND b.expiry < lb_today() + $3::int"
	"  AND ($1::char(2) IS NULL OR b.region_code = $1)"
	"  AND ($2::bigint[] IS NULL OR b.product_id = ANY ($2))";

/* A notice per product (the active one first, then the newest); the
 * regions that hold or use the product. */
static const char shortage_sql[] =
	"INSERT INTO alert_now"
	" SELECT 'shortage_notice',"
	"  CASE WHEN n.status = 'active' THEN 'warning'"
	"   ELSE 'info' END::alert_severity,"
	"  g.code, n.product_id, NULL, NULL,"
	"  format('region:%s/product:%s', g.code, n.product_id),"
	"  format('Shortage notice %s (%s): %s, region %s %s', n.notice_id,"
	"   n.status, p.name, g.code, g.name),"
	"  jsonb_strip_nulls(jsonb_build_object('notice_id', n.notice_id,"
	"   'status', n.status, 'starts_on', n.starts_on,"
	"   'expected_end', n.expected_end, 'reason', n.reason,"
	"   'held', coalesce(h.quantity, 0)))"
	" FROM (SELECT DISTINCT ON (product_id) * FROM shortage_notice"
	"  WHERE product_id IS NOT NULL AND status IN ('active', 'forecast')"
	"   AND ($2::bigint[] IS NULL OR product_id = ANY ($2))"
	"  ORDER BY product_id, status = 'active' DESC, starts_on DESC,"
	"   notice_id) n"
	" JOIN product p ON p.id = n.product_id"
	" JOIN region g ON $1::char(2) IS NULL OR g.code = $1"
	" LEFT JOIN region_product_stock h"
	"  ON h.region_code = g.code AND h.product_id = n.product_id"
	" WHERE h.quantity > 0"
	"  OR EXISTS (SELECT 1 FROM stock_event e"
	"   WHERE e.region_code = g.code AND e.product_id = n.product_id"
	"    AND e.occurred_at >= lb_today() - $3::int AND e.kind = 'issue')"
	"  OR EXISTS (SELECT 1 FROM consumption_report c"
	"   WHERE c.region_code = g.code AND c.product_id = n.product_id"
	"    AND c.period_end >= lb_today() - $3::int AND c.quantity > 0)";

static const char stale_sql[] =
	"INSERT INTO alert_now"
	" SELECT 'stale_reporting', 'info', b.region_code, b.product_id,"
	"  NULL, NULL,"
	"  format('region:%s/product:%s', b.region_code, b.product_id),"
	"  format('No stock reported for %s, region %s, since %s', p.name,"
	"   b.region_code, to_char(b.last AT TIME ZONE 'Europe/Stockholm',"
	"   'YYYY-MM-DD')),"
	"  jsonb_build_object('last_reported_at', b.last, 'quantity', b.qty,"
	"   'days', lb_today() - (b.last AT TIME ZONE 'Europe/Stockholm')::date)"
	" FROM (SELECT region_code, product_id, max(updated_at) AS last,"
	"   sum(quantity) AS qty FROM stock_balance"
	"  WHERE ($1::char(2) IS NULL OR region_code = $1)"
	"   AND ($2::bigint[] IS NULL OR product_id = ANY ($2))"
	"  GROUP BY region_code, product_id) b"
	" JOIN product p ON p.id = b.product_id"
	" WHERE b.qty > 0 AND b.last < now() - make_interval(days => $3::int)";

/* Regions behind their build-up plan (sql/011_allocation.sql). */
static const char behind_plan_sql[] =
	"INSERT INTO alert_now SELECT rule::alert_rule,"
	" severity::alert_severity, region_code, product_id, site_id, lot,"
	" scope_key, title, details"
	" FROM allocation_plan_behind($1, $2::bigint[])";

/* Only in a sweep; the table comes with sql/007_readiness.sql. */
static const char disaster_sql[] =
	"INSERT INTO alert_now"
	" SELECT 'region_disaster', 'critical', h.region_code, NULL, NULL, NULL,"
	"  'region:' || h.region_code,"
	"  format('Region %s %s is in disaster state (katastroftillstånd)"
	" since %s', h.region_code, g.name,"
	"   to_char(h.set_at AT TIME ZONE 'Europe/Stockholm', 'YYYY-MM-DD')),"
	"  jsonb_build_object('state', h.state, 'since', h.set_at,"
	"   'set_by', h.set_by, 'reason', h.reason)"
	" FROM (SELECT DISTINCT ON (region_code) * FROM region_state_history"
	"  ORDER BY region_code, id DESC) h"
	" JOIN region g ON g.code = h.region_code"
	" WHERE h.state::text = 'disaster'";

static const char drift_sql[] =
	"INSERT INTO alert_now"
	" SELECT 'ledger_drift', 'critical', NULL, NULL, NULL, NULL, 'nation',"
	"  format('Ledger drift: %s stored balances or aggregates differ from"
	" the ledger (lagerbild verify)', $1::bigint),"
	"  jsonb_build_object('drifts', $1::bigint, 'first', $2::jsonb)";

/* ---- merging alert_now into alert ---- */

static const char now_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS alert_now ("
	" rule alert_rule NOT NULL, severity alert_severity NOT NULL,"
	" region_code char(2), product_id bigint, site_id bigint, lot text,"
	" scope_key text NOT NULL, title text NOT NULL,"
	" details jsonb NOT NULL) ON COMMIT DELETE ROWS";

/* The resolving anti-join probes it once per open alert. */
static const char now_index_sql[] =
	"CREATE INDEX IF NOT EXISTS alert_now_key ON alert_now (rule, scope_key)";

static const char refresh_sql[] =
	"UPDATE alert a SET severity = n.severity, title = n.title,"
	" details = n.details, last_seen_at = now()"
	" FROM alert_now n"
	" WHERE a.resolved_at IS NULL AND a.rule = n.rule"
	"  AND a.scope_key = n.scope_key"
	"  AND (a.severity <> n.severity OR a.title <> n.title"
	"   OR a.details <> n.details"
	"   OR a.last_seen_at < now() - interval '" ALERTS_SEEN_GRANULARITY
	"')";

static const char open_sql[] =
	"INSERT INTO alert (rule, severity, region_code, product_id, site_id,"
	" lot, scope_key, title, details)"
	" SELECT DISTINCT ON (n.rule, n.scope_key) n.rule, n.severity,"
	"  n.region_code, n.product_id, n.site_id, n.lot, n.scope_key,"
	"  n.title, n.details"
	" FROM alert_now n"
	" WHERE NOT EXISTS (SELECT 1 FROM alert a WHERE a.resolved_at IS NULL"
	"  AND a.rule = n.rule AND a.scope_key = n.scope_key)"
	" ORDER BY n.rule, n.scope_key"
	" ON CONFLICT (rule, scope_key) WHERE resolved_at IS NULL DO NOTHING";

/* $1 region, $2 products, $3 the rules evaluated. */
static const char resolve_sql[] =
	"UPDATE alert a SET resolved_at = now()"
	" WHERE a.resolved_at IS NULL AND a.rule = ANY ($3::alert_rule[])"
	"  AND ($1::char(2) IS NULL OR a.region_code = $1)"
	"  AND ($2::bigint[] IS NULL OR a.product_id = ANY ($2))"
	"  AND NOT EXISTS (SELECT 1 FROM alert_now n WHERE n.rule = a.rule"
	"   AND n.scope_key = a.scope_key)";

static int64_t affected(PGresult *q)
{
	const char *s = PQcmdTuples(q);

	return s && s[0] ? strtoll(s, NULL, 10) : 0;
}

static int run_counted(struct db *db, const char *sql, int n,
		       const char *const *params, int64_t *count, struct err *e)
{
	PGresult *q = db_exec(db, sql, n, params, e);

	if (!q)
		return -1;
	if (count)
		*count += affected(q);
	PQclear(q);
	return 0;
}

/* One drift, kept for the alert's details (the first few). */
struct drifts {
	json_t *first;
	int64_t n;
};

static void on_drift(void *ctx, const struct verify_drift *d)
{
	struct drifts *ds = ctx;

	if (ds->n++ < 20)
		json_array_append_new(
			ds->first,
			json_pack("{s:s, s:s, s:I, s:I}", "check", d->check,
				  "where", d->where, "expected",
				  (json_int_t)d->expected, "actual",
				  (json_int_t)d->actual));
}

static bool table_exists(struct db *db, const char *name)
{
	const char *params[] = {name};
	struct err e = {0};
	PGresult *q = db_exec(db, "SELECT to_regclass($1) IS NOT NULL", 1,
			      params, &e);
	bool yes = q && strcmp(db_text(q, 0, 0), "t") == 0;

	PQclear(q);
	return yes;
}

/*
 * The evaluation.  region NULL and sweep: everything; else region's
 * products (ids NULL: all of them).
 */
static int evaluate(struct db *db, bool sweep, const char *region,
		    const int64_t *ids, size_t n,
		    const struct alerts_options *opt, struct alerts_counts *out,
		    struct err *e)
{
	struct alerts_options o = *opt;
	struct drifts ds = {0};
	char *prod = NULL;
	struct identity sys;
	char expiry[16], stale[16], window[16], ndrift[24];
	const char *params[3];
	char *first = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (o.expiry_days < 1 || o.expiry_days > 3650 || o.stale_days < 1 ||
	    o.stale_days > 3650 || o.window_days < 0 ||
	    o.window_days > READINESS_WINDOW_MAX)
		return err_set(e, ERR_INVALID, "",
			       "alert options out of range: expiry %d and "
			       "stale %d days (1..3650), window %d (0..%d)",
			       o.expiry_days, o.stale_days, o.window_days,
			       READINESS_WINDOW_MAX);
	if (n > ALERTS_KEYS_PER_REGION_MAX) {
		ids = NULL;
		n = 0;
	}
	if (sweep && o.verify) {
		struct verify_totals t;

		ds.first = json_array();
		if (!ds.first)
			return err_set(e, ERR_INTERNAL, "", "out of memory");
		if (verify_run(db, on_drift, &ds, &t, e) < 0)
			goto out;
		out->drifts = ds.n;
		first = json_dumps(ds.first, JSON_COMPACT);
		if (!first) {
			err_set(e, ERR_INTERNAL, "", "out of memory");
			goto out;
		}
	}
	if (ids) {
		prod = readiness_products_text(ids, n);
		if (!prod) {
			err_set(e, ERR_INTERNAL, "", "out of memory");
			goto out;
		}
	}
	snprintf(expiry, sizeof(expiry), "%d", o.expiry_days);
	snprintf(stale, sizeof(stale), "%d", o.stale_days);
	snprintf(window, sizeof(window), "%d",
		 o.window_days ? o.window_days : READINESS_WINDOW_DEFAULT);

	auth_system_identity(&sys, "alerts");
	if (auth_begin(db, &sys, e) < 0)
		goto out;
	/* One evaluation at a time: a sweep and the server's incremental
	 * ones would otherwise resolve what the other just opened. */
	if (db_command(db,
		       "SELECT pg_advisory_xact_lock(hashtextextended("
		       "'lagerbild.alerts', 0))",
		       0, NULL, e) < 0 ||
	    db_command(db, now_sql, 0, NULL, e) < 0 ||
	    db_command(db, now_index_sql, 0, NULL, e) < 0 ||
	    db_command(db, "TRUNCATE alert_now", 0, NULL, e) < 0)
		goto fail;

	if (readiness_rules(db, sweep ? NULL : region, ids, n, &o, e) < 0)
		goto fail;
	params[0] = sweep ? NULL : region;
	params[1] = prod;
	params[2] = expiry;
	if (db_command(db, expiring_sql, 3, params, e) < 0)
		goto fail;
	params[2] = window;
	if (db_command(db, shortage_sql, 3, params, e) < 0)
		goto fail;
	params[2] = stale;
	if (db_command(db, stale_sql, 3, params, e) < 0 ||
	    db_command(db, behind_plan_sql, 2, params, e) < 0)
		goto fail;
	/* Declines of obligatory help end when the receiver is helped or
	 * out of disaster (sql/011); the sweep looks. */
	if (sweep && db_command(db, "SELECT allocation_obligatory_resolve()", 0,
				NULL, e) < 0)
		goto fail;
	if (sweep && table_exists(db, "region_state_history") &&
	    db_command(db, disaster_sql, 0, NULL, e) < 0)
		goto fail;
	if (sweep && o.verify && ds.n > 0) {
		snprintf(ndrift, sizeof(ndrift), "%lld", (long long)ds.n);
		params[0] = ndrift;
		params[1] = first;
		if (db_command(db, drift_sql, 2, params, e) < 0)
			goto fail;
	}
	/* Good plans for the merge need alert_now's size. */
	if (sweep && db_command(db, "ANALYZE alert_now", 0, NULL, e) < 0)
		goto fail;
	if (run_counted(db, "SELECT 1 FROM alert_now", 0, NULL,
			&out->conditions, e) < 0 ||
	    run_counted(db, refresh_sql, 0, NULL, &out->updated, e) < 0 ||
	    run_counted(db, open_sql, 0, NULL, &out->opened, e) < 0)
		goto fail;
	params[0] = sweep ? NULL : region;
	params[1] = prod;
	/* Without verify, drift is not evaluated and stays as it was. */
	params[2] = !sweep ? keyed_rules : o.verify ? all_rules : sweep_rules;
	if (run_counted(db, resolve_sql, 3, params, &out->resolved, e) < 0 ||
	    db_commit(db, e) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	db_rollback(db);
out:
	free(first);
	json_decref(ds.first);
	free(prod);
	return rc;
}

int alerts_sweep(struct db *db, const struct alerts_options *o,
		 struct alerts_counts *out, struct err *e)
{
	return evaluate(db, true, NULL, NULL, 0, o, out, e);
}

int alerts_evaluate(struct db *db, const char *region,
		    const int64_t *product_ids, size_t n,
		    const struct alerts_options *o, struct alerts_counts *out,
		    struct err *e)
{
	if (!region)
		return err_set(e, ERR_INVALID, "region",
			       "alerts_evaluate needs a region");
	return evaluate(db, false, region, n ? product_ids : NULL, n, o, out,
			e);
}

/* Bring the daily rollup up to the ledger (reports/readiness_report.h), in a
 * transaction of its own. */
static int refresh(struct db *db, struct err *e)
{
	return readiness_refresh(db, NULL, e);
}

int alerts_run(struct db *db, const struct alerts_options *o,
	       struct alerts_counts *out, struct err *e)
{
	struct webhook_counts w;
	struct err we = {0};
	struct webhook_counts m;
	struct err me = {0};

	if (o->refresh && refresh(db, e) < 0)
		return -1;
	if (alerts_sweep(db, o, out, e) < 0)
		return -1;
	if (o->deliver && webhook_deliver_due(db, NULL, &w, &we) < 0)
		log_err(&we);
	/* email: does nothing without LAGERBILD_SMTP_URL */
	if (o->deliver && mailer_deliver_due(db, NULL, &m, &me) < 0)
		log_err(&me);
	return 0;
}

/* ---- the server's alert thread ---- */

struct key {
	char region[3];
	int64_t product_id; /* 0: the whole region */
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	atomic_bool running;
	bool stop;
	bool sweep_due;
	struct key keys[ALERTS_QUEUE_MAX];
	size_t nkeys;
	char *conninfo;
	int interval_s;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void alerts_touch(const char *region, int64_t product_id)
{
	size_t i;

	if (!atomic_load_explicit(&W.running, memory_order_relaxed))
		return;
	pthread_mutex_lock(&W.mu);
	if (!region || !region[0]) {
		W.sweep_due = true;
		goto signal;
	}
	for (i = 0; i < W.nkeys; i++)
		if (memcmp(W.keys[i].region, region, 2) == 0 &&
		    (W.keys[i].product_id == product_id ||
		     W.keys[i].product_id == 0))
			goto out; /* already queued, or its region is */
	if (W.nkeys == ALERTS_QUEUE_MAX) {
		/* Full: the region as a whole replaces its keys. */
		size_t k = 0;

		for (i = 0; i < W.nkeys; i++)
			if (memcmp(W.keys[i].region, region, 2) != 0)
				W.keys[k++] = W.keys[i];
		if (k == W.nkeys) {
			W.sweep_due = true;
			goto signal;
		}
		W.nkeys = k;
		product_id = 0;
	}
	memcpy(W.keys[W.nkeys].region, region, 2);
	W.keys[W.nkeys].region[2] = '\0';
	W.keys[W.nkeys].product_id = product_id;
	W.nkeys++;
signal:
	pthread_cond_signal(&W.cv);
out:
	pthread_mutex_unlock(&W.mu);
}

static int64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* A connection acting as the system; NULL (logged) when there is none. */
static struct db *worker_connect(void)
{
	struct db *db = NULL;
	struct err e = {0};

	if (db_connect(&db, W.conninfo, &e) < 0 ||
	    db_become_app(db, "alerts", &e) < 0) {
		log_warning("alerts: no database: %s", e.msg);
		db_close(db);
		return NULL;
	}
	return db;
}

static int by_region(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = memcmp(x->region, y->region, 2);

	if (c)
		return c;
	return (x->product_id > y->product_id) -
	       (x->product_id < y->product_id);
}

/* Evaluate the drained keys, region by region.  -1 when the database
 * failed (the caller then sweeps on the next connection). */
static int evaluate_keys(struct db *db, struct key *keys, size_t n,
			 const struct alerts_options *o)
{
	int64_t ids[ALERTS_KEYS_PER_REGION_MAX + 1];
	struct alerts_counts c;
	struct err e = {0};

	qsort(keys, n, sizeof(*keys), by_region);
	if (o->refresh && refresh(db, &e) < 0)
		goto fail;
	for (size_t i = 0; i < n;) {
		size_t j = i, k = 0;
		bool whole = false;

		for (; j < n && memcmp(keys[j].region, keys[i].region, 2) == 0;
		     j++) {
			whole |= keys[j].product_id == 0;
			if (k <= ALERTS_KEYS_PER_REGION_MAX)
				ids[k++] = keys[j].product_id;
		}
		if (whole)
			k = 0;
		if (alerts_evaluate(db, keys[i].region, ids, k, o, &c, &e) < 0)
			goto fail;
		if (c.opened || c.resolved)
			log_info("alerts: region %s: %lld opened, %lld "
				 "resolved",
				 keys[i].region, (long long)c.opened,
				 (long long)c.resolved);
		i = j;
	}
	return 0;
fail:
	log_warning("alerts: evaluation failed: %s", e.msg);
	return -1;
}

static void *worker(void *arg)
{
	struct key *keys = calloc(ALERTS_QUEUE_MAX, sizeof(*keys));
	struct alerts_options o;
	struct db *db = NULL;
	int64_t next_sweep = mono_s() + W.interval_s, next_poll = 0,
		pace_ms = 0;

	(void)arg;
	alerts_options_default(&o);
	/* verify reads the whole ledger: the timer's `alerts run` does it */
	o.verify = false;
	o.deliver = false; /* below, after every round */
	if (!keys) {
		log_error("alerts: out of memory; the alert thread stops");
		return NULL;
	}
	for (;;) {
		struct webhook_counts wc;
		struct webhook_counts mc;
		struct err e = {0};
		bool sweep;
		size_t n;

		/* Evaluation yields to the writes it follows: after a round
		 * that took t, wait ALERTS_PACING * t (keys coalesce meanwhile),
		 * so that it takes at most 1 / (1 + ALERTS_PACING) of the
		 * time. */
		for (int64_t until = mono_ms() + pace_ms;
		     pace_ms > 0 && mono_ms() < until && !W.stop;)
			sleep_ms(until - mono_ms() < 200 ? until - mono_ms() :
							   200);
		pthread_mutex_lock(&W.mu);
		while (!W.stop && W.nkeys == 0 && !W.sweep_due &&
		       mono_s() < next_sweep && mono_s() < next_poll + 10) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&W.cv, &W.mu, &until);
		}
		if (W.stop) {
			pthread_mutex_unlock(&W.mu);
			break;
		}
		sweep = W.sweep_due || mono_s() >= next_sweep;
		n = W.nkeys;
		memcpy(keys, W.keys, n * sizeof(*keys));
		W.nkeys = 0;
		W.sweep_due = false;
		pthread_mutex_unlock(&W.mu);

		if (!db || PQstatus(db->conn) != CONNECTION_OK) {
			db_close(db);
			db = worker_connect();
			if (!db) {
				/* what was queued is covered by a sweep */
				pthread_mutex_lock(&W.mu);
				W.sweep_due = W.sweep_due || n > 0 || sweep;
				pthread_mutex_unlock(&W.mu);
				next_poll = mono_s();
				continue;
			}
		}
		if (sweep) {
			struct alerts_counts c;

			next_sweep = mono_s() + W.interval_s;
			if (alerts_run(db, &o, &c, &e) < 0)
				log_warning("alerts: sweep failed: %s", e.msg);
			else
				log_info("alerts: sweep: %lld holding, %lld "
					 "opened, %lld resolved",
					 (long long)c.conditions,
					 (long long)c.opened,
					 (long long)c.resolved);
		} else if (n > 0) {
			int64_t t0 = mono_ms();

			if (evaluate_keys(db, keys, n, &o) < 0) {
				pthread_mutex_lock(&W.mu);
				W.sweep_due = true;
				pthread_mutex_unlock(&W.mu);
			}
			pace_ms = (mono_ms() - t0) * ALERTS_PACING;
		}
		if (webhook_deliver_due(db, NULL, &wc, &e) < 0)
			log_warning("alerts: webhook delivery: %s", e.msg);
		if (mailer_deliver_due(db, NULL, &mc, &e) < 0)
			log_warning("alerts: email delivery: %s", e.msg);
		next_poll = mono_s();
	}
	db_close(db);
	free(keys);
	return NULL;
}

int alerts_worker_start(const char *conninfo, int interval_s, struct err *e)
{
	sigset_t block, old;
	int rc;

	if (interval_s <= 0)
		return 0;
	if (atomic_load(&W.running))
		return err_set(e, ERR_INTERNAL, "",
			       "the alert thread is already running");
	free(W.conninfo);
	W.conninfo = conninfo ? strdup(conninfo) : NULL;
	if (conninfo && !W.conninfo)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	W.interval_s = interval_s;
	W.stop = false;
	W.sweep_due = false;
	W.nkeys = 0;
	/* SIGTERM and SIGINT belong to the server's sigwait (http.c): the
	 * thread inherits a mask that blocks them. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(&W.thread, NULL, worker, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return err_set(e, ERR_INTERNAL, "",
			       "cannot start the alert thread");
	atomic_store(&W.running, true);
	return 0;
}

void alerts_worker_stop(void)
{
	if (!atomic_load(&W.running))
		return;
	atomic_store(&W.running, false);
	pthread_mutex_lock(&W.mu);
	W.stop = true;
	pthread_cond_signal(&W.cv);
	pthread_mutex_unlock(&W.mu);
	pthread_join(W.thread, NULL);
	free(W.conninfo);
	W.conninfo = NULL;
}
