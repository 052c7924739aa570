"""LeaseCache serves exactly what the policy computes, across block edges and evictions."""
from __future__ import annotations

import numpy as np
import pytest

from lrctl.server.lease_cache import BLOCK_STEPS, LeaseCache


def policy(steps: np.ndarray) -> np.ndarray:
    return 0.1 * 0.999 ** steps.astype(np.float64)


@pytest.mark.parametrize("step, horizon", [(0, 1), (5, 1000), (BLOCK_STEPS - 3, 10), (BLOCK_STEPS * 7, 1),
                                           (BLOCK_STEPS - 1, BLOCK_STEPS + 1), (10, 5 * BLOCK_STEPS)])
def test_served_values_equal_direct_evaluation(step: int, horizon: int) -> None:
    cache = LeaseCache()
    for _ in range(2):
        got = cache.learning_rates("job", 1, step, horizon, policy)
        np.testing.assert_array_equal(got, policy(np.arange(step, step + horizon)))


def test_versions_and_forgotten_jobs_never_mix() -> None:
    cache = LeaseCache(max_blocks=2)
    cache.learning_rates("job", 1, 0, 1, policy)
    assert cache.learning_rates("job", 2, 0, 1, lambda s: policy(s) * 2)[0] == pytest.approx(0.2)
    cache.forget("job")
    assert cache.learning_rates("job", 1, 0, 1, lambda s: policy(s) * 3)[0] == pytest.approx(0.3)
    for index in range(5):
        cache.learning_rates("job", 1, index * BLOCK_STEPS, 1, policy)
    assert len(cache._blocks) == 2
