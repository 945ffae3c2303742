"""The bridge's durable JetStream consumer on the stream VENDYZ.

The consumer lives on the server, so a bridge that stops (or dies) resumes after the last
event it acknowledged; delivery is at least once, so events are de-duplicated by their id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bridge.timing import sleep_unless

log = logging.getLogger(__name__)

STREAM = "VENDYZ"
DURABLE = "bridge"
# An event not acknowledged within this is delivered again (a push may hold its ack ~0.3 s).
ACK_WAIT_SECONDS = 10.0
# Events handed out and not yet acknowledged; a sale's burst waits here for its stock push.
MAX_ACK_PENDING = 20_000
FETCH_BATCH = 256
# nats-py's fetch, once a first event is in, waits for the batch to fill until this deadline:
# it bounds how long an event sits in the client before it is handled.
FETCH_WAIT_SECONDS = 0.05
RETRY_SECONDS = 1.0
# Ids kept for de-duplication: an event comes again only while unacknowledged (at most
# MAX_ACK_PENDING of them), so twice that many cover the deliveries between a first delivery
# and its redelivery ACK_WAIT_SECONDS later at up to ~4,000 events a second.
REMEMBERED_EVENT_IDS = 2 * MAX_ACK_PENDING

Ack = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Delivery:
    event_id: str
    subject: str
    payload: dict[str, Any]
    ack: Ack


Handler = Callable[[Delivery], Awaitable[None]]


class _RecentIds:
    """The last `size` event ids seen, oldest forgotten first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> bool:
        """False if the id was seen already."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


def _acker(msg: Msg) -> Ack:
    async def ack() -> None:
        try:
            await msg.ack()
        except nats.errors.Error as error:  # JetStream's errors included
            # Unacknowledged, it is delivered again after ACK_WAIT_SECONDS (and de-duplicated).
            log.warning("could not acknowledge %s: %s", msg.subject, error)

    return ack


class DurableConsumer:
    def __init__(self, js: JetStreamContext, handle: Handler, *, durable: str = DURABLE) -> None:
        self._js = js
        self._handle = handle
        self._durable = durable
        self._seen = _RecentIds(REMEMBERED_EVENT_IDS)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            subscription = await self._subscribe(stop)
            if subscription is None:
                return
            try:
                await self._consume(subscription, stop)
            except nats.errors.Error as error:  # JetStream's errors included
                log.warning("consuming %s stopped (%s); subscribing again", STREAM, error)
                await sleep_unless(stop, RETRY_SECONDS)
            finally:
                # (a dropped connection took the subscription with it)
                with contextlib.suppress(nats.errors.Error):
                    await subscription.unsubscribe()

    async def _subscribe(self, stop: asyncio.Event) -> JetStreamContext.PullSubscription | None:
        """Bind to the durable consumer, creating it if needed; waits for the stream (another
        part creates it) and for the server. None once `stop` is set."""
        config = ConsumerConfig(
            durable_name=self._durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_SECONDS,
            max_ack_pending=MAX_ACK_PENDING,
        )
        waiting_logged = False
        while not stop.is_set():
            try:
                try:
                    await self._js.consumer_info(STREAM, self._durable)
                except nats.js.errors.NotFoundError:
                    await self._js.add_consumer(STREAM, config)
                return await self._js.pull_subscribe_bind(durable=self._durable, stream=STREAM)
            except nats.errors.Error as error:  # JetStream's errors included
                if not waiting_logged:
                    log.info("waiting for stream %s: %s", STREAM, error)
                    waiting_logged = True
            await sleep_unless(stop, RETRY_SECONDS)
        return None

    async def _consume(
        self, subscription: JetStreamContext.PullSubscription, stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_WAIT_SECONDS)
            except TimeoutError:  # nats.errors.TimeoutError is one too
                continue
            for msg in messages:
                await self._deliver(msg)

    async def _deliver(self, msg: Msg) -> None:
        ack = _acker(msg)
        try:
            payload = json.loads(msg.data)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            log.warning("dropping a %s event that is not a JSON object", msg.subject)
            await ack()
            return
        event_id = str((msg.headers or {}).get("Nats-Msg-Id") or payload.get("eventId") or "")
        if event_id and not self._seen.add(event_id):
            await ack()
            return
        await self._handle(Delivery(event_id, msg.subject, payload, ack))
