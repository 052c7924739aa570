"""Hypothesis strategies for the server fuzz test: random messages of any request type,
byte-level mutations of serialized messages, and chunk streams for the data plane.

Random messages are built from the proto descriptors, so every field of every request is
reachable, with values biased toward what breaks servers: ids of existing jobs next to
weird ones, steps at and around 2^63 and 2^64, NaN/inf/huge floats, unknown enum numbers.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from lrctl.protocol import wire
from lrctl.v1 import optimizer_pb2

F32, F16, BF16 = optimizer_pb2.DTYPE_FLOAT32, optimizer_pb2.DTYPE_FLOAT16, optimizer_pb2.DTYPE_BFLOAT16
WIRE_NAMES = {F32: "float32", F16: "float16", BF16: "bfloat16"}
MAX_DEPTH = 5

WEIRD_IDS = ("", "nope", "x" * 128, "x" * 129, "y" * 5000, "-lead", ".dot", "fz-const\x00", "FZ-CONST", " fz-const",
             "fz-const ", "fz-const/../x", "ジョブ", "\u202efz-const", "a\nb", "%s%n", "' OR 1=1 --", "\U0001f600")
WORDS = ("val_loss", "acc", "loss", "min", "max", "rel", "abs", "linear", "exponential", "cos", "constant", "skip",
         "reject", "emb", "bias", "table", "w", "p", "q", "", "NaN", "Infinity")
BIG_UINT64 = (2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1)
SPECIAL_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 1e-300, 5e-324, 1e308, -1e308, math.inf, -math.inf, math.nan)



def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, picked with the given weights (st.one_of leans to the first)."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


floats = weighted((2, st.sampled_from(SPECIAL_FLOATS)), (1, st.floats()), (2, st.floats(-10, 10)))
texts = weighted((3, st.sampled_from(WORDS)), (3, st.text(max_size=40)), (1, st.text(min_size=100, max_size=300)))
uint32s = weighted((4, st.integers(0, 20)), (2, st.sampled_from(BIG_UINT64[:3])), (2, st.integers(0, 2**32 - 1)),
                   (1, st.sampled_from((1000, 100_000, 100_001))))
uint64s = weighted((4, st.integers(0, 20)), (3, st.sampled_from(BIG_UINT64)), (2, st.integers(0, 2**64 - 1)))
int64s = weighted((2, st.integers(-20, 20)), (1, st.sampled_from((-2**63, -1, 2**63 - 1))),
                  (1, st.integers(-2**63, 2**63 - 1)))


def near(value: int) -> st.SearchStrategy[int]:
    """A step or version near `value` most of the time, else anything a uint64 holds. The
    choices drawn do not depend on `value` (Hypothesis replays choice sequences, and the
    server's state moves on between examples)."""
    return weighted((2, st.just(value)), (2, st.integers(-2, 2).map(lambda delta: max(value + delta, 0))),
                    (2, uint64s))
metric_maps = weighted((4, st.dictionaries(st.sampled_from(("val_loss", "acc", "loss")), floats, min_size=1)),
                       (2, st.dictionaries(weighted((1, st.sampled_from(("val_loss", "acc"))), (1, texts)), floats,
                                           max_size=8)),
                       (1, st.dictionaries(st.from_regex(r"m[0-9]{1,3}", fullmatch=True), floats, min_size=60,
                                           max_size=70)))


def job_ids(existing: Sequence[str]) -> st.SearchStrategy[str]:
    """Ids of jobs that exist (most of the time), weird ids and random text."""
    return weighted((5, st.sampled_from(tuple(existing))), (2, st.sampled_from(WEIRD_IDS)), (1, st.text(max_size=150)))


def _scalar(field: FieldDescriptor, hints: dict[str, st.SearchStrategy]) -> st.SearchStrategy[Any]:
    if field.name in hints:
        return hints[field.name]
    kind = field.type
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return floats
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_STRING:
        return texts
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_ENUM:
        return weighted((3, st.sampled_from([v.number for v in field.enum_type.values])), (1, st.integers(-3, 50)))
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return uint32s
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return uint64s
    if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return int64s
    return st.integers(-2**31, 2**31 - 1)


def messages(descriptor: Descriptor, hints: dict[str, st.SearchStrategy], max_fields: int | None = None,
             depth: int = 0) -> st.SearchStrategy[Message]:
    """Random messages of `descriptor`'s type: a random subset of fields (at most
    `max_fields` at the top level), each with a random value; `hints` overrides the value
    strategy of fields by name (job_id, step, ...) at every depth."""
    key = (descriptor.full_name, id(hints), max_fields, depth)
    if key not in _MESSAGES:
        _MESSAGES[key] = _messages(descriptor, hints, max_fields, depth)
    return _MESSAGES[key]


_MESSAGES: dict[tuple, st.SearchStrategy[Message]] = {}


def _messages(descriptor: Descriptor, hints: dict[str, st.SearchStrategy], max_fields: int | None,
              depth: int) -> st.SearchStrategy[Message]:
    cls = GetMessageClass(descriptor)
    fields = [f for f in descriptor.fields if f.message_type is None or depth < MAX_DEPTH]
    if not fields:
        return st.builds(cls)

    @st.composite
    def build(draw: Callable) -> Message:
        message = cls()
        chosen = draw(st.lists(st.sampled_from(fields), unique_by=lambda f: f.name,
                               max_size=len(fields) if max_fields is None else max_fields))
        for field in chosen:
            _set(message, field, draw, hints, depth)
        return message

    return build()


def _set(message: Message, field: FieldDescriptor, draw: Callable, hints: dict[str, st.SearchStrategy],
         depth: int) -> None:
    target = field.message_type
    if target is not None and target.GetOptions().map_entry:
        key, value = target.fields_by_name["key"], target.fields_by_name["value"]
        values = metric_maps if field.name == "metrics" and value.type == FieldDescriptor.TYPE_DOUBLE else \
            st.dictionaries(_scalar(key, {}), _scalar(value, {}), max_size=4)
        getattr(message, field.name).update(draw(values))
    elif target is not None and field.is_repeated:
        container = getattr(message, field.name)
        for sub in draw(st.lists(messages(target, hints, None, depth + 1), max_size=3)):
            container.add().CopyFrom(sub)
    elif target is not None:
        getattr(message, field.name).CopyFrom(draw(messages(target, hints, None, depth + 1)))
    elif field.is_repeated:
        getattr(message, field.name).extend(draw(st.lists(_scalar(field, hints), max_size=5)))
    else:
        setattr(message, field.name, draw(_scalar(field, hints)))


# ---- bytes ---------------------------------------------------------------------------------
@st.composite
def mutated_bytes(draw: Callable, data: bytes) -> bytes:
    """`data` with a few random edits: bit flips, inserted, deleted or overwritten bytes, a
    truncation, random bytes appended, or (rarely) entirely random bytes."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "overwrite", "truncate", "append", "random")))
        at = draw(st.integers(0, len(out)))
        if op == "flip" and out:
            at = min(at, len(out) - 1)
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del out[at:at + draw(st.integers(1, 8))]
        elif op == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=8))
            out[at:at + len(patch)] = patch
        elif op == "truncate":
            del out[at:]
        elif op == "append":
            out += draw(st.binary(min_size=1, max_size=16))
        elif op == "random":
            out = bytearray(draw(st.binary(max_size=64)))
    return bytes(out)


# ---- chunk streams -------------------------------------------------------------------------
def encode(values: np.ndarray, dtype: int) -> bytes:
    """Wire bytes of `values` in `dtype`; an unknown dtype code gets float32 bytes."""
    return wire.encode(values, WIRE_NAMES.get(dtype, "float32"))


@st.composite
def values(draw: Callable, size: int) -> np.ndarray:
    """`size` float32 values: mostly small normals, sometimes zeros, huge, NaN or inf."""
    kind = draw(st.sampled_from(("normal", "normal", "normal", "zeros", "huge", "nan", "inf")))
    out = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(size).astype(np.float32) * 1e-2
    if kind == "zeros":
        out[:] = 0
    elif kind == "huge":
        out *= 1e38
    elif kind in ("nan", "inf") and size:
        out[draw(st.integers(0, size - 1))] = np.nan if kind == "nan" else -np.inf
    return out


@st.composite
def valid_chunks(draw: Callable, layout: dict[str, tuple[int, ...]], sparse_ok: bool
                 ) -> list[optimizer_pb2.TensorChunk]:
    """A well-formed chunk sequence covering `layout` (a step's gradients or an upload),
    dense, or with `sparse_ok` sometimes row chunks of the 2-D tensors only."""
    dtype = draw(st.sampled_from((F32, F32, F16, BF16)))
    tables = [name for name, shape in layout.items() if len(shape) == 2]
    chunks = []
    if sparse_ok and tables and draw(st.booleans()):
        for name in draw(st.lists(st.sampled_from(tables), min_size=1, unique=True)):
            height, width = layout[name]
            for _ in range(draw(st.integers(1, 2))):
                rows = np.array(draw(st.lists(st.integers(0, height - 1), min_size=1, max_size=6)), dtype="<i8")
                chunks.append(optimizer_pb2.TensorChunk(
                    name=name, shape=layout[name], dtype=dtype, data=encode(draw(values(rows.size * width)), dtype),
                    rows=rows.tobytes()))
        return chunks
    per_chunk = draw(st.sampled_from((1, 7, 64, 100, 1000)))
    for name, shape in layout.items():
        flat = draw(values(math.prod(shape)))
        for start in range(0, flat.size, per_chunk):
            chunks.append(optimizer_pb2.TensorChunk(name=name, shape=shape, dtype=dtype, offset=start,
                                                    data=encode(flat[start:start + per_chunk], dtype)))
    return chunks


CHUNK_EDITS = ("drop", "duplicate", "swap", "offset", "truncate", "extend", "dtype", "shape", "name", "rows",
               "rows_misaligned", "rows_on_dense", "empty", "oversize", "nan")


@st.composite
def edited_chunks(draw: Callable, chunks: list[optimizer_pb2.TensorChunk], layout: dict[str, tuple[int, ...]]
                  ) -> list[optimizer_pb2.TensorChunk]:
    """`chunks` after a few random edits: chunks dropped, repeated or reordered; offsets,
    dtypes, shapes, names and row indices wrong; data truncated, too long, empty or oversized."""
    chunks = [optimizer_pb2.TensorChunk.FromString(c.SerializeToString()) for c in chunks]
    for _ in range(draw(st.integers(0, 3))):
        if not chunks:
            break
        op = draw(st.sampled_from(CHUNK_EDITS))
        i = draw(st.integers(0, len(chunks) - 1))
        chunk = chunks[i]
        if op == "drop":
            del chunks[i]
        elif op == "duplicate":
            chunks.insert(draw(st.integers(0, len(chunks))), chunk)
        elif op == "swap":
            j = draw(st.integers(0, len(chunks) - 1))
            chunks[i], chunks[j] = chunks[j], chunks[i]
        elif op == "offset":
            chunk.offset = draw(weighted((2, near(chunk.offset)), (1, st.integers(0, 700))))
        elif op == "truncate":
            chunk.data = chunk.data[:draw(st.integers(0, max(len(chunk.data) - 1, 0)))]
        elif op == "extend":
            chunk.data += draw(st.binary(min_size=1, max_size=9))
        elif op == "dtype":
            chunk.dtype = draw(st.integers(-2, 6))
        elif op == "shape":
            chunk.shape[:] = draw(st.lists(weighted((2, st.integers(0, 50)), (1, uint64s)), max_size=4))
        elif op == "name":
            chunk.name = draw(st.one_of(st.sampled_from(sorted(layout)), texts))
        elif op == "rows":
            height = layout.get(chunk.name, (1,))[0]
            bad = draw(st.sampled_from((height, height + 1, -1, 2**62, -2**63, 2**63 - 1)))
            rows = np.frombuffer(chunk.rows, dtype="<i8").copy() if chunk.rows else np.zeros(1, "<i8")
            rows[draw(st.integers(0, rows.size - 1))] = bad
            chunk.rows = rows.tobytes()
        elif op == "rows_misaligned":
            chunk.rows = chunk.rows[:-1] if chunk.rows else b"\x01\x02\x03"
        elif op == "rows_on_dense":
            chunk.rows = np.array([0], dtype="<i8").tobytes()
        elif op == "empty":
            chunk.data = b""
        elif op == "oversize":
            chunk.data = bytes(wire.MAX_CHUNK_BYTES + draw(st.sampled_from((4, 2))))
        elif op == "nan":
            chunk.data = encode(np.full(max(len(chunk.data) // 4, 1), np.nan, np.float32), chunk.dtype)
    return chunks


STREAM_EDITS = ("no_header", "two_headers", "header_later", "header_only", "chunk_first")


@st.composite
def framed(draw: Callable, header: Message, chunks: list[Message], request_cls: type) -> list[Message]:
    """Client-stream messages: the header then the chunks, or (sometimes) the header missing,
    repeated, late, or alone."""
    requests = [request_cls(header=header), *(request_cls(chunk=c) for c in chunks)]
    if draw(st.integers(0, 4)):
        return requests
    op = draw(st.sampled_from(STREAM_EDITS))
    if op == "no_header":
        return requests[1:]
    if op == "two_headers":
        return [*requests[:1], *requests]
    if op == "header_later" and len(requests) > 1:
        return [*requests[1:2], requests[0], *requests[2:]]
    if op == "header_only":
        return requests[:1]
    return [*requests[1:], requests[0]]
