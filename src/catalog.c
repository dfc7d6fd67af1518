/*
 * catalog.c -- site and product lookup by code and identifier.
 */
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "validate.h"

static const char *const categories[] = {
	"medicine", "medical_device", "ppe", "fsmp", "manufacturing_material",
};

int catalog_check_category(const char *s, const char *field, struct err *e)
{
	for (size_t i = 0; i < sizeof(categories) / sizeof(categories[0]); i++)
		if (s && strcmp(s, categories[i]) == 0)
			return 0;
	return err_set(e, ERR_INVALID, field,
		       "category \"%.40s\": not one of medicine, "
		       "medical_device, ppe, fsmp, manufacturing_material",
		       s ? s : "");
}

/* Lookups run on every write request: prepared once per connection. */
static const struct db_stmt site_stmt = {
	"catalog_site",
	"SELECT id, region_code, code FROM site WHERE code = $1",
	1,
};

int catalog_find_site(struct db *db, const char *code, struct site_ref *out,
		      struct err *e)
{
	const char *params[] = {code};
	PGresult *res = NULL;
	int rc = -1;

	if (validate_site_code(code, "site", e) < 0)
		return -1;
	res = db_exec_stmt(db, &site_stmt, params, e);
	if (!res)
		goto out;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "site", "site %s: no such site",
			code);
		goto out;
	}
	out->id = db_int64(res, 0, 0);
	memcpy(out->region_code, db_text(res, 0, 1), 3);
	strncpy(out->code, db_text(res, 0, 2), sizeof(out->code) - 1);
	out->code[sizeof(out->code) - 1] = '\0';
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* Which column a key names, and the value to look for (normalised). */
struct product_key {
	const struct db_stmt *sql;
	char value[CATALOG_KEY_MAX];
};

static const struct db_stmt by_vnr[] = {
	{"catalog_vnr", "SELECT id, name, category FROM product WHERE vnr = $1",
	 1}};
static const struct db_stmt by_gtin[] = {
	{"catalog_gtin",
	 "SELECT id, name, category FROM product WHERE gtin = $1", 1}};
static const struct db_stmt by_npl_pack[] = {
	{"catalog_npl",
	 "SELECT id, name, category FROM product WHERE npl_pack_id = $1", 1}};
static const struct db_stmt by_id[] = {
	{"catalog_id", "SELECT id, name, category FROM product WHERE id = $1",
	 1}};
static const struct db_stmt by_14_digits[] = {
	{"catalog_14",
	 "SELECT id, name, category FROM product"
	 " WHERE npl_pack_id = $1 OR gtin = $1",
	 1}};

static int parse_key(const char *key, struct product_key *k, struct err *e)
{
	const char *colon = key ? strchr(key, ':') : NULL;
	size_t len;

	if (!key || !key[0])
		return err_set(e, ERR_INVALID, "product", "product missing");
	if (colon) {
		const char *v = colon + 1;
		size_t plen = (size_t)(colon - key);
		int64_t id;

		if (plen == 3 && strncmp(key, "vnr", 3) == 0) {
			k->sql = by_vnr;
			if (validate_vnr(v, "product", e) < 0)
				return -1;
		} else if (plen == 4 && strncmp(key, "gtin", 4) == 0) {
			k->sql = by_gtin;
			return gtin_normalize(v, k->value, "product", e);
		} else if (plen == 3 && strncmp(key, "npl", 3) == 0) {
			k->sql = by_npl_pack;
			if (validate_npl_id(v, "product", e) < 0)
				return -1;
		} else if (plen == 2 && strncmp(key, "id", 2) == 0) {
			k->sql = by_id;
			if (parse_int64(v, 1, INT64_MAX, &id, "product", e) < 0)
				return -1;
			snprintf(k->value, sizeof(k->value), "%lld",
				 (long long)id);
			return 0;
		} else {
			return err_set(e, ERR_INVALID, "product",
				       "product \"%.40s\": prefix must be "
				       "vnr:, gtin:, npl: or id:",
				       key);
		}
		len = strlen(v);
		memcpy(k->value, v, len + 1);
		return 0;
	}
	len = strlen(key);
	if (len == 6)
		k->sql = by_vnr;
	else if (len == 8 || len == 12 || len == 13)
		k->sql = by_gtin;
	else if (len == 14)
		k->sql = by_14_digits;
	else
		return err_set(e, ERR_INVALID, "product",
			       "product \"%.40s\": not a Vnr (6 digits), GTIN "
			       "(8, 12, 13 or 14 digits) or NPL pack id (14 "
			       "digits); use a prefix such as id:",
			       key);
	if (k->sql == by_gtin)
		return gtin_normalize(key, k->value, "product", e);
	if ((k->sql == by_vnr ? validate_vnr(key, "product", e) :
				validate_npl_id(key, "product", e)) < 0)
		return -1;
	memcpy(k->value, key, len + 1);
	return 0;
}

int catalog_product_key(const char *key, const char **kind,
			char value[CATALOG_KEY_MAX], struct err *e)
{
	struct product_key k;

	if (parse_key(key, &k, e) < 0)
		return -1;
	*kind = k.sql == by_vnr	     ? "vnr" :
		k.sql == by_gtin     ? "gtin" :
		k.sql == by_npl_pack ? "npl" :
		k.sql == by_id	     ? "id" :
				       "npl_or_gtin";
	memcpy(value, k.value, sizeof(k.value));
	return 0;
}

int catalog_check_product_key(const char *key, struct err *e)
{
	struct product_key k;

	return parse_key(key, &k, e);
}

int catalog_find_product(struct db *db, const char *key,
			 struct product_ref *out, struct err *e)
{
	struct product_key k;
	const char *params[1];
	PGresult *res = NULL;
	int rc = -1;

	if (parse_key(key, &k, e) < 0)
		return -1;
	params[0] = k.value;
	res = db_exec_stmt(db, k.sql, params, e);
	if (!res)
		goto out;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "product",
			"product %s: no such product", key);
		goto out;
	}
	if (PQntuples(res) > 1) {
		err_set(e, ERR_INVALID, "product",
			"product %s: matches an NPL pack id and a GTIN of "
			"different products; write npl:%s or gtin:%s",
			key, key, key);
		goto out;
	}
	out->id = db_int64(res, 0, 0);
	strncpy(out->name, db_text(res, 0, 1), sizeof(out->name) - 1);
	out->name[sizeof(out->name) - 1] = '\0';
	strncpy(out->category, db_text(res, 0, 2), sizeof(out->category) - 1);
	out->category[sizeof(out->category) - 1] = '\0';
	rc = 0;
out:
	PQclear(res);
	return rc;
}
