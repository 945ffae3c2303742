"""The local cloud's data services: real PostgreSQL, Valkey and NATS from pip wheels.

Every test starts real servers in its own temporary data dir and checks, besides that they
work, the rule that matters most on a developer's machine: no server outlives its owner.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import psycopg
import pytest
import redis

from localcloud import services
from localcloud.services import DataServices, DataServiceUrls

Start = Callable[..., tuple[DataServices, DataServiceUrls]]

# Starts DataServices in a separate interpreter, reports readiness, then idles until killed.
OWNER_SCRIPT = """
import sys, time
from pathlib import Path
from localcloud.services import DataServices
DataServices(Path(sys.argv[1]), env={}).start()
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def start() -> Iterator[Start]:
    """Start DataServices (no URLs from the environment unless given); all stopped at the end."""
    started: list[DataServices] = []

    def _start(
        data_dir: Path, env: dict[str, str] | None = None, log: list[str] | None = None
    ) -> tuple[DataServices, DataServiceUrls]:
        messages = [] if log is None else log
        data_services = DataServices(data_dir, env=env or {}, log=messages.append)
        started.append(data_services)
        return data_services, data_services.start()

    yield _start
    for data_services in started:
        data_services.stop()


def is_alive(pid: int) -> bool:
    """A zombie counts as gone: it runs nothing, and PID 1 here may be slow to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def children_of(parent: int) -> list[int]:
    """Pids whose parent is `parent` (PostgreSQL's backends and auxiliary processes)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat_file.parent.name))
    return found


def server_pids(data_dir: Path) -> dict[str, int]:
    return {
        pid_file.stem: int(pid_file.read_text()) for pid_file in (data_dir / "pids").glob("*.pid")
    }


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Wait for the pids to disappear; return those still alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(is_alive(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if is_alive(pid)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def nats_roundtrip(url: str) -> tuple[bytes, int]:
    connection = await nats.connect(url)
    try:
        subscription = await connection.subscribe("vz.test")
        await connection.publish("vz.test", b"hello")
        message = await subscription.next_msg(timeout=2)
        jetstream = connection.jetstream()
        await jetstream.add_stream(name="VZTEST", subjects=["vz.stream.>"])
        ack = await jetstream.publish("vz.stream.one", b"kept")
        return message.data, ack.seq
    finally:
        await connection.close()


def test_started_services_accept_connections(start: Start, tmp_path: Path) -> None:
    # GIVEN no URLs in the environment
    # WHEN the data services start
    _, urls = start(tmp_path)

    # THEN PostgreSQL serves the vendyz database over its Unix socket
    with psycopg.connect(urls.database_url) as conn:
        assert conn.execute("select 1, current_database()").fetchone() == (1, "vendyz")
    assert "host=/tmp/vz-pg-" in urls.database_url
    # AND Valkey answers PING
    client = redis.Redis.from_url(urls.redis_url)
    assert client.ping()
    client.close()
    # AND NATS round-trips a message and stores one in JetStream
    assert asyncio.run(nats_roundtrip(urls.nats_url)) == (b"hello", 1)


def test_urls_from_the_environment_are_honoured(start: Start, tmp_path: Path) -> None:
    # GIVEN running data services
    _, first = start(tmp_path / "first")
    env = {
        "DATABASE_URL": first.database_url,
        "REDIS_URL": first.redis_url,
        "NATS_URL": first.nats_url,
    }

    # WHEN a second instance is given all three URLs
    _, second = start(tmp_path / "second", env)
    # THEN it returns them and starts nothing
    assert second == first
    assert not (tmp_path / "second").exists()

    # WHEN a third instance is given all but REDIS_URL
    _, third = start(tmp_path / "third", {**env, "REDIS_URL": ""})
    # THEN it starts Valkey only, and it works
    assert (third.database_url, third.nats_url) == (first.database_url, first.nats_url)
    assert third.redis_url != first.redis_url
    assert set(server_pids(tmp_path / "third")) == {"valkey"}
    assert redis.Redis.from_url(third.redis_url).ping()


def test_stop_leaves_no_process(start: Start, tmp_path: Path) -> None:
    # GIVEN running data services, and a client session holding a PostgreSQL backend
    data_services, urls = start(tmp_path)
    pids = server_pids(tmp_path)
    assert set(pids) == {"postgres", "valkey", "nats"}
    session = psycopg.connect(urls.database_url)
    backends = children_of(pids["postgres"])
    assert backends

    # WHEN they stop, twice
    data_services.stop()
    data_services.stop()

    # THEN every server and backend is gone, with its pid file and socket dir
    assert wait_gone([*pids.values(), *backends], timeout=0.5) == []
    assert server_pids(tmp_path) == {}
    assert not list((tmp_path / "pids").glob("postgres.socketdir"))
    socket_dir = urls.database_url.partition("host=")[2]
    assert not Path(socket_dir).exists()
    session.close()


def test_servers_die_with_a_killed_owner(start: Start, tmp_path: Path) -> None:
    # GIVEN data services started by another process
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        assert line == "ready\n", owner.stderr.read() if owner.stderr else ""
        pids = server_pids(tmp_path)
        assert set(pids) == {"postgres", "valkey", "nats"}
        backends = children_of(pids["postgres"])

        # WHEN that process is killed with no chance to clean up
        owner.send_signal(signal.SIGKILL)
        owner.wait()

        # THEN its servers and PostgreSQL's backends die too (parent-death signal)
        assert wait_gone([*pids.values(), *backends]) == []
    finally:
        owner.kill()
        owner.wait()
        owner.communicate()
    old_socket_dir = Path((tmp_path / "pids" / "postgres.socketdir").read_text().strip())

    # WHEN the next run starts on the same data dir
    _, urls = start(tmp_path)
    # THEN it works, and the crashed run's socket dir is cleaned up
    with psycopg.connect(urls.database_url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert not old_socket_dir.exists()


def test_leftovers_named_by_pid_files_are_stopped_at_next_start(
    start: Start, tmp_path: Path
) -> None:
    # GIVEN a NATS server left running on our data dir by a crashed run, with its pid file
    (tmp_path / "nats").mkdir()
    (tmp_path / "pids").mkdir()
    nats_binary = Path(sys.executable).parent / "nats-server"
    argv = [str(nats_binary), "-a", "127.0.0.1", "-p", str(free_port()), "-js"]
    leftover = subprocess.Popen([*argv, "-sd", str(tmp_path / "nats")], stderr=subprocess.DEVNULL)
    (tmp_path / "pids" / "nats.pid").write_text(f"{leftover.pid}\n")
    # AND a stale pid file whose pid now belongs to an unrelated process
    unrelated = subprocess.Popen(["sleep", "30"])
    (tmp_path / "pids" / "valkey.pid").write_text(f"{unrelated.pid}\n")
    try:
        # WHEN the data services start
        log: list[str] = []
        start(tmp_path, log=log)

        # THEN the leftover server was stopped and replaced
        assert leftover.wait(timeout=5) is not None
        assert server_pids(tmp_path)["nats"] != leftover.pid
        assert f"stopping nats (pid {leftover.pid}) left over from a previous run" in log
        # AND the unrelated process was left alone
        assert unrelated.poll() is None
        assert server_pids(tmp_path)["valkey"] != unrelated.pid
    finally:
        for process in (leftover, unrelated):
            process.kill()
            process.wait()


def test_a_data_dir_in_use_is_refused(start: Start, tmp_path: Path) -> None:
    # GIVEN running data services
    data_services, urls = start(tmp_path)

    # WHEN another instance starts on the same data dir, or the same one starts again
    # THEN they refuse rather than stopping the live servers
    with pytest.raises(RuntimeError, match="in use"):
        start(tmp_path)
    with pytest.raises(RuntimeError, match="already started"):
        data_services.start()
    assert redis.Redis.from_url(urls.redis_url).ping()


def test_port_clash_is_retried_on_another_port(
    start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the first free port picked is taken by the time Valkey binds it
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken])
        real_free_port = services._free_port
        monkeypatch.setattr(services, "_free_port", lambda: next(picks, None) or real_free_port())

        # WHEN Valkey alone starts
        log: list[str] = []
        _, urls = start(tmp_path, {"DATABASE_URL": "unused", "NATS_URL": "unused"}, log)

    # THEN it reports the clash and runs on another port
    assert f"valkey: port {taken} was taken; retrying on another port" in log
    assert f":{taken}/" not in urls.redis_url
    assert redis.Redis.from_url(urls.redis_url).ping()


def test_warm_restart_reuses_the_database(start: Start, tmp_path: Path) -> None:
    # GIVEN a cold start, and a table written to the database
    began = time.monotonic()
    data_services, urls = start(tmp_path)
    cold = time.monotonic() - began
    with psycopg.connect(urls.database_url) as conn:
        conn.execute("create table kept (id int primary key)")
        conn.execute("insert into kept values (42)")
    data_services.stop()

    # WHEN the data services start again on the same data dir
    began = time.monotonic()
    _, urls = start(tmp_path)
    warm = time.monotonic() - began

    # THEN the data is still there, and the start was faster (no initdb)
    with psycopg.connect(urls.database_url) as conn:
        assert conn.execute("select id from kept").fetchall() == [(42,)]
    assert warm < cold, f"warm {warm:.2f}s, cold {cold:.2f}s"
    print(f"data services: cold {cold:.2f}s, warm {warm:.2f}s")
