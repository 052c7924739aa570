"""`lrctl demo`: a throwaway server and a small PyTorch training loop driven by it.

The loop is examples/train_mlp.py's, cut down: a torch optimizer whose LR comes from a job
(warmup into cosine restarts, halved on a validation plateau) through `RemoteLRScheduler`.
It lives here because the installed package cannot import examples/; torch is imported only
when the command runs, so the CLI works without it.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import uuid
from typing import Iterator, NamedTuple

from lrctl.client import Client
from lrctl.job import Job

SERVING_LINE = re.compile(r"lrctl: serving on (\S+)")
METRICS_LINE = re.compile(r"lrctl: metrics on (\S+)")
STOP_SECONDS = 30
POLICY = {"lr": 0.02, "warmup": {"steps": 20, "start_factor": 0.1},
          "schedule": {"cosine_restarts": {"t_0": 60, "t_mult": 2, "eta_min": 1e-4}},
          "plateau": {"metric": "val_loss", "factor": 0.5, "patience": 2, "threshold": 0.01}}
FEATURES, HIDDEN, TRAIN, VALIDATION, BATCH = 8, 64, 1024, 256, 32


class Endpoints(NamedTuple):
    address: str
    metrics_url: str


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="start a throwaway server and train a small model against it")
    demo.add_argument("--steps", type=int, default=600, help="training steps (default %(default)s)")
    demo.add_argument("--print-every", type=int, default=25, help="print one step in this many")
    demo.set_defaults(run=run_demo)


@contextlib.contextmanager
def embedded_server() -> Iterator[Endpoints]:
    """`lrctl serve` on a free loopback port with a temporary data directory, stopped on exit.

    LRCTL_* settings of the caller's shell (admin tokens, TLS, a config file) are meant for
    their own server, not this one, so they are left out of its environment."""
    with tempfile.TemporaryDirectory(prefix="lrctl-demo-") as data_dir:
        process = subprocess.Popen(
            [sys.executable, "-m", "lrctl.cli.main", "serve", "--listen", "127.0.0.1:0", "--metrics-port", "0",
             "--data-dir", data_dir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={name: value for name, value in os.environ.items() if not name.startswith("LRCTL_")})
        try:
            yield _endpoints(process)
        finally:
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _endpoints(process: subprocess.Popen[str]) -> Endpoints:
    """Reads the server's address and metrics URL from its first lines, then drains the rest
    in the background so a chatty server never blocks on a full pipe."""
    assert process.stdout is not None
    seen: list[str] = []
    address = metrics_url = ""
    for line in process.stdout:
        seen.append(line)
        if match := SERVING_LINE.search(line):
            address = match.group(1)
        if match := METRICS_LINE.search(line):
            metrics_url = match.group(1)
        if address and metrics_url:
            break
    else:
        raise RuntimeError("lrctl serve exited before serving (is the server installed? "
                           "pip install 'lrctl[server]'):\n" + "".join(seen))
    threading.Thread(target=process.stdout.read, name="lrctl-demo-drain", daemon=True).start()
    return Endpoints(address, metrics_url)


def run_demo(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.print_every < 1:
        print("lrctl: --steps and --print-every must be at least 1", file=sys.stderr)
        return 2
    try:
        import torch  # noqa: F401
    except ImportError:
        print("lrctl demo needs PyTorch, which is not installed: pip install torch", file=sys.stderr)
        return 1
    with embedded_server() as server:
        print(f"lrctl demo: server on {server.address}", flush=True)
        print(f"lrctl demo: metrics on {server.metrics_url}", flush=True)
        with Client(server.address, timeout=args.timeout) as client:
            job = client.create_job(f"demo-{uuid.uuid4().hex[:8]}", POLICY, labels={"example": "demo"})
            print(f"lrctl demo: job {job.job_id}; follow it with: lrctl --server {server.address} "
                  f"watch {job.job_id}", flush=True)
            train(job, args.steps, args.print_every)
    print("lrctl demo: done, server stopped", flush=True)
    return 0


def train(job: Job, steps: int, print_every: int) -> None:
    """SGD on a small MLP with the LR from `job`; reports the validation loss after each epoch."""
    import torch

    from lrctl.torch import RemoteLRScheduler

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(TRAIN + VALIDATION, FEATURES, generator=generator)
    y = torch.sin(x @ torch.randn(FEATURES, 1, generator=generator)) + 0.5 * x[:, :1] * x[:, 1:2]
    x_train, y_train, x_val, y_val = x[:TRAIN], y[:TRAIN], x[TRAIN:], y[TRAIN:]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=POLICY["lr"], momentum=0.9)
    scheduler = RemoteLRScheduler(optimizer, job)
    print(f"{'step':>6} {'lr':>12} {'loss':>10}", flush=True)
    step = 0
    while step < steps:
        for batch in torch.randperm(TRAIN, generator=generator).split(BATCH):
            lr = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            scheduler.step()
            if step % print_every == 0:
                print(f"{step:>6} {lr:>12.6g} {loss.item():>10.5f}", flush=True)
            step += 1
            if step == steps:
                break
        with torch.no_grad():
            val_loss = torch.nn.functional.mse_loss(model(x_val), y_val).item()
        decision = scheduler.report(val_loss=val_loss)
        for event in decision.events:
            if event.kind != "metrics":
                print(f"{'':>6} {event.kind} at step {event.step}: lr {event.lr:.6g} (val_loss {val_loss:.5f})",
                      flush=True)
