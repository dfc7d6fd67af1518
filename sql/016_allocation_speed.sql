-- 016_allocation_speed.sql -- a national sharing run writes less per
-- proposal, and a help request is fulfilled by what it receives.
--
-- A national run writes some 400,000 proposals in one statement; what each
-- row costs is multiplied by that.  Two costs bought nothing:
--
--   proposal_to (to_region, status): no query of the service reads it (a
--     region's proposals are listed newest first by id, the giving side
--     through the primary key), yet every proposal paid an index entry,
--     and every status change a new one, since status was indexed (so no
--     step could be a HOT update).
--   proposal_proposed's last check, that a new proposal starts proposed,
--     undecided and stamped now by the actor: the application role may
--     insert no other column than those granted in sql/011, so
--     those columns are always their defaults, and the check was a second
--     pass over every new row, evaluating the actor setting per row.  The
--     grants now say it; tests/check_allocation.c proves the app cannot
--     insert a status.
--
-- What is stored, and what every read answers, is unchanged.
--
-- Help requests: a request becomes fulfilled, by the system, in the
-- transaction of the receipt that completes it (allocation_help_fulfil).

DROP INDEX proposal_to;

-- As sql/011, less the check the column grants make redundant.
CREATE OR REPLACE FUNCTION proposal_proposed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	-- Once per distinct product and per distinct pair of sites, not once
	-- per row: a national run has 20,000 products and some 100 sites.
	IF EXISTS (SELECT 1
		     FROM (SELECT DISTINCT run_id, product_id
			     FROM new_proposals) n
		    WHERE NOT EXISTS (
			SELECT 1 FROM allocation_run_product rp
			 WHERE rp.run_id = n.run_id
			   AND rp.product_id = n.product_id))
	   OR EXISTS (SELECT 1
			FROM (SELECT DISTINCT from_region, from_site_id,
					      to_region, to_site_id
				FROM new_proposals) n
			LEFT JOIN site fs
			       ON fs.id = n.from_site_id
			      AND fs.region_code = n.from_region
			LEFT JOIN region g ON g.code = n.to_region
			LEFT JOIN site ts
			       ON ts.id = n.to_site_id
			      AND ts.region_code = n.to_region
		       WHERE fs.id IS NULL OR g.code IS NULL
			  OR (n.to_site_id IS NOT NULL AND ts.id IS NULL)) THEN
		RAISE EXCEPTION USING ERRCODE = '23503',
			MESSAGE = 'a proposal names a product of its run, a '
				  'site of the giving region and a site of '
				  'the receiving region';
	END IF;
	-- The transition table holds the rows as inserted, so in id order.
	-- Who proposed is the same for every row: read once.
	INSERT INTO proposal_event (from_region, proposal_id, status, actor,
				    role)
	SELECT n.from_region, n.id, 'proposed', w.actor, w.role
	  FROM new_proposals n,
	       (SELECT coalesce(lb_setting('actor'), session_user) AS actor,
		       lb_role() AS role) w;
	RETURN NULL;
END
$$;

-- ---- help requests fulfilled by what they receive ----

-- After a shipment is received: when it went to the region of the help
-- request its run was made for, and that region has now received, through
-- the proposals of that request's runs, at least what it asked, the
-- request becomes fulfilled, closed by 'system' with a reason saying what
-- arrived.  Only received quantities count (a short receipt counts what
-- arrived; a declined, cancelled or returned proposal counts nothing).
--
-- What it asked is its quantity, or its days at the region's rate when it
-- was asked: the cap its run computed (allocation_run_product.result ->
-- help_request -> cap, src/allocation.c keep_for_help).  The allocator
-- moves whole packs only and never more than asked, so a request is
-- covered by the whole packs of what it asked (505 in packs of 10: 500).
--
-- The request row is locked first, so that two receipts committing at
-- once are counted one after the other.  Runs as its owner: the receiver
-- sees every proposal of its own request, but closes it as the system.
CREATE FUNCTION allocation_help_fulfil() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	h help_request;
	asked bigint;
	pack integer;
	covered bigint;
	got bigint;
	props text;
	nprops integer;
	unit text;
	actor text;
BEGIN
	SELECT hr.* INTO h
	  FROM proposal p
	  JOIN allocation_run r ON r.id = p.run_id
	  JOIN help_request hr
	    ON hr.region_code = r.help_region AND hr.id = r.help_request_id
	 WHERE p.from_region = NEW.from_region AND p.id = NEW.proposal_id
	   AND p.to_region = r.help_region
	   FOR UPDATE OF hr;
	IF NOT FOUND OR h.status <> 'open' THEN
		RETURN NULL;
	END IF;
	SELECT coalesce(h.quantity,
			(rp.result -> 'help_request' ->> 'cap')::bigint),
	       rp.pack_size
	  INTO asked, pack
	  FROM allocation_run r
	  JOIN allocation_run_product rp
	    ON rp.run_id = r.id AND rp.product_id = h.product_id
	 WHERE r.help_region = h.region_code AND r.help_request_id = h.id
	 ORDER BY r.id
	 LIMIT 1;
	IF asked IS NULL OR asked <= 0 THEN
		RETURN NULL;
	END IF;
	covered := CASE WHEN asked >= pack THEN asked / pack * pack
			ELSE asked END;
	SELECT coalesce(sum(s.received_quantity), 0)::bigint,
	       string_agg(p.id::text, ', ' ORDER BY p.id), count(*)
	  INTO got, props, nprops
	  FROM allocation_run r
	  JOIN proposal p ON p.run_id = r.id AND p.product_id = h.product_id
			 AND p.to_region = h.region_code
	  JOIN shipment s
	    ON s.from_region = p.from_region AND s.proposal_id = p.id
	 WHERE r.help_region = h.region_code AND r.help_request_id = h.id
	   AND s.status = 'received' AND s.received_quantity > 0;
	IF got < covered THEN
		RETURN NULL;
	END IF;
	SELECT base_unit INTO unit FROM product WHERE id = h.product_id;
	-- help_request_stamp names the actor as who closed it: the system
	-- does, for this statement only.
	actor := current_setting('lagerbild.actor', true);
	PERFORM set_config('lagerbild.actor', 'system', true);
	UPDATE help_request
	   SET status = 'fulfilled',
	       close_reason = left(format(
		'received %s %s of %s asked%s%s, through proposal%s %s',
		got, unit, asked,
		CASE WHEN h.days IS NOT NULL
		     THEN format(' (%s days at the rate when asked)', h.days)
		     ELSE '' END,
		CASE WHEN covered <> asked
		     THEN format('; %s in whole packs of %s', covered, pack)
		     ELSE '' END,
		CASE WHEN nprops > 1 THEN 's' ELSE '' END, props), 1000)
	 WHERE region_code = h.region_code AND id = h.id;
	PERFORM set_config('lagerbild.actor', coalesce(actor, ''), true);
	RETURN NULL;
END
$$;
CREATE TRIGGER shipment_help_fulfil AFTER UPDATE OF status ON shipment
	FOR EACH ROW
	WHEN (NEW.status = 'received' AND OLD.status <> 'received')
	EXECUTE FUNCTION allocation_help_fulfil();
