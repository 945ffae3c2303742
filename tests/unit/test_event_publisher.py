"""EventPublisher against a scripted stand-in for JetStream on a loopback socket: what counts as
published is exactly what got a PubAck, whatever else the server says or fails to say.
(The real server's behaviour is tested in tests/integration/test_outbox.py.)"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from vendyz.core.events import EventPublisher, new_event

# Given a publish's reply subject and payload, the frame(s) to answer with (b"" for none;
# None closes the connection).
Answer = Callable[[bytes, bytes], bytes | None]


def ack(reply_to: bytes, _: bytes) -> bytes:
    body = b'{"stream":"VENDYZ","seq":1}'
    return b"MSG %s 1 %d\r\n%s\r\n" % (reply_to, len(body), body)


class FakeJetStream:
    """Speaks NATS' INFO, then answers each HPUB as `answer` says."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"nats://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b'INFO {"server_id":"fake","headers":true}\r\n')
        with conn, reader:
            while line := reader.readline():
                if line.startswith(b"HPUB "):
                    _, _, reply_to, _, total = line.split()
                    body = reader.read(int(total) + 2)[:-2]
                    answer = self.answer(reply_to, body.split(b"\r\n\r\n", 1)[1])
                    if answer is None:
                        return
                    conn.sendall(answer)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def fake() -> Iterator[Callable[[Answer], FakeJetStream]]:
    servers: list[FakeJetStream] = []

    def start(answer: Answer) -> FakeJetStream:
        servers.append(FakeJetStream(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_only_the_acked_events_of_a_batch_count_as_published(
    fake: Callable[[Answer], FakeJetStream],
) -> None:
    # GIVEN a server that acks "keep" events, refuses others with a JetStream error, and sends
    # a keep-alive PING in between (which the publisher must answer and read past)
    def answer(reply_to: bytes, payload: bytes) -> bytes:
        if b'"keep"' in payload:
            return b"PING\r\n" + ack(reply_to, payload)
        error = b'{"error":{"code":503,"err_code":10077,"description":"store full"}}'
        return b"MSG %s 1 %d\r\n%s\r\n" % (reply_to, len(error), error)

    server = fake(answer)
    publisher = EventPublisher(server.url)
    events = [new_event("inventory.updated", {"kind": k}) for k in ("keep", "drop", "keep")]
    # WHEN the three are published in one call
    published = publisher.publish(events)
    # THEN the two acked ones are published and the refused one is not
    assert published == [events[0].event_id, events[2].event_id]
    # AND the connection is kept for the next call
    assert publisher.publish([events[0]]) == [events[0].event_id]
    assert server.connections == 1
    publisher.close()


def test_no_ack_in_time_is_not_published_and_the_connection_is_replaced(
    fake: Callable[[Answer], FakeJetStream],
) -> None:
    # GIVEN a server that takes publishes but never answers
    server = fake(lambda _reply_to, _payload: b"")
    publisher = EventPublisher(server.url, timeout_seconds=0.2)
    # WHEN an event is published  THEN it is not counted as published (left for the relay)
    assert publisher.publish([new_event("inventory.updated", {})]) == []
    # AND the next call does not reuse the connection whose replies may still come
    assert publisher.publish([new_event("inventory.updated", {})]) == []
    assert server.connections == 2
    publisher.close()


def test_a_server_that_drops_a_kept_connection_gets_one_retry_on_a_fresh_one(
    fake: Callable[[Answer], FakeJetStream],
) -> None:
    calls = {"n": 0}

    def answer(reply_to: bytes, payload: bytes) -> bytes | None:
        calls["n"] += 1
        return None if calls["n"] == 2 else ack(reply_to, payload)

    # GIVEN a kept connection that the server then drops (as after an idle spell)
    server = fake(answer)
    publisher = EventPublisher(server.url)
    first = new_event("inventory.updated", {})
    assert publisher.publish([first]) == [first.event_id]
    # WHEN the next event is published on it
    second = new_event("inventory.updated", {})
    # THEN it is published on a fresh connection (JetStream de-duplicates a re-send by id)
    assert publisher.publish([second]) == [second.event_id]
    assert server.connections == 2
    publisher.close()
