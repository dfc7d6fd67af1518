/*
 * verify.c -- the ledger checks behind `lagerbild verify`.
 *
 * All checks read one REPEATABLE READ snapshot, so writers that commit
 * while verify runs cannot make a consistent database look drifted.
 */
#include <stdio.h>

#include "verify.h"

struct check {
	const char *name;
	/* Rows of (where, expected, actual) that disagree. */
	const char *sql;
};

static const struct check checks[] = {
	{"balance",
	 "SELECT format('region %s site %s product %s lot %s', k.region_code,"
	 "  s.code, k.product_id, CASE WHEN k.lot = '' THEN '(none)'"
	 "  ELSE k.lot END), k.ledger, k.stored"
	 " FROM (SELECT coalesce(e.region_code, b.region_code) AS region_code,"
	 "   coalesce(e.site_id, b.site_id) AS site_id,"
	 "   coalesce(e.product_id, b.product_id) AS product_id,"
	 "   coalesce(e.lot, b.lot) AS lot,"
	 "   coalesce(e.total, 0) AS ledger, coalesce(b.quantity, 0) AS stored"
	 "  FROM (SELECT region_code, site_id, product_id, lot,"
	 "     sum(delta) AS total FROM stock_event"
	 "     GROUP BY region_code, site_id, product_id, lot) e"
	 "  FULL JOIN stock_balance b USING (region_code, site_id, product_id,"
	 "     lot)) k"
	 " LEFT JOIN site s ON s.id = k.site_id"
	 " WHERE k.ledger <> k.stored ORDER BY 1"},
	{"aggregate",
	 "SELECT format('region %s product %s', k.region_code, k.product_id),"
	 "  k.ledger, k.stored"
	 " FROM (SELECT coalesce(b.region_code, a.region_code) AS region_code,"
	 "   coalesce(b.product_id, a.product_id) AS product_id,"
	 "   coalesce(b.total, 0) AS ledger, coalesce(a.quantity, 0) AS stored"
	 "  FROM (SELECT region_code, product_id, sum(quantity) AS total"
	 "     FROM stock_balance GROUP BY region_code, product_id) b"
	 "  FULL JOIN region_product_stock a USING (region_code, product_id)) k"
	 " WHERE k.ledger <> k.stored ORDER BY 1"},
	/*
	 * Each event's balance_after must be the running sum of its balance's
	 * events in the order they were applied (seq), and seq must count
	 * 1, 2, 3 ... without gaps.
	 */
	{"event_chain",
	 "SELECT format('event %s (%s, seq %s)', id, kind, seq), running,"
	 "  balance_after"
	 " FROM (SELECT id, kind, seq, balance_after, sum(delta) OVER w AS"
	 "   running, row_number() OVER w AS n"
	 "  FROM stock_event WINDOW w AS (PARTITION BY region_code, site_id,"
	 "   product_id, lot ORDER BY seq)) c"
	 " WHERE running <> balance_after OR n <> seq ORDER BY id"},
	{"reversal",
	 "SELECT format('event %s reverses event %s', r.id, o.id), -o.delta,"
	 "  r.delta"
	 " FROM stock_event r JOIN stock_event o"
	 "  ON o.region_code = r.region_code AND o.id = r.reverses"
	 " WHERE r.delta <> -o.delta OR o.kind = 'reversal'"
	 "  OR (o.site_id, o.product_id, o.lot) <> (r.site_id, r.product_id,"
	 "   r.lot) ORDER BY r.id"},
};

static int count_rows(struct db *db, const char *sql, int64_t *out,
		      struct err *e)
{
	PGresult *res = db_exec(db, sql, 0, NULL, e);

	if (!res)
		return -1;
	*out = db_int64(res, 0, 0);
	PQclear(res);
	return 0;
}

int verify_run(struct db *db, verify_report_fn *report, void *ctx,
	       struct verify_totals *out, struct err *e)
{
	PGresult *res = NULL;
	int rc = -1;

	out->events = out->balances = out->aggregates = out->drifts = 0;
	if (db_command(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
		       NULL, e) < 0)
		return -1;
	db->in_tx = true;
	if (count_rows(db, "SELECT count(*) FROM stock_event", &out->events,
		       e) < 0 ||
	    count_rows(db, "SELECT count(*) FROM stock_balance", &out->balances,
		       e) < 0 ||
	    count_rows(db, "SELECT count(*) FROM region_product_stock",
		       &out->aggregates, e) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		res = db_exec(db, checks[i].sql, 0, NULL, e);
		if (!res)
			goto out;
		for (int row = 0; row < PQntuples(res); row++) {
			struct verify_drift d = {
				.check = checks[i].name,
				.where = db_text(res, row, 0),
				.expected = db_int64(res, row, 1),
				.actual = db_int64(res, row, 2),
			};

			out->drifts++;
			if (report)
				report(ctx, &d);
		}
		PQclear(res);
		res = NULL;
	}
	rc = 0;
out:
	PQclear(res);
	db_rollback(db);
	return rc;
}
