-- Auth upkeep: the scheduled purge of expired revocations scans by expiry.
CREATE INDEX IF NOT EXISTS revoked_tokens_by_expiry ON auth.revoked_tokens (expires_at);
