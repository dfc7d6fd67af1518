/*
 * check_migrate.c -- migrations: applied once, checksummed, edited ones
 * refused, newer databases refused, concurrent migrators safe.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "embedded.h"
#include "migrate.h"
#include "suites.h"
#include "testdb.h"

static struct db *owner;
static const char *conninfo;

static void setup(void)
{
	conninfo = testdb_create();
	owner = testdb_connect();
}

static void teardown(void)
{
	db_close(owner);
	owner = NULL;
	testdb_drop();
}

START_TEST(test_second_run_is_a_no_op)
{
	struct migrate_result r;
	struct err e = {0};
	int64_t n =
		testdb_scalar(owner, "SELECT count(*) FROM schema_migrations");

	ck_assert_int_eq(n, (int64_t)embedded_migrations_count);
	ck_assert_int_eq(migrate_run(owner, embedded_migrations,
				     embedded_migrations_count, &r, &e),
			 0);
	ck_assert_int_eq(r.applied, 0);
	ck_assert_int_gt(r.current, 0);
	ck_assert_int_eq(
		testdb_scalar(owner, "SELECT count(*) FROM schema_migrations"),
		n);
	/* The seed data was not inserted twice either. */
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM region"),
			 21);
}
END_TEST

START_TEST(test_checksums_are_sha256_of_the_files)
{
	char sum[65];
	const char *params[] = {NULL, sum};

	for (size_t i = 0; i < embedded_migrations_count; i++) {
		migrate_checksum(embedded_migrations[i].data,
				 embedded_migrations[i].len, sum);
		params[0] = embedded_migrations[i].name;
		ck_assert_int_eq(
			testdb_scalar_params(
				owner,
				"SELECT count(*) FROM schema_migrations"
				" WHERE name = $1 AND checksum = $2",
				2, params),
			1);
	}
	/* A known vector, so the helper itself is checked. */
	migrate_checksum("abc", 3, sum);
	ck_assert_str_eq(sum, "ba7816bf8f01cfea414140de5dae2223"
			      "b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_edited_migration_refused)
{
	struct embedded_file *files;
	struct migrate_result r;
	struct err e = {0};
	size_t n = embedded_migrations_count;
	static const char edited[] = "SELECT 1; -- edited after release\n";

	files = calloc(n, sizeof(*files));
	ck_assert_ptr_nonnull(files);
	memcpy(files, embedded_migrations, n * sizeof(*files));
	files[n - 1].data = edited;
	files[n - 1].len = sizeof(edited) - 1;
	ck_assert_int_eq(migrate_run(owner, files, n, &r, &e), -1);
	ck_assert_int_eq(e.code, ERR_CONFLICT);
	ck_assert_msg(strstr(e.msg, files[n - 1].name), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "was edited after it was applied"), "%s",
		      e.msg);
	free(files);
}
END_TEST

START_TEST(test_new_migration_applied_once)
{
	struct embedded_file *files;
	struct migrate_result r;
	struct err e = {0};
	size_t n = embedded_migrations_count;
	static const char extra[] = "CREATE TABLE migrate_probe (id integer);\n"
				    "INSERT INTO migrate_probe VALUES (1);\n";

	files = calloc(n + 1, sizeof(*files));
	ck_assert_ptr_nonnull(files);
	memcpy(files, embedded_migrations, n * sizeof(*files));
	files[n] = (struct embedded_file){"900_probe.sql", extra,
					  sizeof(extra) - 1};
	ck_assert_msg(migrate_run(owner, files, n + 1, &r, &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(r.applied, 1);
	ck_assert_int_eq(r.current, 900);
	ck_assert_msg(migrate_run(owner, files, n + 1, &r, &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(r.applied, 0);
	ck_assert_int_eq(
		testdb_scalar(owner, "SELECT count(*) FROM migrate_probe"), 1);
	/* Now this database is newer than a build without 900. */
	ck_assert_int_eq(migrate_run(owner, embedded_migrations, n, &r, &e),
			 -1);
	ck_assert_msg(strstr(e.msg, "900_probe.sql"), "%s", e.msg);
	ck_assert_msg(strstr(e.msg, "newer"), "%s", e.msg);
	free(files);
}
END_TEST

/*
 * Every connection but the migrator's checks that the schema is its
 * build's: behind, it names the missing migration; ahead, it says the
 * database is newer.
 */
START_TEST(test_check_schema)
{
	struct embedded_file *files;
	struct err e = {0};
	size_t n = embedded_migrations_count;

	ck_assert_msg(migrate_check(owner, embedded_migrations, n, &e) == 0,
		      "%s", e.msg);
	files = calloc(n + 1, sizeof(*files));
	ck_assert_ptr_nonnull(files);
	memcpy(files, embedded_migrations, n * sizeof(*files));
	files[n] = (struct embedded_file){"900_probe.sql", "SELECT 1;\n", 10};
	ck_assert_int_eq(migrate_check(owner, files, n + 1, &e), -1);
	ck_assert_int_eq(e.code, ERR_UNAVAILABLE);
	ck_assert_msg(strstr(e.msg, "lacks migration 900_probe.sql") &&
			      strstr(e.msg, "run lagerbild migrate"),
		      "%s", e.msg);
	ck_assert_int_eq(migrate_check(owner, embedded_migrations, n - 1, &e),
			 -1);
	ck_assert_msg(strstr(e.msg, "newer"), "%s", e.msg);
	free(files);
}
END_TEST

START_TEST(test_failed_migration_leaves_nothing)
{
	static const char broken[] =
		"CREATE TABLE half_done (id integer); SELECT no_such_column;";
	struct embedded_file files[1] = {
		{"001_broken.sql", broken, sizeof(broken) - 1},
	};
	struct migrate_result r;
	struct err e = {0};
	struct db *fresh = NULL;

	/* A database of its own, without the real migrations. */
	ck_assert_int_eq(
		db_command(owner, "CREATE SCHEMA scratch", 0, NULL, &e), 0);
	ck_assert_int_eq(db_connect(&fresh, conninfo, &e), 0);
	ck_assert_int_eq(
		db_command(fresh, "SET search_path = scratch", 0, NULL, &e), 0);
	ck_assert_int_eq(migrate_run(fresh, files, 1, &r, &e), -1);
	ck_assert_msg(strstr(e.msg, "001_broken.sql failed"), "%s", e.msg);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM pg_tables"
					      " WHERE tablename = 'half_done'"),
			 0);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " scratch.schema_migrations"),
			 0);
	db_close(fresh);
}
END_TEST

START_TEST(test_misordered_files_refused)
{
	struct embedded_file files[2] = {
		{"002_b.sql", "SELECT 1;", 9},
		{"001_a.sql", "SELECT 1;", 9},
	};
	struct embedded_file unnamed[1] = {{"init.sql", "SELECT 1;", 9}};
	struct migrate_result r;
	struct err e = {0};

	ck_assert_int_eq(migrate_run(owner, files, 2, &r, &e), -1);
	ck_assert_msg(strstr(e.msg, "001_a.sql"), "%s", e.msg);
	ck_assert_int_eq(migrate_run(owner, unnamed, 1, &r, &e), -1);
	ck_assert_msg(strstr(e.msg, "init.sql"), "%s", e.msg);
}
END_TEST

struct migrator {
	const char *conninfo;
	int rc;
	int applied;
	char why[512];
};

static void *migrate_thread(void *arg)
{
	struct migrator *m = arg;
	struct migrate_result r = {0};
	struct db *mine = NULL;
	struct err e = {0};

	m->rc = -1;
	if (db_connect(&mine, m->conninfo, &e) == 0)
		m->rc = migrate_run(mine, embedded_migrations,
				    embedded_migrations_count, &r, &e);
	m->applied = r.applied;
	memcpy(m->why, e.msg, sizeof(m->why));
	db_close(mine);
	return NULL;
}

START_TEST(test_concurrent_migrators_apply_once)
{
	struct migrator m[4];
	pthread_t t[4];
	struct err e = {0};
	char conn2[128];

	/* An empty database: both race to apply everything. */
	ck_assert_int_eq(db_command(owner, "CREATE DATABASE lb_migrate_race", 0,
				    NULL, &e),
			 0);
	snprintf(conn2, sizeof(conn2), "dbname=lb_migrate_race");
	for (int i = 0; i < 4; i++) {
		m[i] = (struct migrator){.conninfo = conn2};
		pthread_create(&t[i], NULL, migrate_thread, &m[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	{
		int total = 0;

		for (int i = 0; i < 4; i++) {
			ck_assert_msg(m[i].rc == 0, "migrator %d: %s", i,
				      m[i].why);
			total += m[i].applied;
		}
		ck_assert_int_eq(total, (int)embedded_migrations_count);
	}
	ck_assert_int_eq(
		db_command(owner, "DROP DATABASE lb_migrate_race WITH (FORCE)",
			   0, NULL, &e),
		0);
}
END_TEST

Suite *migrate_suite(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("migrate");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_second_run_is_a_no_op);
	tcase_add_test(tc, test_checksums_are_sha256_of_the_files);
	tcase_add_test(tc, test_edited_migration_refused);
	tcase_add_test(tc, test_new_migration_applied_once);
	tcase_add_test(tc, test_check_schema);
	tcase_add_test(tc, test_failed_migration_leaves_nothing);
	tcase_add_test(tc, test_misordered_files_refused);
	tcase_add_test(tc, test_concurrent_migrators_apply_once);
	suite_add_tcase(s, tc);
	return s;
}
