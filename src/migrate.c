/*
 * migrate.c -- apply numbered migrations, refusing edited ones.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "migrate.h"
#include "validate.h"

/* Any fixed key will do; it only has to be the same for every migrator. */
#define MIGRATE_LOCK_KEY "7403524417"

void migrate_checksum(const char *data, size_t len, char out[65])
{
	unsigned char hash[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(hash, (const unsigned char *)data, len);
	sodium_bin2hex(out, 65, hash, sizeof(hash));
}

/* The version number of "NNN_name.sql": the digits before the first '_'. */
static int file_version(const char *name, int *version, struct err *e)
{
	char digits[16];
	size_t n = strspn(name, "0123456789");
	int64_t v;

	if (n == 0 || n >= sizeof(digits) || name[n] != '_')
		return err_set(e, ERR_INTERNAL, "",
			       "migration %s: name must start with NNN_", name);
	memcpy(digits, name, n);
	digits[n] = '\0';
	if (parse_int64(digits, 1, 999999, &v, "version", e) < 0)
		return -1;
	*version = (int)v;
	return 0;
}

static int check_order(const struct embedded_file *files, size_t n,
		       struct err *e)
{
	int prev = 0, v;

	for (size_t i = 0; i < n; i++) {
		if (file_version(files[i].name, &v, e) < 0)
			return -1;
		if (v <= prev)
			return err_set(e, ERR_INTERNAL, "",
				       "migration %s: version %d is not above "
				       "the previous one (%d)",
				       files[i].name, v, prev);
		prev = v;
	}
	return 0;
}

/*
 * Compare what the database has applied with the files: every applied
 * version must exist with the same checksum.
 */
static int check_applied(const PGresult *res, const struct embedded_file *files,
			 size_t n, struct err *e)
{
	for (int row = 0; row < PQntuples(res); row++) {
		int64_t version = db_int64(res, row, 0);
		const char *name = db_text(res, row, 1);
		const char *sum = db_text(res, row, 2);
		const struct embedded_file *f = NULL;
		char have[65];
		int v;

		for (size_t i = 0; i < n && !f; i++) {
			if (file_version(files[i].name, &v, e) < 0)
				return -1;
			if (v == version)
				f = &files[i];
		}
		if (!f)
			return err_set(e, ERR_CONFLICT, "",
				       "the database has migration %s, which "
				       "this build does not know: it is newer "
				       "than this lagerbild",
				       name);
		migrate_checksum(f->data, f->len, have);
		if (strcmp(have, sum) != 0)
			return err_set(e, ERR_CONFLICT, "",
				       "migration %s was edited after it was "
				       "applied (database has checksum %.12s, "
				       "this build %.12s); released migrations "
				       "are never edited: add a new one",
				       f->name, sum, have);
	}
	return 0;
}

static bool is_applied(const PGresult *res, int version)
{
	for (int row = 0; row < PQntuples(res); row++)
		if (db_int64(res, row, 0) == version)
			return true;
	return false;
}

static int apply_one(struct db *db, const struct embedded_file *f, int version,
		     struct err *e)
{
	char vbuf[16], sum[65];
	const char *params[3] = {vbuf, f->name, sum};

	snprintf(vbuf, sizeof(vbuf), "%d", version);
	migrate_checksum(f->data, f->len, sum);
	if (db_begin(db, e) < 0)
		return -1;
	/* What a function made with SET search_path FROM CURRENT keeps:
	 * the schema, then the session's temporary one, never before it
	 * (sql/019). */
	if (db_command(db,
		       "SELECT set_config('search_path',"
		       " format('%I, pg_temp', current_schema()), true)",
		       0, NULL, e) < 0 ||
	    db_script(db, f->data, e) < 0) {
		db_rollback(db);
		if (e->code != ERR_UNAVAILABLE)
			e->code = ERR_INTERNAL;
		return err_prefix(e, "migration %s failed: ", f->name);
	}
	if (db_command(
		    db,
		    "INSERT INTO schema_migrations (version, name, checksum) "
		    "VALUES ($1, $2, $3)",
		    3, params, e) < 0 ||
	    db_commit(db, e) < 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

/*
 * The applied migrations, checked against files (check_applied): a result
 * to PQclear, or NULL with e set.
 */
static PGresult *read_applied(struct db *db, const struct embedded_file *files,
			      size_t n, struct err *e)
{
	PGresult *res = db_exec(db,
				"SELECT version, name, checksum"
				" FROM schema_migrations ORDER BY version",
				0, NULL, e);

	if (res && check_applied(res, files, n, e) < 0) {
		PQclear(res);
		return NULL;
	}
	return res;
}

int migrate_check(struct db *db, const struct embedded_file *files, size_t n,
		  struct err *e)
{
	PGresult *res = read_applied(db, files, n, e);
	int rc = -1, v;

	if (!res)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (file_version(files[i].name, &v, e) < 0)
			goto out;
		if (!is_applied(res, v)) {
			err_set(e, ERR_UNAVAILABLE, "",
				"the database lacks migration %s, which this "
				"lagerbild needs: run lagerbild migrate",
				files[i].name);
			goto out;
		}
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int migrate_run(struct db *db, const struct embedded_file *files, size_t n,
		struct migrate_result *out, struct err *e)
{
	PGresult *res = NULL;
	const char *lock[] = {MIGRATE_LOCK_KEY};
	bool locked = false;
	int rc = -1, v;

	out->applied = 0;
	out->current = 0;
	if (check_order(files, n, e) < 0)
		goto out;
	if (db_command(db, "SELECT pg_advisory_lock($1::bigint)", 1, lock, e) <
	    0)
		goto out;
	locked = true;
	if (db_command(db,
		       "CREATE TABLE IF NOT EXISTS schema_migrations ("
		       " version integer PRIMARY KEY,"
		       " name text NOT NULL,"
		       " checksum text NOT NULL,"
		       " applied_at timestamptz NOT NULL DEFAULT now(),"
		       " applied_by text NOT NULL DEFAULT current_user)",
		       0, NULL, e) < 0)
		goto out;
	res = read_applied(db, files, n, e);
	if (!res)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (file_version(files[i].name, &v, e) < 0)
			goto out;
		if (!is_applied(res, v)) {
			if (apply_one(db, &files[i], v, e) < 0)
				goto out;
			out->applied++;
		}
		out->current = v;
	}
	rc = 0;
out:
	PQclear(res);
	if (locked) {
		struct err ignored;

		db_command(db, "SELECT pg_advisory_unlock($1::bigint)", 1, lock,
			   &ignored);
	}
	return rc;
}
