"""vendyz.core.identity: what a service checks itself although the gateway authorized the call.

API Gateway reuses an authorizer's allow for a while, so the token's expiry and its
revocation are the service's to check (a revoked token is refused in
tests/integration/test_auth_api.py, against real Redis).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from psycopg_pool import ConnectionPool
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.requests import Request

from vendyz.core.errors import ServiceUnavailable, Unauthorized
from vendyz.core.identity import Sessions, current_user, unrevoked_caller


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _request(context: dict[str, Any], sessions: Sessions) -> Request:
    app = FastAPI()
    app.state.sessions = sessions
    event = {"requestContext": {"authorizer": {"lambda": context}}}
    return Request({"type": "http", "headers": [], "app": app, "aws.event": event})


@pytest.fixture
def unreachable_redis() -> Iterator[Sessions]:
    """Sessions whose Redis and PostgreSQL both refuse connections."""
    client = redis.Redis(
        port=_closed_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    pool: ConnectionPool[Any] = ConnectionPool(
        f"host=127.0.0.1 port={_closed_port()} connect_timeout=1",
        min_size=0,
        max_size=1,
        timeout=0.5,
        open=True,
    )
    yield Sessions(client, pool)
    pool.close()


def _context(**changes: Any) -> dict[str, Any]:
    context = {
        "userId": "user-1",
        "role": "USER",
        "email": "a@vendyz.dev",
        "jti": "jti-1",
        "exp": int(time.time()) + 600,
    }
    return {**context, **changes}


def test_an_expired_token_is_refused_before_anything_is_asked(
    unreachable_redis: Sessions,
) -> None:
    # GIVEN a context whose token expired (the gateway's cached allow outlived it)
    request = _request(_context(exp=int(time.time()) - 60), unreachable_redis)
    # WHEN the caller is resolved  THEN 401, without a Redis round trip
    with pytest.raises(Unauthorized, match="expired"):
        asyncio.run(unrevoked_caller(request))


@pytest.mark.parametrize(
    "changes",
    [{"jti": None}, {"exp": None}, {"exp": "soon"}, {"role": "ROOT"}, {"userId": ""}],
)
def test_a_context_without_what_is_needed_is_refused(
    unreachable_redis: Sessions, changes: dict[str, Any]
) -> None:
    # GIVEN a context missing a claim or carrying a bad one
    request = _request(_context(**changes), unreachable_redis)
    # WHEN  THEN 401
    with pytest.raises(Unauthorized):
        asyncio.run(unrevoked_caller(request))


def test_an_unknown_revocation_state_is_503_never_an_allow(
    unreachable_redis: Sessions,
) -> None:
    # GIVEN a valid context but neither Redis nor PostgreSQL to ask whether it was revoked
    request = _request(_context(), unreachable_redis)
    caller = asyncio.run(unrevoked_caller(request))
    # WHEN it is checked against the denylist  THEN the request is refused as unavailable
    with pytest.raises(ServiceUnavailable):
        asyncio.run(current_user(request, caller))
