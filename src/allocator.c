/*
 * allocator.c -- the regional-sharing allocator: sharing, scarce supply and
 * the build-up plan.  allocator.h states the formulas; this says how.
 *
 * All three are water-filling in days of supply, solved in two steps:
 *
 *   1. The continuous level L, exactly.  sum_i clamp(L*c_i, lo_i, hi_i)
 *      is piecewise linear in L, with a breakpoint where each region starts
 *      (lo_i/c_i) and stops (hi_i/c_i) rising.  The plan, which caps
 *      regions at their targets, sorts the breakpoints and walks them,
 *      O(k log k) (level_find).  Sharing and supply cap nobody; there the
 *      level is computed with every region rising and recomputed with the
 *      regions it leaves below their lo_i pinned there, a few O(k) rounds
 *      (level_open), which is cheaper than sorting.
 *   2. Whole packs.  Every region starts at the fewest packs that hold it
 *      at or above L*c_i (never more than one pack over its continuous
 *      share, so at most k packs too many in all); then one pack at a time
 *      is taken back from the region that keeps the most days after losing
 *      it (fill_packs).  What comes out is the integer max-min optimum, and
 *      it carries a certificate the tests check on every random instance:
 *      no region that could give one more pack would keep more days doing
 *      so than any region that could take it has now.
 *
 * Sharing measures a donor's room in whole packs of its eligible lots (a
 * pack never comes from two lots): a consumer can give down to
 * lb'_i = s_i - pack * min(eligible packs, floor((s_i - ceil(F_i*c_i)) /
 * pack)), which is max(lb_i, s_i - eligible_i) of the header counted in
 * packs: never below its floor, nor below its stock when it starts under
 * the floor.  L solves sum_i max(lb'_i, L*c_i) = sum_i s_i + what the idle
 * regions give.  Mostly a donor gives its surplus s_i - L*c_i rounded down
 * to packs; it gives one pack more only where that pack lifts a region
 * that would otherwise stay lower than the donor is left, which is what
 * the whole-pack optimum needs (two donors half a pack over L each, and a
 * recipient one pack short: one of them gives).
 *
 * Ties go to the lower region index everywhere (and in sharing, rather to
 * no extra movement), so equal inputs give equal outputs.  Scratch lives
 * on the stack (ALLOCATOR_REGIONS_MAX is small), apart from a list of the
 * eligible lots when there are LOTS_ON_STACK lots or more; the result
 * arrays are the only other
 * allocations (sharing's in one block).
 *
 * Speed (bench_allocator, issue 6): a solve is a few hundred steps over
 * some 21 regions and 70 lots, so what costs is branches the predictor
 * cannot guess (which regions consume, give, are pinned or at a bound;
 * which lots may be given) and passes over the lots.  Those are counted
 * in with & and | or chosen by pick() instead.  Every floating-point
 * operation is kept in the order it had, sums included: the level's last
 * bits, and through them ties between regions, depend on it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"

#define NREG ALLOCATOR_REGIONS_MAX
#define LOTS_ON_STACK 256
#define NONE ((size_t)-1)

/* ---- validation ---- */

/* "01", or "#3" for a region without a code: for messages. */
static const char *label(const struct alloc_region *r, size_t i, char *buf,
			 size_t size)
{
	if (r[i].code != NULL && r[i].code[0] != '\0')
		return r[i].code;
	snprintf(buf, size, "#%zu", i);
	return buf;
}

/* Which of a region's fields a problem reads (and so checks). */
enum {
	USE_FLOOR = 1,
	USE_TARGET = 2,
	USE_POPULATION = 4
};

/*
 * The checks use & and | rather than && and ||: they run on every region
 * of every solve, and whether a rate is 0 is as good as random to the
 * branch predictor.
 */
static bool days_ok(double d)
{
	return (d >= 0) & (d <= ALLOCATOR_DAYS_MAX); /* false for NaN */
}

static bool rate_ok(double c)
{
	return (c == 0) |
	       ((c >= ALLOCATOR_RATE_MIN) & (c <= ALLOCATOR_RATE_MAX));
}

static bool qty_ok(int64_t q)
{
	return (q >= 0) & (q <= ALLOCATOR_QTY_MAX);
}

/* The error for the first bad field of region i (kept out of the loop
 * that checks them all, which runs on every solve). */
static int region_error(const struct alloc_region *r, size_t i, int use,
			struct err *e)
{
	char f[64], b[32];
	const char *name = label(r, i, b, sizeof b);

	if (!qty_ok(r[i].stock)) {
		snprintf(f, sizeof f, "regions[%zu].stock", i);
		return err_set(e, ERR_INVALID, f, "region %s: stock %lld is %s",
			       name, (long long)r[i].stock,
			       r[i].stock < 0 ? "negative" : "above 10^12");
	}
	if (!rate_ok(r[i].rate)) {
		snprintf(f, sizeof f, "regions[%zu].rate", i);
		return err_set(e, ERR_INVALID, f,
			       "region %s: rate %g a day must be 0 or from %g "
			       "to %g",
			       name, r[i].rate, ALLOCATOR_RATE_MIN,
			       ALLOCATOR_RATE_MAX);
	}
	if ((use & USE_FLOOR) && !days_ok(r[i].floor_days)) {
		snprintf(f, sizeof f, "regions[%zu].floor_days", i);
		return err_set(e, ERR_INVALID, f,
			       "region %s: floor_days %g must be from 0 to %d",
			       name, r[i].floor_days, ALLOCATOR_DAYS_MAX);
	}
	if ((use & USE_TARGET) && !days_ok(r[i].target_days)) {
		snprintf(f, sizeof f, "regions[%zu].target_days", i);
		return err_set(e, ERR_INVALID, f,
			       "region %s: target_days %g must be from 0 to %d",
			       name, r[i].target_days, ALLOCATOR_DAYS_MAX);
	}
	snprintf(f, sizeof f, "regions[%zu].population", i);
	return err_set(e, ERR_INVALID, f,
		       "region %s: population %lld must be from 0 to 10^12",
		       name, (long long)r[i].population);
}

static int check_regions(const struct alloc_region *r, size_t n, int use,
			 struct err *e)
{
	size_t i;

	if (n > ALLOCATOR_REGIONS_MAX)
		return err_set(e, ERR_INVALID, "regions",
			       "%zu regions: at most %d", n,
			       ALLOCATOR_REGIONS_MAX);
	if (n > 0 && r == NULL)
		return err_set(e, ERR_INVALID, "regions",
			       "%zu regions announced, none given", n);
	for (i = 0; i < n; i++) {
		/* every check made, one branch on them all */
		int bad = !qty_ok(r[i].stock);

		bad |= !rate_ok(r[i].rate);
		bad |= (use & USE_FLOOR) && !days_ok(r[i].floor_days);
		bad |= (use & USE_TARGET) && !days_ok(r[i].target_days);
		bad |= (use & USE_POPULATION) && !qty_ok(r[i].population);
		if (bad)
			return region_error(r, i, use, e);
	}
	return 0;
}

static int check_pack_size(int64_t pack_size, struct err *e)
{
	if (pack_size >= 1 && pack_size <= ALLOCATOR_QTY_MAX)
		return 0;
	return err_set(e, ERR_INVALID, "pack_size",
		       "pack size %lld must be from 1 to 10^12",
		       (long long)pack_size);
}

/* Is a lot far enough from its expiry to be given? */
static bool lot_eligible(const struct alloc_lot *l, int64_t min_expiry)
{
	return (l->expiry == ALLOCATOR_NO_EXPIRY) |
	       ((int64_t)l->expiry >= min_expiry);
}

/*
 * The error for the first bad lot, in lot order: a region that does not
 * exist, no lot text, a quantity out of range, or the lots of a region
 * passing its stock.  Only on refusal: the pass that runs on every solve
 * (check_share) tests each lot at once and formats nothing.
 */
static int lot_error(const struct alloc_region *r, size_t n,
		     const struct alloc_lot *lots, size_t nlots, struct err *e)
{
	int64_t held[NREG] = {0};
	char f[64], b[32];
	size_t j;

	for (j = 0; j < nlots; j++) {
		const struct alloc_lot *l = &lots[j];

		if (l->region >= n) {
			snprintf(f, sizeof f, "lots[%zu].region", j);
			return err_set(e, ERR_INVALID, f,
				       "lot %zu: region %zu does not exist "
				       "(%zu regions)",
				       j, l->region, n);
		}
		if (l->lot == NULL) {
			snprintf(f, sizeof f, "lots[%zu].lot", j);
			return err_set(e, ERR_INVALID, f,
				       "lot %zu: no lot text (\"\" for none)",
				       j);
		}
		if (l->quantity <= 0 || l->quantity > ALLOCATOR_QTY_MAX) {
			snprintf(f, sizeof f, "lots[%zu].quantity", j);
			return err_set(e, ERR_INVALID, f,
				       "lot %zu: quantity %lld must be from 1 "
				       "to 10^12",
				       j, (long long)l->quantity);
		}
		/* at most 10^12 over a stock of at most 10^12: no overflow */
		held[l->region] += l->quantity;
		if (held[l->region] > r[l->region].stock) {
			snprintf(f, sizeof f, "lots[%zu].quantity", j);
			return err_set(e, ERR_INVALID, f,
				       "lot %zu: the lots of region %s add up "
				       "to more than its stock %lld",
				       j, label(r, l->region, b, sizeof b),
				       (long long)r[l->region].stock);
		}
	}
	return err_set(e, ERR_INTERNAL, "lots", "allocator: no bad lot");
}

/* Check the sharing parameters (the lots: scan_lots). */
static int check_share(const struct alloc_region *r, size_t n,
		       const struct alloc_lot *lots, size_t nlots,
		       const struct alloc_share_params *p, struct err *e)
{
	if (p == NULL)
		return err_set(e, ERR_INVALID, "params", "no parameters");
	if (check_regions(r, n, USE_FLOOR, e) < 0 ||
	    check_pack_size(p->pack_size, e) < 0)
		return -1;
	if (p->min_transfer < 0 || p->min_transfer > ALLOCATOR_QTY_MAX)
		return err_set(e, ERR_INVALID, "min_transfer",
			       "minimum transfer %lld must be from 0 to 10^12",
			       (long long)p->min_transfer);
	if (p->min_shelf_days < 0 || p->min_shelf_days > ALLOCATOR_DAYS_MAX)
		return err_set(e, ERR_INVALID, "min_shelf_days",
			       "minimum shelf life %d must be from 0 to %d "
			       "days",
			       p->min_shelf_days, ALLOCATOR_DAYS_MAX);
	if (p->idle_keep_packs < 0 ||
	    p->idle_keep_packs > ALLOCATOR_QTY_MAX / p->pack_size)
		return err_set(e, ERR_INVALID, "idle_keep_packs",
			       "%lld packs to keep must be from 0 to 10^12 "
			       "base units",
			       (long long)p->idle_keep_packs);
	if (nlots > ALLOCATOR_LOTS_MAX)
		return err_set(e, ERR_INVALID, "lots", "%zu lots: at most %d",
			       nlots, ALLOCATOR_LOTS_MAX);
	if (nlots > 0 && lots == NULL)
		return err_set(e, ERR_INVALID, "lots",
			       "%zu lots announced, none given", nlots);
	return 0;
}

/* ---- the continuous level ---- */

/*
 * cond ? a : b without a branch.  Which regions sit at a bound, or are
 * pinned, is as good as random to the branch predictor, and a wrong guess
 * costs more than computing both sides; the compiler branches on a plain
 * ?: of doubles.
 */
static double pick(bool cond, double a, double b)
{
	double v[2] = {b, a};

	return v[cond];
}

/* Where region i starts (stop = 0) or stops rising with L. */
struct bp {
	double at;
	size_t i;
	int stop;
};

static bool bp_before(const struct bp *a, const struct bp *b)
{
	if (a->at != b->at)
		return a->at < b->at;
	if (a->stop != b->stop)
		return a->stop < b->stop; /* a region starts before it stops */
	return a->i < b->i;
}

/* Insertion sort: at most 2 * ALLOCATOR_REGIONS_MAX, mostly about 21. */
static void bp_sort(struct bp *v, size_t m)
{
	size_t i, j;
	struct bp x;

	for (i = 1; i < m; i++) {
		x = v[i];
		for (j = i; j > 0 && bp_before(&x, &v[j - 1]); j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/*
 * The largest L >= 0 with sum_i clamp(L*c_i, lo_i, hi_i) <= total (c_i > 0,
 * 0 <= lo_i <= hi_i, hi_i may be INFINITY); where the sum reaches total on
 * a flat stretch, the end of the stretch.  The caller ensures sum lo_i <=
 * total.
 */
static double level_find(size_t k, const double *c, const double *lo,
			 const double *hi, long double total)
{
	struct bp ev[2 * NREG];
	long double base = 0, slope = 0, g;
	double prev = 0, level;
	size_t i, j, m = 0, active = 0;

	for (i = 0; i < k; i++) {
		base += lo[i];
		ev[m++] = (struct bp){lo[i] / c[i], i, 0};
		if (hi[i] < INFINITY)
			ev[m++] = (struct bp){hi[i] / c[i], i, 1};
	}
	bp_sort(ev, m);
	/* Between breakpoints the sum is base + slope * L. */
	for (j = 0; j < m; j++) {
		i = ev[j].i;
		g = base + slope * ev[j].at;
		if (g > total) {
			if (slope <= 0)
				return prev;
			level = (double)((total - base) / slope);
			return level < prev	? prev :
			       level > ev[j].at ? ev[j].at :
						  level;
		}
		if (!ev[j].stop) {
			base -= lo[i];
			slope += c[i];
			active++;
		} else {
			base += hi[i];
			slope -= c[i];
			/* no rounding residue once nobody rises */
			if (--active == 0)
				slope = 0;
		}
		prev = ev[j].at;
	}
	if (active == 0 || slope <= 0)
		return prev;
	level = (double)((total - base) / slope);
	return level < prev ? prev : level;
}

/*
 * level_find when nothing is capped (every hi_i infinite), without sorting:
 * start with every region rising; a region whose lo_i lies at or above
 * the level is pinned there and the level computed again, until none is.
 * Each round pins one region or more, so there are at most k rounds, and
 * mostly two or three: cheaper than sorting the breakpoints, and as exact
 * (the tests hold the result to GLPK's LP).  The quantities are whole, so
 * what the pinned leave to the rest is exact.  Where the sum stays at
 * total for a stretch every region ends up pinned, and the stretch ends
 * where the first would rise: the same answer as level_find's.
 */
static double level_open(size_t k, const double *c, const int64_t *lo,
			 int64_t total)
{
	double lod[NREG];      /* lo_i, or -INFINITY once pinned */
	double rise[NREG];     /* c_i, or 0 once pinned */
	double upto[NREG + 1]; /* upto[i]: the rising rates before i */
	int64_t rest = total;
	double level, first = INFINITY;
	size_t i, from;
	bool pin;

	upto[0] = 0;
	for (i = 0; i < k; i++) {
		lod[i] = (double)lo[i];
		rise[i] = c[i];
		upto[i + 1] = upto[i] + c[i];
	}
	/*
	 * The slope is summed in index order, a rate at a time, and that
	 * order fixes its last bits and so the level's.  A round that pins
	 * from region `from` on leaves the sum before `from` as it was:
	 * only the rest is summed again.  Pinning is arithmetic rather than
	 * branches: which regions pin is as good as random to the branch
	 * predictor.
	 */
	while (upto[k] > 0) {
		level = (double)rest / upto[k];
		from = k;
		for (i = k; i-- > 0;) {
			pin = lod[i] >= level * c[i];
			rest -= lo[i] & -(int64_t)pin;
			lod[i] = pick(pin, -INFINITY, lod[i]);
			rise[i] = pick(pin, 0, rise[i]);
			from = pin ? i : from;
		}
		if (from == k)
			return level > 0 ? level : 0;
		for (i = from; i < k; i++)
			upto[i + 1] = upto[i] + rise[i];
	}
	for (i = 0; i < k; i++)
		if ((double)lo[i] / c[i] < first)
			first = (double)lo[i] / c[i];
	return k > 0 ? first : 0;
}

/* ---- whole packs ---- */

/*
 * ceil(y) as an integer, for |y| well inside int64_t (here below 10^15):
 * without SSE4.1 the compiler calls libm for ceil, on every region.
 */
static int64_t ceil_int(double y)
{
	int64_t i = (int64_t)y; /* toward zero */

	return (double)i < y ? i + 1 : i;
}

/*
 * The days a region keeps after giving one pack (d >= 0, or -INFINITY when
 * it cannot) and whether it would then still receive (t > 0), as one
 * number that orders as the pair does: a non-negative double's bits order
 * as the double, one above them leaves 0 for -INFINITY, and the top bit
 * is free.
 */
static uint64_t down_key(double d, int64_t t)
{
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	u = (u + 1) & -(uint64_t)(d != -INFINITY);
	return u << 1 | (uint64_t)(t > 0);
}

/* The largest key, on a tie the higher index; k >= 1.  Two running
 * maxima, so that each waits on half the comparisons. */
static size_t key_max(const uint64_t *key, size_t k)
{
	uint64_t ka = 0, kb = 0;
	size_t ia = 0, ib = 0, i;
	bool ta, tb;

	for (i = 0; i + 1 < k; i += 2) {
		ta = key[i] >= ka;
		tb = key[i + 1] >= kb;
		ka = ta ? key[i] : ka;
		ia = ta ? i : ia;
		kb = tb ? key[i + 1] : kb;
		ib = tb ? i + 1 : ib;
	}
	if (i < k && key[i] >= ka) {
		ka = key[i];
		ia = i;
	}
	return kb > ka || (kb == ka && ib > ia) ? ib : ia;
}

/*
 * Integer water-filling: t_i packs (lo_i <= t_i <= hi_i) added to base_i,
 * summing to want, maximising the smallest days of supply (and then the
 * next smallest, ...).  Starts from the fewest packs holding each region at
 * or above level (the continuous answer), then moves one pack at a time;
 * see the file comment.  The caller ensures sum lo_i <= want <= sum hi_i.
 * Days are multiplied by 1/c_i rather than divided: several times cheaper,
 * and any rounding only shifts a tie.
 */
static void fill_packs(size_t k, const double *c, const int64_t *base,
		       const int64_t *lo, const int64_t *hi, int64_t pack,
		       double level, int64_t want, int64_t *t)
{
	double inv[NREG];   /* 1/c_i */
	double up[NREG];    /* days now, where one more pack would go */
	double down[NREG];  /* days after one pack less */
	uint64_t key[NREG]; /* down_key */
	double per_pack = 1 / (double)pack;
	int64_t sum = 0;
	size_t i, j, g;

#define DAYS(i, n) ((double)(base[i] + (n)*pack) * inv[i])
#define UP(i) pick(t[i] < hi[i], DAYS(i, t[i]), INFINITY)
#define DOWN(i) pick(t[i] > lo[i], DAYS(i, t[i] - 1), -INFINITY)
	/* Two divisions at once (exactly as one by one): a division
	 * takes as long as some ten other operations. */
	for (i = 0; i + 1 < k; i += 2) {
		double __attribute__((vector_size(16))) v;

		memcpy(&v, c + i, sizeof v);
		v = 1 / v;
		memcpy(inv + i, &v, sizeof v);
	}
	if (i < k)
		inv[i] = 1 / c[i];
	for (i = 0; i < k; i++) {
		int64_t x;

		x = ceil_int((level * c[i] - (double)base[i]) * per_pack);
		x = x < lo[i] ? lo[i] : x;
		x = x > hi[i] ? hi[i] : x;
		t[i] = x;
		sum += x;
		up[i] = UP(i);
		down[i] = DOWN(i);
	}
	/*
	 * Too many: the pack whose loss leaves the most days goes back.  On
	 * a tie, rather one a region would receive than one more a region
	 * would give (less moves), then the higher index (the lower keeps).
	 * All three are one number (down_key), so a pass finds the pack
	 * without a branch.
	 */
	for (i = 0; i < k; i++)
		key[i] = down_key(down[i], t[i]);
	while (sum > want) {
		j = key_max(key, k);
		if (key[j] < 2) /* down is -INFINITY: nobody can give */
			break;
		t[j]--;
		sum--;
		up[j] = UP(j);
		down[j] = DOWN(j);
		key[j] = down_key(down[j], t[j]);
	}
	/* Too few (only from rounding in level): to the fewest days; on a
	 * tie rather one a region need not give, then the lower index. */
	while (sum < want) {
		j = NONE;
		for (i = 0; i < k; i++)
			if (t[i] < hi[i] &&
			    (j == NONE || up[i] < up[j] ||
			     (up[i] == up[j] && t[i] < 0 && t[j] >= 0)))
				j = i;
		if (j == NONE)
			break;
		t[j]++;
		sum++;
		up[j] = UP(j);
		down[j] = DOWN(j);
	}
	/*
	 * Insurance against rounding in level: while some pack would keep
	 * more days elsewhere (the certificate fails), move it.  Each move
	 * lifts the sorted days, so this ends; normally nothing moves.  A
	 * region's own loss is always below its own gain, so the two ends
	 * of a failing pair are two regions.
	 */
	for (;;) {
		double most = -INFINITY, least = INFINITY;

		for (i = 0; i < k; i++) {
			most = down[i] > most ? down[i] : most;
			least = up[i] < least ? up[i] : least;
		}
		if (!(most > least))
			break;
		for (j = 0; down[j] != most; j++)
			;
		for (g = 0; up[g] != least; g++)
			;
		t[j]--;
		t[g]++;
		up[j] = UP(j);
		down[j] = DOWN(j);
		up[g] = UP(g);
		down[g] = DOWN(g);
	}
#undef DAYS
#undef UP
#undef DOWN
}

/* ---- 1. sharing ---- */

/*
 * An eligible lot holding a whole pack: where it comes in the order it is
 * given from (expiry, then lot index, as one number, so that one
 * comparison orders two lots) and its whole packs.
 */
struct lotref {
	uint64_t key;
	int64_t packs;
};

static uint64_t lot_key(int32_t expiry, size_t j)
{
	/* the sign bit flipped: unsigned order is expiry order */
	return (uint64_t)((uint32_t)expiry ^ UINT32_C(0x80000000)) << 32 |
	       (uint32_t)j;
}

static size_t lot_index(uint64_t key)
{
	return (size_t)(uint32_t)key;
}

static int lotref_cmp(const void *pa, const void *pb)
{
	const struct lotref *a = pa, *b = pb;

	return (a->key > b->key) - (a->key < b->key);
}

/*
 * First expiry first, then lot order.  The database sends a region's lots
 * in that order already, so they are only looked at then (one pass, no
 * branch but the last).  Otherwise a few (a region has some one to six)
 * are placed by counting the lots before each (the keys differ: the lot
 * index is in them), m*m comparisons without a branch, where an insertion
 * sort guesses wrong on about every other lot (bench_allocator instances,
 * whose lots are not in order: some 430 TSC ticks a solve for the donors'
 * lots by insertion, 325 counted); many by qsort.
 */
static void lotref_sort(struct lotref *v, size_t m)
{
	struct lotref out[16];
	bool unsorted = false;
	size_t i, j, at;

	for (i = 1; i < m; i++)
		unsorted |= v[i].key < v[i - 1].key;
	if (!unsorted)
		return;
	if (m <= 16) {
		for (i = 0; i < m; i++) {
			at = 0;
			for (j = 0; j < m; j++)
				at += v[j].key < v[i].key;
			out[at] = v[i];
		}
		memcpy(v, out, m * sizeof *v);
		return;
	}
	qsort(v, m, sizeof *v, lotref_cmp);
}

/*
 * The lots, in one pass: checked (the error is lot_error's), each region's
 * eligible lots holding a whole pack counted (nelig) with their whole packs
 * (elig), and those lots listed in refs in lot order, region i's ending at
 * refs[rend[i]].  *grouped: each region's lots lie together in lots (the
 * database's order, by region), so that each region's list is one stretch
 * of refs.  refs has room for nlots + 1.
 */
static int scan_lots(const struct alloc_region *r, size_t n,
		     const struct alloc_lot *lots, size_t nlots, int64_t pack,
		     int64_t min_expiry, int64_t *elig, size_t *nelig,
		     struct lotref *refs, size_t *rend, bool *grouped,
		     struct err *e)
{
	int64_t held[NREG], packs[NREG], q, pk;
	size_t count[NREG], last[NREG];
	size_t i, j, prev = 0, nrefs = 0;
	bool over = false, back = false;

	for (i = 0; i < n; i++) {
		held[i] = packs[i] = 0;
		count[i] = last[i] = 0;
	}
	/*
	 * Whether a lot may be given is as good as random to the branch
	 * predictor, so it is counted in rather than branched on; the one
	 * branch is on a bad lot.  A region's stock is compared with its
	 * lots once, after them: a running total only rises.
	 */
	for (j = 0; j < nlots; j++) {
		const struct alloc_lot *l = &lots[j];
		bool ok;

		i = l->region;
		q = l->quantity;
		if ((i >= n) | (l->lot == NULL) | (q <= 0) |
		    (q > ALLOCATOR_QTY_MAX))
			return lot_error(r, n, lots, nlots, e);
		held[i] += q;
		ok = lot_eligible(l, min_expiry) & (q >= pack);
		/* masked rather than ?:, which the compiler branches on */
		pk = (q & -(int64_t)ok) / pack;
		refs[nrefs].key = lot_key(l->expiry, j);
		refs[nrefs].packs = pk;
		packs[i] += pk;
		count[i] += ok;
		nrefs += ok;
		last[i] = nrefs;
		back |= i < prev;
		prev = i;
	}
	for (i = 0; i < n; i++) {
		over |= held[i] > r[i].stock;
		elig[i] = packs[i];
		nelig[i] = count[i];
		rend[i] = last[i];
	}
	if (over)
		return lot_error(r, n, lots, nlots, e);
	/* the slot after the last list, where matching may look */
	refs[nrefs] = (struct lotref){0, 0};
	*grouped = !back;
	return 0;
}

/*
 * gid[i]: the first region of region i's sjukvårdsregion, NONE for none.
 * Once per solve, so that matching compares numbers, not strings.  The
 * same text mostly lies at the same address (one string per
 * sjukvårdsregion), so each address met is kept in a small table and
 * looked up first; the texts are compared only for an address not met
 * yet.  The groups' texts all differ, so at most one group matches.
 */
static void hc_groups(const struct alloc_region *r, size_t n, size_t *gid)
{
	const char *text[NREG]; /* each group's text */
	const char *seen[32];	/* addresses met, by hash */
	size_t seen_gid[32], rep[NREG], nrep = 0, i, j, s;
	const char *h;

	memset(seen, 0, sizeof seen);
	for (i = 0; i < n; i++) {
		h = r[i].hc_region;
		s = (size_t)(((uint64_t)(uintptr_t)h *
			      UINT64_C(0x9e3779b97f4a7c15)) >>
			     59);
		if (h != NULL && seen[s] == h) {
			gid[i] = seen_gid[s];
			continue;
		}
		gid[i] = NONE;
		if (h == NULL || h[0] == '\0')
			continue;
		for (j = 0; j < nrep &&
			    (text[j][0] != h[0] || strcmp(text[j], h) != 0);
		     j++)
			;
		if (j == nrep) {
			rep[nrep] = i;
			text[nrep++] = h;
		}
		gid[i] = rep[j];
		seen[s] = h;
		seen_gid[s] = gid[i];
	}
}

/*
 * The packs each region gives (give) and receives (take), and the level
 * L; see the file comment.  elig: each region's whole packs in eligible
 * lots.  Branches on whether a region consumes are replaced by
 * arithmetic (as good as random to the branch predictor).
 */
static double share_packs(const struct alloc_region *r, size_t n,
			  const struct alloc_share_params *p,
			  const int64_t *elig, int64_t *give, int64_t *take)
{
	double c[NREG], level = 0;
	int64_t base[NREG], lo[NREG], lo_t[NREG], hi_t[NREG], t[NREG];
	size_t map[NREG], i, a, k = 0;
	int64_t pack = p->pack_size, keep = p->idle_keep_packs * pack;
	int64_t total = 0, G = 0, room, most;

	for (i = 0; i < n; i++) {
		bool consumes = r[i].rate > 0;

		/* A consumer gives down to its floor, ceil(F_i*c_i) units;
		 * an idle region keeps idle_keep_packs packs.  Either
		 * gives whole packs of its eligible lots only. */
		room = r[i].stock -
		       (consumes ? ceil_int(r[i].floor_days * r[i].rate) :
				   keep);
		most = (room > 0 ? room : 0) / pack;
		most = elig[i] < most ? elig[i] : most;
		give[i] = consumes ? 0 : most;
		take[i] = 0;
		G += give[i];
		/* consumers only: the next slot is overwritten otherwise */
		c[k] = r[i].rate;
		base[k] = r[i].stock;
		lo_t[k] = -most;
		hi_t[k] = INT64_MAX;
		lo[k] = r[i].stock - most * pack;
		map[k] = i;
		total += consumes ? r[i].stock : 0;
		k += consumes;
	}
	/* Idle regions give only to someone who consumes. */
	if (!p->idle_gives || k == 0) {
		for (i = 0; i < n; i++)
			give[i] = 0;
		G = 0;
	}
	if (k > 0) {
		total += G * pack;
		level = level_open(k, c, lo, total);
		fill_packs(k, c, base, lo_t, hi_t, pack, level, G, t);
		for (a = 0; a < k; a++) {
			give[map[a]] = t[a] < 0 ? -t[a] : 0;
			take[map[a]] = t[a] > 0 ? t[a] : 0;
		}
	}
	return level;
}

/*
 * days[i] = q[i] / c_i, INFINITY where c_i = 0, for every region.  Two
 * divisions at once (exactly as one by one), as in fill_packs: this runs
 * twice a solve over all regions (bench_allocator instances: the days
 * before took some 160 TSC ticks a solve one by one, 85 two at a time).
 */
static void days_of(const struct alloc_region *r, size_t n, const int64_t *q,
		    double *days)
{
	double c[NREG], x[NREG];
	size_t i;

	for (i = 0; i < n; i++) {
		c[i] = pick(r[i].rate > 0, r[i].rate, 1);
		x[i] = (double)q[i];
	}
	for (i = 0; i + 1 < n; i += 2) {
		double __attribute__((vector_size(16))) a, b;

		memcpy(&a, x + i, sizeof a);
		memcpy(&b, c + i, sizeof b);
		a /= b;
		memcpy(days + i, &a, sizeof a);
	}
	if (i < n)
		days[i] = x[i] / c[i];
	for (i = 0; i < n; i++)
		days[i] = pick(r[i].rate > 0, days[i], INFINITY);
}

/*
 * Sort the regions in v (m of them, in index order) by by[region]
 * ascending, then index.  Each region's place is counted (how many come
 * before it) rather than found by insertion: the m*m comparisons have no
 * branch, where an insertion sort of some ten regions guesses wrong on
 * about every other one (bench_allocator instances: the recipients' and
 * donors' sorts took some 460 TSC ticks a solve by insertion, 200
 * counted).  v is in index order, so a tie goes to the earlier entry.
 */
static void rank_by(size_t *v, size_t m, const double *by)
{
	double key[NREG];
	size_t out[NREG], a, b, at;

	for (a = 0; a < m; a++)
		key[a] = by[v[a]];
	for (a = 0; a < m; a++) {
		at = 0;
		for (b = 0; b < a; b++)
			at += key[b] <= key[a];
		for (b = a + 1; b < m; b++)
			at += key[b] < key[a];
		out[at] = v[a];
	}
	memcpy(v, out, m * sizeof *v);
}

int allocator_share(const struct alloc_region *r, size_t n,
		    const struct alloc_lot *lots, size_t nlots,
		    const struct alloc_share_params *p,
		    struct alloc_share_result *out, struct err *e)
{
	int64_t elig[NREG]; /* whole packs in eligible lots */
	size_t nelig[NREG]; /* eligible lots with a whole pack */
	int64_t give[NREG]; /* packs a region gives */
	int64_t take[NREG]; /* packs a region receives */
	double days[NREG];  /* days of supply before */
	double most[NREG];  /* -give: donors' order */
	size_t donors[NREG], recips[NREG];
	size_t first[NREG], cursor[NREG], end[NREG], rend[NREG];
	size_t gid[NREG], ghead[NREG], gnext[NREG];
	int64_t left[NREG], held[NREG];
	struct lotref stack_refs[LOTS_ON_STACK], *refs = stack_refs;
	struct alloc_transfer *rows = NULL;
	size_t i, j, a, b, at, ndon = 0, nrec = 0, nrefs = 0, cap, nrows = 0;
	size_t nt;
	int64_t pack, D = 0, min_expiry, need, m;
	bool next;
	double level;
	bool grouped = false;
	int rc = -1;

	if (out == NULL)
		return err_set(e, ERR_INTERNAL, "", "no result to fill in");
	memset(out, 0, sizeof *out);
	if (check_share(r, n, lots, nlots, p, e) < 0)
		goto out;
	pack = p->pack_size;
	min_expiry = (int64_t)p->today + p->min_shelf_days;
	/* One slot more, where the lots not taken are written: a branch
	 * on whether a lot is taken would be guessed wrong often. */
	if (nlots + 1 > LOTS_ON_STACK) {
		refs = malloc((nlots + 1) * sizeof *refs);
		if (refs == NULL) {
			refs = stack_refs;
			err_set(e, ERR_INTERNAL, "", "out of memory");
			goto out;
		}
	}
	if (scan_lots(r, n, lots, nlots, pack, min_expiry, elig, nelig, refs,
		      rend, &grouped, e) < 0)
		goto out;
	level = share_packs(r, n, p, elig, give, take);

	for (i = 0; i < n; i++)
		held[i] = r[i].stock;
	days_of(r, n, held, days);
	/* Matching: the giving regions' eligible lots, first expiry first. */
	for (i = 0; i < n; i++) {
		bool gives = give[i] > 0;

		donors[ndon] = i;
		ndon += gives;
		recips[nrec] = i;
		nrec += take[i] > 0;
		D += give[i];
		/* grouped: each region's lots are a stretch of refs already */
		first[i] = end[i] = grouped ? rend[i] - nelig[i] : nrefs;
		nrefs += nelig[i] & -(size_t)gives;
	}
	if (!grouped && nrefs > 0) {
		/* gather the donors' lists, in lot order */
		for (j = 0; j < nlots; j++) {
			bool ok;

			i = lots[j].region;
			ok = (give[i] > 0) &
			     lot_eligible(&lots[j], min_expiry) &
			     (lots[j].quantity >= pack);
			refs[ok ? end[i] : nrefs] = (struct lotref){
				lot_key(lots[j].expiry, j),
				(lots[j].quantity & -(int64_t)ok) / pack};
			end[i] += ok;
		}
	}
	for (a = 0; a < ndon; a++) {
		i = donors[a];
		end[i] = first[i] + nelig[i];
		lotref_sort(refs + first[i], nelig[i]);
		cursor[i] = first[i];
		left[i] = refs[first[i]].packs;
	}
	/* The most urgent first: fewest days before, then lower index. */
	rank_by(recips, nrec, days);

	/*
	 * One block for the result: the holdings, the days before and
	 * after, and the transfers.  A row ends a lot or a (donor,
	 * recipient) pair, and there are at most n pairs (each ends a
	 * donor or a recipient); every row carries at least one pack.
	 */
	cap = nrefs + n < (size_t)D ? nrefs + n : (size_t)D;
	if (n > 0) {
		out->after = malloc(n * (sizeof *out->after +
					 2 * sizeof *out->days_before) +
				    cap * sizeof *rows);
		if (out->after == NULL) {
			err_set(e, ERR_INTERNAL, "", "out of memory");
			goto out;
		}
		out->days_before = (double *)(out->after + n);
		out->days_after = out->days_before + n;
		rows = (struct alloc_transfer *)(out->days_after + n);
		memcpy(out->days_before, days, n * sizeof *days);
	}
	out->level = level;

	/* Donors are drawn on most packs to give first, then lower index. */
	/* packs are far below 2^53: exact as doubles, negated to sort
	 * descending */
	for (i = 0; i < n; i++)
		most[i] = -(double)give[i];
	rank_by(donors, ndon, most);
	/* Each sjukvårdsregion's donors in that order: a list per group. */
	if (nrec > 0) {
		hc_groups(r, n, gid);
		for (i = 0; i < n; i++)
			ghead[i] = NONE;
		for (a = ndon; a-- > 0;) {
			i = donors[a];
			if (gid[i] == NONE)
				continue;
			gnext[i] = ghead[gid[i]];
			ghead[gid[i]] = i;
		}
	}
	for (a = 0, b = 0; a < nrec; a++) {
		size_t to = recips[a], own, d;

		need = take[to];
		/*
		 * Own sjukvårdsregion first, then all donors in order: by
		 * then the own region's ones have nothing left.  Donors
		 * run dry in the order of each list (and of all donors),
		 * so the dry ones are dropped from the fronts for good.
		 */
		if (gid[to] != NONE) {
			while (ghead[gid[to]] != NONE &&
			       give[ghead[gid[to]]] == 0)
				ghead[gid[to]] = gnext[ghead[gid[to]]];
			own = ghead[gid[to]];
		} else {
			own = NONE;
		}
		while (b < ndon && give[donors[b]] == 0)
			b++;
		for (at = b; need > 0;) {
			if (own != NONE) {
				d = own;
				own = gnext[own];
			} else if (at < ndon) {
				d = donors[at++];
			} else {
				break;
			}
			if (give[d] == 0)
				continue;
			m = give[d] < need ? give[d] : need;
			give[d] -= m;
			need -= m;
			while (m > 0) {
				int64_t piece;

				if (cursor[d] >= end[d] || nrows >= cap) {
					err_set(e, ERR_INTERNAL, "",
						"allocator: lots of region %zu "
						"run out",
						d);
					goto out;
				}
				piece = left[d] < m ? left[d] : m;
				rows[nrows++] = (struct alloc_transfer){
					d, to, lot_index(refs[cursor[d]].key),
					piece * pack};
				m -= piece;
				left[d] -= piece;
				/* on to the next lot when this one is out,
				 * without a branch (refs[end[d]] exists) */
				next = left[d] == 0;
				cursor[d] += next;
				left[d] =
					next ? refs[cursor[d]].packs : left[d];
			}
		}
		if (need > 0) {
			err_set(e, ERR_INTERNAL, "",
				"allocator: region %zu short of %lld packs", to,
				(long long)need);
			goto out;
		}
	}

	/*
	 * Drop the small transfers, then state what the kept ones leave.  A
	 * transfer is what one region sends another, whatever lots it comes
	 * from: its rows lie together (a recipient takes from a donor once),
	 * and all of them stay or go.
	 */
	for (i = 0; i < n; i++)
		out->after[i] = r[i].stock;
	if (p->min_transfer <= pack) {
		/* Every row carries a pack or more: under a minimum of one
		 * pack (the default is none) nothing goes, nothing is summed. */
		for (j = 0; j < nrows; j++) {
			out->after[rows[j].from] -= rows[j].quantity;
			out->after[rows[j].to] += rows[j].quantity;
		}
		nt = nrows;
	} else {
		for (j = 0, nt = 0; j < nrows; j = b) {
			int64_t sent = 0;
			bool kept;

			for (b = j; b < nrows && rows[b].from == rows[j].from &&
				    rows[b].to == rows[j].to;
			     b++)
				sent += rows[b].quantity;
			kept = sent >= p->min_transfer;
			out->dropped += kept ? 0 : sent;
			for (; j < b; j++) {
				struct alloc_transfer x = rows[j];
				int64_t q = kept ? x.quantity : 0;

				out->after[x.from] -= q;
				out->after[x.to] += q;
				rows[nt] = x;
				nt += kept;
			}
		}
	}
	out->ntransfers = nt;
	out->transfers = nt > 0 ? rows : NULL;
	days_of(r, n, out->after, out->days_after);
	rc = 0;
out:
	if (refs != stack_refs)
		free(refs);
	if (rc < 0)
		allocator_share_free(out);
	return rc;
}

void allocator_share_free(struct alloc_share_result *res)
{
	if (res == NULL)
		return;
	/* the days and the transfers lie in after's block */
	free(res->after);
	memset(res, 0, sizeof *res);
}

/* ---- 2. scarce supply ---- */

static const char *const key_names[] = {
	[ALLOC_KEY_MAXMIN] = "maxmin",
	[ALLOC_KEY_POPULATION] = "population",
	[ALLOC_KEY_CONSUMPTION] = "consumption",
	[ALLOC_KEY_HYBRID] = "hybrid",
};

int allocator_key_parse(const char *s, enum alloc_key *key, const char *field,
			struct err *e)
{
	size_t i;

	for (i = 0; s != NULL && i < sizeof key_names / sizeof key_names[0];
	     i++) {
		if (strcmp(s, key_names[i]) == 0) {
			*key = (enum alloc_key)i;
			return 0;
		}
	}
	return err_set(e, ERR_INVALID, field,
		       "key \"%.40s\": maxmin, population, consumption or "
		       "hybrid",
		       s == NULL ? "" : s);
}

const char *allocator_key_name(enum alloc_key key)
{
	if ((size_t)key < sizeof key_names / sizeof key_names[0])
		return key_names[key];
	return "unknown";
}

static bool key_valid(enum alloc_key key)
{
	return (size_t)key < sizeof key_names / sizeof key_names[0];
}

/*
 * x_i = floor(S*w_i/W) and the packs left over one each to the largest
 * remainders (lower index first on a tie): exact, in 128 bits.  W > 0.
 */
static void split_exact(size_t n, const int64_t *w, int64_t W, int64_t S,
			int64_t *x)
{
	unsigned __int128 rem[NREG], prod;
	bool bumped[NREG];
	int64_t sum = 0;
	size_t i, j;

	for (i = 0; i < n; i++) {
		prod = (unsigned __int128)(uint64_t)S * (uint64_t)w[i];
		x[i] = (int64_t)(prod / (uint64_t)W);
		rem[i] = prod % (uint64_t)W;
		bumped[i] = false;
		sum += x[i];
	}
	/* sum rem_i = (S - sum) * W with every rem_i < W: enough of them */
	for (; sum < S; sum++) {
		j = NONE;
		for (i = 0; i < n; i++)
			if (!bumped[i] && rem[i] > 0 &&
			    (j == NONE || rem[i] > rem[j]))
				j = i;
		if (j == NONE)
			break;
		x[j]++;
		bumped[j] = true;
	}
}

/* As split_exact for real weights, in long double: the rounding of S*w_i/W
 * may cross a whole number, so both directions are corrected. */
static void split_real(size_t n, const double *w, long double W, int64_t S,
		       int64_t *x)
{
	long double rem[NREG], y;
	bool bumped[NREG];
	int64_t sum = 0;
	size_t i, j;

	for (i = 0; i < n; i++) {
		y = (long double)S * w[i] / W;
		x[i] = (int64_t)floorl(y);
		rem[i] = y - (long double)x[i];
		bumped[i] = false;
		sum += x[i];
	}
	while (sum < S) {
		j = NONE;
		for (i = 0; i < n; i++)
			if (!bumped[i] && w[i] > 0 &&
			    (j == NONE || rem[i] > rem[j]))
				j = i;
		if (j == NONE) {
			for (i = 0; i < n; i++)
				bumped[i] = false;
			continue;
		}
		x[j]++;
		bumped[j] = true;
		sum++;
	}
	while (sum > S) {
		j = NONE;
		for (i = 0; i < n; i++)
			if (x[i] > 0 && (j == NONE || rem[i] < rem[j]))
				j = i;
		x[j]--;
		rem[j] += 1;
		sum--;
	}
}

static int supply_population(const struct alloc_region *r, size_t n, int64_t S,
			     int64_t *x, struct err *e)
{
	int64_t w[NREG], W = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		w[i] = r[i].population;
		W += w[i];
	}
	if (S == 0)
		return 0;
	if (W == 0)
		return err_set(e, ERR_INVALID, "population",
			       "no region has a population to divide %lld "
			       "packs by",
			       (long long)S);
	split_exact(n, w, W, S, x);
	return 0;
}

int allocator_supply(const struct alloc_region *r, size_t n,
		     const struct alloc_supply_params *p,
		     struct alloc_supply_result *out, struct err *e)
{
	double c[NREG], w[NREG];
	int64_t base[NREG], lo_t[NREG], hi_t[NREG], t[NREG];
	size_t map[NREG], i, a, k = 0;
	enum alloc_key key;
	int64_t S, reserve = 0, pack, total = 0;
	long double C = 0;
	int rc = -1;

	if (out == NULL)
		return err_set(e, ERR_INTERNAL, "", "no result to fill in");
	memset(out, 0, sizeof *out);
	if (p == NULL) {
		err_set(e, ERR_INVALID, "params", "no parameters");
		goto out;
	}
	if (check_regions(r, n, USE_POPULATION, e) < 0 ||
	    check_pack_size(p->pack_size, e) < 0)
		goto out;
	pack = p->pack_size;
	S = p->packs;
	if (S < 0 || S > ALLOCATOR_QTY_MAX / pack) {
		err_set(e, ERR_INVALID, "packs",
			"%lld packs must be from 0 to 10^12 base units",
			(long long)S);
		goto out;
	}
	if (!key_valid(p->key)) {
		err_set(e, ERR_INVALID, "key", "unknown key %d", (int)p->key);
		goto out;
	}
	key = p->key;
	if (key == ALLOC_KEY_HYBRID) {
		if (!key_valid(p->hybrid_key) ||
		    p->hybrid_key == ALLOC_KEY_HYBRID) {
			err_set(e, ERR_INVALID, "hybrid_key",
				"the hybrid's own key must be maxmin, "
				"population or consumption");
			goto out;
		}
		if (!(p->reserve_pct >= 0 && p->reserve_pct <= 100)) {
			err_set(e, ERR_INVALID, "reserve_pct",
				"reserve %g%% must be from 0 to 100",
				p->reserve_pct);
			goto out;
		}
		reserve =
			(int64_t)floorl((long double)S * p->reserve_pct / 100);
		reserve = reserve < 0 ? 0 : reserve > S ? S : reserve;
		key = p->hybrid_key;
	}
	out->reserve_packs = reserve;
	S -= reserve;
	if (n == 0) {
		if (S > 0) {
			err_set(e, ERR_INVALID, "regions",
				"no region to divide %lld packs among",
				(long long)S);
			goto out;
		}
		rc = 0;
		goto out;
	}
	out->packs = calloc(n, sizeof *out->packs);
	if (out->packs == NULL) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}

	for (i = 0; i < n; i++) {
		/* consumers only: the next slot is overwritten otherwise */
		c[k] = r[i].rate;
		base[k] = r[i].stock;
		lo_t[k] = 0;
		hi_t[k] = INT64_MAX;
		total += r[i].rate > 0 ? r[i].stock : 0;
		map[k] = i;
		k += r[i].rate > 0;
	}
	/* Without consumption, water-filling has nothing to fill by. */
	if (key == ALLOC_KEY_MAXMIN && k == 0)
		key = ALLOC_KEY_POPULATION;
	switch (key) {
	case ALLOC_KEY_MAXMIN:
		total += S * pack;
		out->level = level_open(k, c, base, total);
		fill_packs(k, c, base, lo_t, hi_t, pack, out->level, S, t);
		for (a = 0; a < k; a++)
			out->packs[map[a]] = t[a];
		break;
	case ALLOC_KEY_POPULATION:
		if (supply_population(r, n, S, out->packs, e) < 0)
			goto out;
		break;
	case ALLOC_KEY_CONSUMPTION:
		if (S == 0)
			break;
		if (k == 0) {
			err_set(e, ERR_INVALID, "key",
				"no region consumes: the consumption key has "
				"nothing to divide %lld packs by",
				(long long)S);
			goto out;
		}
		for (i = 0; i < n; i++) {
			w[i] = r[i].rate;
			C += r[i].rate;
		}
		split_real(n, w, C, S, out->packs);
		break;
	case ALLOC_KEY_HYBRID: break; /* replaced by hybrid_key above */
	}
	rc = 0;
out:
	if (rc < 0)
		allocator_supply_free(out);
	return rc;
}

void allocator_supply_free(struct alloc_supply_result *res)
{
	if (res == NULL)
		return;
	free(res->packs);
	memset(res, 0, sizeof *res);
}

/* ---- 3. build-up plan ---- */

/* Base units that days of supply stand for at rate, rounded up as
 * readiness rounds its target quantity, so that the two agree. */
static int64_t target_qty(double days, double rate)
{
	double q = ceil(days * rate - 1e-9);

	return q > 0 ? (int64_t)q : 0;
}

int allocator_plan(const struct alloc_region *r, size_t n,
		   const struct alloc_plan_params *p,
		   struct alloc_plan_result *out, struct err *e)
{
	double c[NREG], lo[NREG], hi[NREG];
	int64_t base[NREG], lo_t[NREG], hi_t[NREG], t[NREG];
	int64_t target[NREG], hold[NREG], rest[NREG];
	size_t map[NREG], i, a, k;
	int64_t pack, K, sum;
	long double total;
	char f[64];
	int w, rc = -1;

	if (out == NULL)
		return err_set(e, ERR_INTERNAL, "", "no result to fill in");
	memset(out, 0, sizeof *out);
	if (p == NULL) {
		err_set(e, ERR_INVALID, "params", "no parameters");
		goto out;
	}
	if (check_regions(r, n, USE_TARGET, e) < 0 ||
	    check_pack_size(p->pack_size, e) < 0)
		goto out;
	pack = p->pack_size;
	if (p->weeks < 1 || p->weeks > ALLOCATOR_WEEKS_MAX) {
		err_set(e, ERR_INVALID, "weeks",
			"%d weeks must be from 1 to %d", p->weeks,
			ALLOCATOR_WEEKS_MAX);
		goto out;
	}
	if (p->capacity == NULL) {
		err_set(e, ERR_INVALID, "capacity", "no capacity given");
		goto out;
	}
	for (w = 0; w < p->weeks; w++) {
		if (p->capacity[w] >= 0 &&
		    p->capacity[w] <= ALLOCATOR_QTY_MAX / pack)
			continue;
		snprintf(f, sizeof f, "capacity[%d]", w);
		err_set(e, ERR_INVALID, f,
			"week %d: capacity %lld packs must be from 0 to 10^12 "
			"base units",
			w + 1, (long long)p->capacity[w]);
		goto out;
	}

	out->unused = malloc((size_t)p->weeks * sizeof *out->unused);
	if (n > 0) {
		out->quota = calloc(n * (size_t)p->weeks, sizeof *out->quota);
		out->week_reached = malloc(n * sizeof *out->week_reached);
		out->shortfall = malloc(n * sizeof *out->shortfall);
	}
	if (out->unused == NULL ||
	    (n > 0 && (out->quota == NULL || out->week_reached == NULL ||
		       out->shortfall == NULL))) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}

	for (i = 0; i < n; i++) {
		target[i] = r[i].rate > 0 ?
				    target_qty(r[i].target_days, r[i].rate) :
				    0;
		hold[i] = r[i].stock;
		/* packs still to buy; the last may pass the target by less
		 * than a pack, as nobody buys part of one */
		rest[i] = hold[i] >= target[i] ?
				  0 :
				  (target[i] - hold[i] + pack - 1) / pack;
		out->week_reached[i] = rest[i] == 0 ? 0 : -1;
	}
	for (w = 0; w < p->weeks; w++) {
		K = p->capacity[w];
		k = 0;
		sum = 0;
		total = 0;
		for (i = 0; i < n; i++) {
			if (rest[i] == 0)
				continue;
			c[k] = r[i].rate;
			base[k] = hold[i];
			lo_t[k] = 0;
			hi_t[k] = rest[i];
			lo[k] = (double)hold[i];
			hi[k] = (double)(hold[i] + rest[i] * pack);
			total += hold[i];
			sum += rest[i];
			map[k++] = i;
		}
		if (K >= sum) {
			memcpy(t, hi_t, k * sizeof *t);
		} else if (K == 0) {
			memset(t, 0, k * sizeof *t);
		} else {
			total += (long double)K * pack;
			fill_packs(k, c, base, lo_t, hi_t, pack,
				   level_find(k, c, lo, hi, total), K, t);
		}
		sum = 0;
		for (a = 0; a < k; a++) {
			i = map[a];
			out->quota[i * (size_t)p->weeks + (size_t)w] = t[a];
			hold[i] += t[a] * pack;
			rest[i] -= t[a];
			sum += t[a];
			if (rest[i] == 0)
				out->week_reached[i] = w + 1;
		}
		out->unused[w] = K - sum;
	}
	for (i = 0; i < n; i++)
		out->shortfall[i] =
			target[i] > hold[i] ? target[i] - hold[i] : 0;
	rc = 0;
out:
	if (rc < 0)
		allocator_plan_free(out);
	return rc;
}

void allocator_plan_free(struct alloc_plan_result *res)
{
	if (res == NULL)
		return;
	free(res->quota);
	free(res->week_reached);
	free(res->shortfall);
	free(res->unused);
	memset(res, 0, sizeof *res);
}
