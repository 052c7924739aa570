"""Persistence behind one contract (base.Store), opened from a URL (factory.open_store)."""
from lrctl.server.store.base import SCHEMA_VERSION, Store
from lrctl.server.store.factory import default_store_url, open_store
from lrctl.server.store.records import EventRecord, JobRecord, MetricRecord, ReportRecord

__all__ = ["SCHEMA_VERSION", "Store", "EventRecord", "JobRecord", "MetricRecord", "ReportRecord",
           "default_store_url", "open_store"]
