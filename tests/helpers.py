"""Small HTTP helpers the API tests share."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ADMIN_EMAIL = "lead@vendyz.dev"
ADMIN_PASSWORD = "flashsale"


def login(api: httpx.Client, email: str, password: str) -> str:
    reply = api.post("/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    token: str = reply.json()["data"]["token"]
    return token


def register_and_login(api: httpx.Client, *, prefix: str = "buyer") -> tuple[str, str]:
    """A fresh user; returns (user_id, token)."""
    email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
    reply = api.post(
        "/auth/register",
        json={
            "email": email,
            "password": "correct-horse",
            "firstName": "Test",
            "lastName": "Buyer",
        },
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["data"]["userId"], login(api, email, "correct-horse")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_product(api: httpx.Client, admin_token: str, **fields: object) -> str:
    """A fresh product through the admin API; returns its id."""
    body = {"name": f"Test item {uuid.uuid4().hex[:6]}", "stock": 10, **fields}
    reply = api.post("/products", json=body, headers=bearer(admin_token))
    assert reply.status_code == 201, reply.text
    product_id: str = reply.json()["data"]["productId"]
    return product_id


def stock_of(api: httpx.Client, product_id: str) -> int:
    reply = api.get(f"/products/{product_id}")
    assert reply.status_code == 200, reply.text
    stock: int = reply.json()["data"]["stock"]
    return stock


def invoke(lambda_client: Any, function: str, payload: Any) -> Any:
    """The function's result through the Invoke API (an error payload if it failed)."""
    reply = lambda_client.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
    return json.loads(reply["Payload"].read())


def signed_headers(
    url: str, body: bytes, access_key_id: str, secret_access_key: str, **headers: str
) -> dict[str, str]:
    """The headers of a POST to `url` signed (SigV4, for Lambda) with these credentials."""
    request = AWSRequest("POST", url, data=body, headers=headers)
    SigV4Auth(Credentials(access_key_id, secret_access_key), "lambda", "us-east-1").add_auth(
        request
    )
    return dict(request.headers.items())
