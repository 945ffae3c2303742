"""Who is calling: the principal the Lambda authorizer put in the request context.

Services trust the gateway for authentication, with exceptions where trusting it would trust
too much. API Gateway reuses an authorizer's allow for a while (the template's
ReauthorizeEvery), so logout and expiry are checked here on each request: the token's exp from
the context, and the logout denylist (Redis, a cache of auth.revoked_tokens; PostgreSQL when
Redis cannot vouch for it). A token outlives changes to its account, so writes check the
account as the database has it now: it exists, is active, and (admin routes) is still ADMIN.
POST /orders does both inside round trips it makes anyway (its Redis gate, its claim).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import psycopg
import redis
from aws_lambda_powertools import Logger
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool, PoolTimeout

from vendyz.core import accounts
from vendyz.core.db import Connection
from vendyz.core.errors import Forbidden, ServiceUnavailable, Unauthorized
from vendyz.core.markers import REVOCATIONS_LOADED_KEY, revoked_key

logger = Logger(service="vendyz", child=True)

Role = Literal["ADMIN", "USER"]

# As the authorizer's leeway (vendyz.core.tokens.CLOCK_SKEW_SECONDS): issuer and verifier run
# on different hosts.
EXPIRY_LEEWAY_SECONDS = 5


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    email: str
    token_id: str  # the token's jti
    token_expires_at: int  # the token's exp, in seconds since the epoch

    @property
    def is_admin(self) -> bool:
        return self.role == "ADMIN"


class Sessions:
    """Whether a caller's token and account still hold: the logout denylist (Redis first) and
    the account record (PostgreSQL)."""

    def __init__(self, cache: redis.Redis, pool: ConnectionPool[Connection]) -> None:
        self._cache = cache
        self._pool = pool

    def is_revoked(self, token_id: str) -> bool:
        """One Redis round trip while Redis holds the whole denylist; PostgreSQL otherwise."""
        try:
            listed, loaded = self._cache.mget(revoked_key(token_id), REVOCATIONS_LOADED_KEY)
        except redis.RedisError as exc:
            logger.warning("denylist read from PostgreSQL: Redis failed", extra={"error": str(exc)})
            listed, loaded = None, None
        if listed is not None:
            return True
        if loaded is not None:
            return False
        try:
            with self._pool.connection() as conn:
                return accounts.is_revoked(conn, token_id)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            # Never let through what could not be checked.
            raise ServiceUnavailable("Cannot check the session right now; retry") from exc

    def check_account(self, principal: Principal, *, role: Role | None = None) -> None:
        """Unauthorized unless the account exists, is active and the token is not revoked;
        Forbidden unless it has `role` now (when given). One PostgreSQL round trip."""
        with self._pool.connection() as conn:
            row = accounts.caller(conn, principal.user_id, principal.token_id)
        if row is None or not row["active"]:
            raise Unauthorized("Account no longer active")
        if row["revoked"]:
            raise Unauthorized("Token revoked")
        if role is not None and row["role"] != role:
            raise Forbidden(f"{role.capitalize()} role required")


def authorizer_context(event: dict[str, Any]) -> dict[str, Any]:
    authorizer = event.get("requestContext", {}).get("authorizer") or {}
    context: dict[str, Any] = authorizer.get("lambda") or {}
    return context


def _principal(context: dict[str, Any]) -> Principal:
    user_id, role = context.get("userId"), context.get("role")
    token_id, expires_at = context.get("jti"), context.get("exp")
    if not user_id or role not in ("ADMIN", "USER") or not isinstance(token_id, str):
        raise Unauthorized()
    try:
        expires = int(expires_at)  # type: ignore[arg-type]  # checked by the except
    except (TypeError, ValueError):
        raise Unauthorized() from None
    return Principal(str(user_id), role, str(context.get("email", "")), token_id, expires)


# `async def` although nothing is awaited: FastAPI runs a plain `def` dependency on a worker
# thread, a thread hop on every request.
async def unrevoked_caller(request: Request) -> Principal:
    """The caller, its token's expiry checked but not yet the denylist."""
    principal = _principal(authorizer_context(request.scope.get("aws.event") or {}))
    if principal.token_expires_at + EXPIRY_LEEWAY_SECONDS < time.time():
        raise Unauthorized("Token expired")
    return principal


async def current_user(
    request: Request, principal: Annotated[Principal, Depends(unrevoked_caller)]
) -> Principal:
    sessions: Sessions = request.app.state.sessions
    if sessions.is_revoked(principal.token_id):
        raise Unauthorized("Token revoked")
    return principal


async def admin_user(
    request: Request, principal: Annotated[Principal, Depends(unrevoked_caller)]
) -> Principal:
    """An admin as the database has it now (the token's role may be stale); revocation is
    checked in the same PostgreSQL round trip."""
    if not principal.is_admin:
        raise Forbidden("Admin role required")
    sessions: Sessions = request.app.state.sessions
    sessions.check_account(principal, role="ADMIN")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
# Only for a route whose service checks the denylist and the account in round trips it makes
# anyway (POST /orders: its Redis gate and its claim statement).
CallerToCheckInService = Annotated[Principal, Depends(unrevoked_caller)]
