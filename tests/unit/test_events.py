"""What counts as published: only a JetStream PubAck (vendyz.core.events)."""

from __future__ import annotations

import pytest

from vendyz.core.events import _stored
from vendyz.core.nats_client import Reply


@pytest.mark.parametrize(
    ("reply", "stored"),
    [
        (Reply(200, b'{"stream":"VENDYZ","seq":7}'), True),
        (Reply(200, b'{"stream":"VENDYZ","seq":7,"duplicate":true}'), True),  # re-publish
        (Reply(200, b'{"error":{"code":503,"err_code":10077,"description":"full"}}'), False),
        (Reply(200, b'{"stream":"OTHER","seq":7}'), False),  # stored, but not in our stream
        (Reply(503, b""), False),  # no responders: no stream captures the subject
        (Reply(200, b"not json"), False),
        (Reply(200, b"[1]"), False),
        (None, False),  # no reply in time
    ],
    ids=[
        "ack",
        "duplicate",
        "error",
        "other-stream",
        "no-responders",
        "garbage",
        "not-an-object",
        "timeout",
    ],
)
def test_only_a_pub_ack_counts_as_stored(reply: Reply | None, stored: bool) -> None:
    assert _stored(reply) is stored
