"""A real Prometheus scrapes a real `lrctl serve` (DESIGN §8, §11).

Jobs driven through the SDK show up in Prometheus with the values they caused; the shipped
alert rules load into that Prometheus and evaluate healthy, and LrctlDown goes pending for a
target that does not answer; the Grafana dashboard's queries and variables run against the
scraped series; `promtool check metrics` accepts a real scrape. The Prometheus server is the
`prometheus` binary `.ci/install-tools` extracts from Debian's package; without it these
tests skip with that reason.
"""
from __future__ import annotations

import json
import math
import pathlib
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML not installed; run `bash .ci/install-tools`")

import lrctl  # noqa: E402
from deploy_tools import DEPLOY, INSTALL_HINT, find_tool, run  # noqa: E402
from test_observability import DASHBOARD, _dashboard_exprs, _substitute  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402

ALERTS = DEPLOY / "prometheus/alerts.yaml"
WAIT_SECONDS = 30.0
SCRAPE_JOB = "lrctl"
# A PodMonitor-style scrape job (`<namespace>/<name>`) whose target refuses connections.
DEAD_JOB = "staging/lrctl"
CONTROLLER = "lrctl.v1.Controller"
PLATEAU_JOB, PINNED_JOB = "scraped-plateau", "scraped-pinned"
PINNED_LR = 0.003
# Dashboard panels that must show data once the jobs above have run (the optimizer and
# snapshot panels stay empty: this server runs no data plane).
PANELS_WITH_DATA = {"Jobs", "Servers up", "RPC/s", "Jobs by state", "RPC rate by method",
                    "RPC errors by method and code", "RPC latency by method (p50, p99)",
                    "Stream messages", "Tensor bytes", "Learning rate", "Step"}

T = TypeVar("T")


class PrometheusProcess:
    """`prometheus` on a free 127.0.0.1 port, storage under `directory`; `api()` calls its HTTP API."""

    def __init__(self, binary: str, directory: pathlib.Path, config: dict) -> None:
        self.binary = binary
        self.directory = directory
        self.config_file = directory / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config))
        self.log_file = directory / "prometheus.log"
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "PrometheusProcess":
        for _ in range(3):  # the free port may be taken between picking and binding it
            port = _free_port()
            with open(self.log_file, "w") as log:
                self.process = subprocess.Popen(
                    [self.binary, f"--config.file={self.config_file}",
                     f"--storage.tsdb.path={self.directory / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{port}", "--log.level=info"],
                    stdout=log, stderr=subprocess.STDOUT)
            self.url = f"http://127.0.0.1:{port}"
            try:
                _wait_for("Prometheus to be ready", self._ready)
                return self
            except pytest.fail.Exception:
                self.stop()
                if "address already in use" not in self.log():
                    raise
        raise RuntimeError(f"prometheus could not bind a port:\n{self.log()}")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
        try:
            return urllib.request.urlopen(f"{self.url}/-/ready", timeout=2).status == 200
        except OSError:
            return False

    def api(self, path: str, **params: str | list[str]) -> Any:
        """The `data` of GET /api/v1/<path>; fails the test on an API error."""
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as reply:
                body = json.load(reply)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            pytest.fail(f"/api/v1/{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """An instant vector query's samples."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", f"{expr}: {data['resultType']}"
        return data["result"]

    def values(self, expr: str, *labels: str) -> dict[tuple[str, ...], float]:
        """{(values of `labels`): sample value} for an instant vector query."""
        return {tuple(s["metric"].get(label, "") for label in labels): float(s["value"][1])
                for s in self.query(expr)}

    def value(self, expr: str) -> float:
        [(_, value)] = self.values(expr).items()
        return value

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(what: str, probe: Callable[[], T], done: Callable[[T], bool] = bool,
              timeout: float = WAIT_SECONDS) -> T:
    """`probe()`'s first result that is `done`, polled until `timeout`; fails the test after that."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s (last: {result!r})")
        time.sleep(0.25)


@dataclass(frozen=True)
class Driven:
    """What the SDK saw while driving the jobs: the expectations for Prometheus."""
    last_lr: dict[str, float]
    last_step: dict[str, int]
    get_learning_rate_rpcs: int
    reports: int


@pytest.fixture(scope="module")
def driven(client: lrctl.Client) -> Driven:
    """Two jobs: one reduced twice on plateau and early-stopped, one pinned by an override;
    a lookup of a job that does not exist ends the run (NOT_FOUND)."""
    plateau = client.create_job(PLATEAU_JOB, {
        "lr": 0.1, "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 0},
        "early_stopping": {"metric": "val_loss", "patience": 1}}, horizon=1)
    for step in range(3):
        plateau.lr(step)
    decisions = [plateau.report(step, val_loss=loss) for step, loss in ((1, 1.0), (2, 2.0), (3, 3.0))]
    assert decisions[-1].should_stop, "the early-stopping precondition of this test"
    plateau_lr = plateau.lr(4)
    assert plateau_lr == decisions[-1].lr

    pinned = client.create_job(PINNED_JOB, {"lr": 0.01, "schedule": {"cosine": {"t_max": 100}}}, horizon=1)
    for step in range(5):
        pinned.lr(step)
    pinned.override(lr=PINNED_LR, reason="prometheus scrape test")
    pinned_lr = pinned.lr(10)
    assert pinned_lr == PINNED_LR

    with pytest.raises(lrctl.NotFound):
        client.get_job("no-such-job")
    return Driven(last_lr={PLATEAU_JOB: plateau_lr, PINNED_JOB: pinned_lr},
                  last_step={PLATEAU_JOB: 4, PINNED_JOB: 10},
                  get_learning_rate_rpcs=plateau.rpc_count + pinned.rpc_count, reports=len(decisions))


@pytest.fixture(scope="module")
def dead_target() -> Iterator[str]:
    """host:port of a socket bound but not listening: connections are refused, and the port
    stays ours for the module."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield "127.0.0.1:%d" % sock.getsockname()[1]


@pytest.fixture(scope="module")
def prometheus(server: ServerProcess, dead_target: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusProcess]:
    binary = find_tool("prometheus")
    if binary is None:
        pytest.skip(f"prometheus (the server binary) not found; {INSTALL_HINT}")
    metrics = urllib.parse.urlsplit(server.metrics_url)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": SCRAPE_JOB, "metrics_path": metrics.path,
             "static_configs": [{"targets": [metrics.netloc]}]},
            {"job_name": DEAD_JOB, "static_configs": [{"targets": [dead_target]}]},
        ],
    }
    process = PrometheusProcess(binary, tmp_path_factory.mktemp("prometheus"), config)
    print(run([binary, "--version"]).stdout.splitlines()[0])
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def scraped(prometheus: PrometheusProcess, driven: Driven) -> PrometheusProcess:
    """Prometheus once it holds a scrape taken after the last call of `driven` (the NOT_FOUND):
    one scrape is one consistent snapshot, so every earlier effect is in it too."""
    last_call = (f'grpc_server_handled_total{{job="{SCRAPE_JOB}", grpc_service="{CONTROLLER}", '
                 f'grpc_method="GetJob", grpc_code="NotFound"}}')
    began = time.monotonic()
    _wait_for("the scrape after the last call", lambda: prometheus.values(last_call))
    print(f"series arrived {time.monotonic() - began:.1f} s after the calls")
    return prometheus


def test_job_series_have_the_values_the_jobs_caused(scraped: PrometheusProcess, driven: Driven) -> None:
    def per_job(name: str) -> dict[str, float]:
        return {job_id: v for (job_id,), v in scraped.values(f'{name}{{job="{SCRAPE_JOB}"}}', "job_id").items()}

    assert scraped.value(f'up{{job="{SCRAPE_JOB}"}}') == 1
    assert per_job("lrctl_plateau_reductions_total") == {PLATEAU_JOB: 2}
    assert per_job("lrctl_early_stops_total") == {PLATEAU_JOB: 1}
    assert per_job("lrctl_overrides_total") == {PINNED_JOB: 1}
    assert per_job("lrctl_learning_rate") == pytest.approx(driven.last_lr, rel=1e-12)
    assert per_job("lrctl_job_step") == driven.last_step
    assert scraped.value(f'lrctl_job_labels{{job="{SCRAPE_JOB}"}}') == 2
    states = scraped.values(f'lrctl_jobs{{job="{SCRAPE_JOB}"}} > 0', "state")
    assert states == {("active",): 1, ("stopped",): 1}


def test_grpc_series_count_every_call_by_method_and_code(scraped: PrometheusProcess, driven: Driven) -> None:
    selector = f'job="{SCRAPE_JOB}", grpc_service="{CONTROLLER}"'
    handled = scraped.values(f"sum by (grpc_method, grpc_code) (grpc_server_handled_total{{{selector}}}) > 0",
                             "grpc_method", "grpc_code")
    assert handled == {("CreateJob", "OK"): 2, ("GetLearningRate", "OK"): driven.get_learning_rate_rpcs,
                       ("ReportMetrics", "OK"): driven.reports, ("SetOverride", "OK"): 1,
                       ("GetJob", "NotFound"): 1}
    started = scraped.values(f"sum by (grpc_method) (grpc_server_started_total{{{selector}}}) > 0",
                             "grpc_method")
    assert started == {("CreateJob",): 2, ("GetLearningRate",): driven.get_learning_rate_rpcs,
                       ("ReportMetrics",): driven.reports, ("SetOverride",): 1, ("GetJob",): 1}
    # Series exist from start-up, at zero, for methods never called: rates work from the start.
    assert scraped.values(f'grpc_server_handled_total{{{selector}, grpc_method="PreviewSchedule", grpc_code="OK"}}',
                          "grpc_type") == {("unary",): 0}
    assert scraped.values(f'grpc_server_handled_total{{{selector}, grpc_method="WatchJob", grpc_code="OK"}}',
                          "grpc_type") == {("server_stream",): 0}
    count = scraped.value(f'grpc_server_handling_seconds_count{{{selector}, grpc_method="ReportMetrics"}}')
    assert count == driven.reports
    p99 = scraped.value(f'histogram_quantile(0.99, sum by (le) '
                        f'(grpc_server_handling_seconds_bucket{{{selector}, grpc_method="ReportMetrics"}}))')
    assert 0 < p99 <= 30 and math.isfinite(p99)


def _alert_names() -> set[str]:
    return {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}


def test_alert_rules_load_and_evaluate_healthy(prometheus: PrometheusProcess) -> None:
    def evaluated_rules() -> list[dict]:
        groups = prometheus.api("rules", type="alert")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = all(rule["health"] != "unknown" for rule in rules)
        return rules if rules and evaluated else []

    rules = _wait_for("every alert rule evaluated", evaluated_rules)
    assert {rule["name"] for rule in rules} == _alert_names()
    unhealthy = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not unhealthy, f"rules failing to evaluate: {unhealthy}"
    [group] = prometheus.api("rules")["groups"]
    assert pathlib.Path(group["file"]) == ALERTS


def test_lrctl_down_goes_pending_for_the_dead_target_only(prometheus: PrometheusProcess, dead_target: str) -> None:
    # LrctlDown's own selector sees both scrape jobs: the plain name and the PodMonitor form.
    _wait_for("both targets scraped", lambda: prometheus.values('up{job=~"(.*/)?lrctl"}', "job"),
              done=lambda up: up == {(SCRAPE_JOB,): 1, (DEAD_JOB,): 0})

    def active_alerts() -> set[tuple[str, str, str, str]]:
        return {(a["labels"]["alertname"], a["labels"].get("job", ""), a["labels"].get("instance", ""), a["state"])
                for a in prometheus.api("alerts")["alerts"]}

    alerts = _wait_for("LrctlDown for the dead target", active_alerts)
    # `for: 2m` keeps it pending (not firing) for the length of this test.
    assert alerts == {("LrctlDown", DEAD_JOB, dead_target, "pending")}


def test_dashboard_queries_and_variables_run_on_the_scraped_series(scraped: PrometheusProcess) -> None:
    exprs = {where: _substitute(expr) for where, expr in _dashboard_exprs().items()
             if not where.startswith("variable")}
    panel_of = {where: re.match(r"panel '(.*)' \w+$", where) for where in exprs}
    needed = {where for where, match in panel_of.items() if match and match.group(1) in PANELS_WITH_DATA}
    assert {panel_of[w].group(1) for w in needed} == PANELS_WITH_DATA, "a panel was renamed or removed"

    def empty_panels() -> list[str]:
        # Every query must evaluate (a PromQL error fails at once); rates need two scrapes.
        results = {where: scraped.query(expr) for where, expr in exprs.items()}
        return sorted(where for where in needed if not results[where])

    _wait_for("data in every control-plane panel", empty_panels, done=lambda empty: not empty)

    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["query"]["query"]).groups()
                 for v in dashboard["templating"]["list"] if v["type"] == "query"}
    listed = {name: set(scraped.api(f"label/{label}/values", **{"match[]": _substitute(selector)}))
              for name, (selector, label) in variables.items()}
    assert SCRAPE_JOB in listed["scrape_job"]
    assert {PLATEAU_JOB, PINNED_JOB} <= listed["job"]


def test_promtool_accepts_a_real_scrape(promtool: str, server: ServerProcess, driven: Driven) -> None:
    text = urllib.request.urlopen(server.metrics_url, timeout=5).read()
    assert b'job_id="scraped-plateau"' in text and b'grpc_code="NotFound"' in text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert not (result.stdout + result.stderr).strip(), (result.stdout + result.stderr).decode()
