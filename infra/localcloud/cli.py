"""`vendyz`: the command line of the local cloud (`vendyz up`) and of its tools."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from localcloud.bench import command as bench_command
from localcloud.cloud import CloudOptions, LocalCloud, default_static_dir


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _up(args: argparse.Namespace) -> int:
    options = CloudOptions(
        port=args.port,
        host=args.host,
        data_dir=Path(args.data_dir).resolve(),
        static_dir=default_static_dir(),
        schedule_seconds=args.schedule_seconds,
        workers=args.workers,
    )
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stop.set()

    # Ctrl-C and SIGTERM both end in the same clean stop: no server is left behind.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cloud = LocalCloud(options, log=lambda line: print(line, flush=True))
    try:
        cloud.start()
        stop.wait()
    finally:
        print("vendyz: stopping", flush=True)
        cloud.stop()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from localcloud import migrate

    if args.stamp_template:
        print(migrate.stamp_template())
        return 0
    if not args.database_url:
        print("vendyz migrate: --database-url (or DATABASE_URL) is required", file=sys.stderr)
        return 2
    print(json.dumps(migrate.run_migrate(args.database_url, args.nats_url)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vendyz", description="Vendyz Flash Sale tools")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the whole local cloud (no Docker)")
    up.add_argument("--port", type=int, default=3000)
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--data-dir", default=".vendyz")
    up.add_argument(
        "--schedule-seconds",
        type=float,
        default=5.0,
        help="run each schedule at least this often locally (0 turns schedules off)",
    )
    up.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="gateway processes (default 1: the function instances are processes of their own)",
    )
    up.set_defaults(run=_up)
    migrate = commands.add_parser(
        "migrate",
        help="apply the migrations to a database with the deployed migrate task's code",
    )
    migrate.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    migrate.add_argument(
        "--nats-url",
        default=os.environ.get("NATS_URL", ""),
        help="also create the JetStream stream there",
    )
    migrate.add_argument(
        "--stamp-template",
        action="store_true",
        help="write the migration files' hash into template.yaml (MigrationsHash)",
    )
    migrate.set_defaults(run=_migrate)
    bench = commands.add_parser(
        "bench",
        help="the flash-sale benchmark (starts its own local cloud unless --url is given)",
    )
    bench_command.add_arguments(bench)
    bench.set_defaults(run=bench_command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("localcloud.lambda").setLevel(logging.INFO)  # cold starts, as REPORT lines
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
