-- 019_definer_search_path.sql -- functions that run with the owner's
-- rights read the owner's tables, never the caller's temporary ones, and
-- only the roles they are granted to call them.
--
-- Every SECURITY DEFINER function here was made with SET search_path FROM
-- CURRENT, which captured "$user", public.  PostgreSQL searches the
-- session's temporary schema before any schema of the path unless the path
-- names pg_temp itself, so a caller -- the application role may create
-- temporary tables, and the service uses them -- could put a table of its
-- own in place of one such a function reads.  lb_token_lookup, for one,
-- would then vouch for a token and an admin the caller made up
-- (tests/check_auth.c, test_definer_ignores_temp_tables).  Functions and
-- operators are never looked up in pg_temp, only tables, views and types.
--
-- Each of them now searches this schema and then pg_temp, as PostgreSQL's
-- documentation of SECURITY DEFINER advises; a temporary table is reached
-- only where a function names it as pg_temp.x (sql/004 does).  Later
-- migrations get the same path for FROM CURRENT: lagerbild migrate runs
-- every migration with it (src/migrate.c), and the test above checks every
-- such function of the schema.

DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
		  WHERE p.prosecdef
		    AND p.pronamespace = current_schema()::regnamespace
		  ORDER BY p.oid
	LOOP
		EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp',
			       f, current_schema());
	END LOOP;
END
$$;

-- The same functions run with the owner's rights for whom they are
-- granted to, and no one else: every other one revokes PUBLIC's default
-- EXECUTE, alert_json (sql/008) did not.  It shows a product's name and a
-- site's code, which any role of this database could then read.
REVOKE ALL ON FUNCTION alert_json(alert) FROM PUBLIC;
