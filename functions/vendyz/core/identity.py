"""Who is calling: the principal the Lambda authorizer put in the request context.

Services trust the gateway for authentication and only check the role here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request

from vendyz.core.errors import Forbidden, Unauthorized

Role = Literal["ADMIN", "USER"]


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: Role
    email: str

    @property
    def is_admin(self) -> bool:
        return self.role == "ADMIN"


def authorizer_context(event: dict[str, Any]) -> dict[str, Any]:
    authorizer = event.get("requestContext", {}).get("authorizer") or {}
    context: dict[str, Any] = authorizer.get("lambda") or {}
    return context


# `async def` although nothing is awaited: FastAPI runs a plain `def` dependency on a worker
# thread, a thread hop on every request.
async def current_user(request: Request) -> Principal:
    context = authorizer_context(request.scope.get("aws.event") or {})
    user_id, role = context.get("userId"), context.get("role")
    if not user_id or role not in ("ADMIN", "USER"):
        raise Unauthorized()
    return Principal(user_id=str(user_id), role=role, email=str(context.get("email", "")))


async def admin_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not user.is_admin:
        raise Forbidden("Admin role required")
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
