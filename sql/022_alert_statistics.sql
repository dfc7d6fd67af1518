-- 022_alert_statistics.sql -- the alert sweep does not plan on statistics
-- that count an alert table far smaller than it has become.
--
-- A first sweep that is killed, or any large insert into alert rolled
-- back, while ANALYZE or autovacuum looks at the table leaves pg_class
-- saying that alert's thousands of pages hold no row.  The next sweep
-- opens every alert again, in its own transaction, and then planned
-- resolving (an UPDATE of alert joined to the sweep's alert_diff) as a
-- nested loop over alert, estimated at one row, with alert_diff read
-- whole for each of the 138,000 alerts just opened: on the bench data the
-- sweep ran for over four minutes where it takes 33 s, holding the
-- sweeps' lock.  The sweep now has alert analysed when it opens more
-- alerts than the statistics count (alert_analyze_grown), and resolves by
-- the primary key (src/alerts.c, resolve_sql).

-- ANALYZE alert when the p_opened alerts that the caller's transaction
-- has just opened outnumber the rows the statistics count: these then
-- understate the table by half or more.  ANALYZE in a transaction counts
-- the rows the transaction itself inserted.  With the owner's rights, as
-- only a table's owner may analyse it.  True when it analysed.
CREATE FUNCTION alert_analyze_grown(p_opened bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF p_opened IS NULL
	   OR p_opened <= (SELECT greatest(c.reltuples, 0) FROM pg_class c
			    WHERE c.oid = 'alert'::regclass) THEN
		RETURN false;
	END IF;
	ANALYZE alert;
	RETURN true;
END
$$;
REVOKE ALL ON FUNCTION alert_analyze_grown(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION alert_analyze_grown(bigint) TO lagerbild_app;
