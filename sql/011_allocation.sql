-- 011_allocation.sql -- regional sharing in the database: help requests,
-- allocator runs with their inputs and results, proposals and the giving
-- region's decision on them, shipments in transit, and build-up plans.
--
-- The arithmetic is src/allocator.c (pure); the workflow is
-- src/allocation.c.  Stock moves only through the ledger (transfer_out when
-- shipped, transfer_in when received or returned, src/ledger.c); this
-- migration keeps what the ledger cannot know: what is on the road.  The
-- national total of a product,
--     sum of balances + in transit + lost in transit,
-- is the same before and after every step of the chain
-- (allocation_national_total below).
--
-- Who may (row-level security behind the handlers' own checks):
--   help_request   everyone but import jobs reads; a region's contact
--                  person asks for their own region, a coordinator (or
--                  the system) on a region's word -- a region in disaster
--                  may be unable to reach the service itself.
--   allocation_run coordinators and the system run the allocator; a
--                  contact person's help request runs it for that one
--                  request.  Everyone but import jobs reads runs and plans
--                  (the region-level inputs are the shared national
--                  picture; src/allocation.c shows a region-scoped caller
--                  only its own lots).
--   proposal       the two regions of a proposal and the national roles
--                  see it.  Only the giving region's contact person (or
--                  the system) approves, declines, ships or takes back a
--                  return; the receiving region's receives; a coordinator
--                  may cancel a proposal before it ships, never decide it.
-- Import jobs see none of it: they push their feed and nothing else.

-- New values are usable once this migration has committed; only PL/pgSQL
-- below names them, and only when it runs.
ALTER TYPE alert_rule ADD VALUE IF NOT EXISTS 'obligatory_decline';
ALTER TYPE alert_rule ADD VALUE IF NOT EXISTS 'behind_plan';

CREATE TYPE help_urgency AS ENUM ('routine', 'urgent', 'critical');
CREATE TYPE help_status AS ENUM ('open', 'fulfilled', 'closed', 'withdrawn');
CREATE TYPE allocation_problem AS ENUM ('share', 'supply', 'plan');
CREATE TYPE proposal_status AS ENUM (
	'proposed', 'approved', 'declined', 'shipped', 'received', 'cancelled',
	'returned'
);
CREATE TYPE shipment_status AS ENUM ('in_transit', 'received', 'returned');

-- Everyone authenticated but an import job.
CREATE FUNCTION lb_allocation_reader() RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(lb_role() <> 'importer', false)
$$;

-- Is a region in katastroftillstånd now (its latest declared state)?
CREATE FUNCTION allocation_in_disaster(p_region char(2)) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT coalesce((SELECT state = 'disaster' FROM region_state_history
			  WHERE region_code = p_region
			  ORDER BY id DESC LIMIT 1), false)
$$;

-- Where a region receives: its central store, else its first active site
-- (NULL when it has none; the receiver then names a site at receipt).
CREATE FUNCTION allocation_receiving_site(p_region char(2)) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT id FROM site WHERE region_code = p_region AND active
	 ORDER BY kind = 'central' DESC, id LIMIT 1
$$;

-- ---- help requests (hjälpanmälan) ----

-- A region asks for a product: a quantity in base units or a number of
-- days of its own consumption.  Open until fulfilled, closed (by the
-- region or a coordinator) or withdrawn (by the region).
CREATE TABLE help_request (
	region_code char(2) NOT NULL REFERENCES region (code),
	id bigint GENERATED ALWAYS AS IDENTITY,
	product_id bigint NOT NULL REFERENCES product (id),
	quantity bigint CHECK (quantity BETWEEN 1 AND 1000000000000),
	days numeric(7, 2) CHECK (days > 0 AND days <= 3650),
	urgency help_urgency NOT NULL DEFAULT 'routine',
	reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
	status help_status NOT NULL DEFAULT 'open',
	created_by text NOT NULL,
	created_role text,
	created_at timestamptz NOT NULL DEFAULT now(),
	closed_by text,
	closed_at timestamptz,
	close_reason text CHECK (length(close_reason) BETWEEN 1 AND 1000),
	PRIMARY KEY (region_code, id),
	CHECK ((quantity IS NULL) <> (days IS NULL)),
	CHECK ((status = 'open') = (closed_at IS NULL)),
	CHECK ((closed_at IS NULL) = (closed_by IS NULL)),
	CHECK (closed_at IS NULL OR close_reason IS NOT NULL)
);
-- Looked up by id alone (the API's /help-requests/{id}); not unique, so
-- that it shards as it is.
CREATE INDEX help_request_by_id ON help_request (id);
CREATE INDEX help_request_open ON help_request (product_id)
	WHERE status = 'open';

CREATE FUNCTION help_request_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		NEW.created_by := coalesce(lb_setting('actor'), session_user);
		NEW.created_role := lb_role();
		NEW.created_at := now();
		NEW.status := 'open';
		NEW.closed_by := NULL;
		NEW.closed_at := NULL;
		NEW.close_reason := NULL;
		RETURN NEW;
	END IF;
	IF (NEW.region_code, NEW.id, NEW.product_id, NEW.quantity, NEW.days,
	    NEW.urgency, NEW.reason, NEW.created_by, NEW.created_role,
	    NEW.created_at)
	   IS DISTINCT FROM
	   (OLD.region_code, OLD.id, OLD.product_id, OLD.quantity, OLD.days,
	    OLD.urgency, OLD.reason, OLD.created_by, OLD.created_role,
	    OLD.created_at) THEN
		RAISE EXCEPTION USING ERRCODE = 'LB007',
			MESSAGE = 'a help request is not edited: close it and '
				  'make a new one';
	END IF;
	IF OLD.status <> 'open' THEN
		RAISE EXCEPTION USING ERRCODE = 'LB005',
			MESSAGE = format('help request %s is already %s',
					 OLD.id, OLD.status);
	END IF;
	IF NEW.status = 'open' OR NEW.close_reason IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = 'a help request is closed once, with a '
				  'status and a reason';
	END IF;
	NEW.closed_by := coalesce(lb_setting('actor'), session_user);
	NEW.closed_at := now();
	RETURN NEW;
END
$$;
CREATE TRIGGER help_request_stamp BEFORE INSERT OR UPDATE ON help_request
	FOR EACH ROW EXECUTE FUNCTION help_request_stamp();
CREATE TRIGGER help_request_audit AFTER INSERT OR UPDATE ON help_request
	FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER help_request_no_delete BEFORE DELETE ON help_request
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER help_request_no_truncate BEFORE TRUNCATE ON help_request
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

ALTER TABLE help_request ENABLE ROW LEVEL SECURITY;
CREATE POLICY help_request_read ON help_request FOR SELECT TO lagerbild_app
	USING (lb_allocation_reader());
CREATE POLICY help_request_insert ON help_request FOR INSERT TO lagerbild_app
	WITH CHECK (lb_coordinates()
		    OR (lb_role() = 'region_contact'
			AND region_code = lb_region()));
CREATE POLICY help_request_update ON help_request FOR UPDATE TO lagerbild_app
	USING (lb_coordinates()
	       OR (lb_role() = 'region_contact' AND region_code = lb_region()))
	WITH CHECK (lb_coordinates()
		    OR (lb_role() = 'region_contact'
			AND region_code = lb_region()));
GRANT SELECT, INSERT (region_code, product_id, quantity, days, urgency,
		      reason),
	UPDATE (status, close_reason) ON help_request TO lagerbild_app;

-- ---- allocator runs ----

-- One run of one problem over one or more products.  params are the
-- parameters as given and as defaulted; algorithm_version is
-- ALLOCATOR_VERSION of the code that solved it.  A run started by a help
-- request names it.  Runs are never changed.
CREATE TABLE allocation_run (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	problem allocation_problem NOT NULL,
	params jsonb NOT NULL CHECK (jsonb_typeof(params) = 'object'),
	algorithm_version text NOT NULL
		CHECK (length(algorithm_version) BETWEEN 1 AND 32),
	-- The regions as the run saw them, in the order of every per-region
	-- array of its products: [{region, healthcare_region, population,
	-- in_disaster}].
	regions jsonb NOT NULL DEFAULT '[]'
		CHECK (jsonb_typeof(regions) = 'array'),
	-- The whole run at a glance, as it was written: products,
	-- products_moved, transfers, dropped, min_level, max_level,
	-- proposals, quantity, obligatory.
	summary jsonb NOT NULL DEFAULT '{}'
		CHECK (jsonb_typeof(summary) = 'object'),
	help_region char(2),
	help_request_id bigint,
	created_by text NOT NULL,
	created_role text,
	created_at timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (help_region, help_request_id)
		REFERENCES help_request (region_code, id),
	CHECK ((help_region IS NULL) = (help_request_id IS NULL))
);
CREATE INDEX allocation_run_help ON allocation_run (help_region,
						    help_request_id)
	WHERE help_request_id IS NOT NULL;

-- Per product of a run: the input snapshot, the level L reached (days;
-- NULL where the problem has none), and what the result needs beyond the
-- proposals.  Compact, because a national run has 20,000 of these: the
-- per-region inputs are arrays in the order of allocation_run.regions
-- (available stock, rate per day -- 0 when not known --, whether it is
-- known, floor and target days); the lots considered are four parallel
-- arrays (site, lot, expiry, quantity; the region is the site's).
-- receives: per region, what a supply or plan gives it (NULL for share,
-- whose gives and receives are its proposals').  result: the problem's
-- scalars (share: transfers, transfers_solved, dropped, help_request;
-- supply: packs, reserve_packs; plan: unused, week_reached, shortfall).
-- allocation_product_json puts it back together as the API shows it.
CREATE TABLE allocation_run_product (
	run_id bigint NOT NULL REFERENCES allocation_run (id),
	product_id bigint NOT NULL REFERENCES product (id),
	pack_size integer NOT NULL CHECK (pack_size >= 1),
	level double precision,
	stock bigint[] NOT NULL DEFAULT '{}',
	rate double precision[] NOT NULL DEFAULT '{}',
	rate_known boolean[] NOT NULL DEFAULT '{}',
	floor_days double precision[] NOT NULL DEFAULT '{}',
	target_days double precision[] NOT NULL DEFAULT '{}',
	receives bigint[],
	lot_site bigint[] NOT NULL DEFAULT '{}',
	lot_name text[] NOT NULL DEFAULT '{}',
	lot_expiry date[] NOT NULL DEFAULT '{}',
	lot_qty bigint[] NOT NULL DEFAULT '{}',
	result jsonb NOT NULL CHECK (jsonb_typeof(result) = 'object'),
	PRIMARY KEY (run_id, product_id),
	CHECK (cardinality(rate) = cardinality(stock)
	       AND cardinality(rate_known) = cardinality(stock)
	       AND cardinality(floor_days) = cardinality(stock)
	       AND cardinality(target_days) = cardinality(stock)
	       AND (receives IS NULL
		    OR cardinality(receives) = cardinality(stock))),
	CHECK (cardinality(lot_name) = cardinality(lot_site)
	       AND cardinality(lot_expiry) = cardinality(lot_site)
	       AND cardinality(lot_qty) = cardinality(lot_site))
);
CREATE INDEX allocation_run_product_product
	ON allocation_run_product (product_id, run_id);

CREATE FUNCTION allocation_run_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.created_by := coalesce(lb_setting('actor'), session_user);
	NEW.created_role := lb_role();
	NEW.created_at := now();
	RETURN NEW;
END
$$;
CREATE TRIGGER allocation_run_stamp BEFORE INSERT ON allocation_run
	FOR EACH ROW EXECUTE FUNCTION allocation_run_stamp();
CREATE TRIGGER allocation_run_no_update BEFORE UPDATE OR DELETE
	ON allocation_run FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER allocation_run_no_truncate BEFORE TRUNCATE ON allocation_run
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER allocation_run_product_no_update BEFORE UPDATE OR DELETE
	ON allocation_run_product
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER allocation_run_product_no_truncate BEFORE TRUNCATE
	ON allocation_run_product
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

-- May the caller write run data for a run of help request region?
CREATE FUNCTION lb_may_run(p_help_region char(2)) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(lb_coordinates()
			OR (lb_role() = 'region_contact'
			    AND p_help_region = lb_region()), false)
$$;

ALTER TABLE allocation_run ENABLE ROW LEVEL SECURITY;
CREATE POLICY allocation_run_read ON allocation_run FOR SELECT
	TO lagerbild_app USING (lb_allocation_reader());
CREATE POLICY allocation_run_insert ON allocation_run FOR INSERT
	TO lagerbild_app WITH CHECK (lb_may_run(help_region));
ALTER TABLE allocation_run_product ENABLE ROW LEVEL SECURITY;
CREATE POLICY allocation_run_product_read ON allocation_run_product
	FOR SELECT TO lagerbild_app USING (lb_allocation_reader());
-- A coordinator's rows pass without the run's lookup (OR stops there).
CREATE POLICY allocation_run_product_insert ON allocation_run_product
	FOR INSERT TO lagerbild_app
	WITH CHECK (lb_coordinates()
		    OR lb_may_run((SELECT r.help_region FROM allocation_run r
				    WHERE r.id = run_id)));
GRANT SELECT, INSERT (problem, params, algorithm_version, regions, summary,
		      help_region,
		      help_request_id) ON allocation_run TO lagerbild_app;
GRANT SELECT, INSERT ON allocation_run_product TO lagerbild_app;

-- The lots a run may move: every region's stock of the products that is
-- not expired and not in an open quarantine (the same rule as available
-- stock in readiness_inputs), ordered by product, region, expiry (none
-- last), site and lot.  Site-level
-- detail of every region, so it reads as its owner, for coordinators, the
-- system and a contact person's help request only.
--
-- A national run reads some 400,000 lots: they are sorted in memory, and
-- the quarantine is looked at per lot only when some lot is in one.
CREATE FUNCTION allocation_lots(p_products bigint[])
RETURNS TABLE (product_id bigint, region_code text, site_id bigint,
	       site_code text, lot text, expiry date, quantity bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT
SET work_mem = '64MB' AS $$
#variable_conflict use_column
BEGIN
	IF NOT coalesce(lb_role() IN ('coordinator', 'system',
				      'region_contact'), false) THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = 'only coordinators run the allocator';
	END IF;
	RETURN QUERY
	SELECT b.product_id, b.region_code::text, b.site_id, s.code::text,
	       b.lot, b.expiry, b.quantity
	  FROM stock_balance b
	  JOIN site s ON s.id = b.site_id
	 WHERE b.product_id = ANY (p_products) AND b.quantity > 0
	   AND (b.expiry IS NULL OR b.expiry >= lb_today())
	   AND (NOT EXISTS (SELECT 1 FROM lot_quarantine q
			     WHERE q.released_at IS NULL)
		OR NOT EXISTS (
		SELECT 1 FROM lot_quarantine q
		 WHERE q.region_code = b.region_code AND q.site_id = b.site_id
		   AND q.product_id = b.product_id AND q.lot = b.lot
		   AND q.released_at IS NULL))
	 ORDER BY b.product_id, b.region_code, b.expiry NULLS LAST, s.code,
		  b.lot;
END
$$;
REVOKE ALL ON FUNCTION allocation_lots(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_lots(bigint[]) TO lagerbild_app;

-- ---- proposals ----

-- One proposed movement of one lot from a site of the giving region to the
-- receiving region.  obligatory: the receiver was in disaster state when
-- it was proposed or when it was decided; a decline then needs a reason
-- and opens an alert.  Leads with the giving region, which decides.
-- A national run writes hundreds of thousands at once, and a foreign key
-- is a lookup per row: what they would check -- the run's product, the
-- giving site in the giving region, the receiving region and site -- is
-- checked once per statement by proposal_proposed instead.  None of it
-- can change afterwards: proposal_stamp keeps those columns, sites are
-- kept (site_kept), run products are never changed or deleted.
CREATE TABLE proposal (
	from_region char(2) NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY,
	run_id bigint NOT NULL,
	product_id bigint NOT NULL,
	from_site_id bigint NOT NULL,
	lot text NOT NULL DEFAULT '',
	expiry date,
	to_region char(2) NOT NULL,
	to_site_id bigint,
	quantity bigint NOT NULL CHECK (quantity BETWEEN 1 AND 1000000000000),
	obligatory boolean NOT NULL DEFAULT false,
	status proposal_status NOT NULL DEFAULT 'proposed',
	created_at timestamptz NOT NULL DEFAULT now(),
	decided_by text,
	decided_at timestamptz,
	decision_reason text CHECK (length(decision_reason) BETWEEN 1 AND 1000),
	status_reason text CHECK (length(status_reason) BETWEEN 1 AND 1000),
	updated_by text DEFAULT coalesce(lb_setting('actor'), session_user),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (from_region, id),
	CHECK (from_region <> to_region),
	CHECK (status = 'proposed' OR status = 'cancelled'
	       OR decided_at IS NOT NULL),
	CHECK (status <> 'declined' OR NOT obligatory
	       OR decision_reason IS NOT NULL)
);
CREATE INDEX proposal_by_id ON proposal (id);
CREATE INDEX proposal_to ON proposal (to_region, status);
CREATE INDEX proposal_run ON proposal (run_id, product_id);

-- What a proposal's lifecycle leaves behind: one row per status it took,
-- with who, when and why.  Written by the proposal's triggers only, from
-- the proposal's own row (which is never deleted), so without a foreign
-- key to check per row.
CREATE TABLE proposal_event (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	from_region char(2) NOT NULL,
	proposal_id bigint NOT NULL,
	status proposal_status NOT NULL,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor text NOT NULL,
	role text,
	reason text
);
CREATE INDEX proposal_event_proposal ON proposal_event (proposal_id, id);
CREATE TRIGGER proposal_event_no_update BEFORE UPDATE OR DELETE
	ON proposal_event FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER proposal_event_no_truncate BEFORE TRUNCATE ON proposal_event
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

-- The lifecycle: proposed -> approved | declined | cancelled;
-- approved -> shipped | cancelled; shipped -> received | returned.
-- Nothing but the status, its stamps, the reason and obligatory (only
-- ever set) changes.  LB005 for a step the status does not allow (a
-- conflict), LB007 for an edit.
CREATE FUNCTION proposal_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	actor text := coalesce(lb_setting('actor'), session_user);
BEGIN
	IF (NEW.from_region, NEW.id, NEW.run_id, NEW.product_id,
	    NEW.from_site_id, NEW.lot, NEW.expiry, NEW.to_region,
	    NEW.to_site_id, NEW.quantity, NEW.created_at)
	   IS DISTINCT FROM
	   (OLD.from_region, OLD.id, OLD.run_id, OLD.product_id,
	    OLD.from_site_id, OLD.lot, OLD.expiry, OLD.to_region,
	    OLD.to_site_id, OLD.quantity, OLD.created_at)
	   OR (OLD.obligatory AND NOT NEW.obligatory) THEN
		RAISE EXCEPTION USING ERRCODE = 'LB007',
			MESSAGE = format('proposal %s: only its status changes',
					 OLD.id);
	END IF;
	IF NEW.status IS DISTINCT FROM OLD.status
	   AND NOT (OLD.status, NEW.status) IN (
		('proposed', 'approved'), ('proposed', 'declined'),
		('proposed', 'cancelled'), ('approved', 'shipped'),
		('approved', 'cancelled'), ('shipped', 'received'),
		('shipped', 'returned')) THEN
		RAISE EXCEPTION USING ERRCODE = 'LB005',
			MESSAGE = format('proposal %s is %s: it cannot become %s',
					 OLD.id, OLD.status, NEW.status);
	END IF;
	-- status_reason is the reason given with this change (the caller sets
	-- it, or NULL, with every status change); an approval's or decline's
	-- is kept as the decision's.
	IF NEW.status = OLD.status THEN
		NEW.status_reason := OLD.status_reason;
	END IF;
	IF OLD.status = 'proposed' AND NEW.status IN ('approved', 'declined') THEN
		NEW.decided_by := actor;
		NEW.decided_at := now();
		NEW.decision_reason := NEW.status_reason;
	ELSE
		NEW.decided_by := OLD.decided_by;
		NEW.decided_at := OLD.decided_at;
		NEW.decision_reason := OLD.decision_reason;
	END IF;
	NEW.updated_by := actor;
	NEW.updated_at := now();
	RETURN NEW;
END
$$;
CREATE TRIGGER proposal_stamp BEFORE UPDATE ON proposal
	FOR EACH ROW EXECUTE FUNCTION proposal_stamp();
CREATE TRIGGER proposal_no_delete BEFORE DELETE ON proposal
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER proposal_no_truncate BEFORE TRUNCATE ON proposal
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

-- A new proposal starts proposed, undecided, stamped now by the actor:
-- the columns' defaults (the application may insert no others); it
-- belongs to a product of its run, gives from a site of the giving region
-- and goes to a region (and a site of it, if named).  Checked here once
-- per statement rather than per row; then its first history row, for all
-- of them in one statement.
CREATE FUNCTION proposal_proposed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	-- Once per distinct product and per distinct pair of sites, not once
	-- per row: a national run has 20,000 products and some 100 sites.
	IF EXISTS (SELECT 1
		     FROM (SELECT DISTINCT run_id, product_id
			     FROM new_proposals) n
		    WHERE NOT EXISTS (
			SELECT 1 FROM allocation_run_product rp
			 WHERE rp.run_id = n.run_id
			   AND rp.product_id = n.product_id))
	   OR EXISTS (SELECT 1
			FROM (SELECT DISTINCT from_region, from_site_id,
					      to_region, to_site_id
				FROM new_proposals) n
			LEFT JOIN site fs
			       ON fs.id = n.from_site_id
			      AND fs.region_code = n.from_region
			LEFT JOIN region g ON g.code = n.to_region
			LEFT JOIN site ts
			       ON ts.id = n.to_site_id
			      AND ts.region_code = n.to_region
		       WHERE fs.id IS NULL OR g.code IS NULL
			  OR (n.to_site_id IS NOT NULL AND ts.id IS NULL)) THEN
		RAISE EXCEPTION USING ERRCODE = '23503',
			MESSAGE = 'a proposal names a product of its run, a '
				  'site of the giving region and a site of '
				  'the receiving region';
	END IF;
	IF EXISTS (SELECT 1 FROM new_proposals
		    WHERE status <> 'proposed' OR decided_by IS NOT NULL
		       OR decided_at IS NOT NULL OR decision_reason IS NOT NULL
		       OR status_reason IS NOT NULL
		       OR created_at <> now() OR updated_at <> now()
		       OR updated_by IS DISTINCT FROM
			  coalesce(lb_setting('actor'), session_user)) THEN
		RAISE EXCEPTION USING ERRCODE = 'LB007',
			MESSAGE = 'a proposal starts proposed and undecided, '
				  'stamped by its run';
	END IF;
	-- The transition table holds the rows as inserted, so in id order.
	INSERT INTO proposal_event (from_region, proposal_id, status, actor,
				    role)
	SELECT from_region, id, 'proposed',
	       coalesce(lb_setting('actor'), session_user), lb_role()
	  FROM new_proposals;
	RETURN NULL;
END
$$;
CREATE TRIGGER proposal_proposed AFTER INSERT ON proposal
	REFERENCING NEW TABLE AS new_proposals
	FOR EACH STATEMENT EXECUTE FUNCTION proposal_proposed();

-- History, and the alert when an obligatory proposal is declined: one per
-- proposal (scope proposal:<id>), critical, on the receiving region (so
-- that its contact persons see it beside every national role), opened in
-- the transaction of the decline whatever path declined it.
CREATE FUNCTION proposal_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF NEW.status = OLD.status THEN
		RETURN NULL;
	END IF;
	INSERT INTO proposal_event (from_region, proposal_id, status, actor,
				    role, reason)
	VALUES (NEW.from_region, NEW.id, NEW.status, NEW.updated_by,
		lb_role(), NEW.status_reason);
	IF NEW.status = 'declined' AND NEW.obligatory THEN
		INSERT INTO alert (rule, severity, region_code, product_id,
				   site_id, lot, scope_key, title, details)
		SELECT 'obligatory_decline'::alert_rule, 'critical',
		       NEW.to_region, NEW.product_id, NEW.from_site_id,
		       nullif(NEW.lot, ''), format('proposal:%s', NEW.id),
		       format('Region %s %s declined proposal %s: %s %s of %s '
			      'to region %s %s, in disaster state',
			      NEW.from_region, fr.name, NEW.id, NEW.quantity,
			      p.base_unit, p.name, NEW.to_region, tr.name),
		       jsonb_build_object('proposal', NEW.id,
					  'run', NEW.run_id,
					  'from_region', NEW.from_region,
					  'to_region', NEW.to_region,
					  'quantity', NEW.quantity,
					  'reason', NEW.decision_reason,
					  'declined_by', NEW.decided_by)
		  FROM product p, region fr, region tr
		 WHERE p.id = NEW.product_id AND fr.code = NEW.from_region
		   AND tr.code = NEW.to_region
		ON CONFLICT (rule, scope_key) WHERE resolved_at IS NULL
		DO NOTHING;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER proposal_changed AFTER UPDATE OF status ON proposal
	FOR EACH ROW EXECUTE FUNCTION proposal_changed();

-- Resolve the obligatory_decline alerts whose condition has cleared: the
-- receiver is no longer in disaster state, or it has since received the
-- product from anyone.  Returns how many it resolved.  Runs as its owner
-- (alerts are written by the system only); called after every receipt and
-- fit for the alert sweep.
CREATE FUNCTION allocation_obligatory_resolve() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	n integer;
BEGIN
	UPDATE alert a SET resolved_at = now()
	 WHERE a.rule::text = 'obligatory_decline' AND a.resolved_at IS NULL
	   AND (NOT allocation_in_disaster(a.region_code)
		OR EXISTS (SELECT 1 FROM shipment s
			    WHERE s.to_region = a.region_code
			      AND s.product_id = a.product_id
			      AND s.status = 'received'
			      AND s.received_quantity > 0
			      AND s.received_at >= a.opened_at));
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

-- Which regions a proposal is between and its status, whoever asks, and
-- nothing else: enough to refuse a caller of a third region with 403
-- rather than pretend the proposal does not exist.
CREATE FUNCTION lb_proposal_parties(p_id bigint)
RETURNS TABLE (from_region text, to_region text, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT from_region::text, to_region::text, status::text FROM proposal
	 WHERE from_region = ANY (ARRAY(SELECT code FROM region)) AND id = p_id
$$;

-- A party of the proposal, or a national role.
CREATE FUNCTION lb_proposal_visible(p_from char(2), p_to char(2))
RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(lb_national()
			OR (lb_role() = 'region_contact'
			    AND lb_region() IN (p_from, p_to)), false)
$$;

ALTER TABLE proposal ENABLE ROW LEVEL SECURITY;
CREATE POLICY proposal_read ON proposal FOR SELECT TO lagerbild_app
	USING (lb_proposal_visible(from_region, to_region));
CREATE POLICY proposal_insert ON proposal FOR INSERT TO lagerbild_app
	WITH CHECK (lb_coordinates()
		    OR lb_may_run((SELECT r.help_region FROM allocation_run r
				    WHERE r.id = run_id)));
-- Behind src/allocation.c's checks: the giving region's contact person
-- takes every step but the receipt, the receiving region's only the
-- receipt, a coordinator only cancels.
CREATE FUNCTION lb_proposal_step_ok(p_from char(2), p_to char(2),
				    p_status proposal_status)
RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(lb_role() = 'system'
			OR (lb_role() = 'coordinator' AND p_status = 'cancelled')
			OR (lb_role() = 'region_contact'
			    AND ((lb_region() = p_from AND p_status <> 'received')
				 OR (lb_region() = p_to
				     AND p_status = 'received'))), false)
$$;
CREATE POLICY proposal_update ON proposal FOR UPDATE TO lagerbild_app
	USING (lb_role() IN ('system', 'coordinator')
	       OR (lb_role() = 'region_contact'
		   AND lb_region() IN (from_region, to_region)))
	WITH CHECK (lb_proposal_step_ok(from_region, to_region, status));
GRANT SELECT, INSERT (from_region, run_id, product_id, from_site_id, lot,
		      expiry, to_region, to_site_id, quantity, obligatory),
	UPDATE (status, obligatory, status_reason) ON proposal
	TO lagerbild_app;

ALTER TABLE proposal_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY proposal_event_read ON proposal_event FOR SELECT
	TO lagerbild_app
	USING (EXISTS (SELECT 1 FROM proposal p
			WHERE p.from_region = proposal_event.from_region
			  AND p.id = proposal_event.proposal_id));
GRANT SELECT ON proposal_event TO lagerbild_app;

-- ---- a run's product as the API shows it ----

-- Days of supply of holding at rate, to the hundredth; NULL (infinite)
-- without consumption.
CREATE FUNCTION allocation_days(p_holding bigint, p_rate double precision)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_rate > 0
		    THEN round((p_holding / p_rate)::numeric, 2) END
$$;

-- What a sharing run's proposals of one product give and bring each
-- region, whatever became of them since, whoever asks: the region-level
-- result is the shared national picture (the proposals themselves are
-- their two regions' and the national roles').
CREATE FUNCTION allocation_moved(p_run bigint, p_product bigint)
RETURNS TABLE (region_code text, gives bigint, receives bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT x.region, sum(x.gives)::bigint, sum(x.receives)::bigint
	  FROM (SELECT q.from_region::text AS region, q.quantity AS gives,
		       0 AS receives
		  FROM proposal q
		 WHERE q.run_id = p_run AND q.product_id = p_product
		UNION ALL
		SELECT q.to_region::text, 0, q.quantity FROM proposal q
		 WHERE q.run_id = p_run AND q.product_id = p_product) x
	 WHERE lb_allocation_reader()
	 GROUP BY x.region
$$;
REVOKE ALL ON FUNCTION allocation_moved(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_moved(bigint, bigint) TO lagerbild_app;

-- One product of run p_run as the API explains it: {product_id, product,
-- product_name, base_unit, pack_size, level, inputs: {regions, lots},
-- result: {regions, level, and the problem's scalars}}, the per-region
-- rows in the run's region order.  Reads as the caller: a region-scoped
-- caller sees only its own region's lots.
CREATE FUNCTION allocation_product_json(p_run allocation_run,
					 rp allocation_run_product)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
	WITH reg AS (
		SELECT x.i::int AS i, x.g->>'region' AS region, x.g,
		       rp.stock[x.i] AS stock, rp.rate[x.i] AS rate,
		       rp.rate_known[x.i] AS known,
		       rp.floor_days[x.i] AS floor_days,
		       rp.target_days[x.i] AS target_days,
		       coalesce(m.gives, 0) AS gives,
		       coalesce(rp.receives[x.i], m.receives, 0) AS receives
		  FROM jsonb_array_elements(p_run.regions)
		       WITH ORDINALITY AS x(g, i)
		  LEFT JOIN allocation_moved(rp.run_id, rp.product_id) m
			 ON p_run.problem = 'share'
			AND m.region_code = x.g->>'region'
	)
	SELECT jsonb_build_object(
		'product_id', rp.product_id,
		'product', coalesce(p.vnr, p.npl_pack_id, p.gtin),
		'product_name', p.name, 'base_unit', p.base_unit,
		'pack_size', rp.pack_size, 'level', rp.level,
		'inputs', jsonb_build_object(
			'regions', coalesce((SELECT jsonb_agg(jsonb_build_object(
				'region', r.region,
				'healthcare_region', r.g->'healthcare_region',
				'stock', r.stock,
				'rate', round(r.rate::numeric, 4),
				'rate_known', r.known,
				'floor_days', r.floor_days,
				'target_days', r.target_days,
				'population', r.g->'population',
				'in_disaster', r.g->'in_disaster')
				ORDER BY r.i) FROM reg r), '[]'),
			'lots', coalesce((SELECT jsonb_agg(jsonb_build_object(
				'region', s.region_code, 'site', s.code,
				'site_id', l.site_id, 'lot', l.lot,
				'expiry', l.expiry, 'quantity', l.quantity)
				ORDER BY l.n)
			  FROM unnest(rp.lot_site, rp.lot_name, rp.lot_expiry,
				      rp.lot_qty)
			       WITH ORDINALITY AS l(site_id, lot, expiry,
						    quantity, n)
			  JOIN site s ON s.id = l.site_id
			 WHERE lb_national() OR s.region_code = lb_region()),
			'[]')),
		'result', (rp.result - 'week_reached' - 'shortfall')
			|| jsonb_build_object('regions', coalesce((SELECT jsonb_agg(
			CASE p_run.problem
			WHEN 'share' THEN jsonb_build_object(
				'region', r.region, 'stock', r.stock,
				'days_before', allocation_days(r.stock, r.rate),
				'after', r.stock - r.gives + r.receives,
				'days_after', allocation_days(
					r.stock - r.gives + r.receives, r.rate),
				'gives', r.gives, 'receives', r.receives)
			WHEN 'supply' THEN jsonb_build_object(
				'region', r.region, 'stock', r.stock,
				'packs', r.receives / rp.pack_size,
				'quantity', r.receives,
				'days_before', allocation_days(r.stock, r.rate),
				'days_after', allocation_days(
					r.stock + r.receives, r.rate))
			ELSE jsonb_build_object(
				'region', r.region,
				'planned', r.rate > 0 AND r.target_days > 0,
				'stock', r.stock,
				'rate', round(r.rate::numeric, 4),
				'target_days', r.target_days,
				'target', ceil(r.target_days * r.rate)::bigint,
				'packs', r.receives / rp.pack_size,
				'quantity', r.receives,
				'week_reached',
				rp.result->'week_reached'->(r.i - 1),
				'shortfall', rp.result->'shortfall'->(r.i - 1))
			END ORDER BY r.i) FROM reg r), '[]'))
			|| CASE WHEN rp.level IS NULL THEN '{}'::jsonb
				ELSE jsonb_build_object('level', rp.level) END)
	  FROM product p WHERE p.id = rp.product_id
$$;

-- ---- shipments ----

-- What left the giving site (transfer_out, out_event_id) and is on its
-- way.  Received: received_quantity came in (transfer_in, in_event_id, at
-- to_site_id); what did not is the discrepancy, lost in transit, on
-- record with the receiver's note.  Returned: it all came back to the
-- giving site (transfer_in, return_event_id).
CREATE TABLE shipment (
	from_region char(2) NOT NULL,
	proposal_id bigint NOT NULL,
	product_id bigint NOT NULL REFERENCES product (id),
	to_region char(2) NOT NULL REFERENCES region (code),
	quantity bigint NOT NULL CHECK (quantity BETWEEN 1 AND 1000000000000),
	status shipment_status NOT NULL DEFAULT 'in_transit',
	out_event_id bigint NOT NULL,
	shipped_by text NOT NULL,
	shipped_at timestamptz NOT NULL DEFAULT now(),
	to_site_id bigint,
	received_quantity bigint,
	in_event_id bigint,
	received_by text,
	received_at timestamptz,
	discrepancy bigint GENERATED ALWAYS AS (
		CASE WHEN status = 'received'
		     THEN quantity - received_quantity ELSE 0 END) STORED,
	note text CHECK (length(note) BETWEEN 1 AND 1000),
	return_event_id bigint,
	returned_by text,
	returned_at timestamptz,
	PRIMARY KEY (from_region, proposal_id),
	FOREIGN KEY (from_region, proposal_id) REFERENCES proposal (from_region, id),
	FOREIGN KEY (from_region, out_event_id)
		REFERENCES stock_event (region_code, id),
	FOREIGN KEY (to_region, in_event_id)
		REFERENCES stock_event (region_code, id),
	FOREIGN KEY (from_region, return_event_id)
		REFERENCES stock_event (region_code, id),
	FOREIGN KEY (to_region, to_site_id) REFERENCES site (region_code, id),
	CHECK (received_quantity BETWEEN 0 AND quantity),
	CHECK ((status = 'received') = (received_at IS NOT NULL)),
	CHECK (status <> 'received' OR (received_quantity IS NOT NULL
					AND received_by IS NOT NULL)),
	CHECK (status <> 'received' OR received_quantity = quantity
	       OR note IS NOT NULL),
	CHECK (in_event_id IS NULL OR status = 'received'),
	CHECK ((status = 'returned') = (returned_at IS NOT NULL)),
	CHECK ((status = 'returned') = (return_event_id IS NOT NULL))
);
CREATE INDEX shipment_by_proposal ON shipment (proposal_id);
CREATE INDEX shipment_in_transit ON shipment (product_id)
	WHERE status = 'in_transit';
CREATE INDEX shipment_received_to ON shipment (to_region, product_id)
	WHERE status = 'received';

-- A shipment is made once, then received or returned once; its facts are
-- not edited.
CREATE FUNCTION shipment_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	actor text := coalesce(lb_setting('actor'), session_user);
BEGIN
	IF TG_OP = 'INSERT' THEN
		NEW.status := 'in_transit';
		NEW.shipped_by := actor;
		NEW.shipped_at := now();
		RETURN NEW;
	END IF;
	IF OLD.status <> 'in_transit' OR NEW.status = 'in_transit'
	   OR (NEW.from_region, NEW.proposal_id, NEW.product_id, NEW.to_region,
	       NEW.quantity, NEW.out_event_id, NEW.shipped_by, NEW.shipped_at)
	      IS DISTINCT FROM
	      (OLD.from_region, OLD.proposal_id, OLD.product_id, OLD.to_region,
	       OLD.quantity, OLD.out_event_id, OLD.shipped_by,
	       OLD.shipped_at) THEN
		RAISE EXCEPTION USING ERRCODE = 'LB005',
			MESSAGE = format('shipment of proposal %s is %s: it is '
					 'received or returned once',
					 OLD.proposal_id, OLD.status);
	END IF;
	IF NEW.status = 'received' THEN
		NEW.received_by := actor;
		NEW.received_at := now();
	ELSE
		NEW.returned_by := actor;
		NEW.returned_at := now();
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER shipment_stamp BEFORE INSERT OR UPDATE ON shipment
	FOR EACH ROW EXECUTE FUNCTION shipment_stamp();
CREATE TRIGGER shipment_audit AFTER INSERT OR UPDATE ON shipment
	FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER shipment_no_delete BEFORE DELETE ON shipment
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER shipment_no_truncate BEFORE TRUNCATE ON shipment
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

ALTER TABLE shipment ENABLE ROW LEVEL SECURITY;
CREATE POLICY shipment_read ON shipment FOR SELECT TO lagerbild_app
	USING (lb_proposal_visible(from_region, to_region));
-- Shipped by the giver, received by the receiver, returned to the giver.
CREATE POLICY shipment_insert ON shipment FOR INSERT TO lagerbild_app
	WITH CHECK (lb_role() = 'system'
		    OR (lb_role() = 'region_contact'
			AND from_region = lb_region()));
CREATE POLICY shipment_update ON shipment FOR UPDATE TO lagerbild_app
	USING (lb_role() = 'system'
	       OR (lb_role() = 'region_contact'
		   AND lb_region() IN (from_region, to_region)))
	WITH CHECK (lb_role() = 'system'
		    OR (lb_role() = 'region_contact'
			AND ((lb_region() = from_region AND status = 'returned')
			     OR (lb_region() = to_region
				 AND status = 'received'))));
GRANT SELECT, INSERT (from_region, proposal_id, product_id, to_region,
		      quantity, out_event_id),
	UPDATE (status, to_site_id, received_quantity, in_event_id, note,
		return_event_id) ON shipment TO lagerbild_app;

-- The national picture of each product with stock on the road: on hand
-- (the per-region aggregates), in transit, lost in transit (short
-- receipts), and their sum, which no step of a transfer changes.  Views
-- read as their owner: these totals are everyone's, like
-- region_product_stock.
CREATE VIEW allocation_in_transit AS
SELECT product_id, sum(quantity)::bigint AS in_transit,
       count(*)::bigint AS shipments
  FROM shipment WHERE status = 'in_transit'
 GROUP BY product_id;

CREATE VIEW allocation_national_total AS
SELECT k.product_id,
       coalesce(h.on_hand, 0)::bigint AS on_hand,
       coalesce(t.in_transit, 0)::bigint AS in_transit,
       coalesce(l.lost, 0)::bigint AS lost,
       (coalesce(h.on_hand, 0) + coalesce(t.in_transit, 0)
	+ coalesce(l.lost, 0))::bigint AS total
  FROM (SELECT product_id FROM region_product_stock
	UNION SELECT product_id FROM shipment) k
  LEFT JOIN (SELECT product_id, sum(quantity) AS on_hand
	       FROM region_product_stock GROUP BY product_id) h
	 USING (product_id)
  LEFT JOIN allocation_in_transit t USING (product_id)
  LEFT JOIN (SELECT product_id, sum(discrepancy) AS lost FROM shipment
	      WHERE status = 'received' GROUP BY product_id) l
	 USING (product_id);
GRANT SELECT ON allocation_in_transit, allocation_national_total
	TO lagerbild_app;

-- A proposal as the API and the command line show it, with its shipment;
-- read as the caller (row-level security decides which).
CREATE VIEW proposal_detail WITH (security_invoker = true) AS
SELECT p.id, p.run_id, r.help_region, r.help_request_id, p.status::text AS status,
       p.obligatory, p.product_id,
       coalesce(pr.vnr, pr.npl_pack_id, pr.gtin) AS product,
       pr.name AS product_name, pr.base_unit, pr.pack_size, p.quantity,
       p.quantity / pr.pack_size AS packs,
       p.from_region, fr.name AS from_region_name, fs.code AS from_site,
       p.lot, p.expiry, p.to_region, tr.name AS to_region_name,
       ts.code AS to_site, p.created_at, p.decided_by, p.decided_at,
       p.decision_reason, p.status_reason, p.updated_by, p.updated_at,
       s.status::text AS shipment_status, s.quantity AS shipped_quantity,
       s.shipped_by, s.shipped_at, s.received_quantity, s.discrepancy,
       rs.code AS received_site, s.received_by, s.received_at, s.note,
       s.returned_by, s.returned_at, s.out_event_id, s.in_event_id,
       s.return_event_id
  FROM proposal p
  JOIN allocation_run r ON r.id = p.run_id
  JOIN product pr ON pr.id = p.product_id
  JOIN region fr ON fr.code = p.from_region
  JOIN region tr ON tr.code = p.to_region
  JOIN site fs ON fs.id = p.from_site_id
  LEFT JOIN site ts ON ts.id = p.to_site_id
  LEFT JOIN shipment s
	 ON s.from_region = p.from_region AND s.proposal_id = p.id
  LEFT JOIN site rs ON rs.id = s.to_site_id;
GRANT SELECT ON proposal_detail TO lagerbild_app;

-- ---- build-up plans (inköpsplan) ----

-- A plan is a run of problem 'plan' over one product: from start_date,
-- week w (1..weeks) starts start_date + 7*(w-1) and brings capacity[w]
-- packs of national extra supply beyond the normal flow.  A newer plan of
-- the same product supersedes the older one.
CREATE TABLE allocation_plan (
	run_id bigint PRIMARY KEY,
	product_id bigint NOT NULL,
	start_date date NOT NULL,
	weeks integer NOT NULL CHECK (weeks BETWEEN 1 AND 104),
	capacity bigint[] NOT NULL CHECK (cardinality(capacity) = weeks),
	pack_size integer NOT NULL CHECK (pack_size >= 1),
	superseded_at timestamptz,
	-- deferred: the newer plan is inserted after the older one is marked
	superseded_by bigint REFERENCES allocation_plan (run_id)
		DEFERRABLE INITIALLY DEFERRED,
	FOREIGN KEY (run_id, product_id)
		REFERENCES allocation_run_product (run_id, product_id),
	CHECK ((superseded_at IS NULL) = (superseded_by IS NULL))
);
CREATE UNIQUE INDEX allocation_plan_current ON allocation_plan (product_id)
	WHERE superseded_at IS NULL;

-- Each planned region's quota per week, and the holding it should have at
-- the end of that week: its available stock when planned plus every quota
-- so far (the normal flow replaces what it consumes).
CREATE TABLE allocation_plan_row (
	run_id bigint NOT NULL REFERENCES allocation_plan (run_id),
	region_code char(2) NOT NULL REFERENCES region (code),
	week integer NOT NULL CHECK (week BETWEEN 1 AND 104),
	week_start date NOT NULL,
	quota_packs bigint NOT NULL CHECK (quota_packs >= 0),
	quota bigint NOT NULL CHECK (quota >= 0),
	planned_holding bigint NOT NULL CHECK (planned_holding >= 0),
	PRIMARY KEY (run_id, region_code, week)
);

CREATE FUNCTION allocation_plan_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF (NEW.run_id, NEW.product_id, NEW.start_date, NEW.weeks,
	    NEW.capacity, NEW.pack_size)
	   IS DISTINCT FROM
	   (OLD.run_id, OLD.product_id, OLD.start_date, OLD.weeks,
	    OLD.capacity, OLD.pack_size)
	   OR OLD.superseded_at IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'LB007',
			MESSAGE = 'a plan is not edited: make a new one';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER allocation_plan_kept BEFORE UPDATE ON allocation_plan
	FOR EACH ROW EXECUTE FUNCTION allocation_plan_kept();
CREATE TRIGGER allocation_plan_no_delete BEFORE DELETE ON allocation_plan
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER allocation_plan_no_truncate BEFORE TRUNCATE ON allocation_plan
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER allocation_plan_row_no_update BEFORE UPDATE OR DELETE
	ON allocation_plan_row
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER allocation_plan_row_no_truncate BEFORE TRUNCATE
	ON allocation_plan_row
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

ALTER TABLE allocation_plan ENABLE ROW LEVEL SECURITY;
CREATE POLICY allocation_plan_read ON allocation_plan FOR SELECT
	TO lagerbild_app USING (lb_allocation_reader());
CREATE POLICY allocation_plan_insert ON allocation_plan FOR INSERT
	TO lagerbild_app WITH CHECK (lb_coordinates());
CREATE POLICY allocation_plan_update ON allocation_plan FOR UPDATE
	TO lagerbild_app USING (lb_coordinates())
	WITH CHECK (lb_coordinates());
ALTER TABLE allocation_plan_row ENABLE ROW LEVEL SECURITY;
CREATE POLICY allocation_plan_row_read ON allocation_plan_row FOR SELECT
	TO lagerbild_app USING (lb_allocation_reader());
CREATE POLICY allocation_plan_row_insert ON allocation_plan_row FOR INSERT
	TO lagerbild_app WITH CHECK (lb_coordinates());
GRANT SELECT, INSERT (run_id, product_id, start_date, weeks, capacity,
		      pack_size),
	UPDATE (superseded_at, superseded_by) ON allocation_plan
	TO lagerbild_app;
GRANT SELECT, INSERT ON allocation_plan_row TO lagerbild_app;

-- Planned regions behind their plan: for each current plan that has
-- started, the weeks that have ended (at most its length) and each region
-- with quota in them whose available stock now (as allocation_lots counts
-- it) is below the holding planned at the end of the last ended week.
-- Shaped as the alert evaluator's alert_now rows (src/alerts.c), rule
-- behind_plan, warning; $1 region and $2 products narrow it (NULL: all).
-- Reads as its owner and is the shared national picture.
CREATE FUNCTION allocation_plan_behind(p_region text DEFAULT NULL,
				       p_products bigint[] DEFAULT NULL)
RETURNS TABLE (rule text, severity text, region_code char(2),
	       product_id bigint, site_id bigint, lot text, scope_key text,
	       title text, details jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	WITH plans AS (
		SELECT pl.*, least(pl.weeks,
				   (lb_today() - pl.start_date) / 7) AS ended
		  FROM allocation_plan pl
		 WHERE pl.superseded_at IS NULL
		   AND (p_products IS NULL OR pl.product_id = ANY (p_products))
	), due AS (
		SELECT pl.run_id, pl.product_id, pl.ended, r.region_code,
		       r.planned_holding,
		       (SELECT sum(x.quota) FROM allocation_plan_row x
			 WHERE x.run_id = r.run_id
			   AND x.region_code = r.region_code
			   AND x.week <= pl.ended) AS quota_so_far
		  FROM plans pl
		  JOIN allocation_plan_row r
		    ON r.run_id = pl.run_id AND r.week = pl.ended
		 WHERE pl.ended >= 1
		   AND (p_region IS NULL OR r.region_code = p_region)
	), now_held AS (
		SELECT d.*, coalesce((
			SELECT sum(b.quantity) FROM stock_balance b
			 WHERE b.region_code = d.region_code
			   AND b.product_id = d.product_id
			   AND (b.expiry IS NULL OR b.expiry >= lb_today())
			   AND NOT EXISTS (
				SELECT 1 FROM lot_quarantine q
				 WHERE q.region_code = b.region_code
				   AND q.site_id = b.site_id
				   AND q.product_id = b.product_id
				   AND q.lot = b.lot AND q.released_at IS NULL)),
			0)::bigint AS available
		  FROM due d
		 WHERE d.quota_so_far > 0
	)
	SELECT 'behind_plan', 'warning', n.region_code, n.product_id, NULL::bigint,
	       NULL::text,
	       format('region:%s/product:%s', n.region_code, n.product_id),
	       format('%s: region %s %s holds %s %s, plan %s asks %s by the '
		      'end of week %s', p.name, n.region_code, g.name,
		      n.available, p.base_unit, n.run_id, n.planned_holding,
		      n.ended),
	       jsonb_build_object('plan', n.run_id, 'week', n.ended,
				  'planned_holding', n.planned_holding,
				  'available', n.available,
				  'behind', n.planned_holding - n.available,
				  'quota_so_far', n.quota_so_far)
	  FROM now_held n
	  JOIN product p ON p.id = n.product_id
	  JOIN region g ON g.code = n.region_code
	 WHERE n.available < n.planned_holding
	 ORDER BY n.region_code, n.product_id
$$;
REVOKE ALL ON FUNCTION allocation_plan_behind(text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_plan_behind(text, bigint[])
	TO lagerbild_app;
REVOKE ALL ON FUNCTION allocation_obligatory_resolve() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_obligatory_resolve() TO lagerbild_app;
REVOKE ALL ON FUNCTION lb_proposal_parties(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lb_proposal_parties(bigint) TO lagerbild_app;
REVOKE ALL ON FUNCTION allocation_in_disaster(char) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_in_disaster(char) TO lagerbild_app;
REVOKE ALL ON FUNCTION allocation_receiving_site(char) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_receiving_site(char) TO lagerbild_app;
