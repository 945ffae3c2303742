"""Who is calling: the principal the Lambda authorizer put in the request context.

Services trust the gateway for authentication, with one exception: API Gateway reuses an
authorizer's allow for a while (the template's ReauthorizeEvery), so that a token is verified
once, not on every request. Logout and expiry must still take effect at once, so every service
checks them itself on each request: the token's exp from the context, and the denylist key
auth writes at logout (one Redis EXISTS; POST /orders does it inside its order gate).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import redis
from fastapi import Depends, Request

from vendyz.core.errors import Forbidden, ServiceUnavailable, Unauthorized
from vendyz.core.markers import revoked_key

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


class RevocationList:
    """The denylist of logged-out tokens, as auth writes it in Redis."""

    def __init__(self, cache: redis.Redis) -> None:
        self._cache = cache

    def is_revoked(self, token_id: str) -> bool:
        try:
            return bool(self._cache.exists(revoked_key(token_id)))
        except redis.RedisError as exc:
            # Never let through what could not be checked.
            raise ServiceUnavailable("Cannot check the session right now; retry") from exc


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
    revocations: RevocationList = request.app.state.revocations
    if revocations.is_revoked(principal.token_id):
        raise Unauthorized("Token revoked")
    return principal


async def admin_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not user.is_admin:
        raise Forbidden("Admin role required")
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
# Only for a route whose service checks the denylist in a Redis round trip it makes anyway
# (POST /orders: the order gate), so the check costs no round trip of its own.
CallerToCheckForRevocation = Annotated[Principal, Depends(unrevoked_caller)]
