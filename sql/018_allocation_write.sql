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
--     lookup per run product: the ranges, which proposal_proposed alone
--     writes, are checked once per statement too.
--   proposal.updated_by's default, the run's actor computed per row (some
--     0.2 s): a new proposal's updated_by is now NULL, and proposal_detail
--     shows its run's created_by, the same actor, until the first change.
--   the insert policies' lb_coordinates(), asked per row: now once per
--     statement.
--
-- What is refused, and what the API and the command line show, is
-- unchanged; the error of a run product without its run or product is
-- raised by a trigger (SQLSTATE 23503 as before, with its own message).
--
-- Apart from the run: lagerbild_app may read schema_migrations, so that
-- each service connection can check its schema (the last section).

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

-- What the key checked: a range names a run product.  Ranges are written
-- by proposal_proposed alone, a statement's at once, and run products are
-- never deleted (allocation_run_product_no_update), so a range checked
-- when it is inserted stays valid; a later statement that widens it keeps
-- its run product.  proposal_proposed turns the error into its own.
CREATE FUNCTION allocation_proposal_range_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM new_ranges g
		    WHERE NOT EXISTS (SELECT 1 FROM allocation_run_product rp
				       WHERE rp.run_id = g.run_id
					 AND rp.product_id = g.product_id)) THEN
		RAISE EXCEPTION USING ERRCODE = '23503',
			MESSAGE = 'a proposal range names no run product';
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER allocation_proposal_range_check AFTER INSERT
	ON allocation_proposal_range REFERENCING NEW TABLE AS new_ranges
	FOR EACH STATEMENT EXECUTE FUNCTION allocation_proposal_range_check();

-- ---- proposals: nothing computed per row that the statement knows ----

-- updated_by defaulted to the run's actor, computed for every row (some
-- 0.2 s of a national run).  That actor is the run's created_by (stamped
-- by allocation_run_stamp in the same transaction, from the same
-- expression), so a proposal's updated_by stays NULL until its first
-- change (proposal_stamp) and proposal_detail shows the run's actor till
-- then: what the API and the command line show is unchanged.
ALTER TABLE proposal ALTER updated_by DROP DEFAULT;

CREATE OR REPLACE VIEW proposal_detail WITH (security_invoker = true) AS
SELECT p.id, p.run_id, r.help_region, r.help_request_id,
       p.status::text AS status, p.obligatory, p.product_id,
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

-- ---- the schema's version, readable by the service ----

-- Every service connection checks, as the application role, that the
-- schema is its build's (migrate_check in src/migrate.c) before it acts:
-- the role reads which migrations were applied.  migrate_run creates the
-- table before any migration runs.
GRANT SELECT ON schema_migrations TO lagerbild_app;
