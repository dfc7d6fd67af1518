/*
 * webhook.h -- signed webhook notifications of alerts.
 *
 * sql/008_alerts.sql queues a webhook_delivery, with its JSON payload, for
 * every subscription whose filters match an alert that opened or resolved.
 * webhook_deliver_due POSTs the due ones with libcurl:
 *
 *   POST <url>
 *   Content-Type: application/json
 *   X-Lagerbild-Delivery: <delivery id>
 *   X-Lagerbild-Timestamp: <unix seconds>
 *   X-Lagerbild-Signature: sha256=<hex HMAC-SHA256>
 *
 * The HMAC key is the subscription's secret as shown when it was made (64
 * hex characters, used as they are, as ASCII), over "<timestamp>.<body>".
 * A receiver recomputes it, compares in constant time, and refuses
 * timestamps more than a few minutes old (replays).
 *
 * URLs follow importers/fetch.h: https, or http to a loopback address; TLS
 * verification always on; no redirects.  A 2xx answer delivers; anything
 * else (or no answer) is retried after backoff_ms * 2^(attempts - 1), up
 * to max_attempts, then the delivery is 'failed'.  Every attempt is a
 * webhook_attempt row.
 */
#ifndef LAGERBILD_WEBHOOK_H
#define LAGERBILD_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerts.h" /* struct alerts_filter */
#include "db.h"
#include "err.h"

/* The secret as shown: 32 random bytes in hex. */
#define WEBHOOK_SECRET_HEX 65
/* "sha256=" and 64 hex digits. */
#define WEBHOOK_SIGNATURE_MAX 72

struct webhook_options {
	long timeout_s;	     /* per attempt, connect included; default 10 */
	long backoff_ms;     /* wait after the first failure; default 30000 */
	int max_attempts;    /* default 8 */
	int limit;	     /* deliveries per call, default 100 */
	const char *ca_file; /* PEM bundle of trusted CAs; NULL: system's */
};

struct webhook_counts {
	int64_t attempted;
	int64_t delivered;
	int64_t retrying; /* failed this time, will be tried again */
	int64_t failed;	  /* gave up */
};

/* A subscription to make: where to, and which alerts (a filter's arrays
 * may be empty: match everything). */
struct webhook_spec {
	const char *url;
	struct alerts_filter filter;
};

/* Fill o with the defaults above. */
void webhook_options_default(struct webhook_options *o);

/*
 * The X-Lagerbild-Signature value for body sent at timestamp (decimal
 * text), signed with secret (the hex text): "sha256=<64 hex>".  Pure.
 */
void webhook_sign(const char *secret, const char *timestamp, const char *body,
		  size_t len, char out[WEBHOOK_SIGNATURE_MAX]);

/*
 * Check a spec: URL rule, then its filter by alerts_filter_check (region
 * codes, categories, rules, severity, description length).  0, or -1
 * with ERR_INVALID naming the field.
 */
int webhook_spec_check(const struct webhook_spec *s, struct err *e);

/*
 * Make a subscription: checks s, draws a secret, stores it.  db must be in
 * a transaction as an admin, coordinator or the system (row-level
 * security refuses others); the caller commits.  *id is the new
 * subscription's, secret the text to show once.  0, or -1 with e.
 */
int webhook_subscribe(struct db *db, const struct webhook_spec *s, int64_t *id,
		      char secret[WEBHOOK_SECRET_HEX], struct err *e);

/*
 * POST the pending deliveries whose time has come, at most o->limit of
 * them, each claimed first (so two deliverers never send one twice) and
 * its outcome recorded.  db acts as the system identity and is not in a
 * transaction.  o NULL: the defaults.  0 with *out filled (failures of
 * receivers are outcomes, not errors), or -1 with e on database trouble.
 */
int webhook_deliver_due(struct db *db, const struct webhook_options *o,
			struct webhook_counts *out, struct err *e);

/* ---- bookkeeping shared with email (src/mailer.h) ---- */

/* One attempt at a delivery, as it went. */
struct webhook_attempt {
	const char *id;	 /* the delivery's */
	long code;	 /* HTTP status or SMTP reply; 0: none */
	bool ok;	 /* delivered */
	const char *why; /* "" or what went wrong */
	bool given_up;	 /* not to be tried again */
	int64_t ms;	 /* how long it took */
};

/*
 * Record an attempt with sql, an UPDATE of the channel's delivery table
 * taking ($1 id, $2 code, $3 error, $4 ok, $5 given up, $6 max attempts,
 * $7 backoff ms, $8 duration ms) and returning the delivery's status, and
 * count it in *out.  0, or -1 with e.
 */
int webhook_record_attempt(struct db *db, const char *sql,
			   const struct webhook_attempt *a, int max_attempts,
			   long backoff_ms, struct webhook_counts *out,
			   struct err *e);

#endif
