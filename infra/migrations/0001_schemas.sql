-- The three service schemas. Each service reads and writes only its own.
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS inventory;
CREATE SCHEMA IF NOT EXISTS orders;

CREATE TABLE auth.users (
    user_id       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) <= 254),
    password_hash text NOT NULL,
    first_name    text NOT NULL DEFAULT '',
    last_name     text NOT NULL DEFAULT '',
    role          text NOT NULL DEFAULT 'USER' CHECK (role IN ('ADMIN', 'USER')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Logged-out tokens until they would have expired anyway (Redis holds the hot copy).
CREATE TABLE auth.revoked_tokens (
    jti        text PRIMARY KEY,
    user_id    uuid NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE TABLE inventory.products (
    product_id   text PRIMARY KEY,
    name         text NOT NULL,
    stock        integer NOT NULL CHECK (stock >= 0),
    price        numeric(12, 2) NOT NULL DEFAULT 0 CHECK (price >= 0),
    starts_at    timestamptz,
    ends_at      timestamptz,
    max_per_user integer CHECK (max_per_user > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at)
);

-- One row per ReserveStock call, keyed by the order, so a repeated call returns the first
-- outcome instead of reserving twice.
CREATE TABLE inventory.reservations (
    order_id   uuid PRIMARY KEY,
    product_id text NOT NULL REFERENCES inventory.products (product_id),
    user_id    uuid NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    status     text NOT NULL CHECK (status IN ('RESERVED', 'REJECTED')),
    reason     text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reservations_by_buyer ON inventory.reservations (product_id, user_id)
    WHERE status = 'RESERVED';

CREATE TABLE inventory.outbox (
    event_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject      text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX inventory_outbox_unsent ON inventory.outbox (created_at) WHERE published_at IS NULL;

CREATE TABLE orders.orders (
    order_id        uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    idempotency_key text,
    request_hash    text NOT NULL,
    product_id      text NOT NULL,
    product_name    text,
    quantity        integer NOT NULL CHECK (quantity > 0),
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'CONFIRMED', 'FAILED')),
    reason          text,
    -- Whoever holds the lease is finishing this PENDING order; others wait or take over.
    lease_until     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX orders_by_user ON orders.orders (user_id, created_at DESC, order_id);
CREATE INDEX orders_pending ON orders.orders (created_at) WHERE status = 'PENDING';

CREATE TABLE orders.outbox (
    event_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject      text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX orders_outbox_unsent ON orders.outbox (created_at) WHERE published_at IS NULL;
