/*
 * err.h -- the one error convention: functions return 0 or -1, and on -1
 * the reason is kept in a struct err supplied by the caller.
 *
 * The code says what kind of failure it was, so that interfaces can map it
 * to an exit status (CLI) or an HTTP status (service) without parsing text.
 * The field names the offending input where there is one.
 */
#ifndef LAGERBILD_ERR_H
#define LAGERBILD_ERR_H

#include <stddef.h>

enum err_code {
	ERR_NONE = 0,
	ERR_INVALID,   /* malformed or out-of-range input: CLI 2/1, HTTP 400 */
	ERR_NOT_FOUND, /* a referenced thing does not exist: HTTP 404 */
	ERR_CONFLICT,  /* idempotency conflict, negative balance: HTTP 409 */
	ERR_FORBIDDEN, /* not allowed for this caller: HTTP 403 */
	ERR_UNAVAILABLE, /* the database is unreachable: HTTP 503 */
	ERR_INTERNAL	 /* a bug or an unexpected database error: HTTP 500 */
};

struct err {
	enum err_code code;
	char field[64]; /* empty when no single input field is to blame */
	char msg[512];
};

/* Record an error; always returns -1 so callers can `return err_set(...)`. */
int err_set(struct err *e, enum err_code code, const char *field,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Put printf-formatted context in front of the message ("event 3: ",
 * "migration 002_ledger.sql failed: "), keeping code and field.  Returns -1.
 */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reset to "no error". Accepts NULL. */
void err_clear(struct err *e);

/* Stable lower-case name of a code ("invalid", "conflict", ...). */
const char *err_code_name(enum err_code code);

#endif
