-- 007_readiness.sql -- what days of supply are computed from: targets, the
-- national readiness level and its factors, each region's state, lots in
-- quarantine, and a daily rollup of the ledger kept current incrementally.
--
-- The arithmetic (rate, days, status) is not here: src/readiness.c does it,
-- one way for reports, the API and the alert rules.  This migration gathers
-- its inputs per scope (readiness_inputs below).
--
-- Every change records who (lb_setting('actor')), when and why.  History
-- tables are append-only (stock_event_immutable); a target is never deleted,
-- only ended (valid_to) or withdrawn, and those updates are checked by
-- trigger and audited (audit_row).
--
-- Days are Swedish calendar days: an event's day is its occurred_at in
-- Europe/Stockholm, and "today" is lb_today().

CREATE FUNCTION lb_today() RETURNS date
LANGUAGE sql STABLE AS $$
	SELECT (now() AT TIME ZONE 'Europe/Stockholm')::date
$$;

-- Who may manage national readiness data: targets and the national level.
CREATE FUNCTION lb_coordinates() RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(lb_role() IN ('coordinator', 'system'), false)
$$;

-- ---- targets ----

-- A product under an agreement with no target row of its own gets the
-- agreement's default target (30 days) and this floor.
ALTER TABLE agreement ADD COLUMN default_floor_days integer NOT NULL
	DEFAULT 7 CHECK (default_floor_days > 0);
ALTER TABLE agreement ADD CONSTRAINT agreement_floor_under_target
	CHECK (default_floor_days <= default_target_days);

-- Target and floor in days of supply of a product, for one region or (NULL)
-- every region, over a validity period (valid_to inclusive, NULL: open).  A
-- region's own row wins over the national one.  Rows are not deleted: a
-- target is ended by setting valid_to, or withdrawn (withdrawn_at) when a
-- replacement starts on or before the day it does.  Periods of the live
-- rows of one (product, region) never overlap.
CREATE TABLE target (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	product_id bigint NOT NULL REFERENCES product (id),
	region_code char(2) REFERENCES region (code),
	target_days numeric(7, 2) NOT NULL
		CHECK (target_days > 0 AND target_days <= 3650),
	floor_days numeric(7, 2) NOT NULL DEFAULT 0
		CHECK (floor_days >= 0),
	valid_from date NOT NULL,
	valid_to date,
	agreement_code text REFERENCES agreement (code),
	reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
	created_by text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
	created_at timestamptz NOT NULL DEFAULT now(),
	batch_id bigint REFERENCES import_batch (id)
		DEFERRABLE INITIALLY DEFERRED,
	-- the last change of validity: ended or withdrawn
	changed_by text CHECK (length(changed_by) BETWEEN 1 AND 200),
	changed_at timestamptz,
	change_reason text CHECK (length(change_reason) BETWEEN 1 AND 1000),
	withdrawn_at timestamptz,
	CHECK (floor_days <= target_days),
	CHECK (valid_to IS NULL OR valid_to >= valid_from),
	EXCLUDE USING gist (product_id WITH =,
			    (coalesce(region_code, '--')) WITH =,
			    daterange(valid_from, valid_to, '[]') WITH &&)
		WHERE (withdrawn_at IS NULL)
);
CREATE INDEX target_product ON target (product_id, region_code)
	WHERE withdrawn_at IS NULL;

-- Stamp who and when; only validity may change afterwards, and only by
-- ending earlier or withdrawing, with a reason.
CREATE FUNCTION target_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		NEW.created_by := coalesce(lb_setting('actor'), session_user);
		NEW.created_at := now();
		NEW.changed_by := NULL;
		NEW.changed_at := NULL;
		NEW.change_reason := NULL;
		NEW.withdrawn_at := NULL;
		RETURN NEW;
	END IF;
	IF (NEW.id, NEW.product_id, NEW.region_code, NEW.target_days,
	    NEW.floor_days, NEW.valid_from, NEW.agreement_code, NEW.reason,
	    NEW.created_by, NEW.created_at, NEW.batch_id)
	   IS DISTINCT FROM
	   (OLD.id, OLD.product_id, OLD.region_code, OLD.target_days,
	    OLD.floor_days, OLD.valid_from, OLD.agreement_code, OLD.reason,
	    OLD.created_by, OLD.created_at, OLD.batch_id) THEN
		RAISE EXCEPTION USING ERRCODE = 'LB007',
			MESSAGE = 'a target is not edited: end it and set a new one';
	END IF;
	IF OLD.withdrawn_at IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'LB007',
			MESSAGE = format('target %s was withdrawn', OLD.id);
	END IF;
	IF NEW.withdrawn_at IS NULL AND OLD.valid_to IS NOT NULL
	   AND (NEW.valid_to IS NULL OR NEW.valid_to > OLD.valid_to) THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = format('target %s ends %s: an end is only '
					 'brought forward', OLD.id, OLD.valid_to);
	END IF;
	IF NEW.change_reason IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = 'a reason is required to end a target';
	END IF;
	NEW.changed_by := coalesce(lb_setting('actor'), session_user);
	NEW.changed_at := now();
	RETURN NEW;
END
$$;
CREATE TRIGGER target_stamp BEFORE INSERT OR UPDATE ON target
	FOR EACH ROW EXECUTE FUNCTION target_stamp();
CREATE TRIGGER target_audit AFTER INSERT OR UPDATE ON target
	FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER target_no_delete BEFORE DELETE ON target
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER target_no_truncate BEFORE TRUNCATE ON target
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

ALTER TABLE target ENABLE ROW LEVEL SECURITY;
CREATE POLICY target_read ON target FOR SELECT TO lagerbild_app
	USING (lb_role() IS NOT NULL);
-- Coordinators, the system, and the national import job (importers/targets.c).
CREATE POLICY target_insert ON target FOR INSERT TO lagerbild_app
	WITH CHECK (lb_coordinates()
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));
CREATE POLICY target_update ON target FOR UPDATE TO lagerbild_app
	USING (lb_coordinates()
	       OR (lb_role() = 'importer' AND lb_region() IS NULL))
	WITH CHECK (lb_coordinates()
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));
GRANT SELECT, INSERT, UPDATE ON target TO lagerbild_app;

-- Set a target: the row replaces the live target of its (product, region)
-- from valid_from on.  A target that started earlier is ended the day
-- before; one that starts on or after valid_from and overlaps the new
-- period is withdrawn.  Nothing after the new row's valid_to is restored.
-- Setting exactly the live row again changes nothing.  Runs as the caller
-- (row-level security decides who may).  Returns the live row's id.
CREATE FUNCTION target_set(p_product bigint, p_region text,
			   p_target numeric, p_floor numeric,
			   p_from date, p_to date, p_agreement text,
			   p_reason text, p_batch bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	same bigint;
	new_id bigint;
BEGIN
	SELECT id INTO same FROM target
	 WHERE product_id = p_product
	   AND region_code IS NOT DISTINCT FROM p_region::char(2)
	   AND withdrawn_at IS NULL AND valid_from = p_from
	   AND valid_to IS NOT DISTINCT FROM p_to
	   AND target_days = p_target AND floor_days = coalesce(p_floor, 0)
	   AND agreement_code IS NOT DISTINCT FROM p_agreement;
	IF FOUND THEN
		RETURN same;
	END IF;
	UPDATE target
	   SET withdrawn_at = now(),
	       change_reason = format('replaced from %s: %s', p_from, p_reason)
	 WHERE product_id = p_product
	   AND region_code IS NOT DISTINCT FROM p_region::char(2)
	   AND withdrawn_at IS NULL AND valid_from >= p_from
	   AND (p_to IS NULL OR valid_from <= p_to);
	UPDATE target
	   SET valid_to = p_from - 1,
	       change_reason = format('replaced from %s: %s', p_from, p_reason)
	 WHERE product_id = p_product
	   AND region_code IS NOT DISTINCT FROM p_region::char(2)
	   AND withdrawn_at IS NULL AND valid_from < p_from
	   AND (valid_to IS NULL OR valid_to >= p_from);
	INSERT INTO target (product_id, region_code, target_days, floor_days,
			    valid_from, valid_to, agreement_code, reason,
			    created_by, batch_id)
	VALUES (p_product, p_region, p_target, coalesce(p_floor, 0), p_from,
		p_to, p_agreement, p_reason, 'set by trigger', p_batch)
	RETURNING id INTO new_id;
	RETURN new_id;
END
$$;

-- End a target on day p_to (inclusive).  Ending it before it starts
-- withdraws it.  Runs as the caller.  Returns false when no live target
-- has that id.
CREATE FUNCTION target_end(p_id bigint, p_to date, p_reason text)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE target
	   SET valid_to = CASE WHEN p_to < valid_from THEN valid_to
			       ELSE least(p_to, coalesce(valid_to, p_to)) END,
	       withdrawn_at = CASE WHEN p_to < valid_from THEN now() END,
	       change_reason = p_reason
	 WHERE id = p_id AND withdrawn_at IS NULL;
	RETURN FOUND;
END
$$;

-- ---- readiness levels and region states ----

CREATE TYPE readiness_level AS ENUM (
	'normal', 'peacetime_crisis', 'heightened', 'highest'
);
CREATE TYPE region_state AS ENUM ('normal', 'disaster_risk', 'disaster');

-- How much each national level scales targets and floors.  Data, not code:
-- a coordinator changes a factor with a reason, and the audit log keeps
-- the change.
CREATE TABLE readiness_level_factor (
	level readiness_level PRIMARY KEY,
	factor numeric(6, 3) NOT NULL DEFAULT 1.0
		CHECK (factor > 0 AND factor <= 100),
	reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
	set_by text NOT NULL,
	set_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION readiness_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.set_by := coalesce(lb_setting('actor'), session_user);
	NEW.set_at := now();
	RETURN NEW;
END
$$;
CREATE TRIGGER readiness_level_factor_stamp
	BEFORE INSERT OR UPDATE ON readiness_level_factor
	FOR EACH ROW EXECUTE FUNCTION readiness_stamp();
CREATE TRIGGER readiness_level_factor_audit
	AFTER INSERT OR UPDATE OR DELETE ON readiness_level_factor
	FOR EACH ROW EXECUTE FUNCTION audit_row();

INSERT INTO readiness_level_factor (level, factor, reason, set_by)
SELECT l, 1.0, 'default (007_readiness.sql)', 'migration'
  FROM unnest(enum_range(NULL::readiness_level)) AS l;

-- The national level's history; the current level is the latest row,
-- 'normal' when there is none.
CREATE TABLE readiness_level_history (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	level readiness_level NOT NULL,
	reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
	set_by text NOT NULL,
	set_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER readiness_level_history_stamp
	BEFORE INSERT ON readiness_level_history
	FOR EACH ROW EXECUTE FUNCTION readiness_stamp();

-- Each region's state (katastroftillstånd and the risk of it); the current
-- state is the latest row, 'normal' when there is none.
CREATE TABLE region_state_history (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	region_code char(2) NOT NULL REFERENCES region (code),
	state region_state NOT NULL,
	reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
	set_by text NOT NULL,
	set_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX region_state_history_region
	ON region_state_history (region_code, id);
CREATE TRIGGER region_state_history_stamp
	BEFORE INSERT ON region_state_history
	FOR EACH ROW EXECUTE FUNCTION readiness_stamp();

CREATE TRIGGER readiness_level_history_no_update
	BEFORE UPDATE OR DELETE ON readiness_level_history
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER readiness_level_history_no_truncate
	BEFORE TRUNCATE ON readiness_level_history
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER region_state_history_no_update
	BEFORE UPDATE OR DELETE ON region_state_history
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER region_state_history_no_truncate
	BEFORE TRUNCATE ON region_state_history
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

CREATE FUNCTION readiness_current_level() RETURNS readiness_level
LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT level FROM readiness_level_history
			  ORDER BY id DESC LIMIT 1), 'normal')
$$;

CREATE FUNCTION readiness_current_factor() RETURNS numeric
LANGUAGE sql STABLE AS $$
	SELECT coalesce((SELECT factor FROM readiness_level_factor
			  WHERE level = readiness_current_level()), 1.0)
$$;

-- Everyone authenticated reads levels and states: they are the shared
-- national picture.  The national level and its factors are set by
-- coordinators (and the system).  A region's state is declared by the
-- region itself -- its contact person -- or by a coordinator on the
-- region's word (DESIGN.md: regions decide; a coordinator may have to
-- record a declaration phoned in when the region cannot reach the
-- service).  An importer sets neither.
ALTER TABLE readiness_level_factor ENABLE ROW LEVEL SECURITY;
CREATE POLICY readiness_level_factor_read ON readiness_level_factor
	FOR SELECT TO lagerbild_app USING (lb_role() IS NOT NULL);
CREATE POLICY readiness_level_factor_update ON readiness_level_factor
	FOR UPDATE TO lagerbild_app
	USING (lb_coordinates()) WITH CHECK (lb_coordinates());
GRANT SELECT, UPDATE (factor, reason) ON readiness_level_factor
	TO lagerbild_app;

ALTER TABLE readiness_level_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY readiness_level_history_read ON readiness_level_history
	FOR SELECT TO lagerbild_app USING (lb_role() IS NOT NULL);
CREATE POLICY readiness_level_history_insert ON readiness_level_history
	FOR INSERT TO lagerbild_app WITH CHECK (lb_coordinates());
GRANT SELECT, INSERT ON readiness_level_history TO lagerbild_app;

ALTER TABLE region_state_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY region_state_history_read ON region_state_history
	FOR SELECT TO lagerbild_app USING (lb_role() IS NOT NULL);
CREATE POLICY region_state_history_insert ON region_state_history
	FOR INSERT TO lagerbild_app
	WITH CHECK (lb_coordinates()
		    OR (lb_role() = 'region_contact'
			AND region_code = lb_region()));
GRANT SELECT, INSERT ON region_state_history TO lagerbild_app;

-- ---- quarantine ----

-- Stock held back (a recall, a suspected cold-chain break): a quarantined
-- (site, product, lot) does not count as available while not released.
-- The region decides over its stock, so its contact person, its import job
-- or the system record and release it.  A row is released once, never
-- deleted.
CREATE TABLE lot_quarantine (
	region_code char(2) NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY,
	site_id bigint NOT NULL,
	product_id bigint NOT NULL REFERENCES product (id),
	lot text NOT NULL DEFAULT '',
	reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
	since timestamptz NOT NULL DEFAULT now(),
	created_by text NOT NULL,
	released_at timestamptz,
	released_by text,
	release_reason text CHECK (length(release_reason) BETWEEN 1 AND 1000),
	PRIMARY KEY (region_code, id),
	FOREIGN KEY (region_code, site_id) REFERENCES site (region_code, id),
	CHECK ((released_at IS NULL) = (released_by IS NULL))
);
-- At most one open quarantine per lot, and the lookup for available stock.
CREATE UNIQUE INDEX lot_quarantine_open
	ON lot_quarantine (region_code, site_id, product_id, lot)
	WHERE released_at IS NULL;

CREATE FUNCTION lot_quarantine_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		NEW.created_by := coalesce(lb_setting('actor'), session_user);
		NEW.released_at := NULL;
		NEW.released_by := NULL;
		NEW.release_reason := NULL;
		RETURN NEW;
	END IF;
	IF OLD.released_at IS NOT NULL
	   OR (NEW.region_code, NEW.id, NEW.site_id, NEW.product_id, NEW.lot,
	       NEW.reason, NEW.since, NEW.created_by)
	      IS DISTINCT FROM
	      (OLD.region_code, OLD.id, OLD.site_id, OLD.product_id, OLD.lot,
	       OLD.reason, OLD.since, OLD.created_by)
	   OR NEW.release_reason IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'LB007',
			MESSAGE = 'a quarantine is only released, once, with '
				  'a reason';
	END IF;
	NEW.released_at := now();
	NEW.released_by := coalesce(lb_setting('actor'), session_user);
	RETURN NEW;
END
$$;
CREATE TRIGGER lot_quarantine_stamp BEFORE INSERT OR UPDATE ON lot_quarantine
	FOR EACH ROW EXECUTE FUNCTION lot_quarantine_stamp();
CREATE TRIGGER lot_quarantine_audit AFTER INSERT OR UPDATE ON lot_quarantine
	FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER lot_quarantine_no_delete BEFORE DELETE ON lot_quarantine
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER lot_quarantine_no_truncate BEFORE TRUNCATE ON lot_quarantine
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

ALTER TABLE lot_quarantine ENABLE ROW LEVEL SECURITY;
CREATE POLICY lot_quarantine_read ON lot_quarantine FOR SELECT
	TO lagerbild_app USING (lb_national() OR region_code = lb_region());
CREATE POLICY lot_quarantine_insert ON lot_quarantine FOR INSERT
	TO lagerbild_app
	WITH CHECK (lb_role() = 'system'
		    OR (region_code = lb_region()
			AND lb_role() IN ('importer', 'region_contact')));
CREATE POLICY lot_quarantine_update ON lot_quarantine FOR UPDATE
	TO lagerbild_app
	USING (lb_role() = 'system'
	       OR (region_code = lb_region()
		   AND lb_role() IN ('importer', 'region_contact')))
	WITH CHECK (lb_role() = 'system'
		    OR (region_code = lb_region()
			AND lb_role() IN ('importer', 'region_contact')));
GRANT SELECT, INSERT (region_code, site_id, product_id, lot, reason, since),
	UPDATE (release_reason) ON lot_quarantine TO lagerbild_app;

-- ---- the daily rollup ----

-- Per (site, product, day): what was issued that day (issue events, less
-- the issues later reversed, on the day of the issue), the day's net change
-- over every lot (sum of deltas) and the balance over every lot at the end
-- of the day.  A day is the event's occurred_at in Europe/Stockholm.
-- Only days with events have rows; a day without one ends as the previous
-- row did.  end_balance is the running sum of net in day order: a
-- backdated event shifts the rows after its day too (readiness_refresh).
-- A count's delta is what it changed when it was recorded, so a count
-- backdated behind later events can leave a day's sum negative; such a day
-- counts as out of stock.
--
-- Derived data: only readiness_refresh writes it.
CREATE TABLE stock_daily (
	region_code char(2) NOT NULL,
	site_id bigint NOT NULL,
	product_id bigint NOT NULL,
	day date NOT NULL,
	issued bigint NOT NULL DEFAULT 0,
	net bigint NOT NULL DEFAULT 0,
	end_balance bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (region_code, site_id, product_id, day)
);
-- The window's rows of a product, across sites.
CREATE INDEX stock_daily_product_day
	ON stock_daily (region_code, product_id, day);

-- Per (site, product): the first day with a row and the balance after the
-- last one (the running sum over all rows): the base the window's days are
-- counted back from without reading days before the window.
CREATE TABLE stock_daily_key (
	region_code char(2) NOT NULL,
	site_id bigint NOT NULL,
	product_id bigint NOT NULL,
	first_day date NOT NULL,
	end_balance bigint NOT NULL,
	PRIMARY KEY (region_code, site_id, product_id)
);
CREATE INDEX stock_daily_key_product ON stock_daily_key (product_id);

-- How far the rollup has read the ledger: per region, every event with
-- id <= last_id is in stock_daily.
CREATE TABLE stock_daily_watermark (
	region_code char(2) PRIMARY KEY REFERENCES region (code),
	last_id bigint NOT NULL DEFAULT 0,
	events_read bigint NOT NULL DEFAULT 0, -- by the last refresh
	events_total bigint NOT NULL DEFAULT 0,
	refreshed_at timestamptz
);
INSERT INTO stock_daily_watermark (region_code) SELECT code FROM region;

-- Event ids are drawn before their transaction commits, so a committed id
-- does not mean every smaller id is committed: a writer still in flight may
-- hold one.  Every writer of stock_event holds ROW EXCLUSIVE on it from
-- before it draws an id until it ends.  A refresh reads the sequence's last
-- value, then the writers now holding that lock: once they have all ended,
-- every id up to that value is final.  pending_* keeps such a candidate
-- for a later refresh when writers were in flight; safe_id is what has
-- been confirmed.
CREATE TABLE stock_daily_horizon (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	safe_id bigint NOT NULL DEFAULT 0,
	pending_id bigint,
	pending_vxids text[]
);
INSERT INTO stock_daily_horizon DEFAULT VALUES;

ALTER TABLE stock_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY stock_daily_read ON stock_daily FOR SELECT TO lagerbild_app
	USING (lb_national() OR region_code = lb_region());
ALTER TABLE stock_daily_key ENABLE ROW LEVEL SECURITY;
CREATE POLICY stock_daily_key_read ON stock_daily_key FOR SELECT
	TO lagerbild_app USING (lb_national() OR region_code = lb_region());
ALTER TABLE stock_daily_watermark ENABLE ROW LEVEL SECURITY;
CREATE POLICY stock_daily_watermark_read ON stock_daily_watermark FOR SELECT
	TO lagerbild_app USING (lb_role() IS NOT NULL);
GRANT SELECT ON stock_daily, stock_daily_key, stock_daily_watermark
	TO lagerbild_app;

-- Bring stock_daily up to date with the ledger, reading only events above
-- each region's watermark (the primary key's range, region by region).
-- Any authenticated caller may run it: it writes derived data only, the
-- same for everyone.  Concurrent refreshes queue on the horizon row.
-- Needs READ COMMITTED: each statement must see what committed before it.
-- Returns the number of events read.
CREATE FUNCTION readiness_refresh() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	h stock_daily_horizon%ROWTYPE;
	seq_now bigint;
	writers text[];
	safe bigint;
	n bigint;
BEGIN
	IF lb_role() IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = 'readiness_refresh needs an identity';
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = 'readiness_refresh needs READ COMMITTED';
	END IF;
	SELECT * INTO h FROM stock_daily_horizon FOR UPDATE;
	safe := h.safe_id;
	-- A candidate whose writers have all ended is final.
	IF h.pending_id IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM pg_locks
		 WHERE locktype = 'virtualxid'
		   AND virtualxid = ANY (h.pending_vxids)) THEN
		safe := greatest(safe, h.pending_id);
		h.pending_id := NULL;
	END IF;
	-- The sequence first, then who may still hold an id at or below it.
	seq_now := coalesce(pg_sequence_last_value('stock_event_id_seq'), 0);
	writers := ARRAY(
		SELECT DISTINCT virtualtransaction FROM pg_locks
		 WHERE locktype = 'relation'
		   AND database = (SELECT oid FROM pg_database
				    WHERE datname = current_database())
		   AND relation = 'stock_event'::regclass
		   AND mode = 'RowExclusiveLock'
		   AND pid IS DISTINCT FROM pg_backend_pid());
	IF cardinality(writers) = 0 THEN
		safe := greatest(safe, seq_now);
		h.pending_id := NULL;
	ELSIF h.pending_id IS NULL THEN
		h.pending_id := seq_now;
		h.pending_vxids := writers;
	END IF;
	UPDATE stock_daily_horizon
	   SET safe_id = safe, pending_id = h.pending_id,
	       pending_vxids = CASE WHEN h.pending_id IS NOT NULL
				    THEN h.pending_vxids END;

	-- The new events, per (site, product, day).  An issue's reversal
	-- takes the issue back on the issue's own day.
	CREATE TEMP TABLE IF NOT EXISTS pg_temp.lb_daily_new (
		region_code char(2), site_id bigint, product_id bigint,
		day date, issued bigint, net bigint
	) ON COMMIT DROP;
	TRUNCATE pg_temp.lb_daily_new;
	CREATE TEMP TABLE IF NOT EXISTS pg_temp.lb_daily_read (
		region_code char(2), events bigint
	) ON COMMIT DROP;
	TRUNCATE pg_temp.lb_daily_read;
	WITH ev AS (
		SELECT e.region_code, e.site_id, e.product_id, e.kind,
		       e.quantity, e.delta, e.reverses,
		       (e.occurred_at AT TIME ZONE 'Europe/Stockholm')::date
			       AS day
		  FROM stock_daily_watermark w
		  JOIN stock_event e
		    ON e.region_code = w.region_code AND e.id > w.last_id
		   AND e.id <= safe
	), cnt AS (
		INSERT INTO pg_temp.lb_daily_read
		SELECT region_code, count(*) FROM ev GROUP BY region_code
	), parts AS (
		SELECT region_code, site_id, product_id, day,
		       CASE WHEN kind = 'issue' THEN quantity ELSE 0 END
			       AS issued,
		       delta AS net
		  FROM ev
		UNION ALL
		SELECT ev.region_code, ev.site_id, ev.product_id,
		       (o.occurred_at AT TIME ZONE 'Europe/Stockholm')::date,
		       -o.quantity, 0
		  FROM ev
		  JOIN stock_event o
		    ON o.region_code = ev.region_code AND o.id = ev.reverses
		 WHERE ev.kind = 'reversal' AND o.kind = 'issue'
	)
	INSERT INTO pg_temp.lb_daily_new
	SELECT region_code, site_id, product_id, day, sum(issued), sum(net)
	  FROM parts GROUP BY 1, 2, 3, 4;

	INSERT INTO stock_daily AS d (region_code, site_id, product_id, day,
				      issued, net)
	SELECT region_code, site_id, product_id, day, issued, net
	  FROM pg_temp.lb_daily_new
	 ORDER BY 1, 2, 3, 4
	ON CONFLICT (region_code, site_id, product_id, day) DO UPDATE
	   SET issued = d.issued + excluded.issued,
	       net = d.net + excluded.net;

	-- Running balances from the earliest touched day of each key on.
	WITH touched AS (
		SELECT region_code, site_id, product_id, min(day) AS d0
		  FROM pg_temp.lb_daily_new GROUP BY 1, 2, 3
	), base AS (
		SELECT t.*, coalesce((
			SELECT b.end_balance FROM stock_daily b
			 WHERE b.region_code = t.region_code
			   AND b.site_id = t.site_id
			   AND b.product_id = t.product_id AND b.day < t.d0
			 ORDER BY b.day DESC LIMIT 1), 0) AS start
		  FROM touched t
	), run AS (
		SELECT d.region_code, d.site_id, d.product_id, d.day,
		       base.start + sum(d.net) OVER (
			PARTITION BY d.region_code, d.site_id, d.product_id
			ORDER BY d.day) AS bal
		  FROM base
		  JOIN stock_daily d
		    ON d.region_code = base.region_code
		   AND d.site_id = base.site_id
		   AND d.product_id = base.product_id AND d.day >= base.d0
	)
	UPDATE stock_daily d SET end_balance = run.bal
	  FROM run
	 WHERE d.region_code = run.region_code AND d.site_id = run.site_id
	   AND d.product_id = run.product_id AND d.day = run.day
	   AND d.end_balance <> run.bal;

	INSERT INTO stock_daily_key AS k (region_code, site_id, product_id,
					  first_day, end_balance)
	SELECT t.region_code, t.site_id, t.product_id, t.d0, l.end_balance
	  FROM (SELECT region_code, site_id, product_id, min(day) AS d0
		  FROM pg_temp.lb_daily_new GROUP BY 1, 2, 3) t
	 CROSS JOIN LATERAL (
		SELECT b.end_balance FROM stock_daily b
		 WHERE b.region_code = t.region_code AND b.site_id = t.site_id
		   AND b.product_id = t.product_id
		 ORDER BY b.day DESC LIMIT 1) l
	 ORDER BY 1, 2, 3
	ON CONFLICT (region_code, site_id, product_id) DO UPDATE
	   SET first_day = least(k.first_day, excluded.first_day),
	       end_balance = excluded.end_balance;

	UPDATE stock_daily_watermark w
	   SET last_id = greatest(w.last_id, safe),
	       events_read = coalesce(r.events, 0),
	       events_total = w.events_total + coalesce(r.events, 0),
	       refreshed_at = now()
	  FROM stock_daily_watermark w2
	  LEFT JOIN pg_temp.lb_daily_read r USING (region_code)
	 WHERE w.region_code = w2.region_code;
	SELECT coalesce(sum(events), 0) INTO n FROM pg_temp.lb_daily_read;
	TRUNCATE pg_temp.lb_daily_new;
	TRUNCATE pg_temp.lb_daily_read;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION readiness_refresh() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION readiness_refresh() TO lagerbild_app;

-- ---- the inputs of readiness_compute, per scope ----

-- One row per (scope key, product) that the scope has any record of (a
-- ledger event or a consumption report), with what src/readiness.h asks:
--
--   available   stock_balance of lots not expired (expiry NULL or today or
--               later) and not in an open quarantine.  Stock in transit
--               out needs no exclusion: transfer_out takes it off the
--               giver's balance when it is sent.
--   issued      over the window [today - window + 1, today]: imported
--               consumption (consumption_report) prorated by the overlap
--               of its period with the window, plus ledger issues on the
--               (site, product, day)s that no report covers -- a report is
--               the region's own account of those days and wins, so
--               nothing counts twice.
--   history_days days of the window since the scope's first record (ledger
--               or report).
--   stockout_days days since the first ledger record ending with the
--               scope's summed balance (all lots) at or below zero; days
--               before any ledger record are not known to be stockouts.
--   target_days, floor_days: at site and region scope, the region's own
--               target valid today, else the national one, else the
--               product's agreement's defaults, else none (0); at
--               sjukvårdsregion and nation scope the national target, else
--               the agreement's defaults.
--   factor      the current national level's.
--
-- Site rows are region detail: a region-scoped caller gets its own
-- region's only.  Region rows and above are the shared national picture,
-- like region_product_stock, so the function reads as its owner and
-- checks the caller itself.  Ordered by region, sjukvårdsregion, site,
-- product.
CREATE FUNCTION readiness_inputs(p_scope text, p_region text,
				 p_healthcare_region text, p_category text,
				 p_product bigint, p_agreement text,
				 p_window integer)
RETURNS TABLE (region_code text, healthcare_region text, site_id bigint,
	       site_code text, product_id bigint, product_name text,
	       category text, agreement text, available bigint,
	       issued bigint, history_days integer, stockout_days integer,
	       target_days numeric, floor_days numeric, factor numeric)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
	today date := lb_today();
	wstart date;
	-- once, not per row: a function call per row of 420,000 is seconds
	cur_factor numeric := readiness_current_factor();
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
	RETURN QUERY
	WITH prod AS (
		SELECT p.id, p.name, p.category::text AS category,
		       p.agreement_code
		  FROM product p
		 WHERE (p_category IS NULL OR p.category::text = p_category)
		   AND (p_product IS NULL OR p.id = p_product)
	), reg AS (
		SELECT r.code::text AS code, r.healthcare_region AS hc
		  FROM region r
		 WHERE (p_region IS NULL OR r.code = p_region)
		   AND (p_healthcare_region IS NULL
			OR r.healthcare_region = p_healthcare_region)
		   -- region detail: a region-scoped caller's own only
		   AND (p_scope <> 'site' OR lb_national()
			OR r.code = lb_region())
	), avail AS (
		SELECT b.region_code::text AS region_code, b.site_id,
		       b.product_id,
		       coalesce(sum(b.quantity) FILTER (
			WHERE (b.expiry IS NULL OR b.expiry >= today)
			  AND NOT EXISTS (
				SELECT 1 FROM lot_quarantine q
				 WHERE q.region_code = b.region_code
				   AND q.site_id = b.site_id
				   AND q.product_id = b.product_id
				   AND q.lot = b.lot
				   AND q.released_at IS NULL)), 0) AS qty
		  FROM stock_balance b
		  JOIN reg ON reg.code = b.region_code
		  JOIN prod ON prod.id = b.product_id
		 GROUP BY 1, 2, 3
	), days AS ( -- the window's rows (and any dated after today)
		SELECT d.region_code::text AS region_code, d.site_id,
		       d.product_id, d.day, d.net,
		       CASE WHEN d.issued <> 0 AND d.day <= today
			     AND NOT EXISTS (
				SELECT 1 FROM consumption_report c
				 WHERE c.region_code = d.region_code
				   AND c.site_id = d.site_id
				   AND c.product_id = d.product_id
				   AND d.day BETWEEN c.period_start
						 AND c.period_end)
			    THEN d.issued ELSE 0 END AS issued
		  FROM stock_daily d
		  JOIN reg ON reg.code = d.region_code
		  JOIN prod ON prod.id = d.product_id
		 WHERE d.day >= wstart
	), days_sp AS (
		SELECT x.region_code, x.site_id, x.product_id,
		       sum(x.issued) AS ledger_qty,
		       sum(x.net) FILTER (WHERE x.day > today) AS future_net
		  FROM days x GROUP BY 1, 2, 3
	), reports AS (
		SELECT c.region_code::text AS region_code, c.site_id,
		       c.product_id, min(c.period_start) AS first_day,
		       sum(c.quantity::numeric
			   * greatest(least(c.period_end, today)
				      - greatest(c.period_start, wstart) + 1, 0)
			   / (c.period_end - c.period_start + 1))
			       FILTER (WHERE c.period_end >= wstart
					 AND c.period_start <= today) AS qty
		  FROM consumption_report c
		  JOIN reg ON reg.code = c.region_code
		  JOIN prod ON prod.id = c.product_id
		 GROUP BY 1, 2, 3
	), keys AS (
		SELECT k.region_code::text AS region_code, k.site_id,
		       k.product_id, k.first_day, k.end_balance
		  FROM stock_daily_key k
		  JOIN reg ON reg.code = k.region_code
		  JOIN prod ON prod.id = k.product_id
	), sp_keys AS ( -- every (site, product) with a record
		SELECT region_code, site_id, product_id FROM keys
		UNION
		SELECT region_code, site_id, product_id FROM reports
		UNION
		SELECT region_code, site_id, product_id FROM avail
	), per_sp AS (
		SELECT s.region_code, s.site_id, s.product_id,
		       -- group keys never NULL ('' and 0 for "all"), so that
		       -- the joins below are plain equalities a hash join can
		       -- take, not IS NOT DISTINCT FROM, which it cannot
		       CASE WHEN p_scope IN ('site', 'region')
			    THEN s.region_code ELSE '' END AS g_region,
		       CASE WHEN p_scope <> 'nation' THEN reg.hc ELSE '' END
			       AS g_hc,
		       CASE WHEN p_scope = 'site' THEN s.site_id ELSE 0 END
			       AS g_site,
		       coalesce(a.qty, 0) AS available,
		       coalesce(r.qty, 0) AS report_qty,
		       coalesce(ds.ledger_qty, 0) AS ledger_qty,
		       coalesce(ds.future_net, 0) AS future_net,
		       k.first_day AS stock_first,
		       coalesce(k.end_balance, 0) AS last_bal,
		       r.first_day AS report_first
		  FROM sp_keys s
		  JOIN reg ON reg.code = s.region_code
		  LEFT JOIN avail a USING (region_code, site_id, product_id)
		  LEFT JOIN reports r USING (region_code, site_id, product_id)
		  LEFT JOIN days_sp ds USING (region_code, site_id, product_id)
		  LEFT JOIN keys k USING (region_code, site_id, product_id)
	), grp AS (
		SELECT ps.g_region, ps.g_hc, ps.g_site, ps.product_id,
		       sum(ps.available)::bigint AS available,
		       round(sum(ps.report_qty) + sum(ps.ledger_qty))::bigint
			       AS issued,
		       min(ps.stock_first) AS stock_first,
		       least(min(ps.stock_first), min(ps.report_first))
			       AS first_day,
		       sum(ps.last_bal) AS last_bal,
		       sum(ps.future_net) AS future_net
		  FROM per_sp ps
		 GROUP BY 1, 2, 3, 4
	), gdays AS ( -- the group's net change per day
		SELECT ps.g_region, ps.g_hc, ps.g_site, ps.product_id, x.day,
		       sum(x.net) AS net
		  FROM days x
		  JOIN per_sp ps USING (region_code, site_id, product_id)
		 GROUP BY 1, 2, 3, 4, 5
	), gbal AS ( -- its balance at the end of each day with a change
		SELECT gd.*,
		       g.last_bal - coalesce(sum(gd.net) OVER (
				PARTITION BY gd.g_region, gd.g_hc, gd.g_site,
					     gd.product_id
				ORDER BY gd.day DESC
				ROWS BETWEEN UNBOUNDED PRECEDING
					 AND 1 PRECEDING), 0) AS bal,
		       greatest(wstart, g.stock_first) AS s
		  FROM gdays gd
		  JOIN grp g
		    ON g.g_region = gd.g_region AND g.g_hc = gd.g_hc
		   AND g.g_site = gd.g_site
		   AND g.product_id = gd.product_id
	), segs AS ( -- constant stretches from each change day on
		SELECT b.*,
		       coalesce(lead(b.day) OVER w, today + 1) AS next_day,
		       row_number() OVER w AS k
		  FROM gbal b
		 WHERE b.day >= b.s AND b.day <= today
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
		 WHERE t.withdrawn_at IS NULL AND t.valid_from <= today
		   AND (t.valid_to IS NULL OR t.valid_to >= today)
	)
	SELECT nullif(g.g_region, ''), nullif(g.g_hc, ''),
	       nullif(g.g_site, 0), si.code::text,
	       g.product_id, prod.name, prod.category,
	       coalesce(tr.agreement_code, tn.agreement_code,
			prod.agreement_code),
	       g.available, g.issued,
	       CASE WHEN g.first_day IS NULL OR g.first_day > today THEN 0
		    ELSE (today - greatest(wstart, g.first_day) + 1) END,
	       CASE WHEN g.stock_first IS NULL OR g.stock_first > today THEN 0
		    ELSE (coalesce(go.out_days, 0)
			  -- the days from s to the first change (or today)
			  + CASE WHEN coalesce(go.pre_bal,
					       g.last_bal - g.future_net) <= 0
				 THEN coalesce(go.first_change, today + 1)
				      - greatest(wstart, g.stock_first)
				 ELSE 0 END)::integer END,
	       coalesce(tr.target_days, tn.target_days, ag.default_target_days,
			0)::numeric,
	       CASE WHEN tr.product_id IS NOT NULL THEN tr.floor_days
		    WHEN tn.product_id IS NOT NULL THEN tn.floor_days
		    WHEN ag.code IS NOT NULL
			 THEN least(ag.default_floor_days,
				    ag.default_target_days)
		    ELSE 0 END::numeric,
	       cur_factor
	  FROM grp g
	  JOIN prod ON prod.id = g.product_id
	  LEFT JOIN site si ON si.id = g.g_site
	  LEFT JOIN gout go
		 ON go.g_region = g.g_region AND go.g_hc = g.g_hc
		AND go.g_site = g.g_site
		AND go.product_id = g.product_id
	  LEFT JOIN tgt tr
		 ON tr.product_id = g.product_id AND g.g_region <> ''
		AND tr.region_code = g.g_region
	  LEFT JOIN tgt tn
		 ON tn.product_id = g.product_id AND tn.region_code IS NULL
	  LEFT JOIN agreement ag ON ag.code = prod.agreement_code
	 WHERE p_agreement IS NULL
	    OR coalesce(tr.agreement_code, tn.agreement_code,
			prod.agreement_code) = p_agreement
	 ORDER BY g.g_region, g.g_hc, si.code, prod.name, g.product_id;
END
$$;
REVOKE ALL ON FUNCTION readiness_inputs(text, text, text, text, bigint, text,
					integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION readiness_inputs(text, text, text, text, bigint,
					   text, integer) TO lagerbild_app;
