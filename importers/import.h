/*
 * import.h -- the frame every feed runs in: source, hash, staging, check,
 * merge, report.
 *
 * A feed (importers/<feed>.c) describes its staging table and supplies three
 * steps; the frame does the rest, the same way for the command line and for
 * a push to POST /api/v1/imports/{feed}:
 *
 *   1. authorise: a national feed needs a national importer, a coordinator
 *      or the system; a regional feed needs that region's importer or
 *      contact person, or the system;
 *   2. hash the source (SHA-256 of its bytes; of a directory, of every
 *      regular file in name order) and, under a per-(feed, region) advisory
 *      lock, answer "unchanged" when a batch with that hash was applied
 *      before (unless forced);
 *   3. parse: the feed streams the source, checks each record's form in C
 *      and stages the good ones with import_stage_row (COPY into a
 *      temporary table); bad records go to import_reject;
 *   4. check: the feed finds set-wise what only the database can tell
 *      (unknown site, unknown product, duplicates) and inserts those rows
 *      into the temporary table import_rejects (line, field, value,
 *      reason);
 *   5. all or nothing by default: any rejection rolls everything back.
 *      With partial, or when nothing was rejected, the feed's apply step
 *      merges the staged rows whose line is not in import_rejects;
 *   6. an import_batch row records source, hash, counts, the first
 *      IMPORT_ERRORS_KEPT errors, who and when -- in the same transaction
 *      as the data, or, when the data is rolled back, in one of its own.
 *      A dry run rolls back and records nothing.
 *
 * Memory stays flat: records are streamed into COPY, rejections are written
 * to the error stream as they are found and only the first
 * IMPORT_ERRORS_KEPT are kept.
 */
#ifndef LAGERBILD_IMPORT_H
#define LAGERBILD_IMPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "auth.h"
#include "db.h"
#include "err.h"

/* Rejections kept in the report and the import_batch row; more are counted
 * (and written to the error stream) but not kept. */
#define IMPORT_ERRORS_KEPT 1000
/* Longest value quoted in a rejection; longer ones are cut with "...". */
#define IMPORT_VALUE_MAX 80
/* Longest field of any CSV record a feed accepts. */
#define IMPORT_FIELD_MAX 4096

/* Exit codes of `lagerbild import`, documented in the README. */
#define IMPORT_EXIT_OK 0       /* done or unchanged */
#define IMPORT_EXIT_REJECTED 1 /* rows rejected (or the import failed) */
#define IMPORT_EXIT_USAGE 2
#define IMPORT_EXIT_UNREACHABLE 3 /* the source could not be fetched */

enum import_scope {
	IMPORT_NATIONAL, /* registers: npl, articles, products, shortages,
			    population */
	IMPORT_REGIONAL	 /* a region's own data: stock, consumption */
};

struct import_options {
	const char *region; /* "01"; NULL: the caller's own, if regional */
	bool dry_run;	    /* do everything, then roll back; record nothing */
	bool partial;	    /* commit the good rows, report the bad */
	bool force;	    /* import even if this content was seen before */
	const char *source; /* as the user named it, for the record */
};

struct import_run;

/* Progress of a long import: records read so far, and bytes of the source
 * read of its total (bytes_read 0 when the feed does not say). */
typedef void import_progress_fn(void *arg, int64_t records, int64_t bytes_read,
				int64_t bytes_total);

struct import_feed {
	const char *name;    /* "stock" */
	const char *summary; /* one line, for --help */
	enum import_scope scope;
	/*
	 * Create the staging table; the frame runs it in the import's
	 * transaction.  It must be a TEMP table ... ON COMMIT DROP whose first
	 * column is `line bigint NOT NULL`: the record's line (or record
	 * number), unique within the import.
	 */
	const char *stage_sql;
	/* "COPY stage_x (line, a, b) FROM STDIN": text format. */
	const char *copy_sql;
	/*
	 * Read the source and stage its records.  path is a regular file or,
	 * for a feed with accepts_dir, possibly a directory.  0, or -1 with
	 * run->err set when the whole import must stop (unreadable input, a
	 * missing header, a database error); a bad record is not a failure but
	 * an import_reject.
	 */
	int (*parse)(struct import_run *run, const char *path);
	/* Find rows only the database can judge: INSERT INTO import_rejects.
	 * NULL: nothing to check. 0 or -1 with run->err. */
	int (*check)(struct import_run *run);
	/*
	 * Merge the staged rows whose line is not in import_rejects and set
	 * run->applied to the number of records applied.  0 or -1 with
	 * run->err.
	 */
	int (*apply)(struct import_run *run);
	bool accepts_dir; /* a directory source is passed as is (npl) */
};

/* One import in progress.  Feeds read the first block and use the
 * functions below; the rest is the frame's. */
struct import_run {
	const struct import_feed *feed;
	const struct import_options *opt;
	struct db *db;		    /* in the import's transaction */
	const struct identity *who; /* the caller */
	const char *region;  /* the region of a regional feed, else NULL */
	int64_t batch_id;    /* reserved id of this import's batch */
	char started_at[40]; /* transaction start, timestamptz text */
	const char *file;    /* set by a multi-file feed: the current
				       file's name, for its rejections */
	int64_t applied;     /* set by apply */
	int64_t bytes_read;  /* of the source so far, kept up by the reader
				for the progress bar (0: not kept) */
	struct err *err;

	/* frame-private */
	FILE *errout;
	int64_t staged;
	int64_t c_rejected;
	int64_t last_line;
	json_t *errors;
	char *copybuf;
	size_t copylen;
	bool copying;
	import_progress_fn *progress;
	void *progress_arg;
	int64_t bytes_total;
};

/* What an import did; filled by import_execute. */
struct import_report {
	char feed[32];
	char region[3];
	char sha256[65];
	int64_t bytes;
	/* "done", "partial", "unchanged", "rejected": for a dry run, what
	 * would have been */
	const char *status;
	bool dry_run;
	int64_t batch_id;   /* 0 for a dry run */
	int64_t same_as;    /* unchanged: the batch that applied this content */
	int64_t rows_total; /* records read */
	int64_t rows_applied;
	int64_t rows_rejected;
	json_t *errors; /* owned: [{line, field, value, reason[, file]}] */
};

/* ---- the feeds ---- */

/* The feed called name, or NULL. */
const struct import_feed *import_feed_find(const char *name);
/* All feeds, in the order --help lists them; *n is set to their number. */
const struct import_feed *const *import_feeds(size_t *n);

/* ---- running an import ---- */

/*
 * May who import feed for region (NULL for a national feed)?  Sets *region
 * to the region the import is for (opt region, or who's own).  0, or -1:
 * ERR_INVALID when a regional feed has no region or a national one was
 * given one, ERR_FORBIDDEN when who may not.
 */
int import_authorize(const struct import_feed *feed, const struct identity *who,
		     const char *opt_region, const char **region,
		     struct err *e);

/*
 * Import path (a file, or a directory for a feed that accepts one) as who.
 * db must not be in a transaction.  Rejections are written to errout (NULL:
 * not written) one line each as they are found.  Returns 0 when the import
 * ran to a verdict, whatever it was (rep->status says which); -1 with e set
 * when it could not: refused, unreadable source, database trouble.  The
 * caller calls import_report_free on rep either way.
 */
int import_execute(struct db *db, const struct identity *who,
		   const struct import_feed *feed, const char *path,
		   const struct import_options *opt, FILE *errout,
		   import_progress_fn *progress, void *progress_arg,
		   struct import_report *rep, struct err *e);

/* The report as JSON (a new reference). */
json_t *import_report_json(const struct import_report *rep);
/* Free what rep owns; accepts NULL. */
void import_report_free(struct import_report *rep);
/* The exit code a report stands for: 0 done/unchanged/dry run without
 * rejections, 1 otherwise. */
int import_report_exit(const struct import_report *rep);

/* ---- for feeds ---- */

/*
 * Stage one record: vals[0..n) are the values after the line, in the order
 * of the feed's copy_sql; NULL is SQL NULL.  Values are escaped for COPY's
 * text format here.  0 or -1 with run->err.
 */
int import_stage_row(struct import_run *run, int64_t line, int n,
		     const char *const *vals);

/*
 * Reject a record: "line 17: gtin 7350012345671: wrong check digit,
 * expected 8".  value may be NULL (missing) and is cut to
 * IMPORT_VALUE_MAX.  Several rejections of one line count as one rejected
 * record.  Always returns 0, so a parser can `return import_reject(...)`
 * for a record and go on.
 */
int import_reject(struct import_run *run, int64_t line, const char *field,
		  const char *value, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* As import_reject, with the reason taken from e (its field, its message). */
int import_reject_err(struct import_run *run, int64_t line, const char *value,
		      const struct err *e);

/*
 * Run one statement of the feed's check or apply step, in the import's
 * transaction.  Returns the number of rows it affected (PQcmdTuples), or -1
 * with run->err set.
 */
int64_t import_exec(struct import_run *run, const char *sql, int nparams,
		    const char *const *params);

/*
 * The names in directory path, in strcmp order, without those starting
 * with '.': the order the frame hashes a directory source in, so a feed
 * that reads one should read it in this order too.  The caller frees the
 * list with import_names_free.  0, or -1 with ERR_INVALID naming "source".
 */
int import_list_dir(const char *path, char ***names, size_t *n, struct err *e);
/* Free a list from import_list_dir; accepts NULL. */
void import_names_free(char **names, size_t n);

/*
 * The usual apply step: run each statement of sql[0..n) with $1 = this
 * import's batch id, in order, then set run->applied from count_sql (a
 * "SELECT count(*)" of the staged rows that were not rejected, without
 * parameters).  0, or -1 with run->err.
 */
int import_merge(struct import_run *run, const char *const *sql, size_t n,
		 const char *count_sql);

#endif
