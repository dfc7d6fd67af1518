-- 014_alerts_speed.sql -- a compact signature of what an open alert says,
-- so that a sweep that finds nothing changed writes nothing (src/alerts.c).
--
-- sig is a 64-bit hash, made by the evaluator, of the alert's rule, scope
-- and of everything its severity, title and details are built from (for
-- the readiness rules the figures and names, in C; for the others the
-- severity, title and details themselves, in SQL).  The evaluator compares
-- the sum and count of the sigs of the conditions holding with those of
-- the open alerts it covers: equal, and nothing is opened, changed or
-- resolved, so it builds no title and joins nothing.  Otherwise it builds
-- and merges only the conditions whose sig differs, and stores theirs.
-- NULL: not known (alerts from before, or of rules the evaluator does not
-- judge, such as obligatory_decline); such an alert is compared in full.
ALTER TABLE alert ADD COLUMN sig bigint;

-- Whoever changes what an alert says without giving its sig makes the
-- sig unknown, so that the next evaluation compares that alert in full
-- and puts back what its rule says.  The evaluator always writes both.
CREATE FUNCTION alert_sig_forget() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.sig := NULL;
	RETURN NEW;
END
$$;
CREATE TRIGGER alert_sig_forget BEFORE UPDATE ON alert
	FOR EACH ROW
	WHEN (NEW.sig IS NOT NULL AND NEW.sig IS NOT DISTINCT FROM OLD.sig
	      AND (NEW.severity, NEW.title, NEW.details)
		  IS DISTINCT FROM (OLD.severity, OLD.title, OLD.details))
	EXECUTE FUNCTION alert_sig_forget();

-- Are obligatory_decline alerts open?  The sweep asks before it calls
-- allocation_obligatory_resolve() (sql/011), which reads every open
-- alert.  Asked under row-level security, no index answers it (an enum's
-- equality is not leakproof, so it cannot go below the policy): it is
-- asked as the owner, and tells only yes or no.
CREATE FUNCTION alert_obligatory_open() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT EXISTS (SELECT 1 FROM alert
			WHERE rule = 'obligatory_decline'
			  AND resolved_at IS NULL)
$$;
REVOKE ALL ON FUNCTION alert_obligatory_open() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alert_obligatory_open() TO lagerbild_app;

-- The statement triggers of 008 and 010 join an UPDATE's old and new
-- rows.  PL/pgSQL plans such a query once per session, for the transition
-- tables of its first call: after a small update (an evaluation that
-- changed a few alerts, allocation_obligatory_resolve() finding none) the
-- join stays a nested loop, and an update of every open alert (last_seen_at
-- every ALERTS_SEEN_GRANULARITY, 130,000 at national scale) then rereads
-- a spilled tuplestore once per row: many minutes.  The same functions,
-- each join planned for the rows at hand (EXECUTE).  What they write is
-- unchanged.
CREATE OR REPLACE FUNCTION alert_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	actor text := coalesce(lb_setting('actor'), session_user);
BEGIN
	-- A severity change is history; a new figure in details is not (the
	-- days of supply move with every issue): the alert row keeps the last.
	EXECUTE $q$
	INSERT INTO alert_event (alert_id, kind, actor, severity, note, details)
	SELECT n.id, k.kind, $1, n.severity,
	       CASE WHEN k.kind = 'acknowledged' THEN n.ack_note END,
	       CASE WHEN k.kind <> 'acknowledged' THEN n.details END
	  FROM new_alerts n JOIN old_alerts o ON o.id = n.id
	 CROSS JOIN LATERAL (VALUES
		('updated'::alert_event_kind, n.severity <> o.severity
		 AND n.resolved_at IS NULL),
		('acknowledged', o.acknowledged_at IS NULL
		 AND n.acknowledged_at IS NOT NULL),
		('resolved', o.resolved_at IS NULL
		 AND n.resolved_at IS NOT NULL)) AS k(kind, happened)
	 WHERE k.happened
	 ORDER BY n.id, k.kind$q$ USING actor;
	EXECUTE $q$
	SELECT webhook_enqueue(ARRAY(
		SELECT n.id FROM new_alerts n JOIN old_alerts o ON o.id = n.id
		 WHERE o.resolved_at IS NULL AND n.resolved_at IS NOT NULL),
		'resolved')$q$;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION alert_email_resolved() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM email_subscription WHERE active) THEN
		EXECUTE $q$
		SELECT email_enqueue(ARRAY(
			SELECT n.id FROM new_alerts n
			  JOIN old_alerts o ON o.id = n.id
			 WHERE o.resolved_at IS NULL
			   AND n.resolved_at IS NOT NULL), 'resolved')$q$;
	END IF;
	RETURN NULL;
END
$$;
