/*
 * main.c -- the `lagerbild` binary: one command, many subcommands.
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <sodium.h>

#include "cli.h"
#include "log.h"
#include "migrate.h"
#include "settings.h"

#define LAGERBILD_VERSION "0.1.0"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"serve", cmd_serve, "serve the HTTP JSON API"},
	{"migrate", cmd_migrate, "apply pending schema migrations"},
	{"stock", cmd_stock, "record, reverse and show stock"},
	{"import", cmd_import,
	 "import a feed: NPL, articles, products, stock, ..."},
	{"totals", cmd_totals, "national stock totals, optionally per region"},
	{"readiness", cmd_readiness,
	 "days of supply against targets; levels, states, targets"},
	{"alerts", cmd_alerts,
	 "list, acknowledge and evaluate alerts; webhooks"},
	{"allocate", cmd_allocate,
	 "share stock between regions, divide supply, plan the build-up"},
	{"help-request", cmd_help_request,
	 "a region asks for help (hjälpanmälan)"},
	{"proposal", cmd_proposal,
	 "approve, decline, ship and receive proposed transfers"},
	{"verify", cmd_verify,
	 "recompute balances from the ledger; report drift"},
	{"demo", cmd_demo, "load a realistic demo data set"},
	{"user", cmd_user, "add, list and disable users"},
	{"token", cmd_token, "create, list and revoke API tokens"},
	{"config", cmd_config, "show the settings and where they come from"},
};

static void usage(FILE *out)
{
	fprintf(out, "lagerbild -- stock readiness of Swedish healthcare\n\n"
		     "Usage: lagerbild COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-9s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out, "\nEvery command takes --help.  The database comes from "
		     "DATABASE_URL or the PG* variables.\n"
		     "Exit status: 0 ok, 1 failure, 2 usage.\n");
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("lagerbild %s: %s (see lagerbild %s --help)", cmd, msg, cmd);
	return EXIT_USAGE;
}

int cli_bad_option(const char *cmd, char **argv)
{
	/* getopt_long left optind just past the option it stopped at. */
	return cli_usage_error(cmd, "option %s is unknown or needs a value",
			       argv[optind - 1]);
}

int cli_fail(const struct err *e, bool parsing)
{
	log_err(e);
	return (parsing && e->code == ERR_INVALID) ? EXIT_USAGE : EXIT_FAIL;
}

const char *cli_actor(void)
{
	static char actor[128];
	const char *env = getenv("LAGERBILD_ACTOR");
	struct passwd *pw;

	if (env && env[0])
		return env;
	if (!actor[0]) {
		pw = getpwuid(geteuid());
		snprintf(actor, sizeof(actor), "cli:%s",
			 pw ? pw->pw_name : "unknown");
	}
	return actor;
}

int cli_connect(struct db **db, bool as_app, struct err *e)
{
	PGresult *res = NULL;

	if (db_connect(db, settings_get("database_url"), e) < 0)
		return -1;
	/* A clear word instead of "relation ... does not exist" later. */
	res = db_exec(*db, "SELECT to_regclass('schema_migrations') IS NULL", 0,
		      NULL, e);
	if (!res)
		goto fail;
	if (strcmp(db_text(res, 0, 0), "t") == 0) {
		err_set(e, ERR_UNAVAILABLE, "",
			"the database has no lagerbild schema yet: run "
			"lagerbild migrate");
		goto fail;
	}
	PQclear(res);
	res = NULL;
	/* Nor run on a schema other than the one this build makes. */
	if (migrate_check(*db, embedded_migrations, embedded_migrations_count,
			  e) < 0)
		goto fail;
	if ((as_app && db_set_app_role(*db, e) < 0) ||
	    db_act_as_system(*db, cli_actor(), e) < 0)
		goto fail;
	return 0;
fail:
	PQclear(res);
	db_close(*db);
	*db = NULL;
	return -1;
}

int main(int argc, char **argv)
{
	struct err e = {0};
	enum log_level level;

	if (sodium_init() < 0)
		die("libsodium failed to initialise");
	/* Once, before any thread: the npl feed parses XML in server workers. */
	xmlInitParser();
	if (settings_load(&e) < 0)
		return cli_fail(&e, true);
	if (log_level_parse(settings_get("log_level"), &level) == 0)
		log_set_level(level);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("lagerbild %s\n", LAGERBILD_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	log_error("unknown command \"%.40s\" (see lagerbild --help)", argv[1]);
	return EXIT_USAGE;
}
