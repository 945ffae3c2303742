"""The bridge's reads of PostgreSQL, the only source of truth for stock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg


class Database:
    """One autocommit connection, opened on first use and again after it breaks."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None

    async def stock_of(self, product_ids: Sequence[str]) -> dict[str, int]:
        """Current stock of these products (one query); unknown ids are left out."""
        rows = await self._fetch(
            "SELECT product_id, stock FROM inventory.products WHERE product_id = ANY(%s)",
            (list(product_ids),),
        )
        return {str(product_id): int(stock) for product_id, stock in rows}

    async def ping(self) -> bool:
        try:
            await self._fetch("SELECT 1", ())
        except psycopg.Error:
            return False
        return True

    async def _fetch(self, query: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=5
            )
        try:
            cursor = await self._conn.execute(query, params)
            return await cursor.fetchall()
        except psycopg.OperationalError:
            await self.close()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
