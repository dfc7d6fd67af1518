/*
 * jsonin.h -- strict reading of JSON request bodies.
 *
 * Every object a client sends is checked against a table of the fields it
 * may have: an unknown field, a missing required one, or a value of the
 * wrong type is an ERR_INVALID naming the field by its path ("qty",
 * "events[3].lot").  Domain rules (ranges, identifiers) are the validators'
 * business; this only makes sure the shapes are right first.
 */
#ifndef LAGERBILD_JSONIN_H
#define LAGERBILD_JSONIN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

enum jsonin_type { JSONIN_STRING, JSONIN_INTEGER, JSONIN_BOOLEAN };

struct jsonin_field {
	const char *name;
	enum jsonin_type type;
	bool required;
};

/*
 * Check obj (which must be an object) against fields.  prefix ("" or
 * "events[3].") is put before field names in errors.  JSON null counts as
 * absent.
 */
int jsonin_check(const json_t *obj, const struct jsonin_field *fields,
		 size_t nfields, const char *prefix, struct err *e);

/* A string member, or NULL when absent or null.  Borrowed from obj. */
const char *jsonin_str(const json_t *obj, const char *key);

/* An integer member into *out; false when absent or null. */
bool jsonin_int(const json_t *obj, const char *key, int64_t *out);

#endif
