/*
 * check_email.c -- alert email through an in-process SMTP relay: the
 * message as a mail reader sees it (headers, a Swedish Subject in RFC 2047
 * encoded-words, the quoted-printable body), retries after 4xx replies with
 * the attempt log, giving up on a 5xx reply and after max attempts, the
 * subscription filters, TLS required off loopback, SMTP AUTH, addresses
 * refused at subscribe (API and CLI), and nothing sent while email is off.
 *
 * The relay is a thread with a plain TCP socket on 127.0.0.1 (127.0.0.2
 * where a non-loopback relay is wanted) that speaks just enough SMTP --
 * 220, EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, '.', QUIT -- and can be
 * told to answer one stage of each connection with a failure code.  It
 * keeps what each connection sent, the DATA as it came over the wire
 * (dot-stuffed), so that the tests judge what libcurl really sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <sodium.h>

#include "alerts.h"
#include "auth.h"
#include "httpclient.h"
#include "mailer.h"
#include "suites.h"
#include "testdb.h"
#include "webhook.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define RX_MAX 8
#define RX_DATA_MAX 65536
#define FROM "lagerbild@beredskap.example.se"
#define TO "beredskap@regionvg.example.se"

/* ---- the relay ---- */

/* Where a connection is told no. */
enum stage {
	AT_NONE,
	AT_GREETING,
	AT_MAIL,
	AT_RCPT,
	AT_DATA,
	AT_END
};

struct rx_conn {
	char ehlo[128], mail[320], rcpt[320], auth[320];
	char data[RX_DATA_MAX + 1]; /* as sent, dot-stuffed, CRLF lines */
	size_t len;
	bool ended; /* the final '.' came */
};

static struct {
	pthread_t thread;
	bool running;
	atomic_int stop;
	int fd;
	char url[80];
	pthread_mutex_t mu;
	enum stage stage[RX_MAX]; /* per connection, the last repeating */
	int code[RX_MAX];
	int nplan;
	bool auth;    /* offer AUTH PLAIN */
	int delay_ms; /* before answering RCPT */
	int n;	      /* connections accepted */
	struct rx_conn c[RX_MAX];
} rx;

struct reader {
	int fd;
	char buf[4096];
	size_t start, end;
};

/* One line without its CRLF into line; its length, or -1 at EOF. */
static int read_line(struct reader *r, char *line, size_t size)
{
	size_t n = 0;

	for (;;) {
		if (r->start == r->end) {
			ssize_t k = read(r->fd, r->buf, sizeof(r->buf));

			if (k <= 0)
				return -1;
			r->start = 0;
			r->end = (size_t)k;
		}
		while (r->start < r->end) {
			char c = r->buf[r->start++];

			if (c == '\n') {
				if (n > 0 && line[n - 1] == '\r')
					n--;
				line[n] = '\0';
				return (int)n;
			}
			if (n < size - 1)
				line[n++] = c;
		}
	}
}

static void say(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t k = write(fd, s + off, n - off);

		if (k <= 0)
			return;
		off += (size_t)k;
	}
}

/* The planned answer at stage st, or ok. */
static void answer(int fd, enum stage fail, int code, enum stage st,
		   const char *ok)
{
	char no[64];

	if (fail == st) {
		snprintf(no, sizeof(no), "%d %d.3.0 the test says no\r\n", code,
			 code / 100);
		say(fd, no);
	} else {
		say(fd, ok);
	}
}

static void copy_arg(char *out, size_t size, const char *s)
{
	size_t n = strnlen(s, size - 1);

	pthread_mutex_lock(&rx.mu);
	memcpy(out, s, n);
	out[n] = '\0';
	pthread_mutex_unlock(&rx.mu);
}

static void rx_serve(int fd, int i)
{
	struct rx_conn *c = &rx.c[i < RX_MAX ? i : RX_MAX - 1];
	int p = i < rx.nplan ? i : rx.nplan - 1;
	enum stage fail = p >= 0 ? rx.stage[p] : AT_NONE;
	int code = p >= 0 ? rx.code[p] : 0;
	struct reader r = {.fd = fd};
	bool in_data = false, auth_wait = false;
	static char line[4096];

	answer(fd, fail, code, AT_GREETING, "220 rx.test ESMTP\r\n");
	while (read_line(&r, line, sizeof(line)) >= 0) {
		if (in_data) {
			if (strcmp(line, ".") == 0) {
				in_data = false;
				pthread_mutex_lock(&rx.mu);
				c->ended = true;
				pthread_mutex_unlock(&rx.mu);
				answer(fd, fail, code, AT_END,
				       "250 2.0.0 queued\r\n");
				continue;
			}
			pthread_mutex_lock(&rx.mu);
			if (c->len + strlen(line) + 2 <= RX_DATA_MAX) {
				memcpy(c->data + c->len, line, strlen(line));
				c->len += strlen(line);
				memcpy(c->data + c->len, "\r\n", 2);
				c->len += 2;
				c->data[c->len] = '\0';
			}
			pthread_mutex_unlock(&rx.mu);
			continue;
		}
		if (auth_wait) {
			copy_arg(c->auth, sizeof(c->auth), line);
			say(fd, "235 2.7.0 ok\r\n");
			auth_wait = false;
		} else if (strncasecmp(line, "EHLO ", 5) == 0) {
			copy_arg(c->ehlo, sizeof(c->ehlo), line + 5);
			say(fd, rx.auth ? "250-rx.test\r\n250-SIZE 1000000\r\n"
					  "250-AUTH PLAIN\r\n250 8BITMIME\r\n" :
					  "250-rx.test\r\n250-SIZE 1000000\r\n"
					  "250 8BITMIME\r\n");
		} else if (strncasecmp(line, "HELO ", 5) == 0) {
			copy_arg(c->ehlo, sizeof(c->ehlo), line + 5);
			say(fd, "250 rx.test\r\n");
		} else if (strncasecmp(line, "AUTH PLAIN", 10) == 0) {
			if (line[10] == ' ') {
				copy_arg(c->auth, sizeof(c->auth), line + 11);
				say(fd, "235 2.7.0 ok\r\n");
			} else {
				say(fd, "334 \r\n");
				auth_wait = true;
			}
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			copy_arg(c->mail, sizeof(c->mail), line + 10);
			answer(fd, fail, code, AT_MAIL, "250 2.1.0 ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			copy_arg(c->rcpt, sizeof(c->rcpt), line + 8);
			if (rx.delay_ms)
				usleep((useconds_t)rx.delay_ms * 1000);
			answer(fd, fail, code, AT_RCPT, "250 2.1.5 ok\r\n");
		} else if (strcasecmp(line, "DATA") == 0) {
			answer(fd, fail, code, AT_DATA,
			       "354 end with <CRLF>.<CRLF>\r\n");
			in_data = fail != AT_DATA;
		} else if (strcasecmp(line, "QUIT") == 0) {
			say(fd, "221 2.0.0 bye\r\n");
			break;
		} else if (strcasecmp(line, "RSET") == 0 ||
			   strcasecmp(line, "NOOP") == 0) {
			say(fd, "250 2.0.0 ok\r\n");
		} else {
			say(fd, "502 5.5.2 not here\r\n");
		}
	}
}

static void *rx_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&rx.stop)) {
		struct pollfd p = {.fd = rx.fd, .events = POLLIN};
		struct timeval tv = {.tv_sec = 10};
		int c, i;

		if (poll(&p, 1, 100) <= 0)
			continue;
		c = accept(rx.fd, NULL, NULL);
		if (c < 0)
			continue;
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		pthread_mutex_lock(&rx.mu);
		i = rx.n++;
		pthread_mutex_unlock(&rx.mu);
		rx_serve(c, i);
		close(c);
	}
	return NULL;
}

/*
 * Start the relay on host (an IPv4 address) with n planned failures:
 * connection k answers stages[k] with codes[k] (the last repeating;
 * AT_NONE: no failure).  rx.url is its smtp:// URL.
 */
static void rx_start(const char *host, int n, const enum stage *stages,
		     const int *codes)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int one = 1;

	memset(&rx, 0, sizeof(rx));
	pthread_mutex_init(&rx.mu, NULL);
	for (int i = 0; i < n && i < RX_MAX; i++) {
		rx.stage[i] = stages[i];
		rx.code[i] = codes[i];
	}
	rx.nplan = n;
	ck_assert_int_eq(inet_pton(AF_INET, host, &sa.sin_addr), 1);
	rx.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(rx.fd, 0);
	setsockopt(rx.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_msg(bind(rx.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
		      "bind %s: %s", host, strerror(errno));
	ck_assert_int_eq(listen(rx.fd, 8), 0);
	ck_assert_int_eq(getsockname(rx.fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(rx.url, sizeof(rx.url), "smtp://%s:%d", host,
		 ntohs(sa.sin_port));
	ck_assert_int_eq(pthread_create(&rx.thread, NULL, rx_main, NULL), 0);
	rx.running = true;
}

static void rx_stop(void)
{
	if (rx.running) {
		atomic_store(&rx.stop, 1);
		pthread_join(rx.thread, NULL);
		close(rx.fd);
		pthread_mutex_destroy(&rx.mu);
	}
	memset(&rx, 0, sizeof(rx));
}

/* Connections so far (and what they left behind is visible after). */
static int rx_count(void)
{
	int n;

	pthread_mutex_lock(&rx.mu);
	n = rx.n;
	pthread_mutex_unlock(&rx.mu);
	return n;
}

/* ---- reading a message as a mail reader does ---- */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 :
	       c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				      -1;
}

/* Undo SMTP dot-stuffing (RFC 5321 4.5.2) of CRLF lines, in place. */
static void unstuff(char *s)
{
	char *w = s;
	bool bol = true;

	for (char *r = s; *r; r++) {
		if (bol && *r == '.') {
			bol = false;
			continue;
		}
		bol = r[0] == '\n';
		*w++ = *r;
	}
	*w = '\0';
}

/* The value of header name in msg, unfolded, into out; false if none. */
static bool header(const char *msg, const char *name, char *out, size_t size)
{
	const char *end = strstr(msg, "\r\n\r\n"), *p = msg;
	size_t n = strlen(name), k = 0;

	ck_assert_ptr_nonnull(end);
	while (p < end) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ')
				p++;
			/* up to a CRLF not followed by a blank */
			while (p < end + 2 && !(p[0] == '\r' && p[1] == '\n' &&
						p[2] != ' ' && p[2] != '\t')) {
				if (p[0] == '\r' && p[1] == '\n') {
					p += 2;
					continue;
				}
				if (k < size - 1)
					out[k++] = *p;
				p++;
			}
			out[k] = '\0';
			return true;
		}
		p = strstr(p, "\r\n");
		if (!p)
			break;
		p += 2;
	}
	return false;
}

/* Decode the RFC 2047 Q encoded-words of an (unfolded) Subject; the
 * blanks between adjacent words go (RFC 2047 6.2). */
static void decode_words(const char *s, char *out, size_t size)
{
	size_t k = 0;

	while (*s && k < size - 1) {
		if (strncmp(s, "=?UTF-8?Q?", 10) == 0) {
			s += 10;
			while (*s && strncmp(s, "?=", 2) != 0 && k < size - 1) {
				if (*s == '_') {
					out[k++] = ' ';
					s++;
				} else if (*s == '=' && hexval(s[1]) >= 0 &&
					   hexval(s[2]) >= 0) {
					out[k++] = (char)(hexval(s[1]) * 16 +
							  hexval(s[2]));
					s += 3;
				} else {
					out[k++] = *s++;
				}
			}
			if (*s)
				s += 2;
			if (*s == ' ' && strncmp(s + 1, "=?", 2) == 0)
				s++;
			continue;
		}
		out[k++] = *s++;
	}
	out[k] = '\0';
}

/* The body after the header block, quoted-printable decoded, "\n"
 * lines.  The caller frees. */
static char *qp_decode(const char *msg)
{
	const char *p = strstr(msg, "\r\n\r\n");
	char *out = malloc(strlen(msg) + 1);
	size_t k = 0;

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(out);
	for (p += 4; *p;) {
		if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
			p += 3; /* soft break */
		} else if (p[0] == '=') {
			ck_assert_msg(hexval(p[1]) >= 0 && hexval(p[2]) >= 0,
				      "bad quoted-printable at %.20s", p);
			out[k++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 3;
		} else if (p[0] == '\r' && p[1] == '\n') {
			out[k++] = '\n';
			p += 2;
		} else {
			out[k++] = *p++;
		}
	}
	out[k] = '\0';
	return out;
}

/* Every line CRLF-ended, ASCII, at most max octets (998 for all). */
static void check_lines(const char *msg, size_t len, size_t max)
{
	size_t start = 0;

	ck_assert_msg(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n',
		      "the message does not end with CRLF");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];

		ck_assert_msg(c < 0x80, "8-bit octet at %zu", i);
		ck_assert_msg(c != '\n' || (i > 0 && msg[i - 1] == '\r'),
			      "bare LF at %zu", i);
		ck_assert_msg(c != '\r' || msg[i + 1] == '\n', "bare CR at %zu",
			      i);
		if (c == '\n') {
			ck_assert_msg(i - 1 - start <= max,
				      "line of %zu octets: %.80s",
				      i - 1 - start, msg + start);
			start = i + 1;
		}
	}
}

/* ---- the database ---- */

static struct db *owner, *app;
static int64_t site06, prod;
static const char *dburl;

static void own_exec(const char *sql, int n, const char *const *params)
{
	struct err e = {0};

	ck_assert_msg(db_command(owner, sql, n, params, &e) == 0, "%s: %s", sql,
		      e.msg);
}

static void setup(void)
{
	struct err e = {0};

	dburl = testdb_create();
	owner = testdb_connect();
	ck_assert_msg(db_act_as_system(owner, "setup", &e) == 0, "%s", e.msg);
	site06 = testdb_site(owner, "06", "06-CL");
	prod = testdb_product(owner, "123456", "Koksaltlösning 9 mg/ml");
	app = testdb_connect_app("tester");
}

static void teardown(void)
{
	db_close(app);
	db_close(owner);
	app = owner = NULL;
	testdb_drop();
	rx_stop();
}

static int64_t subscribe(const struct mailer_spec *s)
{
	struct err e = {0};
	int64_t id;

	ck_assert_msg(db_begin(app, &e) == 0, "%s", e.msg);
	ck_assert_msg(mailer_subscribe(app, s, &id, &e) == 0, "%s", e.msg);
	ck_assert_msg(db_commit(app, &e) == 0, "%s", e.msg);
	return id;
}

/* Region 06 holds 5 of prod in a lot that expires in 3 days. */
static void expiring_lot(void)
{
	char s[24], p[24];
	const char *params[] = {s, p};

	snprintf(s, sizeof(s), "%lld", (long long)site06);
	snprintf(p, sizeof(p), "%lld", (long long)prod);
	own_exec("INSERT INTO stock_event (site_id, product_id, kind,"
		 " quantity, lot, expiry, idempotency_key, payload_hash,"
		 " recorded_by, delta, balance_after, seq)"
		 " VALUES ($1::bigint, $2::bigint, 'receipt', 5, 'X1',"
		 " current_date + 3, gen_random_uuid(), sha256('x'), 't', 0, 0,"
		 " 1)",
		 2, params);
}

/* Region 14 Västra Götaland declares katastroftillstånd. */
static void disaster14(void)
{
	own_exec("INSERT INTO region_state_history (region_code, state,"
		 " reason, set_by) VALUES ('14', 'disaster', 'storm', 'test')",
		 0, NULL);
}

static struct alerts_counts sweep(void)
{
	struct alerts_options o;
	struct alerts_counts c;
	struct err e = {0};

	alerts_options_default(&o);
	o.verify = false;
	o.deliver = false;
	ck_assert_msg(alerts_run(app, &o, &c, &e) == 0, "%s", e.msg);
	return c;
}

static struct mailer_options options(long backoff_ms, int max_attempts)
{
	struct mailer_options o;

	mailer_options_default(&o);
	o.url = rx.url;
	o.from = FROM;
	o.user = NULL;
	o.password_file = NULL;
	o.backoff_ms = backoff_ms;
	o.max_attempts = max_attempts;
	o.timeout_s = 5;
	return o;
}

static struct webhook_counts deliver_with(const struct mailer_options *o)
{
	struct webhook_counts c;
	struct err e = {0};

	ck_assert_msg(mailer_deliver_due(app, o, &c, &e) == 0, "%s", e.msg);
	return c;
}

static struct webhook_counts deliver(long backoff_ms, int max_attempts)
{
	struct mailer_options o = options(backoff_ms, max_attempts);

	return deliver_with(&o);
}

/* ---- tests: the rules ---- */

START_TEST(test_address_and_url_rules)
{
	static const char *const good[] = {
		"beredskap@regionvg.se",
		"a.b-c+d_e@lagerbild.example.se",
		"x!#$%&'*+/=?^_`{|}~@sub.domain-1.se",
		"kontakt@rjl.se",
	};
	static const struct {
		const char *addr, *why;
	} bad[] = {
		{"a@b.se\r\nBcc: evil@x.se", "control"},
		{"a@b.se\nBcc: evil@x.se", "control"},
		{"a@b.se\r", "control"},
		{"a\t@b.se", "control"},
		{"åsa@region.se", "non-ASCII"},
		{"a@jönköping.se", "non-ASCII"},
		{"a b@x.se", "not allowed"},
		{"\"q\"@x.se", "not allowed"},
		{"Name <a@x.se>", "not allowed"},
		{"<a@x.se>", "not allowed"},
		{"a@x.se>", "domain"},
		{"a,b@x.se", "not allowed"},
		{"a@localhost", "two labels"},
		{"a@x", "two labels"},
		{"a@1.2.3.4", "no letter"},
		{"a@-x.se", "'-'"},
		{"a@x..se", "empty label"},
		{"a..b@x.se", "'..'"},
		{".a@x.se", "begins or ends"},
		{"a.@x.se", "begins or ends"},
		{"@x.se", "nothing before"},
		{"a@", "empty"},
		{"ax.se", "no '@'"},
		{"a@b@x.se", "more than one"},
		{"", "missing"},
	};
	char long_local[80], long_addr[300];
	struct err e;

	for (int i = 0; i < NELEM(good); i++) {
		e = (struct err){0};
		ck_assert_msg(mailer_check_address(good[i], "to", &e) == 0,
			      "%s: %s", good[i], e.msg);
	}
	for (int i = 0; i < NELEM(bad); i++) {
		e = (struct err){0};
		ck_assert_msg(mailer_check_address(bad[i].addr, "to", &e) == -1,
			      "accepted: %s", bad[i].addr);
		ck_assert_int_eq(e.code, ERR_INVALID);
		ck_assert_str_eq(e.field, "to");
		ck_assert_msg(strstr(e.msg, bad[i].why), "%s: %s", bad[i].addr,
			      e.msg);
		/* a refusal never carries the line break it refuses */
		ck_assert_msg(!strpbrk(e.msg, "\r\n"), "%s", e.msg);
	}
	memset(long_local, 'a', 65);
	snprintf(long_local + 65, sizeof(long_local) - 65, "@x.se");
	ck_assert_int_eq(mailer_check_address(long_local, "to", &e), -1);
	memset(long_addr, 'b', 250);
	snprintf(long_addr + 250, sizeof(long_addr) - 250, "@x.se");
	long_addr[0] = 'a';
	long_addr[60] = '@';
	ck_assert_int_eq(mailer_check_address(long_addr, "to", &e), -1);
	ck_assert_msg(strstr(e.msg, "254"), "%s", e.msg);
	ck_assert_int_eq(mailer_check_address(NULL, "to", &e), -1);

	/* the relay */
	{
		static const char *const ok[] = {
			"smtp://relay.region.se:587",
			"smtps://relay.region.se",
			"smtps://relay.region.se:465/lagerbild.region.se",
			"smtp://127.0.0.1:2525",
			"smtp://[::1]",
		};
		static const char *const no[] = {
			"http://relay.region.se",
			"smtp://user:hemligt@relay.region.se",
			"smtp://user@relay.region.se",
			"smtp://relay.region.se/?x=1",
			"smtp://relay.region.se/#x",
			"smtp://relay.region.se/bad_name",
			"smtp://relay region.se",
			"smtp://relay.se\r\n",
			"",
		};
		bool lb;

		for (int i = 0; i < NELEM(ok); i++) {
			e = (struct err){0};
			ck_assert_msg(mailer_check_url(ok[i], "url", &lb, &e) ==
					      0,
				      "%s: %s", ok[i], e.msg);
			ck_assert(lb == (strstr(ok[i], "127.") ||
					 strstr(ok[i], "[::1]")));
		}
		for (int i = 0; i < NELEM(no); i++) {
			e = (struct err){0};
			ck_assert_msg(mailer_check_url(no[i], "url", &lb, &e) ==
					      -1,
				      "accepted: %s", no[i]);
			ck_assert_str_eq(e.field, "url");
			ck_assert_msg(!strstr(e.msg, "hemligt"), "%s", e.msg);
		}
	}

	/* settings that go together */
	e = (struct err){0};
	ck_assert_int_eq(mailer_settings_check(NULL, NULL, NULL, NULL, &e), 0);
	ck_assert_int_eq(
		mailer_settings_check("smtp://127.0.0.1", NULL, NULL, NULL, &e),
		-1);
	ck_assert_str_eq(e.field, "LAGERBILD_SMTP_FROM");
	ck_assert_int_eq(mailer_settings_check("smtp://127.0.0.1", "no address",
					       NULL, NULL, &e),
			 -1);
	ck_assert_str_eq(e.field, "LAGERBILD_SMTP_FROM");
	ck_assert_int_eq(
		mailer_settings_check("smtp://127.0.0.1", FROM, "u", NULL, &e),
		-1);
	ck_assert_str_eq(e.field, "LAGERBILD_SMTP_PASSWORD_FILE");
	ck_assert_int_eq(
		mailer_settings_check("smtp://127.0.0.1", FROM, NULL, "/x", &e),
		-1);
	ck_assert_str_eq(e.field, "LAGERBILD_SMTP_USER");
	ck_assert_int_eq(mailer_settings_check("smtps://relay.region.se", FROM,
					       "u", "/x", &e),
			 0);
}
END_TEST

START_TEST(test_compose)
{
	static const char payload[] =
		"{\"event\": \"resolved\", \"subscription\": 7,"
		" \"sent_for\": \"lagerbild\", \"region_name\":"
		" \"Västra Götaland\", \"base_unit\": \"st\","
		" \"opened_local\": \"2025-03-01 08:15\","
		" \"resolved_local\": \"2025-03-02 09:30\","
		" \"alert\": {\"id\": 42, \"rule\": \"below_floor\","
		" \"severity\": \"warning\", \"region\": \"14\","
		" \"product\": \"123456\", \"product_name\":"
		" \"Koksaltlösning 9 mg/ml\", \"category\": \"medicine\","
		" \"title\": \"Below floor: Koksaltlösning 9 mg/ml, region 14"
		" Västra Götaland = Jönköping?\","
		" \"details\": {\"days\": 4.25, \"rate\": 12.5,"
		" \"available\": 53, \"floor_days\": 7},"
		" \"acknowledged_by\": \"anna\", \"ack_note\": \"på väg\"}}";
	char v[1024], subject[1024];
	struct err e = {0};
	char *msg = NULL, *body;
	size_t len;

	/* 2025-03-02 09:30:00 UTC was a Sunday */
	ck_assert_msg(mailer_compose(FROM, TO, payload, 1740907800, &msg, &len,
				     &e) == 0,
		      "%s", e.msg);
	ck_assert_uint_eq(strlen(msg), len);
	check_lines(msg, len, 998);
	ck_assert(header(msg, "Date", v, sizeof(v)));
	ck_assert_str_eq(v, "Sun, 02 Mar 2025 09:30:00 +0000");
	ck_assert(header(msg, "From", v, sizeof(v)));
	ck_assert_str_eq(v, "lagerbild <" FROM ">");
	ck_assert(header(msg, "To", v, sizeof(v)));
	ck_assert_str_eq(v, TO);
	ck_assert(header(msg, "Message-ID", v, sizeof(v)));
	ck_assert_str_eq(v, "<alert-42.resolved.7@beredskap.example.se>");
	ck_assert(header(msg, "In-Reply-To", v, sizeof(v)));
	ck_assert_str_eq(v, "<alert-42.opened.7@beredskap.example.se>");
	ck_assert(header(msg, "MIME-Version", v, sizeof(v)));
	ck_assert_str_eq(v, "1.0");
	ck_assert(header(msg, "Content-Type", v, sizeof(v)));
	ck_assert_str_eq(v, "text/plain; charset=utf-8");
	ck_assert(header(msg, "Content-Transfer-Encoding", v, sizeof(v)));
	ck_assert_str_eq(v, "quoted-printable");
	ck_assert(header(msg, "Auto-Submitted", v, sizeof(v)));
	/* the Subject: encoded-words, each at most 75, lines at most 78 */
	ck_assert(header(msg, "Subject", v, sizeof(v)));
	ck_assert(strncmp(v, "=?UTF-8?Q?", 10) == 0);
	{
		const char *s = strstr(msg, "Subject:");
		const char *end = strstr(s, "\r\n");

		while (end[2] == ' ')
			end = strstr(end + 2, "\r\n");
		for (const char *w = s; (w = strstr(w, "=?")) && w < end;
		     w += 2)
			ck_assert_int_le(strstr(w, "?=") + 2 - w, 75);
		for (const char *l = s; l < end;) {
			const char *eol = strstr(l, "\r\n");

			ck_assert_int_le(eol - l, 78);
			l = eol + 2;
		}
	}
	decode_words(v, subject, sizeof(subject));
	ck_assert_str_eq(subject,
			 "[lagerbild] Resolved (warning): Below floor: "
			 "Koksaltlösning 9 mg/ml, region 14 Västra Götaland = "
			 "Jönköping?");
	/* the body: every line short; what a reader sees */
	{
		const char *b = strstr(msg, "\r\n\r\n") + 4;

		check_lines(b, strlen(b), 76);
	}
	body = qp_decode(msg);
	ck_assert_msg(strstr(body, "was resolved"), "%s", body);
	ck_assert_msg(strstr(body, "Region:        14 Västra Götaland\n"), "%s",
		      body);
	ck_assert_msg(strstr(body, "Product:       Koksaltlösning 9 mg/ml "
				   "(123456, medicine)\n"),
		      "%s", body);
	ck_assert_msg(strstr(body, "Rule:          below_floor\n"), "%s", body);
	ck_assert_msg(strstr(body, "Resolved:      2025-03-02 09:30"), "%s",
		      body);
	ck_assert_msg(strstr(body, "Acknowledged:  by anna: på väg\n"), "%s",
		      body);
	ck_assert_msg(strstr(body, "days of supply:        4.25\n"), "%s",
		      body);
	ck_assert_msg(strstr(body, "consumption per day:   12.5 st/day\n"),
		      "%s", body);
	ck_assert_msg(strstr(body, "available stock:       53 st\n"), "%s",
		      body);
	ck_assert_msg(!strstr(body, "http"), "a link: %s", body);
	free(body);
	free(msg);

	/* an ASCII subject that fits stays as it is */
	ck_assert_int_eq(
		mailer_compose(FROM, TO,
			       "{\"event\":\"opened\",\"subscription\":1,"
			       "\"alert\":{\"id\":1,\"rule\":\"ledger_drift\","
			       "\"severity\":\"critical\",\"title\":"
			       "\"Ledger drift\",\"details\":{}}}",
			       0, &msg, &len, &e),
		0);
	ck_assert(header(msg, "Subject", v, sizeof(v)));
	ck_assert_str_eq(v, "[lagerbild] Opened (critical): Ledger drift");
	ck_assert(!header(msg, "In-Reply-To", v, sizeof(v)));
	body = qp_decode(msg);
	ck_assert_msg(strstr(body, "Region:        (national)\n"), "%s", body);
	free(body);
	free(msg);

	/* not a notice */
	ck_assert_int_eq(mailer_compose(FROM, TO, "{\"event\":\"opened\"}", 0,
					&msg, &len, &e),
			 -1);
	ck_assert_ptr_null(msg);
}
END_TEST

/* ---- tests: delivery ---- */

START_TEST(test_delivery_content)
{
	static const enum stage none[] = {AT_NONE};
	static const int zero[] = {0};
	struct mailer_spec s = {.to = TO, .filter.min_severity = "info"};
	char v[1024], subject[1024], data[RX_DATA_MAX + 1], *body;
	struct webhook_counts c;
	int64_t sub;

	rx_start("127.0.0.1", 1, none, zero);
	sub = subscribe(&s);
	disaster14();
	ck_assert_int_eq(sweep().opened, 1);
	/* queued with the alert, in its transaction */
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'pending'"
				       " AND event = 'opened'"
				       " AND payload->>'region_name' ="
				       " 'Västra Götaland'"),
			 1);
	c = deliver(10, 3);
	ck_assert_int_eq(c.attempted, 1);
	ck_assert_int_eq(c.delivered, 1);
	ck_assert_int_eq(rx_count(), 1);
	pthread_mutex_lock(&rx.mu);
	ck_assert_msg(strncmp(rx.c[0].mail, "<" FROM ">", strlen(FROM) + 2) ==
			      0,
		      "MAIL FROM:%s", rx.c[0].mail);
	ck_assert_str_eq(rx.c[0].rcpt, "<" TO ">");
	ck_assert(rx.c[0].ended);
	memcpy(data, rx.c[0].data, rx.c[0].len + 1);
	pthread_mutex_unlock(&rx.mu);
	unstuff(data);
	check_lines(data, strlen(data), 998);
	ck_assert(header(data, "Subject", v, sizeof(v)));
	decode_words(v, subject, sizeof(subject));
	ck_assert_msg(strncmp(subject,
			      "[lagerbild] Opened (critical): Region 14 "
			      "Västra Götaland is in disaster state "
			      "(katastroftillstånd) since ",
			      strlen("[lagerbild] Opened (critical): Region 14 "
				     "Västra Götaland is in disaster state "
				     "(katastroftillstånd) since ")) == 0,
		      "%s", subject);
	ck_assert(header(data, "Message-ID", v, sizeof(v)));
	{
		int64_t alert = testdb_scalar(owner, "SELECT id FROM alert");
		char want[128];

		snprintf(want, sizeof(want),
			 "<alert-%lld.opened.%lld@beredskap.example.se>",
			 (long long)alert, (long long)sub);
		ck_assert_str_eq(v, want);
	}
	ck_assert(header(data, "To", v, sizeof(v)));
	ck_assert_str_eq(v, TO);
	body = qp_decode(data);
	ck_assert_msg(strstr(body, "An alert opened"), "%s", body);
	ck_assert_msg(strstr(body, "Rule:          region_disaster\n"), "%s",
		      body);
	ck_assert_msg(strstr(body, "Severity:      critical\n"), "%s", body);
	ck_assert_msg(strstr(body, "Region:        14 Västra Götaland\n"), "%s",
		      body);
	ck_assert_msg(strstr(body, "state:"), "%s", body);
	ck_assert_msg(strstr(body, "disaster"), "%s", body);
	free(body);
	/* logged once, delivered once: nothing is due any more */
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'delivered'"
				       " AND response_code = 250"
				       " AND attempts = 1"
				       " AND delivered_at IS NOT NULL"),
			 1);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_attempt"
				       " WHERE n = 1 AND response_code = 250"
				       " AND error IS NULL"),
			 1);
	c = deliver(10, 3);
	ck_assert_int_eq(c.attempted, 0);
	ck_assert_int_eq(rx_count(), 1);

	/* an expiring lot in Jönköpings län: the figures, with the unit */
	expiring_lot();
	ck_assert_int_eq(sweep().opened, 1);
	c = deliver(10, 3);
	ck_assert_int_eq(c.delivered, 1);
	ck_assert_int_eq(rx_count(), 2);
	pthread_mutex_lock(&rx.mu);
	memcpy(data, rx.c[1].data, rx.c[1].len + 1);
	pthread_mutex_unlock(&rx.mu);
	unstuff(data);
	body = qp_decode(data);
	ck_assert_msg(strstr(body, "Region:        06 Jönköpings län\n"), "%s",
		      body);
	ck_assert_msg(strstr(body, "Product:       Koksaltlösning 9 mg/ml "
				   "(123456, medicine)\n"),
		      "%s", body);
	ck_assert_msg(strstr(body, "Site:          06-CL\n"), "%s", body);
	ck_assert_msg(strstr(body, "Lot:           X1\n"), "%s", body);
	ck_assert_msg(strstr(body, "quantity:              5 st\n"), "%s",
		      body);
	free(body);
}
END_TEST

START_TEST(test_retry_then_success)
{
	static const enum stage plan[] = {AT_RCPT, AT_END, AT_NONE};
	static const int codes[] = {451, 452, 0};
	struct mailer_spec s = {.to = TO, .filter.min_severity = "info"};
	struct webhook_counts c;
	int tries = 0;

	rx_start("127.0.0.1", 3, plan, codes);
	subscribe(&s);
	expiring_lot();
	sweep();
	c = deliver(200, 5);
	ck_assert_int_eq(c.attempted, 1);
	ck_assert_int_eq(c.retrying, 1);
	/* not due again before its backoff */
	c = deliver(200, 5);
	ck_assert_int_eq(c.attempted, 0);
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT count(*) FROM email_delivery"
			      " WHERE status = 'pending' AND attempts = 1"
			      " AND response_code = 451"
			      " AND next_attempt_at > last_attempt_at"),
		1);
	while (rx_count() < 3 && tries++ < 50) {
		usleep(100 * 1000);
		deliver(200, 5);
	}
	ck_assert_int_eq(rx_count(), 3);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'delivered'"
				       " AND attempts = 3 AND response_code"
				       " = 250"),
			 1);
	/* every attempt logged, in order, with the relay's word */
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_attempt"
				       " WHERE (n = 1 AND response_code = 451"
				       "  AND error LIKE '%451%')"
				       " OR (n = 2 AND response_code = 452)"
				       " OR (n = 3 AND response_code = 250"
				       "  AND error IS NULL)"),
			 3);
	/* the second wait was about twice the first */
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT count(*) FROM (SELECT at - lag(at) OVER"
			      " (ORDER BY n) AS gap, n FROM email_attempt) g"
			      " WHERE n = 3 AND gap >= interval '400 ms'"),
		1);
	/* the retry was the same message, byte for byte */
	pthread_mutex_lock(&rx.mu);
	ck_assert(rx.c[1].ended && rx.c[2].ended);
	ck_assert_str_eq(rx.c[1].data, rx.c[2].data);
	ck_assert_str_eq(rx.c[0].data, ""); /* refused before DATA */
	pthread_mutex_unlock(&rx.mu);
}
END_TEST

START_TEST(test_gives_up)
{
	static const enum stage plan[] = {AT_RCPT, AT_MAIL};
	static const int codes[] = {554, 451};
	struct mailer_spec s = {.to = TO, .filter.min_severity = "info"};
	struct webhook_counts c;

	rx_start("127.0.0.1", 2, plan, codes);
	subscribe(&s);
	expiring_lot();
	disaster14();
	ck_assert_int_eq(sweep().opened, 2);
	/* the first refused for good (554) at once; the second tried to the
	 * end (451, 451, 451) in one round, there being no backoff */
	c = deliver(0, 3);
	ck_assert_int_eq(c.attempted, 4);
	ck_assert_int_eq(c.failed, 2);
	ck_assert_int_eq(c.retrying, 2);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'failed'"
				       " AND attempts = 1 AND response_code ="
				       " 554 AND error LIKE '%for good%'"),
			 1);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'failed'"
				       " AND attempts = 3 AND response_code ="
				       " 451"),
			 1);
	ck_assert_int_eq(
		testdb_scalar(owner, "SELECT count(*) FROM email_attempt"), 4);
	c = deliver(0, 3);
	ck_assert_int_eq(c.attempted, 0);
	ck_assert_int_eq(rx_count(), 4);

	/* nobody listening: no reply code, tried again later */
	own_exec("INSERT INTO region_state_history (region_code, state,"
		 " reason, set_by) VALUES ('12', 'disaster', 'flood', 't')",
		 0, NULL);
	ck_assert_int_eq(sweep().opened, 1);
	{
		struct mailer_options o = options(60000, 3);

		o.url = "smtp://127.0.0.1:1";
		c = deliver_with(&o);
	}
	ck_assert_int_eq(c.retrying, 1);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'pending'"
				       " AND attempts = 1 AND response_code"
				       " IS NULL AND error <> ''"),
			 1);
}
END_TEST

/* One deliverer, on a connection of its own, sending one at a time. */
struct racer {
	struct db *db;
	int64_t sent;
	int rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct mailer_options o = options(60000, 3);

	o.limit = 1;
	for (;;) {
		struct webhook_counts c;
		struct err e = {0};

		if (mailer_deliver_due(r->db, &o, &c, &e) < 0) {
			r->rc = -1;
			break;
		}
		if (c.attempted == 0)
			break;
		r->sent += c.attempted;
	}
	return NULL;
}

START_TEST(test_two_deliverers)
{
	static const enum stage none[] = {AT_NONE};
	static const int zero[] = {0};
	struct mailer_spec s = {.filter.min_severity = "info"};
	struct racer r[2] = {{.db = app}, {.db = NULL}};
	pthread_t t[2];
	char to[5][32];

	rx_start("127.0.0.1", 1, none, zero);
	pthread_mutex_lock(&rx.mu);
	rx.delay_ms = 100; /* a slow relay: the two overlap */
	pthread_mutex_unlock(&rx.mu);
	for (int i = 0; i < 5; i++) {
		snprintf(to[i], sizeof(to[i]), "kontakt%d@region.se", i);
		s.to = to[i];
		subscribe(&s);
	}
	disaster14();
	sweep();
	r[1].db = testdb_connect_app("tester2");
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	db_close(r[1].db);
	ck_assert_int_eq(r[0].rc, 0);
	ck_assert_int_eq(r[1].rc, 0);
	/* each sent once: five messages, five attempts, nothing twice */
	ck_assert_int_eq(r[0].sent + r[1].sent, 5);
	ck_assert_int_eq(rx_count(), 5);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'delivered'"
				       " AND attempts = 1"),
			 5);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " email_attempt"),
			 5);
	pthread_mutex_lock(&rx.mu);
	for (int i = 0; i < 5; i++) {
		int seen = 0;
		char want[200];

		snprintf(want, sizeof(want), "<%s>", to[i]);
		for (int k = 0; k < 5; k++)
			seen += strcmp(rx.c[k].rcpt, want) == 0;
		ck_assert_msg(seen == 1, "%s: %d times", to[i], seen);
	}
	pthread_mutex_unlock(&rx.mu);
}
END_TEST

START_TEST(test_filters)
{
	static const enum stage none[] = {AT_NONE};
	static const int zero[] = {0};
	const char *r12[] = {"12"}, *r06[] = {"06"}, *ppe[] = {"ppe"},
		   *med[] = {"medicine"}, *stock[] = {"stockout"},
		   *exp[] = {"expiring_lots"};
	struct mailer_spec s = {.to = TO, .filter.min_severity = "info"};
	struct webhook_spec w = {.url = "https://hooks.example.se/x",
				 .filter.min_severity = "info"};
	char secret[WEBHOOK_SECRET_HEX], id[24], *body;
	const char *params[] = {id};
	struct webhook_counts c;
	struct err e = {0};
	int64_t match, stockout, wid;

	rx_start("127.0.0.1", 1, none, zero);
	s.filter.regions = r12;
	s.filter.nregions = 1;
	subscribe(&s); /* other region */
	s.filter.regions = r06;
	s.filter.categories = ppe;
	s.filter.ncategories = 1;
	subscribe(&s); /* other category */
	s.filter.categories = med;
	s.filter.rules = stock;
	s.filter.nrules = 1;
	stockout = subscribe(&s); /* other rule, until the stock runs out */
	s.filter.rules = exp;
	s.filter.min_severity = "critical";
	subscribe(&s); /* too severe */
	s.filter.min_severity = "info";
	match = subscribe(&s);
	/* the webhooks' filter is the same SQL: one of these two matches */
	w.filter.regions = r12;
	w.filter.nregions = 1;
	ck_assert_int_eq(db_begin(app, &e), 0);
	ck_assert_msg(webhook_subscribe(app, &w, &wid, secret, &e) == 0, "%s",
		      e.msg);
	w.filter.regions = r06;
	ck_assert_msg(webhook_subscribe(app, &w, &wid, secret, &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(db_commit(app, &e), 0);
	expiring_lot();
	ck_assert_int_eq(sweep().opened, 1);
	snprintf(id, sizeof(id), "%lld", (long long)match);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " email_delivery"),
			 1);
	ck_assert_int_eq(
		testdb_scalar_params(owner,
				     "SELECT count(*) FROM email_delivery"
				     " WHERE subscription_id = $1::bigint",
				     1, params),
		1);
	snprintf(id, sizeof(id), "%lld", (long long)wid);
	ck_assert_int_eq(
		testdb_scalar_params(owner,
				     "SELECT count(*) FROM webhook_delivery"
				     " WHERE subscription_id = $1::bigint"
				     " AND payload->'alert'->>'rule' ="
				     " 'expiring_lots'"
				     " AND (payload->>'subscription')::bigint"
				     " = $1::bigint",
				     1, params),
		1);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " webhook_delivery"),
			 1);
	c = deliver(10, 3);
	ck_assert_int_eq(c.delivered, 1);

	/* resolved: told too, threaded under the opening */
	own_exec("INSERT INTO stock_event (site_id, product_id, kind,"
		 " quantity, lot, idempotency_key, payload_hash, recorded_by,"
		 " delta, balance_after, seq) SELECT site_id, product_id,"
		 " 'expiry_writeoff', 5, 'X1', gen_random_uuid(), sha256('y'),"
		 " 't', 0, 0, 1 FROM stock_balance",
		 0, NULL);
	ck_assert_int_eq(sweep().resolved, 1);
	/* ... and the write-off leaves region 06 out of stock, which the
	 * stockout subscription is told of */
	{
		char ids[2][24];
		const char *p2[] = {ids[0], ids[1]};

		snprintf(ids[0], sizeof(ids[0]), "%lld", (long long)match);
		snprintf(ids[1], sizeof(ids[1]), "%lld", (long long)stockout);
		ck_assert_int_eq(
			testdb_scalar_params(
				owner,
				"SELECT count(*) FROM email_delivery d"
				" JOIN alert a ON a.id = d.alert_id"
				" WHERE d.status = 'pending' AND ((d.event ="
				" 'resolved' AND a.rule = 'expiring_lots'"
				" AND d.subscription_id = $1::bigint) OR"
				" (d.event = 'opened' AND a.rule = 'stockout'"
				" AND d.subscription_id = $2::bigint))",
				2, p2),
			2);
		ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
						      " email_delivery"),
				 3);
	}
	c = deliver(10, 3);
	ck_assert_int_eq(c.delivered, 2);
	ck_assert_int_eq(rx_count(), 3);
	pthread_mutex_lock(&rx.mu);
	body = strstr(rx.c[1].data, "In-Reply-To:") ? strdup(rx.c[1].data) :
						      strdup(rx.c[2].data);
	pthread_mutex_unlock(&rx.mu);
	ck_assert_msg(strstr(body, "In-Reply-To: <alert-"), "%s", body);
	{
		char v[1024], subject[1024];

		ck_assert(header(body, "Subject", v, sizeof(v)));
		decode_words(v, subject, sizeof(subject));
		ck_assert_msg(strncmp(subject,
				      "[lagerbild] Resolved (warning): "
				      "Koksaltlösning",
				      strlen("[lagerbild] Resolved (warning): "
					     "Koksaltlösning")) == 0,
			      "%s", subject);
	}
	free(body);

	/* deactivated: what is queued is given up, not sent */
	disaster14();
	own_exec("UPDATE email_subscription SET regions = NULL,"
		 " categories = NULL, rules = NULL",
		 0, NULL);
	ck_assert_int_eq(sweep().opened, 1);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'pending'"),
			 5);
	own_exec("UPDATE email_subscription SET active = false,"
		 " deactivated_at = now()",
		 0, NULL);
	c = deliver(0, 3);
	ck_assert_int_eq(c.failed, 5);
	ck_assert_int_eq(rx_count(), 3);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'failed'"
				       " AND error LIKE '%deactivated%'"),
			 5);
}
END_TEST

START_TEST(test_off_and_stale)
{
	static const enum stage none[] = {AT_NONE};
	static const int zero[] = {0};
	struct mailer_spec s = {.to = TO, .filter.min_severity = "info"};
	struct mailer_options o;
	struct webhook_counts c;

	rx_start("127.0.0.1", 1, none, zero);
	subscribe(&s);
	expiring_lot();
	sweep();
	/* no settings loaded here: the defaults are email off */
	mailer_options_default(&o);
	ck_assert_ptr_null(o.url);
	c = deliver_with(&o);
	ck_assert_int_eq(c.attempted, 0);
	ck_assert_int_eq(deliver_with(NULL).attempted, 0);
	usleep(200 * 1000);
	ck_assert_int_eq(rx_count(), 0);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'pending'"
				       " AND attempts = 0"),
			 1);
	/* on again two days later: too old to be news, given up unsent */
	own_exec("UPDATE email_delivery SET created_at = now() - interval"
		 " '2 days', next_attempt_at = now() - interval '2 days'",
		 0, NULL);
	c = deliver(0, 3);
	ck_assert_int_eq(c.failed, 1);
	ck_assert_int_eq(rx_count(), 0);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'failed'"
				       " AND error LIKE 'not sent%'"),
			 1);
	/* bad options are a configuration error, and claim nothing */
	disaster14();
	sweep();
	o = options(0, 3);
	o.from = "not an address";
	{
		struct err e = {0};

		ck_assert_int_eq(mailer_deliver_due(app, &o, &c, &e), -1);
		ck_assert_str_eq(e.field, "LAGERBILD_SMTP_FROM");
		o = options(0, 3);
		o.user = "mailer";
		o.password_file = "/nonexistent/lagerbild-smtp-password";
		ck_assert_int_eq(mailer_deliver_due(app, &o, &c, &e), -1);
		ck_assert_str_eq(e.field, "LAGERBILD_SMTP_PASSWORD_FILE");
	}
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'pending'"
				       " AND attempts = 0"
				       " AND next_attempt_at <= now()"),
			 1);
}
END_TEST

START_TEST(test_tls_required_off_loopback)
{
	static const enum stage none[] = {AT_NONE};
	static const int zero[] = {0};
	struct mailer_spec s = {.to = TO, .filter.min_severity = "info"};
	struct webhook_counts c;

	/* 127.0.0.2 is this machine too, but not one of the loopback names
	 * that may go without TLS: the relay offers no STARTTLS. */
	rx_start("127.0.0.2", 1, none, zero);
	subscribe(&s);
	expiring_lot();
	sweep();
	c = deliver(60000, 3);
	ck_assert_int_eq(c.retrying, 1);
	ck_assert_int_eq(rx_count(), 1);
	pthread_mutex_lock(&rx.mu);
	ck_assert_str_ne(rx.c[0].ehlo, "");
	ck_assert_str_eq(rx.c[0].mail, ""); /* nothing after EHLO */
	ck_assert_int_eq(rx.c[0].len, 0);
	pthread_mutex_unlock(&rx.mu);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_attempt"
				       " WHERE error LIKE '%STARTTLS%'"),
			 1);
}
END_TEST

START_TEST(test_dot_stuffing_and_auth)
{
	static const enum stage none[] = {AT_NONE};
	static const int zero[] = {0};
	static const char msg[] = "From: a@b.se\r\nTo: c@d.se\r\nSubject: x\r\n"
				  "\r\n.\r\nline\r\n.hidden\r\n..two\r\n"
				  "end.\r\n";
	char path[] = "/tmp/lagerbild-smtp-pw.XXXXXX", got[512];
	unsigned char plain[256];
	struct mailer_options o;
	size_t plain_len;
	struct err e = {0};
	long code;
	int fd;

	rx_start("127.0.0.1", 1, none, zero);
	pthread_mutex_lock(&rx.mu);
	rx.auth = true;
	pthread_mutex_unlock(&rx.mu);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "s3cret pw\n", 10), 10);
	close(fd);
	o = options(0, 3);
	o.user = "mailer";
	o.password_file = path;
	ck_assert_msg(mailer_send(&o, TO, msg, strlen(msg), &code, &e) == 0,
		      "%s", e.msg);
	unlink(path);
	ck_assert_int_eq(code, 250);
	pthread_mutex_lock(&rx.mu);
	/* libcurl stuffs every line that begins with a dot */
	ck_assert_str_eq(rx.c[0].data,
			 "From: a@b.se\r\nTo: c@d.se\r\nSubject: x\r\n\r\n"
			 "..\r\nline\r\n..hidden\r\n...two\r\nend.\r\n");
	ck_assert_uint_lt(rx.c[0].len, sizeof(got));
	memcpy(got, rx.c[0].data, rx.c[0].len + 1);
	ck_assert(sodium_base642bin(plain, sizeof(plain), rx.c[0].auth,
				    strlen(rx.c[0].auth), NULL, &plain_len,
				    NULL, sodium_base64_VARIANT_ORIGINAL) == 0);
	pthread_mutex_unlock(&rx.mu);
	unstuff(got);
	ck_assert_str_eq(got, msg);
	/* AUTH PLAIN: authzid, user, password, NUL apart */
	ck_assert_int_eq(plain_len, 1 + 6 + 1 + 9);
	ck_assert(memcmp(plain, "\0mailer\0s3cret pw", plain_len) == 0);
	/* email off: mailer_send says so */
	o.url = NULL;
	ck_assert_int_eq(mailer_send(&o, TO, msg, strlen(msg), &code, &e), -1);
	ck_assert_str_eq(e.field, "LAGERBILD_SMTP_URL");
}
END_TEST

/* ---- tests: subscribing (API, CLI) and the server ---- */

static struct httpclient_server srv;

static long call(const char *method, const char *path, const char *token,
		 const char *body, json_t **json)
{
	static const char *const hdr[] = {"Content-Type: application/json",
					  NULL};
	struct httpclient_request rq = {.method = method,
					.path = path,
					.token = token,
					.headers = hdr,
					.body = body,
					.body_len = body ? strlen(body) : 0};
	struct httpclient_response r;
	long status;

	ck_assert_msg(httpclient_do(&srv, &rq, &r) == 0, "%s %s: no answer",
		      method, path);
	status = r.status;
	ck_assert_msg(status != 500, "%s %s: 500 %s", method, path, r.body);
	if (json)
		*json = httpclient_json(&r);
	httpclient_response_free(&r);
	return status;
}

/* The error's field of a 4xx answer. */
static const char *err_field(json_t *j)
{
	return json_string_value(
		json_object_get(json_object_get(j, "error"), "field"));
}

/*
 * Run the binary with args and the extra environment env ("NAME=value",
 * NULL-terminated); its exit status, stdout into out and stderr into
 * err (each NUL-terminated, cut at size).
 */
static int cli(const char *const *args, const char *const *env, char *out,
	       char *err, size_t size)
{
	const char *bin = getenv("LAGERBILD_BIN");
	char *argv[24];
	int po[2], pe[2], status = -1, n = 0;
	size_t lo = 0, le = 0;
	bool open_o = true, open_e = true;
	pid_t pid;

	ck_assert_ptr_nonnull(bin);
	argv[n++] = (char *)bin;
	for (; args[n - 1] && n < 23; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	ck_assert_int_eq(pipe(po), 0);
	ck_assert_int_eq(pipe(pe), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("DATABASE_URL", dburl, 1);
		unsetenv("LAGERBILD_LOG_LEVEL");
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execv(bin, argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	while (open_o || open_e) {
		struct pollfd p[2] = {
			{.fd = open_o ? po[0] : -1, .events = POLLIN},
			{.fd = open_e ? pe[0] : -1, .events = POLLIN}};

		if (poll(p, 2, 30000) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			char *buf = i == 0 ? out : err;
			size_t *len = i == 0 ? &lo : &le;
			char sink[512];
			ssize_t k;

			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			if (*len < size - 1)
				k = read(p[i].fd, buf + *len, size - 1 - *len);
			else
				k = read(p[i].fd, sink, sizeof(sink));
			if (k <= 0) {
				if (i == 0)
					open_o = false;
				else
					open_e = false;
			} else if (*len < size - 1) {
				*len += (size_t)k;
			}
		}
	}
	out[lo] = '\0';
	err[le] = '\0';
	close(po[0]);
	close(pe[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_subscribe_api)
{
	static const struct {
		const char *body, *field;
	} bad[] = {
		{"{\"to\": \"a@b.se\\r\\nBcc: evil@x.se\"}", "to"},
		{"{\"to\": \"a@b.se\\nSubject: hi\"}", "to"},
		{"{\"to\": \"Anna <a@b.se>\"}", "to"},
		{"{\"to\": \"åsa@region.se\"}", "to"},
		{"{\"to\": \"a@localhost\"}", "to"},
		{"{\"to\": 42}", "to"},
		{"{}", "to"},
		{"{\"to\": \"a@b.se\", \"regions\": [\"02\"]}", "regions"},
		{"{\"to\": \"a@b.se\", \"categories\": [\"toys\"]}",
		 "categories"},
		{"{\"to\": \"a@b.se\", \"rules\": [\"meteor\"]}", "rules"},
		{"{\"to\": \"a@b.se\", \"min_severity\": \"panic\"}",
		 "min_severity"},
		{"{\"to\": \"a@b.se\", \"url\": \"https://x.se\"}", "url"},
	};
	char *coord, *viewer, *admin, path[64];
	json_t *j = NULL;
	int64_t id;

	coord = testdb_token("coord", ROLE_COORDINATOR, NULL);
	viewer = testdb_token("viewer", ROLE_VIEWER, NULL);
	admin = testdb_token("admin", ROLE_ADMIN, NULL);
	httpclient_start(&srv, dburl, NULL);
	for (int i = 0; i < NELEM(bad); i++) {
		ck_assert_int_eq(call("POST", "/api/v1/email-subscriptions",
				      coord, bad[i].body, &j),
				 400);
		ck_assert_msg(err_field(j) &&
				      strcmp(err_field(j), bad[i].field) == 0,
			      "%s: field %s", bad[i].body,
			      err_field(j) ? err_field(j) : "(none)");
		json_decref(j);
	}
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " email_subscription"),
			 0);
	ck_assert_int_eq(call("POST", "/api/v1/email-subscriptions", viewer,
			      "{\"to\": \"a@b.se\"}", NULL),
			 403);
	ck_assert_int_eq(call("POST", "/api/v1/email-subscriptions", coord,
			      "{\"to\": \"kontakt@rjl.se\", \"regions\":"
			      " [\"06\"], \"rules\": [\"expiring_lots\","
			      " \"stockout\"], \"min_severity\": \"info\","
			      " \"description\": \"Jönköping beredskap\"}",
			      &j),
			 201);
	ck_assert_str_eq(json_string_value(json_object_get(j, "to")),
			 "kontakt@rjl.se");
	ck_assert_int_eq(json_array_size(json_object_get(j, "rules")), 2);
	/* this server has no relay: the answer says so */
	ck_assert_msg(
		json_string_value(json_object_get(j, "note")) &&
			strstr(json_string_value(json_object_get(j, "note")),
			       "LAGERBILD_SMTP_URL"),
		"no note");
	id = json_integer_value(json_object_get(j, "id"));
	json_decref(j);
	ck_assert_int_eq(
		call("GET", "/api/v1/email-subscriptions", admin, NULL, &j),
		200);
	ck_assert_int_eq(
		json_array_size(json_object_get(j, "email_subscriptions")), 1);
	json_decref(j);
	ck_assert_int_eq(
		call("GET", "/api/v1/email-subscriptions", viewer, NULL, NULL),
		403);
	snprintf(path, sizeof(path), "/api/v1/email-subscriptions/%lld",
		 (long long)id);
	ck_assert_int_eq(call("DELETE", path, viewer, NULL, NULL), 403);
	ck_assert_int_eq(call("DELETE", path, coord, NULL, NULL), 204);
	ck_assert_int_eq(call("DELETE", "/api/v1/email-subscriptions/999999",
			      coord, NULL, NULL),
			 404);
	ck_assert_int_eq(call("DELETE", "/api/v1/email-subscriptions/x1", coord,
			      NULL, NULL),
			 400);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " email_subscription WHERE NOT"
					      " active"),
			 1);
	/* and the table's own check is the second line */
	{
		struct err e = {0};

		ck_assert_int_eq(
			db_command(owner,
				   "INSERT INTO email_subscription (address)"
				   " VALUES (E'a@b.se\\r\\nBcc: x@y.se')",
				   0, NULL, &e),
			-1);
	}
	httpclient_cleanup(&srv);
}
END_TEST

START_TEST(test_subscribe_cli)
{
	static const char *const bad[][4] = {
		{"a@b.se\r\nBcc: evil@x.se", NULL},
		{"a@b.se\nX: y", NULL},
		{"Anna <a@b.se>", NULL},
		{"a@b.se", "--region", "02"},
	};
	static char out[8192], err[8192];
	int rc;

	for (int i = 0; i < NELEM(bad); i++) {
		const char *args[] = {"alerts",	 "email",   "add",     "--to",
				      bad[i][0], bad[i][1], bad[i][2], NULL};

		rc = cli(args, NULL, out, err, sizeof(out));
		ck_assert_msg(rc == 2, "%s: exit %d: %s", bad[i][0], rc, err);
		ck_assert_msg(strstr(err, bad[i][1] ? "regions" : "--to"), "%s",
			      err);
	}
	{
		const char *args[] = {"alerts", "email", "add", NULL};

		ck_assert_int_eq(cli(args, NULL, out, err, sizeof(out)), 2);
		ck_assert_msg(strstr(err, "--to"), "%s", err);
	}
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " email_subscription"),
			 0);
	{
		const char *args[] = {"alerts",
				      "email",
				      "add",
				      "--to",
				      "kontakt@rjl.se",
				      "--region",
				      "06",
				      "--rule",
				      "stockout",
				      "--min-severity",
				      "critical",
				      NULL};

		rc = cli(args, NULL, out, err, sizeof(out));
		ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
		ck_assert_msg(strstr(out, "email subscription 1: "
					  "kontakt@rjl.se"),
			      "%s", out);
		ck_assert_msg(strstr(err, "email is off"), "%s", err);
	}
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_subscription"
				       " WHERE regions = '{06}'"
				       " AND rules = '{stockout}'"
				       " AND min_severity = 'critical'"),
			 1);
	{
		const char *args[] = {"alerts", "email", "list", NULL};

		ck_assert_int_eq(cli(args, NULL, out, err, sizeof(out)), 0);
		ck_assert_msg(strstr(out, "kontakt@rjl.se"), "%s", out);
		/* its filters: every category ("*"), the rest as given */
		ck_assert_msg(strstr(out, "06") && strstr(out, "stockout") &&
				      strstr(out, "critical") &&
				      strstr(out, "*"),
			      "%s", out);
	}
	{
		const char *args[] = {"alerts", "email", "remove", "1", NULL};

		ck_assert_int_eq(cli(args, NULL, out, err, sizeof(out)), 0);
		ck_assert_msg(strstr(out, "deactivated"), "%s", out);
	}
	{
		const char *args[] = {"alerts", "email", "remove", "77", NULL};

		ck_assert_int_eq(cli(args, NULL, out, err, sizeof(out)), 1);
	}
	/* settings that do not go together stop every command */
	{
		const char *args[] = {"config", NULL};
		const char *env[] = {"LAGERBILD_SMTP_URL=smtp://127.0.0.1:25",
				     NULL};
		const char *env2[] = {"LAGERBILD_SMTP_URL=smtp://u:pw@relay.se",
				      NULL};

		ck_assert_int_eq(cli(args, env, out, err, sizeof(out)), 2);
		ck_assert_msg(strstr(err, "LAGERBILD_SMTP_FROM"), "%s", err);
		ck_assert_int_eq(cli(args, env2, out, err, sizeof(out)), 2);
		ck_assert_msg(!strstr(err, "pw@"), "%s", err);
	}
}
END_TEST

/* The server's alert thread mails what it opens, through the relay of its
 * settings. */
START_TEST(test_server_mails)
{
	static const enum stage none[] = {AT_NONE};
	static const int zero[] = {0};
	char url_env[128];
	const char *env[] = {url_env, "LAGERBILD_SMTP_FROM=" FROM,
			     "LAGERBILD_ALERT_INTERVAL=1", NULL};
	char *coord;
	json_t *j = NULL;
	int waited = 0;

	rx_start("127.0.0.1", 1, none, zero);
	snprintf(url_env, sizeof(url_env), "LAGERBILD_SMTP_URL=%s", rx.url);
	coord = testdb_token("coord", ROLE_COORDINATOR, NULL);
	httpclient_start(&srv, dburl, env);
	ck_assert_int_eq(call("POST", "/api/v1/email-subscriptions", coord,
			      "{\"to\": \"" TO "\", \"regions\": [\"14\"]}",
			      &j),
			 201);
	ck_assert_ptr_null(json_object_get(j, "note"));
	json_decref(j);
	disaster14();
	while (rx_count() == 0 && waited++ < 200)
		usleep(100 * 1000);
	ck_assert_int_eq(rx_count(), 1);
	/* the thread records the outcome right after the relay's 250 */
	for (waited = 0; waited < 50 &&
			 testdb_scalar(owner, "SELECT count(*) FROM"
					      " email_delivery WHERE status ="
					      " 'delivered'") == 0;
	     waited++)
		usleep(100 * 1000);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM email_delivery"
				       " WHERE status = 'delivered'"),
			 1);
	pthread_mutex_lock(&rx.mu);
	ck_assert_str_eq(rx.c[0].rcpt, "<" TO ">");
	ck_assert_msg(strstr(rx.c[0].data, "Message-ID: <alert-"), "%s",
		      rx.c[0].data);
	pthread_mutex_unlock(&rx.mu);
	httpclient_cleanup(&srv);
}
END_TEST

Suite *email_suite(void)
{
	Suite *s = suite_create("email");
	TCase *pure = tcase_create("message");
	TCase *tc = tcase_create("email");

	tcase_add_test(pure, test_address_and_url_rules);
	tcase_add_test(pure, test_compose);
	suite_add_tcase(s, pure);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_delivery_content);
	tcase_add_test(tc, test_retry_then_success);
	tcase_add_test(tc, test_gives_up);
	tcase_add_test(tc, test_two_deliverers);
	tcase_add_test(tc, test_filters);
	tcase_add_test(tc, test_off_and_stale);
	tcase_add_test(tc, test_tls_required_off_loopback);
	tcase_add_test(tc, test_dot_stuffing_and_auth);
	tcase_add_test(tc, test_subscribe_api);
	tcase_add_test(tc, test_subscribe_cli);
	tcase_add_test(tc, test_server_mails);
	suite_add_tcase(s, tc);
	return s;
}
