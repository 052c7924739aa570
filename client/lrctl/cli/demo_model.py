"""The demo's model: a two-layer MLP in NumPy, trained by SGD with momentum.

NumPy only, so `lrctl demo` runs from the `server` extra with no framework installed. The
update is torch.optim.SGD's (v = momentum·v + g; p -= lr·v); the gradients are the MLP's
mean-squared-error backward pass, written out.
"""
from __future__ import annotations

import numpy as np

FEATURES, HIDDEN = 8, 64
MOMENTUM = 0.9


class Regression:
    """y = sin(x·u) + x₀x₁/2 on standard normal x: smooth, and not linear, so training shows."""

    def __init__(self, samples: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((samples, FEATURES))
        self.y = np.sin(self.x @ rng.standard_normal((FEATURES, 1))) + 0.5 * self.x[:, :1] * self.x[:, 1:2]


class MLP:
    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = [rng.standard_normal((FEATURES, HIDDEN)) * np.sqrt(2 / FEATURES), np.zeros(HIDDEN),
                       rng.standard_normal((HIDDEN, 1)) * np.sqrt(1 / HIDDEN), np.zeros(1)]
        self.velocity = [np.zeros_like(p) for p in self.params]

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        w1, b1, w2, b2 = self.params
        return float(np.mean((np.maximum(x @ w1 + b1, 0) @ w2 + b2 - y) ** 2))

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> float:
        """One SGD step on the batch at `lr`; returns the batch's loss before the step."""
        w1, b1, w2, b2 = self.params
        hidden = x @ w1 + b1
        active = np.maximum(hidden, 0)
        error = active @ w2 + b2 - y
        d_out = 2 * error / len(x)
        d_hidden = (d_out @ w2.T) * (hidden > 0)
        grads = [x.T @ d_hidden, d_hidden.sum(0), active.T @ d_out, d_out.sum(0)]
        for param, velocity, grad in zip(self.params, self.velocity, grads):
            velocity *= MOMENTUM
            velocity += grad
            param -= lr * velocity
        return float(np.mean(error ** 2))
