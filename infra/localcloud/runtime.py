"""Function instances: each function's handler runs in a bounded pool of worker threads.

A worker thread is one warm Lambda instance: it serves one invocation at a time, and module
import (connections included) happens once per process, as in a warm container. Mangum needs
an event loop in the calling thread, so every worker gets its own at start.
"""

from __future__ import annotations

import asyncio
import importlib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from localcloud.template import LOCAL_ACCOUNT, LOCAL_REGION, FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


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


def _give_thread_an_event_loop() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())


def load_handler(dotted: str) -> Handler:
    module_name, _, attribute = dotted.rpartition(".")
    handler: Handler = getattr(importlib.import_module(module_name), attribute)
    return handler


class FunctionRuntime:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.handler = load_handler(spec.handler)
        self.arn = f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{spec.name}"
        self._pool = ThreadPoolExecutor(
            max_workers=spec.concurrency,
            thread_name_prefix=f"fn-{spec.name}",
            initializer=_give_thread_an_event_loop,
        )

    def _run(self, event: dict[str, Any]) -> Any:
        context = LambdaContext(
            function_name=self.spec.name,
            memory_limit_in_mb=512,
            invoked_function_arn=self.arn,
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + self.spec.timeout_seconds,
        )
        return self.handler(event, context)

    async def invoke(self, event: dict[str, Any]) -> Any:
        """Run one invocation on a free instance; waits in line when all are busy.
        TimeoutError past the function's timeout."""
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(
            loop.run_in_executor(self._pool, self._run, event), self.spec.timeout_seconds
        )

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
