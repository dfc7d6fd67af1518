/*
 * table.c -- write a PGresult as an aligned text table or as TSV.
 *
 * Widths are counted in characters, not bytes, so that Swedish names with
 * å, ä and ö line up.
 */
#include <string.h>

#include "reports.h"

/* Characters in a UTF-8 string: count the bytes that start one. */
static size_t display_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static bool is_numeric(const int *numeric, int col)
{
	for (; numeric && *numeric >= 0; numeric++)
		if (*numeric == col)
			return true;
	return false;
}

static void pad(FILE *out, size_t n)
{
	while (n-- > 0)
		fputc(' ', out);
}

static void write_tsv(FILE *out, const PGresult *res)
{
	int cols = PQnfields(res);

	for (int c = 0; c < cols; c++)
		fprintf(out, "%s%s", c ? "\t" : "", PQfname(res, c));
	fputc('\n', out);
	for (int r = 0; r < PQntuples(res); r++) {
		for (int c = 0; c < cols; c++)
			fprintf(out, "%s%s", c ? "\t" : "",
				PQgetvalue(res, r, c));
		fputc('\n', out);
	}
}

void report_write(FILE *out, enum report_format fmt, const PGresult *res,
		  const int *numeric)
{
	int cols = PQnfields(res);
	size_t width[64] = {0};

	if (fmt == REPORT_TSV || cols > 64) {
		write_tsv(out, res);
		return;
	}
	for (int c = 0; c < cols; c++) {
		width[c] = display_width(PQfname(res, c));
		for (int r = 0; r < PQntuples(res); r++) {
			size_t w = display_width(PQgetvalue(res, r, c));

			if (w > width[c])
				width[c] = w;
		}
	}
	for (int c = 0; c < cols; c++) {
		const char *h = PQfname(res, c);
		size_t gap = width[c] - display_width(h);

		if (c)
			fputs("  ", out);
		if (is_numeric(numeric, c))
			pad(out, gap);
		fputs(h, out);
		if (!is_numeric(numeric, c) && c < cols - 1)
			pad(out, gap);
	}
	fputc('\n', out);
	for (int c = 0; c < cols; c++) {
		if (c)
			fputs("  ", out);
		for (size_t i = 0; i < width[c]; i++)
			fputc('-', out);
	}
	fputc('\n', out);
	for (int r = 0; r < PQntuples(res); r++) {
		for (int c = 0; c < cols; c++) {
			const char *v = PQgetvalue(res, r, c);
			size_t gap = width[c] - display_width(v);

			if (c)
				fputs("  ", out);
			if (is_numeric(numeric, c))
				pad(out, gap);
			fputs(v, out);
			if (!is_numeric(numeric, c) && c < cols - 1)
				pad(out, gap);
		}
		fputc('\n', out);
	}
	fprintf(out, "(%d row%s)\n", PQntuples(res),
		PQntuples(res) == 1 ? "" : "s");
}
