/*
 * allocation.h -- the regional-sharing workflow: help requests, allocator
 * runs, proposals and their decisions, shipments, build-up plans.
 *
 * DESIGN.md, The allocator; issue 6, Workflow.  The arithmetic is
 * src/allocator.h (pure); this module reads its inputs from the database,
 * stores every run with its inputs, parameters, algorithm version and
 * result (sql/011_allocation.sql), and carries a proposal through its life:
 *
 *   proposed --approve--> approved --ship--> shipped --receive--> received
 *       |                    |                  '------return---> returned
 *       '--decline--> declined, '--cancel--> cancelled (also from proposed)
 *
 * Shipping records transfer_out at the giving site and receiving
 * transfer_in at the receiving one, through the ledger's own write path
 * (src/ledger.h) with idempotency keys derived from the proposal, so a
 * retried step never moves stock twice; a retry answers what the first
 * attempt did, with *replayed set.  A short receipt keeps the difference as
 * the shipment's discrepancy (lost in transit), so that for every product
 *     sum of balances + in transit + lost
 * is the same after every step (allocation_national_total in SQL).
 *
 * Inputs of a run, per (region, product): available stock is the sum of
 * the lots the allocator may move (not expired, not in an open
 * quarantine); the rate, floor and target are readiness's at region
 * scope (readiness_compute over the rollup's region rows when they are
 * today's, sql/017, else readiness_scan), the floor and target scaled by
 * the national level's factor like everywhere else.  A region with no
 * history at all has no row and no known rate either way.  A floor or
 * target given as a parameter wins.  A
 * region whose rate is not known (too little history) counts as consuming
 * nothing: it neither receives nor (unless idle_gives) gives, and the run's
 * inputs say rate_known false.  Population is the region table's.
 *
 * A help request runs the sharing problem for its product at once, in the
 * same transaction: proposals only to the requesting region (others'
 * needs are a coordinator's run to make), at most the quantity asked (or
 * the days asked at the requester's rate), and the stored holdings and
 * days after are those of the proposals kept.  The request becomes
 * fulfilled by itself, closed by "system", in the transaction of the
 * receipt that brings what its region has received through those
 * proposals up to what it asked, in whole packs (a trigger on the
 * shipment, sql/016_allocation_speed.sql: whatever path receives).
 * Received quantities count, not proposed ones.
 *
 * Who may (checked here with clear messages; row-level security enforces
 * it again):
 *   help request   create: the region's own contact person, or a
 *                  coordinator on the region's word; close: the same
 *                  (withdrawn: the region only); read: all but importers;
 *   run            coordinators (and the system, the command line);
 *   decide         approve, decline, ship, return: the giving region's
 *                  contact person; receive: the receiving region's; cancel
 *                  before shipping: the giving region's or a coordinator.
 *                  A coordinator sees every proposal but never decides one
 *                  for a region (ERR_FORBIDDEN);
 *   read           proposals: their two regions and national roles; runs
 *                  and plans: all but importers, a region-scoped caller
 *                  seeing only its own region's lots.
 * The system identity (the command line without --as) may do all of it;
 * the ledger and the audit log name the person behind it (cli_actor).
 * With --as USERNAME the command line acts as that user, checked here
 * like any API caller.
 *
 * A national run (20,000 products, some 400,000 proposals) is written
 * with one statement per table and read back a page of products at a time
 * (allocation_get); lists page by keyset (allocation_proposal_list).
 *
 * Every function taking a db runs in the caller's open transaction (begun
 * with auth_begin as who, or db_begin on a connection acting as the
 * system) and neither commits nor rolls back; on -1 the caller rolls back,
 * so that a request writes all or nothing.  Nothing here knows of HTTP.
 */
#ifndef LAGERBILD_ALLOCATION_H
#define LAGERBILD_ALLOCATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "allocator.h"
#include "auth.h"
#include "db.h"
#include "err.h"

/* Products one run may cover. */
#define ALLOCATION_PRODUCTS_MAX 20000
/* Shelf life a lot must have left to be sent, unless asked otherwise. */
#define ALLOCATION_MIN_SHELF_DEFAULT 30
/* Largest floor, target or help request in days. */
#define ALLOCATION_DAYS_MAX 3650
/* Rows a list answers at most. */
#define ALLOCATION_LIST_MAX 1000
/* Products a page of a run explained has, by default and at most. */
#define ALLOCATION_PAGE_DEFAULT 100
#define ALLOCATION_PAGE_MAX 1000

/* ---- runs ---- */

enum allocation_problem {
	ALLOCATION_SHARE,  /* no new supply: max-min fair sharing */
	ALLOCATION_SUPPLY, /* divide a scarce supply */
	ALLOCATION_PLAN	   /* build up toward the target over weeks */
};

struct allocation_params {
	enum allocation_problem problem;
	const int64_t *products; /* product ids, 1..ALLOCATION_PRODUCTS_MAX;
				    plan: exactly one */
	size_t nproducts;
	int window_days; /* consumption window; 0: the readiness default */
	/* share */
	int floor_days;	      /* -1: the targets' floors */
	int64_t min_transfer; /* base units; smaller transfers are dropped */
	int min_shelf_days;   /* lots expiring sooner are not sent */
	bool idle_gives;      /* regions without consumption may give */
	int64_t idle_keep_packs;
	/* supply */
	int64_t quantity; /* base units, a whole number of packs */
	enum alloc_key key, hybrid_key;
	int reserve_pct; /* hybrid: 0..100 */
	/* plan */
	int weeks;		 /* 1..ALLOCATOR_WEEKS_MAX */
	const int64_t *capacity; /* weeks entries, packs */
	const char *start;	 /* YYYY-MM-DD of week 1; NULL: today */
	int target_days;	 /* -1: the targets' */
};

/* Defaults for problem: no product, floor and target from the targets,
 * shelf ALLOCATION_MIN_SHELF_DEFAULT, key maxmin. */
void allocation_params_default(struct allocation_params *p,
			       enum allocation_problem problem);

/* "share", "supply", "plan"; ERR_INVALID naming field otherwise.  Pure. */
int allocation_problem_parse(const char *s, enum allocation_problem *out,
			     const char *field, struct err *e);
const char *allocation_problem_name(enum allocation_problem p);

/*
 * Check parameters without the database: ranges, a key that is not hybrid
 * as hybrid_key, supply quantity > 0, plan weeks and capacities, start's
 * form.  ERR_INVALID naming the field ("floor_days", "capacity[3]", ...).
 * Pure.
 */
int allocation_params_check(const struct allocation_params *p, struct err *e);

/*
 * 0 when a run of problem p takes the parameter called name (as the API
 * names it: "floor_days", "key", "capacity" ...; one not known to be a
 * run's parameter is not judged here), else ERR_INVALID naming it: a
 * parameter of another problem is refused, not ignored.  Pure.
 */
int allocation_param_takes(enum allocation_problem p, const char *name,
			   struct err *e);

/*
 * Run the allocator and store the run (one transaction, the caller's).
 * A supply quantity must be whole packs of every product's pack size.
 * *run_id is the new run.  ERR_FORBIDDEN for callers other than
 * coordinators and the system, ERR_NOT_FOUND for a product that does not
 * exist (field "product").
 */
int allocation_run(struct db *db, const struct identity *who,
		   const struct allocation_params *p, int64_t *run_id,
		   struct err *e);

/* Which products of a run to explain: keyset paging by product id. */
struct allocation_page {
	int64_t product_id; /* only this product; 0: every product */
	int64_t after;	    /* products with a larger id; 0: from the first */
	long limit;	    /* products a page, 1..ALLOCATION_PAGE_MAX */
	/* Only each product's id, name, level and result scalars, and no
	 * proposals: a listing of the page (the command line's for a
	 * large run). */
	bool brief;
};

/*
 * A run explained (a new reference), one page of its products at a time,
 * so that a national run of 20,000 products answers in bounded size:
 * id, problem, params, algorithm_version, help request, who and when,
 * regions (as the run saw them), summary (the whole run's national
 * totals as written: products, products_moved, transfers, dropped,
 * min_level, max_level, proposals, quantity, obligatory); products: the
 * page, per product
 * its level L, inputs (regions, and lots -- a region-scoped caller's own
 * only) and result (each region's days before and after); next: the
 * after of the following page, or null; proposals: those of the page's
 * products the caller may see; a plan's weeks and rows.  pg NULL: the
 * first ALLOCATION_PAGE_DEFAULT products.  ERR_NOT_FOUND when there is no
 * such run, ERR_INVALID (field "limit") for a limit out of range.
 */
int allocation_get(struct db *db, const struct identity *who, int64_t run_id,
		   const struct allocation_page *pg, json_t **out,
		   struct err *e);

/*
 * Runs newest first as a JSON array (a new reference), without their
 * inputs: of problem (NULL: all), touching product (0: all), at most
 * limit.  Each with its summary and its first 20 products; a run of more
 * has its params without the product list (allocation_get pages them).
 */
int allocation_list(struct db *db, const struct identity *who,
		    const char *problem, int64_t product_id, long limit,
		    json_t **out, struct err *e);

/* ---- help requests ---- */

struct allocation_help {
	const char *region; /* SCB code */
	int64_t product_id;
	int64_t quantity;    /* base units; 0 when days is given */
	const char *days;    /* decimal days of the region's consumption, or
			      NULL when quantity is given */
	const char *urgency; /* routine (NULL), urgent, critical */
	const char *reason;
};

/* Check a help request's form: region, exactly one of quantity and days
 * in range, urgency, reason.  Pure. */
int allocation_help_check(const struct allocation_help *h, struct err *e);

/*
 * Record a help request and, with run, run the sharing problem for it
 * (see the top of this header).  *id the request, *run_id the run (0
 * without one).  ERR_FORBIDDEN for a caller who may not ask for the
 * region.
 */
int allocation_help_create(struct db *db, const struct identity *who,
			   const struct allocation_help *h, bool run,
			   int64_t *id, int64_t *run_id, struct err *e);

/*
 * Close an open help request as fulfilled, closed or withdrawn (only the
 * region itself withdraws), with a reason.  ERR_CONFLICT when it is no
 * longer open (also when a receipt has fulfilled it, see the top).
 */
int allocation_help_close(struct db *db, const struct identity *who, int64_t id,
			  const char *status, const char *reason,
			  struct err *e);

/* One help request with its runs and their proposals the caller may see
 * (a new reference). */
int allocation_help_get(struct db *db, const struct identity *who, int64_t id,
			json_t **out, struct err *e);

/* Help requests newest first (a new reference): of status (NULL: all),
 * region, product (0: all); at most limit. */
int allocation_help_list(struct db *db, const struct identity *who,
			 const char *status, const char *region,
			 int64_t product_id, long limit, json_t **out,
			 struct err *e);

/* ---- proposals ---- */

enum allocation_action {
	ALLOCATION_APPROVE,
	ALLOCATION_DECLINE,
	ALLOCATION_SHIP,
	ALLOCATION_RECEIVE,
	ALLOCATION_CANCEL,
	ALLOCATION_RETURN
};

struct allocation_act {
	enum allocation_action action;
	const char *reason; /* decline of an obligatory proposal, a short
			       receipt and a return need one */
	int64_t quantity;   /* receive: what arrived, 0..shipped; -1: all */
	const char *site;   /* receive: the receiving site's code; NULL: the
			       proposal's */
};

/* "approve", "decline", "ship", "receive", "cancel", "return". */
const char *allocation_action_name(enum allocation_action a);
int allocation_action_parse(const char *s, enum allocation_action *out,
			    const char *field, struct err *e);

/* Check an action's form (reason text, quantity range, site code).  Pure. */
int allocation_act_check(const struct allocation_act *a, struct err *e);

/*
 * Take one step of proposal id.  A step already taken is answered again
 * with *replayed set and nothing written (a receipt of another quantity,
 * or a step the status no longer allows, is ERR_CONFLICT).  ERR_FORBIDDEN
 * for a caller who may not take it, ERR_NOT_FOUND when there is no such
 * proposal, ERR_INVALID for a missing reason (field "reason"); a ledger
 * refusal (not enough stock left in the lot) is the ledger's ERR_CONFLICT.
 */
int allocation_proposal_act(struct db *db, const struct identity *who,
			    int64_t id, const struct allocation_act *a,
			    bool *replayed, struct err *e);

/* One proposal with its shipment and history (a new reference). */
int allocation_proposal_get(struct db *db, const struct identity *who,
			    int64_t id, json_t **out, struct err *e);

struct allocation_filter {
	const char *status; /* a proposal status, or NULL */
	const char *region; /* giving or receiving, or NULL */
	int64_t run_id;	    /* 0: all */
	int64_t product_id; /* 0: all */
	int64_t before;	    /* keyset: ids below this; 0: from the newest */
	long limit;	    /* 1..ALLOCATION_LIST_MAX */
};

/*
 * Proposals the caller may see, newest first (a new reference), at most
 * f->limit; *next is the before of the following page, 0 when this is the
 * last.
 */
int allocation_proposal_list(struct db *db, const struct identity *who,
			     const struct allocation_filter *f, json_t **out,
			     int64_t *next, struct err *e);

/* ---- plans and totals ---- */

/*
 * Parse a capacity file: CSV with the header "week,packs" (',' or ';'),
 * weeks 1, 2, 3 ... in order, packs whole and >= 0; at most max weeks.
 * capacity gets the packs, *weeks how many.  ERR_INVALID naming the line
 * ("line 4: ...", field "capacity").  Pure.
 */
int allocation_capacity_parse(const char *text, size_t len, int64_t *capacity,
			      int max, int *weeks, struct err *e);

/*
 * A plan as CSV for suppliers and regions (malloc'd into *out, the caller
 * frees): product, region, week, week_start, packs, base_units,
 * cumulative_packs, planned_holding, target, week_reached, shortfall.
 * ERR_NOT_FOUND when run_id is not a plan.
 */
int allocation_plan_csv(struct db *db, const struct identity *who,
			int64_t run_id, char **out, size_t *len, struct err *e);

/* Per product on hand, in transit, lost in transit and their total (a new
 * reference); product 0: every product with stock or shipments. */
int allocation_totals(struct db *db, int64_t product_id, json_t **out,
		      struct err *e);

#endif
