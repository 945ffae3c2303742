"""The real command: `vendyz up` as a user runs it, then stopped as a user (or a crash) stops it.

Each start is a subprocess on a free port; the three tests share one data dir, so the first
start is cold (initdb) and the later ones warm. Ready times are printed, not asserted (only a
sanity bound): they are the acceptance measure, not a pass/fail here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDYZ = ROOT / ".venv" / "bin" / "vendyz"
# The CLI also prints "postgres ready in ...", "data services ready in ..." on its way up.
READY_MARK = "local cloud ready"
READY_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 15.0
ORPHAN_TIMEOUT_S = 5.0
WARM_SANITY_BOUND_S = 30.0
# `vendyz up` imports every handler of template.yaml at start.
HANDLER_FILES = [
    ROOT / "functions" / "vendyz" / "authorizer" / "handler.py",
    ROOT / "functions" / "vendyz" / "docs" / "handler.py",
]

pytestmark = pytest.mark.slow

Proc = tuple[int, int]  # (pid, start time in clock ticks): a pid alone may be reused


@dataclass
class Run:
    process: subprocess.Popen[str]
    base_url: str
    data_dir: Path
    warm: bool
    started: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    ready_after: float | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def output(self) -> str:
        return "".join(self.lines[-60:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, starttime) of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root: int) -> set[Proc]:
    """Every live process below `root`, found by walking /proc/*/stat parent pids."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append((int(entry.name), stat[2]))
    found: set[Proc] = set()
    todo = [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            found.add((pid, start))
            todo.append(pid)
    return found


def _alive(proc: Proc) -> bool:
    """Zombies count as gone: a re-parented one may never be reaped by this container's PID 1."""
    stat = _stat(proc[0])
    return stat is not None and stat[2] == proc[1] and stat[0] != "Z"


def _wait_gone(procs: set[Proc], timeout: float) -> set[Proc]:
    deadline = time.monotonic() + timeout
    while True:
        alive = {p for p in procs if _alive(p)}
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _describe(procs: set[Proc]) -> str:
    names = []
    for pid, _ in sorted(procs):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmd = "?"
        names.append(f"{pid}: {cmd[:120]}")
    return "\n".join(names)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    missing = [str(p.relative_to(ROOT)) for p in HANDLER_FILES if not p.is_file()]
    assert not missing, f"`vendyz up` imports every handler; not written yet: {missing}"
    return tmp_path_factory.mktemp("vendyz-up")


Starter = Callable[[Path, str], "Run"]


@pytest.fixture
def start(capsys: pytest.CaptureFixture[str]) -> Iterator[Starter]:
    """start(data_dir) -> Run, once its ready line is printed; kills leftovers at teardown."""
    runs: list[Run] = []

    def _start(data_dir: Path, label: str) -> Run:
        env = dict(os.environ)
        for name in ("DATABASE_URL", "REDIS_URL", "NATS_URL", "VENDYZ_BASE_URL"):
            env.pop(name, None)  # unset: `vendyz up` starts its own data services
        port = _free_port()
        warm = (data_dir / "postgres" / "PG_VERSION").exists()
        process = subprocess.Popen(
            [str(VENDYZ), "up", "--port", str(port), "--data-dir", str(data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env,
        )
        run = Run(process, f"http://127.0.0.1:{port}", data_dir, warm)
        runs.append(run)

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:  # drains to EOF, so the pipe never fills up
                run.lines.append(line)
                if READY_MARK in line and not run.ready.is_set():
                    run.ready_after = time.monotonic() - run.started
                    run.ready.set()

        threading.Thread(target=read, name="vendyz-stdout", daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not run.ready.wait(0.05):
            if process.poll() is not None:
                time.sleep(0.2)  # let the reader take the last lines
                pytest.fail(f"vendyz up exited with {process.returncode}:\n{run.output()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no {READY_MARK!r} line within {READY_TIMEOUT_S:.0f}s:\n{run.output()}"
                )
        assert run.ready_after is not None
        with capsys.disabled():
            kind = "warm" if warm else "cold"
            print(f"\n[vendyz up] {label}: ready line after {run.ready_after:.2f}s ({kind})")
        if warm:
            assert run.ready_after < WARM_SANITY_BOUND_S, run.output()
        return run

    yield _start
    for run in runs:  # only our own vendyz processes; their servers die with them
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait(timeout=10)


def _zygote_pids(run: Run) -> list[int]:
    """The zygotes of `run`: the processes the function instances are forked from (which
    carry the zygote's command line too, and have a zygote for parent)."""
    forks = set()
    for pid, _ in _descendants(run.process.pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"localcloud.zygote" in cmd:
            forks.add(pid)
    return [pid for pid in forks if (_stat(pid) or ("", 0, 0))[1] not in forks]


def _stop_cleanly(run: Run, sig: signal.Signals) -> None:
    """Send `sig`; the command exits 0 in time and leaves no process behind."""
    procs = _descendants(run.process.pid)
    # valkey, nats and the postmaster at least (plus the postmaster's own children)
    assert len(procs) >= 3, f"expected the data servers below vendyz:\n{_describe(procs)}"

    run.process.send_signal(sig)
    try:
        code = run.process.wait(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vendyz did not exit within {EXIT_TIMEOUT_S:.0f}s of {sig.name}")

    assert code == 0, f"exit code {code} after {sig.name}:\n{run.output()}"
    left = _wait_gone(procs, 2.0)
    assert not left, f"left behind after {sig.name}:\n{_describe(left)}"


def _products_by_id(client: httpx.Client) -> dict[str, int]:
    response = client.get("/api/v1/products")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return {p["product_id"]: p["stock"] for p in body["data"]["items"]}


def test_up_serves_api_frontend_and_docs_then_stops_on_sigterm(
    start: Starter, data_dir: Path
) -> None:
    # GIVEN `vendyz up` on a fresh data dir (a cold start: initdb, migrations, seed)
    run = start(data_dir, "first start")

    with httpx.Client(base_url=run.base_url, timeout=10) as client:
        # WHEN a client lists the products
        # THEN it gets the envelope with the three seeded products, untouched
        assert _products_by_id(client) == {"product-1": 1, "product-2": 5, "product-3": 10}

        # WHEN a browser opens the root
        # THEN it gets the frontend
        home = client.get("/")
        assert home.status_code == 200
        assert home.headers["content-type"].startswith("text/html")
        assert "Vendyz" in home.text

        # WHEN it opens the API docs and the spec
        docs = client.get("/api/v1/docs")
        spec = client.get("/api/v1/openapi.json")

    # THEN Swagger UI (HTML) and the OpenAPI document (JSON with the API's paths)
    assert docs.status_code == 200, docs.text
    assert docs.headers["content-type"].startswith("text/html")
    if spec.status_code != 200:
        pytest.fail(
            f"GET /api/v1/openapi.json answered {spec.status_code}, not 200: the docs"
            f" function does not serve the spec yet.\n{spec.text[:500]}"
        )
    assert spec.headers["content-type"].startswith("application/json")
    paths = spec.json()["paths"]
    assert "/api/v1/products" in paths

    # AND the functions ran in instances of their own, below the zygote, free to use every CPU
    zygotes = _zygote_pids(run)
    assert len(zygotes) == 1
    instances = [pid for pid, _ in _descendants(zygotes[0])]
    assert instances, "no function instance below the zygote"
    assert all(os.sched_getaffinity(pid) == os.sched_getaffinity(0) for pid in instances)

    # WHEN it gets SIGTERM
    # THEN it exits 0 within 15 s and every process it started is gone
    _stop_cleanly(run, signal.SIGTERM)


def test_up_stops_on_ctrl_c(start: Starter, data_dir: Path) -> None:
    # GIVEN `vendyz up` running (warm: the data dir exists when the module runs in order)
    run = start(data_dir, "second start")
    with httpx.Client(base_url=run.base_url, timeout=10) as client:
        assert set(_products_by_id(client)) >= {"product-1", "product-2", "product-3"}

    # WHEN the user presses Ctrl-C (SIGINT)
    # THEN it exits 0 within 15 s and every process it started is gone
    _stop_cleanly(run, signal.SIGINT)


def test_crash_takes_the_data_services_down_and_the_next_start_cleans_up(
    start: Starter, data_dir: Path
) -> None:
    # GIVEN `vendyz up` running, with its data servers below it
    run = start(data_dir, "before the crash")
    servers = _descendants(run.process.pid)
    assert len(servers) >= 3, _describe(servers)
    socket_note = data_dir / "pids" / "postgres.socketdir"
    old_socket_dir = Path(socket_note.read_text().strip())

    # WHEN it is killed outright (no chance to clean up)
    run.process.kill()
    run.process.wait(timeout=10)

    # THEN its data servers die on their own (parent-death signal), within 5 s
    left = _wait_gone(servers, ORPHAN_TIMEOUT_S)
    assert not left, f"orphans after SIGKILL:\n{_describe(left)}"
    # (and they left their traces: pid files and PostgreSQL's socket dir)
    assert old_socket_dir.is_dir()

    # WHEN a new `vendyz up` starts on the same data dir
    again = start(data_dir, "after the crash")

    # THEN it is ready and serves, with the previous run's leftovers cleaned
    with httpx.Client(base_url=again.base_url, timeout=10) as client:
        assert set(_products_by_id(client)) >= {"product-1", "product-2", "product-3"}
    assert not old_socket_dir.exists(), f"stale socket dir {old_socket_dir} not removed"
    current = {pid for pid, _ in _descendants(again.process.pid)}
    pid_files = {f.name: int(f.read_text()) for f in (data_dir / "pids").glob("*.pid")}
    assert set(pid_files) == {"postgres.pid", "valkey.pid", "nats.pid"}
    for name, pid in pid_files.items():
        assert pid in current, f"{name} names {pid}, not a server of the new run"
    _stop_cleanly(again, signal.SIGTERM)
