/*
 * cmd_stock.c -- `lagerbild stock record|reverse|show`.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "ledger.h"
#include "log.h"
#include "reports.h"
#include "validate.h"

static const char stock_usage[] =
	"Usage: lagerbild stock record|reverse|show [OPTIONS]\n\n"
	"  record   record one stock event\n"
	"  reverse  reverse an earlier event (a correction)\n"
	"  show     show balances per site, product and lot\n\n"
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
	return cli_usage_error("stock", "unknown subcommand \"%.40s\"",
			       argv[1]);
}
