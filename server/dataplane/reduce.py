"""Combining the ranks' gradients of one data-parallel step, in rank order.

Each rank's dense gradient sits in one row of a (workers, elements) float32 array; the
reduction adds the rows element by element in rank order in one compiled pass, so its
result depends only on the gradients, never on the order the ranks arrived in. "mean"
divides each rank's value by the number of workers before adding, as DDP divides every
gradient by the world size before its all-reduce. Row gradients (embedding tables) are
concatenated in rank order (optim sums duplicate rows), and scaled the same way.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

import lrctl.server.backends.cpu_kernels  # noqa: F401 - selects numba's thread-safe threading layer first
from lrctl.server import optim


@njit(parallel=True, nogil=True, cache=True)
def _sum_rows(stack, starts, stops, out, divisor):
    """out[i] = sum over rows r, in order, of stack[r, i] (/ divisor when divisor > 0), for i
    in each [starts[s], stops[s])."""
    workers = stack.shape[0]
    for s in range(starts.size):
        for i in prange(starts[s], stops[s]):
            acc = np.float32(0.0)
            if divisor > 0:
                for r in range(workers):
                    acc += stack[r, i] / divisor
            else:
                for r in range(workers):
                    acc += stack[r, i]
            out[i] = acc


def reduce_dense(stack: np.ndarray, spans: list[tuple[int, int]], out: np.ndarray, mean: bool) -> None:
    """Writes the rank-order reduction of `stack`'s rows over `spans` (element ranges) into `out`."""
    starts = np.fromiter((lo for lo, _ in spans), dtype=np.int64, count=len(spans))
    stops = np.fromiter((hi for _, hi in spans), dtype=np.int64, count=len(spans))
    _sum_rows(stack, starts, stops, out, np.float32(stack.shape[0] if mean else 0))


def reduce_rows(by_rank: list[optim.RowGradient], workers: int, mean: bool) -> optim.RowGradient:
    """One tensor's row gradients from every rank that sent rows, in rank order."""
    rows = np.concatenate([g.rows for g in by_rank])
    values = np.concatenate([g.values for g in by_rank])
    if mean:
        values = values / np.float32(workers)
    return optim.RowGradient(rows, values.astype(np.float32, copy=False))


def warm_up() -> None:
    """Compiles the reduction (or loads it from numba's cache)."""
    reduce_dense(np.ones((2, 4), np.float32), [(0, 4)], np.empty(4, np.float32), mean=True)
