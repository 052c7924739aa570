"""The one file format of a job's arrays: an .npz of float32 arrays plus a JSON "meta" entry.

Snapshots and exported jobs are both this format. Reading never unpickles
(`allow_pickle=False`): the metadata is a plain unicode array holding JSON, so a file from a
client cannot run code, and a non-float32 or object array is refused.
"""
from __future__ import annotations

import json
import zipfile
from typing import IO, Any, Mapping

import numpy as np

from lrctl.server.errors import FieldViolation, InvalidArgument

META = "meta"


def write(file: IO[bytes], arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Writes `arrays` (float32, by name) and `meta` (JSON-serialisable) to `file` (uncompressed)."""
    np.savez(file, **{META: np.array(json.dumps(meta, sort_keys=True))}, **arrays)


def read(file: IO[bytes]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and metadata of a file `write` made; InvalidArgument for anything else."""
    try:
        with np.load(file, allow_pickle=False) as npz:
            contents = {name: npz[name] for name in npz.files}
        meta = json.loads(str(contents.pop(META)))
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise InvalidArgument(FieldViolation("file", f"not a job archive: {error}")) from None
    bad = [name for name, array in contents.items() if array.dtype != np.float32]
    if not isinstance(meta, dict) or bad:
        raise InvalidArgument(FieldViolation("file", f"not a job archive: non-float32 arrays {bad}"))
    return contents, meta
