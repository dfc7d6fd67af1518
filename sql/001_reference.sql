-- 001_reference.sql -- regions, sjukvårdsregioner, agreements, sites and
-- products: the reference data the ledger points at.
--
-- Migrations are never edited once released; `lagerbild migrate` refuses a
-- changed checksum.  Identifier CHECKs here match src/validate.c one for one.

-- The role the application runs as.  It owns nothing, so row-level security
-- (added with the service) applies to it; it gets only the privileges granted
-- below and in later migrations.  Roles are cluster-wide, hence the guard.
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lagerbild_app') THEN
		CREATE ROLE lagerbild_app NOLOGIN;
	END IF;
END
$$;

-- GS1 mod-10 check digit over all digits but the last; NULL when malformed.
CREATE FUNCTION gtin_check_digit(digits text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT CASE WHEN digits ~ '^[0-9]+$' AND length(digits) IN (8, 12, 13, 14) THEN
		(10 - (SELECT sum(substr(digits, length(digits) - k, 1)::int
				  * CASE WHEN k % 2 = 1 THEN 3 ELSE 1 END)
		       FROM generate_series(1, length(digits) - 1) AS k) % 10) % 10
	END
$$;

-- Stored GTINs are normalised to 14 digits (src/validate.c gtin_normalize).
CREATE FUNCTION gtin_is_valid(gtin text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
	SELECT gtin ~ '^[0-9]{14}$'
	   AND gtin_check_digit(gtin) = substr(gtin, 14, 1)::int
$$;

CREATE TABLE healthcare_region (
	code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z_]{1,31}$'),
	name text NOT NULL UNIQUE
);

CREATE TABLE region (
	code char(2) PRIMARY KEY CHECK (code IN ('01', '03', '04', '05', '06',
		'07', '08', '09', '10', '12', '13', '14', '17', '18', '19', '20',
		'21', '22', '23', '24', '25')),
	name text NOT NULL UNIQUE,
	healthcare_region text NOT NULL REFERENCES healthcare_region (code),
	population integer CHECK (population > 0),
	population_year integer CHECK (population_year BETWEEN 1968 AND 2200),
	population_source text,
	CHECK ((population IS NULL) = (population_year IS NULL))
);

-- Agreements that put products under a stock target (tilläggsöverenskommelser).
CREATE TABLE agreement (
	code text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_]{1,32}$'),
	name text NOT NULL,
	year integer NOT NULL CHECK (year BETWEEN 2020 AND 2100),
	default_target_days integer NOT NULL DEFAULT 30
		CHECK (default_target_days > 0)
);

CREATE TYPE site_kind AS ENUM (
	'central', 'buffer', 'hospital', 'primary_care', 'municipal', 'other'
);

-- region_code is the owner.  A shared central store is hosted by another
-- region (host_region_code) but its stock counts for the owner.  Sites are few
-- (thousands), so under Citus this is a reference table; code is global.
CREATE TABLE site (
	region_code char(2) NOT NULL REFERENCES region (code),
	id bigint GENERATED ALWAYS AS IDENTITY,
	code text NOT NULL UNIQUE
		CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$'),
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
	kind site_kind NOT NULL,
	host_region_code char(2) NOT NULL REFERENCES region (code),
	active boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (region_code, id),
	UNIQUE (id)
);

CREATE TYPE product_category AS ENUM (
	'medicine', 'medical_device', 'ppe', 'fsmp', 'manufacturing_material'
);

-- One row per stocked article (a pack, for medicines).  Quantities in the
-- ledger are in base_unit; pack_size says how many base units a pack holds.
CREATE TABLE product (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	category product_category NOT NULL,
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
	npl_id text CHECK (npl_id ~ '^[0-9]{14}$'),
	npl_pack_id text UNIQUE CHECK (npl_pack_id ~ '^[0-9]{14}$'),
	vnr text UNIQUE CHECK (vnr ~ '^[0-9]{6}$'),
	gtin text UNIQUE CHECK (gtin_is_valid(gtin)),
	atc text CHECK (atc ~ '^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$'),
	strength text CHECK (length(strength) <= 200),
	form text CHECK (length(form) <= 200),
	base_unit text NOT NULL DEFAULT 'st' CHECK (length(base_unit) BETWEEN 1 AND 20),
	pack_size integer NOT NULL DEFAULT 1 CHECK (pack_size BETWEEN 1 AND 1000000),
	critical boolean NOT NULL DEFAULT false,
	agreement_code text REFERENCES agreement (code),
	created_at timestamptz NOT NULL DEFAULT now(),
	-- medicines are identified through NPL, everything else through GS1
	CHECK (category <> 'medicine' OR npl_pack_id IS NOT NULL OR vnr IS NOT NULL),
	CHECK (category = 'medicine' OR gtin IS NOT NULL OR vnr IS NOT NULL)
);
CREATE INDEX product_npl_id ON product (npl_id);
CREATE INDEX product_category_idx ON product (category);

INSERT INTO healthcare_region (code, name) VALUES
	('norra', 'Norra sjukvårdsregionen'),
	('mellansverige', 'Sjukvårdsregion Mellansverige'),
	('stockholm_gotland', 'Sjukvårdsregion Stockholm-Gotland'),
	('sydostra', 'Sydöstra sjukvårdsregionen'),
	('sodra', 'Södra sjukvårdsregionen'),
	('vastra', 'Västra sjukvårdsregionen');

-- Population: SCB BE0101N1, folkmängd 31 december 2023.  The SCB importer
-- replaces these with the current year.
INSERT INTO region (code, name, healthcare_region, population, population_year,
		    population_source) VALUES
	('01', 'Stockholm', 'stockholm_gotland', 2454821, 2023, 'SCB BE0101N1 (seed)'),
	('03', 'Uppsala', 'mellansverige', 404589, 2023, 'SCB BE0101N1 (seed)'),
	('04', 'Sörmland', 'mellansverige', 300930, 2023, 'SCB BE0101N1 (seed)'),
	('05', 'Östergötland', 'sydostra', 470839, 2023, 'SCB BE0101N1 (seed)'),
	('06', 'Jönköpings län', 'sydostra', 367064, 2023, 'SCB BE0101N1 (seed)'),
	('07', 'Kronoberg', 'sodra', 203686, 2023, 'SCB BE0101N1 (seed)'),
	('08', 'Kalmar län', 'sydostra', 246010, 2023, 'SCB BE0101N1 (seed)'),
	('09', 'Gotland', 'stockholm_gotland', 61001, 2023, 'SCB BE0101N1 (seed)'),
	('10', 'Blekinge', 'sodra', 156381, 2023, 'SCB BE0101N1 (seed)'),
	('12', 'Skåne', 'sodra', 1414659, 2023, 'SCB BE0101N1 (seed)'),
	('13', 'Halland', 'vastra', 341785, 2023, 'SCB BE0101N1 (seed)'),
	('14', 'Västra Götaland', 'vastra', 1782141, 2023, 'SCB BE0101N1 (seed)'),
	('17', 'Värmland', 'mellansverige', 283548, 2023, 'SCB BE0101N1 (seed)'),
	('18', 'Örebro län', 'mellansverige', 306792, 2023, 'SCB BE0101N1 (seed)'),
	('19', 'Västmanland', 'mellansverige', 279784, 2023, 'SCB BE0101N1 (seed)'),
	('20', 'Dalarna', 'mellansverige', 288387, 2023, 'SCB BE0101N1 (seed)'),
	('21', 'Gävleborg', 'mellansverige', 287660, 2023, 'SCB BE0101N1 (seed)'),
	('22', 'Västernorrland', 'norra', 243627, 2023, 'SCB BE0101N1 (seed)'),
	('23', 'Jämtland Härjedalen', 'norra', 132570, 2023, 'SCB BE0101N1 (seed)'),
	('24', 'Västerbotten', 'norra', 275428, 2023, 'SCB BE0101N1 (seed)'),
	('25', 'Norrbotten', 'norra', 248609, 2023, 'SCB BE0101N1 (seed)');

INSERT INTO agreement (code, name, year) VALUES
	('TO2022_LM', 'TÖ 2022 läkemedel', 2022),
	('TO2023_LM', 'TÖ 2023 läkemedel', 2023),
	('TO2024_LM', 'TÖ 2024 läkemedel', 2024),
	('TO2026_SJP', 'TÖ 2026 sjukvårdsprodukter', 2026);

GRANT SELECT ON healthcare_region, region, agreement, site, product
	TO lagerbild_app;
