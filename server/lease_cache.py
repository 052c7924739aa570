"""LRs computed once per block of steps and job version, then served by slicing.

A job's LRs are a pure function of (policy, state), and every change of state bumps its
version, so a block computed for (job, version) is valid for as long as it is kept.
Evaluating the composed policy costs ~15 µs of numpy calls per request however few steps
are asked for; a slice costs ~1 µs. The cache is a bounded LRU, so memory stays flat
however many jobs there are (4,096 blocks of 1,024 float64 = 32 MiB at most).
"""
from __future__ import annotations

import collections
import threading
from typing import Callable, Hashable

import numpy as np

BLOCK_STEPS = 1024
MAX_BLOCKS = 4096

BlockKey = tuple[Hashable, int, int]


class LeaseCache:
    def __init__(self, max_blocks: int = MAX_BLOCKS) -> None:
        self._blocks: collections.OrderedDict[BlockKey, np.ndarray] = collections.OrderedDict()
        self._max_blocks = max_blocks
        self._lock = threading.Lock()

    def learning_rates(self, job: Hashable, version: int, step: int, horizon: int,
                       compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """LRs of [step, step + horizon) of `job` (its id and incarnation) at `version`;
        `compute` evaluates the policy for given steps."""
        first, last = step // BLOCK_STEPS, (step + horizon - 1) // BLOCK_STEPS
        if last - first > 1:
            return compute(np.arange(step, step + horizon, dtype=np.int64))
        blocks = [self._block((job, version, index), compute) for index in range(first, last + 1)]
        lrs = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
        offset = step - first * BLOCK_STEPS
        return lrs[offset:offset + horizon]

    def forget(self, job: Hashable) -> None:
        """Drops a deleted job's blocks (they would never be asked for again, only kept)."""
        with self._lock:
            for key in [key for key in self._blocks if key[0] == job]:
                del self._blocks[key]

    def _block(self, key: BlockKey, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        with self._lock:
            block = self._blocks.get(key)
            if block is not None:
                self._blocks.move_to_end(key)
                return block
        start = key[2] * BLOCK_STEPS
        block = compute(np.arange(start, start + BLOCK_STEPS, dtype=np.int64))
        with self._lock:
            self._blocks[key] = block
            while len(self._blocks) > self._max_blocks:
                self._blocks.popitem(last=False)
        return block
