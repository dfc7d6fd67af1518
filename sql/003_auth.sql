-- 003_auth.sql -- users, API tokens, audit, and row-level security.
--
-- The service runs as lagerbild_app, which owns nothing, so the policies
-- below apply to every statement it runs.  Each transaction states who is
-- calling with SET LOCAL (src/auth.c auth_begin):
--   lagerbild.role       region_contact, coordinator, viewer, importer,
--                        admin, or system (the command line)
--   lagerbild.region     the caller's region for region-scoped roles
--   lagerbild.user_id, lagerbild.token_id, lagerbild.actor,
--   lagerbild.remote, lagerbild.request_id
-- Without a role nothing is visible and nothing can be written: a handler
-- that forgets to set the identity fails closed.

CREATE TYPE user_role AS ENUM (
	'region_contact', 'coordinator', 'viewer', 'importer', 'admin'
);

CREATE TABLE app_user (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	username text NOT NULL UNIQUE
		CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{1,63}$'),
	display_name text CHECK (length(display_name) <= 200),
	role user_role NOT NULL,
	region_code char(2) REFERENCES region (code),
	password_hash text CHECK (password_hash LIKE '$argon2id$%'),
	created_at timestamptz NOT NULL DEFAULT now(),
	disabled_at timestamptz,
	-- a contact person belongs to a region; an importer may (regional feed)
	-- or may not (national feed); the other roles are national
	CHECK (CASE role
		WHEN 'region_contact' THEN region_code IS NOT NULL
		WHEN 'importer' THEN true
		ELSE region_code IS NULL
	END)
);

-- The token text is lbt_<id>_<secret>; only SHA-256 of the 32 secret bytes
-- is kept.
CREATE TABLE api_token (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES app_user (id),
	label text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
	secret_hash bytea NOT NULL CHECK (length(secret_hash) = 32),
	created_at timestamptz NOT NULL DEFAULT now(),
	created_by text NOT NULL,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz,
	last_used_at timestamptz
);
CREATE INDEX api_token_user ON api_token (user_id);

-- Writes other than ledger events (which carry their provenance on the row)
-- are recorded here by trigger: who, with which token, from where, when,
-- and the row before and after.
CREATE TABLE audit_log (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	actor text NOT NULL,
	role text,
	user_id bigint,
	token_id bigint,
	remote text,
	request_id uuid,
	table_name text NOT NULL,
	operation text NOT NULL,
	row_id bigint,
	old_row jsonb,
	new_row jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION lb_setting(name text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT nullif(current_setting('lagerbild.' || name, true), '')
$$;

CREATE FUNCTION lb_role() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT lb_setting('role') $$;

CREATE FUNCTION lb_region() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT lb_setting('region') $$;

-- Roles that see every region's detail.
CREATE FUNCTION lb_national() RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT coalesce(lb_role() IN ('coordinator', 'viewer', 'admin', 'system'),
			false)
$$;

CREATE FUNCTION audit_row() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	old_j jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
	new_j jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
BEGIN
	-- Secrets stay out of the log.
	old_j := old_j - 'password_hash' - 'secret_hash';
	new_j := new_j - 'password_hash' - 'secret_hash';
	INSERT INTO audit_log (actor, role, user_id, token_id, remote,
			       request_id, table_name, operation, row_id,
			       old_row, new_row)
	VALUES (coalesce(lb_setting('actor'), session_user), lb_role(),
		lb_setting('user_id')::bigint, lb_setting('token_id')::bigint,
		lb_setting('remote'), lb_setting('request_id')::uuid,
		TG_TABLE_NAME, TG_OP, (coalesce(new_j, old_j)->>'id')::bigint,
		old_j, new_j);
	RETURN NULL;
END
$$;

CREATE TRIGGER site_audit AFTER INSERT OR UPDATE OR DELETE ON site
	FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER product_audit AFTER INSERT OR UPDATE OR DELETE ON product
	FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER app_user_audit AFTER INSERT OR UPDATE OR DELETE ON app_user
	FOR EACH ROW EXECUTE FUNCTION audit_row();

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

-- Authentication happens before there is an identity, so the service may
-- not read api_token itself: it asks for one token's hash and owner, and
-- only while the token is usable.  The caller compares the hash in constant
-- time.  last_used_at is kept to the minute, not written on every request.
CREATE FUNCTION lb_token_lookup(token bigint)
RETURNS TABLE (secret_hash text, user_id bigint, username text,
	       role user_role, region_code char(2))
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	UPDATE api_token SET last_used_at = now()
	 WHERE id = token
	   AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
	   AND revoked_at IS NULL AND expires_at > now();
	RETURN QUERY
	SELECT encode(t.secret_hash, 'hex'), u.id, u.username, u.role,
	       u.region_code
	  FROM api_token t JOIN app_user u ON u.id = t.user_id
	 WHERE t.id = token AND t.revoked_at IS NULL AND t.expires_at > now()
	   AND u.disabled_at IS NULL;
END
$$;
-- A token's own use must not fill the audit log with last_used_at.
CREATE TRIGGER api_token_audit AFTER INSERT OR DELETE
	OR UPDATE OF user_id, label, secret_hash, expires_at, revoked_at
	ON api_token FOR EACH ROW EXECUTE FUNCTION audit_row();

REVOKE ALL ON FUNCTION lb_token_lookup(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lb_token_lookup(bigint) TO lagerbild_app;

-- The region an event belongs to, whoever asks: enough to refuse another
-- region's caller with 403 instead of pretending the event does not exist,
-- and nothing of its content.
CREATE FUNCTION lb_event_region(event bigint) RETURNS char(2)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT region_code FROM stock_event
	 WHERE region_code = ANY (ARRAY(SELECT code FROM region)) AND id = event
$$;
REVOKE ALL ON FUNCTION lb_event_region(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lb_event_region(bigint) TO lagerbild_app;

-- ---- row-level security ----

ALTER TABLE stock_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY stock_event_read ON stock_event FOR SELECT TO lagerbild_app
	USING (lb_national() OR region_code = lb_region());
-- Regions decide over their stock: only their own contact persons and
-- import jobs record it (and the command line, run with database rights).
-- The check runs after the ledger trigger has set region_code from the site.
CREATE POLICY stock_event_write ON stock_event FOR INSERT TO lagerbild_app
	WITH CHECK ((lb_role() IN ('region_contact', 'importer')
		     AND region_code = lb_region())
		    OR lb_role() = 'system');

ALTER TABLE stock_balance ENABLE ROW LEVEL SECURITY;
CREATE POLICY stock_balance_read ON stock_balance FOR SELECT TO lagerbild_app
	USING (lb_national() OR region_code = lb_region());

-- The shared national picture: every authenticated caller sees every
-- region's totals.
ALTER TABLE region_product_stock ENABLE ROW LEVEL SECURITY;
CREATE POLICY region_product_stock_read ON region_product_stock FOR SELECT
	TO lagerbild_app USING (lb_role() IS NOT NULL);

ALTER TABLE site ENABLE ROW LEVEL SECURITY;
CREATE POLICY site_read ON site FOR SELECT TO lagerbild_app
	USING (lb_role() IS NOT NULL);
CREATE POLICY site_insert ON site FOR INSERT TO lagerbild_app
	WITH CHECK (lb_role() IN ('admin', 'coordinator', 'system')
		    OR (lb_role() = 'region_contact'
			AND region_code = lb_region()));
CREATE POLICY site_update ON site FOR UPDATE TO lagerbild_app
	USING (lb_role() IN ('admin', 'coordinator', 'system')
	       OR (lb_role() = 'region_contact' AND region_code = lb_region()))
	WITH CHECK (lb_role() IN ('admin', 'coordinator', 'system')
		    OR (lb_role() = 'region_contact'
			AND region_code = lb_region()));

ALTER TABLE product ENABLE ROW LEVEL SECURITY;
CREATE POLICY product_read ON product FOR SELECT TO lagerbild_app
	USING (lb_role() IS NOT NULL);
CREATE POLICY product_insert ON product FOR INSERT TO lagerbild_app
	WITH CHECK (lb_role() IN ('coordinator', 'admin', 'system'));
CREATE POLICY product_update ON product FOR UPDATE TO lagerbild_app
	USING (lb_role() IN ('coordinator', 'admin', 'system'))
	WITH CHECK (lb_role() IN ('coordinator', 'admin', 'system'));

ALTER TABLE app_user ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_user_read ON app_user FOR SELECT TO lagerbild_app
	USING (lb_role() IN ('admin', 'system')
	       OR id = lb_setting('user_id')::bigint);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON audit_log FOR SELECT TO lagerbild_app
	USING (lb_role() IN ('admin', 'system'));

GRANT INSERT, UPDATE ON site, product TO lagerbild_app;
GRANT SELECT ON app_user, audit_log TO lagerbild_app;
