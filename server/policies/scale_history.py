"""The plateau's scale history: (from_step, scale) entries in step order, appended in
amortized O(1) and read in O(log n), however long a job runs.

A history is an immutable view (a length) of a buffer that only grows. Appending to the
newest view of a buffer writes in place; appending to an older view (a state that was
computed but not kept, or a preview branching from the job's state) copies its prefix into
a new buffer first. Views never see entries past their length, so every PlateauState stays
the value it was. The store keeps the same history as rows, one per entry, so a report
writes the entry it adds, not the whole history (issue 13: rewriting it made report #10,000
cost 581 KB).
"""
from __future__ import annotations

import threading
from typing import Iterable, Iterator

import numpy as np


class _Buffer:
    __slots__ = ("steps", "scales", "highest", "size", "lock")

    def __init__(self, capacity: int) -> None:
        self.steps = np.empty(capacity, dtype=np.int64)
        self.scales = np.empty(capacity, dtype=np.float64)
        self.highest = np.empty(capacity, dtype=np.float64)
        """highest[i]: the largest of 1.0 and scales[:i + 1]."""
        self.size = 0
        self.lock = threading.Lock()

    def append(self, step: int, scale: float) -> None:
        """Adds an entry at `size` (call with `lock` held); grows by doubling. Readers holding
        the old arrays keep a valid prefix."""
        if self.size == len(self.steps):
            capacity = max(8, 2 * self.size)
            for name in ("steps", "scales", "highest"):
                old = getattr(self, name)
                grown = np.empty(capacity, dtype=old.dtype)
                grown[:self.size] = old[:self.size]
                setattr(self, name, grown)
        previous = self.highest[self.size - 1] if self.size else 1.0
        self.steps[self.size], self.scales[self.size] = step, scale
        self.highest[self.size] = max(previous, scale)
        self.size += 1


class ScaleHistory:
    """(from_step, scale) entries with increasing steps; the scale is 1.0 before the first."""

    __slots__ = ("_buffer", "_length")

    def __init__(self, buffer: _Buffer | None = None, length: int = 0) -> None:
        self._buffer, self._length = buffer, length

    @classmethod
    def of(cls, entries: Iterable[tuple[int, float]]) -> "ScaleHistory":
        """A history of `entries` (already in increasing step order)."""
        history = cls()
        for step, scale in entries:
            history = history.with_change(step, scale)
        return history

    def with_change(self, step: int, scale: float) -> "ScaleHistory":
        """This history with `scale` from `step` on, replacing an entry made at the same step."""
        if self._length and int(self._buffer.steps[self._length - 1]) == step:
            return ScaleHistory(*self._copied(self._length - 1)).with_change(step, scale)
        buffer = self._buffer
        if buffer is not None:
            with buffer.lock:
                if buffer.size == self._length:
                    buffer.append(step, scale)
                    return ScaleHistory(buffer, self._length + 1)
        buffer, length = self._copied(self._length)
        buffer.append(step, scale)
        return ScaleHistory(buffer, length + 1)

    def _copied(self, length: int) -> tuple[_Buffer, int]:
        """A new buffer holding this history's first `length` entries."""
        buffer = _Buffer(max(8, 2 * length))
        if length:
            buffer.steps[:length] = self._buffer.steps[:length]
            buffer.scales[:length] = self._buffer.scales[:length]
            buffer.highest[:length] = self._buffer.highest[:length]
        buffer.size = length
        return buffer, length

    def since(self, older: "ScaleHistory") -> tuple[tuple[int, float], ...]:
        """The entries of this history that `older` (an earlier state of the same job) lacks
        or holds with another scale: what a write adds to the stored history. A history only
        appends or replaces its last entry, so this is a short tail."""
        if self._buffer is older._buffer and self._length >= older._length:
            start = older._length
        else:
            start = min(self._length, older._length)
            while start and self._entry(start - 1) != older._entry(start - 1):
                start -= 1
        return tuple(self._entry(i) for i in range(start, self._length))

    def _entry(self, index: int) -> tuple[int, float]:
        return int(self._buffer.steps[index]), float(self._buffer.scales[index])

    @property
    def last(self) -> tuple[int, float] | None:
        return self._entry(self._length - 1) if self._length else None

    @property
    def highest(self) -> float:
        """The largest scale of any step, at least 1.0 (the scale before the first entry)."""
        return float(self._buffer.highest[self._length - 1]) if self._length else 1.0

    def at(self, steps: np.ndarray) -> np.ndarray:
        """The scale in force at each step: the entry with the largest from_step <= step."""
        if not self._length:
            return np.ones(steps.shape)
        from_steps, values = self._buffer.steps[:self._length], self._buffer.scales[:self._length]
        index = np.searchsorted(from_steps, steps, side="right") - 1
        return np.where(index >= 0, values[np.maximum(index, 0)], 1.0)

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[tuple[int, float]]:
        if self._length:
            yield from zip(self._buffer.steps[:self._length].tolist(), self._buffer.scales[:self._length].tolist())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScaleHistory) and list(self) == list(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"ScaleHistory({list(self)!r})"
