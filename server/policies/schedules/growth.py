"""The largest LR of a geometric schedule, for the check that no step's LR leaves [0, inf).

A schedule that multiplies its LR by e^log_ratio up to `times` times peaks at t = 0 when
the ratio is <= 1, and after the last multiplication otherwise. For a ratio > 1 applied
every step, float64 overflows long before step 2^63: that peak is reported as inf.
"""
from __future__ import annotations

import math
import sys


def geometric_peak(base_lr: float, log_ratio: float, times: int) -> float:
    """max over k in [0, times] of base_lr * e^(k log_ratio), inf where that overflows float64."""
    if log_ratio <= 0 or times == 0 or base_lr == 0:
        return base_lr
    exponent = math.log(base_lr) + times * log_ratio
    return math.inf if exponent >= math.log(sys.float_info.max) else math.exp(exponent)
