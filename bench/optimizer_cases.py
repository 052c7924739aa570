"""What the CPU and GPU optimizer benchmarks share: the optimizers they time against torch,
and how one size's timings become rates and ratios (vs torch and vs the memory bound)."""
from __future__ import annotations

import statistics

import torch

from lrctl.server import optim

LR = 1e-6

# name: (lrctl algorithm, torch class, torch kwargs, bytes moved per element by one step)
OPTIMIZERS = {
    "Adam": (optim.Adam(), torch.optim.Adam, {}, 28),
    "AdamW": (optim.AdamW(), torch.optim.AdamW, {}, 28),
    "SGD-nesterov": (optim.SGD(momentum=0.9, nesterov=True), torch.optim.SGD, {"momentum": 0.9, "nesterov": True}, 20),
    "RMSprop": (optim.RMSprop(), torch.optim.RMSprop, {}, 20),
    "Adagrad": (optim.Adagrad(), torch.optim.Adagrad, {}, 20),
}
GRADIENT_READ_BYTES = 4
"""The full update reads the gradient once more (the NaN/inf check and clip norms)."""


def summary(name: str, n: int, flavour: str, times: dict[str, list[float]], bound_bandwidth: float) -> dict[str, object]:
    """One row: elements/s of "kernel", "update" and "torch" from their `times` (seconds per
    step), and their ratios to torch and to the memory bound at `bound_bandwidth` bytes/s."""
    bytes_per_element = OPTIMIZERS[name][3]
    rate = {label: n / statistics.median(ts) for label, ts in times.items()}
    bound = bound_bandwidth / bytes_per_element
    return {
        "optimizer": name, "elements": n, "torch_flavour": flavour, "bytes_per_element": bytes_per_element,
        "elements_per_s": rate, "bound_elements_per_s": bound,
        "kernel_vs_torch": rate["kernel"] / rate["torch"], "update_vs_torch": rate["update"] / rate["torch"],
        "kernel_vs_bound": rate["kernel"] / bound,
        "update_vs_bound": rate["update"] / (bound_bandwidth / (bytes_per_element + GRADIENT_READ_BYTES)),
    }
