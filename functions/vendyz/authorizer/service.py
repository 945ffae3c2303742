"""The authorization decision: a valid, unexpired, unrevoked HS256 bearer token. No Lambda
types.

The normal path is one HS256 verification and one Redis MGET (`revoked:<jti>` and the marker
that Redis holds the whole denylist); PostgreSQL, the record, is asked when Redis lost its data
or fails, and after a failure Redis is skipped for REDIS_BACKOFF_SECONDS so an outage does not
add a connect timeout to every request. If neither can answer, the request fails as a
server error (500), never as an allow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import redis
from aws_lambda_powertools import Logger

from vendyz.core.markers import REVOCATIONS_LOADED_KEY, revoked_key
from vendyz.core.tokens import Claims, InvalidToken, Tokens

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from vendyz.core.db import Connection

logger = Logger(service="authorizer", child=True)

REDIS_BACKOFF_SECONDS = 5.0
_BEARER = "bearer "


class Denied(Exception):
    """The request carries no acceptable token (the handler answers "Unauthorized")."""


class RevocationUnknown(RuntimeError):
    """Neither Redis nor PostgreSQL could say whether the token was revoked."""


def bearer_token(event: Mapping[str, Any]) -> str:
    """The token from `identitySource[0]` (the configured Authorization header) or, failing
    that, from the headers themselves."""
    sources = event.get("identitySource") or []
    value = sources[0] if sources else (event.get("headers") or {}).get("authorization", "")
    if not isinstance(value, str) or value[: len(_BEARER)].lower() != _BEARER:
        raise Denied("no bearer token")
    token = value[len(_BEARER) :].strip()
    if not token:
        raise Denied("empty bearer token")
    return token


class Authorizer:
    def __init__(
        self,
        tokens: Tokens,
        cache: redis.Redis,
        pool: Callable[[], ConnectionPool[Connection]],
    ) -> None:
        """`pool` opens the PostgreSQL pool on first call: only the fallback needs it."""
        self._tokens = tokens
        self._cache = cache
        self._pool = pool
        self._redis_down_until = 0.0

    def authorize(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The simple response with the principal as context; Denied when not authorized."""
        try:
            claims = self._tokens.verify(bearer_token(event))
        except InvalidToken as exc:
            raise Denied(str(exc)) from exc
        if self._is_revoked(claims):
            raise Denied("token revoked")
        return {
            "isAuthorized": True,
            "context": {
                "userId": claims.user_id,
                "role": claims.role,
                "email": claims.email,
                "jti": claims.jti,
                "exp": claims.exp,
            },
        }

    def _is_revoked(self, claims: Claims) -> bool:
        if time.monotonic() >= self._redis_down_until:
            try:
                listed, loaded = self._cache.mget(revoked_key(claims.jti), REVOCATIONS_LOADED_KEY)
                if listed is not None or loaded is not None:
                    return listed is not None
            except redis.RedisError as exc:
                self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
                logger.warning(
                    "revocation check falls back to PostgreSQL", extra={"error": str(exc)}
                )
        # Imported here: psycopg (~50 ms of cold start) serves only this fallback.
        from vendyz.core import accounts

        try:
            with self._pool().connection() as conn:
                return accounts.is_revoked(conn, claims.jti)
        except Exception as exc:
            raise RevocationUnknown("cannot check the revocation list") from exc


def lazy_pool(
    open_pool: Callable[[], ConnectionPool[Connection]],
) -> Callable[[], ConnectionPool[Connection]]:
    """`open_pool()` on the first call only (thread-safe); the same pool afterwards."""
    lock = threading.Lock()
    opened: list[ConnectionPool[Connection]] = []

    def get() -> ConnectionPool[Connection]:
        if not opened:
            with lock:
                if not opened:
                    opened.append(open_pool())
        return opened[0]

    return get
