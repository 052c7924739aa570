"""Wire dtypes: bfloat16 rounds like torch, and a bfloat16 step moves half the bytes of float32."""
from __future__ import annotations

import numpy as np
import torch

import lrctl
from lrctl.protocol import wire
from lrctl.protocol.codes import DTYPES
from lrctl.v1 import optimizer_pb2
from tests.dataplane import _raw
from tests.dataplane._peer import POLICY, TorchRun, gradients, initial_params
from tests.optim._torch_peer import max_rel_error


def torch_bfloat16(values: np.ndarray) -> np.ndarray:
    return torch.from_numpy(values).to(torch.bfloat16).to(torch.float32).numpy()


def test_bfloat16_rounds_to_nearest_even_like_torch() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([
        (rng.standard_normal(100_000) * 10.0 ** rng.integers(-30, 30, 100_000)).astype(np.float32),
        np.array([0.0, -0.0, np.inf, -np.inf, 1e-40, -1e-42, 3.4e38, 1.0 + 2**-8, 1.0 + 3 * 2**-8],
                 dtype=np.float32),
        rng.integers(0, 2**32, 10_000, dtype=np.uint32).view(np.float32),
    ])
    finite = ~np.isnan(values)
    ours = wire.decode(wire.encode(values, "bfloat16"), "bfloat16")
    np.testing.assert_array_equal(ours[finite], torch_bfloat16(values[finite]))
    assert np.isnan(ours[~finite]).all()


def test_float16_round_trips_through_numpy() -> None:
    values = np.linspace(-3, 3, 1001, dtype=np.float32)
    np.testing.assert_array_equal(wire.decode(wire.encode(values, "float16"), "float16"),
                                  values.astype(np.float16).astype(np.float32))


def test_bfloat16_step_halves_the_bytes_and_keeps_float32_master_copies(client: lrctl.Client) -> None:
    params, grads = initial_params(), gradients(5)
    jobs = {dtype: client.create_job(f"wire-{dtype}", POLICY, optimizer={"adam": {}})
            for dtype in ("float32", "bfloat16")}
    moved = {}
    for dtype, job in jobs.items():
        job.init_params(params)
        code = DTYPES[dtype]
        chunks = [_raw.chunk(name, g.shape, wire.encode(g.reshape(-1), dtype), dtype=code)
                  for name, g in grads[0].items()]
        replies = _raw.step(client, job.job_id, 0, chunks, reply_dtype=code)
        moved[dtype] = _raw.data_bytes([optimizer_pb2.StepRequest(chunk=c) for c in chunks]) + _raw.data_bytes(replies)
    assert moved["bfloat16"] * 2 == moved["float32"]

    job = jobs["bfloat16"]
    rounded = [{name: torch_bfloat16(g) for name, g in step.items()} for step in grads]
    peer = TorchRun(torch.optim.Adam, {}, params)
    peer.step(rounded[0])
    for step in range(1, len(grads)):
        reply = job.step(step, grads[step], wire_dtype="bfloat16").params
        peer.step(rounded[step])
    master = job.pull().params
    theirs = peer.params()
    assert max(max_rel_error(master[name], theirs[name]) for name in theirs) < 4e-6, \
        "the server steps float32 master copies with the bfloat16-rounded gradients"
    for name in theirs:
        np.testing.assert_array_equal(reply[name], torch_bfloat16(master[name]))
