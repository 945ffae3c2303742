"""Waiting that ends early when the bridge is told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max(0.0, seconds))


async def every(seconds: float, stop: asyncio.Event, work: Callable[[], Awaitable[object]]) -> None:
    """Run `work` now and then every `seconds` (from the start of the last run) until `stop`."""
    while not stop.is_set():
        started = time.monotonic()
        await work()
        await sleep_unless(stop, seconds - (time.monotonic() - started))
