"""`reserve_path`: Inventory's ReserveStock as Orders calls it, through the local cloud's
Lambda Invoke API (SigV4-signed with the data dir's credentials), from C threads: the
function's whole path (runtime, pool, statement, outbox, cache upkeep) with no HTTP API, no
authorizer and no Orders in front. The bench knows the function only by its name in the
template, as every other caller does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import uuid
from urllib.parse import urlsplit

from localcloud.bench.database import create_bench_product, settle_bench_events
from localcloud.bench.measurement import Measurement, Operation, from_threads, run_threads
from localcloud.local_secrets import LocalSecrets

RESERVE_FUNCTION = "InventoryFunction"  # the template's logical id, the local function name
_TIMEOUT_S = 30.0


class InvokeFailed(RuntimeError):
    """The Invoke API or the function answered with an error."""


def reserve_path(
    base_url: str, secrets: LocalSecrets, database_url: str, clients: int, seconds: float
) -> tuple[Measurement, str]:
    """ReserveStock invocations from `clients` threads; returns it and the product id."""
    product_id = create_bench_product(database_url, "path")
    target = urlsplit(base_url)
    host, port = target.hostname or "127.0.0.1", target.port
    path = f"/2015-03-31/functions/{RESERVE_FUNCTION}/invocations"
    url = f"{base_url.rstrip('/')}{path}"
    rejected: list[str] = []  # list.append is atomic across threads

    def prepare(stack: contextlib.ExitStack) -> Operation:
        connection = http.client.HTTPConnection(host, port, timeout=_TIMEOUT_S)
        stack.callback(connection.close)

        def reserve() -> None:
            message = {
                "orderId": str(uuid.uuid4()),
                "productId": product_id,
                "quantity": 1,
                "userId": str(uuid.uuid4()),
            }
            body = json.dumps({"rpc": "ReserveStock", "message": message}).encode()
            connection.request("POST", path, body, secrets.signed_headers(url, body))
            reply = connection.getresponse()
            payload = reply.read()
            if reply.status != 200 or reply.getheader("x-amz-function-error"):
                raise InvokeFailed(f"{reply.status}: {payload[:200]!r}")
            answer = json.loads(payload)
            if answer.get("outcome") != "RESERVED":
                rejected.append(str(answer.get("reason")))

        return reserve

    run = run_threads(clients, seconds, prepare)
    measurement = from_threads(
        run, f"ReserveStock through the Invoke API from {clients} threads (SigV4)"
    )
    if rejected:
        measurement.notes.append(f"{len(rejected)} reservations rejected ({rejected[0]})")
    settle_bench_events(database_url, product_id)
    return measurement, product_id
