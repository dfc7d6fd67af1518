/*
 * articles.c -- the articles feed: Vnr -> NPL pack id with pack size, in
 * the style of TLV's price file; it is what creates medicine products.
 *
 * Declared in importers/feeds.h:
 *
 *   extern const struct import_feed import_feed_articles;
 *
 * Format (national feed; CSV, UTF-8 or Windows-1252, delimiter ';' -- or
 * ',' or tab; one header line, column names case-insensitive):
 *
 *   Produktnamn  required  the product's name, 1..300 bytes
 *   Företag      optional  the company, ..300 bytes; checked, not kept
 *   ATC-kod      optional  ATC code; empty allowed.  A full code
 *                          (A01AA01) is kept unless the NPL register has
 *                          one; a well-formed shorter level (A01AA) is
 *                          accepted and not kept (product.atc is the full
 *                          level); anything else is a rejection
 *   Varunummer   required  Vnr, exactly 6 digits, leading zeros kept
 *   NPL id       required  the NPL *pack* id (nplpackid), 14 digits: a
 *                          Vnr names one package, and a product row is
 *                          one stocked pack.  (Alias "NPL-id".)
 *   Förpackning  optional  pack text ("Blister, 30 tabletter"), ..300
 *                          bytes, kept in product.pack_text
 *   Antal        required  units per pack: product.pack_size, 1..1000000
 *   AIP, AUP     optional  pharmacy purchase / retail price in kronor,
 *                          decimal comma (or point), at most two
 *                          decimals: "123,45".  Checked, not kept: stock
 *                          and readiness do not depend on prices
 *
 *   Produktnamn;Företag;ATC-kod;Varunummer;NPL id;Förpackning;Antal;AIP;AUP
 *   Alvedon;Haleon;N02BE01;012345;20050512000031;Blister, 20 st;20;21,50;34,00
 *
 * What it writes.  A product is found by its Vnr, or else as the product
 * that already has the NPL pack id but no Vnr; it is created (category
 * medicine) when there is none.  The price file is the authority on which
 * pack a Vnr is: a Vnr whose product had another pack id gets the new one.
 * It sets name, npl_pack_id, pack_size and pack_text (an empty Förpackning
 * keeps the old text).  npl_id, strength and form come from the NPL
 * register (npl_package, npl_medprod) when it knows the pack -- the values
 * the npl feed sets, so that the order of the two feeds does not matter --
 * and the ATC is the register's full code, else the file's, else the old
 * one.  Only rows that change are written.
 *
 * Rejected: anything malformed above; a Vnr or an NPL pack id named twice
 * in one file (the later line); a Vnr that belongs to a product that is not
 * a medicine; an NPL pack id that another product (another Vnr) already has
 * and keeps -- product.npl_pack_id is unique.  A pack id that moves within
 * the file (row A takes row B's old pack, B gets another) is not a
 * conflict: the product giving it up lets go of it first.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "csvin.h"
#include "feeds.h"
#include "import.h"
#include "validate.h"

enum {
	C_NAME,
	C_COMPANY,
	C_ATC,
	C_VNR,
	C_NPL,
	C_PACK,
	C_COUNT,
	C_AIP,
	C_AUP,
	NCOLS
};

static const struct csvin_column columns[NCOLS] = {
	[C_NAME] = {"Produktnamn", true, NULL},
	[C_COMPANY] = {"Företag", false, NULL},
	[C_ATC] = {"ATC-kod", false, NULL},
	[C_VNR] = {"Varunummer", true, NULL},
	[C_NPL] = {"NPL id", true, "NPL-id"},
	[C_PACK] = {"Förpackning", false, NULL},
	[C_COUNT] = {"Antal", true, NULL},
	[C_AIP] = {"AIP", false, NULL},
	[C_AUP] = {"AUP", false, NULL},
};

/* As in npl.c: a well-formed ATC code of any level, judged by validate_atc
 * on the code completed to the full shape. */
static bool atc_any_level(const char *s)
{
	static const char filler[] = "A00AA00";
	char full[8];
	struct err e;
	size_t n = strlen(s);

	if (n != 1 && n != 3 && n != 4 && n != 5 && n != 7)
		return false;
	memcpy(full, s, n);
	memcpy(full + n, filler + n, sizeof(full) - n);
	return validate_atc(full, "atc", &e) == 0;
}

/* A price: 1..9 digits, then optionally ',' or '.' and 1..2 digits. */
static bool price_ok(const char *s)
{
	size_t i = 0, n = 0;

	while (s[i] >= '0' && s[i] <= '9')
		i++;
	if (i < 1 || i > 9)
		return false;
	if (s[i] == '\0')
		return true;
	if (s[i] != ',' && s[i] != '.')
		return false;
	for (i++; s[i] >= '0' && s[i] <= '9'; i++)
		n++;
	return s[i] == '\0' && n >= 1 && n <= 2;
}

/* Nonempty: NULL for an absent column or an empty field. */
static const char *given(const char *s)
{
	return s && s[0] ? s : NULL;
}

static int record(struct import_run *run, int64_t line, const char *const *v,
		  void *arg)
{
	char size[24];
	const char *atc = NULL;
	struct err e = {0};
	int64_t count = 0;
	bool bad = false;

	(void)arg;
	if (validate_text(v[C_NAME], 300, false, "Produktnamn", &e) < 0) {
		import_reject_err(run, line, v[C_NAME], &e);
		bad = true;
	}
	if (given(v[C_COMPANY]) &&
	    validate_text(v[C_COMPANY], 300, false, "Företag", &e) < 0) {
		import_reject_err(run, line, v[C_COMPANY], &e);
		bad = true;
	}
	if (given(v[C_ATC])) {
		if (!atc_any_level(v[C_ATC])) {
			import_reject(run, line, "ATC-kod", v[C_ATC],
				      "not an ATC code of any level (A, A01, "
				      "A01A, A01AA or A01AA01)");
			bad = true;
		} else if (strlen(v[C_ATC]) == 7) {
			atc = v[C_ATC];
		}
	}
	if (validate_vnr(v[C_VNR], "Varunummer", &e) < 0) {
		import_reject_err(run, line, v[C_VNR], &e);
		bad = true;
	}
	if (validate_npl_id(v[C_NPL], "NPL id", &e) < 0) {
		import_reject_err(run, line, v[C_NPL], &e);
		bad = true;
	}
	if (given(v[C_PACK]) &&
	    validate_text(v[C_PACK], 300, false, "Förpackning", &e) < 0) {
		import_reject_err(run, line, v[C_PACK], &e);
		bad = true;
	}
	if (parse_int64(v[C_COUNT], 1, 1000000, &count, "Antal", &e) < 0) {
		import_reject_err(run, line, v[C_COUNT], &e);
		bad = true;
	}
	if (given(v[C_AIP]) && !price_ok(v[C_AIP])) {
		import_reject(run, line, "AIP", v[C_AIP],
			      "not a price: kronor with at most two decimals "
			      "after a comma, e.g. 123,45");
		bad = true;
	}
	if (given(v[C_AUP]) && !price_ok(v[C_AUP])) {
		import_reject(run, line, "AUP", v[C_AUP],
			      "not a price: kronor with at most two decimals "
			      "after a comma, e.g. 123,45");
		bad = true;
	}
	if (bad)
		return 0;

	snprintf(size, sizeof(size), "%" PRId64, count);
	{
		const char *vals[] = {
			v[C_VNR], v[C_NPL],	    v[C_NAME],
			atc,	  given(v[C_PACK]), size,
		};

		return import_stage_row(run, line, 6, vals);
	}
}

static int parse(struct import_run *run, const char *path)
{
	return csvin_read(run, path, columns, NCOLS, record, NULL);
}

/* Rows that passed every check so far. */
#define GOOD(s) \
	"NOT EXISTS (SELECT 1 FROM import_rejects r WHERE r.line = " s ".line)"

static const char check_dup_vnr[] =
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'Varunummer', vnr, 'duplicate of line ' || first"
	"   FROM (SELECT line, vnr,"
	"		 min(line) OVER (PARTITION BY vnr) AS first"
	"	    FROM stage_articles) d"
	"  WHERE line <> first";

static const char check_dup_npl[] =
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'NPL id', npl_pack_id, 'duplicate of line ' || first"
	"   FROM (SELECT line, npl_pack_id,"
	"		 min(line) OVER (PARTITION BY npl_pack_id) AS first"
	"	    FROM stage_articles s WHERE " GOOD(
		"s") ") d"
		     "  WHERE line <> first";

static const char check_category[] =
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT s.line, 'Varunummer', s.vnr,"
	"	 format('Vnr belongs to product %s (%s), a %s, not a "
	"medicine', p.id, left(p.name, 80), p.category)"
	"   FROM stage_articles s JOIN product p ON p.vnr = s.vnr"
	"  WHERE p.category <> 'medicine' AND " GOOD("s");

/*
 * The pack id is held by a product o that is not this row's: o has another
 * Vnr, or has none while this Vnr already has a product of its own.  It is
 * no conflict when o's Vnr is in the file with another pack: o gives it up.
 */
static const char check_pack_taken[] =
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT s.line, 'NPL id', s.npl_pack_id,"
	"	 format('NPL pack id belongs to product %s (%s, Vnr %s)', o.id,"
	"		left(o.name, 80), coalesce(o.vnr, 'none'))"
	"   FROM stage_articles s JOIN product o"
	"	 ON o.npl_pack_id = s.npl_pack_id"
	"  WHERE " GOOD(
		"s") "   AND o.vnr IS DISTINCT FROM s.vnr"
		     "    AND NOT (o.vnr IS NULL"
		     "	      AND NOT EXISTS (SELECT 1 FROM product v"
		     "			       WHERE v.vnr = s.vnr))"
		     "    AND NOT EXISTS (SELECT 1 FROM stage_articles g"
		     "		     WHERE g.vnr = o.vnr"
		     "		       AND g.npl_pack_id <> s.npl_pack_id"
		     "		       AND " GOOD("g") ")";

static int check(struct import_run *run)
{
	int64_t n;

	if (import_exec(run, check_dup_vnr, 0, NULL) < 0 ||
	    import_exec(run, check_dup_npl, 0, NULL) < 0 ||
	    import_exec(run, check_category, 0, NULL) < 0)
		return -1;
	/*
	 * A row refused here may have been the one giving up a pack id that
	 * another row counted on, which then keeps its holder: repeat until
	 * nothing more is refused.  Each round refuses at least one more row,
	 * so this ends; real files take one round, two with such a chain.
	 */
	do {
		n = import_exec(run, check_pack_taken, 0, NULL);
		if (n < 0)
			return -1;
	} while (n > 0);
	return 0;
}

/* Products that give their pack id to another row of the file let go of it
 * first: product.npl_pack_id is unique row by row. */
static const char apply_release[] =
	"UPDATE product p SET npl_pack_id = NULL, batch_id = $1"
	"  FROM stage_articles s"
	" WHERE p.vnr = s.vnr AND " GOOD(
		"s") "   AND p.npl_pack_id <> s.npl_pack_id"
		     "   AND EXISTS (SELECT 1 FROM stage_articles g"
		     "		WHERE g.npl_pack_id = p.npl_pack_id"
		     "		  AND g.vnr <> s.vnr AND " GOOD("g") ")";

/* A product known by its pack id alone takes the Vnr that names it. */
static const char apply_adopt[] =
	"UPDATE product p SET vnr = s.vnr, batch_id = $1"
	"  FROM stage_articles s"
	" WHERE p.npl_pack_id = s.npl_pack_id AND p.vnr IS NULL"
	"   AND " GOOD(
		"s") "   AND NOT EXISTS (SELECT 1 FROM product v WHERE v.vnr = s.vnr)";

/* The register's view of the row's pack, as the npl feed would set it. */
#define REGISTER                                                    \
	" LEFT JOIN npl_package k ON k.npl_pack_id = s.npl_pack_id" \
	" LEFT JOIN npl_medprod m ON m.npl_id = k.npl_id"           \
	" CROSS JOIN LATERAL (SELECT CASE WHEN m.atc ~"             \
	"	'^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$' THEN m.atc END AS atc) f"

static const char apply_update[] =
	"UPDATE product p"
	"   SET name = n.name, npl_pack_id = n.npl_pack_id,"
	"	npl_id = n.npl_id, atc = n.atc, strength = n.strength,"
	"	form = n.form, pack_size = n.pack_size,"
	"	pack_text = n.pack_text, batch_id = $1"
	"  FROM (SELECT q.id, s.name, s.npl_pack_id,"
	"		coalesce(k.npl_id, CASE WHEN q.npl_pack_id ="
	"			 s.npl_pack_id THEN q.npl_id END) AS npl_id,"
	"		coalesce(f.atc, s.atc, q.atc) AS atc,"
	"		coalesce(m.strength, q.strength) AS strength,"
	"		coalesce(m.form, q.form) AS form, s.pack_size,"
	"		coalesce(s.pack_text, q.pack_text) AS pack_text"
	"	   FROM stage_articles s"
	"	   JOIN product q ON q.vnr = s.vnr" REGISTER
	"	  WHERE " GOOD(
		"s") ") n"
		     " WHERE p.id = n.id"
		     "   AND (p.name, p.npl_pack_id, p.npl_id, p.atc, p.strength, p.form,"
		     "	 p.pack_size, p.pack_text)"
		     "	IS DISTINCT FROM"
		     "	(n.name, n.npl_pack_id, n.npl_id, n.atc, n.strength, n.form,"
		     "	 n.pack_size, n.pack_text)";

static const char apply_insert[] =
	"INSERT INTO product (category, name, vnr, npl_pack_id, npl_id, atc,"
	"		      strength, form, pack_size, pack_text, batch_id)"
	" SELECT 'medicine', s.name, s.vnr, s.npl_pack_id, k.npl_id,"
	"	 coalesce(f.atc, s.atc), m.strength, m.form, s.pack_size,"
	"	 s.pack_text, $1"
	"   FROM stage_articles s" REGISTER "  WHERE " GOOD(
		"s") "    AND NOT EXISTS (SELECT 1 FROM product p WHERE p.vnr = s.vnr)"
		     "  ORDER BY s.line";

static int apply(struct import_run *run)
{
	static const char *const steps[] = {apply_release, apply_adopt,
					    apply_update, apply_insert};

	return import_merge(
		run, steps, sizeof(steps) / sizeof(steps[0]),
		"SELECT count(*) FROM stage_articles s WHERE " GOOD("s"));
}

const struct import_feed import_feed_articles = {
	.name = "articles",
	.summary = "Vnr to NPL pack id with pack size (TLV price file style, "
		   "CSV): creates and updates medicine products",
	.scope = IMPORT_NATIONAL,
	.stage_sql = "CREATE TEMP TABLE stage_articles ("
		     " line bigint NOT NULL,"
		     " vnr text NOT NULL,"
		     " npl_pack_id text NOT NULL,"
		     " name text NOT NULL,"
		     " atc text,"
		     " pack_text text,"
		     " pack_size integer NOT NULL"
		     ") ON COMMIT DROP",
	.copy_sql = "COPY stage_articles (line, vnr, npl_pack_id, name, atc,"
		    " pack_text, pack_size) FROM STDIN",
	.parse = parse,
	.check = check,
	.apply = apply,
	.accepts_dir = false,
};
