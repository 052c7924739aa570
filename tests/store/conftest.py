"""The stores the contract suite runs against: every implementation must pass it.

PostgreSQL runs in a throwaway cluster of the tests' own (tests/support/postgres.py), one
fresh database per test; where PostgreSQL is not installed its tests skip and say why.
"""
from __future__ import annotations

import pathlib
from typing import Callable

import pytest

from lrctl.server.store import Store, open_store
from tests.support.postgres import cluster_fixture

StoreOpener = Callable[[], Store]

postgres_cluster = cluster_fixture()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    """Where the store under test keeps its data: a new file, or a new database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/lrctl.sqlite"
    return request.getfixturevalue("postgres_cluster").create_database()


@pytest.fixture
def open_store_here(store_url: str) -> StoreOpener:
    """Opens the store under test, at one location per test: call it again to reopen (the
    durability tests), or to get a second handle on the same data (concurrent writers)."""
    opened: list[Store] = []

    def opener() -> Store:
        store = open_store(store_url)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        try:
            store.close()
        except Exception:  # noqa: BLE001 - a test may have closed it already
            pass


@pytest.fixture
def open_store_handle(open_store_here: StoreOpener) -> Store:
    """One open handle on the store under test (for tests that draw many examples on it)."""
    return open_store_here()
