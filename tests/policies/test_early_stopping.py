"""Early stopping follows Keras EarlyStopping.on_epoch_end, one report per epoch."""
from __future__ import annotations

from lrctl.server.policies import EarlyStopping, Policy, initial_state, observe


def _run(cfg: EarlyStopping, values: list[float], first_step: int = 1):
    policy = Policy(lr=0.1, early_stopping=cfg)
    state, events = initial_state(policy), []
    for step, value in enumerate(values, start=first_step):
        state, happened = observe(policy, state, step, {"val": value})
        events.extend(happened)
    return state.early_stopping, events


def test_default_patience_zero_stops_at_first_non_improvement() -> None:
    stopping, events = _run(EarlyStopping("val"), [3.0, 2.0, 2.0, 1.0])
    assert stopping.should_stop and stopping.stopped_step == 3 and stopping.best == 2.0
    assert [(e.kind, e.step, e.lr) for e in events] == [("early_stop", 3, 0.1)]


def test_patience_and_min_delta() -> None:
    """An improvement must beat best by more than min_delta; the wait counts reports since."""
    stopping, _ = _run(EarlyStopping("val", patience=2, min_delta=0.1), [1.0, 0.95, 0.92, 0.85, 0.8, 0.79])
    assert stopping.should_stop and stopping.stopped_step == 3
    stopping, _ = _run(EarlyStopping("val", patience=2, min_delta=0.1), [1.0, 0.95, 0.85, 0.8, 0.7])
    assert not stopping.should_stop and stopping.best == 0.7


def test_max_mode() -> None:
    stopping, _ = _run(EarlyStopping("val", mode="max", patience=1), [0.5, 0.6, 0.6, 0.55])
    assert stopping.stopped_step == 3 and stopping.best == 0.6


def test_baseline_never_reached_stops_after_patience() -> None:
    """Keras: improving on the best but not on the baseline does not reset the wait; the
    stop comes on the first non-improving report once wait >= patience."""
    stopping, _ = _run(EarlyStopping("val", patience=2, baseline=0.5), [0.9, 0.8, 0.7, 0.7])
    assert stopping.should_stop and stopping.stopped_step == 4 and stopping.wait == 4
    stopping, _ = _run(EarlyStopping("val", patience=2, baseline=0.5), [0.9, 0.4, 0.45, 0.3])
    assert not stopping.should_stop and stopping.wait == 0


def test_start_step_and_sticky_decision() -> None:
    cfg = EarlyStopping("val", start_step=10)
    stopping, _ = _run(cfg, [1.0, 2.0, 3.0], first_step=7)
    assert stopping == initial_state(Policy(lr=0.1)).early_stopping
    stopping, events = _run(cfg, [1.0, 2.0, 0.5, 3.0], first_step=10)
    assert stopping.stopped_step == 11 and stopping.best == 1.0
    assert [e.kind for e in events] == ["early_stop"]
