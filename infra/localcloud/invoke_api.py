"""The Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`), so boto3's lambda
client and our own RPC client work unchanged with an endpoint URL."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from localcloud.instance import FunctionError
from localcloud.local_secrets import LocalSecrets
from localcloud.responses import HttpResponse, Scope, json_response, request_headers
from localcloud.runtime import FunctionRuntime, Throttled
from localcloud.sigv4_auth import verify_request

log = logging.getLogger("localcloud")

ASYNC_ATTEMPTS = 20
INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


class InvokeApi:
    def __init__(self, runtimes: dict[str, FunctionRuntime], secrets: LocalSecrets) -> None:
        """Only requests signed (SigV4) with `secrets`' credentials are served, as in AWS."""
        self.runtimes = runtimes
        self._secrets = secrets
        self._background: set[asyncio.Task[Any]] = set()

    def too_large(self) -> HttpResponse:
        return json_response(
            413,
            {
                "Type": "User",
                "message": "Request must be smaller than 6291456 bytes for the"
                " InvokeFunction operation",
            },
            {"x-amzn-errortype": "RequestTooLargeException"},
        )

    async def handle(self, name: str, scope: Scope, body: bytes) -> HttpResponse:
        refused = verify_request(scope, body, self._secrets)
        if refused is not None:
            return refused
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
            task = asyncio.create_task(_invoke_async(runtime, event))
            # The loop keeps only weak references to tasks: hold one until it is done.
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return HttpResponse(202, [], b"")
        try:
            result = await runtime.invoke(event)
        except Throttled:
            log.warning("%s throttled on invoke", function)
            return json_response(
                429,
                {
                    "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                    "Type": "User",
                    "message": "Rate Exceeded.",
                },
                {"x-amzn-errortype": "TooManyRequestsException"},
            )
        except FunctionError as error:
            log_function_error(function, "invoke", error)
            return json_response(200, error.payload, {"x-amz-function-error": "Unhandled"})
        return json_response(200, result, {"x-amz-executed-version": "$LATEST"})


async def _invoke_async(runtime: FunctionRuntime, event: Any) -> None:
    """Lambda's queue for asynchronous invocations: a throttled event waits and is retried
    (Lambda keeps trying for up to 6 hours; here a few seconds), a failed one is logged."""
    for attempt in range(1, ASYNC_ATTEMPTS + 1):
        try:
            await runtime.invoke(event)
        except Throttled:
            await asyncio.sleep(0.1 * attempt)
            continue
        except FunctionError as error:
            log_function_error(runtime.spec.name, "async invoke", error)
        return
    log.error(
        "%s: asynchronous invocation dropped, throttled %d times", runtime.spec.name, ASYNC_ATTEMPTS
    )


def log_invoke_failure(function: str, what: str, error: Exception) -> None:
    """Why an invocation the gateway made failed: a throttle in one line (a stampede of them
    must not flood the log), the function's own error with its stack trace, or ours."""
    if isinstance(error, Throttled):
        log.warning("%s throttled on %s", function, what)
    elif isinstance(error, FunctionError):
        log_function_error(function, what, error)
    else:
        log.error("%s failed on %s", function, what, exc_info=error)


def log_function_error(function: str, what: str, error: FunctionError) -> None:
    """The function's error in the log, with its stack trace, as CloudWatch would show it."""
    payload = error.payload
    trace = "".join(payload.get("stackTrace") or [])
    log.error(
        "%s failed on %s:\nTraceback (most recent call last):\n%s%s: %s",
        function,
        what,
        trace,
        payload.get("errorType"),
        payload.get("errorMessage"),
    )
