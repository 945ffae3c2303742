"""The AWS services the functions call besides Lambda, served locally by moto's server mode
in a process of its own on loopback: Secrets Manager, holding the JWT signing key of the data
dir. The functions reach it exactly as in AWS (boto3's standard AWS_ENDPOINT_URL_SECRETS_MANAGER,
which vendyz.core.secrets_manager reads too).

Its own process: moto keeps one store per process, which a moto mock elsewhere in the same
process (a test's) would reset, and two local clouds in one process would share."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time

import boto3

from localcloud.local_secrets import LocalSecrets
from localcloud.template import LOCAL_REGION

JWT_SECRET_NAME = "vendyz/jwt"  # noqa: S105 - the secret's name (the template's default)
START_TIMEOUT_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class AwsServices:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._process: subprocess.Popen[bytes] | None = None
        self.endpoint_url = ""

    def start(self, secrets: LocalSecrets) -> str:
        """Serve, seeded with the data dir's JWT key; returns the endpoint URL."""
        port = _free_port(self._host)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self._host, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                socket.create_connection((self._host, port), timeout=1).close()
                break
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server (Secrets Manager) did not start") from None
                time.sleep(0.05)
        self.endpoint_url = f"http://{self._host}:{port}"
        boto3.client(
            "secretsmanager",
            endpoint_url=self.endpoint_url,
            region_name=LOCAL_REGION,
            aws_access_key_id=secrets.access_key_id,
            aws_secret_access_key=secrets.secret_access_key,
        ).create_secret(Name=JWT_SECRET_NAME, SecretString=secrets.jwt_key)
        return self.endpoint_url

    def function_environment(self) -> dict[str, str]:
        """Where a function's boto3 finds these services (the standard variables)."""
        return {"AWS_ENDPOINT_URL_SECRETS_MANAGER": self.endpoint_url}

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
