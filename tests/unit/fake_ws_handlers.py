"""Tiny WebSocket integrations and a $connect authorizer for the local WebSocket API's tests,
loaded by dotted path as the local cloud loads template.yaml's handlers. Each instance is a
process of its own, so what they saw goes to ws-events.log under env FAKE_CALLS_DIR, for the
test to read (`events`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _record(event: dict[str, Any]) -> None:
    with (Path(os.environ["FAKE_CALLS_DIR"]) / "ws-events.log").open("a") as log:
        log.write(json.dumps(event) + "\n")


def events(calls_dir: Path) -> list[dict[str, Any]]:
    log = calls_dir / "ws-events.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _query(event: dict[str, Any]) -> dict[str, str]:
    return event.get("queryStringParameters") or {}


def gate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """?as=<user> allows that user, ?as=deny answers a Deny policy, ?as=bad fails with
    "Unauthorized", ?as=crash with another error; no ?as= allows an anonymous caller."""
    _record(event)
    who = _query(event).get("as", "")
    if who == "bad":
        raise Exception("Unauthorized")
    if who == "crash":
        raise RuntimeError("the authorizer broke")
    effect = "Deny" if who == "deny" else "Allow"
    return {
        "principalId": who or "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}
            ],
        },
        "context": {"userId": who, "tier": 3},
    }


def lifecycle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """$connect and $disconnect: records the event; ?refuse=<status> refuses the connection."""
    _record(event)
    refuse = _query(event).get("refuse")
    if refuse:
        return {"statusCode": int(refuse), "body": "not today"}
    return {"statusCode": 200}


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A two-way route: answers with the event it received."""
    return {"statusCode": 200, "body": json.dumps(event)}


def silent(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A one-way route: records the event; its reply body goes nowhere."""
    _record(event)
    return {"statusCode": 200, "body": "nobody hears this"}


def boom(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("integration failed")
