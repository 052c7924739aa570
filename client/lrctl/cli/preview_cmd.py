"""`lrctl preview POLICY --steps N [--metrics FILE] [--png OUT]`: the LR curve before a run.

The server computes it (PreviewSchedule), so the preview is exactly what a job with this
policy would get. The metrics file is a JSON list of {"step": N, "<metric>": value, ...}.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from lrctl.cli.connection import connect
from lrctl.cli.output import table
from lrctl.policy import load_policy
from lrctl.v1 import controller_pb2

TABLE_ROWS = 20


def register(commands: argparse._SubParsersAction) -> None:
    preview = commands.add_parser("preview", help="show a policy's LR curve as a table (and a picture)")
    preview.add_argument("policy", help="policy file (JSON/YAML) in protobuf's JSON mapping")
    preview.add_argument("--steps", type=int, required=True)
    preview.add_argument("--metrics", help='JSON list of {"step": N, "val_loss": x, ...}')
    preview.add_argument("--every", type=int, default=0, help="table row every N steps (default: ~20 rows)")
    preview.add_argument("--png", help="also write the curve to this PNG (needs matplotlib)")
    preview.set_defaults(run=run_preview)


def load_metrics(path: str | None) -> dict[int, dict[str, float]]:
    if not path:
        return {}
    points = json.loads(pathlib.Path(path).read_text())
    return {int(p["step"]): {k: float(v) for k, v in p.items() if k != "step"} for p in points}


def run_preview(args: argparse.Namespace) -> None:
    with connect(args) as client:
        result = client.preview(load_policy(args.policy), args.steps, load_metrics(args.metrics))
    lrs = np.asarray(result.lrs)
    every = args.every or max(1, len(lrs) // TABLE_ROWS)
    event_steps = {e.step: controller_pb2.EventKind.Name(e.kind).removeprefix("EVENT_KIND_").lower()
                   for e in result.events}
    steps = sorted(set(range(0, len(lrs), every)) | {len(lrs) - 1} | {s for s in event_steps if s < len(lrs)})
    print(table(["STEP", "LR", "EVENT"], [(s, float(lrs[s]), event_steps.get(s, "")) for s in steps]))
    if result.stop_step >= 0:
        print(f"early stopping says stop at step {result.stop_step}")
    if args.png:
        plot(lrs, result, args.png)
        print(f"wrote {args.png}")


def plot(lrs: np.ndarray, result: controller_pb2.PreviewScheduleResponse, path: str) -> None:
    import matplotlib  # the `plot` extra; only --png needs it

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(9, 4))
    axes.plot(np.arange(len(lrs)), lrs, linewidth=1.2, label="learning rate")
    markers = {"EVENT_KIND_REDUCED": ("v", "tab:red"), "EVENT_KIND_INCREASED": ("^", "tab:green"),
               "EVENT_KIND_RESTART": ("o", "tab:gray"), "EVENT_KIND_EARLY_STOP": ("X", "black")}
    for kind, (marker, color) in markers.items():
        points = [e for e in result.events if controller_pb2.EventKind.Name(e.kind) == kind]
        if points:
            axes.scatter([e.step for e in points], [e.lr for e in points], marker=marker, color=color,
                         zorder=3, label=kind.removeprefix("EVENT_KIND_").lower())
    axes.set_xlabel("step")
    axes.set_ylabel("learning rate")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
