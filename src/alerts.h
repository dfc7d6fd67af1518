/*
 * alerts.h -- the alert rules: evaluate, de-duplicate, resolve.
 *
 * DESIGN.md, Alerts.  A rule looks at a scope and says whether its
 * condition holds; sql/008_alerts.sql keeps one open alert per (rule,
 * scope) and its history.  An evaluation gathers every condition that holds
 * now, for the keys it covers, into a temporary table, and then set-wise
 *   - opens an alert for each condition without an open one,
 *   - refreshes the open ones that still hold (severity, details,
 *     last_seen_at, the latter to ALERTS_SEEN_GRANULARITY),
 *   - resolves the open ones, of the rules evaluated and within the keys
 *     covered, whose condition no longer holds.
 * The triggers of 008 and 010 write the history and queue the webhook and
 * email deliveries in the same transaction.  An alert keeps a signature of
 * what it says (sql/014_alerts_speed.sql), so that an evaluation that finds
 * every condition as it was writes nothing and builds no titles.
 *
 * The rules (severity in brackets):
 *   stockout, below_floor, below_target  per (region, product), from
 *       readiness_scan (reports/readiness_report.h) at region scope, so the
 *       numbers are readiness_compute's [critical, warning, info];
 *   expiring_lots  a lot at a site with stock expiring within expiry_days
 *       (expired ones included) [warning within 30 days, else info];
 *   shortage_notice  an active (or forecast) notice for a product a region
 *       holds (balance > 0) or uses (issues or reported consumption in the
 *       window) [warning; forecast info];
 *   stale_reporting  a (region, product) with stock and nothing recorded
 *       for it -- no count, snapshot or movement -- in stale_days: its
 *       newest stock_balance.updated_at is older [info];
 *   region_disaster  a region whose latest state in region_state_history is
 *       'disaster' [critical]; skipped while that table does not exist;
 *   ledger_drift  `verify` finds drift; national; sweep only [critical];
 *   behind_plan  a (region, product) whose available stock is below what
 *       its build-up plan (sql/011_allocation.sql) holds for the last
 *       finished week [warning];
 *   obligatory_decline  a region declined help it was obliged to give (a
 *       receiver in disaster); opened by the decision itself, not by an
 *       evaluation, and resolved by allocation_obligatory_resolve() in
 *       the sweep once the receiver is helped or out of disaster
 *       [critical].
 *
 * Every function here takes a connection that acts as the system identity
 * (db_become_app / cli_connect) and is not in a transaction; each
 * evaluation is one transaction of its own, serialised with any other
 * evaluation by an advisory lock.
 */
#ifndef LAGERBILD_ALERTS_H
#define LAGERBILD_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

#define ALERTS_EXPIRY_DAYS_DEFAULT 90
#define ALERTS_STALE_DAYS_DEFAULT 7
/* An open alert's last_seen_at is rewritten when older than this, not on
 * every evaluation: at national scale 100,000 alerts may be open, and
 * rewriting them all on every 5-minute sweep costs seconds each time.  So
 * it is accurate to this much; an open alert was in any case seen by the
 * last sweep. */
#define ALERTS_SEEN_GRANULARITY "1 hour"
/* Incremental evaluation of more products of a region than this
 * evaluates the whole region.  One readiness scan takes the list (a
 * hashed match), so a long list costs little beside the region's 20,000
 * products. */
#define ALERTS_KEYS_PER_REGION_MAX 2000
/* Distinct (region, product) keys the server's queue holds; beyond, the
 * region of the key that does not fit is queued whole instead.  A touch
 * looks through the queue under the mutex: 4096 keys is a few
 * microseconds. */
#define ALERTS_QUEUE_MAX 4096
/* The alert thread waits this many times as long as its last incremental
 * round took before the next: under a stream of writes it takes at most a
 * ninth of the time, and keys coalesce while it waits.  At 4 (a fifth) its
 * rounds cost the HTTP write bench 20 to 40% of its rate on two cores. */
#define ALERTS_PACING 8

struct alerts_options {
	int expiry_days; /* expiring_lots horizon, 1..3650 */
	int stale_days;	 /* stale_reporting, 1..3650 */
	int window_days; /* readiness and "uses" window; 0: the default */
	bool verify;	 /* sweep: run verify for ledger_drift */
	bool refresh;	 /* alerts_run: readiness_refresh() first */
	bool deliver;	 /* alerts_run: deliver due webhooks after */
};

struct alerts_counts {
	int64_t conditions; /* holding now, in the keys covered */
	int64_t opened;
	int64_t updated;
	int64_t resolved;
	int64_t drifts; /* found by verify, when it ran */
};

/* Fill o with the defaults: 90 and 7 days, default window, verify,
 * refresh and deliver on. */
void alerts_options_default(struct alerts_options *o);

/* ---- names ---- */

/* Is s a rule name ("stockout", ...)?  0, or -1 with ERR_INVALID naming
 * field and listing the rules. */
int alerts_rule_check(const char *s, const char *field, struct err *e);

/* Is s a severity ("info", "warning", "critical")?  As above. */
int alerts_severity_check(const char *s, const char *field, struct err *e);

/* ---- subscription filters (webhooks, email) ---- */

/* Entries a subscription's filter list may hold. */
#define ALERTS_FILTER_MAX 64

/*
 * What alerts a notification subscription (a webhook, an email address)
 * is for.  Arrays may be empty (match everything); the strings are
 * borrowed.
 */
struct alerts_filter {
	const char *const *regions; /* SCB codes */
	size_t nregions;
	const char *const *categories; /* product categories */
	size_t ncategories;
	const char *const *rules; /* alert rules */
	size_t nrules;
	const char *min_severity; /* NULL: "warning" */
	const char *description;  /* NULL: none */
};

/*
 * Check f: region codes, product categories, rule names (each list at
 * most ALERTS_FILTER_MAX, empty matching everything), the least severity
 * and a description of at most 200 characters (both may be NULL).  0, or
 * -1 with ERR_INVALID naming the field.  Pure.
 */
int alerts_filter_check(const struct alerts_filter *f, struct err *e);

/*
 * Insert a notification subscription whose filter f alerts_filter_check
 * passed: sql is an INSERT ... RETURNING id taking $1 the target (a URL,
 * an address), $2 the regions, $3 the categories and $4 the rules (as
 * array literals, NULL for none), $5 the least severity (NULL: warning)
 * and $6 the description.  0 with *id, or -1 with e.
 */
int alerts_subscription_insert(struct db *db, const char *sql,
			       const char *target,
			       const struct alerts_filter *f, int64_t *id,
			       struct err *e);

/* ---- evaluation ---- */

/*
 * Evaluate every rule over everything.  ledger_drift only with o->verify
 * (verify reads the whole ledger in a snapshot of its own, before the
 * evaluation's transaction).  0 with *out filled, or -1 with e (nothing
 * changed).
 */
int alerts_sweep(struct db *db, const struct alerts_options *o,
		 struct alerts_counts *out, struct err *e);

/*
 * Evaluate the rules of (region, product) scopes -- all but region_disaster
 * and ledger_drift -- for region and the n products (n 0, or more than
 * ALERTS_KEYS_PER_REGION_MAX: every product of the region).  As
 * alerts_sweep otherwise.
 */
int alerts_evaluate(struct db *db, const char *region,
		    const int64_t *product_ids, size_t n,
		    const struct alerts_options *o, struct alerts_counts *out,
		    struct err *e);

/*
 * `lagerbild alerts run` and the server's periodic run: readiness_refresh()
 * (if o->refresh), alerts_sweep, then (if o->deliver) webhook_deliver_due
 * with the default webhook options.  Delivery failures are logged and
 * counted in the deliveries' own log, not returned.  0, or -1 with e.
 */
int alerts_run(struct db *db, const struct alerts_options *o,
	       struct alerts_counts *out, struct err *e);

/* ---- the server's alert thread ---- */

/*
 * Start the thread that runs alerts_run every interval_s seconds (without
 * verify), evaluates the keys alerts_touch queues, and delivers due
 * webhooks, on a connection of its own (conninfo; NULL: DATABASE_URL /
 * PG*) acting as the system identity "alerts".  interval_s 0 starts
 * nothing, and alerts_touch then does nothing.  Database trouble is logged
 * and retried on the next round, never fatal.  0, or -1 with e when the
 * thread cannot be made.
 */
int alerts_worker_start(const char *conninfo, int interval_s, struct err *e);

/* Stop the thread (finishing the evaluation in progress) and close its
 * connection.  Does nothing when none runs. */
void alerts_worker_stop(void);

/*
 * A write touched (region, product): queue it for evaluation.  product_id
 * 0 means every product of region; region NULL, everything (a sweep).
 * Never blocks on the database or the thread's work, only on a mutex held
 * for a queue insert; coalesces duplicates; when the queue is full, queues
 * the key's region whole (or, failing that, marks a sweep due).  Call after the write has committed.  Does nothing
 * when no alert thread runs.  Thread-safe.
 */
void alerts_touch(const char *region, int64_t product_id);

#endif
