"""ScaleHistory against the tuple it replaces: every view keeps its value while newer and
branching views append, `since` is the tail a write must add, and the newest view appends in place."""
from __future__ import annotations

import threading

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.server.policies.scale_history import ScaleHistory


def model_change(entries: tuple, step: int, scale: float) -> tuple:
    kept = entries[:-1] if entries and entries[-1][0] == step else entries
    return (*kept, (step, scale))


OPERATIONS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3), st.floats(0, 2)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(operations=OPERATIONS)
def test_every_view_keeps_its_value_and_since_is_the_tail_to_write(operations) -> None:
    """Each operation picks an earlier version (possibly not the newest: a branch), changes it
    at a step at or after its last one (the same step replaces), and checks every version."""
    versions: list[tuple[ScaleHistory, tuple]] = [(ScaleHistory(), ())]
    for pick, gap, scale in operations:
        history, model = versions[pick % len(versions)]
        step = (model[-1][0] if model else 0) + gap
        changed, expected = history.with_change(step, scale), model_change(model, step, scale)
        tail = changed.since(history)
        assert expected[:len(expected) - len(tail)] + tail == expected
        assert len(tail) <= 2 or tail == expected
        versions.append((changed, expected))
        for view, value in versions:
            assert tuple(view) == value
            assert view.highest == max([1.0, *(s for _, s in value)])
            probes = np.array([0, step, step + 1, 10**7], dtype=np.int64)
            want = [next((s for f, s in reversed(value) if f <= p), 1.0) for p in probes]
            np.testing.assert_array_equal(view.at(probes), want)


def test_a_long_history_grows_its_one_buffer_in_place() -> None:
    """100,000 appends to the newest view share one buffer whose capacity at most doubles the
    length: no copy per append (what the tuple it replaces made; bench/policy_costs.py times it)."""
    history = ScaleHistory()
    first = history = history.with_change(0, 0.5)
    for step in range(1, 100_000):
        history = history.with_change(step, 0.5)
    assert history._buffer is first._buffer and len(history._buffer.steps) <= 2 * len(history)


def test_concurrent_branches_of_one_history_never_see_each_others_entries() -> None:
    """A preview and a report change the same job state at once: one appends in place, the
    other copies; neither sees the other's entry."""
    base = ScaleHistory.of([(0, 0.5)])
    results: dict[int, ScaleHistory] = {}
    barrier = threading.Barrier(8)

    def branch(i: int) -> None:
        barrier.wait()
        results[i] = base.with_change(10 + i, float(i))
    threads = [threading.Thread(target=branch, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, history in results.items():
        assert list(history) == [(0, 0.5), (10 + i, float(i))]
    assert list(base) == [(0, 0.5)]
