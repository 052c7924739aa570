"""chunk_messages writes protobuf's bytes and reads what protobuf reads, for every message type
that carries chunks; anything outside its fast form is left to protobuf."""
from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import message_factory
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.protocol import chunk_messages
from lrctl.protocol.chunk_messages import ChunkMessage
from lrctl.protocol.chunks import Chunk, as_chunk
from lrctl.protocol.codes import DTYPES, dtype_name
from lrctl.v1 import optimizer_pb2

SERVICE = optimizer_pb2.DESCRIPTOR.services_by_name["Optimizer"]
CHUNK_TYPES = sorted({t.full_name: t for m in SERVICE.methods for t in (m.input_type, m.output_type)
                      if chunk_messages.carries_chunks(t)}.values(), key=lambda t: t.full_name)
CLASSES = [message_factory.GetMessageClass(t) for t in CHUNK_TYPES]

chunks = st.builds(
    Chunk,
    name=st.text(max_size=40),
    shape=st.lists(st.integers(0, 2**64 - 1), max_size=4).map(tuple),
    dtype=st.sampled_from(sorted(DTYPES)),
    offset=st.integers(0, 2**64 - 1),
    data=st.binary(max_size=300),
    rows=st.binary(max_size=80),
)


def as_fields(message: Chunk | optimizer_pb2.TensorChunk) -> dict:
    chunk = as_chunk(message)
    return {"name": chunk.name, "shape": list(chunk.shape), "dtype": chunk.dtype, "offset": chunk.offset,
            "data": bytes(chunk.data), "rows": bytes(chunk.rows)}


def as_message_fields(chunk: Chunk) -> dict:
    return {**as_fields(chunk), "dtype": DTYPES[chunk.dtype]}


def test_the_four_chunk_messages_are_found() -> None:
    assert {t.name for t in CHUNK_TYPES} == {"UploadParametersRequest", "StepRequest", "StepResponse",
                                             "PullParametersResponse"}


@settings(max_examples=300, deadline=None)
@given(chunk=chunks)
def test_encode_writes_what_protobuf_writes_and_read_reads_it_back(chunk: Chunk) -> None:
    encoded = chunk_messages.encode(chunk)
    for message_class in CLASSES:
        assert encoded == message_class(chunk=as_message_fields(chunk)).SerializeToString()
    parsed = chunk_messages.read(encoded)
    assert isinstance(parsed, ChunkMessage)
    assert as_fields(parsed.chunk) == as_fields(chunk)
    assert (parsed.WhichOneof("kind"), parsed.HasField("chunk"), parsed.HasField("header")) == ("chunk", True, False)


def test_array_views_are_written_as_their_bytes_once() -> None:
    values = np.arange(10, dtype=np.float32)
    rows = np.array([3, 1], dtype="<i8")
    encoded = chunk_messages.encode(Chunk("w", (5, 2), "float32", 0, values[2:6], rows))
    parsed = optimizer_pb2.StepRequest.FromString(encoded).chunk
    assert parsed.data == values[2:6].tobytes() and parsed.rows == rows.tobytes()


def test_a_dtype_code_no_dtype_has_is_read_as_a_name_none_has() -> None:
    message = optimizer_pb2.StepRequest(chunk=optimizer_pb2.TensorChunk(name="w", shape=[1], dtype=9, data=b"1234"))
    assert chunk_messages.read(message.SerializeToString()).chunk.dtype == dtype_name(9) == "dtype 9"


def test_read_points_into_the_message_instead_of_copying() -> None:
    encoded = chunk_messages.encode(Chunk("w", (4,), "float32", 0, b"\x00" * 16))
    data = chunk_messages.read(encoded).chunk.data
    assert isinstance(data, memoryview) and data.obj is encoded


def unusual_forms() -> list[tuple[str, bytes]]:
    """Messages protobuf reads that are not in encode's form, each with a reason."""
    chunk = optimizer_pb2.TensorChunk(name="w", shape=[2, 3], dtype=1, offset=4, data=b"abcd", rows=b"r" * 8)
    inner = chunk.SerializeToString()
    unpacked_shape = b"\x0a\x01w" + b"\x10\x02\x10\x03" + b"\x18\x01\x20\x04\x2a\x04abcd"
    wrap = lambda body: b"\x12" + bytes([len(body)]) + body  # noqa: E731 - bodies here are < 128 bytes
    return [
        ("a header", optimizer_pb2.StepRequest(header=optimizer_pb2.StepHeader(job_id="j", step=3))
         .SerializeToString()),
        ("data twice: protobuf keeps the last", wrap(inner + b"\x2a\x02zz")),
        ("rows twice", wrap(inner + b"\x32\x01q")),
        ("the chunk twice: protobuf merges them", wrap(inner) + wrap(b"\x2a\x02zz")),
        ("a field after the chunk", wrap(inner) + b"\x08\x01"),
        ("shape unpacked", wrap(unpacked_shape)),
        ("an unknown field inside the chunk", wrap(inner + b"\x38\x07")),
        ("fixed-width unknown fields", wrap(inner + b"\x41" + b"\x00" * 8 + b"\x4d" + b"\x00" * 4)),
        ("an unknown group inside the chunk", wrap(inner + b"\x3b\x3c")),
        ("field 5 with another wire type", wrap(b"\x28\x05" + inner)),
        ("an empty message", b""),
    ]


@pytest.mark.parametrize("message_class", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("reason,message", unusual_forms(), ids=[r for r, _ in unusual_forms()])
def test_the_deserializer_reads_unusual_forms_as_protobuf_does(message_class, reason: str, message: bytes) -> None:
    expected = message_class.FromString(message)
    got = chunk_messages.deserializer(message_class.DESCRIPTOR)(message)
    kind = got.WhichOneof("kind")
    assert kind == expected.WhichOneof("kind")
    if kind == "chunk":
        assert as_fields(got.chunk) == as_fields(expected.chunk)
    else:
        assert got == expected


def broken_forms() -> list[tuple[str, bytes]]:
    good = chunk_messages.encode(Chunk("w", (2,), "float32", 0, b"\x00" * 8))
    return [
        ("truncated", good[:-3]),
        ("length past the end", b"\x12\x05\x2a\x09abc"),
        ("a varint that never ends", b"\x12\x03\x20\xff\xff"),
        ("tag 0 inside the chunk", b"\x12\x02\x00\x01"),
        ("invalid UTF-8 in the name", b"\x12\x04\x0a\x02\xff\xfe"),
    ]


@pytest.mark.parametrize("reason,message", broken_forms(), ids=[r for r, _ in broken_forms()])
def test_a_message_protobuf_refuses_is_refused(reason: str, message: bytes) -> None:
    with pytest.raises(DecodeError):
        optimizer_pb2.StepRequest.FromString(message)
    with pytest.raises(DecodeError):
        chunk_messages.deserializer(optimizer_pb2.StepRequest.DESCRIPTOR)(message)


def test_serializers_pass_encoded_bytes_through_and_serialize_messages() -> None:
    serialize = chunk_messages.serializer(optimizer_pb2.StepResponse.DESCRIPTOR)
    encoded = chunk_messages.encode(Chunk("w", (1,), "float32", 0, b"\x00" * 4))
    assert serialize(encoded) is encoded
    result = optimizer_pb2.StepResponse(result=optimizer_pb2.StepResult(step=2))
    assert serialize(result) == result.SerializeToString()
    plain = chunk_messages.serializer(optimizer_pb2.ExportJobRequest.DESCRIPTOR)
    assert plain is optimizer_pb2.ExportJobRequest.SerializeToString
