"""The `lrctl` command line against a real server."""
from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

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
    assert "deleted cli-job" in lrctl(server, "jobs", "rm", "cli-job").stdout
    missing = lrctl(server, "jobs", "show", "cli-job", check=False)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr


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
    assert "spec.policy.plateau.factor" in result.stderr


def test_watch_prints_events(server: ServerProcess, policy_file: pathlib.Path) -> None:
    lrctl(server, "jobs", "create", "cli-watch", "--policy", str(policy_file))
    lrctl(server, "lr", "set", "cli-watch", "--scale", "0.5", "--reason", "halve")
    watcher = subprocess.Popen([sys.executable, "-m", "lrctl.cli.main", "--server", server.address,
                                "watch", "cli-watch"], stdout=subprocess.PIPE, text=True)
    assert watcher.stdout is not None
    lines = [watcher.stdout.readline(), watcher.stdout.readline()]
    lrctl(server, "jobs", "rm", "cli-watch")  # deleting the job ends the stream
    rest, _ = watcher.communicate(timeout=15)
    assert "created" in lines[0] and "override_set" in lines[1] and "reason: halve" in lines[1]
    assert watcher.returncode == 0


def test_preview_table_and_png(server: ServerProcess, policy_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps([{"step": 20, "val_loss": 1.0}, {"step": 30, "val_loss": 2.0}]))
    png = tmp_path / "curve.png"
    out = lrctl(server, "preview", str(policy_file), "--steps", "100", "--metrics", str(metrics),
                "--png", str(png)).stdout
    rows = {int(line.split()[0]): line.split() for line in out.splitlines()[1:] if line[:1].isdigit()}
    assert float(rows[0][1]) == pytest.approx(0.01)
    assert rows[30][2] == "reduced"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_serve_help_lists_every_flag() -> None:
    out = subprocess.run([sys.executable, "-m", "lrctl.cli.main", "serve", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for flag in ("--listen", "--metrics-port", "--data-dir", "--config", "--workers", "--grace-seconds"):
        assert flag in out


def test_demo_trains_against_its_own_server() -> None:
    result = subprocess.run([sys.executable, "-m", "lrctl.cli.main", "demo", "--steps", "200"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"metrics on http://127\.0\.0\.1:\d+/metrics", result.stdout)
    steps = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [int(row[0]) for row in steps] == list(range(0, 200, 25))
    assert all(0 < float(row[1]) <= 0.02 for row in steps), "lr column"
    assert "restart at step 80" in result.stdout
    assert "server stopped" in result.stdout


def test_demo_without_torch_says_so() -> None:
    code = "import sys; sys.modules['torch'] = None; from lrctl.cli.main import main; sys.exit(main(['demo']))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "lrctl demo needs PyTorch" in result.stderr
