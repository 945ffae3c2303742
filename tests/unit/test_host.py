"""How a host shares out each function's reserved concurrency among the worker processes, and
how a worker process stops."""

from __future__ import annotations

import asyncio
import ctypes
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

import httpx
import pytest

from localcloud.host import FunctionHost, port_socket, run_worker
from tests.helpers import signed_headers
from tests.unit.test_gateway import SECRETS, _template


def instances(host: FunctionHost) -> dict[str, int]:
    counts = {name: runtime.spec.concurrency for name, runtime in host.runtimes.items()}
    host.stop()
    return counts


def test_each_worker_gets_its_share_of_the_reserved_concurrency() -> None:
    # GIVEN functions reserving 4, 2 and 1 instances, hosted by 2 workers, no cap
    host = FunctionHost(_template(), None, secrets=SECRETS, hosts=2)
    # THEN each worker runs half of each, rounded down (a function keeps at least one), so
    # the instances of all workers stay within what the template reserves
    counts = instances(host)
    assert (counts["Echo"], counts["Slow"], counts["Record"]) == (2, 1, 1)


def test_a_host_that_stops_leaves_the_other_hosts_of_the_process_serving() -> None:
    # GIVEN two hosts in one process (as a test session runs several), sharing the zygote
    first = FunctionHost(_template(), None, secrets=SECRETS)
    second = FunctionHost(_template(), None, secrets=SECRETS)
    try:
        # WHEN the first stops (twice, as a fixture and a finalizer may both stop it)
        first.stop()
        first.stop()
        # THEN the second still starts instances and runs its functions
        reply = asyncio.run(second.runtimes["Echo"].invoke({"rawPath": "/still-here"}))
        assert json.loads(reply["body"])["event"]["rawPath"] == "/still-here"
    finally:
        second.stop()


STUCK_TEMPLATE = """\
Resources:
  Stuck:
    Type: AWS::Serverless::Function
    Properties:
      Handler: tests.unit.fake_handlers.stuck
      Timeout: 900
"""


@dataclass
class Worker:
    process: BaseProcess
    port: int


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    """A worker process hosting one function, `Stuck`, on one instance; started and ready."""
    template = tmp_path / "template.yaml"
    template.write_text(STUCK_TEMPLATE)
    sock = port_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=run_worker,
        args=(
            template,
            {"RedisUrl": "redis://127.0.0.1:9"},
            {},
            SECRETS,
            None,
            ("127.0.0.1", port),
        ),
        kwargs={"index": 0, "workers": 1, "ready": sender},
    )
    process.start()
    try:
        assert receiver.poll(60), "the worker did not get ready"
        assert receiver.recv() == "ready"
        yield Worker(process, port)
    finally:
        if process.is_alive():
            process.kill()
            process.join()


def test_a_stopped_worker_exits_at_once_though_an_instance_is_mid_invocation(
    worker: Worker, tmp_path: Path
) -> None:
    # GIVEN the worker's one instance inside an invocation no client waits for (an
    # asynchronous invoke, as a schedule's; it would run for 10 minutes)
    started = tmp_path / "started"
    url = f"http://127.0.0.1:{worker.port}/2015-03-31/functions/Stuck/invocations"
    body = json.dumps({"started": str(started)}).encode()
    headers = signed_headers(
        url,
        body,
        SECRETS.access_key_id,
        SECRETS.secret_access_key,
        **{"X-Amz-Invocation-Type": "Event"},
    )
    invoked = httpx.post(url, content=body, headers=headers)
    assert invoked.status_code == 202
    deadline = time.monotonic() + 10
    while not started.exists():
        assert time.monotonic() < deadline, "the invocation did not start"
        time.sleep(0.02)

    # WHEN it is told to stop (as `vendyz up` stops it, or its parent's death does)
    worker.process.terminate()

    # THEN it is gone within a few seconds, not when the invocation would end
    worker.process.join(timeout=5)
    assert worker.process.exitcode == 0


def test_a_worker_stops_when_sigterm_reaches_another_of_its_threads(worker: Worker) -> None:
    # GIVEN a ready worker, and one of its threads other than the main one
    pid = worker.process.pid
    assert pid is not None
    others = [int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid]
    assert others, "the worker runs no other thread"
    tgkill = getattr(ctypes.CDLL(None, use_errno=True), "tgkill", None)
    if tgkill is None:
        pytest.skip("no tgkill in this libc")

    # WHEN SIGTERM is delivered to that thread (the kernel may pick any thread for a signal
    # sent to the process, the parent-death signal included)
    assert tgkill(pid, others[0], signal.SIGTERM) == 0

    # THEN the worker still stops, promptly
    worker.process.join(timeout=5)
    assert worker.process.exitcode == 0
