/*
 * bench_allocator.c -- the pure allocator for `make bench`: region-product
 * solves a second for the 21 regions, beside a plain proportional split of
 * the same instances in the same run.
 *
 * The split is the cheapest allocation there is: x_i = S * c_i / sum c,
 * rounded, into a freshly allocated array as any allocator returns one (S
 * is the total stock for a sharing instance, the supply for a supply one).
 * Its cost is the floor; the goal is an allocator within 3 times of it.
 *
 * Instances are random and realistic: stock up to some 20,000 base units a
 * region, one in ten regions without consumption, a 7-day floor, packs of
 * 1 to 100, one to six lots a region (some expired, some without expiry),
 * the six sjukvårdsregioner.  Sharing runs allocator_share with the lots;
 * supply runs allocator_supply with maxmin and a supply of 10 to 50% of the
 * national stock.  The two sides alternate in rounds (one allocator pass,
 * then as many split passes as take as long) for --seconds of allocator
 * time, so that both see the same machine.  Output, one line each:
 *
 *   problem=share regions=21 instances=N solves=M seconds=S
 *   solves_per_sec=A split_per_sec=B ratio=R
 *
 * (on one line), ratio being allocator cost over split cost.  A third
 * line, problem=lots, measures the same way the least a sharing solve must
 * do with its input before deciding anything (lots_read): what the split
 * is to the allocation, that is to the reading of the lots.  Exit status 1
 * if an allocator call fails, 2 on bad usage.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "allocator.h"
#include "err.h"
#include "validate.h"

#define NREG 21
#define LOTS_MAX_PER 6
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char usage_text[] =
	"usage: bench_allocator [--instances N] [--seconds S]\n"
	"  --instances N  random instances of each problem (default 2000)\n"
	"  --seconds S    allocator time for each problem (default 2)\n";

/* SCB codes and their sjukvårdsregion. */
static const char *const codes[NREG] = {
	"01", "03", "04", "05", "06", "07", "08", "09", "10", "12", "13",
	"14", "17", "18", "19", "20", "21", "22", "23", "24", "25"};
static const char *const hc_of[NREG] = {"stockholm-gotland",
					"mellansverige",
					"mellansverige",
					"sydostra",
					"sydostra",
					"syd",
					"sydostra",
					"stockholm-gotland",
					"syd",
					"syd",
					"vast",
					"vast",
					"mellansverige",
					"mellansverige",
					"mellansverige",
					"mellansverige",
					"mellansverige",
					"norr",
					"norr",
					"norr",
					"norr"};

struct instance {
	struct alloc_region r[NREG];
	struct alloc_lot lots[NREG * LOTS_MAX_PER];
	size_t nlots;
	struct alloc_share_params share;
	struct alloc_supply_params supply;
	int64_t total; /* national stock, base units */
};

static uint64_t rng_state = UINT64_C(0xa110ca7e);

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int64_t rng_range(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}

static void make_instance(struct instance *in)
{
	int32_t today = 20000;
	int64_t left, q;
	size_t i, l, nl;

	memset(in, 0, sizeof *in);
	in->share.pack_size = rng_range(1, 100);
	in->share.min_transfer = in->share.pack_size;
	in->share.today = today;
	in->share.min_shelf_days = 30;
	in->share.idle_gives = true;
	in->share.idle_keep_packs = 1;
	for (i = 0; i < NREG; i++) {
		struct alloc_region *r = &in->r[i];

		r->code = codes[i];
		r->hc_region = hc_of[i];
		/* a spread from empty to well stocked */
		r->stock = rng_range(0, 3) == 0 ? rng_range(0, 500) :
						  rng_range(0, 20000);
		r->rate = rng_range(0, 9) == 0 ?
				  0 :
				  (double)rng_range(1, 5000) / 10;
		r->floor_days = 7;
		r->target_days = 30;
		r->population = rng_range(60000, 2500000);
		in->total += r->stock;

		left = r->stock;
		nl = (size_t)rng_range(1, LOTS_MAX_PER);
		for (l = 0; l < nl && left > 0; l++) {
			struct alloc_lot *lot = &in->lots[in->nlots++];

			q = l + 1 == nl ? left : rng_range(1, left);
			left -= q;
			lot->region = i;
			lot->site_id = (int64_t)(i * 10 + l);
			lot->lot = "B";
			lot->quantity = q;
			switch (rng_range(0, 5)) {
			case 0: lot->expiry = today - 10; break;
			case 1: lot->expiry = ALLOCATOR_NO_EXPIRY; break;
			default:
				lot->expiry =
					today + (int32_t)rng_range(0, 700);
			}
		}
	}
	in->supply.pack_size = in->share.pack_size;
	in->supply.packs =
		in->total / in->supply.pack_size * rng_range(10, 50) / 100;
	in->supply.key = ALLOC_KEY_MAXMIN;
	in->supply.hybrid_key = ALLOC_KEY_MAXMIN;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Checksums, so that no side is optimised away. */
static volatile int64_t sink;

/* The floor: x_i = S c_i / sum c, rounded, as a fresh array. */
static int split(const struct instance *in, int64_t S)
{
	int64_t *x = malloc(NREG * sizeof *x);
	double C = 0;
	size_t i;

	if (x == NULL)
		return -1;
	for (i = 0; i < NREG; i++)
		C += in->r[i].rate;
	for (i = 0; i < NREG; i++)
		x[i] = C > 0 ? llround((double)S * in->r[i].rate / C) : 0;
	sink += x[NREG - 1];
	free(x);
	return 0;
}

/*
 * The least a sharing solve does with its lots, as the split is the least
 * an allocation does with its regions: each lot read once and checked (a
 * region that exists, a quantity in range, a region's lots within its
 * stock), and each region's whole packs in lots it may give counted, into
 * a fresh array.  No level, no packs moved, no matching, no lot order.
 */
static int lots_read(const struct instance *in)
{
	int64_t *packs = malloc(NREG * sizeof *packs);
	int64_t held[NREG] = {0}, pack = in->share.pack_size;
	int64_t min_expiry =
		(int64_t)in->share.today + in->share.min_shelf_days;
	bool bad = false;
	size_t i, j;

	if (packs == NULL)
		return -1;
	for (i = 0; i < NREG; i++)
		packs[i] = 0;
	for (j = 0; j < in->nlots; j++) {
		const struct alloc_lot *l = &in->lots[j];
		bool ok = (l->expiry == ALLOCATOR_NO_EXPIRY) |
			  ((int64_t)l->expiry >= min_expiry);

		bad |= (l->region >= NREG) | (l->quantity <= 0) |
		       (l->quantity > ALLOCATOR_QTY_MAX);
		i = l->region % NREG;
		held[i] += l->quantity;
		packs[i] += (l->quantity & -(int64_t)ok) / pack;
	}
	for (i = 0; i < NREG; i++)
		bad |= held[i] > in->r[i].stock;
	sink += packs[NREG - 1] + bad;
	free(packs);
	return bad ? -1 : 0;
}

static int solve_share(const struct instance *in, struct err *e)
{
	struct alloc_share_result res;

	if (allocator_share(in->r, NREG, in->lots, in->nlots, &in->share, &res,
			    e) < 0)
		return -1;
	sink += (int64_t)res.ntransfers + res.after[0];
	allocator_share_free(&res);
	return 0;
}

static int solve_supply(const struct instance *in, struct err *e)
{
	struct alloc_supply_result res;

	if (allocator_supply(in->r, NREG, &in->supply, &res, e) < 0)
		return -1;
	sink += res.packs[0];
	allocator_supply_free(&res);
	return 0;
}

/*
 * Alternate rounds over all instances, allocator then split, until both
 * sides have had `seconds`.  Returns 0, or -1 with e filled.
 */
static int compare(const char *problem, const struct instance *v, size_t n,
		   double seconds, struct err *e)
{
	bool share = strcmp(problem, "share") == 0;
	bool lots = strcmp(problem, "lots") == 0;
	double t0, t_alloc = 0, t_split = 0, round;
	int64_t solves = 0, splits = 0, reps = 1, r;
	size_t i;
	int rc;

	/* A round is one allocator pass and as many split passes as take
	 * about as long, so both sides get similar time under one load. */
	while (t_alloc < seconds) {
		t0 = now();
		for (i = 0; i < n; i++) {
			rc = share ? solve_share(&v[i], e) :
			     lots  ? lots_read(&v[i]) :
				     solve_supply(&v[i], e);
			if (rc < 0 && lots)
				return err_set(e, ERR_INTERNAL, "",
					       "lots instance %zu: refused", i);
			if (rc < 0)
				return err_prefix(
					e, "%s instance %zu: ", problem, i);
		}
		round = now() - t0;
		t_alloc += round;
		solves += (int64_t)n;

		t0 = now();
		for (r = 0; r < reps; r++)
			for (i = 0; i < n; i++)
				if (split(&v[i], share || lots ?
							 v[i].total :
							 v[i].supply.packs) < 0)
					return err_set(e, ERR_INTERNAL, "",
						       "out of memory");
		t_split += now() - t0;
		splits += reps * (int64_t)n;
		reps = (int64_t)(round /
				 (t_split / (double)splits * (double)n));
		reps = reps < 1 ? 1 : reps;
	}
	printf("problem=%s regions=%d instances=%zu solves=%lld seconds=%.3f "
	       "solves_per_sec=%.0f split_per_sec=%.0f ratio=%.2f\n",
	       problem, NREG, n, (long long)solves, t_alloc,
	       (double)solves / t_alloc, (double)splits / t_split,
	       (t_alloc / (double)solves) / (t_split / (double)splits));
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int64_t instances = 2000, seconds = 2;
	struct instance *v = NULL;
	struct err e = {0};
	int status = EXIT_FAIL, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--instances") == 0 && i + 1 < argc) {
			if (parse_int64(argv[++i], 1, 1000000, &instances,
					"--instances", &e) < 0)
				goto usage;
		} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			if (parse_int64(argv[++i], 1, 600, &seconds,
					"--seconds", &e) < 0)
				goto usage;
		} else {
			err_set(&e, ERR_INVALID, argv[i], "unknown argument");
			goto usage;
		}
	}
	v = malloc((size_t)instances * sizeof *v);
	if (v == NULL) {
		fprintf(stderr, "bench_allocator: out of memory\n");
		goto out;
	}
	for (i = 0; i < instances; i++)
		make_instance(&v[i]);
	if (compare("share", v, (size_t)instances, (double)seconds, &e) < 0 ||
	    compare("supply", v, (size_t)instances, (double)seconds, &e) < 0 ||
	    compare("lots", v, (size_t)instances, (double)seconds, &e) < 0) {
		fprintf(stderr, "bench_allocator: %s\n", e.msg);
		goto out;
	}
	status = EXIT_OK;
out:
	free(v);
	return status;
usage:
	fprintf(stderr, "bench_allocator: %s: %s\n\n%s", e.field, e.msg,
		usage_text);
	free(v);
	return EXIT_USAGE;
}
