/*
 * check_main.c -- runs every Check suite and prints Check's summary.
 *
 * The database suites need a server in the PG* variables (tests/run.sh
 * starts a throwaway one).  Without LAGERBILD_TEST_DB=1 only the pure
 * suites run, which is useful while editing validators.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "suites.h"
#include "testdb.h"

int main(void)
{
	const char *with_db = getenv("LAGERBILD_TEST_DB");
	bool db = with_db && strcmp(with_db, "1") == 0;
	SRunner *sr;
	int failed;

	if (sodium_init() < 0) {
		fprintf(stderr, "libsodium failed to initialise\n");
		return 1;
	}
	sr = srunner_create(validate_suite());
	srunner_add_suite(sr, ledger_unit_suite());
	srunner_add_suite(sr, readiness_unit_suite());
	srunner_add_suite(sr, allocator_unit_suite());
	srunner_add_suite(sr, fetch_suite());
	if (db) {
		if (!testdb_init()) {
			fprintf(stderr,
				"cannot prepare the template database\n");
			return 1;
		}
		srunner_add_suite(sr, migrate_suite());
		srunner_add_suite(sr, ledger_suite());
		srunner_add_suite(sr, auth_suite());
		srunner_add_suite(sr, verify_suite());
		srunner_add_suite(sr, cli_suite());
		srunner_add_suite(sr, http_suite());
		srunner_add_suite(sr, api_suite());
		srunner_add_suite(sr, import_http_suite());
		srunner_add_suite(sr, import_feeds_suite());
		srunner_add_suite(sr, import_register_suite());
		srunner_add_suite(sr, import_stock_suite());
		srunner_add_suite(sr, readiness_suite());
		srunner_add_suite(sr, readiness_page_suite());
		srunner_add_suite(sr, alerts_suite());
		srunner_add_suite(sr, allocation_suite());
		srunner_add_suite(sr, quarantine_suite());
		srunner_add_suite(sr, webhook_suite());
		srunner_add_suite(sr, email_suite());
	} else {
		fprintf(stderr, "LAGERBILD_TEST_DB is not 1: database suites "
				"skipped\n");
	}
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (db)
		testdb_fini();
	return failed == 0 ? 0 : 1;
}
