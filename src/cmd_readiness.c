/*
 * cmd_readiness.c -- `lagerbild readiness`: days of supply against
 * targets, the daily rollup, the national level, region states, targets.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readiness_report.h"
#include "catalog.h"
#include "cli.h"
#include "validate.h"

static const char usage[] =
	"Usage: lagerbild readiness [--scope S] [--region R]\n"
	"                           [--healthcare-region H] [--category C]\n"
	"                           [--product P] [--agreement A] [--short]\n"
	"                           [--window DAYS] [--tsv|--json]\n"
	"       lagerbild readiness refresh\n"
	"       lagerbild readiness level [show | set LEVEL --reason TEXT]\n"
	"       lagerbild readiness state --region R\n"
	"                                 [set STATE --reason TEXT]\n"
	"       lagerbild readiness targets list [--product P] [--region R]\n"
	"                                        [--national] [--all]\n"
	"       lagerbild readiness targets set --product P [--region R]\n"
	"                  --target-days N [--floor-days N] [--from DATE]\n"
	"                  [--to DATE] [--agreement A] --reason TEXT\n"
	"       lagerbild readiness targets end ID [--to DATE] --reason TEXT\n"
	"\n"
	"Days of supply per scope and product: available stock (not expired,\n"
	"not quarantined), the consumption rate over the window (default 28\n"
	"days, less days out of stock), days = available / rate, against the\n"
	"target and floor scaled by the national readiness level.\n"
	"\n"
	"  --scope S    site, region (default), healthcare_region or nation\n"
	"  --short      only stockout, below floor and below target\n"
	"  refresh      bring the daily rollup up to date with the ledger\n"
	"               (reads only events it has not read; run by a timer)\n"
	"  level        the national level: normal, peacetime_crisis,\n"
	"               heightened, highest\n"
	"  state        a region's state: normal, disaster_risk, disaster\n"
	"  targets set  replaces the product's target for that region (or\n"
	"               nationally, without --region) from --from (default\n"
	"               today); the previous one ends the day before\n";

enum {
	O_SCOPE = 256, /* above any character getopt returns */
	O_REGION,
	O_HC,
	O_CATEGORY,
	O_PRODUCT,
	O_AGREEMENT,
	O_SHORT,
	O_WINDOW,
	O_TSV,
	O_JSON,
	O_REASON,
	O_TARGET,
	O_FLOOR,
	O_FROM,
	O_TO,
	O_ALL,
	O_NATIONAL,
	O_HELP
};

static const struct option opts[] = {
	{"scope", required_argument, NULL, O_SCOPE},
	{"region", required_argument, NULL, O_REGION},
	{"healthcare-region", required_argument, NULL, O_HC},
	{"category", required_argument, NULL, O_CATEGORY},
	{"product", required_argument, NULL, O_PRODUCT},
	{"agreement", required_argument, NULL, O_AGREEMENT},
	{"short", no_argument, NULL, O_SHORT},
	{"window", required_argument, NULL, O_WINDOW},
	{"tsv", no_argument, NULL, O_TSV},
	{"json", no_argument, NULL, O_JSON},
	{"reason", required_argument, NULL, O_REASON},
	{"target-days", required_argument, NULL, O_TARGET},
	{"floor-days", required_argument, NULL, O_FLOOR},
	{"from", required_argument, NULL, O_FROM},
	{"to", required_argument, NULL, O_TO},
	{"all", no_argument, NULL, O_ALL},
	{"national", no_argument, NULL, O_NATIONAL},
	{"help", no_argument, NULL, O_HELP},
	{NULL, 0, NULL, 0},
};

/* Everything any form takes; each form uses its part. */
struct args {
	struct readiness_filter f;
	enum readiness_format fmt;
	const char *product, *reason, *target, *floor_, *from, *to;
	bool all, national;
	int nwords;
	char *words[4];
};

static int parse(int argc, char **argv, struct args *a)
{
	struct err e = {0};
	int64_t v;
	int c;

	opterr = 0;
	optind = 1;
	/* Words (refresh, level set normal ...) may come before or after
	 * options: '-' keeps them in order as argument 1. */
	while ((c = getopt_long(argc, argv, "-", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (a->nwords ==
			    (int)(sizeof(a->words) / sizeof(a->words[0])))
				return cli_usage_error("readiness",
						       "unexpected argument %s",
						       optarg);
			a->words[a->nwords++] = optarg;
			break;
		case O_SCOPE: a->f.scope = optarg; break;
		case O_REGION: a->f.region = optarg; break;
		case O_HC: a->f.healthcare_region = optarg; break;
		case O_CATEGORY: a->f.category = optarg; break;
		case O_PRODUCT: a->product = optarg; break;
		case O_AGREEMENT: a->f.agreement = optarg; break;
		case O_SHORT: a->f.short_only = true; break;
		case O_WINDOW:
			if (parse_int64(optarg, 1, READINESS_WINDOW_MAX, &v,
					"window", &e) < 0)
				return cli_fail(&e, true);
			a->f.window_days = (int)v;
			break;
		case O_TSV: a->fmt = READINESS_TSV; break;
		case O_JSON: a->fmt = READINESS_JSON; break;
		case O_REASON: a->reason = optarg; break;
		case O_TARGET: a->target = optarg; break;
		case O_FLOOR: a->floor_ = optarg; break;
		case O_FROM: a->from = optarg; break;
		case O_TO: a->to = optarg; break;
		case O_ALL: a->all = true; break;
		case O_NATIONAL: a->national = true; break;
		case O_HELP: fputs(usage, stdout); return -1; /* done */
		default: return cli_bad_option("readiness", argv);
		}
	}
	return 0;
}

static bool word_is(const struct args *a, int i, const char *w)
{
	return i < a->nwords && strcmp(a->words[i], w) == 0;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS |
					JSON_REAL_PRECISION(12));

	if (s)
		printf("%s\n", s);
	free(s);
}

/* Run one write in a transaction as the CLI's identity. */
static int in_tx_begin(struct db *db, struct err *e)
{
	return db_begin(db, e);
}

static int finish(struct db *db, int rc, struct err *e)
{
	if (rc == 0 && db_commit(db, e) < 0)
		rc = -1;
	if (rc < 0)
		db_rollback(db);
	return rc;
}

static int run_level(struct db *db, const struct args *a, struct err *e)
{
	json_t *j = NULL;
	int rc = -1;

	if (word_is(a, 1, "set")) {
		if (a->nwords != 3)
			return err_set(e, ERR_INVALID, "level",
				       "readiness level set LEVEL --reason "
				       "TEXT");
		if (in_tx_begin(db, e) < 0)
			return -1;
		rc = finish(db,
			    readiness_level_set(db, a->words[2], a->reason, e),
			    e);
		if (rc < 0)
			return -1;
	} else if (a->nwords > 2 ||
		   (a->nwords == 2 && !word_is(a, 1, "show"))) {
		return err_set(e, ERR_INVALID, "level",
			       "readiness level [show | set LEVEL --reason "
			       "TEXT]");
	}
	if (readiness_level_get(db, 20, &j, e) < 0)
		return -1;
	print_json(j);
	json_decref(j);
	return 0;
}

static int run_state(struct db *db, const struct args *a, struct err *e)
{
	json_t *j = NULL;

	if (!a->f.region)
		return err_set(e, ERR_INVALID, "region",
			       "readiness state needs --region R");
	if (word_is(a, 1, "set")) {
		if (a->nwords != 3)
			return err_set(e, ERR_INVALID, "state",
				       "readiness state --region R set STATE "
				       "--reason TEXT");
		if (in_tx_begin(db, e) < 0)
			return -1;
		if (finish(db,
			   readiness_state_set(db, a->f.region, a->words[2],
					       a->reason, e),
			   e) < 0)
			return -1;
	} else if (a->nwords > 2 ||
		   (a->nwords == 2 && !word_is(a, 1, "show"))) {
		return err_set(e, ERR_INVALID, "state",
			       "readiness state --region R [show | set STATE "
			       "--reason TEXT]");
	}
	if (readiness_state_get(db, a->f.region, 20, &j, e) < 0)
		return -1;
	print_json(j);
	json_decref(j);
	return 0;
}

static int run_targets(struct db *db, const struct args *a, struct err *e)
{
	struct product_ref pref = {0};
	json_t *j = NULL;
	int64_t id = 0;

	if (a->product) {
		if (catalog_check_product_key(a->product, e) < 0 ||
		    catalog_find_product(db, a->product, &pref, e) < 0)
			return -1;
	}
	if (word_is(a, 1, "list") && a->nwords == 2) {
		if (a->f.region &&
		    validate_region_code(a->f.region, "region", e) < 0)
			return -1;
		if (readiness_targets_get(db, pref.id,
					  a->national ? "" : a->f.region,
					  a->all, 0, &j, e) < 0)
			return -1;
	} else if (word_is(a, 1, "set") && a->nwords == 2) {
		struct readiness_target t = {
			.product_id = pref.id,
			.region = a->f.region,
			.target_days = a->target,
			.floor_days = a->floor_,
			.valid_from = a->from,
			.valid_to = a->to,
			.agreement = a->f.agreement,
			.reason = a->reason,
		};

		if (!a->product)
			return err_set(e, ERR_INVALID, "product",
				       "targets set needs --product P");
		if (!a->target)
			return err_set(e, ERR_INVALID, "target_days",
				       "targets set needs --target-days N");
		if (readiness_target_check(&t, e) < 0 || in_tx_begin(db, e) < 0)
			return -1;
		if (finish(db, readiness_target_set(db, &t, &id, e), e) < 0)
			return -1;
		if (readiness_targets_get(db, 0, NULL, true, id, &j, e) < 0)
			return -1;
	} else if (word_is(a, 1, "end") && a->nwords == 3) {
		if (parse_int64(a->words[2], 1, INT64_MAX, &id, "id", e) < 0 ||
		    in_tx_begin(db, e) < 0)
			return -1;
		if (finish(db,
			   readiness_target_end(db, id, a->to, a->reason, e),
			   e) < 0)
			return -1;
		if (readiness_targets_get(db, 0, NULL, true, id, &j, e) < 0)
			return -1;
	} else {
		return err_set(e, ERR_INVALID, "targets",
			       "readiness targets list|set|end ... (see "
			       "--help)");
	}
	print_json(j);
	json_decref(j);
	return 0;
}

int cmd_readiness(int argc, char **argv)
{
	struct args a = {.fmt = READINESS_TABLE};
	struct product_ref pref;
	struct db *db = NULL;
	struct err e = {0};
	int rc = EXIT_FAIL, p;
	bool parsing = true;

	p = parse(argc, argv, &a);
	if (p < 0) /* --help */
		return EXIT_OK;
	if (p != 0)
		return p;
	/* Forms are told apart by their first word. */
	if (a.nwords == 0) {
		if (readiness_filter_check(&a.f, &e) < 0 ||
		    (a.product && catalog_check_product_key(a.product, &e) < 0))
			goto out;
	} else if (!word_is(&a, 0, "refresh") && !word_is(&a, 0, "level") &&
		   !word_is(&a, 0, "state") && !word_is(&a, 0, "targets")) {
		return cli_usage_error("readiness", "unknown form \"%.40s\"",
				       a.words[0]);
	} else if (word_is(&a, 0, "refresh") && a.nwords > 1) {
		return cli_usage_error("readiness", "unexpected argument %s",
				       a.words[1]);
	}
	parsing = false;
	if (cli_connect(&db, true, &e) < 0)
		goto out;
	if (a.nwords == 0) {
		if (a.product) {
			if (catalog_find_product(db, a.product, &pref, &e) < 0)
				goto out;
			a.f.product_id = pref.id;
		}
		if (readiness_report(db, &a.f, stdout, a.fmt, &e) < 0)
			goto out;
	} else if (word_is(&a, 0, "refresh")) {
		int64_t n = 0;

		if (readiness_refresh(db, &n, &e) < 0)
			goto out;
		printf("read %lld events into the daily rollup\n",
		       (long long)n);
	} else if (word_is(&a, 0, "level")) {
		if (run_level(db, &a, &e) < 0)
			goto out;
	} else if (word_is(&a, 0, "state")) {
		if (run_state(db, &a, &e) < 0)
			goto out;
	} else if (run_targets(db, &a, &e) < 0) {
		goto out;
	}
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		rc = cli_fail(&e, parsing || e.code == ERR_INVALID);
	db_close(db);
	return rc;
}
