"""Checking AWS Signature Version 4 on a request, as AWS's APIs do: the Invoke API and the
`@connections` API accept only requests signed with the local cloud's credentials, and refuse
the others with AWS's own 403 answers."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

from localcloud.local_secrets import LocalSecrets
from localcloud.responses import HttpResponse, Scope, json_response, request_headers

MAX_CLOCK_SKEW = timedelta(minutes=15)  # as AWS allows
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")

_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check"
    " your AWS Secret Access Key and signing method. Consult the service documentation for"
    " details."
)


def _refusal(error_type: str, message: str) -> HttpResponse:
    return json_response(403, {"message": message}, {"x-amzn-errortype": error_type})


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode(), "sha256")  # one call into OpenSSL


@functools.lru_cache(maxsize=64)
def _signing_key(secret_access_key: str, *scope: str) -> bytes:
    """Derived once per day, region and service, as SDKs do: a fan-out of posts to
    @connections would otherwise spend four more HMACs on each."""
    key = f"AWS4{secret_access_key}".encode()
    for part in scope:
        key = _hmac(key, part)
    return key


@functools.lru_cache(maxsize=4096)
def _canonical_uri(raw_path: str) -> str:
    """Kept for the paths seen lately: a fan-out posts to the same connections every round."""
    return quote(raw_path, safe="/~")


def _parse_amz_date(timestamp: str) -> datetime | None:
    """X-Amz-Date's basic ISO 8601 form (20261202T041500Z), or None; without strptime, which
    alone took a fifth of a check's time."""
    if not _AMZ_DATE.fullmatch(timestamp):
        return None
    try:
        return datetime(
            int(timestamp[0:4]),
            int(timestamp[4:6]),
            int(timestamp[6:8]),
            int(timestamp[9:11]),
            int(timestamp[11:13]),
            int(timestamp[13:15]),
            tzinfo=UTC,
        )
    except ValueError:  # a month 13, a second 61, ...
        return None


def _canonical_query(raw_query: str) -> str:
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def verify_request(scope: Scope, body: bytes, secrets: LocalSecrets) -> HttpResponse | None:
    """verify_sigv4 for an ASGI request: None when signed with `secrets`' credentials."""
    return verify_sigv4(
        request_headers(scope),
        scope["method"],
        scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
        scope.get("query_string", b"").decode("latin-1"),
        body,
        access_key_id=secrets.access_key_id,
        secret_access_key=secrets.secret_access_key,
    )


def verify_sigv4(
    headers: dict[str, str],
    method: str,
    raw_path: str,
    raw_query: str,
    body: bytes,
    *,
    access_key_id: str,
    secret_access_key: str,
    now: datetime | None = None,
) -> HttpResponse | None:
    """None when the request is signed with these credentials, else AWS's 403 answer.

    `headers`: names lowercased (localcloud.responses.request_headers); `raw_path` and
    `raw_query` as sent, still percent-encoded."""
    authorization = headers.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return _refusal("MissingAuthenticationTokenException", "Missing Authentication Token")
    fields = dict(
        part.strip().split("=", 1)
        for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(",")
        if "=" in part
    )
    credential = fields.get("Credential", "").split("/")
    signed_names = fields.get("SignedHeaders", "").split(";")
    signature = fields.get("Signature", "")
    timestamp = headers.get("x-amz-date", "")
    if len(credential) != 5 or not signature or "host" not in signed_names or not timestamp:
        return _refusal("IncompleteSignatureException", "Incomplete signature")
    access_key, date, region, service, terminator = credential
    if access_key != access_key_id or "x-amz-security-token" in headers:
        return _refusal(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    signed_at = _parse_amz_date(timestamp)
    if signed_at is None:
        return _refusal("IncompleteSignatureException", "Invalid X-Amz-Date")
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_CLOCK_SKEW:
        return _refusal("InvalidSignatureException", "Signature expired: " + timestamp)
    if any(name not in headers for name in signed_names):
        return _refusal("InvalidSignatureException", _MISMATCH)
    canonical_request = "\n".join(
        [
            method,
            _canonical_uri(raw_path),
            _canonical_query(raw_query),
            "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed_names),
            ";".join(signed_names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{region}/{service}/{terminator}"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            timestamp,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _signing_key(secret_access_key, date, region, service, terminator)
    expected = _hmac(key, string_to_sign).hex()
    if not hmac.compare_digest(expected, signature):
        return _refusal("InvalidSignatureException", _MISMATCH)
    return None
