"""Named tensors <-> streams of TensorChunk messages, for the data plane's calls.

Dense tensors go as element ranges of their flattened float32 values; `Rows` (some rows of
a 2-D tensor: an embedding table's sparse gradient, or a touched-rows reply) go as whole
rows with their indices. Every chunk carries at most `chunk_bytes` bytes of data.
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, NamedTuple

import numpy as np

from lrctl.protocol import wire
from lrctl.protocol.chunks import Chunk, as_chunk
from lrctl.protocol.codes import dtype_code
from lrctl.v1 import optimizer_pb2


class Rows(NamedTuple):
    """Rows of a 2-D tensor: values[i] is row rows[i]. `shape` is the whole tensor's (for a
    gradient it may be left out when the job handle knows it from init_params or pull)."""

    rows: np.ndarray
    values: np.ndarray
    shape: tuple[int, ...] | None = None


def check_tensors(tensors: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Refuses, before any call starts, what the data plane cannot hold (to_chunks runs inside
    gRPC's request stream, where an exception would only end the call): complex values, and
    Rows without a 2-D shape."""
    for name, tensor in tensors.items():
        if isinstance(tensor, Rows):
            shape = tensor.shape or shapes.get(name)
            if shape is None:
                raise ValueError(f"Rows for {name!r} need the tensor's shape: give Rows(rows, values, shape)")
            if len(shape) != 2:
                raise ValueError(f"Rows for {name!r} need a 2-D tensor, not shape {tuple(shape)}")
            values = tensor.values
        else:
            values = tensor
        if np.iscomplexobj(values):
            raise TypeError(f"{name!r} is complex ({np.asarray(values).dtype}): the data plane holds real float32 "
                            "tensors")


def to_chunks(tensors: Mapping[str, Any], dtype: str, chunk_bytes: int,
              shapes: Mapping[str, tuple[int, ...]]) -> Iterator[Chunk]:
    """The chunks of `tensors` (arrays or Rows, passed by check_tensors), in order, each encoded
    as it is sent; a float32 chunk's data is a view of the caller's array (chunk_messages.encode
    copies it once, into the message)."""
    dtype_code(dtype)
    for name, tensor in tensors.items():
        if isinstance(tensor, Rows):
            yield from _row_chunks(name, tensor, dtype, chunk_bytes, shapes)
            continue
        array = np.asarray(tensor)
        flat = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
        for start, stop in wire.chunk_spans(flat.size, dtype, chunk_bytes):
            yield Chunk(name, array.shape, dtype, start, wire.encoded(flat[start:stop], dtype))


def _row_chunks(name: str, tensor: Rows, dtype: str, chunk_bytes: int,
                shapes: Mapping[str, tuple[int, ...]]) -> Iterator[Chunk]:
    shape = tensor.shape or shapes[name]
    rows = np.ascontiguousarray(tensor.rows, dtype="<i8").reshape(-1)
    values = np.ascontiguousarray(tensor.values, dtype=np.float32).reshape(rows.size, shape[1])
    per_chunk = max(chunk_bytes // max(values.shape[1] * wire.ITEMSIZE[dtype], 1), 1)
    for start in range(0, rows.size, per_chunk):  # no rows: the tensor is not in the step
        yield Chunk(name, tuple(shape), dtype, 0, wire.encoded(values[start:start + per_chunk], dtype),
                    rows[start:start + per_chunk])


class Assembler:
    """Collects reply chunks (Chunks from chunk_messages.read, or TensorChunk messages) into
    float32 arrays (dense tensors) and Rows (touched rows)."""

    def __init__(self) -> None:
        self.dense: dict[str, np.ndarray] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._rows: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}

    def add(self, message: Chunk | optimizer_pb2.TensorChunk) -> None:
        chunk = as_chunk(message)
        data, dtype, shape = chunk.data, chunk.dtype, tuple(chunk.shape)
        self._shapes[chunk.name] = shape
        if chunk.rows:
            rows = np.frombuffer(chunk.rows, dtype="<i8")
            self._rows.setdefault(chunk.name, []).append((rows, wire.decode(data, dtype).reshape(rows.size, -1)))
            return
        flat = self.dense.get(chunk.name)
        if flat is None:
            flat = self.dense[chunk.name] = np.empty(math.prod(shape), dtype=np.float32)
        wire.decode_into(flat[chunk.offset:chunk.offset + len(data) // wire.ITEMSIZE[dtype]], data, dtype)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return dict(self._shapes)

    def tensors(self) -> dict[str, Any]:
        """Dense tensors reshaped, and Rows for tensors that came as rows, in arrival order."""
        out: dict[str, Any] = {name: flat.reshape(self._shapes[name]) for name, flat in self.dense.items()}
        for name, parts in self._rows.items():
            out[name] = Rows(np.concatenate([r for r, _ in parts]), np.concatenate([v for _, v in parts]),
                             self._shapes[name])
        return out
