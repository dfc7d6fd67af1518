/*
 * verify.h -- recompute balances and aggregates from the ledger and report
 * every difference ("drift").  It never repairs: a drift is a bug or
 * tampering, and a person must look at it.
 */
#ifndef LAGERBILD_VERIFY_H
#define LAGERBILD_VERIFY_H

#include <stdbool.h>
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
	bool full; /* every event was read (verify_run always) */
};

/*
 * Run every check in one consistent snapshot.  Returns 0 when the checks
 * ran (drifts are counted in out->drifts, not an error); -1 if they could
 * not run.
 */
int verify_run(struct db *db, verify_report_fn *report, void *ctx,
	       struct verify_totals *out, struct err *e);

/* verify_incremental: a full check at least once a day by default. */
#define VERIFY_FULL_EVERY_DEFAULT 86400
#define VERIFY_FULL_EVERY_MAX (366 * 86400)

/*
 * The same checks for a periodic sweep, reading only what changed since
 * the last run: drifts are reported through report exactly as verify_run
 * reports them (same check names, `where` text, expected and actual), and
 * the return value is as verify_run's.
 *
 * It keeps a checkpoint (sql/015_verify_checkpoint.sql): per (region,
 * site, product, lot) the sum of the deltas of the events verified, up to
 * an event-id horizon below which no writer can still commit.  Each run
 * checks the event chain and reversals of the events above the checkpoint
 * only, and compares every balance with the checkpoint's sum plus the new
 * deltas and every aggregate with its balances (through a checksum of each
 * table, row by row when it does not match), so a balance or aggregate
 * changed behind the ledger's back, an event changed, deleted or added
 * above the checkpoint, and events committed out of id order are all
 * found.  The checkpoint advances only over keys found clean: a drifting
 * key is reported again on every run until it is fixed.
 *
 * An event changed or deleted BELOW the checkpoint (after it was verified)
 * is found only by a full check.  So when the last full check is older
 * than full_every seconds (0: always; 0 .. VERIFY_FULL_EVERY_MAX), and on
 * the first run, it runs the full checks instead, rebuilds the checkpoint
 * and records the time; out->full says which kind ran.  out->events counts
 * the events read (all of them when full), balances and aggregates every
 * row compared.
 *
 * Needs the system identity (it writes the checkpoint) and a db not in a
 * transaction; runs one at a time (an advisory lock), each in one
 * REPEATABLE READ snapshot, and commits only the checkpoint.
 */
int verify_incremental(struct db *db, int64_t full_every,
		       verify_report_fn *report, void *ctx,
		       struct verify_totals *out, struct err *e);

#endif
