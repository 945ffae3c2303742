"""A function's instances, as Lambda runs them: each its own process (forked by the zygote),
one invocation at a time, started on first use (a cold start, logged as Lambda's REPORT line
with its Init Duration), reused while warm, frozen (SIGSTOP) between invocations, killed and
replaced past the function's Timeout, reaped when idle. Past the reserved concurrency a call
is throttled at once, as Lambda throttles; nothing waits in line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from localcloud import wire
from localcloud.sandbox import InstanceConfig
from localcloud.template import LOCAL_ACCOUNT, LOCAL_REGION, FunctionSpec
from localcloud.zygote import Zygote, shared_zygote

log = logging.getLogger("localcloud.lambda")

INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit on the init phase
IDLE_SECONDS = 300.0  # how long an unused instance stays warm
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


class Throttled(Exception):
    """Every instance the function may run is busy (its reserved concurrency)."""


@dataclass(eq=False)
class _Instance:
    pid: int
    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    last_used: float = 0.0
    cold: bool = True
    init_ms: float = 0.0

    def kill(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.sock.close()


class FunctionRuntime:
    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str] | None = None,
        *,
        zygote: Zygote | None = None,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        """`environment`: the instance's whole environment beyond Lambda's own variables
        (default: the template's Environment alone)."""
        self.spec = spec
        self.arn = f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{spec.name}"
        self._zygote = zygote or shared_zygote()
        self._idle_seconds = idle_seconds
        self._config = InstanceConfig(
            function_name=spec.name,
            handler=spec.handler,
            environment={**(spec.environment if environment is None else environment)}
            | lambda_variables(spec),
            memory_mb=spec.memory_mb,
            arn=self.arn,
        )
        self._idle: list[_Instance] = []  # the most recently used last
        self._instances: set[_Instance] = set()
        self._starting = 0

    @property
    def instance_pids(self) -> list[int]:
        return [instance.pid for instance in self._instances]

    async def invoke(self, event: Any) -> Any:
        """Run one invocation; its result, or FunctionError (InvocationTimedOut past the
        timeout, a TimeoutError too), or Throttled when every allowed instance is busy."""
        self._reap_idle()
        instance = self._idle.pop() if self._idle else await self._cold_start()
        request_id = str(uuid.uuid4())
        timeout = self.spec.timeout_seconds
        started = time.perf_counter()
        os.kill(instance.pid, signal.SIGCONT)
        try:
            request = {"requestId": request_id, "remainingMs": int(timeout * 1000), "event": event}
            await asyncio.get_running_loop().sock_sendall(instance.sock, wire.encode(request))
            reply = await asyncio.wait_for(wire.read(instance.sock, instance.buffer), timeout)
        except TimeoutError:
            self._discard(instance)
            raise InvocationTimedOut(
                {
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after "
                    f"{timeout:.2f} seconds",
                    "errorType": "Sandbox.Timedout",
                }
            ) from None
        except (OSError, ValueError) as exc:
            self._discard(instance)
            raise FunctionError(
                {
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited "
                    f"unexpectedly ({exc})",
                    "errorType": "Runtime.ExitError",
                }
            ) from None
        except BaseException:  # the caller went away mid-invocation: the instance is unknown
            self._discard(instance)
            raise
        if reply.get("exit"):
            self._discard(instance)
        else:
            os.kill(instance.pid, signal.SIGSTOP)
            instance.last_used = time.monotonic()
            self._idle.append(instance)
        if instance.cold:
            instance.cold = False
            self._report(request_id, instance, (time.perf_counter() - started) * 1000)
        if "error" in reply:
            raise FunctionError(reply["error"])
        return reply["result"]

    async def _cold_start(self) -> _Instance:
        if len(self._instances) + self._starting >= self.spec.concurrency:
            raise Throttled(f"{self.spec.name}: Rate Exceeded.")
        global _inits_running
        self._starting += 1
        try:
            while _inits_running >= MAX_CONCURRENT_INITS:
                await asyncio.sleep(0.005)
            _inits_running += 1
            try:
                pid, ours, buffer, ready = await self._init()
            finally:
                _inits_running -= 1
        finally:
            self._starting -= 1
        if "initError" in ready:
            _Instance(pid, ours).kill()
            raise FunctionError(ready["initError"])
        instance = _Instance(pid, ours, buffer, init_ms=float(ready["ready"]))
        self._instances.add(instance)
        return instance

    async def _init(self) -> tuple[int, socket.socket, bytearray, dict[str, Any]]:
        """Fork an instance and wait for its init: (pid, socket, what it sent after, verdict)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(False)
        pid = 0
        buffer = bytearray()
        try:
            self._zygote.fork(self._config, theirs)
            theirs.close()
            async with asyncio.timeout(INIT_TIMEOUT_SECONDS):
                pid = int((await wire.read(ours, buffer))["pid"])
                ready = await wire.read(ours, buffer)
        except TimeoutError:
            _Instance(pid, ours).kill()
            raise FunctionError(
                {
                    "errorMessage": f"Init timed out after {INIT_TIMEOUT_SECONDS:.2f} seconds",
                    "errorType": "Sandbox.Timedout",
                }
            ) from None
        except BaseException:
            theirs.close()
            _Instance(pid, ours).kill()
            raise
        return pid, ours, buffer, ready

    def _report(self, request_id: str, instance: _Instance, duration_ms: float) -> None:
        log.info(
            "%s REPORT RequestId: %s\tDuration: %.2f ms\tMemory Size: %d MB\t"
            "Max Memory Used: %d MB\tInit Duration: %.2f ms",
            self.spec.name,
            request_id,
            duration_ms,
            self.spec.memory_mb,
            max_rss_mb(instance.pid),
            instance.init_ms,
        )

    def _reap_idle(self) -> None:
        """Idle instances past their time go, the least recently used first."""
        expired = time.monotonic() - self._idle_seconds
        while self._idle and self._idle[0].last_used < expired:
            self._discard(self._idle.pop(0))

    def _discard(self, instance: _Instance) -> None:
        self._instances.discard(instance)
        if instance in self._idle:
            self._idle.remove(instance)
        instance.kill()

    def shutdown(self) -> None:
        for instance in list(self._instances):
            self._discard(instance)


def lambda_variables(spec: FunctionSpec) -> dict[str, str]:
    """The variables Lambda itself sets in every instance's environment."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_REGION": LOCAL_REGION,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "_HANDLER": spec.handler,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
    }


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
