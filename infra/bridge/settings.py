"""The bridge's configuration, from its environment (the same names as the functions')."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

REQUIRED = ("NATS_URL", "REDIS_URL", "DATABASE_URL", "CONNECTIONS_ENDPOINT_URL")
DEFAULT_HEARTBEAT_SECONDS = 60.0


class SettingsError(ValueError):
    """The environment lacks or garbles a variable; the message names it."""


@dataclass(frozen=True)
class Settings:
    nats_url: str
    redis_url: str
    database_url: str
    connections_endpoint_url: str  # the WebSocket API's stage URL (https://{api}.../{stage})
    heartbeat_seconds: float
    region: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise SettingsError(f"missing environment variable(s): {', '.join(missing)}")
        raw = env.get("HEARTBEAT_INTERVAL_SECONDS") or str(DEFAULT_HEARTBEAT_SECONDS)
        try:
            heartbeat = float(raw)
        except ValueError:
            raise SettingsError(f"HEARTBEAT_INTERVAL_SECONDS: not a number: {raw!r}") from None
        if heartbeat <= 0:
            raise SettingsError(f"HEARTBEAT_INTERVAL_SECONDS: must be positive, not {raw}")
        return cls(
            nats_url=env["NATS_URL"],
            redis_url=env["REDIS_URL"],
            database_url=env["DATABASE_URL"],
            connections_endpoint_url=env["CONNECTIONS_ENDPOINT_URL"].rstrip("/"),
            heartbeat_seconds=heartbeat,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        )
