/*
 * ledger.h -- record stock events; the heart of lagerbild.
 *
 * Stock is an append-only ledger.  This module validates an event, gives it
 * a payload hash for idempotency, and inserts it; the database trigger
 * (sql/002_ledger.sql) derives the change, refuses negative balances, and
 * maintains the balance and the per-region aggregate in the same
 * transaction.  This module knows nothing of HTTP or the command line.
 */
#ifndef LAGERBILD_LEDGER_H
#define LAGERBILD_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

/* Largest quantity one event may carry, in base units (fits a JSON double). */
#define LEDGER_QTY_MAX INT64_C(1000000000000)
/* A batch is one transaction; keep it to what one request should hold. */
#define LEDGER_BATCH_MAX 1000

enum ledger_kind {
	LEDGER_RECEIPT,
	LEDGER_ISSUE,
	LEDGER_COUNT,
	LEDGER_ADJUSTMENT,
	LEDGER_TRANSFER_OUT,
	LEDGER_TRANSFER_IN,
	LEDGER_EXPIRY_WRITEOFF,
	LEDGER_REVERSAL
};

/* An event as the caller states it.  Strings are borrowed. */
struct ledger_event {
	enum ledger_kind kind;
	int64_t site_id;    /* unused for a reversal */
	int64_t product_id; /* unused for a reversal */
	int64_t quantity;   /* count: counted value; adjustment: signed */
	const char *lot;    /* NULL or "" when the stock has no lot number */
	const char *expiry; /* YYYY-MM-DD or NULL */
	const char *reason; /* required for adjustment and reversal */
	int64_t reverses;   /* the event a reversal reverses, else 0 */
	const char *key;    /* idempotency key (UUID); NULL: one is made */
	const char *occurred_at; /* timestamptz text or NULL for now */
	const char *source; /* "cli", "api", "import:stock", ...; NULL: "cli" */
	const char *actor;  /* who records it, used when the session has none */
};

/* What recording an event did. */
struct ledger_result {
	int64_t event_id;
	char region_code[3];
	int64_t delta;	       /* the change it made to its balance */
	int64_t balance_after; /* the balance right after it */
	bool replayed; /* the key was seen before: nothing was written */
	char key[37];  /* the idempotency key used */
};

/* "receipt", "issue", ...; never NULL for a valid kind. */
const char *ledger_kind_name(enum ledger_kind kind);

/* Parse a kind name; ERR_INVALID naming `field` when it is none. */
int ledger_kind_parse(const char *s, enum ledger_kind *out, const char *field,
		      struct err *e);

/*
 * Check an event without touching the database: quantity sign and range for
 * its kind, reason where required, lot, expiry, key and text fields.  Pure.
 */
int ledger_validate(const struct ledger_event *ev, struct err *e);

/*
 * Record one event in its own transaction.  A retry with the same key and
 * payload returns the original result with replayed set; the same key with
 * another payload is ERR_CONFLICT, and so is a balance that would go
 * negative.
 */
int ledger_record(struct db *db, const struct ledger_event *ev,
		  struct ledger_result *res, struct err *e);

/*
 * Record n events (at most LEDGER_BATCH_MAX) all or nothing, in one
 * transaction.  res[i] belongs to evs[i].  On failure nothing is written and
 * the message names the failing event's position ("event 3: ...").
 */
int ledger_record_batch(struct db *db, const struct ledger_event *evs, size_t n,
			struct ledger_result *res, struct err *e);

struct identity;

/*
 * As ledger_record_batch, in a transaction of its own opened as who
 * (auth_begin), so that row-level security judges the caller; retried as a
 * whole when it loses a race.  db must not be in a transaction.
 */
int ledger_record_as(struct db *db, const struct identity *who,
		     const struct ledger_event *evs, size_t n,
		     struct ledger_result *res, struct err *e);

#endif
