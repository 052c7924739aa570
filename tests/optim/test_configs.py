"""Configs: torch's defaults, read from torch itself, and refusals that name the field."""
from __future__ import annotations

import inspect

import pytest
import torch

from lrctl.server import optim
from lrctl.server.errors import InvalidArgument

PEERS = [(cls, getattr(torch.optim, cls.__name__)) for cls in optim.ALGORITHMS.values()
         if hasattr(torch.optim, cls.__name__)]
"""Every registered algorithm named after a torch class, and that class."""

OPTAX_PEERS = [(cls, name) for name, cls in optim.ALGORITHMS.items() if not hasattr(torch.optim, cls.__name__)]
"""The others (torch ships no such optimizer), with the optax optimizer of their member name."""


@pytest.mark.parametrize("ours, theirs", PEERS, ids=lambda c: c.__name__)
def test_defaults_are_torch_defaults(ours, theirs) -> None:
    """(Adafactor's eps1 and eps2 are the two halves of torch's eps pair.)"""
    torch_defaults = {name: p.default for name, p in inspect.signature(theirs).parameters.items()}
    if ours is optim.Adafactor:
        torch_defaults["eps1"], torch_defaults["eps2"] = torch_defaults["eps"]
    config = ours()
    for name in vars(config):
        if name == "decoupled_weight_decay" and ours is optim.AdamW:
            continue  # AdamW is decoupled by definition; torch does not take the argument
        assert getattr(config, name) == torch_defaults[name], name
    assert optim.AdamW().decoupled_weight_decay and not optim.Adam().decoupled_weight_decay


@pytest.mark.parametrize("ours, name", OPTAX_PEERS, ids=lambda c: getattr(c, "__name__", c))
def test_defaults_are_optax_defaults_where_torch_has_no_such_optimizer(ours, name: str) -> None:
    optax = pytest.importorskip("optax", reason="optax's defaults need optax (the [test] extra)")
    optax_defaults = {k: p.default for k, p in inspect.signature(getattr(optax, name)).parameters.items()}
    config = ours()
    for field in vars(config):
        assert getattr(config, field) == optax_defaults[field], field


# (lrctl config class, kwargs, field we name): each is also refused by torch.
REFUSED_BY_TORCH = [
    (optim.SGD, {"momentum": -1}, "momentum"),
    (optim.SGD, {"weight_decay": -0.1}, "weight_decay"),
    (optim.SGD, {"nesterov": True}, "nesterov"),
    (optim.SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
    (optim.Adagrad, {"lr_decay": -1}, "lr_decay"),
    (optim.Adagrad, {"initial_accumulator_value": -1}, "initial_accumulator_value"),
    (optim.Adagrad, {"eps": -1}, "eps"),
    (optim.RMSprop, {"alpha": -0.5}, "alpha"),
    (optim.RMSprop, {"momentum": -0.5}, "momentum"),
    (optim.Adam, {"betas": (1.0, 0.999)}, "betas[0]"),
    (optim.Adam, {"betas": (0.9, -0.1)}, "betas[1]"),
    (optim.AdamW, {"weight_decay": -1}, "weight_decay"),
    (optim.NAdam, {"momentum_decay": -1e-3}, "momentum_decay"),
    (optim.NAdam, {"betas": (0.9, 1.0)}, "betas[1]"),
    (optim.NAdam, {"eps": -1}, "eps"),
    (optim.RAdam, {"betas": (-0.1, 0.999)}, "betas[0]"),
    (optim.RAdam, {"weight_decay": -1}, "weight_decay"),
    (optim.Adamax, {"betas": (1.5, 0.999)}, "betas[0]"),
    (optim.Adamax, {"eps": -1}, "eps"),
    (optim.Adadelta, {"rho": 1.5}, "rho"),
    (optim.Adadelta, {"eps": -1}, "eps"),
    (optim.Adadelta, {"weight_decay": -1}, "weight_decay"),
    (optim.Adafactor, {"beta2_decay": 0.5}, "beta2_decay"),
    (optim.Adafactor, {"d": 0.5}, "d"),
    (optim.Adafactor, {"weight_decay": -1}, "weight_decay"),
    (optim.Muon, {"momentum": -0.5}, "momentum"),
    (optim.Muon, {"weight_decay": -1}, "weight_decay"),
    (optim.Muon, {"adjust_lr_fn": "rms"}, "adjust_lr_fn"),
]


@pytest.mark.parametrize("config, kwargs, field", REFUSED_BY_TORCH)
def test_what_torch_refuses_is_refused_with_the_field_named(config, kwargs, field: str) -> None:
    with pytest.raises(ValueError):
        getattr(torch.optim, config.__name__)([torch.zeros(1, 1, requires_grad=True)], **kwargs)
    with pytest.raises(InvalidArgument) as error:
        config(**kwargs)
    assert [v.field for v in error.value.violations] == [field]
    assert error.value.violations[0].description.startswith("Invalid") or field == "nesterov"


@pytest.mark.parametrize("kwargs, field", [({"b1": 1.5}, "b1"), ({"b2": -0.1}, "b2"), ({"weight_decay": -1}, "weight_decay"),
                                           ({"b1": float("nan")}, "b1")])
def test_lion_refuses_what_would_diverge_naming_the_field(kwargs, field: str) -> None:
    """optax checks nothing; a b1 or b2 outside [0, 1] makes the momentum grow without bound."""
    with pytest.raises(InvalidArgument) as error:
        optim.Lion(**kwargs)
    assert [v.field for v in error.value.violations] == [field]


@pytest.mark.parametrize("config, kwargs, field", [
    (optim.Adafactor, {"eps1": -1e-3}, "eps1"), (optim.Adafactor, {"eps2": -1e-3}, "eps2"),
    (optim.Muon, {"ns_steps": 100}, "ns_steps"), (optim.Muon, {"ns_coefficients": (1.0, 2.0)}, "ns_coefficients"),
    (optim.Lamb, {"b1": 1.0}, "b1"), (optim.Lamb, {"b2": -0.1}, "b2"), (optim.Lamb, {"eps": -1}, "eps"),
    (optim.Lamb, {"weight_decay": -1}, "weight_decay"),
])
def test_whole_tensor_algorithms_refuse_what_torch_refuses_later_or_optax_never(config, kwargs, field: str) -> None:
    """torch checks eps as a pair (eps1, eps2 are its halves here) and Muon's ns_steps and
    coefficients only at the first step; optax checks nothing, and LAMB's b1 = 1 divides by
    zero in its bias correction."""
    with pytest.raises(InvalidArgument) as error:
        config(**kwargs)
    assert [v.field for v in error.value.violations] == [field]


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgument) as error:
        optim.Adam(betas=(0.9, 2.0), eps=float("nan"), weight_decay=-1)
    assert [v.field for v in error.value.violations] == ["betas[1]", "eps", "weight_decay"]


@pytest.mark.parametrize("kwargs, fields", [
    ({"clipnorm": 0}, ["clipnorm"]),
    ({"global_clipnorm": -1}, ["global_clipnorm"]),
    ({"clipvalue": float("inf")}, ["clipvalue"]),
    ({"clipnorm": 1, "clipvalue": 1}, ["clipvalue"]),
    ({"decay": -0.1}, ["decay"]),
    ({"on_nonfinite": "ignore"}, ["on_nonfinite"]),
])
def test_gradient_options_are_checked(kwargs, fields) -> None:
    with pytest.raises(InvalidArgument) as error:
        optim.GradientOptions(**kwargs)
    assert [v.field for v in error.value.violations] == fields


def test_stricter_than_torch_where_torch_would_produce_nan() -> None:
    with pytest.raises(InvalidArgument, match="alpha"):
        optim.RMSprop(alpha=1.5)  # square_avg would go negative and its sqrt NaN
    with pytest.raises(InvalidArgument, match="momentum"):
        optim.SGD(momentum=float("nan"))


def test_configs_are_frozen_values() -> None:
    config = optim.OptimizerConfig(optim.Adam(betas=[0.8, 0.9]))
    assert config.algorithm.betas == (0.8, 0.9)
    assert hash(config) == hash(optim.OptimizerConfig(optim.Adam(betas=(0.8, 0.9))))
    with pytest.raises(AttributeError):
        config.algorithm.eps = 1.0  # type: ignore[misc]
    with pytest.raises(InvalidArgument, match="algorithm"):
        optim.OptimizerConfig(algorithm="adam")  # type: ignore[arg-type]
