"""`vendyz bench`: its arguments and its entry point (kept light: heavy imports run late)."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="base URL of a running deployment (default: start an in-process local cloud);"
        " db_limit/reserve_path then need DATABASE_URL (and REDIS_URL, NATS_URL) set",
    )
    parser.add_argument("--stock", type=int, default=100, help="stock of the product (S)")
    parser.add_argument("--buyers", type=int, default=2000, help="buy requests to send (N)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (C)")
    parser.add_argument("--users", type=int, default=200, help="buyers' accounts (U)")
    parser.add_argument("--quantity", type=int, default=1, help="units per order")
    parser.add_argument(
        "--json", dest="json_path", metavar="PATH", help="the report as JSON; - for stdout"
    )
    parser.add_argument("--plot", dest="plot_path", metavar="PATH", help="a PNG latency histogram")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway processes of the local cloud the bench starts (without --url)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed orders first, for warm instances (default: min(2C, U); 0: none)",
    )
    parser.add_argument(
        "--measure-seconds",
        type=float,
        default=5.0,
        help="duration of each of the db_limit and reserve_path measurements",
    )


def run(args: argparse.Namespace) -> int:
    from localcloud.bench.load import Target
    from localcloud.bench.report import format_table
    from localcloud.bench.runner import BenchOptions, BenchSetupError, LoadSetupError, run_bench

    options = BenchOptions(
        url=args.url,
        stock=args.stock,
        buyers=args.buyers,
        concurrency=args.concurrency,
        users=args.users,
        quantity=args.quantity,
        json_path=args.json_path,
        plot_path=args.plot_path,
        measure_seconds=args.measure_seconds,
        workers=args.workers,
        warmup=args.warmup,
    )

    try:
        options.validate()
        if options.url:
            Target.from_url(options.url)
    except ValueError as exc:
        print(f"vendyz bench: {exc}", file=sys.stderr)
        return 2

    def on_sigterm(signum: int, _: FrameType | None) -> None:
        # The same clean stop as Ctrl-C (the cloud and the temp dir go): as SIGINT, so that a
        # running asyncio loop cancels its task instead of failing inside a callback.
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # e.g. a `cmd &` in a script
            raise KeyboardInterrupt
        signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        result = run_bench(options)
    except (BenchSetupError, LoadSetupError) as exc:
        print(f"vendyz bench: setup failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vendyz bench: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    table = format_table(result)
    (sys.stderr if options.json_path == "-" else sys.stdout).write(table)
    return 0
