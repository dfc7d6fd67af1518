/*
 * fetch.h -- get an import source over HTTPS, and push one to a server.
 *
 * Both directions go through libcurl with the same rules:
 *
 *   - only https:// URLs, except http:// to a loopback address
 *     (127.0.0.1, [::1], localhost) for tests and a local TLS proxy;
 *   - TLS peer and host verification are on and cannot be turned off
 *     (ca_file only chooses which CAs to trust);
 *   - a connect timeout and a total timeout per attempt;
 *   - retries with exponential backoff and jitter where a retry is safe.
 *
 * Thread-safe: every call uses its own curl handle, and libcurl's global
 * initialisation runs once (pthread_once) on first use.  Messages name the
 * URL (without any password in it) and what happened, e.g.
 * "https://x/y: HTTP 503 after 4 attempts".  Each retry is logged as a
 * warning on stderr.
 */
#ifndef LAGERBILD_FETCH_H
#define LAGERBILD_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

struct fetch_options {
	long connect_timeout_s; /* default 10 */
	long total_timeout_s;	/* per attempt; default 300 */
	int64_t max_bytes;	/* default 1 GiB; larger downloads fail */
	int retries;		/* extra attempts on 5xx, 429, timeouts and
				   connection failures; default 3 */
	long backoff_ms;	/* first wait, doubled each retry (with
				   jitter); default 1000 */
	const char *cache_dir;	/* where ETag/Last-Modified validators are
				   kept; NULL: no conditional requests */
	const char *ca_file;	/* PEM bundle of trusted CAs; NULL: the
				   system's */
};

/* What one fetch_url brought back. */
struct fetch_result {
	bool not_modified; /* 304: unchanged since the stored validators */
	long http_status;  /* of the last response; 0 if none came */
	int64_t bytes;	   /* written to dest */
	char etag[256];	   /* as received, "" if none (or unusable) */
	char last_modified[64];
};

/* Push mode: where and how to upload one source.  All borrowed. */
struct fetch_push {
	const char *server;	  /* "https://lagerbild.example.se[/prefix]" */
	const char *token;	  /* sent as "Authorization: Bearer <token>" */
	const char *feed;	  /* "stock" */
	const char *region;	  /* NULL: the token's own */
	const char *content_type; /* "text/csv", "application/zip", ... */
	bool dry_run, partial, force;
};

/* Fill o with the defaults above.  (The functions below read timeouts and
 * max_bytes that are not positive as the default, and negative retries and
 * backoff_ms as 0.) */
void fetch_options_default(struct fetch_options *o);

/*
 * Check url against the URL rules above without fetching it, for other
 * senders that must keep them (src/webhook.c).  Sets *loopback (may be
 * NULL) when url is http:// to a loopback address.  Initialises libcurl
 * once, like the transfers.  0, or -1 with ERR_INVALID naming field.
 */
int fetch_check_url(const char *url, const char *field, bool *loopback,
		    struct err *e);

/*
 * Download url into the file dest_path, which is created (mode 0600) or
 * truncated.  opt NULL means the defaults.
 *
 * Redirects are followed (at most 5), to https:// only.  With cache_dir,
 * the request carries If-None-Match / If-Modified-Since from the
 * validators fetch_cache_store kept for this exact URL; a 304 answer sets
 * res->not_modified, leaves dest empty and fills res->etag and
 * res->last_modified with the validators in force.  The body is
 * counted as it arrives and the transfer is cut off past max_bytes
 * (whether or not a Content-Length announced it); compressed transfers are
 * counted decompressed.
 *
 * Each attempt starts dest afresh, and on failure dest is left empty, so
 * the caller never sees a partial download.
 *
 * Returns 0 (res filled), or -1 with e (res->http_status still set when a
 * response came):
 *   ERR_INVALID     bad URL or scheme, or larger than max_bytes;
 *   ERR_UNAVAILABLE unreachable after the retries (DNS, connect, timeout,
 *                   5xx, 429), or another HTTP error, a TLS failure or a
 *                   redirect that is not allowed; the message says what
 *                   happened on the last attempt;
 *   ERR_NOT_FOUND   404 or 410;
 *   ERR_FORBIDDEN   401 or 403;
 *   ERR_INTERNAL    dest could not be written.
 */
int fetch_url(const char *url, const struct fetch_options *opt,
	      const char *dest_path, struct fetch_result *res, struct err *e);

/*
 * Keep the validators in res for url, so that the next fetch_url of the
 * same URL is conditional.  One file per URL in cache_dir (created, mode
 * 0700, if missing), named by the hex SHA-256 of the URL, written to a
 * temporary file and renamed into place.  A result without validators
 * removes the URL's file.  Without cache_dir this does nothing.
 *
 * Call it only after the import of the fetched file succeeded: validators
 * stored for a file that was never imported would make the next run see
 * 304 and skip it.  0, or -1 with ERR_INTERNAL.
 */
int fetch_cache_store(const struct fetch_options *opt, const char *url,
		      const struct fetch_result *res, struct err *e);

/*
 * POST the regular file at path to <server>/api/v1/imports/<feed>, with
 * the query arguments region=, dry_run=true, partial=true and force=true
 * as set in p, the bearer token and p->content_type.  The body is streamed
 * from the file, never held in memory.  URL rules and timeouts as for
 * fetch_url; redirects are not followed.
 *
 * The POST is retried only when the connection failed before any of the
 * request was sent (DNS, refused, connect timeout): once the server may
 * have received it, the import may have run, and sending it again is the
 * caller's decision.
 *
 * On 0 a response came back, whatever its status: *status is that status
 * and *body the response parsed as JSON (at most 16 MiB), which the caller
 * json_decrefs, or NULL if it was not JSON.  Otherwise -1 with e, *status
 * 0 and *body NULL:
 *   ERR_INVALID     bad server URL, feed, region, token or content
 *                   type, or path is not a regular file;
 *   ERR_UNAVAILABLE the server could not be reached, the exchange broke
 *                   off, or the response was over 16 MiB;
 *   ERR_INTERNAL    path could not be read.
 */
int fetch_push_file(const struct fetch_push *p, const char *path,
		    const struct fetch_options *opt, long *status,
		    json_t **body, struct err *e);

#endif
