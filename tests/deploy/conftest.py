"""Fixtures for the deploy tests: external tools (a missing one skips its tests with the
reason, never a pass) and the series lrctl declares."""
from __future__ import annotations

import pytest

from deploy_tools import INSTALL_HINT, find_tool, kustomize_commands as _kustomize_commands


@pytest.fixture(scope="session")
def kustomize_commands() -> dict[str, list[str]]:
    found = _kustomize_commands()
    if not found:
        pytest.skip(f"no kustomize or kubectl on PATH; {INSTALL_HINT}")
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    tool = find_tool("promtool")
    if tool is None:
        pytest.skip(f"promtool not found; {INSTALL_HINT}")
    return tool


@pytest.fixture(scope="session")
def declared_series() -> dict[str, frozenset[str]]:
    """Every sample name lrctl exports (`_total`, `_bucket`, ... included) -> its label names."""
    from prometheus_client.metrics import MetricWrapperBase

    from lrctl.server.metrics import ServerMetrics

    metrics = ServerMetrics()
    suffixes = {"counter": ("_total",), "gauge": ("",),
                "histogram": ("_bucket", "_count", "_sum")}
    series: dict[str, frozenset[str]] = {}
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = frozenset(metric._labelnames)  # noqa: SLF001 - no public accessor
        for suffix in suffixes[metric._type]:  # noqa: SLF001
            series[metric._name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    metrics.read_at_scrape(job_counts=lambda: {"active": 1}, device_memory=lambda: {"cpu": 1})
    for family in metrics.registry.collect():  # the gauges read at scrape time
        for sample in family.samples:
            series.setdefault(sample.name, frozenset(sample.labels))
    series["up"] = frozenset()
    return series
