/*
 * ledger.c -- validate, hash and insert stock events.
 *
 * The database trigger does the bookkeeping; this side makes sure that what
 * reaches it is well-formed, gives every event an idempotency key and a hash
 * of its payload, orders a batch so that concurrent batches take their locks
 * in the same order, and retries a transaction that lost a race.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uuid/uuid.h>

#include "auth.h"
#include "ledger.h"
#include "validate.h"

/* A lost race (deadlock, duplicate key in flight) is retried this often. */
#define RETRIES 3

static const char *const kind_names[] = {
	[LEDGER_RECEIPT] = "receipt",
	[LEDGER_ISSUE] = "issue",
	[LEDGER_COUNT] = "count",
	[LEDGER_ADJUSTMENT] = "adjustment",
	[LEDGER_TRANSFER_OUT] = "transfer_out",
	[LEDGER_TRANSFER_IN] = "transfer_in",
	[LEDGER_EXPIRY_WRITEOFF] = "expiry_writeoff",
	[LEDGER_REVERSAL] = "reversal",
};

#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

static const struct db_stmt insert_stmt = {
	"ledger_insert",
	"INSERT INTO stock_event (site_id, product_id, lot, expiry, kind,"
	" quantity, reason, reverses, idempotency_key, payload_hash,"
	" occurred_at, recorded_by, source)"
	" VALUES ($1, $2, coalesce($3, ''), $4, $5, $6, $7, $8, $9,"
	" decode($10, 'hex'), coalesce($11::timestamptz, now()), $12, $13)"
	" RETURNING id, region_code, delta, balance_after",
	13,
};

/* A replay: the original event for this key and payload, in any region. */
static const struct db_stmt replay_stmt = {
	"ledger_replay",
	"SELECT id, region_code, delta, balance_after FROM stock_event"
	" WHERE idempotency_key = $1 AND payload_hash = decode($2, 'hex')",
	2,
};

const char *ledger_kind_name(enum ledger_kind kind)
{
	return (size_t)kind < NKINDS ? kind_names[kind] : "?";
}

int ledger_kind_parse(const char *s, enum ledger_kind *out, const char *field,
		      struct err *e)
{
	for (size_t i = 0; s && i < NKINDS; i++) {
		if (strcmp(s, kind_names[i]) == 0) {
			*out = (enum ledger_kind)i;
			return 0;
		}
	}
	return err_set(e, ERR_INVALID, field,
		       "kind \"%.40s\": not one of receipt, issue, count, "
		       "adjustment, transfer_out, transfer_in, "
		       "expiry_writeoff, reversal",
		       s ? s : "");
}

static int check_quantity(const struct ledger_event *ev, struct err *e)
{
	int64_t q = ev->quantity;

	switch (ev->kind) {
	case LEDGER_COUNT:
		if (q < 0 || q > LEDGER_QTY_MAX)
			return err_set(e, ERR_INVALID, "qty",
				       "qty %lld: a count must be between 0 "
				       "and %lld",
				       (long long)q, (long long)LEDGER_QTY_MAX);
		return 0;
	case LEDGER_ADJUSTMENT:
		if (q == 0 || q < -LEDGER_QTY_MAX || q > LEDGER_QTY_MAX)
			return err_set(
				e, ERR_INVALID, "qty",
				"qty %lld: an adjustment must be non-zero "
				"and within +/-%lld",
				(long long)q, (long long)LEDGER_QTY_MAX);
		return 0;
	case LEDGER_REVERSAL:
		return 0; /* the reversed event's quantity is used */
	default:
		if (q < 1 || q > LEDGER_QTY_MAX)
			return err_set(e, ERR_INVALID, "qty",
				       "qty %lld: must be between 1 and %lld "
				       "for %s",
				       (long long)q, (long long)LEDGER_QTY_MAX,
				       ledger_kind_name(ev->kind));
		return 0;
	}
}

int ledger_validate(const struct ledger_event *ev, struct err *e)
{
	struct date d;

	if ((size_t)ev->kind >= NKINDS)
		return err_set(e, ERR_INVALID, "kind", "unknown event kind");
	if (check_quantity(ev, e) < 0)
		return -1;
	if (ev->kind == LEDGER_REVERSAL) {
		if (ev->reverses <= 0)
			return err_set(e, ERR_INVALID, "reverses",
				       "a reversal must name the event it "
				       "reverses");
	} else {
		if (ev->reverses != 0)
			return err_set(e, ERR_INVALID, "reverses",
				       "only a reversal may name an event to "
				       "reverse");
		if (ev->site_id <= 0)
			return err_set(e, ERR_INVALID, "site", "site missing");
		if (ev->product_id <= 0)
			return err_set(e, ERR_INVALID, "product",
				       "product missing");
	}
	if ((ev->kind == LEDGER_ADJUSTMENT || ev->kind == LEDGER_REVERSAL) &&
	    (!ev->reason || !ev->reason[0]))
		return err_set(e, ERR_INVALID, "reason",
			       "a reason is required for %s",
			       ledger_kind_name(ev->kind));
	if (ev->reason && validate_text(ev->reason, VALIDATE_TEXT_MAX, false,
					"reason", e) < 0)
		return -1;
	if (ev->lot && validate_lot(ev->lot, "lot", e) < 0)
		return -1;
	if (ev->expiry && parse_date(ev->expiry, &d, "expiry", e) < 0)
		return -1;
	if (ev->key && validate_uuid(ev->key, "key", e) < 0)
		return -1;
	if (ev->occurred_at &&
	    parse_timestamp(ev->occurred_at, NULL, "occurred_at", e) < 0)
		return -1;
	if (ev->source && validate_text(ev->source, 64, false, "source", e) < 0)
		return -1;
	return 0;
}

/*
 * SHA-256 over the event as stated, fields separated by a byte that
 * validated text cannot contain.  Absent and empty are distinct.
 */
static void payload_hash(const struct ledger_event *ev, char hex[65])
{
	crypto_hash_sha256_state st;
	unsigned char hash[crypto_hash_sha256_BYTES];
	char num[96];
	const char *text[] = {ev->lot, ev->expiry, ev->reason, ev->occurred_at};
	const bool rev = ev->kind == LEDGER_REVERSAL;

	crypto_hash_sha256_init(&st);
	snprintf(num, sizeof(num), "v1\x1f%s\x1f%lld\x1f%lld\x1f%lld\x1f%lld",
		 ledger_kind_name(ev->kind), rev ? 0LL : (long long)ev->site_id,
		 rev ? 0LL : (long long)ev->product_id,
		 rev ? 0LL : (long long)ev->quantity, (long long)ev->reverses);
	crypto_hash_sha256_update(&st, (const unsigned char *)num, strlen(num));
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		const char *t = (text[i] && text[i][0]) ? text[i] : "\x1e";

		crypto_hash_sha256_update(&st, (const unsigned char *)"\x1f",
					  1);
		crypto_hash_sha256_update(&st, (const unsigned char *)t,
					  strlen(t));
	}
	crypto_hash_sha256_final(&st, hash);
	sodium_bin2hex(hex, 65, hash, sizeof(hash));
}

/* Everything one insert needs as text parameters. */
struct prepared_event {
	const struct ledger_event *ev;
	size_t pos;	/* index in the caller's array */
	char region[3]; /* of the site, "" for a reversal; for ordering */
	char key[37];
	char hash[65];
};

static void prepare_event(const struct ledger_event *ev, size_t pos,
			  struct prepared_event *p)
{
	p->ev = ev;
	p->pos = pos;
	p->region[0] = '\0';
	if (ev->key) {
		/* Lower case, so that a key's retries look alike. */
		for (size_t i = 0; i < 36; i++)
			p->key[i] = (char)((ev->key[i] >= 'A' &&
					    ev->key[i] <= 'F') ?
						   ev->key[i] + 32 :
						   ev->key[i]);
		p->key[36] = '\0';
	} else {
		uuid_t u;

		uuid_generate_random(u);
		uuid_unparse_lower(u, p->key);
	}
	payload_hash(ev, p->hash);
}

/* Lock order: (region, product, site) as the trigger locks aggregate first. */
static int compare_events(const void *a, const void *b)
{
	const struct prepared_event *x = a, *y = b;
	int c;
	bool xr = x->ev->kind == LEDGER_REVERSAL;
	bool yr = y->ev->kind == LEDGER_REVERSAL;

	if (xr != yr)
		return xr ? 1 : -1;
	if (xr)
		return (x->ev->reverses > y->ev->reverses) -
		       (x->ev->reverses < y->ev->reverses);
	c = strcmp(x->region, y->region);
	if (c)
		return c;
	if (x->ev->product_id != y->ev->product_id)
		return x->ev->product_id < y->ev->product_id ? -1 : 1;
	if (x->ev->site_id != y->ev->site_id)
		return x->ev->site_id < y->ev->site_id ? -1 : 1;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Learn each site's region so that the batch can be put in lock order. */
static int fetch_regions(struct db *db, struct prepared_event *p, size_t n,
			 struct err *e)
{
	PGresult *res = NULL;
	char *ids = NULL;
	size_t cap = n * 21 + 3, len = 0;
	const char *params[1];
	int rc = -1;

	ids = malloc(cap);
	if (!ids)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	ids[len++] = '{';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(ids + len, cap - len, "%s%lld",
					i ? "," : "",
					(long long)p[i].ev->site_id);
	ids[len++] = '}';
	ids[len] = '\0';
	params[0] = ids;
	res = db_exec(db,
		      "SELECT id, region_code FROM site"
		      " WHERE id = ANY ($1::bigint[])",
		      1, params, e);
	if (!res)
		goto out;
	for (int row = 0; row < PQntuples(res); row++) {
		int64_t id = db_int64(res, row, 0);

		for (size_t i = 0; i < n; i++)
			if (p[i].ev->site_id == id)
				memcpy(p[i].region, db_text(res, row, 1), 3);
	}
	rc = 0;
out:
	PQclear(res);
	free(ids);
	return rc;
}

static int insert_one(struct db *db, const struct prepared_event *p,
		      struct ledger_result *r, struct err *e)
{
	const struct ledger_event *ev = p->ev;
	const bool rev = ev->kind == LEDGER_REVERSAL;
	char site[24], product[24], qty[24], reverses[24];
	const char *params[13];
	PGresult *res = NULL;
	int rc = -1;

	snprintf(site, sizeof(site), "%lld", (long long)ev->site_id);
	snprintf(product, sizeof(product), "%lld", (long long)ev->product_id);
	snprintf(qty, sizeof(qty), "%lld", rev ? 0LL : (long long)ev->quantity);
	snprintf(reverses, sizeof(reverses), "%lld", (long long)ev->reverses);
	params[0] = rev ? NULL : site;
	params[1] = rev ? NULL : product;
	params[2] = ev->lot;
	params[3] = (ev->expiry && ev->expiry[0]) ? ev->expiry : NULL;
	params[4] = ledger_kind_name(ev->kind);
	params[5] = qty;
	params[6] = (ev->reason && ev->reason[0]) ? ev->reason : NULL;
	params[7] = rev ? reverses : NULL;
	params[8] = p->key;
	params[9] = p->hash;
	params[10] = ev->occurred_at;
	params[11] = ev->actor ? ev->actor : "unknown";
	params[12] = ev->source ? ev->source : "cli";

	res = db_exec_stmt(db, &insert_stmt, params, e);
	if (!res)
		goto out;
	r->replayed = PQntuples(res) == 0;
	if (r->replayed) {
		const char *rp[] = {p->key, p->hash};

		PQclear(res);
		res = db_exec_stmt(db, &replay_stmt, rp, e);
		if (!res)
			goto out;
		if (PQntuples(res) != 1) {
			err_set(e, ERR_INTERNAL, "key",
				"event with key %s was neither written nor found",
				p->key);
			goto out;
		}
	}
	r->event_id = db_int64(res, 0, 0);
	memcpy(r->region_code, db_text(res, 0, 1), 3);
	r->delta = db_int64(res, 0, 2);
	r->balance_after = db_int64(res, 0, 3);
	memcpy(r->key, p->key, sizeof(r->key));
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* Prefix a batch member's failure with its position, the caller's index. */
static void name_position(struct err *e, size_t pos, size_t n)
{
	if (n > 1)
		err_prefix(e, "event %zu: ", pos);
}

/*
 * One try at the whole batch.  With own_tx it is a transaction of its own,
 * opened as who when who is given (the caller's identity for row-level
 * security), else as the session's identity.
 */
static int attempt(struct db *db, const struct identity *who,
		   struct prepared_event *p, size_t n,
		   struct ledger_result *res, bool own_tx, struct err *e)
{
	if (own_tx && (who ? auth_begin(db, who, e) : db_begin(db, e)) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (insert_one(db, &p[i], &res[p[i].pos], e) < 0) {
			name_position(e, p[i].pos, n);
			goto fail;
		}
	}
	if (own_tx && db_commit(db, e) < 0)
		goto fail;
	return 0;
fail:
	if (own_tx)
		db_rollback(db);
	return -1;
}

int ledger_record_as(struct db *db, const struct identity *who,
		     const struct ledger_event *evs, size_t n,
		     struct ledger_result *res, struct err *e)
{
	struct prepared_event *p = NULL;
	bool own_tx;
	int rc = -1;

	if (n == 0)
		return 0;
	if (n > LEDGER_BATCH_MAX)
		return err_set(e, ERR_INVALID, "events",
			       "%zu events in one batch; at most %d", n,
			       LEDGER_BATCH_MAX);
	for (size_t i = 0; i < n; i++) {
		if (ledger_validate(&evs[i], e) < 0) {
			name_position(e, i, n);
			return -1;
		}
	}
	if (who && db->in_tx)
		return err_set(e, ERR_INTERNAL, "",
			       "ledger_record_as inside a transaction");
	/* One event outside a transaction is atomic by itself. */
	own_tx = !db->in_tx && (n > 1 || who);
	p = calloc(n, sizeof(*p));
	if (!p)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	for (size_t i = 0; i < n; i++)
		prepare_event(&evs[i], i, &p[i]);
	if (n > 1) {
		if (fetch_regions(db, p, n, e) < 0)
			goto out;
		qsort(p, n, sizeof(*p), compare_events);
	}
	for (int tries = 1;; tries++) {
		rc = attempt(db, who, p, n, res, own_tx, e);
		/* Inside the caller's transaction a retry is the caller's. */
		if (rc == 0 || db->in_tx || !db_lost_race(db) ||
		    tries == RETRIES)
			break;
	}
out:
	free(p);
	return rc;
}

int ledger_record_batch(struct db *db, const struct ledger_event *evs, size_t n,
			struct ledger_result *res, struct err *e)
{
	return ledger_record_as(db, NULL, evs, n, res, e);
}

int ledger_record(struct db *db, const struct ledger_event *ev,
		  struct ledger_result *res, struct err *e)
{
	return ledger_record_batch(db, ev, 1, res, e);
}
