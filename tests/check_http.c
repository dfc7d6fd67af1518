/*
 * check_http.c -- the HTTP framework (src/http.h) and `lagerbild serve`.
 *
 * Two kinds of test.  The unit cases call http.c directly, table-driven
 * and without a server: route matching, listen addresses, JSON bodies and
 * error bodies.  The server cases run the real binary through
 * tests/httpclient.h against this test's own database and judge what
 * comes back over HTTP: status, the error body's shape, the headers every
 * response must carry, the limits on body and header size, the database
 * going away and coming back, and shutdown on SIGTERM.  Every server case
 * ends by stopping the server and requiring exit status 0, which under
 * `make asan` also means no leaks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "api.h"
#include "auth.h"
#include "http.h"
#include "httpclient.h"
#include "suites.h"
#include "testdb.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- unit: the router ---- */

static void noop(struct http_request *req, struct http_response *res)
{
	(void)req;
	(void)res;
}

static const struct http_route table[] = {
	{"GET", "/healthz", noop, HTTP_PUBLIC, "healthz"},
	{"GET", "/api/v1/sites", noop, 0, "sites_get"},
	{"POST", "/api/v1/sites", noop, 0, "sites_post"},
	{"GET", "/api/v1/sites/search", noop, 0, "sites_search"},
	{"GET", "/api/v1/sites/{id}", noop, 0, "site_get"},
	{"PUT", "/api/v1/sites/{id}", noop, 0, "site_put"},
	{"GET", "/api/v1/sites/{site}/balances/{product}", noop, 0,
	 "site_balance"},
	{"GET", "/", noop, HTTP_PUBLIC, "root"},
};

static const struct match_case {
	const char *method, *path;
	int route; /* -1: none */
	bool known;
	const char *params[HTTP_MAX_PARAMS + 1]; /* NULL-terminated */
} match_cases[] = {
	{"GET", "/healthz", 0, true, {NULL}},
	{"POST", "/healthz", -1, true, {NULL}},
	{"get", "/healthz", -1, true, {NULL}}, /* methods are exact */
	{"GET", "/healthz/", -1, false, {NULL}},
	{"GET", "/healthzz", -1, false, {NULL}},
	{"GET", "/health", -1, false, {NULL}},
	{"GET", "/HEALTHZ", -1, false, {NULL}},
	{"GET", "/api/v1/sites", 1, true, {NULL}},
	{"POST", "/api/v1/sites", 2, true, {NULL}},
	{"DELETE", "/api/v1/sites", -1, true, {NULL}},
	/* an exact segment listed before a capture wins */
	{"GET", "/api/v1/sites/search", 3, true, {NULL}},
	{"GET", "/api/v1/sites/42", 4, true, {"42", NULL}},
	{"PUT", "/api/v1/sites/42", 5, true, {"42", NULL}},
	{"POST", "/api/v1/sites/42", -1, true, {NULL}},
	/* captures are raw: decoding is the dispatcher's */
	{"GET", "/api/v1/sites/a%2Fb", 4, true, {"a%2Fb", NULL}},
	{"GET", "/api/v1/sites/", -1, false, {NULL}},
	{"GET", "/api/v1/sites//balances/x", -1, false, {NULL}},
	{"GET",
	 "/api/v1/sites/7/balances/123456",
	 6,
	 true,
	 {"7", "123456", NULL}},
	{"GET", "/api/v1/sites/7/balances", -1, false, {NULL}},
	{"GET", "/api/v1/sites/7/balances/1/2", -1, false, {NULL}},
	{"GET", "/api/v1", -1, false, {NULL}},
	{"GET", "/api/v1/anything", -1, false, {NULL}},
	{"GET", "/", 7, true, {NULL}},
	{"GET", "", -1, false, {NULL}},
	{"GET", "//", -1, false, {NULL}},
};

START_TEST(test_route_match)
{
	const struct match_case *c = &match_cases[_i];
	const char *params[HTTP_MAX_PARAMS];
	int n = -1, got, want_n = 0;
	bool known = !c->known;

	got = http_route_match(table, NELEM(table), c->method, c->path, params,
			       &n, &known);
	ck_assert_msg(got == c->route, "%s %s: route %d, wanted %d", c->method,
		      c->path, got, c->route);
	ck_assert_msg(known == c->known, "%s %s: path_known %d, wanted %d",
		      c->method, c->path, known, c->known);
	if (got < 0)
		return;
	while (c->params[want_n])
		want_n++;
	ck_assert_msg(n == want_n, "%s %s: %d params, wanted %d", c->method,
		      c->path, n, want_n);
	for (int i = 0; i < n; i++) {
		size_t len = strcspn(params[i], "/");

		ck_assert_msg(len == strlen(c->params[i]) &&
				      strncmp(params[i], c->params[i], len) ==
					      0,
			      "%s %s: param %d is %.*s, wanted %s", c->method,
			      c->path, i, (int)len, params[i], c->params[i]);
	}
}
END_TEST

/* ---- unit: listen addresses ---- */

static const struct listen_case {
	const char *s;
	bool ok;
} listen_cases[] = {
	{"127.0.0.1:8080", true},
	{"0.0.0.0:0", true},
	{"[::1]:8080", true},
	{"[::]:65535", true},
	{"", false},
	{"8080", false},
	{"localhost:8080", false},
	{"127.0.0.1:", false},
	{"127.0.0.1:65536", false},
	{"127.0.0.1:-1", false},
	{"127.0.0.1:80x", false},
	{"127.0.0.1: 80", false},
	{":8080", false},
	{"[::1]8080", false},
	{"::1:8080", false},
	{"[127.0.0.1]:80", false},
	{"1.2.3.4.5:80", false},
};

START_TEST(test_parse_listen)
{
	const struct listen_case *c = &listen_cases[_i];
	struct sockaddr_storage ss;
	struct err e = {0};
	int rc = http_parse_listen(c->s, &ss, "listen", &e);

	ck_assert_msg((rc == 0) == c->ok, "\"%s\": rc %d (%s)", c->s, rc,
		      e.msg);
	if (!c->ok)
		ck_assert_msg(
			e.code == ERR_INVALID && strcmp(e.field, "listen") == 0,
			"\"%s\": code %d field %s", c->s, e.code, e.field);
}
END_TEST

/* ---- unit: JSON bodies and error bodies ---- */

/* The error body of res must have code, a message and field (or null). */
static void want_error_body(const json_t *body, const char *code,
			    const char *field)
{
	json_t *err = json_object_get(body, "error");
	json_t *f = json_object_get(err, "field");
	const char *msg = json_string_value(json_object_get(err, "message"));
	const char *got = json_string_value(json_object_get(err, "code"));

	ck_assert_msg(json_is_object(err), "no error object");
	ck_assert_msg(got && strcmp(got, code) == 0, "code %s, wanted %s",
		      got ? got : "(none)", code);
	ck_assert_msg(msg && msg[0], "no message");
	if (field)
		ck_assert_msg(json_is_string(f) &&
				      strcmp(json_string_value(f), field) == 0,
			      "field not %s", field);
	else
		ck_assert_msg(json_is_null(f), "field is not null");
}

static char *nested(int depth)
{
	char *s = malloc((size_t)depth * 2 + 1);

	ck_assert_msg(s != NULL, "out of memory");
	for (int i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth * 2 - 1 - i] = ']';
	}
	s[depth * 2] = '\0';
	return s;
}

static const struct body_case {
	const char *body;
	size_t len; /* 0: strlen */
	bool ok;
} body_cases[] = {
	{"{}", 0, true},
	{"[]", 0, true},
	{"{\"a\":1,\"b\":[true,null,\"x\"]}", 0, true},
	{"{\"name\":\"K\xc3\xa5ge \xc3\xb6\"}", 0, true},
	{" \n{\"a\":1}\n ", 0, true},
	{"", 0, false},
	{"1", 0, false},
	{"\"text\"", 0, false},
	{"null", 0, false},
	{"{", 0, false},
	{"[1,]", 0, false},
	{"{'a':1}", 0, false},
	{"{\"a\":01}", 0, false},
	{"{\"a\":1,\"a\":2}", 0, false},    /* duplicate key */
	{"{\"a\":\"\xff\"}", 0, false},	    /* not UTF-8 */
	{"{\"a\":\"\xc0\xaf\"}", 0, false}, /* overlong */
	{"{\"a\":\"\\u0000\"}", 0, false},  /* NUL in a string */
	{"{\"a\":1}\0", 8, false},	    /* NUL after the value */
	{"{} {}", 0, false},
	{"{\"a\":1}x", 0, false},
};

static void run_body(const char *body, size_t len, bool ok)
{
	struct http_request req = {.body = body, .body_len = len};
	struct http_response res = {.status = 500};
	json_t *j = http_body_json(&req, &res);

	if (ok) {
		ck_assert_msg(j != NULL, "%.60s: rejected: %d", body,
			      res.status);
		ck_assert_msg(res.json == NULL && res.status == 500,
			      "%.60s: response touched", body);
	} else {
		ck_assert_msg(j == NULL, "%.60s: accepted", body);
		ck_assert_msg(res.status == 400, "%.60s: status %d", body,
			      res.status);
		want_error_body(res.json, "invalid", NULL);
	}
	json_decref(j);
	json_decref(res.json);
	free(res.text);
}

START_TEST(test_body_json)
{
	const struct body_case *c = &body_cases[_i];

	run_body(c->body, c->len ? c->len : strlen(c->body), c->ok);
}
END_TEST

START_TEST(test_body_json_depth)
{
	char *ok = nested(HTTP_JSON_MAX_DEPTH);
	char *deep = nested(HTTP_JSON_MAX_DEPTH + 1);
	char *hostile = nested(100000);

	run_body(ok, strlen(ok), true);
	run_body(deep, strlen(deep), false);
	run_body(hostile, strlen(hostile), false);
	/* Brackets inside strings are not nesting. */
	run_body("[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]", 46, true);
	free(ok);
	free(deep);
	free(hostile);
}
END_TEST

static const struct from_case {
	enum err_code code;
	int status;
	const char *name;
	int retry_after;
} from_cases[] = {
	{ERR_INVALID, 400, "invalid", 0},
	{ERR_NOT_FOUND, 404, "not_found", 0},
	{ERR_CONFLICT, 409, "conflict", 0},
	{ERR_FORBIDDEN, 403, "forbidden", 0},
	{ERR_UNAVAILABLE, 503, "unavailable", HTTP_RETRY_AFTER_S},
	{ERR_INTERNAL, 500, "internal", 0},
};

START_TEST(test_error_from)
{
	const struct from_case *c = &from_cases[_i];
	struct http_response res = {.status = 500};
	struct err e = {0};
	const char *msg;

	err_set(&e, c->code, "qty", "secret detail from the database");
	http_error_from(&res, &e);
	ck_assert_int_eq(res.status, c->status);
	ck_assert_int_eq(res.retry_after, c->retry_after);
	/* A 500's or 503's detail stays in the log. */
	want_error_body(res.json, c->name, c->status >= 500 ? NULL : "qty");
	msg = json_string_value(
		json_object_get(json_object_get(res.json, "error"), "message"));
	ck_assert_msg((strstr(msg, "secret") != NULL) == (c->status < 500),
		      "message: %s", msg);
	json_decref(res.json);
}
END_TEST

START_TEST(test_error_shapes)
{
	struct http_response res = {.status = 500};
	char big[2000];

	http_error(&res, 400, "invalid", "site", "site %s: unknown", "X-1");
	ck_assert_int_eq(res.status, 400);
	want_error_body(res.json, "invalid", "site");

	/* A message cut mid-character, or not UTF-8, still makes a body. */
	memset(big, 'a', sizeof(big));
	memcpy(big + 509, "\xc3\xa5\xc3\xa5", 4);
	big[sizeof(big) - 1] = '\0';
	http_error(&res, 400, "invalid", NULL, "%s", big);
	want_error_body(res.json, "invalid", NULL);
	http_error(&res, 400, "invalid", NULL, "bad \xff byte");
	want_error_body(res.json, "invalid", NULL);

	/* http_json steals; NULL (failed allocation) becomes a 500. */
	http_json(&res, 201, json_pack("{s:i}", "id", 7));
	ck_assert_int_eq(res.status, 201);
	ck_assert_int_eq(json_integer_value(json_object_get(res.json, "id")),
			 7);
	http_json(&res, 200, NULL);
	ck_assert_int_eq(res.status, 500);
	want_error_body(res.json, "internal", NULL);
	json_decref(res.json);
}
END_TEST

/* ---- the server ---- */

static struct httpclient_server srv;
static const char *dburl;

static void setup_server(void)
{
	dburl = testdb_create();
}

static void teardown_server(void)
{
	httpclient_cleanup(&srv);
	testdb_drop();
}

/* Stop the server and require a clean exit (under ASan: no leaks). */
static void stop_clean(void)
{
	int code = httpclient_stop(&srv, 10);
	char *log = NULL;

	if (code != 0) {
		log = httpclient_log(&srv);
		ck_abort_msg("server exit %d, log:\n%.6000s", code, log);
	}
}

#define RES_FMT "status %ld (curl %d)\n%.2000s\n%.2000s"
#define RES_ARGS(r) (r)->status, (r)->curl_code, (r)->headers, (r)->body

static void want_status(const struct httpclient_response *r, long status)
{
	ck_assert_msg(r->curl_code == 0 && r->status == status,
		      RES_FMT "\n--- wanted %ld", RES_ARGS(r), status);
}

static bool is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdef", s[i])) {
			return false;
		}
	}
	return true;
}

/* What every response carries; returns the request id. */
static const char *want_common_headers(const struct httpclient_response *r,
				       char *id, size_t size)
{
	char v[256];

	ck_assert_msg(
		httpclient_header(r, "X-Content-Type-Options", v, sizeof(v)) &&
			strcmp(v, "nosniff") == 0,
		RES_FMT "\n--- no X-Content-Type-Options: nosniff",
		RES_ARGS(r));
	ck_assert_msg(httpclient_header(r, "Cache-Control", v, sizeof(v)) &&
			      strcmp(v, "no-store") == 0,
		      RES_FMT "\n--- no Cache-Control: no-store", RES_ARGS(r));
	ck_assert_msg(httpclient_header(r, "X-Request-Id", id, size) &&
			      is_uuid(id),
		      RES_FMT "\n--- no X-Request-Id UUID", RES_ARGS(r));
	return id;
}

/* A JSON response of status with the JSON content type. */
static json_t *want_json(const struct httpclient_response *r, long status)
{
	char v[256], id[64];
	json_t *j;

	want_status(r, status);
	want_common_headers(r, id, sizeof(id));
	ck_assert_msg(httpclient_header(r, "Content-Type", v, sizeof(v)) &&
			      strcmp(v, "application/json; charset=utf-8") == 0,
		      RES_FMT "\n--- not JSON", RES_ARGS(r));
	j = httpclient_json(r);
	ck_assert_msg(j != NULL, RES_FMT "\n--- body is not JSON", RES_ARGS(r));
	return j;
}

static void want_error(const struct httpclient_response *r, long status,
		       const char *code)
{
	json_t *j = want_json(r, status);

	want_error_body(j, code, NULL);
	json_decref(j);
}

/* GET path and require status with an error body of code. */
static void get_error(const char *path, long status, const char *code)
{
	struct httpclient_response r;

	httpclient_get(&srv, path, &r);
	want_error(&r, status, code);
	httpclient_response_free(&r);
}

static void get_ok(const char *path)
{
	struct httpclient_response r;

	httpclient_get(&srv, path, &r);
	want_status(&r, 200);
	httpclient_response_free(&r);
}

START_TEST(test_healthz)
{
	struct httpclient_response r, r2;
	struct httpclient_request head = {.method = "HEAD", .path = "/healthz"};
	char id[64], id2[64];
	json_t *j;

	httpclient_start(&srv, dburl, NULL);
	httpclient_get(&srv, "/healthz", &r);
	j = want_json(&r, 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
	json_decref(j);
	httpclient_get(&srv, "/healthz", &r2);
	want_common_headers(&r, id, sizeof(id));
	want_common_headers(&r2, id2, sizeof(id2));
	ck_assert_msg(strcmp(id, id2) != 0, "request id repeated: %s", id);
	httpclient_response_free(&r);
	httpclient_response_free(&r2);

	/* HEAD is GET without the body. */
	httpclient_do(&srv, &head, &r);
	want_status(&r, 200);
	ck_assert_uint_eq(r.body_len, 0);
	want_common_headers(&r, id, sizeof(id));
	httpclient_response_free(&r);
	stop_clean();
}
END_TEST

START_TEST(test_readyz)
{
	struct httpclient_response r;
	json_t *j;

	httpclient_start(&srv, dburl, NULL);
	httpclient_get(&srv, "/readyz", &r);
	j = want_json(&r, 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
	json_decref(j);
	httpclient_response_free(&r);
	stop_clean();
}
END_TEST

static void want_in(const char *text, const char *s)
{
	ck_assert_msg(strstr(text, s) != NULL, "wanted \"%s\" in:\n%.4000s", s,
		      text);
}

START_TEST(test_metrics)
{
	struct httpclient_response r;
	char v[256], id[64];

	httpclient_start(&srv, dburl, NULL);
	get_ok("/healthz"); /* the start-up probe made one already */
	get_ok("/readyz");
	get_error("/nowhere", 404, "not_found");
	httpclient_get(&srv, "/metrics", &r);
	want_status(&r, 200);
	want_common_headers(&r, id, sizeof(id));
	ck_assert_msg(httpclient_header(&r, "Content-Type", v, sizeof(v)) &&
			      strncmp(v, "text/plain; version=0.0.4", 25) == 0,
		      RES_FMT, RES_ARGS(&r));
	want_in(r.body, "# TYPE lagerbild_http_requests_total counter\n");
	want_in(r.body, "lagerbild_http_requests_total{route=\"healthz\","
			"method=\"GET\",status=\"200\"} 2\n");
	want_in(r.body, "lagerbild_http_requests_total{route=\"readyz\","
			"method=\"GET\",status=\"200\"} 1\n");
	want_in(r.body, "lagerbild_http_requests_total{route=\"unmatched\","
			"method=\"GET\",status=\"404\"} 1\n");
	want_in(r.body,
		"# TYPE lagerbild_http_request_duration_seconds histogram\n");
	want_in(r.body, "lagerbild_http_request_duration_seconds_bucket{"
			"route=\"healthz\",le=\"0.001\"} ");
	want_in(r.body, "lagerbild_http_request_duration_seconds_bucket{"
			"route=\"healthz\",le=\"+Inf\"} 2\n");
	want_in(r.body, "lagerbild_http_request_duration_seconds_sum{"
			"route=\"healthz\"} ");
	want_in(r.body, "lagerbild_http_request_duration_seconds_count{"
			"route=\"healthz\"} 2\n");
	want_in(r.body, "lagerbild_http_request_duration_seconds_count{"
			"route=\"metrics\"} 0\n");
	want_in(r.body, "lagerbild_db_errors_total 0\n");
	want_in(r.body, "# TYPE lagerbild_http_connections gauge\n");
	want_in(r.body, "lagerbild_http_connections ");
	want_in(r.body, "lagerbild_db_connections 1\n");
	httpclient_response_free(&r);
	stop_clean();
}
END_TEST

START_TEST(test_not_found)
{
	httpclient_start(&srv, dburl, NULL);
	get_error("/nowhere", 404, "not_found");
	get_error("/api/v1/anything", 404, "not_found");
	get_error("/api/v1/x%2Fy?q=1", 404, "not_found");
	get_error("/healthz/", 404, "not_found");
	get_error("/", 404, "not_found");
	stop_clean();
}
END_TEST

static void want_405(const char *method, const char *path, const char *allow)
{
	struct httpclient_request rq = {.method = method, .path = path};
	struct httpclient_response r;
	char v[128];

	httpclient_do(&srv, &rq, &r);
	want_error(&r, 405, "method_not_allowed");
	ck_assert_msg(httpclient_header(&r, "Allow", v, sizeof(v)) &&
			      strcmp(v, allow) == 0,
		      RES_FMT "\n--- wanted Allow: %s", RES_ARGS(&r), allow);
	httpclient_response_free(&r);
}

START_TEST(test_method_not_allowed)
{
	struct httpclient_request rq = {.method = "POST",
					.path = "/healthz",
					.body = "{}",
					.body_len = 2};
	struct httpclient_response r;

	httpclient_start(&srv, dburl, NULL);
	want_405("POST", "/healthz", "GET");
	want_405("DELETE", "/metrics", "GET");
	want_405("PUT", "/readyz", "GET");
	httpclient_do(&srv, &rq, &r);
	want_error(&r, 405, "method_not_allowed");
	httpclient_response_free(&r);
	stop_clean();
}
END_TEST

START_TEST(test_access_log)
{
	struct httpclient_response r;
	char id[64], line[200], *log;

	httpclient_start(&srv, dburl, NULL);
	httpclient_get(&srv, "/healthz?token=sekret-123&x=1", &r);
	want_status(&r, 200);
	want_common_headers(&r, id, sizeof(id));
	httpclient_response_free(&r);
	stop_clean();
	log = httpclient_log(&srv);
	want_in(log, "msg=listening");
	snprintf(line, sizeof(line),
		 "msg=request method=GET path=/healthz status=200 ms=");
	want_in(log, line);
	snprintf(line, sizeof(line), "request_id=%s", id);
	want_in(log, line);
	want_in(log, "remote=127.0.0.1");
	ck_assert_msg(strstr(log, "sekret") == NULL,
		      "query string value logged:\n%.4000s", log);
	want_in(log, "msg=stopped");
	free(log);
}
END_TEST

static void post_big(size_t n, const char *expect, bool chunked, long status)
{
	const char *headers[] = {expect, NULL};
	struct httpclient_request rq = {.method = "POST",
					.path = "/healthz",
					.headers = headers,
					.body_len = n,
					.chunked = chunked};
	struct httpclient_response r;
	char *body = malloc(n + 1);

	ck_assert_msg(body != NULL, "out of memory");
	memset(body, 'x', n);
	body[n] = '\0';
	rq.body = body;
	httpclient_do(&srv, &rq, &r);
	if (status == 413)
		want_error(&r, 413, "too_large");
	else
		want_error(&r, status, "method_not_allowed");
	httpclient_response_free(&r);
	free(body);
}

/* A chunked upload of n bytes, beyond what the server reads to drop. */
static void post_stream(size_t n)
{
	const char *headers[] = {"Expect:", NULL};
	struct httpclient_request rq = {.method = "POST",
					.path = "/healthz",
					.headers = headers,
					.body_len = n,
					.chunked = true,
					.timeout_ms = 20000};
	struct httpclient_response r;
	char *body = calloc(1, n);

	ck_assert_msg(body != NULL, "out of memory");
	rq.body = body;
	httpclient_do(&srv, &rq, &r);
	ck_assert_msg(r.curl_code != 0 || r.status == 413,
		      RES_FMT "\n--- a %zu byte stream was not refused",
		      RES_ARGS(&r), n);
	httpclient_response_free(&r);
	free(body);
}

/* Send raw bytes and read the answer until the server closes. */
static void raw_exchange(const char *request, char *out, size_t size)
{
	int fd = httpclient_connect(&srv);
	size_t len = 0;
	struct pollfd pfd;
	ssize_t n;

	ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
	ck_assert_msg(write(fd, request, strlen(request)) ==
			      (ssize_t)strlen(request),
		      "write: %s", strerror(errno));
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	while (len + 1 < size && poll(&pfd, 1, 10000) > 0) {
		n = read(fd, out + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(fd);
}

START_TEST(test_body_too_large)
{
	const char *const env[] = {"LAGERBILD_MAX_BODY=1024", NULL};
	struct httpclient_response r;
	char answer[4096];

	httpclient_start(&srv, dburl, env);
	/* Read and dropped, then 413. */
	post_big(2048, "Expect:", false, 413);
	/* Refused before the body is sent. */
	post_big(2048, "Expect: 100-continue", false, 413);
	/* No length up front: counted as it streams. */
	post_big(2048, "Expect:", true, 413);
	post_big(1025, "Expect:", true, 413);
	/* At the limit it fits, and routing has its say. */
	post_big(1024, "Expect:", false, 405);
	post_big(1024, "Expect:", true, 405);
	/* A length far beyond the limit is refused before any body. */
	raw_exchange("POST /healthz HTTP/1.1\r\nHost: t\r\n"
		     "Content-Length: 100000000000\r\n\r\n",
		     answer, sizeof(answer));
	ck_assert_msg(strncmp(answer, "HTTP/1.1 413 ", 13) == 0, "got:\n%s",
		      answer);
	want_in(answer, "\"code\":\"too_large\"");
	/* A stream that goes on and on is cut off, not read forever. */
	post_stream(17 * 1024 * 1024);
	get_ok("/healthz");
	httpclient_get(&srv, "/metrics", &r);
	want_in(r.body, "lagerbild_http_requests_total{route=\"unmatched\","
			"method=\"POST\",status=\"413\"} 5\n");
	httpclient_response_free(&r);
	stop_clean();
}
END_TEST

static void get_with_header(size_t n, long status, bool may_close)
{
	char *h = malloc(n + 8);
	const char *headers[] = {h, NULL};
	struct httpclient_request rq = {.path = "/healthz", .headers = headers};
	struct httpclient_response r;

	ck_assert_msg(h != NULL, "out of memory");
	memcpy(h, "X-Big: ", 7);
	memset(h + 7, 'b', n);
	h[n + 7] = '\0';
	httpclient_do(&srv, &rq, &r);
	if (may_close && r.curl_code != 0) {
		/* Closed on us: refused as well. */
	} else if (status == 431 && !may_close) {
		want_error(&r, 431, "too_large");
	} else {
		want_status(&r, status);
	}
	httpclient_response_free(&r);
	free(h);
}

START_TEST(test_header_too_large)
{
	httpclient_start(&srv, dburl, NULL);
	get_with_header(8 * 1024, 200, false);
	get_with_header(20 * 1024, 431, false);
	/* Beyond MHD's memory pool: MHD's own 431, or a closed socket. */
	get_with_header(64 * 1024, 431, true);
	get_with_header(1024 * 1024, 431, true);
	get_ok("/healthz");
	stop_clean();
}
END_TEST

START_TEST(test_header_limit_setting)
{
	const char *const env[] = {"LAGERBILD_MAX_HEADER=4096", NULL};

	httpclient_start(&srv, dburl, env);
	get_with_header(2000, 200, false);
	get_with_header(6000, 431, false);
	get_ok("/healthz");
	stop_clean();
}
END_TEST

/* A request path for pattern, with every capture filled in with "1". */
static void concrete_path(const char *pattern, char *out, size_t size)
{
	size_t len = 0;

	for (const char *p = pattern; *p && len + 2 < size; p++) {
		if (*p == '{') {
			out[len++] = '1';
			p += strcspn(p, "}");
			if (!*p)
				break;
		} else {
			out[len++] = *p;
		}
	}
	out[len] = '\0';
}

/* method path with an Authorization header (NULL: none) must get 401. */
static void want_401(const char *method, const char *path, const char *auth)
{
	const char *headers[] = {auth, NULL};
	struct httpclient_request rq = {.method = method,
					.path = path,
					.headers = auth ? headers : NULL};
	struct httpclient_response r;
	char v[128];

	httpclient_do(&srv, &rq, &r);
	want_error(&r, 401, "unauthorized");
	ck_assert_msg(httpclient_header(&r, "WWW-Authenticate", v, sizeof(v)) &&
			      strncmp(v, "Bearer", 6) == 0,
		      RES_FMT "\n--- no WWW-Authenticate: Bearer",
		      RES_ARGS(&r));
	httpclient_response_free(&r);
}

START_TEST(test_auth_gate)
{
	char path[256], token[AUTH_TOKEN_MAX], long_token[200], *log;
	const struct http_route *get = NULL;
	struct httpclient_request rq = {.token = token};
	struct httpclient_response r;
	struct db *owner;
	struct err e = {0};
	int64_t uid, tid;

	memset(long_token, 'a', sizeof(long_token));
	memcpy(long_token, "Authorization: Bearer lbt_1_", 28);
	long_token[sizeof(long_token) - 1] = '\0';
	httpclient_start(&srv, dburl, NULL);
	/* Every route of the API that is not public, whatever its method. */
	for (size_t i = 0; i < api_routes_count; i++) {
		const struct http_route *rt = &api_routes[i];

		if (rt->flags & HTTP_PUBLIC)
			continue;
		concrete_path(rt->pattern, path, sizeof(path));
		want_401(rt->method, path, NULL);
		want_401(rt->method, path, "Authorization: Basic dXNlcjpwdw==");
		want_401(rt->method, path, "Authorization: Bearer");
		want_401(rt->method, path,
			 "Authorization: Bearer lbt_1_nonsense");
		want_401(rt->method, path, long_token);
		if (!get && strcmp(rt->method, "GET") == 0 &&
		    !strchr(rt->pattern, '{'))
			get = rt;
	}
	if (!get) {
		stop_clean();
		return;
	}
	/* A good token gets through the gate, and the log names its user. */
	owner = testdb_connect();
	ck_assert_msg(auth_user_add(owner, "http.viewer", ROLE_VIEWER, NULL,
				    NULL, NULL, &uid, &e) == 0 &&
			      auth_token_create(owner, "http.viewer", "test", 1,
						token, &tid, &e) == 0,
		      "%s", e.msg);
	db_close(owner);
	rq.path = get->pattern;
	httpclient_do(&srv, &rq, &r);
	ck_assert_msg(r.curl_code == 0 && r.status != 401,
		      RES_FMT "\n--- a good token was refused", RES_ARGS(&r));
	httpclient_response_free(&r);
	stop_clean();
	log = httpclient_log(&srv);
	want_in(log, "user=http.viewer");
	ck_assert_msg(strstr(log, token + 8) == NULL, "token logged:\n%.4000s",
		      log);
	free(log);
}
END_TEST

/*
 * Run one statement on the maintenance database, as the cluster owner,
 * with param as $1 (NULL: no parameters).
 */
static void admin(const char *sql, const char *param)
{
	PGconn *c = PQconnectdb("dbname=postgres");
	PGresult *res = NULL;

	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "admin: %s",
		      PQerrorMessage(c));
	res = PQexecParams(c, sql, param ? 1 : 0, NULL, &param, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK ||
			      PQresultStatus(res) == PGRES_TUPLES_OK,
		      "%s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
}

/* Poll /readyz until it answers status; fail after timeout_ms. */
static void readyz_becomes(long status, int timeout_ms)
{
	struct httpclient_response r = {0};
	struct timespec tick = {0, 100 * 1000 * 1000};

	for (int waited = 0;; waited += 100) {
		httpclient_get(&srv, "/readyz", &r);
		if (r.curl_code == 0 && r.status == status)
			break;
		ck_assert_msg(waited < timeout_ms,
			      "/readyz not %ld after %d ms: " RES_FMT, status,
			      timeout_ms, RES_ARGS(&r));
		httpclient_response_free(&r);
		nanosleep(&tick, NULL);
	}
	if (status == 503) {
		char v[32];

		want_error(&r, 503, "unavailable");
		ck_assert_msg(
			httpclient_header(&r, "Retry-After", v, sizeof(v)) &&
				strcmp(v, "5") == 0,
			RES_FMT "\n--- no Retry-After: 5", RES_ARGS(&r));
	}
	httpclient_response_free(&r);
}

START_TEST(test_db_down_and_back)
{
	const char *name = strchr(dburl, '=') + 1;
	char sql[256];
	struct httpclient_response r;

	httpclient_start(&srv, dburl, NULL);
	readyz_becomes(200, 0);

	/* An identifier, not a value, and our own: lb_t_<pid>_<n>. */
	snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS false",
		 name);
	admin(sql, NULL);
	admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
	      " WHERE datname = $1",
	      name);
	readyz_becomes(503, 5000);
	for (int i = 0; i < 4; i++)
		readyz_becomes(503, 0);
	/* Alive without the database. */
	get_ok("/healthz");
	get_ok("/metrics");

	snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS true",
		 name);
	admin(sql, NULL);
	readyz_becomes(200, 10000);
	/* Every worker is back, not just the one that answered. */
	for (int i = 0; i < 12; i++)
		readyz_becomes(200, 0);
	httpclient_get(&srv, "/metrics", &r);
	ck_assert_msg(strstr(r.body, "lagerbild_db_errors_total 0\n") == NULL,
		      "no database errors counted:\n%s", r.body);
	want_in(r.body, "lagerbild_http_requests_total{route=\"readyz\","
			"method=\"GET\",status=\"503\"} ");
	httpclient_response_free(&r);
	stop_clean();
}
END_TEST

/* Run contrib/pgcluster.sh ACTION DIR and insist that it succeeds. */
static void pgcluster(const char *action, const char *dir)
{
	pid_t pid = fork();
	int status = 0;

	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* The throwaway cluster runs without fsync; keep it so. */
		setenv("PGCLUSTER_FAST", "1", 1);
		execl("/bin/bash", "bash", "contrib/pgcluster.sh", action, dir,
		      (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "pgcluster.sh %s %s failed (status %d)", action, dir,
		      status);
}

/*
 * PostgreSQL itself goes down and comes back, as in a restart for an
 * upgrade: requests meanwhile get 503, and the same server process recovers
 * without a restart of its own, prepared statements and all.  Needs the
 * cluster of tests/run.sh (LAGERBILD_TEST_PGDIR); against an external
 * server there is nothing this test may restart.
 */
START_TEST(test_db_restart)
{
	const char *dir = getenv("LAGERBILD_TEST_PGDIR");
	char token[AUTH_TOKEN_MAX];
	struct httpclient_request rq = {.path = "/api/v1/regions",
					.token = token};
	struct httpclient_response r;
	struct db *owner;
	struct err e = {0};
	int64_t uid, tid;

	if (!dir || !dir[0]) {
		fprintf(stderr, "test_db_restart: LAGERBILD_TEST_PGDIR unset; "
				"not restarting an external server\n");
		return;
	}
	owner = testdb_connect();
	ck_assert_msg(auth_user_add(owner, "restart.viewer", ROLE_VIEWER, NULL,
				    NULL, NULL, &uid, &e) == 0 &&
			      auth_token_create(owner, "restart.viewer", "test",
						1, token, &tid, &e) == 0,
		      "%s", e.msg);
	db_close(owner);
	httpclient_start(&srv, dburl, NULL);
	httpclient_do(&srv, &rq, &r);
	ck_assert_msg(r.status == 200, RES_FMT, RES_ARGS(&r));
	httpclient_response_free(&r);

	pgcluster("stop", dir);
	readyz_becomes(503, 5000);
	httpclient_do(&srv, &rq, &r);
	want_error(&r, 503, "unavailable");
	httpclient_response_free(&r);
	get_ok("/healthz");

	pgcluster("start", dir);
	readyz_becomes(200, 15000);
	for (int i = 0; i < 12; i++)
		readyz_becomes(200, 0);
	/* Authenticated API requests work again on every worker. */
	for (int i = 0; i < 12; i++) {
		httpclient_do(&srv, &rq, &r);
		ck_assert_msg(r.status == 200, RES_FMT, RES_ARGS(&r));
		httpclient_response_free(&r);
	}
	stop_clean();
}
END_TEST

static bool still_running(void)
{
	int status;

	return waitpid(srv.pid, &status, WNOHANG) == 0;
}

START_TEST(test_sigterm_in_flight)
{
	static const char head[] = "POST /healthz HTTP/1.1\r\nHost: t\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: 10\r\n\r\n12345";
	struct timespec wait = {0, 300 * 1000 * 1000};
	char answer[4096];
	size_t len = 0;
	struct pollfd pfd;
	int fd, fd2, code;
	ssize_t n;

	httpclient_start(&srv, dburl, NULL);
	fd = httpclient_connect(&srv);
	ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
	ck_assert(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
	nanosleep(&wait, NULL);

	/* Half a request in flight: SIGTERM must wait for it. */
	kill(srv.pid, SIGTERM);
	nanosleep(&wait, NULL);
	ck_assert_msg(still_running(), "server gone with a request in flight");
	/* ... while refusing newcomers. */
	fd2 = httpclient_connect(&srv);
	if (fd2 >= 0) {
		char c;

		pfd = (struct pollfd){.fd = fd2, .events = POLLIN};
		ck_assert_msg(poll(&pfd, 1, 2000) == 1 && read(fd2, &c, 1) <= 0,
			      "a new connection was served after SIGTERM");
		close(fd2);
	}

	ck_assert(write(fd, "67890", 5) == 5);
	pfd = (struct pollfd){.fd = fd, .events = POLLIN};
	while (len + 1 < sizeof(answer) && poll(&pfd, 1, 5000) > 0) {
		n = read(fd, answer + len, sizeof(answer) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	answer[len] = '\0';
	close(fd);
	ck_assert_msg(strncmp(answer, "HTTP/1.1 405 ", 13) == 0, "got:\n%s",
		      answer);
	want_in(answer, "Connection: close");
	want_in(answer, "\"code\":\"method_not_allowed\"");
	code = httpclient_wait(&srv, 5);
	ck_assert_msg(code == 0, "exit %d after SIGTERM", code);
}
END_TEST

/* The server exited 0 after sig; else fail with what it logged, which
 * says why (an abort names its cause there). */
static void exited_0(int code, const char *sig)
{
	char *log;

	if (code == 0)
		return;
	log = httpclient_log(&srv);
	ck_abort_msg("exit %d after %s; the server's log:\n%s", code, sig,
		     log);
	free(log);
}

START_TEST(test_signals_exit_0)
{
	int code;

	httpclient_start(&srv, dburl, NULL);
	get_ok("/readyz");
	kill(srv.pid, SIGINT);
	code = httpclient_wait(&srv, 5);
	exited_0(code, "SIGINT");
	httpclient_cleanup(&srv);

	httpclient_start(&srv, dburl, NULL);
	get_ok("/readyz");
	code = httpclient_stop(&srv, 5);
	exited_0(code, "SIGTERM");
}
END_TEST

/* ---- `lagerbild serve` on the command line ---- */

/*
 * Run the binary with args and the extra environment entries (NULL-
 * terminated "NAME=value"); return its exit status.  Output goes to a file
 * whose text ends up in out.
 */
static int run_serve(const char *const *args, const char *const *env, char *out,
		     size_t size)
{
	const char *bin = getenv("LAGERBILD_BIN");
	char *argv[8], path[] = "/tmp/lb-serve-XXXXXX";
	int fd = mkstemp(path), status, n = 0, code = -1;
	ssize_t got;
	pid_t pid;

	ck_assert_msg(fd >= 0 && bin, "mkstemp or LAGERBILD_BIN");
	argv[n++] = (char *)"lagerbild";
	argv[n++] = (char *)"serve";
	for (; *args && n < 7; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		setenv("DATABASE_URL", dburl, 1);
		unsetenv("LAGERBILD_LOG_LEVEL");
		for (; env && *env; env++)
			putenv((char *)*env);
		execv(bin, argv);
		_exit(127);
	}
	for (int waited = 0; waited < 10000; waited += 10) {
		struct timespec tick = {0, 10 * 1000 * 1000};

		if (waitpid(pid, &status, WNOHANG) == pid) {
			code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
			break;
		}
		nanosleep(&tick, NULL);
	}
	if (code < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	got = pread(fd, out, size - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(path);
	return code;
}

static const struct cli_case {
	const char *args[4];
	const char *env[3];
	int code;
	const char *out; /* wanted in the output */
} cli_cases[] = {
	{{"--help"}, {NULL}, 0, "Usage: lagerbild serve"},
	{{"--threads", "0"}, {NULL}, 2, "threads"},
	{{"--threads", "many"}, {NULL}, 2, "threads"},
	{{"--threads", "257"}, {NULL}, 2, "threads"},
	{{"--listen", "nonsense"}, {NULL}, 2, "listen"},
	{{"--listen", "127.0.0.1:99999"}, {NULL}, 2, "listen"},
	{{"--bogus"}, {NULL}, 2, "--bogus"},
	{{"extra"}, {NULL}, 2, "unexpected argument"},
	{{NULL}, {"LAGERBILD_MAX_BODY=12"}, 2, "LAGERBILD_MAX_BODY"},
	{{NULL}, {"LAGERBILD_MAX_HEADER=1e6"}, 2, "LAGERBILD_MAX_HEADER"},
	{{NULL}, {"LAGERBILD_TIMEOUT=0"}, 2, "LAGERBILD_TIMEOUT"},
	{{NULL}, {"LAGERBILD_LISTEN=localhost"}, 2, "LAGERBILD_LISTEN"},
	{{NULL},
	 {"LAGERBILD_THREADS=8", "LAGERBILD_MAX_CONNECTIONS=4"},
	 2,
	 "max_connections"},
};

START_TEST(test_serve_cli)
{
	const struct cli_case *c = &cli_cases[_i];
	char out[8192];
	int code = run_serve(c->args, c->env, out, sizeof(out));

	ck_assert_msg(code == c->code, "exit %d, wanted %d:\n%s", code, c->code,
		      out);
	want_in(out, c->out);
}
END_TEST

START_TEST(test_serve_port_taken)
{
	const char *args[] = {"--listen", NULL, NULL};
	char addr[32], out[8192];
	int code;

	httpclient_start(&srv, dburl, NULL);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", srv.port);
	args[1] = addr;
	code = run_serve(args, NULL, out, sizeof(out));
	ck_assert_msg(code == 1, "exit %d, wanted 1:\n%s", code, out);
	want_in(out, "cannot listen");
	get_ok("/healthz");
	stop_clean();
}
END_TEST

Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc;

	tc = tcase_create("unit");
	tcase_add_loop_test(tc, test_route_match, 0, NELEM(match_cases));
	tcase_add_loop_test(tc, test_parse_listen, 0, NELEM(listen_cases));
	tcase_add_loop_test(tc, test_body_json, 0, NELEM(body_cases));
	tcase_add_test(tc, test_body_json_depth);
	tcase_add_loop_test(tc, test_error_from, 0, NELEM(from_cases));
	tcase_add_test(tc, test_error_shapes);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_add_checked_fixture(tc, setup_server, teardown_server);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_healthz);
	tcase_add_test(tc, test_readyz);
	tcase_add_test(tc, test_metrics);
	tcase_add_test(tc, test_not_found);
	tcase_add_test(tc, test_method_not_allowed);
	tcase_add_test(tc, test_access_log);
	tcase_add_test(tc, test_auth_gate);
	tcase_add_test(tc, test_body_too_large);
	tcase_add_test(tc, test_header_too_large);
	tcase_add_test(tc, test_header_limit_setting);
	tcase_add_test(tc, test_db_down_and_back);
	tcase_add_test(tc, test_db_restart);
	tcase_add_test(tc, test_sigterm_in_flight);
	tcase_add_test(tc, test_signals_exit_0);
	tcase_add_test(tc, test_serve_port_taken);
	tcase_add_loop_test(tc, test_serve_cli, 0, NELEM(cli_cases));
	suite_add_tcase(s, tc);
	return s;
}
