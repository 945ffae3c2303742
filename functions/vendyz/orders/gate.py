"""Orders' Redis gate: in one round trip, the caller's token against the logout denylist, the
per-user token bucket, the sold-out marker and whether the Idempotency-Key was seen.

Everything it keeps is a cache or a throttle: while Redis is down the gate is skipped, and the
claim statement in PostgreSQL (the record) still checks the caller.

A shopper's keys live in one hash, `idem2:<user>`, each as a 12-byte digest (about half the
memory of the key itself; a collision only lets a new key skip one token of the bucket, or
read PostgreSQL once). Redis evicts or expires a hash whole, never
a field of it, so once the hash holds every key the shopper has an order for (loaded from
PostgreSQL on this very Redis server, as the field KEYS_COMPLETE says) a key missing from it is
a new one: a keyed order for a sold-out product is answered without PostgreSQL.

An order placed while this instance could not reach Redis has its key in no hash, though the
hash itself may have survived. So the instance that missed a key, at its next contact with
Redis, sets a new keys epoch; a hash is trusted only when it was loaded in the current epoch,
and every shopper's keys are then reloaded once from PostgreSQL.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass

import redis
from aws_lambda_powertools import Logger

from vendyz.core.errors import TooManyRequests, Unauthorized
from vendyz.core.markers import revoked_key, sold_out_key

logger = Logger(service="orders", child=True)

IDEMPOTENCY_KEY_TTL_SECONDS = 24 * 3600

# The whole Redis gate in one round trip. KEYS: the caller's token on the logout denylist, the
# user's token bucket, the sold-out marker, the keys epoch and (optional) the user's hash of
# keys, where the Idempotency-Key (ARGV[5]) is added only once the bucket let it through. A
# revoked token touches nothing; a key seen before costs no token; a throttled key leaves no
# mark, so its retry meets the bucket again. ARGV[4], unless empty, is a new keys epoch to set
# first. Runs on Redis' clock so every instance agrees.
# Returns {allowed, wait_ms, sold_out, revoked, key_seen, keys_complete, epoch}.
# (One script over several keys: a non-cluster Redis, as the template deploys.)
_GATE_SCRIPT = """
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[4], ARGV[4])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, 0, 0, 1, 0, 0, ''}
end
local sold_out = redis.call('EXISTS', KEYS[3])
local seen, complete, epoch = 0, 0, ''
if KEYS[5] then
  seen = redis.call('HEXISTS', KEYS[5], ARGV[5])
  if sold_out == 1 then
    epoch = redis.call('GET', KEYS[4]) or ''
    local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
    if redis.call('HGET', KEYS[5], ARGV[6]) == run_id .. ':' .. epoch then
      complete = 1
    end
  end
  if seen == 1 then
    return {1, 0, sold_out, 0, 1, complete, epoch}
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
if allowed == 1 and KEYS[5] then
  redis.call('HSET', KEYS[5], ARGV[5], 1)
  redis.call('EXPIRE', KEYS[5], ARGV[3])
end
return {allowed, wait, sold_out, 0, seen, complete, epoch}
"""
# The hash field saying the hash holds all the user's keys (9 bytes: no key's digest). Its value
# is "<run_id>:<epoch>": the Redis server that loaded them, since a restart (which may replay
# an AOF that lacks the last writes) or a failover (a replica that may lack them) is another
# run_id; and the keys epoch they were loaded in, since an instance that missed a key starts a
# new one. Either change has the hash reloaded before it is trusted again.
KEYS_COMPLETE = " complete"
KEYS_EPOCH = "idem:epoch"
# Adds keys to a user's hash (ARGV[4..]). ARGV[1], unless empty: the field to mark the hash
# complete with this server's run_id and the epoch ARGV[3] (the keys are all PostgreSQL held
# when that epoch was read). ARGV[2]: its TTL.
_REMEMBER_SCRIPT = """
for i = 4, #ARGV do
  redis.call('HSET', KEYS[1], ARGV[i], 1)
end
if ARGV[1] ~= '' then
  local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
  redis.call('HSET', KEYS[1], ARGV[1], run_id .. ':' .. ARGV[3])
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
    # The keys epoch, read (when sold out and keyed) before any reload of the user's keys.
    keys_epoch: str | None = None

    @property
    def key_is_new(self) -> bool:
        return self.keys_complete and not self.key_seen


REDIS_DOWN = Verdict()


def keys_hash(user_id: str) -> str:
    # Not `idem:`, which held the keys themselves: during a deploy, instances of the two
    # formats must not share a hash (a digest is never found among keys).
    return f"idem2:{user_id}"


def key_field(idempotency_key: str) -> bytes:
    """The key's field in the user's hash."""
    return hashlib.blake2b(idempotency_key.encode(), digest_size=12).digest()


class OrderGate:
    def __init__(self, cache: redis.Redis, rate_limit: RateLimit) -> None:
        self._script = cache.register_script(_GATE_SCRIPT)
        self._remember = cache.register_script(_REMEMBER_SCRIPT)
        self._rate_limit = rate_limit
        self._redis_down_until = 0.0
        # A keyed order of this instance may have no mark in Redis: start a new keys epoch.
        self._missed_keys = False

    def check(self, user_id: str, token_id: str, key: str | None, product_id: str) -> Verdict:
        """One Redis round trip: logout denylist, throttle, sold-out marker, the key's mark.
        Knows nothing (REDIS_DOWN) while Redis is down."""
        if time.monotonic() < self._redis_down_until:
            self._missed_keys |= key is not None
            return REDIS_DOWN
        new_epoch = uuid.uuid4().hex if self._missed_keys else ""
        keys = [
            revoked_key(token_id),
            f"bucket:orders:{user_id}",
            sold_out_key(product_id),
            KEYS_EPOCH,
        ]
        args: list[str | bytes | int | float] = [
            self._rate_limit.burst,
            self._rate_limit.per_second,
            IDEMPOTENCY_KEY_TTL_SECONDS,
            new_epoch,
        ]
        if key is not None:
            keys.append(keys_hash(user_id))
            args += [key_field(key), KEYS_COMPLETE]
        try:
            allowed, wait_ms, sold_out, revoked, seen, complete, epoch = self._script(
                keys=keys, args=args
            )
        except redis.RedisError as exc:
            self._down(exc, missed_key=key is not None)
            return REDIS_DOWN
        if new_epoch:
            self._missed_keys = False
        if revoked:
            raise Unauthorized("Token revoked")
        if not allowed:
            raise TooManyRequests(
                "Too many orders: slow down", retry_after=-(-int(wait_ms) // 1000)
            )
        keys_epoch = bytes(epoch).decode() if sold_out and key is not None else None
        return Verdict(bool(sold_out), bool(seen), bool(complete), keys_epoch)

    def remember(self, user_id: str, keys: list[str], *, complete_as_of: str | None = None) -> None:
        """Add keys to the user's hash; `complete_as_of` (an epoch from check()): these are all
        the keys PostgreSQL held for the user when that epoch was read (with those the hash
        has), so the hash is whole. Best effort: a key not added starts a new epoch."""
        if not keys and complete_as_of is None:
            return
        if time.monotonic() < self._redis_down_until:
            self._missed_keys |= bool(keys)
            return
        args: list[str | bytes | int] = [
            "" if complete_as_of is None else KEYS_COMPLETE,
            IDEMPOTENCY_KEY_TTL_SECONDS,
            complete_as_of or "",
            *map(key_field, keys),
        ]
        try:
            self._remember(keys=[keys_hash(user_id)], args=args)
        except redis.RedisError as exc:
            self._down(exc, missed_key=bool(keys))

    def _down(self, exc: redis.RedisError, *, missed_key: bool) -> None:
        self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
        self._missed_keys |= missed_key
        logger.warning("order gate skipped: Redis failed", extra={"error": str(exc)})
