/*
 * feeds.h -- the feeds lagerbild imports, one file each in importers/.
 *
 * import.c lists them for `lagerbild import --help` and finds them by name
 * (import_feed_find); nothing else refers to them directly.
 */
#ifndef LAGERBILD_FEEDS_H
#define LAGERBILD_FEEDS_H

#include "import.h"

/* National registers. */
extern const struct import_feed import_feed_npl;	/* npl.c */
extern const struct import_feed import_feed_articles;	/* articles.c */
extern const struct import_feed import_feed_products;	/* products.c */
extern const struct import_feed import_feed_shortages;	/* shortages.c */
extern const struct import_feed import_feed_population; /* population.c */
extern const struct import_feed import_feed_targets;	/* targets.c */

/* A region's own systems. */
extern const struct import_feed import_feed_stock;	 /* stock.c */
extern const struct import_feed import_feed_consumption; /* consumption.c */

#endif
