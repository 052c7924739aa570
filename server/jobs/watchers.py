"""WatchJob subscriptions: who to wake when a job changes, within the per-job limit.

A watcher is only woken, never handed events: it reads every event after the last version
it sent from the store (JobRegistry.events), so what it delivers has no gap and no
duplicate whether events arrived while it replayed, while it slept, or on another replica.
Waking must be cheap and thread-safe: commits happen on executor threads, watchers wait on
the event loop.
"""
from __future__ import annotations

import threading
from typing import Protocol

from lrctl.server.errors import ResourceExhausted


class Subscription(Protocol):
    def wake(self) -> None:
        """Called from any thread after the job changed, was deleted, or the server is closing."""


class Watchers:
    def __init__(self, max_per_job: int) -> None:
        self.max_per_job = max_per_job
        self._lock = threading.Lock()
        self._by_job: dict[str, list[Subscription]] = {}

    def add(self, job_id: str, subscription: Subscription) -> None:
        with self._lock:
            subscriptions = self._by_job.setdefault(job_id, [])
            if len(subscriptions) >= self.max_per_job:
                raise ResourceExhausted(f"watcher limit reached: {self.max_per_job} WatchJob streams on job "
                                        f"{job_id!r} (--max-watchers-per-job)")
            subscriptions.append(subscription)

    def remove(self, job_id: str, subscription: Subscription) -> None:
        with self._lock:
            subscriptions = self._by_job.get(job_id, [])
            if subscription in subscriptions:
                subscriptions.remove(subscription)
            if not subscriptions:
                self._by_job.pop(job_id, None)

    def wake(self, job_id: str) -> None:
        with self._lock:
            subscriptions = list(self._by_job.get(job_id, ()))
        for subscription in subscriptions:
            subscription.wake()

    def wake_all(self) -> None:
        with self._lock:
            subscriptions = [s for listed in self._by_job.values() for s in listed]
        for subscription in subscriptions:
            subscription.wake()
