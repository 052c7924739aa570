"""What the CPU and GPU optimizer benchmarks share: the optimizers they time against torch,
and how one size's timings become rates and ratios (vs torch and vs the memory bound)."""
from __future__ import annotations

import functools
import statistics
from typing import Any, Callable

import numpy as np
import torch

from lrctl.server import optim
from lrctl.server.optim import steps

LR = 1e-6

VARIANTS = {"sgd": ("SGD-nesterov", optim.SGD(momentum=0.9, nesterov=True), {"momentum": 0.9, "nesterov": True})}
"""Algorithms timed away from torch's defaults (plain SGD keeps no state), with torch's kwargs."""


def _peer(name: str, cls: type) -> Any:
    """The torch class an algorithm is named after or, for one torch does not ship (Lion), the
    optax optimizer of its member name."""
    if hasattr(torch.optim, cls.__name__):
        return getattr(torch.optim, cls.__name__)
    import optax

    return getattr(optax, name)


def _cases() -> dict[str, tuple[Any, Any, dict[str, Any]]]:
    """label: (lrctl algorithm, its peer (`_peer`), the peer's kwargs), for every registered
    algorithm: at the peer's defaults unless VARIANTS says otherwise."""
    cases = {}
    for name, cls in optim.ALGORITHMS.items():
        label, algorithm, kwargs = VARIANTS.get(name, (cls.__name__, cls(), {}))
        cases[label] = (algorithm, _peer(name, cls), kwargs)
    return cases


OPTIMIZERS = _cases()

TORCH_PEERED = [label for label, (_, peer, _) in OPTIMIZERS.items()
                if isinstance(peer, type) and issubclass(peer, torch.optim.Optimizer)]
"""The labels whose peer is torch (the GPU benchmark's: optax here is JAX on the CPU)."""


MATRIX_COLUMNS = 1000
"""Whole-tensor algorithms (Adafactor, Muon) step one (n / 1000, 1000) matrix, so that
Adafactor factors its second moment and Muon has a matrix to orthogonalize."""


def tensor_shape(algorithm: Any, n: int) -> tuple[int, ...]:
    """The shape the n elements are stepped as: flat, or a matrix for a whole-tensor algorithm."""
    if not isinstance(algorithm, optim.TensorAlgorithm):
        return (n,)
    if n % MATRIX_COLUMNS:
        raise SystemExit(f"{type(algorithm).__name__} is timed on ({n} / {MATRIX_COLUMNS}, {MATRIX_COLUMNS}): "
                         f"give a size that is a multiple of {MATRIX_COLUMNS}")
    return (n // MATRIX_COLUMNS, MATRIX_COLUMNS)


def bytes_per_element(algorithm: Any, n: int = 1000) -> float:
    """Bytes one step must move per element: the parameter read and written, the gradient
    read, each state slot read and written (float32): Adam 28, one-slot algorithms 20,
    Adafactor about 12 (its factors are small). Muon is bound by its matrix products, not
    by memory: its bound columns say nothing."""
    layout = optim.Layout.of({"p": tensor_shape(algorithm, n)})
    slot_elements = sum(slot.size for slot in optim.slot_layouts(algorithm, layout).values())
    return 4 * (3 + 2 * slot_elements / n)


GRADIENT_READ_BYTES = 4
"""The full update reads the gradient once more (the NaN/inf check and clip norms)."""


def summary(name: str, n: int, flavour: str, times: dict[str, list[float]], bound_bandwidth: float) -> dict[str, object]:
    """One row: elements/s of "kernel", "update" and "torch" from their `times` (seconds per
    step), and their ratios to torch and to the memory bound at `bound_bandwidth` bytes/s."""
    moved = bytes_per_element(OPTIMIZERS[name][0], n)
    rate = {label: n / statistics.median(ts) for label, ts in times.items()}
    bound = bound_bandwidth / moved
    return {
        "optimizer": name, "elements": n, "torch_flavour": flavour, "bytes_per_element": moved,
        "elements_per_s": rate, "bound_elements_per_s": bound,
        "kernel_vs_torch": rate["kernel"] / rate["torch"], "update_vs_torch": rate["update"] / rate["torch"],
        "kernel_vs_bound": rate["kernel"] / bound,
        "update_vs_bound": rate["update"] / (bound_bandwidth / (moved + GRADIENT_READ_BYTES)),
    }


def contenders(name: str, n: int, backend: Any, param: torch.Tensor,
               grad: torch.Tensor) -> tuple[dict[str, Callable[[], object]], str]:
    """The three steps timed for optimizer `name` on `n` random elements: lrctl's fused
    "kernel" alone (a whole-tensor algorithm's `apply_tensor`), its whole `optim.update`
    (both on `backend`'s arrays, warmed up once: compilation, cached tables), and "torch" on
    `param`/`grad` (fused where torch has it, else foreach, else its single-tensor loop; for an
    optax peer, its update jitted by JAX on the CPU: the flavour is returned). `param` and
    `grad` hold the same random values, in `tensor_shape`."""
    algorithm, torch_class, kwargs = OPTIMIZERS[name]
    xp, shape = backend.xp, tensor_shape(algorithm, n)
    params, grads = xp.array(param.detach().cpu().numpy()), xp.array(grad.cpu().numpy())  # copies: torch's stay apart
    config, layout = optim.OptimizerConfig(algorithm), optim.Layout.of({"p": shape})
    state = optim.update(config, params, grads, optim.init(config, layout, xp=xp), LR, backend=backend, layout=layout)
    bounds, scales, clip = np.array([0, n], np.int64), np.ones(1, np.float32), np.float32(np.inf)
    param, grad = torch.nn.Parameter(param.detach().reshape(shape)), grad.reshape(shape)
    views = {name: slot_layout.view(state.slots[name], "p") for name, slot_layout in
             optim.slot_layouts(algorithm, layout).items()}

    def kernel() -> None:
        if isinstance(algorithm, optim.TensorAlgorithm):
            algorithm.apply_tensor(backend, params.reshape(shape), grads.reshape(shape), views, LR, 2)
        else:
            steps.apply(algorithm, backend.kernels, params, grads, state.slots, bounds, scales, clip, LR, 2)

    def update() -> None:
        optim.update(config, params, grads, state, LR, backend=backend, layout=layout)

    if name not in TORCH_PEERED:
        return {"kernel": kernel, "update": update, "torch": _optax_step(torch_class, kwargs, param, grad)}, "optax-jit"
    param.grad = grad
    for flavour, extra in (("fused", {"fused": True}), ("foreach", {"foreach": True}), ("single", {})):
        try:
            opt = torch_class([param], lr=LR, **extra, **kwargs)
            opt.step()
            break
        except (RuntimeError, ValueError, TypeError):
            continue
    return {"kernel": kernel, "update": update, "torch": opt.step}, flavour


def _optax_step(make: Callable[..., Any], kwargs: dict[str, Any], param: torch.Tensor,
                grad: torch.Tensor) -> Callable[[], object]:
    """One step of optax optimizer `make` on JAX CPU arrays copied from `param`/`grad`: its
    update and apply_updates jitted into one XLA computation (donating the parameter and
    state buffers, so it updates in place as torch and lrctl do), run to completion."""
    import jax
    import optax

    optimizer = make(LR, **kwargs)
    held = {"params": jax.numpy.asarray(param.detach().cpu().numpy()), "grads": jax.numpy.asarray(grad.cpu().numpy())}
    held["state"] = optimizer.init(held["params"])

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, state, grads):
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    def run() -> None:
        held["params"], held["state"] = step(held["params"], held["state"], held["grads"])
        jax.block_until_ready(held["params"])

    run()
    return run


def random_tensors(n: int, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """A parameter and a gradient of `n` float32 standard normals (seeded), on `device`."""
    rng = np.random.default_rng(1)
    param = torch.nn.Parameter(torch.from_numpy(rng.standard_normal(n, dtype=np.float32)).to(device))
    return param, torch.from_numpy(rng.standard_normal(n, dtype=np.float32)).to(device)
