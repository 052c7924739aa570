"""The limits on schedules that hold schedules (sequential, chained: a `schedules` tuple).

A tree is at most MAX_DEPTH nesting schedules deep and holds at most MAX_SCHEDULES schedules
(itself included), so the LR of any step, a policy's peak and its restart count stay a
bounded amount of work. Each nesting schedule checks its own tree when it is made, after
its children checked theirs (a walk of at most MAX_SCHEDULES schedules below it), and a
violation names the field by its proto path from the nesting schedule's message.
"""
from __future__ import annotations

from typing import Any

from lrctl.server.policies.schedules import SCHEDULES
from lrctl.server.validation import Checks

MAX_DEPTH = 4
MAX_SCHEDULES = 64


def children(schedule: Any) -> tuple[Any, ...]:
    """The schedules `schedule` holds (none for a leaf schedule)."""
    return getattr(schedule, "schedules", ())


def check_children(schedules: tuple[Any, ...], checks: Checks) -> None:
    """Record what is wrong with a nesting schedule's `schedules`: none, one that is not a
    schedule, a tree too deep or too large."""
    checks.require(len(schedules) >= 1, "schedules", schedules, "must hold at least one schedule")
    for i, child in enumerate(schedules):
        checks.require(isinstance(child, SCHEDULES.types()), f"schedules[{i}]", child, "must be a schedule")
    if not all(isinstance(child, SCHEDULES.types()) for child in schedules):
        return
    depth, path = _deepest(schedules)
    checks.require(depth + 1 <= MAX_DEPTH, path, depth + 1,
                   f"nesting depth: sequential and chained schedules nest at most {MAX_DEPTH} deep")
    count = 1 + sum(size(child) for child in schedules)
    checks.require(count <= MAX_SCHEDULES, "schedules", count,
                   f"schedules in the tree: at most {MAX_SCHEDULES}, itself included")


def size(schedule: Any) -> int:
    """How many schedules the tree of `schedule` holds, itself included."""
    return 1 + sum(size(child) for child in children(schedule))


def _deepest(schedules: tuple[Any, ...]) -> tuple[int, str]:
    """(how many nesting schedules deep the deepest of `schedules` goes, the path to the
    deepest one's message from their parent's message)."""
    depth, path = 0, ""
    for i, child in enumerate(schedules):
        inner = children(child)
        if not inner:
            continue
        below, below_path = _deepest(inner)
        if below + 1 > depth:
            here = f"schedules[{i}].{SCHEDULES.name_of(child)}"
            depth, path = below + 1, f"{here}.{below_path}" if below_path else here
    return depth, path
