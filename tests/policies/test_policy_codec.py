"""Proto / JSON policies -> domain Policy, with field paths relative to the Policy message."""
from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import json_format

from lrctl.server.errors import InvalidArgument
from lrctl.server.policies import (
    Chained, Constant, Cosine, CosineRestarts, Cyclic, EarlyStopping, InverseSqrt, OneCycle, Plateau, Policy,
    Sequential, StepDecay, Warmup, Wsd,
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
    ('{"lr": 0.1, "schedule": {"sequential": {"schedules": [{"step": {"step_size": 3}}, {"cosine": {"t_max": 0}}],'
     ' "milestones": [5]}}}', ["schedule.sequential.schedules[1].cosine.t_max"]),
    ('{"lr": 0.1, "schedule": {"sequential": {"schedules": [{}, {"cosine": {"t_max": 5, "bogus": 1}}],'
     ' "milestones": [5]}}}', ["schedule.sequential.schedules[1].cosine.bogus"]),
    ('{"lr": 0.1, "schedule": {"chained": {"schedules": [{"sequential": {"schedules": [{}, {"cosine": {"t_max": -1}}],'
     ' "milestones": [5]}}]}}}', ["schedule.chained.schedules[0].sequential.schedules[1].cosine.t_max"]),
    ('{"lr": 0.1, "schedule": {"chained": {"schedules": [{}, 7]}}}', ["schedule.chained.schedules[1]"]),
    ('{"lr": 0.1, "schedule": {"sequential": {"schedules": [{}, {}], "milestones": []}}}',
     ["schedule.sequential.milestones"]),
    ('{"lr": 0.1, "schedule": {"sequential": {"schedules": [{}, {}, {}], "milestones": [9, 9]}}}',
     ["schedule.sequential.milestones"]),
    ('{"lr": 0.1, "schedule": {"sequential": {"schedules": [{}, {}], "milestones": [0]}}}',
     ["schedule.sequential.milestones"]),
    ('{"lr": 0.1, "schedule": {"chained": {}}}', ["schedule.chained.schedules"]),
    ('{"lr": 0.1, "schedule": {"chained": {"schedules": [' + ", ".join(["{}"] * 64) + ']}}}',
     ["schedule.chained.schedules"]),
    ('{"lr": 0.1, "schedule": ' + '{"chained": {"schedules": [' * 5 + "{}" + "]}}" * 5 + "}",
     ["schedule" + ".chained.schedules[0]" * 4 + ".chained"]),
    ('{"lr": 0.1, "schedule": {"cyclic": {"step_size_up": 10, "mode": "saw"}}}',
     ["schedule.cyclic.max_lr", "schedule.cyclic.mode"]),
    ('{"lr": 0.1, "schedule": {"wsd": {"stable_steps": 10, "decay_type": "cos"}}}',
     ["schedule.wsd.decay_steps", "schedule.wsd.decay_type"]),
    ('{"lr": 0.1, "schedule": {"constant": {"factor": 1.5}}}', ["schedule.constant.factor"]),
    ("[1, 2]", [""]),
    ('{"lr": 0.1', [""]),
])
def test_bad_policies_name_the_field(source: str, paths: list[str]) -> None:
    assert _paths(source) == paths


def test_proto_round_trips_through_json_format() -> None:
    msg, _ = policy_from_json(EXAMPLE)
    again, policy = policy_from_json(json_format.MessageToJson(msg))
    assert again == msg and policy == policy_from_proto(msg)


NESTED = {"lr": 0.1, "warmup": {"steps": 40},
          "schedule": {"sequential": {"milestones": [100, 300], "schedules": [
              {"wsd": {"stable_steps": 50, "decay_steps": 50, "decay_type": "1-sqrt", "min_lr_ratio": 0.1}},
              {"chained": {"schedules": [{"step": {"step_size": 10, "gamma": 0.5}},
                                         {"cyclic": {"max_lr": 0.3, "step_size_up": 20}}]}},
              {"sequential": {"schedules": [{}, {"inverse_sqrt": {}}], "milestones": [7]}}]}}}


def test_nested_schedules_are_built_child_by_child_and_round_trip_through_json() -> None:
    msg, policy = policy_from_json(NESTED)
    assert policy.schedule == Sequential(schedules=(
        Wsd(stable_steps=50, decay_steps=50, decay_type="1-sqrt", min_lr_ratio=0.1),
        Chained(schedules=(StepDecay(step_size=10, gamma=0.5), Cyclic(max_lr=0.3, step_size_up=20))),
        Sequential(schedules=(Constant(), InverseSqrt(timescale=40)), milestones=(7,))), milestones=(100, 300))
    again, same = policy_from_json(json_format.MessageToJson(msg))
    assert again == msg and same == policy


def test_inverse_sqrt_timescale_defaults_to_the_warmup_steps_else_10000() -> None:
    _, warm = policy_from_json({"lr": 0.1, "warmup": {"steps": 250}, "schedule": {"inverse_sqrt": {}}})
    _, cold = policy_from_json({"lr": 0.1, "schedule": {"inverse_sqrt": {}}})
    _, given = policy_from_json({"lr": 0.1, "warmup": {"steps": 250}, "schedule": {"inverse_sqrt": {"timescale": 9}}})
    assert (warm.schedule, cold.schedule, given.schedule) == (
        InverseSqrt(timescale=250), InverseSqrt(timescale=10_000), InverseSqrt(timescale=9))


def test_new_options_take_their_references_defaults() -> None:
    _, policy = policy_from_json({"lr": 0.1, "schedule": {"chained": {"schedules": [
        {"constant": {"total_iters": 3}}, {"cosine": {"t_max": 10}}, {"cyclic": {"max_lr": 1.0}}]}}})
    assert policy.schedule == Chained(schedules=(Constant(total_iters=3), Cosine(t_max=10),
                                                 Cyclic(max_lr=1.0, step_size_up=2000, mode="triangular", gamma=1.0)))
    assert policy.schedule.schedules[0].lr(1.0, np.arange(6)).tolist() == [1 / 3] * 3 + [1.0] * 3
