/*
 * metrics.c -- fixed-size counter tables and their Prometheus rendering.
 *
 * Every counter is an _Atomic uint64_t updated with relaxed ordering: the
 * counters are independent, and nothing else synchronises through them.
 * Histogram buckets are kept per bucket (not cumulative) so that one
 * request touches one bucket; rendering adds them up.  Durations are summed
 * in microseconds so that the sum, too, is a plain atomic integer.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const char *const methods[] = {"GET",   "HEAD",	 "POST",    "PUT",
				      "PATCH", "DELETE", "OPTIONS", "OTHER"};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* The statuses the service answers with; the last slot is "other". */
static const int statuses[] = {200, 201, 202, 204, 304, 400, 401, 403, 404,
			       405, 409, 413, 415, 422, 429, 431, 500, 503};
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]) + 1)

/* Upper bounds in seconds; the last bucket, +Inf, is implicit. */
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				0.1,   0.25,   0.5,   1,    2.5};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))
#define NBUCKETS (NBOUNDS + 1)

struct table {
	const char *const *names;
	size_t nslots;		    /* routes + 1, the last being "unmatched" */
	_Atomic uint64_t *requests; /* [slot][method][status] */
	_Atomic uint64_t *buckets;  /* [slot][bucket] */
	_Atomic uint64_t *sum_us;   /* [slot] */
	_Atomic uint64_t *count;    /* [slot] */
};

static struct table t;
static _Atomic uint64_t db_errors;
static _Atomic int64_t connections;
static _Atomic int64_t db_connections;

void metrics_fini(void)
{
	free(t.requests);
	free(t.buckets);
	free(t.sum_us);
	free(t.count);
	memset(&t, 0, sizeof(t));
}

int metrics_init(const char *const *names, size_t nroutes, struct err *e)
{
	size_t slots = nroutes + 1;

	metrics_fini();
	t.names = names;
	t.nslots = slots;
	t.requests = calloc(slots * NMETHODS * NSTATUSES, sizeof(*t.requests));
	t.buckets = calloc(slots * NBUCKETS, sizeof(*t.buckets));
	t.sum_us = calloc(slots, sizeof(*t.sum_us));
	t.count = calloc(slots, sizeof(*t.count));
	if (!t.requests || !t.buckets || !t.sum_us || !t.count) {
		metrics_fini();
		return err_set(e, ERR_INTERNAL, "", "metrics: out of memory");
	}
	atomic_store(&db_errors, 0);
	atomic_store(&connections, 0);
	atomic_store(&db_connections, 0);
	return 0;
}

static size_t method_index(const char *method)
{
	for (size_t i = 0; i < NMETHODS - 1; i++)
		if (strcmp(method, methods[i]) == 0)
			return i;
	return NMETHODS - 1;
}

static size_t status_index(int status)
{
	for (size_t i = 0; i < NSTATUSES - 1; i++)
		if (statuses[i] == status)
			return i;
	return NSTATUSES - 1;
}

void metrics_request(int route, const char *method, int status, double seconds)
{
	size_t slot, m, s, b;
	uint64_t us;

	if (!t.requests)
		return;
	slot = (route < 0 || (size_t)route >= t.nslots - 1) ? t.nslots - 1 :
							      (size_t)route;
	m = method_index(method);
	s = status_index(status);
	atomic_fetch_add_explicit(
		&t.requests[(slot * NMETHODS + m) * NSTATUSES + s], 1,
		memory_order_relaxed);

	if (seconds < 0)
		seconds = 0;
	for (b = 0; b < NBOUNDS && seconds > bounds[b]; b++)
		;
	us = (uint64_t)(seconds * 1e6 + 0.5);
	atomic_fetch_add_explicit(&t.buckets[slot * NBUCKETS + b], 1,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&t.sum_us[slot], us, memory_order_relaxed);
	atomic_fetch_add_explicit(&t.count[slot], 1, memory_order_relaxed);
}

void metrics_db_error(void)
{
	atomic_fetch_add_explicit(&db_errors, 1, memory_order_relaxed);
}

void metrics_connections_add(int delta)
{
	atomic_fetch_add_explicit(&connections, delta, memory_order_relaxed);
}

void metrics_db_connections_add(int delta)
{
	atomic_fetch_add_explicit(&db_connections, delta, memory_order_relaxed);
}

static const char *slot_name(size_t slot)
{
	return slot == t.nslots - 1 ? "unmatched" : t.names[slot];
}

/*
 * A label value with backslash, quote and newline escaped as the format
 * asks.  Route names come from the code, so this is belt and braces.
 */
static void put_label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void render_requests(FILE *f)
{
	fputs("# HELP lagerbild_http_requests_total HTTP requests answered, "
	      "by route, method and status.\n"
	      "# TYPE lagerbild_http_requests_total counter\n",
	      f);
	for (size_t slot = 0; slot < t.nslots; slot++)
		for (size_t m = 0; m < NMETHODS; m++)
			for (size_t s = 0; s < NSTATUSES; s++) {
				uint64_t n = atomic_load_explicit(
					&t.requests[(slot * NMETHODS + m) *
							    NSTATUSES +
						    s],
					memory_order_relaxed);

				/* Zero series are left out: the table
				 * is mostly empty. */
				if (n == 0)
					continue;
				fputs("lagerbild_http_requests_total{route=\"",
				      f);
				put_label(f, slot_name(slot));
				fprintf(f, "\",method=\"%s\",status=\"",
					methods[m]);
				if (s == NSTATUSES - 1)
					fputs("other", f);
				else
					fprintf(f, "%d", statuses[s]);
				fprintf(f, "\"} %llu\n", (unsigned long long)n);
			}
}

static void render_durations(FILE *f)
{
	fputs("# HELP lagerbild_http_request_duration_seconds Time from "
	      "request to response, by route.\n"
	      "# TYPE lagerbild_http_request_duration_seconds histogram\n",
	      f);
	for (size_t slot = 0; slot < t.nslots; slot++) {
		uint64_t cum = 0, sum_us, count;

		for (size_t b = 0; b < NBUCKETS; b++) {
			cum += atomic_load_explicit(
				&t.buckets[slot * NBUCKETS + b],
				memory_order_relaxed);
			fputs("lagerbild_http_request_duration_seconds_bucket{"
			      "route=\"",
			      f);
			put_label(f, slot_name(slot));
			if (b < NBOUNDS)
				fprintf(f, "\",le=\"%g\"} %llu\n", bounds[b],
					(unsigned long long)cum);
			else
				fprintf(f, "\",le=\"+Inf\"} %llu\n",
					(unsigned long long)cum);
		}
		sum_us = atomic_load_explicit(&t.sum_us[slot],
					      memory_order_relaxed);
		count = atomic_load_explicit(&t.count[slot],
					     memory_order_relaxed);
		fputs("lagerbild_http_request_duration_seconds_sum{route=\"",
		      f);
		put_label(f, slot_name(slot));
		fprintf(f, "\"} %.6f\n", (double)sum_us / 1e6);
		fputs("lagerbild_http_request_duration_seconds_count{route=\"",
		      f);
		put_label(f, slot_name(slot));
		fprintf(f, "\"} %llu\n", (unsigned long long)count);
	}
}

char *metrics_render(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (t.requests) {
		render_requests(f);
		render_durations(f);
	}
	fprintf(f,
		"# HELP lagerbild_db_errors_total Failed database connects "
		"and connections found broken.\n"
		"# TYPE lagerbild_db_errors_total counter\n"
		"lagerbild_db_errors_total %llu\n"
		"# HELP lagerbild_http_connections Open client connections.\n"
		"# TYPE lagerbild_http_connections gauge\n"
		"lagerbild_http_connections %lld\n"
		"# HELP lagerbild_db_connections Open database connections.\n"
		"# TYPE lagerbild_db_connections gauge\n"
		"lagerbild_db_connections %lld\n",
		(unsigned long long)atomic_load(&db_errors),
		(long long)atomic_load(&connections),
		(long long)atomic_load(&db_connections));
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
