/*
 * shortages.c -- the shortages feed: Läkemedelsverket-style notices of
 * shortages (restsituationer) of medicines.
 *
 * Format (national feed; CSV, UTF-8 or Windows-1252, delimiter ',' ';' or
 * tab; header names case-insensitive, Swedish aliases in brackets):
 *
 *   notice_id     (id)                  required  the notice's number:
 *                                                 1..64 of [A-Za-z0-9._/-],
 *                                                 starting with a letter
 *                                                 or digit
 *   vnr           (varunummer)          one of    Varunummer, 6 digits
 *   npl_pack_id   (npl-pack-id)         these     NPL pack id, 14 digits
 *                                                 (the header has at least
 *                                                 one of the columns, each
 *                                                 record at least one value)
 *   product_name  (produktnamn)         required  1..300 bytes of text
 *   start         (startdatum)          required  YYYY-MM-DD
 *   expected_end  (beräknat slutdatum)  optional  YYYY-MM-DD, not before
 *                                                 start; empty: unknown
 *   reason        (orsak)               optional  up to 1000 bytes of text
 *   status        (status)              required  forecast, active,
 *                                                 resolved, cancelled, or
 *                                                 as Läkemedelsverket
 *                                                 writes them: kommande /
 *                                                 förväntad, pågående /
 *                                                 aktuell, avslutad /
 *                                                 upphörd, makulerad /
 *                                                 återkallad
 *
 *   notice_id;vnr;npl_pack_id;product_name;start;expected_end;reason;status
 *   RS-2026-0113;012345;;Propofol 10 mg/ml 20 ml x 5;2026-10-01;;
 *       Produktionsproblem;pågående
 *
 * Notices are upserted by notice id: a later file updates status, dates and
 * reason, and first_seen_at stays.  A notice is stored whether or not the
 * product is in lagerbild's catalog; product_id is set when it is (and
 * refreshed on every import).  A notice keeps its product: a Vnr or NPL pack
 * id that differs from the stored one is refused, as is a Vnr and an NPL
 * pack id naming two different products.  Notices missing from a file are
 * left as they are: a file need not be a full list.  The same notice twice
 * in one file is refused on the later line ("duplicate of line N").
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
	C_NOTICE,
	C_VNR,
	C_NPL,
	C_NAME,
	C_START,
	C_END,
	C_REASON,
	C_STATUS,
	NCOLS
};

static const struct csvin_column columns[NCOLS] = {
	[C_NOTICE] = {"notice_id", true, "id"},
	[C_VNR] = {"vnr", false, "varunummer"},
	[C_NPL] = {"npl_pack_id", false, "npl-pack-id"},
	[C_NAME] = {"product_name", true, "produktnamn"},
	[C_START] = {"start", true, "startdatum"},
	[C_END] = {"expected_end", false, "beräknat slutdatum"},
	[C_REASON] = {"reason", false, "orsak"},
	[C_STATUS] = {"status", true, NULL},
};

static const struct {
	const char *word;
	const char *status;
} status_words[] = {
	{"forecast", "forecast"},    {"upcoming", "forecast"},
	{"kommande", "forecast"},    {"förväntad", "forecast"},
	{"active", "active"},	     {"ongoing", "active"},
	{"pågående", "active"},	     {"aktuell", "active"},
	{"resolved", "resolved"},    {"ended", "resolved"},
	{"avslutad", "resolved"},    {"upphörd", "resolved"},
	{"cancelled", "cancelled"},  {"canceled", "cancelled"},
	{"withdrawn", "cancelled"},  {"makulerad", "cancelled"},
	{"återkallad", "cancelled"}, {"Återkallad", "cancelled"},
};

static const char *status_of(const char *s)
{
	for (size_t i = 0; i < sizeof(status_words) / sizeof(*status_words);
	     i++)
		if (csvin_casecmp(s, status_words[i].word) == 0)
			return status_words[i].status;
	return NULL;
}

/* The shape of shortage_notice.notice_id in sql/006_feeds.sql. */
static int notice_check(const char *s, struct err *e)
{
	size_t n = strlen(s);

	if (n < 1 || n > 64)
		return err_set(e, ERR_INVALID, "notice_id",
			       "notice_id \"%.40s\": must be 1 to 64 "
			       "characters",
			       s);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
			     (c >= 'a' && c <= 'z');

		if (!alnum &&
		    (i == 0 || (c != '.' && c != '_' && c != '/' && c != '-')))
			return err_set(e, ERR_INVALID, "notice_id",
				       "notice_id \"%.40s\": only letters, "
				       "digits and . _ / - (not first)",
				       s);
	}
	return 0;
}

static bool given(const char *s)
{
	return s && s[0];
}

static int record(struct import_run *run, int64_t line, const char *const *v,
		  void *arg)
{
	const char *status = NULL;
	struct date start, end;
	struct err e = {0};
	bool bad = false, start_ok = false;

	(void)arg;
	if (!v[C_VNR] && !v[C_NPL])
		return err_set(run->err, ERR_INVALID, "header",
			       "the header needs a vnr or an npl_pack_id "
			       "column");
	if (notice_check(v[C_NOTICE], &e) < 0) {
		import_reject_err(run, line, v[C_NOTICE], &e);
		bad = true;
	}
	if (!given(v[C_VNR]) && !given(v[C_NPL])) {
		import_reject(run, line, v[C_VNR] ? "vnr" : "npl_pack_id", NULL,
			      "missing: give a Vnr or an NPL pack id");
		bad = true;
	}
	if (given(v[C_VNR]) && validate_vnr(v[C_VNR], "vnr", &e) < 0) {
		import_reject_err(run, line, v[C_VNR], &e);
		bad = true;
	}
	if (given(v[C_NPL]) &&
	    validate_npl_id(v[C_NPL], "npl_pack_id", &e) < 0) {
		import_reject_err(run, line, v[C_NPL], &e);
		bad = true;
	}
	if (validate_text(v[C_NAME], 300, false, "product_name", &e) < 0) {
		import_reject_err(run, line, v[C_NAME], &e);
		bad = true;
	}
	if (parse_date(v[C_START], &start, "start", &e) < 0) {
		import_reject_err(run, line, v[C_START], &e);
		bad = true;
	} else {
		start_ok = true;
	}
	if (given(v[C_END])) {
		if (parse_date(v[C_END], &end, "expected_end", &e) < 0) {
			import_reject_err(run, line, v[C_END], &e);
			bad = true;
		} else if (start_ok &&
			   (end.year * 10000 + end.month * 100 + end.day) <
				   (start.year * 10000 + start.month * 100 +
				    start.day)) {
			import_reject(run, line, "expected_end", v[C_END],
				      "before start %s", v[C_START]);
			bad = true;
		}
	}
	if (given(v[C_REASON]) &&
	    validate_text(v[C_REASON], 1000, false, "reason", &e) < 0) {
		import_reject_err(run, line, v[C_REASON], &e);
		bad = true;
	}
	status = status_of(v[C_STATUS]);
	if (!status) {
		import_reject(run, line, "status", v[C_STATUS],
			      "not one of forecast (kommande), active "
			      "(pågående), resolved (avslutad), cancelled "
			      "(makulerad)");
		bad = true;
	}
	if (bad)
		return 0;
	{
		const char *vals[] = {
			v[C_NOTICE],
			given(v[C_VNR]) ? v[C_VNR] : NULL,
			given(v[C_NPL]) ? v[C_NPL] : NULL,
			v[C_NAME],
			v[C_START],
			given(v[C_END]) ? v[C_END] : NULL,
			given(v[C_REASON]) ? v[C_REASON] : NULL,
			status,
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

static const char *const checks[] = {
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'notice_id', notice_id, 'duplicate of line ' || first"
	"   FROM (SELECT line, notice_id, min(line) OVER"
	"		 (PARTITION BY notice_id) AS first"
	"	   FROM stage_shortages) d"
	"  WHERE line <> first",
	"UPDATE stage_shortages s SET vnr_product = p.id"
	"  FROM product p WHERE p.vnr = s.vnr",
	"UPDATE stage_shortages s SET npl_product = p.id"
	"  FROM product p WHERE p.npl_pack_id = s.npl_pack_id",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT line, 'npl_pack_id', npl_pack_id,"
	"	 format('is product %s, but vnr %s is product %s',"
	"		npl_product, vnr, vnr_product)"
	"   FROM stage_shortages WHERE npl_product <> vnr_product",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT s.line, 'vnr', s.vnr,"
	"	 format('notice %s is stored for vnr %s; a notice keeps its "
	"product', n.notice_id, n.vnr)"
	"   FROM stage_shortages s JOIN shortage_notice n USING (notice_id)"
	"  WHERE s.vnr <> n.vnr",
	"INSERT INTO import_rejects (line, field, value, reason)"
	" SELECT s.line, 'npl_pack_id', s.npl_pack_id,"
	"	 format('notice %s is stored for npl_pack_id %s; a notice keeps "
	"its product', n.notice_id, n.npl_pack_id)"
	"   FROM stage_shortages s JOIN shortage_notice n USING (notice_id)"
	"  WHERE s.npl_pack_id <> n.npl_pack_id",
};

static int check(struct import_run *run)
{
	for (size_t i = 0; i < sizeof(checks) / sizeof(*checks); i++)
		if (import_exec(run, checks[i], 0, NULL) < 0)
			return -1;
	return 0;
}

static const char merge_sql[] =
	"INSERT INTO shortage_notice AS n (notice_id, vnr,"
	"	npl_pack_id, product_id, product_name, starts_on,"
	"	expected_end, reason, status, batch_id)"
	" SELECT s.notice_id, s.vnr, s.npl_pack_id,"
	"	 coalesce(s.vnr_product, s.npl_product),"
	"	 s.product_name, s.starts_on, s.expected_end,"
	"	 s.reason, s.status, $1"
	"   FROM stage_shortages s"
	"  WHERE " GOOD " ORDER BY s.notice_id"
	" ON CONFLICT (notice_id) DO UPDATE"
	"    SET vnr = coalesce(excluded.vnr, n.vnr),"
	"	 npl_pack_id = coalesce(excluded.npl_pack_id,"
	"				n.npl_pack_id),"
	"	 product_id = excluded.product_id,"
	"	 product_name = excluded.product_name,"
	"	 starts_on = excluded.starts_on,"
	"	 expected_end = excluded.expected_end,"
	"	 reason = excluded.reason,"
	"	 status = excluded.status,"
	"	 batch_id = excluded.batch_id, updated_at = now()"
	"  WHERE (n.vnr, n.npl_pack_id, n.product_id,"
	"	  n.product_name, n.starts_on, n.expected_end,"
	"	  n.reason, n.status)"
	"	 IS DISTINCT FROM"
	"	 (coalesce(excluded.vnr, n.vnr),"
	"	  coalesce(excluded.npl_pack_id, n.npl_pack_id),"
	"	  excluded.product_id, excluded.product_name,"
	"	  excluded.starts_on, excluded.expected_end,"
	"	  excluded.reason, excluded.status)";

static int apply(struct import_run *run)
{
	static const char *const steps[] = {merge_sql};

	/* updated_at and batch_id move only when something changed. */
	return import_merge(
		run, steps, 1,
		"SELECT count(*) FROM stage_shortages s WHERE " GOOD);
}

const struct import_feed import_feed_shortages = {
	.name = "shortages",
	.summary = "Läkemedelsverket-style shortage notices (restsituationer), "
		   "by notice id (CSV)",
	.scope = IMPORT_NATIONAL,
	.stage_sql = "CREATE TEMP TABLE stage_shortages ("
		     " line bigint NOT NULL,"
		     " notice_id text NOT NULL,"
		     " vnr text,"
		     " npl_pack_id text,"
		     " product_name text NOT NULL,"
		     " starts_on date NOT NULL,"
		     " expected_end date,"
		     " reason text,"
		     " status shortage_status NOT NULL,"
		     /* resolved by check */
		     " vnr_product bigint,"
		     " npl_product bigint"
		     ") ON COMMIT DROP",
	.copy_sql = "COPY stage_shortages (line, notice_id, vnr, npl_pack_id,"
		    " product_name, starts_on, expected_end, reason, status)"
		    " FROM STDIN",
	.parse = parse,
	.check = check,
	.apply = apply,
	.accepts_dir = false,
};
