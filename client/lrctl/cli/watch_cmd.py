"""`lrctl watch JOB`: the job's events, stored then live, one line each."""
from __future__ import annotations

import argparse

from lrctl.cli.connection import connect


def register(commands: argparse._SubParsersAction) -> None:
    watch = commands.add_parser("watch", help="follow a job's LR changes, overrides and stop decisions")
    watch.add_argument("job")
    watch.add_argument("--since", type=int, default=0, help="replay stored events after this version")
    watch.add_argument("--metrics", action="store_true", help="also show plain metric reports")
    watch.set_defaults(run=watch_job)


def watch_job(args: argparse.Namespace) -> None:
    with connect(args) as client:
        for event in client.job(args.job).watch(since_version=args.since):
            if event.kind == "metrics" and not args.metrics:
                continue
            metrics = " ".join(f"{k}={v:g}" for k, v in sorted(event.metrics.items()))
            reason = f"  reason: {event.reason}" if event.reason else ""
            print(f"v{event.version:<6} step {event.step:<8} {event.kind:<16} lr={event.lr:.6g}  {metrics}{reason}",
                  flush=True)
