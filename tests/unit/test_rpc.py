"""vendyz.core.rpc against a real Lambda Invoke endpoint: a threaded HTTP server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.protobuf import json_format

from vendyz.core.contracts.inventory_pb2 import (
    RESERVED,
    ReserveStockRequest,
    ReserveStockResponse,
)
from vendyz.core.rpc import LambdaRpc, RpcUnavailable, rpc_handler

FUNCTION = "InventoryFunction"
INVOKE_PATH = f"/2015-03-31/functions/{FUNCTION}/invocations"
RpcMethod = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class FakeLambda:
    """What the Invoke endpoint does: dispatch RPC events, or misbehave on request."""

    methods: dict[str, RpcMethod]
    delay_seconds: float = 0.0
    close_after_reply: bool = False  # as an endpoint closing idle keep-alive connections
    chunked: bool = False  # reply with Transfer-Encoding: chunked instead of Content-Length
    seen: list[dict[str, Any]] = field(default_factory=list)
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The reply payload and the X-Amz-Function-Error header (None on success)."""
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        try:
            return self.methods[event["rpc"]](event.get("message") or {}), None
        except Exception as exc:
            return {"errorType": type(exc).__name__, "errorMessage": str(exc)}, "Unhandled"


def _handler_class(fake: FakeLambda) -> type[BaseHTTPRequestHandler]:
    class InvokeHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as API endpoints do

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != INVOKE_PATH:
                self._reply(404, {"Type": "User", "message": "Function not found"}, None)
                return
            event = json.loads(body)
            fake.seen.append(event)
            fake.seen_headers.append(dict(self.headers.items()))
            payload, function_error = fake.invoke(event)
            self._reply(200, payload, function_error)

        def _reply(self, status: int, payload: dict[str, Any], function_error: str | None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if fake.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(data)))
                if function_error:
                    self.send_header("X-Amz-Function-Error", function_error)
                self.end_headers()
                if fake.chunked:
                    half = len(data) // 2
                    for part in (data[:half], data[half:]):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(data)
                self.close_connection = fake.close_after_reply
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return InvokeHandler


def reserve_stock(request: ReserveStockRequest) -> ReserveStockResponse:
    if request.product_id == "boom":
        raise RuntimeError("inventory exploded")
    return ReserveStockResponse(
        outcome=RESERVED,
        remaining_stock=10 - request.quantity,
        product_name=f"name of {request.product_id}",
    )


@pytest.fixture
def fake_lambda() -> Iterator[tuple[FakeLambda, str]]:
    fake = FakeLambda(
        methods={
            "ReserveStock": rpc_handler(ReserveStockRequest, ReserveStockResponse, reserve_stock)
        }
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's HTTP(S)_PROXY must not capture calls to the loopback test server.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _request(product_id: str = "product-2") -> ReserveStockRequest:
    return ReserveStockRequest(
        order_id="6f1c2f2e-4b6e-4a53-8d7b-3e5b1b2c9d01",
        product_id=product_id,
        quantity=2,
        user_id="2d9f6c1a-1e7b-4f1e-9a0c-5b8c7d6e5f40",
    )


def test_round_trip_returns_the_typed_response(fake_lambda: tuple[FakeLambda, str]) -> None:
    # GIVEN an Invoke endpoint serving ReserveStock through rpc_handler
    fake, url = fake_lambda
    rpc = LambdaRpc(FUNCTION, endpoint_url=url, timeout_seconds=2.0)
    # WHEN we call it twice (the second call reuses the pooled connection)
    first = rpc.call("ReserveStock", _request(), ReserveStockResponse)
    second = rpc.call("ReserveStock", _request("product-3"), ReserveStockResponse)
    # THEN each reply is the typed response of the function
    assert first == ReserveStockResponse(
        outcome=RESERVED, remaining_stock=8, product_name="name of product-2"
    )
    assert second.product_name == "name of product-3"
    # AND the payload was the RPC event with the proto JSON request, sent as RequestResponse
    assert fake.seen[0] == {
        "rpc": "ReserveStock",
        "message": json_format.MessageToDict(_request()),
    }
    assert fake.seen[0]["message"]["orderId"] == "6f1c2f2e-4b6e-4a53-8d7b-3e5b1b2c9d01"
    headers = {k.lower(): v for k, v in fake.seen_headers[0].items()}
    assert headers["x-amz-invocation-type"] == "RequestResponse"


def test_rpc_handler_writes_default_fields_and_ignores_unknown_ones() -> None:
    # GIVEN a wrapped method
    method = rpc_handler(ReserveStockRequest, ReserveStockResponse, reserve_stock)
    # WHEN it gets a message with a field it does not know and a reply with default values
    reply = method({"productId": "p", "quantity": 10, "fromTheFuture": True})
    # THEN the reply has every field, the defaults included
    assert reply == {
        "outcome": "RESERVED",
        "reason": "",
        "remainingStock": 0,
        "productName": "name of p",
        "replayed": False,
    }


def test_slow_function_raises_rpc_unavailable(fake_lambda: tuple[FakeLambda, str]) -> None:
    # GIVEN a function that answers after longer than the caller's timeout
    fake, url = fake_lambda
    fake.delay_seconds = 1.5
    rpc = LambdaRpc(FUNCTION, endpoint_url=url, timeout_seconds=0.3)
    # WHEN we call it
    started = time.monotonic()
    with pytest.raises(RpcUnavailable) as caught:
        rpc.call("ReserveStock", _request(), ReserveStockResponse)
    # THEN it gives up after about the timeout, without retrying
    assert time.monotonic() - started < 1.2
    assert "no reply within 0.3 s" in caught.value.detail
    assert len(fake.seen) == 1


def test_function_error_raises_rpc_unavailable(fake_lambda: tuple[FakeLambda, str]) -> None:
    # GIVEN a function that raises (the reply carries X-Amz-Function-Error)
    _, url = fake_lambda
    rpc = LambdaRpc(FUNCTION, endpoint_url=url, timeout_seconds=2.0)
    # WHEN we call it
    with pytest.raises(RpcUnavailable) as caught:
        rpc.call("ReserveStock", _request("boom"), ReserveStockResponse)
    # THEN the caller gets RpcUnavailable naming the function's error
    assert caught.value.function_name == FUNCTION
    assert caught.value.method == "ReserveStock"
    assert "Unhandled" in caught.value.detail
    assert "inventory exploded" in caught.value.detail


def test_unknown_function_raises_rpc_unavailable(fake_lambda: tuple[FakeLambda, str]) -> None:
    # GIVEN a function name the endpoint does not know (a Lambda API error, 404)
    _, url = fake_lambda
    rpc = LambdaRpc("NoSuchFunction", endpoint_url=url, timeout_seconds=2.0)
    # WHEN we call it  THEN it is RpcUnavailable too, naming the status
    with pytest.raises(RpcUnavailable) as caught:
        rpc.call("ReserveStock", _request(), ReserveStockResponse)
    assert caught.value.detail.startswith("status 404")


def test_refused_connection_raises_rpc_unavailable() -> None:
    # GIVEN a loopback port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rpc = LambdaRpc(FUNCTION, endpoint_url=f"http://127.0.0.1:{port}", timeout_seconds=2.0)
    # WHEN we call it
    started = time.monotonic()
    with pytest.raises(RpcUnavailable) as caught:
        rpc.call("ReserveStock", _request(), ReserveStockResponse)
    # THEN it fails fast with RpcUnavailable
    assert time.monotonic() - started < 1.5
    assert "ConnectionRefusedError" in caught.value.detail


def test_a_connection_closed_while_idle_is_replaced_without_a_second_invoke(
    fake_lambda: tuple[FakeLambda, str],
) -> None:
    # GIVEN an endpoint that closes each connection after its reply (as on an idle timeout)
    fake, url = fake_lambda
    fake.close_after_reply = True
    rpc = LambdaRpc(FUNCTION, endpoint_url=url, timeout_seconds=2.0)
    # WHEN we call it three times
    replies = [rpc.call("ReserveStock", _request(), ReserveStockResponse) for _ in range(3)]
    # THEN every call gets its reply and the function ran once per call
    assert [r.remaining_stock for r in replies] == [8, 8, 8]
    assert len(fake.seen) == 3


def test_a_chunked_reply_is_read_whole(fake_lambda: tuple[FakeLambda, str]) -> None:
    # GIVEN an endpoint that sends its replies in chunks
    fake, url = fake_lambda
    fake.chunked = True
    rpc = LambdaRpc(FUNCTION, endpoint_url=url, timeout_seconds=2.0)
    # WHEN we call it twice on the same connection
    first = rpc.call("ReserveStock", _request(), ReserveStockResponse)
    second = rpc.call("ReserveStock", _request("product-3"), ReserveStockResponse)
    # THEN both replies are complete
    assert first.product_name == "name of product-2"
    assert second.product_name == "name of product-3"


def test_signed_calls_carry_sigv4_for_lambda_in_the_region(
    fake_lambda: tuple[FakeLambda, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the execution role's keys in the environment, as Lambda provides them
    fake, url = fake_lambda
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    rpc = LambdaRpc(FUNCTION, endpoint_url=url, timeout_seconds=2.0, region="eu-west-1")
    # WHEN we call it
    rpc.call("ReserveStock", _request(), ReserveStockResponse)
    # THEN the request is signed for lambda in eu-west-1 with those keys
    headers = {k.lower(): v for k, v in fake.seen_headers[0].items()}
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/lambda/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "session-token"
