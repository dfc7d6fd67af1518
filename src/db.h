/*
 * db.h -- the one way lagerbild talks to PostgreSQL.
 *
 * Every statement goes out with $n parameters (PQexecParams or a named
 * prepared statement).  The wrapper checks the result status, turns the
 * SQLSTATE into an err code, and logs the failing statement when the failure
 * is not one the caller is expected to report itself (bad input, conflicts).
 */
#ifndef LAGERBILD_DB_H
#define LAGERBILD_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "err.h"

/* The role that owns nothing, under which all non-administrative work runs. */
#define DB_APP_ROLE "lagerbild_app"

/* A statement prepared on first use, once per connection. */
struct db_stmt {
	const char *name; /* unique among statements; "" is not allowed */
	const char *sql;
	int nparams;
};

#define DB_MAX_PREPARED 64

struct db {
	PGconn *conn;
	bool in_tx;
	const struct db_stmt *prepared[DB_MAX_PREPARED];
	int nprepared;
	char sqlstate[6]; /* of the last failure, "" if none or no server */
};

/* How often a running statement checks that its client is still there. */
#define DB_CLIENT_CHECK "5s"

/*
 * Connect using conninfo, or when it is NULL, $DATABASE_URL, or failing that
 * the standard PG* variables, with the client encoding UTF8 and, where
 * the server allows it, client_connection_check_interval DB_CLIENT_CHECK.
 * The caller frees *out with db_close.
 */
int db_connect(struct db **out, const char *conninfo, struct err *e);

/* Close and free.  Accepts NULL. */
void db_close(struct db *db);

/*
 * Run one statement with text parameters (NULL entries are SQL NULL).
 * Returns the result, which the caller PQclears, or NULL with e set.
 */
PGresult *db_exec(struct db *db, const char *sql, int nparams,
		  const char *const *params, struct err *e);

/*
 * Send one statement as db_exec runs it, without waiting: the connection
 * works on it while the caller does something else, and db_result
 * collects its result.  Nothing else may be sent in between.  0 or -1.
 */
int db_send(struct db *db, const char *sql, int nparams,
	    const char *const *params, struct err *e);

/* The result of the statement db_send sent (sql, for messages): as
 * db_exec. */
PGresult *db_result(struct db *db, const char *sql, struct err *e);

/* As db_exec, preparing stmt on this connection the first time. */
PGresult *db_exec_stmt(struct db *db, const struct db_stmt *stmt,
		       const char *const *params, struct err *e);

/* Run a statement whose result is not needed.  0 or -1. */
int db_command(struct db *db, const char *sql, int nparams,
	       const char *const *params, struct err *e);

/*
 * COPY ... FROM STDIN in steps, for data made while it is sent:
 * db_copy_begin starts sql, db_copy_put sends len bytes of COPY's format
 * (the caller escapes it; as often as needed), and db_copy_end ends it --
 * with abandon, the COPY fails and writes nothing.  Each 0, or -1 with e
 * set.  Once begun, a COPY must be ended, also after a failed put;
 * nothing else runs on db until then.
 */
int db_copy_begin(struct db *db, const char *sql, struct err *e);
int db_copy_put(struct db *db, const char *data, size_t len, struct err *e);
int db_copy_end(struct db *db, const char *sql, bool abandon, struct err *e);

/*
 * Run a script of several statements without parameters (migrations, seed
 * data) through the simple query protocol.  0 or -1.
 */
int db_script(struct db *db, const char *sql, struct err *e);

/* Transactions.  db_rollback never fails the caller: it is the error path. */
int db_begin(struct db *db, struct err *e);
int db_commit(struct db *db, struct err *e);
void db_rollback(struct db *db);

/* SET ROLE lagerbild_app for the rest of the session. */
int db_set_app_role(struct db *db, struct err *e);

/*
 * Act for the rest of the session as the command line does: the system
 * identity (row-level security admits it everywhere), named actor in the
 * ledger's recorded_by and the audit log.  A request's auth_begin overrides
 * this for its own transaction.
 */
int db_act_as_system(struct db *db, const char *actor, struct err *e);

/* db_set_app_role, then db_act_as_system. */
int db_become_app(struct db *db, const char *actor, struct err *e);

/* True when the last failure had this SQLSTATE. */
bool db_failed_with(const struct db *db, const char *sqlstate);

/*
 * True when the last failure was a lost race that deserves a retry of the
 * whole transaction: a deadlock, a serialization failure, or a unique key
 * that a concurrent transaction took first.
 */
bool db_lost_race(const struct db *db);

/* Field accessors for a row of a result: text, and int64 (0 when NULL). */
const char *db_text(const PGresult *res, int row, int col);
int64_t db_int64(const PGresult *res, int row, int col);

/*
 * "{a,b,c}": a PostgreSQL array literal of items the caller has checked to
 * be plain words (no quotes, commas, braces, spaces or backslashes).
 * NULL when n is 0 or memory is short; the caller frees.
 */
char *db_words_array(const char *const *v, size_t n);

#endif
