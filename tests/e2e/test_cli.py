"""The `lrctl` command line against a real server."""
from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import pty
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.support.server_process import ServerProcess

POLICY = {"lr": 0.1, "warmup": {"steps": 10, "start_factor": 0.1},
          "schedule": {"cosine_restarts": {"t_0": 40, "t_mult": 2}},
          "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 0}}


def lrctl(server: ServerProcess, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lrctl.cli.main", "--server", server.address, *args],
                          capture_output=True, text=True, check=check, timeout=timeout)


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("cli") / "policy.json"
    path.write_text(json.dumps(POLICY))
    return path


def test_jobs_create_ls_show_rm(server: ServerProcess, policy_file: pathlib.Path) -> None:
    created = lrctl(server, "jobs", "create", "cli-job", "--policy", str(policy_file), "--label", "team=vision")
    assert "lr(0) = 0.01" in created.stdout
    listing = lrctl(server, "jobs", "ls").stdout
    assert "cli-job" in listing and "active" in listing
    shown = lrctl(server, "jobs", "show", "cli-job").stdout
    assert '"team": "vision"' in shown and "audit log" in shown
    assert "deleted cli-job" in lrctl(server, "jobs", "rm", "cli-job", "--yes").stdout
    missing = lrctl(server, "jobs", "show", "cli-job", check=False)
    assert missing.returncode == 1 and missing.stderr == "lrctl: job 'cli-job' not found\n"


def test_yaml_policy_file(server: ServerProcess, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("lr: 0.5\nschedule:\n  step: {step_size: 10, gamma: 0.5}\n")
    assert "lr(0) = 0.5" in lrctl(server, "jobs", "create", "yaml-job", "--policy", str(path)).stdout


def test_lr_set_and_clear_are_audited(server: ServerProcess, policy_file: pathlib.Path) -> None:
    lrctl(server, "jobs", "create", "cli-override", "--policy", str(policy_file))
    assert "lr now 0.003" in lrctl(server, "lr", "set", "cli-override", "--lr", "0.003", "--reason", "spike").stdout
    assert "lr now 0.01" in lrctl(server, "lr", "clear", "cli-override", "--reason", "recovered").stdout
    shown = lrctl(server, "jobs", "show", "cli-override").stdout
    assert "spike" in shown and "recovered" in shown
    missing_reason = lrctl(server, "lr", "set", "cli-override", "--lr", "1", check=False)
    assert missing_reason.returncode == 2


def test_invalid_policy_prints_field_violations(server: ServerProcess, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"lr": 0.1, "plateau": {"metric": "val_loss", "factor": 3}}))
    result = lrctl(server, "jobs", "create", "bad-cli", "--policy", str(path), check=False)
    assert result.returncode == 1
    assert result.stderr == "lrctl: spec.policy.plateau.factor: Invalid factor value: 3.0 (must be in [0, 1))\n"


def test_watch_prints_events(server: ServerProcess, policy_file: pathlib.Path) -> None:
    lrctl(server, "jobs", "create", "cli-watch", "--policy", str(policy_file))
    lrctl(server, "lr", "set", "cli-watch", "--scale", "0.5", "--reason", "halve")
    watcher = subprocess.Popen([sys.executable, "-m", "lrctl.cli.main", "--server", server.address,
                                "watch", "cli-watch"], stdout=subprocess.PIPE, text=True)
    assert watcher.stdout is not None
    lines = [watcher.stdout.readline(), watcher.stdout.readline()]
    lrctl(server, "jobs", "rm", "cli-watch", "--yes")  # deleting the job ends the stream
    rest, _ = watcher.communicate(timeout=15)
    assert "created" in lines[0] and "override_set" in lines[1] and "reason: halve" in lines[1]
    assert watcher.returncode == 0


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: int | None = subprocess.DEVNULL,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI as a user runs it: no LRCTL_* from the test's environment unless given."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("LRCTL_")}
    return subprocess.run([sys.executable, "-m", "lrctl.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, env={**base, **(env or {})}, stdin=stdin)


def one_line(result: subprocess.CompletedProcess) -> str:
    """The single `lrctl: ...` line a failure prints, checked to be the whole of stderr."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrctl: "), result.stderr
    return lines[0]


def test_preview_table_and_png_from_a_server(server: ServerProcess, policy_file: pathlib.Path,
                                             tmp_path: pathlib.Path) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps([{"step": 20, "val_loss": 1.0}, {"step": 30, "val_loss": 2.0}]))
    png = tmp_path / "curve.png"
    out = lrctl(server, "preview", str(policy_file), "--steps", "100", "--metrics", str(metrics),
                "--png", str(png)).stdout
    rows = {int(line.split()[0]): line.split() for line in out.splitlines()[1:] if line[:1].isdigit()}
    assert float(rows[0][1]) == pytest.approx(0.01)
    assert rows[30][2] == "reduced"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_preview_works_offline_and_agrees_with_the_server(server: ServerProcess, policy_file: pathlib.Path,
                                                          tmp_path: pathlib.Path) -> None:
    """No --server and no LRCTL_SERVER: a throwaway local server computes the same table."""
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps([{"step": 20, "val_loss": 1.0}, {"step": 30, "val_loss": 2.0}]))
    online = lrctl(server, "preview", str(policy_file), "--steps", "130", "--metrics", str(metrics))
    offline = run_cli("preview", str(policy_file), "--steps", "130", "--metrics", str(metrics))
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout == online.stdout
    assert "restart" in offline.stdout and "reduced" in offline.stdout


def test_preview_names_unused_metrics_and_joins_events_at_one_step(tmp_path: pathlib.Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"lr": 0.1, "schedule": {"cosine_restarts": {"t_0": 10}},
                                  "plateau": {"metric": "val_loss", "patience": 0, "factor": 0.5}}))
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps([{"step": 10, "val_loss": 1.0, "val_los": 3.0}, {"step": 20, "val_loss": 2.0}]))
    result = run_cli("preview", str(policy), "--steps", "30", "--metrics", str(metrics))
    assert result.returncode == 0, result.stderr
    assert "warning: metric 'val_los' is not read by this policy" in result.stdout
    assert "'val_loss'" not in result.stdout
    row = next(line.split(None, 2) for line in result.stdout.splitlines() if line.startswith("20 "))
    assert row[2] == "restart, reduced"


def test_preview_png_without_matplotlib_names_the_extra(policy_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    code = ("import sys; sys.modules['matplotlib'] = None; from lrctl.cli.main import main; "
            f"sys.exit(main(['preview', {str(policy_file)!r}, '--steps', '10', '--png', {str(tmp_path / 'x.png')!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert one_line(result) == "lrctl: --png needs matplotlib, which is not installed: pip install 'lrctl[plot]'"
    assert not (tmp_path / "x.png").exists()


def test_preview_picture_has_title_log_axis_stacked_events_and_metrics() -> None:
    """What --png draws, read back from the figure: a title, a log LR axis once the LR spans two
    orders of magnitude (or as asked), events at one step apart, the metrics on a second axis."""
    from lrctl.cli import preview_plot
    from lrctl.v1 import controller_pb2

    lrs = np.geomspace(0.1, 1e-5, 50)
    events = [controller_pb2.JobEvent(kind=controller_pb2.EVENT_KIND_RESTART, step=20, lr=float(lrs[20])),
              controller_pb2.JobEvent(kind=controller_pb2.EVENT_KIND_REDUCED, step=20, lr=float(lrs[20]))]
    result = controller_pb2.PreviewScheduleResponse(lrs=lrs.tolist(), events=events, stop_step=-1)
    metrics = {10: {"val_loss": 1.0}, 20: {"val_loss": 0.8}}
    figure = preview_plot.draw(lrs, result, metrics, title="policy.json: LR over 50 steps")
    lr_axes, metric_axes = figure.axes
    assert lr_axes.get_title() == "policy.json: LR over 50 steps"
    assert lr_axes.get_yscale() == "log"
    markers = [collection.get_offset_transform().transform(collection.get_offsets()[0])
               for collection in lr_axes.collections]
    assert len(markers) == 2 and markers[0][0] == pytest.approx(markers[1][0])
    assert markers[1][1] - markers[0][1] >= 10, "the second event at step 20 is drawn above the first"
    (line,) = metric_axes.get_lines()
    assert list(line.get_xdata()) == [10, 20] and list(line.get_ydata()) == [1.0, 0.8]
    assert preview_plot.draw(lrs, result, {}, title="t", log_y=False).axes[0].get_yscale() == "linear"
    flat = np.linspace(0.1, 0.05, 50)
    assert not preview_plot.wants_log(flat) and preview_plot.wants_log(lrs)


def test_demo_trains_against_its_own_server() -> None:
    result = run_cli("demo", "--steps", "200")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"metrics on http://127\.0\.0\.1:\d+/metrics", result.stdout)
    steps = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [int(row[0]) for row in steps] == list(range(0, 200, 25))
    assert all(0 < float(row[1]) <= 0.02 for row in steps), "lr column"
    assert "restart at step 80" in result.stdout
    assert "server stopped" in result.stdout


def test_demo_needs_no_framework_and_keeps_to_min_lr() -> None:
    """Runnable from the `server` extra alone: torch (and every other framework) blocked. Its
    policy floors the LR at min_lr = 1e-3 once warmup is over."""
    code = ("import sys\nfor name in ('torch', 'keras', 'jax', 'tensorflow'): sys.modules[name] = None\n"
            "from lrctl.cli.main import main; sys.exit(main(['demo', '--steps', '600', '--print-every', '5']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    after_warmup = [float(row[1]) for row in rows if int(row[0]) >= 20]
    assert min(after_warmup) == pytest.approx(1e-3), "clamped at min_lr"
    assert "reduced at step" in result.stdout
    losses = re.search(r"validation loss ([\d.]+) -> ([\d.]+)", result.stdout)
    assert losses and float(losses.group(2)) < 0.5 * float(losses.group(1)), "the model learned"


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout == f"lrctl {importlib.metadata.version('lrctl')}\n"


@pytest.mark.parametrize("content, name, exit_code, expected", [
    ('{"lr": 0.1, ', "policy.json", 2,
     "lrctl: the policy file {path} is not valid JSON at line 1 column 13: Expecting property name enclosed in "
     "double quotes"),
    ("lr: [0.1\n", "policy.yaml", 2, "lrctl: the policy file {path} is not valid YAML at line 2 column 1: "
                                     "expected ',' or ']', but got '<stream end>'"),
    (None, "missing.json", 2, "lrctl: cannot read the policy file {path}: No such file or directory"),
    ('{"lr": 0.1, "plateau": {"metric": "val_loss", "thresholdmode": "abs"}}', "policy.json", 1,
     "lrctl: policy.plateau.thresholdmode: unknown field; Plateau has: metric, mode, factor, patience, threshold, "
     "threshold_mode, cooldown, min_lr, eps, sign_safe_threshold, increase_factor, increase_patience, "
     "increase_max_lr"),
    ('{"lr": 0.1, "warmup": {"steps": -2}}', "policy.json", 1,
     "lrctl: policy.warmup.steps: must be an integer in [0, 4294967295], got -2"),
    ('[1, 2]', "policy.json", 1,
     "lrctl: policy: must be an object (a dict in protobuf's JSON mapping), got list"),
])
def test_policy_file_mistakes_are_one_line(tmp_path: pathlib.Path, content: str | None, name: str, exit_code: int,
                                           expected: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = run_cli("--server", "127.0.0.1:1", "jobs", "create", "j", "--policy", str(path))
    assert result.returncode == exit_code
    assert one_line(result) == expected.format(path=path)


def test_metrics_file_mistakes_are_one_line(policy_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps([{"step": 10, "val_loss": 1.0}, {"val_loss": 2.0}]))
    result = run_cli("preview", str(policy_file), "--steps", "10", "--metrics", str(metrics))
    assert result.returncode == 2
    assert one_line(result) == f'lrctl: the metrics file {metrics}: entry 1 needs "step": an integer >= 0'


def test_unreachable_servers_are_named() -> None:
    refused = run_cli("--server", "127.0.0.1:1", "jobs", "ls")
    assert refused.returncode == 1
    assert one_line(refused) == ("lrctl: cannot connect to 127.0.0.1:1 (connection refused): is `lrctl serve` "
                                 "running at 127.0.0.1:1?")


def test_the_metrics_port_is_named_as_the_mistake(server: ServerProcess) -> None:
    metrics_port = server.metrics_url.split("//")[1].split("/")[0]
    result = run_cli("--server", metrics_port, "jobs", "ls")
    assert result.returncode == 1
    line = one_line(result)
    assert f"{metrics_port} answered, but not with gRPC" in line and "metrics port" in line


def test_jobs_rm_asks_first(server: ServerProcess, policy_file: pathlib.Path) -> None:
    lrctl(server, "jobs", "create", "cli-rm", "--policy", str(policy_file))
    refused = run_cli("--server", server.address, "jobs", "rm", "cli-rm")
    assert refused.returncode == 2
    assert one_line(refused) == ("lrctl: jobs rm deletes job 'cli-rm' with its history and tokens; confirm with "
                                 "--yes (no terminal to ask on)")
    for answer, code, kept in (("n", 1, True), ("y", 0, False)):
        leader, follower = pty.openpty()
        try:
            os.write(leader, f"{answer}\n".encode())
            asked = run_cli("--server", server.address, "jobs", "rm", "cli-rm", stdin=follower)
        finally:
            os.close(leader)
            os.close(follower)
        assert asked.returncode == code, asked.stderr
        assert "delete job 'cli-rm' with its history and tokens? [y/N]" in asked.stdout
        assert (lrctl(server, "jobs", "show", "cli-rm", check=False).returncode == 0) == kept


def test_lr_clear_with_nothing_set_says_so_and_changes_nothing(server: ServerProcess,
                                                              policy_file: pathlib.Path) -> None:
    lrctl(server, "jobs", "create", "cli-clear", "--policy", str(policy_file))
    before = lrctl(server, "jobs", "show", "cli-clear").stdout
    result = run_cli("--server", server.address, "lr", "clear", "cli-clear", "--reason", "tidy")
    assert result.returncode == 1
    assert one_line(result) == "lrctl: job 'cli-clear' has no override: nothing to clear"
    assert lrctl(server, "jobs", "show", "cli-clear").stdout == before, "no version bump, no audit entry"


def test_a_bare_host_dials_port_50051() -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 50051))
        except OSError:
            pytest.skip("something listens on 127.0.0.1:50051 here, so a refused connection cannot show the port")
    result = run_cli("--server", "127.0.0.1", "jobs", "ls")
    assert result.returncode == 1
    assert one_line(result) == ("lrctl: cannot connect to 127.0.0.1:50051 (connection refused): is `lrctl serve` "
                                "running at 127.0.0.1:50051?")


def test_preview_shows_wsd_and_nested_sequential_policies_as_the_domain_computes_them(tmp_path: pathlib.Path) -> None:
    """Every step's LR in the table is the domain's lr_at (to the table's 6 digits), and the
    restarts of a cosine_restarts nested in a sequential are events, counted from its own
    milestone (30: restarts at 70 and 110, none at 150 where it ends). The restarts a report
    passes are one event at the last of them, so a report at 90 splits them into two."""
    from lrctl.server.policies import PolicyState, lr_at
    from lrctl.server.service.policy_codec import policy_from_json

    wsd = {"lr": 0.1, "warmup": {"steps": 20, "start_factor": 0.1},
           "schedule": {"wsd": {"stable_steps": 100, "decay_steps": 150, "decay_type": "1-sqrt", "min_lr_ratio": 0.05}}}
    sequential = {"lr": 0.1, "plateau": {"metric": "loss", "patience": 100},
                  "schedule": {"sequential": {"milestones": [30, 150], "schedules": [
                      {"linear": {"start_factor": 0.2, "total_iters": 30}}, {"cosine_restarts": {"t_0": 40}},
                      {"chained": {"schedules": [{"cyclic": {"max_lr": 0.5, "step_size_up": 10}},
                                                 {"exponential": {"gamma": 0.99}}]}}]}}}
    for source, restarts in ((wsd, []), (sequential, [70, 110])):
        path = tmp_path / "policy.json"
        path.write_text(json.dumps(source))
        metrics = tmp_path / "metrics.json"
        metrics.write_text(json.dumps([{"step": 90, "loss": 1.0}] if "plateau" in source else []))
        result = run_cli("preview", str(path), "--steps", "300", "--every", "1", "--metrics", str(metrics))
        assert result.returncode == 0, result.stderr
        rows = [line.split() for line in result.stdout.splitlines()[1:] if line[:1].isdigit()]
        assert [int(row[0]) for row in rows] == list(range(300))
        _, policy = policy_from_json(source)
        np.testing.assert_allclose([float(row[1]) for row in rows], lr_at(policy, PolicyState(), np.arange(300)),
                                   rtol=5e-6)
        assert [int(row[0]) for row in rows if row[2:] == ["restart"]] == restarts
