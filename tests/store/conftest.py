"""The stores the contract suite runs against: every implementation must pass it."""
from __future__ import annotations

import pathlib
from typing import Callable

import pytest

from lrctl.server.store import Store, open_store

StoreOpener = Callable[[], Store]


@pytest.fixture(params=["sqlite"])
def open_store_here(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> StoreOpener:
    """Opens the store under test, at one location per test: call it again to reopen (the
    durability tests), or to get a second handle on the same data (concurrent writers)."""
    url = f"sqlite:///{tmp_path}/lrctl.sqlite"
    opened: list[Store] = []

    def opener() -> Store:
        store = open_store(url)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        try:
            store.close()
        except Exception:  # noqa: BLE001 - a test may have closed it already
            pass
