/*
 * http.h -- the HTTP server: libmicrohttpd underneath, JSON (jansson) on top.
 *
 * A service is a table of routes.  http_serve runs libmicrohttpd with a pool
 * of worker threads; each worker owns one database connection, opened on
 * first use and reopened after the database has gone away.  For every
 * request the framework
 *   - reads the body into memory, refusing with 413 anything over max_body
 *     before allocating it;
 *   - matches the route (404 unknown path, 405 known path with another
 *     method, with an Allow header);
 *   - authenticates the bearer token of a route that is not HTTP_PUBLIC
 *     (401 with WWW-Authenticate: Bearer when missing or invalid);
 *   - hands the handler a connected database (503 with Retry-After when
 *     there is none to be had);
 *   - sends the handler's response with the security headers and an
 *     X-Request-Id, counts it in metrics.h and writes one access log line.
 *
 * A handler fills in struct http_response and returns; it never talks to
 * libmicrohttpd.  The response starts out as status 500, so a handler that
 * forgets to set one fails loudly.  Every error body has the one shape
 *   {"error":{"code":"invalid","message":"...","field":"qty"}}
 * with field null when no single input is to blame.
 */
#ifndef LAGERBILD_HTTP_H
#define LAGERBILD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "auth.h"
#include "db.h"
#include "err.h"

/* ---- limits (also the ranges of the settings) ---- */

#define HTTP_THREADS_MAX 256
#define HTTP_MAX_BODY_MIN 1024
#define HTTP_MAX_BODY_MAX (256 * 1024 * 1024)
/* Uploads to HTTP_SPOOL routes (imports) go to disk, not memory. */
#define HTTP_MAX_UPLOAD_DEFAULT ((size_t)1024 * 1024 * 1024)
#define HTTP_MAX_UPLOAD_MAX ((size_t)64 * 1024 * 1024 * 1024)
#define HTTP_MAX_HEADER_MIN 1024
#define HTTP_MAX_HEADER_MAX (1024 * 1024)
#define HTTP_MAX_CONNECTIONS_MAX 100000
#define HTTP_TIMEOUT_MAX 3600

/* Captures a route pattern may have. */
#define HTTP_MAX_PARAMS 4
/* Nesting of arrays and objects http_body_json accepts. */
#define HTTP_JSON_MAX_DEPTH 32
/* Seconds a client is told to wait when the database is unavailable. */
#define HTTP_RETRY_AFTER_S 5

/* ---- configuration ---- */

struct http_config {
	const char *listen; /* "127.0.0.1:8080" or "[::1]:8080" */
	int threads;	    /* workers, each with its own DB connection */
	size_t max_body;    /* bytes; larger bodies get 413 */
	size_t max_upload;  /* bytes, for HTTP_SPOOL routes; 0: the default */
	/* Bytes for the request line and headers; more gets 431.  Also sizes
	 * MHD's per-connection memory. */
	size_t max_header;
	unsigned max_connections;
	unsigned timeout_s;   /* idle connection timeout */
	const char *conninfo; /* NULL: DATABASE_URL / PG* */
	/*
	 * Run once on every new database connection, before it serves a
	 * request (e.g. SET ROLE to the application role).  NULL: nothing.
	 * 0, or -1 with e set, which fails the connection.
	 */
	int (*on_connect)(struct db *db, struct err *e);
};

/* ---- requests and responses ---- */

struct http_request {
	const char *method;
	const char *path; /* as sent (not decoded), without the query */
	/* Captures of {x} in the route pattern, URL-decoded. */
	const char *params[HTTP_MAX_PARAMS];
	int nparams;
	const char *body; /* NUL-terminated copy; "" when there is none */
	size_t body_len;
	/* HTTP_SPOOL routes: a path to the file holding the body (body is
	 * ""), valid until the handler returns.  NULL otherwise. */
	const char *body_path;
	char request_id[37];
	const struct identity *who; /* NULL on public routes */
	/* This worker's connection; never NULL in a handler of a route
	 * flagged HTTP_DB or not flagged HTTP_PUBLIC. */
	struct db *db;
	char remote[64];
	void *conn; /* opaque: the MHD connection, for http_query/http_header */
};

struct http_response {
	/* Starts at 500: a handler that forgets to set it fails loudly. */
	int status;
	json_t *json;		  /* owned; sent as application/json */
	char *text;		  /* owned (malloc); for non-JSON (metrics) */
	const char *content_type; /* of text; borrowed, usually a literal */
	int retry_after;	  /* seconds, 0: no header */
	/* json and text both NULL: an empty body (for 204). */
};

typedef void http_handler_fn(struct http_request *req,
			     struct http_response *res);

enum {
	HTTP_PUBLIC = 1, /* no token needed; who is NULL */
	HTTP_DB = 2,	 /* needs req->db */
	/* The body is an upload of up to max_upload bytes, written to a file
	 * (req->body_path); the token is checked before it is read. */
	HTTP_SPOOL = 4
};

struct http_route {
	const char *method; /* "GET", "POST", ...; a GET route answers HEAD */
	/* "/api/v1/sites/{id}": exact segments and captures of one whole
	 * segment each; the first match in table order wins. */
	const char *pattern;
	http_handler_fn *fn;
	unsigned flags;
	const char *name; /* metrics label, e.g. "stock_events_post" */
};

/* ---- the server ---- */

/*
 * Serve routes until SIGTERM or SIGINT; then stop accepting, let the
 * requests in flight finish (for at most timeout_s), close the database
 * connections and return 0.  -1 with e set when the server cannot start:
 * ERR_INVALID for a bad configuration (listen address, limits), ERR_INTERNAL
 * for a bad route table, ERR_UNAVAILABLE when the address cannot be bound.
 * One server per process.  SIGTERM and SIGINT are blocked in the calling
 * thread (and so in the workers) while it runs.
 */
int http_serve(const struct http_config *cfg, const struct http_route *routes,
	       size_t nroutes, struct err *e);

/*
 * Parse a listen address, "HOST:PORT" or "[IPV6]:PORT", into out (a
 * struct sockaddr_storage, passed as void * so that this header needs no
 * socket headers).  HOST is a numeric address; PORT is 0..65535.  0, or
 * -1 with ERR_INVALID on field.
 */
int http_parse_listen(const char *s, void *out, const char *field,
		      struct err *e);

/*
 * Find the route for method and path.  Returns its index, or -1.  On a
 * match, params[0..*nparams) point into path at the start of each capture;
 * a capture runs to the next '/' or the end of path and is not decoded.
 * *path_known tells whether any route has this path, whatever its method
 * (so that -1 means 405 rather than 404).  params has room for
 * HTTP_MAX_PARAMS entries.
 */
int http_route_match(const struct http_route *routes, size_t n,
		     const char *method, const char *path, const char **params,
		     int *nparams, bool *path_known);

/* ---- for handlers ---- */

/*
 * Answer with an error body of code (one of "invalid", "not_found",
 * "conflict", "forbidden", "unauthorized", "unavailable", "internal",
 * "too_large", "method_not_allowed") and a printf-formatted message; field
 * may be NULL.  Replaces any body set before.
 */
void http_error(struct http_response *res, int status, const char *code,
		const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * Answer with e: ERR_INVALID 400, ERR_NOT_FOUND 404, ERR_CONFLICT 409,
 * ERR_FORBIDDEN 403, ERR_UNAVAILABLE 503 with Retry-After, anything else
 * 500.  The message of a 500 is logged, not sent: it may be a database's.
 */
void http_error_from(struct http_response *res, const struct err *e);

/* Answer status with body, which is stolen (even when NULL: then 500). */
void http_json(struct http_response *res, int status, json_t *body);

/* A query-string argument, URL-decoded; NULL when absent. */
const char *http_query(const struct http_request *req, const char *key);

/* A request header by name, case-insensitively; NULL when absent. */
const char *http_header(const struct http_request *req, const char *name);

/*
 * The body as JSON: an object or an array, valid UTF-8, no duplicate keys,
 * nested at most HTTP_JSON_MAX_DEPTH deep.  The caller json_decrefs the
 * result.  NULL, with a 400 error already set on res, otherwise.
 */
json_t *http_body_json(const struct http_request *req,
		       struct http_response *res);

#endif
