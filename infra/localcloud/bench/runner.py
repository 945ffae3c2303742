"""One bench run: setup, the timed load, reading back, the reference points, the report."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from localcloud.bench import database, report
from localcloud.bench.api import BenchApi, BenchSetupError, Buyer, new_run_id
from localcloud.bench.load import LoadResult, LoadSetupError, place_orders
from localcloud.bench.measurement import Measurement
from localcloud.bench.progress import Progress
from localcloud.bench.reserve_path import reserve_path
from localcloud.bench.watchers import Watchers, summarize, websocket_url
from localcloud.local_secrets import LocalSecrets

DEFAULT_ADMIN_EMAIL = "lead@vendyz.dev"
DEFAULT_ADMIN_PASSWORD = "flashsale"  # noqa: S105 - the documented local seed
REPORT_KEYS = (
    "confirmed",
    "rejected",
    "throttled",
    "errors",
    "oversold",
    "final_stock",
    "throughput_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "stock",
    "buyers",
    "concurrency",
    "users",
    "db_limit_tps",
    "reserve_path_tps",
    "throughput_vs_db_limit",
    "reserve_path_vs_db_limit",
    "throughput_vs_reserve_path",
)


@dataclass(frozen=True)
class BenchOptions:
    url: str | None = None  # None: start an in-process local cloud on a temp data dir
    stock: int = 100
    buyers: int = 2000
    concurrency: int = 64
    users: int = 200
    quantity: int = 1
    json_path: str | None = None  # "-" for stdout
    plot_path: str | None = None
    measure_seconds: float = 5.0  # each of db_limit and reserve_path
    setup_concurrency: int = 8  # registrations are argon2-bound
    workers: int = 1  # gateway processes of the started cloud
    # Untimed orders for a product of their own first, so the timed load meets warm instances
    # (connections open) as a sale would; None: min(2 * concurrency, users), one per buyer.
    warmup: int | None = None
    watchers: int = 0  # WebSocket clients watching the product during the load
    ws_url: str | None = None  # None: the local cloud's ws://<host>/ws

    @property
    def warmup_orders(self) -> int:
        return min(2 * self.concurrency, self.users) if self.warmup is None else self.warmup

    progress: bool | None = None  # None: a live bar only when stderr is a terminal

    def validate(self) -> None:
        if not 0 <= self.stock <= 1_000_000:
            raise ValueError("--stock must be between 0 and 1,000,000 (the API's limit)")
        for name in ("buyers", "concurrency", "users", "quantity", "setup_concurrency", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if self.quantity > 100:
            raise ValueError("--quantity must be at most 100 (the API's limit)")
        if self.warmup is not None and self.warmup < 0:
            raise ValueError("--warmup must be 0 or more")
        if self.watchers < 0:
            raise ValueError("--watchers must be 0 or more")
        if self.measure_seconds <= 0:
            raise ValueError("--measure-seconds must be positive")


def _say(line: str) -> None:
    print(f"vendyz bench: {line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def in_process_cloud(
    log: Callable[[str], None], workers: int
) -> Iterator[tuple[str, str, LocalSecrets]]:
    """A local cloud on a fresh temp data dir, stopped and removed whatever happens."""
    from localcloud.cloud import CloudOptions, LocalCloud

    data_dir = Path(tempfile.mkdtemp(prefix="vendyz-bench-"))
    cloud = LocalCloud(
        CloudOptions(
            port=0,
            data_dir=data_dir,
            static_dir=None,
            schedule_seconds=5,
            workers=workers,
        ),
        log=log,
    )
    try:
        try:
            base_url = cloud.start()
        except Exception as exc:
            raise BenchSetupError(f"the local cloud did not start: {exc}") from exc
        assert cloud.urls is not None
        assert cloud.secrets is not None
        yield base_url, cloud.urls.database_url, cloud.secrets
    finally:
        # The functions' NATS publishers outlive nats-server (LocalCloud.stop() does not close
        # them) and keep reconnecting until the process ends; their warnings are noise here.
        logging.getLogger("vendyz.core.events").setLevel(logging.ERROR)
        cloud.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class _Setup:
    admin_token: str
    product_id: str
    warmup_product_id: str
    buyers: list[Buyer]


async def _setup(api: BenchApi, options: BenchOptions, run_id: str, live: bool | None) -> _Setup:
    email = os.environ.get("AUTH_SEED_EMAIL") or DEFAULT_ADMIN_EMAIL
    password = os.environ.get("AUTH_SEED_PASSWORD") or DEFAULT_ADMIN_PASSWORD
    _, admin_token = await api.login(email, password)
    product_id = await api.create_product(admin_token, f"Bench drop {run_id}", options.stock)
    warmup_product_id = await api.create_product(
        admin_token, f"Bench warm-up {run_id}", options.warmup_orders * options.quantity
    )
    progress = Progress("users", options.users, live=live, unit="user")
    try:
        buyers = await api.register_buyers(options.users, run_id, progress)
    finally:
        progress.close()
    return _Setup(admin_token, product_id, warmup_product_id, buyers)


async def _read_back(
    api: BenchApi, setup: _Setup, database_url: str | None, in_process: bool
) -> tuple[int, int | None, str]:
    """(final stock from the API, confirmed orders stored, how they were counted)."""
    final_stock = await api.stock_of(setup.product_id)
    if in_process and database_url:
        confirmed = database.confirmed_orders(database_url, setup.product_id)
        return final_stock, confirmed, "database: orders.orders"
    confirmed = await api.confirmed_orders(setup.buyers, setup.product_id)
    return final_stock, confirmed, "API: GET /orders of every buyer"


def _run_phases(
    options: BenchOptions,
    base_url: str,
    database_url: str | None,
    secrets: LocalSecrets | None,
) -> tuple[dict[str, Any], LoadResult]:
    """`secrets`: the started local cloud's (None with --url)."""
    in_process = secrets is not None
    run_id = new_run_id()
    notes: list[str] = []
    started_at = datetime.now(UTC)

    async def setup_phase() -> _Setup:
        api = BenchApi(base_url, concurrency=options.setup_concurrency)
        try:
            return await _setup(api, options, run_id, options.progress)
        finally:
            await api.aclose()

    clock = time.perf_counter()
    try:
        setup = asyncio.run(setup_phase())
    except httpx.HTTPError as exc:
        raise BenchSetupError(f"setup: {exc!r} (is the API up at {base_url}?)") from exc
    setup_seconds = time.perf_counter() - clock

    tokens = [b.token for b in setup.buyers]
    if options.warmup_orders:
        place_orders(
            base_url,
            tokens,
            setup.warmup_product_id,
            buyers=options.warmup_orders,
            concurrency=options.concurrency,
            quantity=options.quantity,
        )
    ws_url = options.ws_url or websocket_url(base_url)
    watchers = Watchers(ws_url, setup.product_id, options.watchers) if options.watchers else None
    if watchers is not None:
        _say(f"connecting {options.watchers} watchers to {ws_url}")
        watchers.start()
    progress = Progress("orders", options.buyers, live=options.progress)
    load = place_orders(
        base_url,
        tokens,
        setup.product_id,
        buyers=options.buyers,
        concurrency=options.concurrency,
        quantity=options.quantity,
        progress=progress,
    )
    if load.error_samples:
        notes.append("transport errors, first few: " + "; ".join(load.error_samples))

    async def read_back_phase() -> tuple[int, int | None, str]:
        api = BenchApi(base_url, concurrency=options.setup_concurrency)
        try:
            return await _read_back(api, setup, database_url, in_process)
        finally:
            await api.aclose()

    final_stock, confirmed_readback, readback_method = asyncio.run(read_back_phase())
    watched: dict[str, Any] = {}
    if watchers is not None:
        watch = watchers.finish(final_stock)
        notes += [f"watchers: {e}" for e in watch.errors]
        confirmed_at = [t for t, s in zip(load.finished_at, load.statuses, strict=True) if s == 201]
        watched = summarize(
            watch,
            confirmed_at,
            watchers=options.watchers,
            stock=options.stock,
            quantity=options.quantity,
            final_stock=final_stock,
        )
    if database_url and in_process:
        stored = database.stock_in_database(database_url, setup.product_id)
        if stored != final_stock:
            notes.append(f"API shows stock {final_stock}, the database {stored}")

    # The reference points come after the load, on bench products of their own.
    db_measure: Measurement | None = None
    path_measure: Measurement | None = None
    bench_products: list[str] = []
    try:
        if database_url:
            _say(f"db_limit: the reservation statement from {options.concurrency} connections")
            db_measure, product = database.db_limit(
                database_url, options.concurrency, options.measure_seconds
            )
            bench_products.append(product)
            notes += [f"db_limit: {n}" for n in db_measure.notes]
        else:
            notes.append("db_limit_tps: n/a (with --url it needs DATABASE_URL)")
        if secrets is not None and database_url:
            _say(f"reserve_path: ReserveStock through the Invoke API from {options.concurrency}")
            path_measure, product = reserve_path(
                base_url, secrets, database_url, options.concurrency, options.measure_seconds
            )
            bench_products.append(product)
            notes += [f"reserve_path: {n}" for n in path_measure.notes]
        else:
            notes.append("reserve_path_tps: n/a (measured on the local cloud the bench starts)")
    finally:
        if database_url:
            database.remove_bench_products(database_url, bench_products)

    counts = report.classify(load.statuses)
    throughput = options.buyers / load.wall_seconds
    db_tps = db_measure.tps if db_measure else None
    path_tps = path_measure.tps if path_measure else None
    flags = report.consistency_flags(
        stock=options.stock,
        quantity=options.quantity,
        confirmed=counts["confirmed"],
        final_stock=final_stock,
        confirmed_readback=confirmed_readback,
    )
    result: dict[str, Any] = {
        "target": base_url if not in_process else f"in-process local cloud ({base_url})",
        "stock": options.stock,
        "buyers": options.buyers,
        "concurrency": options.concurrency,
        "users": options.users,
        "quantity": options.quantity,
        **counts,
        "oversold": max(0, counts["confirmed"] * options.quantity - options.stock),
        "final_stock": final_stock,
        "confirmed_readback": confirmed_readback,
        "readback_method": readback_method,
        "consistent": not flags,
        "flags": flags,
        "throughput_rps": round(throughput, 1),
        **report.latency_summary(load.statuses, load.latencies_ms),
        "load_seconds": round(load.wall_seconds, 3),
        "warmup_requests": options.warmup_orders,
        "client_cpu_ms_per_request": round(load.client_cpu_seconds * 1000 / options.buyers, 4),
        "client_cpu_share": round(load.client_cpu_seconds / load.wall_seconds, 3),
        "status_counts": report.status_counts(load.statuses),
        **watched,
        "db_limit_tps": None if db_tps is None else round(db_tps, 1),
        "db_limit_method": db_measure.method if db_measure else None,
        "reserve_path_tps": None if path_tps is None else round(path_tps, 1),
        "reserve_path_method": path_measure.method if path_measure else None,
        "measure_seconds": options.measure_seconds,
        **report.ratios(throughput, db_tps, path_tps),
        "setup_seconds": round(setup_seconds, 2),
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
        },
        "notes": notes,
    }
    result["targets"] = report.targets(result)
    return result, load


def run_bench(options: BenchOptions, *, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the whole bench and return the report; writes --json/--plot when asked.

    Raises BenchSetupError (or LoadSetupError) when the run could not be prepared."""
    options.validate()
    cloud_log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    with contextlib.ExitStack() as stack:
        if options.url:
            base_url = options.url.rstrip("/")
            database_url = os.environ.get("DATABASE_URL") or None
            secrets = None
        else:
            _say("starting an in-process local cloud on a temp data dir")
            base_url, database_url, secrets = stack.enter_context(
                in_process_cloud(cloud_log, options.workers)
            )
        result, load = _run_phases(options, base_url, database_url, secrets)
    if options.json_path:
        report.write_json(result, options.json_path)
    if options.plot_path:
        answered = [ms for ms, s in zip(load.latencies_ms, load.statuses, strict=True) if s]
        report.write_plot(result, answered, options.plot_path)
    return result


__all__ = [
    "REPORT_KEYS",
    "BenchOptions",
    "BenchSetupError",
    "LoadSetupError",
    "run_bench",
]
