"""`vendyz bench --watchers W`: W WebSocket clients watch the sale's product while it sells.

They run in a process of their own, so that reading W sockets does not slow the load's client,
and stamp every `stock` push with the wall clock, which the load's replies share. After the
load, the bench tells them the final stock; they wait (bounded) until each has seen it.

Push lag: the k-th confirmed reply (in reply order) proves at least k orders were sold, so the
stock was at most S - k*q by then; its lag on a watcher is the time from that reply to the
watcher's first push showing that stock or less (0 when the push came first). Every
(confirmed order, watcher) pair is one sample.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from localcloud.bench.report import percentile

CONNECT_TIMEOUT_S = 30.0
# Handshakes in flight at once: each runs the authorizer and the Realtime function ($connect),
# whose reserved concurrency (8 in the template) a stampede of W at once would exceed.
CONNECTS_AT_ONCE = 8
CONNECT_RETRY_S = 0.2
SETTLE_TIMEOUT_S = 10.0

Push = tuple[float, int]  # (wall-clock seconds, stock shown)


@dataclass(frozen=True)
class WatchResult:
    pushes: list[list[Push]]  # per watcher, in arrival order
    errors: list[str]


def websocket_url(base_url: str) -> str:
    scheme, _, rest = base_url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/ws"


async def _watch(url: str, product_id: str, count: int, control: Connection) -> WatchResult:
    import websockets

    pushes: list[list[Push]] = [[] for _ in range(count)]
    errors: list[str] = []
    sockets: list[Any] = []

    opening = asyncio.Semaphore(CONNECTS_AT_ONCE)

    async def open_one(index: int) -> None:
        """As a browser's client does: a handshake or subscribe refused because the Realtime
        function was throttled (as in AWS past its reserved concurrency) is retried."""
        subscribe = json.dumps({"action": "subscribe", "products": [product_id]})
        async with opening, asyncio.timeout(CONNECT_TIMEOUT_S):
            while True:
                try:
                    socket = await websockets.connect(url, max_queue=None)
                    break
                except websockets.InvalidStatus as refused:
                    if refused.response.status_code not in (429, 500, 503):
                        raise
                    await asyncio.sleep(CONNECT_RETRY_S)
            await socket.send(subscribe)
            while True:  # pushes may come before the answer
                answer = json.loads(await socket.recv())
                if answer.get("type") == "subscribed":
                    break
                if answer.get("message") == "Internal server error":
                    await asyncio.sleep(CONNECT_RETRY_S)
                    await socket.send(subscribe)
        sockets.append((index, socket))

    async def listen(index: int, socket: Any) -> None:
        mine = pushes[index]
        try:
            async for raw in socket:
                message = json.loads(raw)
                if message.get("type") == "stock" and message.get("productId") == product_id:
                    mine.append((time.time(), int(message["stock"])))
        except websockets.ConnectionClosed as exc:
            if len(errors) < 5:
                errors.append(f"watcher {index} closed: {exc}")

    opened = await asyncio.gather(*(open_one(i) for i in range(count)), return_exceptions=True)
    errors += [repr(o) for o in opened if isinstance(o, BaseException)][:5]
    listeners = [asyncio.create_task(listen(i, s)) for i, s in sockets]
    control.send(("ready", len(sockets)))
    loop = asyncio.get_running_loop()
    final_stock: int = await loop.run_in_executor(None, control.recv)
    watching = [pushes[i] for i, _ in sockets]
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline and not all(p and p[-1][1] == final_stock for p in watching):
        await asyncio.sleep(0.05)
    for _, socket in sockets:
        await socket.close()
    await asyncio.gather(*listeners, return_exceptions=True)
    return WatchResult(pushes, errors)


def _watcher_process(url: str, product_id: str, count: int, control: Connection) -> None:
    try:
        # uvloop: reading W sockets on this machine takes CPU from the cloud under test.
        result = uvloop.run(_watch(url, product_id, count, control))
    except Exception as exc:  # reported, not raised: the bench still has its load figures
        control.send(("failed", repr(exc)))
        return
    control.send(("done", result))


class Watchers:
    """The watcher process: start() before the load, finish(final_stock) after it."""

    def __init__(self, ws_url: str, product_id: str, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, theirs = context.Pipe()
        self._process = context.Process(
            target=_watcher_process,
            args=(ws_url, product_id, count, theirs),
            name="bench-watchers",
            daemon=True,
        )
        self.count = count
        self.connected = 0

    def start(self) -> None:
        self._process.start()
        if not self._control.poll(CONNECT_TIMEOUT_S + 30):
            self._process.kill()
            raise RuntimeError("the watchers did not connect in time")
        kind, value = self._control.recv()
        if kind != "ready":
            raise RuntimeError(f"the watchers failed: {value}")
        self.connected = value

    def finish(self, final_stock: int) -> WatchResult:
        self._control.send(final_stock)
        try:
            if not self._control.poll(SETTLE_TIMEOUT_S + 30):
                return WatchResult([], ["the watchers did not report in time"])
            kind, value = self._control.recv()
        finally:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
        if kind != "done":
            return WatchResult([], [f"the watchers failed: {value}"])
        result: WatchResult = value
        return result


def push_lags_ms(
    confirmed_at: Sequence[float], pushes: Sequence[Push], *, stock: int, quantity: int
) -> tuple[list[float], int]:
    """Lags of one watcher (ms, per confirmed reply), and how many replies it never showed."""
    lags: list[float] = []
    unseen = 0
    position = 0
    for k, replied_at in enumerate(sorted(confirmed_at), start=1):
        at_most = stock - k * quantity
        while position < len(pushes) and pushes[position][1] > at_most:
            position += 1
        if position == len(pushes):
            unseen += 1
            continue
        lags.append(max(0.0, (pushes[position][0] - replied_at) * 1000.0))
    return lags, unseen


def summarize(
    result: WatchResult,
    confirmed_at: Sequence[float],
    *,
    watchers: int,
    stock: int,
    quantity: int,
    final_stock: int,
) -> dict[str, Any]:
    lags: list[float] = []
    unseen = 0
    missed = watchers - len(result.pushes)  # watchers that reported nothing at all
    for pushes in result.pushes:
        if not pushes or pushes[-1][1] != final_stock:
            missed += 1
        watcher_lags, watcher_unseen = push_lags_ms(
            confirmed_at, pushes, stock=stock, quantity=quantity
        )
        lags += watcher_lags
        unseen += watcher_unseen
    lags.sort()
    p50, p99 = percentile(lags, 50), percentile(lags, 99)
    return {
        "watchers": watchers,
        "watchers_missed": missed,
        "push_lag_p50_ms": None if p50 is None else round(p50, 1),
        "push_lag_p99_ms": None if p99 is None else round(p99, 1),
        "pushes_received": sum(len(p) for p in result.pushes),
        "push_samples_unseen": unseen,
    }
