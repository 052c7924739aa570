"""One server per data directory: an exclusive lock held for the server's lifetime.

Two servers writing one data directory would interleave snapshots and, on SQLite, commit
events under the same versions. The lock is an flock(2) on `<data-dir>/lrctl.lock`, so it
goes away with the process however it dies (SIGKILL included) and a restart never finds a
stale one; the file holds the owner's pid, to name it in the refusal.
"""
from __future__ import annotations

import fcntl
import os
import pathlib

from lrctl.server.errors import FailedPrecondition
from lrctl.server.store.failures import storage_error

LOCK_FILE = "lrctl.lock"


class DataDirLock:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.path = pathlib.Path(data_dir) / LOCK_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise storage_error(error) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise FailedPrecondition(f"data dir {self.path.parent} is in use by pid {owner}: one server per data "
                                     "directory (stop it, or give this one another --data-dir)") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        os.close(self._fd)
