/*
 * targets.c -- the targets feed: target and floor days of supply per
 * product, nationally or per region, e.g. Socialstyrelsen's list of about
 * 220 prioritised medicines under a tilläggsöverenskommelse.
 *
 * Format (national feed; CSV, UTF-8 or Windows-1252, delimiter ',' ';' or
 * tab; header names case-insensitive, Swedish aliases in brackets):
 *
 *   product      (produkt)      required  an identifier as elsewhere:
 *                                         vnr:, gtin:, npl:, id: or bare
 *                                         (6 digits Vnr, 8/12/13 GTIN, 14
 *                                         NPL pack id or GTIN-14)
 *   region       (region)       optional  SCB code; empty: every region
 *   target_days  (måldagar)     required  days, > 0 and <= 3650, at most
 *                                         two decimals ('.' or ',')
 *   floor_days   (golvdagar)    optional  days, 0 to target_days; empty: 0
 *   valid_from   (giltig från)  required  YYYY-MM-DD
 *   valid_to     (giltig till)  optional  YYYY-MM-DD, inclusive, not
 *                                         before valid_from; empty: open
 *   agreement    (avtal)        optional  agreement code (TO2022_LM, ...)
 *   reason       (motivering)   optional  up to 1000 bytes; empty: "targets
 *                                         import" and the batch
 *
 *   product;region;target_days;floor_days;valid_from;valid_to;agreement
 *   vnr:123456;;30;7;2026-01-01;;TO2022_LM
 *   123456;14;45;10;2026-03-01;;TO2022_LM
 *
 * Upsert: each row sets the target of its (product, region) from
 * valid_from on, as `lagerbild readiness targets set` does (SQL
 * target_set): the live target that started earlier ends the day before
 * valid_from; one starting on or after valid_from within the new period is
 * withdrawn.  A row equal to the live target changes nothing.  Targets not
 * in the file are left as they are: a file need not be the full list.
 * The same (product, region, valid_from) twice in one file is refused on
 * the later line.  Rows are applied in file order.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "readiness_report.h"
#include "catalog.h"
#include "csvin.h"
#include "feeds.h"
#include "import.h"
#include "validate.h"

enum {
	C_PRODUCT,
	C_REGION,
	C_TARGET,
	C_FLOOR,
	C_FROM,
	C_TO,
	C_AGREEMENT,
	C_REASON,
	NCOLS
};

static const struct csvin_column columns[NCOLS] = {
	[C_PRODUCT] = {"product", true, "produkt"},
	[C_REGION] = {"region", false, NULL},
	[C_TARGET] = {"target_days", true, "måldagar"},
	[C_FLOOR] = {"floor_days", false, "golvdagar"},
	[C_FROM] = {"valid_from", true, "giltig från"},
	[C_TO] = {"valid_to", false, "giltig till"},
	[C_AGREEMENT] = {"agreement", false, "avtal"},
	[C_REASON] = {"reason", false, "motivering"},
};

static bool given(const char *s)
{
	return s && s[0];
}

static int64_t date_key(const struct date *d)
{
	return (int64_t)d->year * 10000 + d->month * 100 + d->day;
}

static int record(struct import_run *run, int64_t line, const char *const *v,
		  void *arg)
{
	char value[CATALOG_KEY_MAX], target[16], floor_[16];
	const char *kind = NULL;
	struct date from = {0}, to = {0};
	struct err e = {0};
	bool bad = false, from_ok = false, target_ok = false;

	(void)arg;
	if (catalog_product_key(v[C_PRODUCT], &kind, value, &e) < 0) {
		import_reject_err(run, line, v[C_PRODUCT], &e);
		bad = true;
	}
	if (given(v[C_REGION]) &&
	    validate_region_code(v[C_REGION], "region", &e) < 0) {
		import_reject_err(run, line, v[C_REGION], &e);
		bad = true;
	}
	if (readiness_days_parse(v[C_TARGET], false, target, "target_days",
				 &e) < 0) {
		import_reject_err(run, line, v[C_TARGET], &e);
		bad = true;
	} else {
		target_ok = true;
	}
	if (given(v[C_FLOOR])) {
		if (readiness_days_parse(v[C_FLOOR], true, floor_, "floor_days",
					 &e) < 0) {
			import_reject_err(run, line, v[C_FLOOR], &e);
			bad = true;
		} else if (target_ok &&
			   strtod(floor_, NULL) > strtod(target, NULL)) {
			import_reject(run, line, "floor_days", v[C_FLOOR],
				      "above target_days %s", v[C_TARGET]);
			bad = true;
		}
	}
	if (parse_date(v[C_FROM], &from, "valid_from", &e) < 0) {
		import_reject_err(run, line, v[C_FROM], &e);
		bad = true;
	} else {
		from_ok = true;
	}
	if (given(v[C_TO])) {
		if (parse_date(v[C_TO], &to, "valid_to", &e) < 0) {
			import_reject_err(run, line, v[C_TO], &e);
			bad = true;
		} else if (from_ok && date_key(&to) < date_key(&from)) {
			import_reject(run, line, "valid_to", v[C_TO],
				      "before valid_from %s", v[C_FROM]);
			bad = true;
		}
	}
	if (given(v[C_AGREEMENT])) {
		struct readiness_target t = {.product_id = 1,
					     .target_days = "1",
					     .agreement = v[C_AGREEMENT],
					     .reason = "x"};

		if (readiness_target_check(&t, &e) < 0) {
			import_reject_err(run, line, v[C_AGREEMENT], &e);
			bad = true;
		}
	}
	if (given(v[C_REASON]) &&
	    validate_text(v[C_REASON], 1000, false, "reason", &e) < 0) {
		import_reject_err(run, line, v[C_REASON], &e);
		bad = true;
	}
	if (bad)
		return 0;
	{
		const char *vals[] = {
			v[C_PRODUCT],
			kind,
			value,
			given(v[C_REGION]) ? v[C_REGION] : NULL,
			target,
			given(v[C_FLOOR]) ? floor_ : NULL,
			v[C_FROM],
			given(v[C_TO]) ? v[C_TO] : NULL,
			given(v[C_AGREEMENT]) ? v[C_AGREEMENT] : NULL,
			given(v[C_REASON]) ? v[C_REASON] : NULL,
		};

		return import_stage_row(run, line, 10, vals);
	}
}

static int parse(struct import_run *run, const char *path)
{
	return csvin_read(run, path, columns, NCOLS, record, NULL);
}

/* Rows that passed every check so far. */
#define GOOD "NOT EXISTS (SELECT 1 FROM import_rejects r WHERE r.line = s.line)"

static const char *const checks[] = {
	/* products, by the catalog's rules (src/catalog.h) */
	"UPDATE stage_targets s SET product_n = m.n, product_id = m.id"
	"  FROM (SELECT line, count(DISTINCT id) AS n, min(id) AS id"
	"	  FROM (SELECT s.line, p.id FROM stage_targets s"
	"		  JOIN product p ON p.vnr = s.key_value"
	"		 WHERE s.key_kind = 'vnr'"
	"		UNION ALL"
	"		SELECT s.line, p.id FROM stage_targets s"
	"		  JOIN product p ON p.gtin = s.key_value"
	"		 WHERE s.key_kind IN ('gtin', 'npl_or_gtin')"
	"		UNION ALL"
	"		SELECT s.line, p.id FROM stage_targets s"
	"		  JOIN product p ON p.npl_pack_id = s.key_value"
	"		 WHERE s.key_kind IN ('npl', 'npl_or_gtin')"
	"		UNION ALL"
	"		SELECT s.line, p.id FROM stage_targets s"
	"		  JOIN product p ON p.id = CASE WHEN s.key_kind = 'id'"
	"			THEN s.key_value::bigint END"
	"		 WHERE s.key_kind = 'id') f"
	"	 GROUP BY line) m"
	" WHERE m.line = s.line",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'product', product,"
	"	 format('matches an NPL pack id and a GTIN of different "
	"products; write npl:%s or gtin:%s', key_value, key_value)"
	"   FROM stage_targets WHERE product_n > 1",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'product', product, 'no such product'"
	"   FROM stage_targets WHERE product_n IS NULL",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'agreement', agreement, 'no such agreement'"
	"   FROM stage_targets s"
	"  WHERE agreement IS NOT NULL"
	"    AND NOT EXISTS (SELECT 1 FROM agreement a"
	"		     WHERE a.code = s.agreement)",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'valid_from', valid_from::text,"
	"	 'duplicate of line ' || first || ' (same product, region and "
	"valid_from)'"
	"   FROM (SELECT line, valid_from, min(line) OVER (PARTITION BY"
	"		 product_id, region, valid_from) AS first"
	"	   FROM stage_targets s"
	"	  WHERE product_n = 1 AND " GOOD ") d"
	"  WHERE line <> first",
};

static int check(struct import_run *run)
{
	for (size_t i = 0; i < sizeof(checks) / sizeof(*checks); i++)
		if (import_exec(run, checks[i], 0, NULL) < 0)
			return -1;
	return 0;
}

static int apply(struct import_run *run)
{
	char batch[24];
	const char *params[] = {batch};
	PGresult *res = NULL;
	int rc = -1;

	snprintf(batch, sizeof(batch), "%" PRId64, run->batch_id);
	/* One target_set per row, in file order: a later row of the same
	 * product and region replaces an earlier one as it would by hand. */
	res = db_exec(run->db,
		      "SELECT count(target_set(s.product_id, s.region,"
		      " s.target_days, s.floor_days, s.valid_from,"
		      " s.valid_to, s.agreement,"
		      " coalesce(s.reason, 'targets import, batch ' || $1),"
		      " $1::bigint))"
		      " FROM (SELECT * FROM stage_targets s WHERE " GOOD
		      " ORDER BY s.line) s",
		      1, params, run->err);
	if (!res)
		goto out;
	run->applied = db_int64(res, 0, 0);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

const struct import_feed import_feed_targets = {
	.name = "targets",
	.summary = "target and floor days of supply per product, national or "
		   "per region, with validity and agreement (CSV)",
	.scope = IMPORT_NATIONAL,
	.stage_sql = "CREATE TEMP TABLE stage_targets ("
		     " line bigint NOT NULL,"
		     " product text NOT NULL,"
		     " key_kind text NOT NULL,"
		     " key_value text NOT NULL,"
		     " region text,"
		     " target_days numeric NOT NULL,"
		     " floor_days numeric,"
		     " valid_from date NOT NULL,"
		     " valid_to date,"
		     " agreement text,"
		     " reason text,"
		     /* resolved by check */
		     " product_n bigint,"
		     " product_id bigint"
		     ") ON COMMIT DROP",
	.copy_sql = "COPY stage_targets (line, product, key_kind, key_value,"
		    " region, target_days, floor_days, valid_from, valid_to,"
		    " agreement, reason) FROM STDIN",
	.parse = parse,
	.check = check,
	.apply = apply,
	.accepts_dir = false,
};
