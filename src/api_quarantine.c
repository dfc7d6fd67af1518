/*
 * api_quarantine.c -- /api/v1 quarantines: holding a lot back (a recall, a
 * suspected cold-chain break) and releasing it.
 *
 *   POST /api/v1/quarantines               {site, product, lot?, reason}
 *   POST /api/v1/quarantines/{id}/release  {reason}
 *   GET  /api/v1/quarantines               ?region, site, product,
 *                                          open=true|false, after, limit
 *
 * A quarantine holds the whole lot at the site (quarantine.h): a body with
 * "quantity" is refused, as is a lot with no stock there (409).  No lot
 * means the stock recorded without a lot number.
 *
 * Who: a region's contact person places and releases quarantines of its
 * own sites.  Row-level security (sql/007) would admit the region's import
 * job too, but an importer pushes its feed and nothing else (DESIGN.md),
 * so this interface refuses it; coordinators, viewers and admins read.
 * Reads follow site-level detail, as balances do: a region-scoped caller
 * sees its own region's, national roles all.  The handlers refuse first
 * with a clear 403, and every statement runs as the caller behind them.
 */
#include <stdio.h>
#include <string.h>

#include "alerts.h"
#include "api_handlers.h"
#include "apiutil.h"
#include "catalog.h"
#include "jsonin.h"
#include "quarantine.h"
#include "validate.h"

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* Only a contact person acts on quarantines here; -1 with a 403 set. */
static int may_act(struct http_request *req, struct http_response *res)
{
	if (req->who->role == ROLE_REGION_CONTACT && req->who->region[0])
		return 0;
	http_error(res, 403, "forbidden", NULL,
		   "a %s does not quarantine stock: each region's contact "
		   "person places and releases its own",
		   auth_role_name(req->who->role));
	return -1;
}

/* Answer status with the one row of q (committed by then). */
static void answer_row(struct http_response *res, int status, const PGresult *q)
{
	json_t *rows = api_rows(q, 1);

	http_json(res, status, json_incref(json_array_get(rows, 0)));
	json_decref(rows);
}

void api_quarantines_post(struct http_request *req, struct http_response *res)
{
	static const struct jsonin_field fields[] = {
		{"site", JSONIN_STRING, true},
		{"product", JSONIN_STRING, true},
		{"lot", JSONIN_STRING, false},
		{"reason", JSONIN_STRING, true},
		/* read only to be refused with a reason, not "unknown" */
		{"quantity", JSONIN_INTEGER, false},
	};
	struct quarantine_spec spec = {0};
	struct site_ref site;
	struct product_ref product;
	const char *site_code, *product_key;
	struct err e = {0};
	json_t *body = NULL;
	PGresult *q = NULL;
	int64_t id, qty;

	res->status = 500;
	if (may_act(req, res) < 0)
		goto out;
	body = http_body_json(req, res);
	if (!body)
		goto out;
	if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0)
		goto bad;
	if (jsonin_int(body, "quantity", &qty)) {
		err_set(&e, ERR_INVALID, "quantity",
			"quantity: a quarantine holds the whole lot at the "
			"site; leave quantity out (move part of a lot to a "
			"quarantine site with a transfer instead)");
		goto bad;
	}
	site_code = jsonin_str(body, "site");
	product_key = jsonin_str(body, "product");
	spec.lot = jsonin_str(body, "lot");
	spec.reason = jsonin_str(body, "reason");
	if (validate_site_code(site_code, "site", &e) < 0 ||
	    catalog_check_product_key(product_key, &e) < 0 ||
	    quarantine_check(spec.lot, spec.reason, &e) < 0)
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	if (catalog_find_site(req->db, site_code, &site, &e) < 0 ||
	    catalog_find_product(req->db, product_key, &product, &e) < 0) {
		/* A name in the body that matches nothing is bad input. */
		if (e.code == ERR_NOT_FOUND)
			e.code = ERR_INVALID;
		goto fail;
	}
	if (strcmp(site.region_code, req->who->region) != 0) {
		err_set(&e, ERR_FORBIDDEN, "site",
			"site %s belongs to region %s; %s quarantines stock "
			"of region %s only",
			site_code, site.region_code, req->who->username,
			req->who->region);
		goto fail;
	}
	spec.region = site.region_code;
	spec.site_id = site.id;
	spec.product_id = product.id;
	if (quarantine_place(req->db, &spec, &id, &e) < 0 ||
	    quarantine_get(req->db, id, &q, &e) < 0 ||
	    db_commit(req->db, &e) < 0)
		goto fail;
	/* committed: the readiness alerts of this key are due again */
	alerts_touch(site.region_code, product.id);
	answer_row(res, 201, q);
	goto out;
fail:
	db_rollback(req->db);
bad:
	http_error_from(res, &e);
out:
	PQclear(q);
	json_decref(body);
}

void api_quarantine_release(struct http_request *req, struct http_response *res)
{
	static const struct jsonin_field fields[] = {
		{"reason", JSONIN_STRING, true},
	};
	struct err e = {0};
	json_t *body = NULL;
	PGresult *q = NULL;
	const char *reason;
	char region[3];
	int64_t id, product_id;

	res->status = 500;
	if (parse_int64(req->params[0], 1, INT64_MAX, &id, "id", &e) < 0)
		goto bad;
	if (may_act(req, res) < 0)
		goto out;
	body = http_body_json(req, res);
	if (!body)
		goto out;
	if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0)
		goto bad;
	reason = jsonin_str(body, "reason");
	if (quarantine_check(NULL, reason, &e) < 0)
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	/* Whose is it?  Another region's is a clear 403, not a 404. */
	if (quarantine_region(req->db, id, region, &e) < 0)
		goto fail;
	if (strcmp(region, req->who->region) != 0) {
		err_set(&e, ERR_FORBIDDEN, "id",
			"quarantine %s is region %s's; only that region "
			"releases it",
			req->params[0], region);
		goto fail;
	}
	if (quarantine_release(req->db, id, reason, NULL, &product_id, &e) <
		    0 ||
	    quarantine_get(req->db, id, &q, &e) < 0 ||
	    db_commit(req->db, &e) < 0)
		goto fail;
	alerts_touch(region, product_id);
	answer_row(res, 200, q);
	goto out;
fail:
	db_rollback(req->db);
bad:
	http_error_from(res, &e);
out:
	PQclear(q);
	json_decref(body);
}

void api_quarantines_get(struct http_request *req, struct http_response *res)
{
	const char *site = http_query(req, "site");
	const char *product = http_query(req, "product");
	const char *open = http_query(req, "open");
	const char *after = http_query(req, "after");
	struct quarantine_filter f = {0};
	struct site_ref sref;
	struct product_ref pref;
	struct err e = {0};
	PGresult *q = NULL;
	int n;

	res->status = 500;
	if (api_detail_region(req, res, &f.region) < 0 ||
	    api_limit(req, res, 100, QUARANTINE_LIST_MAX, &f.limit) < 0)
		goto out;
	if (open && strcmp(open, "true") != 0 && strcmp(open, "false") != 0) {
		err_set(&e, ERR_INVALID, "open",
			"open \"%.40s\": true or false", open);
		goto bad;
	}
	f.open_only = open && strcmp(open, "true") == 0;
	if ((after &&
	     parse_int64(after, 0, INT64_MAX, &f.after, "after", &e) < 0) ||
	    (site && validate_site_code(site, "site", &e) < 0) ||
	    (product && catalog_check_product_key(product, &e) < 0))
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	if (site) {
		const char *asked = http_query(req, "region");

		if (catalog_find_site(req->db, site, &sref, &e) < 0)
			goto fail;
		if (!auth_may_read_region_detail(req->who, sref.region_code)) {
			err_set(&e, ERR_FORBIDDEN, "site",
				"site %s is region %s's", site,
				sref.region_code);
			goto fail;
		}
		if (asked && strcmp(asked, sref.region_code) != 0) {
			err_set(&e, ERR_INVALID, "site",
				"site %s is not in region %s", site, asked);
			goto fail;
		}
		f.site_id = sref.id;
	}
	if (product) {
		if (catalog_find_product(req->db, product, &pref, &e) < 0)
			goto fail;
		f.product_id = pref.id;
	}
	if (quarantine_list(req->db, &f, &q, &e) < 0)
		goto fail;
	db_rollback(req->db);
	n = PQntuples(q);
	http_json(res, 200,
		  json_pack("{s:o, s:o}", "quarantines",
			    api_rows(q, (int)f.limit), "next_after",
			    n > f.limit ? json_integer(db_int64(
						  q, (int)f.limit - 1, 0)) :
					  json_null()));
	goto out;
fail:
	db_rollback(req->db);
	/* A filter naming nothing is bad input. */
	if (e.code == ERR_NOT_FOUND)
		e.code = ERR_INVALID;
bad:
	http_error_from(res, &e);
out:
	PQclear(q);
}
