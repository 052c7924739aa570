"""The byte budget behind --max-optimizer-state-bytes, and the limits' own arguments."""
from __future__ import annotations

import numpy as np
import pytest

from lrctl.server import optim
from lrctl.server.backends import select_backend
from lrctl.server.dataplane.arrays import JobArrays
from lrctl.server.dataplane.limits import DataPlaneLimits, StateBudget, job_bytes
from lrctl.server.errors import InvalidArgument, ResourceExhausted


@pytest.mark.parametrize("algorithm", [optim.SGD(), optim.SGD(momentum=0.9), optim.Adagrad(), optim.RMSprop(),
                                       optim.RMSprop(centered=True, momentum=0.9), optim.Adam(),
                                       optim.AdamW(amsgrad=True)])
def test_job_bytes_is_what_the_arrays_take(algorithm: optim.Algorithm) -> None:
    config = optim.OptimizerConfig(algorithm)
    layout = optim.Layout.of({"w": (7, 3), "b": (3,)})
    arrays = JobArrays.fresh(config, layout, np.zeros(layout.size, np.float32), select_backend("cpu"))
    assert job_bytes(config, layout.size) == arrays.nbytes


@pytest.mark.parametrize("algorithm", [optim.Adafactor(), optim.Muon(), optim.Lamb()], ids=lambda a: type(a).__name__)
def test_job_bytes_bounds_the_arrays_of_slots_shaped_per_tensor(algorithm: optim.Algorithm) -> None:
    """Known from the element count before the layout is, job_bytes may only overestimate:
    Adafactor's factors of a (1, n) row are 1 + n floats, but each slot stays within n."""
    config = optim.OptimizerConfig(algorithm)
    for shapes in ({"w": (64, 32), "v": (1, 40), "u": (5, 1)}, {"w": (2, 3, 4, 5), "b": (7,)}):
        if isinstance(algorithm, optim.Muon):
            shapes = {name: shape for name, shape in shapes.items() if len(shape) == 2}
        layout = optim.Layout.of(shapes)
        arrays = JobArrays.fresh(config, layout, np.zeros(layout.size, np.float32), select_backend("cpu"))
        assert arrays.nbytes <= job_bytes(config, layout.size)
        assert all(slot.size <= layout.size for slot in arrays.state.slots.values())


def test_claims_count_until_swapped_in_or_released() -> None:
    budget = StateBudget(100)
    with budget.claim("a") as claim:
        claim.grow_to(60)
        assert budget.free() == 40 and budget.in_use() == 60
        with pytest.raises(ResourceExhausted, match=r"job 'b' needs at least 50 bytes.*40 of the limit of 100"):
            with budget.claim("b") as other:
                other.grow_to(50)
        budget.swap(0, 60, claim)
    assert (budget.held, budget.free(), budget.in_use()) == (60, 40, 60)

    with budget.claim("a", replacing=60) as claim:
        claim.grow_to(100)  # a re-upload needs only the difference
        assert budget.free() == 0
    assert budget.free() == 40, "a failed re-upload releases its claim and keeps the old arrays' bytes"
    budget.swap(60, 0)
    assert (budget.free(), budget.in_use()) == (100, 0)

    step_buffer = budget.claim("a")  # a second step's gradient buffer, given back when the step ends
    step_buffer.grow_to(30)
    assert budget.in_use() == 30
    step_buffer.release()
    step_buffer.release()
    assert budget.in_use() == 0


@pytest.mark.parametrize("field, value", [("max_chunk_bytes", (4 << 20) + 1), ("max_chunk_bytes", 0),
                                          ("max_elements_per_job", 0), ("max_optimizer_state_bytes", -1)])
def test_bad_limits_fail_at_construction_with_the_field_named(field: str, value: int) -> None:
    with pytest.raises(InvalidArgument) as error:
        DataPlaneLimits(**{field: value})
    assert [v.field for v in error.value.violations] == [field]


def test_an_unset_reply_chunk_size_is_the_default_capped_by_the_limit() -> None:
    assert DataPlaneLimits().reply_chunk_bytes(0, "chunk_bytes") == 1 << 20
    assert DataPlaneLimits(max_chunk_bytes=4096).reply_chunk_bytes(0, "chunk_bytes") == 4096
    with pytest.raises(ResourceExhausted, match=r"chunk_bytes 4097 is over the limit of 4096 bytes"):
        DataPlaneLimits(max_chunk_bytes=4096).reply_chunk_bytes(4097, "chunk_bytes")
