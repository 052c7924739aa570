"""`--store URL` -> the Store behind it: the one place that knows which stores exist.

URLs follow SQLAlchemy's convention, so they read the same as in MLflow or Optuna:
`sqlite:///relative/path.sqlite` and `sqlite:////absolute/path.sqlite` (the path is what
follows `sqlite:///`). The default is `sqlite:///<data-dir>/lrctl.sqlite`, the file lrctl has
always used, so existing data directories keep working.
"""
from __future__ import annotations

import pathlib

from lrctl.server.errors import FieldViolation, InvalidArgument
from lrctl.server.store.base import Store

SQLITE_PREFIX = "sqlite:///"
DEFAULT_FILE = "lrctl.sqlite"


def default_store_url(data_dir: str) -> str:
    return SQLITE_PREFIX + str(pathlib.PurePath(data_dir) / DEFAULT_FILE)


def open_store(url: str) -> Store:
    """Opens (and migrates) the store `url` names; InvalidArgument for a URL no store reads."""
    if url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        from lrctl.server.store.sqlite_store import SqliteStore

        return SqliteStore(url[len(SQLITE_PREFIX):])
    raise InvalidArgument(FieldViolation(
        "store", f"unsupported store URL {url!r}: expected sqlite:///PATH (e.g. sqlite:///lrctl-data/lrctl.sqlite)"))
