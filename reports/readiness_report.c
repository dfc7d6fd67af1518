/*
 * readiness_report.c -- days of supply from the database, computed by
 * readiness_compute, and the readiness data people manage (see
 * reports/readiness_report.h and sql/007_readiness.sql).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "catalog.h"
#include "readiness_report.h"
#include "validate.h"

/* Rows fetched from the cursor at a time. */
#define PAGE_ROWS 1000

/* Cursors: URL-safe without escaping, and nothing to strip. */
#define CURSOR_B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

static const char *const scopes[] = {"site", "region", "healthcare_region",
				     "nation"};
static const char *const levels[] = {"normal", "peacetime_crisis", "heightened",
				     "highest"};
static const char *const states[] = {"normal", "disaster_risk", "disaster"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static bool one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

/* The shapes of healthcare_region.code and agreement.code (sql/001). */
static bool hc_shape(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 32 || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return false;
	return true;
}

static bool agreement_shape(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static int check_agreement(const char *s, const char *field, struct err *e)
{
	if (!agreement_shape(s))
		return err_set(e, ERR_INVALID, field,
			       "%s \"%.40s\": an agreement code is 1 to 32 "
			       "letters, digits or _ (e.g. TO2022_LM)",
			       field, s);
	return 0;
}

int readiness_filter_check(const struct readiness_filter *f, struct err *e)
{
	const char *scope = f->scope ? f->scope : "region";

	if (!one_of(scope, scopes, NELEM(scopes)))
		return err_set(e, ERR_INVALID, "scope",
			       "scope \"%.40s\": not site, region, "
			       "healthcare_region or nation",
			       scope);
	if (f->region && validate_region_code(f->region, "region", e) < 0)
		return -1;
	if (f->region && (strcmp(scope, "healthcare_region") == 0 ||
			  strcmp(scope, "nation") == 0))
		return err_set(e, ERR_INVALID, "region",
			       "region %s: a region filter needs scope site "
			       "or region, not %s",
			       f->region, scope);
	if (f->healthcare_region && !hc_shape(f->healthcare_region))
		return err_set(e, ERR_INVALID, "healthcare_region",
			       "healthcare_region \"%.40s\": not a "
			       "sjukvårdsregion code (e.g. norra, sodra)",
			       f->healthcare_region);
	if (f->healthcare_region && strcmp(scope, "nation") == 0)
		return err_set(e, ERR_INVALID, "healthcare_region",
			       "a healthcare_region filter needs scope site, "
			       "region or healthcare_region, not nation");
	if (f->category &&
	    catalog_check_category(f->category, "category", e) < 0)
		return -1;
	if (f->agreement && check_agreement(f->agreement, "agreement", e) < 0)
		return -1;
	if (f->window_days < 0 || f->window_days > READINESS_WINDOW_MAX)
		return err_set(e, ERR_INVALID, "window",
			       "window %d days: must be 1 to %d",
			       f->window_days, READINESS_WINDOW_MAX);
	if (f->product_id < 0)
		return err_set(e, ERR_INVALID, "product", "product id %lld",
			       (long long)f->product_id);
	if (f->nproducts > READINESS_PRODUCTS_MAX)
		return err_set(e, ERR_INVALID, "product",
			       "%zu products: at most %d in one scan",
			       f->nproducts, READINESS_PRODUCTS_MAX);
	for (size_t i = 0; i < f->nproducts; i++)
		if (f->product_ids[i] <= 0)
			return err_set(e, ERR_INVALID, "product",
				       "product id %lld",
				       (long long)f->product_ids[i]);
	return 0;
}

char *readiness_products_text(const int64_t *ids, size_t n)
{
	/* "{" and "}", and per id up to 19 digits and a comma */
	size_t cap = 3 + n * 21, len = 1;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	s[0] = '{';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s%lld",
					i ? "," : "", (long long)ids[i]);
	s[len++] = '}';
	s[len] = '\0';
	return s;
}

/* Columns of readiness_inputs, in order. */
enum {
	K_REGION,
	K_HC,
	K_SITE_ID,
	K_SITE,
	K_PRODUCT_ID,
	K_NAME,
	K_CATEGORY,
	K_AGREEMENT,
	K_AVAILABLE,
	K_ISSUED,
	K_HISTORY,
	K_STOCKOUT,
	K_TARGET,
	K_FLOOR,
	K_FACTOR
};

static const char *opt(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
}

/* One fetched row into row; the database's own output, so plain strtoX. */
static int row_from(const PGresult *res, int r, const char *scope, int window,
		    struct readiness_row *row, struct err *e)
{
	memset(row, 0, sizeof(*row));
	row->scope = scope;
	row->region = opt(res, r, K_REGION);
	row->healthcare_region = opt(res, r, K_HC);
	row->site_id = db_int64(res, r, K_SITE_ID);
	row->site = opt(res, r, K_SITE);
	row->product_id = db_int64(res, r, K_PRODUCT_ID);
	row->product_name = opt(res, r, K_NAME);
	row->category = opt(res, r, K_CATEGORY);
	row->agreement = opt(res, r, K_AGREEMENT);
	row->in.available = db_int64(res, r, K_AVAILABLE);
	row->in.issued = db_int64(res, r, K_ISSUED);
	row->in.window_days = window;
	row->in.history_days = (int)db_int64(res, r, K_HISTORY);
	row->in.stockout_days = (int)db_int64(res, r, K_STOCKOUT);
	row->in.target_days = strtod(PQgetvalue(res, r, K_TARGET), NULL);
	row->in.floor_days = strtod(PQgetvalue(res, r, K_FLOOR), NULL);
	row->in.factor = strtod(PQgetvalue(res, r, K_FACTOR), NULL);
	/* Stock can be negative only in a rollup lagging a correction; none
	 * is available then. */
	if (row->in.available < 0)
		row->in.available = 0;
	if (row->in.issued < 0)
		row->in.issued = 0;
	if (readiness_compute(&row->in, &row->out, e) < 0)
		return err_prefix(
			e, "product %lld%s%s: ", (long long)row->product_id,
			row->region ? ", region " : "",
			row->region ? row->region : "");
	return 0;
}

#define SCAN_SQL                                                            \
	"DECLARE readiness_scan NO SCROLL CURSOR FOR"                       \
	" SELECT * FROM readiness_inputs($1, $2, $3, $4, $5::bigint[], $6," \
	" $7::integer) r"
static const char scan_sql[] = SCAN_SQL;
static const char scan_ordered_sql[] =
	SCAN_SQL " ORDER BY r.region_code, r.healthcare_region, r.site_code,"
		 " r.product_name, r.product_id";

/* ---- the order of pages (see struct readiness_key) ---- */

/* The parts of a row's sort key, borrowed; NULL for an absent part. */
struct keyview {
	const char *region, *hc, *site, *name;
	int64_t product_id, site_id;
};

/* Bytes, as PostgreSQL's C collation compares (memcmp, then length), and
 * an absent part last, as ORDER BY ... ASC puts NULL. */
static int text_cmp(const char *a, const char *b)
{
	if (!a || !b)
		return (a == NULL) - (b == NULL);
	return strcmp(a, b);
}

static int id_cmp(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int key_cmp(const struct keyview *a, const struct keyview *b)
{
	int c;

	if ((c = text_cmp(a->region, b->region)) != 0 ||
	    (c = text_cmp(a->hc, b->hc)) != 0 ||
	    (c = text_cmp(a->site, b->site)) != 0 ||
	    (c = text_cmp(a->name, b->name)) != 0 ||
	    (c = id_cmp(a->product_id, b->product_id)) != 0)
		return c;
	return id_cmp(a->site_id, b->site_id);
}

static struct keyview view_of_row(const struct readiness_row *row)
{
	return (struct keyview){row->region,	 row->healthcare_region,
				row->site,	 row->product_name,
				row->product_id, row->site_id};
}

static const char *or_null(const char *s)
{
	return s[0] ? s : NULL;
}

static struct keyview view_of_key(const struct readiness_key *k)
{
	return (struct keyview){
		or_null(k->region), or_null(k->healthcare_region),
		or_null(k->site),   or_null(k->product_name),
		k->product_id,	    k->site_id};
}

/* Should the row with this key be dropped unseen?  (fn's arg.) */
typedef bool scan_drop_fn(const struct keyview *k, void *arg);

/*
 * The scan, as readiness_scan; with drop, rows it names are dropped as
 * they arrive, on their key alone: before any arithmetic or copying.
 */
static int scan(struct db *db, const struct readiness_filter *f,
		scan_drop_fn *drop, readiness_row_fn *fn, void *arg,
		struct err *e)
{
	const char *scope = f->scope ? f->scope : "region";
	int window = f->window_days ? f->window_days : READINESS_WINDOW_DEFAULT;
	char *products = NULL, win[16];
	const char *params[7];
	bool own_tx = !db->in_tx, open = false;
	PGresult *res = NULL;
	int rc = -1;

	if (readiness_filter_check(f, e) < 0)
		return -1;
	if (f->nproducts > 0) {
		products =
			readiness_products_text(f->product_ids, f->nproducts);
	} else if (f->product_id) {
		products = readiness_products_text(&f->product_id, 1);
	}
	if ((f->nproducts > 0 || f->product_id) && !products)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	snprintf(win, sizeof(win), "%d", window);
	params[0] = scope;
	params[1] = f->region;
	params[2] = f->healthcare_region;
	params[3] = f->category;
	params[4] = products;
	params[5] = f->agreement;
	params[6] = win;
	if (own_tx && db_begin(db, e) < 0) {
		free(products);
		return -1;
	}
	if (db_command(db, f->any_order ? scan_sql : scan_ordered_sql, 7,
		       params, e) < 0)
		goto out;
	open = true;
	for (;;) {
		int n;

		PQclear(res);
		res = db_exec(db, "FETCH 1000 FROM readiness_scan", 0, NULL, e);
		if (!res)
			goto out;
		n = PQntuples(res);
		for (int r = 0; r < n; r++) {
			struct readiness_row row;

			if (drop) {
				struct keyview k = {
					opt(res, r, K_REGION),
					opt(res, r, K_HC),
					opt(res, r, K_SITE),
					opt(res, r, K_NAME),
					db_int64(res, r, K_PRODUCT_ID),
					db_int64(res, r, K_SITE_ID)};

				if (drop(&k, arg))
					continue;
			}
			if (row_from(res, r, scope, window, &row, e) < 0)
				goto out;
			if (f->short_only &&
			    !readiness_is_short(row.out.status))
				continue;
			if (fn(&row, arg) < 0)
				goto out;
		}
		if (n < PAGE_ROWS)
			break;
	}
	rc = 0;
out:
	PQclear(res);
	free(products);
	if (own_tx) {
		if (rc == 0 && db_commit(db, e) < 0)
			rc = -1;
		if (rc < 0)
			db_rollback(db);
	} else if (open && db->in_tx) {
		struct err ignored = {0};

		/* A failed statement has aborted the caller's transaction;
		 * CLOSE then fails too, harmlessly. */
		if (db_command(db, "CLOSE readiness_scan", 0, NULL, &ignored) <
			    0 &&
		    rc == 0)
			rc = -1, *e = ignored;
	}
	return rc;
}

int readiness_scan(struct db *db, const struct readiness_filter *f,
		   readiness_row_fn *fn, void *arg, struct err *e)
{
	return scan(db, f, NULL, fn, arg, e);
}

/* A number that JSON can carry, rounded to hundredths for people. */
static json_t *num2(double v)
{
	return json_real((double)(int64_t)(v * 100 + (v < 0 ? -0.5 : 0.5)) /
			 100);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *qty_or_null(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

json_t *readiness_row_json(const struct readiness_row *row)
{
	const struct readiness_result *o = &row->out;
	json_t *j = json_object();

	json_object_set_new(j, "scope", json_string(row->scope));
	json_object_set_new(j, "region", str_or_null(row->region));
	json_object_set_new(j, "healthcare_region",
			    str_or_null(row->healthcare_region));
	if (row->site) {
		json_object_set_new(j, "site", json_string(row->site));
		json_object_set_new(j, "site_id", json_integer(row->site_id));
	} else {
		json_object_set_new(j, "site", json_null());
		json_object_set_new(j, "site_id", json_null());
	}
	json_object_set_new(j, "product_id", json_integer(row->product_id));
	json_object_set_new(j, "product", str_or_null(row->product_name));
	json_object_set_new(j, "category", str_or_null(row->category));
	json_object_set_new(j, "agreement", str_or_null(row->agreement));
	json_object_set_new(j, "available", json_integer(row->in.available));
	json_object_set_new(j, "issued", json_integer(row->in.issued));
	json_object_set_new(j, "window_days",
			    json_integer(row->in.window_days));
	json_object_set_new(j, "history_days",
			    json_integer(row->in.history_days));
	json_object_set_new(j, "stockout_days",
			    json_integer(row->in.stockout_days));
	json_object_set_new(j, "rate_known", json_boolean(o->rate_known));
	json_object_set_new(j, "rate",
			    o->rate_known ? num2(o->rate) : json_null());
	if (!o->rate_known)
		json_object_set_new(j, "reason",
				    json_string("too little history"));
	json_object_set_new(j, "days_infinite", json_boolean(o->days_infinite));
	json_object_set_new(j, "days",
			    o->rate_known && !o->days_infinite ? num2(o->days) :
								 json_null());
	json_object_set_new(j, "target_days",
			    o->target_days > 0 ? num2(o->target_days) :
						 json_null());
	json_object_set_new(j, "floor_days",
			    o->floor_days > 0 ? num2(o->floor_days) :
						json_null());
	json_object_set_new(j, "factor", num2(row->in.factor));
	json_object_set_new(j, "target_qty", qty_or_null(o->target_qty));
	json_object_set_new(j, "floor_qty", qty_or_null(o->floor_qty));
	json_object_set_new(j, "shortfall", qty_or_null(o->shortfall));
	json_object_set_new(j, "status",
			    json_string(readiness_status_name(o->status)));
	return j;
}

/* ---- the report ---- */

struct report_state {
	FILE *out;
	enum readiness_format fmt;
	long rows;
};

/* Days for people: "inf" for no consumption, "-" when not known. */
static void days_text(const struct readiness_row *row, char *buf, size_t n)
{
	if (!row->out.rate_known)
		snprintf(buf, n, "-");
	else if (row->out.days_infinite)
		snprintf(buf, n, "inf");
	else
		snprintf(buf, n, "%.1f", row->out.days);
}

static int report_row(const struct readiness_row *row, void *arg)
{
	struct report_state *st = arg;
	char days[32], rate[32], target[16], floor_[16], shortfall[24];
	const char *key = row->site		 ? row->site :
			  row->region		 ? row->region :
			  row->healthcare_region ? row->healthcare_region :
						   "SE";

	if (st->fmt == READINESS_JSON) {
		json_t *j = readiness_row_json(row);
		char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12));

		fprintf(st->out, "%s%s", st->rows ? ",\n" : "", s ? s : "null");
		free(s);
		json_decref(j);
		st->rows++;
		return 0;
	}
	days_text(row, days, sizeof(days));
	if (row->out.rate_known)
		snprintf(rate, sizeof(rate), "%.2f", row->out.rate);
	else
		snprintf(rate, sizeof(rate), "-");
	snprintf(target, sizeof(target), "%.0f", row->out.target_days);
	snprintf(floor_, sizeof(floor_), "%.0f", row->out.floor_days);
	if (row->out.shortfall >= 0)
		snprintf(shortfall, sizeof(shortfall), "%lld",
			 (long long)row->out.shortfall);
	else
		snprintf(shortfall, sizeof(shortfall), "-");
	if (st->fmt == READINESS_TSV)
		fprintf(st->out, "%s\t%lld\t%s\t%lld\t%s\t%s\t%s\t%s\t%s\t%s\n",
			key, (long long)row->product_id,
			row->product_name ? row->product_name : "",
			(long long)row->in.available, rate, days, target,
			floor_, shortfall,
			readiness_status_name(row->out.status));
	else
		fprintf(st->out,
			"%-18.18s %8lld %-30.30s %10lld %9s %8s %6s %5s %9s "
			"%s\n",
			key, (long long)row->product_id,
			row->product_name ? row->product_name : "",
			(long long)row->in.available, rate, days, target,
			floor_, shortfall,
			readiness_status_name(row->out.status));
	st->rows++;
	return 0;
}

int readiness_report(struct db *db, const struct readiness_filter *f, FILE *out,
		     enum readiness_format fmt, struct err *e)
{
	struct report_state st = {.out = out, .fmt = fmt};
	int rc;

	if (fmt == READINESS_JSON)
		fputs("[", out);
	else if (fmt == READINESS_TSV)
		fputs("scope\tproduct_id\tproduct\tavailable\trate\tdays\t"
		      "target_days\tfloor_days\tshortfall\tstatus\n",
		      out);
	else
		fprintf(out, "%-18s %8s %-30s %10s %9s %8s %6s %5s %9s %s\n",
			"scope", "id", "product", "available", "rate/day",
			"days", "target", "floor", "shortfall", "status");
	rc = readiness_scan(db, f, report_row, &st, e);
	if (fmt == READINESS_JSON)
		fputs("]\n", out);
	return rc;
}

/* ---- pages ---- */

/* A row kept for a page: the row, its strings in the same block. */
struct held {
	struct readiness_row row;
	char text[];
};

static const char *put(char **p, const char *s)
{
	size_t n;
	char *at = *p;

	if (!s)
		return NULL;
	n = strlen(s) + 1;
	memcpy(at, s, n);
	*p += n;
	return at;
}

static struct held *hold(const struct readiness_row *row)
{
	const char *s[] = {row->region,	  row->healthcare_region,
			   row->site,	  row->product_name,
			   row->category, row->agreement};
	struct held *h;
	size_t n = 0;
	char *p;

	for (size_t i = 0; i < NELEM(s); i++)
		n += s[i] ? strlen(s[i]) + 1 : 0;
	h = malloc(sizeof(*h) + n);
	if (!h)
		return NULL;
	h->row = *row; /* scope stays borrowed from the filter */
	p = h->text;
	h->row.region = put(&p, row->region);
	h->row.healthcare_region = put(&p, row->healthcare_region);
	h->row.site = put(&p, row->site);
	h->row.product_name = put(&p, row->product_name);
	h->row.category = put(&p, row->category);
	h->row.agreement = put(&p, row->agreement);
	return h;
}

static int held_cmp(const struct held *a, const struct held *b)
{
	struct keyview x = view_of_row(&a->row), y = view_of_row(&b->row);

	return key_cmp(&x, &y);
}

static int held_qsort(const void *a, const void *b)
{
	return held_cmp(*(struct held *const *)a, *(struct held *const *)b);
}

/* The page being gathered: a max-heap of the first rows seen so far, its
 * root the last of them. */
struct gather {
	struct readiness_page *pg;
	struct keyview after; /* of pg->after */
	struct held **heap;
	size_t n, cap; /* cap: limit + 1, to know whether more follow */
	struct err *e;
};

static void sift_up(struct held **h, size_t i)
{
	while (i > 0) {
		size_t up = (i - 1) / 2;
		struct held *t;

		if (held_cmp(h[up], h[i]) >= 0)
			break;
		t = h[up], h[up] = h[i], h[i] = t;
		i = up;
	}
}

static void sift_down(struct held **h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, top = i;
		struct held *t;

		if (l < n && held_cmp(h[l], h[top]) > 0)
			top = l;
		if (r < n && held_cmp(h[r], h[top]) > 0)
			top = r;
		if (top == i)
			break;
		t = h[top], h[top] = h[i], h[i] = t;
		i = top;
	}
}

/*
 * Rows up to the cursor, and once the heap is full rows after all it
 * holds, cannot be on the page: most rows of a national scan end here,
 * after a comparison or two, uncomputed.
 */
static bool gather_drop(const struct keyview *k, void *arg)
{
	struct gather *g = arg;
	struct keyview top;

	if (g->pg->after && key_cmp(k, &g->after) <= 0)
		return true;
	if (g->n < g->cap)
		return false;
	top = view_of_row(&g->heap[0]->row);
	return key_cmp(k, &top) >= 0;
}

static int gather_row(const struct readiness_row *row, void *arg)
{
	struct gather *g = arg;
	struct held *h;

	if (g->pg->skip && g->pg->skip(row, g->pg->skip_arg))
		return 0;
	h = hold(row);
	if (!h)
		return err_set(g->e, ERR_INTERNAL, "", "out of memory");
	if (g->n == g->cap) {
		free(g->heap[0]);
		g->heap[0] = h;
		sift_down(g->heap, g->n, 0);
	} else {
		g->heap[g->n] = h;
		sift_up(g->heap, g->n++);
	}
	return 0;
}

/* Copy s (NULL: "") into dst of size bytes; -1 when it does not fit. */
static int key_part(char *dst, size_t size, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= size)
		return -1;
	memcpy(dst, s ? s : "", n);
	dst[n] = '\0';
	return 0;
}

static int key_of(const struct readiness_row *row, struct readiness_key *k,
		  struct err *e)
{
	memset(k, 0, sizeof(*k));
	if (key_part(k->region, sizeof(k->region), row->region) < 0 ||
	    key_part(k->healthcare_region, sizeof(k->healthcare_region),
		     row->healthcare_region) < 0 ||
	    key_part(k->site, sizeof(k->site), row->site) < 0 ||
	    key_part(k->product_name, sizeof(k->product_name),
		     row->product_name) < 0)
		return err_set(e, ERR_INTERNAL, "",
			       "product %lld: a key part longer than a cursor "
			       "holds",
			       (long long)row->product_id);
	k->product_id = row->product_id;
	k->site_id = row->site_id;
	return 0;
}

/*
 * Cost per page: readiness_inputs once (the database's work, by far the
 * most of it), every row fetched, and in C one or two key comparisons a
 * row (gather_drop), arithmetic only for rows that may be on the page, at
 * most O(rows log limit) comparisons, memory for limit + 1 rows.  The
 * database sorts nothing.  Its ORDER BY, which readiness_scan uses, sorts
 * a national scan (420,000 rows) on disk on every page, which costs about
 * what fetching every row does (1.5 to 2 s each, on the bench data); with
 * it a page would cost that sort plus the rows up to the cursor fetched
 * and dropped.
 */
int readiness_page(struct db *db, const struct readiness_filter *f,
		   struct readiness_page *pg, readiness_row_fn *fn, void *arg,
		   struct err *e)
{
	struct readiness_filter any = *f;
	struct gather g = {.pg = pg, .e = e};
	size_t n;
	int rc = -1;

	pg->more = false;
	memset(&pg->last, 0, sizeof(pg->last));
	if (pg->limit < 1 || pg->limit > READINESS_PAGE_MAX)
		return err_set(e, ERR_INVALID, "limit",
			       "limit %ld: must be 1 to %d", pg->limit,
			       READINESS_PAGE_MAX);
	g.cap = (size_t)pg->limit + 1;
	g.heap = malloc(g.cap * sizeof(*g.heap));
	if (!g.heap)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	if (pg->after)
		g.after = view_of_key(pg->after);
	any.any_order = true; /* ordered here */
	if (scan(db, &any, gather_drop, gather_row, &g, e) < 0)
		goto out;
	qsort(g.heap, g.n, sizeof(*g.heap), held_qsort);
	n = g.n < (size_t)pg->limit ? g.n : (size_t)pg->limit;
	for (size_t i = 0; i < n; i++)
		if (fn(&g.heap[i]->row, arg) < 0)
			goto out;
	if (g.n > n) {
		if (key_of(&g.heap[n - 1]->row, &pg->last, e) < 0)
			goto out;
		pg->more = true;
	}
	rc = 0;
out:
	for (size_t i = 0; i < g.n; i++)
		free(g.heap[i]);
	free(g.heap);
	return rc;
}

/* ---- cursors ---- */

/*
 * A cursor is base64url (no padding) of
 *   {"v": 1, "f": FILTERS, "k": [region, healthcare_region, site,
 *    product_name, product_id, site_id], "h": CHECK}
 * where FILTERS is a BLAKE2b digest of the filters' canonical JSON and
 * CHECK one of FILTERS and k's canonical JSON.  CHECK catches a cursor
 * damaged or edited by hand; it is not a signature (nothing is secret, and
 * a forged key only moves where a page starts: what a caller may see is
 * decided by the scan, not by the cursor).
 */
#define CURSOR_VERSION 1
#define DIGEST_BYTES 16
#define DIGEST_HEX (2 * DIGEST_BYTES + 1)

static void digest(const char *a, const char *b, char hex[DIGEST_HEX])
{
	crypto_generichash_state st;
	unsigned char d[DIGEST_BYTES];

	crypto_generichash_init(&st, NULL, 0, sizeof(d));
	crypto_generichash_update(&st, (const unsigned char *)a, strlen(a));
	if (b) {
		crypto_generichash_update(&st, (const unsigned char *)"\n", 1);
		crypto_generichash_update(&st, (const unsigned char *)b,
					  strlen(b));
	}
	crypto_generichash_final(&st, d, sizeof(d));
	sodium_bin2hex(hex, DIGEST_HEX, d, sizeof(d));
}

/* The digest of everything that decides which rows a walk has. */
static int filter_digest(const struct readiness_filter *f, const char *extra,
			 char hex[DIGEST_HEX], struct err *e)
{
	json_t *ids = json_array(), *j;
	char *text = NULL;
	int rc = -1;

	if (f->nproducts > 0) {
		for (size_t i = 0; i < f->nproducts; i++)
			json_array_append_new(ids,
					      json_integer(f->product_ids[i]));
	} else if (f->product_id) {
		json_array_append_new(ids, json_integer(f->product_id));
	}
	j = json_pack(
		"[s, s, s?, s?, s?, o, s?, b, i, s?]", "readiness",
		f->scope ? f->scope : "region", f->region, f->healthcare_region,
		f->category, ids, f->agreement, f->short_only,
		f->window_days ? f->window_days : READINESS_WINDOW_DEFAULT,
		extra);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!text) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	digest(text, NULL, hex);
	rc = 0;
out:
	free(text);
	json_decref(j);
	return rc;
}

static json_t *part_json(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

int readiness_cursor_encode(const struct readiness_filter *f, const char *extra,
			    const struct readiness_key *k, char *out,
			    size_t size, struct err *e)
{
	char fd[DIGEST_HEX], check[DIGEST_HEX];
	char *ktext = NULL, *text = NULL;
	json_t *kj, *j = NULL;
	size_t n;
	int rc = -1;

	if (filter_digest(f, extra, fd, e) < 0)
		return -1;
	kj = json_pack("[o, o, o, s, I, I]", part_json(k->region),
		       part_json(k->healthcare_region), part_json(k->site),
		       k->product_name, (json_int_t)k->product_id,
		       (json_int_t)k->site_id);
	ktext = kj ? json_dumps(kj, JSON_COMPACT) : NULL;
	if (ktext) {
		digest(fd, ktext, check);
		j = json_pack("{s:i, s:s, s:O, s:s}", "v", CURSOR_VERSION, "f",
			      fd, "k", kj, "h", check);
	}
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!text) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	n = strlen(text);
	if (sodium_base64_ENCODED_LEN(n, CURSOR_B64) >
		    READINESS_CURSOR_MAX + 1 ||
	    sodium_base64_ENCODED_LEN(n, CURSOR_B64) > size) {
		err_set(e, ERR_INTERNAL, "", "a cursor of %zu bytes", n);
		goto out;
	}
	sodium_bin2base64(out, size, (const unsigned char *)text, n,
			  CURSOR_B64);
	rc = 0;
out:
	free(text);
	free(ktext);
	json_decref(kj);
	json_decref(j);
	return rc;
}

static int bad_cursor(struct err *e, const char *why)
{
	return err_set(e, ERR_INVALID, "cursor", "cursor: %s", why);
}

/* A key part from the cursor: a string that passes ok, or null (""). */
static int cursor_part(json_t *v, char *dst, size_t size,
		       bool (*ok)(const char *), const char *why, struct err *e)
{
	if (json_is_null(v)) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v) ||
	    key_part(dst, size, json_string_value(v)) < 0 || !ok(dst))
		return bad_cursor(e, why);
	return 0;
}

static bool region_shape(const char *s)
{
	struct err ignored = {0};

	return validate_region_code(s, "", &ignored) == 0;
}

static bool site_shape(const char *s)
{
	struct err ignored = {0};

	return validate_site_code(s, "", &ignored) == 0;
}

static bool name_shape(const char *s)
{
	return s[0] != '\0';
}

static bool hex_digest(json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || strlen(s) != DIGEST_HEX - 1)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

int readiness_cursor_decode(const char *s, const struct readiness_filter *f,
			    const char *extra, struct readiness_key *k,
			    struct err *e)
{
	/* base64 of READINESS_CURSOR_MAX characters is 3/4 as many bytes */
	unsigned char bin[READINESS_CURSOR_MAX];
	char fd[DIGEST_HEX], check[DIGEST_HEX];
	size_t len = strnlen(s, READINESS_CURSOR_MAX + 1), binlen = 0;
	json_t *j = NULL, *kj, *v, *pid, *sid;
	char *ktext = NULL;
	const char *end = NULL;
	json_error_t jerr;
	int rc = -1;

	memset(k, 0, sizeof(*k));
	if (len == 0)
		return bad_cursor(e, "empty; leave it out for the first page");
	if (len > READINESS_CURSOR_MAX)
		return err_set(e, ERR_INVALID, "cursor",
			       "cursor: longer than %d characters, so not one "
			       "this server made",
			       READINESS_CURSOR_MAX);
	if (sodium_base642bin(bin, sizeof(bin), s, len, NULL, &binlen, &end,
			      CURSOR_B64) != 0 ||
	    end != s + len)
		return bad_cursor(e, "not base64url text (A-Z a-z 0-9 - _, "
				     "no padding)");
	j = json_loadb((const char *)bin, binlen, JSON_REJECT_DUPLICATES,
		       &jerr);
	v = json_object_get(j, "v");
	if (!json_is_object(j) || !json_is_integer(v)) {
		bad_cursor(e, "not a readiness cursor");
		goto out;
	}
	if (json_integer_value(v) != CURSOR_VERSION) {
		err_set(e, ERR_INVALID, "cursor",
			"cursor: version %lld; this server reads version %d "
			"(start again without a cursor)",
			(long long)json_integer_value(v), CURSOR_VERSION);
		goto out;
	}
	kj = json_object_get(j, "k");
	if (json_object_size(j) != 4 || !hex_digest(json_object_get(j, "f")) ||
	    !hex_digest(json_object_get(j, "h")) || !json_is_array(kj) ||
	    json_array_size(kj) != 6) {
		bad_cursor(e, "not a readiness cursor");
		goto out;
	}
	if (filter_digest(f, extra, fd, e) < 0)
		goto out;
	if (strcmp(fd, json_string_value(json_object_get(j, "f"))) != 0) {
		bad_cursor(e, "made for other filters: scope, region, "
			      "healthcare_region, category, product, "
			      "agreement, status and window must stay as they "
			      "were on the first page");
		goto out;
	}
	ktext = json_dumps(kj, JSON_COMPACT);
	if (!ktext) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	digest(fd, ktext, check);
	if (strcmp(check, json_string_value(json_object_get(j, "h"))) != 0) {
		bad_cursor(e, "damaged or altered (its check does not match)");
		goto out;
	}
	pid = json_array_get(kj, 4);
	sid = json_array_get(kj, 5);
	if (cursor_part(json_array_get(kj, 0), k->region, sizeof(k->region),
			region_shape, "its region is not a region code",
			e) < 0 ||
	    cursor_part(json_array_get(kj, 1), k->healthcare_region,
			sizeof(k->healthcare_region), hc_shape,
			"its healthcare_region is not a sjukvårdsregion code",
			e) < 0 ||
	    cursor_part(json_array_get(kj, 2), k->site, sizeof(k->site),
			site_shape, "its site is not a site code", e) < 0 ||
	    cursor_part(json_array_get(kj, 3), k->product_name,
			sizeof(k->product_name), name_shape,
			"its product name is not one", e) < 0)
		goto out;
	if (!k->product_name[0]) {
		bad_cursor(e, "it has no product name");
		goto out;
	}
	if (!json_is_integer(pid) || json_integer_value(pid) < 1 ||
	    !json_is_integer(sid) || json_integer_value(sid) < 0) {
		bad_cursor(e, "its product and site ids are not ids");
		goto out;
	}
	k->product_id = (int64_t)json_integer_value(pid);
	k->site_id = (int64_t)json_integer_value(sid);
	rc = 0;
out:
	if (rc < 0)
		memset(k, 0, sizeof(*k));
	free(ktext);
	json_decref(j);
	return rc;
}

/* ---- the rollup ---- */

int readiness_refresh(struct db *db, int64_t *events, struct err *e)
{
	PGresult *res = NULL;
	int rc = -1;

	if (db_begin(db, e) < 0)
		return -1;
	res = db_exec(db, "SELECT readiness_refresh()", 0, NULL, e);
	if (!res || db_commit(db, e) < 0)
		goto out;
	if (events)
		*events = db_int64(res, 0, 0);
	rc = 0;
out:
	if (rc < 0)
		db_rollback(db);
	PQclear(res);
	return rc;
}

/* ---- levels and states ---- */

int readiness_level_check(const char *level, const char *field, struct err *e)
{
	if (!one_of(level, levels, NELEM(levels)))
		return err_set(e, ERR_INVALID, field,
			       "%s \"%.40s\": not normal, peacetime_crisis, "
			       "heightened or highest",
			       field, level ? level : "");
	return 0;
}

int readiness_state_check(const char *state, const char *field, struct err *e)
{
	if (!one_of(state, states, NELEM(states)))
		return err_set(e, ERR_INVALID, field,
			       "%s \"%.40s\": not normal, disaster_risk or "
			       "disaster",
			       field, state ? state : "");
	return 0;
}

static int check_reason(const char *reason, struct err *e)
{
	if (!reason)
		return err_set(e, ERR_INVALID, "reason",
			       "reason: required (say why)");
	return validate_text(reason, 1000, false, "reason", e);
}

/* The one jsonb value a statement returns, as a new reference. */
static int one_json(struct db *db, const char *sql, int nparams,
		    const char *const *params, json_t **out, struct err *e)
{
	PGresult *res = db_exec(db, sql, nparams, params, e);
	json_error_t jerr;

	*out = NULL;
	if (!res)
		return -1;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		PQclear(res);
		return err_set(e, ERR_NOT_FOUND, "", "nothing found");
	}
	*out = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
	PQclear(res);
	if (!*out)
		return err_set(e, ERR_INTERNAL, "",
			       "bad JSON from the database: %s", jerr.text);
	return 0;
}

/* The refusal of row-level security, said plainly. */
static int forbidden_as(struct db *db, struct err *e, const char *what)
{
	if (db_failed_with(db, "42501"))
		return err_set(e, ERR_FORBIDDEN, "", "%s", what);
	return -1;
}

int readiness_level_get(struct db *db, int history_max, json_t **out,
			struct err *e)
{
	char lim[16];
	const char *params[] = {lim};

	snprintf(lim, sizeof(lim), "%d", history_max);
	return one_json(
		db,
		"SELECT jsonb_build_object("
		" 'level', readiness_current_level(),"
		" 'factor', readiness_current_factor(),"
		" 'reason', (SELECT reason FROM readiness_level_history"
		"   ORDER BY id DESC LIMIT 1),"
		" 'set_by', (SELECT set_by FROM readiness_level_history"
		"   ORDER BY id DESC LIMIT 1),"
		" 'set_at', (SELECT set_at FROM readiness_level_history"
		"   ORDER BY id DESC LIMIT 1),"
		" 'factors', (SELECT jsonb_object_agg(level, factor)"
		"   FROM readiness_level_factor),"
		" 'history', coalesce((SELECT jsonb_agg(h ORDER BY h.id DESC)"
		"   FROM (SELECT id, level, reason, set_by, set_at"
		"    FROM readiness_level_history ORDER BY id DESC"
		"    LIMIT $1::integer) h), '[]'))",
		1, params, out, e);
}

int readiness_level_set(struct db *db, const char *level, const char *reason,
			struct err *e)
{
	const char *params[] = {level, reason};

	if (readiness_level_check(level, "level", e) < 0 ||
	    check_reason(reason, e) < 0)
		return -1;
	if (db_command(db,
		       "INSERT INTO readiness_level_history (level, reason,"
		       " set_by) VALUES ($1::readiness_level, $2, '-')",
		       2, params, e) < 0)
		return forbidden_as(db, e,
				    "the national readiness level is set by "
				    "coordinators");
	return 0;
}

int readiness_state_get(struct db *db, const char *region, int history_max,
			json_t **out, struct err *e)
{
	char lim[16];
	const char *params[] = {region, lim};

	if (validate_region_code(region, "region", e) < 0)
		return -1;
	snprintf(lim, sizeof(lim), "%d", history_max);
	return one_json(
		db,
		"SELECT jsonb_build_object("
		" 'region', r.code, 'name', r.name,"
		" 'state', coalesce(l.state, 'normal'),"
		" 'reason', l.reason, 'set_by', l.set_by, 'set_at', l.set_at,"
		" 'history', coalesce((SELECT jsonb_agg(h ORDER BY h.id DESC)"
		"   FROM (SELECT id, state, reason, set_by, set_at"
		"    FROM region_state_history WHERE region_code = r.code"
		"    ORDER BY id DESC LIMIT $2::integer) h), '[]'))"
		" FROM region r"
		" LEFT JOIN LATERAL (SELECT state, reason, set_by, set_at"
		"   FROM region_state_history s WHERE s.region_code = r.code"
		"   ORDER BY id DESC LIMIT 1) l ON true"
		" WHERE r.code = $1",
		2, params, out, e);
}

int readiness_state_set(struct db *db, const char *region, const char *state,
			const char *reason, struct err *e)
{
	const char *params[] = {region, state, reason};

	if (validate_region_code(region, "region", e) < 0 ||
	    readiness_state_check(state, "state", e) < 0 ||
	    check_reason(reason, e) < 0)
		return -1;
	if (db_command(
		    db,
		    "INSERT INTO region_state_history (region_code, state,"
		    " reason, set_by) VALUES ($1, $2::region_state, $3, '-')",
		    3, params, e) < 0)
		return forbidden_as(db, e,
				    "a region's state is set by its own "
				    "contact person or a coordinator");
	return 0;
}

/* ---- targets ---- */

int readiness_days_parse(const char *s, bool allow_zero, char out[16],
			 const char *field, struct err *e)
{
	size_t n = s ? strlen(s) : 0, i = 0, decimals = 0;
	bool point = false, digits = false;
	int64_t hundredths = 0;

	if (n == 0 || n > 12)
		goto bad;
	for (; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9') {
			if (point && ++decimals > 2)
				goto bad;
			hundredths = hundredths * 10 + (c - '0');
			digits = true;
		} else if ((c == '.' || c == ',') && !point && digits) {
			point = true;
		} else {
			goto bad;
		}
	}
	if (point && decimals == 0)
		goto bad;
	for (; decimals < 2; decimals++)
		hundredths *= 10;
	if (hundredths > 365000 || (!allow_zero && hundredths == 0))
		goto bad;
	/* at most 3650.00: the modulo tells the compiler so, too */
	snprintf(out, 16, "%u.%02u", (unsigned)(hundredths / 100) % 10000u,
		 (unsigned)(hundredths % 100));
	return 0;
bad:
	return err_set(e, ERR_INVALID, field,
		       "%s \"%.40s\": a number of days %s to 3650, at most "
		       "two decimals",
		       field, s ? s : "", allow_zero ? "from 0" : "above 0");
}

static int64_t date_key(const struct date *d)
{
	return (int64_t)d->year * 10000 + d->month * 100 + d->day;
}

int readiness_target_check(const struct readiness_target *t, struct err *e)
{
	char target[16], floor_[16];
	struct date from, to;

	if (t->product_id <= 0)
		return err_set(e, ERR_INVALID, "product", "product: required");
	if (t->region && validate_region_code(t->region, "region", e) < 0)
		return -1;
	if (readiness_days_parse(t->target_days, false, target, "target_days",
				 e) < 0)
		return -1;
	if (t->floor_days && readiness_days_parse(t->floor_days, true, floor_,
						  "floor_days", e) < 0)
		return -1;
	if (t->floor_days && strtod(floor_, NULL) > strtod(target, NULL))
		return err_set(e, ERR_INVALID, "floor_days",
			       "floor_days %s is above target_days %s", floor_,
			       target);
	if (t->valid_from &&
	    parse_date(t->valid_from, &from, "valid_from", e) < 0)
		return -1;
	if (t->valid_to && parse_date(t->valid_to, &to, "valid_to", e) < 0)
		return -1;
	if (t->valid_from && t->valid_to && date_key(&to) < date_key(&from))
		return err_set(e, ERR_INVALID, "valid_to",
			       "valid_to %s is before valid_from %s",
			       t->valid_to, t->valid_from);
	if (t->agreement && check_agreement(t->agreement, "agreement", e) < 0)
		return -1;
	return check_reason(t->reason, e);
}

/* Map the database's refusals of a target write to what the caller did. */
static int target_failed(struct db *db, struct err *e)
{
	if (db_failed_with(db, "42501"))
		return err_set(e, ERR_FORBIDDEN, "",
			       "targets are managed by coordinators");
	if (db_failed_with(db, "23503"))
		return err_set(e, ERR_INVALID, "agreement",
			       "no such agreement (or product)");
	if (db_failed_with(db, "23P01"))
		return err_set(e, ERR_CONFLICT, "valid_from",
			       "the period overlaps another target of this "
			       "product and region");
	if (db_failed_with(db, "LB007") || db_failed_with(db, "LB008") ||
	    db_failed_with(db, "23514"))
		e->code = ERR_INVALID;
	return -1;
}

int readiness_target_set(struct db *db, const struct readiness_target *t,
			 int64_t *id, struct err *e)
{
	char product[24], target[16], floor_[16];
	const char *params[8];
	PGresult *res = NULL;

	if (readiness_target_check(t, e) < 0)
		return -1;
	readiness_days_parse(t->target_days, false, target, "target_days", e);
	if (t->floor_days)
		readiness_days_parse(t->floor_days, true, floor_, "floor_days",
				     e);
	snprintf(product, sizeof(product), "%" PRId64, t->product_id);
	params[0] = product;
	params[1] = t->region;
	params[2] = target;
	params[3] = t->floor_days ? floor_ : NULL;
	params[4] = t->valid_from;
	params[5] = t->valid_to;
	params[6] = t->agreement;
	params[7] = t->reason;
	res = db_exec(db,
		      "SELECT target_set($1::bigint, $2, $3::numeric,"
		      " $4::numeric, coalesce($5::date, lb_today()), $6::date,"
		      " $7, $8)",
		      8, params, e);
	if (!res)
		return target_failed(db, e);
	*id = db_int64(res, 0, 0);
	PQclear(res);
	return 0;
}

int readiness_target_end(struct db *db, int64_t id, const char *valid_to,
			 const char *reason, struct err *e)
{
	char idbuf[24];
	const char *params[] = {idbuf, valid_to, reason};
	struct date to;
	PGresult *res;
	bool found;

	if (valid_to && parse_date(valid_to, &to, "valid_to", e) < 0)
		return -1;
	if (check_reason(reason, e) < 0)
		return -1;
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	res = db_exec(db,
		      "SELECT target_end($1::bigint,"
		      " coalesce($2::date, lb_today()), $3)",
		      3, params, e);
	if (!res)
		return target_failed(db, e);
	found = strcmp(db_text(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!found)
		return err_set(e, ERR_NOT_FOUND, "id",
			       "target %lld: no such live target (or it "
			       "was withdrawn)",
			       (long long)id);
	return 0;
}

int readiness_targets_get(struct db *db, int64_t product_id, const char *region,
			  bool all, int64_t id, json_t **out, struct err *e)
{
	char product[24], idbuf[24];
	const char *params[5];

	snprintf(product, sizeof(product), "%" PRId64, product_id);
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	params[0] = product_id ? product : NULL;
	params[1] = region && region[0] ? region : NULL;
	params[2] = region && !region[0] ? "true" : "false";
	params[3] = all ? "true" : "false";
	params[4] = id > 0 ? idbuf : NULL;
	return one_json(
		db,
		"SELECT coalesce(jsonb_agg(t ORDER BY t.id DESC), '[]')"
		" FROM (SELECT t.id, t.product_id,"
		"  coalesce(p.vnr, p.npl_pack_id, p.gtin) AS product,"
		"  p.name AS product_name, t.region_code AS region,"
		"  t.target_days, t.floor_days, t.valid_from, t.valid_to,"
		"  t.agreement_code AS agreement, t.reason, t.created_by,"
		"  t.created_at, t.batch_id, t.changed_by, t.changed_at,"
		"  t.change_reason, t.withdrawn_at,"
		"  (t.withdrawn_at IS NULL AND t.valid_from <= lb_today()"
		"   AND (t.valid_to IS NULL OR t.valid_to >= lb_today()))"
		"   AS current"
		"  FROM target t JOIN product p ON p.id = t.product_id"
		"  WHERE ($1::bigint IS NULL OR t.product_id = $1)"
		"  AND ($2::text IS NULL OR t.region_code = $2)"
		"  AND (NOT $3::boolean OR t.region_code IS NULL)"
		"  AND ($4::boolean OR (t.withdrawn_at IS NULL"
		"   AND (t.valid_to IS NULL OR t.valid_to >= lb_today())))"
		"  AND ($5::bigint IS NULL OR t.id = $5)"
		"  ORDER BY t.id DESC LIMIT 10000) t",
		5, params, out, e);
}
