/*
 * check_import_feeds.c -- the products, consumption, shortages and
 * population feeds through import_execute against a real PostgreSQL: what
 * they store, every rejection with its line, field and reason, all or
 * nothing versus partial, "unchanged" on a second run, corrections that
 * replace, and who may import what.
 *
 * The fixtures are in tests/data/<feed>/: good.csv, corrected.csv, bad.csv
 * (one bad row per rule, each described where it is asserted), and files in
 * Windows-1252 (products/cp1252.csv, population/good.csv).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "auth.h"
#include "feeds.h"
#include "import.h"
#include "suites.h"
#include "testdb.h"

static struct db *db; /* the application role, as the CLI and API run */
static struct db *owner;
static int64_t prod_med, prod_npl, prod_dev, prod_vnr345678;
static char site_ks[24];

static int64_t insert_id(const char *sql)
{
	return testdb_scalar(owner, sql);
}

static void setup(void)
{
	struct err e = {0};

	testdb_create();
	owner = testdb_connect();
	snprintf(site_ks, sizeof(site_ks), "%lld",
		 (long long)testdb_site(owner, "01", "01-KS"));
	testdb_site(owner, "01", "01-CL");
	testdb_site(owner, "12", "12-SUS");
	prod_med =
		testdb_product(owner, "123456", "Propofol 10 mg/ml 20 ml x 5");
	prod_npl = insert_id("INSERT INTO product (category, name, vnr,"
			     " npl_pack_id) VALUES ('medicine', 'Amoxicillin"
			     " 500 mg 20 st', '234567', '20050512000031')"
			     " RETURNING id");
	prod_dev = insert_id("INSERT INTO product (category, name, gtin)"
			     " VALUES ('medical_device', 'Kanyl 18G',"
			     " '07350012345730') RETURNING id");
	/* A medicine whose GTIN the products feed must not take over. */
	insert_id("INSERT INTO product (category, name, vnr, gtin)"
		  " VALUES ('medicine', 'Morfin 10 mg/ml', '111111',"
		  " '07350012345808') RETURNING id");
	/* One 14-digit number that is an NPL pack id and another's GTIN. */
	insert_id("INSERT INTO product (category, name, vnr, npl_pack_id)"
		  " VALUES ('medicine', 'Amb A', '222222', '17350012345683')"
		  " RETURNING id");
	insert_id("INSERT INTO product (category, name, gtin)"
		  " VALUES ('ppe', 'Amb B', '17350012345683') RETURNING id");
	prod_vnr345678 = insert_id("INSERT INTO product (category, name, vnr)"
				   " VALUES ('medicine', 'Vnr 345678',"
				   " '345678') RETURNING id");
	ck_assert_msg(db_command(owner,
				 "INSERT INTO region_article (region_code,"
				 " article, product_id) SELECT '01', a, id"
				 " FROM product, unnest(ARRAY['ART-77',"
				 " '345678']) AS a WHERE gtin ="
				 " '07350012345730'",
				 0, NULL, &e) == 0,
		      "%s", e.msg);
	db = testdb_connect_app("tester");
}

static void teardown(void)
{
	db_close(db);
	db_close(owner);
	db = owner = NULL;
	testdb_drop();
}

/* ---- identities ---- */

static struct identity as_system(void)
{
	struct identity w;

	auth_system_identity(&w, "tester");
	return w;
}

/* An import job: region "" for national feeds. */
static struct identity as_importer(const char *region)
{
	struct identity w;

	memset(&w, 0, sizeof(w));
	w.role = ROLE_IMPORTER;
	snprintf(w.username, sizeof(w.username), "import-%s",
		 region[0] ? region : "national");
	snprintf(w.region, sizeof(w.region), "%s", region);
	return w;
}

/* ---- running imports ---- */

static int try_import(const struct import_feed *feed, const char *path,
		      const struct identity *who, const char *region,
		      bool partial, struct import_report *rep, struct err *e)
{
	struct import_options opt = {
		.region = region,
		.partial = partial,
		.source = path,
	};

	return import_execute(db, who, feed, path, &opt, NULL, NULL, NULL, rep,
			      e);
}

/* Import and insist that it reached status; the caller frees rep. */
static void imported(const struct import_feed *feed, const char *path,
		     const struct identity *who, const char *region,
		     bool partial, const char *status,
		     struct import_report *rep)
{
	struct err e = {0};
	char *dump;

	ck_assert_msg(try_import(feed, path, who, region, partial, rep, &e) ==
			      0,
		      "%s: %s", path, e.msg);
	dump = json_dumps(rep->errors, JSON_INDENT(1));
	ck_assert_msg(strcmp(rep->status, status) == 0,
		      "%s: status %s, wanted %s; errors %s", path, rep->status,
		      status, dump ? dump : "?");
	free(dump);
}

/* Import and insist that it was refused before it began, with code. */
static void refused(const struct import_feed *feed, const char *path,
		    const struct identity *who, const char *region,
		    enum err_code code, const char *words)
{
	struct import_report rep;
	struct err e = {0};

	ck_assert_int_eq(try_import(feed, path, who, region, false, &rep, &e),
			 -1);
	ck_assert_msg(e.code == code, "code %s, wanted %s: %s",
		      err_code_name(e.code), err_code_name(code), e.msg);
	ck_assert_msg(strstr(e.msg, words), "\"%s\" not in: %s", words, e.msg);
	import_report_free(&rep);
}

/* Insist that line was rejected for field with a reason saying words. */
static void rejected(const struct import_report *rep, int64_t line,
		     const char *field, const char *words)
{
	size_t i;
	json_t *o;
	char *dump;

	json_array_foreach(rep->errors, i, o)
	{
		const char *f = json_string_value(json_object_get(o, "field"));
		const char *r = json_string_value(json_object_get(o, "reason"));

		if (json_integer_value(json_object_get(o, "line")) == line &&
		    f && strcmp(f, field) == 0 && r && strstr(r, words))
			return;
	}
	dump = json_dumps(rep->errors, JSON_INDENT(1));
	ck_abort_msg("no rejection of line %lld, %s, \"%s\" in %s",
		     (long long)line, field, words, dump ? dump : "?");
	free(dump);
}

static int64_t scalar(const char *sql)
{
	return testdb_scalar(owner, sql);
}

static int64_t scalar1(const char *sql, const char *p1)
{
	const char *params[] = {p1};

	return testdb_scalar_params(owner, sql, 1, params);
}

/* The text of the first column of sql's one row ("" for NULL); static. */
static const char *text1(const char *sql, const char *p1)
{
	static char buf[512];
	const char *params[] = {p1};
	struct err e = {0};
	PGresult *res = db_exec(owner, sql, p1 ? 1 : 0, p1 ? params : NULL, &e);

	ck_assert_msg(res != NULL, "%s: %s", sql, e.msg);
	ck_assert_msg(PQntuples(res) == 1, "%s: %d rows", sql, PQntuples(res));
	snprintf(buf, sizeof(buf), "%s", db_text(res, 0, 0));
	PQclear(res);
	return buf;
}

/* ---- products ---- */

#define PRODUCT_ROW                                                   \
	"SELECT concat_ws('|', category, name, base_unit, pack_size," \
	" critical, emdn, batch_id IS NOT NULL) FROM product WHERE gtin = $1"

START_TEST(test_products_good_then_unchanged)
{
	struct identity sys = as_system();
	struct import_report rep, again;
	int64_t before = scalar("SELECT count(*) FROM product");
	char batch[24];

	imported(&import_feed_products, "tests/data/products/good.csv", &sys,
		 NULL, false, "done", &rep);
	ck_assert_int_eq(rep.rows_total, 5);
	ck_assert_int_eq(rep.rows_applied, 5);
	ck_assert_int_eq(rep.rows_rejected, 0);
	ck_assert_int_eq(scalar("SELECT count(*) FROM product"), before + 5);
	ck_assert_str_eq(text1(PRODUCT_ROW, "07350012345679"),
			 "ppe|Undersökningshandske nitril, M|st|100|t|T0102|t");
	/* GTIN-8, normalised to 14 digits; Swedish category */
	ck_assert_str_eq(text1(PRODUCT_ROW, "00000096385074"),
			 "medical_device|Infusionsaggregat gravitation|st|1|t|"
			 "A030101|t");
	ck_assert_str_eq(text1(PRODUCT_ROW, "07350012345686"),
			 "ppe|Munskydd typ IIR|st|50|f|t");
	ck_assert_str_eq(text1(PRODUCT_ROW, "07350012345693"),
			 "fsmp|Nutridrink Compact 125 ml|ml|500|f|t");
	/* an empty critical flag: a new product is not critical */
	ck_assert_str_eq(text1(PRODUCT_ROW, "17350012345676"),
			 "manufacturing_material|Etanol 99.5 % teknisk|ml|1000|"
			 "f|t");
	snprintf(batch, sizeof(batch), "%lld", (long long)rep.batch_id);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM product WHERE"
				 " batch_id = $1",
				 batch),
			 5);
	ck_assert_str_eq(
		text1("SELECT status FROM import_batch WHERE id = $1", batch),
		"done");

	imported(&import_feed_products, "tests/data/products/good.csv", &sys,
		 NULL, false, "unchanged", &again);
	ck_assert_int_eq(again.same_as, rep.batch_id);
	ck_assert_int_eq(scalar("SELECT count(*) FROM product"), before + 5);
	import_report_free(&rep);
	import_report_free(&again);
}
END_TEST

START_TEST(test_products_corrected_and_windows_1252)
{
	struct identity nat = as_importer("");
	struct import_report rep;

	imported(&import_feed_products, "tests/data/products/good.csv", &nat,
		 NULL, false, "done", &rep);
	import_report_free(&rep);
	imported(&import_feed_products, "tests/data/products/corrected.csv",
		 &nat, NULL, false, "done", &rep);
	ck_assert_int_eq(rep.rows_applied, 2);
	import_report_free(&rep);
	ck_assert_str_eq(text1(PRODUCT_ROW, "07350012345679"),
			 "ppe|Undersökningshandske nitril, M|st|200|t|T010201|"
			 "t");
	/* an empty EMDN in a file that has the column clears it */
	ck_assert_str_eq(text1(PRODUCT_ROW, "00000096385074"),
			 "medical_device|Infusionsaggregat gravitation|st|1|f|"
			 "t");
	/* not in the file: untouched */
	ck_assert_str_eq(text1(PRODUCT_ROW, "07350012345693"),
			 "fsmp|Nutridrink Compact 125 ml|ml|500|f|t");

	/* Windows-1252, ';', CRLF, Swedish header names, no emdn column */
	imported(&import_feed_products, "tests/data/products/cp1252.csv", &nat,
		 NULL, false, "done", &rep);
	ck_assert_int_eq(rep.rows_applied, 2);
	import_report_free(&rep);
	ck_assert_str_eq(text1(PRODUCT_ROW, "07350012345709"),
			 "ppe|Skyddsförkläde plåst|st|100|t|t");
	ck_assert_str_eq(text1(PRODUCT_ROW, "07350012345716"),
			 "medical_device|Tvättlapp Åtta lager|st|50|f|t");
}
END_TEST

START_TEST(test_products_bad_rows_all_or_nothing_then_partial)
{
	struct identity sys = as_system();
	struct import_report rep;
	int64_t before = scalar("SELECT count(*) FROM product");

	imported(&import_feed_products, "tests/data/products/bad.csv", &sys,
		 NULL, false, "rejected", &rep);
	ck_assert_int_eq(rep.rows_total, 15);
	ck_assert_int_eq(rep.rows_rejected, 14);
	ck_assert_int_eq(rep.rows_applied, 0);
	rejected(&rep, 3, "gtin", "check digit");
	rejected(&rep, 4, "gtin", "");
	rejected(&rep, 5, "name", "");
	rejected(&rep, 6, "category", "not one of");
	rejected(&rep, 7, "category", "npl and articles feeds");
	rejected(&rep, 8, "base_unit", "");
	rejected(&rep, 9, "pack_size", "");
	rejected(&rep, 10, "pack_size", "");
	rejected(&rep, 11, "critical", "not a yes or no");
	rejected(&rep, 12, "emdn", "not an EMDN category");
	rejected(&rep, 13, "emdn", "levels of two digits");
	rejected(&rep, 14, "emdn", "only digits");
	rejected(&rep, 15, "gtin", "duplicate of line 2");
	rejected(&rep, 16, "gtin", "belongs to medicine Morfin");
	import_report_free(&rep);
	/* all or nothing: not even line 2 */
	ck_assert_int_eq(scalar("SELECT count(*) FROM product"), before);
	ck_assert_int_eq(scalar("SELECT count(*) FROM import_batch"
				" WHERE status = 'rejected'"),
			 1);
	ck_assert_int_eq(
		scalar("SELECT (category = 'medicine')::int FROM product"
		       " WHERE gtin = '07350012345808'"),
		1);

	imported(&import_feed_products, "tests/data/products/bad.csv", &sys,
		 NULL, true, "partial", &rep);
	ck_assert_int_eq(rep.rows_applied, 1);
	ck_assert_int_eq(rep.rows_rejected, 14);
	import_report_free(&rep);
	ck_assert_int_eq(scalar("SELECT count(*) FROM product"), before + 1);
	ck_assert_str_eq(text1(PRODUCT_ROW, "07350012345723"),
			 "medical_device|Kompress 10x10 cm|st|10|f|M0401|t");
}
END_TEST

START_TEST(test_products_scope)
{
	struct identity r01 = as_importer("01"), sys = as_system();
	struct identity contact = as_importer("01");

	contact.role = ROLE_REGION_CONTACT;
	refused(&import_feed_products, "tests/data/products/good.csv", &r01,
		NULL, ERR_FORBIDDEN, "national feed");
	refused(&import_feed_products, "tests/data/products/good.csv", &contact,
		NULL, ERR_FORBIDDEN, "national feed");
	refused(&import_feed_products, "tests/data/products/good.csv", &sys,
		"01", ERR_INVALID, "takes no region");
}
END_TEST

START_TEST(test_emdn_check_in_database)
{
	struct err e = {0};

	ck_assert_int_eq(db_command(owner,
				    "UPDATE product SET emdn = 'Z1201060102'"
				    " WHERE vnr = '123456'",
				    0, NULL, &e),
			 0);
	ck_assert_int_eq(db_command(owner,
				    "UPDATE product SET emdn = 'E01'"
				    " WHERE vnr = '123456'",
				    0, NULL, &e),
			 -1);
	ck_assert_int_eq(db_command(owner,
				    "UPDATE product SET emdn = 'T0'"
				    " WHERE vnr = '123456'",
				    0, NULL, &e),
			 -1);
	ck_assert_int_eq(
		db_command(owner,
			   "UPDATE product SET emdn = 'T01020304050607'"
			   " WHERE vnr = '123456'",
			   0, NULL, &e),
		-1);
}
END_TEST

/* ---- consumption ---- */

static int64_t consumption_rows(void)
{
	return scalar("SELECT count(*) FROM consumption_report");
}

START_TEST(test_consumption_good_unchanged_corrected)
{
	struct identity r01 = as_importer("01");
	struct import_report rep;
	char id[24];

	/* the importer's own region, not named */
	imported(&import_feed_consumption, "tests/data/consumption/good.csv",
		 &r01, NULL, false, "done", &rep);
	ck_assert_str_eq(rep.region, "01");
	ck_assert_int_eq(rep.rows_applied, 6);
	import_report_free(&rep);
	ck_assert_int_eq(consumption_rows(), 6);
	snprintf(id, sizeof(id), "%lld", (long long)prod_med);
	ck_assert_int_eq(scalar1("SELECT sum(quantity) FROM consumption_report"
				 " WHERE product_id = $1",
				 id),
			 2300);
	/* a single date is a one-day period; a region article resolves */
	snprintf(id, sizeof(id), "%lld", (long long)prod_dev);
	ck_assert_str_eq(
		text1("SELECT string_agg(concat_ws(' ', s.code, period_start,"
		      " period_end, quantity), ', ' ORDER BY s.code,"
		      " period_start) FROM consumption_report c JOIN site s"
		      " ON s.id = c.site_id WHERE product_id = $1",
		      id),
		"01-CL 2026-02-01 2026-02-01 5, 01-CL 2026-02-02 2026-02-02 6, "
		"01-KS 2026-02-03 2026-02-03 40");
	ck_assert_int_eq(scalar("SELECT count(*) FROM consumption_report"
				" WHERE region_code <> '01'"),
			 0);

	imported(&import_feed_consumption, "tests/data/consumption/good.csv",
		 &r01, "01", false, "unchanged", &rep);
	import_report_free(&rep);

	/* the same period again replaces its quantity, never adds */
	imported(&import_feed_consumption,
		 "tests/data/consumption/corrected.csv", &r01, NULL, false,
		 "done", &rep);
	ck_assert_int_eq(rep.rows_applied, 2);
	import_report_free(&rep);
	ck_assert_int_eq(consumption_rows(), 6);
	snprintf(id, sizeof(id), "%lld", (long long)prod_med);
	ck_assert_int_eq(scalar1("SELECT quantity FROM consumption_report"
				 " WHERE product_id = $1"
				 " AND period_start = '2026-01-01'",
				 id),
			 1250);
	ck_assert_int_eq(scalar1("SELECT sum(quantity) FROM consumption_report"
				 " WHERE product_id = $1",
				 id),
			 2350);
}
END_TEST

START_TEST(test_consumption_bad_rows)
{
	struct identity sys = as_system(), r01 = as_importer("01");
	struct import_report rep;

	imported(&import_feed_consumption, "tests/data/consumption/good.csv",
		 &sys, "01", false, "done", &rep);
	import_report_free(&rep);

	imported(&import_feed_consumption, "tests/data/consumption/bad.csv",
		 &r01, NULL, false, "rejected", &rep);
	ck_assert_int_eq(rep.rows_total, 24);
	ck_assert_int_eq(rep.rows_rejected, 23);
	rejected(&rep, 3, "site", "");
	rejected(&rep, 4, "site", "no such site");
	rejected(&rep, 5, "site", "belongs to region 12, not 01");
	rejected(&rep, 6, "product", "missing");
	rejected(&rep, 7, "product", "");
	rejected(&rep, 8, "product", "check digit");
	rejected(&rep, 9, "product", "no article 9999999 in region 01");
	rejected(&rep, 10, "product",
		 "no such product; no article 654321 in region 01");
	rejected(&rep, 11, "product", "matches an NPL pack id and a GTIN");
	rejected(&rep, 12, "product", "write a prefix");
	rejected(&rep, 13, "date", "not both");
	rejected(&rep, 14, "period_start", "missing");
	rejected(&rep, 15, "date", "");
	rejected(&rep, 16, "period_end", "before period_start 2026-05-10");
	rejected(&rep, 17, "period_end", "period of 367 days");
	rejected(&rep, 18, "date", "in the future");
	rejected(&rep, 19, "quantity", "");
	rejected(&rep, 20, "quantity", "");
	rejected(&rep, 21, "product", "duplicate of line 2");
	rejected(&rep, 22, "period_start", "overlaps line 2");
	rejected(&rep, 23, "period_start",
		 "overlaps the stored period "
		 "2026-01-01..2026-03-31");
	rejected(&rep, 24, "product", "");
	rejected(&rep, 25, "product", "no such product");
	import_report_free(&rep);
	ck_assert_int_eq(consumption_rows(), 6);

	imported(&import_feed_consumption, "tests/data/consumption/bad.csv",
		 &r01, NULL, true, "partial", &rep);
	ck_assert_int_eq(rep.rows_applied, 1);
	import_report_free(&rep);
	ck_assert_int_eq(consumption_rows(), 7);
	ck_assert_int_eq(scalar("SELECT quantity FROM consumption_report"
				" WHERE period_start = '2026-05-01'"),
			 10);
}
END_TEST

START_TEST(test_consumption_region_scoping)
{
	struct identity r01 = as_importer("01"), r12 = as_importer("12");
	struct identity nat = as_importer("");
	struct import_report rep;
	struct err e = {0};
	const char *params[] = {site_ks};

	imported(&import_feed_consumption,
		 "tests/data/consumption/region12.csv", &r01, NULL, false,
		 "rejected", &rep);
	rejected(&rep, 2, "site", "belongs to region 12, not 01");
	import_report_free(&rep);
	refused(&import_feed_consumption, "tests/data/consumption/region12.csv",
		&r01, "12", ERR_FORBIDDEN,
		"may not import consumption for region 12");
	refused(&import_feed_consumption, "tests/data/consumption/region12.csv",
		&nat, NULL, ERR_INVALID, "name the region");
	refused(&import_feed_population, "tests/data/population/good.csv", &r01,
		NULL, ERR_FORBIDDEN, "national feed");
	refused(&import_feed_shortages, "tests/data/shortages/good.csv", &r01,
		NULL, ERR_FORBIDDEN, "national feed");
	imported(&import_feed_consumption,
		 "tests/data/consumption/region12.csv", &r12, NULL, false,
		 "done", &rep);
	import_report_free(&rep);
	ck_assert_int_eq(scalar("SELECT count(*) FROM consumption_report"
				" WHERE region_code = '12'"),
			 1);

	/* Behind the frame, row-level security: region 12's importer cannot
	 * write a region 01 row, nor see one. */
	ck_assert_int_eq(auth_begin(db, &r12, &e), 0);
	ck_assert_int_eq(db_command(db,
				    "UPDATE consumption_report SET quantity = 0"
				    " WHERE region_code = '12'",
				    0, NULL, &e),
			 0);
	ck_assert_int_eq(
		db_command(db,
			   "INSERT INTO consumption_report (region_code,"
			   " site_id, product_id, period_start, period_end,"
			   " quantity, batch_id) SELECT '01', $1, product_id,"
			   " '2026-04-01', '2026-04-01', 1, batch_id"
			   " FROM consumption_report LIMIT 1",
			   1, params, &e),
		-1);
	ck_assert_msg(strstr(e.msg, "row-level security"), "%s", e.msg);
	db_rollback(db);
}
END_TEST

START_TEST(test_consumption_overlap_refused_by_database)
{
	struct identity sys = as_system();
	struct import_report rep;
	struct err e = {0};

	imported(&import_feed_consumption, "tests/data/consumption/good.csv",
		 &sys, "01", false, "done", &rep);
	import_report_free(&rep);
	ck_assert_int_eq(
		db_command(owner,
			   "INSERT INTO consumption_report (region_code,"
			   " site_id, product_id, period_start, period_end,"
			   " quantity, batch_id) SELECT region_code, site_id,"
			   " product_id, period_start + 1, period_end + 1, 1,"
			   " batch_id FROM consumption_report"
			   " WHERE period_start = '2026-01-01' LIMIT 1",
			   0, NULL, &e),
		-1);
	ck_assert_msg(strstr(e.msg, "exclu") || strstr(e.msg, "conflict"), "%s",
		      e.msg);
}
END_TEST

/* ---- shortages ---- */

#define NOTICE_ROW                                                       \
	"SELECT concat_ws('|', coalesce(product_id::text, '-'), status," \
	" starts_on, coalesce(expected_end::text, '-'),"                 \
	" coalesce(reason, '-')) FROM shortage_notice WHERE notice_id = $1"

START_TEST(test_shortages_good_unchanged_corrected)
{
	struct identity nat = as_importer("");
	struct import_report rep;
	char want[128], first_seen[64];
	const char *seen;

	imported(&import_feed_shortages, "tests/data/shortages/good.csv", &nat,
		 NULL, false, "done", &rep);
	ck_assert_int_eq(rep.rows_applied, 3);
	import_report_free(&rep);
	snprintf(want, sizeof(want),
		 "%lld|active|2026-09-01|2026-12-31|Produktionsproblem",
		 (long long)prod_med);
	ck_assert_str_eq(text1(NOTICE_ROW, "RS-2026-001"), want);
	snprintf(want, sizeof(want),
		 "%lld|forecast|2026-10-01|-|Ökad efterfrågan",
		 (long long)prod_npl);
	ck_assert_str_eq(text1(NOTICE_ROW, "RS-2026-002"), want);
	/* a product nobody stocks: kept, without a product */
	ck_assert_str_eq(text1(NOTICE_ROW, "RS-2026-003"),
			 "-|resolved|2026-01-10|2026-03-01|-");
	seen = text1("SELECT first_seen_at FROM shortage_notice"
		     " WHERE notice_id = $1",
		     "RS-2026-001");
	snprintf(first_seen, sizeof(first_seen), "%s", seen);

	imported(&import_feed_shortages, "tests/data/shortages/good.csv", &nat,
		 NULL, false, "unchanged", &rep);
	import_report_free(&rep);

	imported(&import_feed_shortages, "tests/data/shortages/corrected.csv",
		 &nat, NULL, false, "done", &rep);
	snprintf(want, sizeof(want),
		 "%lld|resolved|2026-09-01|2026-11-15|Produktionsproblem",
		 (long long)prod_med);
	ck_assert_str_eq(text1(NOTICE_ROW, "RS-2026-001"), want);
	ck_assert_str_eq(text1("SELECT first_seen_at FROM shortage_notice"
			       " WHERE notice_id = $1",
			       "RS-2026-001"),
			 first_seen);
	{
		char batch[24];

		snprintf(batch, sizeof(batch), "%lld", (long long)rep.batch_id);
		ck_assert_int_eq(scalar1("SELECT count(*) FROM shortage_notice"
					 " WHERE batch_id = $1"
					 " AND updated_at > first_seen_at",
					 batch),
				 1);
	}
	import_report_free(&rep);
	ck_assert_int_eq(scalar("SELECT count(*) FROM shortage_notice"), 3);
}
END_TEST

START_TEST(test_shortages_bad_rows)
{
	struct identity sys = as_system();
	struct import_report rep;

	imported(&import_feed_shortages, "tests/data/shortages/good.csv", &sys,
		 NULL, false, "done", &rep);
	import_report_free(&rep);
	imported(&import_feed_shortages, "tests/data/shortages/bad.csv", &sys,
		 NULL, false, "rejected", &rep);
	ck_assert_int_eq(rep.rows_total, 12);
	ck_assert_int_eq(rep.rows_rejected, 11);
	rejected(&rep, 3, "notice_id", "letters, digits");
	rejected(&rep, 4, "vnr", "give a Vnr or an NPL pack id");
	rejected(&rep, 5, "vnr", "");
	rejected(&rep, 6, "npl_pack_id", "");
	rejected(&rep, 7, "product_name", "");
	rejected(&rep, 8, "start", "");
	rejected(&rep, 9, "expected_end", "before start 2026-09-01");
	rejected(&rep, 10, "status", "not one of");
	rejected(&rep, 11, "notice_id", "duplicate of line 2");
	rejected(&rep, 12, "npl_pack_id", "but vnr 123456 is product");
	rejected(&rep, 13, "vnr", "stored for vnr 999999");
	import_report_free(&rep);
	ck_assert_int_eq(scalar("SELECT count(*) FROM shortage_notice"), 3);

	imported(&import_feed_shortages, "tests/data/shortages/bad.csv", &sys,
		 NULL, true, "partial", &rep);
	ck_assert_int_eq(rep.rows_applied, 1);
	import_report_free(&rep);
	ck_assert_int_eq(scalar("SELECT count(*) FROM shortage_notice"), 4);
	ck_assert_int_eq(scalar("SELECT count(*) FROM shortage_notice"
				" WHERE notice_id = 'RS-2026-003'"
				" AND vnr = '999999'"),
			 1);
}
END_TEST

/* ---- population ---- */

#define REGION_ROW                                           \
	"SELECT concat_ws('|', population, population_year," \
	" population_source) FROM region WHERE code = $1"

START_TEST(test_population_good_unchanged_corrected)
{
	struct identity nat = as_importer("");
	struct import_report rep;

	/* Windows-1252, quoted, SCB's header and "01 Stockholms län" */
	imported(&import_feed_population, "tests/data/population/good.csv",
		 &nat, NULL, false, "done", &rep);
	ck_assert_int_eq(rep.rows_applied, 6);
	import_report_free(&rep);
	ck_assert_str_eq(text1(REGION_ROW, "01"), "2467213|2024|SCB BE0101N1");
	ck_assert_str_eq(text1(REGION_ROW, "03"), "409112|2024|SCB BE0101N1");
	ck_assert_str_eq(text1(REGION_ROW, "12"), "1421781|2024|SCB BE0101N1");
	ck_assert_str_eq(text1(REGION_ROW, "14"), "1790000|2024|SCB BE0101N1");
	/* 2021 is older than the seed's 2023: history only */
	ck_assert_str_eq(text1(REGION_ROW, "04"),
			 "300930|2023|SCB BE0101N1 (seed)");
	ck_assert_int_eq(scalar("SELECT population FROM region_population"
				" WHERE region_code = '04' AND year = 2021"),
			 297540);
	ck_assert_int_eq(scalar("SELECT population FROM region_population"
				" WHERE region_code = '01' AND year = 2022"),
			 2415139);
	/* not in the file */
	ck_assert_str_eq(text1(REGION_ROW, "05"),
			 "470839|2023|SCB BE0101N1 (seed)");

	imported(&import_feed_population, "tests/data/population/good.csv",
		 &nat, NULL, false, "unchanged", &rep);
	import_report_free(&rep);
	imported(&import_feed_population, "tests/data/population/corrected.csv",
		 &nat, NULL, false, "done", &rep);
	import_report_free(&rep);
	ck_assert_str_eq(text1(REGION_ROW, "01"), "2467300|2024|SCB BE0101N1");
	ck_assert_int_eq(scalar("SELECT count(*) FROM region_population"
				" WHERE region_code = '01' AND year = 2024"),
			 1);
}
END_TEST

START_TEST(test_population_bad_rows)
{
	struct identity sys = as_system();
	struct import_report rep;

	imported(&import_feed_population, "tests/data/population/bad.csv", &sys,
		 NULL, false, "rejected", &rep);
	ck_assert_int_eq(rep.rows_total, 11);
	ck_assert_int_eq(rep.rows_rejected, 10);
	rejected(&rep, 3, "region", "whole nation");
	rejected(&rep, 4, "region", "a municipality");
	rejected(&rep, 5, "region", "");
	rejected(&rep, 6, "region", "region 01 is Stockholms län, not Uppsala");
	rejected(&rep, 7, "region", "not a county code");
	rejected(&rep, 8, "year", "");
	rejected(&rep, 9, "year", "in the future");
	rejected(&rep, 10, "population", "");
	rejected(&rep, 11, "population", "");
	rejected(&rep, 12, "region", "duplicate of line 2");
	import_report_free(&rep);
	ck_assert_str_eq(text1(REGION_ROW, "05"),
			 "470839|2023|SCB BE0101N1 (seed)");

	imported(&import_feed_population, "tests/data/population/bad.csv", &sys,
		 NULL, true, "partial", &rep);
	ck_assert_int_eq(rep.rows_applied, 1);
	import_report_free(&rep);
	ck_assert_str_eq(text1(REGION_ROW, "05"), "470000|2024|SCB BE0101N1");
}
END_TEST

START_TEST(test_population_region_is_guarded)
{
	struct identity contact = as_importer("01"), nat = as_importer("");
	struct err e = {0};

	contact.role = ROLE_REGION_CONTACT;
	ck_assert_int_eq(auth_begin(db, &contact, &e), 0);
	ck_assert_int_eq(
		db_command(db, "SELECT region_population_apply()", 0, NULL, &e),
		-1);
	ck_assert_msg(strstr(e.msg, "only a national importer"), "%s", e.msg);
	db_rollback(db);
	/* Not even a national importer writes region directly. */
	ck_assert_int_eq(auth_begin(db, &nat, &e), 0);
	ck_assert_int_eq(db_command(db,
				    "UPDATE region SET population = 1"
				    " WHERE code = '01'",
				    0, NULL, &e),
			 -1);
	db_rollback(db);
	ck_assert_int_eq(auth_begin(db, &nat, &e), 0);
	ck_assert_int_eq(
		db_command(db,
			   "INSERT INTO region_population (region_code,"
			   " year, population, source) VALUES ('01',"
			   " 2025, 1, 'x')",
			   0, NULL, &e),
		0);
	db_rollback(db);
	ck_assert_int_eq(auth_begin(db, &contact, &e), 0);
	ck_assert_int_eq(
		db_command(db,
			   "INSERT INTO region_population (region_code,"
			   " year, population, source) VALUES ('01',"
			   " 2025, 1, 'x')",
			   0, NULL, &e),
		-1);
	db_rollback(db);
}
END_TEST

Suite *import_feeds_suite(void)
{
	Suite *s = suite_create("import_feeds");
	TCase *tc = tcase_create("feeds");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_products_good_then_unchanged);
	tcase_add_test(tc, test_products_corrected_and_windows_1252);
	tcase_add_test(tc, test_products_bad_rows_all_or_nothing_then_partial);
	tcase_add_test(tc, test_products_scope);
	tcase_add_test(tc, test_emdn_check_in_database);
	tcase_add_test(tc, test_consumption_good_unchanged_corrected);
	tcase_add_test(tc, test_consumption_bad_rows);
	tcase_add_test(tc, test_consumption_region_scoping);
	tcase_add_test(tc, test_consumption_overlap_refused_by_database);
	tcase_add_test(tc, test_shortages_good_unchanged_corrected);
	tcase_add_test(tc, test_shortages_bad_rows);
	tcase_add_test(tc, test_population_good_unchanged_corrected);
	tcase_add_test(tc, test_population_bad_rows);
	tcase_add_test(tc, test_population_region_is_guarded);
	suite_add_tcase(s, tc);
	return s;
}
