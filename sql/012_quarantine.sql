-- 012_quarantine.sql -- what placing and releasing quarantines through the
-- API needs beside lot_quarantine itself (sql/007_readiness.sql).
--
-- Row-level security hides another region's quarantines from a contact
-- person, so a release of one would otherwise be a puzzling 404.  Like
-- lb_event_region for events, this tells the region a quarantine belongs
-- to, whoever asks, and nothing of its content, so that the handler can
-- answer a clear 403.  The release itself still meets the policies.

CREATE FUNCTION lb_quarantine_region(p_id bigint) RETURNS char(2)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	-- every region, so that the primary key (region_code, id) is used
	SELECT region_code FROM lot_quarantine
	 WHERE region_code = ANY (ARRAY(SELECT code FROM region)) AND id = p_id
$$;
REVOKE ALL ON FUNCTION lb_quarantine_region(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lb_quarantine_region(bigint) TO lagerbild_app;
