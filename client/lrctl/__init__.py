"""lrctl: control the learning rate of any training loop from a server.

    import lrctl
    client = lrctl.Client("127.0.0.1:50051")
    job = client.create_job("run-1", policy={"lr": 0.1, "schedule": {"cosine": {"t_max": 1000}}})
    lr = job.lr(step)                       # served from a lease: ~1 RPC per 1000 steps
    decision = job.report(step, val_loss=0.42)

    # Optionally, the server runs the optimizer (parameter server / optimizer offload):
    job = client.create_job("run-2", policy={"lr": 1e-3}, optimizer={"adamw": {"weight_decay": 0.01}})
    job.init_params({"w": w0, "b": b0})
    params = job.step(step, {"w": grad_w, "b": grad_b}).params     # exactly once per step

This package (SDK, CLI, generated stubs in lrctl.v1) never imports the server.
"""
from lrctl.client import Client
from lrctl.errors import (
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    LrctlError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    SpecMismatch,
    Unauthenticated,
    Unavailable,
)
from lrctl.events import Decision, Event
from lrctl.job import Job, Pulled
from lrctl.notices import NonFiniteGradientWarning, UnusedMetricWarning
from lrctl.step_result import StepResult
from lrctl.tensors import Rows
from lrctl.transport import Transport

__all__ = [
    "Client", "Job", "Pulled", "Rows", "StepResult", "Transport", "Decision", "Event", "LrctlError",
    "InvalidArgument", "NotFound", "AlreadyExists", "SpecMismatch", "FailedPrecondition", "ResourceExhausted",
    "Unauthenticated", "PermissionDenied", "Unavailable", "DeadlineExceeded", "Aborted", "UnusedMetricWarning",
    "NonFiniteGradientWarning",
]
