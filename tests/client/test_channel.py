"""The SDK's retry policy names real, idempotent Controller methods."""
from __future__ import annotations

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
