"""The deadline of the call being served, visible to the work done for it on any thread.

A call's work can outlive its caller: a client gives up at its deadline, but a report or a
preview already running on the control pool would compute to the end, and commit. The
service sets the call's deadline when the call starts (`serving`); the pools carry it to
the thread that does the work (`carried`), which checks it before it starts, between the
pieces of a long computation, and before a commit (`check`). Past it, the work stops with
DeadlineExceeded and nothing is written.
"""
from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from lrctl.server.errors import DeadlineExceeded

T = TypeVar("T")

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("lrctl_call_deadline", default=None)
"""time.monotonic() at which the current call's caller stops waiting; None: no deadline."""


@contextlib.contextmanager
def serving(time_remaining: float | None) -> Iterator[None]:
    """The current call has `time_remaining` seconds (grpc's context.time_remaining())."""
    token = _DEADLINE.set(None if time_remaining is None else time.monotonic() + time_remaining)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check() -> None:
    """Raises DeadlineExceeded once the current call's deadline has passed."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded("the call's deadline passed before its work was done: nothing was changed")


def carried(fn: Callable[[], T]) -> Callable[[], T]:
    """`fn` bound to the current call's deadline, to run on another thread: it does not start
    once the deadline has passed (a call that waited out its deadline in a pool's queue)."""
    context = contextvars.copy_context()

    def run() -> T:
        check()
        return fn()
    return lambda: context.run(run)
