"""A function's instances, as Lambda runs them: each its own process (forked by the zygote),
one invocation at a time, started on first use (a cold start, logged as Lambda's REPORT line
with its Init Duration), reused while warm, frozen (SIGSTOP) between invocations, killed and
replaced past the function's Timeout, reaped when idle. Past the reserved concurrency a call
is throttled at once, as Lambda throttles.

Lambda gives each concurrent invocation a machine's share of its own; here all instances share
a few cores, so past a local cap of instances per function (a few per core) an invocation
waits for a warm instance instead of forking one more. Each waits in line, bounded by the
reserved concurrency (waiting invocations count as concurrent, as in Lambda), and an instance
busy for longer than LONG_INVOCATION_SECONDS stops counting toward the cap: slow handlers get
the parallel instances they would get in AWS, while a burst of fast ones is served by warm
instances instead of dozens of cold starts fighting for the cores."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
import uuid
from typing import Any

from localcloud.instance import (
    FunctionError,
    Instance,
    InvocationTimedOut,
    max_rss_mb,
    start_instance,
)
from localcloud.sandbox import InstanceConfig
from localcloud.template import LOCAL_ACCOUNT, LOCAL_REGION, FunctionSpec
from localcloud.zygote import Zygote, shared_zygote

log = logging.getLogger("localcloud.lambda")

IDLE_SECONDS = 300.0  # how long an unused instance stays warm
# Instances per function before an invocation waits for a warm one (see the docstring).
DEFAULT_INSTANCE_CAP = 4 * (os.cpu_count() or 1)
LONG_INVOCATION_SECONDS = 0.25


class Throttled(Exception):
    """The function's reserved concurrency is all in flight (running or waiting)."""


class FunctionRuntime:
    def __init__(
        self,
        spec: FunctionSpec,
        environment: dict[str, str] | None = None,
        *,
        zygote: Zygote | None = None,
        idle_seconds: float = IDLE_SECONDS,
        instance_cap: int = DEFAULT_INSTANCE_CAP,
    ) -> None:
        """`environment`: the instance's whole environment beyond Lambda's own variables
        (default: the template's Environment alone). `instance_cap`: instances before an
        invocation waits for a warm one (the module's docstring)."""
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
        self._instance_cap = max(1, instance_cap)
        self._idle: list[Instance] = []  # the most recently used last
        self._instances: set[Instance] = set()
        self._starting = 0
        self._in_flight = 0  # invocations running, starting an instance or waiting for one
        # Invocations waiting for an instance, first come first served: each gets an instance
        # that finished, or None when a slot came free to start one.
        self._waiters: collections.deque[asyncio.Future[Instance | None]] = collections.deque()

    @property
    def instance_pids(self) -> list[int]:
        return [instance.pid for instance in self._instances]

    async def invoke(self, event: Any) -> Any:
        """Run one invocation; its result, or FunctionError (InvocationTimedOut past the
        timeout, a TimeoutError too), or Throttled past the reserved concurrency."""
        if self._in_flight >= self.spec.concurrency:
            raise Throttled(f"{self.spec.name}: Rate Exceeded.")
        self._in_flight += 1
        try:
            return await self._invoke(await self._acquire(), event)
        finally:
            self._in_flight -= 1

    async def _invoke(self, instance: Instance, event: Any) -> Any:
        request_id = str(uuid.uuid4())
        timeout = self.spec.timeout_seconds
        started = time.perf_counter()
        instance.busy_since = time.monotonic()
        request = {"requestId": request_id, "remainingMs": int(timeout * 1000), "event": event}
        try:
            reply = await instance.exchange(request, timeout)
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
            self._release(instance)
        if instance.cold:
            instance.cold = False
            self._report(request_id, instance, (time.perf_counter() - started) * 1000)
        if "error" in reply:
            raise FunctionError(reply["error"])
        return reply["result"]

    async def _acquire(self) -> Instance:
        """A warm instance, a new one while under the cap, or the next to come free."""
        self._reap_idle()
        if self._idle:
            return self._idle.pop()
        if self._may_start():
            return await self._cold_start()
        waiter: asyncio.Future[Instance | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            while not waiter.done() and not self._may_start():
                await asyncio.wait({waiter}, timeout=self._until_one_runs_long())
        except BaseException:  # the caller went away: pass on what was handed to it
            handed = waiter.result() if waiter.done() else None
            if handed is not None:
                self._release(handed)
            raise
        finally:
            if not waiter.done():
                self._waiters.remove(waiter)
                waiter.cancel()
        instance = waiter.result() if not waiter.cancelled() else None
        return instance if instance is not None else await self._cold_start()

    def _may_start(self) -> bool:
        """Under the cap, counting only instances not busy for long."""
        now = time.monotonic()
        long_busy = sum(
            1
            for instance in self._instances
            if instance.busy_since is not None
            and now - instance.busy_since >= LONG_INVOCATION_SECONDS
        )
        return len(self._instances) + self._starting < self._instance_cap + long_busy

    def _until_one_runs_long(self) -> float:
        """Seconds until the earliest busy invocation counts as long (a slot may open)."""
        now = time.monotonic()
        pending = [
            instance.busy_since + LONG_INVOCATION_SECONDS - now
            for instance in self._instances
            if instance.busy_since is not None
            and now - instance.busy_since < LONG_INVOCATION_SECONDS
        ]
        return max(0.001, min(pending, default=LONG_INVOCATION_SECONDS))

    def _release(self, instance: Instance) -> None:
        """The instance finished an invocation: straight to the next in line, or frozen."""
        instance.busy_since = None
        instance.last_used = time.monotonic()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(instance)  # runs on at once: no freeze between the two
                return
        instance.freeze()
        self._idle.append(instance)

    async def _cold_start(self) -> Instance:
        self._starting += 1
        try:
            instance = await start_instance(self._zygote, self._config)
        except BaseException:
            self._wake_one_to_start()
            raise
        finally:
            self._starting -= 1
        self._instances.add(instance)
        return instance

    def _report(self, request_id: str, instance: Instance, duration_ms: float) -> None:
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

    def _discard(self, instance: Instance) -> None:
        self._instances.discard(instance)
        if instance in self._idle:
            self._idle.remove(instance)
        instance.kill()
        self._wake_one_to_start()

    def _wake_one_to_start(self) -> None:
        """A slot came free (an instance went, or did not start): the next in line starts one."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

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
