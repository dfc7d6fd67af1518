/*
 * fuzz_feed.c -- libFuzzer target for one import feed's parse step, built
 * once per feed with -DFEED=import_feed_<name> (fuzz_feed_stock, ...).
 *
 * Feed files come from other organisations' systems and spreadsheets, so
 * the parse step (csvin.c for the CSV feeds, libxml2 and libzip for npl)
 * must survive anything.  The input is written to a file and read by
 * feed->parse as `lagerbild import` would, on a hand-built struct
 * import_run; the frame's functions are import_stubs.c's, which check each
 * staged record and rejection.  Here the step's own contract is checked:
 * it returns 0, or -1 with run->err set, never 0 with an error set, and
 * leaves run->file clear.
 *
 * The file lives in a directory made with mkdtemp under $TMPDIR (else
 * /tmp) and removed at exit.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feeds.h"

#include "fuzz.h"
#include "import_stubs.h"

#ifndef FEED
#error "build with -DFEED=import_feed_<name>"
#endif

static char dir[PATH_MAX];
static char path[PATH_MAX];

static void remove_tmp(void)
{
	unlink(path);
	rmdir(dir);
}

/* Values after "line" in "COPY t (line, a, b) FROM STDIN", or -1. */
static int copy_columns(const char *sql)
{
	const char *p = strchr(sql, '('), *q = strchr(sql, ')');
	int n = 0;

	if (!p || !q || q < p)
		return -1;
	for (; p < q; p++)
		n += *p == ',';
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	int n;

	(void)argc, (void)argv;
	if (!tmp || !*tmp)
		tmp = "/tmp";
	n = snprintf(dir, sizeof(dir), "%s/lagerbild-fuzz-XXXXXX", tmp);
	if (n < 0 || (size_t)n >= sizeof(dir) || !mkdtemp(dir)) {
		perror("fuzz_feed: mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/input", dir);
	atexit(remove_tmp);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct import_feed *feed = &FEED;
	struct import_options opt = {.source = "fuzz"};
	struct import_run run = {0};
	struct err e = {0};
	FILE *f;
	int rc;

	f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f))
		fuzz_fail("writing %s", path);

	memset(&stub_stats, 0, sizeof(stub_stats));
	stub_stats.expected_cols = copy_columns(feed->copy_sql);
	opt.region = feed->scope == IMPORT_REGIONAL ? "01" : NULL;
	run.feed = feed;
	run.opt = &opt;
	run.region = opt.region;
	run.batch_id = 42;
	snprintf(run.started_at, sizeof(run.started_at),
		 "2026-11-22 08:00:00+01");
	run.err = &e;
	run.copying = true;

	rc = feed->parse(&run, path);
	fuzz_check_err(rc, &e, NULL);
	if (rc == 0 && e.code != ERR_NONE)
		fuzz_fail("parse succeeded with an error set: %s", e.msg);
	if (run.file)
		fuzz_fail("parse left run->file set (%s)", run.file);
	return 0;
}
