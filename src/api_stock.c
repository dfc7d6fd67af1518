/*
 * api_stock.c -- /api/v1 stock: recording events, reversing them, reading
 * the ledger, balances and national totals.
 *
 * Authorization is checked here first (role and region) and then again by
 * row-level security, because every statement runs in a transaction opened
 * as the caller (auth_begin).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "alerts.h"
#include "api_handlers.h"
#include "apiutil.h"
#include "catalog.h"
#include "jsonin.h"
#include "ledger.h"
#include "reports.h"
#include "validate.h"

static const struct jsonin_field event_fields[] = {
	{"site", JSONIN_STRING, true},	       {"product", JSONIN_STRING, true},
	{"kind", JSONIN_STRING, true},	       {"qty", JSONIN_INTEGER, true},
	{"lot", JSONIN_STRING, false},	       {"expiry", JSONIN_STRING, false},
	{"reason", JSONIN_STRING, false},      {"key", JSONIN_STRING, false},
	{"occurred_at", JSONIN_STRING, false},
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* One event of a request, with what its lookups found. */
struct posted {
	struct ledger_event ev;
	const char *site_code;
	const char *product_key;
	char region[3];
	char key[37];  /* derived from the Idempotency-Key header */
	char path[32]; /* "events[3]." or "" */
};

/*
 * The key of a batch member when the request carries one Idempotency-Key:
 * a UUID made from SHA-256 of the header and the position, so that the
 * same request retried gives every event the same key again.
 */
static void derive_key(const char *header, size_t pos, char out[37])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char in[64];
	int n = snprintf(in, sizeof(in), "%s/%zu", header, pos);

	for (int i = 0; i < n; i++)
		if (in[i] >= 'A' && in[i] <= 'F')
			in[i] = (char)(in[i] + 32);
	crypto_hash_sha256(h, (const unsigned char *)in, (size_t)n);
	h[6] = (unsigned char)((h[6] & 0x0f) | 0x80); /* version 8: custom */
	h[8] = (unsigned char)((h[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9],
		 h[10], h[11], h[12], h[13], h[14], h[15]);
}

/* Put the event's position in front of a field-level error. */
static void at_path(struct err *e, const char *path)
{
	char field[sizeof(e->field)];

	if (!path[0])
		return;
	snprintf(field, sizeof(field), "%s%s", path, e->field);
	snprintf(e->field, sizeof(e->field), "%s", field);
	err_prefix(e, "%.*s: ", (int)strlen(path) - 1, path);
}

/* Read one event object into p.  Pure but for the borrowed strings. */
static int read_event(const json_t *obj, const char *header, size_t pos,
		      bool batch, struct posted *p, struct err *e)
{
	const char *kind;
	int64_t qty = 0;

	if (batch)
		snprintf(p->path, sizeof(p->path), "events[%zu].", pos);
	else
		p->path[0] = '\0';
	if (jsonin_check(obj, event_fields, NFIELDS(event_fields), p->path, e) <
	    0)
		return -1;
	p->site_code = jsonin_str(obj, "site");
	p->product_key = jsonin_str(obj, "product");
	kind = jsonin_str(obj, "kind");
	jsonin_int(obj, "qty", &qty);
	memset(&p->ev, 0, sizeof(p->ev));
	if (ledger_kind_parse(kind, &p->ev.kind, "kind", e) < 0)
		goto bad;
	if (p->ev.kind == LEDGER_REVERSAL) {
		err_set(e, ERR_INVALID, "kind",
			"kind reversal: POST /api/v1/stock-events/{id}/reversal "
			"reverses an event");
		goto bad;
	}
	p->ev.quantity = qty;
	p->ev.lot = jsonin_str(obj, "lot");
	p->ev.expiry = jsonin_str(obj, "expiry");
	p->ev.reason = jsonin_str(obj, "reason");
	p->ev.occurred_at = jsonin_str(obj, "occurred_at");
	p->ev.key = jsonin_str(obj, "key");
	if (!p->ev.key && header) {
		/*
		 * The first event carries the header's key itself, so that a
		 * key once used for one event cannot be reused for a batch.
		 */
		if (pos > 0) {
			derive_key(header, pos, p->key);
			p->ev.key = p->key;
		} else {
			p->ev.key = header;
		}
	} else if (p->ev.key && header && !batch &&
		   strcasecmp(p->ev.key, header) != 0) {
		err_set(e, ERR_INVALID, "key",
			"key differs from the Idempotency-Key header");
		goto bad;
	}
	p->ev.source = "api";
	/* Placeholders until the lookups; ledger_validate needs them set. */
	p->ev.site_id = 1;
	p->ev.product_id = 1;
	if (ledger_validate(&p->ev, e) < 0 ||
	    validate_site_code(p->site_code, "site", e) < 0 ||
	    catalog_check_product_key(p->product_key, e) < 0)
		goto bad;
	if (p->ev.occurred_at) {
		int64_t when;

		/* The ledger refuses it too; here it gets its field name. */
		parse_timestamp(p->ev.occurred_at, &when, "occurred_at", e);
		if (when > (int64_t)time(NULL) + 86400) {
			err_set(e, ERR_INVALID, "occurred_at",
				"occurred_at %s: is in the future",
				p->ev.occurred_at);
			goto bad;
		}
	}
	return 0;
bad:
	at_path(e, p->path);
	return -1;
}

/*
 * Find sites and products, and check the caller may write each site's
 * region.  In a read transaction as the caller; lookups repeat rarely
 * enough in a batch that a linear cache over earlier events suffices.
 */
static int resolve(struct http_request *req, struct posted *p, size_t n,
		   struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		struct site_ref s;
		struct product_ref pr;
		size_t j;

		for (j = 0; j < i; j++)
			if (strcmp(p[j].site_code, p[i].site_code) == 0)
				break;
		if (j < i) {
			p[i].ev.site_id = p[j].ev.site_id;
			memcpy(p[i].region, p[j].region, 3);
		} else {
			if (catalog_find_site(req->db, p[i].site_code, &s, e) <
			    0)
				goto bad;
			p[i].ev.site_id = s.id;
			memcpy(p[i].region, s.region_code, 3);
		}
		for (j = 0; j < i; j++)
			if (strcmp(p[j].product_key, p[i].product_key) == 0)
				break;
		if (j < i) {
			p[i].ev.product_id = p[j].ev.product_id;
		} else {
			if (catalog_find_product(req->db, p[i].product_key, &pr,
						 e) < 0)
				goto bad;
			p[i].ev.product_id = pr.id;
		}
		if (!auth_may_write_stock(req->who, p[i].region)) {
			err_set(e, ERR_FORBIDDEN, "site",
				"site %s belongs to region %s; %s may record "
				"stock for region %s only",
				p[i].site_code, p[i].region, req->who->username,
				req->who->region);
			goto bad;
		}
		continue;
bad:
		/* A name in the body that matches nothing is bad input. */
		if (e->code == ERR_NOT_FOUND)
			e->code = ERR_INVALID;
		at_path(e, p[i].path);
		return -1;
	}
	return 0;
}

static json_t *result_json(const struct posted *p,
			   const struct ledger_result *r)
{
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b}", "id",
			 (json_int_t)r->event_id, "key", r->key, "region",
			 r->region_code, "site", p->site_code, "product",
			 p->product_key, "kind", ledger_kind_name(p->ev.kind),
			 "delta", (json_int_t)r->delta, "balance_after",
			 (json_int_t)r->balance_after, "replayed", r->replayed);
}

void api_stock_events_post(struct http_request *req, struct http_response *res)
{
	const char *header = http_header(req, "Idempotency-Key");
	json_t *body = NULL, *list = NULL, *out = NULL;
	struct posted *p = NULL;
	struct ledger_event *evs = NULL;
	struct ledger_result *results = NULL;
	struct identity who;
	struct err e = {0};
	bool batch, any_new = false;
	size_t n;

	res->status = 500;
	if (!auth_may_write_stock(req->who, req->who->region)) {
		http_error(res, 403, "forbidden", NULL,
			   "a %s does not record stock: each region records "
			   "its own",
			   auth_role_name(req->who->role));
		goto out;
	}
	if (header && validate_uuid(header, "Idempotency-Key", &e) < 0) {
		http_error_from(res, &e);
		goto out;
	}
	body = http_body_json(req, res);
	if (!body)
		goto out;
	batch = json_is_array(body) || json_object_get(body, "events");
	if (json_is_array(body)) {
		list = json_incref(body);
	} else if (batch) {
		if (json_object_size(body) != 1) {
			http_error(res, 400, "invalid", NULL,
				   "a batch is {\"events\": [...]} and "
				   "nothing else");
			goto out;
		}
		list = json_incref(json_object_get(body, "events"));
		if (!json_is_array(list)) {
			http_error(res, 400, "invalid", "events",
				   "events: must be an array");
			goto out;
		}
	} else {
		list = json_pack("[O]", body);
	}
	n = json_array_size(list);
	if (n == 0 || n > LEDGER_BATCH_MAX) {
		http_error(res, 400, "invalid", "events",
			   "events: %zu events; send 1 to %d", n,
			   LEDGER_BATCH_MAX);
		goto out;
	}
	p = calloc(n, sizeof(*p));
	evs = calloc(n, sizeof(*evs));
	results = calloc(n, sizeof(*results));
	if (!p || !evs || !results) {
		http_error(res, 503, "unavailable", NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (read_event(json_array_get(list, i), header, i, batch, &p[i],
			       &e) < 0) {
			http_error_from(res, &e);
			goto out;
		}
	}
	/*
	 * Lookups and inserts in one transaction as the caller: fewer round
	 * trips than a read transaction before the write.  A lost race (two
	 * first uses of one key, a deadlock) is retried as a whole.
	 */
	api_identity(req, &who);
	for (int tries = 1;; tries++) {
		int rc = auth_begin(req->db, &who, &e);

		if (rc == 0 && (rc = resolve(req, p, n, &e)) == 0) {
			for (size_t i = 0; i < n; i++) {
				evs[i] = p[i].ev;
				evs[i].actor = who.username;
			}
			rc = ledger_record_batch(req->db, evs, n, results, &e);
		}
		if (rc == 0)
			rc = db_commit(req->db, &e);
		if (rc == 0)
			break;
		db_rollback(req->db);
		if (!db_lost_race(req->db) || tries == 3) {
			http_error_from(res, &e);
			goto out;
		}
	}
	out = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(out, result_json(&p[i], &results[i]));
		any_new |= !results[i].replayed;
		/* committed: queue the key for the alert thread; no wait */
		if (!results[i].replayed)
			alerts_touch(p[i].region, p[i].ev.product_id);
	}
	/* A retry that wrote nothing is a plain 200. */
	http_json(res, any_new ? 201 : 200, json_pack("{s:o}", "events", out));
out:
	free(results);
	free(evs);
	free(p);
	json_decref(list);
	json_decref(body);
}

void api_stock_event_reverse(struct http_request *req,
			     struct http_response *res)
{
	static const struct jsonin_field fields[] = {
		{"reason", JSONIN_STRING, true},
		{"key", JSONIN_STRING, false},
	};
	const char *header = http_header(req, "Idempotency-Key");
	struct ledger_event ev = {.kind = LEDGER_REVERSAL};
	struct ledger_result r;
	struct identity who;
	struct err e = {0};
	const char *params[1];
	char region[3];
	PGresult *q = NULL;
	json_t *body = NULL;

	res->status = 500;
	if (parse_int64(req->params[0], 1, INT64_MAX, &ev.reverses, "id", &e) <
	    0) {
		http_error_from(res, &e);
		goto out;
	}
	body = http_body_json(req, res);
	if (!body)
		goto out;
	if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0) {
		http_error_from(res, &e);
		goto out;
	}
	ev.reason = jsonin_str(body, "reason");
	ev.key = jsonin_str(body, "key");
	if (!ev.key)
		ev.key = header;
	if ((header && validate_uuid(header, "Idempotency-Key", &e) < 0) ||
	    ledger_validate(&ev, &e) < 0) {
		http_error_from(res, &e);
		goto out;
	}
	/*
	 * Whose event is it?  lb_event_region tells the region of any event
	 * and nothing more, so another region's event is a clear 403 rather
	 * than a puzzling 404; the write itself still meets row-level
	 * security.
	 */
	params[0] = req->params[0];
	if (api_begin(req, res) < 0)
		goto out;
	q = db_exec(req->db, "SELECT lb_event_region($1::bigint)", 1, params,
		    &e);
	db_rollback(req->db);
	if (!q) {
		http_error_from(res, &e);
		goto out;
	}
	if (PQgetisnull(q, 0, 0)) {
		http_error(res, 404, "not_found", "id",
			   "event %s: no such event", req->params[0]);
		goto out;
	}
	memcpy(region, db_text(q, 0, 0), 3);
	if (!auth_may_write_stock(req->who, region)) {
		http_error(res, 403, "forbidden", "id",
			   "event %s is region %s's; only that region reverses "
			   "it",
			   req->params[0], region);
		goto out;
	}
	api_identity(req, &who);
	ev.actor = who.username;
	ev.source = "api";
	if (ledger_record_as(req->db, &who, &ev, 1, &r, &e) < 0) {
		http_error_from(res, &e);
		goto out;
	}
	if (!r.replayed)
		alerts_touch(r.region_code,
			     0); /* the product is the ledger's */
	http_json(res, r.replayed ? 200 : 201,
		  json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:b}", "id",
			    (json_int_t)r.event_id, "key", r.key, "region",
			    r.region_code, "reverses", (json_int_t)ev.reverses,
			    "delta", (json_int_t)r.delta, "balance_after",
			    (json_int_t)r.balance_after, "replayed",
			    r.replayed));
out:
	PQclear(q);
	json_decref(body);
}

/*
 * Look up the ?site= and ?product= filters (either may be NULL) inside the
 * caller's open transaction.  A site must be one whose site-level detail
 * the caller may read.  Absent filters leave sref->id and *product_id 0.
 */
static int lookup_filters(struct http_request *req, const char *site,
			  const char *product, struct site_ref *sref,
			  int64_t *product_id, struct err *e)
{
	struct product_ref pref;

	sref->id = 0;
	*product_id = 0;
	if (site) {
		if (catalog_find_site(req->db, site, sref, e) < 0)
			return -1;
		if (!auth_may_read_region_detail(req->who, sref->region_code))
			return err_set(e, ERR_FORBIDDEN, "site",
				       "site %s is region %s's", site,
				       sref->region_code);
	}
	if (product) {
		if (catalog_find_product(req->db, product, &pref, e) < 0)
			return -1;
		*product_id = pref.id;
	}
	return 0;
}

/* End a read that failed: a filter naming nothing is bad input. */
static void read_failed(struct http_request *req, struct http_response *res,
			struct err *e)
{
	db_rollback(req->db);
	if (e->code == ERR_NOT_FOUND)
		e->code = ERR_INVALID;
	http_error_from(res, e);
}

void api_stock_events_get(struct http_request *req, struct http_response *res)
{
	const char *site = http_query(req, "site");
	const char *product = http_query(req, "product");
	const char *kind = http_query(req, "kind");
	const char *after = http_query(req, "after");
	const char *region = NULL;
	char site_id[24] = "", product_id[24] = "", limit_s[24];
	const char *params[6];
	enum ledger_kind k;
	struct site_ref sref;
	struct err e = {0};
	PGresult *q = NULL;
	int64_t after_id = 0, pid;
	long limit;
	int n;

	res->status = 500;
	if (api_detail_region(req, res, &region) < 0 ||
	    api_limit(req, res, 100, 1000, &limit) < 0)
		goto out;
	if ((kind && ledger_kind_parse(kind, &k, "kind", &e) < 0) ||
	    (after &&
	     parse_int64(after, 0, INT64_MAX, &after_id, "after", &e) < 0) ||
	    (site && validate_site_code(site, "site", &e) < 0) ||
	    (product && catalog_check_product_key(product, &e) < 0)) {
		http_error_from(res, &e);
		goto out;
	}
	if (api_begin(req, res) < 0)
		goto out;
	if (lookup_filters(req, site, product, &sref, &pid, &e) < 0)
		goto fail;
	if (site) {
		const char *asked = http_query(req, "region");

		if (asked && strcmp(asked, sref.region_code) != 0) {
			err_set(&e, ERR_INVALID, "site",
				"site %s is not in region %s", site, asked);
			goto fail;
		}
		region = sref.region_code;
		snprintf(site_id, sizeof(site_id), "%lld", (long long)sref.id);
	}
	if (!region) {
		err_set(&e, ERR_INVALID, "region",
			"region: give ?region= or ?site= (the ledger is read "
			"one region at a time)");
		goto fail;
	}
	if (pid)
		snprintf(product_id, sizeof(product_id), "%lld",
			 (long long)pid);
	snprintf(limit_s, sizeof(limit_s), "%ld", limit + 1);
	params[0] = region;
	params[1] = after ? after : "0";
	params[2] = site_id[0] ? site_id : NULL;
	params[3] = product_id[0] ? product_id : NULL;
	params[4] = kind;
	params[5] = limit_s;
	q = db_exec(req->db,
		    "SELECT e.id, e.region_code AS region, s.code AS site,"
		    " coalesce(p.vnr, p.npl_pack_id, p.gtin) AS product,"
		    " e.kind::text AS kind, e.quantity AS qty, e.delta,"
		    " e.balance_after, nullif(e.lot, '') AS lot,"
		    " e.expiry::text AS expiry, e.reason, e.reverses,"
		    " e.idempotency_key::text AS key,"
		    " to_char(e.occurred_at AT TIME ZONE 'UTC',"
		    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS occurred_at,"
		    " to_char(e.recorded_at AT TIME ZONE 'UTC',"
		    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS recorded_at,"
		    " e.recorded_by, e.source"
		    " FROM stock_event e"
		    " JOIN site s ON s.id = e.site_id"
		    " JOIN product p ON p.id = e.product_id"
		    " WHERE e.region_code = $1 AND e.id > $2"
		    " AND ($3::bigint IS NULL OR e.site_id = $3)"
		    " AND ($4::bigint IS NULL OR e.product_id = $4)"
		    " AND ($5::stock_event_kind IS NULL OR e.kind = $5)"
		    " ORDER BY e.id LIMIT $6",
		    6, params, &e);
	if (!q)
		goto fail;
	db_rollback(req->db);
	n = PQntuples(q);
	http_json(res, 200,
		  json_pack("{s:o, s:o}", "events", api_rows(q, (int)limit),
			    "next_after",
			    n > limit ? json_integer(db_int64(q, (int)limit - 1,
							      0)) :
					json_null()));
	goto out;
fail:
	read_failed(req, res, &e);
out:
	PQclear(q);
}

void api_balances_get(struct http_request *req, struct http_response *res)
{
	const char *site = http_query(req, "site");
	const char *product = http_query(req, "product");
	struct balance_filter f = {0};
	struct site_ref sref;
	struct err e = {0};
	PGresult *q = NULL;
	long limit;

	res->status = 500;
	if (api_detail_region(req, res, &f.region) < 0 ||
	    api_limit(req, res, 1000, 10000, &limit) < 0)
		goto out;
	f.limit = limit;
	if ((site && validate_site_code(site, "site", &e) < 0) ||
	    (product && catalog_check_product_key(product, &e) < 0)) {
		http_error_from(res, &e);
		goto out;
	}
	if (!f.region && !site && !product) {
		http_error(res, 400, "invalid", "region",
			   "give ?region=, ?site= or ?product=");
		goto out;
	}
	if (api_begin(req, res) < 0)
		goto out;
	if (lookup_filters(req, site, product, &sref, &f.product_id, &e) < 0)
		goto fail;
	f.site_id = sref.id;
	if (report_balances_query(req->db, &f, &q, &e) < 0)
		goto fail;
	db_rollback(req->db);
	http_json(res, 200,
		  json_pack("{s:o, s:b}", "balances", api_rows(q, (int)limit),
			    "truncated", PQntuples(q) > limit));
	goto out;
fail:
	read_failed(req, res, &e);
out:
	PQclear(q);
}

void api_totals_get(struct http_request *req, struct http_response *res)
{
	const char *category = http_query(req, "category");
	const char *product = http_query(req, "product");
	const char *by = http_query(req, "by");
	const char *critical = http_query(req, "critical");
	struct totals_filter f = {.category = category};
	struct product_ref pref;
	struct err e = {0};
	PGresult *q = NULL;

	res->status = 500;
	if (category && catalog_check_category(category, "category", &e) < 0)
		goto bad;
	if (product && catalog_check_product_key(product, &e) < 0)
		goto bad;
	if (!by || strcmp(by, "product") == 0) {
		f.by = TOTALS_BY_PRODUCT;
	} else if (strcmp(by, "region") == 0) {
		f.by = TOTALS_BY_REGION;
	} else if (strcmp(by, "category") == 0) {
		f.by = TOTALS_BY_CATEGORY;
	} else {
		err_set(&e, ERR_INVALID, "by",
			"by \"%.40s\": not product, region or category", by);
		goto bad;
	}
	if (critical && strcmp(critical, "true") != 0 &&
	    strcmp(critical, "false") != 0) {
		err_set(&e, ERR_INVALID, "critical",
			"critical \"%.40s\": true or false", critical);
		goto bad;
	}
	f.critical_only = critical && strcmp(critical, "true") == 0;
	if (api_begin(req, res) < 0)
		goto out;
	if (product) {
		if (catalog_find_product(req->db, product, &pref, &e) < 0) {
			db_rollback(req->db);
			if (e.code == ERR_NOT_FOUND)
				e.code = ERR_INVALID;
			goto bad;
		}
		f.product_id = pref.id;
	}
	if (report_totals_query(req->db, &f, &q, &e) < 0) {
		db_rollback(req->db);
		goto bad;
	}
	db_rollback(req->db);
	http_json(res, 200,
		  json_pack("{s:s, s:o}", "by", by ? by : "product", "rows",
			    api_rows(q, -1)));
	goto out;
bad:
	http_error_from(res, &e);
out:
	PQclear(q);
}
