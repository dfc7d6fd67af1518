/*
 * fuzz_jsonin.c -- libFuzzer target for jsonin_check, jsonin_str and
 * jsonin_int, the shape check every JSON request body of the API passes
 * before a handler reads it.
 *
 * Bodies are the service's most exposed input.  This checks that any value
 * jansson accepts is either refused with an ERR_INVALID naming a field
 * (under the given prefix) or accepted, after which reading each field of
 * the table is safe.  The field names are built from the client's keys,
 * cut to a bound, so ASan watches those buffers.
 *
 * Input: byte 0 picks the field table (bit 0), jansson's JSON_ALLOW_NUL
 * (bit 1) and JSON_DECODE_ANY (bit 2, so that non-objects reach the
 * check), an empty table (bit 3) and the prefix (bits 4-5); the rest is the
 * JSON text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonin.h"

#include "fuzz.h"

/* One table with every type and required fields, one with a single
 * optional field. */
static const struct jsonin_field event_fields[] = {
	{"qty", JSONIN_INTEGER, true},
	{"lot", JSONIN_STRING, false},
	{"product", JSONIN_STRING, true},
	{"dry_run", JSONIN_BOOLEAN, false},
};
static const struct jsonin_field reason_fields[] = {
	{"reason", JSONIN_STRING, false},
};

static const char *const prefixes[] = {"", "events[3].", "a.", "x"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct jsonin_field *t;
	const char *prefix;
	struct err e = {0};
	json_error_t jerr;
	json_t *j;
	size_t nt;
	int rc, flags;
	uint8_t sel;

	if (size < 1)
		return 0;
	sel = data[0];
	t = sel & 1 ? reason_fields : event_fields;
	nt = sel & 1 ? 1 : sizeof(event_fields) / sizeof(event_fields[0]);
	flags = (sel & 2 ? JSON_ALLOW_NUL : 0) |
		(sel & 4 ? JSON_DECODE_ANY : 0);
	prefix = prefixes[(sel >> 4) & 3];
	j = json_loadb((const char *)data + 1, size - 1, (size_t)flags, &jerr);
	if (!j)
		return 0;

	rc = jsonin_check(j, t, sel & 8 ? 0 : nt, prefix, &e);
	fuzz_check_err(rc, &e, NULL);
	if (rc == -1) {
		size_t np = strlen(prefix);

		if (e.code != ERR_INVALID)
			fuzz_fail("error code %d", (int)e.code);
		/* an object's own name is the prefix without its dot */
		if (np && strncmp(e.field, prefix, np - 1) != 0)
			fuzz_fail("field '%s' not under prefix '%s'", e.field,
				  prefix);
	} else {
		int64_t v;

		for (size_t i = 0; i < nt; i++) {
			const char *s = jsonin_str(j, t[i].name);

			if (s && strlen(s) > size)
				fuzz_fail("'%s' longer than the input",
					  t[i].name);
			(void)jsonin_int(j, t[i].name, &v);
		}
	}
	json_decref(j);
	return 0;
}
