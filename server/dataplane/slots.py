"""One job's place in the data plane: its arrays, the lock every change of them takes, the
gradient buffers its steps decode into, and the step being collected from its ranks.

A slot belongs to one incarnation of a job (its create_time), held at one owner epoch
(ownership.py): a job deleted and created again under the same id, or held again at a later
epoch, gets a new slot, and a retired slot (`deleted`) refuses everything, so no call that
found the old job can reach the arrays or the snapshot of the new one. A job nobody holds yet
gets an `unheld` slot of its own per call, with no arrays, which nothing can fill: an upload
claims the job first. Everything
that writes arrays or snapshots holds `lock` and checks `deleted` first.

Gradient buffers: a one-worker job decodes into its arrays' own gradient pair. A job of W
workers decodes rank r's gradient into row r of a (W, elements) host array, allocated at its
first step and counted in the memory budget, which the reduction reads in one pass. A call
whose buffer is taken (a rank sending again before its first call ended) gets a buffer of its
own, claimed from the budget and freed when it ends.
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
    """Where one call's dense gradient is decoded (`host`) and what the kernel reads (`device`:
    the same array on the CPU, its device copy on a GPU; None for a rank's row, which only the
    reduction reads). `claim` holds the budget of a buffer beyond the job's own; `rank_row` is
    the row of the ranks' array it is, if any."""

    host: np.ndarray
    device: Array | None
    claim: Claim | None = None
    rank_row: int | None = None


class Slot:
    __slots__ = ("lock", "create_time", "epoch", "arrays", "loaded", "snapshot_step", "deleted", "pending",
                 "_spare", "_ranks", "_ranks_claim", "_rows_in_use")

    def __init__(self, create_time: float, epoch: int | None) -> None:
        self.lock = threading.Lock()
        self.create_time = create_time
        self.epoch = epoch
        self.arrays: JobArrays | None = None
        self.loaded = False
        self.snapshot_step = -1
        self.deleted = False
        self.pending = None
        """The StepCollector of the step being collected (arrays.next_step), if any rank sent it."""
        self._spare: list[GradientBuffer] = []
        self._ranks: np.ndarray | None = None
        self._ranks_claim: Claim | None = None
        self._rows_in_use: set[int] = set()

    @classmethod
    def unheld(cls, create_time: float) -> "Slot":
        """A stand-in slot for a job no replica holds: loaded, without arrays, in no registry."""
        slot = cls(create_time, None)
        slot.loaded = True
        return slot

    def set_arrays(self, arrays: JobArrays | None) -> None:
        """Replaces the arrays (call with lock held); their own gradient pair becomes the spare
        buffer, and buffers sized for the old arrays are dropped."""
        self.arrays = arrays
        for buffer in self._spare:
            if buffer.claim is not None:
                buffer.claim.release()
        self._spare = [] if arrays is None else [GradientBuffer(arrays.host_grads, arrays.grads)]
        if self._ranks_claim is not None:
            self._ranks_claim.release()
        self._ranks, self._ranks_claim, self._rows_in_use = None, None, set()

    def take_buffer(self) -> GradientBuffer | None:
        """The job's own gradient buffer if free, else None (call with lock held)."""
        return self._spare.pop() if self._spare else None

    def rank_rows(self, workers: int, claim: Claim) -> np.ndarray:
        """The (workers, elements) array of the ranks' gradients, allocated on first use under
        `claim` (call with lock held)."""
        if self._ranks is None:
            claim.grow_to(workers * self.arrays.layout.size * 4)
            self._ranks, self._ranks_claim = np.empty((workers, self.arrays.layout.size), np.float32), claim
        else:
            claim.release()
        return self._ranks

    @property
    def ranks(self) -> np.ndarray | None:
        """The (workers, elements) array of the ranks' gradients, once allocated."""
        return self._ranks

    def take_rank_row(self, rank: int) -> GradientBuffer | None:
        """Rank `rank`'s row, if no other call of that rank is using it (call with lock held)."""
        if self._ranks is None or rank in self._rows_in_use:
            return None
        self._rows_in_use.add(rank)
        return GradientBuffer(self._ranks[rank], None, rank_row=rank)

    def give_back(self, buffer: GradientBuffer, arrays: JobArrays) -> None:
        """Returns a buffer taken for `arrays` (call with lock held): the job's own pair and the
        ranks' rows are kept for the next step, an extra one is freed."""
        if buffer.claim is not None:
            buffer.claim.release()
        elif arrays is not self.arrays:
            return
        elif buffer.rank_row is not None:
            self._rows_in_use.discard(buffer.rank_row)
        else:
            self._spare.append(buffer)
