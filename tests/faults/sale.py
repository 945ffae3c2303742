"""A running flash sale: buyers from a few users, each retrying a 503 (or a refused
connection) once with the same Idempotency-Key, as a well-behaved client does."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

CONNECTION_FAILED = "no-connection"


@dataclass
class SaleOutcome:
    seen: Counter[str] = field(default_factory=Counter)  # every answer, retries included
    final: Counter[str] = field(default_factory=Counter)  # the last answer each buyer got

    @property
    def answered(self) -> int:
        """Buyers done so far (read from another thread while the sale runs)."""
        return self.final.total()


async def run_sale(
    base_url: str,
    tokens: Sequence[str],
    product_id: str,
    *,
    buyers: int,
    outcome: SaleOutcome,
    concurrency: int = 48,
    retry_delay_s: float = 1.0,
) -> SaleOutcome:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=f"{base_url}/api/v1", limits=limits, timeout=30
    ) as client:

        async def attempt(headers: dict[str, str]) -> tuple[str, float]:
            try:
                reply = await client.post(
                    "/orders", json={"productId": product_id, "quantity": 1}, headers=headers
                )
            except httpx.TransportError:
                return CONNECTION_FAILED, retry_delay_s
            wait = float(reply.headers.get("Retry-After", retry_delay_s))
            return str(reply.status_code), wait

        async def buyer(i: int) -> None:
            headers = {
                "Authorization": f"Bearer {tokens[i % len(tokens)]}",
                "Idempotency-Key": str(uuid.uuid4()),
            }
            async with gate:
                status, wait = await attempt(headers)
            outcome.seen[status] += 1
            if status in ("503", CONNECTION_FAILED):
                await asyncio.sleep(min(wait, 3.0))
                async with gate:
                    status, _ = await attempt(headers)
                outcome.seen[status] += 1
            outcome.final[status] += 1

        await asyncio.gather(*(buyer(i) for i in range(buyers)))
    return outcome
