"""Persistence behind an interface (base.Store); SqliteStore is the embedded default."""
from lrctl.server.store.base import Store
from lrctl.server.store.records import EventRecord, JobRecord, MetricRecord, ReportRecord
from lrctl.server.store.sqlite_store import SqliteStore

__all__ = ["Store", "SqliteStore", "JobRecord", "EventRecord", "MetricRecord", "ReportRecord"]
