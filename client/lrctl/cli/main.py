"""`lrctl`: the command line. Subcommands live one per module; plugins add more (serve).

Every failure ends in one line on stderr, `lrctl: <what went wrong>`, and a non-zero exit:
1 when a call failed or something needed is not installed, 2 for a command line that cannot
run as given (argparse's own errors, unreadable files, a confirmation that was not given).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import sys
from typing import Sequence

from lrctl.cli import connection, demo_cmd, jobs_cmd, lr_cmd, preview_cmd, watch_cmd
from lrctl.cli.embedded import ServerDidNotStart
from lrctl.cli.usage import MissingDependency, UsageError
from lrctl.documents import DocumentError
from lrctl.errors import LrctlError, Unauthenticated

PLUGIN_GROUP = "lrctl.cli"
USAGE_EXIT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lrctl", description="Control the learning rate of training jobs.")
    parser.add_argument("--version", action="version", version=f"lrctl {importlib.metadata.version('lrctl')}")
    connection.add_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (jobs_cmd, lr_cmd, watch_cmd, preview_cmd, demo_cmd):
        module.register(commands)
    for entry_point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        entry_point.load()(commands)
    return parser


def describe(error: LrctlError) -> str:
    """One line for a failed call: the reason, the field violations it does not already say,
    the server's step for a stale step, and what to do about a missing token."""
    parts = [error.reason]
    parts += [f"{field}: {text}" for field, text in error.field_violations if f"{field}: {text}" not in error.reason]
    line = "; ".join(parts)
    if error.server_step is not None and str(error.server_step) not in error.reason:
        line += f" (the server is at step {error.server_step})"
    if isinstance(error, Unauthenticated):
        line += "; give a token with --token or the environment variable LRCTL_TOKEN"
    return line


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except LrctlError as error:
        print(f"lrctl: {describe(error)}", file=sys.stderr)
        return 1
    except (MissingDependency, ServerDidNotStart) as error:
        print(f"lrctl: {error}", file=sys.stderr)
        return 1
    except (UsageError, DocumentError) as error:
        print(f"lrctl: {error}", file=sys.stderr)
        return USAGE_EXIT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
