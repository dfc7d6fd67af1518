/*
 * csvin.c -- CSV feeds, record by record (see csvin.h).
 *
 * Design note.  The file is fed to libcsv one physical line at a time, so
 * that the line number is known whenever libcsv calls back; a quoted field
 * may still span lines, and its record is numbered by the line it starts
 * on.  A record that outgrows CSVIN_RECORD_MAX bytes, or that libcsv
 * cannot parse (a stray quote in strict mode), is rejected and the parser
 * is restarted at the next line: one bad record must not cost the rest of
 * the file, nor unbounded memory.
 *
 * Encoding is decided once, by a pass over the whole file: valid UTF-8 is
 * read as it is; anything else is Windows-1252 and converted with iconv.
 * Mixing the two in one file is not something a real export does.
 */
#include <errno.h>
#include <stdarg.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>

#include "csvin.h"
#include "err.h"

/* Bytes one record may take, all fields together. */
#define CSVIN_RECORD_MAX (64 * 1024)
/* Read size (a record may be longer: libcsv is fed in pieces). */
#define CSVIN_CHUNK (64 * 1024)

struct reader {
	struct import_run *run;
	const struct csvin_column *cols;
	size_t ncols;
	csvin_record_fn *fn;
	void *arg;

	struct csv_parser parser;
	bool parser_live;
	unsigned char delim;

	bool header_done;
	int map[CSVIN_MAX_COLUMNS]; /* header position -> column, -1: none */
	size_t nheader;

	/* the record being assembled */
	char *buf;			/* field bytes, NUL-separated */
	size_t len;			/* used */
	size_t offs[CSVIN_MAX_COLUMNS]; /* start of each field in buf */
	size_t nfields;
	size_t pending;	  /* bytes fed since the record began */
	bool skipping;	  /* dropping the rest of a line */
	bool after_cr;	  /* the last piece ended in a lone '\r' */
	int64_t rec_line; /* the line the record started on */
	const char *bad;  /* why the record is bad, NULL if it is not */
	char bad_msg[160];

	int64_t line; /* the physical line being fed */
	bool failed;  /* the callback asked to stop, or the header is bad */
};

/* ---- encoding ---- */

/* Length of the valid UTF-8 sequence at s (of n bytes), 0 if invalid or
 * cut short. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t need, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need;
}

/* Is the whole file valid UTF-8?  -1 on a read error. */
static int file_is_utf8(FILE *f)
{
	unsigned char buf[CSVIN_CHUNK + 4];
	size_t carry = 0, n, i, k;

	for (;;) {
		n = fread(buf + carry, 1, CSVIN_CHUNK, f);
		if (n == 0)
			break;
		n += carry;
		i = 0;
		while (i < n) {
			k = utf8_seq(buf + i, n - i);
			if (k == 0) {
				/* a sequence cut by the chunk end is fine */
				if (n - i < 4 && !feof(f) && buf[i] >= 0xc2)
					break;
				return 0;
			}
			i += k;
		}
		carry = n - i;
		memmove(buf, buf + i, carry);
	}
	if (ferror(f))
		return -1;
	return carry == 0;
}

/* ---- records ---- */

static void record_reset(struct reader *r)
{
	r->len = 0;
	r->nfields = 0;
	r->pending = 0;
	r->bad = NULL;
}

static void record_bad(struct reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void record_bad(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->bad)
		return;
	va_start(ap, fmt);
	vsnprintf(r->bad_msg, sizeof(r->bad_msg), fmt, ap);
	va_end(ap);
	r->bad = r->bad_msg;
}

static void on_field(void *s, size_t n, void *data)
{
	struct reader *r = data;

	if (r->failed)
		return;
	if (r->nfields >= CSVIN_MAX_COLUMNS ||
	    (r->header_done && r->nfields >= r->nheader)) {
		r->nfields++;
		return;
	}
	if (s && memchr(s, '\0', n)) {
		record_bad(r, "field %zu contains a NUL byte", r->nfields + 1);
		n = 0;
	}
	if (n > IMPORT_FIELD_MAX) {
		record_bad(r, "field %zu is longer than %d bytes",
			   r->nfields + 1, IMPORT_FIELD_MAX);
		n = 0;
	}
	/*
	 * The record's bytes are bounded here, as they arrive: feed_text
	 * checks what it fed only after libcsv has handed over every field
	 * of the piece, up to a whole CSVIN_CHUNK (three times that once
	 * Windows-1252 is converted), and a header may have 32 fields of
	 * IMPORT_FIELD_MAX.  Past the bound a field is kept empty, so buf
	 * (CSVIN_RECORD_MAX and a NUL per column) always holds the record.
	 */
	if (r->len + n > CSVIN_RECORD_MAX) {
		record_bad(r, "record is longer than %d bytes",
			   CSVIN_RECORD_MAX);
		n = 0;
	}
	r->offs[r->nfields++] = r->len;
	if (n)
		memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len++] = '\0';
}

int csvin_casecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y || x == '\0')
			return x - y;
	}
}

static int take_header(struct reader *r)
{
	struct err *e = r->run->err;
	bool seen[CSVIN_MAX_COLUMNS] = {false};
	size_t i, c;

	if (r->nfields > CSVIN_MAX_COLUMNS)
		return err_set(e, ERR_INVALID, "header",
			       "line %lld: more than %d columns",
			       (long long)r->rec_line, CSVIN_MAX_COLUMNS);
	if (r->bad)
		return err_set(e, ERR_INVALID, "header", "line %lld: %s",
			       (long long)r->rec_line, r->bad);
	for (i = 0; i < r->nfields; i++) {
		const char *h = r->buf + r->offs[i];

		r->map[i] = -1;
		for (c = 0; c < r->ncols; c++)
			if (csvin_casecmp(h, r->cols[c].name) == 0 ||
			    (r->cols[c].alias &&
			     csvin_casecmp(h, r->cols[c].alias) == 0))
				break;
		if (c == r->ncols)
			return err_set(e, ERR_INVALID, "header",
				       "line %lld: unknown column \"%.64s\"",
				       (long long)r->rec_line, h);
		if (seen[c])
			return err_set(e, ERR_INVALID, "header",
				       "line %lld: column \"%.64s\" appears "
				       "twice",
				       (long long)r->rec_line, h);
		seen[c] = true;
		r->map[i] = (int)c;
	}
	for (c = 0; c < r->ncols; c++)
		if (r->cols[c].required && !seen[c])
			return err_set(e, ERR_INVALID, "header",
				       "line %lld: required column \"%s\" is "
				       "missing",
				       (long long)r->rec_line, r->cols[c].name);
	r->nheader = r->nfields;
	r->header_done = true;
	return 0;
}

static void on_record(int c, void *data)
{
	struct reader *r = data;
	const char *vals[CSVIN_MAX_COLUMNS];
	size_t i;

	(void)c;
	if (r->failed)
		return;
	if (r->nfields == 0) /* a blank line */
		goto out;
	if (!r->header_done) {
		if (take_header(r) < 0)
			r->failed = true;
		goto out;
	}
	if (r->nfields != r->nheader)
		record_bad(r, "record has %zu fields, the header has %zu",
			   r->nfields, r->nheader);
	if (r->bad) {
		import_reject(r->run, r->rec_line, "record", NULL, "%s",
			      r->bad);
		goto out;
	}
	for (i = 0; i < r->ncols; i++)
		vals[i] = NULL;
	for (i = 0; i < r->nfields; i++)
		vals[r->map[i]] = r->buf + r->offs[i];
	if (r->fn(r->run, r->rec_line, vals, r->arg) < 0)
		r->failed = true;
out:
	record_reset(r);
}

/* ---- feeding libcsv ---- */

static int parser_start(struct reader *r)
{
	if (csv_init(&r->parser,
		     CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
		return err_set(r->run->err, ERR_INTERNAL, NULL,
			       "out of memory");
	csv_set_delim(&r->parser, r->delim);
	r->parser_live = true;
	return 0;
}

/* The current record cannot be read: reject it (or, in the header, fail)
 * and start afresh with a new parser. */
static int parser_restart(struct reader *r, const char *why)
{
	if (!r->header_done)
		return err_set(r->run->err, ERR_INVALID, "header",
			       "line %lld: %s", (long long)r->rec_line, why);
	import_reject(r->run, r->rec_line, "record", NULL, "%s", why);
	csv_free(&r->parser);
	r->parser_live = false;
	record_reset(r);
	return parser_start(r);
}

static bool blank(const char *s, size_t n)
{
	return (n == 1 && (s[0] == '\n' || s[0] == '\r')) ||
	       (n == 2 && s[0] == '\r' && s[1] == '\n');
}

/*
 * The length of the piece of s (n > 0 bytes) up to the end of its
 * physical line, and whether the line ends there (*eol): at '\n', "\r\n",
 * or a lone '\r', where libcsv ends a record too (an old Mac file, or a
 * stray CR): each record then has its own line number.  A '\r' that ends
 * one piece may be the first half of a "\r\n" whose '\n' starts the
 * next: that '\n' is a piece of its own, on the line already counted.
 */
static size_t line_piece(struct reader *r, const char *s, size_t n, bool *eol)
{
	const char *nl, *cr;
	size_t upto;

	if (r->after_cr) {
		r->after_cr = false;
		if (s[0] == '\n') {
			*eol = false;
			return 1;
		}
	}
	nl = memchr(s, '\n', n);
	upto = nl ? (size_t)(nl - s) : n;
	cr = memchr(s, '\r', upto);
	if (cr && cr + 1 != nl) {
		r->after_cr = cr + 1 == s + n;
		*eol = true;
		return (size_t)(cr - s) + 1;
	}
	*eol = nl != NULL;
	return nl ? upto + 1 : n;
}

/*
 * Feed text to libcsv a physical line at a time (libcsv keeps its state
 * across calls, so a line may arrive in pieces).  r->line is the line being
 * fed, 1-based; a record is numbered by the line its first byte is on.
 */
static int feed_text(struct reader *r, const char *s, size_t n)
{
	bool eol;
	size_t k;

	while (n > 0) {
		k = line_piece(r, s, n, &eol);
		if (r->skipping) {
			/* the rest of an overlong or unreadable line */
		} else if (r->pending == 0 && blank(s, k)) {
			/* nothing */
		} else {
			if (r->pending == 0)
				r->rec_line = r->line;
			r->pending += k;
			if (csv_parse(&r->parser, s, k, on_field, on_record,
				      r) != k) {
				if (parser_restart(r, "malformed quoting (a "
						      "quote inside an "
						      "unquoted field?)") < 0)
					return -1;
				r->skipping = !eol;
			} else if (r->pending > CSVIN_RECORD_MAX) {
				char why[80];

				snprintf(why, sizeof(why),
					 "record is longer than %d bytes (an "
					 "unterminated quote?)",
					 CSVIN_RECORD_MAX);
				if (parser_restart(r, why) < 0)
					return -1;
				r->skipping = !eol;
			}
			if (r->failed)
				return -1;
		}
		if (eol) {
			r->line++;
			r->skipping = false;
		}
		s += k;
		n -= k;
	}
	return 0;
}

/* The delimiter the header line uses most, outside quotes. */
static unsigned char guess_delim(const char *s, size_t n)
{
	size_t semi = 0, comma = 0, tab = 0, i;
	bool quoted = false;

	for (i = 0; i < n && s[i] != '\n' && s[i] != '\r'; i++) {
		if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && s[i] == ';')
			semi++;
		else if (!quoted && s[i] == ',')
			comma++;
		else if (!quoted && s[i] == '\t')
			tab++;
	}
	if (semi >= comma && semi >= tab && semi > 0)
		return ';';
	if (tab > comma)
		return '\t';
	return ',';
}

/* Convert Windows-1252 in[0..n) to UTF-8 in out (room for 3n bytes). */
static size_t from_1252(iconv_t cd, const char *in, size_t n, char *out)
{
	char *ip = (char *)in, *op = out;
	size_t il = n, ol = 3 * n + 3;

	while (il > 0) {
		if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1)
			break;
		/* 0x81, 0x8d, 0x8f, 0x90, 0x9d are unassigned: U+FFFD */
		memcpy(op, "\xef\xbf\xbd", 3);
		op += 3;
		ol -= 3;
		ip++;
		il--;
	}
	return (size_t)(op - out);
}

int csvin_read(struct import_run *run, const char *path,
	       const struct csvin_column *cols, size_t ncols,
	       csvin_record_fn *fn, void *arg)
{
	struct reader r = {0};
	FILE *f = NULL;
	char *chunk = NULL, *conv = NULL;
	size_t n;
	iconv_t cd = (iconv_t)-1;
	bool first = true;
	int utf8, rc = -1;

	if (ncols > CSVIN_MAX_COLUMNS)
		return err_set(run->err, ERR_INTERNAL, NULL,
			       "too many columns for csvin");
	r.run = run;
	r.cols = cols;
	r.ncols = ncols;
	r.fn = fn;
	r.arg = arg;
	f = fopen(path, "rb");
	if (!f) {
		err_set(run->err, ERR_INVALID, "source", "%s: %s", path,
			strerror(errno));
		goto out;
	}
	utf8 = file_is_utf8(f);
	if (utf8 < 0 || fseek(f, 0, SEEK_SET) != 0) {
		err_set(run->err, ERR_INVALID, "source", "%s: read error",
			path);
		goto out;
	}
	if (!utf8) {
		cd = iconv_open("UTF-8", "WINDOWS-1252");
		if (cd == (iconv_t)-1) {
			err_set(run->err, ERR_INTERNAL, NULL,
				"iconv cannot convert from Windows-1252");
			goto out;
		}
	}
	chunk = malloc(CSVIN_CHUNK);
	conv = malloc(3 * CSVIN_CHUNK + 3);
	r.buf = malloc(CSVIN_RECORD_MAX + CSVIN_MAX_COLUMNS + 1);
	r.line = 1;
	if (!chunk || !conv || !r.buf) {
		err_set(run->err, ERR_INTERNAL, NULL, "out of memory");
		goto out;
	}
	while ((n = fread(chunk, 1, CSVIN_CHUNK, f)) > 0) {
		const char *text = chunk;

		run->bytes_read += (int64_t)n;
		if (!utf8) {
			n = from_1252(cd, chunk, n, conv);
			text = conv;
		}
		if (first) {
			if (n >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
				text += 3;
				n -= 3;
			}
			r.delim = (unsigned char)guess_delim(text, n);
			if (parser_start(&r) < 0)
				goto out;
			first = false;
		}
		if (feed_text(&r, text, n) < 0)
			goto fail;
	}
	if (ferror(f)) {
		err_set(run->err, ERR_INVALID, "source", "%s: read error",
			path);
		goto out;
	}
	if (first) {
		err_set(run->err, ERR_INVALID, "header",
			"%s is empty: a header line is required", path);
		goto out;
	}
	if (csv_fini(&r.parser, on_field, on_record, &r) != 0 &&
	    parser_restart(&r, "unterminated quoted field at the end of the "
			       "file") < 0)
		goto out;
	if (r.failed)
		goto fail;
	if (!r.header_done) {
		err_set(run->err, ERR_INVALID, "header",
			"%s has no header line", path);
		goto out;
	}
	rc = 0;
	goto out;
fail:
	if (run->err->code == ERR_NONE)
		err_set(run->err, ERR_INTERNAL, NULL, "CSV reading stopped");
out:
	if (r.parser_live)
		csv_free(&r.parser);
	if (cd != (iconv_t)-1)
		iconv_close(cd);
	free(chunk);
	free(conv);
	free(r.buf);
	if (f)
		fclose(f);
	return rc;
}
