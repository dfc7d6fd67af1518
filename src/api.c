/*
 * api.c -- the route table of the JSON API (see api.h) and the OpenAPI
 * document that describes it.
 *
 * Every route here must appear in src/openapi.json; tests/check_api.c
 * fails when one does not.
 */
#include "api.h"
#include "api_handlers.h"
#include "embedded.h"

/* The document is built into the binary and parsed once per request: it is
 * small, and this keeps it the one source of truth. */
static void openapi_get(struct http_request *req, struct http_response *res)
{
	json_error_t jerr;
	json_t *doc;

	(void)req;
	doc = json_loadb(embedded_openapi[0].data, embedded_openapi[0].len, 0,
			 &jerr);
	if (!doc) {
		http_error(res, 500, "internal", NULL,
			   "the built-in OpenAPI document does not parse");
		return;
	}
	http_json(res, 200, doc);
}

const struct http_route api_routes[] = {
	{"GET", "/api/v1/openapi.json", openapi_get, HTTP_PUBLIC, "openapi"},
	{"GET", "/api/v1/regions", api_regions_get, HTTP_DB, "regions_get"},
	{"GET", "/api/v1/sites", api_sites_get, HTTP_DB, "sites_get"},
	{"POST", "/api/v1/sites", api_sites_post, HTTP_DB, "sites_post"},
	{"PATCH", "/api/v1/sites/{code}", api_site_patch, HTTP_DB,
	 "site_patch"},
	{"GET", "/api/v1/products", api_products_get, HTTP_DB, "products_get"},
	{"POST", "/api/v1/products", api_products_post, HTTP_DB,
	 "products_post"},
	{"PATCH", "/api/v1/products/{id}", api_product_patch, HTTP_DB,
	 "product_patch"},
	{"POST", "/api/v1/stock-events", api_stock_events_post, HTTP_DB,
	 "stock_events_post"},
	{"GET", "/api/v1/stock-events", api_stock_events_get, HTTP_DB,
	 "stock_events_get"},
	{"POST", "/api/v1/stock-events/{id}/reversal", api_stock_event_reverse,
	 HTTP_DB, "stock_event_reverse"},
	{"GET", "/api/v1/balances", api_balances_get, HTTP_DB, "balances_get"},
	{"POST", "/api/v1/quarantines", api_quarantines_post, HTTP_DB,
	 "quarantines_post"},
	{"GET", "/api/v1/quarantines", api_quarantines_get, HTTP_DB,
	 "quarantines_get"},
	{"POST", "/api/v1/quarantines/{id}/release", api_quarantine_release,
	 HTTP_DB, "quarantine_release"},
	{"GET", "/api/v1/totals", api_totals_get, HTTP_DB, "totals_get"},
	{"POST", "/api/v1/imports/{feed}", api_import_post, HTTP_DB | HTTP_SPOOL,
	 "import_post"},
	{"GET", "/api/v1/imports", api_imports_get, HTTP_DB, "imports_get"},
	{"GET", "/api/v1/imports/{id}", api_import_get, HTTP_DB, "import_get"},
	{"GET", "/api/v1/readiness", api_readiness_get, HTTP_DB,
	 "readiness_get"},
	{"GET", "/api/v1/targets", api_targets_get, HTTP_DB, "targets_get"},
	{"POST", "/api/v1/targets", api_targets_post, HTTP_DB, "targets_post"},
	{"PATCH", "/api/v1/targets/{id}", api_target_patch, HTTP_DB,
	 "target_patch"},
	{"GET", "/api/v1/readiness-level", api_readiness_level_get, HTTP_DB,
	 "readiness_level_get"},
	{"PUT", "/api/v1/readiness-level", api_readiness_level_put, HTTP_DB,
	 "readiness_level_put"},
	{"GET", "/api/v1/regions/{code}/state", api_region_state_get, HTTP_DB,
	 "region_state_get"},
	{"PUT", "/api/v1/regions/{code}/state", api_region_state_put, HTTP_DB,
	 "region_state_put"},
	{"GET", "/api/v1/alerts", api_alerts_get, HTTP_DB, "alerts_get"},
	{"GET", "/api/v1/alerts/{id}", api_alert_get, HTTP_DB, "alert_get"},
	{"POST", "/api/v1/alerts/{id}/ack", api_alert_ack, HTTP_DB, "alert_ack"},
	{"GET", "/api/v1/webhooks", api_webhooks_get, HTTP_DB, "webhooks_get"},
	{"POST", "/api/v1/webhooks", api_webhooks_post, HTTP_DB,
	 "webhooks_post"},
	{"PATCH", "/api/v1/webhooks/{id}", api_webhook_patch, HTTP_DB,
	 "webhook_patch"},
	{"DELETE", "/api/v1/webhooks/{id}", api_webhook_delete, HTTP_DB,
	 "webhook_delete"},
	{"GET", "/api/v1/webhooks/{id}/deliveries", api_webhook_deliveries_get,
	 HTTP_DB, "webhook_deliveries_get"},
	{"GET", "/api/v1/email-subscriptions", api_email_subscriptions_get,
	 HTTP_DB, "email_subscriptions_get"},
	{"POST", "/api/v1/email-subscriptions", api_email_subscriptions_post,
	 HTTP_DB, "email_subscriptions_post"},
	{"DELETE", "/api/v1/email-subscriptions/{id}",
	 api_email_subscription_delete, HTTP_DB, "email_subscription_delete"},
	{"GET", "/api/v1/help-requests", api_help_requests_get, HTTP_DB,
	 "help_requests_get"},
	{"POST", "/api/v1/help-requests", api_help_requests_post, HTTP_DB,
	 "help_requests_post"},
	{"GET", "/api/v1/help-requests/{id}", api_help_request_get, HTTP_DB,
	 "help_request_get"},
	{"POST", "/api/v1/help-requests/{id}/close", api_help_request_close,
	 HTTP_DB, "help_request_close"},
	{"GET", "/api/v1/allocations", api_allocations_get, HTTP_DB,
	 "allocations_get"},
	{"POST", "/api/v1/allocations", api_allocations_post, HTTP_DB,
	 "allocations_post"},
	{"GET", "/api/v1/allocations/{id}", api_allocation_get, HTTP_DB,
	 "allocation_get"},
	{"GET", "/api/v1/proposals", api_proposals_get, HTTP_DB,
	 "proposals_get"},
	{"GET", "/api/v1/proposals/{id}", api_proposal_get, HTTP_DB,
	 "proposal_get"},
	{"POST", "/api/v1/proposals/{id}/approve", api_proposal_approve,
	 HTTP_DB, "proposal_approve"},
	{"POST", "/api/v1/proposals/{id}/decline", api_proposal_decline,
	 HTTP_DB, "proposal_decline"},
	{"POST", "/api/v1/proposals/{id}/ship", api_proposal_ship, HTTP_DB,
	 "proposal_ship"},
	{"POST", "/api/v1/proposals/{id}/receive", api_proposal_receive,
	 HTTP_DB, "proposal_receive"},
	{"POST", "/api/v1/proposals/{id}/cancel", api_proposal_cancel, HTTP_DB,
	 "proposal_cancel"},
	{"POST", "/api/v1/proposals/{id}/return", api_proposal_return, HTTP_DB,
	 "proposal_return"},
	{"GET", "/api/v1/plans", api_plans_get, HTTP_DB, "plans_get"},
	{"POST", "/api/v1/plans", api_plans_post, HTTP_DB, "plans_post"},
	{"GET", "/api/v1/plans/{id}", api_plan_get, HTTP_DB, "plan_get"},
	{"GET", "/api/v1/in-transit", api_in_transit_get, HTTP_DB,
	 "in_transit_get"},
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
