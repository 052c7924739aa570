"""The numba kernels' compile flags, and what they mean at a division by zero."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from lrctl.server import optim
from lrctl.server.backends import cpu_kernels
from tests.optim._torch_peer import FUSED, REFERENCE

DISPATCHERS = {name: value for name, value in vars(cpu_kernels).items() if isinstance(value, numba.core.registry.CPUDispatcher)}


def test_the_module_has_kernels_to_check() -> None:
    assert {"adam", "lamb", "adafactor", "_grad", "_lamb_update", "_adafactor_update", "chunk_table"} <= set(DISPATCHERS)


@pytest.mark.parametrize("name", sorted(DISPATCHERS))
def test_every_kernel_and_helper_sets_its_own_flags(name: str) -> None:
    """numba compiles a callee without its own `fastmath` or `error_model` under its caller's:
    a strict helper first called from a reassociating sum would be compiled, cached and then
    reused by the strict pass with reassociation (Adafactor's update was one float32 ulp off
    its reference that way, depending on the order of compilation)."""
    options = DISPATCHERS[name].targetoptions
    assert "fastmath" in options, f"{name} inherits its caller's fastmath"
    assert options.get("error_model") == "numpy", f"{name} raises at a division by zero"


ZERO_EPS = {"adam": optim.Adam(eps=0.0), "adagrad": optim.Adagrad(eps=0.0), "rmsprop": optim.RMSprop(eps=0.0),
            "nadam": optim.NAdam(eps=0.0), "adamax": optim.Adamax(eps=0.0), "lamb": optim.Lamb(eps=0.0),
            "adafactor": optim.Adafactor(eps1=0.0)}


@pytest.mark.parametrize("case", list(ZERO_EPS))
def test_a_zero_eps_over_a_zero_gradient_divides_as_numpy_does(case: str) -> None:
    """eps 0 is allowed (torch and optax allow it) and a zero gradient then divides 0 by 0:
    the kernel gives the reference's (and torch's) NaN instead of raising out of numba."""
    config, layout = optim.OptimizerConfig(ZERO_EPS[case]), optim.Layout.of({"w": (4, 4), "b": (4,)})
    results = []
    for backend in (FUSED, REFERENCE):
        params = np.ones(layout.size, np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            state = optim.update(config, params, np.zeros(layout.size, np.float32), optim.init(config, layout), 0.1,
                                 backend=backend, layout=layout)
        assert state.step == 1
        results.append(params)
    assert np.isnan(results[0][:16]).all()
    np.testing.assert_array_equal(*results)
