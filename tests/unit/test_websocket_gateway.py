"""The local WebSocket API as a client and an integration see it: event shapes, route
selection, the $connect authorizer and refusals, size limits, close codes, the idle timeout.

The handlers are the fakes in tests/unit/fake_ws_handlers.py; the gateway is served by a real
FunctionHost (uvicorn with the local cloud's settings) and reached through real sockets.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from localcloud.host import FunctionHost
from localcloud.runtime import FunctionRuntime
from localcloud.template import AppTemplate, FunctionSpec
from localcloud.websocket_api import WebSocketApi
from localcloud.websocket_template import WebSocketApiSpec, WebSocketRoute
from tests.unit import fake_ws_handlers
from tests.unit.test_gateway import CALLS_DIR, SECRETS

CONNECTION_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")

FUNCTIONS = {
    "Gate": "gate",
    "Lifecycle": "lifecycle",
    "Echo": "echo",
    "Silent": "silent",
    "Boom": "boom",
}


def _template() -> AppTemplate:
    routes = [
        WebSocketRoute("$connect", "Lifecycle", authorizer_function="Gate"),
        WebSocketRoute("$disconnect", "Lifecycle"),
        WebSocketRoute("$default", "Echo", two_way=True),
        WebSocketRoute("whisper", "Silent"),
        WebSocketRoute("explode", "Boom", two_way=True),
    ]
    return AppTemplate(
        functions={
            name: FunctionSpec(
                name,
                f"tests.unit.fake_ws_handlers.{handler}",
                {"FAKE_CALLS_DIR": str(CALLS_DIR)},
                4,
                5.0,
            )
            for name, handler in FUNCTIONS.items()
        },
        websocket=WebSocketApiSpec(
            stage="ws", selection_path=("action",), routes={r.route_key: r for r in routes}
        ),
    )


def _serve(idle_seconds: float = 600.0) -> Iterator[str]:
    host = FunctionHost(_template(), None, secrets=SECRETS, websocket_idle_seconds=idle_seconds)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    host.serve(sock)
    try:
        yield f"ws://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        host.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    yield from _serve()


@pytest.fixture(scope="module")
def impatient_server() -> Iterator[str]:
    """Closes a connection after half a second without a client message."""
    yield from _serve(idle_seconds=0.5)


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(test(), timeout=30))


async def ask(ws: ClientConnection, message: str | bytes) -> Any:
    await ws.send(message)
    return json.loads(await ws.recv())


def recorded(match: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
    """The first event a fake handler recorded that matches (waits for it to arrive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in fake_ws_handlers.events(CALLS_DIR):
            if match(event):
                return event
        time.sleep(0.02)
    raise AssertionError("no such event was recorded")


def on_connection(event_type: str, conn_id: str) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        context = event["requestContext"]
        return context.get("eventType") == event_type and context["connectionId"] == conn_id

    return match


async def connection_id(ws: ClientConnection) -> str:
    event = await ask(ws, "who am i")
    found: str = event["requestContext"]["connectionId"]
    return found


def test_connect_authorizer_and_connect_route_see_aws_events(server: str) -> None:
    # GIVEN a client connecting with a query string and a header of its own
    async def scenario() -> tuple[str, dict[str, Any]]:
        async with websockets.connect(
            f"{server}/ws?as=alice&marker=shape", additional_headers={"X-Shop-Client": "Test"}
        ) as ws:
            return await connection_id(ws), await ask(ws, '{"action": "anything"}')

    # WHEN it connects and sends a message
    conn_id, message = run(scenario)

    # THEN the authorizer got a REQUEST event for the stage's $connect
    auth = recorded(lambda e: e.get("type") == "REQUEST" and _query(e).get("marker") == "shape")
    assert auth["methodArn"].endswith(":local/ws/$connect")
    assert auth["queryStringParameters"] == {"as": "alice", "marker": "shape"}
    assert auth["headers"]["x-shop-client"] == "Test"
    assert auth["multiValueHeaders"]["x-shop-client"] == ["Test"]
    assert auth["requestContext"]["eventType"] == "CONNECT"
    # AND the $connect route a CONNECT event with the connection's id in AWS's form
    connect = recorded(lambda e: "type" not in e and on_connection("CONNECT", conn_id)(e))
    assert connect["queryStringParameters"] == {"as": "alice", "marker": "shape"}
    context = connect["requestContext"]
    assert CONNECTION_ID.match(context["connectionId"])
    assert context["connectionId"] == conn_id
    assert (context["routeKey"], context["stage"], context["messageDirection"]) == (
        "$connect",
        "ws",
        "IN",
    )
    assert context["domainName"] == server.removeprefix("ws://")
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert isinstance(context["connectedAt"], int)
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["requestId"]
    assert context["apiId"] == "local"
    # AND the authorizer's principal and context reach the route, and every later message
    for seen in (context, message["requestContext"]):
        assert seen["authorizer"]["principalId"] == "alice"
        assert (seen["authorizer"]["userId"], seen["authorizer"]["tier"]) == ("alice", 3)
    # AND a message is a MESSAGE event with its own id, on the same connection
    assert message["requestContext"]["eventType"] == "MESSAGE"
    assert message["requestContext"]["messageId"]
    assert message["requestContext"]["connectionId"] == conn_id
    assert message["requestContext"]["connectedAt"] == context["connectedAt"]
    assert message["body"] == '{"action": "anything"}'
    assert message["isBase64Encoded"] is False


def _query(event: dict[str, Any]) -> dict[str, str]:
    return event.get("queryStringParameters") or {}


def test_messages_select_their_route_by_action_and_fall_back_to_default(server: str) -> None:
    # GIVEN a connection (anonymous: no ?as=)
    async def scenario() -> list[Any]:
        async with websockets.connect(f"{server}/ws") as ws:
            return [
                await ask(ws, '{"action": "nope"}'),  # no such route
                await ask(ws, "not json at all"),
                await ask(ws, '{"action": "$connect"}'),  # not selectable by a message
                await ask(ws, b"\x00\x01binary"),
            ]

    # WHEN messages name no route of the API
    replies = run(scenario)

    # THEN each goes to $default, whose reply comes back as a text frame
    assert [r["requestContext"]["routeKey"] for r in replies] == ["$default"] * 4
    assert replies[1]["body"] == "not json at all"
    # AND a binary frame arrives base64-encoded
    assert replies[3]["isBase64Encoded"] is True
    assert replies[3]["body"] == "AAFiaW5hcnk="
    # AND the anonymous connection carries the authorizer's anonymous principal
    assert replies[0]["requestContext"]["authorizer"]["principalId"] == "anonymous"


def test_one_way_route_sends_no_reply_but_runs(server: str) -> None:
    # GIVEN a route without a route response ("whisper")
    async def scenario() -> tuple[str, Any]:
        async with websockets.connect(f"{server}/ws") as ws:
            conn_id = await connection_id(ws)
            await ws.send('{"action": "whisper"}')
            return conn_id, await ask(ws, '{"action": "after"}')

    # WHEN a client sends to it, then another message
    conn_id, next_frame = run(scenario)

    # THEN the integration ran, and the next frame the client gets is the second reply
    recorded(on_connection("MESSAGE", conn_id))
    assert next_frame["requestContext"]["routeKey"] == "$default"


def test_failing_integration_answers_internal_server_error_and_keeps_the_socket(
    server: str,
) -> None:
    # GIVEN a two-way route whose function fails
    async def scenario() -> tuple[Any, Any]:
        async with websockets.connect(f"{server}/ws") as ws:
            failed = await ask(ws, '{"action": "explode"}')
            return failed, await ask(ws, '{"action": "still there?"}')

    # WHEN a client sends to it, then sends again
    failed, afterwards = run(scenario)

    # THEN it gets API Gateway's error message, and the connection still works
    assert failed["message"] == "Internal server error"
    assert CONNECTION_ID.match(failed["connectionId"])
    assert failed["requestId"]
    assert afterwards["requestContext"]["routeKey"] == "$default"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ws?as=deny", 403),  # the authorizer's policy denies
        ("/ws?as=bad", 401),  # the authorizer fails with "Unauthorized"
        ("/ws?as=crash", 500),  # the authorizer fails otherwise
        ("/ws?refuse=418", 418),  # the $connect route answers non-2xx
        ("/elsewhere", 403),  # not the stage's path
    ],
)
def test_refused_handshake_gets_the_status_and_the_server_stays_usable(
    server: str, path: str, status: int
) -> None:
    # GIVEN a connection attempt the gateway must refuse
    async def scenario() -> tuple[int, Any]:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{server}{path}"):
                pass
        async with websockets.connect(f"{server}/ws") as ws:
            return refused.value.response.status_code, await ask(ws, "ok?")

    # WHEN the client connects
    seen, afterwards = run(scenario)

    # THEN the upgrade is answered with that HTTP status, and the next client gets in
    assert seen == status
    assert afterwards["requestContext"]["eventType"] == "MESSAGE"


def test_disconnect_event_carries_the_close_code_and_reason(server: str) -> None:
    # GIVEN two connections, one closed with a code and reason, one with a bare close frame
    async def scenario() -> tuple[str, str]:
        async with websockets.connect(f"{server}/ws") as with_code:
            first = await connection_id(with_code)
            await with_code.close(4000, "bye now")
        bare = await websockets.connect(f"{server}/ws")
        second = await connection_id(bare)
        async with bare.send_context():  # a close frame without a status code
            bare.protocol.send_close()
        return first, second

    # WHEN they close
    first, second = run(scenario)

    # THEN $disconnect sees each close as AWS reports it
    closed = recorded(on_connection("DISCONNECT", first))["requestContext"]
    assert (closed["disconnectStatusCode"], closed["disconnectReason"]) == (4000, "bye now")
    assert closed["routeKey"] == "$disconnect"
    bare_close = recorded(on_connection("DISCONNECT", second))["requestContext"]
    assert bare_close["disconnectStatusCode"] == 1005
    assert bare_close["disconnectReason"] == "Client-side close frame status not set"


def test_frame_over_32_kb_closes_with_1009(server: str) -> None:
    # GIVEN a connection
    async def scenario() -> tuple[str, int | None, Any]:
        async with websockets.connect(f"{server}/ws") as ws:
            conn_id = await connection_id(ws)
            # WHEN the client sends one frame of 33 KB (under the 128 KB message limit)
            await ws.send("x" * (33 * 1024))
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
        async with websockets.connect(f"{server}/ws") as again:
            return conn_id, ws.close_code, await ask(again, "fine?")

    conn_id, code, afterwards = run(scenario)

    # THEN the connection is closed with 1009, $disconnect runs, the server serves on
    assert code == 1009
    assert (
        recorded(on_connection("DISCONNECT", conn_id))["requestContext"]["disconnectStatusCode"]
        == 1009
    )
    assert afterwards["requestContext"]["eventType"] == "MESSAGE"


def test_message_limit_is_128_kb_across_its_frames(server: str) -> None:
    # GIVEN a message of 120 KB and one of 136 KB, each sent in frames of 8 KB
    def fragments(kilobytes: int) -> list[str]:
        return ["y" * 8 * 1024] * (kilobytes // 8)

    async def scenario() -> tuple[Any, int | None]:
        async with websockets.connect(f"{server}/ws", max_size=None) as ws:
            await ws.send(fragments(120))
            accepted = json.loads(await ws.recv())
            await ws.send(fragments(136))
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return accepted, ws.close_code

    # WHEN both are sent
    accepted, code = run(scenario)

    # THEN the first reaches the route whole and the second closes the connection with 1009
    assert len(accepted["body"]) == 120 * 1024
    assert code == 1009


def test_idle_connection_is_closed_going_away(impatient_server: str) -> None:
    # GIVEN a gateway whose idle timeout is half a second
    async def scenario() -> tuple[str, int | None]:
        async with websockets.connect(f"{impatient_server}/ws") as ws:
            conn_id = await connection_id(ws)
            # WHEN the client stays silent
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), timeout=10)
            return conn_id, ws.close_code

    conn_id, code = run(scenario)

    # THEN the gateway closes it with 1001 and $disconnect is told so
    assert code == 1001
    closed = recorded(on_connection("DISCONNECT", conn_id))["requestContext"]
    assert closed["disconnectStatusCode"] == 1001


def test_a_busy_connection_still_ends_at_the_maximum_duration() -> None:
    # GIVEN the WebSocket API with a maximum connection duration of 0.3 s (AWS: 2 hours)
    template = _template()
    assert template.websocket is not None
    runtimes = {name: FunctionRuntime(spec) for name, spec in template.functions.items()}
    api = WebSocketApi(template.websocket, runtimes, max_connection_seconds=0.3)
    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}

    async def scenario() -> list[dict[str, Any]]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "websocket.connect"})
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "websocket.close":  # as uvicorn reports its own close
                await inbox.put({**message, "type": "websocket.disconnect"})

        async def chatter() -> None:  # WHEN the client never stops talking
            while True:
                await inbox.put({"type": "websocket.receive", "text": "still here"})
                await asyncio.sleep(0.05)

        talking = asyncio.create_task(chatter())
        try:
            await api.handle(scope, inbox.get, send)
        finally:
            talking.cancel()
        return sent

    try:
        sent = run(scenario)
    finally:
        for runtime in runtimes.values():
            runtime.shutdown()

    # THEN the gateway still closes it, going away, and $disconnect is told so
    closes = [m for m in sent if m["type"] == "websocket.close"]
    assert [(m["code"], m["reason"]) for m in closes] == [(1001, "Going away")]
    (accepted,) = [m for m in sent if m["type"] == "websocket.accept"]
    assert sent.index(accepted) < sent.index(closes[0])
    replies = [json.loads(m["text"]) for m in sent if m["type"] == "websocket.send"]
    conn_id = replies[0]["requestContext"]["connectionId"]
    closed = recorded(on_connection("DISCONNECT", conn_id))["requestContext"]
    assert closed["disconnectStatusCode"] == 1001
