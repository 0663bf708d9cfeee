"""Identities: resolve a local ID, the golden demographic view, a person's full picture.

Survivorship (which record supplies each golden field), in order:

1. records carrying a valid NHS number first (a verified one before an unverified one);
2. then the source system's trust rank (1 = most trusted, e.g. the GP record);
3. then the most recently updated record.

For each field the first record in that order that has a value supplies it, so a missing
field never hides a value another record holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from matching.types import Demographics
from mpi.errors import NotFound
from mpi.fhir_patient import demographics_from_patient
from mpi.models import IdentityEvent, Person, RecordDetail, Resolution
from mpi.store import events as event_store
from mpi.store import persons as person_store
from mpi.store import records as record_store
from mpi.store import review as review_store

GOLDEN_FIELDS = (
    "nhs_number",
    "given_name",
    "family_name",
    "sex",
    "birth_date",
    "address_line",
    "postcode",
    "phone",
)


@dataclass(frozen=True, slots=True)
class GoldenField:
    """One golden value and the record it came from."""

    value: str
    system: str
    local_id: str


@dataclass(frozen=True, slots=True)
class PersonView:
    """Everything about one identity: golden view, records, history, open review items."""

    person: Person
    golden: dict[str, GoldenField]
    records: list[RecordDetail]
    events: list[IdentityEvent]
    history: list[dict[str, Any]]
    open_review: list[dict[str, Any]]


def resolve(conn: psycopg.Connection[Any], system_code: str, local_id: str) -> Resolution:
    """(system, local ID) → person ID and every linked (system, local ID).

    Raises:
        NotFound: no active record has this local ID in this system.
    """
    found = person_store.resolve(conn, system_code, local_id)
    if found is None:
        raise NotFound(f"no record {local_id!r} in system {system_code!r}")
    return found


def sent_demographics(record: RecordDetail) -> Demographics:
    """The demographics as the system sent them (CSV row or FHIR Patient)."""
    raw = record.raw
    if raw.get("resourceType") == "Patient":
        return demographics_from_patient(raw)
    from mpi.loading import demographics_from_row

    return demographics_from_row({k: v for k, v in raw.items() if isinstance(v, str)})


def display_value(record: RecordDetail, name: str) -> str | None:
    """One golden field of a record as shown to people (``None`` when it has none)."""
    norm = record.norm
    if name == "nhs_number":
        return norm.nhs_number
    if name == "birth_date":
        return norm.birth_date.isoformat() if norm.birth_date else None
    if name == "sex":
        return norm.sex
    if name == "postcode":
        return norm.postcode
    value = getattr(sent_demographics(record), name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def survivorship_order(records: list[RecordDetail]) -> list[RecordDetail]:
    """Records in survivorship order (see the module docstring)."""
    return sorted(
        records,
        key=lambda r: (
            r.norm.nhs_number is None,
            not r.norm.nhs_verified,
            r.trust_rank,
            -r.updated_at.timestamp(),
        ),
    )


def golden_view(records: list[RecordDetail]) -> dict[str, GoldenField]:
    """The golden demographics of a person's active records."""
    ordered = survivorship_order([r for r in records if r.status == "active"])
    golden: dict[str, GoldenField] = {}
    for name in GOLDEN_FIELDS:
        for record in ordered:
            value = display_value(record, name)
            if value:
                golden[name] = GoldenField(value, record.system_code, record.local_id)
                break
    return golden


def person_view(conn: psycopg.Connection[Any], person_id: str) -> PersonView:
    """The full picture of one identity.

    Raises:
        NotFound: no person has this ID.
    """
    person = person_store.get_person(conn, person_id)
    if person is None:
        raise NotFound(f"no person {person_id!r}")
    records = record_store.record_details_of_person(conn, person.id)
    open_review = [
        {
            "id": item.id,
            "record_id": item.record_id,
            "probability": item.probability,
            "reason": item.reason,
        }
        for record in records
        for item in review_store.items_for_record(conn, record.id)
    ]
    return PersonView(
        person=person,
        golden=golden_view(records),
        records=records,
        events=event_store.of_person(conn, person.id),
        history=person_store.history_of_person(conn, person.id),
        open_review=open_review,
    )
