-- 006_feeds.sql -- what the products, consumption, shortages and population
-- feeds keep (importers/products.c, consumption.c, shortages.c,
-- population.c).
--
-- Every row a feed writes names the import_batch that last changed it.  The
-- frame draws the batch id before it parses and inserts the import_batch row
-- at the end of the same transaction, so these foreign keys are checked at
-- commit (DEFERRABLE INITIALLY DEFERRED).

-- Overlapping consumption periods are refused by an exclusion constraint,
-- which needs = on bigint and char in a GiST index.  btree_gist is a trusted
-- extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- ---- products ----

-- EMDN, the European Medical Device Nomenclature (MDR art. 26): a category
-- letter, then a two-digit group, then up to five further levels of two
-- digits each ("T", "T01", "T0102", ... "Z1201060102"): at most seven levels,
-- a letter and 12 digits.  The 22 categories are A-D, F-H, J-N, P-Z; E, I
-- and O are not used.  importers/products.c checks the same shape.
ALTER TABLE product ADD COLUMN emdn text
	CHECK (emdn ~ '^[A-DF-HJ-NP-Z]([0-9]{2}){0,6}$');
-- product.batch_id, the batch that last wrote a product, comes from
-- sql/005_medicine_register.sql.

-- ---- consumption ----

-- Issued quantity per site, product and period (both ends inclusive), in the
-- product's base unit.  A re-import of the same period replaces the row;
-- periods that overlap without being equal would count twice, so they are
-- refused -- by the feed with a message, and here as the last word.
CREATE TABLE consumption_report (
	region_code char(2) NOT NULL,
	site_id bigint NOT NULL,
	product_id bigint NOT NULL REFERENCES product (id),
	period_start date NOT NULL,
	period_end date NOT NULL,
	quantity bigint NOT NULL CHECK (quantity BETWEEN 0 AND 1000000000000),
	batch_id bigint NOT NULL REFERENCES import_batch (id)
		DEFERRABLE INITIALLY DEFERRED,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (region_code, site_id, product_id, period_start,
		     period_end),
	-- the site's owner region, as the ledger's (region_code, site_id)
	FOREIGN KEY (region_code, site_id) REFERENCES site (region_code, id),
	CHECK (period_end >= period_start),
	CHECK (period_end - period_start < 366),
	EXCLUDE USING gist (region_code WITH =, site_id WITH =,
			    product_id WITH =,
			    daterange(period_start, period_end, '[]') WITH &&)
);
-- The consumption rate reads a product's recent periods across sites.
CREATE INDEX consumption_report_product
	ON consumption_report (region_code, product_id, period_end);

ALTER TABLE consumption_report ENABLE ROW LEVEL SECURITY;
CREATE POLICY consumption_report_read ON consumption_report FOR SELECT
	TO lagerbild_app USING (lb_national() OR region_code = lb_region());
-- As stock: only the region's own import job and contact person write it.
CREATE POLICY consumption_report_insert ON consumption_report FOR INSERT
	TO lagerbild_app
	WITH CHECK (lb_role() = 'system'
		    OR (region_code = lb_region()
			AND lb_role() IN ('importer', 'region_contact')));
CREATE POLICY consumption_report_update ON consumption_report FOR UPDATE
	TO lagerbild_app
	USING (lb_role() = 'system'
	       OR (region_code = lb_region()
		   AND lb_role() IN ('importer', 'region_contact')))
	WITH CHECK (lb_role() = 'system'
		    OR (region_code = lb_region()
			AND lb_role() IN ('importer', 'region_contact')));
GRANT SELECT, INSERT, UPDATE ON consumption_report TO lagerbild_app;

-- ---- shortages ----

-- Läkemedelsverket's states of a restsituation: kommande (forecast),
-- pågående (active), avslutad (resolved), and a notice withdrawn because
-- the shortage did not happen (cancelled).
CREATE TYPE shortage_status AS ENUM (
	'forecast', 'active', 'resolved', 'cancelled'
);

-- One row per notice, upserted by notice id.  product_id is set when the
-- notice's Vnr or NPL pack id is in the catalog; a notice about a product
-- nobody stocks is kept all the same (it may be stocked tomorrow).
CREATE TABLE shortage_notice (
	notice_id text PRIMARY KEY
		CHECK (notice_id ~ '^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$'),
	vnr text CHECK (vnr ~ '^[0-9]{6}$'),
	npl_pack_id text CHECK (npl_pack_id ~ '^[0-9]{14}$'),
	product_id bigint REFERENCES product (id),
	product_name text NOT NULL
		CHECK (length(product_name) BETWEEN 1 AND 300),
	starts_on date NOT NULL,
	expected_end date,
	reason text CHECK (length(reason) BETWEEN 1 AND 1000),
	status shortage_status NOT NULL,
	batch_id bigint NOT NULL REFERENCES import_batch (id)
		DEFERRABLE INITIALLY DEFERRED,
	first_seen_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (vnr IS NOT NULL OR npl_pack_id IS NOT NULL),
	CHECK (expected_end >= starts_on)
);
CREATE INDEX shortage_notice_product ON shortage_notice (product_id)
	WHERE product_id IS NOT NULL;
CREATE INDEX shortage_notice_vnr ON shortage_notice (vnr);
CREATE INDEX shortage_notice_npl ON shortage_notice (npl_pack_id);

ALTER TABLE shortage_notice ENABLE ROW LEVEL SECURITY;
-- A national notice: every caller may see it.
CREATE POLICY shortage_notice_read ON shortage_notice FOR SELECT
	TO lagerbild_app USING (lb_role() IS NOT NULL);
CREATE POLICY shortage_notice_insert ON shortage_notice FOR INSERT
	TO lagerbild_app
	WITH CHECK (lb_role() IN ('system', 'coordinator')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));
CREATE POLICY shortage_notice_update ON shortage_notice FOR UPDATE
	TO lagerbild_app
	USING (lb_role() IN ('system', 'coordinator')
	       OR (lb_role() = 'importer' AND lb_region() IS NULL))
	WITH CHECK (lb_role() IN ('system', 'coordinator')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));
GRANT SELECT, INSERT, UPDATE ON shortage_notice TO lagerbild_app;

-- ---- population ----

-- SCB BE0101N1, folkmängd 31 december per region and year: the history.
-- region.population holds the latest year, for allocation keys.
CREATE TABLE region_population (
	region_code char(2) NOT NULL REFERENCES region (code),
	year integer NOT NULL CHECK (year BETWEEN 1968 AND 2200),
	population integer NOT NULL CHECK (population > 0),
	source text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
	batch_id bigint REFERENCES import_batch (id)
		DEFERRABLE INITIALLY DEFERRED,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (region_code, year)
);
ALTER TABLE region_population ENABLE ROW LEVEL SECURITY;
CREATE POLICY region_population_read ON region_population FOR SELECT
	TO lagerbild_app USING (lb_role() IS NOT NULL);
CREATE POLICY region_population_insert ON region_population FOR INSERT
	TO lagerbild_app
	WITH CHECK (lb_role() IN ('system', 'coordinator')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));
CREATE POLICY region_population_update ON region_population FOR UPDATE
	TO lagerbild_app
	USING (lb_role() IN ('system', 'coordinator')
	       OR (lb_role() = 'importer' AND lb_region() IS NULL))
	WITH CHECK (lb_role() IN ('system', 'coordinator')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));
GRANT SELECT, INSERT, UPDATE ON region_population TO lagerbild_app;

-- The seed figures of 001 are history too.  (After the ALTER TABLEs above:
-- the deferred foreign key leaves trigger events pending until commit.)
INSERT INTO region_population (region_code, year, population, source)
SELECT code, population_year, population, population_source
  FROM region WHERE population IS NOT NULL;

-- Copy each region's latest year from region_population into region.  The
-- application role may not update region (the reference table has no
-- row-level security, so a grant would let any caller rewrite any region).
-- This function is the one narrow door: it takes no values, only copies
-- what region_population (guarded by the policies above) already holds, and
-- checks the caller as region_population_insert does.  A region keeps a
-- newer year than the history has.  Returns the regions changed.
CREATE FUNCTION region_population_apply() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	n integer;
BEGIN
	IF NOT (lb_role() IN ('system', 'coordinator')
		OR (lb_role() = 'importer' AND lb_region() IS NULL)) THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = 'only a national importer, a coordinator or '
				  'the system may set region populations';
	END IF;
	UPDATE region r
	   SET population = l.population, population_year = l.year,
	       population_source = l.source
	  FROM (SELECT DISTINCT ON (region_code) region_code, year,
		       population, source
		  FROM region_population
		 ORDER BY region_code, year DESC) l
	 WHERE r.code = l.region_code
	   AND (r.population_year IS NULL OR l.year >= r.population_year)
	   AND (r.population, r.population_year, r.population_source)
	       IS DISTINCT FROM (l.population, l.year, l.source);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION region_population_apply() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION region_population_apply() TO lagerbild_app;
