/*
 * catalog.h -- find sites and products by the identifiers people use.
 *
 * A product can be named by any of its identifiers.  Prefixed forms say which
 * one is meant: "vnr:012345", "gtin:07350012345678", "npl:20050512000031"
 * (NPL pack id) or "id:42".  A bare number is read by its shape: 6 digits is a
 * Vnr, 8/12/13 digits a GTIN, 14 digits an NPL pack id or a GTIN-14; if that
 * matches two different products the caller is asked to use a prefix.
 */
#ifndef LAGERBILD_CATALOG_H
#define LAGERBILD_CATALOG_H

#include <stdint.h>

#include "db.h"
#include "err.h"

struct site_ref {
	int64_t id;
	char region_code[3];
	char code[33];
};

struct product_ref {
	int64_t id;
	char name[301];
	char category[32];
};

/* Look a site up by code; ERR_NOT_FOUND when there is none. */
int catalog_find_site(struct db *db, const char *code, struct site_ref *out,
		      struct err *e);

/* Check a product identifier's form without looking it up.  Pure. */
int catalog_check_product_key(const char *key, struct err *e);

/* Room for a normalised product identifier's value. */
#define CATALOG_KEY_MAX 24

/*
 * Check a product identifier and say what it names, for callers that
 * resolve many at once in SQL (the importers): *kind is "vnr", "gtin",
 * "npl" (pack id), "id", or "npl_or_gtin" (14 bare digits, which may be
 * either: a product whose npl_pack_id or gtin is value, ambiguous if two
 * different ones match); value is normalised (GTINs to 14 digits).  Pure.
 */
int catalog_product_key(const char *key, const char **kind,
			char value[CATALOG_KEY_MAX], struct err *e);

/* Look a product up by identifier as described above. */
int catalog_find_product(struct db *db, const char *key,
			 struct product_ref *out, struct err *e);

/* True when s names one of the five product categories. */
int catalog_check_category(const char *s, const char *field, struct err *e);

#endif
