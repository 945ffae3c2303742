"""Concurrent buyers for the order tests: many users, many requests, one event loop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: httpx.Headers


def buy_concurrently(
    base_url: str,
    tokens: Sequence[str],
    product_id: str,
    *,
    buyers: int,
    quantity: int = 1,
    concurrency: int = 64,
    idempotency_key: str | None = None,
    unique_keys: bool = True,
) -> list[Reply]:
    """`buyers` POST /orders spread round-robin over `tokens`, at most `concurrency` at once.

    Each request carries its own Idempotency-Key unless `idempotency_key` fixes one for all
    (or `unique_keys` is False: no key at all). A buyer told 503 retries once after its
    Retry-After with the same key, as the API asks clients to (a burst on a cold cloud makes
    64 instances of each function start at once, on this machine's few cores)."""

    async def run() -> list[Reply]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=f"{base_url}/api/v1", limits=limits, timeout=60
        ) as client:
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> Reply:
                headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
                if idempotency_key is not None:
                    headers["Idempotency-Key"] = idempotency_key
                elif unique_keys:
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                body = {"productId": product_id, "quantity": quantity}
                async with gate:
                    response = await client.post("/orders", json=body, headers=headers)
                if response.status_code == 503 and "Idempotency-Key" in headers:
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    async with gate:
                        response = await client.post("/orders", json=body, headers=headers)
                return Reply(response.status_code, response.json(), response.headers)

            return await asyncio.gather(*(one(i) for i in range(buyers)))

    return asyncio.run(run())
