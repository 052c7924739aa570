"""TensorChunk messages <-> the data plane's Chunk values, and the reply options of a request."""
from __future__ import annotations

from typing import Any

from lrctl.server.dataplane import Chunk, DataPlaneLimits, ReplyOptions
from lrctl.tensors import DTYPE_NAMES, DTYPES, REPLY_MODES
from lrctl.v1 import optimizer_pb2

REPLY_MODE_NAMES = {optimizer_pb2.REPLY_MODE_UNSPECIFIED: "all",
                    **{code: name for name, code in REPLY_MODES.items()}}


def chunk_from_proto(chunk: optimizer_pb2.TensorChunk) -> Chunk:
    """Reads each bytes field once: every read of a protobuf bytes field copies it."""
    return Chunk(chunk.name, tuple(chunk.shape), DTYPE_NAMES.get(chunk.dtype, f"dtype {chunk.dtype}"), chunk.offset,
                 chunk.data, chunk.rows)


def chunk_fields(chunk: Chunk) -> dict[str, Any]:
    """A TensorChunk as constructor fields: `StepResponse(chunk=fields)` builds it in place,
    where `StepResponse(chunk=TensorChunk(...))` would copy the finished message (its data
    too) into the parent, 2.5x the cost per chunk."""
    return {"name": chunk.name, "shape": chunk.shape, "dtype": DTYPES[chunk.dtype], "offset": chunk.offset,
            "data": chunk.data, "rows": chunk.rows}


def reply_options(mode: int, dtype: int, chunk_bytes: int, limits: DataPlaneLimits,
                  chunk_field: str = "reply_chunk_bytes") -> ReplyOptions:
    """Unset fields take the defaults: all parameters, float32, 1 MiB chunks (or the chunk
    limit, if smaller); `chunk_field` names the chunk size in a refusal."""
    return ReplyOptions(REPLY_MODE_NAMES.get(mode, f"mode {mode}"),
                        DTYPE_NAMES.get(dtype or optimizer_pb2.DTYPE_FLOAT32, f"dtype {dtype}"),
                        limits.reply_chunk_bytes(chunk_bytes, chunk_field))
