"""The template's custom resources, run as CloudFormation runs them when it creates a stack.

At each start the local cloud sends every custom resource (the migrations, the seed admin, the
demo products) a Create event through the Invoke API, in DependsOn order, and reads the
function's answer from a ResponseURL of its own, as CloudFormation does. What they write is
the functions' own work; nothing here touches their tables.
"""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from localcloud.local_secrets import LocalSecrets
from localcloud.template import LOCAL_ACCOUNT, LOCAL_REGION, AppTemplate, CustomResource

STACK_NAME = "vendyz-local"
STACK_ID = f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT}:stack/{STACK_NAME}/local"


class ProvisioningFailed(RuntimeError):
    """A custom resource answered FAILED, or its function failed before answering."""


def in_dependency_order(resources: list[CustomResource]) -> list[CustomResource]:
    ordered: list[CustomResource] = []
    done: set[str] = set()
    pending = list(resources)
    while pending:
        ready = [
            r for r in pending if all(d in done or d not in _names(pending) for d in r.depends_on)
        ]
        if not ready:
            raise ProvisioningFailed(f"DependsOn cycle among {[r.name for r in pending]}")
        for resource in ready:
            ordered.append(resource)
            done.add(resource.name)
            pending.remove(resource)
    return ordered


def _names(resources: list[CustomResource]) -> set[str]:
    return {r.name for r in resources}


@contextmanager
def response_urls() -> Iterator[tuple[str, dict[str, dict[str, Any]]]]:
    """A loopback base URL that records the JSON PUT to each path below it, as CloudFormation
    reads the answer from its pre-signed S3 URL: (base URL, {path: answer}). As S3 would, it
    refuses a PUT with a Content-Type, which the URL is not signed for."""
    answers: dict[str, dict[str, Any]] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            signed_for_it = not self.headers.get("Content-Type")
            if signed_for_it:
                answers[self.path] = json.loads(body)
            self.send_response(200 if signed_for_it else 403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, name="localcloud-cfn", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answers
    finally:
        server.shutdown()
        server.server_close()


def provision(
    template: AppTemplate, base_url: str, secrets: LocalSecrets
) -> dict[str, dict[str, Any]]:
    """Create every custom resource; returns each one's Data. ProvisioningFailed otherwise."""
    created: dict[str, dict[str, Any]] = {}
    with response_urls() as (receiver, answers):
        for resource in in_dependency_order(template.custom_resources):
            request_id = str(uuid.uuid4())
            event = {
                "RequestType": "Create",
                "ServiceToken": resource.properties["ServiceToken"],
                "ResponseURL": f"{receiver}/{request_id}",
                "StackId": STACK_ID,
                "RequestId": request_id,
                "ResourceType": resource.type,
                "LogicalResourceId": resource.name,
                "ResourceProperties": resource.properties,
            }
            timeout = template.functions[resource.function].timeout_seconds + 5
            _invoke(base_url, resource.function, event, timeout, secrets)
            answer = answers.get(f"/{request_id}")
            if answer is None:
                raise ProvisioningFailed(f"{resource.name}: {resource.function} sent no answer")
            if answer["Status"] != "SUCCESS":
                raise ProvisioningFailed(f"{resource.name}: {answer['Reason']}")
            created[resource.name] = answer.get("Data") or {}
    return created


def _invoke(
    base_url: str, function: str, event: dict[str, Any], timeout: float, secrets: LocalSecrets
) -> None:
    """RequestResponse, so that a function failing before it answers is known at once; signed,
    as CloudFormation's own invoke is."""
    url = f"{base_url}/2015-03-31/functions/{function}/invocations"
    body = json.dumps(event).encode()
    request = urllib.request.Request(  # noqa: S310 - our own loopback URL
        url, data=body, headers=secrets.signed_headers(url, body), method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
        payload = reply.read().decode()
        if reply.headers.get("X-Amz-Function-Error"):
            raise ProvisioningFailed(f"{function} failed: {payload[:2000]}")
