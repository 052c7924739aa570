"""Per-job array snapshots in data_dir/snapshots/: one archive file per job, replaced atomically.

A snapshot is written to a temporary file in the same directory, fsynced, renamed over the
old one and the directory fsynced, so after a crash a job's file is either the previous
complete snapshot or the new complete one, never a torn mix. Leftover temporary files (a
crash mid-write) are removed at start.
"""
from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Any, Mapping

import numpy as np

from lrctl.server.dataplane import archive
from lrctl.server.store.failures import storage_error

SUFFIX = ".npz"
TEMP_SUFFIX = ".tmp"


class SnapshotStore:
    """Reads, writes and deletes `<job_id>.npz` under `directory`."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = pathlib.Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            for leftover in self.directory.glob(f".*{TEMP_SUFFIX}"):
                leftover.unlink(missing_ok=True)
        except OSError as error:
            raise storage_error(error) from None

    def path(self, job_id: str) -> pathlib.Path:
        return self.directory / f"{job_id}{SUFFIX}"

    def write(self, job_id: str, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        """Replaces the job's snapshot atomically and durably; on failure the old one stays."""
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=f".{job_id}.", suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as file:
                archive.write(file, arrays, meta)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path(job_id))
        except BaseException:
            pathlib.Path(temp).unlink(missing_ok=True)
            raise
        self._sync_directory()

    def read(self, job_id: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """The job's last snapshot, or None when it has none."""
        try:
            with open(self.path(job_id), "rb") as file:
                return archive.read(file)
        except FileNotFoundError:
            return None

    def delete(self, job_id: str) -> None:
        self.path(job_id).unlink(missing_ok=True)
        self._sync_directory()

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
