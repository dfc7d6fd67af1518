/*
 * balances.c -- stock per (site, product, lot): `lagerbild stock show`.
 */
#include <stdio.h>

#include "reports.h"

int report_balances_query(struct db *db, const struct balance_filter *f,
			  PGresult **out, struct err *e)
{
	char site[24], product[24], limit[24];
	const char *params[4];

	snprintf(site, sizeof(site), "%lld", (long long)f->site_id);
	snprintf(product, sizeof(product), "%lld", (long long)f->product_id);
	/* One row more than shown tells whether there is more. */
	snprintf(limit, sizeof(limit), "%ld", f->limit + 1);
	params[0] = f->region;
	params[1] = f->site_id ? site : NULL;
	params[2] = f->product_id ? product : NULL;
	params[3] = limit;
	*out = db_exec(db,
		       "SELECT b.region_code AS region, s.code AS site,"
		       " coalesce(p.vnr, p.npl_pack_id, p.gtin) AS product,"
		       " p.name, CASE WHEN b.lot = '' THEN '-' ELSE b.lot END"
		       " AS lot, coalesce(b.expiry::text, '-') AS expiry,"
		       " b.quantity AS qty, p.base_unit AS unit"
		       " FROM stock_balance b"
		       " JOIN site s ON s.id = b.site_id"
		       " JOIN product p ON p.id = b.product_id"
		       " WHERE ($1::text IS NULL OR b.region_code = $1)"
		       " AND ($2::bigint IS NULL OR b.site_id = $2)"
		       " AND ($3::bigint IS NULL OR b.product_id = $3)"
		       " ORDER BY b.region_code, s.code, p.name, b.lot"
		       " LIMIT $4",
		       4, params, e);
	return *out ? 0 : -1;
}

int report_balances(struct db *db, const struct balance_filter *f, FILE *out,
		    enum report_format fmt, struct err *e)
{
	static const int numeric[] = {6, -1};
	PGresult *res = NULL;

	if (report_balances_query(db, f, &res, e) < 0)
		return -1;
	if (PQntuples(res) > f->limit) {
		/* Drop the probe row from the output by writing fewer. */
		PGresult *cut = PQcopyResult(res, PG_COPYRES_ATTRS);

		for (int r = 0; cut && r < f->limit; r++)
			for (int c = 0; c < PQnfields(res); c++)
				PQsetvalue(cut, r, c, PQgetvalue(res, r, c),
					   PQgetlength(res, r, c));
		report_write(out, fmt, cut ? cut : res, numeric);
		fprintf(stderr, "more rows than --limit %ld; narrow the filter "
				"or raise the limit\n",
			f->limit);
		PQclear(cut);
	} else {
		report_write(out, fmt, res, numeric);
	}
	PQclear(res);
	return 0;
}
