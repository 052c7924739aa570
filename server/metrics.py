"""Every Prometheus series lrctl exports, declared once, on one `ServerMetrics` per server.

A server builds its own ServerMetrics (with a registry of its own) and hands it to what it
observes: the gRPC interceptor, the job registry, the data plane. Two servers in one process
therefore never report each other's numbers. Counters and histograms are fed as things
happen; gauges that describe a state (jobs by state, job labels in use, bytes of job arrays)
are read at scrape time from the object that holds that state (`read_at_scrape`), so they
cannot drift from it.

Per-job series carry one label, `job_id`, whose values are bounded by `JobLabels`: the first
`cap` jobs seen get their own value, later ones count under `job_id="_other"` until a slot
frees. The label is `job_id`, not `job`: Prometheus owns `job` (the scrape target's) and would
rename ours to `exported_job`.

This module imports nothing from the rest of the server.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

OTHER_JOBS = "_other"
"""The `job_id` label value shared by jobs beyond the label cap."""

DEFAULT_JOB_LABEL_CAP = 100

# Latency buckets from 100 µs: a control-plane RPC on loopback takes a few hundred µs.
RPC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
               0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STEP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SNAPSHOT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 120.0, 300.0)
GRPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")

EVENT_COUNTER_NAMES: Mapping[str, str] = {
    "reduced": "plateau_reductions",
    "increased": "plateau_increases",
    "restart": "schedule_restarts",
    "early_stop": "early_stops",
    "override_set": "overrides",
    "override_cleared": "overrides",
    "nonfinite_metric": "nonfinite_metrics_skipped",
    "nonfinite_gradient": "nonfinite_gradients_skipped",
}
"""Event kinds `count_events` counts (the policies' and jobs' event kinds, plus skipped
non-finite values), and the attribute of the counter each one increments."""


class JobLabels:
    """Hands out `job_id` label values, at most `cap` distinct ones, and frees them on delete.

    A job beyond the cap is labelled `_other` until a slot frees; its next observation then
    takes the slot, so a long-lived fleet converges to "every live job labelled" when it fits.
    """

    def __init__(self, cap: int = DEFAULT_JOB_LABEL_CAP) -> None:
        if cap < 0:
            raise ValueError(f"Invalid job label cap: {cap}")
        self._lock = threading.Lock()
        self._jobs: set[str] = set()
        self.cap = cap

    def label(self, job_id: str) -> str:
        """The label value for `job_id`, taking a free slot if it has none."""
        if job_id in self._jobs:
            return job_id
        with self._lock:
            if job_id not in self._jobs:
                if len(self._jobs) >= self.cap:
                    return OTHER_JOBS
                self._jobs.add(job_id)
        return job_id

    def release(self, job_id: str) -> bool:
        """Frees `job_id`'s slot; False if it had none (it counted under `_other`)."""
        with self._lock:
            if job_id not in self._jobs:
                return False
            self._jobs.discard(job_id)
            return True

    def __len__(self) -> int:
        return len(self._jobs)


class _ScrapeTimeGauges(Collector):
    """Gauges computed from the server's own state whenever Prometheus scrapes."""

    def __init__(self, labels: JobLabels) -> None:
        self._labels = labels
        self.job_counts: Callable[[], Mapping[str, int]] = dict
        self.device_memory: Callable[[], Mapping[str, int]] = dict

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("lrctl_jobs", "Registered jobs, by state.", labels=("state",))
        for state, count in sorted(self.job_counts().items()):
            jobs.add_metric((state,), count)
        yield jobs
        yield GaugeMetricFamily("lrctl_job_labels",
                                "Jobs that have their own `job_id` label value (at most the label cap).",
                                value=len(self._labels))
        memory = GaugeMetricFamily("lrctl_device_memory_bytes", "Bytes of job arrays held on each device.",
                                   labels=("device",))
        for device, used in sorted(self.device_memory().items()):
            memory.add_metric((device,), used)
        yield memory


class ServerMetrics:
    """One server's series, on `registry`. Construct one per server and pass it along."""

    def __init__(self, job_label_cap: int = DEFAULT_JOB_LABEL_CAP) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.job_labels = JobLabels(job_label_cap)
        self._gauges = _ScrapeTimeGauges(self.job_labels)
        self.registry.register(self._gauges)
        r = self.registry

        # gRPC server series: go-grpc-prometheus names and labels; fed by grpc_metrics.py.
        self.grpc_started = Counter("grpc_server_started_total", "RPCs started on the server.", GRPC_LABELS,
                                    registry=r)
        self.grpc_handled = Counter("grpc_server_handled_total", "RPCs completed on the server, by status code.",
                                    GRPC_LABELS + ("grpc_code",), registry=r)
        self.grpc_received = Counter("grpc_server_msg_received_total", "Messages received from clients.",
                                     GRPC_LABELS, registry=r)
        self.grpc_sent = Counter("grpc_server_msg_sent_total", "Messages sent to clients.", GRPC_LABELS,
                                 registry=r)
        self.grpc_seconds = Histogram("grpc_server_handling_seconds",
                                      "Time from the start of an RPC to its completion on the server.",
                                      GRPC_LABELS, buckets=RPC_BUCKETS, registry=r)

        # Jobs and the control plane.
        self.learning_rate = Gauge("lrctl_learning_rate", "Learning rate at the latest step a job asked for.",
                                   ("job_id",), registry=r)
        self.job_step = Gauge("lrctl_job_step", "Latest step a job asked its learning rate for or stepped.",
                              ("job_id",), registry=r)
        self.plateau_reductions = Counter("lrctl_plateau_reductions_total",
                                          "Learning-rate reductions by the plateau rule.", ("job_id",), registry=r)
        self.plateau_increases = Counter("lrctl_plateau_increases_total",
                                         "Learning-rate increases after sustained improvement.", ("job_id",),
                                         registry=r)
        self.schedule_restarts = Counter("lrctl_schedule_restarts_total", "Warm restarts of a cyclic schedule.",
                                         ("job_id",), registry=r)
        self.early_stops = Counter("lrctl_early_stops_total", "Early-stopping decisions.", ("job_id",), registry=r)
        self.overrides = Counter("lrctl_overrides_total", "Operator overrides set or cleared.", ("job_id",),
                                 registry=r)
        self.nonfinite_metrics_skipped = Counter("lrctl_nonfinite_metrics_skipped_total",
                                                 "Reported metric values skipped as NaN or infinite.", ("job_id",),
                                                 registry=r)

        # Data plane.
        self.optimizer_steps = Counter("lrctl_optimizer_steps_total", "Optimizer steps applied.", ("job_id",),
                                       registry=r)
        self.optimizer_step_seconds = Histogram("lrctl_optimizer_step_seconds",
                                                "Time to apply one optimizer step, transfers excluded.",
                                                ("optimizer",), buckets=STEP_BUCKETS, registry=r)
        self.optimizer_elements = Counter("lrctl_optimizer_elements_total",
                                          "Parameter elements updated by optimizer steps.", ("optimizer",),
                                          registry=r)
        self.nonfinite_gradients_skipped = Counter("lrctl_nonfinite_gradients_skipped_total",
                                                   "Steps skipped because a gradient was NaN or infinite.",
                                                   ("job_id",), registry=r)
        self.received_bytes = Counter("lrctl_received_bytes_total", "Tensor payload bytes received from clients.",
                                      registry=r)
        self.sent_bytes = Counter("lrctl_sent_bytes_total", "Tensor payload bytes sent to clients.", registry=r)

        # Durability.
        self.snapshot_seconds = Histogram("lrctl_snapshot_seconds", "Time to write one job snapshot atomically.",
                                          buckets=SNAPSHOT_BUCKETS, registry=r)
        self.snapshot_failures = Counter("lrctl_snapshot_failures_total",
                                         "Snapshots that failed and left the previous one in place.", registry=r)

        self._per_job = (self.learning_rate, self.job_step, self.plateau_reductions, self.plateau_increases,
                         self.schedule_restarts, self.early_stops, self.overrides, self.nonfinite_metrics_skipped,
                         self.optimizer_steps, self.nonfinite_gradients_skipped)
        self._event_counters = {kind: getattr(self, name) for kind, name in EVENT_COUNTER_NAMES.items()}

    # ---- scrape-time gauges ------------------------------------------------------------
    def read_at_scrape(self, *, job_counts: Callable[[], Mapping[str, int]] | None = None,
                       device_memory: Callable[[], Mapping[str, int]] | None = None) -> None:
        """Names the functions that `lrctl_jobs{state}` and `lrctl_device_memory_bytes{device}`
        read at every scrape; each must be cheap and thread-safe."""
        if job_counts is not None:
            self._gauges.job_counts = job_counts
        if device_memory is not None:
            self._gauges.device_memory = device_memory

    # ---- what the server observes -------------------------------------------------------
    def observe_learning_rate(self, job_id: str, step: int, lr: float) -> None:
        """Records the LR a job got for `step`. Jobs under `_other` are not recorded: a last-write
        LR of some unnamed job would mislead."""
        label = self.job_labels.label(job_id)
        if label != OTHER_JOBS:
            self.learning_rate.labels(label).set(lr)
            self.job_step.labels(label).set(step)

    def count_events(self, job_id: str, counts: Iterable[tuple[str, int]]) -> None:
        """Counts (kind, times) pairs for a job; a kind may repeat. Kinds without a counter
        (e.g. a plain "metrics" event) count nothing, so a job's events can be passed as they
        are."""
        for kind, times in counts:
            self.count_event(job_id, kind, times)

    def count_event(self, job_id: str, kind: str, times: int = 1) -> None:
        """Counts `times` occurrences of one kind (e.g. several warm restarts in one report)."""
        counter = self._event_counters.get(kind)
        if counter is not None and times:
            counter.labels(self.job_labels.label(job_id)).inc(times)

    def observe_optimizer_step(self, job_id: str, optimizer: str, seconds: float, elements: int) -> None:
        """Records one applied optimizer step (`optimizer` is its kind, e.g. "adamw")."""
        self.optimizer_steps.labels(self.job_labels.label(job_id)).inc()
        self.optimizer_step_seconds.labels(optimizer).observe(seconds)
        self.optimizer_elements.labels(optimizer).inc(elements)

    def count_transfer(self, received_bytes: int = 0, sent_bytes: int = 0) -> None:
        """Counts tensor payload bytes moved (a step's, or an upload, pull, export or import)."""
        if received_bytes:
            self.received_bytes.inc(received_bytes)
        if sent_bytes:
            self.sent_bytes.inc(sent_bytes)

    def observe_snapshot(self, seconds: float, ok: bool = True) -> None:
        """Records one snapshot attempt; a failed one counts in `lrctl_snapshot_failures_total`."""
        if ok:
            self.snapshot_seconds.observe(seconds)
        else:
            self.snapshot_failures.inc()

    def job_deleted(self, job_id: str) -> None:
        """Removes a deleted job's series and frees its label slot. A job under `_other` leaves the
        shared series alone: they are sums over many jobs."""
        if not self.job_labels.release(job_id):
            return
        for metric in self._per_job:
            metric.remove(job_id)

    def start_http_server(self, port: int, addr: str = "127.0.0.1"):
        """Serves this registry at http://addr:port/metrics from a daemon thread; returns
        (server, thread) so the caller can `server.shutdown()` on exit."""
        return prometheus_client.start_http_server(port, addr=addr, registry=self.registry)
