/*
 * alerts.c -- the alert rules, their evaluation, and the server's alert
 * thread (see alerts.h).
 *
 * The conditions that hold are gathered: the readiness rules from
 * readiness_scan (C computes, one way) into memory, the others set-wise in
 * SQL into the temporary table alert_now.  Each carries a signature of
 * what its alert would say (sql/014_alerts_speed.sql).  When the
 * signatures sum as those of the open alerts in scope do, nothing changed
 * and the evaluation ends there: the usual sweep.  Otherwise the readiness
 * conditions join alert_now, with title and details built only for those
 * whose signature no open alert has, one full join finds what differs,
 * and three statements open, refresh and resolve just that.  Everything
 * the rules read is indexed by (region, product) or small, except
 * stock_balance, which a sweep reads once per rule that needs it.
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
#include "migrate.h"
#include "settings.h"
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

/* Close n array literals and point params at them; -1 if one ran out of
 * memory. */
static int cols_close(struct buf *col, int n, const char **params,
		      struct err *e)
{
	for (int c = 0; c < n; c++) {
		buf_str(&col[c], "}");
		if (col[c].failed)
			return err_set(e, ERR_INTERNAL, "",
				       "readiness alerts: out of memory");
		params[c] = col[c].p;
	}
	return 0;
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

/*
 * A sweep finds some 130,000 readiness conditions at national scale, and
 * nearly all of them hold as they did last time.  Each is kept in C as
 * its figures and a signature (sql/014_alerts_speed.sql): a hash of the
 * rule, the scope and everything its severity, title and details are made
 * of.  The evaluation sends the figures, and builds title and details, only
 * for the conditions whose signature no open alert has.
 */

/* Bump when a readiness title or details is made differently: every open
 * readiness alert then differs once, is compared in full, and takes the
 * new signature. */
#define SIG_VERSION 1

/* The conditions a national sweep may hold, at most: 64 MB of them. */
#define CONDS_MAX (64u * 1024 * 1024 / sizeof(struct cond))

static const struct {
	const char *rule, *severity;
} short_rules[] = {
	{"stockout", "critical"},
	{"below_floor", "warning"},
	{"below_target", "info"},
};

enum {
	KNOWN_RATE = 1,
	KNOWN_DAYS = 2,
	KNOWN_TARGET = 4,
	KNOWN_FLOOR = 8
};

/* One readiness condition: what the title and details are made from. */
struct cond {
	uint64_t sig;
	int64_t product_id, available, shortfall; /* shortfall -1: none */
	double rate, days, target, floor;
	int window;
	unsigned char rule;  /* index into short_rules */
	unsigned char known; /* KNOWN_* */
	char region[3];
};

/* A region's code and the hash of its name, which titles carry. */
struct region_name {
	char code[3];
	uint64_t name;
};

struct gather {
	struct cond *v;
	size_t n, cap;
	bool failed;
	struct region_name *regions;
	size_t nregions;
	/* The signatures' sum as signed 64-bit numbers, exactly:
	 * sum_hi * 2^32 + sum_lo, for the comparison in SQL. */
	int64_t sum_hi, sum_lo;
};

/* splitmix64's finaliser: a bijection that spreads every bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* Fold v into the signature h; the order of the values matters. */
static uint64_t sig_u64(uint64_t h, uint64_t v)
{
	return mix64(h ^ mix64(v + UINT64_C(0x9e3779b97f4a7c15)));
}

/* A string (FNV-1a), NULL apart from "". */
static uint64_t sig_str(uint64_t h, const char *s)
{
	uint64_t f = UINT64_C(0xcbf29ce484222325);

	for (const char *c = s; c && *c; c++) {
		f ^= (unsigned char)*c;
		f *= UINT64_C(0x100000001b3);
	}
	return sig_u64(sig_u64(h, f), s ? 1 : 2);
}

/* A figure that may be unknown.  Equal bits print equally ("%.3f"). */
static uint64_t sig_num(uint64_t h, double v, bool known)
{
	uint64_t bits = 0;

	if (known)
		memcpy(&bits, &v, sizeof(bits));
	return sig_u64(sig_u64(h, known), bits);
}

/* The signature as the bigint it is stored as, without relying on
 * implementation-defined conversions. */
static int64_t sig_signed(uint64_t u)
{
	return u <= INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

static uint64_t region_name_sig(const struct gather *g, const char *code)
{
	for (size_t i = 0; i < g->nregions; i++)
		if (strcmp(g->regions[i].code, code) == 0)
			return g->regions[i].name;
	return 0;
}

/* The regions' names, which readiness titles carry: a renamed region is a
 * changed title. */
static int load_regions(struct db *db, struct gather *g, struct err *e)
{
	PGresult *q = db_exec(db, "SELECT code, name FROM region", 0, NULL, e);
	int n;

	if (!q)
		return -1;
	n = PQntuples(q);
	g->regions = calloc(n > 0 ? (size_t)n : 1, sizeof(*g->regions));
	if (!g->regions) {
		PQclear(q);
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	}
	for (int r = 0; r < n; r++) {
		snprintf(g->regions[r].code, sizeof(g->regions[r].code), "%s",
			 db_text(q, r, 0));
		g->regions[r].name = sig_str(SIG_VERSION, db_text(q, r, 1));
	}
	g->nregions = (size_t)n;
	PQclear(q);
	return 0;
}

static int on_readiness(const struct readiness_row *row, void *arg)
{
	struct gather *g = arg;
	const struct readiness_result *r = &row->out;
	struct cond *c;
	uint64_t h;
	int rule;

	if (!row->region)
		return 0;
	switch (r->status) {
	case READINESS_STOCKOUT:
		/* Nothing on hand of a product the region has no history of
		 * is not a stockout: it does not use it. */
		if (row->in.history_days == 0 && row->in.issued == 0)
			return 0;
		rule = 0;
		break;
	case READINESS_BELOW_FLOOR: rule = 1; break;
	case READINESS_BELOW_TARGET: rule = 2; break;
	default: return 0;
	}
	if (g->failed)
		return 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 4096;
		struct cond *v;

		if (cap > CONDS_MAX || !(v = realloc(g->v, cap * sizeof(*v)))) {
			g->failed = true;
			return 0;
		}
		g->v = v;
		g->cap = cap;
	}
	c = &g->v[g->n++];
	*c = (struct cond){
		.product_id = row->product_id,
		.available = row->in.available,
		.shortfall = r->shortfall >= 0 ? r->shortfall : -1,
		.rate = r->rate,
		.days = r->days,
		.target = r->target_days,
		.floor = r->floor_days,
		.window = row->in.window_days,
		.rule = (unsigned char)rule,
		.known = (r->rate_known ? KNOWN_RATE : 0) |
			 (r->rate_known && !r->days_infinite ? KNOWN_DAYS : 0) |
			 (r->target_days > 0 ? KNOWN_TARGET : 0) |
			 (r->floor_days > 0 ? KNOWN_FLOOR : 0),
	};
	snprintf(c->region, sizeof(c->region), "%s", row->region);

	/* Everything readiness_details_sql makes the alert from. */
	h = sig_u64(SIG_VERSION, (uint64_t)rule);
	h = sig_str(h, c->region);
	h = sig_u64(h, (uint64_t)c->product_id);
	h = sig_u64(h, (uint64_t)c->available);
	h = sig_num(h, c->rate, c->known & KNOWN_RATE);
	h = sig_num(h, c->days, c->known & KNOWN_DAYS);
	h = sig_num(h, c->target, c->known & KNOWN_TARGET);
	h = sig_num(h, c->floor, c->known & KNOWN_FLOOR);
	h = sig_u64(h, (uint64_t)c->shortfall);
	h = sig_u64(h, (uint64_t)c->window);
	h = sig_str(h, row->product_name);
	h = sig_u64(h, region_name_sig(g, c->region));
	c->sig = h;
	g->sum_hi += (int64_t)(h >> 32) - ((h >> 63) ? (INT64_C(1) << 32) : 0);
	g->sum_lo += (int64_t)(h & UINT32_MAX);
	return 0;
}

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

/* Scan readiness for region (NULL: all) and the products asked into g. */
static int readiness_gather(struct db *db, const char *region,
			    const int64_t *products, size_t n,
			    const struct alerts_options *o, struct gather *g,
			    struct err *e)
{
	struct readiness_filter f = {.scope = "region",
				     .region = region,
				     .short_only = true,
				     .any_order = true,
				     .window_days = o->window_days,
				     .product_ids = products,
				     .nproducts = products ? n : 0};

	if (load_regions(db, g, e) < 0 ||
	    readiness_scan(db, &f, on_readiness, g, e) < 0)
		return -1;
	if (g->failed)
		return err_set(e, ERR_INTERNAL, "",
			       "readiness alerts: out of memory");
	return 0;
}

static void gather_free(struct gather *g)
{
	free(g->v);
	free(g->regions);
	*g = (struct gather){0};
}

/* The conditions as alert_now rows without title and details: rule,
 * severity, scope and signature; ord is the index in g, from 1. */
static const char readiness_keys_sql[] =
	"INSERT INTO alert_now (rule, severity, region_code, product_id,"
	" scope_key, sig, ord)"
	" SELECT r.rule::alert_rule, r.sev::alert_severity, r.region,"
	"  r.product_id, format('region:%s/product:%s', r.region, r.product_id),"
	"  r.sig, r.ord"
	" FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[],"
	"  $5::bigint[]) WITH ORDINALITY"
	"  AS r(rule, sev, region, product_id, sig, ord)";

/* The conditions no open alert has the signature of. */
static const char readiness_changed_sql[] =
	"SELECT n.ord FROM alert_now n"
	" WHERE n.ord IS NOT NULL AND NOT EXISTS (SELECT 1 FROM alert a"
	"  WHERE a.resolved_at IS NULL AND a.rule = n.rule"
	"   AND a.scope_key = n.scope_key AND a.sig = n.sig)"
	" ORDER BY n.ord";

/* Title and details of those, from their figures. */
static const char readiness_details_sql[] =
	"UPDATE alert_now n SET title = x.title, details = x.details"
	" FROM (SELECT r.ord,"
	"  format('%s: %s, region %s %s', CASE r.rule"
	"    WHEN 'stockout' THEN 'Out of stock'"
	"    WHEN 'below_floor' THEN 'Below floor'"
	"    ELSE 'Below target' END, p.name, g.code, g.name) AS title,"
	"  jsonb_strip_nulls(jsonb_build_object('available', r.available,"
	"   'rate', r.rate, 'days', r.days, 'target_days', r.target_days,"
	"   'floor_days', r.floor_days, 'shortfall', r.shortfall,"
	"   'window_days', r.win)) AS details"
	" FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[],"
	"  $5::bigint[], $6::numeric[], $7::numeric[], $8::numeric[],"
	"  $9::numeric[], $10::bigint[], $11::int[])"
	"  AS r(ord, rule, region, product_id, available, rate, days,"
	"  target_days, floor_days, shortfall, win)"
	" JOIN product p ON p.id = r.product_id"
	" JOIN region g ON g.code = r.region) x"
	" WHERE n.ord = x.ord";

enum {
	COL_ORD,
	COL_RULE,
	COL_REGION,
	COL_PRODUCT,
	COL_AVAIL,
	COL_RATE,
	COL_DAYS,
	COL_TARGET,
	COL_FLOOR,
	COL_SHORT,
	COL_WINDOW,
	NCOLS,
	NKEYCOLS = 5
};

/* Put g's conditions in alert_now, with title and details for those whose
 * signature no open alert has. */
static int readiness_put(struct db *db, const struct gather *g, struct err *e)
{
	struct buf col[NCOLS] = {{0}};
	const char *params[NCOLS];
	PGresult *q = NULL;
	int rc = -1, rows;

	if (g->n == 0)
		return 0;
	/* first readiness_keys_sql's: rule, severity, region, product, sig */
	for (int c = 0; c < NKEYCOLS; c++)
		buf_str(&col[c], "{");
	for (size_t i = 0; i < g->n; i++) {
		const struct cond *c = &g->v[i];

		buf_elem(&col[0], short_rules[c->rule].rule);
		buf_elem(&col[1], short_rules[c->rule].severity);
		buf_elem(&col[2], c->region);
		int_elem(&col[3], c->product_id);
		int_elem(&col[4], sig_signed(c->sig));
	}
	if (cols_close(col, NKEYCOLS, params, e) < 0)
		goto out;
	if (db_command(db, readiness_keys_sql, NKEYCOLS, params, e) < 0)
		goto out;
	q = db_exec(db, readiness_changed_sql, 0, NULL, e);
	if (!q)
		goto out;
	rows = PQntuples(q);
	if (rows == 0) {
		rc = 0;
		goto out;
	}
	for (int c = 0; c < NCOLS; c++) {
		buf_free(&col[c]);
		buf_str(&col[c], "{");
	}
	for (int r = 0; r < rows; r++) {
		int64_t ord = db_int64(q, r, 0);
		const struct cond *c;

		if (ord < 1 || (uint64_t)ord > g->n) {
			err_set(e, ERR_INTERNAL, "",
				"readiness alerts: no condition %lld",
				(long long)ord);
			goto out;
		}
		c = &g->v[ord - 1];
		int_elem(&col[COL_ORD], ord);
		buf_elem(&col[COL_RULE], short_rules[c->rule].rule);
		buf_elem(&col[COL_REGION], c->region);
		int_elem(&col[COL_PRODUCT], c->product_id);
		int_elem(&col[COL_AVAIL], c->available);
		num(&col[COL_RATE], c->rate, c->known & KNOWN_RATE);
		num(&col[COL_DAYS], c->days, c->known & KNOWN_DAYS);
		num(&col[COL_TARGET], c->target, c->known & KNOWN_TARGET);
		num(&col[COL_FLOOR], c->floor, c->known & KNOWN_FLOOR);
		if (c->shortfall >= 0)
			int_elem(&col[COL_SHORT], c->shortfall);
		else
			buf_elem(&col[COL_SHORT], "NULL");
		int_elem(&col[COL_WINDOW], c->window);
	}
	if (cols_close(col, NCOLS, params, e) < 0)
		goto out;
	rc = db_command(db, readiness_details_sql, NCOLS, params, e);
out:
	PQclear(q);
	for (int c = 0; c < NCOLS; c++)
		buf_free(&col[c]);
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

int alerts_filter_check(const struct alerts_filter *f, struct err *e)
{
	if (check_list(f->regions, f->nregions, "regions", validate_region_code,
		       e) < 0 ||
	    check_list(f->categories, f->ncategories, "categories",
		       catalog_check_category, e) < 0 ||
	    check_list(f->rules, f->nrules, "rules", alerts_rule_check, e) <
		    0 ||
	    (f->min_severity &&
	     alerts_severity_check(f->min_severity, "min_severity", e) < 0) ||
	    (f->description &&
	     validate_text(f->description, 200, false, "description", e) < 0))
		return -1;
	return 0;
}

int alerts_subscription_insert(struct db *db, const char *sql,
			       const char *target,
			       const struct alerts_filter *f, int64_t *id,
			       struct err *e)
{
	char *r = db_words_array(f->regions, f->nregions);
	char *c = db_words_array(f->categories, f->ncategories);
	char *u = db_words_array(f->rules, f->nrules);
	const char *params[6] = {target,
				 r,
				 c,
				 u,
				 f->min_severity ? f->min_severity : "warning",
				 f->description};
	PGresult *q = NULL;
	int rc = -1;

	*id = 0;
	if ((f->nregions && !r) || (f->ncategories && !c) ||
	    (f->nrules && !u)) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	q = db_exec(db, sql, 6, params, e);
	if (!q)
		goto out;
	*id = db_int64(q, 0, 0);
	rc = 0;
out:
	PQclear(q);
	free(r);
	free(c);
	free(u);
	return rc;
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
 * regions that hold or use the product.  A few hundred notices make a
 * few thousand (region, product) pairs: each is looked up by its index
 * (OFFSET 0 keeps the planner from hashing all of region_product_stock
 * and every recent issue instead). */
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
	" LEFT JOIN LATERAL (SELECT h.quantity FROM region_product_stock h"
	"  WHERE h.region_code = g.code AND h.product_id = n.product_id"
	"  OFFSET 0) h ON true"
	" WHERE h.quantity > 0"
	"  OR EXISTS (SELECT 1 FROM stock_event e"
	"   WHERE e.region_code = g.code AND e.product_id = n.product_id"
	"    AND e.occurred_at >= lb_today() - $3::int AND e.kind = 'issue'"
	"   OFFSET 0)"
	"  OR EXISTS (SELECT 1 FROM consumption_report c"
	"   WHERE c.region_code = g.code AND c.product_id = n.product_id"
	"    AND c.period_end >= lb_today() - $3::int AND c.quantity > 0"
	"   OFFSET 0)";

/* A stale (region, product) has stock in a balance not written for the
 * days: those few are found in one pass over the balances, and only their
 * groups are summed (not every group of the nation). */
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
	" FROM (SELECT DISTINCT region_code, product_id FROM stock_balance"
	"  WHERE quantity > 0"
	"   AND updated_at < now() - make_interval(days => $3::int)"
	"   AND ($1::char(2) IS NULL OR region_code = $1)"
	"   AND ($2::bigint[] IS NULL OR product_id = ANY ($2))) c"
	" CROSS JOIN LATERAL (SELECT c.region_code, c.product_id,"
	"   max(s.updated_at) AS last, sum(s.quantity) AS qty"
	"  FROM stock_balance s"
	"  WHERE s.region_code = c.region_code"
	"   AND s.product_id = c.product_id) b"
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

/* ord: a readiness condition's index in its gather (NULL for the rules in
 * SQL); title and details are NULL for readiness conditions whose
 * signature an open alert has. */
static const char now_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS alert_now ("
	" rule alert_rule NOT NULL, severity alert_severity NOT NULL,"
	" region_code char(2), product_id bigint, site_id bigint, lot text,"
	" scope_key text NOT NULL, title text, details jsonb, sig bigint,"
	" ord bigint) ON COMMIT DELETE ROWS";

/* The rules in SQL sign what they built: the text itself. */
static const char sql_sig_sql[] =
	"UPDATE alert_now SET sig = hashtextextended(concat_ws(chr(31), rule,"
	" scope_key, severity, title, details), $1::bigint) WHERE ord IS NULL";

/*
 * The scope an evaluation judges: open alerts of the rules evaluated ($3),
 * in region $1 and products $2 (NULL: all).  Every condition it finds is
 * in it.
 */
#define OPEN_IN_SCOPE                                                \
	" a.resolved_at IS NULL AND a.rule = ANY ($3::alert_rule[])" \
	" AND ($1::char(2) IS NULL OR a.region_code = $1)"           \
	" AND ($2::bigint[] IS NULL OR a.product_id = ANY ($2))"
#define SEEN_STALE \
	"a.last_seen_at < now() - interval '" ALERTS_SEEN_GRANULARITY "'"

/*
 * Nothing to open, change or resolve, when the conditions holding ($4
 * readiness ones with signatures summing to $5 * 2^32 + $6, and those in
 * alert_now) are as many as the open alerts in scope, all signed, with the
 * same sum: every condition then has its alert saying what it would say
 * (the signature covers the scope key; unlike ones sum alike by a 2^-64
 * chance).  Also: is a last_seen_at due, and the conditions in alert_now.
 */
static const char same_sql[] =
	"SELECT o.n = s.n + $4::bigint AND o.signed = o.n"
	"  AND coalesce(o.total, 0) = coalesce(s.total, 0)"
	"   + $5::numeric * 4294967296 + $6::numeric,"
	" coalesce(o.oldest < now() - interval '" ALERTS_SEEN_GRANULARITY
	"', false), s.n"
	" FROM (SELECT count(*) AS n, count(a.sig) AS signed,"
	"   sum(a.sig) AS total, min(a.last_seen_at) AS oldest"
	"  FROM alert a WHERE" OPEN_IN_SCOPE ") o,"
	" (SELECT count(*) AS n, sum(sig) AS total FROM alert_now) s";

/* When nothing else changed: last_seen_at, to the granularity. */
static const char seen_sql[] = "UPDATE alert a SET last_seen_at = now()"
			       " WHERE" OPEN_IN_SCOPE " AND " SEEN_STALE;

/* What differs between alert_now and the open alerts in scope, in one
 * pass: alert_id NULL, to open; rule NULL, to resolve; else to refresh
 * (a signature differs or last_seen_at is due). */
static const char diff_table_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS alert_diff ("
	" alert_id bigint, rule alert_rule, severity alert_severity,"
	" region_code char(2), product_id bigint, site_id bigint, lot text,"
	" scope_key text, title text, details jsonb, sig bigint)"
	" ON COMMIT DELETE ROWS";

static const char diff_sql[] =
	"INSERT INTO alert_diff"
	" SELECT a.id, n.rule, n.severity, n.region_code, n.product_id,"
	"  n.site_id, n.lot, n.scope_key, n.title, n.details, n.sig"
	" FROM (SELECT a.id, a.rule, a.scope_key, a.sig, a.last_seen_at"
	"  FROM alert a WHERE" OPEN_IN_SCOPE ") a"
	" FULL JOIN alert_now n ON n.rule = a.rule AND n.scope_key = a.scope_key"
	" WHERE a.id IS NULL OR n.rule IS NULL OR a.sig IS DISTINCT FROM n.sig"
	"  OR " SEEN_STALE;

/* A condition without title has its alert's signature: only
 * last_seen_at can be due. */
static const char refresh_sql[] =
	"UPDATE alert a SET severity = d.severity,"
	" title = coalesce(d.title, a.title),"
	" details = coalesce(d.details, a.details), sig = d.sig,"
	" last_seen_at = now()"
	" FROM alert_diff d"
	" WHERE a.id = d.alert_id AND d.rule IS NOT NULL"
	"  AND a.resolved_at IS NULL"
	"  AND ((d.title IS NOT NULL AND (a.severity <> d.severity"
	"    OR a.title <> d.title OR a.details <> d.details))"
	"   OR " SEEN_STALE ")";

/* Alerts that say what their condition does under another signature
 * (from before sql/014, or after someone else's edit) take it; nothing
 * else changes, so this is no event. */
static const char resign_sql[] =
	"UPDATE alert a SET sig = d.sig FROM alert_diff d"
	" WHERE a.id = d.alert_id AND d.title IS NOT NULL"
	"  AND a.resolved_at IS NULL AND a.sig IS DISTINCT FROM d.sig"
	"  AND a.severity = d.severity AND a.title = d.title"
	"  AND a.details = d.details";

/* An open alert outside the scope cannot share a condition's key; the
 * unique index would turn it away all the same. */
static const char open_sql[] =
	"INSERT INTO alert (rule, severity, region_code, product_id, site_id,"
	" lot, scope_key, title, details, sig)"
	" SELECT DISTINCT ON (d.rule, d.scope_key) d.rule, d.severity,"
	"  d.region_code, d.product_id, d.site_id, d.lot, d.scope_key,"
	"  d.title, d.details, d.sig"
	" FROM alert_diff d WHERE d.alert_id IS NULL"
	" ORDER BY d.rule, d.scope_key"
	" ON CONFLICT (rule, scope_key) WHERE resolved_at IS NULL DO NOTHING";

/* By the primary key, whatever alert's statistics say (sql/022): a join
 * to alert_diff was planned as a nested loop reading alert_diff whole per
 * alert when they counted alert at no rows. */
static const char resolve_sql[] =
	"UPDATE alert a SET resolved_at = now()"
	" WHERE a.id = ANY (ARRAY(SELECT d.alert_id FROM alert_diff d"
	"  WHERE d.rule IS NULL))"
	" AND a.resolved_at IS NULL";

/* After opening $1 alerts: fresh statistics for alert if they count fewer
 * rows than that (sql/022). */
static const char analyze_sql[] = "SELECT alert_analyze_grown($1::bigint)";

/* Declines of obligatory help end when the receiver is helped or out of
 * disaster (sql/011); the sweep looks, when there are any. */
static const char obligatory_sql[] =
	"SELECT allocation_obligatory_resolve() WHERE alert_obligatory_open()";

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

/*
 * Merge alert_now, and g's readiness conditions, into alert.  scope is
 * OPEN_IN_SCOPE's $1..$3.  The usual sweep finds everything as it was and
 * ends after same_sql.
 */
static int merge(struct db *db, const struct gather *g,
		 const char *const scope[3], struct alerts_counts *out,
		 struct err *e)
{
	char n[24], hi[24], lo[24], seed[24], opened_s[24];
	const char *params[6] = {scope[0], scope[1], scope[2], n, hi, lo};
	const char *aparams[1] = {opened_s};
	PGresult *q;
	int64_t opened = 0;
	bool same, stale;

	snprintf(seed, sizeof(seed), "%d", SIG_VERSION);
	params[0] = seed;
	if (db_command(db, sql_sig_sql, 1, params, e) < 0)
		return -1;
	params[0] = scope[0];
	snprintf(n, sizeof(n), "%zu", g->n);
	snprintf(hi, sizeof(hi), "%lld", (long long)g->sum_hi);
	snprintf(lo, sizeof(lo), "%lld", (long long)g->sum_lo);
	q = db_exec(db, same_sql, 6, params, e);
	if (!q)
		return -1;
	same = strcmp(db_text(q, 0, 0), "t") == 0;
	stale = strcmp(db_text(q, 0, 1), "t") == 0;
	out->conditions = (int64_t)g->n + db_int64(q, 0, 2);
	PQclear(q);
	if (same)
		return stale ? run_counted(db, seen_sql, 3, params,
					   &out->updated, e) :
			       0;

	if (readiness_put(db, g, e) < 0 ||
	    db_command(db, diff_table_sql, 0, NULL, e) < 0 ||
	    db_command(db, "TRUNCATE alert_diff", 0, NULL, e) < 0 ||
	    db_command(db, diff_sql, 3, params, e) < 0 ||
	    run_counted(db, refresh_sql, 0, NULL, &out->updated, e) < 0 ||
	    db_command(db, resign_sql, 0, NULL, e) < 0 ||
	    run_counted(db, open_sql, 0, NULL, &opened, e) < 0)
		return -1;
	out->opened += opened;
	snprintf(opened_s, sizeof(opened_s), "%lld", (long long)opened);
	if ((opened > 0 && db_command(db, analyze_sql, 1, aparams, e) < 0) ||
	    run_counted(db, resolve_sql, 0, NULL, &out->resolved, e) < 0)
		return -1;
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
	struct gather g = {0};
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
		const char *every_s = settings_get("verify_full_interval");
		int64_t every = VERIFY_FULL_EVERY_DEFAULT;

		ds.first = json_array();
		if (!ds.first)
			return err_set(e, ERR_INTERNAL, "", "out of memory");
		/* settings_load checked it; unset (settings never loaded, as
		 * in tests) means the default. */
		if (every_s &&
		    parse_int64(every_s, 0, VERIFY_FULL_EVERY_MAX, &every,
				"LAGERBILD_VERIFY_FULL_INTERVAL", e) < 0)
			goto out;
		/* The events since the last sweep, and every balance and
		 * aggregate; the whole ledger once the last full check is
		 * older than the interval (verify.h). */
		if (verify_incremental(db, every, on_drift, &ds, &t, e) < 0)
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
	    db_command(db, "TRUNCATE alert_now", 0, NULL, e) < 0)
		goto fail;

	if (readiness_gather(db, sweep ? NULL : region, ids, n, &o, &g, e) < 0)
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
	if (sweep && db_command(db, obligatory_sql, 0, NULL, e) < 0)
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
	params[0] = sweep ? NULL : region;
	params[1] = prod;
	/* Without verify, drift is not evaluated and stays as it was. */
	params[2] = !sweep ? keyed_rules : o.verify ? all_rules : sweep_rules;
	if (merge(db, &g, params, out, e) < 0 || db_commit(db, e) < 0)
		goto fail;
	rc = 0;
	goto out;
fail:
	db_rollback(db);
out:
	gather_free(&g);
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

/* A connection acting as the system, on this build's schema
 * (migrate_check); NULL (logged) when there is none. */
static struct db *worker_connect(void)
{
	struct db *db = NULL;
	struct err e = {0};

	if (db_connect(&db, W.conninfo, &e) < 0 ||
	    db_become_app(db, "alerts", &e) < 0 ||
	    migrate_check(db, embedded_migrations, embedded_migrations_count,
			  &e) < 0) {
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
