/*
 * check_allocator_unit.c -- the allocator's three problems, no database.
 *
 *   - hand-worked tables for sharing, each supply key and the plan;
 *   - invariants on random instances (fixed seeds; a failure names the seed
 *     and the instance, so it can be replayed alone): conservation, floors,
 *     whole packs, lots, minimum transfers, determinism, and the integer
 *     max-min certificate (no single pack moved between two regions lifts
 *     the lower of them);
 *   - brute force over every integer reallocation on small instances, and
 *     GLPK on larger ones (sharing on 21 regions, maxmin supply on up to
 *     64): its LP for the continuous level L and its MIP for the smallest
 *     days of supply in whole packs;
 *   - one property test per key and for the plan;
 *   - every refused input, by the field it names.
 *
 * The rules the checks encode are written out here independently of
 * allocator.c: which lots may be sent, how much a region may give, the
 * target quantity.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <glpk.h>

#include "allocator.h"
#include "suites.h"

#define TODAY 20000 /* 2024-10-04 */
#define TEST_LOTS 6000
#define NR ALLOCATOR_REGIONS_MAX

/* Relative slack for comparing days computed along different paths. */
#define EPS 1e-9

static bool close_to(double a, double b)
{
	return fabs(a - b) <= EPS * (1 + fabs(a) + fabs(b));
}

/* ---- a small reproducible generator (splitmix64) ---- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *g)
{
	uint64_t z = (g->s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform in lo..hi inclusive. */
static int64_t rng_range(struct rng *g, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next(g) % (uint64_t)(hi - lo + 1));
}

static double rng_unit(struct rng *g)
{
	return (double)(rng_next(g) >> 11) * 0x1p-53;
}

static struct rng rng_for(uint64_t seed, int instance)
{
	struct rng g = {seed ^
			((uint64_t)instance * UINT64_C(0x2545f4914f6cdd1d))};

	rng_next(&g);
	return g;
}

static const char *const codes[] = {"01", "03", "04", "05", "06", "07", "08",
				    "09", "10", "12", "13", "14", "17", "18",
				    "19", "20", "21", "22", "23", "24", "25"};
static const char *const hcs[] = {
	"norr",	    "mellansverige", "stockholm-gotland",
	"sydostra", "syd",	     "vast"};

/* ---- sharing instances ---- */

struct share_inst {
	size_t n, nlots;
	struct alloc_region r[NR];
	struct alloc_lot lots[TEST_LOTS];
	struct alloc_share_params p;
};

enum gen_mode {
	GEN_ANY,
	GEN_SMALL,
	GEN_NATIONAL
};

/*
 * A random instance.  GEN_SMALL: at most 4 regions with a few packs each
 * (brute force); GEN_NATIONAL: the 21 regions with realistic stock; GEN_ANY
 * also reaches the edges (64 regions, 10^12 stock, no lots, pack 1).
 */
static void gen_share(struct rng *g, struct share_inst *in, enum gen_mode mode)
{
	int64_t scale, left, q;
	size_t i, nl, l;

	memset(in, 0, sizeof *in);
	switch (mode) {
	case GEN_SMALL:
		in->n = (size_t)rng_range(g, 1, 4);
		in->p.pack_size = rng_range(g, 1, 3);
		scale = 6 * in->p.pack_size;
		break;
	case GEN_NATIONAL:
		in->n = 21;
		in->p.pack_size = rng_range(g, 1, 20);
		scale = rng_range(g, 100, 20000);
		break;
	default:
		in->n = rng_range(g, 0, 49) == 0 ? NR :
						   (size_t)rng_range(g, 1, 21);
		in->p.pack_size =
			rng_range(g, 0, 2) == 0 ? 1 : rng_range(g, 1, 50);
		scale = rng_range(g, 0, 99) == 0 ? ALLOCATOR_QTY_MAX / 8 :
						   rng_range(g, 1, 5000);
		break;
	}
	in->p.today = TODAY;
	in->p.min_shelf_days = (int)rng_range(g, 0, 60);
	in->p.idle_gives = rng_range(g, 0, 1);
	in->p.idle_keep_packs = rng_range(g, 0, 3);
	in->p.min_transfer =
		rng_range(g, 0, 1) ? 0 : rng_range(g, 0, 5 * in->p.pack_size);
	for (i = 0; i < in->n; i++) {
		struct alloc_region *r = &in->r[i];

		r->code = i < 21 ? codes[i] : NULL;
		r->hc_region = rng_range(g, 0, 9) == 0 ?
				       NULL :
				       hcs[rng_range(g, 0, 5)];
		r->stock = rng_range(g, 0, 3) == 0 ? 0 : rng_range(g, 0, scale);
		if (rng_range(g, 0, 4) == 0)
			r->rate = 0;
		else if (mode == GEN_SMALL)
			r->rate = (double)rng_range(g, 1, 8) / 4;
		else
			r->rate = fmin(ALLOCATOR_RATE_MAX,
				       0.05 + rng_unit(g) * (double)scale / 30);
		r->floor_days = rng_range(g, 0, 2) == 0 ? 0 : rng_unit(g) * 40;
		r->target_days = 30;
		r->population = rng_range(g, 0, 2500000);

		/* Lots over part of the stock: some expired, some too short,
		 * some without expiry; the rest lies nowhere in particular. */
		left = r->stock;
		nl = (size_t)rng_range(g, 0, mode == GEN_SMALL ? 3 : 5);
		for (l = 0; l < nl && left > 0 && in->nlots < TEST_LOTS; l++) {
			struct alloc_lot *lot = &in->lots[in->nlots++];

			q = rng_range(g, 1, left);
			if (rng_range(g, 0, 2) > 0 && l + 1 == nl)
				q = left;
			left -= q;
			lot->region = i;
			lot->site_id = 100 + (int64_t)i;
			lot->lot = "L";
			lot->quantity = q;
			switch (rng_range(g, 0, 5)) {
			case 0:
				lot->expiry =
					TODAY - (int32_t)rng_range(g, 1, 30);
				break;
			case 1:
				lot->expiry =
					TODAY + (int32_t)rng_range(g, 0, 70);
				break;
			case 2: lot->expiry = ALLOCATOR_NO_EXPIRY; break;
			default:
				lot->expiry =
					TODAY + (int32_t)rng_range(g, 0, 700);
				break;
			}
		}
	}
	/* lots in no particular order of region */
	for (l = in->nlots; l > 1; l--) {
		size_t j = (size_t)rng_range(g, 0, (int64_t)l - 1);
		struct alloc_lot t = in->lots[l - 1];

		in->lots[l - 1] = in->lots[j];
		in->lots[j] = t;
	}
}

/* May lot l be sent at all: not expired, enough shelf life left. */
static bool sendable(const struct share_inst *in, const struct alloc_lot *l)
{
	if (l->expiry == ALLOCATOR_NO_EXPIRY)
		return true;
	return l->expiry >= TODAY &&
	       (int64_t)l->expiry - in->p.today >= in->p.min_shelf_days;
}

/* Whole packs region i holds in lots it may send (a pack is of one lot). */
static int64_t sendable_packs(const struct share_inst *in, size_t i)
{
	int64_t packs = 0;

	for (size_t j = 0; j < in->nlots; j++)
		if (in->lots[j].region == i && sendable(in, &in->lots[j]))
			packs += in->lots[j].quantity / in->p.pack_size;
	return packs;
}

static bool any_consumer(const struct share_inst *in)
{
	for (size_t i = 0; i < in->n; i++)
		if (in->r[i].rate > 0)
			return true;
	return false;
}

/*
 * The most packs region i may give: a consumer down to its floor (the
 * smallest whole quantity at or above F*c), an idle region down to the packs
 * it keeps, and only when someone consumes; both within sendable packs.
 */
static int64_t max_give(const struct share_inst *in, size_t i)
{
	const struct alloc_region *r = &in->r[i];
	int64_t p = in->p.pack_size, keep, by_rule;

	if (r->rate > 0) {
		keep = (int64_t)ceil(r->floor_days * r->rate);
	} else {
		if (!in->p.idle_gives || !any_consumer(in))
			return 0;
		keep = in->p.idle_keep_packs * p;
	}
	by_rule = r->stock > keep ? (r->stock - keep) / p : 0;
	return by_rule < sendable_packs(in, i) ? by_rule :
						 sendable_packs(in, i);
}

/* Smallest days of supply over the consumers (INFINITY without any). */
static double min_days(const struct share_inst *in, const int64_t *after)
{
	double m = INFINITY;

	for (size_t i = 0; i < in->n; i++)
		if (in->r[i].rate > 0 && (double)after[i] / in->r[i].rate < m)
			m = (double)after[i] / in->r[i].rate;
	return m;
}

#define FAIL(...)                                 \
	do {                                      \
		snprintf(why, size, __VA_ARGS__); \
		return false;                     \
	} while (0)

/*
 * Everything a sharing result must satisfy whatever the instance.  With
 * full (min_transfer 0, nothing dropped) also the rules that dropping
 * small rows may break: first expiry first, same sjukvårdsregion first, the
 * integer optimum and the level.
 */
static bool share_valid(const struct share_inst *in,
			const struct alloc_share_result *res, bool full,
			char *why, size_t size)
{
	int64_t out_[NR] = {0}, in_[NR] = {0}, used[TEST_LOTS] = {0};
	int64_t pair[NR][NR] = {{0}};
	int64_t p = in->p.pack_size, sum_before = 0, sum_after = 0;
	size_t i, j, t;

	for (i = 0; i < in->n; i++) {
		const struct alloc_region *r = &in->r[i];
		double db = r->rate > 0 ? (double)r->stock / r->rate : INFINITY;

		sum_before += r->stock;
		sum_after += res->after[i];
		if (res->after[i] < 0)
			FAIL("region %zu holds %lld after", i,
			     (long long)res->after[i]);
		if (!(db == res->days_before[i] ||
		      close_to(db, res->days_before[i])))
			FAIL("region %zu days before %g, wanted %g", i,
			     res->days_before[i], db);
		db = r->rate > 0 ? (double)res->after[i] / r->rate : INFINITY;
		if (!(db == res->days_after[i] ||
		      close_to(db, res->days_after[i])))
			FAIL("region %zu days after %g, wanted %g", i,
			     res->days_after[i], db);
	}
	if (sum_before != sum_after)
		FAIL("total %lld before, %lld after", (long long)sum_before,
		     (long long)sum_after);
	if (res->dropped < 0 || res->dropped % p != 0)
		FAIL("dropped %lld", (long long)res->dropped);
	if (res->ntransfers > 0 && res->transfers == NULL)
		FAIL("transfers missing");

	for (t = 0; t < res->ntransfers; t++) {
		const struct alloc_transfer *x = &res->transfers[t];

		if (x->from >= in->n || x->to >= in->n || x->from == x->to ||
		    x->lot >= in->nlots)
			FAIL("transfer %zu: %zu -> %zu lot %zu", t, x->from,
			     x->to, x->lot);
		if (x->quantity <= 0 || x->quantity % p != 0)
			FAIL("transfer %zu: %lld is not whole packs of %lld", t,
			     (long long)x->quantity, (long long)p);
		if (t > 0 && (x->from != x[-1].from || x->to != x[-1].to)) {
			for (j = 0; j < t; j++)
				if (res->transfers[j].from == x->from &&
				    res->transfers[j].to == x->to)
					FAIL("transfer %zu -> %zu: its rows "
					     "%zu and %zu lie apart",
					     x->from, x->to, j, t);
		}
		if (in->lots[x->lot].region != x->from)
			FAIL("transfer %zu: lot %zu is not region %zu's", t,
			     x->lot, x->from);
		if (!sendable(in, &in->lots[x->lot]))
			FAIL("transfer %zu: lot %zu expires %d (today %d, "
			     "min shelf %d)",
			     t, x->lot, in->lots[x->lot].expiry, TODAY,
			     in->p.min_shelf_days);
		if (!(in->r[x->to].rate > 0))
			FAIL("transfer %zu: region %zu consumes nothing", t,
			     x->to);
		used[x->lot] += x->quantity;
		if (used[x->lot] > in->lots[x->lot].quantity / p * p)
			FAIL("lot %zu: %lld sent of %lld", x->lot,
			     (long long)used[x->lot],
			     (long long)in->lots[x->lot].quantity);
		out_[x->from] += x->quantity;
		in_[x->to] += x->quantity;
		pair[x->from][x->to] += x->quantity;
	}
	/* The minimum is on a transfer, all its lots together. */
	for (i = 0; i < in->n; i++)
		for (j = 0; j < in->n; j++)
			if (pair[i][j] > 0 && pair[i][j] < in->p.min_transfer)
				FAIL("transfer %zu -> %zu: %lld under the "
				     "minimum %lld",
				     i, j, (long long)pair[i][j],
				     (long long)in->p.min_transfer);
	for (i = 0; i < in->n; i++) {
		const struct alloc_region *r = &in->r[i];

		if (res->after[i] != r->stock - out_[i] + in_[i])
			FAIL("region %zu: after %lld, transfers say %lld", i,
			     (long long)res->after[i],
			     (long long)(r->stock - out_[i] + in_[i]));
		if (out_[i] > 0 && in_[i] > 0)
			FAIL("region %zu both gives and receives", i);
		if (out_[i] == 0)
			continue;
		if (r->rate > 0 &&
		    (double)res->after[i] < r->floor_days * r->rate)
			FAIL("region %zu: %lld after, under its floor %g", i,
			     (long long)res->after[i], r->floor_days * r->rate);
		if (!(r->rate > 0) &&
		    (!in->p.idle_gives ||
		     res->after[i] < in->p.idle_keep_packs * p))
			FAIL("idle region %zu gave %lld", i,
			     (long long)out_[i]);
		if (out_[i] > max_give(in, i) * p)
			FAIL("region %zu gave %lld, at most %lld packs", i,
			     (long long)out_[i], (long long)max_give(in, i));
	}
	if (!full)
		return true;

	if (res->dropped != 0)
		FAIL("dropped %lld with no minimum", (long long)res->dropped);
	/* First expiry first: a lot is touched only when every sendable lot
	 * of the region that expires earlier (or as early, listed earlier)
	 * has given all its whole packs. */
	for (t = 0; t < res->ntransfers; t++) {
		const struct alloc_lot *u = &in->lots[res->transfers[t].lot];

		for (j = 0; j < in->nlots; j++) {
			const struct alloc_lot *l = &in->lots[j];

			if (l->region != u->region || !sendable(in, l) ||
			    l->quantity < p)
				continue;
			if ((l->expiry < u->expiry ||
			     (l->expiry == u->expiry &&
			      j < res->transfers[t].lot)) &&
			    used[j] != l->quantity / p * p)
				FAIL("lot %zu (expiry %d) used before lot %zu "
				     "(expiry %d) was emptied",
				     res->transfers[t].lot, u->expiry, j,
				     l->expiry);
		}
	}
	/* Same sjukvårdsregion first: when a recipient takes from another
	 * one, its own region's donors gave all they gave by then
	 * (recipients are served fewest days first, then by index). */
	for (t = 0; t < res->ntransfers; t++) {
		size_t to = res->transfers[t].to, from = res->transfers[t].from;
		const char *h = in->r[to].hc_region;

		if (h == NULL || (in->r[from].hc_region != NULL &&
				  strcmp(in->r[from].hc_region, h) == 0))
			continue;
		for (i = 0; i < in->n; i++) {
			int64_t by_then = 0;

			if (out_[i] == 0 || in->r[i].hc_region == NULL ||
			    strcmp(in->r[i].hc_region, h) != 0)
				continue;
			for (j = 0; j < res->ntransfers; j++) {
				size_t o = res->transfers[j].to;

				if (res->transfers[j].from == i &&
				    (res->days_before[o] <
					     res->days_before[to] ||
				     (res->days_before[o] ==
					      res->days_before[to] &&
				      o <= to)))
					by_then += res->transfers[j].quantity;
			}
			if (by_then != out_[i])
				FAIL("region %zu took from %zu (%s) while %zu "
				     "of its own %s still had %lld to give",
				     to, from, in->r[from].hc_region, i, h,
				     (long long)(out_[i] - by_then));
		}
	}
	/* Idle regions give everything they may, once someone consumes. */
	for (i = 0; i < in->n; i++)
		if (!(in->r[i].rate > 0) && out_[i] != max_give(in, i) * p)
			FAIL("idle region %zu gave %lld of %lld packs", i,
			     (long long)out_[i], (long long)max_give(in, i));
	/*
	 * The integer max-min certificate: if consumer a could give one more
	 * pack, what it would keep is no more days than any consumer b has.
	 * Otherwise moving that pack would lift b, the lower of the two.
	 */
	for (i = 0; i < in->n; i++) {
		const struct alloc_region *a = &in->r[i];
		double keep;

		if (!(a->rate > 0) ||
		    (in_[i] == 0 && out_[i] + p > max_give(in, i) * p))
			continue;
		keep = (double)(res->after[i] - p) / a->rate;
		for (j = 0; j < in->n; j++) {
			double has;

			if (j == i || !(in->r[j].rate > 0))
				continue;
			has = (double)res->after[j] / in->r[j].rate;
			if (keep > has && !close_to(keep, has))
				FAIL("moving a pack from %zu (%g days after) to "
				     "%zu (%g days) would lift the lower",
				     i, keep, j, has);
		}
	}
	/* The level: sum max(lb'_i, L*c_i) over the consumers is their stock
	 * plus what the idle regions give; and no whole-pack answer beats it. */
	if (any_consumer(in)) {
		long double lhs = 0, rhs = 0;

		for (i = 0; i < in->n; i++) {
			const struct alloc_region *r = &in->r[i];
			double lb = (double)(r->stock - max_give(in, i) * p);

			if (!(r->rate > 0)) {
				rhs += max_give(in, i) * p;
				continue;
			}
			rhs += r->stock;
			lhs += fmax(lb, res->level * r->rate);
		}
		if (fabsl(lhs - rhs) > 1e-7L * (1 + rhs))
			FAIL("level %g: sum max(lb', L c) = %Lg, wanted %Lg",
			     res->level, lhs, rhs);
		if (min_days(in, res->after) > res->level &&
		    !close_to(min_days(in, res->after), res->level))
			FAIL("smallest days after %g above the level %g",
			     min_days(in, res->after), res->level);
	} else if (res->level != 0 || res->ntransfers != 0) {
		FAIL("nobody consumes, yet level %g and %zu transfers",
		     res->level, res->ntransfers);
	}
	return true;
}

static bool share_same(const struct alloc_share_result *a,
		       const struct alloc_share_result *b, size_t n)
{
	return a->level == b->level && a->ntransfers == b->ntransfers &&
	       a->dropped == b->dropped &&
	       memcmp(a->after, b->after, n * sizeof *a->after) == 0 &&
	       (a->ntransfers == 0 ||
		memcmp(a->transfers, b->transfers,
		       a->ntransfers * sizeof *a->transfers) == 0);
}

/* ---- sharing: hand-worked cases ---- */

#define REG(code, hc, stock, rate, floor)           \
	{                                           \
		code, hc, stock, rate, floor, 30, 0 \
	}
#define LOT(region, expiry, qty)            \
	{                                   \
		region, 1, "L", expiry, qty \
	}
#define NOEXP ALLOCATOR_NO_EXPIRY

static const struct share_case {
	const char *what;
	size_t n, nlots;
	struct alloc_region r[4];
	struct alloc_lot lots[4];
	int64_t pack, min_transfer;
	int min_shelf;
	bool idle_gives;
	int64_t keep;
	double level;
	int64_t after[4];
	size_t ntransfers;
	struct alloc_transfer tr[4];
	int64_t dropped;
} share_cases[] = {
	{"one gives half to an empty neighbour",
	 2,
	 1,
	 {REG("01", "x", 100, 10, 0), REG("03", "x", 0, 10, 0)},
	 {LOT(0, NOEXP, 100)},
	 1,
	 0,
	 0,
	 false,
	 0,
	 5,
	 {50, 50},
	 1,
	 {{0, 1, 0, 50}},
	 0},
	{"the donor's floor binds: 80 of 100 stay",
	 2,
	 1,
	 {REG("01", "x", 100, 10, 8), REG("03", "x", 0, 10, 0)},
	 {LOT(0, NOEXP, 100)},
	 1,
	 0,
	 0,
	 false,
	 0,
	 2,
	 {80, 20},
	 1,
	 {{0, 1, 0, 20}},
	 0},
	{"only eligible lots can give: 30 of 100",
	 2,
	 3,
	 {REG("01", "x", 100, 10, 0), REG("03", "x", 0, 10, 0)},
	 {LOT(0, TODAY + 5, 50), LOT(0, TODAY + 100, 30),
	  LOT(0, TODAY - 1, 20)},
	 1,
	 0,
	 30,
	 false,
	 0,
	 3,
	 {70, 30},
	 1,
	 {{0, 1, 1, 30}},
	 0},
	{"whole packs of 10: 5.25 days becomes 5.5 and 5",
	 2,
	 1,
	 {REG("01", "x", 105, 10, 0), REG("03", "x", 0, 10, 0)},
	 {LOT(0, NOEXP, 105)},
	 10,
	 0,
	 0,
	 false,
	 0,
	 5.25,
	 {55, 50},
	 1,
	 {{0, 1, 0, 50}},
	 0},
	{"a transfer under the minimum is dropped, holdings agree",
	 2,
	 1,
	 {REG("01", "x", 105, 10, 0), REG("03", "x", 0, 10, 0)},
	 {LOT(0, NOEXP, 105)},
	 10,
	 60,
	 0,
	 false,
	 0,
	 5.25,
	 {105, 0},
	 0,
	 {{0}},
	 50},
	/* 2 from two lots: the minimum 2 is on the transfer, not the lot */
	{"a transfer over two lots reaches the minimum together",
	 2,
	 2,
	 {REG("01", "x", 4, 1, 0), REG("03", "x", 0, 1, 0)},
	 {LOT(0, TODAY + 10, 1), LOT(0, TODAY + 20, 3)},
	 1,
	 2,
	 0,
	 false,
	 0,
	 2,
	 {2, 2},
	 2,
	 {{0, 1, 0, 1}, {0, 1, 1, 1}},
	 0},
	{"a transfer over two lots under the minimum goes whole",
	 2,
	 2,
	 {REG("01", "x", 4, 1, 0), REG("03", "x", 0, 1, 0)},
	 {LOT(0, TODAY + 10, 1), LOT(0, TODAY + 20, 3)},
	 1,
	 3,
	 0,
	 false,
	 0,
	 2,
	 {4, 0},
	 0,
	 {{0}},
	 2},
	{"own sjukvårdsregion first, even with the smaller surplus",
	 3,
	 2,
	 {REG("01", "x", 100, 1, 0), REG("03", "y", 200, 1, 0),
	  REG("04", "x", 0, 10, 0)},
	 {LOT(0, NOEXP, 100), LOT(1, NOEXP, 200)},
	 1,
	 0,
	 0,
	 false,
	 0,
	 25,
	 {25, 25, 250},
	 2,
	 {{0, 2, 0, 75}, {1, 2, 1, 175}},
	 0},
	{"an idle region gives all but one pack",
	 2,
	 1,
	 {REG("01", "x", 50, 0, 0), REG("03", "y", 0, 5, 0)},
	 {LOT(0, NOEXP, 50)},
	 10,
	 0,
	 0,
	 true,
	 1,
	 8,
	 {10, 40},
	 1,
	 {{0, 1, 0, 40}},
	 0},
	{"an idle region keeps its stock without idle_gives",
	 2,
	 1,
	 {REG("01", "x", 50, 0, 0), REG("03", "y", 0, 5, 0)},
	 {LOT(0, NOEXP, 50)},
	 10,
	 0,
	 0,
	 false,
	 1,
	 0,
	 {50, 0},
	 0,
	 {{0}},
	 0},
	{"an idle region never receives",
	 3,
	 1,
	 {REG("01", "x", 0, 0, 0), REG("03", "x", 10, 1, 0),
	  REG("04", "x", 0, 1, 0)},
	 {LOT(1, NOEXP, 10)},
	 1,
	 0,
	 0,
	 true,
	 0,
	 5,
	 {0, 5, 5},
	 1,
	 {{1, 2, 0, 5}},
	 0},
	{"first expiry first; the expired lot stays",
	 2,
	 3,
	 {REG("01", "x", 100, 1, 0), REG("03", "x", 0, 1, 0)},
	 {LOT(0, TODAY + 100, 40), LOT(0, TODAY + 10, 40),
	  LOT(0, TODAY - 1, 20)},
	 1,
	 0,
	 5,
	 false,
	 0,
	 50,
	 {50, 50},
	 2,
	 {{0, 1, 1, 40}, {0, 1, 0, 10}},
	 0},
	{"too little shelf life left keeps a lot home",
	 2,
	 3,
	 {REG("01", "x", 100, 1, 0), REG("03", "x", 0, 1, 0)},
	 {LOT(0, TODAY + 100, 40), LOT(0, TODAY + 10, 40),
	  LOT(0, TODAY - 1, 20)},
	 1,
	 0,
	 20,
	 false,
	 0,
	 40,
	 {60, 40},
	 1,
	 {{0, 1, 0, 40}},
	 0},
	{"a region already under its floor gives nothing",
	 2,
	 1,
	 {REG("01", "x", 50, 10, 10), REG("03", "x", 0, 10, 0)},
	 {LOT(0, NOEXP, 50)},
	 1,
	 0,
	 0,
	 false,
	 0,
	 0,
	 {50, 0},
	 0,
	 {{0}},
	 0},
	{"nobody consumes: level 0, nothing moves",
	 2,
	 1,
	 {REG("01", "x", 50, 0, 0), REG("03", "x", 0, 0, 0)},
	 {LOT(0, NOEXP, 50)},
	 1,
	 0,
	 0,
	 true,
	 0,
	 0,
	 {50, 0},
	 0,
	 {{0}},
	 0},
	/* {1,1,0} {1,0,1} {0,1,1} are equally fair: the donor keeps its
	 * pack (less moves), the lower index is served */
	{"on a tie nothing extra moves, the lower index is served",
	 3,
	 1,
	 {REG("01", "x", 0, 1, 0), REG("03", "x", 0, 1, 0),
	  REG("04", "x", 2, 1, 0)},
	 {LOT(2, NOEXP, 2)},
	 1,
	 0,
	 0,
	 false,
	 0,
	 2.0 / 3,
	 {1, 0, 1},
	 1,
	 {{2, 0, 0, 1}},
	 0},
	{"lots without a whole pack give nothing",
	 2,
	 2,
	 {REG("01", "x", 100, 10, 0), REG("03", "x", 0, 10, 0)},
	 {LOT(0, NOEXP, 9), LOT(0, NOEXP, 25)},
	 10,
	 0,
	 0,
	 false,
	 0,
	 2,
	 {80, 20},
	 1,
	 {{0, 1, 1, 20}},
	 0},
};

START_TEST(test_share_cases)
{
	const struct share_case *c = &share_cases[_i];
	struct alloc_share_params p = {c->pack,	     c->min_transfer, TODAY,
				       c->min_shelf, c->idle_gives,   c->keep};
	struct alloc_share_result res;
	struct err e = {0};
	size_t i;

	ck_assert_msg(allocator_share(c->r, c->n, c->lots, c->nlots, &p, &res,
				      &e) == 0,
		      "%s: %s", c->what, e.msg);
	ck_assert_msg(fabs(res.level - c->level) < 1e-9,
		      "%s: level %g, wanted %g", c->what, res.level, c->level);
	for (i = 0; i < c->n; i++)
		ck_assert_msg(res.after[i] == c->after[i],
			      "%s: region %zu after %lld, wanted %lld", c->what,
			      i, (long long)res.after[i],
			      (long long)c->after[i]);
	ck_assert_msg(res.ntransfers == c->ntransfers, "%s: %zu transfers",
		      c->what, res.ntransfers);
	for (i = 0; i < c->ntransfers; i++)
		ck_assert_msg(res.transfers[i].from == c->tr[i].from &&
				      res.transfers[i].to == c->tr[i].to &&
				      res.transfers[i].lot == c->tr[i].lot &&
				      res.transfers[i].quantity ==
					      c->tr[i].quantity,
			      "%s: transfer %zu is %zu->%zu lot %zu qty %lld",
			      c->what, i, res.transfers[i].from,
			      res.transfers[i].to, res.transfers[i].lot,
			      (long long)res.transfers[i].quantity);
	ck_assert_msg(res.dropped == c->dropped, "%s: dropped %lld", c->what,
		      (long long)res.dropped);
	for (i = 0; i < c->n; i++) {
		if (c->r[i].rate > 0)
			ck_assert(fabs(res.days_before[i] -
				       (double)c->r[i].stock / c->r[i].rate) <
				  1e-12);
		else
			ck_assert(isinf(res.days_before[i]) &&
				  isinf(res.days_after[i]));
	}
	allocator_share_free(&res);
	allocator_share_free(&res); /* a freed result is a zeroed one */
}
END_TEST

/* ---- sharing: random instances ---- */

#define SHARE_SEED UINT64_C(0x5ec7a11c)
#define SHARE_INSTANCES 10000

static void share_check_one(uint64_t seed, int k, enum gen_mode mode)
{
	static struct share_inst in; /* large: keep it off the stack */
	struct alloc_share_result res, again, full;
	struct err e = {0};
	struct rng g = rng_for(seed, k);
	char why[300];
	int64_t m;
	size_t t, u, dropped = 0;

	gen_share(&g, &in, mode);
	ck_assert_msg(allocator_share(in.r, in.n, in.lots, in.nlots, &in.p,
				      &res, &e) == 0,
		      "seed %#llx instance %d: %s (%s)",
		      (unsigned long long)seed, k, e.msg, e.field);
	ck_assert_msg(
		share_valid(&in, &res, in.p.min_transfer == 0, why, sizeof why),
		"seed %#llx instance %d: %s", (unsigned long long)seed, k, why);
	ck_assert_int_eq(allocator_share(in.r, in.n, in.lots, in.nlots, &in.p,
					 &again, &e),
			 0);
	ck_assert_msg(share_same(&res, &again, in.n),
		      "seed %#llx instance %d: not deterministic",
		      (unsigned long long)seed, k);
	allocator_share_free(&again);

	/* Dropping is the last step: the rows kept under a minimum are the
	 * rows without one of the transfers that reach it, and the rest is
	 * what was dropped. */
	m = in.p.min_transfer;
	in.p.min_transfer = 0;
	ck_assert_int_eq(allocator_share(in.r, in.n, in.lots, in.nlots, &in.p,
					 &full, &e),
			 0);
	ck_assert_msg(share_valid(&in, &full, true, why, sizeof why),
		      "seed %#llx instance %d (no minimum): %s",
		      (unsigned long long)seed, k, why);
	ck_assert(full.level == res.level);
	for (t = 0, u = 0; t < full.ntransfers; t++) {
		int64_t sent = 0;

		for (size_t v = 0; v < full.ntransfers; v++)
			if (full.transfers[v].from == full.transfers[t].from &&
			    full.transfers[v].to == full.transfers[t].to)
				sent += full.transfers[v].quantity;
		if (sent < m) {
			dropped += (size_t)full.transfers[t].quantity;
			continue;
		}
		ck_assert_msg(u < res.ntransfers &&
				      memcmp(&full.transfers[t],
					     &res.transfers[u],
					     sizeof res.transfers[u]) == 0,
			      "seed %#llx instance %d: row %zu kept differs",
			      (unsigned long long)seed, k, t);
		u++;
	}
	ck_assert_msg(u == res.ntransfers && (int64_t)dropped == res.dropped,
		      "seed %#llx instance %d: %zu rows kept of %zu, dropped "
		      "%lld of %zu",
		      (unsigned long long)seed, k, res.ntransfers, u,
		      (long long)res.dropped, dropped);
	allocator_share_free(&full);
	allocator_share_free(&res);
}

START_TEST(test_share_random)
{
	for (int k = 0; k < SHARE_INSTANCES; k++)
		share_check_one(SHARE_SEED, k, GEN_ANY);
	for (int k = 0; k < 1000; k++)
		share_check_one(SHARE_SEED + 1, k, GEN_NATIONAL);
}
END_TEST

/*
 * The order of the lots changes nothing but their indexes: lots as
 * generated (regions mixed), grouped by region (each region's lots one
 * stretch), and in the database's order (by region, then expiry: already
 * in the order they are given from) give the same result, lot for lot.
 * Each reordering is stable, so lots of equal expiry keep their order.
 * And a sjukvårdsregion's text at its own address in each region (as the
 * database gives it) groups as one shared string does.
 */
static bool lot_goes_before(const struct alloc_lot *a,
			    const struct alloc_lot *b, int how)
{
	if (a->region != b->region)
		return a->region < b->region;
	return how == 2 && a->expiry < b->expiry;
}

static void share_order_one(uint64_t seed, int k, enum gen_mode mode)
{
	static struct share_inst in, moved; /* large: off the stack */
	static size_t from[TEST_LOTS]; /* moved.lots[j] = in.lots[from[j]] */
	static char hc_text[NR][24];
	struct alloc_share_result a, b;
	struct err e = {0};
	struct rng g = rng_for(seed, k);
	size_t i, j, x;
	int how;

	gen_share(&g, &in, mode);
	ck_assert_int_eq(
		allocator_share(in.r, in.n, in.lots, in.nlots, &in.p, &a, &e),
		0);
	for (how = 0; how <= 2; how++) {
		moved = in;
		for (j = 0; j < in.nlots; j++) {
			x = j;
			for (i = j; how > 0 && i > 0 &&
				    lot_goes_before(&in.lots[x],
						    &in.lots[from[i - 1]], how);
			     i--)
				from[i] = from[i - 1];
			from[i] = x;
		}
		for (j = 0; j < in.nlots; j++)
			moved.lots[j] = in.lots[from[j]];
		if (how == 0) /* the texts at addresses of their own */
			for (i = 0; i < in.n; i++)
				if (in.r[i].hc_region != NULL) {
					snprintf(hc_text[i], sizeof hc_text[i],
						 "%s", in.r[i].hc_region);
					moved.r[i].hc_region = hc_text[i];
				}
		ck_assert_int_eq(allocator_share(moved.r, moved.n, moved.lots,
						 moved.nlots, &moved.p, &b, &e),
				 0);
		ck_assert_msg(a.level == b.level &&
				      a.ntransfers == b.ntransfers &&
				      a.dropped == b.dropped &&
				      memcmp(a.after, b.after,
					     in.n * sizeof *a.after) == 0 &&
				      memcmp(a.days_after, b.days_after,
					     in.n * sizeof *a.days_after) == 0,
			      "seed %#llx instance %d order %d: another result",
			      (unsigned long long)seed, k, how);
		for (j = 0; j < a.ntransfers; j++) {
			const struct alloc_transfer *ta = &a.transfers[j];
			const struct alloc_transfer *tb = &b.transfers[j];

			ck_assert_msg(ta->from == tb->from &&
					      ta->to == tb->to &&
					      ta->quantity == tb->quantity &&
					      ta->lot == from[tb->lot],
				      "seed %#llx instance %d order %d: row "
				      "%zu differs",
				      (unsigned long long)seed, k, how, j);
		}
		allocator_share_free(&b);
	}
	allocator_share_free(&a);
}

START_TEST(test_share_lot_order)
{
	for (int k = 0; k < 2000; k++)
		share_order_one(SHARE_SEED + 2, k, GEN_ANY);
	for (int k = 0; k < 500; k++)
		share_order_one(SHARE_SEED + 3, k, GEN_NATIONAL);
}
END_TEST

/* Thousands of lots in one giving region: the lots past the stack buffer,
 * sorted by qsort, still go first expiry first. */
START_TEST(test_share_many_lots)
{
	static struct share_inst in;
	struct alloc_share_result res;
	struct err e = {0};
	struct rng g = rng_for(SHARE_SEED + 4, 0);
	char why[300];
	size_t j;

	memset(&in, 0, sizeof in);
	in.n = 3;
	in.p = (struct alloc_share_params){3, 0, TODAY, 10, true, 0};
	in.r[0] = (struct alloc_region){"01", "x", 0, 0.5, 0, 30, 1};
	in.r[1] = (struct alloc_region){"03", "y", 0, 0, 0, 30, 1};
	in.r[2] = (struct alloc_region){"04", "y", 0, 20, 0, 30, 1};
	for (j = 0; j < 5000; j++) {
		struct alloc_lot *l = &in.lots[in.nlots++];

		l->region = j % 7 == 0 ? 1 : 0;
		l->site_id = (int64_t)j;
		l->lot = "";
		l->quantity = rng_range(&g, 1, 40);
		l->expiry = j % 11 == 0 ?
				    ALLOCATOR_NO_EXPIRY :
				    TODAY + (int32_t)rng_range(&g, -20, 900);
		in.r[l->region].stock += l->quantity + (j % 5 == 0);
	}
	ck_assert_int_eq(
		allocator_share(in.r, in.n, in.lots, in.nlots, &in.p, &res, &e),
		0);
	ck_assert_msg(share_valid(&in, &res, true, why, sizeof why), "%s", why);
	ck_assert_int_gt((long long)res.ntransfers, 300);
	allocator_share_free(&res);
}
END_TEST

/* No regions at all: nothing to do, and nothing refused. */
START_TEST(test_no_regions)
{
	struct alloc_share_params sp = {1, 0, TODAY, 0, true, 0};
	struct alloc_supply_params up = {0, 1, ALLOC_KEY_MAXMIN,
					 ALLOC_KEY_MAXMIN, 0};
	int64_t cap[2] = {4, 0};
	struct alloc_plan_params pp = {2, cap, 1};
	struct alloc_share_result s;
	struct alloc_supply_result u;
	struct alloc_plan_result p;
	struct err e = {0};

	ck_assert_int_eq(allocator_share(NULL, 0, NULL, 0, &sp, &s, &e), 0);
	ck_assert(s.level == 0 && s.ntransfers == 0 && s.after == NULL);
	allocator_share_free(&s);
	ck_assert_int_eq(allocator_supply(NULL, 0, &up, &u, &e), 0);
	ck_assert(u.packs == NULL && u.reserve_packs == 0);
	allocator_supply_free(&u);
	ck_assert_int_eq(allocator_plan(NULL, 0, &pp, &p, &e), 0);
	ck_assert(p.unused[0] == 4 && p.unused[1] == 0 && p.quota == NULL);
	allocator_plan_free(&p);
}
END_TEST

/* ---- sharing: brute force on small instances ---- */

struct brute {
	size_t k;
	double c[4];
	int64_t s[4], low[4], p;
	double best;
};

static void brute_rec(struct brute *b, size_t i, int64_t rem, double cur)
{
	int64_t t, hi = rem;

	if (cur <= b->best)
		return; /* cannot beat what is known */
	if (i + 1 == b->k) {
		if (rem < b->low[i])
			return;
		cur = fmin(cur, (double)(b->s[i] + rem * b->p) / b->c[i]);
		if (cur > b->best)
			b->best = cur;
		return;
	}
	for (size_t j = i + 1; j < b->k; j++)
		hi -= b->low[j];
	for (t = b->low[i]; t <= hi; t++)
		brute_rec(b, i + 1, rem - t,
			  fmin(cur, (double)(b->s[i] + t * b->p) / b->c[i]));
}

/*
 * The best smallest days of supply over every way of moving whole packs:
 * a consumer may end anywhere from what it may give down to (sendable
 * packs; never under F*c once it gives) upwards; idle regions add any
 * number of packs they may give.  Written from the rules, not from
 * allocator.c's formulas.
 */
static double brute_share(const struct share_inst *in)
{
	struct brute b = {0};
	int64_t p = in->p.pack_size, G = 0, g, t;
	double best = -INFINITY;

	b.p = p;
	for (size_t i = 0; i < in->n; i++) {
		const struct alloc_region *r = &in->r[i];
		int64_t sendable_units = sendable_packs(in, i) * p;

		if (!(r->rate > 0)) {
			/* as many packs as it has in sendable lots, keeping
			 * its packs; only with idle_gives */
			for (t = 0; in->p.idle_gives &&
				    (t + 1) * p <= sendable_units &&
				    r->stock - (t + 1) * p >=
					    in->p.idle_keep_packs * p;
			     t++)
				;
			G += t;
			continue;
		}
		b.c[b.k] = r->rate;
		b.s[b.k] = r->stock;
		for (t = 0; - (t - 1) * p <= sendable_units &&
			    (double)(r->stock + (t - 1) * p) >=
				    r->floor_days * r->rate;
		     t--)
			;
		b.low[b.k++] = t;
	}
	if (b.k == 0)
		return NAN;
	for (g = 0; g <= G; g++) {
		b.best = best;
		brute_rec(&b, 0, g, INFINITY);
		best = fmax(best, b.best);
	}
	return best;
}

START_TEST(test_share_brute_force)
{
	static struct share_inst in;
	struct alloc_share_result res;
	struct err e = {0};
	int compared = 0;

	for (int k = 0; k < 4000; k++) {
		struct rng g = rng_for(SHARE_SEED + 2, k);
		double bf, ours;

		gen_share(&g, &in, GEN_SMALL);
		in.p.min_transfer = 0;
		ck_assert_int_eq(allocator_share(in.r, in.n, in.lots, in.nlots,
						 &in.p, &res, &e),
				 0);
		bf = brute_share(&in);
		if (!isnan(bf)) {
			/* Exact: both are the best integer answer.  EPS only
			 * covers the division done in different orders. */
			ours = min_days(&in, res.after);
			ck_assert_msg(close_to(ours, bf),
				      "seed %#llx instance %d: smallest days "
				      "%g, brute force %g",
				      (unsigned long long)(SHARE_SEED + 2), k,
				      ours, bf);
			ck_assert_msg(res.level >= bf - EPS * (1 + bf),
				      "instance %d: level %g under %g", k,
				      res.level, bf);
			compared++;
		}
		allocator_share_free(&res);
	}
	ck_assert_int_gt(compared, 2000);
}
END_TEST

/* ---- GLPK: the max-min problem of sharing and of supply ---- */

/*
 * k consumers, rate c_i and stock s_i, receive x_i packs of p base units
 * (x_i >= lo_i; a negative x_i gives), sum x_i = moved; maximise t with
 * s_i + p x_i >= t c_i.  Sharing and maxmin supply both reduce to it, so
 * one model, written from allocator.h rather than allocator.c, checks both.
 */
struct maxmin {
	size_t k;
	double c[NR];
	int64_t s[NR], lo[NR], moved, p;
};

static double lp_optimum(glp_prob *lp)
{
	glp_smcp parm;

	glp_init_smcp(&parm);
	parm.msg_lev = GLP_MSG_OFF;
	ck_assert_int_eq(glp_simplex(lp, &parm), 0);
	ck_assert_int_eq(glp_get_status(lp), GLP_OPT);
	return glp_get_obj_val(lp);
}

static double mip_optimum(glp_prob *lp)
{
	glp_iocp parm;

	glp_init_iocp(&parm);
	parm.msg_lev = GLP_MSG_OFF;
	parm.presolve = GLP_ON;
	ck_assert_int_eq(glp_intopt(lp, &parm), 0);
	ck_assert_int_eq(glp_mip_status(lp), GLP_OPT);
	return glp_mip_obj_val(lp);
}

/*
 * The optimum t: with continuous x_i the LP's, which is the allocator's
 * level L; with integer x_i the best smallest days in whole packs.
 */
static double glpk_maxmin(const struct maxmin *mm, bool integer)
{
	int ia[1 + 3 * NR], ja[1 + 3 * NR], m = 0, k = (int)mm->k, col;
	double ar[1 + 3 * NR], t;
	glp_prob *lp = glp_create_prob();

	glp_set_obj_dir(lp, GLP_MAX);
	glp_add_cols(lp, k + 1);
	glp_add_rows(lp, k + 1);
	glp_set_col_bnds(lp, k + 1, GLP_FR, 0, 0);
	glp_set_obj_coef(lp, k + 1, 1);
	for (col = 1; col <= k; col++) {
		size_t i = (size_t)col - 1;

		if (integer)
			glp_set_col_kind(lp, col, GLP_IV);
		glp_set_col_bnds(lp, col, GLP_LO, (double)mm->lo[i], 0);
		/* p x_i - c_i t >= -s_i, in row i */
		glp_set_row_bnds(lp, col, GLP_LO, -(double)mm->s[i], 0);
		m++, ia[m] = col, ja[m] = col, ar[m] = (double)mm->p;
		m++, ia[m] = col, ja[m] = k + 1, ar[m] = -mm->c[i];
		m++, ia[m] = k + 1, ja[m] = col, ar[m] = 1;
	}
	glp_set_row_bnds(lp, k + 1, GLP_FX, (double)mm->moved,
			 (double)mm->moved);
	glp_load_matrix(lp, m, ia, ja, ar);
	t = integer ? mip_optimum(lp) : lp_optimum(lp);
	glp_delete_prob(lp);
	return t;
}

/* ---- sharing: GLPK on 21 regions ---- */

/*
 * Sharing as max-min: a consumer may go down to what it may give in whole
 * sendable packs (never under its floor), and what the idle regions may
 * give is moved among the consumers.
 */
static void maxmin_of_share(const struct share_inst *in, struct maxmin *mm)
{
	memset(mm, 0, sizeof *mm);
	mm->p = in->p.pack_size;
	for (size_t i = 0; i < in->n; i++) {
		const struct alloc_region *r = &in->r[i];

		if (!(r->rate > 0)) {
			mm->moved += max_give(in, i);
			continue;
		}
		mm->c[mm->k] = r->rate;
		mm->s[mm->k] = r->stock;
		mm->lo[mm->k++] = -max_give(in, i);
	}
}

START_TEST(test_share_glpk)
{
	static struct share_inst in;
	struct alloc_share_result res;
	struct maxmin mm;
	struct err e = {0};
	int compared = 0;

	glp_term_out(GLP_OFF);
	for (int k = 0; k < 600; k++) {
		struct rng g = rng_for(SHARE_SEED + 3, k);
		double lp, ours;

		gen_share(&g, &in, GEN_NATIONAL);
		in.p.min_transfer = 0;
		if (!any_consumer(&in))
			continue;
		ck_assert_int_eq(allocator_share(in.r, in.n, in.lots, in.nlots,
						 &in.p, &res, &e),
				 0);
		/* The level is the LP's optimum, to rounding. */
		maxmin_of_share(&in, &mm);
		lp = glpk_maxmin(&mm, false);
		ck_assert_msg(fabs(res.level - lp) <= 1e-7 * (1 + lp),
			      "seed %#llx instance %d: level %.12g, LP %.12g",
			      (unsigned long long)(SHARE_SEED + 3), k,
			      res.level, lp);
		/* Whole packs can only lose against the LP, and lose nothing
		 * against GLPK's integer optimum (its own tolerance 1e-7). */
		ours = min_days(&in, res.after);
		ck_assert_msg(ours <= lp + 1e-7 * (1 + lp),
			      "instance %d: %g above the LP's %g", k, ours, lp);
		if (k < 300) {
			double mip = glpk_maxmin(&mm, true);

			ck_assert_msg(fabs(ours - mip) <= 1e-6 * (1 + mip),
				      "seed %#llx instance %d: smallest days "
				      "%.12g, MIP %.12g",
				      (unsigned long long)(SHARE_SEED + 3), k,
				      ours, mip);
		}
		compared++;
		allocator_share_free(&res);
	}
	ck_assert_int_gt(compared, 500);
}
END_TEST

/* ---- scarce supply ---- */

#define SREG(stock, rate, pop)                     \
	{                                          \
		"01", "x", stock, rate, 0, 30, pop \
	}

static const struct supply_case {
	const char *what;
	size_t n;
	struct alloc_region r[4];
	int64_t packs, pack;
	enum alloc_key key, hybrid_key;
	double reserve_pct;
	double level;
	int64_t want[4], reserve;
} supply_cases[] = {
	{"maxmin fills the empty region first",
	 2,
	 {SREG(0, 10, 1), SREG(100, 10, 1)},
	 20,
	 10,
	 ALLOC_KEY_MAXMIN,
	 ALLOC_KEY_MAXMIN,
	 0,
	 15,
	 {15, 5},
	 0},
	{"maxmin: nothing to a region that consumes nothing",
	 3,
	 {SREG(0, 0, 5), SREG(0, 1, 1), SREG(0, 3, 1)},
	 8,
	 1,
	 ALLOC_KEY_MAXMIN,
	 ALLOC_KEY_MAXMIN,
	 0,
	 2,
	 {0, 2, 6},
	 0},
	{"maxmin: the well stocked get nothing",
	 2,
	 {SREG(1000, 1, 1), SREG(0, 1, 1)},
	 10,
	 1,
	 ALLOC_KEY_MAXMIN,
	 ALLOC_KEY_MAXMIN,
	 0,
	 10,
	 {0, 10},
	 0},
	{"maxmin without consumption falls back to population",
	 2,
	 {SREG(0, 0, 1), SREG(0, 0, 3)},
	 4,
	 1,
	 ALLOC_KEY_MAXMIN,
	 ALLOC_KEY_MAXMIN,
	 0,
	 0,
	 {1, 3},
	 0},
	{"population: remainders .4 .1 .5",
	 3,
	 {SREG(0, 1, 2), SREG(0, 1, 3), SREG(0, 1, 5)},
	 7,
	 1,
	 ALLOC_KEY_POPULATION,
	 ALLOC_KEY_MAXMIN,
	 0,
	 0,
	 {1, 2, 4},
	 0},
	{"population: equal remainders go by index",
	 3,
	 {SREG(0, 1, 1), SREG(0, 1, 1), SREG(0, 1, 1)},
	 2,
	 1,
	 ALLOC_KEY_POPULATION,
	 ALLOC_KEY_MAXMIN,
	 0,
	 0,
	 {1, 1, 0},
	 0},
	{"consumption: 2.5 5 2.5",
	 3,
	 {SREG(0, 1, 9), SREG(0, 2, 9), SREG(0, 1, 9)},
	 10,
	 1,
	 ALLOC_KEY_CONSUMPTION,
	 ALLOC_KEY_MAXMIN,
	 0,
	 0,
	 {3, 5, 2},
	 0},
	{"hybrid: 25% of 10 is 2 held, 8 by population",
	 2,
	 {SREG(0, 1, 1), SREG(0, 5, 1)},
	 10,
	 1,
	 ALLOC_KEY_HYBRID,
	 ALLOC_KEY_POPULATION,
	 25,
	 0,
	 {4, 4},
	 2},
	{"hybrid over maxmin keeps the level",
	 2,
	 {SREG(0, 1, 1), SREG(0, 1, 1)},
	 10,
	 1,
	 ALLOC_KEY_HYBRID,
	 ALLOC_KEY_MAXMIN,
	 20,
	 4,
	 {4, 4},
	 2},
	{"hybrid: all held",
	 2,
	 {SREG(0, 1, 1), SREG(0, 1, 1)},
	 10,
	 1,
	 ALLOC_KEY_HYBRID,
	 ALLOC_KEY_CONSUMPTION,
	 100,
	 0,
	 {0, 0},
	 10},
	{"nothing to divide",
	 2,
	 {SREG(5, 1, 1), SREG(0, 1, 1)},
	 0,
	 1,
	 ALLOC_KEY_CONSUMPTION,
	 ALLOC_KEY_MAXMIN,
	 0,
	 0,
	 {0, 0},
	 0},
};

START_TEST(test_supply_cases)
{
	const struct supply_case *c = &supply_cases[_i];
	struct alloc_supply_params p = {c->packs, c->pack, c->key,
					c->hybrid_key, c->reserve_pct};
	struct alloc_supply_result res;
	struct err e = {0};

	ck_assert_msg(allocator_supply(c->r, c->n, &p, &res, &e) == 0, "%s: %s",
		      c->what, e.msg);
	ck_assert_msg(fabs(res.level - c->level) < 1e-9, "%s: level %g",
		      c->what, res.level);
	ck_assert_msg(res.reserve_packs == c->reserve, "%s: reserve %lld",
		      c->what, (long long)res.reserve_packs);
	for (size_t i = 0; i < c->n; i++)
		ck_assert_msg(res.packs[i] == c->want[i],
			      "%s: region %zu gets %lld, wanted %lld", c->what,
			      i, (long long)res.packs[i],
			      (long long)c->want[i]);
	allocator_supply_free(&res);
}
END_TEST

struct supply_inst {
	size_t n;
	struct alloc_region r[NR];
	struct alloc_supply_params p;
};

static void gen_supply(struct rng *g, struct supply_inst *in, bool small)
{
	int64_t scale = small ? 6 : rng_range(g, 1, 100000);

	memset(in, 0, sizeof *in);
	in->n = small			 ? (size_t)rng_range(g, 1, 4) :
		rng_range(g, 0, 49) == 0 ? NR :
					   (size_t)rng_range(g, 1, 21);
	in->p.pack_size = small ? rng_range(g, 1, 3) : rng_range(g, 1, 100);
	in->p.packs =
		rng_range(g, 0, 9) == 0 ? 0 :
		small			? rng_range(g, 1, 10) :
					  rng_range(g, 1,
						    ALLOCATOR_QTY_MAX /
							    (in->p.pack_size *
					     (rng_range(g, 0, 1) ? 1000000 : 1)));
	in->p.key = (enum alloc_key)rng_range(g, 0, 3);
	in->p.hybrid_key = (enum alloc_key)rng_range(g, 0, 2);
	in->p.reserve_pct = (double)rng_range(g, 0, 100);
	for (size_t i = 0; i < in->n; i++) {
		struct alloc_region *r = &in->r[i];

		r->code = i < 21 ? codes[i] : NULL;
		r->hc_region = hcs[i % 6];
		r->stock = rng_range(g, 0, scale);
		r->rate = rng_range(g, 0, 4) == 0 ? 0 :
			  small ? (double)rng_range(g, 1, 8) / 4 :
				  0.01 + rng_unit(g) * (double)scale / 10;
		r->population =
			rng_range(g, 0, 9) == 0 ? 0 : rng_range(g, 1, 2500000);
	}
	if (rng_range(g, 0, 9) == 0)
		in->r[0].population = 1; /* keep population divisible */
}

static bool supply_valid(const struct supply_inst *in,
			 const struct alloc_supply_result *res, char *why,
			 size_t size)
{
	enum alloc_key key = in->p.key;
	int64_t S = in->p.packs, reserve = 0, sum = 0, p = in->p.pack_size;
	long double C = 0;
	int64_t W = 0;
	size_t i, j, k = 0;

	if (key == ALLOC_KEY_HYBRID) {
		/* reserve_pct is a whole number here: exact */
		reserve = S * (int64_t)in->p.reserve_pct / 100;
		key = in->p.hybrid_key;
	}
	if (res->reserve_packs != reserve)
		FAIL("reserve %lld, wanted %lld", (long long)res->reserve_packs,
		     (long long)reserve);
	S -= reserve;
	for (i = 0; i < in->n; i++) {
		if (res->packs[i] < 0)
			FAIL("region %zu gets %lld", i,
			     (long long)res->packs[i]);
		sum += res->packs[i];
		C += in->r[i].rate;
		W += in->r[i].population;
		k += in->r[i].rate > 0;
	}
	if (sum != S)
		FAIL("%lld packs given of %lld", (long long)sum, (long long)S);
	if (key == ALLOC_KEY_MAXMIN && k == 0)
		key = ALLOC_KEY_POPULATION;
	switch (key) {
	case ALLOC_KEY_POPULATION:
		/* within one pack of the exact share: |x_i W - S w_i| < W;
		 * with nobody to count only nothing can be divided */
		if (W == 0 && S > 0)
			FAIL("%lld packs divided by no population",
			     (long long)S);
		for (i = 0; i < in->n && W > 0; i++) {
			__int128 d = (__int128)res->packs[i] * W -
				     (__int128)S * in->r[i].population;

			if (d <= -(__int128)W || d >= (__int128)W)
				FAIL("region %zu: %lld packs, share %g", i,
				     (long long)res->packs[i],
				     (double)S * (double)in->r[i].population /
					     (double)W);
		}
		break;
	case ALLOC_KEY_CONSUMPTION:
		for (i = 0; i < in->n; i++) {
			long double y = (long double)S * in->r[i].rate / C;

			if (fabsl((long double)res->packs[i] - y) >= 1 + 1e-9L)
				FAIL("region %zu: %lld packs, share %Lg", i,
				     (long long)res->packs[i], y);
		}
		break;
	case ALLOC_KEY_MAXMIN: {
		long double filled = 0;

		for (i = 0; i < in->n; i++) {
			const struct alloc_region *a = &in->r[i];
			double keep;

			if (!(a->rate > 0)) {
				if (res->packs[i] != 0)
					FAIL("idle region %zu gets %lld", i,
					     (long long)res->packs[i]);
				continue;
			}
			filled += fmaxl(0, (long double)res->level * a->rate -
						   a->stock);
			if (res->packs[i] == 0)
				continue;
			/* the certificate, as for sharing */
			keep = (double)(a->stock + (res->packs[i] - 1) * p) /
			       a->rate;
			for (j = 0; j < in->n; j++) {
				double has;

				if (j == i || !(in->r[j].rate > 0))
					continue;
				has = (double)(in->r[j].stock +
					       res->packs[j] * p) /
				      in->r[j].rate;
				if (keep > has && !close_to(keep, has))
					FAIL("a pack from %zu (%g) to %zu (%g) "
					     "lifts the lower",
					     i, keep, j, has);
			}
			/* days within a pack of L */
			if ((double)(a->stock + res->packs[i] * p) / a->rate >
			    res->level + (double)p / a->rate +
				    EPS * (1 + res->level))
				FAIL("region %zu filled past L + a pack", i);
		}
		if (S > 0 && fabsl(filled - (long double)S * p) >
				     1e-7L * (1 + (long double)S * p))
			FAIL("level %g fills %Lg, wanted %lld", res->level,
			     filled, (long long)(S * p));
		break;
	}
	case ALLOC_KEY_HYBRID: FAIL("hybrid of hybrid");
	}
	return true;
}

/* The best smallest days over every split of S packs (consumers only). */
static double brute_supply(const struct supply_inst *in)
{
	struct brute b = {0};

	b.p = in->p.pack_size;
	for (size_t i = 0; i < in->n; i++) {
		if (!(in->r[i].rate > 0))
			continue;
		b.c[b.k] = in->r[i].rate;
		b.s[b.k] = in->r[i].stock;
		b.low[b.k++] = 0;
	}
	if (b.k == 0)
		return NAN;
	b.best = -INFINITY;
	brute_rec(&b, 0, in->p.packs, INFINITY);
	return b.best;
}

/* Smallest days of supply over the consumers after the packs. */
static double supply_min_days(const struct supply_inst *in,
			      const int64_t *packs)
{
	double m = INFINITY;

	for (size_t i = 0; i < in->n; i++)
		if (in->r[i].rate > 0)
			m = fmin(m, (double)(in->r[i].stock +
					     packs[i] * in->p.pack_size) /
					    in->r[i].rate);
	return m;
}

/* Supply under maxmin as max-min: the consumers share S packs and none
 * gives; the idle get nothing, so they are left out. */
static void maxmin_of_supply(const struct supply_inst *in, struct maxmin *mm)
{
	memset(mm, 0, sizeof *mm);
	mm->p = in->p.pack_size;
	mm->moved = in->p.packs;
	for (size_t i = 0; i < in->n; i++) {
		if (!(in->r[i].rate > 0))
			continue;
		mm->c[mm->k] = in->r[i].rate;
		mm->s[mm->k++] = in->r[i].stock;
	}
}

#define SUPPLY_SEED UINT64_C(0x5a9917)
#define SUPPLY_GLPK_INSTANCES 400
#define SUPPLY_MIP_INSTANCES 150

START_TEST(test_supply_random)
{
	static struct supply_inst in;
	struct alloc_supply_result res, sub;
	struct err e = {0};
	char why[300];
	int refused = 0;

	for (int k = 0; k < 10000; k++) {
		struct rng g = rng_for(SUPPLY_SEED, k);

		gen_supply(&g, &in, false);
		if (allocator_supply(in.r, in.n, &in.p, &res, &e) < 0) {
			/* only a key with nothing to divide by may refuse */
			ck_assert_msg(
				e.code == ERR_INVALID &&
					(strcmp(e.field, "key") == 0 ||
					 strcmp(e.field, "population") == 0),
				"seed %#llx instance %d: %s",
				(unsigned long long)SUPPLY_SEED, k, e.msg);
			ck_assert(res.packs == NULL);
			refused++;
			continue;
		}
		ck_assert_msg(supply_valid(&in, &res, why, sizeof why),
			      "seed %#llx instance %d (%s): %s",
			      (unsigned long long)SUPPLY_SEED, k,
			      allocator_key_name(in.p.key), why);
		/* hybrid is its key over what the reserve leaves */
		if (in.p.key == ALLOC_KEY_HYBRID) {
			struct alloc_supply_params q = in.p;

			q.key = in.p.hybrid_key;
			q.packs = in.p.packs - res.reserve_packs;
			ck_assert_int_eq(
				allocator_supply(in.r, in.n, &q, &sub, &e), 0);
			ck_assert(memcmp(sub.packs, res.packs,
					 in.n * sizeof *res.packs) == 0);
			ck_assert(sub.level == res.level);
			allocator_supply_free(&sub);
		}
		allocator_supply_free(&res);
	}
	ck_assert_int_lt(refused, 500);
}
END_TEST

START_TEST(test_supply_brute_force)
{
	static struct supply_inst in;
	struct alloc_supply_result res;
	struct err e = {0};

	for (int k = 0; k < 3000; k++) {
		struct rng g = rng_for(SUPPLY_SEED + 1, k);
		double bf, ours;

		gen_supply(&g, &in, true);
		in.p.key = ALLOC_KEY_MAXMIN;
		for (size_t i = 0; i < in.n; i++)
			in.r[i].population += 1; /* never refused */
		ck_assert_int_eq(allocator_supply(in.r, in.n, &in.p, &res, &e),
				 0);
		bf = brute_supply(&in);
		ours = supply_min_days(&in, res.packs);
		ck_assert_msg(isnan(bf) || close_to(ours, bf),
			      "seed %#llx instance %d: %g, brute force %g",
			      (unsigned long long)(SUPPLY_SEED + 1), k, ours,
			      bf);
		allocator_supply_free(&res);
	}
}
END_TEST

/*
 * Beyond brute force: up to 64 regions and up to 10^12 base units, where
 * the level comes from level_open's rounds and fill_packs starts from it.
 * Mirrors test_share_glpk.
 */
START_TEST(test_supply_glpk)
{
	static struct supply_inst in;
	struct alloc_supply_result res;
	struct maxmin mm;
	struct err e = {0};
	int compared = 0;

	glp_term_out(GLP_OFF);
	for (int k = 0; k < SUPPLY_GLPK_INSTANCES; k++) {
		struct rng g = rng_for(SUPPLY_SEED + 2, k);
		double lp, ours;

		gen_supply(&g, &in, false);
		in.p.key = ALLOC_KEY_MAXMIN;
		maxmin_of_supply(&in, &mm);
		/* Nobody consumes: population decides, nothing to maximise. */
		if (mm.k == 0)
			continue;
		ck_assert_int_eq(allocator_supply(in.r, in.n, &in.p, &res, &e),
				 0);
		/* The level is the LP's optimum, to rounding: they agree to
		 * some 1e-15 here, so EPS, not GLPK's 1e-7, is the bound. */
		lp = glpk_maxmin(&mm, false);
		ck_assert_msg(close_to(res.level, lp),
			      "seed %#llx instance %d: level %.12g, LP %.12g",
			      (unsigned long long)(SUPPLY_SEED + 2), k,
			      res.level, lp);
		/* Whole packs can only lose against the LP, and lose nothing
		 * against GLPK's integer optimum (its own tolerance 1e-7). */
		ours = supply_min_days(&in, res.packs);
		ck_assert_msg(ours <= lp + 1e-7 * (1 + lp),
			      "instance %d: %g above the LP's %g", k, ours, lp);
		if (k < SUPPLY_MIP_INSTANCES) {
			double mip = glpk_maxmin(&mm, true);

			ck_assert_msg(fabs(ours - mip) <= 1e-6 * (1 + mip),
				      "seed %#llx instance %d: smallest days "
				      "%.12g, MIP %.12g",
				      (unsigned long long)(SUPPLY_SEED + 2), k,
				      ours, mip);
		}
		compared++;
		allocator_supply_free(&res);
	}
	ck_assert_int_gt(compared, SUPPLY_GLPK_INSTANCES * 3 / 4);
}
END_TEST

START_TEST(test_population_shares)
{
	/* The 21 regions' populations (SCB, 2023, rounded): the shares
	 * sum to 1 and each is within a pack of its befolkningsandel. */
	static const int64_t pop[21] = {
		2454821, 404589, 302252,  469816, 366479,  203340, 246010,
		61001,	 157973, 1421781, 340243, 1744859, 281482, 307062,
		280813,	 287966, 287502,  242156, 130810,  275064, 249436};
	struct alloc_region r[21];
	struct alloc_supply_params p = {0, 1, ALLOC_KEY_POPULATION,
					ALLOC_KEY_MAXMIN, 0};
	struct alloc_supply_result res;
	struct err e = {0};
	int64_t W = 0, S, sum;

	for (size_t i = 0; i < 21; i++) {
		r[i] = (struct alloc_region){codes[i], "x", 0, 1, 0, 0, pop[i]};
		W += pop[i];
	}
	for (S = 0; S <= 5000; S += 7) {
		p.packs = S;
		ck_assert_int_eq(allocator_supply(r, 21, &p, &res, &e), 0);
		sum = 0;
		for (size_t i = 0; i < 21; i++) {
			double share = (double)S * (double)pop[i] / (double)W;

			ck_assert_msg(fabs((double)res.packs[i] - share) < 1,
				      "S %lld region %s: %lld for %g",
				      (long long)S, codes[i],
				      (long long)res.packs[i], share);
			sum += res.packs[i];
		}
		ck_assert_int_eq(sum, S);
		allocator_supply_free(&res);
	}
}
END_TEST

/* ---- build-up plan ---- */

#define PREG(stock, rate, target)                    \
	{                                            \
		"01", "x", stock, rate, 0, target, 0 \
	}

static const struct plan_case {
	const char *what;
	size_t n;
	struct alloc_region r[3];
	int weeks;
	int64_t cap[4], pack;
	int64_t quota[3][4];
	int reached[3];
	int64_t shortfall[3], unused[4];
} plan_cases[] = {
	{"one region, a pack a week, three needed",
	 1,
	 {PREG(0, 10, 30)},
	 4,
	 {1, 1, 1, 1},
	 100,
	 {{1, 1, 1, 0}},
	 {3},
	 {0},
	 {0, 0, 0, 1}},
	{"the emptier first, then evenly, the rest unused",
	 2,
	 {PREG(0, 10, 10), PREG(50, 10, 10)},
	 3,
	 {5, 5, 10},
	 10,
	 {{5, 3, 2}, {0, 2, 3}},
	 {3, 3},
	 {0, 0},
	 {0, 0, 5}},
	{"too little capacity leaves a shortfall",
	 1,
	 {PREG(0, 10, 30)},
	 1,
	 {1},
	 100,
	 {{1}},
	 {-1},
	 {200},
	 {0}},
	{"already at target: week 0, nothing bought",
	 2,
	 {PREG(400, 10, 30), PREG(0, 10, 30)},
	 1,
	 {10},
	 100,
	 {{0}, {3}},
	 {0, 1},
	 {0, 0},
	 {7}},
	{"a target that is no whole number of packs: less than one over",
	 1,
	 {PREG(0, 1, 25)},
	 2,
	 {2, 2},
	 10,
	 {{2, 1}},
	 {2},
	 {0},
	 {0, 1}},
	{"no consumption, no target",
	 2,
	 {PREG(0, 0, 30), PREG(0, 2, 0)},
	 1,
	 {3},
	 1,
	 {{0}, {0}},
	 {0, 0},
	 {0, 0},
	 {3}},
};

START_TEST(test_plan_cases)
{
	const struct plan_case *c = &plan_cases[_i];
	struct alloc_plan_params p = {c->weeks, c->cap, c->pack};
	struct alloc_plan_result res;
	struct err e = {0};

	ck_assert_msg(allocator_plan(c->r, c->n, &p, &res, &e) == 0, "%s: %s",
		      c->what, e.msg);
	for (size_t i = 0; i < c->n; i++) {
		for (int w = 0; w < c->weeks; w++)
			ck_assert_msg(
				res.quota[i * (size_t)c->weeks + (size_t)w] ==
					c->quota[i][w],
				"%s: region %zu week %d: %lld", c->what, i,
				w + 1,
				(long long)res.quota[i * (size_t)c->weeks +
						     (size_t)w]);
		ck_assert_msg(res.week_reached[i] == c->reached[i],
			      "%s: region %zu reached in %d", c->what, i,
			      res.week_reached[i]);
		ck_assert_msg(res.shortfall[i] == c->shortfall[i],
			      "%s: region %zu short %lld", c->what, i,
			      (long long)res.shortfall[i]);
	}
	for (int w = 0; w < c->weeks; w++)
		ck_assert_msg(res.unused[w] == c->unused[w],
			      "%s: week %d unused %lld", c->what, w + 1,
			      (long long)res.unused[w]);
	allocator_plan_free(&res);
}
END_TEST

struct plan_inst {
	size_t n;
	struct alloc_region r[NR];
	int64_t cap[ALLOCATOR_WEEKS_MAX];
	struct alloc_plan_params p;
};

/* The target in base units: T*c rounded up, as readiness rounds it. */
static int64_t plan_target(const struct alloc_region *r)
{
	return r->rate > 0 ?
		       (int64_t)fmax(0, ceil(r->target_days * r->rate - 1e-9)) :
		       0;
}

static bool plan_valid(const struct plan_inst *in,
		       const struct alloc_plan_result *res, char *why,
		       size_t size)
{
	int64_t hold[NR], p = in->p.pack_size;
	size_t i, j, W = (size_t)in->p.weeks;
	int w;

	for (i = 0; i < in->n; i++)
		hold[i] = in->r[i].stock;
	for (w = 0; w < in->p.weeks; w++) {
		int64_t sum = 0, x[NR];

		for (i = 0; i < in->n; i++) {
			x[i] = res->quota[i * W + (size_t)w];
			if (x[i] < 0)
				FAIL("region %zu week %d: %lld", i, w + 1,
				     (long long)x[i]);
			/* never past the target by a whole pack */
			if (x[i] > 0 &&
			    hold[i] + (x[i] - 1) * p >= plan_target(&in->r[i]))
				FAIL("region %zu week %d: %lld packs past its "
				     "target %lld from %lld",
				     i, w + 1, (long long)x[i],
				     (long long)plan_target(&in->r[i]),
				     (long long)hold[i]);
			sum += x[i];
		}
		if (res->unused[w] < 0 || sum + res->unused[w] != in->cap[w])
			FAIL("week %d: %lld given, %lld unused of %lld", w + 1,
			     (long long)sum, (long long)res->unused[w],
			     (long long)in->cap[w]);
		/* water-filling: a pack given to a is no better kept than
		 * it would be at b, which is still short */
		for (i = 0; i < in->n; i++) {
			double keep;

			if (x[i] == 0)
				continue;
			keep = (double)(hold[i] + (x[i] - 1) * p) /
			       in->r[i].rate;
			for (j = 0; j < in->n; j++) {
				double has;

				if (j == i || hold[j] + x[j] * p >=
						      plan_target(&in->r[j]))
					continue;
				has = (double)(hold[j] + x[j] * p) /
				      in->r[j].rate;
				if (keep > has && !close_to(keep, has))
					FAIL("week %d: %zu (%g) got a pack "
					     "%zu (%g) needed more",
					     w + 1, i, keep, j, has);
			}
		}
		for (i = 0; i < in->n; i++) {
			hold[i] += x[i] * p;
			/* capacity unused only when nobody is short */
			if (res->unused[w] > 0 &&
			    hold[i] < plan_target(&in->r[i]))
				FAIL("week %d: %lld unused, region %zu short",
				     w + 1, (long long)res->unused[w], i);
			if (res->week_reached[i] == w + 1 &&
			    (hold[i] < plan_target(&in->r[i]) ||
			     hold[i] - x[i] * p >= plan_target(&in->r[i])))
				FAIL("region %zu did not reach its target in "
				     "week %d",
				     i, w + 1);
		}
	}
	for (i = 0; i < in->n; i++) {
		int64_t t = plan_target(&in->r[i]);
		int want = in->r[i].stock >= t ? 0 : hold[i] >= t ? 99 : -1;

		if (res->shortfall[i] != (t > hold[i] ? t - hold[i] : 0))
			FAIL("region %zu: shortfall %lld, holds %lld of %lld",
			     i, (long long)res->shortfall[i],
			     (long long)hold[i], (long long)t);
		if (want == 99 ? res->week_reached[i] < 1 ||
					 res->week_reached[i] > in->p.weeks :
				 res->week_reached[i] != want)
			FAIL("region %zu: reached %d", i, res->week_reached[i]);
	}
	return true;
}

START_TEST(test_plan_random)
{
	static struct plan_inst in;
	struct alloc_plan_result res;
	struct err e = {0};
	char why[300];

	for (int k = 0; k < 10000; k++) {
		struct rng g = rng_for(UINT64_C(0x91a2), k);
		int64_t scale = rng_range(&g, 1, 10000);

		memset(&in, 0, sizeof in);
		in.n = (size_t)rng_range(&g, 0, 21);
		in.p.weeks = (int)rng_range(&g, 1, k % 10 == 0 ? 104 : 12);
		in.p.pack_size = rng_range(&g, 1, 30);
		in.p.capacity = in.cap;
		for (int w = 0; w < in.p.weeks; w++)
			in.cap[w] =
				rng_range(&g, 0, 3) == 0 ?
					0 :
					rng_range(&g, 0,
						  3 * scale / in.p.pack_size +
							  1);
		for (size_t i = 0; i < in.n; i++) {
			in.r[i] = (struct alloc_region){
				codes[i],
				"x",
				rng_range(&g, 0, 20 * scale),
				rng_range(&g, 0, 5) == 0 ?
					0 :
					0.1 + rng_unit(&g) * (double)scale,
				0,
				rng_unit(&g) * 60,
				0};
		}
		ck_assert_int_eq(allocator_plan(in.r, in.n, &in.p, &res, &e),
				 0);
		ck_assert_msg(plan_valid(&in, &res, why, sizeof why),
			      "seed 0x91a2 instance %d: %s", k, why);
		allocator_plan_free(&res);
	}
}
END_TEST

/* ---- keys ---- */

START_TEST(test_keys)
{
	enum alloc_key k;
	struct err e = {0};

	for (int i = ALLOC_KEY_MAXMIN; i <= ALLOC_KEY_HYBRID; i++) {
		ck_assert_int_eq(allocator_key_parse(
					 allocator_key_name((enum alloc_key)i),
					 &k, "key", &e),
				 0);
		ck_assert_int_eq(k, i);
	}
	ck_assert_str_eq(allocator_key_name(ALLOC_KEY_POPULATION),
			 "population");
	ck_assert_int_eq(allocator_key_parse("Maxmin", &k, "key", &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_str_eq(e.field, "key");
	ck_assert_int_eq(allocator_key_parse(NULL, &k, "k", &e), -1);
	ck_assert_str_eq(e.field, "k");
	ck_assert_str_eq(allocator_key_name((enum alloc_key)42), "unknown");
}
END_TEST

/* ---- refused inputs ---- */

/* One fault each, on a valid base instance. */
enum fault {
	F_NONE,
	F_TOO_MANY_REGIONS,
	F_REGIONS_NULL,
	F_STOCK_NEGATIVE,
	F_STOCK_HUGE,
	F_RATE_NAN,
	F_RATE_INF,
	F_RATE_NEGATIVE,
	F_RATE_TINY,
	F_FLOOR_NAN,
	F_FLOOR_NEGATIVE,
	F_FLOOR_HUGE,
	F_PARAMS_NULL,
	F_PACK_ZERO,
	F_MIN_TRANSFER,
	F_MIN_SHELF,
	F_KEEP_NEGATIVE,
	F_KEEP_OVERFLOW,
	F_LOTS_TOO_MANY,
	F_LOTS_NULL,
	F_LOT_REGION,
	F_LOT_QTY_ZERO,
	F_LOT_QTY_HUGE,
	F_LOTS_ABOVE_STOCK,
	F_LOT_TEXT_NULL,
};

static const struct {
	enum fault f;
	const char *field;
} share_bad[] = {
	{F_NONE, NULL},
	{F_TOO_MANY_REGIONS, "regions"},
	{F_REGIONS_NULL, "regions"},
	{F_STOCK_NEGATIVE, "regions[1].stock"},
	{F_STOCK_HUGE, "regions[1].stock"},
	{F_RATE_NAN, "regions[2].rate"},
	{F_RATE_INF, "regions[2].rate"},
	{F_RATE_NEGATIVE, "regions[2].rate"},
	{F_RATE_TINY, "regions[2].rate"},
	{F_FLOOR_NAN, "regions[0].floor_days"},
	{F_FLOOR_NEGATIVE, "regions[0].floor_days"},
	{F_FLOOR_HUGE, "regions[0].floor_days"},
	{F_PARAMS_NULL, "params"},
	{F_PACK_ZERO, "pack_size"},
	{F_MIN_TRANSFER, "min_transfer"},
	{F_MIN_SHELF, "min_shelf_days"},
	{F_KEEP_NEGATIVE, "idle_keep_packs"},
	{F_KEEP_OVERFLOW, "idle_keep_packs"},
	{F_LOTS_TOO_MANY, "lots"},
	{F_LOTS_NULL, "lots"},
	{F_LOT_REGION, "lots[1].region"},
	{F_LOT_QTY_ZERO, "lots[0].quantity"},
	{F_LOT_QTY_HUGE, "lots[0].quantity"},
	{F_LOTS_ABOVE_STOCK, "lots[2].quantity"},
	{F_LOT_TEXT_NULL, "lots[1].lot"},
};

START_TEST(test_share_bad)
{
	static struct alloc_region r[NR + 1];
	struct alloc_lot lots[3] = {LOT(0, NOEXP, 50), LOT(1, NOEXP, 40),
				    LOT(1, TODAY + 90, 10)};
	struct alloc_share_params p = {10, 0, TODAY, 0, true, 1};
	struct alloc_share_params *pp = &p;
	struct alloc_share_result res;
	const struct alloc_region *rr = r;
	const struct alloc_lot *ll = lots;
	size_t n = 3, nlots = 3;
	struct err e = {0};
	int rc;

	for (size_t i = 0; i <= NR; i++)
		r[i] = (struct alloc_region){
			codes[i % 21], "x", 100, 2, 7, 30, 1};
	r[1].stock = 50;
	switch (share_bad[_i].f) {
	case F_NONE: break;
	case F_TOO_MANY_REGIONS: n = NR + 1; break;
	case F_REGIONS_NULL: rr = NULL; break;
	case F_STOCK_NEGATIVE: r[1].stock = -1; break;
	case F_STOCK_HUGE: r[1].stock = ALLOCATOR_QTY_MAX + 1; break;
	case F_RATE_NAN: r[2].rate = NAN; break;
	case F_RATE_INF: r[2].rate = INFINITY; break;
	case F_RATE_NEGATIVE: r[2].rate = -0.5; break;
	case F_RATE_TINY: r[2].rate = 1e-12; break;
	case F_FLOOR_NAN: r[0].floor_days = NAN; break;
	case F_FLOOR_NEGATIVE: r[0].floor_days = -1; break;
	case F_FLOOR_HUGE: r[0].floor_days = 1e6; break;
	case F_PARAMS_NULL: pp = NULL; break;
	case F_PACK_ZERO: p.pack_size = 0; break;
	case F_MIN_TRANSFER: p.min_transfer = -1; break;
	case F_MIN_SHELF: p.min_shelf_days = -3; break;
	case F_KEEP_NEGATIVE: p.idle_keep_packs = -1; break;
	case F_KEEP_OVERFLOW: p.idle_keep_packs = INT64_MAX / 5; break;
	case F_LOTS_TOO_MANY: nlots = ALLOCATOR_LOTS_MAX + 1; break;
	case F_LOTS_NULL: ll = NULL; break;
	case F_LOT_REGION: lots[1].region = 3; break;
	case F_LOT_QTY_ZERO: lots[0].quantity = 0; break;
	case F_LOT_QTY_HUGE: lots[0].quantity = ALLOCATOR_QTY_MAX + 1; break;
	case F_LOTS_ABOVE_STOCK: lots[2].quantity = 11; break;
	case F_LOT_TEXT_NULL: lots[1].lot = NULL; break;
	}
	rc = allocator_share(rr, n, ll, nlots, pp, &res, &e);
	if (share_bad[_i].field == NULL) {
		ck_assert_msg(rc == 0, "the base instance: %s", e.msg);
		allocator_share_free(&res);
		return;
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_str_eq(e.field, share_bad[_i].field);
	ck_assert(e.msg[0] != '\0');
	ck_assert(res.after == NULL && res.transfers == NULL &&
		  res.days_before == NULL && res.ntransfers == 0);
}
END_TEST

enum sfault {
	S_NONE,
	S_PACKS_NEGATIVE,
	S_PACKS_OVERFLOW,
	S_KEY,
	S_HYBRID_KEY,
	S_RESERVE_HIGH,
	S_RESERVE_NAN,
	S_POPULATION_NEGATIVE,
	S_NO_POPULATION,
	S_NO_CONSUMPTION,
	S_NO_REGIONS,
	S_PACK_ZERO,
	S_RATE_NAN,
	S_PARAMS_NULL,
};

static const struct {
	enum sfault f;
	const char *field;
} supply_bad[] = {
	{S_NONE, NULL},
	{S_PACKS_NEGATIVE, "packs"},
	{S_PACKS_OVERFLOW, "packs"},
	{S_KEY, "key"},
	{S_HYBRID_KEY, "hybrid_key"},
	{S_RESERVE_HIGH, "reserve_pct"},
	{S_RESERVE_NAN, "reserve_pct"},
	{S_POPULATION_NEGATIVE, "regions[1].population"},
	{S_NO_POPULATION, "population"},
	{S_NO_CONSUMPTION, "key"},
	{S_NO_REGIONS, "regions"},
	{S_PACK_ZERO, "pack_size"},
	{S_RATE_NAN, "regions[0].rate"},
	{S_PARAMS_NULL, "params"},
};

START_TEST(test_supply_bad)
{
	struct alloc_region r[2] = {SREG(0, 1, 10), SREG(5, 2, 20)};
	struct alloc_supply_params p = {10, 10, ALLOC_KEY_HYBRID,
					ALLOC_KEY_POPULATION, 10};
	struct alloc_supply_params *pp = &p;
	struct alloc_supply_result res;
	size_t n = 2;
	struct err e = {0};
	int rc;

	switch (supply_bad[_i].f) {
	case S_NONE: break;
	case S_PACKS_NEGATIVE: p.packs = -1; break;
	case S_PACKS_OVERFLOW: p.packs = INT64_MAX / 2; break;
	case S_KEY: p.key = (enum alloc_key)7; break;
	case S_HYBRID_KEY: p.hybrid_key = ALLOC_KEY_HYBRID; break;
	case S_RESERVE_HIGH: p.reserve_pct = 100.5; break;
	case S_RESERVE_NAN: p.reserve_pct = NAN; break;
	case S_POPULATION_NEGATIVE: r[1].population = -4; break;
	case S_NO_POPULATION: r[0].population = r[1].population = 0; break;
	case S_NO_CONSUMPTION:
		p.key = ALLOC_KEY_CONSUMPTION;
		r[0].rate = r[1].rate = 0;
		break;
	case S_NO_REGIONS: n = 0; break;
	case S_PACK_ZERO: p.pack_size = 0; break;
	case S_RATE_NAN: r[0].rate = NAN; break;
	case S_PARAMS_NULL: pp = NULL; break;
	}
	rc = allocator_supply(r, n, pp, &res, &e);
	if (supply_bad[_i].field == NULL) {
		ck_assert_msg(rc == 0, "the base instance: %s", e.msg);
		allocator_supply_free(&res);
		return;
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_str_eq(e.field, supply_bad[_i].field);
	ck_assert(res.packs == NULL);
}
END_TEST

enum pfault {
	P_NONE,
	P_WEEKS_ZERO,
	P_WEEKS_HIGH,
	P_CAPACITY_NULL,
	P_CAPACITY_NEGATIVE,
	P_CAPACITY_OVERFLOW,
	P_TARGET_NAN,
	P_TARGET_NEGATIVE,
	P_PACK_ZERO,
	P_STOCK_NEGATIVE,
	P_PARAMS_NULL,
};

static const struct {
	enum pfault f;
	const char *field;
} plan_bad[] = {
	{P_NONE, NULL},
	{P_WEEKS_ZERO, "weeks"},
	{P_WEEKS_HIGH, "weeks"},
	{P_CAPACITY_NULL, "capacity"},
	{P_CAPACITY_NEGATIVE, "capacity[2]"},
	{P_CAPACITY_OVERFLOW, "capacity[0]"},
	{P_TARGET_NAN, "regions[1].target_days"},
	{P_TARGET_NEGATIVE, "regions[1].target_days"},
	{P_PACK_ZERO, "pack_size"},
	{P_STOCK_NEGATIVE, "regions[0].stock"},
	{P_PARAMS_NULL, "params"},
};

START_TEST(test_plan_bad)
{
	struct alloc_region r[2] = {PREG(0, 10, 30), PREG(100, 10, 30)};
	int64_t cap[3] = {1, 2, 3};
	struct alloc_plan_params p = {3, cap, 10};
	struct alloc_plan_params *pp = &p;
	struct alloc_plan_result res;
	struct err e = {0};
	int rc;

	switch (plan_bad[_i].f) {
	case P_NONE: break;
	case P_WEEKS_ZERO: p.weeks = 0; break;
	case P_WEEKS_HIGH: p.weeks = ALLOCATOR_WEEKS_MAX + 1; break;
	case P_CAPACITY_NULL: p.capacity = NULL; break;
	case P_CAPACITY_NEGATIVE: cap[2] = -1; break;
	case P_CAPACITY_OVERFLOW: cap[0] = INT64_MAX / 4; break;
	case P_TARGET_NAN: r[1].target_days = NAN; break;
	case P_TARGET_NEGATIVE: r[1].target_days = -2; break;
	case P_PACK_ZERO: p.pack_size = 0; break;
	case P_STOCK_NEGATIVE: r[0].stock = -10; break;
	case P_PARAMS_NULL: pp = NULL; break;
	}
	rc = allocator_plan(r, 2, pp, &res, &e);
	if (plan_bad[_i].field == NULL) {
		ck_assert_msg(rc == 0, "the base instance: %s", e.msg);
		allocator_plan_free(&res);
		return;
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(e.code, ERR_INVALID);
	ck_assert_str_eq(e.field, plan_bad[_i].field);
	ck_assert(res.quota == NULL && res.unused == NULL);
}
END_TEST

#define N_OF(a) (int)(sizeof(a) / sizeof((a)[0]))

Suite *allocator_unit_suite(void)
{
	Suite *s = suite_create("allocator_unit");
	TCase *tables = tcase_create("tables");
	TCase *random = tcase_create("random");
	TCase *bad = tcase_create("refused");

	tcase_add_loop_test(tables, test_share_cases, 0, N_OF(share_cases));
	tcase_add_loop_test(tables, test_supply_cases, 0, N_OF(supply_cases));
	tcase_add_loop_test(tables, test_plan_cases, 0, N_OF(plan_cases));
	tcase_add_test(tables, test_keys);
	tcase_add_test(tables, test_no_regions);
	tcase_add_test(tables, test_share_many_lots);
	tcase_add_test(tables, test_population_shares);
	suite_add_tcase(s, tables);

	/* Thousands of instances each; generous for ASan builds. */
	tcase_set_timeout(random, 600);
	tcase_add_test(random, test_share_random);
	tcase_add_test(random, test_share_lot_order);
	tcase_add_test(random, test_share_brute_force);
	tcase_add_test(random, test_share_glpk);
	tcase_add_test(random, test_supply_random);
	tcase_add_test(random, test_supply_brute_force);
	tcase_add_test(random, test_supply_glpk);
	tcase_add_test(random, test_plan_random);
	suite_add_tcase(s, random);

	tcase_add_loop_test(bad, test_share_bad, 0, N_OF(share_bad));
	tcase_add_loop_test(bad, test_supply_bad, 0, N_OF(supply_bad));
	tcase_add_loop_test(bad, test_plan_bad, 0, N_OF(plan_bad));
	suite_add_tcase(s, bad);
	return s;
}
