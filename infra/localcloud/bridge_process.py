"""The NATS bridge (infra/bridge) as a child process of `vendyz up`, kept running as ECS keeps
its task running in AWS: a bridge that exits on its own is started again (it resumes from its
durable consumer).

Like the data services it dies with us (parent-death signal, even on SIGKILL), sits in its
own process group (a terminal's Ctrl-C reaches us, and we stop it in order) and logs to
`<data_dir>/logs/bridge.log`.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from localcloud.services import DataServiceUrls, _die_with_parent

STOP_TIMEOUT_S = 5.0
RESTART_DELAY_S = 1.0
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


def _bridge_import_root() -> str:
    """Where this process imports `bridge` from: the child runs that same code (a checkout on
    PYTHONPATH, say), not whichever copy is installed."""
    spec = importlib.util.find_spec("bridge")
    if spec is None or spec.origin is None:
        raise RuntimeError("the bridge package (infra/bridge) is not importable")
    return str(Path(spec.origin).parent.parent)


class BridgeProcess:
    def __init__(self, log_path: Path, log: Callable[[str], None] = print) -> None:
        self._log_path = log_path
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # held while (re)starting or stopping the child
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self, env: Mapping[str, str]) -> None:
        """Start the bridge and keep it running until stop()."""
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._stopping.clear()
        started = threading.Event()
        # The supervisor spawns every child: the parent-death signal follows the thread that
        # forked, and this one lives until stop().
        self._supervisor = threading.Thread(
            target=self._supervise, args=(dict(env), started), name="bridge", daemon=True
        )
        self._supervisor.start()
        started.wait(timeout=STOP_TIMEOUT_S)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def stop(self) -> None:
        """SIGTERM (the bridge closes its connections), SIGKILL after STOP_TIMEOUT_S; safe to
        repeat."""
        self._stopping.set()
        with self._lock:
            process = self._process
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        if process is not None:
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._supervisor is not None:
            self._supervisor.join(timeout=STOP_TIMEOUT_S)
            self._supervisor = None
        self._process = None

    def _supervise(self, env: dict[str, str], started: threading.Event) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set():
                    break
                self._process = self._spawn(env)
            started.set()
            code = self._process.wait()
            if self._stopping.wait(RESTART_DELAY_S):
                break
            self._log(f"vendyz: the bridge exited with code {code}; starting it again")
        started.set()

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self._log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "bridge"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": "/usr/bin:/bin", "PYTHONPATH": _bridge_import_root(), **env},
                process_group=0,
                preexec_fn=_die_with_parent(signal.SIGTERM),
            )
