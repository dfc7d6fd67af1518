-- 017_allocation_bulk.sql -- a national sharing run reads only what the
-- allocator uses and writes each proposal once.
--
-- A run over 20,000 products writes some 400,000 proposals.  What a
-- proposal cost beyond its own row:
--
--   the primary key (from_region, id) beside a second index on id: every
--     read by id goes through the second one, and the first served only
--     the shipment's foreign key.  The key is now id alone; a shipment's
--     giving region is checked against its proposal by a trigger, once
--     per shipment (they are few).
--   proposal_run (run_id, product_id): what a run's product proposed is
--     now found through allocation_proposal_range, the first and last id
--     its proposals were given (one row per run and product, kept by the
--     insert trigger), and the id key.  Ids of other runs that fall
--     inside a range, when two runs insert at once, are filtered out by
--     run and product like before.
--   the 'proposed' history row: it said who proposed and when, which the
--     proposal's run already says (created_by, created_role; created_at
--     is the proposal's own).  proposal_history gives it back, beside the
--     steps in proposal_event; proposals made before this migration keep
--     their stored row and get no second.
--
-- Writing: src/allocation.c sends a run's products and proposals by COPY
-- into temporary tables, and one INSERT ... SELECT each moves them (COPY
-- cannot write a table with row-level security).
--
-- Reading: allocation_lots returns the lots unsorted and without the
-- plpgsql function's materialised copy (the caller orders each product's
-- few lots itself), and when the rollup is today's a run reads the rate
-- inputs and targets without the rest of readiness_inputs (below).
--
-- What is stored and what every read answers is unchanged, but for one
-- departure, said where it is made: a run has no rate row for a region's
-- product without any history, which has no known rate either way.

-- ---- proposals: the id key, ranges per run product ----

ALTER TABLE shipment DROP CONSTRAINT shipment_from_region_proposal_id_fkey;
ALTER TABLE proposal DROP CONSTRAINT proposal_pkey;
DROP INDEX proposal_by_id;
ALTER TABLE proposal ADD PRIMARY KEY (id);
ALTER TABLE shipment ADD FOREIGN KEY (proposal_id) REFERENCES proposal (id);

-- A shipment leaves from its proposal's giving region.
CREATE FUNCTION shipment_proposal_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM proposal p
			WHERE p.id = NEW.proposal_id
			  AND p.from_region = NEW.from_region) THEN
		RAISE EXCEPTION USING ERRCODE = '23503',
			MESSAGE = format('shipment of proposal %s: the proposal '
					 'does not give from region %s',
					 NEW.proposal_id, NEW.from_region);
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER shipment_proposal_check
	BEFORE INSERT OR UPDATE OF from_region, proposal_id ON shipment
	FOR EACH ROW EXECUTE FUNCTION shipment_proposal_check();

-- The ids a run's product's proposals were given: all of them lie in
-- first_id..last_id.  Kept by proposal_proposed, for every insert.
CREATE TABLE allocation_proposal_range (
	run_id bigint NOT NULL,
	product_id bigint NOT NULL,
	first_id bigint NOT NULL,
	last_id bigint NOT NULL,
	PRIMARY KEY (run_id, product_id),
	FOREIGN KEY (run_id, product_id)
		REFERENCES allocation_run_product (run_id, product_id),
	CHECK (first_id <= last_id)
);
INSERT INTO allocation_proposal_range
SELECT run_id, product_id, min(id), max(id) FROM proposal GROUP BY 1, 2;
DROP INDEX proposal_run;
ALTER TABLE allocation_proposal_range ENABLE ROW LEVEL SECURITY;
CREATE POLICY allocation_proposal_range_read ON allocation_proposal_range
	FOR SELECT TO lagerbild_app USING (lb_allocation_reader());
GRANT SELECT ON allocation_proposal_range TO lagerbild_app;

-- As sql/016, with the range kept and no 'proposed' history row.  The
-- range's foreign key checks what the run-product check did, once per
-- run product rather than per proposal.
CREATE OR REPLACE FUNCTION proposal_proposed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	-- Once per distinct pair of sites, not once per row: a national run
	-- has some 100 sites.
	IF EXISTS (SELECT 1
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
	BEGIN
		INSERT INTO allocation_proposal_range AS r
		SELECT n.run_id, n.product_id, min(n.id), max(n.id)
		  FROM new_proposals n
		 GROUP BY 1, 2
		    ON CONFLICT (run_id, product_id) DO UPDATE
		   SET first_id = least(r.first_id, EXCLUDED.first_id),
		       last_id = greatest(r.last_id, EXCLUDED.last_id);
	EXCEPTION WHEN foreign_key_violation THEN
		RAISE EXCEPTION USING ERRCODE = '23503',
			MESSAGE = 'a proposal names a product of its run, a '
				  'site of the giving region and a site of '
				  'the receiving region';
	END;
	RETURN NULL;
END
$$;

-- Every step of a proposal, first to last: the stored steps, and its
-- proposal by its run (for proposals that have no stored 'proposed' row).
-- Read as the caller.
CREATE VIEW proposal_history WITH (security_invoker = true) AS
SELECT v.from_region, v.proposal_id, v.id AS seq, v.status, v.at, v.actor,
       v.role, v.reason
  FROM proposal_event v
UNION ALL
SELECT p.from_region, p.id, 0, 'proposed'::proposal_status, p.created_at,
       r.created_by, r.created_role, NULL
  FROM proposal p
  JOIN allocation_run r ON r.id = p.run_id
 WHERE NOT EXISTS (SELECT 1 FROM proposal_event v
		    WHERE v.proposal_id = p.id
		      AND v.from_region = p.from_region
		      AND v.status = 'proposed');
GRANT SELECT ON proposal_history TO lagerbild_app;

-- As sql/011, through the range.  The proposals are read laterally, by
-- the id key within the range, whatever the statistics of a table that a
-- run has just grown by 400,000 rows say.
CREATE OR REPLACE FUNCTION allocation_moved(p_run bigint, p_product bigint)
RETURNS TABLE (region_code text, gives bigint, receives bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT x.region, sum(x.gives)::bigint, sum(x.receives)::bigint
	  FROM allocation_proposal_range g
	 CROSS JOIN LATERAL (
		SELECT q.from_region, q.to_region, q.quantity FROM proposal q
		 WHERE q.id BETWEEN g.first_id AND g.last_id
		   AND q.run_id = g.run_id AND q.product_id = g.product_id) q
	 CROSS JOIN LATERAL (VALUES (q.from_region::text, q.quantity, 0),
				    (q.to_region::text, 0, q.quantity))
		 AS x(region, gives, receives)
	 WHERE g.run_id = p_run AND g.product_id = p_product
	   AND lb_allocation_reader()
	 GROUP BY x.region
$$;

-- As sql/016, finding the request's proposals through their ranges.
CREATE OR REPLACE FUNCTION allocation_help_fulfil() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	h help_request;
	asked bigint;
	pack integer;
	covered bigint;
	got bigint;
	props text;
	nprops integer;
	unit text;
	actor text;
BEGIN
	SELECT hr.* INTO h
	  FROM proposal p
	  JOIN allocation_run r ON r.id = p.run_id
	  JOIN help_request hr
	    ON hr.region_code = r.help_region AND hr.id = r.help_request_id
	 WHERE p.from_region = NEW.from_region AND p.id = NEW.proposal_id
	   AND p.to_region = r.help_region
	   FOR UPDATE OF hr;
	IF NOT FOUND OR h.status <> 'open' THEN
		RETURN NULL;
	END IF;
	SELECT coalesce(h.quantity,
			(rp.result -> 'help_request' ->> 'cap')::bigint),
	       rp.pack_size
	  INTO asked, pack
	  FROM allocation_run r
	  JOIN allocation_run_product rp
	    ON rp.run_id = r.id AND rp.product_id = h.product_id
	 WHERE r.help_region = h.region_code AND r.help_request_id = h.id
	 ORDER BY r.id
	 LIMIT 1;
	IF asked IS NULL OR asked <= 0 THEN
		RETURN NULL;
	END IF;
	covered := CASE WHEN asked >= pack THEN asked / pack * pack
			ELSE asked END;
	SELECT coalesce(sum(s.received_quantity), 0)::bigint,
	       string_agg(p.id::text, ', ' ORDER BY p.id), count(*)
	  INTO got, props, nprops
	  FROM allocation_run r
	  JOIN allocation_proposal_range g
	    ON g.run_id = r.id AND g.product_id = h.product_id
	 CROSS JOIN LATERAL (
		SELECT q.from_region, q.id FROM proposal q
		 WHERE q.id BETWEEN g.first_id AND g.last_id
		   AND q.run_id = r.id AND q.product_id = h.product_id
		   AND q.to_region = h.region_code) p
	  JOIN shipment s
	    ON s.from_region = p.from_region AND s.proposal_id = p.id
	 WHERE r.help_region = h.region_code AND r.help_request_id = h.id
	   AND s.status = 'received' AND s.received_quantity > 0;
	IF got < covered THEN
		RETURN NULL;
	END IF;
	SELECT base_unit INTO unit FROM product WHERE id = h.product_id;
	-- help_request_stamp names the actor as who closed it: the system
	-- does, for this statement only.
	actor := current_setting('lagerbild.actor', true);
	PERFORM set_config('lagerbild.actor', 'system', true);
	UPDATE help_request
	   SET status = 'fulfilled',
	       close_reason = left(format(
		'received %s %s of %s asked%s%s, through proposal%s %s',
		got, unit, asked,
		CASE WHEN h.days IS NOT NULL
		     THEN format(' (%s days at the rate when asked)', h.days)
		     ELSE '' END,
		CASE WHEN covered <> asked
		     THEN format('; %s in whole packs of %s', covered, pack)
		     ELSE '' END,
		CASE WHEN nprops > 1 THEN 's' ELSE '' END, props), 1000)
	 WHERE region_code = h.region_code AND id = h.id;
	PERFORM set_config('lagerbild.actor', coalesce(actor, ''), true);
	RETURN NULL;
END
$$;

-- ---- what a run reads ----

-- May the caller read what a run reads (every region's lots)?
-- Coordinators and the system; a region's contact person only for a help
-- request's run, which src/allocation.c alone starts.  Raises otherwise.
CREATE FUNCTION allocation_may_read_inputs() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF NOT coalesce(lb_role() IN ('coordinator', 'system',
				      'region_contact'), false) THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = 'only coordinators run the allocator';
	END IF;
	RETURN true;
END
$$;

-- The lots a run may move: every region's stock of the products that is
-- not expired and not in an open quarantine (the same rule as available
-- stock in readiness_inputs), with the site's code; expiry in days since
-- 1970-01-01.  In no order: a product has a few dozen lots, which the
-- caller orders (src/allocation.c: region, expiry with none last, site
-- code, lot), cheaper than sorting some 400,000 rows here.  Site-level
-- detail of every region, so it reads as its owner.  A plain query, not
-- plpgsql: the rows are not copied into a result store first.
DROP FUNCTION allocation_lots(bigint[]);
CREATE FUNCTION allocation_lots(p_products bigint[])
RETURNS TABLE (product_id bigint, region_code text, site_id bigint,
	       site_code text, lot text, expiry integer, quantity bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT b.product_id, b.region_code::text, b.site_id, s.code::text,
	       b.lot, b.expiry - DATE '1970-01-01', b.quantity
	  FROM stock_balance b
	  JOIN site s ON s.id = b.site_id
	 WHERE allocation_may_read_inputs()
	   AND b.product_id = ANY (p_products) AND b.quantity > 0
	   -- today once, not per lot
	   AND (b.expiry IS NULL OR b.expiry >= (SELECT lb_today()))
	   -- the quarantine is looked at per lot only when some lot is in one
	   AND (NOT EXISTS (SELECT 1 FROM lot_quarantine q
			     WHERE q.released_at IS NULL)
		OR NOT EXISTS (
		SELECT 1 FROM lot_quarantine q
		 WHERE q.region_code = b.region_code AND q.site_id = b.site_id
		   AND q.product_id = b.product_id AND q.lot = b.lot
		   AND q.released_at IS NULL))
$$;
REVOKE ALL ON FUNCTION allocation_lots(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_lots(bigint[]) TO lagerbild_app;

-- ---- what a run reads: rates ----
--
-- A run needs, per (region, product), the inputs of its rate -- issued
-- over the window, days of history, stockout days -- and the target and
-- floor; readiness_inputs computes these beside the available stock,
-- names and categories at a cost of some 1.5 s for the nation.  When the
-- window's sums and the region rows are today's (allocation_rates_current,
-- readiness_inputs' own condition for reading them), the same values are
-- read here: allocation_rate_inputs for the rate and allocation_targets
-- for the targets.  src/allocation.c computes the rate with
-- readiness_compute, as for any readiness row, and otherwise asks
-- readiness_scan; tests/check_allocation.c compares the two ways.

-- Are the default window's sums and the region rows today's?
CREATE FUNCTION allocation_rates_current(p_window integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT coalesce(p_window = readiness_window_default()
			AND h.w_day = lb_today() AND h.r_day = lb_today()
			AND NOT EXISTS (SELECT 1 FROM stock_daily_key k
					 WHERE k.w_stale)
			AND current_setting('lagerbild.readiness_days', true)
			    IS DISTINCT FROM 'on', false)
	  FROM stock_daily_horizon h
$$;
REVOKE ALL ON FUNCTION allocation_rates_current(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_rates_current(integer) TO lagerbild_app;

-- What consumption reports change in the default window, per (region,
-- product): the ledger's issues on their days taken back, their share of
-- the window added (readiness_inputs' src branches for reports).
CREATE VIEW allocation_report_adjust AS
SELECT r.region_code, r.product_id, lb_sum8(r.issued) AS issued,
       sum(r.reported) AS reported, min(r.report_first) AS first_day
  FROM (SELECT x.region_code::text AS region_code, x.product_id,
	       -lb_sum8(d.issued) AS issued, NULL::numeric AS reported,
	       NULL::date AS report_first
	  FROM consumption_report x
	  JOIN stock_daily d
	    ON d.region_code = x.region_code AND d.site_id = x.site_id
	   AND d.product_id = x.product_id
	   AND d.day BETWEEN greatest(x.period_start, lb_today()
				      - (readiness_window_default() - 1))
			 AND least(x.period_end, lb_today())
	 WHERE x.period_end >= lb_today() - (readiness_window_default() - 1)
	   AND x.period_start <= lb_today()
	 GROUP BY x.region_code, x.product_id, x.site_id, x.period_start
	UNION ALL
	SELECT x.region_code::text, x.product_id, NULL,
	       CASE WHEN x.period_end >= lb_today()
					 - (readiness_window_default() - 1)
			 AND x.period_start <= lb_today()
		    THEN x.quantity::numeric
			 * (least(x.period_end, lb_today())
			    - greatest(x.period_start, lb_today()
				       - (readiness_window_default() - 1)) + 1)
			 / (x.period_end - x.period_start + 1)
		    ELSE 0 END,
	       x.period_start
	  FROM consumption_report x) r
 GROUP BY r.region_code, r.product_id;

-- The rate inputs of every (region, product) with a history -- a region
-- row of the rollup or a consumption report -- over the default window,
-- when allocation_rates_current: issued, history_days and stockout_days
-- as readiness_inputs computes them at region scope.  readiness_inputs
-- also has a row for stock without either; its rate is never known, and
-- a run treats a region without a row the same way.  Plain branches, so
-- that a filter on product_id reaches the tables.  Read as its owner (the
-- shared national picture), for those allocation_may_read_inputs allows.
CREATE VIEW allocation_rate_inputs AS
SELECT k.region_code::text AS region_code, k.product_id,
       (k.w_issued + coalesce(a.issued, 0)
	+ round(coalesce(a.reported, 0)))::bigint AS issued,
       CASE WHEN least(k.stock_first, a.first_day) > w.today THEN 0
	    ELSE w.today - greatest(w.wstart,
				    least(k.stock_first, a.first_day)) + 1
	    END AS history_days,
       k.out_days AS stockout_days
  FROM readiness_region_key k
  LEFT JOIN allocation_report_adjust a
	 ON a.region_code = k.region_code::text
	AND a.product_id = k.product_id
  -- today and the window's first day, once rather than per row (OFFSET 0
  -- keeps the planner from copying the expressions into every row)
 CROSS JOIN (SELECT lb_today() AS today,
		    lb_today() - (readiness_window_default() - 1) AS wstart
	      OFFSET 0) w
 WHERE allocation_may_read_inputs()
UNION ALL
SELECT a.region_code, a.product_id,
       (coalesce(a.issued, 0) + round(coalesce(a.reported, 0)))::bigint,
       CASE WHEN a.first_day IS NULL OR a.first_day > lb_today() THEN 0
	    ELSE lb_today() - greatest(lb_today()
				       - (readiness_window_default() - 1),
				       a.first_day) + 1 END,
       0
  FROM allocation_report_adjust a
 WHERE allocation_may_read_inputs()
   AND NOT EXISTS (SELECT 1 FROM readiness_region_key k
		    WHERE k.region_code::text = a.region_code
		      AND k.product_id = a.product_id);
GRANT SELECT ON allocation_rate_inputs TO lagerbild_app;

-- The targets and floors (days, before the readiness level's factor) of
-- p_products today: a row with region_code NULL for each product's own --
-- its national target, else its agreement's defaults (the floor never
-- above the target), else 0 and 0 -- and a row for each region's own
-- target of it, which wins for that region.  readiness_inputs' rule.
CREATE FUNCTION allocation_targets(p_products bigint[])
RETURNS TABLE (product_id bigint, region_code text, target_days numeric,
	       floor_days numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	WITH tgt AS (
		SELECT t.product_id, t.region_code::text AS region_code,
		       t.target_days, t.floor_days
		  FROM target t
		 WHERE t.withdrawn_at IS NULL AND t.valid_from <= lb_today()
		   AND (t.valid_to IS NULL OR t.valid_to >= lb_today())
		   AND t.product_id = ANY (p_products)
	)
	SELECT p.id, NULL::text,
	       coalesce(tn.target_days, ag.default_target_days, 0)::numeric,
	       CASE WHEN tn.product_id IS NOT NULL THEN tn.floor_days
		    WHEN ag.code IS NOT NULL
			 THEN least(ag.default_floor_days,
				    ag.default_target_days)
		    ELSE 0 END::numeric
	  FROM product p
	  LEFT JOIN tgt tn
		 ON tn.product_id = p.id AND tn.region_code IS NULL
	  LEFT JOIN agreement ag ON ag.code = p.agreement_code
	 WHERE allocation_may_read_inputs() AND p.id = ANY (p_products)
	UNION ALL
	SELECT tr.product_id, tr.region_code, tr.target_days::numeric,
	       tr.floor_days::numeric
	  FROM tgt tr
	 WHERE allocation_may_read_inputs() AND tr.region_code IS NOT NULL
$$;
REVOKE ALL ON FUNCTION allocation_targets(bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_targets(bigint[]) TO lagerbild_app;

-- A run writes its rows through temporary tables of its own session
-- (src/allocation.c store_run): the application may create them, whatever
-- the database's defaults for PUBLIC.
DO $$
BEGIN
	EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO lagerbild_app',
		       current_database());
END
$$;
