"""Where each named tensor lives in a job's flat buffers.

Every role (parameters, gradients, each optimizer slot) is one flat float32 buffer with the
same layout, so one offset table serves them all and a tensor is a view, never a copy.
Tensors are packed back to back in the order given; the order is part of the layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.validation import is_int


@dataclass(frozen=True)
class TensorSpan:
    """One tensor: its elements are buffer[offset : offset + size], reshaped to `shape`."""

    name: str
    offset: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def stop(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Layout:
    """An ordered, contiguous packing of named tensors into one flat buffer."""

    spans: tuple[TensorSpan, ...]
    _by_name: dict[str, TensorSpan] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {span.name: span for span in self.spans})

    @staticmethod
    def of(shapes: Mapping[str, Sequence[int]]) -> "Layout":
        """Pack `shapes` (name -> shape, in insertion order) back to back."""
        bad = [
            FieldViolation(f"shapes[{name}]", f"Invalid shape value: {list(shape)!r} (must be non-negative integers)")
            for name, shape in shapes.items()
            if not all(is_int(d) and d >= 0 for d in shape)
        ]
        if "" in shapes:
            bad.append(FieldViolation("shapes", "Invalid shapes value: a tensor name must be non-empty"))
        if bad:
            raise InvalidArgument(bad)
        spans, offset = [], 0
        for name, shape in shapes.items():
            span = TensorSpan(name, offset, tuple(int(d) for d in shape))
            spans.append(span)
            offset = span.stop
        return Layout(tuple(spans))

    @staticmethod
    def flat(size: int) -> "Layout":
        """One 1-D tensor of `size` elements: how a buffer without a layout is read."""
        return Layout.of({"params": (size,)})

    @property
    def size(self) -> int:
        """Elements in the whole buffer."""
        return self.spans[-1].stop if self.spans else 0

    def span(self, name: str) -> TensorSpan:
        if name in self._by_name:
            return self._by_name[name]
        raise InvalidArgument(FieldViolation("tensor", f"Unknown tensor: {name!r}"))

    def view(self, buffer, name: str):
        """The named tensor inside `buffer`, with its shape; writing to it writes the buffer."""
        span = self.span(name)
        return buffer[span.offset:span.stop].reshape(span.shape)

    def bounds(self) -> np.ndarray:
        """Segment offsets for per-tensor kernels: [0, end of tensor 0, end of tensor 1, ...]."""
        return np.array([0] + [span.stop for span in self.spans], dtype=np.int64)

    def state_dict(self) -> dict[str, object]:
        return {"names": [s.name for s in self.spans], "shapes": [list(s.shape) for s in self.spans]}

    @staticmethod
    def from_state_dict(state: Mapping[str, object]) -> "Layout":
        return Layout.of(dict(zip(state["names"], state["shapes"], strict=True)))
