"""SQL for the care-relationship rule: which persons a system holds records for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import class_row, dict_row

from mpi.store.db import scalar, scalars


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    """An active record linked to a person, with its system's identifier system."""

    system_id: int
    system_code: str
    system_name: str
    identifier_system: str | None
    local_id: str


@dataclass(frozen=True, slots=True)
class DisclosedRecord:
    """An active linked record with what survivorship needs to pick the golden NHS number."""

    system_id: int
    system_code: str
    system_name: str
    identifier_system: str | None
    local_id: str
    nhs_number: str | None
    nhs_verified: bool
    trust_rank: int
    updated_epoch: float

    def linked(self) -> LinkedRecord:
        """As a :class:`LinkedRecord`."""
        return LinkedRecord(
            self.system_id,
            self.system_code,
            self.system_name,
            self.identifier_system,
            self.local_id,
        )


class PersonRef(NamedTuple):
    """A person by internal key and enterprise ID."""

    pk: int
    person_id: str


@dataclass(frozen=True, slots=True)
class PersonFacts:
    """Everything the access rules need about one person, read in one statement.

    ``held``: the asking system holds an active record linked to the person.
    ``opted_out``: the person, or a person merged into it, objected to sharing.
    ``records``: the person's active linked records (empty for a merged person).
    """

    pk: int
    person_id: str
    status: str
    merged_into_pk: int | None
    held: bool
    opted_out: bool
    records: tuple[DisclosedRecord, ...]


# One round trip for the access decision: person, care relationship, objection (through
# merges) and linked records. ``target`` is swapped for a lookup by enterprise ID or by a
# system's local ID.
_FACTS = """
WITH target AS ({target})
SELECT t.id AS pk, t.person_id, t.status, t.merged_into AS merged_into_pk,
  EXISTS (SELECT 1 FROM link hl JOIN source_record hr ON hr.id = hl.record_id
          WHERE hl.person_id = t.id AND hr.system_id = %(system)s AND hr.status = 'active')
  AS held,
  EXISTS (SELECT 1 FROM opt_out o WHERE o.person_id = t.id)
  OR EXISTS (WITH RECURSIVE tree(id) AS (
               SELECT mp.id FROM person mp WHERE mp.merged_into = t.id
               UNION SELECT mp.id FROM person mp JOIN tree ON mp.merged_into = tree.id)
             SELECT 1 FROM tree WHERE EXISTS (
               SELECT 1 FROM opt_out o WHERE o.person_id = tree.id)) AS opted_out,
  CASE WHEN t.status = 'active' THEN (
    SELECT json_agg(json_build_object(
             'system_id', s.id, 'system_code', s.code, 'system_name', s.name,
             'identifier_system', s.identifier_system, 'local_id', r.local_id,
             'nhs_number', r.nhs_number, 'nhs_verified', r.nhs_verified,
             'trust_rank', s.trust_rank, 'updated_epoch', extract(epoch FROM r.updated_at))
           ORDER BY s.code, r.local_id)
    FROM link l JOIN source_record r ON r.id = l.record_id
    JOIN source_system s ON s.id = r.system_id
    WHERE l.person_id = t.id AND r.status = 'active') END AS records
FROM target t
"""
_BY_PERSON = _FACTS.format(
    target="SELECT id, person_id, status, merged_into FROM person WHERE person_id = %(person)s"
)
_BY_RECORD = _FACTS.format(
    target="SELECT p.id, p.person_id, p.status, p.merged_into FROM source_record r"
    " JOIN source_system s ON s.id = r.system_id JOIN link l ON l.record_id = r.id"
    " JOIN person p ON p.id = l.person_id"
    " WHERE s.code = %(code)s AND r.local_id = %(local)s AND r.status = 'active'"
)


def _facts(
    *, records: list[dict[str, Any]] | None, held: bool, opted_out: bool, **person: Any
) -> PersonFacts:
    """A row of ``_FACTS`` (its columns by name), its records from their JSON objects."""
    linked = tuple(
        DisclosedRecord(
            system_id=int(r["system_id"]),
            system_code=r["system_code"],
            system_name=r["system_name"],
            identifier_system=r["identifier_system"],
            local_id=r["local_id"],
            nhs_number=r["nhs_number"],
            nhs_verified=bool(r["nhs_verified"]),
            trust_rank=int(r["trust_rank"]),
            updated_epoch=float(r["updated_epoch"]),
        )
        for r in records or ()
    )
    return PersonFacts(**person, held=bool(held), opted_out=bool(opted_out), records=linked)


def person_facts(
    conn: psycopg.Connection[Any], person_id: str, system_id: int
) -> PersonFacts | None:
    """The access facts of the person with this enterprise ID, as seen by ``system_id``."""
    with conn.cursor(row_factory=class_row(_facts)) as cur:
        return cur.execute(_BY_PERSON, {"person": person_id, "system": system_id}).fetchone()


def record_facts(
    conn: psycopg.Connection[Any], system_code: str, local_id: str, system_id: int
) -> PersonFacts | None:
    """The access facts of the person an active record is linked to, as seen by ``system_id``."""
    with conn.cursor(row_factory=class_row(_facts)) as cur:
        return cur.execute(
            _BY_RECORD, {"code": system_code, "local": local_id, "system": system_id}
        ).fetchone()


def persons_held(
    conn: psycopg.Connection[Any], system_id: int, person_pks: Iterable[int]
) -> set[int]:
    """The persons among ``person_pks`` to which the system has an active linked record."""
    pks = list(person_pks)
    if not pks:
        return set()
    return set(
        scalars(
            conn,
            "SELECT DISTINCT l.person_id FROM link l JOIN source_record r ON r.id = l.record_id"
            " WHERE l.person_id = ANY(%s) AND r.system_id = %s AND r.status = 'active'",
            (pks, system_id),
        )
    )


def linked_records(conn: psycopg.Connection[Any], person_pk: int) -> list[LinkedRecord]:
    """Every active record linked to a person, by system code and local ID."""
    with conn.cursor(row_factory=class_row(LinkedRecord)) as cur:
        return cur.execute(
            "SELECT s.id AS system_id, s.code AS system_code, s.name AS system_name,"
            " s.identifier_system, r.local_id"
            " FROM link l JOIN source_record r ON r.id = l.record_id"
            " JOIN source_system s ON s.id = r.system_id"
            " WHERE l.person_id = %s AND r.status = 'active' ORDER BY s.code, r.local_id",
            (person_pk,),
        ).fetchall()


def person_of_record(
    conn: psycopg.Connection[Any], system_code: str, local_id: str
) -> PersonRef | None:
    """The person an active record is linked to, or ``None``."""
    with conn.cursor(row_factory=class_row(PersonRef)) as cur:
        return cur.execute(
            "SELECT p.id AS pk, p.person_id FROM source_record r"
            " JOIN source_system s ON s.id = r.system_id JOIN link l ON l.record_id = r.id"
            " JOIN person p ON p.id = l.person_id"
            " WHERE s.code = %s AND r.local_id = %s AND r.status = 'active'",
            (system_code, local_id),
        ).fetchone()


def persons_with_nhs_number(conn: psycopg.Connection[Any], nhs_number: str) -> list[PersonRef]:
    """Persons with an active record carrying this NHS number, by internal key."""
    with conn.cursor(row_factory=class_row(PersonRef)) as cur:
        return cur.execute(
            "SELECT DISTINCT p.id AS pk, p.person_id FROM source_record r"
            " JOIN link l ON l.record_id = r.id JOIN person p ON p.id = l.person_id"
            " WHERE r.nhs_number = %s AND r.status = 'active' ORDER BY p.id",
            (nhs_number,),
        ).fetchall()


#: The persons a system may see in an event: those it holds an active record of, and the
#: persons merged into them (migration 0020 makes the same test for webhooks).
_SEEN = (
    "WITH RECURSIVE seen(id, depth) AS ("
    " SELECT DISTINCT l.person_id, 0 FROM link l JOIN source_record h ON h.id = l.record_id"
    " WHERE h.system_id = %(system)s AND h.status = 'active' AND NOT %(all)s"
    " UNION SELECT p.id, s.depth + 1 FROM person p JOIN seen s ON p.merged_into = s.id"
    " WHERE s.depth < 20)"
)


def events_for_system(
    conn: psycopg.Connection[Any], system_id: int, after: int, limit: int, *, everything: bool
) -> list[dict[str, Any]]:
    """Identity events after ``after`` that the system may see (or all of them).

    An event is the system's when it names a person the system may see (it holds an
    active record linked to the person, or to the person it was merged into) or when its
    record is the system's own. A person it may not see is ``None``; a record's local ID
    is given only when the record belongs to the system itself.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            _SEEN + " SELECT e.id, e.event_type AS type,"
            " CASE WHEN %(all)s OR e.person_id IN (SELECT id FROM seen) THEN p.person_id END"
            " AS person_id,"
            " CASE WHEN %(all)s OR e.other_person_id IN (SELECT id FROM seen) THEN o.person_id END"
            " AS other_person_id,"
            " e.occurred_at,"
            " CASE WHEN r.system_id = %(system)s OR %(all)s THEN s.code END AS system,"
            " CASE WHEN r.system_id = %(system)s OR %(all)s THEN r.local_id END AS local_id"
            " FROM identity_event e"
            " LEFT JOIN person p ON p.id = e.person_id"
            " LEFT JOIN person o ON o.id = e.other_person_id"
            " LEFT JOIN source_record r ON r.id = e.record_id"
            " LEFT JOIN source_system s ON s.id = r.system_id"
            " WHERE e.id > %(after)s AND (%(all)s OR r.system_id = %(system)s"
            "   OR e.person_id IN (SELECT id FROM seen)"
            "   OR e.other_person_id IN (SELECT id FROM seen))"
            " ORDER BY e.id LIMIT %(limit)s",
            {"system": system_id, "after": after, "limit": limit, "all": everything},
        ).fetchall()


def person_exists(conn: psycopg.Connection[Any], person_id: str) -> bool:
    """Whether a person with this enterprise ID exists."""
    return scalar(conn, "SELECT 1 FROM person WHERE person_id = %s", (person_id,)) is not None
