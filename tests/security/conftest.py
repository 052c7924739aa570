"""A real server with an admin token file, and clients on it."""
from __future__ import annotations

import pathlib
from typing import Iterator, Sequence

import pytest

import lrctl
from tests.support.server_process import ServerProcess

ADMIN = "test-admin-token-0123456789abcdef"
SGD_JOB = {"policy": {"lr": 0.5}, "optimizer": {"sgd": {}}}


def token_file(directory: pathlib.Path, *tokens: str) -> pathlib.Path:
    path = directory / "admin-tokens"
    path.write_text("# operators of this test\n\n" + "".join(f"{token}\n" for token in tokens))
    return path


def start_server(directory: pathlib.Path, extra_args: Sequence[str] = ()) -> ServerProcess:
    """A server whose only admin token is ADMIN (from a file with a comment and a blank line)."""
    return ServerProcess(directory / "data", ["--admin-token-file", str(token_file(directory, ADMIN)),
                                              *extra_args]).start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("auth"))
    yield process
    process.kill()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[lrctl.Client]:
    with lrctl.Client(server.address, token=ADMIN) as client:
        yield client
