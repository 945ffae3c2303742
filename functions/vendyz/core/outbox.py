"""The transactional outbox of one service schema.

An event is written in the transaction that makes the change; after commit, `publish` sends
it to the JetStream stream, waits for its PubAck and marks it sent (one UPDATE for the batch),
all before it returns: nothing is left to do once the handler has answered, so a Lambda
instance frozen after its reply strands nothing. What JetStream did not ack stays unsent, and
the scheduled relay publishes it later: every committed change yields its event at least once
(stored once in the stream, which de-duplicates by event id), and a rolled-back change yields
none.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from vendyz.core.db import Connection
from vendyz.core.events import Event, EventPublisher, new_event

RELAY_BATCH = 500
# Rows younger than this are left alone: their request may still be publishing them.
RELAY_AFTER_SECONDS = 5.0

log = logging.getLogger(__name__)


class Outbox:
    def __init__(
        self, schema: str, pool: ConnectionPool[Connection], publisher: EventPublisher
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        # Schema names come from code, never from a request.
        self._insert = (
            f"INSERT INTO {schema}.outbox (event_id, subject, payload) VALUES (%s, %s, %s)"
        )
        self._mark = f"UPDATE {schema}.outbox SET published_at = now() WHERE event_id = ANY(%s)"
        self._unsent = (
            f"SELECT event_id::text, subject, payload FROM {schema}.outbox"
            " WHERE published_at IS NULL AND created_at < now() - make_interval(secs => %s)"
            " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED"
        )

    def add(self, conn: Connection, subject: str, payload: dict[str, Any]) -> Event:
        """Write an event in the caller's transaction."""
        event = new_event(subject, payload)
        conn.execute(self._insert, (event.event_id, subject, Jsonb(event.payload)))
        return event

    def publish(self, events: list[Event]) -> list[str]:
        """After commit: publish, and mark sent what JetStream acked (one NATS round trip and
        one UPDATE); returns those event ids. Never raises: the rest stays for the relay."""
        sent = self._publisher.publish(events)
        if sent:
            try:
                with self._pool.connection() as conn:
                    conn.execute(self._mark, (sent,))
            except psycopg.Error:  # in the stream already: the relay's re-publish is a duplicate
                log.warning("could not mark %d outbox events sent", len(sent), exc_info=True)
                return []
        return sent

    def relay(self, *, older_than_seconds: float = RELAY_AFTER_SECONDS) -> int:
        """Publish rows left unsent for a while (crash, NATS outage); returns how many."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(self._unsent, (older_than_seconds, RELAY_BATCH)).fetchall()
            events = [Event(r["event_id"], r["subject"], r["payload"]) for r in rows]
            sent = self._publisher.publish(events)
            if sent:
                conn.execute(self._mark, (sent,))
        return len(sent)
