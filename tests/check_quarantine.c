/*
 * check_quarantine.c -- quarantines of lots on a real database: placing,
 * releasing and listing through the domain module as each kind of caller
 * (row-level security behind it), the same through the real server with
 * its refusals and bad input, readiness's available stock dropping and
 * coming back, the alert re-evaluation a placement and a release trigger,
 * and the command line.
 *
 * Stock is written as the schema owner acting as the system; everything
 * under test then runs as the application role with a caller's identity.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "auth.h"
#include "httpclient.h"
#include "quarantine.h"
#include "suites.h"
#include "testdb.h"

static struct db *own; /* owner, acting as the system */
static struct db *app; /* the application role */
static const char *dburl;
static int64_t site_a, site_b, site_12, prod, prod2;

static void setup(void)
{
	struct err e = {0};

	dburl = testdb_create();
	own = testdb_connect();
	ck_assert_msg(db_act_as_system(own, "setup", &e) == 0, "%s", e.msg);
	site_a = testdb_site(own, "01", "01-A");
	site_b = testdb_site(own, "01", "01-B");
	site_12 = testdb_site(own, "12", "12-A");
	prod = testdb_product(own, "123456", "Propofol");
	prod2 = testdb_product(own, "234567", "Amoxicillin");
	app = testdb_connect_app("tester");
}

static void teardown(void)
{
	db_close(app);
	db_close(own);
	app = own = NULL;
	testdb_drop();
}

/* An event days_ago days back; lot and expiry may be NULL. */
static void ev(int64_t site, int64_t product, const char *kind, long qty,
	       int days_ago, const char *lot, const char *expiry)
{
	testdb_event_ago(own, site, product, kind, qty, days_ago, lot, expiry);
}

/* The usual stock: at 01-A lot L1 100 and L2 30 of prod, 5 without a lot
 * number; at 01-B lot L3 20; at 12-A lot L1 50. */
static void stock(void)
{
	ev(site_a, prod, "receipt", 100, 5, "L1", "2099-12-31");
	ev(site_a, prod, "receipt", 30, 5, "L2", NULL);
	ev(site_a, prod, "receipt", 5, 5, NULL, NULL);
	ev(site_b, prod, "receipt", 20, 5, "L3", NULL);
	ev(site_12, prod, "receipt", 50, 5, "L1", NULL);
}

static int64_t scalar(const char *sql)
{
	return testdb_scalar(own, sql);
}

static int64_t scalar1(const char *sql, int64_t v)
{
	char s[24];
	const char *params[] = {s};

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return testdb_scalar_params(own, sql, 1, params);
}

/* What a refused request must leave as it was. */
struct written {
	int64_t rows, released, audit, events;
};

static void written(struct written *w)
{
	w->rows = scalar("SELECT count(*) FROM lot_quarantine");
	w->released = scalar("SELECT count(*) FROM lot_quarantine"
			     " WHERE released_at IS NOT NULL");
	w->audit = scalar("SELECT count(*) FROM audit_log");
	w->events = scalar("SELECT count(*) FROM stock_event");
}

static void want_unchanged(const char *what, const struct written *before)
{
	struct written now;

	written(&now);
	ck_assert_msg(now.rows == before->rows &&
			      now.released == before->released &&
			      now.audit == before->audit &&
			      now.events == before->events,
		      "%s wrote: quarantines %lld -> %lld, released %lld -> "
		      "%lld, audit %lld -> %lld, events %lld -> %lld",
		      what, (long long)before->rows, (long long)now.rows,
		      (long long)before->released, (long long)now.released,
		      (long long)before->audit, (long long)now.audit,
		      (long long)before->events, (long long)now.events);
}

/* ---- the domain module, as a caller ---- */

static struct identity who_is(enum role role, const char *region,
			      const char *name)
{
	struct identity w;

	memset(&w, 0, sizeof(w));
	w.role = role;
	snprintf(w.username, sizeof(w.username), "%s", name);
	snprintf(w.region, sizeof(w.region), "%s", region ? region : "");
	return w;
}

static struct identity rc(const char *region)
{
	char name[16];

	snprintf(name, sizeof(name), "rc.%s", region);
	return who_is(ROLE_REGION_CONTACT, region, name);
}

/* Place as w in a transaction of its own; 0 with *id, or -1 with e. */
static int place_as(const struct identity *w, int64_t site, const char *region,
		    int64_t product, const char *lot, const char *reason,
		    int64_t *id, struct err *e)
{
	struct quarantine_spec q = {.region = region,
				    .site_id = site,
				    .product_id = product,
				    .lot = lot,
				    .reason = reason};

	memset(e, 0, sizeof(*e));
	if (auth_begin(app, w, e) < 0)
		return -1;
	if (quarantine_place(app, &q, id, e) < 0) {
		db_rollback(app);
		return -1;
	}
	return db_commit(app, e);
}

static int release_as(const struct identity *w, int64_t id, const char *reason,
		      char region[3], int64_t *product_id, struct err *e)
{
	memset(e, 0, sizeof(*e));
	if (auth_begin(app, w, e) < 0)
		return -1;
	if (quarantine_release(app, id, reason, region, product_id, e) < 0) {
		db_rollback(app);
		return -1;
	}
	return db_commit(app, e);
}

/* One quarantine as w sees it (quarantine_get); the caller PQclears. */
static PGresult *get_as(const struct identity *w, int64_t id)
{
	struct err e = {0};
	PGresult *q = NULL;

	ck_assert_msg(auth_begin(app, w, &e) == 0, "%s", e.msg);
	ck_assert_msg(quarantine_get(app, id, &q, &e) == 0, "get %lld: %s",
		      (long long)id, e.msg);
	db_rollback(app);
	return q;
}

/* The value of column name in row 0 of q. */
static const char *col(const PGresult *q, const char *name)
{
	int c = PQfnumber(q, name);

	ck_assert_msg(c >= 0, "no column %s", name);
	return PQgetisnull(q, 0, c) ? NULL : PQgetvalue(q, 0, c);
}

static void want_err(int rc, const struct err *e, enum err_code code,
		     const char *field, const char *msg)
{
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(e->code == code, "code %s, wanted %s: %s",
		      err_code_name(e->code), err_code_name(code), e->msg);
	ck_assert_msg(strcmp(e->field, field) == 0,
		      "field \"%s\", wanted %s: %s", e->field, field, e->msg);
	if (msg)
		ck_assert_msg(strstr(e->msg, msg) != NULL,
			      "message \"%s\" lacks \"%s\"", e->msg, msg);
}

START_TEST(test_place_and_release)
{
	struct identity rc01 = rc("01"), rc12 = rc("12");
	struct identity coord = who_is(ROLE_COORDINATOR, NULL, "coord");
	struct written before;
	struct err e = {0};
	char region[3] = "", idtext[24];
	int64_t id, id2, id3, product_id = 0;
	PGresult *q;

	stock();
	ck_assert_msg(place_as(&rc01, site_a, "01", prod, "L1", "recall 2026-3",
			       &id, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_gt(id, 0);
	q = get_as(&rc01, id);
	ck_assert_str_eq(col(q, "region"), "01");
	ck_assert_str_eq(col(q, "site"), "01-A");
	ck_assert_str_eq(col(q, "product"), "123456");
	ck_assert_str_eq(col(q, "lot"), "L1");
	ck_assert_str_eq(col(q, "quantity"), "100");
	ck_assert_str_eq(col(q, "expiry"), "2099-12-31");
	ck_assert_str_eq(col(q, "open"), "t");
	ck_assert_str_eq(col(q, "created_by"), "rc.01");
	ck_assert_str_eq(col(q, "reason"), "recall 2026-3");
	ck_assert_ptr_null(col(q, "released_at"));
	PQclear(q);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM audit_log WHERE"
				 " table_name = 'lot_quarantine' AND"
				 " operation = 'INSERT' AND row_id = $1"
				 " AND actor = 'rc.01'",
				 id),
			 1);

	/* One open quarantine per lot; a lot not there is not held. */
	snprintf(idtext, sizeof(idtext), "quarantine %lld", (long long)id);
	written(&before);
	want_err(place_as(&rc01, site_a, "01", prod, "L1", "again", &id2, &e),
		 &e, ERR_CONFLICT, "lot", idtext);
	want_err(place_as(&rc01, site_a, "01", prod, "L9", "typo", &id2, &e),
		 &e, ERR_CONFLICT, "lot", "no stock");
	want_err(place_as(&rc01, site_a, "01", prod2, "L1", "wrong", &id2, &e),
		 &e, ERR_CONFLICT, "lot", "no stock");
	want_err(place_as(&rc01, site_b, "01", prod, "L1", "wrong site", &id2,
			  &e),
		 &e, ERR_CONFLICT, "lot", "no stock");
	/* Row-level security: another region's contact person, a
	 * coordinator. */
	want_err(place_as(&rc12, site_a, "01", prod, "L2", "x", &id2, &e), &e,
		 ERR_FORBIDDEN, "site", "region 01");
	want_err(place_as(&coord, site_a, "01", prod, "L2", "x", &id2, &e), &e,
		 ERR_FORBIDDEN, "site", NULL);
	want_err(place_as(&rc01, site_a, "01", prod, "L2", "", &id2, &e), &e,
		 ERR_INVALID, "reason", NULL);
	want_unchanged("refused placements", &before);

	/* The stock without a lot number is a lot of its own. */
	ck_assert_msg(place_as(&rc01, site_a, "01", prod, NULL, "cold chain",
			       &id2, &e) == 0,
		      "%s", e.msg);
	q = get_as(&rc01, id2);
	ck_assert_ptr_null(col(q, "lot"));
	ck_assert_str_eq(col(q, "quantity"), "5");
	PQclear(q);
	want_err(place_as(&rc01, site_a, "01", prod, "", "again", &id3, &e), &e,
		 ERR_CONFLICT, "lot", "without a lot number");

	/* Whose it is, whoever asks; the release is the region's. */
	ck_assert_msg(auth_begin(app, &rc12, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(quarantine_region(app, id, region, &e), 0);
	ck_assert_str_eq(region, "01");
	want_err(quarantine_region(app, 999999, region, &e), &e, ERR_NOT_FOUND,
		 "id", NULL);
	db_rollback(app);
	written(&before);
	want_err(release_as(&rc12, id, "not mine", NULL, NULL, &e), &e,
		 ERR_NOT_FOUND, "id", NULL);
	want_err(release_as(&coord, id, "not mine", NULL, NULL, &e), &e,
		 ERR_FORBIDDEN, "id", "region 01");
	want_err(release_as(&rc01, id, NULL, NULL, NULL, &e), &e, ERR_INVALID,
		 "reason", NULL);
	want_unchanged("refused releases", &before);

	memset(region, 0, sizeof(region));
	ck_assert_msg(release_as(&rc01, id, "supplier cleared it", region,
				 &product_id, &e) == 0,
		      "%s", e.msg);
	ck_assert_str_eq(region, "01");
	ck_assert_int_eq(product_id, prod);
	q = get_as(&coord, id);
	ck_assert_str_eq(col(q, "open"), "f");
	ck_assert_str_eq(col(q, "released_by"), "rc.01");
	ck_assert_str_eq(col(q, "release_reason"), "supplier cleared it");
	ck_assert_ptr_nonnull(col(q, "released_at"));
	PQclear(q);

	/* Released once; the lot can be held again, as a new quarantine. */
	written(&before);
	want_err(release_as(&rc01, id, "again", NULL, NULL, &e), &e,
		 ERR_CONFLICT, "id", "released at");
	want_unchanged("a second release", &before);
	ck_assert_msg(place_as(&rc01, site_a, "01", prod, "L1", "second recall",
			       &id3, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_ne(id3, id);
	ck_assert_int_eq(scalar("SELECT count(*) FROM lot_quarantine WHERE"
				" lot = 'L1' AND released_at IS NULL"),
			 1);
	/* The system (the command line) may anywhere. */
	{
		struct identity sys;

		auth_system_identity(&sys, "cli:test");
		ck_assert_msg(place_as(&sys, site_12, "12", prod, "L1",
				       "national recall", &id2, &e) == 0,
			      "%s", e.msg);
	}
}
END_TEST

START_TEST(test_list)
{
	struct identity rc01 = rc("01"), rc12 = rc("12");
	struct identity coord = who_is(ROLE_COORDINATOR, NULL, "coord");
	struct identity sys;
	struct quarantine_filter f = {.limit = 100};
	int64_t ids[4];
	struct err e = {0};
	PGresult *q = NULL;

	stock();
	auth_system_identity(&sys, "cli:test");
	ck_assert(place_as(&rc01, site_a, "01", prod, "L1", "a", &ids[0], &e) ==
		  0);
	ck_assert(place_as(&rc01, site_a, "01", prod, "L2", "b", &ids[1], &e) ==
		  0);
	ck_assert(place_as(&rc01, site_b, "01", prod, "L3", "c", &ids[2], &e) ==
		  0);
	ck_assert(place_as(&rc12, site_12, "12", prod, "L1", "d", &ids[3],
			   &e) == 0);
	ck_assert(release_as(&rc01, ids[1], "ok", NULL, NULL, &e) == 0);

#define LIST_AS(w, n)                                                        \
	do {                                                                 \
		ck_assert_msg(auth_begin(app, &(w), &e) == 0, "%s", e.msg);  \
		ck_assert_msg(quarantine_list(app, &f, &q, &e) == 0, "%s",   \
			      e.msg);                                        \
		db_rollback(app);                                            \
		ck_assert_msg(PQntuples(q) == (n), "%s: %d rows, wanted %d", \
			      #w, PQntuples(q), (n));                        \
	} while (0)

	LIST_AS(coord, 4);
	ck_assert_int_eq(db_int64(q, 0, 0), ids[0]);
	ck_assert_int_eq(db_int64(q, 3, 0), ids[3]);
	PQclear(q);
	/* Region detail: a contact person sees its own region's only. */
	LIST_AS(rc12, 1);
	ck_assert_str_eq(PQgetvalue(q, 0, PQfnumber(q, "region")), "12");
	PQclear(q);
	f.region = "12";
	LIST_AS(rc01, 0);
	PQclear(q);
	f.region = "01";
	LIST_AS(coord, 3);
	PQclear(q);
	f.open_only = true;
	LIST_AS(coord, 2);
	PQclear(q);
	f.open_only = false;
	f.region = NULL;
	f.site_id = site_b;
	LIST_AS(coord, 1);
	ck_assert_str_eq(PQgetvalue(q, 0, PQfnumber(q, "lot")), "L3");
	ck_assert_str_eq(PQgetvalue(q, 0, PQfnumber(q, "quantity")), "20");
	PQclear(q);
	f.site_id = 0;
	f.product_id = prod2;
	LIST_AS(coord, 0);
	PQclear(q);
	/* Keyset paging: one row more than the limit says there is more. */
	f.product_id = 0;
	f.limit = 2;
	LIST_AS(sys, 3);
	ck_assert_int_eq(db_int64(q, 1, 0), ids[1]);
	PQclear(q);
	f.after = ids[1];
	LIST_AS(sys, 2);
	ck_assert_int_eq(db_int64(q, 0, 0), ids[2]);
	PQclear(q);
	f.limit = 0;
	ck_assert_int_eq(quarantine_list(app, &f, &q, &e), -1);
	ck_assert_str_eq(e.field, "limit");
#undef LIST_AS
}
END_TEST

START_TEST(test_check)
{
	char lot65[66], reason[1002];
	struct err e = {0};

	memset(lot65, 'A', 65);
	lot65[65] = '\0';
	memset(reason, 'x', 1001);
	reason[1001] = '\0';
	want_err(quarantine_check(lot65, "x", &e), &e, ERR_INVALID, "lot",
		 "longer than 64");
	want_err(quarantine_check("L\x01", "x", &e), &e, ERR_INVALID, "lot",
		 NULL);
	want_err(quarantine_check(" L1", "x", &e), &e, ERR_INVALID, "lot",
		 NULL);
	want_err(quarantine_check("L1", NULL, &e), &e, ERR_INVALID, "reason",
		 "required");
	want_err(quarantine_check("L1", "", &e), &e, ERR_INVALID, "reason",
		 NULL);
	want_err(quarantine_check("L1", reason, &e), &e, ERR_INVALID, "reason",
		 NULL);
	want_err(quarantine_check(NULL, "two\nlines", &e), &e, ERR_INVALID,
		 "reason", NULL);
	reason[1000] = '\0';
	ck_assert_int_eq(quarantine_check("L1", reason, &e), 0);
	ck_assert_int_eq(quarantine_check(NULL, "återkallelse", &e), 0);
	ck_assert_int_eq(quarantine_check("", "x", &e), 0);
}
END_TEST

/* ---- through the server ---- */

static struct httpclient_server srv;
static char tokens[6][AUTH_TOKEN_MAX];
enum {
	T_RC01,
	T_RC12,
	T_IMP01,
	T_COORD,
	T_VIEWER,
	T_ADMIN
};

static void add_token(int t, const char *user, enum role role,
		      const char *region)
{
	snprintf(tokens[t], sizeof(tokens[t]), "%s",
		 testdb_token(user, role, region));
}

static void start_server(const char *const *env)
{
	add_token(T_RC01, "rc.01", ROLE_REGION_CONTACT, "01");
	add_token(T_RC12, "rc.12", ROLE_REGION_CONTACT, "12");
	add_token(T_IMP01, "imp.01", ROLE_IMPORTER, "01");
	add_token(T_COORD, "coord", ROLE_COORDINATOR, NULL);
	add_token(T_VIEWER, "viewer", ROLE_VIEWER, NULL);
	add_token(T_ADMIN, "admin", ROLE_ADMIN, NULL);
	httpclient_start(&srv, dburl, env);
}

static void stop_server(void)
{
	httpclient_stop(&srv, 10);
	httpclient_cleanup(&srv);
}

/* Send a request as token t; its status, its body as JSON in *json (may
 * be NULL).  Never a 500. */
static long call(const char *method, const char *path, int t, const char *body,
		 json_t **json)
{
	static const char *const hdr[] = {"Content-Type: application/json",
					  NULL};
	struct httpclient_request rq = {.method = method,
					.path = path,
					.token = tokens[t],
					.headers = hdr,
					.body = body,
					.body_len = body ? strlen(body) : 0};
	struct httpclient_response r;
	long status;

	ck_assert_msg(httpclient_do(&srv, &rq, &r) == 0, "%s %s: no answer",
		      method, path);
	status = r.status;
	if (status == 500) {
		/* the cause is in the server's log */
		char *log = httpclient_log(&srv);

		ck_abort_msg("%s %s: 500 %s\nserver log:\n%s", method, path,
			     r.body, log);
	}
	if (json)
		*json = httpclient_json(&r);
	httpclient_response_free(&r);
	return status;
}

/*
 * A refusal: status, the error shape with field (NULL: null) and a message
 * containing msg (NULL: any), and nothing written.
 */
static void want_refused(const char *method, const char *path, int t,
			 const char *body, long status, const char *field,
			 const char *msg)
{
	struct written before;
	json_t *j = NULL, *err, *f;
	const char *m;
	long got;

	written(&before);
	got = call(method, path, t, body, &j);
	err = json_object_get(j, "error");
	f = json_object_get(err, "field");
	m = json_string_value(json_object_get(err, "message"));
	ck_assert_msg(got == status, "%s %s %s: %ld, wanted %ld", method, path,
		      body ? body : "", got, status);
	ck_assert_msg(json_is_object(err) && m && m[0], "%s %s: no error body",
		      method, path);
	if (field)
		ck_assert_msg(json_is_string(f) &&
				      strcmp(json_string_value(f), field) == 0,
			      "%s %s %s: field %s, wanted %s (%s)", method,
			      path, body ? body : "",
			      json_is_string(f) ? json_string_value(f) : "null",
			      field, m);
	else
		ck_assert_msg(json_is_null(f), "%s %s: field %s, wanted null",
			      method, path, json_string_value(f));
	if (msg)
		ck_assert_msg(strstr(m, msg) != NULL,
			      "%s %s: message \"%s\" lacks \"%s\"", method,
			      path, m, msg);
	json_decref(j);
	want_unchanged(path, &before);
}

/* available of the readiness row of key (site code or region) and prod,
 * as rc.01 asks at scope. */
static int64_t available(const char *scope, const char *key)
{
	char path[128];
	json_t *j = NULL, *row;
	int64_t v = -1;
	size_t i;

	snprintf(path, sizeof(path),
		 "/api/v1/readiness?scope=%s&product=123456", scope);
	ck_assert_int_eq(call("GET", path, T_RC01, NULL, &j), 200);
	json_array_foreach(json_object_get(j, "rows"), i, row)
	{
		const char *k = json_string_value(json_object_get(
			row, strcmp(scope, "site") == 0 ? "site" : "region"));

		if (k && strcmp(k, key) == 0)
			v = json_integer_value(
				json_object_get(row, "available"));
	}
	json_decref(j);
	ck_assert_msg(v >= 0, "no readiness row for %s at scope %s", key,
		      scope);
	return v;
}

static int64_t int_of(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
	return (int64_t)json_integer_value(v);
}

START_TEST(test_http_round_trip)
{
	char path[96];
	json_t *j = NULL, *rows;
	int64_t id;

	stock();
	start_server(NULL);
	ck_assert_int_eq(available("site", "01-A"), 135);
	ck_assert_int_eq(available("region", "01"), 155);

	ck_assert_int_eq(call("POST", "/api/v1/quarantines", T_RC01,
			      "{\"site\":\"01-A\",\"product\":\"123456\","
			      "\"lot\":\"L1\",\"reason\":\"recall 2026-3\"}",
			      &j),
			 201);
	id = int_of(j, "id");
	ck_assert_str_eq(json_string_value(json_object_get(j, "site")), "01-A");
	ck_assert_str_eq(json_string_value(json_object_get(j, "product")),
			 "123456");
	ck_assert_str_eq(json_string_value(json_object_get(j, "lot")), "L1");
	ck_assert_str_eq(json_string_value(json_object_get(j, "region")), "01");
	ck_assert_int_eq(int_of(j, "quantity"), 100);
	ck_assert(json_is_true(json_object_get(j, "open")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "created_by")),
			 "rc.01");
	json_decref(j);
	/* the lot no longer counts, at site and region scope */
	ck_assert_int_eq(available("site", "01-A"), 35);
	ck_assert_int_eq(available("region", "01"), 55);
	ck_assert_int_eq(available("site", "01-B"), 20);

	/* twice: 409, naming the open one */
	snprintf(path, sizeof(path), "quarantine %lld", (long long)id);
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"123456\","
		     "\"lot\":\"L1\",\"reason\":\"again\"}",
		     409, "lot", path);

	/* the lists */
	ck_assert_int_eq(call("GET", "/api/v1/quarantines", T_RC01, NULL, &j),
			 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "quarantines")), 1);
	ck_assert(json_is_null(json_object_get(j, "next_after")));
	json_decref(j);
	ck_assert_int_eq(call("GET", "/api/v1/quarantines", T_RC12, NULL, &j),
			 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "quarantines")), 0);
	json_decref(j);
	ck_assert_int_eq(call("GET",
			      "/api/v1/quarantines?region=01&site=01-A&"
			      "product=123456&open=true",
			      T_COORD, NULL, &j),
			 200);
	rows = json_object_get(j, "quarantines");
	ck_assert_int_eq(json_array_size(rows), 1);
	ck_assert_int_eq(int_of(json_array_get(rows, 0), "id"), id);
	json_decref(j);

	/* released: the lot counts again */
	snprintf(path, sizeof(path), "/api/v1/quarantines/%lld/release",
		 (long long)id);
	ck_assert_int_eq(call("POST", path, T_RC01,
			      "{\"reason\":\"supplier cleared the lot\"}", &j),
			 200);
	ck_assert(json_is_false(json_object_get(j, "open")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "released_by")),
			 "rc.01");
	ck_assert_str_eq(
		json_string_value(json_object_get(j, "release_reason")),
		"supplier cleared the lot");
	json_decref(j);
	ck_assert_int_eq(available("site", "01-A"), 135);
	ck_assert_int_eq(available("region", "01"), 155);
	/* twice: 409 */
	want_refused("POST", path, T_RC01, "{\"reason\":\"again\"}", 409, "id",
		     "released at");
	ck_assert_int_eq(
		call("GET", "/api/v1/quarantines?open=true", T_COORD, NULL, &j),
		200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "quarantines")), 0);
	json_decref(j);
	ck_assert_int_eq(call("GET", "/api/v1/quarantines?open=false", T_COORD,
			      NULL, &j),
			 200);
	ck_assert_int_eq(json_array_size(json_object_get(j, "quarantines")), 1);
	json_decref(j);

	/* The stock without a lot number, with "lot" left out. */
	ck_assert_int_eq(call("POST", "/api/v1/quarantines", T_RC01,
			      "{\"site\":\"01-A\",\"product\":\"123456\","
			      "\"reason\":\"fridge failed\"}",
			      &j),
			 201);
	ck_assert(json_is_null(json_object_get(j, "lot")));
	ck_assert_int_eq(int_of(j, "quantity"), 5);
	json_decref(j);
	ck_assert_int_eq(available("site", "01-A"), 130);
	stop_server();
}
END_TEST

START_TEST(test_http_refusals)
{
	static const char body12[] =
		"{\"site\":\"12-A\",\"product\":\"123456\","
		"\"lot\":\"L1\",\"reason\":\"x\"}";
	static const char body01[] =
		"{\"site\":\"01-A\",\"product\":\"123456\","
		"\"lot\":\"L2\",\"reason\":\"x\"}";
	char path[96], big[1200], xs[1002], lot65[200];
	json_t *j = NULL;
	int64_t id;

	stock();
	start_server(NULL);
	ck_assert_int_eq(call("POST", "/api/v1/quarantines", T_RC01,
			      "{\"site\":\"01-A\",\"product\":\"123456\","
			      "\"lot\":\"L1\",\"reason\":\"recall\"}",
			      &j),
			 201);
	id = int_of(j, "id");
	json_decref(j);
	snprintf(path, sizeof(path), "/api/v1/quarantines/%lld/release",
		 (long long)id);

	/* Another region's contact person: 403, nothing written. */
	want_refused("POST", "/api/v1/quarantines", T_RC12, body01, 403, "site",
		     "region 01");
	want_refused("POST", path, T_RC12, "{\"reason\":\"x\"}", 403, "id",
		     "region 01");
	want_refused("GET", "/api/v1/quarantines?region=01", T_RC12, NULL, 403,
		     "region", NULL);
	want_refused("GET", "/api/v1/quarantines?site=01-A", T_RC12, NULL, 403,
		     "site", NULL);
	/* Nobody but a contact person acts on quarantines. */
	want_refused("POST", "/api/v1/quarantines", T_IMP01, body01, 403, NULL,
		     "importer");
	want_refused("POST", "/api/v1/quarantines", T_COORD, body12, 403, NULL,
		     "coordinator");
	want_refused("POST", "/api/v1/quarantines", T_ADMIN, body12, 403, NULL,
		     NULL);
	want_refused("POST", "/api/v1/quarantines", T_VIEWER, body12, 403, NULL,
		     NULL);
	want_refused("POST", path, T_COORD, "{\"reason\":\"x\"}", 403, NULL,
		     NULL);
	want_refused("POST", path, T_IMP01, "{\"reason\":\"x\"}", 403, NULL,
		     NULL);
	ck_assert_int_eq(scalar("SELECT count(*) FROM lot_quarantine"
				" WHERE released_at IS NULL"),
			 1);

	/* Bad input, each naming its field. */
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"123456\","
		     "\"lot\":\"L2\"}",
		     400, "reason", "missing");
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"123456\","
		     "\"lot\":\"L2\",\"reason\":\"\"}",
		     400, "reason", NULL);
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"123456\","
		     "\"lot\":\"L2\",\"reason\":\"a\\nb\"}",
		     400, "reason", NULL);
	memset(xs, 'x', 1001);
	xs[1001] = '\0';
	snprintf(big, sizeof(big),
		 "{\"site\":\"01-A\",\"product\":\"123456\",\"lot\":\"L2\","
		 "\"reason\":\"%s\"}",
		 xs);
	want_refused("POST", "/api/v1/quarantines", T_RC01, big, 400, "reason",
		     NULL);
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-Q\",\"product\":\"123456\","
		     "\"lot\":\"L2\",\"reason\":\"x\"}",
		     400, "site", "no such site");
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01 A\",\"product\":\"123456\","
		     "\"lot\":\"L2\",\"reason\":\"x\"}",
		     400, "site", NULL);
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"654321\","
		     "\"lot\":\"L2\",\"reason\":\"x\"}",
		     400, "product", NULL);
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"12345\","
		     "\"lot\":\"L2\",\"reason\":\"x\"}",
		     400, "product", NULL);
	snprintf(
		lot65, sizeof(lot65),
		"{\"site\":\"01-A\",\"product\":\"123456\",\"lot\":\"%s\","
		"\"reason\":\"x\"}",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ"
		"KLM");
	want_refused("POST", "/api/v1/quarantines", T_RC01, lot65, 400, "lot",
		     "longer than 64");
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"123456\","
		     "\"lot\":\"L\\u0007\",\"reason\":\"x\"}",
		     400, "lot", NULL);
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"123456\","
		     "\"lot\":7,\"reason\":\"x\"}",
		     400, "lot", NULL);
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"123456\","
		     "\"lot\":\"NOPE\",\"reason\":\"x\"}",
		     409, "lot", "no stock");
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"123456\","
		     "\"lot\":\"L2\",\"reason\":\"x\",\"quantity\":10}",
		     400, "quantity", "whole lot");
	want_refused("POST", "/api/v1/quarantines", T_RC01,
		     "{\"site\":\"01-A\",\"product\":\"123456\","
		     "\"lot\":\"L2\",\"reason\":\"x\",\"colour\":\"red\"}",
		     400, "colour", "unknown field");
	want_refused("POST", "/api/v1/quarantines", T_RC01, "[]", 400, NULL,
		     NULL);
	want_refused("POST", "/api/v1/quarantines", T_RC01, NULL, 400, NULL,
		     NULL);
	want_refused("POST", "/api/v1/quarantines/abc/release", T_RC01,
		     "{\"reason\":\"x\"}", 400, "id", NULL);
	want_refused("POST", "/api/v1/quarantines/0/release", T_RC01,
		     "{\"reason\":\"x\"}", 400, "id", NULL);
	want_refused("POST", "/api/v1/quarantines/99999999/release", T_RC01,
		     "{\"reason\":\"x\"}", 404, "id", "no such quarantine");
	want_refused("POST", path, T_RC01, "{}", 400, "reason", "missing");
	want_refused("POST", path, T_RC01, "{\"reason\":\"\"}", 400, "reason",
		     NULL);
	want_refused("GET", "/api/v1/quarantines?open=maybe", T_RC01, NULL, 400,
		     "open", NULL);
	want_refused("GET", "/api/v1/quarantines?after=-1", T_RC01, NULL, 400,
		     "after", NULL);
	want_refused("GET", "/api/v1/quarantines?limit=0", T_RC01, NULL, 400,
		     "limit", NULL);
	want_refused("GET", "/api/v1/quarantines?region=02", T_COORD, NULL, 400,
		     "region", NULL);
	want_refused("GET", "/api/v1/quarantines?site=01-Q", T_COORD, NULL, 400,
		     "site", NULL);
	want_refused("GET", "/api/v1/quarantines?site=01-A&region=12", T_COORD,
		     NULL, 400, "site", NULL);
	want_refused("GET", "/api/v1/quarantines?product=654321", T_COORD, NULL,
		     400, "product", NULL);
	/* still open, after all that */
	ck_assert_int_eq(scalar1("SELECT count(*) FROM lot_quarantine WHERE"
				 " id = $1 AND released_at IS NULL",
				 id),
			 1);
	stop_server();
}
END_TEST

START_TEST(test_http_paging)
{
	static const char *const lots[] = {"P1", "P2", "P3", "P4", "P5"};
	char path[96], body[160];
	int64_t last = 0;
	int seen = 0, pages = 0;

	for (int i = 0; i < 5; i++)
		ev(site_a, prod, "receipt", 10, 5, lots[i], NULL);
	start_server(NULL);
	for (int i = 0; i < 5; i++) {
		snprintf(body, sizeof(body),
			 "{\"site\":\"01-A\",\"product\":\"123456\","
			 "\"lot\":\"%s\",\"reason\":\"batch recall\"}",
			 lots[i]);
		ck_assert_int_eq(
			call("POST", "/api/v1/quarantines", T_RC01, body, NULL),
			201);
	}
	snprintf(path, sizeof(path), "/api/v1/quarantines?limit=2");
	for (;;) {
		json_t *j = NULL, *row, *next;
		size_t i;

		ck_assert_int_eq(call("GET", path, T_COORD, NULL, &j), 200);
		ck_assert_int_lt(++pages, 5);
		json_array_foreach(json_object_get(j, "quarantines"), i, row)
		{
			ck_assert_int_gt(int_of(row, "id"), last);
			last = int_of(row, "id");
			seen++;
		}
		next = json_object_get(j, "next_after");
		if (json_is_null(next)) {
			json_decref(j);
			break;
		}
		ck_assert_int_eq(json_integer_value(next), last);
		snprintf(path, sizeof(path),
			 "/api/v1/quarantines?limit=2&after=%lld",
			 (long long)last);
		json_decref(j);
	}
	ck_assert_int_eq(seen, 5);
	ck_assert_int_eq(pages, 3);
	stop_server();
}
END_TEST

/* Open alerts of rule in region 01. */
static int64_t open_alerts(const char *rule)
{
	const char *params[] = {rule};

	return testdb_scalar_params(own,
				    "SELECT count(*) FROM alert WHERE"
				    " rule = $1::alert_rule AND region_code ="
				    " '01' AND resolved_at IS NULL",
				    1, params);
}

/* Wait up to 10 s for an open alert of rule in region 01 to be there
 * (want) or not. */
static void await_alert(const char *rule, bool want)
{
	for (int i = 0; i < 100; i++) {
		if ((open_alerts(rule) > 0) == want)
			return;
		usleep(100 * 1000);
	}
	ck_abort_msg("alert %s in region 01 is %s after 10 s", rule,
		     want ? "not open" : "still open");
}

/*
 * The alert thread evaluates (region, product) when a quarantine is placed
 * or released: with the periodic sweep an hour away, nothing else would.
 */
START_TEST(test_http_alerts_follow)
{
	static const char *const env[] = {"LAGERBILD_ALERT_INTERVAL=3600",
					  NULL};
	char path[96];
	json_t *j = NULL;
	int64_t id, n;

	/* 1000 received, 30 a day issued for 28 days: 160 left, about 5
	 * days against the agreement's target; all of it is lot L1. */
	testdb_exec(own, "UPDATE product SET agreement_code = 'TO2022_LM'");
	ev(site_a, prod, "receipt", 1000, 30, "L1", NULL);
	for (int d = 28; d >= 1; d--)
		ev(site_a, prod, "issue", 30, d, "L1", NULL);
	n = scalar("SELECT count(*) FROM alert");
	start_server(env);
	ck_assert_int_eq(call("POST", "/api/v1/quarantines", T_RC01,
			      "{\"site\":\"01-A\",\"product\":\"123456\","
			      "\"lot\":\"L1\",\"reason\":\"recall\"}",
			      &j),
			 201);
	id = int_of(j, "id");
	json_decref(j);
	/* nothing is available: a stockout */
	await_alert("stockout", true);
	ck_assert_int_gt(scalar("SELECT count(*) FROM alert"), n);
	snprintf(path, sizeof(path), "/api/v1/quarantines/%lld/release",
		 (long long)id);
	ck_assert_int_eq(
		call("POST", path, T_RC01, "{\"reason\":\"cleared\"}", NULL),
		200);
	/* the stock is back: the stockout resolves, below floor stands */
	await_alert("stockout", false);
	await_alert("below_floor", true);
	stop_server();
}
END_TEST

/* ---- the command line ---- */

/* The binary's exit status; its stdout and stderr in out. */
#define CLI(...)                                  \
	testdb_cli(dburl, true, out, sizeof(out), \
		   (const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_cli)
{
	static char out[65536];
	char id[24];
	int64_t qid;

	stock();
	ck_assert_msg(CLI("stock", "quarantine", "--site", "01-A", "--product",
			  "123456", "--lot", "L1", "--reason",
			  "recall 2026-3") == 0,
		      "%s", out);
	ck_assert_msg(strstr(out, "placed") && strstr(out, "lot L1") &&
			      strstr(out, "100 units"),
		      "%s", out);
	qid = scalar("SELECT max(id) FROM lot_quarantine");
	ck_assert_int_eq(scalar1("SELECT count(*) FROM lot_quarantine WHERE"
				 " id = $1 AND lot = 'L1' AND released_at IS"
				 " NULL AND created_by <> ''",
				 qid),
			 1);
	ck_assert_int_eq(CLI("stock", "quarantine", "--site", "01-A",
			     "--product", "123456", "--lot", "L1", "--reason",
			     "again"),
			 1);
	ck_assert_msg(strstr(out, "already in quarantine"), "%s", out);
	ck_assert_msg(CLI("stock", "quarantines", "--open", "--tsv") == 0, "%s",
		      out);
	ck_assert_msg(strstr(out, "\tL1\t100\t"), "%s", out);
	ck_assert_msg(CLI("stock", "quarantines", "--region", "12") == 0, "%s",
		      out);
	ck_assert_msg(strstr(out, "(0 rows)"), "%s", out);
	snprintf(id, sizeof(id), "%lld", (long long)qid);
	ck_assert_msg(CLI("stock", "release", id, "--reason", "cleared") == 0,
		      "%s", out);
	ck_assert_msg(strstr(out, "released"), "%s", out);
	ck_assert_int_eq(scalar1("SELECT count(*) FROM lot_quarantine WHERE"
				 " id = $1 AND release_reason = 'cleared'",
				 qid),
			 1);
	ck_assert_int_eq(CLI("stock", "release", id, "--reason", "again"), 1);
	ck_assert_msg(strstr(out, "released at"), "%s", out);
	ck_assert_msg(CLI("stock", "quarantines", "--open") == 0, "%s", out);
	ck_assert_msg(strstr(out, "(0 rows)"), "%s", out);
	ck_assert_msg(CLI("stock", "quarantines", "--site", "01-A", "--product",
			  "123456") == 0,
		      "%s", out);
	ck_assert_msg(strstr(out, "(1 row)"), "%s", out);

	/* Usage errors (2) before any database; failures (1) after. */
	ck_assert_int_eq(CLI("stock", "quarantine", "--site", "01-A",
			     "--product", "123456", "--lot", "L2"),
			 2);
	ck_assert_msg(strstr(out, "--reason"), "%s", out);
	ck_assert_int_eq(CLI("stock", "quarantine", "--site", "01-A",
			     "--product", "123456", "--lot",
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVW"
			     "XYZABCDEFGHIJKLM",
			     "--reason", "x"),
			 2);
	ck_assert_msg(strstr(out, "lot"), "%s", out);
	ck_assert_int_eq(CLI("stock", "quarantine", "--site", "01-A",
			     "--product", "12345", "--reason", "x"),
			 2);
	ck_assert_int_eq(CLI("stock", "quarantine", "--site", "01-Q",
			     "--product", "123456", "--lot", "L2", "--reason",
			     "x"),
			 1);
	ck_assert_msg(strstr(out, "no such site"), "%s", out);
	ck_assert_int_eq(CLI("stock", "quarantine", "--site", "01-A",
			     "--product", "123456", "--lot", "NOPE", "--reason",
			     "x"),
			 1);
	ck_assert_msg(strstr(out, "no stock"), "%s", out);
	ck_assert_int_eq(CLI("stock", "release", "abc", "--reason", "x"), 2);
	ck_assert_int_eq(CLI("stock", "release", "--reason", "x"), 2);
	ck_assert_int_eq(CLI("stock", "release", id), 2);
	ck_assert_int_eq(CLI("stock", "release", "99999", "--reason", "x"), 1);
	ck_assert_int_eq(CLI("stock", "quarantines", "--region", "02"), 2);
	ck_assert_int_eq(CLI("stock", "quarantines", "--limit", "0"), 2);
	ck_assert_int_eq(CLI("stock", "quarantines", "extra"), 2);
	ck_assert_int_eq(scalar("SELECT count(*) FROM lot_quarantine"), 1);
	/* Each with --help. */
	ck_assert_int_eq(CLI("stock", "quarantine", "--help"), 0);
	ck_assert_msg(strstr(out, "Usage: lagerbild stock quarantine"), "%s",
		      out);
	ck_assert_int_eq(CLI("stock", "release", "--help"), 0);
	ck_assert_msg(strstr(out, "Usage: lagerbild stock release"), "%s", out);
	ck_assert_int_eq(CLI("stock", "quarantines", "--help"), 0);
	ck_assert_msg(strstr(out, "Usage: lagerbild stock quarantines"), "%s",
		      out);
	ck_assert_int_eq(CLI("stock", "--help"), 0);
	ck_assert_msg(strstr(out, "quarantines"), "%s", out);
}
END_TEST

Suite *quarantine_suite(void)
{
	Suite *s = suite_create("quarantine");
	TCase *tc = tcase_create("db");
	TCase *http = tcase_create("http");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_place_and_release);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_cli);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(http, setup, teardown);
	tcase_set_timeout(http, 60);
	tcase_add_test(http, test_http_round_trip);
	tcase_add_test(http, test_http_refusals);
	tcase_add_test(http, test_http_paging);
	tcase_add_test(http, test_http_alerts_follow);
	suite_add_tcase(s, http);
	return s;
}
