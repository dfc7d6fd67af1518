/*
 * reports.h -- read-only views of stock for people: balances and national
 * totals, written as an aligned text table (or tab-separated values for
 * scripts) to a stream.
 */
#ifndef LAGERBILD_REPORTS_H
#define LAGERBILD_REPORTS_H

#include <stdbool.h>
#include <stdio.h>

#include "db.h"
#include "err.h"

enum report_format {
	REPORT_TABLE,
	REPORT_TSV
};

/* ---- the table writer ---- */

/*
 * Write a query result as a table.  Columns listed in numeric (by index,
 * terminated by -1; may be NULL) are right-aligned.  Cells are borrowed.
 */
void report_write(FILE *out, enum report_format fmt, const PGresult *res,
		  const int *numeric);

/* ---- balances: `lagerbild stock show` ---- */

struct balance_filter {
	const char *region; /* SCB code or NULL */
	int64_t site_id;    /* 0 for all */
	int64_t product_id; /* 0 for all */
	long limit;	    /* rows at most */
};

/* One row per (site, product, lot) with stock or history, in key order. */
int report_balances(struct db *db, const struct balance_filter *f, FILE *out,
		    enum report_format fmt, struct err *e);

/*
 * The rows of report_balances, at most f->limit + 1 (one more than asked
 * tells the caller there are more).  The caller PQclears *out.
 */
int report_balances_query(struct db *db, const struct balance_filter *f,
			  PGresult **out, struct err *e);

/* ---- totals: `lagerbild totals` ---- */

enum totals_by {
	TOTALS_BY_PRODUCT,
	TOTALS_BY_REGION,
	TOTALS_BY_CATEGORY
};

struct totals_filter {
	const char *category; /* or NULL */
	int64_t product_id;   /* 0 for all */
	bool critical_only;   /* only products marked critical */
	enum totals_by by;
};

/* National totals from the per-region aggregates. */
int report_totals(struct db *db, const struct totals_filter *f, FILE *out,
		  enum report_format fmt, struct err *e);

/* The rows of report_totals; the caller PQclears *out. */
int report_totals_query(struct db *db, const struct totals_filter *f,
			PGresult **out, struct err *e);

#endif
