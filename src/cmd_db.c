/*
 * cmd_db.c -- database administration: `lagerbild migrate`, `verify`,
 * `demo` and `config`.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "demo.h"
#include "embedded.h"
#include "log.h"
#include "migrate.h"
#include "settings.h"
#include "validate.h"
#include "verify.h"

/*
 * The common shape of a command that takes only --help (and maybe a few
 * flags handled by the caller): returns -1 to go on, else an exit code.
 */
static int only_help(const char *cmd, const char *usage, int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		return cli_bad_option(cmd, argv);
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument %s",
				       argv[optind]);
	return -1;
}

int cmd_migrate(int argc, char **argv)
{
	static const char usage[] =
		"Usage: lagerbild migrate\n\n"
		"Apply the pending schema migrations (sql/NNN_*.sql, built into\n"
		"this binary).  Connect as the schema owner.  An applied\n"
		"migration that was edited since is refused.  Running it again\n"
		"applies nothing.\n";
	struct migrate_result r;
	struct db *db = NULL;
	struct err e = {0};
	int rc = only_help("migrate", usage, argc, argv);

	if (rc >= 0)
		return rc;
	rc = EXIT_FAIL;
	/* Not cli_connect: an empty database is what migrate is for. */
	if (db_connect(&db, settings_get("database_url"), &e) < 0 ||
	    migrate_run(db, embedded_migrations, embedded_migrations_count, &r,
			&e) < 0)
		goto out;
	printf("migrations: %d applied, schema at version %d\n", r.applied,
	       r.current);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		rc = cli_fail(&e, false);
	db_close(db);
	return rc;
}

static void print_drift(void *ctx, const struct verify_drift *d)
{
	(void)ctx;
	printf("drift %s: %s: recomputed %lld, stored %lld\n", d->check,
	       d->where, (long long)d->expected, (long long)d->actual);
}

int cmd_verify(int argc, char **argv)
{
	static const char usage[] =
		"Usage: lagerbild verify\n\n"
		"Recompute every balance and per-region aggregate from the\n"
		"ledger, and check each event's running balance and each\n"
		"reversal.  Lists every drift and exits 1 if there is any.\n"
		"It never repairs anything.\n";
	struct verify_totals t;
	struct db *db = NULL;
	struct err e = {0};
	int rc = only_help("verify", usage, argc, argv);

	if (rc >= 0)
		return rc;
	rc = EXIT_FAIL;
	if (cli_connect(&db, true, &e) < 0 ||
	    verify_run(db, print_drift, NULL, &t, &e) < 0) {
		rc = cli_fail(&e, false);
		goto out;
	}
	printf("verified %lld events, %lld balances, %lld aggregates: ",
	       (long long)t.events, (long long)t.balances,
	       (long long)t.aggregates);
	if (t.drifts == 0) {
		printf("no drift\n");
		rc = EXIT_OK;
	} else {
		printf("%lld drifts\n", (long long)t.drifts);
	}
out:
	db_close(db);
	return rc;
}

int cmd_demo(int argc, char **argv)
{
	static const char usage[] =
		"Usage: lagerbild demo [--days N] [--seed N]\n\n"
		"Load the demo data set into an empty, migrated database: all\n"
		"21 regions with 2-4 sites each, about 300 products in the five\n"
		"categories, and N days (default 90) of receipts and\n"
		"consumption recorded through the ledger.  The same seed\n"
		"(0..1000000, default 420000) gives the same data.\n";
	static const struct option opts[] = {
		{"days", required_argument, NULL, 'd'},
		{"seed", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int64_t days = 90, seed = 420000;
	struct demo_result r;
	struct db *db = NULL;
	struct err e = {0};
	int c, rc = EXIT_FAIL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (parse_int64(optarg, 1, 365, &days, "days", &e) < 0)
				return cli_fail(&e, true);
			break;
		case 's':
			if (parse_int64(optarg, 0, 1000000, &seed, "seed", &e) <
			    0)
				return cli_fail(&e, true);
			break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option("demo", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("demo", "unexpected argument %s",
				       argv[optind]);
	if (cli_connect(&db, false, &e) < 0 ||
	    demo_load(db, (int)days, (double)seed / 1000000.0, &r, &e) < 0)
		goto out;
	printf("demo loaded: %lld sites, %lld products, %lld events over %lld "
	       "days\n",
	       (long long)r.sites, (long long)r.products, (long long)r.events,
	       (long long)days);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		rc = cli_fail(&e, false);
	db_close(db);
	return rc;
}

int cmd_config(int argc, char **argv)
{
	static const char usage[] =
		"Usage: lagerbild config\n\n"
		"Show every setting, its value, where it came from and what it\n"
		"does.  Secrets show as (set).\n";
	int rc = only_help("config", usage, argc, argv);

	if (rc >= 0)
		return rc;
	settings_print(stdout);
	return EXIT_OK;
}
