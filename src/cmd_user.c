/*
 * cmd_user.c -- `lagerbild user add|list|disable` and
 * `lagerbild token create|list|revoke`.
 *
 * These run as the schema owner (like migrate): whoever holds the owner's
 * database credentials administers users.  Every change lands in the audit
 * log with the acting name.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "cli.h"
#include "reports.h"
#include "validate.h"

static const char user_usage[] =
	"Usage: lagerbild user add --username U --role R [--region RR]\n"
	"                          [--name TEXT] [--password-stdin]\n"
	"       lagerbild user list\n"
	"       lagerbild user disable --username U\n\n"
	"Roles: region_contact and importer belong to a region (--region;\n"
	"required for region_contact, left out for a national importer);\n"
	"coordinator, viewer and admin are national.  --password-stdin reads\n"
	"a password (12 or more bytes) for the web UI from the first line of\n"
	"standard input.  Disabling a user stops their tokens at once.\n";

static const char token_usage[] =
	"Usage: lagerbild token create --username U [--label TEXT] [--days N]\n"
	"       lagerbild token list [--username U]\n"
	"       lagerbild token revoke --id N\n\n"
	"create prints the new token once on stdout; only its hash is kept.\n"
	"It expires after N days (default 365, at most 3650).\n";

/* Read one line from stdin into buf, without its newline. */
static int read_password(char *buf, size_t size, struct err *e)
{
	size_t n;

	if (!fgets(buf, (int)size, stdin))
		return err_set(e, ERR_INVALID, "password",
			       "password: nothing on standard input");
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n == size - 1)
		return err_set(e, ERR_INVALID, "password",
			       "password: longer than %zu bytes", size - 2);
	buf[n] = '\0';
	return 0;
}

static int user_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{"username", required_argument, NULL, 'u'},
		{"role", required_argument, NULL, 'r'},
		{"region", required_argument, NULL, 'R'},
		{"name", required_argument, NULL, 'n'},
		{"password-stdin", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *username = NULL, *role_s = NULL, *region = NULL;
	const char *name = NULL;
	char password[1026];
	bool with_password = false;
	struct db *db = NULL;
	struct err e = {0};
	enum role role;
	int64_t id;
	int c, rc = EXIT_FAIL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': username = optarg; break;
		case 'r': role_s = optarg; break;
		case 'R': region = optarg; break;
		case 'n': name = optarg; break;
		case 'p': with_password = true; break;
		case 'h': fputs(user_usage, stdout); return EXIT_OK;
		default: return cli_bad_option("user add", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("user add", "unexpected argument %s",
				       argv[optind]);
	if (!username || !role_s)
		return cli_usage_error("user add",
				       "--username and --role are required");
	if (auth_role_parse(role_s, &role, "role", &e) < 0 ||
	    (region && validate_region_code(region, "region", &e) < 0))
		return cli_fail(&e, true);
	if (with_password && read_password(password, sizeof(password), &e) < 0)
		return cli_fail(&e, true);
	if (cli_connect(&db, false, &e) < 0 ||
	    auth_user_add(db, username, role, region, name,
			  with_password ? password : NULL, &id, &e) < 0)
		goto out;
	printf("user %s added (id %lld, %s%s%s)\n", username, (long long)id,
	       auth_role_name(role), region ? ", region " : "",
	       region ? region : "");
	rc = EXIT_OK;
out:
	sodium_memzero(password, sizeof(password));
	if (rc != EXIT_OK)
		rc = cli_fail(&e, e.code == ERR_INVALID);
	db_close(db);
	return rc;
}

/*
 * Parse the options of a command that takes --help and at most one valued
 * option, name (NULL: none).  Returns -1 to go on, else an exit code.
 */
static int list_or_one(const char *cmd, const char *usage, int argc,
		       char **argv, const char *name, const char **value)
{
	struct option opts[3] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
		{NULL, 0, NULL, 0},
	};
	int c;

	if (name)
		opts[1] = (struct option){name, required_argument, NULL, 'v'};

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'v': *value = optarg; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option(cmd, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument %s",
				       argv[optind]);
	return -1;
}

static int show(const char *sql, const char *param)
{
	const char *params[1] = {param};
	struct db *db = NULL;
	struct err e = {0};
	PGresult *res = NULL;
	int rc = EXIT_FAIL;

	if (cli_connect(&db, false, &e) < 0)
		goto out;
	res = db_exec(db, sql, 1, params, &e);
	if (!res)
		goto out;
	report_write(stdout, REPORT_TABLE, res, NULL);
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK)
		rc = cli_fail(&e, false);
	PQclear(res);
	db_close(db);
	return rc;
}

int cmd_user(int argc, char **argv)
{
	const char *username = NULL;
	struct db *db = NULL;
	struct err e = {0};
	int rc;

	if (argc < 2) {
		fputs(user_usage, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(user_usage, stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "add") == 0)
		return user_add(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0) {
		rc = list_or_one("user list", user_usage, argc - 1, argv + 1,
				 NULL, &username);
		if (rc >= 0)
			return rc;
		return show("SELECT username, role, coalesce(region_code, '-')"
			    " AS region, coalesce(display_name, '') AS name,"
			    " CASE WHEN disabled_at IS NULL THEN 'active'"
			    " ELSE 'disabled' END AS state,"
			    " (SELECT count(*) FROM api_token t WHERE"
			    " t.user_id = u.id AND t.revoked_at IS NULL AND"
			    " t.expires_at > now()) AS tokens"
			    " FROM app_user u WHERE $1::text IS NULL"
			    " ORDER BY username",
			    NULL);
	}
	if (strcmp(argv[1], "disable") == 0) {
		rc = list_or_one("user disable", user_usage, argc - 1, argv + 1,
				 "username", &username);
		if (rc >= 0)
			return rc;
		if (!username)
			return cli_usage_error("user disable",
					       "--username is required");
		rc = EXIT_FAIL;
		if (cli_connect(&db, false, &e) == 0 &&
		    auth_user_disable(db, username, &e) == 0) {
			printf("user %s disabled\n", username);
			rc = EXIT_OK;
		} else {
			rc = cli_fail(&e, false);
		}
		db_close(db);
		return rc;
	}
	return cli_usage_error("user", "unknown subcommand \"%.40s\"", argv[1]);
}

static int token_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{"username", required_argument, NULL, 'u'},
		{"label", required_argument, NULL, 'l'},
		{"days", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *username = NULL, *label = "cli";
	char token[AUTH_TOKEN_MAX];
	struct db *db = NULL;
	struct err e = {0};
	int64_t days = 365, id;
	int c, rc = EXIT_FAIL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u': username = optarg; break;
		case 'l': label = optarg; break;
		case 'd':
			if (parse_int64(optarg, 1, 3650, &days, "days", &e) < 0)
				return cli_fail(&e, true);
			break;
		case 'h': fputs(token_usage, stdout); return EXIT_OK;
		default: return cli_bad_option("token create", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("token create", "unexpected argument %s",
				       argv[optind]);
	if (!username)
		return cli_usage_error("token create",
				       "--username is required");
	if (validate_text(label, 200, false, "label", &e) < 0)
		return cli_fail(&e, true);
	if (cli_connect(&db, false, &e) < 0 ||
	    auth_token_create(db, username, label, (int)days, token, &id, &e) <
		    0)
		goto out;
	printf("%s\n", token);
	fprintf(stderr,
		"token %lld for %s, valid %lld days: shown once, keep "
		"it secret\n",
		(long long)id, username, (long long)days);
	rc = EXIT_OK;
out:
	sodium_memzero(token, sizeof(token));
	if (rc != EXIT_OK)
		rc = cli_fail(&e, false);
	db_close(db);
	return rc;
}

int cmd_token(int argc, char **argv)
{
	const char *value = NULL;
	struct db *db = NULL;
	struct err e = {0};
	int64_t id;
	int rc;

	if (argc < 2) {
		fputs(token_usage, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(token_usage, stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "create") == 0)
		return token_create(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0) {
		rc = list_or_one("token list", token_usage, argc - 1, argv + 1,
				 "username", &value);
		if (rc >= 0)
			return rc;
		return show(
			"SELECT t.id, u.username, t.label,"
			" to_char(t.created_at, 'YYYY-MM-DD') AS created,"
			" to_char(t.expires_at, 'YYYY-MM-DD') AS expires,"
			" CASE WHEN t.revoked_at IS NOT NULL THEN 'revoked'"
			" WHEN t.expires_at <= now() THEN 'expired'"
			" ELSE 'active' END AS state,"
			" coalesce(to_char(t.last_used_at,"
			" 'YYYY-MM-DD HH24:MI'), '-') AS last_used"
			" FROM api_token t JOIN app_user u ON u.id = t.user_id"
			" WHERE $1::text IS NULL OR u.username = $1"
			" ORDER BY t.id",
			value);
	}
	if (strcmp(argv[1], "revoke") == 0) {
		rc = list_or_one("token revoke", token_usage, argc - 1,
				 argv + 1, "id", &value);
		if (rc >= 0)
			return rc;
		if (!value)
			return cli_usage_error("token revoke",
					       "--id is required");
		if (parse_int64(value, 1, INT64_MAX, &id, "id", &e) < 0)
			return cli_fail(&e, true);
		rc = EXIT_FAIL;
		if (cli_connect(&db, false, &e) == 0 &&
		    auth_token_revoke(db, id, &e) == 0) {
			printf("token %lld revoked\n", (long long)id);
			rc = EXIT_OK;
		} else {
			rc = cli_fail(&e, false);
		}
		db_close(db);
		return rc;
	}
	return cli_usage_error("token", "unknown subcommand \"%.40s\"",
			       argv[1]);
}
