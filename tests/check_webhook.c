/*
 * check_webhook.c -- webhook delivery against a local receiver: the
 * signature a receiver can check, retries with backoff after failures, the
 * delivery log, subscription filters and the secret kept secret.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "alerts.h"
#include "suites.h"
#include "testdb.h"
#include "webhook.h"

#define MAX_SEEN 16
#define BODY_MAX 65536

/* ---- the receiver ---- */

static struct {
	struct MHD_Daemon *d;
	pthread_mutex_t mu;
	int port;
	char url[64];
	int statuses[MAX_SEEN]; /* to answer, the last repeating */
	int nstatuses;
	int n; /* requests seen */
	char sig[MAX_SEEN][128], ts[MAX_SEEN][32], delivery[MAX_SEEN][32];
	char *body[MAX_SEEN];
	size_t len[MAX_SEEN];
} rx;

static void copy_header(struct MHD_Connection *c, const char *name, char *out,
			size_t size)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

	snprintf(out, size, "%s", v ? v : "");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
			      const char *path, const char *method,
			      const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	static int started;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int i, status;

	(void)cls;
	(void)path;
	(void)method;
	(void)version;
	pthread_mutex_lock(&rx.mu);
	if (!*state) {
		*state = &started;
		i = rx.n < MAX_SEEN ? rx.n : MAX_SEEN - 1;
		copy_header(c, "X-Lagerbild-Signature", rx.sig[i],
			    sizeof(rx.sig[i]));
		copy_header(c, "X-Lagerbild-Timestamp", rx.ts[i],
			    sizeof(rx.ts[i]));
		copy_header(c, "X-Lagerbild-Delivery", rx.delivery[i],
			    sizeof(rx.delivery[i]));
		free(rx.body[i]);
		rx.body[i] = calloc(1, BODY_MAX + 1);
		rx.len[i] = 0;
		rx.n++;
		pthread_mutex_unlock(&rx.mu);
		return MHD_YES;
	}
	i = (rx.n < MAX_SEEN ? rx.n : MAX_SEEN) - 1;
	if (*upload_size) {
		size_t k = *upload_size;

		if (rx.len[i] + k <= BODY_MAX) {
			memcpy(rx.body[i] + rx.len[i], upload, k);
			rx.len[i] += k;
		}
		*upload_size = 0;
		pthread_mutex_unlock(&rx.mu);
		return MHD_YES;
	}
	status = rx.statuses[i < rx.nstatuses ? i : rx.nstatuses - 1];
	pthread_mutex_unlock(&rx.mu);
	resp = MHD_create_response_from_buffer(2, (void *)"ok",
					       MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void rx_start(int n, const int *statuses)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	const union MHD_DaemonInfo *info;

	memset(&rx, 0, sizeof(rx));
	pthread_mutex_init(&rx.mu, NULL);
	memcpy(rx.statuses, statuses, (size_t)n * sizeof(int));
	rx.nstatuses = n;
	rx.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
					MHD_USE_THREAD_PER_CONNECTION,
				0, NULL, NULL, handle, NULL,
				MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	ck_assert_msg(rx.d != NULL, "cannot start the receiver");
	info = MHD_get_daemon_info(rx.d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert(info != NULL && info->port != 0);
	rx.port = info->port;
	snprintf(rx.url, sizeof(rx.url), "http://127.0.0.1:%d/hook", rx.port);
}

static void rx_stop(void)
{
	if (rx.d)
		MHD_stop_daemon(rx.d);
	for (int i = 0; i < MAX_SEEN; i++)
		free(rx.body[i]);
	pthread_mutex_destroy(&rx.mu);
	memset(&rx, 0, sizeof(rx));
}

/* ---- the database ---- */

static struct db *owner, *app;
static int64_t site01, prod;

static void own_exec(const char *sql, int n, const char *const *params)
{
	struct err e = {0};

	ck_assert_msg(db_command(owner, sql, n, params, &e) == 0, "%s: %s", sql,
		      e.msg);
}

static void setup(void)
{
	struct err e = {0};

	testdb_create();
	owner = testdb_connect();
	ck_assert_msg(db_act_as_system(owner, "setup", &e) == 0, "%s", e.msg);
	site01 = testdb_site(owner, "01", "01-CL");
	prod = testdb_product(owner, "123456", "Alvedon 500 mg");
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

/* Subscribe url; the secret into secret. */
static int64_t subscribe(const struct webhook_spec *s,
			 char secret[WEBHOOK_SECRET_HEX])
{
	struct err e = {0};
	int64_t id;

	ck_assert_msg(db_begin(app, &e) == 0, "%s", e.msg);
	ck_assert_msg(webhook_subscribe(app, s, &id, secret, &e) == 0, "%s",
		      e.msg);
	ck_assert_msg(db_commit(app, &e) == 0, "%s", e.msg);
	return id;
}

/* An alert that opens: region 01 holds an expired lot of prod. */
static void open_alert(void)
{
	struct alerts_options o;
	struct alerts_counts c;
	struct err e = {0};
	char s[24], p[24];
	const char *params[] = {s, p};

	snprintf(s, sizeof(s), "%lld", (long long)site01);
	snprintf(p, sizeof(p), "%lld", (long long)prod);
	own_exec("INSERT INTO stock_event (site_id, product_id, kind,"
		 " quantity, lot, expiry, idempotency_key, payload_hash,"
		 " recorded_by, delta, balance_after, seq)"
		 " VALUES ($1::bigint, $2::bigint, 'receipt', 5, 'X1',"
		 " current_date + 3, gen_random_uuid(), sha256('x'), 't', 0, 0,"
		 " 1)",
		 2, params);
	alerts_options_default(&o);
	o.verify = false;
	o.deliver = false;
	ck_assert_msg(alerts_run(app, &o, &c, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(c.opened, 1);
}

static struct webhook_counts deliver(long backoff_ms)
{
	struct webhook_options o;
	struct webhook_counts c;
	struct err e = {0};

	webhook_options_default(&o);
	o.backoff_ms = backoff_ms;
	o.max_attempts = 3;
	o.timeout_s = 5;
	ck_assert_msg(webhook_deliver_due(app, &o, &c, &e) == 0, "%s", e.msg);
	return c;
}

/* ---- tests ---- */

START_TEST(test_signed_delivery)
{
	static const int ok[] = {200};
	struct webhook_spec s = {0};
	char secret[WEBHOOK_SECRET_HEX], want[WEBHOOK_SIGNATURE_MAX];
	struct webhook_counts c;
	json_t *body;

	rx_start(1, ok);
	s.url = rx.url;
	s.filter.min_severity = "info";
	subscribe(&s, secret);
	ck_assert_int_eq(strlen(secret), 64);
	open_alert();
	c = deliver(10);
	ck_assert_int_eq(c.delivered, 1);
	ck_assert_int_eq(rx.n, 1);
	/* the receiver's check: HMAC of "<timestamp>.<body>" */
	webhook_sign(secret, rx.ts[0], rx.body[0], rx.len[0], want);
	ck_assert_str_eq(rx.sig[0], want);
	ck_assert(strncmp(rx.sig[0], "sha256=", 7) == 0);
	ck_assert_int_gt(strtol(rx.ts[0], NULL, 10), 1700000000);
	/* a tampered body does not verify */
	rx.body[0][rx.len[0] - 2] ^= 1;
	webhook_sign(secret, rx.ts[0], rx.body[0], rx.len[0], want);
	ck_assert_str_ne(rx.sig[0], want);
	rx.body[0][rx.len[0] - 2] ^= 1;
	body = json_loadb(rx.body[0], rx.len[0], 0, NULL);
	ck_assert_ptr_nonnull(body);
	ck_assert_str_eq(json_string_value(json_object_get(body, "event")),
			 "opened");
	ck_assert_str_eq(json_string_value(json_object_get(
				 json_object_get(body, "alert"), "rule")),
			 "expiring_lots");
	json_decref(body);
	/* delivered once: nothing due any more */
	c = deliver(10);
	ck_assert_int_eq(c.attempted, 0);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM webhook_delivery"
				       " WHERE status = 'delivered'"
				       " AND response_code = 200"
				       " AND delivered_at IS NOT NULL"),
			 1);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " webhook_attempt"),
			 1);
	/* the key is not readable by the application except as system */
	{
		struct err e = {0};

		ck_assert_int_eq(db_command(app, "SELECT * FROM webhook_key", 0,
					    NULL, &e),
				 -1);
		ck_assert_int_eq(
			testdb_scalar(owner, "SELECT count(*) FROM audit_log"
					     " WHERE new_row::text LIKE '%key%'"
					     " AND table_name = "
					     "'webhook_subscription'"),
			0);
	}
}
END_TEST

START_TEST(test_retry_with_backoff_then_success)
{
	static const int statuses[] = {500, 503, 200};
	struct webhook_spec s = {0};
	char secret[WEBHOOK_SECRET_HEX];
	struct webhook_counts c;
	int tries = 0;

	rx_start(3, statuses);
	s.url = rx.url;
	s.filter.min_severity = "info";
	subscribe(&s, secret);
	open_alert();
	c = deliver(200);
	ck_assert_int_eq(c.attempted, 1);
	ck_assert_int_eq(c.retrying, 1);
	/* not due again before its backoff */
	c = deliver(200);
	ck_assert_int_eq(c.attempted, 0);
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT count(*) FROM webhook_delivery"
			      " WHERE status = 'pending' AND attempts = 1"
			      " AND response_code = 500"
			      " AND next_attempt_at > last_attempt_at"),
		1);
	while (rx.n < 3 && tries++ < 50) {
		usleep(100 * 1000);
		deliver(200);
	}
	ck_assert_int_eq(rx.n, 3);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM webhook_delivery"
				       " WHERE status = 'delivered'"
				       " AND attempts = 3"),
			 1);
	/* every attempt logged, in order, with what happened */
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM webhook_attempt"
				       " WHERE (n = 1 AND response_code = 500"
				       "  AND error LIKE 'HTTP 500%')"
				       " OR (n = 2 AND response_code = 503)"
				       " OR (n = 3 AND response_code = 200"
				       "  AND error IS NULL)"),
			 3);
	/* the second wait was about twice the first */
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT count(*) FROM (SELECT at - lag(at) OVER"
			      " (ORDER BY n) AS gap, n FROM webhook_attempt) g"
			      " WHERE n = 3 AND gap >= interval '400 ms'"),
		1);
}
END_TEST

START_TEST(test_gives_up_and_unreachable)
{
	static const int statuses[] = {500};
	struct webhook_spec s = {0};
	char secret[WEBHOOK_SECRET_HEX];
	struct webhook_counts c;

	rx_start(1, statuses);
	s.url = "http://127.0.0.1:1/nothing-listens";
	s.filter.min_severity = "info";
	subscribe(&s, secret);
	open_alert();
	/* without backoff, one round tries it to the end */
	c = deliver(0);
	ck_assert_int_eq(c.attempted, 3);
	ck_assert_int_eq(c.retrying, 2);
	ck_assert_int_eq(c.failed, 1);
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT count(*) FROM webhook_delivery"
			      " WHERE status = 'failed' AND attempts = 3"
			      " AND response_code IS NULL AND error <> ''"),
		1);
	c = deliver(0);
	ck_assert_int_eq(c.attempted, 0);
}
END_TEST

START_TEST(test_filters_and_resolution)
{
	static const int ok[] = {200};
	const char *r12[] = {"12"}, *r01[] = {"01"};
	const char *ppe[] = {"ppe"}, *stock[] = {"stockout"};
	struct webhook_spec s = {0};
	char secret[WEBHOOK_SECRET_HEX];
	struct alerts_options o;
	struct alerts_counts ac;
	struct err e = {0};
	int64_t match;

	rx_start(1, ok);
	s.url = rx.url;
	s.filter.min_severity = "info";
	s.filter.regions = r12;
	s.filter.nregions = 1;
	subscribe(&s, secret); /* other region */
	s.filter.regions = r01;
	s.filter.categories = ppe;
	s.filter.ncategories = 1;
	subscribe(&s, secret); /* other category */
	s.filter.categories = NULL;
	s.filter.ncategories = 0;
	s.filter.rules = stock;
	s.filter.nrules = 1;
	subscribe(&s, secret); /* other rule */
	s.filter.rules = NULL;
	s.filter.nrules = 0;
	s.filter.min_severity = "critical";
	subscribe(&s, secret); /* too severe */
	s.filter.min_severity = "warning";
	match = subscribe(&s, secret);
	open_alert();
	ck_assert_int_eq(testdb_scalar(owner, "SELECT count(*) FROM"
					      " webhook_delivery"),
			 1);
	{
		char id[24];
		const char *params[] = {id};

		snprintf(id, sizeof(id), "%lld", (long long)match);
		ck_assert_int_eq(testdb_scalar_params(
					 owner,
					 "SELECT count(*) FROM webhook_delivery"
					 " WHERE subscription_id = $1::bigint",
					 1, params),
				 1);
	}
	/* resolved: notified too */
	own_exec("INSERT INTO stock_event (site_id, product_id, kind,"
		 " quantity, lot, idempotency_key, payload_hash, recorded_by,"
		 " delta, balance_after, seq) SELECT site_id, product_id,"
		 " 'expiry_writeoff', 5, 'X1', gen_random_uuid(), sha256('y'),"
		 " 't', 0, 0, 1 FROM stock_balance",
		 0, NULL);
	alerts_options_default(&o);
	o.verify = false;
	o.deliver = false;
	ck_assert_msg(alerts_run(app, &o, &ac, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(ac.resolved, 1);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM webhook_delivery"
				       " WHERE event = 'resolved'"
				       " AND payload->'alert'->>'status' ="
				       " 'resolved'"),
			 1);
	/* deactivated: what is queued is given up, not sent */
	own_exec("UPDATE webhook_subscription SET active = false,"
		 " deactivated_at = now()",
		 0, NULL);
	deliver(0);
	ck_assert_int_eq(rx.n, 0);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM webhook_delivery"
				       " WHERE status <> 'failed'"
				       " OR error NOT LIKE '%deactivated%'"),
			 0);
}
END_TEST

START_TEST(test_spec_rejections)
{
	const char *bad_region[] = {"02"}, *bad_cat[] = {"toys"},
		   *bad_rule[] = {"meteor"};
	struct {
		struct webhook_spec s;
		const char *field;
	} cases[] = {
		{{.url = "http://example.org/hook"}, "url"},
		{{.url = "ftp://127.0.0.1/x"}, "url"},
		{{.url = "not a url"}, "url"},
		{{.url = ""}, "url"},
		{{.url = "https://h/x",
		  .filter.regions = bad_region,
		  .filter.nregions = 1},
		 "regions"},
		{{.url = "https://h/x",
		  .filter.categories = bad_cat,
		  .filter.ncategories = 1},
		 "categories"},
		{{.url = "https://h/x",
		  .filter.rules = bad_rule,
		  .filter.nrules = 1},
		 "rules"},
		{{.url = "https://h/x", .filter.min_severity = "panic"},
		 "min_severity"},
		{{.url = "https://h/x", .filter.description = ""},
		 "description"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e = {0};

		ck_assert_msg(webhook_spec_check(&cases[i].s, &e) == -1,
			      "case %zu accepted", i);
		ck_assert_int_eq(e.code, ERR_INVALID);
		ck_assert_str_eq(e.field, cases[i].field);
	}
	{
		struct webhook_spec ok = {.url = "https://hooks.example.se/x"};
		struct err e = {0};

		ck_assert_msg(webhook_spec_check(&ok, &e) == 0, "%s", e.msg);
	}
}
END_TEST

Suite *webhook_suite(void)
{
	Suite *s = suite_create("webhook");
	TCase *tc = tcase_create("webhook");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_signed_delivery);
	tcase_add_test(tc, test_retry_with_backoff_then_success);
	tcase_add_test(tc, test_gives_up_and_unreachable);
	tcase_add_test(tc, test_filters_and_resolution);
	tcase_add_test(tc, test_spec_rejections);
	suite_add_tcase(s, tc);
	return s;
}
