"""Secrets Manager's GetSecretValue: one signed JSON POST over http.client.

boto3 (through Powertools Parameters) put ~0.5 s of CPU and ~20 MB on the first request of
every instance that verifies tokens; a burst of new authorizer instances then ran past its
timeout. The endpoint is AWS's regional one, or AWS_ENDPOINT_URL_SECRETS_MANAGER (then
AWS_ENDPOINT_URL), the variables boto3 reads, so an emulator serves it unchanged.
"""

from __future__ import annotations

import json
import os
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import urlsplit

from vendyz.core.sigv4 import Credentials, sign

_HEADERS = {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": "secretsmanager.GetSecretValue",
}


class SecretUnavailable(Exception):
    """The secret could not be read (no reply, refused, missing, or not a string)."""


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def get_secret_string(name: str, *, timeout_seconds: float = 3.0) -> str:
    """The SecretString of the secret `name` (a name or an ARN)."""
    region = _region()
    endpoint = (
        os.environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        or os.environ.get("AWS_ENDPOINT_URL")
        or f"https://secretsmanager.{region}.amazonaws.com"
    )
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SecretUnavailable(f"not an http(s) endpoint URL: {endpoint!r}")
    body = json.dumps({"SecretId": name}).encode()
    signature = sign(
        host=parts.netloc,
        path="/",
        headers=_HEADERS,
        body=body,
        region=region,
        service="secretsmanager",
        credentials=Credentials.from_environment(local=False),
    )
    connection_type = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    connection = connection_type(parts.hostname, parts.port, timeout=timeout_seconds)
    try:
        connection.request("POST", "/", body, {**_HEADERS, **signature, "Host": parts.netloc})
        reply = connection.getresponse()
        payload = reply.read()
    except (OSError, HTTPException) as exc:
        raise SecretUnavailable(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
    try:
        document = json.loads(payload)
    except ValueError:
        document = {}
    if reply.status != 200:
        error = document.get("__type", "") if isinstance(document, dict) else ""
        raise SecretUnavailable(f"{reply.status} {error}: {payload[:200]!r}")
    value = document.get("SecretString") if isinstance(document, dict) else None
    if not isinstance(value, str):
        raise SecretUnavailable(f"the secret {name!r} has no SecretString")
    return value
