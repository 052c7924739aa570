"""The shape of what callers name: job ids, metric names, steps and versions.

Checked before anything is looked up, so every call naming an impossible value is refused
alike, with INVALID_ARGUMENT and the field.
"""
from __future__ import annotations

import re
from typing import Mapping

from lrctl.server.errors import FieldViolation, InvalidArgument, ResourceExhausted
from lrctl.server.validation import MAX_STEP

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
METRIC_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,127}")


def check_job_id(job_id: str) -> None:
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise InvalidArgument(FieldViolation(
            "job_id", "must match [A-Za-z0-9][A-Za-z0-9._-]* and be at most 128 characters"))


def check_counter(field: str, value: int) -> None:
    """INVALID_ARGUMENT for a step or version the store and the policies cannot hold."""
    if value > MAX_STEP:
        raise InvalidArgument(FieldViolation(field, f"must be at most 2^63 - 1, got {value}"))


def check_metric_names(values: Mapping[str, float], max_metrics: int) -> None:
    if not values:
        raise InvalidArgument(FieldViolation("metrics", "must name at least one metric"))
    if len(values) > max_metrics:
        raise ResourceExhausted(f"metrics limit exceeded: {len(values)} metrics in one report, over the limit "
                                f"of {max_metrics} (--max-metrics-per-report)")
    bad = [FieldViolation(f"metrics[{name}]", "metric names must match [A-Za-z_][A-Za-z0-9_.:/-]*")
           for name in values if not METRIC_NAME_PATTERN.fullmatch(name)]
    if bad:
        raise InvalidArgument(bad)
