/*
 * jsonin.c -- field tables for JSON request bodies.
 */
#include <string.h>

#include "jsonin.h"

static const char *type_name(enum jsonin_type t)
{
	switch (t) {
	case JSONIN_STRING: return "a string";
	case JSONIN_INTEGER: return "a whole number";
	default: return "true or false";
	}
}

static bool type_ok(const json_t *v, enum jsonin_type t)
{
	switch (t) {
	case JSONIN_STRING: return json_is_string(v);
	case JSONIN_INTEGER: return json_is_integer(v);
	default: return json_is_boolean(v);
	}
}

/* How much of key (UTF-8) to show in at most max bytes: never half a
 * character, so that the error stays UTF-8. */
static size_t key_cut(const char *key, size_t max)
{
	size_t n = strnlen(key, max + 1);

	if (n <= max)
		return n;
	for (n = max; n > 0 && ((unsigned char)key[n] & 0xC0) == 0x80; n--)
		;
	return n;
}

int jsonin_check(const json_t *obj, const struct jsonin_field *fields,
		 size_t nfields, const char *prefix, struct err *e)
{
	const char *key;
	json_t *value;
	char name[128];

	if (!json_is_object(obj)) {
		/* prefix names the object itself, without its final dot */
		size_t n = strlen(prefix);

		snprintf(name, sizeof(name), "%.*s", n ? (int)n - 1 : 0,
			 prefix);
		return err_set(e, ERR_INVALID, name, "%s: must be an object",
			       n ? name : "body");
	}
	json_object_foreach((json_t *)obj, key, value)
	{
		const struct jsonin_field *f = NULL;

		for (size_t i = 0; i < nfields && !f; i++)
			if (strcmp(fields[i].name, key) == 0)
				f = &fields[i];
		snprintf(name, sizeof(name), "%s%.*s", prefix,
			 (int)key_cut(key, 64), key);
		if (!f)
			return err_set(e, ERR_INVALID, name,
				       "%s: unknown field", name);
		if (!json_is_null(value) && !type_ok(value, f->type))
			return err_set(e, ERR_INVALID, name, "%s: must be %s",
				       name, type_name(f->type));
	}
	for (size_t i = 0; i < nfields; i++) {
		json_t *v = json_object_get(obj, fields[i].name);

		if (fields[i].required && (!v || json_is_null(v))) {
			snprintf(name, sizeof(name), "%s%s", prefix,
				 fields[i].name);
			return err_set(e, ERR_INVALID, name, "%s: missing",
				       name);
		}
	}
	return 0;
}

const char *jsonin_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

bool jsonin_int(const json_t *obj, const char *key, int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return false;
	*out = (int64_t)json_integer_value(v);
	return true;
}
