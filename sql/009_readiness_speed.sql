-- 009_readiness_speed.sql -- readiness without re-reading the window: the
-- default window's sums kept per (site, product) by the rollup, and
-- readiness_inputs in a few set-wise passes, for a list of products.
--
-- 007's readiness_inputs joined per (site, product) keys to five derived
-- sets and then to the day rows again; at national scale (21 regions,
-- 20,000 products) the planner's estimates for those CTEs were far off and
-- a region's scan took minutes, a national one 23 s.
--
-- Now:
--   - stock_daily_key also holds, for every (site, product), the sums of
--     its day rows over the default window as of stock_daily_horizon.w_day:
--     issues, the net of days after it, and the positive nets.  The
--     refresh keeps them: keys it touched are recomputed from their own day
--     rows; when the day turns, only keys with day rows entering or leaving
--     the window change, by those rows.
--   - readiness_inputs reads each source once, with the caller's filters
--     written into each read (an index serves a region or a few products),
--     and aggregates straight to the scope's group keys: every input but the
--     stockout days is a sum or a minimum, so no per-(site, product) join is
--     needed.  Above site scope, available stock starts from
--     region_product_stock and takes off expired and quarantined lots,
--     which are few, instead of summing every balance.  With the default
--     window and current sums it reads no day rows at all, except for the
--     stockout days of the groups whose balance can have reached zero (see
--     cand).  Any other window reads the day rows, with the same result.
--   - The product filter is a list: incremental alert evaluation asks for
--     the products a batch of writes touched, in one call.
--
-- The results are 007's; tests/check_readiness.c pins them down and
-- compares the two ways of computing them.

-- Sum of bigints as a bigint.  sum(bigint) keeps a 128-bit state per
-- group, allocated apart; a national readiness scan has 420,000 groups of
-- six sums, and this one, by value, halves its time.  It raises an error
-- past 2^63, which stock quantities (at most 10^12 each) do not reach.
CREATE AGGREGATE lb_sum8(bigint) (sfunc = int8pl, stype = bigint);

-- ---- the window's sums per (site, product) ----

-- The default window (src/readiness.h READINESS_WINDOW_DEFAULT).
CREATE FUNCTION readiness_window_default() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 28 $$;

-- As of stock_daily_horizon.w_day (d), over the day rows of the key:
--   w_issued  issued on days d - 27 .. d
--   w_future  net of the days after d
--   w_pos     positive nets of the days from d - 27 on
-- w_stale: the rollup changed the key's day rows since they were summed.
ALTER TABLE stock_daily_key
	ADD COLUMN w_issued bigint NOT NULL DEFAULT 0,
	ADD COLUMN w_future bigint NOT NULL DEFAULT 0,
	ADD COLUMN w_pos bigint NOT NULL DEFAULT 0,
	ADD COLUMN w_stale boolean NOT NULL DEFAULT true;
ALTER TABLE stock_daily_horizon ADD COLUMN w_day date;

CREATE INDEX stock_daily_key_stale ON stock_daily_key
	(region_code, site_id, product_id) WHERE w_stale;
-- Region-scope readiness reads the keys in (region, product) order.
CREATE INDEX stock_daily_key_region_product
	ON stock_daily_key (region_code, product_id);
-- The day rows entering and leaving the window when the day turns.
CREATE INDEX stock_daily_day ON stock_daily (day);
-- Expired stock, taken off region_product_stock for available stock.
CREATE INDEX stock_balance_expiry ON stock_balance (expiry)
	WHERE expiry IS NOT NULL;

-- The rollup's writes of a key mark its sums stale; the window's own
-- maintenance (below) says so in lagerbild.window_sums.
CREATE FUNCTION stock_daily_key_stale() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('lagerbild.window_sums', true)
	   IS DISTINCT FROM 'on' THEN
		NEW.w_stale := true;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER stock_daily_key_stale BEFORE INSERT OR UPDATE
	ON stock_daily_key FOR EACH ROW EXECUTE FUNCTION stock_daily_key_stale();

-- Bring the window's sums to today.  Called by readiness_refresh, in its
-- transaction, holding the horizon row.
CREATE FUNCTION readiness_window_refresh() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	t date := lb_today();
	w integer := readiness_window_default();
	d date;
BEGIN
	SELECT w_day INTO d FROM stock_daily_horizon FOR UPDATE;
	PERFORM set_config('lagerbild.window_sums', 'on', true);
	IF d IS NULL OR d > t OR t - d > w THEN
		-- Never summed (or the clock went back): every key, once.
		WITH a AS (
			SELECT x.region_code, x.site_id, x.product_id,
			       coalesce(lb_sum8(x.issued) FILTER (WHERE x.day <= t),
					0) AS issued,
			       coalesce(lb_sum8(x.net) FILTER (WHERE x.day > t), 0)
				       AS future,
			       lb_sum8(greatest(x.net, 0)) AS pos
			  FROM stock_daily x
			 WHERE x.day >= t - (w - 1)
			 GROUP BY 1, 2, 3
		)
		UPDATE stock_daily_key k
		   SET w_issued = coalesce(a.issued, 0),
		       w_future = coalesce(a.future, 0),
		       w_pos = coalesce(a.pos, 0), w_stale = false
		  FROM stock_daily_key k2
		  LEFT JOIN a USING (region_code, site_id, product_id)
		 WHERE k.region_code = k2.region_code
		   AND k.site_id = k2.site_id AND k.product_id = k2.product_id
		   AND (k2.w_stale OR k2.w_issued <> coalesce(a.issued, 0)
			OR k2.w_future <> coalesce(a.future, 0)
			OR k2.w_pos <> coalesce(a.pos, 0));
	ELSIF d < t THEN
		-- The day turned: days d-w+1 .. t-w leave the window, days
		-- d+1 .. t enter it (no day does both: t - d <= w).
		WITH ch AS (
			SELECT x.region_code, x.site_id, x.product_id,
			       lb_sum8(CASE WHEN x.day > d THEN x.issued
					ELSE -x.issued END) AS issued,
			       lb_sum8(CASE WHEN x.day > d THEN -x.net ELSE 0 END)
				       AS future,
			       lb_sum8(CASE WHEN x.day > d THEN 0
					ELSE -greatest(x.net, 0) END) AS pos
			  FROM stock_daily x
			 WHERE x.day BETWEEN d - (w - 1) AND t - w
			    OR x.day BETWEEN d + 1 AND t
			 GROUP BY 1, 2, 3
		)
		UPDATE stock_daily_key k
		   SET w_issued = k.w_issued + ch.issued,
		       w_future = k.w_future + ch.future,
		       w_pos = k.w_pos + ch.pos
		  FROM ch
		 WHERE k.region_code = ch.region_code
		   AND k.site_id = ch.site_id AND k.product_id = ch.product_id
		   AND NOT k.w_stale;
	END IF;
	-- Keys whose day rows the rollup changed: from their own rows.
	UPDATE stock_daily_key k
	   SET w_issued = a.issued, w_future = a.future, w_pos = a.pos,
	       w_stale = false
	  FROM stock_daily_key k2
	 CROSS JOIN LATERAL (
		SELECT coalesce(lb_sum8(x.issued) FILTER (WHERE x.day <= t), 0)
			       AS issued,
		       coalesce(lb_sum8(x.net) FILTER (WHERE x.day > t), 0)
			       AS future,
		       coalesce(lb_sum8(greatest(x.net, 0)), 0) AS pos
		  FROM stock_daily x
		 WHERE x.region_code = k2.region_code
		   AND x.site_id = k2.site_id
		   AND x.product_id = k2.product_id
		   AND x.day >= t - (w - 1)) a
	 WHERE k2.w_stale AND k.region_code = k2.region_code
	   AND k.site_id = k2.site_id AND k.product_id = k2.product_id;
	UPDATE stock_daily_horizon SET w_day = t;
	PERFORM set_config('lagerbild.window_sums', 'off', true);
END
$$;
REVOKE ALL ON FUNCTION readiness_window_refresh() FROM PUBLIC;

-- readiness_refresh() is now the rollup (007's, renamed) and then the
-- window's sums; callers keep calling readiness_refresh().
ALTER FUNCTION readiness_refresh() RENAME TO readiness_rollup;
REVOKE ALL ON FUNCTION readiness_rollup() FROM lagerbild_app;

CREATE FUNCTION readiness_refresh() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	n bigint;
BEGIN
	n := readiness_rollup();
	PERFORM readiness_window_refresh();
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION readiness_refresh() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION readiness_refresh() TO lagerbild_app;

-- ---- readiness_inputs ----

DROP FUNCTION readiness_inputs(text, text, text, text, bigint, text, integer);

-- One row per (scope key, product) with a record at the scope; the columns
-- and their meaning are 007's (see there).  p_products NULL: every
-- product; an empty array: none.  Unlike 007's, in no particular order:
-- sorting a national scan by name costs seconds, and the alert sweep does
-- not need it; a caller that does sorts (reports/readiness_report.c).
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
	-- the branches of src that read stock and the window (see below)
	stock text;
	win text;
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
		 WHERE true %1$s
		UNION ALL
		SELECT g.g_region, g.g_hc, 0, x.product_id, -x.quantity, NULL,
		       NULL, NULL, NULL, NULL, NULL, NULL
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
	IF p_window = readiness_window_default()
	   AND (SELECT h.w_day FROM stock_daily_horizon h) = today
	   AND NOT EXISTS (SELECT 1 FROM stock_daily_key k WHERE k.w_stale)
	   AND current_setting('lagerbild.readiness_days', true)
	       IS DISTINCT FROM 'on' THEN
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
%3$s
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
	), cand AS MATERIALIZED (
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
				THEN sg.next_day - sg.day ELSE 0 END)
			       AS out_days,
		       min(sg.day) AS first_change,
		       -- the balance before the first change
		       min(sg.bal - sg.net) FILTER (WHERE sg.k = 1) AS pre_bal
		  FROM segs sg
		 GROUP BY 1, 2, 3, 4
	), tgt AS (
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
	       CASE WHEN gr.stock_first IS NULL OR gr.stock_first > $1 THEN 0
		    ELSE (coalesce(go.out_days, 0)
			  -- the days from s to the first change (or today)
			  + CASE WHEN coalesce(go.pre_bal,
					       gr.last_bal - gr.future_net) <= 0
				 THEN coalesce(go.first_change, $1 + 1)
				      - greatest($2, gr.stock_first)
				 ELSE 0 END)::integer END,
	       coalesce(tr.target_days, tn.target_days, ag.default_target_days,
			0)::numeric,
	       CASE WHEN tr.product_id IS NOT NULL THEN tr.floor_days
		    WHEN tn.product_id IS NOT NULL THEN tn.floor_days
		    WHEN ag.code IS NOT NULL
			 THEN least(ag.default_floor_days,
				    ag.default_target_days)
		    ELSE 0 END::numeric,
	       $8
	  FROM grp gr
	  JOIN product p ON p.id = gr.product_id
	  LEFT JOIN site si ON si.id = gr.g_site
	  LEFT JOIN gout go
		 ON go.g_region = gr.g_region AND go.g_hc = gr.g_hc
		AND go.g_site = gr.g_site AND go.product_id = gr.product_id
	  LEFT JOIN tgt tr
		 ON tr.product_id = gr.product_id AND gr.g_region <> ''
		AND tr.region_code = gr.g_region
	  LEFT JOIN tgt tn
		 ON tn.product_id = gr.product_id AND tn.region_code IS NULL
	  LEFT JOIN agreement ag ON ag.code = p.agreement_code
	 WHERE $7::text IS NULL
	    OR coalesce(tr.agreement_code, tn.agreement_code,
			p.agreement_code) = $7
	$q$, f, format(stock, f), format(win, f))
	USING today, wstart, regions, p_products, p_category, p_scope,
	      p_agreement, cur_factor;
END
$$;
REVOKE ALL ON FUNCTION readiness_inputs(text, text, text, text, bigint[],
					text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION readiness_inputs(text, text, text, text, bigint[],
					   text, integer) TO lagerbild_app;
