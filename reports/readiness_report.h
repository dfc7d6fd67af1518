/*
 * readiness_report.h -- days of supply per site, region, sjukvårdsregion
 * and nation, read from the database and computed by readiness_compute;
 * and the readiness data people manage: targets, the national level, each
 * region's state, and the daily rollup that keeps rates cheap.
 *
 * The database gathers each scope's inputs (sql/007_readiness.sql,
 * readiness_inputs); src/readiness.c turns them into rate, days and status.
 * Nothing here does that arithmetic again.
 *
 * src/readiness.h is the pure arithmetic this module feeds.
 */
#ifndef LAGERBILD_READINESS_REPORT_H
#define LAGERBILD_READINESS_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "db.h"
#include "err.h"
#include "readiness.h"

/* ---- the scan ---- */

/* Products one scan may name. */
#define READINESS_PRODUCTS_MAX 100000

struct readiness_filter {
	const char *scope;  /* "site", "region" (default), "healthcare_region",
			      "nation" */
	const char *region; /* SCB code or NULL */
	const char *healthcare_region; /* code or NULL */
	const char *category;	       /* or NULL */
	int64_t product_id;	       /* 0: all */
	/* Or these products (borrowed; nproducts 0: product_id decides);
	 * at most READINESS_PRODUCTS_MAX. */
	const int64_t *product_ids;
	size_t nproducts;
	const char *agreement; /* agreement code or NULL */
	bool short_only;       /* only stockout / below floor / below target */
	bool any_order;	       /* rows in whatever order comes cheapest */
	int window_days;       /* 0: READINESS_WINDOW_DEFAULT */
};

struct readiness_row {
	const char *scope;	       /* as asked */
	const char *region;	       /* NULL above region level */
	const char *healthcare_region; /* NULL at nation level */
	int64_t site_id;	       /* site scope only, else 0 */
	const char *site;	       /* site scope only, else NULL */
	int64_t product_id;
	const char *product_name, *category, *agreement;
	struct readiness_input in; /* from src/readiness.h */
	struct readiness_result out;
};

/*
 * Called for each row; strings are borrowed and valid during the call.
 * Return 0 to go on, -1 to stop (the scan then returns -1; set e if that
 * is a failure, leave e->code ERR_NONE for "stop, all is well").
 */
typedef int readiness_row_fn(const struct readiness_row *row, void *arg);

/*
 * Check a filter's form without the database: scope, region, category,
 * agreement and window shapes, and combinations that make no sense (a
 * region filter above region scope, a sjukvårdsregion filter at nation
 * scope).  ERR_INVALID naming the field.  Pure.
 */
int readiness_filter_check(const struct readiness_filter *f, struct err *e);

/*
 * The ids as a PostgreSQL array literal, "{1,2,3}", for a bigint[]
 * parameter.  The caller frees it; NULL when out of memory.  Pure.
 */
char *readiness_products_text(const int64_t *ids, size_t n);

/*
 * Call fn for each (scope key, product) the filter selects, in order of
 * region, sjukvårdsregion, site and product name (unless f->any_order).  Rows are fetched from a
 * cursor in pages, so memory stays flat at national scale.  When db is in
 * a transaction (a request's, begun with auth_begin) the scan reads in it,
 * as that caller: site rows are then the caller's region's only unless the
 * caller is national; region rows and above are everyone's.  When it is
 * not, the scan opens and ends a transaction of its own under the
 * session's identity (the CLI's).  One scan at a time per connection: fn
 * must not start another.  0, or -1 with e set (or fn's stop, see above).
 */
int readiness_scan(struct db *db, const struct readiness_filter *f,
		   readiness_row_fn *fn, void *arg, struct err *e);

/*
 * A row as JSON (a new reference): scope keys, product, available, issued,
 * rate (null with rate_known false and reason "too little history" when
 * not known), days (null with days_infinite true when nothing is
 * consumed), target and floor days (null when none), target_qty,
 * shortfall, status.
 */
json_t *readiness_row_json(const struct readiness_row *row);

enum readiness_format {
	READINESS_TABLE,
	READINESS_TSV,
	READINESS_JSON /* one array, streamed */
};

/* `lagerbild readiness`: the scan written to out. */
int readiness_report(struct db *db, const struct readiness_filter *f, FILE *out,
		     enum readiness_format fmt, struct err *e);

/* ---- pages (GET /api/v1/readiness) ---- */

/* Bytes of a product name at most (sql/001: 1 to 300 characters). */
#define READINESS_NAME_BYTES 1200
/* Characters of a cursor at most: a key with the longest name fits. */
#define READINESS_CURSOR_MAX 2800
/* Rows of one page at most (readiness_page holds them all). */
#define READINESS_PAGE_MAX 100000

/*
 * Where a page ends: the sort key of its last row.  Pages run in the order
 * region, sjukvårdsregion, site code, product name, product id, site id,
 * with text compared by its bytes (UTF-8 code point order: the C collation
 * of lagerbild's databases, contrib/pgcluster.sh, under which this is
 * readiness_scan's order too) and an absent part last.  Site codes are
 * unique and the product id breaks ties of names, so no two rows of one
 * scan share a key.
 */
struct readiness_key {
	char region[3];		    /* "" when none (above region scope) */
	char healthcare_region[33]; /* "" when none (nation scope) */
	char site[33];		    /* "" above site scope */
	char product_name[READINESS_NAME_BYTES + 1];
	int64_t product_id;
	int64_t site_id; /* 0 above site scope */
};

struct readiness_page {
	long limit; /* rows at most, 1..READINESS_PAGE_MAX */
	/* The key the page starts after (borrowed); NULL: the first page. */
	const struct readiness_key *after;
	/* Rows the caller filters out (NULL: none), judged before the
	 * limit so that a page is full whenever more rows follow. */
	bool (*skip)(const struct readiness_row *row, void *arg);
	void *skip_arg;
	bool more;		   /* out: rows follow this page */
	struct readiness_key last; /* out: the key of the page's last row,
				      set when more */
};

/*
 * One page of the scan f selects (f->any_order is ignored): the first
 * pg->limit rows after pg->after in the order of struct readiness_key, to
 * fn in that order (fn may stop, as with readiness_scan).  Walking pages
 * with pg->after = the previous pg->last gives every row of the scan once,
 * in one order, whatever the limits.  db as for readiness_scan.  Costs a
 * whole unordered scan per page: rows up to pg->after are dropped on
 * arrival, the rest go through a heap of limit + 1 rows (the only memory
 * held); the database sorts nothing.  0, or -1 with e set.
 */
int readiness_page(struct db *db, const struct readiness_filter *f,
		   struct readiness_page *pg, readiness_row_fn *fn, void *arg,
		   struct err *e);

/*
 * The cursor that continues after key k in a walk of filter f: base64url
 * text of at most READINESS_CURSOR_MAX characters, into out (size bytes,
 * READINESS_CURSOR_MAX + 1 always suffice).  extra is text for filters
 * the caller applies itself (the API's status), NULL for none; a cursor is
 * good only for the same f and extra.  Pure.  0, or -1 (ERR_INTERNAL).
 */
int readiness_cursor_encode(const struct readiness_filter *f, const char *extra,
			    const struct readiness_key *k, char *out,
			    size_t size, struct err *e);

/*
 * Read a cursor from outside into *k: its length, base64url, form,
 * version, that it was made for the same f and extra, that it is as made,
 * and the shape of each part of the key.  Nothing in it is trusted beyond
 * that: the key only says where a page starts.  ERR_INVALID naming
 * "cursor" with the reason.  Pure.
 */
int readiness_cursor_decode(const char *s, const struct readiness_filter *f,
			    const char *extra, struct readiness_key *k,
			    struct err *e);

/* ---- the daily rollup ---- */

/*
 * Bring stock_daily up to date with the ledger (readiness_refresh() in
 * SQL): reads only events above each region's watermark.  *events (may be
 * NULL) is how many it read.  Runs in a transaction of its own, so db must
 * not be in one.  0 or -1.
 */
int readiness_refresh(struct db *db, int64_t *events, struct err *e);

/* ---- levels and states ---- */

/* Check a national level name ("normal", "peacetime_crisis",
 * "heightened", "highest").  Pure. */
int readiness_level_check(const char *level, const char *field, struct err *e);

/* Check a region state name ("normal", "disaster_risk", "disaster").
 * Pure. */
int readiness_state_check(const char *state, const char *field, struct err *e);

/*
 * The current national level as one JSON object {level, factor, reason,
 * set_by, set_at, factors: {level: factor}, history: [...]} (a new
 * reference; history newest first, at most history_max rows).  db as the
 * caller, in a transaction or not.
 */
int readiness_level_get(struct db *db, int history_max, json_t **out,
			struct err *e);

/* Set the national level with a reason (coordinator or system: the
 * database refuses others with ERR_FORBIDDEN).  db in the caller's
 * transaction. */
int readiness_level_set(struct db *db, const char *level, const char *reason,
			struct err *e);

/* A region's current state and history, as readiness_level_get. */
int readiness_state_get(struct db *db, const char *region, int history_max,
			json_t **out, struct err *e);

/* Set a region's state with a reason (its contact person, a coordinator
 * or the system). */
int readiness_state_set(struct db *db, const char *region, const char *state,
			const char *reason, struct err *e);

/* ---- targets ---- */

struct readiness_target {
	int64_t product_id;
	const char *region;	 /* NULL: every region */
	const char *target_days; /* decimal text, checked by target_check */
	const char *floor_days;	 /* NULL: 0 */
	const char *valid_from;	 /* YYYY-MM-DD; NULL: today */
	const char *valid_to;	 /* NULL: open */
	const char *agreement;	 /* NULL: none */
	const char *reason;
};

/*
 * Parse a number of days: digits with at most two decimals after '.' or
 * ',' (Swedish spreadsheets), 0 < days <= 3650 (0 allowed with
 * allow_zero).  Writes it with a '.' to out.  Pure.
 */
int readiness_days_parse(const char *s, bool allow_zero, char out[16],
			 const char *field, struct err *e);

/* Check a target's form: days, floor not above target, dates in order,
 * region, agreement's shape, reason.  Pure. */
int readiness_target_check(const struct readiness_target *t, struct err *e);

/*
 * Set a target (sql target_set): it replaces the live target of its
 * (product, region) from valid_from on; the one before ends the day
 * before.  *id is the live row's id.  db in the caller's transaction.
 */
int readiness_target_set(struct db *db, const struct readiness_target *t,
			 int64_t *id, struct err *e);

/* End target id on valid_to (NULL: today) with a reason; ERR_NOT_FOUND
 * when there is no live target with that id. */
int readiness_target_end(struct db *db, int64_t id, const char *valid_to,
			 const char *reason, struct err *e);

/*
 * Targets as a JSON array (a new reference), newest first: of one product
 * (0: all), one region ("" for national rows only, NULL: all), live ones
 * only unless all.  id >= 1 selects that one target.
 */
int readiness_targets_get(struct db *db, int64_t product_id, const char *region,
			  bool all, int64_t id, json_t **out, struct err *e);

#endif
