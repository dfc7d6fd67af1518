/*
 * check_readiness_page.c -- keyset pages of GET /api/v1/readiness: walking
 * every page with any limit gives exactly the rows of one unpaged answer,
 * in readiness_scan's own order (the database's ORDER BY), in every scope
 * and with filters; and cursors that are too long, not base64url, of
 * another version, for other filters or altered are refused with a 400
 * naming cursor, as are limits out of range.
 *
 * The order is tested where it is subtle: names that differ in case and in
 * non-ASCII letters, and two products with one name (the id breaks the
 * tie).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "readiness_report.h"
#include "auth.h"
#include "httpclient.h"
#include "suites.h"
#include "testdb.h"

static struct db *own; /* owner, acting as the system */
static struct db *app; /* the application role */
static const char *dburl;
static struct httpclient_server srv;
static char *coord, *rc01;

#define NSITES 6
#define NPRODUCTS 9

static const struct {
	const char *region, *code;
} sites[NSITES] = {{"01", "01-B"}, {"01", "01-A"}, {"03", "03-A"},
		   {"04", "04-A"}, {"12", "12-A"}, {"25", "25-a"}};

/* Case, å/ä/ö and a shared name: where byte order and ties matter. */
static const struct {
	const char *vnr, *name;
} products[NPRODUCTS] = {{"100001", "Propofol"},    {"100002", "amoxicillin"},
			 {"100003", "Ägg-extrakt"}, {"100004", "Zink"},
			 {"100005", "Propofol"},    {"100006", "Öronsalva"},
			 {"100007", "Alvedon"},	    {"100008", "alvedon"},
			 {"100009", "Heparin"}};

static int64_t site_id[NSITES], product_id[NPRODUCTS];

static void exec_params(const char *sql, int n, const char *const *params)
{
	struct err e = {0};

	ck_assert_msg(db_command(own, sql, n, params, &e) == 0, "%s: %s", sql,
		      e.msg);
}

/* An event days_ago days back, as the system. */
static void ev(int64_t site, int64_t product, const char *kind, long qty,
	       int days_ago)
{
	testdb_event_ago(own, site, product, kind, qty, days_ago, NULL, NULL);
}

/*
 * Stock at most (site, product) pairs, some with issues (a rate, so
 * statuses differ), one product of another category, and a target that
 * puts some rows below it.
 */
static void setup(void)
{
	struct err e = {0};
	int64_t n;

	dburl = testdb_create();
	own = testdb_connect();
	ck_assert_msg(db_act_as_system(own, "setup", &e) == 0, "%s", e.msg);
	for (int i = 0; i < NSITES; i++)
		site_id[i] = testdb_site(own, sites[i].region, sites[i].code);
	for (int i = 0; i < NPRODUCTS; i++)
		product_id[i] =
			testdb_product(own, products[i].vnr, products[i].name);
	for (int s = 0; s < NSITES; s++)
		for (int p = 0; p < NPRODUCTS; p++) {
			if ((s + p) % 4 == 3)
				continue; /* a gap: no row */
			/* Some too recent for a rate: unknown_rate. */
			if ((s + p) % 3 == 0) {
				ev(site_id[s], product_id[p], "receipt",
				   100 + 10 * s + p, 2);
				continue;
			}
			ev(site_id[s], product_id[p], "receipt",
			   100 + 10 * s + p, 20);
			if (p % 2 == 0)
				for (int d = 12; d >= 1; d--)
					ev(site_id[s], product_id[p], "issue",
					   1 + p, d);
		}
	/* The longest name there can be: 300 characters of four bytes,
	 * whose cursor is longer than most URLs. */
	{
		char name[READINESS_NAME_BYTES + 1];
		int64_t id;

		for (int i = 0; i < 300; i++)
			memcpy(name + 4 * i, "\xf0\x9f\x92\x8a", 4);
		name[1200] = '\0';
		id = testdb_product(own, "100010", name);
		ev(site_id[0], id, "receipt", 5, 20);
		ev(site_id[1], id, "receipt", 5, 20);
		ev(site_id[4], id, "receipt", 5, 20);
	}
	{
		struct readiness_target t = {.product_id = product_id[0],
					     .target_days = "400",
					     .floor_days = "1",
					     .reason = "test"};
		char id[24];
		const char *params[] = {id};
		int64_t tid;

		snprintf(id, sizeof(id), "%lld", (long long)product_id[3]);
		exec_params("UPDATE product SET category = 'ppe' WHERE id = $1",
			    1, params);
		ck_assert_msg(readiness_target_set(own, &t, &tid, &e) == 0,
			      "target: %s", e.msg);
	}
	app = testdb_connect_app("tester");
	ck_assert_msg(readiness_refresh(app, &n, &e) == 0, "refresh: %s",
		      e.msg);
	coord = testdb_token("coord", ROLE_COORDINATOR, NULL);
	rc01 = testdb_token("rc01", ROLE_REGION_CONTACT, "01");
	httpclient_start(&srv, dburl, NULL);
}

static void teardown(void)
{
	httpclient_stop(&srv, 10);
	httpclient_cleanup(&srv);
	db_close(app);
	db_close(own);
	app = own = NULL;
	testdb_drop();
}

/*
 * GET path over a plain socket: httpclient's URLs stop at 2047 characters,
 * and a cursor may be longer (READINESS_CURSOR_MAX).
 */
static long raw_get(const char *path, const char *token, json_t **json)
{
	static char req[16384], out[1 << 20];
	int fd = httpclient_connect(&srv);
	size_t len = 0;
	struct pollfd pfd;
	char *body, *end;
	long status;
	int n;
	ssize_t k;

	ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		     "Authorization: Bearer %s\r\nConnection: close\r\n\r\n",
		     path, token);
	ck_assert(n > 0 && (size_t)n < sizeof(req));
	ck_assert(write(fd, req, (size_t)n) == (ssize_t)n);
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	while (len + 1 < sizeof(out) && poll(&pfd, 1, 30000) > 0) {
		k = read(fd, out + len, sizeof(out) - 1 - len);
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	out[len] = '\0';
	close(fd);
	ck_assert_msg(strncmp(out, "HTTP/1.1 ", 9) == 0, "GET %s: %s", path,
		      out);
	status = strtol(out + 9, &end, 10);
	body = strstr(out, "\r\n\r\n");
	ck_assert_msg(body != NULL, "GET %s: %s", path, out);
	*json = json_loads(body + 4, 0, NULL);
	return status;
}

/* GET path as token; the status, and the body as JSON into *json. */
static long get(const char *path, const char *token, json_t **json)
{
	struct httpclient_request rq = {
		.method = "GET", .path = path, .token = token};
	struct httpclient_response r;
	long status;

	if (strlen(srv.base) + strlen(path) >= 2000) {
		status = raw_get(path, token, json);
		ck_assert_msg(status != 500, "GET %s: 500", path);
		ck_assert_msg(*json != NULL, "GET %s: not JSON", path);
		return status;
	}
	ck_assert_msg(httpclient_do(&srv, &rq, &r) == 0, "GET %s: no answer",
		      path);
	status = r.status;
	ck_assert_msg(status != 500, "GET %s: 500 %s", path, r.body);
	*json = httpclient_json(&r);
	ck_assert_msg(*json != NULL, "GET %s: not JSON: %s", path, r.body);
	httpclient_response_free(&r);
	return status;
}

/* A 400 naming field, with why in its message. */
static void refused(const char *path, const char *token, const char *field,
		    const char *why)
{
	json_t *j = NULL, *err;
	const char *f, *msg;

	ck_assert_int_eq(get(path, token, &j), 400);
	err = json_object_get(j, "error");
	f = json_string_value(json_object_get(err, "field"));
	msg = json_string_value(json_object_get(err, "message"));
	ck_assert_msg(f && strcmp(f, field) == 0, "%s: field %s, not %s", path,
		      f ? f : "(none)", field);
	ck_assert_msg(msg && strstr(msg, why), "%s: \"%s\" lacks \"%s\"", path,
		      msg ? msg : "", why);
	json_decref(j);
}

/* "region/hc/site/product" of a row as the API gives it. */
static void row_id(json_t *row, char *buf, size_t n)
{
	const char *r = json_string_value(json_object_get(row, "region"));
	const char *h =
		json_string_value(json_object_get(row, "healthcare_region"));
	const char *s = json_string_value(json_object_get(row, "site"));

	snprintf(buf, n, "%s/%s/%s/%lld", r ? r : "-", h ? h : "-", s ? s : "-",
		 (long long)json_integer_value(
			 json_object_get(row, "product_id")));
}

/* ---- the reference: readiness_scan's ORDER BY, as the caller ---- */

struct ref {
	json_t *ids; /* row_id strings */
	const char *status;
};

static int ref_row(const struct readiness_row *row, void *arg)
{
	struct ref *r = arg;
	json_t *j;
	char id[96];

	if (r->status &&
	    strcmp(readiness_status_name(row->out.status), r->status) != 0 &&
	    !(strcmp(r->status, "short") == 0 &&
	      readiness_is_short(row->out.status)))
		return 0;
	j = readiness_row_json(row);
	row_id(j, id, sizeof(id));
	json_array_append_new(r->ids, json_string(id));
	json_decref(j);
	return 0;
}

static json_t *reference(enum role role, const char *region,
			 const struct readiness_filter *f, const char *status)
{
	struct identity w;
	struct ref r = {.ids = json_array(), .status = status};
	struct err e = {0};

	memset(&w, 0, sizeof(w));
	w.role = role;
	snprintf(w.username, sizeof(w.username), "u");
	snprintf(w.region, sizeof(w.region), "%s", region ? region : "");
	ck_assert_msg(auth_begin(app, &w, &e) == 0, "%s", e.msg);
	ck_assert_msg(readiness_scan(app, f, ref_row, &r, &e) == 0, "scan: %s",
		      e.msg);
	db_rollback(app);
	return r.ids;
}

/*
 * Walk every page of query with limit; the rows of all pages (a new
 * array).  Every page but the last is full, says truncated and has a next;
 * the last has next null.
 */
static json_t *walk(const char *token, const char *query, long limit,
		    int *pages)
{
	json_t *all = json_array(), *j = NULL;
	char path[4096], cursor[READINESS_CURSOR_MAX + 1] = "";

	*pages = 0;
	for (;;) {
		json_t *rows, *next;
		size_t n;

		snprintf(path, sizeof(path),
			 "/api/v1/readiness?%s%slimit=%ld%s%s", query,
			 query[0] ? "&" : "", limit,
			 cursor[0] ? "&cursor=" : "", cursor);
		ck_assert_int_eq(get(path, token, &j), 200);
		rows = json_object_get(j, "rows");
		next = json_object_get(j, "next");
		n = json_array_size(rows);
		ck_assert_msg(next != NULL, "%s: no next member", path);
		ck_assert_msg((long)n <= limit, "%s: %zu rows", path, n);
		json_array_extend(all, rows);
		++*pages;
		ck_assert_int_lt(*pages, 1000);
		if (json_is_null(next)) {
			ck_assert(
				json_is_false(json_object_get(j, "truncated")));
			json_decref(j);
			break;
		}
		ck_assert_msg((long)n == limit,
			      "%s: a page before the last "
			      "has %zu rows",
			      path, n);
		ck_assert(json_is_true(json_object_get(j, "truncated")));
		ck_assert_msg(json_is_string(next) &&
				      strlen(json_string_value(next)) <=
					      READINESS_CURSOR_MAX,
			      "%s: next", path);
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		json_decref(j);
	}
	return all;
}

/*
 * Every limit walks to exactly the unpaged answer, row for row (the same
 * JSON), which is readiness_scan's order and rows, without a repeat.
 */
static void check_walks(const char *token, const char *query, json_t *ref)
{
	static const long limits[] = {1, 2, 7, 1000};
	json_t *whole = NULL, *rows;
	char path[512];
	int pages;

	snprintf(path, sizeof(path), "/api/v1/readiness?%s%slimit=20000", query,
		 query[0] ? "&" : "");
	ck_assert_int_eq(get(path, token, &whole), 200);
	rows = json_object_get(whole, "rows");
	ck_assert(json_is_null(json_object_get(whole, "next")));
	ck_assert_msg(json_array_size(rows) == json_array_size(ref),
		      "%s: %zu rows, the scan has %zu", query,
		      json_array_size(rows), json_array_size(ref));
	for (size_t i = 0; i < json_array_size(rows); i++) {
		char id[96];

		row_id(json_array_get(rows, i), id, sizeof(id));
		ck_assert_msg(strcmp(id, json_string_value(
						 json_array_get(ref, i))) == 0,
			      "%s: row %zu is %s, the scan's %s", query, i, id,
			      json_string_value(json_array_get(ref, i)));
		for (size_t k = 0; k < i; k++)
			ck_assert_msg(!json_equal(json_array_get(ref, k),
						  json_array_get(ref, i)),
				      "%s: %s twice", query, id);
	}
	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		json_t *all = walk(token, query, limits[l], &pages);
		size_t n = json_array_size(rows);

		ck_assert_msg(json_equal(all, rows),
			      "%s: limit %ld walks to %zu rows, not the %zu "
			      "of one answer",
			      query, limits[l], json_array_size(all), n);
		/* A page that ends exactly at the last row says so: no
		 * empty page follows. */
		ck_assert_int_eq(pages,
				 n == 0 ? 1 :
					  (int)((n + (size_t)limits[l] - 1) /
						(size_t)limits[l]));
		json_decref(all);
	}
	json_decref(whole);
}

START_TEST(test_walks_every_scope)
{
	struct readiness_filter f = {0};
	char q[128];
	json_t *ref;

	f.scope = "site";
	ref = reference(ROLE_COORDINATOR, NULL, &f, NULL);
	ck_assert_int_gt(json_array_size(ref), 30);
	check_walks(coord, "scope=site", ref);
	json_decref(ref);

	/* A region's contact person: its own sites only. */
	f.region = "01";
	ref = reference(ROLE_REGION_CONTACT, "01", &f, NULL);
	ck_assert_int_gt(json_array_size(ref), 10);
	check_walks(rc01, "scope=site", ref);
	json_decref(ref);
	f.region = NULL;

	f.scope = "region";
	ref = reference(ROLE_COORDINATOR, NULL, &f, NULL);
	ck_assert_int_gt(json_array_size(ref), 30);
	check_walks(coord, "scope=region", ref);
	check_walks(rc01, "", ref); /* region is the default */
	json_decref(ref);

	f.scope = "healthcare_region";
	ref = reference(ROLE_COORDINATOR, NULL, &f, NULL);
	ck_assert_int_gt(json_array_size(ref), 20);
	check_walks(coord, "scope=healthcare_region", ref);
	json_decref(ref);

	f.scope = "nation";
	ref = reference(ROLE_COORDINATOR, NULL, &f, NULL);
	ck_assert_int_eq(json_array_size(ref), NPRODUCTS + 1);
	check_walks(coord, "scope=nation", ref);
	json_decref(ref);

	/* Filters. */
	f.scope = "region";
	f.healthcare_region = "mellansverige";
	ref = reference(ROLE_COORDINATOR, NULL, &f, NULL);
	ck_assert_int_gt(json_array_size(ref), 10);
	check_walks(coord, "scope=region&healthcare_region=mellansverige", ref);
	json_decref(ref);
	f.healthcare_region = NULL;

	f.scope = "site";
	f.category = "medicine";
	f.window_days = 10;
	ref = reference(ROLE_COORDINATOR, NULL, &f, NULL);
	ck_assert_int_gt(json_array_size(ref), 20);
	check_walks(coord, "scope=site&category=medicine&window=10", ref);
	json_decref(ref);
	f.category = NULL;
	f.window_days = 0;

	f.scope = "region";
	ref = reference(ROLE_COORDINATOR, NULL, &f, "unknown_rate");
	ck_assert_int_gt(json_array_size(ref), 5);
	check_walks(coord, "status=unknown_rate", ref);
	json_decref(ref);
	ref = reference(ROLE_COORDINATOR, NULL, &f, "short");
	ck_assert_int_gt(json_array_size(ref), 2);
	check_walks(coord, "status=short", ref);
	json_decref(ref);

	f.scope = "nation";
	f.product_id = product_id[4];
	ref = reference(ROLE_COORDINATOR, NULL, &f, NULL);
	ck_assert_int_eq(json_array_size(ref), 1);
	snprintf(q, sizeof(q), "scope=nation&product=%s", products[4].vnr);
	check_walks(coord, q, ref);
	json_decref(ref);

	/* Nothing at all: one page, next null. */
	ref = json_array();
	check_walks(coord, "scope=region&region=25&category=fsmp", ref);
	json_decref(ref);
}
END_TEST

/* ---- bad cursors ---- */

/* base64url of text into out. */
static void b64(const char *text, char *out, size_t size)
{
	ck_assert_uint_ge(size,
			  sodium_base64_ENCODED_LEN(
				  strlen(text),
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING));
	sodium_bin2base64(out, size, (const unsigned char *)text, strlen(text),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* A cursor's JSON (a new reference). */
static json_t *unb64(const char *s)
{
	unsigned char bin[READINESS_CURSOR_MAX];
	size_t n = 0;

	ck_assert_int_eq(sodium_base642bin(
				 bin, sizeof(bin), s, strlen(s), NULL, &n, NULL,
				 sodium_base64_VARIANT_URLSAFE_NO_PADDING),
			 0);
	return json_loadb((const char *)bin, n, 0, NULL);
}

/* The first page's next of query, limit 2. */
static void first_next(const char *query, char *out, size_t size)
{
	json_t *j = NULL;
	char path[256];

	snprintf(path, sizeof(path), "/api/v1/readiness?%s&limit=2", query);
	ck_assert_int_eq(get(path, coord, &j), 200);
	ck_assert(json_is_string(json_object_get(j, "next")));
	snprintf(out, size, "%s",
		 json_string_value(json_object_get(j, "next")));
	json_decref(j);
}

/* The cursor c with member key set to v (stolen), re-encoded. */
static void altered(const char *c, const char *key, json_t *v, char *out,
		    size_t size)
{
	json_t *j = unb64(c);
	char *text;

	ck_assert_ptr_nonnull(j);
	json_object_set_new(j, key, v);
	text = json_dumps(j, JSON_COMPACT);
	b64(text, out, size);
	free(text);
	json_decref(j);
}

START_TEST(test_bad_cursors_and_limits)
{
	static char path[8192], c[READINESS_CURSOR_MAX + 1], x[4096];
	json_t *j = NULL, *k;

	first_next("scope=site&status=unknown_rate", c, sizeof(c));
	/* It works as given. */
	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=site&status=unknown_rate&limit=2&"
		 "cursor=%s",
		 c);
	ck_assert_int_eq(get(path, coord, &j), 200);
	json_decref(j);

	/* Filters changed: scope, status, window, a region, the caller's
	 * own region narrowing a site scan. */
	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=region&status=unknown_rate&"
		 "cursor=%s",
		 c);
	refused(path, coord, "cursor", "other filters");
	snprintf(path, sizeof(path), "/api/v1/readiness?scope=site&cursor=%s",
		 c);
	refused(path, coord, "cursor", "other filters");
	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=site&status=unknown_rate&window=27&"
		 "cursor=%s",
		 c);
	refused(path, coord, "cursor", "other filters");
	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=site&status=unknown_rate&"
		 "region=01&cursor=%s",
		 c);
	refused(path, coord, "cursor", "other filters");
	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=site&status=unknown_rate&cursor=%s",
		 c);
	refused(path, rc01, "cursor", "other filters");

	/* Too long (yet under the server's header limit), empty, not
	 * base64url, not JSON, not a cursor. */
	memset(x, 'A', 3000);
	x[3000] = '\0';
	snprintf(path, sizeof(path), "/api/v1/readiness?cursor=%s", x);
	refused(path, coord, "cursor", "longer than");
	refused("/api/v1/readiness?cursor=", coord, "cursor", "empty");
	refused("/api/v1/readiness?cursor=abc%2Bdef", coord, "cursor",
		"base64url");
	refused("/api/v1/readiness?cursor=eyJ2Ijox%3D%3D", coord, "cursor",
		"base64url"); /* padding */
	refused("/api/v1/readiness?cursor=A", coord, "cursor", "base64url");
	b64("not json", x, sizeof(x));
	snprintf(path, sizeof(path), "/api/v1/readiness?cursor=%s", x);
	refused(path, coord, "cursor", "not a readiness cursor");
	b64("[1,2,3]", x, sizeof(x));
	snprintf(path, sizeof(path), "/api/v1/readiness?cursor=%s", x);
	refused(path, coord, "cursor", "not a readiness cursor");
	b64("{\"v\":1,\"v\":1}", x, sizeof(x));
	snprintf(path, sizeof(path), "/api/v1/readiness?cursor=%s", x);
	refused(path, coord, "cursor", "not a readiness cursor");

	/* Another version. */
	altered(c, "v", json_integer(2), x, sizeof(x));
	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=site&status=unknown_rate&cursor=%s",
		 x);
	refused(path, coord, "cursor", "version 2");

	/* Altered: the key's product id, the check itself, an extra
	 * member. */
	j = unb64(c);
	k = json_deep_copy(json_object_get(j, "k"));
	json_decref(j);
	json_array_set_new(k, 4, json_integer(1));
	altered(c, "k", k, x, sizeof(x));
	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=site&status=unknown_rate&cursor=%s",
		 x);
	refused(path, coord, "cursor", "altered");
	altered(c, "h", json_string("00000000000000000000000000000000"), x,
		sizeof(x));
	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=site&status=unknown_rate&cursor=%s",
		 x);
	refused(path, coord, "cursor", "altered");
	altered(c, "extra", json_true(), x, sizeof(x));
	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=site&status=unknown_rate&cursor=%s",
		 x);
	refused(path, coord, "cursor", "not a readiness cursor");

	/* Limits. */
	refused("/api/v1/readiness?limit=0", coord, "limit", "limit");
	refused("/api/v1/readiness?limit=20001", coord, "limit", "limit");
	refused("/api/v1/readiness?limit=-1", coord, "limit", "limit");
	refused("/api/v1/readiness?limit=ten", coord, "limit", "limit");
}
END_TEST

/* ---- cursors without the database ---- */

START_TEST(test_cursor_round_trip)
{
	struct readiness_filter f = {.scope = "site", .window_days = 14};
	struct readiness_key k = {0}, back;
	char c[READINESS_CURSOR_MAX + 1];
	struct err e = {0};

	snprintf(k.region, sizeof(k.region), "01");
	snprintf(k.healthcare_region, sizeof(k.healthcare_region),
		 "stockholm_gotland");
	snprintf(k.site, sizeof(k.site), "01-A");
	/* The longest names: 300 characters of four bytes, and 300 that
	 * JSON escapes as six. */
	for (int i = 0; i < 300; i++)
		memcpy(k.product_name + 4 * i, "\xf0\x9f\x92\x8a", 4);
	k.product_id = 42;
	k.site_id = 7;
	ck_assert_msg(
		readiness_cursor_encode(&f, "short", &k, c, sizeof(c), &e) == 0,
		"%s", e.msg);
	ck_assert_int_eq(readiness_cursor_decode(c, &f, "short", &back, &e), 0);
	ck_assert_str_eq(back.product_name, k.product_name);
	memset(k.product_name, '\x01', 300);
	k.product_name[300] = '\0';
	ck_assert_msg(
		readiness_cursor_encode(&f, "short", &k, c, sizeof(c), &e) == 0,
		"%s", e.msg);
	ck_assert_int_le(strlen(c), READINESS_CURSOR_MAX);
	ck_assert_msg(readiness_cursor_decode(c, &f, "short", &back, &e) == 0,
		      "%s", e.msg);
	ck_assert_str_eq(back.region, "01");
	ck_assert_str_eq(back.healthcare_region, "stockholm_gotland");
	ck_assert_str_eq(back.site, "01-A");
	ck_assert_str_eq(back.product_name, k.product_name);
	ck_assert_int_eq(back.product_id, 42);
	ck_assert_int_eq(back.site_id, 7);

	/* Other filters: extra, window, scope, a product. */
	ck_assert_int_eq(readiness_cursor_decode(c, &f, NULL, &back, &e), -1);
	ck_assert_str_eq(e.field, "cursor");
	f.window_days = 28;
	ck_assert_int_eq(readiness_cursor_decode(c, &f, "short", &back, &e),
			 -1);
	f.window_days = 14;
	f.product_id = 5;
	ck_assert_int_eq(readiness_cursor_decode(c, &f, "short", &back, &e),
			 -1);
	f.product_id = 0;
	ck_assert_int_eq(readiness_cursor_decode(c, &f, "short", &back, &e), 0);

	/* Absent parts (nation scope) come back absent. */
	memset(&k, 0, sizeof(k));
	snprintf(k.product_name, sizeof(k.product_name), "Zink");
	k.product_id = 3;
	f.scope = "nation";
	ck_assert_int_eq(
		readiness_cursor_encode(&f, NULL, &k, c, sizeof(c), &e), 0);
	ck_assert_int_eq(readiness_cursor_decode(c, &f, NULL, &back, &e), 0);
	ck_assert_str_eq(back.region, "");
	ck_assert_str_eq(back.site, "");
	ck_assert_int_eq(back.site_id, 0);
}
END_TEST

/* A key made by encode with a bad part is still refused by decode: the
 * check says it is as made, not that it is sound. */
START_TEST(test_cursor_bad_parts)
{
	static const struct {
		const char *region, *hc, *site, *name;
		long long pid, sid;
		const char *why;
	} cases[] = {
		{"99", "", "", "x", 1, 0, "region"},
		{"1", "", "", "x", 1, 0, "region"},
		{"", "Norra", "", "x", 1, 0, "healthcare_region"},
		{"", "", "-bad", "x", 1, 0, "site"},
		{"", "", "", "", 1, 0, "product name"},
		{"", "", "", "x", 0, 0, "ids"},
		{"", "", "", "x", 1, -1, "ids"},
	};
	struct readiness_filter f = {.scope = "region"};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct readiness_key k = {0}, back;
		char c[READINESS_CURSOR_MAX + 1];
		struct err e = {0};

		snprintf(k.region, sizeof(k.region), "%s", cases[i].region);
		snprintf(k.healthcare_region, sizeof(k.healthcare_region), "%s",
			 cases[i].hc);
		snprintf(k.site, sizeof(k.site), "%s", cases[i].site);
		snprintf(k.product_name, sizeof(k.product_name), "%s",
			 cases[i].name);
		k.product_id = cases[i].pid;
		k.site_id = cases[i].sid;
		ck_assert_int_eq(
			readiness_cursor_encode(&f, NULL, &k, c, sizeof(c), &e),
			0);
		ck_assert_int_eq(
			readiness_cursor_decode(c, &f, NULL, &back, &e), -1);
		ck_assert_str_eq(e.field, "cursor");
		ck_assert_msg(strstr(e.msg, cases[i].why), "case %zu: %s", i,
			      e.msg);
		ck_assert_str_eq(back.product_name, "");
	}
}
END_TEST

Suite *readiness_page_suite(void)
{
	Suite *s = suite_create("readiness_page");
	TCase *pure = tcase_create("cursor");
	TCase *tc = tcase_create("db");

	tcase_add_test(pure, test_cursor_round_trip);
	tcase_add_test(pure, test_cursor_bad_parts);
	suite_add_tcase(s, pure);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_walks_every_scope);
	tcase_add_test(tc, test_bad_cursors_and_limits);
	suite_add_tcase(s, tc);
	return s;
}
