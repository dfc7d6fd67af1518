/*
 * allocator.h -- the regional-sharing allocator: who gives how much to whom.
 *
 * DESIGN.md, The allocator.  Three problems over the regions of one
 * product, each a pure function (no I/O; the caller's memory only, apart
 * from the result arrays, which the caller frees with the matching
 * *_free).  Quantities are base units (the ledger's), moved only in whole
 * packs of pack_size base units.  Tested by tests/check_allocator_unit.c
 * (invariants on random instances, brute force on small ones, GLPK's LP on
 * larger ones).
 *
 * For region i: stock s_i (available: not expired, not quarantined), rate
 * c_i >= 0 base units a day, floor F_i and target T_i in days.
 *
 * 1. Sharing, no new supply (allocator_share).  Of the regions with
 *    c_i > 0, let lb_i = min(s_i, F_i*c_i).  Find the level L with
 *        sum_i max(lb_i, L*c_i) = sum_i s_i
 *    and hold q_i = max(lb_i, L*c_i): max-min fair in days of supply, no
 *    donor below its floor (or below what it has, when it is already under
 *    its floor), total conserved.  q_i < s_i gives, q_i > s_i receives.
 *    Regions with c_i = 0 consume nothing: they never receive, and give
 *    only with idle_gives, keeping idle_keep_packs packs.  The givers'
 *    surplus is bounded by their eligible lots (below).
 *    Whole packs: each region starts at the fewest packs that reach L,
 *    and packs are taken back one at a time from whoever then holds the
 *    most days, so the smallest days of supply is the best that whole
 *    packs allow (a donor may give one pack more than its surplus at L
 *    when that pack lifts a region that would otherwise stay lower than
 *    the donor is left; never below its floor, ceil(F_i*c_i) units).
 *    Matching: recipients, fewest days first, take from donors of their
 *    own sjukvårdsregion first, then from the others, largest giver
 *    first; a transfer (all that one region sends another, over
 *    however many lots) under min_transfer base units is dropped whole.
 *    The holdings and days after are recomputed from the transfers
 *    actually proposed, so they are always consistent with them; the
 *    level L is the one before any is dropped.
 *    Lots: a transfer is split over the donor's lots first-expiry-first,
 *    among lots whose expiry is at least min_shelf_days after today (no
 *    expiry counts as last); expired lots are never sent.
 *
 * 2. Scarce supply S packs (allocator_supply).  Keys:
 *      maxmin       water-filling: x_i = max(0, L*c_i - s_i), sum x_i = S
 *                   (regions with c_i = 0 get nothing unless all have
 *                   c_i = 0, then population decides);
 *      population   x_i proportional to population (befolkningsandel);
 *      consumption  x_i proportional to c_i;
 *      hybrid       reserve_pct of S (rounded down to packs) is held
 *                   nationally; the rest is split by hybrid_key.
 *    Whole packs by largest remainder: sum x_i + reserve = S exactly.
 *
 * 3. Build-up plan (allocator_plan).  Week w has capacity K_w packs of
 *    national extra supply beyond normal flow.  Each week K_w is
 *    water-filled (as in 2) toward the target T_i*c_i, each region capped at
 *    its target, so nobody overbuys while others are short.  Output: quota
 *    per region and week, the week each region reaches its target, and its
 *    shortfall after the last week.
 */
#ifndef LAGERBILD_ALLOCATOR_H
#define LAGERBILD_ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Stored with every run, so a result can be explained by the code that
 * made it. */
#define ALLOCATOR_VERSION "1"
/* Limits on what a caller may ask of the pure functions. */
#define ALLOCATOR_REGIONS_MAX 64
#define ALLOCATOR_LOTS_MAX 100000
#define ALLOCATOR_WEEKS_MAX 104
/* Days since 1970-01-01: a lot without an expiry date. */
#define ALLOCATOR_NO_EXPIRY INT32_MAX
/*
 * Bounds on the numbers themselves, so that no sum over the regions can
 * overflow and doubles stay exact to far below one base unit: a quantity in
 * base units (a stock, a lot, min_transfer, S * pack_size, idle_keep_packs *
 * pack_size, a week's capacity * pack_size, a population), a rate a day,
 * and days (floor, target, min_shelf_days).  A positive rate under
 * ALLOCATOR_RATE_MIN is refused rather than turned into days of supply
 * beyond any horizon.
 */
#define ALLOCATOR_QTY_MAX INT64_C(1000000000000)
#define ALLOCATOR_RATE_MIN 1e-9
#define ALLOCATOR_RATE_MAX 1e9
#define ALLOCATOR_DAYS_MAX 3660

struct alloc_region {
	const char *code;      /* SCB code, borrowed */
	const char *hc_region; /* sjukvårdsregion code, borrowed */
	int64_t stock;	       /* s_i >= 0 */
	double rate;	       /* c_i >= 0, per day */
	double floor_days;     /* F_i >= 0 */
	double target_days;    /* T_i >= 0 (plan) */
	int64_t population;    /* >= 0 (population key) */
};

/* A lot a region could give from. */
struct alloc_lot {
	size_t region;	  /* index into the regions */
	int64_t site_id;  /* where it lies */
	const char *lot;  /* borrowed; "" for no lot */
	int32_t expiry;	  /* days since epoch, or ALLOCATOR_NO_EXPIRY */
	int64_t quantity; /* > 0 */
};

/* ---- 1. sharing ---- */

struct alloc_share_params {
	int64_t pack_size;    /* >= 1 */
	int64_t min_transfer; /* base units: a region's smaller transfer to
				 another is dropped, every lot of it */
	int32_t today;	      /* days since epoch */
	int min_shelf_days;   /* >= 0 */
	bool idle_gives;      /* regions without consumption may give */
	int64_t idle_keep_packs;
};

/* One proposed movement: from one lot at one site to a region. */
struct alloc_transfer {
	size_t from, to;  /* region indexes */
	size_t lot;	  /* index into the lots */
	int64_t quantity; /* whole packs' worth of base units, > 0 */
};

struct alloc_share_result {
	double level;	     /* L, days; 0 when nobody consumes */
	int64_t *after;	     /* n holdings after the transfers */
	double *days_before; /* n; INFINITY when c_i = 0 */
	double *days_after;  /* n */
	/* a row per lot of each transfer, a transfer's rows together */
	struct alloc_transfer *transfers;
	size_t ntransfers;
	int64_t dropped; /* base units in transfers under min_transfer */
};

/*
 * Solve sharing for n regions and their lots.  0 with *out filled (free it
 * with allocator_share_free), or -1 with ERR_INVALID naming the region,
 * lot or parameter out of range (negative stock, a lot of a region that
 * does not exist, a lot quantity above its region's stock, ...).
 */
int allocator_share(const struct alloc_region *r, size_t n,
		    const struct alloc_lot *lots, size_t nlots,
		    const struct alloc_share_params *p,
		    struct alloc_share_result *out, struct err *e);

/* Free what allocator_share filled in; accepts a zeroed result. */
void allocator_share_free(struct alloc_share_result *res);

/* ---- 2. scarce supply ---- */

enum alloc_key {
	ALLOC_KEY_MAXMIN,
	ALLOC_KEY_POPULATION,
	ALLOC_KEY_CONSUMPTION,
	ALLOC_KEY_HYBRID
};

struct alloc_supply_params {
	int64_t packs;	   /* S >= 0 */
	int64_t pack_size; /* >= 1 */
	enum alloc_key key;
	enum alloc_key hybrid_key; /* not HYBRID */
	double reserve_pct;	   /* hybrid: 0..100 */
};

struct alloc_supply_result {
	double level;	/* maxmin (or hybrid over maxmin): L in days */
	int64_t *packs; /* n, whole packs to each region */
	int64_t reserve_packs;
};

/* Parse "maxmin", "population", "consumption", "hybrid".  Pure. */
int allocator_key_parse(const char *s, enum alloc_key *key, const char *field,
			struct err *e);

/* Name of a key, as parsed. */
const char *allocator_key_name(enum alloc_key key);

/* Divide p->packs among n regions.  As allocator_share. */
int allocator_supply(const struct alloc_region *r, size_t n,
		     const struct alloc_supply_params *p,
		     struct alloc_supply_result *out, struct err *e);

void allocator_supply_free(struct alloc_supply_result *res);

/* ---- 3. build-up plan ---- */

struct alloc_plan_params {
	int weeks;		 /* 1..ALLOCATOR_WEEKS_MAX */
	const int64_t *capacity; /* weeks entries, packs, >= 0 */
	int64_t pack_size;	 /* >= 1 */
};

struct alloc_plan_result {
	int64_t *quota;	    /* n * weeks packs, region-major: [i*weeks+w] */
	int *week_reached;  /* n: 0 already at target, w+1 in week w, -1
				 never within the plan */
	int64_t *shortfall; /* n base units still short after the plan */
	int64_t *unused;    /* weeks: capacity nobody needed, packs */
};

/* Plan the build-up of n regions.  As allocator_share. */
int allocator_plan(const struct alloc_region *r, size_t n,
		   const struct alloc_plan_params *p,
		   struct alloc_plan_result *out, struct err *e);

void allocator_plan_free(struct alloc_plan_result *res);

#endif
