"""Reading the VENDYZ stream from tests as a consumer (the bridge) would: nats-py JetStream."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import nats

from vendyz.core.jetstream import STREAM


def fresh_subject() -> str:
    """A subject of the stream that no other test or function publishes on."""
    return f"inventory.test-{uuid.uuid4().hex[:12]}"


async def _stored_ids(nats_url: str, subject: str) -> list[str]:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        info = await js.stream_info(STREAM, subjects_filter=subject)
        expected = sum((info.state.subjects or {}).values())
        subscription = await js.pull_subscribe(subject, stream=STREAM)  # ephemeral
        ids: list[str] = []
        while len(ids) < expected:
            for message in await subscription.fetch(min(256, expected - len(ids)), timeout=5):
                ids.append((message.headers or {}).get("Nats-Msg-Id", ""))
        await subscription.unsubscribe()
        return ids
    finally:
        await client.close()


def stored_ids(nats_url: str, subject: str) -> Counter[str]:
    """How many times the stream holds each Nats-Msg-Id on `subject`."""
    return Counter(asyncio.run(_stored_ids(nats_url, subject)))
