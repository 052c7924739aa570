"""When a replica may serve a cached job view without asking the store: the staleness bound.

A view is served from memory only while it is known to hold every commit made more than
STALENESS_BOUND_SECONDS ago, on any replica. What proves it (`Checked`):
- the view was read from, or committed to, the store at time t (a compare-and-swap that
  succeeded proves its base was current), so it is complete as of t; and
- while the store's change feed stays in the generation it was in at t, the feed's sync point
  (the send time of its last heartbeat that came back, see store/postgres_feed.py) says up to
  when every commit has been told to this replica; a commit told marks the view stale at once.
A view complete as of no time within the bound is read again (one indexed SELECT; the spec is
decoded again only when the version moved). So a lost notification or a dropped or half-dead
feed connection costs reads, never staleness beyond the bound. A store only one server writes
(SQLite) has an infinite sync point: its views are always current.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from lrctl.server.store import Store

STALENESS_BOUND_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Checked:
    """A view was complete as of `at` (time.monotonic()), with the feed in `generation`."""

    generation: int
    at: float


class Freshness:
    def __init__(self, store: Store, bound: float = STALENESS_BOUND_SECONDS) -> None:
        self._store = store
        self.bound = bound
        self.always_current = not store.shared

    def now(self) -> Checked:
        """Taken just before a read or a write whose answer is then current as of it."""
        return Checked(self._store.sync_point().generation, time.monotonic())

    def current(self, checked: Checked, version: int, known_version: int) -> bool:
        """Whether a view at `version`, checked as `checked`, may be served now."""
        if self.always_current:
            return True
        if version < known_version:
            return False
        point = self._store.sync_point()
        as_of = max(checked.at, point.as_of) if point.generation == checked.generation else checked.at
        return as_of >= time.monotonic() - self.bound

    def coherent(self) -> bool:
        """Whether the feed alone keeps cached views current (it is connected and heartbeating)."""
        return self.always_current or self._store.sync_point().as_of >= time.monotonic() - self.bound


def later(first: Checked, second: Checked) -> Checked:
    """The stronger of two checks of one view (see Freshness: a newer generation comes only
    from a check made after that generation began)."""
    return Checked(max(first.generation, second.generation), max(first.at, second.at))
