"""What the Dockerfiles promise, read from the files (no Docker daemon is needed), and that
the flags they pass are ones `lrctl serve` accepts once the CLI exists."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from deploy_tools import DEPLOY, REPO

DOCKERFILES = {"cpu": DEPLOY / "docker/Dockerfile", "cuda": DEPLOY / "docker/Dockerfile.cuda"}


def _instructions(path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def _last(path, instruction: str) -> str:
    return [args for ins, args in _instructions(path) if ins == instruction][-1]


def _image_flags(path) -> list[str]:
    cmd = json.loads(_last(path, "CMD"))
    return [arg for arg in cmd if arg.startswith("--")]


@pytest.mark.parametrize("flavour", list(DOCKERFILES))
def test_dockerfile_runs_lrctl_serve_as_non_root_with_a_health_check(flavour):
    path = DOCKERFILES[flavour]
    assert json.loads(_last(path, "ENTRYPOINT")) == ["lrctl", "serve"]
    cmd = json.loads(_last(path, "CMD"))
    assert cmd[:6] == ["--listen", "0.0.0.0:50051", "--metrics-port", "9108", "--data-dir", "/data"]
    assert (flavour == "cuda") == (cmd[6:] == ["--device", "cuda"])
    user = _last(path, "USER").split(":")[0]
    assert user not in ("root", "0")
    assert "GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in _last(path, "ENV")
    health = _last(path, "HEALTHCHECK")
    assert "grpc_health.v1" in health and "127.0.0.1:50051" in health
    installs = " ".join(args for ins, args in _instructions(path) if ins == "RUN")
    assert "grpcio-health-checking" in (REPO / "pyproject.toml").read_text(), \
        "the health check imports grpc_health, which the [server] extra must install"
    extras = "server,cuda" if flavour == "cuda" else "server"
    assert f'pip install --no-cache-dir ".[{extras}]"' in installs


def test_health_check_script_is_valid_python():
    for path in DOCKERFILES.values():
        script = json.loads(_last(path, "HEALTHCHECK").split("CMD", 1)[1])[2]
        compile(script, f"{path.name} HEALTHCHECK", "exec")


def test_image_flags_are_accepted_by_lrctl_serve():
    result = subprocess.run([sys.executable, "-c", "from lrctl.cli.main import main; main()",
                             "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    missing = {flag for path in DOCKERFILES.values() for flag in _image_flags(path)
               if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", result.stdout)}
    assert not missing, f"`lrctl serve` does not accept {sorted(missing)}"
