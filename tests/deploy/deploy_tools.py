"""Paths and external tools for the deploy tests.

Tools are looked up on PATH and next to the running interpreter (where `.ci/install-tools`
puts them).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUSTOMIZATIONS = {"base": DEPLOY / "k8s/base", "gpu": DEPLOY / "k8s/overlays/gpu"}
INSTALL_HINT = "run `bash .ci/install-tools` to install it"

# Labels Prometheus attaches at scrape time (PodMonitor/ServiceMonitor target labels).
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "container", "service",
                           "endpoint"})


def find_tool(name: str) -> str | None:
    """`name` on PATH or in the bin directory of the interpreter running the tests."""
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which(name)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kwargs)


def kustomize_commands() -> dict[str, list[str]]:
    """Every kustomize available here, by a printable name: the standalone binary and kubectl's
    built-in one, when they exist."""
    found = {}
    if tool := find_tool("kustomize"):
        found["kustomize"] = [tool, "build"]
    if (kubectl := find_tool("kubectl")) and run([kubectl, "kustomize", "--help"]).returncode == 0:
        found["kubectl kustomize"] = [kubectl, "kustomize"]
    return found
