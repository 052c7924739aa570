"""`lrctl demo`: a throwaway server and a small training loop driven by it.

The loop trains a NumPy MLP (lrctl.cli.demo_model) whose LR comes from a job: warmup into
cosine restarts, halved when the validation loss plateaus, never below `min_lr`. It needs
nothing beyond the `server` extra.
"""
from __future__ import annotations

import argparse
import sys
import uuid

import numpy as np

from lrctl.cli.demo_model import MLP, Regression
from lrctl.cli.embedded import embedded_server
from lrctl.client import Client
from lrctl.job import Job

POLICY = {"lr": 0.02, "warmup": {"steps": 20, "start_factor": 0.1},
          "schedule": {"cosine_restarts": {"t_0": 60, "t_mult": 2, "eta_min": 1e-4}},
          "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 2, "threshold": 0.01},
          "min_lr": 1e-3}
TRAIN, VALIDATION, BATCH = 1024, 256, 32


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="start a throwaway server and train a small model against it")
    demo.add_argument("--steps", type=int, default=600, help="training steps (default %(default)s)")
    demo.add_argument("--print-every", type=int, default=25, help="print one step in this many")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.print_every < 1:
        print("lrctl: --steps and --print-every must be at least 1", file=sys.stderr)
        return 2
    with embedded_server() as server:
        print(f"lrctl demo: server on {server.address}", flush=True)
        print(f"lrctl demo: metrics on {server.metrics_url}", flush=True)
        with Client(server.address, token="", timeout=args.timeout) as client:
            job = client.create_job(f"demo-{uuid.uuid4().hex[:8]}", POLICY, labels={"example": "demo"})
            print(f"lrctl demo: job {job.job_id}; follow it with: lrctl --server {server.address} "
                  f"watch {job.job_id}", flush=True)
            first, last = train(job, args.steps, args.print_every)
            print(f"lrctl demo: validation loss {first:.4f} -> {last:.4f} in {args.steps} steps, "
                  f"{job.rpc_count} GetLearningRate calls", flush=True)
    print("lrctl demo: done, server stopped", flush=True)
    return 0


def train(job: Job, steps: int, print_every: int) -> tuple[float, float]:
    """SGD on the MLP with the LR from `job`, reporting the validation loss after each epoch;
    returns the validation loss before and after training."""
    data = Regression(TRAIN + VALIDATION)
    x_train, y_train = data.x[:TRAIN], data.y[:TRAIN]
    x_val, y_val = data.x[TRAIN:], data.y[TRAIN:]
    model, order = MLP(), np.random.default_rng(1)
    first = model.loss(x_val, y_val)
    print(f"{'step':>6} {'lr':>12} {'loss':>10}", flush=True)
    step = 0
    while step < steps:
        for batch in np.array_split(order.permutation(TRAIN), TRAIN // BATCH):
            lr = job.lr(step)
            loss = model.train_step(x_train[batch], y_train[batch], lr)
            if step % print_every == 0:
                print(f"{step:>6} {lr:>12.6g} {loss:>10.5f}", flush=True)
            step += 1
            if step == steps:
                break
        val_loss = model.loss(x_val, y_val)
        for event in job.report(step, val_loss=val_loss).events:
            if event.kind != "metrics":
                print(f"{'':>6} {event.kind} at step {event.step}: lr {event.lr:.6g} (val_loss {val_loss:.5f})",
                      flush=True)
    return first, model.loss(x_val, y_val)
