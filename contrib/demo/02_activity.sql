-- 02_activity.sql -- demo stock activity for `lagerbild demo`: defines
-- pg_temp.demo_activity(days, seed), which writes `days` days of ledger
-- events up to now() for the sites and products of 01_catalog.sql and returns
-- how many events it inserted.
--
-- Run by `lagerbild demo` as the database owner, in the transaction that
-- loads 01_catalog.sql, and then called as SELECT pg_temp.demo_activity($1, $2).
-- This file only creates the function; it reads site, region and product
-- when called, so it does not matter which of the two files runs first.
--
-- Events go in through INSERT INTO stock_event only: the ledger trigger
-- derives delta, balance_after and the region, and maintains stock_balance
-- and region_product_stock.  The simulation keeps its own per-lot balances,
-- so no event ever takes a balance below zero, and writes the events of one
-- (site, product) in time order.
--
-- The story, per (site, product) stocked (central stores carry most
-- products, the larger hospital of a region about half, a smaller one about
-- a third, buffer stores critical products and PPE):
--   day 0       a count (stocktake) of 5-60 days of consumption, in one or
--               two lots of older production;
--   every iv    issue, first expiry first, split across lots when needed;
--   every rint  a receipt (weekdays) up to the site's target, one lot per
--               production week, now and then short-dated;
--   now & then adjustment (kassation, inventeringsdifferens), expiry
--               write-off when a lot passes its date with stock left;
--   last day    a count for a fifth of the pairs.
-- Consumption scales with the region's population and a per-product rate.
-- Regions differ in how many days they hold.  Thirteen products are in a
-- restsituation: deliveries came at half the quantity for four weeks and
-- then stopped 14-23 days ago, nationally or in about half the regions, and
-- use went up; many of those balances end at zero.
--
-- Deterministic for a seed (setseed, then random() in a fixed loop order),
-- except idempotency keys (gen_random_uuid) and times, which follow now().

CREATE FUNCTION pg_temp.demo_activity(days integer, seed double precision)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
	first_day timestamptz;	-- midnight starting day 0; the last day is today
	total bigint := 0;
	analyzed_at bigint := 500;
	n integer;

	-- regions, by code
	r_code text[];
	r_ready float8[];	-- how many days of stock the region tends to hold

	-- sites, by code
	s_id bigint[];
	s_kind text[];
	s_region integer[];	-- index into r_code
	s_pop float8[];
	s_share float8[];	-- share of the region's consumption
	s_weight float8[];
	s_main boolean[];	-- the region's largest hospital
	wsum float8;
	biggest boolean;

	-- products in a restsituation
	short_ids bigint[];
	cand bigint[];
	tmp bigint;
	j integer;
	k integer;

	p record;
	base float8;		-- packs per day per 100 000 inhabitants
	pf float8;		-- product factor on days held
	shelf integer;		-- shelf life, months
	lotless boolean;
	lot_sfx text;
	is_short boolean;
	short_nat boolean;
	stop_ago integer;
	r_short boolean[];

	-- one (site, product)
	i integer;
	stocked boolean;
	rate float8;		-- base units per day
	target float8;		-- days held just before a delivery, about
	iv integer;		-- days between issues
	oi integer;
	rint integer;		-- days between deliveries
	orr integer;
	stop_day integer;
	surge float8;
	pending boolean;
	last_issue integer;
	level bigint;
	stock bigint;
	need bigint;
	take bigint;
	q bigint;
	d integer;
	day timestamptz;
	dday date;
	ts timestamptz;
	pd date;		-- production week of a lot
	last_pd date;		-- of the last regular delivery
	lot text;
	lexp date;
	why text;

	-- live lots of the pair
	l_lot text[];
	l_exp date[];
	l_qty bigint[];

	-- events of the pair, in order
	e_ts timestamptz[];
	e_kind stock_event_kind[];
	e_lot text[];
	e_exp date[];
	e_qty bigint[];
	e_reason text[];

	minus_reasons text[] := ARRAY[
		'Kassation: trasig förpackning',
		'Kassation: bruten kylkedja',
		'Kassation: kontaminerad vid hantering',
		'Kassation: felaktig märkning',
		'Svinn: saknas vid inventering'];
	plus_reasons text[] := ARRAY[
		'Inventeringsdifferens: återfunnet i förråd',
		'Retur från vårdavdelning',
		'Korrigering: felregistrerat uttag'];
BEGIN
	IF days IS NULL OR days < 1 OR days > 730 THEN
		RAISE EXCEPTION 'demo_activity: days must be 1 to 730, not %', days;
	END IF;
	IF seed IS NULL OR seed < -1 OR seed > 1 THEN
		RAISE EXCEPTION 'demo_activity: seed must be in [-1, 1], not %', seed;
	END IF;
	PERFORM setseed(seed);

	first_day := date_trunc('day', now()) - (days - 1) * interval '1 day';

	SELECT array_agg(code::text ORDER BY code) INTO r_code FROM region;
	r_ready := array_fill(0::float8, ARRAY[cardinality(r_code)]);
	FOR i IN 1 .. cardinality(r_code) LOOP
		r_ready[i] := 0.35 + 1.3 * random();
	END LOOP;

	-- Sites, and each one's share of its region's consumption: the central
	-- store 35 %, the hospitals 62 % between them, a buffer store 3 %.
	SELECT array_agg(s.id ORDER BY s.code), array_agg(s.kind::text ORDER BY s.code),
	       array_agg(array_position(r_code, s.region_code::text) ORDER BY s.code),
	       array_agg(r.population::float8 ORDER BY s.code)
	  INTO s_id, s_kind, s_region, s_pop
	  FROM site s JOIN region r ON r.code = s.region_code
	 WHERE s.active AND s.kind IN ('central', 'hospital', 'buffer')
	   AND r.population IS NOT NULL;
	IF s_id IS NULL THEN
		RETURN 0;
	END IF;
	s_weight := array_fill(0::float8, ARRAY[cardinality(s_id)]);
	FOR i IN 1 .. cardinality(s_id) LOOP
		s_weight[i] := CASE s_kind[i]
			WHEN 'central' THEN 0.35
			WHEN 'buffer' THEN 0.03
			ELSE 0.6 + 0.8 * random() END;
	END LOOP;
	s_share := s_weight;
	s_main := array_fill(false, ARRAY[cardinality(s_id)]);
	FOR i IN 1 .. cardinality(s_id) LOOP
		IF s_kind[i] = 'hospital' THEN
			SELECT sum(s_weight[x]), bool_and(s_weight[x] <= s_weight[i])
			  INTO wsum, biggest
			  FROM generate_subscripts(s_id, 1) AS x
			 WHERE s_kind[x] = 'hospital' AND s_region[x] = s_region[i];
			s_share[i] := 0.62 * s_weight[i] / wsum;
			s_main[i] := biggest;
		END IF;
	END LOOP;

	-- Restsituation: 8 critical products and 5 others, drawn without
	-- replacement; the first 6 drawn are short nationally.
	short_ids := '{}';
	FOR k IN 0 .. 1 LOOP
		cand := ARRAY(SELECT id FROM product
			       WHERE CASE WHEN k = 0 THEN critical
				     ELSE NOT critical AND category IN
					  ('medicine', 'medical_device', 'ppe') END
			       ORDER BY id);
		n := cardinality(cand);
		FOR i IN 1 .. least(CASE WHEN k = 0 THEN 8 ELSE 5 END, n) LOOP
			j := i + floor(random() * (n - i + 1))::integer;
			tmp := cand[i];
			cand[i] := cand[j];
			cand[j] := tmp;
			short_ids := short_ids || cand[i];
		END LOOP;
	END LOOP;

	FOR p IN SELECT id, category::text AS category, pack_size,
			agreement_code IS NOT NULL AS agr, critical
		   FROM product ORDER BY id
	LOOP
		base := CASE p.category
			WHEN 'medicine' THEN 0.25
			WHEN 'medical_device' THEN 0.4
			WHEN 'ppe' THEN 0.5
			WHEN 'fsmp' THEN 0.3
			ELSE 0.08 END * exp((2 * random() - 1) * ln(5.0));
		pf := exp((2 * random() - 1) * ln(1.6));
		shelf := CASE p.category
			WHEN 'medicine' THEN 12 + 6 * floor(random() * 5)::integer
			WHEN 'medical_device' THEN 24 + 12 * floor(random() * 4)::integer
			WHEN 'ppe' THEN 36 + 12 * floor(random() * 3)::integer
			WHEN 'fsmp' THEN 6 + 3 * floor(random() * 4)::integer
			ELSE 24 + 12 * floor(random() * 3)::integer END;
		lotless := p.category IN ('ppe', 'manufacturing_material')
			   AND random() < 0.4;
		lot_sfx := chr(65 + (p.id % 26)::integer) || (p.id / 26 % 10)::text;
		j := array_position(short_ids, p.id);
		is_short := j IS NOT NULL;
		short_nat := is_short AND j <= 6;
		stop_ago := 14 + floor(random() * 10)::integer;
		r_short := '{}';
		FOR i IN 1 .. cardinality(r_code) LOOP
			r_short := r_short || (short_nat OR (is_short AND random() < 0.55));
		END LOOP;

		FOR i IN 1 .. cardinality(s_id) LOOP
			stocked := CASE s_kind[i]
				WHEN 'central' THEN random() < CASE WHEN p.critical THEN 0.95 ELSE 0.55 END
				WHEN 'hospital' THEN random() < CASE WHEN s_main[i]
					THEN CASE WHEN p.critical THEN 0.75 ELSE 0.38 END
					ELSE CASE WHEN p.critical THEN 0.5 ELSE 0.22 END END
				ELSE (p.critical OR p.category = 'ppe') AND random() < 0.7 END;
			CONTINUE WHEN NOT stocked;

			rate := s_pop[i] / 1e5 * base * p.pack_size * s_share[i]
				* (0.8 + 0.4 * random());
			IF s_kind[i] = 'buffer' THEN
				target := 60 + 60 * random();
			ELSE
				target := 25 * r_ready[s_region[i]] * pf
					* CASE WHEN p.agr THEN 1.15 ELSE 1 END
					* (0.8 + 0.45 * random());
			END IF;
			IF r_short[s_region[i]] THEN
				target := target * 0.5;
				stop_day := days - stop_ago;
			ELSE
				stop_day := days + 1;
			END IF;
			target := greatest(5, least(CASE WHEN s_kind[i] = 'buffer'
						    THEN 120 ELSE 60 END, target));

			-- Issues are booked per replenishment round of the wards
			-- (or, for a central store, of the units it supplies):
			-- every 4 to 28 days by volume.  Deliveries come weekly
			-- to monthly.
			q := ceil(rate / p.pack_size * 100);	-- packs per 100 days
			IF s_kind[i] = 'buffer' THEN
				iv := 14; rint := 28;
			ELSIF s_kind[i] = 'central' THEN
				iv := CASE WHEN q >= 150 THEN 7 WHEN q >= 20 THEN 14 ELSE 28 END;
				rint := CASE WHEN q >= 150 THEN 14 ELSE 28 END;
			ELSE
				iv := CASE WHEN q >= 250 THEN 4 WHEN q >= 50 THEN 7 ELSE 14 END;
				rint := CASE WHEN q >= 250 THEN 7 WHEN q >= 50 THEN 14 ELSE 28 END;
			END IF;
			oi := floor(random() * iv)::integer;
			orr := floor(random() * rint)::integer;

			l_lot := '{}'; l_exp := '{}'; l_qty := '{}';
			e_ts := '{}'; e_kind := '{}'; e_lot := '{}';
			e_exp := '{}'; e_qty := '{}'; e_reason := '{}';
			pending := false;
			last_issue := oi - iv;	-- as if the round before day 0 took place
			last_pd := NULL;

			FOR d IN 0 .. days - 1 LOOP
				IF d > 0 AND d % rint = orr AND d < stop_day THEN
					pending := true;
				END IF;
				CONTINUE WHEN d > 0 AND d < days - 1 AND d % iv <> oi
					AND NOT pending;
				day := first_day + d * interval '1 day';
				dday := day::date;
				surge := CASE WHEN d < stop_day THEN 1
					      WHEN s_kind[i] = 'buffer' THEN 6
					      ELSE 1.3 END;

				-- 06-07: write off lots that have passed their date.
				FOR j IN 1 .. cardinality(l_lot) LOOP
					IF l_qty[j] > 0 AND l_exp[j] < dday THEN
						ts := least(now(), day + interval '6 hours'
							    + random() * interval '59 minutes');
						e_ts := e_ts || ts; e_kind := e_kind || 'expiry_writeoff'::stock_event_kind;
						e_lot := e_lot || l_lot[j]; e_exp := e_exp || l_exp[j];
						e_qty := e_qty || l_qty[j]; e_reason := e_reason || NULL::text;
						l_qty[j] := 0;
					END IF;
				END LOOP;

				-- 07: the opening stocktake, in one or two older lots.
				IF d = 0 THEN
					stock := ceil(rate * greatest(5, least(60,
						(target + rint * random()) * (0.8 + 0.4 * random()))));
					IF stock < 1 THEN
						stock := p.pack_size;
					END IF;
					k := CASE WHEN NOT lotless AND random() < 0.2 THEN 2 ELSE 1 END;
					need := stock;
					-- days left on the first lot: 30 days up to its shelf life
					lexp := dday + (30 + random() * (shelf * 30.4 - 30))::integer;
					FOR j IN 1 .. k LOOP
						IF lotless THEN
							lot := ''; lexp := NULL;
						ELSE
							IF j = 2 THEN
								lexp := lexp + (random() * (shelf * 30.4
									- (lexp - dday)))::integer + 7;
							END IF;
							pd := date_trunc('week', lexp - make_interval(months => shelf))::date;
							lot := 'L' || to_char(pd, 'IYIW') || lot_sfx;
							lexp := (date_trunc('month', pd + make_interval(months => shelf))
								 + interval '1 month - 1 day')::date;
						END IF;
						q := CASE WHEN j < k THEN round(need * (0.3 + 0.3 * random())) ELSE need END;
						need := need - q;
						CONTINUE WHEN q <= 0 OR lot = ANY (l_lot);
						ts := least(now(), day + interval '7 hours' + j * interval '1 minute');
						e_ts := e_ts || ts; e_kind := e_kind || 'count'::stock_event_kind;
						e_lot := e_lot || lot; e_exp := e_exp || lexp;
						e_qty := e_qty || q; e_reason := e_reason || NULL::text;
						l_lot := l_lot || lot; l_exp := l_exp || lexp; l_qty := l_qty || q;
					END LOOP;
				END IF;

				-- 08-10: a delivery on a weekday (one in fifteen is a
				-- day or more late), up to target days plus the days
				-- until the next delivery, and at least one pack.
				IF pending AND d < stop_day AND extract(isodow FROM dday) <= 5
				   AND random() >= 1 / 15.0 THEN
					pending := false;
					stock := 0;
					FOR j IN 1 .. cardinality(l_qty) LOOP
						stock := stock + l_qty[j];
					END LOOP;
					level := greatest(p.pack_size, ceil(rate * (target + rint)));
					IF stock < level THEN
						q := level - stock;
						IF r_short[s_region[i]] AND d >= stop_day - 28 THEN
							-- restnoterad: the supplier ships half
							q := (q + 1) / 2;
						END IF;
						q := ceil(q::numeric / p.pack_size) * p.pack_size;
						IF lotless THEN
							lot := ''; lexp := NULL;
						ELSE
							-- the batch of the last delivery again, or
							-- one produced 1-10 weeks ago, or now and
							-- then a short-dated one
							IF last_pd IS NOT NULL AND dday - last_pd <= 91
							   AND random() < 0.8 THEN
								pd := last_pd;
							ELSIF random() < 0.05 THEN
								pd := (dday - make_interval(months => shelf)
								       + make_interval(days => 45 + floor(random() * 75)::integer))::date;
							ELSE
								pd := dday - (7 + floor(random() * 63)::integer);
								last_pd := date_trunc('week', pd::timestamp)::date;
							END IF;
							pd := date_trunc('week', pd::timestamp)::date;
							lot := 'L' || to_char(pd, 'IYIW') || lot_sfx;
							lexp := (date_trunc('month', pd + make_interval(months => shelf))
								 + interval '1 month - 1 day')::date;
						END IF;
						ts := least(now(), day + interval '8 hours'
							    + random() * interval '119 minutes');
						e_ts := e_ts || ts; e_kind := e_kind || 'receipt'::stock_event_kind;
						e_lot := e_lot || lot; e_exp := e_exp || lexp;
						e_qty := e_qty || q; e_reason := e_reason || NULL::text;
						j := array_position(l_lot, lot);
						IF j IS NULL THEN
							l_lot := l_lot || lot; l_exp := l_exp || lexp; l_qty := l_qty || q;
						ELSE
							l_qty[j] := l_qty[j] + q;
						END IF;
					END IF;
				END IF;

				-- 10-16: issue what was used since the last issue,
				-- first expiry first, as far as there is stock.
				IF d % iv = oi THEN
					need := floor(rate * greatest(1, d - last_issue)
						      * (0.5 + random()) * surge + random());
					last_issue := d;
					ts := least(now(), day + interval '10 hours'
						    + random() * interval '359 minutes');
					WHILE need > 0 LOOP
						k := NULL;
						FOR j IN 1 .. cardinality(l_qty) LOOP
							IF l_qty[j] > 0 AND (k IS NULL
							    OR l_exp[j] < l_exp[k]
							    OR (l_exp[k] IS NULL AND l_exp[j] IS NOT NULL)) THEN
								k := j;
							END IF;
						END LOOP;
						EXIT WHEN k IS NULL;
						take := least(need, l_qty[k]);
						e_ts := e_ts || ts; e_kind := e_kind || 'issue'::stock_event_kind;
						e_lot := e_lot || l_lot[k]; e_exp := e_exp || l_exp[k];
						e_qty := e_qty || take; e_reason := e_reason || NULL::text;
						l_qty[k] := l_qty[k] - take;
						need := need - take;
					END LOOP;

					-- 16-17: now and then, an adjustment.
					IF random() < 0.012 THEN
						k := NULL;
						FOR j IN 1 .. cardinality(l_qty) LOOP
							IF l_qty[j] > 0 THEN
								k := j;
							END IF;
						END LOOP;
						IF k IS NOT NULL THEN
							IF random() < 0.3 THEN
								q := 1 + floor(random() * p.pack_size);
								why := plus_reasons[1 + floor(random() * cardinality(plus_reasons))::integer];
							ELSE
								q := -(1 + floor(random() * least(p.pack_size, l_qty[k])));
								why := minus_reasons[1 + floor(random() * cardinality(minus_reasons))::integer];
							END IF;
							ts := least(now(), day + interval '16 hours'
								    + random() * interval '59 minutes');
							e_ts := e_ts || ts; e_kind := e_kind || 'adjustment'::stock_event_kind;
							e_lot := e_lot || l_lot[k]; e_exp := e_exp || l_exp[k];
							e_qty := e_qty || q; e_reason := e_reason || why;
							l_qty[k] := l_qty[k] + q;
						END IF;
					END IF;
				END IF;

				-- 18: a closing stocktake of every lot in stock, for
				-- a fifth of the pairs; most counts agree.
				IF d = days - 1 AND days > 1 AND random() < 0.2 THEN
					ts := least(now(), day + interval '18 hours'
						    + random() * interval '59 minutes');
					FOR j IN 1 .. cardinality(l_qty) LOOP
						CONTINUE WHEN l_qty[j] <= 0;
						IF random() < 0.2 THEN
							l_qty[j] := greatest(0, l_qty[j]
								- floor(random() * least(4, l_qty[j] + 1))::bigint
								+ floor(random() * 2)::bigint);
						END IF;
						e_ts := e_ts || ts; e_kind := e_kind || 'count'::stock_event_kind;
						e_lot := e_lot || l_lot[j]; e_exp := e_exp || l_exp[j];
						e_qty := e_qty || l_qty[j]; e_reason := e_reason || NULL::text;
					END LOOP;
				END IF;

				-- Drop spent lots now and then, to keep the arrays short.
				IF cardinality(l_qty) > 6 THEN
					SELECT coalesce(array_agg(l_lot[x] ORDER BY x), '{}'),
					       coalesce(array_agg(l_exp[x] ORDER BY x), '{}'),
					       coalesce(array_agg(l_qty[x] ORDER BY x), '{}')
					  INTO l_lot, l_exp, l_qty
					  FROM generate_subscripts(l_qty, 1) AS x
					 WHERE l_qty[x] > 0;
				END IF;
			END LOOP;

			CONTINUE WHEN cardinality(e_ts) = 0;
			INSERT INTO stock_event (site_id, product_id, lot, expiry, kind,
						 quantity, reason, idempotency_key,
						 payload_hash, occurred_at, recorded_by,
						 source)
			SELECT s_id[i], p.id, e.lot, e.expiry, e.kind, e.quantity,
			       e.reason, gen_random_uuid(),
			       -- the fields of src/ledger.c's payload hash, with the
			       -- time in UTC
			       sha256(convert_to(concat_ws(chr(31), 'v1', e.kind,
					s_id[i], p.id, e.quantity, 0,
					coalesce(nullif(e.lot, ''), chr(30)),
					coalesce(to_char(e.expiry, 'YYYY-MM-DD'), chr(30)),
					coalesce(e.reason, chr(30)),
					to_char(e.occurred_at AT TIME ZONE 'UTC',
						'YYYY-MM-DD"T"HH24:MI:SS"Z"')), 'UTF8')),
			       e.occurred_at, 'demo', 'demo'
			  FROM unnest(e_ts, e_kind, e_lot, e_exp, e_qty, e_reason)
			       WITH ORDINALITY AS e (occurred_at, kind, lot, expiry,
						     quantity, reason, n)
			 ORDER BY e.n;
			GET DIAGNOSTICS n = ROW_COUNT;
			total := total + n;
			-- On a fresh database the ledger tables have no statistics
			-- and the trigger's cached plans can pick an index that
			-- makes every insert scan the region's events.  Once there
			-- is something to measure, ANALYZE (it invalidates those
			-- plans); it is allowed inside a transaction.
			IF total >= analyzed_at * 8 THEN
				ANALYZE stock_event, stock_balance, region_product_stock;
				analyzed_at := total;
			END IF;
		END LOOP;
	END LOOP;
	RETURN total;
END
$fn$;
