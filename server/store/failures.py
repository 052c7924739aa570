"""The one mapping from a failed file operation (an OSError) to the error a caller sees.

A full disk is ResourceExhausted ("storage full: ..."), any other I/O failure (read-only
file system, permissions, a failing device) is Unavailable ("storage unavailable: ...").
Stores map their database's own errors onto the same two (sqlite_store.sqlite_failure), so
a caller sees one vocabulary whatever holds the data.
"""
from __future__ import annotations

import errno

from lrctl.server.errors import LrctlError, ResourceExhausted, Unavailable

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def storage_error(error: OSError) -> LrctlError:
    """The caller-facing error for a failed file operation."""
    if error.errno in FULL_ERRNOS:
        return storage_full(describe(error))
    return storage_unavailable(describe(error))


def storage_full(reason: str) -> ResourceExhausted:
    return ResourceExhausted(f"storage full: {reason}")


def storage_unavailable(reason: str) -> Unavailable:
    return Unavailable(f"storage unavailable: {reason}")


def describe(error: OSError) -> str:
    if error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    return str(error) or type(error).__name__
