"""One server per data directory: an exclusive lock held for the server's lifetime, and the
identity of the replica that directory makes.

Two servers writing one data directory would interleave snapshots and, on SQLite, commit
events under the same versions. The lock is an flock(2) on `<data-dir>/lrctl.lock`, so it
goes away with the process however it dies (SIGKILL included) and a restart never finds a
stale one; the file holds the owner's pid, to name it in the refusal.
"""
from __future__ import annotations

import fcntl
import os
import pathlib
import uuid

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


REPLICA_ID_FILE = "replica-id"


def replica_id(data_dir: str | os.PathLike[str]) -> str:
    """This server's identity among replicas: a UUID kept in `<data-dir>/replica-id`, made at
    the first start (call with the data dir locked). It goes with the data dir, as the arrays
    of the data-plane jobs the server holds do: a server started again on the same data dir
    is the same replica, wherever it listens now."""
    path = pathlib.Path(data_dir) / REPLICA_ID_FILE
    try:
        return str(uuid.UUID(path.read_text().strip()))
    except FileNotFoundError:
        pass
    except ValueError:
        raise FailedPrecondition(f"{path} does not hold a replica id (a UUID): restore it, or remove it to make "
                                 "this server a new replica") from None
    except OSError as error:
        raise storage_error(error) from None
    made = str(uuid.uuid4())
    temp = path.with_name(f".{REPLICA_ID_FILE}.tmp")
    try:
        with open(temp, "w") as file:
            file.write(made + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as error:
        raise storage_error(error) from None
    return made
