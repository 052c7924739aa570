"""/metrics of a real server reflects what the jobs did (DESIGN §8)."""
from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import lrctl
from tests.support.server_process import ServerProcess


def scrape(server: ServerProcess) -> dict[tuple[str, frozenset], float]:
    text = urllib.request.urlopen(server.metrics_url, timeout=5).read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_follow_jobs_and_rpcs(client: lrctl.Client, server: ServerProcess) -> None:
    job = client.create_job("metered", {"lr": 0.1, "plateau": {"metric": "val_loss", "patience": 0},
                                        "early_stopping": {"metric": "val_loss", "patience": 1}})
    job.lr(0)
    job.report(1, val_loss=1.0)
    job.report(2, val_loss=2.0)
    job.report(3, val_loss=3.0)
    job.override(scale=0.5, reason="metered")
    with pytest.raises(lrctl.NotFound):
        client.get_job("missing")
    samples = scrape(server)
    by_job = frozenset({("job_id", "metered")})
    assert samples[("lrctl_learning_rate", by_job)] == pytest.approx(0.1)
    assert samples[("lrctl_plateau_reductions_total", by_job)] == 2
    assert samples[("lrctl_early_stops_total", by_job)] == 1
    assert samples[("lrctl_overrides_total", by_job)] == 1
    assert samples[("lrctl_jobs", frozenset({("state", "stopped")}))] >= 1
    unary = {("grpc_type", "unary"), ("grpc_service", "lrctl.v1.Controller")}
    assert samples[("grpc_server_handled_total", frozenset(unary | {("grpc_method", "ReportMetrics"),
                                                                    ("grpc_code", "OK")}))] == 3
    # An aborted call's status reaches the client while the handler is still unwinding, so its
    # count may land just after the client saw the error: wait for it (bounded), do not assume it.
    not_found = ("grpc_server_handled_total", frozenset(unary | {("grpc_method", "GetJob"), ("grpc_code", "NotFound")}))
    deadline = time.monotonic() + 5
    while samples.get(not_found, 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        samples = scrape(server)
    assert samples.get(not_found, 0) >= 1
    client.delete_job("metered")
    assert ("lrctl_learning_rate", by_job) not in scrape(server)
