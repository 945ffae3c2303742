"""The Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`), so boto3's lambda
client and our own RPC client work unchanged with an endpoint URL."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import traceback
from typing import Any

from localcloud.responses import HttpResponse, Scope, json_response, request_headers
from localcloud.runtime import FunctionRuntime

log = logging.getLogger("localcloud")

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


class InvokeApi:
    def __init__(self, runtimes: dict[str, FunctionRuntime]) -> None:
        self.runtimes = runtimes
        self._background: set[asyncio.Task[Any]] = set()

    async def handle(self, name: str, scope: Scope, body: bytes) -> HttpResponse:
        # A name, a full or partial ARN, each optionally with a ":qualifier" (version/alias).
        parts = name.split(":")
        function = parts[parts.index("function") + 1] if "function" in parts else parts[0]
        runtime = self.runtimes.get(function)
        if runtime is None:
            return json_response(
                404,
                {"Type": "User", "Message": f"Function not found: {name}"},
                {"x-amzn-errortype": "ResourceNotFoundException"},
            )
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            return json_response(
                400,
                {"Type": "User", "Message": "Could not parse request body into json"},
                {"x-amzn-errortype": "InvalidRequestContentException"},
            )
        invocation_type = request_headers(scope).get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "Event":
            task = asyncio.create_task(runtime.invoke(event))
            # The loop keeps only weak references to tasks: hold one until it is done.
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            task.add_done_callback(_log_async_failure)
            return HttpResponse(202, [], b"")
        try:
            result = await runtime.invoke(event)
        except Exception as exc:
            log.error("%s failed on invoke:\n%s", function, traceback.format_exc())
            error_type = "Sandbox.Timedout" if isinstance(exc, TimeoutError) else type(exc).__name__
            return json_response(
                200,
                {"errorMessage": str(exc), "errorType": error_type},
                {"x-amz-function-error": "Unhandled"},
            )
        return json_response(200, result, {"x-amz-executed-version": "$LATEST"})


def _log_async_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("async invocation failed: %r", task.exception())
