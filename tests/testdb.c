/*
 * testdb.c -- per-test databases copied from a migrated template.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "embedded.h"
#include "migrate.h"
#include "testdb.h"

static char template_name[64];
static char test_name[64];
static char test_conninfo[128];

/* Run one administrative statement on the maintenance database. */
static bool admin(const char *sql)
{
	PGconn *conn = PQconnectdb(
		"dbname=postgres options='-c client_min_messages=warning'");
	PGresult *res = NULL;
	bool ok = false;

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "testdb: %s", PQerrorMessage(conn));
		goto out;
	}
	res = PQexec(conn, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "testdb: %s: %s", sql, PQerrorMessage(conn));
out:
	PQclear(res);
	PQfinish(conn);
	return ok;
}

bool testdb_init(void)
{
	char sql[160], conninfo[96];
	struct migrate_result r;
	struct db *db = NULL;
	struct err e = {0};
	bool ok = false;

	snprintf(template_name, sizeof(template_name), "lb_tmpl_%ld",
		 (long)getpid());
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", template_name);
	if (!admin(sql))
		return false;
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", template_name);
	if (!admin(sql))
		return false;
	snprintf(conninfo, sizeof(conninfo), "dbname=%s", template_name);
	if (db_connect(&db, conninfo, &e) < 0 ||
	    migrate_run(db, embedded_migrations, embedded_migrations_count, &r,
			&e) < 0) {
		fprintf(stderr, "testdb: template: %s\n", e.msg);
		goto out;
	}
	ok = true;
out:
	/* A template must have no connections when it is copied. */
	db_close(db);
	return ok;
}

void testdb_fini(void)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", template_name);
	admin(sql);
}

const char *testdb_create(void)
{
	static unsigned counter;
	char sql[200];

	snprintf(test_name, sizeof(test_name), "lb_t_%ld_%u", (long)getpid(),
		 counter++);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE %s", test_name,
		 template_name);
	ck_assert_msg(admin(sql), "cannot create test database %s", test_name);
	snprintf(test_conninfo, sizeof(test_conninfo), "dbname=%s", test_name);
	return test_conninfo;
}

void testdb_drop(void)
{
	char sql[200];

	if (!test_name[0])
		return;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 test_name);
	admin(sql);
	test_name[0] = '\0';
}

struct db *testdb_connect(void)
{
	struct db *db = NULL;
	struct err e = {0};

	ck_assert_msg(db_connect(&db, test_conninfo, &e) == 0, "connect: %s",
		      e.msg);
	return db;
}

struct db *testdb_connect_app(const char *actor)
{
	struct db *db = testdb_connect();
	struct err e = {0};

	ck_assert_msg(db_become_app(db, actor, &e) == 0, "set role: %s", e.msg);
	return db;
}

int64_t testdb_scalar_params(struct db *db, const char *sql, int nparams,
			     const char *const *params)
{
	struct err e = {0};
	PGresult *res = db_exec(db, sql, nparams, params, &e);
	int64_t v;

	ck_assert_msg(res != NULL, "%s: %s", sql, e.msg);
	ck_assert_msg(PQntuples(res) == 1, "%s: %d rows", sql, PQntuples(res));
	v = db_int64(res, 0, 0);
	PQclear(res);
	return v;
}

int64_t testdb_scalar(struct db *db, const char *sql)
{
	return testdb_scalar_params(db, sql, 0, NULL);
}

int64_t testdb_site(struct db *db, const char *region, const char *code)
{
	const char *params[] = {region, code};
	struct err e = {0};
	PGresult *res = db_exec(
		db,
		"INSERT INTO site (region_code, code, name, kind, host_region_code)"
		" VALUES ($1, $2, 'Testlager ' || $2, 'central', $1) RETURNING id",
		2, params, &e);
	int64_t id;

	ck_assert_msg(res != NULL, "site %s: %s", code, e.msg);
	id = db_int64(res, 0, 0);
	PQclear(res);
	return id;
}

int64_t testdb_product(struct db *db, const char *vnr, const char *name)
{
	const char *params[] = {vnr, name};
	struct err e = {0};
	PGresult *res = db_exec(
		db,
		"INSERT INTO product (category, name, vnr, atc, pack_size)"
		" VALUES ('medicine', $2, $1, 'N01AX10', 10) RETURNING id",
		2, params, &e);
	int64_t id;

	ck_assert_msg(res != NULL, "product %s: %s", vnr, e.msg);
	id = db_int64(res, 0, 0);
	PQclear(res);
	return id;
}

void testdb_exec(struct db *db, const char *sql)
{
	struct err e = {0};

	ck_assert_msg(db_command(db, sql, 0, NULL, &e) == 0, "%s: %s", sql,
		      e.msg);
}

void testdb_event_ago(struct db *db, int64_t site, int64_t product,
		      const char *kind, long qty, int days_ago, const char *lot,
		      const char *expiry)
{
	char s[24], p[24], q[24], d[24];
	const char *params[] = {s, p, kind, q, d, lot, expiry};
	struct err e = {0};

	snprintf(s, sizeof(s), "%lld", (long long)site);
	snprintf(p, sizeof(p), "%lld", (long long)product);
	snprintf(q, sizeof(q), "%ld", qty);
	snprintf(d, sizeof(d), "%d", days_ago);
	ck_assert_msg(
		db_command(
			db,
			"INSERT INTO stock_event (site_id, product_id, kind,"
			" quantity, lot, expiry, idempotency_key,"
			" payload_hash, occurred_at, recorded_by)"
			" VALUES ($1, $2, $3::stock_event_kind, $4,"
			" coalesce($6, ''), $7::date, gen_random_uuid(),"
			" sha256(convert_to(gen_random_uuid()::text, 'UTF8')),"
			" ((now() AT TIME ZONE 'Europe/Stockholm')::date"
			"  - $5::integer + time '12:00')"
			" AT TIME ZONE 'Europe/Stockholm', 'test')",
			7, params, &e) == 0,
		"event %s %ld: %s", kind, qty, e.msg);
}

char *testdb_token(const char *user, enum role role, const char *region)
{
	static char tok[4][AUTH_TOKEN_MAX];
	static int k;
	struct db *db = testdb_connect();
	struct err e = {0};
	int64_t uid, tid;
	char *out = tok[k++ % 4];

	ck_assert_msg(auth_user_add(db, user, role, region, NULL, NULL, &uid,
				    &e) == 0,
		      "%s", e.msg);
	ck_assert_msg(auth_token_create(db, user, "t", 1, out, &tid, &e) == 0,
		      "%s", e.msg);
	db_close(db);
	return out;
}

int testdb_cli(const char *dburl, bool with_stderr, char *out, size_t size,
	       const char *const *args)
{
	const char *bin = getenv("LAGERBILD_BIN");
	char *argv[16];
	int fd[2], status = -1, n = 0;
	size_t len = 0;
	pid_t pid;

	ck_assert_ptr_nonnull(bin);
	argv[n++] = (char *)bin;
	for (; args[n - 1] && n < 15; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	ck_assert_int_eq(pipe(fd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("DATABASE_URL", dburl, 1);
		dup2(fd[1], 1);
		if (with_stderr)
			dup2(fd[1], 2);
		close(fd[0]);
		execv(bin, argv);
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		ssize_t k = read(fd[0], out + len, size - 1 - len);

		if (k <= 0)
			break;
		len += (size_t)k;
	}
	out[len] = '\0';
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
