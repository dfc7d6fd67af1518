/*
 * apiutil.c -- shared pieces of the /api/v1 handlers.
 */
#include <stdio.h>
#include <string.h>

#include "apiutil.h"
#include "validate.h"

/* PostgreSQL type oids of the columns turned into JSON numbers. */
#define OID_BOOL 16
#define OID_JSON 114
#define OID_JSONB 3802
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23

void api_identity(const struct http_request *req, struct identity *out)
{
	*out = *req->who;
	snprintf(out->request_id, sizeof(out->request_id), "%s",
		 req->request_id);
	snprintf(out->remote, sizeof(out->remote), "%s", req->remote);
}

int api_begin(struct http_request *req, struct http_response *res)
{
	struct identity who;
	struct err e = {0};

	api_identity(req, &who);
	if (auth_begin(req->db, &who, &e) < 0) {
		http_error_from(res, &e);
		return -1;
	}
	return 0;
}

json_t *api_rows(const PGresult *res, int limit)
{
	json_t *rows = json_array();
	int n = PQntuples(res);

	if (limit >= 0 && n > limit)
		n = limit;
	for (int r = 0; rows && r < n; r++) {
		json_t *row = json_object();

		for (int c = 0; row && c < PQnfields(res); c++) {
			const char *v = PQgetvalue(res, r, c);
			Oid type = PQftype(res, c);
			json_t *j;

			if (PQgetisnull(res, r, c))
				j = json_null();
			else if (type == OID_INT8 || type == OID_INT4 ||
				 type == OID_INT2)
				j = json_integer(strtoll(v, NULL, 10));
			else if (type == OID_BOOL)
				j = json_boolean(v[0] == 't');
			else if (type == OID_JSON || type == OID_JSONB)
				j = json_loads(v, JSON_DECODE_ANY, NULL);
			else
				j = json_string(v);
			json_object_set_new(row, PQfname(res, c), j);
		}
		json_array_append_new(rows, row);
	}
	return rows;
}

int api_limit(const struct http_request *req, struct http_response *res,
	      long def, long max, long *out)
{
	const char *s = http_query(req, "limit");
	struct err e = {0};
	int64_t v;

	*out = def;
	if (!s)
		return 0;
	if (parse_int64(s, 1, max, &v, "limit", &e) < 0) {
		http_error_from(res, &e);
		return -1;
	}
	*out = (long)v;
	return 0;
}

int api_detail_region(const struct http_request *req, struct http_response *res,
		      const char **out)
{
	const char *region = http_query(req, "region");
	struct err e = {0};

	*out = NULL;
	if (region) {
		if (validate_region_code(region, "region", &e) < 0) {
			http_error_from(res, &e);
			return -1;
		}
		if (!auth_may_read_region_detail(req->who, region)) {
			http_error(res, 403, "forbidden", "region",
				   "region %s: site-level stock of another "
				   "region is not yours to see; national "
				   "totals are at /api/v1/totals",
				   region);
			return -1;
		}
		*out = region;
	} else if (!auth_is_national(req->who)) {
		*out = req->who->region[0] ? req->who->region : NULL;
	}
	return 0;
}

void api_answer_rows(struct http_request *req, struct http_response *res,
		     int status, const char *member, const char *sql,
		     int nparams, const char *const *params, bool one)
{
	struct err e = {0};
	PGresult *q;

	if (api_begin(req, res) < 0)
		return;
	q = db_exec(req->db, sql, nparams, params, &e);
	if (!q || db_commit(req->db, &e) < 0) {
		db_rollback(req->db);
		http_error_from(res, &e);
		PQclear(q);
		return;
	}
	if (one) {
		json_t *rows = api_rows(q, 1);

		if (json_array_size(rows) == 0)
			http_error(res, 404, "not_found", NULL, "no such %s",
				   member);
		else
			http_json(res, status,
				  json_incref(json_array_get(rows, 0)));
		json_decref(rows);
	} else {
		http_json(res, status,
			  json_pack("{s:o}", member, api_rows(q, -1)));
	}
	PQclear(q);
}
