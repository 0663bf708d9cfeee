"""Errors raised by the matching engine.

Every error here collects all the problems it found before it is raised, so a caller can
report every bad field (or every bad entry of a model file) at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: the field (or model path) at fault and why."""

    field: str
    reason: str


class MatchingError(Exception):
    """Base class of the matching engine's errors."""


class InvalidDemographics(MatchingError, ValueError):
    """Raised by :func:`matching.normalise.normalise` when demographics cannot be used.

    Holds every problem found (a bad or future birth date, an unknown sex code, a test-range
    NHS number where those are refused), not only the first. Data-quality findings that do
    not stop matching (an NHS number failing its check digit, a malformed postcode) are
    reported in ``NormalisedRecord.issues`` instead.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in self.problems))


class InvalidModel(MatchingError, ValueError):
    """Raised by :meth:`matching.model.MatchModel.from_dict` when a model document is unusable.

    Holds every problem found, each naming its path in the document, for example
    ``comparisons.given_name.levels[2].m must be in (0, 1]``.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(f"{p.field} {p.reason}" for p in self.problems))
