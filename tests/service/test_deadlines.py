"""Work done for a call stops at the call's deadline (lrctl.server.deadlines): it does not
start once the deadline has passed in the pool's queue, a preview stops between reports, and
a change that was computed past the deadline is not written."""
from __future__ import annotations

import asyncio
import time

import pytest

from lrctl.policy import to_policy
from lrctl.server import deadlines, policies
from lrctl.server.errors import DeadlineExceeded
from lrctl.server.offload import Offload
from lrctl.server.service.policy_codec import policy_from_proto
from tests.jobs.test_races import registry, spec

PLATEAU = {"lr": 0.1, "plateau": {"metric": "loss", "patience": 0, "factor": 0.5}}


def test_work_queued_past_its_deadline_never_starts() -> None:
    offload, ran = Offload(1, 1), []

    async def call() -> None:
        with deadlines.serving(0.0):
            await offload.control(ran.append, "ran")

    try:
        with pytest.raises(DeadlineExceeded):
            asyncio.run(call())
        assert ran == []
        asyncio.run(offload.control(ran.append, "no deadline"))  # outside a call: no deadline
        assert ran == ["no deadline"]
    finally:
        offload.shutdown()


def test_a_preview_stops_between_reports_once_the_deadline_passed() -> None:
    policy = policy_from_proto(to_policy(PLATEAU))
    metrics = {step: {"loss": 1.0} for step in range(0, 1000, 10)}
    with deadlines.serving(0.0), pytest.raises(DeadlineExceeded):
        policies.preview(policy, 1000, metrics)
    with deadlines.serving(60.0):
        assert len(policies.preview(policy, 1000, metrics).events) > 0


def test_a_change_computed_past_its_deadline_writes_nothing(tmp_path) -> None:
    window = 0.2

    def outlive_the_deadline(point: str) -> None:
        if point == "mutate.locked":
            time.sleep(window * 1.5)  # the report has computed its change; its caller is gone

    jobs = registry(tmp_path, pause=outlive_the_deadline)
    try:
        jobs.create("job", spec(PLATEAU))
        before = jobs.get("job")
        with deadlines.serving(window), pytest.raises(DeadlineExceeded):
            jobs.report("job", 1, {"loss": 1.0})
        assert jobs.get("job") == before
        assert [e.kind for e in jobs.events("job", 0, 100)] == ["created"]
    finally:
        jobs.close()
    reopened = registry(tmp_path)
    try:
        assert reopened.get("job").version == before.version
    finally:
        reopened.close()
