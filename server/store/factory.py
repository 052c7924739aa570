"""`--store URL` -> the Store behind it: the one place that knows which stores exist.

URLs follow SQLAlchemy's convention, so they read the same as in MLflow or Optuna:
`sqlite:///relative/path.sqlite` and `sqlite:////absolute/path.sqlite` (the path is what
follows `sqlite:///`). The default is `sqlite:///<data-dir>/lrctl.sqlite`, the file lrctl has
always used, so existing data directories keep working. `postgresql://USER@HOST:PORT/DB` (or
`postgres://`, with any libpq URI parameters) opens the shared store that replicas use; it
needs the `postgres` extra (`pip install 'lrctl[postgres]'`).
"""
from __future__ import annotations

import pathlib

import re

from lrctl.server.errors import FailedPrecondition, FieldViolation, InvalidArgument
from lrctl.server.store.base import Store

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")
DEFAULT_FILE = "lrctl.sqlite"


def redacted(url: str) -> str:
    """`url` with its password, if any, replaced by ***."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", r"\1:***@", url)


def default_store_url(data_dir: str) -> str:
    return SQLITE_PREFIX + str(pathlib.PurePath(data_dir) / DEFAULT_FILE)


def open_store(url: str) -> Store:
    """Opens (and migrates) the store `url` names; InvalidArgument for a URL no store reads."""
    if url.startswith(SQLITE_PREFIX) and len(url) > len(SQLITE_PREFIX):
        from lrctl.server.store.sqlite_store import SqliteStore

        return SqliteStore(url[len(SQLITE_PREFIX):])
    if url.startswith(POSTGRES_PREFIXES):
        try:
            from lrctl.server.store.postgres_store import PostgresStore
        except ImportError as error:
            raise FailedPrecondition(f"--store {url.split('://')[0]}://... needs psycopg: pip install "
                                     f"'lrctl[postgres]' ({error})") from None
        return PostgresStore(url)
    raise InvalidArgument(FieldViolation(
        "store", f"unsupported store URL {redacted(url)!r}: expected sqlite:///PATH (e.g. "
                 "sqlite:///lrctl-data/lrctl.sqlite) or postgresql://USER@HOST:PORT/DB"))
