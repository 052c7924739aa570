"""A metric no part of the policy reads is accepted but named: in ReportMetrics' and
PreviewSchedule's `unused_metrics`, and by one SDK warning per name."""
from __future__ import annotations

import warnings

import pytest

import lrctl

POLICY = {"lr": 0.1, "plateau": {"metric": "val_loss", "patience": 0},
          "early_stopping": {"metric": "val_acc", "mode": "max", "patience": 5}}


def test_a_typo_is_named_and_warned_once_per_name(client: lrctl.Client) -> None:
    job = client.create_job("unused-typo", POLICY)
    with pytest.warns(lrctl.UnusedMetricWarning) as caught:
        decision = job.report(10, val_los=1.0, val_acc=0.5, train_loss=2.0)
    assert decision.unused_metrics == ("train_loss", "val_los")
    assert sorted(str(w.message) for w in caught) == [
        f"job 'unused-typo': metric {name!r} is not read by the job's policy (no plateau or early stopping on "
        "it): it is stored but changes nothing" for name in ("train_loss", "val_los")]
    with warnings.catch_warnings():
        warnings.simplefilter("error", lrctl.UnusedMetricWarning)
        again = job.report(20, val_los=0.9, val_loss=1.0)
    assert again.unused_metrics == ("val_los",), "still answered, but warned only once per handle"
    assert job.report(30, val_loss=0.8, val_acc=0.6).unused_metrics == ()


def test_a_retried_report_names_them_too(client: lrctl.Client) -> None:
    job = client.create_job("unused-retry", POLICY)
    with pytest.warns(lrctl.UnusedMetricWarning):
        first = job.report(5, val_los=1.0)
    with pytest.warns(lrctl.UnusedMetricWarning):
        retried = client.job("unused-retry").report(5, val_los=1.0)
    assert retried.unused_metrics == first.unused_metrics == ("val_los",)


def test_a_policy_reading_no_metric_leaves_every_name_unused(client: lrctl.Client) -> None:
    job = client.create_job("unused-constant", {"lr": 0.1})
    with pytest.warns(lrctl.UnusedMetricWarning):
        assert job.report(1, val_loss=1.0).unused_metrics == ("val_loss",)


def test_preview_names_them(client: lrctl.Client) -> None:
    result = client.preview(POLICY, 40, {10: {"val_los": 1.0, "val_loss": 1.0}, 20: {"lr_seen": 0.1}})
    assert list(result.unused_metrics) == ["lr_seen", "val_los"]
    assert list(client.preview(POLICY, 40, {10: {"val_loss": 1.0}}).unused_metrics) == []
