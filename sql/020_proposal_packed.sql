-- 020_proposal_packed.sql -- a run's proposals are stored with its
-- products, as arrays, until someone acts on one.
--
-- A national sharing run proposes some 400,000 movements.  Stored a row
-- each they cost 1.4-1.6 s of a 3.7 s run on the bench data -- 1.0 s of
-- it the bare rows, with no trigger, check or policy -- and almost all
-- of them are never touched: a region acts on the few it is asked about.
--
-- Now a run product holds its proposals as eight arrays (giving region,
-- site, lot, expiry, receiving region, site, quantity, obligatory) and
-- the id of the first; the others follow in order.  Ids are reserved for
-- the whole run at once (allocation_store_run_products), so no other
-- proposal can take one.  A proposal becomes a row of proposal, with its
-- own id, when a step is first taken on it (allocation_proposal_
-- materialize, called by src/allocation.c before it locks one); from then
-- on the row is what it is and the arrays only say what was proposed.
--
-- Reading: proposal_all is every proposal, rows and packed ones not yet
-- rows, with proposal's columns; proposal_detail and proposal_history
-- read it.  A filter on run_id and product_id reaches the run product's
-- key and, for rows, proposal_run (back from sql/017: rows are few now).
-- By id alone, allocation_proposal_locate finds the run product first.
-- What every read answers is unchanged: a packed proposal reads exactly
-- as its row would (status proposed, created_at and updated_at the run's,
-- updated_by the run's actor as sql/018 shows it).
--
-- Departure: a run product's row, which whoever reads runs may read, now
-- holds its proposals, as it already held every region's lots; a region's
-- contact person reading the table itself sees other regions' proposals
-- of a run.  What the API and the command line show is unchanged: a
-- region its own proposals only (proposal_all keeps to proposal's read
-- policy, lb_proposal_visible, for packed ones too).
--
-- Writing: the application no longer inserts run products or proposals
-- itself.  It sends a run's products by COPY into a temporary table of its
-- session (columns as in src/allocation.c, product_staging) and calls
-- allocation_store_run_products, which checks them there and stores them
-- with the owner's rights -- so the statement trigger over every inserted
-- run product (sql/018) goes, and with it PostgreSQL's copy of every row
-- for the trigger.  Proposal rows are written by allocation_proposal_
-- materialize only; proposal_proposed still checks those.

-- ---- storage ----

ALTER TABLE allocation_run_product
	ADD COLUMN proposal_first_id bigint,
	ADD COLUMN proposal_from char(2)[],
	ADD COLUMN proposal_site bigint[],
	ADD COLUMN proposal_lot text[],
	ADD COLUMN proposal_expiry date[],
	ADD COLUMN proposal_to char(2)[],
	ADD COLUMN proposal_to_site bigint[],
	ADD COLUMN proposal_quantity bigint[],
	ADD COLUMN proposal_obligatory boolean[],
	ADD CONSTRAINT allocation_run_product_proposals CHECK (
		(proposal_first_id IS NULL AND proposal_from IS NULL
		 AND proposal_site IS NULL AND proposal_lot IS NULL
		 AND proposal_expiry IS NULL AND proposal_to IS NULL
		 AND proposal_to_site IS NULL AND proposal_quantity IS NULL
		 AND proposal_obligatory IS NULL)
		OR (proposal_first_id IS NOT NULL
		    AND cardinality(proposal_quantity) >= 1
		    AND cardinality(proposal_from) = cardinality(proposal_quantity)
		    AND cardinality(proposal_site) = cardinality(proposal_quantity)
		    AND cardinality(proposal_lot) = cardinality(proposal_quantity)
		    AND cardinality(proposal_expiry)
			= cardinality(proposal_quantity)
		    AND cardinality(proposal_to) = cardinality(proposal_quantity)
		    AND cardinality(proposal_to_site)
			= cardinality(proposal_quantity)
		    AND cardinality(proposal_obligatory)
			= cardinality(proposal_quantity)
		    -- per proposal what proposal's own columns say, but that
		    -- the regions differ and the sites are theirs
		    -- (allocation_store_run_products)
		    AND 1 <= ALL (proposal_quantity)
		    AND 1000000000000 >= ALL (proposal_quantity)
		    AND array_position(proposal_quantity, NULL) IS NULL
		    AND array_position(proposal_from, NULL) IS NULL
		    AND array_position(proposal_site, NULL) IS NULL
		    AND array_position(proposal_lot, NULL) IS NULL
		    AND array_position(proposal_to, NULL) IS NULL
		    AND array_position(proposal_obligatory, NULL) IS NULL));
-- Proposals newest first, of all runs or of one (allocation_proposal_
-- list); the run product of an id (allocation_proposal_locate).
CREATE INDEX allocation_run_product_proposals
	ON allocation_run_product (proposal_first_id)
	WHERE proposal_first_id IS NOT NULL;
CREATE INDEX allocation_run_product_run_proposals
	ON allocation_run_product (run_id, proposal_first_id)
	WHERE proposal_first_id IS NOT NULL;
CREATE INDEX proposal_run ON proposal (run_id, product_id);

-- ---- writing a run's products ----

-- May the caller write run p_run's rows?  The rule of the insert policies
-- it replaces: a coordinator, or the region of the help request the run
-- serves.  Raises 42501 if not.
CREATE FUNCTION allocation_store_check(p_run bigint) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	PERFORM 1 FROM allocation_run r
	  WHERE r.id = p_run AND lb_may_run(r.help_region);
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = format('run %s: no run the caller may write',
					 p_run);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION allocation_store_check(bigint) FROM PUBLIC;

-- Store the products of run p_run that the caller's session staged in
-- pg_temp.lb_run_product_in, in the order staged, after checking them:
-- the run is the caller's to write; every product exists; every proposal
-- names a site of its giving region, a receiving region that exists and
-- a site of it or none, two different regions (and the table's check, a
-- quantity of 1 to 10^12 and no missing value).
-- The proposals' ids are reserved, in the order staged, from proposal's
-- own sequence; the lock serializes reservations (until the run commits,
-- a second run waits for the first) so that each run's are consecutive.
CREATE FUNCTION allocation_store_run_products(p_run bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	n bigint;
	base bigint;
BEGIN
	PERFORM allocation_store_check(p_run);
	IF EXISTS (SELECT x.product_id FROM pg_temp.lb_run_product_in x
		   EXCEPT SELECT p.id FROM product p) THEN
		RAISE EXCEPTION USING ERRCODE = '23503',
			MESSAGE = 'a run product names a run and a product '
				  'that exist';
	END IF;
	-- Once per distinct pair of sites, not once per proposal: a
	-- national run has some 100 sites.  The arrays are unnested side
	-- by side in the select list, which streams (in FROM each would be
	-- gathered first); a shorter one's missing values are NULLs (and
	-- the table's check refuses arrays of different lengths).
	IF EXISTS (SELECT 1
		     FROM (SELECT DISTINCT unnest(x.proposal_from) AS f,
				  unnest(x.proposal_site) AS s,
				  unnest(x.proposal_to) AS t,
				  unnest(x.proposal_to_site) AS ts
			     FROM pg_temp.lb_run_product_in x) n
		     LEFT JOIN site fs ON fs.id = n.s AND fs.region_code = n.f
		     LEFT JOIN region g ON g.code = n.t
		     LEFT JOIN site ts ON ts.id = n.ts AND ts.region_code = n.t
		    WHERE fs.id IS NULL OR g.code IS NULL OR n.f = n.t
		       OR (n.ts IS NOT NULL AND ts.id IS NULL)) THEN
		RAISE EXCEPTION USING ERRCODE = '23503',
			MESSAGE = 'a proposal names a product of its run, a '
				  'site of the giving region and a site of '
				  'the receiving region';
	END IF;
	SELECT coalesce(sum(cardinality(x.proposal_quantity)), 0) INTO n
	  FROM pg_temp.lb_run_product_in x;
	IF n > 0 THEN
		PERFORM pg_advisory_xact_lock(
			'proposal'::regclass::oid::bigint);
		base := nextval(pg_get_serial_sequence('proposal', 'id'));
		PERFORM setval(pg_get_serial_sequence('proposal', 'id'),
			       base + n - 1);
	END IF;
	INSERT INTO allocation_run_product (run_id, product_id, pack_size,
		level, stock, rate, rate_known, floor_days, target_days,
		receives, lot_site, lot_name, lot_expiry, lot_qty, result,
		proposal_first_id, proposal_from, proposal_site,
		proposal_lot, proposal_expiry, proposal_to, proposal_to_site,
		proposal_quantity, proposal_obligatory)
	SELECT p_run, x.product_id, x.pack_size, x.level, x.stock, x.rate,
	       x.rate_known, x.floor_days, x.target_days, x.receives,
	       x.lot_site, x.lot_name, x.lot_expiry, x.lot_qty, x.result,
	       CASE WHEN x.proposal_quantity IS NOT NULL
		    THEN base + x.before END,
	       x.proposal_from, x.proposal_site, x.proposal_lot,
	       x.proposal_expiry, x.proposal_to, x.proposal_to_site,
	       x.proposal_quantity, x.proposal_obligatory
	  FROM (SELECT y.*, y.ctid AS pos,
		       coalesce(sum(cardinality(y.proposal_quantity))
				OVER (ORDER BY y.ctid ROWS BETWEEN UNBOUNDED
				      PRECEDING AND 1 PRECEDING), 0) AS before
		  FROM pg_temp.lb_run_product_in y) x
	 ORDER BY x.pos;
END
$$;
REVOKE ALL ON FUNCTION allocation_store_run_products(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_store_run_products(bigint)
	TO lagerbild_app;

REVOKE INSERT ON allocation_run_product FROM lagerbild_app;
REVOKE INSERT (from_region, run_id, product_id, from_site_id, lot, expiry,
	       to_region, to_site_id, quantity, obligatory)
	ON proposal FROM lagerbild_app;
DROP POLICY allocation_run_product_insert ON allocation_run_product;
DROP POLICY proposal_insert ON proposal;
DROP TRIGGER allocation_run_product_check ON allocation_run_product;
DROP FUNCTION allocation_run_product_check();

-- ---- reading ----

-- The packed proposals that are not rows yet, in proposal's columns, of
-- every run product the caller may read; not filtered by region (the
-- callers are).  first_id and ordinality give their order as an index
-- can: by the run product's first id, then within it.
CREATE VIEW proposal_packed WITH (security_invoker = true) AS
SELECT u.from_region::char(2) AS from_region,
       rp.proposal_first_id + u.i - 1 AS id, rp.run_id, rp.product_id,
       u.from_site_id, u.lot, u.expiry, u.to_region::char(2) AS to_region,
       u.to_site_id, u.quantity, u.obligatory,
       'proposed'::proposal_status AS status, r.created_at,
       NULL::text AS decided_by, NULL::timestamptz AS decided_at,
       NULL::text AS decision_reason, NULL::text AS status_reason,
       NULL::text AS updated_by, r.created_at AS updated_at,
       rp.proposal_first_id AS first_id, u.i AS ordinality
  FROM allocation_run_product rp
  JOIN allocation_run r ON r.id = rp.run_id
 CROSS JOIN LATERAL unnest(rp.proposal_from, rp.proposal_site,
			   rp.proposal_lot, rp.proposal_expiry,
			   rp.proposal_to, rp.proposal_to_site,
			   rp.proposal_quantity, rp.proposal_obligatory)
	WITH ORDINALITY AS u(from_region, from_site_id, lot, expiry,
			     to_region, to_site_id, quantity, obligatory, i)
 WHERE rp.proposal_first_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM proposal p
		    WHERE p.id = rp.proposal_first_id + u.i - 1);

-- Every proposal the caller may see: rows under proposal's policy, packed
-- ones by the same rule.
CREATE VIEW proposal_all WITH (security_invoker = true) AS
SELECT p.from_region, p.id, p.run_id, p.product_id, p.from_site_id, p.lot,
       p.expiry, p.to_region, p.to_site_id, p.quantity, p.obligatory,
       p.status, p.created_at, p.decided_by, p.decided_at,
       p.decision_reason, p.status_reason, p.updated_by, p.updated_at
  FROM proposal p
UNION ALL
SELECT k.from_region, k.id, k.run_id, k.product_id, k.from_site_id, k.lot,
       k.expiry, k.to_region, k.to_site_id, k.quantity, k.obligatory,
       k.status, k.created_at, k.decided_by, k.decided_at,
       k.decision_reason, k.status_reason, k.updated_by, k.updated_at
  FROM proposal_packed k
 WHERE lb_proposal_visible(k.from_region, k.to_region);
GRANT SELECT ON proposal_packed, proposal_all TO lagerbild_app;

-- As sql/018, of every proposal.
CREATE OR REPLACE VIEW proposal_detail WITH (security_invoker = true) AS
SELECT p.id, p.run_id, r.help_region, r.help_request_id,
       p.status::text AS status, p.obligatory, p.product_id,
       coalesce(pr.vnr, pr.npl_pack_id, pr.gtin) AS product,
       pr.name AS product_name, pr.base_unit, pr.pack_size, p.quantity,
       p.quantity / pr.pack_size AS packs,
       p.from_region, fr.name AS from_region_name, fs.code AS from_site,
       p.lot, p.expiry, p.to_region, tr.name AS to_region_name,
       ts.code AS to_site, p.created_at, p.decided_by, p.decided_at,
       p.decision_reason, p.status_reason,
       coalesce(p.updated_by, r.created_by) AS updated_by, p.updated_at,
       s.status::text AS shipment_status, s.quantity AS shipped_quantity,
       s.shipped_by, s.shipped_at, s.received_quantity, s.discrepancy,
       rs.code AS received_site, s.received_by, s.received_at, s.note,
       s.returned_by, s.returned_at, s.out_event_id, s.in_event_id,
       s.return_event_id
  FROM proposal_all p
  JOIN allocation_run r ON r.id = p.run_id
  JOIN product pr ON pr.id = p.product_id
  JOIN region fr ON fr.code = p.from_region
  JOIN region tr ON tr.code = p.to_region
  JOIN site fs ON fs.id = p.from_site_id
  LEFT JOIN site ts ON ts.id = p.to_site_id
  LEFT JOIN shipment s
	 ON s.from_region = p.from_region AND s.proposal_id = p.id
  LEFT JOIN site rs ON rs.id = s.to_site_id;

-- As sql/017, of every proposal.
CREATE OR REPLACE VIEW proposal_history WITH (security_invoker = true) AS
SELECT v.from_region, v.proposal_id, v.id AS seq, v.status, v.at, v.actor,
       v.role, v.reason
  FROM proposal_event v
UNION ALL
SELECT p.from_region, p.id, 0, 'proposed'::proposal_status, p.created_at,
       r.created_by, r.created_role, NULL
  FROM proposal_all p
  JOIN allocation_run r ON r.id = p.run_id
 WHERE NOT EXISTS (SELECT 1 FROM proposal_event v
		    WHERE v.proposal_id = p.id
		      AND v.from_region = p.from_region
		      AND v.status = 'proposed');

-- The run and product of proposal p_id, row or packed, whoever asks (ids
-- are not secret; lb_proposal_parties says more).  No row if none.  A
-- caller joins what it reads of the proposal laterally, by run_id and
-- product_id, in a subquery the planner keeps (OFFSET 0) so that those
-- reach the run product's key: a filter on id alone cannot narrow the
-- packed ones.
CREATE FUNCTION allocation_proposal_locate(p_id bigint)
RETURNS TABLE (run_id bigint, product_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER ROWS 1
SET search_path FROM CURRENT AS $$
	SELECT p.run_id, p.product_id FROM proposal p WHERE p.id = p_id
	UNION ALL
	SELECT k.run_id, k.product_id
	  FROM (SELECT rp.run_id, rp.product_id, rp.proposal_first_id,
		       cardinality(rp.proposal_quantity) AS n
		  FROM allocation_run_product rp
		 WHERE rp.proposal_first_id <= p_id
		 ORDER BY rp.proposal_first_id DESC
		 LIMIT 1) k
	 WHERE p_id < k.proposal_first_id + k.n
	   AND NOT EXISTS (SELECT 1 FROM proposal p WHERE p.id = p_id)
$$;
REVOKE ALL ON FUNCTION allocation_proposal_locate(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_proposal_locate(bigint)
	TO lagerbild_app;

-- Packed proposal p_id if it is not a row, as proposal_packed has it (its
-- run products read as the caller), found through its run product.
CREATE FUNCTION proposal_packed_of(p_id bigint)
RETURNS SETOF proposal_packed
LANGUAGE sql STABLE AS $$
	SELECT k.*
	  FROM allocation_proposal_locate(p_id) l
	 CROSS JOIN LATERAL (SELECT k.* FROM proposal_packed k
			      WHERE k.run_id = l.run_id
				AND k.product_id = l.product_id
				AND k.id = p_id
			     OFFSET 0) k
$$;
GRANT EXECUTE ON FUNCTION proposal_packed_of(bigint) TO lagerbild_app;

-- As sql/011, of every proposal.
CREATE OR REPLACE FUNCTION lb_proposal_parties(p_id bigint)
RETURNS TABLE (from_region text, to_region text, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT p.from_region::text, p.to_region::text, p.status::text
	  FROM proposal p WHERE p.id = p_id
	UNION ALL
	SELECT k.from_region::text, k.to_region::text, k.status::text
	  FROM proposal_packed_of(p_id) k
$$;

-- Every step of proposal p_id, as proposal_history has them, read as the
-- caller: through the proposal's run product rather than over every
-- proposal (proposal_history cannot narrow a packed one by id).
CREATE FUNCTION proposal_history_of(p_id bigint)
RETURNS SETOF proposal_history
LANGUAGE sql STABLE AS $$
	SELECT v.from_region, v.proposal_id, v.id, v.status, v.at, v.actor,
	       v.role, v.reason
	  FROM proposal_event v
	 WHERE v.proposal_id = p_id
	UNION ALL
	SELECT p.from_region, p.id, 0, 'proposed'::proposal_status,
	       p.created_at, r.created_by, r.created_role, NULL
	  FROM (SELECT q.from_region, q.id, q.run_id, q.created_at
		  FROM proposal q WHERE q.id = p_id
		UNION ALL
		SELECT k.from_region, k.id, k.run_id, k.created_at
		  FROM proposal_packed_of(p_id) k
		 WHERE lb_proposal_visible(k.from_region, k.to_region)) p
	  JOIN allocation_run r ON r.id = p.run_id
	 WHERE NOT EXISTS (SELECT 1 FROM proposal_event v
			    WHERE v.proposal_id = p.id
			      AND v.from_region = p.from_region
			      AND v.status = 'proposed')
$$;
GRANT EXECUTE ON FUNCTION proposal_history_of(bigint) TO lagerbild_app;

-- Make packed proposal p_id a row of proposal, as it was proposed, if it
-- is not one and the caller may see it.  True if it is a row now.
-- src/allocation.c calls it before it locks a proposal for a step.
CREATE FUNCTION allocation_proposal_materialize(p_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM proposal p WHERE p.id = p_id) THEN
		RETURN true;
	END IF;
	INSERT INTO proposal (id, from_region, run_id, product_id,
			      from_site_id, lot, expiry, to_region,
			      to_site_id, quantity, obligatory, created_at,
			      updated_at)
	OVERRIDING SYSTEM VALUE
	SELECT k.id, k.from_region, k.run_id, k.product_id, k.from_site_id,
	       k.lot, k.expiry, k.to_region, k.to_site_id, k.quantity,
	       k.obligatory, k.created_at, k.updated_at
	  FROM proposal_packed_of(p_id) k
	 WHERE lb_proposal_visible(k.from_region, k.to_region)
	    ON CONFLICT (id) DO NOTHING;
	RETURN EXISTS (SELECT 1 FROM proposal p WHERE p.id = p_id);
END
$$;
REVOKE ALL ON FUNCTION allocation_proposal_materialize(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_proposal_materialize(bigint)
	TO lagerbild_app;

-- As sql/017, of every proposal: what a run's product moves, per region.
CREATE OR REPLACE FUNCTION allocation_moved(p_run bigint, p_product bigint)
RETURNS TABLE (region_code text, gives bigint, receives bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT x.region, sum(x.gives)::bigint, sum(x.receives)::bigint
	  FROM (SELECT q.from_region, q.to_region, q.quantity
		  FROM proposal q
		 WHERE q.run_id = p_run AND q.product_id = p_product
		UNION ALL
		SELECT k.from_region, k.to_region, k.quantity
		  FROM proposal_packed k
		 WHERE k.run_id = p_run AND k.product_id = p_product) q
	 CROSS JOIN LATERAL (VALUES (q.from_region::text, q.quantity, 0),
				    (q.to_region::text, 0, q.quantity))
		 AS x(region, gives, receives)
	 WHERE lb_allocation_reader()
	 GROUP BY x.region
$$;

-- How many proposals run p_run made, rows and packed.
CREATE FUNCTION allocation_run_proposals(p_run bigint) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT (SELECT count(*) FROM proposal q
		 WHERE q.run_id = p_run
		   AND NOT EXISTS (SELECT 1 FROM allocation_run_product rp
				    WHERE rp.run_id = q.run_id
				      AND rp.product_id = q.product_id
				      AND rp.proposal_first_id IS NOT NULL))
	       + (SELECT coalesce(sum(cardinality(rp.proposal_quantity)), 0)
		    FROM allocation_run_product rp WHERE rp.run_id = p_run)
	 WHERE lb_allocation_reader()
$$;
REVOKE ALL ON FUNCTION allocation_run_proposals(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_run_proposals(bigint) TO lagerbild_app;
