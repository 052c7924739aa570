"""The one mapping from a storage failure (an OSError, a sqlite3.Error) to the error a caller sees.

A full disk is ResourceExhausted ("storage full: ..."), any other I/O failure (read-only
file system, permissions, a failing device) is Unavailable ("storage unavailable: ...").
SQLite reports ENOSPC as SQLITE_FULL but hides the errno of any other failed write(2) behind
SQLITE_IOERR_WRITE; EFBIG (the process's file-size limit) is recognised by the database file
that reached that limit.
"""
from __future__ import annotations

import errno
import os
import resource
import sqlite3
from typing import Iterable

from lrctl.server.errors import LrctlError, ResourceExhausted, Unavailable

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
SQLITE_FULL = 13
SQLITE_IOERR_WRITE = 778


def storage_error(error: OSError | sqlite3.Error, files: Iterable[str | os.PathLike[str]] = ()) -> LrctlError:
    """The caller-facing error for `error`; `files` are the database files the failed write may
    have grown (to recognise a file-size limit behind SQLITE_IOERR_WRITE)."""
    if isinstance(error, OSError):
        full = error.errno in FULL_ERRNOS
    else:
        code = getattr(error, "sqlite_errorcode", None)
        full = code is not None and code & 0xFF == SQLITE_FULL
        if code == SQLITE_IOERR_WRITE and _at_file_size_limit(files):
            return ResourceExhausted(f"storage full: the file size limit was reached ({error})")
    if full:
        return ResourceExhausted(f"storage full: {_describe(error)}")
    return Unavailable(f"storage unavailable: {_describe(error)}")


def _at_file_size_limit(files: Iterable[str | os.PathLike[str]]) -> bool:
    limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit == resource.RLIM_INFINITY:
        return False
    for path in files:
        try:
            if os.path.getsize(path) >= limit:
                return True
        except OSError:
            continue
    return False


def _describe(error: OSError | sqlite3.Error) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    return str(error) or type(error).__name__
