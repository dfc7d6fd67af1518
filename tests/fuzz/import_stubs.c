/*
 * import_stubs.c -- the import frame's functions for a feed's parse step,
 * checking instead of staging (see import_stubs.h).
 *
 * What is checked is what the frame and the database take for granted:
 *   - staged lines are > 0 and strictly increasing, so unique: the staging
 *     table's line is the key import_rejects refers to, and one line shared
 *     by two records rejects both and misnames them in the report;
 *   - a staged record has as many values as the feed's COPY has columns;
 *   - every value is valid UTF-8 (COPY into a UTF8 database fails on the
 *     first bad byte and takes the whole import with it) and under 1 MiB;
 *   - a record fits in one COPY buffer (import_stage_row fails otherwise);
 *   - a rejection names a line >= 0, a field, and a non-empty reason, and
 *     import_reject_err is only given an error that is set;
 *   - the parse step never runs SQL or lists a directory for a file source.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "import.h"

#include "fuzz.h"
#include "import_stubs.h"

/* import.c's COPY buffer: a record's escaped form must fit in it. */
#define COPY_FLUSH (256 * 1024)
/* Longer than any value a feed could have a reason to stage. */
#define SANE_LEN (1u << 20)

struct stub_stats stub_stats;

/* Length of s, failing past SANE_LEN; ASan catches a missing NUL. */
static size_t checked_len(const char *s, int64_t line)
{
	size_t n = strnlen(s, SANE_LEN + 1);

	if (n > SANE_LEN)
		fuzz_fail("line %lld: a string over 1 MiB", (long long)line);
	return n;
}

int import_stage_row(struct import_run *run, int64_t line, int n,
		     const char *const *vals)
{
	/* the real import_stage_row's estimate of the escaped record */
	size_t need = 24;

	if (!run || !vals || n < 0)
		fuzz_fail("line %lld: import_stage_row(%p, %d, %p)",
			  (long long)line, (void *)run, n, (const void *)vals);
	if (line <= 0)
		fuzz_fail("staged line %lld", (long long)line);
	if (stub_stats.staged && line <= stub_stats.last_staged_line)
		fuzz_fail("staged line %lld after line %lld: lines must be "
			  "unique and increasing",
			  (long long)line,
			  (long long)stub_stats.last_staged_line);
	stub_stats.last_staged_line = line;
	if (stub_stats.expected_cols >= 0 && n != stub_stats.expected_cols)
		fuzz_fail("line %lld: %d values, the COPY has %d columns",
			  (long long)line, n, stub_stats.expected_cols);
	for (int i = 0; i < n; i++) {
		if (!vals[i]) {
			need += 2 + 1;
			continue;
		}
		need += 2 * checked_len(vals[i], line) + 1;
		if (!fuzz_utf8_valid(vals[i]))
			fuzz_fail("line %lld: value %d is not valid UTF-8; "
				  "COPY into a UTF8 database fails",
				  (long long)line, i);
	}
	if (need > COPY_FLUSH)
		fuzz_fail("line %lld: a record of %zu bytes escaped staged; "
			  "the real import fails on it",
			  (long long)line, need);
	stub_stats.staged++;
	return 0;
}

static void reject_v(struct import_run *run, int64_t line, const char *field,
		     const char *value, const char *fmt, va_list ap)
{
	char reason[600];

	if (!run)
		fuzz_fail("line %lld: rejected with no run", (long long)line);
	if (line < 0)
		fuzz_fail("rejected line %lld", (long long)line);
	if (!field || !fmt)
		fuzz_fail("line %lld: rejected with no field or reason",
			  (long long)line);
	checked_len(field, line);
	if (value)
		checked_len(value, line);
	if (run->file)
		checked_len(run->file, line);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (!reason[0])
		fuzz_fail("line %lld: rejected with an empty reason",
			  (long long)line);
	stub_stats.rejected++;
}

int import_reject(struct import_run *run, int64_t line, const char *field,
		  const char *value, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reject_v(run, line, field, value, fmt, ap);
	va_end(ap);
	return 0;
}

int import_reject_err(struct import_run *run, int64_t line, const char *value,
		      const struct err *e)
{
	if (!e)
		fuzz_fail("line %lld: import_reject_err with no error",
			  (long long)line);
	fuzz_check_err(-1, e, NULL);
	return import_reject(run, line, e->field[0] ? e->field : "record",
			     value, "%s", e->msg);
}

int64_t import_exec(struct import_run *run, const char *sql, int nparams,
		    const char *const *params)
{
	(void)run, (void)nparams, (void)params;
	fuzz_fail("import_exec called from a parse step: %s", sql);
}

int import_merge(struct import_run *run, const char *const *sql, size_t n,
		 const char *count_sql)
{
	(void)run, (void)sql, (void)n, (void)count_sql;
	fuzz_fail("import_merge called from a parse step");
}

int import_list_dir(const char *path, char ***names, size_t *n, struct err *e)
{
	(void)names, (void)n, (void)e;
	fuzz_fail("import_list_dir(%s) for a file source", path);
}

void import_names_free(char **names, size_t n)
{
	(void)names, (void)n;
	fuzz_fail("import_names_free for a file source");
}
