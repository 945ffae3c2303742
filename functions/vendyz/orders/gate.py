"""Orders' Redis gate: in one round trip, the caller's token against the logout denylist, the
per-user token bucket, the sold-out marker and whether the Idempotency-Key was seen.

Everything it keeps is a cache or a throttle: while Redis is down the gate is skipped, and the
claim statement in PostgreSQL (the record) still checks the caller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from aws_lambda_powertools import Logger

from vendyz.core.errors import TooManyRequests, Unauthorized
from vendyz.core.markers import revoked_key, sold_out_key

logger = Logger(service="orders", child=True)

IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600

# The whole Redis gate in one round trip. KEYS: the caller's token on the logout denylist, the
# user's token bucket, the sold-out marker, and (optional) the Idempotency-Key's mark, set only
# once the bucket let the key through. A revoked token touches nothing; a key seen before
# costs no token; a throttled key leaves no mark, so its retry meets the bucket again. Runs on
# Redis' clock so every instance agrees. Returns {allowed, wait_ms, sold_out, revoked}.
# (One script over several keys: a non-cluster Redis, as the template deploys.)
_GATE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, 0, 0, 1}
end
local sold_out = redis.call('EXISTS', KEYS[3])
if KEYS[4] and redis.call('EXISTS', KEYS[4]) == 1 then
  return {1, 0, sold_out, 0}
end
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, ts = capacity, now end
tokens = math.min(capacity, tokens + (now - ts) * rate / 1000)
local allowed, wait = 0, 0
if tokens >= 1 then
  tokens, allowed = tokens - 1, 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[2], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(capacity * 1000 / rate) + 1000)
if allowed == 1 and KEYS[4] then
  redis.call('SET', KEYS[4], 1, 'EX', ARGV[3])
end
return {allowed, wait, sold_out, 0}
"""
# After a Redis failure the gate is skipped for this long, so an outage costs no connect
# attempt per order.
REDIS_BACKOFF_SECONDS = 1.0


@dataclass(frozen=True)
class RateLimit:
    """Per-user bucket on POST /orders: `burst` at once, then `per_second` sustained."""

    burst: int = 20
    per_second: float = 2.0


class OrderGate:
    def __init__(self, cache: redis.Redis, rate_limit: RateLimit) -> None:
        self._script = cache.register_script(_GATE_SCRIPT)
        self._rate_limit = rate_limit
        self._redis_down_until = 0.0

    def check(self, user_id: str, token_id: str, key: str | None, product_id: str) -> bool:
        """One Redis round trip: logout denylist, throttle, sold-out marker, the key's mark.

        Returns whether the product is marked sold out; False while Redis is down."""
        if time.monotonic() < self._redis_down_until:
            return False
        keys = [revoked_key(token_id), f"bucket:orders:{user_id}", sold_out_key(product_id)]
        if key is not None:
            keys.append(f"idem:{user_id}:{key}")
        args = [self._rate_limit.burst, self._rate_limit.per_second, IDEMPOTENCY_KEY_TTL_SECONDS]
        try:
            allowed, wait_ms, sold_out, revoked = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
            logger.warning("order gate skipped: Redis failed", extra={"error": str(exc)})
            return False
        if revoked:
            raise Unauthorized("Token revoked")
        if not allowed:
            raise TooManyRequests(
                "Too many orders: slow down", retry_after=-(-int(wait_ms) // 1000)
            )
        return bool(sold_out)
