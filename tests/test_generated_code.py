"""The committed generated code must be what protoc makes of protos/ today."""
from __future__ import annotations

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
GENERATED = REPO / "client" / "lrctl" / "v1"


def test_generated_code_matches_protos(tmp_path: pathlib.Path) -> None:
    subprocess.run([sys.executable, str(REPO / "protos" / "generate.py"), str(tmp_path)], check=True)
    fresh = {p.name: p.read_bytes() for p in (tmp_path / "lrctl" / "v1").iterdir()}
    committed = {p.name: p.read_bytes() for p in GENERATED.iterdir() if p.name != "__init__.py" and p.is_file()}
    assert sorted(fresh) == sorted(committed), "generated files differ: run python protos/generate.py"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated code {stale}: run python protos/generate.py"


def test_client_package_does_not_import_the_server() -> None:
    """The SDK and CLI load without the server or its extras (the `serve` plugin registers
    its flags from lrctl.server.cli, which imports only the config loader until it runs)."""
    allowed = {"lrctl.server.cli", "lrctl.server.config", "lrctl.server.errors"}
    code = ("import sys, lrctl, lrctl.cli.main; lrctl.cli.main.build_parser(); "
            f"bad = [m for m in sys.modules if m.startswith('lrctl.server.') and m not in {allowed!r}]; "
            "heavy = [m for m in ('prometheus_client', 'numba', 'cupy', 'torch') if m in sys.modules]; "
            "print(bad, heavy); assert not bad and not heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
