"""The zygote: one process that imports the libraries the functions use, and what each
handler module imports (never the handler module itself), then forks a fresh instance for
each cold start, as SnapStart resumes a snapshot. Importing those opens no connection and
starts no thread (checked), so no socket or lock is shared by two instances; each instance
imports its own handler (which opens its pools) after the fork, with its own environment.

`Zygote` is the gateway's handle on it; `python -m localcloud.zygote` is the process itself.
"""

from __future__ import annotations

import ast
import ctypes
import importlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from localcloud import wire
from localcloud.sandbox import InstanceConfig

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
READY_TIMEOUT_SECONDS = 120.0

# What every handler imports first. Importing them once here takes ~0.4 s off each cold start
# and shares their pages (copy-on-write) across the instances.
PRELOADED = (
    "json",
    "asyncio",
    "pydantic",
    "fastapi",
    "starlette.responses",
    "mangum",
    "psycopg",
    "psycopg_pool",
    "redis",
    "nats",
    "jwt",
    "google.protobuf.json_format",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.event_handler",
)


class Zygote:
    """Starts the zygote process; `fork` asks it for an instance served on `sock`."""

    def __init__(self, handlers: Sequence[str] = ()) -> None:
        """`handlers`: the dotted handlers whose modules' imports to preload."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._control = ours
        self._lock = threading.Lock()
        # Only what Python itself needs: each instance gets its function's environment.
        environment = {
            name: os.environ[name]
            for name in ("PATH", "LANG", "HOME", "TMPDIR")
            if name in os.environ
        }
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localcloud.zygote",
                str(theirs.fileno()),
                json.dumps(sys.path),
                json.dumps(list(handlers)),
            ],
            pass_fds=[theirs.fileno()],
            env=environment,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        # Ready once the libraries are imported: the cloud says it is ready only then, and no
        # instance's init time (or limit) includes the zygote's own start.
        ours.settimeout(READY_TIMEOUT_SECONDS)
        try:
            ready = ours.recv(1)
        except TimeoutError:
            ready = b""
        if ready != b"R":
            self.stop()
            raise RuntimeError("the zygote did not start (see its traceback above)")
        ours.settimeout(None)

    def fork(self, config: InstanceConfig, sock: socket.socket) -> None:
        with self._lock:
            socket.send_fds(self._control, [wire.encode(asdict(config))], [sock.fileno()])

    def stop(self) -> None:
        self._control.close()
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


_shared: Zygote | None = None
_holders = 0  # hosts using the shared zygote, each until its release_shared_zygote()
_shared_lock = threading.Lock()


def shared_zygote(handlers: Sequence[str] = (), *, hold: bool = False) -> Zygote:
    """This process's zygote, started on first use (preloading for `handlers`). Call it first
    on a long-lived thread: the zygote dies with the thread that started it
    (PR_SET_PDEATHSIG). `hold`: the caller (a host) calls release_shared_zygote() when done,
    and the zygote stops when its last holder has; several hosts may share it."""
    global _shared, _holders
    with _shared_lock:
        if _shared is None:
            _shared = Zygote(handlers)
        if hold:
            _holders += 1
        return _shared


def imports_of(module_name: str) -> list[str]:
    """The modules a module imports at its top level, read from its source (not run)."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return []
    tree = ast.parse(Path(spec.origin).read_text(), spec.origin)
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def release_shared_zygote() -> None:
    """A holder is done with the shared zygote; the last one stops it."""
    global _shared, _holders
    with _shared_lock:
        _holders = max(0, _holders - 1)
        if _holders == 0 and _shared is not None:
            _shared.stop()
            _shared = None


def _serve(control: socket.socket) -> None:
    buffer = bytearray()
    while True:
        message, fds, _, _ = socket.recv_fds(control, 1 << 20, 1)
        if not message:
            return
        buffer += message
        config_frame = wire.take(buffer)
        if config_frame is None or not fds:
            continue
        config = InstanceConfig(**config_frame)
        if os.fork() == 0:
            control.close()
            from localcloud import sandbox

            try:
                sandbox.run(socket.socket(fileno=fds[0]), config)
            except OSError:  # the gateway gave up on this instance and closed its socket
                os._exit(1)
        os.close(fds[0])


def main(argv: list[str]) -> None:
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        libc.prctl(_PR_SET_NAME, b"vendyz-zygote", 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for `vendyz up` to handle
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # instances are reaped by the kernel
    control = socket.socket(fileno=int(argv[0]))
    sys.path[:] = json.loads(argv[1])
    handler_modules = [handler.rpartition(".")[0] for handler in json.loads(argv[2])]
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:  # a library no function of this template uses
            continue
    for module in handler_modules:
        for name in imports_of(module):
            if name != "__future__":
                importlib.import_module(name)
    if threading.active_count() != 1:  # a fork would copy a thread's locks, not the thread
        raise RuntimeError("a preloaded library started a thread; the zygote cannot fork")
    control.sendall(b"R")
    _serve(control)


if __name__ == "__main__":
    main(sys.argv[1:])
