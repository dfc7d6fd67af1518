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

/* api_quarantine.c */
http_handler_fn api_quarantines_post;
http_handler_fn api_quarantines_get;
http_handler_fn api_quarantine_release;

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

/* api_readiness.c */
http_handler_fn api_readiness_get;
http_handler_fn api_targets_get;
http_handler_fn api_targets_post;
http_handler_fn api_target_patch;
http_handler_fn api_readiness_level_get;
http_handler_fn api_readiness_level_put;
http_handler_fn api_region_state_get;
http_handler_fn api_region_state_put;

/* api_alerts.c */
http_handler_fn api_alerts_get;
http_handler_fn api_alert_get;
http_handler_fn api_alert_ack;
http_handler_fn api_webhooks_get;
http_handler_fn api_webhooks_post;
http_handler_fn api_webhook_patch;
http_handler_fn api_webhook_delete;
http_handler_fn api_webhook_deliveries_get;
http_handler_fn api_email_subscriptions_get;
http_handler_fn api_email_subscriptions_post;
http_handler_fn api_email_subscription_delete;

/* api_allocation.c */
http_handler_fn api_help_requests_get;
http_handler_fn api_help_requests_post;
http_handler_fn api_help_request_get;
http_handler_fn api_help_request_close;
http_handler_fn api_allocations_get;
http_handler_fn api_allocations_post;
http_handler_fn api_allocation_get;
http_handler_fn api_proposals_get;
http_handler_fn api_proposal_get;
http_handler_fn api_proposal_approve;
http_handler_fn api_proposal_decline;
http_handler_fn api_proposal_ship;
http_handler_fn api_proposal_receive;
http_handler_fn api_proposal_cancel;
http_handler_fn api_proposal_return;
http_handler_fn api_plans_get;
http_handler_fn api_plans_post;
http_handler_fn api_plan_get;
http_handler_fn api_in_transit_get;

#endif
