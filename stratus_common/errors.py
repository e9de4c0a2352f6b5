"""Typed domain errors.

Domain code raises these; the call pipeline (controller/rpc/pipeline.py) maps each class to its
gRPC status code and AIP-193 details, so no servicer builds a status by hand.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class StratusError(Exception):
    """Base of every error a client may see. `reason` is UPPER_SNAKE (google.rpc.ErrorInfo)."""

    default_reason = "ERROR"

    def __init__(self, message: str, *, reason: str | None = None, **metadata):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = {k: str(v) for k, v in metadata.items()}


class InvalidArgument(StratusError):
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        field: str,
        description: str,
        *,
        reason: str | None = None,
        more: list[FieldViolation] | None = None,
        **metadata,
    ):
        super().__init__(f"{field}: {description}", reason=reason, **metadata)
        self.violations = [FieldViolation(field, description), *(more or [])]


class NotFound(StratusError):
    default_reason = "NOT_FOUND"


class AlreadyExists(StratusError):
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(StratusError):
    default_reason = "FAILED_PRECONDITION"


class Unauthenticated(StratusError):
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(StratusError):
    default_reason = "PERMISSION_DENIED"


class ResourceExhausted(StratusError):
    default_reason = "RESOURCE_EXHAUSTED"


class Aborted(StratusError):
    """A concurrent change won; the client may retry."""

    default_reason = "ABORTED"


class Unavailable(StratusError):
    default_reason = "UNAVAILABLE"
