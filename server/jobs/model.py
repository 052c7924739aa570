"""The jobs layer's domain values: what a job is, one picture of it, its events, a decision."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from lrctl.server import optim, policies
from lrctl.server.validation import Checks, is_int, is_real


REDUCTIONS = ("mean", "sum")
MAX_WORKERS = 1024
MAX_STEP_TIMEOUT_SECONDS = 86_400.0


@dataclass(frozen=True, slots=True)
class Workers:
    """How many data-parallel ranks send each step's gradients, how their gradients combine
    ("mean", as DDP averages, or "sum"), and how long a step waits for all of them."""

    count: int = 1
    reduction: str = "mean"
    step_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(is_int(self.count) and 1 <= self.count <= MAX_WORKERS, "workers", self.count,
                       f"must be an integer in [1, {MAX_WORKERS}]")
        checks.one_of("gradient_reduction", self.reduction, REDUCTIONS)
        checks.require(is_real(self.step_timeout_seconds) and 0 < self.step_timeout_seconds <= MAX_STEP_TIMEOUT_SECONDS,
                       "step_timeout_seconds", self.step_timeout_seconds,
                       f"must be > 0 and at most {MAX_STEP_TIMEOUT_SECONDS:g}")
        checks.raise_if_any()


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a job was created with: the parsed policy and optimizer, and the canonical JSON
    they came from.

    `document` is the spec in protobuf's JSON mapping with sorted keys, so equal specs
    have equal documents (that is how an idempotent CreateJob recognises a retry).
    `optimizer` is None for a job that uses the control plane only.
    """

    policy: policies.Policy
    document: str
    optimizer: optim.OptimizerConfig | None = None
    snapshot_every_steps: int = 0
    workers: Workers = Workers()


@dataclass(frozen=True, slots=True)
class JobEvent:
    job_id: str
    version: int
    kind: str
    step: int
    lr: float
    reason: str = ""
    time: float = 0.0
    metrics: Mapping[str, float] = field(default_factory=dict)
    count: int = 1
    """Occurrences this event stands for (the warm restarts one report passed); the last at `step`."""
    first_step: int | None = None
    """The step of the first occurrence, when count > 1."""


@dataclass(frozen=True, slots=True)
class JobView:
    """A complete, immutable picture of one job at one version.

    `create_time` also tells incarnations apart: a job deleted and created again under the
    same id is another job, and nothing of the first (cached LRs, arrays, snapshots) may
    reach the second.
    """

    job_id: str
    spec: JobSpec
    idempotency_key: str
    state: policies.PolicyState
    version: int
    policy_version: int
    skipped_nonfinite_metrics: int
    create_time: float
    update_time: float

    @property
    def should_stop(self) -> bool:
        return self.state.early_stopping.should_stop

    @property
    def status(self) -> str:
        """"stopped" once early stopping said so, else "active"."""
        return "stopped" if self.should_stop else "active"

    def lr_at(self, step: int) -> float:
        return policies.lr_at_step(self.spec.policy, self.state, step)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one ReportMetrics."""

    lr: float
    should_stop: bool
    version: int
    events: tuple[JobEvent, ...]
    duplicate_metrics: tuple[str, ...]
