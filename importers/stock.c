/*
 * stock.c -- the `stock` feed: a region's stock snapshot from its own
 * inventory system.
 *
 * Format: CSV (',' ';' or tab), UTF-8 or Windows-1252, a header naming the
 * columns in any order:
 *   site        site code (required)
 *   product     a national identifier: Vnr, GTIN, NPL pack id, bare or
 *               prefixed (vnr:, gtin:, npl:, id:) as everywhere else
 *   article     the region's own article number (1..40 printable ASCII)
 *   lot         lot number, may be empty
 *   expiry      YYYY-MM-DD, may be empty
 *   quantity    counted quantity in the product's base unit, >= 0 (required)
 *   counted_at  when it was counted: RFC 3339, or a date (midnight, Swedish
 *               time) (required)
 * Each row names product, article or both.  The first row that names both
 * maps the region's article number to the product, once; later rows may
 * name the article alone.  A mapping is never changed by a snapshot: a row
 * that maps a mapped article elsewhere is rejected.
 *
 * Every row becomes a `count` event (ledger_apply_counts, sql/004), which
 * sets its (site, product, lot) balance to the counted quantity: absolute
 * quantities make a re-import safe.  A snapshot states what it lists;
 * stock it does not list is left as it was, so a lot that has run out is
 * sent as a row with quantity 0.
 */
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "csvin.h"
#include "feeds.h"
#include "validate.h"

enum {
	C_SITE,
	C_PRODUCT,
	C_ARTICLE,
	C_LOT,
	C_EXPIRY,
	C_QTY,
	C_COUNTED
};

static const struct csvin_column columns[] = {
	[C_SITE] = {"site", true, "site_code"},
	[C_PRODUCT] = {"product", false, "identifier"},
	[C_ARTICLE] = {"article", false, "local_article"},
	[C_LOT] = {"lot", false, "batch"},
	[C_EXPIRY] = {"expiry", false, "expiry_date"},
	[C_QTY] = {"quantity", true, "qty"},
	[C_COUNTED] = {"counted_at", true, "counted"},
};

/* Longest region-local article number (sql/004 region_article). */
#define ARTICLE_MAX 40

static int check_article(const char *s, struct err *e)
{
	size_t n = strlen(s);

	if (n == 0 || n > ARTICLE_MAX)
		return err_set(e, ERR_INVALID, "article",
			       "must be 1 to %d characters", ARTICLE_MAX);
	for (size_t i = 0; i < n; i++)
		if (s[i] < '!' || s[i] > '~')
			return err_set(e, ERR_INVALID, "article",
				       "only printable ASCII without spaces");
	return 0;
}

/* Reject with e's message as the reason and e's field as the field. */
static int bad(struct import_run *run, int64_t line, const char *value,
	       struct err *e)
{
	import_reject_err(run, line, value, e);
	err_clear(e);
	return 0;
}

static int stock_record(struct import_run *run, int64_t line,
			const char *const *v, void *arg)
{
	struct err e = {0};
	const char *kind = NULL, *lot, *expiry;
	char key[CATALOG_KEY_MAX], qty[24];
	struct date d;
	int64_t q;
	const char *vals[8];
	int nbad = 0;

	(void)arg;
	if (validate_site_code(v[C_SITE], "site", &e) < 0)
		nbad += bad(run, line, v[C_SITE], &e) + 1;
	if (v[C_PRODUCT] && v[C_PRODUCT][0]) {
		if (catalog_product_key(v[C_PRODUCT], &kind, key, &e) < 0)
			nbad += bad(run, line, v[C_PRODUCT], &e) + 1;
	}
	if (v[C_ARTICLE] && v[C_ARTICLE][0] &&
	    check_article(v[C_ARTICLE], &e) < 0)
		nbad += bad(run, line, v[C_ARTICLE], &e) + 1;
	if ((!v[C_PRODUCT] || !v[C_PRODUCT][0]) &&
	    (!v[C_ARTICLE] || !v[C_ARTICLE][0])) {
		import_reject(run, line, "product", NULL,
			      "missing: name the product (vnr, gtin or npl "
			      "pack id) or the region's article number");
		nbad++;
	}
	lot = v[C_LOT] ? v[C_LOT] : "";
	if (validate_lot(lot, "lot", &e) < 0)
		nbad += bad(run, line, lot, &e) + 1;
	expiry = v[C_EXPIRY] && v[C_EXPIRY][0] ? v[C_EXPIRY] : NULL;
	if (expiry && parse_date(expiry, &d, "expiry", &e) < 0)
		nbad += bad(run, line, expiry, &e) + 1;
	if (!v[C_QTY][0]) {
		import_reject(run, line, "quantity", NULL, "missing");
		nbad++;
	} else if (parse_int64(v[C_QTY], 0, INT64_C(1000000000000), &q,
			       "quantity", &e) < 0) {
		nbad += bad(run, line, v[C_QTY], &e) + 1;
	}
	if (!v[C_COUNTED][0]) {
		import_reject(run, line, "counted_at", NULL, "missing");
		nbad++;
	} else if (parse_timestamp(v[C_COUNTED], NULL, "counted_at", &e) < 0) {
		err_clear(&e);
		if (parse_date(v[C_COUNTED], &d, "counted_at", &e) < 0) {
			import_reject(run, line, "counted_at", v[C_COUNTED],
				      "not a date (YYYY-MM-DD) or an RFC 3339 "
				      "time (2026-11-22T08:00:00+01:00)");
			err_clear(&e);
			nbad++;
		}
	}
	if (nbad)
		return 0;
	snprintf(qty, sizeof(qty), "%lld", (long long)q);
	vals[0] = v[C_SITE];
	vals[1] = kind;
	vals[2] = kind ? key : NULL;
	vals[3] = v[C_ARTICLE] && v[C_ARTICLE][0] ? v[C_ARTICLE] : NULL;
	vals[4] = lot;
	vals[5] = expiry;
	vals[6] = qty;
	vals[7] = v[C_COUNTED];
	return import_stage_row(run, line, 8, vals);
}

static int stock_parse(struct import_run *run, const char *path)
{
	return csvin_read(run, path, columns,
			  sizeof(columns) / sizeof(columns[0]), stock_record,
			  NULL);
}

/* ---- set-wise: resolve, check, apply ---- */

/* Each staged row with its site and product found, once.  product_id is
 * what the row stands for: its national identifier, else its article's
 * mapping. */
static const char resolve_sql[] =
	"CREATE TEMP TABLE stock_resolved ON COMMIT DROP AS"
	" SELECT x.*, CASE WHEN x.pkind IS NULL THEN x.article_product"
	"  WHEN NOT x.ambiguous THEN x.key_product END AS product_id"
	" FROM (SELECT s.line, s.site, st.id AS site_id,"
	"  st.region_code AS site_region, st.active,"
	"  s.pkind, s.pkey, s.article, ra.product_id AS article_product,"
	"  CASE s.pkind WHEN 'vnr' THEN pv.id WHEN 'gtin' THEN pg.id"
	"   WHEN 'npl' THEN pn.id WHEN 'id' THEN pi.id"
	"   WHEN 'npl_or_gtin' THEN coalesce(pn.id, pg.id) END AS key_product,"
	"  coalesce(s.pkind = 'npl_or_gtin' AND pn.id <> pg.id, false)"
	"   AS ambiguous,"
	"  s.lot, s.expiry, s.quantity, s.counted,"
	"  CASE WHEN s.counted ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'"
	"   THEN s.counted::date::timestamp AT TIME ZONE 'Europe/Stockholm'"
	"   ELSE s.counted::timestamptz END AS counted_at"
	" FROM stage_stock s"
	" LEFT JOIN site st ON st.code = s.site"
	" LEFT JOIN product pv ON s.pkind = 'vnr' AND pv.vnr = s.pkey"
	" LEFT JOIN product pg ON s.pkind IN ('gtin', 'npl_or_gtin')"
	"  AND pg.gtin = s.pkey"
	" LEFT JOIN product pn ON s.pkind IN ('npl', 'npl_or_gtin')"
	"  AND pn.npl_pack_id = s.pkey"
	" LEFT JOIN product pi"
	"  ON pi.id = CASE WHEN s.pkind = 'id' THEN s.pkey::bigint END"
	" LEFT JOIN region_article ra ON ra.region_code = $1"
	"  AND ra.article = s.article) x";

/* A row naming only an article the region has not mapped yet may use the
 * mapping an earlier row of the same file makes. */
static const char file_mapping_sql[] =
	"UPDATE stock_resolved r SET product_id = m.product_id"
	" FROM (SELECT DISTINCT ON (article) article, product_id"
	"  FROM stock_resolved WHERE pkind IS NOT NULL AND article IS NOT NULL"
	"  AND article_product IS NULL AND product_id IS NOT NULL"
	"  ORDER BY article, line) m"
	" WHERE r.pkind IS NULL AND r.product_id IS NULL"
	" AND r.article = m.article";

/* Rejections, one statement per kind of fault.  $1 is the region. */
static const struct {
	const char *sql;
	int nparams; /* 1: $1 is the region */
} check_sql[] = {

	{"INSERT INTO import_rejects SELECT line, 'site', site,"
	 " 'no such site' FROM stock_resolved WHERE site_id IS NULL",
	 0},

	{"INSERT INTO import_rejects SELECT line, 'site', site,"
	 " format('belongs to region %s, not %s', site_region, $1::text)"
	 " FROM stock_resolved WHERE site_region <> $1",
	 1},

	{"INSERT INTO import_rejects SELECT line, 'site', site,"
	 " 'the site is inactive' FROM stock_resolved"
	 " WHERE site_region = $1 AND NOT active",
	 1},

	{"INSERT INTO import_rejects SELECT line, 'product', pkey,"
	 " CASE WHEN ambiguous THEN format('matches an NPL pack id and a GTIN"
	 " of different products; write npl:%s or gtin:%s', pkey, pkey)"
	 " ELSE 'no such product in the catalog' END"
	 " FROM stock_resolved WHERE pkind IS NOT NULL AND product_id IS NULL",
	 0},

	{"INSERT INTO import_rejects SELECT line, 'article', article,"
	 " format('region %s has no mapping for this article number; name the"
	 " product beside it once', $1::text)"
	 " FROM stock_resolved WHERE pkind IS NULL AND product_id IS NULL",
	 1},

	{"INSERT INTO import_rejects SELECT line, 'article', article,"
	 " format('is mapped to product %s, not %s', article_product,"
	 " product_id) FROM stock_resolved"
	 " WHERE article_product IS NOT NULL AND pkind IS NOT NULL"
	 " AND article_product <> product_id",
	 0},

	/* a new mapping must be the same on every row that makes it */
	{"INSERT INTO import_rejects SELECT r.line, 'article', r.article,"
	 " format('line %s maps it to product %s, this line to %s', m.line,"
	 " m.product_id, r.product_id)"
	 " FROM stock_resolved r JOIN (SELECT DISTINCT ON (article) article,"
	 "  line, product_id FROM stock_resolved"
	 "  WHERE article IS NOT NULL AND pkind IS NOT NULL"
	 "  AND article_product IS NULL AND product_id IS NOT NULL"
	 "  ORDER BY article, line) m ON m.article = r.article"
	 " WHERE r.pkind IS NOT NULL AND r.article_product IS NULL"
	 " AND r.product_id <> m.product_id",
	 0},

	{"INSERT INTO import_rejects SELECT line, 'counted_at', counted,"
	 " 'is in the future' FROM stock_resolved"
	 " WHERE counted_at > now() + interval '1 day'",
	 0},

	{"INSERT INTO import_rejects SELECT r.line, 'product',"
	 " coalesce(r.pkey, r.article),"
	 " format('duplicate of line %s: site %s, lot %s is counted twice',"
	 " d.first, r.site, CASE WHEN r.lot = '' THEN '(none)' ELSE r.lot END)"
	 " FROM stock_resolved r JOIN (SELECT site_id, product_id, lot,"
	 "  min(line) AS first FROM stock_resolved"
	 "  WHERE site_id IS NOT NULL AND product_id IS NOT NULL"
	 "  GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
	 " USING (site_id, product_id, lot)"
	 " WHERE r.line <> d.first",
	 0},

	/* as the ledger: a lot has one expiry date */
	{"INSERT INTO import_rejects SELECT r.line, 'expiry', r.expiry::text,"
	 " format('lot %s has expiry %s', r.lot, b.expiry)"
	 " FROM stock_resolved r JOIN stock_balance b"
	 " ON b.region_code = r.site_region AND b.site_id = r.site_id"
	 " AND b.product_id = r.product_id AND b.lot = r.lot"
	 " WHERE r.lot <> '' AND r.expiry IS NOT NULL"
	 " AND b.expiry IS NOT NULL AND b.expiry <> r.expiry"
	 " AND r.site_region = $1",
	 1},

	/* last: a row naming an article alone may not use a mapping made
	 * only by rows rejected above, which apply will not store */
	{"INSERT INTO import_rejects SELECT r.line, 'article', r.article,"
	 " 'the line of this file that maps this article number was"
	 " rejected' FROM stock_resolved r"
	 " WHERE r.pkind IS NULL AND r.article_product IS NULL"
	 " AND r.product_id IS NOT NULL"
	 " AND NOT EXISTS (SELECT 1 FROM import_rejects x"
	 "  WHERE x.line = r.line)"
	 " AND NOT EXISTS (SELECT 1 FROM stock_resolved m"
	 "  WHERE m.article = r.article AND m.pkind IS NOT NULL"
	 "  AND m.article_product IS NULL AND m.product_id = r.product_id"
	 "  AND NOT EXISTS (SELECT 1 FROM import_rejects x"
	 "   WHERE x.line = m.line))",
	 0},
};

static int stock_check(struct import_run *run)
{
	const char *params[1] = {run->region};

	/* Temporary tables have no statistics until asked. */
	if (import_exec(run, resolve_sql, 1, params) < 0 ||
	    import_exec(run, file_mapping_sql, 0, NULL) < 0 ||
	    import_exec(run, "ANALYZE stock_resolved", 0, NULL) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(check_sql) / sizeof(check_sql[0]); i++)
		if (import_exec(run, check_sql[i].sql, check_sql[i].nparams,
				params) < 0)
			return -1;
	return 0;
}

static const char mapping_sql[] =
	"INSERT INTO region_article (region_code, article, product_id,"
	" batch_id)"
	" SELECT DISTINCT ON (article) $1, article, product_id, $2::bigint"
	" FROM stock_resolved r"
	" WHERE article IS NOT NULL AND pkind IS NOT NULL"
	" AND article_product IS NULL AND product_id IS NOT NULL"
	" AND NOT EXISTS (SELECT 1 FROM import_rejects x"
	"  WHERE x.line = r.line)"
	" ORDER BY article, line";

static const char counts_sql[] =
	"SELECT ledger_apply_counts(array_agg(site_id), array_agg(product_id),"
	" array_agg(lot), array_agg(expiry), array_agg(quantity),"
	" array_agg(counted_at), 'import:stock', $1::bigint)"
	" FROM stock_resolved r"
	" WHERE NOT EXISTS (SELECT 1 FROM import_rejects x"
	"  WHERE x.line = r.line)";

static int stock_apply(struct import_run *run)
{
	char batch[24];
	const char *params[2] = {run->region, batch};
	PGresult *res;

	snprintf(batch, sizeof(batch), "%lld", (long long)run->batch_id);
	if (import_exec(run, mapping_sql, 2, params) < 0)
		return -1;
	res = db_exec(run->db, counts_sql, 1, params + 1, run->err);
	if (!res)
		return -1;
	run->applied = db_int64(res, 0, 0);
	PQclear(res);
	return 0;
}

const struct import_feed import_feed_stock = {
	.name = "stock",
	.summary = "a region's stock snapshot (CSV): counts per site, "
		   "product and lot",
	.scope = IMPORT_REGIONAL,
	.stage_sql =
		"CREATE TEMP TABLE stage_stock (line bigint NOT NULL,"
		" site text NOT NULL, pkind text, pkey text, article text,"
		" lot text NOT NULL, expiry date, quantity bigint NOT NULL,"
		" counted text NOT NULL) ON COMMIT DROP",
	.copy_sql = "COPY stage_stock (line, site, pkind, pkey, article, lot,"
		    " expiry, quantity, counted) FROM STDIN",
	.parse = stock_parse,
	.check = stock_check,
	.apply = stock_apply,
};
