/*
 * verify.c -- the ledger checks behind `lagerbild verify`.
 *
 * All checks read one REPEATABLE READ snapshot, so writers that commit
 * while verify runs cannot make a consistent database look drifted.
 */
#include <stdio.h>
#include <string.h>

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
	out->full = true;
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

/* ---- verify_incremental ---- */

/*
 * The drift queries below report rows of (where, expected, actual) exactly
 * as the checks above do, with the same `where` text and order, and also
 * remember the key of each drift in pg_temp.verify_held, so that a key
 * that drifted is not advanced in the checkpoint and is read again on the
 * next run.  d is computed once (a CTE referenced twice is materialized).
 */
#define HOLD_DRIFTS                              \
	" h AS (INSERT INTO pg_temp.verify_held" \
	"   SELECT region_code, site_id, product_id, lot FROM d)"

#define BALANCE_WHERE                                                  \
	"format('region %s site %s product %s lot %s', k.region_code," \
	"  s.code, k.product_id, CASE WHEN k.lot = '' THEN '(none)'"   \
	"  ELSE k.lot END)"

/* The balance check against a table `l` of ledger totals per key. */
#define BALANCE_AGAINST(l)                                               \
	" d AS (SELECT k.region_code, k.site_id, k.product_id, k.lot,"   \
	"   " BALANCE_WHERE " AS w, k.ledger, k.stored"                  \
	"  FROM (SELECT coalesce(e.region_code, b.region_code) AS"       \
	"     region_code, coalesce(e.site_id, b.site_id) AS site_id,"   \
	"    coalesce(e.product_id, b.product_id) AS product_id,"        \
	"    coalesce(e.lot, b.lot) AS lot,"                             \
	"    coalesce(e.total, 0) AS ledger, coalesce(b.quantity, 0) AS" \
	"     stored"                                                    \
	"   FROM " l " e FULL JOIN stock_balance b"                      \
	"    USING (region_code, site_id, product_id, lot)) k"           \
	"  LEFT JOIN site s ON s.id = k.site_id"                         \
	"  WHERE k.ledger <> k.stored)," HOLD_DRIFTS                     \
	" SELECT w, ledger, stored FROM d ORDER BY 1"

static const char held_sql[] =
	"CREATE TEMP TABLE verify_held (region_code char(2), site_id bigint,"
	" product_id bigint, lot text) ON COMMIT DROP";

/* ---- the full check, which also builds the checkpoint ---- */

static const char full_ledger_sql[] =
	"CREATE TEMP TABLE verify_ledger ON COMMIT DROP AS"
	" SELECT region_code, site_id, product_id, lot, sum(delta) AS total,"
	"  max(seq) AS last_seq, max(id) AS last_id, count(*) AS events"
	" FROM stock_event GROUP BY region_code, site_id, product_id, lot";

static const char full_events_sql[] =
	"SELECT coalesce(sum(events), 0) FROM pg_temp.verify_ledger";

static const char full_balance_sql[] =
	"WITH" BALANCE_AGAINST("pg_temp.verify_ledger");

static const char full_chain_sql[] =
	"WITH d AS (SELECT id, format('event %s (%s, seq %s)', id, kind, seq)"
	"   AS w, running, balance_after, region_code, site_id, product_id,"
	"   lot"
	"  FROM (SELECT id, kind, seq, balance_after, region_code, site_id,"
	"    product_id, lot, sum(delta) OVER w AS running,"
	"    row_number() OVER w AS n"
	"   FROM stock_event WINDOW w AS (PARTITION BY region_code, site_id,"
	"    product_id, lot ORDER BY seq)) c"
	"  WHERE running <> balance_after OR n <> seq)," HOLD_DRIFTS
	" SELECT w, running, balance_after FROM d ORDER BY id";

static const char full_reversal_sql[] =
	"WITH d AS (SELECT r.id, format('event %s reverses event %s', r.id,"
	"   o.id) AS w, -o.delta AS expected, r.delta AS actual,"
	"   r.region_code, r.site_id, r.product_id, r.lot"
	"  FROM stock_event r JOIN stock_event o"
	"   ON o.region_code = r.region_code AND o.id = r.reverses"
	"  WHERE r.delta <> -o.delta OR o.kind = 'reversal'"
	"   OR (o.site_id, o.product_id, o.lot) <> (r.site_id, r.product_id,"
	"    r.lot))," HOLD_DRIFTS
	" SELECT w, expected, actual FROM d ORDER BY id";

/*
 * What the checkpoint should now say: each key's ledger, or nothing
 * verified for a key that drifted.  Compared with what it says, so that
 * only the keys that changed since the last run are written (an upsert of
 * every key would lock, and so dirty, every row).
 */
static const char full_diff_sql[] =
	"CREATE TEMP TABLE verify_diff ON COMMIT DROP AS"
	" WITH held AS (SELECT DISTINCT region_code, site_id, product_id, lot"
	"   FROM pg_temp.verify_held),"
	" t AS (SELECT l.region_code, l.site_id, l.product_id, l.lot,"
	"    CASE WHEN h.lot IS NULL THEN l.total ELSE 0 END AS total,"
	"    CASE WHEN h.lot IS NULL THEN l.last_seq ELSE 0 END AS last_seq,"
	"    CASE WHEN h.lot IS NULL THEN l.last_id END AS last_id,"
	"    h.lot IS NOT NULL AS held"
	"   FROM pg_temp.verify_ledger l LEFT JOIN held h"
	"    USING (region_code, site_id, product_id, lot)"
	"  UNION ALL"
	"  SELECT region_code, site_id, product_id, lot, 0, 0, NULL, true"
	"   FROM held h WHERE NOT EXISTS (SELECT 1 FROM pg_temp.verify_ledger l"
	"    WHERE (l.region_code, l.site_id, l.product_id, l.lot)"
	"     = (h.region_code, h.site_id, h.product_id, h.lot)))"
	" SELECT coalesce(t.region_code, c.region_code) AS region_code,"
	"  coalesce(t.site_id, c.site_id) AS site_id,"
	"  coalesce(t.product_id, c.product_id) AS product_id,"
	"  coalesce(t.lot, c.lot) AS lot, t.total, t.last_seq, t.last_id,"
	"  t.held, c.lot IS NULL AS is_new"
	" FROM t FULL JOIN verify_checkpoint_key c"
	"  ON (c.region_code, c.site_id, c.product_id, c.lot)"
	"   = (t.region_code, t.site_id, t.product_id, t.lot)"
	" WHERE t.lot IS NULL OR c.lot IS NULL"
	"  OR (t.total, t.last_seq, t.last_id, t.held) IS DISTINCT FROM"
	"   (c.total, c.last_seq, c.last_event_id, c.held)";

static const char *const full_save_sql[] = {
	"DELETE FROM verify_checkpoint_key c USING pg_temp.verify_diff d"
	" WHERE (c.region_code, c.site_id, c.product_id, c.lot)"
	"  = (d.region_code, d.site_id, d.product_id, d.lot)"
	"  AND d.held IS NULL",
	"UPDATE verify_checkpoint_key c SET total = d.total,"
	"  last_seq = d.last_seq, last_event_id = d.last_id, held = d.held"
	" FROM pg_temp.verify_diff d"
	" WHERE (c.region_code, c.site_id, c.product_id, c.lot)"
	"  = (d.region_code, d.site_id, d.product_id, d.lot)"
	"  AND d.held IS NOT NULL AND NOT d.is_new",
	"INSERT INTO verify_checkpoint_key (region_code, site_id, product_id,"
	"  lot, total, last_seq, last_event_id, held)"
	" SELECT region_code, site_id, product_id, lot, total, last_seq,"
	"  last_id, held FROM pg_temp.verify_diff WHERE is_new",
};

/* ---- the incremental check ---- */

/*
 * The events the checkpoint lacks ($1: its horizon): above the horizon,
 * by the primary key's range region by region, less those already in it
 * (committed before the last run but above its horizon); and every event
 * of a held key past what was verified of it.
 */
static const char incr_new_sql[] =
	"CREATE TEMP TABLE verify_new ON COMMIT DROP AS"
	" SELECT e.region_code, e.site_id, e.product_id, e.lot, e.id, e.kind,"
	"  e.delta, e.balance_after, e.seq, e.reverses"
	" FROM region r"
	" JOIN stock_event e ON e.region_code = r.code AND e.id > $1::bigint"
	" LEFT JOIN verify_checkpoint_key c"
	"  ON (c.region_code, c.site_id, c.product_id, c.lot)"
	"   = (e.region_code, e.site_id, e.product_id, e.lot)"
	" WHERE e.seq > coalesce(c.last_seq, 0)"
	" UNION"
	" SELECT e.region_code, e.site_id, e.product_id, e.lot, e.id, e.kind,"
	"  e.delta, e.balance_after, e.seq, e.reverses"
	" FROM verify_checkpoint_key c JOIN stock_event e"
	"  ON (e.region_code, e.site_id, e.product_id, e.lot)"
	"   = (c.region_code, c.site_id, c.product_id, c.lot)"
	"  AND e.seq > c.last_seq"
	" WHERE c.held";

/* Every key with new events or held: its checkpoint and what is new. */
static const char incr_key_sql[] =
	"CREATE TEMP TABLE verify_key ON COMMIT DROP AS"
	" SELECT k.region_code, k.site_id, k.product_id, k.lot,"
	"  coalesce(c.total, 0) AS old_total, coalesce(c.last_seq, 0) AS"
	"   old_seq, c.last_event_id AS old_id,"
	"  coalesce(n.delta, 0) AS delta, n.last_seq, n.last_id"
	" FROM (SELECT region_code, site_id, product_id, lot"
	"   FROM pg_temp.verify_new"
	"  UNION SELECT region_code, site_id, product_id, lot"
	"   FROM verify_checkpoint_key WHERE held) k"
	" LEFT JOIN (SELECT region_code, site_id, product_id, lot,"
	"   sum(delta) AS delta, max(seq) AS last_seq, max(id) AS last_id"
	"  FROM pg_temp.verify_new"
	"  GROUP BY region_code, site_id, product_id, lot) n"
	"  USING (region_code, site_id, product_id, lot)"
	" LEFT JOIN verify_checkpoint_key c"
	"  USING (region_code, site_id, product_id, lot)";

/*
 * Every balance and every aggregate, compared through checksums: the XOR
 * of one 64-bit hash per row (verify_balance_hash in
 * sql/015_verify_checkpoint.sql) against the checksum the checkpoint
 * predicts ($1, $2), updated for the keys and the (region, product)s with
 * new events.  One sequential read of each table, no join and no GROUP
 * BY.  Any row that differs from its prediction (a balance or an aggregate
 * changed behind the ledger's back, a row added or deleted) changes the
 * XOR unless two 64-bit hashes collide, and then every row is compared
 * one by one.  An aggregate is predicted from the checkpoint's total of
 * its (region, product) plus the new deltas there; that equals the sum of
 * its balances, which is what verify compares it with, whenever the
 * balances match the ledger -- and when they do not, the balance checksum
 * fails and the aggregates are compared row by row too.  A mere total of
 * all aggregates would miss quantity moved from one to another; the hash
 * of each row does not.  When a run finds drift the checkpoint's
 * checksums are cleared ($1, $2 NULL), and every later run compares row by
 * row until one finds none.
 */
static const char incr_hash_sql[] =
	"SELECT b.n, b.h, $1::bigint # (SELECT coalesce(bit_xor("
	"   verify_balance_hash(region_code, site_id, product_id, lot,"
	"    old_total) # verify_balance_hash(region_code, site_id,"
	"    product_id, lot, old_total + delta)), 0)"
	"  FROM pg_temp.verify_key) = b.h,"
	" a.n, a.h, $2::bigint # (SELECT coalesce(bit_xor("
	"   verify_aggregate_hash(region_code, product_id, old_total)"
	"   # verify_aggregate_hash(region_code, product_id,"
	"    old_total + delta)), 0)"
	"  FROM (SELECT v.region_code, v.product_id, sum(v.delta) AS delta,"
	"    (SELECT coalesce(sum(c.total), 0) FROM verify_checkpoint_key c"
	"     WHERE c.region_code = v.region_code"
	"      AND c.product_id = v.product_id) AS old_total"
	"   FROM pg_temp.verify_key v"
	"   GROUP BY v.region_code, v.product_id) p) = a.h"
	" FROM (SELECT count(*) AS n, coalesce(bit_xor(verify_balance_hash("
	"    region_code, site_id, product_id, lot, quantity)), 0) AS h"
	"   FROM stock_balance) b,"
	"  (SELECT count(*) AS n, coalesce(bit_xor(verify_aggregate_hash("
	"    region_code, product_id, quantity)), 0) AS h"
	"   FROM region_product_stock) a";

/* Row by row: the checkpoint's totals plus the new deltas, per key. */
static const char incr_balance_sql[] =
	"WITH l AS (SELECT c.region_code, c.site_id, c.product_id, c.lot,"
	"   c.total FROM verify_checkpoint_key c"
	"  WHERE NOT EXISTS (SELECT 1 FROM pg_temp.verify_key v"
	"   WHERE (v.region_code, v.site_id, v.product_id, v.lot)"
	"    = (c.region_code, c.site_id, c.product_id, c.lot))"
	"  UNION ALL"
	"  SELECT region_code, site_id, product_id, lot, old_total + delta"
	"   FROM pg_temp.verify_key)," BALANCE_AGAINST("l");

/*
 * The new events of each key continue its checkpoint: the running sum
 * from the checkpoint's total, seq counting on from its last seq.
 */
static const char incr_chain_sql[] =
	"WITH d AS (SELECT id, format('event %s (%s, seq %s)', id, kind, seq)"
	"   AS w, running, balance_after, region_code, site_id, product_id,"
	"   lot"
	"  FROM (SELECT n.id, n.kind, n.seq, n.balance_after, n.region_code,"
	"    n.site_id, n.product_id, n.lot,"
	"    k.old_total + sum(n.delta) OVER w AS running,"
	"    k.old_seq + row_number() OVER w AS m"
	"   FROM pg_temp.verify_new n JOIN pg_temp.verify_key k"
	"    USING (region_code, site_id, product_id, lot)"
	"   WINDOW w AS (PARTITION BY n.region_code, n.site_id, n.product_id,"
	"    n.lot ORDER BY n.seq)) c"
	"  WHERE running <> balance_after OR m <> seq)," HOLD_DRIFTS
	" SELECT w, running, balance_after FROM d ORDER BY id";

/* The new events that reverse one, old or new. */
static const char incr_reversal_sql[] =
	"WITH d AS (SELECT r.id, format('event %s reverses event %s', r.id,"
	"   o.id) AS w, -o.delta AS expected, r.delta AS actual,"
	"   r.region_code, r.site_id, r.product_id, r.lot"
	"  FROM pg_temp.verify_new r JOIN stock_event o"
	"   ON o.region_code = r.region_code AND o.id = r.reverses"
	"  WHERE r.delta <> -o.delta OR o.kind = 'reversal'"
	"   OR (o.site_id, o.product_id, o.lot) <> (r.site_id, r.product_id,"
	"    r.lot))," HOLD_DRIFTS
	" SELECT w, expected, actual FROM d ORDER BY id";

/*
 * Advance every key that was found clean over its new events (and release
 * it if it was held); a key that drifted keeps what was verified of it
 * and is held.
 */
static const char incr_save_sql[] =
	"INSERT INTO verify_checkpoint_key AS c (region_code, site_id,"
	"  product_id, lot, total, last_seq, last_event_id, held)"
	" SELECT region_code, site_id, product_id, lot,"
	"  CASE WHEN held THEN old_total ELSE old_total + delta END,"
	"  CASE WHEN held THEN old_seq ELSE coalesce(last_seq, old_seq) END,"
	"  CASE WHEN held THEN old_id ELSE coalesce(last_id, old_id) END, held"
	" FROM (SELECT v.*, EXISTS (SELECT 1 FROM pg_temp.verify_held h"
	"    WHERE (h.region_code, h.site_id, h.product_id, h.lot)"
	"     = (v.region_code, v.site_id, v.product_id, v.lot)) AS held"
	"   FROM pg_temp.verify_key v) v"
	" UNION ALL"
	" SELECT h.region_code, h.site_id, h.product_id, h.lot,"
	"  coalesce(c.total, 0), coalesce(c.last_seq, 0), c.last_event_id, true"
	" FROM (SELECT DISTINCT region_code, site_id, product_id, lot"
	"   FROM pg_temp.verify_held) h"
	" LEFT JOIN verify_checkpoint_key c"
	"  USING (region_code, site_id, product_id, lot)"
	" WHERE NOT EXISTS (SELECT 1 FROM pg_temp.verify_key v"
	"  WHERE (v.region_code, v.site_id, v.product_id, v.lot)"
	"   = (h.region_code, h.site_id, h.product_id, h.lot))"
	" ON CONFLICT (region_code, site_id, product_id, lot) DO UPDATE"
	" SET total = excluded.total, last_seq = excluded.last_seq,"
	"  last_event_id = excluded.last_event_id, held = excluded.held";

/* Both kinds: the horizon verified, and the checksums when clean. */
static const char save_meta_sql[] =
	"UPDATE verify_checkpoint SET horizon_id = $1::bigint,"
	" balance_hash = $2::bigint, aggregate_hash = $3::bigint,"
	" full_at = CASE WHEN $4::boolean THEN now() ELSE full_at END,"
	" verified_at = now(), events_read = $5::bigint";

static const char hashes_sql[] =
	"SELECT (SELECT count(*) FROM stock_balance),"
	" (SELECT coalesce(bit_xor(verify_balance_hash(region_code, site_id,"
	"   product_id, lot, quantity)), 0) FROM stock_balance),"
	" (SELECT count(*) FROM region_product_stock),"
	" (SELECT coalesce(bit_xor(verify_aggregate_hash(region_code,"
	"   product_id, quantity)), 0) FROM region_product_stock)";

/* Report the rows of one drift query; *found counts them. */
static int report_rows(struct db *db, const char *check, const char *sql,
		       verify_report_fn *report, void *ctx,
		       struct verify_totals *out, int64_t *found, struct err *e)
{
	PGresult *res = db_exec(db, sql, 0, NULL, e);

	if (!res)
		return -1;
	for (int row = 0; row < PQntuples(res); row++) {
		struct verify_drift d = {
			.check = check,
			.where = db_text(res, row, 0),
			.expected = db_int64(res, row, 1),
			.actual = db_int64(res, row, 2),
		};

		out->drifts++;
		(*found)++;
		if (report)
			report(ctx, &d);
	}
	PQclear(res);
	return 0;
}

/* One value of a one-row query, as text copied into buf. */
static int query_text(struct db *db, const char *sql, int nparams,
		      const char *const *params, char *buf, size_t size,
		      struct err *e)
{
	PGresult *res = db_exec(db, sql, nparams, params, e);

	if (!res)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return err_set(e, ERR_INTERNAL, "",
			       "verify: %d rows from %.60s", PQntuples(res),
			       sql);
	}
	snprintf(buf, size, "%s", db_text(res, 0, 0));
	PQclear(res);
	return 0;
}

/* What the run found; the checkpoint's checksums are kept only if clean. */
struct found {
	int64_t keyed;	   /* balance, event_chain and reversal drifts */
	int64_t aggregate; /* aggregate drifts */
	char balance_hash[24], aggregate_hash[24];
};

static int save_meta(struct db *db, const char *horizon, bool full,
		     const struct found *f, int64_t events, struct err *e)
{
	char nevents[24];
	const char *params[5];

	snprintf(nevents, sizeof(nevents), "%lld", (long long)events);
	params[0] = horizon;
	params[1] = f->keyed ? NULL : f->balance_hash;
	params[2] = f->keyed || f->aggregate ? NULL : f->aggregate_hash;
	params[3] = full ? "t" : "f";
	params[4] = nevents;
	return db_command(db, save_meta_sql, 5, params, e);
}

static int run_full(struct db *db, const char *horizon,
		    verify_report_fn *report, void *ctx,
		    struct verify_totals *out, struct err *e)
{
	PGresult *res = NULL;
	struct found f = {0};

	out->full = true;
	if (db_command(db, full_ledger_sql, 0, NULL, e) < 0 ||
	    count_rows(db, full_events_sql, &out->events, e) < 0)
		return -1;
	if (report_rows(db, "balance", full_balance_sql, report, ctx, out,
			&f.keyed, e) < 0 ||
	    report_rows(db, "aggregate", checks[1].sql, report, ctx, out,
			&f.aggregate, e) < 0 ||
	    report_rows(db, "event_chain", full_chain_sql, report, ctx, out,
			&f.keyed, e) < 0 ||
	    report_rows(db, "reversal", full_reversal_sql, report, ctx, out,
			&f.keyed, e) < 0 ||
	    db_command(db, full_diff_sql, 0, NULL, e) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(full_save_sql) / sizeof(full_save_sql[0]);
	     i++)
		if (db_command(db, full_save_sql[i], 0, NULL, e) < 0)
			return -1;
	res = db_exec(db, hashes_sql, 0, NULL, e);
	if (!res)
		return -1;
	out->balances = db_int64(res, 0, 0);
	snprintf(f.balance_hash, sizeof(f.balance_hash), "%s",
		 db_text(res, 0, 1));
	out->aggregates = db_int64(res, 0, 2);
	snprintf(f.aggregate_hash, sizeof(f.aggregate_hash), "%s",
		 db_text(res, 0, 3));
	PQclear(res);
	return save_meta(db, horizon, true, &f, out->events, e);
}

static int run_incremental(struct db *db, const char *horizon, const char *from,
			   const char *balance_hash, const char *aggregate_hash,
			   verify_report_fn *report, void *ctx,
			   struct verify_totals *out, struct err *e)
{
	PGresult *res = NULL;
	struct found f = {0};
	const char *params[2] = {from, NULL};
	bool balances_ok, aggregates_ok;

	if (db_command(db, incr_new_sql, 1, params, e) < 0 ||
	    db_command(db, incr_key_sql, 0, NULL, e) < 0 ||
	    count_rows(db, "SELECT count(*) FROM pg_temp.verify_new",
		       &out->events, e) < 0)
		return -1;
	params[0] = balance_hash;
	params[1] = aggregate_hash;
	res = db_exec(db, incr_hash_sql, 2, params, e);
	if (!res)
		return -1;
	out->balances = db_int64(res, 0, 0);
	snprintf(f.balance_hash, sizeof(f.balance_hash), "%s",
		 db_text(res, 0, 1));
	balances_ok = strcmp(db_text(res, 0, 2), "t") == 0;
	out->aggregates = db_int64(res, 0, 3);
	snprintf(f.aggregate_hash, sizeof(f.aggregate_hash), "%s",
		 db_text(res, 0, 4));
	aggregates_ok = balances_ok && strcmp(db_text(res, 0, 5), "t") == 0;
	PQclear(res);
	if ((!balances_ok && report_rows(db, "balance", incr_balance_sql,
					 report, ctx, out, &f.keyed, e) < 0) ||
	    (!aggregates_ok &&
	     report_rows(db, "aggregate", checks[1].sql, report, ctx, out,
			 &f.aggregate, e) < 0) ||
	    report_rows(db, "event_chain", incr_chain_sql, report, ctx, out,
			&f.keyed, e) < 0 ||
	    report_rows(db, "reversal", incr_reversal_sql, report, ctx, out,
			&f.keyed, e) < 0 ||
	    db_command(db, incr_save_sql, 0, NULL, e) < 0)
		return -1;
	return save_meta(db, horizon, false, &f, out->events, e);
}

int verify_incremental(struct db *db, int64_t full_every,
		       verify_report_fn *report, void *ctx,
		       struct verify_totals *out, struct err *e)
{
	PGresult *res = NULL;
	char every[24], horizon[24], from[24], bhash[24], ahash[24];
	const char *params[1] = {every};
	bool locked = false, full, have_bhash, have_ahash;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (full_every < 0 || full_every > VERIFY_FULL_EVERY_MAX)
		return err_set(e, ERR_INVALID, "verify_full_interval",
			       "verify_full_interval %lld: not in 0..%lld "
			       "seconds",
			       (long long)full_every,
			       (long long)VERIFY_FULL_EVERY_MAX);
	snprintf(every, sizeof(every), "%lld", (long long)full_every);
	/*
	 * One run at a time: two would advance the checkpoint over each
	 * other.  A session lock, taken before the snapshot is, so the
	 * second run's snapshot sees the first run's checkpoint.
	 */
	if (db_command(db,
		       "SELECT pg_advisory_lock(hashtextextended("
		       "'lagerbild.verify', 0))",
		       0, NULL, e) < 0)
		return -1;
	locked = true;
	/*
	 * The horizon in a transaction of its own, before the snapshot: every
	 * event at or below it committed before the snapshot is taken, so the
	 * snapshot sees all of them and the next run may start above it.
	 */
	if (query_text(db, "SELECT verify_horizon()", 0, NULL, horizon,
		       sizeof(horizon), e) < 0)
		goto out;
	/*
	 * One snapshot, as verify_run: a writer committing meanwhile cannot
	 * make a consistent ledger look drifted.
	 */
	if (db_command(db, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL,
		       e) < 0)
		goto out;
	db->in_tx = true;
	res = db_exec(
		db,
		"SELECT horizon_id IS NULL OR full_at IS NULL"
		"  OR full_at <= now() - $1::bigint * interval '1 second',"
		" horizon_id, balance_hash, aggregate_hash"
		" FROM verify_checkpoint",
		1, params, e);
	if (!res)
		goto out;
	if (PQntuples(res) != 1) {
		err_set(e, ERR_INTERNAL, "", "verify_checkpoint has no row");
		goto out;
	}
	full = strcmp(db_text(res, 0, 0), "t") == 0;
	snprintf(from, sizeof(from), "%s", db_text(res, 0, 1));
	have_bhash = !PQgetisnull(res, 0, 2);
	have_ahash = !PQgetisnull(res, 0, 3);
	snprintf(bhash, sizeof(bhash), "%s", db_text(res, 0, 2));
	snprintf(ahash, sizeof(ahash), "%s", db_text(res, 0, 3));
	PQclear(res);
	res = NULL;
	if (db_command(db, held_sql, 0, NULL, e) < 0)
		goto out;
	if ((full ? run_full(db, horizon, report, ctx, out, e) :
		    run_incremental(db, horizon, from,
				    have_bhash ? bhash : NULL,
				    have_ahash ? ahash : NULL, report, ctx, out,
				    e)) < 0)
		goto out;
	if (db_commit(db, e) < 0)
		goto out;
	rc = 0;
out:
	PQclear(res);
	if (db->in_tx)
		db_rollback(db);
	if (locked) {
		PGresult *u = PQexec(
			db->conn, "SELECT pg_advisory_unlock(hashtextextended("
				  "'lagerbild.verify', 0))");

		PQclear(u);
	}
	return rc;
}
