/*
 * quarantine.c -- placing, releasing and listing quarantines of lots (see
 * quarantine.h).  The rules that matter for integrity -- one open
 * quarantine per lot, released once, never deleted, region scoping -- are
 * the database's (sql/007_readiness.sql); this module asks first where a
 * clear answer beats a constraint's message.
 */
#include <stdio.h>
#include <string.h>

#include "quarantine.h"
#include "validate.h"

/* The row shape of quarantine_list and quarantine_get. */
#define QUARANTINE_SELECT                                                    \
	"SELECT q.id, q.region_code::text AS region, s.code AS site,"        \
	" coalesce(p.vnr, p.npl_pack_id, p.gtin) AS product,"                \
	" q.product_id, p.name AS product_name,"                             \
	" nullif(q.lot, '') AS lot, coalesce(b.quantity, 0) AS quantity,"    \
	" b.expiry::text AS expiry, q.reason,"                               \
	" to_char(q.since AT TIME ZONE 'UTC',"                               \
	" 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS since, q.created_by,"         \
	" q.released_at IS NULL AS open,"                                    \
	" to_char(q.released_at AT TIME ZONE 'UTC',"                         \
	" 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS released_at,"                 \
	" q.released_by, q.release_reason"                                   \
	" FROM lot_quarantine q"                                             \
	" JOIN site s ON s.region_code = q.region_code AND s.id = q.site_id" \
	" JOIN product p ON p.id = q.product_id"                             \
	" LEFT JOIN stock_balance b ON b.region_code = q.region_code"        \
	" AND b.site_id = q.site_id AND b.product_id = q.product_id"         \
	" AND b.lot = q.lot"

int quarantine_check(const char *lot, const char *reason, struct err *e)
{
	if (lot && validate_lot(lot, "lot", e) < 0)
		return -1;
	if (!reason)
		return err_set(e, ERR_INVALID, "reason",
			       "reason: required (say why: a recall, a "
			       "cold-chain break...)");
	return validate_text(reason, QUARANTINE_REASON_MAX, false, "reason", e);
}

/* How a lot reads in a message: its number, or that it has none. */
static void lot_words(const char *lot, char *out, size_t size)
{
	if (lot && lot[0])
		snprintf(out, size, "lot \"%s\"", lot);
	else
		snprintf(out, size, "the stock without a lot number");
}

int quarantine_place(struct db *db, const struct quarantine_spec *q,
		     int64_t *id, struct err *e)
{
	char site[24], product[24], what[96];
	const char *lot = q->lot ? q->lot : "";
	const char *params[5] = {q->region, site, product, lot, q->reason};
	PGresult *res = NULL;
	int64_t stock;
	int rc = -1;

	*id = 0;
	if (quarantine_check(lot, q->reason, e) < 0 ||
	    validate_region_code(q->region, "region", e) < 0)
		return -1;
	snprintf(site, sizeof(site), "%lld", (long long)q->site_id);
	snprintf(product, sizeof(product), "%lld", (long long)q->product_id);
	lot_words(lot, what, sizeof(what));
	/* What both refusals need, in one round trip before the insert. */
	res = db_exec(db,
		      "SELECT q.id, to_char(q.since AT TIME ZONE 'UTC',"
		      "  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		      " coalesce((SELECT quantity FROM stock_balance"
		      "  WHERE region_code = $1 AND site_id = $2"
		      "  AND product_id = $3 AND lot = $4), 0)"
		      " FROM (VALUES (1)) one"
		      " LEFT JOIN lot_quarantine q ON q.region_code = $1"
		      "  AND q.site_id = $2 AND q.product_id = $3"
		      "  AND q.lot = $4 AND q.released_at IS NULL",
		      4, params, e);
	if (!res)
		goto out;
	if (!PQgetisnull(res, 0, 0)) {
		err_set(e, ERR_CONFLICT, "lot",
			"%s is already in quarantine %s (since %s): release "
			"that one first",
			what, db_text(res, 0, 0), db_text(res, 0, 1));
		goto out;
	}
	stock = db_int64(res, 0, 2);
	PQclear(res);
	/* A concurrent placement of the same lot meets the unique index and
	 * is a conflict too (23505). */
	res = db_exec(db,
		      "INSERT INTO lot_quarantine (region_code, site_id,"
		      " product_id, lot, reason) VALUES ($1, $2, $3, $4, $5)"
		      " RETURNING id",
		      5, params, e);
	if (!res) {
		if (db_failed_with(db, "42501"))
			err_set(e, ERR_FORBIDDEN, "site",
				"region %s's stock is quarantined by that "
				"region's contact person only",
				q->region);
		else if (db_failed_with(db, "23505"))
			err_set(e, ERR_CONFLICT, "lot",
				"%s is already in quarantine", what);
		goto out;
	}
	/*
	 * Only now, so that a caller who may not write the region is told
	 * that rather than that the stock it cannot see is not there.
	 */
	if (stock <= 0) {
		*id = 0;
		if (lot[0])
			err_set(e, ERR_CONFLICT, "lot",
				"%s: no stock of it at this site, so nothing "
				"to quarantine (check the lot number)",
				what);
		else
			err_set(e, ERR_CONFLICT, "lot",
				"no stock without a lot number at this site, "
				"so nothing to quarantine (name the lot to "
				"hold back)");
		goto out;
	}
	*id = db_int64(res, 0, 0);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int quarantine_region(struct db *db, int64_t id, char region[3], struct err *e)
{
	char id_s[24];
	const char *params[1] = {id_s};
	PGresult *res;
	int rc = -1;

	snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
	res = db_exec(db, "SELECT lb_quarantine_region($1::bigint)", 1, params,
		      e);
	if (!res)
		return -1;
	if (PQgetisnull(res, 0, 0)) {
		err_set(e, ERR_NOT_FOUND, "id",
			"quarantine %s: no such "
			"quarantine",
			id_s);
		goto out;
	}
	memcpy(region, db_text(res, 0, 0), 3);
	region[2] = '\0';
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/*
 * The state of quarantine id as the caller sees it: found (or ERR_NOT_FOUND),
 * and whether it is released (then ERR_CONFLICT saying by whom and when).
 */
static int still_open(struct db *db, const char *id_s, char region[3],
		      int64_t *product_id, struct err *e)
{
	const char *params[1] = {id_s};
	PGresult *res;
	int rc = -1;

	res = db_exec(db,
		      "SELECT region_code, product_id, released_at IS NOT NULL,"
		      " to_char(released_at AT TIME ZONE 'UTC',"
		      " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), released_by"
		      " FROM lot_quarantine WHERE id = $1",
		      1, params, e);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "id",
			"quarantine %s: no such "
			"quarantine",
			id_s);
		goto out;
	}
	if (region) {
		memcpy(region, db_text(res, 0, 0), 3);
		region[2] = '\0';
	}
	if (product_id)
		*product_id = db_int64(res, 0, 1);
	if (strcmp(db_text(res, 0, 2), "t") == 0) {
		err_set(e, ERR_CONFLICT, "id",
			"quarantine %s was released at %s by %s: a quarantine "
			"is released once; place a new one if needed",
			id_s, db_text(res, 0, 3), db_text(res, 0, 4));
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int quarantine_release(struct db *db, int64_t id, const char *reason,
		       char region[3], int64_t *product_id, struct err *e)
{
	char id_s[24], reg[3];
	const char *params[3] = {reg, id_s, reason};
	PGresult *res = NULL;
	int rc = -1;

	if (quarantine_check(NULL, reason, e) < 0)
		return -1;
	snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
	if (still_open(db, id_s, reg, product_id, e) < 0)
		return -1;
	if (region)
		memcpy(region, reg, 3);
	/*
	 * The trigger stamps released_at and released_by.  A release that
	 * commits between the check and here leaves this one nothing to
	 * update (the row is re-read after its lock), and so does a policy
	 * that does not admit the caller: still_open tells which.
	 */
	res = db_exec(db,
		      "UPDATE lot_quarantine SET release_reason = $3"
		      " WHERE region_code = $1 AND id = $2"
		      " AND released_at IS NULL RETURNING id",
		      3, params, e);
	if (!res) {
		if (db_failed_with(db, "42501"))
			err_set(e, ERR_FORBIDDEN, "id",
				"quarantine %s is region %s's: released by "
				"that region's contact person only",
				id_s, reg);
		goto out;
	}
	if (PQntuples(res) == 0) {
		if (still_open(db, id_s, NULL, NULL, e) == 0)
			err_set(e, ERR_FORBIDDEN, "id",
				"quarantine %s is region %s's: released by "
				"that region's contact person only",
				id_s, reg);
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

int quarantine_list(struct db *db, const struct quarantine_filter *f,
		    PGresult **out, struct err *e)
{
	char site[24] = "", product[24] = "", after[24], limit[24];
	const char *params[6];

	*out = NULL;
	if (f->limit < 1 || f->limit > QUARANTINE_LIST_MAX)
		return err_set(e, ERR_INVALID, "limit",
			       "limit %ld: must be 1 to %d", f->limit,
			       QUARANTINE_LIST_MAX);
	if (f->region && validate_region_code(f->region, "region", e) < 0)
		return -1;
	if (f->site_id)
		snprintf(site, sizeof(site), "%lld", (long long)f->site_id);
	if (f->product_id)
		snprintf(product, sizeof(product), "%lld",
			 (long long)f->product_id);
	snprintf(after, sizeof(after), "%lld", (long long)f->after);
	snprintf(limit, sizeof(limit), "%ld", f->limit + 1);
	params[0] = f->region;
	params[1] = site[0] ? site : NULL;
	params[2] = product[0] ? product : NULL;
	params[3] = f->open_only ? "t" : "f";
	params[4] = after;
	params[5] = limit;
	*out = db_exec(db,
		       QUARANTINE_SELECT
		       " WHERE ($1::char(2) IS NULL OR q.region_code = $1)"
		       " AND ($2::bigint IS NULL OR q.site_id = $2)"
		       " AND ($3::bigint IS NULL OR q.product_id = $3)"
		       " AND (NOT $4::boolean OR q.released_at IS NULL)"
		       " AND q.id > $5 ORDER BY q.id LIMIT $6",
		       6, params, e);
	return *out ? 0 : -1;
}

int quarantine_get(struct db *db, int64_t id, PGresult **out, struct err *e)
{
	char id_s[24];
	const char *params[1] = {id_s};

	snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
	*out = db_exec(db, QUARANTINE_SELECT " WHERE q.id = $1", 1, params, e);
	if (!*out)
		return -1;
	if (PQntuples(*out) == 0) {
		PQclear(*out);
		*out = NULL;
		return err_set(e, ERR_NOT_FOUND, "id",
			       "quarantine %s: no such quarantine", id_s);
	}
	return 0;
}
