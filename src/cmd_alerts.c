/*
 * cmd_alerts.c -- `lagerbild alerts list|show|ack|run|deliver`,
 * `lagerbild alerts webhooks add|list|remove` and
 * `lagerbild alerts email add|list|remove`.
 *
 * Runs as the application role with the system identity (cli_connect), so
 * the alert tables' policies apply as they do to the server's own alert
 * thread.  `alerts run` is what a timer calls: refresh the readiness
 * rollup, sweep every rule (with verify for ledger drift), deliver due
 * webhooks.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "alerts.h"
#include "catalog.h"
#include "cli.h"
#include "mailer.h"
#include "reports.h"
#include "settings.h"
#include "validate.h"
#include "webhook.h"

static const char usage[] =
	"Usage: lagerbild alerts list [--status S] [--rule R] [--region RR]\n"
	"                             [--severity S] [--limit N]\n"
	"       lagerbild alerts show ID\n"
	"       lagerbild alerts ack ID --note TEXT\n"
	"       lagerbild alerts run [--no-verify] [--no-refresh]\n"
	"                            [--no-deliver] [--expiry-days N]\n"
	"                            [--stale-days N] [--window N]\n"
	"       lagerbild alerts deliver [--limit N]\n"
	"       lagerbild alerts webhooks add URL [--region RR]...\n"
	"                 [--category C]... [--rule R]... [--min-severity S]\n"
	"                 [--description TEXT]\n"
	"       lagerbild alerts webhooks list\n"
	"       lagerbild alerts webhooks remove ID\n"
	"       lagerbild alerts email add --to ADDRESS [--region RR]...\n"
	"                 [--category C]... [--rule R]... [--min-severity S]\n"
	"                 [--description TEXT]\n"
	"       lagerbild alerts email list\n"
	"       lagerbild alerts email remove ID\n\n"
	"list: status open, acknowledged, resolved, active (default: open or\n"
	"acknowledged) or all; severity: at least info, warning or critical.\n"
	"run: readiness refresh, every rule over everything, ledger drift by\n"
	"verify (--no-verify skips it), then due webhook deliveries; for a\n"
	"timer.  Lots expiring within --expiry-days (default 90); stale\n"
	"reporting after --stale-days (default 7).\n"
	"deliver: due webhooks, and due emails when LAGERBILD_SMTP_URL is set.\n"
	"email add: a plain address (name@host.domain); mail goes through the\n"
	"relay of LAGERBILD_SMTP_URL, from LAGERBILD_SMTP_FROM.\n"
	"webhooks add prints the subscription's secret once.  Rules: stockout,\n"
	"below_floor, below_target, expiring_lots, shortage_notice,\n"
	"stale_reporting, region_disaster, ledger_drift.\n";

#define LIST_MAX 64

/* The options of a subscription's filter, for the option tables of
 * `alerts webhooks add` and `alerts email add`; filter_opt takes them. */
/* clang-format off */
#define FILTER_OPTIONS \
	{"region", required_argument, NULL, 'R'}, \
	{"category", required_argument, NULL, 'c'}, \
	{"rule", required_argument, NULL, 'r'}, \
	{"min-severity", required_argument, NULL, 's'}, \
	{"description", required_argument, NULL, 'd'}
/* clang-format on */

/* A subscription's filter as the options give it.  The filter points into
 * the lists here, so a filter_args must not be copied. */
struct filter_args {
	const char *regions[LIST_MAX], *categories[LIST_MAX], *rules[LIST_MAX];
	struct alerts_filter f;
};

/* Empty a: no options yet, a filter matching everything. */
static void filter_args_init(struct filter_args *a)
{
	a->f = (struct alerts_filter){.regions = a->regions,
				      .categories = a->categories,
				      .rules = a->rules};
}

/*
 * Take the option getopt_long returned as c, with its argument arg, into
 * a if it is one of FILTER_OPTIONS.  1 if it was, 0 if c is some other
 * option, or -1 after a usage error for cmd (a list already full).
 */
static int filter_opt(struct filter_args *a, int c, const char *arg,
		      const char *cmd)
{
	const char **list;
	size_t *n;

	switch (c) {
	case 'R':
		list = a->regions;
		n = &a->f.nregions;
		break;
	case 'c':
		list = a->categories;
		n = &a->f.ncategories;
		break;
	case 'r':
		list = a->rules;
		n = &a->f.nrules;
		break;
	case 's': a->f.min_severity = arg; return 1;
	case 'd': a->f.description = arg; return 1;
	default: return 0;
	}
	if (*n == LIST_MAX) {
		cli_usage_error(cmd, "at most %d of each filter", LIST_MAX);
		return -1;
	}
	list[(*n)++] = arg;
	return 1;
}

static int finish(int rc, struct err *e, struct db *db, PGresult *res)
{
	if (rc != EXIT_OK)
		rc = cli_fail(e, e->code == ERR_INVALID);
	PQclear(res);
	db_close(db);
	return rc;
}

static int alerts_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{"status", required_argument, NULL, 's'},
		{"rule", required_argument, NULL, 'r'},
		{"region", required_argument, NULL, 'R'},
		{"severity", required_argument, NULL, 'v'},
		{"limit", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *params[5] = {"active", NULL, NULL, NULL, "100"};
	struct db *db = NULL;
	struct err e = {0};
	PGresult *res = NULL;
	int64_t limit;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': params[0] = optarg; break;
		case 'r': params[1] = optarg; break;
		case 'R': params[2] = optarg; break;
		case 'v': params[3] = optarg; break;
		case 'l':
			if (parse_int64(optarg, 1, 100000, &limit, "--limit",
					&e) < 0)
				return cli_fail(&e, true);
			params[4] = optarg;
			break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option("alerts list", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("alerts list", "unexpected argument %s",
				       argv[optind]);
	if (strcmp(params[0], "open") != 0 &&
	    strcmp(params[0], "acknowledged") != 0 &&
	    strcmp(params[0], "resolved") != 0 &&
	    strcmp(params[0], "active") != 0 && strcmp(params[0], "all") != 0)
		return cli_usage_error(
			"alerts list",
			"--status %.40s: not open, acknowledged, "
			"resolved, active or all",
			params[0]);
	if ((params[1] && alerts_rule_check(params[1], "--rule", &e) < 0) ||
	    (params[2] &&
	     validate_region_code(params[2], "--region", &e) < 0) ||
	    (params[3] &&
	     alerts_severity_check(params[3], "--severity", &e) < 0))
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0)
		return finish(EXIT_FAIL, &e, db, res);
	res = db_exec(db,
		      "SELECT a.id, a.rule::text AS rule,"
		      " a.severity::text AS severity,"
		      " CASE WHEN a.resolved_at IS NOT NULL THEN 'resolved'"
		      "  WHEN a.acknowledged_at IS NOT NULL THEN 'acknowledged'"
		      "  ELSE 'open' END AS status,"
		      " coalesce(a.region_code, '-') AS region, a.title,"
		      " to_char(a.opened_at AT TIME ZONE 'Europe/Stockholm',"
		      "  'YYYY-MM-DD HH24:MI') AS opened"
		      " FROM alert a"
		      " WHERE CASE $1"
		      "  WHEN 'open' THEN a.resolved_at IS NULL"
		      "   AND a.acknowledged_at IS NULL"
		      "  WHEN 'acknowledged' THEN a.resolved_at IS NULL"
		      "   AND a.acknowledged_at IS NOT NULL"
		      "  WHEN 'resolved' THEN a.resolved_at IS NOT NULL"
		      "  WHEN 'active' THEN a.resolved_at IS NULL"
		      "  ELSE true END"
		      " AND ($2::alert_rule IS NULL OR a.rule = $2)"
		      " AND ($3::char(2) IS NULL OR a.region_code = $3)"
		      " AND ($4::alert_severity IS NULL OR a.severity >= $4)"
		      " ORDER BY a.id DESC LIMIT $5::int",
		      5, params, &e);
	if (!res)
		return finish(EXIT_FAIL, &e, db, res);
	report_write(stdout, REPORT_TABLE, res, NULL);
	return finish(EXIT_OK, &e, db, res);
}

/* The ID argument of show and ack. */
static int id_arg(const char *cmd, int argc, char **argv, const char **id)
{
	struct err e = {0};
	int64_t v;

	if (optind >= argc)
		return cli_usage_error(cmd, "the alert's ID is required");
	if (optind + 1 < argc)
		return cli_usage_error(cmd, "unexpected argument %s",
				       argv[optind + 1]);
	if (parse_int64(argv[optind], 1, INT64_MAX, &v, "ID", &e) < 0)
		return cli_fail(&e, true);
	*id = argv[optind];
	return -1;
}

static int alerts_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *params[1];
	struct db *db = NULL;
	struct err e = {0};
	PGresult *res = NULL;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		return cli_bad_option("alerts show", argv);
	}
	if ((rc = id_arg("alerts show", argc, argv, &params[0])) >= 0)
		return rc;
	if (cli_connect(&db, true, &e) < 0)
		return finish(EXIT_FAIL, &e, db, res);
	res = db_exec(db,
		      "SELECT jsonb_pretty(alert_json(a) || jsonb_build_object("
		      " 'history', (SELECT coalesce(jsonb_agg(to_jsonb(h)"
		      "  - 'alert_id' ORDER BY h.id), '[]') FROM alert_event h"
		      "  WHERE h.alert_id = a.id)))"
		      " FROM alert a WHERE a.id = $1::bigint",
		      1, params, &e);
	if (!res)
		return finish(EXIT_FAIL, &e, db, res);
	if (PQntuples(res) == 0) {
		err_set(&e, ERR_NOT_FOUND, "ID", "alert %s: no such alert",
			params[0]);
		return finish(EXIT_FAIL, &e, db, res);
	}
	printf("%s\n", db_text(res, 0, 0));
	return finish(EXIT_OK, &e, db, res);
}

static int alerts_ack(int argc, char **argv)
{
	static const struct option opts[] = {
		{"note", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *params[2] = {NULL, NULL};
	struct db *db = NULL;
	struct err e = {0};
	PGresult *res = NULL;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': params[1] = optarg; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option("alerts ack", argv);
		}
	}
	if ((rc = id_arg("alerts ack", argc, argv, &params[0])) >= 0)
		return rc;
	if (!params[1])
		return cli_usage_error("alerts ack", "--note is required");
	if (validate_text(params[1], 1000, false, "--note", &e) < 0)
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0)
		return finish(EXIT_FAIL, &e, db, res);
	res = db_exec(db, "SELECT alert_acknowledge($1::bigint, $2)->>'title'",
		      2, params, &e);
	if (!res)
		return finish(EXIT_FAIL, &e, db, res);
	printf("alert %s acknowledged: %s\n", params[0], db_text(res, 0, 0));
	return finish(EXIT_OK, &e, db, res);
}

static int days_opt(const char *s, const char *name, int min, int max, int *out,
		    struct err *e)
{
	int64_t v;

	if (parse_int64(s, min, max, &v, name, e) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int alerts_run_cmd(int argc, char **argv)
{
	static const struct option opts[] = {
		{"no-verify", no_argument, NULL, 'V'},
		{"no-refresh", no_argument, NULL, 'F'},
		{"no-deliver", no_argument, NULL, 'D'},
		{"expiry-days", required_argument, NULL, 'x'},
		{"stale-days", required_argument, NULL, 's'},
		{"window", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct alerts_options o;
	struct alerts_counts n;
	struct db *db = NULL;
	struct err e = {0};
	int c;

	alerts_options_default(&o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'V': o.verify = false; break;
		case 'F': o.refresh = false; break;
		case 'D': o.deliver = false; break;
		case 'x':
			if (days_opt(optarg, "--expiry-days", 1, 3650,
				     &o.expiry_days, &e) < 0)
				return cli_fail(&e, true);
			break;
		case 's':
			if (days_opt(optarg, "--stale-days", 1, 3650,
				     &o.stale_days, &e) < 0)
				return cli_fail(&e, true);
			break;
		case 'w':
			if (days_opt(optarg, "--window", 1, 366, &o.window_days,
				     &e) < 0)
				return cli_fail(&e, true);
			break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option("alerts run", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("alerts run", "unexpected argument %s",
				       argv[optind]);
	if (cli_connect(&db, true, &e) < 0 || alerts_run(db, &o, &n, &e) < 0)
		return finish(EXIT_FAIL, &e, db, NULL);
	printf("alerts: %lld conditions hold; %lld opened, %lld updated, "
	       "%lld resolved",
	       (long long)n.conditions, (long long)n.opened,
	       (long long)n.updated, (long long)n.resolved);
	if (o.verify)
		printf("; verify: %lld drifts", (long long)n.drifts);
	printf("\n");
	return finish(EXIT_OK, &e, db, NULL);
}

static int alerts_deliver(int argc, char **argv)
{
	static const struct option opts[] = {
		{"limit", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct webhook_options o;
	struct webhook_counts n;
	struct mailer_options mo;
	struct webhook_counts m;
	struct db *db = NULL;
	struct err e = {0};
	int c;

	webhook_options_default(&o);
	mailer_options_default(&mo);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (days_opt(optarg, "--limit", 1, 100000, &o.limit,
				     &e) < 0)
				return cli_fail(&e, true);
			mo.limit = o.limit;
			break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option("alerts deliver", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("alerts deliver",
				       "unexpected argument %s", argv[optind]);
	if (cli_connect(&db, true, &e) < 0 ||
	    webhook_deliver_due(db, &o, &n, &e) < 0)
		return finish(EXIT_FAIL, &e, db, NULL);
	printf("webhooks: %lld attempted, %lld delivered, %lld to retry, "
	       "%lld given up\n",
	       (long long)n.attempted, (long long)n.delivered,
	       (long long)n.retrying, (long long)n.failed);
	if (!mo.url) {
		printf("email: off (LAGERBILD_SMTP_URL is not set)\n");
		return finish(EXIT_OK, &e, db, NULL);
	}
	if (mailer_deliver_due(db, &mo, &m, &e) < 0)
		return finish(EXIT_FAIL, &e, db, NULL);
	printf("email: %lld attempted, %lld delivered, %lld to retry, "
	       "%lld given up\n",
	       (long long)m.attempted, (long long)m.delivered,
	       (long long)m.retrying, (long long)m.failed);
	return finish(EXIT_OK, &e, db, NULL);
}

static int webhooks_add(int argc, char **argv)
{
	static const struct option opts[] = {
		FILTER_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct filter_args a;
	struct webhook_spec s = {0};
	char secret[WEBHOOK_SECRET_HEX] = "";
	struct db *db = NULL;
	struct err e = {0};
	int64_t id;
	int c, rc = EXIT_FAIL;

	filter_args_init(&a);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int taken = filter_opt(&a, c, optarg, "alerts webhooks add");

		if (taken < 0)
			return EXIT_USAGE;
		if (taken)
			continue;
		switch (c) {
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option("alerts webhooks add", argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("alerts webhooks add",
				       "the URL is required");
	if (optind + 1 < argc)
		return cli_usage_error("alerts webhooks add",
				       "unexpected argument %s",
				       argv[optind + 1]);
	s = (struct webhook_spec){.url = argv[optind], .filter = a.f};
	if (webhook_spec_check(&s, &e) < 0)
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0 || db_begin(db, &e) < 0)
		goto out;
	if (webhook_subscribe(db, &s, &id, secret, &e) < 0 ||
	    db_commit(db, &e) < 0) {
		db_rollback(db);
		goto out;
	}
	printf("webhook %lld: %s\nsecret (shown once): %s\n", (long long)id,
	       s.url, secret);
	rc = EXIT_OK;
out:
	sodium_memzero(secret, sizeof(secret));
	return finish(rc, &e, db, NULL);
}

/* A kind of notification subscription, for `alerts webhooks|email`. */
struct sub_kind {
	const char *cmd;  /* "alerts webhooks" */
	const char *noun; /* "webhook", in messages */
	int (*add)(int argc, char **argv);
	const char *list_sql;
	const char *remove_sql; /* $1 the id; RETURNING it */
	bool email;		/* say when email is off here */
};

/* What a subscription list shows of the filters, for either kind ("*":
 * every one), from the subscription s. */
#define SUB_FILTER_COLUMNS                                                  \
	" coalesce(array_to_string(s.regions, ','), '*') AS regions,"       \
	" coalesce(array_to_string(s.categories, ','), '*') AS categories," \
	" coalesce(array_to_string(s.rules, ','), '*') AS rules,"           \
	" s.min_severity::text AS min_severity,"

static const struct sub_kind webhook_kind = {
	"alerts webhooks",
	"webhook",
	webhooks_add,
	"SELECT s.id, s.url, s.active," SUB_FILTER_COLUMNS
	" (SELECT count(*) FROM webhook_delivery d"
	"  WHERE d.subscription_id = s.id"
	"  AND d.status = 'pending') AS pending,"
	" (SELECT count(*) FROM webhook_delivery d"
	"  WHERE d.subscription_id = s.id"
	"  AND d.status = 'failed') AS failed"
	" FROM webhook_subscription s ORDER BY s.id",
	"UPDATE webhook_subscription SET active = false,"
	" deactivated_at = coalesce(deactivated_at, now())"
	" WHERE id = $1::bigint RETURNING id",
	false};

/* The subcommands of a subscription kind: add, list, remove. */
static int subscriptions(const struct sub_kind *k, int argc, char **argv)
{
	struct db *db = NULL;
	struct err e = {0};
	PGresult *res = NULL;
	const char *params[1];
	char what[64];
	int64_t id;

	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "add") == 0) {
		optind = 1;
		return k->add(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "list") == 0) {
		if (argc > 2) {
			snprintf(what, sizeof(what), "%s list", k->cmd);
			return cli_usage_error(what, "unexpected argument %s",
					       argv[2]);
		}
		if (cli_connect(&db, true, &e) < 0)
			return finish(EXIT_FAIL, &e, db, res);
		res = db_exec(db, k->list_sql, 0, NULL, &e);
		if (!res)
			return finish(EXIT_FAIL, &e, db, res);
		report_write(stdout, REPORT_TABLE, res, NULL);
		if (k->email && !settings_get("smtp_url"))
			fprintf(stderr, "note: email is off here "
					"(LAGERBILD_SMTP_URL is not set)\n");
		return finish(EXIT_OK, &e, db, res);
	}
	if (strcmp(argv[1], "remove") == 0) {
		if (argc != 3) {
			snprintf(what, sizeof(what), "%s remove", k->cmd);
			return cli_usage_error(what,
					       "give one subscription ID");
		}
		if (parse_int64(argv[2], 1, INT64_MAX, &id, "ID", &e) < 0)
			return cli_fail(&e, true);
		params[0] = argv[2];
		if (cli_connect(&db, true, &e) < 0)
			return finish(EXIT_FAIL, &e, db, res);
		res = db_exec(db, k->remove_sql, 1, params, &e);
		if (!res)
			return finish(EXIT_FAIL, &e, db, res);
		if (PQntuples(res) == 0) {
			err_set(&e, ERR_NOT_FOUND, "ID",
				"%s %s: no such subscription", k->noun,
				argv[2]);
			return finish(EXIT_FAIL, &e, db, res);
		}
		printf("%s %s deactivated\n", k->noun, argv[2]);
		return finish(EXIT_OK, &e, db, res);
	}
	return cli_usage_error(k->cmd, "unknown subcommand \"%.40s\"", argv[1]);
}

static int email_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{"to", required_argument, NULL, 't'},
		FILTER_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct filter_args a;
	struct mailer_spec s = {0};
	struct db *db = NULL;
	struct err e = {0};
	int64_t id;
	int c, rc = EXIT_FAIL;

	filter_args_init(&a);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int taken = filter_opt(&a, c, optarg, "alerts email add");

		if (taken < 0)
			return EXIT_USAGE;
		if (taken)
			continue;
		switch (c) {
		case 't': s.to = optarg; break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option("alerts email add", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("alerts email add",
				       "unexpected argument %s", argv[optind]);
	if (!s.to)
		return cli_usage_error("alerts email add", "--to is required");
	s.filter = a.f;
	/* the address first, named as the option the user typed */
	if (mailer_check_address(s.to, "--to", &e) < 0 ||
	    mailer_spec_check(&s, &e) < 0)
		return cli_fail(&e, true);
	if (cli_connect(&db, true, &e) < 0 || db_begin(db, &e) < 0)
		goto out;
	if (mailer_subscribe(db, &s, &id, &e) < 0 || db_commit(db, &e) < 0) {
		db_rollback(db);
		goto out;
	}
	printf("email subscription %lld: %s\n", (long long)id, s.to);
	if (!settings_get("smtp_url"))
		fprintf(stderr, "note: email is off here (LAGERBILD_SMTP_URL "
				"is not set); notices wait until it is set "
				"where alerts are delivered\n");
	rc = EXIT_OK;
out:
	return finish(rc, &e, db, NULL);
}

static const struct sub_kind email_kind = {
	"alerts email",
	"email subscription",
	email_add,
	"SELECT s.id, s.address AS to, s.active," SUB_FILTER_COLUMNS
	" (SELECT count(*) FROM email_delivery d"
	"  WHERE d.subscription_id = s.id"
	"  AND d.status = 'pending') AS pending,"
	" (SELECT count(*) FROM email_delivery d"
	"  WHERE d.subscription_id = s.id"
	"  AND d.status = 'delivered') AS delivered,"
	" (SELECT count(*) FROM email_delivery d"
	"  WHERE d.subscription_id = s.id"
	"  AND d.status = 'failed') AS failed"
	" FROM email_subscription s ORDER BY s.id",
	"UPDATE email_subscription SET active = false,"
	" deactivated_at = coalesce(deactivated_at, now())"
	" WHERE id = $1::bigint RETURNING id",
	true};

int cmd_alerts(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	optind = 1;
	if (strcmp(argv[1], "list") == 0)
		return alerts_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return alerts_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "ack") == 0)
		return alerts_ack(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return alerts_run_cmd(argc - 1, argv + 1);
	if (strcmp(argv[1], "deliver") == 0)
		return alerts_deliver(argc - 1, argv + 1);
	if (strcmp(argv[1], "webhooks") == 0)
		return subscriptions(&webhook_kind, argc - 1, argv + 1);
	if (strcmp(argv[1], "email") == 0)
		return subscriptions(&email_kind, argc - 1, argv + 1);
	return cli_usage_error("alerts", "unknown subcommand \"%.40s\"",
			       argv[1]);
}
