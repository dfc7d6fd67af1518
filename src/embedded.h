/*
 * embedded.h -- SQL files compiled into the binary, so that `lagerbild` needs
 * no source tree at run time.  build/embedded.c is generated from the sql directory
 * and contrib/demo by contrib/embed.sh; the order is the file name order.
 */
#ifndef LAGERBILD_EMBEDDED_H
#define LAGERBILD_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
	const char *name; /* base name, e.g. "001_reference.sql" */
	const char *data; /* NUL-terminated contents */
	size_t len;	  /* bytes, without the NUL */
};

extern const struct embedded_file embedded_migrations[];
extern const size_t embedded_migrations_count;
extern const struct embedded_file embedded_demo[];
extern const size_t embedded_demo_count;
/* The OpenAPI 3 document of /api/v1 (src/openapi.json), one file. */
extern const struct embedded_file embedded_openapi[];
extern const size_t embedded_openapi_count;

#endif
