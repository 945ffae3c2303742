"""The whole local cloud in one process tree: data services, the functions of template.yaml,
the gateway, the template's custom resources (migrations and seed) and the schedules."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from localcloud.aws_services import JWT_SECRET_NAME, AwsServices
from localcloud.bridge_process import BridgeProcess, bridge_environment
from localcloud.host import FunctionHost, port_socket, run_worker
from localcloud.local_secrets import LocalSecrets
from localcloud.provision import provision
from localcloud.runtime import FunctionRuntime
from localcloud.services import DataServices, DataServiceUrls
from localcloud.supervisor import Supervisor
from localcloud.template import LOCAL_REGION, AppTemplate, FunctionSpec, load_template
from vendyz.core.jetstream import ensure_stream  # type: ignore[import-not-found,unused-ignore]

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# What differs locally from AWS: no X-Ray daemon, no CloudWatch, no credentials to find.
LOCAL_OVERRIDES = {
    "VENDYZ_ENV": "local",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_DEV": "false",
    "AWS_XRAY_SDK_ENABLED": "false",
    # Every local shopper, test and bench buyer comes from one loopback address.
    "REGISTRATIONS_PER_ADDRESS_PER_HOUR": "1000000",
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
    # Gateway processes. 1: the gateway runs in this process (the instances never do).
    workers: int = 1


def default_static_dir() -> Path | None:
    for candidate in (PROJECT_ROOT / "frontend" / "dist", PROJECT_ROOT / "frontend"):
        if (candidate / "index.html").is_file():
            return candidate
    return None


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
        self._supervisor = Supervisor(self.services, log)
        self.bridge = BridgeProcess(options.data_dir / "logs" / "bridge.log", log=log)
        self.urls: DataServiceUrls | None = None
        self.template: AppTemplate | None = None
        self.secrets: LocalSecrets | None = None
        # Each function's environment (its template's, with the local values), once started.
        self.environments: dict[str, dict[str, str]] = {}
        self.aws_services = AwsServices(options.host)
        self._host: FunctionHost | None = None
        self._workers: list[BaseProcess] = []
        self._stop_schedules = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._paused_schedules: set[str] = set()
        self.base_url = ""

    @property
    def websocket_url(self) -> str:
        """The WebSocket API, ws://HOST:PORT/{stage}, once started; the same URL over HTTP is
        the @connections endpoint."""
        assert self.template is not None
        assert self.template.websocket is not None
        return f"ws{self.base_url.removeprefix('http')}/{self.template.websocket.stage}"

    @property
    def runtimes(self) -> dict[str, FunctionRuntime]:
        """This process's gateway's functions (empty when the gateways are worker processes)."""
        return self._host.runtimes if self._host is not None else {}

    def start(self) -> str:
        """Start everything; returns the base URL once every part accepts requests."""
        started = time.monotonic()
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        # Bound first, so a taken port fails fast and port 0 picks the port everyone will use.
        sock = port_socket(self.options.host, self.options.port)
        port = sock.getsockname()[1]
        self.base_url = f"http://{self.options.host}:{port}"
        self.secrets = LocalSecrets.of_data_dir(self.options.data_dir)
        try:
            self.urls = self.services.start()
            self.aws_services.start(self.secrets)
            ensure_stream(self.urls.nats_url)
            self._supervisor.start()
            parameters = self._parameters(self.urls)
            self.template = load_template(self.options.template_path, parameters)
            environments = self.environments = {
                name: self._environment(spec) for name, spec in self.template.functions.items()
            }
            if self.options.workers > 1:
                self._start_workers(parameters, environments, (self.options.host, port))
                sock.close()  # each worker listens on a socket of its own
            else:
                self._host = FunctionHost(
                    self.template,
                    self.options.static_dir,
                    secrets=self.secrets,
                    environments=environments,
                )
                sock.listen(2048)
                self._host.serve(sock)
            # As CloudFormation creating the stack: migrations, seed admin, demo products.
            provision(self.template, self.base_url, self.secrets)
            self._start_schedules()
            # Heartbeats come at the schedules' pace; with schedules off, at the default pace.
            heartbeat = self.options.schedule_seconds or CloudOptions.schedule_seconds
            # The functions' credentials and pace (any function's: they share them).
            function_env = next(iter(environments.values()), {})
            self.bridge.start(
                bridge_environment(
                    function_env | {"AWS_REGION": LOCAL_REGION, "AWS_DEFAULT_REGION": LOCAL_REGION},
                    self.urls,
                    self.base_url,
                    heartbeat,
                )
            )
        except BaseException:
            sock.close()
            self.stop()
            raise
        websocket = ""
        if self.template.websocket is not None:
            websocket = f" WebSocket {self.websocket_url},"
        self.log(
            f"vendyz: local cloud ready in {time.monotonic() - started:.2f}s at {self.base_url}"
            f" (API {self.base_url}/api/v1, docs {self.base_url}/api/v1/docs,{websocket}"
            f" Lambda invoke {self.base_url}/2015-03-31/functions)"
        )
        self.log(
            "vendyz: AWS credentials of this local cloud (the Invoke API wants them signed):"
            f" AWS_ACCESS_KEY_ID={self.secrets.access_key_id}"
            f" AWS_SECRET_ACCESS_KEY={self.secrets.secret_access_key} AWS_REGION={LOCAL_REGION}"
        )
        return self.base_url

    def _parameters(self, urls: DataServiceUrls) -> dict[str, str]:
        """The template's parameters, with local values."""
        return {
            "DatabaseUrl": urls.database_url,
            # A direct connection to our own PostgreSQL, no RDS Proxy in between.
            "DatabasePreparedStatements": "true",
            "RedisUrl": urls.redis_url,
            "NatsUrl": urls.nats_url,
            "LambdaEndpointUrl": self.base_url,
            "JwtSecretName": JWT_SECRET_NAME,
            "SeedDemoProducts": "true",
        }

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        """A function's environment: the template's, with what differs locally."""
        assert self.secrets is not None
        # The execution role's keys, as Lambda hands them over: here the data dir's own.
        environment = dict(spec.environment) | self.secrets.aws_environment()
        environment.update(LOCAL_OVERRIDES)
        environment.update(self.aws_services.function_environment())
        if self.options.schedule_seconds > 0:
            # Heartbeats run at the local schedule's pace, so "up" is judged by it.
            heartbeat = min(60.0, self.options.schedule_seconds)
            environment["HEARTBEAT_INTERVAL_SECONDS"] = f"{heartbeat:g}"
        for name in ("AUTH_SEED_EMAIL", "AUTH_SEED_PASSWORD"):
            if self.env.get(name):
                environment[name] = self.env[name]
        return environment

    def _start_workers(
        self,
        parameters: dict[str, str],
        environments: dict[str, dict[str, str]],
        address: tuple[str, int],
    ) -> None:
        context = multiprocessing.get_context("spawn")
        pipes = []
        for index in range(self.options.workers):
            receiver, sender = context.Pipe(duplex=False)
            worker = context.Process(
                target=run_worker,
                args=(
                    self.options.template_path,
                    parameters,
                    environments,
                    self.secrets,
                    self.options.static_dir,
                    address,
                    index,
                    self.options.workers,
                    sender,
                ),
                name=f"localcloud-worker-{index}",
            )
            worker.start()
            sender.close()
            self._workers.append(worker)
            pipes.append(receiver)
        for started, receiver in zip(self._workers, pipes, strict=True):
            if not receiver.poll(60):
                raise RuntimeError(f"{started.name} did not get ready in 60 s")
            message = receiver.recv()
            if message != "ready":
                raise RuntimeError(f"{started.name} {message}")

    def _start_schedules(self) -> None:
        """Each schedule invokes its function asynchronously through the Invoke API, as
        EventBridge does, at min(its rate, schedule_seconds)."""
        assert self.template is not None
        assert self.secrets is not None
        schedules = self.template.schedules
        if not schedules or self.options.schedule_seconds <= 0:
            return

        secrets = self.secrets

        def invoke(function: str, event: dict[str, object]) -> None:
            url = f"{self.base_url}/2015-03-31/functions/{function}/invocations"
            body = json.dumps(event).encode()
            headers = secrets.signed_headers(url, body, {"X-Amz-Invocation-Type": "Event"})
            request = urllib.request.Request(  # noqa: S310 - our own loopback URL
                url, data=body, headers=headers, method="POST"
            )
            try:
                urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
            except OSError as exc:
                self.log(f"vendyz: schedule for {function} not delivered: {exc}")

        def run() -> None:
            next_run = {s.name: 0.0 for s in schedules}
            while not self._stop_schedules.is_set():
                now = time.monotonic()
                for schedule in schedules:
                    if schedule.name in self._paused_schedules:
                        continue
                    if now >= next_run[schedule.name]:
                        interval = min(schedule.rate_seconds, self.options.schedule_seconds)
                        next_run[schedule.name] = now + interval
                        invoke(schedule.function, schedule.input)
                self._stop_schedules.wait(0.2)

        self._scheduler = threading.Thread(target=run, name="localcloud-schedules", daemon=True)
        self._scheduler.start()

    def pause_schedule(self, name: str) -> None:
        """Stop firing one schedule ("AuthFunction.Heartbeat"), as disabling its EventBridge
        rule would; for tests of what happens when a function's schedule stops."""
        assert self.template is not None
        if name not in {s.name for s in self.template.schedules}:
            raise KeyError(f"no schedule {name!r} in the template")
        self._paused_schedules.add(name)

    def resume_schedule(self, name: str) -> None:
        self._paused_schedules.discard(name)

    def stop(self) -> None:
        self._stop_schedules.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=10)
        self.bridge.stop()
        for worker in self._workers:
            worker.terminate()
        for worker in self._workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join()
        if self._host is not None:
            self._host.stop()
        self._supervisor.stop()
        self.aws_services.stop()
        self.services.stop()
