"""Incoming tensor chunks: decoded into float32 buffers and checked before anything is applied.

A chunk is either dense (elements [offset, offset + n) of a flattened tensor) or sparse
(whole rows of a 2-D tensor). The assemblers decode each chunk as it arrives, so the wire
bytes are read once, and `finish()` proves the dense chunks tiled each tensor they name
exactly once: a request is refused (INVALID_ARGUMENT) before the optimizer sees it, so it
changes nothing.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from lrctl.protocol import wire
from lrctl.protocol.chunks import Chunk
from lrctl.server.dataplane.limits import DataPlaneLimits
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.optim import Layout, RowGradient, TensorSpan


def field_of(chunk: Chunk) -> str:
    """How a refusal names the chunk: by its tensor."""
    return f"chunks[{chunk.name}]"


def check_chunk(chunk: Chunk, limits: DataPlaneLimits) -> None:
    """Checks what a chunk says about itself: the size limit, a known dtype, whole elements."""
    limits.check_chunk(field_of(chunk), len(chunk.data))
    if chunk.dtype not in wire.DTYPES:
        raise InvalidArgument(FieldViolation(f"{field_of(chunk)}.dtype", "must be FLOAT32, FLOAT16 or BFLOAT16"))
    if len(chunk.data) % wire.ITEMSIZE[chunk.dtype]:
        raise InvalidArgument(FieldViolation(
            f"{field_of(chunk)}.data", f"{len(chunk.data)} bytes is not a whole number of {chunk.dtype} elements"))


class _Coverage:
    """Which element ranges of each tensor arrived; proves an exact tiling at the end."""

    def __init__(self) -> None:
        self._ranges: dict[str, list[tuple[int, int]]] = {}
        self._dtypes: dict[str, str] = {}
        self._sizes: dict[str, int] = {}

    def add(self, chunk: Chunk, size: int) -> None:
        if self._dtypes.setdefault(chunk.name, chunk.dtype) != chunk.dtype:
            raise InvalidArgument(FieldViolation(
                f"{field_of(chunk)}.dtype", f"{chunk.dtype} differs from {self._dtypes[chunk.name]} in an earlier chunk"))
        stop = chunk.offset + chunk.elements
        if stop > size:
            raise InvalidArgument(FieldViolation(
                f"{field_of(chunk)}.offset", f"chunk [{chunk.offset}, {stop}) overruns the tensor's {size} elements"))
        self._ranges.setdefault(chunk.name, []).append((chunk.offset, stop))
        self._sizes[chunk.name] = size

    @property
    def names(self) -> list[str]:
        """The tensors that arrived, in order of their first chunk."""
        return list(self._ranges)

    def check_complete(self) -> None:
        """Refuses unless each tensor that arrived was covered exactly once."""
        bad = []
        for name, ranges in self._ranges.items():
            covered = 0
            for start, stop in sorted(ranges):
                if start < covered:
                    bad.append(FieldViolation(f"chunks[{name}]", f"chunks overlap at element {start}"))
                    break
                if start > covered:
                    bad.append(FieldViolation(f"chunks[{name}]", f"elements [{covered}, {start}) are missing"))
                    break
                covered = stop
            else:
                if covered < self._sizes[name]:
                    bad.append(FieldViolation(f"chunks[{name}]",
                                              f"elements [{covered}, {self._sizes[name]}) are missing"))
        if bad:
            raise InvalidArgument(bad)


class DenseAssembler:
    """Decodes dense chunks into flat float32 targets; `target(chunk)` names where a tensor goes."""

    def __init__(self, target: Callable[[Chunk], np.ndarray], limits: DataPlaneLimits) -> None:
        self._target = target
        self._limits = limits
        self._coverage = _Coverage()
        self.received_bytes = 0

    def add(self, chunk: Chunk) -> None:
        check_chunk(chunk, self._limits)
        if chunk.rows:
            raise InvalidArgument(FieldViolation(f"{field_of(chunk)}.rows", "rows are only for a step's gradients"))
        flat = self._target(chunk)
        self._coverage.add(chunk, flat.size)
        wire.decode_into(flat[chunk.offset:chunk.offset + chunk.elements], chunk.data, chunk.dtype)
        self.received_bytes += len(chunk.data)

    @property
    def names(self) -> list[str]:
        """The tensors that arrived."""
        return self._coverage.names

    def finish(self) -> None:
        """Refuses the request unless each tensor that arrived was covered exactly once."""
        self._coverage.check_complete()


class SparseAssembler:
    """Collects row chunks of 2-D tensors into one RowGradient per tensor (duplicates kept:
    optim.update_rows sums them)."""

    def __init__(self, layout: Layout, limits: DataPlaneLimits) -> None:
        self._layout = layout
        self._limits = limits
        self._rows: dict[str, list[np.ndarray]] = {}
        self._values: dict[str, list[np.ndarray]] = {}
        self.received_bytes = 0

    def add(self, chunk: Chunk) -> None:
        check_chunk(chunk, self._limits)
        span = checked_span(self._layout, chunk)
        if len(span.shape) != 2:
            raise InvalidArgument(FieldViolation(
                f"{field_of(chunk)}.rows", f"sparse rows need a 2-D tensor; {chunk.name} has shape {span.shape}"))
        if len(chunk.rows) % 8 or chunk.offset:
            raise InvalidArgument(FieldViolation(
                f"{field_of(chunk)}.rows", "must be little-endian int64 row indices, with offset 0"))
        rows = np.frombuffer(chunk.rows, dtype="<i8")
        if chunk.elements != rows.size * span.shape[1]:
            raise InvalidArgument(FieldViolation(
                f"{field_of(chunk)}.data", f"{chunk.elements} elements, expected {rows.size} rows of {span.shape[1]}"))
        if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= span.shape[0]):
            raise InvalidArgument(FieldViolation(f"{field_of(chunk)}.rows", f"row out of range [0, {span.shape[0]})"))
        self._rows.setdefault(chunk.name, []).append(rows)
        self._values.setdefault(chunk.name, []).append(wire.decode(chunk.data, chunk.dtype).reshape(-1, span.shape[1]))
        self.received_bytes += len(chunk.data) + len(chunk.rows)

    def gradients(self) -> dict[str, RowGradient]:
        return {name: RowGradient(np.concatenate(rows), np.concatenate(self._values[name]))
                for name, rows in self._rows.items()}


class StepAssembler:
    """A step's gradient: dense chunks decoded into the job's gradient buffer (`grads`, at the
    layout's offsets), row chunks collected per tensor. Each tensor arrives one way or the
    other; tensors that do not arrive are not part of the step."""

    def __init__(self, layout: Layout, grads: np.ndarray, limits: DataPlaneLimits) -> None:
        def target(chunk: Chunk) -> np.ndarray:
            span = checked_span(layout, chunk)
            return grads[span.offset:span.stop]

        self._dense = DenseAssembler(target, limits)
        self._sparse = SparseAssembler(layout, limits)
        self._kinds: dict[str, str] = {}

    def add(self, chunk: Chunk) -> None:
        kind = "rows" if chunk.rows else "dense"
        if self._kinds.setdefault(chunk.name, kind) != kind:
            raise InvalidArgument(FieldViolation(
                f"{field_of(chunk)}.rows", f"{chunk.name} came both dense and as rows: each tensor is one or the other"))
        (self._sparse if chunk.rows else self._dense).add(chunk)

    @property
    def received_bytes(self) -> int:
        return self._dense.received_bytes + self._sparse.received_bytes

    def finish(self) -> tuple[list[str], dict[str, RowGradient]]:
        """(dense tensor names, row gradients by tensor); refused unless every dense tensor was
        covered exactly once."""
        self._dense.finish()
        return self._dense.names, self._sparse.gradients()


def checked_span(layout: Layout, chunk: Chunk) -> TensorSpan:
    """The layout's span for the chunk's tensor, refused if unknown or of another shape."""
    try:
        span = layout.span(chunk.name)
    except InvalidArgument:
        raise InvalidArgument(FieldViolation(f"{field_of(chunk)}.name", f"Unknown tensor: {chunk.name!r}")) from None
    if chunk.shape != span.shape:
        raise InvalidArgument(FieldViolation(
            f"{field_of(chunk)}.shape", f"{list(chunk.shape)} does not match the job's {list(span.shape)}"))
    return span


class UploadAssembler(DenseAssembler):
    """An upload: tensors are declared by their first chunk, in order, and stored as they come.

    `admit(elements)` is called with the upload's running element count before each new
    tensor is allocated, and raises to refuse the upload: a too-large job is refused at the
    first chunk that reveals its size, not after its bytes were buffered.
    """

    def __init__(self, limits: DataPlaneLimits, admit: Callable[[int], None]) -> None:
        super().__init__(self._tensor, limits)
        self.tensors: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self._admit = admit
        self._elements = 0

    def _tensor(self, chunk: Chunk) -> np.ndarray:
        tensor = self.tensors.get(chunk.name)
        if tensor is not None:
            if self.shapes[chunk.name] != chunk.shape:
                raise InvalidArgument(FieldViolation(
                    f"{field_of(chunk)}.shape", f"{list(chunk.shape)} differs from {list(self.shapes[chunk.name])} "
                                            "in an earlier chunk"))
            return tensor
        if not chunk.name:
            raise InvalidArgument(FieldViolation(f"{field_of(chunk)}.name", "a tensor name must be non-empty"))
        self._admit(self._elements + math.prod(chunk.shape))
        self._elements += math.prod(chunk.shape)
        self.shapes[chunk.name] = chunk.shape
        tensor = self.tensors[chunk.name] = np.empty(math.prod(chunk.shape), dtype=np.float32)
        return tensor

    def layout(self) -> Layout:
        """The job's layout (tensors in the order they first arrived), once the upload is complete."""
        if not self.tensors:
            raise InvalidArgument(FieldViolation("chunks", "an upload needs at least one tensor"))
        self.finish()
        return Layout.of(self.shapes)


def requested_rows(layout: Layout, name: str, raw_rows: bytes) -> np.ndarray:
    """The row indices a PullRows asks for (little-endian int64), refused unless `name` is a
    2-D tensor of the job and every index is one of its rows."""
    try:
        span = layout.span(name)
    except InvalidArgument:
        raise InvalidArgument(FieldViolation("name", f"Unknown tensor: {name!r}")) from None
    if len(span.shape) != 2:
        raise InvalidArgument(FieldViolation("name", f"rows need a 2-D tensor; {name} has shape {list(span.shape)}"))
    if len(raw_rows) % 8:
        raise InvalidArgument(FieldViolation("rows", "must be little-endian int64 row indices"))
    rows = np.frombuffer(raw_rows, dtype="<i8")
    if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= span.shape[0]):
        raise InvalidArgument(FieldViolation("rows", f"row out of range [0, {span.shape[0]})"))
    return rows
