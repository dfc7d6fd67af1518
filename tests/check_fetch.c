/*
 * check_fetch.c -- importers/fetch.c against an HTTP server in this
 * process (libmicrohttpd on 127.0.0.1, port 0): downloads, validators,
 * retries, size caps, timeouts, the URL rules, and push mode.  No database.
 *
 * Each test scripts the server's answers (the nth request gets the nth
 * reply, the last one repeating) and then checks what the server saw.  The
 * server runs a thread per connection so that a reply that stalls blocks
 * only its own connection.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <microhttpd.h>
#include <sodium.h>

#include "fetch.h"
#include "log.h"
#include "suites.h"

#define MAX_REPLIES 8

/* One scripted answer. */
struct reply {
	unsigned status;
	const char *body;	   /* NULL: empty */
	int64_t stream_bytes;	   /* > 0: that many 'x', chunked, no length */
	const char *etag;	   /* a matching If-None-Match gets 304 */
	const char *last_modified; /* a matching If-Modified-Since gets 304 */
	const char *location;
	const char *content_type;
	int stall_ms;  /* wait this long before answering */
	bool bare_304; /* a 304 repeats ETag but not Last-Modified */
};

/* The server: its script, and what it saw of the last request. */
static struct {
	struct MHD_Daemon *d;
	int port;
	char base[64];
	pthread_mutex_t mu;
	bool stopping;
	struct reply replies[MAX_REPLIES];
	int nreplies;
	int requests;
	char method[16];
	char path[256];
	char if_none_match[256];
	char if_modified_since[64];
	char authorization[256];
	char content_type[128];
	char region[64], dry_run[16], partial[16], force[16];
	char *body;
	size_t body_len, body_cap;
} srv;

static char dir[64], dest[128], cache[128], url[256];
static struct fetch_options opt;

/* ---- the server ---- */

static void copy_value(struct MHD_Connection *c, enum MHD_ValueKind kind,
		       const char *name, char *out, size_t size)
{
	const char *v = MHD_lookup_connection_value(c, kind, name);

	snprintf(out, size, "%s", v ? v : "");
}

static void record_request(struct MHD_Connection *c, const char *path,
			   const char *method)
{
	srv.requests++;
	snprintf(srv.method, sizeof(srv.method), "%s", method);
	snprintf(srv.path, sizeof(srv.path), "%s", path);
	copy_value(c, MHD_HEADER_KIND, "If-None-Match", srv.if_none_match,
		   sizeof(srv.if_none_match));
	copy_value(c, MHD_HEADER_KIND, "If-Modified-Since",
		   srv.if_modified_since, sizeof(srv.if_modified_since));
	copy_value(c, MHD_HEADER_KIND, "Authorization", srv.authorization,
		   sizeof(srv.authorization));
	copy_value(c, MHD_HEADER_KIND, "Content-Type", srv.content_type,
		   sizeof(srv.content_type));
	copy_value(c, MHD_GET_ARGUMENT_KIND, "region", srv.region,
		   sizeof(srv.region));
	copy_value(c, MHD_GET_ARGUMENT_KIND, "dry_run", srv.dry_run,
		   sizeof(srv.dry_run));
	copy_value(c, MHD_GET_ARGUMENT_KIND, "partial", srv.partial,
		   sizeof(srv.partial));
	copy_value(c, MHD_GET_ARGUMENT_KIND, "force", srv.force,
		   sizeof(srv.force));
	srv.body_len = 0;
}

static void record_body(const char *data, size_t n)
{
	if (srv.body_len + n > srv.body_cap) {
		size_t cap = srv.body_cap ? srv.body_cap : 65536;

		while (cap < srv.body_len + n)
			cap *= 2;
		srv.body = realloc(srv.body, cap);
		if (!srv.body)
			abort(); /* no ck_assert outside the test's thread */
		srv.body_cap = cap;
	}
	memcpy(srv.body + srv.body_len, data, n);
	srv.body_len += n;
}

static bool stopping(void)
{
	bool s;

	pthread_mutex_lock(&srv.mu);
	s = srv.stopping;
	pthread_mutex_unlock(&srv.mu);
	return s;
}

static ssize_t stream_x(void *cls, uint64_t pos, char *buf, size_t max)
{
	int64_t *left = cls;
	size_t n = max < (uint64_t)*left ? max : (size_t)*left;

	(void)pos;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	memset(buf, 'x', n);
	*left -= (int64_t)n;
	return (ssize_t)n;
}

static void add_header(struct MHD_Response *r, const char *name,
		       const char *value)
{
	if (value)
		MHD_add_response_header(r, name, value);
}

static enum MHD_Result respond(struct MHD_Connection *c, const struct reply *r,
			       bool not_modified)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int64_t *left;

	if (not_modified) {
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
	} else if (r->stream_bytes > 0) {
		left = malloc(sizeof(*left));
		if (!left)
			return MHD_NO;
		*left = r->stream_bytes;
		resp = MHD_create_response_from_callback(
			MHD_SIZE_UNKNOWN, 16384, stream_x, left, free);
	} else {
		const char *body = r->body ? r->body : "";

		resp = MHD_create_response_from_buffer(
			strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	}
	if (!resp)
		return MHD_NO;
	add_header(resp, "ETag", r->etag);
	if (!(not_modified && r->bare_304))
		add_header(resp, "Last-Modified", r->last_modified);
	add_header(resp, "Location", r->location);
	add_header(resp, "Content-Type", r->content_type);
	ret = MHD_queue_response(c, not_modified ? 304 : r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
			      const char *path, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	static int seen; /* marks a request whose headers were recorded */
	struct reply r;
	bool not_modified;

	(void)cls;
	(void)version;
	pthread_mutex_lock(&srv.mu);
	if (!*state) {
		*state = &seen;
		record_request(c, path, method);
		pthread_mutex_unlock(&srv.mu);
		return MHD_YES;
	}
	if (*upload_size) {
		record_body(upload, *upload_size);
		pthread_mutex_unlock(&srv.mu);
		*upload_size = 0;
		return MHD_YES;
	}
	r = srv.replies[srv.requests < srv.nreplies ? srv.requests - 1 :
						      srv.nreplies - 1];
	not_modified = (r.etag && strcmp(srv.if_none_match, r.etag) == 0) ||
		       (r.last_modified &&
			strcmp(srv.if_modified_since, r.last_modified) == 0);
	pthread_mutex_unlock(&srv.mu);
	for (int waited = 0; waited < r.stall_ms && !stopping(); waited += 20)
		usleep(20 * 1000);
	return respond(c, &r, not_modified);
}

/* Answer the next requests with replies[0..n-1], the last one repeating,
 * and count requests from 0. */
static void script(int n, const struct reply *replies)
{
	ck_assert_int_le(n, MAX_REPLIES);
	pthread_mutex_lock(&srv.mu);
	memcpy(srv.replies, replies, (size_t)n * sizeof(*replies));
	srv.nreplies = n;
	srv.requests = 0;
	pthread_mutex_unlock(&srv.mu);
}

static int requests(void)
{
	int n;

	pthread_mutex_lock(&srv.mu);
	n = srv.requests;
	pthread_mutex_unlock(&srv.mu);
	return n;
}

static void server_start(void)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	const union MHD_DaemonInfo *info;

	pthread_mutex_init(&srv.mu, NULL);
	srv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
					 MHD_USE_THREAD_PER_CONNECTION,
				 0, NULL, NULL, handle, NULL,
				 MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	ck_assert_msg(srv.d != NULL, "cannot start the test server");
	info = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert(info != NULL && info->port != 0);
	srv.port = info->port;
	snprintf(srv.base, sizeof(srv.base), "http://127.0.0.1:%d", srv.port);
}

static void server_stop(void)
{
	pthread_mutex_lock(&srv.mu);
	srv.stopping = true;
	pthread_mutex_unlock(&srv.mu);
	MHD_stop_daemon(srv.d);
	free(srv.body);
	pthread_mutex_destroy(&srv.mu);
	memset(&srv, 0, sizeof(srv));
}

/* ---- files ---- */

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *ent;
	char sub[512];

	if (!d) {
		unlink(path);
		return;
	}
	while ((ent = readdir(d))) {
		if (strcmp(ent->d_name, ".") == 0 ||
		    strcmp(ent->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, ent->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

/* The whole file; the caller frees it.  *len gets its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert(buf != NULL);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void spew(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static off_t size_of(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	return st.st_size;
}

/* url = the test server's base + path. */
static const char *at(const char *path)
{
	snprintf(url, sizeof(url), "%s%s", srv.base, path);
	return url;
}

/* A port on 127.0.0.1 where nothing listens: bound, so nobody else takes
 * it during the test, but not listening, so connecting is refused. */
static int closed_port(int *fd)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sa);

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(*fd, 0);
	ck_assert_int_eq(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void setup(void)
{
	log_set_level(LOG_ERROR); /* retries log warnings */
	server_start();
	snprintf(dir, sizeof(dir), "/tmp/lb_fetch.XXXXXX");
	ck_assert(mkdtemp(dir) != NULL);
	snprintf(dest, sizeof(dest), "%s/dest", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	fetch_options_default(&opt);
	opt.connect_timeout_s = 5;
	opt.total_timeout_s = 10;
	opt.backoff_ms = 10;
	opt.cache_dir = cache;
}

static void teardown(void)
{
	server_stop();
	remove_tree(dir);
}

/* fetch_url on at(path) that must work; returns the result. */
static struct fetch_result fetch_ok(const char *path)
{
	struct fetch_result res;
	struct err e = {0};

	ck_assert_msg(fetch_url(at(path), &opt, dest, &res, &e) == 0, "%s",
		      e.msg);
	return res;
}

/* fetch_url on u that must fail with code; returns the message. */
static const char *fetch_fails(const char *u, enum err_code code)
{
	static struct err e;
	struct fetch_result res;

	memset(&e, 0, sizeof(e));
	ck_assert_msg(fetch_url(u, &opt, dest, &res, &e) == -1,
		      "%s: fetched, expected %s", u, err_code_name(code));
	ck_assert_msg(e.code == code, "%s: %s (%s), expected %s", u, e.msg,
		      err_code_name(e.code), err_code_name(code));
	return e.msg;
}

#define ck_assert_contains(s, sub)                                            \
	ck_assert_msg(strstr((s), (sub)) != NULL, "\"%s\" lacks \"%s\"", (s), \
		      (sub))

/* ---- downloads ---- */

START_TEST(test_defaults)
{
	struct fetch_options o;

	fetch_options_default(&o);
	ck_assert_int_eq(o.connect_timeout_s, 10);
	ck_assert_int_eq(o.total_timeout_s, 300);
	ck_assert_int_eq(o.max_bytes, (int64_t)1 << 30);
	ck_assert_int_eq(o.retries, 3);
	ck_assert_int_eq(o.backoff_ms, 1000);
	ck_assert_ptr_null(o.cache_dir);
	ck_assert_ptr_null(o.ca_file);
}
END_TEST

START_TEST(test_download)
{
	static const char csv[] = "site;gtin;qty\n01-CL;07350012345678;5\n";
	struct reply r = {.status = 200, .body = csv};
	struct fetch_result res;
	size_t len;
	char *got;

	spew(dest, "stale content that must go", 26);
	script(1, &r);
	res = fetch_ok("/stock.csv");
	got = slurp(dest, &len);
	ck_assert_uint_eq(len, strlen(csv));
	ck_assert_str_eq(got, csv);
	free(got);
	ck_assert_int_eq(res.http_status, 200);
	ck_assert_int_eq(res.bytes, (int64_t)strlen(csv));
	ck_assert(!res.not_modified);
	ck_assert_str_eq(res.etag, "");
	ck_assert_int_eq(requests(), 1);
	ck_assert_str_eq(srv.method, "GET");
	ck_assert_str_eq(srv.path, "/stock.csv");
	ck_assert_str_eq(srv.if_none_match, "");
}
END_TEST

START_TEST(test_localhost_accepted)
{
	struct reply r = {.status = 200, .body = "ok"};
	struct fetch_result res;
	struct err e = {0};
	char u[128];

	script(1, &r);
	snprintf(u, sizeof(u), "http://localhost:%d/x", srv.port);
	ck_assert_msg(fetch_url(u, &opt, dest, &res, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(res.bytes, 2);
	/* [::1] is allowed too; nothing listens there, so it fails to
	 * connect rather than being refused as a URL. */
	opt.retries = 0;
	snprintf(u, sizeof(u), "http://[::1]:%d/x", srv.port);
	ck_assert_int_eq(fetch_url(u, &opt, dest, &res, &e), -1);
	ck_assert_msg(e.code == ERR_UNAVAILABLE, "%s", e.msg);
}
END_TEST

START_TEST(test_etag)
{
	struct reply r = {.status = 200, .body = "v1 data", .etag = "\"v1\""};
	struct fetch_result res;
	struct err e = {0};
	unsigned char hash[crypto_hash_sha256_BYTES];
	char hex[crypto_hash_sha256_BYTES * 2 + 1], kept[256];

	script(1, &r);
	res = fetch_ok("/npl.zip");
	ck_assert_str_eq(res.etag, "\"v1\"");
	ck_assert_str_eq(srv.if_none_match, "");

	/* Not stored yet (the import might have failed): unconditional. */
	res = fetch_ok("/npl.zip");
	ck_assert_str_eq(srv.if_none_match, "");
	ck_assert(!res.not_modified);

	ck_assert_msg(fetch_cache_store(&opt, at("/npl.zip"), &res, &e) == 0,
		      "%s", e.msg);
	/* One file, named by the URL's SHA-256. */
	crypto_hash_sha256(hash, (const unsigned char *)url, strlen(url));
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	snprintf(kept, sizeof(kept), "%s/%s", cache, hex);
	ck_assert_int_gt(size_of(kept), 0);

	res = fetch_ok("/npl.zip");
	ck_assert_str_eq(srv.if_none_match, "\"v1\"");
	ck_assert_int_eq(res.http_status, 304);
	ck_assert(res.not_modified);
	ck_assert_int_eq(res.bytes, 0);
	ck_assert_int_eq(size_of(dest), 0);
	ck_assert_str_eq(res.etag, "\"v1\"");
	ck_assert_int_eq(requests(), 3);

	/* Another URL has no validators of its own. */
	res = fetch_ok("/npl.zip?day=2");
	ck_assert_str_eq(srv.if_none_match, "");
	ck_assert(!res.not_modified);

	/* The remote file changes: a full download with the new tag. */
	r.etag = "\"v2\"";
	r.body = "v2 data!";
	script(1, &r);
	res = fetch_ok("/npl.zip");
	ck_assert_str_eq(srv.if_none_match, "\"v1\"");
	ck_assert(!res.not_modified);
	ck_assert_int_eq(res.bytes, 8);
	ck_assert_str_eq(res.etag, "\"v2\"");

	/* Without a cache directory nothing is conditional. */
	opt.cache_dir = NULL;
	r.etag = "\"v1\"";
	script(1, &r);
	res = fetch_ok("/npl.zip");
	ck_assert_str_eq(srv.if_none_match, "");
	ck_assert(!res.not_modified);
	ck_assert_int_eq(fetch_cache_store(&opt, url, &res, &e), 0);
}
END_TEST

START_TEST(test_last_modified)
{
	static const char lm[] = "Wed, 21 Oct 2015 07:28:00 GMT";
	struct reply r = {.status = 200, .body = "rows", .last_modified = lm};
	struct fetch_result res;
	struct err e = {0};
	DIR *d;
	struct dirent *ent;
	int files = 0;

	script(1, &r);
	res = fetch_ok("/pop.csv");
	ck_assert_str_eq(res.last_modified, lm);
	ck_assert_str_eq(res.etag, "");
	ck_assert_int_eq(fetch_cache_store(&opt, url, &res, &e), 0);

	res = fetch_ok("/pop.csv");
	ck_assert_str_eq(srv.if_modified_since, lm);
	ck_assert_str_eq(srv.if_none_match, "");
	ck_assert(res.not_modified);
	ck_assert_str_eq(res.last_modified, lm);

	/* The server drops its validators: storing that forgets ours. */
	r.last_modified = NULL;
	script(1, &r);
	res = fetch_ok("/pop.csv");
	ck_assert(!res.not_modified);
	ck_assert_int_eq(fetch_cache_store(&opt, url, &res, &e), 0);
	d = opendir(cache);
	ck_assert(d != NULL);
	while ((ent = readdir(d)))
		files += ent->d_name[0] != '.';
	closedir(d);
	ck_assert_int_eq(files, 0);
	fetch_ok("/pop.csv");
	ck_assert_str_eq(srv.if_modified_since, "");
}
END_TEST

START_TEST(test_304_keeps_validators)
{
	static const char lm[] = "Mon, 02 Jun 2025 01:00:00 GMT";
	struct reply r = {.status = 200,
			  .body = "x",
			  .etag = "W/\"7\"",
			  .last_modified = lm,
			  .bare_304 = true};
	struct fetch_result res;
	struct err e = {0};

	script(1, &r);
	res = fetch_ok("/x");
	ck_assert_int_eq(fetch_cache_store(&opt, url, &res, &e), 0);
	res = fetch_ok("/x");
	ck_assert_str_eq(srv.if_none_match, "W/\"7\"");
	ck_assert_str_eq(srv.if_modified_since, lm);
	ck_assert(res.not_modified);
	/* storing this result again must not lose either validator */
	ck_assert_str_eq(res.etag, "W/\"7\"");
	ck_assert_str_eq(res.last_modified, lm);
}
END_TEST

START_TEST(test_bad_validator_not_kept)
{
	/* A validator that is not a clean header value is never sent back. */
	char big[300];
	struct reply r = {.status = 200, .body = "x", .etag = big};
	struct fetch_result res;
	struct err e = {0};

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	script(1, &r);
	res = fetch_ok("/x");
	ck_assert_str_eq(res.etag, "");
	ck_assert_int_eq(fetch_cache_store(&opt, url, &res, &e), 0);
	fetch_ok("/x");
	ck_assert_str_eq(srv.if_none_match, "");
}
END_TEST

START_TEST(test_retry_then_success)
{
	struct reply r[] = {{.status = 500},
			    {.status = 502},
			    {.status = 200, .body = "ok"}};
	struct fetch_result res;
	size_t len;
	char *got;

	script(3, r);
	res = fetch_ok("/f");
	ck_assert_int_eq(requests(), 3);
	ck_assert_int_eq(res.http_status, 200);
	got = slurp(dest, &len);
	ck_assert_str_eq(got, "ok"); /* no error page mixed in */
	free(got);
}
END_TEST

START_TEST(test_429_retried)
{
	struct reply r[] = {{.status = 429}, {.status = 200, .body = "ok"}};

	script(2, r);
	fetch_ok("/f");
	ck_assert_int_eq(requests(), 2);
}
END_TEST

START_TEST(test_persistent_503)
{
	struct reply r = {.status = 503, .body = "down for maintenance"};
	double t0 = now_s();
	char want[300];

	script(1, &r);
	opt.retries = 3;
	snprintf(want, sizeof(want), "%s: HTTP 503 after 4 attempts", at("/f"));
	ck_assert_str_eq(fetch_fails(url, ERR_UNAVAILABLE), want);
	ck_assert_int_eq(requests(), 4);
	ck_assert_int_eq(size_of(dest), 0);
	/* backoff 10, 20, 40 ms at most: the test stays quick */
	ck_assert_double_lt(now_s() - t0, 2.0);

	opt.retries = 0;
	script(1, &r);
	snprintf(want, sizeof(want), "%s: HTTP 503", url);
	ck_assert_str_eq(fetch_fails(url, ERR_UNAVAILABLE), want);
	ck_assert_int_eq(requests(), 1);
}
END_TEST

START_TEST(test_client_errors_not_retried)
{
	static const struct {
		unsigned status;
		enum err_code code;
	} cases[] = {
		{404, ERR_NOT_FOUND},	{410, ERR_NOT_FOUND},
		{401, ERR_FORBIDDEN},	{403, ERR_FORBIDDEN},
		{400, ERR_UNAVAILABLE}, {300, ERR_UNAVAILABLE},
	};
	char want[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r = {.status = cases[i].status, .body = "no"};

		script(1, &r);
		snprintf(want, sizeof(want), "HTTP %u", cases[i].status);
		ck_assert_contains(fetch_fails(at("/f"), cases[i].code), want);
		ck_assert_int_eq(requests(), 1);
		ck_assert_int_eq(size_of(dest), 0);
	}
}
END_TEST

START_TEST(test_too_large_with_length)
{
	char body[1002];
	struct reply r = {.status = 200, .body = body};
	struct fetch_result res;

	memset(body, 'a', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	opt.max_bytes = 1000;
	script(1, &r);
	ck_assert_contains(fetch_fails(at("/big"), ERR_INVALID),
			   "larger than 1000 bytes");
	ck_assert_int_eq(requests(), 1);
	ck_assert_int_eq(size_of(dest), 0);

	/* exactly the limit is fine */
	body[1000] = '\0';
	res = fetch_ok("/big");
	ck_assert_int_eq(res.bytes, 1000);
	ck_assert_int_eq(size_of(dest), 1000);
}
END_TEST

START_TEST(test_too_large_chunked)
{
	struct reply r = {.status = 200, .stream_bytes = 300000};
	struct fetch_result res;
	char want[300];

	opt.max_bytes = 100000;
	script(1, &r);
	snprintf(want, sizeof(want), "%s: larger than 100000 bytes", at("/s"));
	ck_assert_str_eq(fetch_fails(url, ERR_INVALID), want);
	ck_assert_int_eq(requests(), 1);
	ck_assert_int_eq(size_of(dest), 0);

	r.stream_bytes = 100000;
	script(1, &r);
	res = fetch_ok("/s");
	ck_assert_int_eq(res.bytes, 100000);
	ck_assert_int_eq(size_of(dest), 100000);
}
END_TEST

START_TEST(test_timeout)
{
	struct reply r = {.status = 200, .body = "late", .stall_ms = 4000};
	double t0 = now_s();

	opt.total_timeout_s = 1;
	opt.retries = 1;
	script(1, &r);
	ck_assert_contains(fetch_fails(at("/slow"), ERR_UNAVAILABLE),
			   "timed out after 1 s after 2 attempts");
	ck_assert_int_eq(requests(), 2);
	ck_assert_double_lt(now_s() - t0, 3.5);
	ck_assert_int_eq(size_of(dest), 0);
}
END_TEST

START_TEST(test_connection_refused)
{
	char u[128], want[200];
	int fd, port = closed_port(&fd);

	opt.retries = 2;
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/f", port);
	snprintf(want, sizeof(want), "%s: connection refused after 3 attempts",
		 u);
	ck_assert_str_eq(fetch_fails(u, ERR_UNAVAILABLE), want);
	close(fd);
}
END_TEST

START_TEST(test_url_rules)
{
	static const char *const refused[] = {
		"http://example.com/npl.zip",
		"http://10.0.0.1/stock.csv",
		"http://127.0.0.2/x",
		"http://localhost.example.com/x",
		"http://127.0.0.1.nip.io/x",
		"ftp://127.0.0.1/x",
		"ftp://example.com/x",
		"file:///etc/passwd",
		"gopher://example.com/",
		"not a url",
		"example.com/x",
		"https://",
		"https://exa mple.com/",
		"https://example.com/\r\nX-Evil: 1",
		"",
	};
	struct fetch_result res;
	struct err e = {0};

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		const char *msg = fetch_fails(refused[i], ERR_INVALID);

		ck_assert_msg(*msg, "%s: no message", refused[i]);
	}
	ck_assert_contains(
		fetch_fails("http://example.com/npl.zip", ERR_INVALID),
		"only https:// URLs are accepted");
	ck_assert_int_eq(fetch_url(NULL, &opt, dest, &res, &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_int_eq(requests(), 0);
}
END_TEST

START_TEST(test_https_means_tls)
{
	/* The server speaks plain HTTP: an https URL must not fall back. */
	struct reply r = {.status = 200, .body = "plain"};
	char u[128];

	opt.retries = 0;
	script(1, &r);
	snprintf(u, sizeof(u), "https://127.0.0.1:%d/x", srv.port);
	fetch_fails(u, ERR_UNAVAILABLE);
	ck_assert_int_eq(size_of(dest), 0);
}
END_TEST

START_TEST(test_redirect_to_http_refused)
{
	char loc[128];
	struct reply r[] = {{.status = 302, .location = loc},
			    {.status = 200, .body = "moved"}};

	snprintf(loc, sizeof(loc), "%s/other", srv.base);
	script(2, r);
	fetch_fails(at("/f"), ERR_UNAVAILABLE);
	ck_assert_int_eq(requests(), 1);
	ck_assert_int_eq(size_of(dest), 0);
}
END_TEST

START_TEST(test_password_not_shown)
{
	struct reply r = {.status = 503};
	char u[128];
	const char *msg;

	opt.retries = 0;
	script(1, &r);
	snprintf(u, sizeof(u), "http://npl:s3cret@127.0.0.1:%d/f", srv.port);
	msg = fetch_fails(u, ERR_UNAVAILABLE);
	ck_assert_contains(msg, "HTTP 503");
	ck_assert_msg(strstr(msg, "s3cret") == NULL, "%s", msg);
}
END_TEST

/* ---- push ---- */

static struct fetch_push push_to(const char *server)
{
	struct fetch_push p = {
		.server = server,
		.token = "lb_imp_0123456789abcdef",
		.feed = "stock",
		.content_type = "text/csv",
	};
	return p;
}

START_TEST(test_push_body_intact)
{
	static const char answer[] = "{\"status\":\"done\",\"rows_total\":3}";
	struct reply r = {.status = 200,
			  .body = answer,
			  .content_type = "application/json"};
	struct fetch_push p = push_to(srv.base);
	size_t size = 3 * 1024 * 1024 + 17;
	char *data = malloc(size), src[128];
	json_t *body = NULL;
	long status = 0;
	struct err e = {0};

	ck_assert(data != NULL);
	randombytes_buf(data, size);
	snprintf(src, sizeof(src), "%s/upload.csv", dir);
	spew(src, data, size);
	p.region = "01";
	p.dry_run = p.partial = p.force = true;
	script(1, &r);
	ck_assert_msg(fetch_push_file(&p, src, &opt, &status, &body, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(status, 200);
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(json_string_value(json_object_get(body, "status")),
			 "done");
	ck_assert_int_eq(
		json_integer_value(json_object_get(body, "rows_total")), 3);
	json_decref(body);

	ck_assert_int_eq(requests(), 1);
	ck_assert_str_eq(srv.method, "POST");
	ck_assert_str_eq(srv.path, "/api/v1/imports/stock");
	ck_assert_str_eq(srv.authorization, "Bearer lb_imp_0123456789abcdef");
	ck_assert_str_eq(srv.content_type, "text/csv");
	ck_assert_str_eq(srv.region, "01");
	ck_assert_str_eq(srv.dry_run, "true");
	ck_assert_str_eq(srv.partial, "true");
	ck_assert_str_eq(srv.force, "true");
	ck_assert_uint_eq(srv.body_len, size);
	ck_assert(memcmp(srv.body, data, size) == 0);
	free(data);
}
END_TEST

START_TEST(test_push_prefix_and_escaping)
{
	struct reply r = {.status = 200, .body = "{}"};
	char server[128], src[128];
	struct fetch_push p;
	json_t *body = NULL;
	long status = 0;
	struct err e = {0};

	snprintf(server, sizeof(server), "%s/lagerbild/", srv.base);
	snprintf(src, sizeof(src), "%s/empty.xml", dir);
	spew(src, "", 0);
	p = push_to(server);
	p.feed = "npl";
	p.region = "0 1&dry_run=true";
	p.content_type = "application/xml";
	script(1, &r);
	ck_assert_msg(fetch_push_file(&p, src, &opt, &status, &body, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(status, 200);
	json_decref(body);
	ck_assert_str_eq(srv.path, "/lagerbild/api/v1/imports/npl");
	ck_assert_str_eq(srv.region, "0 1&dry_run=true");
	ck_assert_str_eq(srv.dry_run, "");
	ck_assert_str_eq(srv.partial, "");
	ck_assert_str_eq(srv.force, "");
	ck_assert_str_eq(srv.content_type, "application/xml");
	ck_assert_uint_eq(srv.body_len, 0);
}
END_TEST

START_TEST(test_push_status_returned)
{
	struct reply r = {
		.status = 422,
		.body = "{\"status\":\"rejected\",\"errors\":[{\"line\":17}]}"};
	struct fetch_push p = push_to(srv.base);
	char src[128];
	json_t *body = NULL;
	long status = 0;
	struct err e = {0};

	snprintf(src, sizeof(src), "%s/s.csv", dir);
	spew(src, "a;b\n", 4);
	script(1, &r);
	ck_assert_msg(fetch_push_file(&p, src, &opt, &status, &body, &e) == 0,
		      "%s", e.msg);
	ck_assert_int_eq(status, 422);
	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(json_array_size(json_object_get(body, "errors")), 1);
	json_decref(body);

	/* not JSON: the status, and no body */
	r = (struct reply){.status = 502, .body = "<html>Bad gateway</html>"};
	script(1, &r);
	ck_assert_int_eq(fetch_push_file(&p, src, &opt, &status, &body, &e), 0);
	ck_assert_int_eq(status, 502);
	ck_assert_ptr_null(body);
}
END_TEST

START_TEST(test_push_500_not_retried)
{
	struct reply r[] = {{.status = 500, .body = "{\"error\":\"x\"}"},
			    {.status = 200, .body = "{}"}};
	struct fetch_push p = push_to(srv.base);
	char src[128];
	json_t *body = NULL;
	long status = 0;
	struct err e = {0};

	snprintf(src, sizeof(src), "%s/s.csv", dir);
	spew(src, "a;b\n", 4);
	opt.retries = 3;
	script(2, r);
	ck_assert_int_eq(fetch_push_file(&p, src, &opt, &status, &body, &e), 0);
	ck_assert_int_eq(status, 500);
	ck_assert_int_eq(requests(), 1);
	json_decref(body);
}
END_TEST

START_TEST(test_push_timeout_not_retried)
{
	struct reply r = {.status = 200, .body = "{}", .stall_ms = 4000};
	struct fetch_push p = push_to(srv.base);
	char src[128];
	json_t *body = NULL;
	long status = 0;
	struct err e = {0};

	snprintf(src, sizeof(src), "%s/s.csv", dir);
	spew(src, "a;b\n", 4);
	opt.retries = 3;
	opt.total_timeout_s = 1;
	script(1, &r);
	ck_assert_int_eq(fetch_push_file(&p, src, &opt, &status, &body, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_UNAVAILABLE);
	ck_assert_contains(e.msg, "timed out after 1 s");
	ck_assert_int_eq(requests(), 1);
	ck_assert_int_eq(status, 0);
	ck_assert_ptr_null(body);
}
END_TEST

START_TEST(test_push_refused_retried)
{
	struct fetch_push p;
	char server[64], src[128], want[200];
	json_t *body = NULL;
	long status = 0;
	struct err e = {0};
	int fd, port = closed_port(&fd);

	snprintf(server, sizeof(server), "http://127.0.0.1:%d", port);
	snprintf(src, sizeof(src), "%s/s.csv", dir);
	spew(src, "a;b\n", 4);
	p = push_to(server);
	opt.retries = 2;
	ck_assert_int_eq(fetch_push_file(&p, src, &opt, &status, &body, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_UNAVAILABLE);
	snprintf(want, sizeof(want),
		 "%s/api/v1/imports/stock: connection refused after 3 attempts",
		 server);
	ck_assert_str_eq(e.msg, want);
	close(fd);
}
END_TEST

START_TEST(test_push_bad_input)
{
	char src[128], server_q[128];
	struct fetch_push base = push_to(srv.base), p;
	json_t *body = NULL;
	long status = 0;
	struct err e = {0};
	struct {
		const char *server, *token, *feed, *content_type, *field;
	} cases[] = {
		{"ftp://127.0.0.1/", NULL, NULL, NULL, "server"},
		{"http://example.com", NULL, NULL, NULL, "server"},
		{"nonsense", NULL, NULL, NULL, "server"},
		{server_q, NULL, NULL, NULL, "server"},
		{NULL, "tok\r\nX-Evil: 1", NULL, NULL, "token"},
		{NULL, "two words", NULL, NULL, "token"},
		{NULL, "", NULL, NULL, "token"},
		{NULL, NULL, "../admin", NULL, "feed"},
		{NULL, NULL, "", NULL, "feed"},
		{NULL, NULL, "Stock", NULL, "feed"},
		{NULL, NULL, NULL, "text/csv\r\nX-Evil: 1", "content_type"},
		{NULL, NULL, NULL, "", "content_type"},
	};

	snprintf(server_q, sizeof(server_q), "%s/?region=12", srv.base);
	snprintf(src, sizeof(src), "%s/s.csv", dir);
	spew(src, "a;b\n", 4);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = base;
		if (cases[i].server)
			p.server = cases[i].server;
		if (cases[i].token)
			p.token = cases[i].token;
		if (cases[i].feed)
			p.feed = cases[i].feed;
		if (cases[i].content_type)
			p.content_type = cases[i].content_type;
		ck_assert_int_eq(
			fetch_push_file(&p, src, &opt, &status, &body, &e), -1);
		ck_assert_msg(e.code == ERR_INVALID, "case %zu: %s", i, e.msg);
		ck_assert_str_eq(e.field, cases[i].field);
	}
	p = base;
	p.token = NULL;
	ck_assert_int_eq(fetch_push_file(&p, src, &opt, &status, &body, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	/* the source: missing, or a directory */
	ck_assert_int_eq(fetch_push_file(&base, "/nonexistent/x.csv", &opt,
					 &status, &body, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_INTERNAL);
	ck_assert_contains(e.msg, "/nonexistent/x.csv");
	ck_assert_int_eq(fetch_push_file(&base, dir, &opt, &status, &body, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_int_eq(requests(), 0);
}
END_TEST

Suite *fetch_suite(void)
{
	Suite *s = suite_create("fetch");
	TCase *tc = tcase_create("download");
	TCase *push = tcase_create("push");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_download);
	tcase_add_test(tc, test_localhost_accepted);
	tcase_add_test(tc, test_etag);
	tcase_add_test(tc, test_last_modified);
	tcase_add_test(tc, test_304_keeps_validators);
	tcase_add_test(tc, test_bad_validator_not_kept);
	tcase_add_test(tc, test_retry_then_success);
	tcase_add_test(tc, test_429_retried);
	tcase_add_test(tc, test_persistent_503);
	tcase_add_test(tc, test_client_errors_not_retried);
	tcase_add_test(tc, test_too_large_with_length);
	tcase_add_test(tc, test_too_large_chunked);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_url_rules);
	tcase_add_test(tc, test_https_means_tls);
	tcase_add_test(tc, test_redirect_to_http_refused);
	tcase_add_test(tc, test_password_not_shown);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(push, setup, teardown);
	tcase_set_timeout(push, 30);
	tcase_add_test(push, test_push_body_intact);
	tcase_add_test(push, test_push_prefix_and_escaping);
	tcase_add_test(push, test_push_status_returned);
	tcase_add_test(push, test_push_500_not_retried);
	tcase_add_test(push, test_push_timeout_not_retried);
	tcase_add_test(push, test_push_refused_retried);
	tcase_add_test(push, test_push_bad_input);
	suite_add_tcase(s, push);
	return s;
}
