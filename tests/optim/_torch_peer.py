"""The peer: torch.optim run on the same data, and the lrctl configs that mean the same thing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from lrctl.server import optim
from lrctl.server.backends import Backend, cpu_backend
from lrctl.server.backends import numpy_reference
from lrctl.server.backends.memory import HostMemory

SHAPES = {"embedding": (97, 13), "bias": (13,), "conv": (4, 3, 5, 5)}
LAYOUT = optim.Layout.of(SHAPES)
MATRICES = optim.Layout.of({"tall": (61, 13), "wide": (9, 40), "square": (16, 16)})
"""For Muon, which steps matrices only: a tall, a wide and a square one (the iteration runs on
the transpose of a tall matrix)."""


def layout_for(algorithm: optim.Algorithm, default: optim.Layout = LAYOUT) -> optim.Layout:
    """The layout an algorithm's cases run on: `default`, or MATRICES for one that refuses the rest."""
    return MATRICES if isinstance(algorithm, optim.Muon) else default

REFERENCE = Backend("cpu", np, numpy_reference.KERNELS, HostMemory())
FUSED = cpu_backend()

CASES = {
    "sgd": (optim.SGD(), torch.optim.SGD, {}),
    "sgd-momentum": (optim.SGD(momentum=0.9), torch.optim.SGD, {"momentum": 0.9}),
    "sgd-dampening-wd": (optim.SGD(momentum=0.8, dampening=0.3, weight_decay=1e-2), torch.optim.SGD,
                         {"momentum": 0.8, "dampening": 0.3, "weight_decay": 1e-2}),
    "sgd-nesterov": (optim.SGD(momentum=0.9, nesterov=True, weight_decay=1e-3), torch.optim.SGD,
                     {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    "adagrad": (optim.Adagrad(), torch.optim.Adagrad, {}),
    "adagrad-options": (optim.Adagrad(lr_decay=0.01, weight_decay=1e-2, initial_accumulator_value=0.1, eps=1e-6),
                        torch.optim.Adagrad,
                        {"lr_decay": 0.01, "weight_decay": 1e-2, "initial_accumulator_value": 0.1, "eps": 1e-6}),
    "rmsprop": (optim.RMSprop(), torch.optim.RMSprop, {}),
    "rmsprop-centered": (optim.RMSprop(centered=True), torch.optim.RMSprop, {"centered": True}),
    "rmsprop-momentum": (optim.RMSprop(momentum=0.9, weight_decay=1e-2), torch.optim.RMSprop,
                         {"momentum": 0.9, "weight_decay": 1e-2}),
    "rmsprop-all": (optim.RMSprop(alpha=0.9, eps=1e-6, centered=True, momentum=0.5, weight_decay=1e-3),
                    torch.optim.RMSprop,
                    {"alpha": 0.9, "eps": 1e-6, "centered": True, "momentum": 0.5, "weight_decay": 1e-3}),
    "adam": (optim.Adam(), torch.optim.Adam, {}),
    "adam-amsgrad": (optim.Adam(amsgrad=True), torch.optim.Adam, {"amsgrad": True}),
    "adam-l2": (optim.Adam(weight_decay=1e-2), torch.optim.Adam, {"weight_decay": 1e-2}),
    "adam-all": (optim.Adam(betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3, amsgrad=True), torch.optim.Adam,
                 {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-3, "amsgrad": True}),
    "adamw": (optim.AdamW(), torch.optim.AdamW, {}),
    "adamw-amsgrad": (optim.AdamW(weight_decay=0.1, amsgrad=True), torch.optim.AdamW,
                      {"weight_decay": 0.1, "amsgrad": True}),
    "sgd-maximize": (optim.SGD(momentum=0.9, weight_decay=1e-2, maximize=True), torch.optim.SGD,
                     {"momentum": 0.9, "weight_decay": 1e-2, "maximize": True}),
    "adagrad-maximize": (optim.Adagrad(weight_decay=1e-2, maximize=True), torch.optim.Adagrad,
                         {"weight_decay": 1e-2, "maximize": True}),
    "rmsprop-maximize": (optim.RMSprop(centered=True, momentum=0.5, weight_decay=1e-3, maximize=True),
                         torch.optim.RMSprop, {"centered": True, "momentum": 0.5, "weight_decay": 1e-3,
                                               "maximize": True}),
    "adam-maximize": (optim.Adam(weight_decay=1e-2, amsgrad=True, maximize=True), torch.optim.Adam,
                      {"weight_decay": 1e-2, "amsgrad": True, "maximize": True}),
    "adamw-maximize": (optim.AdamW(maximize=True), torch.optim.AdamW, {"maximize": True}),
    "nadam": (optim.NAdam(), torch.optim.NAdam, {}),
    "nadam-options": (optim.NAdam(betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2, momentum_decay=1e-2),
                      torch.optim.NAdam,
                      {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2, "momentum_decay": 1e-2}),
    "nadam-decoupled": (optim.NAdam(weight_decay=0.1, decoupled_weight_decay=True, momentum_decay=0.0),
                        torch.optim.NAdam, {"weight_decay": 0.1, "decoupled_weight_decay": True,
                                            "momentum_decay": 0.0}),
    "nadam-maximize": (optim.NAdam(weight_decay=1e-2, maximize=True), torch.optim.NAdam,
                       {"weight_decay": 1e-2, "maximize": True}),
    "radam": (optim.RAdam(), torch.optim.RAdam, {}),
    "radam-l2": (optim.RAdam(betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2), torch.optim.RAdam,
                 {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2}),
    "radam-decoupled": (optim.RAdam(weight_decay=0.1, decoupled_weight_decay=True), torch.optim.RAdam,
                        {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    "radam-maximize": (optim.RAdam(weight_decay=1e-2, maximize=True), torch.optim.RAdam,
                       {"weight_decay": 1e-2, "maximize": True}),
    "adamax": (optim.Adamax(), torch.optim.Adamax, {}),
    "adamax-options": (optim.Adamax(betas=(0.8, 0.99), eps=1e-4, weight_decay=1e-2), torch.optim.Adamax,
                       {"betas": (0.8, 0.99), "eps": 1e-4, "weight_decay": 1e-2}),
    "adamax-maximize": (optim.Adamax(weight_decay=1e-2, maximize=True), torch.optim.Adamax,
                        {"weight_decay": 1e-2, "maximize": True}),
    "adadelta": (optim.Adadelta(), torch.optim.Adadelta, {}),
    "adadelta-options": (optim.Adadelta(rho=0.5, eps=1e-4, weight_decay=1e-2), torch.optim.Adadelta,
                         {"rho": 0.5, "eps": 1e-4, "weight_decay": 1e-2}),
    "adadelta-maximize": (optim.Adadelta(weight_decay=1e-2, maximize=True), torch.optim.Adadelta,
                          {"weight_decay": 1e-2, "maximize": True}),
    "lion": (optim.Lion(), "optax.lion", {}),
    "lion-options": (optim.Lion(b1=0.8, b2=0.95, weight_decay=0.1), "optax.lion",
                     {"b1": 0.8, "b2": 0.95, "weight_decay": 0.1}),
    "lion-no-decay": (optim.Lion(weight_decay=0.0), "optax.lion", {"weight_decay": 0.0}),
    "adafactor": (optim.Adafactor(), torch.optim.Adafactor, {}),
    "adafactor-options": (optim.Adafactor(beta2_decay=-0.5, eps1=1e-6, eps2=1e-2, d=1.5, weight_decay=1e-2),
                          torch.optim.Adafactor,
                          {"beta2_decay": -0.5, "eps": (1e-6, 1e-2), "d": 1.5, "weight_decay": 1e-2}),
    "adafactor-maximize": (optim.Adafactor(weight_decay=1e-2, maximize=True), torch.optim.Adafactor,
                           {"weight_decay": 1e-2, "maximize": True}),
    "muon": (optim.Muon(), torch.optim.Muon, {}),
    "muon-options": (optim.Muon(weight_decay=0.01, momentum=0.9, nesterov=False, ns_coefficients=(3.0, -3.2, 1.2),
                                eps=1e-6, ns_steps=3, adjust_lr_fn="match_rms_adamw"), torch.optim.Muon,
                     {"weight_decay": 0.01, "momentum": 0.9, "nesterov": False, "ns_coefficients": (3.0, -3.2, 1.2),
                      "eps": 1e-6, "ns_steps": 3, "adjust_lr_fn": "match_rms_adamw"}),
    "lamb": (optim.Lamb(), "optax.lamb", {}),
    "lamb-options": (optim.Lamb(b1=0.8, b2=0.99, eps=1e-4, weight_decay=0.1), "optax.lamb",
                     {"b1": 0.8, "b2": 0.99, "eps": 1e-4, "weight_decay": 0.1}),
}
"""(lrctl algorithm, peer, peer kwargs) for every option worth its own equations; the peer is a
torch.optim class, or the name of an optax optimizer (for algorithms torch does not ship)."""

TORCH_CASES = {case: value for case, value in CASES.items() if not isinstance(value[1], str)}
OPTAX_CASES = {case: value for case, value in CASES.items() if isinstance(value[1], str)}


@dataclass(frozen=True)
class ReferenceOnlyAdam(optim.Adam):
    """Adam as a new algorithm first arrives: registered (as a subclass of Adam), but no backend
    has a kernel of its name, so it runs its NumPy reference everywhere."""

    kernel: ClassVar[str] = "reference-only-adam"


def schedule(steps: int, seed: int, layout: optim.Layout = LAYOUT) -> tuple[np.ndarray, list[np.ndarray]]:
    """A learning rate that changes every step and one random float32 gradient per step."""
    rng = np.random.default_rng(seed)
    lrs = rng.uniform(1e-4, 2e-2, steps)
    grads = [rng.standard_normal(layout.size).astype(np.float32) for _ in range(steps)]
    return lrs, grads


def initial_params(seed: int, layout: optim.Layout = LAYOUT) -> np.ndarray:
    return np.random.default_rng(seed + 1).standard_normal(layout.size).astype(np.float32)


def run_torch(torch_class, kwargs: dict, params: np.ndarray, lrs, grads, clip=lambda g: g, layout=LAYOUT, **extra):
    """torch.optim on one tensor per layout entry; returns flat params and flat state by slot
    name (each slot's tensors concatenated in layout order, skipping a tensor without it, as
    lrctl lays out a slot shaped per tensor)."""
    tensors = [torch.nn.Parameter(torch.from_numpy(layout.view(params, s.name).copy())) for s in layout.spans]
    opt = torch_class(tensors, lr=1.0, **kwargs, **extra)
    for lr, flat in zip(lrs, grads):
        flat = clip(flat)
        for t, s in zip(tensors, layout.spans):
            t.grad = torch.from_numpy(layout.view(flat, s.name).copy())
        opt.param_groups[0]["lr"] = float(lr)
        opt.step()
    flat_params = np.concatenate([t.detach().numpy().ravel() for t in tensors])
    names = dict.fromkeys(name for t in tensors for name, value in opt.state[t].items()
                          if name != "step" and value is not None)
    slots = {name: np.concatenate([opt.state[t][name].float().numpy().ravel() for t in tensors if name in opt.state[t]])
             for name in names}
    return flat_params, slots


def run_lrctl(config: optim.OptimizerConfig, backend: Backend, params: np.ndarray, lrs, grads, layout=LAYOUT):
    params = params.copy()
    state = optim.init(config, layout)
    for lr, g in zip(lrs, grads):
        state = optim.update(config, params, g, state, float(lr), backend=backend, layout=layout)
    return params, state


def max_rel_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours - theirs| / max(|theirs|, rms(theirs)): relative error, in units of the
    array's RMS for elements smaller than it (an EMA of random gradients is full of near-zero
    elements whose plain relative error only measures cancellation, not correctness)."""
    rms = float(np.sqrt(np.mean(np.square(theirs, dtype=np.float64)))) or 1e-30
    return float(np.max(np.abs(ours.astype(np.float64) - theirs) / np.maximum(np.abs(theirs), rms)))
