"""API Gateway's @connections management API of the WebSocket API, as boto3's
`apigatewaymanagementapi` client calls it (endpoint_url = the stage's URL): POST sends the
body to the client as one frame, GET describes the connection, DELETE closes it (its
$disconnect route then runs); an id no worker holds is 410 GoneException.

Only requests SigV4-signed with the local cloud's credentials are served, as in AWS (the others
get AWS's 403 answers)."""

from __future__ import annotations

import json
import logging
import uuid

from redis.exceptions import RedisError

from localcloud.connection_relay import ConnectionRelay, OwnerUnresponsive
from localcloud.local_secrets import LocalSecrets
from localcloud.responses import HttpResponse, Scope, json_response
from localcloud.sigv4_auth import verify_request
from localcloud.websocket_api import WORKER_TAG_BYTES, WebSocketApi
from localcloud.websocket_events import worker_tag_of

log = logging.getLogger("localcloud")

MAX_DATA_BYTES = 128 * 1024  # PostToConnection's Data limit
DELETE_CLOSE_CODE = 1000


def aws_error(status: int, error_type: str, message: str | None = None) -> HttpResponse:
    """An error as API Gateway's rest-json services send it (botocore reads the header)."""
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-errortype", error_type.encode()),
        (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
    ]
    body = {} if message is None else {"message": message}
    return HttpResponse(status, headers, json.dumps(body).encode())


def gone() -> HttpResponse:
    return aws_error(410, "GoneException")


class ConnectionsApi:
    def __init__(
        self, websocket_api: WebSocketApi, relay: ConnectionRelay | None, secrets: LocalSecrets
    ) -> None:
        self.websocket_api = websocket_api
        self.relay = relay
        self._secrets = secrets
        self.prefix = f"/{websocket_api.spec.stage}/@connections/"
        if relay is not None:
            relay.serve_with(self.serve)

    def serves(self, path: str) -> bool:
        return path.startswith(self.prefix)

    async def handle(self, scope: Scope, body: bytes) -> HttpResponse:
        refused = verify_request(scope, body, self._secrets)
        if refused is not None:
            return refused
        connection_id = scope["path"][len(self.prefix) :]
        method = scope["method"]
        if not connection_id or "/" in connection_id:
            return aws_error(404, "NotFoundException", "Not Found")
        if method not in ("POST", "GET", "DELETE"):
            return aws_error(405, "MethodNotAllowedException", f"{method} is not allowed")
        owner = worker_tag_of(connection_id, WORKER_TAG_BYTES)
        if owner is None:
            return gone()
        if self.relay is None or owner == self.websocket_api.worker_tag:
            return await self.serve(method, connection_id, body)
        try:
            answer = await self.relay.forward(owner, method, connection_id, body)
        except (OwnerUnresponsive, RedisError, OSError) as exc:
            log.error("@connections %s %s not relayed: %r", method, connection_id, exc)
            return aws_error(500, "InternalServerErrorException", "Internal server error")
        return gone() if answer is None else answer

    async def serve(self, method: str, connection_id: str, body: bytes) -> HttpResponse:
        """The call, for a connection of this worker."""
        connection = self.websocket_api.connections.get(connection_id)
        if connection is None:
            return gone()
        if method == "GET":
            return json_response(200, connection.info())
        if method == "DELETE":
            await connection.close(DELETE_CLOSE_CODE)
            return HttpResponse(204, [], b"")
        if len(body) > MAX_DATA_BYTES:
            return aws_error(413, "PayloadTooLargeException", "Message too long")
        if not await connection.post(body):
            return gone()
        return HttpResponse(200, [], b"")  # PostToConnection's answer has no body
