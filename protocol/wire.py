"""Tensors on the wire: float32 values <-> raw little-endian float32, float16 or bfloat16 bytes.

Both sides round the same way: bfloat16 is the top half of a float32 rounded to nearest, ties
to even (bfloat16.py); decoding puts it back as the top half of a float32.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from lrctl.protocol import bfloat16

DTYPES = ("float32", "float16", "bfloat16")
ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
DEFAULT_CHUNK_BYTES = 1 << 20
MAX_CHUNK_BYTES = 4 << 20
"""Chunks of 1-4 MiB stream fastest (DESIGN §2); larger ones are refused."""

_LE = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2"), "bfloat16": np.dtype("<u2")}


def encoded(values: np.ndarray, dtype: str) -> np.ndarray:
    """float32 `values` as a contiguous array of `dtype`'s wire representation: the values
    themselves (no copy) when they are already contiguous little-endian float32."""
    if dtype == "bfloat16":
        return bfloat16.bits(values).reshape(np.shape(values))
    return np.ascontiguousarray(values, dtype=_LE[dtype])


def encode(values: np.ndarray, dtype: str) -> bytes:
    """The wire bytes of float32 `values` in `dtype`."""
    return encoded(values, dtype).tobytes()


def decode_into(out: np.ndarray, data: bytes, dtype: str) -> None:
    """Writes the float32 values of wire `data` into the flat float32 array `out`."""
    wire = np.frombuffer(data, dtype=_LE[dtype])
    if dtype == "bfloat16":
        bits = out.view(np.uint32)
        bits[...] = wire
        bits <<= 16
    else:
        out[...] = wire


def decode(data: bytes, dtype: str) -> np.ndarray:
    """The float32 values of wire `data`, as a new array."""
    out = np.empty(len(data) // ITEMSIZE[dtype], dtype=np.float32)
    decode_into(out, data, dtype)
    return out


def chunk_spans(elements: int, dtype: str, chunk_bytes: int) -> Iterator[tuple[int, int]]:
    """[start, stop) element ranges of at most `chunk_bytes` wire bytes each (one, if empty)."""
    step = max(chunk_bytes // ITEMSIZE[dtype], 1)
    yield from ((start, min(start + step, elements)) for start in range(0, max(elements, 1), step))
