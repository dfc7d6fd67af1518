/*
 * check_auth.c -- tokens, passwords, users, and row-level security proved
 * without any handler in the way: each test sets an identity on the
 * application role's connection (auth_begin) and tries what that caller
 * must and must not be able to do.
 */
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "auth.h"
#include "ledger.h"
#include "suites.h"
#include "testdb.h"

static struct db *owner;
static struct db *app; /* SET ROLE only: no identity of its own */
static int64_t site01, site12, prod;

static struct identity who(enum role role, const char *region)
{
	struct identity id;

	memset(&id, 0, sizeof(id));
	id.role = role;
	id.user_id = 7;
	id.token_id = 9;
	snprintf(id.username, sizeof(id.username), "%s-%s",
		 auth_role_name(role), region ? region : "national");
	snprintf(id.region, sizeof(id.region), "%s", region ? region : "");
	snprintf(id.remote, sizeof(id.remote), "192.0.2.10");
	snprintf(id.request_id, sizeof(id.request_id),
		 "9a1e0f2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b");
	return id;
}

static void setup(void)
{
	struct ledger_event ev = {
		.kind = LEDGER_RECEIPT, .quantity = 50, .actor = "setup"};
	struct ledger_result r;
	struct err e = {0};
	const char *conninfo = testdb_create();

	owner = testdb_connect();
	site01 = testdb_site(owner, "01", "01-CL");
	site12 = testdb_site(owner, "12", "12-CL");
	prod = testdb_product(owner, "123456", "Propofol 10 mg/ml 20 ml x 5");
	ev.product_id = prod;
	ev.site_id = site01;
	ck_assert_msg(ledger_record(owner, &ev, &r, &e) == 0, "%s", e.msg);
	ev.site_id = site12;
	ck_assert_msg(ledger_record(owner, &ev, &r, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(db_connect(&app, conninfo, &e), 0);
	ck_assert_msg(db_set_app_role(app, &e) == 0, "%s", e.msg);
}

static void teardown(void)
{
	db_close(app);
	db_close(owner);
	app = owner = NULL;
	testdb_drop();
}

/* Record one receipt as id, in a transaction of its own. */
static int record_as(const struct identity *id, int64_t site, struct err *e)
{
	struct ledger_event ev = {.kind = LEDGER_RECEIPT,
				  .site_id = site,
				  .product_id = prod,
				  .quantity = 5,
				  .actor = "ignored"};
	struct ledger_result r;

	if (auth_begin(app, id, e) < 0)
		return -1;
	if (ledger_record(app, &ev, &r, e) < 0) {
		db_rollback(app);
		return -1;
	}
	return db_commit(app, e);
}

/* count(*) of sql as id. */
static int64_t count_as(const struct identity *id, const char *sql)
{
	struct err e = {0};
	int64_t n;

	ck_assert_msg(auth_begin(app, id, &e) == 0, "%s", e.msg);
	n = testdb_scalar(app, sql);
	db_rollback(app);
	return n;
}

static int64_t events(void)
{
	return testdb_scalar(owner, "SELECT count(*) FROM stock_event");
}

START_TEST(test_contact_writes_only_own_region)
{
	struct identity anna = who(ROLE_REGION_CONTACT, "01");
	struct err e = {0};
	int64_t before = events();

	ck_assert_msg(record_as(&anna, site01, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(events(), before + 1);
	/* The handler would refuse this; here nothing but RLS stands in the
	 * way, and it must. */
	ck_assert_int_eq(record_as(&anna, site12, &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_msg(strstr(e.msg, "row-level security"), "%s", e.msg);
	ck_assert_int_eq(events(), before + 1);
	ck_assert_int_eq(testdb_scalar(owner, "SELECT quantity FROM"
					      " region_product_stock"
					      " WHERE region_code = '12'"),
			 50);
}
END_TEST

START_TEST(test_importer_scoped_like_contact)
{
	struct identity job12 = who(ROLE_IMPORTER, "12");
	struct identity national = who(ROLE_IMPORTER, NULL);
	struct err e = {0};

	ck_assert_msg(record_as(&job12, site12, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(record_as(&job12, site01, &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	/* A national feed's job has no region's stock to write. */
	ck_assert_int_eq(record_as(&national, site01, &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
}
END_TEST

START_TEST(test_national_roles_never_write_stock)
{
	static const enum role roles[] = {ROLE_COORDINATOR, ROLE_VIEWER,
					  ROLE_ADMIN};
	struct err e = {0};
	int64_t before = events();

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct identity id = who(roles[i], NULL);

		ck_assert_int_eq(record_as(&id, site01, &e), -1);
		ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	}
	ck_assert_int_eq(events(), before);
}
END_TEST

START_TEST(test_contact_reads_own_detail_and_national_totals)
{
	struct identity anna = who(ROLE_REGION_CONTACT, "01");
	struct identity sam = who(ROLE_COORDINATOR, NULL);
	struct identity vera = who(ROLE_VIEWER, NULL);

	/* Site-level balances, lots and ledger: own region only. */
	ck_assert_int_eq(count_as(&anna, "SELECT count(*) FROM stock_balance"),
			 1);
	ck_assert_int_eq(count_as(&anna, "SELECT count(*) FROM stock_balance"
					 " WHERE region_code = '12'"),
			 0);
	ck_assert_int_eq(count_as(&anna, "SELECT count(*) FROM stock_event"),
			 1);
	/* The shared national picture: every region's totals. */
	ck_assert_int_eq(count_as(&anna, "SELECT count(*) FROM"
					 " region_product_stock"),
			 2);
	ck_assert_int_eq(count_as(&anna, "SELECT sum(quantity) FROM"
					 " region_product_stock"),
			 100);
	/* National roles see all detail. */
	ck_assert_int_eq(count_as(&sam, "SELECT count(*) FROM stock_balance"),
			 2);
	ck_assert_int_eq(count_as(&vera, "SELECT count(*) FROM stock_event"),
			 2);
	/* Coordinators' national totals equal the sum of the regions'. */
	ck_assert_int_eq(
		count_as(&sam, "SELECT sum(quantity) FROM"
			       "  region_product_stock"),
		count_as(&sam, "SELECT sum(quantity) FROM stock_balance"));
}
END_TEST

START_TEST(test_no_identity_sees_and_writes_nothing)
{
	struct ledger_event ev = {.kind = LEDGER_RECEIPT,
				  .site_id = site01,
				  .product_id = prod,
				  .quantity = 1,
				  .actor = "nobody"};
	struct ledger_result r;
	struct err e = {0};

	ck_assert_int_eq(testdb_scalar(app, "SELECT count(*) FROM site"), 0);
	ck_assert_int_eq(
		testdb_scalar(app, "SELECT count(*) FROM stock_balance"), 0);
	ck_assert_int_eq(testdb_scalar(app, "SELECT count(*) FROM"
					    " region_product_stock"),
			 0);
	ck_assert_int_eq(ledger_record(app, &ev, &r, &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_int_eq(events(), 2);
}
END_TEST

static int insert_site_as(const struct identity *id, const char *region,
			  const char *code, struct err *e)
{
	const char *params[] = {region, code};

	if (auth_begin(app, id, e) < 0)
		return -1;
	if (db_command(app,
		       "INSERT INTO site (region_code, code, name, kind,"
		       " host_region_code) VALUES ($1, $2, 'Nytt lager',"
		       " 'buffer', $1)",
		       2, params, e) < 0) {
		db_rollback(app);
		return -1;
	}
	return db_commit(app, e);
}

START_TEST(test_sites_and_products_by_role)
{
	struct identity anna = who(ROLE_REGION_CONTACT, "01");
	struct identity sam = who(ROLE_COORDINATOR, NULL);
	struct identity vera = who(ROLE_VIEWER, NULL);
	struct err e = {0};

	ck_assert_msg(insert_site_as(&anna, "01", "01-BUF", &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(insert_site_as(&anna, "12", "12-BUF", &e), -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	ck_assert_msg(insert_site_as(&sam, "12", "12-BUF", &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(insert_site_as(&vera, "12", "12-BUF2", &e), -1);
	/* Products: coordinators manage them, contact persons do not. */
	ck_assert_int_eq(auth_begin(app, &anna, &e), 0);
	ck_assert_int_eq(db_command(app,
				    "INSERT INTO product (category, name, vnr)"
				    " VALUES ('medicine', 'X', '000001')",
				    0, NULL, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_FORBIDDEN);
	db_rollback(app);
	ck_assert_int_eq(auth_begin(app, &sam, &e), 0);
	ck_assert_int_eq(db_command(app,
				    "INSERT INTO product (category, name, vnr)"
				    " VALUES ('medicine', 'X', '000001')",
				    0, NULL, &e),
			 0);
	ck_assert_int_eq(db_commit(app, &e), 0);
}
END_TEST

START_TEST(test_writes_carry_who_token_and_where)
{
	struct identity anna = who(ROLE_REGION_CONTACT, "01");
	struct err e = {0};

	ck_assert_msg(record_as(&anna, site01, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(
		testdb_scalar(owner, "SELECT count(*) FROM stock_event"
				     " WHERE recorded_by = 'region_contact-01'"
				     " AND token_id = 9"
				     " AND remote = '192.0.2.10'"
				     " AND request_id ="
				     " '9a1e0f2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b'"),
		1);
	ck_assert_msg(insert_site_as(&anna, "01", "01-BUF", &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM audit_log"
				       " WHERE table_name = 'site'"
				       " AND operation = 'INSERT'"
				       " AND actor = 'region_contact-01'"
				       " AND user_id = 7 AND token_id = 9"
				       " AND remote = '192.0.2.10'"
				       " AND new_row->>'code' = '01-BUF'"),
			 1);
	/* The audit log is as append-only as the ledger. */
	ck_assert_int_eq(
		db_command(owner, "DELETE FROM audit_log", 0, NULL, &e), -1);
}
END_TEST

/* ---- tokens ---- */

static char token[AUTH_TOKEN_MAX];
static int64_t token_id;

static void add_user_with_token(const char *username, enum role role,
				const char *region)
{
	struct err e = {0};
	int64_t uid;

	ck_assert_msg(auth_user_add(owner, username, role, region, NULL, NULL,
				    &uid, &e) == 0,
		      "%s", e.msg);
	ck_assert_msg(auth_token_create(owner, username, "test", 30, token,
					&token_id, &e) == 0,
		      "%s", e.msg);
}

/*
 * A temporary table of the caller's does not stand in for a table that a
 * function running with the owner's rights reads (sql/019).  Before, the
 * application role could make lb_token_lookup vouch for a token and an
 * admin of its own making: such functions searched pg_temp first.
 */
START_TEST(test_definer_ignores_temp_tables)
{
	struct err e = {0};

	ck_assert_msg(db_begin(app, &e) == 0, "%s", e.msg);
	testdb_exec(app, "CREATE TEMP TABLE api_token (id bigint,"
			 " secret_hash bytea, user_id bigint,"
			 " revoked_at timestamptz, expires_at timestamptz,"
			 " last_used_at timestamptz)");
	testdb_exec(app, "CREATE TEMP TABLE app_user (id bigint,"
			 " username text, role user_role,"
			 " region_code char(2), disabled_at timestamptz)");
	testdb_exec(app, "INSERT INTO api_token VALUES (424242, 'x', 1,"
			 " NULL, 'infinity', NULL)");
	testdb_exec(app, "INSERT INTO app_user VALUES (1, 'mallory',"
			 " 'admin', NULL, NULL)");
	ck_assert_int_eq(testdb_scalar(app, "SELECT count(*)"
					    " FROM lb_token_lookup(424242)"),
			 0);
	db_rollback(app);
	/* Every such function (some 40) searches its schema, then pg_temp,
	 * so that a later migration's cannot forget it either. */
	ck_assert_int_gt(testdb_scalar(owner,
				       "SELECT count(*) FROM pg_proc p"
				       " WHERE p.prosecdef AND"
				       " p.pronamespace ="
				       " current_schema()::regnamespace"),
			 30);
	ck_assert_int_eq(
		testdb_scalar(owner,
			      "SELECT count(*) FROM pg_proc p"
			      " WHERE p.prosecdef AND p.pronamespace ="
			      " current_schema()::regnamespace"
			      " AND NOT coalesce(p.proconfig @> ARRAY["
			      "'search_path=' || quote_ident(current_schema())"
			      " || ', pg_temp'], false)"),
		0);
	/* ... and only the roles it is granted to may call one. */
	ck_assert_int_eq(testdb_scalar(owner,
				       "SELECT count(*) FROM pg_proc p"
				       " WHERE p.prosecdef AND p.pronamespace ="
				       " current_schema()::regnamespace"
				       " AND p.prorettype <> 'trigger'::regtype"
				       " AND has_function_privilege('public',"
				       " p.oid, 'EXECUTE')"),
			 0);
}
END_TEST

START_TEST(test_token_authenticates)
{
	struct identity id;
	struct err e = {0};

	add_user_with_token("anna.01", ROLE_REGION_CONTACT, "01");
	ck_assert_msg(strncmp(token, "lbt_", 4) == 0, "%s", token);
	ck_assert_msg(auth_authenticate(app, token, &id, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(id.role, ROLE_REGION_CONTACT);
	ck_assert_str_eq(id.region, "01");
	ck_assert_str_eq(id.username, "anna.01");
	ck_assert_int_eq(id.token_id, token_id);
	/* Neither the secret nor its hash is kept where it could leak. */
	{
		/* lbt_<id>_<secret>: the secret may itself hold '_'. */
		const char *params[] = {strchr(token + 4, '_') + 1};

		ck_assert_int_eq(strlen(params[0]), 43);
		ck_assert_int_eq(
			testdb_scalar_params(
				owner,
				"SELECT (SELECT count(*) FROM api_token t"
				" WHERE strpos(t::text, $1) > 0)"
				" + (SELECT count(*) FROM audit_log a"
				" WHERE strpos(a::text, $1) > 0"
				" OR a.new_row ? 'secret_hash')",
				1, params),
			0);
	}
}
END_TEST

START_TEST(test_tampered_and_malformed_tokens_refused)
{
	struct identity id;
	struct err e = {0};
	char bad[AUTH_TOKEN_MAX];
	char other_id[AUTH_TOKEN_MAX];
	const char *malformed[] = {
		"",
		"lbt_",
		"lbt__",
		"lbt_1_",
		"Bearer x",
		"lbt_x_abc",
		"lbt_-1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"lbt_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"lbt_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"lbt_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"lbt_99999999999999999999_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"lbt_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+A",
	};

	add_user_with_token("anna.01", ROLE_REGION_CONTACT, "01");
	memcpy(bad, token, sizeof(bad));
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(auth_authenticate(app, bad, &id, &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_str_eq(e.msg, "invalid or expired token");
	ck_assert_int_eq(id.role, ROLE_NONE);
	/* The right secret under another id is another token. */
	snprintf(other_id, sizeof(other_id), "lbt_%lld%s",
		 (long long)token_id + 1, strchr(token + 4, '_'));
	ck_assert_int_eq(auth_authenticate(app, other_id, &id, &e), -1);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		ck_assert_msg(auth_authenticate(app, malformed[i], &id, &e) ==
				      -1,
			      "accepted %s", malformed[i]);
		ck_assert_int_eq(e.code, ERR_INVALID);
	}
	ck_assert_int_eq(auth_authenticate(app, NULL, &id, &e), -1);
}
END_TEST

START_TEST(test_revoked_expired_and_disabled_refused)
{
	struct identity id;
	struct err e = {0};
	char first[AUTH_TOKEN_MAX];

	add_user_with_token("anna.01", ROLE_REGION_CONTACT, "01");
	memcpy(first, token, sizeof(first));
	ck_assert_int_eq(auth_token_revoke(owner, token_id, &e), 0);
	ck_assert_int_eq(auth_token_revoke(owner, token_id, &e), 0);
	ck_assert_int_eq(auth_authenticate(app, first, &id, &e), -1);
	ck_assert_int_eq(auth_token_revoke(owner, 424242, &e), -1);
	ck_assert_int_eq(e.code, ERR_NOT_FOUND);

	ck_assert_int_eq(auth_token_create(owner, "anna.01", "second", 1, token,
					   &token_id, &e),
			 0);
	ck_assert_int_eq(auth_authenticate(app, token, &id, &e), 0);
	ck_assert_int_eq(db_command(owner,
				    "UPDATE api_token SET expires_at ="
				    " now() - interval '1 second'",
				    0, NULL, &e),
			 0);
	ck_assert_int_eq(auth_authenticate(app, token, &id, &e), -1);

	ck_assert_int_eq(auth_token_create(owner, "anna.01", "third", 1, token,
					   &token_id, &e),
			 0);
	ck_assert_int_eq(auth_user_disable(owner, "anna.01", &e), 0);
	ck_assert_int_eq(auth_authenticate(app, token, &id, &e), -1);
	/* No new tokens for a disabled user either. */
	ck_assert_int_eq(auth_token_create(owner, "anna.01", "fourth", 1, token,
					   &token_id, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_NOT_FOUND);
}
END_TEST

START_TEST(test_users_validated)
{
	struct err e = {0};
	int64_t uid;

	ck_assert_int_eq(auth_user_add(owner, "sam", ROLE_COORDINATOR, "01",
				       NULL, NULL, &uid, &e),
			 -1);
	ck_assert_str_eq(e.field, "region");
	ck_assert_int_eq(auth_user_add(owner, "anna", ROLE_REGION_CONTACT, NULL,
				       NULL, NULL, &uid, &e),
			 -1);
	ck_assert_str_eq(e.field, "region");
	ck_assert_int_eq(auth_user_add(owner, "anna", ROLE_REGION_CONTACT, "02",
				       NULL, NULL, &uid, &e),
			 -1);
	ck_assert_int_eq(auth_user_add(owner, "Anna", ROLE_VIEWER, NULL, NULL,
				       NULL, &uid, &e),
			 -1);
	ck_assert_str_eq(e.field, "username");
	ck_assert_int_eq(auth_user_add(owner, "x", ROLE_VIEWER, NULL, NULL,
				       NULL, &uid, &e),
			 -1);
	ck_assert_int_eq(auth_user_add(owner, "vera", ROLE_VIEWER, NULL, NULL,
				       "short", &uid, &e),
			 -1);
	ck_assert_str_eq(e.field, "password");
	ck_assert_int_eq(auth_user_add(owner, "vera", ROLE_VIEWER, NULL, NULL,
				       NULL, &uid, &e),
			 0);
	ck_assert_int_eq(auth_user_add(owner, "vera", ROLE_VIEWER, NULL, NULL,
				       NULL, &uid, &e),
			 -1);
	ck_assert_int_eq(e.code, ERR_CONFLICT);
	ck_assert_int_eq(auth_user_add(owner, "job", ROLE_IMPORTER, NULL, NULL,
				       NULL, &uid, &e),
			 0);
}
END_TEST

START_TEST(test_passwords_are_argon2id)
{
	char hash[crypto_pwhash_STRBYTES];
	struct err e = {0};

	ck_assert_int_eq(auth_password_hash("correct horse battery", hash,
					    sizeof(hash), &e),
			 0);
	ck_assert_msg(strncmp(hash, "$argon2id$", 10) == 0, "%s", hash);
	ck_assert_int_eq(auth_password_verify(hash, "correct horse battery"),
			 0);
	ck_assert_int_eq(auth_password_verify(hash, "correct horse batterY"),
			 -1);
	ck_assert_int_eq(auth_password_verify(hash, ""), -1);
	ck_assert_int_eq(auth_password_verify("garbage", "x"), -1);
	ck_assert_int_eq(
		auth_password_hash("elva tecken", hash, sizeof(hash), &e), -1);
}
END_TEST

START_TEST(test_role_helpers)
{
	struct identity anna = who(ROLE_REGION_CONTACT, "01");
	struct identity job = who(ROLE_IMPORTER, NULL);
	struct identity sam = who(ROLE_COORDINATOR, NULL);
	struct identity cli;
	enum role r;
	struct err e = {0};

	ck_assert(auth_may_write_stock(&anna, "01"));
	ck_assert(!auth_may_write_stock(&anna, "12"));
	ck_assert(!auth_may_write_stock(&job, "01"));
	ck_assert(!auth_may_write_stock(&sam, "01"));
	ck_assert(auth_may_read_region_detail(&sam, "12"));
	ck_assert(!auth_may_read_region_detail(&anna, "12"));
	auth_system_identity(&cli, "cli:root");
	ck_assert(auth_may_write_stock(&cli, "25"));
	ck_assert_int_eq(auth_role_parse("system", &r, "role", &e), -1);
	ck_assert_int_eq(auth_role_parse("viewer", &r, "role", &e), 0);
	ck_assert_int_eq(r, ROLE_VIEWER);
}
END_TEST

Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *rls = tcase_create("rls");
	TCase *tok = tcase_create("tokens");

	tcase_add_checked_fixture(rls, setup, teardown);
	tcase_add_test(rls, test_contact_writes_only_own_region);
	tcase_add_test(rls, test_importer_scoped_like_contact);
	tcase_add_test(rls, test_national_roles_never_write_stock);
	tcase_add_test(rls, test_contact_reads_own_detail_and_national_totals);
	tcase_add_test(rls, test_no_identity_sees_and_writes_nothing);
	tcase_add_test(rls, test_sites_and_products_by_role);
	tcase_add_test(rls, test_writes_carry_who_token_and_where);
	suite_add_tcase(s, rls);

	tcase_add_checked_fixture(tok, setup, teardown);
	tcase_add_test(tok, test_token_authenticates);
	tcase_add_test(tok, test_definer_ignores_temp_tables);
	tcase_add_test(tok, test_tampered_and_malformed_tokens_refused);
	tcase_add_test(tok, test_revoked_expired_and_disabled_refused);
	tcase_add_test(tok, test_users_validated);
	tcase_add_test(tok, test_passwords_are_argon2id);
	tcase_add_test(tok, test_role_helpers);
	suite_add_tcase(s, tok);
	return s;
}
