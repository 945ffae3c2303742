"""@connections calls between worker processes. `vendyz up` runs several workers on one port;
a WebSocket connection lives in the one that accepted it, but a management call may reach any.
Each worker listens on a Valkey pub/sub channel of its own (named by the tag its connection
ids carry); a worker holding no such connection publishes the call there and waits for the
answer on its own channel."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis import asyncio as aioredis

from localcloud.responses import HttpResponse

log = logging.getLogger("localcloud")

CHANNEL_PREFIX = "localcloud:ws:worker:"
ANSWER_TIMEOUT_SECONDS = 5.0

# (method, connection id, body) -> the answer, served by the worker holding the connection
ServeCall = Callable[[str, str, bytes], Awaitable[HttpResponse]]


class OwnerUnresponsive(RuntimeError):
    """The worker holding the connection did not answer in time."""


def _encode(response: HttpResponse) -> dict[str, Any]:
    return {
        "status": response.status,
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in response.headers],
        "body": base64.b64encode(response.body).decode(),
    }


def _decode(answer: dict[str, Any]) -> HttpResponse:
    return HttpResponse(
        int(answer["status"]),
        [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer["headers"]],
        base64.b64decode(answer["body"]),
    )


class ConnectionRelay:
    def __init__(self, redis_url: str, tag_bytes: int) -> None:
        self.worker_tag = os.urandom(tag_bytes)
        self._redis = aioredis.Redis.from_url(redis_url, socket_connect_timeout=2)
        self._serve: ServeCall | None = None
        self._answers: dict[str, asyncio.Future[HttpResponse]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._answering: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    def serve_with(self, serve: ServeCall) -> None:
        self._serve = serve

    async def ensure_started(self) -> None:
        """Listen on this worker's channel, from its first connection or relayed call on."""
        async with self._lock:
            if self._listener is not None and not self._listener.done():
                return
            pubsub = self._redis.pubsub()
            await pubsub.subscribe(_channel(self.worker_tag))
            # The confirmation: from here on a call published to us is received.
            await pubsub.get_message(timeout=2)
            self._listener = asyncio.create_task(self._listen(pubsub))

    async def forward(
        self, owner_tag: bytes, method: str, connection_id: str, body: bytes
    ) -> HttpResponse | None:
        """The owner's answer; None when no worker of that tag is listening (it is gone, and
        its connections with it)."""
        await self.ensure_started()
        call_id = uuid.uuid4().hex
        answer = asyncio.get_running_loop().create_future()
        self._answers[call_id] = answer
        call = {
            "call": call_id,
            "answerTo": self.worker_tag.hex(),
            "method": method,
            "connectionId": connection_id,
            "body": base64.b64encode(body).decode(),
        }
        try:
            if not await self._redis.publish(_channel(owner_tag), json.dumps(call)):
                return None
            try:
                return await asyncio.wait_for(answer, ANSWER_TIMEOUT_SECONDS)
            except TimeoutError:
                raise OwnerUnresponsive(connection_id) from None
        finally:
            self._answers.pop(call_id, None)

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    payload = json.loads(message["data"])
                except ValueError:
                    log.warning("relay: ignored a malformed message")
                    continue
                if "call" in payload:
                    task = asyncio.create_task(self._answer(payload))
                    self._answering.add(task)
                    task.add_done_callback(self._answering.discard)
                elif "answer" in payload:
                    waiting = self._answers.get(str(payload["answer"]))
                    if waiting is not None and not waiting.done():
                        waiting.set_result(_decode(payload))
        except Exception as exc:  # Valkey went away: the next call subscribes again
            log.warning("relay: stopped listening: %s", exc)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _answer(self, call: dict[str, Any]) -> None:
        assert self._serve is not None, "serve_with() was not called"
        try:
            response = await self._serve(
                str(call["method"]), str(call["connectionId"]), base64.b64decode(call["body"])
            )
            answer = {"answer": call["call"], **_encode(response)}
            await self._redis.publish(_channel(bytes.fromhex(call["answerTo"])), json.dumps(answer))
        except Exception as exc:  # the caller times out and answers 500
            log.warning("relay: could not answer a call: %s", exc)


def _channel(tag: bytes) -> str:
    return CHANNEL_PREFIX + tag.hex()
