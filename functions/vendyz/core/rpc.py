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
from typing import TYPE_CHECKING, Any, TypeVar, cast

import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from google.protobuf import json_format
from google.protobuf.message import Message

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

__all__ = ["DEFAULT_REGION", "LambdaRpc", "RpcUnavailable", "rpc_handler"]

M = TypeVar("M", bound=Message)
Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp", bound=Message)

DEFAULT_REGION = "us-east-1"
_USER_AGENT = f"vendyz-rpc/1 Botocore/{botocore.__version__}"
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


def _session(*, local: bool) -> botocore.session.Session:
    """A botocore session (boto3 adds nothing here but ~80 ms of cold start: it imports
    s3transfer). Locally its credential chain skips the container and EC2 metadata lookups,
    which can stall a laptop for seconds, and falls back to dummy credentials."""
    session = botocore.session.get_session()
    if local:
        resolver = session.get_component("credential_provider")
        for provider in ("container-role", "iam-role"):
            if resolver.get_provider(provider) is not None:
                resolver.remove(provider)
        if session.get_credentials() is None:
            # The local cloud ignores credentials; LocalStack accepts any.
            session.set_credentials("local", "local")
    return session


class LambdaRpc:
    """Calls one Lambda function's RPC methods. Build one per function per Lambda instance
    (at import); it holds one botocore client, which is thread-safe and keeps its connections
    alive in a pool of 64."""

    def __init__(
        self,
        function_name: str,
        *,
        endpoint_url: str | None,
        timeout_seconds: float,
        region: str | None = None,
        sign: bool = True,
    ) -> None:
        """`endpoint_url`: None (or empty) for AWS, else the local cloud's or LocalStack's
        URL. `timeout_seconds` bounds the connect and, separately, each read of the reply.
        `region`: default AWS_REGION, AWS_DEFAULT_REGION, then us-east-1. `sign=False` skips
        SigV4 (~250 µs a call) for an endpoint that ignores it: the local cloud, not
        LocalStack, which reads the region from the signature."""
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        config = Config(
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            # One attempt: the caller owns retries (503 now, the reconciler later).
            retries={"total_max_attempts": 1, "mode": "standard"},
            tcp_keepalive=True,
            max_pool_connections=64,
            # The request is built here, always valid; skip botocore's per-call validation.
            parameter_validation=False,
            # A fixed User-Agent: botocore otherwise rebuilds it from ~30 parts on every call
            # (measured: ~150 of ~800 µs of CPU per call).
            user_agent=_USER_AGENT,
            signature_version="v4" if sign else UNSIGNED,
        )
        client = _session(local=bool(endpoint_url)).create_client(
            "lambda",
            region_name=_region(region),
            endpoint_url=endpoint_url or None,
            config=config,
        )
        self._client = cast("LambdaClient", client)

    def call(self, method: str, request: Message, response_type: type[M]) -> M:
        """Invoke `method` with `request` and return the reply as a `response_type`.
        Raises RpcUnavailable when the answer is unknown."""
        payload = json.dumps(
            {"rpc": method, "message": json_format.MessageToDict(request)},
            separators=(",", ":"),
        ).encode()
        try:
            reply = self._client.invoke(
                FunctionName=self.function_name,
                InvocationType="RequestResponse",
                Payload=payload,
            )
            body = reply["Payload"].read()
        except (BotoCoreError, ClientError) as exc:
            # Timeouts (ReadTimeoutError, ConnectTimeoutError), refused connections
            # (EndpointConnectionError), throttling and other Lambda API errors.
            raise RpcUnavailable(self.function_name, method, _describe(exc)) from exc
        status = reply.get("StatusCode")
        if reply.get("FunctionError"):
            raise RpcUnavailable(
                self.function_name,
                method,
                f"function error {reply['FunctionError']}: {_error_detail(body)}",
            )
        if status != 200:
            raise RpcUnavailable(self.function_name, method, f"status {status}")
        response = response_type()
        try:
            parsed = json.loads(body)
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


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}"[:_MAX_DETAIL]
    return f"{type(exc).__name__}: {exc}"[:_MAX_DETAIL]


def _error_detail(body: bytes) -> str:
    try:
        error = json.loads(body)
    except ValueError:
        return body[:_MAX_DETAIL].decode(errors="replace")
    if isinstance(error, dict):
        return f"{error.get('errorType', '?')}: {error.get('errorMessage', '')}"[:_MAX_DETAIL]
    return str(error)[:_MAX_DETAIL]
