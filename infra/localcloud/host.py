"""Hosting the functions: the gateway and the instances of every function of the template.

The instances are processes of their own (localcloud.runtime), so one gateway process serves
the whole cloud by default. `--workers N` runs N gateway processes sharing the listening
socket, each with its share of every function's reserved concurrency.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

import uvicorn
import uvloop

from localcloud.gateway import Gateway
from localcloud.local_secrets import LocalSecrets
from localcloud.runtime import FunctionRuntime
from localcloud.template import AppTemplate, load_template
from localcloud.websocket_api import IDLE_TIMEOUT_SECONDS, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES
from localcloud.zygote import release_shared_zygote, shared_zygote

_PR_SET_PDEATHSIG = 1


class FunctionHost:
    def __init__(
        self,
        template: AppTemplate,
        static_dir: Path | None,
        *,
        secrets: LocalSecrets,
        environments: Mapping[str, dict[str, str]] | None = None,
        hosts: int = 1,
        shared_cache_url: str | None = None,
        websocket_idle_seconds: float = IDLE_TIMEOUT_SECONDS,
    ) -> None:
        """`environments`: each function's environment (default: its template Environment).
        `hosts`: how many hosts share the functions; each may run its share of a function's
        reserved concurrency, so the instances of all hosts stay within it.
        `shared_cache_url`: the Redis through which the hosts' gateways share what API Gateway
        keeps once per API (its authorizer cache, which worker holds a WebSocket connection).
        `websocket_idle_seconds`: API Gateway's idle timeout (shorter only in tests)."""

        def share(reserved: int) -> int:
            return max(1, reserved // hosts)

        shared_zygote([spec.handler for spec in template.functions.values()], hold=True)
        self._holds_zygote = True

        self.runtimes = {
            name: FunctionRuntime(
                replace(spec, concurrency=share(spec.concurrency)),
                (environments or {}).get(name),
            )
            for name, spec in template.functions.items()
        }
        gateway = Gateway(
            template,
            self.runtimes,
            static_dir,
            secrets=secrets,
            shared_cache_url=shared_cache_url,
            websocket_idle_seconds=websocket_idle_seconds,
        )
        self._server = uvicorn.Server(
            uvicorn.Config(
                gateway,
                log_level="warning",
                access_log=False,
                proxy_headers=False,  # the gateway is the edge; nothing in front to trust
                # Every reply is parsed by a client on this machine (botocore for each invoke):
                # headers nobody reads cost parsing time on the order path.
                server_header=False,
                date_header=False,
                lifespan="off",
                http="httptools",
                # API Gateway's WebSocket limits: 128 KB a message, 32 KB a frame (websockets'
                # (message, fragment) limit pair; over either the client gets close 1009), with
                # no compression, so a frame is measured as sent; and no server pings: a silent
                # client is closed by API Gateway's idle timeout (websocket_api.py) instead.
                ws="websockets-sansio",
                ws_max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),  # type: ignore[arg-type]
                ws_per_message_deflate=False,
                ws_ping_interval=None,
                timeout_keep_alive=30,
                backlog=2048,
            )
        )
        self._thread: threading.Thread | None = None

    def serve(self, sock: socket.socket) -> None:
        """Serve on `sock` from a background thread; returns once requests are accepted."""
        server = self._server
        # uvloop.run, not asyncio.run: Config(loop="uvloop") only takes effect in Server.run(),
        # and on the default loop the gateway spent ~0.8 ms of CPU per order (uvloop: ~0.6).
        self._thread = threading.Thread(
            target=lambda: uvloop.run(server.serve(sockets=[sock])),
            name="localcloud-gateway",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        for runtime in self.runtimes.values():
            runtime.shutdown()
        if self._holds_zygote:  # once, however often stop() is called
            self._holds_zygote = False
            release_shared_zygote()


def _die_with_parent() -> None:
    """SIGTERM when the parent dies, even by SIGKILL: a worker is never left behind."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    # A parent that died before the prctl sends nothing: then we have been handed to another.
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)


def port_socket(host: str, port: int) -> socket.socket:
    """A socket bound with SO_REUSEPORT: each worker binds its own to the one port and the
    kernel spreads new connections across them (a shared accept queue would let one busy
    worker take most keep-alive connections)."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # a response written as headers then body waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def run_worker(
    template_path: Path,
    parameters: Mapping[str, str],
    environments: Mapping[str, dict[str, str]],
    secrets: LocalSecrets,
    static_dir: Path | None,
    address: tuple[str, int],
    index: int,
    workers: int,
    ready: Connection,
) -> None:
    """Worker `index` of `workers`: a gateway, with its share of every function's instances,
    on its own socket of the port until SIGTERM."""
    _die_with_parent()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        host = FunctionHost(
            load_template(template_path, parameters),
            static_dir,
            secrets=secrets,
            environments=environments,
            hosts=workers,
            shared_cache_url=parameters["RedisUrl"],
        )
        sock = port_socket(*address)
        sock.listen(2048)
        host.serve(sock)
    except BaseException as exc:
        ready.send(f"failed: {exc!r}")
        raise
    ready.send("ready")
    # Waits in slices: the kernel may hand SIGTERM to any of the worker's threads, and Python
    # then runs the handler only once the main thread runs again; an untimed wait would sleep
    # through it (a worker was seen left behind by a killed `vendyz up` this way).
    while not stop.wait(timeout=0.2):
        pass
    host.stop()
    # The instances went with host.stop(); nothing else of ours needs an orderly exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
