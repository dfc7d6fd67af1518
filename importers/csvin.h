/*
 * csvin.h -- read a CSV feed record by record, columns found by header name.
 *
 * Built on libcsv.  The reader
 *   - takes UTF-8 or Windows-1252: when the file is not valid UTF-8 it is
 *     converted with iconv (Swedish spreadsheets still save as 1252); a
 *     UTF-8 byte-order mark is skipped;
 *   - finds the delimiter from the header line: ';', ',' or a tab,
 *     whichever occurs most outside quotes;
 *   - maps the header's names (case-insensitive, surrounding blanks
 *     ignored) to the caller's columns; a missing required column stops
 *     the import with an error naming it, an unknown column is an error
 *     too (a misspelt optional column would otherwise be silently empty);
 *   - trims surrounding blanks of unquoted fields, skips blank lines;
 *   - rejects, via import_reject, a record whose field count differs from
 *     the header's or with a field over IMPORT_FIELD_MAX bytes, and goes
 *     on with the next;
 *   - hands every other record to the callback with its line number
 *     (where the record starts) and its values in the caller's column
 *     order: NULL for a column the file does not have, "" for an empty
 *     field.
 * Memory is bounded by one record.
 */
#ifndef LAGERBILD_CSVIN_H
#define LAGERBILD_CSVIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "import.h"

/* Columns a feed may name. */
#define CSVIN_MAX_COLUMNS 32

struct csvin_column {
	const char *name;  /* as in the header, e.g. "Varunummer" */
	bool required;	   /* the header must have it */
	const char *alias; /* another accepted header name, or NULL */
};

/*
 * Called for each record.  vals[i] belongs to cols[i].  Return 0 to go on
 * (after import_reject for a bad record, too), -1 with run->err set to stop
 * the import.
 */
typedef int csvin_record_fn(struct import_run *run, int64_t line,
			    const char *const *vals, void *arg);

/*
 * Read the file at path.  0 when every record was handed over or rejected;
 * -1 with run->err set when the file cannot be read, has no header, or the
 * header lacks a required column or has an unknown one, or when fn
 * returned -1.
 */
int csvin_read(struct import_run *run, const char *path,
	       const struct csvin_column *cols, size_t ncols,
	       csvin_record_fn *fn, void *arg);

/*
 * Compare two strings ignoring the case of ASCII letters only, whatever the
 * locale (bytes beyond ASCII must match exactly): for header names and the
 * words feeds accept ("ja", "Nej").  <0, 0, >0 like strcmp.
 */
int csvin_casecmp(const char *a, const char *b);

#endif
