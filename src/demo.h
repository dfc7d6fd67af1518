/*
 * demo.h -- load the demo data set: all 21 regions' sites, about 300
 * products, and weeks of receipts and consumption, recorded through the
 * ledger so that balances are derived exactly as in production.
 */
#ifndef LAGERBILD_DEMO_H
#define LAGERBILD_DEMO_H

#include <stdint.h>

#include "db.h"
#include "err.h"

struct demo_result {
	int64_t sites;
	int64_t products;
	int64_t events;
};

/*
 * Load the demo into an empty, migrated database, in one transaction:
 * all or nothing.  days of history (1..365); seed in [-1, 1] makes the run
 * repeatable.  db must be connected as the schema owner.
 */
int demo_load(struct db *db, int days, double seed, struct demo_result *out,
	      struct err *e);

#endif
