"""The few typed exceptions domain code raises; service/status.py maps each to one gRPC code.

Nothing here imports grpc or protobuf, so policies/, optim/ and the store can raise them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lrctl.server.store.records import OwnerRecord


class LrctlError(Exception):
    """Base of every error lrctl reports to a caller."""


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: `field` is a dotted path relative to the message being checked."""

    field: str
    description: str

    def under(self, prefix: str) -> "FieldViolation":
        """The same violation with its path nested under `prefix` (e.g. "spec.policy")."""
        return FieldViolation(f"{prefix}.{self.field}" if prefix and self.field else prefix or self.field,
                              self.description)


class InvalidArgument(LrctlError):
    """Malformed input; carries every violation found, not just the first."""

    def __init__(self, violations: list[FieldViolation] | FieldViolation, message: str = "") -> None:
        self.violations = [violations] if isinstance(violations, FieldViolation) else list(violations)
        super().__init__(message or "; ".join(f"{v.field}: {v.description}" for v in self.violations))

    def under(self, prefix: str) -> "InvalidArgument":
        """The same error with every field path nested under `prefix`."""
        return InvalidArgument([v.under(prefix) for v in self.violations])


class NotFound(LrctlError):
    """The named job (or other resource) does not exist."""


class AlreadyExists(LrctlError):
    """The job id is taken by a job with a different spec or idempotency key."""


class FailedPrecondition(LrctlError):
    """The request is well formed but conflicts with the job's state (e.g. a stale step)."""

    def __init__(self, message: str, server_step: int | None = None, requested_step: int | None = None) -> None:
        super().__init__(message)
        self.server_step = server_step
        self.requested_step = requested_step


class NotOwner(FailedPrecondition):
    """A data-plane call reached a replica that does not hold the job's arrays: `owner` does
    (its address goes to the caller, which sends the call there)."""

    def __init__(self, message: str, owner: "OwnerRecord") -> None:
        super().__init__(message)
        self.owner = owner


class ResourceExhausted(LrctlError):
    """A configured limit was hit; the message names the limit."""


class Unavailable(LrctlError):
    """The server cannot serve the call right now (e.g. shutting down, storage failing)."""


class OwnerDown(Unavailable):
    """The replica that holds a data-plane job's arrays (`owner`) has not been heard from, and
    no other replica can serve the job's data plane."""

    def __init__(self, message: str, owner: "OwnerRecord") -> None:
        super().__init__(message)
        self.owner = owner


class DeadlineExceeded(LrctlError):
    """The caller's deadline passed before the work was done; the work stopped and wrote nothing."""


class Aborted(LrctlError):
    """The call lost to a concurrent change of the same job and changed nothing; retrying is safe."""


class VersionConflict(Aborted):
    """A compare-and-swap write found the job at another version than it read: another writer
    (a concurrent call, or another replica) changed it first, and nothing was written."""
