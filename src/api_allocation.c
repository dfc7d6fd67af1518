/*
 * api_allocation.c -- /api/v1 regional sharing: help requests, allocator
 * runs, proposals and their steps, build-up plans, stock in transit.
 *
 *   GET  /api/v1/help-requests          ?status, region, product, limit
 *   POST /api/v1/help-requests          {region, product, quantity | days,
 *                                        urgency, reason, run}
 *   GET  /api/v1/help-requests/{id}     with its runs and proposals
 *   POST /api/v1/help-requests/{id}/close   {status, reason}
 *   GET  /api/v1/allocations            ?problem, product, limit
 *   POST /api/v1/allocations            run the allocator (coordinators)
 *   GET  /api/v1/allocations/{id}       the run explained, a page of its
 *                                       products: ?product, after, limit
 *   GET  /api/v1/proposals              ?status, region, run, product,
 *                                       limit, before
 *   GET  /api/v1/proposals/{id}         with shipment and history
 *   POST /api/v1/proposals/{id}/approve|decline|ship|receive|cancel|return
 *   GET  /api/v1/plans                  ?product, limit
 *   POST /api/v1/plans                  {product, capacity: [packs...], ...}
 *   GET  /api/v1/plans/{id}             JSON; CSV with ?format=csv or
 *                                       /plans/{id}.csv
 *   GET  /api/v1/in-transit             ?product: on hand, in transit, lost
 *
 * Who may do what is src/allocation.h's to decide (and row-level
 * security's behind it); the handlers only refuse first what a role can
 * never do, so that a refusal does not depend on the body.  Each request
 * is one transaction: a refusal or a failure writes nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocation.h"
#include "api_handlers.h"
#include "apiutil.h"
#include "catalog.h"
#include "jsonin.h"
#include "ledger.h"
#include "readiness.h"
#include "validate.h"

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
/* Products one request may name; a larger run is the command line's. */
#define PRODUCTS_PER_REQUEST 1000

/* ---- shared pieces ---- */

/* The id in the path (params[0]).  -1 with a 400 on res. */
static int path_id(struct http_request *req, struct http_response *res,
		   int64_t *id)
{
	struct err e = {0};

	if (parse_int64(req->params[0], 1, INT64_MAX, id, "id", &e) < 0) {
		http_error_from(res, &e);
		return -1;
	}
	return 0;
}

/* Refuse import jobs, which read and write none of this. */
static bool refused_importer(struct http_request *req,
			     struct http_response *res)
{
	if (req->who->role != ROLE_IMPORTER)
		return false;
	http_error(res, 403, "forbidden", NULL,
		   "an import job pushes its feed only; help requests, runs "
		   "and proposals are the regions' and coordinators'");
	return true;
}

/* Resolve a product identifier in the request's transaction: unknown is
 * bad input (field product), not a missing resource. */
static int find_product(struct http_request *req, const char *key, int64_t *id,
			struct err *e)
{
	struct product_ref ref;

	if (catalog_find_product(req->db, key, &ref, e) < 0) {
		if (e->code == ERR_NOT_FOUND)
			e->code = ERR_INVALID;
		snprintf(e->field, sizeof(e->field), "product");
		return -1;
	}
	*id = ref.id;
	return 0;
}

/* ?product= resolved, 0 when absent.  Runs in the open transaction. */
static int query_product(struct http_request *req, int64_t *id, struct err *e)
{
	const char *key = http_query(req, "product");

	*id = 0;
	if (!key)
		return 0;
	if (catalog_check_product_key(key, e) < 0)
		return -1;
	return find_product(req, key, id, e);
}

/* An integer member in [min, max] into *out (unchanged when absent). */
static int int_member(const json_t *body, const char *key, int64_t min,
		      int64_t max, int64_t *out, struct err *e)
{
	int64_t v;

	if (!jsonin_int(body, key, &v))
		return 0;
	if (v < min || v > max)
		return err_set(e, ERR_INVALID, key,
			       "%s %" PRId64 ": must be %" PRId64
			       " to %" PRId64,
			       key, v, min, max);
	*out = v;
	return 0;
}

/* A request body that may be absent: NULL with no error when empty. */
static int optional_body(struct http_request *req, struct http_response *res,
			 json_t **body)
{
	*body = NULL;
	if (req->body_len == 0)
		return 0;
	*body = http_body_json(req, res);
	if (!*body)
		return -1;
	if (!json_is_object(*body)) {
		http_error(res, 400, "invalid", NULL,
			   "the body must be an object");
		json_decref(*body);
		*body = NULL;
		return -1;
	}
	return 0;
}

/* Answer a failure of a request's transaction, rolling it back. */
static void fail_tx(struct http_request *req, struct http_response *res,
		    const struct err *e)
{
	db_rollback(req->db);
	http_error_from(res, e);
}

/* Commit and answer status with j (stolen), or answer the failure. */
static void commit_answer(struct http_request *req, struct http_response *res,
			  int status, json_t *j)
{
	struct err e = {0};

	if (db_commit(req->db, &e) < 0) {
		json_decref(j);
		fail_tx(req, res, &e);
		return;
	}
	http_json(res, status, j);
}

/* ---- help requests ---- */

void api_help_requests_get(struct http_request *req, struct http_response *res)
{
	struct err e = {0};
	json_t *list = NULL;
	int64_t pid;
	long limit;

	res->status = 500;
	if (refused_importer(req, res) ||
	    api_limit(req, res, 100, ALLOCATION_LIST_MAX, &limit) < 0 ||
	    api_begin(req, res) < 0)
		return;
	if (query_product(req, &pid, &e) < 0 ||
	    allocation_help_list(req->db, req->who, http_query(req, "status"),
				 http_query(req, "region"), pid, limit, &list,
				 &e) < 0) {
		fail_tx(req, res, &e);
		return;
	}
	db_rollback(req->db);
	http_json(res, 200, json_pack("{s:o}", "help_requests", list));
}

/* days may come as a number or a decimal string; the domain takes text. */
static void days_as_text(json_t *body, char buf[40])
{
	json_t *v = json_object_get(body, "days");

	if (json_is_integer(v)) {
		snprintf(buf, 40, "%" PRId64, (int64_t)json_integer_value(v));
		json_object_set_new(body, "days", json_string(buf));
	} else if (json_is_real(v)) {
		/* All digits: a third decimal is refused, not rounded. */
		snprintf(buf, 40, "%.15g", json_real_value(v));
		json_object_set_new(body, "days", json_string(buf));
	}
}

void api_help_requests_post(struct http_request *req, struct http_response *res)
{
	static const struct jsonin_field fields[] = {
		{"region", JSONIN_STRING, false},
		{"product", JSONIN_STRING, true},
		{"quantity", JSONIN_INTEGER, false},
		{"days", JSONIN_STRING, false},
		{"urgency", JSONIN_STRING, false},
		{"reason", JSONIN_STRING, true},
		{"run", JSONIN_BOOLEAN, false},
	};
	struct allocation_help h = {0};
	struct err e = {0};
	json_t *body = NULL, *out = NULL;
	char dbuf[40];
	int64_t id, run_id;
	bool run = true;

	res->status = 500;
	if (req->who->role != ROLE_REGION_CONTACT &&
	    req->who->role != ROLE_COORDINATOR) {
		http_error(res, 403, "forbidden", NULL,
			   "a %s does not ask for help: a region's contact "
			   "person does, or a coordinator on its word",
			   auth_role_name(req->who->role));
		return;
	}
	body = http_body_json(req, res);
	if (!body)
		return;
	if (!json_is_object(body)) {
		err_set(&e, ERR_INVALID, NULL, "the body must be an object");
		goto bad;
	}
	days_as_text(body, dbuf);
	if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0 ||
	    int_member(body, "quantity", 1, LEDGER_QTY_MAX, &h.quantity, &e) <
		    0 ||
	    catalog_check_product_key(jsonin_str(body, "product"), &e) < 0)
		goto bad;
	h.region = jsonin_str(body, "region");
	if (!h.region) {
		if (!req->who->region[0]) {
			err_set(&e, ERR_INVALID, "region",
				"region: missing; a coordinator names the "
				"region asking");
			goto bad;
		}
		h.region = req->who->region;
	}
	h.days = jsonin_str(body, "days");
	h.urgency = jsonin_str(body, "urgency");
	h.reason = jsonin_str(body, "reason");
	h.product_id = 1; /* until looked up: the check needs one */
	if (json_is_false(json_object_get(body, "run")))
		run = false;
	if (allocation_help_check(&h, &e) < 0)
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	if (find_product(req, jsonin_str(body, "product"), &h.product_id, &e) <
		    0 ||
	    allocation_help_create(req->db, req->who, &h, run, &id, &run_id,
				   &e) < 0 ||
	    allocation_help_get(req->db, req->who, id, &out, &e) < 0) {
		fail_tx(req, res, &e);
		goto out;
	}
	commit_answer(req, res, 201, out);
	goto out;
bad:
	http_error_from(res, &e);
out:
	json_decref(body);
}

void api_help_request_get(struct http_request *req, struct http_response *res)
{
	struct err e = {0};
	json_t *out = NULL;
	int64_t id;

	res->status = 500;
	if (refused_importer(req, res) || path_id(req, res, &id) < 0 ||
	    api_begin(req, res) < 0)
		return;
	if (allocation_help_get(req->db, req->who, id, &out, &e) < 0) {
		fail_tx(req, res, &e);
		return;
	}
	db_rollback(req->db);
	http_json(res, 200, out);
}

void api_help_request_close(struct http_request *req, struct http_response *res)
{
	static const struct jsonin_field fields[] = {
		{"status", JSONIN_STRING, true},
		{"reason", JSONIN_STRING, true},
	};
	struct err e = {0};
	json_t *body = NULL, *out = NULL;
	int64_t id;

	res->status = 500;
	if (req->who->role != ROLE_REGION_CONTACT &&
	    req->who->role != ROLE_COORDINATOR) {
		http_error(res, 403, "forbidden", NULL,
			   "a %s does not close help requests: the region "
			   "or a coordinator does",
			   auth_role_name(req->who->role));
		return;
	}
	if (path_id(req, res, &id) < 0)
		return;
	body = http_body_json(req, res);
	if (!body)
		return;
	if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0) {
		http_error_from(res, &e);
		goto out;
	}
	if (api_begin(req, res) < 0)
		goto out;
	if (allocation_help_close(req->db, req->who, id,
				  jsonin_str(body, "status"),
				  jsonin_str(body, "reason"), &e) < 0 ||
	    allocation_help_get(req->db, req->who, id, &out, &e) < 0) {
		fail_tx(req, res, &e);
		goto out;
	}
	commit_answer(req, res, 200, out);
out:
	json_decref(body);
}

/* ---- runs ---- */

struct run_body {
	struct allocation_params p;
	int64_t *products;
	int64_t capacity[ALLOCATOR_WEEKS_MAX];
};

/*
 * Read a run's parameters from body: the problem's fields only.  Products
 * are resolved later, in the transaction (body_products).
 */
static int run_params(json_t *body, bool plan, struct run_body *rb,
		      struct err *e)
{
	static const struct jsonin_field fields[] = {
		{"problem", JSONIN_STRING, false},
		{"product", JSONIN_STRING, false},
		{"window_days", JSONIN_INTEGER, false},
		{"floor_days", JSONIN_INTEGER, false},
		{"min_transfer", JSONIN_INTEGER, false},
		{"min_shelf_days", JSONIN_INTEGER, false},
		{"idle_gives", JSONIN_BOOLEAN, false},
		{"idle_keep_packs", JSONIN_INTEGER, false},
		{"quantity", JSONIN_INTEGER, false},
		{"key", JSONIN_STRING, false},
		{"hybrid_key", JSONIN_STRING, false},
		{"reserve", JSONIN_INTEGER, false},
		{"weeks", JSONIN_INTEGER, false},
		{"start", JSONIN_STRING, false},
		{"target_days", JSONIN_INTEGER, false},
	};
	struct allocation_params *p = &rb->p;
	enum allocation_problem problem =
		plan ? ALLOCATION_PLAN : ALLOCATION_SHARE;
	const char *s, *key;
	json_t *v, *cap = NULL, *products = NULL;
	int64_t x;
	size_t i;

	if (!json_is_object(body))
		return err_set(e, ERR_INVALID, NULL,
			       "the body must be an object");
	/* Arrays first: jsonin knows scalars only. */
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "products") == 0)
			products = v;
		else if (strcmp(key, "capacity") == 0)
			cap = v;
	}
	if (products || cap) {
		json_t *rest = json_copy(body);
		int rc;

		json_object_del(rest, "products");
		json_object_del(rest, "capacity");
		rc = jsonin_check(rest, fields, NFIELDS(fields), "", e);
		json_decref(rest);
		if (rc < 0)
			return -1;
	} else if (jsonin_check(body, fields, NFIELDS(fields), "", e) < 0) {
		return -1;
	}
	s = jsonin_str(body, "problem");
	if (s && allocation_problem_parse(s, &problem, "problem", e) < 0)
		return -1;
	if (plan && problem != ALLOCATION_PLAN)
		return err_set(e, ERR_INVALID, "problem",
			       "problem %s: /api/v1/plans makes plans; runs "
			       "are made at /api/v1/allocations",
			       s);
	allocation_params_default(p, problem);
	json_object_foreach(body, key, v)
	{
		if (allocation_param_takes(problem, key, e) < 0)
			return -1;
	}
	if (!!jsonin_str(body, "product") == !!products)
		return err_set(e, ERR_INVALID, "product",
			       "product: give product or products (an array), "
			       "one of them");
	if (products &&
	    (!json_is_array(products) || json_array_size(products) == 0 ||
	     json_array_size(products) > PRODUCTS_PER_REQUEST))
		return err_set(e, ERR_INVALID, "products",
			       "products: an array of 1 to %d product "
			       "identifiers",
			       PRODUCTS_PER_REQUEST);
	json_array_foreach(products, i, v)
	{
		if (!json_is_string(v) ||
		    catalog_check_product_key(json_string_value(v), e) < 0) {
			if (json_is_string(v))
				err_prefix(e, "products[%zu]: ", i);
			else
				err_set(e, ERR_INVALID, "products",
					"products[%zu]: must be a string", i);
			snprintf(e->field, sizeof(e->field), "products");
			return -1;
		}
	}
	if (jsonin_str(body, "product") &&
	    catalog_check_product_key(jsonin_str(body, "product"), e) < 0)
		return -1;
	x = 0;
	if (int_member(body, "window_days", 1, READINESS_WINDOW_MAX, &x, e) < 0)
		return -1;
	p->window_days = (int)x;
	x = -1;
	if (int_member(body, "floor_days", 0, ALLOCATION_DAYS_MAX, &x, e) < 0)
		return -1;
	p->floor_days = (int)x;
	x = -1;
	if (int_member(body, "target_days", 0, ALLOCATION_DAYS_MAX, &x, e) < 0)
		return -1;
	p->target_days = (int)x;
	x = p->min_shelf_days;
	if (int_member(body, "min_shelf_days", 0, ALLOCATION_DAYS_MAX, &x, e) <
	    0)
		return -1;
	p->min_shelf_days = (int)x;
	if (int_member(body, "min_transfer", 0, LEDGER_QTY_MAX,
		       &p->min_transfer, e) < 0 ||
	    int_member(body, "idle_keep_packs", 0, LEDGER_QTY_MAX,
		       &p->idle_keep_packs, e) < 0 ||
	    int_member(body, "quantity", 1, LEDGER_QTY_MAX, &p->quantity, e) <
		    0)
		return -1;
	p->idle_gives = json_is_true(json_object_get(body, "idle_gives"));
	if ((s = jsonin_str(body, "key")) &&
	    allocator_key_parse(s, &p->key, "key", e) < 0)
		return -1;
	if ((s = jsonin_str(body, "hybrid_key")) &&
	    allocator_key_parse(s, &p->hybrid_key, "hybrid_key", e) < 0)
		return -1;
	x = 0;
	if (int_member(body, "reserve", 0, 100, &x, e) < 0)
		return -1;
	p->reserve_pct = (int)x;
	p->start = jsonin_str(body, "start");
	if (cap) {
		if (!json_is_array(cap) || json_array_size(cap) == 0 ||
		    json_array_size(cap) > ALLOCATOR_WEEKS_MAX)
			return err_set(e, ERR_INVALID, "capacity",
				       "capacity: an array of 1 to %d weeks' "
				       "packs",
				       ALLOCATOR_WEEKS_MAX);
		json_array_foreach(cap, i, v)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				return err_set(e, ERR_INVALID, "capacity",
					       "capacity[%zu]: must be a whole "
					       "number of packs, 0 or more",
					       i);
			rb->capacity[i] = (int64_t)json_integer_value(v);
		}
		p->capacity = rb->capacity;
		p->weeks = (int)json_array_size(cap);
	}
	x = p->weeks;
	if (int_member(body, "weeks", 1, ALLOCATOR_WEEKS_MAX, &x, e) < 0)
		return -1;
	if (cap && x != p->weeks)
		return err_set(e, ERR_INVALID, "weeks",
			       "weeks %" PRId64 ": the capacity has %d weeks",
			       x, p->weeks);
	if (problem == ALLOCATION_PLAN && !cap)
		return err_set(e, ERR_INVALID, "capacity",
			       "capacity: missing; the packs of national "
			       "extra capacity per week");
	p->weeks = (int)x;
	p->nproducts = products ? json_array_size(products) : 1;
	/* Products are resolved in the transaction; a placeholder checks. */
	rb->products = calloc(p->nproducts, sizeof(*rb->products));
	if (!rb->products)
		return err_set(e, ERR_INTERNAL, "", "out of memory");
	for (size_t k = 0; k < p->nproducts; k++)
		rb->products[k] = (int64_t)k + 1;
	p->products = rb->products;
	return allocation_params_check(p, e);
}

static int body_products(struct http_request *req, const json_t *body,
			 struct run_body *rb, struct err *e)
{
	const json_t *products = json_object_get(body, "products");

	if (!products)
		return find_product(req, jsonin_str(body, "product"),
				    &rb->products[0], e);
	for (size_t i = 0; i < json_array_size(products); i++)
		if (find_product(req,
				 json_string_value(json_array_get(products, i)),
				 &rb->products[i], e) < 0)
			return err_prefix(e, "products[%zu]: ", i);
	return 0;
}

static void post_run(struct http_request *req, struct http_response *res,
		     bool plan)
{
	struct run_body rb = {0};
	struct err e = {0};
	json_t *body = NULL, *out = NULL;
	int64_t id;

	res->status = 500;
	if (req->who->role != ROLE_COORDINATOR) {
		http_error(res, 403, "forbidden", NULL,
			   "a %s does not run the allocator: coordinators do "
			   "(a region asks with a help request)",
			   auth_role_name(req->who->role));
		return;
	}
	body = http_body_json(req, res);
	if (!body)
		return;
	if (run_params(body, plan, &rb, &e) < 0) {
		http_error_from(res, &e);
		goto out;
	}
	if (api_begin(req, res) < 0)
		goto out;
	if (body_products(req, body, &rb, &e) < 0 ||
	    allocation_run(req->db, req->who, &rb.p, &id, &e) < 0 ||
	    allocation_get(req->db, req->who, id, NULL, &out, &e) < 0) {
		fail_tx(req, res, &e);
		goto out;
	}
	commit_answer(req, res, 201, out);
out:
	free(rb.products);
	json_decref(body);
}

void api_allocations_post(struct http_request *req, struct http_response *res)
{
	post_run(req, res, false);
}

static void list_runs(struct http_request *req, struct http_response *res,
		      const char *problem, const char *member)
{
	struct err e = {0};
	json_t *list = NULL;
	int64_t pid;
	long limit;

	res->status = 500;
	if (refused_importer(req, res) ||
	    api_limit(req, res, 50, ALLOCATION_LIST_MAX, &limit) < 0 ||
	    api_begin(req, res) < 0)
		return;
	if (query_product(req, &pid, &e) < 0 ||
	    allocation_list(req->db, req->who, problem, pid, limit, &list, &e) <
		    0) {
		fail_tx(req, res, &e);
		return;
	}
	db_rollback(req->db);
	http_json(res, 200, json_pack("{s:o}", member, list));
}

void api_allocations_get(struct http_request *req, struct http_response *res)
{
	list_runs(req, res, http_query(req, "problem"), "allocations");
}

/* A keyset cursor (?name=, an id >= 1) into *out, 0 when absent.  -1 with
 * a 400 on res. */
static int query_cursor(struct http_request *req, struct http_response *res,
			const char *name, int64_t *out)
{
	const char *v = http_query(req, name);
	struct err e = {0};

	*out = 0;
	if (v && parse_int64(v, 1, INT64_MAX, out, name, &e) < 0) {
		http_error_from(res, &e);
		return -1;
	}
	return 0;
}

void api_allocation_get(struct http_request *req, struct http_response *res)
{
	struct allocation_page pg = {0};
	struct err e = {0};
	json_t *out = NULL;
	int64_t id;

	res->status = 500;
	if (refused_importer(req, res) || path_id(req, res, &id) < 0 ||
	    api_limit(req, res, ALLOCATION_PAGE_DEFAULT, ALLOCATION_PAGE_MAX,
		      &pg.limit) < 0 ||
	    query_cursor(req, res, "after", &pg.after) < 0 ||
	    api_begin(req, res) < 0)
		return;
	if (query_product(req, &pg.product_id, &e) < 0 ||
	    allocation_get(req->db, req->who, id, &pg, &out, &e) < 0) {
		fail_tx(req, res, &e);
		return;
	}
	db_rollback(req->db);
	http_json(res, 200, out);
}

/* ---- proposals ---- */

void api_proposals_get(struct http_request *req, struct http_response *res)
{
	const char *run = http_query(req, "run");
	struct allocation_filter f = {
		.status = http_query(req, "status"),
		.region = http_query(req, "region"),
	};
	struct err e = {0};
	json_t *list = NULL;
	int64_t next;

	res->status = 500;
	if (refused_importer(req, res) ||
	    api_limit(req, res, 100, ALLOCATION_LIST_MAX, &f.limit) < 0 ||
	    query_cursor(req, res, "before", &f.before) < 0)
		return;
	if (run && parse_int64(run, 1, INT64_MAX, &f.run_id, "run", &e) < 0) {
		http_error_from(res, &e);
		return;
	}
	if (api_begin(req, res) < 0)
		return;
	if (query_product(req, &f.product_id, &e) < 0 ||
	    allocation_proposal_list(req->db, req->who, &f, &list, &next, &e) <
		    0) {
		fail_tx(req, res, &e);
		return;
	}
	db_rollback(req->db);
	http_json(res, 200,
		  json_pack("{s:o, s:o}", "proposals", list, "next",
			    next ? json_integer(next) : json_null()));
}

void api_proposal_get(struct http_request *req, struct http_response *res)
{
	struct err e = {0};
	json_t *out = NULL;
	int64_t id;

	res->status = 500;
	if (refused_importer(req, res) || path_id(req, res, &id) < 0 ||
	    api_begin(req, res) < 0)
		return;
	if (allocation_proposal_get(req->db, req->who, id, &out, &e) < 0) {
		fail_tx(req, res, &e);
		return;
	}
	db_rollback(req->db);
	http_json(res, 200, out);
}

/*
 * One step of a proposal.  A step that moves stock answers 201 (an event
 * recorded) or 200 for a retry; a decision answers 200.
 */
static void proposal_step(struct http_request *req, struct http_response *res,
			  enum allocation_action action)
{
	static const struct jsonin_field fields[] = {
		{"reason", JSONIN_STRING, false},
		{"quantity", JSONIN_INTEGER, false},
		{"site", JSONIN_STRING, false},
	};
	struct allocation_act a = {.action = action, .quantity = -1};
	struct err e = {0};
	json_t *body = NULL, *out = NULL;
	bool replayed = false, moves;
	int64_t id;

	res->status = 500;
	if (req->who->role != ROLE_REGION_CONTACT &&
	    !(req->who->role == ROLE_COORDINATOR &&
	      action == ALLOCATION_CANCEL)) {
		http_error(res, 403, "forbidden", NULL,
			   req->who->role == ROLE_COORDINATOR ?
				   "coordinators see every proposal but do not "
				   "decide for a region: the giving region's "
				   "contact person does (%s)" :
				   "a region's contact person does this (%s)",
			   allocation_action_name(action));
		return;
	}
	if (path_id(req, res, &id) < 0 || optional_body(req, res, &body) < 0)
		return;
	if (body) {
		if (jsonin_check(body, fields, NFIELDS(fields), "", &e) < 0 ||
		    int_member(body, "quantity", 0, LEDGER_QTY_MAX, &a.quantity,
			       &e) < 0)
			goto bad;
		a.reason = jsonin_str(body, "reason");
		a.site = jsonin_str(body, "site");
	}
	if (allocation_act_check(&a, &e) < 0)
		goto bad;
	if (api_begin(req, res) < 0)
		goto out;
	if (allocation_proposal_act(req->db, req->who, id, &a, &replayed, &e) <
		    0 ||
	    allocation_proposal_get(req->db, req->who, id, &out, &e) < 0) {
		fail_tx(req, res, &e);
		goto out;
	}
	json_object_set_new(out, "replayed", json_boolean(replayed));
	moves = action == ALLOCATION_SHIP || action == ALLOCATION_RECEIVE ||
		action == ALLOCATION_RETURN;
	commit_answer(req, res, moves && !replayed ? 201 : 200, out);
	goto out;
bad:
	http_error_from(res, &e);
out:
	json_decref(body);
}

void api_proposal_approve(struct http_request *req, struct http_response *res)
{
	proposal_step(req, res, ALLOCATION_APPROVE);
}

void api_proposal_decline(struct http_request *req, struct http_response *res)
{
	proposal_step(req, res, ALLOCATION_DECLINE);
}

void api_proposal_ship(struct http_request *req, struct http_response *res)
{
	proposal_step(req, res, ALLOCATION_SHIP);
}

void api_proposal_receive(struct http_request *req, struct http_response *res)
{
	proposal_step(req, res, ALLOCATION_RECEIVE);
}

void api_proposal_cancel(struct http_request *req, struct http_response *res)
{
	proposal_step(req, res, ALLOCATION_CANCEL);
}

void api_proposal_return(struct http_request *req, struct http_response *res)
{
	proposal_step(req, res, ALLOCATION_RETURN);
}

/* ---- plans ---- */

void api_plans_get(struct http_request *req, struct http_response *res)
{
	list_runs(req, res, "plan", "plans");
}

void api_plans_post(struct http_request *req, struct http_response *res)
{
	post_run(req, res, true);
}

void api_plan_get(struct http_request *req, struct http_response *res)
{
	const char *format = http_query(req, "format");
	char idtext[32];
	struct err e = {0};
	json_t *out = NULL;
	size_t n = strlen(req->params[0]);
	bool csv = false;
	char *text = NULL;
	size_t len;
	int64_t id;

	res->status = 500;
	if (refused_importer(req, res))
		return;
	/* /plans/7.csv is /plans/7?format=csv. */
	snprintf(idtext, sizeof(idtext), "%s", req->params[0]);
	if (n > 4 && n < sizeof(idtext) &&
	    strcmp(req->params[0] + n - 4, ".csv") == 0) {
		idtext[n - 4] = '\0';
		csv = true;
	}
	if (format && strcmp(format, "csv") != 0 &&
	    strcmp(format, "json") != 0) {
		http_error(res, 400, "invalid", "format",
			   "format \"%.20s\": csv or json", format);
		return;
	}
	if (format)
		csv = csv || strcmp(format, "csv") == 0;
	if (parse_int64(idtext, 1, INT64_MAX, &id, "id", &e) < 0) {
		http_error_from(res, &e);
		return;
	}
	if (api_begin(req, res) < 0)
		return;
	if (csv) {
		if (allocation_plan_csv(req->db, req->who, id, &text, &len,
					&e) < 0) {
			fail_tx(req, res, &e);
			return;
		}
		db_rollback(req->db);
		res->status = 200;
		res->text = text;
		res->content_type = "text/csv; charset=utf-8";
		return;
	}
	if (allocation_get(req->db, req->who, id, NULL, &out, &e) < 0) {
		fail_tx(req, res, &e);
		return;
	}
	db_rollback(req->db);
	if (json_is_null(json_object_get(out, "plan"))) {
		json_decref(out);
		http_error(res, 404, "not_found", "id",
			   "run %" PRId64 " is not a plan", id);
		return;
	}
	http_json(res, 200, out);
}

/* ---- stock in transit ---- */

void api_in_transit_get(struct http_request *req, struct http_response *res)
{
	struct err e = {0};
	json_t *list = NULL;
	int64_t pid;

	res->status = 500;
	if (api_begin(req, res) < 0)
		return;
	if (query_product(req, &pid, &e) < 0 ||
	    allocation_totals(req->db, pid, &list, &e) < 0) {
		fail_tx(req, res, &e);
		return;
	}
	db_rollback(req->db);
	http_json(res, 200, json_pack("{s:o}", "products", list));
}
