"""The picture `lrctl preview --png` draws: the LR curve, its events and the reported metrics.

An LR that decays over orders of magnitude is a flat line after its first decay on a linear
axis, so the axis is logarithmic by default when the positive LRs span LOG_SPAN or more.
Events at the same step are stacked a few points apart instead of drawn over each other,
and the metrics the preview replayed go on a second axis, so a plateau reduction can be read
against the values that caused it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

from lrctl.cli.usage import MissingDependency
from lrctl.v1 import controller_pb2

LOG_SPAN = 100.0
STACK_POINTS = 11
MARKERS = {"reduced": ("v", "tab:red"), "increased": ("^", "tab:green"), "restart": ("o", "tab:gray"),
           "early_stop": ("X", "black")}
METRIC_COLORS = ("tab:orange", "tab:purple", "tab:brown", "tab:olive", "tab:cyan", "tab:pink")
PLOT_INSTALL = "pip install 'lrctl[plot]'"

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def require_matplotlib() -> None:
    """Fails before any work when --png cannot be drawn."""
    try:
        import matplotlib  # noqa: F401  (the `plot` extra)
    except ImportError:
        raise MissingDependency(f"--png needs matplotlib, which is not installed: {PLOT_INSTALL}") from None


def wants_log(lrs: np.ndarray) -> bool:
    positive = lrs[lrs > 0]
    return positive.size > 0 and float(positive.max()) >= LOG_SPAN * float(positive.min())


def plot(lrs: np.ndarray, result: controller_pb2.PreviewScheduleResponse,
         metrics: Mapping[int, Mapping[str, float]], path: str, *, title: str, log_y: bool | None = None) -> None:
    """Writes the PNG; `log_y` None picks the axis by wants_log."""
    from matplotlib import pyplot

    figure = draw(lrs, result, metrics, title=title, log_y=log_y)
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def draw(lrs: np.ndarray, result: controller_pb2.PreviewScheduleResponse,
         metrics: Mapping[int, Mapping[str, float]], *, title: str, log_y: bool | None = None) -> "Figure":
    """The figure: axes[0] the LR and its events, axes[1] (when there are metrics) the metrics."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot, transforms

    figure, axes = pyplot.subplots(figsize=(10, 5))
    axes.plot(np.arange(len(lrs)), lrs, linewidth=1.2, color="tab:blue", label="learning rate")
    if wants_log(lrs) if log_y is None else log_y:
        axes.set_yscale("log")
    stacked: dict[int, int] = {}
    labelled: set[str] = set()
    for event in result.events:
        kind = controller_pb2.EventKind.Name(event.kind).removeprefix("EVENT_KIND_").lower()
        if kind not in MARKERS:
            continue
        marker, color = MARKERS[kind]
        height = stacked.get(event.step, 0)
        stacked[event.step] = height + 1
        shifted = transforms.offset_copy(axes.transData, fig=figure, y=height * STACK_POINTS, units="points")
        axes.scatter([event.step], [event.lr], marker=marker, color=color, zorder=3, transform=shifted,
                     label=None if kind in labelled else kind.replace("_", " "))
        labelled.add(kind)
    if result.stop_step >= 0:
        axes.axvline(result.stop_step, color="black", linestyle=":", linewidth=1,
                     label=f"stop at step {result.stop_step:,}")
    handles, labels = axes.get_legend_handles_labels()
    if metrics:
        twin = axes.twinx()
        names = sorted({name for values in metrics.values() for name in values})
        for index, name in enumerate(names):
            points = sorted((step, values[name]) for step, values in metrics.items()
                            if name in values and step < len(lrs))
            if points:
                steps, values = zip(*points)
                twin.plot(steps, values, color=METRIC_COLORS[index % len(METRIC_COLORS)], marker=".",
                          markersize=4, linewidth=0.8, alpha=0.85, label=f"{name} (reported)")
        twin.set_ylabel("reported metric")
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    axes.set_title(title)
    axes.set_xlabel("step")
    axes.set_ylabel("learning rate" + (" (log scale)" if axes.get_yscale() == "log" else ""))
    axes.grid(alpha=0.3)
    axes.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=min(len(labels), 6),
                fontsize=8, frameon=False)
    figure.tight_layout()
    return figure
