"""`vendyz up` as a child process on a data dir of its own: started, stopped with SIGTERM,
started again on the same port and data, and the pids of the data services it runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_MARK = "local cloud ready"
READY_TIMEOUT_S = 60.0
SCHEDULE_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class VendyzUp:
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        socket_dir = (self.data_dir / "pids" / "postgres.socketdir").read_text().strip()
        return f"postgresql://postgres@/vendyz?host={socket_dir}"

    @property
    def nats_url(self) -> str:
        ready = [line for line in self.lines if line.startswith("nats ready on ")]
        return "nats://" + ready[-1].split()[-1]

    def pid_of(self, service: str) -> int:
        return int((self.data_dir / "pids" / f"{service}.pid").read_text())

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.pop("NATS_URL", None)
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "localcloud.cli", "up", "--port", str(self.port)),
                *("--data-dir", str(self.data_dir), "--workers", "1"),
                *("--schedule-seconds", str(SCHEDULE_SECONDS)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env,
        )
        ready = threading.Event()
        process = self.process

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:  # drained to EOF, so the pipe never fills up
                self.lines.append(line)
                if READY_MARK in line:
                    ready.set()

        threading.Thread(target=read, name="vendyz-up-stdout", daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.wait(0.05):
            if process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("vendyz up did not start:\n" + "".join(self.lines[-40:]))

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, as a service manager stops it; SIGKILL only if it hangs."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def postgres_pids(postmaster: int) -> list[int]:
    """The postmaster and every backend and helper it forked."""
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == postmaster:
                pids.append(int(entry.name))
    return pids
