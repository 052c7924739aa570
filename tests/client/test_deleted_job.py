"""A deleted job's lease: kept until the next contact with the server, then dropped."""
from __future__ import annotations

import time

import pytest

import lrctl


def test_lease_is_dropped_at_the_next_contact(client: lrctl.Client) -> None:
    job = client.create_job("deleted-lease", {"lr": 0.1})
    assert job.lr(0) == 0.1
    client.delete_job("deleted-lease")
    assert job.lr(1) == 0.1, "served from the lease: no call, so nothing to learn the delete from"
    with pytest.raises(lrctl.NotFound):
        job.report(2, val_loss=1.0)
    with pytest.raises(lrctl.NotFound):
        job.lr(3)


def test_follow_drops_the_lease_when_the_job_is_deleted(client: lrctl.Client) -> None:
    job = client.create_job("deleted-followed", {"lr": 0.1})
    job.lr(0)
    job.follow()
    time.sleep(0.3)  # the watch is open
    client.delete_job("deleted-followed")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            job.lr(1)
        except lrctl.NotFound:
            return
        time.sleep(0.05)
    pytest.fail("the lease outlived the deleted job's watch")
