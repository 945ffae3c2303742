"""vendyz.core.tokens: HS256 access tokens, every forgery refused, the key from Secrets Manager.

Forged tokens are built by hand (base64url segments) so the tests do not depend on what PyJWT
is willing to produce; moto stands in for Secrets Manager.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from vendyz.core import tokens as tokens_module
from vendyz.core.markers import revoked_key
from vendyz.core.settings import Settings
from vendyz.core.tokens import (
    REQUIRED_CLAIMS,
    InvalidToken,
    SigningKeyUnavailable,
    Tokens,
)

KEY = "unit-test-signing-key-0123456789-abcdef"
OTHER_KEY = "another-secret-that-is-also-long-enough-0123"
USER_ID = "7b0c1a52-3f6e-4b8e-9a51-2d7f0c9e4a11"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def hs256(signing_input: str, key: str) -> str:
    return b64url(hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": USER_ID,
        "role": "USER",
        "email": "shopper@example.com",
        "jti": "0f8e6a3c-5b1d-4c2e-9f7a-1b2c3d4e5f60",
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return base


def hand_signed(
    payload: dict[str, Any], *, header: dict[str, Any] | None = None, key: str = KEY
) -> str:
    signing_input = (
        f"{b64url_json(header or {'alg': 'HS256', 'typ': 'JWT'})}.{b64url_json(payload)}"
    )
    return f"{signing_input}.{hs256(signing_input, key)}"


@pytest.fixture
def tokens() -> Tokens:
    return Tokens(KEY)


# -- the happy path ----------------------------------------------------------------------------
def test_issued_token_verifies_with_its_claims(tokens: Tokens) -> None:
    # GIVEN a token issued for an admin for ten minutes
    issued = tokens.issue(user_id=USER_ID, role="ADMIN", email="lead@vendyz.dev", ttl_seconds=600)

    # WHEN it is verified
    verified = tokens.verify(issued.token)

    # THEN every claim comes back, and the jti and exp are the ones issue() reported
    assert verified.user_id == USER_ID
    assert verified.role == "ADMIN"
    assert verified.email == "lead@vendyz.dev"
    assert verified.jti == issued.jti
    assert verified.exp == issued.exp == verified.iat + 600
    header = jwt.get_unverified_header(issued.token)
    assert header["alg"] == "HS256"
    assert set(jwt.decode(issued.token, options={"verify_signature": False})) == set(
        REQUIRED_CLAIMS
    )


def test_every_token_has_its_own_jti(tokens: Tokens) -> None:
    # GIVEN two tokens issued for the same user in the same second
    first = tokens.issue(user_id=USER_ID, role="USER", email="a@example.com", ttl_seconds=60)
    second = tokens.issue(user_id=USER_ID, role="USER", email="a@example.com", ttl_seconds=60)

    # THEN they can be revoked one at a time
    assert first.jti != second.jti
    assert revoked_key(first.jti) == f"revoked:{first.jti}"


def test_a_hand_signed_hs256_token_with_the_right_key_verifies(tokens: Tokens) -> None:
    # GIVEN a token built by hand with the right key (the forgeries below differ in one thing)
    token = hand_signed(claims())

    # WHEN / THEN it verifies, so the refusals below are caused by what each one changes
    assert tokens.verify(token).user_id == USER_ID


# -- forgeries and damage ----------------------------------------------------------------------
def test_tampered_payload_is_refused(tokens: Tokens) -> None:
    # GIVEN a USER's token whose payload is swapped for one claiming ADMIN, signature kept
    header, _, signature = tokens.issue(
        user_id=USER_ID, role="USER", email="a@example.com", ttl_seconds=600
    ).token.split(".")
    forged = f"{header}.{b64url_json(claims(role='ADMIN'))}.{signature}"

    # WHEN / THEN it is refused
    with pytest.raises(InvalidToken):
        tokens.verify(forged)


def test_tampered_signature_is_refused(tokens: Tokens) -> None:
    # GIVEN a valid token with one character of its signature changed
    token = tokens.issue(user_id=USER_ID, role="USER", email="a@example.com", ttl_seconds=600).token
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]

    # WHEN / THEN it is refused
    with pytest.raises(InvalidToken):
        tokens.verify(flipped)


def test_expired_token_is_refused(tokens: Tokens) -> None:
    # GIVEN a token issued two hours ago for one hour
    expired = tokens.issue(
        user_id=USER_ID,
        role="USER",
        email="a@example.com",
        ttl_seconds=3600,
        now=time.time() - 7200,
    )

    # WHEN / THEN it is refused
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(expired.token)


def test_alg_none_token_is_refused(tokens: Tokens) -> None:
    # GIVEN an unsigned token: header {"alg":"none"}, an ADMIN payload, an empty signature
    unsigned = f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{b64url_json(claims(role='ADMIN'))}."

    # WHEN / THEN it is refused (also with the algorithm spelled differently)
    with pytest.raises(InvalidToken):
        tokens.verify(unsigned)
    with pytest.raises(InvalidToken):
        tokens.verify(f"{b64url_json({'alg': 'None'})}.{b64url_json(claims())}.")


def test_token_signed_with_another_key_is_refused(tokens: Tokens) -> None:
    # GIVEN a well-formed HS256 token signed with a key that is not ours
    token = hand_signed(claims(), key=OTHER_KEY)

    # WHEN / THEN it is refused
    with pytest.raises(InvalidToken):
        tokens.verify(token)


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_hs512_token_with_our_key_is_refused(tokens: Tokens) -> None:
    # GIVEN a token signed with our own key but with HS512
    token = jwt.encode(claims(), KEY, algorithm="HS512")

    # WHEN / THEN it is refused: only HS256 is ever accepted
    with pytest.raises(InvalidToken, match="alg"):
        tokens.verify(token)


def test_rs256_token_is_refused(tokens: Tokens) -> None:
    # GIVEN a token properly signed with an RSA private key (RS256)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(role="ADMIN"), private_key, algorithm="RS256")

    # WHEN / THEN it is refused
    with pytest.raises(InvalidToken):
        tokens.verify(token)


def test_algorithm_confusion_rs256_header_with_hmac_signature_is_refused(tokens: Tokens) -> None:
    # GIVEN the confusion attack: the header claims RS256 but the signature is an HMAC made with
    # the verifier's key (a server that picks the algorithm from the header would accept it)
    token = hand_signed(claims(role="ADMIN"), header={"alg": "RS256", "typ": "JWT"})

    # WHEN / THEN it is refused, because the algorithm is pinned, not read from the token
    with pytest.raises(InvalidToken, match="alg"):
        tokens.verify(token)


@pytest.mark.parametrize("missing", REQUIRED_CLAIMS)
def test_token_missing_a_required_claim_is_refused(tokens: Tokens, missing: str) -> None:
    # GIVEN a correctly signed token without one of the required claims
    payload = claims()
    del payload[missing]
    token = hand_signed(payload)

    # WHEN / THEN it is refused
    with pytest.raises(InvalidToken):
        tokens.verify(token)


@pytest.mark.parametrize(
    "overrides",
    [
        {"role": "SUPERUSER"},
        {"role": None},
        {"sub": 42},
        {"sub": ""},
        {"jti": 7},
        {"email": ["a@example.com"]},
        {"exp": "tomorrow"},
        {"iat": int(time.time()) + 3600},  # issued in the future
        {"sub": "not-a-uuid"},
        {"sub": "7B0C1A52-3F6E-4B8E-9A51-2D7F0C9E4A11"},  # not the form issued
        {"jti": "x" * 36},
        {"email": "a\u0000@example.com"},
        {"email": "a" * 300},
        {"exp": True},
        {"exp": int(time.time()) + 10**12},
        {"exp": float(int(time.time()) + 60)},
        {"exp": int(time.time()) + 2 * 24 * 3600},  # longer than the maximum lifetime
    ],
    ids=[
        "role-unknown",
        "role-null",
        "sub-int",
        "sub-empty",
        "jti-int",
        "email-list",
        "exp-text",
        "iat-future",
        "sub-not-uuid",
        "sub-uppercase",
        "jti-not-uuid",
        "email-nul",
        "email-long",
        "exp-bool",
        "exp-huge",
        "exp-float",
        "lifetime-too-long",
    ],
)
def test_correctly_signed_token_with_bad_claims_is_refused(
    tokens: Tokens, overrides: dict[str, Any]
) -> None:
    # GIVEN a correctly signed token with one claim of the wrong type or value
    token = hand_signed(claims(**overrides))

    # WHEN / THEN it is refused
    with pytest.raises(InvalidToken):
        tokens.verify(token)


@pytest.mark.parametrize(
    "garbage",
    ["", "not-a-token", "a.b.c", "a.b", "....", "x" * 5000, "eyJhbGciOiJIUzI1NiJ9.e30"],
    ids=["empty", "word", "three-junk-parts", "two-parts", "dots", "huge", "no-signature"],
)
def test_malformed_input_is_refused(tokens: Tokens, garbage: str) -> None:
    # WHEN / THEN anything that is not a token raises InvalidToken, never something else
    with pytest.raises(InvalidToken):
        tokens.verify(garbage)


def test_short_keys_and_bad_ttls_are_refused() -> None:
    # GIVEN a key shorter than the hash
    # WHEN / THEN it is refused when configured, not when the first token is signed
    with pytest.raises(SigningKeyUnavailable):
        Tokens("too-short")
    # AND a token cannot be issued already expired or for an unknown role
    with pytest.raises(ValueError, match="ttl"):
        Tokens(KEY).issue(user_id=USER_ID, role="USER", email="a@example.com", ttl_seconds=0)
    with pytest.raises(ValueError, match="role"):
        Tokens(KEY).issue(user_id=USER_ID, role="ROOT", email="a@example.com", ttl_seconds=60)  # type: ignore[arg-type]


# -- the key from Secrets Manager ----------------------------------------------------------------
SECRET_NAME = "vendyz/jwt-unit"
SECRET_VALUE = "secrets-manager-key-0123456789-abcdefghijkl"


def aws_settings(secret_name: str) -> Settings:
    return Settings.model_validate(
        {
            "VENDYZ_ENV": "aws",
            "DATABASE_URL": "postgresql://unused",
            "REDIS_URL": "redis://unused",
            "NATS_URL": "nats://unused",
            "JWT_SECRET_NAME": secret_name,
        }
    )


@pytest.fixture
def secretsmanager(moto_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty Secrets Manager at the endpoint the functions read from the environment."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_server_url,
    }.items():
        monkeypatch.setenv(name, value)
    yield boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_server_url)
    httpx.post(f"{moto_server_url}/moto-api/reset")


def test_key_source_is_not_read_at_construction() -> None:
    # GIVEN settings naming a secret, and no AWS at all
    settings = aws_settings("vendyz/does-not-exist")

    # WHEN the token service is built (as handlers do at import)
    Tokens.from_settings(settings)

    # THEN nothing was fetched and nothing failed: the key is loaded on first use


def test_key_is_fetched_from_secrets_manager_and_cached(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the key in Secrets Manager and settings that name it
    secretsmanager.create_secret(Name=SECRET_NAME, SecretString=SECRET_VALUE)
    tokens = Tokens.from_settings(aws_settings(SECRET_NAME))

    # WHEN a token is issued and verified
    issued = tokens.issue(user_id=USER_ID, role="USER", email="a@example.com", ttl_seconds=60)
    assert tokens.verify(issued.token).jti == issued.jti

    # THEN it was signed with the secret's value, not another key
    jwt.decode(issued.token, SECRET_VALUE, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(issued.token, KEY, algorithms=["HS256"])

    # AND WHEN the secret is rotated, the cached key keeps serving until the cache expires
    rotated = "rotated-secrets-manager-key-0123456789-abcd"
    secretsmanager.put_secret_value(SecretId=SECRET_NAME, SecretString=rotated)
    assert tokens.verify(issued.token).jti == issued.jti

    # AND once the kept key is too old the new key is used and the old tokens are refused
    monkeypatch.setattr(tokens_module, "KEY_MAX_AGE_SECONDS", 0)
    with pytest.raises(InvalidToken):
        tokens.verify(issued.token)
    fresh = tokens.issue(user_id=USER_ID, role="USER", email="a@example.com", ttl_seconds=60)
    jwt.decode(fresh.token, rotated, algorithms=["HS256"])


def test_missing_or_short_secret_is_a_server_error_not_an_invalid_token(
    secretsmanager: Any,
) -> None:
    # GIVEN settings naming a secret that does not exist, and one holding a short key
    secretsmanager.create_secret(Name="vendyz/short", SecretString="short")
    token = Tokens(KEY).issue(user_id=USER_ID, role="USER", email="a@example.com", ttl_seconds=60)

    for name in ("vendyz/missing", "vendyz/short"):
        tokens = Tokens.from_settings(aws_settings(name))
        # WHEN a token is verified
        # THEN the failure says the key is unavailable (a 500), never "invalid token" (a 401)
        with pytest.raises(SigningKeyUnavailable):
            tokens.verify(token.token)


@pytest.mark.parametrize(
    ("variables", "complaint"),
    [({}, "JWT_SECRET_NAME"), ({"JWT_SECRET": "too-short"}, "at least 32")],
    ids=["no-key", "short-key"],
)
def test_settings_without_a_safe_signing_key_fail_at_start(
    variables: dict[str, str], complaint: str
) -> None:
    # GIVEN an environment naming no secret, with no key or a short one (locally too)
    environment = {
        "VENDYZ_ENV": "local",
        "DATABASE_URL": "postgresql://unused",
        "REDIS_URL": "redis://unused",
        "NATS_URL": "nats://unused",
        **variables,
    }
    # WHEN the settings are read, THEN they are refused, saying what is missing
    with pytest.raises(ValidationError, match=complaint):
        Settings.model_validate(environment)
