"""PostgreSQL access: one pool per Lambda instance and a unit of work per change.

The unit of work owns the transaction and rolls back unless `commit()` was called, so an
exception anywhere in a change leaves nothing half-written. Hot-path writes that fit in one
statement skip it and run on an autocommit connection: one statement is one transaction and
one network round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

Row = dict[str, Any]
Connection = psycopg.Connection[Row]
T = TypeVar("T")


def create_pool(
    url: str, *, max_size: int, name: str, prepared_statements: bool = False
) -> ConnectionPool[Connection]:
    """Open a pool whose connections return rows as dicts.

    `prepared_statements`: let psycopg prepare a statement server-side once it ran a few times
    (PostgreSQL then skips parsing and planning it: ~0.2 ms of its CPU per order). Only for a
    direct connection: RDS Proxy pins every session that prepares statements.
    """
    pool: ConnectionPool[Connection] = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        name=name,
        open=True,
        connection_class=psycopg.Connection[Row],
        kwargs={
            "row_factory": dict_row,
            "autocommit": True,
            # psycopg's own default (prepare on the 5th run of a statement), or never.
            "prepare_threshold": 5 if prepared_statements else None,
        },
        timeout=10.0,
    )
    pool.wait(timeout=10.0)
    return pool


def run_repeatable(pool: ConnectionPool[Connection], work: Callable[[Connection], T]) -> T:
    """`work` on a pooled connection; once more on a fresh one if that connection was broken
    (a restarted PostgreSQL, a terminated backend). Only for work that is safe to repeat: it
    may have committed before the connection broke."""
    try:
        with pool.connection() as conn:
            return work(conn)
    except psycopg.OperationalError:
        # The other idle connections died the same way: drop them, so the retry gets a live one.
        pool.check()
    with pool.connection() as conn:
        return work(conn)


class UnitOfWork:
    """A transaction on a pooled connection; rolls back unless committed."""

    def __init__(self, pool: ConnectionPool[Connection]) -> None:
        self._pool = pool
        self._conn: Connection | None = None
        self._transaction: Any = None
        self._committed = False

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("UnitOfWork used outside its `with` block")
        return self._conn

    def __enter__(self) -> Self:
        self._conn = self._pool.getconn()
        self._transaction = self._conn.transaction()
        self._transaction.__enter__()
        return self

    def commit(self) -> None:
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if exc is None and not self._committed:
                # The default: nothing is kept without commit(); psycopg swallows Rollback.
                self._transaction.__exit__(psycopg.Rollback, psycopg.Rollback(), None)
            else:
                self._transaction.__exit__(exc_type, exc, tb)
        finally:
            self._pool.putconn(self._conn)
            self._conn = None
