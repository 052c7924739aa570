"""TensorChunk messages <-> the data plane's Chunk values, and the reply options of a request."""
from __future__ import annotations

from lrctl import chunk_messages
from lrctl.chunk_messages import ChunkView
from lrctl.server.dataplane import Chunk, DataPlaneLimits, ReplyOptions
from lrctl.tensors import DTYPE_NAMES, DTYPES, REPLY_MODES
from lrctl.v1 import optimizer_pb2

REPLY_MODE_NAMES = {optimizer_pb2.REPLY_MODE_UNSPECIFIED: "all",
                    **{code: name for name, code in REPLY_MODES.items()}}


def chunk_from_proto(chunk: ChunkView | optimizer_pb2.TensorChunk) -> Chunk:
    """Reads each bytes field once: every read of a protobuf bytes field copies it (a
    ChunkView's are views of the received message)."""
    return Chunk(chunk.name, tuple(chunk.shape), DTYPE_NAMES.get(chunk.dtype, f"dtype {chunk.dtype}"), chunk.offset,
                 chunk.data, chunk.rows)


def chunk_message(chunk: Chunk) -> bytes:
    """A reply chunk as the serialized StepResponse / PullParametersResponse carrying it:
    its data is copied once, into the message."""
    return chunk_messages.encode(ChunkView(chunk.name, chunk.shape, DTYPES[chunk.dtype], chunk.offset,
                                           chunk.data, chunk.rows))


def reply_options(mode: int, dtype: int, chunk_bytes: int, limits: DataPlaneLimits,
                  chunk_field: str = "reply_chunk_bytes") -> ReplyOptions:
    """Unset fields take the defaults: all parameters, float32, 1 MiB chunks (or the chunk
    limit, if smaller); `chunk_field` names the chunk size in a refusal."""
    return ReplyOptions(REPLY_MODE_NAMES.get(mode, f"mode {mode}"),
                        DTYPE_NAMES.get(dtype or optimizer_pb2.DTYPE_FLOAT32, f"dtype {dtype}"),
                        limits.reply_chunk_bytes(chunk_bytes, chunk_field))
