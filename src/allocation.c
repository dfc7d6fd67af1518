/*
 * allocation.c -- the regional-sharing workflow in the database: help
 * requests, allocator runs, proposals, shipments, plans (allocation.h).
 *
 * A run reads its inputs (rates as readiness computes them at region
 * scope, the lots from allocation_lot_inputs), solves each product with
 * the pure allocator, and writes the run and its products with their
 * proposals (by COPY, see product_staging), so that a run over 20,000
 * products is a handful of round trips.  A run is read back a page of
 * products at a time.  Reads answer JSON built by the database
 * (jsonb_build_object), so that numbers stay numbers.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>
#include <sodium.h>
#include <uuid/uuid.h>

#include "allocation.h"
#include "catalog.h"
#include "ledger.h"
#include "readiness_report.h"
#include "validate.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* Room for an int64 in decimal. */
#define I64_LEN 24
/* JSON documents written to the database: reals to 12 digits. */
#define JSON_STORE (JSON_COMPACT | JSON_REAL_PRECISION(12))

static const char *const problem_names[] = {"share", "supply", "plan"};
static const char *const action_names[] = {"approve", "decline", "ship",
					   "receive", "cancel",	 "return"};
static const char *const urgencies[] = {"routine", "urgent", "critical"};
static const char *const help_statuses[] = {"open", "fulfilled", "closed",
					    "withdrawn"};
static const char *const proposal_statuses[] = {
	"proposed", "approved",	 "declined", "shipped",
	"received", "cancelled", "returned"};

static bool one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

static void i64s(char buf[I64_LEN], int64_t v)
{
	snprintf(buf, I64_LEN, "%" PRId64, v);
}

/* A growable text with a sticky failed flag, checked once at the end. */
struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (b->len + n + 1 > cap)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* ---- names ---- */

const char *allocation_problem_name(enum allocation_problem p)
{
	return (size_t)p < NELEM(problem_names) ? problem_names[p] : "?";
}

int allocation_problem_parse(const char *s, enum allocation_problem *out,
			     const char *field, struct err *e)
{
	for (size_t i = 0; s && i < NELEM(problem_names); i++) {
		if (strcmp(s, problem_names[i]) == 0) {
			*out = (enum allocation_problem)i;
			return 0;
		}
	}
	return err_set(e, ERR_INVALID, field,
		       "%s \"%.40s\": not one of share, supply, plan", field,
		       s ? s : "");
}

const char *allocation_action_name(enum allocation_action a)
{
	return (size_t)a < NELEM(action_names) ? action_names[a] : "?";
}

int allocation_action_parse(const char *s, enum allocation_action *out,
			    const char *field, struct err *e)
{
	for (size_t i = 0; s && i < NELEM(action_names); i++) {
		if (strcmp(s, action_names[i]) == 0) {
			*out = (enum allocation_action)i;
			return 0;
		}
	}
	return err_set(e, ERR_INVALID, field,
		       "%s \"%.40s\": not one of approve, decline, ship, "
		       "receive, cancel, return",
		       field, s ? s : "");
}

/* ---- checks without the database ---- */

void allocation_params_default(struct allocation_params *p,
			       enum allocation_problem problem)
{
	memset(p, 0, sizeof(*p));
	p->problem = problem;
	p->floor_days = -1;
	p->target_days = -1;
	p->min_shelf_days = ALLOCATION_MIN_SHELF_DEFAULT;
	p->key = ALLOC_KEY_MAXMIN;
	p->hybrid_key = ALLOC_KEY_MAXMIN;
}

static int check_reason(const char *reason, bool required, struct err *e)
{
	if (!reason)
		return required ? err_set(e, ERR_INVALID, "reason",
					  "reason: missing") :
				  0;
	return validate_text(reason, 1000, false, "reason", e);
}

int allocation_params_check(const struct allocation_params *p, struct err *e)
{
	struct date d;

	if ((size_t)p->problem >= NELEM(problem_names))
		return err_set(e, ERR_INVALID, "problem", "problem: unknown");
	if (p->nproducts < 1 || p->nproducts > ALLOCATION_PRODUCTS_MAX)
		return err_set(e, ERR_INVALID, "product",
			       "%zu products: a run covers 1 to %d",
			       p->nproducts, ALLOCATION_PRODUCTS_MAX);
	for (size_t i = 0; i < p->nproducts; i++)
		if (p->products[i] < 1)
			return err_set(e, ERR_INVALID, "product",
				       "product id %" PRId64 ": not an id",
				       p->products[i]);
	if (p->window_days < 0 || p->window_days > READINESS_WINDOW_MAX)
		return err_set(e, ERR_INVALID, "window_days",
			       "window_days %d: must be 1 to %d",
			       p->window_days, READINESS_WINDOW_MAX);
	if (p->floor_days < -1 || p->floor_days > ALLOCATION_DAYS_MAX)
		return err_set(e, ERR_INVALID, "floor_days",
			       "floor_days %d: must be 0 to %d", p->floor_days,
			       ALLOCATION_DAYS_MAX);
	if (p->target_days < -1 || p->target_days > ALLOCATION_DAYS_MAX)
		return err_set(e, ERR_INVALID, "target_days",
			       "target_days %d: must be 0 to %d",
			       p->target_days, ALLOCATION_DAYS_MAX);
	if (p->min_transfer < 0 || p->min_transfer > LEDGER_QTY_MAX)
		return err_set(e, ERR_INVALID, "min_transfer",
			       "min_transfer %" PRId64 ": must be 0 to %" PRId64
			       " base units",
			       p->min_transfer, LEDGER_QTY_MAX);
	if (p->min_shelf_days < 0 || p->min_shelf_days > ALLOCATION_DAYS_MAX)
		return err_set(e, ERR_INVALID, "min_shelf_days",
			       "min_shelf_days %d: must be 0 to %d",
			       p->min_shelf_days, ALLOCATION_DAYS_MAX);
	if (p->idle_keep_packs < 0 || p->idle_keep_packs > LEDGER_QTY_MAX)
		return err_set(e, ERR_INVALID, "idle_keep_packs",
			       "idle_keep_packs %" PRId64 ": must be >= 0",
			       p->idle_keep_packs);
	switch (p->problem) {
	case ALLOCATION_SHARE: break;
	case ALLOCATION_SUPPLY:
		/* The quantity is one product's delivery. */
		if (p->nproducts != 1)
			return err_set(e, ERR_INVALID, "product",
				       "a supply run divides one product's "
				       "delivery, not %zu products'",
				       p->nproducts);
		if (p->quantity < 1 || p->quantity > LEDGER_QTY_MAX)
			return err_set(e, ERR_INVALID, "quantity",
				       "quantity %" PRId64
				       ": must be 1 to %" PRId64 " base units",
				       p->quantity, LEDGER_QTY_MAX);
		if ((size_t)p->key > ALLOC_KEY_HYBRID)
			return err_set(e, ERR_INVALID, "key", "key: unknown");
		if (p->hybrid_key == ALLOC_KEY_HYBRID ||
		    (size_t)p->hybrid_key > ALLOC_KEY_HYBRID)
			return err_set(e, ERR_INVALID, "hybrid_key",
				       "hybrid_key: maxmin, population or "
				       "consumption, not hybrid");
		if (p->reserve_pct < 0 || p->reserve_pct > 100)
			return err_set(e, ERR_INVALID, "reserve",
				       "reserve %d: must be 0 to 100 percent",
				       p->reserve_pct);
		if (p->reserve_pct > 0 && p->key != ALLOC_KEY_HYBRID)
			return err_set(e, ERR_INVALID, "reserve",
				       "reserve: only the hybrid key holds a "
				       "reserve");
		break;
	case ALLOCATION_PLAN:
		if (p->nproducts != 1)
			return err_set(e, ERR_INVALID, "product",
				       "a plan is for one product, not %zu",
				       p->nproducts);
		if (p->weeks < 1 || p->weeks > ALLOCATOR_WEEKS_MAX)
			return err_set(e, ERR_INVALID, "weeks",
				       "weeks %d: must be 1 to %d", p->weeks,
				       ALLOCATOR_WEEKS_MAX);
		if (!p->capacity)
			return err_set(e, ERR_INVALID, "capacity",
				       "capacity: missing");
		for (int w = 0; w < p->weeks; w++)
			if (p->capacity[w] < 0 ||
			    p->capacity[w] > LEDGER_QTY_MAX)
				return err_set(e, ERR_INVALID, "capacity",
					       "capacity of week %d: %" PRId64
					       " packs; must be 0 to %" PRId64,
					       w + 1, p->capacity[w],
					       LEDGER_QTY_MAX);
		if (p->start && parse_date(p->start, &d, "start", e) < 0)
			return -1;
		break;
	}
	return 0;
}

/* The parameters only some problems take (params_json stores them). */
static const struct {
	const char *name;
	unsigned problems; /* 1 << enum allocation_problem */
} param_problems[] = {
	{"floor_days", 1u << ALLOCATION_SHARE},
	{"min_transfer", 1u << ALLOCATION_SHARE},
	{"min_shelf_days", 1u << ALLOCATION_SHARE},
	{"idle_gives", 1u << ALLOCATION_SHARE},
	{"idle_keep_packs", 1u << ALLOCATION_SHARE},
	{"quantity", 1u << ALLOCATION_SUPPLY},
	{"key", 1u << ALLOCATION_SUPPLY},
	{"hybrid_key", 1u << ALLOCATION_SUPPLY},
	{"reserve", 1u << ALLOCATION_SUPPLY},
	{"weeks", 1u << ALLOCATION_PLAN},
	{"capacity", 1u << ALLOCATION_PLAN},
	{"start", 1u << ALLOCATION_PLAN},
	{"target_days", 1u << ALLOCATION_PLAN},
};

int allocation_param_takes(enum allocation_problem p, const char *name,
			   struct err *e)
{
	for (size_t i = 0; i < NELEM(param_problems); i++) {
		unsigned in = param_problems[i].problems;
		size_t k;

		if (strcmp(param_problems[i].name, name) != 0 ||
		    (in & 1u << p) != 0)
			continue;
		for (k = 0; !(in & 1u << k); k++)
			;
		return err_set(
			e, ERR_INVALID, name,
			"%s: a %s run does not take it (it is a %s "
			"run's)",
			name, allocation_problem_name(p),
			allocation_problem_name((enum allocation_problem)k));
	}
	return 0;
}

int allocation_help_check(const struct allocation_help *h, struct err *e)
{
	char days[16];

	if (validate_region_code(h->region, "region", e) < 0)
		return -1;
	if (h->product_id < 1)
		return err_set(e, ERR_INVALID, "product", "product: missing");
	if ((h->quantity != 0) == (h->days != NULL))
		return err_set(e, ERR_INVALID, "quantity",
			       "give either quantity (base units) or days, "
			       "not %s",
			       h->days ? "both" : "neither");
	if (!h->days && (h->quantity < 1 || h->quantity > LEDGER_QTY_MAX))
		return err_set(e, ERR_INVALID, "quantity",
			       "quantity %" PRId64 ": must be 1 to %" PRId64
			       " base units",
			       h->quantity, LEDGER_QTY_MAX);
	if (h->days &&
	    readiness_days_parse(h->days, false, days, "days", e) < 0)
		return -1;
	if (h->urgency && !one_of(h->urgency, urgencies, NELEM(urgencies)))
		return err_set(e, ERR_INVALID, "urgency",
			       "urgency \"%.40s\": not one of routine, urgent, "
			       "critical",
			       h->urgency);
	return check_reason(h->reason, true, e);
}

int allocation_act_check(const struct allocation_act *a, struct err *e)
{
	if ((size_t)a->action >= NELEM(action_names))
		return err_set(e, ERR_INVALID, "action", "action: unknown");
	if (check_reason(a->reason, false, e) < 0)
		return -1;
	if (a->action == ALLOCATION_RETURN && !a->reason)
		return err_set(e, ERR_INVALID, "reason",
			       "reason: missing; a return says why");
	if (a->quantity < -1 || a->quantity > LEDGER_QTY_MAX)
		return err_set(e, ERR_INVALID, "quantity",
			       "quantity %" PRId64 ": must be 0 to %" PRId64,
			       a->quantity, LEDGER_QTY_MAX);
	if (a->action != ALLOCATION_RECEIVE && (a->quantity >= 0 || a->site))
		return err_set(e, ERR_INVALID, a->site ? "site" : "quantity",
			       "%s: only a receipt names a %s",
			       a->site ? "site" : "quantity",
			       a->site ? "site" : "quantity");
	if (a->site && validate_site_code(a->site, "site", e) < 0)
		return -1;
	return 0;
}

/* ---- the capacity file ---- */

struct cap_reader {
	int64_t *capacity;
	int max, weeks, line, nfields;
	bool header_done, failed;
	bool nul; /* a field of this record holds a NUL byte */
	char field[2][64];
	size_t flen[2];
	struct err *e;
};

static void cap_field(void *s, size_t len, void *arg)
{
	struct cap_reader *r = arg;

	/* What follows a NUL would not be read (the fields are C strings). */
	r->nul |= s != NULL && memchr(s, '\0', len) != NULL;
	if (r->nfields < 2) {
		size_t n = len < sizeof(r->field[0]) - 1 ?
				   len :
				   sizeof(r->field[0]) - 1;

		memcpy(r->field[r->nfields], s, n);
		r->field[r->nfields][n] = '\0';
		r->flen[r->nfields] = len;
	}
	r->nfields++;
}

/* Surrounding blanks off, in place. */
static char *trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static bool same_word(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;

		if (x != *b)
			return false;
	}
	return *a == *b;
}

static void cap_record(int c, void *arg)
{
	struct cap_reader *r = arg;
	char *week, *packs;
	int64_t w, v;

	(void)c;
	r->line++;
	if (r->failed)
		goto out;
	if (r->nul) {
		err_set(r->e, ERR_INVALID, "capacity",
			"line %d: a NUL byte; the file is text, week,packs",
			r->line);
		r->failed = true;
		goto out;
	}
	if (r->nfields != 2 || r->flen[0] >= sizeof(r->field[0]) ||
	    r->flen[1] >= sizeof(r->field[1])) {
		err_set(r->e, ERR_INVALID, "capacity",
			"line %d: %d fields; the file has two columns, "
			"week,packs",
			r->line, r->nfields);
		r->failed = true;
		goto out;
	}
	week = trim(r->field[0]);
	packs = trim(r->field[1]);
	if (!r->header_done) {
		if (!same_word(week, "week") || !same_word(packs, "packs")) {
			err_set(r->e, ERR_INVALID, "capacity",
				"line %d: the header must be week,packs",
				r->line);
			r->failed = true;
		}
		r->header_done = true;
		goto out;
	}
	if (parse_int64(week, 1, ALLOCATOR_WEEKS_MAX, &w, "week", r->e) < 0 ||
	    parse_int64(packs, 0, LEDGER_QTY_MAX, &v, "packs", r->e) < 0) {
		err_prefix(r->e, "line %d: ", r->line);
		snprintf(r->e->field, sizeof(r->e->field), "capacity");
		r->failed = true;
		goto out;
	}
	if (w != r->weeks + 1 || r->weeks >= r->max) {
		err_set(r->e, ERR_INVALID, "capacity",
			r->weeks >= r->max ?
				"line %d: more than the %d weeks allowed" :
				"line %d: week %d expected; weeks run 1, 2, "
				"3 ... in order",
			r->line, r->weeks >= r->max ? r->max : r->weeks + 1);
		r->failed = true;
		goto out;
	}
	r->capacity[r->weeks++] = v;
out:
	r->nfields = 0;
	r->nul = false;
}

int allocation_capacity_parse(const char *text, size_t len, int64_t *capacity,
			      int max, int *weeks, struct err *e)
{
	struct cap_reader r = {.capacity = capacity, .max = max, .e = e};
	struct csv_parser p;
	const char *nl;
	size_t head;
	int rc = -1;

	*weeks = 0;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	/* The header tells the delimiter: Swedish spreadsheets save ';'. */
	nl = memchr(text, '\n', len);
	head = nl ? (size_t)(nl - text) : len;
	if (memchr(text, ';', head) && !memchr(text, ',', head))
		csv_set_delim(&p, ';');
	if (csv_parse(&p, text, len, cap_field, cap_record, &r) != len ||
	    csv_fini(&p, cap_field, cap_record, &r) != 0) {
		if (!r.failed)
			err_set(e, ERR_INVALID, "capacity",
				"line %d: malformed CSV (%s)", r.line + 1,
				csv_strerror(csv_error(&p)));
		goto out;
	}
	if (r.failed)
		goto out;
	if (!r.header_done || r.weeks == 0) {
		err_set(e, ERR_INVALID, "capacity",
			"the capacity file has no weeks: a header week,packs "
			"and one line per week");
		goto out;
	}
	*weeks = r.weeks;
	rc = 0;
out:
	csv_free(&p);
	return rc;
}

/* ---- who may ---- */

static int forbid(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int forbid(struct err *e, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(e, ERR_FORBIDDEN, "", "%s", msg);
}

static int may_read(const struct identity *who, struct err *e)
{
	if (who->role == ROLE_NONE || who->role == ROLE_IMPORTER)
		return forbid(e,
			      "a %s reads no help requests, runs or "
			      "proposals: import jobs push their feed only",
			      auth_role_name(who->role));
	return 0;
}

static bool regional(const struct identity *who)
{
	return who->role == ROLE_REGION_CONTACT;
}

/* ---- small database helpers ---- */

/* Run a query whose one row's first column is JSON text; *out the value. */
static int query_json(struct db *db, const char *sql, int n,
		      const char *const *params, json_t **out, struct err *e)
{
	PGresult *q = db_exec(db, sql, n, params, e);
	json_error_t jerr;

	*out = NULL;
	if (!q)
		return -1;
	if (PQntuples(q) == 1 && !PQgetisnull(q, 0, 0))
		*out = json_loads(db_text(q, 0, 0), JSON_DECODE_ANY, &jerr);
	PQclear(q);
	return 0;
}

/* ---- runs: the inputs ---- */

struct region_in {
	char code[3];
	char hc[33];
	int64_t population;
	bool disaster;
	int64_t site; /* where it receives (allocation_receiving_site); 0:
			 none */
};

/* What readiness says of one (product, region); present: it has a row. */
struct rate_in {
	bool present, rate_known;
	double rate, floor_days, target_days;
};

/* A site lots may lie at: its region, and where its code sorts among all
 * sites' (codes are unique). */
struct site_in {
	int64_t id;
	int region;
	int rank;
};

/*
 * Ids to their place in an array of distinct ids: open addressing
 * (Fibonacci hashing, linear probing, at most half full).  A national run
 * looks up some 800,000 product and site ids, its rates' and its lots';
 * a binary search over 20,000 products takes 15 steps and as many
 * guesses.
 */
struct id_slot {
	int64_t id;
	long at; /* -1: empty */
};

struct id_index {
	struct id_slot *slot;
	size_t mask;
	unsigned shift;
};

struct gather {
	struct region_in regions[ALLOCATOR_REGIONS_MAX];
	size_t nregions;
	struct site_in *sites; /* by code */
	size_t nsites;
	struct id_index site_at; /* site id: its place in sites */
	const int64_t *ids;	 /* sorted product ids */
	size_t nids;
	struct id_index product_at; /* product id: its place in ids */
	/* nids * nregions: product ids[k]'s in region i at k * nregions + i,
	 * so that 420,000 of them need no sort and no search */
	struct rate_in *rates;
	struct err *e;
};

/*
 * One lot a run may move, as allocation_lot_inputs gives it (no order):
 * the lot borrowed from its result, region and site code from its site.
 * Sorted by lot_cmp into the order the allocator and the stored inputs
 * take: by product, then region, expiry (none last), site code and lot.
 */
struct lot_in {
	int64_t product_id;
	int region;
	int site_rank;	/* site_in.rank: the site code's place */
	int32_t expiry; /* days since 1970-01-01, or ALLOCATOR_NO_EXPIRY */
	int64_t site_id;
	int64_t quantity;
	const char *lot;
};

static int lot_cmp(const void *a, const void *b)
{
	const struct lot_in *x = a, *y = b;

	if (x->product_id != y->product_id)
		return x->product_id < y->product_id ? -1 : 1;
	if (x->region != y->region)
		return x->region < y->region ? -1 : 1;
	if (x->expiry != y->expiry)
		return x->expiry < y->expiry ? -1 : 1;
	if (x->site_rank != y->site_rank)
		return x->site_rank < y->site_rank ? -1 : 1;
	return strcmp(x->lot, y->lot);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int region_index(const struct gather *g, const char *code)
{
	/* the second letter first: codes are two, and it tells most apart */
	for (size_t i = 0; i < g->nregions; i++)
		if (g->regions[i].code[1] == code[1] &&
		    strcmp(g->regions[i].code, code) == 0)
			return (int)i;
	return -1;
}

static size_t id_hash(const struct id_index *x, int64_t id)
{
	return (size_t)(((uint64_t)id * UINT64_C(0x9e3779b97f4a7c15)) >>
			x->shift);
}

/* An empty index with room for n ids.  0, or -1 (out of memory). */
static int id_index_init(struct id_index *x, size_t n)
{
	size_t size = 16;
	unsigned bits = 4;

	while (size < 2 * n) {
		size <<= 1;
		bits++;
	}
	x->slot = malloc(size * sizeof(*x->slot));
	if (!x->slot)
		return -1;
	for (size_t i = 0; i < size; i++)
		x->slot[i].at = -1;
	x->mask = size - 1;
	x->shift = 64 - bits;
	return 0;
}

/* id is at place at (at >= 0; ids are distinct, and at most n). */
static void id_index_put(struct id_index *x, int64_t id, long at)
{
	size_t s = id_hash(x, id);

	while (x->slot[s].at >= 0)
		s = (s + 1) & x->mask;
	x->slot[s] = (struct id_slot){id, at};
}

/* id's place, or -1: not in the index. */
static long id_index_find(const struct id_index *x, int64_t id)
{
	for (size_t s = id_hash(x, id); x->slot[s].at >= 0;
	     s = (s + 1) & x->mask)
		if (x->slot[s].id == id)
			return x->slot[s].at;
	return -1;
}

/* Where product id lies in g->ids, or -1: not a product of the run. */
static long product_index(const struct gather *g, int64_t id)
{
	return id_index_find(&g->product_at, id);
}

/* The slot of product id in region code, or NULL: neither of the run. */
static struct rate_in *rate_slot(struct gather *g, int64_t id, const char *code)
{
	long k = product_index(g, id);
	int ri = k < 0 ? -1 : region_index(g, code);

	return ri < 0 ? NULL : &g->rates[(size_t)k * g->nregions + (size_t)ri];
}

/* One (product, region)'s rate, floor and target, as readiness computed
 * them (out), into its slot r. */
static void set_rate(struct rate_in *r, const struct readiness_result *out)
{
	r->present = true;
	r->rate_known = out->rate_known;
	r->rate = out->rate_known ? out->rate : 0;
	r->floor_days = out->floor_days;
	r->target_days = out->target_days;
}

static int on_rate(const struct readiness_row *row, void *arg)
{
	struct gather *g = arg;
	struct rate_in *r =
		row->region ? rate_slot(g, row->product_id, row->region) : NULL;

	if (r)
		set_rate(r, &row->out);
	return 0;
}

/* What gather_rates read, for rates_compute. */
struct rates_read {
	PGresult *tq, *rq; /* allocation_targets, allocation_rate_inputs;
			      NULL when readiness_scan answered */
	int window;
	double factor;
};

/*
 * The rates, floors and targets of the gathered products (ids, an array
 * literal) over window days, as readiness computes them at region scope.
 * When the window's sums are today's (allocation_rates_current, sql/017)
 * their inputs are read from allocation_rate_inputs and allocation_targets
 * into *rr, without the stock and names readiness_scan would read too,
 * for rates_compute; else readiness_scan puts them into g->rates.  The
 * caller PQclears rr's results.
 */
static int gather_rates(struct db *db, struct gather *g, const char *ids,
			int window, struct rates_read *rr, struct err *e)
{
	char win[16];
	const char *params[2] = {win, ids};
	PGresult *cq;
	bool current;

	memset(rr, 0, sizeof(*rr));
	rr->window = window ? window : READINESS_WINDOW_DEFAULT;
	snprintf(win, sizeof(win), "%d", rr->window);
	cq = db_exec(db,
		     "SELECT allocation_rates_current($1::integer),"
		     " readiness_current_factor()",
		     1, params, e);
	if (!cq)
		return -1;
	current = db_text(cq, 0, 0)[0] == 't';
	rr->factor = strtod(db_text(cq, 0, 1), NULL);
	PQclear(cq);
	if (!current) {
		struct readiness_filter f = {
			.scope = "region",
			.product_ids = g->ids,
			.nproducts = g->nids,
			.any_order = true, /* sorted by the caller */
			.window_days = rr->window,
		};

		return readiness_scan(db, &f, on_rate, g, e);
	}
	rr->tq = db_exec(db,
			 "SELECT product_id, region_code, target_days,"
			 " floor_days FROM allocation_targets($1::bigint[])"
			 " ORDER BY product_id, region_code NULLS FIRST",
			 1, params + 1, e);
	rr->rq = rr->tq ? db_exec(db,
				  "SELECT region_code, product_id, issued,"
				  " history_days, stockout_days"
				  " FROM allocation_rate_inputs"
				  " WHERE product_id = ANY ($1::bigint[])",
				  1, params + 1, e) :
			  NULL;
	return rr->rq ? 0 : -1;
}

/*
 * The rates of what gather_rates read into rr, computed by
 * readiness_compute like every readiness row, into g->rates.  The targets
 * and floors (rr->tq, by product, a product's own row first) are put into
 * the slots first: a product's own row into all of its regions', a
 * region's own row then into its one.  0 on none (0 and 0).
 */
static int rates_compute(struct gather *g, const struct rates_read *rr,
			 struct err *e)
{
	struct readiness_input in = {0};

	for (int i = 0; rr->tq && i < PQntuples(rr->tq); i++) {
		long k = product_index(g, db_int64(rr->tq, i, 0));
		bool own = PQgetisnull(rr->tq, i, 1);
		int ri = own || k < 0 ? -1 :
					region_index(g, db_text(rr->tq, i, 1));
		double target = strtod(db_text(rr->tq, i, 2), NULL);
		double floor_days = strtod(db_text(rr->tq, i, 3), NULL);
		struct rate_in *r =
			k < 0 ? NULL : &g->rates[(size_t)k * g->nregions];

		/* the product's own row: every region; a region's: its own */
		for (size_t j = 0; r && j < g->nregions; j++)
			if (own || (int)j == ri) {
				r[j].target_days = target;
				r[j].floor_days = floor_days;
			}
	}
	in.window_days = rr->window;
	in.factor = rr->factor;
	for (int i = 0; rr->rq && i < PQntuples(rr->rq); i++) {
		struct readiness_result res;
		int64_t id = db_int64(rr->rq, i, 1);
		const char *code = db_text(rr->rq, i, 0);
		struct rate_in *r = rate_slot(g, id, code);

		if (!r)
			continue;
		/* As readiness_scan: issues are never negative. */
		in.issued = db_int64(rr->rq, i, 2);
		if (in.issued < 0)
			in.issued = 0;
		in.history_days = (int)db_int64(rr->rq, i, 3);
		in.stockout_days = (int)db_int64(rr->rq, i, 4);
		in.target_days = r->target_days;
		in.floor_days = r->floor_days;
		if (readiness_compute(&in, &res, e) < 0)
			return err_prefix(e, "product %" PRId64 ", region %s: ",
					  id, code);
		set_rate(r, &res);
	}
	return 0;
}

/* rates_compute as a thread's work: rc and e are its outcome. */
struct rates_job {
	struct gather *g;
	const struct rates_read *rr;
	int rc;
	struct err e;
};

static void *rates_job_run(void *arg)
{
	struct rates_job *j = arg;

	j->rc = rates_compute(j->g, j->rr, &j->e);
	return NULL;
}

static int load_regions(struct db *db, struct gather *g, struct err *e)
{
	PGresult *q = db_exec(db,
			      "SELECT code, healthcare_region,"
			      " coalesce(population, 0),"
			      " allocation_in_disaster(code),"
			      " allocation_receiving_site(code)"
			      " FROM region ORDER BY code",
			      0, NULL, e);

	if (!q)
		return -1;
	g->nregions = 0;
	for (int i = 0; i < PQntuples(q) && i < ALLOCATOR_REGIONS_MAX; i++) {
		struct region_in *r = &g->regions[g->nregions++];

		snprintf(r->code, sizeof(r->code), "%s", db_text(q, i, 0));
		snprintf(r->hc, sizeof(r->hc), "%s", db_text(q, i, 1));
		r->population = db_int64(q, i, 2);
		r->disaster = db_text(q, i, 3)[0] == 't';
		r->site = db_int64(q, i, 4);
	}
	PQclear(q);
	return 0;
}

/*
 * Every site, in code order, with its region (an index into g's, after
 * load_regions) and its code's rank, found by id (g->site_at): the lots
 * name only their site, and a rank compares cheaper than the code (codes
 * are unique).  Sites are never deleted and keep their region
 * (site_kept), and every role reads them.
 */
static int load_sites(struct db *db, struct gather *g, struct err *e)
{
	/* in strcmp's order whatever the database's collation */
	PGresult *q = db_exec(db,
			      "SELECT id, region_code FROM site"
			      " ORDER BY code COLLATE \"C\"",
			      0, NULL, e);
	int rc = -1;

	if (!q)
		return -1;
	g->nsites = (size_t)PQntuples(q);
	g->sites = calloc(g->nsites ? g->nsites : 1, sizeof(*g->sites));
	if (!g->sites) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < g->nsites; i++) {
		g->sites[i].id = db_int64(q, (int)i, 0);
		g->sites[i].region = region_index(g, db_text(q, (int)i, 1));
		g->sites[i].rank = (int)i;
	}
	if (id_index_init(&g->site_at, g->nsites) < 0) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < g->nsites; i++)
		id_index_put(&g->site_at, g->sites[i].id, (long)i);
	rc = 0;
out:
	PQclear(q);
	return rc;
}

/* ---- runs: one product ---- */

/*
 * A run's rows are written as COPY text (run_as, store_run): a product's
 * row holds its own arrays (its regions' inputs, its lots, its proposals)
 * as array literals.
 */

/* What solving the products leaves for storing. */
struct solved {
	struct buf prod; /* the products, COPY text rows (product_inputs,
			    product_outputs) */
	struct buf pack; /* the product being solved's proposals, the last
			    fields of its row (proposal_pack) */
	size_t nproducts;
	int64_t nproposals;
	int64_t pack_size0; /* the first product's (a plan has one) */
	json_t *plan_rows;  /* [{region, week, quota_packs, ...}] */
	/* the run's summary */
	int64_t moved, transfers, dropped, quantity, obligatory, nlevels;
	double min_level, max_level;
};

/* The help request a run serves, if any. */
struct help_target {
	const char *region;
	int64_t id;
	int64_t quantity; /* asked, base units; 0: days */
	double days;
};

struct product_in {
	int64_t id;
	int64_t pack_size;
	const char *key, *name;
};

/*
 * ---- a run's rows in COPY's binary format ----
 *
 * The database reads binary fields with a type's receive function: some
 * 20% less of its time than parsing text (a national run's COPY: 0.35 s
 * against 0.45 s), and the service writes integers and reals as they are,
 * with no digits and no escapes.  Every integer is big-endian.  A field
 * is its length (-1: NULL) and its bytes; an array field is its number of
 * dimensions (1; 0 when empty), a flags word (0: the database finds the
 * NULLs among the elements itself, and checks only that the word is 0 or
 * 1), its element type, its length and lower bound (1), then its
 * elements, each as a field.
 * Element types are named by the built-in types' fixed oids (pg_type.dat),
 * which the database checks against the column's.
 */
enum copy_oid {
	OID_BOOL = 16,
	OID_INT8 = 20,
	OID_TEXT = 25,
	OID_FLOAT8 = 701,
	OID_BPCHAR = 1042,
	OID_DATE = 1082
};

/* The file's start (signature, no flags, no extension) and end. */
static const char copy_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
static const char copy_trailer[2] = "\377\377";

/* The fields of a row of lb_run_product_in (product_staging). */
#define STAGE_FIELDS 23
/* Days from 1970-01-01 to the database's epoch, 2000-01-01. */
#define PG_EPOCH_DAYS 10957

static void put_u32(char *at, uint32_t v)
{
	unsigned char t[4] = {(unsigned char)(v >> 24),
			      (unsigned char)(v >> 16), (unsigned char)(v >> 8),
			      (unsigned char)v};

	memcpy(at, t, 4);
}

static void bin_u16(struct buf *b, uint16_t v)
{
	unsigned char t[2] = {(unsigned char)(v >> 8), (unsigned char)v};

	buf_add(b, (const char *)t, 2);
}

static void bin_u32(struct buf *b, uint32_t v)
{
	char t[4];

	put_u32(t, v);
	buf_add(b, t, 4);
}

static void bin_u64(struct buf *b, uint64_t v)
{
	char t[8];

	put_u32(t, (uint32_t)(v >> 32));
	put_u32(t + 4, (uint32_t)v);
	buf_add(b, t, 8);
}

/* A NULL field or element. */
static void bin_null(struct buf *b)
{
	bin_u32(b, UINT32_MAX);
}

/* A bigint field or element. */
static void bin_i64(struct buf *b, int64_t v)
{
	bin_u32(b, 8);
	bin_u64(b, (uint64_t)v);
}

/* A double precision field or element: its IEEE 754 bits. */
static void bin_f64(struct buf *b, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	bin_u32(b, 8);
	bin_u64(b, u);
}

static void bin_bool(struct buf *b, bool v)
{
	bin_u32(b, 1);
	buf_add(b, v ? "\1" : "\0", 1);
}

/* Text (or char(n)) as its bytes, in the connection's encoding. */
static void bin_text(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	bin_u32(b, (uint32_t)n);
	buf_add(b, s, n);
}

/* A lot's expiry as a date, or NULL: none. */
static void bin_expiry(struct buf *b, int32_t expiry)
{
	if (expiry == ALLOCATOR_NO_EXPIRY) {
		bin_null(b);
		return;
	}
	bin_u32(b, 4);
	bin_u32(b, (uint32_t)(expiry - PG_EPOCH_DAYS));
}

/*
 * Start an array field of n elements of type oid.  Returns where its
 * length goes, for array_end once the elements are written.
 */
static size_t array_begin(struct buf *b, enum copy_oid oid, size_t n)
{
	size_t at = b->len;

	bin_u32(b, 0);
	bin_u32(b, n > 0);
	bin_u32(b, 0);
	bin_u32(b, oid);
	if (n > 0) {
		bin_u32(b, (uint32_t)n);
		bin_u32(b, 1);
	}
	return at;
}

static void array_end(struct buf *b, size_t at)
{
	if (!b->failed)
		put_u32(b->p + at, (uint32_t)(b->len - at - 4));
}

/* A product's per-region arrays. */
enum region_col {
	RC_STOCK,
	RC_RATE,
	RC_KNOWN,
	RC_FLOOR,
	RC_TARGET
};

static void region_array(struct buf *b, const struct alloc_region *r,
			 const bool *known, size_t n, enum region_col c)
{
	static const enum copy_oid oid[] = {OID_INT8, OID_FLOAT8, OID_BOOL,
					    OID_FLOAT8, OID_FLOAT8};
	size_t at = array_begin(b, oid[c], n);

	for (size_t i = 0; i < n; i++) {
		switch (c) {
		case RC_STOCK: bin_i64(b, r[i].stock); break;
		case RC_RATE: bin_f64(b, r[i].rate); break;
		case RC_KNOWN: bin_bool(b, known[i]); break;
		case RC_FLOOR: bin_f64(b, r[i].floor_days); break;
		case RC_TARGET: bin_f64(b, r[i].target_days); break;
		}
	}
	array_end(b, at);
}

/* A column of a product's lots. */
enum lot_col {
	LC_SITE,
	LC_NAME,
	LC_EXPIRY,
	LC_QTY
};

static void lot_array(struct buf *b, const struct lot_in *lv, size_t n,
		      enum lot_col c)
{
	static const enum copy_oid oid[] = {OID_INT8, OID_TEXT, OID_DATE,
					    OID_INT8};
	size_t at = array_begin(b, oid[c], n);

	for (size_t k = 0; k < n; k++) {
		switch (c) {
		case LC_SITE: bin_i64(b, lv[k].site_id); break;
		case LC_NAME: bin_text(b, lv[k].lot); break;
		case LC_EXPIRY: bin_expiry(b, lv[k].expiry); break;
		case LC_QTY: bin_i64(b, lv[k].quantity); break;
		}
	}
	array_end(b, at);
}

/*
 * The inputs of one product, its regions' and its nlots lots: the start
 * of its row of lb_run_product_in (store_run) and its first fields;
 * product_outputs ends the row.
 */
static void product_inputs(struct solved *s, const struct gather *g,
			   const struct product_in *pi,
			   const struct alloc_region *r, const bool *known,
			   const struct lot_in *lv, size_t nlots)
{
	struct buf *b = &s->prod;

	bin_u16(b, STAGE_FIELDS);
	bin_i64(b, pi->id);
	bin_u32(b, 4);
	bin_u32(b, (uint32_t)pi->pack_size);
	for (int c = RC_STOCK; c <= RC_TARGET; c++)
		region_array(b, r, known, g->nregions, (enum region_col)c);
	for (int c = LC_SITE; c <= LC_QTY; c++)
		lot_array(b, lv, nlots, (enum lot_col)c);
	s->nproducts++;
}

/* A column of a product's proposals. */
enum proposal_col {
	PC_FROM,
	PC_SITE,
	PC_LOT,
	PC_EXPIRY,
	PC_TO,
	PC_TO_SITE,
	PC_QUANTITY,
	PC_OBLIGATORY
};

/* The outputs of one product, the last fields of its row: level, what
 * each region receives (NULL for share, whose proposals say it), the
 * problem's scalars (jsonb: a version, 1, and the text), and its
 * proposals (s->pack, emptied; NULLs if none). */
static int product_outputs(struct solved *s, bool has_level, double level,
			   const int64_t *receives, size_t nregions,
			   json_t *result, struct err *e)
{
	struct buf *b = &s->prod;
	char *text = json_dumps(result, JSON_STORE);
	size_t len;

	if (!text)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	if (has_level && isfinite(level)) {
		bin_f64(b, level);
		if (s->nlevels == 0 || level < s->min_level)
			s->min_level = level;
		if (s->nlevels == 0 || level > s->max_level)
			s->max_level = level;
		s->nlevels++;
	} else {
		bin_null(b);
	}
	if (receives) {
		size_t at = array_begin(b, OID_INT8, nregions);

		for (size_t i = 0; i < nregions; i++)
			bin_i64(b, receives[i]);
		array_end(b, at);
	} else {
		bin_null(b);
	}
	len = strlen(text);
	bin_u32(b, (uint32_t)(1 + len));
	buf_add(b, "\1", 1);
	buf_add(b, text, len);
	if (s->pack.len > 0) {
		buf_add(b, s->pack.p, s->pack.len);
	} else {
		/* the offset and each proposal column */
		for (int i = 0; i <= PC_OBLIGATORY + 1; i++)
			bin_null(b);
	}
	s->pack.len = 0;
	free(text);
	return s->pack.failed ? err_set(e, ERR_INTERNAL, "", "out of memory") :
				0;
}

/*
 * The transfers t[0..n) of a product as its proposals, the run's from
 * offset on: the fields of its row that sql/020 and 021 store them in
 * (offset; giving region, site, lot, expiry, receiving region, site or
 * NULL, quantity, obligatory as arrays).
 */
static void proposal_pack(struct buf *b, int64_t offset,
			  const struct alloc_transfer *t, size_t n,
			  const struct alloc_region *r,
			  const struct alloc_lot *lots, const struct gather *g)
{
	static const enum copy_oid oid[] = {OID_BPCHAR, OID_INT8,   OID_TEXT,
					    OID_DATE,	OID_BPCHAR, OID_INT8,
					    OID_INT8,	OID_BOOL};

	bin_i64(b, offset);
	for (int c = PC_FROM; c <= PC_OBLIGATORY; c++) {
		size_t at = array_begin(b, oid[c], n);

		for (size_t i = 0; i < n; i++) {
			const struct alloc_lot *lot = &lots[t[i].lot];
			int64_t to_site = g->regions[t[i].to].site;

			switch ((enum proposal_col)c) {
			case PC_FROM: bin_text(b, r[t[i].from].code); break;
			case PC_SITE: bin_i64(b, lot->site_id); break;
			case PC_LOT: bin_text(b, lot->lot); break;
			case PC_EXPIRY: bin_expiry(b, lot->expiry); break;
			case PC_TO: bin_text(b, r[t[i].to].code); break;
			case PC_TO_SITE:
				if (to_site)
					bin_i64(b, to_site);
				else
					bin_null(b);
				break;
			case PC_QUANTITY: bin_i64(b, t[i].quantity); break;
			case PC_OBLIGATORY:
				bin_bool(b, g->regions[t[i].to].disaster);
				break;
			}
		}
		array_end(b, at);
	}
}

/*
 * A help request's run keeps only the transfers to the requester, up to
 * what it asked for, in whole packs; the rest are not proposed.  Returns
 * how many transfers are kept (moved to the front of t).
 */
static size_t keep_for_help(struct alloc_transfer *t, size_t n, size_t to,
			    int64_t cap, int64_t pack, int64_t min_transfer)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int64_t q = t[i].quantity;

		if (t[i].to != to || cap <= 0)
			continue;
		if (q > cap)
			q = cap / pack * pack;
		if (q <= 0 || q < min_transfer)
			continue;
		t[k] = t[i];
		t[k].quantity = q;
		cap -= q;
		k++;
	}
	return k;
}

static int solve_share(const struct allocation_params *p,
		       const struct gather *g, const struct product_in *pi,
		       struct alloc_region *r, const bool *known,
		       struct alloc_lot *lots, size_t nlots, int32_t today,
		       const struct help_target *help, struct solved *out,
		       json_t *result, double *level, struct err *e)
{
	struct alloc_share_params sp = {
		.pack_size = pi->pack_size,
		.min_transfer = p->min_transfer,
		.today = today,
		.min_shelf_days = p->min_shelf_days,
		.idle_gives = p->idle_gives,
		.idle_keep_packs = p->idle_keep_packs,
	};
	struct alloc_share_result res = {0};
	size_t nt;

	if (allocator_share(r, g->nregions, lots, nlots, &sp, &res, e) < 0) {
		err_prefix(e, "product %s: ", pi->key);
		return -1;
	}
	nt = res.ntransfers;
	if (help) {
		int hi = region_index(g, help->region);
		int64_t cap = help->quantity;

		if (!help->quantity)
			cap = r[hi].rate > 0 ?
				      (int64_t)ceil(help->days * r[hi].rate) :
				      0;
		nt = keep_for_help(res.transfers, nt, (size_t)hi, cap,
				   pi->pack_size, p->min_transfer);
		json_object_set_new(result, "help_request",
				    json_pack("{s:s, s:I, s:I, s:b}", "region",
					      help->region, "id",
					      (json_int_t)help->id, "cap",
					      (json_int_t)cap, "rate_known",
					      known[hi]));
	}
	/* The transfers kept are the proposals, stored with the product
	 * (product_outputs); the holdings after are theirs
	 * (allocation_product_json). */
	if (nt > 0)
		proposal_pack(&out->pack, out->nproposals, res.transfers, nt, r,
			      lots, g);
	for (size_t i = 0; i < nt; i++) {
		const struct alloc_transfer *t = &res.transfers[i];

		out->nproposals++;
		out->quantity += t->quantity;
		out->obligatory += g->regions[t->to].disaster;
	}
	out->moved += nt > 0;
	out->transfers += (int64_t)nt;
	out->dropped += (int64_t)res.dropped;
	json_object_set_new(result, "transfers", json_integer((json_int_t)nt));
	json_object_set_new(result, "transfers_solved",
			    json_integer((json_int_t)res.ntransfers));
	json_object_set_new(result, "dropped",
			    json_integer((json_int_t)res.dropped));
	*level = res.level;
	allocator_share_free(&res);
	return 0;
}

static int solve_supply(const struct allocation_params *p,
			const struct gather *g, const struct product_in *pi,
			const struct alloc_region *r, int64_t *receives,
			json_t *result, double *level, bool *has_level,
			struct err *e)
{
	struct alloc_supply_params sp = {
		.packs = p->quantity / pi->pack_size,
		.pack_size = pi->pack_size,
		.key = p->key,
		.hybrid_key = p->hybrid_key,
		.reserve_pct = p->reserve_pct,
	};
	struct alloc_supply_result res = {0};

	if (p->quantity % pi->pack_size != 0)
		return err_set(e, ERR_INVALID, "quantity",
			       "quantity %" PRId64 ": not whole packs of "
			       "product %s (pack size %" PRId64 ")",
			       p->quantity, pi->key, pi->pack_size);
	if (allocator_supply(r, g->nregions, &sp, &res, e) < 0)
		return err_prefix(e, "product %s: ", pi->key);
	for (size_t i = 0; i < g->nregions; i++)
		receives[i] = res.packs[i] * pi->pack_size;
	json_object_set_new(result, "packs", json_integer(sp.packs));
	json_object_set_new(result, "reserve_packs",
			    json_integer(res.reserve_packs));
	*has_level = p->key == ALLOC_KEY_MAXMIN ||
		     (p->key == ALLOC_KEY_HYBRID &&
		      p->hybrid_key == ALLOC_KEY_MAXMIN);
	*level = res.level;
	allocator_supply_free(&res);
	return 0;
}

static int solve_plan(const struct allocation_params *p, const struct gather *g,
		      const struct product_in *pi, const struct alloc_region *r,
		      int64_t *receives, struct solved *out, json_t *result,
		      struct err *e)
{
	struct alloc_plan_params pp = {
		.weeks = p->weeks,
		.capacity = p->capacity,
		.pack_size = pi->pack_size,
	};
	struct alloc_plan_result res = {0};
	json_t *unused = json_array(), *reached = json_array(),
	       *shortfall = json_array();

	if (allocator_plan(r, g->nregions, &pp, &res, e) < 0) {
		json_decref(unused);
		json_decref(reached);
		json_decref(shortfall);
		return err_prefix(e, "product %s: ", pi->key);
	}
	for (size_t i = 0; i < g->nregions; i++) {
		int64_t cum = 0;
		bool planned = r[i].rate > 0 && r[i].target_days > 0;

		for (int w = 0; w < p->weeks; w++) {
			int64_t qp =
				res.quota[i * (size_t)p->weeks + (size_t)w];

			cum += qp * pi->pack_size;
			if (planned)
				json_array_append_new(
					out->plan_rows,
					json_pack("{s:s, s:i, s:I, s:I, s:I}",
						  "region", r[i].code, "week",
						  w + 1, "quota_packs",
						  (json_int_t)qp, "quota",
						  (json_int_t)(qp *
							       pi->pack_size),
						  "planned_holding",
						  (json_int_t)(r[i].stock +
							       cum)));
		}
		receives[i] = cum;
		json_array_append_new(reached,
				      json_integer(res.week_reached[i]));
		json_array_append_new(shortfall,
				      json_integer(res.shortfall[i]));
	}
	for (int w = 0; w < p->weeks; w++)
		json_array_append_new(unused, json_integer(res.unused[w]));
	json_object_set_new(result, "unused", unused);
	json_object_set_new(result, "week_reached", reached);
	json_object_set_new(result, "shortfall", shortfall);
	allocator_plan_free(&res);
	return 0;
}

/*
 * Solve one product: its regions' inputs from the gathered rates and its
 * nlots lots, then the problem.
 */
static int solve_product(const struct allocation_params *p,
			 const struct gather *g, const struct product_in *pi,
			 const struct lot_in *lv, size_t nlots, int32_t today,
			 const struct help_target *help, struct solved *out,
			 struct err *e)
{
	struct alloc_region r[ALLOCATOR_REGIONS_MAX];
	bool known[ALLOCATOR_REGIONS_MAX];
	int64_t receives[ALLOCATOR_REGIONS_MAX];
	struct alloc_lot *lots = NULL;
	json_t *result = json_object();
	double level = 0;
	bool has_level = true;
	int rc = -1;
	long at = product_index(g, pi->id);

	if (nlots > ALLOCATOR_LOTS_MAX) {
		err_set(e, ERR_INVALID, "product",
			"product %s: %zu lots; the allocator takes at most %d",
			pi->key, nlots, ALLOCATOR_LOTS_MAX);
		goto out;
	}
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < g->nregions; i++) {
		r[i].code = g->regions[i].code;
		r[i].hc_region = g->regions[i].hc;
		r[i].population = g->regions[i].population;
		r[i].floor_days = p->floor_days >= 0 ? p->floor_days : 0;
		r[i].target_days = p->target_days >= 0 ? p->target_days : 0;
		known[i] = false;
	}
	/* The product's rates: the regions' slots that readiness has. */
	for (size_t i = 0; at >= 0 && i < g->nregions; i++) {
		const struct rate_in *rt =
			&g->rates[(size_t)at * g->nregions + i];

		if (!rt->present)
			continue;
		known[i] = rt->rate_known;
		r[i].rate = rt->rate;
		if (p->floor_days < 0)
			r[i].floor_days = rt->floor_days;
		if (p->target_days < 0)
			r[i].target_days = rt->target_days;
	}
	lots = calloc(nlots ? nlots : 1, sizeof(*lots));
	if (!lots) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	for (size_t k = 0; k < nlots; k++) {
		lots[k].region = (size_t)lv[k].region;
		lots[k].site_id = lv[k].site_id;
		lots[k].lot = lv[k].lot;
		lots[k].expiry = lv[k].expiry;
		lots[k].quantity = lv[k].quantity;
		r[lv[k].region].stock += lv[k].quantity;
	}
	if (out->nproducts == 0)
		out->pack_size0 = pi->pack_size;
	product_inputs(out, g, pi, r, known, lv, nlots);
	switch (p->problem) {
	case ALLOCATION_SHARE:
		rc = solve_share(p, g, pi, r, known, lots, nlots, today, help,
				 out, result, &level, e);
		break;
	case ALLOCATION_SUPPLY:
		rc = solve_supply(p, g, pi, r, receives, result, &level,
				  &has_level, e);
		break;
	case ALLOCATION_PLAN:
		has_level = false;
		rc = solve_plan(p, g, pi, r, receives, out, result, e);
		break;
	}
	if (rc < 0)
		goto out;
	rc = product_outputs(out, has_level, level,
			     p->problem == ALLOCATION_SHARE ? NULL : receives,
			     g->nregions, result, e);
out:
	json_decref(result);
	free(lots);
	return rc;
}

/* ---- runs: storing ---- */

static json_t *params_json(const struct allocation_params *p,
			   const struct help_target *help)
{
	json_t *j = json_object(), *ids = json_array();

	for (size_t i = 0; i < p->nproducts; i++)
		json_array_append_new(ids, json_integer(p->products[i]));
	json_object_set_new(j, "problem",
			    json_string(allocation_problem_name(p->problem)));
	json_object_set_new(j, "products", ids);
	json_object_set_new(j, "window_days",
			    json_integer(p->window_days ?
						 p->window_days :
						 READINESS_WINDOW_DEFAULT));
	switch (p->problem) {
	case ALLOCATION_SHARE:
		json_object_set_new(j, "floor_days",
				    p->floor_days >= 0 ?
					    json_integer(p->floor_days) :
					    json_string("targets"));
		json_object_set_new(j, "min_transfer",
				    json_integer(p->min_transfer));
		json_object_set_new(j, "min_shelf_days",
				    json_integer(p->min_shelf_days));
		json_object_set_new(j, "idle_gives",
				    json_boolean(p->idle_gives));
		json_object_set_new(j, "idle_keep_packs",
				    json_integer(p->idle_keep_packs));
		break;
	case ALLOCATION_SUPPLY:
		json_object_set_new(j, "quantity", json_integer(p->quantity));
		json_object_set_new(j, "key",
				    json_string(allocator_key_name(p->key)));
		if (p->key == ALLOC_KEY_HYBRID) {
			json_object_set_new(
				j, "hybrid_key",
				json_string(allocator_key_name(p->hybrid_key)));
			json_object_set_new(j, "reserve_pct",
					    json_integer(p->reserve_pct));
		}
		break;
	case ALLOCATION_PLAN: {
		json_t *cap = json_array();

		for (int w = 0; w < p->weeks; w++)
			json_array_append_new(cap,
					      json_integer(p->capacity[w]));
		json_object_set_new(j, "weeks", json_integer(p->weeks));
		json_object_set_new(j, "capacity", cap);
		json_object_set_new(j, "target_days",
				    p->target_days >= 0 ?
					    json_integer(p->target_days) :
					    json_string("targets"));
		break;
	}
	}
	if (help)
		json_object_set_new(j, "help_request",
				    json_pack("{s:s, s:I}", "region",
					      help->region, "id",
					      (json_int_t)help->id));
	return j;
}

/* The regions as the run saw them, in the order of its arrays. */
static json_t *regions_json(const struct gather *g)
{
	json_t *a = json_array();

	for (size_t i = 0; i < g->nregions; i++)
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:I, s:b}", "region",
				     g->regions[i].code, "healthcare_region",
				     g->regions[i].hc, "population",
				     (json_int_t)g->regions[i].population,
				     "in_disaster", g->regions[i].disaster));
	return a;
}

static json_t *summary_json(const struct solved *s)
{
	json_t *j = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "products",
		(json_int_t)s->nproducts, "products_moved",
		(json_int_t)s->moved, "transfers", (json_int_t)s->transfers,
		"dropped", (json_int_t)s->dropped, "proposals",
		(json_int_t)s->nproposals, "quantity", (json_int_t)s->quantity,
		"obligatory", (json_int_t)s->obligatory);

	json_object_set_new(j, "min_level",
			    s->nlevels ? json_real(s->min_level) : json_null());
	json_object_set_new(j, "max_level",
			    s->nlevels ? json_real(s->max_level) : json_null());
	return j;
}

/*
 * A run's products go through a temporary table of this session: COPY
 * (binary format, see copy_header) into it, then a function of the database's ($1 the run)
 * checks them there and stores them with their proposals (sql/020: the
 * application may not insert them itself), and the temporary table is
 * emptied for a next run in the same transaction.  COPY cannot write a
 * table with row-level security, and parses rows far faster than array
 * parameters are; the function reads the temporary table in the order
 * COPY wrote it, so the products are stored, and proposals numbered, in
 * the allocator's order.  It runs with its owner's rights, which may be
 * fewer than a superuser's: the table is made readable to it (to PUBLIC;
 * no other session can reach it).  The COPY runs while the products are
 * solved (run_as).  The columns are the ones sql/021 reads.
 */
struct staging {
	const char *create, *grant, *copy, *insert, *empty;
};

/* What run_as sends of the products' COPY at a time.  Small, so that the
 * database parses while the next piece is made: on the bench data the
 * COPY of a national run took 0.68 s in 256 kB pieces, 0.45 s in 32 kB
 * (16 kB the same, 8 kB 0.55 s). */
#define STAGE_PIECE (32 * 1024)

static const struct staging product_staging = {
	"CREATE TEMP TABLE IF NOT EXISTS lb_run_product_in"
	" (product_id bigint, pack_size integer,"
	" stock bigint[], rate float8[], rate_known boolean[],"
	" floor_days float8[], target_days float8[],"
	" lot_site bigint[], lot_name text[],"
	" lot_expiry date[], lot_qty bigint[],"
	" level float8, receives bigint[], result jsonb,"
	" proposal_offset bigint,"
	" proposal_from char(2)[], proposal_site bigint[],"
	" proposal_lot text[], proposal_expiry date[],"
	" proposal_to char(2)[], proposal_to_site bigint[],"
	" proposal_quantity bigint[], proposal_obligatory boolean[])"
	" ON COMMIT DELETE ROWS",
	"GRANT SELECT ON lb_run_product_in TO PUBLIC",
	"COPY lb_run_product_in FROM STDIN (FORMAT binary)",
	"SELECT allocation_store_run_products($1::bigint)",
	"TRUNCATE lb_run_product_in",
};

/* Move what st's table holds into the run's table, as run.  0 or -1. */
static int stage_insert(struct db *db, const struct staging *st,
			const char *run, struct err *e)
{
	const char *params[1] = {run};

	if (db_command(db, st->insert, 1, params, e) < 0 ||
	    db_command(db, st->empty, 0, NULL, e) < 0)
		return -1;
	return 0;
}

/* Start st's COPY, into a table created if need be.  0 or -1. */
static int stage_begin(struct db *db, const struct staging *st, struct err *e)
{
	if (db_command(db, st->create, 0, NULL, e) < 0 ||
	    db_command(db, st->grant, 0, NULL, e) < 0 ||
	    db_copy_begin(db, st->copy, e) < 0)
		return -1;
	return 0;
}

/*
 * Send what rows holds of st's COPY and empty it for more.  0, or -1 with
 * e set (rows failed: out of memory).
 */
static int stage_put(struct db *db, struct buf *rows, struct err *e)
{
	if (rows->failed)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	if (db_copy_put(db, rows->p, rows->len, e) < 0)
		return -1;
	rows->len = 0;
	return 0;
}

static int store_run(struct db *db, const struct allocation_params *p,
		     const struct help_target *help, const struct gather *g,
		     struct solved *s, const char *start, int64_t *run_id,
		     struct err *e)
{
	json_t *params = params_json(p, help), *regions = regions_json(g);
	json_t *summary = summary_json(s);
	char *ptext = json_dumps(params, JSON_STORE);
	char *rtext = json_dumps(regions, JSON_STORE);
	char *stext = json_dumps(summary, JSON_STORE);
	char hid[I64_LEN], run[I64_LEN];
	const char *qp[7];
	PGresult *q = NULL;
	int rc = -1;

	if (!ptext || !rtext || !stext || s->prod.failed) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	if (help)
		i64s(hid, help->id);
	qp[0] = allocation_problem_name(p->problem);
	qp[1] = ptext;
	qp[2] = ALLOCATOR_VERSION;
	qp[3] = rtext;
	qp[4] = stext;
	qp[5] = help ? help->region : NULL;
	qp[6] = help ? hid : NULL;
	q = db_exec(db,
		    "INSERT INTO allocation_run (problem, params,"
		    " algorithm_version, regions, summary, help_region,"
		    " help_request_id)"
		    " VALUES ($1::allocation_problem, $2::jsonb, $3,"
		    " $4::jsonb, $5::jsonb, $6, $7::bigint) RETURNING id",
		    7, qp, e);
	if (!q)
		goto out;
	*run_id = db_int64(q, 0, 0);
	i64s(run, *run_id);
	/* Every product and its proposals in one statement (they were sent
	 * while solved).  Where each receiver receives and whether it is in
	 * disaster state were read with the regions (load_regions), in
	 * this transaction: no lookup per row, no join. */
	if (stage_insert(db, &product_staging, run, e) < 0)
		goto out;
	if (p->problem == ALLOCATION_PLAN) {
		json_t *cap = json_array();
		char pid[I64_LEN], weeks[16], pack[I64_LEN];
		char *ctext, *rows;
		const char *pp[6];
		int r;

		for (int w = 0; w < p->weeks; w++)
			json_array_append_new(cap,
					      json_integer(p->capacity[w]));
		ctext = json_dumps(cap, JSON_STORE);
		json_decref(cap);
		i64s(pid, p->products[0]);
		snprintf(weeks, sizeof(weeks), "%d", p->weeks);
		i64s(pack, s->pack_size0);
		pp[0] = run;
		pp[1] = pid;
		pp[2] = start;
		pp[3] = weeks;
		pp[4] = ctext;
		pp[5] = pack;
		/* The newer plan supersedes the current one, if any. */
		r = ctext ? db_command(db,
				       "UPDATE allocation_plan SET"
				       " superseded_at = now(),"
				       " superseded_by = $1::bigint"
				       " WHERE product_id = $2::bigint"
				       " AND superseded_at IS NULL",
				       2, pp, e) :
			    err_set(e, ERR_INTERNAL, "", "out of memory");
		if (r == 0)
			r = db_command(
				db,
				"INSERT INTO allocation_plan (run_id,"
				" product_id, start_date, weeks, capacity,"
				" pack_size) SELECT $1::bigint, $2::bigint,"
				" $3::date, $4::integer,"
				" ARRAY(SELECT jsonb_array_elements_text("
				"$5::jsonb)::bigint), $6::integer",
				6, pp, e);
		free(ctext);
		if (r < 0)
			goto out;
		rows = json_dumps(s->plan_rows, JSON_STORE);
		if (!rows) {
			err_set(e, ERR_INTERNAL, "", "out of memory");
			goto out;
		}
		pp[1] = rows;
		r = db_command(db,
			       "INSERT INTO allocation_plan_row (run_id,"
			       " region_code, week, week_start, quota_packs,"
			       " quota, planned_holding)"
			       " SELECT $1::bigint, x.region, x.week,"
			       " $3::date + 7 * (x.week - 1), x.quota_packs,"
			       " x.quota, x.planned_holding"
			       " FROM jsonb_to_recordset($2::jsonb) AS"
			       " x(region char(2), week integer, quota_packs"
			       " bigint, quota bigint, planned_holding bigint)",
			       3, pp, e);
		free(rows);
		if (r < 0)
			goto out;
	}
	rc = 0;
out:
	PQclear(q);
	free(ptext);
	free(rtext);
	free(stext);
	json_decref(params);
	json_decref(regions);
	json_decref(summary);
	return rc;
}

/* ---- runs ---- */

/* The lots of products (ids, an array literal): allocation_lot_inputs.
 * Their region comes from the site (load_sites). */
static const char lots_sql[] = "SELECT product_id, site_id, lot, expiry,"
			       " quantity FROM allocation_lot_inputs"
			       " WHERE product_id = ANY ($1::bigint[])";

/* Sort a product's few lots (v[0..n)) by lot_cmp: by insertion, which
 * beats qsort's calls for the dozen or two a product has. */
static void lots_sort(struct lot_in *v, size_t n)
{
	if (n > 32) {
		qsort(v, n, sizeof(*v), lot_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct lot_in x = v[i];
		size_t k = i;

		for (; k > 0 && lot_cmp(&v[k - 1], &x) > 0; k--)
			v[k] = v[k - 1];
		v[k] = x;
	}
}

/*
 * The lots of the gathered products, lots_sql's result q, into *lv,
 * sorted by lot_cmp; they borrow from q.  Placed by product first (a
 * counting sort on the product's place in g->ids: each lot's product is
 * found first and the products counted, then each lot is read into its
 * place), then each product's sorted: some 400,000 lots of a national
 * run in a fraction of what one qsort of them all took.
 */
static int load_lots(const struct gather *g, const PGresult *q,
		     struct lot_in **lv, size_t *n, struct err *e)
{
	struct lot_in *w = NULL;
	size_t *start = NULL, rows = (size_t)PQntuples(q);
	long *place = NULL;
	int rc = -1;

	w = malloc((rows ? rows : 1) * sizeof(*w));
	place = malloc((rows ? rows : 1) * sizeof(*place));
	start = calloc(g->nids + 1, sizeof(*start));
	if (!w || !place || !start) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < rows; i++) {
		int64_t id = db_int64(q, (int)i, 0);

		place[i] = product_index(g, id);
		if (place[i] < 0) {
			err_set(e, ERR_INTERNAL, "",
				"a lot of product %" PRId64
				", which the run does not have",
				id);
			goto out;
		}
		start[place[i] + 1]++;
	}
	for (size_t k = 0; k < g->nids; k++)
		start[k + 1] += start[k];
	for (size_t i = 0; i < rows; i++) {
		int64_t id = db_int64(q, (int)i, 1);
		long at = id_index_find(&g->site_at, id);
		const struct site_in *site = at < 0 ? NULL : &g->sites[at];
		struct lot_in *l = &w[start[place[i]]++];

		if (!site || site->region < 0) {
			err_set(e, ERR_INTERNAL, "",
				"a lot of site %" PRId64 ", of no region", id);
			goto out;
		}
		l->product_id = g->ids[place[i]];
		l->region = site->region;
		l->site_rank = site->rank;
		l->site_id = id;
		l->lot = db_text(q, (int)i, 2);
		l->expiry = PQgetisnull(q, (int)i, 3) ?
				    ALLOCATOR_NO_EXPIRY :
				    (int32_t)db_int64(q, (int)i, 3);
		l->quantity = db_int64(q, (int)i, 4);
	}
	/* start[k] is now where product k + 1's lots begin */
	for (size_t k = 0, from = 0; k < g->nids; k++) {
		lots_sort(w + from, start[k] - from);
		from = start[k];
	}
	*lv = w;
	*n = rows;
	w = NULL;
	rc = 0;
out:
	free(w);
	free(place);
	free(start);
	return rc;
}

static int run_as(struct db *db, const struct allocation_params *p,
		  const struct help_target *help, int64_t *run_id,
		  struct err *e)
{
	struct gather g = {.e = e};
	struct solved s = {0};
	struct product_in *pis = NULL;
	int64_t *ids = NULL;
	char *arr = NULL, start[16] = "";
	const char *params[2];
	PGresult *pq = NULL, *lq = NULL, *tq = NULL;
	struct lot_in *lv = NULL;
	struct rates_read rr = {0};
	struct err ignored = {0};
	size_t nlv = 0, l = 0;
	int32_t today;
	int rc = -1, loaded;
	bool copying = false; /* the products' COPY is open */
	struct rates_job rj;
	pthread_t rt;
	bool threaded;

	if (allocation_params_check(p, e) < 0)
		return -1;
	ids = malloc(p->nproducts * sizeof(*ids));
	if (!ids)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	memcpy(ids, p->products, p->nproducts * sizeof(*ids));
	qsort(ids, p->nproducts, sizeof(*ids), cmp_i64);
	g.ids = ids;
	g.nids = p->nproducts;
	for (size_t i = 1; i < g.nids; i++)
		if (ids[i] == ids[i - 1]) {
			err_set(e, ERR_INVALID, "product",
				"product id %" PRId64 " is named twice",
				ids[i]);
			goto out;
		}
	if (id_index_init(&g.product_at, g.nids) < 0) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < g.nids; i++)
		id_index_put(&g.product_at, ids[i], (long)i);
	arr = readiness_products_text(ids, g.nids);
	if (!arr) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	params[0] = arr;
	params[1] = p->start;
	tq = db_exec(db,
		     "SELECT lb_today() - DATE '1970-01-01',"
		     " coalesce($1::date, lb_today())::text",
		     1, params + 1, e);
	pq = tq ? db_exec(db,
			  "SELECT id, pack_size,"
			  " coalesce(vnr, npl_pack_id, gtin, 'id:' || id),"
			  " name FROM product WHERE id = ANY ($1::bigint[])"
			  " ORDER BY id",
			  1, params, e) :
		  NULL;
	if (!pq || load_regions(db, &g, e) < 0 || load_sites(db, &g, e) < 0)
		goto out;
	today = (int32_t)db_int64(tq, 0, 0);
	snprintf(start, sizeof(start), "%s", db_text(tq, 0, 1));
	if ((size_t)PQntuples(pq) != g.nids) {
		size_t k = 0;

		while (k < (size_t)PQntuples(pq) &&
		       db_int64(pq, (int)k, 0) == ids[k])
			k++;
		err_set(e, ERR_NOT_FOUND, "product",
			"product id %" PRId64 " does not exist", ids[k]);
		goto out;
	}
	pis = calloc(g.nids, sizeof(*pis));
	if (!pis) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < g.nids; i++) {
		pis[i].id = db_int64(pq, (int)i, 0);
		pis[i].pack_size = db_int64(pq, (int)i, 1);
		pis[i].key = db_text(pq, (int)i, 2);
		pis[i].name = db_text(pq, (int)i, 3);
	}
	g.rates = calloc(g.nids * g.nregions + 1, sizeof(*g.rates));
	if (!g.rates) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	/* Rates, floors and targets as readiness computes them; the
	 * database reads the lots while they are computed here. */
	if (gather_rates(db, &g, arr, p->window_days, &rr, e) < 0 ||
	    db_send(db, lots_sql, 1, params, e) < 0)
		goto out;
	/* The rates are computed by a second thread while this one takes
	 * the lots as the database sends them; the two touch different
	 * parts of g (rates; sites, read only). */
	rj = (struct rates_job){.g = &g, .rr = &rr};
	threaded = pthread_create(&rt, NULL, rates_job_run, &rj) == 0;
	if (!threaded)
		rates_job_run(&rj);
	lq = db_result(db, lots_sql, e);
	loaded = lq ? load_lots(&g, lq, &lv, &nlv, e) : -1;
	if (threaded)
		pthread_join(rt, NULL);
	if (rj.rc < 0) {
		*e = rj.e;
		goto out;
	}
	if (loaded < 0)
		goto out;
	/* The products' rows go to the database while the next ones are
	 * solved: it parses one piece while the next is made. */
	if (stage_begin(db, &product_staging, e) < 0)
		goto out;
	copying = true;
	buf_add(&s.prod, copy_header, sizeof(copy_header));
	s.plan_rows = json_array();
	for (size_t i = 0; i < g.nids; i++) {
		size_t l0;

		while (l < nlv && lv[l].product_id < pis[i].id)
			l++;
		l0 = l;
		while (l < nlv && lv[l].product_id == pis[i].id)
			l++;
		if (solve_product(p, &g, &pis[i], lv + l0, l - l0, today, help,
				  &s, e) < 0 ||
		    (s.prod.len >= STAGE_PIECE &&
		     stage_put(db, &s.prod, e) < 0))
			goto out;
	}
	buf_add(&s.prod, copy_trailer, sizeof(copy_trailer));
	if (stage_put(db, &s.prod, e) < 0)
		goto out;
	copying = false;
	if (db_copy_end(db, product_staging.copy, false, e) < 0)
		goto out;
	rc = store_run(db, p, help, &g, &s, start, run_id, e);
out:
	if (copying)
		db_copy_end(db, product_staging.copy, true, &ignored);
	free(s.prod.p);
	free(s.pack.p);
	json_decref(s.plan_rows);
	free(lv);
	PQclear(lq);
	PQclear(rr.tq);
	PQclear(rr.rq);
	PQclear(pq);
	PQclear(tq);
	free(pis);
	free(g.rates);
	free(g.sites);
	free(g.site_at.slot);
	free(g.product_at.slot);
	free(arr);
	free(ids);
	return rc;
}

int allocation_run(struct db *db, const struct identity *who,
		   const struct allocation_params *p, int64_t *run_id,
		   struct err *e)
{
	*run_id = 0;
	if (who->role != ROLE_COORDINATOR && who->role != ROLE_SYSTEM)
		return forbid(e,
			      "a %s does not run the allocator: coordinators "
			      "do (a region asks with a help request)",
			      auth_role_name(who->role));
	return run_as(db, p, NULL, run_id, e);
}

int allocation_get(struct db *db, const struct identity *who, int64_t run_id,
		   const struct allocation_page *pg, json_t **out,
		   struct err *e)
{
	char id[I64_LEN], pid[I64_LEN], after[I64_LEN], lim[I64_LEN];
	const char *params[5] = {id, NULL, NULL, lim, NULL};
	struct allocation_page def = {.limit = ALLOCATION_PAGE_DEFAULT};

	*out = NULL;
	if (may_read(who, e) < 0)
		return -1;
	if (!pg)
		pg = &def;
	if (pg->limit < 1 || pg->limit > ALLOCATION_PAGE_MAX)
		return err_set(e, ERR_INVALID, "limit",
			       "limit %ld: 1 to %d products a page", pg->limit,
			       ALLOCATION_PAGE_MAX);
	i64s(id, run_id);
	i64s(pid, pg->product_id);
	i64s(after, pg->after);
	i64s(lim, pg->limit);
	params[1] = pg->product_id ? pid : NULL;
	params[2] = pg->after ? after : NULL;
	params[4] = pg->brief ? "true" : "false";
	/* The header and a summary of the whole run, then one page of its
	 * products (keyset: ids above after) with their proposals; next is
	 * the cursor of the following page.  A region-scoped caller sees the
	 * region-level inputs of every region (the shared picture) but only
	 * its own lots and proposals. */
	if (query_json(
		    db,
		    "WITH pg AS (SELECT rp.product_id"
		    "  FROM allocation_run_product rp"
		    "  WHERE rp.run_id = $1::bigint"
		    "  AND ($2::bigint IS NULL OR rp.product_id = $2)"
		    "  AND ($3::bigint IS NULL OR rp.product_id > $3)"
		    "  ORDER BY rp.product_id LIMIT $4::bigint + 1),"
		    " shown AS (SELECT product_id FROM pg"
		    "  ORDER BY product_id LIMIT $4::bigint)"
		    " SELECT jsonb_build_object('id', r.id,"
		    " 'problem', r.problem, 'params', r.params,"
		    " 'algorithm_version', r.algorithm_version,"
		    " 'help_request', CASE WHEN r.help_request_id IS NOT NULL"
		    "  THEN jsonb_build_object('region', r.help_region,"
		    "  'id', r.help_request_id) END,"
		    " 'created_by', r.created_by, 'created_role', r.created_role,"
		    " 'created_at', r.created_at, 'regions', r.regions,"
		    " 'summary', r.summary,"
		    " 'products', coalesce((SELECT jsonb_agg("
		    "  CASE WHEN $5::boolean THEN jsonb_build_object("
		    "  'product_id', rp.product_id, 'product', coalesce(p.vnr,"
		    "  p.npl_pack_id, p.gtin), 'product_name', p.name,"
		    "  'level', rp.level, 'result', rp.result)"
		    "  ELSE allocation_product_json(r, rp) END"
		    "  ORDER BY rp.product_id)"
		    "  FROM allocation_run_product rp"
		    "  JOIN product p ON p.id = rp.product_id"
		    "  WHERE rp.run_id = r.id"
		    "  AND rp.product_id IN (SELECT product_id FROM shown)),"
		    "  '[]'),"
		    " 'next', CASE WHEN (SELECT count(*) FROM pg) > $4::bigint"
		    "  THEN (SELECT max(product_id) FROM shown) END,"
		    " 'proposals', CASE WHEN NOT $5::boolean THEN"
		    "  coalesce((SELECT jsonb_agg(to_jsonb(d)"
		    "  ORDER BY d.id) FROM proposal_detail d"
		    "  WHERE d.run_id = r.id"
		    "  AND d.product_id = ANY (ARRAY(SELECT product_id"
		    "   FROM shown))),"
		    "  '[]') END,"
		    " 'plan', (SELECT jsonb_build_object('start', pl.start_date,"
		    "  'weeks', pl.weeks, 'capacity', to_jsonb(pl.capacity),"
		    "  'pack_size', pl.pack_size, 'current',"
		    "  pl.superseded_at IS NULL, 'superseded_at',"
		    "  pl.superseded_at, 'superseded_by', pl.superseded_by,"
		    "  'rows', coalesce((SELECT jsonb_agg(jsonb_build_object("
		    "   'region', x.region_code, 'week', x.week, 'week_start',"
		    "   x.week_start, 'packs', x.quota_packs, 'quantity',"
		    "   x.quota, 'planned_holding', x.planned_holding)"
		    "   ORDER BY x.region_code, x.week)"
		    "   FROM allocation_plan_row x WHERE x.run_id = pl.run_id),"
		    "   '[]'))"
		    "  FROM allocation_plan pl WHERE pl.run_id = r.id))"
		    " FROM allocation_run r WHERE r.id = $1::bigint",
		    5, params, out, e) < 0)
		return -1;
	if (!*out)
		return err_set(e, ERR_NOT_FOUND, "id",
			       "run %" PRId64 ": no such allocator run",
			       run_id);
	if (pg->brief)
		json_object_del(*out, "proposals");
	return 0;
}

int allocation_list(struct db *db, const struct identity *who,
		    const char *problem, int64_t product_id, long limit,
		    json_t **out, struct err *e)
{
	char pid[I64_LEN], lim[I64_LEN];
	const char *params[3] = {problem, product_id ? pid : NULL, lim};
	enum allocation_problem pr;

	*out = NULL;
	if (may_read(who, e) < 0 ||
	    (problem &&
	     allocation_problem_parse(problem, &pr, "problem", e) < 0))
		return -1;
	i64s(pid, product_id);
	i64s(lim, limit);
	if (query_json(
		    db,
		    "SELECT coalesce(jsonb_agg(x ORDER BY x.id DESC), '[]')"
		    " FROM (SELECT r.id, r.problem, r.algorithm_version,"
		    "  r.help_region, r.help_request_id, r.created_by,"
		    "  r.created_role, r.created_at, r.summary,"
		    "  CASE WHEN jsonb_array_length(r.params->'products') > 20"
		    "   THEN r.params - 'products' ELSE r.params END AS params,"
		    "  (SELECT jsonb_agg(jsonb_build_object('product_id',"
		    "   rp.product_id, 'product', coalesce(p.vnr, p.npl_pack_id,"
		    "   p.gtin), 'product_name', p.name, 'level', rp.level)"
		    "   ORDER BY rp.product_id) FROM (SELECT * FROM"
		    "   allocation_run_product rp WHERE rp.run_id = r.id"
		    "   ORDER BY rp.product_id LIMIT 20) rp"
		    "   JOIN product p ON p.id = rp.product_id) AS products,"
		    "  allocation_run_proposals(r.id) AS proposals"
		    "  FROM allocation_run r"
		    "  WHERE ($1::allocation_problem IS NULL OR r.problem = $1)"
		    "  AND ($2::bigint IS NULL OR EXISTS (SELECT 1"
		    "   FROM allocation_run_product rp WHERE rp.run_id = r.id"
		    "   AND rp.product_id = $2))"
		    "  ORDER BY r.id DESC LIMIT $3::bigint) x",
		    3, params, out, e) < 0)
		return -1;
	return *out ? 0 : err_set(e, ERR_INTERNAL, "", "no run list");
}

/* ---- help requests ---- */

int allocation_help_create(struct db *db, const struct identity *who,
			   const struct allocation_help *h, bool run,
			   int64_t *id, int64_t *run_id, struct err *e)
{
	char pid[I64_LEN], qty[I64_LEN], days[16];
	const char *params[6];
	PGresult *q = NULL;
	int rc = -1;

	*id = *run_id = 0;
	if (allocation_help_check(h, e) < 0)
		return -1;
	if (!(who->role == ROLE_COORDINATOR || who->role == ROLE_SYSTEM ||
	      (regional(who) && strcmp(who->region, h->region) == 0)))
		return forbid(e,
			      "region %s: a help request comes from the "
			      "region's own contact person, or a coordinator "
			      "on its word, not a %s%s%s",
			      h->region, auth_role_name(who->role),
			      who->region[0] ? " of region " : "", who->region);
	if (h->days)
		readiness_days_parse(h->days, false, days, "days", e);
	i64s(pid, h->product_id);
	i64s(qty, h->quantity);
	params[0] = h->region;
	params[1] = pid;
	params[2] = h->days ? NULL : qty;
	params[3] = h->days ? days : NULL;
	params[4] = h->urgency ? h->urgency : "routine";
	params[5] = h->reason;
	q = db_exec(db,
		    "INSERT INTO help_request (region_code, product_id,"
		    " quantity, days, urgency, reason)"
		    " VALUES ($1, $2::bigint, $3::bigint, $4::numeric,"
		    " $5::help_urgency, $6) RETURNING id",
		    6, params, e);
	if (!q) {
		if (db_failed_with(db, "23503"))
			err_set(e, ERR_NOT_FOUND, "product",
				"product id %" PRId64 " does not exist",
				h->product_id);
		goto out;
	}
	*id = db_int64(q, 0, 0);
	if (run) {
		struct allocation_params p;
		struct help_target t = {.region = h->region,
					.id = *id,
					.quantity = h->quantity,
					.days = h->days ? strtod(days, NULL) :
							  0};

		allocation_params_default(&p, ALLOCATION_SHARE);
		p.products = &h->product_id;
		p.nproducts = 1;
		if (run_as(db, &p, &t, run_id, e) < 0)
			goto out;
	}
	rc = 0;
out:
	PQclear(q);
	return rc;
}

/* The region and status of help request id; ERR_NOT_FOUND. */
static int help_lookup(struct db *db, int64_t id, char region[3],
		       char status[16], struct err *e)
{
	char s[I64_LEN];
	const char *params[1] = {s};
	PGresult *q;

	i64s(s, id);
	q = db_exec(db,
		    "SELECT region_code, status FROM help_request"
		    " WHERE region_code = ANY (ARRAY(SELECT code FROM region))"
		    " AND id = $1::bigint",
		    1, params, e);
	if (!q)
		return -1;
	if (PQntuples(q) == 0) {
		PQclear(q);
		return err_set(e, ERR_NOT_FOUND, "id",
			       "help request %" PRId64 ": no such request", id);
	}
	snprintf(region, 3, "%s", db_text(q, 0, 0));
	snprintf(status, 16, "%s", db_text(q, 0, 1));
	PQclear(q);
	return 0;
}

int allocation_help_close(struct db *db, const struct identity *who, int64_t id,
			  const char *status, const char *reason, struct err *e)
{
	char region[3], cur[16], s[I64_LEN];
	const char *params[4];
	PGresult *q;
	bool own;

	if (!status || strcmp(status, "open") == 0 ||
	    !one_of(status, help_statuses, NELEM(help_statuses)))
		return err_set(e, ERR_INVALID, "status",
			       "status \"%.40s\": not one of fulfilled, "
			       "closed, withdrawn",
			       status ? status : "");
	if (check_reason(reason, true, e) < 0 || may_read(who, e) < 0)
		return -1;
	if (help_lookup(db, id, region, cur, e) < 0)
		return -1;
	own = regional(who) && strcmp(who->region, region) == 0;
	if (!own && who->role != ROLE_COORDINATOR && who->role != ROLE_SYSTEM)
		return forbid(e,
			      "help request %" PRId64 " is region %s's: its "
			      "contact persons or a coordinator close it",
			      id, region);
	if (strcmp(status, "withdrawn") == 0 && !own &&
	    who->role != ROLE_SYSTEM)
		return forbid(e,
			      "help request %" PRId64 ": only region %s "
			      "withdraws its own request; a coordinator "
			      "closes it",
			      id, region);
	if (strcmp(cur, "open") != 0)
		return err_set(e, ERR_CONFLICT, "status",
			       "help request %" PRId64 " is already %s", id,
			       cur);
	i64s(s, id);
	params[0] = region;
	params[1] = s;
	params[2] = status;
	params[3] = reason;
	q = db_exec(db,
		    "UPDATE help_request SET status = $3::help_status,"
		    " close_reason = $4 WHERE region_code = $1"
		    " AND id = $2::bigint AND status = 'open' RETURNING id",
		    4, params, e);
	if (!q)
		return -1;
	if (PQntuples(q) == 0) {
		PQclear(q);
		return err_set(e, ERR_CONFLICT, "status",
			       "help request %" PRId64 " is no longer open",
			       id);
	}
	PQclear(q);
	return 0;
}

/* The columns a help request is shown with; h is help_request. */
#define HELP_JSON                                                            \
	"jsonb_build_object('id', h.id, 'region', h.region_code,"            \
	" 'region_name', g.name, 'product_id', h.product_id,"                \
	" 'product', coalesce(p.vnr, p.npl_pack_id, p.gtin),"                \
	" 'product_name', p.name, 'base_unit', p.base_unit,"                 \
	" 'pack_size', p.pack_size, 'quantity', h.quantity,"                 \
	" 'days', h.days, 'urgency', h.urgency, 'reason', h.reason,"         \
	" 'status', h.status, 'in_disaster',"                                \
	" allocation_in_disaster(h.region_code), 'created_by',"              \
	" h.created_by, 'created_role', h.created_role, 'created_at',"       \
	" h.created_at, 'closed_by', h.closed_by, 'closed_at', h.closed_at," \
	" 'close_reason', h.close_reason)"

int allocation_help_get(struct db *db, const struct identity *who, int64_t id,
			json_t **out, struct err *e)
{
	char s[I64_LEN];
	const char *params[1] = {s};

	*out = NULL;
	if (may_read(who, e) < 0)
		return -1;
	i64s(s, id);
	if (query_json(db,
		       "SELECT " HELP_JSON
		       " || jsonb_build_object('runs', coalesce((SELECT"
		       "  jsonb_agg(jsonb_build_object('id', r.id,"
		       "  'created_at', r.created_at, 'level', rp.level,"
		       "  'result', allocation_product_json(r, rp)->'result')"
		       "  ORDER BY r.id)"
		       "  FROM allocation_run r JOIN allocation_run_product rp"
		       "  ON rp.run_id = r.id WHERE r.help_region ="
		       "  h.region_code AND r.help_request_id = h.id), '[]'),"
		       " 'proposals', coalesce((SELECT jsonb_agg(to_jsonb(d)"
		       "  ORDER BY d.id) FROM allocation_run r"
		       "  JOIN allocation_run_product rp ON rp.run_id = r.id"
		       "  CROSS JOIN LATERAL (SELECT d.* FROM proposal_detail d"
		       "   WHERE d.run_id = rp.run_id"
		       "   AND d.product_id = rp.product_id OFFSET 0) d"
		       "  WHERE r.help_region = h.region_code"
		       "  AND r.help_request_id = h.id), '[]'))"
		       " FROM help_request h"
		       " JOIN region g ON g.code = h.region_code"
		       " JOIN product p ON p.id = h.product_id"
		       " WHERE h.region_code = ANY (ARRAY(SELECT code"
		       "  FROM region)) AND h.id = $1::bigint",
		       1, params, out, e) < 0)
		return -1;
	if (!*out)
		return err_set(e, ERR_NOT_FOUND, "id",
			       "help request %" PRId64 ": no such request", id);
	return 0;
}

int allocation_help_list(struct db *db, const struct identity *who,
			 const char *status, const char *region,
			 int64_t product_id, long limit, json_t **out,
			 struct err *e)
{
	char pid[I64_LEN], lim[I64_LEN];
	const char *params[4] = {status, region, product_id ? pid : NULL, lim};

	*out = NULL;
	if (may_read(who, e) < 0)
		return -1;
	if (status && !one_of(status, help_statuses, NELEM(help_statuses)))
		return err_set(e, ERR_INVALID, "status",
			       "status \"%.40s\": not one of open, fulfilled, "
			       "closed, withdrawn",
			       status);
	if (region && validate_region_code(region, "region", e) < 0)
		return -1;
	i64s(pid, product_id);
	i64s(lim, limit);
	if (query_json(db,
		       "SELECT coalesce(jsonb_agg(x.j ORDER BY x.id DESC),"
		       " '[]') FROM (SELECT h.id, " HELP_JSON " AS j"
		       "  FROM help_request h"
		       "  JOIN region g ON g.code = h.region_code"
		       "  JOIN product p ON p.id = h.product_id"
		       "  WHERE ($1::help_status IS NULL OR h.status = $1)"
		       "  AND ($2::char(2) IS NULL OR h.region_code = $2)"
		       "  AND ($3::bigint IS NULL OR h.product_id = $3)"
		       "  ORDER BY h.id DESC LIMIT $4::bigint) x",
		       4, params, out, e) < 0)
		return -1;
	return *out ? 0 : err_set(e, ERR_INTERNAL, "", "no help list");
}

/* ---- proposals ---- */

/*
 * The idempotency key of a proposal's ledger step: a name-based UUID
 * (version 5 layout, SHA-256 truncated) of proposal and step, the same for
 * every retry and different from any other event's random key.
 */
static void step_key(const char *region, int64_t id, const char *step,
		     char out[37])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char name[96];
	uuid_t u;

	snprintf(name, sizeof(name), "lagerbild/proposal/%s/%" PRId64 "/%s",
		 region, id, step);
	crypto_hash_sha256(h, (const unsigned char *)name, strlen(name));
	memcpy(u, h, sizeof(u));
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x50);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	uuid_unparse_lower(u, out);
}

/* A proposal as locked for a step. */
struct locked {
	char from[3], to[3], status[16], ship_status[16];
	int64_t product_id, from_site, to_site, quantity;
	int64_t shipped, received;
	bool obligatory, disaster, has_shipment;
	char lot[65], expiry[16];
	bool expired;		   /* the lot's expiry has passed */
	char quarantined[64];	   /* an open quarantine's date, or "" */
	char quarantine_why[1001]; /* and its reason */
};

/* The one row sql answers (n params) of proposal id; NULL with e set,
 * ERR_NOT_FOUND when it answers none. */
static PGresult *proposal_row(struct db *db, const char *sql, int n,
			      const char *const *params, int64_t id,
			      struct err *e)
{
	PGresult *q = db_exec(db, sql, n, params, e);

	if (q && PQntuples(q) != 1) {
		PQclear(q);
		err_set(e, ERR_NOT_FOUND, "id",
			"proposal %" PRId64 ": no such proposal", id);
		return NULL;
	}
	return q;
}

static int lock_proposal(struct db *db, const char *from, int64_t id,
			 struct locked *l, struct err *e)
{
	char s[I64_LEN];
	const char *params[2] = {from, s};
	PGresult *q;

	i64s(s, id);
	/* A proposal is stored packed with its run's product until a step
	 * is first taken on it: then as a row of its own (sql/020). */
	if (db_command(db, "SELECT allocation_proposal_materialize($1::bigint)",
		       1, &params[1], e) < 0)
		return -1;
	q = proposal_row(
		db,
		"SELECT p.from_region, p.to_region, p.status,"
		" p.product_id, p.from_site_id, p.to_site_id, p.quantity,"
		" p.obligatory, allocation_in_disaster(p.to_region),"
		" p.lot, coalesce(p.expiry::text, ''), s.status,"
		" s.quantity, s.received_quantity,"
		" coalesce(p.expiry < lb_today(), false),"
		" (q.since AT TIME ZONE 'Europe/Stockholm')::date::text, q.reason"
		" FROM proposal p LEFT JOIN shipment s"
		"  ON s.from_region = p.from_region AND s.proposal_id = p.id"
		" LEFT JOIN lot_quarantine q"
		"  ON q.region_code = p.from_region"
		"  AND q.site_id = p.from_site_id"
		"  AND q.product_id = p.product_id AND q.lot = p.lot"
		"  AND q.released_at IS NULL"
		" WHERE p.from_region = $1 AND p.id = $2::bigint"
		" FOR UPDATE OF p",
		2, params, id, e);
	if (!q)
		return -1;
	memset(l, 0, sizeof(*l));
	snprintf(l->from, sizeof(l->from), "%s", db_text(q, 0, 0));
	snprintf(l->to, sizeof(l->to), "%s", db_text(q, 0, 1));
	snprintf(l->status, sizeof(l->status), "%s", db_text(q, 0, 2));
	l->product_id = db_int64(q, 0, 3);
	l->from_site = db_int64(q, 0, 4);
	l->to_site = db_int64(q, 0, 5);
	l->quantity = db_int64(q, 0, 6);
	l->obligatory = db_text(q, 0, 7)[0] == 't';
	l->disaster = db_text(q, 0, 8)[0] == 't';
	snprintf(l->lot, sizeof(l->lot), "%s", db_text(q, 0, 9));
	snprintf(l->expiry, sizeof(l->expiry), "%s", db_text(q, 0, 10));
	l->has_shipment = !PQgetisnull(q, 0, 11);
	snprintf(l->ship_status, sizeof(l->ship_status), "%s",
		 db_text(q, 0, 11));
	l->shipped = db_int64(q, 0, 12);
	l->received = db_int64(q, 0, 13);
	l->expired = db_text(q, 0, 14)[0] == 't';
	snprintf(l->quarantined, sizeof(l->quarantined), "%s",
		 db_text(q, 0, 15));
	snprintf(l->quarantine_why, sizeof(l->quarantine_why), "%s",
		 db_text(q, 0, 16));
	PQclear(q);
	return 0;
}

/*
 * May the proposal's lot still go (approving or shipping: doing)?  Not
 * once it is quarantined at the giving site or past its expiry: the run
 * chose it when neither was so.  ERR_CONFLICT saying which, and that the
 * proposal is declined or cancelled instead.
 */
static int lot_may_go(const struct locked *l, int64_t id, const char *doing,
		      struct err *e)
{
	if (l->quarantined[0])
		return err_set(e, ERR_CONFLICT, "lot",
			       "proposal %" PRId64 ": lot %s is quarantined "
			       "at the giving site since %s (%s), so it is "
			       "not %s; decline or cancel the proposal",
			       id, l->lot[0] ? l->lot : "(none)",
			       l->quarantined, l->quarantine_why, doing);
	if (l->expired)
		return err_set(e, ERR_CONFLICT, "lot",
			       "proposal %" PRId64 ": lot %s expired on %s, "
			       "so it is not %s; decline or cancel the "
			       "proposal",
			       id, l->lot[0] ? l->lot : "(none)", l->expiry,
			       doing);
	return 0;
}

/*
 * Is there room to approve proposal id (l), with what the giving region
 * has approved to go in other proposals counted out?  The lot must still
 * hold its quantity and the region keep its run's floor (sql/024): runs
 * do not see each other's approvals, so two may propose the same units.
 * ERR_CONFLICT saying which; the lock on (region, product) lasts the
 * transaction, so approvals of one product by one region go one by one.
 */
static int approval_room(struct db *db, const struct locked *l, int64_t id,
			 struct err *e)
{
	char s[I64_LEN], pid[I64_LEN];
	const char *params[2] = {l->from, pid};
	int64_t lot, lot_taken, stock, taken, floor;
	PGresult *q;

	i64s(s, id);
	i64s(pid, l->product_id);
	if (db_command(db,
		       "SELECT pg_advisory_xact_lock(hashtextextended("
		       "'lagerbild/approve/' || $1 || '/' || $2, 0))",
		       2, params, e) < 0)
		return -1;
	params[1] = s;
	q = proposal_row(db,
			 "SELECT lot_balance, lot_promised, region_stock,"
			 " region_promised, floor_units"
			 " FROM allocation_approval_room($1, $2::bigint)",
			 2, params, id, e);
	if (!q)
		return -1;
	lot = db_int64(q, 0, 0);
	lot_taken = db_int64(q, 0, 1);
	stock = db_int64(q, 0, 2);
	taken = db_int64(q, 0, 3);
	floor = db_int64(q, 0, 4);
	PQclear(q);
	if (l->quantity > lot - lot_taken)
		return err_set(e, ERR_CONFLICT, "quantity",
			       "proposal %" PRId64 ": lot %s at the giving "
			       "site holds %" PRId64 ", of which %" PRId64
			       " is approved to go in other proposals: the "
			       "%" PRId64 " proposed do not fit; decline or "
			       "cancel it",
			       id, l->lot[0] ? l->lot : "(none)", lot,
			       lot_taken, l->quantity);
	if (stock - taken - l->quantity < floor)
		return err_set(e, ERR_CONFLICT, "quantity",
			       "proposal %" PRId64 ": region %s holds %" PRId64
			       " and has approved %" PRId64 " to go in other "
			       "proposals; %" PRId64
			       " more would leave %" PRId64
			       ", under its floor of %" PRId64
			       "; decline or cancel it",
			       id, l->from, stock, taken, l->quantity,
			       stock - taken - l->quantity, floor);
	return 0;
}

/* Set the proposal's status (and obligatory, and the step's reason). */
static int set_status(struct db *db, const struct locked *l, int64_t id,
		      const char *status, bool obligatory, const char *reason,
		      struct err *e)
{
	char s[I64_LEN];
	const char *params[5] = {l->from, s, status,
				 obligatory ? "true" : "false", reason};

	i64s(s, id);
	return db_command(db,
			  "UPDATE proposal SET status = $3::proposal_status,"
			  " obligatory = obligatory OR $4::boolean,"
			  " status_reason = $5"
			  " WHERE from_region = $1 AND id = $2::bigint",
			  5, params, e);
}

/* One ledger event of a proposal's step, in the caller's transaction. */
static int ledger_step(struct db *db, const struct identity *who,
		       const struct locked *l, int64_t id, const char *step,
		       enum ledger_kind kind, int64_t site, int64_t qty,
		       const char *reason, int64_t *event_id, struct err *e)
{
	struct ledger_event ev = {0};
	struct ledger_result r;
	char key[37];

	step_key(l->from, id, step, key);
	ev.kind = kind;
	ev.site_id = site;
	ev.product_id = l->product_id;
	ev.quantity = qty;
	ev.lot = l->lot;
	/* The receiver learns the lot's expiry with the goods. */
	ev.expiry =
		kind == LEDGER_TRANSFER_IN && l->expiry[0] ? l->expiry : NULL;
	ev.reason = reason;
	ev.key = key;
	ev.source = "allocation";
	ev.actor = who->username[0] ? who->username : "allocation";
	if (ledger_record_batch(db, &ev, 1, &r, e) < 0)
		return err_prefix(e, "proposal %" PRId64 ", %s: ", id, step);
	*event_id = r.event_id;
	return 0;
}

/* Who may take step a of a proposal between from and to? */
static int may_act(const struct identity *who, enum allocation_action a,
		   int64_t id, const char *from, const char *to, struct err *e)
{
	const bool giver = regional(who) && strcmp(who->region, from) == 0;
	const bool receiver = regional(who) && strcmp(who->region, to) == 0;

	if (who->role == ROLE_SYSTEM)
		return 0;
	switch (a) {
	case ALLOCATION_RECEIVE:
		if (receiver)
			return 0;
		return forbid(e,
			      "proposal %" PRId64 ": region %s's contact "
			      "person receives it, not a %s%s%s",
			      id, to, auth_role_name(who->role),
			      who->region[0] ? " of region " : "", who->region);
	case ALLOCATION_CANCEL:
		if (giver || who->role == ROLE_COORDINATOR)
			return 0;
		return forbid(
			e,
			"proposal %" PRId64 ": region %s's contact "
			"person or a coordinator cancels it, not a %s%s%s",
			id, from, auth_role_name(who->role),
			who->region[0] ? " of region " : "", who->region);
	default:
		if (giver)
			return 0;
		if (who->role == ROLE_COORDINATOR)
			return forbid(e,
				      "proposal %" PRId64 ": coordinators see "
				      "every proposal but do not decide for a "
				      "region; region %s's contact person "
				      "does (%s)",
				      id, from, allocation_action_name(a));
		return forbid(e,
			      "proposal %" PRId64 ": the giving region %s's "
			      "contact person does this (%s), not a %s%s%s",
			      id, from, allocation_action_name(a),
			      auth_role_name(who->role),
			      who->region[0] ? " of region " : "", who->region);
	}
}

/* The regions of proposal id whoever asks; ERR_NOT_FOUND. */
static int parties(struct db *db, int64_t id, char from[3], char to[3],
		   struct err *e)
{
	char s[I64_LEN];
	const char *params[1] = {s};
	PGresult *q;

	i64s(s, id);
	q = proposal_row(db,
			 "SELECT from_region, to_region"
			 " FROM lb_proposal_parties($1::bigint)",
			 1, params, id, e);
	if (!q)
		return -1;
	snprintf(from, 3, "%s", db_text(q, 0, 0));
	snprintf(to, 3, "%s", db_text(q, 0, 1));
	PQclear(q);
	return 0;
}

static int conflict(struct err *e, int64_t id, const char *status,
		    const char *what)
{
	return err_set(e, ERR_CONFLICT, "status",
		       "proposal %" PRId64 " is %s: %s", id, status, what);
}

/*
 * ERR_INVALID: declining or cancelling (doing) obligatory proposal id
 * needs a reason; alerts: whether it alerts national coordination.
 */
static int reason_needed(const struct locked *l, int64_t id, const char *doing,
			 bool alerts, struct err *e)
{
	return err_set(e, ERR_INVALID, "reason",
		       "reason: missing; region %s is in disaster state "
		       "(katastroftillstånd), so %s proposal %" PRId64
		       " needs a reason%s",
		       l->to, doing, id,
		       alerts ? " and alerts national coordination" : "");
}

static bool status_is(const struct locked *l, const char *s)
{
	return strcmp(l->status, s) == 0;
}

static int do_receive(struct db *db, const struct identity *who,
		      const struct locked *l, int64_t id,
		      const struct allocation_act *a, bool *replayed,
		      struct err *e)
{
	int64_t qty = a->quantity < 0 ? l->shipped : a->quantity;
	int64_t site = l->to_site, ev = 0;
	char s[I64_LEN], q[I64_LEN], st[I64_LEN], evs[I64_LEN];
	const char *params[6];
	struct site_ref ref;

	if (status_is(l, "received")) {
		if (qty == l->received) {
			*replayed = true;
			return 0;
		}
		return err_set(e, ERR_CONFLICT, "quantity",
			       "proposal %" PRId64 " was already received "
			       "with %" PRId64 " of %" PRId64,
			       id, l->received, l->shipped);
	}
	if (!status_is(l, "shipped"))
		return conflict(e, id, l->status,
				status_is(l, "returned") ?
					"it went back to the giver" :
					"only what was shipped is received");
	if (qty > l->shipped)
		return err_set(e, ERR_INVALID, "quantity",
			       "quantity %" PRId64 ": %" PRId64
			       " were shipped; more cannot arrive",
			       qty, l->shipped);
	if (qty < l->shipped && !a->reason)
		return err_set(e, ERR_INVALID, "reason",
			       "reason: missing; a short receipt (%" PRId64
			       " of %" PRId64 ") says what happened",
			       qty, l->shipped);
	if (a->site) {
		if (catalog_find_site(db, a->site, &ref, e) < 0) {
			if (e->code == ERR_NOT_FOUND)
				e->code = ERR_INVALID;
			return -1;
		}
		if (strcmp(ref.region_code, l->to) != 0)
			return err_set(e, ERR_INVALID, "site",
				       "site %s belongs to region %s, not to "
				       "the receiving region %s",
				       a->site, ref.region_code, l->to);
		site = ref.id;
	}
	if (site == 0)
		return err_set(e, ERR_INVALID, "site",
			       "site: region %s has no active site to "
			       "receive at; name one",
			       l->to);
	if (qty > 0 &&
	    ledger_step(db, who, l, id, "transfer_in", LEDGER_TRANSFER_IN, site,
			qty, NULL, &ev, e) < 0)
		return -1;
	i64s(s, id);
	i64s(q, qty);
	i64s(st, site);
	i64s(evs, ev);
	params[0] = l->from;
	params[1] = s;
	params[2] = q;
	params[3] = st;
	params[4] = ev ? evs : NULL;
	params[5] = a->reason;
	if (db_command(db,
		       "UPDATE shipment SET status = 'received',"
		       " received_quantity = $3::bigint,"
		       " to_site_id = $4::bigint, in_event_id = $5::bigint,"
		       " note = $6"
		       " WHERE from_region = $1 AND proposal_id = $2::bigint",
		       6, params, e) < 0 ||
	    set_status(db, l, id, "received", false, a->reason, e) < 0)
		return -1;
	/* A receipt may clear an obligatory decline's alert. */
	return db_command(db, "SELECT allocation_obligatory_resolve()", 0, NULL,
			  e);
}

static int do_ship(struct db *db, const struct identity *who,
		   const struct locked *l, int64_t id, bool *replayed,
		   struct err *e)
{
	char s[I64_LEN], q[I64_LEN], p[I64_LEN], evs[I64_LEN];
	const char *params[6];
	int64_t ev;

	if (status_is(l, "shipped") || status_is(l, "received") ||
	    status_is(l, "returned")) {
		*replayed = true;
		return 0;
	}
	if (!status_is(l, "approved"))
		return conflict(e, id, l->status,
				status_is(l, "proposed") ?
					"it is approved before it ships" :
					"it does not ship");
	if (lot_may_go(l, id, "shipped", e) < 0)
		return -1;
	if (ledger_step(db, who, l, id, "transfer_out", LEDGER_TRANSFER_OUT,
			l->from_site, l->quantity, NULL, &ev, e) < 0)
		return -1;
	i64s(s, id);
	i64s(q, l->quantity);
	i64s(p, l->product_id);
	i64s(evs, ev);
	params[0] = l->from;
	params[1] = s;
	params[2] = p;
	params[3] = l->to;
	params[4] = q;
	params[5] = evs;
	if (db_command(db,
		       "INSERT INTO shipment (from_region, proposal_id,"
		       " product_id, to_region, quantity, out_event_id)"
		       " VALUES ($1, $2::bigint, $3::bigint, $4, $5::bigint,"
		       " $6::bigint)",
		       6, params, e) < 0)
		return -1;
	return set_status(db, l, id, "shipped", false, NULL, e);
}

static int do_return(struct db *db, const struct identity *who,
		     const struct locked *l, int64_t id, const char *reason,
		     bool *replayed, struct err *e)
{
	char s[I64_LEN], evs[I64_LEN];
	const char *params[4];
	int64_t ev;

	if (status_is(l, "returned")) {
		*replayed = true;
		return 0;
	}
	if (!status_is(l, "shipped"))
		return conflict(e, id, l->status,
				status_is(l, "received") ?
					"what was received is sent back as a "
					"transfer of its own" :
					"only what was shipped comes back");
	if (ledger_step(db, who, l, id, "return", LEDGER_TRANSFER_IN,
			l->from_site, l->shipped, NULL, &ev, e) < 0)
		return -1;
	i64s(s, id);
	i64s(evs, ev);
	params[0] = l->from;
	params[1] = s;
	params[2] = evs;
	params[3] = reason;
	if (db_command(db,
		       "UPDATE shipment SET status = 'returned',"
		       " return_event_id = $3::bigint, note = $4"
		       " WHERE from_region = $1 AND proposal_id = $2::bigint",
		       4, params, e) < 0)
		return -1;
	return set_status(db, l, id, "returned", false, reason, e);
}

int allocation_proposal_act(struct db *db, const struct identity *who,
			    int64_t id, const struct allocation_act *a,
			    bool *replayed, struct err *e)
{
	char from[3], to[3];
	struct locked l;

	*replayed = false;
	if (allocation_act_check(a, e) < 0 || may_read(who, e) < 0)
		return -1;
	if (who->role == ROLE_VIEWER || who->role == ROLE_ADMIN)
		return forbid(e,
			      "a %s does not decide or move proposals: the "
			      "regions do",
			      auth_role_name(who->role));
	if (parties(db, id, from, to, e) < 0 ||
	    may_act(who, a->action, id, from, to, e) < 0 ||
	    lock_proposal(db, from, id, &l, e) < 0)
		return -1;
	switch (a->action) {
	case ALLOCATION_APPROVE:
		if (status_is(&l, "approved") || status_is(&l, "shipped") ||
		    status_is(&l, "received") || status_is(&l, "returned")) {
			*replayed = true;
			return 0;
		}
		if (!status_is(&l, "proposed"))
			return conflict(e, id, l.status,
					"only a proposed transfer is approved");
		if (lot_may_go(&l, id, "approved", e) < 0 ||
		    approval_room(db, &l, id, e) < 0)
			return -1;
		return set_status(db, &l, id, "approved", l.disaster, a->reason,
				  e);
	case ALLOCATION_DECLINE: {
		bool obligatory = l.obligatory || l.disaster;

		if (status_is(&l, "declined")) {
			*replayed = true;
			return 0;
		}
		if (!status_is(&l, "proposed"))
			return conflict(e, id, l.status,
					"only a proposed transfer is declined");
		if (obligatory && !a->reason)
			return reason_needed(&l, id, "declining", true, e);
		return set_status(db, &l, id, "declined", obligatory, a->reason,
				  e);
	}
	case ALLOCATION_SHIP: return do_ship(db, who, &l, id, replayed, e);
	case ALLOCATION_RECEIVE:
		return do_receive(db, who, &l, id, a, replayed, e);
	case ALLOCATION_CANCEL: {
		/* The giving region's cancel is its decline by another
		 * name: the same reason, the same alert (sql/023). */
		bool obligatory = l.obligatory || l.disaster;

		if (status_is(&l, "cancelled")) {
			*replayed = true;
			return 0;
		}
		if (!status_is(&l, "proposed") && !status_is(&l, "approved"))
			return conflict(e, id, l.status,
					status_is(&l, "shipped") ?
						"it is on its way; return it "
						"instead" :
						"only what has not shipped is "
						"cancelled");
		if (obligatory && !a->reason)
			return reason_needed(&l, id, "cancelling",
					     who->role == ROLE_REGION_CONTACT,
					     e);
		return set_status(db, &l, id, "cancelled", obligatory,
				  a->reason, e);
	}
	case ALLOCATION_RETURN:
		return do_return(db, who, &l, id, a->reason, replayed, e);
	}
	return err_set(e, ERR_INVALID, "action", "action: unknown");
}

int allocation_proposal_get(struct db *db, const struct identity *who,
			    int64_t id, json_t **out, struct err *e)
{
	char s[I64_LEN], from[3], to[3];
	const char *params[1] = {s};

	*out = NULL;
	if (may_read(who, e) < 0)
		return -1;
	i64s(s, id);
	if (query_json(db,
		       "SELECT to_jsonb(d) || jsonb_build_object('history',"
		       " coalesce((SELECT jsonb_agg(jsonb_build_object("
		       "  'status', v.status, 'at', v.at, 'actor', v.actor,"
		       "  'role', v.role, 'reason', v.reason) ORDER BY v.seq)"
		       "  FROM proposal_history_of(d.id) v"
		       "  WHERE v.from_region = d.from_region), '[]'))"
		       " FROM allocation_proposal_locate($1::bigint) l"
		       " CROSS JOIN LATERAL (SELECT d.* FROM proposal_detail d"
		       "  WHERE d.run_id = l.run_id"
		       "  AND d.product_id = l.product_id"
		       "  AND d.id = $1::bigint OFFSET 0) d",
		       1, params, out, e) < 0)
		return -1;
	if (*out)
		return 0;
	/* Not visible: another region's, or none at all. */
	if (parties(db, id, from, to, e) < 0)
		return -1;
	return forbid(e,
		      "proposal %" PRId64 " is between regions %s and %s: a "
		      "region sees its own proposals",
		      id, from, to);
}

int allocation_proposal_list(struct db *db, const struct identity *who,
			     const struct allocation_filter *f, json_t **out,
			     int64_t *next, struct err *e)
{
	char run[I64_LEN], pid[I64_LEN], lim[I64_LEN], before[I64_LEN];
	const char *params[6];
	json_t *page = NULL;

	*out = NULL;
	*next = 0;
	if (may_read(who, e) < 0)
		return -1;
	if (f->status &&
	    !one_of(f->status, proposal_statuses, NELEM(proposal_statuses)))
		return err_set(e, ERR_INVALID, "status",
			       "status \"%.40s\": not one of proposed, "
			       "approved, declined, shipped, received, "
			       "cancelled, returned",
			       f->status);
	if (f->limit < 1 || f->limit > ALLOCATION_LIST_MAX)
		return err_set(e, ERR_INVALID, "limit", "limit %ld: 1 to %d",
			       f->limit, ALLOCATION_LIST_MAX);
	if (f->region && validate_region_code(f->region, "region", e) < 0)
		return -1;
	if (f->region && regional(who) && strcmp(f->region, who->region) != 0)
		return forbid(e,
			      "region %s: a region sees its own proposals "
			      "only",
			      f->region);
	i64s(run, f->run_id);
	i64s(pid, f->product_id);
	i64s(lim, f->limit);
	i64s(before, f->before);
	params[0] = f->status;
	params[1] = f->region;
	params[2] = f->run_id ? run : NULL;
	params[3] = f->product_id ? pid : NULL;
	params[4] = lim;
	params[5] = f->before ? before : NULL;
	/* The page's keys first, one more than asked to tell whether a
	 * next page exists: the rows' from the table (its id index, whatever
	 * the view's joins would make of many rows), the packed ones' from
	 * the run products newest first (sql/020: a packed proposal is always
	 * proposed, and its id follows its run product's first); then each
	 * one's detail through its run product. */
	if (query_json(
		    db,
		    "SELECT jsonb_build_object('list', coalesce(jsonb_agg("
		    " (SELECT to_jsonb(d) FROM proposal_detail d"
		    "  WHERE d.run_id = k.run_id AND d.product_id = k.product_id"
		    "  AND d.id = k.id)"
		    " ORDER BY k.id DESC) FILTER (WHERE k.n <= $5::bigint),"
		    " '[]'), 'more', count(*) > $5::bigint)"
		    " FROM (SELECT p.*, row_number() OVER"
		    "  (ORDER BY p.id DESC) AS n FROM ("
		    "  (SELECT q.id, q.run_id, q.product_id FROM proposal q"
		    "   WHERE ($1::proposal_status IS NULL OR q.status = $1)"
		    "   AND ($2::char(2) IS NULL OR $2 IN (q.from_region,"
		    "    q.to_region))"
		    "   AND ($3::bigint IS NULL OR q.run_id = $3)"
		    "   AND ($4::bigint IS NULL OR q.product_id = $4)"
		    "   AND ($6::bigint IS NULL OR q.id < $6)"
		    "   ORDER BY q.id DESC LIMIT $5::bigint + 1)"
		    "  UNION ALL"
		    "  (SELECT k.id, k.run_id, k.product_id FROM proposal_packed k"
		    "   WHERE coalesce($1::proposal_status = 'proposed', true)"
		    "   AND lb_proposal_visible(k.from_region, k.to_region)"
		    "   AND ($2::char(2) IS NULL OR $2 IN (k.from_region,"
		    "    k.to_region))"
		    "   AND ($3::bigint IS NULL OR k.run_id = $3)"
		    "   AND ($4::bigint IS NULL OR k.product_id = $4)"
		    "   AND ($6::bigint IS NULL OR (k.first_id < $6"
		    "    AND k.id < $6))"
		    "   ORDER BY k.first_id DESC, k.ordinality DESC"
		    "   LIMIT $5::bigint + 1)) p"
		    "  ORDER BY p.id DESC LIMIT $5::bigint + 1) k",
		    6, params, &page, e) < 0)
		return -1;
	if (!page)
		return err_set(e, ERR_INTERNAL, "", "no proposal list");
	*out = json_incref(json_object_get(page, "list"));
	if (json_is_true(json_object_get(page, "more")))
		*next = json_integer_value(json_object_get(
			json_array_get(*out, json_array_size(*out) - 1), "id"));
	json_decref(page);
	return 0;
}

/* ---- plans as CSV ---- */

/* One CSV field: quoted when it holds a delimiter, quote or line break. */
static void csv_field(struct buf *b, const char *s, bool last)
{
	if (strpbrk(s, ",;\"\r\n")) {
		buf_add(b, "\"", 1);
		for (const char *c = s; *c; c++) {
			if (*c == '"')
				buf_add(b, "\"\"", 2);
			else
				buf_add(b, c, 1);
		}
		buf_add(b, "\"", 1);
	} else {
		buf_add(b, s, strlen(s));
	}
	if (last)
		buf_add(b, "\r\n", 2);
	else
		buf_add(b, ",", 1);
}

int allocation_plan_csv(struct db *db, const struct identity *who,
			int64_t run_id, char **out, size_t *len, struct err *e)
{
	static const char *const head[] = {
		"product",	   "product_name", "region",
		"region_name",	   "week",	   "week_start",
		"packs",	   "base_units",   "cumulative_packs",
		"planned_holding", "target",	   "week_reached",
		"shortfall"};
	char s[I64_LEN];
	const char *params[1] = {s};
	struct buf b = {0};
	PGresult *q = NULL;
	int rc = -1;

	*out = NULL;
	*len = 0;
	if (may_read(who, e) < 0)
		return -1;
	i64s(s, run_id);
	q = db_exec(
		db,
		"SELECT coalesce(p.vnr, p.npl_pack_id, p.gtin, p.id::text),"
		" p.name, x.region_code, g.name, x.week, x.week_start,"
		" x.quota_packs, x.quota, sum(x.quota_packs) OVER (PARTITION"
		" BY x.region_code ORDER BY x.week), x.planned_holding,"
		" coalesce(rr.r->>'target', ''),"
		" coalesce(rr.r->>'week_reached', ''),"
		" coalesce(rr.r->>'shortfall', '')"
		" FROM allocation_plan pl"
		" JOIN product p ON p.id = pl.product_id"
		" JOIN allocation_run ar ON ar.id = pl.run_id"
		" JOIN allocation_run_product rp ON rp.run_id = pl.run_id"
		" JOIN allocation_plan_row x ON x.run_id = pl.run_id"
		" JOIN region g ON g.code = x.region_code"
		" LEFT JOIN LATERAL (SELECT r FROM jsonb_array_elements("
		"  allocation_product_json(ar, rp)->'result'->'regions') r"
		"  WHERE r->>'region' ="
		"  x.region_code) rr ON true"
		" WHERE pl.run_id = $1::bigint"
		" ORDER BY x.region_code, x.week",
		1, params, e);
	if (!q)
		goto out;
	if (PQntuples(q) == 0) {
		PGresult *k = db_exec(db,
				      "SELECT 1 FROM allocation_plan"
				      " WHERE run_id = $1::bigint",
				      1, params, e);

		if (!k)
			goto out;
		if (PQntuples(k) == 0) {
			PQclear(k);
			err_set(e, ERR_NOT_FOUND, "id",
				"run %" PRId64 ": no such plan", run_id);
			goto out;
		}
		PQclear(k);
	}
	for (size_t c = 0; c < NELEM(head); c++)
		csv_field(&b, head[c], c + 1 == NELEM(head));
	for (int r = 0; r < PQntuples(q); r++)
		for (int c = 0; c < PQnfields(q); c++)
			csv_field(&b, db_text(q, r, c), c + 1 == PQnfields(q));
	if (b.failed) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	*out = b.p;
	*len = b.len;
	b.p = NULL;
	rc = 0;
out:
	free(b.p);
	PQclear(q);
	return rc;
}

int allocation_totals(struct db *db, int64_t product_id, json_t **out,
		      struct err *e)
{
	char s[I64_LEN];
	const char *params[1] = {product_id ? s : NULL};

	i64s(s, product_id);
	if (query_json(
		    db,
		    "SELECT coalesce(jsonb_agg(jsonb_build_object("
		    " 'product_id', t.product_id, 'product',"
		    " coalesce(p.vnr, p.npl_pack_id, p.gtin), 'product_name',"
		    " p.name, 'on_hand', t.on_hand, 'in_transit',"
		    " t.in_transit, 'lost', t.lost, 'total', t.total)"
		    " ORDER BY t.product_id), '[]')"
		    " FROM allocation_national_total t"
		    " JOIN product p ON p.id = t.product_id"
		    " WHERE $1::bigint IS NULL OR t.product_id = $1",
		    1, params, out, e) < 0)
		return -1;
	return *out ? 0 : err_set(e, ERR_INTERNAL, "", "no totals");
}
