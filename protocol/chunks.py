"""A piece of one named tensor as it travels: the fields of a TensorChunk, with its dtype by
name ("float32", "float16", "bfloat16"; an unknown code keeps a name no dtype has, for whoever
checks it to refuse with) and its bytes as views where they can be."""
from __future__ import annotations

from typing import Any, NamedTuple, Union

from lrctl.protocol import wire
from lrctl.protocol.codes import dtype_name

Buffer = Union[bytes, memoryview]
"""Tensor bytes: bytes, or a view of a received message or of an array (anything that
exports a C-contiguous buffer is accepted where a chunk is written)."""


class Chunk(NamedTuple):
    """Dense: `data` holds elements [offset, offset + n) of the flattened tensor. Rows (`rows`
    non-empty, 2-D tensors only): `data` holds those whole rows, `offset` is 0."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    offset: int
    data: Buffer
    rows: Buffer = b""

    @property
    def elements(self) -> int:
        return len(self.data) // wire.ITEMSIZE.get(self.dtype, 1)


def as_chunk(message: Any) -> Chunk:
    """A Chunk from a generated TensorChunk (or a Chunk itself); each bytes field is read
    once, since every read of a protobuf bytes field copies it."""
    if isinstance(message, Chunk):
        return message
    return Chunk(message.name, tuple(message.shape), dtype_name(message.dtype), message.offset, message.data,
                 message.rows)
