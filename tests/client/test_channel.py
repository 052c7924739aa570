"""The SDK's retry policy names real, idempotent Controller methods, and its own retry of
data-plane streams follows the same policy."""
from __future__ import annotations

import pytest

import lrctl
from lrctl import channel
from lrctl.channel import RETRIED_METHODS, SERVICE_CONFIG
from lrctl.v1 import controller_pb2

CONTROLLER = controller_pb2.DESCRIPTOR.services_by_name["Controller"]
NOT_IDEMPOTENT = {"UpdatePolicy", "SetOverride", "ClearOverride", "DeleteJob"}


def test_retried_methods_exist_and_are_idempotent() -> None:
    names = [entry for config in SERVICE_CONFIG["methodConfig"] for entry in config["name"]]
    assert {entry["service"] for entry in names} == {CONTROLLER.full_name}
    assert {entry["method"] for entry in names} == set(RETRIED_METHODS)
    assert set(RETRIED_METHODS) <= set(CONTROLLER.methods_by_name)
    assert not set(RETRIED_METHODS) & NOT_IDEMPOTENT


def test_retried_runs_again_on_unavailable_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own retry of data-plane streams: UNAVAILABLE again, up to the service
    config's attempts with its backoff; any other failure at once."""
    sleeps: list[float] = []
    monkeypatch.setattr(channel.time, "sleep", sleeps.append)
    outcomes = iter([lrctl.Unavailable("down"), lrctl.Unavailable("down"), "stepped"])

    def attempt() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert channel.retried(attempt) == "stepped"
    assert sleeps == [channel.RETRY_FIRST_BACKOFF, channel.RETRY_FIRST_BACKOFF * channel.RETRY_MULTIPLIER]

    calls = []

    def always_down() -> None:
        calls.append(1)
        raise lrctl.Unavailable("down")

    with pytest.raises(lrctl.Unavailable):
        channel.retried(always_down)
    assert len(calls) == channel.RETRY_ATTEMPTS

    def refused() -> None:
        calls.append(1)
        raise lrctl.FailedPrecondition("stale step")

    calls.clear()
    with pytest.raises(lrctl.FailedPrecondition):
        channel.retried(refused)
    assert len(calls) == 1


def test_only_grpcs_own_load_balancing_policies_are_accepted() -> None:
    from lrctl.channel import LOAD_BALANCING_CONFIG, SERVICE_CONFIG, open_channel

    assert SERVICE_CONFIG["loadBalancingConfig"] == [{"round_robin": {}}]
    assert LOAD_BALANCING_CONFIG["pick_first"] == {"shuffleAddressList": True}
    with pytest.raises(ValueError, match="load_balancing must be one of round_robin, pick_first"):
        open_channel("ipv4:127.0.0.1:1,127.0.0.1:2", load_balancing="ring_hash")
