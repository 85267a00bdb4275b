"""The one error hierarchy of Verdict.

Every error the engine raises on purpose derives from :class:`VerdictError`. Each knows the
HTTP status it maps to and turns itself into a JSON body in one place (:meth:`to_dict`), so the
API, the stream agents (dead letters) and the CLI all report the same words.

>>> err = EventValidationError([FieldProblem("amount", "must be >= 0")])
>>> err.http_status, str(err)
(422, 'amount: must be >= 0')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class VerdictError(Exception):
    """Base of every error Verdict raises on purpose.

    Attributes
    ----------
    http_status
        The status an HTTP handler answers with.
    code
        A short, stable, machine-readable name (also the ``reason`` of a dead letter).
    """

    http_status: int = 500
    code: str = "internal_error"

    def to_dict(self) -> dict[str, Any]:
        """The JSON body that describes this error."""
        return {"error": self.code, "message": str(self)}


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong with one field. ``field`` is a dotted path (``attributes.risk``)."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class EventValidationError(VerdictError, ValueError):
    """An event (bytes, text or mapping) that does not satisfy its contract."""

    http_status = 422
    code = "invalid_event"

    def __init__(self, problems: list[FieldProblem], kind: str = "event") -> None:
        if not problems:
            raise ValueError("an EventValidationError needs at least one problem")
        self.problems = problems
        self.kind = kind
        super().__init__("; ".join(str(p) for p in problems))

    @property
    def field(self) -> str:
        """The field of the first problem (the one a person should look at first)."""
        return self.problems[0].field

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "kind": self.kind,
            "message": str(self),
            "problems": [{"field": p.field, "problem": p.problem} for p in self.problems],
        }


class MalformedPayloadError(EventValidationError):
    """Bytes that are not a JSON object at all (not UTF-8, not JSON, an array...)."""

    code = "malformed_payload"

    def __init__(self, problem: str, kind: str = "event") -> None:
        super().__init__([FieldProblem("$", problem)], kind=kind)


class PayloadTooLargeError(VerdictError):
    """A body or message larger than the configured limit."""

    http_status = 413
    code = "payload_too_large"


class UnauthorizedError(VerdictError):
    """A missing or wrong bearer token."""

    http_status = 401
    code = "unauthorized"


class NotFoundError(VerdictError):
    """An entity or route that does not exist."""

    http_status = 404
    code = "not_found"


class DependencyUnavailableError(VerdictError):
    """A dependency (Redis, the broker, a model) did not answer in time.

    The decision layer catches it and answers in degraded mode; it reaches a client only from
    readiness checks.
    """

    http_status = 503
    code = "dependency_unavailable"
