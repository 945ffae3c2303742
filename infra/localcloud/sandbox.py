"""One Lambda instance, in its own process (forked by the zygote): the function's environment
only, its handler imported at start (the init phase), then one invocation at a time as the
gateway sends them. The gateway freezes it (SIGSTOP) between invocations."""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import os
import resource
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from localcloud import wire

Handler = Callable[[dict[str, Any], Any], Any]

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


@dataclass(frozen=True)
class InstanceConfig:
    function_name: str
    handler: str  # dotted path: package.module.attribute
    environment: dict[str, str]
    memory_mb: int
    arn: str


@dataclass
class LambdaContext:
    """The attributes of the AWS Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def load_handler(dotted: str) -> Handler:
    module_name, _, attribute = dotted.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


def error_payload(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    """What Lambda's Python runtime reports for an exception the handler let out."""
    payload: dict[str, Any] = {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }
    if request_id is not None:
        payload["requestId"] = request_id
    return payload


def _confine(config: InstanceConfig) -> None:
    """Killed with the zygote, named after its function; the function's environment only;
    data bounded by MemorySize."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        # The function's name (its first 15 bytes) in ps, top and /proc/PID/status.
        libc.prctl(_PR_SET_NAME, config.function_name.encode()[:15], 0, 0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it; a handler may not
    os.environ.clear()
    os.environ.update(config.environment)
    # RLIMIT_DATA, not RLIMIT_AS: the heap and anonymous mappings count, not the address space
    # that thread stacks and malloc arenas reserve without using (RLIMIT_AS at 512 MB broke
    # psycopg's pool threads).
    limit = config.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def run(sock: socket.socket, config: InstanceConfig) -> None:
    """The instance's whole life; never returns."""
    _confine(config)
    sock.setblocking(True)
    # Mangum and other asyncio users find a loop on the main thread, as in Lambda's runtime.
    asyncio.set_event_loop(asyncio.new_event_loop())
    sock.sendall(wire.encode({"pid": os.getpid()}))
    started = time.perf_counter()
    try:
        handler = load_handler(config.handler)
    except BaseException as exc:
        sock.sendall(wire.encode({"initError": error_payload(exc)}))
        os._exit(1)
    sock.sendall(wire.encode({"ready": (time.perf_counter() - started) * 1000}))
    buffer = bytearray()
    while True:
        request = wire.read_blocking(sock, buffer)
        if request is None:
            os._exit(0)
        sock.sendall(_invoke(handler, config, request))


def _invoke(handler: Handler, config: InstanceConfig, request: dict[str, Any]) -> bytes:
    request_id: str = request["requestId"]
    context = LambdaContext(
        function_name=config.function_name,
        memory_limit_in_mb=config.memory_mb,
        invoked_function_arn=config.arn,
        aws_request_id=request_id,
        deadline=time.monotonic() + request["remainingMs"] / 1000,
    )
    try:
        result = handler(request["event"], context)
    except MemoryError:
        # Lambda ends an instance past its memory: report it, then go, as that one did.
        os.write(2, f"{config.function_name}: out of memory ({config.memory_mb} MB)\n".encode())
        out_of_memory = {
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
            "signal: killed",
            "errorType": "Runtime.OutOfMemory",
        }
        return wire.encode({"error": out_of_memory, "exit": True})
    except Exception as exc:
        return wire.encode({"error": error_payload(exc, request_id)})
    try:
        return wire.encode({"result": result})
    except (TypeError, ValueError) as exc:
        marshal = {
            "errorMessage": f"Unable to marshal response: {exc}",
            "errorType": "Runtime.MarshalError",
        }
        return wire.encode({"error": marshal})
