"""The Invoke API of the local cloud wants what AWS's wants: SigV4 with the cloud's own
credentials (generated for its data dir). A forged call changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from localcloud.cloud import LocalCloud
from tests.helpers import create_product, invoke, signed_headers, stock_of


def reserve_stock_event(product_id: str) -> bytes:
    message = {
        "orderId": str(uuid.uuid4()),
        "productId": product_id,
        "quantity": 2,
        "userId": str(uuid.uuid4()),
    }
    return json.dumps({"rpc": "ReserveStock", "message": message}).encode()


def test_an_unsigned_or_forged_reserve_stock_gets_403_and_takes_no_stock(
    base_url: str, api: httpx.Client, admin_token: str, local_cloud: LocalCloud
) -> None:
    # GIVEN a product with 5 units, and an attacker who can reach the port
    product_id = create_product(api, admin_token, stock=5)
    url = f"{base_url}/2015-03-31/functions/InventoryFunction/invocations"
    body = reserve_stock_event(product_id)
    assert local_cloud.secrets is not None
    forged = signed_headers(url, body, local_cloud.secrets.access_key_id, "guessed-secret")
    # WHEN they call ReserveStock bare, and signed with a guessed secret
    bare = httpx.post(url, content=body)
    guessed = httpx.post(url, content=body, headers=forged)
    # THEN both get Lambda's 403, and no unit was taken
    assert (bare.status_code, guessed.status_code) == (403, 403)
    assert bare.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert guessed.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert stock_of(api, product_id) == 5


def test_a_call_signed_with_the_clouds_credentials_is_served(
    api: httpx.Client, admin_token: str, lambda_client: Any
) -> None:
    # GIVEN a product, and boto3 with the credentials `vendyz up` prints
    product_id = create_product(api, admin_token, stock=5)
    # WHEN it reserves 2 units through the Invoke API
    reply = invoke(lambda_client, "InventoryFunction", json.loads(reserve_stock_event(product_id)))
    # THEN they are reserved
    assert reply["outcome"] == "RESERVED", reply
    assert stock_of(api, product_id) == 3
