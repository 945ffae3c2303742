"""The AWS services the functions call besides Lambda, served locally by moto's server mode
on loopback: Secrets Manager, holding the JWT signing key of the data dir. The functions
reach it exactly as in AWS (boto3, with the standard AWS_ENDPOINT_URL_SECRETS_MANAGER)."""

from __future__ import annotations

import logging

import boto3
from moto.server import ThreadedMotoServer

from localcloud.local_secrets import LocalSecrets
from localcloud.template import LOCAL_REGION


def jwt_secret_name(secrets: LocalSecrets) -> str:
    """The JWT key's secret, named after the data dir's access key: moto keeps one store per
    process, which two local clouds in one process (the tests) would otherwise share."""
    return f"vendyz/jwt-{secrets.access_key_id.lower()}"


class AwsServices:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: ThreadedMotoServer | None = None
        self.endpoint_url = ""

    def start(self, secrets: LocalSecrets) -> str:
        """Serve, seeded with the data dir's JWT key; returns the endpoint URL."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        server = ThreadedMotoServer(ip_address=self._host, port=0, verbose=False)
        server.start()
        self._server = server
        host, port = server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        boto3.client(
            "secretsmanager",
            endpoint_url=self.endpoint_url,
            region_name=LOCAL_REGION,
            aws_access_key_id=secrets.access_key_id,
            aws_secret_access_key=secrets.secret_access_key,
        ).create_secret(Name=jwt_secret_name(secrets), SecretString=secrets.jwt_key)
        return self.endpoint_url

    def function_environment(self) -> dict[str, str]:
        """Where a function's boto3 finds these services (the standard variables)."""
        return {"AWS_ENDPOINT_URL_SECRETS_MANAGER": self.endpoint_url}

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
