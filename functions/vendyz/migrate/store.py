"""SQL for the migration history (public.schema_migrations) and its advisory lock."""

from __future__ import annotations

from typing import Any

import psycopg

Connection = psycopg.Connection[Any]

# Any constant will do, as long as every migrator uses the same one.
_LOCK_ID = 7_272_001


def limit_waits(conn: Connection, timeout_ms: int) -> None:
    """Bound every statement and lock wait of the current transaction, so a slow migration or a
    held lock fails in time to be reported instead of outliving the function."""
    conn.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (str(timeout_ms),))


def lock(conn: Connection) -> None:
    """Held until the transaction ends: two deploys never migrate at once."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))


def ensure_history(conn: Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
        " version text PRIMARY KEY, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )


def recorded(conn: Connection) -> dict[str, str]:
    """version -> checksum of everything applied so far."""
    rows = conn.execute("SELECT version, checksum FROM public.schema_migrations").fetchall()
    return {str(version): str(checksum) for version, checksum in rows}


def apply(conn: Connection, version: str, sql: str, checksum: str) -> None:
    # Bytes: the file is sent as written (several statements, no placeholders).
    conn.execute(sql.encode())
    conn.execute(
        "INSERT INTO public.schema_migrations (version, checksum) VALUES (%s, %s)"
        " ON CONFLICT (version) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()",
        (version, checksum),
    )
