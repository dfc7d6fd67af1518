-- 021_allocation_read.sql -- what a national run reads is streamed, and
-- storing its products sorts no whole row.
--
-- Measured on the bench data (20,000 products x 21 regions, 378,000 lots):
--
--   allocation_lots was a SQL function with the owner's rights, which
--   PostgreSQL does not inline: it gathered every lot into a result store
--   (21 MB, written to a temporary file) before the first was sent, 0.29-
--   0.35 s against 0.08 s for the query itself.  allocation_lot_inputs is
--   the same query as a view, read with the owner's rights like
--   allocation_rate_inputs; the caller filters it on product_id.
--
--   allocation_rate_inputs computed every row's issued in numeric (the
--   reported share of consumption reports is one), although almost no
--   row has a report, and cast every row's region to text to join it:
--   0.29-0.33 s, now 0.21-0.23 s.  The values are unchanged; a row with a
--   report is computed as before.
--
--   allocation_store_run_products numbered the proposals with a window
--   over the staged rows, which sorted them whole; see below.

-- ---- the lots a run may move ----

-- Every region's stock of a product that is not expired and not in an
-- open quarantine (the same rule as available stock in readiness_inputs),
-- one row per lot: product, site (whose region is the lot's), lot, expiry
-- in days since 1970-01-01 (NULL: none) and quantity.  In no order.  For
-- those allocation_may_read_inputs allows; a filter on product_id reaches
-- stock_balance.  A security barrier, so that no function of the caller's
-- sees a row before the check.
CREATE VIEW allocation_lot_inputs WITH (security_barrier) AS
SELECT b.product_id, b.site_id, b.lot, b.expiry - DATE '1970-01-01' AS expiry,
       b.quantity
  FROM stock_balance b
 WHERE allocation_may_read_inputs()
   AND b.quantity > 0
   -- today once, not per lot
   AND (b.expiry IS NULL OR b.expiry >= (SELECT lb_today()))
   -- the quarantine is looked at per lot only when some lot is in one
   AND (NOT EXISTS (SELECT 1 FROM lot_quarantine q
		     WHERE q.released_at IS NULL)
	OR NOT EXISTS (
	SELECT 1 FROM lot_quarantine q
	 WHERE q.region_code = b.region_code AND q.site_id = b.site_id
	   AND q.product_id = b.product_id AND q.lot = b.lot
	   AND q.released_at IS NULL));
GRANT SELECT ON allocation_lot_inputs TO lagerbild_app;

DROP FUNCTION allocation_lots(bigint[]);

-- ---- rates ----

-- As in sql/017, with two changes that leave every value as it was:
-- issued is computed in numeric only where a report adjusts it, and the
-- region is joined and given as char(2), as the tables hold it, rather
-- than cast to text for every one of 420,000 rows (0.29 s -> 0.21 s with
-- both).  A column's type changes, so both views are made anew.
DROP VIEW allocation_rate_inputs;
DROP VIEW allocation_report_adjust;

-- What consumption reports change in the default window, per (region,
-- product): the ledger's issues on their days taken back, their share of
-- the window added (readiness_inputs' src branches for reports).
CREATE VIEW allocation_report_adjust AS
SELECT r.region_code, r.product_id, lb_sum8(r.issued) AS issued,
       sum(r.reported) AS reported, min(r.report_first) AS first_day
  FROM (SELECT x.region_code, x.product_id,
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
	SELECT x.region_code, x.product_id, NULL,
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
SELECT k.region_code, k.product_id,
       CASE WHEN a.product_id IS NULL THEN k.w_issued
	    ELSE (k.w_issued + coalesce(a.issued, 0)
		  + round(coalesce(a.reported, 0)))::bigint END AS issued,
       CASE WHEN least(k.stock_first, a.first_day) > w.today THEN 0
	    ELSE w.today - greatest(w.wstart,
				    least(k.stock_first, a.first_day)) + 1
	    END AS history_days,
       k.out_days AS stockout_days
  FROM readiness_region_key k
  LEFT JOIN allocation_report_adjust a
	 ON a.region_code = k.region_code AND a.product_id = k.product_id
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
		    WHERE k.region_code = a.region_code
		      AND k.product_id = a.product_id);
GRANT SELECT ON allocation_rate_inputs TO lagerbild_app;

-- ---- storing run products ----

-- As in sql/020, but the proposals' places in the run come staged
-- (proposal_offset: how many proposals the products staged before have),
-- and are checked: sorted by place, each product's proposals begin where
-- the previous one's end, the first at 0.  sql/020 numbered them with a
-- window over the staged rows in their order, which sorted every whole
-- row (39 MB on the bench data, on disk): 0.25 s of a 0.5 s INSERT.
-- Now only the places and counts are sorted, and the rows are stored as
-- they are read.
CREATE OR REPLACE FUNCTION allocation_store_run_products(p_run bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	n bigint;
	base bigint;
	bad bigint;
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
	-- The places: a product without proposals has none, one with some
	-- begins where the one before it in place order ends (a place
	-- without proposals, or proposals without a place, is wrong too).
	SELECT count(*) FILTER (WHERE z.c IS NULL
				      OR z.o IS DISTINCT FROM z.expect),
	       coalesce(sum(z.c), 0)
	  INTO bad, n
	  FROM (SELECT y.o, y.c,
		       coalesce(lag(y.o + y.c) OVER (ORDER BY y.o), 0)
			   AS expect
		  FROM (SELECT x.proposal_offset AS o,
			       cardinality(x.proposal_quantity) AS c
			  FROM pg_temp.lb_run_product_in x
			 WHERE x.proposal_quantity IS NOT NULL
			    OR x.proposal_offset IS NOT NULL
			OFFSET 0) y) z;
	IF bad > 0 THEN
		RAISE EXCEPTION USING ERRCODE = '23514',
			MESSAGE = format('%s run products place their proposals '
					 'where no other product''s end', bad);
	END IF;
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
	       base + x.proposal_offset,
	       x.proposal_from, x.proposal_site, x.proposal_lot,
	       x.proposal_expiry, x.proposal_to, x.proposal_to_site,
	       x.proposal_quantity, x.proposal_obligatory
	  FROM pg_temp.lb_run_product_in x;
END
$$;
