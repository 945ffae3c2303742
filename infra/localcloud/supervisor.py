"""Keeps the data services the local cloud started running: a PostgreSQL, Valkey or NATS that
dies is started again on the same port and data, and the log says so in one line per restart.

A server that keeps dying is restarted less and less often (up to MAX_BACKOFF_S apart), so a
broken one costs a line every half minute, not a flood.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from localcloud.services import DataServices

POLL_S = 0.25
MAX_BACKOFF_S = 30.0
# A server that stays up this long is healthy again: its next death restarts it at once.
STABLE_S = 10.0


class Supervisor:
    def __init__(self, services: DataServices, log: Callable[[str], None]) -> None:
        self._services = services
        self._log = log
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff_s = 0.0
        self._last_restart = 0.0

    def start(self) -> None:
        # Not a daemon: the restarted servers die with the thread that started them
        # (PR_SET_PDEATHSIG), so it must live until stop().
        self._thread = threading.Thread(target=self._run, name="localcloud-supervisor")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            now = time.monotonic()
            if now - self._last_restart < self._backoff_s:
                continue
            restarted = self._services.restart_dead()
            if not restarted:
                continue
            for name, code in restarted:
                self._log(f"vendyz: {name} exited (code {code}); restarted it on the same port")
            stable = now - self._last_restart > STABLE_S
            self._backoff_s = 0.0 if stable else min(MAX_BACKOFF_S, max(1.0, 2 * self._backoff_s))
            self._last_restart = now
