"""Proto / JSON policies -> domain Policy, with field paths relative to the Policy message."""
from __future__ import annotations

import pytest
from google.protobuf import json_format

from lrctl.server.errors import InvalidArgument
from lrctl.server.policies import (
    Constant, CosineRestarts, EarlyStopping, OneCycle, Plateau, Policy, Warmup,
)
from lrctl.server.service.policy_codec import policy_from_json, policy_from_proto
from lrctl.v1 import policy_pb2

EXAMPLE = """{"lr": 0.1, "warmup": {"steps": 500, "start_factor": 0.01}, "schedule": {"cosine_restarts": {"t_0": 1000, "t_mult": 2, "eta_min": 1e-5, "peak_decay": 1.0}}, "plateau": {"metric": "val_loss", "mode": "min", "factor": 0.5, "patience": 2, "threshold": 1e-4, "threshold_mode": "rel", "cooldown": 0, "min_lr": 0, "eps": 1e-8}, "early_stopping": {"metric": "val_loss", "patience": 10, "min_delta": 0}}"""  # noqa: E501


def _paths(source) -> list[str]:
    with pytest.raises(InvalidArgument) as info:
        policy_from_json(source)
    return [v.field for v in info.value.violations]


def test_documented_example_is_accepted_as_is() -> None:
    msg, policy = policy_from_json(EXAMPLE)
    assert policy == Policy(
        lr=0.1,
        warmup=Warmup(steps=500, start_factor=0.01),
        schedule=CosineRestarts(t_0=1000, t_mult=2.0, eta_min=1e-5, peak_decay=1.0),
        plateau=Plateau("val_loss", mode="min", factor=0.5, patience=2, threshold=1e-4, threshold_mode="rel",
                        cooldown=0, min_lr=0.0, eps=1e-8),
        early_stopping=EarlyStopping("val_loss", patience=10, min_delta=0.0),
    )
    assert policy_from_proto(msg) == policy


def test_absent_fields_take_torch_defaults() -> None:
    policy = policy_from_proto(policy_pb2.Policy(lr=0.1, plateau=policy_pb2.Plateau(metric="loss"),
                                                 schedule=policy_pb2.Schedule(one_cycle=policy_pb2.OneCycle(
                                                     total_steps=100))))
    assert policy.plateau == Plateau("loss")
    assert policy.schedule == OneCycle(total_steps=100)
    assert policy.warmup is None and policy.min_lr is None and policy.on_nonfinite_metric == "reject"
    assert policy_from_proto(policy_pb2.Policy(lr=0.1)).schedule == Constant()


def test_camel_case_json_names_work() -> None:
    _, policy = policy_from_json({"lr": 0.1, "earlyStopping": {"metric": "acc", "mode": "max"}, "minLr": 0.001})
    assert policy.early_stopping == EarlyStopping("acc", mode="max") and policy.min_lr == 0.001


@pytest.mark.parametrize(("source", "paths"), [
    ('{"lr": 0.1, "plateau": {"metric": "loss", "patience": -1}}', ["plateau.patience"]),
    ('{"lr": 0.1, "plateau": {"metric": "loss", "factor": 1.0}}', ["plateau.factor"]),
    ('{"lr": 0.1, "plateau": {"metric": "loss", "mode": "lowest"}}', ["plateau.mode"]),
    ('{"lr": 0.1, "schedule": {"cosine_restarts": {"t_0": 10, "t_mult": 0.5}}}', ["schedule.cosine_restarts.t_mult"]),
    ('{"lr": 0.1, "schedule": {"cosine_restarts": {"t_0": "ten"}}}', ["schedule.cosine_restarts.t_0"]),
    ('{"lr": 0.1, "warmup": {"steps": 10, "startFactor": 0}}', ["warmup.start_factor"]),
    ('{"lr": 0.1, "plateau": {"metric": "loss", "bogus": 1}, "extra": true}', ["plateau.bogus", "extra"]),
    ('{"lr": 0.1, "schedule": {"step": {"step_size": 5}, "cosine": {"t_max": 5}}}', ["schedule"]),
    ('{"lr": 0.1, "on_nonfinite_metric": "drop"}', ["on_nonfinite_metric"]),
    ('{"lr": -1, "warmup": {"steps": 0}, "schedule": {"step": {}}, "plateau": {"factor": 2},'
     ' "early_stopping": {"metric": "x", "mode": "up"}}',
     ["warmup.steps", "plateau.metric", "plateau.factor", "early_stopping.mode", "schedule.step.step_size", "lr"]),
    ("{}", ["lr"]),
    ("[1, 2]", [""]),
    ('{"lr": 0.1', [""]),
])
def test_bad_policies_name_the_field(source: str, paths: list[str]) -> None:
    assert _paths(source) == paths


def test_proto_round_trips_through_json_format() -> None:
    msg, _ = policy_from_json(EXAMPLE)
    again, policy = policy_from_json(json_format.MessageToJson(msg))
    assert again == msg and policy == policy_from_proto(msg)
