"""Every LR and every report costs bounded work, at any step up to 2^63 - 1 (issue 13 items 1
and 2): warm restarts are counted, never listed, and a report makes at most three events
however far it jumps."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.server.errors import InvalidArgument
from lrctl.server.policies import (Chained, Constant, CosineRestarts, Cyclic, Plateau, Policy, Sequential, Warmup,
                                   initial_state, lr_at, observe)
from lrctl.server.policies import restarts_between
from lrctl.server.policies.schedules import cosine_restarts
from lrctl.server.policies.schedules.restart_span import RestartSpan, merged

LAST = 2**63 - 1
T_MULTS = st.sampled_from([1.0, 2.0, 3.0, 1.5, 1.01]) | st.floats(1.01, 64.0)
RESTARTS = st.builds(CosineRestarts, t_0=st.integers(1, 5000), t_mult=T_MULTS, eta_min=st.just(0.0),
                     peak_decay=st.sampled_from([1.0, 0.9]))
POLICIES = st.builds(Policy, lr=st.just(0.1), schedule=RESTARTS,
                     warmup=st.none() | st.builds(Warmup, steps=st.integers(1, 100)),
                     steps_per_epoch=st.sampled_from([0, 1, 7]))
STEPS = st.integers(-1, LAST) | st.integers(-1, 10_000)


def listed(policy: Policy, after: int, up_to: int) -> list[int]:
    """The restart steps in (after, up_to], by the definition: cycle i lasts
    round(t_0 * t_mult ** i) schedule times, and time tau is step warmup + tau * steps_per_epoch."""
    schedule, per_epoch = policy.schedule, policy.steps_per_epoch or 1
    found, start, cycle = [], 0, 0
    while True:
        start += round(schedule.t_0 * schedule.t_mult ** cycle)
        cycle += 1
        step = policy.warmup_steps + start * per_epoch
        if step > up_to:
            return found
        if step > after:
            found.append(step)


@settings(max_examples=150, deadline=None)
@given(policy=POLICIES, after=st.integers(-1, 3000), length=st.integers(0, 3000))
def test_restart_counts_match_the_restarts_seen_in_the_lr(policy: Policy, after: int, length: int) -> None:
    found = listed(policy, after, after + length)
    span = restarts_between(policy, after, after + length)
    if not found:
        assert span is None
    else:
        assert span == RestartSpan(len(found), found[0], found[-1])


@settings(max_examples=200, deadline=None)
@given(policy=POLICIES, a=STEPS, b=STEPS, c=STEPS)
def test_restart_counts_add_up_over_any_range_up_to_2_63(policy: Policy, a: int, b: int, c: int) -> None:
    a, b, c = sorted((a, b, c))
    whole = restarts_between(policy, a, c)
    assert whole == merged([restarts_between(policy, a, b), restarts_between(policy, b, c)])
    if whole is not None:
        assert a < whole.first <= whole.last <= c


@settings(max_examples=200, deadline=None)
@given(policy=POLICIES, jump=STEPS.filter(lambda s: s >= 0), second=st.integers(0, 10**6))
def test_a_report_makes_at_most_three_events_however_far_it_jumps(policy: Policy, jump: int, second: int) -> None:
    policy = Policy(lr=policy.lr, schedule=policy.schedule, warmup=policy.warmup,
                    steps_per_epoch=policy.steps_per_epoch, plateau=Plateau("loss", patience=0))
    state, events = observe(policy, initial_state(policy), jump, {"loss": 1.0})
    assert len(events) <= 3 and sum(e.kind == "restart" for e in events) <= 1
    later = min(jump + second, LAST)
    _, events = observe(policy, state, later, {"loss": 2.0})
    assert len(events) <= 3
    lrs = lr_at(policy, state, np.array([0, jump, later, LAST], dtype=np.int64))
    assert np.all(np.isfinite(lrs)) and np.all(lrs >= 0)


def test_the_flood_of_the_issue_is_one_event() -> None:
    """t_0 1000 and a report at 10^9: one restart event for the 10^6 restarts; t_0 1 at 2^62."""
    policy = Policy(lr=0.1, schedule=CosineRestarts(t_0=1000))
    _, [event] = observe(policy, initial_state(policy), 10**9, {})
    assert (event.kind, event.count, event.first_step, event.step, event.lr) == ("restart", 10**6, 1000, 10**9, 0.1)
    policy = Policy(lr=0.1, schedule=CosineRestarts(t_0=1))
    _, [event] = observe(policy, initial_state(policy), 2**62, {})
    assert (event.count, event.first_step, event.step) == (2**62, 1, 2**62)


def test_a_t_mult_too_close_to_one_for_the_cycle_table_is_refused() -> None:
    """t_mult 1 + 1e-9 would start about 10^10 cycles before 2^63 (the issue's never-ending
    GetLearningRate); the table of cycles is bounded instead, and so is every call's work."""
    with pytest.raises(InvalidArgument, match="over 10,000 cycles before step 2\\^63"):
        CosineRestarts(t_0=1000, t_mult=1 + 1e-9)
    accepted = CosineRestarts(t_0=1, t_mult=1.01)
    starts, _ = cosine_restarts._cycles(accepted)
    assert len(starts) <= cosine_restarts.MAX_CYCLES and starts[-1] <= LAST
    assert np.isfinite(lr_at(Policy(lr=0.1, schedule=accepted), initial_state(Policy(lr=0.1)),
                             np.array([LAST], dtype=np.int64))).all()


def _restart_times(schedule, until: int) -> list[int]:
    """Every warm restart of `schedule` at its times in (0, until], by the definition: a
    sequential's child restarts at its own times from its milestone (its start is none), a
    chain restarts whenever one of its schedules does (once per schedule)."""
    if isinstance(schedule, CosineRestarts):
        found, start, cycle = [], 0, 0
        while True:
            start += round(schedule.t_0 * schedule.t_mult ** cycle)
            cycle += 1
            if start > until:
                return found
            found.append(start)
    if isinstance(schedule, Sequential):
        bounds = (0, *schedule.milestones, until + 1)
        return [start + t for start, end, child in zip(bounds, bounds[1:], schedule.schedules)
                for t in _restart_times(child, min(end, until + 1) - start - 1) if start + t < end]
    if isinstance(schedule, Chained):
        return sorted(t for child in schedule.schedules for t in _restart_times(child, until))
    return []


SMALL_RESTARTS = st.builds(CosineRestarts, t_0=st.integers(1, 500), t_mult=st.sampled_from([1.0, 2.0, 1.5]))
CHILDREN = SMALL_RESTARTS | st.just(Constant()) | st.builds(Cyclic, max_lr=st.just(1.0), step_size_up=st.integers(1, 50))


def _sequential_of(children: list) -> st.SearchStrategy:
    milestones = st.lists(st.integers(1, 4000), min_size=len(children) - 1, max_size=len(children) - 1, unique=True)
    return st.builds(Sequential, schedules=st.just(tuple(children)), milestones=milestones.map(sorted).map(tuple))


def _nested(children: st.SearchStrategy) -> st.SearchStrategy:
    kids = st.lists(children, min_size=1, max_size=3)
    return kids.flatmap(_sequential_of) | st.builds(Chained, schedules=kids.map(tuple))


NESTED_POLICIES = st.builds(Policy, lr=st.just(0.1), schedule=_nested(CHILDREN | _nested(CHILDREN)),
                            warmup=st.none() | st.builds(Warmup, steps=st.integers(1, 100)),
                            steps_per_epoch=st.sampled_from([0, 1, 7]))


@settings(max_examples=150, deadline=None)
@given(policy=NESTED_POLICIES, after=st.integers(-1, 3000), length=st.integers(0, 3000))
def test_restarts_nested_in_sequential_and_chained_are_counted_as_their_definition_says(
        policy: Policy, after: int, length: int) -> None:
    per_epoch, warmup = policy.steps_per_epoch or 1, policy.warmup_steps
    steps = [warmup + t * per_epoch for t in _restart_times(policy.schedule, (after + length) // per_epoch + 1)]
    found = [step for step in steps if after < step <= after + length]
    span = restarts_between(policy, after, after + length)
    assert span == (RestartSpan(len(found), found[0], found[-1]) if found else None)


@settings(max_examples=150, deadline=None)
@given(policy=NESTED_POLICIES, a=STEPS, b=STEPS, c=STEPS, jump=STEPS.filter(lambda s: s >= 0))
def test_nested_restart_counts_add_up_to_2_63_and_a_report_stays_at_three_events(
        policy: Policy, a: int, b: int, c: int, jump: int) -> None:
    a, b, c = sorted((a, b, c))
    whole = restarts_between(policy, a, c)
    assert whole == merged([restarts_between(policy, a, b), restarts_between(policy, b, c)])
    if whole is not None:
        assert a < whole.first <= whole.last <= c
    policy = Policy(lr=policy.lr, schedule=policy.schedule, warmup=policy.warmup,
                    steps_per_epoch=policy.steps_per_epoch, plateau=Plateau("loss", patience=0))
    _, events = observe(policy, initial_state(policy), jump, {"loss": 1.0})
    assert len(events) <= 3 and sum(e.kind == "restart" for e in events) <= 1
