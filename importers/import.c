/*
 * import.c -- the import frame (see import.h for the steps).
 *
 * Design note.  One import is one transaction on the caller's connection,
 * opened with auth_begin so that row-level security judges the caller as it
 * would any request.  Imports of one (feed, region) are serialised by a
 * transaction-scoped advisory lock taken before the "seen before?" check,
 * so two runs of the same file cannot both apply it, and snapshots of one
 * region apply in the order they arrive.
 *
 * Rejections found in C are written to the error stream at once and kept
 * (the first IMPORT_ERRORS_KEPT) in rep->errors; those found by the feed's
 * check step sit in the temporary table import_rejects, from which the
 * apply step excludes their lines and from which they are read back, in
 * pages, for the stream and the report.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "alerts.h"
#include "feeds.h"
#include "import.h"
#include "log.h"
#include "validate.h"

/* COPY data is sent in pieces of about this size. */
#define COPY_FLUSH (256 * 1024)
/* Records between progress reports. */
#define PROGRESS_EVERY 10000
/* Files a directory source may hold. */
#define DIR_FILES_MAX 1000000

static const struct import_feed *const feeds[] = {
	&import_feed_npl,	  &import_feed_articles,
	&import_feed_products,	  &import_feed_shortages,
	&import_feed_population,  &import_feed_stock,
	&import_feed_consumption, &import_feed_targets,
};

const struct import_feed *const *import_feeds(size_t *n)
{
	*n = sizeof(feeds) / sizeof(feeds[0]);
	return feeds;
}

const struct import_feed *import_feed_find(const char *name)
{
	for (size_t i = 0; i < sizeof(feeds) / sizeof(feeds[0]); i++)
		if (name && strcmp(feeds[i]->name, name) == 0)
			return feeds[i];
	return NULL;
}

/* ---- who may import what ---- */

int import_authorize(const struct import_feed *feed, const struct identity *who,
		     const char *opt_region, const char **region, struct err *e)
{
	bool sys = who->role == ROLE_SYSTEM;

	*region = NULL;
	if (opt_region && !opt_region[0])
		opt_region = NULL;
	if (feed->scope == IMPORT_NATIONAL) {
		if (opt_region)
			return err_set(e, ERR_INVALID, "region",
				       "%s is a national feed: it takes no "
				       "region",
				       feed->name);
		if (sys || who->role == ROLE_COORDINATOR ||
		    (who->role == ROLE_IMPORTER && !who->region[0]))
			return 0;
		return err_set(e, ERR_FORBIDDEN, NULL,
			       "%s is a national feed: only a national "
			       "importer or a coordinator may import it",
			       feed->name);
	}
	if (!opt_region && who->region[0])
		opt_region = who->region;
	if (!opt_region)
		return err_set(e, ERR_INVALID, "region",
			       "%s is a regional feed: name the region",
			       feed->name);
	if (validate_region_code(opt_region, "region", e) < 0)
		return -1;
	if (!auth_may_write_stock(who, opt_region))
		return err_set(e, ERR_FORBIDDEN, "region",
			       "may not import %s for region %s", feed->name,
			       opt_region);
	*region = opt_region;
	return 0;
}

/* ---- hashing the source ---- */

static int hash_file(crypto_hash_sha256_state *st, const char *path,
		     int64_t *bytes, struct err *e)
{
	unsigned char buf[65536];
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return err_set(e, ERR_INVALID, "source", "%s: %s", path,
			       strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		crypto_hash_sha256_update(st, buf, n);
		*bytes += (int64_t)n;
	}
	if (ferror(f)) {
		fclose(f);
		return err_set(e, ERR_INVALID, "source", "%s: read error",
			       path);
	}
	fclose(f);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void import_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int import_list_dir(const char *path, char ***names_out, size_t *n_out,
		    struct err *e)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	*names_out = NULL;
	*n_out = 0;
	if (!d)
		return err_set(e, ERR_INVALID, "source", "%s: %s", path,
			       strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **more;

			if (cap >= DIR_FILES_MAX) {
				err_set(e, ERR_INVALID, "source",
					"%s: more than %d files", path,
					DIR_FILES_MAX);
				goto fail;
			}
			cap = cap ? 2 * cap : 64;
			more = realloc(names, cap * sizeof(*names));
			if (!more)
				goto nomem;
			names = more;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto nomem;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	*names_out = names;
	*n_out = n;
	return 0;
nomem:
	err_set(e, ERR_INTERNAL, NULL, "out of memory");
fail:
	closedir(d);
	import_names_free(names, n);
	return -1;
}

/* A directory hashes as its regular files in name order, each as its name,
 * a NUL, its size and its bytes: renaming a file changes the hash. */
static int hash_dir(crypto_hash_sha256_state *st, const char *path,
		    int64_t *bytes, struct err *e)
{
	char **names, full[4096];
	size_t n, i;
	int rc = -1;

	if (import_list_dir(path, &names, &n, e) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct stat sb;
		char size[32];

		if ((size_t)snprintf(full, sizeof(full), "%s/%s", path,
				     names[i]) >= sizeof(full) ||
		    stat(full, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		snprintf(size, sizeof(size), "%lld", (long long)sb.st_size);
		crypto_hash_sha256_update(st, (unsigned char *)names[i],
					  strlen(names[i]) + 1);
		crypto_hash_sha256_update(st, (unsigned char *)size,
					  strlen(size) + 1);
		if (hash_file(st, full, bytes, e) < 0)
			goto out;
	}
	rc = 0;
out:
	import_names_free(names, n);
	return rc;
}

static int hash_source(const char *path, bool is_dir, char hex[65],
		       int64_t *bytes, struct err *e)
{
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];

	*bytes = 0;
	crypto_hash_sha256_init(&st);
	if ((is_dir ? hash_dir(&st, path, bytes, e) :
		      hash_file(&st, path, bytes, e)) < 0)
		return -1;
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, 65, h, sizeof(h));
	return 0;
}

/* ---- rejections ---- */

static void print_reject(FILE *out, const char *file, int64_t line,
			 const char *field, const char *value,
			 const char *reason)
{
	if (!out)
		return;
	if (file)
		fprintf(out, "%s: ", file);
	fprintf(out, "line %lld: %s", (long long)line, field);
	if (value)
		fprintf(out, " %s", value);
	fprintf(out, ": %s\n", reason);
}

static void keep_reject(struct import_run *run, const char *file, int64_t line,
			const char *field, const char *value,
			const char *reason)
{
	json_t *o;

	print_reject(run->errout, file, line, field, value, reason);
	if (json_array_size(run->errors) >= IMPORT_ERRORS_KEPT)
		return;
	o = json_pack("{s:I, s:s, s:s?, s:s}", "line", (json_int_t)line,
		      "field", field, "value", value, "reason", reason);
	if (o && file)
		json_object_set_new(o, "file", json_string(file));
	if (o)
		json_array_append_new(run->errors, o);
}

/* Cut a value for quoting: at most IMPORT_VALUE_MAX bytes, never in the
 * middle of a UTF-8 sequence, and only printable. */
static void quote_value(const char *v, char *out, size_t size)
{
	size_t i = 0, o = 0;

	while (v[i] && o + 4 < size && i < IMPORT_VALUE_MAX) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f)
			out[o++] = '?';
		else
			out[o++] = (char)c;
		i++;
	}
	while (o > 0 && i < strlen(v) &&
	       ((unsigned char)out[o - 1] & 0xc0) == 0x80)
		o--;
	if (o > 0 && i < strlen(v) &&
	    ((unsigned char)out[o - 1] & 0xc0) == 0xc0)
		o--;
	if (v[i]) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static int reject_v(struct import_run *run, int64_t line, const char *field,
		    const char *value, const char *fmt, va_list ap)
{
	char reason[600], quoted[IMPORT_VALUE_MAX + 8];

	vsnprintf(reason, sizeof(reason), fmt, ap);
	/* JSON takes UTF-8 only: a reason that is not would drop the whole
	 * rejection from the report. */
	utf8_scrub(reason);
	if (value)
		quote_value(value, quoted, sizeof(quoted));
	if (line != run->last_line || line == 0) {
		run->c_rejected++;
		run->last_line = line;
	}
	keep_reject(run, run->file, line, field, value ? quoted : NULL, reason);
	return 0;
}

int import_reject(struct import_run *run, int64_t line, const char *field,
		  const char *value, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reject_v(run, line, field, value, fmt, ap);
	va_end(ap);
	return 0;
}

int import_reject_err(struct import_run *run, int64_t line, const char *value,
		      const struct err *e)
{
	const char *field = e->field[0] ? e->field : "record";
	const char *reason = e->msg, *colon;
	size_t n = strlen(field);

	/* Validators say "gtin 735...: wrong check digit"; the report has
	 * the field and the value already.  A quoted value may itself hold
	 * ": ", so look for the colon after its closing quote. */
	if (strncmp(reason, field, n) == 0 &&
	    (reason[n] == ' ' || reason[n] == ':')) {
		const char *p = reason + n;

		if (p[0] == ' ' && p[1] == '"')
			for (p += 2; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
		colon = strstr(p, ": ");
		if (colon && colon[2])
			reason = colon + 2;
	}
	return import_reject(run, line, field, value, "%s", reason);
}

/* ---- staging ---- */

static int copy_flush(struct import_run *run)
{
	PGconn *conn = run->db->conn;

	if (run->copylen == 0)
		return 0;
	if (PQputCopyData(conn, run->copybuf, (int)run->copylen) != 1)
		return err_set(run->err, ERR_UNAVAILABLE, NULL,
			       "sending rows to the database: %s",
			       PQerrorMessage(conn));
	run->copylen = 0;
	return 0;
}

/* Append s escaped for COPY's text format. */
static void copy_escape(struct import_run *run, const char *s)
{
	for (; *s; s++) {
		char c = *s, esc = 0;

		switch (c) {
		case '\\': esc = '\\'; break;
		case '\t': esc = 't'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		default: break;
		}
		if (esc) {
			run->copybuf[run->copylen++] = '\\';
			run->copybuf[run->copylen++] = esc;
		} else {
			run->copybuf[run->copylen++] = c;
		}
	}
}

int import_stage_row(struct import_run *run, int64_t line, int n,
		     const char *const *vals)
{
	size_t need = 24;
	char num[24];

	if (!run->copying)
		return err_set(run->err, ERR_INTERNAL, NULL,
			       "import_stage_row outside the parse step");
	for (int i = 0; i < n; i++)
		need += (vals[i] ? 2 * strlen(vals[i]) : 2) + 1;
	if (need > COPY_FLUSH)
		return err_set(run->err, ERR_INTERNAL, NULL,
			       "line %lld: record too large to stage",
			       (long long)line);
	if (run->copylen + need > COPY_FLUSH && copy_flush(run) < 0)
		return -1;
	snprintf(num, sizeof(num), "%lld", (long long)line);
	copy_escape(run, num);
	for (int i = 0; i < n; i++) {
		run->copybuf[run->copylen++] = '\t';
		if (vals[i]) {
			copy_escape(run, vals[i]);
		} else {
			run->copybuf[run->copylen++] = '\\';
			run->copybuf[run->copylen++] = 'N';
		}
	}
	run->copybuf[run->copylen++] = '\n';
	run->staged++;
	if (run->progress && run->staged % PROGRESS_EVERY == 0)
		run->progress(run->progress_arg, run->staged + run->c_rejected,
			      run->bytes_read, run->bytes_total);
	return 0;
}

int64_t import_exec(struct import_run *run, const char *sql, int nparams,
		    const char *const *params)
{
	PGresult *res = db_exec(run->db, sql, nparams, params, run->err);
	int64_t n;

	if (!res)
		return -1;
	n = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return n;
}

int import_merge(struct import_run *run, const char *const *sql, size_t n,
		 const char *count_sql)
{
	char batch[24];
	const char *params[1] = {batch};
	PGresult *res;

	snprintf(batch, sizeof(batch), "%lld", (long long)run->batch_id);
	for (size_t i = 0; i < n; i++)
		if (import_exec(run, sql[i], 1, params) < 0)
			return -1;
	res = db_exec(run->db, count_sql, 0, NULL, run->err);
	if (!res)
		return -1;
	run->applied = db_int64(res, 0, 0);
	PQclear(res);
	return 0;
}

/* Run the feed's parse step inside COPY. */
static int stage(struct import_run *run, const char *path)
{
	PGconn *conn = run->db->conn;
	PGresult *res;
	int rc;

	if (import_exec(run, run->feed->stage_sql, 0, NULL) < 0)
		return -1;
	res = PQexec(conn, run->feed->copy_sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		err_set(run->err, ERR_INTERNAL, NULL, "%s: %s",
			run->feed->copy_sql, PQerrorMessage(conn));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	run->copying = true;
	rc = run->feed->parse(run, path);
	if (rc == 0)
		rc = copy_flush(run);
	run->copying = false;
	if (PQputCopyEnd(conn, rc == 0 ? NULL : "import stopped") != 1) {
		return err_set(run->err, ERR_UNAVAILABLE, NULL,
			       "ending COPY: %s", PQerrorMessage(conn));
	}
	while ((res = PQgetResult(conn))) {
		if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
			err_set(run->err, ERR_INTERNAL, NULL,
				"staging rows: %s", PQerrorMessage(conn));
			rc = -1;
		}
		PQclear(res);
	}
	return rc;
}

/* Read the check step's rejections back, in line order, a page at a time:
 * to the stream, and into the report as far as there is room. */
static int collect_rejects(struct import_run *run, int64_t *lines)
{
	static const char page_sql[] =
		"SELECT line, field, value, reason, ctid::text"
		" FROM import_rejects"
		" WHERE (line, ctid) > ($1::bigint, $2::tid)"
		" ORDER BY line, ctid LIMIT 1000";
	char after[24] = "-1", after_tid[32] = "(0,0)";
	const char *params[2] = {after, after_tid};
	PGresult *res;
	int n, i;

	res = db_exec(run->db,
		      "SELECT count(DISTINCT line) FROM import_rejects", 0,
		      NULL, run->err);
	if (!res)
		return -1;
	*lines = db_int64(res, 0, 0);
	PQclear(res);
	if (*lines == 0)
		return 0;
	do {
		res = db_exec(run->db, page_sql, 2, params, run->err);
		if (!res)
			return -1;
		n = PQntuples(res);
		for (i = 0; i < n; i++) {
			char quoted[IMPORT_VALUE_MAX + 8];
			const char *v = PQgetisnull(res, i, 2) ?
						NULL :
						db_text(res, i, 2);

			if (v) {
				quote_value(v, quoted, sizeof(quoted));
				v = quoted;
			}
			keep_reject(run, NULL, db_int64(res, i, 0),
				    db_text(res, i, 1), v, db_text(res, i, 3));
		}
		if (n > 0) {
			snprintf(after, sizeof(after), "%s",
				 db_text(res, n - 1, 0));
			snprintf(after_tid, sizeof(after_tid), "%s",
				 db_text(res, n - 1, 4));
		}
		PQclear(res);
	} while (n == 1000);
	return 0;
}

struct kept {
	const json_t *o;
	size_t pos; /* as found: keeps the order of one line's rejections */
};

static int by_file_line(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;
	const char *fx = json_string_value(json_object_get(x->o, "file"));
	const char *fy = json_string_value(json_object_get(y->o, "file"));
	json_int_t lx = json_integer_value(json_object_get(x->o, "line"));
	json_int_t ly = json_integer_value(json_object_get(y->o, "line"));
	int c = strcmp(fx ? fx : "", fy ? fy : "");

	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Kept rejections in (file, line) order: C's and the check step's
 * interleave. */
static json_t *sorted_errors(json_t *errors)
{
	size_t n = json_array_size(errors), i;
	struct kept *v = malloc((n ? n : 1) * sizeof(*v));
	json_t *out = json_array();

	if (!v || !out) {
		free(v);
		json_decref(out);
		return json_incref(errors);
	}
	for (i = 0; i < n; i++) {
		v[i].o = json_array_get(errors, i);
		v[i].pos = i;
	}
	qsort(v, n, sizeof(*v), by_file_line);
	for (i = 0; i < n; i++)
		json_array_append(out, (json_t *)v[i].o);
	free(v);
	return out;
}

/* ---- the batch record ---- */

static const char batch_sql[] =
	"INSERT INTO import_batch (id, feed, region_code, source, sha256,"
	" bytes, status, forced, same_as, rows_total, rows_applied,"
	" rows_rejected, errors, started_at)"
	" OVERRIDING SYSTEM VALUE"
	" VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, $8, $9, $10, $11,"
	" $12, $13::jsonb, $14)";

static int record_batch(struct db *db, const struct import_report *rep,
			const struct import_options *opt,
			const char *started_at, struct err *e)
{
	char id[24], bytes[24], same[24], total[24], applied[24], rejected[24];
	char *errors = json_dumps(rep->errors, JSON_COMPACT);
	const char *params[14];
	int rc;

	if (!errors)
		return err_set(e, ERR_INTERNAL, NULL, "out of memory");
	snprintf(id, sizeof(id), "%lld", (long long)rep->batch_id);
	snprintf(bytes, sizeof(bytes), "%lld", (long long)rep->bytes);
	snprintf(same, sizeof(same), "%lld", (long long)rep->same_as);
	snprintf(total, sizeof(total), "%lld", (long long)rep->rows_total);
	snprintf(applied, sizeof(applied), "%lld",
		 (long long)rep->rows_applied);
	snprintf(rejected, sizeof(rejected), "%lld",
		 (long long)rep->rows_rejected);
	params[0] = id;
	params[1] = rep->feed;
	params[2] = rep->region;
	params[3] = opt->source && opt->source[0] ? opt->source : "-";
	params[4] = rep->sha256;
	params[5] = bytes;
	params[6] = rep->status;
	params[7] = opt->force ? "true" : "false";
	params[8] = rep->same_as ? same : NULL;
	params[9] = total;
	params[10] = applied;
	params[11] = rejected;
	params[12] = errors;
	params[13] = started_at;
	rc = db_command(db, batch_sql, 14, params, e);
	free(errors);
	return rc;
}

/* A refused import's record, in a transaction of its own. */
static int record_refusal(struct db *db, const struct identity *who,
			  const struct import_report *rep,
			  const struct import_options *opt,
			  const char *started_at, struct err *e)
{
	if (auth_begin(db, who, e) < 0)
		return -1;
	if (record_batch(db, rep, opt, started_at, e) < 0 ||
	    db_commit(db, e) < 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

/* ---- the import ---- */

/* Serialise imports of one (feed, region); reserve the batch id.  A long
 * statement of an import whose client died (kill -9, a lost link) is
 * noticed within a second, not when it would next write to the socket:
 * the transaction is rolled back and the lock freed at once. */
static const char lock_sql[] =
	"SELECT pg_advisory_xact_lock(hashtextextended("
	"'lagerbild.import:' || $1 || ':' || $2, 0)),"
	" nextval('import_batch_id_seq'), now(),"
	" set_config('client_connection_check_interval', '1000', true)";

/* The content last applied for this feed and region: a file equal to it
 * changes nothing.  (Not any earlier one: after A, B, A the third import
 * must undo B.) */
static const char seen_sql[] =
	"SELECT id FROM (SELECT id, sha256 FROM import_batch"
	"  WHERE feed = $1 AND region_code IS NOT DISTINCT FROM nullif($3, '')"
	"  AND status IN ('done', 'partial')"
	"  ORDER BY id DESC LIMIT 1) last"
	" WHERE sha256 = $2";

static const char rejects_sql[] =
	"CREATE TEMP TABLE import_rejects (line bigint NOT NULL,"
	" field text NOT NULL, value text, reason text NOT NULL)"
	" ON COMMIT DROP";

/*
 * The verdict is in (rep->status): keep the data and the batch, or roll
 * back and record the refusal on its own, or, for a dry run, roll back and
 * record nothing.  0, or -1 with e set (the transaction is then gone).
 */
static int conclude(struct import_run *run, struct import_report *rep,
		    struct err *e)
{
	const struct import_options *opt = run->opt;
	struct db *db = run->db;

	json_decref(rep->errors);
	rep->errors = sorted_errors(run->errors);
	if (opt->dry_run || strcmp(rep->status, "rejected") == 0) {
		db_rollback(db);
		if (opt->dry_run) {
			rep->batch_id = 0;
			rep->dry_run = true;
			return 0;
		}
		return record_refusal(db, run->who, rep, opt, run->started_at,
				      e);
	}
	if (record_batch(db, rep, opt, run->started_at, e) < 0 ||
	    db_commit(db, e) < 0) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

int import_execute(struct db *db, const struct identity *who,
		   const struct import_feed *feed, const char *path,
		   const struct import_options *opt, FILE *errout,
		   import_progress_fn *progress, void *progress_arg,
		   struct import_report *rep, struct err *e)
{
	struct import_run run = {0};
	const char *region = NULL, *params[3];
	struct stat sb;
	PGresult *res = NULL;
	int64_t sql_rejected = 0;
	int rc = -1;

	memset(rep, 0, sizeof(*rep));
	snprintf(rep->feed, sizeof(rep->feed), "%s", feed->name);
	rep->errors = json_array();
	run.errors = json_array();
	run.copybuf = malloc(COPY_FLUSH);
	if (!rep->errors || !run.errors || !run.copybuf) {
		err_set(e, ERR_INTERNAL, NULL, "out of memory");
		goto out;
	}
	if (import_authorize(feed, who, opt->region, &region, e) < 0)
		goto out;
	if (region)
		memcpy(rep->region, region, 3);
	if (stat(path, &sb) != 0) {
		err_set(e, ERR_INVALID, "source", "%s: %s", path,
			strerror(errno));
		goto out;
	}
	if (S_ISDIR(sb.st_mode) && !feed->accepts_dir) {
		err_set(e, ERR_INVALID, "source",
			"%s is a directory; the %s feed reads one file", path,
			feed->name);
		goto out;
	}
	if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode)) {
		err_set(e, ERR_INVALID, "source",
			"%s is neither a file nor a directory", path);
		goto out;
	}
	if (hash_source(path, S_ISDIR(sb.st_mode), rep->sha256, &rep->bytes,
			e) < 0)
		goto out;

	run.feed = feed;
	run.opt = opt;
	run.db = db;
	run.who = who;
	run.region = region;
	run.err = e;
	run.errout = errout;
	run.progress = progress;
	run.progress_arg = progress_arg;
	run.bytes_total = rep->bytes;
	run.last_line = -1;

	if (auth_begin(db, who, e) < 0)
		goto out;
	params[0] = feed->name;
	params[1] = region ? region : "";
	res = db_exec(db, lock_sql, 2, params, e);
	if (!res)
		goto fail;
	run.batch_id = db_int64(res, 0, 1);
	snprintf(run.started_at, sizeof(run.started_at), "%s",
		 db_text(res, 0, 2));
	PQclear(res);
	res = NULL;
	rep->batch_id = run.batch_id;

	if (!opt->force) {
		params[0] = feed->name;
		params[1] = rep->sha256;
		params[2] = region ? region : "";
		res = db_exec(db, seen_sql, 3, params, e);
		if (!res)
			goto fail;
		if (PQntuples(res) > 0) {
			rep->same_as = db_int64(res, 0, 0);
			rep->status = "unchanged";
			PQclear(res);
			res = NULL;
			if (opt->dry_run) {
				rep->batch_id = 0;
				rep->dry_run = true;
				db_rollback(db);
			} else if (record_batch(db, rep, opt, run.started_at,
						e) < 0 ||
				   db_commit(db, e) < 0) {
				goto fail;
			}
			rc = 0;
			goto out;
		}
		PQclear(res);
		res = NULL;
	}

	if (import_exec(&run, rejects_sql, 0, NULL) < 0)
		goto fail;
	if (stage(&run, path) < 0) {
		if (e->code != ERR_INVALID)
			goto fail;
		/* The source as a whole is unusable (no header, not a ZIP):
		 * that is a verdict on the file, recorded like any other. */
		keep_reject(&run, run.file, 0,
			    e->field[0] ? e->field : "source", NULL, e->msg);
		err_clear(e);
		rep->rows_total = run.staged + run.c_rejected;
		rep->rows_rejected = run.c_rejected + 1;
		rep->status = "rejected";
		rc = conclude(&run, rep, e);
		goto out;
	}
	if (feed->check && feed->check(&run) < 0)
		goto fail;
	if (collect_rejects(&run, &sql_rejected) < 0)
		goto fail;
	rep->rows_total = run.staged + run.c_rejected;
	rep->rows_rejected = run.c_rejected + sql_rejected;

	if (rep->rows_rejected > 0 && !opt->partial) {
		rep->status = "rejected";
	} else {
		if (feed->apply(&run) < 0)
			goto fail;
		rep->rows_applied = run.applied;
		rep->status = rep->rows_rejected ? "partial" : "done";
	}
	rc = conclude(&run, rep, e);
	/* committed data: the server's alert thread evaluates the region (a
	 * national feed: everything); nothing waits for it */
	if (rc == 0 && !opt->dry_run && rep->rows_applied > 0)
		alerts_touch(region, 0);
	goto out;
fail:
	PQclear(res);
	db_rollback(db);
out:
	json_decref(run.errors);
	free(run.copybuf);
	return rc;
}

/* ---- the report ---- */

json_t *import_report_json(const struct import_report *rep)
{
	json_t *o = json_pack(
		"{s:s, s:s?, s:s, s:I, s:s, s:b, s:{s:I, s:I, s:I}, s:o}",
		"feed", rep->feed, "region",
		rep->region[0] ? rep->region : NULL, "sha256", rep->sha256,
		"bytes", (json_int_t)rep->bytes, "status",
		rep->status ? rep->status : "failed", "dry_run", rep->dry_run,
		"rows", "total", (json_int_t)rep->rows_total, "applied",
		(json_int_t)rep->rows_applied, "rejected",
		(json_int_t)rep->rows_rejected, "errors",
		rep->errors ? json_incref(rep->errors) : json_array());

	if (!o)
		return NULL;
	json_object_set_new(o, "batch_id",
			    rep->batch_id ? json_integer(rep->batch_id) :
					    json_null());
	if (rep->same_as)
		json_object_set_new(o, "same_as", json_integer(rep->same_as));
	if (rep->errors &&
	    (int64_t)json_array_size(rep->errors) < rep->rows_rejected)
		json_object_set_new(o, "errors_truncated", json_true());
	return o;
}

void import_report_free(struct import_report *rep)
{
	if (!rep)
		return;
	json_decref(rep->errors);
	rep->errors = NULL;
}

int import_report_exit(const struct import_report *rep)
{
	if (!rep->status || rep->rows_rejected > 0 ||
	    strcmp(rep->status, "rejected") == 0)
		return IMPORT_EXIT_REJECTED;
	return IMPORT_EXIT_OK;
}
