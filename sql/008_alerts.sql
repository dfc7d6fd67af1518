-- 008_alerts.sql -- alerts, their history, and signed webhook notifications
-- (src/alerts.c, src/webhook.c).
--
-- An alert is one condition (rule) on one scope: a (region, product) for
-- the readiness, shortage and stale-reporting rules, a lot at a site for
-- expiring lots, a region for region_disaster, the nation for ledger_drift.
-- scope_key spells the scope out ("region:01/product:42"); there is at most
-- one OPEN alert per (rule, scope_key), enforced by a partial unique index.
--
-- Only the evaluator writes alerts (role system: `lagerbild alerts run` and
-- the server's alert thread).  People acknowledge through
-- alert_acknowledge(), which checks who may.  alert_event, the history, is
-- written by the statement triggers below, whatever path changed the alert,
-- so it cannot be skipped: opened, updated (severity changed), acknowledged,
-- resolved.  The same triggers queue a webhook delivery for each alert
-- opened or resolved, to every active subscription whose filters match, in
-- the transaction that changed the alert.
--
-- Visibility: national roles see every alert; a region's contact person and
-- importer see their region's.  Alerts without a region (ledger_drift) are
-- an operations matter and visible to national roles only.

CREATE TYPE alert_rule AS ENUM (
	'stockout', 'below_floor', 'below_target', 'expiring_lots',
	'shortage_notice', 'stale_reporting', 'region_disaster', 'ledger_drift'
);
-- Ordered: a subscription's min_severity compares with >=.
CREATE TYPE alert_severity AS ENUM ('info', 'warning', 'critical');
CREATE TYPE alert_event_kind AS ENUM (
	'opened', 'updated', 'acknowledged', 'resolved'
);

CREATE TABLE alert (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	rule alert_rule NOT NULL,
	severity alert_severity NOT NULL,
	region_code char(2) REFERENCES region (code), -- NULL: national
	product_id bigint REFERENCES product (id),
	site_id bigint REFERENCES site (id),
	lot text CHECK (length(lot) <= 64),
	scope_key text NOT NULL CHECK (length(scope_key) BETWEEN 1 AND 200),
	title text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
	-- what the rule saw, last time it looked: quantities, days, expiry ...
	details jsonb NOT NULL DEFAULT '{}'
		CHECK (jsonb_typeof(details) = 'object'),
	opened_at timestamptz NOT NULL DEFAULT now(),
	-- kept to the minutes (src/alerts.c ALERTS_SEEN_GRANULARITY), not
	-- written on every evaluation
	last_seen_at timestamptz NOT NULL DEFAULT now(),
	acknowledged_at timestamptz,
	acknowledged_by text CHECK (length(acknowledged_by) BETWEEN 1 AND 200),
	ack_note text CHECK (length(ack_note) BETWEEN 1 AND 1000),
	resolved_at timestamptz,
	CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
	CHECK (resolved_at IS NULL OR resolved_at >= opened_at)
);
CREATE UNIQUE INDEX alert_open_once ON alert (rule, scope_key)
	WHERE resolved_at IS NULL;
-- Incremental evaluation resolves a (region, product)'s open alerts.
CREATE INDEX alert_open_scope ON alert (region_code, product_id)
	WHERE resolved_at IS NULL;
CREATE INDEX alert_opened ON alert (opened_at);

CREATE TABLE alert_event (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	alert_id bigint NOT NULL REFERENCES alert (id),
	kind alert_event_kind NOT NULL,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	actor text NOT NULL,
	severity alert_severity NOT NULL,
	note text,
	details jsonb
);
CREATE INDEX alert_event_alert ON alert_event (alert_id, id);
CREATE TRIGGER alert_event_no_update BEFORE UPDATE OR DELETE ON alert_event
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER alert_event_no_truncate BEFORE TRUNCATE ON alert_event
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

-- ---- webhooks ----

-- A subscription: where to POST, and which alerts.  An empty or NULL
-- filter array matches everything; an alert without a region (or product)
-- matches only subscriptions without a region (category) filter.  The URL
-- rule is importers/fetch.c's: https, or http to a loopback address (tests,
-- a local relay); src/webhook.c checks it again before every POST.
CREATE TABLE webhook_subscription (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	url text NOT NULL CHECK (length(url) <= 2048 AND (url ~ '^https://[^/?#@ ]+'
		OR url ~ '^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?(/|$)')),
	regions char(2)[],
	categories product_category[],
	rules alert_rule[],
	min_severity alert_severity NOT NULL DEFAULT 'warning',
	description text CHECK (length(description) BETWEEN 1 AND 200),
	active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	created_by text NOT NULL DEFAULT coalesce(lb_setting('actor'), session_user),
	deactivated_at timestamptz,
	CHECK (active = (deactivated_at IS NULL))
);
CREATE TRIGGER webhook_subscription_audit AFTER INSERT OR UPDATE OR DELETE
	ON webhook_subscription FOR EACH ROW EXECUTE FUNCTION audit_row();

-- The signing keys, apart, so that no SELECT on subscriptions (and no
-- audit row) ever carries one.  The key is shown once, when the
-- subscription is made, and is then readable only by the schema owner and
-- through webhook_key() by the system identity that delivers.  It is not
-- encrypted at rest: HMAC needs the key itself, and a key to encrypt it
-- with would sit next to it in the service's configuration.
CREATE TABLE webhook_key (
	subscription_id bigint PRIMARY KEY REFERENCES webhook_subscription (id),
	key bytea NOT NULL CHECK (length(key) = 32)
);
ALTER TABLE webhook_key ENABLE ROW LEVEL SECURITY;

CREATE TYPE webhook_delivery_status AS ENUM ('pending', 'delivered', 'failed');

-- One notification to one subscriber: the queue and the log.  payload is
-- the JSON body, fixed when queued.  A pending delivery is tried when
-- next_attempt_at has come; after a failed attempt it waits twice as long
-- as before; after max_attempts it is 'failed'.  Every attempt is a
-- webhook_attempt row.
CREATE TABLE webhook_delivery (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subscription_id bigint NOT NULL REFERENCES webhook_subscription (id),
	alert_id bigint NOT NULL REFERENCES alert (id),
	event alert_event_kind NOT NULL,
	payload jsonb NOT NULL,
	status webhook_delivery_status NOT NULL DEFAULT 'pending',
	attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	last_attempt_at timestamptz,
	response_code integer,
	error text CHECK (length(error) <= 1000),
	created_at timestamptz NOT NULL DEFAULT now(),
	delivered_at timestamptz,
	CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (next_attempt_at)
	WHERE status = 'pending';
CREATE INDEX webhook_delivery_subscription
	ON webhook_delivery (subscription_id, id);

CREATE TABLE webhook_attempt (
	delivery_id bigint NOT NULL REFERENCES webhook_delivery (id),
	n integer NOT NULL CHECK (n >= 1),
	at timestamptz NOT NULL DEFAULT now(),
	response_code integer, -- NULL: no response came
	error text CHECK (length(error) <= 1000),
	duration_ms integer NOT NULL CHECK (duration_ms >= 0),
	PRIMARY KEY (delivery_id, n)
);
CREATE TRIGGER webhook_attempt_no_update BEFORE UPDATE OR DELETE
	ON webhook_attempt FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();

-- ---- history and notification, set-wise ----

-- The JSON an alert is known by, in the API and in a webhook's payload.
CREATE FUNCTION alert_json(a alert) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT jsonb_build_object(
		'id', a.id, 'rule', a.rule, 'severity', a.severity,
		'region', a.region_code, 'product_id', a.product_id,
		'product', (SELECT coalesce(p.vnr, p.npl_pack_id, p.gtin)
			      FROM product p WHERE p.id = a.product_id),
		'product_name', (SELECT p.name FROM product p
				  WHERE p.id = a.product_id),
		'category', (SELECT p.category FROM product p
			      WHERE p.id = a.product_id),
		'site', (SELECT s.code FROM site s WHERE s.id = a.site_id),
		'lot', a.lot, 'scope_key', a.scope_key, 'title', a.title,
		'details', a.details, 'opened_at', a.opened_at,
		'last_seen_at', a.last_seen_at,
		'acknowledged_at', a.acknowledged_at,
		'acknowledged_by', a.acknowledged_by, 'ack_note', a.ack_note,
		'resolved_at', a.resolved_at,
		'status', CASE WHEN a.resolved_at IS NOT NULL THEN 'resolved'
			       WHEN a.acknowledged_at IS NOT NULL
				    THEN 'acknowledged'
			       ELSE 'open' END)
$$;

-- Queue deliveries of event for the alerts in changed (id list).
CREATE FUNCTION webhook_enqueue(ids bigint[], ev alert_event_kind)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
	INSERT INTO webhook_delivery (subscription_id, alert_id, event, payload)
	SELECT s.id, a.id, ev,
	       jsonb_build_object('event', ev, 'subscription', s.id,
				  'sent_for', 'lagerbild',
				  'alert', alert_json(a))
	  FROM alert a
	  LEFT JOIN product p ON p.id = a.product_id
	  JOIN webhook_subscription s
	    ON s.active
	   AND (coalesce(cardinality(s.regions), 0) = 0
		OR a.region_code = ANY (s.regions))
	   AND (coalesce(cardinality(s.categories), 0) = 0
		OR p.category = ANY (s.categories))
	   AND (coalesce(cardinality(s.rules), 0) = 0
		OR a.rule = ANY (s.rules))
	   AND a.severity >= s.min_severity
	 WHERE a.id = ANY (ids)
	   -- nothing to select when nobody subscribes: skip the JSON
	   AND EXISTS (SELECT 1 FROM webhook_subscription WHERE active)
$$;

CREATE FUNCTION alert_opened() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	INSERT INTO alert_event (alert_id, kind, actor, severity, details)
	SELECT id, 'opened', coalesce(lb_setting('actor'), session_user),
	       severity, details
	  FROM new_alerts;
	PERFORM webhook_enqueue(ARRAY(SELECT id FROM new_alerts), 'opened');
	RETURN NULL;
END
$$;
CREATE TRIGGER alert_opened AFTER INSERT ON alert
	REFERENCING NEW TABLE AS new_alerts
	FOR EACH STATEMENT EXECUTE FUNCTION alert_opened();

CREATE FUNCTION alert_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	actor text := coalesce(lb_setting('actor'), session_user);
BEGIN
	-- A severity change is history; a new figure in details is not (the
	-- days of supply move with every issue): the alert row keeps the last.
	INSERT INTO alert_event (alert_id, kind, actor, severity, note, details)
	SELECT n.id, k.kind, actor, n.severity,
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
	 ORDER BY n.id, k.kind;
	PERFORM webhook_enqueue(ARRAY(
		SELECT n.id FROM new_alerts n JOIN old_alerts o ON o.id = n.id
		 WHERE o.resolved_at IS NULL AND n.resolved_at IS NOT NULL),
		'resolved');
	RETURN NULL;
END
$$;
CREATE TRIGGER alert_changed AFTER UPDATE ON alert
	REFERENCING OLD TABLE AS old_alerts NEW TABLE AS new_alerts
	FOR EACH STATEMENT EXECUTE FUNCTION alert_changed();

-- A person acknowledges an alert, with a note: a coordinator (or the
-- system) any alert, a region's contact person their region's.  Returns
-- the alert as alert_json.  LB003 no such alert, 42501 not yours,
-- LB005 already acknowledged or resolved (the ledger's
-- "already done" code: a conflict).
CREATE FUNCTION alert_acknowledge(alert_id bigint, note text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	a alert%ROWTYPE;
	actor text := coalesce(lb_setting('actor'), session_user);
BEGIN
	SELECT * INTO a FROM alert WHERE id = alert_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'LB003',
			MESSAGE = format('alert %s does not exist', alert_id);
	END IF;
	IF NOT coalesce(lb_role() IN ('coordinator', 'system')
			OR (lb_role() = 'region_contact'
			    AND a.region_code = lb_region()), false) THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = CASE WHEN a.region_code IS NULL
				THEN format('alert %s is national: a '
					    'coordinator acknowledges it',
					    alert_id)
				ELSE format('alert %s is region %s''s: its '
					    'contact persons or a coordinator '
					    'acknowledge it', alert_id,
					    a.region_code) END;
	END IF;
	IF note IS NULL OR length(note) NOT BETWEEN 1 AND 1000 THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = 'an acknowledgement needs a note of 1 to '
				  '1000 characters';
	END IF;
	IF a.resolved_at IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'LB005',
			MESSAGE = format('alert %s was resolved at %s',
					 alert_id, a.resolved_at);
	END IF;
	IF a.acknowledged_at IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'LB005',
			MESSAGE = format('alert %s was already acknowledged '
					 'by %s at %s', alert_id,
					 a.acknowledged_by, a.acknowledged_at);
	END IF;
	UPDATE alert SET acknowledged_at = now(), acknowledged_by = actor,
			 ack_note = note
	 WHERE id = alert_id
	RETURNING * INTO a;
	RETURN alert_json(a);
END
$$;

-- The signing key of a subscription, for the system identity that
-- delivers; nobody else.
CREATE FUNCTION webhook_key(subscription bigint) RETURNS bytea
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF coalesce(lb_role(), '') <> 'system' THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = 'only the delivering system reads signing keys';
	END IF;
	RETURN (SELECT key FROM webhook_key WHERE subscription_id = subscription);
END
$$;

-- Store the key of a subscription just made (in the same transaction, by
-- whoever may make subscriptions); a key is never replaced.
CREATE FUNCTION webhook_key_set(subscription bigint, k bytea) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF coalesce(lb_role(), '') NOT IN ('system', 'admin', 'coordinator') THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = 'only admins and coordinators manage webhooks';
	END IF;
	INSERT INTO webhook_key VALUES (subscription, k);
END
$$;

-- ---- row-level security ----

ALTER TABLE alert ENABLE ROW LEVEL SECURITY;
CREATE POLICY alert_read ON alert FOR SELECT TO lagerbild_app
	USING (lb_national() OR region_code = lb_region());
CREATE POLICY alert_insert ON alert FOR INSERT TO lagerbild_app
	WITH CHECK (lb_role() = 'system');
CREATE POLICY alert_update ON alert FOR UPDATE TO lagerbild_app
	USING (lb_role() = 'system') WITH CHECK (lb_role() = 'system');

ALTER TABLE alert_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY alert_event_read ON alert_event FOR SELECT TO lagerbild_app
	USING (EXISTS (SELECT 1 FROM alert a WHERE a.id = alert_id));

ALTER TABLE webhook_subscription ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhook_subscription_all ON webhook_subscription
	TO lagerbild_app
	USING (lb_role() IN ('system', 'admin', 'coordinator'))
	WITH CHECK (lb_role() IN ('system', 'admin', 'coordinator'));

ALTER TABLE webhook_delivery ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhook_delivery_read ON webhook_delivery FOR SELECT
	TO lagerbild_app
	USING (lb_role() IN ('system', 'admin', 'coordinator'));
CREATE POLICY webhook_delivery_update ON webhook_delivery FOR UPDATE
	TO lagerbild_app
	USING (lb_role() = 'system') WITH CHECK (lb_role() = 'system');

ALTER TABLE webhook_attempt ENABLE ROW LEVEL SECURITY;
CREATE POLICY webhook_attempt_read ON webhook_attempt FOR SELECT
	TO lagerbild_app
	USING (lb_role() IN ('system', 'admin', 'coordinator'));
CREATE POLICY webhook_attempt_insert ON webhook_attempt FOR INSERT
	TO lagerbild_app WITH CHECK (lb_role() = 'system');

GRANT SELECT, INSERT, UPDATE ON alert TO lagerbild_app;
GRANT SELECT ON alert_event TO lagerbild_app;
GRANT SELECT, INSERT, UPDATE ON webhook_subscription TO lagerbild_app;
GRANT SELECT, UPDATE ON webhook_delivery TO lagerbild_app;
GRANT SELECT, INSERT ON webhook_attempt TO lagerbild_app;
REVOKE ALL ON FUNCTION alert_acknowledge(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook_key(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook_key_set(bigint, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook_enqueue(bigint[], alert_event_kind) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alert_acknowledge(bigint, text) TO lagerbild_app;
GRANT EXECUTE ON FUNCTION webhook_key(bigint) TO lagerbild_app;
GRANT EXECUTE ON FUNCTION webhook_key_set(bigint, bytea) TO lagerbild_app;
GRANT EXECUTE ON FUNCTION alert_json(alert) TO lagerbild_app;
