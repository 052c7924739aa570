"""Vanished, frozen and long-lived clients (DESIGN §5, §6).

A Step decodes its gradient's chunks into a gradient buffer of its own, without its job's
lock, so a client that stops sending mid-stream holds only that buffer: the job's other steps
go on meanwhile. A client that dies (SIGKILL: the kernel closes its socket) or freezes
(SIGSTOP: the socket stays open, nothing answers) gives the buffer back once its call ends:
the server's keepalive ping goes unanswered and the connection is closed within keepalive +
timeout seconds. Other jobs go on meanwhile. An aged connection (max connection age) is closed after its grace
with UNAVAILABLE, the status a watcher reconnects on.
"""
from __future__ import annotations

import pathlib
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Iterator

import numpy as np
import pytest

import lrctl
from tests.faults._support import CONTROL_POLICY, DATA_POLICY, Reporter, Trainer, initial, metric_value, wait_for
from tests.support.server_process import ServerProcess

STALLED_CLIENT = pathlib.Path(__file__).with_name("_stalled_client.py")
ELEMENTS = 10_000
KEEPALIVE = ("--keepalive-seconds", "1", "--keepalive-timeout-seconds", "1")


@pytest.fixture(scope="module")
def keepalive_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("data"), KEEPALIVE).start()
    yield process
    process.kill()


@pytest.fixture(scope="module")
def aging_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("data"), ["--max-connection-age-seconds", "1",
                                                              "--max-connection-age-grace-seconds", "1"]).start()
    yield process
    process.kill()


def stalled_step(address: str, job_id: str) -> subprocess.Popen[str]:
    """A client process with a Step on `job_id` open: header and half the gradient sent."""
    child = subprocess.Popen([sys.executable, str(STALLED_CLIENT), address, job_id, "0", str(ELEMENTS)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "sent"
    return child


STEP = {"grpc_service": "lrctl.v1.Optimizer", "grpc_method": "Step", "grpc_type": "bidi_stream"}


def steps_in_flight(server: ServerProcess) -> float:
    started = metric_value(server.metrics_url, "grpc_server_started_total", **STEP)
    ended = sum(metric_value(server.metrics_url, "grpc_server_handled_total", grpc_code=code, **STEP)
                for code in ("OK", "Canceled", "DeadlineExceeded", "Unavailable", "InvalidArgument",
                             "FailedPrecondition", "NotFound", "Aborted", "ResourceExhausted"))
    return started - ended


def steps_cancelled(server: ServerProcess) -> float:
    return metric_value(server.metrics_url, "grpc_server_handled_total", grpc_code="Canceled", **STEP)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_a_stalled_client_holds_only_its_buffer_and_gives_it_back_when_it_goes(keepalive_server: ServerProcess,
                                                                               signum: signal.Signals) -> None:
    server, name = keepalive_server, signum.name.lower()
    with lrctl.Client(server.address) as client:
        job = client.create_job(f"stalled-{name}", DATA_POLICY, optimizer={"sgd": {}})
        job.init_params({"w": np.ones(ELEMENTS, np.float32)})
        client.create_job(f"busy-{name}", DATA_POLICY, optimizer={"adam": {}}).init_params(initial(3))
        client.create_job(f"reporting-{name}", CONTROL_POLICY)
        memory = metric_value(server.metrics_url, "lrctl_device_memory_bytes", device="cpu")
        cancelled = steps_cancelled(server)
        child = stalled_step(server.address, job.job_id)
        stop = threading.Event()
        others = [Trainer(server.address, f"busy-{name}", seed=3, stop=stop),
                  Reporter(server.address, [f"reporting-{name}"], stop=stop)]
        try:
            wait_for(lambda: steps_in_flight(server) == 1, 10, "the stalled step to reach the server")
            for thread in others:
                thread.start()
            with pytest.raises(lrctl.FailedPrecondition):  # refused at once: nothing waits for the stalled call
                job.step(5, {"w": np.ones(ELEMENTS, np.float32)}, timeout=2)
            result = job.step(0, {"w": np.ones(ELEMENTS, np.float32)}, timeout=2)  # goes on beside it
            assert not result.duplicate and result.params["w"].shape == (ELEMENTS,)
            started = time.monotonic()
            child.send_signal(signum)
            wait_for(lambda: steps_cancelled(server) == cancelled + 1, 10, "the stalled call to end")
            waited = time.monotonic() - started
        finally:
            child.kill()
            child.wait(10)
        assert waited < 10, f"the stalled call ended after {waited:.1f} s"
        time.sleep(0.5)
        stop.set()
        for thread in others:
            thread.join(30)
        assert metric_value(server.metrics_url, "lrctl_device_memory_bytes", device="cpu") == memory, \
            "every gradient buffer a step took was given back"
        assert job.step(1, {"w": np.ones(ELEMENTS, np.float32)}, timeout=2).params["w"].shape == (ELEMENTS,)
    for thread in others:
        assert thread.error is None, thread.error
        assert len(thread.latencies) >= 10
        assert statistics.median(thread.latencies) < 0.25 and max(thread.latencies) < 3.0, thread.latencies


def watch_until_closed(job: lrctl.Job, since_version: int, seen: list[lrctl.Event]) -> tuple[Exception | None, float]:
    started = time.monotonic()
    try:
        for event in job.watch(since_version=since_version):
            seen.append(event)
    except lrctl.LrctlError as error:
        return error, time.monotonic() - started
    return None, time.monotonic() - started


def test_an_aged_connection_ends_a_watch_with_unavailable_and_unary_calls_go_on(aging_server: ServerProcess) -> None:
    with lrctl.Client(aging_server.address) as client:
        job = client.create_job("aged", CONTROL_POLICY)
        seen: list[lrctl.Event] = []
        outcome: list[tuple[Exception | None, float]] = []
        watcher = threading.Thread(target=lambda: outcome.append(watch_until_closed(job, 0, seen)))
        watcher.start()
        step = 0
        while watcher.is_alive() and step < 500:
            step += 1
            job.report(step, loss=1.0 / step)  # unary calls keep working across reconnects
            time.sleep(0.02)
        watcher.join(30)
        error, seconds = outcome[0]
        assert isinstance(error, lrctl.Unavailable), error
        assert 1.5 <= seconds < 10, seconds  # age 1 s + grace 1 s
        for step in range(step + 1, step + 20):
            job.report(step, loss=0.1)
        resumed: list[lrctl.Event] = []
        last = seen[-1].version if seen else 0
        error, _ = watch_until_closed(job, last, resumed)
        assert isinstance(error, lrctl.Unavailable)
        versions = [e.version for e in seen + resumed]
        assert versions == sorted(set(versions)) and resumed, "watching again from the last version misses nothing"


def test_follow_keeps_following_across_an_aged_connection(aging_server: ServerProcess) -> None:
    with lrctl.Client(aging_server.address) as client, lrctl.Client(aging_server.address) as operator:
        job = client.create_job("followed", CONTROL_POLICY, horizon=100)
        job.lr(0)
        job.follow()
        time.sleep(4)  # the connection the watch started on is closed after 2 s (age 1 s + grace 1 s)
        operator.job("followed").override(lr=0.5, reason="after the reconnect")
        wait_for(lambda: job._lease is None, 3, "the follower to drop the stale lease")
        assert job.lr(0) == 0.5
