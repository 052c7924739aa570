"""Shared pieces of the fault tests: deterministic gradients, load threads that record every
acknowledged call, snapshot files, /metrics and polling with deadlines."""
from __future__ import annotations

import pathlib
import threading
import time
import urllib.request
from typing import Callable

import numpy as np

import lrctl

SHAPES = {"w": (100, 80), "b": (2000,)}
"""10,000 elements per data-plane job."""

DATA_POLICY = {"lr": 0.01, "warmup": {"steps": 5}}
CONTROL_POLICY = {"lr": 0.1, "plateau": {"metric": "loss", "factor": 0.5, "patience": 1}}
OPTIMIZERS = ({"adam": {}}, {"sgd": {"momentum": 0.9, "nesterov": True}}, {"adamw": {"weight_decay": 0.01}})


def initial(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def grads(seed: int, step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, step])
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def loss(job: int, step: int) -> float:
    """A loss that plateaus now and then, so plateau reductions (events) happen."""
    return 1.0 / (1 + step // 3) + 0.001 * job


def assert_params_equal(ours: dict[str, np.ndarray], theirs: dict[str, np.ndarray]) -> None:
    """Bit for bit."""
    assert list(ours) == list(theirs)
    for name in theirs:
        assert ours[name].tobytes() == theirs[name].tobytes(), f"tensor {name!r} differs"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Trainer(threading.Thread):
    """Steps one data-plane job until stopped or a call fails.

    `replies[s]` is the parameters after steps [0, s) as the server answered them (replies[0]
    is the upload); `sent` is the highest step sent; `acked` the highest answered.
    """

    def __init__(self, address: str, job_id: str, seed: int, start_step: int = 0,
                 stop: threading.Event | None = None) -> None:
        super().__init__(name=f"trainer-{job_id}", daemon=True)
        self.address, self.job_id, self.seed = address, job_id, seed
        self.start_step = start_step
        self.stop = stop or threading.Event()
        self.replies: dict[int, dict[str, np.ndarray]] = {0: initial(seed)}
        self.sent = start_step - 1
        self.acked = start_step - 1
        self.error: lrctl.LrctlError | None = None
        self.latencies: list[float] = []

    def run(self) -> None:
        with lrctl.Client(self.address, timeout=30) as client:
            job = client.job(self.job_id)
            job._shapes = dict(SHAPES)
            step = self.start_step
            while not self.stop.is_set():
                self.sent = step
                started = time.monotonic()
                try:
                    params = job.step(step, grads(self.seed, step)).params
                except lrctl.LrctlError as error:
                    self.error = error
                    return
                self.latencies.append(time.monotonic() - started)
                self.replies[step + 1] = params
                self.acked = step
                step += 1


class Reporter(threading.Thread):
    """Reports metrics for some control-plane jobs, step after step, until stopped or a call
    fails; `acked[job_id][step]` is the (lr, version, events) each acknowledged report got."""

    def __init__(self, address: str, job_ids: list[str], stop: threading.Event | None = None) -> None:
        super().__init__(name=f"reporter-{job_ids[0]}", daemon=True)
        self.address, self.job_ids = address, job_ids
        self.stop = stop or threading.Event()
        self.acked: dict[str, dict[int, lrctl.Decision]] = {job_id: {} for job_id in job_ids}
        self.error: lrctl.LrctlError | None = None
        self.latencies: list[float] = []

    def run(self) -> None:
        # Fail fast: a report the killed server never answered must not be taken for acknowledged.
        with lrctl.Client(self.address, timeout=30, outage_tolerance_seconds=0) as client:
            step = 0
            while not self.stop.is_set():
                step += 1
                for n, job_id in enumerate(self.job_ids):
                    started = time.monotonic()
                    try:
                        decision = client.job(job_id).report(step, self.metrics(n, step))
                    except lrctl.LrctlError as error:
                        self.error = error
                        return
                    self.latencies.append(time.monotonic() - started)
                    self.acked[job_id][step] = decision

    @staticmethod
    def metrics(job: int, step: int) -> dict[str, float]:
        return {"loss": loss(job, step), "acc": step / (step + 10.0)}


def snapshot_files(data_dir: pathlib.Path) -> list[pathlib.Path]:
    return sorted((data_dir / "snapshots").iterdir())


def metric_value(metrics_url: str, name: str, **labels: str) -> float:
    """The value of a series on the server's /metrics page (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=10) as reply:
        text = reply.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0
