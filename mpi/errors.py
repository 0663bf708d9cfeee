"""The errors the MPI raises; each surface (CLI, JSON API, FHIR) renders them once."""

from __future__ import annotations

from dataclasses import dataclass


class MPIError(Exception):
    """Base class of every error the MPI raises on purpose."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one input field."""

    field: str
    reason: str


class InvalidInput(MPIError):
    """Raised when input fails validation; ``problems`` names every field at fault."""

    def __init__(self, problems: list[FieldProblem] | tuple[FieldProblem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in self.problems))

    @classmethod
    def single(cls, field: str, reason: str) -> InvalidInput:
        """Build the error for a single field."""
        return cls([FieldProblem(field, reason)])


class NotFound(MPIError):
    """Raised when a system, record, person or review item does not exist."""


class Conflict(MPIError):
    """Raised when a change collides with the current state (stale version, decided item).

    ``title`` is the headline a person is shown (the review UI's error page), when the
    collision is not someone else's change.
    """

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.title = title


class Forbidden(MPIError):
    """Raised when the caller may not do or see what it asked for."""


class ConfigError(MPIError):
    """Raised when settings or a model file are unusable; the message says what to fix."""
