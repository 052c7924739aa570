"""PolicyState: everything besides the Policy that the LR of a step depends on.

A small immutable value, changed only by metric reports and overrides, that exports to
and restores from plain JSON (state_to_dict / state_from_dict, an exact round trip).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from lrctl.server.errors import FieldViolation, InvalidArgument

from lrctl.server.validation import MAX_STEP, Checks, is_int, is_real
from .config import Policy
from .early_stopping import EarlyStoppingState
from .plateau import PlateauState
from .scale_history import ScaleHistory


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
        checks.require(self.lr is None or (is_real(self.lr) and self.lr > 0), "lr", self.lr, "must be > 0")
        checks.require(self.scale is None or (is_real(self.scale) and self.scale > 0), "scale", self.scale,
                       "must be > 0")
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


def state_to_dict(state: PolicyState, with_scales: bool = True) -> dict[str, Any]:
    """A JSON-serializable dict (strict JSON: non-finite floats become strings). Without
    `with_scales` it leaves out the plateau's scale history, which the store keeps apart."""
    plateau, stopping, override = state.plateau, state.early_stopping, state.override
    document = {
        "plateau": {
            "best": _encode(plateau.best),
            "num_bad_reports": plateau.num_bad_reports,
            "num_good_reports": plateau.num_good_reports,
            "cooldown_counter": plateau.cooldown_counter,
            "reductions": plateau.reductions,
            "increases": plateau.increases,
            "scales": [[step, _encode(scale)] for step, scale in plateau.scales] if with_scales else None,
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
    if not with_scales:
        del document["plateau"]["scales"]
    return document


def state_from_dict(data: dict[str, Any], scales: Iterable[tuple[int, float]] | None = None) -> PolicyState:
    """Inverse of state_to_dict; `scales` is the history where the dict lacks it (the store's
    rows). The dict may come from an imported job file, so every field
    is held to what the API itself could have produced (counters and steps in [0, 2^63 - 1],
    scales finite and >= 0 from increasing steps, bests finite); anything else raises
    InvalidArgument naming each bad field by its path ("plateau.num_bad_reports")."""
    try:
        plateau, stopping, override = data["plateau"], data["early_stopping"], data["override"]
        checks = _StateChecks()
        scales = tuple((checks.step(f"plateau.scales[{i}][0]", step), checks.scale(f"plateau.scales[{i}][1]", scale))
                       for i, (step, scale) in enumerate(plateau["scales"] if scales is None else scales))
        checks.increasing("plateau.scales", [step for step, _ in scales])
        state = PolicyState(
            plateau=PlateauState(
                best=checks.best("plateau.best", plateau["best"]),
                num_bad_reports=checks.count("plateau.num_bad_reports", plateau["num_bad_reports"]),
                num_good_reports=checks.count("plateau.num_good_reports", plateau["num_good_reports"]),
                cooldown_counter=checks.count("plateau.cooldown_counter", plateau["cooldown_counter"]),
                reductions=checks.count("plateau.reductions", plateau["reductions"]),
                increases=checks.count("plateau.increases", plateau["increases"]),
                scales=ScaleHistory.of(scales),
            ),
            early_stopping=EarlyStoppingState(
                best=checks.best("early_stopping.best", stopping["best"]),
                wait=checks.count("early_stopping.wait", stopping["wait"]),
                should_stop=checks.flag("early_stopping.should_stop", stopping["should_stop"]),
                stopped_step=None if stopping["stopped_step"] is None
                else checks.step("early_stopping.stopped_step", stopping["stopped_step"]),
            ),
            override=None if override is None else _override(override, checks),
            last_report_step=checks.step("last_report_step", data["last_report_step"], lowest=-1),
        )
    except KeyError as exc:
        raise InvalidArgument(FieldViolation(str(exc.args[0]), "missing")) from None
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(FieldViolation("", f"not a policy state: {exc!r}")) from None
    checks.raise_if_any()
    return state


def _override(data: dict[str, Any], checks: "_StateChecks") -> Override | None:
    try:
        return Override(lr=_decode(data["lr"]), scale=_decode(data["scale"]),
                        until_step=checks.step("override.until_step", data["until_step"]), reason=data["reason"])
    except InvalidArgument as error:
        checks.violations.extend(error.under("override").violations)
        return None


class _StateChecks:
    """Collects every bad field of a stored or imported state, each value passed through."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def _integer(self, field: str, value: Any, lowest: int) -> int:
        if not is_int(value) or not lowest <= value <= MAX_STEP:
            self.violations.append(FieldViolation(field, f"must be an integer in [{lowest}, 2^63 - 1], got {value!r}"))
            return lowest
        return int(value)

    def count(self, field: str, value: Any) -> int:
        return self._integer(field, value, 0)

    def step(self, field: str, value: Any, lowest: int = 0) -> int:
        return self._integer(field, value, lowest)

    def best(self, field: str, value: Any) -> float | None:
        decoded = _decode(value)
        if decoded is not None and not math.isfinite(decoded):
            self.violations.append(FieldViolation(field, f"must be finite or null, got {value!r}"))
        return decoded

    def scale(self, field: str, value: Any) -> float:
        decoded = _decode(value)
        if decoded is None or not (math.isfinite(decoded) and decoded >= 0):
            self.violations.append(FieldViolation(field, f"must be finite and >= 0, got {value!r}"))
            return 1.0
        return decoded

    def flag(self, field: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.violations.append(FieldViolation(field, f"must be true or false, got {value!r}"))
        return bool(value)

    def increasing(self, field: str, steps: list[int]) -> None:
        if any(later <= earlier for earlier, later in zip(steps, steps[1:])):
            self.violations.append(FieldViolation(field, "steps must increase"))

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)


def _encode(value: float | None) -> float | str | None:
    return value if value is None or math.isfinite(value) else repr(float(value))


def _decode(value: float | str | None) -> float | None:
    return None if value is None else float(value)
