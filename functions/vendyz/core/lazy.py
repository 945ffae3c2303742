"""Something an instance opens on first use rather than at import (a pool only some requests
need keeps its imports and connections out of the cold start)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def lazy(open_once: Callable[[], T]) -> Callable[[], T]:
    """`open_once()` on the first call only (thread-safe); the same value afterwards."""
    lock = threading.Lock()
    opened: list[T] = []

    def get() -> T:
        if not opened:
            with lock:
                if not opened:
                    opened.append(open_once())
        return opened[0]

    return get
