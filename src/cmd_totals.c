/*
 * cmd_totals.c -- `lagerbild totals`: the national picture.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "reports.h"

int cmd_totals(int argc, char **argv)
{
	static const char usage[] =
		"Usage: lagerbild totals [--category C] [--product P] [--critical]\n"
		"                        [--by product|region|category] [--tsv]\n\n"
		"National stock totals from the per-region aggregates.\n\n"
		"  --by product   one row per product: national quantity and how\n"
		"                 many regions hold it (default)\n"
		"  --by region    one row per product and region\n"
		"  --by category  per category: products, in stock, out of stock\n"
		"                 in some region, out of stock nationally\n"
		"  --category C   medicine, medical_device, ppe, fsmp or\n"
		"                 manufacturing_material\n"
		"  --critical     only products marked critical\n";
	static const struct option opts[] = {
		{"category", required_argument, NULL, 'c'},
		{"product", required_argument, NULL, 'p'},
		{"by", required_argument, NULL, 'b'},
		{"critical", no_argument, NULL, 'C'},
		{"tsv", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct totals_filter f = {.by = TOTALS_BY_PRODUCT};
	enum report_format fmt = REPORT_TABLE;
	const char *product = NULL;
	struct product_ref pref;
	struct db *db = NULL;
	struct err e = {0};
	int c, rc = EXIT_FAIL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (catalog_check_category(optarg, "category", &e) < 0)
				return cli_fail(&e, true);
			f.category = optarg;
			break;
		case 'p': product = optarg; break;
		case 'b':
			if (strcmp(optarg, "product") == 0)
				f.by = TOTALS_BY_PRODUCT;
			else if (strcmp(optarg, "region") == 0)
				f.by = TOTALS_BY_REGION;
			else if (strcmp(optarg, "category") == 0)
				f.by = TOTALS_BY_CATEGORY;
			else
				return cli_usage_error(
					"totals",
					"--by \"%.40s\": not product, region "
					"or category",
					optarg);
			break;
		case 'C': f.critical_only = true; break;
		case 't': fmt = REPORT_TSV; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option("totals", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("totals", "unexpected argument %s",
				       argv[optind]);
	if (product && catalog_check_product_key(product, &e) < 0)
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0)
		goto out;
	if (product) {
		if (catalog_find_product(db, product, &pref, &e) < 0)
			goto out;
		f.product_id = pref.id;
	}
	if (report_totals(db, &f, stdout, fmt, &e) < 0)
		goto out;
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		rc = cli_fail(&e, false);
	db_close(db);
	return rc;
}
