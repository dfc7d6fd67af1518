/*
 * check_api.c -- the /api/v1 service over real HTTP.
 *
 * Every case talks to the real `lagerbild serve` (tests/httpclient.h) on a
 * database of its TCase's own.  To keep the suite fast the database, its
 * fixtures (two regions' sites, products, stock, a user and token for every
 * role) and the server are made once per TCase by an unchecked fixture in
 * the runner process; the forked cases then each judge only their own
 * effect, counting rows before and after through an owner connection of
 * their own (a libpq connection must not be shared across fork).
 *
 * What is covered:
 *   - the authorization matrix: every route of api_routes x every role x
 *     the caller's own region and another, from an explicit table that must
 *     have rows for every route, so a new route without them fails;
 *   - region isolation of reads beside the shared national totals;
 *   - idempotent retries, single and batched;
 *   - a catalogue of bad inputs, each the right 4xx with the error shape,
 *     and nothing written;
 *   - the OpenAPI document naming every route;
 *   - keyset paging of the ledger.
 * No response anywhere may be a 500: every request checks it, and each
 * TCase ends by reading the server's own request counters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <uuid/uuid.h>

#include "api.h"
#include "auth.h"
#include "db.h"
#include "httpclient.h"
#include "ledger.h"
#include "suites.h"
#include "testdb.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- callers ---- */

enum caller {
	/* authenticated, one per role (two region contacts) */
	RC01,
	RC12,
	IMP01,
	IMPNAT,
	COORD,
	VIEWER,
	ADMIN,
	NAUTH,
	/* not authenticated */
	ANON = NAUTH,
	REVOKED,
	EXPIRED,
	DISABLED,
	GARBAGE,
	FORGED,
	BASIC,
	NCALLERS
};

/* What the matrix distinguishes: the role, not the person. */
enum role_class {
	C_RC,
	C_IMP,
	C_IMPN,
	C_COORD,
	C_VIEWER,
	C_ADMIN,
	NCLASSES
};

/* The users behind the callers; cls matters for authenticated ones only. */
static const struct caller_def {
	const char *name; /* in failure messages */
	const char *user; /* NULL: no user */
	enum role role;
	const char *region; /* NULL: national */
	enum role_class cls;
} callers[NCALLERS] = {
	[RC01] = {"rc.01", "rc.01", ROLE_REGION_CONTACT, "01", C_RC},
	[RC12] = {"rc.12", "rc.12", ROLE_REGION_CONTACT, "12", C_RC},
	[IMP01] = {"imp.01", "imp.01", ROLE_IMPORTER, "01", C_IMP},
	[IMPNAT] = {"imp.nat", "imp.nat", ROLE_IMPORTER, NULL, C_IMPN},
	[COORD] = {"coordinator", "coord", ROLE_COORDINATOR, NULL, C_COORD},
	[VIEWER] = {"viewer", "viewer", ROLE_VIEWER, NULL, C_VIEWER},
	[ADMIN] = {"admin", "admin", ROLE_ADMIN, NULL, C_ADMIN},
	[ANON] = {"no token", NULL, ROLE_NONE, NULL, 0},
	[REVOKED] = {"revoked token", "revoked.01", ROLE_REGION_CONTACT, "01",
		     0},
	[EXPIRED] = {"expired token", "expired.01", ROLE_REGION_CONTACT, "01",
		     0},
	[DISABLED] = {"disabled user", "disabled", ROLE_COORDINATOR, NULL, 0},
	[GARBAGE] = {"garbage token", NULL, ROLE_NONE, NULL, 0},
	[FORGED] = {"forged token", NULL, ROLE_NONE, NULL, 0},
	[BASIC] = {"basic auth", NULL, ROLE_NONE, NULL, 0},
};

/* ---- state made once per TCase, in the runner ---- */

static struct httpclient_server srv;
static char tokens[NCALLERS][AUTH_TOKEN_MAX];
static int64_t product_id; /* of Vnr 123456 */

/* ---- state of one forked case ---- */

static struct db *own; /* owner connection, acting as the system */
static unsigned serial;

/* ---- fixtures ---- */

/* Record an event as the system; its id. */
static int64_t record(struct db *db, const char *site, int64_t product,
		      enum ledger_kind kind, int64_t qty)
{
	const char *params[] = {site};
	struct ledger_event ev = {.kind = kind,
				  .product_id = product,
				  .quantity = qty,
				  .source = "test"};
	struct ledger_result r;
	struct err e = {0};

	ev.site_id = testdb_scalar_params(
		db, "SELECT id FROM site WHERE code = $1", 1, params);
	ck_assert_msg(ledger_record(db, &ev, &r, &e) == 0, "record: %s", e.msg);
	return r.event_id;
}

/* Reverse an event as the system; the reversal's id. */
static int64_t reverse(struct db *db, int64_t event)
{
	struct ledger_event ev = {.kind = LEDGER_REVERSAL,
				  .reverses = event,
				  .reason = "test reversal",
				  .source = "test"};
	struct ledger_result r;
	struct err e = {0};

	ck_assert_msg(ledger_record(db, &ev, &r, &e) == 0, "reverse: %s",
		      e.msg);
	return r.event_id;
}

static void add_caller(struct db *db, enum caller c)
{
	const struct caller_def *d = &callers[c];
	struct err e = {0};
	int64_t uid, tid;

	ck_assert_msg(auth_user_add(db, d->user, d->role, d->region, NULL, NULL,
				    &uid, &e) == 0,
		      "user %s: %s", d->user, e.msg);
	ck_assert_msg(auth_token_create(db, d->user, "api test", 30, tokens[c],
					&tid, &e) == 0,
		      "token %s: %s", d->user, e.msg);
	if (c == REVOKED)
		ck_assert_msg(auth_token_revoke(db, tid, &e) == 0, "%s", e.msg);
	if (c == EXPIRED) {
		char id[24];
		const char *params[] = {id};

		snprintf(id, sizeof(id), "%lld", (long long)tid);
		ck_assert_msg(db_command(db,
					 "UPDATE api_token SET expires_at ="
					 " now() - interval '1 minute'"
					 " WHERE id = $1",
					 1, params, &e) == 0,
			      "%s", e.msg);
	}
	if (c == DISABLED)
		ck_assert_msg(auth_user_disable(db, d->user, &e) == 0, "%s",
			      e.msg);
}

static void start_with(const char *const *env)
{
	const char *dburl = testdb_create();
	struct db *db = testdb_connect();
	struct err e = {0};
	int64_t p2;

	ck_assert_msg(db_act_as_system(db, "setup", &e) == 0, "%s", e.msg);
	testdb_site(db, "01", "01-CL");
	testdb_site(db, "01", "01-B");
	testdb_site(db, "12", "12-CL");
	testdb_site(db, "12", "12-B");
	product_id = testdb_product(db, "123456", "Testprodukt");
	p2 = testdb_product(db, "234567", "Andra produkten");
	record(db, "01-CL", product_id, LEDGER_RECEIPT, 1000);
	record(db, "01-B", product_id, LEDGER_RECEIPT, 40);
	record(db, "12-CL", product_id, LEDGER_RECEIPT, 500);
	record(db, "12-B", product_id, LEDGER_RECEIPT, 60);
	record(db, "01-CL", p2, LEDGER_RECEIPT, 7);
	record(db, "12-CL", p2, LEDGER_RECEIPT, 11);
	for (int c = 0; c < NCALLERS; c++)
		if (callers[c].user)
			add_caller(db, c);
	snprintf(tokens[GARBAGE], sizeof(tokens[GARBAGE]), "garbage");
	/* A real token's id with a secret of the right shape but wrong. */
	snprintf(tokens[FORGED], sizeof(tokens[FORGED]), "%s", tokens[RC01]);
	{
		size_t n = strlen(tokens[FORGED]);

		tokens[FORGED][n - 2] =
			tokens[FORGED][n - 2] == 'A' ? 'B' : 'A';
	}
	db_close(db);
	httpclient_start(&srv, dburl, env);
}

static void start_default(void)
{
	start_with(NULL);
}

static void start_small_body(void)
{
	static const char *const env[] = {"LAGERBILD_MAX_BODY=65536", NULL};

	start_with(env);
}

/* Does the n bytes at p contain text? */
static bool has_text(const char *p, size_t n, const char *text)
{
	size_t k = strlen(text);

	for (size_t i = 0; i + k <= n; i++)
		if (strncmp(p + i, text, k) == 0)
			return true;
	return false;
}

/*
 * Stop the server.  Its error lines go to stderr, so that a 500 found by
 * a case can be traced to the cause the server logged.
 */
static void stop_server(void)
{
	int code = httpclient_stop(&srv, 10);
	char *log = srv.log_path[0] ? httpclient_log(&srv) : NULL;

	for (const char *p = log; p && *p;) {
		size_t n = strcspn(p, "\n");

		if (code != 0 || has_text(p, n, "level=error"))
			fprintf(stderr, "check_api: server: %.*s\n", (int)n, p);
		p += n;
		p += *p == '\n';
	}
	if (code != 0)
		fprintf(stderr, "check_api: server exit %d\n", code);
	free(log);
	httpclient_cleanup(&srv);
	testdb_drop();
}

static void connect_owner(void)
{
	struct err e = {0};

	own = testdb_connect();
	ck_assert_msg(db_act_as_system(own, "test", &e) == 0, "%s", e.msg);
	serial = 0;
}

static void close_owner(void)
{
	db_close(own);
	own = NULL;
}

/* ---- rows in the database ---- */

struct counts {
	int64_t events, sites, products, audit;
};

static void count_rows(struct counts *c)
{
	struct err e = {0};
	PGresult *q = db_exec(own,
			      "SELECT (SELECT count(*) FROM stock_event),"
			      " (SELECT count(*) FROM site),"
			      " (SELECT count(*) FROM product),"
			      " (SELECT count(*) FROM audit_log)",
			      0, NULL, &e);

	ck_assert_msg(q != NULL, "count: %s", e.msg);
	c->events = db_int64(q, 0, 0);
	c->sites = db_int64(q, 0, 1);
	c->products = db_int64(q, 0, 2);
	c->audit = db_int64(q, 0, 3);
	PQclear(q);
}

/* What a request may add: rows of one table. */
enum adds {
	ADDS_NOTHING,
	ADDS_EVENT,
	ADDS_SITE,
	ADDS_PRODUCT
};

static void want_counts(const char *what, const struct counts *before,
			const struct counts *after, enum adds adds)
{
	int64_t ev = adds == ADDS_EVENT, si = adds == ADDS_SITE,
		pr = adds == ADDS_PRODUCT;

	ck_assert_msg(after->events == before->events + ev &&
			      after->sites == before->sites + si &&
			      after->products == before->products + pr,
		      "%s: events %lld -> %lld, sites %lld -> %lld, products "
		      "%lld -> %lld; wanted +%lld, +%lld, +%lld",
		      what, (long long)before->events, (long long)after->events,
		      (long long)before->sites, (long long)after->sites,
		      (long long)before->products, (long long)after->products,
		      (long long)ev, (long long)si, (long long)pr);
}

static void want_nothing_written(const char *what, const struct counts *before)
{
	struct counts after;

	count_rows(&after);
	want_counts(what, before, &after, ADDS_NOTHING);
	ck_assert_msg(after.audit == before->audit,
		      "%s: audit_log %lld -> %lld", what,
		      (long long)before->audit, (long long)after.audit);
}

static int64_t owner_scalar1(const char *sql, const char *param)
{
	const char *params[] = {param};

	return testdb_scalar_params(own, sql, 1, params);
}

/* A new receipt of 1 at the region's main site; its id. */
static int64_t fresh_event(const char *region)
{
	char site[8];

	snprintf(site, sizeof(site), "%s-CL", region ? region : "01");
	return record(own, site, product_id, LEDGER_RECEIPT, 1);
}

/* A unique number for names: unique across the forked cases too. */
static long unique(void)
{
	return (long)getpid() * 1000 + (long)serial++;
}

static void random_key(char out[37])
{
	uuid_t u;

	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

/*
 * Quarantine templates, for expand(): {lot} a fresh lot of product 123456
 * with 1 in stock at {r}'s main site, {qlot} such a lot already in
 * quarantine, {q} the id of an open quarantine in {r}, {qrel} of a
 * released one.  Writes the value to val and returns the template's
 * length, or 0 when tmpl starts with none of them.
 */
static size_t expand_quarantine(const char *tmpl, const char *region,
				char val[32])
{
	static const char *const names[] = {"{lot}", "{qlot}", "{q}", "{qrel}"};
	char site[8], lot[24];
	const char *params[] = {site, lot};
	struct ledger_event ev = {.kind = LEDGER_RECEIPT,
				  .product_id = product_id,
				  .quantity = 1,
				  .lot = lot,
				  .source = "test"};
	struct ledger_result r;
	struct err e = {0};
	int64_t id = 0;
	int k;

	for (k = 0; k < NELEM(names); k++)
		if (strncmp(tmpl, names[k], strlen(names[k])) == 0)
			break;
	if (k == NELEM(names))
		return 0;
	snprintf(site, sizeof(site), "%s-CL", region ? region : "01");
	snprintf(lot, sizeof(lot), "Q%ld", unique());
	ev.site_id = testdb_scalar_params(
		own, "SELECT id FROM site WHERE code = $1", 1, params);
	ck_assert_msg(ledger_record(own, &ev, &r, &e) == 0, "lot: %s", e.msg);
	if (k > 0)
		id = testdb_scalar_params(
			own,
			"INSERT INTO lot_quarantine (region_code, site_id,"
			" product_id, lot, reason) SELECT region_code, id,"
			" (SELECT id FROM product WHERE vnr = '123456'), $2,"
			" 'matris' FROM site WHERE code = $1 RETURNING id",
			2, params);
	if (k == 3) {
		char id_s[24];
		const char *p1[] = {id_s};

		snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
		ck_assert_int_eq(testdb_scalar_params(
					 own,
					 "WITH r AS (UPDATE lot_quarantine SET"
					 " release_reason = 'matris' WHERE"
					 " id = $1 RETURNING id)"
					 " SELECT count(*) FROM r",
					 1, p1),
				 1);
	}
	if (k < 2)
		snprintf(val, 32, "%s", lot);
	else
		snprintf(val, 32, "%lld", (long long)id);
	return strlen(names[k]);
}

/*
 * Allocation templates (issue 6), for expand(): {prop} a proposal of 10 of
 * product 123456 from {r}'s main site to region 03, {aprop} such a one
 * approved, {sprop} one shipped (its transfer_out recorded, in transit),
 * {inprop} one shipped from region 03 to {r}, {run} a sharing run, {help}
 * an open help request of {r}, {plan} a current build-up plan.  Region 03
 * is a third region, so that the other target region is party to none of
 * them.  As expand_quarantine.
 */
static size_t expand_allocation(const char *tmpl, const char *region,
				char val[32])
{
	static const char *const names[] = {"{prop}",	"{aprop}", "{sprop}",
					    "{inprop}", "{run}",   "{help}",
					    "{plan}"};
	const char *r = region ? region : "01";
	const char *from, *to;
	char run_s[24], pid_s[24], id_s[24], ev_s[24], site[8];
	const char *params[6];
	struct err e = {0};
	int64_t run, id;
	int k;

	for (k = 0; k < NELEM(names); k++)
		if (strncmp(tmpl, names[k], strlen(names[k])) == 0)
			break;
	if (k == NELEM(names))
		return 0;
	ck_assert_msg(db_command(own,
				 "INSERT INTO site (region_code, code, name,"
				 " kind, host_region_code) VALUES ('03',"
				 " '03-CL', 'Testlager 03-CL', 'central', '03')"
				 " ON CONFLICT (code) DO NOTHING",
				 0, NULL, &e) == 0,
		      "site 03: %s", e.msg);
	snprintf(pid_s, sizeof(pid_s), "%lld", (long long)product_id);
	params[0] = k == 6 ? "plan" : "share";
	run = testdb_scalar_params(
		own,
		"INSERT INTO allocation_run (problem, params,"
		" algorithm_version) VALUES"
		" ($1::allocation_problem, '{}', '1')"
		" RETURNING id",
		1, params);
	snprintf(run_s, sizeof(run_s), "%lld", (long long)run);
	params[0] = run_s;
	params[1] = pid_s;
	ck_assert_msg(db_command(own,
				 "INSERT INTO allocation_run_product (run_id,"
				 " product_id, pack_size, result)"
				 " VALUES ($1::bigint, $2::bigint, 10, '{}')",
				 2, params, &e) == 0,
		      "run product: %s", e.msg);
	id = run;
	if (k == 5) {
		params[0] = r;
		id = testdb_scalar_params(
			own,
			"INSERT INTO help_request (region_code,"
			" product_id, quantity, reason) VALUES"
			" ($1, $2::bigint, 10, 'matris')"
			" RETURNING id",
			2, (const char *[]){r, pid_s});
	} else if (k == 6) {
		ck_assert_msg(
			db_begin(own, &e) == 0 &&
				db_command(own,
					   "UPDATE allocation_plan SET"
					   " superseded_at = now(),"
					   " superseded_by = $1::bigint"
					   " WHERE product_id = $2::bigint"
					   " AND superseded_at IS NULL",
					   2, params, &e) == 0 &&
				db_command(
					own,
					"INSERT INTO allocation_plan (run_id,"
					" product_id, start_date, weeks,"
					" capacity, pack_size) VALUES"
					" ($1::bigint, $2::bigint, lb_today(),"
					" 1, '{10}', 10)",
					2, params, &e) == 0 &&
				db_commit(own, &e) == 0,
			"plan: %s", e.msg);
	} else if (k < 4) {
		from = k == 3 ? "03" : r;
		to = k == 3 ? r : "03";
		snprintf(site, sizeof(site), "%s-CL", from);
		if (k == 3)
			record(own, site, product_id, LEDGER_RECEIPT, 10);
		params[2] = from;
		params[3] = to;
		id = testdb_scalar_params(
			own,
			"INSERT INTO proposal (from_region, run_id, product_id,"
			" from_site_id, to_region, to_site_id, quantity)"
			" SELECT $3::text, $1::bigint, $2::bigint, s.id,"
			" $4::text, (SELECT t.id FROM site t"
			"  WHERE t.region_code = $4::text ORDER BY t.id LIMIT 1),"
			" 10 FROM site s WHERE s.code = $3::text || '-CL'"
			" RETURNING id",
			4, params);
		snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
		params[0] = id_s;
		if (k > 0)
			ck_assert_msg(db_command(own,
						 "UPDATE proposal SET status ="
						 " 'approved' WHERE id ="
						 " $1::bigint",
						 1, params, &e) == 0,
				      "approve: %s", e.msg);
		if (k > 1) {
			snprintf(ev_s, sizeof(ev_s), "%lld",
				 (long long)record(own, site, product_id,
						   LEDGER_TRANSFER_OUT, 10));
			params[1] = pid_s;
			params[2] = from;
			params[3] = to;
			params[4] = ev_s;
			ck_assert_msg(
				db_command(
					own,
					"INSERT INTO shipment (from_region,"
					" proposal_id, product_id, to_region,"
					" quantity, out_event_id) VALUES ($3,"
					" $1::bigint, $2::bigint, $4, 10,"
					" $5::bigint)",
					5, params, &e) == 0 &&
					db_command(own,
						   "UPDATE proposal SET status"
						   " = 'shipped' WHERE id ="
						   " $1::bigint",
						   1, params, &e) == 0,
				"ship: %s", e.msg);
		}
	}
	snprintf(val, 32, "%lld", (long long)id);
	return strlen(names[k]);
}

/*
 * Expand a template: {r} the target region, {n} a unique number, {vnr} a
 * Vnr no product has, {pid} the id of product 123456, {ev} a fresh event
 * in {r}, {rev} an event already reversed, {revev} the reversal of one.
 */
static void expand(const char *tmpl, const char *region, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	while (*tmpl) {
		char val[32];
		const char *v = NULL;
		size_t skip = 0, n;

		if (strncmp(tmpl, "{r}", 3) == 0) {
			v = region ? region : "01";
			skip = 3;
		} else if (strncmp(tmpl, "{n}", 3) == 0) {
			snprintf(val, sizeof(val), "%ld", unique());
			v = val;
			skip = 3;
		} else if (strncmp(tmpl, "{vnr}", 5) == 0) {
			int64_t vnr = testdb_scalar(
				own, "SELECT 800000 + count(*) FROM product");

			snprintf(val, sizeof(val), "%06lld", (long long)vnr);
			v = val;
			skip = 5;
		} else if (strncmp(tmpl, "{pid}", 5) == 0) {
			snprintf(val, sizeof(val), "%lld",
				 (long long)product_id);
			v = val;
			skip = 5;
		} else if (strncmp(tmpl, "{ev}", 4) == 0) {
			snprintf(val, sizeof(val), "%lld",
				 (long long)fresh_event(region));
			v = val;
			skip = 4;
		} else if (strncmp(tmpl, "{rev}", 5) == 0 ||
			   strncmp(tmpl, "{revev}", 7) == 0) {
			int64_t orig = fresh_event(region);
			int64_t rev = reverse(own, orig);

			snprintf(val, sizeof(val), "%lld",
				 (long long)(tmpl[4] == '}' ? orig : rev));
			v = val;
			skip = tmpl[4] == '}' ? 5 : 7;
		}
		if (!v && (skip = expand_quarantine(tmpl, region, val)) > 0)
			v = val;
		if (!v && (skip = expand_allocation(tmpl, region, val)) > 0)
			v = val;
		if (v) {
			n = strlen(v);
			tmpl += skip;
		} else {
			v = tmpl++;
			n = 1;
		}
		ck_assert_msg(len + n < size, "template too long");
		memcpy(out + len, v, n);
		len += n;
		out[len] = '\0';
	}
}

/* ---- requests ---- */

struct call {
	const char *method; /* NULL: GET */
	const char *path;
	enum caller who;
	const char *header; /* one more header line, or NULL */
	const char *body;   /* NULL: none */
	size_t body_len;    /* 0: strlen(body) */
};

#define RES_FMT "status %ld (curl %d)\n%.1500s"
#define RES_ARGS(r) (r)->status, (r)->curl_code, (r)->body

/* Send c and read any answer into r (freed by the caller); judge nothing. */
static void try_call(const struct call *c, struct httpclient_response *r)
{
	const char *headers[3] = {NULL, NULL, NULL};
	struct httpclient_request rq = {0};
	int h = 0;

	if (c->header)
		headers[h++] = c->header;
	if (c->who == BASIC)
		headers[h++] = "Authorization: Basic cmMuMDE6c2VjcmV0";
	rq.method = c->method ? c->method : "GET";
	rq.path = c->path;
	rq.token = tokens[c->who][0] ? tokens[c->who] : NULL;
	rq.headers = headers;
	rq.body = c->body;
	rq.body_len =
		c->body ? (c->body_len ? c->body_len : strlen(c->body)) : 0;
	httpclient_do(&srv, &rq, r);
}

/*
 * Send c and read the answer into r (freed by the caller).  There must be
 * an answer, and it must not be a 500: bad input never is.
 */
static void send_call(const struct call *c, struct httpclient_response *r)
{
	const char *method = c->method ? c->method : "GET";

	try_call(c, r);
	ck_assert_msg(r->curl_code == 0, "%s %s as %s: no answer (curl %d)",
		      method, c->path, callers[c->who].name, r->curl_code);
	ck_assert_msg(r->status != 500, "%s %s as %s: " RES_FMT, method,
		      c->path, callers[c->who].name, RES_ARGS(r));
}

/* Send c and require status with a JSON body, which is returned. */
static json_t *want_json(const struct call *c, long status)
{
	struct httpclient_response r;
	json_t *j;

	send_call(c, &r);
	ck_assert_msg(r.status == status,
		      "%s %s as %s: " RES_FMT "\n--- wanted %ld",
		      c->method ? c->method : "GET", c->path,
		      callers[c->who].name, RES_ARGS(&r), status);
	j = httpclient_json(&r);
	ck_assert_msg(j != NULL, "%s: body is not JSON: %.500s", c->path,
		      r.body);
	httpclient_response_free(&r);
	return j;
}

/*
 * r must be exactly {"error":{"code","message","field"}} with the given
 * code, field (NULL: null) and a message containing msg (NULL: any).
 */
static void want_error_body(const char *what,
			    const struct httpclient_response *r,
			    const char *code, const char *field,
			    const char *msg)
{
	json_t *j = httpclient_json(r), *err, *f;
	const char *got_code, *got_msg;

	ck_assert_msg(j != NULL, "%s: error body is not JSON: %.500s", what,
		      r->body);
	err = json_object_get(j, "error");
	ck_assert_msg(json_is_object(j) && json_object_size(j) == 1 &&
			      json_is_object(err) && json_object_size(err) == 3,
		      "%s: not the error shape: %.500s", what, r->body);
	got_code = json_string_value(json_object_get(err, "code"));
	got_msg = json_string_value(json_object_get(err, "message"));
	f = json_object_get(err, "field");
	ck_assert_msg(got_code && strcmp(got_code, code) == 0,
		      "%s: code %s, wanted %s: %.500s", what,
		      got_code ? got_code : "(none)", code, r->body);
	ck_assert_msg(got_msg && got_msg[0], "%s: no message", what);
	if (msg)
		ck_assert_msg(strstr(got_msg, msg) != NULL,
			      "%s: message \"%s\" lacks \"%s\"", what, got_msg,
			      msg);
	if (field)
		ck_assert_msg(json_is_string(f) &&
				      strcmp(json_string_value(f), field) == 0,
			      "%s: field %s, wanted %s: %.500s", what,
			      json_is_string(f) ? json_string_value(f) : "null",
			      field, r->body);
	else
		ck_assert_msg(json_is_null(f), "%s: field %s, wanted null",
			      what, json_string_value(f));
	json_decref(j);
}

/* Send c and require an error of status and code; nothing may change. */
static void want_refused(const struct call *c, long status, const char *code,
			 const char *field, const char *msg)
{
	struct httpclient_response r;
	struct counts before;
	char what[512];

	snprintf(what, sizeof(what), "%s %s as %s",
		 c->method ? c->method : "GET", c->path, callers[c->who].name);
	count_rows(&before);
	send_call(c, &r);
	ck_assert_msg(r.status == status, "%s: " RES_FMT "\n--- wanted %ld",
		      what, RES_ARGS(&r), status);
	want_error_body(what, &r, code, field, msg);
	httpclient_response_free(&r);
	want_nothing_written(what, &before);
}

static int64_t int_member(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
	return (int64_t)json_integer_value(v);
}

static const char *str_member(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	ck_assert_msg(s != NULL, "%s is not a string", key);
	return s;
}

/* ---- the authorization matrix ---- */

/* Statuses per role class, in enum role_class order. */
/* clang-format off */
#define ROLES(rc, imp, impn, coord, viewer, admin) \
	{rc, imp, impn, coord, viewer, admin}
/* clang-format on */
#define ALL(s) ROLES(s, s, s, s, s, s)

static const struct matrix_row {
	const char *method, *pattern; /* the api_routes entry */
	const char *path, *body;      /* templates, see expand() */
	bool regional;		      /* runs for a target in 01 and in 12 */
	enum adds adds;		      /* what a 2xx writes */
	/*
	 * Expected status by role class when the target region is the
	 * caller's own, and when it is another's.  Callers without a region
	 * own none: they always get `other`.  A route without a region
	 * uses `own` (and has other equal to it).
	 */
	int own[NCLASSES], other[NCLASSES];
	int anon; /* for every caller that is not authenticated */
} matrix[] = {
	{"GET", "/api/v1/openapi.json", "/api/v1/openapi.json", NULL, false,
	 ADDS_NOTHING, ALL(200), ALL(200), 200},
	{"GET", "/api/v1/regions", "/api/v1/regions", NULL, false, ADDS_NOTHING,
	 ALL(200), ALL(200), 401},
	{"GET", "/api/v1/sites", "/api/v1/sites?region={r}", NULL, true,
	 ADDS_NOTHING, ALL(200), ALL(200), 401},
	{"GET", "/api/v1/sites", "/api/v1/sites", NULL, false, ADDS_NOTHING,
	 ALL(200), ALL(200), 401},
	/* sites: admin, coordinator, or the region's own contact person */
	{"POST", "/api/v1/sites", "/api/v1/sites",
	 "{\"code\":\"M{n}\",\"name\":\"Matris {n}\",\"kind\":\"hospital\","
	 "\"region\":\"{r}\"}",
	 true, ADDS_SITE, ROLES(201, 403, 403, 201, 403, 201),
	 ROLES(403, 403, 403, 201, 403, 201), 401},
	{"PATCH", "/api/v1/sites/{code}", "/api/v1/sites/{r}-CL",
	 "{\"name\":\"Testlager {n}\"}", true, ADDS_NOTHING,
	 ROLES(200, 403, 403, 200, 403, 200),
	 ROLES(403, 403, 403, 200, 403, 200), 401},
	{"GET", "/api/v1/products", "/api/v1/products", NULL, false,
	 ADDS_NOTHING, ALL(200), ALL(200), 401},
	{"GET", "/api/v1/products", "/api/v1/products?q=123456", NULL, false,
	 ADDS_NOTHING, ALL(200), ALL(200), 401},
	/* products: coordinators and admins */
	{"POST", "/api/v1/products", "/api/v1/products",
	 "{\"category\":\"ppe\",\"name\":\"Matris {n}\",\"vnr\":\"{vnr}\"}",
	 false, ADDS_PRODUCT, ROLES(403, 403, 403, 201, 403, 201),
	 ROLES(403, 403, 403, 201, 403, 201), 401},
	{"PATCH", "/api/v1/products/{id}", "/api/v1/products/{pid}",
	 "{\"name\":\"Testprodukt {n}\"}", false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 200, 403, 200),
	 ROLES(403, 403, 403, 200, 403, 200), 401},
	/* stock: each region records its own, nobody else */
	{"POST", "/api/v1/stock-events", "/api/v1/stock-events",
	 "{\"site\":\"{r}-CL\",\"product\":\"123456\",\"kind\":\"receipt\","
	 "\"qty\":1}",
	 true, ADDS_EVENT, ROLES(201, 201, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"POST", "/api/v1/stock-events", "/api/v1/stock-events",
	 "{\"events\":[{\"site\":\"{r}-CL\",\"product\":\"123456\","
	 "\"kind\":\"receipt\",\"qty\":1}]}",
	 true, ADDS_EVENT, ROLES(201, 201, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"GET", "/api/v1/stock-events", "/api/v1/stock-events?region={r}", NULL,
	 true, ADDS_NOTHING, ROLES(200, 200, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/stock-events", "/api/v1/stock-events?site={r}-CL",
	 NULL, true, ADDS_NOTHING, ROLES(200, 200, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	/* Another region's event: refused like any write for it. */
	{"POST", "/api/v1/stock-events/{id}/reversal",
	 "/api/v1/stock-events/{ev}/reversal", "{\"reason\":\"matris\"}", true,
	 ADDS_EVENT, ROLES(201, 201, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"GET", "/api/v1/balances", "/api/v1/balances?region={r}", NULL, true,
	 ADDS_NOTHING, ROLES(200, 200, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/balances", "/api/v1/balances?site={r}-CL", NULL, true,
	 ADDS_NOTHING, ROLES(200, 200, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	/* quarantines: a region's own contact person holds back and releases
	 * its stock; they read as balances do */
	{"POST", "/api/v1/quarantines", "/api/v1/quarantines",
	 "{\"site\":\"{r}-CL\",\"product\":\"123456\",\"lot\":\"{lot}\","
	 "\"reason\":\"matris\"}",
	 true, ADDS_NOTHING, ROLES(201, 403, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"GET", "/api/v1/quarantines", "/api/v1/quarantines", NULL, false,
	 ADDS_NOTHING, ALL(200), ALL(200), 401},
	{"GET", "/api/v1/quarantines", "/api/v1/quarantines?region={r}", NULL,
	 true, ADDS_NOTHING, ROLES(200, 200, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/quarantines",
	 "/api/v1/quarantines?site={r}-CL&open=true", NULL, true, ADDS_NOTHING,
	 ROLES(200, 200, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	{"POST", "/api/v1/quarantines/{id}/release",
	 "/api/v1/quarantines/{q}/release", "{\"reason\":\"matris\"}", true,
	 ADDS_NOTHING, ROLES(200, 403, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"POST", "/api/v1/quarantines/{id}/release",
	 "/api/v1/quarantines/999999999/release", "{\"reason\":\"matris\"}",
	 false, ADDS_NOTHING, ROLES(404, 403, 403, 403, 403, 403),
	 ROLES(404, 403, 403, 403, 403, 403), 401},
	/* the shared national picture: everyone */
	{"GET", "/api/v1/totals", "/api/v1/totals", NULL, false, ADDS_NOTHING,
	 ALL(200), ALL(200), 401},
	{"GET", "/api/v1/totals", "/api/v1/totals?by=region", NULL, false,
	 ADDS_NOTHING, ALL(200), ALL(200), 401},
	/* push mode: a region's snapshot, from its own importer or contact
	 * person only ({n} keeps each content new, so none is "unchanged") */
	{"POST", "/api/v1/imports/{feed}", "/api/v1/imports/stock?region={r}",
	 "site,product,quantity,counted_at\n{r}-CL,123456,{n},2026-11-20\n",
	 true, ADDS_EVENT, ROLES(201, 201, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	/* the record of imports: each caller sees what it may */
	{"GET", "/api/v1/imports", "/api/v1/imports", NULL, false, ADDS_NOTHING,
	 ALL(200), ALL(200), 401},
	{"GET", "/api/v1/imports/{id}", "/api/v1/imports/999999999", NULL,
	 false, ADDS_NOTHING, ALL(404), ALL(404), 401},
	/* readiness: the national picture for everyone, site detail as
	 * balances; targets and the level by coordinators; a region's state
	 * by its own contact person or a coordinator */
	{"GET", "/api/v1/readiness", "/api/v1/readiness", NULL, false,
	 ADDS_NOTHING, ALL(200), ALL(200), 401},
	{"GET", "/api/v1/readiness", "/api/v1/readiness?scope=nation", NULL,
	 false, ADDS_NOTHING, ALL(200), ALL(200), 401},
	{"GET", "/api/v1/readiness", "/api/v1/readiness?scope=site&region={r}",
	 NULL, true, ADDS_NOTHING, ROLES(200, 200, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/targets", "/api/v1/targets", NULL, false, ADDS_NOTHING,
	 ALL(200), ALL(200), 401},
	{"POST", "/api/v1/targets", "/api/v1/targets",
	 "{\"product\":\"123456\",\"target_days\":30,\"reason\":\"matris\"}",
	 false, ADDS_NOTHING, ROLES(403, 403, 403, 201, 403, 403),
	 ROLES(403, 403, 403, 201, 403, 403), 401},
	{"PATCH", "/api/v1/targets/{id}", "/api/v1/targets/999999999",
	 "{\"reason\":\"matris\"}", false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 404, 403, 403),
	 ROLES(403, 403, 403, 404, 403, 403), 401},
	{"GET", "/api/v1/readiness-level", "/api/v1/readiness-level", NULL,
	 false, ADDS_NOTHING, ALL(200), ALL(200), 401},
	{"PUT", "/api/v1/readiness-level", "/api/v1/readiness-level",
	 "{\"level\":\"normal\",\"reason\":\"matris\"}", false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 200, 403, 403),
	 ROLES(403, 403, 403, 200, 403, 403), 401},
	{"GET", "/api/v1/regions/{code}/state", "/api/v1/regions/{r}/state",
	 NULL, true, ADDS_NOTHING, ALL(200), ALL(200), 401},
	{"PUT", "/api/v1/regions/{code}/state", "/api/v1/regions/{r}/state",
	 "{\"state\":\"normal\",\"reason\":\"matris\"}", true, ADDS_NOTHING,
	 ROLES(200, 403, 403, 200, 403, 403),
	 ROLES(403, 403, 403, 200, 403, 403), 401},
	/* alerts: each caller sees what it may; acknowledged by coordinators
	 * and contact persons; webhooks by admins and coordinators */
	{"GET", "/api/v1/alerts", "/api/v1/alerts", NULL, false, ADDS_NOTHING,
	 ALL(200), ALL(200), 401},
	{"GET", "/api/v1/alerts", "/api/v1/alerts?region={r}", NULL, true,
	 ADDS_NOTHING, ROLES(200, 200, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/alerts/{id}", "/api/v1/alerts/999999999", NULL, false,
	 ADDS_NOTHING, ALL(404), ALL(404), 401},
	{"POST", "/api/v1/alerts/{id}/ack", "/api/v1/alerts/999999999/ack",
	 "{\"note\":\"matris\"}", false, ADDS_NOTHING,
	 ROLES(404, 403, 403, 404, 403, 403),
	 ROLES(404, 403, 403, 404, 403, 403), 401},
	{"GET", "/api/v1/webhooks", "/api/v1/webhooks", NULL, false,
	 ADDS_NOTHING, ROLES(403, 403, 403, 200, 403, 200),
	 ROLES(403, 403, 403, 200, 403, 200), 401},
	{"POST", "/api/v1/webhooks", "/api/v1/webhooks",
	 "{\"url\":\"https://hooks.example.se/{n}\"}", false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 201, 403, 201),
	 ROLES(403, 403, 403, 201, 403, 201), 401},
	{"PATCH", "/api/v1/webhooks/{id}", "/api/v1/webhooks/999999999",
	 "{\"active\":false}", false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 404, 403, 404),
	 ROLES(403, 403, 403, 404, 403, 404), 401},
	{"DELETE", "/api/v1/webhooks/{id}", "/api/v1/webhooks/999999999", NULL,
	 false, ADDS_NOTHING, ROLES(403, 403, 403, 404, 403, 404),
	 ROLES(403, 403, 403, 404, 403, 404), 401},
	{"GET", "/api/v1/webhooks/{id}/deliveries",
	 "/api/v1/webhooks/999999999/deliveries", NULL, false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 200, 403, 200),
	 ROLES(403, 403, 403, 200, 403, 200), 401},
	/* email subscriptions: as webhooks, admins and coordinators */
	{"GET", "/api/v1/email-subscriptions", "/api/v1/email-subscriptions",
	 NULL, false, ADDS_NOTHING, ROLES(403, 403, 403, 200, 403, 200),
	 ROLES(403, 403, 403, 200, 403, 200), 401},
	{"POST", "/api/v1/email-subscriptions", "/api/v1/email-subscriptions",
	 "{\"to\":\"beredskap{n}@example.se\"}", false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 201, 403, 201),
	 ROLES(403, 403, 403, 201, 403, 201), 401},
	{"DELETE", "/api/v1/email-subscriptions/{id}",
	 "/api/v1/email-subscriptions/999999999", NULL, false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 404, 403, 404),
	 ROLES(403, 403, 403, 404, 403, 404), 401},
	/* regional sharing (issue 6): every caller but import jobs reads
	 * help requests, runs and plans, and its own region's proposals; a
	 * region asks for itself (a coordinator on its word); coordinators
	 * run the allocator and may cancel, never decide; the giving region
	 * approves, declines, ships and takes returns; the receiver receives */
	{"GET", "/api/v1/help-requests", "/api/v1/help-requests", NULL, false,
	 ADDS_NOTHING, ROLES(200, 403, 403, 200, 200, 200),
	 ROLES(200, 403, 403, 200, 200, 200), 401},
	{"POST", "/api/v1/help-requests", "/api/v1/help-requests",
	 "{\"region\":\"{r}\",\"product\":\"123456\",\"quantity\":10,"
	 "\"urgency\":\"urgent\",\"reason\":\"matris\"}",
	 true, ADDS_NOTHING, ROLES(201, 403, 403, 201, 403, 403),
	 ROLES(403, 403, 403, 201, 403, 403), 401},
	{"GET", "/api/v1/help-requests/{id}", "/api/v1/help-requests/{help}",
	 NULL, true, ADDS_NOTHING, ROLES(200, 403, 403, 200, 200, 200),
	 ROLES(200, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/help-requests/{id}", "/api/v1/help-requests/999999999",
	 NULL, false, ADDS_NOTHING, ROLES(404, 403, 403, 404, 404, 404),
	 ROLES(404, 403, 403, 404, 404, 404), 401},
	{"POST", "/api/v1/help-requests/{id}/close",
	 "/api/v1/help-requests/{help}/close",
	 "{\"status\":\"closed\",\"reason\":\"matris\"}", true, ADDS_NOTHING,
	 ROLES(200, 403, 403, 200, 403, 403),
	 ROLES(403, 403, 403, 200, 403, 403), 401},
	{"GET", "/api/v1/allocations", "/api/v1/allocations", NULL, false,
	 ADDS_NOTHING, ROLES(200, 403, 403, 200, 200, 200),
	 ROLES(200, 403, 403, 200, 200, 200), 401},
	{"POST", "/api/v1/allocations", "/api/v1/allocations",
	 "{\"product\":\"123456\",\"floor_days\":7}", false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 201, 403, 403),
	 ROLES(403, 403, 403, 201, 403, 403), 401},
	{"GET", "/api/v1/allocations/{id}", "/api/v1/allocations/{run}", NULL,
	 false, ADDS_NOTHING, ROLES(200, 403, 403, 200, 200, 200),
	 ROLES(200, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/proposals", "/api/v1/proposals", NULL, false,
	 ADDS_NOTHING, ROLES(200, 403, 403, 200, 200, 200),
	 ROLES(200, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/proposals", "/api/v1/proposals?region={r}", NULL, true,
	 ADDS_NOTHING, ROLES(200, 403, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/proposals/{id}", "/api/v1/proposals/{prop}", NULL,
	 true, ADDS_NOTHING, ROLES(200, 403, 403, 200, 200, 200),
	 ROLES(403, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/proposals/{id}", "/api/v1/proposals/999999999", NULL,
	 false, ADDS_NOTHING, ROLES(404, 403, 403, 404, 404, 404),
	 ROLES(404, 403, 403, 404, 404, 404), 401},
	{"POST", "/api/v1/proposals/{id}/approve",
	 "/api/v1/proposals/{prop}/approve", NULL, true, ADDS_NOTHING,
	 ROLES(200, 403, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"POST", "/api/v1/proposals/{id}/decline",
	 "/api/v1/proposals/{prop}/decline", "{\"reason\":\"matris\"}", true,
	 ADDS_NOTHING, ROLES(200, 403, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"POST", "/api/v1/proposals/{id}/ship",
	 "/api/v1/proposals/{aprop}/ship", NULL, true, ADDS_EVENT,
	 ROLES(201, 403, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"POST", "/api/v1/proposals/{id}/receive",
	 "/api/v1/proposals/{inprop}/receive", "{}", true, ADDS_EVENT,
	 ROLES(201, 403, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"POST", "/api/v1/proposals/{id}/cancel",
	 "/api/v1/proposals/{aprop}/cancel", "{\"reason\":\"matris\"}", true,
	 ADDS_NOTHING, ROLES(200, 403, 403, 200, 403, 403),
	 ROLES(403, 403, 403, 200, 403, 403), 401},
	{"POST", "/api/v1/proposals/{id}/return",
	 "/api/v1/proposals/{sprop}/return", "{\"reason\":\"matris\"}", true,
	 ADDS_EVENT, ROLES(201, 403, 403, 403, 403, 403),
	 ROLES(403, 403, 403, 403, 403, 403), 401},
	{"GET", "/api/v1/plans", "/api/v1/plans", NULL, false, ADDS_NOTHING,
	 ROLES(200, 403, 403, 200, 200, 200),
	 ROLES(200, 403, 403, 200, 200, 200), 401},
	{"POST", "/api/v1/plans", "/api/v1/plans",
	 "{\"product\":\"123456\",\"capacity\":[10,10]}", false, ADDS_NOTHING,
	 ROLES(403, 403, 403, 201, 403, 403),
	 ROLES(403, 403, 403, 201, 403, 403), 401},
	{"GET", "/api/v1/plans/{id}", "/api/v1/plans/{plan}", NULL, false,
	 ADDS_NOTHING, ROLES(200, 403, 403, 200, 200, 200),
	 ROLES(200, 403, 403, 200, 200, 200), 401},
	{"GET", "/api/v1/in-transit", "/api/v1/in-transit", NULL, false,
	 ADDS_NOTHING, ALL(200), ALL(200), 401},
};

static const char *error_code_for(long status)
{
	switch (status) {
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	default: return "?";
	}
}

static long matrix_expect(const struct matrix_row *m, enum caller c,
			  const char *target)
{
	const struct caller_def *d = &callers[c];

	if (c >= NAUTH)
		return m->anon;
	if (!m->regional)
		return m->own[d->cls];
	if (d->region && strcmp(d->region, target) == 0)
		return m->own[d->cls];
	return m->other[d->cls];
}

/* Is r an error body of exactly the documented shape, with code? */
static bool is_error_body(const struct httpclient_response *r, const char *code)
{
	json_t *j = httpclient_json(r), *err = json_object_get(j, "error");
	json_t *f = json_object_get(err, "field");
	const char *c = json_string_value(json_object_get(err, "code"));
	const char *m = json_string_value(json_object_get(err, "message"));
	bool ok = json_is_object(j) && json_object_size(j) == 1 &&
		  json_is_object(err) && json_object_size(err) == 3 && c &&
		  strcmp(c, code) == 0 && m && m[0] &&
		  (json_is_null(f) || json_is_string(f));

	json_decref(j);
	return ok;
}

/* A cell's failures, gathered so that one run shows every wrong cell. */
struct report {
	char text[16384];
	size_t len;
	int cells, wrong;
};

static void add_problem(struct report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_problem(struct report *rep, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (rep->len >= sizeof(rep->text) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(rep->text + rep->len, sizeof(rep->text) - rep->len, fmt,
		      ap);
	va_end(ap);
	if (n > 0)
		rep->len += (size_t)n;
	if (rep->len > sizeof(rep->text) - 1)
		rep->len = sizeof(rep->text) - 1;
}

/*
 * One cell: the status, the error body of a refusal, and what was
 * written, which for any refusal must be nothing.
 */
static void matrix_call(const struct matrix_row *m, enum caller c,
			const char *target, struct report *rep)
{
	long want = matrix_expect(m, c, target);
	char path[256], body[512], what[512];
	struct call call = {.method = m->method, .who = c};
	struct httpclient_response r;
	struct counts before, after;
	bool ok = true;

	expand(m->path, target, path, sizeof(path));
	if (m->body)
		expand(m->body, target, body, sizeof(body));
	call.path = path;
	call.body = m->body ? body : NULL;
	snprintf(what, sizeof(what), "%s %s as %s%s%s", m->method, path,
		 callers[c].name, target ? ", target region " : "",
		 target ? target : "");
	rep->cells++;
	count_rows(&before);
	try_call(&call, &r);
	count_rows(&after);
	if (r.curl_code != 0) {
		add_problem(rep, "%s: no answer (curl %d)\n", what,
			    r.curl_code);
		ok = false;
	} else if (r.status != want) {
		add_problem(rep, "%s: %ld, wanted %ld: %.200s\n", what,
			    r.status, want, r.body);
		ok = false;
	} else if (want >= 400 && !is_error_body(&r, error_code_for(want))) {
		add_problem(rep, "%s: not an error body of code %s: %.200s\n",
			    what, error_code_for(want), r.body);
		ok = false;
	} else if (want < 300) {
		json_t *j = httpclient_json(&r);

		if (!json_is_object(j)) {
			add_problem(rep, "%s: not a JSON object: %.200s\n",
				    what, r.body);
			ok = false;
		}
		json_decref(j);
	}
	if (r.status >= 200 && r.status < 300 && r.curl_code == 0) {
		enum adds adds = r.status == 201 ? m->adds : ADDS_NOTHING;

		if (after.events != before.events + (adds == ADDS_EVENT) ||
		    after.sites != before.sites + (adds == ADDS_SITE) ||
		    after.products !=
			    before.products + (adds == ADDS_PRODUCT)) {
			add_problem(
				rep,
				"%s: %ld but wrote events %+lld, "
				"sites %+lld, products %+lld\n",
				what, r.status,
				(long long)(after.events - before.events),
				(long long)(after.sites - before.sites),
				(long long)(after.products - before.products));
			ok = false;
		}
	} else if (after.events != before.events ||
		   after.sites != before.sites ||
		   after.products != before.products ||
		   after.audit != before.audit) {
		add_problem(rep, "%s: refused with %ld but wrote something\n",
			    what, r.status);
		ok = false;
	}
	rep->wrong += !ok;
	httpclient_response_free(&r);
}

/*
 * Every api_routes entry has matrix rows and every row names a route; the
 * table keeps own == other where no region tells them apart.
 */
START_TEST(test_matrix_covers_routes)
{
	for (size_t i = 0; i < api_routes_count; i++) {
		int rows = 0;

		for (int k = 0; k < NELEM(matrix); k++)
			rows += strcmp(matrix[k].method,
				       api_routes[i].method) == 0 &&
				strcmp(matrix[k].pattern,
				       api_routes[i].pattern) == 0;
		ck_assert_msg(rows > 0,
			      "route %s %s has no row in the authorization "
			      "matrix of tests/check_api.c",
			      api_routes[i].method, api_routes[i].pattern);
	}
	for (int k = 0; k < NELEM(matrix); k++) {
		const struct matrix_row *m = &matrix[k];
		bool found = false;

		for (size_t i = 0; i < api_routes_count && !found; i++)
			found = strcmp(m->method, api_routes[i].method) == 0 &&
				strcmp(m->pattern, api_routes[i].pattern) == 0;
		ck_assert_msg(found, "matrix row %s %s: no such route",
			      m->method, m->pattern);
		for (int cl = 0; cl < NCLASSES; cl++) {
			bool regionless = cl == C_IMPN || cl == C_COORD ||
					  cl == C_VIEWER || cl == C_ADMIN;

			if (!m->regional || regionless)
				ck_assert_msg(m->own[cl] == m->other[cl],
					      "matrix row %s %s: class %d has "
					      "own %d, other %d",
					      m->method, m->path, cl,
					      m->own[cl], m->other[cl]);
		}
	}
}
END_TEST

/* One matrix row: every caller, each target region. */
START_TEST(test_matrix)
{
	const struct matrix_row *m = &matrix[_i];
	static const char *const targets[] = {"01", "12"};
	struct report rep = {.len = 0};

	for (int c = 0; c < NCALLERS; c++) {
		if (!m->regional) {
			matrix_call(m, c, NULL, &rep);
			continue;
		}
		for (int t = 0; t < NELEM(targets); t++)
			matrix_call(m, c, targets[t], &rep);
	}
	ck_assert_msg(rep.wrong == 0, "%s %s: %d of %d cells wrong:\n%s",
		      m->method, m->path, rep.wrong, rep.cells, rep.text);
}
END_TEST

/*
 * Behind the 401s: what the server says without a usable token, and that
 * a good token still works after them.
 */
START_TEST(test_unauthenticated)
{
	static const enum caller bad[] = {ANON,	   REVOKED, EXPIRED, DISABLED,
					  GARBAGE, FORGED,  BASIC};
	struct call c = {.path = "/api/v1/regions"};
	struct httpclient_response r;
	char v[128];

	for (int i = 0; i < NELEM(bad); i++) {
		c.who = bad[i];
		send_call(&c, &r);
		ck_assert_msg(r.status == 401, "%s: " RES_FMT,
			      callers[bad[i]].name, RES_ARGS(&r));
		ck_assert_msg(httpclient_header(&r, "WWW-Authenticate", v,
						sizeof(v)) &&
				      strncmp(v, "Bearer", 6) == 0,
			      "%s: no WWW-Authenticate: Bearer",
			      callers[bad[i]].name);
		want_error_body(callers[bad[i]].name, &r, "unauthorized", NULL,
				NULL);
		httpclient_response_free(&r);
	}
	c.who = RC01;
	json_decref(want_json(&c, 200));
}
END_TEST

/* ---- region isolation and the national picture ---- */

/* qty of a totals row; a number, like every other quantity. */
static int64_t row_qty(const json_t *row, const char *what)
{
	json_t *q = json_object_get(row, "qty");

	ck_assert_msg(json_is_integer(q),
		      "%s: qty is %s, not a JSON integer (%s)", what,
		      json_is_string(q) ? "a string" : "not a number",
		      json_is_string(q) ? json_string_value(q) : "");
	return (int64_t)json_integer_value(q);
}

static json_t *rows_of(json_t *body, const char *member)
{
	json_t *rows = json_object_get(body, member);

	ck_assert_msg(json_is_array(rows), "no %s array", member);
	return rows;
}

START_TEST(test_contact_sees_national_totals)
{
	struct call c = {.path = "/api/v1/totals?by=region", .who = RC01};
	json_t *mine, *coord, *row;
	bool saw01 = false, saw12 = false;
	size_t i;

	mine = want_json(&c, 200);
	json_array_foreach(rows_of(mine, "rows"), i, row)
	{
		const char *region = str_member(row, "region");

		if (strcmp(str_member(row, "product"), "123456") != 0)
			continue;
		if (strcmp(region, "12") == 0) {
			saw12 = true;
			ck_assert_int_eq(row_qty(row, "by=region"),
					 owner_scalar1("SELECT sum(quantity)"
						       " FROM stock_balance"
						       " WHERE region_code = $1"
						       " AND product_id = "
						       "(SELECT id FROM product"
						       " WHERE vnr = '123456')",
						       "12"));
		}
		saw01 |= strcmp(region, "01") == 0;
	}
	ck_assert_msg(saw01 && saw12,
		      "rc.01's totals by region lack region 01 or 12");
	/* The shared picture is the same for everyone. */
	c.who = COORD;
	coord = want_json(&c, 200);
	ck_assert_msg(json_equal(mine, coord),
		      "rc.01 and the coordinator see different totals");
	json_decref(mine);
	json_decref(coord);
}
END_TEST

START_TEST(test_contact_denied_other_detail)
{
	static const struct {
		const char *path, *field;
	} denied[] = {
		{"/api/v1/balances?region=12", "region"},
		{"/api/v1/balances?site=12-CL", "site"},
		{"/api/v1/balances?site=12-B&product=123456", "site"},
		{"/api/v1/stock-events?region=12", "region"},
		{"/api/v1/stock-events?site=12-CL", "site"},
		{"/api/v1/stock-events?site=12-B&kind=receipt", "site"},
	};
	struct call c = {.who = RC01};

	for (int i = 0; i < NELEM(denied); i++) {
		c.path = denied[i].path;
		want_refused(&c, 403, "forbidden", denied[i].field, NULL);
	}
	/* The importer of region 01 is held to the same. */
	c.who = IMP01;
	for (int i = 0; i < NELEM(denied); i++) {
		c.path = denied[i].path;
		want_refused(&c, 403, "forbidden", denied[i].field, NULL);
	}
}
END_TEST

/* Without a region, a region-scoped caller reads its own region only. */
START_TEST(test_contact_reads_own_region_only)
{
	static const struct {
		const char *path, *member;
	} reads[] = {
		{"/api/v1/balances", "balances"},
		{"/api/v1/balances?product=123456", "balances"},
		{"/api/v1/stock-events", "events"},
		{"/api/v1/stock-events?product=123456", "events"},
	};
	struct call c = {.who = RC12};

	for (int i = 0; i < NELEM(reads); i++) {
		json_t *body, *row;
		size_t k, n = 0;

		c.path = reads[i].path;
		body = want_json(&c, 200);
		json_array_foreach(rows_of(body, reads[i].member), k, row)
		{
			ck_assert_msg(strcmp(str_member(row, "region"), "12") ==
					      0,
				      "%s as rc.12 shows region %s",
				      reads[i].path, str_member(row, "region"));
			n++;
		}
		ck_assert_msg(n > 0, "%s as rc.12: no rows", reads[i].path);
		json_decref(body);
	}
}
END_TEST

/* National totals by product equal the sum over regions, and the ledger. */
START_TEST(test_national_totals_sum)
{
	struct call c = {.path = "/api/v1/totals?by=product", .who = COORD};
	json_t *by_product, *by_region, *row, *rrow;
	size_t i, k;
	int products = 0;

	by_product = want_json(&c, 200);
	c.path = "/api/v1/totals?by=region";
	by_region = want_json(&c, 200);
	json_array_foreach(rows_of(by_product, "rows"), i, row)
	{
		const char *product = str_member(row, "product");
		int64_t sum = 0;

		json_array_foreach(rows_of(by_region, "rows"), k,
				   rrow) if (strcmp(str_member(rrow, "product"),
						    product) == 0) sum +=
			row_qty(rrow, "by=region");
		ck_assert_msg(row_qty(row, "by=product") == sum,
			      "product %s: national %lld, sum of regions %lld",
			      product, (long long)row_qty(row, "by=product"),
			      (long long)sum);
		ck_assert_int_eq(
			sum, owner_scalar1("SELECT coalesce(sum(b.quantity),"
					   " 0) FROM stock_balance b"
					   " JOIN product p ON p.id ="
					   " b.product_id WHERE p.vnr = $1",
					   product));
		products++;
	}
	ck_assert_int_eq(products, 2);
	json_decref(by_product);
	json_decref(by_region);
}
END_TEST

/* ---- audit ---- */

/* A write over HTTP records the user, the token, the address and request. */
START_TEST(test_writes_record_who)
{
	struct call c = {.method = "POST",
			 .path = "/api/v1/stock-events",
			 .who = RC01,
			 .body = "{\"site\":\"01-CL\",\"product\":\"123456\","
				 "\"kind\":\"receipt\",\"qty\":2}"};
	struct httpclient_response r;
	char request_id[64], id[24];
	const char *params[2] = {id, request_id};
	json_t *j;

	send_call(&c, &r);
	ck_assert_msg(r.status == 201, RES_FMT, RES_ARGS(&r));
	ck_assert_msg(httpclient_header(&r, "X-Request-Id", request_id,
					sizeof(request_id)),
		      "no X-Request-Id");
	j = httpclient_json(&r);
	snprintf(
		id, sizeof(id), "%lld",
		(long long)int_member(
			json_array_get(json_object_get(j, "events"), 0), "id"));
	json_decref(j);
	httpclient_response_free(&r);
	ck_assert_int_eq(
		testdb_scalar_params(
			own,
			"SELECT count(*) FROM stock_event e"
			" JOIN api_token t ON t.id = e.token_id"
			" JOIN app_user u ON u.id = t.user_id"
			" WHERE e.id = $1 AND u.username = 'rc.01'"
			" AND e.recorded_by = 'rc.01' AND e.source = 'api'"
			" AND e.remote = '127.0.0.1'"
			" AND e.request_id = $2::uuid",
			2, params),
		1);

	c.method = "PATCH";
	c.path = "/api/v1/sites/12-B";
	c.who = ADMIN;
	c.body = "{\"name\":\"Reservlager Skåne\"}";
	send_call(&c, &r);
	ck_assert_msg(r.status == 200, RES_FMT, RES_ARGS(&r));
	ck_assert_msg(httpclient_header(&r, "X-Request-Id", request_id,
					sizeof(request_id)),
		      "no X-Request-Id");
	httpclient_response_free(&r);
	ck_assert_int_eq(
		testdb_scalar_params(
			own,
			"SELECT count(*) FROM audit_log a"
			" JOIN api_token t ON t.id = a.token_id"
			" JOIN app_user u ON u.id = t.user_id"
			" WHERE a.table_name = 'site' AND a.operation = 'UPDATE'"
			" AND a.actor = 'admin' AND u.username = 'admin'"
			" AND a.role = 'admin' AND a.remote = '127.0.0.1'"
			" AND a.request_id = $2::uuid"
			" AND a.new_row->>'name' = 'Reservlager Skåne'"
			" AND $1::text IS NOT NULL",
			2, params),
		1);
}
END_TEST

/* ---- idempotent retries ---- */

static json_t *post_events(enum caller who, const char *key, const char *body,
			   long status)
{
	char header[80];
	struct call c = {.method = "POST",
			 .path = "/api/v1/stock-events",
			 .who = who,
			 .body = body};

	if (key) {
		snprintf(header, sizeof(header), "Idempotency-Key: %s", key);
		c.header = header;
	}
	return want_json(&c, status);
}

/* The events of a POST answer; n of them, with replayed as wanted. */
static json_t *events_of(json_t *body, size_t n, int replayed)
{
	json_t *evs = rows_of(body, "events"), *ev;
	size_t i;

	ck_assert_msg(json_array_size(evs) == n, "%zu events, wanted %zu",
		      json_array_size(evs), n);
	json_array_foreach(evs, i, ev)
	{
		json_t *r = json_object_get(ev, "replayed");

		ck_assert_msg(json_is_boolean(r), "no replayed");
		if (replayed >= 0)
			ck_assert_msg(json_is_true(r) == (replayed == 1),
				      "event %zu: replayed %d, wanted %d", i,
				      json_is_true(r), replayed);
	}
	return evs;
}

static int64_t rows_with_key(const char *key)
{
	return owner_scalar1("SELECT count(*) FROM stock_event"
			     " WHERE idempotency_key = $1::uuid",
			     key);
}

#define ONE_EVENT(qty)                                                     \
	"{\"site\":\"01-CL\",\"product\":\"123456\",\"kind\":\"receipt\"," \
	"\"qty\":" qty "}"

START_TEST(test_idempotent_single)
{
	char key[37], upper[37];
	struct counts before, after;
	json_t *a, *b;
	int64_t id;

	random_key(key);
	count_rows(&before);
	a = post_events(RC01, key, ONE_EVENT("5"), 201);
	id = int_member(json_array_get(events_of(a, 1, 0), 0), "id");
	ck_assert_str_eq(
		str_member(json_array_get(events_of(a, 1, 0), 0), "key"), key);
	b = post_events(RC01, key, ONE_EVENT("5"), 200);
	ck_assert_int_eq(
		int_member(json_array_get(events_of(b, 1, 1), 0), "id"), id);
	json_decref(b);
	/* The key is a UUID: its case does not make it another key. */
	for (int i = 0; i < 36; i++)
		upper[i] = (char)(key[i] >= 'a' && key[i] <= 'f' ? key[i] - 32 :
								   key[i]);
	upper[36] = '\0';
	b = post_events(RC01, upper, ONE_EVENT("5"), 200);
	ck_assert_int_eq(
		int_member(json_array_get(events_of(b, 1, 1), 0), "id"), id);
	json_decref(b);
	count_rows(&after);
	want_counts("retried event", &before, &after, ADDS_EVENT);
	ck_assert_int_eq(rows_with_key(key), 1);
	json_decref(a);
}
END_TEST

START_TEST(test_idempotent_conflict)
{
	char key[37], header[80];
	struct call c = {.method = "POST",
			 .path = "/api/v1/stock-events",
			 .who = RC01,
			 .header = header,
			 .body = ONE_EVENT("6")};

	random_key(key);
	snprintf(header, sizeof(header), "Idempotency-Key: %s", key);
	json_decref(post_events(RC01, key, ONE_EVENT("5"), 201));
	want_refused(&c, 409, "conflict", NULL, "already used");
	/* Another site is another event too. */
	c.body = "{\"site\":\"01-B\",\"product\":\"123456\","
		 "\"kind\":\"receipt\",\"qty\":5}";
	want_refused(&c, 409, "conflict", NULL, "already used");
	/* A key names one event nationally, not one per region. */
	c.who = RC12;
	c.body = "{\"site\":\"12-CL\",\"product\":\"123456\","
		 "\"kind\":\"receipt\",\"qty\":5}";
	want_refused(&c, 409, "conflict", NULL, "already used");
	/* A batch is another body too, whatever keys it derives per event. */
	c.who = RC01;
	c.body = "{\"events\":[{\"site\":\"01-CL\",\"product\":\"123456\","
		 "\"kind\":\"receipt\",\"qty\":7},{\"site\":\"01-B\","
		 "\"product\":\"123456\",\"kind\":\"receipt\",\"qty\":7}]}";
	want_refused(&c, 409, "conflict", NULL, NULL);
	ck_assert_int_eq(rows_with_key(key), 1);
}
END_TEST

#define BATCH3_LIST                                                         \
	"[{\"site\":\"01-CL\",\"product\":\"123456\",\"kind\":\"receipt\"," \
	"\"qty\":3},"                                                       \
	"{\"site\":\"01-B\",\"product\":\"123456\",\"kind\":\"receipt\","   \
	"\"qty\":4},"                                                       \
	"{\"site\":\"01-CL\",\"product\":\"234567\",\"kind\":\"issue\","    \
	"\"qty\":1}]"
#define BATCH3 "{\"events\":" BATCH3_LIST "}"

START_TEST(test_idempotent_batch)
{
	char key[37];
	struct counts before, mid, after;
	json_t *a, *b;
	int64_t ids[3];

	random_key(key);
	count_rows(&before);
	a = post_events(RC01, key, BATCH3, 201);
	for (size_t i = 0; i < 3; i++)
		ids[i] =
			int_member(json_array_get(events_of(a, 3, 0), i), "id");
	ck_assert_msg(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
		      "batch ids not distinct");
	count_rows(&mid);
	ck_assert_int_eq(mid.events, before.events + 3);
	b = post_events(RC01, key, BATCH3, 200);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(
			int_member(json_array_get(events_of(b, 3, 1), i), "id"),
			ids[i]);
	json_decref(b);
	/* The bare-array form of the same batch is the same request. */
	b = post_events(RC01, key, BATCH3_LIST, 200);
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(
			int_member(json_array_get(events_of(b, 3, 1), i), "id"),
			ids[i]);
	json_decref(b);
	count_rows(&after);
	ck_assert_int_eq(after.events, mid.events);
	json_decref(a);
}
END_TEST

START_TEST(test_idempotent_key_per_event)
{
	char k[3][37], body[1024], body2[1024];
	struct counts before, after;
	json_t *a, *b;
	int64_t ids[3];

	for (int i = 0; i < 3; i++)
		random_key(k[i]);
	snprintf(body, sizeof(body),
		 "[{\"site\":\"01-CL\",\"product\":\"123456\",\"kind\":"
		 "\"receipt\",\"qty\":2,\"key\":\"%s\"},"
		 "{\"site\":\"01-B\",\"product\":\"123456\",\"kind\":"
		 "\"receipt\",\"qty\":2,\"key\":\"%s\"}]",
		 k[0], k[1]);
	count_rows(&before);
	a = post_events(RC01, NULL, body, 201);
	for (size_t i = 0; i < 2; i++) {
		json_t *ev = json_array_get(events_of(a, 2, 0), i);

		ids[i] = int_member(ev, "id");
		ck_assert_str_eq(str_member(ev, "key"), k[i]);
	}
	b = post_events(RC01, NULL, body, 200);
	for (size_t i = 0; i < 2; i++)
		ck_assert_int_eq(
			int_member(json_array_get(events_of(b, 2, 1), i), "id"),
			ids[i]);
	json_decref(b);
	/* Two seen before and one new: only the new one is written. */
	snprintf(body2, sizeof(body2),
		 "{\"events\":[{\"site\":\"01-CL\",\"product\":\"123456\","
		 "\"kind\":\"receipt\",\"qty\":2,\"key\":\"%s\"},"
		 "{\"site\":\"01-B\",\"product\":\"123456\",\"kind\":"
		 "\"receipt\",\"qty\":2,\"key\":\"%s\"},"
		 "{\"site\":\"01-B\",\"product\":\"234567\",\"kind\":"
		 "\"receipt\",\"qty\":9,\"key\":\"%s\"}]}",
		 k[0], k[1], k[2]);
	b = post_events(RC01, NULL, body2, 201);
	events_of(b, 3, -1);
	for (size_t i = 0; i < 3; i++) {
		json_t *ev = json_array_get(events_of(b, 3, -1), i);

		ck_assert_msg(json_is_true(json_object_get(ev, "replayed")) ==
				      (i < 2),
			      "event %zu: replayed wrong", i);
		if (i < 2)
			ck_assert_int_eq(int_member(ev, "id"), ids[i]);
	}
	json_decref(b);
	count_rows(&after);
	ck_assert_int_eq(after.events, before.events + 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(rows_with_key(k[i]), 1);
	json_decref(a);
}
END_TEST

START_TEST(test_idempotent_reversal)
{
	char key[37], header[80], path[96];
	struct call c = {.method = "POST",
			 .path = path,
			 .who = RC01,
			 .header = header,
			 .body = "{\"reason\":\"felräkning\"}"};
	int64_t orig = fresh_event("01"), id;
	json_t *a, *b;

	random_key(key);
	snprintf(header, sizeof(header), "Idempotency-Key: %s", key);
	snprintf(path, sizeof(path), "/api/v1/stock-events/%lld/reversal",
		 (long long)orig);
	a = want_json(&c, 201);
	id = int_member(a, "id");
	ck_assert_int_eq(int_member(a, "reverses"), orig);
	ck_assert_int_eq(int_member(a, "delta"), -1);
	ck_assert_msg(json_is_false(json_object_get(a, "replayed")),
		      "first reversal replayed");
	b = want_json(&c, 200);
	ck_assert_int_eq(int_member(b, "id"), id);
	ck_assert_msg(json_is_true(json_object_get(b, "replayed")),
		      "retried reversal not replayed");
	ck_assert_int_eq(rows_with_key(key), 1);
	json_decref(a);
	json_decref(b);
}
END_TEST

/* ---- the catalogue of bad input ---- */

enum gen {
	GEN_NONE,
	GEN_1001,  /* a batch of 1001 events */
	GEN_BIG,   /* 70000 bytes */
	GEN_DEEP,  /* a value nested 100 deep */
	GEN_LOT65, /* a lot of 65 characters */
};

static const struct bad_case {
	const char *method, *path; /* templates, see expand() */
	enum caller who;
	const char *header;
	const char *body; /* template; NULL: none (or made by gen) */
	enum gen gen;
	long status;
	const char *code, *field, *msg;
} bad[] = {
#define SE "/api/v1/stock-events"
#define EVT(rest) "{\"site\":\"01-CL\",\"product\":\"123456\"," rest "}"
#define RCPT(qty) EVT("\"kind\":\"receipt\",\"qty\":" qty)
#define KIND(k, qty) EVT("\"kind\":\"" k "\",\"qty\":" qty)
#define BADEV(...)                                  \
	{                                           \
		"POST", SE, RC01, NULL, __VA_ARGS__ \
	}
	/* malformed JSON */
	BADEV("{\"site\":\"01-CL\",\"product\":\"123456\"", GEN_NONE, 400,
	      "invalid", NULL, "malformed JSON"),
	BADEV(RCPT("1") " x", GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV(RCPT("1") "}", GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV("{'site':'01-CL','product':'123456','kind':'receipt','qty':1}",
	      GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV(RCPT("NaN"), GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV(RCPT("Infinity"), GEN_NONE, 400, "invalid", NULL,
	      "malformed JSON"),
	BADEV("\"receipt\"", GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV("42", GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV("null", GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV("", GEN_NONE, 400, "invalid", NULL, "empty"),
	BADEV("{\"site\":\"01-CL\",\"product\":\"123456\",\"kind\":\"receipt\","
	      "\"qty\":1,}",
	      GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV("{}", GEN_NONE, 400, "invalid", "site", "site: missing"),
	BADEV("[]", GEN_NONE, 400, "invalid", "events", "0 events"),
	BADEV("[1]", GEN_NONE, 400, "invalid", "events[0]",
	      "must be an object"),
	/* wrong types */
	BADEV(RCPT("\"5\""), GEN_NONE, 400, "invalid", "qty",
	      "must be a whole number"),
	BADEV(RCPT("5.5"), GEN_NONE, 400, "invalid", "qty",
	      "must be a whole number"),
	BADEV(RCPT("5.0"), GEN_NONE, 400, "invalid", "qty",
	      "must be a whole number"),
	BADEV(RCPT("true"), GEN_NONE, 400, "invalid", "qty",
	      "must be a whole number"),
	BADEV(RCPT("[5]"), GEN_NONE, 400, "invalid", "qty",
	      "must be a whole number"),
	BADEV(RCPT("null"), GEN_NONE, 400, "invalid", "qty", "qty: missing"),
	BADEV("{\"site\":7,\"product\":\"123456\",\"kind\":\"receipt\","
	      "\"qty\":1}",
	      GEN_NONE, 400, "invalid", "site", "must be a string"),
	BADEV("{\"site\":\"01-CL\",\"product\":123456,\"kind\":\"receipt\","
	      "\"qty\":1}",
	      GEN_NONE, 400, "invalid", "product", "must be a string"),
	BADEV(EVT("\"kind\":{},\"qty\":1"), GEN_NONE, 400, "invalid", "kind",
	      "must be a string"),
	BADEV("{\"events\":{}}", GEN_NONE, 400, "invalid", "events",
	      "must be an array"),
	BADEV("{\"events\":\"x\"}", GEN_NONE, 400, "invalid", "events",
	      "must be an array"),
	BADEV("{\"events\":[]}", GEN_NONE, 400, "invalid", "events",
	      "0 events"),
	BADEV(NULL, GEN_1001, 400, "invalid", "events", "1001 events"),
	BADEV("{\"events\":[" RCPT("1") "],\"extra\":1}", GEN_NONE, 400,
	      "invalid", NULL, "nothing else"),
	BADEV("{\"events\":[" RCPT("1") ",\"x\"]}", GEN_NONE, 400, "invalid",
	      "events[1]", "must be an object"),
	/* unknown fields */
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"colour\":\"red\""),
	      GEN_NONE, 400, "invalid", "colour", "colour: unknown field"),
	BADEV("{\"events\":[" RCPT("1") "," EVT("\"kind\":\"receipt\","
						"\"qty\":1,\"x\":1") "]}",
	      GEN_NONE, 400, "invalid", "events[1].x",
	      "events[1].x: unknown field"),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"region\":\"01\""), GEN_NONE,
	      400, "invalid", "region", "unknown field"),
	/* each required field missing */
	BADEV("{\"product\":\"123456\",\"kind\":\"receipt\",\"qty\":1}",
	      GEN_NONE, 400, "invalid", "site", "site: missing"),
	BADEV("{\"site\":\"01-CL\",\"kind\":\"receipt\",\"qty\":1}", GEN_NONE,
	      400, "invalid", "product", "product: missing"),
	BADEV(EVT("\"qty\":1"), GEN_NONE, 400, "invalid", "kind",
	      "kind: missing"),
	BADEV(EVT("\"kind\":\"receipt\""), GEN_NONE, 400, "invalid", "qty",
	      "qty: missing"),
	BADEV("{\"events\":[" RCPT("1") ",{\"site\":\"01-CL\",\"kind\":"
					"\"receipt\",\"qty\":1}]}",
	      GEN_NONE, 400, "invalid", "events[1].product",
	      "events[1].product: missing"),
	/* huge numbers */
	BADEV(RCPT("1e30"), GEN_NONE, 400, "invalid", "qty",
	      "must be a whole number"),
	BADEV(RCPT("99999999999999999999"), GEN_NONE, 400, "invalid", NULL,
	      "malformed JSON"),
	BADEV(RCPT("-99999999999999999999"), GEN_NONE, 400, "invalid", NULL,
	      "malformed JSON"),
	BADEV(RCPT("1000000000001"), GEN_NONE, 400, "invalid", "qty",
	      "between 1 and 1000000000000"),
	BADEV(RCPT("9223372036854775807"), GEN_NONE, 400, "invalid", "qty",
	      "between 1 and 1000000000000"),
	BADEV(KIND("count", "1000000000001"), GEN_NONE, 400, "invalid", "qty",
	      "a count must be between 0"),
	BADEV(EVT("\"kind\":\"adjustment\",\"qty\":-1000000000001,"
		  "\"reason\":\"svinn\""),
	      GEN_NONE, 400, "invalid", "qty", "non-zero and within"),
	/* zero and negative quantities, per kind */
	BADEV(KIND("receipt", "0"), GEN_NONE, 400, "invalid", "qty",
	      "must be between 1"),
	BADEV(KIND("receipt", "-1"), GEN_NONE, 400, "invalid", "qty",
	      "must be between 1"),
	BADEV(KIND("issue", "0"), GEN_NONE, 400, "invalid", "qty",
	      "must be between 1"),
	BADEV(KIND("issue", "-5"), GEN_NONE, 400, "invalid", "qty",
	      "must be between 1"),
	BADEV(KIND("transfer_out", "-1"), GEN_NONE, 400, "invalid", "qty",
	      "for transfer_out"),
	BADEV(KIND("transfer_in", "0"), GEN_NONE, 400, "invalid", "qty",
	      "for transfer_in"),
	BADEV(KIND("expiry_writeoff", "0"), GEN_NONE, 400, "invalid", "qty",
	      "for expiry_writeoff"),
	BADEV(KIND("count", "-1"), GEN_NONE, 400, "invalid", "qty",
	      "a count must be between 0"),
	BADEV(EVT("\"kind\":\"adjustment\",\"qty\":0,\"reason\":\"svinn\""),
	      GEN_NONE, 400, "invalid", "qty", "must be non-zero"),
	BADEV(KIND("adjustment", "5"), GEN_NONE, 400, "invalid", "reason",
	      "a reason is required for adjustment"),
	BADEV(EVT("\"kind\":\"adjustment\",\"qty\":5,\"reason\":\"\""),
	      GEN_NONE, 400, "invalid", "reason", "a reason is required"),
	/* kinds */
	BADEV(KIND("reversal", "1"), GEN_NONE, 400, "invalid", "kind",
	      "/reversal"),
	BADEV(KIND("gift", "1"), GEN_NONE, 400, "invalid", "kind",
	      "not one of"),
	BADEV(KIND("RECEIPT", "1"), GEN_NONE, 400, "invalid", "kind",
	      "not one of"),
	BADEV(KIND("", "1"), GEN_NONE, 400, "invalid", "kind", "not one of"),
	/* identifiers */
	BADEV("{\"site\":\"01 CL\",\"product\":\"123456\",\"kind\":"
	      "\"receipt\",\"qty\":1}",
	      GEN_NONE, 400, "invalid", "site", "only letters"),
	BADEV("{\"site\":\"\",\"product\":\"123456\",\"kind\":\"receipt\","
	      "\"qty\":1}",
	      GEN_NONE, 400, "invalid", "site", "must not be empty"),
	BADEV("{\"site\":\"99-XX\",\"product\":\"123456\",\"kind\":"
	      "\"receipt\",\"qty\":1}",
	      GEN_NONE, 400, "invalid", "site", "no such site"),
	BADEV("{\"events\":[" RCPT(
		      "1") ",{\"site\":\"99-XX\",\"product\":"
			   "\"123456\",\"kind\":\"receipt\",\"qty\":1}]}",
	      GEN_NONE, 400, "invalid", "events[1].site", "no such site"),
	BADEV("{\"site\":\"01-CL\",\"product\":\"12345\",\"kind\":\"receipt\","
	      "\"qty\":1}",
	      GEN_NONE, 400, "invalid", "product", "not a Vnr"),
	BADEV("{\"site\":\"01-CL\",\"product\":\"7350012345671\",\"kind\":"
	      "\"receipt\",\"qty\":1}",
	      GEN_NONE, 400, "invalid", "product", "wrong check digit"),
	BADEV("{\"site\":\"01-CL\",\"product\":\"vnr:12\",\"kind\":"
	      "\"receipt\",\"qty\":1}",
	      GEN_NONE, 400, "invalid", "product", "exactly 6 digits"),
	BADEV("{\"site\":\"01-CL\",\"product\":\"sku:1\",\"kind\":"
	      "\"receipt\",\"qty\":1}",
	      GEN_NONE, 400, "invalid", "product", "prefix must be"),
	BADEV("{\"site\":\"01-CL\",\"product\":\"654321\",\"kind\":"
	      "\"receipt\",\"qty\":1}",
	      GEN_NONE, 400, "invalid", "product", "no such product"),
	BADEV("{\"site\":\"01-CL\",\"product\":\"id:999999\",\"kind\":"
	      "\"receipt\",\"qty\":1}",
	      GEN_NONE, 400, "invalid", "product", "no such product"),
	/* dates */
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"expiry\":\"2023-02-29\""),
	      GEN_NONE, 400, "invalid", "expiry", "no such day"),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"expiry\":\"2024-13-01\""),
	      GEN_NONE, 400, "invalid", "expiry", "month must be 01 to 12"),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"expiry\":\"tomorrow\""),
	      GEN_NONE, 400, "invalid", "expiry", "not a date"),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"expiry\":\"2025-1-1\""),
	      GEN_NONE, 400, "invalid", "expiry", "not a date"),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"occurred_at\":"
		  "\"not a time\""),
	      GEN_NONE, 400, "invalid", "occurred_at", NULL),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"occurred_at\":"
		  "\"2999-01-01T00:00:00Z\""),
	      GEN_NONE, 400, "invalid", "occurred_at", "in the future"),
	/* lots */
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"lot\":\" A1\""), GEN_NONE,
	      400, "invalid", "lot", "must not start or end with a blank"),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"lot\":\"A1 \""), GEN_NONE,
	      400, "invalid", "lot", "must not start or end with a blank"),
	BADEV(NULL, GEN_LOT65, 400, "invalid", "lot", "longer than 64"),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"lot\":\"A\\u0001B\""),
	      GEN_NONE, 400, "invalid", "lot", "printable ASCII"),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"lot\":\"\xc3\x84"
		  "1\""),
	      GEN_NONE, 400, "invalid", "lot", "printable ASCII"),
	/* bad UTF-8, NUL, duplicates, depth */
	BADEV(EVT("\"kind\":\"adjustment\",\"qty\":1,\"reason\":\"a\xc3"
		  "\x28"
		  "b\""),
	      GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV(EVT("\"kind\":\"adjustment\",\"qty\":1,\"reason\":\"a\xc0\xaf"
		  "b\""),
	      GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV(EVT("\"kind\":\"adjustment\",\"qty\":1,\"reason\":\"\xed\xa0"
		  "\x80\""),
	      GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV(EVT("\"kind\":\"adjustment\",\"qty\":1,\"reason\":"
		  "\"a\\u0000b\""),
	      GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV(EVT("\"kind\":\"adjustment\",\"qty\":1,\"reason\":\"\\ud800\""),
	      GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV(EVT("\"kind\":\"adjustment\",\"qty\":1,\"reason\":\"a\\tb\""),
	      GEN_NONE, 400, "invalid", "reason", "control character"),
	BADEV("{\"site\":\"01-CL\",\"site\":\"12-CL\",\"product\":\"123456\","
	      "\"kind\":\"receipt\",\"qty\":1}",
	      GEN_NONE, 400, "invalid", NULL, "malformed JSON"),
	BADEV(NULL, GEN_DEEP, 400, "invalid", NULL, "nested deeper"),
	/* idempotency keys */
	{"POST", SE, RC01, "Idempotency-Key: abc", RCPT("1"), GEN_NONE, 400,
	 "invalid", "Idempotency-Key", "not a UUID"},
	{"POST", SE, RC01, "Idempotency-Key: 0b7a3c1e-5d2f-4e8a-9c6b",
	 RCPT("1"), GEN_NONE, 400, "invalid", "Idempotency-Key", "not a UUID"},
	{"POST", SE, RC01,
	 "Idempotency-Key: 0b7a3c1e-5d2f-4e8a-9c6b-1f2e3d4c5b6a",
	 EVT("\"kind\":\"receipt\",\"qty\":1,\"key\":"
	     "\"9f7a3c1e-5d2f-4e8a-9c6b-1f2e3d4c5b6a\""),
	 GEN_NONE, 400, "invalid", "key", "differs from the Idempotency-Key"},
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"key\":\"not-a-uuid\""),
	      GEN_NONE, 400, "invalid", "key", "not a UUID"),
	BADEV(EVT("\"kind\":\"receipt\",\"qty\":1,\"key\":7"), GEN_NONE, 400,
	      "invalid", "key", "must be a string"),
	/* size */
	BADEV(NULL, GEN_BIG, 413, "too_large", NULL, "larger than 65536"),
	/* conflicts: a negative balance, all or nothing */
	BADEV(KIND("issue", "1000000000000"), GEN_NONE, 409, "conflict", NULL,
	      "balance would go negative"),
	BADEV("{\"events\":[" RCPT("1") "," KIND("issue", "1000000000000") "]}",
	      GEN_NONE, 409, "conflict", NULL, "balance would go negative"),
	/* query parameters */
	{"GET", SE "?region=01&limit=0", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "limit", "at least 1"},
	{"GET", SE "?region=01&limit=abc", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "limit", "not a whole number"},
	{"GET", SE "?region=01&limit=100000", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "limit", "at most 1000"},
	{"GET", SE "?region=01&limit=", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "limit", NULL},
	{"GET", SE "?region=01&after=-1", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "after", "at least 0"},
	{"GET", SE "?region=01&after=1x", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "after", "not a whole number"},
	{"GET", SE "?region=01&kind=gift", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "kind", "not one of"},
	{"GET", SE "?region=01&product=12345", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "product", "not a Vnr"},
	{"GET", SE "?region=02", COORD, NULL, NULL, GEN_NONE, 400, "invalid",
	 "region", "not a Swedish region code"},
	{"GET", SE, COORD, NULL, NULL, GEN_NONE, 400, "invalid", "region",
	 "?region="},
	{"GET", SE "?site=01-CL&region=12", COORD, NULL, NULL, GEN_NONE, 400,
	 "invalid", "site", "not in region 12"},
	{"GET", SE "?site=99-XX", COORD, NULL, NULL, GEN_NONE, 400, "invalid",
	 "site", "no such site"},
	{"GET", "/api/v1/balances?region=02", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "region", "not a Swedish region code"},
	{"GET", "/api/v1/balances?region=1", COORD, NULL, NULL, GEN_NONE, 400,
	 "invalid", "region", "not a Swedish region code"},
	{"GET", "/api/v1/balances?site=no%20such", COORD, NULL, NULL, GEN_NONE,
	 400, "invalid", "site", "only letters"},
	{"GET", "/api/v1/balances?site=99-XX", COORD, NULL, NULL, GEN_NONE, 400,
	 "invalid", "site", "no such site"},
	{"GET", "/api/v1/balances?limit=0", COORD, NULL, NULL, GEN_NONE, 400,
	 "invalid", "limit", "at least 1"},
	{"GET", "/api/v1/balances", COORD, NULL, NULL, GEN_NONE, 400, "invalid",
	 "region", NULL},
	{"GET", "/api/v1/totals?by=x", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "by", "not product, region or category"},
	{"GET", "/api/v1/totals?critical=maybe", RC01, NULL, NULL, GEN_NONE,
	 400, "invalid", "critical", "true or false"},
	{"GET", "/api/v1/totals?category=food", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "category", "not one of"},
	{"GET", "/api/v1/totals?product=654321", RC01, NULL, NULL, GEN_NONE,
	 400, "invalid", "product", "no such product"},
	{"GET", "/api/v1/sites?region=99", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "region", "not a Swedish region code"},
	{"GET", "/api/v1/products?limit=abc", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "limit", "not a whole number"},
	{"GET", "/api/v1/products?after=x", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", "after", "not a whole number"},
	{"GET", "/api/v1/products?category=food", RC01, NULL, NULL, GEN_NONE,
	 400, "invalid", "category", "not one of"},
	/* reversals */
	{"POST", SE "/999999999/reversal", RC01, NULL, "{\"reason\":\"x\"}",
	 GEN_NONE, 404, "not_found", "id", "999999999"},
	{"POST", SE "/{rev}/reversal", RC01, NULL, "{\"reason\":\"x\"}",
	 GEN_NONE, 409, "conflict", NULL, "already reversed"},
	{"POST", SE "/{revev}/reversal", RC01, NULL, "{\"reason\":\"x\"}",
	 GEN_NONE, 400, "invalid", NULL, "itself a reversal"},
	{"POST", SE "/abc/reversal", RC01, NULL, "{\"reason\":\"x\"}", GEN_NONE,
	 400, "invalid", "id", "not a whole number"},
	{"POST", SE "/0/reversal", RC01, NULL, "{\"reason\":\"x\"}", GEN_NONE,
	 400, "invalid", "id", "at least 1"},
	{"POST", SE "/{ev}/reversal", RC01, NULL, "{}", GEN_NONE, 400,
	 "invalid", "reason", "reason: missing"},
	{"POST", SE "/{ev}/reversal", RC01, NULL, "{\"reason\":\"\"}", GEN_NONE,
	 400, "invalid", "reason", "required"},
	{"POST", SE "/{ev}/reversal", RC01, NULL,
	 "{\"reason\":\"x\",\"qty\":1}", GEN_NONE, 400, "invalid", "qty",
	 "unknown field"},
	{"POST", SE "/{ev}/reversal", RC01, "Idempotency-Key: nope",
	 "{\"reason\":\"x\"}", GEN_NONE, 400, "invalid", "Idempotency-Key",
	 "not a UUID"},
	{"POST", SE "/{ev}/reversal", RC01, NULL, NULL, GEN_NONE, 400,
	 "invalid", NULL, "empty"},
	/* sites */
	{"PATCH", "/api/v1/sites/01-CL", RC01, NULL, "{\"colour\":\"red\"}",
	 GEN_NONE, 400, "invalid", "colour", "unknown field"},
	{"PATCH", "/api/v1/sites/01-CL", RC01, NULL, "{\"active\":\"yes\"}",
	 GEN_NONE, 400, "invalid", "active", "true or false"},
	{"PATCH", "/api/v1/sites/01-CL", RC01, NULL, "{\"kind\":\"castle\"}",
	 GEN_NONE, 400, "invalid", "kind", "not one of"},
	{"PATCH", "/api/v1/sites/01-CL", RC01, NULL, "{\"name\":\"\"}",
	 GEN_NONE, 400, "invalid", "name", "must not be empty"},
	{"PATCH", "/api/v1/sites/01-CL", RC01, NULL, "{\"host_region\":\"99\"}",
	 GEN_NONE, 400, "invalid", "host_region", "not a Swedish region code"},
	{"PATCH", "/api/v1/sites/NOPE-1", ADMIN, NULL, "{\"name\":\"x\"}",
	 GEN_NONE, 404, "not_found", "code", "no such site"},
	{"PATCH", "/api/v1/sites/a%20b", ADMIN, NULL, "{\"name\":\"x\"}",
	 GEN_NONE, 400, "invalid", "code", "only letters"},
	{"POST", "/api/v1/sites", ADMIN, NULL,
	 "{\"code\":\"A B\",\"name\":\"x\",\"kind\":\"hospital\","
	 "\"region\":\"01\"}",
	 GEN_NONE, 400, "invalid", "code", "only letters"},
	{"POST", "/api/v1/sites", ADMIN, NULL,
	 "{\"code\":\"NY-1\",\"name\":\"x\",\"kind\":\"castle\","
	 "\"region\":\"01\"}",
	 GEN_NONE, 400, "invalid", "kind", "not one of"},
	{"POST", "/api/v1/sites", ADMIN, NULL,
	 "{\"code\":\"NY-1\",\"name\":\"x\",\"kind\":\"hospital\","
	 "\"region\":\"02\"}",
	 GEN_NONE, 400, "invalid", "region", "not a Swedish region code"},
	{"POST", "/api/v1/sites", ADMIN, NULL,
	 "{\"code\":\"NY-1\",\"name\":\"x\",\"kind\":\"hospital\"}", GEN_NONE,
	 400, "invalid", "region", "region: missing"},
	{"POST", "/api/v1/sites", ADMIN, NULL,
	 "{\"code\":\"NY-1\",\"name\":\"\",\"kind\":\"hospital\","
	 "\"region\":\"01\"}",
	 GEN_NONE, 400, "invalid", "name", "must not be empty"},
	{"POST", "/api/v1/sites", ADMIN, NULL,
	 "{\"code\":\"01-CL\",\"name\":\"x\",\"kind\":\"hospital\","
	 "\"region\":\"01\"}",
	 GEN_NONE, 409, "conflict", NULL, NULL},
	{"POST", "/api/v1/sites", ADMIN, NULL,
	 "{\"code\":\"NY-1\",\"name\":\"x\",\"kind\":\"hospital\","
	 "\"region\":\"01\",\"owner\":\"me\"}",
	 GEN_NONE, 400, "invalid", "owner", "unknown field"},
	/* products */
	{"PATCH", "/api/v1/products/{pid}", COORD, NULL, "{\"x\":1}", GEN_NONE,
	 400, "invalid", "x", "unknown field"},
	{"PATCH", "/api/v1/products/{pid}", COORD, NULL, "{\"pack_size\":0}",
	 GEN_NONE, 400, "invalid", "pack_size", "between 1 and 1000000"},
	{"PATCH", "/api/v1/products/{pid}", COORD, NULL, "{\"name\":\"\"}",
	 GEN_NONE, 400, "invalid", "name", "must not be empty"},
	{"PATCH", "/api/v1/products/{pid}", COORD, NULL, "{\"vnr\":\"234567\"}",
	 GEN_NONE, 409, "conflict", NULL, NULL},
	{"PATCH", "/api/v1/products/abc", COORD, NULL, "{\"name\":\"x\"}",
	 GEN_NONE, 400, "invalid", "id", "not a whole number"},
	{"PATCH", "/api/v1/products/999999", COORD, NULL, "{\"name\":\"x\"}",
	 GEN_NONE, 404, "not_found", NULL, NULL},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"atc\":\"N01AX1\"}",
	 GEN_NONE, 400, "invalid", "atc", "not a full 7-character ATC code"},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"atc\":\"n01ax10\"}",
	 GEN_NONE, 400, "invalid", "atc", NULL},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"vnr\":\"12345\"}",
	 GEN_NONE, 400, "invalid", "vnr", "exactly 6 digits"},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"npl_id\":\"123\"}",
	 GEN_NONE, 400, "invalid", "npl_id", "exactly 14 digits"},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"npl_pack_id\":"
	 "\"2005051200003X\"}",
	 GEN_NONE, 400, "invalid", "npl_pack_id", NULL},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"gtin\":"
	 "\"7350012345671\"}",
	 GEN_NONE, 400, "invalid", "gtin", "wrong check digit"},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"pack_size\":0}", GEN_NONE,
	 400, "invalid", "pack_size", "between 1 and 1000000"},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"pack_size\":-3}",
	 GEN_NONE, 400, "invalid", "pack_size", "between 1 and 1000000"},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"pack_size\":\"10\"}",
	 GEN_NONE, 400, "invalid", "pack_size", "must be a whole number"},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"critical\":1}", GEN_NONE,
	 400, "invalid", "critical", "true or false"},
	{"POST", "/api/v1/products", COORD, NULL, "{\"name\":\"x\"}", GEN_NONE,
	 400, "invalid", "category", "category: missing"},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"food\",\"name\":\"x\"}", GEN_NONE, 400, "invalid",
	 "category", "not one of"},
	{"POST", "/api/v1/products", COORD, NULL,
	 "{\"category\":\"medicine\",\"name\":\"x\",\"vnr\":\"123456\"}",
	 GEN_NONE, 409, "conflict", NULL, NULL},
	{"POST", "/api/v1/products", ADMIN, NULL, "[]", GEN_NONE, 400,
	 "invalid", NULL, "must be an object"},
#define QU "/api/v1/quarantines"
#define QBODY(site, product, rest) \
	"{\"site\":\"" site "\",\"product\":\"" product "\"," rest "}"
	/* quarantines */
	{"POST", QU, RC01, NULL, QBODY("01-CL", "123456", "\"lot\":\"{lot}\""),
	 GEN_NONE, 400, "invalid", "reason", "reason: missing"},
	{"POST", QU, RC01, NULL,
	 QBODY("01-CL", "123456", "\"lot\":\"{lot}\",\"reason\":\"\""),
	 GEN_NONE, 400, "invalid", "reason", NULL},
	{"POST", QU, RC01, NULL,
	 QBODY("01-XX", "123456", "\"lot\":\"{lot}\",\"reason\":\"x\""),
	 GEN_NONE, 400, "invalid", "site", "no such site"},
	{"POST", QU, RC01, NULL,
	 QBODY("01-CL", "654321", "\"lot\":\"{lot}\",\"reason\":\"x\""),
	 GEN_NONE, 400, "invalid", "product", NULL},
	{"POST", QU, RC01, NULL,
	 QBODY("01-CL", "123456",
	       "\"lot\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ"
	       "ABCDEFGHIJKLM\",\"reason\":\"x\""),
	 GEN_NONE, 400, "invalid", "lot", "longer than 64"},
	{"POST", QU, RC01, NULL,
	 QBODY("01-CL", "123456", "\"lot\":\"NOPE\",\"reason\":\"x\""),
	 GEN_NONE, 409, "conflict", "lot", "no stock"},
	{"POST", QU, RC01, NULL,
	 QBODY("01-CL", "123456", "\"lot\":\"{qlot}\",\"reason\":\"x\""),
	 GEN_NONE, 409, "conflict", "lot", "already in quarantine"},
	{"POST", QU, RC01, NULL,
	 QBODY("01-CL", "123456",
	       "\"lot\":\"{lot}\",\"reason\":\"x\",\"quantity\":1"),
	 GEN_NONE, 400, "invalid", "quantity", "whole lot"},
	{"POST", QU "/{q}/release", RC01, NULL, "{}", GEN_NONE, 400, "invalid",
	 "reason", "reason: missing"},
	{"POST", QU "/{qrel}/release", RC01, NULL, "{\"reason\":\"x\"}",
	 GEN_NONE, 409, "conflict", "id", "released at"},
	{"POST", QU "/abc/release", RC01, NULL, "{\"reason\":\"x\"}", GEN_NONE,
	 400, "invalid", "id", "not a whole number"},
	{"POST", QU "/999999999/release", RC01, NULL, "{\"reason\":\"x\"}",
	 GEN_NONE, 404, "not_found", "id", "no such quarantine"},
	{"GET", QU "?open=maybe", RC01, NULL, NULL, GEN_NONE, 400, "invalid",
	 "open", "true or false"},
	{"GET", QU "?after=x", RC01, NULL, NULL, GEN_NONE, 400, "invalid",
	 "after", "not a whole number"},
#define HR "/api/v1/help-requests"
#define AL "/api/v1/allocations"
#define PR "/api/v1/proposals"
	/* regional sharing (issue 6) */
	{"POST", HR, RC01, NULL, "{}", GEN_NONE, 400, "invalid", "product",
	 "product: missing"},
	{"POST", HR, RC01, NULL, "{\"product\":\"123456\",\"reason\":\"x\"}",
	 GEN_NONE, 400, "invalid", "quantity", "either quantity"},
	{"POST", HR, RC01, NULL,
	 "{\"product\":\"123456\",\"quantity\":5,\"days\":3,\"reason\":\"x\"}",
	 GEN_NONE, 400, "invalid", "quantity", "not both"},
	{"POST", HR, RC01, NULL,
	 "{\"product\":\"123456\",\"quantity\":0,\"reason\":\"x\"}", GEN_NONE,
	 400, "invalid", "quantity", NULL},
	{"POST", HR, RC01, NULL,
	 "{\"product\":\"123456\",\"days\":\"1.234\",\"reason\":\"x\"}",
	 GEN_NONE, 400, "invalid", "days", NULL},
	{"POST", HR, RC01, NULL,
	 "{\"product\":\"123456\",\"days\":-3,\"reason\":\"x\"}", GEN_NONE, 400,
	 "invalid", "days", NULL},
	{"POST", HR, RC01, NULL,
	 "{\"product\":\"123456\",\"quantity\":5,\"urgency\":\"panic\","
	 "\"reason\":\"x\"}",
	 GEN_NONE, 400, "invalid", "urgency", "not one of"},
	{"POST", HR, RC01, NULL,
	 "{\"product\":\"123456\",\"quantity\":5,\"reason\":\"\"}", GEN_NONE,
	 400, "invalid", "reason", NULL},
	{"POST", HR, COORD, NULL,
	 "{\"product\":\"123456\",\"quantity\":5,\"reason\":\"x\"}", GEN_NONE,
	 400, "invalid", "region", "region: missing"},
	{"POST", HR, COORD, NULL,
	 "{\"region\":\"99\",\"product\":\"123456\",\"quantity\":5,"
	 "\"reason\":\"x\"}",
	 GEN_NONE, 400, "invalid", "region", NULL},
	{"POST", HR, RC01, NULL,
	 "{\"product\":\"654321\",\"quantity\":5,\"reason\":\"x\"}", GEN_NONE,
	 400, "invalid", "product", NULL},
	{"POST", HR "/{help}/close", RC01, NULL,
	 "{\"status\":\"open\",\"reason\":\"x\"}", GEN_NONE, 400, "invalid",
	 "status", "not one of"},
	{"POST", HR "/{help}/close", COORD, NULL,
	 "{\"status\":\"withdrawn\",\"reason\":\"x\"}", GEN_NONE, 403,
	 "forbidden", NULL, "withdraws"},
	{"POST", AL, COORD, NULL,
	 "{\"product\":\"123456\",\"problem\":\"magic\"}", GEN_NONE, 400,
	 "invalid", "problem", "not one of"},
	{"POST", AL, COORD, NULL, "{\"product\":\"123456\",\"floor_days\":-1}",
	 GEN_NONE, 400, "invalid", "floor_days", NULL},
	{"POST", AL, COORD, NULL, "{\"products\":[]}", GEN_NONE, 400, "invalid",
	 "products", NULL},
	{"POST", AL, COORD, NULL, "{\"products\":[\"123456\",7]}", GEN_NONE,
	 400, "invalid", "products", "products[1]"},
	{"POST", AL, COORD, NULL, "{}", GEN_NONE, 400, "invalid", "product",
	 NULL},
	{"POST", AL, COORD, NULL,
	 "{\"product\":\"123456\",\"problem\":\"supply\",\"quantity\":15,"
	 "\"key\":\"maxmin\"}",
	 GEN_NONE, 400, "invalid", "quantity", "whole packs"},
	{"POST", AL, COORD, NULL,
	 "{\"product\":\"123456\",\"problem\":\"supply\",\"key\":\"maxmin\"}",
	 GEN_NONE, 400, "invalid", "quantity", NULL},
	{"POST", AL, COORD, NULL,
	 "{\"product\":\"123456\",\"problem\":\"supply\",\"quantity\":10,"
	 "\"key\":\"lottery\"}",
	 GEN_NONE, 400, "invalid", "key", NULL},
	{"POST", AL, COORD, NULL,
	 "{\"product\":\"123456\",\"problem\":\"supply\",\"quantity\":10,"
	 "\"key\":\"hybrid\",\"reserve\":101}",
	 GEN_NONE, 400, "invalid", "reserve", NULL},
	{"POST", AL, COORD, NULL, "{\"product\":\"654321\"}", GEN_NONE, 400,
	 "invalid", "product", NULL},
	{"POST", AL, COORD, NULL,
	 "{\"products\":[\"123456\",\"123456\"],\"problem\":\"supply\","
	 "\"quantity\":10,\"key\":\"maxmin\"}",
	 GEN_NONE, 400, "invalid", "product", "one product's delivery"},
	/* another problem's parameter is refused, not ignored */
	{"POST", AL, COORD, NULL, "{\"product\":\"123456\",\"key\":\"maxmin\"}",
	 GEN_NONE, 400, "invalid", "key", "a share run does not take it"},
	{"POST", AL, COORD, NULL,
	 "{\"product\":\"123456\",\"problem\":\"supply\",\"quantity\":10,"
	 "\"key\":\"maxmin\",\"floor_days\":3}",
	 GEN_NONE, 400, "invalid", "floor_days", "a share run's"},
	{"POST", "/api/v1/plans", COORD, NULL,
	 "{\"product\":\"123456\",\"capacity\":[1],\"min_transfer\":5}",
	 GEN_NONE, 400, "invalid", "min_transfer", "a plan run does not"},
	{"POST", "/api/v1/plans", COORD, NULL,
	 "{\"product\":\"123456\",\"capacity\":[1,999999999999999]}", GEN_NONE,
	 400, "invalid", "capacity", "must be 0 to"},
	{"POST", HR, RC01, NULL,
	 "{\"product\":\"123456\",\"quantity\":5,\"reason\":\"   \"}", GEN_NONE,
	 400, "invalid", "reason", "blank"},
	{"POST", "/api/v1/plans", COORD, NULL, "{\"product\":\"123456\"}",
	 GEN_NONE, 400, "invalid", "capacity", "capacity: missing"},
	{"POST", "/api/v1/plans", COORD, NULL,
	 "{\"product\":\"123456\",\"capacity\":[1,-1]}", GEN_NONE, 400,
	 "invalid", "capacity", "capacity[1]"},
	{"POST", "/api/v1/plans", COORD, NULL,
	 "{\"product\":\"123456\",\"capacity\":[1],\"weeks\":2}", GEN_NONE, 400,
	 "invalid", "weeks", NULL},
	{"POST", "/api/v1/plans", COORD, NULL,
	 "{\"product\":\"123456\",\"capacity\":[1],\"start\":\"2026-02-30\"}",
	 GEN_NONE, 400, "invalid", "start", NULL},
	{"POST", "/api/v1/plans", COORD, NULL,
	 "{\"product\":\"123456\",\"capacity\":[1],\"problem\":\"share\"}",
	 GEN_NONE, 400, "invalid", "problem", NULL},
	{"GET", "/api/v1/plans/abc", COORD, NULL, NULL, GEN_NONE, 400,
	 "invalid", "id", NULL},
	{"GET", "/api/v1/plans/{plan}?format=xml", COORD, NULL, NULL, GEN_NONE,
	 400, "invalid", "format", NULL},
	{"GET", "/api/v1/plans/{run}", COORD, NULL, NULL, GEN_NONE, 404,
	 "not_found", "id", "not a plan"},
	{"GET", PR "?status=lost", RC01, NULL, NULL, GEN_NONE, 400, "invalid",
	 "status", "not one of"},
	{"POST", PR "/{prop}/approve", RC01, NULL, "{\"quantity\":1}", GEN_NONE,
	 400, "invalid", "quantity", "only a receipt"},
	{"POST", PR "/{prop}/approve", RC01, NULL, "{\"colour\":\"red\"}",
	 GEN_NONE, 400, "invalid", "colour", "unknown field"},
	{"POST", PR "/{prop}/ship", RC01, NULL, NULL, GEN_NONE, 409, "conflict",
	 "status", "approved before it ships"},
	{"POST", PR "/{inprop}/receive", RC01, NULL, "{\"quantity\":11}",
	 GEN_NONE, 400, "invalid", "quantity", "more cannot arrive"},
	{"POST", PR "/{inprop}/receive", RC01, NULL, "{\"quantity\":5}",
	 GEN_NONE, 400, "invalid", "reason", "short receipt"},
	{"POST", PR "/{inprop}/receive", RC01, NULL, "{\"site\":\"12-CL\"}",
	 GEN_NONE, 400, "invalid", "site", "not to the receiving region"},
	{"POST", PR "/{inprop}/receive", RC01, NULL, "{\"site\":\"01-ZZ\"}",
	 GEN_NONE, 400, "invalid", "site", NULL},
	{"POST", PR "/{sprop}/return", RC01, NULL, "{}", GEN_NONE, 400,
	 "invalid", "reason", "reason: missing"},
	{"POST", PR "/{sprop}/cancel", RC01, NULL, NULL, GEN_NONE, 409,
	 "conflict", "status", "return it"},
	{"POST", PR "/abc/approve", RC01, NULL, NULL, GEN_NONE, 400, "invalid",
	 "id", NULL},
	{"POST", PR "/999999999/approve", RC01, NULL, NULL, GEN_NONE, 404,
	 "not_found", "id", "no such proposal"},
	{"POST", PR "/{prop}/approve", RC01, NULL, "[]", GEN_NONE, 400,
	 "invalid", NULL, "must be an object"},
#undef PR
#undef AL
#undef HR
#undef QBODY
#undef QU
#undef BADEV
#undef KIND
#undef RCPT
#undef EVT
#undef SE
};

/* A body made by code rather than written out; the caller frees it. */
static char *generate(enum gen gen)
{
	static const char ev[] = "{\"site\":\"01-CL\",\"product\":\"123456\","
				 "\"kind\":\"receipt\",\"qty\":1}";
	size_t cap = 80000, len = 0;
	char *s = malloc(cap);

	ck_assert_msg(s != NULL, "out of memory");
	switch (gen) {
	case GEN_1001:
		s[len++] = '[';
		for (int i = 0; i < 1001; i++) {
			if (i)
				s[len++] = ',';
			memcpy(s + len, ev, sizeof(ev) - 1);
			len += sizeof(ev) - 1;
		}
		s[len++] = ']';
		break;
	case GEN_BIG:
		len = (size_t)snprintf(s, cap,
				       "{\"site\":\"01-CL\",\"product\":"
				       "\"123456\",\"kind\":\"adjustment\","
				       "\"qty\":1,\"reason\":\"");
		while (len < 69998)
			s[len++] = 'x';
		s[len++] = '"';
		s[len++] = '}';
		break;
	case GEN_DEEP:
		len = (size_t)snprintf(s, cap, "{\"site\":");
		for (int i = 0; i < 100; i++)
			s[len++] = '[';
		for (int i = 0; i < 100; i++)
			s[len++] = ']';
		len += (size_t)snprintf(s + len, cap - len,
					",\"product\":\"123456\",\"kind\":"
					"\"receipt\",\"qty\":1}");
		break;
	case GEN_LOT65:
		len = (size_t)snprintf(s, cap,
				       "{\"site\":\"01-CL\",\"product\":"
				       "\"123456\",\"kind\":\"receipt\","
				       "\"qty\":1,\"lot\":\"");
		for (int i = 0; i < 65; i++)
			s[len++] = (char)('A' + i % 26);
		s[len++] = '"';
		s[len++] = '}';
		break;
	default: break;
	}
	ck_assert_msg(len < cap, "generated body too long");
	s[len] = '\0';
	return s;
}

START_TEST(test_bad_input)
{
	const struct bad_case *b = &bad[_i];
	char path[256], body[2048], *made = NULL;
	struct call c = {
		.method = b->method, .who = b->who, .header = b->header};

	expand(b->path, "01", path, sizeof(path));
	c.path = path;
	if (b->gen != GEN_NONE) {
		made = generate(b->gen);
		c.body = made;
	} else if (b->body) {
		expand(b->body, "01", body, sizeof(body));
		c.body = body;
	}
	want_refused(&c, b->status, b->code, b->field, b->msg);
	free(made);
}
END_TEST

/* ---- the OpenAPI document ---- */

START_TEST(test_openapi_lists_routes)
{
	static const struct {
		const char *method, *pattern;
	} builtin[] = {
		{"GET", "/healthz"},
		{"GET", "/readyz"},
		{"GET", "/metrics"},
	};
	struct call c = {.path = "/api/v1/openapi.json", .who = ANON};
	json_t *doc = want_json(&c, 200), *paths;
	char method[16];

	ck_assert_msg(json_is_string(json_object_get(doc, "openapi")) &&
			      strncmp(json_string_value(
					      json_object_get(doc, "openapi")),
				      "3.", 2) == 0,
		      "not an OpenAPI 3 document");
	paths = json_object_get(doc, "paths");
	ck_assert_msg(json_is_object(paths), "no paths");
	for (size_t i = 0; i < api_routes_count + (size_t)NELEM(builtin); i++) {
		const char *m = i < api_routes_count ?
					api_routes[i].method :
					builtin[i - api_routes_count].method;
		const char *p = i < api_routes_count ?
					api_routes[i].pattern :
					builtin[i - api_routes_count].pattern;
		size_t k;

		for (k = 0; m[k] && k < sizeof(method) - 1; k++)
			method[k] =
				(char)(m[k] >= 'A' && m[k] <= 'Z' ? m[k] + 32 :
								    m[k]);
		method[k] = '\0';
		ck_assert_msg(json_is_object(json_object_get(
				      json_object_get(paths, p), method)),
			      "src/openapi.json lacks %s %s", m, p);
	}
	json_decref(doc);
}
END_TEST

/* ---- keyset paging ---- */

START_TEST(test_paging)
{
	char path[128];
	struct call c = {.path = path, .who = RC01};
	int64_t last = 0, seen = 0, want;
	int pages = 0;
	json_t *next = NULL;

	for (int i = 0; i < 25; i++)
		fresh_event("01");
	want = owner_scalar1("SELECT count(*) FROM stock_event"
			     " WHERE region_code = $1",
			     "01");
	ck_assert_msg(want >= 25, "only %lld events", (long long)want);
	snprintf(path, sizeof(path), "/api/v1/stock-events?region=01&limit=10");
	for (;;) {
		json_t *body = want_json(&c, 200), *ev;
		json_t *evs = rows_of(body, "events");
		size_t i;

		pages++;
		ck_assert_msg(pages <= 10, "paging does not end");
		json_array_foreach(evs, i, ev)
		{
			int64_t id = int_member(ev, "id");

			ck_assert_msg(id > last, "id %lld after %lld",
				      (long long)id, (long long)last);
			ck_assert_str_eq(str_member(ev, "region"), "01");
			last = id;
			seen++;
		}
		next = json_object_get(body, "next_after");
		if (json_is_null(next)) {
			ck_assert_msg(json_array_size(evs) <= 10,
				      "last page of %zu", json_array_size(evs));
			json_decref(body);
			break;
		}
		ck_assert_msg(json_array_size(evs) == 10,
			      "a page of %zu before the end",
			      json_array_size(evs));
		ck_assert_msg(json_is_integer(next) &&
				      json_integer_value(next) == last,
			      "next_after is not the last id %lld",
			      (long long)last);
		snprintf(path, sizeof(path),
			 "/api/v1/stock-events?region=01&limit=10&after=%lld",
			 (long long)last);
		json_decref(body);
	}
	ck_assert_int_eq(seen, want);
	ck_assert_int_eq(last, owner_scalar1("SELECT max(id) FROM stock_event"
					     " WHERE region_code = $1",
					     "01"));
	ck_assert_int_eq(pages, (int)((want + 9) / 10));
}
END_TEST

/* ---- no 500 anywhere ---- */

/* The server's own counters: no request of this TCase was answered 500. */
START_TEST(test_no_500)
{
	struct httpclient_response r;
	const char *p;

	httpclient_get(&srv, "/metrics", &r);
	ck_assert_msg(r.status == 200, "metrics: %ld", r.status);
	p = strstr(r.body, "status=\"500\"");
	if (p) {
		const char *line = p;

		while (line > r.body && line[-1] != '\n')
			line--;
		ck_abort_msg("a request was answered 500: %.*s",
			     (int)strcspn(line, "\n"), line);
	}
	ck_assert_msg(strstr(r.body, "lagerbild_http_requests_total") != NULL,
		      "no request counters in /metrics");
	httpclient_response_free(&r);
}
END_TEST

static TCase *server_tcase(const char *name, void (*start)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, start, stop_server);
	tcase_add_checked_fixture(tc, connect_owner, close_owner);
	tcase_set_timeout(tc, 120);
	return tc;
}

Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tc = tcase_create("routes");
	tcase_add_test(tc, test_matrix_covers_routes);
	suite_add_tcase(s, tc);

	tc = server_tcase("matrix", start_default);
	tcase_add_test(tc, test_unauthenticated);
	tcase_add_loop_test(tc, test_matrix, 0, NELEM(matrix));
	tcase_add_test(tc, test_no_500);
	suite_add_tcase(s, tc);

	tc = server_tcase("service", start_default);
	tcase_add_test(tc, test_contact_sees_national_totals);
	tcase_add_test(tc, test_contact_denied_other_detail);
	tcase_add_test(tc, test_contact_reads_own_region_only);
	tcase_add_test(tc, test_national_totals_sum);
	tcase_add_test(tc, test_writes_record_who);
	tcase_add_test(tc, test_idempotent_single);
	tcase_add_test(tc, test_idempotent_conflict);
	tcase_add_test(tc, test_idempotent_batch);
	tcase_add_test(tc, test_idempotent_key_per_event);
	tcase_add_test(tc, test_idempotent_reversal);
	tcase_add_test(tc, test_openapi_lists_routes);
	tcase_add_test(tc, test_no_500);
	suite_add_tcase(s, tc);

	tc = server_tcase("bad_input", start_small_body);
	tcase_add_loop_test(tc, test_bad_input, 0, NELEM(bad));
	tcase_add_test(tc, test_no_500);
	suite_add_tcase(s, tc);

	tc = server_tcase("paging", start_default);
	tcase_add_test(tc, test_paging);
	tcase_add_test(tc, test_no_500);
	suite_add_tcase(s, tc);
	return s;
}
