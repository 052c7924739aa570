"""The portable file of a whole job: spec, policy state, parameters, optimizer state, step.

It is a job archive (archive.py: an .npz of float32 arrays and JSON metadata, never
pickled) whose metadata adds the job's id, its spec (JobSpec in protobuf's JSON mapping),
its policy state, and the arrays' own metadata (absent for a job without parameters).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from lrctl.server.dataplane import archive
from lrctl.server.errors import FieldViolation, InvalidArgument

FORMAT = "lrctl.job-export/1"


@dataclass(frozen=True)
class ExportedJob:
    job_id: str
    spec_document: str
    policy_state: dict[str, Any]
    arrays: dict[str, np.ndarray]
    arrays_meta: dict[str, Any] | None


def pack(job: ExportedJob) -> bytes:
    buffer = io.BytesIO()
    archive.write(buffer, job.arrays, {"format": FORMAT, "job_id": job.job_id, "spec": job.spec_document,
                                       "policy_state": job.policy_state, "arrays": job.arrays_meta})
    return buffer.getvalue()


def unpack(data: bytes, admit: Callable[[ExportedJob], archive.Admit]) -> ExportedJob:
    """The job in an exported file; InvalidArgument for anything else. `admit(job)`, given the
    file's job without its arrays yet, returns the check each array member must pass before
    it is inflated (the importing server's limits)."""
    arrays, meta = archive.read(io.BytesIO(data), lambda meta: admit(_header(meta)))
    return replace(_header(meta), arrays=arrays)


def _header(meta: dict[str, Any]) -> ExportedJob:
    """The job a file's metadata describes, with no arrays."""
    if meta.get("format") != FORMAT:
        raise InvalidArgument(FieldViolation("file.meta.format", f"must be {FORMAT!r}"))
    try:
        job_id, spec, state, arrays_meta = meta["job_id"], meta["spec"], meta["policy_state"], meta["arrays"]
    except KeyError as error:
        raise InvalidArgument(FieldViolation("file.meta", f"missing {error}")) from None
    if not (isinstance(job_id, str) and isinstance(spec, str) and isinstance(state, dict)
            and isinstance(arrays_meta, (dict, type(None)))):
        raise InvalidArgument(FieldViolation("file.meta", "job_id, spec, policy_state or arrays has the wrong type"))
    return ExportedJob(job_id, spec, state, {}, arrays_meta)
