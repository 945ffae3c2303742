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
        " db_limit then needs DATABASE_URL; reserve_path is measured on the started cloud only",
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
        "--watchers",
        type=int,
        default=0,
        help="WebSocket clients watching the product's stock during the load (W); adds"
        " push_lag_p50_ms / push_lag_p99_ms and watchers_missed to the report",
    )
    parser.add_argument(
        "--ws-url",
        help="the WebSocket API's URL for the watchers (default: ws(s)://<url's host>/ws, the"
        " local cloud's; in AWS the stack's WebSocketUrl output)",
    )
    parser.add_argument(
        "--soak",
        type=float,
        metavar="SECONDS",
        help="instead of the sale: mixed traffic for SECONDS, with each process's RSS and open"
        " file descriptors after warm-up and at the end",
    )
    parser.add_argument(
        "--measure-seconds",
        type=float,
        default=5.0,
        help="duration of each of the db_limit and reserve_path measurements",
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="instead of the load: each function's cold start from the deployed package",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=7,
        help="fresh interpreters per function for --cold-start (the median is reported)",
    )


def run(args: argparse.Namespace) -> int:
    if args.soak is not None:
        return _soak(args)
    from localcloud.bench.load import Target
    from localcloud.bench.report import format_table
    from localcloud.bench.runner import BenchOptions, BenchSetupError, LoadSetupError, run_bench

    if args.cold_start:
        from localcloud.bench import cold_start

        if args.rounds < 1:
            print("vendyz bench: --rounds must be at least 1", file=sys.stderr)
            return 2
        return cold_start.run(args.rounds)

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
        watchers=args.watchers,
        ws_url=args.ws_url,
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


def _soak(args: argparse.Namespace) -> int:
    from localcloud.bench.soak import format_soak, run_soak

    if args.soak <= 0:
        print("vendyz bench: --soak must be positive", file=sys.stderr)
        return 2
    if args.url:
        print("vendyz bench: --soak starts its own local cloud (no --url)", file=sys.stderr)
        return 2
    result = run_soak(args.soak, workers=args.workers, log=lambda _: None)
    sys.stdout.write(format_soak(result))
    return 0 if result.stock_balanced else 1
