/*
 * quarantine.h -- holding stock back: a recall, a suspected cold-chain
 * break.
 *
 * A quarantine holds one lot of one product at one site (lot_quarantine,
 * sql/007_readiness.sql): the whole lot -- every unit of it at that site,
 * now and whatever arrives later -- until it is released.  There is no
 * partial quarantine: a suspect lot is suspect as a whole, and part of one
 * is moved to a quarantine site with a transfer instead.  The lot "" is the
 * stock recorded without a lot number.  readiness_inputs leaves a lot under
 * an open quarantine out of available stock; the ledger itself is not
 * touched, so the stock still shows in balances and totals.
 *
 * A lot has at most one open quarantine.  A quarantine is released once,
 * with a reason, and never deleted; the audit log keeps who and when.
 *
 * Only stock that is there is quarantined: a (site, product, lot) without a
 * positive balance is refused (ERR_CONFLICT on field "lot"), so that a
 * mistyped lot number fails loudly instead of quietly holding back nothing.
 *
 * Who may: the region's own contact person or import job, and the system
 * (the command line).  Row-level security decides; interfaces check first
 * for clear answers.  Every function here runs in the caller's open
 * transaction (auth_begin, or db_begin as the system) and neither commits
 * nor rolls back: after -1 the caller rolls back.  Nothing here knows of
 * HTTP.
 */
#ifndef LAGERBILD_QUARANTINE_H
#define LAGERBILD_QUARANTINE_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "db.h"
#include "err.h"

/* As the CHECK constraints of lot_quarantine. */
#define QUARANTINE_REASON_MAX 1000
/* Rows quarantine_list returns at most per page. */
#define QUARANTINE_LIST_MAX 1000

/* A quarantine to place.  Strings are borrowed. */
struct quarantine_spec {
	const char *region; /* the site's region (SCB code) */
	int64_t site_id;
	int64_t product_id;
	const char *lot;    /* NULL or "": the stock without a lot number */
	const char *reason; /* why: required, 1..1000 bytes of text */
};

/*
 * Check a lot (NULL allowed: none) and a reason the way placing does, with
 * errors on fields "lot" and "reason".  Also right for a release's reason
 * (lot NULL).  Pure.
 */
int quarantine_check(const char *lot, const char *reason, struct err *e);

/*
 * Place a quarantine; *id gets its id.  ERR_CONFLICT when the lot already
 * has an open quarantine (its id in the message) or no stock at the site;
 * ERR_FORBIDDEN when the caller may not write the region's stock.
 */
int quarantine_place(struct db *db, const struct quarantine_spec *q,
		     int64_t *id, struct err *e);

/*
 * The region quarantine id belongs to, whoever asks (so that an interface
 * can refuse another region's caller with 403 rather than 404).
 * ERR_NOT_FOUND on field "id" when there is no such quarantine.
 */
int quarantine_region(struct db *db, int64_t id, char region[3], struct err *e);

/*
 * Release quarantine id with a reason.  region and *product_id (either may
 * be NULL) get what it held, for alert evaluation.  ERR_NOT_FOUND when the
 * caller sees no such quarantine, ERR_CONFLICT when it was released
 * already (by whom and when in the message), ERR_FORBIDDEN when the caller
 * sees it but may not release it.
 */
int quarantine_release(struct db *db, int64_t id, const char *reason,
		       char region[3], int64_t *product_id, struct err *e);

/* What quarantine_list selects; zero values select everything. */
struct quarantine_filter {
	const char *region; /* SCB code or NULL */
	int64_t site_id;    /* 0: all */
	int64_t product_id; /* 0: all */
	bool open_only;	    /* only those not released */
	int64_t after;	    /* keyset paging: ids above this */
	long limit;	    /* 1..QUARANTINE_LIST_MAX */
};

/*
 * Quarantines the caller may see, by id ascending, at most f->limit + 1
 * rows (one more than asked tells there is a next page).  Columns: id,
 * region, site, product (Vnr, NPL pack id or GTIN), product_id,
 * product_name, lot (NULL for none), quantity (the lot's balance at the
 * site now: what is held back), expiry, reason, since, created_by, open,
 * released_at, released_by, release_reason; times in UTC RFC 3339.  The
 * caller PQclears *out.
 */
int quarantine_list(struct db *db, const struct quarantine_filter *f,
		    PGresult **out, struct err *e);

/* One quarantine as a row of quarantine_list's; ERR_NOT_FOUND on "id". */
int quarantine_get(struct db *db, int64_t id, PGresult **out, struct err *e);

#endif
