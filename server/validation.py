"""Constructor-time validation shared by every domain value (policies, optimizers, backends).

Neutral ground, so that optim/ and backends/ need not import policies/. Each config checks
all of its fields and raises one InvalidArgument listing every bad field, named as in the
proto, with torch-style messages ("Invalid factor value: 1.5 ...").
"""
from __future__ import annotations

import math
from numbers import Integral, Real

from lrctl.server.errors import FieldViolation, InvalidArgument


MAX_STEP = (1 << 63) - 1
"""Steps and versions are uint64 on the wire, but int64 in the store and in the policies' NumPy math."""


def is_real(value: object) -> bool:
    """A finite real number (bools excluded: `True` is never a learning rate)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: object) -> bool:
    """An integer (bools excluded)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


class Checks:
    """Collects violations so a caller sees every bad field at once, not the first."""

    __slots__ = ("_violations",)

    def __init__(self) -> None:
        self._violations: list[FieldViolation] = []

    def require(self, ok: bool, field: str, value: object, rule: str) -> None:
        """Record `field` as bad unless `ok`; `rule` says what a good value is."""
        if not ok:
            self._violations.append(FieldViolation(field, f"Invalid {field} value: {value!r} ({rule})"))

    def nonnegative(self, field: str, value: object) -> None:
        """Require a finite real number >= 0 (torch's "Invalid eps value: -1 (must be >= 0)")."""
        self.require(is_real(value) and value >= 0, field, value, "must be >= 0")

    def one_of(self, field: str, value: object, choices: tuple[str, ...]) -> None:
        """Require a string field to be one of `choices`."""
        self.require(value in choices, field, value, "must be one of " + ", ".join(map(repr, choices)))

    def raise_if_any(self) -> None:
        """Raise InvalidArgument with everything recorded, if anything was."""
        if self._violations:
            raise InvalidArgument(self._violations)
