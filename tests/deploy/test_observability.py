"""The alert rules and the Grafana dashboard query only series lrctl declares, with labels those
series have, and are valid PromQL (checked by promtool, which also runs the alerts' unit tests).
"""
from __future__ import annotations

import json
import re

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML not installed; run `bash .ci/install-tools`")

from deploy_tools import DEPLOY, TARGET_LABELS, run

ALERTS = DEPLOY / "prometheus/alerts.yaml"
ALERTS_TEST = DEPLOY / "prometheus/alerts_test.yaml"
DASHBOARD = DEPLOY / "grafana/lrctl-dashboard.json"

# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$scrape_job": ".*",
                     "$job": ".*"}
_SERIES = re.compile(r"\b((?:lrctl|grpc_server)_[A-Za-z0-9_:]*|up)\b\s*(\{[^}]*\})?")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"')


def _series_used(expr: str) -> list[tuple[str, set[str]]]:
    """(series name, label names it is filtered on) for every lrctl/gRPC/up selector in `expr`."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    found = []
    for match in _SERIES.finditer(without_strings):
        found.append((match.group(1), set(_MATCHER.findall(match.group(2) or ""))))
    return found


def _check_exprs(exprs: dict[str, str], declared: dict[str, frozenset[str]]) -> None:
    problems = []
    for where, expr in exprs.items():
        used = _series_used(expr)
        if not used:
            problems.append(f"{where}: queries no lrctl series: {expr}")
        for name, labels in used:
            if name not in declared:
                problems.append(f"{where}: {name} is not declared in server/metrics.py")
            elif unknown := labels - declared[name] - TARGET_LABELS:
                problems.append(f"{where}: {name} has no label {sorted(unknown)}")
    assert not problems, "\n".join(problems)


def _dashboard_exprs() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            exprs[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            exprs[f"annotation {annotation['name']!r}"] = annotation["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"]["query"])
            assert query, f"variable {variable['name']}: expected label_values(selector, label)"
            selector, label = query.groups()
            exprs[f"variable {variable['name']!r}"] = selector
            # The label it lists must exist too: check it as a matcher on the same series.
            exprs[f"variable {variable['name']!r} label"] = f'{selector.split("{")[0]}{{{label}=""}}'
    return exprs


def _substitute(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unsubstituted Grafana variable in {expr}"
    return expr


def _alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def test_alerts_use_declared_series(declared_series):
    rules = _alert_rules()
    assert {r["alert"] for r in rules} >= {
        "LrctlDown", "LrctlGrpcErrorRatioHigh", "LrctlOptimizerStepSlow",
        "LrctlNonFiniteGradients", "LrctlSnapshotFailing"}
    _check_exprs({r["alert"]: r["expr"] for r in rules}, declared_series)


def test_promtool_checks_and_unit_tests_the_alerts(promtool):
    print(run([promtool, "--version"]).stdout.splitlines()[0])
    for cmd in (["check", "rules", str(ALERTS)], ["test", "rules", str(ALERTS_TEST)]):
        result = run([promtool, *cmd])
        assert result.returncode == 0, f"promtool {' '.join(cmd)}:\n{result.stdout}{result.stderr}"


def test_dashboard_uses_declared_series(declared_series):
    dashboard = json.loads(DASHBOARD.read_text())
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource", "job"}
    exprs = _dashboard_exprs()
    _check_exprs(exprs, declared_series)
    everything = " ".join(exprs.values())
    for name in ("lrctl_jobs", "lrctl_learning_rate", "grpc_server_handled_total",
                 "grpc_server_handling_seconds_bucket", "lrctl_plateau_reductions_total",
                 "lrctl_schedule_restarts_total", "lrctl_overrides_total",
                 "lrctl_optimizer_steps_total", "lrctl_nonfinite_gradients_skipped_total"):
        assert name in everything, f"the dashboard does not show {name}"


def test_dashboard_queries_are_valid_promql(promtool, tmp_path):
    """promtool parses each query as a recording rule, Grafana's variables substituted."""
    rules = [{"record": f"lrctl:dashboard_query_{i}", "expr": _substitute(expr)}
             for i, expr in enumerate(_dashboard_exprs().values())]
    path = tmp_path / "dashboard_rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("expr, expected", [
    ('sum(rate(lrctl_overrides_total{job_id=~"a"}[5m]))', [("lrctl_overrides_total", {"job_id"})]),
    ('up{job="x"} == 0 and lrctl_jobs', [("up", {"job"}), ("lrctl_jobs", set())]),
    ('x{grpc_service=~"lrctl_fake"}', []),
])
def test_series_extraction(expr, expected):
    assert _series_used(expr) == expected
