/*
 * mailer.c -- email subscriptions, the message, and its delivery through
 * an SMTP relay (see mailer.h).
 *
 * Delivery is claimed and recorded as src/webhook.c does it: a delivery
 * is claimed by moving its next_attempt_at past the attempt's timeout (a
 * lease) in a short transaction, sent with no transaction open, and its
 * outcome recorded in another.  A slow relay holds no lock, and a
 * deliverer that dies mid-send leaves the delivery to be tried again when
 * the lease runs out (the receiver may then see it twice; Message-ID is
 * the same both times, so it can tell).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "alerts.h"
#include "catalog.h"
#include "log.h"
#include "mailer.h"
#include "settings.h"
#include "validate.h"

#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_BACKOFF_MS 30000
#define DEFAULT_MAX_ATTEMPTS 8
#define DEFAULT_LIMIT 100
#define DEFAULT_MAX_AGE_S 86400
/* Deliveries claimed per round trip. */
#define CLAIM_BATCH 20
/* Filters of a subscription: more is a mistake, not a use. */
#define URL_MAX 1024
#define LOCAL_MAX 64
#define LABEL_MAX 63
/* An SMTP password, the first line of its file. */
#define PASSWORD_MAX 1024
/* The Subject's text before encoding; longer titles are cut. */
#define SUBJECT_MAX 250
/* Payload octets of one Q encoded-word: with "Subject: " or a folding
 * space and "=?UTF-8?Q?" "?=", a line stays within 78. */
#define QWORD_MAX 57
/* Quoted-printable: characters before a soft line break. */
#define QP_LINE 75
/* One figure of an alert's details, as text. */
#define FIGURE_MAX 300

/* ---- libcurl, once ---- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool init_ok;

static void init_curl(void)
{
	/* Reference-counted: harmless beside importers/fetch.c's. */
	init_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* ---- checks ---- */

static bool is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

static bool is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

/* A host name: labels of letters, digits and inner hyphens; at least
 * min_labels of them; the last with a letter (not an IP address).  NULL
 * when it is one, else what is wrong. */
static const char *host_problem(const char *d, size_t n, int min_labels)
{
	size_t start = 0;
	int labels = 0;
	bool letter = false;

	if (n == 0)
		return "the domain is empty";
	if (n > 253)
		return "the domain is longer than 253 octets";
	for (size_t i = 0; i <= n; i++) {
		if (i < n && d[i] != '.') {
			if (!is_ldh((unsigned char)d[i]))
				return "the domain has a character other than "
				       "letters, digits, '-' and '.'";
			continue;
		}
		if (i == start)
			return "the domain has an empty label";
		if (i - start > LABEL_MAX)
			return "a label of the domain is longer than 63 "
			       "octets";
		if (d[start] == '-' || d[i - 1] == '-')
			return "a label of the domain begins or ends with '-'";
		letter = false;
		for (size_t k = start; k < i; k++)
			letter = letter || (d[k] > '9' && d[k] != '-');
		labels++;
		start = i + 1;
	}
	if (labels < min_labels)
		return "the domain needs at least two labels (name.tld)";
	if (!letter)
		return "the domain's last label has no letter";
	return NULL;
}

int mailer_check_address(const char *s, const char *field, struct err *e)
{
	const char *at, *why = NULL;
	size_t n, local;

	if (!s || !*s)
		return err_set(e, ERR_INVALID, field, "%s: missing", field);
	/* Bounded: a huge input is refused without being walked through. */
	for (n = 0; s[n] && n <= MAILER_ADDRESS_MAX; n++) {
		unsigned char c = (unsigned char)s[n];

		/* Nothing of a header or an SMTP command line may follow. */
		if (c < 0x20 || c == 0x7f)
			return err_set(e, ERR_INVALID, field,
				       "%s: a control character (CR, LF, ...) "
				       "at byte offset %zu; an address is one "
				       "line of printable ASCII",
				       field, n);
		if (c >= 0x80)
			return err_set(e, ERR_INVALID, field,
				       "%s: a non-ASCII character at byte "
				       "offset %zu; internationalised "
				       "addresses (SMTPUTF8) are not supported",
				       field, n);
	}
	if (n > MAILER_ADDRESS_MAX)
		return err_set(e, ERR_INVALID, field,
			       "%s: longer than %d octets", field,
			       MAILER_ADDRESS_MAX);
	at = strchr(s, '@');
	local = at ? (size_t)(at - s) : 0;
	if (!at)
		why = "no '@'";
	else if (strchr(at + 1, '@'))
		why = "more than one '@' (quoted local parts are not accepted)";
	else if (local == 0)
		why = "nothing before the '@'";
	else if (local > LOCAL_MAX)
		why = "more than 64 octets before the '@'";
	else if (s[0] == '.' || s[local - 1] == '.')
		why = "the part before the '@' begins or ends with '.'";
	else
		for (size_t i = 0; i < local && !why; i++) {
			if (s[i] == '.' && s[i + 1] == '.')
				why = "'..' before the '@'";
			else if (s[i] != '.' && !is_atext((unsigned char)s[i]))
				why = "a character not allowed before the '@' "
				      "(spaces, quotes, brackets, ',', ';', "
				      "':', '<', '>', '\\' and '@' are not)";
		}
	if (!why)
		why = host_problem(at + 1, strlen(at + 1), 2);
	if (why)
		return err_set(e, ERR_INVALID, field,
			       "%s \"%.80s\": not an email address: %s", field,
			       s, why);
	return 0;
}

static bool is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
	       strcasecmp(host, "localhost") == 0;
}

/* Is part of u set?  (curl_url_get says CURLUE_NO_* when not.) */
static bool has_part(CURLU *u, CURLUPart part)
{
	char *v = NULL;
	bool has = curl_url_get(u, part, &v, 0) == CURLUE_OK && v && *v;

	curl_free(v);
	return has;
}

/* mailer_check_url, and whether the scheme is smtps (*tls, may be
 * NULL). */
static int url_check(const char *url, const char *field, bool *loopback,
		     bool *tls, struct err *e)
{
	char *scheme = NULL, *host = NULL, *path = NULL;
	CURLU *u = NULL;
	CURLUcode uc;
	int rc = -1;

	if (!url || !*url)
		return err_set(e, ERR_INVALID, field, "%s: missing", field);
	for (size_t i = 0; url[i]; i++) {
		unsigned char c = (unsigned char)url[i];

		if (i >= URL_MAX)
			return err_set(e, ERR_INVALID, field,
				       "%s: longer than %d bytes", field,
				       URL_MAX);
		if (c <= 0x20 || c >= 0x7f)
			return err_set(e, ERR_INVALID, field,
				       "%s: a space, control or non-ASCII "
				       "character at byte offset %zu",
				       field, i);
	}
	u = curl_url();
	if (!u)
		return err_set(e, ERR_INTERNAL, field, "out of memory");
	/* Any scheme parses, so that all wrong ones get the same message. */
	uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
	if (uc != CURLUE_OK) {
		err_set(e, ERR_INVALID, field, "%s: not a valid URL (%s)",
			field, curl_url_strerror(uc));
		goto out;
	}
	/* Before anything echoes the URL: a password must not reach a log. */
	if (has_part(u, CURLUPART_USER) || has_part(u, CURLUPART_PASSWORD)) {
		err_set(e, ERR_INVALID, field,
			"%s: no user or password in the URL; use "
			"LAGERBILD_SMTP_USER and LAGERBILD_SMTP_PASSWORD_FILE",
			field);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		err_set(e, ERR_INVALID, field, "%s \"%.200s\": no host", field,
			url);
		goto out;
	}
	if (strcmp(scheme, "smtps") != 0 && strcmp(scheme, "smtp") != 0) {
		err_set(e, ERR_INVALID, field,
			"%s \"%.200s\": not smtps://HOST[:PORT] or "
			"smtp://HOST[:PORT] (STARTTLS)",
			field, url);
		goto out;
	}
	if (has_part(u, CURLUPART_QUERY) || has_part(u, CURLUPART_FRAGMENT)) {
		err_set(e, ERR_INVALID, field,
			"%s \"%.200s\": no query or fragment", field, url);
		goto out;
	}
	/* The path, if any, is the name libcurl gives in EHLO. */
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK &&
	    strcmp(path, "/") != 0 &&
	    host_problem(path + 1, strlen(path + 1), 1)) {
		err_set(e, ERR_INVALID, field,
			"%s \"%.200s\": the path, if any, is the host name to "
			"give in EHLO: %s",
			field, url,
			host_problem(path + 1, strlen(path + 1), 1));
		goto out;
	}
	if (loopback)
		*loopback = is_loopback(host);
	if (tls)
		*tls = strcmp(scheme, "smtps") == 0;
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

int mailer_check_url(const char *url, const char *field, bool *loopback,
		     struct err *e)
{
	return url_check(url, field, loopback, NULL, e);
}

int mailer_settings_check(const char *url, const char *from, const char *user,
			  const char *password_file, struct err *e)
{
	if (url && mailer_check_url(url, "LAGERBILD_SMTP_URL", NULL, e) < 0)
		return -1;
	if (url && !from)
		return err_set(e, ERR_INVALID, "LAGERBILD_SMTP_FROM",
			       "LAGERBILD_SMTP_FROM: missing; email "
			       "(LAGERBILD_SMTP_URL) needs a sender address");
	if (from && mailer_check_address(from, "LAGERBILD_SMTP_FROM", e) < 0)
		return -1;
	if (user &&
	    validate_text(user, 256, false, "LAGERBILD_SMTP_USER", e) < 0)
		return -1;
	if (user && !password_file)
		return err_set(e, ERR_INVALID, "LAGERBILD_SMTP_PASSWORD_FILE",
			       "LAGERBILD_SMTP_PASSWORD_FILE: missing; "
			       "LAGERBILD_SMTP_USER needs it");
	if (password_file && !user)
		return err_set(e, ERR_INVALID, "LAGERBILD_SMTP_USER",
			       "LAGERBILD_SMTP_USER: missing; "
			       "LAGERBILD_SMTP_PASSWORD_FILE is for it");
	if (password_file &&
	    validate_text(password_file, 4096, false,
			  "LAGERBILD_SMTP_PASSWORD_FILE", e) < 0)
		return -1;
	return 0;
}

int mailer_spec_check(const struct mailer_spec *s, struct err *e)
{
	if (mailer_check_address(s->to, "to", e) < 0 ||
	    alerts_filter_check(&s->filter, e) < 0)
		return -1;
	return 0;
}

/* ---- subscriptions ---- */

int mailer_subscribe(struct db *db, const struct mailer_spec *s, int64_t *id,
		     struct err *e)
{
	*id = 0;
	if (mailer_spec_check(s, e) < 0)
		return -1;
	return alerts_subscription_insert(
		db,
		"INSERT INTO email_subscription (address, regions, categories,"
		" rules, min_severity, description)"
		" VALUES ($1, $2::char(2)[], $3::product_category[],"
		" $4::alert_rule[], $5::alert_severity, $6) RETURNING id",
		s->to, &s->filter, id, e);
}

/* ---- the message ---- */

/* A growable text with a ceiling and a sticky failure, checked once. */
struct text {
	char *p;
	size_t len, cap;
	bool failed;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > MAILER_MESSAGE_MAX) {
		t->failed = true;
		return;
	}
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		char *p;

		while (cap < t->len + n + 1)
			cap *= 2;
		p = realloc(t->p, cap);
		if (!p) {
			t->failed = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void text_addf(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void text_addf(struct text *t, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		t->failed = true;
		return;
	}
	text_add(t, buf, (size_t)n);
}

/* The octets of the UTF-8 character at s (1 for a stray byte), never past
 * the NUL. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;

	if (s[0] >= 0x80 && s[0] < 0xc0)
		return 1;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return i;
	return n;
}

/* s cut to at most max octets at a character boundary, "…" marking a
 * cut, into out (max + 4 octets). */
static void cut_utf8(const char *s, size_t max, char *out)
{
	size_t n = 0, k;

	while (s[n] && n + (k = utf8_len((const unsigned char *)s + n)) <= max)
		n += k;
	memcpy(out, s, n);
	if (s[n]) {
		memcpy(out + n, "\xe2\x80\xa6", 3);
		n += 3;
	}
	out[n] = '\0';
}

/* Characters RFC 2047 5(3) lets stand for themselves in a Q word. */
static bool q_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!*+-/", c));
}

/*
 * The Subject header: as it is when short printable ASCII, else RFC 2047
 * Q encoded-words of whole characters, one per folded line.
 */
static void subject_header(struct text *t, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	bool plain = strlen(s) + 9 <= 78 && !strstr(s, "=?");
	size_t used = 0;

	for (size_t i = 0; plain && s[i]; i++)
		plain = (unsigned char)s[i] >= 0x20 &&
			(unsigned char)s[i] < 0x7f;
	if (plain) {
		text_addf(t, "Subject: %s\r\n", s);
		return;
	}
	text_str(t, "Subject: =?UTF-8?Q?");
	for (size_t i = 0; s[i];) {
		const unsigned char *c = (const unsigned char *)s + i;
		size_t n = utf8_len(c), k = 0;
		char enc[12];

		for (size_t j = 0; j < n; j++) {
			if (c[j] == ' ') {
				enc[k++] = '_';
			} else if (q_plain(c[j])) {
				enc[k++] = (char)c[j];
			} else {
				enc[k++] = '=';
				enc[k++] = hex[c[j] >> 4];
				enc[k++] = hex[c[j] & 15];
			}
		}
		if (used + k > QWORD_MAX) {
			text_str(t, "?=\r\n =?UTF-8?Q?");
			used = 0;
		}
		text_add(t, enc, k);
		used += k;
		i += n;
	}
	text_str(t, "?=\r\n");
}

/*
 * body (UTF-8, "\n" lines) as quoted-printable (RFC 2045 6.7): CRLF
 * lines, soft breaks before 76 octets, '=', controls, 8-bit octets and a
 * line's trailing blank encoded.
 */
static void qp_body(struct text *t, const char *body)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const char *line = body; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line), col = 0;

		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)line[i];
			bool enc = c == '=' || c > 126 ||
				   (c < 32 && c != '\t') ||
				   ((c == ' ' || c == '\t') && i == n - 1);
			char piece[3];
			size_t k = 1;

			piece[0] = (char)c;
			if (enc) {
				piece[0] = '=';
				piece[1] = hex[c >> 4];
				piece[2] = hex[c & 15];
				k = 3;
			}
			if (col + k > QP_LINE) {
				text_str(t, "=\r\n");
				col = 0;
			}
			text_add(t, piece, k);
			col += k;
		}
		text_str(t, "\r\n");
		line += n + (end ? 1 : 0);
	}
}

/* RFC 5322 date-time in UTC; the names are fixed, whatever the locale. */
static void date_header(struct text *t, int64_t when)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
					   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
					     "May", "Jun", "Jul", "Aug",
					     "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)when;
	struct tm tm;

	if (!gmtime_r(&tt, &tm)) {
		t->failed = true;
		return;
	}
	text_addf(t, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
		  days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		  tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *str_member(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Words for the figures the rules put in details, and whether each is a
 * quantity in the product's base unit (or a rate: that unit per day). */
static const struct figure_name {
	const char *key, *label;
	int unit; /* 0 none, 1 the unit, 2 the unit per day */
} figure_names[] = {
	{"available", "available stock", 1},
	{"rate", "consumption per day", 2},
	{"days", "days of supply", 0},
	{"target_days", "target, days", 0},
	{"floor_days", "floor, days", 0},
	{"shortfall", "short of the target", 1},
	{"window_days", "window, days", 0},
	{"quantity", "quantity", 1},
	{"held", "held", 1},
	{"expiry", "expires", 0},
	{"last_reported_at", "last reported", 0},
};

/* One value of details as text: numbers without noise, strings as they
 * are, anything else as compact JSON; at most FIGURE_MAX octets. */
static void figure_text(const json_t *v, char out[FIGURE_MAX + 4])
{
	char *dump;

	if (json_is_string(v)) {
		cut_utf8(json_string_value(v), FIGURE_MAX, out);
	} else if (json_is_integer(v)) {
		snprintf(out, FIGURE_MAX, "%lld",
			 (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		size_t n;

		snprintf(out, FIGURE_MAX, "%.2f", json_real_value(v));
		n = strlen(out);
		while (n > 0 && out[n - 1] == '0')
			out[--n] = '\0';
		if (n > 0 && out[n - 1] == '.')
			out[--n] = '\0';
	} else if (json_is_boolean(v)) {
		snprintf(out, FIGURE_MAX, "%s", json_is_true(v) ? "yes" : "no");
	} else {
		dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		cut_utf8(dump ? dump : "?", FIGURE_MAX, out);
		free(dump);
	}
}

static void figures(struct text *b, const json_t *details, const char *unit)
{
	const char *key;
	json_t *v;

	if (!json_is_object(details) || json_object_size(details) == 0)
		return;
	text_str(b, "\nWhat the rule saw:\n");
	json_object_foreach((json_t *)details, key, v)
	{
		const struct figure_name *f = NULL;
		char val[FIGURE_MAX + 4], label[80];

		if (json_is_null(v))
			continue;
		for (size_t i = 0;
		     i < sizeof(figure_names) / sizeof(figure_names[0]) && !f;
		     i++)
			if (strcmp(key, figure_names[i].key) == 0)
				f = &figure_names[i];
		figure_text(v, val);
		snprintf(label, sizeof(label), "%.60s:", f ? f->label : key);
		text_addf(b, "  %-22s %s%s%s%s\n", label, val,
			  f && f->unit && unit ? " " : "",
			  f && f->unit && unit ? unit : "",
			  f && f->unit == 2 && unit ? "/day" : "");
	}
}

/* The body: what happened, to what, and the figures; plain text. */
static void body_text(struct text *b, const json_t *notice, const json_t *a,
		      const char *event)
{
	const char *region = str_member(a, "region"),
		   *region_name = str_member(notice, "region_name"),
		   *product = str_member(a, "product_name"),
		   *unit = str_member(notice, "base_unit");
	char title[520];

	cut_utf8(str_member(a, "title"), 500, title);
	if (strcmp(event, "opened") == 0)
		text_str(b, "An alert opened in lagerbild:\n\n");
	else
		text_str(b, "An alert in lagerbild was resolved: its condition "
			    "no longer holds.\n\n");
	text_addf(b, "    %s\n\n", title);
	text_addf(b, "Rule:          %s\n", str_member(a, "rule"));
	text_addf(b, "Severity:      %s\n", str_member(a, "severity"));
	if (region)
		text_addf(b, "Region:        %s %s\n", region,
			  region_name ? region_name : "");
	else
		text_str(b, "Region:        (national)\n");
	if (product) {
		const char *code = str_member(a, "product"),
			   *category = str_member(a, "category");

		text_addf(b, "Product:       %s", product);
		if (code || category)
			text_addf(b, " (%s%s%s)", code ? code : "",
				  code && category ? ", " : "",
				  category ? category : "");
		text_str(b, "\n");
	}
	if (str_member(a, "site"))
		text_addf(b, "Site:          %s\n", str_member(a, "site"));
	if (str_member(a, "lot") && *str_member(a, "lot"))
		text_addf(b, "Lot:           %s\n", str_member(a, "lot"));
	if (str_member(notice, "opened_local"))
		text_addf(b, "Opened:        %s (Swedish time)\n",
			  str_member(notice, "opened_local"));
	if (str_member(notice, "resolved_local"))
		text_addf(b, "Resolved:      %s (Swedish time)\n",
			  str_member(notice, "resolved_local"));
	if (str_member(a, "acknowledged_by")) {
		char note[220];

		cut_utf8(str_member(a, "ack_note") ? str_member(a, "ack_note") :
						     "",
			 200, note);
		text_addf(b, "Acknowledged:  by %.200s: %s\n",
			  str_member(a, "acknowledged_by"), note);
	}
	text_addf(b, "Alert:         %lld\n",
		  (long long)json_integer_value(json_object_get(a, "id")));
	figures(b, json_object_get(a, "details"), unit);
	text_addf(b,
		  "\nYou receive this as email subscription %lld of "
		  "lagerbild\n(see: lagerbild alerts email list). It was sent "
		  "automatically.\n",
		  (long long)json_integer_value(
			  json_object_get(notice, "subscription")));
}

int mailer_compose(const char *from, const char *to, const char *payload,
		   int64_t date, char **out, size_t *len, struct err *e)
{
	struct text m = {0}, b = {0};
	const char *event, *domain = strchr(from, '@');
	char subject[SUBJECT_MAX + 4], head[SUBJECT_MAX + 64];
	json_t *notice = NULL, *a;
	long long alert_id, sub;
	int rc = -1;

	*out = NULL;
	*len = 0;
	notice = json_loads(payload, 0, NULL);
	a = json_object_get(notice, "alert");
	event = str_member(notice, "event");
	if (!domain || !json_is_object(a) || !event ||
	    (strcmp(event, "opened") != 0 && strcmp(event, "resolved") != 0) ||
	    !json_is_integer(json_object_get(a, "id")) ||
	    !json_is_integer(json_object_get(notice, "subscription")) ||
	    !str_member(a, "title") || !str_member(a, "rule") ||
	    !str_member(a, "severity")) {
		err_set(e, ERR_INVALID, "payload",
			"the queued notice is not one this version writes");
		goto out;
	}
	domain++;
	alert_id = (long long)json_integer_value(json_object_get(a, "id"));
	sub = (long long)json_integer_value(
		json_object_get(notice, "subscription"));
	snprintf(head, sizeof(head), "[lagerbild] %s (%s): %s",
		 strcmp(event, "opened") == 0 ? "Opened" : "Resolved",
		 str_member(a, "severity"), str_member(a, "title"));
	cut_utf8(head, SUBJECT_MAX, subject);

	date_header(&m, date);
	text_addf(&m, "From: lagerbild <%s>\r\n", from);
	text_addf(&m, "To: %s\r\n", to);
	subject_header(&m, subject);
	/* One per subscriber and alert event: the same on every retry, and
	 * the resolution refers to the opening, so mail readers thread them. */
	text_addf(&m, "Message-ID: <alert-%lld.%s.%lld@%s>\r\n", alert_id,
		  event, sub, domain);
	if (strcmp(event, "resolved") == 0) {
		text_addf(&m, "In-Reply-To: <alert-%lld.opened.%lld@%s>\r\n",
			  alert_id, sub, domain);
		text_addf(&m, "References: <alert-%lld.opened.%lld@%s>\r\n",
			  alert_id, sub, domain);
	}
	text_str(&m, "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "Content-Transfer-Encoding: quoted-printable\r\n"
		     "Auto-Submitted: auto-generated\r\n\r\n");
	body_text(&b, notice, a, event);
	if (b.failed) {
		err_set(e, ERR_INTERNAL, "", "the message is too long");
		goto out;
	}
	qp_body(&m, b.p);
	if (m.failed) {
		err_set(e, ERR_INTERNAL, "", "the message is too long");
		goto out;
	}
	*out = m.p;
	*len = m.len;
	m.p = NULL;
	rc = 0;
out:
	free(m.p);
	free(b.p);
	json_decref(notice);
	return rc;
}

/* ---- sending ---- */

/* The first line of the password file into out (PASSWORD_MAX + 1). */
static int read_password(const char *path, char *out, struct err *e)
{
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ERR_INVALID, "LAGERBILD_SMTP_PASSWORD_FILE",
			       "LAGERBILD_SMTP_PASSWORD_FILE %.200s: %s", path,
			       strerror(errno));
	while (len < PASSWORD_MAX + 1 &&
	       (n = read(fd, out + len, PASSWORD_MAX + 1 - len)) > 0)
		len += (size_t)n;
	/* don't believe nonsense: a password is a line, not a file */
	if (len > PASSWORD_MAX) {
		err_set(e, ERR_INVALID, "LAGERBILD_SMTP_PASSWORD_FILE",
			"LAGERBILD_SMTP_PASSWORD_FILE %.200s: longer than %d "
			"bytes",
			path, PASSWORD_MAX);
		goto out;
	}
	out[len] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (!out[0]) {
		err_set(e, ERR_INVALID, "LAGERBILD_SMTP_PASSWORD_FILE",
			"LAGERBILD_SMTP_PASSWORD_FILE %.200s: empty", path);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		sodium_memzero(out, PASSWORD_MAX + 1);
	close(fd);
	return rc;
}

/* The message as libcurl reads it. */
struct upload {
	const char *p;
	size_t len, off;
};

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t room = size * n, left = u->len - u->off;
	size_t k = left < room ? left : room;

	memcpy(buf, u->p + u->off, k);
	u->off += k;
	return k;
}

/* One message through the relay; password NULL: no AUTH. */
static int send_one(const struct mailer_options *o, const char *password,
		    const char *to, const char *msg, size_t len, long *code,
		    struct err *e)
{
	struct upload up = {.p = msg, .len = len};
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *rcpt = NULL;
	bool loopback = false, tls = false, require_tls;
	CURL *h = NULL;
	CURLcode cc;
	int rc = -1;

	*code = 0;
	pthread_once(&init_once, init_curl);
	if (!init_ok)
		return err_set(e, ERR_INTERNAL, "",
			       "libcurl failed to initialise");
	/* Checked again at each send: the options may come from anywhere. */
	if (url_check(o->url, "LAGERBILD_SMTP_URL", &loopback, &tls, e) < 0 ||
	    mailer_check_address(o->from, "LAGERBILD_SMTP_FROM", e) < 0 ||
	    mailer_check_address(to, "to", e) < 0)
		return -1;
	/* TLS always, from the start (smtps) or by STARTTLS, which only a
	 * relay on this machine may go without. */
	require_tls = tls || !loopback;
	rcpt = curl_slist_append(NULL, to);
	h = curl_easy_init();
	if (!rcpt || !h) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	if (curl_easy_setopt(h, CURLOPT_URL, o->url) ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps") ||
	    curl_easy_setopt(
		    h, CURLOPT_USE_SSL,
		    (long)(require_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE)) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(h, CURLOPT_SSLVERSION,
			     (long)CURL_SSLVERSION_TLSv1_2) ||
	    (o->ca_file && curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file)) ||
	    /* no SIGALRM for DNS timeouts: the binary is multithreaded */
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, o->timeout_s) ||
	    curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT,
			     o->timeout_s) ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, o->timeout_s) ||
	    curl_easy_setopt(h, CURLOPT_MAIL_FROM, o->from) ||
	    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt) ||
	    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) ||
	    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read) ||
	    curl_easy_setopt(h, CURLOPT_READDATA, &up) ||
	    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len) ||
	    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) ||
	    (password && (curl_easy_setopt(h, CURLOPT_USERNAME, o->user) ||
			  curl_easy_setopt(h, CURLOPT_PASSWORD, password))) ||
	    (loopback && curl_easy_setopt(h, CURLOPT_NOPROXY, "*"))) {
		err_set(e, ERR_INTERNAL, "", "libcurl refused an option");
		goto out;
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
	if (cc != CURLE_OK) {
		/* 5xx is the relay's final word (RFC 5321 4.2.1); anything
		 * else may pass when tried again. */
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
		bool final = *code >= 500 && *code <= 599;
		char reply[32] = "";

		/* libcurl says "Weird server reply" for a refusal after the
		 * data: the code tells more */
		snprintf(reply, sizeof(reply), "%ld", *code);
		if (*code >= 400 && !strstr(why, reply))
			snprintf(reply, sizeof(reply), " (reply %ld)", *code);
		else
			reply[0] = '\0';
		err_set(e, final ? ERR_INVALID : ERR_UNAVAILABLE, "",
			"%s%s%s%s", final ? "refused for good: " : "", why,
			reply,
			cc == CURLE_USE_SSL_FAILED ?
				" (the relay must offer STARTTLS)" :
				"");
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	return rc;
}

int mailer_send(const struct mailer_options *o, const char *to, const char *msg,
		size_t len, long *code, struct err *e)
{
	char password[PASSWORD_MAX + 1] = "";
	int rc;

	*code = 0;
	if (!o->url)
		return err_set(e, ERR_INVALID, "LAGERBILD_SMTP_URL",
			       "email is off: LAGERBILD_SMTP_URL is not set");
	if (mailer_settings_check(o->url, o->from, o->user, o->password_file,
				  e) < 0 ||
	    (o->user && read_password(o->password_file, password, e) < 0))
		return -1;
	rc = send_one(o, o->user ? password : NULL, to, msg, len, code, e);
	sodium_memzero(password, sizeof(password));
	return rc;
}

/* ---- delivery ---- */

void mailer_options_default(struct mailer_options *o)
{
	*o = (struct mailer_options){
		.url = settings_get("smtp_url"),
		.from = settings_get("smtp_from"),
		.user = settings_get("smtp_user"),
		.password_file = settings_get("smtp_password_file"),
		.timeout_s = DEFAULT_TIMEOUT_S,
		.backoff_ms = DEFAULT_BACKOFF_MS,
		.max_attempts = DEFAULT_MAX_ATTEMPTS,
		.limit = DEFAULT_LIMIT,
		.max_age_s = DEFAULT_MAX_AGE_S,
	};
}

/* Claim due deliveries: push each past its attempt's timeout (a lease).
 * Whether the subscription is active and the delivery too old to send
 * come along, to be given up instead of sent. */
static const char claim_sql[] =
	"WITH due AS ("
	" SELECT d.id FROM email_delivery d"
	"  WHERE d.status = 'pending' AND d.next_attempt_at <= now()"
	"  ORDER BY d.next_attempt_at, d.id LIMIT $1"
	"  FOR UPDATE OF d SKIP LOCKED)"
	" UPDATE email_delivery d"
	"   SET next_attempt_at = now() + make_interval(secs => $2::float8)"
	"  FROM due, email_subscription s"
	" WHERE d.id = due.id AND s.id = d.subscription_id"
	" RETURNING d.id, s.address, s.active, d.payload::text,"
	"  d.subscription_id, extract(epoch FROM d.created_at)::bigint,"
	"  d.created_at < now() - make_interval(secs => $3::float8)";

/* One attempt's outcome: the delivery row and the attempt's log row. */
static const char record_sql[] =
	"WITH d AS (UPDATE email_delivery"
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
	" INSERT INTO email_attempt (delivery_id, n, response_code, error,"
	"  duration_ms)"
	" SELECT id, attempts, $2::int, left($3, 1000), $8::int FROM d"
	" RETURNING (SELECT status FROM d)";

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Try one claimed delivery (row i of the claim): *ok when the relay took
 * it, *final when it must not be tried again, why the reason when not
 * ok.
 */
static void attempt(const struct mailer_options *o, const char *password,
		    const PGresult *q, int i, long *code, bool *ok, bool *final,
		    char *why, size_t why_size)
{
	const char *to = db_text(q, i, 1), *payload = db_text(q, i, 3);
	bool active = strcmp(db_text(q, i, 2), "t") == 0;
	bool too_old = strcmp(db_text(q, i, 6), "t") == 0;
	struct err e = {0};
	char *msg = NULL;
	size_t len;

	*code = 0;
	*ok = false;
	*final = true;
	why[0] = '\0';
	if (!active) {
		snprintf(why, why_size, "the subscription was deactivated");
	} else if (too_old) {
		snprintf(why, why_size,
			 "not sent: queued more than %ld seconds ago (email "
			 "was off, or the relay out of reach, until then)",
			 o->max_age_s);
	} else if (mailer_compose(o->from, to, payload, db_int64(q, i, 5), &msg,
				  &len, &e) < 0 ||
		   send_one(o, password, to, msg, len, code, &e) < 0) {
		snprintf(why, why_size, "%s", e.msg);
		/* Only what may pass later is tried again. */
		*final = e.code != ERR_UNAVAILABLE;
	} else {
		*ok = true;
		*final = false;
	}
	free(msg);
}

int mailer_deliver_due(struct db *db, const struct mailer_options *opt,
		       struct webhook_counts *out, struct err *e)
{
	char password[PASSWORD_MAX + 1] = "";
	char lease[24], batch[16], max_age[24];
	struct mailer_options o;
	const char *params[3];
	PGresult *q = NULL;
	int done = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	if (opt)
		o = *opt;
	else
		mailer_options_default(&o);
	if (!o.url)
		return 0; /* email is off */
	if (o.timeout_s <= 0)
		o.timeout_s = DEFAULT_TIMEOUT_S;
	if (o.backoff_ms < 0)
		o.backoff_ms = 0;
	if (o.max_attempts <= 0)
		o.max_attempts = DEFAULT_MAX_ATTEMPTS;
	if (o.limit <= 0)
		o.limit = DEFAULT_LIMIT;
	if (o.max_age_s <= 0)
		o.max_age_s = DEFAULT_MAX_AGE_S;
	/* What is wrong with the configuration is nobody's delivery's fault:
	 * nothing is claimed until it is right. */
	if (mailer_settings_check(o.url, o.from, o.user, o.password_file, e) <
		    0 ||
	    (o.user && read_password(o.password_file, password, e) < 0))
		return -1;
	/* The lease outlasts every attempt of the batch. */
	snprintf(lease, sizeof(lease), "%ld", o.timeout_s * CLAIM_BATCH + 60);
	snprintf(max_age, sizeof(max_age), "%ld", o.max_age_s);
	while (done < o.limit) {
		int n, want = o.limit - done;

		snprintf(batch, sizeof(batch), "%d",
			 want < CLAIM_BATCH ? want : CLAIM_BATCH);
		params[0] = batch;
		params[1] = lease;
		params[2] = max_age;
		q = db_exec(db, claim_sql, 3, params, e);
		if (!q)
			goto out;
		n = PQntuples(q);
		if (n == 0)
			break;
		for (int i = 0; i < n; i++) {
			const char *id = db_text(q, i, 0);
			int64_t t0 = now_ms();
			bool ok, final;
			char why[512];
			long code;

			attempt(&o, o.user ? password : NULL, q, i, &code, &ok,
				&final, why, sizeof(why));
			if (!ok)
				log_warning("email delivery %s (subscription "
					    "%s): %s",
					    id, db_text(q, i, 4), why);
			struct webhook_attempt at = {
				.id = id,
				.code = code,
				.ok = ok,
				.why = why,
				.given_up = final && !ok,
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
	sodium_memzero(password, sizeof(password));
	PQclear(q);
	return rc;
}
