"""`lrctl preview POLICY --steps N [--metrics FILE] [--png OUT]`: the LR curve before a run.

A server computes it (PreviewSchedule), so the preview is exactly what a job with this
policy would get: the one named by --server or LRCTL_SERVER, else a throwaway embedded one
(lrctl.cli.embedded), so the command works offline wherever the server is installed. The
metrics file is a JSON (or YAML) list of {"step": N, "<metric>": value, ...}.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from lrctl.cli import preview_plot
from lrctl.cli.connection import connect, server_given
from lrctl.cli.embedded import embedded_server
from lrctl.cli.output import table
from lrctl.cli.usage import UsageError
from lrctl.client import Client
from lrctl.documents import DocumentError, read_document
from lrctl.policy import load_policy
from lrctl.v1 import controller_pb2, policy_pb2

TABLE_ROWS = 20


def register(commands: argparse._SubParsersAction) -> None:
    preview = commands.add_parser(
        "preview", help="show a policy's LR curve as a table (and a picture)",
        description="Computed by the server given with --server (or LRCTL_SERVER), else by a throwaway local one.")
    preview.add_argument("policy", help="policy file (JSON/YAML) in protobuf's JSON mapping")
    preview.add_argument("--steps", type=int, required=True)
    preview.add_argument("--metrics", help='JSON list of {"step": N, "val_loss": x, ...}')
    preview.add_argument("--every", type=int, default=0, help="table row every N steps (default: ~20 rows)")
    preview.add_argument("--png", help="also write the curve to this PNG (needs matplotlib: lrctl[plot])")
    scale = preview.add_mutually_exclusive_group()
    scale.add_argument("--log-y", dest="log_y", action="store_true", default=None,
                       help="logarithmic LR axis (default when the LR spans two orders of magnitude or more)")
    scale.add_argument("--linear-y", dest="log_y", action="store_false", help="linear LR axis")
    preview.set_defaults(run=run_preview)


def load_metrics(path: str | None) -> dict[int, dict[str, float]]:
    """{step: {name: value}} from a metrics file; DocumentError naming the entry that is wrong."""
    if not path:
        return {}
    points = read_document(path, "metrics")
    if not isinstance(points, list):
        raise DocumentError(f"the metrics file {path} must hold a list of {{\"step\": N, \"<metric>\": value}}")
    metrics: dict[int, dict[str, float]] = {}
    for index, point in enumerate(points):
        if not isinstance(point, dict) or not isinstance(point.get("step"), int) or point["step"] < 0:
            raise DocumentError(f"the metrics file {path}: entry {index} needs \"step\": an integer >= 0")
        values = {name: value for name, value in point.items() if name != "step"}
        bad = [name for name, value in values.items()
               if isinstance(value, bool) or not isinstance(value, (int, float))]
        if bad:
            raise DocumentError(f"the metrics file {path}: entry {index}: {', '.join(bad)} must be numbers")
        metrics.setdefault(point["step"], {}).update({name: float(value) for name, value in values.items()})
    return metrics


def run_preview(args: argparse.Namespace) -> None:
    if args.steps < 1:
        raise UsageError("--steps must be at least 1")
    policy = load_policy(args.policy)
    metrics = load_metrics(args.metrics)
    if args.png:
        preview_plot.require_matplotlib()
    result = compute(args, policy, metrics)
    lrs = np.asarray(result.lrs)
    print_table(lrs, result, args.every)
    for name in result.unused_metrics:
        print(f"warning: metric {name!r} is not read by this policy (no plateau or early stopping on it)")
    if result.stop_step >= 0:
        print(f"early stopping says stop at step {result.stop_step}")
    if args.png:
        preview_plot.plot(lrs, result, metrics, args.png, title=f"{os.path.basename(args.policy)}: LR over "
                          f"{args.steps:,} steps", log_y=args.log_y)
        print(f"wrote {args.png}")


def compute(args: argparse.Namespace, policy: policy_pb2.Policy,
            metrics: dict[int, dict[str, float]]) -> controller_pb2.PreviewScheduleResponse:
    if server_given(args):
        with connect(args) as client:
            return client.preview(policy, args.steps, metrics)
    with embedded_server() as server, Client(server.address, token="", timeout=args.timeout) as client:
        return client.preview(policy, args.steps, metrics)


def print_table(lrs: np.ndarray, result: controller_pb2.PreviewScheduleResponse, every: int) -> None:
    """~TABLE_ROWS evenly spaced steps, the last one, and every step with an event (all its
    events in one cell)."""
    every = every or max(1, len(lrs) // TABLE_ROWS)
    events: dict[int, list[str]] = {}
    for event in result.events:
        events.setdefault(event.step, []).append(event_name(event))
    steps = sorted(set(range(0, len(lrs), every)) | {len(lrs) - 1} | {s for s in events if s < len(lrs)})
    rows: list[tuple[Any, ...]] = [(s, float(lrs[s]), ", ".join(events.get(s, []))) for s in steps]
    print(table(["STEP", "LR", "EVENT"], rows))


def event_name(event: controller_pb2.JobEvent) -> str:
    return controller_pb2.EventKind.Name(event.kind).removeprefix("EVENT_KIND_").lower()
