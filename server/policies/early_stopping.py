"""Early stopping with Keras EarlyStopping semantics, driven by reported metrics."""
from __future__ import annotations

from dataclasses import dataclass, replace

from lrctl.server.validation import Checks, is_int, is_real
from .plateau import MODES


@dataclass(frozen=True, slots=True)
class EarlyStopping:
    """Keras EarlyStopping: stop after `patience` reports without improvement.

    An improvement beats the best by more than min_delta. With a baseline, the wait only
    resets on a report that also beats the baseline, so a run that never reaches it stops
    after patience reports. Reports before start_step are ignored.
    """

    metric: str
    mode: str = "min"
    patience: int = 0
    min_delta: float = 0.0
    baseline: float | None = None
    start_step: int = 0

    def __post_init__(self) -> None:
        checks = Checks()
        checks.require(isinstance(self.metric, str) and self.metric != "", "metric", self.metric,
                       "must name a reported metric")
        checks.one_of("mode", self.mode, MODES)
        checks.require(is_int(self.patience) and self.patience >= 0, "patience", self.patience,
                       "must be an integer >= 0")
        checks.require(is_real(self.min_delta) and self.min_delta >= 0, "min_delta", self.min_delta,
                       "must be >= 0")
        checks.require(self.baseline is None or is_real(self.baseline), "baseline", self.baseline,
                       "must be finite")
        checks.require(is_int(self.start_step) and self.start_step >= 0, "start_step", self.start_step,
                       "must be an integer >= 0")
        checks.raise_if_any()

    def is_improvement(self, value: float, reference: float | None) -> bool:
        """Keras `_is_improvement`; None is Keras's initial ±inf best."""
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference


@dataclass(frozen=True, slots=True)
class EarlyStoppingState:
    """Keras's best and wait; should_stop is sticky once set, at stopped_step."""

    best: float | None = None
    wait: int = 0
    should_stop: bool = False
    stopped_step: int | None = None


def step_early_stopping(cfg: EarlyStopping, state: EarlyStoppingState, step: int,
                        value: float) -> EarlyStoppingState:
    """Keras `EarlyStopping.on_epoch_end` for one report at `step`."""
    if state.should_stop or step < cfg.start_step:
        return state
    wait = state.wait + 1
    if cfg.is_improvement(value, state.best):
        beats_baseline = cfg.baseline is None or cfg.is_improvement(value, cfg.baseline)
        return replace(state, best=value, wait=0 if beats_baseline else wait)
    if wait >= cfg.patience:
        return replace(state, wait=wait, should_stop=True, stopped_step=step)
    return replace(state, wait=wait)
