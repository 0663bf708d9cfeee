"""The domain's value types: systems, records, persons, links, review items, events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from matching.types import MatchScore, NormalisedRecord

SYSTEM_KINDS = ("hospital", "gp", "mental-health", "social-care", "portal")


@dataclass(frozen=True, slots=True)
class SourceSystem:
    """A connected system; ``trust_rank`` 1 is the most trusted source for survivorship."""

    id: int
    code: str
    name: str
    kind: str
    trust_rank: int


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A source record as matching sees it, with its current link (if any)."""

    id: int
    system_id: int
    system_code: str
    local_id: str
    norm: NormalisedRecord
    person: int | None = None
    link_method: str | None = None
    trust_rank: int = 5
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordDetail:
    """A record for display: what the system sent, when, and how it is linked."""

    id: int
    system_code: str
    system_name: str
    system_kind: str
    trust_rank: int
    local_id: str
    raw: dict[str, Any]
    norm: NormalisedRecord
    status: str
    version: int
    created_at: datetime
    updated_at: datetime
    person_id: str | None
    link_method: str | None
    probability: float | None
    linked_at: datetime | None
    linked_by: str | None


@dataclass(frozen=True, slots=True)
class Person:
    """An identity: one real person with an opaque enterprise ID."""

    id: int
    person_id: str
    status: str
    merged_into: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """An uncertain match waiting for a data-quality decision."""

    id: int
    record_id: int
    candidate_person_id: int
    candidate_record_id: int | None
    probability: float
    weight: float
    reason: str
    explanation: list[dict[str, Any]]
    status: str
    version: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    """One entry of the append-only identity event log."""

    id: int
    event_type: str
    person_id: str | None
    other_person_id: str | None
    system_code: str | None
    local_id: str | None
    detail: dict[str, Any]
    actor: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Resolution:
    """A local ID resolved to its identity and every linked local ID."""

    person_id: str
    status: str
    merged_into: str | None
    records: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RegisterResult:
    """What happened to one record on register or load.

    ``decision`` is one of ``linked`` (to an existing person), ``new_person``,
    ``review`` (new person plus open review items), ``unchanged`` (same data again),
    ``kept_manual`` (a manual decision stands), ``kept`` (re-evaluated, link unchanged).
    ``score`` is the best candidate's score, and ``scored_person_id`` that candidate (the
    person the record was linked to, or another one it was not linked to).
    """

    system: str
    local_id: str
    record_id: int
    person_id: str
    decision: str
    score: MatchScore | None = None
    candidate_person_ids: tuple[str, ...] = ()
    scored_person_id: str | None = None
    issues: tuple[str, ...] = field(default_factory=tuple)
