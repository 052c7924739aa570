"""`import lrctl` stays free of every training framework; only its integration modules pull them in."""
from __future__ import annotations

import subprocess
import sys

FRAMEWORKS = ("torch", "keras", "transformers", "tensorflow", "jax", "optax", "lightning", "pytorch_lightning")


def test_import_lrctl_imports_no_framework() -> None:
    code = ("import sys, lrctl, lrctl.cli.main; "
            f"print(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
