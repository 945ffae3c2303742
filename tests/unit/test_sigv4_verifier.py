"""The local cloud's SigV4 check (Invoke and @connections APIs) on requests botocore signed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.sigv4_auth import verify_sigv4

SIGNED_AT = datetime(2026, 12, 2, 4, 15, 0, tzinfo=UTC)
ACCESS_KEY, SECRET_KEY = "AKIAEXAMPLE", "local-secret"
PATH = "/ws/@connections/Kt3zOjSQoAMEbZQ%3D"


def signed_headers(monkeypatch: pytest.MonkeyPatch, secret_key: str = SECRET_KEY) -> dict[str, str]:
    monkeypatch.setattr(
        botocore_auth, "get_current_datetime", lambda: SIGNED_AT.replace(tzinfo=None)
    )
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:8000{PATH}", data=b"{}")
    botocore_auth.SigV4Auth(
        Credentials(ACCESS_KEY, secret_key), "execute-api", "us-east-1"
    ).add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    return headers | {"host": "127.0.0.1:8000"}


def check(headers: dict[str, str], now: datetime = SIGNED_AT) -> tuple[int, str] | None:
    refused = verify_sigv4(
        headers,
        "POST",
        PATH,
        "",
        b"{}",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        now=now,
    )
    if refused is None:
        return None
    return refused.status, json.loads(refused.body)["message"]


def test_a_request_signed_with_the_clouds_keys_passes_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a request botocore signed with the cloud's keys
    headers = signed_headers(monkeypatch)
    # WHEN it is checked, and checked again (with the signing key kept from the first)
    # THEN both pass
    assert check(headers) is None
    assert check(headers, SIGNED_AT + timedelta(minutes=1)) is None


def test_another_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the right access key id with a signature made with another secret
    headers = signed_headers(monkeypatch, secret_key="guessed")
    # WHEN it is checked  THEN AWS's mismatch answer
    refused = check(headers)
    assert refused is not None
    assert refused[0] == 403
    assert refused[1].startswith("The request signature we calculated does not match")


@pytest.mark.parametrize(
    ("amz_date", "message"),
    [
        ("2026-12-02T04:15:00Z", "Invalid X-Amz-Date"),  # extended ISO 8601, not AWS's form
        ("20261302T041500Z", "Invalid X-Amz-Date"),  # no month 13
        ("20261202T041500", "Invalid X-Amz-Date"),  # no zone
    ],
)
def test_a_malformed_date_is_refused(
    monkeypatch: pytest.MonkeyPatch, amz_date: str, message: str
) -> None:
    # GIVEN a signed request whose X-Amz-Date was then garbled
    headers = signed_headers(monkeypatch) | {"x-amz-date": amz_date}
    # WHEN it is checked  THEN 403 saying the date is invalid
    assert check(headers) == (403, message)


def test_a_signature_older_than_fifteen_minutes_has_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a request signed 16 minutes ago
    headers = signed_headers(monkeypatch)
    # WHEN it is checked now  THEN 403, expired, as AWS allows 15 minutes of skew
    assert check(headers, SIGNED_AT + timedelta(minutes=16)) == (
        403,
        "Signature expired: 20261202T041500Z",
    )
