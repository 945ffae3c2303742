"""`vendyz up`'s bridge child: started again when it exits on its own, stopped for good by
stop()."""

from __future__ import annotations

import threading
from pathlib import Path

from localcloud.bridge_process import BridgeProcess, _bridge_import_root, bridge_environment
from localcloud.services import DataServiceUrls

URLS = DataServiceUrls(
    database_url="postgresql://postgres@/vendyz?host=/tmp/vz-pg-none",
    redis_url="redis://127.0.0.1:6390/0",
    nats_url="nats://127.0.0.1:4299",
)


def test_the_bridge_gets_the_contracts_environment_with_local_values() -> None:
    # GIVEN the functions' environment (local AWS credentials, a heartbeat pace, and more)
    functions = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "HEARTBEAT_INTERVAL_SECONDS": "2",
        "JWT_SECRET": "not-for-the-bridge",
    }
    # WHEN the bridge's environment is made from it
    env = bridge_environment(functions, URLS, "http://127.0.0.1:3000", 5.0)
    # THEN it has the data services, the local @connections endpoint, the functions' pace and
    # their credentials, and nothing else of theirs
    assert env == {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "DATABASE_URL": URLS.database_url,
        "REDIS_URL": URLS.redis_url,
        "NATS_URL": URLS.nats_url,
        "CONNECTIONS_ENDPOINT_URL": "http://127.0.0.1:3000/ws",
        "HEARTBEAT_INTERVAL_SECONDS": "2",
    }


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_bridge_that_exits_is_started_again_until_stopped(tmp_path: Path) -> None:
    # GIVEN a bridge that exits at once (its environment lacks CONNECTIONS_ENDPOINT_URL)
    lines: list[str] = []
    restarted = threading.Event()

    def log(line: str) -> None:
        lines.append(line)
        restarted.set()

    process = BridgeProcess(tmp_path / "bridge.log", log=log)
    env = {"NATS_URL": URLS.nats_url, "REDIS_URL": URLS.redis_url, "DATABASE_URL": "x"}
    process.start(env)
    first = process.pid

    # WHEN it exits
    # THEN it is started again, as ECS starts a stopped task again
    assert restarted.wait(timeout=30), "the bridge was not started again"
    assert "the bridge exited with code 2; starting it again" in lines[0]
    assert "CONNECTIONS_ENDPOINT_URL" in (tmp_path / "bridge.log").read_text()

    # WHEN it is stopped
    last = process.pid
    process.stop()
    # THEN no bridge is left, and none starts again
    assert process.pid is None
    for pid in {first, last}:
        assert pid is not None
        assert not _alive(pid), f"bridge {pid} still running"


def test_the_child_imports_the_bridge_from_where_this_process_does() -> None:
    # GIVEN the bridge package this process imports (a checkout's, with PYTHONPATH set to it)
    import bridge

    # WHEN the child's import root is found  THEN that package is the one under it
    assert Path(_bridge_import_root()) / "bridge" == Path(bridge.__file__).parent
