"""vendyz.core.sigv4 against botocore's own SigV4 signer (a dev dependency)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore import auth as botocore_auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from vendyz.core.sigv4 import Credentials, sign

NOW = datetime(2026, 11, 23, 12, 34, 56, tzinfo=UTC)


def _botocore_headers(
    url: str, headers: dict[str, str], body: bytes, region: str, credentials: Credentials
) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    signer = botocore_auth.SigV4Auth(
        BotocoreCredentials(credentials.access_key, credentials.secret_key, credentials.token),
        "lambda",
        region,
    )
    signer.add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("host", "path", "token"),
    [
        # a plain function name over TLS, with a session token (as in Lambda)
        (
            "lambda.eu-west-1.amazonaws.com",
            "/2015-03-31/functions/vendyz-InventoryFunction-1A2B/invocations",
            "session-token",
        ),
        # a full ARN (its colons are percent-encoded in the path), long-term keys, a port
        (
            "localhost.localstack.cloud:4566",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction"
            "%3AInventory/invocations",
            None,
        ),
    ],
)
def test_signature_matches_botocore(
    monkeypatch: pytest.MonkeyPatch, host: str, path: str, token: str | None
) -> None:
    # GIVEN one invoke request and one clock for both signers
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: NOW.replace(tzinfo=None))
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"}
    body = b'{"rpc":"ReserveStock","message":{"orderId":"o-1","quantity":2}}'
    scheme = "https" if host.endswith("amazonaws.com") else "http"
    # WHEN both sign it
    ours = sign(
        host=host,
        path=path,
        headers=headers,
        body=body,
        region="eu-west-1",
        service="lambda",
        credentials=credentials,
        now=NOW,
    )
    theirs = _botocore_headers(
        f"{scheme}://{host}{path}", dict(headers), body, "eu-west-1", credentials
    )
    # THEN the signing headers are the same, byte for byte
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token")


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the keys Lambda sets
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    # WHEN  THEN they are the credentials, without a token
    assert Credentials.from_environment(local=False) == Credentials("AKID", "secret", None)


def test_missing_credentials_fail_fast_in_aws_and_fall_back_locally(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN no keys in the environment
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    # WHEN  THEN AWS is refused with a clear error, an emulator gets dummy keys
    with pytest.raises(RuntimeError, match="AWS_ACCESS_KEY_ID"):
        Credentials.from_environment(local=False)
    assert Credentials.from_environment(local=True).access_key == "test"
