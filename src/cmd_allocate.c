/*
 * cmd_allocate.c -- `lagerbild allocate`, `lagerbild help-request` and
 * `lagerbild proposal`: the regional-sharing workflow from the command
 * line (src/allocation.h).
 *
 * The command line acts as the system identity named by cli_actor(), so
 * it may do what any role may; the ledger and the audit log name the
 * person.  With --as USERNAME it acts as that user instead (role and
 * region from app_user), and the domain's own checks -- the same the API
 * applies -- decide what it may do: a step is taken on a region's behalf
 * only by that region's contact person.  The ledger and the audit log
 * then name the user, with the person at the shell as the remote.  Each
 * command is one transaction: it writes all or nothing.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocation.h"
#include "catalog.h"
#include "cli.h"
#include "ledger.h"
#include "readiness.h"
#include "validate.h"

/* The largest capacity file read. */
#define CAPACITY_FILE_MAX (1024 * 1024)
/* Products one command line may name with --product. */
#define PRODUCTS_MAX 64

static const char allocate_usage[] =
	"Usage: lagerbild allocate share (--product P [--product P ...] |\n"
	"                --agreement CODE)\n"
	"                [--floor-days N] [--min-transfer N]\n"
	"                [--min-shelf-days N] [--idle-gives]\n"
	"                [--idle-keep-packs N] [--window DAYS] [--json]\n"
	"                [--as USERNAME]\n"
	"       lagerbild allocate supply --product P --quantity N\n"
	"                --key maxmin|population|consumption|hybrid\n"
	"                [--hybrid-key K] [--reserve PCT] [--window DAYS]\n"
	"                [--json]\n"
	"       lagerbild allocate plan --product P --capacity-file F\n"
	"                [--weeks N] [--start DATE] [--target-days N]\n"
	"                [--window DAYS] [--json | --csv]\n"
	"       lagerbild allocate show ID [--product P] [--limit N]\n"
	"                [--after ID] [--json | --csv]\n"
	"       lagerbild allocate list [--problem P] [--product P]\n"
	"                [--limit N] [--json]\n"
	"       lagerbild allocate in-transit [--product P] [--json]\n"
	"\n"
	"Run the regional-sharing allocator on the current stock and store\n"
	"the run with its inputs, parameters, algorithm version and result.\n"
	"\n"
	"  share    no new supply: move stock so that every region holds as\n"
	"           many days of supply as possible (max-min fair), no giver\n"
	"           below its floor.  Proposes transfers, which the giving\n"
	"           regions approve or decline (lagerbild proposal).\n"
	"           --agreement CODE: every product under that agreement\n"
	"           (e.g. TO2022_LM), in one run.\n"
	"  supply   divide --quantity base units (whole packs) of new supply:\n"
	"           maxmin (water-filling on days of supply), population\n"
	"           (befolkningsandel), consumption, or hybrid (a national\n"
	"           reserve of --reserve percent, the rest by --hybrid-key).\n"
	"  plan     build up toward the target over weeks: the capacity file\n"
	"           is CSV with the header week,packs and one line per week\n"
	"           (national extra capacity beyond the normal flow); the\n"
	"           plan is stored, replaces the product's previous plan and\n"
	"           prints as CSV with --csv (for suppliers and regions).\n"
	"  show     a run explained: inputs, the level L, each region's days\n"
	"           of supply before and after, proposals.  A run of many\n"
	"           products shows its summary and a line per product, a\n"
	"           page (--limit, default 100) at a time: --after the last\n"
	"           product id shown; --product P explains one in full.\n"
	"  in-transit  per product: on hand, in transit, lost in transit.\n"
	"\n"
	"  --floor-days N     floor for every region (default: the targets')\n"
	"  --min-transfer N   drop transfers under N base units (default 0)\n"
	"  --min-shelf-days N send no lot expiring within N days (default 30)\n"
	"  --idle-gives       regions without consumption may give\n"
	"  --window DAYS      consumption window (default 28)\n"
	"  --target-days N    plan toward N days (default: the targets')\n"
	"  --as USERNAME      act as that user (a coordinator runs the\n"
	"                     allocator); default: the system identity\n"
	"Regions whose consumption rate is not known count as consuming\n"
	"nothing: they neither receive nor give.\n";

static const char help_usage[] =
	"Usage: lagerbild help-request create --region R --product P\n"
	"                (--quantity N | --days D) [--urgency U]\n"
	"                --reason TEXT [--no-run] [--json]\n"
	"       lagerbild help-request list [--status S] [--region R]\n"
	"                [--product P] [--limit N] [--json]\n"
	"       lagerbild help-request show ID [--json]\n"
	"       lagerbild help-request close ID --status S --reason TEXT\n"
	"       (each form also takes --as USERNAME)\n"
	"\n"
	"A region asks for help (hjälpanmälan): a quantity in base units or\n"
	"a number of days of its own consumption, urgency routine, urgent or\n"
	"critical.  Unless --no-run, the allocator's sharing problem runs for\n"
	"the product at once and proposes transfers to the region, at most\n"
	"what it asked for.  close: --status fulfilled, closed or withdrawn.\n"
	"A request becomes fulfilled by itself (closed by \"system\") once its\n"
	"region has received, through its run's proposals, what it asked.\n"
	"\n"
	"  --as USERNAME  act as that user: a region's contact person asks\n"
	"                 and withdraws for their own region, a coordinator\n"
	"                 on a region's word.  Without --as the command acts\n"
	"                 as the system identity, which may do all of it.\n";

static const char proposal_usage[] =
	"Usage: lagerbild proposal list [--status S] [--region R] [--run ID]\n"
	"                [--product P] [--limit N] [--before ID] [--json]\n"
	"       lagerbild proposal show ID [--json]\n"
	"       lagerbild proposal approve ID [--reason TEXT]\n"
	"       lagerbild proposal decline ID [--reason TEXT]\n"
	"       lagerbild proposal ship ID\n"
	"       lagerbild proposal receive ID [--quantity N] [--site S]\n"
	"                [--reason TEXT]\n"
	"       lagerbild proposal cancel ID [--reason TEXT]\n"
	"       lagerbild proposal return ID --reason TEXT\n"
	"       (each form also takes --as USERNAME)\n"
	"\n"
	"A proposal moves one lot from a site of the giving region to the\n"
	"receiving region.  The giving region approves or declines it (a\n"
	"decline needs a reason when the receiver is in disaster state, and\n"
	"alerts national coordination), ships it (transfer_out; in transit),\n"
	"and the receiver receives it (transfer_in at --site, default the\n"
	"region's central store).  A short receipt (--quantity below what was\n"
	"shipped, with --reason) records the difference as lost in transit.\n"
	"Cancel before shipping; return after (transfer_in at the giver).\n"
	"Every step is safe to repeat: a repeat records nothing new.\n"
	"\n"
	"  --as USERNAME  take the step as that user (app_user), checked as\n"
	"                 the API checks it: the giving region's contact\n"
	"                 person approves, declines, ships and returns, the\n"
	"                 receiving region's receives; a coordinator only\n"
	"                 cancels.  The record names the user.  Without --as\n"
	"                 the step is taken as the system identity, which may\n"
	"                 take any step for any region.\n";

enum {
	O_PRODUCT = 256,
	O_FLOOR,
	O_MIN_TRANSFER,
	O_MIN_SHELF,
	O_IDLE_GIVES,
	O_IDLE_KEEP,
	O_WINDOW,
	O_QUANTITY,
	O_KEY,
	O_HYBRID_KEY,
	O_RESERVE,
	O_WEEKS,
	O_CAPACITY,
	O_START,
	O_TARGET,
	O_JSON,
	O_CSV,
	O_PROBLEM,
	O_LIMIT,
	O_REGION,
	O_DAYS,
	O_URGENCY,
	O_REASON,
	O_NO_RUN,
	O_STATUS,
	O_RUN,
	O_SITE,
	O_AGREEMENT,
	O_AFTER,
	O_BEFORE,
	O_AS,
	O_HELP
};

static const struct option opts[] = {
	{"product", required_argument, NULL, O_PRODUCT},
	{"floor-days", required_argument, NULL, O_FLOOR},
	{"min-transfer", required_argument, NULL, O_MIN_TRANSFER},
	{"min-shelf-days", required_argument, NULL, O_MIN_SHELF},
	{"idle-gives", no_argument, NULL, O_IDLE_GIVES},
	{"idle-keep-packs", required_argument, NULL, O_IDLE_KEEP},
	{"window", required_argument, NULL, O_WINDOW},
	{"quantity", required_argument, NULL, O_QUANTITY},
	{"key", required_argument, NULL, O_KEY},
	{"hybrid-key", required_argument, NULL, O_HYBRID_KEY},
	{"reserve", required_argument, NULL, O_RESERVE},
	{"weeks", required_argument, NULL, O_WEEKS},
	{"capacity-file", required_argument, NULL, O_CAPACITY},
	{"start", required_argument, NULL, O_START},
	{"target-days", required_argument, NULL, O_TARGET},
	{"json", no_argument, NULL, O_JSON},
	{"csv", no_argument, NULL, O_CSV},
	{"problem", required_argument, NULL, O_PROBLEM},
	{"limit", required_argument, NULL, O_LIMIT},
	{"region", required_argument, NULL, O_REGION},
	{"days", required_argument, NULL, O_DAYS},
	{"urgency", required_argument, NULL, O_URGENCY},
	{"reason", required_argument, NULL, O_REASON},
	{"no-run", no_argument, NULL, O_NO_RUN},
	{"status", required_argument, NULL, O_STATUS},
	{"run", required_argument, NULL, O_RUN},
	{"site", required_argument, NULL, O_SITE},
	{"agreement", required_argument, NULL, O_AGREEMENT},
	{"after", required_argument, NULL, O_AFTER},
	{"before", required_argument, NULL, O_BEFORE},
	{"as", required_argument, NULL, O_AS},
	{"help", no_argument, NULL, O_HELP},
	{NULL, 0, NULL, 0},
};

/* Everything any form takes, as given; each form checks what it uses. */
struct args {
	const char *cmd; /* "allocate", "help-request", "proposal" */
	const char *products[PRODUCTS_MAX];
	int nproducts;
	const char *floor, *min_transfer, *min_shelf, *idle_keep, *window;
	const char *quantity, *key, *hybrid_key, *reserve, *weeks, *capacity;
	const char *start, *target, *problem, *limit, *region, *days;
	const char *urgency, *reason, *status, *run, *site, *agreement;
	const char *after, *before;
	const char *as; /* --as USERNAME; NULL: the system identity */
	bool idle_gives, json, csv, no_run, help;
	uint64_t given; /* OPT() of every option given */
	int nwords;
	char *words[3];
};

#define OPT(o) (UINT64_C(1) << ((o)-O_PRODUCT))

/*
 * The options each form takes besides --as and --help (its usage text's).
 * One a form does not take is refused rather than ignored: `allocate share
 * --key maxmin` or `proposal ship ID --quantity 3` would otherwise look
 * as if they had done something.
 */
static const struct form {
	const char *cmd, *word;
	uint64_t takes;
} forms[] = {
	{"allocate", "share",
	 OPT(O_PRODUCT) | OPT(O_AGREEMENT) | OPT(O_FLOOR) |
		 OPT(O_MIN_TRANSFER) | OPT(O_MIN_SHELF) | OPT(O_IDLE_GIVES) |
		 OPT(O_IDLE_KEEP) | OPT(O_WINDOW) | OPT(O_JSON)},
	{"allocate", "supply",
	 OPT(O_PRODUCT) | OPT(O_QUANTITY) | OPT(O_KEY) | OPT(O_HYBRID_KEY) |
		 OPT(O_RESERVE) | OPT(O_WINDOW) | OPT(O_JSON)},
	{"allocate", "plan",
	 OPT(O_PRODUCT) | OPT(O_CAPACITY) | OPT(O_WEEKS) | OPT(O_START) |
		 OPT(O_TARGET) | OPT(O_WINDOW) | OPT(O_JSON) | OPT(O_CSV)},
	{"allocate", "show",
	 OPT(O_PRODUCT) | OPT(O_LIMIT) | OPT(O_AFTER) | OPT(O_JSON) |
		 OPT(O_CSV)},
	{"allocate", "list",
	 OPT(O_PROBLEM) | OPT(O_PRODUCT) | OPT(O_LIMIT) | OPT(O_JSON)},
	{"allocate", "in-transit", OPT(O_PRODUCT) | OPT(O_JSON)},
	{"help-request", "create",
	 OPT(O_REGION) | OPT(O_PRODUCT) | OPT(O_QUANTITY) | OPT(O_DAYS) |
		 OPT(O_URGENCY) | OPT(O_REASON) | OPT(O_NO_RUN) | OPT(O_JSON)},
	{"help-request", "list",
	 OPT(O_STATUS) | OPT(O_REGION) | OPT(O_PRODUCT) | OPT(O_LIMIT) |
		 OPT(O_JSON)},
	{"help-request", "show", OPT(O_JSON)},
	{"help-request", "close", OPT(O_STATUS) | OPT(O_REASON) | OPT(O_JSON)},
	{"proposal", "list",
	 OPT(O_STATUS) | OPT(O_REGION) | OPT(O_RUN) | OPT(O_PRODUCT) |
		 OPT(O_LIMIT) | OPT(O_BEFORE) | OPT(O_JSON)},
	{"proposal", "show", OPT(O_JSON)},
	{"proposal", "approve", OPT(O_REASON) | OPT(O_JSON)},
	{"proposal", "decline", OPT(O_REASON) | OPT(O_JSON)},
	{"proposal", "cancel", OPT(O_REASON) | OPT(O_JSON)},
	{"proposal", "ship", OPT(O_JSON)},
	{"proposal", "receive",
	 OPT(O_QUANTITY) | OPT(O_SITE) | OPT(O_REASON) | OPT(O_JSON)},
	{"proposal", "return", OPT(O_REASON) | OPT(O_JSON)},
};

/* An option the form of a (its command and first word) does not take:
 * EXIT_USAGE once reported, else 0 (an unknown form is told later). */
static int form_takes(const struct args *a)
{
	uint64_t extra;
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		if (strcmp(forms[i].cmd, a->cmd) == 0 &&
		    strcmp(forms[i].word, a->words[0]) == 0)
			break;
	if (i == sizeof(forms) / sizeof(forms[0]))
		return 0;
	extra = a->given & ~(forms[i].takes | OPT(O_AS) | OPT(O_HELP));
	for (const struct option *o = opts; extra != 0 && o->name; o++)
		if (extra & OPT(o->val))
			return cli_usage_error(a->cmd,
					       "%s %s does not take --%s",
					       a->cmd, a->words[0], o->name);
	return 0;
}

/* Read argv into a: 0, or EXIT_USAGE once reported (an unknown option,
 * one without its value or that the form does not take, too many words
 * or --product). */
static int parse(int argc, char **argv, struct args *a)
{
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "-", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (a->nwords ==
			    (int)(sizeof(a->words) / sizeof(a->words[0])))
				return cli_usage_error(a->cmd,
						       "unexpected argument %s",
						       optarg);
			a->words[a->nwords++] = optarg;
			break;
		case O_PRODUCT:
			if (a->nproducts == PRODUCTS_MAX)
				return cli_usage_error(a->cmd,
						       "at most %d --product",
						       PRODUCTS_MAX);
			a->products[a->nproducts++] = optarg;
			break;
		case O_FLOOR: a->floor = optarg; break;
		case O_MIN_TRANSFER: a->min_transfer = optarg; break;
		case O_MIN_SHELF: a->min_shelf = optarg; break;
		case O_IDLE_GIVES: a->idle_gives = true; break;
		case O_IDLE_KEEP: a->idle_keep = optarg; break;
		case O_WINDOW: a->window = optarg; break;
		case O_QUANTITY: a->quantity = optarg; break;
		case O_KEY: a->key = optarg; break;
		case O_HYBRID_KEY: a->hybrid_key = optarg; break;
		case O_RESERVE: a->reserve = optarg; break;
		case O_WEEKS: a->weeks = optarg; break;
		case O_CAPACITY: a->capacity = optarg; break;
		case O_START: a->start = optarg; break;
		case O_TARGET: a->target = optarg; break;
		case O_JSON: a->json = true; break;
		case O_CSV: a->csv = true; break;
		case O_PROBLEM: a->problem = optarg; break;
		case O_LIMIT: a->limit = optarg; break;
		case O_REGION: a->region = optarg; break;
		case O_DAYS: a->days = optarg; break;
		case O_URGENCY: a->urgency = optarg; break;
		case O_REASON: a->reason = optarg; break;
		case O_NO_RUN: a->no_run = true; break;
		case O_STATUS: a->status = optarg; break;
		case O_RUN: a->run = optarg; break;
		case O_SITE: a->site = optarg; break;
		case O_AGREEMENT: a->agreement = optarg; break;
		case O_AFTER: a->after = optarg; break;
		case O_BEFORE: a->before = optarg; break;
		case O_AS: a->as = optarg; break;
		case O_HELP: a->help = true; break;
		default: return cli_bad_option(a->cmd, argv);
		}
		if (c >= O_PRODUCT)
			a->given |= OPT(c);
	}
	return a->nwords > 0 && !a->help ? form_takes(a) : 0;
}

/* Parse an optional number option into *out (unchanged when absent). */
static int num(const char *s, int64_t min, int64_t max, const char *field,
	       int64_t *out, struct err *e)
{
	if (!s)
		return 0;
	return parse_int64(s, min, max, out, field, e);
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(12));

	if (s)
		printf("%s\n", s);
	free(s);
}

/* A JSON member as text for a table ("" for null, "inf" for no days). */
static const char *text_of(const json_t *obj, const char *key, char *buf,
			   size_t n)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, n, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%.1f", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, n, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(buf, n, "%s", strncmp(key, "days", 4) == 0 ? "-" : "");
	return buf;
}

/* text_of into one of a ring of buffers, so that a printf can take up
 * to 16 cells (the command line is one thread). */
static const char *T(const json_t *obj, const char *key)
{
	static char b[16][48];
	static unsigned k;

	k = (k + 1) % 16;
	return text_of(obj, key, b[k], sizeof(b[k]));
}

/* A run as a person reads it. */
/* One region's line of a plan: target, quota and when it gets there. */
static void print_plan_region(const json_t *x, const json_t *o)
{
	const json_t *wr = json_object_get(o, "week_reached");
	char reached[24];

	if (json_integer_value(wr) == 0)
		snprintf(reached, sizeof(reached), "already");
	else if (json_integer_value(wr) < 0)
		snprintf(reached, sizeof(reached), "not in plan");
	else
		snprintf(reached, sizeof(reached), "week %" JSON_INTEGER_FORMAT,
			 json_integer_value(wr));
	printf("%-6s %10s %10s %6s %10s %8s %12s %10s\n", T(x, "region"),
	       T(x, "stock"),
	       json_is_true(json_object_get(x, "rate_known")) ? T(x, "rate") :
								"unknown",
	       T(o, "target_days"), T(o, "target"), T(o, "packs"), reached,
	       T(o, "shortfall"));
}

/* Runs with more products than this show a line per product unless one
 * is asked for. */
#define DETAIL_PRODUCTS_MAX 10

/* The whole run in a few lines. */
static void print_summary(const json_t *s)
{
	printf("%s products, %s with transfers; %s proposals (%s obligatory) "
	       "moving %s; %s transfers dropped",
	       T(s, "products"), T(s, "products_moved"), T(s, "proposals"),
	       T(s, "obligatory"), T(s, "quantity"), T(s, "dropped"));
	if (json_is_number(json_object_get(s, "min_level")))
		printf("; level L %.2f to %.2f days",
		       json_number_value(json_object_get(s, "min_level")),
		       json_number_value(json_object_get(s, "max_level")));
	printf("\n");
}

/* A line per product of the page, and how to get the next. */
static void print_product_lines(const json_t *run)
{
	const json_t *next = json_object_get(run, "next");
	size_t i;
	json_t *p;

	printf("\n%-10s %-16s %10s %9s  %s\n", "id", "product", "level",
	       "transfers", "name");
	json_array_foreach(json_object_get(run, "products"), i, p)
	{
		json_t *res = json_object_get(p, "result");

		printf("%-10s %-16s %10s %9s  %s\n", T(p, "product_id"),
		       T(p, "product"), T(p, "level"), T(res, "transfers"),
		       T(p, "product_name"));
	}
	if (json_is_integer(next))
		printf("\nmore: lagerbild allocate show %s --after %s\n",
		       T(run, "id"), T(run, "next"));
	printf("one product in full: lagerbild allocate show %s --product P\n",
	       T(run, "id"));
}

/* A run as a person reads it. */
static void print_run(const json_t *run, bool detail)
{
	const char *problem =
		json_string_value(json_object_get(run, "problem"));
	const bool plan = problem && strcmp(problem, "plan") == 0;
	const bool supply = problem && strcmp(problem, "supply") == 0;
	size_t i, j;
	json_t *p, *x, *props = json_object_get(run, "proposals");

	printf("run %s: %s, algorithm %s, by %s at %s\n", T(run, "id"),
	       T(run, "problem"), T(run, "algorithm_version"),
	       T(run, "created_by"), T(run, "created_at"));
	print_summary(json_object_get(run, "summary"));
	if (!detail) {
		print_product_lines(run);
		return;
	}
	json_array_foreach(json_object_get(run, "products"), i, p)
	{
		json_t *res = json_object_get(p, "result");
		json_t *in = json_object_get(json_object_get(p, "inputs"),
					     "regions");
		json_t *out = json_object_get(res, "regions");

		printf("\nproduct %s %s (pack %s %s)", T(p, "product"),
		       T(p, "product_name"), T(p, "pack_size"),
		       T(p, "base_unit"));
		if (json_is_real(json_object_get(p, "level")))
			printf(": level L = %.2f days",
			       json_real_value(json_object_get(p, "level")));
		if (supply)
			printf("; %s packs, %s held as national reserve",
			       T(res, "packs"), T(res, "reserve_packs"));
		if (plan)
			printf("\n%-6s %10s %10s %6s %10s %8s %12s %10s\n",
			       "region", "stock", "rate/day", "target",
			       "target qty", "packs", "reached", "shortfall");
		else
			printf("\n%-6s %10s %10s %6s %6s %9s %10s %9s\n",
			       "region", "stock", "rate/day", "floor", "target",
			       "days", supply ? "gets" : "after", "days after");
		json_array_foreach(in, j, x)
		{
			json_t *o = json_array_get(out, j);

			if (plan) {
				print_plan_region(x, o);
				continue;
			}
			printf("%-6s %10s %10s %6s %6s %9s %10s %9s\n",
			       T(x, "region"), T(x, "stock"),
			       json_is_true(json_object_get(x, "rate_known")) ?
				       T(x, "rate") :
				       "unknown",
			       T(x, "floor_days"), T(x, "target_days"),
			       T(o, "days_before"),
			       supply ? T(o, "quantity") : T(o, "after"),
			       T(o, "days_after"));
		}
	}
	if (json_array_size(props) > 0)
		printf("\n%-6s %-4s %-10s %-16s %-4s %12s %-10s\n", "id",
		       "from", "site", "lot", "to", "quantity", "status");
	json_array_foreach(props, i, p) printf(
		"%-6s %-4s %-10s %-16s %-4s %12s %-10s%s\n", T(p, "id"),
		T(p, "from_region"), T(p, "from_site"), T(p, "lot"),
		T(p, "to_region"), T(p, "quantity"), T(p, "status"),
		json_is_true(json_object_get(p, "obligatory")) ? " obligatory" :
								 "");
}

static void print_proposals(const json_t *list)
{
	size_t i;
	json_t *p;

	printf("%-6s %-5s %-14s %-4s %-10s %-12s %-4s %12s %-10s\n", "id",
	       "run", "product", "from", "site", "lot", "to", "quantity",
	       "status");
	json_array_foreach(list, i, p) printf(
		"%-6s %-5s %-14s %-4s %-10s %-12s %-4s %12s %-10s%s\n",
		T(p, "id"), T(p, "run_id"), T(p, "product"),
		T(p, "from_region"), T(p, "from_site"), T(p, "lot"),
		T(p, "to_region"), T(p, "quantity"), T(p, "status"),
		json_is_true(json_object_get(p, "obligatory")) ? " obligatory" :
								 "");
}

static void print_help_requests(const json_t *list)
{
	size_t i;
	json_t *h;

	printf("%-6s %-4s %-14s %12s %8s %-8s %-9s %s\n", "id", "reg",
	       "product", "quantity", "days", "urgency", "status", "reason");
	json_array_foreach(list, i, h) printf(
		"%-6s %-4s %-14s %12s %8s %-8s %-9s %s\n", T(h, "id"),
		T(h, "region"), T(h, "product"), T(h, "quantity"), T(h, "days"),
		T(h, "urgency"), T(h, "status"), T(h, "reason"));
}

/*
 * The identity of user username as the API would know it after a login:
 * role and region from app_user (the session acts as the system, which
 * reads it); the person at the shell is recorded as the remote.
 * ERR_NOT_FOUND for no such user, ERR_FORBIDDEN for a disabled one, both
 * naming --as.
 */
static int user_identity(struct db *db, const char *username,
			 struct identity *who, struct err *e)
{
	const char *params[1] = {username};
	PGresult *q;
	int rc = -1;

	memset(who, 0, sizeof(*who));
	q = db_exec(db,
		    "SELECT id, username, role::text,"
		    " coalesce(region_code, ''), disabled_at IS NOT NULL"
		    " FROM app_user WHERE username = $1",
		    1, params, e);
	if (!q)
		return -1;
	if (PQntuples(q) != 1) {
		err_set(e, ERR_NOT_FOUND, "as", "--as %.64s: no such user",
			username);
		goto out;
	}
	if (db_text(q, 0, 4)[0] == 't') {
		err_set(e, ERR_FORBIDDEN, "as",
			"--as %.64s: the user is disabled", username);
		goto out;
	}
	if (auth_role_parse(db_text(q, 0, 2), &who->role, "as", e) < 0)
		goto out;
	who->user_id = db_int64(q, 0, 0);
	snprintf(who->username, sizeof(who->username), "%s", db_text(q, 0, 1));
	snprintf(who->region, sizeof(who->region), "%s", db_text(q, 0, 3));
	snprintf(who->remote, sizeof(who->remote), "%s", cli_actor());
	rc = 0;
out:
	PQclear(q);
	return rc;
}

/*
 * Begin, call, commit: one transaction as the command line, or with --as
 * as that user (auth_begin, so that row-level security sees the user).
 */
static int begin(const struct args *a, struct db **db, struct identity *who,
		 struct err *e)
{
	auth_system_identity(who, cli_actor());
	if (cli_connect(db, true, e) < 0)
		return -1;
	if (!a->as)
		return db_begin(*db, e);
	if (validate_text(a->as, 64, false, "as", e) < 0 ||
	    user_identity(*db, a->as, who, e) < 0)
		return -1;
	return auth_begin(*db, who, e);
}

/*
 * A refusal of what --as may do says so: the domain's message names the
 * role and region, this the user it came from.
 */
static void as_refused(const struct args *a, const struct identity *who,
		       struct err *e)
{
	if (a->as && e->code == ERR_FORBIDDEN && strcmp(e->field, "as") != 0)
		err_prefix(e, "--as %s (%s%s%s): ", who->username,
			   auth_role_name(who->role),
			   who->region[0] ? " of region " : "", who->region);
}

static int finish(struct db *db, int rc, struct err *e)
{
	if (rc == 0 && db_commit(db, e) < 0)
		rc = -1;
	if (rc < 0 && db)
		db_rollback(db);
	return rc;
}

/* The id word after the form's name. */
static int word_id(const struct args *a, int64_t *id, struct err *e)
{
	if (a->nwords != 2)
		return err_set(e, ERR_INVALID, "id", "%s %s ID: one id", a->cmd,
			       a->words[0]);
	return parse_int64(a->words[1], 1, INT64_MAX, id, "id", e);
}

static int read_file(const char *path, char **out, size_t *len, struct err *e)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	*out = NULL;
	if (!f)
		return err_set(e, ERR_INVALID, "capacity-file",
			       "capacity file %s: cannot open it", path);
	buf = malloc(CAPACITY_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	}
	n = fread(buf, 1, CAPACITY_FILE_MAX + 1, f);
	if (ferror(f) || n > CAPACITY_FILE_MAX) {
		fclose(f);
		free(buf);
		return err_set(e, ERR_INVALID, "capacity-file",
			       "capacity file %s: %s", path,
			       n > CAPACITY_FILE_MAX ? "larger than 1 MB" :
						       "cannot read it");
	}
	fclose(f);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* ---- allocate ---- */

static int allocate_params(const struct args *a, enum allocation_problem pr,
			   struct allocation_params *p, int64_t *capacity,
			   struct err *e)
{
	int64_t v;
	char *text = NULL;
	size_t len = 0;
	int weeks = 0, rc = -1;

	allocation_params_default(p, pr);
	if (a->agreement && (pr != ALLOCATION_SHARE || a->nproducts > 0))
		return err_set(e, ERR_INVALID, "agreement",
			       "--agreement is for allocate share, instead of "
			       "--product");
	if (a->nproducts == 0 && !a->agreement)
		return err_set(e, ERR_INVALID, "product",
			       "--product is required");
	for (int i = 0; i < a->nproducts; i++)
		if (catalog_check_product_key(a->products[i], e) < 0)
			return -1;
	v = 0;
	if (num(a->window, 1, READINESS_WINDOW_MAX, "window", &v, e) < 0)
		return -1;
	p->window_days = (int)v;
	v = -1;
	if (num(a->floor, 0, ALLOCATION_DAYS_MAX, "floor-days", &v, e) < 0)
		return -1;
	p->floor_days = (int)v;
	v = -1;
	if (num(a->target, 0, ALLOCATION_DAYS_MAX, "target-days", &v, e) < 0)
		return -1;
	p->target_days = (int)v;
	v = p->min_shelf_days;
	if (num(a->min_shelf, 0, ALLOCATION_DAYS_MAX, "min-shelf-days", &v, e) <
	    0)
		return -1;
	p->min_shelf_days = (int)v;
	if (num(a->min_transfer, 0, LEDGER_QTY_MAX, "min-transfer",
		&p->min_transfer, e) < 0 ||
	    num(a->idle_keep, 0, LEDGER_QTY_MAX, "idle-keep-packs",
		&p->idle_keep_packs, e) < 0 ||
	    num(a->quantity, 1, LEDGER_QTY_MAX, "quantity", &p->quantity, e) <
		    0)
		return -1;
	p->idle_gives = a->idle_gives;
	if ((a->key && allocator_key_parse(a->key, &p->key, "key", e) < 0) ||
	    (a->hybrid_key && allocator_key_parse(a->hybrid_key, &p->hybrid_key,
						  "hybrid-key", e) < 0))
		return -1;
	v = 0;
	if (num(a->reserve, 0, 100, "reserve", &v, e) < 0)
		return -1;
	p->reserve_pct = (int)v;
	p->start = a->start;
	if (pr == ALLOCATION_SUPPLY && (!a->quantity || !a->key))
		return err_set(e, ERR_INVALID, a->quantity ? "key" : "quantity",
			       "allocate supply needs --quantity and --key");
	if (pr == ALLOCATION_PLAN) {
		v = 0;
		if (!a->capacity)
			return err_set(e, ERR_INVALID, "capacity-file",
				       "allocate plan needs --capacity-file");
		if (num(a->weeks, 1, ALLOCATOR_WEEKS_MAX, "weeks", &v, e) < 0 ||
		    read_file(a->capacity, &text, &len, e) < 0)
			return -1;
		if (allocation_capacity_parse(text, len, capacity,
					      ALLOCATOR_WEEKS_MAX, &weeks,
					      e) < 0) {
			err_prefix(e, "%s: ", a->capacity);
			goto out;
		}
		if (v != 0 && v != weeks) {
			err_set(e, ERR_INVALID, "weeks",
				"--weeks %" PRId64 ": %s has %d weeks (without "
				"--weeks, the file's weeks are planned)",
				v, a->capacity, weeks);
			goto out;
		}
		p->weeks = v ? (int)v : weeks;
		p->capacity = capacity;
	}
	/* The form is checked with placeholder ids; the real ones follow. */
	p->nproducts = a->agreement ? 1 : (size_t)a->nproducts;
	rc = 0;
out:
	free(text);
	return rc;
}

static int run_allocate(struct args *a)
{
	enum allocation_problem pr;
	struct allocation_params p;
	struct allocation_page pg = {.limit = ALLOCATION_PAGE_DEFAULT};
	int64_t capacity[ALLOCATOR_WEEKS_MAX], few[PRODUCTS_MAX], *ids = few;
	PGresult *q = NULL;
	struct product_ref ref;
	struct identity who;
	struct db *db = NULL;
	struct err e = {0};
	json_t *run = NULL;
	int64_t id;
	char *csv = NULL;
	size_t len = 0;
	int rc = -1;

	if (allocation_problem_parse(a->words[0], &pr, "problem", &e) < 0 ||
	    allocate_params(a, pr, &p, capacity, &e) < 0)
		return cli_fail(&e, true);
	if (a->nwords != 1)
		return cli_usage_error(a->cmd, "unexpected argument %s",
				       a->words[1]);
	for (size_t i = 0; i < p.nproducts; i++)
		ids[i] = (int64_t)i + 1;
	p.products = ids;
	if (allocation_params_check(&p, &e) < 0)
		return cli_fail(&e, true);
	if (begin(a, &db, &who, &e) < 0)
		goto out;
	for (int i = 0; i < a->nproducts; i++) {
		if (catalog_find_product(db, a->products[i], &ref, &e) < 0)
			goto out;
		ids[i] = ref.id;
	}
	if (a->agreement) {
		const char *params[] = {a->agreement};

		q = db_exec(db,
			    "SELECT id FROM product WHERE agreement_code = $1"
			    " ORDER BY id",
			    1, params, &e);
		if (!q)
			goto out;
		if (PQntuples(q) == 0) {
			err_set(&e, ERR_NOT_FOUND, "agreement",
				"no product is under agreement \"%.40s\"",
				a->agreement);
			goto out;
		}
		if (PQntuples(q) > ALLOCATION_PRODUCTS_MAX) {
			err_set(&e, ERR_INVALID, "agreement",
				"agreement %.40s has more than %d products: "
				"more than one run takes",
				a->agreement, ALLOCATION_PRODUCTS_MAX);
			goto out;
		}
		ids = malloc((size_t)PQntuples(q) * sizeof(*ids));
		if (!ids) {
			err_set(&e, ERR_INTERNAL, "", "out of memory");
			goto out;
		}
		for (int i = 0; i < PQntuples(q); i++)
			ids[i] = db_int64(q, i, 0);
		p.products = ids;
		p.nproducts = (size_t)PQntuples(q);
	}
	/* Text for a large run lists its products: no more is read. */
	pg.brief = !a->json && p.nproducts > DETAIL_PRODUCTS_MAX;
	if (allocation_run(db, &who, &p, &id, &e) < 0 ||
	    allocation_get(db, &who, id, &pg, &run, &e) < 0 ||
	    (a->csv && pr == ALLOCATION_PLAN &&
	     allocation_plan_csv(db, &who, id, &csv, &len, &e) < 0))
		goto out;
	rc = 0;
out:
	if (rc < 0)
		as_refused(a, &who, &e);
	rc = finish(db, rc, &e);
	if (rc == 0) {
		if (csv)
			fwrite(csv, 1, len, stdout);
		else if (a->json)
			print_json(run);
		else
			print_run(run, p.nproducts <= DETAIL_PRODUCTS_MAX);
	}
	free(csv);
	json_decref(run);
	PQclear(q);
	if (ids != few)
		free(ids);
	db_close(db);
	return rc < 0 ? cli_fail(&e, true) : EXIT_OK;
}

static int allocate_read(struct args *a)
{
	const bool show = strcmp(a->words[0], "show") == 0;
	const bool transit = strcmp(a->words[0], "in-transit") == 0;
	struct product_ref ref;
	struct identity who;
	struct db *db = NULL;
	struct err e = {0};
	json_t *out = NULL;
	int64_t id = 0, limit = show ? ALLOCATION_PAGE_DEFAULT : 50, pid = 0;
	struct allocation_page pg = {0};
	char *csv = NULL;
	size_t len = 0;
	int rc = -1;

	if ((show && word_id(a, &id, &e) < 0) ||
	    (!show && a->nwords != 1 &&
	     err_set(&e, ERR_INVALID, "", "unexpected argument %s",
		     a->words[1]) < 0) ||
	    num(a->limit, 1, show ? ALLOCATION_PAGE_MAX : ALLOCATION_LIST_MAX,
		"limit", &limit, &e) < 0 ||
	    num(a->after, 1, INT64_MAX, "after", &pg.after, &e) < 0 ||
	    (a->nproducts > 1 &&
	     err_set(&e, ERR_INVALID, "product", "one --product") < 0) ||
	    (a->nproducts == 1 &&
	     catalog_check_product_key(a->products[0], &e) < 0))
		return cli_fail(&e, true);
	if (begin(a, &db, &who, &e) < 0)
		goto out;
	if (a->nproducts == 1) {
		if (catalog_find_product(db, a->products[0], &ref, &e) < 0)
			goto out;
		pid = ref.id;
	}
	if (show && a->csv)
		rc = allocation_plan_csv(db, &who, id, &csv, &len, &e);
	else if (show) {
		pg.product_id = pid;
		pg.limit = (long)limit;
		rc = allocation_get(db, &who, id, &pg, &out, &e);
	} else if (transit)
		rc = allocation_totals(db, pid, &out, &e);
	else
		rc = allocation_list(db, &who, a->problem, pid, (long)limit,
				     &out, &e);
out:
	if (rc < 0)
		as_refused(a, &who, &e);
	rc = finish(db, rc, &e);
	if (rc == 0) {
		size_t i;
		json_t *x;

		if (csv)
			fwrite(csv, 1, len, stdout);
		else if (a->json)
			print_json(out);
		else if (show)
			print_run(
				out,
				pid != 0 ||
					json_integer_value(json_object_get(
						json_object_get(out, "summary"),
						"products")) <=
						DETAIL_PRODUCTS_MAX);
		else if (transit) {
			printf("%-14s %12s %12s %12s %12s  %s\n", "product",
			       "on_hand", "in_transit", "lost", "total",
			       "name");
			json_array_foreach(out, i, x)
				printf("%-14s %12s %12s %12s %12s  %s\n",
				       T(x, "product"), T(x, "on_hand"),
				       T(x, "in_transit"), T(x, "lost"),
				       T(x, "total"), T(x, "product_name"));
		} else {
			printf("%-6s %-7s %-20s %9s  %s\n", "id", "problem",
			       "created_at", "proposals", "by");
			json_array_foreach(out, i, x) printf(
				"%-6s %-7s %-20.19s %9s  %s\n", T(x, "id"),
				T(x, "problem"), T(x, "created_at"),
				T(x, "proposals"), T(x, "created_by"));
		}
	}
	free(csv);
	json_decref(out);
	db_close(db);
	return rc < 0 ? cli_fail(&e, true) : EXIT_OK;
}

int cmd_allocate(int argc, char **argv)
{
	struct args a = {.cmd = "allocate"};
	const char *w;

	if (parse(argc, argv, &a) != 0)
		return EXIT_USAGE;
	if (a.help) {
		fputs(allocate_usage, stdout);
		return EXIT_OK;
	}
	if (a.nwords == 0)
		return cli_usage_error("allocate",
				       "share, supply, plan, show, list or "
				       "in-transit?");
	w = a.words[0];
	if (strcmp(w, "share") == 0 || strcmp(w, "supply") == 0 ||
	    strcmp(w, "plan") == 0)
		return run_allocate(&a);
	if (strcmp(w, "show") == 0 || strcmp(w, "list") == 0 ||
	    strcmp(w, "in-transit") == 0)
		return allocate_read(&a);
	return cli_usage_error("allocate", "unknown form %s", w);
}

/* ---- help-request ---- */

static int help_create(struct args *a)
{
	struct allocation_help h = {.region = a->region,
				    .days = a->days,
				    .urgency = a->urgency,
				    .reason = a->reason,
				    .product_id = 1};
	struct product_ref ref;
	struct identity who;
	struct db *db = NULL;
	struct err e = {0};
	json_t *out = NULL;
	int64_t id, run_id;
	int rc = -1;

	if (a->nwords != 1)
		return cli_usage_error(a->cmd, "unexpected argument %s",
				       a->words[1]);
	if (!a->region || a->nproducts != 1 || !a->reason)
		return cli_usage_error(a->cmd, "create needs --region, one "
					       "--product and --reason");
	if (num(a->quantity, 1, LEDGER_QTY_MAX, "quantity", &h.quantity, &e) <
		    0 ||
	    catalog_check_product_key(a->products[0], &e) < 0 ||
	    allocation_help_check(&h, &e) < 0)
		return cli_fail(&e, true);
	if (begin(a, &db, &who, &e) < 0 ||
	    catalog_find_product(db, a->products[0], &ref, &e) < 0)
		goto out;
	h.product_id = ref.id;
	if (allocation_help_create(db, &who, &h, !a->no_run, &id, &run_id, &e) <
		    0 ||
	    allocation_help_get(db, &who, id, &out, &e) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		as_refused(a, &who, &e);
	rc = finish(db, rc, &e);
	if (rc == 0) {
		if (a->json) {
			print_json(out);
		} else {
			printf("help request %" PRId64
			       " recorded (region %s)\n",
			       id, a->region);
			if (run_id) {
				printf("run %" PRId64 ": %zu proposals to "
				       "region %s\n",
				       run_id,
				       json_array_size(json_object_get(
					       out, "proposals")),
				       a->region);
				print_proposals(
					json_object_get(out, "proposals"));
			}
		}
	}
	json_decref(out);
	db_close(db);
	return rc < 0 ? cli_fail(&e, true) : EXIT_OK;
}

static int help_other(struct args *a)
{
	const char *w = a->words[0];
	struct product_ref ref;
	struct identity who;
	struct db *db = NULL;
	struct err e = {0};
	json_t *out = NULL;
	int64_t id = 0, limit = 100, pid = 0;
	int rc = -1;

	if (strcmp(w, "list") == 0) {
		if (a->nwords != 1)
			return cli_usage_error(a->cmd, "unexpected argument %s",
					       a->words[1]);
	} else if (word_id(a, &id, &e) < 0) {
		return cli_fail(&e, true);
	}
	if (strcmp(w, "close") == 0 && (!a->status || !a->reason))
		return cli_usage_error(a->cmd,
				       "close needs --status and --reason");
	if (num(a->limit, 1, ALLOCATION_LIST_MAX, "limit", &limit, &e) < 0 ||
	    (a->nproducts == 1 &&
	     catalog_check_product_key(a->products[0], &e) < 0))
		return cli_fail(&e, true);
	if (begin(a, &db, &who, &e) < 0)
		goto out;
	if (a->nproducts == 1) {
		if (catalog_find_product(db, a->products[0], &ref, &e) < 0)
			goto out;
		pid = ref.id;
	}
	if (strcmp(w, "list") == 0)
		rc = allocation_help_list(db, &who, a->status, a->region, pid,
					  (long)limit, &out, &e);
	else if (strcmp(w, "close") == 0)
		rc = allocation_help_close(db, &who, id, a->status, a->reason,
					   &e) < 0 ?
			     -1 :
			     allocation_help_get(db, &who, id, &out, &e);
	else
		rc = allocation_help_get(db, &who, id, &out, &e);
out:
	if (rc < 0)
		as_refused(a, &who, &e);
	rc = finish(db, rc, &e);
	if (rc == 0) {
		if (a->json || strcmp(w, "show") == 0)
			print_json(out);
		else if (strcmp(w, "list") == 0)
			print_help_requests(out);
		else
			printf("help request %" PRId64 " is %s\n", id,
			       json_string_value(
				       json_object_get(out, "status")));
	}
	json_decref(out);
	db_close(db);
	return rc < 0 ? cli_fail(&e, true) : EXIT_OK;
}

int cmd_help_request(int argc, char **argv)
{
	struct args a = {.cmd = "help-request"};
	const char *w;

	if (parse(argc, argv, &a) != 0)
		return EXIT_USAGE;
	if (a.help) {
		fputs(help_usage, stdout);
		return EXIT_OK;
	}
	if (a.nwords == 0)
		return cli_usage_error(a.cmd, "create, list, show or close?");
	w = a.words[0];
	if (strcmp(w, "create") == 0)
		return help_create(&a);
	if (strcmp(w, "list") == 0 || strcmp(w, "show") == 0 ||
	    strcmp(w, "close") == 0)
		return help_other(&a);
	return cli_usage_error(a.cmd, "unknown form %s", w);
}

/* ---- proposal ---- */

static int proposal_read(struct args *a)
{
	const bool list = strcmp(a->words[0], "list") == 0;
	struct allocation_filter f = {
		.status = a->status, .region = a->region, .limit = 100};
	struct product_ref ref;
	struct identity who;
	struct db *db = NULL;
	struct err e = {0};
	json_t *out = NULL;
	int64_t id = 0, v = 100, next = 0;
	int rc = -1;

	if (list && a->nwords != 1)
		return cli_usage_error(a->cmd, "unexpected argument %s",
				       a->words[1]);
	if ((!list && word_id(a, &id, &e) < 0) ||
	    num(a->limit, 1, ALLOCATION_LIST_MAX, "limit", &v, &e) < 0 ||
	    num(a->run, 1, INT64_MAX, "run", &f.run_id, &e) < 0 ||
	    num(a->before, 1, INT64_MAX, "before", &f.before, &e) < 0 ||
	    (a->nproducts == 1 &&
	     catalog_check_product_key(a->products[0], &e) < 0))
		return cli_fail(&e, true);
	f.limit = (long)v;
	if (begin(a, &db, &who, &e) < 0)
		goto out;
	if (a->nproducts == 1) {
		if (catalog_find_product(db, a->products[0], &ref, &e) < 0)
			goto out;
		f.product_id = ref.id;
	}
	rc = list ? allocation_proposal_list(db, &who, &f, &out, &next, &e) :
		    allocation_proposal_get(db, &who, id, &out, &e);
out:
	if (rc < 0)
		as_refused(a, &who, &e);
	rc = finish(db, rc, &e);
	if (rc == 0) {
		if (a->json || !list)
			print_json(out);
		else
			print_proposals(out);
		if (list && !a->json && next)
			printf("more: lagerbild proposal list --before %" PRId64
			       " (with the same filters)\n",
			       next);
	}
	json_decref(out);
	db_close(db);
	return rc < 0 ? cli_fail(&e, true) : EXIT_OK;
}

static int proposal_step(struct args *a, enum allocation_action action)
{
	struct allocation_act act = {.action = action,
				     .reason = a->reason,
				     .quantity = -1,
				     .site = a->site};
	struct identity who;
	struct db *db = NULL;
	struct err e = {0};
	json_t *out = NULL, *help = NULL;
	const json_t *hid;
	bool replayed = false;
	int64_t id;
	int rc = -1;

	if (word_id(a, &id, &e) < 0 ||
	    num(a->quantity, 0, LEDGER_QTY_MAX, "quantity", &act.quantity, &e) <
		    0 ||
	    allocation_act_check(&act, &e) < 0)
		return cli_fail(&e, true);
	if (begin(a, &db, &who, &e) < 0 ||
	    allocation_proposal_act(db, &who, id, &act, &replayed, &e) < 0 ||
	    allocation_proposal_get(db, &who, id, &out, &e) < 0)
		goto out;
	/* A receipt may have fulfilled the help request the run was for. */
	hid = json_object_get(out, "help_request_id");
	if (action == ALLOCATION_RECEIVE && json_is_integer(hid) &&
	    allocation_help_get(db, &who, json_integer_value(hid), &help, &e) <
		    0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		as_refused(a, &who, &e);
	rc = finish(db, rc, &e);
	if (rc == 0) {
		if (a->json)
			print_json(out);
		else
			printf("proposal %" PRId64 " %s%s\n", id,
			       json_string_value(
				       json_object_get(out, "status")),
			       replayed ? " (already; nothing new recorded)" :
					  "");
		if (!a->json && help)
			printf("help request %s is %s%s%s\n", T(help, "id"),
			       T(help, "status"),
			       json_is_string(
				       json_object_get(help, "close_reason")) ?
				       ": " :
				       "",
			       T(help, "close_reason"));
	}
	json_decref(help);
	json_decref(out);
	db_close(db);
	return rc < 0 ? cli_fail(&e, true) : EXIT_OK;
}

int cmd_proposal(int argc, char **argv)
{
	struct args a = {.cmd = "proposal"};
	enum allocation_action action;
	struct err e = {0};

	if (parse(argc, argv, &a) != 0)
		return EXIT_USAGE;
	if (a.help) {
		fputs(proposal_usage, stdout);
		return EXIT_OK;
	}
	if (a.nwords == 0)
		return cli_usage_error(a.cmd,
				       "list, show, approve, decline, ship, "
				       "receive, cancel or return?");
	if (strcmp(a.words[0], "list") == 0 || strcmp(a.words[0], "show") == 0)
		return proposal_read(&a);
	if (allocation_action_parse(a.words[0], &action, "action", &e) < 0)
		return cli_fail(&e, true);
	return proposal_step(&a, action);
}
