"""What an instance opens on first use rather than at import: a pool only some requests need
keeps its imports (psycopg, ~50 ms) and its connections out of the cold start."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from vendyz.core.db import Connection
    from vendyz.core.settings import Settings

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


def lazy_pool(settings: Settings, service: str) -> Callable[[], ConnectionPool[Connection]]:
    """The service's PostgreSQL pool, opened (and psycopg imported) on the first call."""

    def open_pool() -> ConnectionPool[Connection]:
        from vendyz.core.db import create_pool

        return create_pool(
            settings.database_url,
            max_size=settings.db_pool_max_size,
            name=service,
            prepared_statements=settings.db_prepared_statements,
        )

    return lazy(open_pool)
