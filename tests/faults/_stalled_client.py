"""A client that opens a Step stream, sends the header and the first chunk, then stops sending.

Run as a separate process (`python _stalled_client.py ADDRESS JOB_ID STEP ELEMENTS`) so a test
can SIGKILL or SIGSTOP it mid-call; it prints "sent" once the first chunk went out.
"""
from __future__ import annotations

import sys
import threading
from typing import Iterator

import grpc
import numpy as np

from lrctl.v1 import optimizer_pb2, optimizer_pb2_grpc


def requests(job_id: str, step: int, elements: int, sent: threading.Event) -> Iterator[optimizer_pb2.StepRequest]:
    yield optimizer_pb2.StepRequest(header=optimizer_pb2.StepHeader(job_id=job_id, step=step))
    half = elements // 2
    yield optimizer_pb2.StepRequest(chunk=optimizer_pb2.TensorChunk(
        name="w", shape=(elements,), dtype=optimizer_pb2.DTYPE_FLOAT32, offset=0,
        data=np.zeros(half, "<f4").tobytes()))
    sent.set()
    threading.Event().wait()  # the rest of the gradient never comes


def main() -> None:
    address, job_id, step, elements = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sent = threading.Event()
    channel = grpc.insecure_channel(address)
    call = optimizer_pb2_grpc.OptimizerStub(channel).Step(requests(job_id, step, elements, sent))
    sent.wait()
    print("sent", flush=True)
    try:
        for _ in call:
            pass
    except grpc.RpcError as error:
        print(f"ended: {error.code().name}", flush=True)


if __name__ == "__main__":
    main()
