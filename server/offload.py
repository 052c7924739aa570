"""Bounded thread pools that run blocking work off the event loop.

The event loop only moves messages; everything that can take more than a few microseconds
(store commits and reads, policy math, optimizer kernels, snapshots) runs on one of two
pools, so a slow disk or a 10M-parameter step never stalls the streams of other callers.
Control-plane work and data-plane work have separate pools: a burst of large steps cannot
delay a GetLearningRate, and a burst of reports cannot delay a step.
"""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class Offload:
    def __init__(self, control_workers: int, step_workers: int) -> None:
        self._control = ThreadPoolExecutor(control_workers, thread_name_prefix="lrctl-control")
        self._steps = ThreadPoolExecutor(step_workers, thread_name_prefix="lrctl-step")

    async def control(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on the control-plane pool."""
        return await asyncio.get_running_loop().run_in_executor(self._control, functools.partial(fn, *args, **kwargs))

    async def steps(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on the data-plane pool."""
        return await asyncio.get_running_loop().run_in_executor(self._steps, functools.partial(fn, *args, **kwargs))

    def steps_later(self, fn: Callable[..., Any], *args: Any) -> None:
        """Runs cleanup on the data-plane pool without waiting for it (from a `finally` that
        may run while the call is being cancelled)."""
        self._steps.submit(fn, *args)

    def shutdown(self) -> None:
        self._control.shutdown(wait=True)
        self._steps.shutdown(wait=True)
