"""`lrctl jobs ls|show|create|rm`."""
from __future__ import annotations

import argparse
import sys

from google.protobuf import json_format

from lrctl.cli.connection import connect
from lrctl.cli.output import table
from lrctl.cli.usage import UsageError
from lrctl.client import Client
from lrctl.policy import load_policy
from lrctl.v1 import controller_pb2

OPERATOR_EVENTS = {"policy_updated", "override_set", "override_cleared"}


def register(commands: argparse._SubParsersAction) -> None:
    jobs = commands.add_parser("jobs", help="list, inspect, create and delete jobs")
    verbs = jobs.add_subparsers(dest="verb", required=True, metavar="VERB")
    ls = verbs.add_parser("ls", aliases=["list"], help="list jobs")
    ls.set_defaults(run=list_jobs)
    show = verbs.add_parser("show", help="a job's spec, state and audit log")
    show.add_argument("job")
    show.set_defaults(run=show_job)
    create = verbs.add_parser("create", help="register a job with a policy file (JSON/YAML)")
    create.add_argument("job")
    create.add_argument("--policy", required=True, help="policy file in protobuf's JSON mapping")
    create.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    create.set_defaults(run=create_job)
    rm = verbs.add_parser("rm", help="delete a job and its history (asks first; --yes does not)")
    rm.add_argument("job")
    rm.add_argument("--yes", "-y", action="store_true", help="delete without asking")
    rm.set_defaults(run=delete_job)


def _client(args: argparse.Namespace) -> Client:
    return connect(args)


def _override(job: controller_pb2.Job) -> str:
    if not job.HasField("override"):
        return "-"
    kind = job.override.WhichOneof("value")
    value = f"lr={job.override.lr:g}" if kind == "lr" else f"x{job.override.scale:g}"
    return value + (f" until {job.override.until_step}" if job.override.until_step else "")


def list_jobs(args: argparse.Namespace) -> None:
    with _client(args) as client:
        rows = [(j.job_id, controller_pb2.JobState.Name(j.state).removeprefix("JOB_STATE_").lower(),
                 j.current_lr, j.last_report_step, j.version, _override(j)) for j in client.jobs()]
    print(table(["JOB", "STATE", "LR", "STEP", "VERSION", "OVERRIDE"], rows))


def show_job(args: argparse.Namespace) -> None:
    with _client(args) as client:
        job = client.job(args.job)
        info = job.info()
        audit = [e for e in job.events() if e.kind in OPERATOR_EVENTS]
    print(json_format.MessageToJson(info, preserving_proto_field_name=True, indent=2))
    print("\naudit log:")
    print(table(["VERSION", "KIND", "STEP", "LR", "REASON"],
                [(e.version, e.kind, e.step, e.lr, e.reason) for e in audit]) if audit else "  (empty)")


def create_job(args: argparse.Namespace) -> None:
    bad = [label for label in args.label if "=" not in label]
    if bad:
        raise UsageError(f"--label takes KEY=VALUE, not {bad[0]!r}")
    labels = dict(label.split("=", 1) for label in args.label)
    with _client(args) as client:
        job = client.create_job(args.job, load_policy(args.policy), labels=labels)
        print(f"created {job.job_id}: lr(0) = {job.lr(0):g}")
        print(f"token: {job.token}  (grants this job only; the server keeps only its hash)")


def delete_job(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"jobs rm deletes job {args.job!r} with its history and tokens; "
                             "confirm with --yes (no terminal to ask on)")
        answer = input(f"delete job {args.job!r} with its history and tokens? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print(f"kept {args.job}")
            return 1
    with _client(args) as client:
        client.delete_job(args.job)
    print(f"deleted {args.job}")
    return 0
