-- ReserveStock in one round trip while the product row is locked.
--
-- A repeatable migration: this file is the function's current definition. Edit it in place;
-- the migrator re-applies it whenever its checksum changes. (A new signature or return type
-- needs a DROP FUNCTION first: CREATE OR REPLACE cannot change those.)
--
-- A PL/pgSQL function rather than one CTE: after the row lock every statement here takes a
-- fresh snapshot, so the per-user count sees reservations committed by the transaction that
-- held the lock before us. A single CTE would judge the limit on its start-of-statement
-- snapshot and let concurrent buyers of one user past max_per_user.
--
-- Outcomes: RESERVED, or REJECTED with reason UNKNOWN_PRODUCT (nothing recorded),
-- SALE_NOT_STARTED, SALE_ENDED, OUT_OF_STOCK, LIMIT_REACHED. A repeated call with the same
-- order id returns the first outcome with replayed = true and changes nothing.
CREATE OR REPLACE FUNCTION inventory.reserve_stock(
    p_order_id uuid, p_product_id text, p_quantity integer, p_user_id uuid
) RETURNS TABLE (
    status text, reason text, remaining_stock integer, product_name text,
    replayed boolean, event_id uuid, event_payload jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    v_product inventory.products%ROWTYPE;
    v_previous inventory.reservations%ROWTYPE;
    v_bought integer;
    v_reason text;
    v_event_id uuid;
    v_payload jsonb;
BEGIN
    SELECT * INTO v_product FROM inventory.products p
     WHERE p.product_id = p_product_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'REJECTED'::text, 'UNKNOWN_PRODUCT'::text, NULL::integer,
                            NULL::text, false, NULL::uuid, NULL::jsonb;
        RETURN;
    END IF;

    SELECT * INTO v_previous FROM inventory.reservations r WHERE r.order_id = p_order_id;
    IF FOUND THEN
        RETURN QUERY SELECT v_previous.status, v_previous.reason, v_product.stock,
                            v_product.name, true, NULL::uuid, NULL::jsonb;
        RETURN;
    END IF;

    IF v_product.starts_at IS NOT NULL AND now() < v_product.starts_at THEN
        v_reason := 'SALE_NOT_STARTED';
    ELSIF v_product.ends_at IS NOT NULL AND now() >= v_product.ends_at THEN
        v_reason := 'SALE_ENDED';
    ELSIF v_product.stock < p_quantity THEN
        v_reason := 'OUT_OF_STOCK';
    ELSIF v_product.max_per_user IS NOT NULL THEN
        SELECT coalesce(sum(r.quantity), 0) INTO v_bought FROM inventory.reservations r
         WHERE r.product_id = p_product_id AND r.user_id = p_user_id AND r.status = 'RESERVED';
        IF v_bought + p_quantity > v_product.max_per_user THEN
            v_reason := 'LIMIT_REACHED';
        END IF;
    END IF;

    IF v_reason IS NOT NULL THEN
        INSERT INTO inventory.reservations (order_id, product_id, user_id, quantity, status, reason)
        VALUES (p_order_id, p_product_id, p_user_id, p_quantity, 'REJECTED', v_reason);
        RETURN QUERY SELECT 'REJECTED'::text, v_reason, v_product.stock, v_product.name,
                            false, NULL::uuid, NULL::jsonb;
        RETURN;
    END IF;

    UPDATE inventory.products p SET stock = p.stock - p_quantity, updated_at = now()
     WHERE p.product_id = p_product_id
     RETURNING p.stock INTO v_product.stock;
    INSERT INTO inventory.reservations (order_id, product_id, user_id, quantity, status)
    VALUES (p_order_id, p_product_id, p_user_id, p_quantity, 'RESERVED');

    v_event_id := gen_random_uuid();
    -- The InventoryReserved proto message in its JSON form (proto/vendyz/events.proto).
    v_payload := jsonb_build_object(
        'eventId', v_event_id, 'orderId', p_order_id, 'productId', p_product_id,
        'userId', p_user_id, 'quantity', p_quantity, 'remainingStock', v_product.stock,
        'occurredAt', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
    INSERT INTO inventory.outbox (event_id, subject, payload)
    VALUES (v_event_id, 'inventory.reserved', v_payload);

    RETURN QUERY SELECT 'RESERVED'::text, NULL::text, v_product.stock, v_product.name,
                        false, v_event_id, v_payload;
END;
$$;
