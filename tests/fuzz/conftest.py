"""The fuzz tests' server: one real `lrctl serve` process per module, with fixture jobs."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.fuzz._harness import Harness
from tests.support.server_process import ServerProcess


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    server = ServerProcess(tmp_path_factory.mktemp("fuzz")).start()
    harness = Harness(server)
    yield harness
    harness.close()
    server.kill()
    calls = sum(harness.counts.values())
    print(f"\nfuzz: {calls} calls in {harness.seconds:.1f} s of calls; by method and status:")
    for (method, code), count in sorted(harness.counts.items()):
        print(f"  {method:<18} {code:<20} {count}")
