"""`vendyz bench --soak SECONDS`: mixed shop traffic for that long against a local cloud of its
own, and each process's memory (RSS) and open file descriptors after warm-up and at the end.

Leaks show as growth between the two: the acceptance is RSS within 20% and no growth in
descriptors. The warm-up lasts until the stack's time windows have filled (JetStream's
2-minute duplicate window, the caches' TTLs), since data held for a fixed time is not a leak.
Each of the two figures is the median of the samples taken over SAMPLE_SPAN_S, because a
garbage-collected server (NATS) swings by tens of percent between its collections.
PostgreSQL backends come and go with the pools, so they are counted together, with how many
there were (RSS here leaves out shared memory: the shared buffers); every other process is
reported on its own. At the end the stock is reconciled with the confirmed orders: nothing
sold twice, nothing lost.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from localcloud.bench.api import BenchApi, Buyer, new_run_id

SOAK_USERS = 40
SOAK_CONCURRENCY = 16
PRODUCTS = 4
STOCK_PER_PRODUCT = 1_000_000
# The longest window the stack keeps data for (JetStream's duplicate window, 120 s), with a margin.
FULL_WARMUP_S = 150.0
SAMPLE_SPAN_S = 30.0
SAMPLE_EVERY_S = 5.0


@dataclass(frozen=True)
class ProcessUsage:
    name: str
    processes: int
    rss_kib: int
    open_fds: int


@dataclass
class SoakResult:
    seconds: float
    warmup_seconds: float
    requests: Counter[str] = field(default_factory=Counter)
    start: dict[str, ProcessUsage] = field(default_factory=dict)
    end: dict[str, ProcessUsage] = field(default_factory=dict)
    stock_balanced: bool = False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The field after the parenthesised name is the state, then the parent's pid.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _usage(pid: int) -> tuple[str, int, int] | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    # Shared memory (PostgreSQL's shared buffers, a fixed pool its backends touch over time)
    # is not growth of the process: RSS less RssShmem.
    rss = int(fields.get("VmRSS", "0 kB").split()[0]) - int(
        fields.get("RssShmem", "0 kB").split()[0]
    )
    return fields["Name"].strip(), rss, fds


def warmup_seconds(soak_seconds: float) -> float:
    """The full warm-up for a soak of 10 minutes or more; a shorter soak warms up for a quarter
    of its length (at least 5 s), so a quick look stays quick."""
    return min(FULL_WARMUP_S, max(5.0, soak_seconds / 4))


def sample_span(soak_seconds: float) -> float:
    """How long the samples of each figure span: SAMPLE_SPAN_S, or half a shorter soak."""
    return min(SAMPLE_SPAN_S, soak_seconds / 2)


def median_usage(samples: list[dict[str, ProcessUsage]]) -> dict[str, ProcessUsage]:
    """Per process, the median of each figure over the samples it appears in."""
    merged: dict[str, ProcessUsage] = {}
    for name in {name for sample in samples for name in sample}:
        seen = [sample[name] for sample in samples if name in sample]
        merged[name] = ProcessUsage(
            name,
            round(statistics.median(u.processes for u in seen)),
            round(statistics.median(u.rss_kib for u in seen)),
            round(statistics.median(u.open_fds for u in seen)),
        )
    return merged


def process_usage(root: int) -> dict[str, ProcessUsage]:
    """Usage of `root` and its whole process tree; PostgreSQL's backends summed as one."""
    usage: dict[str, ProcessUsage] = {}
    pending, seen = [root], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        pending += _children(pid)
        found = _usage(pid)
        if found is None:
            continue
        name, rss, fds = found
        key = "postgres (all)" if name == "postgres" else f"{name} [{pid}]"
        before = usage.get(key, ProcessUsage(key, 0, 0, 0))
        usage[key] = ProcessUsage(
            key, before.processes + 1, before.rss_kib + rss, before.open_fds + fds
        )
    return usage


class _Shop:
    """Mixed traffic as shoppers make it: browsing, buying (some retries), reading orders."""

    def __init__(self, base_url: str, buyers: list[Buyer], products: list[str]) -> None:
        self._client = httpx.AsyncClient(base_url=f"{base_url}/api/v1", timeout=30)
        self._buyers = buyers
        self._products = products
        self.requests: Counter[str] = Counter()

    async def _one(self, rng: random.Random) -> None:
        buyer = rng.choice(self._buyers)
        auth = {"Authorization": f"Bearer {buyer.token}"}
        roll = rng.random()
        if roll < 0.3:
            reply = await self._client.get("/products", params={"limit": 10})
        elif roll < 0.5:
            reply = await self._client.get(f"/products/{rng.choice(self._products)}")
        elif roll < 0.8:
            # One in five is a retry of an earlier key (for the same product).
            product = rng.randrange(len(self._products))
            fresh = rng.random() < 0.8
            key = str(uuid.uuid4()) if fresh else f"replay-{product}-{rng.randint(0, 50)}"
            reply = await self._client.post(
                "/orders",
                json={"productId": self._products[product], "quantity": 1},
                headers=auth | {"Idempotency-Key": key},
            )
        elif roll < 0.95:
            reply = await self._client.get("/orders", params={"limit": 5}, headers=auth)
        else:
            reply = await self._client.get("/auth/me", headers=auth)
        self.requests[str(reply.status_code)] += 1

    async def run_for(self, seconds: float, seed: int) -> None:
        deadline = time.monotonic() + seconds

        async def client(n: int) -> None:
            rng = random.Random(seed * 1000 + n)
            while time.monotonic() < deadline:
                try:
                    await self._one(rng)
                except httpx.TransportError as exc:
                    self.requests[type(exc).__name__] += 1

        await asyncio.gather(*(client(n) for n in range(SOAK_CONCURRENCY)))

    async def aclose(self) -> None:
        await self._client.aclose()


async def _sampled(
    traffic: Coroutine[Any, Any, None], seconds: float
) -> tuple[list[dict[str, ProcessUsage]], list[dict[str, ProcessUsage]]]:
    """Run the traffic; sample the process tree over its first and last SAMPLE_SPAN_S."""
    span = sample_span(seconds)
    first: list[dict[str, ProcessUsage]] = []
    last: list[dict[str, ProcessUsage]] = []
    running = asyncio.ensure_future(traffic)
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        if running.done() or elapsed >= seconds:
            break
        if elapsed <= span or elapsed >= seconds - span:
            sample = await asyncio.to_thread(process_usage, os.getpid())
            (first if elapsed <= span else last).append(sample)
        await asyncio.wait({running}, timeout=SAMPLE_EVERY_S)
    await running
    if not last:  # a traffic that ended early: its end is the last look
        last.append(process_usage(os.getpid()))
    return first or last, last


def _stock_balanced(database_url: str, products: list[str]) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT coalesce(sum(stock), 0) FROM inventory.products"
            "  WHERE product_id = ANY(%(p)s))"
            " + (SELECT coalesce(sum(quantity), 0) FROM orders.orders"
            "  WHERE product_id = ANY(%(p)s) AND status = 'CONFIRMED')",
            {"p": products},
        ).fetchone()
    return row is not None and int(row[0]) == STOCK_PER_PRODUCT * len(products)


async def _soak(base_url: str, database_url: str, seconds: float, admin: str) -> SoakResult:
    api = BenchApi(base_url)
    try:
        run_id = new_run_id()
        buyers = await api.register_buyers(SOAK_USERS, run_id)
        products = [
            await api.create_product(admin, f"soak-{run_id}-{i}", STOCK_PER_PRODUCT)
            for i in range(PRODUCTS)
        ]
    finally:
        await api.aclose()
    shop = _Shop(base_url, buyers, products)
    try:
        # Warm-up: every function has its instances, pools and caches, and every time window
        # its fill, before the first look.
        warmup = warmup_seconds(seconds)
        await shop.run_for(warmup, seed=1)
        shop.requests.clear()
        first, last = await _sampled(shop.run_for(seconds, seed=2), seconds)
        result = SoakResult(seconds, warmup, start=median_usage(first), end=median_usage(last))
        result.requests = shop.requests
    finally:
        await shop.aclose()
    # Nothing PENDING may count against the balance: the reconciler finishes stragglers.
    deadline = time.monotonic() + 30
    while not (balanced := _stock_balanced(database_url, products)):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    result.stock_balanced = balanced
    return result


def run_soak(seconds: float, *, workers: int, log: Any) -> SoakResult:
    from localcloud.bench.runner import (
        DEFAULT_ADMIN_EMAIL,
        DEFAULT_ADMIN_PASSWORD,
        in_process_cloud,
    )

    with in_process_cloud(log, workers) as (base_url, database_url, _):

        async def go() -> SoakResult:
            api = BenchApi(base_url)
            try:
                _, admin = await api.login(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
            finally:
                await api.aclose()
            return await _soak(base_url, database_url, seconds, admin)

        return asyncio.run(go())


def format_soak(result: SoakResult) -> str:
    lines = [
        f"soak: {result.seconds:.0f} s of mixed traffic after {result.warmup_seconds:.0f} s of"
        " warm-up; each figure the median over the first and the last"
        f" {sample_span(result.seconds):.0f} s",
        "requests: " + ", ".join(f"{k}: {v}" for k, v in sorted(result.requests.items())),
        f"stock balanced with confirmed orders: {'yes' if result.stock_balanced else 'NO'}",
        "",
        f"{'process':<28} {'procs':>9} {'RSS start':>10} {'RSS end':>10} {'change':>8}"
        f" {'fds start':>9} {'fds end':>8}",
    ]
    for name in sorted(set(result.start) | set(result.end)):
        start, end = result.start.get(name), result.end.get(name)
        rss0 = start.rss_kib if start else 0
        rss1 = end.rss_kib if end else 0
        change = f"{100 * (rss1 - rss0) / rss0:+.1f}%" if rss0 else "new"
        procs = f"{start.processes if start else 0}->{end.processes if end else 0}"
        lines.append(
            f"{name:<28} {procs:>9} {rss0 / 1024:>8.1f}MB {rss1 / 1024:>8.1f}MB {change:>8}"
            f" {start.open_fds if start else 0:>9} {end.open_fds if end else 0:>8}"
        )
    return "\n".join(lines) + "\n"
