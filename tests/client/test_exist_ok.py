"""`create_job(..., exist_ok=True)`: the restart pattern, against a real server."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lrctl
from lrctl.policy import to_policy
from lrctl.spec_diff import spec_differences
from lrctl.v1 import controller_pb2

POLICY = {"lr": 0.1, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 0}}
_ids = itertools.count()


def test_same_spec_returns_the_job_at_its_state(client: lrctl.Client) -> None:
    first = client.create_job("restart-same", POLICY, labels={"team": "a"}, exist_ok=True)
    assert first.created and first.token
    first.report(10, val_loss=1.0)
    reduced = first.report(20, val_loss=2.0)
    assert reduced.lr == pytest.approx(0.05)
    before = first.info()

    again = client.create_job("restart-same", POLICY, labels={"team": "a"}, exist_ok=True)
    assert not again.created and again.token is None
    assert again.lr(25) == pytest.approx(0.05), "the plateau reduction survives the restart"
    assert again.info() == before, "nothing changed on the server"
    assert again.report(20, val_loss=2.0).lr == reduced.lr, "a replayed report gets its first decision"
    assert again.report(30, val_loss=3.0).lr == pytest.approx(0.025), "and the job goes on from its state"


def test_another_spec_is_refused_with_the_differences(client: lrctl.Client) -> None:
    client.create_job("restart-other", POLICY, labels={"team": "a"})
    before = client.job("restart-other").info()
    changed = {"lr": 0.2, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 3}}
    with pytest.raises(lrctl.SpecMismatch) as refused:
        client.create_job("restart-other", changed, labels={"team": "b"}, optimizer={"sgd": {}}, exist_ok=True)
    assert refused.value.differences == [
        "labels.team: \"b\" here, \"a\" on the server",
        "optimizer: {\"sgd\": {}} here, absent on the server",
        "policy.lr: 0.2 here, 0.1 on the server",
        "policy.plateau.patience: 3 here, 0 on the server",
    ]
    assert isinstance(refused.value, lrctl.AlreadyExists)
    assert "job 'restart-other' exists with another spec: labels.team" in str(refused.value)
    assert client.job("restart-other").info() == before


def test_without_exist_ok_a_taken_id_is_already_exists(client: lrctl.Client) -> None:
    client.create_job("restart-strict", POLICY)
    with pytest.raises(lrctl.AlreadyExists) as refused:
        client.create_job("restart-strict", POLICY)
    assert not isinstance(refused.value, lrctl.SpecMismatch)


policies = st.fixed_dictionaries({"lr": st.sampled_from([0.1, 0.2])},
                                 optional={"plateau": st.fixed_dictionaries({
                                     "metric": st.sampled_from(["val_loss", "acc"]),
                                     "patience": st.integers(0, 3)})})
labels = st.dictionaries(st.sampled_from(["team", "run"]), st.sampled_from(["a", "b"]), max_size=2)


@settings(max_examples=25, deadline=None)
@given(policies, labels, policies, labels)
def test_exist_ok_accepts_exactly_an_equal_spec(client: lrctl.Client, policy: dict, label: dict,
                                                 other_policy: dict, other_label: dict) -> None:
    """The server's own notion of "the same spec" (its idempotent CreateJob) is the SDK's."""
    job_id = f"restart-prop-{next(_ids)}"
    client.create_job(job_id, policy, labels=label)
    same = controller_pb2.JobSpec(policy=to_policy(policy), labels=label) == \
        controller_pb2.JobSpec(policy=to_policy(other_policy), labels=other_label)
    if same:
        assert not client.create_job(job_id, other_policy, labels=other_label, exist_ok=True).created
    else:
        with pytest.raises(lrctl.SpecMismatch) as refused:
            client.create_job(job_id, other_policy, labels=other_label, exist_ok=True)
        assert refused.value.differences
    client.delete_job(job_id)


def test_spec_differences_of_equal_specs_is_empty() -> None:
    spec = controller_pb2.JobSpec(policy=to_policy(POLICY), labels={"a": "b"})
    assert spec_differences(spec, controller_pb2.JobSpec.FromString(spec.SerializeToString())) == []
