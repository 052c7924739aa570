"""Job tokens are stored only as their sha256 and survive a crash of the server."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

import lrctl
from tests.security.conftest import ADMIN, SGD_JOB, start_server


def _data_dir_bytes(directory) -> bytes:
    """Every file under the data directory: the database, its WAL and the snapshots."""
    return b"".join(path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file())


def test_tokens_are_stored_hashed_and_survive_sigkill(tmp_path):
    server = start_server(tmp_path)
    try:
        with lrctl.Client(server.address, token=ADMIN) as admin:
            control = admin.create_job("control", {"lr": 0.1})
            data = admin.create_job("data", SGD_JOB["policy"], optimizer=SGD_JOB["optimizer"])
        with lrctl.Client(server.address, token=data.token) as client:
            client.job("data").init_params({"w": np.ones(3, np.float32)})
            client.job("data").step(0, {"w": np.ones(3, np.float32)})
        stored = _data_dir_bytes(server.data_dir)
        for token in (control.token, data.token):
            assert token.encode() not in stored
            assert hashlib.sha256(token.encode()).hexdigest().encode() in stored
        server.kill()
        server = start_server(tmp_path)
        with lrctl.Client(server.address, token=control.token) as client:
            assert client.job("control").lr(0) == 0.1
        with lrctl.Client(server.address, token="lrj_" + control.token[4:][::-1]) as forged:
            with pytest.raises(lrctl.Unauthenticated):
                forged.job("control").lr(0)
        with lrctl.Client(server.address, token=data.token) as client:
            client.job("data").pull()
            with pytest.raises(lrctl.PermissionDenied):
                client.job("control").lr(0)
    finally:
        server.kill()
