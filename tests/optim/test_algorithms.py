"""The algorithm registry: one class per OptimizerSpec oneof member, and what follows from it
(parsing, state slots, dispatch, fused kernels found by name, the NumPy reference fallback)."""
from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
import torch

from lrctl.server import optim
from lrctl.server.backends import Backend, cpu_kernels
from lrctl.server.errors import InvalidArgument
from lrctl.server.oneof_registry import OneofRegistry
from lrctl.server.optim import steps
from lrctl.server.service.optimizer_codec import optimizer_from_proto
from lrctl.v1 import optimizer_pb2
from tests.optim._torch_peer import (
    CASES, FUSED, OPTAX_CASES, REFERENCE, ReferenceOnlyAdam, initial_params, max_rel_error, run_lrctl, run_torch, schedule,
)
from tests.optim.test_parity_torch import RTOL

ONEOF = optimizer_pb2.OptimizerSpec.DESCRIPTOR.oneofs_by_name["algorithm"]


def test_every_oneof_member_is_a_registered_algorithm_and_every_algorithm_a_member() -> None:
    assert sorted(optim.ALGORITHMS) == sorted(field.name for field in ONEOF.fields)


@pytest.mark.parametrize("member", [field.name for field in ONEOF.fields])
def test_each_message_field_is_an_argument_of_its_algorithm(member: str) -> None:
    message = optimizer_pb2.OptimizerSpec.DESCRIPTOR.fields_by_name[member].message_type
    arguments = {f.name for f in dataclasses.fields(optim.ALGORITHMS[member]) if f.init}
    assert {f.name for f in message.fields} <= arguments


@pytest.mark.parametrize("member", [field.name for field in ONEOF.fields])
def test_the_codec_builds_each_member_from_its_message_at_torch_defaults(member: str) -> None:
    spec = optimizer_pb2.OptimizerSpec()
    getattr(spec, member).SetInParent()
    config, _ = optimizer_from_proto(spec)
    assert config.algorithm == optim.ALGORITHMS[member]()
    assert optim.ALGORITHMS.name_of(config.algorithm) == member


def test_every_algorithm_is_named_after_its_peer_and_has_a_parity_case() -> None:
    """Its torch.optim class, or for what torch does not ship, the optax optimizer of its member
    name, which its parity cases name."""
    optax_members = {peer.removeprefix("optax.") for _, peer, _ in OPTAX_CASES.values()}
    for name, cls in optim.ALGORITHMS.items():
        if name in optax_members:
            assert not hasattr(torch.optim, cls.__name__), name
        else:
            assert issubclass(getattr(torch.optim, cls.__name__), torch.optim.Optimizer)
    assert {optim.ALGORITHMS.name_of(algorithm) for algorithm, _, _ in CASES.values()} == set(optim.ALGORITHMS)
    for case, (algorithm, peer, _) in OPTAX_CASES.items():
        assert peer == f"optax.{optim.ALGORITHMS.name_of(algorithm)}", case


def test_maximize_is_an_argument_exactly_where_torch_has_it() -> None:
    """Every algorithm answers `maximize` (update.py reads it); it is a field, and in the proto
    message, exactly where the peer has the option, and each such algorithm has a maximize case."""
    maximized = {optim.ALGORITHMS.name_of(algorithm) for algorithm, _, _ in CASES.values() if algorithm.maximize}
    for name, cls in optim.ALGORITHMS.items():
        assert cls.maximize is False, name
        torch_class = getattr(torch.optim, cls.__name__, None)
        has_it = torch_class is not None and "maximize" in inspect.signature(torch_class).parameters
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        message = optimizer_pb2.OptimizerSpec.DESCRIPTOR.fields_by_name[name].message_type
        assert ("maximize" in fields) == ("maximize" in message.fields_by_name) == has_it == (name in maximized), name


@pytest.mark.parametrize("member", [name for name, cls in optim.ALGORITHMS.items() if not cls.sparse_rows])
def test_an_algorithm_without_a_sparse_form_refuses_rows_naming_itself_and_changes_nothing(member: str) -> None:
    layout = optim.Layout.of({"table": (6, 4), "head": (4, 4)})
    config = optim.OptimizerConfig(optim.ALGORITHMS[member]())
    params, state = np.ones(layout.size, np.float32), optim.init(config, layout)
    before = {name: slot.copy() for name, slot in state.slots.items()}
    rows = {"table": optim.RowGradient(np.array([1, 4]), np.ones((2, 4), np.float32))}
    for call in (lambda: optim.update_rows(config, params, rows, state, 0.1, backend=FUSED, layout=layout),
                 lambda: optim.update_tensors(config, params, np.ones(layout.size, np.float32), state, 0.1,
                                              backend=FUSED, layout=layout, dense=["head"], rows=rows)):
        with pytest.raises(InvalidArgument) as error:
            call()
        assert [(v.field, v.description) for v in error.value.violations] == [
            ("grads[table]", f"sent as rows, but {member} has no sparse form: send the tensor's whole gradient")]
    np.testing.assert_array_equal(params, 1)
    for name, slot in state.slots.items():
        np.testing.assert_array_equal(slot, before[name], err_msg=name)


def test_slots_and_their_initial_values_come_from_the_algorithm() -> None:
    config = optim.OptimizerConfig(optim.Adagrad(initial_accumulator_value=0.25))
    assert optim.slot_names(config.algorithm) == ("sum",)
    assert (optim.init(config, 5).slots["sum"] == np.float32(0.25)).all()
    rmsprop = optim.RMSprop(centered=True, momentum=0.9)
    assert optim.slot_names(rmsprop) == ("square_avg", "grad_avg", "momentum_buffer")
    assert optim.slot_names(optim.SGD()) == () and optim.slot_names(optim.AdamW(amsgrad=True))[-1] == "max_exp_avg_sq"


def test_every_cpu_kernel_is_named_by_an_algorithm_and_takes_its_reference_arguments() -> None:
    """(Whole-tensor algorithms have no kernel name: their steps are array operations.)"""
    algorithms = {cls.kernel: cls for cls in optim.ALGORITHMS.values() if hasattr(cls, "kernel")}
    assert set(cpu_kernels.FUSED) <= set(algorithms)
    for name, kernel in cpu_kernels.FUSED.items():
        theirs = inspect.signature(algorithms[name].reference).parameters
        assert list(inspect.signature(kernel.py_func).parameters) == list(theirs), name
    assert set(FUSED.kernels.fused) == set(cpu_kernels.FUSED)


@pytest.mark.parametrize("backend", [FUSED, REFERENCE], ids=lambda b: b.kernels.name)
def test_an_algorithm_without_a_fused_kernel_runs_its_reference(backend: Backend) -> None:
    assert ReferenceOnlyAdam.kernel not in backend.kernels.fused
    algorithm = ReferenceOnlyAdam(amsgrad=True, weight_decay=1e-2)
    lrs, grads = schedule(5, seed=4)
    ours, state = run_lrctl(optim.OptimizerConfig(algorithm), backend, initial_params(4), lrs, grads)
    reference, reference_state = run_lrctl(optim.OptimizerConfig(optim.Adam(amsgrad=True, weight_decay=1e-2)),
                                           REFERENCE, initial_params(4), lrs, grads)
    np.testing.assert_array_equal(ours, reference)
    theirs, _ = run_torch(torch.optim.Adam, {"amsgrad": True, "weight_decay": 1e-2}, initial_params(4), lrs, grads)
    assert max_rel_error(ours, theirs) < RTOL
    for name, slot in reference_state.slots.items():
        np.testing.assert_array_equal(state.slots[name], slot)


def test_anything_but_a_registered_algorithm_is_refused() -> None:
    with pytest.raises(TypeError, match="not a registered OptimizerSpec.algorithm member"):
        steps.apply(object(), FUSED.kernels, *(np.zeros(1, np.float32),) * 2, {}, np.array([0, 1]),
                          np.ones(1, np.float32), np.float32(np.inf), 0.1, 1)
    with pytest.raises(InvalidArgument, match="Invalid algorithm value"):
        optim.OptimizerConfig(object())


def test_a_registry_takes_each_name_and_class_once_and_maps_subclasses_to_their_member() -> None:
    registry = OneofRegistry("Example.kind")

    @registry.register("first")
    class First:
        pass

    class Child(First):
        pass

    with pytest.raises(ValueError, match="member 'first' is already"):
        registry.register("first")(type("Other", (), {}))
    with pytest.raises(ValueError, match="is already Example.kind member 'first'"):
        registry.register("second")(First)
    assert list(registry) == ["first"] and registry.types() == (First,)
    assert registry.name_of(Child()) == "first"
    with pytest.raises(TypeError, match="not a registered Example.kind member"):
        registry.name_of(object())
