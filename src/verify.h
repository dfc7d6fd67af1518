/*
 * verify.h -- recompute balances and aggregates from the ledger and report
 * every difference ("drift").  It never repairs: a drift is a bug or
 * tampering, and a person must look at it.
 */
#ifndef LAGERBILD_VERIFY_H
#define LAGERBILD_VERIFY_H

#include <stdint.h>

#include "db.h"
#include "err.h"

struct verify_drift {
	const char
		*check; /* "balance", "aggregate", "event_chain", "reversal" */
	const char *where; /* the key, human-readable */
	int64_t expected;  /* what the ledger says */
	int64_t actual;	   /* what is stored */
};

/* Called once per drift found; where and check are borrowed for the call. */
typedef void verify_report_fn(void *ctx, const struct verify_drift *d);

struct verify_totals {
	int64_t events;
	int64_t balances;
	int64_t aggregates;
	int64_t drifts;
};

/*
 * Run every check in one consistent snapshot.  Returns 0 when the checks
 * ran (drifts are counted in out->drifts, not an error); -1 if they could
 * not run.
 */
int verify_run(struct db *db, verify_report_fn *report, void *ctx,
	       struct verify_totals *out, struct err *e);

#endif
