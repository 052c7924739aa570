"""One job's place in the data plane: its arrays, the lock every change of them takes, and the
gradient buffers its steps decode into.

A slot belongs to one incarnation of a job (its create_time): a job deleted and created again
under the same id gets a new slot, and a retired slot (`deleted`) refuses everything, so no
call that found the old job can reach the arrays or the snapshot of the new one. Everything
that writes arrays or snapshots holds `lock` and checks `deleted` first.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from lrctl.server.backends.kernels import Array
from lrctl.server.dataplane.arrays import JobArrays
from lrctl.server.dataplane.limits import Claim


@dataclass(eq=False)
class GradientBuffer:
    """Where one step's dense gradient is decoded (`host`) and what the kernel reads (`device`:
    the same array on the CPU, its device copy on a GPU). `claim` holds the budget of a buffer
    beyond the job's own (a second step in flight at once); None for the job's own pair."""

    host: np.ndarray
    device: Array
    claim: Claim | None = None


class Slot:
    __slots__ = ("lock", "create_time", "arrays", "loaded", "snapshot_step", "deleted", "_spare")

    def __init__(self, create_time: float) -> None:
        self.lock = threading.Lock()
        self.create_time = create_time
        self.arrays: JobArrays | None = None
        self.loaded = False
        self.snapshot_step = -1
        self.deleted = False
        self._spare: list[GradientBuffer] = []

    def set_arrays(self, arrays: JobArrays | None) -> None:
        """Replaces the arrays (call with lock held); their own gradient pair becomes the spare
        buffer, and buffers sized for the old arrays are dropped."""
        self.arrays = arrays
        for buffer in self._spare:
            if buffer.claim is not None:
                buffer.claim.release()
        self._spare = [] if arrays is None else [GradientBuffer(arrays.host_grads, arrays.grads)]

    def take_buffer(self) -> GradientBuffer | None:
        """A free gradient buffer of the current arrays' size, or None when every one is in use
        (call with lock held)."""
        return self._spare.pop() if self._spare else None

    def give_back(self, buffer: GradientBuffer, arrays: JobArrays) -> None:
        """Returns a buffer taken for `arrays` (call with lock held): the job's own pair is kept
        for the next step, an extra one is freed."""
        if buffer.claim is None and arrays is self.arrays:
            self._spare.append(buffer)
        elif buffer.claim is not None:
            buffer.claim.release()
