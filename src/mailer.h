/*
 * mailer.h -- alert notifications by email, through an SMTP relay.
 *
 * sql/010_email.sql queues an email_delivery, with its JSON notice, for
 * every email subscription whose filters match an alert that opened or
 * resolved (the webhooks' filters, by the same SQL function).
 * mailer_deliver_due writes each due one as a plain-text message and
 * hands it to the relay with libcurl's SMTP: MAIL FROM the configured
 * sender, RCPT TO the subscriber, the message uploaded through a read
 * callback.  libcurl dot-stuffs the data and ends it with CRLF.CRLF.
 *
 * The relay is LAGERBILD_SMTP_URL: smtps://host[:port] (TLS from the
 * start) or smtp://host[:port] (STARTTLS, required), or smtp:// to a
 * loopback relay (127.0.0.1, [::1], localhost) without TLS.  Certificates
 * are always verified, TLS 1.2 at least.  Credentials never sit in the
 * URL: LAGERBILD_SMTP_USER and LAGERBILD_SMTP_PASSWORD_FILE (read at each
 * send, so it can be rotated).  Without a URL email is off and nothing is
 * sent; queued deliveries wait.
 *
 * The message (mailer_compose): RFC 5322 headers From, To, Subject, Date,
 * Message-ID (stable per subscription and alert event, so a retry is the
 * same message and a resolution threads under its opening),
 * MIME-Version, Content-Type text/plain; charset=utf-8,
 * Content-Transfer-Encoding quoted-printable, Auto-Submitted; a Subject
 * that is not short ASCII goes as RFC 2047 Q encoded-words.  Every line is
 * ASCII; the Subject's and the body's are at most 78 octets, none is over
 * 998 (RFC 5322's limit).  No links: what opened or resolved, the
 * rule, severity, region, product, and the figures the rule saw.
 *
 * Outcomes: the relay's final 250 delivers; a 5xx reply is final (the
 * delivery is 'failed' at once); a 4xx reply, no reply or a TLS failure is
 * tried again after backoff_ms * 2^(attempts - 1), up to max_attempts.
 * Every attempt is an email_attempt row with the relay's reply code.
 */
#ifndef LAGERBILD_MAILER_H
#define LAGERBILD_MAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerts.h" /* struct alerts_filter */
#include "db.h"
#include "err.h"
#include "webhook.h" /* struct webhook_counts: the same counts */

/* RFC 5321: 64 octets of local part, 254 of address in a path. */
#define MAILER_ADDRESS_MAX 254
/* The longest message mailer_compose writes. */
#define MAILER_MESSAGE_MAX (64 * 1024)

struct mailer_options {
	const char *url;	   /* the relay; NULL: email is off */
	const char *from;	   /* sender address, envelope and header */
	const char *user;	   /* SMTP AUTH user; NULL: no AUTH */
	const char *password_file; /* its password, the file's first line */
	const char *ca_file; /* PEM bundle of trusted CAs; NULL: system's */
	long timeout_s;	     /* per attempt, connect included; default 30 */
	long backoff_ms;     /* wait after the first failure; default 30000 */
	int max_attempts;    /* default 8 */
	int limit;	     /* deliveries per call, default 100 */
	long max_age_s;	     /* older ones are given up unsent; 86400 */
};

/* A subscription to make: to whom, and which alerts (a filter's arrays
 * may be empty: match everything). */
struct mailer_spec {
	const char *to; /* the address */
	struct alerts_filter filter;
};

/* ---- checks ---- */

/*
 * Is s an address we send to: local-part@domain, ASCII only, the local
 * part a dot-atom (RFC 5322 atext, no quoted strings, no comments), the
 * domain a host name of two or more labels, the last with a letter; at
 * most 254 octets, 64 of them before the @.  No CR, LF or other control
 * character can pass.  0, or -1 with
 * ERR_INVALID naming field (the value is echoed only when printable).
 */
int mailer_check_address(const char *s, const char *field, struct err *e);

/*
 * Is url a relay URL by the rules above (scheme, TLS, no credentials,
 * query or fragment; an optional path is the name we give in EHLO)?  Sets
 * *loopback (may be NULL) when the host is a loopback address.  0, or -1
 * with ERR_INVALID naming field.
 */
int mailer_check_url(const char *url, const char *field, bool *loopback,
		     struct err *e);

/*
 * The settings that go together, as settings_load reads them: a URL needs
 * a sender; a user needs a password file and the other way round; the
 * sender is an address.  Any may be NULL (unset).  0, or -1 with
 * ERR_INVALID naming the variable.
 */
int mailer_settings_check(const char *url, const char *from, const char *user,
			  const char *password_file, struct err *e);

/* Check a spec: address ("to"), then its filter by alerts_filter_check
 * (regions, categories, rules, severity, description).  0, or -1 with
 * ERR_INVALID naming the field. */
int mailer_spec_check(const struct mailer_spec *s, struct err *e);

/* ---- subscriptions ---- */

/*
 * Make a subscription: checks s, stores it.  db must be in a transaction
 * as an admin, coordinator or the system (row-level security refuses
 * others); the caller commits.  *id is the new subscription's.  0, or -1
 * with e.
 */
int mailer_subscribe(struct db *db, const struct mailer_spec *s, int64_t *id,
		     struct err *e);

/* ---- messages ---- */

/*
 * Write the message for a queued notice: payload is email_delivery.payload
 * (JSON text), date the Date header's time (unix seconds; the delivery's
 * queueing, so that retries send the same bytes).  from and to must have
 * passed mailer_check_address.  Pure.  *out (the caller frees) holds
 * *len bytes, CRLF line ends, a final CRLF, NUL-terminated.  0, or -1
 * with e (a payload that is not a notice, a message over
 * MAILER_MESSAGE_MAX).
 */
int mailer_compose(const char *from, const char *to, const char *payload,
		   int64_t date, char **out, size_t *len, struct err *e);

/*
 * Send one message (len bytes, CRLF lines) to the address to through the
 * relay of o, which must have a url and a sender.  *code is the relay's
 * last SMTP reply code (0: none came).  0 when the relay accepted it, or
 * -1 with e saying why: ERR_INVALID for what the relay refuses for good
 * (a 5xx reply) or bad options, ERR_UNAVAILABLE for what may pass later.
 */
int mailer_send(const struct mailer_options *o, const char *to, const char *msg,
		size_t len, long *code, struct err *e);

/* ---- delivery ---- */

/* Fill o with the defaults above, url, from, user and password_file from
 * the settings (settings.h), NULL when they are unset. */
void mailer_options_default(struct mailer_options *o);

/*
 * Send the pending deliveries whose time has come, at most o->limit of
 * them, each claimed first (so two deliverers never send one twice) and
 * its outcome recorded.  db acts as the system identity and is not in a
 * transaction.  o NULL: mailer_options_default.  Without o->url, does
 * nothing (email is off).  0 with *out filled (the relay's refusals are
 * outcomes, not errors), or -1 with e on database trouble or bad options.
 */
int mailer_deliver_due(struct db *db, const struct mailer_options *o,
		       struct webhook_counts *out, struct err *e);

#endif
