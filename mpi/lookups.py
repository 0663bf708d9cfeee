"""The reads behind the services' lookups: a record's person, persons by NHS number,
a person's records, and the identity events a system may see.

Who may see what is :mod:`mpi.access`'s rule; this module finds the rows it rules on.
"""

from __future__ import annotations

from typing import Any

import psycopg

from mpi.models import RecordDetail
from mpi.store import access as access_store
from mpi.store import records as record_store
from mpi.store.access import LinkedRecord, PersonRef

__all__ = [
    "LinkedRecord",
    "PersonRef",
    "RecordDetail",
    "events_for_system",
    "person_exists",
    "person_of_record",
    "persons_with_nhs_number",
    "record_details_of_person",
]


def person_of_record(
    conn: psycopg.Connection[Any], system_code: str, local_id: str
) -> PersonRef | None:
    """The person (internal key, enterprise ID) an active record is linked to, or ``None``."""
    return access_store.person_of_record(conn, system_code, local_id)


def persons_with_nhs_number(conn: psycopg.Connection[Any], nhs_number: str) -> list[PersonRef]:
    """Persons with an active record carrying the NHS number, by internal key."""
    return access_store.persons_with_nhs_number(conn, nhs_number)


def person_exists(conn: psycopg.Connection[Any], person_id: str) -> bool:
    """Whether a person with this enterprise ID exists (active or merged)."""
    return access_store.person_exists(conn, person_id)


def record_details_of_person(conn: psycopg.Connection[Any], person_pk: int) -> list[RecordDetail]:
    """Every record linked to a person, for display, most trusted system first."""
    return record_store.record_details_of_person(conn, person_pk)


def events_for_system(
    conn: psycopg.Connection[Any], system_id: int, after: int, limit: int, *, everything: bool
) -> list[dict[str, Any]]:
    """Identity events after the cursor ``after`` that the system may see, oldest first.

    Each is a dict of ``id``, ``type``, ``person_id``, ``other_person_id``, ``occurred_at``,
    ``system`` and ``local_id``; a person the system may not see is ``None``, and a
    record is named only when it is the system's own. ``everything`` (an admin caller)
    gives every event in full.
    """
    return access_store.events_for_system(conn, system_id, after, limit, everything=everything)
