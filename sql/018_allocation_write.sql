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
--
-- What is stored, and what is refused, is unchanged; only the error of a
-- run product without its run or product is now raised by a trigger
-- (SQLSTATE 23503 as before, with its own message).

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
