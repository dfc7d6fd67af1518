/*
 * fetch.c -- libcurl for import sources: downloads with retries and
 * validators, and push mode (see fetch.h).
 *
 * Design note.
 *
 * URLs.  A URL is parsed once with curl's URL API and the parsed handle is
 * given to the transfer (CURLOPT_CURLU), so the scheme and host we checked
 * are the ones curl connects to.  CURLOPT_PROTOCOLS_STR pins the transfer
 * to that scheme and redirects may only go to https, so an https source
 * cannot be bounced to plain http.  Loopback transfers bypass any proxy
 * from the environment.
 *
 * Errors.  A failed attempt is judged into an outcome: done, worth
 * retrying, or final, with an error code and a few words about what
 * happened ("HTTP 503", "connection refused").  The error is only built
 * after the last attempt, as "<url>: <what>[ after N attempts]".
 *
 * Downloads.  CURLOPT_FAILONERROR makes curl stop at an HTTP error before
 * its body, so only a 2xx body reaches dest.  The size cap is checked by
 * curl against Content-Length and by our write callback against what
 * actually arrives.
 *
 * Push.  The POST body is read from the file as curl sends it.  Whether a
 * failed POST may be repeated is decided by CURLINFO_REQUEST_SIZE: curl
 * counts the request's bytes once it has sent them, so 0 means the server
 * cannot have seen the request.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "fetch.h"
#include "log.h"

#define DEFAULT_CONNECT_TIMEOUT_S 10
#define DEFAULT_TOTAL_TIMEOUT_S 300
#define DEFAULT_MAX_BYTES ((int64_t)1 << 30)
#define DEFAULT_RETRIES 3
#define DEFAULT_BACKOFF_MS 1000

/* A single wait never grows beyond this, however many retries. */
#define BACKOFF_MAX_MS (5 * 60 * 1000L)
/* A server's Retry-After is honoured up to this. */
#define RETRY_AFTER_MAX_S 120
#define MAX_REDIRECTS 5L
/* don't believe nonsense: longer URLs are not import sources */
#define URL_MAX 4096
#define TOKEN_MAX 4096
#define CONTENT_TYPE_MAX 255
#define FEED_MAX 64
#define REGION_MAX 16
#define PUSH_RESPONSE_MAX (16 * 1024 * 1024)
/* Our own validator files are tiny; anything bigger is not ours. */
#define CACHE_FILE_MAX 16384
#define USER_AGENT "lagerbild-import"

/* ---- set-up ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool init_ok;

static void init_libraries(void)
{
	/* sodium_init may run again here; it is idempotent and thread-safe. */
	init_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK &&
		  sodium_init() >= 0;
}

static int libraries_ready(struct err *e)
{
	pthread_once(&init_once, init_libraries);
	if (!init_ok)
		return err_set(e, ERR_INTERNAL, "",
			       "libcurl or libsodium failed to initialise");
	return 0;
}

void fetch_options_default(struct fetch_options *o)
{
	*o = (struct fetch_options){
		.connect_timeout_s = DEFAULT_CONNECT_TIMEOUT_S,
		.total_timeout_s = DEFAULT_TOTAL_TIMEOUT_S,
		.max_bytes = DEFAULT_MAX_BYTES,
		.retries = DEFAULT_RETRIES,
		.backoff_ms = DEFAULT_BACKOFF_MS,
	};
}

/* The caller's options with the holes filled in. */
static void options_get(struct fetch_options *o,
			const struct fetch_options *opt)
{
	struct fetch_options d;

	fetch_options_default(&d);
	*o = opt ? *opt : d;
	if (o->connect_timeout_s <= 0)
		o->connect_timeout_s = d.connect_timeout_s;
	if (o->total_timeout_s <= 0)
		o->total_timeout_s = d.total_timeout_s;
	if (o->max_bytes <= 0)
		o->max_bytes = d.max_bytes;
	if (o->retries < 0)
		o->retries = 0;
	if (o->backoff_ms < 0)
		o->backoff_ms = 0;
}

/* ---- small helpers ---- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * Is s usable as a header value: 1..max bytes of printable ASCII (space
 * only if allowed)?  This is what keeps a token, a content type or a
 * stored validator from smuggling a line break into a request.
 */
static bool header_safe(const char *s, size_t max, bool space)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];

		if (n >= max || c > 0x7e || c < 0x20 || (c == ' ' && !space))
			return false;
	}
	return n > 0;
}

/* Copy a validator if it is usable, else leave out empty. */
static void validator_copy(char *out, size_t size, const char *value)
{
	out[0] = '\0';
	if (header_safe(value, size - 1, true))
		memcpy(out, value, strlen(value) + 1);
}

/* ---- URLs ---- */

/* A parsed and checked URL. */
struct target {
	CURLU *u;
	char scheme[8];	 /* "https" or "http" */
	bool loopback;	 /* http allowed, proxies bypassed */
	char shown[512]; /* for messages: the URL without its password */
};

static bool is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
	       strcasecmp(host, "localhost") == 0;
}

/* Refresh t->shown from t->u. */
static void target_show(struct target *t)
{
	CURLU *copy = curl_url_dup(t->u);
	char *s = NULL;

	if (copy &&
	    curl_url_set(copy, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_get(copy, CURLUPART_URL, &s, 0) == CURLUE_OK)
		snprintf(t->shown, sizeof(t->shown), "%s", s);
	else
		snprintf(t->shown, sizeof(t->shown), "(URL)");
	curl_free(s);
	curl_url_cleanup(copy);
}

/*
 * Parse url into t and check the scheme rules of fetch.h.  field names
 * the input in errors ("url", "server").  0, or -1 with ERR_INVALID (t
 * then holds nothing); target_free t after success.
 */
static int target_parse(struct target *t, const char *url, const char *field,
			struct err *e)
{
	char *scheme = NULL, *host = NULL;
	CURLUcode uc;
	int rc = -1;

	*t = (struct target){0};
	if (!url || !*url)
		return err_set(e, ERR_INVALID, field, "%s: missing", field);
	if (strlen(url) > URL_MAX)
		return err_set(e, ERR_INVALID, field,
			       "%.60s...: longer than %d bytes", url, URL_MAX);
	t->u = curl_url();
	if (!t->u) {
		err_set(e, ERR_INTERNAL, field, "out of memory");
		goto out;
	}
	/* Any scheme parses, so that all wrong ones get the same message. */
	uc = curl_url_set(t->u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK) {
		err_set(e, ERR_INVALID, field, "%.200s: not a valid URL (%s)",
			url, curl_url_strerror(uc));
		goto out;
	}
	target_show(t);
	if (curl_url_get(t->u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(t->u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		err_set(e, ERR_INVALID, field, "%s: no host", t->shown);
		goto out;
	}
	t->loopback = is_loopback(host);
	if (strcmp(scheme, "https") != 0 &&
	    !(strcmp(scheme, "http") == 0 && t->loopback)) {
		err_set(e, ERR_INVALID, field,
			"%s: only https:// URLs are accepted (http:// only to "
			"127.0.0.1, [::1] or localhost)",
			t->shown);
		goto out;
	}
	snprintf(t->scheme, sizeof(t->scheme), "%s", scheme);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	if (rc < 0) {
		curl_url_cleanup(t->u);
		t->u = NULL;
	}
	return rc;
}

static void target_free(struct target *t)
{
	curl_url_cleanup(t->u);
	t->u = NULL;
}

int fetch_check_url(const char *url, const char *field, bool *loopback,
		    struct err *e)
{
	struct target t;

	if (libraries_ready(e) < 0 || target_parse(&t, url, field, e) < 0)
		return -1;
	if (loopback)
		*loopback = t.loopback;
	target_free(&t);
	return 0;
}

/* ---- transfers ---- */

/* A handle with the rules every transfer shares; NULL if out of memory
 * or this libcurl cannot keep them. */
static CURL *handle_new(const struct target *t, const struct fetch_options *o,
			char *errbuf)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	if (curl_easy_setopt(h, CURLOPT_CURLU, t->u) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, t->scheme) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    (o->ca_file && curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file)) ||
	    /* no SIGALRM for DNS timeouts: the binary is multithreaded */
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s) ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, o->total_timeout_s) ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT) ||
	    (t->loopback && curl_easy_setopt(h, CURLOPT_NOPROXY, "*"))) {
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

/* Failures that may pass if tried again. */
static bool transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM: return true;
	default: return false;
	}
}

/* What a failed transfer came to, in a few words. */
static void describe(CURL *h, CURLcode cc, const char *errbuf,
		     const struct fetch_options *o, char *out, size_t size)
{
	long os_errno = 0;
	curl_off_t connect_us = 0;

	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(out, size, "cannot resolve the host name");
		return;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
		switch (os_errno) {
		case ECONNREFUSED:
			snprintf(out, size, "connection refused");
			return;
		case ENETUNREACH:
			snprintf(out, size, "network unreachable");
			return;
		case EHOSTUNREACH:
			snprintf(out, size, "host unreachable");
			return;
		}
		break;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
		if (connect_us == 0)
			snprintf(out, size, "no connection within %ld s",
				 o->connect_timeout_s);
		else
			snprintf(out, size, "timed out after %ld s",
				 o->total_timeout_s);
		return;
	default: break;
	}
	snprintf(out, size, "%s", *errbuf ? errbuf : curl_easy_strerror(cc));
}

static long backoff_wait(const struct fetch_options *o, int retry,
			 curl_off_t retry_after_s)
{
	long ms = o->backoff_ms;

	for (int i = 0; i < retry && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	/* Somewhere in the upper half, so that the jobs of many regions
	 * started by the same timer do not retry in step. */
	if (ms > 1)
		ms = ms / 2 +
		     (long)randombytes_uniform((uint32_t)(ms - ms / 2) + 1);
	if (retry_after_s > 0) {
		if (retry_after_s > RETRY_AFTER_MAX_S)
			retry_after_s = RETRY_AFTER_MAX_S;
		if (retry_after_s * 1000 > ms)
			ms = (long)retry_after_s * 1000;
	}
	return ms;
}

/* Wait before attempt number attempt + 1, saying so. */
static void before_retry(CURL *h, const struct target *t,
			 const struct fetch_options *o, int attempt,
			 const char *what)
{
	curl_off_t retry_after = 0;
	long ms;

	curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after);
	ms = backoff_wait(o, attempt - 1, retry_after);
	log_warning("%s: %s; attempt %d of %d, retrying in %ld ms", t->shown,
		    what, attempt, o->retries + 1, ms);
	sleep_ms(ms);
}

/* ---- the validator cache ---- */

struct validators {
	char etag[256];
	char last_modified[64];
};

/* dir/<hex SHA-256 of url>; -1 if that does not fit. */
static int cache_path(const char *dir, const char *url, char *out, size_t size)
{
	unsigned char hash[crypto_hash_sha256_BYTES];
	char hex[crypto_hash_sha256_BYTES * 2 + 1];
	int n;

	crypto_hash_sha256(hash, (const unsigned char *)url, strlen(url));
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	n = snprintf(out, size, "%s/%s", dir, hex);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/*
 * The validators kept for url, if any.  A missing, oversized, corrupt or
 * foreign file only means an unconditional request, which is always
 * correct, so it is not an error.
 */
static bool cache_load(const char *dir, const char *url, struct validators *v)
{
	char path[PATH_MAX];
	struct stat st;
	json_t *j = NULL;
	const char *u = "", *etag = NULL, *lm = NULL;

	*v = (struct validators){0};
	if (cache_path(dir, url, path, sizeof(path)) < 0 ||
	    stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > CACHE_FILE_MAX)
		return false;
	j = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
	if (j &&
	    json_unpack(j, "{s:s, s?s, s?s}", "url", &u, "etag", &etag,
			"last_modified", &lm) == 0 &&
	    strcmp(u, url) == 0) {
		validator_copy(v->etag, sizeof(v->etag), etag);
		validator_copy(v->last_modified, sizeof(v->last_modified), lm);
	}
	json_decref(j);
	return v->etag[0] || v->last_modified[0];
}

int fetch_cache_store(const struct fetch_options *opt, const char *url,
		      const struct fetch_result *res, struct err *e)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	json_t *j = NULL;
	char *text = NULL;
	int fd = -1, rc = -1;
	bool tmp_made = false;

	if (!opt || !opt->cache_dir)
		return 0;
	if (libraries_ready(e) < 0)
		return -1;
	if (cache_path(opt->cache_dir, url, path, sizeof(path)) < 0)
		return err_set(e, ERR_INTERNAL, "", "%s: path too long",
			       opt->cache_dir);
	if (!res->etag[0] && !res->last_modified[0]) {
		if (unlink(path) < 0 && errno != ENOENT)
			return err_set(e, ERR_INTERNAL, "", "%s: %s", path,
				       strerror(errno));
		return 0;
	}
	if (mkdir(opt->cache_dir, 0700) < 0 && errno != EEXIST) {
		err_set(e, ERR_INTERNAL, "", "%s: %s", opt->cache_dir,
			strerror(errno));
		goto out;
	}
	j = json_pack("{s:s, s:s, s:s}", "url", url, "etag", res->etag,
		      "last_modified", res->last_modified);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!text) {
		err_set(e, ERR_INTERNAL, "", "%s: cannot encode validators",
			url);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		err_set(e, ERR_INTERNAL, "", "%s: %s", tmp, strerror(errno));
		goto out;
	}
	tmp_made = true;
	/* fsync before rename: after a crash the file is old or new, whole */
	if (write_all(fd, text, strlen(text)) < 0 ||
	    write_all(fd, "\n", 1) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		err_set(e, ERR_INTERNAL, "", "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		err_set(e, ERR_INTERNAL, "", "%s: %s", path, strerror(errno));
		goto out;
	}
	tmp_made = false;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlink(tmp);
	free(text);
	json_decref(j);
	return rc;
}

/* ---- downloads ---- */

/* Where a download goes. */
struct download {
	const char *path;
	int fd;
	int64_t bytes;
	int64_t max;
	bool too_large;
	int write_errno;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	size_t len = size * n;

	if ((uint64_t)len > (uint64_t)(d->max - d->bytes)) {
		d->too_large = true;
		return 0; /* curl ends the transfer: CURLE_WRITE_ERROR */
	}
	if (write_all(d->fd, p, len) < 0) {
		d->write_errno = errno;
		return 0;
	}
	d->bytes += (int64_t)len;
	return len;
}

/* Empty dest: before each attempt, and after a failure. */
static int download_reset(struct download *d)
{
	d->bytes = 0;
	if (ftruncate(d->fd, 0) < 0 || lseek(d->fd, 0, SEEK_SET) < 0) {
		d->write_errno = errno;
		return -1;
	}
	return 0;
}

enum verdict {
	DONE,
	RETRY,
	FAIL
};

/* What one attempt came to: the verdict and, unless DONE, the error. */
struct outcome {
	enum verdict verdict;
	enum err_code code;
	char what[CURL_ERROR_SIZE + 64];
};

static void judge_download(CURL *h, CURLcode cc, long status,
			   const struct download *d,
			   const struct fetch_options *o, const char *errbuf,
			   struct outcome *out)
{
	out->verdict = FAIL;
	out->code = ERR_UNAVAILABLE;
	if (d->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		out->code = ERR_INVALID;
		snprintf(out->what, sizeof(out->what), "larger than %lld bytes",
			 (long long)o->max_bytes);
	} else if (d->write_errno) {
		out->code = ERR_INTERNAL;
		snprintf(out->what, sizeof(out->what), "writing %s: %s",
			 d->path, strerror(d->write_errno));
	} else if (cc == CURLE_OK &&
		   (status == 304 || (status >= 200 && status < 300))) {
		out->verdict = DONE;
	} else if (cc == CURLE_OK || cc == CURLE_HTTP_RETURNED_ERROR) {
		snprintf(out->what, sizeof(out->what), "HTTP %ld", status);
		if (status == 404 || status == 410)
			out->code = ERR_NOT_FOUND;
		else if (status == 401 || status == 403)
			out->code = ERR_FORBIDDEN;
		else if (status == 429 || status >= 500)
			out->verdict = RETRY;
	} else {
		describe(h, cc, errbuf, o, out->what, sizeof(out->what));
		if (transient(cc))
			out->verdict = RETRY;
	}
}

/* The value of the last response's header name, if usable. */
static void response_header(CURL *h, const char *name, char *out, size_t size)
{
	struct curl_header *hh;

	out[0] = '\0';
	if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hh) == CURLHE_OK)
		validator_copy(out, size, hh->value);
}

int fetch_url(const char *url, const struct fetch_options *opt,
	      const char *dest_path, struct fetch_result *res, struct err *e)
{
	struct fetch_options o;
	struct target t = {0};
	struct validators sent = {0};
	struct download d = {.path = dest_path, .fd = -1};
	struct outcome oc = {.verdict = FAIL};
	struct curl_slist *headers = NULL, *more;
	char errbuf[CURL_ERROR_SIZE], line[300];
	CURL *h = NULL;
	int attempt, rc = -1;

	*res = (struct fetch_result){0};
	options_get(&o, opt);
	if (libraries_ready(e) < 0 || target_parse(&t, url, "url", e) < 0)
		goto out;
	d.max = o.max_bytes;
	d.fd = open(dest_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (d.fd < 0) {
		err_set(e, ERR_INTERNAL, "", "%s: %s", dest_path,
			strerror(errno));
		goto out;
	}
	if (o.cache_dir && cache_load(o.cache_dir, url, &sent)) {
		if (sent.etag[0]) {
			snprintf(line, sizeof(line), "If-None-Match: %s",
				 sent.etag);
			if (!(more = curl_slist_append(headers, line)))
				goto oom;
			headers = more;
		}
		if (sent.last_modified[0]) {
			snprintf(line, sizeof(line), "If-Modified-Since: %s",
				 sent.last_modified);
			if (!(more = curl_slist_append(headers, line)))
				goto oom;
			headers = more;
		}
	}
	h = handle_new(&t, &o, errbuf);
	if (!h || curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L) ||
	    curl_easy_setopt(h, CURLOPT_MAXREDIRS, MAX_REDIRECTS) ||
	    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https") ||
	    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &d) ||
	    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
			     (curl_off_t)o.max_bytes) ||
	    /* any encoding curl can decode; the cap counts decoded bytes */
	    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "") ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers))
		goto oom;

	for (attempt = 1;; attempt++) {
		CURLcode cc;

		errbuf[0] = '\0';
		if (download_reset(&d) < 0) {
			oc.code = ERR_INTERNAL;
			snprintf(oc.what, sizeof(oc.what), "writing %s: %s",
				 dest_path, strerror(d.write_errno));
			break;
		}
		cc = curl_easy_perform(h);
		res->http_status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->http_status);
		judge_download(h, cc, res->http_status, &d, &o, errbuf, &oc);
		if (oc.verdict != RETRY || attempt > o.retries)
			break;
		before_retry(h, &t, &o, attempt, oc.what);
	}
	if (oc.verdict != DONE) {
		if (attempt > 1)
			err_set(e, oc.code, "url", "%s: %s after %d attempts",
				t.shown, oc.what, attempt);
		else
			err_set(e, oc.code, "url", "%s: %s", t.shown, oc.what);
		goto out;
	}

	res->not_modified = res->http_status == 304;
	res->bytes = d.bytes;
	response_header(h, "ETag", res->etag, sizeof(res->etag));
	response_header(h, "Last-Modified", res->last_modified,
			sizeof(res->last_modified));
	/* A 304 need not repeat the validators; those we sent still hold. */
	if (res->not_modified && !res->etag[0])
		memcpy(res->etag, sent.etag, sizeof(res->etag));
	if (res->not_modified && !res->last_modified[0])
		memcpy(res->last_modified, sent.last_modified,
		       sizeof(res->last_modified));
	rc = close(d.fd);
	d.fd = -1;
	if (rc < 0)
		err_set(e, ERR_INTERNAL, "", "%s: %s", dest_path,
			strerror(errno));
	goto out;
oom:
	err_set(e, ERR_INTERNAL, "", "%s: cannot set up the request", t.shown);
out:
	if (d.fd >= 0) {
		/* never leave a partial download behind */
		if (rc < 0 && ftruncate(d.fd, 0) < 0)
			log_warning("%s: cannot truncate: %s", dest_path,
				    strerror(errno));
		close(d.fd);
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	target_free(&t);
	return rc;
}

/* ---- push ---- */

/* The response to a push, up to PUSH_RESPONSE_MAX. */
struct sink {
	char *buf;
	size_t len, cap;
	bool too_large;
};

static size_t on_response(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	if (len > PUSH_RESPONSE_MAX - s->len) {
		s->too_large = true;
		return 0;
	}
	if (s->len + len > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *buf;

		while (cap < s->len + len)
			cap *= 2;
		buf = realloc(s->buf, cap);
		if (!buf)
			return 0;
		s->buf = buf;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, len);
	s->len += len;
	return len;
}

/* The file being pushed. */
struct upload {
	FILE *f;
	int read_errno;
};

static size_t on_upload(char *p, size_t size, size_t n, void *arg)
{
	struct upload *up = arg;
	size_t got = fread(p, 1, size * n, up->f);

	if (got == 0 && ferror(up->f)) {
		up->read_errno = errno ? errno : EIO;
		return CURL_READFUNC_ABORT;
	}
	return got;
}

/* Append "name=value" to the query in q (of size qsize), value escaped. */
static int query_add(char *q, size_t qsize, const char *name, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0);
	size_t len = strlen(q);
	int n;

	if (!esc)
		return -1;
	n = snprintf(q + len, qsize - len, "%s%s=%s", len ? "&" : "", name,
		     esc);
	curl_free(esc);
	return n < 0 || (size_t)n >= qsize - len ? -1 : 0;
}

/* Point t, which holds the server URL, at the feed's import endpoint. */
static int push_target(struct target *t, const struct fetch_push *p,
		       struct err *e)
{
	char *base = NULL, *query = NULL, *fragment = NULL, *feed = NULL;
	char path[URL_MAX + 128], args[256] = "";
	size_t len;
	int rc = -1;

	if (curl_url_get(t->u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(t->u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK) {
		err_set(e, ERR_INVALID, "server",
			"%s: a server URL has no query or fragment", t->shown);
		goto out;
	}
	feed = curl_easy_escape(NULL, p->feed, 0);
	if (!feed || curl_url_get(t->u, CURLUPART_PATH, &base, 0) != CURLUE_OK)
		goto oom;
	len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		len--;
	snprintf(path, sizeof(path), "%.*s/api/v1/imports/%s", (int)len, base,
		 feed);
	if ((p->region && query_add(args, sizeof(args), "region", p->region)) ||
	    (p->dry_run && query_add(args, sizeof(args), "dry_run", "true")) ||
	    (p->partial && query_add(args, sizeof(args), "partial", "true")) ||
	    (p->force && query_add(args, sizeof(args), "force", "true")) ||
	    curl_url_set(t->u, CURLUPART_PATH, path, 0) != CURLUE_OK ||
	    (args[0] &&
	     curl_url_set(t->u, CURLUPART_QUERY, args, 0) != CURLUE_OK))
		goto oom;
	target_show(t);
	rc = 0;
	goto out;
oom:
	err_set(e, ERR_INTERNAL, "server", "%s: out of memory", t->shown);
out:
	curl_free(base);
	curl_free(query);
	curl_free(fragment);
	curl_free(feed);
	return rc;
}

/* The parts of a push that go into the request, checked. */
static int push_check(const struct fetch_push *p, struct err *e)
{
	size_t n = p->feed ? strlen(p->feed) : 0;

	if (n == 0 || n > FEED_MAX ||
	    strspn(p->feed, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return err_set(e, ERR_INVALID, "feed",
			       "feed %.80s: not a feed name",
			       p->feed ? p->feed : "(none)");
	if (p->region && (!*p->region || strlen(p->region) > REGION_MAX))
		return err_set(e, ERR_INVALID, "region",
			       "region %.80s: not a region code", p->region);
	if (!header_safe(p->token, TOKEN_MAX, false))
		return err_set(e, ERR_INVALID, "token",
			       "token: missing, longer than %d bytes or not "
			       "printable ASCII",
			       TOKEN_MAX);
	if (!header_safe(p->content_type, CONTENT_TYPE_MAX, true))
		return err_set(e, ERR_INVALID, "content_type",
			       "content type %.80s: not a header value",
			       p->content_type ? p->content_type : "(none)");
	return 0;
}

int fetch_push_file(const struct fetch_push *p, const char *path,
		    const struct fetch_options *opt, long *status,
		    json_t **body, struct err *e)
{
	struct fetch_options o;
	struct target t = {0};
	struct upload up = {0};
	struct sink resp = {0};
	struct curl_slist *headers = NULL, *more;
	struct stat st;
	char errbuf[CURL_ERROR_SIZE], what[CURL_ERROR_SIZE + 64];
	char *auth = NULL, ctype[CONTENT_TYPE_MAX + 32];
	size_t auth_size = TOKEN_MAX + 32;
	CURL *h = NULL;
	int attempt, rc = -1;

	*status = 0;
	*body = NULL;
	options_get(&o, opt);
	if (libraries_ready(e) < 0 || push_check(p, e) < 0 ||
	    target_parse(&t, p->server, "server", e) < 0 ||
	    push_target(&t, p, e) < 0)
		goto out;
	up.f = fopen(path, "rbe");
	if (!up.f || fstat(fileno(up.f), &st) < 0) {
		err_set(e, ERR_INTERNAL, "", "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(e, ERR_INVALID, "", "%s: not a regular file", path);
		goto out;
	}
	auth = malloc(auth_size);
	if (!auth)
		goto oom;
	snprintf(auth, auth_size, "Authorization: Bearer %s", p->token);
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", p->content_type);
	if (!(more = curl_slist_append(headers, auth)))
		goto oom;
	headers = more;
	if (!(more = curl_slist_append(headers, ctype)))
		goto oom;
	headers = more;
	if (!(more = curl_slist_append(headers, "Accept: application/json")))
		goto oom;
	headers = more;

	h = handle_new(&t, &o, errbuf);
	if (!h || curl_easy_setopt(h, CURLOPT_POST, 1L) ||
	    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload) ||
	    curl_easy_setopt(h, CURLOPT_READDATA, &up) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			     (curl_off_t)st.st_size) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_response) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers))
		goto oom;

	for (attempt = 1;; attempt++) {
		curl_off_t sent = 0;
		CURLcode cc;

		errbuf[0] = '\0';
		resp.len = 0;
		if (fseeko(up.f, 0, SEEK_SET) < 0) {
			err_set(e, ERR_INTERNAL, "", "%s: %s", path,
				strerror(errno));
			goto out;
		}
		cc = curl_easy_perform(h);
		if (cc == CURLE_OK)
			break;
		if (up.read_errno) {
			err_set(e, ERR_INTERNAL, "", "%s: %s", path,
				strerror(up.read_errno));
			goto out;
		}
		if (resp.too_large) {
			err_set(e, ERR_UNAVAILABLE, "server",
				"%s: response larger than %d bytes", t.shown,
				PUSH_RESPONSE_MAX);
			goto out;
		}
		describe(h, cc, errbuf, &o, what, sizeof(what));
		curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
		/* Once any of the request went out the import may have run. */
		if (!transient(cc) || sent > 0 || attempt > o.retries) {
			if (attempt > 1)
				err_set(e, ERR_UNAVAILABLE, "server",
					"%s: %s after %d attempts", t.shown,
					what, attempt);
			else
				err_set(e, ERR_UNAVAILABLE, "server", "%s: %s",
					t.shown, what);
			goto out;
		}
		before_retry(h, &t, &o, attempt, what);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (resp.len > 0)
		*body = json_loadb(resp.buf, resp.len, 0, NULL);
	rc = 0;
	goto out;
oom:
	err_set(e, ERR_INTERNAL, "", "%s: cannot set up the request", t.shown);
out:
	if (up.f)
		fclose(up.f);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	free(auth);
	free(resp.buf);
	target_free(&t);
	return rc;
}
