-- 002_ledger.sql -- the stock ledger: append-only events, and the balances
-- and per-region aggregates derived from them in the event's own transaction.
--
-- The application role may INSERT events and read everything here; it can
-- write no balance.  A SECURITY DEFINER trigger on stock_event keeps
-- stock_balance and region_product_stock in step with every inserted event,
-- whatever path the insert came by (CLI, API, importer, demo loader), so a
-- balance is always derived, never typed in.
--
-- Errors raised here carry SQLSTATEs of class LB so the C layer can map them
-- without parsing text (src/ledger.c):
--   LB001 balance would go negative      LB005 event already reversed
--   LB002 bad reversal                   LB006 lot expiry mismatch
--   LB003 unknown site or event          LB007 ledger is append-only
--   LB004 idempotency key conflict       LB008 invalid event

CREATE TYPE stock_event_kind AS ENUM (
	'receipt', 'issue', 'count', 'adjustment', 'transfer_out',
	'transfer_in', 'expiry_writeoff', 'reversal'
);

-- quantity is what the caller said (a count's counted value, an adjustment's
-- signed amount, otherwise a positive amount); delta is the signed change it
-- made and balance_after the (site, product, lot) balance it left.  seq
-- numbers the events of one balance 1, 2, 3 ... in the order they were
-- applied, which under concurrency need not be the order of their ids (ids
-- are drawn before the balance is locked).
--
-- region_code has no foreign key of its own: (region_code, site_id) -> site
-- implies it, and a second key would make every writer lock the same 21
-- region rows.
CREATE TABLE stock_event (
	region_code char(2) NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY,
	site_id bigint NOT NULL,
	product_id bigint NOT NULL REFERENCES product (id),
	lot text NOT NULL DEFAULT ''
		CHECK (lot ~ '^([!-~]([ -~]{0,62}[!-~])?)?$'),
	expiry date,
	kind stock_event_kind NOT NULL,
	quantity bigint NOT NULL
		CHECK (quantity BETWEEN -1000000000000 AND 1000000000000),
	delta bigint NOT NULL,
	balance_after bigint NOT NULL CHECK (balance_after >= 0),
	seq bigint NOT NULL CHECK (seq >= 1),
	reason text CHECK (length(reason) BETWEEN 1 AND 1000),
	reverses bigint,
	idempotency_key uuid NOT NULL,
	payload_hash bytea NOT NULL CHECK (length(payload_hash) = 32),
	occurred_at timestamptz NOT NULL DEFAULT now(),
	recorded_at timestamptz NOT NULL DEFAULT now(),
	recorded_by text NOT NULL CHECK (length(recorded_by) BETWEEN 1 AND 200),
	source text NOT NULL DEFAULT 'cli' CHECK (length(source) BETWEEN 1 AND 64),
	-- Where the write came from, from the session (sql/003_auth.sql): the
	-- API token used, the client address and the request id.
	token_id bigint,
	remote text CHECK (length(remote) <= 64),
	request_id uuid,
	PRIMARY KEY (region_code, id),
	UNIQUE (region_code, idempotency_key),
	-- also the index for reading one balance's history in order
	UNIQUE (region_code, site_id, product_id, lot, seq),
	FOREIGN KEY (region_code, site_id) REFERENCES site (region_code, id),
	FOREIGN KEY (region_code, reverses) REFERENCES stock_event (region_code, id),
	CHECK ((kind = 'reversal') = (reverses IS NOT NULL)),
	CHECK (kind NOT IN ('adjustment', 'reversal') OR reason IS NOT NULL),
	CHECK (CASE
		WHEN kind IN ('receipt', 'transfer_in')
			THEN quantity > 0 AND delta = quantity
		WHEN kind IN ('issue', 'transfer_out', 'expiry_writeoff')
			THEN quantity > 0 AND delta = -quantity
		WHEN kind = 'adjustment' THEN quantity <> 0 AND delta = quantity
		WHEN kind = 'count' THEN quantity >= 0 AND balance_after = quantity
		ELSE true
	END)
);
-- Idempotency keys are looked up nationally, by key alone: one index
-- descent instead of one per region.  Not unique, so it shards as it is.
CREATE INDEX stock_event_key ON stock_event (idempotency_key);
-- An event is reversed at most once; only reversals carry an entry.
CREATE UNIQUE INDEX stock_event_reversed_once
	ON stock_event (region_code, reverses) WHERE reverses IS NOT NULL;
-- One product's history in a region, for consumption windows.
CREATE INDEX stock_event_product_time
	ON stock_event (region_code, product_id, occurred_at);

CREATE TABLE stock_balance (
	region_code char(2) NOT NULL,
	site_id bigint NOT NULL,
	product_id bigint NOT NULL REFERENCES product (id),
	lot text NOT NULL,
	expiry date,
	quantity bigint NOT NULL CHECK (quantity >= 0),
	seq bigint NOT NULL CHECK (seq >= 1), -- of the last event applied
	last_event_id bigint NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (region_code, site_id, product_id, lot),
	FOREIGN KEY (region_code, site_id) REFERENCES site (region_code, id)
);
CREATE INDEX stock_balance_product ON stock_balance (product_id);

-- Sum of stock_balance per (region, product).  Its row is also the lock that
-- serialises writers of any balance of that (region, product), see below.
CREATE TABLE region_product_stock (
	region_code char(2) NOT NULL REFERENCES region (code),
	product_id bigint NOT NULL REFERENCES product (id),
	quantity bigint NOT NULL CHECK (quantity >= 0),
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (region_code, product_id)
);
CREATE INDEX region_product_stock_product ON region_product_stock (product_id);

CREATE FUNCTION stock_event_apply() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	prior stock_event%ROWTYPE;
	orig stock_event%ROWTYPE;
	bal stock_balance%ROWTYPE;
	have_bal boolean;
	site_region char(2);
	cur bigint;
	new_expiry date;
	actor text;
BEGIN
	-- The transaction's authenticated caller overrides what the row claims.
	actor := nullif(current_setting('lagerbild.actor', true), '');
	IF actor IS NOT NULL THEN
		NEW.recorded_by := actor;
	END IF;
	NEW.token_id := nullif(current_setting('lagerbild.token_id', true), '')::bigint;
	NEW.remote := nullif(current_setting('lagerbild.remote', true), '');
	NEW.request_id := nullif(current_setting('lagerbild.request_id', true), '')::uuid;
	NEW.recorded_at := now();
	IF NEW.occurred_at > now() + interval '1 day' THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = format('occurred_at %s is in the future',
					 NEW.occurred_at);
	END IF;

	-- Where does the event belong?
	IF NEW.kind = 'reversal' THEN
		IF NEW.reverses IS NULL THEN
			RAISE EXCEPTION USING ERRCODE = 'LB002',
				MESSAGE = 'a reversal must name the event it reverses';
		END IF;
		-- Probe each region's slice of the primary key rather than keep
		-- a second index on id for this rare lookup.
		SELECT * INTO orig FROM stock_event
		 WHERE region_code = ANY (ARRAY(SELECT code FROM region))
		   AND id = NEW.reverses;
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'LB003',
				MESSAGE = format('event %s does not exist', NEW.reverses);
		END IF;
		NEW.region_code := orig.region_code;
		NEW.site_id := orig.site_id;
		NEW.product_id := orig.product_id;
		NEW.lot := orig.lot;
		NEW.expiry := orig.expiry;
		NEW.quantity := orig.quantity;
	ELSE
		SELECT region_code INTO site_region FROM site WHERE id = NEW.site_id;
		IF NOT FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'LB003',
				MESSAGE = format('site %s does not exist', NEW.site_id);
		END IF;
		IF NEW.region_code IS NULL THEN
			NEW.region_code := site_region;
		ELSIF NEW.region_code <> site_region THEN
			RAISE EXCEPTION USING ERRCODE = 'LB003',
				MESSAGE = format('site %s belongs to region %s, not %s',
						 NEW.site_id, site_region, NEW.region_code);
		END IF;
	END IF;

	-- A retried request writes nothing and the caller reads the original.
	-- Concurrent first attempts with one key meet at the unique index.  A
	-- key names one event nationally: reusing it in another region is a
	-- conflict too, so the lookup is by key alone (stock_event_key; the
	-- unique constraint itself leads with region_code, as sharding needs).
	SELECT * INTO prior FROM stock_event
	 WHERE idempotency_key = NEW.idempotency_key
	 LIMIT 1;
	IF FOUND THEN
		IF prior.payload_hash = NEW.payload_hash THEN
			RETURN NULL;
		END IF;
		RAISE EXCEPTION USING ERRCODE = 'LB004',
			MESSAGE = format('idempotency key %s was already used for '
					 'a different event (event %s)',
					 NEW.idempotency_key, prior.id);
	END IF;

	IF NEW.kind = 'reversal' THEN
		IF orig.kind = 'reversal' THEN
			RAISE EXCEPTION USING ERRCODE = 'LB002',
				MESSAGE = format('event %s is itself a reversal; record '
						 'a new event instead', orig.id);
		END IF;
		SELECT * INTO prior FROM stock_event
		 WHERE region_code = orig.region_code AND reverses = orig.id;
		IF FOUND THEN
			RAISE EXCEPTION USING ERRCODE = 'LB005',
				MESSAGE = format('event %s was already reversed by event %s',
						 orig.id, prior.id);
		END IF;
	ELSIF NEW.kind = 'adjustment' AND NEW.quantity = 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = 'an adjustment must change the balance (quantity 0)';
	ELSIF NEW.kind = 'count' AND NEW.quantity < 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = format('a count cannot be negative (quantity %s)',
					 NEW.quantity);
	ELSIF NEW.kind NOT IN ('adjustment', 'count') AND NEW.quantity <= 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = format('%s quantity must be positive, not %s',
					 NEW.kind, NEW.quantity);
	END IF;
	IF NEW.kind IN ('adjustment', 'reversal') AND NEW.reason IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'LB008',
			MESSAGE = format('a reason is required for %s', NEW.kind);
	END IF;

	-- Lock order: the (region, product) aggregate row first, then the
	-- balance.  Holding the aggregate lock serialises every writer of that
	-- (region, product), so the balance read below is stable, and callers
	-- that sort a batch by (region, product) cannot deadlock.
	PERFORM 1 FROM region_product_stock
	 WHERE region_code = NEW.region_code AND product_id = NEW.product_id
	   FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO region_product_stock
		VALUES (NEW.region_code, NEW.product_id, 0, now())
		ON CONFLICT DO NOTHING;
		PERFORM 1 FROM region_product_stock
		 WHERE region_code = NEW.region_code
		   AND product_id = NEW.product_id
		   FOR UPDATE;
	END IF;

	SELECT * INTO bal FROM stock_balance
	 WHERE region_code = NEW.region_code AND site_id = NEW.site_id
	   AND product_id = NEW.product_id AND lot = NEW.lot;
	have_bal := FOUND;
	cur := CASE WHEN have_bal THEN bal.quantity ELSE 0 END;

	NEW.delta := CASE NEW.kind
		WHEN 'receipt' THEN NEW.quantity
		WHEN 'transfer_in' THEN NEW.quantity
		WHEN 'adjustment' THEN NEW.quantity
		WHEN 'count' THEN NEW.quantity - cur
		WHEN 'reversal' THEN -orig.delta
		ELSE -NEW.quantity
	END;
	IF cur + NEW.delta < 0 THEN
		RAISE EXCEPTION USING ERRCODE = 'LB001',
			MESSAGE = format('balance would go negative: site %s, '
				'product %s, lot %s: balance %s, requested %s',
				(SELECT code FROM site WHERE id = NEW.site_id),
				(SELECT coalesce(vnr, npl_pack_id, gtin, id::text)
				   || ' (' || name || ')'
				   FROM product WHERE id = NEW.product_id),
				CASE WHEN NEW.lot = '' THEN '(none)' ELSE NEW.lot END,
				cur, -NEW.delta);
	END IF;
	NEW.balance_after := cur + NEW.delta;
	NEW.seq := CASE WHEN have_bal THEN bal.seq + 1 ELSE 1 END;

	-- A lot has one expiry date.  Stock without a lot number keeps the
	-- earliest date it was given, which errs on the safe side.
	new_expiry := CASE WHEN have_bal THEN bal.expiry END;
	IF NEW.expiry IS NOT NULL AND NEW.kind <> 'reversal' THEN
		IF new_expiry IS NULL THEN
			new_expiry := NEW.expiry;
		ELSIF new_expiry <> NEW.expiry THEN
			IF NEW.lot <> '' THEN
				RAISE EXCEPTION USING ERRCODE = 'LB006',
					MESSAGE = format('lot %s has expiry %s, not %s',
							 NEW.lot, new_expiry, NEW.expiry);
			END IF;
			new_expiry := least(new_expiry, NEW.expiry);
		END IF;
	END IF;

	IF have_bal THEN
		UPDATE stock_balance
		   SET quantity = NEW.balance_after, expiry = new_expiry,
		       seq = NEW.seq, last_event_id = NEW.id, updated_at = now()
		 WHERE region_code = NEW.region_code AND site_id = NEW.site_id
		   AND product_id = NEW.product_id AND lot = NEW.lot;
	ELSE
		INSERT INTO stock_balance
		VALUES (NEW.region_code, NEW.site_id, NEW.product_id, NEW.lot,
			new_expiry, NEW.balance_after, NEW.seq, NEW.id, now());
	END IF;
	UPDATE region_product_stock
	   SET quantity = quantity + NEW.delta, updated_at = now()
	 WHERE region_code = NEW.region_code AND product_id = NEW.product_id;
	RETURN NEW;
END
$$;

CREATE TRIGGER stock_event_apply BEFORE INSERT ON stock_event
	FOR EACH ROW EXECUTE FUNCTION stock_event_apply();

-- Append-only for everyone, the owner included: corrections are reversals.
CREATE FUNCTION stock_event_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'LB007',
		MESSAGE = 'stock_event is append-only; record a reversal instead';
END
$$;

CREATE TRIGGER stock_event_no_update BEFORE UPDATE OR DELETE ON stock_event
	FOR EACH ROW EXECUTE FUNCTION stock_event_immutable();
CREATE TRIGGER stock_event_no_truncate BEFORE TRUNCATE ON stock_event
	FOR EACH STATEMENT EXECUTE FUNCTION stock_event_immutable();

GRANT SELECT, INSERT ON stock_event TO lagerbild_app;
GRANT SELECT ON stock_balance, region_product_stock TO lagerbild_app;
