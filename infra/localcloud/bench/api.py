"""The untimed HTTP parts of the bench: admin login, buyers, the product, reading back.

httpx is fine here: none of this is measured.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from localcloud.bench.progress import Progress

BUYER_PASSWORD = "bench-correct-horse"  # noqa: S105 - throwaway bench accounts
PAGE_LIMIT = 50  # the API's largest page
_T = TypeVar("_T")


class BenchSetupError(RuntimeError):
    """The bench could not prepare its run (login, registration, product)."""


@dataclass(frozen=True)
class Buyer:
    user_id: str
    email: str
    token: str


def _data(reply: httpx.Response, expected: int, what: str) -> dict[str, Any]:
    if reply.status_code != expected:
        raise BenchSetupError(f"{what}: HTTP {reply.status_code}: {reply.text[:300]}")
    data: dict[str, Any] = reply.json()["data"]
    return data


async def _bounded(
    count: int, concurrency: int, one: Callable[[int], Awaitable[_T]], progress: Progress | None
) -> list[_T]:
    gate = asyncio.Semaphore(concurrency)

    async def run(i: int) -> _T:
        async with gate:
            result = await one(i)
        if progress is not None:
            progress.advance()
        return result

    return await asyncio.gather(*(run(i) for i in range(count)))


class BenchApi:
    """The API at `base_url` (the part before /api/v1)."""

    def __init__(self, base_url: str, *, concurrency: int = 8, timeout: float = 60.0) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._client = httpx.AsyncClient(
            base_url=f"{base_url.rstrip('/')}/api/v1", limits=limits, timeout=timeout
        )
        self._concurrency = concurrency

    async def aclose(self) -> None:
        await self._client.aclose()

    async def login(self, email: str, password: str) -> tuple[str, str]:
        """(user_id, token)."""
        reply = await self._client.post("/auth/login", json={"email": email, "password": password})
        data = _data(reply, 200, f"login as {email}")
        return str(data["userId"]), str(data["token"])

    async def register_buyers(
        self, count: int, run_id: str, progress: Progress | None = None
    ) -> list[Buyer]:
        """`count` fresh users, registered and logged in `concurrency` at a time (argon2 makes
        each registration cost real CPU on the server, so more at once gains nothing).

        Each then reads its profile (GET /auth/me) with its new token, as the web frontend does
        after a login: a shopper waiting for a sale has made authorized requests before buying,
        so the timed orders meet the gateway's authorizer cache as in a sale, not a first
        request per shopper."""

        async def one(i: int) -> Buyer:
            email = f"bench-{run_id}-{i}@example.com"
            body = {
                "email": email,
                "password": BUYER_PASSWORD,
                "firstName": "Bench",
                "lastName": f"Buyer {i}",
            }
            _data(await self._client.post("/auth/register", json=body), 201, f"register {email}")
            user_id, token = await self.login(email, BUYER_PASSWORD)
            me = await self._client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
            if _data(me, 200, f"read the profile of {email}").get("userId") != user_id:
                raise BenchSetupError(f"GET /auth/me as {email} answered for another user")
            return Buyer(user_id, email, token)

        return await _bounded(count, self._concurrency, one, progress)

    async def create_product(self, admin_token: str, name: str, stock: int) -> str:
        reply = await self._client.post(
            "/products",
            json={"name": name, "stock": stock},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        return str(_data(reply, 201, "create the bench product")["productId"])

    async def stock_of(self, product_id: str) -> int:
        reply = await self._client.get(f"/products/{product_id}")
        return int(_data(reply, 200, f"read product {product_id}")["stock"])

    async def confirmed_orders(self, buyers: Sequence[Buyer], product_id: str) -> int:
        """Confirmed orders of `product_id`, summed over every buyer's GET /orders pages."""

        async def of(i: int) -> int:
            token = buyers[i].token
            found, page = 0, 1
            while True:
                reply = await self._client.get(
                    "/orders",
                    params={"page": page, "limit": PAGE_LIMIT},
                    headers={"Authorization": f"Bearer {token}"},
                )
                data = _data(reply, 200, f"list orders of {buyers[i].email}")
                items: list[dict[str, Any]] = data["items"]
                found += sum(
                    1 for o in items if o["product_id"] == product_id and o["status"] == "CONFIRMED"
                )
                if not items or page * PAGE_LIMIT >= int(data["total"]):
                    return found
                page += 1

        counts = await _bounded(len(buyers), self._concurrency, of, None)
        return sum(counts)


def new_run_id() -> str:
    return uuid.uuid4().hex[:10]
