-- 015_verify_checkpoint.sql -- what the alert sweep's ledger check has
-- already verified, so that each sweep reads only the events since
-- (verify_incremental in src/verify.c; `lagerbild verify` keeps reading the
-- whole ledger and never looks here).
--
-- The checkpoint is derived data, like stock_daily: deleting its rows (and
-- setting horizon_id to NULL) only makes the next sweep a full verify that
-- builds it again.

-- One row.  horizon_id: every event with an id at or below it was committed
-- and seen by the last run, so an event the checkpoint lacks has a higher
-- id or belongs to a held key; NULL: no checkpoint yet.  safe_id and
-- pending_*: verify_horizon's candidate, as stock_daily_horizon's.
-- balance_hash and aggregate_hash: the checksums of stock_balance and
-- region_product_stock that the checkpoint's totals predict (see
-- verify_balance_hash); NULL when the last run found drift, which makes the
-- next run compare row by row.
CREATE TABLE verify_checkpoint (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	horizon_id bigint,
	safe_id bigint NOT NULL DEFAULT 0,
	pending_id bigint,
	pending_vxids text[],
	balance_hash bigint,
	aggregate_hash bigint,
	full_at timestamptz,	 -- the last full verify
	verified_at timestamptz, -- the last run of either kind
	events_read bigint NOT NULL DEFAULT 0 -- by the last run
);
INSERT INTO verify_checkpoint DEFAULT VALUES;

-- Per (region, site, product, lot): the sum of the deltas of its events
-- 1 .. last_seq, all verified clean.  A held key had drift when last seen:
-- its events above last_seq are read by key on every run (not only those
-- above horizon_id) until a run finds it clean.
CREATE TABLE verify_checkpoint_key (
	region_code char(2) NOT NULL,
	site_id bigint NOT NULL,
	product_id bigint NOT NULL,
	lot text NOT NULL,
	total numeric NOT NULL,
	last_seq bigint NOT NULL,
	last_event_id bigint,
	held boolean NOT NULL DEFAULT false,
	PRIMARY KEY (region_code, site_id, product_id, lot)
);
-- The checkpoint's total of a (region, product), for the aggregates.
CREATE INDEX verify_checkpoint_key_product
	ON verify_checkpoint_key (region_code, product_id);
CREATE INDEX verify_checkpoint_key_held
	ON verify_checkpoint_key (region_code, site_id, product_id, lot)
	WHERE held;

-- A 64-bit hash of one balance row, 0 for a zero balance (so a missing row
-- and a row of 0 hash alike, as verify's FULL JOIN treats them).  XOR over
-- every row is a checksum of the table that can be updated row by row:
-- a row that differs from what the checkpoint predicts changes it unless
-- two 64-bit hashes collide.  numeric, so a ledger sum out of bigint's
-- range still hashes instead of failing.
CREATE FUNCTION verify_balance_hash(region char(2), site bigint,
				    product bigint, lot text, quantity numeric)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN quantity = 0 THEN 0
		ELSE hash_numeric_extended(quantity,
			hashint8extended(product,
				hashtextextended(region || '/' || lot, site)))
		END
$$;

-- The same for a region_product_stock row.
CREATE FUNCTION verify_aggregate_hash(region char(2), product bigint,
				      quantity numeric)
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN quantity = 0 THEN 0
		ELSE hash_numeric_extended(quantity,
			hashint8extended(product, hashtextextended(region, 1)))
		END
$$;

-- The highest event id below which every event is committed: what
-- readiness_rollup does for stock_daily_horizon (sql/007_readiness.sql),
-- with a candidate of its own, and never below that horizon, which is as
-- safe.  Call it in READ COMMITTED, in a transaction of its own, before
-- the snapshot that is to see those events.
CREATE FUNCTION verify_horizon() RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	c verify_checkpoint%ROWTYPE;
	seq_now bigint;
	writers text[];
	safe bigint;
BEGIN
	IF lb_role() IS DISTINCT FROM 'system' THEN
		RAISE EXCEPTION USING ERRCODE = '42501',
			MESSAGE = 'verify_horizon is for the system identity';
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = 'verify_horizon needs READ COMMITTED';
	END IF;
	SELECT * INTO c FROM verify_checkpoint FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = 'verify_checkpoint has lost its row';
	END IF;
	safe := c.safe_id;
	IF c.pending_id IS NOT NULL AND NOT EXISTS (
		SELECT 1 FROM pg_locks
		 WHERE locktype = 'virtualxid'
		   AND virtualxid = ANY (c.pending_vxids)) THEN
		safe := greatest(safe, c.pending_id);
		c.pending_id := NULL;
	END IF;
	seq_now := coalesce(pg_sequence_last_value('stock_event_id_seq'), 0);
	writers := ARRAY(
		SELECT DISTINCT virtualtransaction FROM pg_locks
		 WHERE locktype = 'relation'
		   AND database = (SELECT oid FROM pg_database
				    WHERE datname = current_database())
		   AND relation = 'stock_event'::regclass
		   AND mode = 'RowExclusiveLock'
		   AND pid IS DISTINCT FROM pg_backend_pid());
	IF cardinality(writers) = 0 THEN
		safe := greatest(safe, seq_now);
		c.pending_id := NULL;
	ELSIF c.pending_id IS NULL THEN
		c.pending_id := seq_now;
		c.pending_vxids := writers;
	END IF;
	safe := greatest(safe, (SELECT safe_id FROM stock_daily_horizon));
	UPDATE verify_checkpoint
	   SET safe_id = safe, pending_id = c.pending_id,
	       pending_vxids = CASE WHEN c.pending_id IS NOT NULL
				    THEN c.pending_vxids END;
	RETURN safe;
END
$$;
REVOKE ALL ON FUNCTION verify_horizon() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION verify_horizon() TO lagerbild_app;

-- Only the system identity (the command line's `alerts run`) keeps the
-- checkpoint; nobody else has a reason to read it.
ALTER TABLE verify_checkpoint ENABLE ROW LEVEL SECURITY;
CREATE POLICY verify_checkpoint_system ON verify_checkpoint TO lagerbild_app
	USING (lb_role() = 'system') WITH CHECK (lb_role() = 'system');
ALTER TABLE verify_checkpoint_key ENABLE ROW LEVEL SECURITY;
CREATE POLICY verify_checkpoint_key_system ON verify_checkpoint_key
	TO lagerbild_app
	USING (lb_role() = 'system') WITH CHECK (lb_role() = 'system');
GRANT SELECT, UPDATE ON verify_checkpoint TO lagerbild_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON verify_checkpoint_key TO lagerbild_app;
