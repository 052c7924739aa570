"""The Optimizer's chunk-carrying messages, written and read with one copy of the tensor bytes.

UploadParametersRequest, StepRequest, StepResponse and PullParametersResponse each carry a
TensorChunk as field 2 of their oneof. Through the generated classes every tensor byte is
copied four times besides encoding and decoding: into the message when it is built, out
when it is serialized, into the parsed message, and out again when its `data` is read.
Here a chunk message is written as one join of a few framing bytes and the data, and read
by pointing into the received bytes (10M float32 parameters: a step without reply went
from 25 to 18 ms, with all parameters back from 50 to 45 ms; README, Performance).

The bytes are protobuf's own: `encode` writes exactly what SerializeToString writes for the
same fields (tested), so any client or server built from the proto interoperates. `read`
parses by hand only the framing and the `data` and `rows` fields; the chunk's other fields
go through protobuf's parser, and a message in any other form (another field beside the
chunk, a repeated data field, a group) is left to protobuf whole.

Shared by the SDK and the server.
"""
from __future__ import annotations

from typing import Any, Callable

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor

from lrctl.protocol.chunks import Chunk
from lrctl.protocol.codes import DTYPES, dtype_name
from lrctl.v1 import optimizer_pb2

CHUNK_FIELD = 2
_CHUNK_TAG = 0x12  # field 2, length-delimited
_DATA_TAG = 0x2A   # TensorChunk.data: field 5, length-delimited
_ROWS_TAG = 0x32   # TensorChunk.rows: field 6, length-delimited
_MAX_VARINT_BYTES = 10


class ChunkMessage:
    """A parsed chunk-carrying message whose oneof holds `chunk`: it answers the questions
    asked of the generated message (WhichOneof, HasField, .chunk)."""

    __slots__ = ("chunk",)

    def __init__(self, chunk: Chunk) -> None:
        self.chunk = chunk

    def WhichOneof(self, group: str) -> str | None:  # noqa: N802 - the generated message's name
        return "chunk" if group == "kind" else None

    def HasField(self, field: str) -> bool:  # noqa: N802 - the generated message's name
        return field == "chunk"


def _varint(value: int) -> bytes:
    """Base-128 varint of a non-negative int (a negative one raises ValueError)."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _byte_view(buffer: Any) -> memoryview:
    return memoryview(buffer).cast("B")


def encode(chunk: Chunk) -> bytes:
    """The serialized message {chunk: chunk} (the same bytes for all four message types):
    fields in number order, defaults left out, shape packed, as SerializeToString writes."""
    data, rows = _byte_view(chunk.data), _byte_view(chunk.rows)
    parts: list[Any] = []
    if chunk.name:
        name = chunk.name.encode()
        parts += [b"\x0a", _varint(len(name)), name]
    if len(chunk.shape):
        packed = b"".join(_varint(int(size)) for size in chunk.shape)
        parts += [b"\x12", _varint(len(packed)), packed]
    code = DTYPES[chunk.dtype]
    if code:
        parts += [b"\x18", _varint(code)]
    if chunk.offset:
        parts += [b"\x20", _varint(chunk.offset)]
    if data.nbytes:
        parts += [b"\x2a", _varint(data.nbytes), data]
    if rows.nbytes:
        parts += [b"\x32", _varint(rows.nbytes), rows]
    size = sum(len(part) for part in parts)
    return b"".join([b"\x12", _varint(size), *parts])


def _read_varint(message: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(position, min(position + _MAX_VARINT_BYTES, len(message))):
        byte = message[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    raise ValueError("truncated or overlong varint")


def read(message: bytes) -> ChunkMessage | None:
    """The chunk of a serialized chunk-carrying message, with `data` and `rows` as views into
    `message`; None when the message is not one chunk in the form `encode` writes (a header,
    or anything unusual), for protobuf to parse. Raises protobuf's DecodeError for a chunk
    whose other fields protobuf refuses."""
    try:
        return _read(message)
    except ValueError:
        return None


def _read(message: bytes) -> ChunkMessage | None:
    if not message or message[0] != _CHUNK_TAG:
        return None
    size, position = _read_varint(message, 1)
    if position + size != len(message):
        return None
    view = memoryview(message)
    found: dict[int, memoryview] = {}
    others = []
    while position < len(message):
        start = position
        tag, position = _read_varint(message, position)
        wire_type = tag & 7
        if wire_type == 2:
            length, value_start = _read_varint(message, position)
            position = value_start + length
            if tag in (_DATA_TAG, _ROWS_TAG):
                if tag in found:
                    return None  # protobuf keeps the last; leave such a message to it
                found[tag] = view[value_start:position]
                continue
        elif wire_type == 0:
            _, position = _read_varint(message, position)
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        else:
            return None
        others.append(view[start:position])
    if position != len(message):
        return None
    rest = optimizer_pb2.TensorChunk.FromString(b"".join(others))
    return ChunkMessage(Chunk(rest.name, tuple(rest.shape), dtype_name(rest.dtype), rest.offset,
                              found.get(_DATA_TAG, b""), found.get(_ROWS_TAG, b"")))


def carries_chunks(descriptor: Descriptor) -> bool:
    """Whether messages of this type hold a TensorChunk `chunk` as field 2."""
    field = descriptor.fields_by_number.get(CHUNK_FIELD)
    return field is not None and field.name == "chunk" and field.message_type is optimizer_pb2.TensorChunk.DESCRIPTOR


def serializer(descriptor: Descriptor) -> Callable[[Any], bytes]:
    """gRPC serializer for a message type: chunk-carrying types also take bytes from `encode`."""
    message_class = message_factory.GetMessageClass(descriptor)
    if not carries_chunks(descriptor):
        return message_class.SerializeToString

    def serialize(message: Any) -> bytes:
        return message if isinstance(message, bytes) else message.SerializeToString()

    return serialize


def deserializer(descriptor: Descriptor) -> Callable[[bytes], Any]:
    """gRPC deserializer for a message type: a ChunkMessage for a chunk `read` can take,
    else the generated message."""
    message_class = message_factory.GetMessageClass(descriptor)
    if not carries_chunks(descriptor):
        return message_class.FromString

    def deserialize(message: bytes) -> Any:
        return read(message) or message_class.FromString(message)

    return deserialize


def rpc_kind(method: MethodDescriptor) -> str:
    """"unary_unary", "stream_stream", ...: the name stem of gRPC's factories for a method."""
    return f"{'stream' if method.client_streaming else 'unary'}_{'stream' if method.server_streaming else 'unary'}"

