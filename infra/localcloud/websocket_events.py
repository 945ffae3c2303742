"""The events API Gateway's WebSocket API hands its Lambda integrations and its `$connect`
authorizer, in AWS's shapes. One difference: header names arrive lowercased (uvicorn's HTTP
parser lowers them before the upgrade), where AWS keeps the client's case."""

from __future__ import annotations

import base64
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from localcloud.template import LOCAL_ACCOUNT, LOCAL_REGION

API_ID = "local"


def new_connection_id(worker_tag: bytes) -> str:
    """16 characters ending in '=', as AWS's (base64 of 11 bytes). The first bytes name the
    worker process holding the connection, so a @connections call reaching another worker knows
    where to relay it; the rest is random."""
    return base64.urlsafe_b64encode(worker_tag + os.urandom(11 - len(worker_tag))).decode()


def worker_tag_of(connection_id: str, tag_length: int) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(connection_id.encode())
    except ValueError:
        return None
    return raw[:tag_length] if len(raw) == 11 else None


def _request_id() -> str:
    return base64.b64encode(uuid.uuid4().bytes[:9]).decode().replace("/", "_") + "="


@dataclass
class ConnectionContext:
    """What API Gateway knows of a connection and repeats on each of its events."""

    connection_id: str
    stage: str
    domain_name: str
    source_ip: str
    user_agent: str
    connected_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    # The $connect authorizer's output ({principalId, integrationLatency, **context}).
    authorizer: dict[str, Any] | None = None

    def request_context(self, route_key: str, event_type: str) -> dict[str, Any]:
        now = time.time()
        request_id = _request_id()
        context: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at_ms,
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": self.source_ip, "userAgent": self.user_agent},
            "requestId": request_id,
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": API_ID,
        }
        if self.authorizer is not None:
            context["authorizer"] = dict(self.authorizer)
        return context

    @property
    def connect_arn(self) -> str:
        return f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{API_ID}/{self.stage}/$connect"


@dataclass(frozen=True)
class Handshake:
    """The upgrade request: its headers (as sent) and query string."""

    headers: list[tuple[str, str]]
    query_string: str
    source_ip: str

    def request_parts(self) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        forwarded = [("x-forwarded-for", self.source_ip), ("x-forwarded-proto", "http")]
        for name, value in self.headers + forwarded:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for key, value in parse_qsl(self.query_string, keep_blank_values=True):
            query[key] = value  # the last value wins, as in AWS's single-value map
            multi_query.setdefault(key, []).append(value)
        parts: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi_headers}
        if query:
            parts["queryStringParameters"] = query
            parts["multiValueQueryStringParameters"] = multi_query
        return parts


def authorizer_event(connection: ConnectionContext, handshake: Handshake) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": connection.connect_arn,
        **handshake.request_parts(),
        "stageVariables": {},
        "requestContext": connection.request_context("$connect", "CONNECT"),
    }


def connect_event(connection: ConnectionContext, handshake: Handshake) -> dict[str, Any]:
    return {
        **handshake.request_parts(),
        "requestContext": connection.request_context("$connect", "CONNECT"),
        "isBase64Encoded": False,
    }


def message_event(
    connection: ConnectionContext, route_key: str, body: str, *, is_base64: bool
) -> dict[str, Any]:
    context = connection.request_context(route_key, "MESSAGE")
    context["messageId"] = _request_id()
    return {"requestContext": context, "body": body, "isBase64Encoded": is_base64}


def disconnect_event(connection: ConnectionContext, code: int, reason: str) -> dict[str, Any]:
    context = connection.request_context("$disconnect", "DISCONNECT")
    context["disconnectStatusCode"] = code
    context["disconnectReason"] = reason
    headers = {
        "Host": connection.domain_name,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    }
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }
