"""One step of each algorithm: torch's scalar bookkeeping, then the backend's fused kernel.

Scalars are derived in double precision exactly as torch.optim's single-tensor code derives
them (bias corrections from the 1-based step, Adagrad's decayed step size) and handed to the
kernel as float32, which is what torch's float32 kernels see too.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from lrctl.server.backends.kernels import Array, Kernels
from lrctl.server.optim.configs import SGD, Adagrad, Adam, Algorithm, RMSprop

f32 = np.float32


def apply(algorithm: Algorithm, kernels: Kernels, params: Array, grads: Array, slots: Mapping[str, Array],
          bounds: np.ndarray, scales: np.ndarray, clip: np.float32, lr: float, step: int) -> None:
    """Update `params` and `slots` in place for step number `step` (1-based) at learning rate `lr`."""
    unused = params[:0]
    if isinstance(algorithm, SGD):
        kernels.sgd(params, grads, slots.get("momentum_buffer", unused), bounds, scales, clip, f32(lr),
                    f32(algorithm.weight_decay), f32(algorithm.momentum), f32(1 - algorithm.dampening),
                    algorithm.nesterov, step == 1)
    elif isinstance(algorithm, Adagrad):
        clr = lr / (1 + (step - 1) * algorithm.lr_decay)
        kernels.adagrad(params, grads, slots["sum"], bounds, scales, clip, f32(clr),
                        f32(algorithm.weight_decay), f32(algorithm.eps))
    elif isinstance(algorithm, RMSprop):
        kernels.rmsprop(params, grads, slots["square_avg"], slots.get("grad_avg", unused),
                        slots.get("momentum_buffer", unused), bounds, scales, clip, f32(lr), f32(algorithm.alpha), f32(1 - algorithm.alpha),
                        f32(algorithm.eps), f32(algorithm.weight_decay), f32(algorithm.momentum),
                        algorithm.centered)
    elif isinstance(algorithm, Adam):
        beta1, beta2 = algorithm.betas
        decoupled = algorithm.decoupled_weight_decay
        kernels.adam(params, grads, slots["exp_avg"], slots["exp_avg_sq"], slots.get("max_exp_avg_sq", unused),
                     bounds, scales, clip, f32(lr / (1 - beta1**step)), f32(1 - beta1), f32(beta2),
                     f32(1 - beta2), f32((1 - beta2**step) ** 0.5), f32(algorithm.eps),
                     f32(0 if decoupled else algorithm.weight_decay),
                     f32(1 - lr * algorithm.weight_decay if decoupled else 1), algorithm.amsgrad)
    else:
        raise TypeError(f"not an optimizer algorithm: {algorithm!r}")
