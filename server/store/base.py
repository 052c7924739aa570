"""The store interface: what the jobs layer needs from persistence, nothing more.

Every method that changes data is one atomic, durable transaction: when it returns, the
change survives a crash (SIGKILL or power loss); when it raises, nothing of it was written.
"""
from __future__ import annotations

from typing import Iterable, Protocol

from lrctl.server.store.records import EventRecord, JobRecord, MetricRecord, ReportRecord


class Store(Protocol):
    def insert_job(self, job: JobRecord, events: Iterable[EventRecord]) -> None:
        """Adds a new job; raises AlreadyExists when the id is taken."""

    def load_job(self, job_id: str) -> JobRecord | None: ...

    def list_jobs(self, after_job_id: str, limit: int) -> list[JobRecord]:
        """Jobs ordered by id, strictly after `after_job_id` ("" for the first page)."""

    def delete_job(self, job_id: str) -> bool:
        """Removes the job and its history; False when it did not exist."""

    def update_job(
        self,
        job: JobRecord,
        events: Iterable[EventRecord] = (),
        metrics: Iterable[MetricRecord] = (),
        report: ReportRecord | None = None,
    ) -> None:
        """Replaces the job row and appends its new history in one transaction."""

    def list_events(self, job_id: str, since_version: int, limit: int) -> list[EventRecord]: ...

    def load_report(self, job_id: str, step: int) -> ReportRecord | None: ...

    def metric_names(self, job_id: str, step: int) -> set[str]:
        """Names of metrics already recorded for (job, step): the idempotency key of reports."""

    def count_jobs(self) -> dict[str, int]:
        """Number of jobs by state ("active", "stopped")."""

    def close(self) -> None: ...
