"""Every Prometheus series lrctl exports, declared once, and the small calls that feed them.

All series live on `REGISTRY`, a registry of lrctl's own rather than prometheus_client's
global one, so tests and several servers in one process do not collide. Per-job series carry
one label, `job_id`, whose values are bounded by `JOB_LABELS`: the first `cap` jobs seen get their
own value, later ones count under `job_id="_other"` until a slot frees (see `JobLabels`). The
label is `job_id`, not `job`: Prometheus owns `job` (the scrape target's) and would rename ours
to `exported_job`.

This module imports nothing from the rest of the server; the core calls the functions below.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OTHER_JOBS = "_other"
"""The `job_id` label value shared by jobs beyond the label cap."""

DEFAULT_JOB_LABEL_CAP = 100

REGISTRY = CollectorRegistry(auto_describe=True)

# Latency buckets from 100 µs: a control-plane RPC on loopback takes a few hundred µs.
_RPC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STEP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SNAPSHOT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                     30.0, 60.0, 120.0, 300.0)

# --- gRPC server series: go-grpc-prometheus names and labels; fed by grpc_metrics.py. ---
_GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")
GRPC_SERVER_STARTED = Counter(
    "grpc_server_started_total", "RPCs started on the server.", _GRPC_LABELS, registry=REGISTRY)
GRPC_SERVER_HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed on the server, by status code.",
    _GRPC_LABELS + ("grpc_code",), registry=REGISTRY)
GRPC_SERVER_MSG_RECEIVED = Counter(
    "grpc_server_msg_received_total", "Messages received from clients.", _GRPC_LABELS,
    registry=REGISTRY)
GRPC_SERVER_MSG_SENT = Counter(
    "grpc_server_msg_sent_total", "Messages sent to clients.", _GRPC_LABELS, registry=REGISTRY)
GRPC_SERVER_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds", "Time from the start of an RPC to its completion on the server.",
    _GRPC_LABELS, buckets=_RPC_BUCKETS, registry=REGISTRY)

# --- Jobs and the control plane. ---
JOBS = Gauge("lrctl_jobs", "Registered jobs, by state.", ("state",), registry=REGISTRY)
JOB_LABELS_IN_USE = Gauge(
    "lrctl_job_labels", "Jobs that have their own `job_id` label value (at most the label cap).",
    registry=REGISTRY)
LEARNING_RATE = Gauge(
    "lrctl_learning_rate", "Learning rate at the latest step a job asked for.", ("job_id",),
    registry=REGISTRY)
JOB_STEP = Gauge(
    "lrctl_job_step", "Latest step a job asked its learning rate for or stepped.", ("job_id",),
    registry=REGISTRY)
PLATEAU_REDUCTIONS = Counter(
    "lrctl_plateau_reductions_total", "Learning-rate reductions by the plateau rule.", ("job_id",),
    registry=REGISTRY)
PLATEAU_INCREASES = Counter(
    "lrctl_plateau_increases_total", "Learning-rate increases after sustained improvement.",
    ("job_id",), registry=REGISTRY)
SCHEDULE_RESTARTS = Counter(
    "lrctl_schedule_restarts_total", "Warm restarts of a cyclic schedule.", ("job_id",),
    registry=REGISTRY)
EARLY_STOPS = Counter(
    "lrctl_early_stops_total", "Early-stopping decisions.", ("job_id",), registry=REGISTRY)
OVERRIDES = Counter(
    "lrctl_overrides_total", "Operator overrides set or cleared.", ("job_id",), registry=REGISTRY)
NONFINITE_METRICS_SKIPPED = Counter(
    "lrctl_nonfinite_metrics_skipped_total", "Reported metric values skipped as NaN or infinite.",
    ("job_id",), registry=REGISTRY)

# --- Data plane. ---
OPTIMIZER_STEPS = Counter(
    "lrctl_optimizer_steps_total", "Optimizer steps applied.", ("job_id",), registry=REGISTRY)
OPTIMIZER_STEP_SECONDS = Histogram(
    "lrctl_optimizer_step_seconds", "Time to apply one optimizer step, transfers excluded.",
    ("optimizer",), buckets=_STEP_BUCKETS, registry=REGISTRY)
OPTIMIZER_ELEMENTS = Counter(
    "lrctl_optimizer_elements_total", "Parameter elements updated by optimizer steps.",
    ("optimizer",), registry=REGISTRY)
NONFINITE_GRADIENTS_SKIPPED = Counter(
    "lrctl_nonfinite_gradients_skipped_total", "Steps skipped because a gradient was NaN or infinite.",
    ("job_id",), registry=REGISTRY)
RECEIVED_BYTES = Counter(
    "lrctl_received_bytes_total", "Tensor payload bytes received from clients.", registry=REGISTRY)
SENT_BYTES = Counter(
    "lrctl_sent_bytes_total", "Tensor payload bytes sent to clients.", registry=REGISTRY)
DEVICE_MEMORY_BYTES = Gauge(
    "lrctl_device_memory_bytes", "Bytes of job arrays held on each device.", ("device",),
    registry=REGISTRY)

# --- Durability. ---
SNAPSHOT_SECONDS = Histogram(
    "lrctl_snapshot_seconds", "Time to write one job snapshot atomically.",
    buckets=_SNAPSHOT_BUCKETS, registry=REGISTRY)
SNAPSHOT_FAILURES = Counter(
    "lrctl_snapshot_failures_total", "Snapshots that failed and left the previous one in place.",
    registry=REGISTRY)

_PER_JOB = (LEARNING_RATE, JOB_STEP, PLATEAU_REDUCTIONS, PLATEAU_INCREASES, SCHEDULE_RESTARTS,
            EARLY_STOPS, OVERRIDES, NONFINITE_METRICS_SKIPPED, OPTIMIZER_STEPS,
            NONFINITE_GRADIENTS_SKIPPED)

EVENT_COUNTERS: Mapping[str, Counter] = {
    "reduced": PLATEAU_REDUCTIONS,
    "increased": PLATEAU_INCREASES,
    "restart": SCHEDULE_RESTARTS,
    "early_stop": EARLY_STOPS,
    "override_set": OVERRIDES,
    "override_cleared": OVERRIDES,
    "nonfinite_metric": NONFINITE_METRICS_SKIPPED,
    "nonfinite_gradient": NONFINITE_GRADIENTS_SKIPPED,
}
"""Event kinds `count_events` counts (the policies' and jobs' event kinds, plus skipped
non-finite values), and the counter each one increments."""


class JobLabels:
    """Hands out `job_id` label values, at most `cap` distinct ones, and frees them on delete.

    A job beyond the cap is labelled `_other` until a slot frees; its next observation then
    takes the slot, so a long-lived fleet converges to "every live job labelled" when it fits.
    """

    def __init__(self, cap: int = DEFAULT_JOB_LABEL_CAP) -> None:
        self._lock = threading.Lock()
        self._jobs: set[str] = set()
        self.cap = cap

    @property
    def cap(self) -> int:
        return self._cap

    @cap.setter
    def cap(self, cap: int) -> None:
        if cap < 0:
            raise ValueError(f"Invalid job label cap: {cap}")
        self._cap = cap

    def label(self, job_id: str) -> str:
        """The label value for `job_id`, taking a free slot if it has none."""
        if job_id in self._jobs:
            return job_id
        with self._lock:
            if job_id not in self._jobs:
                if len(self._jobs) >= self._cap:
                    return OTHER_JOBS
                self._jobs.add(job_id)
                JOB_LABELS_IN_USE.set(len(self._jobs))
        return job_id

    def release(self, job_id: str) -> bool:
        """Frees `job_id`'s slot; False if it had none (it counted under `_other`)."""
        with self._lock:
            if job_id not in self._jobs:
                return False
            self._jobs.discard(job_id)
            JOB_LABELS_IN_USE.set(len(self._jobs))
            return True

    def __len__(self) -> int:
        return len(self._jobs)


JOB_LABELS = JobLabels()
_job_states: set[str] = set()


def set_job_label_cap(cap: int) -> None:
    """Sets how many jobs get their own label value; call once at start-up."""
    JOB_LABELS.cap = cap


def observe_learning_rate(job_id: str, step: int, lr: float) -> None:
    """Records the LR a job got for `step`. Jobs under `_other` are not recorded: a last-write
    LR of some unnamed job would mislead."""
    label = JOB_LABELS.label(job_id)
    if label != OTHER_JOBS:
        LEARNING_RATE.labels(label).set(lr)
        JOB_STEP.labels(label).set(step)


def count_events(job_id: str, kinds: Iterable[str]) -> None:
    """Counts one occurrence of each kind for a job; a kind may repeat. Kinds that are not keys
    of `EVENT_COUNTERS` (e.g. a plain "metrics" event) count nothing, so a job's events can be
    passed as they are."""
    label = JOB_LABELS.label(job_id)
    for kind in kinds:
        counter = EVENT_COUNTERS.get(kind)
        if counter is not None:
            counter.labels(label).inc()


def observe_optimizer_step(job_id: str, optimizer: str, seconds: float, elements: int,
                           received_bytes: int = 0, sent_bytes: int = 0) -> None:
    """Records one applied optimizer step (`optimizer` is its kind, e.g. "adamw")."""
    OPTIMIZER_STEPS.labels(JOB_LABELS.label(job_id)).inc()
    OPTIMIZER_STEP_SECONDS.labels(optimizer).observe(seconds)
    OPTIMIZER_ELEMENTS.labels(optimizer).inc(elements)
    count_transfer(received_bytes, sent_bytes)


def count_transfer(received_bytes: int = 0, sent_bytes: int = 0) -> None:
    """Counts tensor payload bytes moved (a step's, or an upload, pull, export or import)."""
    if received_bytes:
        RECEIVED_BYTES.inc(received_bytes)
    if sent_bytes:
        SENT_BYTES.inc(sent_bytes)


def observe_snapshot(seconds: float, ok: bool = True) -> None:
    """Records one snapshot attempt; a failed one counts in `lrctl_snapshot_failures_total`."""
    if ok:
        SNAPSHOT_SECONDS.observe(seconds)
    else:
        SNAPSHOT_FAILURES.inc()


def set_job_counts(counts_by_state: Mapping[str, int]) -> None:
    """Sets `lrctl_jobs{state}`; a state reported before and missing now is set to 0."""
    for state in _job_states - counts_by_state.keys():
        JOBS.labels(state).set(0)
    for state, count in counts_by_state.items():
        JOBS.labels(state).set(count)
    _job_states.update(counts_by_state)


def set_device_memory(device: str, used_bytes: int) -> None:
    """Sets the bytes of job arrays held on `device` (e.g. "cpu", "cuda:0")."""
    DEVICE_MEMORY_BYTES.labels(device).set(used_bytes)


def job_deleted(job_id: str) -> None:
    """Removes a deleted job's series and frees its label slot. A job under `_other` leaves the
    shared series alone: they are sums over many jobs."""
    if not JOB_LABELS.release(job_id):
        return
    for metric in _PER_JOB:
        metric.remove(job_id)


def start_http_server(port: int, addr: str = "127.0.0.1"):
    """Serves `REGISTRY` at http://addr:port/metrics from a daemon thread; returns
    (server, thread) so the caller can `server.shutdown()` on exit."""
    return prometheus_client.start_http_server(port, addr=addr, registry=REGISTRY)
