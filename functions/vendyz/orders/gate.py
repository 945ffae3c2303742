"""Orders' Redis gate: in one round trip, the caller's token against the logout denylist, the
per-user token bucket, the sold-out marker and whether the Idempotency-Key was seen.

Everything it keeps is a cache or a throttle: while Redis is down the gate is skipped, and the
claim statement in PostgreSQL (the record) still checks the caller.

A shopper's keys live in one hash, `idem:<user>`. Redis evicts or expires a hash whole, never
a field of it, so once the hash holds every key the shopper has an order for (loaded from
PostgreSQL on this very Redis server, as the field KEYS_COMPLETE says) a key missing from it is
a new one: a keyed order for a sold-out product is answered without PostgreSQL.
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
# user's token bucket, the sold-out marker, and (optional) the user's hash of keys, where the
# Idempotency-Key (ARGV[4]) is added only once the bucket let it through. A revoked token
# touches nothing; a key seen before costs no token; a throttled key leaves no mark, so its
# retry meets the bucket again. Runs on Redis' clock so every instance agrees.
# Returns {allowed, wait_ms, sold_out, revoked, key_seen, keys_complete}.
# (One script over several keys: a non-cluster Redis, as the template deploys.)
_GATE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, 0, 0, 1, 0, 0}
end
local sold_out = redis.call('EXISTS', KEYS[3])
local seen, complete = 0, 0
if KEYS[4] then
  seen = redis.call('HEXISTS', KEYS[4], ARGV[4])
  if sold_out == 1 then
    local loaded_on = redis.call('HGET', KEYS[4], ARGV[5])
    if loaded_on and loaded_on == string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') then
      complete = 1
    end
  end
  if seen == 1 then
    return {1, 0, sold_out, 0, 1, complete}
  end
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
  redis.call('HSET', KEYS[4], ARGV[4], 1)
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
return {allowed, wait, sold_out, 0, seen, complete}
"""
# The hash field saying the hash holds all the user's keys (a space: no key has one). Its value
# is the run_id of the Redis server that loaded them: a restart (which may replay an AOF that
# lacks the last writes) or a failover (a replica that may lack them) is another run_id, and
# the hash is then reloaded before it is trusted again.
KEYS_COMPLETE = " complete"
# Adds keys to a user's hash (ARGV[3..]). ARGV[1], unless empty: the field to mark the hash
# complete with this server's run_id (the keys are all PostgreSQL holds). ARGV[2]: its TTL.
_REMEMBER_SCRIPT = """
for i = 3, #ARGV do
  redis.call('HSET', KEYS[1], ARGV[i], 1)
end
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], string.match(redis.call('INFO', 'server'), 'run_id:(%x+)'))
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
# After a Redis failure the gate is skipped for this long, so an outage costs no connect
# attempt per order.
REDIS_BACKOFF_SECONDS = 1.0


@dataclass(frozen=True)
class RateLimit:
    """Per-user bucket on POST /orders: `burst` at once, then `per_second` sustained."""

    burst: int = 20
    per_second: float = 2.0


@dataclass(frozen=True)
class Verdict:
    """What the gate knows: sold out, and whether the key is known to be new."""

    sold_out: bool = False
    key_seen: bool = False
    keys_complete: bool = False  # the user's hash holds every key they have an order for

    @property
    def key_is_new(self) -> bool:
        return self.keys_complete and not self.key_seen


REDIS_DOWN = Verdict()


def keys_hash(user_id: str) -> str:
    return f"idem:{user_id}"


class OrderGate:
    def __init__(self, cache: redis.Redis, rate_limit: RateLimit) -> None:
        self._script = cache.register_script(_GATE_SCRIPT)
        self._remember = cache.register_script(_REMEMBER_SCRIPT)
        self._rate_limit = rate_limit
        self._redis_down_until = 0.0

    def check(self, user_id: str, token_id: str, key: str | None, product_id: str) -> Verdict:
        """One Redis round trip: logout denylist, throttle, sold-out marker, the key's mark.
        Knows nothing (REDIS_DOWN) while Redis is down."""
        if time.monotonic() < self._redis_down_until:
            return REDIS_DOWN
        keys = [revoked_key(token_id), f"bucket:orders:{user_id}", sold_out_key(product_id)]
        args: list[str | int | float] = [
            self._rate_limit.burst,
            self._rate_limit.per_second,
            IDEMPOTENCY_KEY_TTL_SECONDS,
        ]
        if key is not None:
            keys.append(keys_hash(user_id))
            args += [key, KEYS_COMPLETE]
        try:
            allowed, wait_ms, sold_out, revoked, seen, complete = self._script(keys=keys, args=args)
        except redis.RedisError as exc:
            self._down(exc)
            return REDIS_DOWN
        if revoked:
            raise Unauthorized("Token revoked")
        if not allowed:
            raise TooManyRequests(
                "Too many orders: slow down", retry_after=-(-int(wait_ms) // 1000)
            )
        return Verdict(bool(sold_out), bool(seen), bool(complete))

    def remember(self, user_id: str, keys: list[str], *, complete: bool = False) -> None:
        """Add keys to the user's hash; `complete`: these are all the keys PostgreSQL holds
        for the user (with those the hash has), so the hash is whole. Best effort."""
        if time.monotonic() < self._redis_down_until:
            return
        if not keys and not complete:
            return
        args: list[str | int] = [
            KEYS_COMPLETE if complete else "",
            IDEMPOTENCY_KEY_TTL_SECONDS,
            *keys,
        ]
        try:
            self._remember(keys=[keys_hash(user_id)], args=args)
        except redis.RedisError as exc:
            self._down(exc)

    def _down(self, exc: redis.RedisError) -> None:
        self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
        logger.warning("order gate skipped: Redis failed", extra={"error": str(exc)})
