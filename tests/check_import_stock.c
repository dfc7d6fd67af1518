/*
 * check_import_stock.c -- the stock feed against a real PostgreSQL, through
 * import_execute and through the `lagerbild import` binary: every rejection
 * with its line, field and reason, the balances and events an import
 * leaves, "unchanged" and --force, all or nothing versus --partial, dry
 * runs, region-local article numbers, who may import for which region,
 * the bulk path (ledger_apply_counts) beside the row path (ledger_record),
 * the command line's exit codes, a kill -9 in the middle of a big import,
 * and a URL source with an ETag.
 *
 * Fixtures are in tests/data/stock/: good.csv and good2.csv (a snapshot and
 * a later one), bad_c.csv (faults found in C, one per line), bad_sql.csv
 * (faults only the database can find, for region 01), and one file per
 * header, delimiter and encoding variant.  Each bad line is described where
 * it is asserted.  Files a test needs only once are written to a temporary
 * directory.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <microhttpd.h>

#include "auth.h"
#include "feeds.h"
#include "import.h"
#include "ledger.h"
#include "suites.h"
#include "testdb.h"
#include "verify.h"

extern char **environ;

#define DATA "tests/data/stock/"

/* A child still running after this is hung, not slow. */
#define RUN_TIMEOUT_S 90
/* Captured output of one run of the binary. */
#define OUT_MAX (256 * 1024)
/* The crash test's snapshot: sites x products rows. */
#define CRASH_SITES 300
#define CRASH_PRODUCTS 500
#define STR(x) #x
#define XSTR(x) STR(x)

static struct db *db; /* the application role, as the CLI and API run */
static struct db *owner;
static char conninfo[128];
static char tmp[64]; /* this test's scratch directory */
static int64_t p_vnr, p_npl, p_dev, p_dev2, p_amb_npl, p_amb_gtin;
static char s_vnr[24], s_npl[24], s_dev[24], s_dev2[24];

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char full[512];

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (lstat(full, &sb) == 0 && S_ISDIR(sb.st_mode))
			remove_tree(full);
		else
			unlink(full);
	}
	closedir(d);
	rmdir(path);
}

/* Write text to name in the scratch directory; returns the path (static,
 * one of a few rotating buffers). */
static const char *scratch(const char *name, const char *text)
{
	static char paths[4][256];
	static int next;
	char *p = paths[next++ % 4];
	FILE *f;

	snprintf(p, sizeof(paths[0]), "%s/%s", tmp, name);
	f = fopen(p, "wb");
	ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return p;
}

/* The whole of a small file, NUL-terminated; the caller frees. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	buf = malloc(OUT_MAX + 1);
	ck_assert(buf != NULL);
	n = fread(buf, 1, OUT_MAX, f);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = n;
	return buf;
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
	static char buf[1024];
	const char *params[] = {p1};
	struct err e = {0};
	PGresult *res = db_exec(owner, sql, p1 ? 1 : 0, p1 ? params : NULL, &e);

	ck_assert_msg(res != NULL, "%s: %s", sql, e.msg);
	ck_assert_msg(PQntuples(res) == 1, "%s: %d rows", sql, PQntuples(res));
	snprintf(buf, sizeof(buf), "%s", db_text(res, 0, 0));
	PQclear(res);
	return buf;
}

static void exec_owner(const char *sql)
{
	struct err e = {0};

	ck_assert_msg(db_command(owner, sql, 0, NULL, &e) == 0, "%s: %s", sql,
		      e.msg);
}

/* The balance of (site code, product, lot), or -1 when there is none. */
static int64_t balance(const char *site, int64_t product, const char *lot)
{
	char pid[24];
	const char *params[] = {site, pid, lot};

	snprintf(pid, sizeof(pid), "%lld", (long long)product);
	return testdb_scalar_params(
		owner,
		"SELECT coalesce((SELECT b.quantity FROM stock_balance b"
		" JOIN site s ON s.id = b.site_id WHERE s.code = $1"
		" AND b.product_id = $2 AND b.lot = $3), -1)",
		3, params);
}

/* "seq:kind:delta:balance_after" of every event of (site, product, lot),
 * in order, joined by spaces (static). */
static const char *history(const char *site, int64_t product, const char *lot)
{
	static char buf[1024];
	char pid[24];
	const char *params[] = {site, pid, lot};
	struct err e = {0};
	PGresult *res;

	snprintf(pid, sizeof(pid), "%lld", (long long)product);
	res = db_exec(owner,
		      "SELECT coalesce(string_agg(concat_ws(':', e.seq, e.kind,"
		      " e.delta, e.balance_after), ' ' ORDER BY e.seq), '')"
		      " FROM stock_event e JOIN site s ON s.id = e.site_id"
		      " WHERE s.code = $1 AND e.product_id = $2 AND e.lot = $3",
		      3, params, &e);
	ck_assert_msg(res != NULL, "%s", e.msg);
	snprintf(buf, sizeof(buf), "%s", db_text(res, 0, 0));
	PQclear(res);
	return buf;
}

/* The ledger as a whole: counts of what an import may write. */
struct ledger_state {
	int64_t events, balances, aggregates, articles, batches;
	int64_t qty_sum;
};

static struct ledger_state ledger_state(void)
{
	struct ledger_state s;

	s.events = scalar("SELECT count(*) FROM stock_event");
	s.balances = scalar("SELECT count(*) FROM stock_balance");
	s.aggregates = scalar("SELECT count(*) FROM region_product_stock");
	s.articles = scalar("SELECT count(*) FROM region_article");
	s.batches = scalar("SELECT count(*) FROM import_batch");
	s.qty_sum = scalar("SELECT coalesce(sum(quantity), 0)"
			   " FROM stock_balance");
	return s;
}

static void assert_same_state(const struct ledger_state *a,
			      const struct ledger_state *b, const char *what)
{
	ck_assert_msg(a->events == b->events, "%s: events %lld -> %lld", what,
		      (long long)a->events, (long long)b->events);
	ck_assert_msg(a->balances == b->balances, "%s: balances %lld -> %lld",
		      what, (long long)a->balances, (long long)b->balances);
	ck_assert_msg(a->aggregates == b->aggregates,
		      "%s: aggregates %lld -> %lld", what,
		      (long long)a->aggregates, (long long)b->aggregates);
	ck_assert_msg(a->articles == b->articles,
		      "%s: region_article %lld -> %lld", what,
		      (long long)a->articles, (long long)b->articles);
	ck_assert_msg(a->qty_sum == b->qty_sum, "%s: stock %lld -> %lld", what,
		      (long long)a->qty_sum, (long long)b->qty_sum);
}

/* verify finds no drift, and every aggregate is the sum of its balances. */
static void assert_consistent(void)
{
	struct verify_totals t;
	struct err e = {0};

	ck_assert_msg(verify_run(db, NULL, NULL, &t, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(t.drifts, 0);
	ck_assert_int_eq(
		scalar("SELECT count(*) FROM region_product_stock r"
		       " FULL JOIN (SELECT region_code, product_id,"
		       "  sum(quantity) AS q FROM stock_balance GROUP BY 1, 2) b"
		       " USING (region_code, product_id)"
		       " WHERE coalesce(r.quantity, 0) <> coalesce(b.q, 0)"),
		0);
}

static void report_verify(void *ctx, const struct verify_drift *d)
{
	(void)ctx;
	fprintf(stderr, "drift: %s %s: expected %lld, actual %lld\n", d->check,
		d->where, (long long)d->expected, (long long)d->actual);
}

/* ---- fixture ---- */

static void setup(void)
{
	struct err e = {0};

	snprintf(conninfo, sizeof(conninfo), "%s", testdb_create());
	owner = testdb_connect();
	testdb_site(owner, "01", "01-KS");
	testdb_site(owner, "01", "01-CL");
	testdb_site(owner, "01", "01-OLD");
	testdb_site(owner, "12", "12-SUS");
	exec_owner("UPDATE site SET active = false WHERE code = '01-OLD'");
	p_vnr = testdb_product(owner, "123456", "Propofol 10 mg/ml 20 ml x 5");
	p_npl = scalar("INSERT INTO product (category, name, vnr, npl_pack_id)"
		       " VALUES ('medicine', 'Amoxicillin 500 mg 20 st',"
		       " '234567', '20050512000031') RETURNING id");
	p_dev = scalar("INSERT INTO product (category, name, gtin)"
		       " VALUES ('medical_device', 'Kanyl 18G',"
		       " '07350012345730') RETURNING id");
	p_dev2 = scalar("INSERT INTO product (category, name, gtin)"
			" VALUES ('ppe', 'Munskydd IIR', '07350012345747')"
			" RETURNING id");
	/* One 14-digit number that is an NPL pack id and another's GTIN. */
	p_amb_npl = scalar("INSERT INTO product (category, name, vnr,"
			   " npl_pack_id) VALUES ('medicine', 'Amb A',"
			   " '222222', '17350012345683') RETURNING id");
	p_amb_gtin = scalar("INSERT INTO product (category, name, gtin)"
			    " VALUES ('ppe', 'Amb B', '17350012345683')"
			    " RETURNING id");
	snprintf(s_vnr, sizeof(s_vnr), "%lld", (long long)p_vnr);
	snprintf(s_npl, sizeof(s_npl), "%lld", (long long)p_npl);
	snprintf(s_dev, sizeof(s_dev), "%lld", (long long)p_dev);
	snprintf(s_dev2, sizeof(s_dev2), "%lld", (long long)p_dev2);
	/* Region 01 already maps its article ART-77 to the cannula. */
	ck_assert_msg(db_command(owner,
				 "INSERT INTO region_article (region_code,"
				 " article, product_id) VALUES ('01', 'ART-77',"
				 " $1)",
				 1, (const char *const[]){s_dev}, &e) == 0,
		      "%s", e.msg);
	db = testdb_connect_app("tester");
	snprintf(tmp, sizeof(tmp), "/tmp/lb-stock-test.XXXXXX");
	ck_assert_msg(mkdtemp(tmp) != NULL, "mkdtemp: %s", strerror(errno));
}

static void teardown(void)
{
	db_close(db);
	db_close(owner);
	db = owner = NULL;
	testdb_drop();
	if (tmp[0])
		remove_tree(tmp);
	tmp[0] = '\0';
}

/* ---- identities ---- */

static struct identity as_system(void)
{
	struct identity w;

	auth_system_identity(&w, "tester");
	return w;
}

/* An import job: region "" for a national one. */
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

enum {
	PARTIAL = 1,
	DRY_RUN = 2,
	FORCE = 4
};

static int try_import(const char *path, const struct identity *who,
		      const char *region, int flags, struct import_report *rep,
		      struct err *e)
{
	struct import_options opt = {
		.region = region,
		.partial = flags & PARTIAL,
		.dry_run = flags & DRY_RUN,
		.force = flags & FORCE,
		.source = path,
	};

	return import_execute(db, who, &import_feed_stock, path, &opt, NULL,
			      NULL, NULL, rep, e);
}

/* Import and insist that it reached status; the caller frees rep. */
static void imported(const char *path, const struct identity *who,
		     const char *region, int flags, const char *status,
		     struct import_report *rep)
{
	struct err e = {0};
	char *dump;

	ck_assert_msg(try_import(path, who, region, flags, rep, &e) == 0,
		      "%s: %s", path, e.msg);
	dump = json_dumps(rep->errors, JSON_INDENT(1));
	ck_assert_msg(rep->status && strcmp(rep->status, status) == 0,
		      "%s: status %s, wanted %s; errors %s", path, rep->status,
		      status, dump ? dump : "?");
	free(dump);
}

/* Import and insist that it stopped before a verdict, with code, and
 * field when not NULL, and words in the message. */
static void refused(const char *path, const struct identity *who,
		    const char *region, enum err_code code, const char *field,
		    const char *words)
{
	struct import_report rep;
	struct err e = {0};

	ck_assert_int_eq(try_import(path, who, region, 0, &rep, &e), -1);
	ck_assert_msg(e.code == code, "%s: code %s, wanted %s: %s", path,
		      err_code_name(e.code), err_code_name(code), e.msg);
	if (field)
		ck_assert_msg(strcmp(e.field, field) == 0,
			      "%s: field \"%s\", wanted \"%s\": %s", path,
			      e.field, field, e.msg);
	ck_assert_msg(strstr(e.msg, words), "%s: \"%s\" not in: %s", path,
		      words, e.msg);
	import_report_free(&rep);
}

/* The rejection of line for field, or NULL. */
static const json_t *find_reject(const struct import_report *rep, int64_t line,
				 const char *field)
{
	size_t i;
	json_t *o;

	json_array_foreach(rep->errors, i, o)
	{
		const char *f = json_string_value(json_object_get(o, "field"));

		if (json_integer_value(json_object_get(o, "line")) == line &&
		    f && strcmp(f, field) == 0)
			return o;
	}
	return NULL;
}

/* Insist that line was rejected for field, with value (NULL: none) and
 * a reason saying words. */
static void rejected(const struct import_report *rep, int64_t line,
		     const char *field, const char *value, const char *words)
{
	const json_t *o = find_reject(rep, line, field);
	const char *r, *v;
	char *dump;

	if (!o) {
		dump = json_dumps(rep->errors, JSON_INDENT(1));
		ck_abort_msg("no rejection of line %lld, field %s in %s",
			     (long long)line, field, dump ? dump : "?");
	}
	r = json_string_value(json_object_get(o, "reason"));
	v = json_string_value(json_object_get(o, "value"));
	ck_assert_msg(r && strstr(r, words),
		      "line %lld, %s: reason \"%s\" lacks \"%s\"",
		      (long long)line, field, r ? r : "(null)", words);
	if (value)
		ck_assert_msg(v && strcmp(v, value) == 0,
			      "line %lld, %s: value \"%s\", wanted \"%s\"",
			      (long long)line, field, v ? v : "(null)", value);
	else
		ck_assert_msg(!v, "line %lld, %s: value \"%s\", wanted none",
			      (long long)line, field, v);
}

/* Insist that line has no rejection at all. */
static void not_rejected(const struct import_report *rep, int64_t line)
{
	size_t i;
	json_t *o;

	json_array_foreach(rep->errors, i, o)
	{
		ck_assert_msg(json_integer_value(json_object_get(o, "line")) !=
				      line,
			      "line %lld rejected: %s: %s", (long long)line,
			      json_string_value(json_object_get(o, "field")),
			      json_string_value(json_object_get(o, "reason")));
	}
}

/* Record one event through the row path as the system. */
static struct ledger_result record(enum ledger_kind kind, const char *site,
				   int64_t product, const char *lot,
				   const char *expiry, int64_t qty)
{
	struct ledger_event ev = {
		.kind = kind,
		.site_id = scalar1("SELECT id FROM site WHERE code = $1", site),
		.product_id = product,
		.quantity = qty,
		.lot = lot,
		.expiry = expiry,
		.actor = "tester",
	};
	struct ledger_result r;
	struct err e = {0};

	ck_assert_msg(ledger_record(db, &ev, &r, &e) == 0, "%s", e.msg);
	return r;
}

/* ==== the feed through import_execute ==== */

START_TEST(test_good_snapshot_then_a_later_one)
{
	struct identity sys = as_system();
	struct import_report rep;
	char batch[24];

	imported(DATA "good.csv", &sys, "01", 0, "done", &rep);
	ck_assert_int_eq(rep.rows_total, 9);
	ck_assert_int_eq(rep.rows_applied, 9);
	ck_assert_int_eq(rep.rows_rejected, 0);
	ck_assert_int_eq(json_array_size(rep.errors), 0);
	ck_assert_str_eq(rep.region, "01");
	ck_assert_int_gt(rep.batch_id, 0);
	snprintf(batch, sizeof(batch), "%lld", (long long)rep.batch_id);
	import_report_free(&rep);

	/* each way of naming a product, and the counted quantities */
	ck_assert_int_eq(balance("01-KS", p_vnr, "L1"), 100);
	ck_assert_int_eq(balance("01-KS", p_vnr, "L2"), 50);
	ck_assert_int_eq(balance("01-KS", p_dev, ""), 200);
	ck_assert_int_eq(balance("01-CL", p_npl, ""), 0);
	/* line 6 names ART-1 alone: the mapping line 4 made */
	ck_assert_int_eq(balance("01-CL", p_dev, ""), 7);
	ck_assert_int_eq(balance("01-KS", p_amb_npl, ""), 3);
	ck_assert_int_eq(balance("01-KS", p_amb_gtin, ""), 4);
	ck_assert_int_eq(balance("01-CL", p_dev2, ""), 9);
	/* a bare 14-digit key that is only an NPL pack id */
	ck_assert_int_eq(balance("01-KS", p_npl, ""), 11);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_balance"), 9);

	/* one count event per row, carrying the batch and the source */
	ck_assert_int_eq(
		scalar1("SELECT count(*) FROM stock_event"
			" WHERE kind = 'count' AND import_batch_id = $1"
			" AND source = 'import:stock' AND seq = 1"
			" AND delta = quantity"
			" AND balance_after = quantity",
			batch),
		9);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 9);
	ck_assert_str_eq(text1("SELECT concat_ws('|', b.expiry, e.occurred_at"
			       " AT TIME ZONE 'UTC') FROM stock_balance b"
			       " JOIN site s ON s.id = b.site_id"
			       " JOIN stock_event e ON e.id = b.last_event_id"
			       " WHERE s.code = '01-KS' AND b.lot = $1",
			       "L1"),
			 "2027-06-30|2026-10-31 23:00:00");
	ck_assert_str_eq(text1("SELECT e.occurred_at AT TIME ZONE 'UTC'"
			       " FROM stock_balance b JOIN site s"
			       " ON s.id = b.site_id JOIN stock_event e"
			       " ON e.id = b.last_event_id"
			       " WHERE s.code = '01-KS' AND b.lot = $1",
			       "L2"),
			 "2026-11-01 07:00:00");
	ck_assert_str_eq(
		text1("SELECT concat_ws('|', product_id, batch_id)"
		      " FROM region_article WHERE region_code = '01'"
		      " AND article = $1",
		      "ART-1"),
		text1("SELECT $1 || '|' || (SELECT max(id) FROM import_batch)",
		      s_dev));
	ck_assert_str_eq(text1("SELECT concat_ws('|', feed, region_code,"
			       " status, rows_total, rows_applied,"
			       " rows_rejected, forced, errors::text)"
			       " FROM import_batch WHERE id = $1",
			       batch),
			 "stock|01|done|9|9|0|f|[]");
	assert_consistent();

	/* a later snapshot: counts replace, the delta is the difference */
	imported(DATA "good2.csv", &sys, "01", 0, "done", &rep);
	ck_assert_int_eq(rep.rows_applied, 4);
	import_report_free(&rep);
	ck_assert_str_eq(history("01-KS", p_vnr, "L1"),
			 "1:count:100:100 2:count:-10:90");
	ck_assert_str_eq(history("01-KS", p_vnr, "L2"),
			 "1:count:50:50 2:count:0:50");
	/* ART-1 alone now resolves through the stored mapping */
	ck_assert_str_eq(history("01-KS", p_dev, ""),
			 "1:count:200:200 2:count:-50:150");
	ck_assert_str_eq(history("01-CL", p_npl, ""),
			 "1:count:0:0 2:count:25:25");
	/* an empty expiry keeps the lot's date */
	ck_assert_str_eq(text1("SELECT expiry::text FROM stock_balance"
			       " WHERE lot = $1",
			       "L2"),
			 "2027-12-31");
	/* stock the snapshot does not list is left as it was */
	ck_assert_int_eq(balance("01-CL", p_dev2, ""), 9);
	ck_assert_int_eq(balance("01-CL", p_dev, ""), 7);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 13);
	ck_assert_int_eq(scalar("SELECT quantity FROM region_product_stock"
				" WHERE region_code = '01' AND product_id ="
				" (SELECT id FROM product WHERE vnr ="
				" '123456')"),
			 140);
	assert_consistent();
}
END_TEST

START_TEST(test_same_file_twice_is_unchanged_then_forced)
{
	struct identity imp = as_importer("01");
	struct import_report first, again, forced;
	struct ledger_state before, after;
	char id[24], want[64];

	imported(DATA "good.csv", &imp, NULL, 0, "done", &first);
	before = ledger_state();

	imported(DATA "good.csv", &imp, NULL, 0, "unchanged", &again);
	ck_assert_int_eq(again.same_as, first.batch_id);
	ck_assert_int_eq(again.rows_applied, 0);
	ck_assert_str_eq(again.sha256, first.sha256);
	after = ledger_state();
	assert_same_state(&before, &after, "unchanged");
	ck_assert_int_eq(after.batches, before.batches + 1);
	snprintf(id, sizeof(id), "%lld", (long long)again.batch_id);
	snprintf(want, sizeof(want), "unchanged|%lld|import-01",
		 (long long)first.batch_id);
	ck_assert_str_eq(text1("SELECT concat_ws('|', status, same_as,"
			       " recorded_by) FROM import_batch WHERE id = $1",
			       id),
			 want);

	/* --force applies it again: a count event per row, delta 0 */
	imported(DATA "good.csv", &imp, NULL, FORCE, "done", &forced);
	ck_assert_int_eq(forced.rows_applied, 9);
	ck_assert_int_eq(forced.same_as, 0);
	snprintf(id, sizeof(id), "%lld", (long long)forced.batch_id);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM stock_event"
				 " WHERE import_batch_id = $1 AND delta = 0"
				 " AND seq = 2",
				 id),
			 9);
	ck_assert_str_eq(text1("SELECT concat_ws('|', status, forced)"
			       " FROM import_batch WHERE id = $1",
			       id),
			 "done|t");
	after = ledger_state();
	ck_assert_int_eq(after.events, before.events + 9);
	ck_assert_int_eq(after.balances, before.balances);
	ck_assert_int_eq(after.qty_sum, before.qty_sum);
	ck_assert_int_eq(after.articles, before.articles);
	assert_consistent();
	import_report_free(&first);
	import_report_free(&again);
	import_report_free(&forced);
}
END_TEST

START_TEST(test_rejections_found_in_c)
{
	struct identity imp = as_importer("01");
	struct import_report rep;
	struct ledger_state before = ledger_state(), after;
	char id[24];

	imported(DATA "bad_c.csv", &imp, "01", 0, "rejected", &rep);
	rejected(&rep, 3, "site", "bad site!",
		 "only letters A-Z, digits, '.', '_' and '-'");
	rejected(&rep, 4, "product", "7350012345731",
		 "wrong check digit, expected 0");
	rejected(&rep, 5, "product", "12345", "not a Vnr (6 digits)");
	/* neither product nor article */
	rejected(&rep, 6, "product", NULL,
		 "missing: name the product (vnr, gtin or npl pack id) or "
		 "the region's article number");
	rejected(&rep, 7, "article", "ART 1",
		 "only printable ASCII without spaces");
	rejected(&rep, 8, "article",
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		 "must be 1 to 40 characters");
	/* a quoted lot keeps its blanks, and a lot may not begin with one */
	rejected(&rep, 9, "lot", " L1", "must not start or end with a blank");
	rejected(&rep, 10, "lot",
		 "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
		 "LLLL",
		 "longer than 64 characters");
	rejected(&rep, 11, "expiry", "2027-02-30",
		 "no such day, 2027-02 has 28 days");
	rejected(&rep, 12, "expiry", "30/06/2027",
		 "not a date of the form YYYY-MM-DD");
	rejected(&rep, 13, "quantity", NULL, "missing");
	rejected(&rep, 14, "quantity", "-1", "must be at least 0");
	rejected(&rep, 15, "quantity", "1000000000001",
		 "must be at most 1000000000000");
	rejected(&rep, 16, "quantity", "ten", "not a whole number");
	rejected(&rep, 17, "counted_at", NULL, "missing");
	rejected(&rep, 18, "counted_at", "yesterday",
		 "not a date (YYYY-MM-DD) or an RFC 3339 time");
	/* a time without an offset is not RFC 3339 */
	rejected(&rep, 19, "counted_at", "2026-11-01T08:00:00",
		 "not a date (YYYY-MM-DD) or an RFC 3339 time");
	rejected(&rep, 20, "record", NULL,
		 "record has 6 fields, the header has 7");
	rejected(&rep, 21, "record", NULL, "malformed quoting");
	/* lines 22 and 23 are blank: skipped, and still counted */
	not_rejected(&rep, 24);
	rejected(&rep, 25, "product", "gtin:07350012345731",
		 "wrong check digit, expected 0");
	rejected(&rep, 26, "product", "vnr:12345X", "");
	rejected(&rep, 27, "product", "foo:123",
		 "prefix must be vnr:, gtin:, npl: or id:");
	/* two faults on one line: both reported, one record rejected */
	rejected(&rep, 28, "site", "bad site!", "only letters");
	rejected(&rep, 28, "quantity", "-5", "must be at least 0");
	/* a quoted field over two lines: numbered by its first line, and
	 * the line after it by its own */
	rejected(&rep, 29, "lot", "A?B", "only printable ASCII");
	not_rejected(&rep, 30);
	not_rejected(&rep, 31);
	not_rejected(&rep, 2);
	/* 30 lines after the header: 2 blank, 1 inside a quoted field */
	ck_assert_int_eq(rep.rows_total, 27);
	ck_assert_int_eq(rep.rows_rejected, 24);
	ck_assert_int_eq(rep.rows_applied, 0);
	ck_assert_int_eq(json_array_size(rep.errors), 25);

	/* all or nothing: the good lines 2, 24 and 31 were not applied */
	after = ledger_state();
	assert_same_state(&before, &after, "rejected");
	ck_assert_int_eq(after.batches, before.batches + 1);
	snprintf(id, sizeof(id), "%lld", (long long)rep.batch_id);
	ck_assert_str_eq(
		text1("SELECT concat_ws('|', status, rows_total,"
		      " rows_applied, rows_rejected,"
		      " jsonb_array_length(errors),"
		      " errors->2->>'reason')"
		      " FROM import_batch WHERE id = $1",
		      id),
		"rejected|27|0|24|25|not a Vnr (6 digits), GTIN (8, 12, 13 "
		"or 14 digits) or NPL pack id (14 digits); use a prefix "
		"such as id:");
	import_report_free(&rep);

	/* --partial applies the three good lines */
	imported(DATA "bad_c.csv", &imp, "01", PARTIAL, "partial", &rep);
	ck_assert_int_eq(rep.rows_applied, 3);
	ck_assert_int_eq(rep.rows_rejected, 24);
	import_report_free(&rep);
	ck_assert_int_eq(balance("01-KS", p_vnr, ""), 10);
	ck_assert_int_eq(balance("01-KS", p_npl, ""), 10);
	ck_assert_int_eq(balance("01-CL", p_vnr, ""), 5);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 3);
	assert_consistent();
}
END_TEST

/* Insist that path was rejected as a whole: one rejection, of line 0,
 * for field, saying words; and a batch row that says so. */
static void file_rejected(const char *path, const char *field,
			  const char *words)
{
	struct identity sys = as_system();
	struct import_report rep;
	char id[24];

	imported(path, &sys, "01", 0, "rejected", &rep);
	ck_assert_int_eq(rep.rows_applied, 0);
	ck_assert_int_ge(rep.rows_rejected, 1);
	ck_assert_int_eq(json_array_size(rep.errors), 1);
	rejected(&rep, 0, field, NULL, words);
	snprintf(id, sizeof(id), "%lld", (long long)rep.batch_id);
	ck_assert_str_eq(text1("SELECT concat_ws('|', status, rows_applied,"
			       " errors->0->>'field') FROM import_batch"
			       " WHERE id = $1",
			       id),
			 "rejected|0|header");
	import_report_free(&rep);
}

START_TEST(test_header_faults_stop_the_whole_import)
{
	struct identity sys = as_system();
	struct import_report rep;
	struct ledger_state before = ledger_state(), after;

	file_rejected(DATA "hdr_unknown.csv", "header",
		      "line 1: unknown column \"colour\"");
	file_rejected(DATA "hdr_missing.csv", "header",
		      "line 1: required column \"quantity\" is missing");
	file_rejected(DATA "hdr_twice.csv", "header",
		      "column \"qty\" appears twice");
	file_rejected(DATA "empty.csv", "header",
		      "is empty: a header line is required");
	file_rejected(DATA "blank.csv", "header", "has no header line");
	/* nothing of those files was applied; each left a batch row */
	after = ledger_state();
	assert_same_state(&before, &after, "header faults");
	ck_assert_int_eq(after.batches, before.batches + 5);

	/* a source that is not there, or not a file, is no verdict */
	refused(DATA "no-such-file.csv", &sys, "01", ERR_INVALID, "source",
		"No such file or directory");
	refused(DATA, &sys, "01", ERR_INVALID, "source",
		"is a directory; the stock feed reads one file");
	ck_assert_int_eq(ledger_state().batches, before.batches + 5);

	/* a dry run of a headless file records nothing */
	imported(DATA "hdr_missing.csv", &sys, "01", DRY_RUN, "rejected", &rep);
	ck_assert_int_eq(rep.batch_id, 0);
	import_report_free(&rep);
	ck_assert_int_eq(ledger_state().batches, before.batches + 5);

	/* a header and nothing else is an empty snapshot */
	imported(DATA "header_only.csv", &sys, "01", 0, "done", &rep);
	ck_assert_int_eq(rep.rows_total, 0);
	ck_assert_int_eq(rep.rows_applied, 0);
	import_report_free(&rep);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 0);
}
END_TEST

START_TEST(test_delimiters_encodings_and_aliases)
{
	struct identity sys = as_system();
	struct import_report rep;

	/* aliases in any case and order, ';' with blanks around, CRLF */
	imported(DATA "aliases.csv", &sys, "01", 0, "done", &rep);
	ck_assert_int_eq(rep.rows_applied, 2);
	import_report_free(&rep);
	ck_assert_int_eq(balance("01-KS", p_vnr, "L1"), 5);
	ck_assert_str_eq(text1("SELECT expiry::text FROM stock_balance"
			       " WHERE lot = $1",
			       "L1"),
			 "2027-06-30");
	ck_assert_int_eq(balance("01-CL", p_dev, ""), 6);

	/* a UTF-8 byte-order mark before the header, ';', a quoted field */
	imported(DATA "bom_semicolon.csv", &sys, "01", 0, "done", &rep);
	ck_assert_int_eq(rep.rows_applied, 2);
	import_report_free(&rep);
	ck_assert_int_eq(balance("01-KS", p_vnr, ""), 12);
	ck_assert_int_eq(balance("01-CL", p_dev, ""), 13);

	/* tabs, and an empty lot between two of them */
	imported(DATA "tab.csv", &sys, "01", 0, "done", &rep);
	ck_assert_int_eq(rep.rows_applied, 2);
	import_report_free(&rep);
	ck_assert_int_eq(balance("01-KS", p_vnr, "L1"), 14);
	ck_assert_int_eq(balance("01-CL", p_npl, ""), 15);

	/* Windows-1252: read as such, and a rejected value is quoted in
	 * UTF-8 (a lot is ASCII, so "BÄ1" is refused) */
	imported(DATA "cp1252.csv", &sys, "01", PARTIAL, "partial", &rep);
	ck_assert_int_eq(rep.rows_applied, 2);
	rejected(&rep, 3, "lot",
		 "B\xc3\x84"
		 "1",
		 "only printable ASCII characters are allowed");
	import_report_free(&rep);
	ck_assert_int_eq(balance("01-KS", p_vnr, "L1"), 16);
	ck_assert_int_eq(balance("01-CL", p_npl, ""), 18);

	/* Lines ended by a lone CR (an old Mac export), a blank one, then
	 * CRLF: each record has its own line, as libcsv ends it. */
	imported(DATA "cr_only.csv", &sys, "01", PARTIAL, "partial", &rep);
	ck_assert_int_eq(rep.rows_applied, 2);
	ck_assert_int_eq(rep.rows_rejected, 2);
	rejected(&rep, 3, "quantity", "-4", "must be at least 0");
	rejected(&rep, 6, "quantity", "-5", "must be at least 0");
	import_report_free(&rep);
	ck_assert_int_eq(balance("01-KS", p_vnr, "C1"), 21);
	ck_assert_int_eq(balance("01-KS", p_vnr, "C3"), 23);
	assert_consistent();
}
END_TEST

/*
 * A header of 17 fields of 4,096 bytes is longer than a record may be:
 * refused by its length, before its fields outgrow the record's buffer
 * (they used to, by some 4 kB, in one piece fed to libcsv).
 */
START_TEST(test_overlong_header_is_refused)
{
	char path[] = "/tmp/lb-csv-header.XXXXXX";
	FILE *f;
	int fd = mkstemp(path);

	ck_assert_msg(fd >= 0 && (f = fdopen(fd, "w")) != NULL, "temp file");
	for (int i = 0; i < 17; i++) {
		for (int j = 0; j < 4096; j++)
			fputc('a' + i % 26, f);
		fputc(i < 16 ? ',' : '\n', f);
	}
	fputs("01-KS,123456,,L1,2027-06-30,1,2026-11-01\n", f);
	ck_assert_int_eq(fclose(f), 0);
	file_rejected(path, "header", "record is longer than 65536 bytes");
	unlink(path);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 0);
}
END_TEST

START_TEST(test_rejections_found_by_the_database)
{
	struct identity imp = as_importer("01");
	struct import_report rep;
	struct ledger_state before, after;
	char id[24], want[160];

	/* lot L5 at 01-CL already has an expiry date */
	record(LEDGER_RECEIPT, "01-CL", p_vnr, "L5", "2027-01-01", 3);
	before = ledger_state();

	imported(DATA "bad_sql.csv", &imp, NULL, 0, "rejected", &rep);
	not_rejected(&rep, 2);
	rejected(&rep, 3, "site", "01-XX", "no such site");
	rejected(&rep, 4, "site", "12-SUS", "belongs to region 12, not 01");
	rejected(&rep, 5, "site", "01-OLD", "the site is inactive");
	rejected(&rep, 6, "product", "999999",
		 "no such product in the catalog");
	rejected(&rep, 7, "product", "17350012345683",
		 "matches an NPL pack id and a GTIN of different products; "
		 "write npl:17350012345683 or gtin:17350012345683");
	rejected(&rep, 8, "article", "NOPE-1",
		 "region 01 has no mapping for this article number; name the "
		 "product beside it once");
	snprintf(want, sizeof(want), "is mapped to product %s, not %s", s_dev,
		 s_dev2);
	rejected(&rep, 9, "article", "ART-77", want);
	not_rejected(&rep, 10);
	snprintf(want, sizeof(want),
		 "line 10 maps it to product %s, this "
		 "line to %s",
		 s_vnr, s_npl);
	rejected(&rep, 11, "article", "NEW-1", want);
	rejected(&rep, 12, "counted_at", "2099-01-01", "is in the future");
	rejected(&rep, 13, "product", "123456",
		 "duplicate of line 2: site 01-KS, lot L1 is counted twice");
	rejected(&rep, 14, "expiry", "2028-01-01",
		 "lot L5 has expiry 2027-01-01");
	not_rejected(&rep, 15);
	/* the same product through its article and through its GTIN */
	rejected(&rep, 16, "product", "07350012345730",
		 "duplicate of line 15: site 01-CL, lot (none) is counted "
		 "twice");
	ck_assert_int_eq(rep.rows_total, 15);
	ck_assert_int_eq(rep.rows_rejected, 12);
	ck_assert_int_eq(json_array_size(rep.errors), 12);

	/* nothing written: no events, balances or mappings; a batch row */
	after = ledger_state();
	assert_same_state(&before, &after, "rejected");
	ck_assert_int_eq(scalar("SELECT count(*) FROM region_article"
				" WHERE article = 'NEW-1'"),
			 0);
	snprintf(id, sizeof(id), "%lld", (long long)rep.batch_id);
	ck_assert_str_eq(text1("SELECT concat_ws('|', status, region_code,"
			       " rows_total, rows_rejected, recorded_by,"
			       " errors->0->>'line', errors->0->>'reason')"
			       " FROM import_batch WHERE id = $1",
			       id),
			 "rejected|01|15|12|import-01|3|no such site");
	import_report_free(&rep);

	/* --partial: lines 2, 10 and 15 are applied, NEW-1 is mapped */
	imported(DATA "bad_sql.csv", &imp, NULL, PARTIAL, "partial", &rep);
	ck_assert_int_eq(rep.rows_applied, 3);
	ck_assert_int_eq(rep.rows_rejected, 12);
	snprintf(id, sizeof(id), "%lld", (long long)rep.batch_id);
	import_report_free(&rep);
	ck_assert_int_eq(balance("01-KS", p_vnr, "L1"), 10);
	ck_assert_int_eq(balance("01-KS", p_vnr, "L9"), 10);
	ck_assert_int_eq(balance("01-CL", p_dev, ""), 5);
	ck_assert_int_eq(balance("01-CL", p_vnr, "L5"), 3);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 4);
	ck_assert_str_eq(text1("SELECT concat_ws('|', product_id, batch_id)"
			       " FROM region_article WHERE article = $1",
			       "NEW-1"),
			 text1("SELECT $1 || '|' || (SELECT max(id)"
			       " FROM import_batch)",
			       s_vnr));
	ck_assert_str_eq(text1("SELECT concat_ws('|', status, rows_applied)"
			       " FROM import_batch WHERE id = $1",
			       id),
			 "partial|3");
	assert_consistent();
}
END_TEST

START_TEST(test_dry_run_reports_and_writes_nothing)
{
	struct identity sys = as_system();
	struct import_report rep, real;
	struct ledger_state before = ledger_state(), after;
	char *a, *b;

	imported(DATA "good.csv", &sys, "01", DRY_RUN, "done", &rep);
	ck_assert(rep.dry_run);
	ck_assert_int_eq(rep.batch_id, 0);
	ck_assert_int_eq(rep.rows_total, 9);
	ck_assert_int_eq(rep.rows_applied, 9);
	import_report_free(&rep);
	after = ledger_state();
	assert_same_state(&before, &after, "dry run");
	ck_assert_int_eq(after.batches, before.batches);

	/* a dry run of a bad file says what a real run would */
	imported(DATA "bad_sql.csv", &sys, "01", DRY_RUN, "rejected", &rep);
	imported(DATA "bad_sql.csv", &sys, "01", 0, "rejected", &real);
	a = json_dumps(rep.errors, JSON_SORT_KEYS);
	b = json_dumps(real.errors, JSON_SORT_KEYS);
	ck_assert_str_eq(a, b);
	ck_assert_int_eq(rep.rows_rejected, real.rows_rejected);
	free(a);
	free(b);
	import_report_free(&rep);
	import_report_free(&real);
	after = ledger_state();
	ck_assert_int_eq(after.batches, before.batches + 1); /* the real one */

	/* and a dry run of a partial import does not map articles */
	imported(DATA "bad_sql.csv", &sys, "01", DRY_RUN | PARTIAL, "partial",
		 &rep);
	/* 2, 10, 15, and 14: no balance of lot L5 to conflict with here */
	ck_assert_int_eq(rep.rows_applied, 4);
	ck_assert_int_eq(rep.rows_rejected, 11);
	import_report_free(&rep);
	after = ledger_state();
	assert_same_state(&before, &after, "dry partial");
	ck_assert_int_eq(after.batches, before.batches + 1);
}
END_TEST

START_TEST(test_article_mappings)
{
	struct identity imp = as_importer("01");
	struct import_report rep;

	/* good.csv maps ART-1 (line 4) and uses it at once (line 6) */
	imported(DATA "good.csv", &imp, NULL, 0, "done", &rep);
	import_report_free(&rep);
	ck_assert_int_eq(scalar1("SELECT product_id FROM region_article"
				 " WHERE region_code = '01' AND article = $1",
				 "ART-1"),
			 p_dev);

	/* a later file names the article alone */
	imported(scratch("later.csv", "site,article,quantity,counted_at\n"
				      "01-CL,ART-1,33,2026-11-03\n"),
		 &imp, NULL, 0, "done", &rep);
	import_report_free(&rep);
	ck_assert_int_eq(balance("01-CL", p_dev, ""), 33);

	/* naming both again, consistently, is fine and maps nothing new */
	imported(scratch("again.csv", "site,product,article,quantity,"
				      "counted_at\n"
				      "01-CL,gtin:07350012345730,ART-1,34,"
				      "2026-11-03\n"),
		 &imp, NULL, 0, "done", &rep);
	import_report_free(&rep);
	ck_assert_int_eq(balance("01-CL", p_dev, ""), 34);

	/* a snapshot never moves a mapping */
	imported(scratch("move.csv", "site,product,article,quantity,"
				     "counted_at\n"
				     "01-CL,gtin:07350012345747,ART-1,35,"
				     "2026-11-03\n"),
		 &imp, NULL, 0, "rejected", &rep);
	rejected(&rep, 2, "article", "ART-1", "is mapped to product");
	import_report_free(&rep);
	ck_assert_int_eq(scalar1("SELECT product_id FROM region_article"
				 " WHERE region_code = '01' AND article = $1",
				 "ART-1"),
			 p_dev);
	ck_assert_int_eq(scalar("SELECT count(*) FROM region_article"), 2);

	/* mappings are per region: region 12 has no ART-1 */
	{
		struct identity sys = as_system();

		imported(scratch("r12.csv", "site,article,quantity,"
					    "counted_at\n"
					    "12-SUS,ART-1,1,2026-11-03\n"),
			 &sys, "12", 0, "rejected", &rep);
		rejected(&rep, 2, "article", "ART-1",
			 "region 12 has no mapping");
		import_report_free(&rep);
	}
}
END_TEST

START_TEST(test_region_scoping)
{
	struct identity imp01 = as_importer("01"), imp12 = as_importer("12");
	struct identity nat = as_importer(""), sys = as_system();
	struct import_report rep;
	struct ledger_state before = ledger_state(), after;

	imported(DATA "region12.csv", &imp01, NULL, 0, "rejected", &rep);
	rejected(&rep, 2, "site", "12-SUS", "belongs to region 12, not 01");
	import_report_free(&rep);
	refused(DATA "region12.csv", &imp01, "12", ERR_FORBIDDEN, "region",
		"may not import stock for region 12");
	refused(DATA "region12.csv", &nat, NULL, ERR_INVALID, "region",
		"stock is a regional feed: name the region");
	refused(DATA "region12.csv", &nat, "12", ERR_FORBIDDEN, "region",
		"may not import stock for region 12");
	refused(DATA "region12.csv", &sys, NULL, ERR_INVALID, "region",
		"stock is a regional feed: name the region");
	refused(DATA "region12.csv", &sys, "1", ERR_INVALID, "region", "");
	after = ledger_state();
	assert_same_state(&before, &after, "refused");
	ck_assert_int_eq(after.batches, before.batches + 1);

	/* its own importer, and the system naming the region */
	imported(DATA "region12.csv", &imp12, NULL, 0, "done", &rep);
	import_report_free(&rep);
	ck_assert_int_eq(balance("12-SUS", p_vnr, ""), 8);
	ck_assert_str_eq(text1("SELECT concat_ws('|', region_code,"
			       " recorded_by) FROM stock_event WHERE"
			       " site_id = (SELECT id FROM site WHERE code ="
			       " $1)",
			       "12-SUS"),
			 "12|import-12");
	imported(DATA "good.csv", &sys, "01", 0, "done", &rep);
	import_report_free(&rep);
	/* the file of region 12 is a different import for region 01 */
	imported(DATA "region12.csv", &sys, "12", 0, "unchanged", &rep);
	import_report_free(&rep);
	imported(DATA "region12.csv", &sys, "01", 0, "rejected", &rep);
	import_report_free(&rep);
	assert_consistent();
}
END_TEST

/*
 * A row that names an article alone may use the mapping an earlier row of
 * the same file makes.  When that earlier row is rejected by the database
 * (here: no such site), --partial must not apply the later row through a
 * mapping it then does not store: either both or neither.
 */
START_TEST(test_mapping_from_a_rejected_row)
{
	struct identity imp = as_importer("01");
	struct import_report rep;
	bool later_rejected;
	int64_t mapped;

	imported(scratch("m.csv", "site,product,article,quantity,counted_at\n"
				  "01-XX,gtin:07350012345747,NEW-9,1,"
				  "2026-11-03\n"
				  "01-KS,,NEW-9,5,2026-11-03\n"),
		 &imp, NULL, PARTIAL, "partial", &rep);
	rejected(&rep, 2, "site", "01-XX", "no such site");
	later_rejected = find_reject(&rep, 3, "article") != NULL;
	import_report_free(&rep);
	mapped = scalar("SELECT count(*) FROM region_article"
			" WHERE article = 'NEW-9'");
	ck_assert_msg(later_rejected == (mapped == 0), "line 3 %s, NEW-9 %s",
		      later_rejected ? "rejected" : "applied",
		      mapped ? "mapped" : "not mapped");
	ck_assert_int_eq(balance("01-KS", p_dev2, ""), later_rejected ? -1 : 5);
}
END_TEST

/* The bulk path (a snapshot) and the row path (ledger_record) keep one
 * sequence per balance and agree on what the balance is. */
START_TEST(test_row_path_and_bulk_path_agree)
{
	struct identity sys = as_system();
	struct import_report rep;
	struct ledger_result r;

	r = record(LEDGER_RECEIPT, "01-KS", p_vnr, "L7", "2027-05-01", 10);
	ck_assert_int_eq(r.balance_after, 10);
	imported(scratch("l7.csv", "site,product,lot,expiry,quantity,"
				   "counted_at\n"
				   "01-KS,123456,L7,,25,2026-11-02\n"
				   "01-CL,123456,L7,2027-05-01,4,2026-11-02\n"),
		 &sys, "01", 0, "done", &rep);
	import_report_free(&rep);
	r = record(LEDGER_ISSUE, "01-KS", p_vnr, "L7", NULL, 5);
	ck_assert_int_eq(r.delta, -5);
	ck_assert_int_eq(r.balance_after, 20);
	r = record(LEDGER_RECEIPT, "01-CL", p_vnr, "L7", NULL, 1);
	ck_assert_int_eq(r.balance_after, 5);
	ck_assert_str_eq(history("01-KS", p_vnr, "L7"),
			 "1:receipt:10:10 2:count:15:25 3:issue:-5:20");
	ck_assert_str_eq(history("01-CL", p_vnr, "L7"),
			 "1:count:4:4 2:receipt:1:5");
	ck_assert_int_eq(balance("01-KS", p_vnr, "L7"), 20);
	ck_assert_str_eq(text1("SELECT string_agg(expiry::text, ',' ORDER BY"
			       " site_id) FROM stock_balance WHERE lot = $1",
			       "L7"),
			 "2027-05-01,2027-05-01");
	/* last_event_id is the last event, whichever path wrote it */
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_balance b"
				" JOIN stock_event e ON e.id = b.last_event_id"
				" WHERE e.seq <> b.seq"
				" OR e.balance_after <> b.quantity"),
			 0);
	ck_assert_int_eq(scalar("SELECT quantity FROM region_product_stock"
				" WHERE region_code = '01'"),
			 25);
	/* a count through the row path after the bulk one */
	r = record(LEDGER_COUNT, "01-KS", p_vnr, "L7", NULL, 18);
	ck_assert_int_eq(r.delta, -2);
	ck_assert_str_eq(history("01-KS", p_vnr, "L7"),
			 "1:receipt:10:10 2:count:15:25 3:issue:-5:20 "
			 "4:count:-2:18");
	{
		struct verify_totals t;
		struct err e = {0};

		ck_assert_msg(verify_run(db, report_verify, NULL, &t, &e) == 0,
			      "%s", e.msg);
		ck_assert_int_eq(t.drifts, 0);
		ck_assert_int_eq(t.events, 6);
	}
	assert_consistent();
}
END_TEST

/*
 * A value that itself holds ": " must not cut the reason: the validator
 * says `quantity "10: 5": not a whole number`, and the frame strips the
 * field and value at the first ": " (importers/import.c,
 * import_reject_err), which lies inside the value.
 */
START_TEST(test_reason_of_a_value_with_a_colon)
{
	struct identity sys = as_system();
	struct import_report rep;

	imported(DATA "colon_in_value.csv", &sys, "01", 0, "rejected", &rep);
	rejected(&rep, 2, "quantity", "10: 5", "not a whole number");
	ck_assert_str_eq(json_string_value(json_object_get(
				 find_reject(&rep, 2, "quantity"), "reason")),
			 "not a whole number");
	ck_assert_str_eq(json_string_value(json_object_get(
				 find_reject(&rep, 3, "site"), "reason")),
			 "only letters A-Z, digits, '.', '_' and '-' are "
			 "allowed");
	import_report_free(&rep);
}
END_TEST

/* ==== the binary ==== */

/* What one run of the binary did. */
static struct {
	int code; /* exit status, or 128 + the signal */
	char cmd[512];
	char *out, *err;
} run;

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The child's environment: ours, with DATABASE_URL set to this test's
 * database, without a log level, and with set ("NAME=value", NULL-ended,
 * may be NULL) overriding.  The caller frees the array only. */
static char **child_env(const char *const *set)
{
	static char dburl[256];
	size_t n = 0, k = 0, m = 0;
	char **env;

	while (environ[n])
		n++;
	while (set && set[m])
		m++;
	env = calloc(n + m + 2, sizeof(*env));
	ck_assert(env != NULL);
	snprintf(dburl, sizeof(dburl), "DATABASE_URL=%s", conninfo);
	for (size_t i = 0; i < n; i++) {
		bool skip =
			strncmp(environ[i], "DATABASE_URL=", 13) == 0 ||
			strncmp(environ[i], "LAGERBILD_LOG_LEVEL=", 20) == 0;

		for (size_t j = 0; j < m && !skip; j++) {
			size_t eq = strcspn(set[j], "=") + 1;

			skip = strncmp(environ[i], set[j], eq) == 0;
		}
		if (!skip)
			env[k++] = environ[i];
	}
	env[k++] = dburl;
	for (size_t j = 0; j < m; j++) {
		if (strncmp(set[j], "DATABASE_URL=", 13) == 0)
			snprintf(dburl, sizeof(dburl), "%s", set[j]);
		else
			env[k++] = (char *)set[j];
	}
	env[k] = NULL;
	return env;
}

/* Start the binary with args, standard input from in (NULL: /dev/null),
 * output to files in the scratch directory. */
static pid_t spawn(const char *in, const char *const *set,
		   const char *const *args)
{
	const char *bin = getenv("LAGERBILD_BIN");
	char *argv[32], out[128], err[128];
	char **envp;
	size_t n, len;
	pid_t pid;

	ck_assert_msg(bin && bin[0], "LAGERBILD_BIN is not set");
	argv[0] = (char *)bin;
	len = (size_t)snprintf(run.cmd, sizeof(run.cmd), "lagerbild");
	for (n = 0; args[n]; n++) {
		ck_assert(n + 2 < sizeof(argv) / sizeof(argv[0]));
		argv[n + 1] = (char *)args[n];
		if (len < sizeof(run.cmd))
			len += (size_t)snprintf(run.cmd + len,
						sizeof(run.cmd) - len, " %s",
						args[n]);
	}
	argv[n + 1] = NULL;
	snprintf(out, sizeof(out), "%s/stdout", tmp);
	snprintf(err, sizeof(err), "%s/stderr", tmp);
	envp = child_env(set);
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int i = open(in ? in : "/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (i < 0 || o < 0 || e < 0 || dup2(i, 0) < 0 ||
		    dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execve(bin, argv, envp);
		_exit(127);
	}
	free(envp);
	return pid;
}

/* Wait for pid (at most RUN_TIMEOUT_S) and collect what it printed. */
static void collect(pid_t pid)
{
	int64_t deadline = now_ms() + RUN_TIMEOUT_S * 1000;
	char path[128];
	int status;
	pid_t w;

	while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
		pause_ms(10);
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ck_abort_msg("%s: still running after %d s; killed", run.cmd,
			     RUN_TIMEOUT_S);
	}
	ck_assert_msg(w == pid, "waitpid: %s", strerror(errno));
	run.code = WIFEXITED(status)   ? WEXITSTATUS(status) :
		   WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
					 -1;
	free(run.out);
	free(run.err);
	snprintf(path, sizeof(path), "%s/stdout", tmp);
	run.out = slurp(path, NULL);
	snprintf(path, sizeof(path), "%s/stderr", tmp);
	run.err = slurp(path, NULL);
}

static void cli(const char *in, const char *const *set, const char *const *args)
{
	collect(spawn(in, set, args));
}

/* Insist on the exit status and on words in stdout and stderr (NULL: do
 * not look; "": must be empty). */
static void expect(int code, const char *out, const char *err)
{
	ck_assert_msg(run.code == code,
		      "%s: exit %d, wanted %d\nstdout: %s\n"
		      "stderr: %s",
		      run.cmd, run.code, code, run.out, run.err);
	if (out && !out[0])
		ck_assert_msg(!run.out[0], "%s: stdout not empty: %s", run.cmd,
			      run.out);
	else if (out)
		ck_assert_msg(strstr(run.out, out),
			      "%s: \"%s\" not in stdout: %s", run.cmd, out,
			      run.out);
	if (err && !err[0])
		ck_assert_msg(!run.err[0], "%s: stderr not empty: %s", run.cmd,
			      run.err);
	else if (err)
		ck_assert_msg(strstr(run.err, err),
			      "%s: \"%s\" not in stderr: %s", run.cmd, err,
			      run.err);
}

static void cli_teardown(void)
{
	free(run.out);
	free(run.err);
	run.out = run.err = NULL;
	teardown();
}

START_TEST(test_cli_exit_codes)
{
	struct ledger_state before, after;

	/* 0: done, then unchanged */
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "good.csv", "--region", "01"));
	expect(0, "stock 01: done: 9 records, 9 applied, 0 rejected (batch ",
	       "");
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 9);
	ck_assert_str_eq(text1("SELECT concat_ws('|', source, recorded_by)"
			       " FROM import_batch WHERE status = $1",
			       "done"),
			 DATA "good.csv|test");
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "good.csv", "--region", "01"));
	expect(0, "stock 01: unchanged: ", "");
	ck_assert_msg(strstr(run.out, "(same content as batch "), "%s",
		      run.out);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 9);
	before = ledger_state();

	/* 1: rows rejected, each on stderr as "line N: field value: reason" */
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "bad_sql.csv", "--region", "01"));
	expect(1, "stock 01: rejected: 15 records, 0 applied, 11 rejected",
	       "line 3: site 01-XX: no such site\n");
	expect(1, NULL, "line 4: site 12-SUS: belongs to region 12, not 01\n");
	expect(1, NULL,
	       "line 13: product 123456: duplicate of line 2: site 01-KS, "
	       "lot L1 is counted twice\n");
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "bad_c.csv", "--region", "01"));
	expect(1, "rejected",
	       "line 4: product 7350012345731: wrong check "
	       "digit, expected 0\n");
	expect(1, NULL, "line 13: quantity: missing\n");
	expect(1, NULL,
	       "line 20: record: record has 6 fields, the header "
	       "has 7\n");
	/* a header fault fails the whole import */
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "hdr_missing.csv", "--region", "01"));
	expect(1, "stock 01: rejected: 0 records, 0 applied, 1 rejected",
	       "required column \"quantity\" is missing");
	after = ledger_state();
	assert_same_state(&before, &after, "exit 1");
	ck_assert_int_eq(after.batches, before.batches + 3);

	/* 2: usage */
	cli(NULL, NULL, ARGS("import", "nosuch", DATA "good.csv"));
	expect(2, "", "unknown feed \\\"nosuch\\\"");
	cli(NULL, NULL, ARGS("import", "stock"));
	expect(2, "", "need FEED and SOURCE");
	cli(NULL, NULL, ARGS("import"));
	expect(2, "", "need FEED and SOURCE");
	cli(NULL, NULL, ARGS("import", "stock", DATA "good.csv", "--bogus"));
	expect(2, "", NULL);
	cli(NULL, NULL,
	    ARGS("import", "products", DATA "good.csv", "--region", "01"));
	expect(2, "", "products is a national feed: it takes no region");
	cli(NULL, NULL, ARGS("import", "stock", DATA "good2.csv"));
	expect(2, "", "stock is a regional feed: name the region");
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "good2.csv", "--region", "99"));
	expect(2, "", "region");

	/* 3: the source cannot be had */
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "no-such.csv", "--region", "01"));
	expect(3, "", "no-such.csv: No such file or directory");
	after = ledger_state();
	assert_same_state(&before, &after, "exit 2 and 3");
	ck_assert_int_eq(after.batches, before.batches + 3);
}
END_TEST

START_TEST(test_cli_stdin_json_and_dry_run)
{
	struct ledger_state before = ledger_state(), after;
	json_error_t je;
	json_t *o;

	/* --dry-run: the report, and no trace */
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "good.csv", "--region", "01",
		 "--dry-run"));
	expect(0,
	       "stock 01: dry run, would be done: 9 records, 9 applied, "
	       "0 rejected\n",
	       "");
	after = ledger_state();
	assert_same_state(&before, &after, "dry run");
	ck_assert_int_eq(after.batches, before.batches);

	/* --dry-run --json of a bad file: exit 1, the errors, no trace */
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "bad_sql.csv", "--region", "01",
		 "--dry-run", "--json"));
	expect(1, NULL, "line 3: site 01-XX: no such site");
	o = json_loads(run.out, 0, &je);
	ck_assert_msg(o != NULL, "not JSON (%s): %s", je.text, run.out);
	ck_assert_str_eq(json_string_value(json_object_get(o, "status")),
			 "rejected");
	ck_assert(json_is_true(json_object_get(o, "dry_run")));
	ck_assert(json_is_null(json_object_get(o, "batch_id")));
	ck_assert_int_eq(json_array_size(json_object_get(o, "errors")), 11);
	json_decref(o);
	after = ledger_state();
	assert_same_state(&before, &after, "dry run json");
	ck_assert_int_eq(after.batches, before.batches);

	/* "-": standard input, with a JSON report */
	cli(DATA "good.csv", NULL,
	    ARGS("import", "stock", "-", "--region", "01", "--json"));
	expect(0, NULL, "");
	o = json_loads(run.out, 0, &je);
	ck_assert_msg(o != NULL, "not JSON (%s): %s", je.text, run.out);
	ck_assert_str_eq(json_string_value(json_object_get(o, "feed")),
			 "stock");
	ck_assert_str_eq(json_string_value(json_object_get(o, "region")), "01");
	ck_assert_str_eq(json_string_value(json_object_get(o, "status")),
			 "done");
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(o, "rows"), "total")),
			 9);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(o, "rows"), "applied")),
			 9);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(o, "rows"), "rejected")),
			 0);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "bytes")),
			 scalar("SELECT bytes FROM import_batch"));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "batch_id")),
			 scalar("SELECT id FROM import_batch"));
	ck_assert_int_eq(json_array_size(json_object_get(o, "errors")), 0);
	json_decref(o);
	ck_assert_str_eq(text1("SELECT source FROM import_batch WHERE"
			       " status = $1",
			       "done"),
			 "-");
	ck_assert_int_eq(balance("01-CL", p_dev, ""), 7);
	/* the same bytes from a file are the same content */
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "good.csv", "--region", "01"));
	expect(0, "unchanged", "");
	/* the spool file is gone */
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 9);
	assert_consistent();
}
END_TEST

/* A URL nobody answers: exit 3 after fetch's retries (a few seconds). */
START_TEST(test_cli_unreachable_url)
{
	cli(NULL, NULL,
	    ARGS("import", "stock", "http://127.0.0.1:1/x.csv", "--region",
		 "01"));
	expect(3, "", "http://127.0.0.1:1/x.csv");
	ck_assert_int_eq(scalar("SELECT count(*) FROM import_batch"), 0);
	/* a URL fetch would never take is usage */
	cli(NULL, NULL,
	    ARGS("import", "stock", "http://example.invalid/x.csv", "--region",
		 "01"));
	expect(2, "", "only https:// URLs are accepted");
}
END_TEST

/* ==== crash safety ==== */

/* The crash test's snapshot: site C-sss x product vnr 5ppppp, quantity
 * (31 s + 17 p) % 997. */
static const char *big_snapshot(void)
{
	static char path[128];
	FILE *f;

	exec_owner("INSERT INTO site (region_code, code, name, kind,"
		   " host_region_code) SELECT '01', 'C-' || lpad(s::text, 3,"
		   " '0'), 'Crash ' || s, 'hospital', '01'"
		   " FROM generate_series(1, " XSTR(CRASH_SITES) ") s");
	exec_owner("INSERT INTO product (category, name, vnr)"
		   " SELECT 'medicine', 'Crash ' || p, (500000 + p)::text"
		   " FROM generate_series(1, " XSTR(CRASH_PRODUCTS) ") p");
	snprintf(path, sizeof(path), "%s/big.csv", tmp);
	f = fopen(path, "wb");
	ck_assert(f != NULL);
	fputs("site,product,lot,quantity,counted_at\n", f);
	for (int s = 1; s <= CRASH_SITES; s++)
		for (int p = 1; p <= CRASH_PRODUCTS; p++)
			fprintf(f, "C-%03d,%d,,%d,2026-11-01\n", s, 500000 + p,
				(31 * s + 17 * p) % 997);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* Backends of this test's database that are not the test's own ($1:
 * "{pid,pid,...}"), and the states of the import's backend waited for. */
#define OTHERS                                               \
	"SELECT coalesce(max(pid), 0) FROM pg_stat_activity" \
	" WHERE datname = current_database() AND pid <> ALL ($1::int[])"
static const char any_backend[] = OTHERS;
/* streaming rows into COPY, or, should the poll miss that, checking them */
static const char in_copy[] =
	OTHERS " AND xact_start IS NOT NULL AND (query LIKE 'COPY stage_stock%'"
	       " OR query LIKE '%stock_resolved%')";
static const char blocked_in_apply[] = OTHERS
	" AND wait_event_type = 'Lock' AND query LIKE '%ledger_apply_counts%'";
/* ...having written: its transaction has an id */
static const char wrote_in_apply[] = OTHERS
	" AND backend_xid IS NOT NULL AND query LIKE '%ledger_apply_counts%'";

/* The pid of a backend that sql finds, or 0. */
static int64_t backend(const char *sql, const char *ours)
{
	return scalar1(sql, ours);
}

/* Wait until sql finds the child's backend; fail if the child ends first
 * or the deadline passes. */
static void wait_for_backend(pid_t child, const char *sql, const char *ours)
{
	int64_t deadline = now_ms() + RUN_TIMEOUT_S * 1000;
	int status;

	while (backend(sql, ours) == 0) {
		pid_t w = waitpid(child, &status, WNOHANG);

		if (w == child) {
			char path[128];
			char *err;

			snprintf(path, sizeof(path), "%s/stderr", tmp);
			err = slurp(path, NULL);
			ck_abort_msg("the import ended (status %d) before its "
				     "backend was seen in: %s; stderr: %s",
				     status, sql, err);
		}
		ck_assert_msg(now_ms() < deadline,
			      "no backend in %s after %d s", sql,
			      RUN_TIMEOUT_S);
		pause_ms(2);
	}
}

/* Kill -9 the child and wait until the server has ended its session. */
static void kill_and_wait(pid_t child, const char *ours)
{
	int64_t deadline;
	int status;

	ck_assert_int_eq(kill(child, SIGKILL), 0);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "the import was not killed but ended (status %d)",
		      status);
	deadline = now_ms() + RUN_TIMEOUT_S * 1000;
	while (backend(any_backend, ours) != 0) {
		ck_assert_msg(now_ms() < deadline,
			      "the killed import's backend is still there "
			      "after %d s",
			      RUN_TIMEOUT_S);
		pause_ms(20);
	}
}

static void assert_empty_ledger(const char *what)
{
	struct ledger_state s = ledger_state();

	ck_assert_msg(s.events == 0 && s.balances == 0 && s.aggregates == 0 &&
			      s.batches == 0 && s.articles == 1,
		      "%s: events %lld, balances %lld, aggregates %lld, "
		      "batches %lld, region_article %lld",
		      what, (long long)s.events, (long long)s.balances,
		      (long long)s.aggregates, (long long)s.batches,
		      (long long)s.articles);
}

START_TEST(test_kill_9_mid_import_leaves_nothing)
{
	const char *big = big_snapshot();
	struct db *locker = testdb_connect();
	char ours[80];
	int64_t pids[3];
	struct err e = {0};
	pid_t child;

	/* the test's own connections: the owner's, the app's, the locker's */
	pids[0] = scalar("SELECT pg_backend_pid()");
	pids[1] = testdb_scalar(db, "SELECT pg_backend_pid()");
	pids[2] = testdb_scalar(locker, "SELECT pg_backend_pid()");
	snprintf(ours, sizeof(ours), "{%lld,%lld,%lld}", (long long)pids[0],
		 (long long)pids[1], (long long)pids[2]);

	/* 1. killed while it streams the file into COPY (or, should the
	 * poll miss that, while the feed checks the staged rows) */
	child = spawn(NULL, NULL,
		      ARGS("import", "stock", big, "--region", "01"));
	wait_for_backend(child, in_copy, ours);
	kill_and_wait(child, ours);
	assert_empty_ledger("killed in COPY");

	/* 2. killed while ledger_apply_counts has written the events and
	 * waits on a balance row that another transaction holds, so the
	 * moment is certain: the last site's last product */
	ck_assert_msg(db_command(locker, "BEGIN", 0, NULL, &e) == 0, "%s",
		      e.msg);
	ck_assert_msg(
		db_command(locker,
			   "INSERT INTO stock_balance SELECT '01', s.id, p.id,"
			   " '', NULL, 1, 1, 0, now() FROM site s, product p"
			   " WHERE s.code = 'C-300' AND p.vnr = '500500'",
			   0, NULL, &e) == 0,
		"%s", e.msg);
	child = spawn(NULL, NULL,
		      ARGS("import", "stock", big, "--region", "01"));
	wait_for_backend(child, blocked_in_apply, ours);
	ck_assert_int_ne(backend(wrote_in_apply, ours), 0);
	ck_assert_int_eq(kill(child, SIGKILL), 0);
	/* let the orphaned backend run on and find its client gone */
	db_rollback(locker);
	kill_and_wait(child, ours);
	assert_empty_ledger("killed in ledger_apply_counts");
	db_close(locker);

	/* 3. run to the end: one count event per row, the file's balances */
	cli(NULL, NULL, ARGS("import", "stock", big, "--region", "01"));
	expect(0, "stock 01: done: 150000 records, 150000 applied", "");
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"
				" WHERE kind = 'count' AND seq = 1"),
			 CRASH_SITES * CRASH_PRODUCTS);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"),
			 CRASH_SITES * CRASH_PRODUCTS);
	ck_assert_int_eq(
		scalar("SELECT count(*) FROM stock_balance b"
		       " JOIN site s ON s.id = b.site_id"
		       " JOIN product p ON p.id = b.product_id"
		       " WHERE b.quantity = (31 * substr(s.code, 3)::int"
		       " + 17 * (p.vnr::int - 500000)) % 997 AND b.lot = ''"),
		CRASH_SITES * CRASH_PRODUCTS);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_balance"),
			 CRASH_SITES * CRASH_PRODUCTS);
	ck_assert_int_eq(scalar("SELECT count(*) FROM import_batch"), 1);
	assert_consistent();
}
END_TEST

/* ==== a URL source ==== */

/* One file served at a path, with an ETag. */
struct served {
	const char *path;
	char *body;
	const char *etag;
	int requests;
	int conditional; /* requests that carried If-None-Match */
};

static struct {
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t mu;
	struct served files[2];
} web;

static enum MHD_Result web_handle(void *cls, struct MHD_Connection *c,
				  const char *path, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	static int seen;
	struct MHD_Response *resp;
	struct served *f = NULL;
	const char *inm;
	enum MHD_Result ret;
	bool same;

	(void)cls;
	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;
	if (!*state) {
		*state = &seen;
		return MHD_YES;
	}
	inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
	pthread_mutex_lock(&web.mu);
	for (int i = 0; i < 2; i++)
		if (web.files[i].path && strcmp(web.files[i].path, path) == 0)
			f = &web.files[i];
	if (f) {
		f->requests++;
		f->conditional += inm != NULL;
	}
	pthread_mutex_unlock(&web.mu);
	if (!f) {
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(c, 404, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	same = inm && strcmp(inm, f->etag) == 0;
	resp = same ? MHD_create_response_from_buffer(0, (void *)"",
						      MHD_RESPMEM_PERSISTENT) :
		      MHD_create_response_from_buffer(strlen(f->body), f->body,
						      MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "ETag", f->etag);
	MHD_add_response_header(resp, "Content-Type", "text/csv");
	ret = MHD_queue_response(c, same ? 304 : 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void web_start(void)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	const union MHD_DaemonInfo *info;

	pthread_mutex_init(&web.mu, NULL);
	web.files[0] = (struct served){"/s.csv", slurp(DATA "good.csv", NULL),
				       "\"s1\"", 0, 0};
	web.files[1] = (struct served){
		"/bad.csv", slurp(DATA "bad_sql.csv", NULL), "\"b1\"", 0, 0};
	web.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
					 MHD_USE_THREAD_PER_CONNECTION,
				 0, NULL, NULL, web_handle, NULL,
				 MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	ck_assert_msg(web.d != NULL, "cannot start the test server");
	info = MHD_get_daemon_info(web.d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert(info != NULL && info->port != 0);
	web.port = info->port;
}

static void web_stop(void)
{
	MHD_stop_daemon(web.d);
	free(web.files[0].body);
	free(web.files[1].body);
	pthread_mutex_destroy(&web.mu);
	memset(&web, 0, sizeof(web));
}

static struct served web_file(int i)
{
	struct served f;

	pthread_mutex_lock(&web.mu);
	f = web.files[i];
	pthread_mutex_unlock(&web.mu);
	return f;
}

/* Files in dir, not counting . and .. */
static int files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

START_TEST(test_url_source_with_etag)
{
	char url[128], bad[128], cache[128], cachevar[160];
	const char *set[3] = {cachevar, NULL, NULL};
	struct ledger_state before, after;

	web_start();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/s.csv", web.port);
	snprintf(bad, sizeof(bad), "http://127.0.0.1:%d/bad.csv", web.port);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	snprintf(cachevar, sizeof(cachevar), "LAGERBILD_CACHE_DIR=%s", cache);

	cli(NULL, set, ARGS("import", "stock", url, "--region", "01"));
	expect(0, "stock 01: done: 9 records, 9 applied", "");
	ck_assert_int_eq(web_file(0).requests, 1);
	ck_assert_int_eq(web_file(0).conditional, 0);
	ck_assert_int_eq(balance("01-CL", p_dev, ""), 7);
	ck_assert_str_eq(text1("SELECT source FROM import_batch WHERE"
			       " status = $1",
			       "done"),
			 url);
	ck_assert_int_eq(files_in(cache), 1);
	before = ledger_state();

	/* the second run is answered 304 and never reaches the database
	 * (which here does not exist) */
	set[1] = "DATABASE_URL=dbname=lb_does_not_exist";
	cli(NULL, set, ARGS("import", "stock", url, "--region", "01"));
	expect(0, "stock: unchanged: not modified since the last import", "");
	ck_assert_int_eq(web_file(0).requests, 2);
	ck_assert_int_eq(web_file(0).conditional, 1);
	set[1] = NULL;
	cli(NULL, set,
	    ARGS("import", "stock", url, "--region", "01", "--json"));
	expect(0, "\"not_modified\": true", "");
	after = ledger_state();
	assert_same_state(&before, &after, "304");
	ck_assert_int_eq(after.batches, before.batches);

	/* a rejected import keeps no validators: the next run fetches
	 * the whole file again */
	cli(NULL, set, ARGS("import", "stock", bad, "--region", "01"));
	expect(1, "rejected", "line 3: site 01-XX: no such site");
	ck_assert_int_eq(files_in(cache), 1);
	cli(NULL, set, ARGS("import", "stock", bad, "--region", "01"));
	expect(1, "rejected", "line 3: site 01-XX: no such site");
	ck_assert_int_eq(web_file(1).requests, 2);
	ck_assert_int_eq(web_file(1).conditional, 0);
	after = ledger_state();
	assert_same_state(&before, &after, "rejected by URL");
	ck_assert_int_eq(after.batches, before.batches + 2);

	/* nor does a dry run: validators are kept per URL, and this one
	 * (another query string, the same file) has none yet */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/s.csv?v=2", web.port);
	cli(NULL, set,
	    ARGS("import", "stock", url, "--region", "01", "--dry-run"));
	expect(0, "stock 01: dry run, would be unchanged", "");
	ck_assert_int_eq(web_file(0).requests, 4);
	ck_assert_int_eq(web_file(0).conditional, 2);
	ck_assert_int_eq(files_in(cache), 1);
	/* a real run that finds the content imported before keeps them */
	cli(NULL, set, ARGS("import", "stock", url, "--region", "01"));
	expect(0, "stock 01: unchanged: ", "");
	ck_assert_int_eq(web_file(0).conditional, 2);
	ck_assert_int_eq(files_in(cache), 2);
	cli(NULL, set, ARGS("import", "stock", url, "--region", "01"));
	expect(0, "not modified since the last import", "");
	ck_assert_int_eq(web_file(0).requests, 6);
	ck_assert_int_eq(web_file(0).conditional, 3);
	after = ledger_state();
	assert_same_state(&before, &after, "dry run by URL");
	ck_assert_int_eq(after.batches, before.batches + 3);
	web_stop();
}
END_TEST

/*
 * --force means "import even if this content was imported before"; for a
 * URL with stored validators the download itself must then be
 * unconditional, or the 304 answers "unchanged" and --force does nothing.
 */
START_TEST(test_url_force_fetches_again)
{
	char url[128], cache[128], cachevar[160];
	const char *set[2] = {cachevar, NULL};

	web_start();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/s.csv", web.port);
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	snprintf(cachevar, sizeof(cachevar), "LAGERBILD_CACHE_DIR=%s", cache);
	cli(NULL, set, ARGS("import", "stock", url, "--region", "01"));
	expect(0, "stock 01: done: 9 records, 9 applied", "");
	cli(NULL, set,
	    ARGS("import", "stock", url, "--region", "01", "--force"));
	expect(0, "stock 01: done: 9 records, 9 applied", "");
	ck_assert_int_eq(web_file(0).requests, 2);
	ck_assert_int_eq(web_file(0).conditional, 0);
	ck_assert_int_eq(scalar("SELECT count(*) FROM stock_event"), 18);
	web_stop();
}
END_TEST

/* A usage error names the help once. */
START_TEST(test_cli_usage_hint_once)
{
	const char *hint;

	cli(NULL, NULL, ARGS("import", "nosuch", DATA "good.csv"));
	expect(2, "", "(see lagerbild import --help)");
	hint = strstr(run.err, "(see lagerbild import --help)");
	ck_assert_msg(!strstr(hint + 1, "(see lagerbild import --help)"),
		      "stderr: %s", run.err);
}
END_TEST

/* A dry run of a rejected file says what is wrong, and nothing else. */
START_TEST(test_cli_dry_run_of_a_rejected_file_is_quiet)
{
	cli(NULL, NULL,
	    ARGS("import", "stock", DATA "region12.csv", "--region", "01",
		 "--dry-run"));
	expect(1, "stock 01: dry run, would be rejected: 1 records",
	       "line 2: site 12-SUS: belongs to region 12, not 01\n");
	ck_assert_msg(!strstr(run.err, "no transaction in progress"),
		      "stderr: %s", run.err);
}
END_TEST

Suite *import_stock_suite(void)
{
	Suite *s = suite_create("import_stock");
	TCase *feed = tcase_create("feed");
	TCase *bin = tcase_create("cli");
	TCase *crash = tcase_create("crash");

	tcase_add_checked_fixture(feed, setup, teardown);
	tcase_set_timeout(feed, 60);
	tcase_add_test(feed, test_good_snapshot_then_a_later_one);
	tcase_add_test(feed, test_same_file_twice_is_unchanged_then_forced);
	tcase_add_test(feed, test_rejections_found_in_c);
	tcase_add_test(feed, test_header_faults_stop_the_whole_import);
	tcase_add_test(feed, test_overlong_header_is_refused);
	tcase_add_test(feed, test_delimiters_encodings_and_aliases);
	tcase_add_test(feed, test_rejections_found_by_the_database);
	tcase_add_test(feed, test_dry_run_reports_and_writes_nothing);
	tcase_add_test(feed, test_article_mappings);
	tcase_add_test(feed, test_region_scoping);
	tcase_add_test(feed, test_row_path_and_bulk_path_agree);
	tcase_add_test(feed, test_mapping_from_a_rejected_row);
	tcase_add_test(feed, test_reason_of_a_value_with_a_colon);
	suite_add_tcase(s, feed);

	tcase_add_checked_fixture(bin, setup, cli_teardown);
	tcase_set_timeout(bin, 90);
	tcase_add_test(bin, test_cli_exit_codes);
	tcase_add_test(bin, test_cli_stdin_json_and_dry_run);
	tcase_add_test(bin, test_cli_unreachable_url);
	tcase_add_test(bin, test_url_source_with_etag);
	tcase_add_test(bin, test_url_force_fetches_again);
	tcase_add_test(bin, test_cli_dry_run_of_a_rejected_file_is_quiet);
	tcase_add_test(bin, test_cli_usage_hint_once);
	suite_add_tcase(s, bin);

	tcase_add_checked_fixture(crash, setup, cli_teardown);
	tcase_set_timeout(crash, 240);
	tcase_add_test(crash, test_kill_9_mid_import_leaves_nothing);
	suite_add_tcase(s, crash);
	return s;
}
