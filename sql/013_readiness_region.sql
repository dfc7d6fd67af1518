-- 013_readiness_region.sql -- region-scope readiness from per-(region,
-- product) sums kept by the refresh, so that a national scan, which the
-- alert sweep and the allocator make, reads one row per region and
-- product instead of re-aggregating every (site, product) and walking the
-- day rows of every group that may have run out.
--
-- 009 made a national region-scope scan 4 s: 0.4 s reading stock and the
-- window sums, 1.2 s hashing 840,000 rows into 420,000 groups, and 1.8 s
-- walking the day rows of the 42,000 groups at or near zero for their
-- stockout days.  Both are now done by the refresh, and only for what
-- changed:
--   - readiness_region_key holds, per (region, product), the sums over the
--     region's sites of stock_daily_key (first day, balance, the window's
--     sums) and the region's stockout days in the default window as of
--     stock_daily_horizon.r_day.  Every statement that writes
--     stock_daily_key recomputes the region rows it touched (a statement
--     trigger), so they always agree with the site rows.
--   - Stockout days change with the day even where nothing is written.
--     They are nonzero only for a group whose balance can have reached zero
--     (last_bal - w_pos <= 0, the bound 009's cand uses; whether a group
--     is one changes only with its sums), so when the day turns the refresh
--     recomputes those groups, and only those.
--   - readiness_inputs at region scope, with the default window and
--     everything current, joins the region rows to region_product_stock
--     and to the few adjustments (expired and quarantined lots, consumption
--     reports); every other call computes as 009 did.  The results are the
--     same; tests/check_readiness.c compares every scan with the day rows.
--
-- The stockout walk (009's cand .. gout) is now one piece of text, and its
-- final arithmetic one function, which readiness_inputs and the region
-- refresh both use.

ALTER TABLE stock_daily_horizon ADD COLUMN r_day date;

CREATE TABLE readiness_region_key (
	region_code char(2) NOT NULL,
	product_id bigint NOT NULL,
	stock_first date NOT NULL,   -- min of the sites' first_day
	last_bal bigint NOT NULL,    -- sum of the sites' end_balance
	w_issued bigint NOT NULL,    -- sums of the sites' window sums
	w_future bigint NOT NULL,
	w_pos bigint NOT NULL,
	-- stockout days of the default window as of stock_daily_horizon.r_day
	-- (or, between a day's turn and its refresh, of the day computed)
	out_days integer NOT NULL,
	PRIMARY KEY (region_code, product_id)
);
ALTER TABLE readiness_region_key ENABLE ROW LEVEL SECURITY;
CREATE POLICY readiness_region_key_read ON readiness_region_key FOR SELECT
	TO lagerbild_app USING (lb_national() OR region_code = lb_region());
GRANT SELECT ON readiness_region_key TO lagerbild_app;

-- A group's stockout days in the window [wstart, today], from what the walk
-- below found (out_days, first_change, pre_bal: NULL when the group had no
-- change in the window or was not walked) and its sums: the days from its
-- first ledger record to its first change, when the balance was then at or
-- below zero, plus the days the walk counted.  Days before any ledger
-- record are not known to be stockouts.
CREATE FUNCTION readiness_stockout_days(p_today date, p_wstart date,
					p_stock_first date, p_last_bal bigint,
					p_future_net bigint, p_out_days bigint,
					p_first_change date, p_pre_bal numeric)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN p_stock_first IS NULL OR p_stock_first > p_today
		    THEN 0
		    ELSE (coalesce(p_out_days, 0)
			  + CASE WHEN coalesce(p_pre_bal,
					       p_last_bal - p_future_net) <= 0
				 THEN coalesce(p_first_change, p_today + 1)
				      - greatest(p_wstart, p_stock_first)
				 ELSE 0 END)::integer END
$$;

-- The stockout walk, as CTEs to follow a query's own: from grp (g_region,
-- g_hc, g_site, product_id, last_bal, pos_net, stock_first) and g (code,
-- g_region, g_hc: a region's group keys), with $1 today, $2 the window's
-- first day and $6 the scope, it makes gout (the group keys, out_days,
-- first_change, pre_bal) for the groups that can have reached zero.  %1$s
-- is the caller's filter on the day rows x.  Text, not a function of rows,
-- so that the planner sees the whole query.
CREATE FUNCTION readiness_stockout_ctes() RETURNS text
LANGUAGE sql IMMUTABLE AS $f$ SELECT $t$
	cand AS MATERIALIZED (
		-- The balance at the end of a day is last_bal less the nets of
		-- the days after it, so it stays above last_bal - pos_net (pos_net
		-- sums the positive nets of the window's day rows): a group above
		-- zero by that bound had no stockout day in the window and needs
		-- no day-by-day pass.
		SELECT c.g_region, c.g_hc, c.g_site, c.product_id, c.last_bal,
		       greatest($2, c.stock_first) AS s
		  FROM grp c
		 WHERE c.stock_first <= $1 AND c.last_bal - c.pos_net <= 0
	), gd AS ( -- a candidate's net change per day in the window
		SELECT c.g_region, c.g_hc, c.g_site, c.product_id, x.day,
		       lb_sum8(x.net) AS net
		  FROM stock_daily x
		  JOIN g ON g.code = x.region_code
		  JOIN cand c
		    ON c.g_region = g.g_region AND c.g_hc = g.g_hc
		   AND c.g_site = CASE WHEN $6 = 'site' THEN x.site_id ELSE 0 END
		   AND c.product_id = x.product_id
		 WHERE x.day >= $2 %1$s
		 GROUP BY 1, 2, 3, 4, 5
	), gbal AS ( -- its balance at the end of each day with a change
		SELECT d.*, c.s,
		       c.last_bal - coalesce(sum(d.net) OVER (
				PARTITION BY d.g_region, d.g_hc, d.g_site,
					     d.product_id
				ORDER BY d.day DESC
				ROWS BETWEEN UNBOUNDED PRECEDING
					 AND 1 PRECEDING), 0) AS bal
		  FROM gd d
		  JOIN cand c
		    ON c.g_region = d.g_region AND c.g_hc = d.g_hc
		   AND c.g_site = d.g_site AND c.product_id = d.product_id
	), segs AS ( -- constant stretches from each change day on
		SELECT b.*,
		       coalesce(lead(b.day) OVER w, $1 + 1) AS next_day,
		       row_number() OVER w AS k
		  FROM gbal b
		 WHERE b.day >= b.s AND b.day <= $1
		WINDOW w AS (PARTITION BY b.g_region, b.g_hc, b.g_site,
				b.product_id ORDER BY b.day)
	), gout AS (
		SELECT sg.g_region, sg.g_hc, sg.g_site, sg.product_id,
		       sum(CASE WHEN sg.bal <= 0
				THEN sg.next_day - sg.day ELSE 0 END)::bigint
			       AS out_days,
		       min(sg.day) AS first_change,
		       -- the balance before the first change
		       min(sg.bal - sg.net) FILTER (WHERE sg.k = 1) AS pre_bal
		  FROM segs sg
		 GROUP BY 1, 2, 3, 4
	)
$t$ $f$;

-- Recompute the region rows of the given (region, product) pairs
-- (p_regions[i], p_products[i]; NULL: every pair) from stock_daily_key and,
-- for the groups that can have reached zero, the day rows.  Rows that did
-- not change are not written.
CREATE FUNCTION readiness_region_recompute(p_regions char(2)[],
					   p_products bigint[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
SET work_mem = '256MB' SET jit = off SET enable_mergejoin = off AS $$
DECLARE
	today date := lb_today();
BEGIN
	EXECUTE format($q$
	WITH g AS MATERIALIZED (
		SELECT r.code, r.code::text AS g_region, r.healthcare_region AS g_hc
		  FROM region r
	), pairs AS MATERIALIZED (
		SELECT DISTINCT t.region_code, t.product_id
		  FROM unnest($3::char(2)[], $4::bigint[])
		       AS t(region_code, product_id)
	), grp AS MATERIALIZED (
		SELECT g.g_region, g.g_hc, 0::bigint AS g_site, x.product_id,
		       lb_sum8(x.w_issued) AS issued,
		       lb_sum8(x.w_future) AS future_net,
		       lb_sum8(x.w_pos) AS pos_net,
		       min(x.first_day) AS stock_first,
		       lb_sum8(x.end_balance) AS last_bal
		  FROM stock_daily_key x
		  JOIN g ON g.code = x.region_code
		 WHERE $3 IS NULL
		    OR (x.region_code, x.product_id) IN (
			SELECT pr.region_code, pr.product_id FROM pairs pr)
		 GROUP BY 1, 2, 3, 4
	), %s
	INSERT INTO readiness_region_key AS k (region_code, product_id,
		stock_first, last_bal, w_issued, w_future, w_pos, out_days)
	SELECT gr.g_region, gr.product_id, gr.stock_first, gr.last_bal,
	       gr.issued, gr.future_net, gr.pos_net,
	       readiness_stockout_days($1, $2, gr.stock_first, gr.last_bal,
				       gr.future_net, go.out_days,
				       go.first_change, go.pre_bal)
	  FROM grp gr
	  LEFT JOIN gout go
		 ON go.g_region = gr.g_region AND go.product_id = gr.product_id
	ON CONFLICT (region_code, product_id) DO UPDATE
	   SET stock_first = excluded.stock_first,
	       last_bal = excluded.last_bal, w_issued = excluded.w_issued,
	       w_future = excluded.w_future, w_pos = excluded.w_pos,
	       out_days = excluded.out_days
	 WHERE (k.stock_first, k.last_bal, k.w_issued, k.w_future, k.w_pos,
		k.out_days)
	       IS DISTINCT FROM (excluded.stock_first, excluded.last_bal,
				 excluded.w_issued, excluded.w_future,
				 excluded.w_pos, excluded.out_days)
	$q$, format(readiness_stockout_ctes(), ''))
	USING today, today - (readiness_window_default() - 1), p_regions,
	      p_products, NULL::text, 'region';
	-- (stock_daily_key keeps its rows, so this finds none; it is what
	-- "every pair" means)
	IF p_regions IS NULL THEN
		DELETE FROM readiness_region_key k
		 WHERE NOT EXISTS (
			SELECT 1 FROM stock_daily_key x
			 WHERE x.region_code = k.region_code
			   AND x.product_id = k.product_id);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION readiness_region_recompute(char(2)[], bigint[])
	FROM PUBLIC;

-- Every statement writing stock_daily_key recomputes the region rows it
-- touched (transition tables need one trigger per event) -- at once, or,
-- inside readiness_refresh (lagerbild.region_defer), once at its end:
-- 'on' collects the pairs in lb_region_dirty, 'full' (every pair will be
-- recomputed) ignores them.
CREATE FUNCTION readiness_region_touch() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	mode text := current_setting('lagerbild.region_defer', true);
	rs char(2)[];
	ps bigint[];
BEGIN
	IF mode = 'full' THEN
		RETURN NULL;
	ELSIF mode = 'on' THEN
		INSERT INTO pg_temp.lb_region_dirty
		SELECT DISTINCT n.region_code, n.product_id FROM n
		ON CONFLICT DO NOTHING;
		RETURN NULL;
	END IF;
	SELECT array_agg(t.region_code), array_agg(t.product_id)
	  INTO rs, ps
	  FROM (SELECT DISTINCT n.region_code, n.product_id FROM n) t;
	IF rs IS NOT NULL THEN
		PERFORM readiness_region_recompute(rs, ps);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER readiness_region_insert AFTER INSERT ON stock_daily_key
	REFERENCING NEW TABLE AS n
	FOR EACH STATEMENT EXECUTE FUNCTION readiness_region_touch();
CREATE TRIGGER readiness_region_update AFTER UPDATE ON stock_daily_key
	REFERENCING NEW TABLE AS n
	FOR EACH STATEMENT EXECUTE FUNCTION readiness_region_touch();

-- readiness_refresh() now also brings the region rows to today: every
-- pair when they were never computed, the clock went back or the window's
-- sums are recomputed whole (009: a gap of more than a window); else the
-- pairs the rollup and the window's sums touched and, when the day turned,
-- the groups whose stockout days can be nonzero.  One recompute, at the
-- end, whatever the steps before it wrote.
CREATE OR REPLACE FUNCTION readiness_refresh() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	t date := lb_today();
	h stock_daily_horizon%ROWTYPE;
	whole boolean;
	rs char(2)[];
	ps bigint[];
	n bigint;
BEGIN
	IF lb_role() IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = 'readiness_refresh needs an identity';
	END IF;
	SELECT * INTO h FROM stock_daily_horizon FOR UPDATE;
	whole := h.r_day IS NULL OR h.r_day > t OR h.w_day IS NULL
		 OR h.w_day > t OR t - h.w_day > readiness_window_default();
	CREATE TEMP TABLE IF NOT EXISTS pg_temp.lb_region_dirty (
		region_code char(2), product_id bigint,
		PRIMARY KEY (region_code, product_id)
	) ON COMMIT DROP;
	TRUNCATE pg_temp.lb_region_dirty;
	PERFORM set_config('lagerbild.region_defer',
			   CASE WHEN whole THEN 'full' ELSE 'on' END, true);
	n := readiness_rollup();
	PERFORM readiness_window_refresh();
	PERFORM set_config('lagerbild.region_defer', 'off', true);
	IF whole THEN
		PERFORM readiness_region_recompute(NULL, NULL);
	ELSE
		SELECT array_agg(u.region_code), array_agg(u.product_id)
		  INTO rs, ps
		  FROM (SELECT d.region_code, d.product_id
			  FROM pg_temp.lb_region_dirty d
			UNION
			SELECT k.region_code, k.product_id
			  FROM readiness_region_key k
			 WHERE h.r_day < t AND k.last_bal - k.w_pos <= 0) u;
		IF rs IS NOT NULL THEN
			PERFORM readiness_region_recompute(rs, ps);
		END IF;
	END IF;
	TRUNCATE pg_temp.lb_region_dirty;
	UPDATE stock_daily_horizon SET r_day = t;
	RETURN n;
END
$$;

-- ---- readiness_inputs ----

DROP FUNCTION readiness_inputs(text, text, text, text, bigint[], text,
			       integer);

CREATE FUNCTION readiness_inputs(p_scope text, p_region text,
				 p_healthcare_region text, p_category text,
				 p_products bigint[], p_agreement text,
				 p_window integer)
RETURNS TABLE (region_code text, healthcare_region text, site_id bigint,
	       site_code text, product_id bigint, product_name text,
	       category text, agreement text, available bigint,
	       issued bigint, history_days integer, stockout_days integer,
	       target_days numeric, floor_days numeric, factor numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT
-- the group aggregates and the day rows of a national scan are hashed in
-- memory rather than spilled; compiling this query costs more than JIT
-- could save
-- The estimates of the CTEs' joins are guesses, and a merge join on a
-- guess of a few rows sorts every day row of the nation: hash them.
SET work_mem = '256MB' SET jit = off SET enable_mergejoin = off AS $$
DECLARE
	today date := lb_today();
	wstart date;
	cur_factor numeric := readiness_current_factor();
	regions text[];
	-- the caller's filters, written into every read of a source: fixed
	-- text choosing among $n parameters, never values
	f text := '';
	-- the branches of src (see below), and what follows grp
	stock text;
	adjust text;
	win text;
	tail text;
	-- the window's sums are current (see below)
	sums boolean;
BEGIN
	IF lb_role() IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = 'readiness_inputs needs an identity';
	END IF;
	IF p_scope IS NULL OR p_scope NOT IN ('site', 'region',
					      'healthcare_region', 'nation') THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = format('scope %s: not site, region, '
					 'healthcare_region or nation', p_scope);
	END IF;
	IF p_window IS NULL OR p_window < 1 OR p_window > 366 THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = format('window %s: must be 1 to 366 days',
					 p_window);
	END IF;
	wstart := today - (p_window - 1);
	-- Site rows are region detail: a region-scoped caller's own only.
	IF p_region IS NOT NULL OR p_healthcare_region IS NOT NULL
	   OR (p_scope = 'site' AND NOT lb_national()) THEN
		SELECT coalesce(array_agg(r.code::text), '{}') INTO regions
		  FROM region r
		 WHERE (p_region IS NULL OR r.code = p_region)
		   AND (p_healthcare_region IS NULL
			OR r.healthcare_region = p_healthcare_region)
		   AND (p_scope <> 'site' OR lb_national()
			OR r.code = lb_region());
		f := f || ' AND x.region_code = ANY ($3)';
	END IF;
	IF p_products IS NOT NULL THEN
		f := f || ' AND x.product_id = ANY ($4)';
	END IF;
	IF p_category IS NOT NULL THEN
		f := f || ' AND x.product_id IN (SELECT p.id FROM product p'
			  ' WHERE p.category::text = $5)';
	END IF;

	-- Available stock.  Per site: the balances.  Above: each region's
	-- sum, less lots expired or in an open quarantine (few; an expired
	-- lot in quarantine is taken off once).
	IF p_scope = 'site' THEN
		stock := $b$
		SELECT g.g_region, g.g_hc, x.site_id AS g_site, x.product_id,
		       CASE WHEN (x.expiry IS NULL OR x.expiry >= $1)
			     AND q.lot IS NULL THEN x.quantity ELSE 0 END
			       AS available,
		       NULL::bigint AS issued, NULL::numeric AS reported,
		       NULL::bigint AS future_net, NULL::bigint AS pos_net,
		       NULL::date AS stock_first, NULL::date AS report_first,
		       NULL::bigint AS last_bal
		  FROM stock_balance x
		  JOIN g ON g.code = x.region_code
		  LEFT JOIN lot_quarantine q
		    ON q.region_code = x.region_code AND q.site_id = x.site_id
		   AND q.product_id = x.product_id AND q.lot = x.lot
		   AND q.released_at IS NULL
		 WHERE true %1$s$b$;
	ELSE
		stock := $b$
		SELECT g.g_region, g.g_hc, 0::bigint AS g_site, x.product_id,
		       x.quantity AS available,
		       NULL::bigint AS issued, NULL::numeric AS reported,
		       NULL::bigint AS future_net, NULL::bigint AS pos_net,
		       NULL::date AS stock_first, NULL::date AS report_first,
		       NULL::bigint AS last_bal
		  FROM region_product_stock x
		  JOIN g ON g.code = x.region_code
		 WHERE true %1$s$b$;
		adjust := $b$
		SELECT g.g_region, g.g_hc, 0::bigint AS g_site, x.product_id,
		       -x.quantity AS available,
		       NULL::bigint AS issued, NULL::numeric AS reported,
		       NULL::bigint AS future_net, NULL::bigint AS pos_net,
		       NULL::date AS stock_first, NULL::date AS report_first,
		       NULL::bigint AS last_bal
		  FROM stock_balance x
		  JOIN g ON g.code = x.region_code
		 WHERE x.expiry < $1 %1$s
		UNION ALL
		SELECT g.g_region, g.g_hc, 0, x.product_id, -b.quantity, NULL,
		       NULL, NULL, NULL, NULL, NULL, NULL
		  FROM lot_quarantine x
		  JOIN g ON g.code = x.region_code
		  JOIN stock_balance b
		    ON b.region_code = x.region_code AND b.site_id = x.site_id
		   AND b.product_id = x.product_id AND b.lot = x.lot
		 WHERE x.released_at IS NULL
		   AND (b.expiry IS NULL OR b.expiry >= $1) %1$s$b$;
	END IF;
	-- The window: the sums the rollup keeps, when they are today's and
	-- the window is theirs (and nothing asks for the long way round, as
	-- the tests do to compare); else the day rows themselves.
	sums := p_window = readiness_window_default()
		AND (SELECT h.w_day FROM stock_daily_horizon h) = today
		AND NOT EXISTS (SELECT 1 FROM stock_daily_key k WHERE k.w_stale)
		AND current_setting('lagerbild.readiness_days', true)
		    IS DISTINCT FROM 'on';
	IF sums THEN
		win := $b$
		SELECT g.g_region, g.g_hc,
		       CASE WHEN $6 = 'site' THEN x.site_id ELSE 0 END,
		       x.product_id, NULL, x.w_issued, NULL, x.w_future,
		       x.w_pos, x.first_day, NULL, x.end_balance
		  FROM stock_daily_key x
		  JOIN g ON g.code = x.region_code
		 WHERE true %1$s$b$;
	ELSE
		win := $b$
		SELECT g.g_region, g.g_hc,
		       CASE WHEN $6 = 'site' THEN x.site_id ELSE 0 END,
		       x.product_id, NULL, CASE WHEN x.day <= $1 THEN x.issued END,
		       NULL, CASE WHEN x.day > $1 THEN x.net END,
		       CASE WHEN x.net > 0 THEN x.net END, NULL, NULL, NULL
		  FROM stock_daily x
		  JOIN g ON g.code = x.region_code
		 WHERE x.day >= $2 %1$s
		UNION ALL
		SELECT g.g_region, g.g_hc,
		       CASE WHEN $6 = 'site' THEN x.site_id ELSE 0 END,
		       x.product_id, NULL, NULL, NULL, NULL, NULL, x.first_day,
		       NULL, x.end_balance
		  FROM stock_daily_key x
		  JOIN g ON g.code = x.region_code
		 WHERE true %1$s$b$;
	END IF;

	-- Region scope, the window's sums current and the region rows of
	-- today: one row per (region, product) beside the region's stock and
	-- the few adjustments, with the stockout days the refresh walked.
	IF p_scope = 'region' AND sums
	   AND (SELECT h.r_day FROM stock_daily_horizon h) = today THEN
		stock := adjust;
		tail := format($b$
	res AS (
		SELECT g.g_region, g.g_hc, 0::bigint AS g_site, k.product_id,
		       coalesce(k.available, 0) + coalesce(a.available, 0)
			       AS available,
		       (coalesce(k.w_issued, 0) + coalesce(a.issued_sum, 0)
			+ round(coalesce(a.reported, 0)))::bigint AS issued,
		       least(k.stock_first, a.first_day) AS first_day,
		       coalesce(k.out_days, 0) AS stockout_days
		  FROM (SELECT coalesce(x.region_code, s.region_code)
				       AS region_code,
			       coalesce(x.product_id, s.product_id)
				       AS product_id,
			       s.quantity AS available, x.w_issued,
			       x.stock_first, x.out_days
			  FROM (SELECT * FROM readiness_region_key x
				 WHERE true %1$s) x
			  FULL JOIN (SELECT * FROM region_product_stock x
				      WHERE true %1$s) s
			    ON s.region_code = x.region_code
			   AND s.product_id = x.product_id) k
		  FULL JOIN grp a
		    ON a.g_region = k.region_code::text
		   AND a.product_id = k.product_id
		  JOIN g ON g.code = coalesce(k.region_code::text, a.g_region)
	)$b$, f);
	ELSE
		stock := concat_ws(E'\n\t\tUNION ALL\n', stock, adjust, win);
		tail := format(readiness_stockout_ctes(), f) || $b$,
	res AS (
		SELECT gr.g_region, gr.g_hc, gr.g_site, gr.product_id,
		       gr.available, gr.issued, gr.first_day,
		       readiness_stockout_days($1, $2, gr.stock_first,
					       gr.last_bal, gr.future_net,
					       go.out_days, go.first_change,
					       go.pre_bal) AS stockout_days
		  FROM grp gr
		  LEFT JOIN gout go
			 ON go.g_region = gr.g_region AND go.g_hc = gr.g_hc
			AND go.g_site = gr.g_site
			AND go.product_id = gr.product_id
	)$b$;
	END IF;

	RETURN QUERY EXECUTE format($q$
	WITH g AS MATERIALIZED ( -- each region's group keys
		SELECT r.code,
		       CASE WHEN $6 IN ('site', 'region') THEN r.code::text
			    ELSE '' END AS g_region,
		       CASE WHEN $6 <> 'nation' THEN r.healthcare_region
			    ELSE '' END AS g_hc
		  FROM region r
	), src AS (
		-- A column a branch does not feed is NULL: the aggregates skip it.
%2$s
		UNION ALL
		-- A consumption report is the region's own account of its days
		-- and wins over the ledger's issues on them; reports of a (site,
		-- product) never overlap (006), so a day is taken back once.
		-- Driven from the reports, which are few beside the day rows.
		SELECT g.g_region, g.g_hc,
		       CASE WHEN $6 = 'site' THEN x.site_id ELSE 0 END,
		       x.product_id, NULL, -lb_sum8(d.issued), NULL, NULL, NULL, NULL,
		       NULL, NULL
		  FROM consumption_report x
		  JOIN g ON g.code = x.region_code
		  JOIN stock_daily d
		    ON d.region_code = x.region_code AND d.site_id = x.site_id
		   AND d.product_id = x.product_id
		   AND d.day BETWEEN greatest(x.period_start, $2)
				 AND least(x.period_end, $1)
		 WHERE x.period_end >= $2 AND x.period_start <= $1 %1$s
		 GROUP BY 1, 2, 3, 4
		UNION ALL
		SELECT g.g_region, g.g_hc,
		       CASE WHEN $6 = 'site' THEN x.site_id ELSE 0 END,
		       x.product_id, NULL, NULL,
		       -- prorated by the overlap of its period with the window
		       CASE WHEN x.period_end >= $2 AND x.period_start <= $1
			    THEN x.quantity::numeric
				 * (least(x.period_end, $1)
				    - greatest(x.period_start, $2) + 1)
				 / (x.period_end - x.period_start + 1)
			    ELSE 0 END,
		       NULL, NULL, NULL, x.period_start, NULL
		  FROM consumption_report x
		  JOIN g ON g.code = x.region_code
		 WHERE true %1$s
	), grp AS MATERIALIZED (
		SELECT s.g_region, s.g_hc, s.g_site, s.product_id,
		       coalesce(lb_sum8(s.available), 0) AS available,
		       coalesce(lb_sum8(s.issued), 0) AS issued_sum,
		       coalesce(sum(s.reported), 0) AS reported,
		       (coalesce(lb_sum8(s.issued), 0)
			+ round(coalesce(sum(s.reported), 0)))::bigint AS issued,
		       coalesce(lb_sum8(s.future_net), 0) AS future_net,
		       coalesce(lb_sum8(s.pos_net), 0) AS pos_net,
		       min(s.stock_first) AS stock_first,
		       least(min(s.stock_first), min(s.report_first))
			       AS first_day,
		       coalesce(lb_sum8(s.last_bal), 0) AS last_bal
		  FROM src s
		 GROUP BY 1, 2, 3, 4
	), %3$s, tgt AS (
		SELECT t.product_id, t.region_code::text AS region_code,
		       t.target_days, t.floor_days, t.agreement_code
		  FROM target t
		 WHERE t.withdrawn_at IS NULL AND t.valid_from <= $1
		   AND (t.valid_to IS NULL OR t.valid_to >= $1)
	)
	SELECT nullif(gr.g_region, ''), nullif(gr.g_hc, ''),
	       nullif(gr.g_site, 0), si.code::text,
	       gr.product_id, p.name, p.category::text,
	       coalesce(tr.agreement_code, tn.agreement_code,
			p.agreement_code),
	       gr.available, gr.issued,
	       CASE WHEN gr.first_day IS NULL OR gr.first_day > $1 THEN 0
		    ELSE ($1 - greatest($2, gr.first_day) + 1) END,
	       gr.stockout_days,
	       coalesce(tr.target_days, tn.target_days, ag.default_target_days,
			0)::numeric,
	       CASE WHEN tr.product_id IS NOT NULL THEN tr.floor_days
		    WHEN tn.product_id IS NOT NULL THEN tn.floor_days
		    WHEN ag.code IS NOT NULL
			 THEN least(ag.default_floor_days,
				    ag.default_target_days)
		    ELSE 0 END::numeric,
	       $8
	  FROM res gr
	  JOIN product p ON p.id = gr.product_id
	  LEFT JOIN site si ON si.id = gr.g_site
	  LEFT JOIN tgt tr
		 ON tr.product_id = gr.product_id AND gr.g_region <> ''
		AND tr.region_code = gr.g_region
	  LEFT JOIN tgt tn
		 ON tn.product_id = gr.product_id AND tn.region_code IS NULL
	  LEFT JOIN agreement ag ON ag.code = p.agreement_code
	 WHERE $7::text IS NULL
	    OR coalesce(tr.agreement_code, tn.agreement_code,
			p.agreement_code) = $7
	$q$, f, format(stock, f), tail)
	USING today, wstart, regions, p_products, p_category, p_scope,
	      p_agreement, cur_factor;
END
$$;
REVOKE ALL ON FUNCTION readiness_inputs(text, text, text, text, bigint[],
					text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION readiness_inputs(text, text, text, text, bigint[],
					   text, integer) TO lagerbild_app;
