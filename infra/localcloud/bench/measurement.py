"""A measurement of the bench's reference points, and C threads calling an operation for a
few seconds (the db_limit fallback and reserve_path measure with them)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SETUP_TIMEOUT_S = 60.0  # for the threads (or pgbench) to connect and warm up


@dataclass
class Measurement:
    tps: float | None
    method: str
    calls: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass
class _ThreadRun:
    calls: int
    seconds: float
    errors: list[str]


Operation = Callable[[], object]


def run_threads(
    clients: int, seconds: float, prepare: Callable[[contextlib.ExitStack], Operation]
) -> _ThreadRun:
    """`clients` threads; each prepares its operation (resources on its ExitStack), runs it
    once to warm up, then all start together and call it in a loop for `seconds`."""
    barrier = threading.Barrier(clients + 1)
    calls = [0] * clients
    finished = [0.0] * clients
    errors: list[str] = []
    lock = threading.Lock()

    def note(exc: BaseException) -> None:
        with lock:
            if len(errors) < 5:
                errors.append(repr(exc))

    def work(index: int) -> None:
        with contextlib.ExitStack() as stack:
            operation: Operation | None = None
            try:
                operation = prepare(stack)
                operation()
            except Exception as exc:
                note(exc)
                operation = None
            try:
                barrier.wait(timeout=SETUP_TIMEOUT_S)
            except threading.BrokenBarrierError:
                return
            deadline = time.perf_counter() + seconds
            count = 0
            try:
                while operation is not None and time.perf_counter() < deadline:
                    operation()
                    count += 1
            except Exception as exc:
                note(exc)
            calls[index] = count
            finished[index] = time.perf_counter()

    threads = [
        threading.Thread(target=work, args=(i,), name=f"bench-{i}", daemon=True)
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=SETUP_TIMEOUT_S)
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    ended = max((f for f in finished if f), default=started)
    return _ThreadRun(sum(calls), max(ended - started, 1e-9), errors)


def from_threads(run: _ThreadRun, method: str) -> Measurement:
    notes = [f"errors: {'; '.join(run.errors)}"] if run.errors else []
    tps = run.calls / run.seconds if run.calls else None
    return Measurement(tps, method, run.calls, round(run.seconds, 3), notes)
