-- 024_approval_room.sql -- an approval cannot promise stock that earlier
-- approvals already promised.
--
-- Each run sees the stock as it is, not the proposals of earlier runs
-- that were approved and have not shipped yet: two runs a day apart can
-- propose the same units, and approving both would send more than the
-- lot holds, or take the giver below the floor either run respected.
-- Shipping only refuses a negative balance.  So approving now asks what
-- is left once the giving region's approved, unshipped proposals of the
-- product are counted out (src/allocation.c, approve): the lot must
-- still hold the proposal's quantity, and the region must keep its floor
-- as the proposal's run computed it.

-- For approving proposal p_id of region p_from: the lot's balance at the
-- giving site and what other approved proposals take from it; the
-- region's stock of the product and what its other approved proposals
-- take; and the floor in base units of the proposal's run (ceil(floor
-- days * rate) for a region that consumed, the packs an idle region
-- keeps otherwise; 0 for a run that is not a sharing run).  Read with
-- the owner's rights: the giving region's contact person approves, and
-- the run's arrays are read whoever may read runs.  The caller holds a
-- transaction lock on (p_from, product) so that two approvals do not
-- both count the room one of them takes.  No row when there is no such
-- proposal.
CREATE FUNCTION allocation_approval_room(p_from char(2), p_id bigint)
RETURNS TABLE (lot_balance bigint, lot_promised bigint,
	       region_stock bigint, region_promised bigint,
	       floor_units bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT coalesce((SELECT b.quantity FROM stock_balance b
			  WHERE b.region_code = p.from_region
			    AND b.site_id = p.from_site_id
			    AND b.product_id = p.product_id
			    AND b.lot = p.lot), 0),
	       coalesce((SELECT sum(o.quantity) FROM proposal o
			  WHERE o.from_region = p.from_region
			    AND o.product_id = p.product_id
			    AND o.from_site_id = p.from_site_id
			    AND o.lot = p.lot AND o.status = 'approved'
			    AND o.id <> p.id), 0)::bigint,
	       coalesce((SELECT sum(b.quantity) FROM stock_balance b
			  WHERE b.region_code = p.from_region
			    AND b.product_id = p.product_id), 0)::bigint,
	       coalesce((SELECT sum(o.quantity) FROM proposal o
			  WHERE o.from_region = p.from_region
			    AND o.product_id = p.product_id
			    AND o.status = 'approved'
			    AND o.id <> p.id), 0)::bigint,
	       coalesce((SELECT CASE WHEN rp.rate[i.ord] > 0
				THEN ceil(rp.floor_days[i.ord]
					  * rp.rate[i.ord])::bigint
				ELSE coalesce((r.params->>'idle_keep_packs')
						::bigint, 0) * rp.pack_size
				END
			   FROM allocation_run r
			   JOIN allocation_run_product rp
			     ON rp.run_id = r.id
			    AND rp.product_id = p.product_id
			  CROSS JOIN LATERAL (
				SELECT x.ord FROM jsonb_array_elements(r.regions)
				       WITH ORDINALITY AS x (v, ord)
				 WHERE x.v->>'region' = p.from_region) i
			  WHERE r.id = p.run_id AND r.problem = 'share'), 0)
	  FROM proposal p
	 WHERE p.from_region = p_from AND p.id = p_id
$$;
REVOKE ALL ON FUNCTION allocation_approval_room(char(2), bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION allocation_approval_room(char(2), bigint)
	TO lagerbild_app;
