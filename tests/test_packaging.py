"""pyproject.toml lists its packages by hand (two source roots); keep the list complete."""
from __future__ import annotations

import pathlib
import tomllib

REPO = pathlib.Path(__file__).resolve().parent.parent
ROOTS = {"lrctl": REPO / "client" / "lrctl", "lrctl.protocol": REPO / "protocol", "lrctl.server": REPO / "server"}


def test_every_package_directory_is_listed() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = set()
    for name, root in ROOTS.items():
        for init in root.rglob("__init__.py"):
            parts = init.parent.relative_to(root).parts
            on_disk.add(".".join((name, *parts)))
    assert set(config["packages"]) == on_disk
