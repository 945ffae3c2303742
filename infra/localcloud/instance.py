"""One Lambda instance as the gateway holds it: a process forked by the zygote, reached over
its socket, frozen (SIGSTOP) while it waits for its next invocation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from dataclasses import dataclass, field
from typing import Any

from localcloud import wire
from localcloud.sandbox import InstanceConfig
from localcloud.zygote import Zygote

INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit on the init phase
# Inits at once in this process, whatever the function. Lambda starts a burst of instances
# on as many machines; here they share a few cores, and 64 inits at once would each take 64
# times as long (past the init limit on a busy machine). In line, the first are soon ready.
MAX_CONCURRENT_INITS = 2 * (os.cpu_count() or 1)
_inits_running = 0


class FunctionError(Exception):
    """The invocation failed; `payload` is the error document Lambda returns for it."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(str(payload.get("errorMessage", "")))
        self.payload = payload


class InvocationTimedOut(FunctionError, TimeoutError):
    """The handler ran past the function's Timeout; its instance was killed."""


@dataclass(eq=False)
class Instance:
    pid: int
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    init_ms: float = 0.0
    last_used: float = 0.0
    cold: bool = True
    frozen: bool = False
    busy_since: float | None = None  # monotonic time its invocation started; None when idle

    async def exchange(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one invocation and read its reply (TimeoutError past `timeout`)."""
        if self.frozen:
            os.kill(self.pid, signal.SIGCONT)
            self.frozen = False
        await asyncio.get_running_loop().sock_sendall(self.sock, wire.encode(request))
        return await asyncio.wait_for(wire.read(self.sock, self.buffer), timeout)

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.frozen = True

    def kill(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.sock.close()


async def start_instance(zygote: Zygote, config: InstanceConfig) -> Instance:
    """Fork an instance and wait for its init (in line with the other inits of this process);
    FunctionError when the init fails or runs past Lambda's limit."""
    global _inits_running
    while _inits_running >= MAX_CONCURRENT_INITS:
        await asyncio.sleep(0.005)
    _inits_running += 1
    try:
        pid, ours, buffer, ready = await _init(zygote, config)
    finally:
        _inits_running -= 1
    if "initError" in ready:
        Instance(pid, ours).kill()
        raise FunctionError(ready["initError"])
    return Instance(pid, ours, buffer, init_ms=float(ready["ready"]))


async def _init(
    zygote: Zygote, config: InstanceConfig
) -> tuple[int, socket.socket, bytearray, dict[str, Any]]:
    """(pid, socket, what it sent after, verdict)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    pid = 0
    buffer = bytearray()
    try:
        zygote.fork(config, theirs)
        theirs.close()
        async with asyncio.timeout(INIT_TIMEOUT_SECONDS):
            pid = int((await wire.read(ours, buffer))["pid"])
            ready = await wire.read(ours, buffer)
    except TimeoutError:
        Instance(pid, ours).kill()
        raise FunctionError(
            {
                "errorMessage": f"Init timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds",
                "errorType": "Sandbox.Timedout",
            }
        ) from None
    except BaseException:
        theirs.close()
        Instance(pid, ours).kill()
        raise
    return pid, ours, buffer, ready


def max_rss_mb(pid: int) -> int:
    """The peak resident memory of a process (VmHWM), in MB; 0 if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0
