"""The jobs layer's domain values: what a job is, one picture of it, its events, a decision."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from lrctl.server import optim, policies


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
