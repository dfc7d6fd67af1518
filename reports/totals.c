/*
 * totals.c -- national totals from the per-region aggregates:
 * `lagerbild totals`.
 *
 * Quantities of different products are never added together: their base
 * units differ.  The per-category view therefore counts products, not units.
 */
#include <stdio.h>

#include "reports.h"

static const char *const by_product_sql =
	"SELECT coalesce(p.vnr, p.npl_pack_id, p.gtin) AS product, p.name,"
	" p.category, coalesce(sum(r.quantity), 0)::bigint AS qty,"
	" p.base_unit AS unit,"
	" count(*) FILTER (WHERE r.quantity > 0) AS regions_holding"
	" FROM product p"
	" LEFT JOIN region_product_stock r ON r.product_id = p.id"
	" WHERE ($1::product_category IS NULL OR p.category = $1)"
	" AND ($2::bigint IS NULL OR p.id = $2)"
	" AND (NOT $3::boolean OR p.critical)"
	" GROUP BY p.id ORDER BY p.category, p.name";

static const char *const by_region_sql =
	"SELECT coalesce(p.vnr, p.npl_pack_id, p.gtin) AS product, p.name,"
	" g.code AS region, g.name AS region_name, r.quantity AS qty,"
	" p.base_unit AS unit"
	" FROM region_product_stock r"
	" JOIN product p ON p.id = r.product_id"
	" JOIN region g ON g.code = r.region_code"
	" WHERE ($1::product_category IS NULL OR p.category = $1)"
	" AND ($2::bigint IS NULL OR p.id = $2)"
	" AND (NOT $3::boolean OR p.critical)"
	" ORDER BY p.category, p.name, g.code";

/* Per category: how many products, how many held anywhere, and how many
 * some region that has kept them now holds none of. */
static const char *const by_category_sql =
	"SELECT p.category, count(*) AS products,"
	" count(*) FILTER (WHERE t.qty > 0) AS in_stock,"
	" count(*) FILTER (WHERE t.regions_out > 0) AS out_in_some_region,"
	" count(*) FILTER (WHERE t.qty = 0) AS out_nationally"
	" FROM product p"
	" LEFT JOIN LATERAL (SELECT coalesce(sum(r.quantity), 0) AS qty,"
	"   count(*) FILTER (WHERE r.quantity = 0) AS regions_out"
	"   FROM region_product_stock r WHERE r.product_id = p.id) t ON true"
	" WHERE ($1::product_category IS NULL OR p.category = $1)"
	" AND ($2::bigint IS NULL OR p.id = $2)"
	" AND (NOT $3::boolean OR p.critical)"
	" GROUP BY p.category ORDER BY p.category";

int report_totals_query(struct db *db, const struct totals_filter *f,
			PGresult **out, struct err *e)
{
	char product[24];
	const char *params[3];
	const char *sql;

	snprintf(product, sizeof(product), "%lld", (long long)f->product_id);
	params[0] = f->category;
	params[1] = f->product_id ? product : NULL;
	params[2] = f->critical_only ? "true" : "false";
	switch (f->by) {
	case TOTALS_BY_REGION: sql = by_region_sql; break;
	case TOTALS_BY_CATEGORY: sql = by_category_sql; break;
	default: sql = by_product_sql; break;
	}
	*out = db_exec(db, sql, 3, params, e);
	return *out ? 0 : -1;
}

int report_totals(struct db *db, const struct totals_filter *f, FILE *out,
		  enum report_format fmt, struct err *e)
{
	static const int num_product[] = {3, 5, -1};
	static const int num_region[] = {4, -1};
	static const int num_category[] = {1, 2, 3, 4, -1};
	const int *numeric = f->by == TOTALS_BY_REGION	   ? num_region
			     : f->by == TOTALS_BY_CATEGORY ? num_category
							   : num_product;
	PGresult *res = NULL;

	if (report_totals_query(db, f, &res, e) < 0)
		return -1;
	report_write(out, fmt, res, numeric);
	PQclear(res);
	return 0;
}
