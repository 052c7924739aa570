"""Which reported metric names a policy reads, so a report can say which ones change nothing.

A name no part of the policy reads is stored like any other, and so is silently useless: a
job reporting `val_los` for a plateau on `val_loss` never reduces and never stops. The
servicer answers these names as `unused_metrics`, and the SDK warns once per name.
"""
from __future__ import annotations

from typing import Iterable

from .config import Policy


def metrics_read(policy: Policy) -> frozenset[str]:
    """The metric names that drive the policy: its plateau's and its early stopping's."""
    parts = (policy.plateau, policy.early_stopping)
    return frozenset(part.metric for part in parts if part is not None)


def unused_metrics(policy: Policy, names: Iterable[str]) -> tuple[str, ...]:
    """The names among `names` that the policy does not read, sorted and without repeats."""
    return tuple(sorted(set(names) - metrics_read(policy)))
