/*
 * api_readiness.c -- /api/v1 readiness: days of supply against targets,
 * targets, the national readiness level and each region's state.
 *
 * Days of supply at region scope and above are the shared national
 * picture, like /api/v1/totals: every authenticated caller sees them.
 * Site scope is region detail: a region-scoped caller sees its own
 * region's sites only (403 when it names another).  Targets and the
 * national level are managed by coordinators; a region's state by its own
 * contact person or a coordinator.  Row-level security enforces the same
 * behind these checks.
 */
#include <stdio.h>
#include <string.h>

#include "readiness_report.h"
#include "api_handlers.h"
#include "apiutil.h"
#include "catalog.h"
#include "jsonin.h"
#include "validate.h"

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* Rows in one answer at most (the scan itself streams). */
#define ROWS_DEFAULT 1000
#define ROWS_MAX 20000

/* What GET /readiness answers with: the rows that pass status. */
struct collect {
	json_t *rows;
	const char *status; /* NULL, "short" or a status name */
	enum readiness_status want;
};

/* The status filter, judged by readiness_page before its limit. */
static bool status_skip(const struct readiness_row *row, void *arg)
{
	const struct collect *c = arg;

	if (!c->status)
		return false;
	if (strcmp(c->status, "short") == 0)
		return !readiness_is_short(row->out.status);
	return row->out.status != c->want;
}

static int collect_row(const struct readiness_row *row, void *arg)
{
	struct collect *c = arg;

	json_array_append_new(c->rows, readiness_row_json(row));
	return 0;
}

/*
 * Keyset pages: ?cursor= is the previous answer's next, good only with
 * the same filters (readiness_cursor_decode says why not).  Each page is
 * one unordered scan of what the filters select, with the rows before the
 * cursor dropped as they arrive (reports/readiness_report.c,
 * readiness_page), so the last page of a national walk costs what the
 * first does, and no page sorts the whole result.
 */
void api_readiness_get(struct http_request *req, struct http_response *res)
{
	const char *product = http_query(req, "product");
	const char *window = http_query(req, "window");
	const char *cursor = http_query(req, "cursor");
	struct readiness_filter f = {
		.scope = http_query(req, "scope"),
		.region = http_query(req, "region"),
		.healthcare_region = http_query(req, "healthcare_region"),
		.category = http_query(req, "category"),
		.agreement = http_query(req, "agreement"),
	};
	struct collect c = {.status = http_query(req, "status")};
	struct readiness_page pg = {.skip = status_skip, .skip_arg = &c};
	char next[READINESS_CURSOR_MAX + 1];
	struct readiness_key after;
	struct product_ref pref;
	struct err e = {0};
	int64_t v;

	res->status = 500;
	if (!f.scope)
		f.scope = "region";
	if (api_limit(req, res, ROWS_DEFAULT, ROWS_MAX, &pg.limit) < 0)
		return;
	if (window) {
		if (parse_int64(window, 1, READINESS_WINDOW_MAX, &v, "window",
				&e) < 0)
			goto bad;
		f.window_days = (int)v;
	}
	if (c.status && strcmp(c.status, "short") != 0 &&
	    readiness_status_parse(c.status, &c.want, "status", &e) < 0) {
		err_prefix(&e, "status is short or a status name: ");
		goto bad;
	}
	if (readiness_filter_check(&f, &e) < 0)
		goto bad;
	if (product && catalog_check_product_key(product, &e) < 0)
		goto bad;
	if (strcmp(f.scope, "site") == 0) {
		const char *region;

		if (api_detail_region(req, res, &region) < 0)
			return;
		f.region = region;
	}
	if (api_begin(req, res) < 0)
		return;
	if (product) {
		if (catalog_find_product(req->db, product, &pref, &e) < 0) {
			if (e.code == ERR_NOT_FOUND)
				e.code = ERR_INVALID;
			goto bad_tx;
		}
		f.product_id = pref.id;
	}
	/* Checked against the filters as resolved: the product by id, a
	 * site scan by the region it was narrowed to. */
	if (cursor) {
		if (readiness_cursor_decode(cursor, &f, c.status, &after, &e) <
		    0)
			goto bad_tx;
		pg.after = &after;
	}
	c.rows = json_array();
	if (readiness_page(req->db, &f, &pg, collect_row, &c, &e) < 0 ||
	    (pg.more && readiness_cursor_encode(&f, c.status, &pg.last, next,
						sizeof(next), &e) < 0)) {
		json_decref(c.rows);
		goto bad_tx;
	}
	db_rollback(req->db);
	http_json(res, 200,
		  json_pack("{s:s, s:i, s:o, s:b, s:s?}", "scope", f.scope,
			    "window",
			    f.window_days ? f.window_days :
					    READINESS_WINDOW_DEFAULT,
			    "rows", c.rows, "truncated", pg.more, "next",
			    pg.more ? next : NULL));
	return;
bad_tx:
	db_rollback(req->db);
bad:
	http_error_from(res, &e);
}

/* ---- targets ---- */

static bool refused_coordinator(const struct http_request *req,
				struct http_response *res, const char *what)
{
	if (req->who->role == ROLE_COORDINATOR)
		return false;
	http_error(res, 403, "forbidden", NULL,
		   "%s are managed by coordinators", what);
	return true;
}

/* Run fn's write as the caller, then answer with the target as stored. */
static void answer_target(struct http_request *req, struct http_response *res,
			  int status, int64_t id)
{
	struct err e = {0};
	json_t *rows = NULL;

	if (readiness_targets_get(req->db, 0, NULL, true, id, &rows, &e) < 0 ||
	    db_commit(req->db, &e) < 0) {
		db_rollback(req->db);
		json_decref(rows);
		http_error_from(res, &e);
		return;
	}
	http_json(res, status,
		  json_pack("{s:O}", "target", json_array_get(rows, 0)));
	json_decref(rows);
}

void api_targets_get(struct http_request *req, struct http_response *res)
{
	const char *product = http_query(req, "product");
	const char *region = http_query(req, "region");
	const char *all = http_query(req, "all");
	struct product_ref pref = {0};
	struct err e = {0};
	json_t *rows = NULL;

	res->status = 500;
	if (region && strcmp(region, "national") != 0 &&
	    validate_region_code(region, "region", &e) < 0)
		goto bad;
	if (all && strcmp(all, "true") != 0 && strcmp(all, "false") != 0) {
		err_set(&e, ERR_INVALID, "all", "all \"%.40s\": true or false",
			all);
		goto bad;
	}
	if (product && catalog_check_product_key(product, &e) < 0)
		goto bad;
	if (api_begin(req, res) < 0)
		return;
	if (product && catalog_find_product(req->db, product, &pref, &e) < 0) {
		if (e.code == ERR_NOT_FOUND)
			e.code = ERR_INVALID;
		goto bad_tx;
	}
	if (readiness_targets_get(
		    req->db, pref.id,
		    region && strcmp(region, "national") == 0 ? "" : region,
		    all && strcmp(all, "true") == 0, 0, &rows, &e) < 0)
		goto bad_tx;
	db_rollback(req->db);
	http_json(res, 200, json_pack("{s:o}", "targets", rows));
	return;
bad_tx:
	db_rollback(req->db);
bad:
	http_error_from(res, &e);
}

static const struct jsonin_field target_fields[] = {
	{"product", JSONIN_STRING, true},
	{"region", JSONIN_STRING, false},
	{"target_days", JSONIN_STRING, true},
	{"floor_days", JSONIN_STRING, false},
	{"valid_from", JSONIN_STRING, false},
	{"valid_to", JSONIN_STRING, false},
	{"agreement", JSONIN_STRING, false},
	{"reason", JSONIN_STRING, true},
};

/*
 * Days may come as a JSON number or a string; the jsonin table takes
 * strings, so numbers are turned into text first (into buf).
 */
static void days_as_text(json_t *body, const char *key, char buf[32])
{
	json_t *v = json_object_get(body, key);

	if (json_is_integer(v)) {
		snprintf(buf, 32, "%lld", (long long)json_integer_value(v));
		json_object_set_new(body, key, json_string(buf));
	} else if (json_is_real(v)) {
		snprintf(buf, 32, "%.2f", json_real_value(v));
		json_object_set_new(body, key, json_string(buf));
	}
}

void api_targets_post(struct http_request *req, struct http_response *res)
{
	char tbuf[32], fbuf[32];
	struct readiness_target t;
	struct product_ref pref;
	struct err e = {0};
	json_t *body = NULL;
	int64_t id;

	res->status = 500;
	if (refused_coordinator(req, res, "targets"))
		return;
	body = http_body_json(req, res);
	if (!body)
		return;
	if (json_is_object(body)) {
		days_as_text(body, "target_days", tbuf);
		days_as_text(body, "floor_days", fbuf);
	}
	if (!json_is_object(body)) {
		err_set(&e, ERR_INVALID, NULL, "the body is one target object");
		goto bad;
	}
	if (jsonin_check(body, target_fields, NFIELDS(target_fields), "", &e) <
	    0)
		goto bad;
	memset(&t, 0, sizeof(t));
	t.product_id = 1; /* until looked up; target_check needs it */
	t.region = jsonin_str(body, "region");
	t.target_days = jsonin_str(body, "target_days");
	t.floor_days = jsonin_str(body, "floor_days");
	t.valid_from = jsonin_str(body, "valid_from");
	t.valid_to = jsonin_str(body, "valid_to");
	t.agreement = jsonin_str(body, "agreement");
	t.reason = jsonin_str(body, "reason");
	if (catalog_check_product_key(jsonin_str(body, "product"), &e) < 0 ||
	    readiness_target_check(&t, &e) < 0)
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	if (catalog_find_product(req->db, jsonin_str(body, "product"), &pref,
				 &e) < 0) {
		if (e.code == ERR_NOT_FOUND)
			e.code = ERR_INVALID;
		goto bad_tx;
	}
	t.product_id = pref.id;
	if (readiness_target_set(req->db, &t, &id, &e) < 0)
		goto bad_tx;
	answer_target(req, res, 201, id);
	goto out;
bad_tx:
	db_rollback(req->db);
bad:
	http_error_from(res, &e);
out:
	json_decref(body);
}

static const struct jsonin_field end_fields[] = {
	{"valid_to", JSONIN_STRING, false},
	{"reason", JSONIN_STRING, true},
};

void api_target_patch(struct http_request *req, struct http_response *res)
{
	struct err e = {0};
	json_t *body = NULL;
	int64_t id;

	res->status = 500;
	if (parse_int64(req->params[0], 1, INT64_MAX, &id, "id", &e) < 0) {
		http_error_from(res, &e);
		return;
	}
	if (refused_coordinator(req, res, "targets"))
		return;
	body = http_body_json(req, res);
	if (!body)
		return;
	if (!json_is_object(body)) {
		err_set(&e, ERR_INVALID, NULL,
			"the body is {\"valid_to\": DATE, \"reason\": TEXT}");
		goto bad;
	}
	if (jsonin_check(body, end_fields, NFIELDS(end_fields), "", &e) < 0)
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	if (readiness_target_end(req->db, id, jsonin_str(body, "valid_to"),
				 jsonin_str(body, "reason"), &e) < 0) {
		db_rollback(req->db);
		goto bad;
	}
	answer_target(req, res, 200, id);
	goto out;
bad:
	http_error_from(res, &e);
out:
	json_decref(body);
}

/* ---- the national level and region states ---- */

static const struct jsonin_field level_fields[] = {
	{"level", JSONIN_STRING, true},
	{"reason", JSONIN_STRING, true},
};

static const struct jsonin_field state_fields[] = {
	{"state", JSONIN_STRING, true},
	{"reason", JSONIN_STRING, true},
};

/* Answer the level (after a write when level is set). */
static void level_answer(struct http_request *req, struct http_response *res,
			 const char *level, const char *reason)
{
	struct err e = {0};
	json_t *j = NULL;

	if (api_begin(req, res) < 0)
		return;
	if ((level && readiness_level_set(req->db, level, reason, &e) < 0) ||
	    readiness_level_get(req->db, 50, &j, &e) < 0 ||
	    db_commit(req->db, &e) < 0) {
		db_rollback(req->db);
		json_decref(j);
		http_error_from(res, &e);
		return;
	}
	http_json(res, 200, j);
}

void api_readiness_level_get(struct http_request *req,
			     struct http_response *res)
{
	res->status = 500;
	level_answer(req, res, NULL, NULL);
}

/*
 * A body {KEY: VALUE, "reason": TEXT}, with VALUE checked by check.  The
 * caller json_decrefs the result; NULL with the 400 set on res otherwise.
 */
static json_t *
choice_body(struct http_request *req, struct http_response *res,
	    const struct jsonin_field *fields, size_t nfields, const char *key,
	    int (*check)(const char *, const char *, struct err *))
{
	struct err e = {0};
	json_t *body = http_body_json(req, res);

	if (!body)
		return NULL;
	if (!json_is_object(body))
		err_set(&e, ERR_INVALID, NULL,
			"the body is {\"%s\": ..., \"reason\": TEXT}", key);
	else if (jsonin_check(body, fields, nfields, "", &e) == 0 &&
		 check(jsonin_str(body, key), key, &e) == 0)
		validate_text(jsonin_str(body, "reason"), 1000, false, "reason",
			      &e);
	if (e.code == ERR_NONE)
		return body;
	http_error_from(res, &e);
	json_decref(body);
	return NULL;
}

void api_readiness_level_put(struct http_request *req,
			     struct http_response *res)
{
	json_t *body;

	res->status = 500;
	if (refused_coordinator(req, res, "readiness levels"))
		return;
	body = choice_body(req, res, level_fields, NFIELDS(level_fields),
			   "level", readiness_level_check);
	if (body)
		level_answer(req, res, jsonin_str(body, "level"),
			     jsonin_str(body, "reason"));
	json_decref(body);
}

static void state_answer(struct http_request *req, struct http_response *res,
			 const char *state, const char *reason)
{
	const char *region = req->params[0];
	struct err e = {0};
	json_t *j = NULL;

	if (api_begin(req, res) < 0)
		return;
	if ((state &&
	     readiness_state_set(req->db, region, state, reason, &e) < 0) ||
	    readiness_state_get(req->db, region, 50, &j, &e) < 0 ||
	    db_commit(req->db, &e) < 0) {
		db_rollback(req->db);
		json_decref(j);
		if (e.code == ERR_NOT_FOUND)
			err_set(&e, ERR_NOT_FOUND, "region",
				"no such region %s", region);
		http_error_from(res, &e);
		return;
	}
	http_json(res, 200, j);
}

void api_region_state_get(struct http_request *req, struct http_response *res)
{
	struct err e = {0};

	res->status = 500;
	if (validate_region_code(req->params[0], "code", &e) < 0) {
		e.code = ERR_NOT_FOUND;
		http_error_from(res, &e);
		return;
	}
	state_answer(req, res, NULL, NULL);
}

void api_region_state_put(struct http_request *req, struct http_response *res)
{
	const char *region = req->params[0];
	struct err e = {0};
	json_t *body;

	res->status = 500;
	if (validate_region_code(region, "code", &e) < 0) {
		e.code = ERR_NOT_FOUND;
		http_error_from(res, &e);
		return;
	}
	if (!(req->who->role == ROLE_COORDINATOR ||
	      (req->who->role == ROLE_REGION_CONTACT &&
	       strcmp(req->who->region, region) == 0))) {
		http_error(res, 403, "forbidden", NULL,
			   "region %s: its state is declared by its own "
			   "contact person or a coordinator",
			   region);
		return;
	}
	body = choice_body(req, res, state_fields, NFIELDS(state_fields),
			   "state", readiness_state_check);
	if (body)
		state_answer(req, res, jsonin_str(body, "state"),
			     jsonin_str(body, "reason"));
	json_decref(body);
}
