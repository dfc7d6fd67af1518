-- 010_email.sql -- alert notifications by email through an SMTP relay
-- (src/mailer.c), beside the webhooks of 008.
--
-- Built as the webhooks are: a subscription (an address and the same
-- filters), one delivery queued per (subscription, alert event) by
-- statement triggers on alert, in the transaction that opened or resolved
-- the alert, and one log row per attempt.  Which alerts a subscription
-- gets is decided by alert_filter_match(), which webhook_enqueue uses too
-- from here on, so the two channels cannot come to disagree; both carry
-- alert_notice() as their payload.
--
-- Email is on only where the service has LAGERBILD_SMTP_URL.  Without it
-- deliveries wait in the queue; src/mailer.c gives up, unsent, those
-- queued longer ago than its max age (a day) once email is on, so turning
-- it on does not flood anyone with yesterday's news.

-- ---- what both channels share ----

-- Does an alert pass a subscription's filters?  An empty or NULL filter
-- array matches everything; an alert without a region (or product) passes
-- only subscriptions without a region (category) filter.  Plain SQL, not
-- SECURITY DEFINER, so that the planner inlines it into the join.
CREATE FUNCTION alert_filter_match(a_region char(2),
	a_category product_category, a_rule alert_rule,
	a_severity alert_severity, f_regions char(2)[],
	f_categories product_category[], f_rules alert_rule[],
	f_min_severity alert_severity) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT (coalesce(cardinality(f_regions), 0) = 0
		OR coalesce(a_region = ANY (f_regions), false))
	   AND (coalesce(cardinality(f_categories), 0) = 0
		OR coalesce(a_category = ANY (f_categories), false))
	   AND (coalesce(cardinality(f_rules), 0) = 0
		OR coalesce(a_rule = ANY (f_rules), false))
	   AND a_severity >= f_min_severity
$$;

-- The notice of one alert event to one subscriber: what a webhook POSTs
-- and what an email is written from.
CREATE FUNCTION alert_notice(a alert, ev alert_event_kind, subscription bigint)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT jsonb_build_object('event', ev, 'subscription', subscription,
				  'sent_for', 'lagerbild',
				  'alert', alert_json(a))
$$;

-- 008's queueing of webhooks, now through the shared filter and notice;
-- what it queues is unchanged.
CREATE OR REPLACE FUNCTION webhook_enqueue(ids bigint[], ev alert_event_kind)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
	INSERT INTO webhook_delivery (subscription_id, alert_id, event, payload)
	SELECT s.id, a.id, ev, alert_notice(a, ev, s.id)
	  FROM alert a
	  LEFT JOIN product p ON p.id = a.product_id
	  JOIN webhook_subscription s
	    ON s.active
	   AND alert_filter_match(a.region_code, p.category, a.rule,
				  a.severity, s.regions, s.categories, s.rules,
				  s.min_severity)
	 WHERE a.id = ANY (ids)
	   -- nothing to select when nobody subscribes: skip the JSON
	   AND EXISTS (SELECT 1 FROM webhook_subscription WHERE active)
$$;

-- ---- email ----

-- A subscription: an address and which alerts.  The address rule is
-- src/mailer.c's (mailer_check_address): an ASCII dot-atom local part, a
-- host name with at least two labels; the CHECK is the second line that
-- keeps a line break out of a header whatever path wrote the row.
CREATE TABLE email_subscription (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	address text NOT NULL CHECK (length(address) <= 254 AND address ~
		'^[A-Za-z0-9!#$%&''*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z0-9-]*[A-Za-z0-9]$'),
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
CREATE TRIGGER email_subscription_audit AFTER INSERT OR UPDATE OR DELETE
	ON email_subscription FOR EACH ROW EXECUTE FUNCTION audit_row();

-- One email to one subscriber: the queue and the log, with the states of
-- a webhook delivery.  payload is alert_notice() and what the text needs
-- besides (region name, unit, local times), fixed when queued, so that a
-- retry sends the same message.  response_code is the relay's last SMTP
-- reply code (NULL: none came).  A 4xx reply or no reply is tried again
-- after backoff, doubling, up to max_attempts; a 5xx reply is final.
CREATE TABLE email_delivery (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subscription_id bigint NOT NULL REFERENCES email_subscription (id),
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
	CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
	-- one email per subscription and alert event, whatever fires twice
	UNIQUE (subscription_id, alert_id, event)
);
CREATE INDEX email_delivery_due ON email_delivery (next_attempt_at)
	WHERE status = 'pending';

CREATE TABLE email_attempt (
	delivery_id bigint NOT NULL REFERENCES email_delivery (id),
	n integer NOT NULL CHECK (n >= 1),
	at timestamptz NOT NULL DEFAULT now(),
	response_code integer, -- NULL: no SMTP reply came
	error text CHECK (length(error) <= 1000),
	duration_ms integer NOT NULL CHECK (duration_ms >= 0),
	PRIMARY KEY (delivery_id, n)
);
CREATE TRIGGER email_attempt_no_update BEFORE UPDATE OR DELETE
	ON email_attempt FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();

-- Queue emails of event for the alerts ids.
CREATE FUNCTION email_enqueue(ids bigint[], ev alert_event_kind)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
	INSERT INTO email_delivery (subscription_id, alert_id, event, payload)
	SELECT s.id, a.id, ev,
	       alert_notice(a, ev, s.id) || jsonb_build_object(
		'region_name', g.name, 'base_unit', p.base_unit,
		'opened_local', to_char(a.opened_at AT TIME ZONE
			'Europe/Stockholm', 'YYYY-MM-DD HH24:MI'),
		'resolved_local', to_char(a.resolved_at AT TIME ZONE
			'Europe/Stockholm', 'YYYY-MM-DD HH24:MI'))
	  FROM alert a
	  LEFT JOIN product p ON p.id = a.product_id
	  LEFT JOIN region g ON g.code = a.region_code
	  JOIN email_subscription s
	    ON s.active
	   AND alert_filter_match(a.region_code, p.category, a.rule,
				  a.severity, s.regions, s.categories, s.rules,
				  s.min_severity)
	 WHERE a.id = ANY (ids)
	ON CONFLICT (subscription_id, alert_id, event) DO NOTHING
$$;

-- Beside 008's alert_opened and alert_changed, in the same transaction.
-- Without an active subscription they cost one index-less probe of a
-- small table.
CREATE FUNCTION alert_email_opened() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM email_subscription WHERE active) THEN
		PERFORM email_enqueue(ARRAY(SELECT id FROM new_alerts),
				      'opened');
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER alert_email_opened AFTER INSERT ON alert
	REFERENCING NEW TABLE AS new_alerts
	FOR EACH STATEMENT EXECUTE FUNCTION alert_email_opened();

CREATE FUNCTION alert_email_resolved() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM email_subscription WHERE active) THEN
		PERFORM email_enqueue(ARRAY(
			SELECT n.id FROM new_alerts n
			  JOIN old_alerts o ON o.id = n.id
			 WHERE o.resolved_at IS NULL
			   AND n.resolved_at IS NOT NULL), 'resolved');
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER alert_email_resolved AFTER UPDATE ON alert
	REFERENCING OLD TABLE AS old_alerts NEW TABLE AS new_alerts
	FOR EACH STATEMENT EXECUTE FUNCTION alert_email_resolved();

-- ---- row-level security: as the webhooks' ----

ALTER TABLE email_subscription ENABLE ROW LEVEL SECURITY;
CREATE POLICY email_subscription_all ON email_subscription
	TO lagerbild_app
	USING (lb_role() IN ('system', 'admin', 'coordinator'))
	WITH CHECK (lb_role() IN ('system', 'admin', 'coordinator'));

ALTER TABLE email_delivery ENABLE ROW LEVEL SECURITY;
CREATE POLICY email_delivery_read ON email_delivery FOR SELECT
	TO lagerbild_app
	USING (lb_role() IN ('system', 'admin', 'coordinator'));
CREATE POLICY email_delivery_update ON email_delivery FOR UPDATE
	TO lagerbild_app
	USING (lb_role() = 'system') WITH CHECK (lb_role() = 'system');

ALTER TABLE email_attempt ENABLE ROW LEVEL SECURITY;
CREATE POLICY email_attempt_read ON email_attempt FOR SELECT
	TO lagerbild_app
	USING (lb_role() IN ('system', 'admin', 'coordinator'));
CREATE POLICY email_attempt_insert ON email_attempt FOR INSERT
	TO lagerbild_app WITH CHECK (lb_role() = 'system');

GRANT SELECT, INSERT, UPDATE ON email_subscription TO lagerbild_app;
GRANT SELECT, UPDATE ON email_delivery TO lagerbild_app;
GRANT SELECT, INSERT ON email_attempt TO lagerbild_app;
REVOKE ALL ON FUNCTION email_enqueue(bigint[], alert_event_kind) FROM PUBLIC;
REVOKE ALL ON FUNCTION alert_notice(alert, alert_event_kind, bigint)
	FROM PUBLIC;
