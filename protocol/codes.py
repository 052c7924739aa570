"""The wire codes of dtypes and reply modes (optimizer.proto's DType and ReplyMode), by name."""
from __future__ import annotations

from lrctl.v1 import optimizer_pb2

DTYPES = {"float32": optimizer_pb2.DTYPE_FLOAT32, "float16": optimizer_pb2.DTYPE_FLOAT16,
          "bfloat16": optimizer_pb2.DTYPE_BFLOAT16}
DTYPE_NAMES = {code: name for name, code in DTYPES.items()}
REPLY_MODES = {"all": optimizer_pb2.REPLY_MODE_ALL, "touched": optimizer_pb2.REPLY_MODE_TOUCHED,
               "none": optimizer_pb2.REPLY_MODE_NONE}
REPLY_MODE_NAMES = {optimizer_pb2.REPLY_MODE_UNSPECIFIED: "all", **{code: name for name, code in REPLY_MODES.items()}}


def dtype_code(name: str) -> int:
    if name not in DTYPES:
        raise ValueError(f"wire dtype must be one of {', '.join(DTYPES)}, not {name!r}")
    return DTYPES[name]


def dtype_name(code: int) -> str:
    """The name of a dtype code; an unknown code gets a name no dtype has ("dtype 7"), for
    whoever checks it to refuse with."""
    return DTYPE_NAMES.get(code, f"dtype {code}")
