"""The NATS bridge (infra/bridge) as a child process of `vendyz up`, as ECS runs it in AWS.

Like the data services it dies with us (parent-death signal, even on SIGKILL), sits in its
own process group (a terminal's Ctrl-C reaches us, and we stop it in order) and logs to
`<data_dir>/logs/bridge.log`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from localcloud.services import DataServiceUrls, _die_with_parent

STOP_TIMEOUT_S = 5.0
_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


def bridge_environment(
    function_env: Mapping[str, str], urls: DataServiceUrls, base_url: str, heartbeat_seconds: float
) -> dict[str, str]:
    """What the bridge's task definition gives it in AWS, with local values: the data
    services, the local `@connections` API, and the AWS credentials the functions get."""
    env = {k: function_env[k] for k in _AWS_VARIABLES if function_env.get(k)}
    env.update(
        {
            "DATABASE_URL": urls.database_url,
            "REDIS_URL": urls.redis_url,
            "NATS_URL": urls.nats_url,
            "CONNECTIONS_ENDPOINT_URL": f"{base_url}/ws",
            # The functions' pace when they have one, so both judge "up" alike.
            "HEARTBEAT_INTERVAL_SECONDS": function_env.get("HEARTBEAT_INTERVAL_SECONDS")
            or f"{heartbeat_seconds:g}",
        }
    )
    return env


class BridgeProcess:
    def __init__(self, log_path: Path) -> None:
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str]) -> None:
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bridge"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": "/usr/bin:/bin", **env},
                process_group=0,
                preexec_fn=_die_with_parent(signal.SIGTERM),
            )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        """SIGTERM (the bridge closes its connections), SIGKILL after STOP_TIMEOUT_S; safe to
        repeat."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
