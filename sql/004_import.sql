-- 004_import.sql -- the import frame: batches, the bulk path of the ledger
-- for stock snapshots, and region-local article numbers.
--
-- See importers/import.h for the frame and importers/stock.c for the feed
-- that uses ledger_apply_counts.

CREATE TYPE import_status AS ENUM (
	'done', 'partial', 'unchanged', 'rejected'
);

-- One row per import that reached a verdict (a dry run records nothing).
-- Written in the import's own transaction when data was applied, so that a
-- crash leaves neither data nor batch; in a transaction of its own when the
-- data was refused.  Append-only.
CREATE TABLE import_batch (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	feed text NOT NULL CHECK (feed ~ '^[a-z]{1,32}$'),
	region_code char(2) REFERENCES region (code), -- NULL: a national feed
	source text NOT NULL CHECK (length(source) BETWEEN 1 AND 2048),
	sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
	bytes bigint NOT NULL CHECK (bytes >= 0),
	status import_status NOT NULL,
	forced boolean NOT NULL DEFAULT false,
	same_as bigint REFERENCES import_batch (id), -- unchanged: which batch
	rows_total bigint NOT NULL CHECK (rows_total >= 0),
	rows_applied bigint NOT NULL CHECK (rows_applied >= 0),
	rows_rejected bigint NOT NULL CHECK (rows_rejected >= 0),
	-- the first 1000 rejections: [{line, field, value, reason}]
	errors jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
	started_at timestamptz NOT NULL,
	finished_at timestamptz NOT NULL DEFAULT now(),
	-- from the session, like stock_event's
	recorded_by text NOT NULL CHECK (length(recorded_by) BETWEEN 1 AND 200),
	user_id bigint,
	token_id bigint,
	remote text CHECK (length(remote) <= 64),
	request_id uuid,
	CHECK ((status = 'unchanged') = (same_as IS NOT NULL))
);
-- A feed's history per region, newest first: "is this the content applied
-- last?" and the record of imports.
CREATE INDEX import_batch_recent ON import_batch (feed, region_code, id);

CREATE FUNCTION import_batch_stamp() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.recorded_by := coalesce(lb_setting('actor'), session_user);
	NEW.user_id := lb_setting('user_id')::bigint;
	NEW.token_id := lb_setting('token_id')::bigint;
	NEW.remote := lb_setting('remote');
	NEW.request_id := lb_setting('request_id')::uuid;
	NEW.finished_at := clock_timestamp();
	RETURN NEW;
END
$$;
CREATE TRIGGER import_batch_stamp BEFORE INSERT ON import_batch
	FOR EACH ROW EXECUTE FUNCTION import_batch_stamp();
CREATE TRIGGER import_batch_no_update BEFORE UPDATE OR DELETE ON import_batch
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER import_batch_no_truncate BEFORE TRUNCATE ON import_batch
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

ALTER TABLE import_batch ENABLE ROW LEVEL SECURITY;
CREATE POLICY import_batch_read ON import_batch FOR SELECT TO lagerbild_app
	USING (lb_national() OR region_code = lb_region()
	       OR (lb_role() = 'importer' AND region_code IS NULL
		   AND lb_region() IS NULL));
-- The same rule as importers/import.c import_authorize.
CREATE POLICY import_batch_write ON import_batch FOR INSERT TO lagerbild_app
	WITH CHECK (lb_role() = 'system'
		    OR (region_code IS NULL
			AND (lb_role() = 'coordinator'
			     OR (lb_role() = 'importer' AND lb_region() IS NULL)))
		    OR (region_code = lb_region()
			AND lb_role() IN ('importer', 'region_contact')));
GRANT SELECT, INSERT ON import_batch TO lagerbild_app;
-- The frame draws its batch id first, so that rows it applies can name it.
GRANT USAGE ON SEQUENCE import_batch_id_seq TO lagerbild_app;

-- National import jobs maintain the product register (npl, articles,
-- products); a regional importer does not.
ALTER POLICY product_insert ON product
	WITH CHECK (lb_role() IN ('coordinator', 'admin', 'system')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));
ALTER POLICY product_update ON product
	USING (lb_role() IN ('coordinator', 'admin', 'system')
	       OR (lb_role() = 'importer' AND lb_region() IS NULL))
	WITH CHECK (lb_role() IN ('coordinator', 'admin', 'system')
		    OR (lb_role() = 'importer' AND lb_region() IS NULL));

-- ---- region-local article numbers ----

-- A region's own inventory system numbers its articles its own way.  The
-- first stock row that names both a local article number and a national
-- identifier maps the one to the other, once; later rows may name the local
-- number alone.
CREATE TABLE region_article (
	region_code char(2) NOT NULL REFERENCES region (code),
	article text NOT NULL CHECK (article ~ '^[!-~]{1,40}$'),
	product_id bigint NOT NULL REFERENCES product (id),
	created_at timestamptz NOT NULL DEFAULT now(),
	-- the batch row is written last in the import's transaction
	batch_id bigint REFERENCES import_batch (id) DEFERRABLE INITIALLY DEFERRED,
	PRIMARY KEY (region_code, article)
);
ALTER TABLE region_article ENABLE ROW LEVEL SECURITY;
CREATE POLICY region_article_read ON region_article FOR SELECT
	TO lagerbild_app USING (lb_national() OR region_code = lb_region());
CREATE POLICY region_article_write ON region_article FOR INSERT
	TO lagerbild_app
	WITH CHECK (lb_role() = 'system'
		    OR (region_code = lb_region()
			AND lb_role() IN ('importer', 'region_contact')));
GRANT SELECT, INSERT ON region_article TO lagerbild_app;

-- ---- the ledger's bulk path ----

-- Events written by ledger_apply_counts carry their batch.  The row trigger
-- skips them: the function below has already done, set-wise, what the
-- trigger does one row at a time.  The application role may not set the
-- column (column privileges below), so only that function can take the
-- bulk path.
--
-- A bulk event needs no idempotency key of its own: the batch is the unit
-- that is applied once (import_batch, by content hash, under the import's
-- advisory lock).  The key indexes become partial, so that a snapshot of a
-- million rows does not also fill two indexes with a million random keys.
ALTER TABLE stock_event
	ADD COLUMN import_batch_id bigint,
	ALTER COLUMN idempotency_key DROP NOT NULL,
	ALTER COLUMN payload_hash DROP NOT NULL,
	ADD CONSTRAINT stock_event_keyed
		CHECK ((idempotency_key IS NOT NULL AND payload_hash IS NOT NULL)
		       OR import_batch_id IS NOT NULL);
ALTER TABLE stock_event
	DROP CONSTRAINT stock_event_region_code_idempotency_key_key;
CREATE UNIQUE INDEX stock_event_region_key ON stock_event
	(region_code, idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX stock_event_key;
CREATE INDEX stock_event_key ON stock_event (idempotency_key)
	WHERE idempotency_key IS NOT NULL;

-- The ledger's references are kept by the ledger, not by foreign keys.
-- A foreign-key check is a query per row; on the table that takes a
-- hundred million events a year, and a million at a time from a snapshot,
-- three of them cost more than the insert itself.  What they guaranteed
-- still holds:
--   - an event names an existing site (stock_event_apply looks it up, and
--     ledger_apply_counts joins it) and product (the first event of a
--     (region, product) inserts its region_product_stock row, whose foreign
--     key on product stays: it is checked once per pair, not per event;
--     ledger_apply_counts joins it), and a reversal an existing event
--     (stock_event_apply looks it up);
--   - sites and products are never deleted, nor their ids or a site's
--     region changed (reference_kept below): they are deactivated instead;
--   - balances are written only by those two paths.
ALTER TABLE stock_event
	DROP CONSTRAINT stock_event_product_id_fkey,
	DROP CONSTRAINT stock_event_region_code_site_id_fkey,
	DROP CONSTRAINT stock_event_region_code_reverses_fkey;
ALTER TABLE stock_balance
	DROP CONSTRAINT stock_balance_product_id_fkey,
	DROP CONSTRAINT stock_balance_region_code_site_id_fkey;

CREATE FUNCTION reference_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'LB007',
		MESSAGE = format('%s rows are never deleted and keep their id '
				 '(and a site its region): the ledger refers to '
				 'them; deactivate instead', TG_TABLE_NAME);
END
$$;
CREATE TRIGGER site_kept BEFORE DELETE OR UPDATE OF id, region_code ON site
	FOR EACH ROW EXECUTE FUNCTION reference_kept();
CREATE TRIGGER site_kept_truncate BEFORE TRUNCATE ON site
	FOR EACH STATEMENT EXECUTE FUNCTION reference_kept();
CREATE TRIGGER product_kept BEFORE DELETE OR UPDATE OF id ON product
	FOR EACH ROW EXECUTE FUNCTION reference_kept();
CREATE TRIGGER product_kept_truncate BEFORE TRUNCATE ON product
	FOR EACH STATEMENT EXECUTE FUNCTION reference_kept();

-- Room on each page for a snapshot's updates of its balances to stay HOT
-- (no new index entries).
ALTER TABLE stock_balance SET (fillfactor = 80);

DROP TRIGGER stock_event_apply ON stock_event;
CREATE TRIGGER stock_event_apply BEFORE INSERT ON stock_event
	FOR EACH ROW WHEN (NEW.import_batch_id IS NULL)
	EXECUTE FUNCTION stock_event_apply();
REVOKE INSERT ON stock_event FROM lagerbild_app;
GRANT INSERT (region_code, site_id, product_id, lot, expiry, kind, quantity,
	      reason, reverses, idempotency_key, payload_hash, occurred_at,
	      recorded_by, source)
	ON stock_event TO lagerbild_app;

-- Apply a stock snapshot: one count event per element of the arrays (which
-- have one length, and name each (site, product, lot) at most once), each
-- setting its balance to the counted quantity.  Does set-wise what
-- stock_event_apply does per row: the caller's authority over each site's
-- region, the aggregate locks (in (region, product) order, as the row path
-- takes them), delta, seq, the lot's expiry, the balances and the
-- aggregates, and the provenance from the session.  Returns the number of
-- events written.  A (site, product, lot) named twice fails the balance
-- upsert ("cannot affect row a second time"); the importer rejects such
-- rows before they get here.
CREATE FUNCTION ledger_apply_counts(sites bigint[], products bigint[],
				    lots text[], expiries date[],
				    quantities bigint[],
				    counted timestamptz[], src text,
				    batch bigint)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
-- a snapshot is sorted and hashed whole; keep that in memory
SET work_mem = '256MB'
AS $$
DECLARE
	n bigint;
	bad record;
	actor text := coalesce(lb_setting('actor'), session_user);
BEGIN
	IF batch IS NULL OR src IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = 'ledger_apply_counts needs a batch and a source';
	END IF;
	IF cardinality(sites) IS DISTINCT FROM cardinality(products)
	   OR cardinality(sites) IS DISTINCT FROM cardinality(lots)
	   OR cardinality(sites) IS DISTINCT FROM cardinality(expiries)
	   OR cardinality(sites) IS DISTINCT FROM cardinality(quantities)
	   OR cardinality(sites) IS DISTINCT FROM cardinality(counted) THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = 'ledger_apply_counts: arrays of unequal length';
	END IF;

	-- Lock order as in stock_event_apply: the aggregate rows first,
	-- sorted, before any balance is read.
	CREATE TEMP TABLE IF NOT EXISTS pg_temp.lb_keys (
		region_code char(2), product_id bigint
	) ON COMMIT DROP;
	TRUNCATE pg_temp.lb_keys;
	INSERT INTO pg_temp.lb_keys
	SELECT DISTINCT s.region_code, c.product_id
	  FROM unnest(sites, products) AS c(site_id, product_id)
	  JOIN site s ON s.id = c.site_id
	  JOIN product p ON p.id = c.product_id;
	INSERT INTO region_product_stock
	SELECT region_code, product_id, 0, now() FROM pg_temp.lb_keys
	 ORDER BY 1, 2
	ON CONFLICT DO NOTHING;
	PERFORM 1 FROM region_product_stock r
	  JOIN pg_temp.lb_keys k USING (region_code, product_id)
	 ORDER BY r.region_code, r.product_id
	   FOR UPDATE OF r;

	-- Each count with its site's region and the balance it replaces.
	CREATE TEMP TABLE IF NOT EXISTS pg_temp.lb_counts (
		region_code char(2), site_id bigint, product_id bigint,
		known_product boolean, lot text, expiry date, quantity bigint,
		occurred_at timestamptz, cur bigint, seq bigint,
		old_expiry date
	) ON COMMIT DROP;
	TRUNCATE pg_temp.lb_counts;
	INSERT INTO pg_temp.lb_counts
	SELECT s.region_code, c.site_id, c.product_id, p.id IS NOT NULL,
	       coalesce(c.lot, ''), c.expiry, c.quantity, c.occurred_at,
	       b.quantity, b.seq, b.expiry
	  FROM unnest(sites, products, lots, expiries, quantities, counted)
	       AS c(site_id, product_id, lot, expiry, quantity, occurred_at)
	  LEFT JOIN site s ON s.id = c.site_id
	  LEFT JOIN product p ON p.id = c.product_id
	  LEFT JOIN stock_balance b
	    ON b.region_code = s.region_code AND b.site_id = c.site_id
	   AND b.product_id = c.product_id AND b.lot = coalesce(c.lot, '');

	-- One pass for every refusal the row path would make.
	SELECT *, CASE
		WHEN region_code IS NULL THEN 'LB003'
		WHEN NOT known_product THEN 'LB003'
		WHEN NOT (lb_role() = 'system'
			  OR (lb_role() IN ('region_contact', 'importer')
			      AND region_code = lb_region())) THEN '42501'
		WHEN lot <> '' AND expiry IS NOT NULL
		     AND old_expiry IS NOT NULL AND expiry <> old_expiry
			THEN 'LB006'
		ELSE 'LB008' END AS code
	  INTO bad FROM pg_temp.lb_counts
	 WHERE region_code IS NULL OR NOT known_product
	    OR NOT (lb_role() = 'system'
		    OR (lb_role() IN ('region_contact', 'importer')
			AND region_code = lb_region()))
	    OR (lot <> '' AND expiry IS NOT NULL AND old_expiry IS NOT NULL
		AND expiry <> old_expiry)
	    OR quantity IS NULL OR quantity < 0 OR quantity > 1000000000000
	    OR occurred_at IS NULL OR occurred_at > now() + interval '1 day'
	    OR lot !~ '^([!-~]([ -~]{0,62}[!-~])?)?$'
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION USING ERRCODE = bad.code,
			MESSAGE = CASE bad.code
			WHEN 'LB003' THEN format('count of site %s, product %s: '
				'no such %s', bad.site_id, bad.product_id,
				CASE WHEN bad.region_code IS NULL THEN 'site'
				     ELSE 'product' END)
			WHEN '42501' THEN format('may not record stock for '
				'region %s', bad.region_code)
			WHEN 'LB006' THEN format('lot %s has expiry %s, not %s',
				bad.lot, bad.old_expiry, bad.expiry)
			ELSE format('invalid count: site %s, product %s, '
				'quantity %s, at %s', bad.site_id,
				bad.product_id, bad.quantity, bad.occurred_at)
			END;
	END IF;

	WITH ins AS (
		INSERT INTO stock_event (region_code, site_id, product_id, lot,
					 expiry, kind, quantity, delta,
					 balance_after, seq, occurred_at,
					 recorded_at, recorded_by, source,
					 token_id, remote, request_id,
					 import_batch_id)
		SELECT c.region_code, c.site_id, c.product_id, c.lot, c.expiry,
		       'count', c.quantity, c.quantity - coalesce(c.cur, 0),
		       c.quantity, coalesce(c.seq, 0) + 1, c.occurred_at, now(),
		       actor, src, lb_setting('token_id')::bigint,
		       lb_setting('remote'), lb_setting('request_id')::uuid,
		       batch
		  FROM pg_temp.lb_counts c
		RETURNING region_code, site_id, product_id, lot, expiry, id,
			  seq, balance_after
	)
	INSERT INTO stock_balance AS b
	SELECT i.region_code, i.site_id, i.product_id, i.lot,
	       -- as the row path: a lot keeps its date, stock without a lot
	       -- the earliest it was given
	       CASE WHEN c.old_expiry IS NULL THEN i.expiry
		    WHEN i.expiry IS NULL THEN c.old_expiry
		    ELSE least(c.old_expiry, i.expiry) END,
	       i.balance_after, i.seq, i.id, now()
	  FROM ins i
	  JOIN pg_temp.lb_counts c
	    ON c.site_id = i.site_id AND c.product_id = i.product_id
	   AND c.lot = i.lot
	ON CONFLICT (region_code, site_id, product_id, lot) DO UPDATE
	   SET quantity = excluded.quantity, expiry = excluded.expiry,
	       seq = excluded.seq, last_event_id = excluded.last_event_id,
	       updated_at = excluded.updated_at;
	GET DIAGNOSTICS n = ROW_COUNT;

	UPDATE region_product_stock r
	   SET quantity = r.quantity + d.delta, updated_at = now()
	  FROM (SELECT region_code, product_id,
		       sum(quantity - coalesce(cur, 0)) AS delta
		  FROM pg_temp.lb_counts
		 GROUP BY region_code, product_id) d
	 WHERE r.region_code = d.region_code AND r.product_id = d.product_id
	   AND d.delta <> 0;

	TRUNCATE pg_temp.lb_counts;
	TRUNCATE pg_temp.lb_keys;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION ledger_apply_counts(bigint[], bigint[], text[], date[],
					   bigint[], timestamptz[], text,
					   bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_apply_counts(bigint[], bigint[], text[],
					      date[], bigint[], timestamptz[],
					      text, bigint) TO lagerbild_app;
