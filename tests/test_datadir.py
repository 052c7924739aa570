"""The data directory: one server at a time, and the replica identity it holds."""
from __future__ import annotations

import pathlib
import uuid

import pytest

from lrctl.server.datadir import REPLICA_ID_FILE, replica_id
from lrctl.server.errors import FailedPrecondition


def test_the_replica_id_is_made_once_and_kept(tmp_path: pathlib.Path) -> None:
    made = replica_id(tmp_path)
    assert str(uuid.UUID(made)) == made and (tmp_path / REPLICA_ID_FILE).read_text() == made + "\n"
    assert replica_id(tmp_path) == made
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / "other").mkdir()
    assert replica_id(tmp_path / "other") != made


def test_a_damaged_replica_id_is_refused_naming_the_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / REPLICA_ID_FILE).write_text("not a uuid\n")
    with pytest.raises(FailedPrecondition, match=f"{tmp_path / REPLICA_ID_FILE} does not hold a replica id"):
        replica_id(tmp_path)
