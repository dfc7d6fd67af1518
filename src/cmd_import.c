/*
 * cmd_import.c -- `lagerbild import FEED SOURCE`: run a feed into the
 * database directly, or push it to a server.
 *
 * SOURCE is a file (or, for npl, a directory), "-" for standard input, or
 * an https:// URL.  Standard input and URLs are first spooled to a private
 * temporary file: the frame hashes a source before it reads it, and a
 * download must be complete and within its size limit before anything of
 * it is applied.
 *
 * Exit status: 0 done or unchanged, 1 rows rejected (or the import
 * failed), 2 usage, 3 source unreachable.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fetch.h"
#include "import.h"
#include "log.h"
#include "validate.h"

struct spool {
	char path[4096];
	bool temp; /* path is ours to remove */
};

static void spool_remove(struct spool *s)
{
	if (s->temp)
		unlink(s->path);
	s->temp = false;
}

static int spool_create(struct spool *s, int *fd, struct err *e)
{
	const char *dir = getenv("TMPDIR");

	if (!dir || !dir[0])
		dir = "/tmp";
	if ((size_t)snprintf(s->path, sizeof(s->path),
			     "%s/lagerbild-import.XXXXXX",
			     dir) >= sizeof(s->path))
		return err_set(e, ERR_INVALID, "TMPDIR", "path too long");
	*fd = mkstemp(s->path);
	if (*fd < 0)
		return err_set(e, ERR_INTERNAL, NULL, "%s: %s", s->path,
			       strerror(errno));
	s->temp = true;
	return 0;
}

/* Copy standard input to a temporary file. */
static int spool_stdin(struct spool *s, struct err *e)
{
	char buf[65536];
	ssize_t n;
	int fd;

	if (spool_create(s, &fd, e) < 0)
		return -1;
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err_set(e, ERR_INVALID, "source",
				"reading standard input: %s", strerror(errno));
			goto fail;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				err_set(e, ERR_INTERNAL, NULL, "%s: %s",
					s->path, strerror(errno));
				goto fail;
			}
			off += w;
		}
	}
	close(fd);
	return 0;
fail:
	close(fd);
	spool_remove(s);
	return -1;
}

/* Where URL validators are kept between runs. */
static const char *cache_dir(char *buf, size_t size)
{
	const char *d = getenv("LAGERBILD_CACHE_DIR"), *home;

	if (d && d[0])
		return d;
	d = getenv("XDG_CACHE_HOME");
	if (d && d[0] && (size_t)snprintf(buf, size, "%s/lagerbild", d) < size)
		return buf;
	home = getenv("HOME");
	if (home && home[0] &&
	    (size_t)snprintf(buf, size, "%s/.cache/lagerbild", home) < size)
		return buf;
	return NULL;
}

/* A bar on a terminal: how much of the source is read, and how many
 * records. */
static void progress(void *arg, int64_t records, int64_t bytes_read,
		     int64_t bytes_total)
{
	static const char bar[] = "########################################";
	int width = (int)sizeof(bar) - 1, done = 0;

	if (bytes_total <= 0 || bytes_read <= 0) {
		fprintf(stderr, "\r%s: %lld records", (const char *)arg,
			(long long)records);
		fflush(stderr);
		return;
	}
	done = (int)(bytes_read * width / bytes_total);
	if (done > width)
		done = width;
	fprintf(stderr, "\r%s [%.*s%*s] %3d%% %lld records", (const char *)arg,
		done, bar, width - done, "",
		(int)(bytes_read * 100 / bytes_total), (long long)records);
	fflush(stderr);
}

static void print_summary(const struct import_report *rep, bool json)
{
	if (json) {
		json_t *o = import_report_json(rep);

		if (o) {
			json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
			fputc('\n', stdout);
			json_decref(o);
		}
		return;
	}
	printf("%s%s%s: %s%s: %lld records, %lld applied, %lld rejected",
	       rep->feed, rep->region[0] ? " " : "", rep->region,
	       rep->dry_run ? "dry run, would be " : "",
	       rep->status ? rep->status : "failed", (long long)rep->rows_total,
	       (long long)rep->rows_applied, (long long)rep->rows_rejected);
	if (rep->same_as)
		printf(" (same content as batch %lld)",
		       (long long)rep->same_as);
	if (rep->batch_id)
		printf(" (batch %lld)", (long long)rep->batch_id);
	fputc('\n', stdout);
}

/* The content type a pushed source is sent as. */
static const char *content_type(const char *feed, const char *path)
{
	unsigned char magic[4] = {0};
	FILE *f;

	if (strcmp(feed, "npl") != 0)
		return "text/csv";
	f = fopen(path, "rb");
	if (f) {
		if (fread(magic, 1, sizeof(magic), f) != sizeof(magic))
			magic[0] = 0;
		fclose(f);
	}
	return memcmp(magic, "PK\3\4", 4) == 0 ? "application/zip" :
						 "application/xml";
}

/* Push mode: the server runs the import; print what it says. */
static int push(const struct fetch_push *p, const char *path,
		const struct fetch_options *fo, bool json)
{
	struct err e = {0};
	json_t *body = NULL, *errors, *x;
	long status = 0;
	size_t i;
	int rc;

	if (fetch_push_file(p, path, fo, &status, &body, &e) < 0) {
		log_error("lagerbild import: %s", e.msg);
		return e.code == ERR_UNAVAILABLE ? IMPORT_EXIT_UNREACHABLE :
						   EXIT_USAGE;
	}
	errors = json_object_get(body, "errors");
	json_array_foreach(errors, i, x)
	{
		fprintf(stderr, "line %lld: %s%s%s: %s\n",
			(long long)json_integer_value(
				json_object_get(x, "line")),
			json_string_value(json_object_get(x, "field")),
			json_is_string(json_object_get(x, "value")) ? " " : "",
			json_is_string(json_object_get(x, "value")) ?
				json_string_value(json_object_get(x, "value")) :
				"",
			json_string_value(json_object_get(x, "reason")));
	}
	if (json && body) {
		json_dumpf(body, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
	} else if ((status == 200 || status == 201) && body) {
		printf("%s: %s: %lld records, %lld applied, %lld rejected\n",
		       p->feed,
		       json_string_value(json_object_get(body, "status")),
		       (long long)json_integer_value(json_object_get(
			       json_object_get(body, "rows"), "total")),
		       (long long)json_integer_value(json_object_get(
			       json_object_get(body, "rows"), "applied")),
		       (long long)json_integer_value(json_object_get(
			       json_object_get(body, "rows"), "rejected")));
	}
	if (status >= 400 && !json_object_get(body, "rows")) {
		x = json_object_get(body, "error");
		log_error("lagerbild import: server said %ld: %s", status,
			  json_string_value(json_object_get(x, "message")) ?
				  json_string_value(
					  json_object_get(x, "message")) :
				  "(no message)");
	}
	if (status == 200 || status == 201)
		rc = json_integer_value(json_object_get(
			     json_object_get(body, "rows"), "rejected")) > 0 ?
			     IMPORT_EXIT_REJECTED :
			     IMPORT_EXIT_OK;
	else if (status == 422)
		rc = IMPORT_EXIT_REJECTED;
	else if (status == 400 || status == 401 || status == 403 ||
		 status == 404)
		rc = EXIT_USAGE;
	else if (status >= 500)
		rc = IMPORT_EXIT_UNREACHABLE;
	else
		rc = EXIT_FAIL;
	json_decref(body);
	return rc;
}

/* The first line of path, which must be a token's whole text. */
static int read_token_file(const char *path, char out[AUTH_TOKEN_MAX],
			   struct err *e)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return err_set(e, ERR_INVALID, "--token-file", "%s: %s", path,
			       strerror(errno));
	if (!fgets(out, AUTH_TOKEN_MAX, f))
		out[0] = '\0';
	fclose(f);
	n = strcspn(out, "\r\n");
	out[n] = '\0';
	if (n == 0 || n >= AUTH_TOKEN_MAX - 1)
		return err_set(e, ERR_INVALID, "--token-file",
			       "%s: no token on its first line", path);
	return 0;
}

static void list_feeds(FILE *out)
{
	size_t n;
	const struct import_feed *const *f = import_feeds(&n);

	for (size_t i = 0; i < n; i++)
		fprintf(out, "  %-12s %s%s\n", f[i]->name, f[i]->summary,
			f[i]->scope == IMPORT_REGIONAL ? " [regional]" : "");
}

int cmd_import(int argc, char **argv)
{
	static const char usage[] =
		"Usage: lagerbild import FEED SOURCE [--region RR] [--dry-run]\n"
		"                        [--partial] [--force] [--json]\n"
		"                        [--server URL --token T | --token-file F]\n\n"
		"Import a feed.  SOURCE is a file, - (standard input) or an\n"
		"https:// URL (fetched with timeouts, a size limit and retries;\n"
		"an unchanged remote file, by ETag or Last-Modified, is not\n"
		"fetched again).  The npl feed also takes a directory or a ZIP.\n\n"
		"  --region RR   the region of a regional feed (stock,\n"
		"                consumption); a regional token's own by default\n"
		"  --dry-run     check and report everything, change nothing\n"
		"  --partial     apply the good rows and report the bad ones\n"
		"                (default: all rows or none)\n"
		"  --force       import even if this content was imported before\n"
		"  --json        print the report as JSON\n"
		"  --server URL  push the source to a lagerbild server, which\n"
		"                imports it as the token's user ($LAGERBILD_TOKEN)\n"
		"  --token T     the API token for --server\n"
		"  --token-file F  the token, from the first line of file F\n"
		"                (keeps it out of the process list)\n\n"
		"Rejected rows are written to stderr as \"line N: field value: "
		"reason\".\n"
		"Exit status: 0 done or unchanged, 1 rows rejected, 2 usage,\n"
		"3 source unreachable.\n\nFeeds:\n";
	static const struct option opts[] = {
		{"region", required_argument, NULL, 'r'},
		{"dry-run", no_argument, NULL, 'n'},
		{"partial", no_argument, NULL, 'p'},
		{"force", no_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{"server", required_argument, NULL, 's'},
		{"token", required_argument, NULL, 't'},
		{"token-file", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct import_options opt = {0};
	struct import_report rep = {0};
	struct fetch_options fo;
	struct fetch_result fr = {0};
	struct spool sp = {{0}, false};
	struct identity who;
	struct db *db = NULL;
	struct err e = {0};
	const struct import_feed *feed;
	const char *server = NULL, *token = NULL, *source;
	char cachebuf[4096], tokenbuf[AUTH_TOKEN_MAX];
	bool json = false, is_url, tty;
	struct stat sb;
	int c, rc = EXIT_FAIL;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': opt.region = optarg; break;
		case 'n': opt.dry_run = true; break;
		case 'p': opt.partial = true; break;
		case 'f': opt.force = true; break;
		case 'j': json = true; break;
		case 's': server = optarg; break;
		case 't': token = optarg; break;
		case 'T':
			if (read_token_file(optarg, tokenbuf, &e) < 0)
				return cli_fail(&e, true);
			token = tokenbuf;
			break;
		case 'h':
			fputs(usage, stdout);
			list_feeds(stdout);
			return EXIT_OK;
		default: return cli_bad_option("import", argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("import", "need FEED and SOURCE");
	feed = import_feed_find(argv[optind]);
	if (!feed)
		return cli_usage_error("import", "unknown feed \"%.40s\"",
				       argv[optind]);
	source = argv[optind + 1];
	opt.source = source;
	if (opt.region && validate_region_code(opt.region, "region", &e) < 0)
		return cli_fail(&e, true);
	if (!token)
		token = getenv("LAGERBILD_TOKEN");
	if (token && !token[0])
		token = NULL;
	if (server && !token)
		return cli_usage_error("import", "--server needs --token or "
						 "$LAGERBILD_TOKEN");

	fetch_options_default(&fo);
	fo.cache_dir = cache_dir(cachebuf, sizeof(cachebuf));
	is_url = strncmp(source, "https://", 8) == 0 ||
		 strncmp(source, "http://", 7) == 0;
	if (strcmp(source, "-") == 0) {
		if (spool_stdin(&sp, &e) < 0)
			goto fail;
	} else if (is_url) {
		struct fetch_options get = fo;
		int fd;

		if (spool_create(&sp, &fd, &e) < 0)
			goto fail;
		close(fd);
		/* --force: the whole file, whatever the validators say */
		if (opt.force)
			get.cache_dir = NULL;
		if (fetch_url(source, &get, sp.path, &fr, &e) < 0) {
			log_error("lagerbild import: %s", e.msg);
			rc = e.code == ERR_INVALID ? EXIT_USAGE :
						     IMPORT_EXIT_UNREACHABLE;
			goto out;
		}
		if (fr.not_modified) {
			if (json) {
				json_t *o = json_pack("{s:s, s:s, s:b}", "feed",
						      feed->name, "status",
						      "unchanged",
						      "not_modified", 1);

				json_dumpf(o, stdout, JSON_INDENT(2));
				fputc('\n', stdout);
				json_decref(o);
			} else {
				printf("%s: unchanged: not modified since the "
				       "last import\n",
				       feed->name);
			}
			rc = EXIT_OK;
			goto out;
		}
	} else {
		if (stat(source, &sb) != 0) {
			log_error("lagerbild import: %s: %s", source,
				  strerror(errno));
			rc = IMPORT_EXIT_UNREACHABLE;
			goto out;
		}
		snprintf(sp.path, sizeof(sp.path), "%s", source);
	}

	if (server) {
		struct fetch_push p = {
			.server = server,
			.token = token,
			.feed = feed->name,
			.region = opt.region,
			.content_type = content_type(feed->name, sp.path),
			.dry_run = opt.dry_run,
			.partial = opt.partial,
			.force = opt.force,
		};

		if (stat(sp.path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			rc = cli_usage_error("import",
					     "push a ZIP of the directory, not "
					     "the directory");
			goto out;
		}
		rc = push(&p, sp.path, &fo, json);
		goto out;
	}

	if (cli_connect(&db, true, &e) < 0)
		goto fail;
	auth_system_identity(&who, cli_actor());
	tty = isatty(STDERR_FILENO);
	if (import_execute(db, &who, feed, sp.path, &opt, stderr,
			   tty ? progress : NULL, (void *)feed->name, &rep,
			   &e) < 0) {
		if (tty)
			fputc('\n', stderr);
		goto fail;
	}
	if (tty)
		fputc('\n', stderr);
	print_summary(&rep, json);
	rc = import_report_exit(&rep);
	if (is_url && rc == EXIT_OK && !opt.dry_run &&
	    fetch_cache_store(&fo, source, &fr, &e) < 0)
		log_warning("lagerbild import: %s", e.msg);
	goto out;
fail:
	rc = cli_fail(&e, false);
	if (e.code == ERR_INVALID && strcmp(e.field, "region") == 0)
		rc = EXIT_USAGE;
	if (e.code == ERR_FORBIDDEN)
		rc = EXIT_USAGE;
out:
	import_report_free(&rep);
	db_close(db);
	spool_remove(&sp);
	return rc;
}
