"""TensorChunk messages <-> the data plane's Chunk values, and the reply options of a request."""
from __future__ import annotations

from lrctl.protocol import chunk_messages
from lrctl.protocol.chunks import Chunk, as_chunk
from lrctl.protocol.codes import REPLY_MODE_NAMES, dtype_name
from lrctl.server.dataplane import DataPlaneLimits, ReplyOptions
from lrctl.v1 import optimizer_pb2


def chunk_from_proto(chunk: Chunk | optimizer_pb2.TensorChunk) -> Chunk:
    """A received chunk (already a Chunk when chunk_messages read it, a generated message when
    it came in a form only protobuf parses)."""
    return as_chunk(chunk)


def chunk_message(chunk: Chunk) -> bytes:
    """A reply chunk as the serialized StepResponse / PullParametersResponse carrying it:
    its data is copied once, into the message."""
    return chunk_messages.encode(chunk)


def reply_options(mode: int, dtype: int, chunk_bytes: int, limits: DataPlaneLimits,
                  chunk_field: str = "reply_chunk_bytes") -> ReplyOptions:
    """Unset fields take the defaults: all parameters, float32, 1 MiB chunks (or the chunk
    limit, if smaller); `chunk_field` names the chunk size in a refusal."""
    return ReplyOptions(REPLY_MODE_NAMES.get(mode, f"mode {mode}"), dtype_name(dtype or optimizer_pb2.DTYPE_FLOAT32),
                        limits.reply_chunk_bytes(chunk_bytes, chunk_field))
