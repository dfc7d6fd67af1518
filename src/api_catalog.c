/*
 * api_catalog.c -- /api/v1 reference data: regions, sites, products.
 *
 * Everyone authenticated reads them.  Sites are created and changed by
 * admins, coordinators and the region's own contact person; products by
 * coordinators and admins.  Row-level security enforces the same.
 */
#include <stdio.h>
#include <string.h>

#include "api_handlers.h"
#include "apiutil.h"
#include "catalog.h"
#include "jsonin.h"
#include "validate.h"

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

void api_regions_get(struct http_request *req, struct http_response *res)
{
	res->status = 500;
	api_answer_rows(
		req, res, 200, "regions",
		"SELECT r.code, r.name, r.healthcare_region,"
		" h.name AS healthcare_region_name, r.population,"
		" r.population_year, r.population_source"
		" FROM region r"
		" JOIN healthcare_region h ON h.code = r.healthcare_region"
		" ORDER BY r.code",
		0, NULL, false);
}

#define SITE_COLUMNS                                                 \
	"id, code, name, kind::text AS kind, region_code AS region," \
	" host_region_code AS host_region, active"

void api_sites_get(struct http_request *req, struct http_response *res)
{
	const char *region = http_query(req, "region");
	const char *params[1] = {region};
	struct err e = {0};

	res->status = 500;
	if (region && validate_region_code(region, "region", &e) < 0) {
		http_error_from(res, &e);
		return;
	}
	api_answer_rows(req, res, 200, "sites",
			"SELECT " SITE_COLUMNS " FROM site"
			" WHERE $1::text IS NULL OR region_code = $1"
			" ORDER BY region_code, code",
			1, params, false);
}

static const char *const site_kinds[] = {
	"central", "buffer", "hospital", "primary_care", "municipal", "other",
};

static int check_kind(const char *kind, struct err *e)
{
	for (size_t i = 0; i < NFIELDS(site_kinds); i++)
		if (strcmp(kind, site_kinds[i]) == 0)
			return 0;
	return err_set(e, ERR_INVALID, "kind",
		       "kind \"%.40s\": not one of central, buffer, hospital, "
		       "primary_care, municipal, other",
		       kind);
}

/* Who may create or change a site of region? */
static bool may_manage_site(const struct identity *who, const char *region)
{
	return who->role == ROLE_ADMIN || who->role == ROLE_COORDINATOR ||
	       (who->role == ROLE_REGION_CONTACT &&
		strcmp(who->region, region) == 0);
}

void api_sites_post(struct http_request *req, struct http_response *res)
{
	static const struct jsonin_field fields[] = {
		{"code", JSONIN_STRING, true},
		{"name", JSONIN_STRING, true},
		{"kind", JSONIN_STRING, true},
		{"region", JSONIN_STRING, true},
		{"host_region", JSONIN_STRING, false},
	};
	const char *params[5];
	struct err e = {0};
	json_t *body;

	res->status = 500;
	body = http_body_json(req, res);
	if (!body)
		return;
	params[0] = jsonin_str(body, "code");
	params[1] = jsonin_str(body, "name");
	params[2] = jsonin_str(body, "kind");
	params[3] = jsonin_str(body, "region");
	params[4] = jsonin_str(body, "host_region");
	if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0 ||
	    validate_site_code(params[0], "code", &e) < 0 ||
	    validate_text(params[1], 200, false, "name", &e) < 0 ||
	    check_kind(params[2], &e) < 0 ||
	    validate_region_code(params[3], "region", &e) < 0 ||
	    (params[4] &&
	     validate_region_code(params[4], "host_region", &e) < 0)) {
		http_error_from(res, &e);
	} else if (!may_manage_site(req->who, params[3])) {
		http_error(res, 403, "forbidden", "region",
			   "a %s may not create sites in region %s",
			   auth_role_name(req->who->role), params[3]);
	} else {
		api_answer_rows(
			req, res, 201, "site",
			"INSERT INTO site (code, name, kind, region_code,"
			" host_region_code)"
			" VALUES ($1, $2, $3::site_kind, $4::text,"
			" coalesce($5::text, $4::text))"
			" RETURNING " SITE_COLUMNS,
			5, params, true);
	}
	json_decref(body);
}

void api_site_patch(struct http_request *req, struct http_response *res)
{
	static const struct jsonin_field fields[] = {
		{"name", JSONIN_STRING, false},
		{"kind", JSONIN_STRING, false},
		{"host_region", JSONIN_STRING, false},
		{"active", JSONIN_BOOLEAN, false},
	};
	const char *code = req->params[0];
	const char *params[5];
	struct site_ref s;
	struct err e = {0};
	json_t *body = NULL, *active;

	res->status = 500;
	if (validate_site_code(code, "code", &e) < 0)
		goto bad;
	body = http_body_json(req, res);
	if (!body)
		return;
	params[0] = code;
	params[1] = jsonin_str(body, "name");
	params[2] = jsonin_str(body, "kind");
	params[3] = jsonin_str(body, "host_region");
	active = json_object_get(body, "active");
	params[4] = json_is_boolean(active) ?
			    (json_is_true(active) ? "true" : "false") :
			    NULL;
	if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0 ||
	    (params[1] &&
	     validate_text(params[1], 200, false, "name", &e) < 0) ||
	    (params[2] && check_kind(params[2], &e) < 0) ||
	    (params[3] &&
	     validate_region_code(params[3], "host_region", &e) < 0))
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	if (catalog_find_site(req->db, code, &s, &e) < 0) {
		db_rollback(req->db);
		snprintf(e.field, sizeof(e.field), "code");
		goto bad;
	}
	db_rollback(req->db);
	if (!may_manage_site(req->who, s.region_code)) {
		http_error(res, 403, "forbidden", "code",
			   "site %s is region %s's; a %s may not change it",
			   code, s.region_code, auth_role_name(req->who->role));
		goto out;
	}
	api_answer_rows(req, res, 200, "site",
			"UPDATE site SET name = coalesce($2, name),"
			" kind = coalesce($3::site_kind, kind),"
			" host_region_code = coalesce($4, host_region_code),"
			" active = coalesce($5::boolean, active)"
			" WHERE code = $1 RETURNING " SITE_COLUMNS,
			5, params, true);
	goto out;
bad:
	http_error_from(res, &e);
out:
	json_decref(body);
}

#define PRODUCT_COLUMNS                                                   \
	"id, category::text AS category, name, npl_id, npl_pack_id, vnr," \
	" gtin, atc, strength, form, base_unit, pack_size, critical,"     \
	" agreement_code AS agreement"

void api_products_get(struct http_request *req, struct http_response *res)
{
	const char *q = http_query(req, "q");
	const char *category = http_query(req, "category");
	const char *after = http_query(req, "after");
	struct product_ref p;
	char id[24] = "", limit_s[24];
	const char *params[5];
	struct err e = {0}, ignored;
	PGresult *rows = NULL;
	int64_t after_id = 0;
	long limit;

	res->status = 500;
	if (api_limit(req, res, 100, 1000, &limit) < 0)
		return;
	if ((q && validate_text(q, 200, false, "q", &e) < 0) ||
	    (category &&
	     catalog_check_category(category, "category", &e) < 0) ||
	    (after &&
	     parse_int64(after, 0, INT64_MAX, &after_id, "after", &e) < 0))
		goto bad;
	if (api_begin(req, res) < 0)
		return;
	/* A q that reads as an identifier is looked up as one first. */
	if (q && catalog_check_product_key(q, &ignored) == 0 &&
	    catalog_find_product(req->db, q, &p, &ignored) == 0)
		snprintf(id, sizeof(id), "%lld", (long long)p.id);
	snprintf(limit_s, sizeof(limit_s), "%ld", limit + 1);
	params[0] = id[0] ? NULL : q;
	params[1] = id[0] ? id : NULL;
	params[2] = category;
	params[3] = after ? after : "0";
	params[4] = limit_s;
	rows = db_exec(req->db,
		       "SELECT " PRODUCT_COLUMNS " FROM product"
		       " WHERE ($1::text IS NULL OR name ILIKE '%' ||"
		       "  replace(replace(replace($1, '\\', '\\\\'), '%',"
		       "  '\\%'), '_', '\\_') || '%' OR atc = upper($1))"
		       " AND ($2::bigint IS NULL OR id = $2)"
		       " AND ($3::product_category IS NULL OR category = $3)"
		       " AND id > $4 ORDER BY id LIMIT $5",
		       5, params, &e);
	db_rollback(req->db);
	if (!rows)
		goto bad;
	http_json(res, 200,
		  json_pack("{s:o, s:o}", "products",
			    api_rows(rows, (int)limit), "next_after",
			    PQntuples(rows) > limit ?
				    json_integer(
					    db_int64(rows, (int)limit - 1, 0)) :
				    json_null()));
	PQclear(rows);
	return;
bad:
	PQclear(rows);
	http_error_from(res, &e);
}

static const struct jsonin_field product_fields[] = {
	{"category", JSONIN_STRING, true},
	{"name", JSONIN_STRING, true},
	{"npl_id", JSONIN_STRING, false},
	{"npl_pack_id", JSONIN_STRING, false},
	{"vnr", JSONIN_STRING, false},
	{"gtin", JSONIN_STRING, false},
	{"atc", JSONIN_STRING, false},
	{"strength", JSONIN_STRING, false},
	{"form", JSONIN_STRING, false},
	{"base_unit", JSONIN_STRING, false},
	{"pack_size", JSONIN_INTEGER, false},
	{"critical", JSONIN_BOOLEAN, false},
	{"agreement", JSONIN_STRING, false},
};

/*
 * Validate a product body into text parameters (13, in product_fields
 * order; absent fields NULL).  GTINs are normalised to 14 digits into gtin.
 */
static int read_product(const json_t *body, bool create, const char **params,
			char gtin[15], char pack[24], struct err *e)
{
	struct jsonin_field fields[NFIELDS(product_fields)];
	int64_t pack_size;
	json_t *critical;

	memcpy(fields, product_fields, sizeof(fields));
	if (!create) /* a PATCH may leave anything out */
		for (size_t i = 0; i < NFIELDS(fields); i++)
			fields[i].required = false;
	if (jsonin_check(body, fields, NFIELDS(fields), "", e) < 0)
		return -1;
	for (size_t i = 0; i < NFIELDS(fields); i++)
		params[i] = jsonin_str(body, fields[i].name);
	if ((params[0] &&
	     catalog_check_category(params[0], "category", e) < 0) ||
	    (params[1] &&
	     validate_text(params[1], 300, false, "name", e) < 0) ||
	    (params[2] && validate_npl_id(params[2], "npl_id", e) < 0) ||
	    (params[3] && validate_npl_id(params[3], "npl_pack_id", e) < 0) ||
	    (params[4] && validate_vnr(params[4], "vnr", e) < 0) ||
	    (params[5] && gtin_normalize(params[5], gtin, "gtin", e) < 0) ||
	    (params[6] && validate_atc(params[6], "atc", e) < 0) ||
	    (params[7] &&
	     validate_text(params[7], 200, false, "strength", e) < 0) ||
	    (params[8] &&
	     validate_text(params[8], 200, false, "form", e) < 0) ||
	    (params[9] &&
	     validate_text(params[9], 20, false, "base_unit", e) < 0) ||
	    (params[12] &&
	     validate_text(params[12], 32, false, "agreement", e) < 0))
		return -1;
	if (params[5])
		params[5] = gtin;
	params[10] = NULL;
	if (jsonin_int(body, "pack_size", &pack_size)) {
		if (pack_size < 1 || pack_size > 1000000)
			return err_set(e, ERR_INVALID, "pack_size",
				       "pack_size %lld: must be between 1 and "
				       "1000000",
				       (long long)pack_size);
		snprintf(pack, 24, "%lld", (long long)pack_size);
		params[10] = pack;
	}
	critical = json_object_get(body, "critical");
	params[11] = json_is_boolean(critical) ?
			     (json_is_true(critical) ? "true" : "false") :
			     NULL;
	return 0;
}

/* Products are managed by coordinators and admins: 403 for the rest. */
static bool refused_product_manager(const struct http_request *req,
				    struct http_response *res)
{
	if (req->who->role == ROLE_COORDINATOR || req->who->role == ROLE_ADMIN)
		return false;
	http_error(res, 403, "forbidden", NULL,
		   "products are managed by coordinators");
	return true;
}

void api_products_post(struct http_request *req, struct http_response *res)
{
	const char *params[NFIELDS(product_fields)];
	char gtin[15], pack[24];
	struct err e = {0};
	json_t *body;

	res->status = 500;
	if (refused_product_manager(req, res))
		return;
	body = http_body_json(req, res);
	if (!body)
		return;
	if (read_product(body, true, params, gtin, pack, &e) < 0)
		http_error_from(res, &e);
	else
		api_answer_rows(
			req, res, 201, "product",
			"INSERT INTO product (category, name, npl_id,"
			" npl_pack_id, vnr, gtin, atc, strength, form,"
			" base_unit, pack_size, critical, agreement_code)"
			" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
			" coalesce($10, 'st'), coalesce($11::integer, 1),"
			" coalesce($12::boolean, false), $13)"
			" RETURNING " PRODUCT_COLUMNS,
			13, params, true);
	json_decref(body);
}

void api_product_patch(struct http_request *req, struct http_response *res)
{
	const char *params[NFIELDS(product_fields) + 1];
	char gtin[15], pack[24];
	struct err e = {0};
	int64_t id;
	json_t *body = NULL;

	res->status = 500;
	if (parse_int64(req->params[0], 1, INT64_MAX, &id, "id", &e) < 0) {
		http_error_from(res, &e);
		return;
	}
	if (refused_product_manager(req, res))
		return;
	body = http_body_json(req, res);
	if (!body)
		return;
	if (read_product(body, false, params, gtin, pack, &e) < 0) {
		http_error_from(res, &e);
	} else {
		params[13] = req->params[0];
		api_answer_rows(
			req, res, 200, "product",
			"UPDATE product SET"
			" category = coalesce($1::product_category, category),"
			" name = coalesce($2, name),"
			" npl_id = coalesce($3, npl_id),"
			" npl_pack_id = coalesce($4, npl_pack_id),"
			" vnr = coalesce($5, vnr), gtin = coalesce($6, gtin),"
			" atc = coalesce($7, atc),"
			" strength = coalesce($8, strength),"
			" form = coalesce($9, form),"
			" base_unit = coalesce($10, base_unit),"
			" pack_size = coalesce($11::integer, pack_size),"
			" critical = coalesce($12::boolean, critical),"
			" agreement_code = coalesce($13, agreement_code)"
			" WHERE id = $14 RETURNING " PRODUCT_COLUMNS,
			14, params, true);
	}
	json_decref(body);
}
