"""The gateway as an ASGI app: what a client and a handler see, with no data services.

Handlers are the fakes in tests/unit/fake_handlers.py, loaded by dotted path like the real
ones, each instance a process of its own; requests go through httpx's ASGI transport (one test
uses a real socket, for boto3). What API Gateway answers itself is its own bytes
(`{"message":"Not Found"}`), never our envelope.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from textwrap import dedent
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest
import uvicorn
from botocore.config import Config

from localcloud.gateway import MAX_PAYLOAD_BYTES, Gateway
from localcloud.instance import FunctionError
from localcloud.invoke_api import log_invoke_failure
from localcloud.local_secrets import LocalSecrets
from localcloud.runtime import FunctionRuntime, Throttled
from localcloud.template import AppTemplate, Cors, FunctionSpec, Route, load_template
from tests.helpers import signed_headers
from tests.unit import fake_handlers

ROOT = Path(__file__).resolve().parents[2]
ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
CLIENT_IP = "203.0.113.7"
SHOP = "https://shop.example"

# function name -> (handler in fake_handlers, concurrency)
FUNCTIONS: dict[str, tuple[str, int]] = {
    "Echo": ("echo", 4),
    "Custom": ("custom_status", 4),
    "Binary": ("binary", 4),
    "Cookies": ("with_cookies", 4),
    "Plain": ("plain", 4),
    "Boom": ("boom", 4),
    "Gate": ("authorizer", 4),
    "Slow": ("slow", 2),
    "Record": ("record", 1),
    "Reply": ("reply", 4),
}

# (method, path, function, behind the authorizer)
ROUTES: list[tuple[str, str, str, bool]] = [
    ("GET", "/api/items/{id}", "Echo", False),
    ("POST", "/api/echo", "Echo", False),
    ("GET", "/api/private", "Echo", True),
    ("POST", "/api/custom", "Custom", False),
    ("GET", "/api/binary", "Binary", False),
    ("GET", "/api/cookies", "Cookies", False),
    ("GET", "/api/plain", "Plain", False),
    ("POST", "/api/plain", "Plain", False),
    ("GET", "/api/boom", "Boom", False),
    ("GET", "/api/slow", "Slow", False),
]

CORS = Cors(
    allow_origins=[SHOP],
    allow_methods=["GET", "POST", "OPTIONS"],
    allow_headers=["authorization", "content-type", "idempotency-key"],
    expose_headers=["Retry-After", "Idempotent-Replayed"],
    max_age=600,
)

INDEX_HTML = "<!doctype html><title>Vendyz test shop</title>"
# Where the fake handlers' instances write what the tests must see of their calls.
CALLS_DIR = Path(tempfile.mkdtemp(prefix="fake-calls-"))
SECRETS = LocalSecrets.generate()  # the credentials the Invoke API accepts


def _template(cors: Cors | None = CORS, authorizer_ttl_seconds: float = 0.0) -> AppTemplate:
    return AppTemplate(
        functions={
            name: FunctionSpec(
                name=name,
                handler=f"tests.unit.fake_handlers.{handler}",
                environment={"FAKE_CALLS_DIR": str(CALLS_DIR)},
                concurrency=concurrency,
                timeout_seconds=5.0,
            )
            for name, (handler, concurrency) in FUNCTIONS.items()
        },
        routes=[
            Route(method, path, function, authorized, f"{method} {path}")
            for method, path, function, authorized in ROUTES
        ],
        authorizer_function="Gate",
        authorizer_ttl_seconds=authorizer_ttl_seconds,
        cors=cors,
    )


@pytest.fixture(scope="module")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("frontend")
    (root / "secret.txt").write_text("outside the static dir")
    site = root / "site"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text(INDEX_HTML)
    (site / "assets" / "app.js").write_text("console.log('vendyz');")
    (site / "assets" / "style.css").write_text("body { margin: 0 }")
    return site


@pytest.fixture(scope="module")
def runtimes() -> Iterator[dict[str, FunctionRuntime]]:
    template = _template()
    pools = {name: FunctionRuntime(spec) for name, spec in template.functions.items()}
    yield pools
    for runtime in pools.values():
        runtime.shutdown()


@pytest.fixture(scope="module")
def gateway(runtimes: dict[str, FunctionRuntime], static_dir: Path) -> Gateway:
    return Gateway(_template(), runtimes, static_dir, secrets=SECRETS)


def _client(app: Gateway) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 4321))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


def call(app: Gateway, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with _client(app) as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


def handler_event(response: httpx.Response) -> dict[str, Any]:
    """The event the echo handler received, as it reported it back."""
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["event"]
    return event


def assert_gateway_answer(response: httpx.Response, status: int, message: str) -> None:
    """API Gateway's own answer: its status, its exact bytes, its headers (a Content-Length,
    never a chunked body)."""
    assert response.status_code == status
    assert response.content == b'{"message":"' + message.encode() + b'"}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["apigw-requestid"]


# -- payload 2.0 event ------------------------------------------------------------------------
def test_event_carries_route_path_query_headers_cookies_and_client(gateway: Gateway) -> None:
    # GIVEN a templated route GET /api/items/{id}
    # WHEN a client calls it with a repeated query key, a mixed-case header and two cookies
    response = call(
        gateway,
        "GET",
        "/api/items/item-42?tag=a&tag=b&q=plain",
        headers={"X-Request-Source": "Unit", "Cookie": "session=abc; theme=dark"},
    )

    # THEN the handler sees an API Gateway payload 2.0 event
    event = handler_event(response)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /api/items/{id}"
    assert event["rawPath"] == "/api/items/item-42"
    assert event["rawQueryString"] == "tag=a&tag=b&q=plain"
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "plain"}
    assert event["pathParameters"] == {"id": "item-42"}
    assert event["headers"]["x-request-source"] == "Unit"
    assert all(name == name.lower() for name in event["headers"])
    # AND the cookies moved from the Cookie header to the cookies list
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert "cookie" not in event["headers"]
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], http["sourceIp"]) == (
        "GET",
        "/api/items/item-42",
        CLIENT_IP,
    )
    assert event["requestContext"]["routeKey"] == "GET /api/items/{id}"
    assert event["requestContext"]["stage"] == "$default"
    assert "authorizer" not in event["requestContext"]
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    # AND the handler ran as the function of the route
    assert response.json()["function"] == "Echo"


def test_headers_are_lowercased_even_when_the_server_keeps_their_case(gateway: Gateway) -> None:
    # GIVEN a raw ASGI request whose header names are mixed case (httpx would lowercase them)
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/items/7",
        "query_string": b"",
        "headers": [(b"X-Mixed-Case", b"Yes"), (b"Host", b"api.test")],
        "client": (CLIENT_IP, 1),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # WHEN the gateway handles it
    asyncio.run(gateway(scope, receive, send))

    # THEN the handler sees lowercased header names
    assert sent[0]["status"] == 200
    event = json.loads(sent[1]["body"])["event"]
    assert event["headers"] == {"x-mixed-case": "Yes", "host": "api.test"}


def test_json_body_reaches_the_handler_as_text(gateway: Gateway) -> None:
    # GIVEN a JSON request body
    # WHEN it is posted
    event = handler_event(call(gateway, "POST", "/api/echo", json={"qty": 2, "note": "ünï"}))

    # THEN the handler gets it as text, not base64
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"qty": 2, "note": "ünï"}
    assert event["headers"]["content-type"] == "application/json"


def test_binary_body_reaches_the_handler_base64_encoded(gateway: Gateway) -> None:
    # GIVEN a binary request body
    payload = bytes(range(256))

    # WHEN it is posted as application/octet-stream
    response = call(
        gateway,
        "POST",
        "/api/echo",
        content=payload,
        headers={"Content-Type": "application/octet-stream"},
    )

    # THEN the handler gets it base64-encoded and flagged so
    event = handler_event(response)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


# -- handler return shapes --------------------------------------------------------------------
def test_status_headers_and_body_of_the_handler_reach_the_client(gateway: Gateway) -> None:
    # GIVEN a handler returning statusCode 201, headers and a text body
    # WHEN it is called
    response = call(gateway, "POST", "/api/custom")

    # THEN the client gets exactly those, with their length as API Gateway sends it
    assert response.status_code == 201
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["retry-after"] == "3"
    assert response.text == "created"
    assert response.headers["content-length"] == "7"


def test_base64_encoded_result_is_decoded_for_the_client(gateway: Gateway) -> None:
    # GIVEN a handler returning a base64 body with isBase64Encoded
    # WHEN it is called
    response = call(gateway, "GET", "/api/binary")

    # THEN the client gets the raw bytes
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == fake_handlers.PNG_BYTES


def test_cookies_of_the_result_become_set_cookie_headers(gateway: Gateway) -> None:
    # GIVEN a handler returning two cookies
    # WHEN it is called
    response = call(gateway, "GET", "/api/cookies")

    # THEN the client gets one Set-Cookie header per cookie
    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == [
        "session=abc; HttpOnly; Path=/",
        "theme=dark; Path=/",
    ]
    assert response.cookies["session"] == "abc"


def test_plain_dict_without_status_code_is_a_200_json_response(gateway: Gateway) -> None:
    # GIVEN a handler returning a dict with no statusCode
    # WHEN it is called
    response = call(gateway, "GET", "/api/plain")

    # THEN API Gateway's inference applies: 200 with the dict as JSON
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"hello": "world", "count": 2}


# -- authorizer -------------------------------------------------------------------------------
def test_authorized_route_without_authorization_header_is_401(gateway: Gateway) -> None:
    # GIVEN a route behind the authorizer
    # WHEN a client calls it with no Authorization header
    response = call(gateway, "GET", "/api/private")

    # THEN API Gateway answers 401 itself
    assert_gateway_answer(response, 401, "Unauthorized")


def test_authorizer_failing_with_unauthorized_is_401(gateway: Gateway) -> None:
    # GIVEN an authorizer that raises Exception("Unauthorized") for this token
    # WHEN the route is called with it
    response = call(gateway, "GET", "/api/private", headers={"Authorization": "Bearer expired"})

    # THEN 401, as API Gateway does
    assert_gateway_answer(response, 401, "Unauthorized")


def test_authorizer_denying_is_403(gateway: Gateway) -> None:
    # GIVEN an authorizer that returns isAuthorized False for this token
    # WHEN the route is called with it
    response = call(gateway, "GET", "/api/private", headers={"Authorization": "Bearer buyer"})

    # THEN 403, and the function is not called
    assert_gateway_answer(response, 403, "Forbidden")


def test_authorizer_allowing_passes_its_context_to_the_function(gateway: Gateway) -> None:
    # GIVEN an authorizer that allows this token with a context
    # WHEN the route is called with it
    response = call(gateway, "GET", "/api/private", headers={"Authorization": "Bearer admin"})

    # THEN the function runs and sees the context under requestContext.authorizer.lambda
    event = handler_event(response)
    assert event["requestContext"]["authorizer"] == {
        "lambda": {"userId": "user-42", "role": "ADMIN"}
    }
    assert event["headers"]["authorization"] == "Bearer admin"


def test_authorizer_crashing_is_500_and_logged(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an authorizer that crashes with an unexpected error for this token
    # WHEN the route is called with it
    with caplog.at_level(logging.ERROR, logger="localcloud"):
        response = call(gateway, "GET", "/api/private", headers={"Authorization": "Bearer buggy"})

    # THEN API Gateway's 500, and the traceback is in the log
    assert_gateway_answer(response, 500, "Internal Server Error")
    assert "ValueError: the authorizer itself is broken" in caplog.text


def test_an_allow_is_reused_for_the_authorizer_ttl_then_asked_again(
    runtimes: dict[str, FunctionRuntime], static_dir: Path
) -> None:
    # GIVEN a gateway whose authorizer results live 0.3 s (the template's ReauthorizeEvery)
    gateway = Gateway(_template(authorizer_ttl_seconds=0.3), runtimes, static_dir, secrets=SECRETS)
    token = "Bearer cached-allow"
    # WHEN the same token calls twice, then once more after the TTL
    first = [call(gateway, "GET", "/api/private", headers={"Authorization": token})]
    first += [call(gateway, "GET", "/api/private", headers={"Authorization": token})]
    asked_within_ttl = fake_handlers.authorizer_calls(CALLS_DIR)[token]
    time.sleep(0.4)
    later = call(gateway, "GET", "/api/private", headers={"Authorization": token})
    # THEN the authorizer ran once for the first two and again after the TTL, and every call
    # reached the function with the authorizer's context
    assert asked_within_ttl == 1
    assert fake_handlers.authorizer_calls(CALLS_DIR)[token] == 2
    for response in [*first, later]:
        assert handler_event(response)["requestContext"]["authorizer"] == {
            "lambda": {"userId": "user-42", "role": "ADMIN"}
        }


def test_refusals_and_a_zero_ttl_are_not_cached(
    runtimes: dict[str, FunctionRuntime], static_dir: Path
) -> None:
    # GIVEN a caching gateway and one that does not cache (ReauthorizeEvery: 0)
    caching = Gateway(_template(authorizer_ttl_seconds=60), runtimes, static_dir, secrets=SECRETS)
    uncached = Gateway(_template(authorizer_ttl_seconds=0), runtimes, static_dir, secrets=SECRETS)
    # WHEN a refused token calls the caching one twice, an allowed one the other twice
    for _ in range(2):
        refused = call(caching, "GET", "/api/private", headers={"Authorization": "Bearer buyer"})
        assert refused.status_code == 403
        call(uncached, "GET", "/api/private", headers={"Authorization": "Bearer uncached"})
    # THEN the authorizer was asked every time
    calls = fake_handlers.authorizer_calls(CALLS_DIR)
    assert calls["Bearer buyer"] >= 2  # other tests use it too
    assert calls["Bearer uncached"] == 2


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/nowhere"), ("DELETE", "/api/items/1"), ("GET", "/api/items/1/extra")],
)
def test_unknown_route_is_api_gateways_404(gateway: Gateway, method: str, path: str) -> None:
    # GIVEN no route for this method and path
    # WHEN a client calls it
    response = call(gateway, method, path)

    # THEN API Gateway's own 404
    assert_gateway_answer(response, 404, "Not Found")


def test_handler_exception_is_api_gateways_500_and_traceback_is_logged(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a handler that raises
    # WHEN its route is called
    with caplog.at_level(logging.ERROR, logger="localcloud"):
        response = call(gateway, "GET", "/api/boom")

    # THEN the client gets API Gateway's 500, without internals
    assert_gateway_answer(response, 500, "Internal Server Error")
    assert "kaboom" not in response.text
    # AND the operator gets the traceback
    assert "Boom failed on GET /api/boom" in caplog.text
    assert "Traceback (most recent call last)" in caplog.text
    assert "RuntimeError: kaboom from the handler" in caplog.text


def test_request_body_over_10_mib_is_413(gateway: Gateway) -> None:
    # GIVEN a body one byte over API Gateway's 10 MiB limit
    too_big = b"x" * (MAX_PAYLOAD_BYTES + 1)

    # WHEN it is posted
    response = call(
        gateway,
        "POST",
        "/api/plain",
        content=too_big,
        headers={"Content-Type": "application/octet-stream"},
    )

    # THEN API Gateway's 413
    assert_gateway_answer(response, 413, "Request Entity Too Large")


def test_request_body_of_exactly_10_mib_is_accepted(gateway: Gateway) -> None:
    # GIVEN a body of exactly the limit
    # WHEN it is posted
    response = call(
        gateway,
        "POST",
        "/api/plain",
        content=b"x" * MAX_PAYLOAD_BYTES,
        headers={"Content-Type": "application/octet-stream"},
    )

    # THEN it reaches the handler
    assert response.status_code == 200
    assert response.json() == {"hello": "world", "count": 2}


def test_chunked_request_body_over_10_mib_is_413(gateway: Gateway) -> None:
    # GIVEN a body one byte over the limit, sent in chunks with no Content-Length
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * (MAX_PAYLOAD_BYTES // 10)
        yield b"x"

    async def go() -> httpx.Response:
        async with _client(gateway) as client:
            return await client.post("/api/plain", content=_aiter(chunks()))

    # WHEN it is posted
    response = asyncio.run(go())

    # THEN 413 as for a declared length
    assert_gateway_answer(response, 413, "Request Entity Too Large")


async def _aiter(items: Iterator[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item


def test_headers_over_10_kib_are_refused_before_any_function_runs(gateway: Gateway) -> None:
    # GIVEN headers whose values add up to more than API Gateway's 10 KiB
    headers = {f"x-filler-{i}": "y" * 1000 for i in range(11)}

    # WHEN a request carries them
    response = call(gateway, "GET", "/api/plain", headers=headers)

    # THEN the gateway answers 431 itself
    assert_gateway_answer(response, 431, "Request Header Fields Too Large")


# -- Lambda Invoke API ------------------------------------------------------------------------
def invoke_path(name: str) -> str:
    return f"/2015-03-31/functions/{quote(name, safe='')}/invocations"


def signed(path: str, body: bytes, **headers: str) -> dict[str, str]:
    """Headers signing a POST of `body` to `path` with the gateway's credentials."""
    return signed_headers(
        f"http://api.test{path}", body, SECRETS.access_key_id, SECRETS.secret_access_key, **headers
    )


def invoke(app: Gateway, name: str, payload: Any, **headers: str) -> httpx.Response:
    body = json.dumps(payload).encode()
    path = invoke_path(name)
    return call(app, "POST", path, content=body, headers=signed(path, body, **headers))


@pytest.mark.parametrize(
    "name",
    [
        "Reply",
        f"{ARN_PREFIX}Reply",
        "Reply:$LATEST",
        f"{ARN_PREFIX}Reply:$LATEST",
        "000000000000:function:Reply",
    ],
)
def test_invoke_api_returns_the_handler_result(gateway: Gateway, name: str) -> None:
    # GIVEN a function, named by name, ARN, partial ARN or with a qualifier
    # WHEN it is invoked through the Lambda Invoke API
    response = invoke(gateway, name, {"orderId": "o-1"})

    # THEN 200 with the handler's JSON result, the payload passed through as the event
    assert response.status_code == 200
    assert response.json() == {"received": {"orderId": "o-1"}, "function": "Reply"}
    assert "x-amz-function-error" not in response.headers


def test_invoke_api_reports_a_handler_exception_as_function_error(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a handler that raises
    # WHEN it is invoked through the Invoke API
    with caplog.at_level(logging.ERROR, logger="localcloud"):
        response = invoke(gateway, "Boom", {})

    # THEN 200 with X-Amz-Function-Error: Unhandled and the error payload, as Lambda does
    assert response.status_code == 200
    assert response.headers["x-amz-function-error"] == "Unhandled"
    payload = response.json()
    assert (payload["errorMessage"], payload["errorType"]) == (
        "kaboom from the handler",
        "RuntimeError",
    )
    assert payload["requestId"]
    assert any("in boom" in frame for frame in payload["stackTrace"])
    assert "RuntimeError: kaboom from the handler" in caplog.text


def test_invoke_api_unknown_function_is_404_resource_not_found(gateway: Gateway) -> None:
    # GIVEN no such function
    # WHEN it is invoked
    response = invoke(gateway, "NoSuchFunction", {})

    # THEN 404 ResourceNotFoundException
    assert response.status_code == 404
    assert response.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert "NoSuchFunction" in response.json()["Message"]


def test_invoke_api_rejects_a_payload_that_is_not_json(gateway: Gateway) -> None:
    # GIVEN a payload that is not JSON
    # WHEN it is invoked
    path = invoke_path("Reply")
    response = call(gateway, "POST", path, content=b"{oops", headers=signed(path, b"{oops"))

    # THEN 400 InvalidRequestContentException
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "InvalidRequestContentException"


def test_invoke_api_event_invocation_is_202_and_runs_in_the_background(
    gateway: Gateway,
) -> None:
    # GIVEN an asynchronous invocation (InvocationType: Event)
    def arrived() -> list[dict[str, Any]]:
        return [e for e in fake_handlers.events_received(CALLS_DIR) if e == {"task": "later"}]

    async def go() -> tuple[httpx.Response, bool]:
        async with _client(gateway) as client:
            # WHEN it is invoked
            path, body = invoke_path("Record"), b'{"task": "later"}'
            headers = signed(path, body, **{"X-Amz-Invocation-Type": "Event"})
            response = await client.post(path, content=body, headers=headers)
            # (the gateway's loop must keep running for the background invocation)
            deadline = time.monotonic() + 5
            while not arrived() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return response, bool(arrived())

    response, ran = asyncio.run(go())

    # THEN 202 at once with no body, and the handler still receives the event
    assert response.status_code == 202
    assert response.content == b""
    assert ran
    assert arrived() == [{"task": "later"}]


@pytest.mark.parametrize(
    ("headers", "error_type", "message"),
    [
        ({}, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        (
            signed_headers("http://api.test/x", b"{}", "AKIAWRONGKEY0000", "wrong"),
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            signed_headers("http://api.test/x", b"{}", SECRETS.access_key_id, "wrong-secret"),
            "InvalidSignatureException",
            "The request signature we calculated does not match",
        ),
    ],
    ids=["unsigned", "unknown-key", "wrong-secret"],
)
def test_invoke_api_refuses_what_is_not_signed_with_its_credentials_and_runs_nothing(
    gateway: Gateway, headers: dict[str, str], error_type: str, message: str
) -> None:
    # GIVEN an asynchronous invocation of Record that is unsigned or wrongly signed
    marker = {"task": f"forged-{error_type}"}
    body = json.dumps(marker).encode()
    headers = {**headers, "X-Amz-Invocation-Type": "Event"}
    # WHEN it is sent
    response = call(gateway, "POST", invoke_path("Record"), content=body, headers=headers)
    # THEN Lambda's 403 answer, and the function never ran
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == error_type
    assert response.json()["message"].startswith(message)
    time.sleep(0.3)
    assert marker not in fake_handlers.events_received(CALLS_DIR)


@contextmanager
def serving(app: Gateway) -> Iterator[str]:
    """The gateway on a real socket (uvicorn in a background thread); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not server.started:
            assert thread.is_alive(), "uvicorn exited while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 5 s"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


def test_boto3_lambda_client_invokes_through_the_gateway(gateway: Gateway) -> None:
    # GIVEN the gateway on a real port and a stock boto3 Lambda client pointed at it
    with serving(gateway) as url:
        client = boto3.client(
            "lambda",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=SECRETS.access_key_id,
            aws_secret_access_key=SECRETS.secret_access_key,
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
        )

        # WHEN it invokes a function by name and by ARN
        by_name = client.invoke(FunctionName="Reply", Payload=json.dumps({"orderId": "o-7"}))
        by_arn = client.invoke(FunctionName=f"{ARN_PREFIX}Reply", Payload=b'{"n": 1}')
        # AND a function that raises, one that does not exist, and an async invocation
        failed = client.invoke(FunctionName="Boom", Payload=b"{}")
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")
        queued = client.invoke(FunctionName="Record", InvocationType="Event", Payload=b"{}")

    # THEN boto3 gets the payloads back, and errors the way Lambda reports them
    assert by_name["StatusCode"] == 200
    assert "FunctionError" not in by_name
    assert json.loads(by_name["Payload"].read()) == {
        "received": {"orderId": "o-7"},
        "function": "Reply",
    }
    assert json.loads(by_arn["Payload"].read()) == {"received": {"n": 1}, "function": "Reply"}
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "RuntimeError"
    assert queued["StatusCode"] == 202


# -- CORS -------------------------------------------------------------------------------------
def test_preflight_is_answered_by_the_gateway(gateway: Gateway) -> None:
    # GIVEN CORS allowing the shop's origin
    # WHEN the browser sends a preflight for a POST with an Authorization header
    response = call(
        gateway,
        "OPTIONS",
        "/api/echo",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    # THEN 204 with the allowed origin, methods and headers
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SHOP
    assert set(response.headers["access-control-allow-methods"].split(",")) >= {"GET", "POST"}
    allowed_headers = set(response.headers["access-control-allow-headers"].split(","))
    assert allowed_headers >= {"authorization", "content-type"}
    assert response.headers["access-control-max-age"] == "600"
    assert response.content == b""


def test_response_to_an_allowed_origin_carries_cors_headers(gateway: Gateway) -> None:
    # GIVEN CORS allowing the shop's origin
    # WHEN the shop calls a route (and another origin calls it too)
    allowed = call(gateway, "POST", "/api/custom", headers={"Origin": SHOP})
    other = call(gateway, "POST", "/api/custom", headers={"Origin": "https://evil.example"})

    # THEN the shop's response allows its origin and exposes the documented headers
    assert allowed.headers["access-control-allow-origin"] == SHOP
    exposed = allowed.headers["access-control-expose-headers"].split(",")
    assert exposed == ["Retry-After", "Idempotent-Replayed"]
    # AND the other origin gets no CORS permission
    assert other.status_code == 201
    assert "access-control-allow-origin" not in other.headers


def test_cors_headers_are_on_gateway_errors_too(gateway: Gateway) -> None:
    # GIVEN CORS allowing the shop's origin
    # WHEN the shop gets a 401 from the authorizer and a 404
    unauthorized = call(gateway, "GET", "/api/private", headers={"Origin": SHOP})
    missing = call(gateway, "GET", "/api/nowhere", headers={"Origin": SHOP})

    # THEN the browser can read them
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == SHOP
    assert missing.headers["access-control-allow-origin"] == SHOP


def test_wildcard_origin_allows_any_origin(
    runtimes: dict[str, FunctionRuntime], static_dir: Path
) -> None:
    # GIVEN CORS with AllowOrigins "*" (the template's default)
    cors = Cors(["*"], ["GET", "POST"], ["authorization"], [], 0)
    wildcard = Gateway(_template(cors), runtimes, static_dir, secrets=SECRETS)

    # WHEN any origin sends a preflight
    response = call(
        wildcard,
        "OPTIONS",
        "/api/plain",
        headers={"Origin": "https://any.example", "Access-Control-Request-Method": "GET"},
    )

    # THEN it is allowed as "*"
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"


# -- frontend ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "content_type", "text"),
    [
        ("/assets/app.js", "javascript", "console.log('vendyz');"),
        ("/assets/style.css", "text/css", "body { margin: 0 }"),
        ("/index.html", "text/html", INDEX_HTML),
        ("/", "text/html", INDEX_HTML),
    ],
)
def test_static_files_are_served_with_their_content_type(
    gateway: Gateway, path: str, content_type: str, text: str
) -> None:
    # GIVEN a frontend build with an index, a script and a stylesheet
    # WHEN a browser requests a file
    response = call(gateway, "GET", path)

    # THEN it gets the file with its content type
    assert response.status_code == 200
    assert content_type in response.headers["content-type"]
    assert response.text == text


def test_unknown_frontend_path_falls_back_to_index_html(gateway: Gateway) -> None:
    # GIVEN a single-page app that routes on the client
    # WHEN a browser loads a deep link
    response = call(gateway, "GET", "/orders/42")

    # THEN it gets index.html
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == INDEX_HTML


@pytest.mark.parametrize("path", ["/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt"])
def test_path_traversal_does_not_escape_the_static_dir(gateway: Gateway, path: str) -> None:
    # GIVEN a file next to (outside) the static dir
    # WHEN a client asks for it with ../ (which reaches the app as /../secret.txt)
    response = call(gateway, "GET", path)

    # THEN it gets index.html, never the file
    assert "outside the static dir" not in response.text
    assert response.text == INDEX_HTML


# -- throttling -------------------------------------------------------------------------------
def test_past_a_functions_concurrency_calls_are_throttled_not_queued(gateway: Gateway) -> None:
    # GIVEN a function reserving 2 instances whose handler sleeps 0.3 s
    async def six_at_once() -> list[httpx.Response]:
        async with _client(gateway) as client:
            return await asyncio.gather(*(client.get("/api/slow") for _ in range(6)))

    # WHEN 6 clients call it at the same time
    responses = asyncio.run(six_at_once())

    # THEN 2 are served, and the other 4 get API Gateway's answer to a throttled Lambda (500)
    assert sorted(r.status_code for r in responses) == [200, 200, 500, 500, 500, 500]
    for throttled in (r for r in responses if r.status_code == 500):
        assert_gateway_answer(throttled, 500, "Internal Server Error")


def test_invoke_api_answers_a_throttled_call_429_too_many_requests(gateway: Gateway) -> None:
    # GIVEN a function reserving 2 instances, both busy
    async def three_at_once() -> list[httpx.Response]:
        async with _client(gateway) as client:
            path = invoke_path("Slow")
            headers = signed(path, b"{}")
            calls = (client.post(path, content=b"{}", headers=headers) for _ in range(3))
            return await asyncio.gather(*calls)

    # WHEN a third invocation comes through the Invoke API
    responses = asyncio.run(three_at_once())

    # THEN it is refused as Lambda refuses it
    throttled = [r for r in responses if r.status_code == 429]
    assert len(throttled) == 1
    assert throttled[0].headers["x-amzn-errortype"] == "TooManyRequestsException"
    assert throttled[0].json()["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


# -- template.py ------------------------------------------------------------------------------
TEMPLATE_HANDLERS = {
    "MigrateFunction": "vendyz.migrate.handler.handler",
    "AuthorizerFunction": "vendyz.authorizer.handler.handler",
    "AuthFunction": "vendyz.auth.handler.handler",
    "InventoryFunction": "vendyz.inventory.handler.handler",
    "OrdersFunction": "vendyz.orders.handler.handler",
    "HealthFunction": "vendyz.health.handler.handler",
    "DocsFunction": "vendyz.docs.handler.handler",
    "RealtimeFunction": "vendyz.realtime.handler.handler",
}
AUTHORIZED_ROUTES = {
    "POST /api/v1/auth/logout",
    "GET /api/v1/auth/me",
    "POST /api/v1/products",
    "POST /api/v1/products/{id}/stock",
    "POST /api/v1/orders",
    "GET /api/v1/orders",
    "GET /api/v1/orders/{id}",
    "POST /api/v1/health/ping",
}
PUBLIC_ROUTES = {
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/login",
    "GET /api/v1/products",
    "GET /api/v1/products/{id}",
    "GET /api/v1/health",
    "GET /api/v1/docs",
    "GET /api/v1/openapi.json",
    "GET /docs",
    "GET /docs-json",
}
LOCAL_PARAMETERS = {
    "DatabaseUrl": "postgresql://postgres@/vendyz?host=/tmp/x",
    "RedisUrl": "redis://127.0.0.1:6390/0",
    "NatsUrl": "nats://127.0.0.1:4223",
    "LambdaEndpointUrl": "http://127.0.0.1:3000",
}


def test_real_template_functions_routes_schedules_and_cors() -> None:
    # GIVEN the project's template.yaml and the parameters the local cloud passes
    # WHEN it is loaded
    app = load_template(ROOT / "template.yaml", LOCAL_PARAMETERS)

    # THEN every function has its handler, and each handler's module exists
    assert {n: f.handler for n, f in app.functions.items()} == TEMPLATE_HANDLERS
    for spec in app.functions.values():
        module, _, _ = spec.handler.rpartition(".")
        assert (ROOT / "functions" / (module.replace(".", "/") + ".py")).is_file(), spec.handler
        assert spec.timeout_seconds == (300 if spec.name == "MigrateFunction" else 10)
        assert spec.environment["DATABASE_URL"] == LOCAL_PARAMETERS["DatabaseUrl"]
        assert spec.environment["LAMBDA_ENDPOINT_URL"] == "http://127.0.0.1:3000"
    assert app.functions["OrdersFunction"].environment["INVENTORY_FUNCTION_NAME"] == (
        "InventoryFunction"
    )
    assert app.functions["InventoryFunction"].concurrency == 80
    # AND the routes, with the authorizer on exactly the protected ones
    assert {r.route_key for r in app.routes if r.authorized} == AUTHORIZED_ROUTES
    assert {r.route_key for r in app.routes if not r.authorized} == PUBLIC_ROUTES
    assert app.authorizer_function == "AuthorizerFunction"
    assert app.authorizer_ttl_seconds == 300  # Identity.ReauthorizeEvery
    # AND the schedules with their inputs, every minute
    assert {(s.name, s.rate_seconds, json.dumps(s.input)) for s in app.schedules} == {
        ("AuthFunction.Heartbeat", 60, '{"task": "heartbeat"}'),
        ("InventoryFunction.Heartbeat", 60, '{"task": "heartbeat"}'),
        ("InventoryFunction.Relay", 60, '{"task": "reconcile"}'),
        ("OrdersFunction.Heartbeat", 60, '{"task": "heartbeat"}'),
        ("OrdersFunction.Reconcile", 60, '{"task": "reconcile"}'),
    }
    # AND CORS, with the comma-delimited origins parameter split
    assert app.cors is not None
    assert app.cors.allow_origins == ["*"]
    assert app.cors.allow_methods == ["GET", "POST", "OPTIONS"]
    assert app.cors.allow_headers == ["authorization", "content-type", "idempotency-key"]
    assert app.cors.expose_headers == ["Retry-After", "Idempotent-Replayed"]
    assert app.cors.max_age == 600


def test_real_template_loads_with_a_vpc_and_several_origins() -> None:
    # GIVEN parameters that turn the HasVpc condition (Fn::If in Globals.VpcConfig) on
    parameters = {
        **LOCAL_PARAMETERS,
        "VpcSubnetIds": "subnet-1,subnet-2",
        "VpcSecurityGroupIds": "sg-1",
        "CorsAllowOrigins": "https://a.example,https://b.example",
        "JwtSecretName": "arn:aws:secretsmanager:us-east-1:000000000000:secret:jwt",
    }

    # WHEN it is loaded
    app = load_template(ROOT / "template.yaml", parameters)

    # THEN it still loads, with both origins
    assert set(app.functions) == set(TEMPLATE_HANDLERS)
    assert app.cors is not None
    assert app.cors.allow_origins == ["https://a.example", "https://b.example"]


INLINE_TEMPLATE = """\
Parameters:
  Stage:
    Type: String
    Default: dev
  TableName:
    Type: String
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Handler: tests.unit.fake_handlers.echo
    Timeout: 7
    VpcConfig: !If [IsProd, {SubnetIds: [subnet-1]}, !Ref AWS::NoValue]
    Environment:
      Variables:
        STAGE: !Ref Stage
        MODE: !If [IsProd, live, sandbox]
        UNSET: !Ref AWS::NoValue
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: [https://a.example]
        AllowMethods: [get, post]
        AllowHeaders: [Authorization]
      Auth:
        Authorizers:
          Gate:
            FunctionArn: !GetAtt GateFunction.Arn
  GateFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: tests.unit.fake_handlers.authorizer
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      ReservedConcurrentExecutions: 3
      Environment:
        Variables:
          TABLE: !Sub "${Stage}-${TableName}-${AWS::Region}"
          PEER_ARN: !Sub "${GateFunction.Arn}"
          PEER_ATT: !GetAtt GateFunction.Arn
          PEER_NAME: !Ref GateFunction
          PATH_LIKE: !Join ["/", [!Ref "AWS::AccountId", !Ref Stage, tail]]
          GREETING: !Sub ["${Word}, ${Stage}", {Word: !Ref TableName}]
      Events:
        GetItem:
          Type: HttpApi
          Properties:
            Path: /items/{id}
            Method: get
        PutItem:
          Type: HttpApi
          Properties:
            Path: !Sub "/${Stage}/items"
            Method: post
            Auth:
              Authorizer: Gate
        Open:
          Type: HttpApi
          Properties:
            Path: /open
            Method: GET
            Auth:
              Authorizer: NONE
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(5 minutes)
            Input: '{"task": "tick"}'
"""


@pytest.mark.parametrize(("stage", "mode"), [("dev", "sandbox"), ("prod", "live")])
def test_inline_template_intrinsics(tmp_path: Path, stage: str, mode: str) -> None:
    # GIVEN a small template using !Sub (${Param}, ${Res.Arn}, a variable map), !GetAtt,
    # !Join, !Ref and a condition in Globals
    path = tmp_path / "template.yaml"
    path.write_text(dedent(INLINE_TEMPLATE))

    # WHEN it is loaded with a parameter given and one left at its default / overridden
    parameters = {"TableName": "orders"} | ({"Stage": stage} if stage != "dev" else {})
    app = load_template(path, parameters)

    # THEN the intrinsics resolve to local values
    gate_arn = f"{ARN_PREFIX}GateFunction"
    api = app.functions["ApiFunction"]
    assert api.environment == {
        "STAGE": stage,
        "MODE": mode,
        "UNSET": "",
        "TABLE": f"{stage}-orders-us-east-1",
        "PEER_ARN": gate_arn,
        "PEER_ATT": gate_arn,
        "PEER_NAME": "GateFunction",
        "PATH_LIKE": f"000000000000/{stage}/tail",
        "GREETING": f"orders, {stage}",
    }
    assert api.handler == "tests.unit.fake_handlers.echo"
    assert (api.concurrency, api.timeout_seconds) == (3, 7)
    assert app.functions["GateFunction"].handler == "tests.unit.fake_handlers.authorizer"
    assert app.authorizer_function == "GateFunction"
    assert [(r.route_key, r.function, r.authorized) for r in app.routes] == [
        ("GET /items/{id}", "ApiFunction", False),
        (f"POST /{stage}/items", "ApiFunction", True),
        ("GET /open", "ApiFunction", False),
    ]
    assert [(s.name, s.rate_seconds, s.input) for s in app.schedules] == [
        ("ApiFunction.Tick", 300, {"task": "tick"})
    ]
    assert app.cors == Cors(["https://a.example"], ["GET", "POST"], ["authorization"], [], 0)


def test_a_throttled_invocation_is_logged_in_one_line_a_failed_one_with_its_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a throttled invocation and one whose handler raised
    throttled = Throttled("Realtime: Rate Exceeded.")
    failed = FunctionError(
        {
            "errorType": "ValueError",
            "errorMessage": "boom",
            "stackTrace": ['  File "handler.py", line 3, in handler\n'],
        }
    )
    # WHEN the gateway logs why each failed
    with caplog.at_level(logging.WARNING, logger="localcloud"):
        log_invoke_failure("Realtime", "$connect", throttled)
        log_invoke_failure("Realtime", "$default", failed)
    # THEN the throttle is one warning line, the failure an error with the function's trace
    first, second = caplog.records
    assert (first.levelno, first.getMessage(), first.exc_info) == (
        logging.WARNING,
        "Realtime throttled on $connect",
        None,
    )
    assert second.levelno == logging.ERROR
    assert 'File "handler.py", line 3' in second.getMessage()
    assert second.getMessage().endswith("ValueError: boom")
