/*
 * validate.h -- pure validators and bounded parsers for everything that
 * enters lagerbild from outside: identifiers, codes, dates and numbers.
 *
 * Nothing here does I/O or allocates.  Each function returns 0 when the input
 * is acceptable and -1 otherwise, with an error of code ERR_INVALID whose field
 * is the `field` argument and whose message states the value and the reason,
 * e.g. "gtin 7350012345671: wrong check digit, expected 9".  The rules match
 * the CHECK constraints in sql/ one for one; change both together.
 */
#ifndef LAGERBILD_VALIDATE_H
#define LAGERBILD_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Longest text accepted where the domain has no tighter rule. */
#define VALIDATE_TEXT_MAX 1000

struct date {
	int year;  /* 1900..9999 */
	int month; /* 1..12 */
	int day;   /* 1..days in that month, leap years honoured */
};

/* ---- numbers ---- */

/*
 * Parse a whole decimal integer in [min, max] the way strtonum does: an
 * optional leading '-', then digits only; no blanks, no '+', no trailing
 * garbage, no empty string; overflow and out-of-range are errors.
 */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out,
		const char *field, struct err *e);

/* ---- identifiers ---- */

/*
 * The GS1 mod-10 check digit ('0'..'9') of the first n-1 digits of a GTIN of
 * n digits; -1 if n is not 8, 12, 13 or 14 or a character is not a digit.
 */
int gtin_check_digit(const char *digits, int n);

/* GTIN-8/12/13/14: only digits, one of those lengths, correct check digit. */
int validate_gtin(const char *s, const char *field, struct err *e);

/*
 * Validate a GTIN and write its 14-digit form (left-padded with zeros, which
 * keeps the check digit valid) to out.  This is how GTINs are stored.
 */
int gtin_normalize(const char *s, char out[15], const char *field,
		   struct err *e);

/* Varunummer: exactly 6 digits; leading zeros are significant. */
int validate_vnr(const char *s, const char *field, struct err *e);

/* NPL-id and NPL pack id: exactly 14 digits. */
int validate_npl_id(const char *s, const char *field, struct err *e);

/* ATC code at the full 7-character level: ^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$ */
int validate_atc(const char *s, const char *field, struct err *e);

/* One of the 21 SCB county codes of Sweden's regions ("01" .. "25"). */
int validate_region_code(const char *s, const char *field, struct err *e);

/* Name of a region by SCB code, or NULL when the code is not a region's. */
const char *region_name(const char *code);

/*
 * Site code: 1..32 characters of [A-Za-z0-9._-], starting with a letter or
 * digit.
 */
int validate_site_code(const char *s, const char *field, struct err *e);

/* Lot number: 0..64 printable ASCII characters, no leading/trailing space. */
int validate_lot(const char *s, const char *field, struct err *e);

/* UUID in canonical 8-4-4-4-12 hexadecimal form (either case). */
int validate_uuid(const char *s, const char *field, struct err *e);

/* ---- dates and text ---- */

/* A calendar date written YYYY-MM-DD; year 1900..9999. */
int parse_date(const char *s, struct date *out, const char *field,
	       struct err *e);

/*
 * An RFC 3339 date and time: YYYY-MM-DDTHH:MM:SS, optional fraction, then
 * Z or +HH:MM / -HH:MM ('T' may be a space).  *epoch (may be NULL) gets
 * the seconds since 1970-01-01 UTC.
 */
int parse_timestamp(const char *s, int64_t *epoch, const char *field,
		    struct err *e);

/*
 * Free text: valid UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF), no control characters (C0 including tab and newline, DEL, C1),
 * at most max_bytes bytes; empty, or only blanks (space separators such
 * as U+0020 and U+00A0), allowed only when allow_empty.
 */
int validate_text(const char *s, size_t max_bytes, bool allow_empty,
		  const char *field, struct err *e);

/*
 * The length of the UTF-8 sequence that p (NUL-terminated) starts, with
 * its code point in *cp; 0 when p starts none: a stray continuation byte,
 * an overlong form, a surrogate, beyond U+10FFFF, or cut short.
 */
size_t utf8_decode(const unsigned char *p, uint32_t *cp);

/*
 * Make s valid UTF-8 in place: each byte that starts no sequence becomes
 * '?'.  For messages that quote input cut by a printf precision ("%.40s"
 * may end inside a character) and go to JSON, which takes UTF-8 only.
 */
void utf8_scrub(char *s);

#endif
