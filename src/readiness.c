/*
 * readiness.c -- rate, days of supply and status (see readiness.h).
 */
#include <math.h>
#include <string.h>

#include "readiness.h"

static const char *const names[] = {
	[READINESS_STOCKOUT] = "stockout",
	[READINESS_BELOW_FLOOR] = "below_floor",
	[READINESS_BELOW_TARGET] = "below_target",
	[READINESS_OK] = "ok",
	[READINESS_NO_TARGET] = "no_target",
	[READINESS_UNKNOWN_RATE] = "unknown_rate",
};

#define NSTATUS (sizeof(names) / sizeof(names[0]))

const char *readiness_status_name(enum readiness_status s)
{
	return (size_t)s < NSTATUS ? names[s] : "unknown";
}

int readiness_status_parse(const char *s, enum readiness_status *out,
			   const char *field, struct err *e)
{
	for (size_t i = 0; s && i < NSTATUS; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum readiness_status)i;
			return 0;
		}
	return err_set(e, ERR_INVALID, field,
		       "%s \"%.40s\": not one of stockout, below_floor, "
		       "below_target, ok, no_target, unknown_rate",
		       field, s ? s : "");
}

bool readiness_is_short(enum readiness_status s)
{
	return s == READINESS_STOCKOUT || s == READINESS_BELOW_FLOOR ||
	       s == READINESS_BELOW_TARGET;
}

/* Largest days value taken as a target or floor: ten years. */
#define DAYS_MAX 3650.0

static int check(const struct readiness_input *in, struct err *e)
{
	if (in->available < 0)
		return err_set(e, ERR_INVALID, "available",
			       "available %lld: must not be negative",
			       (long long)in->available);
	if (in->issued < 0)
		return err_set(e, ERR_INVALID, "issued",
			       "issued %lld: must not be negative",
			       (long long)in->issued);
	if (in->window_days < 1 || in->window_days > READINESS_WINDOW_MAX)
		return err_set(e, ERR_INVALID, "window_days",
			       "window %d days: must be 1 to %d",
			       in->window_days, READINESS_WINDOW_MAX);
	if (in->history_days < 0 || in->history_days > in->window_days)
		return err_set(e, ERR_INVALID, "history_days",
			       "history %d days: must be 0 to the window's %d",
			       in->history_days, in->window_days);
	if (in->stockout_days < 0 || in->stockout_days > in->history_days)
		return err_set(e, ERR_INVALID, "stockout_days",
			       "%d days out of stock: must be 0 to the %d days "
			       "of history",
			       in->stockout_days, in->history_days);
	/* !(x >= 0) also catches NaN */
	if (!(in->target_days >= 0) || in->target_days > DAYS_MAX)
		return err_set(e, ERR_INVALID, "target_days",
			       "target %g days: must be 0 to %g",
			       in->target_days, DAYS_MAX);
	if (!(in->floor_days >= 0) || in->floor_days > DAYS_MAX)
		return err_set(e, ERR_INVALID, "floor_days",
			       "floor %g days: must be 0 to %g", in->floor_days,
			       DAYS_MAX);
	if (in->target_days > 0 && in->floor_days > in->target_days)
		return err_set(e, ERR_INVALID, "floor_days",
			       "floor %g days is above the target's %g",
			       in->floor_days, in->target_days);
	if (!(in->factor > 0) || in->factor > 100)
		return err_set(e, ERR_INVALID, "factor",
			       "factor %g: must be above 0 and at most 100",
			       in->factor);
	return 0;
}

/* Base units that days of supply stand for at rate, rounded up. */
static int64_t qty_for(double days, double rate)
{
	double q = ceil(days * rate - 1e-9);

	return q < 0 ? 0 : q > 9e15 ? INT64_C(9000000000000000) : (int64_t)q;
}

int readiness_compute(const struct readiness_input *in,
		      struct readiness_result *out, struct err *e)
{
	int observed;

	memset(out, 0, sizeof(*out));
	out->target_qty = out->floor_qty = out->shortfall = -1;
	if (check(in, e) < 0)
		return -1;
	out->target_days = in->target_days * in->factor;
	out->floor_days = in->floor_days * in->factor;

	/* Days on which something could have been issued. */
	observed = in->history_days - in->stockout_days;
	if (observed >= READINESS_MIN_DAYS) {
		out->rate_known = true;
		out->rate = (double)in->issued / observed;
		if (in->issued == 0)
			out->days_infinite = true;
		else
			out->days = (double)in->available / out->rate;
	}
	if (out->rate_known && out->target_days > 0) {
		out->target_qty = qty_for(out->target_days, out->rate);
		out->shortfall = out->target_qty > in->available ?
					 out->target_qty - in->available :
					 0;
	}
	if (out->rate_known && out->floor_days > 0)
		out->floor_qty = qty_for(out->floor_days, out->rate);

	if (in->available == 0)
		out->status = READINESS_STOCKOUT;
	else if (!out->rate_known)
		out->status = READINESS_UNKNOWN_RATE;
	else if (out->target_days <= 0)
		out->status = READINESS_NO_TARGET;
	else if (out->days_infinite)
		out->status = READINESS_OK;
	else if (out->floor_days > 0 && out->days < out->floor_days)
		out->status = READINESS_BELOW_FLOOR;
	else if (out->days < out->target_days)
		out->status = READINESS_BELOW_TARGET;
	else
		out->status = READINESS_OK;
	return 0;
}
