/*
 * settings.c -- the settings table.
 *
 * Secrets are never printed: a value marked secret shows as "(set)".
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http.h"
#include "log.h"
#include "mailer.h"
#include "settings.h"
#include "validate.h"
#include "verify.h"

struct setting {
	const char *name;
	const char *env;
	const char *def; /* NULL: no default */
	bool secret;
	int (*check)(const char *value, const char *field, struct err *e);
	const char *description;
	const char *value; /* after settings_load */
	const char *origin;
};

static int check_log_level(const char *v, const char *field, struct err *e)
{
	enum log_level level;

	if (log_level_parse(v, &level) < 0)
		return err_set(e, ERR_INVALID, field,
			       "%s \"%.20s\": not one of debug, info, "
			       "warning, error",
			       field, v);
	return 0;
}

static int check_actor(const char *v, const char *field, struct err *e)
{
	return validate_text(v, 200, false, field, e);
}

static int check_listen(const char *v, const char *field, struct err *e)
{
	struct sockaddr_storage ss;

	return http_parse_listen(v, &ss, field, e);
}

static int check_range(const char *v, int64_t min, int64_t max,
		       const char *field, struct err *e)
{
	int64_t n;

	return parse_int64(v, min, max, &n, field, e);
}

static int check_threads(const char *v, const char *field, struct err *e)
{
	return check_range(v, 1, HTTP_THREADS_MAX, field, e);
}

static int check_max_body(const char *v, const char *field, struct err *e)
{
	return check_range(v, HTTP_MAX_BODY_MIN, HTTP_MAX_BODY_MAX, field, e);
}

static int check_max_upload(const char *v, const char *field, struct err *e)
{
	return check_range(v, HTTP_MAX_BODY_MIN, (int64_t)HTTP_MAX_UPLOAD_MAX,
			   field, e);
}

static int check_max_header(const char *v, const char *field, struct err *e)
{
	return check_range(v, HTTP_MAX_HEADER_MIN, HTTP_MAX_HEADER_MAX, field,
			   e);
}

static int check_max_connections(const char *v, const char *field,
				 struct err *e)
{
	return check_range(v, 1, HTTP_MAX_CONNECTIONS_MAX, field, e);
}

static int check_timeout(const char *v, const char *field, struct err *e)
{
	return check_range(v, 1, HTTP_TIMEOUT_MAX, field, e);
}

static int check_alert_interval(const char *v, const char *field, struct err *e)
{
	return check_range(v, 0, 86400, field, e);
}

static int check_verify_full_interval(const char *v, const char *field,
				      struct err *e)
{
	return check_range(v, 0, VERIFY_FULL_EVERY_MAX, field, e);
}

static int check_smtp_url(const char *v, const char *field, struct err *e)
{
	return mailer_check_url(v, field, NULL, e);
}

static int check_smtp_text(const char *v, const char *field, struct err *e)
{
	return validate_text(v, 4096, false, field, e);
}

static struct setting settings[] = {
	{"database_url", "DATABASE_URL", NULL, true, NULL,
	 "libpq connection string or URI; unset: the PG* variables", NULL,
	 NULL},
	{"log_level", "LAGERBILD_LOG_LEVEL", "info", false, check_log_level,
	 "lowest level logged to stderr: debug, info, warning, error", NULL,
	 NULL},
	{"actor", "LAGERBILD_ACTOR", NULL, false, check_actor,
	 "who the command line acts as; unset: cli:<OS user>", NULL, NULL},
	{"listen", "LAGERBILD_LISTEN", "127.0.0.1:8080", false, check_listen,
	 "serve: ADDRESS:PORT or [IPV6]:PORT to listen on", NULL, NULL},
	{"threads", "LAGERBILD_THREADS", "4", false, check_threads,
	 "serve: worker threads, one database connection each", NULL, NULL},
	{"max_body", "LAGERBILD_MAX_BODY", "1048576", false, check_max_body,
	 "serve: largest request body in bytes; larger gets 413", NULL, NULL},
	{"max_upload", "LAGERBILD_MAX_UPLOAD", "1073741824", false,
	 check_max_upload,
	 "serve: largest import upload in bytes (spooled to $TMPDIR)", NULL,
	 NULL},
	{"max_header", "LAGERBILD_MAX_HEADER", "16384", false, check_max_header,
	 "serve: bytes for request line and headers; larger gets 431", NULL,
	 NULL},
	{"max_connections", "LAGERBILD_MAX_CONNECTIONS", "256", false,
	 check_max_connections, "serve: most client connections at once", NULL,
	 NULL},
	{"timeout", "LAGERBILD_TIMEOUT", "30", false, check_timeout,
	 "serve: seconds before an idle connection is closed", NULL, NULL},
	{"alert_interval", "LAGERBILD_ALERT_INTERVAL", "300", false,
	 check_alert_interval,
	 "serve: seconds between alert sweeps; 0: no alert thread, no "
	 "incremental evaluation",
	 NULL, NULL},
	{"verify_full_interval", "LAGERBILD_VERIFY_FULL_INTERVAL", "86400",
	 false, check_verify_full_interval,
	 "alerts run: seconds between full ledger verifies; in between it "
	 "verifies the events since the last (0: always full)",
	 NULL, NULL},
	{"smtp_url", "LAGERBILD_SMTP_URL", NULL, false, check_smtp_url,
	 "alert email relay: smtps://HOST[:PORT], smtp://HOST[:PORT] "
	 "(STARTTLS), or smtp:// to loopback; unset: no email",
	 NULL, NULL},
	{"smtp_from", "LAGERBILD_SMTP_FROM", NULL, false, mailer_check_address,
	 "alert email: the sender address", NULL, NULL},
	{"smtp_user", "LAGERBILD_SMTP_USER", NULL, false, check_smtp_text,
	 "alert email: SMTP AUTH user; unset: no AUTH", NULL, NULL},
	{"smtp_password_file", "LAGERBILD_SMTP_PASSWORD_FILE", NULL, false,
	 check_smtp_text,
	 "alert email: file whose first line is the SMTP password", NULL, NULL},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

int settings_load(struct err *e)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		struct setting *s = &settings[i];
		const char *v = getenv(s->env);

		if (v && v[0]) {
			if (s->check && s->check(v, s->env, e) < 0)
				return -1;
			s->value = v;
			s->origin = s->env;
		} else {
			s->value = s->def;
			s->origin = "default";
		}
	}
	/* The email settings only make sense together. */
	if (mailer_settings_check(settings_get("smtp_url"),
				  settings_get("smtp_from"),
				  settings_get("smtp_user"),
				  settings_get("smtp_password_file"), e) < 0)
		return -1;
	return 0;
}

const char *settings_get(const char *name)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].name, name) == 0)
			return settings[i].value;
	return NULL;
}

void settings_print(FILE *out)
{
	fprintf(out, "%-14s %-24s %-20s %s\n", "name", "value", "origin",
		"description");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *v =
			s->value ? (s->secret ? "(set)" : s->value) : "(unset)";

		fprintf(out, "%-14s %-24.60s %-20s %s\n", s->name, v, s->origin,
			s->description);
	}
}
