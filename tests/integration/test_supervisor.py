"""The local cloud restarts a data service of its own that died, on the same port and data."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import nats
import psycopg
import pytest
import redis

from localcloud.services import DataServices
from localcloud.supervisor import Supervisor


def wait_for(check: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("not back in time")
        time.sleep(0.1)


def pid_of(data_dir: Path, name: str) -> int:
    return int((data_dir / "pids" / f"{name}.pid").read_text())


def nats_answers(url: str) -> bool:
    async def go() -> bool:
        client = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
        await client.close()
        return True

    return asyncio.run(go())


@pytest.mark.parametrize("name", ["valkey", "nats", "postgres"])
def test_a_killed_data_service_is_restarted_once_on_the_same_port(
    tmp_path: Path, name: str
) -> None:
    # GIVEN the data services under a supervisor
    messages: list[str] = []
    services = DataServices(tmp_path, env={}, log=messages.append)
    urls = services.start()
    supervisor = Supervisor(services, messages.append)
    supervisor.start()
    try:
        checks = {
            "valkey": lambda: redis.Redis.from_url(urls.redis_url).ping(),
            "nats": lambda: nats_answers(urls.nats_url),
            "postgres": lambda: psycopg.connect(urls.database_url).close() is None,
        }
        old_pid = pid_of(tmp_path, name)
        # WHEN the server is killed outright
        os.kill(old_pid, signal.SIGKILL)
        # THEN it answers again at the same URL, under a new pid, and the log said so once
        wait_for(lambda: pid_of(tmp_path, name) != old_pid and checks[name]())
        restarts = [m for m in messages if m.startswith(f"vendyz: {name} exited")]
        assert len(restarts) == 1, messages
    finally:
        supervisor.stop()
        services.stop()
