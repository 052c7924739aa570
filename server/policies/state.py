"""PolicyState: everything besides the Policy that the LR of a step depends on.

A small immutable value, changed only by metric reports and overrides, that exports to
and restores from plain JSON (state_to_dict / state_from_dict, an exact round trip).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lrctl.server.errors import FieldViolation, InvalidArgument

from lrctl.server.validation import Checks, is_int, is_real
from .config import Policy
from .early_stopping import EarlyStoppingState
from .plateau import PlateauState


@dataclass(frozen=True, slots=True)
class Override:
    """An operator's pin (lr) or scale, for steps < until_step (until_step 0: forever)."""

    lr: float | None
    scale: float | None
    until_step: int = 0
    reason: str = ""

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require((self.lr is None) != (self.scale is None), "lr", self.lr, "set exactly one of lr and scale")
        checks.require(self.lr is None or (is_real(self.lr) and self.lr >= 0), "lr", self.lr, "must be >= 0")
        checks.require(self.scale is None or (is_real(self.scale) and self.scale >= 0), "scale", self.scale,
                       "must be >= 0")
        checks.require(is_int(self.until_step) and self.until_step >= 0, "until_step", self.until_step,
                       "must be an integer >= 0")
        checks.require(isinstance(self.reason, str), "reason", self.reason, "must be a string")
        checks.raise_if_any()


@dataclass(frozen=True, slots=True)
class PolicyState:
    """Plateau and early-stopping progress, the override, and the last reported step."""

    plateau: PlateauState = field(default_factory=PlateauState)
    early_stopping: EarlyStoppingState = field(default_factory=EarlyStoppingState)
    override: Override | None = None
    last_report_step: int = -1


def initial_state(policy: Policy) -> PolicyState:
    """The state of a job that has reported nothing yet.

    It does not depend on the policy: a state stays valid when the policy is updated.
    """
    del policy
    return PolicyState()


def state_to_dict(state: PolicyState) -> dict[str, Any]:
    """A JSON-serializable dict (strict JSON: non-finite floats become strings)."""
    plateau, stopping, override = state.plateau, state.early_stopping, state.override
    return {
        "plateau": {
            "best": _encode(plateau.best),
            "num_bad_reports": plateau.num_bad_reports,
            "num_good_reports": plateau.num_good_reports,
            "cooldown_counter": plateau.cooldown_counter,
            "reductions": plateau.reductions,
            "increases": plateau.increases,
            "scales": [[step, _encode(scale)] for step, scale in plateau.scales],
        },
        "early_stopping": {
            "best": _encode(stopping.best),
            "wait": stopping.wait,
            "should_stop": stopping.should_stop,
            "stopped_step": stopping.stopped_step,
        },
        "override": None if override is None else {
            "lr": _encode(override.lr),
            "scale": _encode(override.scale),
            "until_step": override.until_step,
            "reason": override.reason,
        },
        "last_report_step": state.last_report_step,
    }


def state_from_dict(data: dict[str, Any]) -> PolicyState:
    """Inverse of state_to_dict; a malformed dict raises InvalidArgument (it may come from an
    imported job file)."""
    try:
        plateau, stopping, override = data["plateau"], data["early_stopping"], data["override"]
        return PolicyState(
            plateau=PlateauState(
                best=_decode(plateau["best"]),
                num_bad_reports=int(plateau["num_bad_reports"]),
                num_good_reports=int(plateau["num_good_reports"]),
                cooldown_counter=int(plateau["cooldown_counter"]),
                reductions=int(plateau["reductions"]),
                increases=int(plateau["increases"]),
                scales=tuple((int(step), _decode(scale)) for step, scale in plateau["scales"]),
            ),
            early_stopping=EarlyStoppingState(
                best=_decode(stopping["best"]),
                wait=int(stopping["wait"]),
                should_stop=bool(stopping["should_stop"]),
                stopped_step=None if stopping["stopped_step"] is None else int(stopping["stopped_step"]),
            ),
            override=None if override is None else Override(
                lr=_decode(override["lr"]),
                scale=_decode(override["scale"]),
                until_step=int(override["until_step"]),
                reason=override["reason"],
            ),
            last_report_step=int(data["last_report_step"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument(FieldViolation("state", f"Invalid policy state: {exc!r}")) from exc


def _encode(value: float | None) -> float | str | None:
    return value if value is None or math.isfinite(value) else repr(float(value))


def _decode(value: float | str | None) -> float | None:
    return None if value is None else float(value)
