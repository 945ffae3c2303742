-- An account can be switched off; its tokens stop working for every write at once.
ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS active boolean NOT NULL DEFAULT true;

-- Fixed-window counters for login failures and registrations, keyed by what they limit
-- (account+address, address). In PostgreSQL, not Redis: a Redis outage or flush must not
-- switch throttling off.
CREATE TABLE IF NOT EXISTS auth.throttle (
    key         text PRIMARY KEY,
    hits        integer NOT NULL,
    window_ends timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS throttle_by_window ON auth.throttle (window_ends);
