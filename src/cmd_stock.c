/*
 * cmd_stock.c -- `lagerbild stock record|reverse|show` and quarantines:
 * `lagerbild stock quarantine|release|quarantines`.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "ledger.h"
#include "log.h"
#include "quarantine.h"
#include "reports.h"
#include "validate.h"

static const char stock_usage[] =
	"Usage: lagerbild stock record|reverse|show|quarantine|release|"
	"quarantines\n"
	"                       [OPTIONS]\n\n"
	"  record   record one stock event\n"
	"  reverse  reverse an earlier event (a correction)\n"
	"  show     show balances per site, product and lot\n"
	"  quarantine   hold a lot back (a recall, a cold-chain break)\n"
	"  release      release a quarantine\n"
	"  quarantines  list quarantines\n\n"
	"Each takes --help.\n";

static const char record_usage[] =
	"Usage: lagerbild stock record --site S --product P --kind K --qty N\n"
	"                              [--lot L] [--expiry YYYY-MM-DD]\n"
	"                              [--key UUID] [--reason TEXT]\n\n"
	"Record one stock event in the ledger.\n\n"
	"  --site S        site code, e.g. 01-CL\n"
	"  --product P     Vnr, GTIN, NPL pack id, or vnr:/gtin:/npl:/id: form\n"
	"  --kind K        receipt, issue, count, adjustment, transfer_out,\n"
	"                  transfer_in or expiry_writeoff\n"
	"  --qty N         base units: positive; a count's counted value;\n"
	"                  an adjustment's signed change\n"
	"  --lot L         lot number (default: none)\n"
	"  --expiry D      the lot's expiry date\n"
	"  --key UUID      idempotency key: a retry with the same key and\n"
	"                  event records nothing new (default: a new key)\n"
	"  --reason TEXT   why; required for an adjustment\n\n"
	"A count sets the balance to the counted quantity.  An event that\n"
	"would make a balance negative is refused.\n";

static const char reverse_usage[] =
	"Usage: lagerbild stock reverse --event ID --reason TEXT [--key UUID]\n\n"
	"Record a reversal: a new event that undoes event ID's change.  An\n"
	"event is reversed at most once; a reversal cannot be reversed.\n";

static const char show_usage[] =
	"Usage: lagerbild stock show [--region RR | --site S] [--product P]\n"
	"                            [--limit N] [--tsv]\n\n"
	"Show balances per site, product and lot (default limit 500).\n";

static void print_result(const struct ledger_result *r, const char *kind)
{
	printf("event %lld %s: %s, delta %+lld, balance %lld (region %s, key "
	       "%s)\n",
	       (long long)r->event_id,
	       r->replayed ? "was already recorded with this key" : "recorded",
	       kind, (long long)r->delta, (long long)r->balance_after,
	       r->region_code, r->key);
}

static int stock_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{"site", required_argument, NULL, 's'},
		{"product", required_argument, NULL, 'p'},
		{"kind", required_argument, NULL, 'k'},
		{"qty", required_argument, NULL, 'q'},
		{"lot", required_argument, NULL, 'l'},
		{"expiry", required_argument, NULL, 'x'},
		{"key", required_argument, NULL, 'K'},
		{"reason", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *site = NULL, *product = NULL, *kind = NULL, *qty = NULL;
	struct ledger_event ev = {0};
	struct ledger_result res;
	struct site_ref sref;
	struct product_ref pref;
	struct db *db = NULL;
	struct err e = {0};
	int c, rc = EXIT_FAIL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': site = optarg; break;
		case 'p': product = optarg; break;
		case 'k': kind = optarg; break;
		case 'q': qty = optarg; break;
		case 'l': ev.lot = optarg; break;
		case 'x': ev.expiry = optarg; break;
		case 'K': ev.key = optarg; break;
		case 'r': ev.reason = optarg; break;
		case 'h': fputs(record_usage, stdout); return EXIT_OK;
		default: return cli_bad_option("stock record", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("stock record", "unexpected argument %s",
				       argv[optind]);
	if (!site || !product || !kind || !qty)
		return cli_usage_error(
			"stock record",
			"--site, --product, --kind and --qty are "
			"required");
	if (ledger_kind_parse(kind, &ev.kind, "kind", &e) < 0)
		return cli_fail(&e, true);
	if (ev.kind == LEDGER_REVERSAL)
		return cli_usage_error("stock record",
				       "use lagerbild stock reverse for a "
				       "reversal");
	if (parse_int64(qty, -LEDGER_QTY_MAX, LEDGER_QTY_MAX, &ev.quantity,
			"qty", &e) < 0)
		return cli_fail(&e, true);
	/* Everything the command line alone can judge, before connecting. */
	ev.site_id = 1;
	ev.product_id = 1;
	ev.source = "cli";
	ev.actor = cli_actor();
	if (ledger_validate(&ev, &e) < 0 ||
	    validate_site_code(site, "site", &e) < 0 ||
	    catalog_check_product_key(product, &e) < 0)
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0 ||
	    catalog_find_site(db, site, &sref, &e) < 0 ||
	    catalog_find_product(db, product, &pref, &e) < 0)
		goto out;
	ev.site_id = sref.id;
	ev.product_id = pref.id;
	if (ledger_record(db, &ev, &res, &e) < 0)
		goto out;
	print_result(&res, kind);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		rc = cli_fail(&e, false);
	db_close(db);
	return rc;
}

static int stock_reverse(int argc, char **argv)
{
	static const struct option opts[] = {
		{"event", required_argument, NULL, 'e'},
		{"reason", required_argument, NULL, 'r'},
		{"key", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *event = NULL;
	struct ledger_event ev = {.kind = LEDGER_REVERSAL};
	struct ledger_result res;
	struct db *db = NULL;
	struct err e = {0};
	int c, rc = EXIT_FAIL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e': event = optarg; break;
		case 'r': ev.reason = optarg; break;
		case 'K': ev.key = optarg; break;
		case 'h': fputs(reverse_usage, stdout); return EXIT_OK;
		default: return cli_bad_option("stock reverse", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("stock reverse",
				       "unexpected argument %s", argv[optind]);
	if (!event || !ev.reason)
		return cli_usage_error("stock reverse",
				       "--event and --reason are required");
	if (parse_int64(event, 1, INT64_MAX, &ev.reverses, "event", &e) < 0)
		return cli_fail(&e, true);
	ev.source = "cli";
	ev.actor = cli_actor();
	if (ledger_validate(&ev, &e) < 0)
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0 ||
	    ledger_record(db, &ev, &res, &e) < 0)
		goto out;
	print_result(&res, "reversal");
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		rc = cli_fail(&e, false);
	db_close(db);
	return rc;
}

static int stock_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{"region", required_argument, NULL, 'R'},
		{"site", required_argument, NULL, 's'},
		{"product", required_argument, NULL, 'p'},
		{"limit", required_argument, NULL, 'n'},
		{"tsv", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *site = NULL, *product = NULL;
	struct balance_filter f = {.limit = 500};
	enum report_format fmt = REPORT_TABLE;
	struct site_ref sref;
	struct product_ref pref;
	struct db *db = NULL;
	struct err e = {0};
	int64_t limit;
	int c, rc = EXIT_FAIL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'R': f.region = optarg; break;
		case 's': site = optarg; break;
		case 'p': product = optarg; break;
		case 'n':
			if (parse_int64(optarg, 1, 1000000, &limit, "limit",
					&e) < 0)
				return cli_fail(&e, true);
			f.limit = (long)limit;
			break;
		case 't': fmt = REPORT_TSV; break;
		case 'h': fputs(show_usage, stdout); return EXIT_OK;
		default: return cli_bad_option("stock show", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("stock show", "unexpected argument %s",
				       argv[optind]);
	if (f.region && site)
		return cli_usage_error("stock show",
				       "give --region or --site, not both");
	if (f.region && validate_region_code(f.region, "region", &e) < 0)
		return cli_fail(&e, true);
	if ((site && validate_site_code(site, "site", &e) < 0) ||
	    (product && catalog_check_product_key(product, &e) < 0))
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0)
		goto out;
	if (site) {
		if (catalog_find_site(db, site, &sref, &e) < 0)
			goto out;
		f.site_id = sref.id;
	}
	if (product) {
		if (catalog_find_product(db, product, &pref, &e) < 0)
			goto out;
		f.product_id = pref.id;
	}
	if (report_balances(db, &f, stdout, fmt, &e) < 0)
		goto out;
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		rc = cli_fail(&e, false);
	db_close(db);
	return rc;
}

/* ---- quarantines ---- */

static const char quarantine_usage[] =
	"Usage: lagerbild stock quarantine --site S --product P [--lot L]\n"
	"                                  --reason TEXT\n\n"
	"Hold a lot back (a recall, a suspected cold-chain break): it no\n"
	"longer counts as available stock in readiness until released.  A\n"
	"quarantine holds the whole lot at the site; without --lot it holds\n"
	"the stock recorded without a lot number.  A lot with no stock at the\n"
	"site, or one already in quarantine, is refused.\n\n"
	"  --site S        site code, e.g. 01-CL\n"
	"  --product P     Vnr, GTIN, NPL pack id, or vnr:/gtin:/npl:/id: form\n"
	"  --lot L         lot number\n"
	"  --reason TEXT   why (required)\n";

static const char release_usage[] =
	"Usage: lagerbild stock release ID --reason TEXT\n\n"
	"Release quarantine ID: its lot counts as available again.  A\n"
	"quarantine is released once and kept; place a new one if needed.\n";

static const char quarantines_usage[] =
	"Usage: lagerbild stock quarantines [--region RR] [--site S]\n"
	"                                   [--product P] [--open]\n"
	"                                   [--limit N] [--tsv]\n\n"
	"List quarantines by id (default limit 1000), with the quantity each\n"
	"holds back now.  --open lists only those not released.\n";

/* One quarantine row as a line of text, after it was placed or released. */
static void print_quarantine(const PGresult *q, bool placed)
{
	const char *lot = PQgetisnull(q, 0, 6) ? NULL : db_text(q, 0, 6);

	printf("quarantine %s %s: site %s, product %s, %s%s, %s units %s "
	       "(region %s)\n",
	       db_text(q, 0, 0), placed ? "placed" : "released",
	       db_text(q, 0, 2), db_text(q, 0, 3),
	       lot ? "lot " : "no lot number", lot ? lot : "", db_text(q, 0, 7),
	       placed ? "held back" : "available again", db_text(q, 0, 1));
}

/*
 * The end of a place or release in db's transaction: when ok, show
 * quarantine id and commit; else (or when that fails) roll back and
 * report e.  Closes db; returns the exit status.
 */
static int quarantine_finish(struct db *db, int64_t id, bool placed, bool ok,
			     struct err *e)
{
	PGresult *q = NULL;
	int rc = EXIT_FAIL;

	if (ok && quarantine_get(db, id, &q, e) == 0 && db_commit(db, e) == 0) {
		print_quarantine(q, placed);
		rc = EXIT_OK;
	} else {
		if (db && db->in_tx)
			db_rollback(db);
		rc = cli_fail(e, false);
	}
	PQclear(q);
	db_close(db);
	return rc;
}

static int stock_quarantine(int argc, char **argv)
{
	static const struct option opts[] = {
		{"site", required_argument, NULL, 's'},
		{"product", required_argument, NULL, 'p'},
		{"lot", required_argument, NULL, 'l'},
		{"reason", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *site = NULL, *product = NULL;
	struct quarantine_spec spec = {0};
	struct site_ref sref;
	struct product_ref pref;
	struct db *db = NULL;
	struct err e = {0};
	int64_t id;
	bool ok;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': site = optarg; break;
		case 'p': product = optarg; break;
		case 'l': spec.lot = optarg; break;
		case 'r': spec.reason = optarg; break;
		case 'h': fputs(quarantine_usage, stdout); return EXIT_OK;
		default: return cli_bad_option("stock quarantine", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("stock quarantine",
				       "unexpected argument %s", argv[optind]);
	if (!site || !product || !spec.reason)
		return cli_usage_error("stock quarantine",
				       "--site, --product and --reason are "
				       "required");
	if (validate_site_code(site, "site", &e) < 0 ||
	    catalog_check_product_key(product, &e) < 0 ||
	    quarantine_check(spec.lot, spec.reason, &e) < 0)
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0 || db_begin(db, &e) < 0 ||
	    catalog_find_site(db, site, &sref, &e) < 0 ||
	    catalog_find_product(db, product, &pref, &e) < 0)
		return quarantine_finish(db, 0, true, false, &e);
	spec.region = sref.region_code;
	spec.site_id = sref.id;
	spec.product_id = pref.id;
	ok = quarantine_place(db, &spec, &id, &e) == 0;
	return quarantine_finish(db, id, true, ok, &e);
}

static int stock_release(int argc, char **argv)
{
	static const struct option opts[] = {
		{"reason", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *reason = NULL;
	struct db *db = NULL;
	struct err e = {0};
	int64_t id;
	bool ok;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': reason = optarg; break;
		case 'h': fputs(release_usage, stdout); return EXIT_OK;
		default: return cli_bad_option("stock release", argv);
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("stock release",
				       "give one quarantine ID");
	if (!reason)
		return cli_usage_error("stock release", "--reason is required");
	if (parse_int64(argv[optind], 1, INT64_MAX, &id, "id", &e) < 0 ||
	    quarantine_check(NULL, reason, &e) < 0)
		return cli_fail(&e, true);
	ok = cli_connect(&db, true, &e) == 0 && db_begin(db, &e) == 0 &&
	     quarantine_release(db, id, reason, NULL, NULL, &e) == 0;
	return quarantine_finish(db, id, false, ok, &e);
}

static int stock_quarantines(int argc, char **argv)
{
	static const struct option opts[] = {
		{"region", required_argument, NULL, 'R'},
		{"site", required_argument, NULL, 's'},
		{"product", required_argument, NULL, 'p'},
		{"open", no_argument, NULL, 'o'},
		{"limit", required_argument, NULL, 'n'},
		{"tsv", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	/* id, product_id and quantity, right-aligned */
	static const int numeric[] = {0, 4, 7, -1};
	const char *site = NULL, *product = NULL;
	struct quarantine_filter f = {.limit = QUARANTINE_LIST_MAX};
	enum report_format fmt = REPORT_TABLE;
	struct site_ref sref;
	struct product_ref pref;
	struct db *db = NULL;
	struct err e = {0};
	PGresult *q = NULL;
	int64_t limit;
	int c, rc = EXIT_FAIL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'R': f.region = optarg; break;
		case 's': site = optarg; break;
		case 'p': product = optarg; break;
		case 'o': f.open_only = true; break;
		case 'n':
			if (parse_int64(optarg, 1, QUARANTINE_LIST_MAX, &limit,
					"limit", &e) < 0)
				return cli_fail(&e, true);
			f.limit = (long)limit;
			break;
		case 't': fmt = REPORT_TSV; break;
		case 'h': fputs(quarantines_usage, stdout); return EXIT_OK;
		default: return cli_bad_option("stock quarantines", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("stock quarantines",
				       "unexpected argument %s", argv[optind]);
	if ((f.region && validate_region_code(f.region, "region", &e) < 0) ||
	    (site && validate_site_code(site, "site", &e) < 0) ||
	    (product && catalog_check_product_key(product, &e) < 0))
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0 || db_begin(db, &e) < 0)
		goto out;
	if (site) {
		if (catalog_find_site(db, site, &sref, &e) < 0)
			goto out;
		f.site_id = sref.id;
	}
	if (product) {
		if (catalog_find_product(db, product, &pref, &e) < 0)
			goto out;
		f.product_id = pref.id;
	}
	if (quarantine_list(db, &f, &q, &e) < 0)
		goto out;
	db_rollback(db);
	if (PQntuples(q) > f.limit) {
		/* Leave out the row that only tells there are more. */
		PGresult *cut = PQcopyResult(q, PG_COPYRES_ATTRS);

		for (int r = 0; cut && r < f.limit; r++)
			for (int k = 0; k < PQnfields(q); k++)
				PQsetvalue(cut, r, k, PQgetvalue(q, r, k),
					   PQgetlength(q, r, k));
		report_write(stdout, fmt, cut ? cut : q, numeric);
		PQclear(cut);
		log_warning("more than %ld quarantines: narrow the filter or "
			    "raise --limit",
			    f.limit);
	} else {
		report_write(stdout, fmt, q, numeric);
	}
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK) {
		if (db && db->in_tx)
			db_rollback(db);
		rc = cli_fail(&e, false);
	}
	PQclear(q);
	db_close(db);
	return rc;
}

int cmd_stock(int argc, char **argv)
{
	if (argc < 2) {
		fputs(stock_usage, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(stock_usage, stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "record") == 0)
		return stock_record(argc - 1, argv + 1);
	if (strcmp(argv[1], "reverse") == 0)
		return stock_reverse(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return stock_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "quarantine") == 0)
		return stock_quarantine(argc - 1, argv + 1);
	if (strcmp(argv[1], "release") == 0)
		return stock_release(argc - 1, argv + 1);
	if (strcmp(argv[1], "quarantines") == 0)
		return stock_quarantines(argc - 1, argv + 1);
	return cli_usage_error("stock", "unknown subcommand \"%.40s\"",
			       argv[1]);
}
