/*
 * population.c -- the population feed: SCB table BE0101N1, folkmängd per
 * region and year, which population-based allocation keys use.
 *
 * Format (national feed; CSV as SCB's Statistikdatabasen exports it in long
 * form, UTF-8 or Windows-1252, delimiter ',' ';' or tab; header names
 * case-insensitive, SCB's Swedish names as aliases):
 *
 *   region      (region)     required  the county code, "01", or the code
 *                                      and name as SCB writes them, "01
 *                                      Stockholms län" (lagerbild's own
 *                                      short name, "01 Stockholm", is
 *                                      accepted too; any other name is
 *                                      refused, which catches shifted
 *                                      columns).  "00 Riket" (the nation)
 *                                      and four-digit municipality codes
 *                                      are refused: lagerbild stores the 21
 *                                      regions and sums them itself
 *   year        (år)         required  1968..this year
 *   population  (folkmängd)  required  1..100000000, digits only
 *
 *   "region","år","folkmängd"
 *   "01 Stockholms län","2024","2467213"
 *
 * Stored in region_population (the history), upserted by (region, year): a
 * corrected figure replaces the old one.  Then each region's latest year is
 * copied to region.population, population_year and population_source by
 * region_population_apply() (sql/006_feeds.sql), unless the region already
 * has a later year.  The same (region, year) twice in one file is refused
 * on the later line ("duplicate of line N").
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
	C_REGION,
	C_YEAR,
	C_POPULATION,
	NCOLS
};

static const struct csvin_column columns[NCOLS] = {
	[C_REGION] = {"region", true, NULL},
	[C_YEAR] = {"year", true, "år"},
	[C_POPULATION] = {"population", true, "folkmängd"},
};

/* Where region_population's figures come from. */
#define SOURCE "SCB BE0101N1"

/* The county names SCB writes after the code. */
static const struct {
	const char *code;
	const char *name;
} scb_names[] = {
	{"01", "Stockholms län"},    {"03", "Uppsala län"},
	{"04", "Södermanlands län"}, {"05", "Östergötlands län"},
	{"06", "Jönköpings län"},    {"07", "Kronobergs län"},
	{"08", "Kalmar län"},	     {"09", "Gotlands län"},
	{"10", "Blekinge län"},	     {"12", "Skåne län"},
	{"13", "Hallands län"},	     {"14", "Västra Götalands län"},
	{"17", "Värmlands län"},     {"18", "Örebro län"},
	{"19", "Västmanlands län"},  {"20", "Dalarnas län"},
	{"21", "Gävleborgs län"},    {"22", "Västernorrlands län"},
	{"23", "Jämtlands län"},     {"24", "Västerbottens län"},
	{"25", "Norrbottens län"},
};

static const char *scb_name(const char *code)
{
	for (size_t i = 0; i < sizeof(scb_names) / sizeof(*scb_names); i++)
		if (strcmp(code, scb_names[i].code) == 0)
			return scb_names[i].name;
	return NULL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The region code in s ("01" or "01 Stockholms län") into code.  0, or
 * after rejecting the record, 1.
 */
static int region_parse(struct import_run *run, int64_t line, const char *s,
			char code[3])
{
	const char *name = NULL;
	struct err e = {0};
	size_t digits = 0;

	while (is_digit(s[digits]))
		digits++;
	if (digits == 4)
		goto municipality;
	if (digits != 2 || (s[2] != '\0' && s[2] != ' '))
		return 1 + import_reject(run, line, "region", s,
					 "not a county code: write \"01\" or "
					 "\"01 Stockholms län\"");
	memcpy(code, s, 2);
	code[2] = '\0';
	if (strcmp(code, "00") == 0)
		return 1 + import_reject(run, line, "region", s,
					 "00 is the whole nation, not a "
					 "region: lagerbild sums the regions "
					 "itself; leave Riket out");
	if (validate_region_code(code, "region", &e) < 0)
		return 1 + import_reject_err(run, line, s, &e);
	if (s[2] == ' ') {
		name = s + 3;
		if (strcmp(name, scb_name(code)) != 0 &&
		    strcmp(name, region_name(code)) != 0)
			return 1 + import_reject(run, line, "region", s,
						 "region %s is %s, not %s",
						 code, scb_name(code), name);
	}
	return 0;
municipality:
	return 1 + import_reject(run, line, "region", s,
				 "a municipality (4 digits), not a region (2 "
				 "digits)");
}

static int record(struct import_run *run, int64_t line, const char *const *v,
		  void *arg)
{
	char code[3], year_s[8], pop_s[16];
	struct err e = {0};
	int64_t year = 0, pop = 0;
	bool bad = false;

	(void)arg;
	if (region_parse(run, line, v[C_REGION], code) != 0)
		bad = true;
	if (parse_int64(v[C_YEAR], 1968, 2200, &year, "year", &e) < 0) {
		import_reject_err(run, line, v[C_YEAR], &e);
		bad = true;
	}
	if (parse_int64(v[C_POPULATION], 1, 100000000, &pop, "population", &e) <
	    0) {
		import_reject_err(run, line, v[C_POPULATION], &e);
		bad = true;
	}
	if (bad)
		return 0;
	snprintf(year_s, sizeof(year_s), "%" PRId64, year);
	snprintf(pop_s, sizeof(pop_s), "%" PRId64, pop);
	{
		const char *vals[] = {code, year_s, pop_s};

		return import_stage_row(run, line, 3, vals);
	}
}

static int parse(struct import_run *run, const char *path)
{
	return csvin_read(run, path, columns, NCOLS, record, NULL);
}

/* Rows that passed every check so far. */
#define GOOD "NOT EXISTS (SELECT 1 FROM import_rejects r WHERE r.line = s.line)"

static int check(struct import_run *run)
{
	if (import_exec(
		    run,
		    "INSERT INTO import_rejects (line, field, value, reason)"
		    " SELECT line, 'region', region_code,"
		    "	 format('duplicate of line %s (region %s, year %s)',"
		    "		first, region_code, year)"
		    "   FROM (SELECT line, region_code, year, min(line) OVER"
		    "		 (PARTITION BY region_code, year) AS first"
		    "	   FROM stage_population) d"
		    "  WHERE line <> first",
		    0, NULL) < 0)
		return -1;
	/* SCB's figure for a year is the population on 31 December. */
	if (import_exec(
		    run,
		    "INSERT INTO import_rejects (line, field, value, reason)"
		    " SELECT line, 'year', year::text,"
		    "	 format('in the future (this is %s)', y)"
		    "   FROM stage_population"
		    "  CROSS JOIN (SELECT extract(year FROM now() AT TIME"
		    "		       ZONE 'Europe/Stockholm')::int AS y) t"
		    "  WHERE year > y",
		    0, NULL) < 0)
		return -1;
	return 0;
}

static const char merge_sql[] =
	"INSERT INTO region_population AS h (region_code, year,"
	"	population, source, batch_id)"
	" SELECT s.region_code, s.year, s.population, $2, $1"
	"   FROM stage_population s"
	"  WHERE " GOOD " ORDER BY s.region_code, s.year"
	" ON CONFLICT (region_code, year) DO UPDATE"
	"    SET population = excluded.population,"
	"	 source = excluded.source,"
	"	 batch_id = excluded.batch_id, updated_at = now()"
	"  WHERE (h.population, h.source)"
	"	 IS DISTINCT FROM"
	"	 (excluded.population, excluded.source)";

static int apply(struct import_run *run)
{
	char batch[24];
	const char *params[] = {batch, SOURCE};
	PGresult *res = NULL;
	int rc = -1;

	snprintf(batch, sizeof(batch), "%" PRId64, run->batch_id);
	if (import_exec(run, merge_sql, 2, params) < 0)
		goto out;
	res = db_exec(run->db, "SELECT region_population_apply()", 0, NULL,
		      run->err);
	if (!res)
		goto out;
	PQclear(res);
	res = db_exec(run->db,
		      "SELECT count(*) FROM stage_population s WHERE " GOOD, 0,
		      NULL, run->err);
	if (!res)
		goto out;
	run->applied = db_int64(res, 0, 0);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

const struct import_feed import_feed_population = {
	.name = "population",
	.summary = "SCB BE0101N1 population per region and year (CSV)",
	.scope = IMPORT_NATIONAL,
	.stage_sql = "CREATE TEMP TABLE stage_population ("
		     " line bigint NOT NULL,"
		     " region_code char(2) NOT NULL,"
		     " year integer NOT NULL,"
		     " population integer NOT NULL"
		     ") ON COMMIT DROP",
	.copy_sql = "COPY stage_population (line, region_code, year,"
		    " population) FROM STDIN",
	.parse = parse,
	.check = check,
	.apply = apply,
	.accepts_dir = false,
};
