"""Warnings the SDK gives when a call succeeded but probably did not do what was meant.

Both are `warnings` categories, so a test suite can turn them into errors
(`-W error::lrctl.UnusedMetricWarning`) and a script can silence them; each message names
its job and step or metric, so Python's once-per-message default shows every occurrence.
"""
from __future__ import annotations

import warnings
from typing import Iterable


class UnusedMetricWarning(UserWarning):
    """A reported metric that no part of the job's policy reads (often a typo: val_los)."""


class NonFiniteGradientWarning(RuntimeWarning):
    """A data-plane step whose gradient held NaN/inf: the server skipped it and wrote nothing."""


def warn_unused_metrics(job_id: str, names: Iterable[str]) -> None:
    for name in names:
        warnings.warn(f"job {job_id!r}: metric {name!r} is not read by the job's policy (no plateau or early "
                      "stopping on it): it is stored but changes nothing", UnusedMetricWarning, stacklevel=3)


def warn_skipped_step(job_id: str, step: int) -> None:
    warnings.warn(f"job {job_id!r}: step {step} was skipped: its gradient holds NaN or inf, nothing was written "
                  "(on_nonfinite_gradient: skip)", NonFiniteGradientWarning, stacklevel=3)
