"""Reading the VENDYZ stream from tests as a consumer (the bridge) would: nats-py JetStream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from vendyz.core.jetstream import STREAM


def fresh_subject() -> str:
    """A subject of the stream that no other test or function publishes on."""
    return f"inventory.test-{uuid.uuid4().hex[:12]}"


async def _stored(nats_url: str, subject: str, since: datetime | None) -> list[tuple[str, Any]]:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
            opt_start_time=since.isoformat() if since else None,
        )
        subscription = await js.pull_subscribe(subject, stream=STREAM, config=config)  # ephemeral
        expected = (await subscription.consumer_info()).num_pending or 0
        stored: list[tuple[str, Any]] = []
        while len(stored) < expected:
            for message in await subscription.fetch(min(256, expected - len(stored)), timeout=5):
                msg_id = (message.headers or {}).get("Nats-Msg-Id", "")
                stored.append((msg_id, json.loads(message.data)))
        await subscription.unsubscribe()
        return stored
    finally:
        await client.close()


def stored_messages(
    nats_url: str, subject: str, since: datetime | None = None
) -> list[tuple[str, Any]]:
    """(Nats-Msg-Id, payload) of each message the stream holds on `subject` (stored after
    `since`), oldest first."""
    return asyncio.run(_stored(nats_url, subject, since))


def stored_ids(nats_url: str, subject: str, since: datetime | None = None) -> Counter[str]:
    """How many times the stream holds each Nats-Msg-Id on `subject` (stored after `since`)."""
    return Counter(msg_id for msg_id, _ in stored_messages(nats_url, subject, since))
