-- 005_medicine_register.sql -- Läkemedelsverket's NPL register (medicinal
-- products and their packages) and what the npl and articles feeds keep on
-- product (importers/npl.c, importers/articles.c).
--
-- The register is national reference data: about 100,000 packages, far more
-- than any region stocks.  It is kept in tables of its own; the npl feed
-- refreshes only the catalog products that already name one of its
-- packages, and the articles feed (the TLV price file: Vnr -> NPL pack id)
-- is what creates medicine products.
--
-- Every row a feed writes names the import_batch that last changed it.  The
-- frame draws the batch id before it parses and inserts the import_batch row
-- at the end of the same transaction, so these foreign keys are checked at
-- commit (DEFERRABLE INITIALLY DEFERRED).  CHECKs match src/validate.c and
-- the static checks in importers/npl.c one for one.

-- One medicinal product (NPL "medprod").  atc holds a code of any ATC level
-- (A, A01, A01A, A01AA or A01AA01): the register gives some products only a
-- group, and some none at all; product.atc takes the full 7-character level
-- only.  form is the pharmaceutical-form lexicon code (FICOTA), mah_org_id
-- the organization-lx id of the marketing authorisation holder: both are
-- register codes, letters, digits and ._- only.
CREATE TABLE npl_medprod (
	npl_id text PRIMARY KEY CHECK (npl_id ~ '^[0-9]{14}$'),
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
	name_legal text CHECK (length(name_legal) BETWEEN 1 AND 1000),
	strength text CHECK (length(strength) BETWEEN 1 AND 200),
	form text CHECK (form ~ '^[A-Za-z0-9._-]{1,64}$'),
	atc text CHECK (atc ~ '^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$'),
	mah_org_id text CHECK (mah_org_id ~ '^[A-Za-z0-9._-]{1,64}$'),
	sales_stopped boolean NOT NULL DEFAULT false,
	batch_id bigint REFERENCES import_batch (id)
		DEFERRABLE INITIALLY DEFERRED,
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX npl_medprod_atc ON npl_medprod (atc);

-- One package of a medicinal product (NPL "package"): what a Vnr names.  A
-- package that moves to another product in the register moves here too.
CREATE TABLE npl_package (
	npl_pack_id text PRIMARY KEY CHECK (npl_pack_id ~ '^[0-9]{14}$'),
	npl_id text NOT NULL REFERENCES npl_medprod (npl_id),
	pack_text text CHECK (length(pack_text) BETWEEN 1 AND 1000),
	batch_id bigint REFERENCES import_batch (id)
		DEFERRABLE INITIALLY DEFERRED,
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX npl_package_npl_id ON npl_package (npl_id);

-- The register is public information: every authenticated caller reads it.
-- It is written by the national import job, a coordinator or the system --
-- the rule of import_batch_write's national case (sql/004_import.sql) and of
-- importers/import.c import_authorize for a national feed.
ALTER TABLE npl_medprod ENABLE ROW LEVEL SECURITY;
CREATE POLICY npl_medprod_read ON npl_medprod FOR SELECT TO lagerbild_app
	USING (lb_role() IS NOT NULL);
CREATE POLICY npl_medprod_insert ON npl_medprod FOR INSERT TO lagerbild_app
	WITH CHECK (lb_role() IN ('system', 'coordinator')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));
CREATE POLICY npl_medprod_update ON npl_medprod FOR UPDATE TO lagerbild_app
	USING (lb_role() IN ('system', 'coordinator')
	       OR (lb_role() = 'importer' AND lb_region() IS NULL))
	WITH CHECK (lb_role() IN ('system', 'coordinator')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));

ALTER TABLE npl_package ENABLE ROW LEVEL SECURITY;
CREATE POLICY npl_package_read ON npl_package FOR SELECT TO lagerbild_app
	USING (lb_role() IS NOT NULL);
CREATE POLICY npl_package_insert ON npl_package FOR INSERT TO lagerbild_app
	WITH CHECK (lb_role() IN ('system', 'coordinator')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));
CREATE POLICY npl_package_update ON npl_package FOR UPDATE TO lagerbild_app
	USING (lb_role() IN ('system', 'coordinator')
	       OR (lb_role() = 'importer' AND lb_region() IS NULL))
	WITH CHECK (lb_role() IN ('system', 'coordinator')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));

-- No DELETE: a package or product that leaves the export stays, as the
-- history products and shortage notices may still point at.
GRANT SELECT, INSERT, UPDATE ON npl_medprod, npl_package TO lagerbild_app;

-- ---- on product ----

-- The batch that last wrote the product (NULL: entered by hand); every
-- feed that writes products sets it.
ALTER TABLE product ADD COLUMN batch_id bigint
	REFERENCES import_batch (id) DEFERRABLE INITIALLY DEFERRED;
-- The price file's pack description ("Blister, 30 tabletter"), kept apart
-- from form, which the npl feed sets to the register's form code: two feeds
-- writing one column would flip it back and forth on every run.
ALTER TABLE product ADD COLUMN pack_text text
	CHECK (length(pack_text) BETWEEN 1 AND 300);
