/*
 * api_import.c -- push mode: POST /api/v1/imports/{feed} runs the same
 * importer as `lagerbild import`, as the token's user; and the record of
 * imports, GET /api/v1/imports[/{id}].
 *
 * The upload arrives in a file (the route is HTTP_SPOOL), so a snapshot of
 * any size costs the server disk, not memory.  The frame authorises the
 * caller for the feed and region (importers/import.c import_authorize) and
 * row-level security does so again in the database.
 */
#include <stdio.h>
#include <string.h>

#include "api_handlers.h"
#include "apiutil.h"
#include "import.h"
#include "validate.h"

/* ?name=true|false; absent is false.  -1 with a 400 on res. */
static int query_flag(struct http_request *req, struct http_response *res,
		      const char *name, bool *out)
{
	const char *v = http_query(req, name);

	*out = false;
	if (!v)
		return 0;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return 0;
	http_error(res, 400, "invalid", name, "%s \"%.40s\": true or false",
		   name, v);
	return -1;
}

void api_import_post(struct http_request *req, struct http_response *res)
{
	const struct import_feed *feed = import_feed_find(req->params[0]);
	struct import_options opt = {0};
	struct import_report rep = {0};
	struct identity who;
	struct err e = {0};
	char source[64];
	json_t *body;

	res->status = 500;
	if (!feed) {
		http_error(res, 404, "not_found", "feed",
			   "no feed \"%.40s\"; see lagerbild import --help",
			   req->params[0]);
		return;
	}
	opt.region = http_query(req, "region");
	if (opt.region && validate_region_code(opt.region, "region", &e) < 0) {
		http_error_from(res, &e);
		return;
	}
	if (query_flag(req, res, "dry_run", &opt.dry_run) < 0 ||
	    query_flag(req, res, "partial", &opt.partial) < 0 ||
	    query_flag(req, res, "force", &opt.force) < 0)
		return;
	if (!req->body_path || req->body_len == 0) {
		http_error(res, 400, "invalid", "body",
			   "the body is empty: send the feed's file");
		return;
	}
	snprintf(source, sizeof(source), "push:%s", req->request_id);
	opt.source = source;
	api_identity(req, &who);
	if (import_execute(req->db, &who, feed, req->body_path, &opt, NULL,
			   NULL, NULL, &rep, &e) < 0) {
		/* A file the feed cannot read at all is the client's fault. */
		if (e.code == ERR_INVALID && !e.field[0])
			snprintf(e.field, sizeof(e.field), "body");
		http_error_from(res, &e);
		goto out;
	}
	/* 201: data applied and a batch made; 200: nothing changed (an
	 * unchanged file, a dry run); 422: refused, nothing applied. */
	body = import_report_json(&rep);
	if (strcmp(rep.status, "rejected") == 0)
		http_json(res, 422, body);
	else if (rep.dry_run || strcmp(rep.status, "unchanged") == 0)
		http_json(res, 200, body);
	else
		http_json(res, 201, body);
out:
	import_report_free(&rep);
}

#define BATCH_COLUMNS                                             \
	"id, feed, region_code AS region, source, sha256, bytes," \
	" status::text AS status, forced, same_as, rows_total,"   \
	" rows_applied, rows_rejected, started_at, finished_at,"  \
	" recorded_by"

void api_imports_get(struct http_request *req, struct http_response *res)
{
	const char *feed = http_query(req, "feed");
	const char *region = http_query(req, "region");
	const char *params[3] = {feed, region, NULL};
	char limit_s[24];
	struct err e = {0};
	long limit;

	res->status = 500;
	if (feed && !import_feed_find(feed)) {
		http_error(res, 400, "invalid", "feed", "no feed \"%.40s\"",
			   feed);
		return;
	}
	if (region && validate_region_code(region, "region", &e) < 0) {
		http_error_from(res, &e);
		return;
	}
	if (api_limit(req, res, 50, 1000, &limit) < 0)
		return;
	snprintf(limit_s, sizeof(limit_s), "%ld", limit);
	params[2] = limit_s;
	/* Row-level security leaves a regional caller its own region's. */
	api_answer_rows(req, res, 200, "imports",
			"SELECT " BATCH_COLUMNS " FROM import_batch"
			" WHERE ($1::text IS NULL OR feed = $1)"
			" AND ($2::text IS NULL OR region_code = $2)"
			" ORDER BY id DESC LIMIT $3",
			3, params, false);
}

void api_import_get(struct http_request *req, struct http_response *res)
{
	const char *params[1] = {req->params[0]};
	struct err e = {0};
	int64_t id;

	res->status = 500;
	if (parse_int64(req->params[0], 1, INT64_MAX, &id, "id", &e) < 0) {
		http_error_from(res, &e);
		return;
	}
	api_answer_rows(req, res, 200, "import",
			"SELECT " BATCH_COLUMNS ", errors FROM import_batch"
			" WHERE id = $1",
			1, params, true);
}
