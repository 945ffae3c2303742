"""The authorization decision: a valid, unexpired, unrevoked HS256 bearer token. No Lambda
types.

Two callers: the HTTP API (a bearer token is required; the answer is a simple response) and
the WebSocket API's `$connect` (the token is optional, `?token=` since browsers cannot set
headers on a WebSocket; the answer is an IAM policy, the only form WebSocket APIs accept).

The normal path is one HS256 verification and one Redis GET (`revoked:<jti>`); PostgreSQL is
asked only while Redis fails, and then Redis is skipped for REDIS_BACKOFF_SECONDS so an outage
does not add a connect timeout to every request. If neither can answer, the request fails as a
server error (500), never as an allow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import redis
from aws_lambda_powertools import Logger

from vendyz.core.markers import revoked_key
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


def connection_token(event: Mapping[str, Any]) -> str | None:
    """The token of a WebSocket `$connect`: `?token=`, else a bearer Authorization header
    (clients other than browsers may send one); None when neither is there."""
    query = event.get("queryStringParameters") or {}
    token = query.get("token")
    if isinstance(token, str) and token.strip():
        return token.strip()
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    if "authorization" in headers:
        return bearer_token({"headers": headers})
    return None


def _principal(claims: Claims) -> dict[str, Any]:
    return {
        "userId": claims.user_id,
        "role": claims.role,
        "email": claims.email,
        "jti": claims.jti,
        "exp": claims.exp,
    }


def _policy(principal_id: str, event: Mapping[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Allow `execute-api:Invoke` on the route being connected (the event's methodArn)."""
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": str(event.get("methodArn", "")),
                }
            ],
        },
        "context": context,
    }


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
        return {"isAuthorized": True, "context": _principal(self._verified(bearer_token(event)))}

    def authorize_connection(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The policy for a WebSocket `$connect`: without a token an anonymous watcher (userId
        ""), with one its user; Denied when a token is given but not acceptable, so a forged or
        expired token is refused rather than quietly treated as anonymous."""
        token = connection_token(event)
        if token is None:
            return _policy("anonymous", event, {"userId": "", "role": "", "email": ""})
        claims = self._verified(token)
        return _policy(claims.user_id, event, _principal(claims))

    def _verified(self, token: str) -> Claims:
        try:
            claims = self._tokens.verify(token)
        except InvalidToken as exc:
            raise Denied(str(exc)) from exc
        if self._is_revoked(claims):
            raise Denied("token revoked")
        return claims

    def _is_revoked(self, claims: Claims) -> bool:
        if time.monotonic() >= self._redis_down_until:
            try:
                return self._cache.get(revoked_key(claims.jti)) is not None
            except redis.RedisError as exc:
                self._redis_down_until = time.monotonic() + REDIS_BACKOFF_SECONDS
                logger.warning(
                    "revocation check falls back to PostgreSQL", extra={"error": str(exc)}
                )
        # Imported here: psycopg (~50 ms of cold start) serves only this fallback.
        from vendyz.auth import store

        try:
            with self._pool().connection() as conn:
                return store.is_revoked(conn, claims.jti)
        except Exception as exc:
            raise RevocationUnknown("cannot check the revocation list") from exc
