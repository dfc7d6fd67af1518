/*
 * check_import_http.c -- push mode: POST /api/v1/imports/{feed} against
 * the real server, by HTTP and through `lagerbild import --server`.
 *
 * The server runs the same frame as the command line, as the token's user:
 * these tests are about who may push what, what the answers are, that the
 * upload never touches memory limits or outlives its request, and that the
 * record of imports is scoped like everything else.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "auth.h"
#include "httpclient.h"
#include "suites.h"
#include "testdb.h"

enum who {
	IMP01,
	IMP12,
	IMPNAT,
	RC01,
	COORD,
	VIEWER,
	NWHO
};

static const struct {
	const char *user;
	enum role role;
	const char *region;
} people[NWHO] = {
	[IMP01] = {"imp.01", ROLE_IMPORTER, "01"},
	[IMP12] = {"imp.12", ROLE_IMPORTER, "12"},
	[IMPNAT] = {"imp.nat", ROLE_IMPORTER, NULL},
	[RC01] = {"rc.01", ROLE_REGION_CONTACT, "01"},
	[COORD] = {"coord", ROLE_COORDINATOR, NULL},
	[VIEWER] = {"viewer", ROLE_VIEWER, NULL},
};

static struct httpclient_server srv;
static char tokens[NWHO][AUTH_TOKEN_MAX];
static char spool_dir[64];
static struct db *owner;

static const char snapshot01[] = "site,product,lot,quantity,counted_at\n"
				 "01-CL,123456,L1,40,2026-11-20\n"
				 "01-B,123456,,7,2026-11-20\n";

static void start_with(const char *max_upload)
{
	char upload_env[64], tmp_env[96];
	const char *env[] = {upload_env, tmp_env, NULL};
	const char *dburl = testdb_create();
	struct err e = {0};
	int64_t uid, tid;

	owner = testdb_connect();
	ck_assert_msg(db_act_as_system(owner, "setup", &e) == 0, "%s", e.msg);
	testdb_site(owner, "01", "01-CL");
	testdb_site(owner, "01", "01-B");
	testdb_site(owner, "12", "12-CL");
	testdb_product(owner, "123456", "Testprodukt");
	for (int w = 0; w < NWHO; w++) {
		ck_assert_msg(auth_user_add(owner, people[w].user,
					    people[w].role, people[w].region,
					    NULL, NULL, &uid, &e) == 0,
			      "%s", e.msg);
		ck_assert_msg(auth_token_create(owner, people[w].user, "t", 30,
						tokens[w], &tid, &e) == 0,
			      "%s", e.msg);
	}
	snprintf(spool_dir, sizeof(spool_dir), "/tmp/lb-spool.XXXXXX");
	ck_assert(mkdtemp(spool_dir) != NULL);
	snprintf(upload_env, sizeof(upload_env), "LAGERBILD_MAX_UPLOAD=%s",
		 max_upload);
	snprintf(tmp_env, sizeof(tmp_env), "TMPDIR=%s", spool_dir);
	httpclient_start(&srv, dburl, env);
}

static void start(void)
{
	start_with("1073741824");
}

static void start_small(void)
{
	start_with("4096");
}

static void stop(void)
{
	httpclient_cleanup(&srv);
	db_close(owner);
	owner = NULL;
	rmdir(spool_dir);
	testdb_drop();
}

/* POST body to path as w; the response's JSON (caller decrefs). */
static json_t *push(enum who w, const char *path, const char *body,
		    long *status)
{
	struct httpclient_request rq = {
		.method = "POST",
		.path = path,
		.token = w < NWHO ? tokens[w] : "lbt_1_nonsense",
		.body = body,
		.body_len = strlen(body),
	};
	struct httpclient_response r = {0};
	json_t *j;

	ck_assert_msg(httpclient_do(&srv, &rq, &r) == 0, "no response to %s",
		      path);
	*status = r.status;
	j = httpclient_json(&r);
	httpclient_response_free(&r);
	ck_assert_msg(j != NULL, "%s: not JSON", path);
	return j;
}

static int64_t count(const char *sql)
{
	return testdb_scalar(owner, sql);
}

static const char *error_field(const json_t *j)
{
	return json_string_value(
		json_object_get(json_object_get(j, "error"), "field"));
}

/* Nothing of an upload may outlive its request. */
static void want_spool_empty(void)
{
	DIR *d = opendir(spool_dir);
	struct dirent *de;
	int files = 0;

	ck_assert(d != NULL);
	while ((de = readdir(d)))
		files += de->d_name[0] != '.';
	closedir(d);
	ck_assert_msg(files == 0, "%d upload files left in %s", files,
		      spool_dir);
}

START_TEST(test_region_importer_pushes_its_snapshot)
{
	long status;
	json_t *j = push(IMP01, "/api/v1/imports/stock", snapshot01, &status);

	ck_assert_int_eq(status, 201);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 "done");
	ck_assert_str_eq(json_string_value(json_object_get(j, "region")), "01");
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_object_get(j, "rows"), "applied")),
			 2);
	json_decref(j);
	ck_assert_int_eq(
		count("SELECT count(*) FROM stock_event"
		      " WHERE kind = 'count' AND recorded_by = 'imp.01'"
		      " AND token_id IS NOT NULL"),
		2);
	ck_assert_int_eq(count("SELECT sum(quantity) FROM stock_balance"), 47);
	ck_assert_int_eq(count("SELECT count(*) FROM import_batch"
			       " WHERE recorded_by = 'imp.01'"
			       " AND source LIKE 'push:%' AND status = 'done'"),
			 1);

	/* the same file again changes nothing */
	j = push(IMP01, "/api/v1/imports/stock", snapshot01, &status);
	ck_assert_int_eq(status, 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 "unchanged");
	json_decref(j);
	ck_assert_int_eq(count("SELECT count(*) FROM stock_event"), 2);
	want_spool_empty();
}
END_TEST

START_TEST(test_region_scoping)
{
	static const char other[] = "site,product,quantity,counted_at\n"
				    "12-CL,123456,5,2026-11-20\n";
	long status;
	json_t *j;

	/* another region, asked for outright */
	j = push(IMP01, "/api/v1/imports/stock?region=12", other, &status);
	ck_assert_int_eq(status, 403);
	json_decref(j);
	/* another region's site in one's own snapshot */
	j = push(IMP01, "/api/v1/imports/stock", other, &status);
	ck_assert_int_eq(status, 422);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 "rejected");
	ck_assert_str_eq(
		json_string_value(json_object_get(
			json_array_get(json_object_get(j, "errors"), 0),
			"reason")),
		"belongs to region 12, not 01");
	json_decref(j);
	ck_assert_int_eq(count("SELECT count(*) FROM stock_event"), 0);
	/* the other region's own importer may */
	j = push(IMP12, "/api/v1/imports/stock", other, &status);
	ck_assert_int_eq(status, 201);
	json_decref(j);
	/* a contact person for the own region may; nobody national may */
	j = push(RC01, "/api/v1/imports/stock", snapshot01, &status);
	ck_assert_int_eq(status, 201);
	json_decref(j);
	for (int w = IMPNAT; w <= VIEWER; w++) {
		if (w == RC01)
			continue;
		j = push((enum who)w, "/api/v1/imports/stock?region=01",
			 snapshot01, &status);
		ck_assert_msg(status == 403, "%s: %ld", people[w].user, status);
		json_decref(j);
	}
	ck_assert_int_eq(count("SELECT count(*) FROM stock_event"), 3);
}
END_TEST

START_TEST(test_national_feeds)
{
	static const char shortages[] =
		"notice_id;vnr;npl_pack_id;product_name;start;expected_end;"
		"reason;status\n"
		"RS-1;123456;;Testprodukt;2026-11-01;2026-12-15;"
		"Produktionsproblem;active\n";
	long status;
	json_t *j;

	j = push(IMP01, "/api/v1/imports/shortages", shortages, &status);
	ck_assert_int_eq(status, 403);
	json_decref(j);
	j = push(IMPNAT, "/api/v1/imports/shortages?region=01", shortages,
		 &status);
	ck_assert_int_eq(status, 400);
	ck_assert_str_eq(error_field(j), "region");
	json_decref(j);
	j = push(VIEWER, "/api/v1/imports/shortages", shortages, &status);
	ck_assert_int_eq(status, 403);
	json_decref(j);
	j = push(IMPNAT, "/api/v1/imports/shortages", shortages, &status);
	ck_assert_msg(status == 201, "%ld", status);
	json_decref(j);
	j = push(COORD, "/api/v1/imports/shortages", shortages, &status);
	ck_assert_int_eq(status, 200); /* unchanged */
	json_decref(j);
	ck_assert_int_eq(count("SELECT count(*) FROM shortage_notice"), 1);
}
END_TEST

START_TEST(test_bad_requests)
{
	long status;
	json_t *j;

	j = push(IMP01, "/api/v1/imports/nosuch", snapshot01, &status);
	ck_assert_int_eq(status, 404);
	json_decref(j);
	j = push(IMP01, "/api/v1/imports/stock", "", &status);
	ck_assert_int_eq(status, 400);
	ck_assert_str_eq(error_field(j), "body");
	json_decref(j);
	j = push(IMP01, "/api/v1/imports/stock?dry_run=perhaps", snapshot01,
		 &status);
	ck_assert_int_eq(status, 400);
	ck_assert_str_eq(error_field(j), "dry_run");
	json_decref(j);
	j = push(IMP01, "/api/v1/imports/stock?region=1", snapshot01, &status);
	ck_assert_int_eq(status, 400);
	ck_assert_str_eq(error_field(j), "region");
	json_decref(j);
	/* a header the CSV reader cannot use fails the whole import */
	j = push(IMP01, "/api/v1/imports/stock", "what,ever\n1,2\n", &status);
	ck_assert_int_eq(status, 422);
	ck_assert_str_eq(
		json_string_value(json_object_get(
			json_array_get(json_object_get(j, "errors"), 0),
			"field")),
		"header");
	json_decref(j);
	j = push(NWHO, "/api/v1/imports/stock", snapshot01, &status);
	ck_assert_int_eq(status, 401);
	json_decref(j);
	/* a dry run answers like the real thing and writes nothing */
	j = push(IMP01, "/api/v1/imports/stock?dry_run=true", snapshot01,
		 &status);
	ck_assert_int_eq(status, 200);
	ck_assert(json_is_true(json_object_get(j, "dry_run")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 "done");
	json_decref(j);
	ck_assert_int_eq(count("SELECT count(*) FROM stock_event"), 0);
	ck_assert_int_eq(count("SELECT count(*) FROM import_batch"
			       " WHERE status = 'rejected'"),
			 1);
	want_spool_empty();
}
END_TEST

START_TEST(test_upload_limit)
{
	size_t n = 64 * 1024;
	char *big = malloc(n + 1);
	long status;
	json_t *j;

	ck_assert(big != NULL);
	memcpy(big, snapshot01, sizeof(snapshot01) - 1);
	memset(big + sizeof(snapshot01) - 1, '\n', n - sizeof(snapshot01) + 1);
	big[n] = '\0';
	j = push(IMP01, "/api/v1/imports/stock", big, &status);
	ck_assert_int_eq(status, 413);
	json_decref(j);
	/* below the limit, well above max_body's minimum, still fine */
	j = push(IMP01, "/api/v1/imports/stock", snapshot01, &status);
	ck_assert_int_eq(status, 201);
	json_decref(j);
	free(big);
	want_spool_empty();
}
END_TEST

START_TEST(test_record_of_imports_is_scoped)
{
	struct httpclient_request rq = {.path = "/api/v1/imports"};
	struct httpclient_response r = {0};
	static const char other[] = "site,product,quantity,counted_at\n"
				    "12-CL,123456,5,2026-11-20\n";
	json_t *j, *list;
	long status;
	int64_t id;
	char path[64];

	json_decref(push(IMP01, "/api/v1/imports/stock", snapshot01, &status));
	json_decref(push(IMP12, "/api/v1/imports/stock", other, &status));
	json_decref(push(IMP01, "/api/v1/imports/stock", other, &status));
	ck_assert_int_eq(status, 422);

	rq.token = tokens[IMP12];
	ck_assert(httpclient_do(&srv, &rq, &r) == 0);
	ck_assert_int_eq(r.status, 200);
	j = httpclient_json(&r);
	list = json_object_get(j, "imports");
	ck_assert_int_eq(json_array_size(list), 1);
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(list, 0), "region")),
			 "12");
	json_decref(j);
	httpclient_response_free(&r);

	rq.token = tokens[COORD];
	ck_assert(httpclient_do(&srv, &rq, &r) == 0);
	j = httpclient_json(&r);
	list = json_object_get(j, "imports");
	ck_assert_int_eq(json_array_size(list), 3);
	/* newest first: the refused one, with its rejection kept */
	id = json_integer_value(json_object_get(json_array_get(list, 0), "id"));
	json_decref(j);
	httpclient_response_free(&r);

	snprintf(path, sizeof(path), "/api/v1/imports/%lld", (long long)id);
	rq.path = path;
	rq.token = tokens[IMP01];
	ck_assert(httpclient_do(&srv, &rq, &r) == 0);
	ck_assert_int_eq(r.status, 200);
	j = httpclient_json(&r);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")),
			 "rejected");
	ck_assert_int_eq(
		json_integer_value(json_object_get(
			json_array_get(json_object_get(j, "errors"), 0),
			"line")),
		2);
	json_decref(j);
	httpclient_response_free(&r);
	/* region 12's importer does not see region 01's batch */
	rq.token = tokens[IMP12];
	ck_assert(httpclient_do(&srv, &rq, &r) == 0);
	ck_assert_int_eq(r.status, 404);
	httpclient_response_free(&r);
}
END_TEST

/* Run the binary; its exit status. */
static int run_cli(const char *const *argv)
{
	pid_t pid = fork();
	int st;

	ck_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execv(getenv("LAGERBILD_BIN"), (char *const *)argv);
		_exit(127);
	}
	ck_assert(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_command_line_push)
{
	char file[] = "/tmp/lb-push.XXXXXX", bad[] = "/tmp/lb-push.XXXXXX";
	const char *bin = getenv("LAGERBILD_BIN");
	int fd;

	fd = mkstemp(file);
	ck_assert(fd >= 0 && write(fd, snapshot01, sizeof(snapshot01) - 1) ==
				     (ssize_t)sizeof(snapshot01) - 1);
	close(fd);
	fd = mkstemp(bad);
	ck_assert(fd >= 0 && write(fd,
				   "site,product,quantity,counted_at\n"
				   "12-CL,123456,5,2026-11-20\n",
				   59) == 59);
	close(fd);
	{
		const char *ok[] = {bin,       "import",      "stock",
				    file,      "--server",    srv.base,
				    "--token", tokens[IMP01], NULL};
		const char *again[] = {bin,	  "import",	 "stock",
				       file,	  "--server",	 srv.base,
				       "--token", tokens[IMP01], NULL};
		const char *other[] = {bin,	      "import",	  "stock",
				       file,	      "--region", "12",
				       "--server",    srv.base,	  "--token",
				       tokens[IMP01], NULL};
		const char *rejected[] = {bin,	     "import",	    "stock",
					  bad,	     "--server",    srv.base,
					  "--token", tokens[IMP01], NULL};
		const char *down[] = {
			bin,	   "import",	  "stock",
			file,	   "--server",	  "http://127.0.0.1:1",
			"--token", tokens[IMP01], NULL};

		ck_assert_int_eq(run_cli(ok), 0);
		ck_assert_int_eq(run_cli(again), 0); /* unchanged */
		ck_assert_int_eq(run_cli(other), 2);
		ck_assert_int_eq(run_cli(rejected), 1);
		ck_assert_int_eq(run_cli(down), 3);
	}
	ck_assert_int_eq(count("SELECT count(*) FROM stock_event"), 2);
	unlink(file);
	unlink(bad);
}
END_TEST

Suite *import_http_suite(void)
{
	Suite *s = suite_create("import_http");
	TCase *tc = tcase_create("push");
	TCase *small = tcase_create("limits");

	tcase_add_checked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_region_importer_pushes_its_snapshot);
	tcase_add_test(tc, test_region_scoping);
	tcase_add_test(tc, test_national_feeds);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_record_of_imports_is_scoped);
	tcase_add_test(tc, test_command_line_push);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(small, start_small, stop);
	tcase_set_timeout(small, 60);
	tcase_add_test(small, test_upload_limit);
	suite_add_tcase(s, small);
	return s;
}
