"""The one way a service calls another: Lambda Invoke (RequestResponse) with a proto contract.

The invoke payload is `{"rpc": "<Method>", "message": <request in proto JSON>}`; the callee's
entry (vendyz.core.entry.lambda_entry) routes it to a method built with `rpc_handler`, whose
reply payload is the response message in proto JSON.

`LambdaRpc` raises `RpcUnavailable` whenever the callee's answer is not known: timeout,
connection failure, throttling or any other error of the Lambda API, a function error, a
non-200 status or a reply that is not the response message. The caller answers 503 and
leaves the work for a retry (the callee must be idempotent: the request may have run).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from vendyz.core.lambda_invoke import InvokeFailed, LambdaInvokeClient
from vendyz.core.sigv4 import Credentials

__all__ = ["DEFAULT_REGION", "LambdaRpc", "RpcUnavailable", "rpc_handler"]

M = TypeVar("M", bound=Message)
Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)

DEFAULT_REGION = "us-east-1"
_USER_AGENT = "vendyz-rpc/2"
_MAX_DETAIL = 300


class RpcUnavailable(Exception):
    """The callee's answer is unknown (timeout, connection, Lambda or function error)."""

    def __init__(self, function_name: str, method: str, detail: str) -> None:
        super().__init__(f"{function_name}.{method}: {detail}")
        self.function_name = function_name
        self.method = method
        self.detail = detail


def _region(region: str | None) -> str:
    return (
        region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )


class LambdaRpc:
    """Calls one Lambda function's RPC methods. Build one per function per Lambda instance
    (at import); it is thread-safe, with one keep-alive connection per thread."""

    def __init__(
        self,
        function_name: str,
        *,
        endpoint_url: str | None,
        timeout_seconds: float,
        region: str | None = None,
    ) -> None:
        """`endpoint_url`: None (or empty) for AWS, else the local cloud's or LocalStack's
        URL. `timeout_seconds` bounds the connect and, separately, each read of the reply.
        `region`: default AWS_REGION, AWS_DEFAULT_REGION, then us-east-1. Every call is
        signed (SigV4) with the keys Lambda puts in the environment (dummies for an
        emulator's endpoint when there are none), the local cloud's included."""
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        self._client = LambdaInvokeClient(
            endpoint_url or None,
            region=_region(region),
            timeout_seconds=timeout_seconds,
            credentials=Credentials.from_environment(local=bool(endpoint_url)),
            user_agent=_USER_AGENT,
        )

    def call(self, method: str, request: Message, response_type: type[M]) -> M:
        """Invoke `method` with `request` and return the reply as a `response_type`.
        Raises RpcUnavailable when the answer is unknown."""
        payload = json.dumps(
            {"rpc": method, "message": json_format.MessageToDict(request)},
            separators=(",", ":"),
        ).encode()
        try:
            reply = self._client.invoke(self.function_name, payload)
        except InvokeFailed as exc:
            raise RpcUnavailable(self.function_name, method, str(exc)[:_MAX_DETAIL]) from exc
        if reply.status != 200:
            # A Lambda API error: unknown function, throttling, the service's own failure.
            raise RpcUnavailable(
                self.function_name, method, _api_error(reply.status, reply.headers, reply.body)
            )
        if "x-amz-function-error" in reply.headers:
            raise RpcUnavailable(
                self.function_name,
                method,
                f"function error {reply.headers['x-amz-function-error']}: "
                f"{_error_detail(reply.body)}",
            )
        response = response_type()
        try:
            parsed = json.loads(reply.body)
            if not isinstance(parsed, dict):
                raise ValueError(f"JSON {type(parsed).__name__}, not an object")
            json_format.ParseDict(parsed, response, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError) as exc:
            raise RpcUnavailable(
                self.function_name,
                method,
                f"reply is not a {response.DESCRIPTOR.full_name}: {exc}"[:_MAX_DETAIL],
            ) from exc
        return response


def rpc_handler(
    request_type: type[Req], response_type: type[Resp], fn: Callable[[Req], Resp]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Adapt `fn(request) -> response` to the dict -> dict shape of an RPC method in
    vendyz.core.entry.lambda_entry(rpc={...}). Unknown fields are ignored (an older callee
    accepts a newer caller's message); every field of the reply is written, defaults included.
    A malformed message raises json_format.ParseError (a function error for the caller)."""

    def handle(message: dict[str, Any]) -> dict[str, Any]:
        request = request_type()
        json_format.ParseDict(message, request, ignore_unknown_fields=True)
        response = fn(request)
        if not isinstance(response, response_type):
            raise TypeError(
                f"{getattr(fn, '__name__', fn)!r} returned {type(response).__name__}, "
                f"not {response_type.__name__}"
            )
        return json_format.MessageToDict(response, always_print_fields_with_no_presence=True)

    return handle


def _api_error(status: int, headers: dict[str, str], body: bytes) -> str:
    error_type = headers.get("x-amzn-errortype", "").split(":")[0] or "error"
    try:
        error = json.loads(body)
        message = error.get("Message") or error.get("message") or ""
    except (ValueError, AttributeError):
        message = body[:_MAX_DETAIL].decode(errors="replace")
    return f"status {status} {error_type}: {message}"[:_MAX_DETAIL]


def _error_detail(body: bytes) -> str:
    try:
        error = json.loads(body)
    except ValueError:
        return body[:_MAX_DETAIL].decode(errors="replace")
    if isinstance(error, dict):
        return f"{error.get('errorType', '?')}: {error.get('errorMessage', '')}"[:_MAX_DETAIL]
    return str(error)[:_MAX_DETAIL]
