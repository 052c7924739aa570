"""Shared fixtures: a real server process per test module, a client on it."""
from __future__ import annotations

import pathlib
import sys
from typing import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import lrctl  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("data")).start()
    yield process
    process.kill()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[lrctl.Client]:
    with lrctl.Client(server.address) as c:
        yield c
