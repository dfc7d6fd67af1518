/*
 * readiness.h -- days of supply against targets: the arithmetic, and
 * nothing else.
 *
 * DESIGN.md, Readiness: the consumption rate over a trailing window,
 * adjusted for days out of stock, c = issued / (days - stockout_days);
 * days of supply d = available / c; targets and floors in days, scaled by
 * the national readiness level's factor.  The database gathers the inputs
 * for a scope (a site, a region, a sjukvårdsregion or the nation, and a
 * product); this module turns them into a rate, days and a status.  Reports,
 * the API and the alert rules all go through it, so the numbers a
 * coordinator sees and the alerts that fire are computed one way.
 *
 * Pure: no I/O, no allocation.  Tested by tests/check_readiness_unit.c.
 */
#ifndef LAGERBILD_READINESS_H
#define LAGERBILD_READINESS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* The trailing window, in days, unless asked otherwise. */
#define READINESS_WINDOW_DEFAULT 28
#define READINESS_WINDOW_MAX 366
/* Fewer days of history than this (after stockout days are taken out) and
 * the rate is not known: a made-up rate would be worse than none. */
#define READINESS_MIN_DAYS 7
/* Target for a product under an agreement with no target of its own. */
#define READINESS_TARGET_DEFAULT 30

enum readiness_status {
	READINESS_STOCKOUT,	/* nothing available */
	READINESS_BELOW_FLOOR,	/* days of supply under the floor */
	READINESS_BELOW_TARGET, /* under the target, at or over the floor */
	READINESS_OK,		/* at or over the target, or no consumption */
	READINESS_NO_TARGET,	/* stock and a rate, but no target applies */
	READINESS_UNKNOWN_RATE	/* stock, but too little history for a rate */
};

/* What the database knows about one scope and product. */
struct readiness_input {
	int64_t available; /* base units: not expired, not quarantined */
	int64_t issued;	   /* base units issued in the observed days */
	int window_days;   /* the trailing window asked for, 1..366 */
	/* Days of the window for which there is any record of the product
	 * at this scope (stock or consumption reported), 0..window_days:
	 * a product first stocked ten days ago has ten. */
	int history_days;
	/* Of those, days ending with nothing available, 0..history_days. */
	int stockout_days;
	double target_days; /* 0: no target */
	double floor_days;  /* 0: no floor; never above target_days */
	double factor;	    /* the readiness level's scaling, > 0 */
};

struct readiness_result {
	bool rate_known;
	double rate;	    /* base units per day, when rate_known */
	bool days_infinite; /* rate known and 0: no consumption */
	double days;	    /* of supply, when rate_known && !days_infinite */
	double target_days; /* scaled by factor; 0: none */
	double floor_days;  /* scaled by factor; 0: none */
	/* Quantities the target and floor stand for at this rate, rounded
	 * up; -1 when the rate is not known or there is no target/floor. */
	int64_t target_qty;
	int64_t floor_qty;
	/* What it would take to reach the target, >= 0; -1 as above. */
	int64_t shortfall;
	enum readiness_status status;
};

/*
 * Compute rate, days and status.  0, or -1 with ERR_INVALID naming the
 * input out of range (negative quantities, days outside the window, a
 * floor above the target, a factor that is not positive).
 */
int readiness_compute(const struct readiness_input *in,
		      struct readiness_result *out, struct err *e);

/* "stockout", "below_floor", "below_target", "ok", "no_target",
 * "unknown_rate". */
const char *readiness_status_name(enum readiness_status s);

/* Parse a status name; ERR_INVALID naming field when it is none. */
int readiness_status_parse(const char *s, enum readiness_status *out,
			   const char *field, struct err *e);

/* True for the statuses that call for attention: stockout, below floor,
 * below target. */
bool readiness_is_short(enum readiness_status s);

#endif
