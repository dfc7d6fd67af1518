/*
 * db.c -- libpq wrapper: parameterised statements, status checks, SQLSTATE
 * to err code, and logging of the failing statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

/* Server notices (NOTICE, WARNING) go to the log instead of raw stderr. */
static void on_notice(void *arg, const PGresult *res)
{
	const char *sev =
		PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	(void)arg;
	log_line((sev && strcmp(sev, "WARNING") == 0) ? LOG_WARNING : LOG_DEBUG,
		 NULL, "server: %s", msg ? msg : "(no message)");
}

int db_connect(struct db **out, const char *conninfo, struct err *e)
{
	struct db *db = NULL;
	const char *url = conninfo ? conninfo : getenv("DATABASE_URL");
	PGresult *res;

	*out = NULL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	/* An empty string makes libpq take everything from PG* variables. */
	db->conn = PQconnectdb(url ? url : "");
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
		const char *why = db->conn ? PQerrorMessage(db->conn) : "";
		size_t n = strcspn(why, "\n");

		err_set(e, ERR_UNAVAILABLE, "",
			"cannot connect to database: %.*s", (int)n, why);
		db_close(db);
		return -1;
	}
	PQsetNoticeReceiver(db->conn, on_notice, NULL);
	/* Nothing we do depends on the server's default zone or encoding. */
	if (PQsetClientEncoding(db->conn, "UTF8") != 0) {
		err_set(e, ERR_INTERNAL, "", "cannot set client encoding UTF8");
		db_close(db);
		return -1;
	}
	/*
	 * A statement whose client has gone (a sweep killed by its timer, a
	 * command interrupted) is cancelled within seconds instead of run to
	 * its end holding its locks: the next sweep waited on a killed one's
	 * lock for minutes.  A server that cannot (PostgreSQL 14 and later
	 * can, on Linux) is used all the same.
	 */
	res = PQexec(db->conn,
		     "SET client_connection_check_interval = '" DB_CLIENT_CHECK
		     "'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *why = PQerrorMessage(db->conn);

		log_warning("database: client_connection_check_interval not "
			    "set: %.*s",
			    (int)strcspn(why, "\n"), why);
	}
	PQclear(res);
	*out = db;
	return 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	if (db->conn)
		PQfinish(db->conn);
	free(db);
}

static enum err_code code_for(const char *state)
{
	if (strncmp(state, "LB", 2) == 0) {
		switch (state[4]) {
		case '1': /* negative balance */
		case '4': /* idempotency conflict */
		case '5': /* already reversed */
		case '6': /* lot expiry mismatch */ return ERR_CONFLICT;
		case '3': return ERR_NOT_FOUND;
		case '7': return ERR_FORBIDDEN;
		default: return ERR_INVALID;
		}
	}
	if (strcmp(state, "23505") == 0 || strcmp(state, "40001") == 0 ||
	    strcmp(state, "40P01") == 0)
		return ERR_CONFLICT;
	if (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0)
		return ERR_INVALID;
	if (strcmp(state, "42501") == 0)
		return ERR_FORBIDDEN;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
	    strncmp(state, "53", 2) == 0)
		return ERR_UNAVAILABLE;
	return ERR_INTERNAL;
}

/*
 * Turn a failed result into an err.  Domain failures (bad input, conflicts)
 * are the caller's to report; anything else is logged with its statement so
 * that an operator can see what broke.
 */
static void fail(struct db *db, const PGresult *res, const char *sql,
		 struct err *e)
{
	const char *state =
		res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary =
		res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *column =
		res ? PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
	enum err_code code;

	db->sqlstate[0] = '\0';
	if (state && strlen(state) == 5)
		memcpy(db->sqlstate, state, 6);
	if (PQstatus(db->conn) != CONNECTION_OK)
		code = ERR_UNAVAILABLE;
	else if (db->sqlstate[0])
		code = code_for(db->sqlstate);
	else
		code = ERR_INTERNAL;
	if (!primary) {
		const char *why = PQerrorMessage(db->conn);

		err_set(e, code, "", "database error: %.*s",
			(int)strcspn(why, "\n"), why);
	} else {
		err_set(e, code, column ? column : "", "%s", primary);
	}
	if (code == ERR_INTERNAL || code == ERR_UNAVAILABLE) {
		const char *kv[] = {"sqlstate", db->sqlstate, "query", sql,
				    NULL};

		log_line(LOG_ERROR, kv, "query failed: %s", e->msg);
	}
}

static PGresult *check(struct db *db, PGresult *res, const char *sql,
		       struct err *e)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		db->sqlstate[0] = '\0';
		return res;
	}
	fail(db, res, sql, e);
	PQclear(res);
	return NULL;
}

PGresult *db_exec(struct db *db, const char *sql, int nparams,
		  const char *const *params, struct err *e)
{
	PGresult *res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL,
				     NULL, 0);

	return check(db, res, sql, e);
}

int db_send(struct db *db, const char *sql, int nparams,
	    const char *const *params, struct err *e)
{
	if (PQsendQueryParams(db->conn, sql, nparams, NULL, params, NULL, NULL,
			      0) == 1)
		return 0;
	fail(db, NULL, sql, e);
	return -1;
}

PGresult *db_result(struct db *db, const char *sql, struct err *e)
{
	PGresult *res = PQgetResult(db->conn);

	/* One statement, one result; then libpq's end of it. */
	for (PGresult *r; (r = PQgetResult(db->conn)) != NULL;)
		PQclear(r);
	return check(db, res, sql, e);
}

static bool is_prepared(const struct db *db, const struct db_stmt *stmt)
{
	for (int i = 0; i < db->nprepared; i++)
		if (db->prepared[i] == stmt)
			return true;
	return false;
}

PGresult *db_exec_stmt(struct db *db, const struct db_stmt *stmt,
		       const char *const *params, struct err *e)
{
	PGresult *res;

	if (!is_prepared(db, stmt)) {
		if (db->nprepared == DB_MAX_PREPARED) {
			/* More statements than slots: run unprepared. */
			return db_exec(db, stmt->sql, stmt->nparams, params, e);
		}
		res = check(db,
			    PQprepare(db->conn, stmt->name, stmt->sql,
				      stmt->nparams, NULL),
			    stmt->sql, e);
		if (!res)
			return NULL;
		PQclear(res);
		db->prepared[db->nprepared++] = stmt;
	}
	res = PQexecPrepared(db->conn, stmt->name, stmt->nparams, params, NULL,
			     NULL, 0);
	return check(db, res, stmt->sql, e);
}

int db_command(struct db *db, const char *sql, int nparams,
	       const char *const *params, struct err *e)
{
	PGresult *res = db_exec(db, sql, nparams, params, e);

	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

int db_copy_begin(struct db *db, const char *sql, struct err *e)
{
	PGresult *res = PQexec(db->conn, sql);

	if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
		res = check(db, res, sql, e);
		if (!res)
			return -1;
		PQclear(res);
		return err_set(e, ERR_INTERNAL, "", "%s: not a COPY", sql);
	}
	PQclear(res);
	return 0;
}

int db_copy_put(struct db *db, const char *data, size_t len, struct err *e)
{
	/* COPY data goes in pieces: a message must stay under 1 GB. */
	const size_t piece = 1024 * 1024;

	for (size_t off = 0; off < len; off += piece)
		if (PQputCopyData(
			    db->conn, data + off,
			    (int)(len - off < piece ? len - off : piece)) != 1)
			return err_set(e, ERR_UNAVAILABLE, "",
				       "sending COPY data: %s",
				       PQerrorMessage(db->conn));
	return 0;
}

int db_copy_end(struct db *db, const char *sql, bool abandon, struct err *e)
{
	bool sent = PQputCopyEnd(db->conn, abandon ? "abandoned" : NULL) == 1;
	PGresult *res = PQgetResult(db->conn);

	/* An abandoned COPY fails as asked: not an error to log. */
	if (abandon)
		PQclear(res);
	else
		res = check(db, res, sql, e);
	/* Drain to the end of the command, as libpq wants. */
	for (PGresult *r; (r = PQgetResult(db->conn)) != NULL;)
		PQclear(r);
	if (abandon)
		return err_set(e, ERR_INTERNAL, "", "%s: abandoned", sql);
	if (!res)
		return -1;
	PQclear(res);
	return sent ? 0 :
		      err_set(e, ERR_UNAVAILABLE, "", "ending COPY: %s",
			      PQerrorMessage(db->conn));
}

int db_script(struct db *db, const char *sql, struct err *e)
{
	/* PQexec runs all statements of the script; the last result tells. */
	PGresult *res = check(db, PQexec(db->conn, sql), "(script)", e);

	if (!res)
		return -1;
	PQclear(res);
	return 0;
}

int db_begin(struct db *db, struct err *e)
{
	if (db_command(db, "BEGIN", 0, NULL, e) < 0)
		return -1;
	db->in_tx = true;
	return 0;
}

int db_commit(struct db *db, struct err *e)
{
	int rc = db_command(db, "COMMIT", 0, NULL, e);

	db->in_tx = false;
	return rc;
}

void db_rollback(struct db *db)
{
	PGresult *res;

	if (!db)
		return;
	/* Outside a transaction ROLLBACK only earns the server's warning
	 * ("there is no transaction in progress"), as on a failure before
	 * the caller's BEGIN. */
	if (PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		res = PQexec(db->conn, "ROLLBACK");
		PQclear(res);
	}
	db->in_tx = false;
}

int db_set_app_role(struct db *db, struct err *e)
{
	return db_command(db, "SET ROLE " DB_APP_ROLE, 0, NULL, e);
}

int db_act_as_system(struct db *db, const char *actor, struct err *e)
{
	const char *params[] = {actor};

	return db_command(
		db,
		"SELECT set_config('lagerbild.role', 'system', false),"
		" set_config('lagerbild.actor', $1, false)",
		1, params, e);
}

int db_become_app(struct db *db, const char *actor, struct err *e)
{
	if (db_set_app_role(db, e) < 0)
		return -1;
	return db_act_as_system(db, actor, e);
}

bool db_failed_with(const struct db *db, const char *sqlstate)
{
	return strcmp(db->sqlstate, sqlstate) == 0;
}

bool db_lost_race(const struct db *db)
{
	return db_failed_with(db, "23505") || db_failed_with(db, "40P01") ||
	       db_failed_with(db, "40001");
}

const char *db_text(const PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col);
}

int64_t db_int64(const PGresult *res, int row, int col)
{
	const char *s, *d;
	uint64_t v = 0;
	bool neg;

	if (PQgetisnull(res, row, col))
		return 0;
	/*
	 * The server sends a bigint as an optional '-' and digits.  Read by
	 * hand, as strtoll reads them: strtoll's locale and base handling
	 * cost several times the reading itself, and a national allocator
	 * run reads some 1.5 million.  Anything longer than a bigint's 19
	 * digits, or beyond one's range (no bigint), goes to strtoll, which
	 * clamps.
	 */
	s = PQgetvalue(res, row, col);
	neg = *s == '-';
	for (d = s + neg; *d >= '0' && *d <= '9' && d - s - neg < 19; d++)
		v = v * 10 + (uint64_t)(*d - '0');
	if ((*d >= '0' && *d <= '9') || v > (uint64_t)INT64_MAX + neg)
		return strtoll(s, NULL, 10);
	/* -v without overflow where v is 2^63 */
	return !neg ? (int64_t)v : v == 0 ? 0 : -(int64_t)(v - 1) - 1;
}

char *db_words_array(const char *const *v, size_t n)
{
	size_t len = 3;
	char *out, *p;

	if (n == 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	out = malloc(len);
	if (!out)
		return NULL;
	p = out;
	*p++ = '{';
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(v[i]);

		if (i > 0)
			*p++ = ',';
		memcpy(p, v[i], k);
		p += k;
	}
	*p++ = '}';
	*p = '\0';
	return out;
}
