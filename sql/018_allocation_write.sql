-- 018_allocation_write.sql -- storing a national run costs its rows and
-- little more.
--
-- A sharing run over 20,000 products stores 20,000 run products and some
-- 400,000 proposals.  Measured on the bench data (make bench), what that
-- cost beyond writing the rows and their keys:
--
--   allocation_run_product's foreign keys to allocation_run and product, a
--     lookup each per row: some 0.25 s.  Neither referenced row can go
--     away or change its id (allocation_run_no_update, product_kept), so
--     all that is left to check is that they exist when the run product is
--     inserted: allocation_run_product_check does so once per statement.
--   allocation_proposal_range's foreign key to allocation_run_product, a
--     lookup per run product from inside proposal_proposed, which writes
--     the ranges (nobody else can): the trigger now checks the statement's
--     ranges against the run products in one join.
--   proposal.updated_by's default, the run's actor computed per row (some
--     0.2 s): a new proposal's updated_by is now NULL, and proposal_detail
--     shows its run's created_by, the same actor, until the first change.
--   the insert policies' lb_coordinates(), asked per row: now once per
--     statement.
--
-- What is refused, and what the API and the command line show, is
-- unchanged; the error of a run product without its run or product is
-- raised by a trigger (SQLSTATE 23503 as before, with its own message).

-- ---- run products: existence of run and product, once per statement ----

ALTER TABLE allocation_run_product
	DROP CONSTRAINT allocation_run_product_run_id_fkey,
	DROP CONSTRAINT allocation_run_product_product_id_fkey;

-- Definer: a run's author need not be able to read every run or product
-- under row-level security to have its own checked.
CREATE FUNCTION allocation_run_product_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF EXISTS (SELECT 1
		     FROM (SELECT DISTINCT n.run_id
			     FROM new_run_products n) n
		    WHERE NOT EXISTS (SELECT 1 FROM allocation_run r
				       WHERE r.id = n.run_id))
	   OR EXISTS (SELECT 1
			FROM (SELECT DISTINCT n.product_id
				FROM new_run_products n) n
		       WHERE NOT EXISTS (SELECT 1 FROM product p
					  WHERE p.id = n.product_id)) THEN
		RAISE EXCEPTION USING ERRCODE = '23503',
			MESSAGE = 'a run product names a run and a product '
				  'that exist';
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER allocation_run_product_check AFTER INSERT
	ON allocation_run_product REFERENCING NEW TABLE AS new_run_products
	FOR EACH STATEMENT EXECUTE FUNCTION allocation_run_product_check();

-- ---- proposals: the ranges checked against the run products at once ----

ALTER TABLE allocation_proposal_range
	DROP CONSTRAINT allocation_proposal_range_run_id_product_id_fkey;

-- As sql/017, but for how a range's run product is checked: every range of
-- the statement is joined to allocation_run_product once, rather than a
-- foreign key's lookup per range.  Run products are never deleted
-- (allocation_run_product_no_update), so a range checked once stays valid.
CREATE OR REPLACE FUNCTION proposal_proposed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	orphans bigint;
BEGIN
	-- Once per distinct pair of sites, not once per row: a national run
	-- has some 100 sites.
	IF EXISTS (SELECT 1
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
	WITH g AS (
		SELECT n.run_id, n.product_id, min(n.id) AS first_id,
		       max(n.id) AS last_id
		  FROM new_proposals n
		 GROUP BY 1, 2
	), kept AS (
		INSERT INTO allocation_proposal_range AS r
		SELECT g.run_id, g.product_id, g.first_id, g.last_id
		  FROM g
		    ON CONFLICT (run_id, product_id) DO UPDATE
		   SET first_id = least(r.first_id, EXCLUDED.first_id),
		       last_id = greatest(r.last_id, EXCLUDED.last_id)
	)
	SELECT count(*) INTO orphans
	  FROM g
	 WHERE NOT EXISTS (SELECT 1 FROM allocation_run_product rp
			    WHERE rp.run_id = g.run_id
			      AND rp.product_id = g.product_id);
	IF orphans > 0 THEN
		RAISE EXCEPTION USING ERRCODE = '23503',
			MESSAGE = 'a proposal names a product of its run, a '
				  'site of the giving region and a site of '
				  'the receiving region';
	END IF;
	RETURN NULL;
END
$$;

-- ---- proposals: nothing computed per row that the statement knows ----

-- updated_by defaulted to the run's actor, computed for every row (some
-- 0.2 s of a national run).  That actor is the run's created_by (stamped
-- by allocation_run_stamp in the same transaction, from the same
-- expression), so a proposal's updated_by stays NULL until its first
-- change (proposal_stamp) and proposal_detail shows the run's actor till
-- then: what the API and the command line show is unchanged.
ALTER TABLE proposal ALTER updated_by DROP DEFAULT;

CREATE OR REPLACE VIEW proposal_detail WITH (security_invoker = true) AS
SELECT p.id, p.run_id, r.help_region, r.help_request_id, p.status::text AS status,
       p.obligatory, p.product_id,
       coalesce(pr.vnr, pr.npl_pack_id, pr.gtin) AS product,
       pr.name AS product_name, pr.base_unit, pr.pack_size, p.quantity,
       p.quantity / pr.pack_size AS packs,
       p.from_region, fr.name AS from_region_name, fs.code AS from_site,
       p.lot, p.expiry, p.to_region, tr.name AS to_region_name,
       ts.code AS to_site, p.created_at, p.decided_by, p.decided_at,
       p.decision_reason, p.status_reason,
       coalesce(p.updated_by, r.created_by) AS updated_by, p.updated_at,
       s.status::text AS shipment_status, s.quantity AS shipped_quantity,
       s.shipped_by, s.shipped_at, s.received_quantity, s.discrepancy,
       rs.code AS received_site, s.received_by, s.received_at, s.note,
       s.returned_by, s.returned_at, s.out_event_id, s.in_event_id,
       s.return_event_id
  FROM proposal p
  JOIN allocation_run r ON r.id = p.run_id
  JOIN product pr ON pr.id = p.product_id
  JOIN region fr ON fr.code = p.from_region
  JOIN region tr ON tr.code = p.to_region
  JOIN site fs ON fs.id = p.from_site_id
  LEFT JOIN site ts ON ts.id = p.to_site_id
  LEFT JOIN shipment s
	 ON s.from_region = p.from_region AND s.proposal_id = p.id
  LEFT JOIN site rs ON rs.id = s.to_site_id;

-- The insert policies asked lb_coordinates() of every row; as a scalar
-- subquery it is asked once per statement (an initplan), and a
-- coordinator's rows still pass without the run's lookup.
ALTER POLICY allocation_run_product_insert ON allocation_run_product
	WITH CHECK ((SELECT lb_coordinates())
		    OR lb_may_run((SELECT r.help_region FROM allocation_run r
				    WHERE r.id = run_id)));
ALTER POLICY proposal_insert ON proposal
	WITH CHECK ((SELECT lb_coordinates())
		    OR lb_may_run((SELECT r.help_region FROM allocation_run r
				    WHERE r.id = run_id)));
