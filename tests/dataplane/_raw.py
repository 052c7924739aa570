"""Hand-made Optimizer requests, for inputs the SDK would never build."""
from __future__ import annotations

from typing import Iterable

import grpc
import numpy as np

import lrctl
from lrctl.errors import from_rpc_error
from lrctl.v1 import optimizer_pb2, optimizer_pb2_grpc

F32 = optimizer_pb2.DTYPE_FLOAT32


def chunk(name: str, shape: tuple[int, ...], values: np.ndarray | bytes, offset: int = 0, dtype: int = F32,
          rows: np.ndarray | None = None) -> optimizer_pb2.TensorChunk:
    data = values if isinstance(values, bytes) else np.asarray(values, dtype="<f4").tobytes()
    return optimizer_pb2.TensorChunk(name=name, shape=shape, dtype=dtype, offset=offset, data=data,
                                     rows=b"" if rows is None else np.asarray(rows, dtype="<i8").tobytes())


def step(client: lrctl.Client, job_id: str, step: int, chunks: Iterable[optimizer_pb2.TensorChunk],
         header: bool = True, **options) -> list[optimizer_pb2.StepResponse]:
    """One Step call; raises the SDK's typed exception on failure."""
    requests = ([optimizer_pb2.StepRequest(header=optimizer_pb2.StepHeader(job_id=job_id, step=step, **options))]
                if header else [])
    requests += [optimizer_pb2.StepRequest(chunk=c) for c in chunks]
    stub = optimizer_pb2_grpc.OptimizerStub(client.channel)
    try:
        return list(stub.Step(iter(requests), timeout=10))
    except grpc.RpcError as error:
        raise from_rpc_error(error) from None


def data_bytes(messages: Iterable) -> int:
    """Tensor payload bytes (data + rows) of a sequence of requests or responses."""
    return sum(len(m.chunk.data) + len(m.chunk.rows) for m in messages if m.HasField("chunk"))
