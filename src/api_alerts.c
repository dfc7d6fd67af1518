/*
 * api_alerts.c -- /api/v1 alerts and webhook subscriptions.
 *
 *   GET  /api/v1/alerts              ?status=open|acknowledged|resolved|
 *                                    active|all (default active: open or
 *                                    acknowledged), rule, region, product,
 *                                    severity (at least), limit
 *   GET  /api/v1/alerts/{id}         the alert and its history
 *   POST /api/v1/alerts/{id}/ack     {"note": "..."}
 *   GET  /api/v1/webhooks            subscriptions (never their secrets)
 *   POST /api/v1/webhooks            make one; the secret is in this
 *                                    answer and nowhere else, ever
 *   PATCH /api/v1/webhooks/{id}      {"active", "min_severity",
 *                                    "description"}
 *   DELETE /api/v1/webhooks/{id}     deactivate (deliveries are kept)
 *   GET  /api/v1/webhooks/{id}/deliveries   the delivery log, attempts
 *   GET  /api/v1/email-subscriptions         with their delivery counts
 *   POST /api/v1/email-subscriptions         {"to", "regions",
 *                                    "categories", "rules",
 *                                    "min_severity", "description"}
 *   DELETE /api/v1/email-subscriptions/{id}  deactivate
 *
 * Row-level security decides which alerts a caller sees (sql/008); the
 * handlers refuse what is plainly not the caller's first, with a clear
 * 403.  Webhooks and email subscriptions are for admins and
 * coordinators.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "alerts.h"
#include "api_handlers.h"
#include "apiutil.h"
#include "catalog.h"
#include "jsonin.h"
#include "mailer.h"
#include "settings.h"
#include "validate.h"
#include "webhook.h"

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- alerts ---- */

static int check_status(const char *s, struct err *e)
{
	static const char *const ok[] = {"open", "acknowledged", "resolved",
					 "active", "all"};

	for (size_t i = 0; i < NFIELDS(ok); i++)
		if (strcmp(s, ok[i]) == 0)
			return 0;
	return err_set(e, ERR_INVALID, "status",
		       "status \"%.40s\": not one of open, acknowledged, "
		       "resolved, active, all",
		       s);
}

void api_alerts_get(struct http_request *req, struct http_response *res)
{
	const char *status = http_query(req, "status");
	const char *rule = http_query(req, "rule");
	const char *region = http_query(req, "region");
	const char *product = http_query(req, "product");
	const char *severity = http_query(req, "severity");
	char limit_s[24], pid[24] = "";
	const char *params[7];
	struct product_ref pref;
	struct err e = {0};
	PGresult *q = NULL;
	json_t *list = NULL;
	long limit;

	res->status = 500;
	if (api_limit(req, res, 100, 1000, &limit) < 0)
		return;
	if ((status && check_status(status, &e) < 0) ||
	    (rule && alerts_rule_check(rule, "rule", &e) < 0) ||
	    (region && validate_region_code(region, "region", &e) < 0) ||
	    (severity && alerts_severity_check(severity, "severity", &e) < 0) ||
	    (product && catalog_check_product_key(product, &e) < 0))
		goto bad;
	if (region && !auth_is_national(req->who) &&
	    strcmp(region, req->who->region) != 0) {
		http_error(res, 403, "forbidden", "region",
			   "region %s: a %s sees its own region's alerts only",
			   region, auth_role_name(req->who->role));
		return;
	}
	if (api_begin(req, res) < 0)
		return;
	if (product) {
		if (catalog_find_product(req->db, product, &pref, &e) < 0) {
			db_rollback(req->db);
			if (e.code == ERR_NOT_FOUND)
				e.code = ERR_INVALID;
			goto bad;
		}
		snprintf(pid, sizeof(pid), "%lld", (long long)pref.id);
	}
	snprintf(limit_s, sizeof(limit_s), "%ld", limit);
	params[0] = status ? status : "active";
	params[1] = rule;
	params[2] = region;
	params[3] = pid[0] ? pid : NULL;
	params[4] = severity;
	params[5] = limit_s;
	q = db_exec(req->db,
		    "SELECT alert_json(a) FROM alert a"
		    " WHERE CASE $1"
		    "  WHEN 'open' THEN a.resolved_at IS NULL"
		    "   AND a.acknowledged_at IS NULL"
		    "  WHEN 'acknowledged' THEN a.resolved_at IS NULL"
		    "   AND a.acknowledged_at IS NOT NULL"
		    "  WHEN 'resolved' THEN a.resolved_at IS NOT NULL"
		    "  WHEN 'active' THEN a.resolved_at IS NULL"
		    "  ELSE true END"
		    " AND ($2::alert_rule IS NULL OR a.rule = $2)"
		    " AND ($3::char(2) IS NULL OR a.region_code = $3)"
		    " AND ($4::bigint IS NULL OR a.product_id = $4)"
		    " AND ($5::alert_severity IS NULL OR a.severity >= $5)"
		    " ORDER BY a.id DESC LIMIT $6",
		    6, params, &e);
	db_rollback(req->db);
	if (!q)
		goto bad;
	list = json_array();
	for (int i = 0; list && i < PQntuples(q); i++)
		json_array_append_new(list,
				      json_loads(db_text(q, i, 0), 0, NULL));
	http_json(res, 200, json_pack("{s:o}", "alerts", list));
	PQclear(q);
	return;
bad:
	PQclear(q);
	http_error_from(res, &e);
}

/* The alert id in the path.  -1 with a 400 on res. */
static int alert_id(struct http_request *req, struct http_response *res,
		    int64_t *id)
{
	struct err e = {0};

	if (parse_int64(req->params[0], 1, INT64_MAX, id, "id", &e) < 0) {
		http_error_from(res, &e);
		return -1;
	}
	return 0;
}

void api_alert_get(struct http_request *req, struct http_response *res)
{
	const char *params[1] = {req->params[0]};
	struct err e = {0};
	PGresult *q = NULL, *h = NULL;
	json_t *alert;
	int64_t id;

	res->status = 500;
	if (alert_id(req, res, &id) < 0 || api_begin(req, res) < 0)
		return;
	q = db_exec(req->db, "SELECT alert_json(a) FROM alert a WHERE id = $1",
		    1, params, &e);
	if (q && PQntuples(q) == 1)
		h = db_exec(req->db,
			    "SELECT id, kind::text AS kind, at, actor,"
			    " severity::text AS severity, note, details"
			    " FROM alert_event WHERE alert_id = $1 ORDER BY id",
			    1, params, &e);
	db_rollback(req->db);
	if (!q || (PQntuples(q) == 1 && !h)) {
		http_error_from(res, &e);
		goto out;
	}
	if (PQntuples(q) == 0) {
		http_error(res, 404, "not_found", "id",
			   "alert %s: no such alert", req->params[0]);
		goto out;
	}
	alert = json_loads(db_text(q, 0, 0), 0, NULL);
	if (alert)
		json_object_set_new(alert, "history", api_rows(h, -1));
	http_json(res, 200, alert);
out:
	PQclear(h);
	PQclear(q);
}

void api_alert_ack(struct http_request *req, struct http_response *res)
{
	static const struct jsonin_field fields[] = {
		{"note", JSONIN_STRING, true},
	};
	const char *params[2];
	struct err e = {0};
	json_t *body = NULL;
	PGresult *q = NULL;
	int64_t id;

	res->status = 500;
	if (alert_id(req, res, &id) < 0)
		return;
	if (req->who->role != ROLE_COORDINATOR &&
	    req->who->role != ROLE_REGION_CONTACT) {
		http_error(res, 403, "forbidden", NULL,
			   "a %s does not acknowledge alerts: coordinators "
			   "and each region's contact persons do",
			   auth_role_name(req->who->role));
		return;
	}
	body = http_body_json(req, res);
	if (!body)
		return;
	if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0 ||
	    validate_text(jsonin_str(body, "note"), 1000, false, "note", &e) <
		    0)
		goto bad;
	params[0] = req->params[0];
	params[1] = jsonin_str(body, "note");
	if (api_begin(req, res) < 0)
		goto out;
	q = db_exec(req->db, "SELECT alert_acknowledge($1::bigint, $2)", 2,
		    params, &e);
	if (!q || db_commit(req->db, &e) < 0) {
		db_rollback(req->db);
		if (e.code == ERR_NOT_FOUND)
			snprintf(e.field, sizeof(e.field), "id");
		goto bad;
	}
	http_json(res, 200, json_loads(db_text(q, 0, 0), 0, NULL));
	goto out;
bad:
	http_error_from(res, &e);
out:
	PQclear(q);
	json_decref(body);
}

/* ---- webhooks ---- */

static bool may_manage_webhooks(const struct identity *who)
{
	return who->role == ROLE_ADMIN || who->role == ROLE_COORDINATOR;
}

static int webhook_gate(struct http_request *req, struct http_response *res)
{
	if (may_manage_webhooks(req->who))
		return 0;
	http_error(res, 403, "forbidden", NULL,
		   "webhooks are managed by admins and coordinators, not a %s",
		   auth_role_name(req->who->role));
	return -1;
}

#define SUB_COLUMNS                                                 \
	"id, url, coalesce(to_jsonb(regions), '[]') AS regions,"    \
	" coalesce(to_jsonb(categories), '[]') AS categories,"      \
	" coalesce(to_jsonb(rules), '[]') AS rules,"                \
	" min_severity::text AS min_severity, description, active," \
	" created_at, created_by, deactivated_at"

void api_webhooks_get(struct http_request *req, struct http_response *res)
{
	res->status = 500;
	if (webhook_gate(req, res) < 0)
		return;
	api_answer_rows(req, res, 200, "webhooks",
			"SELECT " SUB_COLUMNS
			" FROM webhook_subscription ORDER BY id",
			0, NULL, false);
}

/* A member that is an array of strings, into v (borrowed from body). */
static int string_list(const json_t *body, const char *key, const char **v,
		       size_t max, size_t *n, struct err *e)
{
	const json_t *a = json_object_get(body, key);
	size_t i;
	json_t *x;

	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return err_set(e, ERR_INVALID, key,
			       "%s: must be an array of strings", key);
	if (json_array_size(a) > max)
		return err_set(e, ERR_INVALID, key,
			       "%s: %zu entries; at most %zu", key,
			       json_array_size(a), max);
	json_array_foreach(a, i, x)
	{
		if (!json_is_string(x))
			return err_set(e, ERR_INVALID, key,
				       "%s[%zu]: must be a string", key, i);
		v[(*n)++] = json_string_value(x);
	}
	return 0;
}

#define LIST_MAX 64

/* What a subscription's POST body says: its target (a URL, an address)
 * and its filter, borrowed from the body.  The filter points into the
 * arrays here, so a sub_body must not be copied. */
struct sub_body {
	const char *target;
	const char *regions[LIST_MAX], *categories[LIST_MAX], *rules[LIST_MAX];
	struct alerts_filter filter;
};

/*
 * Read a subscription's POST body: an object of target_key, "regions",
 * "categories", "rules" (arrays of strings), "min_severity" and
 * "description" (strings or null), nothing else.  0, or -1 with e naming
 * the field (the target's absence is the caller's to judge).
 */
static int sub_body_read(json_t *body, const char *target_key,
			 struct sub_body *b, struct err *e)
{
	const char *const known[] = {target_key, "regions",	 "categories",
				     "rules",	 "min_severity", "description"};
	const char *key;
	json_t *v;

	if (!json_is_object(body))
		return err_set(e, ERR_INVALID, NULL,
			       "the body must be an object");
	json_object_foreach(body, key, v)
	{
		size_t i;

		for (i = 0; i < NFIELDS(known); i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (i == NFIELDS(known))
			return err_set(e, ERR_INVALID, key,
				       "%.60s: unknown field", key);
		if (i != 1 && i != 2 && i != 3 && !json_is_string(v) &&
		    !json_is_null(v))
			return err_set(e, ERR_INVALID, key,
				       "%s: must be a string", key);
	}
	b->target = jsonin_str(body, target_key);
	b->filter = (struct alerts_filter){
		.regions = b->regions,
		.categories = b->categories,
		.rules = b->rules,
		.min_severity = jsonin_str(body, "min_severity"),
		.description = jsonin_str(body, "description")};
	if (string_list(body, "regions", b->regions, LIST_MAX,
			&b->filter.nregions, e) < 0 ||
	    string_list(body, "categories", b->categories, LIST_MAX,
			&b->filter.ncategories, e) < 0 ||
	    string_list(body, "rules", b->rules, LIST_MAX, &b->filter.nrules,
			e) < 0)
		return -1;
	return 0;
}

void api_webhooks_post(struct http_request *req, struct http_response *res)
{
	struct sub_body b;
	struct webhook_spec s = {0};
	char secret[WEBHOOK_SECRET_HEX];
	const char *params[1];
	struct err e = {0};
	json_t *body = NULL;
	PGresult *q = NULL;
	char id_s[24];
	int64_t id;

	res->status = 500;
	if (webhook_gate(req, res) < 0)
		return;
	body = http_body_json(req, res);
	if (!body)
		return;
	if (sub_body_read(body, "url", &b, &e) < 0)
		goto bad;
	s = (struct webhook_spec){.url = b.target, .filter = b.filter};
	if (!s.url) {
		err_set(&e, ERR_INVALID, "url", "url: missing");
		goto bad;
	}
	if (webhook_spec_check(&s, &e) < 0)
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	if (webhook_subscribe(req->db, &s, &id, secret, &e) < 0)
		goto fail;
	snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
	params[0] = id_s;
	q = db_exec(req->db,
		    "SELECT " SUB_COLUMNS " FROM webhook_subscription"
		    " WHERE id = $1",
		    1, params, &e);
	if (!q || db_commit(req->db, &e) < 0)
		goto fail;
	{
		json_t *rows = api_rows(q, 1);
		json_t *sub = json_incref(json_array_get(rows, 0));

		json_decref(rows);
		json_object_set_new(sub, "secret", json_string(secret));
		json_object_set_new(
			sub, "note",
			json_string(
				"the secret is shown once: keep it; "
				"X-Lagerbild-Signature is sha256=HMAC-"
				"SHA256(secret, timestamp + \".\" + body)"));
		http_json(res, 201, sub);
	}
	goto out;
fail:
	db_rollback(req->db);
bad:
	http_error_from(res, &e);
out:
	sodium_memzero(secret, sizeof(secret));
	PQclear(q);
	json_decref(body);
}

/* The subscription id in the path.  -1 with a 400 on res. */
static int sub_id(struct http_request *req, struct http_response *res)
{
	struct err e = {0};
	int64_t id;

	if (parse_int64(req->params[0], 1, INT64_MAX, &id, "id", &e) < 0) {
		http_error_from(res, &e);
		return -1;
	}
	return 0;
}

void api_webhook_patch(struct http_request *req, struct http_response *res)
{
	static const struct jsonin_field fields[] = {
		{"active", JSONIN_BOOLEAN, false},
		{"min_severity", JSONIN_STRING, false},
		{"description", JSONIN_STRING, false},
	};
	const char *params[4];
	struct err e = {0};
	json_t *body = NULL, *active;

	res->status = 500;
	if (webhook_gate(req, res) < 0 || sub_id(req, res) < 0)
		return;
	body = http_body_json(req, res);
	if (!body)
		return;
	params[0] = req->params[0];
	active = json_object_get(body, "active");
	params[1] = json_is_boolean(active) ?
			    (json_is_true(active) ? "true" : "false") :
			    NULL;
	params[2] = jsonin_str(body, "min_severity");
	params[3] = jsonin_str(body, "description");
	if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0 ||
	    (params[2] &&
	     alerts_severity_check(params[2], "min_severity", &e) < 0) ||
	    (params[3] &&
	     validate_text(params[3], 200, false, "description", &e) < 0)) {
		http_error_from(res, &e);
		goto out;
	}
	api_answer_rows(req, res, 200, "webhook",
			"UPDATE webhook_subscription"
			" SET active = coalesce($2::boolean, active),"
			" deactivated_at = CASE"
			"  WHEN coalesce($2::boolean, active) THEN NULL"
			"  ELSE coalesce(deactivated_at, now()) END,"
			" min_severity = coalesce($3::alert_severity,"
			"  min_severity),"
			" description = coalesce($4, description)"
			" WHERE id = $1 RETURNING " SUB_COLUMNS,
			4, params, true);
out:
	json_decref(body);
}

void api_webhook_delete(struct http_request *req, struct http_response *res)
{
	const char *params[1] = {req->params[0]};
	struct err e = {0};
	PGresult *q = NULL;

	res->status = 500;
	if (webhook_gate(req, res) < 0 || sub_id(req, res) < 0)
		return;
	if (api_begin(req, res) < 0)
		return;
	/* Deactivated, not deleted: its deliveries stay on record. */
	q = db_exec(req->db,
		    "UPDATE webhook_subscription SET active = false,"
		    " deactivated_at = coalesce(deactivated_at, now())"
		    " WHERE id = $1 RETURNING id",
		    1, params, &e);
	if (!q || db_commit(req->db, &e) < 0) {
		db_rollback(req->db);
		http_error_from(res, &e);
	} else if (PQntuples(q) == 0) {
		http_error(res, 404, "not_found", "id",
			   "webhook %s: no such subscription", req->params[0]);
	} else {
		res->status = 204;
	}
	PQclear(q);
}

void api_webhook_deliveries_get(struct http_request *req,
				struct http_response *res)
{
	const char *params[3] = {req->params[0], NULL, NULL};
	const char *status = http_query(req, "status");
	char limit_s[24];
	long limit;

	res->status = 500;
	if (webhook_gate(req, res) < 0 || sub_id(req, res) < 0 ||
	    api_limit(req, res, 100, 1000, &limit) < 0)
		return;
	if (status && strcmp(status, "pending") != 0 &&
	    strcmp(status, "delivered") != 0 && strcmp(status, "failed") != 0) {
		http_error(res, 400, "invalid", "status",
			   "status \"%.40s\": not one of pending, delivered, "
			   "failed",
			   status);
		return;
	}
	snprintf(limit_s, sizeof(limit_s), "%ld", limit);
	params[1] = status;
	params[2] = limit_s;
	api_answer_rows(
		req, res, 200, "deliveries",
		"SELECT d.id, d.alert_id, d.event::text AS event,"
		" d.status::text AS status, d.attempts, d.next_attempt_at,"
		" d.last_attempt_at, d.response_code, d.error, d.created_at,"
		" d.delivered_at, d.payload,"
		" coalesce((SELECT jsonb_agg(jsonb_build_object('n', t.n,"
		"  'at', t.at, 'response_code', t.response_code,"
		"  'error', t.error, 'duration_ms', t.duration_ms)"
		"  ORDER BY t.n) FROM webhook_attempt t"
		"  WHERE t.delivery_id = d.id), '[]') AS attempt_log"
		" FROM webhook_delivery d WHERE d.subscription_id = $1"
		" AND ($2::webhook_delivery_status IS NULL OR d.status = $2)"
		" ORDER BY d.id DESC LIMIT $3",
		3, params, false);
}

/* ---- email subscriptions (src/mailer.h) ---- */

static int email_gate(struct http_request *req, struct http_response *res)
{
	if (may_manage_webhooks(req->who))
		return 0;
	http_error(res, 403, "forbidden", NULL,
		   "email subscriptions are managed by admins and "
		   "coordinators, not a %s",
		   auth_role_name(req->who->role));
	return -1;
}

#define EMAIL_COLUMNS                                                     \
	"s.id, s.address AS \"to\","                                      \
	" coalesce(to_jsonb(s.regions), '[]') AS regions,"                \
	" coalesce(to_jsonb(s.categories), '[]') AS categories,"          \
	" coalesce(to_jsonb(s.rules), '[]') AS rules,"                    \
	" s.min_severity::text AS min_severity, s.description,"           \
	" s.active, s.created_at, s.created_by, s.deactivated_at,"        \
	" (SELECT count(*) FROM email_delivery d"                         \
	"  WHERE d.subscription_id = s.id AND d.status = 'pending')::int" \
	"  AS pending,"                                                   \
	" (SELECT count(*) FROM email_delivery d"                         \
	"  WHERE d.subscription_id = s.id"                                \
	"  AND d.status = 'delivered')::int AS delivered,"                \
	" (SELECT count(*) FROM email_delivery d"                         \
	"  WHERE d.subscription_id = s.id AND d.status = 'failed')::int"  \
	"  AS failed"

void api_email_subscriptions_get(struct http_request *req,
				 struct http_response *res)
{
	res->status = 500;
	if (email_gate(req, res) < 0)
		return;
	api_answer_rows(req, res, 200, "email_subscriptions",
			"SELECT " EMAIL_COLUMNS
			" FROM email_subscription s ORDER BY s.id",
			0, NULL, false);
}

void api_email_subscriptions_post(struct http_request *req,
				  struct http_response *res)
{
	struct sub_body b;
	struct mailer_spec s = {0};
	const char *params[1];
	struct err e = {0};
	json_t *body = NULL;
	PGresult *q = NULL;
	char id_s[24];
	int64_t id;

	res->status = 500;
	if (email_gate(req, res) < 0)
		return;
	body = http_body_json(req, res);
	if (!body)
		return;
	if (sub_body_read(body, "to", &b, &e) < 0)
		goto bad;
	s = (struct mailer_spec){.to = b.target, .filter = b.filter};
	if (mailer_spec_check(&s, &e) < 0)
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	if (mailer_subscribe(req->db, &s, &id, &e) < 0)
		goto fail;
	snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
	params[0] = id_s;
	q = db_exec(req->db,
		    "SELECT " EMAIL_COLUMNS " FROM email_subscription s"
		    " WHERE s.id = $1",
		    1, params, &e);
	if (!q || db_commit(req->db, &e) < 0)
		goto fail;
	{
		json_t *rows = api_rows(q, 1);
		json_t *sub = json_incref(json_array_get(rows, 0));

		json_decref(rows);
		/* Said here, where it can still be acted on. */
		if (!settings_get("smtp_url"))
			json_object_set_new(
				sub, "note",
				json_string("email is off on this server "
					    "(LAGERBILD_SMTP_URL is not set): "
					    "notices wait until it is"));
		http_json(res, 201, sub);
	}
	goto out;
fail:
	db_rollback(req->db);
bad:
	http_error_from(res, &e);
out:
	PQclear(q);
	json_decref(body);
}

void api_email_subscription_delete(struct http_request *req,
				   struct http_response *res)
{
	const char *params[1] = {req->params[0]};
	struct err e = {0};
	PGresult *q = NULL;

	res->status = 500;
	if (email_gate(req, res) < 0 || sub_id(req, res) < 0)
		return;
	if (api_begin(req, res) < 0)
		return;
	/* Deactivated, not deleted: its deliveries stay on record, and the
	 * queued ones are given up, not sent. */
	q = db_exec(req->db,
		    "UPDATE email_subscription SET active = false,"
		    " deactivated_at = coalesce(deactivated_at, now())"
		    " WHERE id = $1 RETURNING id",
		    1, params, &e);
	if (!q || db_commit(req->db, &e) < 0) {
		db_rollback(req->db);
		http_error_from(res, &e);
	} else if (PQntuples(q) == 0) {
		http_error(res, 404, "not_found", "id",
			   "email subscription %s: no such subscription",
			   req->params[0]);
	} else {
		res->status = 204;
	}
	PQclear(q);
}
