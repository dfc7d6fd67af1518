/*
 * apiutil.h -- what the /api/v1 handlers share: acting as the caller in a
 * transaction, query results as JSON, and the common query arguments.
 */
#ifndef LAGERBILD_APIUTIL_H
#define LAGERBILD_APIUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "auth.h"
#include "http.h"

/* The caller's identity with this request's id and address filled in. */
void api_identity(const struct http_request *req, struct identity *out);

/*
 * BEGIN as the caller (auth_begin), for reads under row-level security.
 * On failure the error response is set and -1 returned.
 */
int api_begin(struct http_request *req, struct http_response *res);

/*
 * Rows of a result as a JSON array of objects keyed by column name.
 * Integer columns (int2/4/8) become numbers, booleans true/false, json
 * and jsonb the JSON they hold, NULL
 * null, everything else strings.  At most limit rows (-1: all).
 */
json_t *api_rows(const PGresult *res, int limit);

/*
 * Read ?limit= (default def, 1..max) into *out; on bad input set a 400 on
 * res and return -1.
 */
int api_limit(const struct http_request *req, struct http_response *res,
	      long def, long max, long *out);

/*
 * The region a read is about: ?region= if given (validated), else the
 * caller's own region for region-scoped callers, else NULL.  A
 * region-scoped caller asking for site-level detail of another region gets
 * 403.  -1 with the response set on failure.
 */
int api_detail_region(const struct http_request *req, struct http_response *res,
		      const char **out);

/*
 * Run one read as the caller and answer status with its rows: as
 * {member: [rows]}, or with one set, the first row alone (404 naming
 * member when there is none).  Errors answer through http_error_from.
 */
void api_answer_rows(struct http_request *req, struct http_response *res,
		     int status, const char *member, const char *sql,
		     int nparams, const char *const *params, bool one);

#endif
