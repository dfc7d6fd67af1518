/*
 * demo.c -- run the embedded demo scripts (contrib/demo).
 *
 * 01_catalog.sql inserts sites and products; 02_activity.sql defines
 * pg_temp.demo_activity(days, seed), which inserts the events through the
 * ledger trigger and returns how many it inserted.
 */
#include <stdio.h>

#include "demo.h"
#include "embedded.h"

static int count(struct db *db, const char *sql, int64_t *out, struct err *e)
{
	PGresult *res = db_exec(db, sql, 0, NULL, e);

	if (!res)
		return -1;
	*out = db_int64(res, 0, 0);
	PQclear(res);
	return 0;
}

int demo_load(struct db *db, int days, double seed, struct demo_result *out,
	      struct err *e)
{
	char dbuf[16], sbuf[32];
	const char *params[2] = {dbuf, sbuf};
	PGresult *res = NULL;
	int64_t existing;

	if (days < 1 || days > 365)
		return err_set(e, ERR_INVALID, "days",
			       "days %d: must be between 1 and 365", days);
	if (seed < -1.0 || seed > 1.0)
		return err_set(e, ERR_INVALID, "seed",
			       "seed %g: must be between -1 and 1", seed);
	snprintf(dbuf, sizeof(dbuf), "%d", days);
	snprintf(sbuf, sizeof(sbuf), "%.17g", seed);
	if (db_begin(db, e) < 0)
		return -1;
	if (count(db, "SELECT count(*) FROM site", &existing, e) < 0)
		goto fail;
	if (existing > 0) {
		err_set(e, ERR_CONFLICT, "",
			"the database already has %lld sites; the demo loads "
			"only into an empty database",
			(long long)existing);
		goto fail;
	}
	for (size_t i = 0; i < embedded_demo_count; i++) {
		if (db_script(db, embedded_demo[i].data, e) < 0) {
			err_prefix(e,
				   "demo script %s: ", embedded_demo[i].name);
			goto fail;
		}
	}
	res = db_exec(db,
		      "SELECT pg_temp.demo_activity($1::integer, $2::float8)",
		      2, params, e);
	if (!res)
		goto fail;
	out->events = db_int64(res, 0, 0);
	PQclear(res);
	if (count(db, "SELECT count(*) FROM site", &out->sites, e) < 0 ||
	    count(db, "SELECT count(*) FROM product", &out->products, e) < 0 ||
	    db_commit(db, e) < 0)
		goto fail;
	return 0;
fail:
	db_rollback(db);
	return -1;
}
