"""Named points where a call can be held, so tests can interleave two calls exactly there.

Production code calls `pause("mutate.unlocked")` at the few places where two operations on
one job can interleave (a change that found its job but has not locked it yet, a step that
found its job but not its arrays). The server's own `pause` does nothing; a test passes a
function that blocks on an event for the point it targets, then runs the rival call, instead
of sleeping and hoping the timing works out.
"""
from __future__ import annotations

from typing import Callable

PausePoint = Callable[[str], None]


def no_pause(point: str) -> None:
    """The server's pause: none."""
