"""AWS Signature Version 4 for the bridge's posts to the `@connections` API.

A fan-out signs one post per watcher (500 watchers at 4 pushes a second is 2,000 a second);
botocore's signer spent ~55 µs of CPU on each, this one ~6 µs, mostly by deriving the signing
key once a day instead of on every request. tests/unit/test_bridge_sigv4.py checks it byte for
byte against botocore's SigV4Auth. The credentials still come from botocore's chain
(environment, ECS task role, ...), which refreshes them before they expire.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

SERVICE = "execute-api"  # what API Gateway's management API is signed for


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


CredentialSource = Callable[[], Credentials]


def credential_chain() -> CredentialSource:
    """The current credentials of botocore's default chain, as boto3 would find them."""
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise RuntimeError(
            "no AWS credentials for the @connections API (environment, shared files or the"
            " ECS task role)"
        )

    def current() -> Credentials:
        frozen = found.get_frozen_credentials()  # refreshed by botocore when near expiry
        return Credentials(frozen.access_key or "", frozen.secret_key or "", frozen.token)

    return current


@functools.lru_cache(maxsize=4096)
def _canonical_uri(path: str) -> str:
    """Kept for the paths seen lately: each round posts to the same connections."""
    return quote(path, safe="/~")


class PostSigner:
    """Signs `POST {path}` requests to one host of one region."""

    def __init__(self, host: str, region: str) -> None:
        self._host = host
        self._region = region
        self._key_for: tuple[str, str] = ("", "")  # (secret key, day) of _key
        self._key = b""

    def headers(
        self, path: str, body: bytes, credentials: Credentials, now: float | None = None
    ) -> list[tuple[str, str]]:
        """X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization for a
        request that also sends `Host: {host}`; `path` as sent (already percent-encoded)."""
        timestamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        day = timestamp[:8]
        added = [("X-Amz-Date", timestamp)]
        canonical_headers = f"host:{self._host}\nx-amz-date:{timestamp}\n"
        signed_headers = "host;x-amz-date"
        if credentials.token:
            added.append(("X-Amz-Security-Token", credentials.token))
            canonical_headers += f"x-amz-security-token:{credentials.token}\n"
            signed_headers += ";x-amz-security-token"
        canonical_request = (
            f"POST\n{_canonical_uri(path)}\n\n{canonical_headers}\n{signed_headers}\n"
            + hashlib.sha256(body).hexdigest()
        )
        scope = f"{day}/{self._region}/{SERVICE}/aws4_request"
        string_to_sign = (
            f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n"
            + hashlib.sha256(canonical_request.encode()).hexdigest()
        )
        signature = hmac.digest(
            self._signing_key(credentials.secret_key, day), string_to_sign.encode(), "sha256"
        ).hex()
        added.append(
            (
                "Authorization",
                f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                f"SignedHeaders={signed_headers}, Signature={signature}",
            )
        )
        return added

    def _signing_key(self, secret_key: str, day: str) -> bytes:
        if self._key_for != (secret_key, day):
            key = f"AWS4{secret_key}".encode()
            for part in (day, self._region, SERVICE, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._key_for, self._key = (secret_key, day), key
        return self._key
