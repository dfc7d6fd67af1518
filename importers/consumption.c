/*
 * consumption.c -- the consumption feed: what a region's sites issued, per
 * product and day or period, from the region's own inventory system.  It
 * feeds the consumption rate (DESIGN.md, "Readiness").
 *
 * Format (regional feed: `--region 01`, or the importer's own region; CSV,
 * UTF-8 or Windows-1252, delimiter ',' ';' or tab; header names
 * case-insensitive, Swedish aliases in brackets):
 *
 *   site          (lagerställe)  required  site code, e.g. 01-KS; the site
 *                                          must belong to the region
 *   product       (artikel)      required  as the catalog reads it:
 *                                          vnr:012345, gtin:0735...,
 *                                          npl:20050512000031, id:42, or
 *                                          bare by shape (6 digits a Vnr,
 *                                          8/12/13 a GTIN, 14 an NPL pack
 *                                          id or a GTIN-14); art:X, or
 *                                          any value of no national shape,
 *                                          is the region's own article
 *                                          number (region_article, mapped
 *                                          by the stock feed).  A bare
 *                                          national-looking value that
 *                                          names no product is tried as a
 *                                          region article too; one that
 *                                          names two different products is
 *                                          refused: write a prefix.
 *   date          (datum)        one day, YYYY-MM-DD, or instead:
 *   period_start  (från)         first day of the period, YYYY-MM-DD
 *   period_end    (till)         last day of the period (inclusive)
 *   quantity      (antal)        required  issued quantity in the product's
 *                                          base unit, 0..10^12
 *
 *   site;product;period_start;period_end;quantity
 *   01-KS;012345;2026-10-01;2026-10-31;1200
 *
 * The header has a date column, or period_start and period_end, or all
 * three; a record gives either date or both ends.  A period is at most 366
 * days and may not end after today (Europe/Stockholm).
 *
 * Stored in consumption_report, one row per (site, product, period): a
 * re-import of the same period replaces the quantity, never adds to it.  A
 * period that overlaps a different period of the same site and product --
 * in the file or already stored -- is refused, because the overlap would be
 * counted twice; re-import exactly the stored period to correct it.  The
 * same (site, product, period) twice in one file is refused on the later
 * line ("duplicate of line N").
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "csvin.h"
#include "feeds.h"
#include "import.h"
#include "validate.h"

enum {
	C_SITE,
	C_PRODUCT,
	C_DATE,
	C_START,
	C_END,
	C_QUANTITY,
	NCOLS
};

static const struct csvin_column columns[NCOLS] = {
	[C_SITE] = {"site", true, "lagerställe"},
	[C_PRODUCT] = {"product", true, "artikel"},
	[C_DATE] = {"date", false, "datum"},
	[C_START] = {"period_start", false, "från"},
	[C_END] = {"period_end", false, "till"},
	[C_QUANTITY] = {"quantity", true, "antal"},
};

/* Longest period, in days, both ends counted. */
#define PERIOD_MAX_DAYS 366

/* Days since 1970-01-01 of a valid date (Howard Hinnant's days_from_civil). */
static int64_t days_of(const struct date *d)
{
	int64_t y = d->year - (d->month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (d->month + 9) % 12;
	int64_t doy = (153 * mp + 2) / 5 + d->day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

/* A region's own article number, as region_article.article allows. */
static bool is_article(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 40)
		return false;
	for (; *s; s++)
		if (*s < '!' || *s > '~')
			return false;
	return true;
}

/*
 * How a product identifier is to be looked up (stage_consumption's key_kind):
 * "vnr", "gtin", "npl", "id" when prefixed; "vnr?", "gtin?", "n14?" when
 * bare and shaped like one (a region article of that number is the
 * fallback); "art" for a region article only.
 */
struct key {
	const char *kind;
	char value[24];	     /* the national value, normalised; "" for art */
	const char *article; /* the region article to try, or NULL */
	char note[sizeof(
		((struct err *)0)
			->msg)]; /* why a bare value is no national identifier */
};

/* Parse s into k: 1, or 0 after rejecting the record. */
static int key_parse(struct import_run *run, int64_t line, const char *s,
		     struct key *k)
{
	const char *colon = strchr(s, ':');
	size_t n = strlen(s);
	struct err e = {0};
	int64_t id;

	memset(k, 0, sizeof(*k));
	if (n == 0)
		return import_reject(run, line, "product", s, "missing");
	if (colon) {
		const char *v = colon + 1;
		size_t plen = (size_t)(colon - s);

		if (plen == 3 && strncmp(s, "vnr", 3) == 0) {
			k->kind = "vnr";
			if (validate_vnr(v, "product", &e) < 0)
				goto bad;
			snprintf(k->value, sizeof(k->value), "%s", v);
			return 1;
		}
		if (plen == 4 && strncmp(s, "gtin", 4) == 0) {
			k->kind = "gtin";
			if (gtin_normalize(v, k->value, "product", &e) < 0)
				goto bad;
			return 1;
		}
		if (plen == 3 && strncmp(s, "npl", 3) == 0) {
			k->kind = "npl";
			if (validate_npl_id(v, "product", &e) < 0)
				goto bad;
			snprintf(k->value, sizeof(k->value), "%s", v);
			return 1;
		}
		if (plen == 2 && strncmp(s, "id", 2) == 0) {
			k->kind = "id";
			if (parse_int64(v, 1, INT64_MAX, &id, "product", &e) <
			    0)
				goto bad;
			snprintf(k->value, sizeof(k->value), "%" PRId64, id);
			return 1;
		}
		if (plen == 3 && strncmp(s, "art", 3) == 0)
			s = v;
		/* Any other prefix: a region's article numbers may hold ':'. */
		k->kind = "art";
		k->article = s;
		if (!is_article(s))
			goto not_article;
		return 1;
	}
	if (all_digits(s, n) && n == 6) {
		k->kind = "vnr?";
		snprintf(k->value, sizeof(k->value), "%s", s);
	} else if (all_digits(s, n) && (n == 8 || n == 12 || n == 13)) {
		if (gtin_normalize(s, k->value, "product", &e) == 0) {
			k->kind = "gtin?";
		} else {
			k->kind = "art";
			snprintf(k->note, sizeof(k->note), "%s", e.msg);
		}
	} else if (all_digits(s, n) && n == 14) {
		k->kind = "n14?";
		snprintf(k->value, sizeof(k->value), "%s", s);
	} else {
		k->kind = "art";
	}
	k->article = s;
	if (!is_article(s))
		goto not_article;
	return 1;
not_article:
	return import_reject(run, line, "product", s,
			     "not a Vnr, GTIN or NPL pack id, nor a region "
			     "article number (1..40 characters, no blanks)");
bad:
	return import_reject_err(run, line, s, &e);
}

static int record(struct import_run *run, int64_t line, const char *const *v,
		  void *arg)
{
	const char *start = v[C_START], *end = v[C_END], *date = v[C_DATE];
	const char *start_field = "period_start", *end_field = "period_end";
	struct date ds, de;
	struct err e = {0};
	struct key k;
	char qty[24];
	int64_t q = 0;
	bool bad = false, dates_ok = true;

	(void)arg;
	if (!date && (!start || !end))
		return err_set(run->err, ERR_INVALID, "header",
			       "the header needs a date column, or "
			       "period_start and period_end");
	if (validate_site_code(v[C_SITE], "site", &e) < 0) {
		import_reject_err(run, line, v[C_SITE], &e);
		bad = true;
	}
	if (key_parse(run, line, v[C_PRODUCT], &k) == 0)
		bad = true;

	if (date && date[0]) {
		if ((start && start[0]) || (end && end[0])) {
			import_reject(run, line, "date", date,
				      "give either date or period_start and "
				      "period_end, not both");
			bad = true;
			dates_ok = false;
		}
		start = end = date;
		start_field = end_field = "date";
	} else if (!start || !start[0] || !end || !end[0]) {
		import_reject(run, line,
			      !start	       ? "date" :
			      start[0] == '\0' ? "period_start" :
						 "period_end",
			      NULL,
			      "missing: give date, or period_start and "
			      "period_end");
		bad = true;
		dates_ok = false;
	}
	if (dates_ok) {
		if (parse_date(start, &ds, start_field, &e) < 0) {
			import_reject_err(run, line, start, &e);
			dates_ok = false;
		}
		if (end != start && parse_date(end, &de, end_field, &e) < 0) {
			import_reject_err(run, line, end, &e);
			dates_ok = false;
		}
		if (end == start)
			de = ds;
		bad = bad || !dates_ok;
	}
	if (dates_ok && days_of(&de) < days_of(&ds)) {
		import_reject(run, line, "period_end", end,
			      "before period_start %s", start);
		bad = true;
	} else if (dates_ok &&
		   days_of(&de) - days_of(&ds) + 1 > PERIOD_MAX_DAYS) {
		import_reject(run, line, "period_end", end,
			      "period of %" PRId64 " days from %s; at most %d",
			      days_of(&de) - days_of(&ds) + 1, start,
			      PERIOD_MAX_DAYS);
		bad = true;
	}
	if (parse_int64(v[C_QUANTITY], 0, 1000000000000, &q, "quantity", &e) <
	    0) {
		import_reject_err(run, line, v[C_QUANTITY], &e);
		bad = true;
	}
	if (bad)
		return 0;

	snprintf(qty, sizeof(qty), "%" PRId64, q);
	{
		const char *vals[] = {
			v[C_SITE],   v[C_PRODUCT],
			k.kind,	     k.value[0] ? k.value : NULL,
			k.article,   k.note[0] ? k.note : NULL,
			start,	     end,
			start_field, qty,
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

/*
 * The checks, in order; $1 is the import's region.  Later ones look only at
 * rows the earlier ones left, so that a row is not blamed for an overlap
 * with a row that will not be applied.
 */
static const char *const checks[] = {
	/* sites */
	"UPDATE stage_consumption s"
	"   SET site_id = t.id, site_region = t.region_code"
	"  FROM site t WHERE t.code = s.site_code",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'site', site_code, 'no such site'"
	"   FROM stage_consumption WHERE site_id IS NULL",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'site', site_code,"
	"	 format('belongs to region %s, not %s', site_region,"
	"		$1::text)"
	"   FROM stage_consumption WHERE site_region <> $1::text",

	/* products: the catalog's rules, then the region's articles */
	"UPDATE stage_consumption s SET national_n = m.n, national_id = m.id"
	"  FROM (SELECT line, count(DISTINCT id) AS n, min(id) AS id"
	"	  FROM (SELECT s.line, p.id FROM stage_consumption s"
	"		  JOIN product p ON p.vnr = s.key_value"
	"		 WHERE s.key_kind IN ('vnr', 'vnr?')"
	"		UNION ALL"
	"		SELECT s.line, p.id FROM stage_consumption s"
	"		  JOIN product p ON p.gtin = s.key_value"
	"		 WHERE s.key_kind IN ('gtin', 'gtin?', 'n14?')"
	"		UNION ALL"
	"		SELECT s.line, p.id FROM stage_consumption s"
	"		  JOIN product p ON p.npl_pack_id = s.key_value"
	"		 WHERE s.key_kind IN ('npl', 'n14?')"
	"		UNION ALL"
	"		SELECT s.line, p.id FROM stage_consumption s"
	"		  JOIN product p ON p.id = CASE WHEN s.key_kind = 'id'"
	"			THEN s.key_value::bigint END"
	"		 WHERE s.key_kind = 'id') f"
	"	 GROUP BY line) m"
	" WHERE m.line = s.line",
	"UPDATE stage_consumption s SET local_id = a.product_id"
	"  FROM region_article a"
	" WHERE a.region_code = $1::text AND a.article = s.article",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'product', product,"
	"	 format('matches an NPL pack id and a GTIN of different "
	"products; write npl:%s or gtin:%s', key_value, key_value)"
	"   FROM stage_consumption WHERE national_n > 1",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'product', product,"
	"	 format('names product %s, but article %s of region %s is "
	"product %s; write a prefix (vnr:, gtin:, npl: or art:)',"
	"		national_id, article, $1::text, local_id)"
	"   FROM stage_consumption"
	"  WHERE national_n = 1 AND local_id <> national_id",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'product', product,"
	"	 concat_ws('; ', key_note,"
	"		   CASE WHEN key_kind <> 'art' THEN 'no such product' END,"
	"		   CASE WHEN article IS NOT NULL"
	"			THEN format('no article %s in region %s',"
	"				    article, $1::text) END)"
	"   FROM stage_consumption"
	"  WHERE national_n IS NULL AND local_id IS NULL",
	"UPDATE stage_consumption"
	"   SET product_id = coalesce(national_id, local_id)"
	" WHERE coalesce(national_n, 1) = 1",

	/* periods */
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, CASE WHEN date_field = 'date' THEN 'date'"
	"		    ELSE 'period_end' END, period_end::text,"
	"	 format('in the future (today is %s)',"
	"		(now() AT TIME ZONE 'Europe/Stockholm')::date)"
	"   FROM stage_consumption"
	"  WHERE period_end > (now() AT TIME ZONE 'Europe/Stockholm')::date"
	"   ",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'product', product, 'duplicate of line ' || first"
	"   FROM (SELECT line, product, min(line) OVER (PARTITION BY site_id,"
	"		 product_id, period_start, period_end) AS first"
	"	   FROM stage_consumption s"
	"	  WHERE product_id IS NOT NULL AND " GOOD ") d"
	"  WHERE line <> first",
	"CREATE INDEX ON stage_consumption (site_id, product_id, period_start)",
	/* A period that starts before an earlier-starting period of the same
	 * site and product ends overlaps it; name one such line. */
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT o.line, o.date_field, o.period_start::text,"
	"	 format('period %s..%s overlaps line %s (%s..%s) of the same "
	"site and product; overlapping periods would count twice',"
	"		o.period_start, o.period_end, t.line, t.period_start,"
	"		t.period_end)"
	"   FROM (SELECT s.*, max(period_end) OVER (PARTITION BY site_id,"
	"		 product_id ORDER BY period_start, period_end, line"
	"		 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
	"		 AS before_end"
	"	   FROM stage_consumption s"
	"	  WHERE product_id IS NOT NULL AND " GOOD ") o"
	"   CROSS JOIN LATERAL"
	"	(SELECT t.line, t.period_start, t.period_end"
	"	   FROM stage_consumption t"
	"	  WHERE t.site_id = o.site_id AND t.product_id = o.product_id"
	"	    AND t.period_start <= o.period_start"
	"	    AND t.period_end >= o.period_start AND t.line <> o.line"
	"	    AND (t.period_start, t.period_end, t.line)"
	"		< (o.period_start, o.period_end, o.line)"
	"	  ORDER BY t.line LIMIT 1) t"
	"  WHERE o.before_end >= o.period_start",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT s.line, s.date_field, s.period_start::text,"
	"	 format('period %s..%s overlaps the stored period %s..%s of "
	"this site and product (batch %s); re-import exactly that period to "
	"replace it',"
	"		s.period_start, s.period_end, c.period_start,"
	"		c.period_end, c.batch_id)"
	"   FROM stage_consumption s"
	"   CROSS JOIN LATERAL"
	"	(SELECT c.period_start, c.period_end, c.batch_id"
	"	   FROM consumption_report c"
	"	  WHERE c.region_code = s.site_region AND c.site_id = s.site_id"
	"	    AND c.product_id = s.product_id"
	"	    AND c.period_start <= s.period_end"
	"	    AND c.period_end >= s.period_start"
	"	    AND (c.period_start, c.period_end)"
	"		<> (s.period_start, s.period_end)"
	"	  ORDER BY c.period_start LIMIT 1) c"
	"  WHERE s.product_id IS NOT NULL AND " GOOD
	"    AND s.site_region = $1::text",
};

static int check(struct import_run *run)
{
	const char *params[] = {run->region};

	for (size_t i = 0; i < sizeof(checks) / sizeof(*checks); i++) {
		/* Only statements that name the region take it. */
		bool p = strstr(checks[i], "$1") != NULL;

		if (import_exec(run, checks[i], p ? 1 : 0, p ? params : NULL) <
		    0)
			return -1;
	}
	return 0;
}

static const char merge_sql[] =
	"INSERT INTO consumption_report AS c (region_code,"
	"	site_id, product_id, period_start, period_end,"
	"	quantity, batch_id)"
	" SELECT s.site_region, s.site_id, s.product_id,"
	"	 s.period_start, s.period_end, s.quantity, $1"
	"   FROM stage_consumption s"
	"  WHERE " GOOD "  ORDER BY s.site_region, s.site_id, s.product_id,"
	"	    s.period_start"
	" ON CONFLICT (region_code, site_id, product_id,"
	"	      period_start, period_end) DO UPDATE"
	"    SET quantity = excluded.quantity,"
	"	 batch_id = excluded.batch_id, updated_at = now()"
	"  WHERE c.quantity <> excluded.quantity";

static int apply(struct import_run *run)
{
	static const char *const steps[] = {merge_sql};

	/* Replace, never add: the same period again is a correction. */
	return import_merge(
		run, steps, 1,
		"SELECT count(*) FROM stage_consumption s WHERE " GOOD);
}

const struct import_feed import_feed_consumption = {
	.name = "consumption",
	.summary = "issued quantity per site, product and day or period "
		   "(CSV, regional)",
	.scope = IMPORT_REGIONAL,
	.stage_sql = "CREATE TEMP TABLE stage_consumption ("
		     " line bigint NOT NULL,"
		     " site_code text NOT NULL,"
		     " product text NOT NULL,"
		     " key_kind text NOT NULL,"
		     " key_value text,"
		     " article text,"
		     " key_note text,"
		     " period_start date NOT NULL,"
		     " period_end date NOT NULL,"
		     " date_field text NOT NULL,"
		     " quantity bigint NOT NULL,"
		     /* resolved by check */
		     " site_id bigint,"
		     " site_region char(2),"
		     " national_n integer,"
		     " national_id bigint,"
		     " local_id bigint,"
		     " product_id bigint"
		     ") ON COMMIT DROP",
	.copy_sql = "COPY stage_consumption (line, site_code, product,"
		    " key_kind, key_value, article, key_note, period_start,"
		    " period_end, date_field, quantity) FROM STDIN",
	.parse = parse,
	.check = check,
	.apply = apply,
	.accepts_dir = false,
};
