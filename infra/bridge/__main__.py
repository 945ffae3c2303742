"""`python -m bridge`: run the bridge until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import uvloop

from bridge.app import Bridge
from bridge.settings import Settings, SettingsError


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Bridge(settings).run(stop)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"bridge: {error}", file=sys.stderr)
        return 2
    # uvloop: a fan-out is hundreds of small posts a round, and its loop costs less per post.
    uvloop.run(_main(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
