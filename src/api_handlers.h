/*
 * api_handlers.h -- the /api/v1 handlers, for the route table in api.c.
 */
#ifndef LAGERBILD_API_HANDLERS_H
#define LAGERBILD_API_HANDLERS_H

#include "http.h"

/* api_stock.c */
http_handler_fn api_stock_events_post;
http_handler_fn api_stock_events_get;
http_handler_fn api_stock_event_reverse;
http_handler_fn api_balances_get;
http_handler_fn api_totals_get;

/* api_catalog.c */
http_handler_fn api_regions_get;
http_handler_fn api_sites_get;
http_handler_fn api_sites_post;
http_handler_fn api_site_patch;
http_handler_fn api_products_get;
http_handler_fn api_products_post;
http_handler_fn api_product_patch;

/* api_import.c */
http_handler_fn api_import_post;
http_handler_fn api_imports_get;
http_handler_fn api_import_get;

#endif
