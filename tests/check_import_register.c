/*
 * check_import_register.c -- the national medicine-register feeds, npl and
 * articles, through the frame's public entry import_execute against a real
 * PostgreSQL: what lands in npl_medprod, npl_package and product, every
 * rejection by file, line and field, all-or-nothing against --partial,
 * idempotency, and who may import.
 *
 * Fixtures are in tests/data/npl (the real export file
 * 10010101000011.xml, crafted products, and bad/ with one fault per file)
 * and tests/data/articles (one price file in UTF-8, the same in
 * Windows-1252 with CRLF).  The NPL ZIP and files with changed content are
 * built per test in a temporary directory, the ZIP with libzip.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <zip.h>

#include "feeds.h"
#include "import.h"
#include "suites.h"
#include "testdb.h"

#define NPL_DIR "tests/data/npl"
#define NPL_REAL NPL_DIR "/10010101000011.xml"
#define NPL_BAD NPL_DIR "/bad"
#define ART_UTF8 "tests/data/articles/prices_utf8.csv"
#define ART_1252 "tests/data/articles/prices_1252.csv"

static struct db *db;	 /* the application role: imports run here */
static struct db *owner; /* looks at the result */
static char tmpdir[64];
static struct import_report rep;

static void setup(void)
{
	testdb_create();
	owner = testdb_connect();
	db = testdb_connect_app("tester");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lb-register-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	memset(&rep, 0, sizeof(rep));
}

static void teardown(void)
{
	char cmd[128];

	import_report_free(&rep);
	db_close(db);
	db_close(owner);
	db = owner = NULL;
	testdb_drop();
	/* tmpdir is ours, from mkdtemp */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- helpers ---- */

static const char *tmp_path(const char *name)
{
	static char path[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/%s", tmpdir, name);
	return path[k];
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s", path);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole of a fixture, NUL-terminated; the caller frees. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);
	size_t n;

	ck_assert_msg(f != NULL, "%s", path);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Copy fixture src to tmpdir/name, replacing the first from by to. */
static void copy_edit(const char *src, const char *name, const char *from,
		      const char *to)
{
	char *text = read_file(src), *out, *at;
	size_t n;

	at = from ? strstr(text, from) : NULL;
	if (from)
		ck_assert_msg(at != NULL, "%s not in %s", from, src);
	out = malloc(strlen(text) + (to ? strlen(to) : 0) + 1);
	ck_assert_ptr_nonnull(out);
	if (at) {
		n = (size_t)(at - text);
		memcpy(out, text, n);
		memcpy(out + n, to, strlen(to));
		memcpy(out + n + strlen(to), at + strlen(from),
		       strlen(at + strlen(from)) + 1);
	} else {
		memcpy(out, text, strlen(text) + 1);
	}
	write_file(tmp_path(name), out);
	free(out);
	free(text);
}

static struct identity system_who(void)
{
	struct identity who;

	auth_system_identity(&who, "tester");
	return who;
}

static struct identity importer_who(const char *region)
{
	struct identity who;

	memset(&who, 0, sizeof(who));
	who.role = ROLE_IMPORTER;
	who.user_id = 4711;
	snprintf(who.username, sizeof(who.username), "register-job");
	snprintf(who.region, sizeof(who.region), "%s", region);
	return who;
}

/* Import and insist that it reached a verdict; returns the status. */
static const char *import_as(const struct identity *who, const char *feed,
			     const char *path, bool partial, bool force)
{
	struct import_options opt = {
		.partial = partial, .force = force, .source = path};
	const struct import_feed *f = import_feed_find(feed);
	struct err e = {0};

	ck_assert_msg(f != NULL, "no feed %s", feed);
	import_report_free(&rep);
	ck_assert_msg(import_execute(db, who, f, path, &opt, NULL, NULL, NULL,
				     &rep, &e) == 0,
		      "import %s %s: %s", feed, path, e.msg);
	ck_assert_ptr_nonnull(rep.status);
	return rep.status;
}

static const char *import(const char *feed, const char *path, bool partial)
{
	struct identity who = system_who();

	return import_as(&who, feed, path, partial, false);
}

static int64_t count(const char *sql)
{
	return testdb_scalar(owner, sql);
}

/* The one text value a query returns, "<null>" for NULL; static storage. */
static const char *text_of(const char *sql, const char *param)
{
	static char out[1024];
	const char *params[] = {param};
	struct err e = {0};
	PGresult *res = db_exec(owner, sql, param ? 1 : 0, params, &e);

	ck_assert_msg(res != NULL, "%s: %s", sql, e.msg);
	ck_assert_msg(PQntuples(res) == 1, "%s: %d rows", sql, PQntuples(res));
	snprintf(out, sizeof(out), "%s",
		 PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

/* Is there a rejection with this file (NULL: none), line, field, and a
 * reason containing why? */
static bool rejected(const char *file, int64_t line, const char *field,
		     const char *why)
{
	size_t i;
	json_t *o;

	json_array_foreach(rep.errors, i, o)
	{
		const char *f = json_string_value(json_object_get(o, "file"));
		const char *fl = json_string_value(json_object_get(o, "field"));
		const char *r = json_string_value(json_object_get(o, "reason"));

		if (json_integer_value(json_object_get(o, "line")) != line ||
		    !fl || strcmp(fl, field) != 0)
			continue;
		if ((file == NULL) != (f == NULL) ||
		    (file && strcmp(file, f) != 0))
			continue;
		if (why && (!r || !strstr(r, why)))
			continue;
		return true;
	}
	return false;
}

static void assert_rejected(const char *file, int64_t line, const char *field,
			    const char *why)
{
	char *all = json_dumps(rep.errors, JSON_COMPACT);

	ck_assert_msg(rejected(file, line, field, why),
		      "no rejection %s:%lld %s (%s) in %s", file ? file : "",
		      (long long)line, field, why ? why : "", all);
	free(all);
}

/* The products as one string, to compare two imports' results. */
#define PRODUCTS                                                             \
	"SELECT string_agg(concat_ws('|', vnr, category, name, npl_pack_id," \
	" npl_id, atc, strength, form, pack_size, pack_text), E'\\n'"        \
	" ORDER BY vnr) FROM product"

/* ---- npl ---- */

START_TEST(test_npl_real_file)
{
	ck_assert_str_eq(import("npl", NPL_REAL, false), "done");
	ck_assert_int_eq(rep.rows_total, 2);
	ck_assert_int_eq(rep.rows_applied, 2);
	ck_assert_int_eq(rep.rows_rejected, 0);
	ck_assert_str_eq(
		text_of("SELECT concat_ws('|', name, name_legal, strength,"
			" form, atc, mah_org_id, sales_stopped)"
			" FROM npl_medprod WHERE npl_id = $1",
			"10010101000011"),
		"Celectol|Celectol|200 mg|FICOTA|C07AB08|ID1322285407025599|f");
	ck_assert_str_eq(text_of("SELECT concat_ws('|', npl_id, pack_text)"
				 " FROM npl_package WHERE npl_pack_id = $1",
				 "20131105100082"),
			 "10010101000011|Licensförpackning");
	ck_assert_int_eq(
		testdb_scalar(owner, "SELECT count(*) FROM npl_medprod m"
				     " JOIN import_batch b ON b.id = m.batch_id"
				     " WHERE b.feed = 'npl'"
				     " AND b.status = 'done'"),
		1);
}
END_TEST

START_TEST(test_npl_directory_by_namespace_not_prefix)
{
	ck_assert_str_eq(import("npl", NPL_DIR, false), "done");
	ck_assert_int_eq(count("SELECT count(*) FROM npl_medprod"), 3);
	ck_assert_int_eq(count("SELECT count(*) FROM npl_package"), 4);
	ck_assert_int_eq(rep.rows_applied, 7);
	/* other prefixes, whitespace normalised, MAH picked by role */
	ck_assert_str_eq(
		text_of("SELECT concat_ws('|', name, name_legal, strength,"
			" form, atc, mah_org_id, sales_stopped)"
			" FROM npl_medprod WHERE npl_id = $1",
			"20000101000015"),
		"Paracetamol Lagerbild|Paracetamol Lagerbild 500 mg "
		"filmdragerade tabletter|500 mg|FICOTA|N02BE01|"
		"ID0000000000000MAH|f");
	ck_assert_str_eq(
		text_of("SELECT string_agg(npl_pack_id || '=' || pack_text,"
			" ',' ORDER BY npl_pack_id) FROM npl_package"
			" WHERE npl_id = $1",
			"20000101000015"),
		"20000101100012=Blister, 20 tabletter,"
		"20000101100029=Burk, 100 tabletter");
	/* default namespace, sales stopped, an ATC group, CDATA */
	ck_assert_str_eq(
		text_of("SELECT concat_ws('|', name, coalesce(strength, '-'),"
			" atc, sales_stopped) FROM npl_medprod"
			" WHERE npl_id = $1",
			"20000101000022"),
		"Stoppad Örtdroppe|-|A16AX|t");
	ck_assert_str_eq(text_of("SELECT pack_text FROM npl_package"
				 " WHERE npl_pack_id = $1",
				 "20000101100036"),
			 "Flaska, 30 ml & pipett");
}
END_TEST

/* Every fault of bad/ is reported with its file, line and field. */
static void assert_bad_dir_rejections(void)
{
	assert_rejected("bad_atc.xml", 8, "atc-code-lx", "not an ATC code");
	assert_rejected("bad_atc.xml", 12, "nplpackid", "14 digits");
	assert_rejected("bad_atc.xml", 14, "nplpackid", "missing");
	assert_rejected("bad_fields.xml", 2, "medprodname", "missing");
	assert_rejected("bad_fields.xml", 4, "pharmaceutical-form-lx",
			"register code");
	assert_rejected("bad_fields.xml", 7, "organization-lx",
			"register code");
	assert_rejected("bad_fields.xml", 12, "salesstopped", "Y or N");
	assert_rejected("bad_nplid.xml", 3, "nplid", "14 digits");
	assert_rejected("billion_laughs.xml", 16, "xml",
			"entity reference loop");
	assert_rejected("xxe.xml", 0, "xml", "DOCTYPE");
	assert_rejected("malformed.xml", 6, "xml", "not well-formed");
	assert_rejected("missing_nplid.xml", 3, "nplid", "missing");
	assert_rejected("readme.txt", 0, "file", "not an .xml");
	assert_rejected("wrong_root.xml", 2, "xml", "not an NPL product");
	ck_assert_int_eq(json_array_size(rep.errors), 14);
}

START_TEST(test_npl_bad_directory_all_or_nothing)
{
	ck_assert_str_eq(import("npl", NPL_BAD, false), "rejected");
	assert_bad_dir_rejections();
	ck_assert_int_eq(rep.rows_applied, 0);
	ck_assert_int_eq(count("SELECT count(*) FROM npl_medprod"), 0);
	ck_assert_int_eq(count("SELECT count(*) FROM npl_package"), 0);
	/* the refusal is on record, with its errors */
	ck_assert_int_eq(count("SELECT count(*) FROM import_batch"
			       " WHERE feed = 'npl' AND status = 'rejected'"
			       " AND jsonb_array_length(errors) = 14"),
			 1);
	/* nothing of the entities: neither expanded nor read from disk */
	ck_assert_int_eq(count("SELECT count(*) FROM import_batch"
			       " WHERE errors::text LIKE '%lollol%'"
			       " OR errors::text LIKE '%root:%'"),
			 0);
}
END_TEST

START_TEST(test_npl_bad_directory_partial)
{
	ck_assert_str_eq(import("npl", NPL_BAD, true), "partial");
	assert_bad_dir_rejections();
	/* only the good product of bad/ and its package */
	ck_assert_int_eq(rep.rows_applied, 2);
	ck_assert_str_eq(text_of("SELECT string_agg(npl_id, ',')"
				 " FROM npl_medprod",
				 NULL),
			 "20000101000039");
	ck_assert_str_eq(text_of("SELECT string_agg(npl_pack_id, ',')"
				 " FROM npl_package",
				 NULL),
			 "20000101100043");
}
END_TEST

/* A ZIP like the nightly export, built with libzip from the fixtures. */
static const char *make_zip(const char *name, bool with_bad)
{
	static char big_doc[17 * 1024 * 1024 + 64];
	const char *path = tmp_path(name);
	int zerr = 0;
	zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	zip_source_t *src;

	ck_assert_ptr_nonnull(za);
	ck_assert_int_ge(zip_dir_add(za, "Productdata", ZIP_FL_ENC_UTF_8), 0);
	src = zip_source_file(za, NPL_REAL, 0, -1);
	ck_assert_ptr_nonnull(src);
	ck_assert_int_ge(zip_file_add(za, "Productdata/10010101000011.xml", src,
				      ZIP_FL_ENC_UTF_8),
			 0);
	src = zip_source_file(za, NPL_DIR "/20000101000015.xml", 0, -1);
	ck_assert_ptr_nonnull(src);
	ck_assert_int_ge(zip_file_add(za, "Productdata/20000101000015.xml", src,
				      ZIP_FL_ENC_UTF_8),
			 0);
	if (with_bad) {
		size_t n;

		src = zip_source_file(za, NPL_BAD "/malformed.xml", 0, -1);
		ck_assert_ptr_nonnull(src);
		ck_assert_int_ge(zip_file_add(za, "Productdata/malformed.xml",
					      src, ZIP_FL_ENC_UTF_8),
				 0);
		src = zip_source_buffer(za, "hello\n", 6, 0);
		ck_assert_ptr_nonnull(src);
		ck_assert_int_ge(zip_file_add(za, "Productdata/notes.txt", src,
					      ZIP_FL_ENC_UTF_8),
				 0);
		/* a bomb: 17 MiB of blanks compress to a few kilobytes */
		n = (size_t)snprintf(big_doc, sizeof(big_doc),
				     "<?xml version=\"1.0\"?>\n<a>");
		memset(big_doc + n, ' ', 17 * 1024 * 1024);
		n += 17 * 1024 * 1024;
		memcpy(big_doc + n, "</a>\n", 5);
		n += 5;
		src = zip_source_buffer(za, big_doc, n, 0);
		ck_assert_ptr_nonnull(src);
		ck_assert_int_ge(zip_file_add(za, "Productdata/bomb.xml", src,
					      ZIP_FL_ENC_UTF_8),
				 0);
	}
	ck_assert_msg(zip_close(za) == 0, "zip_close: %s", zip_strerror(za));
	return path;
}

START_TEST(test_npl_zip)
{
	const char *path = make_zip("export.zip", false);

	ck_assert_str_eq(import("npl", path, false), "done");
	ck_assert_int_eq(rep.rows_applied, 5);
	ck_assert_int_eq(count("SELECT count(*) FROM npl_medprod"), 2);
	ck_assert_int_eq(count("SELECT count(*) FROM npl_package"), 3);
}
END_TEST

START_TEST(test_npl_zip_bad_members)
{
	const char *path = make_zip("export.zip", true);
	struct stat sb;

	/* the bomb is small on disk */
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_lt(sb.st_size, 1024 * 1024);
	ck_assert_str_eq(import("npl", path, false), "rejected");
	assert_rejected("Productdata/malformed.xml", 6, "xml",
			"not well-formed");
	assert_rejected("Productdata/notes.txt", 0, "file", "not an .xml");
	assert_rejected("Productdata/bomb.xml", 0, "xml", "larger than");
	ck_assert_int_eq(json_array_size(rep.errors), 3);
	ck_assert_int_eq(count("SELECT count(*) FROM npl_medprod"), 0);

	ck_assert_str_eq(import("npl", path, true), "partial");
	ck_assert_int_eq(rep.rows_applied, 5);
	ck_assert_int_eq(count("SELECT count(*) FROM npl_medprod"), 2);
}
END_TEST

START_TEST(test_npl_same_content_twice_is_unchanged)
{
	const char *state;
	int64_t first;
	char before[1024];

	ck_assert_str_eq(import("npl", NPL_DIR, false), "done");
	first = rep.batch_id;
	state = text_of("SELECT string_agg(concat_ws('|', npl_id, batch_id,"
			" updated_at), ',' ORDER BY npl_id)"
			" FROM npl_medprod",
			NULL);
	snprintf(before, sizeof(before), "%s", state);
	ck_assert_str_eq(import("npl", NPL_DIR, false), "unchanged");
	ck_assert_int_eq(rep.same_as, first);
	ck_assert_int_eq(rep.rows_applied, 0);
	ck_assert_str_eq(text_of("SELECT string_agg(concat_ws('|', npl_id,"
				 " batch_id, updated_at), ','"
				 " ORDER BY npl_id) FROM npl_medprod",
				 NULL),
			 before);

	/* forced: read and merged again, but no row changes */
	{
		struct identity who = system_who();

		ck_assert_str_eq(import_as(&who, "npl", NPL_DIR, false, true),
				 "done");
	}
	ck_assert_int_eq(rep.rows_applied, 7);
	ck_assert_str_eq(text_of("SELECT string_agg(concat_ws('|', npl_id,"
				 " batch_id, updated_at), ','"
				 " ORDER BY npl_id) FROM npl_medprod",
				 NULL),
			 before);
}
END_TEST

START_TEST(test_npl_changed_content_updates)
{
	int64_t first;

	ck_assert_str_eq(import("npl", NPL_REAL, false), "done");
	first = rep.batch_id;
	copy_edit(NPL_REAL, "a.xml", "v=\"Celectol\"", "v=\"Celectol Ny\"");
	copy_edit(tmp_path("a.xml"), "b.xml", "salesstopped v=\"N\"",
		  "salesstopped v=\"Y\"");
	copy_edit(tmp_path("b.xml"), "c.xml", "Licensförpackning",
		  "Licensförpackning, 30 st");
	ck_assert_str_eq(import("npl", tmp_path("c.xml"), false), "done");
	ck_assert_int_gt(rep.batch_id, first);
	ck_assert_str_eq(text_of("SELECT concat_ws('|', name, sales_stopped,"
				 " batch_id > 0) FROM npl_medprod"
				 " WHERE npl_id = $1",
				 "10010101000011"),
			 "Celectol Ny|t|t");
	ck_assert_int_eq(count("SELECT count(*) FROM npl_package p"
			       " JOIN npl_medprod m USING (batch_id)"
			       " WHERE p.pack_text ="
			       " 'Licensförpackning, 30 st'"),
			 1);
}
END_TEST

START_TEST(test_npl_refreshes_products_only)
{
	const char *params[] = {"20000101100012"};
	struct err e = {0};
	int64_t products;

	/* a product stocked by its pack id; one with an ATC of its own that
	 * the register knows only as a group; one the register lacks */
	ck_assert_int_eq(
		db_command(owner,
			   "INSERT INTO product (category, name, vnr,"
			   " npl_pack_id, atc) VALUES"
			   " ('medicine', 'Min paracetamol', '111111', $1,"
			   " NULL),"
			   " ('medicine', 'Örtdroppe', '222222',"
			   " '20000101100036', 'A16AX01'),"
			   " ('medicine', 'Annan', '333333',"
			   " '99999999999999', 'N01AX10')",
			   1, params, &e),
		0);
	products = count("SELECT count(*) FROM product");
	ck_assert_str_eq(import("npl", NPL_DIR, false), "done");
	ck_assert_int_eq(count("SELECT count(*) FROM product"), products);
	ck_assert_str_eq(
		text_of("SELECT concat_ws('|', name, npl_id, atc, strength,"
			" form, batch_id IS NOT NULL) FROM product"
			" WHERE vnr = $1",
			"111111"),
		"Min paracetamol|20000101000015|N02BE01|500 mg|FICOTA|t");
	ck_assert_str_eq(text_of("SELECT concat_ws('|', name, npl_id, atc,"
				 " coalesce(strength, '-'), form) FROM product"
				 " WHERE vnr = $1",
				 "222222"),
			 "Örtdroppe|20000101000022|A16AX01|-|ORDRO");
	ck_assert_str_eq(
		text_of("SELECT concat_ws('|', coalesce(npl_id, '-'), atc,"
			" batch_id IS NULL) FROM product WHERE vnr = $1",
			"333333"),
		"-|N01AX10|t");
}
END_TEST

START_TEST(test_npl_duplicate_product_across_files)
{
	ck_assert_int_eq(mkdir(tmp_path("dup"), 0700), 0);
	copy_edit(NPL_REAL, "dup/a.xml", NULL, NULL);
	copy_edit(NPL_REAL, "dup/b.xml", "Licensförpackning", "Annan text");
	ck_assert_str_eq(import("npl", tmp_path("dup"), false), "rejected");
	/* b.xml's product is refused, and its package with it, unreported */
	assert_rejected(NULL, 2, "nplid",
			"in b.xml: duplicate of a.xml line 2");
	ck_assert_int_eq(json_array_size(rep.errors), 1);
	ck_assert_str_eq(import("npl", tmp_path("dup"), true), "partial");
	ck_assert_str_eq(text_of("SELECT pack_text FROM npl_package", NULL),
			 "Licensförpackning");
}
END_TEST

START_TEST(test_npl_overlong_text)
{
	char name[2100];

	memcpy(name, "<mpa:medprodname v=\"", 20);
	memset(name + 20, 'x', 2000);
	memcpy(name + 2020, "\"", 2);
	copy_edit(NPL_REAL, "long.xml", "<mpa:medprodname v=\"Celectol\"",
		  name);
	ck_assert_str_eq(import("npl", tmp_path("long.xml"), false),
			 "rejected");
	assert_rejected(NULL, 5, "medprodname", "longer than 1000 bytes");
	ck_assert_int_eq(json_array_size(rep.errors), 1);
}
END_TEST

START_TEST(test_npl_who_may_import)
{
	struct identity national = importer_who(""),
			regional = importer_who("01");
	struct import_options opt = {.source = NPL_REAL};
	struct err e = {0};

	ck_assert_str_eq(import_as(&national, "npl", NPL_REAL, false, false),
			 "done");
	ck_assert_int_eq(count("SELECT count(*) FROM npl_medprod"
			       " WHERE batch_id IS NOT NULL"),
			 1);
	ck_assert_str_eq(text_of("SELECT recorded_by FROM import_batch", NULL),
			 "register-job");
	import_report_free(&rep);
	ck_assert_int_eq(import_execute(db, &regional, &import_feed_npl,
					NPL_REAL, &opt, NULL, NULL, NULL, &rep,
					&e),
			 -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
}
END_TEST

/* The database itself refuses a regional caller (RLS behind the C check). */
START_TEST(test_register_rls)
{
	struct err e = {0};

	ck_assert_int_eq(db_begin(db, &e), 0);
	ck_assert_int_eq(
		db_command(db,
			   "SELECT set_config('lagerbild.role',"
			   " 'importer', true),"
			   " set_config('lagerbild.region', '01', true)",
			   0, NULL, &e),
		0);
	ck_assert_int_eq(db_command(db,
				    "INSERT INTO npl_medprod (npl_id, name)"
				    " VALUES ('10010101000011', 'x')",
				    0, NULL, &e),
			 -1);
	db_rollback(db);
	ck_assert_int_eq(db_begin(db, &e), 0);
	ck_assert_int_eq(db_command(db,
				    "SELECT set_config('lagerbild.role',"
				    " 'viewer', true)",
				    0, NULL, &e),
			 0);
	ck_assert_int_eq(db_command(db,
				    "INSERT INTO npl_medprod (npl_id, name)"
				    " VALUES ('10010101000011', 'x')",
				    0, NULL, &e),
			 -1);
	db_rollback(db);
}
END_TEST

/* ---- articles ---- */

static void assert_article_rejections(void)
{
	assert_rejected(NULL, 4, "Varunummer", "6 digits");
	assert_rejected(NULL, 5, "NPL id", "14 digits");
	assert_rejected(NULL, 6, "Antal", NULL);
	assert_rejected(NULL, 7, "Antal", NULL);
	assert_rejected(NULL, 8, "AIP", "not a price");
	assert_rejected(NULL, 9, "record", "fields");
	assert_rejected(NULL, 10, "ATC-kod", "not an ATC code");
	assert_rejected(NULL, 11, "Varunummer", "duplicate of line 2");
	ck_assert_int_eq(json_array_size(rep.errors), 8);
	ck_assert_int_eq(rep.rows_rejected, 8);
}

START_TEST(test_articles_all_or_nothing)
{
	int64_t products = count("SELECT count(*) FROM product");

	ck_assert_str_eq(import("articles", ART_UTF8, false), "rejected");
	assert_article_rejections();
	ck_assert_int_eq(count("SELECT count(*) FROM product"), products);
}
END_TEST

START_TEST(test_articles_partial_utf8_and_1252_agree)
{
	char first[4096];
	int64_t audits;

	ck_assert_str_eq(import("articles", ART_UTF8, true), "partial");
	assert_article_rejections();
	ck_assert_int_eq(rep.rows_applied, 3);
	ck_assert_str_eq(
		text_of("SELECT concat_ws('|', category, name, npl_pack_id,"
			" atc, pack_size, pack_text) FROM product"
			" WHERE vnr = $1",
			"012345"),
		"medicine|Alvedon|20050512000031|N02BE01|20|"
		"Blister, 20 tabletter");
	/* a group-level ATC is accepted, not kept */
	ck_assert_str_eq(text_of("SELECT concat_ws('|', name,"
				 " coalesce(atc, '-'), pack_size)"
				 " FROM product WHERE vnr = $1",
				 "023456"),
			 "Hälsoört Ömsint|-|1");
	ck_assert_str_eq(
		text_of("SELECT name FROM product WHERE vnr = $1", "090123"),
		"Kåvepenin");
	snprintf(first, sizeof(first), "%s", text_of(PRODUCTS, NULL));

	/* the same rows in Windows-1252 with CRLF: the same rejections, and
	 * not one product changes */
	audits = count("SELECT count(*) FROM audit_log");
	ck_assert_str_eq(import("articles", ART_1252, true), "partial");
	assert_article_rejections();
	ck_assert_int_eq(rep.rows_applied, 3);
	ck_assert_str_eq(text_of(PRODUCTS, NULL), first);
	ck_assert_int_eq(count("SELECT count(*) FROM audit_log"), audits);
}
END_TEST

static const char good_prices[] =
	"Produktnamn;Företag;ATC-kod;Varunummer;NPL id;Förpackning;Antal;"
	"AIP;AUP\n"
	"Paracetamol Lagerbild;Lagerbild AB;N02BE99;111111;20000101100012;"
	"Blister, 20 tabletter;20;10,00;15,00\n"
	"Paracetamol Lagerbild;Lagerbild AB;;222222;20000101100029;"
	"Burk, 100 tabletter;100;40,00;60,00\n";

START_TEST(test_articles_idempotent_and_register_values)
{
	int64_t first;

	ck_assert_str_eq(import("npl", NPL_DIR, false), "done");
	write_file(tmp_path("good.csv"), good_prices);
	ck_assert_str_eq(import("articles", tmp_path("good.csv"), false),
			 "done");
	first = rep.batch_id;
	ck_assert_int_eq(rep.rows_applied, 2);
	/* npl_id, strength, form from the register; its ATC wins */
	ck_assert_str_eq(
		text_of("SELECT concat_ws('|', npl_id, atc, strength, form,"
			" pack_size) FROM product WHERE vnr = $1",
			"111111"),
		"20000101000015|N02BE01|500 mg|FICOTA|20");
	ck_assert_str_eq(text_of("SELECT concat_ws('|', npl_id, atc)"
				 " FROM product WHERE vnr = $1",
				 "222222"),
			 "20000101000015|N02BE01");
	ck_assert_str_eq(import("articles", tmp_path("good.csv"), false),
			 "unchanged");
	ck_assert_int_eq(rep.same_as, first);
	ck_assert_int_eq(count("SELECT count(*) FROM product"
			       " WHERE batch_id <> (SELECT min(id) FROM"
			       " import_batch WHERE feed = 'articles')"),
			 0);
}
END_TEST

START_TEST(test_articles_vnr_moves_pack_and_conflicts)
{
	struct err e = {0};

	ck_assert_int_eq(
		db_command(owner,
			   "INSERT INTO product (category, name, vnr,"
			   " npl_pack_id) VALUES"
			   " ('medicine', 'A', '111111', '20000101100012'),"
			   " ('medicine', 'B', '222222', '20000101100029'),"
			   " ('medicine', 'C', NULL, '20000101100036'),"
			   " ('medicine', 'D', '666666', '20000101100043'),"
			   " ('ppe', 'Handske', '444444', NULL)",
			   0, NULL, &e),
		0);
	/* line 2: a new Vnr wants D's pack, which D keeps: refused
	 * line 3: the Vnr of a glove: refused
	 * lines 4-5: A and B swap packs; line 6: C takes a Vnr */
	write_file(tmp_path("moves.csv"),
		   "Produktnamn;Varunummer;NPL id;Antal\n"
		   "Ny;333333;20000101100043;1\n"
		   "Handske;444444;20000101100050;1\n"
		   "A;111111;20000101100029;1\n"
		   "B;222222;20000101100012;1\n"
		   "C;555555;20000101100036;5\n");
	ck_assert_str_eq(import("articles", tmp_path("moves.csv"), true),
			 "partial");
	assert_rejected(NULL, 2, "NPL id", "belongs to product");
	assert_rejected(NULL, 3, "Varunummer", "not a medicine");
	ck_assert_int_eq(json_array_size(rep.errors), 2);
	ck_assert_int_eq(rep.rows_applied, 3);
	ck_assert_str_eq(text_of("SELECT string_agg(vnr || '=' ||"
				 " coalesce(npl_pack_id, '-') || '/' ||"
				 " pack_size, ',' ORDER BY vnr) FROM product"
				 " WHERE category = 'medicine'",
				 NULL),
			 "111111=20000101100029/1,222222=20000101100012/1,"
			 "555555=20000101100036/5,666666=20000101100043/1");
	/* C is the same product, now with a Vnr */
	ck_assert_str_eq(
		text_of("SELECT name FROM product WHERE vnr = $1", "555555"),
		"C");
}

/* Refusing one row can strand another: A gives its pack to X only if A's
 * own row is applied; A's row is refused (B keeps what A wants), so X is
 * refused too, in a second round. */
START_TEST(test_articles_pack_chain)
{
	struct err e = {0};

	ck_assert_int_eq(
		db_command(owner,
			   "INSERT INTO product (category, name, vnr,"
			   " npl_pack_id) VALUES"
			   " ('medicine', 'A', '111111', '20000101100012'),"
			   " ('medicine', 'B', '222222', '20000101100029')",
			   0, NULL, &e),
		0);
	write_file(tmp_path("chain.csv"),
		   "Produktnamn;Varunummer;NPL id;Antal\n"
		   "X;333333;20000101100012;1\n"
		   "A;111111;20000101100029;1\n");
	ck_assert_str_eq(import("articles", tmp_path("chain.csv"), true),
			 "partial");
	assert_rejected(NULL, 3, "NPL id", "Vnr 222222");
	assert_rejected(NULL, 2, "NPL id", "Vnr 111111");
	ck_assert_int_eq(rep.rows_applied, 0);
	ck_assert_int_eq(count("SELECT count(*) FROM product"
			       " WHERE vnr = '333333'"),
			 0);
}
END_TEST

Suite *import_register_suite(void)
{
	Suite *s = suite_create("import_register");
	TCase *tc = tcase_create("register");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_npl_real_file);
	tcase_add_test(tc, test_npl_directory_by_namespace_not_prefix);
	tcase_add_test(tc, test_npl_bad_directory_all_or_nothing);
	tcase_add_test(tc, test_npl_bad_directory_partial);
	tcase_add_test(tc, test_npl_zip);
	tcase_add_test(tc, test_npl_zip_bad_members);
	tcase_add_test(tc, test_npl_same_content_twice_is_unchanged);
	tcase_add_test(tc, test_npl_changed_content_updates);
	tcase_add_test(tc, test_npl_refreshes_products_only);
	tcase_add_test(tc, test_npl_duplicate_product_across_files);
	tcase_add_test(tc, test_npl_overlong_text);
	tcase_add_test(tc, test_npl_who_may_import);
	tcase_add_test(tc, test_register_rls);
	tcase_add_test(tc, test_articles_all_or_nothing);
	tcase_add_test(tc, test_articles_partial_utf8_and_1252_agree);
	tcase_add_test(tc, test_articles_idempotent_and_register_values);
	tcase_add_test(tc, test_articles_vnr_moves_pack_and_conflicts);
	tcase_add_test(tc, test_articles_pack_chain);
	suite_add_tcase(s, tc);
	return s;
}
