"""API Gateway's authorizer result cache, one per API even across worker processes."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("localcloud")


class AuthorizerCache:
    """An allow is reused for `ttl_seconds` per identity (the Authorization header). Refusals
    are asked again each time (API Gateway would cache an explicit deny too; asking again only
    costs time).

    API Gateway keeps one cache per API. Worker processes each hold their own gateway, so they
    share their allows through the local Valkey (`shared_url`), each keeping a copy to answer
    repeat callers without a round trip: a shopper's first request costs one authorizer run,
    not one per worker."""

    MAX_ENTRIES = 10_000
    SHARED_PREFIX = "localcloud:authorizer:"

    def __init__(self, ttl_seconds: float, shared_url: str | None = None) -> None:
        self.ttl_seconds = ttl_seconds
        # identity -> (expiry in wall-clock seconds: shared entries cross processes, context)
        self._allows: dict[str, tuple[float, dict[str, Any]]] = {}
        self._shared = (
            aioredis.Redis.from_url(shared_url, socket_timeout=2, socket_connect_timeout=2)
            if shared_url and ttl_seconds > 0
            else None
        )

    async def get(self, identity: str) -> dict[str, Any] | None:
        now = time.time()
        cached = self._allows.get(identity)
        if cached is not None and cached[0] > now:
            return dict(cached[1])  # a function may change its event; the cache keeps its own
        if self._shared is None:
            return None
        try:
            raw = await self._shared.get(self._shared_key(identity))
        except (RedisError, OSError) as exc:  # then the authorizer is asked, as on a miss
            log.warning("authorizer cache unavailable: %s", exc)
            return None
        if raw is None:
            return None
        expires_at, context = json.loads(raw)
        if expires_at <= now:
            return None
        self._remember(identity, expires_at, context)
        return dict(context)

    async def put(self, identity: str, context: dict[str, Any]) -> None:
        if self.ttl_seconds <= 0:
            return
        expires_at = time.time() + self.ttl_seconds
        self._remember(identity, expires_at, dict(context))
        if self._shared is None:
            return
        try:
            await self._shared.set(
                self._shared_key(identity),
                json.dumps([expires_at, context]),
                px=int(self.ttl_seconds * 1000),
            )
        except (RedisError, OSError) as exc:  # the other workers ask the authorizer themselves
            log.warning("authorizer cache unavailable: %s", exc)

    def _remember(self, identity: str, expires_at: float, context: dict[str, Any]) -> None:
        if len(self._allows) >= self.MAX_ENTRIES:
            now = time.time()
            self._allows = {k: v for k, v in self._allows.items() if v[0] > now}
            while len(self._allows) >= self.MAX_ENTRIES:  # still full: the oldest go first
                del self._allows[next(iter(self._allows))]
        self._allows[identity] = (expires_at, context)

    def _shared_key(self, identity: str) -> str:
        # A digest: the bearer token itself is not written anywhere.
        return self.SHARED_PREFIX + hashlib.sha256(identity.encode()).hexdigest()
