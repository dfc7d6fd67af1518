/*
 * testdb.h -- a fresh, migrated database for each database test.
 *
 * The runner migrates one template database before the suites start
 * (testdb_init); each test then copies it (CREATE DATABASE ... TEMPLATE),
 * which takes milliseconds, and drops its copy afterwards.  The server comes
 * from the PG* variables that tests/run.sh exports.
 */
#ifndef LAGERBILD_TESTDB_H
#define LAGERBILD_TESTDB_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "db.h"

/* Create and migrate the template.  Call once, before forking tests. */
bool testdb_init(void);

/* Drop the template.  Call once at the end. */
void testdb_fini(void);

/* Create this test's database; returns its conninfo (static storage). */
const char *testdb_create(void);

/* Drop this test's database. */
void testdb_drop(void);

/* A connection to this test's database as its owner; aborts the test on failure. */
struct db *testdb_connect(void);

/* As testdb_connect, then SET ROLE to the application role. */
struct db *testdb_connect_app(const char *actor);

/* Run SQL and return the first column of its one row as int64. */
int64_t testdb_scalar(struct db *db, const char *sql);

/* As testdb_scalar, with $1.. parameters. */
int64_t testdb_scalar_params(struct db *db, const char *sql, int nparams,
			     const char *const *params);

/* Insert a site or a product for a test; returns its id. */
int64_t testdb_site(struct db *db, const char *region, const char *code);
int64_t testdb_product(struct db *db, const char *vnr, const char *name);

/* Run SQL without parameters; aborts the test on failure. */
void testdb_exec(struct db *db, const char *sql);

/*
 * Record a stock event at noon (Stockholm) days_ago days back, straight
 * into the ledger table (its triggers keep the balances), as db (the
 * owner, acting as the system); lot and expiry may be NULL.
 */
void testdb_event_ago(struct db *db, int64_t site, int64_t product,
		      const char *kind, long qty, int days_ago, const char *lot,
		      const char *expiry);

/* Add a user of role (and region, or NULL) and return a token for it, in
 * static storage that the fourth call after reuses. */
char *testdb_token(const char *user, enum role role, const char *region);

/*
 * Run the binary ($LAGERBILD_BIN) with args (fixed words, NULL-terminated,
 * at most 14) against dburl; its stdout (and its stderr too, with
 * with_stderr) into out, NUL-terminated and cut at size.  Returns its exit
 * status, or -1 if it did not exit.
 */
int testdb_cli(const char *dburl, bool with_stderr, char *out, size_t size,
	       const char *const *args);

#endif
