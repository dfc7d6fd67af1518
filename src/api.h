/*
 * api.h -- the routes of the JSON API under /api/v1, which `lagerbild
 * serve` (src/cmd_serve.c) serves after its built-in /healthz, /readyz and
 * /metrics.  Handlers and the framework they run in: src/http.h.
 */
#ifndef LAGERBILD_API_H
#define LAGERBILD_API_H

#include <stddef.h>

#include "http.h"

/* The API's routes, in matching order, and how many there are. */
extern const struct http_route api_routes[];
extern const size_t api_routes_count;

#endif
