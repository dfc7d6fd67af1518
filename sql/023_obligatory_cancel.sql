-- 023_obligatory_cancel.sql -- a giving region cannot slip out of an
-- obligatory proposal by cancelling it instead of declining it.
--
-- A proposal to a region in disaster state is obligatory: declining it
-- needs a reason and opens a critical obligatory_decline alert
-- (sql/011).  Cancelling was allowed to the giving region and to
-- coordinators without either, so the giver could cancel where it could
-- not decline quietly.  Now cancelling an obligatory proposal needs a
-- reason whoever cancels (src/allocation.c asks for it first; the check
-- below holds it in the table too), and the giving region's cancel opens
-- the same alert as its decline.  A coordinator's (or the system's)
-- cancel is national coordination's own decision and alerts nobody.
-- And the alert ends when the receiver has been sent what was refused,
-- not at its first receipt of any amount.

-- NOT VALID: proposals cancelled before this have no reason to give, and
-- a cancelled proposal never changes again; every later cancel is
-- checked.
ALTER TABLE proposal
	ADD CONSTRAINT proposal_obligatory_cancel_reason
	CHECK (status <> 'cancelled' OR NOT obligatory
	       OR status_reason IS NOT NULL) NOT VALID;

-- As sql/011, with the giving region's cancel alerting as its decline
-- does.  lb_proposal_step_ok lets a region's contact person cancel only
-- the proposals its region gives, so a cancel in that role is the
-- giver's.
CREATE OR REPLACE FUNCTION proposal_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	giver_refuses boolean := NEW.obligatory
		AND (NEW.status = 'declined'
		     OR (NEW.status = 'cancelled'
			 AND lb_role() = 'region_contact'));
BEGIN
	IF NEW.status = OLD.status THEN
		RETURN NULL;
	END IF;
	INSERT INTO proposal_event (from_region, proposal_id, status, actor,
				    role, reason)
	VALUES (NEW.from_region, NEW.id, NEW.status, NEW.updated_by,
		lb_role(), NEW.status_reason);
	IF giver_refuses THEN
		INSERT INTO alert (rule, severity, region_code, product_id,
				   site_id, lot, scope_key, title, details)
		SELECT 'obligatory_decline'::alert_rule, 'critical',
		       NEW.to_region, NEW.product_id, NEW.from_site_id,
		       nullif(NEW.lot, ''), format('proposal:%s', NEW.id),
		       format('Region %s %s %s proposal %s: %s %s of %s '
			      'to region %s %s, in disaster state',
			      NEW.from_region, fr.name, NEW.status, NEW.id,
			      NEW.quantity, p.base_unit, p.name,
			      NEW.to_region, tr.name),
		       jsonb_build_object('proposal', NEW.id,
					  'run', NEW.run_id,
					  'from_region', NEW.from_region,
					  'to_region', NEW.to_region,
					  'quantity', NEW.quantity,
					  'reason', NEW.status_reason,
					  'declined_by', NEW.updated_by,
					  'status', NEW.status)
		  FROM product p, region fr, region tr
		 WHERE p.id = NEW.product_id AND fr.code = NEW.from_region
		   AND tr.code = NEW.to_region
		ON CONFLICT (rule, scope_key) WHERE resolved_at IS NULL
		DO NOTHING;
	END IF;
	RETURN NULL;
END
$$;

-- As sql/011, but help ends the alert only when it makes up for what was
-- refused: the receiver has received, since the alert opened, at least
-- the refused proposal's quantity of the product (a token delivery no
-- longer clears it), or it is out of disaster state.  An alert without a
-- quantity in its details (none is written so) needs any receipt, as
-- before.
CREATE OR REPLACE FUNCTION allocation_obligatory_resolve() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	n integer;
BEGIN
	UPDATE alert a SET resolved_at = now()
	 WHERE a.rule::text = 'obligatory_decline' AND a.resolved_at IS NULL
	   AND (NOT allocation_in_disaster(a.region_code)
		OR (SELECT coalesce(sum(s.received_quantity), 0)
		      FROM shipment s
		     WHERE s.to_region = a.region_code
		       AND s.product_id = a.product_id
		       AND s.status = 'received'
		       AND s.received_quantity > 0
		       AND s.received_at >= a.opened_at)
		   >= greatest(coalesce((a.details->>'quantity')::bigint, 1),
			       1));
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
