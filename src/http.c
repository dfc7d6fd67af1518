/*
 * http.c -- the HTTP server on libmicrohttpd (MHD).
 *
 * Design note.
 *
 * Threads.  MHD runs a pool of cfg->threads worker threads, each polling
 * the shared listen socket and its own connections; a connection stays on
 * the thread that accepted it, so handlers for one connection never run
 * concurrently.  Each worker keeps its database connection in a
 * _Thread_local pointer, opened on first need.  The connections are also
 * kept in a list under a mutex, only so that the main thread can close
 * them after MHD_stop_daemon has joined the workers.
 *
 * One request.  MHD calls the URI log callback with the raw request line's
 * URI before anything else; that is where the per-request state (struct
 * exchange) is made, with the raw path (MHD would hand the access handler
 * a percent-decoded path, in which "a%2Fb" is two segments), the request
 * id and the start time.  The access handler is then called once after
 * the headers, once per piece of body, and once at the end, when the route
 * runs.  The state is freed in the completed callback, which MHD calls for
 * every request that saw the URI callback.
 *
 * Bodies.  MHD cannot queue a response while a body is being received, so
 * a body that outgrows max_body is read to its end and dropped, and the
 * 413 sent after it (the connection stays usable).  Reading stops, and the
 * connection is closed, if the client goes on past DISCARD_MAX.  When the
 * declared Content-Length is already too large and the client waits for
 * "100 Continue", or the length is beyond DISCARD_MAX, the 413 goes out
 * before the body and MHD closes the connection after it.
 *
 * Uploads.  A route flagged HTTP_SPOOL (an import) takes bodies up to
 * max_upload, far beyond max_body, so its body goes to a temporary file
 * (unlinked as soon as it is made, read through /proc/self/fd) instead of
 * memory, and its token is
 * checked as soon as the headers are in: nobody uploads a gigabyte only
 * to be told the token was wrong.
 *
 * Headers.  The request line and headers must fit in the connection's
 * memory pool (MHD_OPTION_CONNECTION_MEMORY_LIMIT), sized from max_header;
 * MHD itself answers 431 to a request that does not fit, without calling
 * us, so that response is MHD's and not JSON.
 *
 * Database trouble.  A worker whose connection has died (seen before a
 * request by polling the idle socket, or after a handler by PQstatus or a
 * 503) closes it; the next request connects again.  A failed connect makes
 * every worker without a connection answer 503 at once, without trying,
 * for RECONNECT_PAUSE_MS; so a database that hangs costs the server one
 * connect timeout per pause, not one per request.  The first connect that
 * succeeds ends the pause for all.
 *
 * Shutdown.  SIGTERM and SIGINT are blocked before MHD starts its threads
 * (which inherit the mask) and taken with sigwait by the thread in
 * http_serve.  It quiesces the daemon, shuts the listen socket down so that
 * new clients are refused at once rather than left in the backlog, waits
 * for the requests in flight (counted from URI callback to completed
 * callback; responses meanwhile carry Connection: close), then stops MHD.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <uuid/uuid.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "validate.h"

/* Bytes of an oversized body read and dropped so that 413 can be sent. */
#define DISCARD_MAX (16 * 1024 * 1024)
/* A worker that failed to connect waits this long before trying again. */
#define RECONNECT_PAUSE_MS 1000
/* Added to a conninfo that has no connect_timeout of its own. */
#define CONNECT_TIMEOUT "connect_timeout=2"

#define JSON_TYPE "application/json; charset=utf-8"

/* One request, from the URI callback to the completed callback. */
struct exchange {
	int64_t start_ns;
	char *path;	/* raw, without the query */
	size_t uri_len; /* with the query, for max_header */
	char request_id[37];
	char remote[64];
	char *body; /* NUL-terminated; NULL until the first byte */
	size_t body_len, body_cap;
	size_t discarded; /* bytes of an oversized body dropped so far */
	bool headers_seen, too_large, answered, close;
	char allow[64];	  /* for a 405 */
	char *params_buf; /* the decoded captures */
	struct identity who;
	bool authenticated;   /* early, for an HTTP_SPOOL route */
	int spool_fd;	      /* HTTP_SPOOL: the body's file, else -1 */
	char spool_path[256]; /* /proc/self/fd/N: the file is unlinked */
	size_t spooled;	      /* bytes written to it */
	bool spool_failed;    /* the disk said no */
};

/* The one server of this process. */
static struct server {
	const struct http_config *cfg;
	const struct http_route *routes;
	size_t nroutes;
	char *conninfo;
	atomic_int in_flight;
	atomic_bool stopping;
	_Atomic int64_t db_retry_ms; /* no connect attempts before this */
	pthread_mutex_t lock;	     /* guards dbs */
	struct db **dbs;
	size_t ndbs, dbs_cap;
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local struct db *worker_db;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- listen address ---- */

int http_parse_listen(const char *s, void *out, const char *field,
		      struct err *e)
{
	struct sockaddr_storage *ss = out;
	struct sockaddr_in *in4 = out;
	struct sockaddr_in6 *in6 = out;
	char host[64];
	const char *colon, *h = s, *port;
	size_t hlen;
	int64_t p;
	bool v6 = false;

	memset(ss, 0, sizeof(*ss));
	if (s == NULL || s[0] == '\0')
		return err_set(e, ERR_INVALID, field, "%s: missing", field);
	if (s[0] == '[') {
		colon = strstr(s, "]:");
		if (!colon)
			goto bad;
		h = s + 1;
		hlen = (size_t)(colon - h);
		port = colon + 2;
		v6 = true;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (parse_int64(port, 0, 65535, &p, field, e) < 0)
		return err_prefix(e, "%s %.80s: port: ", field, s);
	if (v6) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto bad;
	} else {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
			goto bad;
	}
	return 0;
bad:
	memset(ss, 0, sizeof(*ss));
	return err_set(e, ERR_INVALID, field,
		       "%s \"%.80s\": not ADDRESS:PORT or [IPV6]:PORT with a "
		       "numeric address",
		       field, s);
}

/* ---- routing ---- */

/*
 * Does pattern match path?  Captures go to params (room for
 * HTTP_MAX_PARAMS); a capture matches one non-empty segment.
 */
static bool pattern_match(const char *pattern, const char *path,
			  const char **params, int *nparams)
{
	const char *p = pattern, *q = path;
	int n = 0;

	for (;;) {
		if (*p == '\0' || *q == '\0')
			break;
		if (*p == '/' && *q == '/') {
			p++;
			q++;
			continue;
		}
		if (*p == '{') {
			size_t seg = strcspn(q, "/");

			if (seg == 0 || n == HTTP_MAX_PARAMS)
				return false;
			params[n++] = q;
			q += seg;
			p += strcspn(p, "/");
			continue;
		}
		if (*p != *q)
			return false;
		p++;
		q++;
	}
	if (*p != '\0' || *q != '\0')
		return false;
	*nparams = n;
	return true;
}

int http_route_match(const struct http_route *routes, size_t n,
		     const char *method, const char *path, const char **params,
		     int *nparams, bool *path_known)
{
	const char *scratch[HTTP_MAX_PARAMS];
	int ns;

	*path_known = false;
	*nparams = 0;
	for (size_t i = 0; i < n; i++) {
		if (!pattern_match(routes[i].pattern, path, scratch, &ns))
			continue;
		*path_known = true;
		if (strcmp(routes[i].method, method) != 0)
			continue;
		memcpy(params, scratch, (size_t)ns * sizeof(*params));
		*nparams = ns;
		return (int)i;
	}
	return -1;
}

/* The methods of every route whose pattern matches path, for Allow. */
static void allowed_methods(const char *path, char *out, size_t size)
{
	const char *scratch[HTTP_MAX_PARAMS];
	size_t len = 0;
	int ns, k;

	out[0] = '\0';
	for (size_t i = 0; i < srv.nroutes; i++) {
		const char *m = srv.routes[i].method;

		if (!pattern_match(srv.routes[i].pattern, path, scratch, &ns))
			continue;
		/* Each method once, though several routes may share it. */
		if (strstr(out, m) != NULL)
			continue;
		k = snprintf(out + len, size - len, "%s%s", len ? ", " : "", m);
		if (k < 0 || (size_t)k >= size - len) {
			out[len] = '\0';
			return;
		}
		len += (size_t)k;
	}
}

/* The name of the k-th capture of pattern, for error messages. */
static void capture_name(const char *pattern, int k, char *out, size_t size)
{
	const char *p = pattern;
	size_t len;

	out[0] = '\0';
	while ((p = strchr(p, '{')) != NULL) {
		p++;
		len = strcspn(p, "}");
		if (k-- == 0) {
			snprintf(out, size, "%.*s", (int)len, p);
			return;
		}
	}
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode the captures into one buffer owned by x.  A bad escape
 * or an encoded NUL is a 400 naming the capture.
 */
static int decode_params(struct exchange *x, const struct http_route *r,
			 const char **params, int n, struct http_request *req,
			 struct http_response *res)
{
	char name[64], *w;
	size_t total = 0;

	for (int i = 0; i < n; i++)
		total += strcspn(params[i], "/") + 1;
	x->params_buf = malloc(total + 1);
	if (!x->params_buf) {
		http_error(res, 500, "internal", NULL, "out of memory");
		return -1;
	}
	w = x->params_buf;
	for (int i = 0; i < n; i++) {
		size_t len = strcspn(params[i], "/");

		req->params[i] = w;
		for (size_t j = 0; j < len; j++) {
			char c = params[i][j];
			int hi, lo;

			if (c == '%') {
				hi = j + 2 < len ? hex_value(params[i][j + 1]) :
						   -1;
				lo = hi >= 0 ? hex_value(params[i][j + 2]) : -1;
				if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
					capture_name(r->pattern, i, name,
						     sizeof(name));
					http_error(res, 400, "invalid", name,
						   "%s: bad percent-encoding "
						   "in the path",
						   name);
					return -1;
				}
				c = (char)(hi * 16 + lo);
				j += 2;
			}
			*w++ = c;
		}
		*w++ = '\0';
	}
	req->nparams = n;
	return 0;
}

/*
 * Check the route table once, at start: a bad table is a bug, better found
 * by the first `lagerbild serve` than by the first request.
 */
static int check_routes(const struct http_route *routes, size_t n,
			struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		const struct http_route *r = &routes[i];
		const char *p;
		int captures = 0;

		if (!r->method || !r->method[0] || !r->pattern ||
		    r->pattern[0] != '/' || !r->fn || !r->name || !r->name[0])
			return err_set(e, ERR_INTERNAL, "",
				       "route %zu: method, pattern (from /), "
				       "handler and name are required",
				       i);
		if (strspn(r->name, "abcdefghijklmnopqrstuvwxyz0123456789_") !=
		    strlen(r->name))
			return err_set(e, ERR_INTERNAL, "",
				       "route %s: name not [a-z0-9_]", r->name);
		for (p = r->pattern; (p = strchr(p, '{')) != NULL; p++) {
			size_t seg = strcspn(p, "/");

			if (p[-1] != '/' || seg < 3 || p[seg - 1] != '}' ||
			    memchr(p + 1, '{', seg - 1) != NULL ||
			    ++captures > HTTP_MAX_PARAMS)
				return err_set(e, ERR_INTERNAL, "",
					       "route %s: bad capture in %s",
					       r->name, r->pattern);
		}
	}
	return 0;
}

/* ---- the worker's database connection ---- */

static void db_list_add(struct db *db)
{
	struct db **grown;

	pthread_mutex_lock(&srv.lock);
	if (srv.ndbs == srv.dbs_cap) {
		size_t cap = srv.dbs_cap ? 2 * srv.dbs_cap : 8;

		grown = realloc(srv.dbs, cap * sizeof(*grown));
		if (!grown) {
			/* Unlisted, it is only left open at exit. */
			pthread_mutex_unlock(&srv.lock);
			return;
		}
		srv.dbs = grown;
		srv.dbs_cap = cap;
	}
	srv.dbs[srv.ndbs++] = db;
	pthread_mutex_unlock(&srv.lock);
}

static void db_list_remove(struct db *db)
{
	pthread_mutex_lock(&srv.lock);
	for (size_t i = 0; i < srv.ndbs; i++)
		if (srv.dbs[i] == db) {
			srv.dbs[i] = srv.dbs[--srv.ndbs];
			break;
		}
	pthread_mutex_unlock(&srv.lock);
}

static void worker_db_drop(const char *why)
{
	const char *kv[] = {"reason", why, NULL};

	if (!worker_db)
		return;
	log_line(LOG_WARNING, kv, "closing a broken database connection");
	metrics_db_error();
	metrics_db_connections_add(-1);
	db_list_remove(worker_db);
	db_close(worker_db);
	worker_db = NULL;
}

/*
 * Is an idle connection still alive?  libpq only notices a closed
 * connection when it next reads, so look: an idle connection has nothing
 * to say unless the server is telling it goodbye (or sending a notice).
 * A terminated backend sends its FATAL message and then closes; the first
 * read takes the message, a second one finds the end.
 */
static bool db_alive(struct db *db)
{
	struct pollfd pfd = {.fd = PQsocket(db->conn), .events = POLLIN};

	if (PQstatus(db->conn) != CONNECTION_OK || pfd.fd < 0)
		return false;
	for (int i = 0; i < 4 && poll(&pfd, 1, 0) > 0; i++)
		if (!PQconsumeInput(db->conn))
			return false;
	return PQstatus(db->conn) == CONNECTION_OK;
}

static int get_worker_db(struct db **out, struct err *e)
{
	struct db *db = NULL;
	int64_t now = now_ns() / 1000000;

	if (worker_db && !db_alive(worker_db))
		worker_db_drop("connection lost");
	if (worker_db) {
		*out = worker_db;
		return 0;
	}
	if (now < atomic_load(&srv.db_retry_ms))
		return err_set(e, ERR_UNAVAILABLE, "",
			       "database unavailable (reconnect pending)");
	if (db_connect(&db, srv.conninfo, e) < 0 ||
	    (srv.cfg->on_connect && srv.cfg->on_connect(db, e) < 0)) {
		const char *kv[] = {"code", err_code_name(e->code), NULL};

		log_line(LOG_WARNING, kv, "database: %s", e->msg);
		db_close(db);
		metrics_db_error();
		atomic_store(&srv.db_retry_ms, now + RECONNECT_PAUSE_MS);
		/* Whatever went wrong, this request has no database. */
		e->code = ERR_UNAVAILABLE;
		return -1;
	}
	atomic_store(&srv.db_retry_ms, 0);
	db_list_add(db);
	metrics_db_connections_add(1);
	worker_db = db;
	*out = db;
	return 0;
}

/*
 * After a handler: a transaction it left open is rolled back (a bug, but
 * not one to leak into the next request), and a connection that broke is
 * closed so that the next request starts afresh.
 */
static void after_handler(struct http_request *req,
			  const struct http_response *res)
{
	PGTransactionStatusType ts;

	if (!req->db)
		return;
	ts = PQtransactionStatus(req->db->conn);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		const char *kv[] = {"request_id", req->request_id, NULL};

		log_line(LOG_ERROR, kv,
			 "handler left a transaction open; rolled back");
		db_rollback(req->db);
	}
	if (PQstatus(req->db->conn) != CONNECTION_OK)
		worker_db_drop("connection lost during the request");
	else if (res->status == 503)
		worker_db_drop("request answered 503");
	req->db = NULL;
}

static char *conninfo_with_timeout(const char *ci)
{
	const char *sep = " ";
	char *out = NULL;
	size_t n;

	if (!ci)
		ci = getenv("DATABASE_URL");
	if (!ci)
		ci = "";
	/* Someone chose a timeout already: the conninfo's or PG*'s. */
	if (strstr(ci, "connect_timeout") != NULL ||
	    (ci[0] == '\0' && getenv("PGCONNECT_TIMEOUT") != NULL))
		return strdup(ci);
	if (ci[0] == '\0')
		sep = "";
	else if (strncmp(ci, "postgresql://", 13) == 0 ||
		 strncmp(ci, "postgres://", 11) == 0)
		sep = strchr(ci, '?') ? "&" : "?";
	n = strlen(ci) + strlen(sep) + sizeof(CONNECT_TIMEOUT);
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s%s%s", ci, sep, CONNECT_TIMEOUT);
	return out;
}

/* ---- responses ---- */

/* Replace bytes that are not ASCII, so that jansson takes the text. */
static void to_ascii(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			*s = '?';
}

static void set_json(struct http_response *res, int status, json_t *body)
{
	json_decref(res->json);
	free(res->text);
	res->text = NULL;
	res->json = body;
	res->status = status;
}

void http_error(struct http_response *res, int status, const char *code,
		const char *field, const char *fmt, ...)
{
	json_t *body = json_object(), *inner = json_object(), *m, *f = NULL;
	char msg[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	m = json_string(msg);
	if (!m) {
		/* Cut mid-character, or input echoed in the message. */
		to_ascii(msg);
		m = json_string(msg);
	}
	if (field && field[0])
		f = json_string(field);
	if (!f)
		f = json_null();
	if (!body || !inner) {
		json_decref(m);
		json_decref(f);
		goto fail;
	}
	/* json_object_set_new takes the value even when it fails. */
	rc = json_object_set_new(inner, "code", json_string(code));
	rc |= json_object_set_new(inner, "message", m);
	rc |= json_object_set_new(inner, "field", f);
	rc |= json_object_set_new(body, "error", inner);
	inner = NULL;
	if (rc != 0)
		goto fail;
	set_json(res, status, body);
	return;
fail:
	json_decref(inner);
	json_decref(body);
	/* respond() turns a 500 without a body into a fixed one. */
	set_json(res, 500, NULL);
}

void http_error_from(struct http_response *res, const struct err *e)
{
	const char *field = e->field[0] ? e->field : NULL;

	switch (e->code) {
	case ERR_INVALID:
		http_error(res, 400, "invalid", field, "%s", e->msg);
		break;
	case ERR_NOT_FOUND:
		http_error(res, 404, "not_found", field, "%s", e->msg);
		break;
	case ERR_CONFLICT:
		http_error(res, 409, "conflict", field, "%s", e->msg);
		break;
	case ERR_FORBIDDEN:
		http_error(res, 403, "forbidden", field, "%s", e->msg);
		break;
	case ERR_UNAVAILABLE:
		/*
		 * The detail names hosts and ports, so it is not sent; db.c
		 * and the connect have logged it already.
		 */
		http_error(res, 503, "unavailable", NULL,
			   "the database is unavailable; try again later");
		res->retry_after = HTTP_RETRY_AFTER_S;
		break;
	default:
		log_err(e);
		http_error(res, 500, "internal", NULL,
			   "internal error; the server log has the details");
		break;
	}
}

void http_json(struct http_response *res, int status, json_t *body)
{
	if (!body) {
		http_error(res, 500, "internal", NULL, "out of memory");
		return;
	}
	set_json(res, status, body);
}

const char *http_query(const struct http_request *req, const char *key)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
					   key);
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/*
 * Is the JSON text nested deeper than max?  Counted before parsing so that
 * jansson's own limit (2048) is never what stops a hostile body.
 */
static bool too_deep(const char *s, size_t n, int max)
{
	bool in_string = false;
	int depth = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return true;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return false;
}

json_t *http_body_json(const struct http_request *req,
		       struct http_response *res)
{
	json_error_t jerr;
	json_t *j;

	if (req->body_len == 0) {
		http_error(res, 400, "invalid", NULL,
			   "the request body is empty; JSON expected");
		return NULL;
	}
	if (too_deep(req->body, req->body_len, HTTP_JSON_MAX_DEPTH)) {
		http_error(res, 400, "invalid", NULL,
			   "JSON nested deeper than %d levels",
			   HTTP_JSON_MAX_DEPTH);
		return NULL;
	}
	j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		http_error(res, 400, "invalid", NULL,
			   "malformed JSON at line %d, column %d: %s",
			   jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j) && !json_is_array(j)) {
		json_decref(j);
		http_error(res, 400, "invalid", NULL,
			   "a JSON object or array expected");
		return NULL;
	}
	return j;
}

/* The fixed body for when even building an error body failed. */
static const char oom_body[] =
	"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\","
	"\"field\":null}}";

static void add_header(struct MHD_Response *r, const char *name,
		       const char *value)
{
	/* Fails only when out of memory; the response still goes out. */
	if (MHD_add_response_header(r, name, value) != MHD_YES)
		log_warning("cannot add response header %s", name);
}

/* Count, log and forget one answered request. */
static void account(struct exchange *x, int route, const char *method,
		    int status)
{
	double secs = (double)(now_ns() - x->start_ns) / 1e9;
	char st[8], ms[32];
	const char *kv[] = {
		"method",     method,
		"path",	      x->path,
		"status",     st,
		"ms",	      ms,
		"request_id", x->request_id,
		"user",	      x->who.username[0] ? x->who.username : NULL,
		"remote",     x->remote,
		NULL};

	metrics_request(route, method, status, secs);
	snprintf(st, sizeof(st), "%d", status);
	snprintf(ms, sizeof(ms), "%.1f", secs * 1000);
	log_line(LOG_INFO, kv, "request");
}

/*
 * Send res: the handler's JSON or text with the headers every response
 * carries.  Frees what res owns.
 */
static enum MHD_Result respond(struct exchange *x, struct MHD_Connection *conn,
			       int route, const char *method,
			       struct http_response *res)
{
	struct MHD_Response *r = NULL;
	const char *type = NULL;
	char *text = NULL, num[16];
	size_t len = 0;
	enum MHD_Result ret;

	if (res->status == 500 && !res->json && !res->text) {
		const char *kv[] = {"request_id", x->request_id, NULL};

		log_line(LOG_ERROR, kv, "no response body for %s %s (route %d)",
			 method, x->path, route);
		http_error(res, 500, "internal", NULL,
			   "internal error; the server log has the "
			   "details");
	}
	if (res->json) {
		/* 12 significant digits: a rate of 9.64, not 9.6400000000000006 */
		text = json_dumps(res->json,
				  JSON_COMPACT | JSON_REAL_PRECISION(12));
		type = JSON_TYPE;
		if (!text) {
			res->status = 500;
			res->retry_after = 0;
		}
	} else if (res->text) {
		text = res->text;
		res->text = NULL;
		type = res->content_type ? res->content_type :
					   "text/plain; charset=utf-8";
	}
	if (text) {
		len = strlen(text);
		r = MHD_create_response_from_buffer(len, text,
						    MHD_RESPMEM_MUST_FREE);
		if (!r)
			free(text);
	} else if (res->json || res->status == 500) {
		type = JSON_TYPE;
		r = MHD_create_response_from_buffer(sizeof(oom_body) - 1,
						    (void *)oom_body,
						    MHD_RESPMEM_PERSISTENT);
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"",
						    MHD_RESPMEM_PERSISTENT);
	}
	json_decref(res->json);
	res->json = NULL;
	if (!r) {
		x->answered = true;
		return MHD_NO; /* out of memory: drop the connection */
	}
	if (type)
		add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	add_header(r, "X-Content-Type-Options", "nosniff");
	add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	add_header(r, "X-Request-Id", x->request_id);
	if (res->retry_after > 0) {
		snprintf(num, sizeof(num), "%d", res->retry_after);
		add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, num);
	}
	if (res->status == 401)
		add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			   "Bearer realm=\"lagerbild\"");
	if (res->status == 405 && x->allow[0])
		add_header(r, MHD_HTTP_HEADER_ALLOW, x->allow);
	if (x->close || atomic_load(&srv.stopping))
		add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(conn, (unsigned)res->status, r);
	MHD_destroy_response(r);
	x->answered = true;
	account(x, route, method, res->status);
	return ret;
}

/* ---- one request ---- */

static void exchange_free(struct exchange *x)
{
	if (!x)
		return;
	if (x->spool_fd >= 0)
		close(x->spool_fd);
	free(x->path);
	free(x->body);
	free(x->params_buf);
	free(x);
}

/* Where the client is, as text, for logs and the audit trail. */
static void client_address(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	socklen_t len;

	out[0] = '\0';
	if (!sa)
		return;
	len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					  sizeof(struct sockaddr_in);
	if (getnameinfo(sa, len, out, (socklen_t)size, NULL, 0,
			NI_NUMERICHOST) != 0)
		out[0] = '\0';
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct exchange *x = calloc(1, sizeof(*x));
	uuid_t id;

	(void)cls;
	if (!x)
		return NULL;
	x->spool_fd = -1;
	x->start_ns = now_ns();
	x->uri_len = strlen(uri);
	x->path = strndup(uri, strcspn(uri, "?#"));
	if (!x->path) {
		free(x);
		return NULL;
	}
	uuid_generate_random(id);
	uuid_unparse_lower(id, x->request_id);
	client_address(conn, x->remote, sizeof(x->remote));
	atomic_fetch_add(&srv.in_flight, 1);
	return x;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct exchange *x = *con_cls;

	(void)cls;
	(void)conn;
	if (!x)
		return;
	if (!x->answered) {
		const char *kv[] = {"path", x->path, "request_id",
				    x->request_id, NULL};

		log_line(LOG_INFO, kv, "request abandoned (reason %d)",
			 (int)toe);
	}
	exchange_free(x);
	*con_cls = NULL;
	atomic_fetch_sub(&srv.in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)conn;
	(void)socket_context;
	metrics_connections_add(toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	static const char *const kv[] = {"source", "libmicrohttpd", NULL};
	char msg[512];
	size_t n;

	(void)cls;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		return;
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_line(LOG_WARNING, kv, "%s", msg);
}

/* Sum the header lines (name, ": ", value, CRLF) for max_header. */
static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind,
				       const char *key, const char *value)
{
	size_t *total = cls;

	(void)kind;
	*total += strlen(key) + (value ? strlen(value) : 0) + 4;
	return MHD_YES;
}

/* The route a request would have had, for the metrics of a refusal. */
static int route_label(const struct exchange *x, const char *method)
{
	const char *params[HTTP_MAX_PARAMS];
	bool known;
	int n;

	return http_route_match(srv.routes, srv.nroutes,
				strcmp(method, "HEAD") == 0 ? "GET" : method,
				x->path, params, &n, &known);
}

static int authenticate(struct exchange *x, struct http_request *req,
			struct http_response *res);

static bool wants_continue(struct MHD_Connection *conn)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_EXPECT);

	return v && strcasecmp(v, "100-continue") == 0;
}

/* The upload limit of an HTTP_SPOOL route. */
static size_t max_upload(void)
{
	return srv.cfg->max_upload ? srv.cfg->max_upload :
				     HTTP_MAX_UPLOAD_DEFAULT;
}

/*
 * An HTTP_SPOOL route's headers are in: authenticate now, refuse a
 * declared length over max_upload, and open the file the body goes to.
 */
static enum MHD_Result start_spool(struct exchange *x,
				   struct MHD_Connection *conn,
				   const char *method, int route,
				   const char *cl)
{
	struct http_request req = {.method = method, .path = x->path};
	struct http_response res = {.status = 500};
	const char *dir = getenv("TMPDIR");
	struct err e = {0};
	int64_t len;

	req.conn = conn;
	if (cl && parse_int64(cl, 0, INT64_MAX, &len, "length", &e) == 0 &&
	    (uint64_t)len > max_upload()) {
		x->close = true;
		http_error(&res, 413, "too_large", NULL,
			   "the upload is larger than %zu bytes", max_upload());
		goto answer;
	}
	if (get_worker_db(&req.db, &e) < 0) {
		x->close = true;
		http_error_from(&res, &e);
		goto answer;
	}
	if (authenticate(x, &req, &res) < 0) {
		x->close = true;
		goto answer;
	}
	x->authenticated = true;
	if (!dir || !dir[0])
		dir = "/tmp";
	if ((size_t)snprintf(x->spool_path, sizeof(x->spool_path),
			     "%s/lagerbild-upload.XXXXXX",
			     dir) >= sizeof(x->spool_path) ||
	    (x->spool_fd = mkstemp(x->spool_path)) < 0) {
		const char *kv[] = {"request_id", x->request_id, NULL};

		log_line(LOG_ERROR, kv,
			 "cannot create an upload file in %s: %s", dir,
			 strerror(errno));
		x->close = true;
		http_error(&res, 503, "unavailable", NULL,
			   "the server cannot store the upload now");
		res.retry_after = HTTP_RETRY_AFTER_S;
		goto answer;
	}
	/* Unlinked at once, read back through /proc: not even a crash of
	 * the server leaves an upload behind. */
	unlink(x->spool_path);
	snprintf(x->spool_path, sizeof(x->spool_path), "/proc/self/fd/%d",
		 x->spool_fd);
	return MHD_YES;
answer:
	return respond(x, conn, route, method, &res);
}

/* Append to the spool file; an error there makes the request a 503. */
static enum MHD_Result spool_body(struct exchange *x, const char *data,
				  size_t n)
{
	if (!x->too_large && n > max_upload() - x->spooled)
		x->too_large = true;
	if (x->too_large || x->spool_failed) {
		x->discarded += n;
		return x->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	while (n > 0) {
		ssize_t w = write(x->spool_fd, data, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			const char *kv[] = {"request_id", x->request_id, NULL};

			log_line(LOG_ERROR, kv, "writing the upload: %s",
				 strerror(errno));
			x->spool_failed = true;
			return MHD_YES;
		}
		x->spooled += (size_t)w;
		data += w;
		n -= (size_t)w;
	}
	return MHD_YES;
}

/*
 * The headers are in.  Headers over max_header get 431 (MHD's own 431
 * stops only what does not fit its memory pool, which is larger).  A
 * declared body larger than max_body is refused here when reading it
 * would be pointless; otherwise it is read and dropped (see the design
 * note).  A body that fits gets its buffer now.
 */
static enum MHD_Result
on_headers(struct exchange *x, struct MHD_Connection *conn, const char *method)
{
	const char *cl = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct http_response res = {.status = 500};
	size_t header_bytes = strlen(method) + x->uri_len + 12;
	struct err e = {0};
	int64_t len;
	int route;

	MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_size,
				  &header_bytes);
	if (header_bytes > srv.cfg->max_header) {
		x->close = true;
		http_error(&res, 431, "too_large", NULL,
			   "the request headers are larger than %zu bytes",
			   srv.cfg->max_header);
		return respond(x, conn, route_label(x, method), method, &res);
	}
	route = route_label(x, method);
	if (route >= 0 && (srv.routes[route].flags & HTTP_SPOOL))
		return start_spool(x, conn, method, route, cl);
	if (!cl || parse_int64(cl, 0, INT64_MAX, &len, "length", &e) < 0)
		return MHD_YES; /* chunked, none, or MHD's to refuse */
	if ((uint64_t)len <= srv.cfg->max_body) {
		x->body = malloc((size_t)len + 1);
		if (!x->body)
			return MHD_NO;
		x->body[0] = '\0';
		x->body_cap = (size_t)len + 1;
		return MHD_YES;
	}
	x->too_large = true;
	if (!wants_continue(conn) && len <= DISCARD_MAX)
		return MHD_YES;
	x->close = true;
	http_error(&res, 413, "too_large", NULL,
		   "the request body is larger than %zu bytes",
		   srv.cfg->max_body);
	return respond(x, conn, route_label(x, method), method, &res);
}

static enum MHD_Result on_body(struct exchange *x, const char *data, size_t n)
{
	size_t cap;
	char *grown;

	if (x->spool_fd >= 0)
		return spool_body(x, data, n);
	if (!x->too_large && n > srv.cfg->max_body - x->body_len) {
		x->too_large = true;
		x->discarded = x->body_len;
		free(x->body);
		x->body = NULL;
		x->body_len = x->body_cap = 0;
	}
	if (x->too_large) {
		x->discarded += n;
		if (x->discarded > DISCARD_MAX) {
			const char *kv[] = {"path", x->path, "request_id",
					    x->request_id, NULL};

			log_line(LOG_INFO, kv,
				 "request body beyond %d bytes; connection "
				 "closed",
				 DISCARD_MAX);
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (x->body_len + n + 1 > x->body_cap) {
		cap = x->body_cap ? x->body_cap : 4096;
		while (cap < x->body_len + n + 1)
			cap *= 2;
		if (cap > srv.cfg->max_body + 1)
			cap = srv.cfg->max_body + 1;
		grown = realloc(x->body, cap);
		if (!grown)
			return MHD_NO;
		x->body = grown;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, data, n);
	x->body_len += n;
	x->body[x->body_len] = '\0';
	return MHD_YES;
}

/* Check the bearer token; on failure res holds the answer. */
static int authenticate(struct exchange *x, struct http_request *req,
			struct http_response *res)
{
	const char *h = http_header(req, MHD_HTTP_HEADER_AUTHORIZATION);
	struct err e = {0};

	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		http_error(res, 401, "unauthorized", NULL,
			   "a bearer token is required");
		return -1;
	}
	h += 7;
	while (*h == ' ')
		h++;
	if (h[0] == '\0' || strlen(h) >= AUTH_TOKEN_MAX) {
		http_error(res, 401, "unauthorized", NULL,
			   "invalid or expired token");
		return -1;
	}
	if (auth_authenticate(req->db, h, &x->who, &e) < 0) {
		memset(&x->who, 0, sizeof(x->who));
		if (e.code == ERR_INVALID)
			http_error(res, 401, "unauthorized", NULL,
				   "invalid or expired token");
		else
			http_error_from(res, &e);
		return -1;
	}
	snprintf(x->who.remote, sizeof(x->who.remote), "%s", x->remote);
	snprintf(x->who.request_id, sizeof(x->who.request_id), "%s",
		 x->request_id);
	req->who = &x->who;
	return 0;
}

/* The whole request is in: route it and answer. */
static enum MHD_Result dispatch(struct exchange *x, struct MHD_Connection *conn,
				const char *method)
{
	struct http_request req = {.method = method, .path = x->path};
	struct http_response res = {.status = 500};
	const char *params[HTTP_MAX_PARAMS];
	const struct http_route *r;
	struct err e = {0};
	bool path_known;
	int route = -1, nparams;

	memcpy(req.request_id, x->request_id, sizeof(req.request_id));
	memcpy(req.remote, x->remote, sizeof(req.remote));
	req.conn = conn;
	req.body = x->body ? x->body : "";
	req.body_len = x->body_len;
	if (x->spool_fd >= 0) {
		req.body_path = x->spool_path;
		req.body_len = x->spooled;
	}
	if (x->too_large) {
		route = route_label(x, method);
		http_error(&res, 413, "too_large", NULL,
			   "the request body is larger than %zu bytes",
			   x->spool_fd >= 0 ? max_upload() : srv.cfg->max_body);
		goto out;
	}
	if (x->spool_failed) {
		route = route_label(x, method);
		http_error(&res, 503, "unavailable", NULL,
			   "the server could not store the upload");
		res.retry_after = HTTP_RETRY_AFTER_S;
		goto out;
	}
	/* HEAD is GET without the body, which MHD leaves out. */
	route = http_route_match(srv.routes, srv.nroutes,
				 strcmp(method, "HEAD") == 0 ? "GET" : method,
				 x->path, params, &nparams, &path_known);
	if (route < 0) {
		if (path_known) {
			allowed_methods(x->path, x->allow, sizeof(x->allow));
			http_error(&res, 405, "method_not_allowed", NULL,
				   "%s is not allowed here; allowed: %s",
				   method, x->allow);
		} else {
			http_error(&res, 404, "not_found", NULL,
				   "no such resource");
		}
		goto out;
	}
	r = &srv.routes[route];
	if (decode_params(x, r, params, nparams, &req, &res) < 0)
		goto out;
	if ((r->flags & HTTP_DB) || !(r->flags & HTTP_PUBLIC)) {
		if (get_worker_db(&req.db, &e) < 0) {
			http_error_from(&res, &e);
			goto out;
		}
	}
	if (x->authenticated)
		req.who = &x->who;
	else if (!(r->flags & HTTP_PUBLIC) && authenticate(x, &req, &res) < 0)
		goto out;
	r->fn(&req, &res);
out:
	after_handler(&req, &res);
	return respond(x, conn, route, method, &res);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct exchange *x = *con_cls;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)version;
	if (!x)
		return MHD_NO; /* on_uri was out of memory */
	if (x->answered) {
		/* Answered before the body: MHD drops the rest. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!x->headers_seen) {
		x->headers_seen = true;
		return on_headers(x, conn, method);
	}
	if (*upload_data_size > 0) {
		ret = on_body(x, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return ret;
	}
	return dispatch(x, conn, method);
}

/* ---- serving ---- */

static int check_config(const struct http_config *cfg, struct err *e)
{
	if (cfg->threads < 1 || cfg->threads > HTTP_THREADS_MAX)
		return err_set(e, ERR_INVALID, "threads",
			       "threads %d: must be between 1 and %d",
			       cfg->threads, HTTP_THREADS_MAX);
	if (cfg->max_body < HTTP_MAX_BODY_MIN ||
	    cfg->max_body > HTTP_MAX_BODY_MAX)
		return err_set(e, ERR_INVALID, "max_body",
			       "max_body %zu: must be between %d and %d",
			       cfg->max_body, HTTP_MAX_BODY_MIN,
			       HTTP_MAX_BODY_MAX);
	if (cfg->max_header < HTTP_MAX_HEADER_MIN ||
	    cfg->max_header > HTTP_MAX_HEADER_MAX)
		return err_set(e, ERR_INVALID, "max_header",
			       "max_header %zu: must be between %d and %d",
			       cfg->max_header, HTTP_MAX_HEADER_MIN,
			       HTTP_MAX_HEADER_MAX);
	/* MHD shares the limit out among the workers, at least one each. */
	if (cfg->max_connections < (unsigned)cfg->threads ||
	    cfg->max_connections > HTTP_MAX_CONNECTIONS_MAX)
		return err_set(e, ERR_INVALID, "max_connections",
			       "max_connections %u: must be between threads "
			       "(%d) and %d",
			       cfg->max_connections, cfg->threads,
			       HTTP_MAX_CONNECTIONS_MAX);
	if (cfg->timeout_s < 1 || cfg->timeout_s > HTTP_TIMEOUT_MAX)
		return err_set(e, ERR_INVALID, "timeout",
			       "timeout %u: must be between 1 and %d",
			       cfg->timeout_s, HTTP_TIMEOUT_MAX);
	return 0;
}

/*
 * Wait until the requests in flight are done, or deadline, or a second
 * signal (which means: stop now).
 */
static void drain(const sigset_t *signals, int64_t deadline_ns)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	int n;

	while ((n = atomic_load(&srv.in_flight)) > 0) {
		if (now_ns() >= deadline_ns) {
			log_warning("%d requests still in flight; stopping "
				    "anyway",
				    n);
			return;
		}
		if (sigtimedwait(signals, NULL, &tick) > 0) {
			log_warning("second signal: stopping with %d requests "
				    "in flight",
				    n);
			return;
		}
	}
}

static void close_dbs(void)
{
	pthread_mutex_lock(&srv.lock);
	for (size_t i = 0; i < srv.ndbs; i++) {
		db_close(srv.dbs[i]);
		metrics_db_connections_add(-1);
	}
	free(srv.dbs);
	srv.dbs = NULL;
	srv.ndbs = srv.dbs_cap = 0;
	pthread_mutex_unlock(&srv.lock);
}

/* Log where we listen, with the port the kernel chose for port 0. */
static void log_listening(struct MHD_Daemon *d, const struct http_config *cfg,
			  const struct sockaddr_storage *ss)
{
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char host[64], port[8], url[96], threads[8];
	const char *kv[] = {"url", url, "port", port, "threads", threads, NULL};
	const void *addr =
		ss->ss_family == AF_INET6 ?
			(const void *)&((const struct sockaddr_in6 *)ss)
				->sin6_addr :
			(const void *)&((const struct sockaddr_in *)ss)
				->sin_addr;

	if (!inet_ntop(ss->ss_family, addr, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	snprintf(port, sizeof(port), "%u", di ? (unsigned)di->port : 0u);
	snprintf(url, sizeof(url),
		 ss->ss_family == AF_INET6 ? "http://[%s]:%s/" :
					     "http://%s:%s/",
		 host, port);
	snprintf(threads, sizeof(threads), "%d", cfg->threads);
	log_line(LOG_INFO, kv, "listening");
}

int http_serve(const struct http_config *cfg, const struct http_route *routes,
	       size_t nroutes, struct err *e)
{
	struct MHD_OptionItem pool_opts[2] = {{MHD_OPTION_END, 0, NULL},
					      {MHD_OPTION_END, 0, NULL}};
	struct sockaddr_storage ss;
	struct MHD_Daemon *d = NULL;
	const char **names = NULL;
	sigset_t signals, old;
	MHD_socket listen_fd = MHD_INVALID_SOCKET;
	unsigned flags;
	size_t pool;
	int sig, rc = -1;
	bool masked = false;

	if (check_config(cfg, e) < 0 ||
	    http_parse_listen(cfg->listen, &ss, "listen", e) < 0)
		return -1;
	if (check_routes(routes, nroutes, e) < 0)
		return -1;
	names = calloc(nroutes + 1, sizeof(*names));
	if (!names)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	for (size_t i = 0; i < nroutes; i++)
		names[i] = routes[i].name;
	if (metrics_init(names, nroutes, e) < 0)
		goto out;
	srv.cfg = cfg;
	srv.routes = routes;
	srv.nroutes = nroutes;
	atomic_store(&srv.in_flight, 0);
	atomic_store(&srv.stopping, false);
	atomic_store(&srv.db_retry_ms, 0);
	srv.conninfo = conninfo_with_timeout(cfg->conninfo);
	if (!srv.conninfo) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	/* Seed jansson's hash before there are threads to race for it. */
	json_object_seed(0);

	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &signals, &old) != 0) {
		err_set(e, ERR_INTERNAL, "", "cannot block signals");
		goto out;
	}
	masked = true;

	/*
	 * The pool holds the request line, the headers and the response
	 * headers; MHD gives about half of it to reading.
	 */
	pool = 2 * cfg->max_header;
	if (pool < 32 * 1024)
		pool = 32 * 1024;
	flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/*
	 * A pool of one thread is no pool to MHD, which warns about one of
	 * size 1 or 0: then the option is left out.  The logger goes first,
	 * or MHD logs the options before it raw.
	 */
	if (cfg->threads > 1)
		pool_opts[0] = (struct MHD_OptionItem){
			MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL};
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_ARRAY, pool_opts,
			     MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
			     MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
			     MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
			     MHD_OPTION_END);
	if (!d) {
		err_set(e, ERR_UNAVAILABLE, "listen",
			"cannot listen on %s (see the message before)",
			cfg->listen);
		goto out;
	}
	log_listening(d, cfg, &ss);

	while (sigwait(&signals, &sig) != 0)
		;
	log_info("signal %d: stopping; finishing requests in flight", sig);
	atomic_store(&srv.stopping, true);
	listen_fd = MHD_quiesce_daemon(d);
	/* Refuse newcomers now instead of leaving them in the backlog. */
	if (listen_fd != MHD_INVALID_SOCKET)
		shutdown(listen_fd, SHUT_RDWR);
	drain(&signals, now_ns() + (int64_t)cfg->timeout_s * 1000000000);
	MHD_stop_daemon(d);
	d = NULL;
	if (listen_fd != MHD_INVALID_SOCKET)
		close(listen_fd);
	rc = 0;
out:
	if (d)
		MHD_stop_daemon(d);
	close_dbs();
	if (masked) {
		/* A signal that came twice must not kill us on unblocking. */
		struct timespec zero = {0, 0};

		while (sigtimedwait(&signals, NULL, &zero) > 0)
			;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	metrics_fini();
	free(names);
	free(srv.conninfo);
	srv.conninfo = NULL;
	if (rc == 0)
		log_info("stopped");
	return rc;
}
