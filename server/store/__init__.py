"""Persistence behind one contract (base.Store), opened from a URL (factory.open_store): SQLite
(one server) or PostgreSQL (replicas)."""
from lrctl.server.store.base import SCHEMA_VERSION, ChangeListener, Store, SyncPoint
from lrctl.server.store.factory import default_store_url, open_store
from lrctl.server.store.records import EventRecord, JobRecord, JobUpdate, MetricRecord, OwnerRecord, ReportRecord

__all__ = ["SCHEMA_VERSION", "ChangeListener", "Store", "SyncPoint", "EventRecord", "JobRecord", "JobUpdate",
           "MetricRecord", "OwnerRecord", "ReportRecord",
           "default_store_url", "open_store"]
