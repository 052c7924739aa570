"""README.md, exercised as a newcomer would use it: every ```python block runs as written
against a real server, twice (the second run is a restarted script); the Node.js block is the
tested example's own code; the command that draws docs/lr-curve.png runs.

Blocks are found by their fences, so a block added to the README is run without a change
here, and a block that does not run fails its test.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import NamedTuple

import pytest

from tests.support.server_process import ServerProcess

REPO = pathlib.Path(__file__).resolve().parents[2]
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
SNIPPET_SECONDS = 300
# Warnings that mean a snippet is wrong (a metric its policy ignores, a skipped step) fail it.
STRICT_WARNINGS = "error::lrctl.UnusedMetricWarning,error::lrctl.NonFiniteGradientWarning"


class Block(NamedTuple):
    language: str
    line: int
    code: str


def blocks(language: str) -> list[Block]:
    text = README.read_text()
    return [Block(match.group(1), text.count("\n", 0, match.start()) + 1, match.group(2))
            for match in FENCE.finditer(text) if match.group(1) == language]


def test_every_fence_is_closed() -> None:
    fences = [line for line in README.read_text().splitlines() if line.startswith("```")]
    assert len(fences) % 2 == 0, "an unclosed ``` fence would hide the blocks after it"
    assert len(blocks("python")) >= 10


@pytest.mark.parametrize("block", blocks("python"), ids=lambda block: f"README.md:{block.line}")
def test_python_block_runs_as_written_and_again_after_a_restart(block: Block, server: ServerProcess,
                                                                tmp_path: pathlib.Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(block.code)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("LRCTL_") and name not in ("KERAS_BACKEND", "PYTHONWARNINGS")}
    env.update(LRCTL_SERVER=server.address, PYTHONWARNINGS=STRICT_WARNINGS, HF_HUB_OFFLINE="1")
    for run in ("first run", "restarted"):
        result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=SNIPPET_SECONDS)
        assert result.returncode == 0, f"README.md line {block.line}, {run}:\n{result.stdout}\n{result.stderr}"


def test_the_node_block_is_the_tested_examples_code() -> None:
    (block,) = blocks("js")
    assert block.code in (REPO / "examples" / "node" / "client.js").read_text()


def test_the_pictures_command_runs_as_written(tmp_path: pathlib.Path) -> None:
    command = re.search(r"`(lrctl preview docs/example-policy\.json [^`]+)`", README.read_text())
    assert command, "the caption of docs/lr-curve.png names the command that drew it"
    (tmp_path / "docs").mkdir()
    for name in ("example-policy.json", "example-metrics.json"):
        shutil.copy(REPO / "docs" / name, tmp_path / "docs" / name)
    env = {name: value for name, value in os.environ.items() if not name.startswith("LRCTL_")}
    args = command.group(1).split()[1:]
    result = subprocess.run([sys.executable, "-m", "lrctl.cli.main", *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "early stopping says stop at step 4000" in result.stdout
    assert (tmp_path / "docs" / "lr-curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
