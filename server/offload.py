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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from lrctl.server import deadlines

T = TypeVar("T")


class Offload:
    def __init__(self, control_workers: int, step_workers: int) -> None:
        self._control = ThreadPoolExecutor(control_workers, thread_name_prefix="lrctl-control")
        self._steps = ThreadPoolExecutor(step_workers, thread_name_prefix="lrctl-step")

    async def control(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on the control-plane pool, under the call's deadline: it does
        not start once the deadline has passed, and it can check the deadline as it goes."""
        work = deadlines.carried(functools.partial(fn, *args, **kwargs))
        return await asyncio.get_running_loop().run_in_executor(self._control, work)

    async def steps(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` on the data-plane pool."""
        return await asyncio.get_running_loop().run_in_executor(self._steps, functools.partial(fn, *args, **kwargs))

    def steps_later(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Runs `fn` on the data-plane pool without waiting for it: cleanup from a `finally` that
        may run while its call is being cancelled, or work that outlives any one call."""
        return self._steps.submit(fn, *args)

    def shutdown(self) -> None:
        self._control.shutdown(wait=True)
        self._steps.shutdown(wait=True)
