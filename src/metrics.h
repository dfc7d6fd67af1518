/*
 * metrics.h -- the service's counters, rendered in Prometheus text format.
 *
 * The tables are sized once, from the route table, when the server starts:
 * a request on a path no route knows is counted under route="unmatched", a
 * method outside the usual few under method="OTHER", and a status outside
 * the list the service answers with under status="other".  So no client
 * can make the tables grow.  Updates are relaxed atomics: a scrape may see
 * a request in the counter a moment before it shows in the histogram,
 * which Prometheus tolerates.
 */
#ifndef LAGERBILD_METRICS_H
#define LAGERBILD_METRICS_H

#include <stddef.h>

#include "err.h"

/* The route index that stands for "no route matched". */
#define METRICS_UNMATCHED (-1)

/*
 * Size the tables for nroutes routes named names[i] (the route label; the
 * names are borrowed and must outlive the metrics).  Resets every counter.
 * 0, or -1 with e set.  Not thread-safe: call before serving.
 */
int metrics_init(const char *const *names, size_t nroutes, struct err *e);

/* Free the tables.  Safe to call when metrics_init was not. */
void metrics_fini(void);

/*
 * Count one answered request: route index (or METRICS_UNMATCHED), request
 * method, status sent, and time from the first byte of the request to the
 * response being queued.  Thread-safe; a no-op before metrics_init.
 */
void metrics_request(int route, const char *method, int status, double seconds);

/* A database failure: a failed connect or a connection found broken. */
void metrics_db_error(void);

/* Gauges: open client connections, open database connections. */
void metrics_connections_add(int delta);
void metrics_db_connections_add(int delta);

/*
 * The exposition text (format 0.0.4).  The caller frees the result; NULL
 * when out of memory.
 */
char *metrics_render(void);

#endif
