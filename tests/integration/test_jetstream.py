"""ensure_stream against a real NATS server: creates stream VENDYZ as the design says, brings a
differing one in line, and is safe to repeat."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

from localcloud.services import DataServices
from vendyz.core.jetstream import (
    DUPLICATE_WINDOW_SECONDS,
    MAX_AGE_SECONDS,
    STREAM,
    SUBJECTS,
    JetStreamError,
    ensure_stream,
)


def assert_as_designed(config: dict[str, object]) -> None:
    assert config["name"] == STREAM
    assert sorted(config["subjects"]) == sorted(SUBJECTS)  # type: ignore[arg-type]
    assert config["storage"] == "file"
    assert config["duplicate_window"] == DUPLICATE_WINDOW_SECONDS * 10**9
    assert config["max_age"] == MAX_AGE_SECONDS * 10**9


def test_the_stream_is_created_once_and_a_repeat_changes_nothing(
    own_nats: tuple[DataServices, str],
) -> None:
    _, url = own_nats
    # WHEN the stream is ensured on a server without it, then again
    created = ensure_stream(url)
    again = ensure_stream(url)
    # THEN it has the design's subjects, storage, duplicate window and max age, both times
    assert_as_designed(created)
    assert again == created


def test_a_stream_with_other_settings_is_brought_in_line(
    own_nats: tuple[DataServices, str],
) -> None:
    _, url = own_nats

    async def create_outdated() -> None:
        client = await nats.connect(url)
        await client.jetstream().add_stream(
            StreamConfig(name=STREAM, subjects=["inventory.>"], duplicate_window=10)
        )
        await client.close()

    # GIVEN stream VENDYZ made earlier with fewer subjects and a 10 s duplicate window
    asyncio.run(create_outdated())
    # WHEN it is ensured  THEN it has the design's settings
    assert_as_designed(ensure_stream(url))


def test_a_nats_server_without_jetstream_is_a_clear_error() -> None:
    # GIVEN a NATS server started without JetStream
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "nats-server"), "-a", "127.0.0.1", "-p", str(port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        # WHEN the stream is ensured  THEN it fails, saying why
        with pytest.raises(JetStreamError, match="JetStream is not enabled"):
            ensure_stream(f"nats://127.0.0.1:{port}", timeout_seconds=2)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_nothing_listening_is_an_error_not_a_hang() -> None:
    # WHEN the stream is ensured where no NATS server listens  THEN it fails at once
    with pytest.raises(ConnectionRefusedError):
        ensure_stream(f"nats://127.0.0.1:{free_port()}", timeout_seconds=2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise AssertionError(f"nothing listened on port {port}")
