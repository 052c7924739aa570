"""Outgoing parameters: a job's float32 parameters cut into wire chunks (all, or touched rows).

The caller takes a private copy of the parameters under the job's lock (one memcpy), so a
reply is one consistent picture even if the next step starts while it is being sent; the
chunks are then encoded lazily, each as gRPC asks for it, so encoding on the server overlaps
sending and decoding on the client.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Iterator

import numpy as np

from lrctl.protocol import wire
from lrctl.protocol.chunks import Chunk
from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.optim import Layout

REPLY_MODES = ("all", "touched", "none")


@dataclass(frozen=True)
class ReplyOptions:
    """How a caller wants parameters back: which, in what wire dtype, in chunks of how many
    bytes (checked against the configured limit by DataPlaneLimits.reply_chunk_bytes)."""

    mode: str = "all"
    dtype: str = "float32"
    chunk_bytes: int = wire.DEFAULT_CHUNK_BYTES

    def __post_init__(self) -> None:
        if self.mode not in REPLY_MODES:
            raise InvalidArgument(FieldViolation("reply_mode", f"must be one of {', '.join(REPLY_MODES)}"))
        if self.dtype not in wire.DTYPES:
            raise InvalidArgument(FieldViolation("reply_dtype", "must be FLOAT32, FLOAT16 or BFLOAT16"))
        if self.chunk_bytes < wire.ITEMSIZE[self.dtype]:
            raise InvalidArgument(FieldViolation("reply_chunk_bytes", "must hold at least one element"))


def dense_chunks(layout: Layout, params: np.ndarray, options: ReplyOptions,
                 names: Collection[str] | None = None) -> Iterator[Chunk]:
    """Every tensor of `params` (a private copy), or those in `names`, in layout order, in
    chunks of at most chunk_bytes."""
    for span in layout.spans if names is None else [span for span in layout.spans if span.name in names]:
        flat = params[span.offset:span.stop]
        for start, stop in wire.chunk_spans(span.size, options.dtype, options.chunk_bytes):
            yield Chunk(span.name, span.shape, options.dtype, start, _bytes(wire.encoded(flat[start:stop], options.dtype)))


def row_chunks(layout: Layout, params: np.ndarray, rows: dict[str, np.ndarray], options: ReplyOptions) -> list[Chunk]:
    """The given rows of 2-D tensors, whole rows per chunk (at least one row per chunk); built
    at once, under the caller's lock: gathering the rows is the copy."""
    chunks = []
    for name, indices in rows.items():
        table = layout.view(params, name)
        row_bytes = table.shape[1] * wire.ITEMSIZE[options.dtype]
        per_chunk = max(options.chunk_bytes // max(row_bytes, 1), 1)
        for start in range(0, indices.size, per_chunk):
            picked = indices[start:start + per_chunk]
            chunks.append(Chunk(name, tuple(table.shape), options.dtype, 0,
                                _bytes(wire.encoded(table[picked], options.dtype)), _bytes(picked.astype("<i8"))))
    return chunks


def _bytes(array: np.ndarray) -> memoryview:
    """The bytes of a contiguous array, without a copy (the reply's message copies them once)."""
    return memoryview(array).cast("B")
