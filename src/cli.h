/*
 * cli.h -- what the subcommands of the `lagerbild` binary share.
 *
 * Exit codes: 0 ok, 1 failure, 2 usage (unknown option, missing or
 * malformed argument).  Data goes to stdout, diagnostics to stderr.
 */
#ifndef LAGERBILD_CLI_H
#define LAGERBILD_CLI_H

#include <stdbool.h>

#include "db.h"
#include "err.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* Subcommands: argv[0] is the subcommand's name. */
int cmd_migrate(int argc, char **argv);
int cmd_stock(int argc, char **argv);
int cmd_totals(int argc, char **argv);
int cmd_readiness(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_alerts(int argc, char **argv);
int cmd_allocate(int argc, char **argv);
int cmd_help_request(int argc, char **argv);
int cmd_proposal(int argc, char **argv);

/* Report a usage error for cmd and return EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Report e; return EXIT_USAGE if it came from parsing the command line
 * (parsing) and is ERR_INVALID, else EXIT_FAIL.
 */
int cli_fail(const struct err *e, bool parsing);

/* Report the unknown or incomplete option getopt_long just stopped at. */
int cli_bad_option(const char *cmd, char **argv);

/*
 * Connect to the database from the environment, check that it has been
 * migrated, and act as the system identity named cli_actor().  With as_app,
 * drop to the application role first, so that grants and row-level security
 * apply; without, stay the schema owner (user and token administration).
 * The caller db_closes *db.
 */
int cli_connect(struct db **db, bool as_app, struct err *e);

/* Who is acting: $LAGERBILD_ACTOR, or "cli:" and the OS user name. */
const char *cli_actor(void);

#endif
