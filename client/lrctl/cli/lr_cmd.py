"""`lrctl lr set|clear JOB`: operator overrides, always with a reason (they are audited)."""
from __future__ import annotations

import argparse
import sys

from lrctl.cli.connection import connect


def register(commands: argparse._SubParsersAction) -> None:
    lr = commands.add_parser("lr", help="pin, scale or release a running job's learning rate")
    verbs = lr.add_subparsers(dest="verb", required=True, metavar="VERB")
    set_ = verbs.add_parser("set", help="pin (--lr) or scale (--scale) the LR")
    set_.add_argument("job")
    value = set_.add_mutually_exclusive_group(required=True)
    value.add_argument("--lr", type=float, help="pin the LR to this value")
    value.add_argument("--scale", type=float, help="multiply the policy's LR by this")
    set_.add_argument("--until-step", type=int, default=0, help="applies to steps below this (default: forever)")
    set_.add_argument("--reason", required=True)
    set_.set_defaults(run=set_override)
    clear = verbs.add_parser("clear", help="remove the override")
    clear.add_argument("job")
    clear.add_argument("--reason", required=True)
    clear.set_defaults(run=clear_override)


def set_override(args: argparse.Namespace) -> None:
    with connect(args) as client:
        job = client.job(args.job).override(lr=args.lr, scale=args.scale, until_step=args.until_step,
                                            reason=args.reason)
    print(f"{job.job_id}: override set (version {job.version}), lr now {job.current_lr:g}")


def clear_override(args: argparse.Namespace) -> int:
    with connect(args) as client:
        handle = client.job(args.job)
        if not handle.info().HasField("override"):
            print(f"lrctl: job {args.job!r} has no override: nothing to clear", file=sys.stderr)
            return 1
        job = handle.clear_override(reason=args.reason)
    print(f"{job.job_id}: override cleared (version {job.version}), lr now {job.current_lr:g}")
    return 0
