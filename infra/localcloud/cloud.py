"""The whole local cloud in one process tree: data services, migrations and seed, the
functions of template.yaml, the gateway and the schedules."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from localcloud.gateway import Gateway
from localcloud.migrate import apply_migrations
from localcloud.runtime import FunctionRuntime
from localcloud.seed import seed
from localcloud.services import DataServices, DataServiceUrls
from localcloud.template import AppTemplate, load_template

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# What differs locally from AWS: no X-Ray daemon, no CloudWatch, no credentials to find.
LOCAL_OVERRIDES = {
    "VENDYZ_ENV": "local",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_DEV": "false",
}
LOCAL_AWS_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass(frozen=True)
class CloudOptions:
    port: int = 3000
    host: str = "127.0.0.1"
    data_dir: Path = PROJECT_ROOT / ".vendyz"
    template_path: Path = PROJECT_ROOT / "template.yaml"
    static_dir: Path | None = None
    # Schedules run at min(their rate, this) locally, so heartbeats and the reconciler are lively.
    schedule_seconds: float = 5.0
    admin_email: str = "lead@vendyz.dev"
    admin_password: str = "flashsale"  # noqa: S105 - the documented local seed


def default_static_dir() -> Path | None:
    for candidate in (PROJECT_ROOT / "frontend" / "dist", PROJECT_ROOT / "frontend"):
        if (candidate / "index.html").is_file():
            return candidate
    return None


def _function_environment(template: AppTemplate) -> dict[str, str]:
    """One process hosts every function, so their variables must agree; fail loudly if not."""
    merged: dict[str, str] = {}
    for spec in template.functions.values():
        for name, value in spec.environment.items():
            if name in merged and merged[name] != value:
                raise ValueError(f"functions disagree on {name}; the local cloud shares one env")
            merged[name] = value
    return merged


class LocalCloud:
    def __init__(
        self,
        options: CloudOptions,
        env: Mapping[str, str] | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.options = options
        self.env = dict(os.environ if env is None else env)
        self.log = log
        self.services = DataServices(options.data_dir, env=self.env, log=log)
        self.urls: DataServiceUrls | None = None
        self.runtimes: dict[str, FunctionRuntime] = {}
        self.template: AppTemplate | None = None
        self._server: uvicorn.Server | None = None
        self._server_thread: threading.Thread | None = None
        self._stop_schedules = threading.Event()
        self._scheduler: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> str:
        """Start everything; returns the base URL once every part accepts requests."""
        started = time.monotonic()
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.options.host, self.options.port))
        port = sock.getsockname()[1]
        self.base_url = f"http://{self.options.host}:{port}"
        try:
            self.urls = self.services.start()
            apply_migrations(self.urls.database_url)
            admin_email = self.env.get("AUTH_SEED_EMAIL", self.options.admin_email)
            admin_password = self.env.get("AUTH_SEED_PASSWORD", self.options.admin_password)
            seed(self.urls.database_url, admin_email, admin_password)
            self._load_functions(self.urls)
            self._serve(sock)
            self._start_schedules()
        except BaseException:
            self.stop()
            raise
        self.log(
            f"vendyz: local cloud ready in {time.monotonic() - started:.2f}s at {self.base_url}"
            f" (API {self.base_url}/api/v1, docs {self.base_url}/api/v1/docs,"
            f" Lambda invoke {self.base_url}/2015-03-31/functions)"
        )
        return self.base_url

    def _load_functions(self, urls: DataServiceUrls) -> None:
        parameters = {
            "DatabaseUrl": urls.database_url,
            "RedisUrl": urls.redis_url,
            "NatsUrl": urls.nats_url,
            "LambdaEndpointUrl": self.base_url,
            "JwtSecretName": "",
        }
        template = load_template(self.options.template_path, parameters)
        self.template = template
        environment = _function_environment(template)
        for name, value in LOCAL_AWS_DEFAULTS.items():
            environment.setdefault(name, self.env.get(name, value))
        environment.update(LOCAL_OVERRIDES)
        for name in ("JWT_SECRET", "AUTH_SEED_EMAIL", "AUTH_SEED_PASSWORD"):
            if self.env.get(name):
                environment[name] = self.env[name]
        # Handlers read their settings from the process environment at import, like in Lambda.
        os.environ.update(environment)
        for name, spec in template.functions.items():
            self.runtimes[name] = FunctionRuntime(spec)

    def _serve(self, sock: socket.socket) -> None:
        assert self.template is not None
        gateway = Gateway(self.template, self.runtimes, self.options.static_dir)
        config = uvicorn.Config(
            gateway,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="httptools",
            loop="uvloop",
            timeout_keep_alive=30,
            backlog=2048,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._server_thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="localcloud-gateway",
            daemon=True,
        )
        self._server_thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._server_thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)

    def _start_schedules(self) -> None:
        assert self.template is not None
        schedules = self.template.schedules
        if not schedules or self.options.schedule_seconds <= 0:
            return

        def run() -> None:
            next_run = {s.name: 0.0 for s in schedules}
            while not self._stop_schedules.is_set():
                now = time.monotonic()
                for schedule in schedules:
                    if now >= next_run[schedule.name]:
                        interval = min(schedule.rate_seconds, self.options.schedule_seconds)
                        next_run[schedule.name] = now + interval
                        self.runtimes[schedule.function].submit(schedule.input)
                self._stop_schedules.wait(0.2)

        self._scheduler = threading.Thread(target=run, name="localcloud-schedules", daemon=True)
        self._scheduler.start()

    def stop(self) -> None:
        self._stop_schedules.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
        if self._server is not None:
            self._server.should_exit = True
        if self._server_thread is not None:
            self._server_thread.join(timeout=10)
        for runtime in self.runtimes.values():
            runtime.shutdown()
        self.services.stop()
