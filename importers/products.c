/*
 * products.c -- the products feed: the national product master for
 * everything that is not a medicine (devices, PPE, FSMP, manufacturing
 * material), keyed by GTIN.
 *
 * Format (national feed; CSV, UTF-8 or Windows-1252, delimiter ',' ';' or
 * tab; one header line, column names case-insensitive, Swedish names
 * accepted as aliases):
 *
 *   gtin       (GTIN)                 required  GTIN-8/12/13/14 with a
 *                                               valid check digit; stored
 *                                               as 14 digits
 *   name       (benämning)            required  1..300 bytes of text
 *   category   (kategori)             required  medical_device, ppe, fsmp,
 *                                               manufacturing_material, or
 *                                               in Swedish medicinteknisk
 *                                               produkt, (personlig)
 *                                               skyddsutrustning, livsmedel
 *                                               för speciella medicinska
 *                                               ändamål, tillverkningsmaterial
 *   base_unit  (basenhet)             required  1..20 bytes: "st", "par",
 *                                               "ml" -- the unit stock and
 *                                               consumption are counted in
 *   pack_size  (förpackningsstorlek)  required  base units per pack,
 *                                               1..1000000
 *   critical   (kritisk)              optional  true/false, ja/nej,
 *                                               yes/no, 1/0; empty or no
 *                                               column: a new product is
 *                                               not critical, an existing
 *                                               one keeps its flag
 *   emdn       (EMDN)                 optional  EMDN code: a category
 *                                               letter (A-D, F-H, J-N,
 *                                               P-Z) and 0..6 levels of two
 *                                               digits, e.g. T0102; empty
 *                                               clears it, no column keeps
 *                                               it
 *
 *   gtin,name,category,base_unit,pack_size,critical,emdn
 *   07350012345679,Nitrile examination glove M,ppe,st,100,ja,T0102
 *
 * A product is upserted by its GTIN.  Medicines are refused: they are
 * identified through NPL (the npl and articles feeds), and a GTIN that
 * already belongs to a medicine is not taken over.  A GTIN named twice in
 * one file is refused on the later lines ("duplicate of line N").
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
	C_GTIN,
	C_NAME,
	C_CATEGORY,
	C_BASE_UNIT,
	C_PACK_SIZE,
	C_CRITICAL,
	C_EMDN,
	NCOLS
};

static const struct csvin_column columns[NCOLS] = {
	[C_GTIN] = {"gtin", true, NULL},
	[C_NAME] = {"name", true, "benämning"},
	[C_CATEGORY] = {"category", true, "kategori"},
	[C_BASE_UNIT] = {"base_unit", true, "basenhet"},
	[C_PACK_SIZE] = {"pack_size", true, "förpackningsstorlek"},
	[C_CRITICAL] = {"critical", false, "kritisk"},
	[C_EMDN] = {"emdn", false, NULL},
};

static const struct {
	const char *word;
	const char *category;
} category_words[] = {
	{"medicine", "medicine"},
	{"läkemedel", "medicine"},
	{"medical_device", "medical_device"},
	{"medicinteknisk produkt", "medical_device"},
	{"medicintekniska produkter", "medical_device"},
	{"ppe", "ppe"},
	{"skyddsutrustning", "ppe"},
	{"personlig skyddsutrustning", "ppe"},
	{"fsmp", "fsmp"},
	{"livsmedel för speciella medicinska ändamål", "fsmp"},
	{"manufacturing_material", "manufacturing_material"},
	{"tillverkningsmaterial", "manufacturing_material"},
};

/* The category a word names, or NULL. */
static const char *category_of(const char *s)
{
	for (size_t i = 0; i < sizeof(category_words) / sizeof(*category_words);
	     i++)
		if (csvin_casecmp(s, category_words[i].word) == 0)
			return category_words[i].category;
	return NULL;
}

/* "true"/"false" for a flag as people write it, or NULL. */
static const char *flag_of(const char *s)
{
	static const char *const yes[] = {"true", "ja", "yes", "1", "j", "y"};
	static const char *const no[] = {"false", "nej", "no", "0", "n"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++)
		if (csvin_casecmp(s, yes[i]) == 0)
			return "true";
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++)
		if (csvin_casecmp(s, no[i]) == 0)
			return "false";
	return NULL;
}

/*
 * An EMDN code, upper-cased into out (14 bytes): the same shape as the
 * CHECK on product.emdn in sql/006_feeds.sql.
 */
static int emdn_parse(const char *s, char out[14], struct err *e)
{
	size_t n = strlen(s), i;
	char c = s[0];

	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	if (n == 0 || c < 'A' || c > 'Z')
		return err_set(e, ERR_INVALID, "emdn",
			       "emdn \"%.40s\": must start with a category "
			       "letter",
			       s);
	if (c == 'E' || c == 'I' || c == 'O')
		return err_set(e, ERR_INVALID, "emdn",
			       "emdn \"%.40s\": %c is not an EMDN category "
			       "(E, I and O are not used)",
			       s, c);
	if (n > 13 || (n - 1) % 2 != 0)
		return err_set(e, ERR_INVALID, "emdn",
			       "emdn \"%.40s\": a letter must be followed by "
			       "0 to 6 levels of two digits",
			       s);
	for (i = 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return err_set(e, ERR_INVALID, "emdn",
				       "emdn \"%.40s\": only digits may follow "
				       "the category letter",
				       s);
	out[0] = c;
	memcpy(out + 1, s + 1, n); /* with the NUL */
	return 0;
}

static int record(struct import_run *run, int64_t line, const char *const *v,
		  void *arg)
{
	char gtin[15], emdn[14], pack[24];
	const char *category = NULL, *critical = NULL;
	struct err e = {0};
	int64_t pack_size = 0;
	bool bad = false;

	(void)arg;
	if (gtin_normalize(v[C_GTIN], gtin, "gtin", &e) < 0) {
		import_reject_err(run, line, v[C_GTIN], &e);
		bad = true;
	}
	if (validate_text(v[C_NAME], 300, false, "name", &e) < 0) {
		import_reject_err(run, line, v[C_NAME], &e);
		bad = true;
	}
	category = category_of(v[C_CATEGORY]);
	if (!category) {
		import_reject(run, line, "category", v[C_CATEGORY],
			      "not one of medical_device, ppe, fsmp, "
			      "manufacturing_material (or the Swedish names)");
		bad = true;
	} else if (strcmp(category, "medicine") == 0) {
		import_reject(run, line, "category", v[C_CATEGORY],
			      "medicines are identified through NPL: import "
			      "them with the npl and articles feeds");
		bad = true;
	}
	if (validate_text(v[C_BASE_UNIT], 20, false, "base_unit", &e) < 0) {
		import_reject_err(run, line, v[C_BASE_UNIT], &e);
		bad = true;
	}
	if (parse_int64(v[C_PACK_SIZE], 1, 1000000, &pack_size, "pack_size",
			&e) < 0) {
		import_reject_err(run, line, v[C_PACK_SIZE], &e);
		bad = true;
	}
	if (v[C_CRITICAL] && v[C_CRITICAL][0]) {
		critical = flag_of(v[C_CRITICAL]);
		if (!critical) {
			import_reject(run, line, "critical", v[C_CRITICAL],
				      "not a yes or no: write true/false, "
				      "ja/nej, yes/no or 1/0");
			bad = true;
		}
	}
	emdn[0] = '\0';
	if (v[C_EMDN] && v[C_EMDN][0] && emdn_parse(v[C_EMDN], emdn, &e) < 0) {
		import_reject_err(run, line, v[C_EMDN], &e);
		bad = true;
	}
	if (bad)
		return 0;

	snprintf(pack, sizeof(pack), "%" PRId64, pack_size);
	{
		const char *vals[] = {
			gtin,
			v[C_NAME],
			category,
			v[C_BASE_UNIT],
			pack,
			critical,
			emdn[0] ? emdn : NULL,
			v[C_EMDN] ? "true" : "false",
		};

		return import_stage_row(run, line, 8, vals);
	}
}

static int parse(struct import_run *run, const char *path)
{
	return csvin_read(run, path, columns, NCOLS, record, NULL);
}

/* Rows that passed every check so far. */
#define GOOD "NOT EXISTS (SELECT 1 FROM import_rejects r WHERE r.line = s.line)"

static int check(struct import_run *run)
{
	if (import_exec(
		    run,
		    "INSERT INTO import_rejects (line, field, value, reason)"
		    " SELECT line, 'gtin', gtin, 'duplicate of line ' || first"
		    "   FROM (SELECT line, gtin, min(line) OVER"
		    "		 (PARTITION BY gtin) AS first"
		    "	   FROM stage_products) d"
		    "  WHERE line <> first",
		    0, NULL) < 0)
		return -1;
	if (import_exec(
		    run,
		    "INSERT INTO import_rejects (line, field, value, reason)"
		    " SELECT s.line, 'gtin', s.gtin,"
		    "	 format('GTIN belongs to medicine %s (product %s), "
		    "which the NPL register keeps; the products feed does "
		    "not change medicines', left(p.name, 80), p.id)"
		    "   FROM stage_products s JOIN product p ON p.gtin = s.gtin"
		    "  WHERE p.category = 'medicine'",
		    0, NULL) < 0)
		return -1;
	return 0;
}

/* Only rows that change, so that the audit log shows real changes. */
static const char update_sql[] =
	"UPDATE product p"
	"   SET category = s.category, name = s.name,"
	"	base_unit = s.base_unit, pack_size = s.pack_size,"
	"	critical = coalesce(s.critical, p.critical),"
	"	emdn = CASE WHEN s.emdn_given THEN s.emdn ELSE p.emdn END,"
	"	batch_id = $1"
	"  FROM stage_products s"
	" WHERE p.gtin = s.gtin AND " GOOD
	"   AND (p.category, p.name, p.base_unit, p.pack_size, p.critical,"
	"	 p.emdn)"
	"	IS DISTINCT FROM"
	"	(s.category, s.name, s.base_unit, s.pack_size,"
	"	 coalesce(s.critical, p.critical),"
	"	 CASE WHEN s.emdn_given THEN s.emdn ELSE p.emdn END)";

static const char insert_sql[] =
	"INSERT INTO product (category, name, gtin, base_unit, pack_size,"
	"		      critical, emdn, batch_id)"
	" SELECT s.category, s.name, s.gtin, s.base_unit, s.pack_size,"
	"	 coalesce(s.critical, false), s.emdn, $1"
	"   FROM stage_products s"
	"  WHERE " GOOD
	"    AND NOT EXISTS (SELECT 1 FROM product p WHERE p.gtin = s.gtin)"
	"  ORDER BY s.line";

static int apply(struct import_run *run)
{
	static const char *const steps[] = {update_sql, insert_sql};

	return import_merge(
		run, steps, 2,
		"SELECT count(*) FROM stage_products s WHERE " GOOD);
}

const struct import_feed import_feed_products = {
	.name = "products",
	.summary = "product master for devices, PPE, FSMP and manufacturing "
		   "material (CSV, by GTIN)",
	.scope = IMPORT_NATIONAL,
	.stage_sql = "CREATE TEMP TABLE stage_products ("
		     " line bigint NOT NULL,"
		     " gtin text NOT NULL,"
		     " name text NOT NULL,"
		     " category product_category NOT NULL,"
		     " base_unit text NOT NULL,"
		     " pack_size integer NOT NULL,"
		     " critical boolean,"
		     " emdn text,"
		     " emdn_given boolean NOT NULL"
		     ") ON COMMIT DROP",
	.copy_sql = "COPY stage_products (line, gtin, name, category,"
		    " base_unit, pack_size, critical, emdn, emdn_given)"
		    " FROM STDIN",
	.parse = parse,
	.check = check,
	.apply = apply,
	.accepts_dir = false,
};
