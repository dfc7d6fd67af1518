/*
 * suites.h -- the Check suites that tests/check_main.c runs.
 */
#ifndef LAGERBILD_TEST_SUITES_H
#define LAGERBILD_TEST_SUITES_H

#include <check.h>

/* Pure: no database. */
Suite *validate_suite(void);
Suite *ledger_unit_suite(void);
Suite *readiness_unit_suite(void);
Suite *allocator_unit_suite(void);
Suite *fetch_suite(void);

/* Need a server: see tests/testdb.h. */
Suite *migrate_suite(void);
Suite *auth_suite(void);
Suite *ledger_suite(void);
Suite *verify_suite(void);
Suite *cli_suite(void);
Suite *http_suite(void);
Suite *api_suite(void);
Suite *import_http_suite(void);
Suite *import_feeds_suite(void);
Suite *import_register_suite(void);
Suite *import_stock_suite(void);
Suite *readiness_suite(void);
Suite *readiness_page_suite(void);
Suite *alerts_suite(void);
Suite *allocation_suite(void);
Suite *quarantine_suite(void);
Suite *webhook_suite(void);
Suite *email_suite(void);

#endif
