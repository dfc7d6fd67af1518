/*
 * bench_ledger.c -- ledger throughput for `make bench`: record N events
 * through ledger_record() at C concurrent connections.
 *
 * tests/bench/run.sh sets the result beside pgbench -N (simple-update) on
 * the same cluster, so the number reads as "how far is one ledger event from
 * one trivial write transaction".  To make that comparison fair the events
 * take the real path: one event per call, autocommit, under the application
 * role, with a fresh idempotency key each, as the CLI and the API send them.
 *
 * --setup creates the fixture in a migrated database, all in one
 * transaction: 64 sites spread over the 21 regions, 1000 products, and an
 * initial receipt for every (site, product) pair.  Like pgbench's accounts
 * the pairs are many, so concurrent writers seldom meet on one row.
 *
 * A run alternates receipts and issues on pseudo-random pairs.  Each client
 * owns 1/C of every pair's initial stock and tracks what it received and
 * issued itself, so no issue can drive a balance negative whatever the other
 * clients do.  Output is one line on stdout:
 *
 *   clients=C events=N seconds=S events_per_sec=E errors=0
 *
 * A failed event is logged on stderr and makes the exit status 1.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "db.h"
#include "err.h"
#include "ledger.h"
#include "log.h"
#include "validate.h"

#define NSITES 64
#define NPRODUCTS 1000
#define NPAIRS (NSITES * NPRODUCTS)
#define CLIENTS_MAX 64
#define EVENTS_MAX INT64_C(1000000000)
#define EVENTS_DEFAULT 20000
/* Per pair; divided among the clients, each issues only from its share. */
#define INITIAL_STOCK 1000000
#define RECEIPT_MAX 100
#define ISSUE_MAX 10
#define VNR_FIRST 900000 /* products are vnr 900000 .. 900999 */
#define ACTOR "bench"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char usage_text[] =
	"Usage: bench_ledger [--clients C] [--events N] [--conninfo S]\n"
	"       bench_ledger --setup [--conninfo S]\n\n"
	"Record N ledger events (default 20000), split evenly over C\n"
	"concurrent connections (1..64, default 1), one event per\n"
	"transaction, and print\n"
	"  clients=C events=N seconds=S events_per_sec=E errors=0\n"
	"--setup creates the fixture (64 sites, 1000 products, initial\n"
	"stock) in a migrated database and exits.  Without --conninfo the\n"
	"database is $DATABASE_URL, else the PG* variables.\n";

/* The 21 regions, so that the sites cover every one of them. */
static const char *const regions[] = {
	"01", "03", "04", "05", "06", "07", "08", "09", "10", "12", "13",
	"14", "17", "18", "19", "20", "21", "22", "23", "24", "25",
};

#define NREGIONS (sizeof(regions) / sizeof(regions[0]))

/* Database ids of the fixture, in code and vnr order. */
struct fixture {
	int64_t site[NSITES];
	int64_t product[NPRODUCTS];
};

/* One client: its connection, its share of the work and how it went. */
struct worker {
	pthread_t thread;
	int64_t events; /* this worker's share */
	int64_t done;
	struct db *db;
	const struct fixture *fx;
	pthread_barrier_t *start;
	int64_t *credit; /* per pair: what this worker may still issue */
	uint64_t prng;
	struct timespec end;
	bool failed;
	struct err e;
};

/* Set by the first worker that fails, so that the others stop early. */
static atomic_bool stop_all;

/* ---- setup ---- */

static const char count_sites_sql[] =
	"SELECT count(*) FROM site WHERE code LIKE 'bench-%'";

static const char insert_site_sql[] =
	"INSERT INTO site (region_code, code, name, kind, host_region_code)"
	" VALUES ($1, $2, $3, 'central', $1)";

static const char insert_product_sql[] =
	"INSERT INTO product (category, vnr, name, pack_size)"
	" VALUES ('medicine', $1, $2, $3)";

static const char site_ids_sql[] =
	"SELECT id FROM site WHERE code LIKE 'bench-%' ORDER BY code";

static const char product_ids_sql[] =
	"SELECT id FROM product WHERE vnr BETWEEN $1 AND $2 ORDER BY vnr";

/* Read n ids from a one-column query; ERR_NOT_FOUND when there are not n. */
static int load_ids(struct db *db, const char *sql, int nparams,
		    const char *const *params, int64_t *ids, int n,
		    const char *what, struct err *e)
{
	PGresult *res = db_exec(db, sql, nparams, params, e);
	int rc = -1;

	if (!res)
		goto out;
	if (PQntuples(res) != n) {
		err_set(e, ERR_NOT_FOUND, "",
			"bench fixture has %d %s, expected %d: run "
			"bench_ledger --setup on a migrated database",
			PQntuples(res), what, n);
		goto out;
	}
	for (int i = 0; i < n; i++)
		ids[i] = db_int64(res, i, 0);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

static int fixture_load(struct db *db, struct fixture *fx, struct err *e)
{
	char first[16], last[16];
	const char *params[] = {first, last};

	snprintf(first, sizeof(first), "%06d", VNR_FIRST);
	snprintf(last, sizeof(last), "%06d", VNR_FIRST + NPRODUCTS - 1);
	if (load_ids(db, site_ids_sql, 0, NULL, fx->site, NSITES, "sites", e) <
		    0 ||
	    load_ids(db, product_ids_sql, 2, params, fx->product, NPRODUCTS,
		     "products", e) < 0)
		return -1;
	return 0;
}

/* How many bench sites exist already: 0 (fresh) or NSITES (set up). */
static int count_sites(struct db *db, int64_t *n, struct err *e)
{
	PGresult *res = db_exec(db, count_sites_sql, 0, NULL, e);

	if (!res)
		return -1;
	*n = db_int64(res, 0, 0);
	PQclear(res);
	return 0;
}

static int insert_sites(struct db *db, struct err *e)
{
	char code[32], name[64];
	const char *params[3];

	for (int i = 0; i < NSITES; i++) {
		snprintf(code, sizeof(code), "bench-%02d", i);
		snprintf(name, sizeof(name), "Bench central store %d", i);
		params[0] = regions[(size_t)i % NREGIONS];
		params[1] = code;
		params[2] = name;
		if (db_command(db, insert_site_sql, 3, params, e) < 0)
			return err_prefix(e, "site %s: ", code);
	}
	return 0;
}

static int insert_products(struct db *db, struct err *e)
{
	char vnr[16], name[64], pack[16];
	const char *params[] = {vnr, name, pack};

	for (int i = 0; i < NPRODUCTS; i++) {
		snprintf(vnr, sizeof(vnr), "%06d", VNR_FIRST + i);
		snprintf(name, sizeof(name), "Bench product %d", i);
		snprintf(pack, sizeof(pack), "%d", 1 + i % 100);
		if (db_command(db, insert_product_sql, 3, params, e) < 0)
			return err_prefix(e, "product %s: ", vnr);
	}
	return 0;
}

/*
 * A receipt of INITIAL_STOCK for every pair.  This is the fixture, not the
 * measurement, so it goes in one statement (as pgbench -i uses COPY); the
 * trigger still derives every balance and aggregate.  The keys are never
 * replayed, so the hash need only be distinct and 32 bytes long.
 */
static int initial_stock(struct db *db, struct err *e)
{
	static const char sql[] =
		"INSERT INTO stock_event (site_id, product_id, kind, quantity,"
		" idempotency_key, payload_hash, recorded_by, source)"
		" SELECT s.id, p.id, 'receipt', $1, gen_random_uuid(),"
		" sha256(convert_to('bench-initial/' || s.id || '/' || p.id,"
		" 'UTF8')), $2, 'bench'"
		" FROM site s CROSS JOIN product p"
		" WHERE s.code LIKE 'bench-%' AND p.vnr BETWEEN $3 AND $4"
		" ORDER BY s.region_code, p.id, s.id";
	char qty[24], first[16], last[16];
	const char *params[] = {qty, ACTOR, first, last};
	PGresult *res = NULL;
	int64_t n;
	int rc = -1;

	snprintf(qty, sizeof(qty), "%d", INITIAL_STOCK);
	snprintf(first, sizeof(first), "%06d", VNR_FIRST);
	snprintf(last, sizeof(last), "%06d", VNR_FIRST + NPRODUCTS - 1);
	res = db_exec(db, sql, 4, params, e);
	if (!res)
		goto out;
	if (parse_int64(PQcmdTuples(res), 0, INT64_MAX, &n, "rows", e) < 0)
		goto out;
	if (n != NPAIRS) {
		err_set(e, ERR_INTERNAL, "",
			"initial stock: %lld receipts recorded, expected %d",
			(long long)n, NPAIRS);
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* Create the fixture, all or nothing; a database that has it is left be. */
static int setup(struct db *db, struct err *e)
{
	int64_t nsites;
	int rc = -1;

	if (count_sites(db, &nsites, e) < 0)
		goto out;
	if (nsites == NSITES) {
		fprintf(stderr, "bench_ledger: fixture already present\n");
		rc = 0;
		goto out;
	}
	if (nsites != 0) {
		err_set(e, ERR_CONFLICT, "",
			"%lld bench sites exist, expected 0 or %d: use a "
			"fresh database",
			(long long)nsites, NSITES);
		goto out;
	}
	if (db_begin(db, e) < 0)
		goto out;
	if (insert_sites(db, e) < 0 || insert_products(db, e) < 0 ||
	    initial_stock(db, e) < 0 || db_commit(db, e) < 0) {
		db_rollback(db);
		goto out;
	}
	fprintf(stderr,
		"bench_ledger: fixture created: %d sites, %d products, %d "
		"initial receipts\n",
		NSITES, NPRODUCTS, NPAIRS);
	rc = 0;
out:
	return rc;
}

/* ---- the run ---- */

/* splitmix64: spreads a small seed over all 64 bits for xorshift. */
static uint64_t seed_for(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x ? x : 1; /* xorshift must not start at 0 */
}

/* xorshift64*: thread-local, so that clients do not share a lock. */
static uint64_t next_random(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/*
 * The event number i of a worker.  Receipts and issues alternate; an issue
 * never exceeds this worker's credit on its pair.  Should the random pair
 * lack credit, the issue goes to the pair of the receipt just before it,
 * which has at least that receipt's quantity.
 */
static void next_event(struct worker *w, int64_t i, int *last_pair,
		       struct ledger_event *ev)
{
	int pair = (int)(next_random(&w->prng) % NPAIRS);
	int64_t q;

	if (i % 2 == 0) {
		ev->kind = LEDGER_RECEIPT;
		q = 1 + (int64_t)(next_random(&w->prng) % RECEIPT_MAX);
		w->credit[pair] += q;
		*last_pair = pair;
	} else {
		ev->kind = LEDGER_ISSUE;
		q = 1 + (int64_t)(next_random(&w->prng) % ISSUE_MAX);
		if (w->credit[pair] < q)
			pair = *last_pair;
		if (w->credit[pair] < q)
			q = w->credit[pair];
		w->credit[pair] -= q;
	}
	ev->site_id = w->fx->site[pair / NPRODUCTS];
	ev->product_id = w->fx->product[pair % NPRODUCTS];
	ev->quantity = q;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct ledger_event ev = {
		.key = NULL, /* the library makes a UUID per event */
		.actor = ACTOR,
		.source = "bench",
	};
	struct ledger_result res;
	int last_pair = 0;
	int rc = pthread_barrier_wait(w->start);

	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD) {
		err_set(&w->e, ERR_INTERNAL, "", "pthread_barrier_wait: %s",
			strerror(rc));
		w->failed = true;
		goto out;
	}
	for (int64_t i = 0; i < w->events; i++) {
		if (atomic_load(&stop_all))
			break;
		next_event(w, i, &last_pair, &ev);
		if (ledger_record(w->db, &ev, &res, &w->e) < 0) {
			err_prefix(&w->e,
				   "%s of %lld at site %lld, product "
				   "%lld: ",
				   ledger_kind_name(ev.kind),
				   (long long)ev.quantity,
				   (long long)ev.site_id,
				   (long long)ev.product_id);
			w->failed = true;
			goto out;
		}
		if (res.replayed) {
			err_set(&w->e, ERR_INTERNAL, "key",
				"fresh key %s was taken for a replay", res.key);
			w->failed = true;
			goto out;
		}
		w->done++;
	}
out:
	if (w->failed)
		atomic_store(&stop_all, true);
	clock_gettime(CLOCK_MONOTONIC, &w->end);
	return NULL;
}

static double seconds_between(const struct timespec *a,
			      const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Connect every client first: like pgbench, connecting is not timed. */
static int prepare_workers(struct worker *w, int clients, int64_t events,
			   const char *conninfo, const struct fixture *fx,
			   pthread_barrier_t *start, struct err *e)
{
	for (int i = 0; i < clients; i++) {
		/* The first events % clients workers take one more. */
		w[i].events = events / clients + (i < events % clients);
		w[i].fx = fx;
		w[i].start = start;
		w[i].prng = seed_for((uint64_t)i + 1);
		w[i].credit = malloc(NPAIRS * sizeof(*w[i].credit));
		if (!w[i].credit)
			return err_set(e, ERR_INTERNAL, "", "out of memory");
		for (int p = 0; p < NPAIRS; p++)
			w[i].credit[p] = INITIAL_STOCK / clients;
		if (db_connect(&w[i].db, conninfo, e) < 0 ||
		    db_become_app(w[i].db, ACTOR, e) < 0)
			return err_prefix(e, "client %d: ", i);
	}
	return 0;
}

static int run(const char *conninfo, int clients, int64_t events, struct err *e)
{
	struct worker *w = NULL;
	struct fixture *fx = NULL;
	struct db *db = NULL;
	pthread_barrier_t start;
	bool have_barrier = false;
	struct timespec t0, t1;
	int64_t done = 0;
	double secs;
	int failures = 0;
	int rc = -1, prc;

	fx = calloc(1, sizeof(*fx));
	w = calloc((size_t)clients, sizeof(*w));
	if (!fx || !w) {
		err_set(e, ERR_INTERNAL, "", "out of memory");
		goto out;
	}
	if (db_connect(&db, conninfo, e) < 0 ||
	    db_become_app(db, ACTOR, e) < 0 || fixture_load(db, fx, e) < 0)
		goto out;
	db_close(db);
	db = NULL;
	if (prepare_workers(w, clients, events, conninfo, fx, &start, e) < 0)
		goto out;
	prc = pthread_barrier_init(&start, NULL, (unsigned)clients + 1);
	if (prc != 0) {
		err_set(e, ERR_INTERNAL, "", "pthread_barrier_init: %s",
			strerror(prc));
		goto out;
	}
	have_barrier = true;
	for (int i = 0; i < clients; i++) {
		prc = pthread_create(&w[i].thread, NULL, work, &w[i]);
		if (prc != 0) {
			/* Those started wait at the barrier for good. */
			die("pthread_create: %s", strerror(prc));
		}
	}
	prc = pthread_barrier_wait(&start);
	if (prc != 0 && prc != PTHREAD_BARRIER_SERIAL_THREAD)
		die("pthread_barrier_wait: %s", strerror(prc));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	t1 = t0;
	for (int i = 0; i < clients; i++) {
		prc = pthread_join(w[i].thread, NULL);
		if (prc != 0)
			die("pthread_join: %s", strerror(prc));
		if (seconds_between(&t1, &w[i].end) > 0)
			t1 = w[i].end;
		done += w[i].done;
		if (w[i].failed) {
			failures++;
			err_prefix(&w[i].e, "client %d: ", i);
			log_err(&w[i].e);
		}
	}
	if (failures) {
		err_set(e, ERR_INTERNAL, "",
			"%d of %d clients failed; %lld of %lld events recorded",
			failures, clients, (long long)done, (long long)events);
		goto out;
	}
	secs = seconds_between(&t0, &t1);
	printf("clients=%d events=%lld seconds=%.3f events_per_sec=%.1f "
	       "errors=0\n",
	       clients, (long long)done, secs,
	       secs > 0 ? (double)done / secs : 0.0);
	if (fflush(stdout) != 0) {
		err_set(e, ERR_INTERNAL, "", "cannot write the result");
		goto out;
	}
	rc = 0;
out:
	for (int i = 0; w && i < clients; i++) {
		db_close(w[i].db);
		free(w[i].credit);
	}
	if (have_barrier)
		pthread_barrier_destroy(&start);
	db_close(db);
	free(w);
	free(fx);
	return rc;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"clients", required_argument, NULL, 'c'},
		{"events", required_argument, NULL, 'n'},
		{"setup", no_argument, NULL, 's'},
		{"conninfo", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct err e = {0};
	struct db *db = NULL;
	const char *conninfo = NULL;
	int64_t clients = 1, events = EVENTS_DEFAULT;
	bool do_setup = false, parsing = true;
	int c, rc = EXIT_USAGE;

	if (sodium_init() < 0)
		die("libsodium failed to initialise");
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_int64(optarg, 1, CLIENTS_MAX, &clients,
					"clients", &e) < 0)
				goto out;
			break;
		case 'n':
			if (parse_int64(optarg, 1, EVENTS_MAX, &events,
					"events", &e) < 0)
				goto out;
			break;
		case 's': do_setup = true; break;
		case 'd': conninfo = optarg; break;
		case 'h':
			fputs(usage_text, stdout);
			rc = EXIT_OK;
			goto out;
		default:
			err_set(&e, ERR_INVALID, "",
				"unknown option or missing argument: %s",
				argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		err_set(&e, ERR_INVALID, "", "unexpected argument %s",
			argv[optind]);
		goto out;
	}
	parsing = false;
	rc = EXIT_FAIL;
	if (do_setup) {
		if (db_connect(&db, conninfo, &e) < 0 || setup(db, &e) < 0)
			goto out;
	} else if (run(conninfo, (int)clients, events, &e) < 0) {
		goto out;
	}
	rc = EXIT_OK;
out:
	if (rc != EXIT_OK && parsing) {
		fprintf(stderr, "bench_ledger: %s\n\n%s", e.msg, usage_text);
	} else if (rc != EXIT_OK) {
		log_err(&e);
	}
	db_close(db);
	return rc;
}
