/*
 * webhook.c -- subscriptions and the delivery of signed webhooks (see
 * webhook.h).
 *
 * A delivery is claimed by moving its next_attempt_at past the attempt's
 * timeout (a lease) in a short transaction, POSTed with no transaction
 * open, and its outcome recorded in another: a slow receiver holds no
 * lock, and a deliverer that dies mid-POST leaves the delivery to be
 * tried again when the lease runs out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "alerts.h"
#include "catalog.h"
#include "fetch.h"
#include "log.h"
#include "validate.h"
#include "webhook.h"

#define DEFAULT_TIMEOUT_S 10
#define DEFAULT_BACKOFF_MS 30000
#define DEFAULT_MAX_ATTEMPTS 8
#define DEFAULT_LIMIT 100
/* Deliveries claimed per round trip. */
#define CLAIM_BATCH 20
/* A receiver's answer is read (for the log) up to this much, then cut. */
#define RESPONSE_MAX 4096
/* Filters of a subscription: more is a mistake, not a use. */
#define USER_AGENT "lagerbild-webhook"

void webhook_options_default(struct webhook_options *o)
{
	*o = (struct webhook_options){
		.timeout_s = DEFAULT_TIMEOUT_S,
		.backoff_ms = DEFAULT_BACKOFF_MS,
		.max_attempts = DEFAULT_MAX_ATTEMPTS,
		.limit = DEFAULT_LIMIT,
	};
}

void webhook_sign(const char *secret, const char *timestamp, const char *body,
		  size_t len, char out[WEBHOOK_SIGNATURE_MAX])
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
				    strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)timestamp,
				      strlen(timestamp));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, "sha256=", 7);
	sodium_bin2hex(out + 7, WEBHOOK_SIGNATURE_MAX - 7, mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
}

/* ---- subscriptions ---- */

int webhook_spec_check(const struct webhook_spec *s, struct err *e)
{
	if (fetch_check_url(s->url, "url", NULL, e) < 0 ||
	    alerts_filter_check(&s->filter, e) < 0)
		return -1;
	/* The table's CHECK is narrower than libcurl's parser. */
	if (strlen(s->url) > 2048)
		return err_set(e, ERR_INVALID, "url",
			       "url: longer than 2048 bytes");
	return 0;
}

int webhook_subscribe(struct db *db, const struct webhook_spec *s, int64_t *id,
		      char secret[WEBHOOK_SECRET_HEX], struct err *e)
{
	unsigned char key[32];
	char key_hex[2 * sizeof(key) + 3], idtext[24];
	const char *params[2] = {idtext, key_hex};
	int rc = -1;

	*id = 0;
	secret[0] = '\0';
	if (webhook_spec_check(s, e) < 0)
		return -1;
	if (alerts_subscription_insert(
		    db,
		    "INSERT INTO webhook_subscription (url, regions,"
		    " categories, rules, min_severity, description)"
		    " VALUES ($1, $2::char(2)[], $3::product_category[],"
		    " $4::alert_rule[], $5::alert_severity, $6) RETURNING id",
		    s->url, &s->filter, id, e) < 0)
		return -1;
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(secret, WEBHOOK_SECRET_HEX, key, sizeof(key));
	/* bytea in hex input form: the secret's text is the key's hex. */
	snprintf(key_hex, sizeof(key_hex), "\\x%s", secret);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)*id);
	if (db_command(db, "SELECT webhook_key_set($1::bigint, $2::bytea)", 2,
		       params, e) < 0) {
		secret[0] = '\0';
		goto out;
	}
	rc = 0;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(key_hex, sizeof(key_hex));
	return rc;
}

/* ---- delivery ---- */

/* The receiver's answer, kept only up to RESPONSE_MAX. */
struct answer {
	char buf[RESPONSE_MAX + 1];
	size_t len;
};

static size_t on_answer(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t k = size * n, room = RESPONSE_MAX - a->len;

	memcpy(a->buf + a->len, p, k < room ? k : room);
	a->len += k < room ? k : room;
	a->buf[a->len] = '\0';
	return size * n;
}

/*
 * POST one delivery.  *status the HTTP status (0: none came), err the
 * reason when it was not a 2xx ("" otherwise).
 */
static void post_one(const struct webhook_options *o, const char *id,
		     const char *url, const char *secret, const char *body,
		     long *status, char *err, size_t err_size)
{
	char ts[24], sig[WEBHOOK_SIGNATURE_MAX], h_sig[128], h_ts[64], h_id[64],
		errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL, *next;
	struct answer *ans = NULL;
	struct err e = {0};
	bool loopback = false;
	CURL *h = NULL;
	CURLcode cc;

	*status = 0;
	err[0] = '\0';
	/* The rule is checked again: the table's CHECK is a second line, and
	 * this also initialises libcurl once. */
	if (fetch_check_url(url, "url", &loopback, &e) < 0) {
		snprintf(err, err_size, "%s", e.msg);
		return;
	}
	ans = calloc(1, sizeof(*ans));
	h = curl_easy_init();
	if (!ans || !h) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	webhook_sign(secret, ts, body, strlen(body), sig);
	snprintf(h_sig, sizeof(h_sig), "X-Lagerbild-Signature: %s", sig);
	snprintf(h_ts, sizeof(h_ts), "X-Lagerbild-Timestamp: %s", ts);
	snprintf(h_id, sizeof(h_id), "X-Lagerbild-Delivery: %s", id);
	{
		const char *lines[] = {"Content-Type: application/json", h_sig,
				       h_ts, h_id, "Expect:"};

		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			next = curl_slist_append(hdr, lines[i]);
			if (!next) {
				snprintf(err, err_size, "out of memory");
				goto out;
			}
			hdr = next;
		}
	}
	if (curl_easy_setopt(h, CURLOPT_URL, url) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
			     loopback ? "http,https" : "https") ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    (o->ca_file && curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file)) ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->timeout_s) ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s) ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			     (curl_off_t)strlen(body)) ||
	    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_answer) ||
	    curl_easy_setopt(h, CURLOPT_WRITEDATA, ans) ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT) ||
	    (loopback && curl_easy_setopt(h, CURLOPT_NOPROXY, "*"))) {
		snprintf(err, err_size, "libcurl refused an option");
		goto out;
	}
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		snprintf(err, err_size, "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (*status < 200 || *status > 299)
		snprintf(err, err_size, "HTTP %ld: %.200s", *status, ans->buf);
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	free(ans);
}

/* Claim due deliveries: push each past its attempt's timeout (a lease).
 * Inactive subscriptions' deliveries are given up here, not sent. */
static const char claim_sql[] =
	"WITH due AS ("
	" SELECT d.id FROM webhook_delivery d"
	"  WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
	"  ORDER BY d.next_attempt_at, d.id LIMIT $1"
	"  FOR UPDATE OF d SKIP LOCKED)"
	" UPDATE webhook_delivery d"
	"   SET next_attempt_at = now() + make_interval(secs => $2::float8)"
	"  FROM due, webhook_subscription s"
	" WHERE d.id = due.id AND s.id = d.subscription_id"
	" RETURNING d.id, s.url, s.active, d.payload::text,"
	"  encode(webhook_key(d.subscription_id), 'hex')";

/* One attempt's outcome: the delivery row and the attempt's log row. */
static const char record_sql[] =
	"WITH d AS (UPDATE webhook_delivery"
	"  SET attempts = attempts + 1, last_attempt_at = now(),"
	"   response_code = $2::int, error = left($3, 1000),"
	"   status = CASE WHEN $4::bool THEN 'delivered'"
	"    WHEN $5::bool OR attempts + 1 >= $6::int THEN 'failed'"
	"    ELSE 'pending' END::webhook_delivery_status,"
	"   delivered_at = CASE WHEN $4::bool THEN now() END,"
	"   next_attempt_at = CASE WHEN $4::bool OR $5::bool"
	"    THEN next_attempt_at"
	"    ELSE now() + make_interval(secs => least(21600,"
	"     $7::float8 / 1000 * power(2, attempts))) END"
	"  WHERE id = $1::bigint RETURNING id, attempts, status::text)"
	" INSERT INTO webhook_attempt (delivery_id, n, response_code, error,"
	"  duration_ms)"
	" SELECT id, attempts, $2::int, left($3, 1000), $8::int FROM d"
	" RETURNING (SELECT status FROM d)";

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int webhook_record_attempt(struct db *db, const char *sql,
			   const struct webhook_attempt *a, int max_attempts,
			   long backoff_ms, struct webhook_counts *out,
			   struct err *e)
{
	char code[16], max[16], backoff[24], dur[24];
	const char *params[8];
	PGresult *q;

	snprintf(code, sizeof(code), "%ld", a->code);
	snprintf(max, sizeof(max), "%d", max_attempts);
	snprintf(backoff, sizeof(backoff), "%ld", backoff_ms);
	snprintf(dur, sizeof(dur), "%lld", (long long)a->ms);
	params[0] = a->id;
	params[1] = a->code ? code : NULL;
	params[2] = a->why[0] ? a->why : NULL;
	params[3] = a->ok ? "true" : "false";
	params[4] = a->given_up ? "true" : "false";
	params[5] = max;
	params[6] = backoff;
	params[7] = dur;
	q = db_exec(db, sql, 8, params, e);
	if (!q)
		return -1;
	out->attempted++;
	if (PQntuples(q) == 1) {
		const char *st = db_text(q, 0, 0);

		if (strcmp(st, "delivered") == 0)
			out->delivered++;
		else if (strcmp(st, "failed") == 0)
			out->failed++;
		else
			out->retrying++;
	}
	PQclear(q);
	return 0;
}

int webhook_deliver_due(struct db *db, const struct webhook_options *opt,
			struct webhook_counts *out, struct err *e)
{
	struct webhook_options o;
	char lease[24], batch[16];
	const char *params[2];
	PGresult *q = NULL;
	int done = 0, rc = -1;

	webhook_options_default(&o);
	if (opt)
		o = *opt;
	if (o.timeout_s <= 0)
		o.timeout_s = DEFAULT_TIMEOUT_S;
	if (o.backoff_ms < 0)
		o.backoff_ms = 0;
	if (o.max_attempts <= 0)
		o.max_attempts = DEFAULT_MAX_ATTEMPTS;
	if (o.limit <= 0)
		o.limit = DEFAULT_LIMIT;
	memset(out, 0, sizeof(*out));
	/* The lease outlasts every attempt of the batch. */
	snprintf(lease, sizeof(lease), "%ld", o.timeout_s * CLAIM_BATCH + 60);
	while (done < o.limit) {
		int n, want = o.limit - done;

		snprintf(batch, sizeof(batch), "%d",
			 want < CLAIM_BATCH ? want : CLAIM_BATCH);
		params[0] = batch;
		params[1] = lease;
		q = db_exec(db, claim_sql, 2, params, e);
		if (!q)
			goto out;
		n = PQntuples(q);
		if (n == 0)
			break;
		for (int i = 0; i < n; i++) {
			const char *id = db_text(q, i, 0);
			bool active = strcmp(db_text(q, i, 2), "t") == 0;
			char why[512];
			long status = 0;
			int64_t t0 = now_ms();

			if (!active) {
				snprintf(why, sizeof(why),
					 "the subscription was deactivated");
			} else {
				post_one(&o, id, db_text(q, i, 1),
					 db_text(q, i, 4), db_text(q, i, 3),
					 &status, why, sizeof(why));
			}
			if (why[0])
				log_warning("webhook delivery %s to %s: %s", id,
					    db_text(q, i, 1), why);
			struct webhook_attempt at = {
				.id = id,
				.code = status,
				.ok = status >= 200 && status <= 299 && active,
				.why = why,
				.given_up = !active,
				.ms = now_ms() - t0,
			};

			if (webhook_record_attempt(db, record_sql, &at,
						   o.max_attempts, o.backoff_ms,
						   out, e) < 0)
				goto out;
		}
		done += n;
		PQclear(q);
		q = NULL;
	}
	rc = 0;
out:
	PQclear(q);
	return rc;
}
