/*
 * cmd_serve.c -- `lagerbild serve`: the HTTP service, with its built-in
 * routes (/healthz, /readyz, /metrics) ahead of the API's (api.h).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "alerts.h"
#include "api.h"
#include "cli.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "settings.h"
#include "validate.h"

/* Alive: the process answers.  No database, so it says nothing of it. */
static void get_healthz(struct http_request *req, struct http_response *res)
{
	(void)req;
	http_json(res, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready: the database answers too.  Any failure is "not ready", 503. */
static void get_readyz(struct http_request *req, struct http_response *res)
{
	struct err e = {0};
	PGresult *r = db_exec(req->db, "SELECT 1", 0, NULL, &e);

	if (!r) {
		e.code = ERR_UNAVAILABLE;
		http_error_from(res, &e);
		return;
	}
	PQclear(r);
	http_json(res, 200,
		  json_pack("{s:s,s:s}", "status", "ok", "database", "ok"));
}

static void get_metrics(struct http_request *req, struct http_response *res)
{
	char *text = metrics_render();

	(void)req;
	if (!text) {
		http_error(res, 500, "internal", NULL, "out of memory");
		return;
	}
	res->status = 200;
	res->text = text;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static const struct http_route builtin_routes[] = {
	{"GET", "/healthz", get_healthz, HTTP_PUBLIC, "healthz"},
	{"GET", "/readyz", get_readyz, HTTP_PUBLIC | HTTP_DB, "readyz"},
	{"GET", "/metrics", get_metrics, HTTP_PUBLIC, "metrics"},
};

#define NBUILTIN (sizeof(builtin_routes) / sizeof(builtin_routes[0]))

/*
 * Every worker connection acts as the application role, which owns
 * nothing, so that row-level security applies to all the service does;
 * and only on the schema this build makes (migrate_check), so that a
 * service upgraded without lagerbild migrate says so rather than fail
 * or write in ways its schema does not expect.
 */
static int as_app(struct db *db, struct err *e)
{
	if (db_set_app_role(db, e) < 0)
		return -1;
	return migrate_check(db, embedded_migrations, embedded_migrations_count,
			     e);
}

/* A numeric setting already checked by settings_load. */
static int64_t setting_int(const char *name, int64_t min, int64_t max,
			   struct err *e, int *rc)
{
	int64_t v = 0;

	if (*rc == 0 &&
	    parse_int64(settings_get(name), min, max, &v, name, e) < 0)
		*rc = -1;
	return v;
}

int cmd_serve(int argc, char **argv)
{
	static const char usage[] =
		"Usage: lagerbild serve [--listen ADDR] [--threads N]\n\n"
		"Serve the HTTP JSON API, /healthz, /readyz (checks the\n"
		"database) and /metrics (Prometheus) until SIGTERM or SIGINT,\n"
		"then finish the requests in flight and exit 0.\n\n"
		"  --listen ADDR  ADDRESS:PORT or [IPV6]:PORT, numeric; port 0\n"
		"                 picks a free one, which the log shows\n"
		"                 (LAGERBILD_LISTEN, default 127.0.0.1:8080)\n"
		"  --threads N    worker threads, each with one database\n"
		"                 connection (LAGERBILD_THREADS, default 4)\n\n"
		"Limits come from LAGERBILD_MAX_BODY, LAGERBILD_MAX_HEADER,\n"
		"LAGERBILD_MAX_CONNECTIONS and LAGERBILD_TIMEOUT (lagerbild\n"
		"config shows them).  The database comes from DATABASE_URL or\n"
		"the PG* variables; the service acts as " DB_APP_ROLE ".\n";
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"threads", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct http_config cfg = {.on_connect = as_app};
	struct http_route *routes = NULL;
	struct sockaddr_storage ss;
	struct sigaction ign = {.sa_handler = SIG_IGN};
	struct err e = {0};
	int64_t threads, alert_interval;
	int c, bad = 0, rc = EXIT_FAIL;

	cfg.listen = settings_get("listen");
	threads = setting_int("threads", 1, HTTP_THREADS_MAX, &e, &bad);
	cfg.max_body = (size_t)setting_int("max_body", HTTP_MAX_BODY_MIN,
					   HTTP_MAX_BODY_MAX, &e, &bad);
	cfg.max_upload =
		(size_t)setting_int("max_upload", HTTP_MAX_BODY_MIN,
				    (int64_t)HTTP_MAX_UPLOAD_MAX, &e, &bad);
	cfg.max_header = (size_t)setting_int("max_header", HTTP_MAX_HEADER_MIN,
					     HTTP_MAX_HEADER_MAX, &e, &bad);
	cfg.max_connections = (unsigned)setting_int(
		"max_connections", 1, HTTP_MAX_CONNECTIONS_MAX, &e, &bad);
	cfg.timeout_s =
		(unsigned)setting_int("timeout", 1, HTTP_TIMEOUT_MAX, &e, &bad);
	alert_interval = setting_int("alert_interval", 0, 86400, &e, &bad);
	if (bad)
		return cli_fail(&e, true);

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (http_parse_listen(optarg, &ss, "--listen", &e) < 0)
				return cli_fail(&e, true);
			cfg.listen = optarg;
			break;
		case 't':
			if (parse_int64(optarg, 1, HTTP_THREADS_MAX, &threads,
					"--threads", &e) < 0)
				return cli_fail(&e, true);
			break;
		case 'h': fputs(usage, stdout); return EXIT_OK;
		default: return cli_bad_option("serve", argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument %s",
				       argv[optind]);
	cfg.threads = (int)threads;
	cfg.conninfo = settings_get("database_url");

	/* A client that hangs up must not kill the server mid-write. */
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, NULL);

	routes = calloc(NBUILTIN + api_routes_count, sizeof(*routes));
	if (!routes) {
		err_set(&e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	memcpy(routes, builtin_routes, sizeof(builtin_routes));
	if (api_routes_count > 0)
		memcpy(routes + NBUILTIN, api_routes,
		       api_routes_count * sizeof(*routes));
	/* The alert thread: sweeps, and evaluates what writes touch. */
	if (alerts_worker_start(cfg.conninfo, (int)alert_interval, &e) < 0)
		goto out;
	if (http_serve(&cfg, routes, NBUILTIN + api_routes_count, &e) < 0)
		goto out;
	rc = EXIT_OK;
out:
	alerts_worker_stop();
	free(routes);
	/* A bad setting or listen address is a usage error: exit 2. */
	if (rc != EXIT_OK)
		rc = cli_fail(&e, true);
	return rc;
}
