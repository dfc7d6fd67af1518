/*
 * check_cli.c -- the `lagerbild` binary end to end, as an operator runs it.
 *
 * Each test runs the real binary ($LAGERBILD_BIN) as a child process with
 * DATABASE_URL set to the test's own database, and checks the exit status
 * (0 ok, 1 failure, 2 usage), what went to stdout and what to stderr.  The
 * child is started with fork and execve, never through a shell, so that an
 * argument such as an empty --qty reaches it exactly as written; a child
 * still running after RUN_TIMEOUT_S is killed and the test fails.
 *
 * Tables drive the help, usage and failure cases, one row per command line,
 * each row a loop test of its own so that it passes or fails by itself.  A
 * refused command must leave the ledger as it was, so every refusal row
 * counts stock_event before and after.  Data is set up as the owner through
 * tests/testdb.h; events are recorded through the binary itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "suites.h"
#include "testdb.h"

extern char **environ;

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A child that runs longer than this is hung, not slow. */
#define RUN_TIMEOUT_S 60
/* Arguments after the program name, at most. */
#define ARGS_MAX 24
/* Captured output; every command here prints far less. */
#define OUT_MAX (256 * 1024)
#define ERR_MAX (64 * 1024)

/* The catalogue every stocked test starts from. */
#define SITE "01-CL"
#define SITE2 "12-CL"
#define VNR "123456"
#define PRODUCT_NAME "Propofol Test"
#define BASE_KEY "6f1d2c3a-0b4e-4c5d-8e9f-a0b1c2d3e4f5"
#define NO_DB "dbname=does_not_exist"

/* The common head of a `stock record` line for the stocked catalogue. */
#define REC "stock", "record", "--site", SITE, "--product", VNR

/* In a table row, stands for the baseline event's id. */
#define EVENT "@event"

/* What one run of the binary did. */
struct cli_run {
	int code;      /* exit status, or 128 + the signal that killed it */
	char cmd[512]; /* the command line, for messages */
	char out[OUT_MAX];
	size_t out_len;
	char err[ERR_MAX];
	size_t err_len;
	bool cut; /* output beyond the buffers was dropped */
};

/* Static: far too big for the stack. */
static struct cli_run run;
/* This test's database (testdb_create's static storage). */
static const char *dburl;
/* The baseline receipt's event id, as text for EVENT. */
static char base_event[24];

/* ---- running the binary ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * The child's environment: ours (PG* included), with DATABASE_URL set to
 * url, or removed when url is NULL, and without a log level that could hide
 * the diagnostics under test.  The caller frees the array, not the strings.
 */
static char **child_env(const char *url, char *var, size_t size)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	ck_assert_msg(env != NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (has_prefix(environ[i], "DATABASE_URL=") ||
		    has_prefix(environ[i], "LAGERBILD_LOG_LEVEL="))
			continue;
		env[k++] = environ[i];
	}
	if (url) {
		snprintf(var, size, "DATABASE_URL=%s", url);
		env[k++] = var;
	}
	env[k] = NULL;
	return env;
}

/* In the child: wire stdin to /dev/null and the pipes to stdout/stderr. */
__attribute__((noreturn)) static void exec_child(const char *bin, char **argv,
						 char **envp, const int outp[2],
						 const int errp[2])
{
	int nul = open("/dev/null", O_RDONLY);

	if (nul < 0 || dup2(nul, STDIN_FILENO) < 0 ||
	    dup2(outp[1], STDOUT_FILENO) < 0 ||
	    dup2(errp[1], STDERR_FILENO) < 0)
		_exit(126);
	if (nul > STDERR_FILENO)
		close(nul);
	close(outp[0]);
	close(outp[1]);
	close(errp[0]);
	close(errp[1]);
	execve(bin, argv, envp);
	dprintf(STDERR_FILENO, "execve %s: %s\n", bin, strerror(errno));
	_exit(127);
}

/*
 * Read what is there from *fd into buf.  Past the buffer, read and drop,
 * so that a chatty child never blocks on a full pipe.  At end of file the
 * descriptor is closed and *fd set to -1, which poll then ignores.
 */
static void drain(int *fd, char *buf, size_t cap, size_t *len)
{
	char scratch[4096];
	ssize_t n;

	if (*len + 1 < cap)
		n = read(*fd, buf + *len, cap - 1 - *len);
	else
		n = read(*fd, scratch, sizeof(scratch));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	if (*len + 1 < cap) {
		*len += (size_t)n;
		buf[*len] = '\0';
	} else {
		run.cut = true;
	}
}

static void give_up(pid_t pid, struct pollfd *pfd)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	ck_abort_msg("%s: still running after %d s; killed", run.cmd,
		     RUN_TIMEOUT_S);
}

/* Append one argument to run.cmd, quoting an empty one so it shows. */
static void cmd_append(size_t *len, const char *arg)
{
	int n;

	if (*len >= sizeof(run.cmd) - 1)
		return;
	n = snprintf(run.cmd + *len, sizeof(run.cmd) - *len, " %s",
		     arg[0] ? arg : "''");
	if (n > 0)
		*len += (size_t)n;
	if (*len > sizeof(run.cmd) - 1)
		*len = sizeof(run.cmd) - 1;
}

/*
 * Run the binary with args (NULL-terminated, without the program name)
 * against url and wait for it; the result is in run.
 */
static void cli_runv(const char *url, const char *const *args)
{
	const char *bin = getenv("LAGERBILD_BIN");
	char *argv[ARGS_MAX + 2];
	char dbvar[256];
	char **envp;
	int outp[2], errp[2], status = 0;
	struct pollfd pfd[2];
	int64_t deadline;
	size_t n, len;
	pid_t pid, w;

	ck_assert_msg(bin && bin[0], "LAGERBILD_BIN is not set");
	memset(&run, 0, sizeof(run));
	len = (size_t)snprintf(run.cmd, sizeof(run.cmd), "lagerbild");
	argv[0] = (char *)bin;
	for (n = 0; args[n]; n++) {
		ck_assert_msg(n < ARGS_MAX, "%s: too many arguments", run.cmd);
		argv[n + 1] = (char *)args[n];
		cmd_append(&len, args[n]);
	}
	argv[n + 1] = NULL;
	envp = child_env(url, dbvar, sizeof(dbvar));
	if (pipe(outp) < 0 || pipe(errp) < 0)
		ck_abort_msg("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0)
		exec_child(bin, argv, envp, outp, errp);
	free(envp);
	close(outp[1]);
	close(errp[1]);

	deadline = now_ms() + RUN_TIMEOUT_S * 1000;
	pfd[0] = (struct pollfd){.fd = outp[0], .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = errp[0], .events = POLLIN};
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		int64_t left = deadline - now_ms();
		int rc;

		if (left <= 0)
			give_up(pid, pfd);
		rc = poll(pfd, 2, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		ck_assert_msg(rc >= 0, "poll: %s", strerror(errno));
		if (pfd[0].revents)
			drain(&pfd[0].fd, run.out, sizeof(run.out),
			      &run.out_len);
		if (pfd[1].revents)
			drain(&pfd[1].fd, run.err, sizeof(run.err),
			      &run.err_len);
	}
	/* Both pipes are closed; the child may still linger in exit. */
	for (;;) {
		struct timespec pause = {0, 5 * 1000 * 1000};

		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			ck_abort_msg("waitpid: %s", strerror(errno));
		if (now_ms() >= deadline)
			give_up(pid, pfd);
		nanosleep(&pause, NULL);
	}
	if (WIFEXITED(status))
		run.code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		run.code = 128 + WTERMSIG(status);
	else
		run.code = -1;
	ck_assert_msg(!run.cut, "%s: output longer than the capture buffers",
		      run.cmd);
}

/* Run against url with a NULL-terminated argument list. */
__attribute__((sentinel)) static void cli_at(const char *url, ...)
{
	const char *args[ARGS_MAX + 1];
	va_list ap;
	int n = 0;

	va_start(ap, url);
	while ((args[n] = va_arg(ap, const char *)) != NULL) {
		ck_assert_msg(n < ARGS_MAX, "too many arguments");
		n++;
	}
	va_end(ap);
	cli_runv(url, args);
}

/* ---- what a run must have done ---- */

/* Everything a failure message should show about the last run. */
#define RUN_FMT "%s: exit %d\n--- stdout:\n%.1500s\n--- stderr:\n%.1500s"
#define RUN_ARGS run.cmd, run.code, run.out, run.err

static void want_code(int code)
{
	ck_assert_msg(run.code == code, RUN_FMT "\n--- wanted exit %d",
		      RUN_ARGS, code);
}

static void want_out(const char *s)
{
	ck_assert_msg(strstr(run.out, s) != NULL,
		      RUN_FMT "\n--- wanted on stdout: %s", RUN_ARGS, s);
}

static void want_not_out(const char *s)
{
	ck_assert_msg(strstr(run.out, s) == NULL,
		      RUN_FMT "\n--- not wanted on stdout: %s", RUN_ARGS, s);
}

static void want_err(const char *s)
{
	ck_assert_msg(strstr(run.err, s) != NULL,
		      RUN_FMT "\n--- wanted on stderr: %s", RUN_ARGS, s);
}

static void want_no_out(void)
{
	ck_assert_msg(run.out_len == 0, RUN_FMT "\n--- wanted no stdout",
		      RUN_ARGS);
}

static void want_no_err(void)
{
	ck_assert_msg(run.err_len == 0, RUN_FMT "\n--- wanted no stderr",
		      RUN_ARGS);
}

/* The id in "event N recorded..." on stdout. */
static int64_t event_id(void)
{
	char *end;
	long long id;

	ck_assert_msg(has_prefix(run.out, "event "),
		      RUN_FMT "\n--- wanted \"event N\" on stdout", RUN_ARGS);
	id = strtoll(run.out + 6, &end, 10);
	ck_assert_msg(end != run.out + 6 && *end == ' ' && id > 0,
		      RUN_FMT "\n--- no event id", RUN_ARGS);
	return id;
}

/* ---- the database, as its owner ---- */

static int64_t owner_scalar(const char *sql)
{
	struct db *db = testdb_connect();
	int64_t v = testdb_scalar(db, sql);

	db_close(db);
	return v;
}

static int64_t ledger_rows(void)
{
	return owner_scalar("SELECT count(*) FROM stock_event");
}

static void owner_command(const char *sql)
{
	struct db *db = testdb_connect();
	struct err e = {0};
	int rc = db_command(db, sql, 0, NULL, &e);

	db_close(db);
	ck_assert_msg(rc == 0, "%s: %s", sql, e.msg);
}

/* ---- fixtures ---- */

static void setup_empty(void)
{
	dburl = testdb_create();
}

/* Two sites in two regions and one product, no stock. */
static void setup_stocked(void)
{
	struct db *db;

	dburl = testdb_create();
	db = testdb_connect();
	testdb_site(db, "01", SITE);
	testdb_site(db, "12", SITE2);
	testdb_product(db, VNR, PRODUCT_NAME);
	db_close(db);
}

static void teardown(void)
{
	testdb_drop();
	dburl = NULL;
}

/* Receive 10 of lot L1 with BASE_KEY: what the refusal rows refuse against. */
static void baseline(void)
{
	cli_at(dburl, REC, "--kind", "receipt", "--qty", "10", "--lot", "L1",
	       "--expiry", "2030-01-31", "--key", BASE_KEY, NULL);
	want_code(0);
	want_out("balance 10");
	snprintf(base_event, sizeof(base_event), "%lld", (long long)event_id());
}

/* ---- --help everywhere ---- */

static const struct help_case {
	const char *args[4];
	const char *want; /* on stdout, besides "Usage" */
} help_cases[] = {
	{{"--help"}, "Usage: lagerbild COMMAND"},
	{{"-h"}, "Usage: lagerbild COMMAND"},
	{{"help"}, "Usage: lagerbild COMMAND"},
	{{"migrate", "--help"}, "Usage: lagerbild migrate"},
	{{"stock", "--help"}, "Usage: lagerbild stock record|reverse|show"},
	{{"stock", "-h"}, "Usage: lagerbild stock record|reverse|show"},
	{{"stock", "record", "--help"}, "Usage: lagerbild stock record --site"},
	{{"stock", "reverse", "--help"},
	 "Usage: lagerbild stock reverse --event"},
	{{"stock", "show", "--help"}, "Usage: lagerbild stock show"},
	{{"totals", "--help"}, "Usage: lagerbild totals"},
	{{"verify", "--help"}, "Usage: lagerbild verify"},
	{{"demo", "--help"}, "Usage: lagerbild demo"},
	{{"config", "--help"}, "Usage: lagerbild config"},
	{{"user", "--help"}, "Usage: lagerbild user add"},
	{{"user", "add", "--help"}, "Usage: lagerbild user add"},
	{{"user", "list", "--help"}, "Usage: lagerbild user add"},
	{{"user", "disable", "--help"}, "Usage: lagerbild user add"},
	{{"token", "--help"}, "Usage: lagerbild token create"},
	{{"token", "create", "--help"}, "Usage: lagerbild token create"},
	{{"token", "list", "--help"}, "Usage: lagerbild token create"},
	{{"token", "revoke", "--help"}, "Usage: lagerbild token create"},
};

/* Help needs no database: point at none, so that connecting would fail. */
START_TEST(test_help)
{
	const struct help_case *c = &help_cases[_i];

	cli_runv(NO_DB, c->args);
	want_code(0);
	want_out("Usage");
	want_out(c->want);
	want_no_err();
}
END_TEST

/* ---- refusals: usage (2) and failure (1) ---- */

struct refusal {
	const char *pre[ARGS_MAX];  /* run first, must succeed; may be empty */
	const char *args[ARGS_MAX]; /* must be refused */
	const char *want[5];	    /* each on stderr */
};

static const struct refusal usage_cases[] = {
	/* The command line itself. */
	{{0}, {0}, {"Usage: lagerbild COMMAND"}},
	{{0}, {"frobnicate"}, {"unknown command", "frobnicate"}},
	{{0}, {"--frobnicate"}, {"unknown command", "--frobnicate"}},
	{{0}, {"stock"}, {"Usage: lagerbild stock"}},
	{{0}, {"stock", "frobnicate"}, {"unknown subcommand", "frobnicate"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "1", "--frobnicate"},
	 {"stock record", "option --frobnicate is unknown"}},
	{{0}, {"totals", "--frobnicate"}, {"totals", "--frobnicate"}},
	{{0}, {"verify", "--frobnicate"}, {"verify", "--frobnicate"}},
	{{0}, {"migrate", "--frobnicate"}, {"migrate", "--frobnicate"}},
	{{0}, {"config", "--frobnicate"}, {"config", "--frobnicate"}},
	{{0}, {"demo", "--frobnicate"}, {"demo", "--frobnicate"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "1", "extra"},
	 {"stock record", "unexpected argument extra"}},
	{{0}, {"verify", "extra"}, {"verify", "unexpected argument extra"}},
	{{0},
	 {"stock", "show", "--site", SITE, "extra"},
	 {"stock show", "unexpected argument extra"}},
	/* stock record: what is required. */
	{{0},
	 {"stock", "record"},
	 {"--site, --product, --kind and --qty are required"}},
	{{0},
	 {"stock", "record", "--site", SITE, "--kind", "receipt", "--qty", "1"},
	 {"--site, --product, --kind and --qty are required"}},
	{{0},
	 {REC, "--kind", "receipt"},
	 {"--site, --product, --kind and --qty are required"}},
	{{0}, {REC, "--kind", "receipt", "--qty"}, {"option --qty is unknown or needs a value"}},
	/* --qty */
	{{0},
	 {REC, "--kind", "receipt", "--qty", "12a"},
	 {"qty", "\\\"12a\\\"", "not a whole number"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", ""},
	 {"qty", "not a whole number"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", " 5"},
	 {"qty", "not a whole number"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "+5"},
	 {"qty", "not a whole number"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "1.5"},
	 {"qty", "not a whole number"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "99999999999999999999"},
	 {"qty", "99999999999999999999", "must be at most 1000000000000"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "1000000000001"},
	 {"qty", "must be at most 1000000000000"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "0"},
	 {"qty", "must be between 1 and 1000000000000 for receipt"}},
	{{0},
	 {REC, "--kind", "issue", "--qty", "-5"},
	 {"qty", "must be between 1 and 1000000000000 for issue"}},
	{{0},
	 {REC, "--kind", "count", "--qty", "-1"},
	 {"qty", "a count must be between 0 and"}},
	{{0},
	 {REC, "--kind", "adjustment", "--qty", "0", "--reason", "x"},
	 {"qty", "an adjustment must be non-zero"}},
	/* --kind */
	{{0},
	 {REC, "--kind", "bogus", "--qty", "1"},
	 {"kind", "bogus", "not one of receipt, issue"}},
	{{0},
	 {REC, "--kind", "", "--qty", "1"},
	 {"kind", "not one of receipt, issue"}},
	{{0},
	 {REC, "--kind", "reversal", "--qty", "1"},
	 {"use lagerbild stock reverse"}},
	/* The other fields of an event. */
	{{0},
	 {REC, "--kind", "receipt", "--qty", "1", "--expiry", "2023-02-29"},
	 {"expiry", "2023-02-29", "no such day", "28 days"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "1", "--expiry", "31/01/2030"},
	 {"expiry", "not a date of the form YYYY-MM-DD"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "1", "--key", "not-a-uuid"},
	 {"key", "not-a-uuid", "not a UUID"}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "1", "--lot", " L1"},
	 {"lot", "must not start or end with a blank"}},
	{{0},
	 {"stock", "record", "--site", "bad site", "--product", VNR, "--kind",
	  "receipt", "--qty", "1"},
	 {"site", "only letters"}},
	{{0},
	 {REC, "--kind", "adjustment", "--qty", "-1"},
	 {"reason", "a reason is required for adjustment"}},
	{{0},
	 {REC, "--kind", "adjustment", "--qty", "-1", "--reason", ""},
	 {"reason", "a reason is required for adjustment"}},
	/* stock reverse */
	{{0},
	 {"stock", "reverse", "--event", EVENT},
	 {"--event and --reason are required"}},
	{{0},
	 {"stock", "reverse", "--reason", "x"},
	 {"--event and --reason are required"}},
	{{0},
	 {"stock", "reverse", "--event", "abc", "--reason", "x"},
	 {"event", "not a whole number"}},
	{{0},
	 {"stock", "reverse", "--event", "0", "--reason", "x"},
	 {"event", "must be at least 1"}},
	{{0},
	 {"stock", "reverse", "--event", EVENT, "--reason", "x", "--key",
	  "nope"},
	 {"key", "not a UUID"}},
	/* stock show */
	{{0},
	 {"stock", "show", "--region", "02"},
	 {"region", "02", "not a Swedish region code"}},
	{{0},
	 {"stock", "show", "--region", "01", "--site", SITE},
	 {"give --region or --site, not both"}},
	{{0},
	 {"stock", "show", "--limit", "0"},
	 {"limit", "must be at least 1"}},
	/* totals */
	{{0},
	 {"totals", "--by", "nonsense"},
	 {"--by", "nonsense", "not product, region or category"}},
	{{0},
	 {"totals", "--category", "nonsense"},
	 {"category", "nonsense", "not one of medicine"}},
	/* demo */
	{{0}, {"demo", "--days", "0"}, {"days", "must be at least 1"}},
	{{0}, {"demo", "--days", "366"}, {"days", "must be at most 365"}},
	{{0}, {"demo", "--days", "x"}, {"days", "not a whole number"}},
	{{0}, {"demo", "--seed", "-1"}, {"seed", "must be at least 0"}},
	/* users and tokens */
	{{0}, {"user"}, {"Usage: lagerbild user"}},
	{{0}, {"user", "add", "--username", "x1"}, {"--role are required"}},
	{{0},
	 {"user", "add", "--username", "x1", "--role", "boss"},
	 {"role", "boss", "not one of"}},
	{{0},
	 {"user", "add", "--username", "x1", "--role", "region_contact",
	  "--region", "02"},
	 {"region", "02"}},
	{{0},
	 {"user", "add", "--username", "Anna", "--role", "viewer"},
	 {"username", "lower-case"}},
	{{0},
	 {"user", "add", "--username", "sam", "--role", "coordinator",
	  "--region", "01"},
	 {"coordinator is national"}},
	{{0}, {"user", "disable"}, {"--username is required"}},
	{{0}, {"token", "create"}, {"--username is required"}},
	{{0},
	 {"token", "create", "--username", "x1", "--days", "0"},
	 {"days", "must be at least 1"}},
	{{0}, {"token", "revoke", "--id", "abc"}, {"id", "not a whole number"}},
	{{0}, {"token", "frobnicate"}, {"unknown subcommand"}},
	/* A product identifier of no known shape is judged before connecting. */
	{{0},
	 {"stock", "record", "--site", SITE, "--product", "12345", "--kind",
	  "receipt", "--qty", "1"},
	 {"product", "12345", "not a Vnr"}},
	{{0}, {"totals", "--product", "abc"}, {"product", "not a Vnr"}},
	{{0},
	 {"stock", "show", "--product", "gtin:7350012345671"},
	 {"product", "wrong check digit"}},
	{{0}, {"totals", "--product", "ean:123"}, {"product", "prefix must be"}},
};

static const struct refusal fail_cases[] = {
	/* Users and tokens that do not exist. */
	{{0},
	 {"token", "create", "--username", "nobody"},
	 {"user nobody", "no such enabled user"}},
	{{0}, {"user", "disable", "--username", "nobody"}, {"no such user"}},
	{{0}, {"token", "revoke", "--id", "4242"}, {"token 4242: no such token"}},
	{{"user", "add", "--username", "anna.01", "--role", "region_contact",
	  "--region", "01"},
	 {"user", "add", "--username", "anna.01", "--role", "viewer"},
	 {"user anna.01 already exists"}},
	/* What the command line names does not exist. */
	{{0},
	 {"stock", "record", "--site", "99-NOPE", "--product", VNR, "--kind",
	  "receipt", "--qty", "1"},
	 {"site 99-NOPE", "no such site"}},
	{{0},
	 {"stock", "record", "--site", SITE, "--product", "654321", "--kind",
	  "receipt", "--qty", "1"},
	 {"product 654321", "no such product"}},
	{{0},
	 {"stock", "record", "--site", SITE, "--product", "id:999999", "--kind",
	  "receipt", "--qty", "1"},
	 {"no such product"}},
	{{0}, {"stock", "show", "--site", "99-NOPE"}, {"no such site"}},
	{{0}, {"stock", "show", "--product", "654321"}, {"no such product"}},
	{{0}, {"totals", "--product", "654321"}, {"no such product"}},
	/* A balance may never go negative. */
	{{0},
	 {REC, "--kind", "issue", "--qty", "11", "--lot", "L1"},
	 {"balance would go negative", "site 01-CL", "lot L1", "balance 10",
	  "requested 11"}},
	{{0},
	 {REC, "--kind", "transfer_out", "--qty", "11", "--lot", "L1"},
	 {"balance would go negative", "site 01-CL", "balance 10",
	  "requested 11"}},
	{{0},
	 {REC, "--kind", "adjustment", "--qty", "-11", "--lot", "L1",
	  "--reason", "broken"},
	 {"balance would go negative", "lot L1", "balance 10", "requested 11"}},
	{{0},
	 {REC, "--kind", "issue", "--qty", "1", "--lot", "L9"},
	 {"balance would go negative", "site 01-CL", "lot L9", "balance 0",
	  "requested 1"}},
	{{0},
	 {"stock", "record", "--site", SITE2, "--product", VNR, "--kind",
	  "expiry_writeoff", "--qty", "1"},
	 {"balance would go negative", "site 12-CL", "lot (none)",
	  "balance 0"}},
	/* An idempotency key belongs to one event. */
	{{0},
	 {REC, "--kind", "receipt", "--qty", "11", "--lot", "L1", "--expiry",
	  "2030-01-31", "--key", BASE_KEY},
	 {"already used", BASE_KEY}},
	{{0},
	 {REC, "--kind", "issue", "--qty", "10", "--lot", "L1", "--expiry",
	  "2030-01-31", "--key", BASE_KEY},
	 {"already used", BASE_KEY}},
	{{0},
	 {REC, "--kind", "receipt", "--qty", "10", "--lot", "L2", "--expiry",
	  "2030-01-31", "--key", BASE_KEY},
	 {"already used", BASE_KEY}},
	/* ... nationally: another region's site is another event. */
	{{0},
	 {"stock", "record", "--site", SITE2, "--product", VNR, "--kind",
	  "receipt", "--qty", "10", "--key", BASE_KEY},
	 {"already used", BASE_KEY}},
	/* A lot has one expiry date. */
	{{0},
	 {REC, "--kind", "receipt", "--qty", "1", "--lot", "L1", "--expiry",
	  "2031-01-01"},
	 {"lot L1 has expiry 2030-01-31, not 2031-01-01"}},
	/* Reversals. */
	{{0},
	 {"stock", "reverse", "--event", "999999", "--reason", "typo"},
	 {"event 999999 does not exist"}},
	{{"stock", "reverse", "--event", EVENT, "--reason", "wrong site"},
	 {"stock", "reverse", "--event", EVENT, "--reason", "wrong site"},
	 {"already reversed"}},
	{{0},
	 {"stock", "reverse", "--event", EVENT, "--reason", "wrong site",
	  "--key", BASE_KEY},
	 {"already used", BASE_KEY}},
};

/* args with EVENT replaced by the baseline event's id. */
static void resolve(const char *const *in, const char **out)
{
	int i;

	for (i = 0; i < ARGS_MAX - 1 && in[i]; i++)
		out[i] = strcmp(in[i], EVENT) == 0 ? base_event : in[i];
	out[i] = NULL;
}

/*
 * Against the baseline: run pre if any (it must succeed), then args, which
 * must exit with code, name every want on stderr, print nothing on stdout
 * and leave the ledger untouched.
 */
static void check_refusal(const struct refusal *c, int code)
{
	const char *args[ARGS_MAX];
	int64_t before;

	baseline();
	if (c->pre[0]) {
		resolve(c->pre, args);
		cli_runv(dburl, args);
		want_code(0);
	}
	before = ledger_rows();
	resolve(c->args, args);
	cli_runv(dburl, args);
	want_code(code);
	for (int i = 0; i < NELEM(c->want) && c->want[i]; i++)
		want_err(c->want[i]);
	want_no_out();
	ck_assert_msg(ledger_rows() == before,
		      "%s: the ledger went from %lld to %lld rows", run.cmd,
		      (long long)before, (long long)ledger_rows());
}

START_TEST(test_usage_error)
{
	check_refusal(&usage_cases[_i], 2);
}
END_TEST

START_TEST(test_failure)
{
	check_refusal(&fail_cases[_i], 1);
}
END_TEST

/* ---- no database ---- */

static const struct nodb_case {
	const char *args[12];
} nodb_cases[] = {
	{{"migrate"}},
	{{"verify"}},
	{{"stock", "record", "--site", SITE, "--product", VNR, "--kind",
	  "receipt", "--qty", "1"}},
	{{"stock", "reverse", "--event", "1", "--reason", "x"}},
	{{"stock", "show"}},
	{{"totals"}},
	{{"demo", "--days", "1"}},
};

/* A database that is not there is a failure with a reason, not a crash. */
START_TEST(test_no_database)
{
	cli_runv(NO_DB, nodb_cases[_i].args);
	want_code(1);
	want_err("cannot connect to database");
	want_err("does_not_exist");
	want_no_out();
}
END_TEST

/* ---- the happy paths ---- */

START_TEST(test_record_count_retry)
{
	int64_t id;

	cli_at(dburl, REC, "--kind", "receipt", "--qty", "100", "--lot", "L1",
	       "--expiry", "2030-01-31", NULL);
	want_code(0);
	want_out("recorded: receipt, delta +100, balance 100 (region 01");
	want_no_err();
	cli_at(dburl, REC, "--kind", "issue", "--qty", "30", "--lot", "L1",
	       NULL);
	want_code(0);
	want_out("recorded: issue, delta -30, balance 70");
	cli_at(dburl, REC, "--kind", "count", "--qty", "55", "--lot", "L1",
	       NULL);
	want_code(0);
	want_out("recorded: count, delta -15, balance 55");
	ck_assert_int_eq(owner_scalar("SELECT quantity FROM stock_balance"
				      " WHERE lot = 'L1'"),
			 55);
	ck_assert_int_eq(owner_scalar("SELECT quantity FROM"
				      " region_product_stock"
				      " WHERE region_code = '01'"),
			 55);

	/* A retry with the same key and event records nothing new. */
	cli_at(dburl, REC, "--kind", "receipt", "--qty", "5", "--lot", "L1",
	       "--key", BASE_KEY, NULL);
	want_code(0);
	want_out("recorded: receipt, delta +5, balance 60");
	want_out(BASE_KEY);
	id = event_id();
	ck_assert_int_eq(ledger_rows(), 4);
	cli_at(dburl, REC, "--kind", "receipt", "--qty", "5", "--lot", "L1",
	       "--key", BASE_KEY, NULL);
	want_code(0);
	want_out("already recorded");
	want_out("balance 60");
	ck_assert_int_eq(event_id(), id);
	ck_assert_int_eq(ledger_rows(), 4);
	/* The key is a UUID: its case does not make it another key. */
	cli_at(dburl, REC, "--kind", "receipt", "--qty", "5", "--lot", "L1",
	       "--key", "6F1D2C3A-0B4E-4C5D-8E9F-A0B1C2D3E4F5", NULL);
	want_code(0);
	want_out("already recorded");
	ck_assert_int_eq(event_id(), id);
	ck_assert_int_eq(ledger_rows(), 4);
	ck_assert_int_eq(owner_scalar("SELECT quantity FROM stock_balance"
				      " WHERE lot = 'L1'"),
			 60);

	/* A signed adjustment with its reason. */
	cli_at(dburl, REC, "--kind", "adjustment", "--qty", "-3", "--lot", "L1",
	       "--reason", "damaged in transport", NULL);
	want_code(0);
	want_out("recorded: adjustment, delta -3, balance 57");
	ck_assert_int_eq(ledger_rows(), 5);
}
END_TEST

START_TEST(test_reverse_once)
{
	int64_t issue, reversal;
	char id[24];

	cli_at(dburl, REC, "--kind", "receipt", "--qty", "100", NULL);
	want_code(0);
	cli_at(dburl, REC, "--kind", "issue", "--qty", "30", NULL);
	want_code(0);
	want_out("balance 70");
	issue = event_id();
	snprintf(id, sizeof(id), "%lld", (long long)issue);

	cli_at(dburl, "stock", "reverse", "--event", id, "--reason",
	       "issued to the wrong ward", NULL);
	want_code(0);
	want_out("recorded: reversal, delta +30, balance 100");
	want_no_err();
	reversal = event_id();
	ck_assert_int_ne(reversal, issue);
	ck_assert_int_eq(ledger_rows(), 3);

	cli_at(dburl, "stock", "reverse", "--event", id, "--reason", "again",
	       NULL);
	want_code(1);
	want_err("already reversed");
	want_no_out();

	snprintf(id, sizeof(id), "%lld", (long long)reversal);
	cli_at(dburl, "stock", "reverse", "--event", id, "--reason", "undo",
	       NULL);
	want_code(1);
	want_err("itself a reversal");
	ck_assert_int_eq(ledger_rows(), 3);
	ck_assert_int_eq(owner_scalar("SELECT quantity FROM stock_balance"),
			 100);
}
END_TEST

/* 42 of lot L1 at SITE (region 01), 7 without a lot at SITE2 (region 12). */
static void two_balances(void)
{
	cli_at(dburl, REC, "--kind", "receipt", "--qty", "42", "--lot", "L1",
	       "--expiry", "2030-01-31", NULL);
	want_code(0);
	cli_at(dburl, "stock", "record", "--site", SITE2, "--product", VNR,
	       "--kind", "receipt", "--qty", "7", NULL);
	want_code(0);
}

START_TEST(test_show)
{
	two_balances();

	cli_at(dburl, "stock", "show", "--site", SITE, NULL);
	want_code(0);
	want_out(PRODUCT_NAME);
	want_out("(1 row)");
	want_not_out(SITE2);
	want_no_err();

	cli_at(dburl, "stock", "show", "--site", SITE, "--tsv", NULL);
	want_code(0);
	want_out("region\tsite\tproduct\tname\tlot\texpiry\tqty\tunit\n");
	want_out("\n01\t01-CL\t123456\t" PRODUCT_NAME
		 "\tL1\t2030-01-31\t42\tst\n");

	cli_at(dburl, "stock", "show", "--region", "12", "--tsv", NULL);
	want_code(0);
	want_out("\n12\t12-CL\t123456\t" PRODUCT_NAME "\t-\t-\t7\tst\n");
	want_not_out("01-CL");

	cli_at(dburl, "stock", "show", "--product", VNR, NULL);
	want_code(0);
	want_out("(2 rows)");

	cli_at(dburl, "stock", "show", "--limit", "1", NULL);
	want_code(0);
	want_out("(1 row)");
	want_err("more rows than --limit 1");
}
END_TEST

START_TEST(test_totals)
{
	two_balances();

	cli_at(dburl, "totals", NULL);
	want_code(0);
	want_out(PRODUCT_NAME);
	want_out("(1 row)");
	want_no_err();
	cli_at(dburl, "totals", "--tsv", NULL);
	want_code(0);
	want_out("\n123456\t" PRODUCT_NAME "\tmedicine\t49\tst\t2\n");

	cli_at(dburl, "totals", "--by", "region", NULL);
	want_code(0);
	want_out(PRODUCT_NAME);
	want_out("(2 rows)");
	cli_at(dburl, "totals", "--by", "region", "--tsv", NULL);
	want_code(0);
	want_out("\n123456\t" PRODUCT_NAME "\t01\tStockholm\t42\tst\n");
	want_out("\n123456\t" PRODUCT_NAME "\t12\tSkåne\t7\tst\n");

	cli_at(dburl, "totals", "--by", "category", NULL);
	want_code(0);
	want_out("medicine");
	cli_at(dburl, "totals", "--by", "category", "--tsv", NULL);
	want_code(0);
	want_out("\nmedicine\t1\t1\t0\t0\n");

	cli_at(dburl, "totals", "--product", VNR, "--tsv", NULL);
	want_code(0);
	want_out("\tmedicine\t49\t");
	cli_at(dburl, "totals", "--category", "ppe", NULL);
	want_code(0);
	want_out("(0 rows)");
	want_not_out(PRODUCT_NAME);
}
END_TEST

START_TEST(test_verify_drift)
{
	two_balances();

	cli_at(dburl, "verify", NULL);
	want_code(0);
	want_out("verified 2 events, 2 balances, 2 aggregates: no drift");
	want_no_err();

	/* The owner can still write a balance by hand; verify must see it. */
	owner_command("UPDATE stock_balance SET quantity = quantity + 1"
		      " WHERE lot = 'L1'");
	cli_at(dburl, "verify", NULL);
	want_code(1);
	want_out("drift balance: region 01 site 01-CL");
	want_out("lot L1: recomputed 42, stored 43");
	want_out("drifts");
	want_not_out("no drift");
}
END_TEST

START_TEST(test_migrate_again)
{
	cli_at(dburl, "migrate", NULL);
	want_code(0);
	want_out("0 applied");
	want_no_err();
}
END_TEST

START_TEST(test_config)
{
	cli_at(dburl, "config", NULL);
	want_code(0);
	want_out("database_url");
	want_out("(set)");
	/* The connection string may hold a password: never shown. */
	want_not_out(dburl);
	want_no_err();
}
END_TEST

START_TEST(test_version)
{
	cli_runv(NO_DB, (const char *const[]){"--version", NULL});
	want_code(0);
	want_out("lagerbild ");
	want_no_err();
}
END_TEST

/* ---- demo ---- */

START_TEST(test_demo)
{
	int64_t events;

	cli_at(dburl, "demo", "--days", "3", NULL);
	if (run.code == 1 && strstr(run.err, "pg_temp") &&
	    strstr(run.err, "does not exist")) {
		/* contrib/demo/02_activity.sql is not in this build yet. */
		fprintf(stderr,
			"check_cli: demo skipped, the binary has no "
			"demo_activity function: %.300s",
			run.err);
		return;
	}
	want_code(0);
	want_out("demo loaded: ");
	want_out("over 3 days");
	events = ledger_rows();
	ck_assert_msg(events > 0, "the demo recorded no events");

	cli_at(dburl, "verify", NULL);
	want_code(0);
	want_out("no drift");

	cli_at(dburl, "demo", "--days", "3", NULL);
	want_code(1);
	want_err("only into an empty database");
	want_no_out();
	ck_assert_int_eq(ledger_rows(), events);
}
END_TEST

Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc;

	tc = tcase_create("help");
	tcase_add_loop_test(tc, test_help, 0, NELEM(help_cases));
	tcase_add_test(tc, test_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("no_database");
	tcase_set_timeout(tc, RUN_TIMEOUT_S + 10);
	tcase_add_loop_test(tc, test_no_database, 0, NELEM(nodb_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_set_timeout(tc, RUN_TIMEOUT_S + 10);
	tcase_add_checked_fixture(tc, setup_stocked, teardown);
	tcase_add_loop_test(tc, test_usage_error, 0, NELEM(usage_cases));
	tcase_add_loop_test(tc, test_failure, 0, NELEM(fail_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("stock");
	tcase_set_timeout(tc, RUN_TIMEOUT_S + 10);
	tcase_add_checked_fixture(tc, setup_stocked, teardown);
	tcase_add_test(tc, test_record_count_retry);
	tcase_add_test(tc, test_reverse_once);
	tcase_add_test(tc, test_show);
	tcase_add_test(tc, test_totals);
	tcase_add_test(tc, test_verify_drift);
	tcase_add_test(tc, test_migrate_again);
	tcase_add_test(tc, test_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("demo");
	/* Loading and then verifying the whole demo set takes a while. */
	tcase_set_timeout(tc, 3 * RUN_TIMEOUT_S + 10);
	tcase_add_checked_fixture(tc, setup_empty, teardown);
	tcase_add_test(tc, test_demo);
	suite_add_tcase(s, tc);
	return s;
}
