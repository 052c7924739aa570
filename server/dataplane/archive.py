"""The one file format of a job's arrays: an .npz of float32 arrays plus a JSON "meta" entry.

Snapshots and exported jobs are both this format. Reading never unpickles: every member is
parsed here, header first, and refused unless it is a plain .npy of little-endian float32
(the metadata: a unicode scalar holding JSON, at most MAX_META_BYTES). A file from a client is
admitted member by member before anything of it is inflated: the metadata is read first, then
`admit(meta)` gives the check every array member's declared element count must pass (the
import's limits), and exactly the declared bytes are read from a member, so one that inflates
to more than it declares (a zip bomb) is refused after its own size, never after gigabytes.
Anything else about the file (no zip, corrupt deflate data, the encrypted flag, another
compression method) is INVALID_ARGUMENT naming the member.
"""
from __future__ import annotations

import json
import math
import zipfile
import zlib
from typing import IO, Any, Callable, Mapping

import numpy as np
from numpy.lib import format as npy

from lrctl.server.errors import FieldViolation, InvalidArgument

META = "meta"
SUFFIX = ".npy"
MAX_META_BYTES = 1 << 20
READ_PIECE = 1 << 20
METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def write(file: IO[bytes], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Writes `arrays` (float32, by name) and `meta` (JSON-serialisable) to `file` (uncompressed)."""
    np.savez(file, **{META: np.array(json.dumps(meta, sort_keys=True))}, **arrays)


Admit = Callable[[str, int], None]
"""admit(member name, declared elements): raises to refuse the member before it is inflated."""


def read(file: IO[bytes], admit: Callable[[dict[str, Any]], Admit] | None = None) -> tuple[dict[str, np.ndarray],
                                                                                            dict[str, Any]]:
    """The arrays and metadata of a file `write` made; InvalidArgument for anything else, and
    whatever `admit(meta)(name, elements)` raises for an array member it refuses."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise _bad("file", f"not a job archive (a zip of .npy members): {error}") from None
    with archive:
        infos: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            name = info.filename[:-len(SUFFIX)] if info.filename.endswith(SUFFIX) else None
            if not name or name in infos:
                raise _bad("file", f"not a job archive: member {info.filename!r}")
            infos[name] = info
        if META not in infos:
            raise _bad("file.meta", "missing: the file has no metadata member")
        meta_array = _member(archive, infos.pop(META), META, lambda name, elements: None)
        try:
            meta = json.loads(str(meta_array))
        except ValueError as error:
            raise _bad("file.meta", f"not JSON: {error}") from None
        if not isinstance(meta, dict):
            raise _bad("file.meta", "must be a JSON object")
        check = admit(meta) if admit is not None else (lambda name, elements: None)
        return {name: _member(archive, info, name, check) for name, info in infos.items()}, meta


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, admit: Admit) -> np.ndarray:
    """One member, checked from its headers before it is inflated, and read to its declared size."""
    where = f"file.{name}"
    if info.flag_bits & 0x1:
        raise _bad(where, "is encrypted")
    if info.compress_type not in METHODS:
        raise _bad(where, f"uses compression method {info.compress_type}; only stored or deflated members are read")
    try:
        with archive.open(info) as stream:
            shape, dtype, header_bytes = _header(stream, where)
            if name == META:
                if dtype.kind != "U" or shape:
                    raise _bad(where, f"holds {dtype} {shape}: the metadata is a unicode scalar")
                if dtype.itemsize > MAX_META_BYTES:
                    raise _bad(where, f"declares {dtype.itemsize} bytes, over the {MAX_META_BYTES} metadata may take")
            elif dtype != np.dtype("<f4"):
                raise _bad(where, f"holds {dtype}: arrays must be float32")
            else:
                admit(name, math.prod(shape))
            size = math.prod(shape) * dtype.itemsize
            if info.file_size != header_bytes + size:
                raise _bad(where, f"declares {size} bytes in its header but {info.file_size - header_bytes} in the zip")
            data = _exactly(stream, size, where)
            if stream.read(1):
                raise _bad(where, "holds more bytes than it declares")
    except (zlib.error, zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as error:
        raise _bad(where, f"cannot be read: {error}") from None
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _header(stream: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) of a .npy stream; refused unless it is C-ordered."""
    try:
        version = npy.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy.read_array_header_2_0(stream)
        else:
            raise ValueError(f"npy version {version}")
    except ValueError as error:
        raise _bad(where, f"not an .npy array: {error}") from None
    if fortran:
        raise _bad(where, "is stored in Fortran order; only C order is read")
    return tuple(shape), np.dtype(dtype), stream.tell()


def _exactly(stream: IO[bytes], size: int, where: str) -> bytearray:
    """`size` bytes of `stream`, read piece by piece into one buffer of that size."""
    buffer = bytearray(size)
    view, done = memoryview(buffer), 0
    while done < size:
        piece = stream.read(min(READ_PIECE, size - done))
        if not piece:
            raise _bad(where, f"ends after {done} of its {size} bytes")
        view[done:done + len(piece)] = piece
        done += len(piece)
    return buffer


def _bad(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(FieldViolation(field, description))
