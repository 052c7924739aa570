"""`lrctl`: the command line. Subcommands live one per module; plugins add more (serve)."""
from __future__ import annotations

import argparse
import importlib.metadata
import sys
from typing import Sequence

from lrctl.cli import connection, demo_cmd, jobs_cmd, lr_cmd, preview_cmd, watch_cmd
from lrctl.errors import LrctlError, Unauthenticated

PLUGIN_GROUP = "lrctl.cli"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrctl", description="Control the learning rate of training jobs.")
    connection.add_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (jobs_cmd, lr_cmd, watch_cmd, preview_cmd, demo_cmd):
        module.register(commands)
    for entry_point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        entry_point.load()(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except LrctlError as error:
        print(f"lrctl: {error.message}", file=sys.stderr)
        for field, description in error.field_violations:
            print(f"  {field}: {description}", file=sys.stderr)
        if error.server_step is not None:
            print(f"  server step: {error.server_step}", file=sys.stderr)
        if isinstance(error, Unauthenticated):
            print("  give a token with --token or the environment variable LRCTL_TOKEN", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
