"""AWS Signature Version 4 for one JSON POST, as the Lambda Invoke API expects it.

A few lines of hashlib instead of botocore's signer: importing botocore costs ~150 ms of cold
start, and the order path signs one request per order. tests/unit/test_sigv4.py checks the
result against botocore's own SigV4Auth.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

# What LocalStack accepts (it ignores the keys but reads the region from the signature).
LOCAL_CREDENTIALS = ("test", "test")


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None

    @classmethod
    def from_environment(cls, *, local: bool) -> Credentials:
        """The execution role's keys, which Lambda puts in every function's environment.
        `local`: an emulator is the endpoint; without keys in the environment it gets dummies."""
        access_key = os.environ.get("AWS_ACCESS_KEY_ID")
        secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if access_key and secret_key:
            return cls(access_key, secret_key, os.environ.get("AWS_SESSION_TOKEN") or None)
        if local:
            return cls(*LOCAL_CREDENTIALS)
        raise RuntimeError(
            "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
        )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def sign(
    *,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    region: str,
    service: str,
    credentials: Credentials,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign `POST https://{host}{path}` with `headers` and `body`:
    X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization.

    `path` is as sent (already percent-encoded); every header given is signed, plus Host."""
    timestamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    added = {"X-Amz-Date": timestamp}
    if credentials.token:
        added["X-Amz-Security-Token"] = credentials.token
    signed = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    signed |= {name.lower(): value for name, value in added.items()}
    signed["host"] = host
    names = sorted(signed)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        [
            "POST",
            quote(path, safe="/~"),  # SigV4 encodes the (already encoded) path once more
            "",  # no query string
            "".join(f"{name}:{signed[name]}\n" for name in names),
            signed_headers,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{timestamp[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            timestamp,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac(f"AWS4{credentials.secret_key}".encode(), timestamp[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = _hmac(key, string_to_sign).hex()
    added["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return added
